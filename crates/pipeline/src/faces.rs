//! The faces stage: face detection, quality, embedding and watchlist
//! matching on person tracks, on a thread of its own.
//!
//! Why a separate thread: the face models cost more per person than the
//! object detector costs per frame, so running them in the post thread would
//! stall tracking. The post thread samples each person track at most every
//! `interval_seconds` and hands a job over a bounded channel; in live mode a
//! full channel drops the job (counted in `kuzet_face_jobs_dropped_total`)
//! rather than delaying the cameras, offline mode waits so runs are
//! reproducible.
//!
//! Per job: the head region of the person box is cropped (faces sit in the
//! top of a body box; the crop keeps YuNet's input small), faces below the
//! quality gate are counted and dropped, the best face is stored as a
//! sighting (when configured) and searched on the watchlists; the track's
//! [`TrackVoter`] decides when enough faces agree to raise a `face_match`.

use crate::privacy::{Bystanders, SharedBystanders, Subject};
use crate::{frame_crop, EngineOptions, Mode, PipelineError, SharedSink, Sink};
use base::event::kinds;
use base::{BBox, Event, Frame, Timestamp};
use config::{CameraConfig, Config};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use faces::{AnalyzedFace, FacePipeline, FaceService, TrackVoter, VoteConfig};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::{NewSighting, Store};

/// What the pipeline needs to match faces live.
#[derive(Clone)]
pub struct LiveFaces {
    /// The watchlists, where this process has them (embedded mode). `None`
    /// on a worker: the model half (detect, align, quality, embed, crop)
    /// runs here and each face is published ([`Sink::publish_face_sighting`])
    /// for `kuzet serve` to match ([`FaceMatcher`]).
    pub service: Option<Arc<FaceService>>,
    /// Builds the faces thread's own models (called once, on that thread).
    pub models: Arc<dyn Fn() -> Result<FacePipeline, faces::FacesError> + Send + Sync>,
}

impl std::fmt::Debug for LiveFaces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveFaces")
            .field("service", &self.service)
            .finish()
    }
}

pub(crate) enum FaceJob {
    Track {
        cam: usize,
        track_id: u64,
        frame: Frame,
        /// Who else is in the frame: masked in the stored full frame.
        bystanders: SharedBystanders,
        person: BBox,
    },
    Ended {
        cam: usize,
        track_id: u64,
    },
}

/// Counters of the faces stage, in the run summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FaceSummary {
    /// Person-track crops examined.
    pub jobs: u64,
    /// Jobs dropped because the stage was behind (live mode only).
    pub dropped: u64,
    /// Faces detected.
    pub faces: u64,
    /// Faces that passed the quality gate (embedded and searched).
    pub passed: u64,
    pub sightings: u64,
    /// Faces that passed the gate but were not stored: unmatched ones under
    /// `store_unmatched_sightings = false`, or any without a sealing key.
    pub unstored: u64,
    pub matches: u64,
    pub seconds: f64,
}

/// Post-thread side: decides which tracks are due and sends jobs.
pub(crate) struct FaceFeed {
    tx: Sender<FaceJob>,
    live: bool,
    /// Per camera index: settings (None = faces off) and last attempt per track.
    cams: Vec<Option<(config::CameraFaces, HashMap<u64, Timestamp>)>>,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

impl FaceFeed {
    /// Offers the confirmed person tracks of one frame.
    pub(crate) fn offer(
        &mut self,
        cam: usize,
        frame: &Frame,
        bystanders: &SharedBystanders,
        persons: impl Iterator<Item = (u64, BBox)>,
    ) {
        let Some(Some((fc, last))) = self.cams.get_mut(cam) else {
            return;
        };
        let interval = Duration::from_secs_f32(fc.interval_seconds);
        let mut jobs = Vec::new();
        for (track_id, bbox) in persons {
            if bbox.height() < fc.min_person_height {
                continue;
            }
            if last
                .get(&track_id)
                .is_some_and(|t| frame.ts < t.plus(interval))
            {
                continue;
            }
            last.insert(track_id, frame.ts);
            jobs.push(FaceJob::Track {
                cam,
                track_id,
                frame: frame.clone(),
                bystanders: bystanders.clone(),
                person: bbox,
            });
        }
        for job in jobs {
            self.send(job);
        }
    }

    pub(crate) fn ended(&mut self, cam: usize, track_ids: &[u64]) {
        let Some(Some((_, last))) = self.cams.get_mut(cam) else {
            return;
        };
        let ended: Vec<u64> = track_ids
            .iter()
            .copied()
            .filter(|t| last.remove(t).is_some())
            .collect();
        for track_id in ended {
            self.send(FaceJob::Ended { cam, track_id });
        }
    }

    fn send(&self, job: FaceJob) {
        if !self.live {
            let _ = self.tx.send(job);
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(FaceJob::Ended { cam, track_id })) => {
                // Ends must arrive or the voter keeps the track's state:
                // wait briefly for them only.
                let _ = self
                    .tx
                    .send_timeout(FaceJob::Ended { cam, track_id }, Duration::from_millis(200));
            }
            Err(TrySendError::Full(_)) => {
                self.dropped
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                metrics::counter!("kuzet_face_jobs_dropped_total").increment(1);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

pub(crate) struct FaceStage {
    pub feed: FaceFeed,
    pub handle: JoinHandle<Result<FaceSummary, PipelineError>>,
}

/// Starts the faces thread if any camera has `[camera.faces] enabled`.
pub(crate) fn spawn(
    cfg: &Config,
    cams: &[CameraConfig],
    store: Option<Arc<Store>>,
    opts: &EngineOptions,
    sink: SharedSink,
    output: Arc<dyn Sink>,
) -> Option<FaceStage> {
    let live = opts.faces.clone()?;
    if live.service.is_some() && store.is_none() {
        // Refused by the engine before: matching needs the central store.
        return None;
    }
    let settings: Vec<Option<(config::CameraFaces, HashMap<u64, Timestamp>)>> = cams
        .iter()
        .map(|c| {
            c.faces
                .clone()
                .filter(|f| f.enabled)
                .map(|f| (f, HashMap::new()))
        })
        .collect();
    if settings.iter().all(Option::is_none) {
        return None;
    }
    let (tx, rx) = crossbeam_channel::bounded::<FaceJob>(32);
    let dropped = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let worker = Worker {
        cams: cams.iter().map(|c| c.id.clone()).collect(),
        voters: cams
            .iter()
            .map(|c| {
                TrackVoter::new(VoteConfig {
                    min_votes: c.faces.as_ref().map_or(2, |f| f.min_votes),
                })
            })
            .collect(),
        store,
        output,
        store_sightings: cfg.faces.store_sightings,
        store_unmatched: cfg.faces.store_unmatched_sightings,
        warned_no_key: false,
        frame_faces: Vec::new(),
        mask: cfg.evidence.mask_bystanders,
        evidence: opts.evidence,
        quality: cfg.evidence.jpeg_quality,
        sink,
        summary: FaceSummary::default(),
        dropped: dropped.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("faces".into())
        .spawn(move || worker.run(live, rx))
        .expect("cannot start the faces thread");
    Some(FaceStage {
        feed: FaceFeed {
            tx,
            live: opts.mode == Mode::Live,
            cams: settings,
            dropped,
        },
        handle,
    })
}

struct Worker {
    cams: Vec<String>,
    voters: Vec<TrackVoter>,
    /// The central store (embedded mode); `None` on a worker.
    store: Option<Arc<Store>>,
    /// Where a worker's face crops and sightings go (the bus).
    output: Arc<dyn Sink>,
    store_sightings: bool,
    /// `[faces] store_unmatched_sightings`: off = a face that matched no
    /// entry is counted, never written.
    store_unmatched: bool,
    /// Whether the "no key: no face data stored" warning was logged.
    warned_no_key: bool,
    /// Per camera: the face detector's boxes (frame pixels) found so far in
    /// the latest frame (by its `seq`), over every person's job of that
    /// frame, so a match's frame masks faces the person-box head estimate
    /// misses (a face inside another's head region, a person the detector
    /// did not box).
    frame_faces: Vec<(u64, Vec<BBox>)>,
    /// `[evidence] mask_bystanders`.
    mask: bool,
    evidence: bool,
    quality: u8,
    sink: SharedSink,
    summary: FaceSummary,
    dropped: Arc<std::sync::atomic::AtomicU64>,
}

/// The part of a person box searched for a face: the top half, widened a
/// little (heads lean out of body boxes), and a bit above the box.
fn head_region(person: BBox, w: u32, h: u32) -> BBox {
    let pw = person.width();
    let ph = person.height();
    BBox::new(
        person.x1 - 0.15 * pw,
        person.y1 - 0.08 * ph,
        person.x2 + 0.15 * pw,
        person.y1 + 0.5 * ph,
    )
    .clamp(w as f32, h as f32)
}

/// One number to rank the faces of a track: detector confidence, size (up
/// to the embedder's input), frontality and sharpness.
fn quality_score(f: &AnalyzedFace) -> f32 {
    let q = &f.quality;
    let size = (q.size / 112.0).min(1.0);
    let frontal = (1.0 - q.yaw.abs() / 90.0).max(0.0);
    let sharp = (q.sharpness / 200.0).min(1.0);
    q.det_score * (0.4 + 0.6 * size) * (0.5 + 0.5 * frontal) * (0.7 + 0.3 * sharp)
}

impl Worker {
    fn run(mut self, live: LiveFaces, rx: Receiver<FaceJob>) -> Result<FaceSummary, PipelineError> {
        let mut pipe = match (live.models)() {
            Ok(p) => p,
            Err(e) => {
                // Without models no face is ever matched: say so loudly, but
                // keep draining jobs so the cameras run on.
                tracing::error!(error = %e, "face models failed to load: live face matching is off");
                for _ in rx.iter() {}
                return Err(PipelineError::Invalid(format!(
                    "face models failed to load: {e}"
                )));
            }
        };
        for job in rx.iter() {
            match job {
                FaceJob::Ended { cam, track_id } => self.voters[cam].end(&self.cams[cam], track_id),
                FaceJob::Track {
                    cam,
                    track_id,
                    frame,
                    bystanders,
                    person,
                } => {
                    let t = Instant::now();
                    let r = self.track_job(
                        live.service.as_deref(),
                        &mut pipe,
                        cam,
                        track_id,
                        &frame,
                        &bystanders,
                        person,
                    );
                    let d = t.elapsed();
                    self.summary.seconds += d.as_secs_f64();
                    metrics::histogram!("kuzet_stage_seconds", "camera" => self.cams[cam].clone(), "stage" => "faces")
                        .record(d.as_secs_f64());
                    if let Err(e) = r {
                        // One bad crop must not end live matching.
                        tracing::warn!(camera = %self.cams[cam], track_id, error = %e, "face job failed");
                    }
                }
            }
        }
        if let Some(svc) = &live.service {
            if let Err(e) = svc.save_sightings() {
                tracing::warn!(error = %e, "could not save the sighting index");
            }
        }
        self.summary.dropped = self.dropped.load(std::sync::atomic::Ordering::Relaxed);
        Ok(self.summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn track_job(
        &mut self,
        svc: Option<&FaceService>,
        pipe: &mut FacePipeline,
        cam: usize,
        track_id: u64,
        frame: &Frame,
        bystanders: &Bystanders,
        person: BBox,
    ) -> Result<(), PipelineError> {
        // The camera owner may have withdrawn face matching while this runs
        // (a run-time agreement change): no face is analysed or stored.
        if !self.output.analytic_allowed(&self.cams[cam], "faces") {
            return Ok(());
        }
        self.summary.jobs += 1;
        let region = head_region(person, frame.width, frame.height);
        let Some((rgb, w, h)) = frame_crop(frame, region) else {
            return Ok(());
        };
        let found = pipe.analyze(&rgb, w, h).map_err(face_err)?;
        self.summary.faces += found.len() as u64;
        // Every face found, passed or not, is a face to mask in a stored
        // frame unless it is the match's own.
        let to_frame = |b: BBox| {
            BBox::new(
                b.x1 + region.x1.floor(),
                b.y1 + region.y1.floor(),
                b.x2 + region.x1.floor(),
                b.y2 + region.y1.floor(),
            )
        };
        if self.frame_faces.len() <= cam {
            self.frame_faces
                .resize_with(cam + 1, || (u64::MAX, Vec::new()));
        }
        let seen = &mut self.frame_faces[cam];
        if seen.0 != frame.seq {
            *seen = (frame.seq, Vec::new());
        }
        seen.1.extend(found.iter().map(|f| to_frame(f.face.bbox)));
        metrics::counter!("kuzet_faces_total", "camera" => self.cams[cam].clone())
            .increment(found.len() as u64);
        // The person's own face: the best-quality one that passed.
        let Some(face) = found
            .into_iter()
            .filter(|f| f.passed())
            .max_by(|a, b| quality_score(a).total_cmp(&quality_score(b)))
        else {
            return Ok(());
        };
        self.summary.passed += 1;
        let emb = face.embedding.clone().unwrap_or_default();
        let face_box = to_frame(face.face.bbox);
        let camera = self.cams[cam].clone();
        let crop_box = face_box
            .expand(0.3)
            .clamp(frame.width as f32, frame.height as f32);
        let (Some(svc), Some(store)) = (svc, self.store.clone()) else {
            // A worker: the crop and the face go to the central matcher.
            let crop = if self.evidence {
                Some(self.output.save_evidence_jpeg(
                    &frame.rgb,
                    frame.width,
                    frame.height,
                    Some(crop_box),
                    self.quality,
                )?)
            } else {
                None
            };
            self.output.publish_face_sighting(FaceObservation {
                camera,
                track_id,
                ts: frame.ts,
                model: pipe.model_key().to_owned(),
                embedding: emb,
                face_box,
                quality: quality_score(&face),
                crop,
            })?;
            self.summary.sightings += 1;
            return Ok(());
        };
        let result = svc
            .match_face(&emb, 5, Some(&camera), Some(frame.ts))
            .map_err(face_err)?;
        let is_match = matches!(result.decision, faces::Decision::Match { .. });
        // Face data is only ever stored sealed: without a key (a worker, or
        // a store opened without one) no crop and no sighting is written.
        let keyed = store.seal_key().is_some();
        if !keyed && !self.warned_no_key && (self.store_sightings || is_match) {
            self.warned_no_key = true;
            tracing::warn!(
                camera = %camera,
                "no sealing key configured: face sightings and crops are not stored \
                 (face data is only kept encrypted)"
            );
        }
        let keep_sighting = self.store_sightings && (self.store_unmatched || is_match);
        if self.store_sightings && !(keep_sighting && keyed) {
            self.summary.unstored += 1;
            metrics::counter!("kuzet_face_sightings_unstored_total", "camera" => camera.clone())
                .increment(1);
        }
        let crop = if keyed && self.evidence && (keep_sighting || is_match) {
            Some(store.save_face_crop(
                &frame.rgb,
                frame.width,
                frame.height,
                Some(crop_box),
                self.quality,
            )?)
        } else {
            None
        };
        let sighting = if keep_sighting && keyed {
            let ids = svc
                .record_sightings(vec![NewSighting {
                    camera: camera.clone(),
                    ts: frame.ts,
                    run_id: store.current_run(),
                    track_id: Some(track_id),
                    model: svc.model_key().to_owned(),
                    embedding: emb,
                    bbox: face_box,
                    quality: quality_score(&face),
                    crop: crop.clone(),
                    matched_person: None,
                }])
                .map_err(face_err)?;
            self.summary.sightings += 1;
            ids.first().copied()
        } else {
            None
        };
        let Some(m) =
            self.voters[cam].observe(&camera, track_id, frame.ts, &result, sighting, crop)
        else {
            return Ok(());
        };
        // The full frame shows where the match happened; everyone else in
        // it (heads, plates) is masked, the matched face is the record, so
        // the stored frame is face data and is sealed like the crop (no
        // key: not stored, as for crops).
        let frame_evidence = if self.evidence && keyed {
            let mut regions = bystanders.regions(&Subject::Face(face_box));
            if self.mask {
                regions.extend(other_faces(&self.frame_faces[cam].1, face_box));
            }
            Some(store.save_face_frame(
                &frame.rgb,
                frame.width,
                frame.height,
                self.quality,
                &regions,
            )?)
        } else {
            None
        };
        let e = face_match_event(&m, face_box, frame_evidence);
        let c = &m.best.candidate;
        if !m.sightings.is_empty() {
            svc.mark_sightings_matched(m.sightings.clone(), c.person_id)
                .map_err(face_err)?;
        }
        let stored = store.insert_events(vec![e])?;
        self.summary.matches += 1;
        metrics::counter!("kuzet_events_total", "camera" => camera, "kind" => kinds::FACE_MATCH)
            .increment(1);
        let mut sink = self.sink.lock();
        if let Some(s) = sink.as_mut() {
            for e in &stored {
                s(e);
            }
        }
        Ok(())
    }
}

/// The face detector's boxes of a frame other than the matched face's (any
/// box whose centre lies outside it), grown by 15 % like the head estimate
/// so the whole face and hairline are covered.
fn other_faces(faces: &[BBox], matched: BBox) -> Vec<BBox> {
    faces
        .iter()
        .filter(|f| {
            let c = f.center();
            !(matched.x1 <= c.x && c.x <= matched.x2 && matched.y1 <= c.y && c.y <= matched.y2)
        })
        .map(|f| f.expand(0.15))
        .collect()
}

/// The `face_match` event of a completed track vote: the same fields in
/// embedded mode and when `kuzet serve` matches a worker's sightings
/// ([`FaceMatcher`]), so reviews, the API and the web app see one shape.
fn face_match_event(
    m: &faces::TrackMatch,
    face_box: BBox,
    frame_evidence: Option<String>,
) -> Event {
    let c = &m.best.candidate;
    let mut e = Event::new(m.camera.clone(), kinds::FACE_MATCH, m.best.ts);
    e.track_id = Some(m.track_id);
    e.label = Some("person".into());
    e.rule = Some(c.watchlist.clone());
    e.bbox = Some(face_box);
    e.score = c.score;
    e.evidence = m.best.crop.clone();
    e.details = serde_json::json!({
        "person_id": c.person_id,
        "person_name": c.person_name,
        "watchlist": c.watchlist,
        "category": c.category,
        "priority": c.priority,
        "threshold": c.threshold,
        "score": c.score,
        "margin": c.margin,
        "template_id": c.template_id,
        "votes": m.votes,
        "faces": m.faces,
        "sightings": m.sightings,
        "frame_evidence": frame_evidence,
        "review": "unconfirmed",
    });
    e
}

/// One searched-for face as a worker publishes it (`kuzet.sighting`): the
/// model half of the faces stage ran on the worker (detect, align, quality,
/// embed, crop); matching needs the watchlists, which stay central.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceObservation {
    pub camera: String,
    pub track_id: u64,
    /// Time of the frame.
    pub ts: Timestamp,
    /// The embedding model's key (sightings of different models never mix).
    pub model: String,
    pub embedding: Vec<f32>,
    /// The face in frame pixels.
    pub face_box: BBox,
    pub quality: f32,
    /// Evidence hash of the face crop, published before this message.
    pub crop: Option<String>,
}

/// What [`FaceMatcher::record`] did with one observation.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedFace {
    /// The stored sighting (when sightings are stored).
    pub sighting: Option<i64>,
    /// This message id was voted on before (a redelivery): not voted again.
    pub redelivered: bool,
    /// `face_match` events raised by this observation (with store ids).
    pub events: Vec<Event>,
    /// Of those, how many were stored now (the rest were stored already).
    pub new_events: usize,
}

/// Central face matching for sightings that workers publish: the same
/// authorisation-gated search ([`FaceService::match_face`] with camera and
/// time), the same per-track vote ([`TrackVoter`]) and the same event as the
/// embedded faces thread, made idempotent by the message id: the sighting is
/// stored under it, its alert under `<id>/m<person>`, and a redelivered id
/// is not voted twice.
pub struct FaceMatcher {
    svc: Arc<FaceService>,
    /// Watchlists, authorisations and sealed face crops: the serve node's
    /// SQLite store (sightings are the face service's: here, or in the
    /// central database with `kuzet serve --database`).
    store: Arc<Store>,
    /// Where keyed (bus) `face_match` events go when it is not `store`: the
    /// central data backend of `kuzet serve --bus`.
    data: Option<Arc<dyn store::StoreBackend>>,
    store_sightings: bool,
    /// `[faces] store_unmatched_sightings`: false keeps only sightings that
    /// matched (the never-store mode applies centrally as in embedded mode).
    store_unmatched: bool,
    /// Votes needed per camera (`[camera.faces] min_votes`, default 2).
    min_votes: HashMap<String, u32>,
    voters: HashMap<String, TrackVoter>,
    /// Message ids voted on lately (bounded), so a redelivery does not count
    /// as a second face of its track.
    voted: std::collections::HashSet<String>,
    voted_order: std::collections::VecDeque<String>,
    /// Last face time per (camera, track): workers do not publish track
    /// ends, so tracks silent for [`TRACK_IDLE`] are forgotten instead.
    last_seen: HashMap<(String, u64), Timestamp>,
    since_sweep: u32,
    /// Crops of stored sightings whose file had not arrived yet, to seal
    /// when it has.
    unsealed_crops: Vec<String>,
}

/// Crops awaiting their file, at most (the start-up pass seals the rest).
const UNSEALED_MEMORY: usize = 10_000;

/// A track with no face for this long has ended (its votes are dropped).
const TRACK_IDLE: Duration = Duration::from_secs(600);

/// Ids remembered against double votes; far more than one ack-wait of
/// sightings.
const VOTED_MEMORY: usize = 200_000;

impl FaceMatcher {
    /// `min_votes`: faces of a track that must agree, per camera (absent: 2).
    pub fn new(
        svc: Arc<FaceService>,
        store: Arc<Store>,
        store_sightings: bool,
        min_votes: HashMap<String, u32>,
    ) -> Self {
        FaceMatcher {
            svc,
            store,
            data: None,
            store_sightings,
            store_unmatched: true,
            min_votes,
            voters: HashMap::new(),
            voted: Default::default(),
            voted_order: Default::default(),
            last_seen: HashMap::new(),
            since_sweep: 0,
            unsealed_crops: Vec::new(),
        }
    }

    /// With the votes per camera and sighting storage of `cfg`, as the
    /// embedded faces thread reads them.
    pub fn from_config(svc: Arc<FaceService>, store: Arc<Store>, cfg: &Config) -> Self {
        let min_votes = cfg
            .cameras
            .iter()
            .filter_map(|c| c.faces.as_ref().map(|f| (c.id.clone(), f.min_votes)))
            .collect();
        let mut m = Self::new(svc, store, cfg.faces.store_sightings, min_votes);
        m.store_unmatched = cfg.faces.store_unmatched_sightings;
        m
    }

    /// Stores keyed `face_match` events in `data` (with the other ingested
    /// events) instead of the store that holds watchlists and sightings.
    pub fn with_backend(mut self, data: Arc<dyn store::StoreBackend>) -> Self {
        self.data = Some(data);
        self
    }

    /// Matches, stores and votes on one observation; `key` is its message id
    /// (`None`: not deduplicated).
    pub fn record(
        &mut self,
        obs: FaceObservation,
        run_id: Option<i64>,
        key: Option<&str>,
    ) -> Result<MatchedFace, PipelineError> {
        self.record_with_runs(obs, run_id, run_id, key)
    }

    /// [`FaceMatcher::record`] with the sighting's run (in the store) and
    /// the event's run (in the data backend) apart: they are two databases
    /// when the data backend is PostgreSQL.
    pub fn record_with_runs(
        &mut self,
        obs: FaceObservation,
        run_id: Option<i64>,
        event_run: Option<i64>,
        key: Option<&str>,
    ) -> Result<MatchedFace, PipelineError> {
        if obs.model != self.svc.model_key() {
            return Err(PipelineError::Invalid(format!(
                "face sighting from {:?} was embedded with model {:?} but this server matches with {:?}: run the same face models on workers and server",
                obs.camera,
                obs.model,
                self.svc.model_key()
            )));
        }
        if !self.store.analytic_allowed(&obs.camera, "faces") {
            // Withdrawn by the camera owner since the worker started: the
            // sighting is neither matched nor stored.
            return Ok(MatchedFace {
                sighting: None,
                redelivered: false,
                events: Vec::new(),
                new_events: 0,
            });
        }
        let result = self
            .svc
            .match_face(&obs.embedding, 5, Some(&obs.camera), Some(obs.ts))
            .map_err(face_err)?;
        let is_match = matches!(result.decision, faces::Decision::Match { .. });
        let sighting = if self.store_sightings && (self.store_unmatched || is_match) {
            let s = NewSighting {
                camera: obs.camera.clone(),
                ts: obs.ts,
                run_id,
                track_id: Some(obs.track_id),
                model: obs.model.clone(),
                embedding: obs.embedding.clone(),
                bbox: obs.face_box,
                quality: obs.quality,
                crop: obs.crop.clone(),
                matched_person: None,
            };
            let keyed = match key {
                Some(k) => store::Keyed::with_key(k, s),
                None => store::Keyed::plain(s),
            };
            let id = self
                .svc
                .record_sightings_keyed(vec![keyed])
                .map_err(face_err)?
                .first()
                .copied();
            // The worker's crop arrived as plain evidence over the bus (a
            // worker holds no key); seal it now that a sighting refers to
            // it. A crop whose file has not been ingested yet is tried
            // again with the next sightings (and by the start-up pass).
            if self.store.seal_key().is_some() {
                let mut todo = std::mem::take(&mut self.unsealed_crops);
                todo.extend(obs.crop.clone());
                for h in todo {
                    if !self.store.seal_face_crop_file(&h)?
                        && self.unsealed_crops.len() < UNSEALED_MEMORY
                    {
                        self.unsealed_crops.push(h);
                    }
                }
            }
            id
        } else {
            None
        };
        let redelivered = match key {
            Some(k) if self.voted.contains(k) => true,
            Some(k) => {
                self.voted.insert(k.to_owned());
                self.voted_order.push_back(k.to_owned());
                if self.voted_order.len() > VOTED_MEMORY {
                    if let Some(old) = self.voted_order.pop_front() {
                        self.voted.remove(&old);
                    }
                }
                false
            }
            None => false,
        };
        let mut out = MatchedFace {
            sighting,
            redelivered,
            events: Vec::new(),
            new_events: 0,
        };
        if redelivered {
            return Ok(out);
        }
        self.forget_idle_tracks(obs.ts);
        self.last_seen
            .insert((obs.camera.clone(), obs.track_id), obs.ts);
        let min_votes = self.min_votes.get(&obs.camera).copied().unwrap_or(2);
        let voter = self
            .voters
            .entry(obs.camera.clone())
            .or_insert_with(|| TrackVoter::new(VoteConfig { min_votes }));
        let Some(m) = voter.observe(
            &obs.camera,
            obs.track_id,
            obs.ts,
            &result,
            sighting,
            obs.crop.clone(),
        ) else {
            return Ok(out);
        };
        let person = m.best.candidate.person_id;
        let event = face_match_event(&m, obs.face_box, None);
        if !m.sightings.is_empty() {
            self.svc
                .mark_sightings_matched(m.sightings.clone(), person)
                .map_err(face_err)?;
        }
        match key {
            None => {
                out.events = self.store.insert_events(vec![event])?;
                out.new_events = out.events.len();
            }
            Some(k) => {
                let mut e = event.clone();
                let keyed = vec![store::Keyed::with_key(format!("{k}/m{person}"), event)];
                let o = match &self.data {
                    Some(d) => d.ingest_events_outcomes(event_run, keyed)?,
                    None => {
                        store::StoreBackend::ingest_events_outcomes(&*self.store, event_run, keyed)?
                    }
                };
                for o in o {
                    if matches!(o, store::Ingested::New(_)) {
                        out.new_events += 1;
                    }
                    e.id = Some(o.id());
                    out.events.push(e.clone());
                }
            }
        }
        if out.new_events > 0 {
            metrics::counter!("kuzet_events_total", "camera" => obs.camera.clone(), "kind" => kinds::FACE_MATCH)
                .increment(out.new_events as u64);
        }
        Ok(out)
    }

    /// Forgets a track's votes (its track ended).
    pub fn end_track(&mut self, camera: &str, track_id: u64) {
        self.last_seen.remove(&(camera.to_owned(), track_id));
        if let Some(v) = self.voters.get_mut(camera) {
            v.end(camera, track_id);
        }
    }

    /// Every 1,024 observations, ends the tracks idle for [`TRACK_IDLE`]
    /// before `now` (face time), so the votes of a long-running server stay
    /// bounded by the live tracks.
    fn forget_idle_tracks(&mut self, now: Timestamp) {
        self.since_sweep += 1;
        if self.since_sweep < 1024 {
            return;
        }
        self.since_sweep = 0;
        let idle: Vec<(String, u64)> = self
            .last_seen
            .iter()
            .filter(|(_, &t)| now.millis() - t.millis() > TRACK_IDLE.as_millis() as i64)
            .map(|(k, _)| k.clone())
            .collect();
        for (camera, track) in idle {
            self.end_track(&camera, track);
        }
    }

    /// The embedding model this server matches with.
    pub fn model_key(&self) -> &str {
        self.svc.model_key()
    }

    /// Tracks with votes in progress.
    pub fn live_tracks(&self) -> usize {
        self.last_seen.len()
    }
}

fn face_err(e: faces::FacesError) -> PipelineError {
    PipelineError::Invalid(format!("faces: {e}"))
}

/// Summary of the faces stage merged into the run summary's event counts.
pub(crate) fn merge(summary: &mut crate::Summary, f: FaceSummary) {
    if f.matches > 0 {
        *summary
            .events
            .entry(kinds::FACE_MATCH.to_string())
            .or_default() += f.matches;
    }
    summary
        .stages
        .add("faces", Duration::from_secs_f64(f.seconds));
    summary.faces = Some(f);
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Clock;

    fn photo_frame(rel: &str, ts: Timestamp) -> (Frame, BBox) {
        let img = faces::load_photo(&base::env::require_data(rel)).unwrap();
        let (w, h) = img.dimensions();
        let frame = Frame::new(Arc::from("gate"), 0, ts, 0, w, h, img.into_raw());
        // A person box twice the photo's height: its head region (the top
        // half) is the whole portrait.
        (frame, BBox::new(0.0, 0.0, w as f32, 2.0 * h as f32))
    }

    /// The faces thread's job for camera "gate" writing to `store`, with
    /// masking and evidence on (two votes make a match).
    fn gate_worker(store: Arc<Store>, store_unmatched: bool, quality: u8) -> Worker {
        Worker {
            cams: vec!["gate".into()],
            voters: vec![TrackVoter::new(VoteConfig { min_votes: 2 })],
            store: Some(store.clone()),
            output: Arc::new(crate::StoreSink(store)),
            store_sightings: true,
            store_unmatched,
            warned_no_key: false,
            frame_faces: Vec::new(),
            mask: true,
            evidence: true,
            quality,
            sink: Arc::new(parking_lot::Mutex::new(None)),
            summary: FaceSummary::default(),
            dropped: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }

    /// A face service on `store` with `people` (name, photo) enrolled on a
    /// "wanted" list and an urgent live authorisation (`decision`) for camera
    /// "gate"; returns it and a second face pipeline for the job.
    fn wanted_list(
        store: &Arc<Store>,
        people: &[(&str, &str)],
        decision: &str,
    ) -> (Arc<FaceService>, faces::FacePipeline) {
        let models = || {
            faces::FacePipeline::from_env(faces::FacePipelineConfig::default())
                .expect("face models")
        };
        let clock: Arc<dyn Clock> = Arc::new(base::SystemClock);
        let svc = Arc::new(
            FaceService::open(store.clone(), models(), clock.clone(), Default::default()).unwrap(),
        );
        let (wl, _) = store
            .ensure_watchlist("wanted", store::WatchlistCategory::Wanted, 0.4, 0)
            .unwrap();
        for (name, photo) in people {
            let f = svc
                .enrolment_face(
                    &faces::load_photo(&base::env::require_data(photo)).unwrap(),
                    true,
                )
                .unwrap();
            svc.enrol_faces(&wl, name, None, &Default::default(), vec![f])
                .unwrap();
        }
        store
            .request_authorisation(store::NewAuthorisation {
                purpose: store::AuthorisationPurpose::Live,
                legal_ground: "CCP art. 231".into(),
                authority: "City court".into(),
                decision_ref: decision.into(),
                scope_text: "gate".into(),
                cameras: vec!["gate".into()],
                watchlists: vec!["wanted".into()],
                list_class: store::ListClass::Criminal,
                window_start: None,
                window_end: None,
                expires: clock.now().plus(Duration::from_secs(3600)),
                urgent: true,
                requested_by: "ivan".into(),
            })
            .unwrap();
        (svc, models())
    }

    /// Real photos through the faces thread's job: with
    /// `store_unmatched_sightings = false` a face that matched nobody leaves
    /// no row and no crop (only a count), a matched one is stored sealed;
    /// with the default both are stored; without a key neither is.
    #[test]
    fn unmatched_faces_are_never_stored_when_so_configured() {
        base::env::require_models();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let key = Arc::new(store::SealKey::generate().0);
        store.set_seal_key(key.clone());
        let (svc, mut pipe) = wanted_list(&store, &[("Obama", "faces/obama/fr_obama.jpg")], "D-7");
        let now = base::SystemClock.now();
        let (obama, p1) = photo_frame("faces/obama/fr_obama1.jpg", now);
        let (biden, p2) = photo_frame("faces/biden/fr_biden.jpg", now);
        let evidence_files = |d: &std::path::Path| walk(&d.join("evidence"));

        // Never-store mode: Biden (no entry) is counted, not stored.
        let mut w = gate_worker(store.clone(), false, 85);
        w.track_job(
            Some(&*svc),
            &mut pipe,
            0,
            1,
            &biden,
            &Bystanders::default(),
            p2,
        )
        .unwrap();
        assert_eq!(
            (w.summary.passed, w.summary.unstored, w.summary.sightings),
            (1, 1, 0)
        );
        store.flush().unwrap();
        assert!(store.sightings(&Default::default(), 10).unwrap().is_empty());
        assert_eq!(evidence_files(dir.path()), 0, "no crop of the bystander");
        w.track_job(
            Some(&*svc),
            &mut pipe,
            0,
            2,
            &obama,
            &Bystanders::default(),
            p1,
        )
        .unwrap();
        assert_eq!((w.summary.sightings, w.summary.unstored), (1, 1));
        store.flush().unwrap();
        let stored = store.sightings(&Default::default(), 10).unwrap();
        assert_eq!(stored.len(), 1);
        let crop = stored[0].crop.clone().expect("matched face crop");
        let raw = std::fs::read(store.evidence_path(&crop).unwrap()).unwrap();
        assert!(raw.starts_with(b"KZSEAL1\n"), "the crop is sealed");
        assert_eq!(
            &store.evidence_bytes(&crop).unwrap().unwrap()[..2],
            &[0xFF, 0xD8]
        );

        // Default: the unmatched face is stored too (sealed).
        let mut w = gate_worker(store.clone(), true, 85);
        w.track_job(
            Some(&*svc),
            &mut pipe,
            0,
            3,
            &biden,
            &Bystanders::default(),
            p2,
        )
        .unwrap();
        assert_eq!((w.summary.sightings, w.summary.unstored), (1, 0));
        store.flush().unwrap();
        assert_eq!(store.sightings(&Default::default(), 10).unwrap().len(), 2);

        // No key (a worker): nothing at all, whatever the mode.
        let dir2 = tempfile::tempdir().unwrap();
        let bare = Arc::new(Store::open(dir2.path()).unwrap());
        let mut w = gate_worker(bare.clone(), true, 85);
        w.track_job(
            Some(&*svc),
            &mut pipe,
            0,
            4,
            &obama,
            &Bystanders::default(),
            p1,
        )
        .unwrap();
        w.track_job(
            Some(&*svc),
            &mut pipe,
            0,
            5,
            &biden,
            &Bystanders::default(),
            p2,
        )
        .unwrap();
        assert_eq!((w.summary.sightings, w.summary.unstored), (0, 2));
        bare.flush().unwrap();
        assert!(bare.sightings(&Default::default(), 10).unwrap().is_empty());
        assert_eq!(evidence_files(dir2.path()), 0);
    }

    /// The full frame of a face match (it shows the matched face) is sealed
    /// on disk like the crop, with a bystander masked in it and the
    /// bystander's original kept sealed for an un-mask; the store's reading
    /// path (what the API serves after its checks) returns the JPEG.
    #[test]
    fn face_match_frame_is_sealed_on_disk() {
        base::env::require_models();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store.set_seal_key(Arc::new(store::SealKey::generate().0));
        let (svc, mut pipe) = wanted_list(&store, &[("Obama", "faces/obama/fr_obama.jpg")], "D-8");
        let now = base::SystemClock.now();
        let mut w = gate_worker(store.clone(), true, 85);
        let (obama, p1) = photo_frame("faces/obama/fr_obama1.jpg", now);
        // A bystander in the bottom-left corner, away from the face.
        let (fw, fh) = (obama.width as f32, obama.height as f32);
        let other = BBox::new(0.0, 0.7 * fh, 0.2 * fw, 1.6 * fh);
        let by = Bystanders::new([(7, "person", other)], Vec::<(&str, BBox)>::new());
        for _ in 0..2 {
            w.track_job(Some(&*svc), &mut pipe, 0, 1, &obama, &by, p1)
                .unwrap();
        }
        assert_eq!(w.summary.matches, 1, "two votes make a match");
        store.flush().unwrap();
        let ev = store
            .events(&store::EventQuery {
                kind: Some(kinds::FACE_MATCH.into()),
                ..Default::default()
            })
            .unwrap();
        let m = ev.first().expect("face_match event");
        let frame = m.details["frame_evidence"]
            .as_str()
            .expect("frame_evidence")
            .to_string();
        let raw = std::fs::read(store.evidence_path(&frame).unwrap()).unwrap();
        assert!(raw.starts_with(b"KZSEAL1\n"), "the frame is sealed");
        assert!(
            image::load_from_memory(&raw).is_err(),
            "not a readable image"
        );
        let jpeg = store.evidence_bytes(&frame).unwrap().unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(store::sha256_hex(&jpeg), frame, "named by its plain JPEG");
        assert!(
            !raw.windows(64)
                .any(|w| w == &jpeg[jpeg.len() / 2..jpeg.len() / 2 + 64]),
            "no plain JPEG bytes on disk"
        );
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (obama.width, obama.height));
        let info = store.evidence_info(&frame).unwrap().unwrap();
        assert_eq!(info.bytes, raw.len() as u64);
        // The bystander's head was masked; its original is kept sealed.
        assert!(store.has_evidence_original(&frame).unwrap());
        let orig = store.evidence_original(&frame).unwrap().unwrap();
        assert_ne!(orig, jpeg);
        // The camera's owner withdraws face matching while the thread runs
        // (a run-time agreement change, no restart): the next faces of a
        // new track are neither analysed nor stored, and no match follows.
        let mut cams = std::collections::HashMap::new();
        cams.insert(
            "gate".to_string(),
            store::CameraAgreement {
                owner: "metro".into(),
                analytics: None,
                viewer_roles: None,
            },
        );
        store.set_camera_agreements(cams);
        store
            .set_agreement_terms(
                "metro",
                store::AgreementTerms {
                    analytics: Some(vec!["zones".into()]),
                    ..Default::default()
                },
                "sup",
                None,
                "letter 7/2026: face matching withdrawn",
            )
            .unwrap();
        let (jobs, sightings) = (
            w.summary.jobs,
            store.sightings(&Default::default(), 100).unwrap().len(),
        );
        for _ in 0..2 {
            w.track_job(Some(&*svc), &mut pipe, 0, 2, &obama, &by, p1)
                .unwrap();
        }
        store.flush().unwrap();
        assert_eq!(w.summary.jobs, jobs, "no face job ran");
        assert_eq!(w.summary.matches, 1, "no new match");
        assert_eq!(
            store.sightings(&Default::default(), 100).unwrap().len(),
            sightings
        );
        // Without a key no frame is stored (face data is only kept sealed).
        let dir2 = tempfile::tempdir().unwrap();
        let bare = Arc::new(Store::open(dir2.path()).unwrap());
        assert!(bare
            .save_face_frame(&obama.rgb, obama.width, obama.height, 85, &[])
            .unwrap_err()
            .to_string()
            .contains("KUZET_KEY_FILE"));
    }

    /// Faces the face detector found in a frame are masked in the match's
    /// frame, except the matched one, even where no person box gives a
    /// head estimate (here: no bystanders at all, two faces in one person's
    /// head region).
    #[test]
    fn detected_faces_other_than_the_match_are_masked_in_its_frame() {
        base::env::require_models();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store.set_seal_key(Arc::new(store::SealKey::generate().0));
        // Both are enrolled: whichever face the job takes as the person's
        // own matches, and the other is a bystander in the frame.
        let (svc, mut pipe) = wanted_list(
            &store,
            &[
                ("Obama", "faces/obama/fr_obama.jpg"),
                ("Biden", "faces/biden/fr_biden.jpg"),
            ],
            "D-9",
        );
        let now = base::SystemClock.now();
        let mut w = gate_worker(store.clone(), true, 95);
        let (two, person) = photo_frame("faces/multi/fr_obama_and_biden.jpg", now);
        for _ in 0..2 {
            w.track_job(
                Some(&*svc),
                &mut pipe,
                0,
                1,
                &two,
                &Bystanders::default(),
                person,
            )
            .unwrap();
        }
        assert_eq!(w.summary.matches, 1, "{:?}", w.summary);
        store.flush().unwrap();
        let ev = store
            .events(&store::EventQuery {
                kind: Some(kinds::FACE_MATCH.into()),
                ..Default::default()
            })
            .unwrap();
        let m = &ev[0];
        let matched = m.bbox.unwrap();
        let frame = m.details["frame_evidence"].as_str().unwrap().to_string();
        assert!(
            store.has_evidence_original(&frame).unwrap(),
            "something was masked"
        );
        let stored = image::load_from_memory(&store.evidence_bytes(&frame).unwrap().unwrap())
            .unwrap()
            .to_rgb8();
        // The faces of the photo, as the detector sees them.
        let all = pipe.analyze(&two.rgb, two.width, two.height).unwrap();
        assert!(
            all.len() >= 2,
            "two faces in the photo, found {}",
            all.len()
        );
        let diff = |b: BBox| {
            let (mut sum, mut n) = (0f64, 0f64);
            for y in b.y1.max(0.0) as u32..(b.y2 as u32).min(two.height) {
                for x in b.x1.max(0.0) as u32..(b.x2 as u32).min(two.width) {
                    let i = ((y * two.width + x) * 3) as usize;
                    let p = stored.get_pixel(x, y);
                    for c in 0..3 {
                        sum += (p[c] as f64 - two.rgb[i + c] as f64).abs();
                        n += 1.0;
                    }
                }
            }
            sum / n
        };
        let mut others = 0;
        for f in &all {
            let b = f.face.bbox;
            let c = b.center();
            let own =
                matched.x1 <= c.x && c.x <= matched.x2 && matched.y1 <= c.y && c.y <= matched.y2;
            let d = diff(b);
            eprintln!("face {b:?}: own {own}, mean difference {d:.1} levels");
            if own {
                assert!(d < 4.0, "the matched face is the record: {d}");
            } else {
                others += 1;
                assert!(d > 8.0, "another face is masked: {d}");
            }
        }
        assert!(others >= 1);
    }

    fn walk(d: &std::path::Path) -> usize {
        let Ok(rd) = std::fs::read_dir(d) else {
            return 0;
        };
        rd.flatten()
            .map(|e| {
                if e.path().is_dir() {
                    walk(&e.path())
                } else {
                    1
                }
            })
            .sum()
    }

    #[test]
    fn head_region_is_the_top_of_the_body_and_clamped() {
        let r = head_region(BBox::new(100.0, 50.0, 140.0, 250.0), 200, 400);
        assert!((r.y1 - 34.0).abs() < 1e-3);
        assert!((r.y2 - 150.0).abs() < 1e-3);
        assert!((r.x1 - 94.0).abs() < 1e-3 && (r.x2 - 146.0).abs() < 1e-3);
        let r = head_region(BBox::new(0.0, 0.0, 50.0, 100.0), 40, 40);
        assert!(r.x1 >= 0.0 && r.y1 >= 0.0 && r.x2 <= 40.0 && r.y2 <= 40.0);
    }
}
