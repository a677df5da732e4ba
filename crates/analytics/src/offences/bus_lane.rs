//! Bus-lane use: a vehicle whose class is not allowed (default: anything
//! but `bus`) inside the lane for more than `max_seconds`, or, with a
//! homography calibration and `max_distance_m`, for more than that many
//! metres travelled. The allowance lets vehicles cross the lane to turn or
//! pull in. Reported once per track.

use super::{label_in, r2, rule_classes, Env, Finding, Inside, TrackHist};
use crate::ObjectState;
use base::event::kinds;
use base::{Point, Polygon, Timestamp};
use config::BusLaneConfig;
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

#[derive(Default)]
struct Track {
    inside: Inside,
    metres: f64,
    last_ground: Option<[f64; 2]>,
}

pub(crate) struct BusLaneRule {
    name: String,
    lane: Polygon,
    allowed: Vec<String>,
    max_time: Duration,
    max_metres: Option<f64>,
    classes: Vec<String>,
    tracks: HashMap<u64, Track>,
    reported: HashSet<u64>,
}

impl BusLaneRule {
    pub fn new(c: &BusLaneConfig, vehicles: &[String], w: f32, h: f32) -> Self {
        BusLaneRule {
            name: c.name.clone(),
            lane: Polygon(
                c.lane
                    .iter()
                    .map(|p| Point::new(p[0] * w, p[1] * h))
                    .collect(),
            ),
            allowed: c.allowed_classes.clone(),
            max_time: Duration::try_from_secs_f32(c.max_seconds.max(0.0)).unwrap_or_default(),
            max_metres: c.max_distance_m.map(|m| m as f64),
            classes: rule_classes(&c.classes, vehicles),
            tracks: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    pub fn forget(&mut self, id: u64) {
        self.tracks.remove(&id);
        self.reported.remove(&id);
    }

    pub fn update(
        &mut self,
        ts: Timestamp,
        o: &ObjectState<'_>,
        _hist: &TrackHist,
        env: &Env,
    ) -> Option<Finding> {
        if !label_in(&self.classes, o.label)
            || label_in(&self.allowed, o.label)
            || self.reported.contains(&o.track_id)
        {
            return None;
        }
        let p = o.bbox.bottom_center();
        let tr = self.tracks.entry(o.track_id).or_default();
        let inside = self.lane.contains(p);
        if tr.inside.observe(ts, inside) {
            *tr = Track::default();
            return None;
        }
        if !tr.inside.inside || !inside {
            return None;
        }
        if let Some(g) = env.ground(p) {
            if let Some(l) = tr.last_ground {
                tr.metres += (g[0] - l[0]).hypot(g[1] - l[1]);
            }
            tr.last_ground = Some(g);
        }
        let since = tr.inside.since?;
        let t = ts.since(since);
        let by_time = t > self.max_time;
        let by_distance = self.max_metres.is_some_and(|m| tr.metres > m);
        if !(by_time || by_distance) {
            return None;
        }
        self.reported.insert(o.track_id);
        let calibrated = env.homography.is_some();
        Some(Finding {
            kind: kinds::OFFENCE_BUS_LANE,
            rule: self.name.clone(),
            start: since,
            during: ts,
            measured: json!({
                "seconds_in_lane": r2(t.as_secs_f64()),
                "max_seconds": r2(self.max_time.as_secs_f64()),
                "metres_in_lane": calibrated.then(|| r2(tr.metres)),
                "max_distance_m": self.max_metres,
                "exceeded": if by_distance && !by_time { "distance" } else { "time" },
                "allowed_classes": self.allowed,
            }),
            calibrated,
            regions: Vec::new(),
        })
    }
}
