//! The fire stage: per-camera [`fire::FireMonitor`]s on a thread of their own.
//!
//! The classifier costs tens of milliseconds per region, so it runs off the
//! post thread, which hands over every analysed frame of a fire-enabled
//! camera (shared pixels, no copy). The monitor itself decides when to
//! classify (`classify_interval_seconds`) and uses every frame for the cheap
//! flicker and plume cues. In live mode a full queue drops the frame
//! (counted in `kuzet_fire_frames_dropped_total`).

use crate::privacy::{SharedBystanders, Subject};
use crate::ptz::PtzReports;
use crate::{EngineOptions, Mode, PipelineError, SharedSink};
use base::event::kinds;
use base::{Event, Frame, Timestamp};
use config::CameraConfig;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use fire::locate::{bearing_of, Bearing, Fix, Locator};
use fire::{AlarmKind, AlarmState, FireMonitor, FireMonitorConfig};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Events stored per kind.
pub(crate) type EventCounts = BTreeMap<String, u64>;
use crate::Sink;
use std::thread::JoinHandle;

/// The `fire_located` event of a fix from the bearings `used`, raised on
/// `camera` at `ts` (the alarm that completed the crossing).
fn located_event(
    camera: &str,
    ts: base::Timestamp,
    of: AlarmKind,
    fix: &Fix,
    used: &[Bearing],
) -> Event {
    let mut e = Event::new(camera.to_string(), kinds::FIRE_LOCATED, ts);
    e.details = serde_json::json!({
        "of": if of == AlarmKind::Fire { "fire" } else { "smoke" },
        "lat": fix.lat,
        "lon": fix.lon,
        "uncertainty_m": fix.uncertainty_m,
        "ellipse": fix.ellipse,
        "ranges_m": fix.ranges_m,
        "crossing_deg": fix.crossing_deg,
        "cameras": used.iter().map(|b| b.camera.clone()).collect::<Vec<_>>(),
        "bearings": used,
        "method": "weighted least-squares crossing of camera bearings (gnomonic plane)",
    });
    e
}

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
    tx: Sender<(usize, Frame, SharedBystanders)>,
    enabled: Vec<bool>,
    live: bool,
}

impl FireFeed {
    /// Hands a frame over with the people and vehicles the post thread
    /// found in it: a fire's evidence masks them all (a fire is no person,
    /// and a car parked by it is no suspect).
    pub(crate) fn offer(&self, cam: usize, frame: &Frame, bystanders: &SharedBystanders) {
        if !self.enabled.get(cam).copied().unwrap_or(false) {
            return;
        }
        if !self.live {
            let _ = self.tx.send((cam, frame.clone(), bystanders.clone()));
            return;
        }
        if let Err(TrySendError::Full(_)) =
            self.tx.try_send((cam, frame.clone(), bystanders.clone()))
        {
            metrics::counter!("kuzet_fire_frames_dropped_total").increment(1);
        }
    }
}

/// Starts the fire thread if any camera has `[camera.fire] enabled`.
pub(crate) fn spawn(
    cams: &[CameraConfig],
    store: Arc<dyn Sink>,
    opts: &EngineOptions,
    quality: u8,
    sink: SharedSink,
    ptz: PtzReports,
) -> Option<(FireFeed, JoinHandle<Result<EventCounts, PipelineError>>)> {
    let settings: Vec<Option<config::CameraFire>> = cams
        .iter()
        .map(|c| c.fire.clone().filter(|f| f.enabled))
        .collect();
    if settings.iter().all(Option::is_none) {
        return None;
    }
    let (tx, rx) = crossbeam_channel::bounded::<(usize, Frame, SharedBystanders)>(16);
    let ids: Vec<String> = cams.iter().map(|c| c.id.clone()).collect();
    let locations: Vec<Option<config::Location>> = cams.iter().map(|c| c.location).collect();
    let evidence = opts.evidence;
    let enabled = settings.iter().map(Option::is_some).collect();
    let handle = std::thread::Builder::new()
        .name("fire".into())
        .spawn(move || {
            let towers = Towers {
                ids,
                locations,
                settings,
                ptz,
            };
            run(towers, store, evidence, quality, sink, rx)
        })
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

/// Heading and field of view of a camera's image (either may be unknown).
type View = (Option<f64>, Option<f64>);

/// Per camera: id, position and fire settings (heading for bearings), and
/// the positions panning cameras reported.
struct Towers {
    ids: Vec<String>,
    locations: Vec<Option<config::Location>>,
    settings: Vec<Option<config::CameraFire>>,
    ptz: PtzReports,
}

impl Towers {
    /// Where a panning camera (`ptz = true`) pointed at `ts`: the latest
    /// report's azimuth and field of view, the configured ones where the
    /// report has none or before the first report. `None` for a fixed
    /// camera.
    fn ptz_view(&self, cam: usize, ts: Timestamp) -> Option<View> {
        let f = self.settings[cam].as_ref().filter(|f| f.ptz)?;
        let report = self.ptz.at(&self.ids[cam], ts);
        Some((
            report.map(|r| r.azimuth_deg).or(f.heading_deg),
            report.and_then(|r| r.hfov_deg).or(f.hfov_deg),
        ))
    }

    /// The bearing of an alarm region measured on camera `cam`'s frame of
    /// time `ts`, when the camera has a position, a heading and a field of
    /// view: configured, or for a panning camera (`ptz = true`) the latest
    /// reported at or before `ts`, the configured ones standing in until
    /// the first report.
    fn bearing(&self, cam: usize, x1: f32, x2: f32, width: u32, ts: Timestamp) -> Option<Bearing> {
        let f = self.settings[cam].as_ref()?;
        let loc = self.locations[cam]?;
        let (heading, hfov) = self
            .ptz_view(cam, ts)
            .unwrap_or((f.heading_deg, f.hfov_deg));
        let (az, half) = bearing_of(x1, x2, width, heading?, hfov?, f.heading_error_deg);
        Some(Bearing {
            camera: self.ids[cam].clone(),
            lat: loc.lat,
            lon: loc.lon,
            azimuth_deg: az,
            half_width_deg: half,
            height_m: loc.height_m,
        })
    }
}

/// Tower alarms older than this are not crossed with new ones.
const LOCATE_WINDOW_MS: i64 = 15 * 60_000;

fn run(
    towers: Towers,
    store: Arc<dyn Sink>,
    evidence: bool,
    quality: u8,
    sink: SharedSink,
    rx: Receiver<(usize, Frame, SharedBystanders)>,
) -> Result<EventCounts, PipelineError> {
    let Towers { ids, settings, .. } = &towers;
    let max_range_m = settings
        .iter()
        .flatten()
        .map(|f| f.max_range_km * 1000.0)
        .fold(0.0, f64::max);
    let mut locator = Locator::new(LOCATE_WINDOW_MS, max_range_m);
    let mut monitors: Vec<Option<FireMonitor>> = Vec::with_capacity(settings.len());
    for (s, id) in settings.iter().zip(ids) {
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
    // Per panning camera, the view of its last frame: a new one restarts the
    // monitor's background and pending hits (`FireMonitor::view_changed`).
    let mut views: Vec<Option<View>> = vec![None; towers.ids.len()];
    for (cam, frame, bystanders) in rx.iter() {
        let Some(m) = monitors[cam].as_mut() else {
            continue;
        };
        if let Some(v) = towers.ptz_view(cam, frame.ts) {
            if views[cam].is_some_and(|last| last != v) {
                tracing::debug!(camera = %ids[cam], heading = ?v.0, hfov = ?v.1, "camera moved; fire monitor restarts its background");
                m.view_changed();
            }
            views[cam] = Some(v);
        }
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
                let masked = bystanders.regions(&Subject::Nobody);
                e.evidence = Some(store.save_evidence_masked(
                    &frame.rgb,
                    frame.width,
                    frame.height,
                    Some(crop),
                    quality,
                    &masked,
                )?);
                let full = store.save_evidence_masked(
                    &frame.rgb,
                    frame.width,
                    frame.height,
                    None,
                    quality,
                    &masked,
                )?;
                details["frame_evidence"] = full.into();
            }
            let bearing = towers.bearing(cam, a.region.x1, a.region.x2, frame.width, a.evidence_ts);
            if let Some(b) = &bearing {
                details["bearing"] = serde_json::json!(b);
            }
            e.details = details;
            events.push(e);
            match (a.state, bearing) {
                (AlarmState::Cleared, _) => locator.clear(&ids[cam]),
                (AlarmState::Raised, Some(b)) => {
                    if let Some((fix, used)) = locator.observe(a.ts.millis(), b) {
                        let mut located = located_event(&ids[cam], a.ts, a.kind, &fix, &used);
                        located.score = a.score;
                        events.push(located);
                    }
                }
                (AlarmState::Raised, None) => {}
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ptz::PtzReport;
    use fire::locate::{azimuth_deg, triangulate};

    /// The situation centre draws what the event carries: the position, the
    /// radius and the 95 % ellipse, with the bearings that made them.
    #[test]
    fn a_located_fire_carries_its_ellipse_and_bearings() {
        let fire = (43.10, 76.95);
        let tower = |name: &str, lat: f64, lon: f64| Bearing {
            camera: name.into(),
            lat,
            lon,
            azimuth_deg: azimuth_deg(lat, lon, fire.0, fire.1),
            half_width_deg: 0.5,
            height_m: Some(1200.0),
        };
        let used = [tower("west", 43.25, 76.75), tower("east", 43.28, 77.15)];
        let fix = triangulate(&used, 30_000.0).unwrap();
        let ts = base::Timestamp::from_millis(1_700_000_000_000);
        let e = located_event("east", ts, AlarmKind::Smoke, &fix, &used);
        assert_eq!((e.kind.as_str(), e.ts), (kinds::FIRE_LOCATED, ts));
        let d = &e.details;
        assert_eq!(d["of"], "smoke");
        assert!((d["lat"].as_f64().unwrap() - fire.0).abs() < 1e-5, "{d}");
        let ellipse = &d["ellipse"];
        let (major, minor) = (
            ellipse["semi_major_m"].as_f64().unwrap(),
            ellipse["semi_minor_m"].as_f64().unwrap(),
        );
        assert!(minor > 0.0 && major >= minor, "{ellipse}");
        assert!(major < d["uncertainty_m"].as_f64().unwrap(), "{d}");
        assert_eq!(ellipse["confidence"], 0.95);
        assert!(ellipse["major_azimuth_deg"].as_f64().unwrap() < 180.0);
        assert_eq!(d["cameras"], serde_json::json!(["west", "east"]));
        assert_eq!(d["bearings"].as_array().unwrap().len(), 2);
        assert_eq!(d["bearings"][0]["height_m"], 1200.0);
    }

    /// A fixed tower's bearing comes from its configured heading; a panning
    /// one's from the position reported at or before the frame, its home
    /// position standing in before the first report.
    #[test]
    fn panning_towers_take_the_reported_azimuth_of_the_frame() {
        let fixed = config::CameraFire {
            heading_deg: Some(135.0),
            hfov_deg: Some(60.0),
            ..Default::default()
        };
        let panning = config::CameraFire {
            ptz: true,
            heading_deg: None,
            hfov_deg: Some(30.0),
            ..Default::default()
        };
        let loc = config::Location {
            lat: 43.2,
            lon: 76.9,
            height_m: Some(1450.0),
        };
        let ptz = PtzReports::default();
        let towers = Towers {
            ids: vec!["fixed".into(), "pan".into()],
            locations: vec![Some(loc), Some(loc)],
            settings: vec![Some(fixed), Some(panning)],
            ptz: ptz.clone(),
        };
        let at = Timestamp::from_millis;
        // The region's centre is the image centre: the bearing is the heading.
        let b = |cam: usize, ts: i64| towers.bearing(cam, 940.0, 980.0, 1920, at(ts));
        let f = b(0, 5_000).unwrap();
        assert!((f.azimuth_deg - 135.0).abs() < 1e-9, "{f:?}");
        assert_eq!((f.camera.as_str(), f.height_m), ("fixed", Some(1450.0)));
        assert!(b(1, 5_000).is_none(), "no heading yet: no bearing");
        ptz.record("pan", PtzReport::new(250.0, None, at(4_000)).unwrap());
        ptz.record("pan", PtzReport::new(10.0, Some(8.0), at(9_000)).unwrap());
        // A report for the fixed tower is not used.
        ptz.record("fixed", PtzReport::new(0.0, None, at(1_000)).unwrap());
        assert!((b(0, 5_000).unwrap().azimuth_deg - 135.0).abs() < 1e-9);
        assert!(b(1, 3_999).is_none(), "before the first report");
        let p = b(1, 5_000).unwrap();
        assert!((p.azimuth_deg - 250.0).abs() < 1e-9, "{p:?}");
        let zoomed = b(1, 9_500).unwrap();
        assert!((zoomed.azimuth_deg - 10.0).abs() < 1e-9, "{zoomed:?}");
        // The same 40 px are a narrower angle at 8° than at 30°.
        assert!(zoomed.half_width_deg < p.half_width_deg, "{zoomed:?} {p:?}");
        // The views the fire thread compares frame to frame to tell a move.
        assert_eq!(towers.ptz_view(0, at(5_000)), None, "a fixed tower");
        assert_eq!(towers.ptz_view(1, at(3_000)), Some((None, Some(30.0))));
        assert_eq!(
            towers.ptz_view(1, at(5_000)),
            Some((Some(250.0), Some(30.0)))
        );
        assert_eq!(towers.ptz_view(1, at(9_500)), Some((Some(10.0), Some(8.0))));
    }
}
