//! Video clips of events: `[evidence] clip_before_seconds` of analysed
//! frames before an event and `clip_after_seconds` after it, masked like
//! every stored frame and encoded as H.264/MP4 (see `media::clip`).
//!
//! The event is stored (and alerts) at once; its clip follows once the
//! frames after it have arrived, attached to the stored event
//! ([`store::Store::attach_event_clip`]). Events of one camera that fall
//! inside a clip still collecting share it, so a burst of events costs one
//! clip.
//!
//! Memory: each camera keeps a ring of its last `clip_before_seconds` of
//! analysed frames. Frames share their pixels through `Arc` with the rest
//! of the pipeline, so the ring holds frames the pipeline has moved on
//! from (about `clip_before_seconds` × analysis fps of them), never more
//! than [`RING_MAX_FRAMES`]; a clip collecting holds at most
//! [`CLIP_MAX_FRAMES`]. Encoding runs on one `clips` thread behind a short
//! queue: when it falls behind on live cameras, clips are dropped (counted
//! in `kuzet_clips_dropped_total`), never the analysis; offline analysis of
//! files waits for it instead.
//!
//! Privacy: the heads the post stage masks in stored frames are carried
//! with each frame and masked (same regions, same algorithm:
//! [`store::privacy::mask_regions`]) in the full-resolution pixels before
//! the clip is downscaled and encoded; no unmasked clip is ever written.
//! No sealed original is kept for clips: an un-mask shows the original
//! still images.

use base::{BBox, Frame, Timestamp};
use crossbeam_channel::{Sender, TrySendError};
use media::{ClipEncoder, ClipFrame};
use std::collections::VecDeque;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;
use store::Store;

/// Frames the ring may hold whatever the fps and lead-in.
pub(crate) const RING_MAX_FRAMES: usize = 300;
/// Frames one clip may hold (the encoder's own bound).
pub(crate) const CLIP_MAX_FRAMES: usize = media::clip::MAX_CLIP_FRAMES;
/// Clips waiting for the encoder before new ones are dropped.
const QUEUE: usize = 4;

/// A frame with the head regions to mask in it (frame coordinates).
type Masked = (Frame, Arc<[BBox]>);

struct Pending {
    end: Timestamp,
    frames: Vec<Masked>,
    event_ids: Vec<i64>,
}

/// What the encoder thread gets.
pub(crate) struct ClipJob {
    camera: String,
    frames: Vec<Masked>,
    event_ids: Vec<i64>,
    fps: f64,
}

/// Clip settings shared by every camera.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ClipSettings {
    pub before_ms: i64,
    pub after_ms: i64,
    pub max_width: u32,
}

impl ClipSettings {
    pub(crate) fn from_config(e: &config::EvidenceConfig) -> Option<ClipSettings> {
        e.clips_enabled().then(|| ClipSettings {
            before_ms: (e.clip_before_seconds * 1000.0).round() as i64,
            after_ms: (e.clip_after_seconds * 1000.0).round() as i64,
            max_width: e.clip_max_width,
        })
    }
}

/// One camera's clip recorder, fed by the post thread.
pub(crate) struct ClipRecorder {
    camera: String,
    settings: ClipSettings,
    fps: f64,
    ring: VecDeque<Masked>,
    pending: Option<Pending>,
    tx: Sender<ClipJob>,
    /// Offline analysis (files read to their end): wait for the encoder
    /// rather than drop a clip, as the frame queues wait rather than drop.
    lossless: bool,
}

impl ClipRecorder {
    pub(crate) fn new(
        camera: &str,
        settings: ClipSettings,
        fps: f64,
        tx: Sender<ClipJob>,
        lossless: bool,
    ) -> ClipRecorder {
        ClipRecorder {
            camera: camera.to_string(),
            settings,
            fps,
            ring: VecDeque::new(),
            pending: None,
            tx,
            lossless,
        }
    }

    /// Buffers an analysed frame (with the heads masked in stored evidence
    /// of it) and hands a clip to the encoder once its last frame is in.
    pub(crate) fn push_frame(&mut self, frame: &Frame, heads: &[BBox]) {
        let item: Masked = (frame.clone(), Arc::from(heads));
        if let Some(p) = self.pending.as_mut() {
            if p.frames.len() < CLIP_MAX_FRAMES {
                p.frames.push(item.clone());
            }
            if frame.ts >= p.end {
                let p = self.pending.take().expect("checked above");
                self.send(p);
            }
        }
        self.ring.push_back(item);
        while self.ring.len() > RING_MAX_FRAMES
            || self
                .ring
                .front()
                .is_some_and(|(f, _)| frame.ts.0 - f.ts.0 > self.settings.before_ms)
        {
            self.ring.pop_front();
        }
    }

    /// Stored events of this camera (with ids) get a clip: they join the
    /// clip collecting when they fall inside it, or start one from the
    /// ring's frames since `clip_before_seconds` before the first of them.
    pub(crate) fn add_events(&mut self, events: &[base::Event]) {
        for e in events {
            let Some(id) = e.id else { continue };
            if let Some(p) = self.pending.as_mut() {
                if e.ts <= p.end {
                    p.event_ids.push(id);
                    continue;
                }
                let p = self.pending.take().expect("checked above");
                self.send(p);
            }
            let from = e.ts.0 - self.settings.before_ms;
            let frames: Vec<Masked> = self
                .ring
                .iter()
                .filter(|(f, _)| f.ts.0 >= from)
                .cloned()
                .collect();
            let p = Pending {
                end: Timestamp(e.ts.0 + self.settings.after_ms),
                frames,
                event_ids: vec![id],
            };
            // An event older than the frame just analysed (an offence held
            // back for its own package) may already have all its frames.
            let last = self.ring.back().map(|(f, _)| f.ts);
            if self.settings.after_ms == 0 || last.is_some_and(|t| t >= p.end) {
                self.send(p);
            } else {
                self.pending = Some(p);
            }
        }
    }

    /// The source ended: the clip collecting is encoded with what it has.
    pub(crate) fn finish(&mut self) {
        if let Some(p) = self.pending.take() {
            self.send(p);
        }
    }

    fn send(&self, p: Pending) {
        if p.frames.is_empty() {
            return;
        }
        let job = ClipJob {
            camera: self.camera.clone(),
            frames: p.frames,
            event_ids: p.event_ids,
            fps: self.fps,
        };
        if self.lossless {
            let _ = self.tx.send(job);
            return;
        }
        match self.tx.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(j)) => {
                metrics::counter!("kuzet_clips_dropped_total", "camera" => self.camera.clone())
                    .increment(1);
                tracing::warn!(camera = %self.camera, events = ?j.event_ids, "clip encoder busy: clip dropped (the events keep their images)");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Starts the encoder thread; it ends when every sender is dropped.
pub(crate) fn spawn(store: Arc<Store>, max_width: u32) -> (Sender<ClipJob>, JoinHandle<()>) {
    let (tx, rx) = crossbeam_channel::bounded::<ClipJob>(QUEUE);
    let h = std::thread::Builder::new()
        .name("clips".into())
        .spawn(move || {
            for job in rx.iter() {
                let camera = job.camera.clone();
                let t = Instant::now();
                match encode_and_store(&store, job, max_width) {
                    Ok(Some(info)) => {
                        let secs = t.elapsed().as_secs_f64();
                        metrics::histogram!("kuzet_clip_encode_seconds").record(secs);
                        tracing::debug!(camera, seconds = secs, clip = %info, "clip stored");
                    }
                    Ok(None) => {}
                    Err(e) => tracing::warn!(camera, error = %e, "evidence clip not stored"),
                }
            }
        })
        .expect("cannot start the clips thread");
    (tx, h)
}

/// Masks, encodes and stores one clip and attaches it to its events.
/// Returns the clip's `details.clip` value.
pub(crate) fn encode_and_store(
    store: &Store,
    job: ClipJob,
    max_width: u32,
) -> Result<Option<serde_json::Value>, String> {
    let Some((first, _)) = job.frames.first() else {
        return Ok(None);
    };
    let t = Instant::now();
    let mut enc = ClipEncoder::new(first.width, first.height, max_width, job.fps)
        .map_err(|e| e.to_string())?;
    let start = first.ts;
    let mut scratch: Vec<u8> = Vec::new();
    let mut masked_frames = 0u32;
    for (f, heads) in &job.frames {
        let rgb: &[u8] = if heads.is_empty() {
            &f.rgb
        } else {
            scratch.clear();
            scratch.extend_from_slice(&f.rgb);
            if store::privacy::mask_regions(&mut scratch, f.width, f.height, heads) > 0 {
                masked_frames += 1;
            }
            &scratch
        };
        enc.push(&ClipFrame {
            ts_ms: f.ts.0,
            width: f.width,
            height: f.height,
            rgb,
        })
        .map_err(|e| e.to_string())?;
    }
    let clip = enc.finish().map_err(|e| e.to_string())?;
    let encode_ms = t.elapsed().as_millis() as u64;
    let hash = store
        .save_evidence_bytes(&clip.bytes, clip.width, clip.height)
        .map_err(|e| e.to_string())?;
    let info = serde_json::json!({
        "hash": hash,
        "mime": clip.mime,
        "duration_ms": clip.duration_ms,
        "frames": clip.frames,
        "width": clip.width,
        "height": clip.height,
        "bytes": clip.bytes.len(),
        "start_ts": start,
        "masked_frames": masked_frames,
        "encode_ms": encode_ms,
    });
    store
        .attach_event_clip(&job.event_ids, info.clone())
        .map_err(|e| e.to_string())?;
    Ok(Some(info))
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Event;

    fn frame(ts: i64, w: u32, h: u32) -> Frame {
        let px: Vec<u8> = (0..w * h * 3)
            .map(|i| ((i as i64 * 31 + ts) % 251) as u8)
            .collect();
        Frame::new(Arc::from("cam"), 0, Timestamp(ts), ts, w, h, px)
    }

    fn settings() -> ClipSettings {
        ClipSettings {
            before_ms: 1_000,
            after_ms: 1_000,
            max_width: 960,
        }
    }

    /// Frames 1 s before to 1 s after an event at 10 fps; a second event
    /// inside the window shares the clip; the ring stays bounded.
    #[test]
    fn clip_spans_before_and_after_and_events_share_it() {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let mut rec = ClipRecorder::new("cam", settings(), 10.0, tx, false);
        for ts in (0..=5_000).step_by(100) {
            rec.push_frame(&frame(ts, 16, 8), &[]);
        }
        assert!(rec.ring.len() <= 11, "{}", rec.ring.len());
        let mut e = Event::new("cam", "zone_enter", Timestamp(5_000));
        e.id = Some(1);
        rec.add_events(&[e]);
        let mut e2 = Event::new("cam", "zone_exit", Timestamp(5_500));
        e2.id = Some(2);
        for ts in (5_100..=6_000).step_by(100) {
            rec.push_frame(&frame(ts, 16, 8), &[]);
            if ts == 5_500 {
                rec.add_events(&[e2.clone()]);
            }
            if ts < 6_000 {
                assert!(rx.try_recv().is_err(), "held until the post-roll is in");
            }
        }
        let job = rx
            .try_recv()
            .expect("clip sent at the end of the post-roll");
        assert_eq!(job.event_ids, vec![1, 2]);
        let ts: Vec<i64> = job.frames.iter().map(|(f, _)| f.ts.0).collect();
        assert_eq!(ts.first(), Some(&4_000));
        assert_eq!(ts.last(), Some(&6_000));
        assert_eq!(ts.len(), 21);
    }

    /// The clip thread masks heads before encoding: the stored clip,
    /// decoded, is flat where the head was and keeps the rest.
    #[test]
    fn stored_clips_are_masked_and_attached() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let mut e = Event::new("cam", "zone_enter", Timestamp(1_000));
        e.details = serde_json::json!({});
        let id = store.insert_events(vec![e]).unwrap()[0].id.unwrap();
        let (w, h) = (320u32, 240u32);
        let head: Arc<[BBox]> = Arc::from(vec![BBox::new(100.0, 60.0, 200.0, 160.0)]);
        // High-contrast stripes: masking averages them into a flat patch.
        let stripes: Vec<u8> = (0..w * h)
            .flat_map(|i| {
                let v = if (i % w / 4) % 2 == 0 { 20u8 } else { 230 };
                [v, v, v]
            })
            .collect();
        let frames: Vec<Masked> = (0..10)
            .map(|i| {
                let f = Frame::new(
                    Arc::from("cam"),
                    i,
                    Timestamp(i as i64 * 100),
                    0,
                    w,
                    h,
                    stripes.clone(),
                );
                (f, head.clone())
            })
            .collect();
        let job = ClipJob {
            camera: "cam".into(),
            frames,
            event_ids: vec![id],
            fps: 10.0,
        };
        let info = encode_and_store(&store, job, 960).unwrap().unwrap();
        assert_eq!(info["masked_frames"], 10);
        assert_eq!(info["frames"], 10);
        let stored = store.event(id).unwrap().unwrap();
        assert_eq!(stored.details["clip"], info);
        let hash = info["hash"].as_str().unwrap();
        let path = store.evidence_path(hash).unwrap();
        let tmp = dir.path().join("clip.mp4");
        std::fs::copy(&path, &tmp).unwrap();
        let spec = media::SourceSpec::from_path(&tmp).unwrap();
        let mut src = media::open(
            &spec,
            &media::SourceOptions::default(),
            Arc::new(base::SystemClock),
        )
        .unwrap();
        let f = src.next_frame().unwrap().unwrap();
        let var = |x0: u32, y0: u32| {
            let vals: Vec<f64> = (y0..y0 + 60)
                .flat_map(|y| (x0..x0 + 60).map(move |x| (x, y)))
                .map(|(x, y)| f.rgb[((y * w + x) * 3) as usize] as f64)
                .collect();
            let m = vals.iter().sum::<f64>() / vals.len() as f64;
            vals.iter().map(|v| (v - m).powi(2)).sum::<f64>() / vals.len() as f64
        };
        assert!(
            var(120, 80) < 300.0,
            "masked head region varies: {}",
            var(120, 80)
        );
        assert!(
            var(10, 10) > 3_000.0,
            "the rest keeps its detail: {}",
            var(10, 10)
        );
    }
}
