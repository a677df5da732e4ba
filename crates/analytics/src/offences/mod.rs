//! Traffic offences (#4): red-light running, speeding, wrong-way driving,
//! illegal stopping and bus-lane use, configured per camera under
//! `[camera.offences]` (see `docs/offences.md`).
//!
//! Each offence becomes one [`Event`] whose kind is one of the
//! `kinds::OFFENCE_*` constants, with `rule` set to the configured rule name
//! and `details` holding the record: the offence, measured values, the
//! calibration used, the track's class and time span, and an
//! [`EvidenceRequest`] saying which frames and crops the pipeline should
//! keep. Rules judge vehicles (`vehicle_classes`, or a rule's own
//! `classes`) and report each track
//! at most once per rule (no-stopping: once per stay in the zone), so an
//! offence is one record however long it lasts.
//!
//! The red-light rule needs the light's state, read from the pixels of each
//! frame: call [`crate::RuleEngine::observe_frame`] before
//! [`crate::RuleEngine::update`] for the same frame, or feed readings made
//! elsewhere with [`crate::RuleEngine::set_light_reading`].

mod bus_lane;
pub mod calib;
pub mod light;
mod no_stopping;
mod red_light;
mod speed;
mod wrong_way;

#[cfg(test)]
mod tests;

pub use calib::{crossing_time, theil_sen_slope, Homography, TwoLines};
pub use light::{
    classify_light, Lamps, LightChange, LightReading, LightRegion, LightState, LightTracker, Region,
};

use crate::ObjectState;
use base::{BBox, Event, Frame, Point, Timestamp};
use config::{CameraConfig, OffencesConfig};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::time::Duration;

/// Seconds of each vehicle's track kept beyond the evidence window, for
/// speed and motion estimates.
const HISTORY_MARGIN_SECONDS: f32 = 10.0;
/// Hard bound on kept points per track (a stopped car seen for hours).
const MAX_HISTORY_POINTS: usize = 2000;
/// The evidence clip starts at most this long (plus the configured lead)
/// before the decisive moment.
pub const MAX_LEAD: Duration = Duration::from_secs(10);
/// At most this many track points go into an evidence request.
const MAX_EVIDENCE_POINTS: usize = 120;

/// One observation of a vehicle.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackPoint {
    pub ts: Timestamp,
    pub bbox: BBox,
}

/// A named region of the decisive frame to save as its own crop.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRegion {
    pub name: String,
    /// Pixels of the analysed frame.
    pub bbox: BBox,
}

/// What the pipeline should save for one offence. It rides in the event's
/// `details.evidence_request` (see [`EvidenceRequest::from_event`]).
///
/// How the pipeline fulfils it: keep a ring buffer of recent frames per
/// camera at least `evidence_before_seconds` long; when an offence event
/// arrives, save frames from `before` up to the event and then keep saving
/// until the first frame at or after `after` (the request outlives the event:
/// `after` is in the future when the event is emitted). From the frame
/// nearest `during`, save the full frame with `vehicle_bbox` and `track`
/// drawn, a crop of `vehicle_bbox` (expanded ~10%), a crop of each entry of
/// `regions`, and, when `read_plate` is set, run the plate reader on the
/// vehicle crop and add the text to the offence record.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvidenceRequest {
    pub camera: String,
    /// Event kind (`offence_speed`…).
    pub offence: String,
    pub rule: String,
    pub track_id: u64,
    pub label: String,
    /// When the offending behaviour began (vehicle stopped, entered the bus
    /// lane, started the wrong-way run). For long offences it can lie well
    /// before `before`: save that frame too if the buffer still holds it.
    pub start: Timestamp,
    /// First frame to keep: `evidence_before_seconds` before `start`, but
    /// at most that plus [`MAX_LEAD`] before `during`, so a two-minute stop
    /// does not ask for a two-minute clip.
    pub before: Timestamp,
    /// The decisive moment (stop-line crossing, speed measurement, limit
    /// exceeded): the frame for the full picture and the crops.
    pub during: Timestamp,
    /// Last frame to keep.
    pub after: Timestamp,
    /// The vehicle's box at (or nearest before) `during`, in frame pixels.
    pub vehicle_bbox: BBox,
    pub read_plate: bool,
    /// Further crops from the `during` frame (e.g. the traffic light).
    pub regions: Vec<EvidenceRegion>,
    /// The vehicle's boxes from `before` to `during` (thinned), for drawing its path.
    pub track: Vec<TrackPoint>,
}

impl EvidenceRequest {
    /// The request inside an offence event, if it is one.
    pub fn from_event(e: &Event) -> Option<EvidenceRequest> {
        serde_json::from_value(e.details.get("evidence_request")?.clone()).ok()
    }
}

/// A vehicle's recent observations.
pub(crate) struct TrackHist {
    pub points: VecDeque<TrackPoint>,
}

impl TrackHist {
    /// Bottom-centre displacement per second over about `window`, in box
    /// heights per second; `None` until the history spans half the window.
    pub fn speed_heights(&self, window: Duration) -> Option<f32> {
        let last = self.points.back()?;
        let first = self.points.iter().find(|p| last.ts.since(p.ts) <= window)?;
        let dt = last.ts.since(first.ts).as_secs_f32();
        if dt < window.as_secs_f32() / 2.0 {
            return None;
        }
        let (a, b) = (first.bbox.bottom_center(), last.bbox.bottom_center());
        let h = last.bbox.height().max(first.bbox.height()).max(1.0);
        Some(dist(a, b) / h / dt)
    }
}

pub(crate) fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Labels equal up to the COCO/Darknet spelling of motorcycles.
pub(crate) fn same_label(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> &str {
        if s == "motorcycle" {
            "motorbike"
        } else {
            s
        }
    }
    norm(a) == norm(b)
}

pub(crate) fn label_in(classes: &[String], label: &str) -> bool {
    classes.iter().any(|c| same_label(c, label))
}

/// Calibration in frame pixels, shared by the rules.
pub(crate) struct Env {
    pub homography: Option<Homography>,
    pub lines: Option<TwoLines>,
    /// Frame diagonal, pixels.
    pub diag: f32,
}

impl Env {
    pub fn ground(&self, p: Point) -> Option<[f64; 2]> {
        self.homography.as_ref()?.apply(p)
    }
}

/// What a rule found; the engine turns it into an event with evidence.
pub(crate) struct Finding {
    pub kind: &'static str,
    pub rule: String,
    /// When the offending behaviour began (enter zone, first wrong-way point…).
    pub start: Timestamp,
    /// The decisive moment.
    pub during: Timestamp,
    pub measured: serde_json::Value,
    /// Whether the measurement used the camera calibration.
    pub calibrated: bool,
    pub regions: Vec<EvidenceRegion>,
}

/// All offence rules of one camera.
pub(crate) struct OffenceEngine {
    camera: String,
    width: f32,
    height: f32,
    /// Labels any rule judges: `vehicle_classes` plus the rules' own
    /// `classes`, so other labels cost nothing.
    judged: Vec<String>,
    before: Duration,
    after: Duration,
    keep: Duration,
    env: Env,
    calibration_record: serde_json::Value,
    tracks: HashMap<u64, TrackHist>,
    red_light: Vec<red_light::RedLightRule>,
    speed: Vec<speed::SpeedRule>,
    wrong_way: Vec<wrong_way::WrongWayRule>,
    no_stopping: Vec<no_stopping::NoStoppingRule>,
    bus_lane: Vec<bus_lane::BusLaneRule>,
}

fn secs(s: f32) -> Duration {
    Duration::try_from_secs_f32(s.max(0.0)).unwrap_or(Duration::ZERO)
}

impl OffenceEngine {
    /// `None` when the camera has no offence rules.
    pub fn new(cam: &CameraConfig, width: u32, height: u32) -> Option<Self> {
        let o: &OffencesConfig = &cam.offences;
        if o.is_empty() {
            return None;
        }
        let (w, h) = (width.max(1) as f32, height.max(1) as f32);
        let px = |p: [f32; 2]| Point::new(p[0] * w, p[1] * h);
        let homography = cam
            .calibration
            .as_ref()
            .and_then(|c| c.homography.as_ref())
            .and_then(|hc| {
                let img = hc.image.map(|p| [(p[0] * w) as f64, (p[1] * h) as f64]);
                let gnd = hc.ground.map(|p| [p[0] as f64, p[1] as f64]);
                let hm = Homography::from_points(&img, &gnd);
                if hm.is_none() {
                    tracing::warn!(camera = %cam.id, "calibration homography is degenerate; metres unavailable");
                }
                hm
            });
        let lines = cam
            .calibration
            .as_ref()
            .and_then(|c| c.lines.as_ref())
            .map(|l| TwoLines {
                first: [px(l.first[0]), px(l.first[1])],
                second: [px(l.second[0]), px(l.second[1])],
                distance_m: l.distance_m as f64,
            });
        let env = Env {
            homography,
            lines,
            diag: (w * w + h * h).sqrt(),
        };
        let calibration_record = json!({
            "frame": [width, height],
            "config": cam.calibration,
            "homography_px_to_m": env.homography.map(|h| h.0),
        });
        let before = secs(o.evidence_before_seconds);
        let after = secs(o.evidence_after_seconds);
        let mut longest = 0.0f32;
        for s in &o.speed {
            longest = longest.max(s.window_seconds);
        }
        for r in &o.wrong_way {
            longest = longest.max(r.min_seconds * 2.0);
        }
        let keep = before + secs(longest + HISTORY_MARGIN_SECONDS);
        let vc = &o.vehicle_classes;
        let mut judged = vc.clone();
        let own = o
            .red_light
            .iter()
            .map(|r| &r.classes)
            .chain(o.speed.iter().map(|r| &r.classes))
            .chain(o.wrong_way.iter().map(|r| &r.classes))
            .chain(o.no_stopping.iter().map(|r| &r.classes))
            .chain(o.bus_lane.iter().map(|r| &r.classes));
        for c in own.flatten() {
            if !label_in(&judged, c) {
                judged.push(c.clone());
            }
        }
        let eng = OffenceEngine {
            camera: cam.id.clone(),
            width: w,
            height: h,
            judged,
            before,
            after,
            keep,
            red_light: o
                .red_light
                .iter()
                .map(|r| red_light::RedLightRule::new(r, vc, w, h, keep))
                .collect(),
            speed: o
                .speed
                .iter()
                .filter_map(|r| {
                    let rule = speed::SpeedRule::new(r, vc, w, h, &env);
                    if rule.is_none() {
                        tracing::warn!(camera = %cam.id, rule = %r.name, "speed rule has no usable calibration; disabled");
                    }
                    rule
                })
                .collect(),
            wrong_way: o
                .wrong_way
                .iter()
                .map(|r| wrong_way::WrongWayRule::new(r, vc, w, h))
                .collect(),
            no_stopping: o
                .no_stopping
                .iter()
                .map(|r| no_stopping::NoStoppingRule::new(r, vc, w, h))
                .collect(),
            bus_lane: o
                .bus_lane
                .iter()
                .map(|r| bus_lane::BusLaneRule::new(r, vc, w, h))
                .collect(),
            env,
            calibration_record,
            tracks: HashMap::new(),
        };
        Some(eng)
    }

    /// Whether any rule reads frames (red-light rules do).
    pub fn wants_frames(&self) -> bool {
        !self.red_light.is_empty()
    }

    /// Reads every red-light rule's signal from the frame.
    pub fn observe_frame(&mut self, frame: &Frame) {
        for r in self.red_light.iter_mut() {
            r.observe_frame(frame, self.width, self.height);
        }
    }

    /// Feeds a light reading made elsewhere to the red-light rule `rule`;
    /// false when there is no such rule.
    pub fn set_light_reading(&mut self, rule: &str, ts: Timestamp, reading: LightReading) -> bool {
        match self.red_light.iter_mut().find(|r| r.name() == rule) {
            Some(r) => {
                r.observe_reading(ts, reading);
                true
            }
            None => false,
        }
    }

    /// Current confirmed light state of each red-light rule.
    pub fn light_states(&self) -> Vec<(String, LightState)> {
        self.red_light
            .iter()
            .map(|r| (r.name().to_string(), r.state()))
            .collect()
    }

    pub fn update(
        &mut self,
        ts: Timestamp,
        objects: &[ObjectState<'_>],
        ended: &[u64],
        out: &mut Vec<Event>,
    ) {
        for o in objects {
            if !label_in(&self.judged, o.label) || !o.bbox.is_finite() {
                continue;
            }
            let hist = self.tracks.entry(o.track_id).or_insert_with(|| TrackHist {
                points: VecDeque::new(),
            });
            if hist.points.back().is_some_and(|p| p.ts >= ts) {
                continue; // same or older frame twice: nothing new to judge
            }
            hist.points.push_back(TrackPoint { ts, bbox: o.bbox });
            while hist.points.len() > MAX_HISTORY_POINTS
                || hist
                    .points
                    .front()
                    .is_some_and(|p| ts.since(p.ts) > self.keep)
            {
                hist.points.pop_front();
            }
            let hist = &*hist;
            let mut found = Vec::new();
            for r in self.red_light.iter_mut() {
                found.extend(r.update(ts, o, hist));
            }
            for r in self.speed.iter_mut() {
                found.extend(r.update(ts, o, hist, &self.env));
            }
            for r in self.wrong_way.iter_mut() {
                found.extend(r.update(ts, o, hist, &self.env));
            }
            for r in self.no_stopping.iter_mut() {
                found.extend(r.update(ts, o, hist));
            }
            for r in self.bus_lane.iter_mut() {
                found.extend(r.update(ts, o, hist, &self.env));
            }
            if let Some(hist) = self.tracks.get(&o.track_id) {
                for f in found {
                    out.push(self.event(f, o, hist));
                }
            }
        }
        for id in ended {
            self.tracks.remove(id);
            for r in self.red_light.iter_mut() {
                r.forget(*id);
            }
            for r in self.speed.iter_mut() {
                r.forget(*id);
            }
            for r in self.wrong_way.iter_mut() {
                r.forget(*id);
            }
            for r in self.no_stopping.iter_mut() {
                r.forget(*id);
            }
            for r in self.bus_lane.iter_mut() {
                r.forget(*id);
            }
        }
    }

    fn event(&self, f: Finding, o: &ObjectState<'_>, hist: &TrackHist) -> Event {
        let lead = self.before.as_millis() as i64;
        let earliest = f
            .during
            .0
            .saturating_sub(lead + MAX_LEAD.as_millis() as i64);
        let before = Timestamp(f.start.min(f.during).0.saturating_sub(lead).max(earliest));
        let after = f.during.plus(self.after);
        let span: Vec<TrackPoint> = hist
            .points
            .iter()
            .filter(|p| p.ts >= before && p.ts <= f.during)
            .copied()
            .collect();
        let vehicle_bbox = span.last().map(|p| p.bbox).unwrap_or(o.bbox);
        let step = span.len().div_ceil(MAX_EVIDENCE_POINTS).max(1);
        let mut track: Vec<TrackPoint> = span.iter().step_by(step).copied().collect();
        if let (Some(l), Some(t)) = (span.last(), track.last()) {
            if l.ts != t.ts {
                track.push(*l);
            }
        }
        let req = EvidenceRequest {
            camera: self.camera.clone(),
            offence: f.kind.to_string(),
            rule: f.rule.clone(),
            track_id: o.track_id,
            label: o.label.to_string(),
            start: f.start,
            before,
            during: f.during,
            after,
            vehicle_bbox,
            read_plate: true,
            regions: f.regions,
            track,
        };
        // The event is dated when the rule decided: the latest observation.
        let decided = hist
            .points
            .back()
            .map(|p| p.ts)
            .unwrap_or(f.during)
            .max(f.during);
        let mut e = Event::new(&self.camera, f.kind, decided);
        e.track_id = Some(o.track_id);
        e.label = Some(o.label.to_string());
        e.rule = Some(f.rule.clone());
        e.bbox = Some(o.bbox);
        e.score = o.score;
        e.details = json!({
            "offence": f.kind.trim_start_matches("offence_"),
            "rule": f.rule,
            "track_id": o.track_id,
            "class": o.label,
            "start": f.start,
            "during": f.during,
            "end": decided,
            "start_time": f.start.to_rfc3339(),
            "measured": f.measured,
            "calibration": if f.calibrated { self.calibration_record.clone() } else { serde_json::Value::Null },
            "evidence_request": req,
        });
        e
    }
}

/// Round to two decimals for records.
pub(crate) fn r2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Per-track "inside a region" with the engine's two-observation confirm on
/// leaving, so a box wobbling on an edge does not restart a measurement.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Inside {
    pub inside: bool,
    pub since: Option<Timestamp>,
    outside: u32,
}

impl Inside {
    /// Updates with this observation; returns true when the track just left.
    pub fn observe(&mut self, ts: Timestamp, now_inside: bool) -> bool {
        if now_inside {
            self.outside = 0;
            if !self.inside {
                self.inside = true;
                self.since = Some(ts);
            }
            false
        } else if self.inside {
            self.outside += 1;
            if self.outside >= crate::CONFIRM_OBSERVATIONS {
                *self = Inside::default();
                return true;
            }
            false
        } else {
            false
        }
    }
}

/// The classes a rule judges: its own list, else the camera's vehicles.
pub(crate) fn rule_classes(own: &[String], vehicles: &[String]) -> Vec<String> {
    if own.is_empty() {
        vehicles.to_vec()
    } else {
        own.to_vec()
    }
}
