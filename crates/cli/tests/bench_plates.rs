//! `kuzet bench plates` in its CI size: every 40th labelled plate photo
//! (6 photos across the regions) through both timed Anpr configurations,
//! Rust only, checking the JSON report's shape and that plates were read.
//! No timing assertions (shared, noisy machines).

use serde_json::Value;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");
/// Model load plus six photos twice takes about ten seconds; generous for a
/// loaded 2-core machine, still a bound.
const LIMIT: Duration = Duration::from_secs(240);

#[test]
fn bench_plates_tiny_json() {
    let labels = base::env::require_data("plates/labels.csv");
    let root = labels.parent().unwrap().parent().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out, err) = (dir.path().join("stdout"), dir.path().join("stderr"));
    let mut child = Command::new(KUZET)
        .args(["bench", "plates", "--every", "40", "--json", "--no-python"])
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
        if t.elapsed() > LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kuzet bench plates ran past {LIMIT:?}");
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
    for side in ["rust", "rust_default_config"] {
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
