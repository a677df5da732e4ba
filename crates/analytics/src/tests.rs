//! Scripted tracks on simulated time: every rule is exercised without video.

use super::*;
use config::{CameraConfig, Config};
use std::time::Duration;

const CFG: &str = r#"
[[camera]]
id = "cam"
url = "x.mp4"

[[camera.zone]]
name = "square"
polygon = [[0.25, 0.25], [0.75, 0.25], [0.75, 0.75], [0.25, 0.75]]
dwell_seconds = 10

[[camera.zone]]
name = "cars_only"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
classes = ["car"]

[[camera.line]]
name = "mid"
from = [0.5, 0.0]
to = [0.5, 1.0]
"#;

fn camera() -> CameraConfig {
    Config::parse(CFG, "t.toml").unwrap().cameras.remove(0)
}

/// A 20×20 box whose bottom centre is at (x, y) in a 1000×1000 frame.
fn obj(id: u64, label: &'static str, x: f32, y: f32) -> ObjectState<'static> {
    ObjectState {
        track_id: id,
        label,
        bbox: BBox::new(x - 10.0, y - 20.0, x + 10.0, y),
        score: 0.9,
    }
}

fn kinds_of(ev: &[Event]) -> Vec<(String, String)> {
    ev.iter()
        .map(|e| (e.kind.clone(), e.rule.clone().unwrap_or_default()))
        .collect()
}

#[test]
fn enter_dwell_exit_on_simulated_time() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut t = Timestamp(0);
    let step = Duration::from_millis(200);
    let mut all = Vec::new();
    // Outside, then walk in and stand for 12 s, then leave.
    for _ in 0..5 {
        all.extend(eng.update(t, &[obj(1, "person", 100.0, 500.0)], &[]));
        t = t.plus(step);
    }
    assert!(all.is_empty());
    for _ in 0..60 {
        all.extend(eng.update(t, &[obj(1, "person", 400.0, 500.0)], &[]));
        t = t.plus(step);
    }
    let k = kinds_of(&all);
    assert_eq!(k[0], ("zone_enter".into(), "square".into()));
    assert_eq!(
        k.iter().filter(|x| x.0 == "zone_dwell").count(),
        1,
        "dwell fires once: {k:?}"
    );
    let dwell = all.iter().find(|e| e.kind == "zone_dwell").unwrap();
    let secs = dwell.details["dwell_seconds"].as_f64().unwrap();
    assert!((10.0..10.5).contains(&secs), "{secs}");
    all.clear();
    for _ in 0..3 {
        all.extend(eng.update(t, &[obj(1, "person", 400.0, 900.0)], &[]));
        t = t.plus(step);
    }
    let exit = all.iter().find(|e| e.kind == "zone_exit").expect("exit");
    assert_eq!(exit.details["reason"], "left_zone");
    assert!(exit.details["dwell_seconds"].as_f64().unwrap() > 11.0);
}

#[test]
fn edge_jitter_does_not_flap() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut t = Timestamp(0);
    let mut all = Vec::new();
    // Inside for a while, then single-frame excursions across the edge.
    for i in 0..40 {
        let y = if i > 5 && i % 2 == 0 { 760.0 } else { 740.0 };
        all.extend(eng.update(t, &[obj(7, "person", 500.0, y)], &[]));
        t = t.plus(Duration::from_millis(100));
    }
    let enters = all.iter().filter(|e| e.kind == "zone_enter").count();
    let exits = all.iter().filter(|e| e.kind == "zone_exit").count();
    assert_eq!((enters, exits), (1, 0), "{:?}", kinds_of(&all));
}

#[test]
fn class_filter_applies() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut all = Vec::new();
    for i in 0..4 {
        all.extend(eng.update(
            Timestamp(i * 100),
            &[obj(1, "person", 100.0, 100.0), obj(2, "car", 100.0, 100.0)],
            &[],
        ));
    }
    let zones: Vec<_> = all.iter().filter(|e| e.kind == "zone_enter").collect();
    assert_eq!(zones.len(), 1);
    assert_eq!(zones[0].label.as_deref(), Some("car"));
    assert_eq!(zones[0].rule.as_deref(), Some("cars_only"));
}

#[test]
fn line_counts_each_direction_once() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut t = Timestamp(0);
    let mut all = Vec::new();
    // Track 1 walks left→right across x=500; track 2 right→left.
    for i in 0..30 {
        let x1 = 300.0 + i as f32 * 15.0;
        let x2 = 700.0 - i as f32 * 15.0;
        all.extend(eng.update(
            t,
            &[obj(1, "person", x1, 100.0), obj(2, "person", x2, 120.0)],
            &[],
        ));
        t = t.plus(Duration::from_millis(100));
    }
    let crossings: Vec<_> = all.iter().filter(|e| e.kind == "line_cross").collect();
    assert_eq!(crossings.len(), 2, "{:?}", kinds_of(&all));
    let dir = |id| {
        crossings
            .iter()
            .find(|e| e.track_id == Some(id))
            .unwrap()
            .details["direction"]
            .as_str()
            .unwrap()
            .to_string()
    };
    // from (500,0) to (500,1000) points down the screen; its left-hand side on
    // screen is x > 500, so left→right motion (x growing) enters the left side: "in".
    assert_eq!(dir(1), "in");
    assert_eq!(dir(2), "out");
    let stats = eng.stats();
    assert_eq!(stats.lines, vec![("mid".to_string(), 1, 1)]);
}

#[test]
fn standing_on_line_does_not_count() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut all = Vec::new();
    for i in 0..50 {
        let x = 500.0 + if i % 2 == 0 { 4.0 } else { -4.0 };
        all.extend(eng.update(Timestamp(i * 100), &[obj(3, "person", x, 100.0)], &[]));
    }
    assert!(
        all.iter().all(|e| e.kind != "line_cross"),
        "{:?}",
        kinds_of(&all)
    );
}

#[test]
fn directed_line_filters() {
    let mut cam = camera();
    cam.lines[0].direction = LineDirection::Out;
    let mut eng = RuleEngine::new(&cam, 1000, 1000);
    let mut all = Vec::new();
    for i in 0..30 {
        let x1 = 300.0 + i as f32 * 15.0;
        let x2 = 700.0 - i as f32 * 15.0;
        all.extend(eng.update(
            Timestamp(i * 100),
            &[obj(1, "person", x1, 100.0), obj(2, "person", x2, 120.0)],
            &[],
        ));
    }
    let crossings: Vec<_> = all.iter().filter(|e| e.kind == "line_cross").collect();
    assert_eq!(crossings.len(), 1);
    assert_eq!(crossings[0].track_id, Some(2));
    // Counters still see both directions.
    assert_eq!(eng.stats().lines[0], ("mid".to_string(), 1, 1));
}

#[test]
fn ended_track_inside_zone_exits() {
    let mut eng = RuleEngine::new(&camera(), 1000, 1000);
    let mut all = Vec::new();
    for i in 0..5 {
        all.extend(eng.update(Timestamp(i * 1000), &[obj(9, "person", 500.0, 500.0)], &[]));
    }
    assert_eq!(eng.stats().zones[0], ("square".to_string(), 1));
    let ev = eng.update(Timestamp(6000), &[], &[9]);
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0].kind, "zone_exit");
    assert_eq!(ev[0].details["reason"], "track_ended");
    assert_eq!(eng.stats().zones[0], ("square".to_string(), 0));
}

/// A live edit (a zone added in the web app) keeps what did not change: a
/// person already inside an unchanged zone does not enter it again and its
/// dwell clock keeps running; line counts carry over; the new zone starts
/// empty and the person standing in it enters it once.
#[test]
fn reconfigure_keeps_state_of_unchanged_rules() {
    let cam = camera();
    let mut eng = RuleEngine::new(&cam, 1000, 1000);
    let mut t = Timestamp(0);
    let step = Duration::from_millis(200);
    let mut all = Vec::new();
    // Cross the midline into the square and stand there for 6 s.
    for x in [300.0, 350.0, 450.0, 550.0, 600.0] {
        all.extend(eng.update(t, &[obj(1, "person", x, 500.0)], &[]));
        t = t.plus(step);
    }
    for _ in 0..25 {
        all.extend(eng.update(t, &[obj(1, "person", 600.0, 500.0)], &[]));
        t = t.plus(step);
    }
    let k = kinds_of(&all);
    assert_eq!(k.iter().filter(|x| x.0 == "zone_enter").count(), 1, "{k:?}");
    assert_eq!(k.iter().filter(|x| x.0 == "line_cross").count(), 1, "{k:?}");
    let lines_before = eng.stats().lines;

    // The operator adds a zone around the person's spot and moves nothing else.
    let mut edited = cam.clone();
    let mut z = edited.zones[0].clone();
    z.name = "kiosk".into();
    z.polygon = vec![[0.55, 0.4], [0.65, 0.4], [0.65, 0.6], [0.55, 0.6]];
    z.dwell_seconds = None;
    edited.zones.push(z);
    eng.reconfigure(&edited, 1000, 1000);
    assert_eq!(eng.stats().lines, lines_before, "line counts carry over");

    all.clear();
    for _ in 0..25 {
        all.extend(eng.update(t, &[obj(1, "person", 600.0, 500.0)], &[]));
        t = t.plus(step);
    }
    let k = kinds_of(&all);
    assert_eq!(
        k.iter().filter(|x| x.0 == "zone_enter").collect::<Vec<_>>(),
        vec![&("zone_enter".to_string(), "kiosk".to_string())],
        "only the new zone is entered: {k:?}"
    );
    // 6 s before the edit + 5 s after: the square's 10 s dwell fires on
    // the clock that started before the edit.
    let dwell = all
        .iter()
        .find(|e| e.kind == "zone_dwell" && e.rule.as_deref() == Some("square"))
        .unwrap_or_else(|| panic!("the square's dwell clock survived the edit: {k:?}"));
    let secs = dwell.details["dwell_seconds"].as_f64().unwrap();
    assert!((10.0..10.5).contains(&secs), "{secs}");

    // Moving the square resets its membership: the person is in the moved
    // square too and enters it anew.
    let mut moved = edited.clone();
    moved.zones[0].polygon = vec![[0.3, 0.3], [0.8, 0.3], [0.8, 0.8], [0.3, 0.8]];
    eng.reconfigure(&moved, 1000, 1000);
    all.clear();
    for _ in 0..5 {
        all.extend(eng.update(t, &[obj(1, "person", 600.0, 500.0)], &[]));
        t = t.plus(step);
    }
    let k = kinds_of(&all);
    assert_eq!(
        k,
        vec![("zone_enter".to_string(), "square".to_string())],
        "{k:?}"
    );
}
