//! Face endpoints over HTTP with the real face models: off by default (403),
//! enrolment from an uploaded photo, identification, search of stored
//! sightings, lost-child mode, and removal.

mod common;

use base::BBox;
use faces::FaceService;
use kuzet_server::faces_api::FaceApi;
use serde_json::Value;
use std::sync::{Arc, OnceLock};
use store::NewSighting;

fn client() -> reqwest::blocking::Client {
    common::client_with(&common::default_token(), std::time::Duration::from_secs(60))
}

fn photo(rel: &str) -> Vec<u8> {
    std::fs::read(base::env::require_data(rel)).unwrap()
}

fn post(url: &str, body: Vec<u8>) -> (u16, Value) {
    let r = client()
        .post(url)
        .header("content-type", "image/jpeg")
        .body(body)
        .send()
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().unwrap_or(Value::Null))
}

#[test]
fn face_routes_are_forbidden_unless_enabled() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let r = client().get(s.url("/api/watchlists")).send().unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().unwrap();
    assert!(
        v["hint"].as_str().unwrap().contains("[faces] enabled"),
        "{v}"
    );
    let (status, _) = post(&s.url("/api/faces/identify"), vec![1, 2, 3]);
    assert_eq!(status, 403);
}

#[test]
fn enrol_identify_search_lost_and_remove_over_http() {
    base::env::require_models();
    let svc_slot: Arc<OnceLock<Arc<FaceService>>> = Arc::new(OnceLock::new());
    let slot = svc_slot.clone();
    let s = common::start(Arc::new(Vec::new), move |st, store| {
        let svc = common::face_service(store);
        let _ = slot.set(svc.clone());
        st.with_law_enforcement(true).with_faces(FaceApi {
            service: svc,
            resolve_cameras: Arc::new(|spec: &str| {
                if spec == "stadium" {
                    Ok(vec!["north".into(), "south".into()])
                } else {
                    Err(format!("no camera or camera group named {spec:?}"))
                }
            }),
        })
    });
    let svc = svc_slot.get().unwrap().clone();

    // A search without a typed reason is refused; bad uploads are explained.
    let (status, v) = post(
        &s.url("/api/faces/identify"),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("reason"), "{v}");
    let (status, v) = post(
        &s.url("/api/faces/identify?reason=case%20C-7%20test"),
        b"not an image".to_vec(),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("image"), "{v}");
    let (status, v) = post(
        &s.url("/api/watchlists/wanted/persons?name=Obama"),
        photo("faces/obama/fr_obama.jpg"),
    );
    assert_eq!(status, 400, "a new list needs a category: {v}");
    let (status, v) = post(
        &s.url("/api/watchlists/wanted/persons?name=Nobody&category=wanted"),
        photo("plates/eu/eu1.jpg"),
    );
    assert_eq!(status, 422, "no face: {v}");
    assert!(v["error"].as_str().unwrap().contains("no face"), "{v}");

    // Enrol; identifying another photo needs an authorisation (below).
    let (status, person) = post(
        &s.url("/api/watchlists/wanted/persons?name=Obama&category=wanted&case_number=C-7"),
        photo("faces/obama/fr_obama.jpg"),
    );
    assert_eq!(status, 200, "{person}");
    let id = person["id"].as_i64().unwrap();
    assert_eq!(person["legal"]["case_number"], "C-7");
    let (status, v) = post(
        &s.url("/api/faces/identify?top_k=3&reason=case%20C-7%20test"),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 400, "identify without an authorisation: {v}");
    assert!(
        v["error"].as_str().unwrap().contains("authorisation"),
        "{v}"
    );
    let (status, v) = post(
        &s.url("/api/faces/identify?authorisation=999&reason=case%20C-7%20test"),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 403, "unknown authorisation: {v}");
    // A second list the authorisation below will not cover.
    let (status, v) = post(
        &s.url("/api/watchlists/others/persons?name=Biden&category=wanted"),
        photo("faces/biden/fr_biden.jpg"),
    );
    assert_eq!(status, 200, "{v}");
    let biden = v["id"].as_i64().unwrap();
    let lists: Value = client()
        .get(s.url("/api/watchlists"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let wanted = lists
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["watchlist"]["name"] == "wanted")
        .unwrap();
    assert_eq!(wanted["persons"][0]["name"], "Obama", "{lists}");

    // Sightings on two cameras; search by photo with a camera filter.
    let now = base::Clock::now(&base::SystemClock);
    let emb = |rel: &str| {
        let img = image::load_from_memory(&photo(rel)).unwrap().to_rgb8();
        svc.probe_face(&img).unwrap().embedding.unwrap()
    };
    let mk = |camera: &str, rel: &str| NewSighting {
        camera: camera.into(),
        ts: now,
        run_id: None,
        track_id: Some(1),
        model: svc.model_key().into(),
        embedding: emb(rel),
        bbox: BBox::new(0.0, 0.0, 9.0, 9.0),
        quality: 1.0,
        crop: None,
        matched_person: None,
    };
    svc.record_sightings(vec![
        mk("north", "faces/obama/fr_obama1.jpg"),
        mk("gate", "faces/obama/fr_obama3.jpg"),
        mk("south", "faces/biden/fr_biden.jpg"),
    ])
    .unwrap();
    assert_eq!(svc.sighting_count(), 3);
    // Every search must name a legal authorisation.
    let (status, v) = post(
        &s.url("/api/faces/search?cameras=stadium&reason=case%20C-7%20test"),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 400, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("authorisation"),
        "{v}"
    );
    // An investigator requests one for the stadium; they cannot approve it
    // (role), a supervisor can.
    let as_role =
        |role| common::client_with(&common::token(role), std::time::Duration::from_secs(60));
    let expires = (now.millis() + 86_400_000).to_string();
    let request = |class: &str, lists: &[&str], urgent: bool| -> Value {
        let r = as_role(auth::Role::Investigator)
            .post(s.url("/api/authorisations"))
            .json(&serde_json::json!({
                "purpose": "both", "legal_ground": "CCP art. 231",
                "authority": "City court", "decision_ref": "D-1",
                "cameras": "stadium", "watchlists": lists, "list_class": class,
                "expires": expires, "urgent": urgent,
            }))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.json().unwrap()
    };
    let a = request("criminal", &["wanted"], false);
    assert_eq!(a["status"], "pending", "{a}");
    assert_eq!(a["cameras"], serde_json::json!(["north", "south"]));
    let aid = a["id"].as_i64().unwrap();
    let approve = |role| {
        as_role(role)
            .post(s.url(&format!("/api/authorisations/{aid}/approve")))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(approve(auth::Role::Investigator), 403);
    // Pending: searches under it are refused.
    let (status, v) = post(
        &s.url(&format!(
            "/api/faces/search?authorisation={aid}&reason=case%20C-7%20test"
        )),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 403, "{v}");
    let identify = |rel: &str, k: usize| {
        post(
            &s.url(&format!(
                "/api/faces/identify?top_k={k}&authorisation={aid}&reason=case%20C-7%20test"
            )),
            photo(rel),
        )
    };
    let (status, v) = identify("faces/obama/fr_obama2.jpg", 3);
    assert_eq!(status, 403, "identify under a pending authorisation: {v}");
    assert_eq!(approve(auth::Role::Supervisor), 200);
    assert_eq!(approve(auth::Role::Supervisor), 409, "approved twice");
    // Approved: identification runs, over the covered list only.
    let (status, v) = identify("faces/obama/fr_obama2.jpg", 3);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["authorisation"], aid);
    let face = &v["faces"][0];
    assert_eq!(face["search"]["decision"]["decision"], "match", "{v}");
    assert_eq!(face["search"]["decision"]["person_id"], id);
    // Biden is on "others", which the authorisation does not cover: with
    // one candidate asked for, the one given is the in-scope person (the
    // filter runs inside the search, not after the top-k), and no match.
    let (status, v) = identify("faces/biden/fr_biden2.jpg", 1);
    assert_eq!(status, 200, "{v}");
    let cands = v["faces"][0]["search"]["candidates"].as_array().unwrap();
    assert_eq!(cands.len(), 1, "{v}");
    assert_eq!(cands[0]["person_id"], id, "{v}");
    assert_eq!(cands[0]["watchlist"], "wanted");
    assert_eq!(
        v["faces"][0]["search"]["decision"]["decision"], "no_match",
        "{v}"
    );
    let (_, v) = identify("faces/biden/fr_biden2.jpg", 10);
    let cands = v["faces"][0]["search"]["candidates"].as_array().unwrap();
    assert!(cands.iter().all(|c| c["person_id"] != biden), "{v}");
    let (status, v) = post(
        &s.url(&format!(
            "/api/faces/search?cameras=stadium&authorisation={aid}&reason=case%20C-7%20test"
        )),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 200, "{v}");
    let apps = v["appearances"].as_array().unwrap();
    assert_eq!(apps.len(), 1, "{v}");
    assert_eq!(apps[0]["camera"], "north");
    // Without cameras the search is limited to the authorisation's: the
    // sighting on "gate" stays out of reach.
    let (status, v) = post(
        &s.url(&format!(
            "/api/faces/search?authorisation={aid}&reason=case%20C-7%20test"
        )),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 200, "{v}");
    let cams: Vec<&str> = v["appearances"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["camera"].as_str().unwrap())
        .collect();
    assert_eq!(cams, ["north"], "{v}");
    let (status, v) = post(
        &s.url(&format!(
            "/api/faces/search?cameras=nowhere&authorisation={aid}&reason=case%20C-7%20test"
        )),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 400, "{v}");
    let (status, v) = post(
        &s.url(&format!(
            "/api/faces/search?since=yesterday&authorisation={aid}&reason=case%20C-7%20test"
        )),
        photo("faces/obama/fr_obama2.jpg"),
    );
    assert_eq!(status, 400, "{v}");

    // Lost-child mode needs a missing-person authorisation: the criminal one
    // is refused; an urgent missing-person one works at once.
    let lost_url = |id: i64| {
        s.url(&format!("/api/faces/lost?cameras=stadium&minutes=10&name=Kid&authorisation={id}&reason=missing%20child%20report%2012"))
    };
    let (status, v) = post(&lost_url(aid), photo("faces/obama/fr_obama3.jpg"));
    assert_eq!(status, 403, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("missing-person"),
        "{v}"
    );
    let b = request("missing", &[faces::LOST_LIST], true);
    assert_eq!(b["status"], "urgent", "{b}");
    let (status, v) = post(
        &lost_url(b["id"].as_i64().unwrap()),
        photo("faces/obama/fr_obama3.jpg"),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["person"]["temporary"], true);
    assert_eq!(
        v["person"]["cameras"],
        serde_json::json!(["north", "south"])
    );
    assert_eq!(v["appearances"][0]["camera"], "north", "{v}");

    // Remove the enrolled person: identification no longer matches them.
    let r = client()
        .delete(s.url(&format!("/api/persons/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = client()
        .delete(s.url(&format!("/api/persons/{id}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let (status, v) = identify("faces/obama/fr_obama2.jpg", 5);
    assert_eq!(status, 200, "{v}");
    let cands = v["faces"][0]["search"]["candidates"].as_array().unwrap();
    assert!(cands.iter().all(|c| c["person_id"] != id), "{v}");

    // A sealed face crop is served decrypted: the JPEG its name hashes.
    let img = image::load_from_memory(&photo("faces/obama/fr_obama1.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    let crop = s
        .store
        .save_face_crop(img.as_raw(), w, h, None, 85)
        .unwrap();
    s.store.flush().unwrap();
    let raw = std::fs::read(s.store.evidence_path(&crop).unwrap()).unwrap();
    assert!(raw.starts_with(b"KZSEAL1\n"), "sealed on disk");
    let r = client()
        .get(s.url(&format!("/api/evidence/{crop}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body = r.bytes().unwrap();
    assert_eq!(store::sha256_hex(&body), crop);
    assert!(image::load_from_memory(&body).is_ok());

    // Every face call is in the audit log with its actor and reason, and the
    // chain verifies.
    let log = s.store.audit_entries(None, 1000).unwrap();
    let searches: Vec<_> = log.iter().filter(|e| e.action == "faces.search").collect();
    assert_eq!(searches.len(), 6, "{log:?}");
    assert!(searches.iter().all(|e| e.actor.as_deref()
        == Some("supervisor/token:test-supervisor")
        && e.reason.as_deref() == Some("case C-7 test")));
    assert!(searches
        .iter()
        .any(|e| e.outcome == "ok" && e.details["appearances"] == 1));
    assert!(log
        .iter()
        .any(|e| e.action == "faces.lost" && e.outcome == "ok"));
    assert!(log
        .iter()
        .any(|e| e.action == "faces.lost" && e.outcome == "failed"));
    let auths: Vec<&str> = log
        .iter()
        .filter(|e| e.action.starts_with("authorisation."))
        .map(|e| e.action.as_str())
        .collect();
    assert_eq!(
        auths,
        [
            "authorisation.request",
            "authorisation.approve",
            "authorisation.request"
        ],
        "newest first"
    );
    assert!(log
        .iter()
        .any(|e| e.action == "watchlist.enrol" && e.outcome == "ok"));
    assert!(log
        .iter()
        .any(|e| e.action == "watchlist.remove" && e.outcome == "ok"));
    // The identify without a reason is recorded as refused, those without a
    // usable authorisation as failed; the others ran, naming it.
    let ids: Vec<(&str, Option<&str>)> = log
        .iter()
        .filter(|e| e.action == "faces.identify")
        .map(|e| (e.outcome.as_str(), e.target.as_deref()))
        .collect();
    let under = format!("authorisation={aid}");
    let a = Some(under.as_str());
    assert_eq!(
        ids,
        [
            ("ok", a),
            ("ok", a),
            ("ok", a),
            ("ok", a),
            ("failed", a),
            ("failed", Some("authorisation=999")),
            ("failed", Some("authorisation=-")),
            ("failed", Some("authorisation=-")),
            ("refused", None)
        ],
        "{log:?}"
    );

    assert_eq!(s.store.verify_audit().unwrap().first_bad, None);
}
