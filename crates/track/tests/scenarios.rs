//! Scripted detection sequences with known ground truth.

use base::{BBox, Detection, Point, Timestamp};
use kuzet_track::{Coverage, TrackState, TrackUpdate, Tracker, TrackerConfig};
use std::collections::BTreeSet;
use std::time::Duration;

/// Tiny deterministic LCG: reproducible noise without a `rand` dependency.
struct Lcg(u64);
impl Lcg {
    fn f(&mut self) -> f32 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

fn det(cx: f32, cy: f32, w: f32, h: f32, score: f32, label: &str) -> Detection {
    let class_id = match label {
        "person" => 0,
        "car" => 2,
        "bus" => 5,
        "truck" => 7,
        _ => 99,
    };
    Detection {
        bbox: BBox::from_cxcywh(cx, cy, w, h),
        score,
        class_id,
        label: label.into(),
    }
}

fn person(cx: f32, cy: f32) -> Detection {
    det(cx, cy, 40.0, 100.0, 0.9, "person")
}

/// 10 fps frame times.
fn at(frame: i64) -> Timestamp {
    Timestamp(1_000_000 + frame * 100)
}

fn all_started(updates: &[TrackUpdate]) -> Vec<u64> {
    updates.iter().flat_map(|u| u.started.clone()).collect()
}

fn near(p: Point, x: f32, y: f32, tol: f32) -> bool {
    (p.x - x).abs() <= tol && (p.y - y).abs() <= tol
}

#[test]
fn constant_velocity_object_keeps_one_id() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut ups = Vec::new();
    for i in 0..50 {
        ups.push(tr.update(
            at(i),
            &[person(100.0 + 8.0 * i as f32, 300.0)],
            &Coverage::Full,
        ));
    }
    assert_eq!(all_started(&ups), vec![1]);
    assert!(ups[0].active.is_empty(), "tentative tracks are not public");
    for (i, u) in ups.iter().enumerate().skip(1) {
        assert_eq!(u.active.len(), 1);
        let s = &u.active[0];
        assert_eq!((s.id, s.state), (1, TrackState::Confirmed));
        let c = s.bbox.center();
        assert!(
            near(c, 100.0 + 8.0 * i as f32, 300.0, 3.0),
            "frame {i}: {c:?}"
        );
    }
    let last = &ups[49].active[0];
    assert!((last.velocity.x - 80.0).abs() < 4.0, "{:?}", last.velocity);
    assert!(last.velocity.y.abs() < 4.0);
    let prev = last.prev_point.unwrap();
    assert!((last.point.x - prev.x - 8.0).abs() < 1.0);
    let done = tr.finish(at(50));
    assert_eq!(done.len(), 1);
    assert_eq!(done[0].hits, 50);
    assert_eq!(done[0].first_seen, at(0));
    assert_eq!(done[0].last_seen, at(49));
    assert_eq!(done[0].ended, Some(at(50)));
    assert_eq!(&*done[0].label, "person");
    assert_eq!(tr.tracks().count(), 0);
}

#[test]
fn crossing_objects_keep_their_ids() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let truth = |i: i64| {
        let i = i as f32;
        [(100.0 + 15.0 * i, 300.0), (700.0 - 15.0 * i, 315.0)]
    };
    let mut ids = [0u64; 2];
    let mut starts = Vec::new();
    for i in 0..40 {
        let [a, b] = truth(i);
        // Alternate the detection order so list position cannot carry identity.
        let mut dets = vec![person(a.0, a.1), person(b.0, b.1)];
        if i % 2 == 1 {
            dets.reverse();
        }
        let u = tr.update(at(i), &dets, &Coverage::Full);
        starts.extend(u.started.clone());
        if i == 1 {
            for (k, (x, y)) in [a, b].into_iter().enumerate() {
                ids[k] = u
                    .active
                    .iter()
                    .find(|s| near(s.bbox.center(), x, y, 5.0))
                    .unwrap()
                    .id;
            }
        }
        if i >= 1 {
            for (k, (x, y)) in [a, b].into_iter().enumerate() {
                let s = u.active.iter().find(|s| s.id == ids[k]).unwrap();
                assert!(
                    near(s.bbox.center(), x, y, 6.0),
                    "frame {i}: track {} at {:?}, object {k} at ({x},{y})",
                    s.id,
                    s.bbox.center()
                );
            }
        }
    }
    assert_eq!(starts.len(), 2);
    assert_ne!(ids[0], ids[1]);
}

/// Object at 50 px/s, detected, hidden for `gap` frames, detected again.
fn occlusion(gap: i64) -> Vec<TrackUpdate> {
    let mut tr = Tracker::new(TrackerConfig {
        max_lost: Duration::from_secs(3),
        ..Default::default()
    });
    let mut ups = Vec::new();
    for i in 0..(40 + gap) {
        let visible = !(20..20 + gap).contains(&i);
        let d = person(200.0 + 5.0 * i as f32, 400.0);
        let dets = if visible { vec![d] } else { vec![] };
        ups.push(tr.update(at(i), &dets, &Coverage::Full));
    }
    ups
}

#[test]
fn one_second_occlusion_keeps_the_id() {
    let ups = occlusion(10);
    assert_eq!(all_started(&ups), vec![1]);
    assert!(ups.iter().all(|u| u.ended.is_empty()));
    assert_eq!(ups[25].active[0].state, TrackState::Lost);
    assert_eq!(ups[35].active[0].state, TrackState::Confirmed);
    assert_eq!(ups[35].active[0].id, 1);
}

#[test]
fn occlusion_longer_than_max_lost_gives_a_new_id() {
    let ups = occlusion(40);
    assert_eq!(all_started(&ups), vec![1, 2]);
    let (frame, u) = ups
        .iter()
        .enumerate()
        .find(|(_, u)| !u.ended.is_empty())
        .unwrap();
    assert_eq!(u.ended[0].id, 1);
    assert_eq!(u.ended[0].last_seen, at(19));
    // Ended once more than 3 s after the last detection, not earlier.
    assert!(at(frame as i64).since(at(19)) > Duration::from_secs(3));
    assert!(at(frame as i64).since(at(19)) <= Duration::from_millis(3100));
    assert_eq!(ups.last().unwrap().active[0].id, 2);
}

#[test]
fn low_score_detections_sustain_but_never_create() {
    let mut tr = Tracker::new(TrackerConfig::default());
    for i in 0..10 {
        tr.update(
            at(i),
            &[person(300.0 + 4.0 * i as f32, 300.0)],
            &Coverage::Full,
        );
    }
    // 5 s of weak detections: longer than max_lost, so only stage 2 keeps it.
    for i in 10..60 {
        let mut d = person(300.0 + 4.0 * i as f32, 300.0);
        d.score = 0.2;
        let u = tr.update(at(i), &[d], &Coverage::Full);
        assert!(u.ended.is_empty() && u.started.is_empty());
        assert_eq!(u.active.len(), 1);
        assert_eq!(
            (u.active[0].id, u.active[0].state),
            (1, TrackState::Confirmed)
        );
    }
    assert_eq!(tr.tracks().next().unwrap().hits, 60);

    // A fresh tracker never starts a track from weak (0.2) or merely "high"
    // but below new_track_thresh (0.55) detections.
    for score in [0.2, 0.55] {
        let mut tr = Tracker::new(TrackerConfig::default());
        for i in 0..30 {
            let mut d = person(300.0, 300.0);
            d.score = score;
            let u = tr.update(at(i), &[d], &Coverage::Full);
            assert!(u.started.is_empty() && u.active.is_empty(), "score {score}");
        }
        assert_eq!(tr.tracks().count(), 0);
    }
}

#[test]
fn single_frame_false_positives_never_confirm() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut rng = Lcg(2024);
    for i in 0..300 {
        let n = 1 + (rng.f() * 3.0) as usize;
        let dets: Vec<Detection> = (0..n)
            .map(|_| {
                det(
                    40.0 + rng.f() * 1840.0,
                    40.0 + rng.f() * 1000.0,
                    30.0 + rng.f() * 40.0,
                    30.0 + rng.f() * 80.0,
                    0.6 + rng.f() * 0.39,
                    "person",
                )
            })
            .collect();
        let u = tr.update(at(i), &dets, &Coverage::Full);
        assert!(u.started.is_empty() && u.active.is_empty(), "frame {i}");
    }
    // Noise consumed no IDs: the first real object is track 1.
    let mut started = Vec::new();
    for i in 300..305 {
        started.extend(
            tr.update(at(i), &[person(500.0, 500.0)], &Coverage::Full)
                .started,
        );
    }
    assert_eq!(started, vec![1]);
}

#[test]
fn irregular_timestamps_track_in_real_time() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut rng = Lcg(99);
    let (vx, vy) = (120.0f32, -40.0f32);
    let mut t_ms = 0i64;
    let mut starts = Vec::new();
    let mut last = None;
    for _ in 0..80 {
        // 30 ms to 500 ms between analysed frames.
        t_ms += 30 + (rng.f() * 470.0) as i64;
        let s = t_ms as f32 / 1000.0;
        let d = det(100.0 + vx * s, 800.0 + vy * s, 60.0, 120.0, 0.8, "person");
        let u = tr.update(Timestamp(t_ms), &[d], &Coverage::Full);
        starts.extend(u.started.clone());
        assert!(u.ended.is_empty());
        last = u.active.first().cloned();
    }
    assert_eq!(starts, vec![1]);
    let v = last.unwrap().velocity;
    assert!((v.x - vx).abs() < 0.1 * vx.abs(), "{v:?}");
    assert!((v.y - vy).abs() < 0.1 * vx.abs(), "{v:?}");
}

#[test]
fn regions_keep_static_tracks_outside_and_age_tracks_inside() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let parked = det(300.0, 500.0, 160.0, 90.0, 0.9, "car");
    let standing = person(1200.0, 500.0);
    let mut ids = BTreeSet::new();
    for i in 0..10 {
        let u = tr.update(at(i), &[parked.clone(), standing.clone()], &Coverage::Full);
        ids.extend(u.started);
    }
    assert_eq!(ids.len(), 2);
    let car_id = tr.tracks().find(|t| &*t.label == "car").unwrap().id;
    let person_id = tr.tracks().find(|t| &*t.label == "person").unwrap().id;
    let car_box = tr.tracks().find(|t| t.id == car_id).unwrap().bbox;

    // Motion only around the person, who has left: 60 s at 5 fps.
    let region = Coverage::Regions(vec![BBox::new(1100.0, 400.0, 1300.0, 600.0)]);
    let mut ended_at = None;
    for k in 1..=300 {
        let ts = at(9).plus(Duration::from_millis(200 * k));
        let u = tr.update(ts, &[], &region);
        for e in &u.ended {
            assert_eq!(e.id, person_id);
            assert!(ended_at.is_none());
            ended_at = Some(ts);
        }
        let car = u.active.iter().find(|s| s.id == car_id).unwrap();
        assert_eq!(car.state, TrackState::Confirmed);
        assert!(!car.observed);
        assert_eq!(car.bbox, car_box);
        assert_eq!(car.velocity, Point::new(0.0, 0.0));
    }
    let ended_at = ended_at.expect("the observed, undetected person expires");
    assert!(ended_at.since(at(9)) > Duration::from_secs(3));
    assert!(ended_at.since(at(9)) <= Duration::from_millis(3200));
    let car = tr.tracks().find(|t| t.id == car_id).unwrap();
    assert_eq!(car.last_seen, at(9));

    // The car is seen again a minute later: same track.
    let ts = at(9).plus(Duration::from_secs(61));
    let u = tr.update(ts, &[parked], &Coverage::Full);
    assert!(u.started.is_empty() && u.ended.is_empty());
    assert_eq!(u.active.len(), 1);
    assert_eq!(u.active[0].id, car_id);
    assert_eq!(u.active[0].state, TrackState::Confirmed);
}

#[test]
fn coverage_none_for_a_minute_keeps_every_track() {
    let mut tr = Tracker::new(TrackerConfig::default());
    for i in 0..10 {
        let moving = person(200.0 + 10.0 * i as f32, 300.0);
        tr.update(at(i), &[person(800.0, 300.0), moving], &Coverage::Full);
    }
    let before: Vec<_> = tr.tracks().cloned().collect();
    assert_eq!(before.len(), 2);
    for i in 10..610 {
        let u = tr.update(at(i), &[], &Coverage::None);
        assert!(u.ended.is_empty() && u.started.is_empty());
        assert_eq!(u.active.len(), 2);
        assert!(u.active.iter().all(|s| !s.observed));
    }
    let after: Vec<_> = tr.tracks().cloned().collect();
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((a.id, a.last_seen, a.hits), (b.id, b.last_seen, b.hits));
        // Frozen where last seen, even the one that was moving.
        assert_eq!(a.bbox, b.bbox);
    }
    // The walker stopped where it was last seen; both are found again.
    let walker_box = before[1].bbox;
    let c = walker_box.center();
    let u = tr.update(
        at(610),
        &[person(800.0, 300.0), person(c.x, c.y)],
        &Coverage::Full,
    );
    assert!(u.started.is_empty() && u.ended.is_empty());
    let ids: Vec<u64> = u.active.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![before[0].id, before[1].id]);
    assert!(u.active.iter().all(|s| s.state == TrackState::Confirmed));
}

#[test]
fn vehicle_class_flips_keep_id_and_majority_label() {
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut starts = Vec::new();
    for i in 0..30 {
        let label = if i % 3 == 2 { "truck" } else { "car" };
        let d = det(400.0 + 6.0 * i as f32, 500.0, 200.0, 110.0, 0.8, label);
        let u = tr.update(at(i), &[d], &Coverage::Full);
        starts.extend(u.started.clone());
        if i > 0 {
            assert_eq!(u.active.len(), 1);
            assert_eq!(&*u.active[0].label, "car", "frame {i}");
            assert_eq!(u.active[0].class_id, 2);
        }
    }
    assert_eq!(starts, vec![1]);

    // A person is never merged into the car track, overlap or not.
    let mut tr = Tracker::new(TrackerConfig::default());
    let mut starts = BTreeSet::new();
    for i in 0..10 {
        let car = det(400.0, 500.0, 200.0, 110.0, 0.8, "car");
        let p = det(420.0, 500.0, 180.0, 110.0, 0.8, "person");
        let dets = if i % 2 == 0 { vec![car] } else { vec![car, p] };
        starts.extend(tr.update(at(i), &dets, &Coverage::Full).started);
    }
    let labels: Vec<String> = tr.tracks().map(|t| t.label.to_string()).collect();
    assert_eq!(
        labels,
        vec!["car"],
        "the intermittent person never confirms"
    );
    assert_eq!(starts.len(), 1);
}

#[test]
fn trajectory_stays_bounded() {
    let mut tr = Tracker::new(TrackerConfig {
        trajectory_max_points: 64,
        ..Default::default()
    });
    for i in 0..1000 {
        // Back and forth across 600 px at 60 px/s.
        let x = 100.0 + (100 - (i % 200 - 100i64).abs()) as f32 * 6.0;
        let u = tr.update(at(i), &[person(x, 300.0)], &Coverage::Full);
        assert!(u.started.is_empty() || u.started == vec![1]);
        if let Some(t) = tr.tracks().next() {
            assert!(t.trajectory.len() <= 64);
        }
    }
    let t = tr.tracks().next().unwrap();
    assert!(t.trajectory.len() > 16);
    assert_eq!(t.trajectory[0].0, at(0));
    assert_eq!(t.trajectory.last().unwrap().0, at(999));
    assert!(t.trajectory.windows(2).all(|w| w[0].0 < w[1].0));
}

#[test]
fn best_crop_prefers_large_unoccluded_views() {
    let mut tr = Tracker::new(TrackerConfig {
        frame_size: Some((1920, 1080)),
        ..Default::default()
    });
    let mut new_best_frames = Vec::new();
    // Walks towards the camera (grows), then a second person covers it.
    for i in 0..30 {
        let h = 60.0 + 8.0 * i.min(20) as f32;
        let me = det(900.0, 300.0 + h / 2.0, h * 0.4, h, 0.85, "person");
        let mut dets = vec![me];
        if i >= 20 {
            dets.push(det(
                900.0 + h * 0.1,
                300.0 + h / 2.0,
                h * 0.4,
                h,
                0.9,
                "person",
            ));
        }
        let u = tr.update(at(i), &dets, &Coverage::Full);
        if let Some(s) = u.active.iter().find(|s| s.id == 1) {
            if s.is_new_best {
                new_best_frames.push(i);
            }
        }
    }
    assert_eq!(
        new_best_frames[0], 1,
        "the confirmation frame is always a candidate"
    );
    assert!(new_best_frames.len() > 3);
    assert!(
        new_best_frames.iter().all(|&f| f < 20),
        "{new_best_frames:?}"
    );
    let t = tr.tracks().find(|t| t.id == 1).unwrap();
    let best = t.best.unwrap();
    assert!(best.ts >= at(15) && best.ts < at(20), "{:?}", best.ts);
    assert!(best.quality > 0.0 && best.quality <= best.score);
}

/// Mean/median/p99/max update time with 50 objects on a 10×5 grid of the given
/// spacing, each oscillating with up to `amp` px amplitude.
fn time_updates(dx: f32, dy: f32, amp: f32) -> String {
    let mut tr = Tracker::new(TrackerConfig {
        frame_size: Some((1920, 1080)),
        ..Default::default()
    });
    let mut rng = Lcg(5);
    let objects: Vec<(f32, f32, f32, f32)> = (0..50)
        .map(|k| {
            let (gx, gy) = ((k % 10) as f32, (k / 10) as f32);
            let (ax, ay) = (rng.f() * 2.0 - 1.0, rng.f() * 2.0 - 1.0);
            (80.0 + gx * dx, 100.0 + gy * dy, ax * amp, ay * amp / 2.0)
        })
        .collect();
    let frames = 2000;
    let mut times = Vec::new();
    for i in 0..frames {
        let phase = (i as f32 * 0.02).sin();
        let dets: Vec<Detection> = objects
            .iter()
            .map(|&(x, y, ax, ay)| {
                let jitter = rng.f() * 2.0 - 1.0;
                let score = 0.6 + rng.f() * 0.3;
                det(
                    x + ax * phase + jitter,
                    y + ay * phase,
                    50.0,
                    120.0,
                    score,
                    "person",
                )
            })
            .collect();
        let start = std::time::Instant::now();
        let u = tr.update(at(i), &dets, &Coverage::Full);
        let el = start.elapsed();
        std::hint::black_box(&u);
        if i >= 10 {
            times.push(el);
        }
    }
    let mean = times.iter().sum::<Duration>() / times.len() as u32;
    times.sort();
    let pct = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    format!(
        "mean {mean:?}, median {:?}, p99 {:?}, max {:?} per update; {} IDs",
        pct(0.5),
        pct(0.99),
        pct(1.0),
        tr.tracks().map(|t| t.id).max().unwrap_or(0)
    )
}

/// Not a pass/fail test: prints the cost of one update with 50 tracks and 50
/// detections, spread out (typical) and packed into one overlapping crowd
/// (one large assignment component, the solver's worst case). Run with
/// `cargo test --release -p kuzet-track --test scenarios -- --ignored --nocapture`.
#[test]
#[ignore]
fn perf_50_tracks_50_detections() {
    println!("50x50 spread: {}", time_updates(180.0, 200.0, 200.0));
    println!("50x50 crowd:  {}", time_updates(30.0, 60.0, 10.0));
}
