//! The face service on real photos: sightings searched by photo with
//! camera/time filters, the persisted index surviving a restart, retention
//! really deleting, and lost-child entries scoped to cameras and expiring.

use base::{BBox, Clock, SimulatedClock, Timestamp};
use kuzet_faces::{
    load_photo, Decision, FacePipeline, FacePipelineConfig, FaceService, FaceServiceConfig,
};
use std::sync::Arc;
use std::time::Duration;
use store::{LegalBasis, NewSighting, SightingQuery, Store, WatchlistCategory};

fn pipeline() -> FacePipeline {
    base::env::require_models();
    FacePipeline::from_env(FacePipelineConfig::default()).expect("face models")
}

fn img(rel: &str) -> image::RgbImage {
    load_photo(&base::env::require_data(rel)).unwrap()
}

fn sighting(svc: &FaceService, rel: &str, camera: &str, ts: Timestamp, track: u64) -> NewSighting {
    let f = svc.probe_face(&img(rel)).unwrap();
    NewSighting {
        camera: camera.into(),
        ts,
        run_id: Some(1),
        track_id: Some(track),
        model: svc.model_key().into(),
        embedding: f.embedding.unwrap(),
        bbox: BBox::new(0.0, 0.0, 10.0, 10.0),
        quality: 1.0,
        crop: None,
        matched_person: None,
    }
}

#[test]
fn sightings_search_persist_purge_and_lost_child_mode() {
    let dir = tempfile::tempdir().unwrap();
    let t0 = Timestamp::from_millis(1_700_000_000_000);
    let clock = Arc::new(SimulatedClock::new(t0));
    let key = Arc::new(store::SealKey::generate().0);
    let open_with = |key: &Arc<store::SealKey>| {
        let store = Arc::new(Store::open_with_clock(dir.path(), clock.clone()).unwrap());
        store.set_seal_key(key.clone());
        FaceService::open(
            store,
            pipeline(),
            clock.clone(),
            FaceServiceConfig::default(),
        )
        .unwrap()
    };
    let open = || open_with(&key);
    let svc = open();
    let min = |m: i64| Timestamp::from_millis(t0.millis() + m * 60_000);
    let new = vec![
        sighting(&svc, "faces/obama/fr_obama.jpg", "gate", min(-50), 1),
        sighting(&svc, "faces/obama/fr_obama1.jpg", "gate", min(-49), 1),
        sighting(&svc, "faces/obama/fr_obama3.jpg", "hall", min(-5), 7),
        sighting(&svc, "faces/biden/fr_biden.jpg", "gate", min(-40), 2),
        sighting(
            &svc,
            "faces/kit_harington/fr_john1.jpeg",
            "hall",
            min(-4),
            8,
        ),
    ];
    let ids = svc.record_sightings(new).unwrap();
    assert_eq!(ids.len(), 5);
    let probe = img("faces/obama/fr_obama2.jpg");

    // All cameras: two appearances of Obama (gate then hall), no one else.
    let all = svc
        .search_photo(&probe, &SightingQuery::default(), None)
        .unwrap();
    let cams: Vec<&str> = all.appearances.iter().map(|a| a.camera.as_str()).collect();
    assert_eq!(all.appearances.len(), 2, "{:?}", all.appearances);
    assert!(cams.contains(&"gate") && cams.contains(&"hall"), "{cams:?}");
    let gate = all.appearances.iter().find(|a| a.camera == "gate").unwrap();
    assert_eq!(
        gate.sightings, 2,
        "consecutive sightings form one appearance"
    );
    assert_eq!((gate.first_seen, gate.last_seen), (min(-50), min(-49)));
    // Camera and time filters.
    let q = SightingQuery {
        cameras: vec!["hall".into()],
        since: Some(min(-10)),
        until: None,
    };
    let hall = svc.search_photo(&probe, &q, None).unwrap();
    assert_eq!(hall.appearances.len(), 1);
    assert_eq!(hall.appearances[0].best.id, ids[2]);
    assert_eq!(hall.indexed, 2, "two sightings pass the filter");

    // Restart: the persisted index answers the same. It is sealed: no
    // plain sighting embedding in it, and no plain index file anywhere.
    let emb0 = svc
        .probe_face(&img("faces/obama/fr_obama.jpg"))
        .unwrap()
        .embedding
        .unwrap();
    drop(svc);
    let file = std::fs::read(dir.path().join("faces/sightings.sealed")).unwrap();
    assert!(file.starts_with(b"KZSEAL1\n"));
    let plain: Vec<u8> = emb0[..8].iter().flat_map(|x| x.to_le_bytes()).collect();
    assert!(!file.windows(plain.len()).any(|w| w == plain));
    assert!(!dir.path().join("faces/sightings.idx").exists());
    assert!(!dir.path().join("faces/watchlist.idx").exists());
    // A plain index left by an older version is deleted at open.
    std::fs::write(dir.path().join("faces/watchlist.idx"), b"old plain index").unwrap();
    let svc = open();
    assert!(!dir.path().join("faces/watchlist.idx").exists());
    assert_eq!(svc.sighting_count(), 5);
    drop(svc);
    // Under another key the sealed index cannot be opened (nor the rows):
    // the service refuses to start rather than serve nothing.
    let wrong = Arc::new(store::SealKey::generate().0);
    let store = Arc::new(Store::open_with_clock(dir.path(), clock.clone()).unwrap());
    store.set_seal_key(wrong);
    let e = FaceService::open(
        store,
        pipeline(),
        clock.clone(),
        FaceServiceConfig::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains(key.id()), "{e}");
    let svc = open();
    assert_eq!(svc.sighting_count(), 5);
    let again = svc
        .search_photo(&probe, &SightingQuery::default(), None)
        .unwrap();
    assert_eq!(again.appearances, all.appearances);

    // Lost-child mode on "hall" only: the recent hall sighting is found at
    // once, and the entry matches on hall but not on gate.
    let lost = svc
        .lost(
            &img("faces/obama/fr_obama1.jpg"),
            "child",
            vec!["hall".into()],
            30,
            3_600_000,
            None,
        )
        .unwrap();
    assert!(lost.person.temporary);
    assert_eq!(lost.appearances.len(), 1, "{:?}", lost.appearances);
    assert_eq!(lost.appearances[0].camera, "hall");
    let emb = svc.probe_face(&probe).unwrap().embedding.unwrap();
    let on = |cam: &str, ts| svc.match_face(&emb, 3, Some(cam), Some(ts)).unwrap();
    // Live matching needs an authorisation covering the camera and the list:
    // without one nothing matches, whatever the watchlists hold.
    assert_eq!(on("hall", t0).decision, Decision::NoMatch);
    assert!(on("hall", t0).candidates.is_empty());
    let auth = |lists: &[&str], class| store::NewAuthorisation {
        purpose: store::AuthorisationPurpose::Live,
        legal_ground: "Police Act s. 12 (missing child)".into(),
        authority: "Duty officer".into(),
        decision_ref: "LC-1".into(),
        scope_text: "hall".into(),
        cameras: vec!["hall".into()],
        watchlists: lists.iter().map(|s| s.to_string()).collect(),
        list_class: class,
        window_start: None,
        window_end: None,
        expires: t0.plus(Duration::from_secs(7200)),
        urgent: false,
        requested_by: "ivan".into(),
    };
    // A criminal-class authorisation naming the list does not cover it.
    let wrong = svc
        .store()
        .request_authorisation(auth(&[kuzet_faces::LOST_LIST], store::ListClass::Criminal));
    assert!(
        wrong.is_err(),
        "the lost-children list is a missing-person list"
    );
    let a = svc
        .store()
        .request_authorisation(auth(&[kuzet_faces::LOST_LIST], store::ListClass::Missing))
        .unwrap();
    // Requested but not approved: still nothing.
    assert_eq!(on("hall", t0).decision, Decision::NoMatch);
    svc.store().approve_authorisation(a.id, "sara").unwrap();
    assert!(
        matches!(on("hall", t0).decision, Decision::Match { person_id, .. } if person_id == lost.person.id)
    );
    assert_eq!(on("gate", t0).decision, Decision::NoMatch);
    // Revoked from another process (the CLI): live matching stops at once.
    let other = Store::open_with_clock(dir.path(), clock.clone()).unwrap();
    other.revoke_authorisation(a.id, "sara", "found").unwrap();
    drop(other);
    assert_eq!(on("hall", t0).decision, Decision::NoMatch);
    // An urgent one takes effect without approval.
    let mut urgent = auth(&[kuzet_faces::LOST_LIST], store::ListClass::Missing);
    urgent.urgent = true;
    svc.store().request_authorisation(urgent).unwrap();
    assert!(matches!(on("hall", t0).decision, Decision::Match { .. }));
    // After expiry it no longer matches, and the purge deletes it.
    clock.advance(Duration::from_secs(3_601));
    assert_eq!(on("hall", clock.now()).decision, Decision::NoMatch);

    // Retention: 1 h for unmatched sightings removes the old gate ones
    // (and the expired lost-child entry).
    let (purge, expired) = svc.purge(0.5, 0.5).unwrap();
    assert_eq!(expired, vec![lost.person.id]);
    assert_eq!(purge.ids.len(), 5, "everything is older than 30 min now");
    assert_eq!(svc.sighting_count(), 0);
    let after = svc
        .search_photo(&probe, &SightingQuery::default(), None)
        .unwrap();
    assert!(after.appearances.is_empty());
    assert!(svc.store().persons(None).unwrap().is_empty());
}

#[test]
fn enrol_then_delete_changes_live_matching_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    store.set_seal_key(Arc::new(store::SealKey::generate().0));
    let svc = FaceService::open(
        store.clone(),
        pipeline(),
        Arc::new(base::SystemClock),
        FaceServiceConfig::default(),
    )
    .unwrap();
    let (wl, _) = store
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.45, 1)
        .unwrap();
    let face = svc
        .enrolment_face(&img("faces/biden/fr_biden.jpg"), false)
        .unwrap();
    let p = svc
        .enrol_faces(&wl, "Biden", None, &LegalBasis::default(), vec![face])
        .unwrap();
    let probe = svc
        .probe_face(&img("faces/biden/fr_biden2.jpg"))
        .unwrap()
        .embedding
        .unwrap();
    let r = svc.match_face(&probe, 3, None, None).unwrap();
    assert!(matches!(r.decision, Decision::Match { person_id, .. } if person_id == p.id));
    // A second handle on the same data dir (another process: the CLI)
    // removes the person; the service notices through the change counter.
    let other = Store::open(dir.path()).unwrap();
    assert!(other.remove_person(p.id).unwrap());
    drop(other);
    let r = svc.match_face(&probe, 3, None, None).unwrap();
    assert_eq!(r.decision, Decision::NoMatch);
    assert!(r.candidates.is_empty());
}
