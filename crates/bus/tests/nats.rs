//! The NATS adapter against a real `nats-server -js` (Debian package
//! `nats-server`, installed by scripts/setup.sh): dedupe by message id,
//! ingest idempotence on redelivery, lease failover timing.

use base::{Event, Timestamp};
use bus::{Bus, Ingest, KvBucket, LeaseConfig, LeaseEvent, Leases, Nats, NatsConfig, Outgoing};
use kuzet_bus as bus;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod common;
use common::nats_server;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// A two-thread runtime, for tests whose publisher and consumer run at once.
fn rt_mt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn event_msg(e: &Event, origin: &str) -> Outgoing {
    let id = bus::event_msg_id(e);
    Outgoing {
        subject: "kuzet.event".into(),
        headers: vec![
            ("Kuzet-Origin", origin.into()),
            ("Kuzet-Msg-Id", id.clone()),
        ],
        msg_id: Some(id),
        payload: serde_json::to_vec(e).unwrap().into(),
    }
}

#[test]
fn duplicates_are_dropped_by_the_broker_and_the_store() {
    let srv = nats_server();
    let rt = rt();
    rt.block_on(async {
        let nats = Arc::new(Nats::connect(NatsConfig::new(&srv.url)).await.unwrap());
        let events: Vec<Event> = (0..5)
            .map(|i| {
                let mut e = Event::new("cam", "zone_enter", Timestamp::from_millis(1000 + i));
                e.track_id = Some(i as u64);
                e
            })
            .collect();
        for e in &events {
            let ack = nats.publish(event_msg(e, "w1/1")).await.unwrap();
            assert!(!ack.duplicate);
        }
        // A retry of the same message within the window: the broker says so.
        let again = nats.publish(event_msg(&events[2], "w1/1")).await.unwrap();
        assert!(again.duplicate, "the broker did not dedupe by Nats-Msg-Id");

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        // A previous server committed events 0 and 1 but died before
        // acknowledging them: they come again and must not be stored twice.
        let run = store.run_for_origin("w1/1", "test").unwrap();
        store
            .ingest_events(
                Some(run),
                events[..2]
                    .iter()
                    .map(|e| store::KeyedEvent {
                        msg_id: bus::event_msg_id(e),
                        event: e.clone(),
                    })
                    .collect(),
            )
            .unwrap();
        let mut ingest = Ingest::new(nats.clone(), store.clone());
        let batch = nats.fetch(100, Duration::from_secs(2)).await.unwrap();
        assert_eq!(batch.len(), 5, "the stream holds each message once");
        ingest.handle(batch).await;
        let stats = ingest.stats();
        use std::sync::atomic::Ordering::Relaxed;
        assert_eq!(stats.events_new.load(Relaxed), 3);
        assert_eq!(stats.events_duplicate.load(Relaxed), 2);
        let ids = store.event_msg_ids().unwrap();
        assert_eq!(ids.len(), 5);
        // Acknowledged: nothing is delivered again (work queue emptied).
        let t = Instant::now();
        let mut pending = u64::MAX;
        while pending > 0 && t.elapsed() < Duration::from_secs(5) {
            pending = nats.pending().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(pending, 0);
        assert!(nats
            .fetch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty());
        // An undecodable message is terminated, not redelivered forever.
        nats.publish(Outgoing {
            subject: "kuzet.event".into(),
            msg_id: None,
            headers: vec![],
            payload: b"not json".to_vec().into(),
        })
        .await
        .unwrap();
        let batch = nats.fetch(10, Duration::from_secs(2)).await.unwrap();
        ingest.handle(batch).await;
        assert_eq!(stats.undecodable.load(Relaxed), 1);
        assert!(nats
            .fetch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty());
    });
}

#[test]
fn a_dead_workers_cameras_move_within_ttl_and_a_heartbeat() {
    let srv = nats_server();
    let rt = rt();
    rt.block_on(async {
        let ttl = Duration::from_secs(1);
        let mut cfg = NatsConfig::new(&srv.url);
        cfg.lease_ttl = ttl;
        let nats = Arc::new(Nats::connect(cfg).await.unwrap());
        let cameras: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let lease = |w: &str| {
            Leases::new(
                nats.clone(),
                LeaseConfig {
                    worker: w.into(),
                    ttl,
                    cameras: cameras.clone(),
                },
            )
        };
        let (mut w1, rx1) = lease("w1");
        let (mut w2, rx2) = lease("w2");
        // Both join, then converge to the fair share (2 + 2).
        for _ in 0..6 {
            w1.tick().await.unwrap();
            w2.tick().await.unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let (h1, h2) = (rx1.borrow().clone(), rx2.borrow().clone());
        assert_eq!((h1.len(), h2.len()), (2, 2), "{h1:?} {h2:?}");
        assert!(h1.is_disjoint(&h2));
        assert!(nats.kv_get(KvBucket::Leases, "a").await.unwrap().is_some());
        // w1 dies: it stops heartbeating. w2 keeps beating every TTL/3.
        drop(w1);
        let died = Instant::now();
        let beat = ttl / 3;
        let bound = ttl + beat + Duration::from_millis(900);
        loop {
            let changes = w2.tick().await.unwrap();
            assert!(
                !changes.iter().any(|c| matches!(c, LeaseEvent::Lost { .. })),
                "{changes:?}"
            );
            if rx2.borrow().len() == 4 {
                break;
            }
            assert!(
                died.elapsed() < bound,
                "w1's cameras not taken over within {bound:?}: {:?}",
                rx2.borrow()
            );
            tokio::time::sleep(beat).await;
        }
        eprintln!("takeover after {:?} (ttl {ttl:?})", died.elapsed());
        // A clean stop releases at once.
        w2.release_all().await;
        assert!(nats.kv_get(KvBucket::Leases, "a").await.unwrap().is_none());
    });
}

fn plate_msg(obs: &pipeline::PlateObservation, origin: &str) -> Outgoing {
    let id = bus::plate_msg_id(obs);
    Outgoing {
        subject: "kuzet.plate".into(),
        headers: vec![("Kuzet-Origin", origin.into()), ("Kuzet-Msg-Id", id)],
        // No broker dedupe id: the second publish below stands for a
        // redelivery after the broker's window (or a crash before the ack),
        // which only the store can absorb.
        msg_id: None,
        payload: serde_json::to_vec(obs).unwrap().into(),
    }
}

/// A worker's voted plate read delivered twice: stored once, matched against
/// the hotlist centrally, one `hotlist_match` with the embedded mode's
/// evidence and details.
#[test]
fn a_redelivered_plate_read_is_stored_once_and_alerts_once() {
    let srv = nats_server();
    let rt = rt();
    rt.block_on(async {
        let nats = Arc::new(Nats::connect(NatsConfig::new(&srv.url)).await.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        store.ensure_hotlist("stolen", "test").unwrap();
        let entry = store
            .add_hotlist_entries(
                "stolen",
                vec![store::NewHotlistEntry {
                    plate: "AB123CD".into(),
                    reason: "stolen in test".into(),
                    priority: 5,
                    ..Default::default()
                }],
            )
            .unwrap()[0];
        // The crop the read names, as the worker publishes it first.
        let rgb = vec![128u8; 64 * 32 * 3];
        let (jpeg, w, h) = store::encode_jpeg(&rgb, 64, 32, None, 85).unwrap();
        let crop = store::sha256_hex(&jpeg);
        nats.publish(Outgoing {
            subject: "kuzet.evidence".into(),
            msg_id: Some(bus::evidence_msg_id(&crop)),
            headers: vec![
                ("Kuzet-Origin", "w1/1".into()),
                ("Kuzet-Width", w.to_string()),
                ("Kuzet-Height", h.to_string()),
            ],
            payload: jpeg.into(),
        })
        .await
        .unwrap();
        let obs = plate_obs(3, 10_000, Some(crop.clone()));
        let mut ingest = Ingest::new(nats.clone(), store.clone());
        let stats = ingest.stats();
        use std::sync::atomic::Ordering::Relaxed;
        for round in 0..2 {
            nats.publish(plate_msg(&obs, "w1/1")).await.unwrap();
            let batch = nats.fetch(100, Duration::from_secs(2)).await.unwrap();
            assert!(!batch.is_empty(), "round {round}: nothing delivered");
            ingest.handle(batch).await;
        }
        assert_eq!(
            stats.plate_reads.load(Relaxed),
            2,
            "both deliveries handled"
        );
        assert_eq!(stats.hotlist_matches_new.load(Relaxed), 1);
        assert_eq!(stats.hotlist_matches_duplicate.load(Relaxed), 1);
        assert_eq!(stats.store_failures.load(Relaxed), 0);
        let reads = store
            .plate_reads(&store::PlateReadQuery::default())
            .unwrap();
        assert_eq!(reads.len(), 1, "the plate read is stored once: {reads:?}");
        let read = &reads[0];
        assert_eq!(read.read.plate, "AB123CD");
        assert_eq!(read.read.hotlist_hits, 1);
        assert!(
            read.read.run_id.is_some(),
            "the read belongs to the worker's run"
        );
        let alerts = store
            .events(&store::EventQuery {
                kind: Some("hotlist_match".into()),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(alerts.len(), 1, "one alert for one read: {alerts:?}");
        let a = &alerts[0];
        assert_eq!(a.camera, "gate");
        assert_eq!(a.track_id, Some(3));
        assert_eq!(a.ts, Timestamp::from_millis(11_000));
        assert_eq!(a.evidence.as_deref(), Some(crop.as_str()));
        assert_eq!(a.details["plate_read_id"], read.id);
        assert_eq!(a.details["entry_id"], entry);
        assert_eq!(a.details["match_kind"], "exact");
        assert!(
            store.evidence_path(&crop).is_some(),
            "the alert's evidence JPEG was stored"
        );
        assert!(nats
            .fetch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty());
    });
}

#[test]
fn live_status_and_snapshots_reach_the_server_and_go_stale() {
    use bus::live::{self, LiveTiming, LiveView, Snapshot, SnapshotMeta};
    let srv = nats_server();
    let rt = rt_mt();
    let timing = LiveTiming {
        status_every: Duration::from_millis(100),
        stale_after: Duration::from_millis(600),
        snapshot_timeout: Duration::from_secs(2),
    };
    let (worker, server) = rt.block_on(async {
        let w = Nats::connect(NatsConfig::new(&srv.url)).await.unwrap();
        let mut scfg = NatsConfig::new(&srv.url);
        scfg.leases = false;
        let s = Nats::connect(scfg).await.unwrap();
        (w, s)
    });
    let view = rt
        .block_on(LiveView::start(server.client(), timing))
        .unwrap();
    // A 32x24 gradient as the camera's latest frame.
    let (w, h) = (32u32, 24u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| [(i % w * 8) as u8, (i / w * 10) as u8, 128])
        .collect();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(&rgb, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    let meta = SnapshotMeta {
        ts: Timestamp::from_millis(1234),
        width: w,
        height: h,
        objects: vec![(
            7,
            "person".into(),
            0.9,
            base::BBox::new(1.0, 2.0, 10.0, 20.0),
        )],
    };
    let status = move |id: &str| base::CameraStatus {
        id: id.into(),
        name: id.into(),
        url: "rtsp://cam".into(),
        state: base::CameraState::Online,
        fps: 4.5,
        frames: 99,
        dropped: 1,
        queue_depth: 0,
        reconnects: 0,
        width: w,
        height: h,
        last_frame: Some(Timestamp::from_millis(1234)),
        last_error: None,
    };
    let shot = Snapshot {
        meta: meta.clone(),
        jpeg: jpeg.clone().into(),
    };
    let stop = base::Shutdown::new();
    let task = rt.spawn(live::serve_worker(
        worker.client(),
        "w1".into(),
        Arc::new(move || vec![status("gate 1"), status("north")]),
        Arc::new(move |cam: &str| (cam == "gate 1").then(|| shot.clone())),
        timing,
        stop.clone(),
    ));
    let t = Instant::now();
    while view.statuses().len() < 2 {
        assert!(t.elapsed() < Duration::from_secs(10), "no status arrived");
        std::thread::sleep(Duration::from_millis(20));
    }
    let got = view.statuses();
    assert_eq!(got[0].0, "w1");
    assert_eq!(got[0].1.id, "gate 1");
    assert_eq!(got[1].1.frames, 99);
    // The running camera answers with its frame; another is nobody's.
    let s = rt.block_on(view.snapshot("gate 1")).unwrap().unwrap();
    assert_eq!(s.meta, meta);
    assert_eq!(s.jpeg.to_vec(), jpeg);
    let t = Instant::now();
    assert!(rt.block_on(view.snapshot("north")).unwrap().is_none());
    assert!(
        t.elapsed() <= Duration::from_millis(2500),
        "a silent worker costs the timeout, no more"
    );
    // A worker that stops reporting drops out of the live list.
    stop.trigger();
    rt.block_on(task).unwrap().unwrap();
    let t = Instant::now();
    while !view.statuses().is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "stale status kept");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Without any worker, a snapshot request ends at once (no responders).
    drop(worker);
    assert!(rt.block_on(view.snapshot("gate 1")).unwrap().is_none());
}

/// Item 2's back-pressure at its limit: a stream far smaller than what the
/// workers publish while the central side is down. The broker refuses what
/// does not fit (discard-new: nothing it acknowledged is evicted), the
/// publisher retries with the same ids, its bounded queue fills and the
/// pipeline thread waits (both counted); once the ingest runs, everything
/// is stored exactly once. The production stream is the same with 1 GiB.
#[test]
fn a_full_stream_holds_back_workers_and_loses_nothing_acknowledged() {
    use bus::{BusSink, SinkConfig};
    use pipeline::Sink;
    use std::sync::atomic::Ordering::Relaxed;
    let srv = nats_server();
    let rt = rt_mt();
    const STREAM: i64 = 256 * 1024;
    let mut cfg = NatsConfig::new(&srv.url);
    cfg.max_bytes = STREAM;
    let worker = Arc::new(rt.block_on(Nats::connect(cfg.clone())).unwrap());
    let sink = BusSink::start(
        worker.clone(),
        SinkConfig {
            worker: "w1".into(),
            queue: 8,
            in_flight: 4,
        },
        rt.handle(),
        None,
    );
    // 48 events, each with its own ~16 KiB evidence JPEG: about three
    // times what the stream holds.
    let mut noise = 0x2545_f491_4f6c_dd1du64;
    let rgb: Vec<u8> = (0..96 * 96 * 3)
        .map(|_| {
            noise ^= noise << 13;
            noise ^= noise >> 7;
            noise ^= noise << 17;
            noise as u8
        })
        .collect();
    let mut jpeg = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(&rgb, 96, 96, image::ExtendedColorType::Rgb8)
        .unwrap();
    assert!(jpeg.len() > 12_000, "{} bytes", jpeg.len());
    const N: usize = 48;
    let publisher = {
        let sink = sink.clone();
        std::thread::spawn(move || {
            let mut hashes = Vec::new();
            for i in 0..N {
                let mut j = jpeg.clone();
                j.extend_from_slice(format!("event {i}").as_bytes());
                let h = sink.publish_evidence(j, 96, 96).unwrap();
                let mut e = Event::new(
                    "gate",
                    "zone_enter",
                    Timestamp::from_millis(5_000 + i as i64),
                );
                e.track_id = Some(i as u64);
                e.evidence = Some(h.clone());
                sink.insert_events(vec![e]).unwrap();
                hashes.push(h);
            }
            sink.flush().unwrap();
            hashes
        })
    };
    // No ingest yet: the worker is held back, not dropping anything.
    let t = Instant::now();
    while sink.stats().retries.load(Relaxed) == 0 || sink.stats().queue_full.load(Relaxed) == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "the full stream never refused a publish"
        );
        assert!(
            !publisher.is_finished(),
            "everything fit: the stream is not full"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let acked_while_full = sink.stats().acked.load(Relaxed);
    assert!(
        (acked_while_full as usize) < 2 * N,
        "the broker acknowledged everything ({acked_while_full}) into a full stream"
    );
    // The central side comes back and drains the stream.
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let stop = base::Shutdown::new();
    let mut scfg = cfg.clone();
    scfg.leases = false;
    let ingest = {
        let (store, stop) = (store.clone(), stop.clone());
        std::thread::spawn(move || {
            let rt = self::rt();
            let central = Arc::new(rt.block_on(Nats::connect(scfg)).unwrap());
            rt.block_on(Ingest::new(central, store).run(stop));
        })
    };
    let hashes = publisher.join().unwrap();
    // A refused evidence publish is retried while the (small) event behind
    // it may already fit, so the stream can hold an event before its JPEG:
    // wait for both, not just the events.
    let t = Instant::now();
    while store.event_msg_ids().unwrap().len() < N
        || hashes.iter().any(|h| store.evidence_path(h).is_none())
    {
        assert!(
            t.elapsed() < Duration::from_secs(60),
            "the ingest did not catch up"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    stop.trigger();
    ingest.join().unwrap();
    store.flush().unwrap();
    let ids = store.event_msg_ids().unwrap();
    assert_eq!(ids.len(), N, "every event stored once");
    for h in &hashes {
        assert!(store.evidence_path(h).is_some(), "evidence {h} lost");
    }
    let s = sink.stats();
    eprintln!(
        "stream {STREAM} B: {} publishes retried, queue full {} times, {} acknowledged before the ingest ran",
        s.retries.load(Relaxed),
        s.queue_full.load(Relaxed),
        acked_while_full
    );
}

/// An owner withdraws an analytic at run time: what workers publish of it
/// from then on is acknowledged and not stored (workers hold no store; the
/// serve node enforces the change), the rest of the camera's data still is.
#[test]
fn a_withdrawn_analytic_is_not_stored_from_workers() {
    use std::sync::atomic::Ordering::Relaxed;
    let srv = nats_server();
    let rt = rt();
    rt.block_on(async {
        let nats = Arc::new(Nats::connect(NatsConfig::new(&srv.url)).await.unwrap());
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        store.set_camera_agreements(
            [(
                "gate".to_owned(),
                store::CameraAgreement {
                    owner: "mall".into(),
                    analytics: Some(vec!["zones".into(), "lines".into(), "plates".into()]),
                    viewer_roles: None,
                },
            )]
            .into_iter()
            .collect(),
        );
        let mut ingest = Ingest::new(nats.clone(), store.clone());
        let stats = ingest.stats();
        let ev = |kind: &str, ms: i64| {
            let mut e = Event::new("gate", kind, Timestamp::from_millis(ms));
            e.track_id = Some(ms as u64);
            e
        };
        let deliver = |events: Vec<Event>| {
            let nats = nats.clone();
            async move {
                for e in &events {
                    nats.publish(event_msg(e, "w1/1")).await.unwrap();
                }
                nats.fetch(100, Duration::from_secs(2)).await.unwrap()
            }
        };
        let batch = deliver(vec![ev("zone_enter", 1_000), ev("line_cross", 1_001)]).await;
        ingest.handle(batch).await;
        assert_eq!(stats.events_new.load(Relaxed), 2);
        store
            .set_agreement_terms(
                "mall",
                store::AgreementTerms {
                    analytics: Some(vec!["lines".into(), "plates".into()]),
                    ..Default::default()
                },
                "sara",
                None,
                "zone analytics withdrawn by the owner",
            )
            .unwrap();
        let batch = deliver(vec![ev("zone_enter", 2_000), ev("line_cross", 2_001)]).await;
        ingest.handle(batch).await;
        assert_eq!(stats.withheld.load(Relaxed), 1, "the zone event");
        assert_eq!(
            stats.events_new.load(Relaxed),
            3,
            "the line event is stored"
        );
        let kinds: Vec<(String, i64)> = store
            .events(&store::EventQuery::default())
            .unwrap()
            .into_iter()
            .map(|e| (e.kind, e.ts.millis()))
            .collect();
        assert!(
            !kinds.contains(&("zone_enter".into(), 2_000)),
            "a withdrawn analytic's event was stored: {kinds:?}"
        );
        assert_eq!(kinds.len(), 3, "{kinds:?}");
        // Acknowledged all the same: nothing comes back.
        assert!(nats
            .fetch(10, Duration::from_millis(300))
            .await
            .unwrap()
            .is_empty());
    });
}

/// A withdrawal made on the server reaches running workers through the bus
/// (they stop analysing and publishing the analytic) and binds a worker
/// started afterwards from its first frame; clearing it lifts it everywhere.
#[test]
fn a_withdrawal_reaches_running_and_later_workers_through_the_bus() {
    use bus::agreements::{follow_agreements, publish_agreements, WorkerAgreements};
    use pipeline::Sink;
    let srv = nats_server();
    let rt = rt_mt();
    let nats = Arc::new(
        rt.block_on(Nats::connect(NatsConfig::new(&srv.url)))
            .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let cameras: std::collections::HashMap<_, _> = [(
        "gate".to_owned(),
        store::CameraAgreement {
            owner: "mall".into(),
            analytics: Some(vec!["zones".into(), "plates".into()]),
            viewer_roles: None,
        },
    )]
    .into_iter()
    .collect();
    store.set_camera_agreements(cameras.clone());
    let stop = base::Shutdown::new();
    rt.spawn(publish_agreements(
        nats.client(),
        store.clone(),
        Duration::from_millis(100),
        stop.clone(),
    ));
    let running = Arc::new(WorkerAgreements::new(cameras.clone()));
    rt.block_on(follow_agreements(
        nats.client(),
        running.clone(),
        rt.handle(),
        stop.clone(),
    ))
    .unwrap();
    let sink = bus::BusSink::start(
        nats.clone(),
        bus::SinkConfig {
            worker: "w1".into(),
            ..Default::default()
        },
        rt.handle(),
        None,
    );
    sink.bind_agreements(running.clone());
    assert!(sink.analytic_allowed("gate", "plates"));

    let wait_for = |what: &str, f: &dyn Fn() -> bool| {
        let t = Instant::now();
        while !f() {
            assert!(t.elapsed() < Duration::from_secs(10), "{what} within 10 s");
            std::thread::sleep(Duration::from_millis(20));
        }
        t.elapsed()
    };
    store
        .set_agreement_terms(
            "mall",
            store::AgreementTerms {
                analytics: Some(vec!["zones".into()]),
                ..Default::default()
            },
            "sara",
            None,
            "plate reading withdrawn by the owner",
        )
        .unwrap();
    let took = wait_for("the withdrawal reaches the running worker", &|| {
        !sink.analytic_allowed("gate", "plates")
    });
    eprintln!("withdrawal reached the worker in {took:?}");
    assert!(sink.analytic_allowed("gate", "zones"));
    // Its events are not published.
    let kept = sink
        .insert_events(vec![
            Event::new("gate", "hotlist_match", Timestamp::from_millis(1)),
            Event::new("gate", "zone_enter", Timestamp::from_millis(2)),
        ])
        .unwrap();
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].kind, "zone_enter");
    assert_eq!(running.withheld(), 1);

    // A worker starting now is bound before its engine runs.
    let later = Arc::new(WorkerAgreements::new(cameras));
    rt.block_on(follow_agreements(
        nats.client(),
        later.clone(),
        rt.handle(),
        stop.clone(),
    ))
    .unwrap();
    assert!(!later.analytic_allowed("gate", "plates"));

    // Back to the configured terms: lifted on both.
    store
        .set_agreement_terms(
            "mall",
            store::AgreementTerms::default(),
            "sara",
            None,
            "owner renewed consent",
        )
        .unwrap();
    wait_for("the renewal reaches both workers", &|| {
        running.analytic_allowed("gate", "plates") && later.analytic_allowed("gate", "plates")
    });
    stop.trigger();
}

/// With `serve --database` the plate matcher takes its hotlists from
/// PostgreSQL (schema 8), where every serve node reads them: an entry added
/// through another connection (another serve node, the CLI) alerts on the
/// next read without a restart, and its removal stops the alerts.
#[test]
fn plate_reads_are_matched_against_the_hotlists_in_postgres() {
    use store::StoreBackend;
    let pg = store_pg::testing::TempPostgres::start().unwrap();
    let url = pg.create_database("hotlists").unwrap();
    let connect = || Arc::new(store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let data = connect();
    let mut matcher =
        pipeline::PlateMatcher::new(store.clone(), &vehicles::PlateFormats::builtin())
            .with_backend(data.clone());
    let obs = |track: u64, ms: i64| plate_obs(track, ms, None);
    assert!(matcher
        .record(obs(1, 1_000), None, Some("r/1"))
        .unwrap()
        .events
        .is_empty());
    // Another node adds the plate.
    let other = connect();
    let id = other
        .add_hotlist_entries(
            "stolen",
            vec![store::NewHotlistEntry {
                plate: "AB 123 CD".into(),
                reason: "stolen 2026-11-01".into(),
                ..Default::default()
            }],
        )
        .unwrap()[0];
    let m = matcher.record(obs(2, 5_000), None, Some("r/2")).unwrap();
    assert_eq!(m.events.len(), 1, "{m:?}");
    assert_eq!(m.events[0].kind, "hotlist_match");
    assert_eq!(m.events[0].details["entry_id"], id);
    // Stored in PostgreSQL, nothing in the serve node's SQLite.
    assert_eq!(
        data.events(&store::EventQuery {
            kind: Some("hotlist_match".into()),
            ..Default::default()
        })
        .unwrap()
        .len(),
        1
    );
    assert!(store.hotlist_entries(None).unwrap().is_empty());
    assert!(store
        .events(&store::EventQuery::default())
        .unwrap()
        .is_empty());
    assert!(other.remove_hotlist_entry(id).unwrap());
    assert!(matcher
        .record(obs(3, 9_000), None, Some("r/3"))
        .unwrap()
        .events
        .is_empty());
}

/// A voted read of plate AB123CD on camera "gate", seen from `ms` for 2 s.
fn plate_obs(track: u64, ms: i64, crop: Option<String>) -> pipeline::PlateObservation {
    pipeline::PlateObservation {
        read: store::NewPlateRead {
            camera: "gate".into(),
            run_id: None,
            track_id: Some(track),
            first_seen: Timestamp::from_millis(ms),
            last_seen: Timestamp::from_millis(ms + 2000),
            plate: "AB123CD".into(),
            raw_text: "AB123CD".into(),
            format: None,
            country: None,
            confidence: 0.92,
            votes: 5,
            agreeing: 4,
            vehicle_type: Some("car".into()),
            colour: None,
            plate_crop: crop,
            vehicle_crop: None,
            frame: None,
            hotlist_hits: 0,
        },
        plate_box: base::BBox::new(5.0, 6.0, 69.0, 38.0),
        ts: Timestamp::from_millis(ms + 1000),
    }
}
