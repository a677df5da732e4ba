//! The detect stage: motion gating, batching across cameras, inference.

use crate::stats::StageTotals;
use crate::{EngineOptions, PipelineError};
use base::{BBox, Detection, Frame, Polygon, Shutdown, Timestamp};
use config::{CameraConfig, TilingSettings};
use crossbeam_channel::Sender;
use media::FrameQueue;
use parking_lot::Mutex;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use track::Coverage;
use vision::{DetectRequest, Detector, MotionDetector, RoiConfig};

/// One analysed frame on its way to tracking.
pub(crate) struct Analysed {
    pub cam: usize,
    pub frame: Frame,
    pub detections: Vec<Detection>,
    pub coverage: Coverage,
}

struct CamGate {
    motion: Option<MotionDetector>,
    full_interval: Option<Duration>,
    last_full: Option<Timestamp>,
    /// Tiled detection; `None` = whole frame only.
    tiling: Option<TilingSettings>,
}

/// A tile box mostly inside another same-class box (intersection over its own
/// area above this) is taken as a person cut at a tile border and dropped.
const TILE_CONTAINED: f32 = 0.7;

/// The overlapping tiles of a `grid` (across, down) over a `w`×`h` frame.
fn tile_rois(w: u32, h: u32, t: &TilingSettings) -> Vec<BBox> {
    let span = |len: f32, n: u32| -> Vec<(f32, f32)> {
        let n = n.max(1);
        let o = t.overlap.clamp(0.0, 0.5);
        let size = len / (n as f32 - (n as f32 - 1.0) * o);
        let step = size * (1.0 - o);
        (0..n)
            .map(|i| {
                let a = (i as f32 * step).round();
                let b = if i + 1 == n {
                    len
                } else {
                    (i as f32 * step + size).round().min(len)
                };
                (a, b)
            })
            .collect()
    };
    let (xs, ys) = (span(w as f32, t.grid[0]), span(h as f32, t.grid[1]));
    ys.iter()
        .flat_map(|&(y1, y2)| xs.iter().map(move |&(x1, x2)| BBox::new(x1, y1, x2, y2)))
        .collect()
}

/// Merges one frame's whole-frame and tile detections: whole-frame boxes are
/// kept as they are; tile boxes, larger first, are dropped when they overlap a
/// kept same-class box (IoU above `iou`) or lie mostly inside one
/// ([`TILE_CONTAINED`]): a person cut at a tile border keeps its whole box.
fn merge_tiled(whole: Vec<Detection>, mut tiles: Vec<Detection>, iou: f32) -> Vec<Detection> {
    let mut keep = vision::nms_per_class(whole, iou);
    tiles.sort_by(|a, b| b.bbox.area().total_cmp(&a.bbox.area()));
    for d in tiles {
        let area = d.bbox.area();
        let dup = keep.iter().any(|k| {
            k.class_id == d.class_id
                && (k.bbox.iou(&d.bbox) > iou
                    || k.bbox.intersection(&d.bbox) > TILE_CONTAINED * area.min(k.bbox.area()))
        });
        if !dup {
            keep.push(d);
        }
    }
    keep.sort_by(|a, b| b.score.total_cmp(&a.score));
    keep
}

impl CamGate {
    /// The requests for a frame the detector looks at whole: the whole frame,
    /// plus the tiles when tiling is on.
    fn whole(&self, frame: &Frame) -> Vec<Option<BBox>> {
        let mut rois = vec![None];
        if let Some(t) = &self.tiling {
            rois.extend(
                tile_rois(frame.width, frame.height, t)
                    .into_iter()
                    .map(Some),
            );
        }
        rois
    }

    /// Decides where the detector looks in this frame. Returns the ROIs
    /// (empty = skip the detector; with tiling, the whole frame first and then
    /// the tiles) and the coverage the tracker is told.
    fn plan(&mut self, frame: &Frame, roi_cfg: &RoiConfig) -> (Vec<Option<BBox>>, Coverage) {
        let Some(motion) = self.motion.as_mut() else {
            return (self.whole(frame), Coverage::Full);
        };
        let m = motion.detect(frame);
        let due = match (self.full_interval, self.last_full) {
            (None, Some(_)) => false,
            (Some(iv), Some(last)) => frame.ts.since(last) >= iv,
            (_, None) => true,
        };
        if due {
            self.last_full = Some(frame.ts);
            return (self.whole(frame), Coverage::Full);
        }
        if !m.has_motion() {
            return (Vec::new(), Coverage::None);
        }
        if self.tiling.is_some() {
            // Dense scenes: an analysed frame is always seen whole and tiled.
            self.last_full = Some(frame.ts);
            return (self.whole(frame), Coverage::Full);
        }
        let rois = vision::regions_to_rois(&m.regions, frame.width, frame.height, roi_cfg);
        let full = BBox::new(0.0, 0.0, frame.width as f32, frame.height as f32);
        let Some(first) = rois.first() else {
            return (Vec::new(), Coverage::None);
        };
        // One inference per frame at most: every ROI costs a full detector
        // input, so several ROIs would cost more than the whole frame. Their
        // union keeps the resolution gain when motion is local.
        let union = rois.iter().skip(1).fold(*first, |u, r| u.union(r));
        if union.area() >= roi_cfg.full_frame_fraction * full.area() {
            self.last_full = Some(frame.ts);
            return (vec![None], Coverage::Full);
        }
        (vec![Some(union)], Coverage::Regions(vec![union]))
    }
}

pub(crate) fn spawn(
    mut detector: Box<dyn Detector>,
    cams: &[CameraConfig],
    queues: Vec<Arc<FrameQueue>>,
    opts: EngineOptions,
    tx: Sender<Analysed>,
    stats: Arc<Mutex<StageTotals>>,
    shutdown: Shutdown,
) -> JoinHandle<Result<(), PipelineError>> {
    let mut gates: Vec<CamGate> = cams
        .iter()
        .map(|c| {
            let enabled = opts.motion.unwrap_or(c.motion.enabled);
            CamGate {
                motion: enabled.then(|| {
                    MotionDetector::new(vision::MotionConfig {
                        threshold: c.motion.threshold,
                        min_area: c.motion.min_area,
                        alpha: c.motion.alpha,
                        downscale_width: c.motion.downscale_width,
                        masks: c
                            .motion
                            .masks
                            .iter()
                            .map(|m| {
                                Polygon(m.iter().map(|p| base::Point::new(p[0], p[1])).collect())
                            })
                            .collect(),
                        ..Default::default()
                    })
                }),
                full_interval: (c.motion.full_frame_interval > 0.0)
                    .then(|| Duration::from_secs_f32(c.motion.full_frame_interval)),
                last_full: None,
                tiling: c.tiling.enabled.then(|| c.tiling.clone()),
            }
        })
        .collect();
    let cam_ids: Vec<String> = cams.iter().map(|c| c.id.clone()).collect();
    std::thread::Builder::new()
        .name("detect".into())
        .spawn(move || {
            let roi_cfg = RoiConfig::default();
            let max_batch = detector.max_batch().max(1);
            let n = queues.len();
            let mut rr = 0usize;
            loop {
                // Gather up to max_batch frames, one per camera per round, so a
                // busy camera cannot starve the others.
                let mut batch: Vec<(usize, Frame)> = Vec::new();
                loop {
                    let before = batch.len();
                    for k in 0..n {
                        let i = (rr + k) % n;
                        if batch.len() >= max_batch {
                            break;
                        }
                        if let Some(f) = queues[i].pop(Duration::ZERO) {
                            batch.push((i, f));
                        }
                    }
                    rr = (rr + 1) % n.max(1);
                    if batch.len() >= max_batch || batch.len() == before {
                        break;
                    }
                }
                if batch.is_empty() {
                    if queues.iter().all(|q| q.is_closed() && q.depth() == 0) {
                        return Ok(());
                    }
                    // Wait briefly on one queue rather than spinning.
                    if let Some(f) = queues[rr % n].pop(Duration::from_millis(20)) {
                        batch.push((rr % n, f));
                    } else {
                        let _ = &shutdown;
                        continue;
                    }
                }

                let t = Instant::now();
                let plans: Vec<(Vec<Option<BBox>>, Coverage)> = batch
                    .iter()
                    .map(|(i, f)| gates[*i].plan(f, &roi_cfg))
                    .collect();
                let motion_time = t.elapsed();

                let mut reqs = Vec::new();
                let mut owner = Vec::new();
                for (k, ((_, f), (rois, _))) in batch.iter().zip(&plans).enumerate() {
                    for roi in rois {
                        reqs.push(DetectRequest { frame: f, roi: *roi });
                        owner.push(k);
                    }
                }
                let mut per_frame: Vec<Vec<Detection>> = vec![Vec::new(); batch.len()];
                // Tile detections, kept apart until the whole frame's are in.
                let mut per_tiles: Vec<Vec<Detection>> = vec![Vec::new(); batch.len()];
                if !reqs.is_empty() {
                    let results = detector.detect(&reqs)?;
                    let tm = detector.last_timings();
                    let mut s = stats.lock();
                    s.add("preprocess", tm.preprocess);
                    s.add("inference", tm.inference);
                    s.add("postprocess", tm.postprocess);
                    drop(s);
                    let per = batch.len() as f64;
                    for (k, (i, _)) in batch.iter().enumerate() {
                        if plans[k].0.is_empty() {
                            continue;
                        }
                        let cam = cam_ids[*i].clone();
                        for (stage, d) in [
                            ("preprocess", tm.preprocess),
                            ("inference", tm.inference),
                            ("postprocess", tm.postprocess),
                        ] {
                            metrics::histogram!("kuzet_stage_seconds", "camera" => cam.clone(), "stage" => stage)
                                .record(d.as_secs_f64() / per);
                        }
                    }
                    for ((res, k), req) in results.into_iter().zip(owner).zip(&reqs) {
                        if gates[batch[k].0].tiling.is_some() && req.roi.is_some() {
                            per_tiles[k].extend(res);
                        } else {
                            per_frame[k].extend(res);
                        }
                    }
                }
                {
                    let mut s = stats.lock();
                    s.add("motion", motion_time);
                }
                for (((i, frame), ((rois, coverage), mut dets)), tiles) in batch
                    .into_iter()
                    .zip(plans.into_iter().zip(per_frame))
                    .zip(per_tiles)
                {
                    if gates[i].tiling.is_some() {
                        dets = merge_tiled(dets, tiles, 0.45);
                    } else if rois.len() > 1 {
                        // Overlapping ROIs can see the same object twice.
                        dets = vision::nms_per_class(dets, 0.45);
                    }
                    metrics::histogram!("kuzet_stage_seconds", "camera" => cam_ids[i].clone(), "stage" => "motion")
                        .record(motion_time.as_secs_f64());
                    let a = Analysed {
                        cam: i,
                        frame,
                        detections: dets,
                        coverage,
                    };
                    if tx.send(a).is_err() {
                        return Ok(());
                    }
                }
            }
        })
        .expect("cannot start the detect thread")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            class_id: 0,
            label: Arc::from("person"),
        }
    }

    #[test]
    fn tiles_cover_the_frame_with_overlap() {
        let t = TilingSettings {
            enabled: true,
            grid: [2, 2],
            overlap: 0.2,
        };
        let tiles = tile_rois(1000, 500, &t);
        assert_eq!(tiles.len(), 4);
        assert_eq!(tiles[0], BBox::new(0.0, 0.0, 556.0, 278.0));
        assert_eq!(tiles[3], BBox::new(444.0, 222.0, 1000.0, 500.0));
    }

    #[test]
    fn cut_tile_boxes_yield_to_whole_ones() {
        let whole = vec![person(100.0, 100.0, 140.0, 200.0, 0.8)];
        let tiles = vec![
            // The same person again, and cut at a tile border.
            person(101.0, 99.0, 141.0, 201.0, 0.9),
            person(100.0, 100.0, 140.0, 150.0, 0.7),
            // A small person only the tiles found, and its cut half.
            person(300.0, 50.0, 310.0, 80.0, 0.5),
            person(300.0, 50.0, 305.0, 80.0, 0.6),
        ];
        let out = merge_tiled(whole, tiles, 0.45);
        let boxes: Vec<BBox> = out.iter().map(|d| d.bbox).collect();
        assert_eq!(
            boxes,
            vec![
                BBox::new(100.0, 100.0, 140.0, 200.0),
                BBox::new(300.0, 50.0, 310.0, 80.0)
            ]
        );
    }
}
