//! Crowd counting in the pipeline: builds [`vision::CrowdCounter`] with a
//! face model as its head detector (SCRFD on tiles by default, or YuNet),
//! and runs it at each camera's interval for the crowd rules
//! (`[camera.crowd_counter]`).
//!
//! A count costs ~14 detector inputs plus a few face inputs (hundreds of ms
//! on CPU), so it runs every `interval_seconds` (2 s by default), the zones
//! keep the last count in between, and each camera's counter runs its own
//! YOLOX and face sessions on a thread of its own ([`CrowdSchedule`]): on
//! the post thread a count stalled the tracks and rules of every camera.

use crate::PipelineError;
use base::{BBox, Frame, Timestamp};
use config::{Config, CrowdCounterSettings};
use crossbeam_channel::{Receiver, Sender, TryRecvError};
use faces::{FaceDetector, FaceDetectorConfig, Scrfd, ScrfdConfig, SCRFD_INPUT};
use std::path::Path;
use std::thread::JoinHandle;
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

/// Most tiles per side for the SCRFD head pass (9 inputs at 3×3).
const SCRFD_MAX_GRID: u32 = 3;
/// Overlap of the SCRFD tiles: 20 % of a 1024×768 frame's 2×2 tile is
/// 84–112 px, more than a head in a crowd, so every such head is whole in
/// some tile.
const SCRFD_TILE_OVERLAP: f32 = 0.2;

/// SCRFD on overlapping tiles as the crowd counter's head detector. Its input
/// is a fixed 640×640, so a whole 1024×768 frame would shrink a 16-px head to
/// 10 px, the model's floor; the frame is cut into the fewest n×n tiles
/// (n ≤ 3) that each shrink by at most [`scrfd_grid`]'s limit.
pub struct ScrfdHeads(Scrfd);

/// Tiles per side for a `w`×`h` frame: the smallest n whose tiles' long side
/// is at most 1.15 × the network input (a head keeps ≥ 87 % of its size),
/// capped at [`SCRFD_MAX_GRID`].
pub fn scrfd_grid(w: u32, h: u32) -> u32 {
    let limit = 1.15 * SCRFD_INPUT as f32;
    (1..SCRFD_MAX_GRID)
        .find(|&n| {
            let n = n as f32;
            let tile = |len: u32| len as f32 / (n - (n - 1.0) * SCRFD_TILE_OVERLAP);
            tile(w).max(tile(h)) <= limit
        })
        .unwrap_or(SCRFD_MAX_GRID)
}

impl HeadDetector for ScrfdHeads {
    fn heads(&mut self, frame: &Frame) -> Result<Vec<(BBox, f32)>, VisionError> {
        let (w, h) = (frame.width, frame.height);
        let tiles = vision::grid_tiles(w, h, scrfd_grid(w, h), SCRFD_TILE_OVERLAP);
        let faces = self
            .0
            .detect_tiles(&frame.rgb, w, h, &tiles)
            .map_err(|e| VisionError::InvalidInput(format!("face detection: {e}")))?;
        Ok(faces.into_iter().map(|f| (f.bbox, f.score)).collect())
    }
}

/// The counter's settings from a camera's `[camera.crowd_counter]`. The face
/// limits follow the head model: SCRFD at its model card's 0.5 and down to
/// 10 px (on the crowd photos 8–12 px gave the same heads, and 16 px lost
/// six real ones); YuNet at 0.8 and 16 px (under that, most of its
/// detections there were not heads: docs/evaluation.md).
pub fn counter_config(s: &CrowdCounterSettings) -> CrowdCounterConfig {
    // The same split as `build_crowd_counter`'s: YuNet, or an SCRFD.
    let (face_score, min_face) = if s.head_model == faces::YUNET {
        (0.8, 16.0)
    } else {
        (0.5, 10.0)
    };
    CrowdCounterConfig {
        grids: s.grids.clone(),
        face_score,
        min_face,
        ..Default::default()
    }
}

/// Builds a crowd counter for `[camera.crowd_counter]` settings `s`: its own
/// person detector (the configured detector model, persons only, at the
/// counter's score) and, when `s.faces`, the head model.
pub fn build_crowd_counter(
    cfg: &Config,
    models_dir: &Path,
    s: &CrowdCounterSettings,
) -> Result<CrowdCounter, PipelineError> {
    let counter = counter_config(s);
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
    let heads: Option<Box<dyn HeadDetector>> = match (s.faces, s.head_model.as_str()) {
        (false, _) => None,
        (true, faces::YUNET) => {
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
        }
        (true, key) => {
            let scfg = ScrfdConfig {
                score_threshold: counter.face_score.min(0.5),
                session,
                ..Default::default()
            };
            let sd = Scrfd::new(&manifest, key, models_dir, scfg).map_err(|e| {
                PipelineError::Invalid(format!("crowd counter head model {key}: {e}"))
            })?;
            Some(Box::new(ScrfdHeads(sd)))
        }
    };
    Ok(CrowdCounter::new(counter, Box::new(det), input, heads)?)
}

/// One camera's counts: scheduled at the camera's interval by the post
/// thread, counted on the camera's crowd thread.
///
/// Offline (files) the post thread waits for each count and applies it to
/// the frame it counted, so a file's events never depend on timing: the
/// same as counting in place, with the counter's sessions on their own
/// thread. Live, a count is applied to the first frame after it is ready,
/// and no count starts while one runs: a live camera's crowd figures lag by
/// one count (a few hundred ms) instead of every camera's tracks and rules
/// waiting for it.
pub(crate) struct CrowdSchedule {
    interval_ms: i64,
    last: Option<Timestamp>,
    live: bool,
    jobs: Option<Sender<Frame>>,
    done: Receiver<Result<Vec<BBox>, VisionError>>,
    in_flight: bool,
    thread: Option<JoinHandle<()>>,
}

impl CrowdSchedule {
    /// Starts `camera`'s crowd thread, which owns `counter`.
    pub(crate) fn new(
        camera: &str,
        counter: CrowdCounter,
        interval_seconds: f32,
        live: bool,
    ) -> Result<Self, PipelineError> {
        // One job at a time: the post thread never queues a second count.
        let (jobs, job_rx) = crossbeam_channel::bounded::<Frame>(1);
        let (done_tx, done) = crossbeam_channel::bounded(1);
        let mut counter = counter;
        let cam = camera.to_string();
        let thread = std::thread::Builder::new()
            .name(format!("crowd-{camera}"))
            .spawn(move || {
                for frame in job_rx.iter() {
                    let t = std::time::Instant::now();
                    let people = counter
                        .count(&frame)
                        .map(|est| est.people.iter().map(|p| p.bbox).collect());
                    // The post thread's "crowd" stage is only the hand-over
                    // (and, offline, the wait); this is the count itself.
                    metrics::histogram!("kuzet_stage_seconds", "camera" => cam.clone(), "stage" => "crowd_count")
                        .record(t.elapsed().as_secs_f64());
                    if done_tx.send(people).is_err() {
                        break;
                    }
                }
            })
            .map_err(|e| {
                PipelineError::Invalid(format!(
                    "camera {camera}: cannot start the crowd counter's thread: {e}"
                ))
            })?;
        Ok(CrowdSchedule {
            interval_ms: (interval_seconds * 1000.0) as i64,
            last: None,
            live,
            jobs: Some(jobs),
            done,
            in_flight: false,
            thread: Some(thread),
        })
    }

    /// Called with every analysed frame: starts a count of `frame` when the
    /// interval has passed and none is running, and returns the people of
    /// a count that is ready for this frame's rules.
    pub(crate) fn maybe_count(
        &mut self,
        frame: &Frame,
    ) -> Result<Option<Vec<BBox>>, PipelineError> {
        let mut ready = None;
        if self.in_flight {
            match self.done.try_recv() {
                Ok(r) => {
                    self.in_flight = false;
                    ready = Some(r?);
                }
                Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Err(stopped()),
            }
        }
        let due = !self.in_flight
            && self
                .last
                .is_none_or(|t| frame.ts.millis() - t.millis() >= self.interval_ms);
        if due {
            self.last = Some(frame.ts);
            let jobs = self.jobs.as_ref().ok_or_else(stopped)?;
            jobs.send(frame.clone()).map_err(|_| stopped())?;
            self.in_flight = true;
            if !self.live {
                let r = self.done.recv().map_err(|_| stopped())?;
                self.in_flight = false;
                ready = Some(r?);
            }
        }
        Ok(ready)
    }
}

fn stopped() -> PipelineError {
    PipelineError::Invalid("the crowd counter's thread stopped".into())
}

impl Drop for CrowdSchedule {
    /// Ends the thread (after the count it may be running) and waits for it.
    fn drop(&mut self) {
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                tracing::error!("a crowd counter thread panicked");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn scrfd_tiles_keep_heads_near_native_size() {
        // CCTV substream and small photos: the whole frame fits.
        assert_eq!(scrfd_grid(640, 360), 1);
        assert_eq!(scrfd_grid(704, 576), 1);
        // The crowd photos: 2×2 tiles of 569×427 px, scale 1.12.
        assert_eq!(scrfd_grid(1024, 768), 2);
        assert_eq!(scrfd_grid(1280, 720), 2);
        // 1080p and up: the 3×3 cap (scale 0.87 at 1080p).
        assert_eq!(scrfd_grid(1920, 1080), 3);
        assert_eq!(scrfd_grid(3840, 2160), 3);
    }

    /// Real photos, real models: the fused count stays within the error
    /// measured by `kuzet eval crowd` (docs/evaluation.md) on two of the
    /// labelled crowd photos, and beats the body-only count on the denser one.
    #[test]
    fn counts_labelled_crowd_photos() {
        let data = base::env::data_dir();
        let cfg = Config::default();
        let mut c =
            build_crowd_counter(&cfg, &base::env::models_dir(), &Default::default()).unwrap();
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

    #[test]
    fn live_counts_run_beside_the_post_thread_and_offline_ones_in_step() {
        let data = base::env::data_dir();
        let cfg = Config::default();
        let counter = || build_crowd_counter(&cfg, &base::env::models_dir(), &Default::default());
        let img = image::open(data.join("crowd/pc_train_23.jpg"))
            .unwrap()
            .to_rgb8();
        let (w, h) = img.dimensions();
        let raw = img.into_raw();
        let frame = |ms: i64| Frame::new(Arc::from("t"), 0, Timestamp(ms), 0, w, h, raw.clone());

        // Offline: the frame that starts a count gets it.
        let mut off = CrowdSchedule::new("t", counter().unwrap(), 2.0, false).unwrap();
        let people = off
            .maybe_count(&frame(0))
            .unwrap()
            .expect("counted in step");
        assert!((8..=10).contains(&people.len()), "{} people", people.len());
        assert!(off.maybe_count(&frame(500)).unwrap().is_none(), "not due");

        // Live: starting a count returns at once; the count arrives with a
        // later frame, and no second count starts while one runs.
        let mut live = CrowdSchedule::new("t", counter().unwrap(), 2.0, true).unwrap();
        assert!(live.maybe_count(&frame(0)).unwrap().is_none());
        let mut ts = 0;
        let got = loop {
            ts += 1;
            assert!(ts < 1999, "the count must come before the interval ends");
            if let Some(p) = live.maybe_count(&frame(ts)).unwrap() {
                break p;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        assert_eq!(got.len(), people.len(), "same frame, same count");
        assert!(
            live.maybe_count(&frame(ts + 1)).unwrap().is_none(),
            "not due"
        );
        // Due again: a new count starts (and is not ready yet).
        assert!(live.maybe_count(&frame(2000)).unwrap().is_none());
        assert!(live.in_flight);
    }
}
