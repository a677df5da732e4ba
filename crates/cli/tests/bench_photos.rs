//! The photo benchmarks in their CI size, Rust only: `kuzet bench faces`
//! (three real photos through the face pipeline) and `kuzet bench plates`
//! (every 40th labelled plate photo, 6 across the regions, through both
//! timed Anpr configurations), checking each JSON report's shape and that
//! work was done. No timing assertions (shared, noisy machines).

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");

/// Runs `kuzet bench <args> --data-root <root>` to completion within
/// `limit` and returns its one JSON object; fails the test with both
/// outputs otherwise.
fn bench_json(args: &[&str], root: &Path, limit: Duration) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(KUZET)
        .arg("bench")
        .args(args)
        .arg("--data-root")
        .arg(root)
        .env("KUZET_MODELS", base::env::require_models())
        .env("KUZET_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&err).unwrap())
        .spawn()
        .expect("start kuzet");
    let t = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kuzet bench {args:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        status.success(),
        "{status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("not one JSON object ({e}):\n{stdout}\nstderr: {stderr}");
    })
}

/// Model load plus three photos takes a few seconds; the limit is generous
/// for a loaded 2-core machine, still a bound.
#[test]
fn bench_faces_tiny_json() {
    let faces = base::env::require_data("faces/labels.csv");
    let r = bench_json(
        &["faces", "--limit", "3", "--json", "--no-python"],
        faces.parent().unwrap(),
        Duration::from_secs(180),
    );
    assert!(
        r.get("python").is_none() && r.get("vs_python").is_none(),
        "{r}"
    );
    assert!(r["threads"].as_u64().unwrap() >= 1, "{r}");
    let rust = &r["rust"];
    assert_eq!(rust["images"], 3, "{r}");
    assert_eq!(rust["repeat"], 1, "{r}");
    let embedded = rust["faces_embedded"].as_u64().unwrap();
    assert!(embedded >= 1, "no face embedded: {r}");
    assert!(rust["faces_detected"].as_u64().unwrap() >= embedded, "{r}");
    let per = rust["per_image_faces_embedded"].as_array().unwrap();
    assert_eq!(per.len(), 3, "{r}");
    assert_eq!(
        per.iter().map(|p| p[1].as_u64().unwrap()).sum::<u64>(),
        embedded,
        "{r}"
    );
    for k in ["faces_per_s", "images_per_s", "wall_s", "cpu_s"] {
        assert!(rust[k].as_f64().unwrap() >= 0.0, "{k}: {r}");
    }
    assert!(rust["faces_per_s"].as_f64().unwrap() > 0.0, "{r}");
    for s in ["detect", "quality", "align", "embed"] {
        assert!(
            rust["stage_ms_per_image"][s].as_f64().unwrap() >= 0.0,
            "{s}: {r}"
        );
    }
}

/// Model load plus six photos twice takes about ten seconds; the limit is
/// generous for a loaded 2-core machine, still a bound.
#[test]
fn bench_plates_tiny_json() {
    let labels = base::env::require_data("plates/labels.csv");
    let r = bench_json(
        &["plates", "--every", "40", "--json", "--no-python"],
        labels.parent().unwrap().parent().unwrap(),
        Duration::from_secs(240),
    );
    assert!(
        r.get("python").is_none() && r.get("vs_python").is_none(),
        "{r}"
    );
    assert_eq!(r["rust_one_reader"]["workers"], 1, "{r}");
    assert_eq!(r["rust"]["workers"], r["workers"], "{r}");
    // The fitted canvas changes the plate model's input, not how often it runs.
    assert_eq!(
        r["rust"]["plate_model_runs"], r["rust_fit_canvas"]["plate_model_runs"],
        "{r}"
    );
    for side in [
        "rust",
        "rust_one_reader",
        "rust_fit_canvas",
        "rust_image_pass_fallback",
        "rust_default_config",
    ] {
        let v = &r[side];
        assert_eq!(v["images"], 6, "{side}: {r}");
        let per_image = v["per_image_plates_read"].as_array().unwrap();
        assert_eq!(per_image.len(), 6, "{side}: {r}");
        let read = v["plates_read"].as_u64().unwrap();
        assert_eq!(
            read,
            per_image.iter().map(|n| n.as_u64().unwrap()).sum::<u64>(),
            "{side}: {r}"
        );
        // every labelled photo holds a plate; most are found
        assert!(read >= 4, "{side}: only {read} plates read: {r}");
        // multi_read: every plate is read at least at 1x and 1.5x width
        assert!(v["crops_read"].as_u64().unwrap() >= 2 * read, "{side}: {r}");
        assert!(v["plates_per_s"].as_f64().unwrap() > 0.0, "{side}: {r}");
    }
}
