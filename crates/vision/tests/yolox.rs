//! YOLOX-nano on real images: detections, batching, ROIs, timings.

mod common;

use base::BBox;
use common::*;
use kuzet_vision::{DetectRequest, Detector, ModelManifest, SessionConfig, Yolox, YoloxConfig};
use std::time::Duration;

fn yolox(cfg: YoloxConfig) -> Yolox {
    let models = base::env::require_models();
    let manifest = ModelManifest::load(ModelManifest::default_path()).expect("models.toml");
    Yolox::new(&manifest, &models, cfg).expect("YOLOX loads (is ORT_DYLIB_PATH set?)")
}

fn two_threads() -> YoloxConfig {
    YoloxConfig {
        session: SessionConfig {
            intra_threads: 2,
            ..Default::default()
        },
        ..Default::default()
    }
}

#[test]
fn traffic_cam_finds_vehicles() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let f = model_testdata("scenes/traffic_cam_street.jpg");
    let out = det.detect(&[DetectRequest::whole(&f)]).unwrap();
    let dets = &out[0];
    eprintln!("traffic_cam: {}", describe(dets));
    // Class-aware NMS may label one vehicle twice (car + truck, as the
    // manifest notes): count distinct vehicles by grouping overlapping boxes.
    let mut vehicles: Vec<BBox> = Vec::new();
    for d in dets
        .iter()
        .filter(|d| ["car", "bus", "truck"].contains(&&*d.label))
    {
        if !vehicles.iter().any(|v| v.iou(&d.bbox) > 0.5) {
            vehicles.push(d.bbox);
        }
    }
    assert!(
        vehicles.len() >= 3,
        "expected >= 3 distinct vehicles: {}",
        describe(dets)
    );
    for d in dets {
        assert!(d.bbox.x1 >= 0.0 && d.bbox.y1 >= 0.0);
        assert!(d.bbox.x2 <= f.width as f32 && d.bbox.y2 <= f.height as f32);
        assert!(d.score > 0.3);
    }
}

#[test]
fn bus_street_finds_bus_and_people() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let f = data_image("scenes/bus_street.jpg");
    let dets = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
    eprintln!("bus_street: {}", describe(&dets));
    assert!(count(&dets, &["bus"]) >= 1, "no bus: {}", describe(&dets));
    assert!(
        count(&dets, &["person"]) >= 3,
        "< 3 persons: {}",
        describe(&dets)
    );
    assert!(
        count(&dets, &["person"]) <= 6,
        "too many persons: {}",
        describe(&dets)
    );
}

#[test]
fn football_player_finds_person() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let f = data_image("scenes/football_player.jpg");
    let dets = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
    eprintln!("football: {}", describe(&dets));
    assert!(count(&dets, &["person"]) >= 1, "{}", describe(&dets));
}

#[test]
fn class_filter_and_threshold_apply() {
    let _g = serial();
    let f = data_image("scenes/bus_street.jpg");
    let mut only_bus = yolox(YoloxConfig {
        classes: vec!["bus".into()],
        ..two_threads()
    });
    let dets = only_bus
        .detect(&[DetectRequest::whole(&f)])
        .unwrap()
        .remove(0);
    assert!(
        !dets.is_empty() && dets.iter().all(|d| &*d.label == "bus"),
        "{}",
        describe(&dets)
    );
    let mut strict = yolox(YoloxConfig {
        score_threshold: 0.99,
        ..two_threads()
    });
    assert!(strict.detect(&[DetectRequest::whole(&f)]).unwrap()[0].is_empty());
    let bad = Yolox::new(
        &ModelManifest::embedded(),
        &base::env::require_models(),
        YoloxConfig {
            classes: vec!["unicorn".into()],
            ..Default::default()
        },
    );
    assert!(bad.unwrap_err().to_string().contains("unicorn"));
}

/// The in-memory batch patch must not mix images: a batch of 4 different
/// frames gives the same boxes as 4 single calls.
#[test]
fn batch_of_four_equals_four_singles() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let frames = [
        data_image("scenes/bus_street.jpg"),
        data_image("scenes/football_player.jpg"),
        model_testdata("scenes/traffic_cam_street.jpg"),
        resize_nearest(&data_image("scenes/bus_street.jpg"), 768, 576),
    ];
    let reqs: Vec<DetectRequest> = frames.iter().map(DetectRequest::whole).collect();
    let batched = det.detect(&reqs).unwrap();
    let t = det.last_timings();
    assert_eq!((t.batch, t.runs), (4, 1), "one inference call for 4 frames");
    assert_eq!(batched.len(), 4);
    for (i, r) in reqs.iter().enumerate() {
        let single = det.detect(std::slice::from_ref(r)).unwrap().remove(0);
        assert_eq!(
            single.len(),
            batched[i].len(),
            "image {i}: {} vs {}",
            describe(&single),
            describe(&batched[i])
        );
        assert!(!single.is_empty(), "image {i} found nothing");
        for (a, b) in single.iter().zip(&batched[i]) {
            assert_eq!(a.class_id, b.class_id);
            assert!(
                (a.score - b.score).abs() < 1e-3,
                "{} vs {}",
                a.score,
                b.score
            );
            for (p, q) in [
                (a.bbox.x1, b.bbox.x1),
                (a.bbox.y1, b.bbox.y1),
                (a.bbox.x2, b.bbox.x2),
                (a.bbox.y2, b.bbox.y2),
            ] {
                assert!(
                    (p - q).abs() < 1e-3 * p.abs().max(1.0),
                    "image {i}: {a:?} vs {b:?}"
                );
            }
        }
    }
    // More requests than max_batch are split, results still in order.
    let six: Vec<DetectRequest> = reqs.iter().chain(&reqs[..2]).copied().collect();
    let out = det.detect(&six).unwrap();
    assert_eq!(det.last_timings().runs, 2);
    assert_eq!(out[4].len(), batched[0].len());
    assert_eq!(out[5].len(), batched[1].len());
}

/// Detection on a crop around a known object maps back to full-frame
/// coordinates.
#[test]
fn roi_maps_back_to_frame_coordinates() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let f = data_image("scenes/bus_street.jpg");
    let full = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
    let bus = full
        .iter()
        .find(|d| &*d.label == "bus")
        .expect("bus in full frame")
        .clone();
    // ROI: the bus box grown by 20% on each side, clamped to the frame.
    let roi = bus.bbox.expand(0.2).clamp(f.width as f32, f.height as f32);
    let crop = det
        .detect(&[DetectRequest::region(&f, roi)])
        .unwrap()
        .remove(0);
    eprintln!("full bus {:?}; roi {roi:?}: {}", bus.bbox, describe(&crop));
    let best = crop
        .iter()
        .filter(|d| &*d.label == "bus")
        .map(|d| d.bbox.iou(&bus.bbox))
        .fold(0.0f32, f32::max);
    assert!(best > 0.8, "best IoU {best}");
    for d in &crop {
        assert!(
            d.bbox.x1 >= roi.x1.floor() && d.bbox.x2 <= roi.x2.ceil(),
            "{d:?} outside roi"
        );
    }
    // A small person ROI offset into the frame.
    let person = full.iter().find(|d| &*d.label == "person").unwrap().clone();
    let roi = person
        .bbox
        .expand(0.3)
        .clamp(f.width as f32, f.height as f32);
    let crop = det
        .detect(&[DetectRequest::region(&f, roi)])
        .unwrap()
        .remove(0);
    let best = crop
        .iter()
        .filter(|d| &*d.label == "person")
        .map(|d| d.bbox.iou(&person.bbox))
        .fold(0.0f32, f32::max);
    assert!(best > 0.8, "person IoU {best}: {}", describe(&crop));
    // An ROI fully outside the frame gives an empty list, not an error.
    let out = det
        .detect(&[DetectRequest::region(
            &f,
            BBox::new(5000.0, 5000.0, 5100.0, 5100.0),
        )])
        .unwrap();
    assert_eq!(out, vec![vec![]]);
}

/// Looping batch-1 (no patch) gives the same result as the patched model.
#[test]
fn unpatched_model_matches_patched() {
    let _g = serial();
    let f = data_image("scenes/bus_street.jpg");
    let mut patched = yolox(two_threads());
    let mut plain = yolox(YoloxConfig {
        dynamic_batch: false,
        ..two_threads()
    });
    let reqs = [DetectRequest::whole(&f), DetectRequest::whole(&f)];
    let a = patched.detect(&reqs).unwrap();
    let b = plain.detect(&reqs).unwrap();
    assert_eq!(plain.last_timings().runs, 2);
    assert_eq!(a.len(), b.len());
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x.len(), y.len());
        for (p, q) in x.iter().zip(y) {
            assert!(p.bbox.iou(&q.bbox) > 0.999 && (p.score - q.score).abs() < 1e-3);
        }
    }
}

/// A 320 input (spatial dims made symbolic in memory) still finds the bus
/// and people, in less time.
#[test]
fn input_size_320_works() {
    let _g = serial();
    let mut det = yolox(YoloxConfig {
        input_size: Some(320),
        ..two_threads()
    });
    assert_eq!(det.input_size(), 320);
    let f = data_image("scenes/bus_street.jpg");
    let four = [DetectRequest::whole(&f); 4];
    let out = det.detect(&four).unwrap();
    eprintln!("320: {}", describe(&out[0]));
    assert!(
        count(&out[0], &["bus"]) >= 1 && count(&out[0], &["person"]) >= 2,
        "{}",
        describe(&out[0])
    );
    assert!(out.iter().all(|o| o.len() == out[0].len()));
    assert!(Yolox::new(
        &ModelManifest::embedded(),
        &base::env::require_models(),
        YoloxConfig {
            input_size: Some(300),
            ..Default::default()
        }
    )
    .is_err());
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Micro-benchmark (printed; run with `--nocapture`): per-stage time for a
/// 768x576 frame and per-frame inference at batch 1 vs 4. Asserts only
/// generous bounds so it cannot flake on a loaded machine.
#[test]
fn stage_timings_768x576() {
    let _g = serial();
    let mut det = yolox(two_threads());
    let f = resize_nearest(&data_image("scenes/bus_street.jpg"), 768, 576);
    let one = [DetectRequest::whole(&f)];
    let four = [one[0]; 4];
    for _ in 0..3 {
        det.detect(&one).unwrap();
        det.detect(&four).unwrap();
    }
    let iters = 15;
    let (mut pre, mut inf, mut post) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..iters {
        det.detect(&one).unwrap();
        let t = det.last_timings();
        pre.push(ms(t.preprocess));
        inf.push(ms(t.inference));
        post.push(ms(t.postprocess));
    }
    let mut inf4 = Vec::new();
    let mut pre4 = Vec::new();
    for _ in 0..iters {
        det.detect(&four).unwrap();
        let t = det.last_timings();
        inf4.push(ms(t.inference) / 4.0);
        pre4.push(ms(t.preprocess) / 4.0);
    }
    let med = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let min = |v: &Vec<f64>| v.iter().copied().fold(f64::MAX, f64::min);
    let (p, i, q) = (med(&mut pre), med(&mut inf), med(&mut post));
    let (i4, p4) = (med(&mut inf4), med(&mut pre4));
    eprintln!(
        "YOLOX-nano 768x576, 2 intra threads, median of {iters}: preprocess {p:.2} ms, inference {i:.2} ms (min {:.2}), postprocess {q:.3} ms",
        min(&inf)
    );
    eprintln!(
        "per-frame inference: batch 1 {i:.2} ms, batch 4 {i4:.2} ms (min {:.2}); per-frame preprocess in batch 4 {p4:.2} ms",
        min(&inf4)
    );
    assert!(p < 50.0 && q < 20.0 && i < 2000.0);
}
