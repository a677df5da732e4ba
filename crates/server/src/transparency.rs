//! `/api/transparency`: what this installation does with biometrics and how
//! often, for the public (no login): aggregate counts from the audit log and
//! the store, and a register of modules with their risk class in the spirit
//! of the EU AI Act. Only totals leave: no names, cameras or times.

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::State;
use axum::Json;
use base::event::kinds;
use base::Timestamp;
use serde::Serialize;
use serde_json::{json, Value};

/// Cameras used under one owner's data-sharing agreement, as the public
/// report shows them: the kind of owner and the terms, not its name or the
/// agreement's reference (which could name a private business).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CameraSharing {
    /// `public_agency`, `private_business` or `other`.
    pub owner_kind: String,
    pub cameras: usize,
    /// Analytics the agreement allows.
    pub analytics: Vec<String>,
    /// Roles the cameras are shared with; `None` = every role.
    pub viewer_roles: Option<Vec<String>>,
    pub retention_days: Option<f64>,
    pub valid_until: Option<String>,
}

/// One entry per owner with an agreement (owners without one are the
/// organisation's own or unrestricted, counted in `cameras_own`).
pub fn camera_sharing(cfg: &config::Config) -> Vec<CameraSharing> {
    cfg.owners
        .iter()
        .filter_map(|o| {
            let a = o.agreement.as_ref()?;
            let kind = serde_json::to_value(o.kind)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            Some(CameraSharing {
                owner_kind: kind,
                cameras: cfg
                    .cameras
                    .iter()
                    .filter(|c| c.owner.as_deref() == Some(o.id.as_str()))
                    .count(),
                analytics: a.analytics.clone(),
                viewer_roles: a.viewer_roles.clone(),
                retention_days: a.retention_days,
                valid_until: a.valid_until.clone(),
            })
        })
        .collect()
}

/// The module register: what each analytic does, its risk class and why,
/// and the safeguards in place. Kept with the code so it changes with it.
const REGISTER: &[(&str, &str, &str, &str)] = &[
    (
        "faces.live",
        "Real-time remote biometric identification against watchlists",
        "prohibited except for law enforcement (AI Act art. 5(1)(h)); high-risk",
        "off by default; only with [organisation] law_enforcement; investigator/supervisor roles; two-person confirmation of matches; audited; expiring, scoped watchlist entries",
    ),
    (
        "faces.search",
        "Retrospective face search in stored sightings",
        "high-risk (annex III 1(a))",
        "typed reason required and audited; unmatched sightings deleted after 72 h by default",
    ),
    (
        "plates",
        "Licence-plate reading and hotlist matching",
        "limited risk; personal data (GDPR-style retention)",
        "plate reads deleted after 30 days by default; operator roles and above",
    ),
    (
        "offences",
        "Automatic traffic-offence records with evidence",
        "limited risk; decisions need a human review",
        "every record carries its measured values and calibration; operators confirm or reject",
    ),
    (
        "crowds",
        "People counts and density per zone",
        "minimal risk: counts, no identification",
        "no biometric processing",
    ),
    (
        "abandoned_objects",
        "Unattended bags and unknown static objects",
        "minimal risk",
        "alerts reviewed by operators",
    ),
    (
        "fire",
        "Fire and smoke detection and location",
        "minimal risk",
        "no personal data",
    ),
];

/// Aggregate figures and the module register.
#[utoipa::path(
    get,
    path = "/api/transparency",
    tag = "system",
    responses(
        (status = 200, description = "`{organisation, biometrics_enabled, counts: {face_searches, face_identifications, lost_child_searches, watchlist_enrolments, watchlist_removals, face_matches, face_matches_confirmed, face_matches_rejected_as_false, face_matches_pending, refused_requests, failed_logins, authorisations, authorisations_approved, authorisations_revoked, authorisations_lapsed_and_purged, exports, dispatches}, camera_sharing: [{owner_kind, cameras, analytics, viewer_roles, retention_days, valid_until}], register: [{module, purpose, risk_class, safeguards}]}`"),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn transparency(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let audit = s
        .with_store("counting for the transparency report", |st| {
            st.audit_counts()
        })
        .await?;
    // Events and their reviews are in the data plane (PostgreSQL with
    // `serve --database`), the API's audit log in the SQLite store.
    let (counts, faces) = s
        .with_data("counting for the transparency report", |st| {
            let all = (Timestamp::from_millis(0), Timestamp::from_millis(i64::MAX));
            Ok((
                st.counts()?,
                st.review_counts(all.0, all.1, Some(kinds::FACE_MATCH), None)?,
            ))
        })
        .await?;
    let audited = |action: &str, outcome: Option<&str>| -> u64 {
        audit
            .iter()
            .filter(|(a, o, _)| a == action && outcome.is_none_or(|x| x == o))
            .map(|(_, _, n)| n)
            .sum()
    };
    let register: Vec<Value> = REGISTER
        .iter()
        .map(|(module, purpose, class, safeguards)| {
            json!({ "module": module, "purpose": purpose, "risk_class": class, "safeguards": safeguards })
        })
        .collect();
    Ok(Json(json!({
        "law_enforcement": s.inner.law_enforcement.get().copied().unwrap_or(false),
        "biometrics_enabled": s.inner.faces.get().is_some(),
        "counts": {
            "face_searches": audited("faces.search", Some("ok")),
            "face_identifications": audited("faces.identify", Some("ok")),
            "lost_child_searches": audited("faces.lost", Some("ok")),
            "watchlist_enrolments": audited("watchlist.enrol", Some("ok")),
            "watchlist_removals": audited("watchlist.remove", Some("ok")),
            "face_matches": counts.by_kind.get(kinds::FACE_MATCH).copied().unwrap_or(0),
            "face_matches_confirmed": faces.confirmed,
            "face_matches_rejected_as_false": faces.rejected,
            "face_matches_pending": faces.pending_confirmation,
            "refused_requests": audited("http.unauthenticated", None) + audited("http.forbidden", None),
            "failed_logins": audited("auth.login", Some("failed")),
            // From the audit log, like the searches: requested (urgent ones
            // included), approved, revoked, and urgent ones stopped unapproved
            // with their results purged.
            "authorisations": audited("authorisation.request", Some("ok")),
            "authorisations_approved": audited("authorisation.approve", Some("ok")),
            "authorisations_revoked": audited("authorisation.revoke", Some("ok")),
            "authorisations_lapsed_and_purged": audited("authorisation.lapse", Some("ok")),
            "exports": audited("event.export", Some("ok")),
            "dispatches": audited("event.dispatch", Some("ok")),
        },
        "camera_sharing": s.inner.camera_sharing.get().cloned().unwrap_or_default(),
        "register": register,
    })))
}
