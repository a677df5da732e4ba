//! Speeding, by one of two calibrations:
//! - homography: each observation's bottom centre is mapped to the ground
//!   plane in metres; velocity is the Theil–Sen slope of ground x and y over
//!   the last `window_seconds` (robust to a jumpy box), and an offence needs
//!   `confirm_estimates` consecutive estimates over the threshold;
//! - lines: the times the bottom centre crosses the two calibration lines
//!   (interpolated between frames) give distance / time.
//!
//! The threshold is `limit_kmh` plus the larger of `tolerance_kmh` and
//! `tolerance_percent` of the limit. Each track is reported once per rule
//! with the highest estimate seen up to the decision.

use super::calib::{crossing_time, theil_sen_slope};
use super::{label_in, r2, rule_classes, Env, Finding, TrackHist};
use crate::ObjectState;
use base::event::kinds;
use base::{Point, Polygon, Timestamp};
use config::{SpeedConfig, SpeedMethod};
use serde_json::json;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Fewest ground points a homography estimate is fitted on.
const MIN_POINTS: usize = 4;

#[derive(Default)]
struct Track {
    /// (seconds, ground x, ground y) inside the zone, within the window.
    ground: Vec<(f64, f64, f64)>,
    over: u32,
    max_kmh: f64,
    first_over: Option<Timestamp>,
    /// Lines method: last position/time, and crossing times of each line.
    last: Option<(Point, f64)>,
    crossed: [Option<f64>; 2],
}

pub(crate) struct SpeedRule {
    name: String,
    method: SpeedMethod,
    limit: f64,
    threshold: f64,
    window: Duration,
    confirm: u32,
    zone: Option<Polygon>,
    classes: Vec<String>,
    tracks: HashMap<u64, Track>,
    reported: HashSet<u64>,
}

impl SpeedRule {
    /// `None` when the chosen calibration is unavailable (degenerate homography).
    pub fn new(c: &SpeedConfig, vehicles: &[String], w: f32, h: f32, env: &Env) -> Option<Self> {
        let method = match c.method {
            Some(m) => m,
            None if env.homography.is_some() => SpeedMethod::Homography,
            None => SpeedMethod::Lines,
        };
        let available = match method {
            SpeedMethod::Homography => env.homography.is_some(),
            SpeedMethod::Lines => env.lines.is_some(),
        };
        if !available {
            return None;
        }
        let limit = c.limit_kmh as f64;
        let tol = (c.tolerance_kmh as f64).max(limit * c.tolerance_percent as f64 / 100.0);
        Some(SpeedRule {
            name: c.name.clone(),
            method,
            limit,
            threshold: limit + tol,
            window: Duration::try_from_secs_f32(c.window_seconds).unwrap_or(Duration::from_secs(1)),
            confirm: c.confirm_estimates.max(1),
            zone: (!c.zone.is_empty()).then(|| {
                Polygon(
                    c.zone
                        .iter()
                        .map(|p| Point::new(p[0] * w, p[1] * h))
                        .collect(),
                )
            }),
            classes: rule_classes(&c.classes, vehicles),
            tracks: HashMap::new(),
            reported: HashSet::new(),
        })
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
        let t = ts.0 as f64 / 1000.0;
        let tr = self.tracks.entry(o.track_id).or_default();
        match self.method {
            SpeedMethod::Homography => {
                let in_zone = self.zone.as_ref().is_none_or(|z| z.contains(p));
                let g = if in_zone { env.ground(p) } else { None };
                match g {
                    Some([x, y]) => tr.ground.push((t, x, y)),
                    // Left the zone (or the ground plane): start afresh.
                    None => {
                        tr.ground.clear();
                        tr.over = 0;
                        return None;
                    }
                }
                let win = self.window.as_secs_f64();
                tr.ground.retain(|s| t - s.0 <= win + 1e-6);
                let span = tr.ground.last()?.0 - tr.ground.first()?.0;
                if tr.ground.len() < MIN_POINTS || span < 0.6 * win {
                    return None;
                }
                let xs: Vec<(f64, f64)> = tr.ground.iter().map(|s| (s.0, s.1)).collect();
                let ys: Vec<(f64, f64)> = tr.ground.iter().map(|s| (s.0, s.2)).collect();
                let vx = theil_sen_slope(&xs)?;
                let vy = theil_sen_slope(&ys)?;
                let kmh = vx.hypot(vy) * 3.6;
                if !kmh.is_finite() {
                    return None;
                }
                if kmh > self.threshold {
                    tr.over += 1;
                    tr.first_over.get_or_insert(ts);
                    tr.max_kmh = tr.max_kmh.max(kmh);
                } else {
                    tr.over = 0;
                    tr.first_over = None;
                    tr.max_kmh = 0.0;
                }
                if tr.over < self.confirm {
                    return None;
                }
                let n = tr.ground.len();
                let start = tr.first_over.unwrap_or(ts);
                let start = Timestamp(start.0.saturating_sub((win * 1000.0) as i64));
                let measured = json!({
                    "method": "homography",
                    "speed_kmh": r2(kmh),
                    "max_speed_kmh": r2(tr.max_kmh),
                    "limit_kmh": r2(self.limit),
                    "threshold_kmh": r2(self.threshold),
                    "window_seconds": r2(win),
                    "points": n,
                    "estimates_over": tr.over,
                    "velocity_m_s": [r2(vx), r2(vy)],
                });
                self.reported.insert(o.track_id);
                Some(Finding {
                    kind: kinds::OFFENCE_SPEED,
                    rule: self.name.clone(),
                    start,
                    during: ts,
                    measured,
                    calibrated: true,
                    regions: Vec::new(),
                })
            }
            SpeedMethod::Lines => {
                let lines = env.lines.as_ref()?;
                let prev = tr.last.replace((p, t));
                let (p0, t0) = prev?;
                for (k, l) in [lines.first, lines.second].iter().enumerate() {
                    if tr.crossed[k].is_none() {
                        tr.crossed[k] = crossing_time(p0, t0, p, t, l[0], l[1]);
                    }
                }
                let (Some(a), Some(b)) = (tr.crossed[0], tr.crossed[1]) else {
                    return None;
                };
                let dt = (b - a).abs();
                let kmh = lines.speed_kmh(dt);
                // Measured once, whatever the result: the next crossings of
                // the same track are not a new measurement.
                self.reported.insert(o.track_id);
                let kmh = kmh?;
                if kmh <= self.threshold {
                    return None;
                }
                let first = a.min(b);
                let ms = |s: f64| Timestamp((s * 1000.0).round() as i64);
                Some(Finding {
                    kind: kinds::OFFENCE_SPEED,
                    rule: self.name.clone(),
                    start: ms(first),
                    during: ms(a.max(b)),
                    measured: json!({
                        "method": "lines",
                        "speed_kmh": r2(kmh),
                        "limit_kmh": r2(self.limit),
                        "threshold_kmh": r2(self.threshold),
                        "distance_m": r2(lines.distance_m),
                        "seconds_between_lines": (dt * 1000.0).round() / 1000.0,
                        "first_line_at": ms(a),
                        "second_line_at": ms(b),
                        "direction": if a <= b { "first_to_second" } else { "second_to_first" },
                    }),
                    calibrated: true,
                    regions: Vec::new(),
                })
            }
        }
    }
}
