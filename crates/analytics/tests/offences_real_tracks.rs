//! Offence rules on real tracks: the vehicle tracks of the development
//! traffic clip (`videos/traffic_road_two_lanes.mp4`, 320×240, all traffic
//! driving toward the camera, no offences), as produced by `kuzet analyze`
//! at 5 fps (YOLOX-nano + the tracker) and stored in
//! `tests/data/traffic_road_tracks.json` (bottom-centre trajectories; boxes
//! are rebuilt around them with a perspective-plausible size). Replaying
//! stored tracks keeps the test fast and free of models and decoders while
//! still exercising the rules on real detector jitter, track starts/ends and
//! uneven sampling.
//!
//! The calibration is plausible, not surveyed: two 3.5 m lanes, 36 m of road
//! between the bottom and the top of the picture.

use base::{BBox, Event, Point, Timestamp};
use config::Config;
use kuzet_analytics::offences::Homography;
use kuzet_analytics::{ObjectState, RuleEngine};
use std::collections::BTreeMap;

struct Track {
    id: u64,
    label: String,
    points: Vec<(i64, f32, f32)>,
}

fn load() -> (u32, u32, Vec<Track>) {
    let text = include_str!("data/traffic_road_tracks.json");
    let v: serde_json::Value = serde_json::from_str(text).unwrap();
    let tracks = v["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| Track {
            id: t["id"].as_u64().unwrap(),
            label: t["label"].as_str().unwrap().to_string(),
            points: t["points"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    (
                        p[0].as_i64().unwrap(),
                        p[1].as_f64().unwrap() as f32,
                        p[2].as_f64().unwrap() as f32,
                    )
                })
                .collect(),
        })
        .collect();
    (
        v["width"].as_u64().unwrap() as u32,
        v["height"].as_u64().unwrap() as u32,
        tracks,
    )
}

/// Image rows of the calibration (normalised) and the road they span.
const NEAR_Y: f32 = 0.983;
const FAR_Y: f32 = 0.083;
const CALIBRATION: &str = r#"
[camera.calibration]
homography = { image = [[0.0, 0.983], [0.75, 0.983], [0.844, 0.083], [0.628, 0.083]], ground = [[0, 0], [7, 0], [7, 36], [0, 36]] }
"#;

/// Replays all tracks through an engine built from `rules`; returns the events.
fn replay(rules: &str) -> (Vec<Event>, usize) {
    let (w, h, tracks) = load();
    let text = format!("[[camera]]\nid = \"road\"\nurl = \"x.mp4\"\n{rules}");
    let cam = Config::parse(&text, "t.toml").unwrap().cameras.remove(0);
    let mut eng = RuleEngine::new(&cam, w, h);
    // Frames: the fixture's timestamps (ms) with the tracks seen at each.
    let mut frames: BTreeMap<i64, Vec<(usize, f32, f32)>> = BTreeMap::new();
    for (k, t) in tracks.iter().enumerate() {
        for &(ts, x, y) in &t.points {
            frames.entry(ts).or_default().push((k, x, y));
        }
    }
    let last: Vec<i64> = tracks.iter().map(|t| t.points.last().unwrap().0).collect();
    let mut events = Vec::new();
    let base = 1_800_000_000_000;
    for (ts, seen) in &frames {
        let objects: Vec<ObjectState<'_>> = seen
            .iter()
            .map(|&(k, x, y)| {
                let bh = 8.0 + 0.22 * y;
                let bw = 1.4 * bh;
                ObjectState {
                    track_id: tracks[k].id,
                    label: &tracks[k].label,
                    bbox: BBox::new(x - bw / 2.0, y - bh, x + bw / 2.0, y),
                    score: 0.8,
                }
            })
            .collect();
        // A track ends one frame after its last point, as the tracker does.
        let ended: Vec<u64> = tracks
            .iter()
            .zip(&last)
            .filter(|(_, l)| **l < *ts && **l >= *ts - 250)
            .map(|(t, _)| t.id)
            .collect();
        events.extend(eng.update(Timestamp(base + ts), &objects, &ended));
    }
    (events, tracks.len())
}

fn offences(ev: &[Event]) -> Vec<&Event> {
    ev.iter()
        .filter(|e| e.kind.starts_with("offence_"))
        .collect()
}

#[test]
fn real_traffic_has_no_offences() {
    let rules = format!(
        r#"{CALIBRATION}
[[camera.offences.wrong_way]]
name = "road"
lane = [[0.0, 1.0], [0.0, 0.85], [0.6, 0.0], [0.9, 0.0], [0.8, 1.0]]
direction = [[0.75, 0.08], [0.35, 0.98]]

[[camera.offences.speed]]
name = "limit-90"
limit_kmh = 90
tolerance_kmh = 5

[[camera.offences.no_stopping]]
name = "road"
zone = [[0.0, 1.0], [0.0, 0.85], [0.6, 0.0], [0.9, 0.0], [0.8, 1.0]]
limit_seconds = 2
"#
    )
    .replace("name = \"road\"\nzone", "name = \"road-stop\"\nzone");
    let (ev, _) = replay(&rules);
    let off = offences(&ev);
    assert!(off.is_empty(), "{off:#?}");
}

#[test]
fn real_traffic_is_wrong_way_against_a_reversed_lane() {
    // The same road declared one-way *away* from the camera: every vehicle
    // that drives far enough in it is going the wrong way, each once.
    let rules = r#"
[[camera.offences.wrong_way]]
name = "road"
lane = [[0.0, 1.0], [0.0, 0.85], [0.6, 0.0], [0.9, 0.0], [0.8, 1.0]]
direction = [[0.35, 0.98], [0.75, 0.08]]
"#;
    let (ev, n) = replay(rules);
    let off = offences(&ev);
    let mut ids: Vec<u64> = off.iter().filter_map(|e| e.track_id).collect();
    ids.sort_unstable();
    let before = ids.len();
    ids.dedup();
    assert_eq!(before, ids.len(), "one offence per track: {ids:?}");
    eprintln!("wrong way: {} of {n} tracks: {ids:?}", ids.len());
    // 31 tracks, of which a few are too short (2-3 points) to judge.
    assert!(
        ids.len() >= n - 4 && ids.len() <= n,
        "{} of {n}: {ids:?}",
        ids.len()
    );
    for e in &off {
        let c = e.details["measured"]["cosine"].as_f64().unwrap();
        assert!(c < -0.5, "{c}");
    }
}

#[test]
fn real_traffic_speeds_are_plausible_and_methods_agree() {
    let (w, h, _) = load();
    // Every measurable vehicle "speeds" against a 1 km/h limit, which
    // reports each one's speed once, by each method.
    let img = [
        [0.0, NEAR_Y],
        [0.75, NEAR_Y],
        [0.844, FAR_Y],
        [0.628, FAR_Y],
    ]
    .map(|p| [(p[0] * w as f32) as f64, (p[1] * h as f32) as f64]);
    let gnd = [[0.0, 0.0], [7.0, 0.0], [7.0, 36.0], [0.0, 36.0]];
    let hm = Homography::from_points(&img, &gnd).unwrap();
    // Two speed-trap lines across the road at image rows 0.35 and 0.8; the
    // near and far calibration edges are horizontal, so these rows are lines
    // of constant ground distance and the trap length follows from the homography.
    let ground_y = |row: f32| hm.apply(Point::new(160.0, row * h as f32)).unwrap()[1];
    let trap = ground_y(0.35) - ground_y(0.8);
    assert!((5.0..30.0).contains(&trap), "{trap}");
    let rules = format!(
        r#"
[camera.calibration]
homography = {{ image = [[0.0, 0.983], [0.75, 0.983], [0.844, 0.083], [0.628, 0.083]], ground = [[0, 0], [7, 0], [7, 36], [0, 36]] }}
lines = {{ first = [[0.0, 0.35], [1.0, 0.35]], second = [[0.0, 0.8], [1.0, 0.8]], distance_m = {trap} }}

[[camera.offences.speed]]
name = "fit"
limit_kmh = 1
method = "homography"
window_seconds = 1.0

[[camera.offences.speed]]
name = "trap"
limit_kmh = 1
method = "lines"
"#
    );
    let (ev, n) = replay(&rules);
    let off = offences(&ev);
    let speeds = |rule: &str| -> BTreeMap<u64, f64> {
        off.iter()
            .filter(|e| e.rule.as_deref() == Some(rule))
            .map(|e| {
                (
                    e.track_id.unwrap(),
                    e.details["measured"]["speed_kmh"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let fit = speeds("fit");
    let trap_speeds = speeds("trap");
    eprintln!("homography km/h by track: {fit:?}\ntwo-line km/h by track: {trap_speeds:?}");
    assert!(fit.len() >= n - 4, "{fit:?}");
    assert!(trap_speeds.len() >= n / 2, "{trap_speeds:?}");
    // Urban road, vehicles at a steady pace: all between 15 and 120 km/h.
    for (id, v) in fit.iter().chain(trap_speeds.iter()) {
        assert!((15.0..120.0).contains(v), "track {id}: {v} km/h");
    }
    // The two methods measure the same vehicles alike (different stretches
    // of road and estimators, so within 25% on the median ratio).
    let mut ratios: Vec<f64> = trap_speeds
        .iter()
        .filter_map(|(id, v)| fit.get(id).map(|f| f / v))
        .collect();
    assert!(ratios.len() >= n / 2, "{ratios:?}");
    ratios.sort_by(f64::total_cmp);
    let median = ratios[ratios.len() / 2];
    eprintln!("trap length {trap:.1} m; homography/two-line median ratio {median:.2}");
    assert!((0.75..1.33).contains(&median), "{median} {ratios:?}");
}
