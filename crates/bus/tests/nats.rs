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
        let obs = pipeline::PlateObservation {
            read: store::NewPlateRead {
                camera: "gate".into(),
                run_id: None,
                track_id: Some(3),
                first_seen: Timestamp::from_millis(10_000),
                last_seen: Timestamp::from_millis(12_000),
                plate: "AB123CD".into(),
                raw_text: "AB123CD".into(),
                format: None,
                country: None,
                confidence: 0.92,
                votes: 5,
                agreeing: 4,
                vehicle_type: Some("car".into()),
                colour: None,
                plate_crop: Some(crop.clone()),
                vehicle_crop: None,
                frame: None,
                hotlist_hits: 0,
            },
            plate_box: base::BBox::new(5.0, 6.0, 69.0, 38.0),
            ts: Timestamp::from_millis(11_000),
        };
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
