//! The fire stage: per-camera [`fire::FireMonitor`]s on a thread of their own.
//!
//! The classifier costs tens of milliseconds per region, so it runs off the
//! post thread, which hands over every analysed frame of a fire-enabled
//! camera (shared pixels, no copy). The monitor itself decides when to
//! classify (`classify_interval_seconds`) and uses every frame for the cheap
//! flicker and plume cues. In live mode a full queue drops the frame
//! (counted in `kuzet_fire_frames_dropped_total`).

use crate::{EngineOptions, Mode, PipelineError, SharedSink};
use base::event::kinds;
use base::{Event, Frame};
use config::CameraConfig;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use fire::{AlarmKind, AlarmState, FireMonitor, FireMonitorConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Events stored per kind.
pub(crate) type EventCounts = BTreeMap<String, u64>;
use std::thread::JoinHandle;
use store::Store;

/// The monitor settings of a camera's `[camera.fire]` section.
pub fn monitor_config(c: &config::CameraFire) -> FireMonitorConfig {
    let d = FireMonitorConfig::default();
    FireMonitorConfig {
        classify_interval_ms: (c.classify_interval_seconds * 1000.0) as u64,
        classifier: fire::ClassifierConfig {
            tile_grids: if c.tile_grid > 0 {
                vec![c.tile_grid]
            } else {
                Vec::new()
            },
            ..d.classifier
        },
        window_ms: (c.window_seconds * 1000.0) as u64,
        require_flicker: c.require_flicker,
        ..d
    }
}

pub(crate) struct FireFeed {
    tx: Sender<(usize, Frame)>,
    enabled: Vec<bool>,
    live: bool,
}

impl FireFeed {
    pub(crate) fn offer(&self, cam: usize, frame: &Frame) {
        if !self.enabled.get(cam).copied().unwrap_or(false) {
            return;
        }
        if !self.live {
            let _ = self.tx.send((cam, frame.clone()));
            return;
        }
        if let Err(TrySendError::Full(_)) = self.tx.try_send((cam, frame.clone())) {
            metrics::counter!("kuzet_fire_frames_dropped_total").increment(1);
        }
    }
}

/// Starts the fire thread if any camera has `[camera.fire] enabled`.
pub(crate) fn spawn(
    cams: &[CameraConfig],
    store: Arc<Store>,
    opts: &EngineOptions,
    quality: u8,
    sink: SharedSink,
) -> Option<(FireFeed, JoinHandle<Result<EventCounts, PipelineError>>)> {
    let settings: Vec<Option<config::CameraFire>> = cams
        .iter()
        .map(|c| c.fire.clone().filter(|f| f.enabled))
        .collect();
    if settings.iter().all(Option::is_none) {
        return None;
    }
    let (tx, rx) = crossbeam_channel::bounded::<(usize, Frame)>(16);
    let ids: Vec<String> = cams.iter().map(|c| c.id.clone()).collect();
    let evidence = opts.evidence;
    let enabled = settings.iter().map(Option::is_some).collect();
    let handle = std::thread::Builder::new()
        .name("fire".into())
        .spawn(move || run(settings, ids, store, evidence, quality, sink, rx))
        .expect("cannot start the fire thread");
    Some((
        FireFeed {
            tx,
            enabled,
            live: opts.mode == Mode::Live,
        },
        handle,
    ))
}

fn run(
    settings: Vec<Option<config::CameraFire>>,
    ids: Vec<String>,
    store: Arc<Store>,
    evidence: bool,
    quality: u8,
    sink: SharedSink,
    rx: Receiver<(usize, Frame)>,
) -> Result<EventCounts, PipelineError> {
    let mut monitors: Vec<Option<FireMonitor>> = Vec::with_capacity(settings.len());
    for (s, id) in settings.iter().zip(&ids) {
        monitors.push(match s {
            Some(c) => match FireMonitor::from_config(monitor_config(c)) {
                Ok(m) => Some(m),
                Err(e) => {
                    for _ in rx.iter() {}
                    return Err(PipelineError::Invalid(format!(
                        "camera {id}: fire detection cannot start: {e}"
                    )));
                }
            },
            None => None,
        });
    }
    let mut counts = EventCounts::new();
    for (cam, frame) in rx.iter() {
        let Some(m) = monitors[cam].as_mut() else {
            continue;
        };
        let t = std::time::Instant::now();
        let changes = match m.push(frame.ts, &frame) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(camera = %ids[cam], error = %e, "fire monitor failed on a frame");
                continue;
            }
        };
        metrics::histogram!("kuzet_stage_seconds", "camera" => ids[cam].clone(), "stage" => "fire")
            .record(t.elapsed().as_secs_f64());
        let mut events = Vec::new();
        for a in changes {
            let kind = match (a.kind, a.state) {
                (AlarmKind::Fire, AlarmState::Raised) => kinds::FIRE,
                (AlarmKind::Smoke, AlarmState::Raised) => kinds::SMOKE,
                (AlarmKind::Fire, AlarmState::Cleared) => kinds::FIRE_CLEARED,
                (AlarmKind::Smoke, AlarmState::Cleared) => kinds::SMOKE_CLEARED,
            };
            let mut e = Event::new(ids[cam].clone(), kind, a.ts);
            e.bbox = Some(a.region);
            e.score = a.score;
            let mut details = serde_json::json!({
                "state": a.state,
                "hits": a.hits,
                "cue": a.cue,
                "strongest_at": a.evidence_ts,
                "method": "logistic head on YOLOX-nano features + temporal cues",
            });
            if evidence && a.state == AlarmState::Raised {
                let crop = a
                    .region
                    .expand(0.2)
                    .clamp(frame.width as f32, frame.height as f32);
                e.evidence = Some(store.save_evidence_jpeg(
                    &frame.rgb,
                    frame.width,
                    frame.height,
                    Some(crop),
                    quality,
                )?);
                let full = store.save_evidence_jpeg(
                    &frame.rgb,
                    frame.width,
                    frame.height,
                    None,
                    quality,
                )?;
                details["frame_evidence"] = full.into();
            }
            e.details = details;
            events.push(e);
        }
        if events.is_empty() {
            continue;
        }
        let stored = store.insert_events(events)?;
        for e in &stored {
            *counts.entry(e.kind.clone()).or_default() += 1;
        }
        if let Some(s) = sink.lock().as_mut() {
            for e in &stored {
                metrics::counter!("kuzet_events_total", "camera" => e.camera.clone(), "kind" => e.kind.clone())
                    .increment(1);
                s(e);
            }
        }
    }
    Ok(counts)
}
