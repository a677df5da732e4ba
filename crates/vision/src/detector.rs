//! The detector contract every model plugs into, and shared post-processing.

use crate::error::VisionError;
use base::{BBox, Detection, Frame};
use std::sync::Arc;
use std::time::Duration;

/// One image region to run a detector on.
#[derive(Clone, Copy, Debug)]
pub struct DetectRequest<'a> {
    pub frame: &'a Frame,
    /// Pixel region to run on (e.g. from motion gating); `None` = whole frame.
    /// Clamped to the frame; results are always in full-frame coordinates.
    pub roi: Option<BBox>,
}

impl<'a> DetectRequest<'a> {
    pub fn whole(frame: &'a Frame) -> Self {
        DetectRequest { frame, roi: None }
    }
    pub fn region(frame: &'a Frame, roi: BBox) -> Self {
        DetectRequest {
            frame,
            roi: Some(roi),
        }
    }
}

/// Where the time of the last [`Detector::detect`] call went. Benchmarks and
/// metrics read it; it says whether to buy a GPU (inference) or fix the code
/// (pre/post-processing).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct StageTimings {
    pub preprocess: Duration,
    pub inference: Duration,
    pub postprocess: Duration,
    /// Images in the call.
    pub batch: usize,
    /// Inference calls made (> 1 when the batch exceeded `max_batch`).
    pub runs: usize,
}

impl StageTimings {
    pub fn total(&self) -> Duration {
        self.preprocess + self.inference + self.postprocess
    }
}

/// An object detector. Implementations own their session (`&mut self`,
/// because ONNX Runtime sessions are not safe to run concurrently) and are
/// `Send` so a pipeline can move one to its inference thread.
pub trait Detector: Send {
    /// Model key, e.g. `yolox_nano`.
    fn name(&self) -> &str;
    /// Class names indexed by `Detection::class_id`.
    fn labels(&self) -> &[Arc<str>];
    /// The most requests one inference call takes; callers batch up to this
    /// (larger slices are split internally).
    fn max_batch(&self) -> usize;
    /// One result list per request, boxes in full-frame pixel coordinates.
    fn detect(&mut self, reqs: &[DetectRequest<'_>]) -> Result<Vec<Vec<Detection>>, VisionError>;
    /// Stage timings of the last `detect` call.
    fn last_timings(&self) -> StageTimings;
}

/// Greedy non-maximum suppression per class: keeps the highest-scoring box and
/// drops same-class boxes overlapping it by more than `iou`. Output is sorted
/// by descending score.
pub fn nms_per_class(mut dets: Vec<Detection>, iou: f32) -> Vec<Detection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Detection> = Vec::with_capacity(dets.len());
    for d in dets {
        let suppressed = keep
            .iter()
            .any(|k| k.class_id == d.class_id && k.bbox.iou(&d.bbox) > iou);
        if !suppressed {
            keep.push(d);
        }
    }
    keep
}

/// Reads a label list (one name a line, index order), e.g. `coco80.names`.
pub fn load_labels(path: &std::path::Path) -> Result<Vec<Arc<str>>, VisionError> {
    let text = std::fs::read_to_string(path).map_err(|e| VisionError::io(path, e))?;
    Ok(text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(Arc::from)
        .collect())
}

/// Clamps an ROI to the frame and rounds it outwards to whole pixels; `None`
/// if nothing of it is inside the frame.
pub fn clamp_roi(roi: Option<BBox>, frame: &Frame) -> Option<(u32, u32, u32, u32)> {
    let (fw, fh) = (frame.width as f32, frame.height as f32);
    let b = roi.unwrap_or(BBox::new(0.0, 0.0, fw, fh));
    if !b.is_finite() {
        return None;
    }
    let x1 = b.x1.floor().clamp(0.0, fw) as u32;
    let y1 = b.y1.floor().clamp(0.0, fh) as u32;
    let x2 = b.x2.ceil().clamp(0.0, fw) as u32;
    let y2 = b.y2.ceil().clamp(0.0, fh) as u32;
    (x2 > x1 && y2 > y1).then_some((x1, y1, x2 - x1, y2 - y1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn det(x: f32, score: f32, class_id: u32) -> Detection {
        Detection {
            bbox: BBox::new(x, 0.0, x + 10.0, 10.0),
            score,
            class_id,
            label: Arc::from("x"),
        }
    }

    #[test]
    fn nms_is_class_aware() {
        let out = nms_per_class(
            vec![
                det(0.0, 0.5, 0),
                det(1.0, 0.9, 0),
                det(1.0, 0.8, 1),
                det(50.0, 0.4, 0),
            ],
            0.45,
        );
        let got: Vec<(u32, f32)> = out.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(got, vec![(0, 0.9), (1, 0.8), (0, 0.4)]);
    }

    #[test]
    fn roi_clamping() {
        let f = Frame::new(
            Arc::from("c"),
            0,
            Default::default(),
            0,
            100,
            50,
            vec![0; 100 * 50 * 3],
        );
        assert_eq!(clamp_roi(None, &f), Some((0, 0, 100, 50)));
        assert_eq!(
            clamp_roi(Some(BBox::new(-5.0, 10.2, 30.5, 80.0)), &f),
            Some((0, 10, 31, 40))
        );
        assert_eq!(
            clamp_roi(Some(BBox::new(200.0, 0.0, 300.0, 10.0)), &f),
            None
        );
    }
}
