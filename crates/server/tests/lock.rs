//! The evidence lock over HTTP: who may lock and unlock, the lock in the
//! event JSON, audit entries, and retention keeping a locked event's
//! evidence while an unlocked one's goes.

mod common;

use auth::Role;
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;

fn client(role: Role) -> reqwest::blocking::Client {
    common::client_with(&common::token(role), Duration::from_secs(20))
}

#[test]
fn lock_unlock_roles_audit_json_and_retention() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let crop = s.store.save_evidence_bytes(b"crop jpeg", 4, 4).unwrap();
    let frame = s.store.save_evidence_bytes(b"frame jpeg", 8, 8).unwrap();
    let mut e = base::Event::new("gate", "zone_enter", base::Timestamp(1_000));
    e.evidence = Some(crop.clone());
    let id = s.store.insert_events(vec![e]).unwrap()[0].id.unwrap();
    let mut o = base::Event::new("gate", "line_cross", base::Timestamp(2_000));
    o.evidence = Some(frame.clone());
    let other = s.store.insert_events(vec![o]).unwrap()[0].id.unwrap();

    let lock = |role, id: i64, body: Value| {
        let r = client(role)
            .post(s.url(&format!("/api/events/{id}/lock")))
            .json(&body)
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let unlock = |role, id: i64| {
        client(role)
            .delete(s.url(&format!("/api/events/{id}/lock")))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let get = |id: i64| {
        client(Role::Viewer)
            .get(s.url(&format!("/api/events/{id}")))
            .send()
            .unwrap()
            .json::<Value>()
            .unwrap()
    };
    let body = json!({ "case_ref": "CASE-17", "reason": "robbery investigation" });

    assert_eq!(lock(Role::Operator, id, body.clone()).0, 403);
    assert_eq!(lock(Role::Viewer, id, body.clone()).0, 403);
    let (st, v) = lock(Role::Investigator, id, json!({ "case_ref": "CASE-17" }));
    assert_eq!(st, 400, "{v}");
    let (st, v) = lock(
        Role::Investigator,
        id,
        json!({ "case_ref": " ", "reason": "x" }),
    );
    assert_eq!(st, 400, "{v}");
    assert_eq!(lock(Role::Investigator, 999_999, body.clone()).0, 404);
    let (st, v) = lock(Role::Investigator, id, body.clone());
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["case_ref"], "CASE-17");
    assert_eq!(v["locked_by"], "investigator");
    let (st, v) = lock(Role::Supervisor, id, body.clone());
    assert_eq!(st, 409, "{v}");

    // The lock shows in the event JSON, single and listed.
    assert_eq!(get(id)["lock"]["case_ref"], "CASE-17");
    assert!(get(other).get("lock").is_none());
    let page: Value = client(Role::Viewer)
        .get(s.url("/api/events"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let listed: Vec<&Value> = page["events"].as_array().unwrap().iter().collect();
    assert_eq!(listed.iter().filter(|e| e.get("lock").is_some()).count(), 1);

    // Retention: everything is long due; the locked event and its file stay.
    let policy = store::RetentionPolicy {
        events: Duration::from_secs(60),
        evidence: Duration::from_secs(60),
        face_unmatched: Duration::from_secs(60),
        face_matched: Duration::from_secs(60),
        plate_reads: Duration::from_secs(60),
    };
    let later = base::Timestamp(s.store.clock().now().millis() + 3_600_000);
    let r = s.store.retention_pass(policy, later, false).unwrap();
    assert_eq!(r.class("events").unwrap().rows, 1, "{r:?}");
    assert!(s.store.event(id).unwrap().is_some());
    assert!(s.store.event(other).unwrap().is_none());
    assert!(s.store.evidence_path(&crop).is_some());
    assert!(s.store.evidence_path(&frame).is_none());

    // Only supervisors unlock; a second unlock finds nothing.
    assert_eq!(unlock(Role::Investigator, id), 403);
    assert_eq!(unlock(Role::Supervisor, id), 200);
    assert_eq!(unlock(Role::Supervisor, id), 404);
    assert!(get(id).get("lock").is_none());
    s.store.retention_pass(policy, later, false).unwrap();
    assert!(s.store.event(id).unwrap().is_none());
    assert!(s.store.evidence_path(&crop).is_none());

    let log = s.store.audit_entries(None, 1000).unwrap();
    let of = |action: &str, outcome: &str| {
        log.iter()
            .filter(|e| e.action == action && e.outcome == outcome)
            .count()
    };
    assert_eq!(of("event.lock", "ok"), 1);
    assert_eq!(of("event.lock", "refused"), 1);
    assert_eq!(of("event.unlock", "ok"), 1);
    assert!(of("retention.purge", "ok") >= 2);
    let locked = log.iter().find(|e| e.action == "event.lock").unwrap();
    assert_eq!(locked.reason.as_deref(), Some("robbery investigation"));
    assert_eq!(locked.details["case_ref"], "CASE-17");
    assert!(s.store.verify_audit().unwrap().first_bad.is_none());
}
