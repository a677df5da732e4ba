//! Illegal stopping/parking: a vehicle standing in a no-stopping zone longer
//! than `limit_seconds`.
//!
//! "Standing" is the bottom centre moving slower than `stopped_speed` box
//! heights per second, measured over the last second (so tracker jitter on a
//! parked car does not count as motion). The stop timer survives brief
//! movement (`move_grace_seconds`: creeping in a queue, a box that jumps when
//! a pedestrian walks past) and restarts after longer movement. One offence
//! per stay; leaving the zone (two observations outside) clears the state, so
//! a vehicle that comes back and stops again is a new offence.

use super::{label_in, r2, rule_classes, Finding, Inside, TrackHist};
use crate::ObjectState;
use base::event::kinds;
use base::{Point, Polygon, Timestamp};
use config::NoStoppingConfig;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Motion is measured over this much track.
const SPEED_WINDOW: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Track {
    inside: Inside,
    stopped_since: Option<Timestamp>,
    moving_since: Option<Timestamp>,
    reported: bool,
}

pub(crate) struct NoStoppingRule {
    name: String,
    zone: Polygon,
    limit: Duration,
    stopped_speed: f32,
    grace: Duration,
    classes: Vec<String>,
    tracks: HashMap<u64, Track>,
}

impl NoStoppingRule {
    pub fn new(c: &NoStoppingConfig, vehicles: &[String], w: f32, h: f32) -> Self {
        NoStoppingRule {
            name: c.name.clone(),
            zone: Polygon(
                c.zone
                    .iter()
                    .map(|p| Point::new(p[0] * w, p[1] * h))
                    .collect(),
            ),
            limit: Duration::try_from_secs_f32(c.limit_seconds.max(0.0)).unwrap_or_default(),
            stopped_speed: c.stopped_speed,
            grace: Duration::try_from_secs_f32(c.move_grace_seconds.max(0.0)).unwrap_or_default(),
            classes: rule_classes(&c.classes, vehicles),
            tracks: HashMap::new(),
        }
    }

    pub fn forget(&mut self, id: u64) {
        self.tracks.remove(&id);
    }

    pub fn update(
        &mut self,
        ts: Timestamp,
        o: &ObjectState<'_>,
        hist: &TrackHist,
    ) -> Option<Finding> {
        if !label_in(&self.classes, o.label) {
            return None;
        }
        let tr = self.tracks.entry(o.track_id).or_default();
        let inside = self.zone.contains(o.bbox.bottom_center());
        if tr.inside.observe(ts, inside) {
            *tr = Track::default();
            return None;
        }
        if !tr.inside.inside {
            return None;
        }
        match hist.speed_heights(SPEED_WINDOW) {
            Some(v) if v <= self.stopped_speed => {
                tr.moving_since = None;
                // The vehicle has been still over the whole speed window.
                tr.stopped_since.get_or_insert(
                    Timestamp(ts.0.saturating_sub(SPEED_WINDOW.as_millis() as i64))
                        .max(tr.inside.since.unwrap_or(ts)),
                );
            }
            Some(_) => {
                let since = *tr.moving_since.get_or_insert(ts);
                if ts.since(since) > self.grace {
                    tr.stopped_since = None;
                }
            }
            None => {} // too little history to tell
        }
        let since = tr.stopped_since?;
        let stopped = ts.since(since);
        if tr.reported || stopped < self.limit {
            return None;
        }
        tr.reported = true;
        Some(Finding {
            kind: kinds::OFFENCE_NO_STOPPING,
            rule: self.name.clone(),
            start: since,
            during: ts,
            measured: json!({
                "stopped_seconds": r2(stopped.as_secs_f64()),
                "limit_seconds": r2(self.limit.as_secs_f64()),
                "stopped_since": since,
                "in_zone_since": tr.inside.since,
                "stopped_speed_heights_per_s": self.stopped_speed,
            }),
            calibrated: false,
            regions: Vec::new(),
        })
    }
}
