//! Run-time changes of a camera owner's data-sharing agreement:
//! `PUT /api/owners/{id}/agreement` narrows the configured terms (analytics
//! allowed, roles that may see the cameras, retention) while the system
//! runs, e.g. when a private business withdraws consent for an analytic.
//!
//! The change is recorded in the store with its audit entry
//! (`agreement.change`, in the same transaction); the running engine, the
//! retention job and this API's camera scope apply it at their next look at
//! the store's `agreements` change counter, with no restart. Terms only
//! narrow what the config file says (widening stays a config change, which
//! is validated against the cameras at load).

use crate::error::{ApiError, ErrorBody};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{AgreementTerms, StoreError};
use utoipa::ToSchema;

/// The terms in force from now on; a field left out (or null) is as
/// configured. All left out: back to the configured terms.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AgreementChangeRequest {
    /// Analytics still allowed (zones, loitering, crowd, lines, abandoned,
    /// faces, plates, offences, fire); intersected with the configured list.
    #[serde(default)]
    pub analytics: Option<Vec<String>>,
    /// Roles that may still see the owner's cameras; intersected with the
    /// configured `viewer_roles`.
    #[serde(default)]
    pub viewer_roles: Option<Vec<String>>,
    /// Longest anything of the owner's cameras is kept, in days (the
    /// shorter of this and the configured caps wins).
    #[serde(default)]
    pub retention_days: Option<f64>,
    /// Why (5–500 characters), e.g. the owner's letter.
    #[schema(example = "letter 12/2026 of Mega Mall: face matching withdrawn")]
    pub reason: String,
}

/// Changes an owner's data-sharing agreement terms now, without a restart.
/// Supervisors and admins.
#[utoipa::path(
    put,
    path = "/api/owners/{id}/agreement",
    tag = "owners",
    params(("id" = String, Path, description = "Owner id (`[[owner]] id`)")),
    request_body = AgreementChangeRequest,
    responses(
        (status = 200, description = "`{owner, terms, cameras, applied: true}`: recorded and audited; the pipeline, retention and camera scope apply it at once"),
        (status = 400, description = "Bad body: unknown analytic or role, bad retention, missing reason", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not change agreements", body = ErrorBody),
        (status = 404, description = "No configured camera has this owner", body = ErrorBody),
    )
)]
pub(crate) async fn change(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let Path(owner) =
        id.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/owners/{id}/agreement"))?;
    let req: AgreementChangeRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("invalid body: {e}"),
            "send {\"analytics\": [\"zones\"], \"reason\": \"why\"} (analytics, viewer_roles, retention_days optional)",
        )
    })?;
    let mut cameras: Vec<String> = s
        .inner
        .camera_scopes
        .get()
        .map(|m| {
            m.iter()
                .filter(|(_, c)| c.owner.as_deref() == Some(owner.as_str()))
                .map(|(id, _)| id.clone())
                .collect()
        })
        .unwrap_or_default();
    if cameras.is_empty() {
        return Err(ApiError::not_found(format!(
            "no configured camera belongs to owner {owner:?}"
        )));
    }
    cameras.sort();
    let terms = AgreementTerms {
        analytics: req.analytics,
        viewer_roles: req.viewer_roles,
        retention_days: req.retention_days,
    };
    let (st, o, t, actor, reason, from) = (
        s.inner.store.clone(),
        owner.clone(),
        terms.clone(),
        user.actor(),
        req.reason,
        remote.text(),
    );
    let r =
        tokio::task::spawn_blocking(move || st.set_agreement_terms(&o, t, &actor, from, &reason))
            .await
            .map_err(|e| ApiError::internal("changing an agreement", e))?;
    match r {
        Ok(()) => Ok(Json(json!({
            "owner": owner,
            "terms": terms,
            "cameras": cameras,
            "applied": true,
        }))),
        Err(StoreError::Invalid(m)) => Err(ApiError::bad_request(
            m,
            "analytics from zones, loitering, crowd, lines, abandoned, faces, plates, offences, fire; roles from viewer, operator, investigator, supervisor, auditor, admin; a reason of 5-500 characters",
        )),
        Err(e) => Err(ApiError::internal("changing an agreement", e)),
    }
}
