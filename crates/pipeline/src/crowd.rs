//! Crowd counting in the pipeline: builds [`vision::CrowdCounter`] with YuNet
//! as its head detector, and runs it at each camera's interval for the
//! crowd rules (`[camera.crowd_counter]`).
//!
//! The counter runs its own YOLOX and YuNet sessions on the post thread: a
//! count costs ~14 detector inputs plus one face pass (hundreds of ms on
//! CPU), so it runs every `interval_seconds` (2 s by default), and the zones
//! keep the last count in between.

use crate::PipelineError;
use base::{BBox, Frame, Timestamp};
use config::{Config, CrowdCounterSettings};
use faces::{FaceDetector, FaceDetectorConfig};
use std::path::Path;
use vision::{CrowdCounter, CrowdCounterConfig, HeadDetector, VisionError};

/// Longest frame side given the 2× face pass: up to this, faces of 8–16 px
/// (which the native pass misses) are looked for at double size; above it
/// the native pass alone (a 2× pass of a 1080p frame would cost seconds).
pub const FACE_UPSAMPLE_MAX_SIDE: u32 = 1280;

/// YuNet as the crowd counter's head detector.
pub struct YunetHeads(FaceDetector);

impl HeadDetector for YunetHeads {
    fn heads(&mut self, frame: &Frame) -> Result<Vec<(BBox, f32)>, VisionError> {
        let faces = self
            .0
            .detect(&frame.rgb, frame.width, frame.height)
            .map_err(|e| VisionError::InvalidInput(format!("face detection: {e}")))?;
        Ok(faces.into_iter().map(|f| (f.bbox, f.score)).collect())
    }
}

/// The counter's settings from a camera's `[camera.crowd_counter]`.
pub fn counter_config(s: &CrowdCounterSettings) -> CrowdCounterConfig {
    CrowdCounterConfig {
        grids: s.grids.clone(),
        ..Default::default()
    }
}

/// Builds a crowd counter with its own person detector (the configured
/// detector model, persons only, at the counter's score) and, when `faces`,
/// YuNet.
pub fn build_crowd_counter(
    cfg: &Config,
    models_dir: &Path,
    counter: CrowdCounterConfig,
    faces: bool,
) -> Result<CrowdCounter, PipelineError> {
    let manifest = vision::ModelManifest::embedded();
    let session = vision::SessionConfig {
        intra_threads: cfg.models.threads,
        spinning: cfg.models.spinning,
        ..Default::default()
    };
    let ycfg = vision::YoloxConfig {
        score_threshold: counter.person_score,
        classes: vec!["person".into()],
        max_batch: 16,
        input_size: Some(cfg.detect.input_size),
        session: session.clone(),
        ..Default::default()
    };
    let det = vision::Yolox::with_key(&manifest, &cfg.models.detector, models_dir, ycfg)?;
    let input = det.input_size();
    let heads: Option<Box<dyn HeadDetector>> = if faces {
        // max_side just over 2 × FACE_UPSAMPLE_MAX_SIDE: frames up to that
        // side get scales [1, 2], larger ones (up to 2562 px) [1] only.
        let fcfg = FaceDetectorConfig {
            score_threshold: counter.face_score.min(0.6),
            max_side: 2 * FACE_UPSAMPLE_MAX_SIDE + 2,
            fine_max_side: 0,
            session,
            ..Default::default()
        };
        let fd = FaceDetector::new(&manifest, models_dir, fcfg)
            .map_err(|e| PipelineError::Invalid(format!("crowd counter face detector: {e}")))?;
        Some(Box::new(YunetHeads(fd)))
    } else {
        None
    };
    Ok(CrowdCounter::new(counter, Box::new(det), input, heads)?)
}

/// Per-camera schedule of counts.
pub(crate) struct CrowdSchedule {
    pub counter: CrowdCounter,
    interval_ms: i64,
    last: Option<Timestamp>,
}

impl CrowdSchedule {
    pub(crate) fn new(counter: CrowdCounter, interval_seconds: f32) -> Self {
        CrowdSchedule {
            counter,
            interval_ms: (interval_seconds * 1000.0) as i64,
            last: None,
        }
    }

    /// Counts `frame` if the interval has passed: the counted people's boxes.
    pub(crate) fn maybe_count(
        &mut self,
        frame: &Frame,
    ) -> Result<Option<Vec<BBox>>, PipelineError> {
        if self
            .last
            .is_some_and(|t| frame.ts.millis() - t.millis() < self.interval_ms)
        {
            return Ok(None);
        }
        self.last = Some(frame.ts);
        let est = self.counter.count(frame)?;
        Ok(Some(est.people.iter().map(|p| p.bbox).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// Real photos, real models: the fused count stays within the error
    /// measured by `kuzet eval crowd` (docs/evaluation.md) on two of the
    /// labelled crowd photos, and beats the body-only count on the denser one.
    #[test]
    fn counts_labelled_crowd_photos() {
        let data = base::env::data_dir();
        let cfg = Config::default();
        let mut c =
            build_crowd_counter(&cfg, &base::env::models_dir(), Default::default(), true).unwrap();
        // (photo, head-point label)
        for (rel, label, bound) in [
            ("crowd/pc_train_27.jpg", 27.0, 0.15),
            ("crowd/pc_train_23.jpg", 9.0, 0.15),
        ] {
            let img = image::open(data.join(rel)).unwrap().to_rgb8();
            let (w, h) = img.dimensions();
            let f = Frame::new(Arc::from("t"), 0, Timestamp(0), 0, w, h, img.into_raw());
            let est = c.count(&f).unwrap();
            let err = (est.count() as f32 - label).abs() / label;
            assert!(
                err <= bound,
                "{rel}: counted {} for {label} ({} bodies, {} faces added)",
                est.count(),
                est.bodies,
                est.faces_added
            );
        }
    }
}
