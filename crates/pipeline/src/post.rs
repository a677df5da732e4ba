//! The post stage: tracking, rules, evidence and the store.

use crate::clips::{ClipRecorder, ClipSettings};
use crate::detect::Analysed;
use crate::faces::FaceFeed;
use crate::fire::FireFeed;
use crate::offence_evidence::{OffencePlates, OffenceRecorder};
use crate::plates::PlateFeed;
use crate::privacy::{Bystanders, SharedBystanders, Subject};
use crate::stats::{CameraSummary, StageTotals, Summary};
use crate::Sink;
use crate::{frame_crop, EngineOptions, PipelineError, RateMeter, SharedSink};
use analytics::offences::EvidenceRequest;
use analytics::{ObjectState, RuleEngine};
use base::{CameraState, Event, Frame, Timestamp};
use config::{CameraConfig, Config};
use crossbeam_channel::Receiver;
use media::{FrameQueue, SharedStatus};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use store::{TrackRecord, TrajectoryPoint};
use track::{Track, TrackState, Tracker, TrackerConfig};

/// The best view of a track so far, copied out of its frame so the frame
/// itself can be released.
struct BestView {
    rgb: Vec<u8>,
    width: u32,
    height: u32,
    /// Heads and plates to mask, in the crop's coordinates.
    masked: Vec<base::BBox>,
}

/// Bound on remembered best crops of ended tracks per camera.
const OWNER_CROPS_MAX: usize = 1024;

struct CamPost {
    /// Index of this camera in the engine's status/queue vectors.
    cfg_index: usize,
    id: String,
    cfg: CameraConfig,
    tracker: Tracker,
    rules: Option<RuleEngine>,
    best: HashMap<u64, BestView>,
    /// Best-crop hashes of ended tracks, so a later event about an owner who
    /// has left (abandoned object) can still show them. Bounded: cleared
    /// when it grows past [`OWNER_CROPS_MAX`].
    ended_crops: HashMap<u64, String>,
    /// Evidence packages of traffic offences; cameras with offence rules only.
    offences: Option<OffenceRecorder>,
    /// Video clips of events (`[evidence] clip_*`), where a store keeps them.
    clips: Option<ClipRecorder>,
    meter: RateMeter,
    summary: CameraSummary,
    last_ts: Timestamp,
    /// Crowd counter for the zones' crowd rules, when configured.
    crowd: Option<crate::crowd::CrowdSchedule>,
    /// Background model for unknown static objects (`static_objects`).
    statics: Option<vision::StaticObjectDetector>,
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn spawn(
    cfg: &Config,
    cams: &[CameraConfig],
    edits: crate::CameraEdits,
    store: Arc<dyn Sink>,
    opts: EngineOptions,
    mut feed: Option<FaceFeed>,
    mut plate_feed: Option<PlateFeed>,
    fire_feed: Option<FireFeed>,
    rx: Receiver<Analysed>,
    statuses: Vec<SharedStatus>,
    queues: Vec<Arc<FrameQueue>>,
    stats: Arc<Mutex<StageTotals>>,
    sink: SharedSink,
    latest: crate::LatestFrames,
    mut counters: Vec<Option<crate::crowd::CrowdSchedule>>,
    offence_plates: OffencePlates,
) -> JoinHandle<Result<Summary, PipelineError>> {
    let tcfg = TrackerConfig {
        max_lost: Duration::from_secs_f32(cfg.tracker.max_lost_seconds),
        min_hits: cfg.tracker.min_hits,
        ..Default::default()
    };
    let evidence_cfg = cfg.evidence.clone();
    // Clips are attached to stored events, so they need the store itself: a
    // worker (bus sink) sends images only.
    let clip_settings = ClipSettings::from_config(&evidence_cfg).filter(|_| opts.evidence);
    let clip_thread = match (clip_settings, store.central_store()) {
        (Some(cs), Some(st)) => Some(crate::clips::spawn(st, cs.max_width)),
        (Some(_), None) => {
            tracing::info!("evidence clips need the central store: this worker sends images only");
            None
        }
        _ => None,
    };
    let mut posts: Vec<CamPost> = cams
        .iter()
        .enumerate()
        .map(|(cfg_index, c)| CamPost {
            cfg_index,
            id: c.id.clone(),
            cfg: c.clone(),
            tracker: Tracker::new(tcfg.clone()),
            rules: None,
            best: HashMap::new(),
            ended_crops: HashMap::new(),
            offences: opts
                .evidence
                .then(|| {
                    OffenceRecorder::new(
                        &c.offences,
                        evidence_cfg.jpeg_quality,
                        c.plates
                            .as_ref()
                            .map_or(config::CameraPlates::default().min_vehicle_width, |p| {
                                p.min_vehicle_width
                            }),
                        offence_plates.clone(),
                        &c.id,
                        store.clone(),
                        stats.clone(),
                    )
                })
                .flatten(),
            clips: match (&clip_thread, clip_settings) {
                (Some((tx, _)), Some(cs)) => Some(ClipRecorder::new(
                    &c.id,
                    cs,
                    c.fps as f64,
                    tx.clone(),
                    opts.mode == crate::Mode::Offline,
                )),
                _ => None,
            },
            meter: RateMeter::default(),
            summary: CameraSummary {
                id: c.id.clone(),
                ..Default::default()
            },
            last_ts: Timestamp(0),
            crowd: counters.get_mut(cfg_index).and_then(Option::take),
            statics: c
                .abandoned
                .as_ref()
                .filter(|a| a.enabled && a.static_objects)
                .map(|a| {
                    vision::StaticObjectDetector::new(vision::StaticObjectConfig {
                        min_area: a.static_min_area,
                        ..Default::default()
                    })
                }),
        })
        .collect();
    std::thread::Builder::new()
        .name("post".into())
        .spawn(move || {
            let run_id = store.current_run().unwrap_or(0);
            let mut summary = Summary::default();
            let ctx = Ctx {
                store: store.as_ref(),
                run_id,
                quality: evidence_cfg.jpeg_quality,
                full_frame: evidence_cfg.full_frame,
                mask: evidence_cfg.mask_bystanders,
                evidence: opts.evidence,
                stats: &stats,
                latest: &latest,
            };
            for a in rx.iter() {
                let p = &mut posts[a.cam];
                // One uncontended lock per frame; edits are rare.
                if let Some(edited) = edits.lock().remove(&p.id) {
                    p.apply_edit(edited, &a.frame);
                }
                let events = ctx.process(
                    p,
                    a,
                    &mut summary,
                    feed.as_mut(),
                    plate_feed.as_mut(),
                    fire_feed.as_ref(),
                )?;
                let fps = p.meter.tick();
                {
                    let mut st = statuses[p.summary_index()].lock();
                    st.frames = p.summary.frames;
                    st.fps = fps;
                    st.last_frame = Some(p.last_ts);
                    st.queue_depth = queues[p.summary_index()].depth();
                    if st.state == CameraState::Connecting {
                        st.state = CameraState::Online;
                    }
                }
                metrics::gauge!("kuzet_fps", "camera" => p.id.clone()).set(fps as f64);
                metrics::gauge!("kuzet_queue_depth", "camera" => p.id.clone())
                    .set(queues[p.summary_index()].depth() as f64);
                metrics::counter!("kuzet_frames_total", "camera" => p.id.clone()).increment(1);
                metrics::counter!("kuzet_frames_dropped_total", "camera" => p.id.clone())
                    .absolute(queues[p.summary_index()].dropped());
                for e in &events {
                    *summary.events.entry(e.kind.clone()).or_default() += 1;
                    metrics::counter!("kuzet_events_total", "camera" => e.camera.clone(), "kind" => e.kind.clone())
                        .increment(1);
                }
                if !events.is_empty() {
                    if let Some(s) = sink.lock().as_mut() {
                        for e in &events {
                            s(e);
                        }
                    }
                }
            }
            // Sources ended: close every remaining track so its zones are
            // exited and its record saved.
            for p in posts.iter_mut() {
                let ended = p.tracker.finish(p.last_ts);
                if let Some(f) = feed.as_mut() {
                    let ids: Vec<u64> = ended.iter().map(|t| t.id).collect();
                    f.ended(p.cfg_index, &ids);
                }
                if let Some(f) = plate_feed.as_mut() {
                    let ids: Vec<u64> = ended.iter().map(|t| t.id).collect();
                    f.ended(p.cfg_index, &ids);
                }
                let mut events = ctx.end_tracks(p, ended, None, &mut summary)?;
                if let Some(rec) = p.offences.as_mut() {
                    let done = rec.finish()?;
                    events.extend(ctx.timed(&p.id, "store", || store.insert_events(done))?);
                }
                if let Some(c) = p.clips.as_mut() {
                    c.add_events(&events);
                    c.finish();
                }
                for e in &events {
                    *summary.events.entry(e.kind.clone()).or_default() += 1;
                    if let Some(s) = sink.lock().as_mut() {
                        s(e);
                    }
                }
            }
            // Closing the feeds lets the faces and fire threads finish their queues.
            drop(feed);
            drop(plate_feed);
            drop(fire_feed);
            store.flush()?;
            summary.cameras = posts.into_iter().map(|p| p.summary).collect();
            // The recorders (and their senders) are gone: the clips thread
            // encodes what is queued and ends, so a finished run has its clips.
            if let Some((tx, h)) = clip_thread {
                drop(tx);
                let t = Instant::now();
                if h.join().is_err() {
                    tracing::error!("the clips thread panicked");
                }
                tracing::debug!(seconds = t.elapsed().as_secs_f64(), "queued clips encoded");
            }
            summary.frames = summary.cameras.iter().map(|c| c.frames).sum();
            Ok(summary)
        })
        .expect("cannot start the post thread")
}

impl CamPost {
    fn summary_index(&self) -> usize {
        self.cfg_index
    }

    /// Takes an edited configuration of this camera: its rules change now
    /// (or are built from it on the first frame), nothing else does.
    fn apply_edit(&mut self, edited: CameraConfig, frame: &Frame) {
        tracing::info!(camera = %self.id, zones = edited.zones.len(), lines = edited.lines.len(), "applying edited zones and lines");
        self.cfg = edited;
        if let Some(r) = self.rules.as_mut() {
            r.reconfigure(&self.cfg, frame.width, frame.height);
        }
    }
}

struct Ctx<'a> {
    store: &'a dyn Sink,
    run_id: i64,
    quality: u8,
    full_frame: bool,
    /// Mask heads and bystanders' plates in stored evidence
    /// (`[evidence] mask_bystanders`).
    mask: bool,
    evidence: bool,
    stats: &'a Mutex<StageTotals>,
    latest: &'a crate::LatestFrames,
}

impl Ctx<'_> {
    fn timed<T>(&self, cam: &str, stage: &'static str, f: impl FnOnce() -> T) -> T {
        let t = Instant::now();
        let r = f();
        let d = t.elapsed();
        self.stats.lock().add(stage, d);
        metrics::histogram!("kuzet_stage_seconds", "camera" => cam.to_string(), "stage" => stage)
            .record(d.as_secs_f64());
        r
    }

    fn process(
        &self,
        p: &mut CamPost,
        a: Analysed,
        summary: &mut Summary,
        feed: Option<&mut FaceFeed>,
        plate_feed: Option<&mut PlateFeed>,
        fire_feed: Option<&FireFeed>,
    ) -> Result<Vec<Event>, PipelineError> {
        let frame = a.frame;
        p.summary.frames += 1;
        if !matches!(a.coverage, track::Coverage::None) {
            let mut per: HashMap<&str, u64> = HashMap::new();
            for d in &a.detections {
                *per.entry(&d.label).or_default() += 1;
            }
            for (label, n) in per {
                *summary.detections.entry(label.to_string()).or_default() += n;
                let peak = summary.peak.entry(label.to_string()).or_default();
                *peak = (*peak).max(n);
            }
        }
        p.last_ts = frame.ts;
        match &a.coverage {
            track::Coverage::None => p.summary.skipped_frames += 1,
            _ => p.summary.detected_frames += 1,
        }
        if p.rules.is_none() {
            p.tracker.set_frame_size(frame.width, frame.height);
            p.rules = Some(RuleEngine::new(&p.cfg, frame.width, frame.height));
        }
        let id = p.id.clone();
        let upd = self.timed(&id, "track", || {
            p.tracker.update(frame.ts, &a.detections, &a.coverage)
        });
        // Everyone in the frame: people and vehicles detected now and those
        // the tracker still follows (coasting through a missed detection).
        // It travels with the frame to every thread that stores it, so each
        // masks the bystanders of its own record.
        let bystanders: SharedBystanders = if self.evidence && self.mask {
            Arc::new(Bystanders::new(
                upd.active.iter().map(|s| (s.id, &*s.label, s.bbox)),
                a.detections.iter().map(|d| (&*d.label, d.bbox)),
            ))
        } else {
            SharedBystanders::default()
        };
        // The post thread's own pictures (event crops and frames, best
        // crops, clips) are about no one: zone, loitering, crowd and
        // abandoned-object events mask every head and every plate.
        let masked: Vec<base::BBox> = bystanders.regions(&Subject::Nobody);
        if let Some(f) = fire_feed {
            f.offer(a.cam, &frame, &bystanders);
        }
        let ready = match p.offences.as_mut() {
            Some(rec) => self.timed(&id, "evidence", || rec.push_frame(&frame, &bystanders))?,
            None => Vec::new(),
        };
        if let Some(c) = p.clips.as_mut() {
            c.push_frame(&frame, &masked);
        }
        if self.evidence {
            for s in upd.active.iter().filter(|s| s.is_new_best) {
                let area = s.bbox.expand(0.1);
                if let Some((rgb, width, height)) = frame_crop(&frame, area) {
                    let a = area.clamp(frame.width as f32, frame.height as f32);
                    let (x0, y0) = (a.x1.floor(), a.y1.floor());
                    let masked = masked
                        .iter()
                        .map(|h| base::BBox::new(h.x1 - x0, h.y1 - y0, h.x2 - x0, h.y2 - y0))
                        .collect();
                    p.best.insert(
                        s.id,
                        BestView {
                            rgb,
                            width,
                            height,
                            masked,
                        },
                    );
                }
            }
        }
        let objects: Vec<ObjectState<'_>> = upd
            .active
            .iter()
            .filter(|s| s.state == TrackState::Confirmed)
            .map(|s| ObjectState {
                track_id: s.id,
                label: &s.label,
                bbox: s.bbox,
                score: s.score,
            })
            .collect();
        crate::keep_latest(self.latest, &frame, &objects);
        let ended_ids: Vec<u64> = upd.ended.iter().map(|t| t.id).collect();
        if let Some(f) = feed {
            f.offer(
                p.cfg_index,
                &frame,
                &bystanders,
                objects
                    .iter()
                    .filter(|o| o.label == "person")
                    .map(|o| (o.track_id, o.bbox)),
            );
            f.ended(p.cfg_index, &ended_ids);
        }
        if let Some(f) = plate_feed {
            if f.is_snapshot(p.cfg_index) {
                // Still images: each vehicle detection is a one-frame track
                // (the tracker would need a second sighting to confirm it).
                if !matches!(a.coverage, track::Coverage::None) {
                    f.offer_snapshot(
                        p.cfg_index,
                        &frame,
                        &bystanders,
                        a.detections.iter().map(|d| (&*d.label, d.score, d.bbox)),
                    );
                }
            } else {
                f.offer(
                    p.cfg_index,
                    &frame,
                    &bystanders,
                    objects.iter().map(|o| (o.track_id, o.label, o.bbox)),
                );
                f.ended(p.cfg_index, &ended_ids);
            }
        }
        let rules = p.rules.as_mut().expect("rules created above");
        if let Some(cs) = p.crowd.as_mut().filter(|_| rules.has_crowd_rules()) {
            let counted = self.timed(&id, "crowd", || cs.maybe_count(&frame))?;
            if let Some(people) = counted {
                rules.set_crowd_count(people);
            }
        }
        if let Some(sd) = p.statics.as_mut() {
            // Every track (coasting ones too) explains its pixels: people,
            // vehicles, and bags, which the tracked path already handles.
            let known: Vec<base::BBox> = upd.active.iter().map(|s| s.bbox).collect();
            let blobs = self.timed(&id, "static", || {
                sd.update(&frame, &known)
                    .iter()
                    .map(|b| analytics::StaticObject {
                        id: b.id,
                        bbox: b.bbox,
                        since: b.since,
                    })
                    .collect::<Vec<_>>()
            });
            rules.set_static_objects(blobs);
        }
        let mut events = self.timed(&id, "rules", || {
            // Traffic-light regions are read from the pixels of each frame.
            if rules.wants_frames() {
                rules.observe_frame(&frame);
            }
            rules.update(frame.ts, &objects, &ended_ids)
        });
        // Offences wait in the recorder for the frames after their moment.
        if let Some(rec) = p.offences.as_mut() {
            let mut kept = Vec::with_capacity(events.len());
            for e in events.drain(..) {
                match EvidenceRequest::from_event(&e) {
                    Some(req) => self.timed(&id, "evidence", || rec.add(e, req))?,
                    None => kept.push(e),
                }
            }
            events = kept;
        }
        // Events about ended tracks get the track's best crop, the others a
        // crop of the current frame.
        let (live, ended_events): (Vec<Event>, Vec<Event>) = events
            .drain(..)
            .partition(|e| !e.track_id.is_some_and(|t| ended_ids.contains(&t)));
        let mut live = live;
        if self.evidence {
            self.attach_owner_crops(p, &mut live)?;
        }
        let mut out = self.store_events(&id, live, Some((&frame, &masked)))?;
        if !ready.is_empty() {
            out.extend(self.timed(&id, "store", || self.store.insert_events(ready))?);
        }
        out.extend(self.end_tracks(p, upd.ended, Some(ended_events), summary)?);
        if let Some(c) = p.clips.as_mut() {
            c.add_events(&out);
        }
        Ok(out)
    }

    /// Saves the final record (and best crop) of ended tracks, then stores the
    /// events about them (rules' exits, or from `finish` none yet).
    fn end_tracks(
        &self,
        p: &mut CamPost,
        ended: Vec<Track>,
        events: Option<Vec<Event>>,
        summary: &mut Summary,
    ) -> Result<Vec<Event>, PipelineError> {
        let mut events = match events {
            Some(e) => e,
            None => {
                let ids: Vec<u64> = ended.iter().map(|t| t.id).collect();
                match p.rules.as_mut() {
                    Some(r) if !ids.is_empty() => r.update(p.last_ts, &[], &ids),
                    _ => Vec::new(),
                }
            }
        };
        if ended.is_empty() {
            return Ok(Vec::new());
        }
        let id = p.id.clone();
        let mut records = Vec::new();
        for t in ended {
            p.summary.tracks += 1;
            *summary.tracks.entry(t.label.to_string()).or_default() += 1;
            let best_crop = match p.best.remove(&t.id) {
                Some(v) if self.evidence => Some(self.timed(&id, "store", || {
                    self.store.save_evidence_masked(
                        &v.rgb,
                        v.width,
                        v.height,
                        None,
                        self.quality,
                        &v.masked,
                    )
                })?),
                _ => None,
            };
            if let Some(h) = &best_crop {
                if p.ended_crops.len() >= OWNER_CROPS_MAX {
                    p.ended_crops.clear();
                }
                p.ended_crops.insert(t.id, h.clone());
            }
            for e in events.iter_mut().filter(|e| e.track_id == Some(t.id)) {
                e.evidence = best_crop.clone();
            }
            records.push(TrackRecord {
                run_id: self.run_id,
                camera: id.clone(),
                track_id: t.id,
                label: Some(t.label.to_string()),
                first_seen: t.first_seen,
                last_seen: t.last_seen,
                frames: t.hits as u64,
                best_score: t.max_score,
                best_crop,
                trajectory: t
                    .trajectory
                    .iter()
                    .map(|(ts, pt)| TrajectoryPoint {
                        ts: *ts,
                        x: pt.x,
                        y: pt.y,
                    })
                    .collect(),
            });
        }
        self.timed(&id, "store", || self.store.upsert_tracks(records))?;
        self.store_events(&id, events, None)
    }

    /// Events naming an owner (`details.owner_track_id`, abandoned objects)
    /// get the owner's best crop as `details.owner_evidence`: the owner has
    /// usually left the frame, so the current frame cannot show them.
    fn attach_owner_crops(&self, p: &CamPost, events: &mut [Event]) -> Result<(), PipelineError> {
        for e in events.iter_mut() {
            let Some(owner) = e.details.get("owner_track_id").and_then(|v| v.as_u64()) else {
                continue;
            };
            let hash = match (p.best.get(&owner), p.ended_crops.get(&owner)) {
                (Some(v), _) => Some(self.timed(&p.id, "store", || {
                    self.store.save_evidence_masked(
                        &v.rgb,
                        v.width,
                        v.height,
                        None,
                        self.quality,
                        &v.masked,
                    )
                })?),
                (None, Some(h)) => Some(h.clone()),
                (None, None) => None,
            };
            if let (Some(h), serde_json::Value::Object(m)) = (hash, &mut e.details) {
                m.insert("owner_evidence".into(), h.into());
            }
        }
        Ok(())
    }

    /// Attaches evidence from `frame` and commits; returns the acknowledged
    /// events (with ids).
    fn store_events(
        &self,
        cam: &str,
        mut events: Vec<Event>,
        frame: Option<(&Frame, &[base::BBox])>,
    ) -> Result<Vec<Event>, PipelineError> {
        if events.is_empty() {
            return Ok(events);
        }
        self.timed(cam, "store", || {
            if let (true, Some((frame, masked))) = (self.evidence, frame) {
                let mut full_hash: Option<String> = None;
                for e in events.iter_mut() {
                    if let Some(b) = e.bbox {
                        let crop = b
                            .expand(0.15)
                            .clamp(frame.width as f32, frame.height as f32);
                        e.evidence = Some(self.store.save_evidence_masked(
                            &frame.rgb,
                            frame.width,
                            frame.height,
                            Some(crop),
                            self.quality,
                            masked,
                        )?);
                    }
                    if self.full_frame {
                        if full_hash.is_none() {
                            full_hash = Some(self.store.save_evidence_masked(
                                &frame.rgb,
                                frame.width,
                                frame.height,
                                None,
                                self.quality,
                                masked,
                            )?);
                        }
                        if let serde_json::Value::Object(m) = &mut e.details {
                            m.insert("frame_evidence".into(), full_hash.clone().into());
                        }
                    }
                }
            }
            self.store.insert_events(events)
        })
    }
}
