//! Fire and smoke detection for kuzet.
//!
//! No pretrained fire/smoke model is available offline, so this crate trains
//! a **small logistic head on the pooled PAN features of the COCO detector
//! YOLOX-nano** ([`vision::features`]) plus a few cheap colour statistics. It
//! is not a purpose-built fire model; see `docs/fire.md` for what it was
//! trained on and how well it does.
//!
//! - [`FireClassifier`] scores a whole frame and overlapping tiles (so a small
//!   distant fire or plume still fills enough of one tile's input) and reports
//!   the best region.
//! - [`FireMonitor`] is the per-camera temporal layer: flicker energy of
//!   flame-coloured pixels, slow growth and upward drift of low-saturation
//!   regions, and k-of-window persistence with hysteresis, so one-frame
//!   spikes never alarm.
//! - [`train`] fits the head on `<data-root>/fire_train`; [`eval`] reports
//!   precision/recall/F1 on `<data-root>/fire/labels.csv` and refuses images
//!   the head was trained on.
//! - [`FireHead`] is the versioned weights file; a trained default ships in
//!   `weights/fire_head_v1.json` ([`FireHead::default_path`]).

pub mod classify;
pub mod colour;
pub mod error;
pub mod eval;
pub mod head;
pub mod imageio;
pub mod locate;
pub mod monitor;
pub mod train;

pub use classify::{tile_grid, ClassifierConfig, FireClassifier, FrameScores, RegionScore};
pub use colour::{ColourStats, COLOUR_FEATURES};
pub use error::FireError;
pub use head::{FireHead, FORMAT, FORMAT_VERSION};
pub use monitor::{
    AlarmKind, AlarmState, ColourScorer, FireAlarm, FireMonitor, FireMonitorConfig, FrameScorer,
};

/// The three image-level classes, in report order.
pub const CLASSES: [&str; 3] = ["fire", "smoke", "no_fire"];
