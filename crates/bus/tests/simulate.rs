//! `kuzet simulate`'s engine at CI size against a real `nats-server`: what
//! the simulated cameras published must be in the store exactly once, and
//! the report must agree with an independent look at the store.

use kuzet_bus as bus;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod common;

#[test]
fn simulated_traffic_is_stored_once_and_measured() {
    let srv = common::nats_server();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    // 4 cameras at 5 events/s for 2 s, two publishing workers: ~40 events,
    // ~20 tracks, ~5 plate reads and their JPEGs (a few MB).
    let mut cfg = bus::SimConfig::new(&srv.url, 4, 5.0, 2.0);
    cfg.workers = 2;
    cfg.drain_timeout = Duration::from_secs(60);
    let r = bus::simulate(&cfg, store.clone()).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());

    assert!(r.clean(), "lost, duplicated or foreign records: {r:?}");
    assert!(
        r.events >= 30,
        "expected ~40 events, generated {}",
        r.events
    );
    assert!(r.plate_reads >= 2 && r.tracks >= 10, "{r:?}");
    assert_eq!(r.stored_events, r.events, "each event stored once");
    assert_eq!(r.event_latency.count as u64, r.events);
    assert_eq!(r.plate_latency.count as u64, r.plate_reads);
    assert!(r.event_latency.p50_ms > 0.0 && r.event_latency.p99_ms >= r.event_latency.p50_ms);
    assert!(r.publish_bytes_per_s > 0.0 && r.ingest_events_per_s > 0.0);
    assert_eq!((r.undecodable, r.store_failures), (0, 0));
    // The broker's own count agrees: everything acknowledged was stored in
    // the stream once, and the ingest committed all of it.
    assert_eq!(r.publish_duplicates, 0, "{r:?}");
    assert_eq!(r.stream_stored, r.messages_acked, "{r:?}");
    assert!(r.committed_messages >= r.stream_stored, "{r:?}");

    // Independently of the report: one row per message id, as many rows as
    // events generated, every event's evidence on disk, reads stored once.
    let ids = store.event_msg_ids().unwrap();
    let mut per_id: HashMap<&str, usize> = HashMap::new();
    for (id, _) in &ids {
        *per_id.entry(id.as_str()).or_default() += 1;
    }
    assert_eq!(ids.len() as u64, r.events);
    assert!(per_id.values().all(|&n| n == 1));
    let evs = store
        .events(&store::EventQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(evs.len() as u64, r.events);
    for e in &evs {
        let h = e
            .evidence
            .as_deref()
            .expect("every simulated event has a crop");
        assert!(store.evidence_path(h).is_some_and(|p| p.is_file()), "{h}");
    }
    let keys = store.dedupe_keys(store::KeyedTable::PlateReads).unwrap();
    assert_eq!(keys.len() as u64, r.plate_reads);
    let counts = store.counts().unwrap();
    assert_eq!(
        counts.tracks as u64, r.tracks,
        "one row per simulated track"
    );
    assert_eq!(counts.cameras, 4);
}

/// `kuzet simulate --database`: the same traffic through the production
/// ingest into PostgreSQL (a throw-away server) with evidence in a blob
/// store indexed there, as `kuzet serve --bus --database` stores it.
#[test]
fn simulated_traffic_into_postgres_is_stored_once() {
    use store::StoreBackend;
    let srv = common::nats_server();
    let pg = store_pg::testing::TempPostgres::start().unwrap();
    let url = pg.create_database("sim").unwrap();
    let data = Arc::new(store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let bucket = tempfile::tempdir().unwrap();
    let blobs = Arc::new(store_pg::IndexedBlobs::new(
        Arc::new(store::LocalEvidence::new(bucket.path())),
        data.clone(),
    ));
    let mut cfg = bus::SimConfig::new(&srv.url, 4, 5.0, 2.0);
    cfg.workers = 2;
    cfg.drain_timeout = Duration::from_secs(60);
    let r =
        bus::simulate_with_faces(&cfg, store.clone(), Some((data.clone(), blobs)), None).unwrap();
    eprintln!("{}", serde_json::to_string_pretty(&r).unwrap());
    assert_eq!(r.backend, "postgres");
    assert!(r.clean(), "lost, duplicated or foreign records: {r:?}");
    assert!(r.events >= 30 && r.plate_reads >= 2, "{r:?}");
    assert_eq!(r.stored_events, r.events, "each event stored once");
    assert_eq!(r.store_failures, 0);
    // Independently of the report: PostgreSQL holds the rows and indexes
    // every file; the serve node's SQLite holds none of the events.
    let counts = data.counts().unwrap();
    assert_eq!((counts.events, counts.tracks), (r.events, r.tracks));
    assert_eq!(counts.evidence_files, r.evidence, "{counts:?}");
    let keys = data.dedupe_keys(store::KeyedTable::PlateReads).unwrap();
    assert_eq!(keys.len() as u64, r.plate_reads);
    assert_eq!(store.counts().unwrap().events, 0);
}

/// Issue #8's "acknowledged evidence lost under backlog" was this: a run on
/// a broker that an earlier run had used within its dedupe window (120 s)
/// generated the same synthetic JPEGs — same bytes, same content-addressed
/// message ids — so the broker acknowledged them as duplicates of the first
/// run's messages without storing them, and the second run's store never
/// got them (missing files, drain waiting for messages that did not exist).
/// Back-to-back runs on one broker must each store all of their evidence.
#[test]
fn back_to_back_runs_on_one_broker_each_store_all_their_evidence() {
    let srv = common::nats_server();
    for round in 1..=2 {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(store::Store::open(dir.path()).unwrap());
        let mut cfg = bus::SimConfig::new(&srv.url, 2, 5.0, 1.0);
        cfg.drain_timeout = Duration::from_secs(30);
        let r = bus::simulate(&cfg, store.clone()).unwrap();
        assert!(r.evidence >= 10, "round {round}: {r:?}");
        assert_eq!(
            (r.publish_duplicates, r.missing_evidence),
            (0, 0),
            "round {round}: evidence acknowledged as duplicates / missing: {r:?}"
        );
        assert!(r.clean(), "round {round}: {r:?}");
        assert_eq!(r.stream_stored, r.messages_acked, "round {round}: {r:?}");
        // Independently of the report: one file per generated JPEG.
        assert_eq!(
            store.counts().unwrap().evidence_files,
            r.evidence,
            "round {round}"
        );
    }
}

#[test]
fn a_broker_with_a_backlog_is_refused() {
    let srv = common::nats_server();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use bus::Bus;
        let mut c = bus::NatsConfig::new(&srv.url);
        c.leases = false;
        let n = bus::Nats::connect(c).await.unwrap();
        // The consumer must exist for messages to count as its backlog.
        n.pending().await.unwrap();
        n.publish(bus::Outgoing {
            subject: "kuzet.camera".into(),
            msg_id: None,
            headers: vec![],
            payload: b"{}".to_vec().into(),
        })
        .await
        .unwrap();
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(store::Store::open(dir.path()).unwrap());
    let cfg = bus::SimConfig::new(&srv.url, 1, 1.0, 1.0);
    let e = bus::simulate(&cfg, store).unwrap_err().to_string();
    assert!(e.contains("1 messages not yet ingested"), "{e}");
}

/// Face sightings in the simulated mix: each is matched by the central face
/// service (real models), sealed and stored exactly once with its crop.
#[test]
fn simulated_face_sightings_are_matched_sealed_and_stored_once() {
    let srv = common::nats_server();
    let dir = tempfile::tempdir().unwrap();
    let (store, svc) = common::sealed_store_and_faces(dir.path());
    let matcher = pipeline::FaceMatcher::new(svc, store.clone(), true, HashMap::new());
    // 2 cameras at 2 events/s for 2 s with one sighting per event: ~8.
    let mut cfg = bus::SimConfig::new(&srv.url, 2, 2.0, 2.0);
    cfg.profile.faces_per_event = 1.0;
    cfg.drain_timeout = Duration::from_secs(60);
    let r = bus::simulate_with_faces(&cfg, store.clone(), None, Some(matcher)).unwrap();
    assert!(r.clean(), "lost, duplicated or foreign records: {r:?}");
    assert!(r.sightings >= 4, "{r:?}");
    assert_eq!(r.stored_sightings, r.sightings, "{r:?}");
    assert_eq!(r.sighting_latency.count as u64, r.sightings);
    let keys = store.dedupe_keys(store::KeyedTable::Sightings).unwrap();
    assert_eq!(keys.len() as u64, r.sightings, "one row per sighting");
    let stored = store
        .sightings(&store::SightingQuery::default(), 100)
        .unwrap();
    assert_eq!(stored.len() as u64, r.sightings);
    for s in &stored {
        let crop = s.crop.as_deref().expect("every sighting has its crop");
        let bytes = std::fs::read(store.evidence_path(crop).unwrap()).unwrap();
        assert!(bytes.starts_with(b"KZSEAL1\n"), "crop {crop} not sealed");
    }
    // Without the face service the option is refused, naming it.
    let err = bus::simulate(&cfg, store).unwrap_err().to_string();
    assert!(err.contains("--faces-per-event"), "{err}");
}

/// With PostgreSQL as the central database (`kuzet serve --bus --database`),
/// the sightings are stored there, sealed, once each, none in the serve
/// node's SQLite; the face service indexes and searches them there, and
/// forgets what that database's retention deleted.
#[test]
fn simulated_face_sightings_go_to_postgres_sealed() {
    use store::StoreBackend;
    let srv = common::nats_server();
    let pg = store_pg::testing::TempPostgres::start().unwrap();
    let url = pg.create_database("simfaces").unwrap();
    let data = Arc::new(store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let (store, svc) = common::sealed_store_and_faces_with(dir.path(), Some(data.clone()));
    assert!(svc.central_sightings());
    let matcher = pipeline::FaceMatcher::new(svc.clone(), store.clone(), true, HashMap::new());
    let blobs = Arc::new(store_pg::IndexedBlobs::new(
        Arc::new(store::LocalEvidence::new(
            dir.path().join(store::EVIDENCE_DIR),
        )),
        data.clone(),
    ));
    let mut cfg = bus::SimConfig::new(&srv.url, 2, 2.0, 2.0);
    cfg.profile.faces_per_event = 1.0;
    cfg.drain_timeout = Duration::from_secs(60);
    let r = bus::simulate_with_faces(
        &cfg,
        store.clone(),
        Some((data.clone(), blobs)),
        Some(matcher),
    )
    .unwrap();
    assert!(r.clean(), "lost, duplicated or foreign records: {r:?}");
    assert!(r.sightings >= 4, "{r:?}");
    // Independently of the report: in PostgreSQL once each, sealed; none here.
    let keys = data.dedupe_keys(store::KeyedTable::Sightings).unwrap();
    assert_eq!(keys.len() as u64, r.sightings, "one row per sighting");
    assert!(store
        .sightings(&store::SightingQuery::default(), 100)
        .unwrap()
        .is_empty());
    // Sealed: a connection without the key cannot open them.
    let bare = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap();
    let model = data.sightings(&Default::default(), 1).unwrap()[0]
        .model
        .clone();
    let e = bare
        .sighting_embeddings(&model, 0, 10)
        .unwrap_err()
        .to_string();
    assert!(e.contains("sealed"), "{e}");
    drop(bare);
    // The service indexed them from there: a stored embedding finds its row.
    assert_eq!(svc.sighting_count() as u64, r.sightings);
    let (id, emb) = data.sighting_embeddings(&model, 0, 1).unwrap().remove(0);
    let (found, searched) = svc
        .search_embedding(&emb, &store::SightingQuery::default(), Some(0.99))
        .unwrap();
    assert_eq!(searched as u64, r.sightings);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].best.id, id, "{found:?}");
    // What the database's retention deleted leaves the index.
    svc.forget_sightings(&[id]);
    assert_eq!(svc.sighting_count() as u64, r.sightings - 1);
}
