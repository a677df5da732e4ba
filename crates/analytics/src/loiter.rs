//! Loitering: a person's time in a zone beyond `loiter_seconds`, counted
//! across short occlusions.
//!
//! A per-track dwell (`zone_dwell`) restarts whenever the tracker loses a
//! person behind a pillar or in a crowd and gives them a new id. Here a visit
//! belongs to the person, not the track: when a new person track is first
//! seen within `reassociate_seconds` of another visit's track last being seen
//! (ended, or lost and not seen this frame) and within
//! [`REASSOCIATE_HEIGHTS`] box heights of where it was, it takes over that
//! visit — its start time and whether it was already reported — so the dwell
//! keeps accumulating and one visit gives at most one `loitering` event.
//! A visit ends when the person is outside the zone for
//! [`CONFIRM_OBSERVATIONS`] consecutive observations.

use super::{applies, round2, self_event, ObjectState, CONFIRM_OBSERVATIONS, REASSOCIATE_HEIGHTS};
use base::event::kinds;
use base::{BBox, Event, Polygon, Timestamp};
use serde_json::json;
use std::collections::{HashMap, HashSet};

#[derive(Clone)]
struct Visit {
    start: Timestamp,
    last_seen: Timestamp,
    last_bbox: BBox,
    outside: u32,
    reported: bool,
    /// Earlier track ids of the same visit (occlusion hand-overs).
    previous: Vec<u64>,
}

struct LoiterZone {
    name: String,
    polygon: Polygon,
    classes: Vec<String>,
    limit: f32,
    reassociate: f32,
    visits: HashMap<u64, Visit>,
    /// Visits whose track ended, kept `reassociate` seconds for a hand-over.
    orphans: Vec<(u64, Visit)>,
}

pub(crate) struct LoiterRule {
    camera: String,
    zones: Vec<LoiterZone>,
    seen: HashSet<u64>,
}

impl LoiterRule {
    pub(crate) fn new(camera: &str) -> Self {
        LoiterRule {
            camera: camera.to_string(),
            zones: Vec::new(),
            seen: HashSet::new(),
        }
    }

    pub(crate) fn add_zone(
        &mut self,
        name: &str,
        polygon: Polygon,
        classes: &[String],
        limit: f32,
        reassociate: f32,
    ) {
        self.zones.push(LoiterZone {
            name: name.to_string(),
            polygon,
            classes: classes.to_vec(),
            limit,
            reassociate,
            visits: HashMap::new(),
            orphans: Vec::new(),
        });
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.zones.is_empty()
    }

    pub(crate) fn update(
        &mut self,
        ts: Timestamp,
        objects: &[ObjectState<'_>],
        ended: &[u64],
        out: &mut Vec<Event>,
    ) {
        if self.zones.is_empty() {
            return;
        }
        for o in objects.iter().filter(|o| o.label == "person") {
            let is_new = self.seen.insert(o.track_id);
            let p = o.bbox.bottom_center();
            for z in self.zones.iter_mut() {
                if !applies(&z.classes, o.label) {
                    continue;
                }
                let inside = z.polygon.contains(p);
                if let Some(v) = z.visits.get_mut(&o.track_id) {
                    v.last_seen = ts;
                    v.last_bbox = o.bbox;
                    if inside {
                        v.outside = 0;
                    } else {
                        v.outside += 1;
                        if v.outside >= CONFIRM_OBSERVATIONS {
                            z.visits.remove(&o.track_id);
                        }
                    }
                } else if inside {
                    let donor = if is_new {
                        z.take_donor(ts, &o.bbox)
                    } else {
                        None
                    };
                    let v = match donor {
                        Some((old_id, mut v)) => {
                            v.previous.push(old_id);
                            v.last_seen = ts;
                            v.last_bbox = o.bbox;
                            v.outside = 0;
                            v
                        }
                        None => Visit {
                            start: ts,
                            last_seen: ts,
                            last_bbox: o.bbox,
                            outside: 0,
                            reported: false,
                            previous: Vec::new(),
                        },
                    };
                    z.visits.insert(o.track_id, v);
                }
                if let Some(v) = z.visits.get_mut(&o.track_id) {
                    let dwell = ts.since(v.start).as_secs_f32();
                    if !v.reported && dwell >= z.limit {
                        v.reported = true;
                        out.push(self_event(
                            &self.camera,
                            kinds::LOITERING,
                            ts,
                            o,
                            &z.name,
                            json!({
                                "dwell_seconds": round2(dwell),
                                "limit_seconds": z.limit,
                                "since": v.start.to_rfc3339(),
                                "previous_track_ids": v.previous,
                            }),
                        ));
                    }
                }
            }
        }
        for id in ended {
            self.seen.remove(id);
            for z in self.zones.iter_mut() {
                if let Some(v) = z.visits.remove(id) {
                    z.orphans.push((*id, v));
                }
            }
        }
        for z in self.zones.iter_mut() {
            let keep = z.reassociate;
            z.orphans
                .retain(|(_, v)| ts.since(v.last_seen).as_secs_f32() <= keep);
        }
    }
}

impl LoiterZone {
    /// The visit a new track at `b` continues, if any: the nearest one whose
    /// track was last seen recently (and not now) close enough to `b`.
    fn take_donor(&mut self, ts: Timestamp, b: &BBox) -> Option<(u64, Visit)> {
        let close = |v: &Visit| {
            let gap = ts.since(v.last_seen).as_secs_f32();
            let h = v.last_bbox.height().max(b.height()).max(1.0);
            let p = v.last_bbox.bottom_center();
            let q = b.bottom_center();
            let d = ((p.x - q.x).powi(2) + (p.y - q.y).powi(2)).sqrt() / h;
            (v.last_seen < ts && gap <= self.reassociate && d <= REASSOCIATE_HEIGHTS).then_some(d)
        };
        let orphan = self
            .orphans
            .iter()
            .enumerate()
            .filter_map(|(i, (_, v))| close(v).map(|d| (d, i)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        let lost = self
            .visits
            .iter()
            .filter_map(|(id, v)| close(v).map(|d| (d, *id)))
            .min_by(|a, b| a.0.total_cmp(&b.0));
        match (orphan, lost) {
            (Some((d1, i)), Some((d2, _))) if d1 <= d2 => Some(self.orphans.swap_remove(i)),
            (Some((_, i)), None) => Some(self.orphans.swap_remove(i)),
            (_, Some((_, id))) => self.visits.remove(&id).map(|v| (id, v)),
            (None, None) => None,
        }
    }
}
