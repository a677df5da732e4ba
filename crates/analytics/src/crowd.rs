//! Crowds: per-zone people count and density with hysteresis, and sudden
//! gathering or dispersal.
//!
//! The raw count (person tracks whose bottom centre is in the zone) jumps by
//! one or two from frame to frame as the detector misses and re-finds people
//! in a dense scene, so every rule works on its mean over `smoothing_seconds`.
//! The density alert is a two-state machine: it turns on once the smoothed
//! level has stayed above the threshold for `hold_seconds`, and off only once
//! it has stayed below threshold × (1 − hysteresis) as long, so a crowd
//! hovering at the limit gives one alert, not one per wobble. Gathering and
//! dispersal compare the current count with the lowest / highest count of the
//! last `window_seconds`; after either fires the window restarts from the
//! current count and follows it while the surge goes on, so one surge is one
//! event. They stay quiet for the first window after start-up, when there is
//! no baseline yet.

use super::round2;
use base::event::kinds;
use base::{BBox, Event, Polygon, Timestamp};
use config::CrowdConfig;
use serde_json::json;
use std::collections::VecDeque;

pub(crate) struct CrowdRule {
    camera: String,
    zone: String,
    polygon: Polygon,
    cfg: CrowdConfig,
    /// Raw per-frame counts inside the smoothing window.
    samples: VecDeque<(Timestamp, u32)>,
    /// Smoothed counts inside the gathering window.
    history: VecDeque<(Timestamp, f32)>,
    active: bool,
    /// Since when the level has been past the threshold that would switch state.
    pending_since: Option<Timestamp>,
    active_since: Timestamp,
    peak: f32,
    current: f32,
    /// The surge (gathering or dispersal) that last fired, while the count
    /// keeps moving its way: the window's baseline follows the count, so a
    /// surge larger than 2N is still one event.
    following: Option<&'static str>,
    /// First update: "sudden" needs a baseline, so gathering/dispersal wait
    /// until one whole window has been watched (at start-up every person
    /// would otherwise look like a sudden arrival).
    started: Option<Timestamp>,
}

impl CrowdRule {
    pub(crate) fn new(camera: &str, zone: &str, polygon: Polygon, cfg: &CrowdConfig) -> Self {
        CrowdRule {
            camera: camera.to_string(),
            zone: zone.to_string(),
            polygon,
            cfg: cfg.clone(),
            samples: VecDeque::new(),
            history: VecDeque::new(),
            active: false,
            pending_since: None,
            active_since: Timestamp(0),
            peak: 0.0,
            current: 0.0,
            following: None,
            started: None,
        }
    }

    pub(crate) fn zone(&self) -> &str {
        &self.zone
    }

    /// The smoothed count after the latest update.
    pub(crate) fn count(&self) -> f32 {
        self.current
    }

    /// Lowest and highest smoothed count in the gathering window.
    fn min_max(&self) -> (f32, f32) {
        self.history
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), (_, c)| {
                (lo.min(*c), hi.max(*c))
            })
    }

    /// How far past its thresholds a smoothed count is: > 1 means over.
    fn level(&self, count: f32) -> f32 {
        let mut level = 0.0f32;
        if let Some(m) = self.cfg.max_people {
            level = level.max(count / m as f32);
        }
        if let (Some(d), Some(a)) = (self.cfg.max_density, self.cfg.area_m2) {
            level = level.max(count / a / d);
        }
        level
    }

    /// `people` are the boxes of person tracks present now (any zone).
    pub(crate) fn update(&mut self, ts: Timestamp, people: &[BBox], out: &mut Vec<Event>) {
        let inside: Vec<&BBox> = people
            .iter()
            .filter(|b| self.polygon.contains(b.bottom_center()))
            .collect();
        let raw = inside.len() as u32;
        let area = inside.iter().fold(None::<BBox>, |acc, b| {
            Some(acc.map_or(**b, |a: BBox| a.union(b)))
        });
        self.samples.push_back((ts, raw));
        let smooth_ms = (self.cfg.smoothing_seconds * 1000.0) as i64;
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| ts.millis() - t.millis() > smooth_ms)
        {
            self.samples.pop_front();
        }
        let count =
            self.samples.iter().map(|(_, n)| *n as f32).sum::<f32>() / self.samples.len() as f32;
        self.current = count;
        let mk = |kind: &str, details: serde_json::Value| {
            let mut e = Event::new(&self.camera, kind, ts);
            e.label = Some("person".into());
            e.rule = Some(self.zone.clone());
            e.bbox = area;
            e.details = details;
            e
        };
        let density = self.cfg.area_m2.map(|a| round2(count / a));

        if self.cfg.max_people.is_some() || self.cfg.max_density.is_some() {
            let level = self.level(count);
            let switching = if self.active {
                level < 1.0 - self.cfg.hysteresis
            } else {
                level > 1.0
            };
            if self.active {
                self.peak = self.peak.max(count);
            }
            if !switching {
                self.pending_since = None;
            } else {
                let since = *self.pending_since.get_or_insert(ts);
                if ts.since(since).as_secs_f32() >= self.cfg.hold_seconds {
                    self.pending_since = None;
                    self.active = !self.active;
                    if self.active {
                        self.active_since = ts;
                        self.peak = count;
                        out.push(mk(
                            kinds::CROWD_DENSITY,
                            json!({
                                "state": "active",
                                "count": round2(count),
                                "raw_count": raw,
                                "density": density,
                                "max_people": self.cfg.max_people,
                                "max_density": self.cfg.max_density,
                                "area_m2": self.cfg.area_m2,
                            }),
                        ));
                    } else {
                        out.push(mk(
                            kinds::CROWD_DENSITY_CLEARED,
                            json!({
                                "state": "cleared",
                                "count": round2(count),
                                "raw_count": raw,
                                "density": density,
                                "peak_count": round2(self.peak),
                                "duration_seconds": round2(ts.since(self.active_since).as_secs_f32()),
                            }),
                        ));
                    }
                }
            }
        }

        let win_ms = (self.cfg.window_seconds * 1000.0) as i64;
        while self
            .history
            .front()
            .is_some_and(|(t, _)| ts.millis() - t.millis() > win_ms)
        {
            self.history.pop_front();
        }
        self.history.push_back((ts, count));
        let (lo, hi) = self.min_max();
        let continues = match self.following {
            Some(k) if k == kinds::CROWD_GATHERING => count >= hi,
            Some(_) => count <= lo,
            None => false,
        };
        if continues {
            self.history.clear();
            self.history.push_back((ts, count));
        } else {
            self.following = None;
        }
        let gather = self.cfg.gathering_increase;
        let disperse = self.cfg.dispersal_decrease.or(gather);
        let (lo, hi) = self.min_max();
        // The change is measured from the latest time the count was at its
        // window extreme: how fast it happened, not how long it was flat before.
        let mut fired = None;
        if let Some(n) = gather.filter(|n| count - lo >= *n as f32) {
            fired = Some((kinds::CROWD_GATHERING, lo, n));
        } else if let Some(n) = disperse.filter(|n| hi - count >= *n as f32) {
            fired = Some((kinds::CROWD_DISPERSAL, hi, n));
        }
        let started = *self.started.get_or_insert(ts);
        if ts.millis() - started.millis() < win_ms {
            // Warming up: the baseline is whatever is seen now.
            fired = None;
            self.history.clear();
            self.history.push_back((ts, count));
        }
        if let Some((kind, from, n)) = fired {
            let t0 = self
                .history
                .iter()
                .rev()
                .find(|(_, c)| *c == from)
                .map(|(t, _)| *t)
                .unwrap_or(ts);
            out.push(mk(
                kind,
                json!({
                    "count": round2(count),
                    "raw_count": raw,
                    "from_count": round2(from),
                    "change": round2(count - from),
                    "threshold": n,
                    "over_seconds": round2(ts.since(t0).as_secs_f32()),
                    "window_seconds": self.cfg.window_seconds,
                    "density": density,
                }),
            ));
            // One surge, one event: the next needs another N from here.
            self.following = Some(kind);
            self.history.clear();
            self.history.push_back((ts, count));
        }
    }
}
