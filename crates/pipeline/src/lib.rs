//! The analysis pipeline: source → decode → motion gate → detect → track →
//! rules → evidence → store.
//!
//! Threads and why:
//! - one **source** thread per camera decodes and samples frames into that
//!   camera's bounded queue (drop-oldest for live cameras, lossless for files);
//! - one **detect** thread owns the detector (ONNX Runtime sessions are not run
//!   concurrently; the session itself uses the cores), gathers frames from all
//!   cameras round-robin into batches, runs motion gating per frame and one
//!   inference call per batch;
//! - one **post** thread runs tracking, rules, evidence and the store, so JPEG
//!   encoding and database commits overlap with the next inference.
//!
//! Stages hand over through bounded channels, so a slow stage back-pressures
//! the one before it and, for live cameras, ends up dropping the oldest frames
//! at the source queue, where every drop is counted.

mod agreement;
mod clips;
mod crowd;
mod detect;
mod faces;
mod fire;
mod offence_evidence;
mod plates;
mod post;
mod privacy;
#[cfg(test)]
mod privacy_tests;
mod ptz;
mod sink;
mod stats;

pub use crowd::{
    build_crowd_counter, counter_config as crowd_counter_config, scrfd_grid, ScrfdHeads, YunetHeads,
};
pub use faces::{FaceMatcher, FaceObservation, FaceSummary, LiveFaces, MatchedFace};
pub use fire::monitor_config as fire_monitor_config;
pub use plates::{
    plate_formats, LivePlates, MatchedPlate, PlateMatcher, PlateObservation, PlateSummary,
};
pub use privacy::{Bystanders, SharedBystanders, Subject};
pub use ptz::{PtzReport, PtzReports};
pub use sink::{Sink, StoreSink};
pub use stats::{StageTotals, Summary, STAGES};

use base::{CameraState, CameraStatus, Clock, Event, Frame, Shutdown};
use config::{CameraConfig, Config};
use media::{FrameQueue, SharedStatus, SourceSpec};
use parking_lot::Mutex;
use std::path::Path;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::Store;
use vision::Detector;

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("camera {camera}")]
    Source {
        camera: String,
        #[source]
        source: media::MediaError,
    },
    #[error(transparent)]
    Vision(#[from] vision::VisionError),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// A non-store sink (the bus) refused or lost a write.
    #[error("{0}")]
    Sink(String),
    #[error("{0}")]
    Invalid(String),
}

/// How sources behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Analyse files to their end as fast as possible, never dropping a frame
    /// (`kuzet analyze`, `kuzet bench`). RTSP sources still reconnect.
    Offline,
    /// Cameras run until shutdown; overload drops the oldest frames
    /// (`kuzet serve`).
    Live,
}

#[derive(Clone, Debug)]
pub struct EngineOptions {
    pub mode: Mode,
    /// Overrides every camera's `motion.enabled` (benchmarks compare both).
    pub motion: Option<bool>,
    /// Stop each camera after this many analysed frames.
    pub max_frames: Option<u64>,
    /// Write evidence JPEGs for events and track crops.
    pub evidence: bool,
    /// Live face matching for cameras with `[camera.faces]`; `None` = off.
    pub faces: Option<LiveFaces>,
    /// Plate reading for cameras with `[camera.plates]`; `None` = off.
    pub plates: Option<LivePlates>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            mode: Mode::Offline,
            motion: None,
            max_frames: None,
            evidence: true,
            faces: None,
            plates: None,
        }
    }
}

/// Called with each event once the store has committed it.
pub type EventSink = Box<dyn FnMut(&Event) + Send>;

/// The sink, shared by the threads that produce events (post, faces).
pub(crate) type SharedSink = Arc<Mutex<Option<EventSink>>>;

/// A camera's latest analysed frame (pixels shared, not copied) and the
/// confirmed tracks on it: what the web app's live snapshots show.
#[derive(Clone, Debug)]
pub struct LatestFrame {
    pub frame: Frame,
    /// (track id, label, score, box in pixels).
    pub objects: Vec<(u64, String, f32, base::BBox)>,
}

/// Reads the latest analysed frame of a camera by id.
pub type LatestFrameFn = Arc<dyn Fn(&str) -> Option<LatestFrame> + Send + Sync>;

/// Latest analysed frame per camera id, written by the post thread.
/// Edited camera configurations waiting for the post thread to apply them
/// (zones and lines drawn in the web app), by camera id.
pub(crate) type CameraEdits = Arc<Mutex<std::collections::HashMap<String, CameraConfig>>>;

pub(crate) type LatestFrames = Arc<Mutex<std::collections::HashMap<String, LatestFrame>>>;

pub(crate) fn keep_latest(
    latest: &LatestFrames,
    frame: &Frame,
    objects: &[analytics::ObjectState<'_>],
) {
    let objects = objects
        .iter()
        .map(|o| (o.track_id, o.label.to_string(), o.score, o.bbox))
        .collect();
    let entry = LatestFrame {
        frame: frame.clone(),
        objects,
    };
    latest.lock().insert(frame.camera.to_string(), entry);
}

/// Records a panning camera's reported position (see
/// [`Engine::ptz_reporter`]).
pub type PtzReporter = Arc<dyn Fn(&str, PtzReport) -> Result<bool, PipelineError> + Send + Sync>;

/// A running set of camera pipelines.
pub struct Engine {
    latest: LatestFrames,
    statuses: Vec<SharedStatus>,
    queues: Vec<Arc<FrameQueue>>,
    sources: Vec<JoinHandle<Option<String>>>,
    detect: JoinHandle<Result<(), PipelineError>>,
    post: JoinHandle<Result<Summary, PipelineError>>,
    faces: Option<JoinHandle<Result<FaceSummary, PipelineError>>>,
    plates: Option<JoinHandle<Result<PlateSummary, PipelineError>>>,
    fire: Option<JoinHandle<Result<fire::EventCounts, PipelineError>>>,
    stats: Arc<Mutex<StageTotals>>,
    shutdown: Shutdown,
    started: Instant,
    edits: CameraEdits,
    /// Ids of the cameras this engine runs.
    running: Arc<Vec<String>>,
    /// Positions reported by panning fire cameras (`ptz = true`).
    ptz: PtzReports,
    /// Ids of the cameras that take such reports.
    ptz_cameras: Arc<Vec<String>>,
}

/// Builds the configured object detector (YOLOX-nano by default).
pub fn build_detector(cfg: &Config, models_dir: &Path) -> Result<Box<dyn Detector>, PipelineError> {
    let manifest = vision::ModelManifest::embedded();
    let provider = match cfg.models.execution_provider {
        config::ExecutionProvider::Cpu => vision::ExecutionProvider::Cpu,
        config::ExecutionProvider::Cuda => vision::ExecutionProvider::Cuda,
        config::ExecutionProvider::Tensorrt => vision::ExecutionProvider::TensorRt,
    };
    let ycfg = vision::YoloxConfig {
        score_threshold: cfg.detect.score_threshold,
        nms_iou: cfg.detect.nms_iou,
        classes: cfg.detect.classes.clone(),
        max_batch: cfg.detect.max_batch,
        input_size: Some(cfg.detect.input_size),
        session: vision::SessionConfig {
            provider,
            intra_threads: cfg.models.threads,
            spinning: cfg.models.spinning,
            ..Default::default()
        },
        ..Default::default()
    };
    let det = vision::Yolox::with_key(&manifest, &cfg.models.detector, models_dir, ycfg)?;
    Ok(Box::new(det))
}

impl Engine {
    /// Starts every enabled camera of `cfg`, writing into the local store (the
    /// embedded default). Frames flow until the sources end (offline) or
    /// `shutdown` is triggered.
    pub fn start(
        cfg: &Config,
        detector: Box<dyn Detector>,
        store: Arc<Store>,
        opts: EngineOptions,
        clock: Arc<dyn Clock>,
        shutdown: Shutdown,
        sink: Option<EventSink>,
    ) -> Result<Engine, PipelineError> {
        Self::start_with_sink(
            cfg,
            detector,
            Arc::new(StoreSink(store)),
            opts,
            clock,
            shutdown,
            sink,
        )
    }

    /// Like [`Engine::start`], writing through `output` (the store, or the
    /// bus on a worker). Live face matching needs the central store
    /// ([`Sink::central_store`]); asking for it without one is an error.
    /// Plates are read without one and matched centrally.
    pub fn start_with_sink(
        cfg: &Config,
        detector: Box<dyn Detector>,
        output: Arc<dyn Sink>,
        opts: EngineOptions,
        clock: Arc<dyn Clock>,
        shutdown: Shutdown,
        sink: Option<EventSink>,
    ) -> Result<Engine, PipelineError> {
        let central = output.central_store();
        if central.is_none() && opts.faces.as_ref().is_some_and(|f| f.service.is_some()) {
            return Err(PipelineError::Invalid(
                "live face matching needs the central store (watchlists): run it in `kuzet serve`, not on a worker".into(),
            ));
        }
        // Run-time changes of the owners' agreements apply through the
        // store (see `store::agreements`).
        if let Some(store) = &central {
            register_agreements(store, cfg);
        }
        // Cameras outside their owner's data-sharing agreement window do
        // not start (see `agreement`).
        let now = clock.now();
        let mut outside = Vec::new();
        let cams: Vec<CameraConfig> = cfg
            .cameras
            .iter()
            .filter(|c| c.enabled)
            .filter(
                |c| match cfg.agreement_of(c).and_then(|a| a.not_in_force(now)) {
                    Some(why) => {
                        tracing::warn!(camera = %c.id, "not started: {why}");
                        outside.push(format!("{}: {why}", c.id));
                        false
                    }
                    None => true,
                },
            )
            .cloned()
            .collect();
        if cams.is_empty() {
            return Err(PipelineError::Invalid(if outside.is_empty() {
                "no enabled camera: add a [[camera]] section with id and url to the config, or pass a source to `kuzet analyze`".into()
            } else {
                format!(
                    "no camera may run now: {} (renew the agreement and update [owner.agreement] valid_until)",
                    outside.join("; ")
                )
            }));
        }
        let stats = Arc::new(Mutex::new(StageTotals::default()));
        let mut specs = Vec::new();
        for c in &cams {
            let spec = SourceSpec::parse(&c.url).map_err(|source| PipelineError::Source {
                camera: c.id.clone(),
                source,
            })?;
            specs.push(spec);
        }
        output.begin_run()?;
        let mut statuses = Vec::new();
        let mut queues = Vec::new();
        let mut sources = Vec::new();
        for (c, spec) in cams.iter().zip(specs) {
            let cam_json = serde_json::to_value(c).unwrap_or_default();
            output.upsert_camera(
                &c.id,
                c.display_name(),
                &media::redact_url(&c.url),
                &cam_json,
            )?;
            let status = media::new_status(&c.id, c.display_name(), &spec);
            // A camera whose agreement ends runs on its own shutdown, which
            // the watcher triggers at the end (or with the engine's).
            let shutdown = match cfg
                .agreement_of(c)
                .and_then(|a| Some((a.valid_until_ts()?, a)))
            {
                Some((until, a)) => {
                    let own = Shutdown::new();
                    agreement::AgreementWatch {
                        until,
                        reason: format!("data-sharing agreement {} ended at {until}", a.reference),
                    }
                    .spawn(
                        c.id.clone(),
                        clock.clone(),
                        shutdown.clone(),
                        own.clone(),
                        status.clone(),
                    );
                    own
                }
                None => shutdown.clone(),
            };
            let queue = Arc::new(FrameQueue::new(c.queue));
            let src_opts = media::SourceOptions {
                camera: Arc::from(c.id.as_str()),
                target_fps: Some(c.fps as f64),
                realtime: c.realtime,
                loop_file: c.loop_file,
                image_fps: c.fps as f64,
                cancel: Some(shutdown.clone()),
                ..Default::default()
            };
            let handle = if opts.mode == Mode::Offline && !spec.is_live() {
                spawn_offline_reader(
                    spec,
                    src_opts,
                    clock.clone(),
                    shutdown.clone(),
                    queue.clone(),
                    status.clone(),
                    stats.clone(),
                    opts.max_frames,
                )
            } else {
                // A file played as fast as it decodes must not be thinned by
                // drop-oldest; only real-time sources (cameras, paced files)
                // shed load.
                let lossless = opts.mode == Mode::Offline || (!spec.is_live() && !c.realtime);
                let copts = media::CameraOptions {
                    source: src_opts,
                    lossless,
                    ..Default::default()
                };
                let h = media::spawn_camera(
                    spec,
                    copts,
                    clock.clone(),
                    shutdown.clone(),
                    queue.clone(),
                    status.clone(),
                );
                std::thread::spawn(move || {
                    let _ = h.join();
                    None
                })
            };
            statuses.push(status);
            queues.push(queue);
            sources.push(handle);
        }

        let latest = LatestFrames::default();
        let (tx, rx) = crossbeam_channel::bounded::<detect::Analysed>(8);
        let detect = detect::spawn(
            detector,
            &cams,
            queues.clone(),
            opts.clone(),
            tx,
            stats.clone(),
            shutdown.clone(),
        );
        let sink: SharedSink = Arc::new(Mutex::new(sink));
        let (feed, faces) = match faces::spawn(
            cfg,
            &cams,
            central.clone(),
            &opts,
            sink.clone(),
            output.clone(),
        ) {
            Some(st) => (Some(st.feed), Some(st.handle)),
            None => (None, None),
        };
        let (plate_feed, plates) = match plates::spawn(
            cfg,
            &cams,
            output.clone(),
            central.clone(),
            &opts,
            sink.clone(),
        ) {
            Some(st) => (Some(st.feed), Some(st.handle)),
            None => (None, None),
        };
        let ptz = PtzReports::default();
        let ptz_cameras = Arc::new(
            cams.iter()
                .filter(|c| c.fire.as_ref().is_some_and(|f| f.enabled && f.ptz))
                .map(|c| c.id.clone())
                .collect::<Vec<_>>(),
        );
        let (fire_feed, fire) = match fire::spawn(
            &cams,
            output.clone(),
            &opts,
            cfg.evidence.jpeg_quality,
            sink.clone(),
            ptz.clone(),
        ) {
            Some((f, h)) => (Some(f), Some(h)),
            None => (None, None),
        };
        // The live reader's table, or loaded (and the cameras' plate
        // countries checked) before any thread starts: a broken table is a
        // start-up error, not a missing plate on the first offence.
        let offence_plates = offence_evidence::OffencePlates {
            models_dir: cfg.models.dir.clone().unwrap_or_else(base::env::models_dir),
            formats: match &opts.plates {
                Some(live) => live.formats.clone(),
                None => plate_formats(cfg)?,
            },
        };
        let mut counters = Vec::new();
        for c in &cams {
            counters.push(match c.crowd_counter.as_ref().filter(|s| s.enabled) {
                Some(s) if c.zones.iter().any(|z| z.crowd.is_some()) => {
                    let counter = crowd::build_crowd_counter(
                        cfg,
                        &cfg.models.dir.clone().unwrap_or_else(base::env::models_dir),
                        s,
                    )?;
                    Some(crowd::CrowdSchedule::new(
                        &c.id,
                        counter,
                        s.interval_seconds,
                        opts.mode == Mode::Live,
                    )?)
                }
                _ => None,
            });
        }
        let edits: CameraEdits = Arc::default();
        let running = Arc::new(cams.iter().map(|c| c.id.clone()).collect::<Vec<_>>());
        let post = post::spawn(
            cfg,
            &cams,
            edits.clone(),
            output,
            opts,
            feed,
            plate_feed,
            fire_feed,
            rx,
            statuses.clone(),
            queues.clone(),
            stats.clone(),
            sink,
            latest.clone(),
            counters,
            offence_plates,
        );
        Ok(Engine {
            latest,
            statuses,
            queues,
            sources,
            detect,
            post,
            faces,
            plates,
            fire,
            stats,
            shutdown,
            started: Instant::now(),
            edits,
            running,
            ptz,
            ptz_cameras,
        })
    }

    /// Applies an edited camera configuration (its zones, lines and rules)
    /// to the running camera from its next frame, keeping the state of the
    /// rules that did not change (see `analytics::RuleEngine::reconfigure`).
    /// Returns `false` when this engine does not run the camera. Sources,
    /// detection and enrichment settings are not changed here: those need a
    /// restart.
    pub fn camera_editor(&self) -> Arc<dyn Fn(CameraConfig) -> bool + Send + Sync> {
        let edits = self.edits.clone();
        let running = self.running.clone();
        Arc::new(move |cam: CameraConfig| {
            if !running.contains(&cam.id) {
                return false;
            }
            edits.lock().insert(cam.id.clone(), cam);
            true
        })
    }

    /// Records where a panning fire camera points (`[camera.fire] ptz =
    /// true`), for the bearings of its alarms from `report.at` on. `Ok(false)`
    /// when this engine does not run the camera; an error when it runs it
    /// without `ptz = true` (its bearings come from the configured heading).
    pub fn ptz_reporter(&self) -> PtzReporter {
        let ptz = self.ptz.clone();
        let takes = self.ptz_cameras.clone();
        let running = self.running.clone();
        Arc::new(move |camera: &str, report: PtzReport| {
            if !running.iter().any(|c| c == camera) {
                return Ok(false);
            }
            if !takes.iter().any(|c| c == camera) {
                return Err(PipelineError::Invalid(format!(
                    "camera {camera} takes no position reports: set [camera.fire] enabled = true and ptz = true for a panning fire camera"
                )));
            }
            ptz.record(camera, report);
            Ok(true)
        })
    }

    /// Live status of every camera (for the API).
    pub fn status_provider(&self) -> Arc<dyn Fn() -> Vec<CameraStatus> + Send + Sync> {
        let statuses = self.statuses.clone();
        let queues = self.queues.clone();
        Arc::new(move || snapshot(&statuses, &queues))
    }

    /// The latest analysed frame of a camera by id (for live snapshots).
    pub fn latest_frames(&self) -> LatestFrameFn {
        let latest = self.latest.clone();
        Arc::new(move |camera| latest.lock().get(camera).cloned())
    }

    pub fn statuses(&self) -> Vec<CameraStatus> {
        snapshot(&self.statuses, &self.queues)
    }

    /// Stops the sources and lets the queued frames drain through every stage.
    pub fn stop(&self) {
        self.shutdown.trigger();
    }

    /// Waits for every stage to finish (sources at their end, or after
    /// [`Engine::stop`]) and returns the run's summary. A source that failed
    /// (corrupt file, unreachable camera) is reported in `Summary::errors`.
    pub fn wait(self) -> Result<Summary, PipelineError> {
        let mut errors = Vec::new();
        for (h, st) in self.sources.into_iter().zip(&self.statuses) {
            if let Ok(Some(e)) = h.join() {
                errors.push((st.lock().id.clone(), e));
            }
        }
        for (q, st) in self.queues.iter().zip(&self.statuses) {
            q.close();
            let s = st.lock();
            if s.state == CameraState::Failed {
                let msg = s.last_error.clone().unwrap_or_else(|| "failed".into());
                if !errors.iter().any(|(c, _)| c == &s.id) {
                    errors.push((s.id.clone(), msg));
                }
            }
        }
        let detect_res = self
            .detect
            .join()
            .unwrap_or_else(|_| Err(PipelineError::Invalid("the detect thread panicked".into())));
        let mut summary = self.post.join().unwrap_or_else(|_| {
            Err(PipelineError::Invalid(
                "the post-processing thread panicked".into(),
            ))
        })?;
        detect_res?;
        // The post thread dropped the faces feed when it ended, so the faces
        // thread has drained its queue and is finishing.
        if let Some(h) = self.faces {
            match h.join() {
                Ok(Ok(f)) => faces::merge(&mut summary, f),
                Ok(Err(e)) => errors.push(("faces".into(), e.to_string())),
                Err(_) => errors.push(("faces".into(), "the faces thread panicked".into())),
            }
        }
        if let Some(h) = self.plates {
            match h.join() {
                Ok(Ok(p)) => plates::merge(&mut summary, p),
                Ok(Err(e)) => errors.push(("plates".into(), e.to_string())),
                Err(_) => errors.push(("plates".into(), "the plates thread panicked".into())),
            }
        }
        if let Some(h) = self.fire {
            match h.join() {
                Ok(Ok(counts)) => {
                    for (k, n) in counts {
                        *summary.events.entry(k).or_default() += n;
                    }
                }
                Ok(Err(e)) => errors.push(("fire".into(), e.to_string())),
                Err(_) => errors.push(("fire".into(), "the fire thread panicked".into())),
            }
        }
        summary.wall_seconds = self.started.elapsed().as_secs_f64();
        let face_seconds = summary.stages.get("faces");
        let plate_seconds = summary.stages.get("plates");
        summary.stages = self.stats.lock().clone();
        if face_seconds > 0.0 {
            summary
                .stages
                .add("faces", std::time::Duration::from_secs_f64(face_seconds));
        }
        if plate_seconds > 0.0 {
            summary
                .stages
                .add("plates", std::time::Duration::from_secs_f64(plate_seconds));
        }
        summary.errors = errors;
        for (q, st) in self.queues.iter().zip(&self.statuses) {
            let id = st.lock().id.clone();
            if let Some(c) = summary.cameras.iter_mut().find(|c| c.id == id) {
                c.dropped = q.dropped();
            }
        }
        Ok(summary)
    }
}

fn snapshot(statuses: &[SharedStatus], queues: &[Arc<FrameQueue>]) -> Vec<CameraStatus> {
    statuses
        .iter()
        .zip(queues)
        .map(|(s, q)| {
            let mut st = s.lock().clone();
            if st.state != CameraState::Online {
                // A rate is only meaningful while frames flow.
                st.fps = 0.0;
            }
            st.queue_depth = q.depth();
            st.dropped = q.dropped();
            st
        })
        .collect()
}

/// Reads a local file/image source to its end without dropping frames,
/// timing decode (the benchmark's first stage). Returns the error message if
/// the source failed.
#[allow(clippy::too_many_arguments)]
fn spawn_offline_reader(
    spec: SourceSpec,
    opts: media::SourceOptions,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
    queue: Arc<FrameQueue>,
    status: SharedStatus,
    stats: Arc<Mutex<StageTotals>>,
    max_frames: Option<u64>,
) -> JoinHandle<Option<String>> {
    let name = format!("src-{}", opts.camera);
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let result = read_all(
                &spec, &opts, clock, &shutdown, &queue, &status, &stats, max_frames,
            );
            queue.close();
            let mut st = status.lock();
            match result {
                Ok(()) => {
                    st.state = CameraState::Finished;
                    None
                }
                Err(e) => {
                    tracing::error!(camera = %opts.camera, "{e}");
                    st.state = CameraState::Failed;
                    st.last_error = Some(e.to_string());
                    Some(e.to_string())
                }
            }
        })
        .expect("cannot start a source thread")
}

#[allow(clippy::too_many_arguments)]
fn read_all(
    spec: &SourceSpec,
    opts: &media::SourceOptions,
    clock: Arc<dyn Clock>,
    shutdown: &Shutdown,
    queue: &FrameQueue,
    status: &SharedStatus,
    stats: &Mutex<StageTotals>,
    max_frames: Option<u64>,
) -> Result<(), media::MediaError> {
    let mut src = media::open(spec, opts, clock)?;
    let info = src.info();
    {
        let mut st = status.lock();
        st.state = CameraState::Online;
        st.width = info.width;
        st.height = info.height;
    }
    let mut n = 0u64;
    loop {
        if shutdown.is_triggered() || max_frames.is_some_and(|m| n >= m) {
            return Ok(());
        }
        let t = Instant::now();
        let next = src.next_frame();
        stats.lock().add("decode", t.elapsed());
        match next? {
            Some(frame) => {
                n += 1;
                if !queue.push_blocking_until(frame, shutdown) {
                    return Ok(());
                }
            }
            None => return Ok(()),
        }
    }
}

/// Frames analysed per second over a sliding window, for status and metrics.
#[derive(Debug, Default)]
pub(crate) struct RateMeter {
    times: std::collections::VecDeque<Instant>,
}

impl RateMeter {
    pub(crate) fn tick(&mut self) -> f32 {
        let now = Instant::now();
        self.times.push_back(now);
        while self
            .times
            .front()
            .is_some_and(|t| now.duration_since(*t) > Duration::from_secs(5))
        {
            self.times.pop_front();
        }
        if self.times.len() < 2 {
            return 0.0;
        }
        let span = now.duration_since(self.times[0]).as_secs_f32();
        if span <= 0.0 {
            0.0
        } else {
            (self.times.len() - 1) as f32 / span
        }
    }
}

pub(crate) fn frame_crop(frame: &Frame, bbox: base::BBox) -> Option<(Vec<u8>, u32, u32)> {
    let b = bbox.clamp(frame.width as f32, frame.height as f32);
    let (x1, y1) = (b.x1.floor() as u32, b.y1.floor() as u32);
    let (x2, y2) = (b.x2.ceil() as u32, b.y2.ceil() as u32);
    if x2 <= x1 + 1 || y2 <= y1 + 1 {
        return None;
    }
    let (w, h) = (x2 - x1, y2 - y1);
    let mut out = Vec::with_capacity((w * h * 3) as usize);
    let stride = frame.width as usize * 3;
    for y in y1..y2 {
        let row = y as usize * stride;
        out.extend_from_slice(&frame.rgb[row + x1 as usize * 3..row + x2 as usize * 3]);
    }
    Some((out, w, h))
}

#[cfg(test)]
mod static_tests;

/// Tells the store which owner and configured agreement each camera has, so
/// that agreement changes made while the system runs (recorded in the
/// store, see `store::agreements`) bind the running threads, the retention
/// job and the API's camera scope without a restart.
pub fn register_agreements(store: &Store, cfg: &Config) {
    store.set_camera_agreements(camera_agreements(cfg));
}

/// Each owned camera's owner and configured agreement terms: what run-time
/// changes narrow (in the store, and on a worker through the bus).
pub fn camera_agreements(
    cfg: &Config,
) -> std::collections::HashMap<String, store::CameraAgreement> {
    cfg.cameras
        .iter()
        .filter_map(|c| {
            let owner = c.owner.clone()?;
            let a = cfg.agreement_of(c);
            Some((
                c.id.clone(),
                store::CameraAgreement {
                    owner,
                    analytics: a.map(|a| a.analytics.clone()),
                    viewer_roles: a.and_then(|a| a.viewer_roles.clone()),
                },
            ))
        })
        .collect()
}
