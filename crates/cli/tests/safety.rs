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

/// `kuzet` run in `dir` with the models and data of this checkout.
fn kuzet_in(dir: &Path) -> Command {
    let mut cmd = Command::new(KUZET);
    cmd.current_dir(dir)
        .env("KUZET_MODELS", base::env::require_models())
        .env("KUZET_DATA", base::env::data_dir())
        .env("KUZET_LOG", "warn")
        .stdin(Stdio::null());
    cmd
}

/// Runs `cmd` and returns its stdout; a failure shows both streams.
fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().expect("cannot start kuzet");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The JSON lines `kuzet analyze --json` prints for one still analysed as
/// camera `still` with the config `cfg` (written as `<tag>.toml`).
fn analyze_still(dir: &Path, image: &Path, cfg: &str, tag: &str) -> Vec<Value> {
    let cfg_path = dir.join(format!("{tag}.toml"));
    std::fs::write(&cfg_path, cfg).unwrap();
    let mut cmd = kuzet_in(dir);
    cmd.arg("analyze")
        .arg(image)
        .args(["--json", "--camera", "still", "--config"])
        .arg(&cfg_path)
        .arg("--data-dir")
        .arg(dir.join(format!("data-{tag}")));
    run_ok(&mut cmd)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .collect()
}

/// Peak person count of `kuzet analyze --json` on one still, with tiling on or off.
fn still_person_count(dir: &Path, image: &Path, tiled: bool) -> u64 {
    let cfg = format!(
        "[[camera]]\nid = \"still\"\nurl = \"{}\"\ntiling = {{ enabled = {tiled}, grid = [2, 2], overlap = 0.2 }}\n",
        image.display()
    );
    let stem = image.file_stem().unwrap().to_string_lossy();
    let lines = analyze_still(dir, image, &cfg, &format!("{stem}-{tiled}"));
    let summary = lines
        .iter()
        .find_map(|l| l.get("summary").cloned())
        .unwrap_or_else(|| panic!("no summary line: {lines:?}"));
    summary
        .pointer("/peak/person")
        .and_then(Value::as_u64)
        .unwrap_or(0)
}

/// Tiled detection (#5) counts dense crowds better than the whole frame alone.
/// Measured (head labels 16 / 27 / 23): untiled 7 / 14 /14 (mean error 10.3),
/// 2×2 tiles 11 / 21 / 18 (mean error 5.3); asserted with a 2-person margin.
#[test]
fn tiling_counts_crowd_stills_closer_to_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let mut err = [0.0f64; 2];
    let mut seen = Vec::new();
    for (file, label) in [
        ("crowd/pc_train_20.jpg", 16.0),
        ("crowd/pc_train_27.jpg", 27.0),
        ("crowd/pc_train_30.jpg", 23.0),
    ] {
        let image = base::env::require_data(file);
        let plain = still_person_count(tmp.path(), &image, false);
        let tiled = still_person_count(tmp.path(), &image, true);
        seen.push((file, label, plain, tiled));
        err[0] += (plain as f64 - label).abs() / 3.0;
        err[1] += (tiled as f64 - label).abs() / 3.0;
    }
    assert!(
        err[1] + 2.0 <= err[0],
        "tiled mean error {:.1} should beat untiled {:.1} by 2+: {seen:?}",
        err[1],
        err[0]
    );
}

/// The crowd counter in the live pipeline (`[camera.crowd_counter]`, bodies
/// on tiles fused with SCRFD heads), on a still as a snapshot camera delivers
/// it: photo 27 has 27 annotated heads, the counter counts 25 (`kuzet eval
/// crowd`), the person tracks alone 14. A zone limit of 20 must therefore
/// alert with the counter's count, which the tracks could not reach. The
/// zone spans the frame, so people cut off by its bottom edge count too
/// (before `Polygon::contains` took edges as inside, the zone saw 23).
#[test]
fn crowd_counter_drives_the_zone_count_on_a_still() {
    let tmp = tempfile::tempdir().unwrap();
    let image = base::env::require_data("crowd/pc_train_27.jpg");
    let cfg = format!(
        r#"
[[camera]]
id = "still"
url = "{}"

[camera.crowd_counter]
interval_seconds = 0

[[camera.zone]]
name = "square"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
classes = ["person"]
enter_exit = false
crowd = {{ max_people = 20, area_m2 = 100.0, hold_seconds = 0, smoothing_seconds = 0 }}
"#,
        image.display()
    );
    let events: Vec<Value> = analyze_still(tmp.path(), &image, &cfg, "square")
        .into_iter()
        .filter(|l| l["kind"] == "crowd_density")
        .collect();
    assert_eq!(
        events.len(),
        1,
        "one crowd_density alert expected: {events:?}"
    );
    let count = events[0]["details"]["count"].as_f64().unwrap();
    // Within the 15 % the pipeline's crowd test allows around the label.
    assert!(
        (23.0..=31.0).contains(&count),
        "count {count}: {}",
        events[0]
    );
    assert!(events[0]["evidence"].is_string(), "{}", events[0]);
}

/// `kuzet eval crowd` scores the scene stills too (`scenes/labels.csv`, the
/// issue's stated target), with a count qualified `(foreground)` compared
/// with the people in focus: on the football photo the counter rightly finds
/// the player and three blurred spectators, the label counts the player.
/// Unqualified and unnumbered labels are scored as everyone and not at all.
#[test]
fn eval_crowd_scores_scene_stills_with_their_qualifiers() {
    let tmp = tempfile::tempdir().unwrap();
    let scenes = tmp.path().join("scenes");
    std::fs::create_dir_all(&scenes).unwrap();
    for f in ["football_player.jpg", "bus_street.jpg"] {
        let src = base::env::require_data(&format!("scenes/{f}"));
        std::fs::copy(src, scenes.join(f)).unwrap();
    }
    std::fs::write(
        scenes.join("labels.csv"),
        "path,counts,description\n\
         scenes/football_player.jpg,people:1 (foreground);ball:1,\"player, blurred stand\"\n\
         scenes/football_player.jpg,people:1;ball:1,the same photo unqualified\n\
         scenes/bus_street.jpg,people:many (not counted),unnumbered\n",
    )
    .unwrap();
    let stdout = run_ok(
        kuzet_in(tmp.path())
            .args(["eval", "crowd", "--json"])
            .arg(tmp.path()),
    );
    let v: Value = serde_json::from_str(&stdout).unwrap();
    let rows = v["images"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "{stdout}");
    let (fg, all, many) = (&rows[0], &rows[1], &rows[2]);
    assert!(fg["estimate"].as_u64().unwrap() > 1, "{fg}");
    assert_eq!(fg["scored_estimate"], 1, "{fg}");
    assert_eq!(fg["error_pct"], 0.0, "{fg}");
    assert_eq!(all["scored_estimate"], all["estimate"], "{all}");
    assert!(all["error_pct"].as_f64().unwrap() > 100.0, "{all}");
    assert!(
        many["error_pct"].is_null() && many["label"].is_null(),
        "{many}"
    );
    assert_eq!(v["sets"]["scenes"]["scored_images"], 2, "{stdout}");
}
