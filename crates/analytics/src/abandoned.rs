//! Abandoned objects: a carried object (backpack, handbag, suitcase) that stays
//! still while the person who brought it has gone.
//!
//! Only configured carried-object labels are considered, so parked cars and
//! furniture can never alert. Each object gets an *owner*: the nearest person
//! touching it (boxes overlapping or within `association_factor` object
//! sizes) when it is first seen, re-chosen every frame while the object moves
//! (whoever carries it) and frozen once it stops — the drop. Distances to the
//! owner are ground distances (bottom centres) in multiples of the owner's box
//! height, so the rule means the same at any resolution and depth.
//!
//! The object is *unattended* from the later of "stopped moving" and "owner
//! went beyond `owner_distance`" (or the owner's track ended); after
//! `seconds` unattended one `abandoned_object` event fires. It is not repeated
//! while the object stays; `abandoned_cleared` follows when the object moves,
//! its track ends (taken away) or the owner comes back within half the
//! distance (the gap between the two distances keeps a person pacing at the
//! limit from flapping the state). An owner whose track ends is handed over
//! to a new person track appearing near it within `reassociate_seconds`, so a
//! short occlusion of the owner is not "left the view".
//!
//! An object first seen already still with nobody near has no owner; it is
//! unattended while nobody is within association range.
//!
//! With `static_objects`, blobs from background subtraction (objects the
//! detector has no class for, found by the caller and passed as
//! [`StaticObject`]s) are items too, labelled `unknown_object`: they are
//! still from the moment they arrived (`since`), their owner is the person
//! nearest them at that moment (from a short history of person boxes, since
//! a blob is only reported once it has stayed still for a while), and they
//! clear when the blob disappears (taken away) or the owner returns.

use super::{round2, self_event, ObjectState, StaticObject, REASSOCIATE_HEIGHTS};
use base::event::kinds;
use base::{BBox, Event, Point, Timestamp};
use config::AbandonedConfig;
use serde_json::json;
use std::collections::{HashMap, VecDeque};

/// Label of objects found by background subtraction (`static_objects`).
pub const UNKNOWN_OBJECT: &str = "unknown_object";
/// Static blobs get ids from here on, apart from tracker ids.
pub const STATIC_ID_BASE: u64 = 1 << 48;
/// Person positions are remembered this long, to find who was near a static
/// object when it arrived (it is only reported seconds later).
const HISTORY_SECONDS: f32 = 60.0;

/// The owner comes back when within this fraction of `owner_distance`.
const RETURN_FRACTION: f32 = 0.5;

struct Person {
    bbox: BBox,
    last_seen: Timestamp,
}

struct Owner {
    id: u64,
    /// Last box seen of the owner (kept after the track ends, for evidence).
    bbox: BBox,
    /// When the owner's track ended, if it has.
    ended_at: Option<Timestamp>,
}

struct Item {
    label: String,
    bbox: BBox,
    score: f32,
    /// Centre where the object stopped; it is still while it stays near.
    anchor: Point,
    still_since: Timestamp,
    owner: Option<Owner>,
    /// When the owner went beyond the distance (or nobody was near).
    away_since: Option<Timestamp>,
    alerted: bool,
}

pub(crate) struct AbandonedRule {
    camera: String,
    cfg: AbandonedConfig,
    items: HashMap<u64, Item>,
    persons: HashMap<u64, Person>,
    /// Ids of the static blobs present at the last update.
    static_ids: Vec<u64>,
    /// (time, persons present then) for owner association after the fact.
    history: VecDeque<(Timestamp, Vec<(u64, BBox)>)>,
}

fn size(b: &BBox) -> f32 {
    b.width().max(b.height()).max(1.0)
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Gap between two boxes (0 when they overlap).
fn box_gap(a: &BBox, b: &BBox) -> f32 {
    let dx = (a.x1.max(b.x1) - a.x2.min(b.x2)).max(0.0);
    let dy = (a.y1.max(b.y1) - a.y2.min(b.y2)).max(0.0);
    (dx * dx + dy * dy).sqrt()
}

/// Owner-to-object ground distance in owner heights.
fn owner_distance(owner: &BBox, obj: &BBox) -> f32 {
    dist(owner.bottom_center(), obj.bottom_center()) / owner.height().max(1.0)
}

impl AbandonedRule {
    pub(crate) fn new(camera: &str, cfg: &AbandonedConfig) -> Self {
        AbandonedRule {
            camera: camera.to_string(),
            cfg: cfg.clone(),
            items: HashMap::new(),
            persons: HashMap::new(),
            static_ids: Vec::new(),
            history: VecDeque::new(),
        }
    }

    /// The nearest person (present now) touching `obj`, by box gap.
    fn associate(&self, obj: &BBox, ts: Timestamp) -> Option<(u64, BBox)> {
        let reach = self.cfg.association_factor * size(obj);
        self.persons
            .iter()
            .filter(|(_, p)| p.last_seen == ts)
            .map(|(id, p)| (*id, p.bbox, box_gap(&p.bbox, obj)))
            .filter(|(_, _, g)| *g <= reach)
            .min_by(|a, b| {
                a.2.total_cmp(&b.2).then_with(|| {
                    dist(a.1.center(), obj.center()).total_cmp(&dist(b.1.center(), obj.center()))
                })
            })
            .map(|(id, b, _)| (id, b))
    }

    /// One frame of one object: tracked (`since` = None) or a static blob
    /// (`since` = when it arrived; it never "moves", it disappears).
    #[allow(clippy::too_many_arguments)]
    fn step(
        &mut self,
        ts: Timestamp,
        id: u64,
        label: &str,
        bbox: BBox,
        score: f32,
        assoc: Option<(u64, BBox)>,
        since: Option<Timestamp>,
        out: &mut Vec<Event>,
    ) {
        let c = bbox.center();
        let it = self.items.entry(id).or_insert_with(|| Item {
            label: label.to_string(),
            bbox,
            score,
            anchor: c,
            still_since: since.unwrap_or(ts),
            owner: assoc.map(|(id, bbox)| Owner {
                id,
                bbox,
                ended_at: None,
            }),
            away_since: None,
            alerted: false,
        });
        it.bbox = bbox;
        it.score = score;
        if since.is_none() && dist(c, it.anchor) > self.cfg.still_fraction * size(&bbox) {
            // Moving: carried (or taken). Whoever is with it now is its owner.
            it.anchor = c;
            it.still_since = ts;
            it.away_since = None;
            if let Some((id, bbox)) = assoc {
                it.owner = Some(Owner {
                    id,
                    bbox,
                    ended_at: None,
                });
            }
            if it.alerted {
                it.alerted = false;
                out.push(cleared(&self.camera, ts, id, it, "object_moved"));
            }
        }
        // Where is the owner?
        let attended = match it.owner.as_mut() {
            Some(ow) => {
                if ow.ended_at.is_none() {
                    if let Some(p) = self.persons.get(&ow.id) {
                        ow.bbox = p.bbox;
                    }
                }
                let d = owner_distance(&ow.bbox, &it.bbox);
                if ow.ended_at.is_some() || d > self.cfg.owner_distance {
                    Some(false)
                } else if d < self.cfg.owner_distance * RETURN_FRACTION {
                    Some(true)
                } else {
                    None // between the two distances: keep the state
                }
            }
            None => Some(assoc.is_some()),
        };
        match attended {
            Some(true) => {
                it.away_since = None;
                if it.alerted && it.owner.is_some() {
                    it.alerted = false;
                    out.push(cleared(&self.camera, ts, id, it, "owner_returned"));
                }
            }
            Some(false) => {
                it.away_since.get_or_insert(ts);
            }
            None => {}
        }
        if let (false, Some(away)) = (it.alerted, it.away_since) {
            let from = away.max(it.still_since);
            let unattended = ts.since(from).as_secs_f32();
            if unattended >= self.cfg.seconds {
                it.alerted = true;
                out.push(alert(&self.camera, ts, id, it, from, unattended));
            }
        }
    }

    pub(crate) fn wants_static(&self) -> bool {
        self.cfg.static_objects
    }

    /// The person nearest `obj` (within association range) among those
    /// present at the last remembered frame at or before `at`.
    fn associate_at(&self, obj: &BBox, at: Timestamp) -> Option<(u64, BBox)> {
        let reach = self.cfg.association_factor * size(obj);
        let (_, persons) = self
            .history
            .iter()
            .rev()
            .find(|(t, _)| *t <= at)
            .or_else(|| self.history.front())?;
        persons
            .iter()
            .map(|(id, b)| (*id, *b, box_gap(b, obj)))
            .filter(|(_, _, g)| *g <= reach)
            .min_by(|a, b| a.2.total_cmp(&b.2))
            .map(|(id, b, _)| (id, b))
    }

    fn remember_persons(&mut self, ts: Timestamp) {
        if !self.cfg.static_objects {
            return;
        }
        let now: Vec<(u64, BBox)> = self
            .persons
            .iter()
            .filter(|(_, p)| p.last_seen == ts)
            .map(|(id, p)| (*id, p.bbox))
            .collect();
        self.history.push_back((ts, now));
        while self
            .history
            .front()
            .is_some_and(|(t, _)| ts.since(*t).as_secs_f32() > HISTORY_SECONDS)
        {
            self.history.pop_front();
        }
    }

    pub(crate) fn update(
        &mut self,
        ts: Timestamp,
        objects: &[ObjectState<'_>],
        ended: &[u64],
        statics: Option<&[StaticObject]>,
        out: &mut Vec<Event>,
    ) {
        let mut new_persons = Vec::new();
        for o in objects.iter().filter(|o| o.label == "person") {
            if !self.persons.contains_key(&o.track_id) {
                new_persons.push((o.track_id, o.bbox));
            }
            self.persons.insert(
                o.track_id,
                Person {
                    bbox: o.bbox,
                    last_seen: ts,
                },
            );
        }
        // An owner lost to a short occlusion comes back as a new track near
        // where it was last seen: hand the ownership over.
        for (pid, pb) in new_persons {
            for it in self.items.values_mut() {
                if let Some(ow) = it.owner.as_mut() {
                    let Some(end) = ow.ended_at else { continue };
                    let gap = ts.since(end).as_secs_f32();
                    let d = dist(ow.bbox.bottom_center(), pb.bottom_center())
                        / ow.bbox.height().max(pb.height()).max(1.0);
                    if gap <= self.cfg.reassociate_seconds && d <= REASSOCIATE_HEIGHTS {
                        ow.id = pid;
                        ow.bbox = pb;
                        ow.ended_at = None;
                    }
                }
            }
        }
        let tracked: Vec<(u64, String, BBox, f32)> = objects
            .iter()
            .filter(|o| self.cfg.labels.iter().any(|l| l == o.label))
            .map(|o| (o.track_id, o.label.to_string(), o.bbox, o.score))
            .collect();
        for (id, label, bbox, score) in tracked {
            let assoc = self.associate(&bbox, ts);
            self.step(ts, id, &label, bbox, score, assoc, None, out);
        }
        let mut ended: Vec<u64> = ended.to_vec();
        if let Some(statics) = statics {
            // Unknown objects from background subtraction: already still when
            // they appear, so the owner is whoever was near at the drop time.
            let present: Vec<u64> = statics.iter().map(|s| STATIC_ID_BASE + s.id).collect();
            ended.extend(
                self.static_ids
                    .iter()
                    .filter(|id| !present.contains(id))
                    .copied(),
            );
            self.static_ids = present;
            for so in statics {
                let id = STATIC_ID_BASE + so.id;
                let assoc = if self.items.contains_key(&id) {
                    self.associate(&so.bbox, ts)
                } else {
                    self.associate_at(&so.bbox, so.since)
                };
                self.step(
                    ts,
                    id,
                    UNKNOWN_OBJECT,
                    so.bbox,
                    1.0,
                    assoc,
                    Some(so.since),
                    out,
                );
            }
        }
        self.remember_persons(ts);
        for id in &ended {
            if let Some(it) = self.items.remove(id) {
                if it.alerted {
                    out.push(cleared(&self.camera, ts, *id, &it, "object_removed"));
                }
            }
            if self.persons.remove(id).is_some() {
                for it in self.items.values_mut() {
                    if let Some(ow) = it.owner.as_mut().filter(|ow| ow.id == *id) {
                        ow.ended_at = Some(ts);
                    }
                }
            }
        }
        // Persons not seen for long are no one's candidate any more.
        let keep = self.cfg.reassociate_seconds.max(60.0);
        self.persons
            .retain(|_, p| ts.since(p.last_seen).as_secs_f32() <= keep);
    }
}

fn event_for(camera: &str, kind: &str, ts: Timestamp, id: u64, it: &Item) -> Event {
    let o = ObjectState {
        track_id: id,
        label: &it.label,
        bbox: it.bbox,
        score: it.score,
    };
    self_event(camera, kind, ts, &o, "abandoned", json!({}))
}

fn owner_json(it: &Item) -> (serde_json::Value, serde_json::Value, bool) {
    match &it.owner {
        Some(ow) => (
            json!(ow.id),
            serde_json::to_value(ow.bbox).unwrap_or_default(),
            ow.ended_at.is_some(),
        ),
        None => (serde_json::Value::Null, serde_json::Value::Null, false),
    }
}

fn alert(camera: &str, ts: Timestamp, id: u64, it: &Item, from: Timestamp, secs: f32) -> Event {
    let mut e = event_for(camera, kinds::ABANDONED_OBJECT, ts, id, it);
    let (owner_id, owner_bbox, owner_left_view) = owner_json(it);
    let left_at = it
        .away_since
        .filter(|_| it.owner.is_some())
        .map(|t| json!(t.to_rfc3339()))
        .unwrap_or_default();
    e.details = json!({
        "owner_track_id": owner_id,
        "owner_left_at": left_at,
        "owner_bbox": owner_bbox,
        "owner_left_view": owner_left_view,
        "unattended_since": from.to_rfc3339(),
        "unattended_since_ms": from.millis(),
        "seconds_unattended": round2(secs),
        "still_seconds": round2(ts.since(it.still_since).as_secs_f32()),
    });
    e
}

fn cleared(camera: &str, ts: Timestamp, id: u64, it: &Item, reason: &str) -> Event {
    let mut e = event_for(camera, kinds::ABANDONED_CLEARED, ts, id, it);
    let (owner_id, _, _) = owner_json(it);
    e.details = json!({ "reason": reason, "owner_track_id": owner_id });
    e
}
