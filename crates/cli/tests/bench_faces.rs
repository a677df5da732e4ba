//! `kuzet bench faces` in its CI size: three real photos through the face
//! pipeline, Rust only, checking the JSON report's shape and that faces were
//! embedded. No timing assertions (shared, noisy machines).

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");
/// Model load plus three photos takes a few seconds; generous for a loaded
/// 2-core machine, still a bound.
const LIMIT: Duration = Duration::from_secs(180);

#[test]
fn bench_faces_tiny_json() {
    let faces = base::env::require_data("faces/labels.csv");
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(KUZET)
        .args(["bench", "faces", "--limit", "3", "--json", "--no-python"])
        .arg("--data-root")
        .arg(faces.parent().unwrap())
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
        if t.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kuzet bench faces ran past {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out).unwrap();
    let stderr = std::fs::read_to_string(&err).unwrap();
    assert!(
        status.success(),
        "{status}\nstdout: {stdout}\nstderr: {stderr}"
    );
    let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("not one JSON object ({e}):\n{stdout}\nstderr: {stderr}");
    });
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
