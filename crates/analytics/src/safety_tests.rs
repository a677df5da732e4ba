//! Public-safety rules on scripted tracks and simulated time: abandoned
//! objects, crowds and loitering, each exercised without video.

use super::*;
use config::{CameraConfig, Config};
use std::time::Duration;

fn camera(rules: &str) -> CameraConfig {
    let text = format!("[[camera]]\nid = \"cam\"\nurl = \"x.mp4\"\n{rules}");
    Config::parse(&text, "t.toml").unwrap().cameras.remove(0)
}

/// A standing person (50×170) whose feet are at (x, y) in a 1000×1000 frame.
fn person(id: u64, x: f32, y: f32) -> ObjectState<'static> {
    ObjectState {
        track_id: id,
        label: "person",
        bbox: BBox::new(x - 25.0, y - 170.0, x + 25.0, y),
        score: 0.9,
    }
}

/// A 30×30 object standing on the ground at (x, y).
fn thing(id: u64, label: &'static str, x: f32, y: f32) -> ObjectState<'static> {
    ObjectState {
        track_id: id,
        label,
        bbox: BBox::new(x - 15.0, y - 30.0, x + 15.0, y),
        score: 0.8,
    }
}

fn of_kind<'a>(ev: &'a [Event], kind: &str) -> Vec<&'a Event> {
    ev.iter().filter(|e| e.kind == kind).collect()
}

/// Drives an engine on simulated time at a fixed step.
struct Script {
    eng: RuleEngine,
    t: Timestamp,
    step: Duration,
    events: Vec<Event>,
}

impl Script {
    fn new(rules: &str, step_ms: u64) -> Self {
        Script {
            eng: RuleEngine::new(&camera(rules), 1000, 1000),
            t: Timestamp(1_000_000),
            step: Duration::from_millis(step_ms),
            events: Vec::new(),
        }
    }
    fn frame(&mut self, objects: &[ObjectState<'_>], ended: &[u64]) {
        let ev = self.eng.update(self.t, objects, ended);
        self.events.extend(ev);
        self.t = self.t.plus(self.step);
    }
    /// Seconds since the script started.
    fn secs(&self, ts: Timestamp) -> f64 {
        (ts.0 - 1_000_000) as f64 / 1000.0
    }
    fn now(&self) -> f64 {
        self.secs(self.t)
    }
}

// ---------------------------------------------------------------------------
// Abandoned objects
// ---------------------------------------------------------------------------

const ABANDONED: &str = "[camera.abandoned]\nseconds = 10\n";
const STEP_MS: u64 = 200;

/// Person 1 walks in carrying backpack 2 for 4 s, puts it down and stands by
/// it for 2 s. Returns the bag's position.
fn walk_in_and_drop(s: &mut Script) -> (f32, f32) {
    let y = 600.0;
    for i in 0..20 {
        let x = 200.0 + i as f32 * 10.0;
        s.frame(
            &[person(1, x, y), thing(2, "backpack", x + 30.0, y - 60.0)],
            &[],
        );
    }
    let (bx, by) = (430.0, y);
    for _ in 0..10 {
        s.frame(&[person(1, 400.0, y), thing(2, "backpack", bx, by)], &[]);
    }
    (bx, by)
}

#[test]
fn abandoned_drop_and_leave_alerts_once_after_t() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    // The owner walks off to the right (300 px/s) and out of view.
    let mut x = 400.0;
    let mut left_at = None;
    while x < 1030.0 {
        x += 60.0;
        if left_at.is_none() && (x - bx) / 170.0 > 3.0 {
            left_at = Some(s.now());
        }
        s.frame(&[person(1, x, 600.0), thing(2, "backpack", bx, by)], &[]);
    }
    s.frame(&[thing(2, "backpack", bx, by)], &[1]);
    for _ in 0..300 {
        s.frame(&[thing(2, "backpack", bx, by)], &[]);
    }
    let alerts = of_kind(&s.events, "abandoned_object");
    assert_eq!(alerts.len(), 1, "{:?}", s.events);
    let a = alerts[0];
    assert_eq!(a.track_id, Some(2));
    assert_eq!(a.label.as_deref(), Some("backpack"));
    assert_eq!(a.details["owner_track_id"], 1);
    assert!(a.details["owner_bbox"]["x1"].is_number(), "{}", a.details);
    assert_eq!(a.details["owner_left_view"], true);
    let unattended = a.details["seconds_unattended"].as_f64().unwrap();
    assert!((10.0..10.5).contains(&unattended), "{unattended}");
    // The clock started when the owner crossed D (3 heights), not at the drop.
    let left_at = left_at.unwrap();
    let fired = s.secs(a.ts);
    assert!(
        (fired - left_at - 10.0).abs() < 0.5,
        "fired {fired}, owner beyond D at {left_at}"
    );
    assert!(a.details["owner_left_at"].is_string(), "{}", a.details);
    assert!(of_kind(&s.events, "abandoned_cleared").is_empty());
}

#[test]
fn abandoned_owner_standing_nearby_never_alerts() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    // Two minutes standing by the bag, shifting weight, stepping a metre away.
    for i in 0..600 {
        let x = 400.0 - (i % 50) as f32 * 4.0;
        s.frame(&[person(1, x, 600.0), thing(2, "backpack", bx, by)], &[]);
    }
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn abandoned_owner_returning_clears() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    // Walks 800 px away (well beyond 3 heights) and waits there, in view.
    for i in 1..=80 {
        let x = (400.0 + i as f32 * 10.0).min(950.0);
        s.frame(&[person(1, x, 600.0), thing(2, "backpack", bx, by)], &[]);
    }
    for _ in 0..60 {
        s.frame(
            &[person(1, 950.0, 600.0), thing(2, "backpack", bx, by)],
            &[],
        );
    }
    assert_eq!(of_kind(&s.events, "abandoned_object").len(), 1);
    // Comes back to the bag.
    for i in 1..=60 {
        let x = (950.0 - i as f32 * 10.0).max(400.0);
        s.frame(&[person(1, x, 600.0), thing(2, "backpack", bx, by)], &[]);
    }
    let cleared = of_kind(&s.events, "abandoned_cleared");
    assert_eq!(cleared.len(), 1, "{:?}", s.events);
    assert_eq!(cleared[0].details["reason"], "owner_returned");
    assert_eq!(cleared[0].track_id, Some(2));
    assert_eq!(of_kind(&s.events, "abandoned_object").len(), 1);
}

#[test]
fn abandoned_bag_taken_away_clears() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    s.frame(&[thing(2, "backpack", bx, by)], &[1]);
    for _ in 0..60 {
        s.frame(&[thing(2, "backpack", bx, by)], &[]);
    }
    assert_eq!(of_kind(&s.events, "abandoned_object").len(), 1);
    // Someone picks it up and walks off with it.
    for i in 0..10 {
        let x = bx + i as f32 * 20.0;
        s.frame(
            &[
                person(5, x - 30.0, 600.0),
                thing(2, "backpack", x, by - 60.0),
            ],
            &[],
        );
    }
    let cleared = of_kind(&s.events, "abandoned_cleared");
    assert_eq!(cleared.len(), 1, "{:?}", s.events);
    assert_eq!(cleared[0].details["reason"], "object_moved");
    // Its track ending later adds nothing: it was already cleared.
    s.frame(&[], &[2, 5]);
    assert_eq!(of_kind(&s.events, "abandoned_cleared").len(), 1);
}

#[test]
fn abandoned_removed_object_track_end_clears() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    s.frame(&[thing(2, "backpack", bx, by)], &[1]);
    for _ in 0..60 {
        s.frame(&[thing(2, "backpack", bx, by)], &[]);
    }
    s.frame(&[], &[2]);
    let cleared = of_kind(&s.events, "abandoned_cleared");
    assert_eq!(cleared.len(), 1);
    assert_eq!(cleared[0].details["reason"], "object_removed");
}

#[test]
fn abandoned_carried_object_never_alerts() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    // A minute of walking back and forth with a suitcase, owner far from the
    // first position but always with the bag.
    for i in 0..300 {
        let phase = (i % 100) as f32;
        let offset = if phase < 50.0 { phase } else { 100.0 - phase };
        let x = 100.0 + offset * 16.0;
        s.frame(
            &[person(1, x, 700.0), thing(2, "suitcase", x + 35.0, 700.0)],
            &[],
        );
    }
    // Dropped, owner leaves, but a friend picks it up after 5 s and carries it off.
    for i in 0..25 {
        s.frame(
            &[
                person(1, 100.0 + i as f32 * 40.0, 700.0),
                thing(2, "suitcase", 135.0, 700.0),
            ],
            &[],
        );
    }
    s.frame(&[thing(2, "suitcase", 135.0, 700.0)], &[1]);
    for i in 0..100 {
        let x = 135.0 + i as f32 * 8.0;
        s.frame(
            &[person(3, x - 35.0, 700.0), thing(2, "suitcase", x, 700.0)],
            &[],
        );
    }
    assert!(
        of_kind(&s.events, "abandoned_object").is_empty(),
        "{:?}",
        s.events
    );
}

#[test]
fn abandoned_parked_car_and_furniture_never_alert() {
    let mut s = Script::new(ABANDONED, 1000);
    // A driver gets out of a parked car and walks away; a chair stands by.
    for i in 0..600 {
        let mut objs = vec![
            thing(10, "car", 500.0, 500.0),
            thing(11, "chair", 300.0, 800.0),
        ];
        if i < 20 {
            objs.push(person(1, 520.0 + i as f32 * 40.0, 500.0));
        }
        let ended: &[u64] = if i == 20 { &[1] } else { &[] };
        s.frame(&objs, ended);
    }
    assert!(s.events.is_empty(), "{:?}", s.events);
}

#[test]
fn abandoned_alert_not_repeated_over_ten_minutes() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    s.frame(&[thing(2, "backpack", bx, by)], &[1]);
    // Ten minutes at 5 fps, the bag jittering by a few pixels, and strangers
    // walking past it now and then.
    for i in 0..3000u32 {
        let j = (i % 3) as f32 - 1.0;
        let mut objs = vec![thing(2, "backpack", bx + j * 2.0, by + j)];
        if i % 500 < 30 {
            let id = 100 + (i / 500) as u64;
            objs.push(person(id, 50.0 + (i % 500) as f32 * 30.0, 620.0));
        }
        let ended = if i % 500 == 30 {
            vec![100 + (i / 500) as u64]
        } else {
            vec![]
        };
        s.frame(&objs, &ended);
    }
    assert!(s.now() > 600.0);
    assert_eq!(
        of_kind(&s.events, "abandoned_object").len(),
        1,
        "{:?}",
        s.events
    );
    assert!(of_kind(&s.events, "abandoned_cleared").is_empty());
}

#[test]
fn abandoned_owner_occlusion_is_not_leaving() {
    let mut s = Script::new(ABANDONED, STEP_MS);
    let (bx, by) = walk_in_and_drop(&mut s);
    // The owner's track ends (occluded) and the same person comes back as
    // track 7 two seconds later right there; they stay by the bag.
    s.frame(&[thing(2, "backpack", bx, by)], &[1]);
    for _ in 0..10 {
        s.frame(&[thing(2, "backpack", bx, by)], &[]);
    }
    for _ in 0..300 {
        s.frame(
            &[person(7, 405.0, 600.0), thing(2, "backpack", bx, by)],
            &[],
        );
    }
    assert!(s.events.is_empty(), "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// Crowds
// ---------------------------------------------------------------------------

/// `n` people spread over the frame, ids 1..=n (stable, so tracks persist).
fn people(n: usize) -> Vec<ObjectState<'static>> {
    (0..n)
        .map(|i| {
            person(
                i as u64 + 1,
                50.0 + (i % 10) as f32 * 90.0,
                300.0 + (i / 10) as f32 * 200.0,
            )
        })
        .collect()
}

const CROWD: &str = r#"
[[camera.zone]]
name = "plaza"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
enter_exit = false
crowd = { max_people = 5, hysteresis = 0.2, hold_seconds = 2, smoothing_seconds = 0.5 }
"#;

#[test]
fn crowd_hold_time_and_hysteresis_do_not_flap() {
    let mut s = Script::new(CROWD, STEP_MS);
    // Bursts over the threshold shorter than the hold time: nothing.
    for _ in 0..5 {
        for _ in 0..7 {
            s.frame(&people(7), &[]);
        }
        for _ in 0..7 {
            s.frame(&people(3), &[]);
        }
    }
    assert!(s.events.is_empty(), "{:?}", s.events);
    // A steady 7: on after the hold.
    let start = s.now();
    for _ in 0..50 {
        s.frame(&people(7), &[]);
    }
    let on = of_kind(&s.events, "crowd_density");
    assert_eq!(on.len(), 1, "{:?}", s.events);
    let after = s.secs(on[0].ts) - start;
    assert!(
        (2.0..3.0).contains(&after),
        "turned on {after} s after the rise"
    );
    assert_eq!(on[0].details["state"], "active");
    assert_eq!(on[0].rule.as_deref(), Some("plaza"));
    assert!(on[0].bbox.is_some());
    // Hovering at the threshold (4–6) for a minute: stays on, no new events.
    for i in 0..300 {
        s.frame(&people(4 + i % 3), &[]);
    }
    assert_eq!(s.events.len(), 1, "{:?}", s.events);
    // Down to 3 (< 5 × 0.8): off, once, after the hold.
    for _ in 0..50 {
        s.frame(&people(3), &[]);
    }
    let off = of_kind(&s.events, "crowd_density_cleared");
    assert_eq!(off.len(), 1, "{:?}", s.events);
    assert_eq!(off[0].details["state"], "cleared");
    assert!(off[0].details["peak_count"].as_f64().unwrap() >= 6.0);
    assert_eq!(s.events.len(), 2);
    assert_eq!(s.eng.stats().crowds, vec![("plaza".to_string(), 3.0)]);
}

#[test]
fn crowd_density_uses_zone_area() {
    let rules = CROWD.replace("max_people = 5,", "area_m2 = 10.0, max_density = 0.5,");
    let mut s = Script::new(&rules, STEP_MS);
    for _ in 0..50 {
        s.frame(&people(5), &[]);
    }
    assert!(s.events.is_empty(), "0.5/m² is at, not over, the limit");
    for _ in 0..50 {
        s.frame(&people(6), &[]);
    }
    let on = of_kind(&s.events, "crowd_density");
    assert_eq!(on.len(), 1, "{:?}", s.events);
    assert_eq!(on[0].details["density"].as_f64(), Some(0.6));
}

const GATHER: &str = r#"
[[camera.zone]]
name = "square"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
enter_exit = false
crowd = { gathering_increase = 10, window_seconds = 30, smoothing_seconds = 1 }
"#;

#[test]
fn crowd_no_sudden_events_at_start_up() {
    // The first frames see nobody (tracks not confirmed yet), then 15 people:
    // that is the camera starting, not a gathering.
    let mut s = Script::new(GATHER, 500);
    for _ in 0..4 {
        s.frame(&[], &[]);
    }
    for _ in 0..200 {
        s.frame(&people(15), &[]);
    }
    assert!(s.events.is_empty(), "{:?}", s.events);
    // A real surge later still counts.
    for _ in 0..20 {
        s.frame(&people(27), &[]);
    }
    assert_eq!(of_kind(&s.events, "crowd_gathering").len(), 1);
}

#[test]
fn crowd_sudden_gathering_and_dispersal_fire_once_each() {
    let mut s = Script::new(GATHER, 500);
    // Slow growth, 1 person a minute up to 12: not sudden.
    for n in 2..=12 {
        for _ in 0..120 {
            s.frame(&people(n), &[]);
        }
    }
    assert!(s.events.is_empty(), "slow growth: {:?}", s.events);
    // 12 → 26 within 10 s, then steady for two minutes.
    for n in 12..=26 {
        s.frame(&people(n), &[]);
        s.frame(&people(n), &[]);
    }
    for _ in 0..240 {
        s.frame(&people(26), &[]);
    }
    let g = of_kind(&s.events, "crowd_gathering");
    assert_eq!(g.len(), 1, "{:?}", s.events);
    assert!(g[0].details["change"].as_f64().unwrap() >= 10.0);
    assert_eq!(g[0].rule.as_deref(), Some("square"));
    // Everyone leaves within 5 s.
    for n in (0..26).rev().step_by(3) {
        s.frame(&people(n), &[]);
    }
    for _ in 0..240 {
        s.frame(&people(0), &[]);
    }
    let d = of_kind(&s.events, "crowd_dispersal");
    assert_eq!(d.len(), 1, "{:?}", s.events);
    assert!(d[0].details["change"].as_f64().unwrap() <= -10.0);
    assert_eq!(s.events.len(), 2, "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// Loitering
// ---------------------------------------------------------------------------

const LOITER: &str = r#"
[[camera.zone]]
name = "atm"
polygon = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
enter_exit = false
loiter_seconds = 20
"#;

#[test]
fn loitering_fires_once_at_the_limit() {
    let mut s = Script::new(LOITER, STEP_MS);
    for _ in 0..10 {
        s.frame(&[person(1, 100.0, 500.0)], &[]);
    }
    let entered = s.now();
    for i in 0..200 {
        s.frame(&[person(1, 400.0 + (i % 7) as f32, 500.0)], &[]);
    }
    let l = of_kind(&s.events, "loitering");
    assert_eq!(l.len(), 1, "{:?}", s.events);
    let at = s.secs(l[0].ts) - entered;
    assert!((20.0..20.5).contains(&at), "{at}");
    assert_eq!(l[0].track_id, Some(1));
    assert_eq!(l[0].rule.as_deref(), Some("atm"));
    assert_eq!(l[0].details["limit_seconds"], 20.0);
}

/// Person 1 stands in the zone 12 s, is occluded for 2 s, and a new track 2
/// appears at `(x, 500)`; track 1 ends `end_delay` frames after it vanished.
fn occlusion(x: f32, end_delay: usize) -> Script {
    let mut s = Script::new(LOITER, STEP_MS);
    for _ in 0..60 {
        s.frame(&[person(1, 400.0, 500.0)], &[]);
    }
    for i in 0..10 {
        let ended: &[u64] = if i == end_delay { &[1] } else { &[] };
        s.frame(&[], ended);
    }
    for i in 0..100 {
        let ended: &[u64] = if i + 10 == end_delay { &[1] } else { &[] };
        s.frame(&[person(2, x, 500.0)], ended);
    }
    s
}

#[test]
fn loitering_survives_short_occlusion_with_new_track() {
    // Track 1 ending before (tracker gave up) or after (still coasting) the
    // new track appears: both hand the visit over.
    for end_delay in [0, 15] {
        let s = occlusion(420.0, end_delay);
        let l = of_kind(&s.events, "loitering");
        assert_eq!(l.len(), 1, "end_delay {end_delay}: {:?}", s.events);
        assert_eq!(l[0].track_id, Some(2));
        assert_eq!(l[0].details["previous_track_ids"], serde_json::json!([1]));
        let at = s.secs(l[0].ts);
        assert!((20.0..20.5).contains(&at), "fired at {at}");
    }
}

#[test]
fn loitering_far_new_track_does_not_inherit() {
    let s = occlusion(700.0, 0);
    let l = of_kind(&s.events, "loitering");
    assert!(l.is_empty(), "{:?}", s.events);
}

#[test]
fn loitering_gap_longer_than_reassociation_does_not_inherit() {
    let mut s = Script::new(LOITER, STEP_MS);
    for _ in 0..60 {
        s.frame(&[person(1, 400.0, 500.0)], &[]);
    }
    s.frame(&[], &[1]);
    for _ in 0..40 {
        s.frame(&[], &[]);
    }
    for _ in 0..60 {
        s.frame(&[person(2, 410.0, 500.0)], &[]);
    }
    assert!(of_kind(&s.events, "loitering").is_empty(), "{:?}", s.events);
}

#[test]
fn loitering_one_event_per_visit_across_handovers() {
    let mut s = Script::new(LOITER, STEP_MS);
    for _ in 0..150 {
        s.frame(&[person(1, 400.0, 500.0)], &[]);
    }
    assert_eq!(of_kind(&s.events, "loitering").len(), 1);
    s.frame(&[], &[1]);
    for _ in 0..150 {
        s.frame(&[person(2, 410.0, 500.0)], &[]);
    }
    assert_eq!(of_kind(&s.events, "loitering").len(), 1, "{:?}", s.events);
    // Leaving the zone ends the visit; coming back later is a new visit.
    for _ in 0..5 {
        s.frame(&[person(2, 100.0, 500.0)], &[]);
    }
    for _ in 0..110 {
        s.frame(&[person(2, 400.0, 500.0)], &[]);
    }
    assert_eq!(of_kind(&s.events, "loitering").len(), 2, "{:?}", s.events);
}
