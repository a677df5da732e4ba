//! `kuzet simulate`: synthetic camera traffic through the real bus and the
//! real central ingest, to measure what one broker and one store take.
//!
//! Nothing here is a mock: simulated workers publish with [`BusSink`] (the
//! worker's own publisher: bounded queue, in-flight window, retry with the
//! same id) to a running `nats-server`, and the production [`Ingest`] (what
//! `kuzet serve --bus` runs) consumes the stream into a [`Store`]. Only the
//! camera analysis is replaced: instead of decoding and detecting, each
//! simulated camera emits events, tracks, plate reads and their evidence JPEGs
//! at the rates measured on real clips (docs/scale.md §1.2, see [`Profile`]).
//!
//! At the end every generated event and plate read is looked up in the store:
//! the report counts what was lost or stored twice (both must be 0).

use crate::{Bus, BusError, BusSink, CommitObserver, Committed, Ingest, Nats, NatsConfig};
use crate::{SinkConfig, SinkStats};
use base::{BBox, Event, Shutdown, Timestamp};
use parking_lot::Mutex;
use pipeline::{PlateObservation, Sink};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{EvidenceBlobs, KeyedTable, Store, StoreBackend, TrackRecord, TrajectoryPoint};

/// What one simulated camera produces per event, from the measured clips of
/// docs/scale.md §1.2 (`kuzet analyze` at 5 analysed fps on the walkway
/// camera: 3,980 events, 1,990 tracks per camera-hour; 119 events had 100
/// whole frames; plate reads: the capacity model's 500 per camera-hour
/// against the walkway's event rate).
#[derive(Clone, Debug, Serialize)]
pub struct Profile {
    /// Events per second per camera (`--rate`); the measured busy camera
    /// (walkway) is 3,980 / h = 1.1 / s.
    pub events_per_s: f64,
    /// Track summaries per event: 1,990 / 3,980.
    pub tracks_per_event: f64,
    /// Whole-frame JPEGs per event: 100 / 119 (frames shared between events
    /// of the same instant).
    pub frames_per_event: f64,
    /// Plate reads per event: 500 / 3,980.
    pub plates_per_event: f64,
    /// Face sightings per event (`--faces-per-event`, default 0): the
    /// capacity model's face cameras see 1,000 per camera-hour, 0.25 per
    /// event of the busy camera. Each is a random 512-d embedding and a
    /// face crop, matched and stored (sealed) by the central face service.
    pub faces_per_event: f64,
    /// Mean JPEG sizes measured there (bytes): object crop, track best crop,
    /// whole 768×576 frame, plate crop.
    pub crop_bytes: usize,
    pub track_crop_bytes: usize,
    pub frame_bytes: usize,
    pub plate_crop_bytes: usize,
    /// Mean face crop: 6.3 KB (stage clip, docs/scale.md §1.2).
    pub face_crop_bytes: usize,
}

impl Profile {
    /// The measured busy camera at `events_per_s` events per second.
    pub fn measured(events_per_s: f64) -> Self {
        Profile {
            events_per_s,
            tracks_per_event: 1990.0 / 3980.0,
            frames_per_event: 100.0 / 119.0,
            plates_per_event: 500.0 / 3980.0,
            faces_per_event: 0.0,
            crop_bytes: 2_900,
            track_crop_bytes: 3_600,
            frame_bytes: 79_000,
            plate_crop_bytes: 1_000,
            face_crop_bytes: 6_300,
        }
    }
}

/// A simulation run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The broker, `nats://host:port`.
    pub url: String,
    pub cameras: usize,
    /// Simulated workers (each its own connection and publisher); cameras
    /// are spread over them.
    pub workers: usize,
    pub seconds: f64,
    pub profile: Profile,
    /// Each worker's publish queue (records) and in-flight window.
    pub publish_queue: usize,
    pub in_flight: usize,
    /// How long to wait after publishing for the ingest to store everything.
    pub drain_timeout: Duration,
}

impl SimConfig {
    pub fn new(url: impl Into<String>, cameras: usize, rate: f64, seconds: f64) -> Self {
        let d = SinkConfig::default();
        SimConfig {
            url: url.into(),
            cameras,
            workers: 1,
            seconds,
            profile: Profile::measured(rate),
            publish_queue: d.queue,
            in_flight: d.in_flight,
            drain_timeout: Duration::from_secs(120),
        }
    }

    fn validate(&self) -> Result<(), BusError> {
        let bad = |m: String| Err(BusError::Invalid(m));
        if self.cameras == 0 || self.cameras > 100_000 {
            return bad(format!("--cameras {}: expected 1 to 100000", self.cameras));
        }
        if self.workers == 0 || self.workers > self.cameras.min(64) {
            return bad(format!(
                "--workers {}: expected 1 to min(cameras, 64)",
                self.workers
            ));
        }
        let r = self.profile.events_per_s;
        if !(r > 0.0 && r <= 1000.0) {
            return bad(format!(
                "--rate {r}: expected events per second per camera, above 0 and at most 1000"
            ));
        }
        let f = self.profile.faces_per_event;
        if !(0.0..=100.0).contains(&f) {
            return bad(format!(
                "--faces-per-event {f}: expected face sightings per event, 0 to 100"
            ));
        }
        if !(self.seconds > 0.0 && self.seconds <= 86_400.0) {
            return bad(format!(
                "--seconds {}: expected above 0 and at most 86400",
                self.seconds
            ));
        }
        Ok(())
    }
}

/// Latency percentiles in milliseconds.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    fn of(mut v: Vec<f64>) -> Self {
        if v.is_empty() {
            return Latency::default();
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| v[((v.len() - 1) as f64 * p).round() as usize];
        Latency {
            count: v.len(),
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            max_ms: v[v.len() - 1],
        }
    }
}

/// What a run measured (`kuzet simulate --json` prints it).
#[derive(Clone, Debug, Serialize)]
pub struct SimReport {
    /// Where events, tracks and plate reads were stored: `sqlite` or
    /// `postgres` (`kuzet simulate --database`).
    pub backend: &'static str,
    /// Where evidence went: `local` or the blob store's name (`s3`).
    pub evidence_store: &'static str,
    pub cameras: usize,
    pub workers: usize,
    pub seconds: f64,
    pub profile: Profile,
    /// Target: events per second over all cameras.
    pub target_events_per_s: f64,
    /// Generated and handed to the publishers.
    pub events: u64,
    pub plate_reads: u64,
    /// Face sightings generated (0 unless `--faces-per-event`).
    pub sightings: u64,
    pub tracks: u64,
    pub evidence: u64,
    /// Items the cameras did not emit because their publisher was blocked
    /// for more than a second (live cameras drop frames then).
    pub shed: u64,
    /// Messages and payload bytes the broker acknowledged.
    pub messages_acked: u64,
    pub bytes_acked: u64,
    /// From the first publish until the last broker acknowledgement.
    pub publish_s: f64,
    pub publish_events_per_s: f64,
    pub publish_messages_per_s: f64,
    pub publish_bytes_per_s: f64,
    pub publish_bytes_per_s_per_camera: f64,
    /// Stored by the ingest (committed, then acknowledged).
    pub ingested_messages: u64,
    pub stored_events: u64,
    pub stored_plate_reads: u64,
    /// Sighting messages the central face service handled.
    pub stored_sightings: u64,
    /// Redeliveries the ingest absorbed (not errors).
    pub redelivered_events: u64,
    /// From the first publish until the last generated record was stored.
    pub ingest_s: f64,
    pub ingest_events_per_s: f64,
    pub ingest_messages_per_s: f64,
    /// After the publishers finished, until everything was stored.
    pub drain_s: f64,
    /// Consumer lag (messages in the stream not yet acknowledged by the
    /// ingest), highest seen and at the end of publishing.
    pub max_pending: u64,
    pub pending_at_publish_end: u64,
    /// Times a publisher's queue was full (the camera had to wait), and
    /// publishes retried (refused or unanswered by the broker).
    pub queue_full: u64,
    pub publish_retries: u64,
    /// Publishes the broker acknowledged as duplicates of a message id it
    /// already had, so it did not store them again. Every id of a run is
    /// unique to that run, so these are only retries whose first attempt
    /// was stored (a PubAck that came too late).
    pub publish_duplicates: u64,
    /// Messages the broker stored in the stream during the run (its last
    /// sequence moved by this much): `messages_acked - publish_duplicates`
    /// when nothing else publishes to the broker.
    pub stream_stored: u64,
    /// Messages the ingest committed to the store and then acknowledged
    /// (redeliveries count again), and how many deliveries were
    /// redeliveries.
    pub committed_messages: u64,
    pub redelivered_messages: u64,
    /// Handed to the publisher → committed in the store and acknowledged.
    pub event_latency: Latency,
    pub plate_latency: Latency,
    pub sighting_latency: Latency,
    pub evidence_latency: Latency,
    pub undecodable: u64,
    pub store_failures: u64,
    /// Generated events (or plate reads) missing from the store after the
    /// run, and stored more than once. Both must be 0.
    pub lost_events: u64,
    pub duplicate_events: u64,
    pub lost_plate_reads: u64,
    pub duplicate_plate_reads: u64,
    pub lost_sightings: u64,
    pub duplicate_sightings: u64,
    /// Stored events with a message id this run did not generate.
    pub foreign_events: u64,
    /// Generated evidence whose file is not in the store.
    pub missing_evidence: u64,
    /// Ran out of `drain_timeout` before everything was stored.
    pub drain_timed_out: bool,
}

impl SimReport {
    /// Nothing acknowledged was lost or stored twice.
    pub fn clean(&self) -> bool {
        self.lost_events == 0
            && self.duplicate_events == 0
            && self.lost_plate_reads == 0
            && self.duplicate_plate_reads == 0
            && self.lost_sightings == 0
            && self.duplicate_sightings == 0
            && self.missing_evidence == 0
            && self.foreign_events == 0
            && !self.drain_timed_out
    }
}

/// Ready-made JPEGs of the measured sizes; each use appends a unique trailer
/// after the end-of-image marker (decoders ignore it), so every crop is a
/// distinct, valid, content-addressed JPEG of realistic size without
/// encoding one per message.
struct Jpegs {
    crop: (Vec<u8>, u32, u32),
    track_crop: (Vec<u8>, u32, u32),
    frame: (Vec<u8>, u32, u32),
    plate: (Vec<u8>, u32, u32),
    face: (Vec<u8>, u32, u32),
}

/// A small deterministic generator (xorshift64*): the simulation needs
/// texture and jitter, not cryptographic randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// A textured image (gradient plus noise) encoded at the quality whose size
/// comes closest to `target` bytes.
fn jpeg_near(w: u32, h: u32, target: usize, seed: u64) -> Result<(Vec<u8>, u32, u32), BusError> {
    let mut rng = Rng(seed | 1);
    let mut best: Option<(Vec<u8>, u32, u32)> = None;
    for noise in [8u64, 24, 64] {
        let mut rgb = Vec::with_capacity((w * h * 3) as usize);
        for y in 0..h {
            for x in 0..w {
                for c in 0..3u32 {
                    let base = (x * 255 / w.max(1) + y * 255 / h.max(1) + c * 60) % 256;
                    let n = rng.next() % (noise + 1);
                    rgb.push((base as u64 + n).min(255) as u8);
                }
            }
        }
        for q in [95u8, 90, 85, 75, 60, 45, 30] {
            let j = store::encode_jpeg(&rgb, w, h, None, q)?;
            let closer = best
                .as_ref()
                .is_none_or(|b| j.0.len().abs_diff(target) < b.0.len().abs_diff(target));
            if closer {
                best = Some(j);
            }
        }
    }
    best.ok_or_else(|| BusError::Decode("no JPEG encoded".into()))
}

impl Jpegs {
    fn new(p: &Profile) -> Result<Self, BusError> {
        Ok(Jpegs {
            crop: jpeg_near(64, 128, p.crop_bytes, 1)?,
            track_crop: jpeg_near(72, 144, p.track_crop_bytes, 2)?,
            frame: jpeg_near(768, 576, p.frame_bytes, 3)?,
            plate: jpeg_near(160, 40, p.plate_crop_bytes, 4)?,
            face: jpeg_near(112, 112, p.face_crop_bytes, 5)?,
        })
    }
}

fn unique(j: &(Vec<u8>, u32, u32), tag: &str) -> (Vec<u8>, u32, u32) {
    let mut b = j.0.clone();
    b.extend_from_slice(tag.as_bytes());
    (b, j.1, j.2)
}

/// What the generators and the ingest observer share.
struct Tracking {
    /// msg id → when it was handed to the publisher.
    sent: Mutex<HashMap<String, Instant>>,
    event_lat: Mutex<Vec<f64>>,
    plate_lat: Mutex<Vec<f64>>,
    sighting_lat: Mutex<Vec<f64>>,
    evidence_lat: Mutex<Vec<f64>>,
    /// Generated records still to be stored (events, plate reads,
    /// sightings).
    outstanding: AtomicU64,
    /// Messages the ingest committed and acknowledged (any subject).
    committed: AtomicU64,
    last_commit: Mutex<Option<Instant>>,
}

/// Distinguishes one run's content from every other's (time and process).
fn run_nonce() -> u64 {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    ns ^ (u64::from(std::process::id()) << 40)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

const KINDS: [(&str, &str); 4] = [
    ("zone_enter", "entrance"),
    ("line_cross", "gate-line"),
    ("zone_exit", "entrance"),
    ("loitering", "entrance"),
];

/// What one simulated worker generated.
#[derive(Default)]
struct Generated {
    events: Vec<String>,
    plate_reads: Vec<String>,
    sightings: Vec<String>,
    evidence: Vec<String>,
    tracks: u64,
    shed: u64,
}

/// One simulated worker: emits its cameras' traffic for `seconds`, then
/// waits until the broker acknowledged all of it.
#[allow(clippy::too_many_arguments)]
fn generate(
    run: u64,
    wi: usize,
    cameras: Vec<String>,
    sink: Arc<BusSink>,
    cfg: &SimConfig,
    jpegs: &Jpegs,
    tracking: &Tracking,
    face_model: Option<&str>,
) -> Result<Generated, BusError> {
    let p = &cfg.profile;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ run ^ (wi as u64 + 1));
    let mut g = Generated::default();
    let sink_err = |e: pipeline::PipelineError| BusError::Nats(e.to_string());
    sink.begin_run().map_err(sink_err)?;
    for c in &cameras {
        sink.upsert_camera(
            c,
            c,
            "simulated://",
            &serde_json::json!({"simulated": true}),
        )
        .map_err(sink_err)?;
    }
    // Per camera: accumulated events, tracks and plate reads due; a random
    // phase so cameras do not fire in lockstep.
    let mut due: Vec<[f64; 4]> = cameras
        .iter()
        .map(|_| [rng.unit(), rng.unit(), rng.unit(), rng.unit()])
        .collect();
    let mut next_track: Vec<u64> = vec![1; cameras.len()];
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(cfg.seconds);
    let tick = Duration::from_millis(20);
    let mut last = start;
    let mut seq: u64 = 0;
    // The run is part of every tag: JPEG bytes, hence evidence hashes and
    // message ids, are never repeated by a later run. (They were, once: a
    // second run within the broker's dedupe window got its evidence
    // acknowledged as duplicates of the first run's, not stored, and missing
    // from its own store — docs/scale.md §4.)
    let mut tag = |kind: &str| {
        seq += 1;
        format!("sim:{run:016x}:{wi}:{seq}:{kind}")
    };
    while Instant::now() < end {
        let now = Instant::now();
        let dt = now.duration_since(last).as_secs_f64();
        last = now;
        let rates = [
            p.events_per_s,
            p.events_per_s * p.tracks_per_event,
            p.events_per_s * p.plates_per_event,
            if face_model.is_some() {
                p.events_per_s * p.faces_per_event
            } else {
                0.0
            },
        ];
        for (ci, cam) in cameras.iter().enumerate() {
            for k in 0..4 {
                due[ci][k] += rates[k] * dt;
                // More than a second behind: the publisher blocked the
                // camera; a live camera would have dropped those frames.
                let cap = rates[k].max(1.0);
                if due[ci][k] > cap + 1.0 {
                    let excess = (due[ci][k] - cap).floor();
                    g.shed += excess as u64;
                    due[ci][k] -= excess;
                }
            }
            let ts = Timestamp::from_millis(now_ms());
            while due[ci][0] >= 1.0 {
                due[ci][0] -= 1.0;
                let (kind, rule) = KINDS[(rng.next() % KINDS.len() as u64) as usize];
                let crop = unique(&jpegs.crop, &tag("crop"));
                let crop_hash = store::sha256_hex(&crop.0);
                tracking
                    .sent
                    .lock()
                    .insert(crate::evidence_msg_id(&crop_hash), Instant::now());
                sink.publish_evidence(crop.0, crop.1, crop.2)
                    .map_err(sink_err)?;
                g.evidence.push(crop_hash.clone());
                let mut details = serde_json::json!({
                    "direction": if rng.next().is_multiple_of(2) { "in" } else { "out" },
                    "dwell_s": (rng.unit() * 30.0 * 10.0).round() / 10.0,
                    "simulated": true,
                    "sim_run": format!("{run:016x}"),
                });
                if rng.unit() < p.frames_per_event {
                    let f = unique(&jpegs.frame, &tag("frame"));
                    let fh = store::sha256_hex(&f.0);
                    tracking
                        .sent
                        .lock()
                        .insert(crate::evidence_msg_id(&fh), Instant::now());
                    sink.publish_evidence(f.0, f.1, f.2).map_err(sink_err)?;
                    details["frame_evidence"] = fh.clone().into();
                    g.evidence.push(fh);
                }
                let mut e = Event::new(cam.as_str(), kind, ts);
                e.track_id = Some(next_track[ci]);
                e.label = Some("person".into());
                e.rule = Some(rule.into());
                let x = (rng.unit() * 600.0) as f32;
                let y = (rng.unit() * 400.0) as f32;
                e.bbox = Some(BBox::new(x, y, x + 64.0, y + 128.0));
                e.score = 0.5 + 0.5 * rng.unit() as f32;
                e.details = details;
                e.evidence = Some(crop_hash);
                let id = crate::event_msg_id(&e);
                tracking.sent.lock().insert(id.clone(), Instant::now());
                tracking.outstanding.fetch_add(1, Ordering::Relaxed);
                g.events.push(id);
                sink.insert_events(vec![e]).map_err(sink_err)?;
            }
            while due[ci][1] >= 1.0 {
                due[ci][1] -= 1.0;
                let tc = unique(&jpegs.track_crop, &tag("track"));
                let th = store::sha256_hex(&tc.0);
                sink.publish_evidence(tc.0, tc.1, tc.2).map_err(sink_err)?;
                g.evidence.push(th.clone());
                let t0 = ts.millis() - 8_000;
                let trajectory = (0..35)
                    .map(|i| TrajectoryPoint {
                        ts: Timestamp::from_millis(t0 + i * 230),
                        x: (100 + i * 12) as f32,
                        y: (200 + i * 5) as f32,
                    })
                    .collect();
                sink.upsert_tracks(vec![TrackRecord {
                    run_id: 0,
                    camera: cam.clone(),
                    track_id: next_track[ci],
                    label: Some("person".into()),
                    first_seen: Timestamp::from_millis(t0),
                    last_seen: ts,
                    frames: 40,
                    best_score: 0.9,
                    best_crop: Some(th),
                    trajectory,
                }])
                .map_err(sink_err)?;
                next_track[ci] += 1;
                g.tracks += 1;
            }
            while due[ci][2] >= 1.0 {
                due[ci][2] -= 1.0;
                let mut hashes = Vec::new();
                for (j, k) in [
                    (&jpegs.plate, "plate"),
                    (&jpegs.track_crop, "vehicle"),
                    (&jpegs.frame, "pframe"),
                ] {
                    let b = unique(j, &tag(k));
                    let h = store::sha256_hex(&b.0);
                    sink.publish_evidence(b.0, b.1, b.2).map_err(sink_err)?;
                    g.evidence.push(h.clone());
                    hashes.push(h);
                }
                let n = rng.next();
                let plate = format!(
                    "S{}{:06}",
                    (b'A' + (n % 26) as u8) as char,
                    (n >> 8) % 1_000_000
                );
                let obs = PlateObservation {
                    read: store::NewPlateRead {
                        camera: cam.clone(),
                        run_id: None,
                        track_id: Some(1_000_000 + next_track[ci]),
                        first_seen: Timestamp::from_millis(ts.millis() - 2_000),
                        last_seen: ts,
                        plate: plate.clone(),
                        raw_text: plate,
                        format: Some("eu".into()),
                        country: Some("eu".into()),
                        confidence: 0.9,
                        votes: 5,
                        agreeing: 4,
                        vehicle_type: Some("car".into()),
                        colour: Some("white".into()),
                        plate_crop: Some(hashes[0].clone()),
                        vehicle_crop: Some(hashes[1].clone()),
                        frame: Some(hashes[2].clone()),
                        hotlist_hits: 0,
                    },
                    plate_box: BBox::new(300.0, 400.0, 420.0, 430.0),
                    ts,
                };
                let id = crate::plate_msg_id(&obs);
                tracking.sent.lock().insert(id.clone(), Instant::now());
                tracking.outstanding.fetch_add(1, Ordering::Relaxed);
                g.plate_reads.push(id);
                sink.publish_plate_read(obs).map_err(sink_err)?;
                next_track[ci] += 1;
            }
            while due[ci][3] >= 1.0 {
                due[ci][3] -= 1.0;
                let Some(model) = face_model else { break };
                let crop = unique(&jpegs.face, &tag("face"));
                let h = store::sha256_hex(&crop.0);
                sink.publish_evidence(crop.0, crop.1, crop.2)
                    .map_err(sink_err)?;
                g.evidence.push(h.clone());
                // A random unit vector: matches nobody (an empty or real
                // watchlist alike), so it is stored as an unmatched sighting.
                let mut v: Vec<f32> = (0..512).map(|_| rng.unit() as f32 - 0.5).collect();
                let n = v.iter().map(|x| x * x).sum::<f32>().sqrt().max(1e-6);
                v.iter_mut().for_each(|x| *x /= n);
                let x = (rng.unit() * 600.0) as f32;
                let obs = pipeline::FaceObservation {
                    camera: cam.clone(),
                    track_id: 2_000_000 + next_track[ci],
                    ts,
                    model: model.to_owned(),
                    embedding: v,
                    face_box: BBox::new(x, 100.0, x + 40.0, 150.0),
                    quality: 0.8,
                    crop: Some(h),
                };
                let id = crate::sighting_msg_id(&obs);
                tracking.sent.lock().insert(id.clone(), Instant::now());
                tracking.outstanding.fetch_add(1, Ordering::Relaxed);
                g.sightings.push(id);
                sink.publish_face_sighting(obs).map_err(sink_err)?;
                next_track[ci] += 1;
            }
        }
        let spent = now.elapsed();
        if spent < tick {
            std::thread::sleep(tick - spent);
        }
    }
    // Everything handed over is acknowledged by the broker when this returns.
    sink.flush().map_err(sink_err)?;
    Ok(g)
}

/// Of the generated message ids, how many have no stored row, and how many
/// stored keys have more than one.
fn lost_and_duplicated(generated: &[String], stored: &[String]) -> (u64, u64) {
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for k in stored {
        *seen.entry(k.as_str()).or_default() += 1;
    }
    let lost = generated
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count() as u64;
    (lost, seen.values().filter(|&&n| n > 1).count() as u64)
}

/// Runs a simulation against the broker at `cfg.url`, ingesting into `store`.
///
/// The broker must be one the simulation may consume from: it binds the
/// production stream and durable consumer (`KUZET`, `kuzet-ingest`), so a
/// `kuzet serve --bus` on the same broker would take part of its messages.
/// It refuses to start when that consumer already has a backlog.
pub fn simulate(cfg: &SimConfig, store: Arc<Store>) -> Result<SimReport, BusError> {
    simulate_with_faces(cfg, store, None, None)
}

/// Where `kuzet serve --bus --database` stores what the ingest writes:
/// the data backend (PostgreSQL) and the evidence blob store beside it.
/// The SQLite store given with it keeps hotlists, watchlists and sightings.
pub type CentralStores = (Arc<dyn StoreBackend>, Arc<dyn EvidenceBlobs>);

/// [`simulate`] with face sightings (`cfg.profile.faces_per_event`) matched
/// and stored by `faces`, the central matcher `kuzet serve` runs, and with
/// `central` the ingest writes there as `kuzet serve --database` does
/// (events, tracks and plate reads; evidence to its blob store).
pub fn simulate_with_faces(
    cfg: &SimConfig,
    store: Arc<Store>,
    central: Option<CentralStores>,
    faces: Option<pipeline::FaceMatcher>,
) -> Result<SimReport, BusError> {
    cfg.validate()?;
    if cfg.profile.faces_per_event > 0.0 && faces.is_none() {
        return Err(BusError::Invalid(
            "--faces-per-event needs the central face service (face models)".into(),
        ));
    }
    let face_model = faces.as_ref().map(|f| f.model_key().to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| BusError::Nats(format!("runtime: {e}")))?;
    let connect = |name: String| {
        let mut n = NatsConfig::new(&cfg.url);
        n.leases = false;
        n.client_name = name;
        rt.block_on(Nats::connect(n)).map(Arc::new)
    };
    let ingest_bus = connect("kuzet-simulate-ingest".into())?;
    let backlog = rt.block_on(ingest_bus.pending())?;
    if backlog > 0 {
        return Err(BusError::Nats(format!(
            "the stream already holds {backlog} messages not yet ingested: run `kuzet simulate` \
             against a broker of its own (it consumes as the production ingest, kuzet-ingest)"
        )));
    }
    let jpegs = Jpegs::new(&cfg.profile)?;
    let run = run_nonce();
    let stream_seq_at_start = rt.block_on(ingest_bus.stream_last_sequence())?;

    let tracking = Arc::new(Tracking {
        sent: Mutex::new(HashMap::new()),
        event_lat: Mutex::new(Vec::new()),
        plate_lat: Mutex::new(Vec::new()),
        sighting_lat: Mutex::new(Vec::new()),
        evidence_lat: Mutex::new(Vec::new()),
        outstanding: AtomicU64::new(0),
        committed: AtomicU64::new(0),
        last_commit: Mutex::new(None),
    });
    let observer: CommitObserver = {
        let t = tracking.clone();
        Arc::new(move |done: &[Committed]| {
            let now = Instant::now();
            t.committed.fetch_add(done.len() as u64, Ordering::Relaxed);
            let mut sent = t.sent.lock();
            for c in done {
                let Some(id) = &c.msg_id else { continue };
                let Some(t0) = sent.remove(id) else { continue };
                let ms = now.duration_since(t0).as_secs_f64() * 1e3;
                if id.starts_with("e-") {
                    t.event_lat.lock().push(ms);
                    t.outstanding.fetch_sub(1, Ordering::Relaxed);
                } else if id.starts_with("p-") {
                    t.plate_lat.lock().push(ms);
                    t.outstanding.fetch_sub(1, Ordering::Relaxed);
                } else if id.starts_with("f-") {
                    t.sighting_lat.lock().push(ms);
                    t.outstanding.fetch_sub(1, Ordering::Relaxed);
                } else {
                    t.evidence_lat.lock().push(ms);
                }
            }
            *t.last_commit.lock() = Some(now);
        })
    };
    let mut ingest = Ingest::new(ingest_bus.clone(), store.clone()).on_committed(observer);
    if let Some((data, blobs)) = &central {
        ingest = ingest.with_backends(data.clone(), blobs.clone());
    }
    if let Some(f) = faces {
        ingest = ingest.with_faces(f);
    }
    let istats = ingest.stats();
    let shutdown = Shutdown::new();
    let ingest_thread = {
        let shutdown = shutdown.clone();
        let irt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| BusError::Nats(format!("runtime: {e}")))?;
        std::thread::Builder::new()
            .name("sim-ingest".into())
            .spawn(move || irt.block_on(ingest.run(shutdown)))
            .map_err(|e| BusError::Nats(format!("thread: {e}")))?
    };

    let mut sinks: Vec<Arc<BusSink>> = Vec::new();
    for w in 0..cfg.workers {
        let bus = connect(format!("kuzet-simulate-w{w}"))?;
        sinks.push(BusSink::start(
            bus,
            SinkConfig {
                worker: format!("sim-w{w}"),
                queue: cfg.publish_queue,
                in_flight: cfg.in_flight,
            },
            rt.handle(),
            None,
        ));
    }
    let cams: Vec<String> = (0..cfg.cameras).map(|i| format!("sim-{i:05}")).collect();

    // Sample the consumer lag while publishing.
    let max_pending = Arc::new(AtomicU64::new(0));
    let sampling = Shutdown::new();
    let sampler = {
        let (istats, max_pending, sampling) =
            (istats.clone(), max_pending.clone(), sampling.clone());
        std::thread::spawn(move || {
            while !sampling.wait_timeout(Duration::from_millis(200)) {
                max_pending.fetch_max(istats.pending.load(Ordering::Relaxed), Ordering::Relaxed);
            }
        })
    };

    let started = Instant::now();
    let results: Vec<Result<Generated, BusError>> = std::thread::scope(|s| {
        let handles: Vec<_> = sinks
            .iter()
            .enumerate()
            .map(|(wi, sink)| {
                let mine: Vec<String> = cams
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| i % cfg.workers == wi)
                    .map(|(_, c)| c.clone())
                    .collect();
                let (sink, jpegs, tracking) = (sink.clone(), &jpegs, &*tracking);
                let model = face_model.as_deref();
                s.spawn(move || generate(run, wi, mine, sink, cfg, jpegs, tracking, model))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(BusError::Nats("a generator panicked".into())))
            })
            .collect()
    });
    let publish_s = started.elapsed().as_secs_f64();
    let published_at = Instant::now();
    let pending_at_publish_end = rt.block_on(ingest_bus.pending()).unwrap_or(0);
    max_pending.fetch_max(pending_at_publish_end, Ordering::Relaxed);

    // Wait until the ingest stored every generated event and plate read,
    // committed as many messages as the broker stored (acknowledged minus
    // duplicates: a duplicate is not stored again, so it is never
    // delivered), and the broker has nothing left for the ingest —
    // neither undelivered nor delivered and unacknowledged (a batch that
    // outlived its pull request comes back after `ack_wait`).
    let stored_now = || -> u64 {
        sinks
            .iter()
            .map(|s| {
                let st = s.stats();
                st.acked.load(Ordering::Relaxed) - st.duplicates.load(Ordering::Relaxed)
            })
            .sum()
    };
    let mut drain_timed_out = false;
    let mut last_poll = Instant::now() - Duration::from_secs(1);
    loop {
        let counted = tracking.outstanding.load(Ordering::Relaxed) == 0
            && tracking.committed.load(Ordering::Relaxed)
                + istats.undecodable.load(Ordering::Relaxed)
                >= stored_now();
        if counted && last_poll.elapsed() >= Duration::from_millis(200) {
            last_poll = Instant::now();
            if rt.block_on(ingest_bus.pending()).is_ok_and(|n| n == 0) {
                break;
            }
        }
        if published_at.elapsed() > cfg.drain_timeout {
            drain_timed_out = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let drain_s = published_at.elapsed().as_secs_f64();
    let ingest_s = tracking
        .last_commit
        .lock()
        .map(|t| t.duration_since(started).as_secs_f64())
        .unwrap_or(drain_s + publish_s);
    shutdown.trigger();
    sampling.trigger();
    let _ = ingest_thread.join();
    let _ = sampler.join();
    store.flush()?;
    let data: Arc<dyn StoreBackend> = match &central {
        Some((data, blobs)) => {
            blobs.flush()?;
            data.clone()
        }
        None => store.clone(),
    };

    let mut gen = Generated::default();
    for r in results {
        let g = r?;
        gen.events.extend(g.events);
        gen.plate_reads.extend(g.plate_reads);
        gen.sightings.extend(g.sightings);
        gen.evidence.extend(g.evidence);
        gen.tracks += g.tracks;
        gen.shed += g.shed;
    }
    let sum = |f: fn(&SinkStats) -> &AtomicU64| -> u64 {
        sinks
            .iter()
            .map(|s| f(s.stats()).load(Ordering::Relaxed))
            .sum()
    };
    let messages_acked = sum(|s| &s.acked);
    let publish_duplicates = sum(|s| &s.duplicates);
    let stream_stored = rt
        .block_on(ingest_bus.stream_last_sequence())?
        .saturating_sub(stream_seq_at_start);
    let bytes_acked = sum(|s| &s.acked_bytes);

    // Verify against the store.
    let stored = data.dedupe_keys(KeyedTable::Events)?;
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for id in &stored {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let generated: std::collections::HashSet<&str> =
        gen.events.iter().map(|s| s.as_str()).collect();
    let lost_events = gen
        .events
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count() as u64;
    let duplicate_events = seen.values().filter(|&&n| n > 1).count() as u64;
    let foreign_events = seen.keys().filter(|id| !generated.contains(*id)).count() as u64;
    let (lost_plate_reads, duplicate_plate_reads) =
        lost_and_duplicated(&gen.plate_reads, &data.dedupe_keys(KeyedTable::PlateReads)?);
    let (lost_sightings, duplicate_sightings) =
        lost_and_duplicated(&gen.sightings, &data.dedupe_keys(KeyedTable::Sightings)?);
    let missing_evidence = gen
        .evidence
        .iter()
        .filter(|h| match &central {
            Some((_, blobs)) => !blobs.exists(h).unwrap_or(false),
            None => store.evidence_path(h).is_none_or(|p| !p.is_file()),
        })
        .count() as u64;

    let event_latency = Latency::of(std::mem::take(&mut *tracking.event_lat.lock()));
    let plate_latency = Latency::of(std::mem::take(&mut *tracking.plate_lat.lock()));
    let sighting_latency = Latency::of(std::mem::take(&mut *tracking.sighting_lat.lock()));
    let evidence_latency = Latency::of(std::mem::take(&mut *tracking.evidence_lat.lock()));
    let cams_f = cfg.cameras as f64;
    let stored_events = istats.events_new.load(Ordering::Relaxed);
    let ingested_messages = istats.messages.load(Ordering::Relaxed);
    Ok(SimReport {
        backend: data.backend_name(),
        evidence_store: central.as_ref().map_or("local", |(_, b)| b.blobs_name()),
        cameras: cfg.cameras,
        workers: cfg.workers,
        seconds: cfg.seconds,
        profile: cfg.profile.clone(),
        target_events_per_s: cfg.profile.events_per_s * cams_f,
        events: gen.events.len() as u64,
        plate_reads: gen.plate_reads.len() as u64,
        sightings: gen.sightings.len() as u64,
        tracks: gen.tracks,
        evidence: gen.evidence.len() as u64,
        shed: gen.shed,
        messages_acked,
        bytes_acked,
        publish_s,
        publish_events_per_s: gen.events.len() as f64 / publish_s,
        publish_messages_per_s: messages_acked as f64 / publish_s,
        publish_bytes_per_s: bytes_acked as f64 / publish_s,
        publish_bytes_per_s_per_camera: bytes_acked as f64 / publish_s / cams_f,
        ingested_messages,
        stored_events,
        stored_plate_reads: istats.plate_reads.load(Ordering::Relaxed),
        stored_sightings: istats.sightings.load(Ordering::Relaxed),
        redelivered_events: istats.events_duplicate.load(Ordering::Relaxed),
        ingest_s,
        ingest_events_per_s: stored_events as f64 / ingest_s,
        ingest_messages_per_s: ingested_messages as f64 / ingest_s,
        drain_s,
        max_pending: max_pending.load(Ordering::Relaxed),
        pending_at_publish_end,
        queue_full: sum(|s| &s.queue_full),
        publish_retries: sum(|s| &s.retries),
        publish_duplicates,
        stream_stored,
        committed_messages: tracking.committed.load(Ordering::Relaxed),
        redelivered_messages: istats.redelivered.load(Ordering::Relaxed),
        event_latency,
        plate_latency,
        sighting_latency,
        evidence_latency,
        undecodable: istats.undecodable.load(Ordering::Relaxed),
        store_failures: istats.store_failures.load(Ordering::Relaxed),
        lost_events,
        duplicate_events,
        lost_plate_reads,
        duplicate_plate_reads,
        lost_sightings,
        duplicate_sightings,
        foreign_events,
        missing_evidence,
        drain_timed_out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_percentiles() {
        let l = Latency::of((1..=100).map(f64::from).collect());
        assert_eq!(
            (l.count, l.p50_ms, l.p99_ms, l.max_ms),
            (100, 51.0, 99.0, 100.0)
        );
        assert_eq!(Latency::of(Vec::new()).count, 0);
    }

    #[test]
    fn synthetic_jpegs_have_the_measured_sizes_and_stay_valid_when_tagged() {
        let p = Profile::measured(1.1);
        let j = Jpegs::new(&p).unwrap();
        for (got, want) in [
            (j.crop.0.len(), p.crop_bytes),
            (j.frame.0.len(), p.frame_bytes),
            (j.track_crop.0.len(), p.track_crop_bytes),
        ] {
            let ratio = got as f64 / want as f64;
            assert!(
                (0.5..2.0).contains(&ratio),
                "{got} bytes for a target of {want}"
            );
        }
        let a = unique(&j.crop, "a");
        let b = unique(&j.crop, "b");
        assert_ne!(store::sha256_hex(&a.0), store::sha256_hex(&b.0));
        assert_eq!(
            &a.0[..j.crop.0.len()],
            &j.crop.0[..],
            "the JPEG itself is unchanged"
        );
        assert!(
            j.crop.0.ends_with(&[0xff, 0xd9]),
            "ends with the EOI marker"
        );
    }

    #[test]
    fn bad_sizes_are_refused_with_the_flag_named() {
        let mut c = SimConfig::new("nats://x", 0, 1.0, 1.0);
        assert!(c.validate().unwrap_err().to_string().contains("--cameras"));
        c.cameras = 2;
        c.profile.events_per_s = 0.0;
        assert!(c.validate().unwrap_err().to_string().contains("--rate"));
        c.profile.events_per_s = 1.0;
        c.profile.faces_per_event = -0.5;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("--faces-per-event"));
        c.profile.faces_per_event = 0.0;
        c.seconds = -1.0;
        assert!(c.validate().unwrap_err().to_string().contains("--seconds"));
        c.seconds = 1.0;
        c.workers = 3;
        assert!(c.validate().unwrap_err().to_string().contains("--workers"));
    }
}
