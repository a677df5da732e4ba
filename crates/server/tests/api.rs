//! The HTTP API over real loopback sockets: a server on 127.0.0.1:0 in front of
//! a temporary store, driven by a plain blocking HTTP client.

use base::{BBox, CameraState, CameraStatus, Event, Timestamp};
use kuzet_server::{install_metrics_recorder, CameraStatusFn};
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// 2023-11-14T22:13:20Z: seeded events are one second apart from here.
const T0: i64 = 1_700_000_000_000;

mod common;

struct TestServer {
    run: common::Running,
}

impl TestServer {
    fn start() -> Self {
        Self::start_with(Arc::new(Vec::new))
    }

    fn start_with(cameras: CameraStatusFn) -> Self {
        TestServer {
            run: common::start(cameras, |st, _| st),
        }
    }

    fn url(&self, path: &str) -> String {
        self.run.url(path)
    }

    fn get(&self, path: &str) -> reqwest::blocking::Response {
        client().get(self.url(path)).send().unwrap()
    }

    fn get_json(&self, path: &str) -> (u16, Value) {
        let r = self.get(path);
        let status = r.status().as_u16();
        let ct = r
            .headers()
            .get("content-type")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        assert!(
            ct.starts_with("application/json"),
            "{path}: content-type {ct:?}"
        );
        (status, r.json().unwrap())
    }

    /// Inserts events through the store, returning them with their ids.
    fn insert(&self, events: Vec<Event>) -> Vec<Event> {
        self.run.store.insert_events(events).unwrap()
    }

    /// Stops the server, returning how long `serve` took to return.
    fn stop(&mut self) -> Duration {
        let t = Instant::now();
        self.run.shutdown.trigger();
        let th = self.run.thread.take().unwrap();
        while !th.is_finished() {
            assert!(
                t.elapsed() < Duration::from_secs(5),
                "serve() did not return after shutdown"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let took = t.elapsed();
        th.join().unwrap().unwrap();
        took
    }
}

/// Every request is bounded, so a hung server fails the test instead of
/// hanging it.
/// Every request carries the default test user's token.
fn client() -> reqwest::blocking::Client {
    common::client_with(&common::default_token(), Duration::from_secs(10))
}

fn ev(camera: &str, kind: &str, i: i64) -> Event {
    let mut e = Event::new(camera, kind, Timestamp(T0 + i * 1000));
    e.track_id = Some(i as u64);
    e.label = Some("person".into());
    e.rule = Some("door".into());
    e.bbox = Some(BBox::new(1.0, 2.0, 30.0, 40.0));
    e.score = 0.9;
    e
}

/// 10 events: even i on "front", odd on "back"; every third is a line_cross,
/// the rest zone_enter; ts = T0 + i s.
fn seed(s: &TestServer) -> Vec<Event> {
    let events = (0..10)
        .map(|i| {
            let cam = if i % 2 == 0 { "front" } else { "back" };
            let kind = if i % 3 == 0 {
                "line_cross"
            } else {
                "zone_enter"
            };
            ev(cam, kind, i)
        })
        .collect();
    s.insert(events)
}

fn ids(v: &Value) -> Vec<i64> {
    v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn healthz_reports_ok_with_uptime_and_version() {
    let s = TestServer::start();
    let (status, v) = s.get_json("/healthz");
    assert_eq!(status, 200);
    assert_eq!(v["status"], "ok");
    assert!(v["uptime_s"].as_f64().unwrap() >= 0.0);
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
}

/// `/readyz` is public; without extra checks it follows the store, with
/// one (the bus ingest in distributed mode) it follows that too.
#[test]
fn readyz_reports_the_store_and_extra_checks() {
    let s = TestServer::start();
    let (status, v) = s.get_json("/readyz");
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ready"], true);
    assert_eq!(v["store"], true);

    let down = common::start(Arc::new(Vec::new), |st, _| {
        st.with_readiness(Arc::new(|| {
            (false, serde_json::json!({"connected": false, "pending": 7}))
        }))
    });
    let r = client().get(down.url("/readyz")).send().unwrap();
    assert_eq!(r.status().as_u16(), 503);
    let v: Value = r.json().unwrap();
    assert_eq!(v["ready"], false);
    assert_eq!(v["bus"]["pending"], 7);
}

#[test]
fn unknown_routes_and_methods_answer_json_errors() {
    let s = TestServer::start();
    let (status, v) = s.get_json("/api/nope");
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("/api/nope"), "{v}");
    assert!(v["hint"].as_str().unwrap().contains("/api/events"), "{v}");

    let r = client().post(s.url("/api/events")).send().unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let v: Value = r.json().unwrap();
    assert!(v["error"].as_str().is_some(), "{v}");
}

#[test]
fn events_filter_by_camera_kind_and_time_newest_first() {
    let s = TestServer::start();
    let all = seed(&s);
    let id = |i: usize| all[i].id.unwrap();

    let (status, v) = s.get_json("/api/events");
    assert_eq!(status, 200);
    assert_eq!(ids(&v), (0..10).rev().map(id).collect::<Vec<_>>());
    assert!(v["next_before_id"].is_null(), "everything fit in one page");
    let newest = &v["events"][0];
    assert_eq!(newest["time"], Timestamp(T0 + 9000).to_rfc3339());
    assert_eq!(newest["ts"], T0 + 9000);
    assert_eq!(newest["camera"], "back");
    assert!(newest.get("evidence_url").is_none(), "no evidence, no url");

    let (_, v) = s.get_json("/api/events?camera=front");
    assert_eq!(ids(&v), vec![id(8), id(6), id(4), id(2), id(0)]);

    let (_, v) = s.get_json("/api/events?kind=line_cross");
    assert_eq!(ids(&v), vec![id(9), id(6), id(3), id(0)]);

    let (_, v) = s.get_json("/api/events?camera=front&kind=line_cross");
    assert_eq!(ids(&v), vec![id(6), id(0)]);

    // since is inclusive, until exclusive; both formats accepted.
    let since = Timestamp(T0 + 2000).to_rfc3339();
    let (status, v) = s.get_json(&format!("/api/events?since={since}&until={}", T0 + 5000));
    assert_eq!(status, 200);
    assert_eq!(ids(&v), vec![id(4), id(3), id(2)]);

    // An offset in RFC 3339 is honoured: 22:13:27+01:00 is T0 + 7 s - 1 h.
    let (_, v) = s.get_json("/api/events?since=2023-11-14T23:13:27%2B01:00");
    assert_eq!(ids(&v), vec![id(9), id(8), id(7)]);

    // Empty parameters (as HTML forms send them) are ignored.
    let (status, v) = s.get_json("/api/events?camera=&kind=&since=");
    assert_eq!(status, 200);
    assert_eq!(ids(&v).len(), 10);
}

#[test]
fn events_page_with_next_before_id() {
    let s = TestServer::start();
    let all = seed(&s);
    let mut seen = Vec::new();
    let mut path = "/api/events?limit=4".to_string();
    let mut pages = 0;
    loop {
        let (status, v) = s.get_json(&path);
        assert_eq!(status, 200);
        let page = ids(&v);
        assert!(page.len() <= 4);
        seen.extend(page);
        pages += 1;
        assert!(pages < 10, "paging does not terminate");
        match v["next_before_id"].as_i64() {
            Some(b) => path = format!("/api/events?limit=4&before_id={b}"),
            None => break,
        }
    }
    let expected: Vec<i64> = all.iter().rev().map(|e| e.id.unwrap()).collect();
    assert_eq!(seen, expected, "pages cover every event once, newest first");

    // limit is capped rather than refused.
    let (status, v) = s.get_json("/api/events?limit=50000");
    assert_eq!(status, 200);
    assert_eq!(ids(&v).len(), 10);

    // Paging composes with filters.
    let (_, v) = s.get_json("/api/events?camera=back&limit=2");
    let first = ids(&v);
    let b = v["next_before_id"].as_i64().unwrap();
    let (_, v) = s.get_json(&format!("/api/events?camera=back&limit=2&before_id={b}"));
    let id = |i: usize| all[i].id.unwrap();
    assert_eq!(first, vec![id(9), id(7)]);
    assert_eq!(ids(&v), vec![id(5), id(3)]);
}

#[test]
fn bad_event_params_are_400_with_helpful_messages() {
    let s = TestServer::start();
    let (status, v) = s.get_json("/api/events?since=yesterday");
    assert_eq!(status, 400);
    let error = v["error"].as_str().unwrap();
    let hint = v["hint"].as_str().unwrap();
    assert!(
        error.contains("since") && error.contains("yesterday"),
        "{v}"
    );
    assert!(
        hint.contains("RFC 3339") && hint.contains("milliseconds"),
        "{v}"
    );

    let (status, v) = s.get_json("/api/events?until=2026-13-01T00:00:00Z");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("until"), "{v}");

    let (status, v) = s.get_json("/api/events?since=2000&until=1000");
    assert_eq!(status, 400, "{v}");

    for (q, name) in [
        ("limit=ten", "limit"),
        ("limit=0", "limit"),
        ("limit=-5", "limit"),
        ("before_id=x", "before_id"),
    ] {
        let (status, v) = s.get_json(&format!("/api/events?{q}"));
        assert_eq!(status, 400, "{q}");
        assert!(v["error"].as_str().unwrap().contains(name), "{q}: {v}");
        assert!(v["hint"].is_string(), "{q}: {v}");
    }

    // A misspelt parameter is an error, not a silently unfiltered answer.
    let (status, v) = s.get_json("/api/events?camra=front");
    assert_eq!(status, 400);
    assert!(v["error"].as_str().unwrap().contains("camra"), "{v}");
    assert!(v["hint"].as_str().unwrap().contains("camera"), "{v}");
}

#[test]
fn event_by_id_or_404() {
    let s = TestServer::start();
    let all = seed(&s);
    let id = all[3].id.unwrap();
    let (status, v) = s.get_json(&format!("/api/events/{id}"));
    assert_eq!(status, 200);
    assert_eq!(v["id"], id);
    assert_eq!(v["camera"], "back");
    assert_eq!(v["kind"], "line_cross");
    assert_eq!(v["time"], Timestamp(T0 + 3000).to_rfc3339());
    assert_eq!(v["bbox"]["x2"], 30.0);

    let (status, v) = s.get_json("/api/events/999999");
    assert_eq!(status, 404);
    assert!(v["error"].as_str().unwrap().contains("999999"), "{v}");

    let (status, v) = s.get_json("/api/events/abc");
    assert_eq!(status, 400);
    assert!(v["hint"].is_string(), "{v}");
}

/// `kuzet serve --bus --database`: the read routes answer from the data
/// backend (here a second SQLite store, through the same `StoreBackend` trait
/// PostgreSQL implements), not from the serve node's own store; reviews,
/// locks, exports and event tracks follow the events there.
#[test]
fn reads_come_from_the_configured_data_backend() {
    let dir = tempfile::tempdir().unwrap();
    let data = Arc::new(store::Store::open(dir.path()).unwrap());
    // Workers' evidence in a blob store of its own (object storage with
    // `serve --evidence s3://…`; a directory here).
    let bucket = tempfile::tempdir().unwrap();
    let blobs = Arc::new(store::LocalEvidence::new(bucket.path()));
    let jpeg = b"\xff\xd8\xff\xe0 a worker's evidence".to_vec();
    let hash = store::sha256_hex(&jpeg);
    {
        use store::EvidenceBlobs;
        blobs.put(&hash, &jpeg).unwrap();
    }
    let mut with_crop = ev("yard", "line_cross", 2);
    with_crop.evidence = Some(hash.clone());
    let stored = data
        .insert_events(vec![ev("yard", "zone_enter", 1), with_crop])
        .unwrap();
    data.upsert_camera("yard", "Yard", "rtsp://cam/yard", &serde_json::json!({}))
        .unwrap();
    data.flush().unwrap();
    let backend: Arc<dyn store::StoreBackend> = data.clone();
    let run = common::start(Arc::new(Vec::new), move |st, _| {
        st.with_data_backend(backend)
            .unwrap()
            .with_evidence_blobs(blobs)
    });
    let c = client();
    let get = |path: &str| -> (u16, Value) {
        let r = c.get(run.url(path)).send().unwrap();
        (r.status().as_u16(), r.json().unwrap())
    };
    let (status, v) = get("/api/events");
    assert_eq!(status, 200, "{v}");
    let want: Vec<i64> = stored.iter().rev().map(|e| e.id.unwrap()).collect();
    assert_eq!(ids(&v), want);
    let id = stored[1].id.unwrap();
    let (status, v) = get(&format!("/api/events/{id}"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["kind"], "line_cross");
    let (_, v) = get("/api/stats");
    assert_eq!(v["events"], 2, "{v}");
    let (_, v) = get("/api/cameras");
    assert_eq!(v[0]["id"], "yard", "{v}");
    let (status, v) = get("/api/plates");
    assert_eq!(status, 200, "{v}");
    // Evidence not in the store's directory comes from the blob store.
    let r = c
        .get(run.url(&format!("/api/evidence/{hash}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(r.bytes().unwrap().to_vec(), jpeg);
    let missing = "0f".repeat(32);
    let r = c
        .get(run.url(&format!("/api/evidence/{missing}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    // The serve node's own store holds none of it.
    assert!(run.store.events(&Default::default()).unwrap().is_empty());
    // The live stream follows the data backend too: a replay from 0 gives
    // its events, one committed there later arrives live, and one in the
    // serve node's own store is not the stream's business.
    let mut sse = SseReader::open_url(run.url("/api/events/stream"), Some(0));
    for e in &stored {
        let (m, _) = sse.next_event();
        assert_eq!(m.id, Some(e.id.unwrap().to_string()));
    }
    run.store
        .insert_events(vec![ev("yard", "zone_exit", 3)])
        .unwrap();
    let later = data
        .insert_events(vec![ev("yard", "loitering", 4)])
        .unwrap();
    let (m, v) = sse.next_event();
    assert_eq!(m.id, Some(later[0].id.unwrap().to_string()), "{v}");
    assert_eq!(v["kind"], "loitering");
    let (status, v) = get(&format!("/api/events/{id}/track"));
    assert_eq!(status, 200, "{v}");
    let (status, v) = get("/api/stats/timeline");
    assert_eq!(status, 200, "{v}");
    let r = c
        .post(run.url(&format!("/api/events/{id}/review")))
        .json(&serde_json::json!({"action": "confirm"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, v) = get(&format!("/api/events/{id}/review"));
    assert_eq!(
        (status, v["state"]["status"].as_str()),
        (200, Some("confirmed")),
        "{v}"
    );
    assert_eq!(
        data.review_state(id).unwrap().unwrap().status,
        store::ReviewStatus::Confirmed,
        "the review is stored beside its event"
    );
    assert!(run.store.review_history(id).unwrap().is_empty());
    // The package carries the worker's evidence, read from the blob store.
    let (status, pkg) = get(&format!("/api/events/{id}/export"));
    assert_eq!(status, 200, "{pkg}");
    assert_eq!(pkg["files"][0]["hash"], hash.as_str(), "{pkg}");
    assert_eq!(pkg["files"][0]["bytes"], jpeg.len(), "{pkg}");
    let r = c
        .post(run.url(&format!("/api/events/{id}/lock")))
        .json(&serde_json::json!({"case_ref": "CASE-1", "reason": "robbery"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(data.event_locks(&[id]).unwrap().len(), 1);
    let (_, v) = get("/api/events");
    let listed = v["events"].as_array().unwrap();
    let locked: Vec<&Value> = listed.iter().filter(|e| !e["lock"].is_null()).collect();
    assert_eq!(locked.len(), 1, "{v}");
    assert_eq!(
        (
            locked[0]["id"].as_i64(),
            locked[0]["lock"]["case_ref"].as_str()
        ),
        (Some(id), Some("CASE-1"))
    );
}

#[test]
fn event_track_lists_the_objects_events_and_path() {
    let s = TestServer::start();
    let store = &s.run.store;
    let run = store.begin_run().unwrap();
    store
        .upsert_tracks(vec![store::TrackRecord {
            run_id: run,
            camera: "front".into(),
            track_id: 3,
            label: Some("person".into()),
            first_seen: Timestamp(T0),
            last_seen: Timestamp(T0 + 9_000),
            frames: 45,
            best_score: 0.8,
            best_crop: None,
            trajectory: vec![
                store::TrajectoryPoint {
                    ts: Timestamp(T0),
                    x: 1.0,
                    y: 2.0,
                },
                store::TrajectoryPoint {
                    ts: Timestamp(T0 + 9_000),
                    x: 3.0,
                    y: 4.0,
                },
            ],
        }])
        .unwrap();
    let mut a = ev("front", "zone_enter", 1);
    a.track_id = Some(3);
    let mut b = ev("front", "loitering", 2);
    b.track_id = Some(3);
    let mut other = ev("front", "zone_enter", 3);
    other.track_id = Some(4);
    let mut crowd = ev("front", "crowd_density", 4);
    crowd.track_id = None;
    let stored = s.insert(vec![a, b, other, crowd]);
    let id = |i: usize| stored[i].id.unwrap();

    let (status, v) = s.get_json(&format!("/api/events/{}/track", id(1)));
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["track"]["frames"], 45, "{v}");
    assert_eq!(v["track"]["trajectory"].as_array().unwrap().len(), 2, "{v}");
    let kinds: Vec<&str> = v["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["zone_enter", "loitering"], "{v}");
    assert_eq!(v["truncated"], false);
    // No track id: an empty answer; unknown or bad ids: 404 and 400.
    let (status, v) = s.get_json(&format!("/api/events/{}/track", id(3)));
    assert_eq!((status, v["track"].is_null()), (200, true), "{v}");
    assert_eq!(v["events"].as_array().unwrap().len(), 0, "{v}");
    assert_eq!(s.get_json("/api/events/999999/track").0, 404);
    let (status, v) = s.get_json("/api/events/-1/track");
    assert_eq!(status, 400);
    assert!(v["hint"].as_str().unwrap().contains("positive"), "{v}");
}

/// Sends a request line as given (no client-side path normalisation) and
/// returns the status code and body.
fn raw_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        sock,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        common::default_token()
    )
    .unwrap();
    let mut resp = String::new();
    sock.read_to_string(&mut resp).unwrap();
    let status = resp
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, resp)
}

#[test]
fn evidence_is_served_immutable_and_traversal_is_rejected() {
    let s = TestServer::start();
    let (w, h) = (32u32, 24u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 251) as u8).collect();
    let hash = s
        .run
        .store
        .save_evidence_jpeg(&rgb, w, h, None, 90)
        .unwrap();
    let on_disk = std::fs::read(s.run.store.evidence_path(&hash).unwrap()).unwrap();

    let mut e = ev("front", "zone_enter", 1);
    e.evidence = Some(hash.clone());
    let id = s.insert(vec![e])[0].id.unwrap();
    let (_, v) = s.get_json(&format!("/api/events/{id}"));
    let url = v["evidence_url"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/api/evidence/{hash}"));

    let r = s.get(&url);
    assert_eq!(r.status().as_u16(), 200);
    let hdr = |name: &str| r.headers()[name].to_str().unwrap().to_string();
    assert_eq!(hdr("content-type"), "image/jpeg");
    assert_eq!(hdr("etag"), format!("\"{hash}\""));
    let cache = hdr("cache-control");
    assert!(
        cache.contains("immutable") && cache.contains("max-age=31536000"),
        "{cache}"
    );
    let body = r.bytes().unwrap();
    assert_eq!(&body[..], &on_disk[..]);
    assert_eq!(&body[..2], &[0xFF, 0xD8], "a JPEG");

    // A revalidation with the ETag needs no body.
    let r = client()
        .get(s.url(&url))
        .header("if-none-match", format!("\"{hash}\""))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 304);

    let (status, v) = s.get_json(&format!("/api/evidence/{}", "0".repeat(64)));
    assert_eq!(status, 404, "{v}");
    let (status, v) = s.get_json("/api/evidence/not-a-hash");
    assert_eq!(status, 400);
    assert!(v["hint"].as_str().unwrap().contains("64"), "{v}");

    for attack in [
        "/api/evidence/..%2F..%2Fetc%2Fpasswd",
        "/api/evidence/..%2F..%2F..%2F..%2F..%2F..%2Fetc%2Fpasswd",
        "/api/evidence/%2Fetc%2Fpasswd",
        "/api/evidence/..",
        "/api/evidence/../../etc/passwd",
        "/api/evidence/%00",
    ] {
        let (status, body) = raw_get(s.run.addr, attack);
        assert!(
            status == 400 || status == 404,
            "{attack}: status {status}\n{body}"
        );
        assert!(!body.contains("root:"), "{attack} leaked a file:\n{body}");
    }
}

#[test]
fn cameras_merge_live_status_with_stored_rows() {
    let status = CameraStatus {
        id: "front".into(),
        name: "Front door".into(),
        url: "rtsp://admin:hunter2@10.0.0.5/stream".into(),
        state: CameraState::Online,
        fps: 12.5,
        frames: 1000,
        dropped: 3,
        queue_depth: 1,
        reconnects: 2,
        width: 1280,
        height: 720,
        last_frame: Some(Timestamp(T0)),
        last_error: Some("timeout".into()),
    };
    let s = TestServer::start_with(Arc::new(move || vec![status.clone()]));
    let cfg = serde_json::json!({});
    s.run
        .store
        .upsert_camera("front", "Front door", "rtsp://10.0.0.5/stream", &cfg)
        .unwrap();
    s.run
        .store
        .upsert_camera("old", "Retired", "rtsp://u:p@old/x", &cfg)
        .unwrap();

    let (code, v) = s.get_json("/api/cameras");
    assert_eq!(code, 200);
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), 2, "{v}");
    let front = &list[0];
    assert_eq!(front["id"], "front");
    assert_eq!(front["state"], "online");
    assert_eq!(front["fps"], 12.5);
    assert_eq!(front["frames"], 1000);
    assert_eq!(front["dropped"], 3);
    assert_eq!(front["queue_depth"], 1);
    assert_eq!(front["reconnects"], 2);
    assert_eq!(front["last_error"], "timeout");
    assert_eq!(front["configured"], true);
    assert!(front["created"].is_string(), "stored row merged: {front}");
    assert_eq!(front["url"], "rtsp://admin:***@10.0.0.5/stream");
    assert!(!v.to_string().contains("hunter2"), "password leaked: {v}");

    let old = &list[1];
    assert_eq!(old["id"], "old");
    assert_eq!(old["configured"], false);
    assert_eq!(old["state"], "unconfigured");
    assert_eq!(old["url"], "rtsp://u:***@old/x");
}

#[test]
fn stats_count_events_by_kind_and_camera() {
    let s = TestServer::start();
    seed(&s);
    let (code, v) = s.get_json("/api/stats");
    assert_eq!(code, 200);
    assert_eq!(v["events"], 10);
    assert_eq!(v["by_kind"]["line_cross"], 4);
    assert_eq!(v["by_kind"]["zone_enter"], 6);
    assert_eq!(v["by_camera"]["front"], 5);
    assert_eq!(v["by_camera"]["back"], 5);
}

#[test]
fn metrics_exposes_kuzet_names() {
    let s = TestServer::start();
    // Recorded the way the pipeline records them.
    metrics::histogram!("kuzet_stage_seconds", "camera" => "front", "stage" => "inference")
        .record(0.012);
    metrics::counter!("kuzet_frames_total", "camera" => "front").increment(5);
    metrics::gauge!("kuzet_fps", "camera" => "front").set(12.0);

    let r = s.get("/metrics");
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = r.text().unwrap();
    assert!(
        text.contains(r#"kuzet_stage_seconds_bucket{camera="front",stage="inference",le="0.025"}"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"kuzet_stage_seconds_bucket{camera="front",stage="inference",le="0.0005"}"#
        ),
        "latency buckets: {text}"
    );
    assert!(text.contains("# HELP kuzet_stage_seconds"), "{text}");
    assert!(
        text.contains(r#"kuzet_frames_total{camera="front"}"#),
        "{text}"
    );
    assert!(text.contains(r#"kuzet_fps{camera="front"} 12"#), "{text}");
    // Installing again is harmless and yields the same recorder.
    assert!(install_metrics_recorder().render().contains("kuzet_fps"));
}

/// One SSE message.
#[derive(Debug, Default)]
struct Sse {
    event: Option<String>,
    id: Option<String>,
    data: String,
}

struct SseReader(BufReader<reqwest::blocking::Response>);

impl SseReader {
    fn open(s: &TestServer, path: &str, last_event_id: Option<i64>) -> Self {
        Self::open_url(s.url(path), last_event_id)
    }

    fn open_url(url: String, last_event_id: Option<i64>) -> Self {
        let mut req = client().get(url);
        if let Some(id) = last_event_id {
            req = req.header("last-event-id", id.to_string());
        }
        let r = req.send().unwrap();
        assert_eq!(r.status().as_u16(), 200);
        let ct = r.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with("text/event-stream"), "{ct}");
        SseReader(BufReader::new(r))
    }

    /// The next message with data, skipping comments and the `retry:` message;
    /// `None` at the end of the stream. Bounded by the client's timeout.
    fn next(&mut self) -> Option<Sse> {
        let mut msg = Sse::default();
        loop {
            let mut line = String::new();
            match self.0.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                if !msg.data.is_empty() {
                    return Some(msg);
                }
                msg = Sse::default();
                continue;
            }
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => msg.event = Some(value.into()),
                "id" => msg.id = Some(value.into()),
                "data" => msg.data.push_str(value),
                _ => {}
            }
        }
    }

    fn next_event(&mut self) -> (Sse, Value) {
        let m = self.next().expect("stream ended before an event arrived");
        let v = serde_json::from_str(&m.data).unwrap();
        (m, v)
    }
}

#[test]
fn sse_streams_committed_events_live_with_filters() {
    let s = TestServer::start();
    let mut all = SseReader::open(&s, "/api/events/stream", None);
    let mut back = SseReader::open(&s, "/api/events/stream?camera=back&kind=zone_enter", None);

    let t = Instant::now();
    let inserted = s.insert(vec![
        ev("front", "zone_enter", 1),
        ev("back", "line_cross", 2),
        ev("back", "zone_enter", 3),
    ]);
    for e in &inserted {
        let (m, v) = all.next_event();
        assert_eq!(m.event.as_deref(), Some(e.kind.as_str()));
        assert_eq!(m.id, Some(e.id.unwrap().to_string()));
        assert_eq!(v["id"], e.id.unwrap());
        assert_eq!(v["camera"], e.camera);
        assert_eq!(v["time"], e.ts.to_rfc3339());
    }
    let (m, v) = back.next_event();
    assert_eq!(m.id, Some(inserted[2].id.unwrap().to_string()));
    assert_eq!(v["camera"], "back");
    assert_eq!(v["kind"], "zone_enter");
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "live delivery took {:?}",
        t.elapsed()
    );
}

#[test]
fn sse_last_event_id_replays_then_continues_live() {
    let s = TestServer::start();
    let all = seed(&s);
    let last = all[6].id.unwrap();

    let mut r = SseReader::open(&s, "/api/events/stream", Some(last));
    for e in &all[7..] {
        let (m, _) = r.next_event();
        assert_eq!(m.id, Some(e.id.unwrap().to_string()), "replayed in order");
    }
    let live = s.insert(vec![ev("front", "zone_exit", 20)]);
    let (m, v) = r.next_event();
    assert_eq!(m.id, Some(live[0].id.unwrap().to_string()));
    assert_eq!(v["kind"], "zone_exit");

    // The query parameter works too, and replay honours filters.
    let mut r = SseReader::open(
        &s,
        &format!("/api/events/stream?camera=front&last_event_id={last}"),
        None,
    );
    let (m, _) = r.next_event();
    assert_eq!(m.id, Some(all[8].id.unwrap().to_string()));
    let (m, _) = r.next_event();
    assert_eq!(m.id, Some(live[0].id.unwrap().to_string()));

    let r = client()
        .get(s.url("/api/events/stream"))
        .header("last-event-id", "banana")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
}

#[test]
fn sse_survives_a_burst_larger_than_its_buffers() {
    let s = TestServer::start();
    let mut r = SseReader::open(&s, "/api/events/stream", None);
    // More events (megabytes of SSE) than the socket, the client task and the
    // broadcast channel buffer, committed before the client reads any: the
    // client's task lags and must re-read what it missed from the database.
    let n = 8000;
    let mut expected = Vec::new();
    for chunk in 0..(n / 500) {
        let batch = (0..500)
            .map(|i| ev("front", "zone_enter", chunk * 500 + i))
            .collect();
        expected.extend(s.insert(batch).into_iter().map(|e| e.id.unwrap()));
    }
    let mut got = Vec::new();
    while got.len() < expected.len() {
        let (m, _) = r.next_event();
        got.push(m.id.unwrap().parse::<i64>().unwrap());
    }
    assert_eq!(got, expected, "every event exactly once, in order");
}

#[test]
fn shutdown_ends_sse_streams_and_serve_returns_promptly() {
    let mut s = TestServer::start();
    let mut r = SseReader::open(&s, "/api/events/stream", None);
    s.insert(vec![ev("front", "zone_enter", 1)]);
    r.next_event();

    let took = s.stop();
    assert!(
        took < Duration::from_secs(2),
        "serve() took {took:?} to return"
    );
    assert!(r.next().is_none(), "the SSE stream ends at shutdown");
    assert!(
        TcpStream::connect_timeout(&s.run.addr, Duration::from_secs(1)).is_err(),
        "listener closed"
    );
}

/// Every `$ref` under `v`, e.g. `#/components/schemas/Event`.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => refs(x, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
        _ => {}
    }
}

#[test]
fn openapi_document_describes_every_route() {
    let s = TestServer::start();
    let r = s.get("/api/openapi.json");
    assert_eq!(r.status().as_u16(), 200);
    let ct = r.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap();
    assert!(ct.starts_with("application/json"), "{ct}");
    let doc: Value = r.json().unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["title"], "kuzet API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));

    // Every route of `kuzet_server::router`, as registered there.
    let routes: Vec<(String, &str)> = kuzet_server::registered_routes()
        .into_iter()
        .map(|(m, p)| (m.to_lowercase(), p))
        .collect();
    let policy = kuzet_server::policy::policy();
    let paths = doc["paths"].as_object().unwrap();
    for (method, route) in &routes {
        let method = method.as_str();
        // axum's catch-all `{*path}` is an ordinary `{path}` in OpenAPI.
        let path = route.replace("{*", "{");
        let op = &paths
            .get(&path)
            .unwrap_or_else(|| panic!("{path} is missing from the OpenAPI paths"))[method];
        assert!(op.is_object(), "{method} {path} is not documented");
        // Routes that need a login say so, with their 401/403 answers.
        let rule = policy
            .get(&method.to_uppercase().parse().unwrap(), route)
            .unwrap_or_else(|| panic!("{method} {route} has no policy row"));
        if !rule.public {
            for status in ["401", "403"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} documents no {status}"
                );
            }
            assert_eq!(
                op["security"].as_array().map(|a| a.len()),
                Some(2),
                "{method} {path}"
            );
        }
        assert!(
            op["responses"]["200"].is_object(),
            "{method} {path} documents no 200"
        );
        for param in path.split('{').skip(1) {
            let name = param.split('}').next().unwrap();
            let params = op["parameters"].as_array().unwrap();
            assert!(
                params.iter().any(|p| p["name"] == name
                    && p["in"] == "path"
                    && p["description"].is_string()),
                "{method} {path}: path parameter {name} is not described"
            );
        }
    }
    let distinct: std::collections::BTreeSet<&str> = routes.iter().map(|r| r.1).collect();
    assert!(doc["components"]["securitySchemes"]["session"].is_object());
    assert!(doc["components"]["securitySchemes"]["token"].is_object());
    assert_eq!(
        paths.len(),
        distinct.len(),
        "documented paths that are not routes: {:?}",
        paths.keys().collect::<Vec<_>>()
    );

    // Query parameters of the event list, and content types that are not JSON.
    let events = &paths["/api/events"]["get"];
    let query: Vec<&str> = events["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["in"] == "query")
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for q in ["camera", "kind", "since", "until", "limit", "before_id"] {
        assert!(query.contains(&q), "/api/events lacks `{q}`: {query:?}");
    }
    let content = |path: &str, status: &str| -> Vec<String> {
        paths[path]["get"]["responses"][status]["content"]
            .as_object()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default()
    };
    assert_eq!(content("/api/events/stream", "200"), ["text/event-stream"]);
    assert_eq!(
        content("/api/evidence/{hash}", "200"),
        ["image/jpeg", "video/mp4"]
    );
    assert_eq!(content("/api/cameras/{id}/snapshot", "200"), ["image/jpeg"]);
    assert!(content("/metrics", "200")[0].starts_with("text/plain"));
    assert!(content("/api/events", "200")[0].starts_with("application/json"));

    // Errors are documented with their JSON body.
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let api_error = |path: &str, status: &str| {
        let c = &paths[path]["get"]["responses"][status]["content"]["application/json"];
        assert_eq!(
            c["schema"]["$ref"], "#/components/schemas/ApiError",
            "{path} {status}"
        );
    };
    api_error("/api/events", "400");
    api_error("/api/events/{id}", "400");
    api_error("/api/events/{id}", "404");
    api_error("/api/evidence/{hash}", "404");
    assert!(paths["/healthz"]["get"]["responses"]["503"].is_object());
    let err = &schemas["ApiError"]["properties"];
    assert!(err["error"].is_object() && err["hint"].is_object());

    // The event schema has the fields the API returns.
    let event = &schemas["Event"]["properties"];
    for field in ["id", "camera", "kind", "ts", "time", "evidence_url"] {
        assert!(event[field].is_object(), "Event lacks `{field}`: {event}");
    }
    for name in [
        "EventsPage",
        "CameraStatus",
        "Stats",
        "Overlay",
        "CameraMap",
    ] {
        assert!(schemas.contains_key(name), "no {name} schema");
    }

    // No reference dangles.
    let mut all = Vec::new();
    refs(&doc, &mut all);
    assert!(!all.is_empty());
    for r in all {
        let name = r
            .strip_prefix("#/components/schemas/")
            .unwrap_or_else(|| panic!("unexpected $ref {r}"));
        assert!(schemas.contains_key(name), "dangling $ref {r}");
    }
}

/// A panning fire camera's position reaches the pipeline with its time;
/// bad bodies are 400, a camera that takes no reports 422, one this process
/// does not run (or a server running no cameras) 409.
#[test]
fn ptz_reports_reach_the_pipeline_or_say_why_not() {
    type Seen = Vec<(String, f64, Option<f64>, Timestamp)>;
    let seen: Arc<std::sync::Mutex<Seen>> = Arc::default();
    let log = seen.clone();
    let run = common::start(Arc::new(Vec::new), move |st, _| {
        st.with_ptz_reports(Arc::new(move |camera, azimuth, hfov, at| match camera {
            "tower" => {
                log.lock()
                    .unwrap()
                    .push((camera.to_string(), azimuth, hfov, at));
                Ok(true)
            }
            "gate" => Err("camera gate takes no position reports".to_string()),
            _ => Ok(false),
        }))
    });
    let post = |camera: &str, body: Value| {
        let r = client()
            .post(run.url(&format!("/api/cameras/{camera}/ptz")))
            .json(&body)
            .send()
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json::<Value>().unwrap())
    };
    let (st, v) = post(
        "tower",
        serde_json::json!({"azimuth_deg": -47.5, "hfov_deg": 12.0, "at": "2023-11-14T22:13:20Z"}),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(
        (v["applied"].clone(), v["azimuth_deg"].clone()),
        (true.into(), 312.5.into())
    );
    let (st, v) = post("tower", serde_json::json!({"azimuth_deg": 90}));
    assert_eq!(st, 200, "{v}");
    {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0], ("tower".into(), -47.5, Some(12.0), Timestamp(T0)));
        assert!(seen[1].3 > Timestamp(T0), "no `at`: now");
    }
    let (st, v) = post("gate", serde_json::json!({"azimuth_deg": 90}));
    assert_eq!(st, 422, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("no position reports"),
        "{v}"
    );
    assert_eq!(
        post("elsewhere", serde_json::json!({"azimuth_deg": 90})).0,
        409
    );
    let (st, v) = post(
        "tower",
        serde_json::json!({"azimuth_deg": 90, "at": "noon"}),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("RFC 3339"), "{v}");
    let (st, v) = post("tower", serde_json::json!({"azimuth": 90}));
    assert_eq!(st, 400, "{v}");
    assert!(v["hint"].as_str().unwrap().contains("azimuth_deg"), "{v}");
    assert_eq!(
        seen.lock().unwrap().len(),
        2,
        "refused reports are not recorded"
    );
    let plain = TestServer::start();
    let r = client()
        .post(plain.url("/api/cameras/tower/ptz"))
        .json(&serde_json::json!({"azimuth_deg": 90}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 409);
}
