//! Export and dispatch of events: a face match leaves the system only after
//! two different users confirmed it; every attempt is audited.

mod common;

use auth::Role;
use serde_json::Value;
use std::sync::Arc;

fn client(role: Role) -> reqwest::blocking::Client {
    common::client_with(&common::token(role), std::time::Duration::from_secs(20))
}

#[test]
fn face_match_export_and_dispatch_wait_for_two_confirmations() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let crop = s.store.save_evidence_bytes(b"crop jpeg", 4, 4).unwrap();
    let frame = s.store.save_evidence_bytes(b"frame jpeg", 8, 8).unwrap();
    let mut e = base::Event::new("gate", "face_match", base::Timestamp(1_000));
    e.evidence = Some(crop.clone());
    e.details = serde_json::json!({ "frame_evidence": frame, "watchlist": "wanted" });
    let id = s.store.insert_events(vec![e]).unwrap()[0].id.unwrap();
    let mut o = base::Event::new("gate", "line_cross", base::Timestamp(2_000));
    o.evidence = Some(frame.clone());
    let other = s.store.insert_events(vec![o]).unwrap()[0].id.unwrap();

    let export = |role, id: i64| {
        let r = client(role)
            .get(s.url(&format!("/api/events/{id}/export")))
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let dispatch = |role, id: i64| {
        let r = client(role)
            .post(s.url(&format!("/api/events/{id}/dispatch")))
            .json(&serde_json::json!({ "note": "unit 7" }))
            .send()
            .unwrap();
        (
            r.status().as_u16(),
            r.json::<Value>().unwrap_or(Value::Null),
        )
    };
    let confirm = |role| {
        client(role)
            .post(s.url(&format!("/api/events/{id}/review")))
            .json(&serde_json::json!({ "action": "confirm" }))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };

    // Unconfirmed, then confirmed once: refused, saying why.
    let (st, v) = export(Role::Investigator, id);
    assert_eq!(st, 409, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("two-person rule"),
        "{v}"
    );
    assert_eq!(dispatch(Role::Operator, id).0, 409);
    assert_eq!(confirm(Role::Investigator), 200);
    assert_eq!(export(Role::Investigator, id).0, 409);
    assert_eq!(dispatch(Role::Investigator, id).0, 409);
    // Dispatch cannot sneak in as a review action.
    let r = client(Role::Investigator)
        .post(s.url(&format!("/api/events/{id}/review")))
        .json(&serde_json::json!({ "action": "dispatch" }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // A second, different user confirms: both are allowed.
    assert_eq!(confirm(Role::Supervisor), 200);
    let (st, pkg) = export(Role::Operator, id);
    assert_eq!(st, 200, "{pkg}");
    assert_eq!(pkg["format"], "kuzet-evidence-package/1");
    assert_eq!(pkg["exported_by"], "operator");
    assert_eq!(pkg["review"]["state"]["status"], "confirmed");
    let files = pkg["files"].as_array().unwrap();
    let hashes: Vec<&str> = files.iter().map(|f| f["hash"].as_str().unwrap()).collect();
    assert_eq!(hashes, [crop.as_str(), frame.as_str()]);
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD
        .decode(files[0]["data_base64"].as_str().unwrap())
        .unwrap();
    assert_eq!(data, b"crop jpeg");
    let (st, v) = dispatch(Role::Operator, id);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["status"], "confirmed");
    // An ordinary event needs no confirmation; viewers and admins may not
    // release anything (route policy).
    assert_eq!(export(Role::Operator, other).0, 200);
    assert_eq!(export(Role::Viewer, other).0, 403);
    assert_eq!(dispatch(Role::Admin, other).0, 403);
    assert_eq!(export(Role::Operator, 999_999).0, 404);

    // Every attempt is in the audit log with its outcome.
    let log = s.store.audit_entries(None, 1000).unwrap();
    let of = |action: &str| -> Vec<String> {
        log.iter()
            .filter(|e| e.action == action && e.target.as_deref() == Some(&format!("event {id}")))
            .map(|e| e.outcome.clone())
            .collect()
    };
    assert_eq!(of("event.export"), ["ok", "refused", "refused"]);
    assert_eq!(of("event.dispatch"), ["ok", "refused", "refused"]);
    let history = s.store.review_history(id).unwrap();
    assert_eq!(
        history.last().unwrap().action,
        store::ReviewAction::Dispatch
    );
    assert_eq!(history.last().unwrap().comment.as_deref(), Some("unit 7"));
    assert_eq!(s.store.verify_audit().unwrap().first_bad, None);
}
