//! Data-sharing agreement terms that change while the system runs (issue 7,
//! migration 15).
//!
//! An owner's agreement is written in the config file (`[owner.agreement]`)
//! and validated at load. When an owner withdraws an analytic, shortens
//! retention or narrows who may see its cameras, that must bind at once,
//! not at the next restart: the change is recorded here (with its audit
//! entry, in one transaction) and every process holding the store sees it
//! through the `agreements` change counter, like watchlists and hotlists.
//!
//! Terms recorded here only **narrow** the configured ones (the analytics
//! and roles in force are the intersection, the retention the shorter), so a
//! run-time change can withdraw consent but never grant what the validated
//! file does not: widening an agreement stays a config change.
//!
//! Where each term binds:
//! * analytics — [`Store::insert_events`] drops events of an analytic the
//!   camera's owner no longer allows (logged) (every pipeline thread stores through
//!   it), and the face and plate threads ask [`Store::analytic_allowed`]
//!   before they analyse (so no face sighting or plate read is stored);
//! * retention — the retention job adds a cap per changed owner
//!   ([`Store::agreement_retention_caps`]);
//! * who may see — the API's camera scope asks
//!   [`Store::agreement_viewer_roles`].

use crate::audit::{insert_audit, NewAuditEntry};
use crate::{Store, StoreError};
use base::event::kinds;
use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Analytics a term may name (the config's `[owner.agreement] analytics`).
pub use base::sharing::ANALYTICS;
use base::sharing::ROLE_NAMES as ROLES;

/// The analytic an event kind comes from, as agreements name them; `None`
/// for kinds no agreement term governs (e.g. a camera's own status events).
pub fn analytic_of(kind: &str) -> Option<&'static str> {
    Some(match kind {
        kinds::ZONE_ENTER | kinds::ZONE_EXIT | kinds::ZONE_DWELL => "zones",
        kinds::LOITERING => "loitering",
        k if k.starts_with("crowd_") => "crowd",
        kinds::LINE_CROSS => "lines",
        kinds::ABANDONED_OBJECT | kinds::ABANDONED_CLEARED => "abandoned",
        kinds::FACE_MATCH => "faces",
        kinds::HOTLIST_MATCH => "plates",
        k if k.starts_with("plate_") => "plates",
        k if k.starts_with(kinds::OFFENCE_PREFIX) => "offences",
        kinds::FIRE
        | kinds::SMOKE
        | kinds::FIRE_CLEARED
        | kinds::SMOKE_CLEARED
        | kinds::FIRE_LOCATED => "fire",
        _ => return None,
    })
}

/// Terms changed at run time for one owner; `None` = as configured.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AgreementTerms {
    /// Analytics still allowed (intersected with the configured list).
    pub analytics: Option<Vec<String>>,
    /// Roles that may still see the owner's cameras (intersected).
    pub viewer_roles: Option<Vec<String>>,
    /// Longest anything of the owner's cameras is kept (the shorter wins).
    pub retention_days: Option<f64>,
}

/// A recorded change, as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementChange {
    pub owner: String,
    #[serde(flatten)]
    pub terms: AgreementTerms,
    pub changed_by: String,
    pub changed_at: i64,
    pub reason: String,
}

/// A camera's owner and its configured agreement terms, registered by the
/// process that loaded the config (`kuzet serve`, `analyze`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CameraAgreement {
    pub owner: String,
    /// The configured analytics list; `None` = the owner has no agreement.
    pub analytics: Option<Vec<String>>,
    pub viewer_roles: Option<Vec<String>>,
}

/// What the store knows of agreements: the config's (per camera) and the
/// run-time changes at `generation`.
#[derive(Default)]
pub(crate) struct AgreementView {
    cameras: HashMap<String, CameraAgreement>,
    /// Run-time terms per owner, loaded at `generation`.
    terms: HashMap<String, AgreementTerms>,
    generation: Option<i64>,
    /// When the change counter was last read: the API asks per camera and
    /// request, the event path per batch, so one read serves every call of
    /// the next [`RECHECK`].
    checked: Option<Instant>,
}

/// How long a read of the change counter is trusted. A change made through
/// this store applies at once (it resets the check); one made by another
/// process within this much time.
const RECHECK: Duration = Duration::from_millis(200);

fn intersect(a: Option<&Vec<String>>, b: Option<&Vec<String>>) -> Option<Vec<String>> {
    match (a, b) {
        (None, None) => None,
        (Some(x), None) | (None, Some(x)) => Some(x.clone()),
        (Some(x), Some(y)) => Some(x.iter().filter(|v| y.contains(v)).cloned().collect()),
    }
}

fn check_names(field: &str, v: &Option<Vec<String>>, known: &[&str]) -> Result<(), StoreError> {
    if let Some(bad) = v.iter().flatten().find(|n| !known.contains(&n.as_str())) {
        return Err(StoreError::Invalid(format!(
            "agreement term `{field}`: unknown name {bad:?} (known: {})",
            known.join(", ")
        )));
    }
    Ok(())
}

impl CameraAgreement {
    /// The analytics in force on this camera under the owner's run-time
    /// `terms` (configured ∩ changed); `None` = no agreement binds it. One
    /// rule for every process that applies terms: the store here, and a
    /// worker that learns the terms from the bus (`bus::agreements`).
    pub fn analytics_in_force(&self, terms: Option<&AgreementTerms>) -> Option<Vec<String>> {
        intersect(
            self.analytics.as_ref(),
            terms.and_then(|t| t.analytics.as_ref()),
        )
    }

    /// Whether `analytic` may run under `terms`.
    pub fn allows(&self, terms: Option<&AgreementTerms>, analytic: &str) -> bool {
        self.analytics_in_force(terms)
            .is_none_or(|a| a.iter().any(|x| x == analytic))
    }
}

impl AgreementTerms {
    /// Refuses unknown analytics or roles and a retention that is not a
    /// positive number of days, naming the field.
    pub fn validate(&self) -> Result<(), StoreError> {
        check_names("analytics", &self.analytics, &ANALYTICS)?;
        check_names("viewer_roles", &self.viewer_roles, &ROLES)?;
        if let Some(d) = self.retention_days {
            if !(d.is_finite() && d > 0.0 && d <= 36_500.0) {
                return Err(StoreError::Invalid(format!(
                    "agreement term `retention_days` must be a number of days above 0 \
                     (at most 36500), got {d}"
                )));
            }
        }
        Ok(())
    }
}

impl Store {
    /// Registers the cameras' owners and configured agreements (from the
    /// loaded config). Cameras not registered are bound by no agreement.
    pub fn set_camera_agreements(&self, cameras: HashMap<String, CameraAgreement>) {
        let mut v = self.agreements.write();
        v.cameras = cameras;
        v.generation = None;
        v.checked = None;
    }

    /// Bumped by triggers on every change of the run-time terms (also by
    /// other processes).
    pub fn agreement_generation(&self) -> Result<i64, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM change_counter WHERE name = 'agreements'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    /// Every recorded run-time change, by owner.
    pub fn agreement_changes(&self) -> Result<Vec<AgreementChange>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT owner, analytics_json, viewer_roles_json, retention_days,
                        changed_by, changed_at, reason
                 FROM agreement_terms ORDER BY owner",
            )?;
            let rows = st.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<f64>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, String>(6)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (owner, a, v, days, by, at, reason) = row?;
                let list = |s: Option<String>| -> Result<Option<Vec<String>>, StoreError> {
                    Ok(match s {
                        Some(s) => Some(serde_json::from_str(&s)?),
                        None => None,
                    })
                };
                out.push(AgreementChange {
                    owner,
                    terms: AgreementTerms {
                        analytics: list(a)?,
                        viewer_roles: list(v)?,
                        retention_days: days,
                    },
                    changed_by: by,
                    changed_at: at,
                    reason,
                });
            }
            Ok(out)
        })
    }

    /// Records run-time terms for `owner` (replacing earlier ones) with the
    /// audit entry `agreement.change` in the same transaction; `terms` with
    /// every field `None` removes the change (back to the configured
    /// terms). The running engine, retention job and API apply it at their
    /// next look at the change counter.
    pub fn set_agreement_terms(
        &self,
        owner: &str,
        terms: AgreementTerms,
        actor: &str,
        remote: Option<String>,
        reason: &str,
    ) -> Result<(), StoreError> {
        terms.validate()?;
        let reason = reason.trim().to_owned();
        if reason.chars().count() < 5 || reason.len() > 500 {
            return Err(StoreError::Invalid(
                "a change of a data-sharing agreement needs a reason of 5 to 500 characters \
                 (e.g. the owner's letter withdrawing consent)"
                    .into(),
            ));
        }
        if owner.is_empty() || owner.len() > 64 {
            return Err(StoreError::Invalid(
                "owner id must be 1 to 64 characters".into(),
            ));
        }
        let now = self.clock.now().millis();
        let (owner, actor) = (owner.to_owned(), actor.to_owned());
        self.exec("set_agreement_terms", move |c| {
            let previous: Option<(Option<String>, Option<String>, Option<f64>)> = c
                .prepare_cached(
                    "SELECT analytics_json, viewer_roles_json, retention_days
                     FROM agreement_terms WHERE owner = ?1",
                )?
                .query_row([&owner], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .optional()?;
            let cleared = terms == AgreementTerms::default();
            if cleared {
                c.prepare_cached("DELETE FROM agreement_terms WHERE owner = ?1")?
                    .execute([&owner])?;
            } else {
                let j = |v: &Option<Vec<String>>| v.as_ref().map(serde_json::to_string).transpose();
                c.prepare_cached(
                    "INSERT INTO agreement_terms (owner, analytics_json, viewer_roles_json,
                         retention_days, changed_by, changed_at, reason)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (owner) DO UPDATE SET analytics_json = excluded.analytics_json,
                         viewer_roles_json = excluded.viewer_roles_json,
                         retention_days = excluded.retention_days,
                         changed_by = excluded.changed_by, changed_at = excluded.changed_at,
                         reason = excluded.reason",
                )?
                .execute(params![
                    owner,
                    j(&terms.analytics)?,
                    j(&terms.viewer_roles)?,
                    terms.retention_days,
                    actor,
                    now,
                    reason
                ])?;
            }
            insert_audit(
                c,
                now,
                NewAuditEntry {
                    actor: Some(actor),
                    remote,
                    action: "agreement.change".into(),
                    target: Some(format!("owner {owner}")),
                    reason: Some(reason),
                    outcome: "ok".into(),
                    details: serde_json::json!({
                        "terms": if cleared { serde_json::Value::Null } else { serde_json::to_value(&terms)? },
                        "previous": previous.map(|(a, v, d)| serde_json::json!({
                            "analytics": a, "viewer_roles": v, "retention_days": d,
                        })),
                    }),
                },
            )?;
            Ok(())
        })?;
        // This process's own change applies to its next event at once.
        self.agreements.write().checked = None;
        Ok(())
    }

    /// Reloads the run-time terms when the change counter moved. At most
    /// one small read per [`RECHECK`]; a read error keeps the terms already
    /// loaded (logged).
    fn refresh_agreements(&self) {
        {
            let v = self.agreements.read();
            if v.cameras.is_empty() || v.checked.is_some_and(|t| t.elapsed() < RECHECK) {
                return;
            }
        }
        self.agreements.write().checked = Some(Instant::now());
        let generation = match self.agreement_generation() {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the agreement change counter");
                return;
            }
        };
        if self.agreements.read().generation == Some(generation) {
            return;
        }
        match self.agreement_changes() {
            Ok(changes) => {
                let mut v = self.agreements.write();
                v.terms = changes.into_iter().map(|c| (c.owner, c.terms)).collect();
                v.generation = Some(generation);
                tracing::info!(
                    generation,
                    owners = v.terms.len(),
                    "data-sharing agreement terms loaded"
                );
            }
            Err(e) => tracing::warn!(error = %e, "could not load the agreement terms"),
        }
    }

    /// Whether `analytic` may run on `camera` under the terms loaded now
    /// (a camera no agreement binds runs everything its config does).
    fn allowed_now(&self, camera: &str, analytic: &str) -> bool {
        let v = self.agreements.read();
        v.cameras
            .get(camera)
            .is_none_or(|cam| cam.allows(v.terms.get(&cam.owner), analytic))
    }

    /// Whether `analytic` may run on `camera` now, with the latest
    /// run-time terms.
    pub fn analytic_allowed(&self, camera: &str, analytic: &str) -> bool {
        self.refresh_agreements();
        self.allowed_now(camera, analytic)
    }

    /// Drops the events of analytics their camera's agreement no longer
    /// allows (logged per batch).
    pub(crate) fn drop_disallowed_events(&self, events: Vec<base::Event>) -> Vec<base::Event> {
        self.refresh_agreements();
        if self.agreements.read().terms.is_empty() {
            // Only run-time changes can disallow what the validated
            // config runs.
            return events;
        }
        let before = events.len();
        let kept: Vec<base::Event> = events
            .into_iter()
            .filter(|e| analytic_of(&e.kind).is_none_or(|a| self.allowed_now(&e.camera, a)))
            .collect();
        let dropped = before - kept.len();
        if dropped > 0 {
            tracing::debug!(dropped, "events withheld: their analytic is no longer allowed by the camera owner's agreement");
        }
        kept
    }

    /// The roles that may see `camera` now (configured ∩ changed); `None` =
    /// every role.
    pub fn agreement_viewer_roles(&self, camera: &str) -> Option<Vec<String>> {
        self.refresh_agreements();
        let v = self.agreements.read();
        let cam = v.cameras.get(camera)?;
        intersect(
            cam.viewer_roles.as_ref(),
            v.terms
                .get(&cam.owner)
                .and_then(|t| t.viewer_roles.as_ref()),
        )
    }

    /// One retention cap per owner whose run-time terms set a retention,
    /// over its registered cameras (the retention job adds them to the
    /// configured caps at every pass; the shorter cap wins).
    pub fn agreement_retention_caps(&self) -> Vec<crate::RetentionCap> {
        self.refresh_agreements();
        let v = self.agreements.read();
        let mut out = Vec::new();
        for (owner, t) in &v.terms {
            let Some(days) = t.retention_days else {
                continue;
            };
            let mut cameras: Vec<String> = v
                .cameras
                .iter()
                .filter(|(_, c)| &c.owner == owner)
                .map(|(id, _)| id.clone())
                .collect();
            if cameras.is_empty() {
                continue;
            }
            cameras.sort();
            out.push(crate::RetentionCap {
                reason: format!("owner {owner} agreement changed at run time"),
                cameras,
                keep: Duration::from_secs_f64(days * 86_400.0),
            });
        }
        out.sort_by(|a, b| a.reason.cmp(&b.reason));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::{Event, Timestamp};

    fn cams() -> HashMap<String, CameraAgreement> {
        let mut m = HashMap::new();
        m.insert(
            "mall-1".to_string(),
            CameraAgreement {
                owner: "mega-mall".into(),
                analytics: Some(vec!["zones".into(), "lines".into()]),
                viewer_roles: None,
            },
        );
        m
    }

    fn ev(camera: &str, kind: &str, ms: i64) -> Event {
        Event::new(camera, kind, Timestamp(ms))
    }

    /// Withdrawing an analytic binds the same open store at once: events of
    /// it from the owner's camera are no longer stored, other analytics and
    /// other cameras go on; clearing the change restores the configured
    /// terms; the change and its clearing are audited.
    #[test]
    fn withdrawn_analytic_stops_its_events_without_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.set_camera_agreements(cams());
        let stored = |s: &Store, t| {
            s.insert_events(vec![
                ev("mall-1", kinds::ZONE_ENTER, t),
                ev("mall-1", kinds::LINE_CROSS, t),
                ev("police-1", kinds::ZONE_ENTER, t),
            ])
            .unwrap()
            .iter()
            .map(|e| format!("{}/{}", e.camera, e.kind))
            .collect::<Vec<_>>()
        };
        assert_eq!(stored(&s, 1).len(), 3);
        assert!(s.analytic_allowed("mall-1", "zones"));
        let g0 = s.agreement_generation().unwrap();
        let terms = AgreementTerms {
            analytics: Some(vec!["lines".into()]),
            ..Default::default()
        };
        s.set_agreement_terms("mega-mall", terms, "sup", None, "letter 12/2026")
            .unwrap();
        assert!(s.agreement_generation().unwrap() > g0);
        assert_eq!(
            stored(&s, 2),
            vec!["mall-1/line_cross", "police-1/zone_enter"],
            "zones withdrawn on the mall's camera only"
        );
        assert!(!s.analytic_allowed("mall-1", "zones"));
        assert!(s.analytic_allowed("police-1", "zones"));
        // A run-time change cannot grant what the config does not.
        let wider = AgreementTerms {
            analytics: Some(vec!["lines".into(), "faces".into()]),
            ..Default::default()
        };
        s.set_agreement_terms("mega-mall", wider, "sup", None, "letter 13/2026")
            .unwrap();
        assert!(!s.analytic_allowed("mall-1", "faces"));
        // Cleared: back to the configured terms.
        s.set_agreement_terms("mega-mall", Default::default(), "sup", None, "consent back")
            .unwrap();
        assert_eq!(stored(&s, 3).len(), 3);
        let log = s.audit_entries(None, 100).unwrap();
        let changes: Vec<_> = log
            .iter()
            .filter(|e| e.action == "agreement.change")
            .collect();
        assert_eq!(changes.len(), 3);
        assert!(changes
            .iter()
            .all(|e| e.target.as_deref() == Some("owner mega-mall")));
        assert_eq!(s.verify_audit().unwrap().first_bad, None);
        // Bad terms are refused naming the field.
        let bad = AgreementTerms {
            analytics: Some(vec!["telepathy".into()]),
            ..Default::default()
        };
        let e = s
            .set_agreement_terms("mega-mall", bad, "sup", None, "a reason")
            .unwrap_err()
            .to_string();
        assert!(e.contains("analytics") && e.contains("telepathy"), "{e}");
        let e = s
            .set_agreement_terms("mega-mall", Default::default(), "sup", None, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("reason"), "{e}");
    }

    /// A second store handle on the same files (another process, e.g. the
    /// CLI) changes the terms; the first sees it through the counter.
    #[test]
    fn changes_by_another_process_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let serve = Store::open(dir.path()).unwrap();
        serve.set_camera_agreements(cams());
        assert!(serve.analytic_allowed("mall-1", "lines"));
        {
            let cli = Store::open(dir.path()).unwrap();
            let t = AgreementTerms {
                analytics: Some(vec!["zones".into()]),
                viewer_roles: Some(vec!["supervisor".into()]),
                retention_days: Some(3.0),
            };
            cli.set_agreement_terms("mega-mall", t, "cli:ops", None, "letter 14/2026")
                .unwrap();
        }
        // Another process's change is seen within the re-check interval.
        std::thread::sleep(RECHECK + Duration::from_millis(50));
        assert!(!serve.analytic_allowed("mall-1", "lines"));
        assert_eq!(
            serve.agreement_viewer_roles("mall-1"),
            Some(vec!["supervisor".to_string()])
        );
        let caps = serve.agreement_retention_caps();
        assert_eq!(caps.len(), 1);
        assert_eq!(caps[0].cameras, vec!["mall-1".to_string()]);
        assert_eq!(caps[0].keep, Duration::from_secs(3 * 86_400));
    }
}
