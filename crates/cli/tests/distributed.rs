//! Distributed mode end to end: a real `nats-server -js`, one `kuzet serve
//! --bus` and three `kuzet worker`s on four cameras playing real clips in
//! real time. One worker is killed (SIGKILL) mid-stream; the test checks that
//! its cameras are leased by the others within the stated bound and produce
//! events again, and that every event a worker saw acknowledged by the broker
//! is in the server's store exactly once.
//!
//! A second test runs plate reading on a worker: real plate stills, the
//! voted reads published over the bus, stored centrally once each and
//! matched against a hotlist by the server.
//!
//! The failover test runs twice: with the ingested data in the server's
//! SQLite store, and with it in PostgreSQL (`kuzet serve --bus --database
//! postgres://…`, a throw-away server from Debian's binaries), where the
//! check reads the PostgreSQL tables directly.
//!
//! Needs the Debian packages `nats-server` and `postgresql` (installed by
//! scripts/setup.sh).

#[path = "support/login.rs"]
mod login;
#[path = "support/stills.rs"]
mod stills;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");

/// The lease TTL the workers run with (seconds). docs/distributed.md states
/// the failover bound: TTL + one heartbeat (TTL/3), plus the engine restart.
const TTL: f64 = 3.0;
/// The bound checked: TTL × 4/3 for the lease, plus slack for a loaded
/// 2-core machine running four other processes.
const TAKEOVER_LIMIT: Duration = Duration::from_secs(12);

struct Proc {
    child: Child,
    name: String,
    stdout: PathBuf,
    stderr: PathBuf,
}

impl Proc {
    fn spawn(mut cmd: Command, dir: &Path, name: &str) -> Proc {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        cmd.stdin(Stdio::null())
            .stdout(File::create(&stdout).unwrap())
            .stderr(File::create(&stderr).unwrap());
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({cmd:?}): {e}"));
        Proc {
            child,
            name: name.into(),
            stdout,
            stderr,
        }
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// Waits for the exit after SIGTERM; panics (with stderr) past `limit`.
    fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let t = Instant::now();
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if t.elapsed() > limit {
                let _ = self.child.kill();
                panic!(
                    "{} did not exit within {limit:?}\n{}",
                    self.name,
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn nats_server() -> PathBuf {
    for dir in ["/usr/sbin", "/usr/bin", "/usr/local/bin"] {
        let p = Path::new(dir).join("nats-server");
        if p.is_file() {
            return p;
        }
    }
    panic!(
        "nats-server not found: install the Debian package `nats-server` \
         (`sudo apt-get install nats-server`; scripts/setup.sh does it)"
    );
}

fn wait_port(port: u16, limit: Duration, what: &str) {
    let t = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < limit,
            "{what} not listening on {port} after {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// GET on 127.0.0.1:port → (status, body).
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split_whitespace().nth(1)?.parse().ok()?;
    let body = out.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    Some((status, body))
}

/// What a worker printed: acknowledged event ids per camera, lease changes.
#[derive(Default, Debug)]
struct WorkerLog {
    acked: Vec<(String, String)>,
    /// (camera, "claimed" | "released" | "lost"), in order.
    leases: Vec<(String, String)>,
}

fn parse(out: &str) -> WorkerLog {
    let mut log = WorkerLog::default();
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if let Some(a) = v.get("acked") {
            log.acked.push((
                a["msg_id"].as_str().unwrap().to_string(),
                a["camera"].as_str().unwrap().to_string(),
            ));
        } else if let Some(kind) = v.get("lease").and_then(Value::as_str) {
            log.leases
                .push((v["camera"].as_str().unwrap().to_string(), kind.to_string()));
        }
    }
    log
}

/// Cameras a worker holds according to its lease log.
fn holding(log: &WorkerLog) -> BTreeSet<String> {
    let mut held = BTreeSet::new();
    for (cam, what) in &log.leases {
        if what == "claimed" {
            held.insert(cam.clone());
        } else {
            held.remove(cam);
        }
    }
    held
}

const CLIPS: [(&str, &str); 4] = [
    ("walk", "videos/vtest_pedestrians.mp4"),
    ("aisle", "videos/store_aisle_shoppers.mp4"),
    ("yard", "videos/worker_zone.mp4"),
    ("road", "videos/traffic_road_two_lanes.mp4"),
];

fn config(dir: &Path) -> PathBuf {
    let mut cfg = String::from("[detect]\ninput_size = 320\n\n");
    for (id, clip) in CLIPS {
        let video = base::env::require_data(clip);
        // Real time and looping, like live cameras; 3 analysed fps keeps four
        // cameras and four processes light on two cores. A whole-frame zone
        // turns every new track into a zone_enter event.
        cfg.push_str(&format!(
            "[[camera]]\nid = \"{id}\"\nurl = \"{}\"\nfps = 3\nrealtime = true\nloop = true\n\n\
             [[camera.zone]]\nname = \"all\"\npolygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]\n\n",
            video.display()
        ));
    }
    let p = dir.join("cameras.toml");
    std::fs::write(&p, cfg).unwrap();
    p
}

fn kuzet(args: &[&str]) -> Command {
    let mut c = Command::new(KUZET);
    c.args(args)
        .env("KUZET_MODELS", base::env::require_models())
        .env("KUZET_DATA", base::env::data_dir())
        .env("KUZET_LOG", "warn,kuzet_bus=info");
    c
}

/// Polls until `f` returns Some, or panics with `what` after `limit`.
fn until<T>(limit: Duration, what: impl Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let t = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(t.elapsed() < limit, "{}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The two tests each run a broker, a server and workers; on a 2-core
/// machine they would distort each other's timings, so they run one at a time.
/// A throw-away `nats-server -js` on a free port; its URL.
fn start_nats(dir: &Path) -> (Proc, String) {
    let port = free_port();
    let nats = Proc::spawn(
        {
            let mut c = Command::new(nats_server());
            c.args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
                .arg(dir.join("jetstream"));
            c
        },
        dir,
        "nats",
    );
    wait_port(port, Duration::from_secs(20), "nats-server");
    (nats, format!("nats://127.0.0.1:{port}"))
}

/// `kuzet serve --bus` on `data` with `cfg`, listening on a free port.
fn start_serve(dir: &Path, cfg: &Path, data: &Path, bus: &str) -> (Proc, u16) {
    let http = free_port();
    let serve = Proc::spawn(
        kuzet(&[
            "serve",
            "--config",
            cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--listen",
            &format!("127.0.0.1:{http}"),
            "--bus",
            bus,
        ]),
        dir,
        "serve",
    );
    wait_port(http, Duration::from_secs(90), "kuzet serve");
    (serve, http)
}

/// One `kuzet worker` with a 3 s lease TTL, its probes and metrics on a
/// free port (returned).
fn start_worker(dir: &Path, cfg: &Path, bus: &str, id: &str) -> (Proc, u16) {
    let port = free_port();
    let w = Proc::spawn(
        kuzet(&[
            "worker",
            "--config",
            cfg.to_str().unwrap(),
            "--bus",
            bus,
            "--id",
            id,
            "--lease-ttl",
            "3",
            "--json",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ]),
        dir,
        id,
    );
    (w, port)
}

/// The worker role's operations endpoints: liveness, readiness (bus
/// connected and leasing) and Prometheus metrics with the bus series.
fn check_worker_endpoints(port: u16) {
    wait_port(port, Duration::from_secs(30), "kuzet worker --listen");
    let (status, _) = http_get(port, "/healthz").expect("GET /healthz");
    assert_eq!(status, 200);
    let ready: Value = until(
        Duration::from_secs(20),
        || format!("worker not ready: {:?}", http_get(port, "/readyz")),
        || {
            let (status, body) = http_get(port, "/readyz")?;
            (status == 200).then(|| serde_json::from_str(&body).unwrap())
        },
    );
    assert_eq!(ready["bus_connected"], true, "{ready}");
    assert_eq!(ready["leasing"], true, "{ready}");
    // The engine series appears once the worker has leased its camera.
    until(
        Duration::from_secs(20),
        || format!("worker metrics: {:?}", http_get(port, "/metrics")),
        || {
            let (status, metrics) = http_get(port, "/metrics")?;
            (status == 200 && metrics.contains("kuzet_worker_engine_restarts_total")).then_some(())
        },
    );
    let (status, _) = http_get(port, "/nope").expect("GET /nope");
    assert_eq!(status, 404);
}

/// A number from the serve node's SQLite, read-only (None until readable).
fn sqlite_count(db: &Path, sql: &str) -> Option<i64> {
    let c = rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .ok()?;
    c.query_row(sql, [], |r| r.get(0)).ok()
}

/// Stops the worker cleanly, waits until the ingest has nothing pending,
/// then stops the server cleanly.
fn stop_worker_then_serve(worker: &mut Proc, serve: &mut Proc, http: u16) {
    worker.signal(libc::SIGTERM);
    let st = worker.wait_exit(Duration::from_secs(60));
    assert!(st.success(), "worker exited {st}\n{}", worker.stderr());
    until(
        Duration::from_secs(30),
        || format!("the ingest did not drain: {:?}", http_get(http, "/readyz")),
        || {
            let (_, body) = http_get(http, "/readyz")?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (v["bus"]["pending"].as_u64() == Some(0)).then_some(())
        },
    );
    serve.signal(libc::SIGTERM);
    let st = serve.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "serve exited {st}\n{}", serve.stderr());
}

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[test]
fn killed_worker_cameras_fail_over_without_losing_or_duplicating_events() {
    failover(None);
}

/// The server lists the workers' cameras with their live status, and a
/// snapshot of one comes from the worker running it (bus::live).
fn check_live_cameras(http: u16, data: &Path) {
    let base = format!("http://127.0.0.1:{http}");
    let cookie = login::initial_admin_cookie(&base, data);
    let client = reqwest::blocking::Client::new();
    let get = |path: &str| {
        client
            .get(format!("{base}{path}"))
            .header("cookie", &cookie)
            .send()
            .unwrap()
    };
    let cams: Vec<Value> = until(
        Duration::from_secs(20),
        || {
            format!(
                "live status of {CLIPS:?}: {}",
                get("/api/cameras").text().unwrap()
            )
        },
        || {
            let cams: Vec<Value> = get("/api/cameras").json().ok()?;
            let online = CLIPS.iter().all(|(id, _)| {
                cams.iter().any(|c| {
                    c["id"] == *id
                        && c["state"] == "online"
                        && c["configured"] == true
                        && c["frames"].as_u64().unwrap_or(0) > 0
                })
            });
            online.then_some(cams)
        },
    );
    let (id, _) = CLIPS[0];
    let r = until(
        Duration::from_secs(10),
        || format!("no snapshot of {id}"),
        || {
            let r = get(&format!("/api/cameras/{id}/snapshot"));
            (r.status() == 200).then_some(r)
        },
    );
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    let img = image::load_from_memory(&r.bytes().unwrap()).unwrap();
    let cam = cams.iter().find(|c| c["id"] == id).unwrap();
    assert_eq!(
        (u64::from(img.width()), u64::from(img.height())),
        (
            cam["width"].as_u64().unwrap(),
            cam["height"].as_u64().unwrap()
        ),
        "the snapshot is the camera's analysed frame"
    );
    let missing = get("/api/cameras/no-such-camera/snapshot");
    assert_eq!(missing.status().as_u16(), 404);
}

/// The same scenario with the ingested data in PostgreSQL and the evidence
/// in S3-compatible object storage (moto): every event a worker saw
/// acknowledged is in PostgreSQL exactly once, its evidence is in the
/// bucket, nothing of the data plane lands in the server's SQLite or
/// evidence directory, and the live event stream shows every event once.
#[test]
fn killed_worker_cameras_fail_over_into_postgres_and_object_storage_without_losing_or_duplicating_events(
) {
    let pg = store_pg::testing::TempPostgres::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL for the distributed test: {e}"));
    let url = pg.create_database("central").unwrap();
    failover(Some(&url));
}

/// Ingested events as (dedupe key, camera, evidence), and the total count.
type StoredEvents = (Vec<(String, String, Option<String>)>, i64);

/// What the ingest stored in PostgreSQL, read with SQL (not through the
/// code under test's queries): events, and counts of the other tables.
fn pg_stored(url: &str) -> (StoredEvents, BTreeMap<&'static str, i64>) {
    let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(url)).unwrap();
    pg.run(|pool| async move {
        let err = |e: sqlx::Error| store::StoreError::Backend(e.to_string());
        let rows: Vec<(String, String, Option<String>)> = sqlx::query_as(
            "SELECT dedupe_key, camera, evidence FROM event WHERE dedupe_key IS NOT NULL",
        )
        .fetch_all(&pool)
        .await
        .map_err(err)?;
        let mut counts = BTreeMap::new();
        for (name, sql) in [
            ("events", "SELECT count(*) FROM event"),
            ("cameras", "SELECT count(*) FROM camera"),
            ("tracks", "SELECT count(*) FROM track"),
            (
                "worker_runs",
                "SELECT count(*) FROM run WHERE origin IS NOT NULL",
            ),
        ] {
            let n: i64 = sqlx::query_scalar(sql)
                .fetch_one(&pool)
                .await
                .map_err(err)?;
            counts.insert(name, n);
        }
        Ok(((rows, counts["events"]), counts))
    })
    .unwrap()
}

const BUCKET: &str = "kuzet-evidence";

/// An SSE client of `/api/events/stream`, logged in as the initial admin,
/// collecting event ids on a thread of its own.
struct LiveClient {
    cookie: String,
    ids: std::sync::Arc<std::sync::Mutex<Vec<i64>>>,
}

impl LiveClient {
    fn open(http: u16, data: &Path) -> LiveClient {
        let base = format!("http://127.0.0.1:{http}");
        let cookie = login::initial_admin_cookie(&base, data);
        let stream = reqwest::blocking::Client::builder()
            .timeout(None)
            .build()
            .unwrap()
            .get(format!("{base}/api/events/stream"))
            .header("cookie", &cookie)
            .send()
            .unwrap();
        assert_eq!(stream.status().as_u16(), 200);
        let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = ids.clone();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if let Some(id) = line.strip_prefix("id:") {
                    if let Ok(id) = id.trim().parse::<i64>() {
                        sink.lock().unwrap().push(id);
                    }
                }
            }
        });
        LiveClient { cookie, ids }
    }
}

/// The bucket `kuzet serve --evidence` writes, read with the adapter.
fn bucket(moto: &objstore::testing::Moto) -> objstore::ObjectEvidence {
    objstore::ObjectEvidence::s3(&objstore::S3Config {
        endpoint: Some(moto.endpoint()),
        bucket: BUCKET.into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
        prefix: "central".into(),
    })
    .unwrap()
}

/// The PostgreSQL variant's extra checks, while `kuzet serve` still runs:
/// the live stream delivered every stored event once in id order, and the
/// events' evidence is in the bucket (readable through the API), not in
/// the data directory.
fn check_stream_and_bucket(
    url: &str,
    live: &LiveClient,
    moto: &objstore::testing::Moto,
    http: u16,
    data: &Path,
) {
    let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(url)).unwrap();
    let (ids, evidence, unindexed): (Vec<i64>, Vec<String>, Vec<String>) = pg
        .run(|pool| async move {
            let err = |e: sqlx::Error| store::StoreError::Backend(e.to_string());
            let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM event ORDER BY id")
                .fetch_all(&pool)
                .await
                .map_err(err)?;
            let ev: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT evidence FROM event WHERE evidence IS NOT NULL",
            )
            .fetch_all(&pool)
            .await
            .map_err(err)?;
            // Retention finds files through this index.
            let unindexed: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT e.evidence FROM event e
                 WHERE e.evidence IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM evidence x WHERE x.hash = e.evidence)",
            )
            .fetch_all(&pool)
            .await
            .map_err(err)?;
            Ok((ids, ev, unindexed))
        })
        .unwrap();
    assert!(
        unindexed.is_empty(),
        "evidence not in PostgreSQL's evidence index: {unindexed:?}"
    );
    until(
        Duration::from_secs(15),
        || {
            format!(
                "the live stream showed {} of {} events",
                live.ids.lock().unwrap().len(),
                ids.len()
            )
        },
        || (live.ids.lock().unwrap().len() >= ids.len()).then_some(()),
    );
    assert_eq!(
        *live.ids.lock().unwrap(),
        ids,
        "every event once, in id order"
    );
    let bucket = bucket(moto);
    use store::EvidenceBlobs;
    for h in &evidence {
        let local = data.join("evidence").join(&h[..2]).join(format!("{h}.jpg"));
        assert!(!local.exists(), "evidence {h} went to the data directory");
    }
    let h = evidence.iter().find(|h| bucket.exists(h).unwrap()).unwrap();
    let r = reqwest::blocking::Client::new()
        .get(format!("http://127.0.0.1:{http}/api/evidence/{h}"))
        .header("cookie", &live.cookie)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "GET /api/evidence/{h}");
    assert_eq!(r.bytes().unwrap().to_vec(), bucket.get(h).unwrap().unwrap());
}

/// Operators' case work on the events PostgreSQL holds, through the API as
/// the web app does it: an event's track, reviews with the two-person rule
/// for a face match, export (its evidence read back from the bucket),
/// dispatch, lock and unlock, the timeline. The rows land in PostgreSQL
/// beside the events (schema 5), none in the serve node's SQLite.
fn check_case_work_on_postgres(url: &str, http: u16, admin: &str, data: &Path) {
    let base = format!("http://127.0.0.1:{http}");
    let c = reqwest::blocking::Client::new();
    const PW: &str = "distributed-case-work-2026";
    for name in ["sup1", "sup2"] {
        let r = c
            .post(format!("{base}/api/users"))
            .header("cookie", admin)
            .json(&serde_json::json!({"name": name, "role": "supervisor", "password": PW}))
            .send()
            .unwrap();
        assert!(r.status().is_success(), "add {name}: {}", r.text().unwrap());
    }
    let (sup1, sup2) = (
        login::session_cookie(&base, "sup1", PW),
        login::session_cookie(&base, "sup2", PW),
    );
    let call = |method: &str, path: &str, cookie: &str, body: Option<Value>| -> (u16, Value) {
        let mut rq = c.request(method.parse().unwrap(), format!("{base}{path}"));
        rq = rq.header("cookie", cookie);
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let r = rq.send().unwrap();
        let status = r.status().as_u16();
        (status, r.json().unwrap_or(Value::Null))
    };

    // A worker's event with evidence in the bucket and a track.
    let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(url)).unwrap();
    let (id, camera): (i64, String) = pg
        .run(|pool| async move {
            sqlx::query_as(
                "SELECT e.id, e.camera FROM event e JOIN track t ON t.run_id = e.run_id
                   AND t.camera = e.camera AND t.track_id = e.track_id
                 WHERE e.evidence IS NOT NULL ORDER BY e.id LIMIT 1",
            )
            .fetch_one(&pool)
            .await
            .map_err(|e| store::StoreError::Backend(e.to_string()))
        })
        .unwrap();
    let (st, track) = call("GET", &format!("/api/events/{id}/track"), &sup1, None);
    assert_eq!(st, 200, "{track}");
    assert_eq!(track["track"]["camera"], camera.as_str(), "{track}");
    assert!(
        track["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["id"] == id),
        "{track}"
    );

    let (st, r) = call(
        "POST",
        &format!("/api/events/{id}/review"),
        &sup1,
        Some(serde_json::json!({"action": "confirm"})),
    );
    assert_eq!((st, r["status"].as_str()), (200, Some("confirmed")), "{r}");
    let (st, pkg) = call("GET", &format!("/api/events/{id}/export"), &sup1, None);
    assert_eq!(st, 200, "{pkg}");
    assert!(!pkg["files"].as_array().unwrap().is_empty(), "{pkg}");
    assert_eq!(pkg["missing"].as_array().unwrap().len(), 0, "{pkg}");
    let (st, r) = call(
        "POST",
        &format!("/api/events/{id}/dispatch"),
        &sup1,
        Some(serde_json::json!({"note": "unit 7"})),
    );
    assert_eq!(st, 200, "{r}");
    let lock = serde_json::json!({"case_ref": "CASE-7", "reason": "evidence"});
    let (st, r) = call(
        "POST",
        &format!("/api/events/{id}/lock"),
        &sup1,
        Some(lock.clone()),
    );
    assert_eq!(st, 200, "{r}");
    let (st, _) = call("POST", &format!("/api/events/{id}/lock"), &sup2, Some(lock));
    assert_eq!(st, 409, "a second lock is refused");
    let (_, list) = call(
        "GET",
        &format!("/api/events?limit=1&before_id={}", id + 1),
        &sup1,
        None,
    );
    let listed = list["events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == id)
        .cloned()
        .unwrap();
    assert_eq!(listed["lock"]["case_ref"], "CASE-7", "{listed}");
    let (st, r) = call("DELETE", &format!("/api/events/{id}/lock"), &sup2, None);
    assert_eq!(st, 200, "{r}");

    // The two-person rule on a face match stored in PostgreSQL.
    use base::Clock;
    let mut fm = base::Event::new(&camera, "face_match", base::SystemClock.now());
    fm.details = serde_json::json!({"person_id": 1});
    use store::StoreBackend;
    let fm = pg
        .ingest_events(None, vec![store::Keyed::plain(fm)])
        .unwrap()[0]
        .id
        .unwrap();
    let review = |cookie: &str| {
        call(
            "POST",
            &format!("/api/events/{fm}/review"),
            cookie,
            Some(serde_json::json!({"action": "confirm"})),
        )
    };
    let (st, r) = review(&sup1);
    assert_eq!(
        (st, r["status"].as_str()),
        (200, Some("pending_confirmation")),
        "{r}"
    );
    let (st, r) = call("GET", &format!("/api/events/{fm}/export"), &sup1, None);
    assert_eq!(st, 409, "exported before a second user confirmed: {r}");
    assert_eq!(review(&sup1).0, 409, "one user confirmed twice");
    let (st, r) = review(&sup2);
    assert_eq!((st, r["status"].as_str()), (200, Some("confirmed")), "{r}");
    assert_eq!(
        call("GET", &format!("/api/events/{fm}/export"), &sup2, None).0,
        200
    );

    let (st, tl) = call("GET", "/api/stats/timeline?hours=720", &sup1, None);
    assert_eq!(st, 200, "{tl}");
    assert!(tl["reviews"]["confirmed"].as_u64().unwrap() >= 1, "{tl}");

    let rows: (i64, i64, i64) = pg
        .run(|pool| async move {
            sqlx::query_as(
                "SELECT (SELECT count(*) FROM event_review),
                        (SELECT count(*) FROM event_review_action),
                        (SELECT count(*) FROM event_lock)",
            )
            .fetch_one(&pool)
            .await
            .map_err(|e| store::StoreError::Backend(e.to_string()))
        })
        .unwrap();
    assert_eq!(rows, (2, 4, 0), "reviews and locks in PostgreSQL");
    // The made-up match leaves (its review with it), so the checks of what
    // the workers stored see their events only.
    let left: i64 = pg
        .run(move |pool| async move {
            sqlx::query("DELETE FROM event WHERE id = $1")
                .bind(fm)
                .execute(&pool)
                .await
                .map_err(|e| store::StoreError::Backend(e.to_string()))?;
            sqlx::query_scalar("SELECT count(*) FROM event_review")
                .fetch_one(&pool)
                .await
                .map_err(|e| store::StoreError::Backend(e.to_string()))
        })
        .unwrap();
    assert_eq!(left, 1, "a review goes with its event");
    assert_eq!(
        sqlite_count(
            &data.join("kuzet.db"),
            "SELECT count(*) FROM event_review_action"
        ),
        Some(0),
        "reviews went to the serve node's SQLite"
    );
}

/// Nats, `kuzet serve --bus` (on PostgreSQL and object storage when
/// `database` is given) and three workers; one is killed mid-stream.
fn failover(database: Option<&str>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (_nats, bus) = start_nats(dir);
    let cfg = config(dir);
    let data = dir.join("data");
    let http = free_port();

    let listen = format!("127.0.0.1:{http}");
    // With PostgreSQL, evidence goes to a bucket too, and the server takes
    // bus, database and bucket from its config's `[cluster]` section
    // instead of flags.
    let moto = database.map(|_| {
        let m = objstore::testing::Moto::start();
        m.create_bucket(BUCKET);
        m
    });
    let serve_cfg = match database {
        Some(url) => {
            let p = dir.join("serve.toml");
            let text = std::fs::read_to_string(&cfg).unwrap();
            std::fs::write(
                &p,
                format!(
                    "{text}\n[cluster]\nbus = \"{bus}\"\ndatabase = \"{url}\"\n\
                     evidence = \"s3://{BUCKET}/central\"\n"
                ),
            )
            .unwrap();
            p
        }
        None => cfg.clone(),
    };
    let mut serve_args = vec![
        "serve",
        "--config",
        serve_cfg.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        &listen,
    ];
    if database.is_none() {
        serve_args.extend(["--bus", &bus]);
    }
    let mut serve_cmd = kuzet(&serve_args);
    if let Some(m) = &moto {
        serve_cmd
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_ENDPOINT_URL", m.endpoint());
    }
    let mut serve = Proc::spawn(serve_cmd, dir, "serve");
    wait_port(http, Duration::from_secs(60), "kuzet serve");
    // A live-stream client from before the first event: it must see every
    // event once, in id order.
    let live = database.map(|_| LiveClient::open(http, &data));
    let ttl = TTL.to_string();
    let mut workers: Vec<Option<Proc>> = (1..=3)
        .map(|i| {
            let id = format!("w{i}");
            Some(Proc::spawn(
                kuzet(&[
                    "worker",
                    "--config",
                    cfg.to_str().unwrap(),
                    "--bus",
                    &bus,
                    "--id",
                    &id,
                    "--lease-ttl",
                    &ttl,
                    "--json",
                ]),
                dir,
                &id,
            ))
        })
        .collect();
    let logs = |ws: &[Option<Proc>], files: &[PathBuf]| -> Vec<WorkerLog> {
        let _ = ws;
        files
            .iter()
            .map(|f| parse(&std::fs::read_to_string(f).unwrap_or_default()))
            .collect()
    };
    let files: Vec<PathBuf> = workers
        .iter()
        .map(|w| w.as_ref().unwrap().stdout.clone())
        .collect();
    let stderrs = |ws: &[Option<Proc>]| -> String {
        ws.iter()
            .flatten()
            .map(|w| format!("--- {}\n{}", w.name, w.stderr()))
            .collect()
    };

    // Every camera leased, every worker holding one, events acknowledged
    // from every camera.
    until(
        Duration::from_secs(90),
        || {
            format!(
                "cameras were not all leased and producing events\n{:?}\n{}",
                logs(&workers, &files),
                stderrs(&workers)
            )
        },
        || {
            let ls = logs(&workers, &files);
            let held: Vec<BTreeSet<String>> = ls.iter().map(holding).collect();
            let all: BTreeSet<String> = held.iter().flatten().cloned().collect();
            let cams_with_events: BTreeSet<&String> = ls
                .iter()
                .flat_map(|l| l.acked.iter().map(|(_, c)| c))
                .collect();
            (all.len() == CLIPS.len()
                && held.iter().all(|h| !h.is_empty())
                && held.iter().map(BTreeSet::len).sum::<usize>() == CLIPS.len()
                && cams_with_events.len() == CLIPS.len())
            .then_some(())
        },
    );
    let (status, body) = http_get(http, "/readyz").expect("GET /readyz");
    assert_eq!(status, 200, "serve not ready: {body}");
    let ready: Value = serde_json::from_str(&body).unwrap();
    let backend = if database.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(ready["bus"]["backend"], backend, "{ready}");
    let evidence = if database.is_some() { "s3" } else { "local" };
    assert_eq!(ready["bus"]["evidence"], evidence, "{ready}");
    check_live_cameras(http, &data);

    // Kill the worker holding the most cameras, mid-stream.
    let ls = logs(&workers, &files);
    let victim = (0..3).max_by_key(|&i| holding(&ls[i]).len()).unwrap();
    let orphans = holding(&ls[victim]);
    let acked_before_kill = ls[victim].acked.len();
    let survivors_leases_before: Vec<usize> = ls.iter().map(|l| l.leases.len()).collect();
    workers[victim].as_ref().unwrap().signal(libc::SIGKILL);
    let killed_at = Instant::now();
    let mut dead = workers[victim].take().unwrap();
    let _ = dead.child.wait();
    assert!(acked_before_kill > 0, "the victim had acknowledged nothing");

    // Its cameras are claimed by the survivors within the bound…
    let takeover = until(
        TAKEOVER_LIMIT,
        || {
            format!("cameras {orphans:?} of the killed worker were not leased by another within {TAKEOVER_LIMIT:?}\n{:?}\n{}", logs(&workers, &files), stderrs(&workers))
        },
        || {
            let ls = logs(&workers, &files);
            let mut claimed = BTreeSet::new();
            for (i, l) in ls.iter().enumerate() {
                if i == victim {
                    continue;
                }
                for (cam, what) in &l.leases[survivors_leases_before[i]..] {
                    if what == "claimed" && orphans.contains(cam) {
                        claimed.insert(cam.clone());
                    }
                }
            }
            (claimed == orphans).then(|| killed_at.elapsed())
        },
    );
    eprintln!("takeover of {orphans:?} after {takeover:?} (TTL {TTL} s)");
    // …and produce events again there.
    let acked_now: HashMap<usize, usize> = logs(&workers, &files)
        .iter()
        .enumerate()
        .map(|(i, l)| (i, l.acked.len()))
        .collect();
    until(
        Duration::from_secs(60),
        || {
            format!(
                "no event from {orphans:?} after the takeover\n{}",
                stderrs(&workers)
            )
        },
        || {
            let ls = logs(&workers, &files);
            let resumed: BTreeSet<&String> = ls
                .iter()
                .enumerate()
                .filter(|(i, _)| *i != victim)
                .flat_map(|(i, l)| l.acked[acked_now[&i]..].iter().map(|(_, c)| c))
                .filter(|c| orphans.contains(*c))
                .collect();
            (resumed.len() == orphans.len()).then_some(())
        },
    );

    // Clean stop: the survivors flush (everything they handed over is
    // acknowledged) and release their leases.
    for w in workers.iter().flatten() {
        w.signal(libc::SIGTERM);
    }
    for w in workers.iter_mut().flatten() {
        let st = w.wait_exit(Duration::from_secs(30));
        assert!(st.success(), "{} exited {st}\n{}", w.name, w.stderr());
    }
    // The server drains the stream (nothing pending), then stops.
    until(
        Duration::from_secs(30),
        || format!("the ingest did not drain: {:?}", http_get(http, "/readyz")),
        || {
            let (_, body) = http_get(http, "/readyz")?;
            let v: Value = serde_json::from_str(&body).ok()?;
            (v["bus"]["pending"].as_u64() == Some(0)).then_some(())
        },
    );
    std::thread::sleep(Duration::from_millis(1500));
    let (_, body) = http_get(http, "/readyz").unwrap();
    let ready: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(ready["bus"]["pending"].as_u64(), Some(0), "{ready}");
    if let (Some(url), Some(live), Some(moto)) = (database, &live, &moto) {
        check_stream_and_bucket(url, live, moto, http, &data);
        check_case_work_on_postgres(url, http, &live.cookie, &data);
        // The on-demand retention pass reaches PostgreSQL and the bucket
        // through the same `[cluster]` section (a dry run: nothing is due).
        let out = kuzet(&[
            "retention",
            "run",
            "--config",
            serve_cfg.to_str().unwrap(),
            "--data-dir",
            data.to_str().unwrap(),
            "--dry-run",
            "--json",
        ])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_ENDPOINT_URL", moto.endpoint())
        .output()
        .unwrap();
        assert!(
            out.status.success(),
            "retention run: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(r["postgres"]["dry_run"], true, "{r}");
        assert_eq!(r["postgres"]["classes"].as_array().unwrap().len(), 4, "{r}");
        assert_eq!(
            r["postgres"]["classes"][0]["rows"], 0,
            "nothing is due yet: {r}"
        );
    }
    serve.signal(libc::SIGTERM);
    let st = serve.wait_exit(Duration::from_secs(30));
    assert!(st.success(), "serve exited {st}\n{}", serve.stderr());

    // What the workers saw acknowledged (the killed one included).
    let ls: Vec<WorkerLog> = files
        .iter()
        .map(|f| parse(&std::fs::read_to_string(f).unwrap()))
        .collect();
    let mut acked: BTreeMap<String, String> = BTreeMap::new();
    for l in &ls {
        for (id, cam) in &l.acked {
            acked.insert(id.clone(), cam.clone());
        }
    }
    // What the store holds.
    let db = rusqlite::Connection::open(data.join("kuzet.db")).unwrap();
    let sqlite_events: i64 = db
        .query_row("SELECT count(*) FROM event", [], |r| r.get(0))
        .unwrap();
    let (rows, total) = match database {
        None => {
            let rows: Vec<(String, String, Option<String>)> = db
                .prepare(
                    "SELECT dedupe_key, camera, evidence FROM event WHERE dedupe_key IS NOT NULL",
                )
                .unwrap()
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            (rows, sqlite_events)
        }
        Some(url) => {
            let (events, counts) = pg_stored(url);
            assert_eq!(
                sqlite_events, 0,
                "events went to the serve node's SQLite instead of PostgreSQL"
            );
            assert_eq!(counts["cameras"], CLIPS.len() as i64, "{counts:?}");
            assert!(counts["tracks"] > 0, "no track in PostgreSQL: {counts:?}");
            // One run per worker engine session: at least one per worker.
            assert!(counts["worker_runs"] >= 3, "{counts:?}");
            eprintln!("postgres holds {counts:?}");
            events
        }
    };
    let stored: BTreeMap<String, String> = rows
        .iter()
        .map(|(id, cam, _)| (id.clone(), cam.clone()))
        .collect();
    assert_eq!(
        total as usize,
        rows.len(),
        "events without a message id in distributed mode"
    );
    assert_eq!(stored.len(), rows.len(), "an event is stored twice");
    let lost: Vec<&String> = acked
        .keys()
        .filter(|id| !stored.contains_key(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} acknowledged events are not in the store: {lost:?}",
        lost.len()
    );
    // The only stored events nobody reported as acknowledged are ones the
    // killed worker published while dying (acknowledged by the broker after
    // its last printed line), so they belong to its cameras.
    let unreported: Vec<(&String, &String)> = stored
        .iter()
        .filter(|(id, cam)| !acked.contains_key(*id) && !orphans.contains(*cam))
        .collect();
    assert!(
        unreported.is_empty(),
        "stored events no worker published: {unreported:?}"
    );
    // Evidence named by events arrived too — for the workers that stopped
    // cleanly (a killed worker's last event may be acknowledged before the
    // JPEG it names: the publisher pipelines acknowledgements).
    let clean: BTreeSet<&String> = ls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != victim)
        .flat_map(|(_, l)| l.acked.iter().map(|(id, _)| id))
        .collect();
    let mut with_evidence = 0;
    let objects = moto.as_ref().map(bucket);
    for (id, _, ev) in &rows {
        if let (Some(h), true) = (ev, clean.contains(id)) {
            with_evidence += 1;
            let found = match &objects {
                Some(b) => {
                    use store::EvidenceBlobs;
                    b.exists(h).unwrap()
                }
                None => data
                    .join("evidence")
                    .join(&h[..2])
                    .join(format!("{h}.jpg"))
                    .is_file(),
            };
            assert!(found, "evidence {h} of stored event {id} is missing");
        }
    }
    assert!(with_evidence > 0, "no stored event named an evidence JPEG");
    let cams: BTreeSet<&String> = stored.values().collect();
    assert_eq!(
        cams.len(),
        CLIPS.len(),
        "events from every camera: {cams:?}"
    );
    eprintln!(
        "{} events stored ({} acknowledged to workers, {} with evidence) from {:?}; whole test {:?}",
        rows.len(),
        acked.len(),
        with_evidence,
        cams,
        started.elapsed()
    );
}

/// A central `plate_reads` row: id, plate, dedupe key, run, plate crop, frame.
type StoredRead = (i64, String, Option<String>, Option<i64>, String, String);

/// A worker reads plates (models only) and publishes the voted reads; the
/// server stores each once and checks it against its hotlist, raising the
/// `hotlist_match` the embedded mode raises, with its evidence.
#[test]
fn worker_plate_reads_are_stored_centrally_and_hit_the_hotlist() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    // The rule of `tests/plates.rs`, on the labels only.
    let folder = dir.join("stills");
    let stills = stills::copy_stills(&folder);
    let (_, listed, _) = stills.iter().max_by_key(|r| r.2).unwrap().clone();
    let data = dir.join("data");
    // The hotlist lives centrally only: the worker never sees it.
    let add = kuzet(&[
        "hotlist",
        "add",
        "--data-dir",
        data.to_str().unwrap(),
        "--list",
        "stolen",
        "--plate",
        &listed,
        "--reason",
        "stolen in test",
        "--priority",
        "7",
    ])
    .output()
    .unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let cfg = dir.join("plates.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[owner]]\nid = \"roads\"\nkind = \"public_agency\"\n[owner.agreement]\n\
             reference = \"roads-2026/1\"\nanalytics = [\"plates\"]\n\n\
             [[camera]]\nid = \"lane\"\nurl = \"{}\"\nfps = 2\nowner = \"roads\"\n\n\
             [camera.plates]\nenabled = true\n",
            folder.display()
        ),
    )
    .unwrap();

    let (_nats, bus) = start_nats(dir);
    let (mut serve, http) = start_serve(dir, &cfg, &data, &bus);
    let (mut worker, probes) = start_worker(dir, &cfg, &bus, "w1");
    check_worker_endpoints(probes);
    let db_path = data.join("kuzet.db");
    let count = |sql: &str| sqlite_count(&db_path, sql);
    // The alert arrives once the worker read the listed plate and the
    // server ingested and matched it.
    until(
        Duration::from_secs(120),
        || {
            format!(
                "no hotlist_match for {listed} in the central store\n--- worker\n{}\n--- serve\n{}",
                worker.stderr(),
                serve.stderr()
            )
        },
        || (count("SELECT count(*) FROM event WHERE kind = 'hotlist_match'")? > 0).then_some(()),
    );
    let alert_after = started.elapsed();
    // The owner withdraws plate reading on the server: the running worker
    // hears it over the bus (it holds no store) and stops reading.
    let base = format!("http://127.0.0.1:{http}");
    let cookie = login::initial_admin_cookie(&base, &data);
    let r = reqwest::blocking::Client::new()
        .put(format!("{base}/api/owners/roads/agreement"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"analytics": [], "reason": "letter 3/2026: plate reading withdrawn"}))
        .send()
        .unwrap();
    assert!(r.status().is_success(), "withdrawal: {}", r.text().unwrap());
    until(
        Duration::from_secs(15),
        || {
            format!(
                "the worker never heard of the withdrawal\n--- worker\n{}\n--- serve\n{}",
                worker.stderr(),
                serve.stderr()
            )
        },
        || {
            worker
                .stderr()
                .contains("agreement terms changed at run time")
                .then_some(())
        },
    );
    stop_worker_then_serve(&mut worker, &mut serve, http);

    let db = rusqlite::Connection::open(&db_path).unwrap();
    let reads: Vec<StoredRead> = db
        .prepare(
            "SELECT id, plate, dedupe_key, run_id, plate_crop, frame FROM plate_reads ORDER BY id",
        )
        .unwrap()
        .query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!reads.is_empty(), "no plate read stored centrally");
    let keys: BTreeSet<&str> = reads
        .iter()
        .map(|r| {
            r.2.as_deref()
                .unwrap_or_else(|| panic!("a plate read without its message id: {r:?}"))
        })
        .collect();
    assert_eq!(
        keys.len(),
        reads.len(),
        "a plate read is stored twice: {reads:?}"
    );
    let evidence = |h: &str| data.join("evidence").join(&h[..2]).join(format!("{h}.jpg"));
    for r in &reads {
        assert!(r.3.is_some(), "plate read without the worker's run: {r:?}");
        assert!(
            evidence(&r.4).is_file() && evidence(&r.5).is_file(),
            "evidence of {r:?} missing"
        );
    }
    let texts: Vec<&str> = reads.iter().map(|r| r.1.as_str()).collect();
    let found = stills
        .iter()
        .filter(|(_, t, _)| texts.contains(&t.as_str()))
        .count();
    assert!(
        found * 2 >= stills.len(),
        "only {found} of {} labelled plates read exactly: {texts:?}",
        stills.len()
    );
    // One alert per (read, entry), carrying the embedded mode's details.
    let alerts: Vec<(Option<String>, String, Option<String>)> = db
        .prepare(
            "SELECT dedupe_key, details_json, evidence FROM event WHERE kind = 'hotlist_match'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut per_read = BTreeSet::new();
    let mut listed_hit = false;
    for (key, details, ev) in &alerts {
        let d: Value = serde_json::from_str(details).unwrap();
        let read_id = d["plate_read_id"].as_i64().unwrap();
        let read = reads
            .iter()
            .find(|r| r.0 == read_id)
            .unwrap_or_else(|| panic!("alert names no stored read: {d}"));
        assert_eq!(d["read"], read.1.as_str());
        assert_eq!(
            ev.as_deref(),
            Some(read.4.as_str()),
            "alert evidence = plate crop"
        );
        assert!(evidence(ev.as_deref().unwrap()).is_file());
        assert_eq!(d["frame_evidence"], read.5.as_str());
        let key = key.as_deref().expect("an alert without its key");
        assert!(
            key.starts_with(read.2.as_deref().unwrap()),
            "alert key {key} not derived from its read's"
        );
        assert!(
            per_read.insert((read_id, d["entry_id"].as_i64().unwrap())),
            "alert twice: {d}"
        );
        if d["listed_plate"] == listed.as_str() {
            assert_eq!(d["list"], "stolen");
            assert_eq!(d["priority"], 7);
            assert_eq!(d["reason"], "stolen in test");
            listed_hit = true;
        }
    }
    assert!(listed_hit, "no alert for {listed}: {alerts:?}");
    eprintln!(
        "{} plate reads stored centrally ({found} of {} labels read), {} hotlist alert(s); first alert after {alert_after:?}, whole test {:?}",
        reads.len(),
        stills.len(),
        alerts.len(),
        started.elapsed()
    );
}

/// A central `face_match` row: dedupe key, track, details, evidence.
type StoredAlert = (Option<String>, Option<i64>, String, Option<String>);

/// A worker detects and embeds faces on real video (models only: it holds
/// no watchlist); the server matches the published sightings against its
/// watchlist under an approved authorisation, raises `face_match` as the
/// embedded mode does, and keeps the sightings and crops sealed.
#[test]
fn worker_faces_are_matched_centrally_against_the_watchlist() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let run = |args: &[&str]| {
        let out = kuzet(args).output().unwrap();
        assert!(
            out.status.success(),
            "kuzet {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The watchlist and its legal basis live centrally only.
    let lin = base::env::require_data("faces/lin_manuel_miranda");
    run(&[
        "watchlist",
        "add",
        "--data-dir",
        data.to_str().unwrap(),
        "--list",
        "wanted",
        "--category",
        "wanted",
        "--name",
        "Lin-Manuel Miranda",
        lin.to_str().unwrap(),
    ]);
    let expires = (base::Clock::now(&base::SystemClock).millis() + 86_400_000).to_string();
    run(&[
        "authorisation",
        "add",
        "--purpose",
        "both",
        "--legal-ground",
        "CCP art. 231",
        "--authority",
        "City court",
        "--decision",
        "D-7/2026",
        "--cameras",
        "stage",
        "--watchlists",
        "wanted",
        "--list-class",
        "criminal",
        "--expires",
        &expires,
        "--by",
        "ivan",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    run(&[
        "authorisation",
        "approve",
        "1",
        "--by",
        "sara",
        "--data-dir",
        data.to_str().unwrap(),
    ]);
    let video = base::env::require_data("videos/hamilton_faces.mp4");
    let cfg = dir.join("faces.toml");
    std::fs::write(
        &cfg,
        format!(
            "[organisation]\nlaw_enforcement = true\n\n[faces]\nenabled = true\n\n\
             [[camera]]\nid = \"stage\"\nurl = \"{}\"\nfps = 5\n\n[camera.faces]\nenabled = true\n",
            video.display()
        ),
    )
    .unwrap();

    let (_nats, bus) = start_nats(dir);
    let (mut serve, http) = start_serve(dir, &cfg, &data, &bus);
    let (mut worker, probes) = start_worker(dir, &cfg, &bus, "w1");
    check_worker_endpoints(probes);
    let db_path = data.join("kuzet.db");
    let count = |sql: &str| sqlite_count(&db_path, sql);
    until(
        Duration::from_secs(180),
        || {
            format!(
                "no face_match for the person on stage in the central store\n--- worker\n{}\n--- serve\n{}",
                worker.stderr(),
                serve.stderr()
            )
        },
        || {
            (count(
                "SELECT count(*) FROM event WHERE kind = 'face_match' \
                 AND details_json LIKE '%Lin-Manuel Miranda%'",
            )? > 0)
                .then_some(())
        },
    );
    let alert_after = started.elapsed();
    stop_worker_then_serve(&mut worker, &mut serve, http);

    let db = rusqlite::Connection::open(&db_path).unwrap();
    // Alerts: keyed (a redelivery stores none twice), one per track and
    // person, each with its crop.
    let alerts: Vec<StoredAlert> = db
        .prepare(
            "SELECT dedupe_key, track_id, details_json, evidence FROM event \
             WHERE kind = 'face_match'",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut keys = BTreeSet::new();
    for (key, track, details, evidence) in &alerts {
        assert!(key.is_some(), "an alert from the bus without its key");
        let d: Value = serde_json::from_str(details).unwrap();
        assert!(
            keys.insert((*track, d["person_id"].as_i64())),
            "repeated alert {details}"
        );
        assert!(d["votes"].as_u64().unwrap_or(0) >= 2, "voted: {details}");
        let crop = evidence.as_deref().expect("alert without its crop");
        let file = data
            .join("evidence")
            .join(&crop[..2])
            .join(format!("{crop}.jpg"));
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            bytes.starts_with(b"KZSEAL1\n"),
            "face crop {crop} is stored in the clear"
        );
    }
    // Sightings: stored centrally, embeddings sealed, from the worker's run.
    let (sightings, sealed, matched): (i64, i64, i64) = db
        .query_row(
            "SELECT count(*), count(key_id), count(matched_person) FROM face_sighting",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert!(
        sightings > 0 && sealed == sightings,
        "{sightings} sightings, {sealed} sealed"
    );
    assert!(matched > 0, "no sighting marked as matched");
    eprintln!(
        "{} face_match alerts, {sightings} sightings ({matched} matched) after {alert_after:?}; whole test {:?}",
        alerts.len(),
        started.elapsed()
    );
}

/// `kuzet watchlist add --database` enrols into PostgreSQL's gallery, and
/// `kuzet keys rotate --database` re-seals its templates and the face
/// sightings kept sealed there under the new key with the serve node's own
/// data, so they still open after the key is swapped (and no longer open
/// under the old one).
#[test]
fn keys_rotate_reseals_the_gallery_and_sightings_in_postgres() {
    use std::sync::Arc;
    use store::StoreBackend;
    let pg = store_pg::testing::TempPostgres::start()
        .unwrap_or_else(|e| panic!("cannot start PostgreSQL: {e}"));
    let url = pg.create_database("rotate").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    store::Store::open(&data).unwrap().close();
    // The serve node's generated key, where `kuzet serve` keeps it.
    let (old, old_hex) = store::SealKey::generate();
    let old_id = old.id().to_owned();
    std::fs::create_dir_all(data.join("keys")).unwrap();
    std::fs::write(data.join("keys").join("evidence.key"), &old_hex).unwrap();
    let (new, new_hex) = store::SealKey::generate();
    let new_file = tmp.path().join("new.key");
    std::fs::write(&new_file, &new_hex).unwrap();

    let db = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
    db.set_seal_key(Arc::new(old));
    let sightings: Vec<store::Keyed<store::NewSighting>> = (0..3)
        .map(|i| {
            store::Keyed::with_key(
                format!("s/{i}"),
                store::NewSighting {
                    camera: "hall".into(),
                    ts: base::Timestamp(1_000 * i),
                    run_id: None,
                    track_id: Some(i as u64),
                    model: "m".into(),
                    embedding: (0..512).map(|j| ((i * 512 + j) as f32).sin()).collect(),
                    bbox: base::BBox::new(0.0, 0.0, 10.0, 10.0),
                    quality: 0.9,
                    crop: None,
                    matched_person: None,
                },
            )
        })
        .collect();
    db.ingest_sightings(sightings.clone()).unwrap();
    drop(db);
    // A person enrolled from the CLI into PostgreSQL's gallery, sealed
    // under the same key (loaded from the data directory).
    let photo = base::env::require_data("faces/obama/fr_obama.jpg");
    let out = kuzet(&[
        "watchlist",
        "add",
        "--data-dir",
        data.to_str().unwrap(),
        "--database",
        &url,
        "--list",
        "wanted",
        "--category",
        "wanted",
        "--name",
        "Obama",
        photo.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let out = kuzet(&[
        "watchlist",
        "ls",
        "--data-dir",
        data.to_str().unwrap(),
        "--database",
        &url,
        "--json",
    ])
    .output()
    .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(listed[0]["persons"][0]["name"], "Obama", "{listed}");
    assert!(
        store::Store::open(&data)
            .unwrap()
            .persons(None)
            .unwrap()
            .is_empty(),
        "the CLI enrolled into SQLite"
    );
    let model = faces::embed::FACEPLUGIN_512;
    let enrolled = {
        let db = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
        db.set_seal_key(Arc::new(
            store::SealKey::load(&data.join("keys").join("evidence.key")).unwrap(),
        ));
        db.face_templates(model).unwrap()
    };
    assert_eq!(enrolled.len(), 1);

    let out = kuzet(&[
        "keys",
        "rotate",
        "--new-key",
        new_file.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--database",
        &url,
    ])
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(
            "PostgreSQL: re-sealed 1 templates and 3 sightings (0 already under the new key)"
        ),
        "{stdout}"
    );
    let reopened = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
    reopened.set_seal_key(Arc::new(new));
    let back = reopened.sighting_embeddings("m", 0, 10).unwrap();
    assert_eq!(back.len(), 3);
    for ((_, v), s) in back.iter().zip(&sightings) {
        assert_eq!(v, &s.item.embedding);
    }
    assert_eq!(reopened.face_templates(model).unwrap(), enrolled);
    // The default key file now holds the new key; the old one, kept beside
    // it, opens nothing in PostgreSQL any more.
    let keys = data.join("keys");
    let installed = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
    installed.set_seal_key(Arc::new(
        store::SealKey::load(&keys.join("evidence.key")).unwrap(),
    ));
    assert_eq!(installed.sighting_embeddings("m", 0, 10).unwrap().len(), 3);
    let stale = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
    stale.set_seal_key(Arc::new(
        store::SealKey::load(&keys.join(format!("evidence.key.{old_id}.old"))).unwrap(),
    ));
    assert!(stale.sighting_embeddings("m", 0, 10).is_err());
    assert!(stale.face_templates(model).is_err());
}
