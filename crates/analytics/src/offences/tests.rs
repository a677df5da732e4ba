//! Offence rules on scripted tracks and simulated time: each rule with
//! offence and non-offence cases, once-per-track reporting and hysteresis,
//! plus the evidence request every offence carries.

use super::*;
use crate::RuleEngine;
use base::event::kinds;
use config::{CameraConfig, Config};
use std::sync::Arc;

/// Frame size the rules are built for (normalised config → pixels).
const W: u32 = 1000;
const H: u32 = 1000;
const STEP_MS: i64 = 200;
const T0: i64 = 1_000_000;

fn camera(rules: &str) -> CameraConfig {
    let text = format!("[[camera]]\nid = \"junction\"\nurl = \"x.mp4\"\n{rules}");
    Config::parse(&text, "t.toml").unwrap().cameras.remove(0)
}

/// A 100×60 vehicle whose bottom centre is at (x, y).
fn vehicle(id: u64, label: &'static str, x: f32, y: f32) -> ObjectState<'static> {
    ObjectState {
        track_id: id,
        label,
        bbox: BBox::new(x - 50.0, y - 60.0, x + 50.0, y),
        score: 0.9,
    }
}

fn car(id: u64, x: f32, y: f32) -> ObjectState<'static> {
    vehicle(id, "car", x, y)
}

/// Drives a rule engine on simulated time at a fixed step.
struct Script {
    eng: RuleEngine,
    t: Timestamp,
    events: Vec<Event>,
}

impl Script {
    fn new(rules: &str) -> Self {
        Script {
            eng: RuleEngine::new(&camera(rules), W, H),
            t: Timestamp(T0),
            events: Vec::new(),
        }
    }
    fn step(&mut self, objects: &[ObjectState<'_>], ended: &[u64]) {
        let ev = self.eng.update(self.t, objects, ended);
        self.events.extend(ev);
        self.t = Timestamp(self.t.0 + STEP_MS);
    }
    fn offences(&self) -> Vec<&Event> {
        self.events
            .iter()
            .filter(|e| e.kind.starts_with(kinds::OFFENCE_PREFIX))
            .collect()
    }
    fn secs(&self, ts: Timestamp) -> f64 {
        (ts.0 - T0) as f64 / 1000.0
    }
}

// ---------------------------------------------------------------------------
// Red light
// ---------------------------------------------------------------------------

/// Stop line across the frame at y = 0.5, drawn right to left so that driving
/// down the frame is an "in" crossing; the signal head at the top right.
const RED_LIGHT: &str = r#"
[[camera.offences.red_light]]
name = "stop-north"
stop_line = [[1.0, 0.5], [0.0, 0.5]]
direction = "in"
light = [[0.85, 0.05], [0.95, 0.35]]
grace_seconds = 1.0
"#;

/// A small 100×100 picture (the rules map their normalised regions to the
/// frame's own size) with the signal head lit in `colour`, or dark.
fn light_frame(ts: Timestamp, colour: Option<[u8; 3]>) -> Frame {
    let (w, h) = (100u32, 100u32);
    let mut rgb = vec![120u8; (w * h * 3) as usize];
    for y in 5..35 {
        for x in 85..95 {
            let lamp_row = match colour {
                Some(c) if c[0] > 200 && c[1] < 100 => (8..14).contains(&y),
                Some(c) if c[0] > 200 => (17..23).contains(&y),
                Some(_) => (26..32).contains(&y),
                None => false,
            };
            let px = if lamp_row && (87..93).contains(&x) {
                colour.unwrap_or([20, 20, 20])
            } else {
                [15, 15, 18]
            };
            let i = ((y * w + x) * 3) as usize;
            rgb[i..i + 3].copy_from_slice(&px);
        }
    }
    Frame::new(Arc::from("junction"), 0, ts, 0, w, h, rgb)
}

const RED: Option<[u8; 3]> = Some([250, 30, 20]);
const AMBER: Option<[u8; 3]> = Some([250, 170, 20]);
const GREEN: Option<[u8; 3]> = Some([30, 240, 120]);

impl Script {
    /// One frame with the light shown and the objects tracked.
    fn lit(&mut self, colour: Option<[u8; 3]>, objects: &[ObjectState<'_>]) {
        let f = light_frame(self.t, colour);
        self.eng.observe_frame(&f);
        self.step(objects, &[]);
    }
}

/// Shows `colour` for `secs` with no traffic.
fn hold(s: &mut Script, colour: Option<[u8; 3]>, secs: f32) {
    for _ in 0..(secs * 1000.0 / STEP_MS as f32) as usize {
        s.lit(colour, &[]);
    }
}

/// Car `id` drives down from y=300 to y=700 at 500 px/s under `colour`.
fn drive_down(s: &mut Script, id: u64, colour: Option<[u8; 3]>) {
    let mut y = 300.0;
    while y <= 700.0 {
        s.lit(colour, &[car(id, 400.0, y)]);
        y += 100.0;
    }
}

#[test]
fn red_light_running_is_an_offence_with_light_history() {
    let mut s = Script::new(RED_LIGHT);
    assert!(s.eng.wants_frames());
    hold(&mut s, GREEN, 4.0);
    hold(&mut s, AMBER, 2.0);
    hold(&mut s, RED, 3.0);
    assert_eq!(s.eng.light_states()[0].1, LightState::Red);
    drive_down(&mut s, 7, RED);
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let e = off[0];
    assert_eq!(e.kind, kinds::OFFENCE_RED_LIGHT);
    assert_eq!(e.rule.as_deref(), Some("stop-north"));
    assert_eq!(e.track_id, Some(7));
    let m = &e.details["measured"];
    assert_eq!(m["light_state"], "red");
    assert_eq!(m["direction"], "in");
    let red_for = m["red_for_seconds"].as_f64().unwrap();
    // Red from t=6.0 s; the car crosses y=500 at t≈9.4 s.
    assert!((3.2..3.6).contains(&red_for), "{red_for}");
    let changes = m["light_history"]["changes"].as_array().unwrap();
    let states: Vec<&str> = changes
        .iter()
        .map(|c| c["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["green", "amber", "red"], "{changes:?}");
    assert!(!m["light_history"]["readings"]
        .as_array()
        .unwrap()
        .is_empty());
    let req = EvidenceRequest::from_event(e).unwrap();
    assert_eq!(req.regions[0].name, "traffic_light");
    assert!(req.regions[0].bbox.x1 >= 849.0 && req.regions[0].bbox.x2 <= 951.0);
    assert!(e.details["calibration"].is_null());
}

#[test]
fn green_amber_and_unknown_lights_are_not_offences() {
    for colour in [GREEN, AMBER, None] {
        let mut s = Script::new(RED_LIGHT);
        hold(&mut s, colour, 3.0);
        drive_down(&mut s, 1, colour);
        assert!(s.offences().is_empty(), "{colour:?}: {:?}", s.events);
    }
}

#[test]
fn red_light_grace_period_and_direction() {
    // Turned red 0.6 s before the crossing: within the 1 s grace.
    let mut s = Script::new(RED_LIGHT);
    hold(&mut s, GREEN, 2.0);
    s.lit(GREEN, &[car(1, 400.0, 300.0)]);
    s.lit(GREEN, &[car(1, 400.0, 400.0)]);
    s.lit(RED, &[car(1, 400.0, 450.0)]);
    s.lit(RED, &[car(1, 400.0, 480.0)]);
    s.lit(RED, &[car(1, 400.0, 560.0)]);
    s.lit(RED, &[car(1, 400.0, 700.0)]);
    assert!(s.offences().is_empty(), "{:?}", s.events);

    // Driving up the frame (the other direction) on red is not judged.
    let mut s = Script::new(RED_LIGHT);
    hold(&mut s, RED, 3.0);
    let mut y = 700.0;
    while y >= 300.0 {
        s.lit(RED, &[car(2, 400.0, y)]);
        y -= 100.0;
    }
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

#[test]
fn red_light_once_per_track_and_not_for_people() {
    let mut s = Script::new(RED_LIGHT);
    hold(&mut s, RED, 3.0);
    drive_down(&mut s, 3, RED);
    // Reverses back over the line and crosses again: still one offence.
    for y in [600.0, 400.0, 300.0] {
        s.lit(RED, &[car(3, 400.0, y)]);
    }
    drive_down(&mut s, 3, RED);
    // A pedestrian crossing on red is not a vehicle offence.
    let mut y = 300.0;
    while y <= 700.0 {
        s.lit(RED, &[vehicle(4, "person", 600.0, y)]);
        y += 100.0;
    }
    assert_eq!(s.offences().len(), 1, "{:?}", s.events);
}

#[test]
fn red_light_from_external_readings() {
    let mut s = Script::new(RED_LIGHT);
    let red = LightReading {
        state: LightState::Red,
        confidence: 0.95,
        ..Default::default()
    };
    assert!(!s.eng.set_light_reading("nope", s.t, red));
    for _ in 0..10 {
        assert!(s.eng.set_light_reading("stop-north", s.t, red));
        s.step(&[], &[]);
    }
    let mut y = 300.0;
    while y <= 700.0 {
        s.eng.set_light_reading("stop-north", s.t, red);
        s.step(&[car(9, 400.0, y)], &[]);
        y += 100.0;
    }
    assert_eq!(s.offences().len(), 1, "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// Speed
// ---------------------------------------------------------------------------

/// The square 0.1..0.9 of the frame maps to 0..80 m: 0.1 m per pixel at 1000 px.
const SQUARE_CALIBRATION: &str = r#"
[camera.calibration]
homography = { image = [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9], [0.1, 0.9]], ground = [[0, 0], [80, 0], [80, 80], [0, 80]] }
lines = { first = [[0.0, 0.3], [1.0, 0.3]], second = [[0.0, 0.7], [1.0, 0.7]], distance_m = 20.0 }
"#;

fn speed_rules(limit: f32, method: &str) -> String {
    format!(
        "{SQUARE_CALIBRATION}\n[[camera.offences.speed]]\nname = \"main-road\"\nlimit_kmh = {limit}\ntolerance_kmh = 3\nmethod = \"{method}\"\n"
    )
}

/// Car `id` moving down at `px_per_step` per 200 ms from y=150 to y=850.
fn drive_at(s: &mut Script, id: u64, px_per_step: f32, jump_at: Option<usize>) {
    let mut y = 150.0;
    let mut i = 0;
    while y <= 850.0 {
        let jitter = if Some(i) == jump_at { 50.0 } else { 0.0 };
        s.step(&[car(id, 500.0, y + jitter)], &[]);
        y += px_per_step;
        i += 1;
    }
    s.step(&[], &[id]);
}

#[test]
fn homography_speed_over_limit_is_one_offence() {
    // 20 px per 0.2 s = 100 px/s = 10 m/s = 36 km/h; one jumpy box.
    let mut s = Script::new(&speed_rules(30.0, "homography"));
    drive_at(&mut s, 5, 20.0, Some(8));
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let m = &off[0].details["measured"];
    assert_eq!(m["method"], "homography");
    let v = m["speed_kmh"].as_f64().unwrap();
    assert!((v - 36.0).abs() < 1.0, "{v}");
    assert_eq!(m["threshold_kmh"], 33.0);
    let cal = &off[0].details["calibration"];
    assert_eq!(cal["frame"][0], 1000);
    assert!(cal["homography_px_to_m"].is_array(), "{cal}");
    // First estimate once 60% of the 1 s window is filled (t=0.6 s), then
    // a second confirming one.
    let t = s.secs(off[0].ts);
    assert!((0.8 - 1e-9..=1.2).contains(&t), "{t}");

    let mut s = Script::new(&speed_rules(50.0, "homography"));
    drive_at(&mut s, 5, 20.0, Some(8));
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

#[test]
fn homography_speed_through_perspective() {
    // A road in perspective: the image trapezoid is a 7 m × 40 m rectangle.
    let cal = r#"
[camera.calibration]
homography = { image = [[0.1, 0.9], [0.6, 0.9], [0.45, 0.2], [0.3, 0.2]], ground = [[0, 0], [7, 0], [7, 40], [0, 40]] }

[[camera.offences.speed]]
name = "persp"
limit_kmh = 50
window_seconds = 1.5
"#;
    let img = [
        [100.0, 900.0],
        [600.0, 900.0],
        [450.0, 200.0],
        [300.0, 200.0],
    ];
    let gnd = [[0.0, 0.0], [7.0, 0.0], [7.0, 40.0], [0.0, 40.0]];
    let to_img = Homography::from_points(&gnd, &img).unwrap();
    for (kmh, want) in [(72.0f64, 1usize), (40.0, 0)] {
        let mut s = Script::new(cal);
        let v = kmh / 3.6;
        // Drive away from the camera along x = 3.5 m at constant ground speed.
        let mut y = 1.0;
        while y < 39.0 {
            let p = to_img.apply(Point::new(3.5, y as f32)).unwrap();
            s.step(&[car(1, p[0] as f32, p[1] as f32)], &[]);
            y += v * STEP_MS as f64 / 1000.0;
        }
        let off = s.offences();
        assert_eq!(off.len(), want, "{kmh}: {:?}", s.events);
        if let Some(e) = off.first() {
            let got = e.details["measured"]["speed_kmh"].as_f64().unwrap();
            assert!((got - kmh).abs() < 0.5, "{got} vs {kmh}");
        }
    }
}

#[test]
fn two_line_speed() {
    // 100 px/s through lines 400 px apart = 4 s for 20 m = 18 km/h.
    let mut s = Script::new(&speed_rules(14.0, "lines"));
    drive_at(&mut s, 2, 20.0, None);
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let m = &off[0].details["measured"];
    assert_eq!(m["method"], "lines");
    let v = m["speed_kmh"].as_f64().unwrap();
    assert!((v - 18.0).abs() < 0.1, "{v}");
    assert!((m["seconds_between_lines"].as_f64().unwrap() - 4.0).abs() < 0.01);
    assert_eq!(m["direction"], "first_to_second");
    let req = EvidenceRequest::from_event(off[0]).unwrap();
    // The evidence window spans both crossings.
    assert!(req.before.0 <= m["first_line_at"].as_i64().unwrap() - 3000);

    let mut s = Script::new(&speed_rules(30.0, "lines"));
    drive_at(&mut s, 2, 20.0, None);
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// Wrong way
// ---------------------------------------------------------------------------

/// The left half is a lane whose traffic drives down the frame.
const WRONG_WAY: &str = r#"
[[camera.offences.wrong_way]]
name = "southbound"
lane = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]]
direction = [[0.25, 0.1], [0.25, 0.9]]
"#;

#[test]
fn wrong_way_once_per_track() {
    let mut s = Script::new(WRONG_WAY);
    // Car 1 drives up the lane (wrong way), car 2 down (right way), car 3
    // crosses the lane sideways, car 4 stands still with a jittery box.
    for i in 0..40 {
        let f = i as f32;
        let jit = if i % 2 == 0 { 6.0 } else { -6.0 };
        s.step(
            &[
                car(1, 200.0, 950.0 - 20.0 * f),
                car(2, 300.0, 50.0 + 20.0 * f),
                car(3, 20.0 + 10.0 * f, 500.0),
                car(4, 100.0 + jit, 300.0 - jit),
            ],
            &[],
        );
    }
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let e = off[0];
    assert_eq!(e.kind, kinds::OFFENCE_WRONG_WAY);
    assert_eq!(e.track_id, Some(1));
    let m = &e.details["measured"];
    assert!(m["cosine"].as_f64().unwrap() < -0.99, "{m}");
    // Needs at least 1 s and 5% of the diagonal (~71 px at 100 px/s).
    let t = s.secs(e.ts);
    assert!((1.0..=1.2).contains(&t), "{t}");
    assert!(m["distance_m"].is_null());
}

#[test]
fn wrong_way_outside_the_lane_is_ignored() {
    let mut s = Script::new(WRONG_WAY);
    for i in 0..40 {
        s.step(&[car(1, 800.0, 950.0 - 20.0 * i as f32)], &[]);
    }
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// No stopping
// ---------------------------------------------------------------------------

const NO_STOPPING: &str = r#"
[[camera.offences.no_stopping]]
name = "bus-stop-bay"
zone = [[0.2, 0.2], [0.8, 0.2], [0.8, 0.8], [0.2, 0.8]]
limit_seconds = 60
move_grace_seconds = 2
"#;

/// Drives car `id` into the zone (y 100 → 500), then it stands for `secs`
/// with a jittery box.
fn arrive_and_stand(s: &mut Script, id: u64, secs: f32) {
    for i in 0..5 {
        s.step(&[car(id, 500.0, 100.0 + 100.0 * i as f32)], &[]);
    }
    for i in 0..(secs * 5.0) as usize {
        let jit = if i % 2 == 0 { 1.5 } else { -1.5 };
        s.step(&[car(id, 500.0 + jit, 500.0)], &[]);
    }
}

#[test]
fn no_stopping_beyond_limit_once_per_stay() {
    let mut s = Script::new(NO_STOPPING);
    arrive_and_stand(&mut s, 1, 90.0);
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let m = &off[0].details["measured"];
    let stopped = m["stopped_seconds"].as_f64().unwrap();
    assert!((60.0..60.5).contains(&stopped), "{stopped}");
    // Arrived at t=0.8 s; stopped from ~1 s; decided ~60 s later.
    let t = s.secs(off[0].ts);
    assert!((60.5..62.0).contains(&t), "{t}");
    // The clip is capped at 3 s + 10 s before the decision; the stop's start
    // is named separately.
    let r = EvidenceRequest::from_event(off[0]).unwrap();
    assert_eq!(r.during.0 - r.before.0, 13_000);
    assert!(r.start < r.before);
    assert_eq!(r.start.0, m["stopped_since"].as_i64().unwrap());

    // It leaves, comes back and stops again: a new stay, a new offence.
    for i in 0..5 {
        s.step(&[car(1, 500.0, 600.0 + 100.0 * i as f32)], &[]);
    }
    arrive_and_stand(&mut s, 1, 65.0);
    assert_eq!(s.offences().len(), 2, "{:?}", s.events);
}

#[test]
fn no_stopping_short_stops_and_grace() {
    // 40 s stop, then drives off: no offence.
    let mut s = Script::new(NO_STOPPING);
    arrive_and_stand(&mut s, 1, 40.0);
    for i in 0..5 {
        s.step(&[car(1, 500.0, 550.0 + 100.0 * i as f32)], &[]);
    }
    assert!(s.offences().is_empty(), "{:?}", s.events);

    // 40 s, creeps forward 1 s (within grace), 25 s more: one stop of 66 s.
    let mut s = Script::new(NO_STOPPING);
    arrive_and_stand(&mut s, 2, 40.0);
    for i in 0..5 {
        s.step(&[car(2, 500.0, 500.0 + 10.0 * i as f32)], &[]);
    }
    for _ in 0..125 {
        s.step(&[car(2, 500.0, 550.0)], &[]);
    }
    assert_eq!(s.offences().len(), 1, "{:?}", s.events);

    // 40 s, then drives around inside the zone for 5 s, 25 s more: the
    // timer restarted, no offence.
    let mut s = Script::new(NO_STOPPING);
    arrive_and_stand(&mut s, 3, 40.0);
    for i in 0..25 {
        s.step(&[car(3, 300.0 + 15.0 * i as f32, 500.0)], &[]);
    }
    for _ in 0..125 {
        s.step(&[car(3, 675.0, 500.0)], &[]);
    }
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

// ---------------------------------------------------------------------------
// Bus lane
// ---------------------------------------------------------------------------

const BUS_LANE: &str = r#"
[[camera.offences.bus_lane]]
name = "bus-lane"
lane = [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]]
max_seconds = 3
"#;

#[test]
fn bus_lane_by_time() {
    let mut s = Script::new(BUS_LANE);
    for i in 0..40 {
        let y = 50.0 + 20.0 * i as f32;
        s.step(
            &[
                car(1, 150.0, y),
                vehicle(2, "bus", 100.0, y),
                vehicle(3, "motorcycle", 600.0, y),
                // Car 4 cuts across the lane in 1 s to turn.
                car(4, 50.0 + 60.0 * i as f32, 400.0),
            ],
            &[],
        );
    }
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    assert_eq!(off[0].kind, kinds::OFFENCE_BUS_LANE);
    assert_eq!(off[0].track_id, Some(1));
    let m = &off[0].details["measured"];
    assert!(m["seconds_in_lane"].as_f64().unwrap() > 3.0);
    assert_eq!(m["exceeded"], "time");
    assert!(m["metres_in_lane"].is_null());
}

#[test]
fn bus_lane_by_distance_with_homography() {
    let rules = format!(
        "{SQUARE_CALIBRATION}\n[[camera.offences.bus_lane]]\nname = \"bl\"\nlane = [[0.0, 0.0], [0.3, 0.0], [0.3, 1.0], [0.0, 1.0]]\nmax_seconds = 30\nmax_distance_m = 20\nallowed_classes = [\"bus\", \"motorbike\"]\n"
    );
    let mut s = Script::new(&rules);
    // 10 m/s: 20 m after 2 s. Motorcycles are allowed here.
    for i in 0..30 {
        let y = 150.0 + 20.0 * i as f32;
        s.step(&[car(1, 200.0, y), vehicle(2, "motorcycle", 100.0, y)], &[]);
    }
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    let m = &off[0].details["measured"];
    assert_eq!(m["exceeded"], "distance");
    let metres = m["metres_in_lane"].as_f64().unwrap();
    assert!((20.0..22.1).contains(&metres), "{metres}");
    assert!(off[0].details["calibration"]["config"]["homography"].is_object());
}

// ---------------------------------------------------------------------------
// Records and evidence
// ---------------------------------------------------------------------------

#[test]
fn record_and_evidence_request() {
    let rules = format!(
        "[camera.offences]\nevidence_before_seconds = 2\nevidence_after_seconds = 4\n{}",
        WRONG_WAY
    );
    let mut s = Script::new(&rules);
    for i in 0..20 {
        s.step(&[car(1, 200.0, 950.0 - 20.0 * i as f32)], &[]);
    }
    let e = s.offences()[0].clone();
    let d = &e.details;
    assert_eq!(d["offence"], "wrong_way");
    assert_eq!(d["rule"], "southbound");
    assert_eq!(d["track_id"], 1);
    assert_eq!(d["class"], "car");
    assert_eq!(d["start"], T0);
    assert_eq!(d["end"], e.ts.0);
    let r = EvidenceRequest::from_event(&e).unwrap();
    assert_eq!(r.camera, "junction");
    assert_eq!(r.offence, kinds::OFFENCE_WRONG_WAY);
    assert_eq!(r.track_id, 1);
    assert_eq!(r.start, Timestamp(T0));
    assert_eq!(r.before, Timestamp(T0 - 2000));
    assert_eq!(r.during, e.ts);
    assert_eq!(r.after, Timestamp(e.ts.0 + 4000));
    assert!(r.read_plate);
    assert_eq!(r.vehicle_bbox, e.bbox.unwrap());
    assert_eq!(r.track.first().unwrap().ts, Timestamp(T0));
    assert_eq!(r.track.last().unwrap().ts, e.ts);
    // A non-offence event has no request.
    assert!(EvidenceRequest::from_event(&Event::new("c", "zone_enter", e.ts)).is_none());
}

#[test]
fn cameras_without_offences_are_unchanged() {
    let s = Script::new("");
    assert!(s.eng.is_empty());
    assert!(!s.eng.wants_frames());
    assert!(s.eng.light_states().is_empty());
}

#[test]
fn bad_boxes_and_repeated_frames_do_not_panic() {
    let rules = format!(
        "{}{}{}",
        speed_rules(30.0, "homography"),
        WRONG_WAY,
        NO_STOPPING
    );
    let mut s = Script::new(&rules);
    let nan = ObjectState {
        track_id: 1,
        label: "car",
        bbox: BBox::new(f32::NAN, 0.0, f32::INFINITY, 5.0),
        score: 0.5,
    };
    let zero = ObjectState {
        track_id: 2,
        label: "car",
        bbox: BBox::new(500.0, 500.0, 500.0, 500.0),
        score: 0.5,
    };
    for _ in 0..30 {
        let t = s.t;
        s.eng.update(t, &[nan.clone(), zero.clone()], &[]);
        s.step(&[nan.clone(), zero.clone()], &[]);
    }
    s.step(&[], &[1, 2, 99]);
    assert!(s.offences().is_empty(), "{:?}", s.events);
}

#[test]
fn a_rule_can_judge_its_own_classes() {
    // Bicycles are not vehicles by default, but this bus lane names them.
    let rules = BUS_LANE.replace(
        "max_seconds = 3",
        "max_seconds = 3\nclasses = [\"bicycle\"]",
    );
    let mut s = Script::new(&rules);
    for i in 0..30 {
        let y = 50.0 + 20.0 * i as f32;
        s.step(&[vehicle(1, "bicycle", 150.0, y), car(2, 100.0, y)], &[]);
    }
    let off = s.offences();
    assert_eq!(off.len(), 1, "{:?}", s.events);
    assert_eq!(off[0].label.as_deref(), Some("bicycle"));
    // And a bicycle is still nobody's business on the default lists.
    let mut s = Script::new(WRONG_WAY);
    for i in 0..30 {
        s.step(
            &[vehicle(1, "bicycle", 200.0, 950.0 - 20.0 * i as f32)],
            &[],
        );
    }
    assert!(s.offences().is_empty(), "{:?}", s.events);
}
