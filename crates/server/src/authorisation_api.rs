//! Legal authorisations over the API: investigators and supervisors request
//! them, a supervisor other than the requester approves, supervisors revoke,
//! auditors read. The rules (four eyes, urgent lapse, list classes) are the
//! store's; every change is audited by the store in the same transaction.
//!
//! These are biometric routes: with face functions off they answer 403 like
//! the rest (nothing to authorise).

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use auth::User;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base::Timestamp;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{Authorisation, NewAuthorisation, StoreError};
use utoipa::ToSchema;

/// A request for an authorisation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AuthorisationRequest {
    /// `live`, `retrospective` or `both`.
    #[schema(example = "live")]
    pub purpose: String,
    /// The law and article the decision rests on.
    pub legal_ground: String,
    /// Who issued it (court, prosecutor, …).
    pub authority: String,
    /// The decision's reference number.
    pub decision_ref: String,
    /// Cameras or camera groups, comma-separated.
    #[schema(example = "gate,stadium")]
    pub cameras: String,
    /// Watchlist names.
    pub watchlists: Vec<String>,
    /// `missing` (missing-person lists) or `criminal` (every other list).
    pub list_class: String,
    /// Start of the footage window (RFC 3339 or epoch ms).
    pub window_start: Option<String>,
    /// End of the footage window.
    pub window_end: Option<String>,
    /// Expiry (RFC 3339 or epoch ms).
    pub expires: String,
    /// Take effect without approval; stopped and its results purged unless
    /// approved within 24 h (live) / 48 h (retrospective only).
    #[serde(default)]
    pub urgent: bool,
}

/// Why an authorisation is revoked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    pub reason: String,
}

fn time(name: &str, v: &str) -> Result<Timestamp, ApiError> {
    Timestamp::parse(v).ok_or_else(|| {
        ApiError::bad_request(
            format!("invalid `{name}`: {v:?}"),
            "use RFC 3339 (2026-11-22T10:00:00Z) or epoch milliseconds",
        )
    })
}

/// The record with its status now, as the API shows it.
pub(crate) fn view(a: &Authorisation, now: Timestamp) -> Value {
    let mut v = json!(a);
    v["status"] = json!(a.status(now));
    v["urgent_deadline"] = json!(a.urgent_deadline());
    v
}

/// Runs a store call off the async workers: refusals are 409, bad input 400.
async fn run<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&store::Store) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    s.with_store_rules(
        "authorisations",
        "see GET /api/openapi.json for the fields",
        f,
    )
    .await
}

fn auth_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(raw) =
        id.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/authorisations/{id}/…"))?;
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(
            format!("invalid authorisation id {raw:?}"),
            "ids are positive integers, as in GET /api/authorisations",
        )),
    }
}

/// Every authorisation with its status, newest first. Overdue urgent ones
/// are lapsed (and their results purged) first.
#[utoipa::path(
    get,
    path = "/api/authorisations",
    tag = "faces",
    responses(
        (status = 200, description = "`{\"authorisations\": [{id, purpose, legal_ground, authority, decision_ref, cameras, watchlists, list_class, window_start, window_end, expires, urgent, requested_by, requested, approved_by, approved, revoked_by, revoked, revoke_reason, lapsed, purge, status, urgent_deadline}…]}`"),
        (status = 403, description = "Face functions are disabled, or the role may not read them", body = ErrorBody),
    )
)]
pub(crate) async fn list(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    crate::faces_api::face_api(&s)?;
    let (all, now) = run(&s, |st| {
        st.lapse_overdue_authorisations()?;
        Ok((st.authorisations()?, st.clock().now()))
    })
    .await?;
    let v: Vec<Value> = all.iter().map(|a| view(a, now)).collect();
    Ok(Json(json!({ "authorisations": v })))
}

/// Records a requested authorisation by the logged-in user.
#[utoipa::path(
    post,
    path = "/api/authorisations",
    tag = "faces",
    request_body = AuthorisationRequest,
    responses(
        (status = 200, description = "The recorded authorisation with its status"),
        (status = 400, description = "Malformed body, unknown camera, expiry in the past", body = ErrorBody),
        (status = 403, description = "Face functions are disabled, the role may not request, or a camera is outside the user's groups", body = ErrorBody),
        (status = 409, description = "A named watchlist is of the other list class (missing-person and criminal lists never share an authorisation)", body = ErrorBody),
    )
)]
pub(crate) async fn request(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    body: Result<Json<AuthorisationRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let api = crate::faces_api::face_api(&s)?;
    let Json(r) = body.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "send JSON {\"purpose\", \"legal_ground\", \"authority\", \"decision_ref\", \"cameras\", \"watchlists\", \"list_class\", \"expires\", \"urgent\"}",
        )
    })?;
    let cameras = (api.resolve_cameras)(&r.cameras)
        .map_err(|e| ApiError::bad_request(e, "name configured camera ids or groups"))?;
    if let Some(v) = s.visible_cameras(&user) {
        if cameras.iter().any(|c| !v.contains(c)) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "some of these cameras are not in your camera groups",
            ));
        }
    }
    let bad = |e: StoreError| ApiError::bad_request(e.to_string(), "see the field's description");
    let new = NewAuthorisation {
        purpose: r.purpose.parse().map_err(bad)?,
        legal_ground: r.legal_ground,
        authority: r.authority,
        decision_ref: r.decision_ref,
        scope_text: r.cameras,
        cameras,
        watchlists: r.watchlists,
        list_class: r.list_class.parse().map_err(bad)?,
        window_start: r
            .window_start
            .as_deref()
            .map(|v| time("window_start", v))
            .transpose()?,
        window_end: r
            .window_end
            .as_deref()
            .map(|v| time("window_end", v))
            .transpose()?,
        expires: time("expires", &r.expires)?,
        urgent: r.urgent,
        requested_by: user.name.clone(),
    };
    let (a, now) = run(&s, move |st| {
        Ok((st.request_authorisation(new)?, st.clock().now()))
    })
    .await?;
    Ok(Json(view(&a, now)))
}

/// Approves an authorisation (a supervisor other than its requester).
#[utoipa::path(
    post,
    path = "/api/authorisations/{id}/approve",
    tag = "faces",
    params(("id" = i64, Path, description = "Authorisation id", minimum = 1)),
    responses(
        (status = 200, description = "The approved authorisation"),
        (status = 403, description = "Only supervisors approve", body = ErrorBody),
        (status = 409, description = "Unknown, already approved, revoked, lapsed or expired, or the approver requested it", body = ErrorBody),
    )
)]
pub(crate) async fn approve(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    crate::faces_api::face_api(&s)?;
    let id = auth_id(id)?;
    let by = user.name.clone();
    let (a, now) = run(&s, move |st| {
        Ok((st.approve_authorisation(id, &by)?, st.clock().now()))
    })
    .await?;
    Ok(Json(view(&a, now)))
}

/// Revokes an authorisation; it stops taking effect at once.
#[utoipa::path(
    post,
    path = "/api/authorisations/{id}/revoke",
    tag = "faces",
    params(("id" = i64, Path, description = "Authorisation id", minimum = 1)),
    request_body = RevokeRequest,
    responses(
        (status = 200, description = "The revoked authorisation"),
        (status = 400, description = "No reason", body = ErrorBody),
        (status = 403, description = "Only supervisors revoke", body = ErrorBody),
        (status = 409, description = "Unknown or already revoked", body = ErrorBody),
    )
)]
pub(crate) async fn revoke(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<RevokeRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    crate::faces_api::face_api(&s)?;
    let id = auth_id(id)?;
    let Json(r) =
        body.map_err(|e| ApiError::bad_request(e.body_text(), "send JSON {\"reason\": \"why\"}"))?;
    let by = user.name.clone();
    let (a, now) = run(&s, move |st| {
        Ok((
            st.revoke_authorisation(id, &by, &r.reason)?,
            st.clock().now(),
        ))
    })
    .await?;
    Ok(Json(view(&a, now)))
}
