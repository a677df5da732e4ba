//! Vehicles for kuzet: licence-plate recognition (ANPR), vehicle colour,
//! attributes and plate hotlists.
//!
//! # Public API
//!
//! - [`Anpr`]`::from_env(`[`AnprConfig`]`)` / [`Anpr::new`]: loads the plate
//!   detector, the OCR models and YOLOX (each sha256-checked through
//!   `vision::load_session`).
//!   - [`Anpr::recognize`]`(&RgbImage) -> Vec<`[`PlateRead`]`>`: every plate,
//!     most confident first: normalised text, raw OCR text, format matched,
//!     box, corners (TL, TR, BR, BL), confidence, per-character confidence.
//!   - [`Anpr::read_plate`]`(&RgbImage, corners, score)`: read a plate whose
//!     corners are already known (a tracked vehicle).
//!   - [`Anpr::set_countries`]: which countries' formats may match.
//! - [`PlateFormats`]: formats as data (`plate_formats.toml`, compiled in):
//!   [`PlateFormats::normalize`] fits a read to a pattern, fixing confusable
//!   characters only where the pattern demands.
//! - [`PlateVoter`]: per-track voting across frames → [`PlateVote`].
//! - Building blocks: [`PlateDetector`] (RetinaFace 4-point plates),
//!   [`TextRecognizer`] / [`TextDetector`] (PP-OCRv4), [`Homography`] and
//!   [`warp_quad`] (rectification), [`ctc_greedy`].
//! - [`eval`]: `labels.csv` reader and the exact/character-accuracy report.
//! - [`colour`]: body colour of a vehicle crop ([`colour::classify`] →
//!   [`ColourEstimate`]: named [`VehicleColour`] or `unknown`, confidence)
//!   and its evaluation on labelled crops ([`colour::evaluate`]).
//! - [`attributes`]: [`VehicleAttributes`] (class, colour, make/model);
//!   make/model is [`MakeModel::Unavailable`] while no model has the
//!   [`MAKE_MODEL_ROLE`] role.
//! - [`hotlist`]: stolen/wanted plates, exact and confusion-aware fuzzy
//!   matching ([`Hotlist::check`]), wildcard search ([`PlatePattern`]).

pub mod anpr;
pub mod attributes;
pub mod colour;
pub mod enhance;
pub mod error;
pub mod eval;
pub mod formats;
pub mod geometry;
pub mod hotlist;
pub mod lprnet;
pub mod ocr;
pub mod plate;
pub mod pool;
pub mod vote;

pub use anpr::{Anpr, AnprConfig, AnprStats, ImagePass, PlateRead, PlateSource, VEHICLE_CLASSES};
pub use attributes::{MakeModel, MakeModelSlot, VehicleAttributes, MAKE_MODEL_ROLE};
pub use colour::{ColourConfig, ColourEstimate, VehicleColour};
pub use error::VehiclesError;
pub use eval::{evaluate, load_image, read_labels, EvalItem, EvalReport, LabelRow, RegionStats};
pub use formats::{canonical, Normalized, PlateFormat, PlateFormats};
pub use geometry::{warp_quad, Homography};
pub use hotlist::{
    Hotlist, HotlistAlert, HotlistEntry, HotlistHit, MatchConfig, MatchKind, PlatePattern,
};
pub use image::RgbImage;
pub use lprnet::LprNet;
pub use ocr::{ctc_greedy, TextBox, TextDetector, TextRead, TextRecognizer};
pub use plate::{PlateDetection, PlateDetector};
pub use pool::AnprPool;
pub use vote::{PlateVote, PlateVoter};
