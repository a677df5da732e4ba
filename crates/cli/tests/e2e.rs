//! End-to-end tests of the `kuzet` binary: real media, real models, real
//! processes (the RTSP test server, `kuzet serve`) and real signals.
//!
//! Every child process is bounded in time and killed on drop, so a failing or
//! hanging binary fails its test instead of hanging the suite. Media comes from
//! `KUZET_DATA` and models from `KUZET_MODELS`; a missing folder fails with a
//! message naming the variable.

use serde_json::Value;
use std::collections::BTreeSet;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

#[path = "support/login.rs"]
mod login;
#[path = "support/stills.rs"]
mod stills;
#[path = "../../server/tests/webdriver/mod.rs"]
mod webdriver;

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");

/// Offline analysis of the 80 s pedestrian clip takes ~12 s on one free core;
/// generous for a loaded 2-core machine, still a bound.
const ANALYZE_LIMIT: Duration = Duration::from_secs(120);
/// A quick command (a still image, a bad input, `models check`, `events`).
const QUICK_LIMIT: Duration = Duration::from_secs(60);
/// How long `kuzet serve` may take to exit after SIGTERM.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(15);

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn workspace_root() -> PathBuf {
    base::env::workspace_root()
}

fn pedestrians() -> PathBuf {
    base::env::require_data("videos/vtest_pedestrians.mp4")
}

/// `kuzet` with the data and model folders set explicitly, so the child finds
/// the same files as the test, and a fixed log level.
fn kuzet(cwd: &Path) -> Command {
    let mut c = Command::new(KUZET);
    c.current_dir(cwd)
        .env("KUZET_MODELS", base::env::require_models())
        .env("KUZET_DATA", base::env::data_dir())
        .env("KUZET_LOG", "warn")
        .stdin(Stdio::null());
    c
}

/// A child process that is killed (SIGKILL) and reaped when dropped, so a
/// failing assertion never leaves a process behind.
struct Guard {
    child: Option<Child>,
    what: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Guard {
    /// Starts `cmd` with stdout and stderr going to files in `dir` (files, not
    /// pipes: a chatty child can never block on a full pipe).
    fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Guard {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        cmd.stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        let what = format!("{cmd:?}");
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Guard {
            child: Some(child),
            what,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> i32 {
        self.child.as_ref().unwrap().id() as i32
    }

    fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// The exit status if the process has ended.
    fn try_wait(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().unwrap().try_wait().unwrap()
    }

    /// Waits up to `limit` for the process to exit; kills it and fails the
    /// test if it does not.
    fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(st) = self.try_wait() {
                return st;
            }
            if Instant::now() >= deadline {
                self.kill();
                panic!(
                    "{} did not exit within {limit:?}; killed it.\nstdout:\n{}\nstderr:\n{}",
                    self.what,
                    self.stdout(),
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on the pid of a child we have not reaped yet.
        let r = unsafe { libc::kill(self.pid(), sig) };
        assert_eq!(r, 0, "kill({}, {sig}) failed", self.pid());
    }

    fn kill(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Fails the test, with the child's output, if it has exited.
    fn assert_running(&mut self) {
        if let Some(st) = self.try_wait() {
            panic!(
                "{} exited early ({st}).\nstdout:\n{}\nstderr:\n{}",
                self.what,
                self.stdout(),
                self.stderr()
            );
        }
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What a finished command printed.
struct Run {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.status.success()
    }

    fn context(&self) -> String {
        format!(
            "exit {}\nstdout (tail):\n{}\nstderr:\n{}",
            self.status,
            tail(&self.stdout, 3000),
            self.stderr
        )
    }

    /// Every stdout line as JSON (each must parse).
    fn json_lines(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| {
                    panic!("stdout line is not JSON ({e}): {l}\n{}", self.context())
                })
            })
            .collect()
    }

    /// The `summary` object of `analyze --json` (the last line).
    fn summary(&self) -> Value {
        let lines = self.json_lines();
        let last = lines
            .last()
            .unwrap_or_else(|| panic!("no output\n{}", self.context()));
        last.get("summary")
            .unwrap_or_else(|| panic!("last line has no summary: {last}\n{}", self.context()))
            .clone()
    }
}

fn tail(s: &str, n: usize) -> &str {
    let mut start = s.len().saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..]
}

/// Runs `kuzet ARGS` in `dir` to completion, bounded by `limit`.
fn run_kuzet(dir: &Path, args: &[&str], limit: Duration) -> Run {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut cmd = kuzet(dir);
    cmd.args(args);
    let mut g = Guard::spawn(cmd, dir, &format!("run{n}"));
    let status = g.wait(limit);
    Run {
        status,
        stdout: g.stdout(),
        stderr: g.stderr(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("test paths are UTF-8")
}

fn u64_at(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ptr} missing or not a number in {v}"))
}

/// `u64_at`, but absent counts as 0 (summary maps only list seen labels).
fn count_at(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr).and_then(Value::as_u64).unwrap_or(0)
}

fn assert_no_panic(stderr: &str, what: &str) {
    assert!(
        !stderr.contains("panicked"),
        "{what}: the binary panicked:\n{stderr}"
    );
}

/// The evidence JPEG of `hash` under `data_dir`: it exists where the store
/// says (`evidence/xx/<hash>.jpg`), its bytes hash to its name, and it decodes.
fn assert_evidence(data_dir: &Path, hash: &str) {
    assert!(
        hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()),
        "evidence {hash:?} is not a sha256 hex digest"
    );
    let path = data_dir
        .join("evidence")
        .join(&hash[..2])
        .join(format!("{hash}.jpg"));
    let mut bytes = std::fs::read(&path)
        .unwrap_or_else(|e| panic!("evidence file {} unreadable: {e}", path.display()));
    if bytes.starts_with(b"KZSEAL1\n") {
        // A sealed face crop: never a readable JPEG on disk; opened with
        // the data directory's generated key it is one, named by its hash.
        let st = store::Store::open(data_dir).unwrap();
        let key = store::SealKey::load(&data_dir.join("keys/evidence.key")).unwrap();
        st.set_seal_key(std::sync::Arc::new(key));
        bytes = st.evidence_bytes(hash).unwrap().unwrap();
    }
    use sha2::Digest;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    assert_eq!(
        actual,
        hash,
        "{} content does not match its name",
        path.display()
    );
    let img = image::load_from_memory_with_format(&bytes, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{} is not a decodable JPEG: {e}", path.display()));
    assert!(img.width() > 0 && img.height() > 0);
}

/// The demo's rules for the pedestrian walkway (config/demo.toml,
/// campus-walkway): a zone over the lower part of the frame and a vertical
/// midline, both for persons.
const WALKWAY_RULES: &str = r#"
[[camera.zone]]
name = "lawn-edge"
polygon = [[0.0, 0.55], [1.0, 0.55], [1.0, 1.0], [0.0, 1.0]]
classes = ["person"]
dwell_seconds = 8

[[camera.line]]
name = "midline"
from = [0.5, 0.0]
to = [0.5, 1.0]
classes = ["person"]
"#;

/// A config with the pedestrian clip as a camera that plays in real time and
/// loops, like a live camera, so events keep flowing while a test watches.
fn live_walkway_config(dir: &Path) -> PathBuf {
    let video = pedestrians();
    let cfg = format!(
        "[[camera]]\nid = \"walk\"\nurl = \"{}\"\nfps = 5\nrealtime = true\nloop = true\n{WALKWAY_RULES}",
        video.display()
    );
    let p = dir.join("walk.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

/// A running `kuzet serve`, killed on drop.
struct Serve {
    proc: Guard,
    base: String,
    http: reqwest::blocking::Client,
    /// `kuzet_session=…` of the initial admin, for clients built elsewhere.
    cookie: String,
}

impl Serve {
    /// Starts `kuzet serve --config CONFIG --listen 127.0.0.1:0 --data-dir
    /// DATA` and waits for it to print the address it bound (port 0: the OS
    /// picks a free one, so parallel tests never collide).
    fn start(dir: &Path, config: &Path, data: &Path) -> Serve {
        let mut cmd = kuzet(dir);
        cmd.args(["serve", "--config", s(config), "--data-dir", s(data)])
            .args(["--listen", "127.0.0.1:0"]);
        let mut proc = Guard::spawn(cmd, dir, "serve");
        let deadline = Instant::now() + Duration::from_secs(60);
        let base = loop {
            proc.assert_running();
            let out = proc.stdout();
            if let Some(url) = out
                .lines()
                .find_map(|l| l.strip_prefix("kuzet is serving on "))
                .and_then(|rest| rest.split_whitespace().next())
            {
                break url.to_string();
            }
            assert!(
                Instant::now() < deadline,
                "kuzet serve did not report its address within 60 s\nstdout:\n{out}\nstderr:\n{}",
                proc.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        // No default password: the first start wrote the admin's random one
        // to a private file in the data directory. Log in with it, as a
        // person following the printed instructions would.
        let pw_file = data.join("initial-admin-password");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&pw_file).unwrap().permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "{} is readable by others",
                pw_file.display()
            );
        }
        let cookie = login::initial_admin_cookie(&base, data);
        let http = Self::client_with_cookie(&cookie, Duration::from_secs(10));
        // Without it, the API refuses.
        let anonymous = reqwest::blocking::get(format!("{base}/api/events")).unwrap();
        assert_eq!(anonymous.status().as_u16(), 401);
        Serve {
            proc,
            base,
            http,
            cookie,
        }
    }

    fn client_with_cookie(cookie: &str, timeout: Duration) -> reqwest::blocking::Client {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::COOKIE, cookie.parse().unwrap());
        reqwest::blocking::Client::builder()
            .timeout(timeout)
            .default_headers(h)
            .build()
            .unwrap()
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        let url = format!("{}{path}", self.base);
        self.http
            .get(&url)
            .send()
            .unwrap_or_else(|e| panic!("GET {url}: {e}\nstderr:\n{}", self.proc.stderr()))
    }

    fn get_json(&self, path: &str) -> Value {
        let r = self.get(path);
        let status = r.status();
        let body = r.text().unwrap();
        assert!(status.is_success(), "GET {path}: {status}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
    }

    /// The only camera's status from `/api/cameras`.
    fn camera(&self) -> Value {
        let v = self.get_json("/api/cameras");
        let list = v.as_array().expect("/api/cameras is a JSON array");
        assert_eq!(list.len(), 1, "expected one camera: {v}");
        list[0].clone()
    }

    /// Every stored event id via `/api/events` (the store answers only with
    /// committed events, so these are acknowledged).
    fn event_ids(&self) -> BTreeSet<i64> {
        let v = self.get_json("/api/events?limit=1000");
        v["events"]
            .as_array()
            .expect("/api/events has an `events` array")
            .iter()
            .map(|e| {
                e["id"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("event without id: {e}"))
            })
            .collect()
    }

    /// Polls `f` every 200 ms until it returns `Some`, failing after `limit`
    /// (or at once if the server died).
    fn wait_for<T>(
        &mut self,
        limit: Duration,
        what: &str,
        mut f: impl FnMut(&Serve) -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + limit;
        loop {
            self.proc.assert_running();
            if let Some(v) = f(self) {
                return v;
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {limit:?} waiting for {what}; cameras: {}\nstderr:\n{}",
                self.get_json("/api/cameras"),
                self.proc.stderr()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// SIGTERM, then the exit status (bounded by [`SHUTDOWN_LIMIT`]).
    fn terminate(mut self) -> (ExitStatus, String) {
        self.proc.signal(libc::SIGTERM);
        let st = self.proc.wait(SHUTDOWN_LIMIT);
        (st, self.proc.stderr())
    }
}

/// `kuzet events --data-dir DATA --limit 1000` as JSON objects.
fn stored_events(dir: &Path, data: &Path) -> Vec<Value> {
    let r = run_kuzet(
        dir,
        &["events", "--data-dir", s(data), "--limit", "1000"],
        QUICK_LIMIT,
    );
    assert!(r.ok(), "kuzet events failed\n{}", r.context());
    assert_no_panic(&r.stderr, "kuzet events");
    r.json_lines()
}

fn ids_of(events: &[Value]) -> BTreeSet<i64> {
    events
        .iter()
        .map(|e| {
            e["id"]
                .as_i64()
                .unwrap_or_else(|| panic!("event without id: {e}"))
        })
        .collect()
}

// ---------------------------------------------------------------------------
// 1. Offline analysis of the pedestrian clip, then its stored events
// ---------------------------------------------------------------------------

#[test]
fn analyze_pedestrians_json() {
    let video = pedestrians();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");

    // Defaults: no zones or lines, so no rule events; the summary counts.
    let r = run_kuzet(
        tmp.path(),
        &["analyze", s(&video), "--json", "--data-dir", s(&data)],
        ANALYZE_LIMIT,
    );
    assert!(r.ok(), "analyze failed\n{}", r.context());
    assert_no_panic(&r.stderr, "analyze");
    let sum = r.summary();
    // 795 frames at 10 fps, sampled to the default 5 fps: every other frame,
    // the first included, ceil(795 / 2) = 398.
    assert_eq!(u64_at(&sum, "/frames"), 398, "{sum}");
    assert_eq!(sum["errors"], Value::Array(vec![]), "{sum}");

    // How many person tracks are plausible? The clip is 795 / 10 fps = 79.5 s
    // of an overhead campus walkway; pedestrians walk across it, typically
    // 2-6 in view (labels.csv), the reference pipeline sees a median of 7 per
    // frame, and people take roughly 15-25 s to cross the visible path
    // (judged from frames 5 s apart). So:
    // - the peak in one frame must be a handful: 4..=15;
    // - distinct people ≈ in-view × duration / crossing time. Bounding in-view
    //   by the measured peak and taking the short 15 s crossing gives an upper
    //   estimate of peak × 79.5 / 15 (≈ 53 for a peak of 10); allowing two
    //   tracks per real person (a track lost behind the lamp post and found
    //   again) caps person tracks at 2 × that (≈ 106), with an absolute cap of
    //   120. An ID explosion (a new id every few frames) gives hundreds.
    // - at least 15: with ~7 in view turning over every ~20 s, 80 s shows
    //   well over 15 different people; fewer tracks means the tracker merges
    //   people or the detector misses most of them.
    // Measured with yolox_nano at the default threshold: peak 10, 40 tracks.
    const VIDEO_S: f64 = 79.5;
    const CROSSING_S: f64 = 15.0;
    let peak = u64_at(&sum, "/peak/person");
    let tracks = u64_at(&sum, "/tracks/person");
    assert!(
        (4..=15).contains(&peak),
        "peak persons in one frame {peak}: {sum}"
    );
    let cap = (2.0 * peak as f64 * VIDEO_S / CROSSING_S).min(120.0);
    assert!(
        (15..=cap as u64).contains(&tracks),
        "person tracks {tracks} outside 15..={cap:.0} (peak {peak}): {sum}"
    );
    // Frames with many persons: the mean per analysed frame is 2-12 (the
    // label's 2-6 in view, the reference's median 7, plus the odd false
    // positive).
    let per_frame = u64_at(&sum, "/detections/person") as f64 / 398.0;
    assert!(
        (2.0..=12.0).contains(&per_frame),
        "person detections per frame {per_frame:.1}: {sum}"
    );

    // No rules, so the store has no events; `kuzet events` still answers
    // (every line JSON) and exits 0.
    let events = stored_events(tmp.path(), &data);
    assert!(
        events.is_empty(),
        "no rules configured, yet events: {events:?}"
    );

    // With the demo camera's zone and line, zone and line events appear, each
    // with a stored, decodable evidence JPEG.
    let data2 = tmp.path().join("data2");
    let demo = workspace_root().join("config/demo.toml");
    let r = run_kuzet(
        tmp.path(),
        &[
            "analyze",
            s(&video),
            "--json",
            "--data-dir",
            s(&data2),
            "--config",
            s(&demo),
            "--camera",
            "campus-walkway",
        ],
        ANALYZE_LIMIT,
    );
    assert!(
        r.ok(),
        "analyze with the demo config failed\n{}",
        r.context()
    );
    assert_no_panic(&r.stderr, "analyze --config demo.toml");
    let lines = r.json_lines();
    let sum = r.summary();
    assert_eq!(u64_at(&sum, "/frames"), 398, "{sum}");
    let printed: Vec<&Value> = lines
        .iter()
        .filter(|v| v.get("summary").is_none())
        .collect();
    let zone_enter = count_at(&sum, "/events/zone_enter");
    let line_cross = count_at(&sum, "/events/line_cross");
    assert!(
        zone_enter >= 1 && line_cross >= 1,
        "expected zone_enter and line_cross: {sum}"
    );
    // Each person crosses the midline at most a few times; more line crossings
    // than person tracks × 3 would mean the line rule fires on jitter.
    assert!(line_cross <= 3 * u64_at(&sum, "/tracks/person"), "{sum}");
    let total: u64 = sum["events"]
        .as_object()
        .unwrap()
        .values()
        .filter_map(Value::as_u64)
        .sum();
    assert_eq!(
        printed.len() as u64,
        total,
        "printed events vs summary: {sum}"
    );
    for e in &printed {
        assert_eq!(e["camera"], "campus-walkway", "{e}");
        assert_eq!(e["label"], "person", "{e}");
        assert!(
            e["id"].as_i64().is_some(),
            "printed events are committed, with an id: {e}"
        );
    }

    let stored = stored_events(tmp.path(), &data2);
    assert_eq!(stored.len() as u64, total, "every printed event is stored");
    assert_eq!(
        ids_of(&stored),
        printed.iter().map(|e| e["id"].as_i64().unwrap()).collect(),
        "stored ids = printed ids"
    );
    let mut kinds = BTreeSet::new();
    for e in &stored {
        let kind = e["kind"].as_str().unwrap_or_else(|| panic!("no kind: {e}"));
        kinds.insert(kind.to_string());
        if matches!(kind, "zone_enter" | "line_cross") {
            let rule = e["rule"].as_str().unwrap_or_default();
            let want = if kind == "zone_enter" {
                "lawn-edge"
            } else {
                "midline"
            };
            assert_eq!(rule, want, "{e}");
        }
        let hash = e["evidence"]
            .as_str()
            .unwrap_or_else(|| panic!("event without evidence: {e}"));
        assert_evidence(&data2, hash);
        if let Some(h) = e.pointer("/details/frame_evidence").and_then(Value::as_str) {
            assert_evidence(&data2, h);
        }
    }
    assert!(
        kinds.contains("zone_enter") && kinds.contains("line_cross"),
        "{kinds:?}"
    );

    // Bystander masking is on by default: every event here is about a
    // person, so every event crop had a head masked and its original is
    // kept only sealed, under the key generated (0600) in the data dir.
    let key = data2.join("keys/evidence.key");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", key.display());
    }
    assert!(r.stderr.contains("generated"), "key generation not logged");
    let db = rusqlite::Connection::open(data2.join("kuzet.db")).unwrap();
    let mut sealed = 0;
    for e in &stored {
        let hash = e["evidence"].as_str().unwrap();
        let n: i64 = db
            .query_row(
                "SELECT count(*) FROM evidence_original WHERE hash = ?1",
                [hash],
                |r| r.get(0),
            )
            .unwrap();
        sealed += n;
    }
    assert_eq!(sealed as usize, stored.len(), "every person crop is masked");

    // Every event has a video clip (3 s before to 3 s after, the default),
    // masked (people walk through every clip), decodable H.264 at the
    // analysis size; events close in time share one clip.
    let mut clips = BTreeSet::new();
    for e in &stored {
        let clip = e
            .pointer("/details/clip")
            .unwrap_or_else(|| panic!("event without a clip: {e}"));
        let hash = clip["hash"].as_str().unwrap();
        assert_eq!(clip["mime"], "video/mp4", "{clip}");
        assert!(u64_at(clip, "/masked_frames") > 0, "{clip}");
        if !clips.insert(hash.to_string()) {
            continue;
        }
        let path = data2
            .join("evidence")
            .join(&hash[..2])
            .join(format!("{hash}.jpg"));
        // Evidence files are named `<hash>.jpg` whatever they hold; the
        // reader goes by the extension.
        let mp4 = tmp.path().join("clip.mp4");
        std::fs::copy(&path, &mp4).unwrap();
        let info = media::probe(&mp4).unwrap_or_else(|e| panic!("clip {hash}: {e}"));
        assert_eq!(info.codec.as_deref(), Some("h264"), "{clip}");
        assert_eq!(
            (info.width as u64, info.height as u64),
            (u64_at(clip, "/width"), u64_at(clip, "/height"))
        );
        let frames = u64_at(clip, "/frames");
        // 6 s at 5 fps, fewer at the start and end of the video.
        assert!((2..=31).contains(&frames), "{clip}");
    }
    assert!(
        clips.len() < stored.len() || stored.len() == 1,
        "events share clips"
    );
    let distinct: std::collections::BTreeMap<&str, &Value> = stored
        .iter()
        .filter_map(|e| e.pointer("/details/clip"))
        .map(|c| (c["hash"].as_str().unwrap(), c))
        .collect();
    let sizes: Vec<(u64, u64, u64)> = distinct
        .values()
        .map(|c| {
            (
                u64_at(c, "/bytes"),
                u64_at(c, "/duration_ms"),
                u64_at(c, "/encode_ms"),
            )
        })
        .collect();
    let (b, d, t) = sizes
        .iter()
        .fold((0, 0, 0), |a, x| (a.0 + x.0, a.1 + x.1, a.2 + x.2));
    eprintln!(
        "clips: {} for {} events; {:.0} kB per second of clip; {:.0} ms encode per clip",
        clips.len(),
        stored.len(),
        b as f64 / 1024.0 / (d as f64 / 1000.0),
        t as f64 / sizes.len() as f64
    );

    // --limit is honoured.
    let r = run_kuzet(
        tmp.path(),
        &["events", "--data-dir", s(&data2), "--limit", "5"],
        QUICK_LIMIT,
    );
    assert!(r.ok(), "{}", r.context());
    assert_eq!(r.json_lines().len(), 5, "{}", r.context());
}

// ---------------------------------------------------------------------------
// 2. Still images and a folder of images
// ---------------------------------------------------------------------------

#[test]
fn scene_stills_people_counts() {
    let tmp = tempfile::tempdir().unwrap();
    let analyze = |src: &Path, name: &str| {
        let data = tmp.path().join(name);
        let r = run_kuzet(
            tmp.path(),
            &["analyze", s(src), "--json", "--data-dir", s(&data)],
            QUICK_LIMIT,
        );
        assert!(r.ok(), "analyze {} failed\n{}", src.display(), r.context());
        assert_no_panic(&r.stderr, name);
        r.summary()
    };

    // scenes/labels.csv: 1 bus, 4 persons (3 fully + 1 partly at the right
    // edge, which a detector may miss).
    let bus = analyze(&base::env::require_data("scenes/bus_street.jpg"), "bus");
    assert_eq!(u64_at(&bus, "/frames"), 1, "{bus}");
    let persons = count_at(&bus, "/peak/person");
    assert!(
        (3..=5).contains(&persons),
        "bus_street.jpg: {persons} persons, label says 4: {bus}"
    );
    assert!(
        count_at(&bus, "/peak/bus") >= 1,
        "bus_street.jpg: no bus: {bus}"
    );

    // One player in the foreground (blurred spectators may add more).
    let foot = analyze(
        &base::env::require_data("scenes/football_player.jpg"),
        "football",
    );
    assert_eq!(u64_at(&foot, "/frames"), 1, "{foot}");
    assert!(
        count_at(&foot, "/peak/person") >= 1,
        "football_player.jpg: no person: {foot}"
    );

    // A folder of 3 images: every image is one frame. The folder source
    // presents images at `image_fps` = the camera's fps and the sampler keeps
    // that same fps, so nothing may be thinned out.
    let plates = base::env::require_data("plates/br");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&plates)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "need 3 plate images in {}",
        plates.display()
    );
    let folder = tmp.path().join("snapshots");
    std::fs::create_dir(&folder).unwrap();
    for f in &files[..3] {
        std::fs::copy(f, folder.join(f.file_name().unwrap())).unwrap();
    }
    // A non-image file in the folder is ignored, not an error.
    std::fs::write(folder.join("notes.txt"), "not an image").unwrap();
    let sum = analyze(&folder, "folder");
    assert_eq!(
        u64_at(&sum, "/frames"),
        3,
        "3 images must give 3 frames: {sum}"
    );
    assert_eq!(u64_at(&sum, "/cameras/0/detected_frames"), 3, "{sum}");
    // Plate photos show cars.
    assert!(count_at(&sum, "/peak/car") >= 1, "{sum}");
}

// ---------------------------------------------------------------------------
// 2b. Traffic offences with evidence packages on real footage
// ---------------------------------------------------------------------------

/// The two-lane road clip with its road declared one-way *away* from the
/// camera (the same lane as `crates/analytics/tests/offences_real_tracks.rs`),
/// so real vehicles drive it the wrong way. Every offence must arrive with a
/// full evidence package: frames before, at and after the moment (the after
/// frames exist because the recorder holds the event until they are in),
/// the annotated frame, the vehicle crop and a plate status, all as real
/// evidence files. The clip has no readable plates, so the plate reading is
/// only required to say what happened.
#[test]
fn offences_carry_evidence_packages() {
    let tmp = tempfile::tempdir().unwrap();
    let video = base::env::require_data("videos/traffic_road_two_lanes.mp4");
    let cfg = tmp.path().join("road.toml");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[camera]]
id = "road"
url = "{}"
fps = 5

[camera.offences]
evidence_before_seconds = 2
evidence_after_seconds = 1

[[camera.offences.wrong_way]]
name = "one-way-out"
lane = [[0.0, 1.0], [0.0, 0.85], [0.6, 0.0], [0.9, 0.0], [0.8, 1.0]]
direction = [[0.35, 0.98], [0.75, 0.08]]
"#,
            video.display()
        ),
    )
    .unwrap();
    let data = tmp.path().join("data");
    let r = run_kuzet(
        tmp.path(),
        &[
            "analyze",
            s(&video),
            "--json",
            "--camera",
            "road",
            "--config",
            s(&cfg),
            "--data-dir",
            s(&data),
        ],
        ANALYZE_LIMIT,
    );
    assert!(r.ok(), "{}", r.context());
    assert_no_panic(&r.stderr, "analyze road");
    let offences: Vec<Value> = r
        .json_lines()
        .into_iter()
        .filter(|e| e["kind"] == "offence_wrong_way")
        .collect();
    // The analytics replay of this clip flags 29 of 31 tracks; the live run
    // must find most of them too (not an exact count: it is the pipeline's).
    assert!(
        offences.len() >= 10,
        "{} offences\n{}",
        offences.len(),
        r.context()
    );
    let mut complete = 0;
    for e in &offences {
        let pkg = &e["details"]["evidence_package"];
        assert!(pkg.is_object(), "no evidence package: {e}");
        let frames = pkg["frames"].as_array().expect("frames");
        let phases: Vec<&str> = frames.iter().filter_map(|f| f["phase"].as_str()).collect();
        assert!(
            phases.contains(&"before") && phases.contains(&"during"),
            "{phases:?} in {e}"
        );
        for f in frames {
            assert_evidence(&data, f["evidence"].as_str().expect("frame hash"));
        }
        for key in ["annotated_frame", "vehicle_crop"] {
            assert_evidence(
                &data,
                pkg[key].as_str().unwrap_or_else(|| panic!("{key}: {e}")),
            );
        }
        assert_eq!(e["evidence"], pkg["vehicle_crop"], "{e}");
        assert!(pkg["plate_status"].is_string(), "{e}");
        if pkg["complete"] == true {
            complete += 1;
            assert!(
                phases.contains(&"after"),
                "complete without after frames: {e}"
            );
        }
    }
    // Only offences in the clip's last second can miss their after frames.
    assert!(
        complete * 10 >= offences.len() * 8,
        "{complete} of {} complete",
        offences.len()
    );
}

// ---------------------------------------------------------------------------
// 3. Bad inputs
// ---------------------------------------------------------------------------

#[test]
fn bad_inputs_fail_cleanly() {
    let video = pedestrians();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();

    let truncated = dir.join("truncated.mp4");
    let bytes = std::fs::read(&video).unwrap();
    std::fs::write(&truncated, &bytes[..bytes.len() * 4 / 10]).unwrap();
    let text = dir.join("x.mp4");
    std::fs::write(&text, "this is not a video\n".repeat(20)).unwrap();
    let empty = dir.join("zero.mp4");
    std::fs::write(&empty, b"").unwrap();
    let missing = dir.join("no-such-video.mp4");
    let no_images = dir.join("no-images");
    std::fs::create_dir(&no_images).unwrap();
    std::fs::write(no_images.join("readme.txt"), "no pictures here").unwrap();

    for (i, src) in [&truncated, &text, &empty, &missing, &no_images]
        .into_iter()
        .enumerate()
    {
        let data = dir.join(format!("data{i}"));
        let r = run_kuzet(
            dir,
            &["analyze", s(src), "--json", "--data-dir", s(&data)],
            ANALYZE_LIMIT,
        );
        let what = src.display().to_string();
        assert!(!r.ok(), "{what}: expected a failure\n{}", r.context());
        assert_no_panic(&r.stderr, &what);
        assert!(
            r.stderr.contains(&what),
            "{what}: stderr does not name the file\n{}",
            r.context()
        );
        assert!(
            r.stderr.lines().any(|l| l.starts_with("error:")),
            "{what}: no `error:` line on stderr\n{}",
            r.context()
        );
        // Whatever stdout holds is JSON; a summary, when printed, reports the
        // failure too.
        let lines = r.json_lines();
        if let Some(sum) = lines.last().and_then(|l| l.get("summary")) {
            let errors = sum["errors"].as_array().expect("summary.errors");
            assert!(
                errors
                    .iter()
                    .any(|e| e["error"].as_str().is_some_and(|m| m.contains(&what))),
                "{what}: summary.errors does not name the file: {sum}"
            );
            let frames = u64_at(sum, "/frames");
            if src == &truncated {
                // Frames before the damage may be analysed, but not all 398.
                assert!(
                    frames < 398,
                    "{what}: all frames from a truncated file? {sum}"
                );
                assert!(
                    r.stderr.contains("truncated") || r.stderr.contains("damaged"),
                    "{what}: the message should say the file is truncated\n{}",
                    r.context()
                );
            } else {
                assert_eq!(frames, 0, "{what}: {sum}");
            }
        }
    }
}

// ---------------------------------------------------------------------------
// 4. Config errors
// ---------------------------------------------------------------------------

#[test]
fn config_errors_point_at_line() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let video = pedestrians();
    let head = format!("[[camera]]\nid = \"cam1\"\nurl = \"{}\"\n", video.display());
    // (file name, contents, expected "file:line:", expected key path)
    let cases = [
        (
            "polygon.toml",
            // Line 8: a polygon of 2 points.
            format!("{head}fps = 5\n\n[[camera.zone]]\nname = \"z\"\npolygon = [[0.0, 0.0], [1.0, 1.0]]\n"),
            "polygon.toml:8:",
            "camera[0].zone[0].polygon",
        ),
        (
            "fps.toml",
            // Line 4: a negative frame rate.
            format!("{head}fps = -5\n"),
            "fps.toml:4:",
            "camera[0].fps",
        ),
        (
            "typo.toml",
            // Line 3: a misspelt key.
            "[detect]\nscore_threshold = 0.3\nmax_bach = 4\n".to_string(),
            "typo.toml:3:",
            "max_bach",
        ),
    ];
    for (name, contents, loc, key) in cases {
        let cfg = dir.join(name);
        std::fs::write(&cfg, contents).unwrap();
        let data = dir.join("data");
        for args in [
            vec![
                "analyze",
                s(&video),
                "--config",
                s(&cfg),
                "--data-dir",
                s(&data),
            ],
            vec![
                "serve",
                "--config",
                s(&cfg),
                "--data-dir",
                s(&data),
                "--listen",
                "127.0.0.1:0",
            ],
        ] {
            let r = run_kuzet(dir, &args, QUICK_LIMIT);
            assert!(
                !r.ok(),
                "{name} ({}): expected a failure\n{}",
                args[0],
                r.context()
            );
            assert_no_panic(&r.stderr, name);
            assert!(
                r.stderr.contains(loc) && r.stderr.contains(key),
                "{name} ({}): stderr should contain {loc:?} and {key:?}\n{}",
                args[0],
                r.context()
            );
        }
    }
}

// ---------------------------------------------------------------------------
// 5. models check
// ---------------------------------------------------------------------------

#[test]
fn models_check() {
    let models = base::env::require_models();
    let tmp = tempfile::tempdir().unwrap();
    let manifest = vision::ModelManifest::embedded();
    let n = manifest.models.len();

    let r = run_kuzet(tmp.path(), &["models", "check"], QUICK_LIMIT);
    assert!(
        r.ok(),
        "models check failed on the real models\n{}",
        r.context()
    );
    for key in manifest.models.keys() {
        assert!(
            r.stdout
                .lines()
                .any(|l| l.trim() == format!("ok       {key}").trim()),
            "{key} not reported ok\n{}",
            r.context()
        );
    }
    assert!(
        r.stdout.contains(&format!("all {n} models verified")),
        "{}",
        r.context()
    );

    // A copy of the models folder with one file truncated, one missing and one
    // corrupted in place (same size, one byte flipped: only the hash tells).
    let copy = tmp.path().join("models");
    for e in manifest.models.values() {
        let to = copy.join(&e.file);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(models.join(&e.file), &to).unwrap();
    }
    let truncated = &manifest.models["yolox_nano"].file;
    let missing = &manifest.models["coco80_names"].file;
    let flipped = &manifest.models["yunet_n"].file;
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(copy.join(truncated))
        .unwrap();
    let len = f.metadata().unwrap().len();
    f.set_len(len / 2).unwrap();
    drop(f);
    std::fs::remove_file(copy.join(missing)).unwrap();
    let mut b = std::fs::read(copy.join(flipped)).unwrap();
    let mid = b.len() / 2;
    b[mid] ^= 0xff;
    std::fs::write(copy.join(flipped), b).unwrap();

    let r = run_kuzet(
        tmp.path(),
        &["models", "check", "--dir", s(&copy)],
        QUICK_LIMIT,
    );
    assert!(
        !r.ok(),
        "models check passed a broken folder\n{}",
        r.context()
    );
    assert_no_panic(&r.stderr, "models check");
    let out = format!("{}{}", r.stdout, r.stderr);
    for (file, why) in [
        (truncated, "size mismatch"),
        (missing, "missing"),
        (flipped, "sha256 mismatch"),
    ] {
        let line = out
            .lines()
            .find(|l| l.contains(file.as_str()))
            .unwrap_or_else(|| panic!("output does not name {file}\n{}", r.context()));
        assert!(
            line.contains("PROBLEM") && line.contains(why),
            "{file}: {line}"
        );
    }
    assert!(
        out.contains(&format!("3 of {n} models missing or corrupt")),
        "{}",
        r.context()
    );
    // The intact files are still reported ok.
    let ok = out
        .lines()
        .filter(|l| l.trim_start().starts_with("ok "))
        .count();
    assert_eq!(ok, n - 3, "{}", r.context());
}

// ---------------------------------------------------------------------------
// 6. RTSP camera that drops and comes back
// ---------------------------------------------------------------------------

use media::testing::RtspServer;

fn free_port() -> u16 {
    media::testing::free_port().expect("no free port on 127.0.0.1")
}

#[test]
fn rtsp_stream_that_drops_is_reconnected_by_the_pipeline() {
    let video = pedestrians();
    let tmp = tempfile::tempdir().unwrap();
    let port = free_port();
    let server = RtspServer::start(port, &video).unwrap_or_else(|e| panic!("{e}"));

    let cfg = tmp.path().join("rtsp.toml");
    std::fs::write(
        &cfg,
        format!("[[camera]]\nid = \"gate\"\nurl = \"rtsp://127.0.0.1:{port}/stream\"\nfps = 5\n"),
    )
    .unwrap();
    let mut serve = Serve::start(tmp.path(), &cfg, &tmp.path().join("data"));

    // The stream plays in real time (10 fps, sampled to 5): >10 frames in ~3 s.
    let cam = serve.wait_for(Duration::from_secs(40), "more than 10 frames", |sv| {
        let c = sv.camera();
        (c["frames"].as_u64().unwrap_or(0) > 10).then_some(c)
    });
    assert_eq!(cam["state"], "online", "{cam}");
    assert_eq!(cam["id"], "gate", "{cam}");
    assert_eq!(
        (cam["width"].as_u64(), cam["height"].as_u64()),
        (Some(768), Some(576)),
        "{cam}"
    );
    // Normally 0; compared rather than assumed, in case the first connection
    // needed a retry while the server was still starting.
    let reconnects_before = u64_at(&cam, "/reconnects");
    let error_before = cam.get("last_error").cloned();

    // The camera vanishes.
    drop(server);
    let cam = serve.wait_for(
        Duration::from_secs(20),
        "the camera to notice the drop",
        |sv| {
            let c = sv.camera();
            (c["state"] == "reconnecting"
                || c.get("last_error").cloned() != error_before
                || u64_at(&c, "/reconnects") > reconnects_before)
                .then_some(c)
        },
    );
    let frames_at_drop = u64_at(&cam, "/frames");

    // It comes back on the same address; the pipeline must pick it up again
    // by itself and keep counting frames.
    let _server = RtspServer::start(port, &video).unwrap_or_else(|e| panic!("{e}"));
    let cam = serve.wait_for(
        Duration::from_secs(60),
        "frames to flow again after the server came back",
        |sv| {
            let c = sv.camera();
            (c["state"] == "online" && c["frames"].as_u64().unwrap_or(0) > frames_at_drop + 5)
                .then_some(c)
        },
    );
    let reconnects = u64_at(&cam, "/reconnects");
    assert!(
        reconnects >= 1 && reconnects > reconnects_before,
        "reconnects {reconnects} (before the drop {reconnects_before}): {cam}"
    );

    let (st, stderr) = serve.terminate();
    assert!(st.success(), "kuzet serve exited {st} on SIGTERM\n{stderr}");
    assert_no_panic(&stderr, "kuzet serve");
}

// ---------------------------------------------------------------------------
// 7. The HTTP API of a live camera, and a graceful shutdown
// ---------------------------------------------------------------------------

#[test]
fn serve_api_and_graceful_shutdown() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = live_walkway_config(tmp.path());
    let data = tmp.path().join("data");
    let mut serve = Serve::start(tmp.path(), &cfg, &data);

    let h = serve.get_json("/healthz");
    assert_eq!(h["status"], "ok", "{h}");

    serve.wait_for(Duration::from_secs(60), "the first events", |sv| {
        (sv.event_ids().len() >= 3).then_some(())
    });

    let cam = serve.camera();
    assert_eq!(cam["id"], "walk", "{cam}");
    assert_eq!(cam["state"], "online", "{cam}");
    assert_eq!(cam["configured"], true, "{cam}");
    assert!(u64_at(&cam, "/frames") > 0, "{cam}");
    // Played in real time at 5 fps on a 10 fps file: nothing to drop.
    assert!(
        cam["fps"].as_f64().is_some_and(|f| f > 0.0 && f < 15.0),
        "{cam}"
    );

    let r = serve.get("/metrics");
    assert!(r.status().is_success());
    let metrics = r.text().unwrap();
    for name in ["kuzet_stage_seconds", "kuzet_frames_total"] {
        assert!(metrics.contains(name), "/metrics lacks {name}:\n{metrics}");
    }
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("kuzet_frames_total{camera=\"walk\"}")),
        "/metrics has no frame counter for camera walk:\n{metrics}"
    );

    // An event as the API shows it, with its evidence served as a JPEG.
    let page = serve.get_json("/api/events?limit=5");
    let first = page["events"][0].clone();
    assert_eq!(first["camera"], "walk", "{first}");
    let url = first["evidence_url"]
        .as_str()
        .unwrap_or_else(|| panic!("no evidence_url: {first}"));
    let r = serve.get(url);
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    let jpeg = r.bytes().unwrap();
    image::load_from_memory_with_format(&jpeg, image::ImageFormat::Jpeg)
        .unwrap_or_else(|e| panic!("{url} is not a JPEG: {e}"));
    let id = first["id"].as_i64().unwrap();
    let one = serve.get_json(&format!("/api/events/{id}"));
    assert_eq!(one["id"], first["id"], "{one}");

    // The live stream: a new event arrives (the camera loops in real time,
    // a zone or line event every few seconds).
    let seen_before = serve.event_ids();
    let newest_before = *seen_before.iter().max().unwrap();
    let sse_client = Serve::client_with_cookie(&serve.cookie, Duration::from_secs(30));
    let resp = sse_client
        .get(format!("{}/api/events/stream", serve.base))
        .send()
        .expect("open the SSE stream");
    assert!(resp.status().is_success(), "{}", resp.status());
    let ctype = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    assert!(
        ctype.starts_with("text/event-stream"),
        "content-type {ctype}"
    );
    let mut reader = BufReader::new(resp);
    let mut line = String::new();
    let (mut sse_id, mut sse_kind) = (None, None);
    let streamed = loop {
        line.clear();
        let n = reader
            .read_line(&mut line)
            .expect("the SSE stream delivered no event within 30 s");
        assert!(n > 0, "the SSE stream ended without an event");
        let l = line.trim_end();
        if let Some(v) = l.strip_prefix("id:") {
            sse_id = Some(v.trim().parse::<i64>().expect("numeric SSE id"));
        } else if let Some(v) = l.strip_prefix("event:") {
            sse_kind = Some(v.trim().to_string());
        } else if let Some(v) = l.strip_prefix("data:") {
            let ev: Value = serde_json::from_str(v.trim()).expect("SSE data is JSON");
            break ev;
        }
    };
    drop(reader);
    assert_eq!(streamed["camera"], "walk", "{streamed}");
    assert_eq!(
        streamed["id"].as_i64(),
        sse_id,
        "SSE id vs data id: {streamed}"
    );
    assert_eq!(streamed["kind"].as_str(), sse_kind.as_deref(), "{streamed}");
    assert!(
        streamed["id"].as_i64().unwrap() > newest_before,
        "the stream sent an old event: {streamed}"
    );

    // Everything the API acknowledged up to now.
    let acknowledged = serve.event_ids();
    assert!(acknowledged.contains(&streamed["id"].as_i64().unwrap()));

    let (st, stderr) = serve.terminate();
    assert!(st.success(), "kuzet serve exited {st} on SIGTERM\n{stderr}");
    assert_no_panic(&stderr, "kuzet serve");

    let stored = ids_of(&stored_events(tmp.path(), &data));
    assert!(
        stored.len() >= acknowledged.len(),
        "{} events stored, {} acknowledged",
        stored.len(),
        acknowledged.len()
    );
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "acknowledged events lost at shutdown: {lost:?}"
    );
}

// ---------------------------------------------------------------------------
// 8. SIGKILL: acknowledged events survive
// ---------------------------------------------------------------------------

#[test]
fn sigkill_keeps_acknowledged_events() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = live_walkway_config(tmp.path());
    let data = tmp.path().join("data");
    let mut serve = Serve::start(tmp.path(), &cfg, &data);

    // Read events while the pipeline is busy writing more, and kill the
    // process right after the last answer, mid-stream.
    let acknowledged = serve.wait_for(Duration::from_secs(60), "5 events", |sv| {
        let ids = sv.event_ids();
        (ids.len() >= 5).then_some(ids)
    });
    serve.proc.assert_running();
    serve.proc.signal(libc::SIGKILL);
    let st = serve.proc.wait(SHUTDOWN_LIMIT);
    assert!(
        !st.success(),
        "SIGKILL should not look like a clean exit: {st}"
    );

    let stored = ids_of(&stored_events(tmp.path(), &data));
    let lost: Vec<_> = acknowledged.difference(&stored).collect();
    assert!(
        lost.is_empty(),
        "events acknowledged by the API but lost after SIGKILL: {lost:?} (stored {stored:?})"
    );
}

/// Faces end to end on real video: enrol two people from photo folders,
/// analyse the Hamilton clip with live face matching, and get a vote-backed
/// `face_match` for the person who is on stage, with evidence; then find
/// them again by photo among the stored sightings, and start lost-child
/// mode on that camera.
#[test]
fn faces_watchlist_live_match_search_and_lost_mode() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let lin = base::env::require_data("faces/lin_manuel_miranda");
    let alex = base::env::require_data("faces/alex_lacamoire");
    for (name, folder) in [("Lin-Manuel Miranda", &lin), ("Alex Lacamoire", &alex)] {
        let r = run_kuzet(
            dir.path(),
            &[
                "watchlist",
                "add",
                "--data-dir",
                s(&data),
                "--list",
                "wanted",
                "--category",
                "wanted",
                "--name",
                name,
                s(folder),
            ],
            ANALYZE_LIMIT,
        );
        assert!(r.status.success(), "enrol {name}: {}", r.stderr);
        assert!(r.stdout.contains("enrolled person"), "{}", r.stdout);
    }
    // Live matching on the camera needs a legal authorisation, approved by a
    // second person (or urgent); then searches name it too.
    let expires = (base::Clock::now(&base::SystemClock).millis() + 86_400_000).to_string();
    let authorise = |class: &str, list: &str, extra: &[&str]| {
        let mut args = vec![
            "authorisation",
            "add",
            "--purpose",
            "both",
            "--legal-ground",
            "CCP art. 231",
            "--authority",
            "City court",
            "--decision",
            "D-1/2026",
            "--cameras",
            "hamilton_faces",
            "--watchlists",
            list,
            "--list-class",
            class,
            "--expires",
            expires.as_str(),
            "--by",
            "ivan",
            "--data-dir",
            s(&data),
        ];
        args.extend_from_slice(extra);
        let r = run_kuzet(dir.path(), &args, QUICK_LIMIT);
        assert!(r.status.success(), "authorisation add: {}", r.stderr);
        assert!(r.stdout.contains("recorded authorisation"), "{}", r.stdout);
    };
    authorise("criminal", "wanted", &[]);
    let approve = |by: &str| {
        run_kuzet(
            dir.path(),
            &[
                "authorisation",
                "approve",
                "1",
                "--by",
                by,
                "--data-dir",
                s(&data),
            ],
            QUICK_LIMIT,
        )
    };
    let r = approve("ivan");
    assert!(!r.status.success(), "the requester cannot approve");
    assert!(r.stderr.contains("cannot also approve"), "{}", r.stderr);
    let r = approve("sara");
    assert!(r.status.success(), "approve: {}", r.stderr);
    let video = base::env::require_data("videos/hamilton_faces.mp4");
    let r = run_kuzet(
        dir.path(),
        &[
            "analyze",
            s(&video),
            "--faces",
            "--json",
            "--data-dir",
            s(&data),
        ],
        ANALYZE_LIMIT,
    );
    assert_no_panic(&r.stderr, "analyze --faces");
    assert!(r.status.success(), "analyze --faces: {}", r.stderr);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert!(u64_at(summary, "/summary/faces/passed") > 0, "{summary}");
    let matches: Vec<&Value> = lines.iter().filter(|e| e["kind"] == "face_match").collect();
    assert!(
        matches
            .iter()
            .any(|e| e["details"]["person_name"] == "Lin-Manuel Miranda"),
        "no face_match for the person on stage: {matches:?}"
    );
    for m in &matches {
        assert!(u64_at(m, "/details/votes") >= 2, "voted: {m}");
        assert!(m["score"].as_f64().unwrap() >= 0.45, "{m}");
        assert_evidence(&data, m["evidence"].as_str().unwrap());
        assert_evidence(&data, m["details"]["frame_evidence"].as_str().unwrap());
    }
    // One alert per (track, person).
    let keys: BTreeSet<(u64, i64)> = matches
        .iter()
        .map(|m| {
            (
                u64_at(m, "/track_id"),
                m["details"]["person_id"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(keys.len(), matches.len(), "repeated alerts: {matches:?}");

    let photo = lin.join("fr_lin-manuel-miranda.png");
    let search = |auth: &[&str]| {
        let mut args = vec![
            "search",
            "face",
            s(&photo),
            "--json",
            "--camera",
            "hamilton_faces",
            "--data-dir",
            s(&data),
        ];
        args.extend_from_slice(auth);
        run_kuzet(dir.path(), &args, QUICK_LIMIT)
    };
    let r = search(&[]);
    assert!(
        !r.status.success(),
        "a search without an authorisation runs"
    );
    assert!(r.stderr.contains("--authorisation"), "{}", r.stderr);
    let r = search(&["--authorisation", "1"]);
    assert!(r.status.success(), "search face: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let apps = v["appearances"].as_array().unwrap();
    assert!(!apps.is_empty(), "{v}");
    assert_eq!(apps[0]["camera"], "hamilton_faces");
    assert_evidence(&data, apps[0]["best"]["crop"].as_str().unwrap());

    // Identifying a photo against the watchlists needs an authorisation
    // too (as the API does), and searches only the lists it covers.
    let identify = |auth: &[&str]| {
        let mut args = vec!["identify", s(&photo), "--json", "--data-dir", s(&data)];
        args.extend_from_slice(auth);
        run_kuzet(dir.path(), &args, QUICK_LIMIT)
    };
    let r = identify(&[]);
    assert!(
        !r.status.success(),
        "identify without an authorisation runs"
    );
    assert!(r.stderr.contains("--authorisation"), "{}", r.stderr);
    let r = identify(&["--authorisation", "1"]);
    assert!(r.status.success(), "identify: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["authorisation"], 1);
    let decisions: Vec<&Value> = v["faces"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["search"].as_object().map(|s| &s["decision"]))
        .collect();
    assert!(
        decisions
            .iter()
            .any(|d| d["decision"] == "match" && d["person_name"] == "Lin-Manuel Miranda"),
        "{v}"
    );

    // Lost-child mode rests on a missing-person authorisation (urgent: in
    // effect before approval).
    authorise("missing", "lost-children", &["--urgent"]);
    let r = run_kuzet(
        dir.path(),
        &[
            "lost",
            s(&photo),
            "--cameras",
            "hamilton_faces",
            "--minutes",
            "600",
            "--authorisation",
            "2",
            "--json",
            "--data-dir",
            s(&data),
        ],
        QUICK_LIMIT,
    );
    assert!(r.status.success(), "lost: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["person"]["temporary"], true);
    assert!(!v["appearances"].as_array().unwrap().is_empty(), "{v}");
    // That authorisation covers only the lost-children list: the wanted
    // person is not even a candidate under it.
    let r = identify(&["--authorisation", "2"]);
    assert!(r.status.success(), "identify: {}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    for f in v["faces"].as_array().unwrap() {
        for c in f["search"]["candidates"].as_array().into_iter().flatten() {
            assert_ne!(c["watchlist"], "wanted", "{v}");
        }
    }
    let r = run_kuzet(
        dir.path(),
        &[
            "lost",
            s(&photo),
            "--cameras",
            "nowhere",
            "--data-dir",
            s(&data),
        ],
        QUICK_LIMIT,
    );
    assert!(!r.status.success());
    assert!(r.stderr.contains("nowhere"), "{}", r.stderr);
}

/// Fire detection in the pipeline on snapshot-camera stills: the same fire
/// photo five times (one per second) raises one `fire` alarm once the hits
/// persist; a folder of a no-fire scene raises none.
#[test]
fn fire_alarm_from_a_snapshot_camera_and_none_without_fire() {
    let dir = tempfile::tempdir().unwrap();
    let run = |name: &str, photo: &str| -> Vec<Value> {
        let src = base::env::require_data(photo);
        let imgs = dir.path().join(name);
        std::fs::create_dir_all(&imgs).unwrap();
        for i in 0..5 {
            std::os::unix::fs::symlink(&src, imgs.join(format!("f{i}.jpg"))).unwrap();
        }
        let cfg = dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &cfg,
            format!(
                "[[camera]]\nid = \"{name}\"\nurl = \"{}\"\nfps = 1\n[camera.fire]\nrequire_flicker = false\n",
                imgs.display()
            ),
        )
        .unwrap();
        let data = dir.path().join(format!("{name}-data"));
        let r = run_kuzet(
            dir.path(),
            &[
                "analyze",
                "--config",
                s(&cfg),
                "--json",
                "--data-dir",
                s(&data),
            ],
            ANALYZE_LIMIT,
        );
        assert_no_panic(&r.stderr, "analyze with fire");
        assert!(r.status.success(), "{}", r.stderr);
        let lines: Vec<Value> = r
            .stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        for e in lines.iter().filter(|e| e["kind"] == "fire") {
            assert_evidence(&data, e["evidence"].as_str().unwrap());
        }
        lines
    };
    let fire = run("tower", "fire/fire_004.jpg");
    let alarms: Vec<&Value> = fire.iter().filter(|e| e["kind"] == "fire").collect();
    assert_eq!(alarms.len(), 1, "one alarm, not one per frame: {fire:?}");
    assert_eq!(count_at(fire.last().unwrap(), "/summary/events/fire"), 1);
    let calm = run("lobby", "fire/nofire_009.jpg");
    assert!(
        calm.iter()
            .all(|e| e["kind"] != "fire" && e["kind"] != "smoke"),
        "{calm:?}"
    );
}

/// The situation centre end to end in headless Chromium, fed only by the
/// real pipeline: `kuzet serve` analyses the pedestrian clip (a looping,
/// real-time camera with a dwell zone) and a snapshot camera of labelled
/// plate stills. An operator logs in, a zone-dwell alert the pipeline raises
/// appears live and pinned, the operator opens its evidence and confirms it;
/// a wildcard plate search finds a labelled plate the pipeline read; the map
/// shows both cameras; a zone drawn while it runs takes effect without a
/// restart. Screenshots go to `target/browser-artifacts/e2e-*`.
#[test]
fn browser_shows_live_alert_from_real_video_and_plate_search() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let folder = dir.join("gate");
    let stills = stills::copy_stills(&folder);
    let cfg = format!(
        r#"[[camera]]
id = "walk"
name = "Campus walkway"
url = "{video}"
fps = 5
realtime = true
loop = true
location = {{ lat = 43.2380, lon = 76.9450 }}
{WALKWAY_RULES}
[[camera]]
id = "gate"
name = "Gate ANPR"
url = "{folder}"
fps = 2
location = {{ lat = 43.2405, lon = 76.9300 }}

[camera.plates]
countries = ["us"]
"#,
        video = pedestrians().display(),
        folder = folder.display(),
    );
    let config = dir.join("centre.toml");
    std::fs::write(&config, cfg).unwrap();
    let data = dir.join("data");
    let srv = Serve::start(dir, &config, &data);
    let add = srv
        .http
        .post(format!("{}/api/users", srv.base))
        .json(
            &serde_json::json!({"name": "dana", "role": "operator", "password": "operator-pass-1"}),
        )
        .send()
        .unwrap();
    assert!(
        add.status().is_success(),
        "adding an operator: {}",
        add.status()
    );

    let driver = webdriver::Driver::start();
    let b = webdriver::Browser::open(&driver, webdriver::artifacts_dir());
    b.goto(&format!("{}/#/live", srv.base));
    b.wait("the login page", "document.querySelector('#login-name')");
    b.type_text("#login-name", "dana");
    b.type_text("#login-password", "operator-pass-1");
    b.click("#login-submit");
    b.wait("the app to start", "document.body.dataset.ready === 'true'");
    b.wait(
        "the live stream",
        "document.querySelector('#conn.conn-open')",
    );
    // What the feed held when the page opened: the alert must come later,
    // over the live stream.
    let before = b.js("return [...document.querySelectorAll('.alert')].map(li => li.dataset.id);");
    let before: Vec<String> = serde_json::from_value(before).unwrap();
    let dwell =
        "[...document.querySelectorAll('.pinned-list .alert.pinned[data-kind=\"zone_dwell\"]')]";
    b.wait_for(
        "a zone-dwell alert from the video, live and pinned",
        &format!("{dwell}.length > 0"),
        Duration::from_secs(120),
    );
    let id = b.js(&format!("return {dwell}.map(li => li.dataset.id).pop();"));
    let id = id.as_str().unwrap().to_string();
    assert!(
        !before.contains(&id),
        "alert {id} was already in the feed when the page loaded: {before:?}"
    );
    b.screenshot("e2e-1-live-alert");

    // Its evidence, from the pipeline's own frame.
    let row = format!(".pinned-list .alert[data-id=\"{id}\"]");
    b.click(&format!("{row} .kind"));
    b.wait(
        "the detail view",
        &format!("location.hash === '#/events/{id}'"),
    );
    b.wait(
        "the crop evidence",
        "(i => i && i.complete && i.naturalWidth > 0)(document.querySelector('img.evidence-crop'))",
    );
    b.wait(
        "the full-frame evidence",
        "(i => i && i.complete && i.naturalWidth > 0)(document.querySelector('img.evidence-frame'))",
    );
    b.type_text(".review-comment", "person lingering at the lawn edge");
    b.click("button.review-confirm");
    b.wait(
        "the confirmed status",
        "document.querySelector('.review-status[data-status=\"confirmed\"]')",
    );
    b.screenshot("e2e-2-evidence-confirmed");
    // The alert's clip from the real video (3 s after the alert, then
    // encoded): the detail view finds it and Chromium plays it.
    b.wait_for(
        "the alert's video clip, playable",
        "(v => v && v.readyState >= 1 && v.duration > 1)(document.querySelector('video.evidence-clip'))",
        Duration::from_secs(40),
    );
    let clip = srv.get_json(&format!("/api/events/{id}"));
    assert_eq!(clip["details"]["clip"]["mime"], "video/mp4", "{clip}");
    let review = srv.get_json(&format!("/api/events/{id}/review"));
    assert_eq!(review["state"]["status"], "confirmed", "{review}");
    assert_eq!(
        review["state"]["confirmed_by"],
        serde_json::json!(["dana"]),
        "{review}"
    );

    // The plate stills were read by the pipeline; a wildcard search finds a
    // labelled plate among them.
    let deadline = Instant::now() + Duration::from_secs(120);
    let found = loop {
        let reads = srv.get_json("/api/plates?limit=100");
        let texts: Vec<String> = reads["reads"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|r| r["plate"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let Some((_, t, _)) = stills.iter().find(|(_, t, _)| texts.contains(t)) {
            break t.clone();
        }
        assert!(
            Instant::now() < deadline,
            "no labelled plate of {stills:?} read within 120 s: {texts:?}\nstderr:\n{}",
            srv.proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    b.goto(&format!("{}/#/search", srv.base));
    b.wait(
        "the plate search form",
        "document.querySelector('form.search-plates input[name=pattern]')",
    );
    b.type_text(
        "form.search-plates input[name=pattern]",
        &format!("{}*", &found[..3]),
    );
    b.click("form.search-plates button[type=submit]");
    b.wait(
        "the labelled plate in the results",
        &format!(
            "(r => r && r.querySelector('img.thumb') && r.querySelector('img.thumb').complete)\
             (document.querySelector('.plate-results tr[data-plate=\"{found}\"]'))"
        ),
    );
    b.screenshot("e2e-3-plate-search");

    // Both cameras on the map.
    b.goto(&format!("{}/#/map", srv.base));
    b.wait(
        "the map",
        "document.querySelector('svg.map .districts polygon')",
    );
    let dots = b.js("return [...document.querySelectorAll('svg.map .cams .cam')].map(g => g.dataset.id).sort();");
    assert_eq!(dots, serde_json::json!(["gate", "walk"]));
    b.screenshot("e2e-4-map");

    // A zone drawn now (the web app's editor calls this route) is saved to
    // the config file and applies to the running camera without a restart:
    // people walking through it enter it.
    let put = srv
        .http
        .put(format!("{}/api/cameras/walk/zones/whole-frame", srv.base))
        .json(&serde_json::json!({"polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]}))
        .send()
        .unwrap();
    let status = put.status();
    let body: Value = put.json().unwrap();
    assert!(status.is_success(), "PUT zone: {status} {body}");
    // A position report reaches the running engine, which refuses it for a
    // camera without `[camera.fire] ptz = true` and names the setting.
    let ptz = srv
        .http
        .post(format!("{}/api/cameras/walk/ptz", srv.base))
        .json(&serde_json::json!({"azimuth_deg": 120.0}))
        .send()
        .unwrap();
    let (status, refused) = (ptz.status().as_u16(), ptz.json::<Value>().unwrap());
    assert_eq!(status, 422, "{refused}");
    assert!(
        refused["error"].as_str().unwrap().contains("ptz = true"),
        "{refused}"
    );
    assert_eq!(body["applied"], true, "{body}");
    assert_eq!(body["restart_required"], false, "{body}");
    assert!(std::fs::read_to_string(&config)
        .unwrap()
        .contains("whole-frame"));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = srv.get_json("/api/events?camera=walk&kind=zone_enter&limit=1000");
        let entered = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["rule"] == "whole-frame");
        if entered {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no zone_enter for the zone drawn live within 60 s\nstderr:\n{}",
            srv.proc.stderr()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    // The only expected console error is the 401 of the session check
    // before the login.
    let errors: Vec<String> = webdriver::severe(&b.console())
        .into_iter()
        .filter(|m| !m.contains("401"))
        .collect();
    assert!(errors.is_empty(), "console errors: {errors:#?}");
}
