//! Run statistics: per-stage time and the end-of-run summary.

use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Stage names in pipeline order (benchmark rows, metric labels).
pub const STAGES: &[&str] = &[
    "decode",
    "motion",
    "preprocess",
    "inference",
    "postprocess",
    "track",
    "rules",
    "crowd",
    "static",
    "store",
];

/// Total time spent per stage, with how many times it ran.
#[derive(Clone, Debug, Default, Serialize)]
pub struct StageTotals {
    pub seconds: BTreeMap<String, f64>,
    pub calls: BTreeMap<String, u64>,
}

impl StageTotals {
    pub fn add(&mut self, stage: &str, d: Duration) {
        *self.seconds.entry(stage.to_string()).or_default() += d.as_secs_f64();
        *self.calls.entry(stage.to_string()).or_default() += 1;
    }
    pub fn get(&self, stage: &str) -> f64 {
        self.seconds.get(stage).copied().unwrap_or(0.0)
    }
}

#[derive(Clone, Debug, Default, Serialize)]
pub struct CameraSummary {
    pub id: String,
    pub frames: u64,
    /// Frames on which the detector ran (whole frame or motion regions).
    pub detected_frames: u64,
    /// Frames the motion gate let through with no detector run at all.
    pub skipped_frames: u64,
    pub dropped: u64,
    pub tracks: u64,
}

/// What `kuzet analyze` prints at the end.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Summary {
    pub frames: u64,
    pub cameras: Vec<CameraSummary>,
    /// Confirmed tracks per label.
    pub tracks: BTreeMap<String, u64>,
    pub events: BTreeMap<String, u64>,
    /// Detections per label over all frames.
    pub detections: BTreeMap<String, u64>,
    /// Most objects of each label seen in one frame: the count for a still
    /// image, the peak occupancy for a video.
    pub peak: BTreeMap<String, u64>,
    pub wall_seconds: f64,
    pub stages: StageTotals,
    /// (camera, message) for every source that failed.
    pub errors: Vec<(String, String)>,
    /// The faces stage, when live face matching ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub faces: Option<crate::FaceSummary>,
    /// The plates stage, when plate reading ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plates: Option<crate::PlateSummary>,
}

impl Summary {
    pub fn fps(&self) -> f64 {
        if self.wall_seconds > 0.0 {
            self.frames as f64 / self.wall_seconds
        } else {
            0.0
        }
    }
    pub fn total_tracks(&self) -> u64 {
        self.tracks.values().sum()
    }
}
