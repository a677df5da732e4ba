//! Central face matching in distributed mode, against a real `nats-server`
//! and the real face models: a worker's sink publishes face sightings
//! (embedding, quality, crop), the production ingest matches them against
//! the central watchlists with the authorisation gate of embedded mode,
//! votes per track, raises one `face_match`, and stores every sighting once
//! — also when a sighting is delivered again after the broker's window.

use base::{BBox, Timestamp};
use bus::{Bus, BusSink, Ingest, Nats, NatsConfig, Outgoing, SinkConfig};
use faces::{load_photo, FaceService};
use kuzet_bus as bus;
use pipeline::{FaceMatcher, FaceObservation, Sink};
use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

mod common;

fn embedding(svc: &FaceService, rel: &str) -> Vec<f32> {
    let img = load_photo(&base::env::require_data(rel)).unwrap();
    svc.probe_face(&img).unwrap().embedding.unwrap()
}

#[test]
fn worker_sightings_are_matched_centrally_once_and_only_where_authorised() {
    let srv = common::nats_server();
    let dir = tempfile::tempdir().unwrap();
    // The central server holds the sealing key: face data is stored only
    // encrypted (the worker side of this test holds none).
    let (store, svc) = common::sealed_store_and_faces(dir.path());
    // Central data only: a wanted list with one person, and a live
    // authorisation for camera "gate" (not "hall"), approved by a second user.
    let (list, _) = store
        .ensure_watchlist("wanted", store::WatchlistCategory::Wanted, 0.4, 5)
        .unwrap();
    let img = load_photo(&base::env::require_data("faces/obama/fr_obama.jpg")).unwrap();
    let face = svc.enrolment_face(&img, true).unwrap();
    let legal = store::LegalBasis {
        case_number: Some("C-1".into()),
        authority: Some("court".into()),
        expires: None,
    };
    let person = svc
        .enrol_faces(&list, "Obama", None, &legal, vec![face])
        .unwrap();
    let now = Timestamp::from_millis(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64,
    );
    let a = store
        .request_authorisation(store::NewAuthorisation {
            purpose: store::AuthorisationPurpose::Live,
            legal_ground: "Police Act s. 12".into(),
            authority: "Duty officer".into(),
            decision_ref: "D-1".into(),
            scope_text: "gate".into(),
            cameras: vec!["gate".into()],
            watchlists: vec!["wanted".into()],
            list_class: store::ListClass::Criminal,
            window_start: None,
            window_end: None,
            expires: now.plus(Duration::from_secs(3600)),
            urgent: false,
            requested_by: "ivan".into(),
        })
        .unwrap();
    store.approve_authorisation(a.id, "sara").unwrap();

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mut ncfg = NatsConfig::new(&srv.url);
    ncfg.leases = false;
    let nats = Arc::new(rt.block_on(Nats::connect(ncfg)).unwrap());
    let sink = BusSink::start(nats.clone(), SinkConfig::default(), rt.handle(), None);
    sink.begin_run().unwrap();

    // The worker's half: crops published as evidence, observations as sightings.
    let crop_jpeg = std::fs::read(base::env::require_data("faces/obama/fr_obama1.jpg")).unwrap();
    let obs = |cam: &str, track: u64, ms: i64, rel: &str, crop: Option<String>| FaceObservation {
        camera: cam.into(),
        track_id: track,
        ts: Timestamp::from_millis(now.millis() + ms),
        model: svc.model_key().into(),
        embedding: embedding(&svc, rel),
        face_box: BBox::new(10.0, 10.0, 60.0, 70.0),
        quality: 0.8,
        crop,
    };
    let crop = store::sha256_hex(&crop_jpeg);
    let dims = image::load_from_memory(&crop_jpeg).unwrap();
    sink.publish_evidence(crop_jpeg.clone(), dims.width(), dims.height())
        .unwrap();
    let first = obs(
        "gate",
        7,
        0,
        "faces/obama/fr_obama1.jpg",
        Some(crop.clone()),
    );
    let second = obs(
        "gate",
        7,
        400,
        "faces/obama/fr_obama3.jpg",
        Some(crop.clone()),
    );
    let hall = [
        obs("hall", 8, 0, "faces/obama/fr_obama1.jpg", None),
        obs("hall", 8, 400, "faces/obama/fr_obama3.jpg", None),
    ];
    let other = obs("gate", 9, 0, "faces/biden/fr_biden.jpg", None);

    let matcher = FaceMatcher::new(svc.clone(), store.clone(), true, HashMap::new());
    // Evidence goes to a store of its own (as with `serve --evidence
    // s3://…`; a directory here): face crops must still end up only on the
    // central node, sealed.
    let bucket = tempfile::tempdir().unwrap();
    let blobs = Arc::new(store::LocalEvidence::new(bucket.path()));
    let mut ingest = Ingest::new(nats.clone(), store.clone())
        .with_faces(matcher)
        .with_backends(store.clone(), blobs.clone());
    let stats = ingest.stats();
    let drain = |ingest: &mut Ingest<Nats>| {
        rt.block_on(async {
            loop {
                let batch = nats.fetch(100, Duration::from_millis(500)).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                ingest.handle(batch).await;
            }
        })
    };
    let face_matches = || {
        store
            .events(&store::EventQuery {
                kind: Some("face_match".into()),
                ..Default::default()
            })
            .unwrap()
    };

    // One face of track 7, then the same message again after the broker's
    // dedupe window (no Nats-Msg-Id): stored once, and not a second vote.
    sink.publish_face_sighting(first.clone()).unwrap();
    sink.flush().unwrap();
    let id1 = bus::sighting_msg_id(&first);
    let payload = serde_json::to_vec(&first).unwrap();
    rt.block_on(nats.publish(Outgoing {
        subject: "kuzet.sighting".into(),
        msg_id: None,
        headers: vec![
            ("Kuzet-Origin", "w1/1".into()),
            ("Kuzet-Msg-Id", id1.clone()),
        ],
        payload: payload.into(),
    }))
    .unwrap();
    drain(&mut ingest);
    assert_eq!(stats.sightings.load(Relaxed), 2, "both deliveries handled");
    assert!(
        face_matches().is_empty(),
        "a redelivered sighting counted as a second face of its track"
    );

    // The second face completes the vote (min_votes 2); the unauthorised
    // camera and the unlisted person raise nothing.
    for o in [&second, &hall[0], &hall[1], &other] {
        sink.publish_face_sighting(o.clone()).unwrap();
    }
    sink.flush().unwrap();
    drain(&mut ingest);
    assert_eq!(stats.store_failures.load(Relaxed), 0);
    assert_eq!(stats.undecodable.load(Relaxed), 0);
    let m = face_matches();
    assert_eq!(m.len(), 1, "{m:?}");
    let e = &m[0];
    assert_eq!(e.camera, "gate");
    assert_eq!(e.track_id, Some(7));
    assert_eq!(e.evidence.as_deref(), Some(crop.as_str()));
    assert_eq!(e.details["person_id"], person.id);
    assert_eq!(e.details["watchlist"], "wanted");
    assert_eq!(e.details["votes"], 2);
    assert!(store.evidence_path(&crop).is_some_and(|p| p.is_file()));
    // The worker sent the crop in the clear; on the central disk it is
    // sealed, and reads back as the original JPEG.
    let on_disk = std::fs::read(store.evidence_path(&crop).unwrap()).unwrap();
    assert_ne!(on_disk, crop_jpeg, "the worker's crop is stored sealed");
    assert_eq!(store.evidence_bytes(&crop).unwrap().unwrap(), crop_jpeg);
    use store::EvidenceBlobs;
    assert!(
        !blobs.exists(&crop).unwrap(),
        "a face crop never stays in the shared evidence store"
    );
    assert_eq!(stats.face_matches_new.load(Relaxed), 1);

    // Sightings: five distinct faces stored once each, with the worker's
    // run; the two of track 7 marked as the matched person, no other.
    let s = store
        .sightings(&store::SightingQuery::default(), 100)
        .unwrap();
    assert_eq!(s.len(), 5, "{s:?}");
    let matched: Vec<_> = s.iter().filter(|s| s.matched_person.is_some()).collect();
    assert_eq!(matched.len(), 2);
    assert!(matched.iter().all(|s| s.camera == "gate"
        && s.track_id == Some(7)
        && s.matched_person == Some(person.id)));
    assert!(s.iter().all(|s| s.run_id.is_some()));

    // The alert's key derives from the completing sighting's id.
    let keys: Vec<String> = store
        .event_msg_ids()
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let want = format!("{}/m{}", bus::sighting_msg_id(&second), person.id);
    assert!(keys.contains(&want), "{keys:?}");
}

/// `kuzet serve --database` keeps the watchlist gallery in PostgreSQL beside
/// the sightings: two serve nodes (each with its own data directory, one
/// key) see each other's enrolments and removals through the database's
/// change counter, and neither SQLite store holds a person or template.
#[test]
fn serve_nodes_share_the_watchlist_gallery_in_postgres() {
    use store::StoreBackend;
    let pg = store_pg::testing::TempPostgres::start().unwrap();
    let url = pg.create_database("gallery").unwrap();
    let connect = || Arc::new(store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap());
    let key = Arc::new(store::SealKey::generate().0);
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (store_a, svc_a) =
        common::sealed_store_and_faces_keyed(dir_a.path(), Some(connect()), key.clone());
    let (store_b, svc_b) =
        common::sealed_store_and_faces_keyed(dir_b.path(), Some(connect()), key.clone());
    assert!(svc_b.gallery().unwrap().is_empty());

    // Enrolled on node A, through the service as the API does.
    let (list, _) = svc_a
        .face_data()
        .ensure_watchlist("wanted", store::WatchlistCategory::Wanted, 0.4, 5)
        .unwrap();
    let img = load_photo(&base::env::require_data("faces/obama/fr_obama.jpg")).unwrap();
    let face = svc_a.enrolment_face(&img, true).unwrap();
    let person = svc_a
        .enrol_faces(
            &list,
            "Obama",
            None,
            &store::LegalBasis::default(),
            vec![face],
        )
        .unwrap();
    let data = connect();
    data.set_seal_key(key.clone());
    assert_eq!(data.persons(None).unwrap(), std::slice::from_ref(&person));
    for s in [&store_a, &store_b] {
        assert!(s.persons(None).unwrap().is_empty(), "SQLite holds a person");
        assert!(s.watchlists().unwrap().is_empty(), "SQLite holds a list");
    }

    // Node B matches another photo of him without restarting.
    let probe = embedding(&svc_b, "faces/obama/fr_obama2.jpg");
    let r = svc_b.match_face(&probe, 1, None, None).unwrap();
    match &r.decision {
        faces::Decision::Match { person_id, .. } => assert_eq!(*person_id, person.id),
        d => panic!("node B did not match the person enrolled on node A: {d:?} {r:?}"),
    }
    // A photo of someone else does not match.
    let other = embedding(&svc_b, "faces/biden/fr_biden.jpg");
    assert_eq!(
        svc_b.match_face(&other, 1, None, None).unwrap().decision,
        faces::Decision::NoMatch
    );

    // A lost-child entry made on node B expires on node A's purge.
    let child = svc_b
        .face_data()
        .add_person_scoped(
            list.id,
            "temporary",
            None,
            &store::LegalBasis {
                expires: Some(Timestamp::from_millis(1_000)),
                ..Default::default()
            },
            &store::PersonScope {
                cameras: Some(vec!["gate".into()]),
                temporary: true,
            },
            &[store::NewTemplate {
                model: svc_b.model_key().into(),
                embedding: other,
                quality: serde_json::json!({}),
                photo_hash: None,
            }],
        )
        .unwrap();
    assert_eq!(svc_a.gallery().unwrap().len(), 2);
    assert_eq!(svc_a.expire_temporary_entries().unwrap(), [child.id]);

    // Removed on node B: node A stops matching.
    assert!(svc_b.face_data().remove_person(person.id).unwrap());
    assert!(svc_a.gallery().unwrap().is_empty());
    assert_eq!(
        svc_a.match_face(&probe, 1, None, None).unwrap().decision,
        faces::Decision::NoMatch
    );
}

/// A serve node that kept its watchlists in SQLite (embedded, or PostgreSQL
/// before schema 7) and starts with `--database`: its entries move into
/// PostgreSQL at start (templates re-sealed for their new rows), leave
/// SQLite, keep matching, and the move is audited. A second start moves
/// nothing.
#[test]
fn a_local_gallery_moves_into_postgres_at_start() {
    use store::StoreBackend;
    let pg = store_pg::testing::TempPostgres::start().unwrap();
    let url = pg.create_database("moved").unwrap();
    let connect = || Arc::new(store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).unwrap());
    let key = Arc::new(store::SealKey::generate().0);
    let dir = tempfile::tempdir().unwrap();
    let person = {
        let (store, svc) = common::sealed_store_and_faces_keyed(dir.path(), None, key.clone());
        let (list, _) = store
            .ensure_watchlist("missing", store::WatchlistCategory::Missing, 0.42, 7)
            .unwrap();
        let img = load_photo(&base::env::require_data("faces/obama/fr_obama.jpg")).unwrap();
        let face = svc.enrolment_face(&img, true).unwrap();
        let legal = store::LegalBasis {
            case_number: Some("M-9".into()),
            authority: Some("court".into()),
            expires: None,
        };
        svc.enrol_faces(&list, "Obama", Some("note"), &legal, vec![face])
            .unwrap()
    };
    let (store, svc) =
        common::sealed_store_and_faces_keyed(dir.path(), Some(connect()), key.clone());
    assert!(store.persons(None).unwrap().is_empty(), "left in SQLite");
    let data = connect();
    data.set_seal_key(key.clone());
    let moved = data.persons(None).unwrap();
    assert_eq!(moved.len(), 1);
    let m = &moved[0];
    assert_eq!(
        (
            m.watchlist.as_str(),
            m.name.as_str(),
            &m.legal,
            m.notes.as_deref(),
            m.templates
        ),
        ("missing", "Obama", &person.legal, Some("note"), 1)
    );
    let w = data.watchlist("missing").unwrap().unwrap();
    assert_eq!((w.threshold, w.priority), (0.42, 7));
    let probe = embedding(&svc, "faces/obama/fr_obama2.jpg");
    match svc.match_face(&probe, 1, None, None).unwrap().decision {
        faces::Decision::Match { person_id, .. } => assert_eq!(person_id, m.id),
        d => panic!("the moved entry does not match: {d:?}"),
    }
    let audit = store.audit_entries(None, 10).unwrap();
    let a = audit
        .iter()
        .find(|e| e.action == "watchlist.move")
        .expect("the move is audited");
    assert_eq!(a.details["ids"][0], serde_json::json!([person.id, m.id]));
    drop(svc);
    // Started again: nothing left to move, nothing duplicated.
    let (_store, _svc) = common::sealed_store_and_faces_keyed(dir.path(), Some(connect()), key);
    assert_eq!(data.persons(None).unwrap().len(), 1);
}
