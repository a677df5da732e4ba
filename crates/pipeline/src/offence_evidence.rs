//! Evidence packages for traffic offences (#4): the frames before, during
//! and after the offence moment, the annotated decisive frame, crops of the
//! vehicle, of the rule's regions (the traffic light) and of the plate with
//! its reading.
//!
//! An offence rule decides at the decisive moment, but the package needs
//! frames from *after* it, so the recorder holds the event back until the
//! first frame at or past the request's `after` (a few seconds) and stores
//! it complete. Frames before the decision come from a per-camera ring
//! buffer; frames share their pixels through `Arc`, so the buffer costs
//! memory only for frames the decoder has already moved on from (about
//! `evidence_before_seconds` × analysis fps frames of one camera), and only
//! cameras with offence rules have one.
//!
//! The recording runs on one evidence thread per camera with offence rules,
//! not on the post thread: a package is ~20 JPEGs, each written durably
//! (fsync) before the event that names it, plus a plate reading, and on the
//! post thread that stalled tracking and rules of every camera (measured:
//! 9 s of a 10 s run on a clip where every vehicle offends). The post thread
//! hands frames over (they share their pixels) and takes completed offences
//! back a frame later; the queue is bounded, so an evidence thread that
//! falls behind slows the post thread rather than dropping anything.
//!
//! Every picture of a package masks the bystanders of its frame (what the
//! post thread found in it, [`Bystanders`]): every head, and the plate band
//! of every vehicle but the offending one, recognised by its track id in
//! each frame. The offending vehicle and its plate stay as captured: they
//! are the record.

use crate::privacy::{SharedBystanders, Subject};
use crate::Sink;
use crate::{frame_crop, PipelineError};
use analytics::offences::EvidenceRequest;
use base::{BBox, Event, Frame, Timestamp};
use config::OffencesConfig;
use serde_json::{json, Map, Value};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use vehicles::{Anpr, AnprConfig, PlateFormats};

/// Frames the evidence thread may be behind before the post thread waits
/// for it (back-pressure, never a dropped frame or package).
const EVIDENCE_QUEUE: usize = 32;

/// Frames in a package are at least this far apart: 5 per second shows the
/// movement; saving every frame of a 25 fps camera would not add evidence.
const MIN_FRAME_GAP_MS: i64 = 200;
/// The ring keeps this much more than the configured lead-in, for requests
/// whose `start` lies a little before `before`.
const RING_MARGIN_MS: i64 = 1_000;
/// Hard bound on buffered frames whatever the fps, so a 60 fps camera with a
/// long lead-in cannot hold gigabytes of decoded frames.
const RING_MAX_FRAMES: usize = 300;
/// Lead-in cap of the offence engine (`offences::MAX_LEAD`, 10 s) is added
/// to the configured lead-in: a long stop asks for frames that far back.
const MAX_LEAD_MS: i64 = 10_000;

/// Where an offence recorder's plate reader comes from: the installation's
/// models folder and plate-format table, as the live plate reader's.
#[derive(Clone, Debug)]
pub(crate) struct OffencePlates {
    pub(crate) models_dir: PathBuf,
    pub(crate) formats: PlateFormats,
}

impl OffencePlates {
    /// `$KUZET_MODELS` and the built-in table (tests).
    #[cfg(test)]
    pub(crate) fn from_env() -> Self {
        OffencePlates {
            models_dir: base::env::models_dir(),
            formats: PlateFormats::builtin(),
        }
    }
}

/// The plate reader, loaded on the first offence that asks for a plate:
/// most cameras never record one, and loading costs two model sessions.
enum PlateReader {
    NotLoaded(Box<OffencePlates>),
    Ready(Box<Anpr>),
    Failed(String),
}

struct Pending {
    event: Event,
    req: EvidenceRequest,
    frames: Vec<Value>,
    last_saved: Option<Timestamp>,
    package: Map<String, Value>,
}

/// What the post thread sends a camera's evidence thread.
enum Msg {
    Frame(Frame, SharedBystanders),
    Add(Box<(Event, EvidenceRequest)>),
    /// The source ended: complete what is pending and answer `Finished`.
    Finish,
}

/// What the evidence thread sends back.
enum Out {
    /// Offences whose packages completed.
    Events(Vec<Event>),
    /// Saving failed; the thread has stopped.
    Failed(PipelineError),
    /// Answer to `Finish`: the remaining (incomplete) packages.
    Finished(Vec<Event>),
}

struct EvidenceThread {
    tx: SyncSender<Msg>,
    rx: Receiver<Out>,
    handle: JoinHandle<()>,
}

/// One camera's offence evidence recorder, as the post thread sees it: a
/// handle to the camera's evidence thread, which runs a [`Recorder`].
/// Completed offences come back from [`push_frame`](Self::push_frame) a
/// frame or so after their package completed.
pub(crate) struct OffenceRecorder {
    /// Moved into the thread when it starts (on the first frame).
    recorder: Option<Recorder>,
    thread: Option<EvidenceThread>,
    camera: String,
    stats: Arc<parking_lot::Mutex<crate::stats::StageTotals>>,
}

impl OffenceRecorder {
    /// A recorder for a camera with offence rules; `None` without any.
    /// Its time is added to `stats` as the `offence_evidence` stage.
    pub(crate) fn new(
        cfg: &OffencesConfig,
        quality: u8,
        min_vehicle_width: f32,
        plates: OffencePlates,
        camera: &str,
        sink: Arc<dyn Sink>,
        stats: Arc<parking_lot::Mutex<crate::stats::StageTotals>>,
    ) -> Option<OffenceRecorder> {
        Some(OffenceRecorder {
            recorder: Some(Recorder::new(
                cfg,
                quality,
                min_vehicle_width,
                plates,
                sink,
            )?),
            thread: None,
            camera: camera.to_owned(),
            stats,
        })
    }

    fn thread(&mut self) -> Result<&EvidenceThread, PipelineError> {
        if self.thread.is_none() {
            let mut rec = self.recorder.take().ok_or_else(|| stopped(&self.camera))?;
            let (tx, inbox) = sync_channel::<Msg>(EVIDENCE_QUEUE);
            let (out, rx) = std::sync::mpsc::channel::<Out>();
            let stats = self.stats.clone();
            let handle = std::thread::Builder::new()
                .name(format!("offence-evidence-{}", self.camera))
                .spawn(move || {
                    for msg in inbox.iter() {
                        let t = std::time::Instant::now();
                        let r = match msg {
                            Msg::Frame(f, by) => rec.push_frame(&f, &by).map(Out::Events),
                            Msg::Add(b) => {
                                let (e, req) = *b;
                                rec.add(e, req).map(|()| Out::Events(Vec::new()))
                            }
                            Msg::Finish => Ok(Out::Finished(rec.finish())),
                        };
                        stats.lock().add("offence_evidence", t.elapsed());
                        let stop = r.is_err();
                        let o = r.unwrap_or_else(Out::Failed);
                        if matches!(&o, Out::Events(v) if v.is_empty()) {
                            continue;
                        }
                        // The post thread may be gone (stopping): fine.
                        if out.send(o).is_err() || stop {
                            return;
                        }
                    }
                })
                .map_err(|e| PipelineError::Invalid(format!("offence evidence thread: {e}")))?;
            self.thread = Some(EvidenceThread { tx, rx, handle });
        }
        Ok(self.thread.as_ref().expect("started above"))
    }

    fn send(&mut self, msg: Msg) -> Result<(), PipelineError> {
        let camera = self.camera.clone();
        let t = self.thread()?;
        if t.tx.send(msg).is_ok() {
            return Ok(());
        }
        // The thread stopped: its error, if it sent one.
        for o in t.rx.try_iter() {
            if let Out::Failed(e) = o {
                return Err(e);
            }
        }
        Err(stopped(&camera))
    }

    /// Hands `frame` to the evidence thread (blocking while it is
    /// [`EVIDENCE_QUEUE`] frames behind) and returns the offences completed
    /// since the last call.
    pub(crate) fn push_frame(
        &mut self,
        frame: &Frame,
        bystanders: &SharedBystanders,
    ) -> Result<Vec<Event>, PipelineError> {
        self.send(Msg::Frame(frame.clone(), bystanders.clone()))?;
        let mut done = Vec::new();
        if let Some(t) = &self.thread {
            for o in t.rx.try_iter() {
                match o {
                    Out::Events(v) | Out::Finished(v) => done.extend(v),
                    Out::Failed(e) => return Err(e),
                }
            }
        }
        Ok(done)
    }

    /// Starts the package of an offence event (see [`Recorder::add`]).
    pub(crate) fn add(&mut self, event: Event, req: EvidenceRequest) -> Result<(), PipelineError> {
        self.send(Msg::Add(Box::new((event, req))))
    }

    /// Waits for the evidence thread to save what it was given and returns
    /// every offence not yet returned, the pending ones marked incomplete.
    pub(crate) fn finish(&mut self) -> Result<Vec<Event>, PipelineError> {
        if let Some(rec) = self.recorder.as_mut() {
            // Never started: no frame came.
            return Ok(rec.finish());
        }
        self.send(Msg::Finish)?;
        let camera = self.camera.clone();
        let t = self.thread.take().expect("started by send");
        let mut done = Vec::new();
        loop {
            match t.rx.recv() {
                Ok(Out::Events(v)) => done.extend(v),
                Ok(Out::Finished(v)) => {
                    done.extend(v);
                    break;
                }
                Ok(Out::Failed(e)) => return Err(e),
                Err(_) => return Err(stopped(&camera)),
            }
        }
        drop(t.tx);
        if t.handle.join().is_err() {
            return Err(stopped(&camera));
        }
        Ok(done)
    }
}

/// One camera's offence evidence recorder proper (synchronous; runs on the
/// camera's evidence thread).
pub(crate) struct Recorder {
    sink: Arc<dyn Sink>,
    ring: VecDeque<(Frame, SharedBystanders)>,
    keep_ms: i64,
    pending: Vec<Pending>,
    plates: PlateReader,
    quality: u8,
    /// Vehicles narrower than this (px) get no plate reading.
    min_vehicle_width: f32,
}

impl Recorder {
    /// A recorder for a camera with offence rules; `None` without any.
    pub(crate) fn new(
        cfg: &OffencesConfig,
        quality: u8,
        min_vehicle_width: f32,
        plates: OffencePlates,
        sink: Arc<dyn Sink>,
    ) -> Option<Recorder> {
        if cfg.is_empty() {
            return None;
        }
        Some(Recorder {
            sink,
            ring: VecDeque::new(),
            keep_ms: (cfg.evidence_before_seconds.max(0.0) * 1000.0) as i64
                + MAX_LEAD_MS
                + RING_MARGIN_MS,
            pending: Vec::new(),
            plates: PlateReader::NotLoaded(Box::new(plates)),
            quality,
            min_vehicle_width,
        })
    }

    /// Buffers `frame`, adds it to every package still collecting, and
    /// returns the offences whose packages are now complete.
    pub(crate) fn push_frame(
        &mut self,
        frame: &Frame,
        bystanders: &SharedBystanders,
    ) -> Result<Vec<Event>, PipelineError> {
        let store = self.sink.as_ref();
        self.ring.push_back((frame.clone(), bystanders.clone()));
        while self.ring.len() > RING_MAX_FRAMES
            || self
                .ring
                .front()
                .is_some_and(|(f, _)| frame.ts.0 - f.ts.0 > self.keep_ms)
        {
            self.ring.pop_front();
        }
        let mut done = Vec::new();
        let mut i = 0;
        while i < self.pending.len() {
            let p = &mut self.pending[i];
            if frame.ts > p.req.during && frame.ts <= p.req.after {
                save_frame(store, p, (frame, bystanders), "after", self.quality)?;
            }
            if frame.ts >= p.req.after {
                done.push(finish(self.pending.swap_remove(i), true));
            } else {
                i += 1;
            }
        }
        Ok(done)
    }

    /// Starts the package of an offence event (which carries its request):
    /// saves what the buffer holds up to now and the decisive frame's
    /// annotated picture and crops. The event comes back from
    /// [`push_frame`](Self::push_frame) or [`finish`](Self::finish) once
    /// the frames after it are in.
    pub(crate) fn add(&mut self, event: Event, req: EvidenceRequest) -> Result<(), PipelineError> {
        let sink = self.sink.clone();
        let store = sink.as_ref();
        let mut p = Pending {
            event,
            req,
            frames: Vec::new(),
            last_saved: None,
            package: Map::new(),
        };
        // The frame the offending behaviour began on, when the buffer still
        // has it and it lies before the clip (a long stop).
        if p.req.start < p.req.before {
            if let Some((f, by)) = nearest(&self.ring, p.req.start, 2 * MIN_FRAME_GAP_MS) {
                let masked = by.regions(&subject_at(&p.req, f.ts, None));
                let h = store.save_evidence_masked(
                    &f.rgb,
                    f.width,
                    f.height,
                    None,
                    self.quality,
                    &masked,
                )?;
                p.package.insert("start_frame".into(), h.into());
            }
        }
        // The moment (`during`) may be interpolated between frames (a line
        // crossing): the buffered frame nearest to it is the `during` frame.
        let decisive = nearest(&self.ring, p.req.during, i64::MAX).map(|(f, _)| f.ts);
        let held: Vec<(Frame, SharedBystanders)> = self
            .ring
            .iter()
            .filter(|(f, _)| f.ts >= p.req.before && f.ts <= p.req.after)
            .cloned()
            .collect();
        for (f, by) in &held {
            let phase = if Some(f.ts) == decisive {
                "during"
            } else if f.ts < p.req.during {
                "before"
            } else {
                "after"
            };
            save_frame(store, &mut p, (f, by), phase, self.quality)?;
        }
        match nearest(&self.ring, p.req.during, i64::MAX).cloned() {
            Some((f, by)) => {
                let parts = decisive_parts(
                    store,
                    &mut self.plates,
                    self.quality,
                    self.min_vehicle_width,
                    &p.req,
                    &f,
                    &by,
                )?;
                p.package.extend(parts);
            }
            None => {
                p.package.insert(
                    "plate_status".into(),
                    "no frame of the moment buffered".into(),
                );
            }
        }
        self.pending.push(p);
        Ok(())
    }

    /// Completes every package with what it has (sources ended before the
    /// `after` frames arrived); they are marked incomplete.
    pub(crate) fn finish(&mut self) -> Vec<Event> {
        self.pending.drain(..).map(|p| finish(p, false)).collect()
    }
}

fn stopped(camera: &str) -> PipelineError {
    PipelineError::Invalid(format!(
        "camera {camera}: the offence evidence thread stopped (see the log for its panic)"
    ))
}

/// Annotated full frame, vehicle crop, region crops and plate reading from
/// the decisive frame, as package fields (on the evidence thread).
fn decisive_parts(
    store: &dyn Sink,
    plates: &mut PlateReader,
    q: u8,
    min_vehicle_width: f32,
    req: &EvidenceRequest,
    f: &Frame,
    by: &SharedBystanders,
) -> Result<Map<String, Value>, PipelineError> {
    let mut package = Map::new();
    {
        let vb = req
            .vehicle_bbox
            .expand(0.1)
            .clamp(f.width as f32, f.height as f32);
        let vehicle = frame_crop(f, vb);
        // The plate is read first: where it was found, no bystander's mask
        // may cover it in any picture of this moment.
        let mut plate_box = None;
        if req.read_plate {
            match &vehicle {
                // The live plate stage's rule (`[camera.plates]
                // min_vehicle_width`): on a narrower vehicle the plate is a
                // few pixels wide, and the reader, the costliest part of a
                // package, would only return noise.
                Some(_) if req.vehicle_bbox.width() < min_vehicle_width => {
                    package.insert(
                        "plate_status".into(),
                        format!(
                            "vehicle {:.0} px wide, under min_vehicle_width {min_vehicle_width:.0}: plate too small to read",
                            req.vehicle_bbox.width()
                        )
                        .into(),
                    );
                    package.insert("plate".into(), Value::Null);
                }
                Some((rgb, w, h)) => {
                    let (status, plate, b) = read_plate(store, plates, q, rgb.clone(), *w, *h)?;
                    let (ox, oy) = (vb.x1.floor(), vb.y1.floor());
                    plate_box = b.map(|b| BBox::new(b.x1 + ox, b.y1 + oy, b.x2 + ox, b.y2 + oy));
                    package.insert("plate_status".into(), status.into());
                    package.insert("plate".into(), plate);
                }
                None => {
                    package.insert(
                        "plate_status".into(),
                        "vehicle box outside the frame".into(),
                    );
                }
            }
        }
        let masked = by.regions(&subject_at(req, f.ts, plate_box));
        let annotated = annotate(f, req);
        let h = store.save_evidence_masked(&annotated, f.width, f.height, None, q, &masked)?;
        package.insert("annotated_frame".into(), h.into());
        if vehicle.is_some() {
            let hash =
                store.save_evidence_masked(&f.rgb, f.width, f.height, Some(vb), q, &masked)?;
            package.insert("vehicle_crop".into(), hash.into());
        }
        let mut regions = Map::new();
        for r in &req.regions {
            if frame_crop(f, r.bbox).is_some() {
                let crop = r.bbox.clamp(f.width as f32, f.height as f32);
                let hash = store.save_evidence_masked(
                    &f.rgb,
                    f.width,
                    f.height,
                    Some(crop),
                    q,
                    &masked,
                )?;
                regions.insert(r.name.clone(), hash.into());
            }
        }
        package.insert("regions".into(), Value::Object(regions));
        package.insert("decisive_ts".into(), json!(f.ts));
    }
    Ok(package)
}

/// Reads the plate on the vehicle crop: the status, the reading (with its
/// crop's hash) and the plate's box in the crop.
fn read_plate(
    store: &dyn Sink,
    plates: &mut PlateReader,
    quality: u8,
    rgb: Vec<u8>,
    w: u32,
    h: u32,
) -> Result<(String, Value, Option<BBox>), PipelineError> {
    {
        if let PlateReader::NotLoaded(src) = plates {
            // The crop is already the vehicle: no vehicle detection inside it.
            let cfg = AnprConfig {
                vehicle_crops: false,
                ..AnprConfig::default()
            };
            *plates = match Anpr::with_formats(
                &vision::ModelManifest::embedded(),
                &src.models_dir,
                cfg,
                src.formats.clone(),
            ) {
                Ok(a) => PlateReader::Ready(Box::new(a)),
                Err(e) => {
                    tracing::warn!(error = %e, "offence evidence: the plate reader is unavailable; offences are recorded without plates");
                    PlateReader::Failed(e.to_string())
                }
            };
        }
        let anpr = match plates {
            PlateReader::Ready(a) => a,
            PlateReader::Failed(e) => {
                return Ok((format!("plate reader unavailable: {e}"), Value::Null, None))
            }
            PlateReader::NotLoaded(_) => unreachable!("loaded above"),
        };
        let Some(img) = image::RgbImage::from_raw(w, h, rgb) else {
            return Ok(("vehicle crop malformed".into(), Value::Null, None));
        };
        let reads = match anpr.recognize(&img) {
            Ok(r) => r,
            Err(e) => return Ok((format!("plate not read: {e}"), Value::Null, None)),
        };
        let Some(best) = reads.into_iter().next() else {
            return Ok(("no plate found on the vehicle".into(), Value::Null, None));
        };
        let crop = store.save_evidence_jpeg(
            img.as_raw(),
            w,
            h,
            Some(best.bbox.expand(0.15).clamp(w as f32, h as f32)),
            quality,
        )?;
        Ok((
            "read".into(),
            json!({
                "text": best.text,
                "raw_text": best.raw_text,
                "format": best.format,
                "confidence": best.confidence,
                "crop": crop,
            }),
            Some(best.bbox),
        ))
    }
}

/// Saves `f` into the package unless it lies closer than
/// [`MIN_FRAME_GAP_MS`] to the last saved frame (the decisive frame always
/// goes in).
fn save_frame(
    store: &dyn Sink,
    p: &mut Pending,
    (f, by): (&Frame, &SharedBystanders),
    phase: &str,
    quality: u8,
) -> Result<(), PipelineError> {
    let close = p
        .last_saved
        .is_some_and(|t| f.ts.0 - t.0 < MIN_FRAME_GAP_MS);
    if close && phase != "during" {
        return Ok(());
    }
    let masked = by.regions(&subject_at(&p.req, f.ts, None));
    let h = store.save_evidence_masked(&f.rgb, f.width, f.height, None, quality, &masked)?;
    p.last_saved = Some(f.ts);
    p.frames.push(json!({
        "ts": f.ts,
        "offset_ms": f.ts.0 - p.req.during.0,
        "phase": phase,
        "evidence": h,
    }));
    Ok(())
}

/// The buffered frame closest in time to `ts`, if within `tolerance_ms`.
fn nearest(
    ring: &VecDeque<(Frame, SharedBystanders)>,
    ts: Timestamp,
    tolerance_ms: i64,
) -> Option<&(Frame, SharedBystanders)> {
    ring.iter()
        .min_by_key(|(f, _)| (f.ts.0 - ts.0).abs())
        .filter(|(f, _)| (f.ts.0 - ts.0).abs() <= tolerance_ms)
}

/// The offending vehicle in the frame at `ts`: its track, and its box from
/// the request (the decisive box, or the track point of that instant) for a
/// frame whose detections never made it into the tracker.
fn subject_at(req: &EvidenceRequest, ts: Timestamp, plate: Option<BBox>) -> Subject {
    let bbox = if ts == req.during {
        Some(req.vehicle_bbox)
    } else {
        req.track.iter().find(|p| p.ts == ts).map(|p| p.bbox)
    };
    Subject::Vehicle {
        track: Some(req.track_id),
        bbox,
        plate,
    }
}

/// The event with its package attached: the vehicle crop as its evidence and
/// the annotated frame as `frame_evidence`, as the web app shows them.
fn finish(p: Pending, complete: bool) -> Event {
    let Pending {
        mut event,
        frames,
        mut package,
        ..
    } = p;
    if let Some(Value::String(h)) = package.get("vehicle_crop") {
        event.evidence = Some(h.clone());
    }
    let annotated = package.get("annotated_frame").cloned();
    package.insert("frames".into(), Value::Array(frames));
    package.insert("complete".into(), complete.into());
    if !event.details.is_object() {
        event.details = Value::Object(Map::new());
    }
    if let Value::Object(m) = &mut event.details {
        if let Some(a) = annotated {
            m.insert("frame_evidence".into(), a);
        }
        m.insert("evidence_package".into(), Value::Object(package));
    }
    event
}

/// A copy of the frame with the vehicle's box (red), its path (yellow, box
/// bottom centres from the request's track) and the rule's regions (cyan).
/// Hand-drawn: a few straight lines do not justify an imaging dependency.
fn annotate(f: &Frame, req: &EvidenceRequest) -> Vec<u8> {
    let mut px = f.rgb.as_ref().clone();
    let mut canvas = Canvas {
        px: &mut px,
        w: f.width as i64,
        h: f.height as i64,
    };
    let thick = ((f.width.max(f.height) / 400) as i64).max(2);
    for r in &req.regions {
        canvas.rect(r.bbox, [0, 220, 255], thick);
    }
    let path: Vec<(f32, f32)> = req
        .track
        .iter()
        .map(|p| {
            let c = p.bbox.bottom_center();
            (c.x, c.y)
        })
        .collect();
    for w in path.windows(2) {
        canvas.line(w[0], w[1], [255, 220, 0], thick);
    }
    canvas.rect(req.vehicle_bbox, [255, 0, 0], thick);
    px
}

struct Canvas<'a> {
    px: &'a mut [u8],
    w: i64,
    h: i64,
}

impl Canvas<'_> {
    fn dot(&mut self, x: i64, y: i64, c: [u8; 3], r: i64) {
        for yy in (y - r / 2)..=(y + r / 2) {
            for xx in (x - r / 2)..=(x + r / 2) {
                if xx >= 0 && yy >= 0 && xx < self.w && yy < self.h {
                    let i = ((yy * self.w + xx) * 3) as usize;
                    self.px[i..i + 3].copy_from_slice(&c);
                }
            }
        }
    }

    fn line(&mut self, a: (f32, f32), b: (f32, f32), c: [u8; 3], r: i64) {
        if !(a.0.is_finite() && a.1.is_finite() && b.0.is_finite() && b.1.is_finite()) {
            return;
        }
        let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs()).ceil() as i64).clamp(1, 20_000);
        for s in 0..=steps {
            let t = s as f32 / steps as f32;
            let x = a.0 + (b.0 - a.0) * t;
            let y = a.1 + (b.1 - a.1) * t;
            self.dot(x.round() as i64, y.round() as i64, c, r);
        }
    }

    fn rect(&mut self, b: BBox, c: [u8; 3], r: i64) {
        let corners = [(b.x1, b.y1), (b.x2, b.y1), (b.x2, b.y2), (b.x1, b.y2)];
        for i in 0..4 {
            self.line(corners[i], corners[(i + 1) % 4], c, r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use analytics::offences::{EvidenceRegion, TrackPoint};
    use std::sync::Arc;

    fn frame(ts: i64, shade: u8) -> Frame {
        Frame::new(
            Arc::from("cam"),
            0,
            Timestamp(ts),
            ts,
            64,
            48,
            vec![shade; 64 * 48 * 3],
        )
    }

    fn none() -> SharedBystanders {
        SharedBystanders::default()
    }

    fn request(during: i64) -> EvidenceRequest {
        let bbox = BBox::new(10.0, 10.0, 40.0, 30.0);
        EvidenceRequest {
            camera: "cam".into(),
            offence: "offence_wrong_way".into(),
            rule: "lane".into(),
            track_id: 7,
            label: "car".into(),
            start: Timestamp(during - 1_000),
            before: Timestamp(during - 1_000),
            during: Timestamp(during),
            after: Timestamp(during + 1_000),
            vehicle_bbox: bbox,
            read_plate: false,
            regions: vec![EvidenceRegion {
                name: "light".into(),
                bbox: BBox::new(50.0, 2.0, 60.0, 20.0),
            }],
            track: vec![
                TrackPoint {
                    ts: Timestamp(during - 500),
                    bbox: BBox::new(5.0, 5.0, 35.0, 25.0),
                },
                TrackPoint {
                    ts: Timestamp(during),
                    bbox,
                },
            ],
        }
    }

    /// The offence recorder of camera `cam` with [`offence_cfg`].
    fn test_recorder(
        sink: Arc<dyn Sink>,
        stats: Arc<parking_lot::Mutex<crate::StageTotals>>,
    ) -> OffenceRecorder {
        OffenceRecorder::new(
            &offence_cfg(),
            80,
            80.0,
            OffencePlates::from_env(),
            "cam",
            sink,
            stats,
        )
        .expect("rules present")
    }

    fn offence_cfg() -> OffencesConfig {
        OffencesConfig {
            wrong_way: vec![config::WrongWayConfig {
                name: "lane".into(),
                lane: vec![[0.0, 0.0], [64.0, 0.0], [64.0, 48.0], [0.0, 48.0]],
                direction: [[32.0, 0.0], [32.0, 48.0]],
                max_cosine: -0.5,
                min_seconds: 1.0,
                min_distance: 0.1,
                classes: Vec::new(),
            }],
            ..OffencesConfig::default()
        }
    }

    /// At 10 fps, frames 2 s before to 2 s after a wrong-way moment: the
    /// package has the thinned frames of the window in order with one
    /// `during`, is held back until `after`, and is complete.
    #[test]
    fn package_spans_before_during_after() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store.clone()));
        let mut rec = Recorder::new(&offence_cfg(), 80, 80.0, OffencePlates::from_env(), sink)
            .expect("rules present");
        let during = 10_000;
        let mut out = Vec::new();
        for ts in (during - 2_000..=during).step_by(100) {
            out.extend(
                rec.push_frame(&frame(ts, (ts / 100) as u8), &none())
                    .unwrap(),
            );
        }
        let mut e = Event::new("cam", "offence_wrong_way", Timestamp(during));
        e.details = json!({ "rule": "lane" });
        rec.add(e, request(during)).unwrap();
        for ts in (during + 100..=during + 2_000).step_by(100) {
            out.extend(
                rec.push_frame(&frame(ts, (ts / 100) as u8), &none())
                    .unwrap(),
            );
            if ts < during + 1_000 {
                assert!(out.is_empty(), "held back until the after frame");
            }
        }
        assert_eq!(out.len(), 1);
        let pkg = &out[0].details["evidence_package"];
        assert_eq!(pkg["complete"], true);
        let frames = pkg["frames"].as_array().unwrap();
        let offsets: Vec<i64> = frames
            .iter()
            .map(|f| f["offset_ms"].as_i64().unwrap())
            .collect();
        assert_eq!(
            offsets,
            vec![-1000, -800, -600, -400, -200, 0, 200, 400, 600, 800, 1000]
        );
        assert_eq!(frames.iter().filter(|f| f["phase"] == "during").count(), 1);
        for f in frames {
            assert!(store
                .evidence_path(f["evidence"].as_str().unwrap())
                .is_some());
        }
        let vehicle = pkg["vehicle_crop"].as_str().unwrap();
        assert_eq!(out[0].evidence.as_deref(), Some(vehicle));
        assert_eq!(store.evidence_info(vehicle).unwrap().unwrap().width, 36);
        assert!(pkg["regions"]["light"].is_string());
        assert_eq!(out[0].details["frame_evidence"], pkg["annotated_frame"]);
    }

    /// A moment between two frames (an interpolated line crossing): the
    /// nearest frame is the one `during` frame.
    #[test]
    fn interpolated_moment_marks_the_nearest_frame() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store.clone()));
        let mut rec =
            Recorder::new(&offence_cfg(), 80, 80.0, OffencePlates::from_env(), sink).unwrap();
        for ts in (8_000..=10_200).step_by(200) {
            rec.push_frame(&frame(ts, (ts / 200) as u8), &none())
                .unwrap();
        }
        let e = Event::new("cam", "offence_speed", Timestamp(10_200));
        rec.add(e, request(10_130)).unwrap();
        let out = rec.finish();
        let frames = out[0].details["evidence_package"]["frames"]
            .as_array()
            .unwrap()
            .clone();
        let during: Vec<i64> = frames
            .iter()
            .filter(|f| f["phase"] == "during")
            .map(|f| f["offset_ms"].as_i64().unwrap())
            .collect();
        assert_eq!(during, vec![70], "{frames:?}");
        assert!(frames.iter().any(|f| f["phase"] == "before"));
    }

    /// The stream ends before `after`: `finish` returns the package marked
    /// incomplete rather than dropping the offence.
    #[test]
    fn finish_flushes_incomplete_packages() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store.clone()));
        let mut rec =
            Recorder::new(&offence_cfg(), 80, 80.0, OffencePlates::from_env(), sink).unwrap();
        rec.push_frame(&frame(5_000, 9), &none()).unwrap();
        let e = Event::new("cam", "offence_wrong_way", Timestamp(5_000));
        rec.add(e, request(5_000)).unwrap();
        let out = rec.finish();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].details["evidence_package"]["complete"], false);
        assert!(rec.finish().is_empty());
    }

    /// The post thread's handle: offences recorded on the camera's evidence
    /// thread come back (from later frames or at the end), complete, with
    /// their frames saved; its time is counted as its own stage.
    #[test]
    fn recording_runs_on_the_evidence_thread_and_returns_every_offence() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store.clone()));
        let stats = Arc::new(parking_lot::Mutex::new(crate::StageTotals::default()));
        let mut rec = test_recorder(sink, stats.clone());
        let mut out = Vec::new();
        for ts in (8_000..=10_000).step_by(100) {
            out.extend(
                rec.push_frame(&frame(ts, (ts / 100) as u8), &none())
                    .unwrap(),
            );
        }
        for (i, during) in [10_000, 10_500].into_iter().enumerate() {
            let mut e = Event::new("cam", "offence_wrong_way", Timestamp(during));
            e.track_id = Some(i as u64);
            rec.add(e, request(during)).unwrap();
        }
        for ts in (10_100..=13_000).step_by(100) {
            out.extend(
                rec.push_frame(&frame(ts, (ts / 100) as u8), &none())
                    .unwrap(),
            );
        }
        out.extend(rec.finish().unwrap());
        assert_eq!(out.len(), 2, "both offences come back once");
        for e in &out {
            let pkg = &e.details["evidence_package"];
            assert_eq!(pkg["complete"], true, "{pkg}");
            let frames = pkg["frames"].as_array().unwrap();
            assert!(frames.len() >= 8, "{pkg}");
            for f in frames {
                assert!(store
                    .evidence_path(f["evidence"].as_str().unwrap())
                    .is_some());
            }
        }
        assert!(stats.lock().get("offence_evidence") > 0.0);
        // No frame ever: nothing started, nothing returned.
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store));
        let mut idle = test_recorder(sink, stats);
        assert!(idle.finish().unwrap().is_empty());
    }

    /// A sink that refuses evidence: the recorder's error reaches the post
    /// thread (it does not hang or drop the offence silently).
    struct RefusingSink;

    impl Sink for RefusingSink {
        fn begin_run(&self) -> Result<(), PipelineError> {
            Ok(())
        }
        fn current_run(&self) -> Option<i64> {
            None
        }
        fn upsert_camera(
            &self,
            _: &str,
            _: &str,
            _: &str,
            _: &serde_json::Value,
        ) -> Result<(), PipelineError> {
            Ok(())
        }
        fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Event>, PipelineError> {
            Ok(events)
        }
        fn upsert_tracks(&self, _: Vec<store::TrackRecord>) -> Result<(), PipelineError> {
            Ok(())
        }
        fn save_evidence_jpeg(
            &self,
            _: &[u8],
            _: u32,
            _: u32,
            _: Option<BBox>,
            _: u8,
        ) -> Result<String, PipelineError> {
            Err(PipelineError::Sink("evidence disk full".into()))
        }
        fn flush(&self) -> Result<(), PipelineError> {
            Ok(())
        }
        fn central_store(&self) -> Option<Arc<store::Store>> {
            None
        }
    }

    #[test]
    fn an_evidence_failure_reaches_the_post_thread() {
        let stats = Arc::new(parking_lot::Mutex::new(crate::StageTotals::default()));
        let mut rec = test_recorder(Arc::new(RefusingSink), stats);
        for ts in (9_000..=10_000).step_by(100) {
            rec.push_frame(&frame(ts, 1), &none()).unwrap();
        }
        let mut e = Event::new("cam", "offence_wrong_way", Timestamp(10_000));
        e.track_id = Some(1);
        // The failure surfaces at the next call that talks to the thread.
        let mut err = rec.add(e, request(10_000)).err();
        for ts in (10_100..=12_000).step_by(100) {
            if err.is_some() {
                break;
            }
            err = rec.push_frame(&frame(ts, 1), &none()).err();
        }
        let err = err.or_else(|| rec.finish().err()).expect("an error");
        assert!(err.to_string().contains("evidence disk full"), "{err}");
    }

    /// A vehicle narrower than `min_vehicle_width` gets no plate reading
    /// (the reader is not even loaded) and the package says why.
    #[test]
    fn a_vehicle_too_small_for_a_plate_is_not_read() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store));
        let mut rec =
            Recorder::new(&offence_cfg(), 80, 80.0, OffencePlates::from_env(), sink).unwrap();
        rec.push_frame(&frame(5_000, 9), &none()).unwrap();
        let mut req = request(5_000);
        req.read_plate = true;
        rec.add(
            Event::new("cam", "offence_wrong_way", Timestamp(5_000)),
            req,
        )
        .unwrap();
        assert!(matches!(rec.plates, PlateReader::NotLoaded(_)));
        let out = rec.finish();
        let pkg = &out[0].details["evidence_package"];
        assert_eq!(pkg["plate"], Value::Null);
        let status = pkg["plate_status"].as_str().unwrap();
        assert!(
            status.contains("30 px wide") && status.contains("too small"),
            "{status}"
        );
    }

    #[test]
    fn no_rules_no_recorder() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        let sink: Arc<dyn Sink> = Arc::new(crate::StoreSink(store));
        assert!(Recorder::new(
            &OffencesConfig::default(),
            80,
            80.0,
            OffencePlates::from_env(),
            sink
        )
        .is_none());
    }

    /// The annotation draws inside the frame only, whatever the boxes say.
    #[test]
    fn annotation_survives_boxes_outside_the_frame() {
        let f = frame(0, 0);
        let mut req = request(0);
        req.vehicle_bbox = BBox::new(-50.0, -50.0, 500.0, 500.0);
        req.track[0].bbox = BBox::new(f32::NAN, 0.0, 1.0, 1.0);
        let px = annotate(&f, &req);
        assert_eq!(px.len(), f.rgb.len());
        assert!(px.iter().any(|&v| v != 0));
    }
}
