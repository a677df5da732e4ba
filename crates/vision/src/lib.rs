//! Vision for kuzet: the models manifest, ONNX Runtime sessions, the
//! [`Detector`] trait with YOLOX-nano as its first implementation, and
//! Frigate-style motion gating.
//!
//! # Public API
//!
//! Models manifest ([`manifest`]): `models.toml` at the workspace root, also
//! compiled in, lists every model file with size, sha256, source, licence and
//! tensor contract.
//! - [`ModelManifest::load`]`(path)`, [`ModelManifest::default_path`]`()`,
//!   [`ModelManifest::embedded`]`()`, [`ModelManifest::get`]`(key)`
//! - [`ModelManifest::check`]`(models_dir) -> Vec<`[`ModelCheck`]`>`: ok /
//!   missing / size or hash mismatch, each with a message naming the file
//!   and where to get it.
//!
//! Runtime ([`runtime`]):
//! - [`init_runtime`]`()`: finds libonnxruntime (`ORT_DYLIB_PATH`, then
//!   `<workspace>/.deps/onnxruntime/`, then relative to the executable).
//! - [`load_session`]`(manifest, key, models_dir, &`[`SessionConfig`]`)`:
//!   checks the sha256 before loading (once per process and file), then the
//!   session's tensor names/shapes against the manifest.
//! - [`ExecutionProvider`] `{Cpu, Cuda, TensorRt}`: GPU providers fall back
//!   to CPU with a warning when the library lacks them.
//!
//! Detection ([`detector`], [`yolox`]):
//! - [`Detector`] trait: `detect(&mut self, &[`[`DetectRequest`]`]) ->
//!   Vec<Vec<Detection>>`, one list per request, full-frame coordinates, and
//!   [`Detector::last_timings`] → [`StageTimings`].
//! - [`Yolox`]`::new(manifest, models_dir, `[`YoloxConfig`]`)` /
//!   [`Yolox::from_env`]: frames from several cameras (or several ROIs) run
//!   in one inference call; the fixed batch-1 model is patched in memory.
//!
//! Static objects ([`background`]): [`StaticObjectDetector`], a
//! dual-background model that finds blobs which arrived and stayed still.
//!
//! Crowd counting ([`crowd`]): [`CrowdCounter`] fuses multi-scale person
//! tiles with face detections ([`HeadDetector`]) into a per-frame count.
//!
//! Motion ([`motion`]):
//! - [`MotionDetector::new`]`(`[`MotionConfig`]`)`,
//!   [`MotionDetector::detect`]`(&Frame) -> `[`MotionResult`]
//! - [`regions_to_rois`]`(regions, w, h, &`[`RoiConfig`]`)`: motion regions
//!   to detector ROIs with context.
//!
//! All fallible calls return [`VisionError`].

pub mod background;
pub mod crowd;
pub mod detector;
pub mod error;
pub mod features;
pub mod manifest;
pub mod motion;
pub mod onnx_patch;
pub mod pool;
pub mod runtime;
pub mod yolox;

pub use background::{StaticBlob, StaticObjectConfig, StaticObjectDetector};
pub use crowd::{
    focus_measure, grid_tiles, CountedPerson, CrowdCounter, CrowdCounterConfig, CrowdEstimate,
    HeadDetector, PersonSource,
};
pub use detector::{nms_per_class, DetectRequest, Detector, StageTimings};
pub use error::VisionError;
pub use manifest::{CheckStatus, InputSpec, ModelCheck, ModelEntry, ModelManifest, OutputSpec};
pub use motion::{regions_to_rois, MotionConfig, MotionDetector, MotionResult, RoiConfig};
pub use pool::{split_threads, Pool};
pub use runtime::{
    check_session_io, init_runtime, load_session, session_from_bytes, verified_model_bytes,
    DynamicDims, ExecutionProvider, ModelSession, SessionConfig,
};
pub use yolox::{Yolox, YoloxConfig, DEFAULT_CLASSES, YOLOX_NANO};
