//! The evidence lock: `POST /api/events/{id}/lock` keeps an event, its
//! evidence, the face sightings and plate read it names and its track out of
//! retention for a case; `DELETE` lifts it. Both are audited (`event.lock`,
//! `event.unlock`) with the case reference and reason, allowed or refused.

use crate::error::{ApiError, ErrorBody};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{NewAuditEntry, StoreError};
use utoipa::ToSchema;

/// Why an event is locked.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LockRequest {
    /// The case the event is material of (case number, file reference).
    #[schema(example = "CASE-2026-0117")]
    pub case_ref: String,
    /// Why it must be kept.
    #[schema(example = "evidence in the Abay Ave. robbery investigation")]
    pub reason: String,
}

async fn visible_event(s: &AppState, user: &User, id: i64) -> Result<(), ApiError> {
    let found = s
        .with_data("reading an event", move |st| st.event(id))
        .await?;
    if found.is_some_and(|e| s.may_see_camera(user, &e.camera)) {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no event with id {id}")))
    }
}

#[allow(clippy::too_many_arguments)]
async fn audit(
    s: &AppState,
    user: &User,
    remote: Remote,
    action: &str,
    id: i64,
    reason: Option<String>,
    outcome: &str,
    details: Value,
) -> Result<(), ApiError> {
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: action.into(),
        target: Some(format!("event {id}")),
        reason,
        outcome: outcome.into(),
        details,
    })
    .await
}

/// Locks an event for a case: retention keeps it, its evidence, the face
/// sightings and plate read it names and its track until it is unlocked.
/// Investigators and supervisors.
#[utoipa::path(
    post,
    path = "/api/events/{id}/lock",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    request_body = LockRequest,
    responses(
        (status = 200, description = "The lock", body = crate::docs::EventLock),
        (status = 400, description = "Bad id or body (case_ref and reason are required)", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not lock events", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
        (status = 409, description = "Already locked (unlock first to change the case)", body = ErrorBody),
    )
)]
pub(crate) async fn lock(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = crate::api::event_id(id, "/api/events/{id}/lock")?;
    let req: LockRequest = serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(
            format!("invalid body: {e}"),
            "send {\"case_ref\": \"CASE-2026-0117\", \"reason\": \"why it must be kept\"}",
        )
    })?;
    visible_event(&s, &user, id).await?;
    let actor = user.name.clone();
    let (case_ref, reason) = (req.case_ref.clone(), req.reason.clone());
    let st = s.data();
    let r = tokio::task::spawn_blocking(move || st.lock_event(id, &case_ref, &reason, &actor))
        .await
        .map_err(|e| ApiError::internal("locking an event", e))?;
    let details = json!({ "case_ref": req.case_ref });
    match r {
        Ok(lock) => {
            audit(
                &s,
                &user,
                remote,
                "event.lock",
                id,
                Some(req.reason),
                "ok",
                details,
            )
            .await?;
            Ok(Json(json!(lock)))
        }
        Err(StoreError::Refused(m)) => {
            audit(
                &s,
                &user,
                remote,
                "event.lock",
                id,
                Some(req.reason),
                "refused",
                details,
            )
            .await?;
            Err(ApiError::new(StatusCode::CONFLICT, m))
        }
        Err(StoreError::Invalid(m)) => Err(ApiError::bad_request(
            m,
            "send {\"case_ref\": \"…\", \"reason\": \"…\"}, both non-empty",
        )),
        Err(e) => Err(ApiError::internal("locking an event", e)),
    }
}

/// Lifts an event's lock: from now on retention treats it like any other.
/// Supervisors only.
#[utoipa::path(
    delete,
    path = "/api/events/{id}/lock",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    responses(
        (status = 200, description = "The lock that was lifted", body = crate::docs::EventLock),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only supervisors unlock", body = ErrorBody),
        (status = 404, description = "No such event, or it is not locked", body = ErrorBody),
    )
)]
pub(crate) async fn unlock(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = crate::api::event_id(id, "/api/events/{id}/lock")?;
    visible_event(&s, &user, id).await?;
    let old = s
        .with_data("unlocking an event", move |st| st.unlock_event(id))
        .await?;
    match old {
        Some(lock) => {
            audit(
                &s,
                &user,
                remote,
                "event.unlock",
                id,
                None,
                "ok",
                json!({ "case_ref": lock.case_ref, "locked_by": lock.locked_by }),
            )
            .await?;
            Ok(Json(json!(lock)))
        }
        None => Err(ApiError::not_found(format!("event {id} is not locked"))),
    }
}
