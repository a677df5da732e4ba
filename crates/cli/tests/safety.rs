//! End-to-end public-safety rules (#5) on real footage: the `kuzet` binary
//! analyses a video with a temporary config and the crowd rule must fire from
//! real detections and tracks, not only from scripted ones.
//!
//! The classroom clip (`videos/classroom_seated_people.mp4`, 480×270, 3 s)
//! shows 7–8 seated people, of whom YOLOX-nano at this resolution finds 4
//! (partly hidden people behind desks are missed; tiled detection is a later
//! part of #5). The thresholds are set around what the detector sees, so the
//! test checks the rule, not the detector: 4 people against `max_people = 3`
//! must alert once, against `max_people = 4` never.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");
/// The clip analyses in under a second; generous for a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(120);

/// Runs `kuzet analyze --json` on the classroom clip with a whole-frame crowd
/// zone of `max_people`; returns the printed events and the summary.
fn analyze_classroom(dir: &Path, max_people: u32) -> (Vec<Value>, Value) {
    let video = base::env::require_data("videos/classroom_seated_people.mp4");
    let cfg = format!(
        r#"
[[camera]]
id = "classroom"
url = "{}"
fps = 10

[[camera.zone]]
name = "room"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
classes = ["person"]
enter_exit = false
crowd = {{ max_people = {max_people}, area_m2 = 40.0, hold_seconds = 1, smoothing_seconds = 0.5 }}
"#,
        video.display()
    );
    let cfg_path = dir.join(format!("crowd{max_people}.toml"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let data = dir.join(format!("data{max_people}"));
    let stdout = dir.join(format!("out{max_people}.json"));
    let stderr = dir.join(format!("err{max_people}.txt"));
    let mut child = Command::new(KUZET)
        .current_dir(dir)
        .env("KUZET_MODELS", base::env::require_models())
        .env("KUZET_DATA", base::env::data_dir())
        .env("KUZET_LOG", "warn")
        .args(["analyze"])
        .arg(&video)
        .args(["--json", "--camera", "classroom", "--config"])
        .arg(&cfg_path)
        .arg("--data-dir")
        .arg(&data)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("cannot start kuzet");
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("kuzet analyze did not finish within {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = std::fs::read_to_string(&stdout).unwrap();
    let err = std::fs::read_to_string(&stderr).unwrap();
    assert!(
        status.success(),
        "kuzet analyze failed ({status}):\n{out}\n{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    let mut lines: Vec<Value> = out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let summary = lines
        .pop()
        .and_then(|l| l.get("summary").cloned())
        .unwrap_or_else(|| panic!("no summary line:\n{out}"));
    (lines, summary)
}

#[test]
fn classroom_crowd_density_fires_on_real_footage() {
    let tmp = tempfile::tempdir().unwrap();

    let (events, sum) = analyze_classroom(tmp.path(), 3);
    let peak = sum
        .pointer("/peak/person")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    assert!(
        peak >= 4,
        "the detector should find at least 4 people: {sum}"
    );
    let crowd: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "crowd_density")
        .collect();
    assert_eq!(
        crowd.len(),
        1,
        "one crowd_density alert expected: {events:?}\n{sum}"
    );
    let e = crowd[0];
    assert_eq!(e["camera"], "classroom");
    assert_eq!(e["rule"], "room");
    assert_eq!(e["details"]["state"], "active");
    assert!(e["details"]["count"].as_f64().unwrap() > 3.0, "{e}");
    assert!(e["details"]["density"].as_f64().unwrap() > 0.0, "{e}");
    // Stored with evidence: a crop of the people and the whole frame.
    assert!(e["id"].as_i64().is_some(), "{e}");
    assert!(e["evidence"].is_string(), "{e}");
    assert!(e["details"]["frame_evidence"].is_string(), "{e}");
    assert!(
        events.iter().all(|e| e["kind"] != "crowd_density_cleared"),
        "the room never empties: {events:?}"
    );

    // At the count the detector sees, the limit is not exceeded: nothing.
    let (events, _) = analyze_classroom(tmp.path(), 4);
    assert!(
        events.iter().all(|e| e["kind"] != "crowd_density"),
        "4 people is not over max_people = 4: {events:?}"
    );
}
