//! The detect stage: motion gating, batching across cameras, inference.

use crate::stats::StageTotals;
use crate::{EngineOptions, PipelineError};
use base::{BBox, Detection, Frame, Polygon, Shutdown, Timestamp};
use config::CameraConfig;
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
}

impl CamGate {
    /// Decides where the detector looks in this frame. Returns the ROIs
    /// (empty = skip the detector) and the coverage the tracker is told.
    fn plan(&mut self, frame: &Frame, roi_cfg: &RoiConfig) -> (Vec<Option<BBox>>, Coverage) {
        let Some(motion) = self.motion.as_mut() else {
            return (vec![None], Coverage::Full);
        };
        let m = motion.detect(frame);
        let due = match (self.full_interval, self.last_full) {
            (None, Some(_)) => false,
            (Some(iv), Some(last)) => frame.ts.since(last) >= iv,
            (_, None) => true,
        };
        if due {
            self.last_full = Some(frame.ts);
            return (vec![None], Coverage::Full);
        }
        if !m.has_motion() {
            return (Vec::new(), Coverage::None);
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
                    for (res, k) in results.into_iter().zip(owner) {
                        per_frame[k].extend(res);
                    }
                }
                {
                    let mut s = stats.lock();
                    s.add("motion", motion_time);
                }
                for ((i, frame), ((rois, coverage), mut dets)) in
                    batch.into_iter().zip(plans.into_iter().zip(per_frame))
                {
                    if rois.len() > 1 {
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
