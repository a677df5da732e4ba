//! Legal authorisations: approval by a second person, scope checks, the
//! separation of missing-person lists, and urgent mode lapsing with its
//! results purged — all on simulated time.

use base::event::kinds;
use base::{Clock, Event, SimulatedClock, Timestamp};
use kuzet_store::{
    AuthorisationPurpose, AuthorisationStatus, LegalBasis, ListClass, NewAuthorisation,
    NewTemplate, ReviewAction, Store, StoreError, WatchlistCategory,
};
use std::sync::Arc;
use std::time::Duration;

const T0: i64 = 1_800_000_000_000;
const HOUR: Duration = Duration::from_secs(3600);

fn open() -> (tempfile::TempDir, SimulatedClock, Store) {
    let dir = tempfile::tempdir().unwrap();
    let clock = SimulatedClock::new(Timestamp::from_millis(T0));
    let s = Store::open_with_clock(dir.path(), Arc::new(clock.clone())).unwrap();
    s.set_seal_key(std::sync::Arc::new(kuzet_store::SealKey::generate().0));
    (dir, clock, s)
}

fn request(purpose: AuthorisationPurpose, urgent: bool, lists: &[&str]) -> NewAuthorisation {
    NewAuthorisation {
        purpose,
        legal_ground: "Code of Criminal Procedure art. 231".into(),
        authority: "City prosecutor".into(),
        decision_ref: "D-17/2026".into(),
        scope_text: "gate".into(),
        cameras: vec!["gate".into()],
        watchlists: lists.iter().map(|s| s.to_string()).collect(),
        list_class: ListClass::Criminal,
        window_start: None,
        window_end: None,
        expires: Timestamp::from_millis(T0).plus(HOUR * 24 * 30),
        urgent,
        requested_by: "ivan".into(),
    }
}

fn match_event(s: &Store, camera: &str, list: &str, ts: Timestamp) -> Event {
    let ev = s
        .save_evidence_bytes(format!("crop {camera} {ts}").as_bytes(), 8, 8)
        .unwrap();
    let mut e = Event::new(camera.to_string(), kinds::FACE_MATCH, ts);
    e.rule = Some(list.into());
    e.evidence = Some(ev);
    e.details = serde_json::json!({"watchlist": list, "category": "wanted", "sightings": []});
    s.insert_events(vec![e]).unwrap().remove(0)
}

#[test]
fn approval_needs_a_second_person_and_scope_is_checked() {
    let (_d, clock, s) = open();
    let now = clock.now();
    let a = s
        .request_authorisation(request(AuthorisationPurpose::Both, false, &["wanted"]))
        .unwrap();
    assert_eq!(a.status(now), AuthorisationStatus::Pending);
    assert!(!a.covers_live(now, "gate", now, "wanted", WatchlistCategory::Wanted));
    assert!(a.scope_search(now, &[], None, None).is_err());
    let e = s.approve_authorisation(a.id, "ivan").unwrap_err();
    assert!(e.to_string().contains("cannot also approve"), "{e}");
    let a = s.approve_authorisation(a.id, "sara").unwrap();
    assert_eq!(a.status(now), AuthorisationStatus::Active);
    assert!(a.covers_live(now, "gate", now, "wanted", WatchlistCategory::Wanted));
    assert!(!a.covers_live(now, "yard", now, "wanted", WatchlistCategory::Wanted));
    assert!(!a.covers_live(now, "gate", now, "other", WatchlistCategory::Wanted));
    let (cams, _, _) = a.scope_search(now, &[], None, None).unwrap();
    assert_eq!(cams, vec!["gate".to_string()]);
    assert!(a.scope_search(now, &["yard".into()], None, None).is_err());
    // Revocation stops it at once.
    let a = s.revoke_authorisation(a.id, "sara", "case closed").unwrap();
    assert_eq!(a.status(now), AuthorisationStatus::Revoked);
    assert!(!a.covers_live(now, "gate", now, "wanted", WatchlistCategory::Wanted));
    // Every change is in the audit log, and the chain holds.
    let actions: Vec<String> = s
        .audit_entries(None, 100)
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "authorisation.revoke",
            "authorisation.approve",
            "authorisation.request"
        ]
    );
    assert!(s.verify_audit().unwrap().first_bad.is_none());
}

#[test]
fn window_and_expiry_bound_an_authorisation() {
    let (_d, clock, s) = open();
    let t = |h: u64| Timestamp::from_millis(T0).plus(HOUR * h as u32);
    let mut r = request(AuthorisationPurpose::Retrospective, false, &["wanted"]);
    r.window_start = Some(t(0));
    r.window_end = Some(t(10));
    r.expires = t(48);
    let a = s.request_authorisation(r).unwrap();
    let a = s.approve_authorisation(a.id, "sara").unwrap();
    let now = clock.now();
    let (_, since, until) = a.scope_search(now, &[], None, None).unwrap();
    assert_eq!((since, until), (Some(t(0)), Some(t(10))));
    assert!(a.scope_search(now, &[], Some(t(2)), Some(t(11))).is_err());
    // Retrospective only: no live matching.
    assert!(!a.covers_live(now, "gate", t(1), "wanted", WatchlistCategory::Wanted));
    clock.advance(HOUR * 48);
    let e = a.scope_search(clock.now(), &[], None, None).unwrap_err();
    assert!(e.to_string().contains("Expired"), "{e}");
}

#[test]
fn missing_person_and_criminal_lists_never_share_an_authorisation() {
    let (_d, clock, s) = open();
    s.ensure_watchlist("children", WatchlistCategory::Missing, 0.4, 0)
        .unwrap();
    s.ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.4, 0)
        .unwrap();
    let e = s
        .request_authorisation(request(
            AuthorisationPurpose::Live,
            false,
            &["wanted", "children"],
        ))
        .unwrap_err();
    assert!(matches!(e, StoreError::Refused(_)), "{e}");
    let mut r = request(AuthorisationPurpose::Live, false, &["children"]);
    r.list_class = ListClass::Missing;
    let a = s.request_authorisation(r).unwrap();
    let a = s.approve_authorisation(a.id, "sara").unwrap();
    let now = clock.now();
    assert!(a.covers_live(now, "gate", now, "children", WatchlistCategory::Missing));
    // A criminal list, even under a name in scope, never matches under it.
    assert!(!a.covers_live(now, "gate", now, "children", WatchlistCategory::Wanted));
}

#[test]
fn unapproved_urgent_authorisation_lapses_and_its_results_are_purged() {
    let (_d, clock, s) = open();
    let t0 = clock.now();
    let urgent = s
        .request_authorisation(request(AuthorisationPurpose::Live, true, &["wanted"]))
        .unwrap();
    // In effect at once, without approval.
    assert_eq!(urgent.status(t0), AuthorisationStatus::Urgent);
    assert!(urgent.covers_live(t0, "gate", t0, "wanted", WatchlistCategory::Wanted));
    // Matches produced under it, one reviewed, plus events it did not cover.
    clock.advance(HOUR);
    let ours = match_event(&s, "gate", "wanted", clock.now());
    s.review(ours.id.unwrap(), "sara", ReviewAction::Confirm, None, None)
        .unwrap();
    let other_cam = match_event(&s, "yard", "wanted", clock.now());
    let other_kind = {
        let e = Event::new("gate".to_string(), kinds::LINE_CROSS, clock.now());
        s.insert_events(vec![e]).unwrap().remove(0)
    };
    // Nothing happens before the deadline.
    clock.advance(HOUR * 22);
    assert!(s.lapse_overdue_authorisations().unwrap().is_empty());
    assert_eq!(
        s.authorisation(urgent.id)
            .unwrap()
            .unwrap()
            .status(clock.now()),
        AuthorisationStatus::Urgent
    );
    // 24 h after the request without approval: stopped, even before a sweep.
    clock.advance(HOUR);
    let now = clock.now();
    let a = s.authorisation(urgent.id).unwrap().unwrap();
    assert_eq!(a.status(now), AuthorisationStatus::Lapsed);
    assert!(!a.covers_live(now, "gate", now, "wanted", WatchlistCategory::Wanted));
    let evidence = ours.evidence.clone().unwrap();
    assert!(s.evidence_path(&evidence).is_some_and(|p| p.exists()));
    let lapses = s.lapse_overdue_authorisations().unwrap();
    assert_eq!(lapses.len(), 1);
    assert_eq!(lapses[0].events, vec![ours.id.unwrap()]);
    assert_eq!(lapses[0].evidence_files, 1);
    assert!(s.event(ours.id.unwrap()).unwrap().is_none());
    assert!(s.evidence_path(&evidence).is_none_or(|p| !p.exists()));
    assert!(s.event(other_cam.id.unwrap()).unwrap().is_some());
    assert!(s.event(other_kind.id.unwrap()).unwrap().is_some());
    // Recorded and audited; a later approval is refused; a second sweep is a no-op.
    let a = s.authorisation(urgent.id).unwrap().unwrap();
    assert!(a.lapsed.is_some() && a.purge.is_some());
    let e = s.approve_authorisation(urgent.id, "sara").unwrap_err();
    assert!(e.to_string().contains("Lapsed"), "{e}");
    assert!(s.lapse_overdue_authorisations().unwrap().is_empty());
    let head = s.audit_entries(None, 1).unwrap().remove(0);
    assert_eq!(
        (head.action.as_str(), head.actor.as_deref()),
        ("authorisation.lapse", Some("system"))
    );
    assert!(s.verify_audit().unwrap().first_bad.is_none());
}

#[test]
fn approved_urgent_authorisation_keeps_its_results_and_retrospective_gets_48h() {
    let (_d, clock, s) = open();
    let live = s
        .request_authorisation(request(AuthorisationPurpose::Live, true, &["wanted"]))
        .unwrap();
    let retro = s
        .request_authorisation(request(
            AuthorisationPurpose::Retrospective,
            true,
            &["wanted"],
        ))
        .unwrap();
    // A lost-child style entry created under the retrospective one.
    let (wl, _) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.4, 0)
        .unwrap();
    let p = s
        .add_person(
            wl.id,
            "x",
            None,
            &LegalBasis::default(),
            &[NewTemplate {
                model: "m".into(),
                embedding: vec![1.0, 0.0],
                quality: serde_json::json!({}),
                photo_hash: None,
            }],
        )
        .unwrap();
    s.record_authorisation_use(retro.id, "ivan", "faces.lost", Some(p.id))
        .unwrap();
    // A second urgent live authorisation on the same scope, never approved:
    // its lapse must not purge the match that `live` (approved in time) covered.
    let twin = s
        .request_authorisation(request(AuthorisationPurpose::Live, true, &["wanted"]))
        .unwrap();
    clock.advance(HOUR);
    let ev = match_event(&s, "gate", "wanted", clock.now());
    // Approved an hour after the match (in time): the match was made under
    // its urgent phase and stays.
    clock.advance(HOUR);
    s.approve_authorisation(live.id, "sara").unwrap();
    clock.advance(HOUR * 30);
    // Live one approved in time: its match stays although the unapproved
    // twin lapsed. Retrospective one: 48 h.
    let lapses = s.lapse_overdue_authorisations().unwrap();
    assert_eq!(lapses.len(), 1);
    assert_eq!(lapses[0].authorisation_id, twin.id);
    assert!(lapses[0].events.is_empty(), "{lapses:?}");
    assert!(s.event(ev.id.unwrap()).unwrap().is_some());
    clock.advance(HOUR * 18);
    let lapses = s.lapse_overdue_authorisations().unwrap();
    assert_eq!(lapses.len(), 1);
    assert_eq!(lapses[0].authorisation_id, retro.id);
    assert_eq!(lapses[0].persons, vec![p.id]);
    assert!(s.person(p.id).unwrap().is_none());
    assert!(s.event(ev.id.unwrap()).unwrap().is_some());
}
