//! Authentication, the route × role matrix, camera-group scoping and the
//! audit log, over real loopback HTTP.

use auth::Role;
use base::{Event, Timestamp};
use kuzet_server::faces_api::FaceApi;
use kuzet_server::policy::policy;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

mod common;

fn client(token: &str) -> reqwest::blocking::Client {
    common::client_with(token, Duration::from_secs(30))
}

fn anonymous() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A concrete URL for a route pattern: ids that do not exist, so an allowed
/// call ends in 400/404 instead of changing anything.
fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
        .replace("{hash}", &"0".repeat(64))
        .replace("{name}", "nobody")
        .replace("{*path}", "app.css")
}

/// Every registered route, called by every role and by nobody, must be
/// allowed or refused exactly as the policy table says — and every route must
/// have a row in it, and every row a route.
#[test]
fn every_route_times_every_role_follows_the_policy_table() {
    let routes = kuzet_server::registered_routes();
    let p = policy();
    let missing: Vec<_> = routes
        .iter()
        .filter(|(m, path)| p.get(&m.parse().unwrap(), path).is_none())
        .collect();
    assert!(
        missing.is_empty(),
        "routes without a policy row: {missing:?}"
    );
    let stale: Vec<_> = p
        .rows()
        .filter(|(m, path, _)| {
            !routes
                .iter()
                .any(|(rm, rp)| *rm == m.as_str() && *rp == *path)
        })
        .map(|(m, path, _)| format!("{m} {path}"))
        .collect();
    assert!(stale.is_empty(), "policy rows without a route: {stale:?}");

    // Faces on, for a law-enforcement organisation, with the real models:
    // biometric routes are then allowed exactly to the roles in the table.
    let s = common::start(Arc::new(Vec::new), |st, store| {
        st.with_law_enforcement(true).with_faces(FaceApi {
            service: common::face_service(store),
            resolve_cameras: Arc::new(|spec: &str| Ok(vec![spec.to_string()])),
        })
    });
    let mut checked = 0;
    for (method, path) in &routes {
        let rule = p.get(&method.parse().unwrap(), path).unwrap();
        let url = s.url(&concrete(path));
        let call = |c: &reqwest::blocking::Client| {
            let m = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
            c.request(m, &url).send().unwrap().status().as_u16()
        };
        // Nobody logged in.
        let st = call(&anonymous());
        if rule.public {
            assert!(
                ![401, 403, 405].contains(&st),
                "anonymous {method} {path}: {st}"
            );
        } else {
            assert_eq!(st, 401, "anonymous {method} {path}");
        }
        for role in Role::ALL {
            let st = call(&client(&common::token(role)));
            if rule.allows(role) {
                assert!(
                    ![401, 403, 405].contains(&st) && st < 500,
                    "{role} {method} {path}: expected allowed, got {st}"
                );
            } else {
                assert_eq!(st, 403, "{role} {method} {path}: expected refused");
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * Role::ALL.len());
    // Every refusal is in the audit log, and the chain holds.
    let log = s.store.audit_entries(None, 1000).unwrap();
    let non_public = routes
        .iter()
        .filter(|(m, path)| !p.get(&m.parse().unwrap(), path).unwrap().public)
        .count();
    let unauth = log
        .iter()
        .filter(|e| e.action == "http.unauthenticated")
        .count();
    assert_eq!(unauth, non_public);
    assert!(log.iter().any(|e| e.action == "http.forbidden"
        && e.actor.as_deref() == Some("admin/token:test-admin")
        && e.target.as_deref() == Some("POST /api/faces/search")));
    assert_eq!(s.store.verify_audit().unwrap().first_bad, None);
}

#[test]
fn face_routes_refuse_everyone_without_law_enforcement() {
    // Faces switched on but the organisation not declared law enforcement
    // (config validation forbids this; the server refuses anyway).
    let s = common::start(Arc::new(Vec::new), |st, store| {
        st.with_faces(FaceApi {
            service: common::face_service(store),
            resolve_cameras: Arc::new(|spec: &str| Ok(vec![spec.to_string()])),
        })
    });
    let r = client(&common::token(Role::Investigator))
        .get(s.url("/api/watchlists"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let v: Value = r.json().unwrap();
    assert!(
        v["hint"].as_str().unwrap().contains("law_enforcement"),
        "{v}"
    );
}

#[test]
fn login_cookie_me_logout_and_lockout() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let c = anonymous();
    let login = |name: &str, pw: &str| {
        c.post(s.url("/api/auth/login"))
            .json(&serde_json::json!({ "name": name, "password": pw }))
            .send()
            .unwrap()
    };
    // Bad JSON is explained.
    let r = c
        .post(s.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    // Wrong password.
    let r = login("viewer", "nope-nope");
    assert_eq!(r.status().as_u16(), 401);
    assert!(r.headers().get("set-cookie").is_none());
    // Right password: an HttpOnly, SameSite=Strict session cookie.
    let r = login("viewer", common::PASSWORD);
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("kuzet_session="), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let v: Value = r.json().unwrap();
    assert_eq!(
        (v["name"].as_str(), v["role"].as_str()),
        (Some("viewer"), Some("viewer"))
    );
    let session = cookie.split(';').next().unwrap().to_string();
    let me = |cookie: &str| {
        c.get(s.url("/api/auth/me"))
            .header("cookie", cookie)
            .send()
            .unwrap()
    };
    let r = me(&session);
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.json::<Value>().unwrap()["via"]["kind"], "session");
    // The cookie opens the API, within the role.
    let r = c
        .get(s.url("/api/events"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let r = c
        .get(s.url("/api/audit"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // A forged cookie is not a session.
    assert_eq!(me("kuzet_session=forged").status().as_u16(), 401);
    // Logout ends it.
    let r = c
        .post(s.url("/api/auth/logout"))
        .header("cookie", &session)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .contains("Max-Age=0"));
    assert_eq!(me(&session).status().as_u16(), 401);

    // Five failures lock the name: even the right password gets 429.
    for _ in 0..4 {
        assert_eq!(login("operator", "guess-guess").status().as_u16(), 401);
    }
    assert_eq!(login("operator", "guess-guess").status().as_u16(), 401);
    let r = login("operator", common::PASSWORD);
    assert_eq!(r.status().as_u16(), 429);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");

    // Every attempt is audited; the auditor reads them through the API.
    let r = client(&common::token(Role::Auditor))
        .get(s.url("/api/audit?limit=1000"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().unwrap();
    let entries = v["entries"].as_array().unwrap();
    let logins: Vec<(&str, &str)> = entries
        .iter()
        .filter(|e| e["action"] == "auth.login")
        .map(|e| (e["actor"].as_str().unwrap(), e["outcome"].as_str().unwrap()))
        .rev()
        .collect();
    assert_eq!(
        logins,
        [
            ("viewer", "failed"),
            ("viewer", "ok"),
            ("operator", "failed"),
            ("operator", "failed"),
            ("operator", "failed"),
            ("operator", "failed"),
            ("operator", "failed"),
            ("operator", "locked"),
        ]
    );
    assert!(entries.iter().any(|e| e["action"] == "auth.logout"));
    assert!(entries
        .iter()
        .any(|e| e["action"] == "http.forbidden" && e["target"] == "GET /api/audit"));
    assert_eq!(v["head"]["seq"], entries[0]["seq"]);
    assert_eq!(v["head"]["hash"], entries[0]["hash"]);
    // Paging.
    let r: Value = client(&common::token(Role::Auditor))
        .get(s.url("/api/audit?limit=2"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(r["entries"].as_array().unwrap().len(), 2);
    assert!(r["next_before_seq"].is_i64());
}

#[test]
fn admins_manage_users_and_changes_are_audited() {
    let s = common::start(Arc::new(Vec::new), |st, _| st);
    let admin = client(&common::token(Role::Admin));
    let r = admin
        .post(s.url("/api/users"))
        .json(&serde_json::json!({"name": "newbie", "role": "viewer", "groups": ["north"], "password": "long-enough"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let v: Value = r.json().unwrap();
    assert!(v.get("password_hash").is_none(), "{v}");
    let r = admin
        .post(s.url("/api/users"))
        .json(&serde_json::json!({"name": "x", "role": "root", "password": "long-enough"}))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let list: Value = admin
        .get(s.url("/api/users"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "newbie" && u["groups"][0] == "north"));
    assert_eq!(
        admin
            .delete(s.url("/api/users/newbie"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        200
    );
    assert_eq!(
        admin
            .delete(s.url("/api/users/newbie"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        404
    );
    assert_eq!(
        admin
            .delete(s.url("/api/users/admin"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        400
    );
    let log = s.store.audit_entries(None, 100).unwrap();
    let changes: Vec<(&str, &str)> = log
        .iter()
        .filter(|e| e.action.starts_with("user."))
        .map(|e| (e.action.as_str(), e.outcome.as_str()))
        .rev()
        .collect();
    assert_eq!(
        changes,
        [
            ("user.add", "ok"),
            ("user.add", "failed"),
            ("user.remove", "ok"),
            ("user.remove", "not_found")
        ]
    );
}

#[test]
fn camera_group_scope_filters_events_cameras_and_stats() {
    let groups: HashMap<String, Vec<String>> = [
        ("cam-n".to_string(), vec!["north".to_string()]),
        ("cam-s".to_string(), vec!["south".to_string()]),
    ]
    .into();
    let s = common::start(Arc::new(Vec::new), move |st, store| {
        let hash = auth::hash_password(common::PASSWORD).unwrap();
        let u = store
            .add_user("northern", "viewer", &["north".to_string()], &hash)
            .unwrap();
        store
            .add_token("northern", u.id, &auth::secret_hash("kzt_northern"))
            .unwrap();
        st.with_camera_groups(groups)
    });
    for cam in ["cam-n", "cam-s"] {
        s.store
            .upsert_camera(cam, cam, "file:///x", &Value::Null)
            .unwrap();
    }
    let evs = s
        .store
        .insert_events(
            (0i64..6)
                .map(|i| {
                    Event::new(
                        if i % 2 == 0 { "cam-n" } else { "cam-s" },
                        "zone_enter",
                        Timestamp(1_700_000_000_000 + i * 1000),
                    )
                })
                .collect(),
        )
        .unwrap();
    let north = client("kzt_northern");
    let all = client(&common::token(Role::Viewer));
    let events = |c: &reqwest::blocking::Client, q: &str| -> Vec<String> {
        let v: Value = c
            .get(s.url(&format!("/api/events{q}")))
            .send()
            .unwrap()
            .json()
            .unwrap();
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["camera"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(events(&north, ""), ["cam-n"; 3]);
    assert_eq!(events(&north, "?camera=cam-s"), Vec::<String>::new());
    assert_eq!(events(&all, "").len(), 6);
    let south_id = evs
        .iter()
        .find(|e| e.camera == "cam-s")
        .unwrap()
        .id
        .unwrap();
    let north_id = evs
        .iter()
        .find(|e| e.camera == "cam-n")
        .unwrap()
        .id
        .unwrap();
    let get =
        |c: &reqwest::blocking::Client, p: &str| c.get(s.url(p)).send().unwrap().status().as_u16();
    assert_eq!(get(&north, &format!("/api/events/{south_id}")), 404);
    assert_eq!(get(&north, &format!("/api/events/{north_id}")), 200);
    assert_eq!(get(&all, &format!("/api/events/{south_id}")), 200);
    let cams: Value = north
        .get(s.url("/api/cameras"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let ids: Vec<&str> = cams
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["cam-n"]);
    let stats: Value = north
        .get(s.url("/api/stats"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(stats["events"], 3, "{stats}");
    assert!(stats["by_camera"].get("cam-s").is_none(), "{stats}");
    assert_eq!(get(&north, "/api/cameras/cam-s/overlay"), 404);
    assert_eq!(get(&north, "/api/cameras/cam-n/overlay"), 200);
}

/// Camera owners: an agreement shares the mall's camera with supervisors
/// only, and the mall's own guard (owner scope) sees the mall's camera and
/// nothing else. The transparency report shows the sharing terms, not the
/// owner's name or the agreement's reference.
#[test]
fn owner_scope_and_agreement_roles_limit_who_sees_a_camera() {
    use kuzet_server::security::{CameraScope, CameraScopes};
    use kuzet_server::transparency::CameraSharing;
    let scopes: CameraScopes = [
        ("police-1".to_string(), CameraScope::default()),
        (
            "mall-1".to_string(),
            CameraScope {
                groups: Vec::new(),
                owner: Some("mall".into()),
                viewer_roles: Some(vec!["supervisor".into(), "operator".into()]),
            },
        ),
    ]
    .into();
    let sharing = vec![CameraSharing {
        owner_kind: "private_business".into(),
        cameras: 1,
        analytics: vec!["abandoned".into()],
        viewer_roles: Some(vec!["supervisor".into(), "operator".into()]),
        retention_days: Some(7.0),
        valid_until: Some("2027-06-30".into()),
    }];
    let s = common::start(Arc::new(Vec::new), move |st, store| {
        // What `kuzet serve` registers from the config's [[owner]].
        store.set_camera_agreements(
            [(
                "mall-1".to_string(),
                store::CameraAgreement {
                    owner: "mall".into(),
                    analytics: Some(vec!["abandoned".into(), "lines".into()]),
                    viewer_roles: Some(vec!["supervisor".into(), "operator".into()]),
                },
            )]
            .into(),
        );
        let hash = auth::hash_password(common::PASSWORD).unwrap();
        let u = store
            .add_user_scoped("guard", "operator", &[], &["mall".to_string()], &hash)
            .unwrap();
        store
            .add_token("guard", u.id, &auth::secret_hash("kzt_guard"))
            .unwrap();
        st.with_camera_scopes(scopes).with_camera_sharing(sharing)
    });
    for cam in ["police-1", "mall-1"] {
        s.store
            .upsert_camera(cam, cam, "file:///x", &Value::Null)
            .unwrap();
    }
    let evs = s
        .store
        .insert_events(vec![
            Event::new("police-1", "zone_enter", Timestamp(1_700_000_000_000)),
            Event::new("mall-1", "abandoned_object", Timestamp(1_700_000_001_000)),
        ])
        .unwrap();
    let mall_ev = evs[1].id.unwrap();
    let cameras_of = |token: &str| -> Vec<String> {
        let v: Value = client(token)
            .get(s.url("/api/events"))
            .send()
            .unwrap()
            .json()
            .unwrap();
        let mut c: Vec<String> = v["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["camera"].as_str().unwrap().to_string())
            .collect();
        c.sort();
        c
    };
    assert_eq!(
        cameras_of(&common::token(Role::Supervisor)),
        ["mall-1", "police-1"]
    );
    // Viewers and investigators are not in the agreement's roles.
    assert_eq!(cameras_of(&common::token(Role::Viewer)), ["police-1"]);
    assert_eq!(cameras_of(&common::token(Role::Investigator)), ["police-1"]);
    // The guard is limited to the mall's cameras.
    assert_eq!(cameras_of("kzt_guard"), ["mall-1"]);
    let status = |token: &str, p: &str| {
        client(token)
            .get(s.url(p))
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let ev = format!("/api/events/{mall_ev}");
    assert_eq!(status(&common::token(Role::Viewer), &ev), 404);
    assert_eq!(status("kzt_guard", &ev), 200);
    assert_eq!(
        status("kzt_guard", &format!("/api/events/{}", evs[0].id.unwrap())),
        404
    );
    let me: Value = client("kzt_guard")
        .get(s.url("/api/auth/me"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["owners"], serde_json::json!(["mall"]));
    let t: Value = anonymous()
        .get(s.url("/api/transparency"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let shared = &t["camera_sharing"][0];
    assert_eq!(shared["owner_kind"], "private_business", "{t}");
    assert_eq!(shared["cameras"], 1);
    assert_eq!(shared["retention_days"], 7.0);
    assert!(!t.to_string().contains("mall"), "no owner name in {t}");

    // The mall withdraws abandoned-object detection and operators' access
    // while the server runs: both bind at once, without a restart.
    let change = |token: &str, owner: &str, body: Value| {
        let r = client(token)
            .put(s.url(&format!("/api/owners/{owner}/agreement")))
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap_or_default())
    };
    let withdraw = serde_json::json!({
        "analytics": ["lines"],
        "viewer_roles": ["supervisor"],
        "reason": "letter 12/2026 of the mall",
    });
    assert_eq!(
        change(&common::token(Role::Operator), "mall", withdraw.clone()).0,
        403
    );
    assert_eq!(
        change(&common::token(Role::Supervisor), "nobody", withdraw.clone()).0,
        404
    );
    let (st, v) = change(
        &common::token(Role::Supervisor),
        "mall",
        serde_json::json!({ "analytics": ["telepathy"], "reason": "letter 12/2026" }),
    );
    assert_eq!(st, 400, "{v}");
    assert!(v.to_string().contains("telepathy"), "{v}");
    let (st, v) = change(&common::token(Role::Supervisor), "mall", withdraw);
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["cameras"], serde_json::json!(["mall-1"]));
    // The analytic's events from the mall's camera are no longer stored;
    // other analytics and other cameras go on.
    let stored: Vec<String> = s
        .store
        .insert_events(vec![
            Event::new("mall-1", "abandoned_object", Timestamp(1_700_000_002_000)),
            Event::new("mall-1", "line_cross", Timestamp(1_700_000_002_000)),
            Event::new("police-1", "abandoned_object", Timestamp(1_700_000_002_000)),
        ])
        .unwrap()
        .iter()
        .map(|e| format!("{}/{}", e.camera, e.kind))
        .collect();
    assert_eq!(stored, ["mall-1/line_cross", "police-1/abandoned_object"]);
    // Operators no longer see the mall's camera; supervisors still do.
    assert_eq!(
        cameras_of(&common::token(Role::Operator)),
        ["police-1", "police-1"]
    );
    assert_eq!(status("kzt_guard", &ev), 404);
    assert_eq!(
        cameras_of(&common::token(Role::Supervisor)),
        ["mall-1", "mall-1", "police-1", "police-1"]
    );
    let log = s.store.audit_entries(None, 1000).unwrap();
    let e = log
        .iter()
        .find(|e| e.action == "agreement.change")
        .expect("audited");
    assert_eq!(e.target.as_deref(), Some("owner mall"));
    assert_eq!(e.reason.as_deref(), Some("letter 12/2026 of the mall"));
    assert!(e.actor.as_deref().unwrap().starts_with("supervisor"));
}

/// The transparency report needs no login, counts what the audit log and
/// the store hold, and names no person, camera or time.
#[test]
fn transparency_report_is_public_and_counts_from_the_audit_log() {
    let s = common::start(Arc::new(Vec::new), |st, store| {
        let mut e = base::Event::new("gate", "face_match", base::Timestamp(1_000));
        e.score = 0.6;
        let id = store.insert_events(vec![e]).unwrap()[0].id.unwrap();
        store
            .review(id, "investigator", store::ReviewAction::Confirm, None, None)
            .unwrap();
        st
    });
    let c = anonymous();
    // One failed login and one refused request, both audited.
    let r = c
        .post(s.url("/api/auth/login"))
        .json(&serde_json::json!({ "name": "viewer", "password": "wrong-wrong" }))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(
        c.get(s.url("/api/events"))
            .send()
            .unwrap()
            .status()
            .as_u16(),
        401
    );
    let t: serde_json::Value = c
        .get(s.url("/api/transparency"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let n = |k: &str| {
        t["counts"][k]
            .as_u64()
            .unwrap_or_else(|| panic!("{k}: {t}"))
    };
    assert_eq!(n("failed_logins"), 1, "{t}");
    assert!(n("refused_requests") >= 1, "{t}");
    assert_eq!(n("face_matches"), 1, "{t}");
    assert_eq!(
        (n("face_matches_pending"), n("face_matches_confirmed")),
        (1, 0),
        "two-person rule: {t}"
    );
    assert_eq!(t["biometrics_enabled"], false);
    let modules: Vec<&str> = t["register"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["module"].as_str().unwrap())
        .collect();
    assert!(
        modules.contains(&"faces.live") && modules.contains(&"plates"),
        "{modules:?}"
    );
    assert!(
        !t.to_string().contains("gate"),
        "no camera names leave: {t}"
    );
    // The report's web page is public too, and so is its script.
    let page = c.get(s.url("/transparency")).send().unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert_eq!(page.headers()["content-type"], "text/html; charset=utf-8");
    assert!(page.text().unwrap().contains("/assets/js/transparency.js"));
    let js = c.get(s.url("/assets/js/transparency.js")).send().unwrap();
    assert_eq!(js.status().as_u16(), 200);
    assert!(js.text().unwrap().contains("/api/transparency"));
}
