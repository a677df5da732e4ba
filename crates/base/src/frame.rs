//! Decoded frames and detections.

use crate::clock::Timestamp;
use crate::geom::BBox;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One decoded picture, packed RGB8 (3 bytes a pixel, no row padding).
///
/// Pixels sit behind an `Arc` so the same frame can feed the detector, the
/// evidence writer and the live preview without copies.
#[derive(Clone, Debug)]
pub struct Frame {
    /// Camera (or source) identifier as configured.
    pub camera: Arc<str>,
    /// Index of this frame among the frames the source delivered (after
    /// sampling), starting at 0; gaps never occur, drops are counted apart.
    pub seq: u64,
    /// Wall-clock capture time. For files: the analysis start plus the
    /// presentation time, so events from a file have reproducible relative times.
    pub ts: Timestamp,
    /// Presentation time within the stream, milliseconds.
    pub pts_ms: i64,
    pub width: u32,
    pub height: u32,
    pub rgb: Arc<Vec<u8>>,
}

impl Frame {
    pub fn new(
        camera: Arc<str>,
        seq: u64,
        ts: Timestamp,
        pts_ms: i64,
        width: u32,
        height: u32,
        rgb: Vec<u8>,
    ) -> Self {
        debug_assert_eq!(rgb.len(), width as usize * height as usize * 3);
        Frame {
            camera,
            seq,
            ts,
            pts_ms,
            width,
            height,
            rgb: Arc::new(rgb),
        }
    }
}

/// One object found by a detector, in frame pixel coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub bbox: BBox,
    pub score: f32,
    /// Index in the detector's label list (COCO80 for YOLOX).
    pub class_id: u32,
    pub label: Arc<str>,
}
