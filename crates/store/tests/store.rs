//! Integration tests of the store against real files in temp directories.

use base::{BBox, Event, SimulatedClock, Timestamp};
use kuzet_store::{EventQuery, Store, StoreError, TrackRecord, TrajectoryPoint, SCHEMA_VERSION};
use rusqlite::Connection;
use serde_json::json;
use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ev(camera: &str, kind: &str, ts: i64) -> Event {
    Event::new(camera, kind, Timestamp(ts))
}

fn raw(dir: &Path) -> Connection {
    Connection::open(dir.join(kuzet_store::DB_FILE)).unwrap()
}

fn ids(events: &[Event]) -> Vec<i64> {
    events.iter().map(|e| e.id.unwrap()).collect()
}

#[test]
fn migrations_from_empty() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("nested/data");
    let store = Store::open(&dir).unwrap();
    assert!(dir.join("kuzet.db").is_file());
    assert!(dir.join("evidence").is_dir());
    let c = raw(&dir);
    let v: i64 = c
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION);
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    let applied: Vec<i64> = c
        .prepare("SELECT version FROM schema_version ORDER BY version")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(applied, kuzet_store::schema::migration_versions());
    for table in ["camera", "run", "track", "event", "evidence"] {
        let n: i64 = c
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "table {table}");
    }
    assert_eq!(store.counts().unwrap(), Default::default());
}

#[test]
fn reopen_keeps_data() {
    let tmp = tempfile::tempdir().unwrap();
    let (run, acked) = {
        let store = Store::open(tmp.path()).unwrap();
        store
            .upsert_camera("cam1", "Gate", "rtsp://gate", &json!({"fps": 5}))
            .unwrap();
        let run = store.begin_run().unwrap();
        let acked = store
            .insert_events(vec![
                ev("cam1", "zone_enter", 1),
                ev("cam1", "zone_exit", 2),
            ])
            .unwrap();
        (run, acked)
    };
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.cameras().unwrap()[0].config, json!({"fps": 5}));
    for e in &acked {
        assert_eq!(store.event(e.id.unwrap()).unwrap().as_ref(), Some(e));
    }
    let runs = store.runs(10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].id, run);
    assert!(runs[0].ended.is_some(), "close marks the run ended");
    // Ids keep growing across opens (AUTOINCREMENT never reuses).
    let more = store.insert_events(vec![ev("cam1", "x", 3)]).unwrap();
    assert!(more[0].id.unwrap() > acked[1].id.unwrap());
}

#[test]
fn future_schema_version_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(Store::open(tmp.path()).unwrap());
    raw(tmp.path())
        .execute_batch(&format!("PRAGMA user_version = {}", SCHEMA_VERSION + 1))
        .unwrap();
    match Store::open(tmp.path()) {
        Err(StoreError::FutureSchema { found, supported }) => {
            assert_eq!((found, supported), (SCHEMA_VERSION + 1, SCHEMA_VERSION));
        }
        Err(e) => panic!("wrong error: {e}"),
        Ok(_) => panic!("opened a database from the future"),
    }
    let err = Store::open(tmp.path()).err().unwrap().to_string();
    assert!(err.contains("newer"), "{err}");
    // And it was left alone.
    let v: i64 = raw(tmp.path())
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, SCHEMA_VERSION + 1);
}

#[test]
fn event_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let run = store.begin_run().unwrap();
    let hash = store
        .save_evidence_jpeg(&[200u8; 8 * 8 * 3], 8, 8, None, 90)
        .unwrap();
    let mut full = ev("cam-ä", "zone_dwell", 1_700_000_000_123);
    full.track_id = Some(42);
    full.label = Some("person".into());
    full.rule = Some("loading dock".into());
    full.bbox = Some(BBox::new(1.5, 2.25, 100.0, 200.75));
    full.score = 0.875;
    full.details = json!({"dwell_s": 12.5, "path": [1, 2, {"k": null}], "dir": "in"});
    full.evidence = Some(hash);
    let bare = ev("cam2", "line_cross", -5);
    let stored = store
        .insert_events(vec![full.clone(), bare.clone()])
        .unwrap();
    assert_eq!(stored.len(), 2);
    assert_ne!(stored[0].id, stored[1].id);
    for (orig, got) in [full, bare].iter().zip(&stored) {
        assert_eq!(
            &Event {
                id: got.id,
                ..orig.clone()
            },
            got
        );
        assert_eq!(store.event(got.id.unwrap()).unwrap().as_ref(), Some(got));
    }
    assert_eq!(store.event(999_999).unwrap(), None);
    // Events are stamped with the run.
    let r: Option<i64> = raw(tmp.path())
        .query_row(
            "SELECT run_id FROM event WHERE id = ?1",
            [stored[0].id.unwrap()],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(r, Some(run));
}

#[test]
fn invalid_events_are_rejected_before_the_writer() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let mut nan = ev("c", "k", 1);
    nan.score = f32::NAN;
    let mut bad_hash = ev("c", "k", 1);
    bad_hash.evidence = Some("../../etc/passwd".into());
    for bad in [nan, bad_hash, ev("", "k", 1), ev("c", "", 1)] {
        assert!(matches!(
            store.insert_events(vec![ev("c", "ok", 0), bad]),
            Err(StoreError::Invalid(_))
        ));
    }
    assert_eq!(
        store.counts().unwrap().events,
        0,
        "the whole call is refused"
    );
}

#[test]
fn query_filters_and_paging() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    // 1200 events: cameras a/b alternate, kinds cycle over three, ts = i * 10,
    // and every fifth pair shares a timestamp to exercise the (ts, id) order.
    let mut all = Vec::new();
    for i in 0..1200i64 {
        let cam = if i % 2 == 0 { "a" } else { "b" };
        let kind = ["enter", "exit", "dwell"][(i % 3) as usize];
        let ts = if i % 5 == 1 { (i - 1) * 10 } else { i * 10 };
        all.push(ev(cam, kind, ts));
    }
    let mut stored = Vec::new();
    for chunk in all.chunks(100) {
        stored.extend(store.insert_events(chunk.to_vec()).unwrap());
    }
    let mut newest_first = stored.clone();
    newest_first.sort_by_key(|e| std::cmp::Reverse((e.ts, e.id)));

    let q = |q: EventQuery| store.events(&q).unwrap();
    // Default limit 100, newest first.
    let page = q(EventQuery::default());
    assert_eq!(page, newest_first[..100]);
    // limit 0 → default; limit over the cap → 1000.
    assert_eq!(
        q(EventQuery {
            limit: 0,
            ..Default::default()
        })
        .len(),
        100
    );
    assert_eq!(
        q(EventQuery {
            limit: 5000,
            ..Default::default()
        })
        .len(),
        1000
    );
    assert_eq!(
        q(EventQuery {
            limit: 3,
            ..Default::default()
        }),
        newest_first[..3]
    );

    let cam_b = q(EventQuery {
        camera: Some("b".into()),
        limit: 1000,
        ..Default::default()
    });
    assert_eq!(cam_b.len(), 600);
    assert!(cam_b.iter().all(|e| e.camera == "b"));

    let a_dwell = q(EventQuery {
        camera: Some("a".into()),
        kind: Some("dwell".into()),
        limit: 1000,
        ..Default::default()
    });
    let expect: Vec<_> = newest_first
        .iter()
        .filter(|e| e.camera == "a" && e.kind == "dwell")
        .cloned()
        .collect();
    assert_eq!(a_dwell, expect);

    // since inclusive, until exclusive.
    let window = q(EventQuery {
        since: Some(Timestamp(1000)),
        until: Some(Timestamp(2000)),
        limit: 1000,
        ..Default::default()
    });
    let expect: Vec<_> = newest_first
        .iter()
        .filter(|e| e.ts.0 >= 1000 && e.ts.0 < 2000)
        .cloned()
        .collect();
    assert!(!expect.is_empty());
    assert_eq!(window, expect);

    // Paging with before_id walks everything exactly once, in order.
    let mut paged = Vec::new();
    let mut before = None;
    loop {
        let page = q(EventQuery {
            limit: 77,
            before_id: before,
            ..Default::default()
        });
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().id;
        paged.extend(page);
    }
    assert_eq!(paged, newest_first);

    // Paging combined with a filter.
    let first = q(EventQuery {
        kind: Some("exit".into()),
        limit: 10,
        ..Default::default()
    });
    let second = q(EventQuery {
        kind: Some("exit".into()),
        limit: 10,
        before_id: first.last().unwrap().id,
        ..Default::default()
    });
    let expect: Vec<_> = newest_first
        .iter()
        .filter(|e| e.kind == "exit")
        .take(20)
        .cloned()
        .collect();
    assert_eq!([first, second].concat(), expect);

    let counts = store.counts().unwrap();
    assert_eq!(counts.events, 1200);
    assert_eq!(counts.by_camera["a"], 600);
    assert_eq!(counts.by_kind["enter"], 400);
}

#[test]
fn group_commit_under_concurrent_writers() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(tmp.path()).unwrap());
    const THREADS: usize = 8;
    const CALLS: usize = 150;
    const PER_CALL: usize = 3;
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                let mut got = Vec::new();
                for n in 0..CALLS {
                    let batch = (0..PER_CALL)
                        .map(|k| {
                            let mut e = ev(&format!("cam{t}"), "k", n as i64);
                            e.details = json!({"t": t, "n": n, "k": k});
                            e
                        })
                        .collect();
                    let stored = store.insert_events(batch).unwrap();
                    got.extend(stored);
                }
                got
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.join().unwrap());
    }
    assert_eq!(all.len(), THREADS * CALLS * PER_CALL);
    let unique: HashSet<i64> = all.iter().map(|e| e.id.unwrap()).collect();
    assert_eq!(unique.len(), all.len(), "ids are unique");
    for e in all.iter().step_by(37) {
        assert_eq!(store.event(e.id.unwrap()).unwrap().as_ref(), Some(e));
    }
    assert_eq!(store.counts().unwrap().events, all.len() as u64);
    let stats = store.writer_stats();
    assert_eq!(stats.events, all.len() as u64);
    assert!(
        stats.max_batch > 1 && stats.transactions < stats.commands,
        "no group commit happened: {stats:?}"
    );
}

#[test]
fn subscription_receives_committed_events() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let sub = store.subscribe();
    let stored = store
        .insert_events(vec![ev("c", "a", 1), ev("c", "b", 2)])
        .unwrap();
    for e in &stored {
        let got = sub.recv_timeout(Duration::from_secs(5)).unwrap();
        assert_eq!(&got, e, "published with its committed id");
    }
    assert!(sub.try_recv().is_none());

    // A slow subscriber loses events (counted) without holding up the writer.
    let slow = store.subscribe_with_capacity(2);
    let dropped = store.subscribe();
    drop(dropped);
    let many: Vec<Event> = (0..10).map(|i| ev("c", "x", i)).collect();
    let stored = store.insert_events(many).unwrap();
    assert_eq!(
        ids(&[slow.recv().unwrap(), slow.recv().unwrap()]),
        ids(&stored[..2])
    );
    assert!(slow.try_recv().is_none());
    assert_eq!(slow.lagged(), 8);
    assert_eq!(sub.receiver().len(), 10);
    let stats = store.writer_stats();
    assert_eq!(stats.subscribers, 2, "the dropped subscriber was forgotten");
    assert_eq!(stats.subscriber_lagged, 8);

    // Failed inserts publish nothing; closing ends the feed.
    store.close();
    assert!(store.insert_events(vec![ev("c", "late", 1)]).is_err());
    assert_eq!(sub.receiver().len(), 10);
    while sub.try_recv().is_some() {}
    assert!(sub.recv().is_none(), "closed store ends subscriptions");
}

#[test]
fn evidence_dedup_and_path_traversal() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::open(tmp.path()).unwrap();
    let (w, h) = (64u32, 48u32);
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
    let h1 = store.save_evidence_jpeg(&rgb, w, h, None, 85).unwrap();
    let h2 = store.save_evidence_jpeg(&rgb, w, h, None, 85).unwrap();
    assert_eq!(h1, h2, "same content, same name");
    assert!(kuzet_store::is_valid_hash(&h1));
    let path = store.evidence_path(&h1).unwrap();
    assert_eq!(
        path,
        tmp.path()
            .join("evidence")
            .join(&h1[..2])
            .join(format!("{h1}.jpg"))
    );
    let bytes = std::fs::read(&path).unwrap();
    {
        use sha2::Digest;
        assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), h1);
    }
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (w, h));
    // Only one file in the fan-out dir, no temp leftovers.
    assert_eq!(
        std::fs::read_dir(path.parent().unwrap()).unwrap().count(),
        1
    );

    let crop = store
        .save_evidence_jpeg(&rgb, w, h, Some(BBox::new(10.2, 5.0, 30.0, 25.9)), 85)
        .unwrap();
    assert_ne!(crop, h1);
    let img = image::open(store.evidence_path(&crop).unwrap()).unwrap();
    assert_eq!((img.width(), img.height()), (20, 21));
    assert!(store
        .save_evidence_jpeg(&rgb, w, h, Some(BBox::new(500.0, 0.0, 600.0, 10.0)), 85)
        .is_err());

    store.flush().unwrap();
    let info = store.evidence_info(&h1).unwrap().unwrap();
    assert_eq!(
        (info.width, info.height, info.bytes),
        (w, h, bytes.len() as u64)
    );
    let counts = store.counts().unwrap();
    assert_eq!(counts.evidence_files, 2, "dedup: one row per content");

    for bad in [
        "../../etc/passwd",
        "",
        "/etc/passwd",
        &h1.to_uppercase(),
        &h1[..63],
        &format!("{h1}0"),
        &format!("../{}", &h1[3..]),
    ] {
        assert_eq!(store.evidence_path(bad), None, "{bad:?}");
        assert_eq!(store.evidence_info(bad).unwrap(), None);
    }
    // Well-formed but unknown.
    assert_eq!(store.evidence_path(&"0".repeat(64)), None);
}

#[test]
fn stale_evidence_temp_files_are_removed_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let leftover = tmp.path().join("evidence/ab/.abcd.1.2.tmp");
    std::fs::create_dir_all(leftover.parent().unwrap()).unwrap();
    std::fs::write(&leftover, b"partial").unwrap();
    let _store = Store::open(tmp.path()).unwrap();
    assert!(!leftover.exists());
}

#[test]
fn cameras_and_tracks() {
    let tmp = tempfile::tempdir().unwrap();
    let clock = SimulatedClock::new(Timestamp(1000));
    let store = Store::open_with_clock(tmp.path(), Arc::new(clock.clone())).unwrap();
    store
        .upsert_camera("c1", "Gate", "rtsp://a", &json!({}))
        .unwrap();
    clock.advance(Duration::from_secs(1));
    store
        .upsert_camera("c1", "Gate", "rtsp://a", &json!({}))
        .unwrap();
    let cams = store.cameras().unwrap();
    assert_eq!(
        (cams[0].created, cams[0].updated),
        (Timestamp(1000), Timestamp(1000))
    );
    clock.advance(Duration::from_secs(1));
    store
        .upsert_camera("c1", "Gate 2", "rtsp://a", &json!({}))
        .unwrap();
    let cams = store.cameras().unwrap();
    assert_eq!(
        (cams[0].name.as_str(), cams[0].updated),
        ("Gate 2", Timestamp(3000))
    );
    assert!(store.upsert_camera("", "x", "y", &json!(null)).is_err());

    let run1 = store.begin_run().unwrap();
    let track = |run_id, id, last: i64, frames| TrackRecord {
        run_id,
        camera: "c1".into(),
        track_id: id,
        label: Some("car".into()),
        first_seen: Timestamp(last - 100),
        last_seen: Timestamp(last),
        frames,
        best_score: 0.5,
        best_crop: None,
        trajectory: vec![TrajectoryPoint {
            ts: Timestamp(last),
            x: 1.0,
            y: 2.0,
        }],
    };
    store
        .upsert_tracks(vec![track(run1, 1, 500, 3), track(run1, 2, 600, 4)])
        .unwrap();
    // An update widens the interval and replaces counters; a None label keeps
    // the old one.
    let mut upd = track(run1, 1, 900, 9);
    upd.label = None;
    upd.first_seen = Timestamp(450);
    store.upsert_tracks(vec![upd]).unwrap();
    // A bad command fails alone: unknown run id violates the foreign key.
    store.upsert_tracks(vec![track(9999, 5, 100, 1)]).unwrap();
    let run2 = store.begin_run().unwrap();
    assert!(run2 > run1);
    assert_eq!(store.current_run(), Some(run2));
    store.upsert_tracks(vec![track(run2, 1, 1000, 1)]).unwrap();
    store.flush().unwrap();

    let all = store.tracks("c1", None, 100).unwrap();
    assert_eq!(
        all.iter()
            .map(|t| (t.run_id, t.track_id))
            .collect::<Vec<_>>(),
        vec![(run2, 1), (run1, 1), (run1, 2)]
    );
    let t1 = &all[1];
    assert_eq!(t1.label.as_deref(), Some("car"));
    assert_eq!(
        (t1.first_seen, t1.last_seen, t1.frames),
        (Timestamp(400), Timestamp(900), 9)
    );
    assert_eq!(t1.trajectory.len(), 1);
    assert_eq!(store.tracks("c1", Some(run1), 100).unwrap().len(), 2);
    assert_eq!(store.tracks("c1", None, 1).unwrap().len(), 1);
    assert_eq!(store.tracks("other", None, 10).unwrap().len(), 0);
    assert!(store.writer_stats().failed_commands >= 1);
    let runs = store.runs(10).unwrap();
    assert_eq!(runs[1].id, run1);
    assert!(runs[1].ended.is_some(), "beginning run 2 ended run 1");
    assert!(runs[0].ended.is_none());
    let counts = store.counts().unwrap();
    assert_eq!((counts.cameras, counts.tracks, counts.runs), (1, 3, 2));
}

#[test]
fn close_drains_queued_writes() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let store = Store::open(tmp.path()).unwrap();
        let run = store.begin_run().unwrap();
        for i in 0..2000u64 {
            store
                .upsert_tracks(vec![TrackRecord {
                    run_id: run,
                    camera: "c".into(),
                    track_id: i,
                    label: None,
                    first_seen: Timestamp(0),
                    last_seen: Timestamp(i as i64),
                    frames: 1,
                    best_score: 0.0,
                    best_crop: None,
                    trajectory: vec![],
                }])
                .unwrap();
        }
        store.close();
        assert!(matches!(store.flush(), Err(StoreError::Closed)));
        store.close(); // idempotent
    }
    let store = Store::open(tmp.path()).unwrap();
    assert_eq!(store.counts().unwrap().tracks, 2000);
}

/// Set in the child process of [`acknowledged_events_survive_sigkill`]: the
/// data directory to write to.
const CHILD_ENV: &str = "KUZET_STORE_KILL_CHILD_DIR";

/// Child side: insert from several threads forever, printing each
/// acknowledged batch as `ACK <thread> <n> <id>…` once `insert_events`
/// returned. Exits by itself after a while in case the parent died.
fn kill_child(dir: &Path) -> ! {
    let store = Arc::new(Store::open(dir).unwrap());
    store.begin_run().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0u64.. {
                    if Instant::now() > deadline {
                        return;
                    }
                    let batch = (0..3)
                        .map(|k| {
                            let mut e = ev("kill", "test", n as i64);
                            e.details = json!({"t": t, "n": n, "k": k});
                            e
                        })
                        .collect();
                    let stored = store.insert_events(batch).unwrap();
                    // Writes straight to fd 1: not captured by the test harness.
                    let mut out = std::io::stdout().lock();
                    write!(out, "ACK {t} {n}").unwrap();
                    for id in ids(&stored) {
                        write!(out, " {id}").unwrap();
                    }
                    writeln!(out).unwrap();
                    out.flush().unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
    std::process::exit(3)
}

#[test]
fn acknowledged_events_survive_sigkill() {
    if let Some(dir) = std::env::var_os(CHILD_ENV) {
        kill_child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "acknowledged_events_survive_sigkill",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, tmp.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = BufReader::new(child.stdout.take().unwrap());
    // (thread, n, id, k) of every acknowledged event.
    let mut acked: Vec<(u64, u64, i64, u64)> = Vec::new();
    for line in stdout.lines() {
        let line = line.unwrap();
        let Some(rest) = line.strip_prefix("ACK ") else {
            continue;
        };
        let f: Vec<i64> = rest.split(' ').map(|s| s.parse().unwrap()).collect();
        for (k, id) in f[2..].iter().enumerate() {
            acked.push((f[0] as u64, f[1] as u64, *id, k as u64));
        }
        if acked.len() >= 600 {
            break;
        }
    }
    // SIGKILL while the child is still inserting (mid-transaction).
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(acked.len() >= 600, "child stopped early: {status:?}");
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(status.signal(), Some(9), "child was killed, not exited");
    }

    let c = raw(tmp.path());
    let check: String = c
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    drop(c);
    let store = Store::open(tmp.path()).unwrap();
    for (t, n, id, k) in &acked {
        let e = store
            .event(*id)
            .unwrap()
            .unwrap_or_else(|| panic!("acknowledged event {id} lost"));
        assert_eq!(e.details, json!({"t": t, "n": n, "k": k}));
    }
    let total = store.counts().unwrap().events;
    assert!(total >= acked.len() as u64);
    eprintln!(
        "sigkill: {} acknowledged events all present ({} stored in total)",
        acked.len(),
        total
    );
    let runs = store.runs(1).unwrap();
    assert!(runs[0].ended.is_none(), "a killed run has no end");
}
