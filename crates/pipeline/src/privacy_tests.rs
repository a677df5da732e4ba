//! Bystander masking on real pictures: the detector's own boxes on
//! `$KUZET_DATA` photos, through the offence recorder as the post thread
//! drives it, and the stored JPEGs compared with the captured pixels.

use crate::offence_evidence::Recorder;
use crate::privacy::{Bystanders, SharedBystanders, Subject};
use analytics::offences::{EvidenceRequest, TrackPoint};
use base::{BBox, Detection, Event, Frame, Timestamp};
use std::sync::Arc;
use store::privacy::{head_region, plate_region};
use vision::{DetectRequest, Detector, Yolox, YoloxConfig};

pub(crate) fn detector() -> Yolox {
    base::env::require_models();
    Yolox::from_env(YoloxConfig {
        classes: ["person", "car", "bus", "truck", "motorcycle"]
            .map(String::from)
            .to_vec(),
        ..YoloxConfig::default()
    })
    .expect("YOLOX loads (is ORT_DYLIB_PATH set?)")
}

pub(crate) fn photo(rel: &str) -> Frame {
    let img = image::open(base::env::require_data(rel))
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
        .to_rgb8();
    let (w, h) = img.dimensions();
    Frame::new(Arc::from("road"), 0, Timestamp(0), 0, w, h, img.into_raw())
}

/// Labelled plates: (photo, plate box).
pub(crate) fn labelled_plates() -> Vec<(String, BBox)> {
    let csv = std::fs::read_to_string(base::env::require_data("plates/labels.csv")).unwrap();
    csv.lines()
        .skip(1)
        .filter_map(|l| {
            let c: Vec<&str> = l.split(',').collect();
            let n: Vec<f32> = c.get(3..7)?.iter().filter_map(|v| v.parse().ok()).collect();
            (n.len() == 4).then(|| {
                (
                    c[0].to_string(),
                    BBox::new(n[0], n[1], n[0] + n[2], n[1] + n[3]),
                )
            })
        })
        .collect()
}

pub(crate) fn is_vehicle(d: &Detection) -> bool {
    config::PLATE_VEHICLE_LABELS.contains(&&*d.label)
}

/// The smallest detected vehicle whose box holds the plate's centre: the
/// plate's own vehicle.
pub(crate) fn owner(dets: &[Detection], plate: BBox) -> Option<&Detection> {
    let c = plate.center();
    dets.iter()
        .filter(|d| is_vehicle(d))
        .filter(|d| d.bbox.x1 <= c.x && c.x <= d.bbox.x2 && d.bbox.y1 <= c.y && c.y <= d.bbox.y2)
        .min_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
}

/// Mean absolute difference of two RGB images over a region.
pub(crate) fn diff(a: &[u8], b: &[u8], w: u32, h: u32, r: BBox) -> f64 {
    diff_outside(a, b, w, h, r, &[])
}

/// As [`diff`], leaving out the pixels inside any of `skip`.
pub(crate) fn diff_outside(a: &[u8], b: &[u8], w: u32, h: u32, r: BBox, skip: &[BBox]) -> f64 {
    let r = r.clamp(w as f32, h as f32);
    let (x1, y1, x2, y2) = (r.x1 as usize, r.y1 as usize, r.x2 as usize, r.y2 as usize);
    let mut sum = 0u64;
    let mut n = 0u64;
    for y in y1..y2 {
        for x in x1..x2 {
            let (fx, fy) = (x as f32 + 0.5, y as f32 + 0.5);
            if skip.iter().any(|k| {
                k.x1 - 1.0 <= fx && fx <= k.x2 + 1.0 && k.y1 - 1.0 <= fy && fy <= k.y2 + 1.0
            }) {
                continue;
            }
            let i = (y * w as usize + x) * 3;
            for c in 0..3 {
                sum += (a[i + c] as i32 - b[i + c] as i32).unsigned_abs() as u64;
            }
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

pub(crate) fn stored(store: &store::Store, hash: &str) -> Vec<u8> {
    image::open(store.evidence_path(hash).unwrap())
        .unwrap()
        .to_rgb8()
        .into_raw()
}

/// A wrong-way offence of `subject` (track 7) on a still frame repeated at
/// 5 fps, with the frame's other detections as bystanders; returns the
/// store and the package.
fn offence_package(
    f: &Frame,
    subject: &Detection,
    others: &[Detection],
) -> (tempfile::TempDir, Arc<store::Store>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    store.set_seal_key(Arc::new(store::SealKey::generate().0));
    let sink: Arc<dyn crate::Sink> = Arc::new(crate::StoreSink(store.clone()));
    let cfg = config::OffencesConfig {
        wrong_way: vec![config::WrongWayConfig {
            name: "lane".into(),
            lane: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
            direction: [[0.0, 0.0], [0.0, 1.0]],
            max_cosine: -0.5,
            min_seconds: 1.0,
            min_distance: 0.1,
            classes: Vec::new(),
        }],
        ..config::OffencesConfig::default()
    };
    let mut rec = Recorder::new(
        &cfg,
        92,
        80.0,
        crate::offence_evidence::OffencePlates::from_env(),
        sink,
    )
    .unwrap();
    let by: SharedBystanders = Arc::new(Bystanders::new(
        [(7, &*subject.label, subject.bbox)],
        others.iter().map(|d| (&*d.label, d.bbox)),
    ));
    let at = |ts: i64| {
        let mut g = f.clone();
        g.ts = Timestamp(ts);
        g
    };
    let during = 10_000;
    for ts in (during - 1_000..=during).step_by(200) {
        rec.push_frame(&at(ts), &by).unwrap();
    }
    let req = EvidenceRequest {
        camera: "road".into(),
        offence: "offence_wrong_way".into(),
        rule: "lane".into(),
        track_id: 7,
        label: subject.label.to_string(),
        start: Timestamp(during - 1_000),
        before: Timestamp(during - 1_000),
        during: Timestamp(during),
        after: Timestamp(during + 600),
        vehicle_bbox: subject.bbox,
        read_plate: false,
        regions: Vec::new(),
        track: vec![TrackPoint {
            ts: Timestamp(during),
            bbox: subject.bbox,
        }],
    };
    rec.add(
        Event::new("road", "offence_wrong_way", Timestamp(during)),
        req,
    )
    .unwrap();
    let mut out = Vec::new();
    for ts in (during + 200..=during + 600).step_by(200) {
        out.extend(rec.push_frame(&at(ts), &by).unwrap());
    }
    assert_eq!(out.len(), 1);
    let pkg = out[0].details["evidence_package"].clone();
    store.flush().unwrap();
    (dir, store, pkg)
}

/// A parked-cars photo with a labelled plate: in every full frame of the
/// offending car's package the other cars' plate bands are masked (and
/// their originals sealed), while the offender's own plate — the record —
/// is as captured, in the frames and in the vehicle crop.
#[test]
fn offence_package_masks_other_plates_not_the_offenders() {
    let mut det = detector();
    let mut picked = None;
    for (rel, plate) in labelled_plates() {
        let f = photo(&rel);
        let dets = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
        let Some(own) = owner(&dets, plate).cloned() else {
            continue;
        };
        // Another vehicle whose plate band stays clear of the offender's
        // plate and box (so the two measurements do not mix).
        let other = dets.iter().find(|d| {
            is_vehicle(d)
                && d.bbox.iou(&own.bbox) < 0.1
                && plate_region(d.bbox).intersection(&own.bbox) == 0.0
                && plate_region(d.bbox).width() > 40.0
        });
        if let Some(o) = other.cloned() {
            picked = Some((rel, f, plate, own, o, dets));
            break;
        }
    }
    let (rel, f, plate, own, other, dets) =
        picked.expect("a labelled plate photo with a second vehicle");
    let others: Vec<Detection> = dets
        .iter()
        .filter(|d| d.bbox.iou(&own.bbox) < 0.5)
        .cloned()
        .collect();
    let (_dir, store, pkg) = offence_package(&f, &own, &others);
    // What masking one frame costs (release build): every head and plate
    // band of this frame, pixelated and blurred.
    let by = Bystanders::new(
        [(7, &*own.label, own.bbox)],
        others.iter().map(|d| (&*d.label, d.bbox)),
    );
    let mut regions = by.regions(&Subject::Vehicle {
        track: Some(7),
        bbox: None,
        plate: None,
    });
    // Plus a busy road's worth: twelve 300×200 vehicles' bands.
    for i in 0..12 {
        let (x, y) = ((i % 4) as f32 * 320.0, (i / 4) as f32 * 300.0);
        regions.push(plate_region(BBox::new(x, y, x + 300.0, y + 200.0)));
    }
    let t = std::time::Instant::now();
    let runs = 10;
    for _ in 0..runs {
        let mut px = f.rgb.to_vec();
        store::privacy::mask_regions(&mut px, f.width, f.height, &regions);
    }
    let area: f32 = regions
        .iter()
        .map(|r| r.clamp(f.width as f32, f.height as f32).area())
        .sum();
    eprintln!(
        "{rel} ({}x{}): {} regions, {:.0} % of the frame, masked in {:.2} ms",
        f.width,
        f.height,
        regions.len(),
        100.0 * area / (f.width * f.height) as f32,
        t.elapsed().as_secs_f64() * 1000.0 / runs as f64
    );
    let frames = pkg["frames"].as_array().unwrap();
    assert!(frames.len() >= 6, "{pkg}");
    let band = plate_region(other.bbox);
    let (w, h) = (f.width, f.height);
    for fr in frames {
        let hash = fr["evidence"].as_str().unwrap();
        let px = stored(&store, hash);
        let own_plate = diff(&px, &f.rgb, w, h, plate);
        let other_band = diff(&px, &f.rgb, w, h, band);
        eprintln!("{rel}: offender's plate differs by {own_plate:.2}, the other vehicle's plate band by {other_band:.2}");
        assert!(
            own_plate < 4.0,
            "the offender's plate is the record: {own_plate}"
        );
        assert!(
            other_band > 3.0 * own_plate.max(1.5),
            "another vehicle's plate band is masked: {other_band} vs {own_plate}"
        );
        assert!(
            store.evidence_original(hash).unwrap().is_some(),
            "original sealed"
        );
    }
    // The vehicle crop: the offender's plate as captured.
    let crop = pkg["vehicle_crop"].as_str().unwrap();
    let info = store.evidence_info(crop).unwrap().unwrap();
    let vb = own.bbox.expand(0.1).clamp(w as f32, h as f32);
    let (cx, cy) = (vb.x1.floor(), vb.y1.floor());
    let (orig, cw, ch) = crate::frame_crop(&f, vb).unwrap();
    assert_eq!((info.width, info.height), (cw, ch));
    let local = BBox::new(plate.x1 - cx, plate.y1 - cy, plate.x2 - cx, plate.y2 - cy);
    let d = diff(&stored(&store, crop), &orig, cw, ch, local);
    assert!(d < 4.0, "plate in the vehicle crop differs by {d}");
}

/// A street with a bus and people: the bus is the offender, every head in
/// the package's frames is masked, the bus's plate band is not.
#[test]
fn offence_package_masks_every_head() {
    let mut det = detector();
    let f = photo("scenes/bus_street.jpg");
    let dets = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
    let bus = dets
        .iter()
        .filter(|d| &*d.label == "bus")
        .max_by(|a, b| a.bbox.area().total_cmp(&b.bbox.area()))
        .cloned()
        .expect("the detector finds the bus");
    let people: Vec<Detection> = dets
        .iter()
        .filter(|d| &*d.label == "person")
        .cloned()
        .collect();
    assert!(people.len() >= 3, "{dets:?}");
    let (_dir, store, pkg) = offence_package(&f, &bus, &people);
    let annotated = pkg["annotated_frame"].as_str().unwrap();
    let during = pkg["frames"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["phase"] == "during")
        .unwrap()["evidence"]
        .as_str()
        .unwrap()
        .to_string();
    let (w, h) = (f.width, f.height);
    for hash in [during.as_str(), annotated] {
        let px = stored(&store, hash);
        let bus_band = plate_region(bus.bbox);
        let heads: Vec<BBox> = people.iter().map(|p| head_region(p.bbox)).collect();
        let mut masked = 0;
        for head in heads.iter().filter(|h| h.width() >= 8.0) {
            let d = diff(&px, &f.rgb, w, h, *head);
            eprintln!("head {head:?}: differs by {d:.2}");
            assert!(d > 4.0, "head {head:?} masked: {d}");
            masked += 1;
        }
        assert!(masked >= 3, "{masked} heads compared");
        // The offender's plate band is the record: as captured wherever no
        // head is in front of it (JPEG noise only). The annotated frame has
        // the box drawn over it.
        if hash == during {
            let d = diff_outside(&px, &f.rgb, w, h, bus_band, &heads);
            eprintln!("bus plate band outside heads: differs by {d:.2}");
            assert!(d < 4.0, "{d}");
        }
    }
    // Nothing to mask and nothing stored extra where masking is off.
    assert!(Bystanders::default().regions(&Subject::Nobody).is_empty());
}

/// How well the plate band estimate ([`plate_region`]) covers real plates:
/// every labelled plate whose vehicle the detector finds, the share of the
/// plate's area inside the band of its vehicle's box.
#[test]
fn plate_band_covers_labelled_plates() {
    let mut det = detector();
    let (mut with_vehicle, mut covered, mut total) = (0usize, 0usize, 0usize);
    let mut sum = 0.0f64;
    let mut misses = Vec::new();
    for (rel, plate) in labelled_plates() {
        total += 1;
        let f = photo(&rel);
        let dets = det.detect(&[DetectRequest::whole(&f)]).unwrap().remove(0);
        let Some(own) = owner(&dets, plate) else {
            continue;
        };
        with_vehicle += 1;
        let share = (plate_region(own.bbox).intersection(&plate) / plate.area()) as f64;
        sum += share;
        if share >= 0.95 {
            covered += 1;
        } else {
            misses.push(format!("{rel} ({share:.2})"));
        }
    }
    eprintln!(
        "plate band: {covered}/{with_vehicle} plates with a detected vehicle covered ≥ 95 % \
         (mean share {:.3}); {} of {total} plates had no detected vehicle; misses: {misses:?}",
        sum / with_vehicle.max(1) as f64,
        total - with_vehicle
    );
    assert!(with_vehicle >= 50, "{with_vehicle} of {total}");
    assert!(
        covered as f64 >= 0.9 * with_vehicle as f64,
        "{covered}/{with_vehicle}"
    );
}
