//! Masked evidence and the audited un-mask of its sealed original.

mod common;

use auth::Role;
use base::BBox;
use std::sync::Arc;
use store::SealKey;

fn client(role: Role) -> reqwest::blocking::Client {
    common::client_with(&common::token(role), std::time::Duration::from_secs(20))
}

/// A server whose store has a sealing key, and a real portrait (RGB,
/// width, height) to store as evidence.
fn keyed_server_and_portrait() -> (common::Running, Vec<u8>, u32, u32) {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let (key, _) = SealKey::generate();
    s.store.set_seal_key(Arc::new(key));
    let img = image::open(base::env::require_data("faces/obama/fr_obama.jpg"))
        .unwrap()
        .to_rgb8();
    let (w, h) = img.dimensions();
    (s, img.into_raw(), w, h)
}

#[test]
fn only_investigators_and_supervisors_unmask_with_a_reason_and_it_is_audited() {
    let (s, rgb, w, h) = keyed_server_and_portrait();
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
    // Each viewer's look is audited once; a repeat within the window is not
    // a second entry.
    let again = client(Role::Viewer)
        .get(s.url(&format!("/api/evidence/{masked}")))
        .send()
        .unwrap();
    assert_eq!(again.status().as_u16(), 200);
    let views: Vec<_> = s
        .store
        .audit_entries(None, 1000)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "evidence.view")
        .collect();
    assert_eq!(views.len(), 3, "{views:?}");
    for who in ["viewer", "operator", "investigator"] {
        assert!(
            views
                .iter()
                .any(|e| e.actor.as_deref().unwrap().starts_with(who)
                    && e.target.as_deref() == Some(&*format!("evidence {masked}"))),
            "{who}: {views:?}"
        );
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

/// An export with the un-masked originals: investigators and supervisors
/// with a reason get the sealed originals of the masked files (named by
/// their own SHA-256, with the masked file they replace), files with
/// nothing masked go as stored; operators are refused (403, audited), a
/// missing reason is refused (400, audited), the two-person rule of a face
/// match still holds, and the plain export stays masked.
#[test]
fn export_with_originals_is_for_investigators_with_a_reason_and_audited() {
    let (s, rgb, w, h) = keyed_server_and_portrait();
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
    let plain = s
        .store
        .save_evidence_jpeg(&rgb, w, h, Some(BBox::new(0.0, 0.0, 40.0, 40.0)), 90)
        .unwrap();
    let mut e = base::Event::new("gate", "loitering", base::Timestamp(1_000));
    e.evidence = Some(plain.clone());
    e.details = serde_json::json!({ "frame_evidence": masked });
    let id = s.store.insert_events(vec![e]).unwrap()[0].id.unwrap();
    let mut m = base::Event::new("gate", "face_match", base::Timestamp(2_000));
    m.evidence = Some(masked.clone());
    let matched = s.store.insert_events(vec![m]).unwrap()[0].id.unwrap();
    s.store.flush().unwrap();
    let original = s.store.evidence_original(&masked).unwrap().unwrap();
    let stored = std::fs::read(s.store.evidence_path(&masked).unwrap()).unwrap();

    let why = serde_json::json!({ "reason": "case 42/2026: court order for the full frames" });
    let export = |role, id: i64, body: &serde_json::Value| {
        let r = client(role)
            .post(s.url(&format!("/api/events/{id}/export/originals")))
            .json(body)
            .send()
            .unwrap();
        let st = r.status().as_u16();
        let cache = r
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        (st, cache, r.json::<serde_json::Value>().unwrap_or_default())
    };
    let file = |pkg: &serde_json::Value, key: &str, hash: &str| -> serde_json::Value {
        pkg["files"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f[key] == hash)
            .cloned()
            .unwrap_or_else(|| panic!("no file with {key} {hash} in {pkg}"))
    };
    let bytes = |f: &serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD
            .decode(f["data_base64"].as_str().unwrap())
            .unwrap()
    };

    for role in [Role::Viewer, Role::Operator, Role::Auditor, Role::Admin] {
        assert_eq!(export(role, id, &why).0, 403, "{role}");
    }
    assert_eq!(
        export(Role::Investigator, id, &serde_json::json!({})).0,
        400
    );
    for role in [Role::Investigator, Role::Supervisor] {
        let (st, cache, pkg) = export(role, id, &why);
        assert_eq!(st, 200, "{role}: {pkg}");
        assert_eq!(cache.as_deref(), Some("no-store"));
        assert_eq!(pkg["originals"], true);
        let f = file(&pkg, "masked_hash", &masked);
        assert_eq!(f["original"], true);
        assert_eq!(bytes(&f), original, "{role} gets the original");
        assert_eq!(f["hash"], store::sha256_hex(&original));
        // Nothing was masked in the crop: it goes as stored.
        let p = file(&pkg, "hash", &plain);
        assert!(p.get("original").is_none());
    }
    // The ordinary export is still the masked file.
    let r = client(Role::Operator)
        .get(s.url(&format!("/api/events/{id}/export")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let pkg: serde_json::Value = r.json().unwrap();
    assert_eq!(bytes(&file(&pkg, "hash", &masked)), stored);
    assert!(pkg.get("originals").is_none());
    // A face match still needs two confirmations, originals or not.
    assert_eq!(export(Role::Supervisor, matched, &why).0, 409);
    // An original that cannot be opened (the store now holds another key):
    // nothing is sent, and the failure is audited.
    s.store.set_seal_key(Arc::new(SealKey::generate().0));
    let (st, _, body) = export(Role::Supervisor, id, &why);
    assert_eq!(st, 500, "{body}");
    assert!(body.get("files").is_none(), "{body}");

    let log = s.store.audit_entries(None, 1000).unwrap();
    let ours: Vec<_> = log
        .iter()
        .filter(|e| e.action == "event.export_originals")
        .collect();
    let ok: Vec<_> = ours.iter().filter(|e| e.outcome == "ok").collect();
    assert_eq!(ok.len(), 2);
    for e in &ok {
        assert_eq!(
            e.reason.as_deref(),
            Some("case 42/2026: court order for the full frames")
        );
        assert_eq!(e.target.as_deref(), Some(&*format!("event {id}")));
        assert_eq!(e.details["unmasked"], serde_json::json!([masked]));
    }
    // The missing reason and the unconfirmed match.
    assert_eq!(ours.iter().filter(|e| e.outcome == "refused").count(), 2);
    let failed: Vec<_> = ours.iter().filter(|e| e.outcome == "failed").collect();
    assert_eq!(failed.len(), 1);
    assert!(failed[0].details["error"]
        .as_str()
        .is_some_and(|m| m.contains(&masked)));
    assert!(log.iter().any(|e| e.action == "http.forbidden"
        && e.target
            .as_deref()
            .is_some_and(|t| t.contains("/export/originals"))));
    assert_eq!(s.store.verify_audit().unwrap().first_bad, None);
}

/// The full frame of a face match is sealed on disk (it shows the matched
/// face): nobody with the files alone sees it, while the API serves the
/// (bystander-masked) JPEG after its usual checks and an un-mask still
/// returns the sealed original.
#[test]
fn face_match_frame_is_sealed_on_disk_and_served_by_the_api() {
    let (s, rgb, w, h) = keyed_server_and_portrait();
    // A bystander's head in the top-left corner.
    let bystander = BBox::new(0.0, 0.0, w as f32 * 0.25, h as f32 * 0.25);
    let frame = s
        .store
        .save_face_frame(&rgb, w, h, 90, &[bystander])
        .unwrap();
    let mut m = base::Event::new("gate", "face_match", base::Timestamp(2_000));
    m.details = serde_json::json!({ "frame_evidence": frame });
    s.store.insert_events(vec![m]).unwrap();
    s.store.flush().unwrap();
    let raw = std::fs::read(s.store.evidence_path(&frame).unwrap()).unwrap();
    assert!(raw.starts_with(b"KZSEAL1\n"), "sealed on disk");
    assert!(image::load_from_memory(&raw).is_err());

    let r = client(Role::Viewer)
        .get(s.url(&format!("/api/evidence/{frame}")))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"].to_str().unwrap(), "image/jpeg");
    let body = r.bytes().unwrap();
    assert_eq!(store::sha256_hex(&body), frame, "the JPEG its name hashes");
    let served = image::load_from_memory(&body).unwrap();
    assert_eq!((served.width(), served.height()), (w, h));
    assert!(
        !raw.windows(32)
            .any(|x| x == &body[body.len() / 2..body.len() / 2 + 32]),
        "no plain JPEG bytes in the file"
    );

    let r = client(Role::Investigator)
        .post(s.url(&format!("/api/evidence/{frame}/unmask")))
        .json(&serde_json::json!({ "reason": "case 42/2026: identify the witness" }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let original = r.bytes().unwrap();
    assert_eq!(
        &original[..],
        &s.store.evidence_original(&frame).unwrap().unwrap()[..]
    );
    assert_ne!(store::sha256_hex(&original), frame);
}
