//! Wrong-way driving: a vehicle moving through a lane against the lane's
//! direction.
//!
//! The motion is the net displacement of the bottom centre over the recent
//! stay in the lane (the last `2 × min_seconds`, at least 3 s), not a
//! frame-to-frame step: box jitter makes single steps point anywhere, while
//! a net displacement of `min_distance` over `min_seconds` does not. A
//! vehicle that is merely stopped, or crossing the lane sideways (cosine near
//! 0), never qualifies. Reported once per track.

use super::{dist, label_in, r2, rule_classes, Env, Finding, Inside, TrackHist};
use crate::ObjectState;
use base::event::kinds;
use base::{Point, Polygon, Timestamp};
use config::WrongWayConfig;
use serde_json::json;
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

#[derive(Default)]
struct Track {
    inside: Inside,
    points: VecDeque<(Timestamp, Point)>,
}

pub(crate) struct WrongWayRule {
    name: String,
    lane: Polygon,
    /// Unit vector of legal travel, pixels.
    dir: (f32, f32),
    max_cosine: f32,
    min_time: Duration,
    window: Duration,
    min_distance_px: f32,
    min_distance: f32,
    classes: Vec<String>,
    tracks: HashMap<u64, Track>,
    reported: HashSet<u64>,
}

impl WrongWayRule {
    pub fn new(c: &WrongWayConfig, vehicles: &[String], w: f32, h: f32) -> Self {
        let (dx, dy) = (
            (c.direction[1][0] - c.direction[0][0]) * w,
            (c.direction[1][1] - c.direction[0][1]) * h,
        );
        let n = (dx * dx + dy * dy).sqrt().max(1e-6);
        let min_time = Duration::try_from_secs_f32(c.min_seconds.max(0.0)).unwrap_or_default();
        WrongWayRule {
            name: c.name.clone(),
            lane: Polygon(
                c.lane
                    .iter()
                    .map(|p| Point::new(p[0] * w, p[1] * h))
                    .collect(),
            ),
            dir: (dx / n, dy / n),
            max_cosine: c.max_cosine,
            min_time,
            window: (min_time * 2).max(Duration::from_secs(3)),
            min_distance_px: c.min_distance * (w * w + h * h).sqrt(),
            min_distance: c.min_distance,
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
        if !label_in(&self.classes, o.label) || self.reported.contains(&o.track_id) {
            return None;
        }
        let p = o.bbox.bottom_center();
        let tr = self.tracks.entry(o.track_id).or_default();
        let inside = self.lane.contains(p);
        if tr.inside.observe(ts, inside) {
            tr.points.clear();
        }
        if !inside {
            return None;
        }
        tr.points.push_back((ts, p));
        while tr
            .points
            .front()
            .is_some_and(|(t, _)| ts.since(*t) > self.window)
        {
            tr.points.pop_front();
        }
        let &(t0, p0) = tr.points.front()?;
        let elapsed = ts.since(t0);
        let (dx, dy) = (p.x - p0.x, p.y - p0.y);
        let moved = dist(p0, p);
        if elapsed < self.min_time || moved < self.min_distance_px || moved <= 0.0 {
            return None;
        }
        let cos = (dx * self.dir.0 + dy * self.dir.1) / moved;
        if cos >= self.max_cosine {
            return None;
        }
        self.reported.insert(o.track_id);
        let metres = match (env.ground(p0), env.ground(p)) {
            (Some(a), Some(b)) => Some(r2((a[0] - b[0]).hypot(a[1] - b[1]))),
            _ => None,
        };
        Some(Finding {
            kind: kinds::OFFENCE_WRONG_WAY,
            rule: self.name.clone(),
            start: t0,
            during: ts,
            measured: json!({
                "cosine": r2(cos as f64),
                "max_cosine": r2(self.max_cosine as f64),
                "seconds": r2(elapsed.as_secs_f64()),
                "distance_px": r2(moved as f64),
                "distance_fraction": r2((moved / env.diag.max(1.0)) as f64),
                "min_distance_fraction": self.min_distance,
                "distance_m": metres,
                "motion_px": [r2(dx as f64), r2(dy as f64)],
                "lane_direction": [r2(self.dir.0 as f64), r2(self.dir.1 as f64)],
            }),
            calibrated: metres.is_some(),
            regions: Vec::new(),
        })
    }
}
