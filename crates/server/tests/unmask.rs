//! Masked evidence and the audited un-mask of its sealed original.

mod common;

use auth::Role;
use base::BBox;
use std::sync::Arc;
use store::SealKey;

fn client(role: Role) -> reqwest::blocking::Client {
    common::client_with(&common::token(role), std::time::Duration::from_secs(20))
}

#[test]
fn only_investigators_and_supervisors_unmask_with_a_reason_and_it_is_audited() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let (key, _) = SealKey::generate();
    s.store.set_seal_key(Arc::new(key));
    let p = base::env::require_data("faces/obama/fr_obama.jpg");
    let img = image::open(&p).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    let rgb = img.into_raw();
    let face = BBox::new(
        w as f32 * 0.3,
        h as f32 * 0.15,
        w as f32 * 0.7,
        h as f32 * 0.65,
    );
    let masked = s
        .store
        .save_evidence_masked(&rgb, w, h, None, 90, &[face])
        .unwrap();
    let plain = s.store.save_evidence_jpeg(&rgb, w, h, None, 90).unwrap();
    let mut e = base::Event::new("gate", "loitering", base::Timestamp(1_000));
    e.evidence = Some(masked.clone());
    s.store.insert_events(vec![e]).unwrap();
    let original = std::fs::read(s.store.evidence_path(&plain).unwrap()).unwrap();
    let stored = std::fs::read(s.store.evidence_path(&masked).unwrap()).unwrap();

    // Everyone who may see evidence gets the masked JPEG.
    for role in [Role::Viewer, Role::Operator, Role::Investigator] {
        let r = client(role)
            .get(s.url(&format!("/api/evidence/{masked}")))
            .send()
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(&r.bytes().unwrap()[..], &stored[..], "{role}");
    }

    let unmask = |role, body: serde_json::Value| {
        let r = client(role)
            .post(s.url(&format!("/api/evidence/{masked}/unmask")))
            .json(&body)
            .send()
            .unwrap();
        let st = r.status().as_u16();
        let cache = r
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        (st, cache, r.bytes().unwrap().to_vec())
    };
    let why = serde_json::json!({ "reason": "case 42/2026: identify the witness" });
    for role in [Role::Viewer, Role::Operator, Role::Auditor, Role::Admin] {
        assert_eq!(unmask(role, why.clone()).0, 403, "{role}");
    }
    // No reason, or a too short one: refused and audited.
    assert_eq!(unmask(Role::Investigator, serde_json::json!({})).0, 400);
    assert_eq!(
        unmask(Role::Investigator, serde_json::json!({ "reason": "x" })).0,
        400
    );
    for role in [Role::Investigator, Role::Supervisor] {
        let (st, cache, body) = unmask(role, why.clone());
        assert_eq!(st, 200, "{role}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(body, original, "{role} gets the original");
    }
    // Evidence stored without masking has no original to give.
    let r = client(Role::Investigator)
        .post(s.url(&format!("/api/evidence/{plain}/unmask")))
        .json(&why)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);

    let log = s.store.audit_entries(None, 1000).unwrap();
    let unmasks: Vec<_> = log
        .iter()
        .filter(|e| e.action == "evidence.unmask")
        .collect();
    let ok: Vec<_> = unmasks.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(ok.len(), 2);
    for (e, who) in ok.iter().zip(["supervisor", "investigator"]) {
        assert!(e.actor.as_deref().unwrap().starts_with(who), "{e:?}");
        assert_eq!(
            e.reason.as_deref(),
            Some("case 42/2026: identify the witness")
        );
        assert_eq!(e.target.as_deref(), Some(&*format!("evidence {masked}")));
    }
    assert_eq!(unmasks.iter().filter(|e| e.outcome == "refused").count(), 2);
    assert_eq!(
        unmasks.iter().filter(|e| e.outcome == "not_found").count(),
        1
    );
    // The 403s are in the log as refused requests, by the middleware.
    assert!(log.iter().any(|e| e.action == "http.forbidden"
        && e.target.as_deref().is_some_and(|t| t.contains("/unmask"))));
    assert_eq!(s.store.verify_audit().unwrap().first_bad, None);
}
