//! Rules v1: polygon zones (enter, exit, dwell) and directed counting lines.
//!
//! The engine keeps its own small per-track state (which zones a track is in and
//! since when, which side of each line it was last seen on) and turns each
//! analysed frame's tracked objects into [`Event`]s. It takes plain object
//! states rather than the tracker's types so that any tracker, or a replay from
//! the store, can drive it.
//!
//! Objects are placed by the bottom centre of their box (where a person's feet
//! or a car's wheels touch the ground), which is what a zone drawn on the ground
//! means. Two guards keep the events honest on real, jittery boxes:
//! - a zone membership change needs [`CONFIRM_OBSERVATIONS`] consecutive
//!   observations, so a box wobbling on a zone edge does not flap enter/exit;
//! - a line side only counts when the point is more than [`LINE_DEAD_BAND`]
//!   (fraction of the frame diagonal) away from the line, so standing on a
//!   line does not count as crossing it back and forth.
//!
//! Public-safety rules (#5) live in their own modules and run on the same
//! per-frame input: [`abandoned`] (carried objects left behind, per camera),
//! [`crowd`] (per-zone counts, density, gathering/dispersal) and [`loiter`]
//! (per-zone dwell of a person across short occlusions).
//!
//! Traffic offences (#4) live in [`offences`]: red-light running, speeding,
//! wrong-way driving, illegal stopping and bus-lane use, driven by the same
//! `update` plus [`RuleEngine::observe_frame`] for the traffic-light pixels.

mod abandoned;
mod crowd;
mod loiter;
pub mod offences;

pub use abandoned::UNKNOWN_OBJECT;

use base::event::kinds;
use base::geom::{segments_intersect, side};
use base::{BBox, Event, Point, Polygon, Timestamp};
use config::{CameraConfig, LineDirection};
use serde_json::json;
use std::collections::HashMap;

/// Consecutive observations needed to accept a zone membership change.
pub const CONFIRM_OBSERVATIONS: u32 = 2;
/// Dead band around counting lines, as a fraction of the frame diagonal.
pub const LINE_DEAD_BAND: f32 = 0.01;
/// A new person track continues an occluded one (loitering visit, abandoned
/// object owner) when it appears within this many box heights of where the
/// old one was last seen: near enough to be the same person after a few
/// seconds behind an obstacle, far enough apart to tell two people apart.
pub const REASSOCIATE_HEIGHTS: f32 = 1.5;

/// An object the detector does not know, found still by background
/// subtraction (see `vision::StaticObjectDetector`), for the abandoned rule.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticObject {
    /// Stable while the object stays.
    pub id: u64,
    pub bbox: BBox,
    /// When it arrived (stopped changing): the drop time.
    pub since: Timestamp,
}

/// One tracked object in the current frame.
#[derive(Clone, Debug)]
pub struct ObjectState<'a> {
    pub track_id: u64,
    pub label: &'a str,
    pub bbox: BBox,
    pub score: f32,
}

struct Zone {
    name: String,
    polygon: Polygon,
    classes: Vec<String>,
    dwell: Option<f32>,
    enter_exit: bool,
}

struct Line {
    name: String,
    a: Point,
    b: Point,
    direction: LineDirection,
    classes: Vec<String>,
    count_in: u64,
    count_out: u64,
}

fn applies(classes: &[String], label: &str) -> bool {
    classes.is_empty() || classes.iter().any(|c| c == label)
}

#[derive(Default)]
struct ZoneMembership {
    inside: bool,
    /// Consecutive observations disagreeing with `inside`.
    pending: u32,
    since: Option<Timestamp>,
    dwell_reported: bool,
}

/// The JSON of the configuration sections a [`RuleEngine`] is built from.
#[derive(PartialEq)]
struct RuleSource {
    zones: serde_json::Value,
    abandoned: serde_json::Value,
    offences: serde_json::Value,
}

impl RuleSource {
    fn of(cam: &CameraConfig) -> Self {
        let json = |v: serde_json::Result<serde_json::Value>| v.unwrap_or_default();
        RuleSource {
            zones: json(serde_json::to_value(&cam.zones)),
            abandoned: json(serde_json::to_value(&cam.abandoned)),
            offences: json(serde_json::to_value(&cam.offences)),
        }
    }
}

#[derive(Default)]
struct TrackState {
    label: String,
    zones: Vec<ZoneMembership>,
    /// Last point clearly on one side of each line, with that side's sign.
    line_sides: Vec<Option<(Point, f32)>>,
    last_bbox: BBox,
}

/// Current occupancy and counters, for status APIs and summaries.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RuleStats {
    pub zones: Vec<(String, usize)>,
    /// (line name, crossings in, crossings out)
    pub lines: Vec<(String, u64, u64)>,
    /// (zone name, smoothed people count) of zones with crowd rules.
    pub crowds: Vec<(String, f32)>,
}

pub struct RuleEngine {
    camera: String,
    /// The configuration sections the rules were built from, as JSON, so a
    /// live edit ([`RuleEngine::reconfigure`]) can tell what changed.
    source: RuleSource,
    zones: Vec<Zone>,
    lines: Vec<Line>,
    dead_band: f32,
    tracks: HashMap<u64, TrackState>,
    abandoned: Option<abandoned::AbandonedRule>,
    crowds: Vec<crowd::CrowdRule>,
    /// People from the crowd counter (`[camera.crowd_counter]`), which the
    /// crowd rules use instead of person tracks once a count has arrived.
    counted: Option<Vec<BBox>>,
    /// Static objects handed over since the last update.
    statics: Option<Vec<StaticObject>>,
    loiter: loiter::LoiterRule,
    offences: Option<offences::OffenceEngine>,
}

impl RuleEngine {
    /// Builds the rules of `cam` for a `width`×`height` stream (normalised
    /// coordinates become pixels here, once).
    pub fn new(cam: &CameraConfig, width: u32, height: u32) -> Self {
        let (w, h) = (width as f32, height as f32);
        let px = |p: [f32; 2]| Point::new(p[0] * w, p[1] * h);
        let poly = |pts: &[[f32; 2]]| Polygon(pts.iter().map(|p| px(*p)).collect());
        let mut loiter = loiter::LoiterRule::new(&cam.id);
        let mut crowds = Vec::new();
        for z in &cam.zones {
            if let Some(limit) = z.loiter_seconds {
                loiter.add_zone(
                    &z.name,
                    poly(&z.polygon),
                    &z.classes,
                    limit,
                    z.reassociate_seconds,
                );
            }
            if let Some(c) = &z.crowd {
                crowds.push(crowd::CrowdRule::new(&cam.id, &z.name, poly(&z.polygon), c));
            }
        }
        RuleEngine {
            camera: cam.id.clone(),
            source: RuleSource::of(cam),
            zones: cam
                .zones
                .iter()
                .map(|z| Zone {
                    name: z.name.clone(),
                    polygon: Polygon(z.polygon.iter().map(|p| px(*p)).collect()),
                    classes: z.classes.clone(),
                    dwell: z.dwell_seconds,
                    enter_exit: z.enter_exit,
                })
                .collect(),
            lines: cam
                .lines
                .iter()
                .map(|l| Line {
                    name: l.name.clone(),
                    a: px(l.from),
                    b: px(l.to),
                    direction: l.direction,
                    classes: l.classes.clone(),
                    count_in: 0,
                    count_out: 0,
                })
                .collect(),
            dead_band: LINE_DEAD_BAND * (w * w + h * h).sqrt(),
            tracks: HashMap::new(),
            abandoned: cam
                .abandoned
                .as_ref()
                .filter(|a| a.enabled)
                .map(|a| abandoned::AbandonedRule::new(&cam.id, a)),
            crowds,
            counted: None,
            statics: None,
            loiter,
            offences: offences::OffenceEngine::new(cam, width, height),
        }
    }

    /// Applies an edited configuration of the same camera while it runs
    /// (zones and lines drawn in the web app take effect without a restart).
    ///
    /// What did not change keeps its state, so an edit never replays events
    /// nor forgets who is where: track memberships of every zone whose
    /// polygon and classes are unchanged, the sides and counts of unchanged
    /// lines, and the loitering, crowd, abandoned-object and offence rules
    /// when their own sections are unchanged. A new or moved zone starts
    /// empty: an object standing in it enters it (after the usual
    /// confirmation), and its dwell and loitering clocks start at the edit.
    pub fn reconfigure(&mut self, cam: &CameraConfig, width: u32, height: u32) {
        let mut next = RuleEngine::new(cam, width, height);
        let zone_from: Vec<Option<usize>> = next
            .zones
            .iter()
            .map(|z| {
                self.zones.iter().position(|o| {
                    o.name == z.name && o.polygon == z.polygon && o.classes == z.classes
                })
            })
            .collect();
        let line_from: Vec<Option<usize>> = next
            .lines
            .iter()
            .map(|l| {
                self.lines.iter().position(|o| {
                    o.name == l.name
                        && o.a == l.a
                        && o.b == l.b
                        && o.direction == l.direction
                        && o.classes == l.classes
                })
            })
            .collect();
        for (l, from) in next.lines.iter_mut().zip(&line_from) {
            if let Some(i) = *from {
                l.count_in = self.lines[i].count_in;
                l.count_out = self.lines[i].count_out;
            }
        }
        for (id, mut st) in self.tracks.drain() {
            let zones = zone_from
                .iter()
                .map(|f| {
                    f.map(|i| std::mem::take(&mut st.zones[i]))
                        .unwrap_or_default()
                })
                .collect();
            let line_sides = line_from
                .iter()
                .map(|f| f.and_then(|i| st.line_sides[i]))
                .collect();
            next.tracks.insert(
                id,
                TrackState {
                    label: st.label,
                    zones,
                    line_sides,
                    last_bbox: st.last_bbox,
                },
            );
        }
        if next.source.zones == self.source.zones {
            next.loiter = std::mem::replace(&mut self.loiter, loiter::LoiterRule::new(&cam.id));
            next.crowds = std::mem::take(&mut self.crowds);
        }
        if next.source.abandoned == self.source.abandoned {
            next.abandoned = self.abandoned.take();
        }
        if next.source.offences == self.source.offences {
            next.offences = self.offences.take();
        }
        next.counted = self.counted.take();
        next.statics = self.statics.take();
        *self = next;
    }

    /// Whether [`RuleEngine::observe_frame`] does anything for this camera
    /// (a red-light rule reads its signal's pixels), so a caller can skip it.
    pub fn wants_frames(&self) -> bool {
        self.offences.as_ref().is_some_and(|o| o.wants_frames())
    }

    /// Reads what the rules need from the pixels of an analysed frame (the
    /// traffic-light state of red-light rules). Call it before
    /// [`RuleEngine::update`] for the same frame; cheap (a few small regions).
    pub fn observe_frame(&mut self, frame: &base::Frame) {
        if let Some(o) = self.offences.as_mut() {
            o.observe_frame(frame);
        }
    }

    /// Feeds the red-light rule named `rule` a light reading made elsewhere
    /// (another camera facing the signal, a controller feed); false when the
    /// camera has no such rule.
    pub fn set_light_reading(
        &mut self,
        rule: &str,
        ts: Timestamp,
        reading: offences::LightReading,
    ) -> bool {
        self.offences
            .as_mut()
            .is_some_and(|o| o.set_light_reading(rule, ts, reading))
    }

    /// Confirmed signal state of each red-light rule, for status displays.
    pub fn light_states(&self) -> Vec<(String, offences::LightState)> {
        self.offences
            .as_ref()
            .map(|o| o.light_states())
            .unwrap_or_default()
    }

    /// Hands the crowd rules the people of the latest crowd count (boxes in
    /// frame pixels; each is placed by its bottom centre like a track). From
    /// then on the zones count these instead of person tracks: the counter
    /// sees the small and hidden people of a dense scene that tracks miss.
    pub fn set_crowd_count(&mut self, people: Vec<BBox>) {
        self.counted = Some(people);
    }

    /// Hands the abandoned rule the static objects of this frame (call
    /// before [`RuleEngine::update`], on every frame once enabled: an object
    /// missing from the list has been taken away).
    pub fn set_static_objects(&mut self, objects: Vec<StaticObject>) {
        self.statics = Some(objects);
    }

    /// Whether the abandoned rule wants static objects (`static_objects`).
    pub fn wants_static_objects(&self) -> bool {
        self.abandoned.as_ref().is_some_and(|a| a.wants_static())
    }

    /// Whether this camera has crowd rules (so a caller can skip counting).
    pub fn has_crowd_rules(&self) -> bool {
        !self.crowds.is_empty()
    }

    pub fn is_empty(&self) -> bool {
        self.zones.is_empty()
            && self.lines.is_empty()
            && self.abandoned.is_none()
            && self.crowds.is_empty()
            && self.loiter.is_empty()
            && self.offences.is_none()
    }

    /// Processes one analysed frame: `objects` are the tracks seen (or
    /// coasting) now, `ended` the ids of tracks that ended this step; those
    /// still inside a zone get a `zone_exit` with reason `track_ended`.
    pub fn update(
        &mut self,
        ts: Timestamp,
        objects: &[ObjectState<'_>],
        ended: &[u64],
    ) -> Vec<Event> {
        let mut out = Vec::new();
        self.loiter.update(ts, objects, ended, &mut out);
        if !self.crowds.is_empty() {
            let people: Vec<BBox> = match &self.counted {
                Some(c) => c.clone(),
                None => objects
                    .iter()
                    .filter(|o| o.label == "person")
                    .map(|o| o.bbox)
                    .collect(),
            };
            for c in self.crowds.iter_mut() {
                c.update(ts, &people, &mut out);
            }
        }
        if let Some(a) = self.abandoned.as_mut() {
            let statics = self.statics.take();
            a.update(ts, objects, ended, statics.as_deref(), &mut out);
        }
        if let Some(o) = self.offences.as_mut() {
            o.update(ts, objects, ended, &mut out);
        }
        for o in objects {
            let nz = self.zones.len();
            let nl = self.lines.len();
            let st = self.tracks.entry(o.track_id).or_insert_with(|| TrackState {
                zones: (0..nz).map(|_| ZoneMembership::default()).collect(),
                line_sides: vec![None; nl],
                ..Default::default()
            });
            st.label = o.label.to_string();
            st.last_bbox = o.bbox;
            let p = o.bbox.bottom_center();
            for (zi, zone) in self.zones.iter().enumerate() {
                if !applies(&zone.classes, o.label) {
                    continue;
                }
                let m = &mut st.zones[zi];
                let now_inside = zone.polygon.contains(p);
                if now_inside != m.inside {
                    m.pending += 1;
                    if m.pending >= CONFIRM_OBSERVATIONS {
                        m.pending = 0;
                        m.inside = now_inside;
                        if now_inside {
                            m.since = Some(ts);
                            m.dwell_reported = false;
                            if zone.enter_exit {
                                out.push(self_event(
                                    &self.camera,
                                    kinds::ZONE_ENTER,
                                    ts,
                                    o,
                                    &zone.name,
                                    json!({}),
                                ));
                            }
                        } else {
                            let dwell = m.since.map(|s| ts.since(s).as_secs_f32()).unwrap_or(0.0);
                            m.since = None;
                            if zone.enter_exit {
                                out.push(self_event(
                                    &self.camera,
                                    kinds::ZONE_EXIT,
                                    ts,
                                    o,
                                    &zone.name,
                                    json!({ "dwell_seconds": round2(dwell), "reason": "left_zone" }),
                                ));
                            }
                        }
                    }
                } else {
                    m.pending = 0;
                }
                if let (true, Some(limit), Some(since)) = (m.inside, zone.dwell, m.since) {
                    let dwell = ts.since(since).as_secs_f32();
                    if !m.dwell_reported && dwell >= limit {
                        m.dwell_reported = true;
                        out.push(self_event(
                            &self.camera,
                            kinds::ZONE_DWELL,
                            ts,
                            o,
                            &zone.name,
                            json!({ "dwell_seconds": round2(dwell), "limit_seconds": limit }),
                        ));
                    }
                }
            }
            for (li, line) in self.lines.iter_mut().enumerate() {
                if !applies(&line.classes, o.label) {
                    continue;
                }
                let s = side(line.a, line.b, p);
                let len = ((line.b.x - line.a.x).powi(2) + (line.b.y - line.a.y).powi(2)).sqrt();
                if (s / len).abs() < self.dead_band {
                    continue;
                }
                let sign = s.signum();
                if let Some((prev, prev_sign)) = st.line_sides[li] {
                    // side() > 0 is the right-hand side on screen (y points down),
                    // so a sign change from + to - is a right-to-left ("in") crossing.
                    if prev_sign != sign && segments_intersect(prev, p, line.a, line.b) {
                        let dir_in = prev_sign > 0.0;
                        let wanted = match line.direction {
                            LineDirection::Both => true,
                            LineDirection::In => dir_in,
                            LineDirection::Out => !dir_in,
                        };
                        if dir_in {
                            line.count_in += 1;
                        } else {
                            line.count_out += 1;
                        }
                        if wanted {
                            out.push(self_event(
                                &self.camera,
                                kinds::LINE_CROSS,
                                ts,
                                o,
                                &line.name,
                                json!({
                                    "direction": if dir_in { "in" } else { "out" },
                                    "count_in": line.count_in,
                                    "count_out": line.count_out,
                                }),
                            ));
                        }
                    }
                }
                st.line_sides[li] = Some((p, sign));
            }
        }
        for id in ended {
            if let Some(st) = self.tracks.remove(id) {
                for (zi, zone) in self.zones.iter().enumerate() {
                    let m = &st.zones[zi];
                    if m.inside && zone.enter_exit {
                        let dwell = m.since.map(|s| ts.since(s).as_secs_f32()).unwrap_or(0.0);
                        let o = ObjectState {
                            track_id: *id,
                            label: &st.label,
                            bbox: st.last_bbox,
                            score: 0.0,
                        };
                        out.push(self_event(
                            &self.camera,
                            kinds::ZONE_EXIT,
                            ts,
                            &o,
                            &zone.name,
                            json!({ "dwell_seconds": round2(dwell), "reason": "track_ended" }),
                        ));
                    }
                }
            }
        }
        out
    }

    pub fn stats(&self) -> RuleStats {
        RuleStats {
            zones: self
                .zones
                .iter()
                .enumerate()
                .map(|(i, z)| {
                    let n = self.tracks.values().filter(|t| t.zones[i].inside).count();
                    (z.name.clone(), n)
                })
                .collect(),
            lines: self
                .lines
                .iter()
                .map(|l| (l.name.clone(), l.count_in, l.count_out))
                .collect(),
            crowds: self
                .crowds
                .iter()
                .map(|c| (c.zone().to_string(), c.count()))
                .collect(),
        }
    }
}

fn round2(x: f32) -> f64 {
    (x as f64 * 100.0).round() / 100.0
}

fn self_event(
    camera: &str,
    kind: &str,
    ts: Timestamp,
    o: &ObjectState<'_>,
    rule: &str,
    details: serde_json::Value,
) -> Event {
    let mut e = Event::new(camera, kind, ts);
    e.track_id = Some(o.track_id);
    e.label = Some(o.label.to_string());
    e.rule = Some(rule.to_string());
    e.bbox = Some(o.bbox);
    e.score = o.score;
    e.details = details;
    e
}

#[cfg(test)]
mod safety_tests;
#[cfg(test)]
mod tests;
