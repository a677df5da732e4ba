//! The unknown-object path end to end on synthetic frames and simulated
//! time: background model (vision) → static objects → abandoned rule
//! (analytics), wired as the post stage does it.

use analytics::{ObjectState, RuleEngine, StaticObject};
use base::{BBox, Event, Frame, Timestamp};
use config::Config;
use std::sync::Arc;
use vision::{StaticObjectConfig, StaticObjectDetector};

const W: u32 = 320;
const H: u32 = 240;
const BG: u8 = 120;

fn frame(ms: i64, bg: u8, rects: &[BBox], values: &[u8]) -> Frame {
    let mut rgb = vec![bg; (W * H * 3) as usize];
    for (r, &v) in rects.iter().zip(values) {
        for y in r.y1 as u32..r.y2 as u32 {
            for x in r.x1 as u32..r.x2 as u32 {
                let i = ((y * W + x) * 3) as usize;
                rgb[i..i + 3].fill(v);
            }
        }
    }
    Frame::new(Arc::from("cam"), 0, Timestamp(ms), ms, W, H, rgb)
}

struct Scene {
    rules: RuleEngine,
    bg: StaticObjectDetector,
    t: i64,
    events: Vec<Event>,
}

impl Scene {
    fn new() -> Self {
        let text = "[[camera]]\nid = \"cam\"\nurl = \"x.mp4\"\n[camera.abandoned]\nseconds = 10\nstatic_objects = true\n";
        let cam = Config::parse(text, "t.toml").unwrap().cameras.remove(0);
        let a = cam.abandoned.clone().unwrap();
        Scene {
            rules: RuleEngine::new(&cam, W, H),
            bg: StaticObjectDetector::new(StaticObjectConfig {
                min_area: a.static_min_area,
                ..Default::default()
            }),
            t: 0,
            events: Vec::new(),
        }
    }

    /// One 200 ms frame: `tracks` are (id, label, box) drawn dark and given
    /// to the rules; `objects` are untracked boxes drawn bright.
    fn step(&mut self, bg: u8, tracks: &[(u64, &str, BBox)], objects: &[BBox]) {
        self.step_ended(bg, tracks, objects, &[]);
    }

    fn step_ended(
        &mut self,
        bg: u8,
        tracks: &[(u64, &str, BBox)],
        objects: &[BBox],
        ended: &[u64],
    ) {
        let mut rects: Vec<BBox> = tracks.iter().map(|t| t.2).collect();
        let mut values = vec![40u8; rects.len()];
        rects.extend_from_slice(objects);
        values.extend(std::iter::repeat_n(230u8, objects.len()));
        let f = frame(self.t, bg, &rects, &values);
        let known: Vec<BBox> = tracks.iter().map(|t| t.2).collect();
        let blobs: Vec<StaticObject> = self
            .bg
            .update(&f, &known)
            .iter()
            .map(|b| StaticObject {
                id: b.id,
                bbox: b.bbox,
                since: b.since,
            })
            .collect();
        self.rules.set_static_objects(blobs);
        let states: Vec<ObjectState<'_>> = tracks
            .iter()
            .map(|(id, label, b)| ObjectState {
                track_id: *id,
                label,
                bbox: *b,
                score: 0.9,
            })
            .collect();
        self.events
            .extend(self.rules.update(Timestamp(self.t), &states, ended));
        self.t += 200;
    }

    fn run(&mut self, secs: f32, f: impl Fn(&mut Scene)) {
        for _ in 0..(secs * 5.0) as usize {
            f(self);
        }
    }

    fn kinds(&self, kind: &str) -> Vec<&Event> {
        self.events.iter().filter(|e| e.kind == kind).collect()
    }
}

fn person_at(x: f32) -> BBox {
    BBox::new(x, 90.0, x + 20.0, 150.0)
}

const BOX: BBox = BBox {
    x1: 150.0,
    y1: 132.0,
    x2: 174.0,
    y2: 150.0,
};

#[test]
fn unknown_object_left_behind_alerts_once_and_clears_when_taken() {
    let mut s = Scene::new();
    s.run(5.0, |s| s.step(BG, &[], &[]));
    // A person walks in carrying the object at their side...
    for i in 0..20 {
        let x = 20.0 + i as f32 * 5.0;
        let carried = BBox::new(x + 30.0, 132.0, x + 54.0, 150.0);
        s.step(BG, &[(1, "person", person_at(x))], &[carried]);
    }
    // ...puts it down at BOX and stands beside it for 3 s...
    s.run(3.0, |s| {
        s.step(BG, &[(1, "person", person_at(120.0))], &[BOX])
    });
    // ...then walks away to the left and out of view.
    for i in 0..24 {
        let x = 120.0 - i as f32 * 5.0;
        s.step(BG, &[(1, "person", person_at(x))], &[BOX]);
    }
    s.step_ended(BG, &[], &[BOX], &[1]);
    s.run(30.0, |s| s.step(BG, &[], &[BOX]));
    let alerts = s.kinds("abandoned_object");
    assert_eq!(alerts.len(), 1, "{:?}", s.events);
    let a = alerts[0];
    assert_eq!(a.label.as_deref(), Some("unknown_object"));
    assert_eq!(a.details["owner_track_id"], 1, "{}", a.details);
    assert!(a.bbox.unwrap().iou(&BOX) > 0.4, "{:?}", a.bbox);
    assert!(s.kinds("abandoned_cleared").is_empty());
    // Taken away: cleared once, no new alert.
    s.run(10.0, |s| s.step(BG, &[], &[]));
    let cleared = s.kinds("abandoned_cleared");
    assert_eq!(cleared.len(), 1, "{:?}", s.events);
    assert_eq!(cleared[0].details["reason"], "object_removed");
    assert_eq!(s.kinds("abandoned_object").len(), 1);
}

#[test]
fn lighting_change_and_a_parked_car_under_its_track_never_alert() {
    let mut s = Scene::new();
    s.run(5.0, |s| s.step(BG, &[], &[]));
    // A car drives in and parks; its track stays on it.
    let car = |x: f32| BBox::new(x, 150.0, x + 80.0, 200.0);
    for i in 0..20 {
        s.step(BG, &[(7, "car", car(i as f32 * 8.0))], &[]);
    }
    s.run(60.0, |s| s.step(BG, &[(7, "car", car(160.0))], &[]));
    // Lights: the whole frame brighter, then much darker, for a minute each.
    s.run(60.0, |s| s.step(170, &[(7, "car", car(160.0))], &[]));
    s.run(60.0, |s| s.step(30, &[(7, "car", car(160.0))], &[]));
    assert!(s.kinds("abandoned_object").is_empty(), "{:?}", s.events);
}
