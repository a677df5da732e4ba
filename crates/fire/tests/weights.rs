//! The shipped weights file: loads, round-trips, and refuses mismatches.

use kuzet_fire::{FireError, FireHead, FORMAT_VERSION};

fn shipped() -> FireHead {
    FireHead::load(&FireHead::default_path()).expect("shipped weights load")
}

#[test]
fn shipped_weights_describe_their_extractor() {
    let h = shipped();
    assert_eq!(h.version, FORMAT_VERSION);
    let m = vision::ModelManifest::embedded();
    let e = m.get("yolox_nano").unwrap();
    assert_eq!(h.extractor.model_key, "yolox_nano");
    assert!(h.extractor.model_sha256.eq_ignore_ascii_case(&e.sha256));
    assert_eq!(h.weights.len(), h.extractor.dim + h.colour_features.len());
    assert!(h.training.images > 0 && h.training.image_sha256.len() == h.training.images);
    assert!((0.2..=0.8).contains(&h.thresholds.fire));
    // Small enough to ship in the repository.
    let bytes = std::fs::metadata(FireHead::default_path()).unwrap().len();
    assert!(bytes < 1_000_000, "{bytes} bytes");
    // The compiled-in copy is the file in the tree.
    assert_eq!(FireHead::shipped().unwrap(), h);
}

#[test]
fn round_trip() {
    let h = shipped();
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("sub/head.json");
    h.save(&p).unwrap();
    let back = FireHead::load(&p).unwrap();
    assert_eq!(back, h);
    let x = vec![0.5f32; h.input_dim()];
    assert_eq!(back.prob(&x), h.prob(&x));
}

fn reason(r: Result<FireHead, FireError>) -> String {
    r.expect_err("must be refused").to_string()
}

#[test]
fn refuses_mismatches() {
    let h = shipped();
    let json = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut v = serde_json::to_value(&h).unwrap();
        f(&mut v);
        v.to_string()
    };
    let msg = reason(FireHead::from_json(
        &json(&|v| v["version"] = 99.into()),
        "x.json",
    ));
    assert!(msg.contains("version") && msg.contains("x.json"), "{msg}");
    let msg = reason(FireHead::from_json(
        &json(&|v| v["format"] = "other".into()),
        "x.json",
    ));
    assert!(msg.contains("not a fire head"), "{msg}");
    let msg = reason(FireHead::from_json(
        &json(&|v| {
            v["weights"].as_array_mut().unwrap().pop();
        }),
        "x.json",
    ));
    assert!(msg.contains("weights has"), "{msg}");
    let msg = reason(FireHead::from_json(
        &json(&|v| v["colour_features"][0] = "hue".into()),
        "x.json",
    ));
    assert!(msg.contains("colour features"), "{msg}");
    assert!(FireHead::from_json("{not json", "x.json").is_err());
    let missing = FireHead::load(std::path::Path::new("/nonexistent/head.json"));
    assert!(reason(missing).contains("/nonexistent/head.json"));

    // Features from another model file, or another input size, are refused.
    let mut other = h.extractor.clone();
    other.model_sha256 = "00".repeat(32);
    let msg = h.check_extractor(&other, "x.json").unwrap_err().to_string();
    assert!(msg.contains("sha256") && msg.contains("retrain"), "{msg}");
    let mut other = h.extractor.clone();
    other.input_size = 320;
    assert!(h.check_extractor(&other, "x.json").is_err());
    assert!(h.check_extractor(&h.extractor, "x.json").is_ok());
}
