//! Red-light running: a vehicle's bottom centre crosses the stop line in the
//! configured direction while the signal (read from its pixels) is red and
//! has been red for longer than the grace period.
//!
//! The crossing moment is interpolated between the two observations either
//! side of the line, and the light state is looked up at that moment, not at
//! the frame that noticed the crossing: at 5 fps the two differ by up to
//! 200 ms, which matters right at the change to red.

use super::light::{
    classify_light, Lamps, LightReading, LightRegion, LightState, LightTracker, Region,
};
use super::{label_in, r2, rule_classes, EvidenceRegion, Finding, TrackHist};
use crate::{ObjectState, LINE_DEAD_BAND};
use base::event::kinds;
use base::geom::side;
use base::{Frame, Point, Timestamp};
use config::{LineDirection, RedLightConfig};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Light history put in the record, before the crossing.
const LIGHT_HISTORY: Duration = Duration::from_secs(10);

struct Side {
    point: Point,
    ts: Timestamp,
    sign: f32,
}

pub(crate) struct RedLightRule {
    name: String,
    a: Point,
    b: Point,
    direction: LineDirection,
    grace: Duration,
    classes: Vec<String>,
    /// Normalised light geometry, mapped to each frame's own size.
    light_norm: (Vec<[f32; 2]>, Option<config::LampRegions>),
    light_px: LightRegion,
    dead_band: f32,
    tracker: LightTracker,
    sides: HashMap<u64, Side>,
    reported: HashSet<u64>,
}

fn region(points: &[[f32; 2]], w: f32, h: f32) -> Region {
    let pts: Vec<Point> = points
        .iter()
        .map(|p| Point::new(p[0] * w, p[1] * h))
        .collect();
    Region::from_points(&pts)
}

fn light_region(
    housing: &[[f32; 2]],
    lamps: &Option<config::LampRegions>,
    w: f32,
    h: f32,
) -> LightRegion {
    LightRegion {
        housing: region(housing, w, h),
        lamps: lamps.as_ref().map(|l| Lamps {
            red: region(&l.red, w, h),
            amber: l.amber.as_ref().map(|a| region(a, w, h)),
            green: region(&l.green, w, h),
        }),
    }
}

impl RedLightRule {
    pub fn new(c: &RedLightConfig, vehicles: &[String], w: f32, h: f32, keep: Duration) -> Self {
        RedLightRule {
            name: c.name.clone(),
            a: Point::new(c.stop_line[0][0] * w, c.stop_line[0][1] * h),
            b: Point::new(c.stop_line[1][0] * w, c.stop_line[1][1] * h),
            direction: c.direction,
            grace: Duration::try_from_secs_f32(c.grace_seconds.max(0.0)).unwrap_or_default(),
            classes: rule_classes(&c.classes, vehicles),
            light_norm: (c.light.clone(), c.lamps.clone()),
            light_px: light_region(&c.light, &c.lamps, w, h),
            dead_band: LINE_DEAD_BAND * (w * w + h * h).sqrt(),
            tracker: LightTracker::new(c.min_confidence, c.confirm_readings, keep),
            sides: HashMap::new(),
            reported: HashSet::new(),
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> LightState {
        self.tracker.state()
    }

    pub fn observe_frame(&mut self, frame: &Frame, w: f32, h: f32) {
        let (fw, fh) = (frame.width as f32, frame.height as f32);
        let region = if (fw - w).abs() < 0.5 && (fh - h).abs() < 0.5 {
            None
        } else {
            Some(light_region(&self.light_norm.0, &self.light_norm.1, fw, fh))
        };
        let r = classify_light(
            &frame.rgb,
            frame.width,
            frame.height,
            region.as_ref().unwrap_or(&self.light_px),
        );
        self.tracker.observe(frame.ts, r);
    }

    pub fn observe_reading(&mut self, ts: Timestamp, r: LightReading) {
        self.tracker.observe(ts, r);
    }

    pub fn forget(&mut self, id: u64) {
        self.sides.remove(&id);
        self.reported.remove(&id);
    }

    pub fn update(
        &mut self,
        ts: Timestamp,
        o: &ObjectState<'_>,
        _hist: &TrackHist,
    ) -> Option<Finding> {
        if !label_in(&self.classes, o.label) || self.reported.contains(&o.track_id) {
            return None;
        }
        let p = o.bbox.bottom_center();
        let s = side(self.a, self.b, p);
        let len = super::dist(self.a, self.b).max(1e-3);
        if (s / len).abs() < self.dead_band {
            return None;
        }
        let sign = s.signum();
        let prev = self.sides.insert(o.track_id, Side { point: p, ts, sign })?;
        if prev.sign == sign {
            return None;
        }
        let t0 = prev.ts.0 as f64 / 1000.0;
        let t1 = ts.0 as f64 / 1000.0;
        let tc = super::calib::crossing_time(prev.point, t0, p, t1, self.a, self.b)?;
        // Same convention as counting lines: + to - is "in".
        let dir_in = prev.sign > 0.0;
        let wanted = match self.direction {
            LineDirection::Both => true,
            LineDirection::In => dir_in,
            LineDirection::Out => !dir_in,
        };
        if !wanted {
            return None;
        }
        let crossed = Timestamp((tc * 1000.0).round() as i64);
        let (state, since) = self.tracker.state_at(crossed);
        let red_for = since.map(|s| crossed.since(s));
        let offence = state == LightState::Red && red_for.is_some_and(|d| d >= self.grace);
        if !offence {
            return None;
        }
        self.reported.insert(o.track_id);
        // The light's story up to now: what it was before the crossing and
        // whether it stayed red since.
        let from = Timestamp(crossed.0.saturating_sub(LIGHT_HISTORY.as_millis() as i64));
        Some(Finding {
            kind: kinds::OFFENCE_RED_LIGHT,
            rule: self.name.clone(),
            start: crossed,
            during: crossed,
            measured: json!({
                "crossed_at": crossed,
                "crossed_at_time": crossed.to_rfc3339(),
                "direction": if dir_in { "in" } else { "out" },
                "light_state": state,
                "red_since": since,
                "red_for_seconds": red_for.map(|d| r2(d.as_secs_f64())),
                "grace_seconds": r2(self.grace.as_secs_f64()),
                "light_history": self.tracker.history(from, ts),
                "stop_line_px": [[self.a.x, self.a.y], [self.b.x, self.b.y]],
            }),
            calibrated: false,
            regions: vec![EvidenceRegion {
                name: "traffic_light".into(),
                bbox: self.light_px.housing.bbox(),
            }],
        })
    }
}
