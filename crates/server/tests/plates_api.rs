//! Plate endpoints over HTTP: hotlist creation, entries (one, several, bad),
//! listing, removal, and the plate-read search with wildcards, filters,
//! pagination and evidence URLs.

mod common;

use base::Timestamp;
use serde_json::{json, Value};
use std::sync::Arc;
use store::NewPlateRead;

/// An operator's client: plate reads and hotlists are operator work.
fn client() -> reqwest::blocking::Client {
    common::client_with(
        &common::token(auth::Role::Operator),
        std::time::Duration::from_secs(30),
    )
}

fn get(url: &str) -> (u16, Value) {
    let r = client().get(url).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn post(url: &str, body: &Value) -> (u16, Value) {
    let r = client().post(url).json(body).send().unwrap();
    (r.status().as_u16(), r.json().unwrap_or(Value::Null))
}

fn read(camera: &str, plate: &str, ts: i64, crop: Option<String>) -> NewPlateRead {
    NewPlateRead {
        camera: camera.into(),
        run_id: None,
        track_id: Some(1),
        first_seen: Timestamp::from_millis(ts),
        last_seen: Timestamp::from_millis(ts),
        plate: plate.into(),
        raw_text: plate.into(),
        format: None,
        country: None,
        confidence: 0.9,
        votes: 2,
        agreeing: 2,
        vehicle_type: Some("car".into()),
        colour: None,
        plate_crop: crop,
        vehicle_crop: None,
        frame: None,
        hotlist_hits: 0,
    }
}

#[test]
fn hotlist_routes_create_add_list_and_remove() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let (status, v) = post(
        &s.url("/api/hotlists"),
        &json!({"name": "stolen", "description": "stolen cars"}),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["name"], "stolen");
    let (status, v) = post(&s.url("/api/hotlists"), &json!({"name": "bad name"}));
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("hotlist name"), "{v}");
    let (status, v) = post(&s.url("/api/hotlists"), &json!({"nom": "x"}));
    assert_eq!(status, 400, "{v}");

    // One entry, then two at once (into a list created on the way).
    let (status, v) = post(
        &s.url("/api/hotlists/stolen/entries"),
        &json!({"plate": "ABC 123", "reason": "stolen", "priority": 5}),
    );
    assert_eq!(status, 200, "{v}");
    let first = v["ids"][0].as_i64().unwrap();
    let (status, v) = post(
        &s.url("/api/hotlists/wanted/entries"),
        &json!([{"plate": "XYZ-9"}, {"plate": "QQ11", "expires": "2030-01-01T00:00:00Z"}]),
    );
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["ids"].as_array().unwrap().len(), 2);
    // Bad entries: no characters, a bad time; nothing of the batch is stored.
    let (status, v) = post(
        &s.url("/api/hotlists/wanted/entries"),
        &json!([{"plate": "OK1"}, {"plate": "--"}]),
    );
    assert_eq!(status, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("entry 2"), "{v}");
    let (status, v) = post(
        &s.url("/api/hotlists/wanted/entries"),
        &json!({"plate": "OK1", "expires": "soon"}),
    );
    assert_eq!(status, 400, "{v}");
    let r = client()
        .post(s.url("/api/hotlists/wanted/entries"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);

    let (status, v) = get(&s.url("/api/hotlists"));
    assert_eq!(status, 200, "{v}");
    let lists = v.as_array().unwrap();
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[0]["name"], "stolen");
    assert_eq!(lists[0]["items"][0]["plate_norm"], "ABC123");
    assert_eq!(lists[0]["items"][0]["priority"], 5);
    assert_eq!(lists[1]["entries"], 2);

    let del = |id: &str| {
        let r = client()
            .delete(s.url(&format!("/api/hotlist-entries/{id}")))
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    assert_eq!(del(&first.to_string()).0, 200);
    assert_eq!(del(&first.to_string()).0, 404);
    assert_eq!(del("abc").0, 400);
    assert_eq!(s.store.hotlist_entries(Some("stolen")).unwrap().len(), 0);
}

#[test]
fn plate_search_filters_pages_and_links_evidence() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let crop = s
        .store
        .save_evidence_jpeg(&[90u8; 16 * 8 * 3], 16, 8, None, 90)
        .unwrap();
    for (cam, p, ts) in [
        ("gate", "ABC123", 1_000),
        ("gate", "ABD123", 2_000),
        ("yard", "ABC123", 3_000),
        ("gate", "XYZ999", 4_000),
    ] {
        s.store
            .insert_plate_read(read(cam, p, ts, Some(crop.clone())))
            .unwrap();
    }
    let plates = |v: &Value| -> Vec<String> {
        v["reads"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["plate"].as_str().unwrap().to_string())
            .collect()
    };
    let (status, v) = get(&s.url("/api/plates?pattern=ab%3F123"));
    assert_eq!(status, 200, "{v}");
    assert_eq!(plates(&v), ["ABC123", "ABD123", "ABC123"]);
    let r0 = &v["reads"][0];
    assert_eq!(r0["camera"], "yard");
    assert_eq!(
        r0["plate_crop_url"].as_str().unwrap(),
        format!("/api/evidence/{crop}")
    );
    assert!(r0["time"]
        .as_str()
        .unwrap()
        .starts_with("1970-01-01T00:00:03"));
    // The evidence URL serves the crop.
    let img = client()
        .get(s.url(r0["plate_crop_url"].as_str().unwrap()))
        .send()
        .unwrap();
    assert_eq!(img.status().as_u16(), 200);

    let (_, v) = get(&s.url("/api/plates?pattern=*&camera=gate&since=1500&until=4000"));
    assert_eq!(plates(&v), ["ABD123"]);
    let (_, v) = get(&s.url("/api/plates?limit=3"));
    assert_eq!(plates(&v), ["XYZ999", "ABC123", "ABD123"]);
    assert_eq!(v["next_offset"], 3);
    let (_, v) = get(&s.url("/api/plates?limit=3&offset=3"));
    assert_eq!(plates(&v), ["ABC123"]);
    assert!(v["next_offset"].is_null());

    for bad in [
        "/api/plates?pattern=A%25",
        "/api/plates?limit=0",
        "/api/plates?offset=-1",
        "/api/plates?since=yesterday",
        "/api/plates?colour=red",
    ] {
        let (status, v) = get(&s.url(bad));
        assert_eq!(status, 400, "{bad}: {v}");
        assert!(
            v["error"].is_string() && v["hint"].is_string(),
            "{bad}: {v}"
        );
    }
}
