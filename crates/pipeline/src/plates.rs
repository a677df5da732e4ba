//! The plates stage: licence-plate reading on vehicle tracks, per-track
//! voting, plate-read records and hotlist alerts, on a thread of its own.
//!
//! Why a separate thread: plate localisation and OCR cost tens of
//! milliseconds per vehicle, far more than tracking a frame, so the post
//! thread only samples each vehicle track at most every `interval_seconds`
//! and hands the frame (shared, not copied) and the vehicle box over a
//! bounded channel. In live mode a full channel drops the job (counted in
//! `kuzet_plate_jobs_dropped_total`); offline runs wait, so they are
//! reproducible.
//!
//! Per track, a [`PlateVoter`] combines the reads of many frames position by
//! position; the voted plate becomes one `plate_reads` row when
//! `stable_votes` reads agree or when the track ends, and again if the vote
//! later settles on another text (one row per (track, final text)). Each
//! stored read is checked against the hotlists (reloaded when the store's
//! change counter moves) and every hit raises a `hotlist_match` event.
//!
//! The split between reading and matching follows where the data is: reading
//! (localise, OCR, vote, colour, evidence) needs only models and runs where
//! the cameras are; matching ([`PlateMatcher`]) needs the hotlists and runs
//! where the store is. Embedded, both run on this thread. On a worker the
//! voted read leaves as a [`PlateObservation`] through
//! [`Sink::publish_plate_read`] and the central bus ingest runs the same
//! [`PlateMatcher`] on it.
//!
//! Still images: the tracker needs two sightings to confirm a track, and the
//! images of a folder are unrelated scenes, so for image and folder sources
//! every vehicle detection of a frame is a one-frame track of its own (no
//! track id), read and voted through the very same path.

use crate::privacy::{SharedBystanders, Subject};
use crate::{frame_crop, EngineOptions, Mode, PipelineError, SharedSink, Sink};
use base::event::kinds;
use base::{BBox, Event, Frame, Timestamp};
use config::{CameraConfig, CameraPlates, Config};
use crossbeam_channel::{Receiver, Sender, TrySendError};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::{NewPlateRead, Store, StoreBackend};
use vehicles::hotlist::{ConfusionSet, Hotlist, HotlistEntry, MatchConfig, MatchKind};
use vehicles::{colour, Anpr, PlateFormats, PlateRead, PlateVoter, RgbImage, VehicleColour};

/// What the pipeline needs to read plates live.
#[derive(Clone)]
pub struct LivePlates {
    /// Builds the plates thread's recogniser (called once, on that thread).
    pub models: Arc<dyn Fn() -> Result<Anpr, vehicles::VehiclesError> + Send + Sync>,
    /// The format table that recogniser fits plates to; offence evidence
    /// reads its plates with the same one.
    pub formats: PlateFormats,
}

impl LivePlates {
    /// The recogniser with its default settings, models from `models_dir`,
    /// plates fitted to `formats` (see [`plate_formats`]).
    pub fn new(models_dir: std::path::PathBuf, formats: PlateFormats) -> Self {
        let table = formats.clone();
        LivePlates {
            models: Arc::new(move || {
                Anpr::with_formats(
                    &vision::ModelManifest::embedded(),
                    &models_dir,
                    vehicles::AnprConfig::default(),
                    table.clone(),
                )
            }),
            formats,
        }
    }
}

/// The plate-format table of this installation: the file `[plates]
/// formats` names, else the built-in one. Every camera's `[camera.plates]
/// countries` must be in it: an unknown code would silently fit nothing.
pub fn plate_formats(cfg: &Config) -> Result<PlateFormats, PipelineError> {
    let (formats, source) = match &cfg.plates.formats {
        None => (PlateFormats::builtin(), "the built-in table".to_string()),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                PipelineError::Invalid(format!(
                    "[plates] formats: cannot read {}: {e} (name a table in the syntax of the \
                     built-in plate_formats.toml, or remove the setting to use the built-in one)",
                    path.display()
                ))
            })?;
            let f = PlateFormats::from_toml(&text).map_err(|e| {
                PipelineError::Invalid(format!("[plates] formats: {}: {e}", path.display()))
            })?;
            (f, path.display().to_string())
        }
    };
    let known = formats.countries();
    for c in &cfg.cameras {
        for code in c.plates.iter().flat_map(|p| &p.countries) {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(code)) {
                return Err(PipelineError::Invalid(format!(
                    "camera {}: [camera.plates] countries: `{code}` is not a country of {source} \
                     (it has: {})",
                    c.id,
                    known.join(", ")
                )));
            }
        }
    }
    Ok(formats)
}

impl std::fmt::Debug for LivePlates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LivePlates").finish_non_exhaustive()
    }
}

/// Keys of one-frame tracks from still images: above every tracker id.
const SNAPSHOT_KEY: u64 = 1 << 62;

pub(crate) enum PlateJob {
    Track {
        cam: usize,
        /// Voter key: the track id, or a per-image key for stills.
        key: u64,
        /// The tracker's id; `None` for a still image.
        track_id: Option<u64>,
        frame: Frame,
        /// Who else is in the frame: masked in the stored frame.
        bystanders: SharedBystanders,
        vehicle: BBox,
        label: String,
    },
    Ended {
        cam: usize,
        key: u64,
    },
}

/// Counters of the plates stage, in the run summary.
#[derive(Clone, Debug, Default, Serialize)]
pub struct PlateSummary {
    /// Vehicle crops examined.
    pub jobs: u64,
    /// Jobs dropped because the stage was behind (live mode only).
    pub dropped: u64,
    /// Crops on which a plate was read.
    pub reads: u64,
    /// Voted plate reads stored.
    pub plate_reads: u64,
    /// `hotlist_match` events raised.
    pub matches: u64,
    pub seconds: f64,
}

/// Post-thread side: decides which vehicle tracks are due and sends jobs.
pub(crate) struct PlateFeed {
    tx: Sender<PlateJob>,
    live: bool,
    /// Per camera index: settings (None = plates off), whether the source is
    /// still images, and the last attempt per track.
    cams: Vec<Option<CamFeed>>,
    snapshot_seq: u64,
    dropped: Arc<AtomicU64>,
}

struct CamFeed {
    cfg: CameraPlates,
    snapshot: bool,
    last: HashMap<u64, Timestamp>,
}

fn is_vehicle(label: &str) -> bool {
    config::PLATE_VEHICLE_LABELS.contains(&label)
}

impl PlateFeed {
    /// Whether camera `cam` is a still-image source with plates on (its
    /// frames are offered through [`PlateFeed::offer_snapshot`]).
    pub(crate) fn is_snapshot(&self, cam: usize) -> bool {
        matches!(self.cams.get(cam), Some(Some(c)) if c.snapshot)
    }

    /// Offers the confirmed tracks of one frame (vehicles are picked here).
    pub(crate) fn offer<'a>(
        &mut self,
        cam: usize,
        frame: &Frame,
        bystanders: &SharedBystanders,
        objects: impl Iterator<Item = (u64, &'a str, BBox)>,
    ) {
        let Some(Some(c)) = self.cams.get_mut(cam) else {
            return;
        };
        if c.snapshot {
            return;
        }
        let interval = Duration::from_secs_f32(c.cfg.interval_seconds);
        let mut jobs = Vec::new();
        for (track_id, label, bbox) in objects {
            if !is_vehicle(label) || bbox.width() < c.cfg.min_vehicle_width {
                continue;
            }
            if c.last
                .get(&track_id)
                .is_some_and(|t| frame.ts < t.plus(interval))
            {
                continue;
            }
            c.last.insert(track_id, frame.ts);
            jobs.push(PlateJob::Track {
                cam,
                key: track_id,
                track_id: Some(track_id),
                frame: frame.clone(),
                bystanders: bystanders.clone(),
                vehicle: bbox,
                label: label.to_string(),
            });
        }
        for job in jobs {
            self.send(job);
        }
    }

    /// A still image: every vehicle detection is a one-frame track, read and
    /// ended at once. With no vehicle found the whole image is read (a
    /// close-up of a plate shows no whole vehicle).
    pub(crate) fn offer_snapshot<'a>(
        &mut self,
        cam: usize,
        frame: &Frame,
        bystanders: &SharedBystanders,
        detections: impl Iterator<Item = (&'a str, f32, BBox)>,
    ) {
        let Some(Some(c)) = self.cams.get(cam) else {
            return;
        };
        let min_w = c.cfg.min_vehicle_width;
        let mut cands: Vec<(&str, f32, BBox)> = detections
            .filter(|(l, _, b)| is_vehicle(l) && b.width() >= min_w)
            .collect();
        cands.sort_by(|a, b| b.1.total_cmp(&a.1));
        let boxes = distinct_vehicles(&cands);
        let mut boxes: Vec<(String, BBox)> =
            boxes.into_iter().map(|(l, b)| (l.to_string(), b)).collect();
        if boxes.is_empty() {
            boxes.push((
                String::new(),
                BBox::new(0.0, 0.0, frame.width as f32, frame.height as f32),
            ));
        }
        for (label, vehicle) in boxes {
            self.snapshot_seq += 1;
            let key = SNAPSHOT_KEY + self.snapshot_seq;
            self.send(PlateJob::Track {
                cam,
                key,
                track_id: None,
                frame: frame.clone(),
                bystanders: bystanders.clone(),
                vehicle,
                label,
            });
            self.send(PlateJob::Ended { cam, key });
        }
    }

    pub(crate) fn ended(&mut self, cam: usize, track_ids: &[u64]) {
        let Some(Some(c)) = self.cams.get_mut(cam) else {
            return;
        };
        let ended: Vec<u64> = track_ids
            .iter()
            .copied()
            .filter(|t| c.last.remove(t).is_some())
            .collect();
        for key in ended {
            self.send(PlateJob::Ended { cam, key });
        }
    }

    fn send(&self, job: PlateJob) {
        if !self.live {
            let _ = self.tx.send(job);
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(PlateJob::Ended { cam, key })) => {
                // Ends must arrive or the track's vote is never stored.
                let _ = self
                    .tx
                    .send_timeout(PlateJob::Ended { cam, key }, Duration::from_millis(200));
            }
            Err(TrySendError::Full(_)) => {
                self.dropped.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("kuzet_plate_jobs_dropped_total").increment(1);
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// One box per vehicle, best score first: the detector often calls one
/// vehicle both `car` and `truck` with nearly the same box, and each box
/// would otherwise become a plate read of its own.
fn distinct_vehicles<'a>(cands: &[(&'a str, f32, BBox)]) -> Vec<(&'a str, BBox)> {
    let mut out: Vec<(&str, BBox)> = Vec::new();
    for &(l, _, b) in cands {
        if out.iter().all(|(_, k)| k.iou(&b) < 0.6) {
            out.push((l, b));
        }
    }
    out
}

pub(crate) struct PlateStage {
    pub feed: PlateFeed,
    pub handle: JoinHandle<Result<PlateSummary, PipelineError>>,
}

/// Starts the plates thread if any camera has `[camera.plates] enabled`.
pub(crate) fn spawn(
    cfg: &Config,
    cams: &[CameraConfig],
    output: Arc<dyn Sink>,
    central: Option<Arc<Store>>,
    opts: &EngineOptions,
    sink: SharedSink,
) -> Option<PlateStage> {
    let live = opts.plates.clone()?;
    let settings: Vec<Option<CamFeed>> = cams
        .iter()
        .map(|c| {
            c.plates.clone().filter(|p| p.enabled).map(|p| CamFeed {
                cfg: p,
                snapshot: matches!(
                    media::SourceSpec::parse(&c.url),
                    Ok(media::SourceSpec::Image(_) | media::SourceSpec::Folder(_))
                ),
                last: HashMap::new(),
            })
        })
        .collect();
    if settings.iter().all(Option::is_none) {
        return None;
    }
    let (tx, rx) = crossbeam_channel::bounded::<PlateJob>(32);
    let dropped = Arc::new(AtomicU64::new(0));
    let worker = Worker {
        cams: cams.iter().map(|c| c.id.clone()).collect(),
        settings: cams
            .iter()
            .map(|c| c.plates.clone().unwrap_or_default())
            .collect(),
        tracks: HashMap::new(),
        output,
        central,
        matcher: None,
        evidence: opts.evidence,
        quality: cfg.evidence.jpeg_quality,
        sink,
        summary: PlateSummary::default(),
        dropped: dropped.clone(),
    };
    let handle = std::thread::Builder::new()
        .name("plates".into())
        .spawn(move || worker.run(live, rx))
        .expect("cannot start the plates thread");
    Some(PlateStage {
        feed: PlateFeed {
            tx,
            live: opts.mode == Mode::Live,
            cams: settings,
            snapshot_seq: 0,
            dropped,
        },
        handle,
    })
}

/// The best single read of a track so far and its pixels, for evidence.
struct Best {
    read: PlateRead,
    /// Plate box in frame pixels.
    plate_box: BBox,
    vehicle: BBox,
    frame: Frame,
    bystanders: SharedBystanders,
}

/// One track's state on the plates thread.
struct TrackPlates {
    track_id: Option<u64>,
    label: String,
    voter: PlateVoter,
    first_seen: Timestamp,
    last_seen: Timestamp,
    best: Option<Best>,
    /// Most confident colour estimate of the vehicle crops.
    colour: Option<(VehicleColour, f32)>,
    /// Voted texts already stored for this track.
    stored: Vec<String>,
}

struct Worker {
    cams: Vec<String>,
    settings: Vec<CameraPlates>,
    tracks: HashMap<(usize, u64), TrackPlates>,
    /// Evidence JPEGs go here, and on a worker the voted reads too.
    output: Arc<dyn Sink>,
    /// The store with the hotlists, where this process has it (embedded);
    /// becomes `matcher` once the recogniser (and its formats) is loaded.
    central: Option<Arc<Store>>,
    /// Matches reads locally; `None` on a worker, which publishes them.
    matcher: Option<PlateMatcher>,
    evidence: bool,
    quality: u8,
    sink: SharedSink,
    summary: PlateSummary,
    dropped: Arc<AtomicU64>,
}

fn to_image(rgb: Vec<u8>, w: u32, h: u32) -> Option<RgbImage> {
    RgbImage::from_raw(w, h, rgb)
}

impl Worker {
    fn run(
        mut self,
        live: LivePlates,
        rx: Receiver<PlateJob>,
    ) -> Result<PlateSummary, PipelineError> {
        let mut anpr = match (live.models)() {
            Ok(a) => a,
            Err(e) => {
                // Without models no plate is ever read: say so loudly, but
                // keep draining jobs so the cameras run on.
                tracing::error!(error = %e, "plate models failed to load: plate reading is off");
                for _ in rx.iter() {}
                return Err(PipelineError::Invalid(format!(
                    "plate models failed to load: {e}"
                )));
            }
        };
        self.matcher = self
            .central
            .take()
            .map(|store| PlateMatcher::new(store, anpr.formats()));
        for job in rx.iter() {
            let t = Instant::now();
            let (cam, r) = match job {
                PlateJob::Ended { cam, key } => (cam, self.end(&anpr, cam, key)),
                PlateJob::Track {
                    cam,
                    key,
                    track_id,
                    frame,
                    bystanders,
                    vehicle,
                    label,
                } => (
                    cam,
                    self.track_job(
                        &mut anpr, cam, key, track_id, frame, bystanders, vehicle, label,
                    ),
                ),
            };
            let d = t.elapsed();
            self.summary.seconds += d.as_secs_f64();
            metrics::histogram!("kuzet_stage_seconds", "camera" => self.cams[cam].clone(), "stage" => "plates")
                .record(d.as_secs_f64());
            if let Err(e) = r {
                // One bad crop must not end plate reading.
                tracing::warn!(camera = %self.cams[cam], error = %e, "plate job failed");
            }
        }
        // The feed ended every track it knew; anything left (a dropped end
        // in live mode) is stored now rather than lost.
        let left: Vec<(usize, u64)> = self.tracks.keys().copied().collect();
        for (cam, key) in left {
            if let Err(e) = self.end(&anpr, cam, key) {
                tracing::warn!(camera = %self.cams[cam], error = %e, "plate read not stored");
            }
        }
        self.summary.dropped = self.dropped.load(Ordering::Relaxed);
        Ok(self.summary)
    }

    #[allow(clippy::too_many_arguments)]
    fn track_job(
        &mut self,
        anpr: &mut Anpr,
        cam: usize,
        key: u64,
        track_id: Option<u64>,
        frame: Frame,
        bystanders: SharedBystanders,
        vehicle: BBox,
        label: String,
    ) -> Result<(), PipelineError> {
        // The camera owner may have withdrawn plate reading while this runs
        // (a run-time agreement change): nothing is read or stored.
        if !self.output.analytic_allowed(&self.cams[cam], "plates") {
            return Ok(());
        }
        self.summary.jobs += 1;
        let region = vehicle
            .expand(0.05)
            .clamp(frame.width as f32, frame.height as f32);
        let Some((rgb, w, h)) = frame_crop(&frame, region) else {
            return Ok(());
        };
        let Some(img) = to_image(rgb, w, h) else {
            return Ok(());
        };
        if w < 8 || h < 8 {
            return Ok(());
        }
        anpr.set_countries(self.settings[cam].countries.clone());
        let reads = anpr.recognize(&img).map_err(plate_err)?;
        let entry = self
            .tracks
            .entry((cam, key))
            .or_insert_with(|| TrackPlates {
                track_id,
                label: label.clone(),
                voter: PlateVoter::new(),
                first_seen: frame.ts,
                last_seen: frame.ts,
                best: None,
                colour: None,
                stored: Vec::new(),
            });
        entry.last_seen = frame.ts;
        if !label.is_empty() {
            let est = colour::classify(&img, &colour::ColourConfig::default());
            if est.colour != VehicleColour::Unknown
                && entry.colour.is_none_or(|(_, c)| est.confidence > c)
            {
                entry.colour = Some((est.colour, est.confidence));
            }
        }
        // The vehicle's own plate: the most confident read in its crop.
        let Some(read) = reads.into_iter().next() else {
            return Ok(());
        };
        self.summary.reads += 1;
        metrics::counter!("kuzet_plate_reads_total", "camera" => self.cams[cam].clone())
            .increment(1);
        entry.voter.add_read(&read);
        let (ox, oy) = (region.x1.floor(), region.y1.floor());
        let plate_box = BBox::new(
            read.bbox.x1 + ox,
            read.bbox.y1 + oy,
            read.bbox.x2 + ox,
            read.bbox.y2 + oy,
        );
        if entry
            .best
            .as_ref()
            .is_none_or(|b| read.confidence > b.read.confidence)
        {
            entry.best = Some(Best {
                read,
                plate_box,
                vehicle,
                frame,
                bystanders,
            });
        }
        // Stable before the track ends: store now, so an alert does not wait
        // for the vehicle to leave.
        let stable = self.settings[cam].stable_votes as usize;
        let ready = entry
            .voter
            .result()
            .is_some_and(|v| v.agreeing >= stable && !entry.stored.contains(&v.text));
        if ready {
            self.finalize(anpr, cam, key)?;
        }
        Ok(())
    }

    fn end(&mut self, anpr: &Anpr, cam: usize, key: u64) -> Result<(), PipelineError> {
        let r = self.finalize(anpr, cam, key);
        self.tracks.remove(&(cam, key));
        r
    }

    /// Builds the track's voted plate read (once per text) with its
    /// evidence, then matches it here (embedded: the store is local) or
    /// publishes it for the central side to match (a worker).
    fn finalize(&mut self, anpr: &Anpr, cam: usize, key: u64) -> Result<(), PipelineError> {
        let Some(t) = self.tracks.get(&(cam, key)) else {
            return Ok(());
        };
        let (Some(vote), Some(best)) = (t.voter.result(), t.best.as_ref()) else {
            return Ok(());
        };
        if t.stored.contains(&vote.text) {
            return Ok(());
        }
        let camera = self.cams[cam].clone();
        let (plate_crop, vehicle_crop, frame_hash) = if self.evidence {
            let f = &best.frame;
            // The read vehicle and its plate are the record; every head and
            // every other vehicle's plate band in the frame is masked (a
            // still read whole has no vehicle box: the plate alone is kept).
            let masked = best.bystanders.regions(&Subject::Vehicle {
                track: t.track_id,
                bbox: (!t.label.is_empty()).then_some(best.vehicle),
                plate: Some(best.plate_box),
            });
            let save = |b: Option<BBox>| {
                self.output.save_evidence_masked(
                    &f.rgb,
                    f.width,
                    f.height,
                    b,
                    self.quality,
                    &masked,
                )
            };
            let (fw, fh) = (f.width as f32, f.height as f32);
            (
                Some(save(Some(best.plate_box.expand(0.25).clamp(fw, fh)))?),
                // A still with no vehicle found was read whole: the frame
                // is its only picture.
                match t.label.is_empty() {
                    false => Some(save(Some(best.vehicle.expand(0.05).clamp(fw, fh)))?),
                    true => None,
                },
                Some(save(None)?),
            )
        } else {
            (None, None, None)
        };
        // Format and raw text of the best read agreeing with the vote.
        let format = if best.read.text == vote.text {
            best.read.format.clone()
        } else {
            anpr.formats()
                .normalize(
                    &vote.text.chars().map(|c| (c, 1.0)).collect::<Vec<_>>(),
                    &self.settings[cam].countries,
                )
                .format
        };
        let country = format.as_ref().and_then(|f| {
            anpr.formats()
                .formats()
                .iter()
                .find(|x| &x.name == f)
                .map(|x| x.country.clone())
        });
        let label = (!t.label.is_empty()).then(|| t.label.clone());
        let colour = t.colour.map(|(c, _)| c.as_str().to_string());
        let obs = PlateObservation {
            read: NewPlateRead {
                camera: camera.clone(),
                run_id: None,
                track_id: t.track_id,
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                plate: vote.text.clone(),
                raw_text: best.read.raw_text.clone(),
                format,
                country,
                confidence: vote.confidence,
                votes: vote.reads as u32,
                agreeing: vote.agreeing as u32,
                vehicle_type: label,
                colour,
                plate_crop,
                vehicle_crop,
                frame: frame_hash,
                hotlist_hits: 0,
            },
            plate_box: best.plate_box,
            ts: best.frame.ts,
        };
        let text = vote.text.clone();
        let stored = match self.matcher.as_mut() {
            Some(m) => Some(m.record(obs, self.output.current_run(), None)?),
            None => {
                self.output.publish_plate_read(obs)?;
                None
            }
        };
        self.summary.plate_reads += 1;
        if let Some(t) = self.tracks.get_mut(&(cam, key)) {
            t.stored.push(text);
        }
        let Some(stored) = stored.filter(|s| !s.events.is_empty()) else {
            return Ok(());
        };
        self.summary.matches += stored.events.len() as u64;
        let mut sink = self.sink.lock();
        if let Some(s) = sink.as_mut() {
            for e in &stored.events {
                s(e);
            }
        }
        Ok(())
    }
}

/// A voted plate read as the reading side produces it: everything the
/// hotlist check and the `plate_reads` row need, before that check. A worker
/// publishes it (`kuzet.plate`); the central side, or the embedded pipeline,
/// hands it to a [`PlateMatcher`]. Evidence hashes name JPEGs already handed
/// to the sink.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateObservation {
    /// The row to store; `run_id` and `hotlist_hits` are filled in by the
    /// matcher.
    pub read: NewPlateRead,
    /// The plate in frame pixels (the alert's box).
    pub plate_box: BBox,
    /// Time of the frame of the best read (the alert's time).
    pub ts: Timestamp,
}

/// What [`PlateMatcher::record`] stored.
#[derive(Clone, Debug, PartialEq)]
pub struct MatchedPlate {
    pub plate_read_id: i64,
    /// The `hotlist_match` events as stored (with ids).
    pub events: Vec<Event>,
    /// Of those, the ones stored now (the rest were stored by an earlier
    /// delivery of the same read).
    pub new_events: usize,
}

/// The hotlist side of plate reading: checks voted reads against the store's
/// hotlists, stores the read and raises `hotlist_match` events. One
/// implementation for both modes: the embedded plates thread and the central
/// bus ingest both call [`PlateMatcher::record`].
pub struct PlateMatcher {
    /// Hotlists, reads and alerts unless `data` is set.
    store: Arc<Store>,
    /// Where the hotlists come from and keyed (bus) reads and their alerts
    /// go: the central data backend of `kuzet serve --bus` (SQLite or
    /// PostgreSQL, whose hotlists every serve node shares).
    data: Option<Arc<dyn StoreBackend>>,
    confusions: ConfusionSet,
    hotlist: Option<Hotlist>,
    hotlist_gen: Option<i64>,
}

impl PlateMatcher {
    /// `formats` supplies the recogniser's known misreads for fuzzy matching
    /// (the reader's own table; [`PlateFormats::builtin`] centrally, which is
    /// what the readers load).
    pub fn new(store: Arc<Store>, formats: &PlateFormats) -> Self {
        PlateMatcher {
            store,
            data: None,
            confusions: ConfusionSet::from_formats(formats),
            hotlist: None,
            hotlist_gen: None,
        }
    }

    /// Prices fuzzy hotlist matches with the confusion tables of `formats`
    /// (the readers' table, `[plates] formats`) instead of those given to
    /// [`PlateMatcher::new`].
    pub fn with_confusions(mut self, formats: &PlateFormats) -> Self {
        self.confusions = ConfusionSet::from_formats(formats);
        self
    }

    /// Loads the hotlists from `data` and stores keyed reads and their
    /// alerts there, where the other ingested events go.
    pub fn with_backend(mut self, data: Arc<dyn StoreBackend>) -> Self {
        self.data = Some(data);
        self
    }

    fn data(&self) -> &dyn StoreBackend {
        match &self.data {
            Some(d) => d.as_ref(),
            None => self.store.as_ref(),
        }
    }

    /// Keeps the hotlists in step with the store: one cheap read of the
    /// change counter, a reload only when it moved.
    fn refresh_hotlist(&mut self) -> Result<(), PipelineError> {
        let gen = self.data().hotlist_generation()?;
        if self.hotlist_gen == Some(gen) {
            return Ok(());
        }
        let entries: Vec<HotlistEntry> = self
            .data()
            .hotlist_entries(None)?
            .into_iter()
            .map(|e| HotlistEntry {
                id: e.id,
                plate: e.plate_norm,
                list: e.list,
                reason: e.reason,
                priority: e.priority,
                expires_ms: e.expires.map(|t| t.millis()),
            })
            .collect();
        let n = entries.len();
        let h = Hotlist::new(entries, self.confusions.clone(), MatchConfig::default())
            .map_err(plate_err)?;
        self.hotlist = Some(h);
        self.hotlist_gen = Some(gen);
        tracing::info!(entries = n, generation = gen, "hotlists loaded");
        Ok(())
    }

    /// Checks `obs` against the hotlists, stores it and raises one
    /// `hotlist_match` event per hit.
    ///
    /// `key` is the deterministic id of the delivery that carried it (the
    /// bus); `None` in embedded mode. With a key the read and its events are
    /// stored idempotently: a redelivery finds the earlier read (same id) and
    /// its events (keyed `<key>/h<entry id>`), so it stores nothing new.
    pub fn record(
        &mut self,
        obs: PlateObservation,
        run_id: Option<i64>,
        key: Option<&str>,
    ) -> Result<MatchedPlate, PipelineError> {
        if let Err(e) = self.refresh_hotlist() {
            tracing::warn!(error = %e, "hotlists could not be loaded; matching with the last ones");
        }
        let PlateObservation {
            mut read,
            plate_box,
            ts,
        } = obs;
        let hits = match &self.hotlist {
            Some(h) => h.check_at(&read.plate, read.confidence, read.last_seen.millis()),
            None => Vec::new(),
        };
        read.run_id = run_id;
        read.hotlist_hits = hits.len() as u32;
        let plate_text = read.plate.clone();
        let confidence = read.confidence;
        let (votes, agreeing) = (read.votes, read.agreeing);
        let camera = read.camera.clone();
        let track_id = read.track_id;
        let label = read.vehicle_type.clone();
        let format = read.format.clone();
        let country = read.country.clone();
        let colour = read.colour.clone();
        let plate_crop = read.plate_crop.clone();
        let vehicle_crop = read.vehicle_crop.clone();
        let frame_hash = read.frame.clone();
        let read_id = match key {
            None => self.store.insert_plate_read(read)?,
            Some(k) => {
                let ids = self
                    .data()
                    .ingest_plate_reads(vec![store::Keyed::with_key(k, read)])?;
                ids.first().copied().ok_or_else(|| {
                    PipelineError::Invalid("the store returned no id for a plate read".into())
                })?
            }
        };
        let mut events = Vec::new();
        for hit in hits {
            let mut e = Event::new(camera.clone(), kinds::HOTLIST_MATCH, ts);
            e.track_id = track_id;
            e.label = label.clone();
            e.rule = Some(hit.entry.list.clone());
            e.bbox = Some(plate_box);
            e.score = confidence;
            e.evidence = plate_crop.clone();
            e.details = serde_json::json!({
                "read": plate_text,
                "listed_plate": hit.entry.plate,
                "match_kind": match hit.kind { MatchKind::Exact => "exact", MatchKind::Fuzzy => "fuzzy" },
                "distance": hit.distance,
                "list": hit.entry.list,
                "reason": hit.entry.reason,
                "priority": hit.entry.priority,
                "entry_id": hit.entry.id,
                "plate_read_id": read_id,
                "confidence": confidence,
                "votes": votes,
                "agreeing": agreeing,
                "format": format,
                "country": country,
                "vehicle_type": label,
                "colour": colour,
                "plate_crop": plate_crop,
                "vehicle_crop": vehicle_crop,
                "frame_evidence": frame_hash,
                "review": "unconfirmed",
            });
            events.push((hit.entry.id, e));
        }
        if events.is_empty() {
            return Ok(MatchedPlate {
                plate_read_id: read_id,
                events: Vec::new(),
                new_events: 0,
            });
        }
        let (stored, new_events) = match key {
            None => {
                let stored = self
                    .store
                    .insert_events(events.into_iter().map(|(_, e)| e).collect())?;
                let n = stored.len();
                (stored, n)
            }
            Some(k) => {
                let keyed = events
                    .into_iter()
                    .map(|(entry, event)| store::Keyed::with_key(format!("{k}/h{entry}"), event))
                    .collect::<Vec<_>>();
                let mut by_id = keyed.clone();
                let outcomes = self.data().ingest_events_outcomes(run_id, keyed)?;
                let mut new = 0;
                for (o, k) in outcomes.iter().zip(by_id.iter_mut()) {
                    if matches!(o, store::Ingested::New(_)) {
                        new += 1;
                    }
                    k.item.id = Some(o.id());
                }
                (by_id.into_iter().map(|k| k.item).collect(), new)
            }
        };
        metrics::counter!("kuzet_events_total", "camera" => camera, "kind" => kinds::HOTLIST_MATCH)
            .increment(new_events as u64);
        Ok(MatchedPlate {
            plate_read_id: read_id,
            events: stored,
            new_events,
        })
    }
}

fn plate_err(e: vehicles::VehiclesError) -> PipelineError {
    PipelineError::Invalid(format!("plates: {e}"))
}

/// The plates stage's counts merged into the run summary.
pub(crate) fn merge(summary: &mut crate::Summary, p: PlateSummary) {
    if p.matches > 0 {
        *summary
            .events
            .entry(kinds::HOTLIST_MATCH.to_string())
            .or_default() += p.matches;
    }
    summary
        .stages
        .add("plates", Duration::from_secs_f64(p.seconds));
    summary.plates = Some(p);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_box_per_vehicle_keeps_the_best_label() {
        let car = BBox::new(10.0, 10.0, 210.0, 110.0);
        let truck = BBox::new(12.0, 8.0, 212.0, 112.0);
        let other = BBox::new(300.0, 10.0, 500.0, 110.0);
        let v = distinct_vehicles(&[
            ("car", 0.9, car),
            ("truck", 0.6, truck),
            ("bus", 0.5, other),
        ]);
        assert_eq!(v, vec![("car", car), ("bus", other)]);
        assert!(is_vehicle("motorbike") && is_vehicle("motorcycle") && !is_vehicle("person"));
    }

    /// `[plates] formats` replaces the built-in table, and every camera's
    /// plate countries must be in whichever table is used; a missing or
    /// broken file is an error naming the setting (and the line).
    #[test]
    fn an_installation_may_bring_its_own_format_table() {
        let dir = tempfile::tempdir().unwrap();
        let table = dir.path().join("formats.toml");
        std::fs::write(
            &table,
            "[confusions]\nto_digit = { O = \"0\" }\nto_letter = { \"0\" = \"O\" }\n\n\
             [[format]]\nname = \"xx\"\ncountry = \"xx\"\npattern = \"LL DDD\"\n",
        )
        .unwrap();
        let cfg = |formats: Option<&std::path::Path>, country: &str| {
            let mut text = String::new();
            if let Some(f) = formats {
                text.push_str(&format!(
                    "[plates]\nformats = {:?}\n\n",
                    f.display().to_string()
                ));
            }
            text.push_str(&format!(
                "[[camera]]\nid = \"gate\"\nurl = \"x.mp4\"\n[camera.plates]\ncountries = [\"{country}\"]\n"
            ));
            Config::parse(&text, "t.toml").unwrap()
        };
        // the built-in table
        let f = plate_formats(&cfg(None, "kz")).unwrap();
        assert!(f.countries().contains(&"kz".to_string()));
        let e = plate_formats(&cfg(None, "xx")).unwrap_err().to_string();
        assert!(
            e.contains("camera gate") && e.contains("`xx`") && e.contains("built-in"),
            "{e}"
        );
        // the installation's table: its format fits, the built-in ones are gone
        let f = plate_formats(&cfg(Some(&table), "xx")).unwrap();
        assert_eq!(f.countries(), ["xx"]);
        let n = f.normalize(
            &[('A', 0.9), ('B', 0.9), ('1', 0.9), ('O', 0.9), ('3', 0.9)],
            &[],
        );
        assert_eq!(
            (n.text.as_str(), n.format.as_deref()),
            ("AB103", Some("xx"))
        );
        let e = plate_formats(&cfg(Some(&table), "kz"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("`kz`") && e.contains("formats.toml") && e.contains("it has: xx"),
            "{e}"
        );
        // a missing file, a broken one
        let missing = dir.path().join("nope.toml");
        let e = plate_formats(&cfg(Some(&missing), "xx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[plates] formats") && e.contains("nope.toml"),
            "{e}"
        );
        std::fs::write(&table, "[confusions]\n[[format]\nname = \"xx\"\n").unwrap();
        let e = plate_formats(&cfg(Some(&table), "xx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[plates] formats") && e.contains("line 2"),
            "{e}"
        );
        std::fs::write(
            &table,
            "[confusions]\n[[format]]\nname = \"xx\"\ncountry = \"xx\"\npattern = \"LL Q\"\n",
        )
        .unwrap();
        let e = plate_formats(&cfg(Some(&table), "xx"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("format `xx`") && e.contains("unknown class `Q`"),
            "{e}"
        );
    }

    /// A real plate read through the plates thread's job: the stored full
    /// frame keeps the read car's plate as captured and masks the plate band
    /// of the other car the detector found in the photo; the plate crop is
    /// the record and is as captured.
    #[test]
    fn plate_read_frame_masks_other_vehicles_not_the_read_one() {
        use crate::privacy::Bystanders;
        use crate::privacy_tests::{detector, diff, labelled_plates, owner, photo, stored};
        use vision::{DetectRequest, Detector};
        let (rel, plate) = labelled_plates()
            .into_iter()
            .find(|(r, _)| r == "plates/us/car12.jpg")
            .expect("car12.jpg is labelled");
        let f = photo(&rel);
        let dets = detector()
            .detect(&[DetectRequest::whole(&f)])
            .unwrap()
            .remove(0);
        let own = owner(&dets, plate)
            .expect("the read car is detected")
            .clone();
        let other = dets
            .iter()
            .find(|d| {
                is_vehicle(&d.label)
                    && d.bbox.iou(&own.bbox) < 0.1
                    && store::privacy::plate_region(d.bbox).intersection(&own.bbox) == 0.0
            })
            .expect("a second vehicle")
            .clone();
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        store.set_seal_key(Arc::new(store::SealKey::generate().0));
        let mut anpr = Anpr::from_env(vehicles::AnprConfig {
            vehicle_crops: false,
            ..Default::default()
        })
        .expect("plate models load");
        let mut w = Worker {
            cams: vec!["road".into()],
            settings: vec![CameraPlates::default()],
            tracks: HashMap::new(),
            output: Arc::new(crate::StoreSink(store.clone())),
            central: None,
            matcher: Some(PlateMatcher::new(store.clone(), anpr.formats())),
            evidence: true,
            quality: 92,
            sink: Arc::default(),
            summary: PlateSummary::default(),
            dropped: Arc::default(),
        };
        let by = Arc::new(Bystanders::new(
            [(3, &*own.label, own.bbox)],
            dets.iter()
                .filter(|d| d.bbox.iou(&own.bbox) < 0.5)
                .map(|d| (&*d.label, d.bbox)),
        ));
        w.track_job(
            &mut anpr,
            0,
            3,
            Some(3),
            f.clone(),
            by,
            own.bbox,
            own.label.to_string(),
        )
        .unwrap();
        w.end(&anpr, 0, 3).unwrap();
        store.flush().unwrap();
        let reads = store
            .plate_reads(&store::PlateReadQuery::default())
            .unwrap();
        assert_eq!(reads.len(), 1, "{reads:?}");
        let r = &reads[0].read;
        eprintln!("read {:?} on {rel}", r.plate);
        let frame = r.frame.as_deref().unwrap();
        let px = stored(&store, frame);
        let (fw, fh) = (f.width, f.height);
        let own_plate = diff(&px, &f.rgb, fw, fh, plate);
        let band = diff(
            &px,
            &f.rgb,
            fw,
            fh,
            store::privacy::plate_region(other.bbox),
        );
        eprintln!("read plate differs by {own_plate:.2}, the other car's plate band by {band:.2}");
        assert!(own_plate < 4.0, "{own_plate}");
        assert!(band > 3.0 * own_plate.max(1.5), "{band}");
        assert!(store.evidence_original(frame).unwrap().is_some());
    }
}
