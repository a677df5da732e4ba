//! Releasing an event outside the system: exporting its evidence package
//! and dispatching it (to a patrol, a partner agency).
//!
//! Both are refused for a biometric match until two different users have
//! confirmed it (the two-person rule, EU AI Act Art. 14(5)), and for any
//! event rejected as a false alarm; the rule is the store's
//! ([`store::release_check`]), so the API, the web app and any later
//! client judge it the same way. Every export and dispatch, allowed or
//! refused, is audited (`event.export`, `event.dispatch`) before the answer
//! goes out; no audit entry, no package.
//!
//! A package carries the stored, masked files. Investigators and
//! supervisors may ask for the un-masked originals instead
//! (`POST /api/events/{id}/export/originals` with a reason): the same rules,
//! plus the reason and the list of un-masked files in the audit entry.

use crate::api::EventJson;
use crate::error::{ApiError, ErrorBody};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{NewAuditEntry, ReviewAction, StoreError};
use utoipa::ToSchema;

/// Format tag of an exported package.
pub const PACKAGE_FORMAT: &str = "kuzet-evidence-package/1";

/// Most evidence files one package carries (a traffic offence has ~12).
const MAX_FILES: usize = 64;

fn event_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    let Path(raw) =
        id.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/events/{id}/…"))?;
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(
            format!("invalid event id {raw:?}"),
            "event ids are positive integers, as in the `id` field of /api/events",
        )),
    }
}

async fn audit(
    s: &AppState,
    user: &User,
    remote: Remote,
    action: &str,
    id: i64,
    outcome: &str,
    details: Value,
) -> Result<(), ApiError> {
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: action.into(),
        target: Some(format!("event {id}")),
        reason: None,
        outcome: outcome.into(),
        details,
    })
    .await
}

/// Every evidence hash an event refers to: its own evidence and any hash in
/// its details (crops, frames of an offence package, the owner of an
/// abandoned object), in first-seen order.
fn evidence_hashes(e: &base::Event) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::String(s) if store::is_valid_hash(s) && !out.contains(s) => {
                out.push(s.clone());
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    let mut out: Vec<String> = e.evidence.iter().cloned().collect();
    walk(&e.details, &mut out);
    out.truncate(MAX_FILES);
    out
}

/// An event's evidence package as one JSON document: the event, its review
/// state and history, and every evidence file it refers to (base64, named
/// by its SHA-256 so the receiver can check each file).
#[utoipa::path(
    get,
    path = "/api/events/{id}/export",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    responses(
        (status = 200, description = "`{\"format\": \"kuzet-evidence-package/1\", \"exported\", \"exported_by\", \"event\", \"review\": {\"state\", \"history\"}, \"files\": [{\"hash\", \"content_type\", \"bytes\", \"data_base64\"}…], \"missing\": [hash…]}`"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not export", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
        (status = 409, description = "Two-person rule not met (biometric match), or the event was rejected", body = ErrorBody),
    )
)]
pub(crate) async fn export(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id)?;
    package(&s, &user, remote, id, None).await
}

/// Why the un-masked originals must leave the system.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExportOriginalsRequest {
    /// Case number and why bystanders' faces and plates must be in the
    /// package (5–500 characters); kept in the audit log.
    pub reason: String,
}

/// The event's evidence package with the **un-masked originals** of its
/// masked files (bystanders' heads and plates visible), for a case that
/// needs them. Investigators and supervisors only (other roles 403,
/// audited), a typed reason, the same two-person rule as any export, and
/// audited (`event.export_originals`: reason, which files were un-masked)
/// before the package is sent.
#[utoipa::path(
    post,
    path = "/api/events/{id}/export/originals",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    request_body = ExportOriginalsRequest,
    responses(
        (status = 200, description = "As `GET /api/events/{id}/export`, with `\"originals\": true`; a file un-masked here has `\"original\": true`, `hash` = SHA-256 of the original and `masked_hash` = the stored (masked) file it replaces. Not cacheable."),
        (status = 400, description = "No or too short a reason (the refusal is audited)", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only investigators and supervisors may export originals", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
        (status = 409, description = "Two-person rule not met (biometric match), or the event was rejected", body = ErrorBody),
        (status = 500, description = "A sealed original could not be opened (wrong key, or modified: see the error); audited", body = ErrorBody),
    )
)]
pub(crate) async fn export_originals(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let id = event_id(id)?;
    let reason = crate::privacy_api::body_reason::<ExportOriginalsRequest>(&body, |r| r.reason);
    let reason = match reason {
        Ok(r) => r,
        Err(e) => {
            s.audit(NewAuditEntry {
                actor: Some(user.actor()),
                remote: remote.text(),
                action: "event.export_originals".into(),
                target: Some(format!("event {id}")),
                reason: None,
                outcome: "refused".into(),
                details: json!({ "error": e }),
            })
            .await?;
            return Err(ApiError::bad_request(
                e,
                "send {\"reason\": \"case 42/2026: the court asked for the unredacted frames\"}; \
                 the reason is kept in the audit log",
            ));
        }
    };
    let Json(pkg) = package(&s, &user, remote, id, Some(reason)).await?;
    // Each release of originals is a separate, audited act: never cached.
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(pkg)).into_response())
}

/// Builds (and audits) the package of event `id`: the stored files, or with
/// `originals` (the reason) the sealed originals of the masked ones.
async fn package(
    s: &AppState,
    user: &User,
    remote: Remote,
    id: i64,
    originals: Option<String>,
) -> Result<Json<Value>, ApiError> {
    let action = match originals {
        Some(_) => "event.export_originals",
        None => "event.export",
    };
    let entry = |outcome: &str, details: Value| NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: action.into(),
        target: Some(format!("event {id}")),
        reason: originals.clone(),
        outcome: outcome.into(),
        details,
    };
    let found = s
        .with_data("reading an event for export", move |st| {
            let Some(e) = st.event(id)? else {
                return Ok::<_, StoreError>(None);
            };
            let state = st.review_state(id)?;
            Ok(Some((e, state, st.review_history(id)?)))
        })
        .await?;
    let Some((event, Some(state), history)) =
        found.filter(|(e, _, _)| s.may_see_camera(user, &e.camera))
    else {
        if originals.is_some() {
            s.audit(entry("not_found", Value::Null)).await?;
        }
        return Err(ApiError::not_found(format!("no event with id {id}")));
    };
    if let Err(e) = store::release_check(&state, "exported") {
        s.audit(entry("refused", json!({ "error": e.to_string() })))
            .await?;
        return Err(ApiError::new(StatusCode::CONFLICT, e.to_string()).with_hint(
            "a second user must confirm the match in the review panel before it leaves the system",
        ));
    }
    let hashes = evidence_hashes(&event);
    let st = s.inner.store.clone();
    let blobs = s.inner.blobs.get().cloned();
    let want_originals = originals.is_some();
    let built = tokio::task::spawn_blocking(move || {
        let mut files = Vec::new();
        let mut missing = Vec::new();
        let mut unmasked = Vec::new();
        for h in hashes {
            // Sealed face crops leave decrypted: an export is the
            // two-person-confirmed release of exactly this evidence.
            let bytes = match AppState::evidence_bytes_blocking(&st, blobs.as_ref(), &h) {
                Ok(Some(b)) => b,
                // Purged by retention meanwhile: say so rather than fail.
                _ => {
                    missing.push(h);
                    continue;
                }
            };
            let original = if want_originals {
                // A file with nothing masked has no original: it goes as is.
                st.evidence_original(&h)
                    .map_err(|e| format!("evidence {h}: {e}"))?
            } else {
                None
            };
            let b64 = base64::engine::general_purpose::STANDARD;
            files.push(match original {
                Some(o) => {
                    unmasked.push(h.clone());
                    json!({
                        "hash": store::sha256_hex(&o),
                        "masked_hash": h,
                        "original": true,
                        "content_type": "image/jpeg",
                        "bytes": o.len(),
                        "data_base64": b64.encode(&o),
                    })
                }
                None => json!({
                    "hash": h,
                    "content_type": "image/jpeg",
                    "bytes": bytes.len(),
                    "data_base64": b64.encode(&bytes),
                }),
            });
        }
        Ok::<_, String>((files, missing, unmasked))
    })
    .await
    .map_err(|e| ApiError::internal("reading evidence for export", e))?;
    let (files, missing, unmasked) = match built {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(event = id, error = %e, "a sealed original could not be opened for export");
            s.audit(entry("failed", json!({ "error": e }))).await?;
            return Err(ApiError::internal(
                "opening a sealed original for export",
                e,
            ));
        }
    };
    let total: u64 = files.iter().filter_map(|f| f["bytes"].as_u64()).sum();
    let mut details = json!({ "files": files.len(), "bytes": total, "missing": missing.len() });
    if want_originals {
        details["unmasked"] = json!(unmasked);
    }
    s.audit(entry("ok", details)).await?;
    let mut pkg = json!({
        "format": PACKAGE_FORMAT,
        "exported": s.inner.store.clock().now(),
        "exported_by": user.name,
        "event": EventJson::new(&event),
        "review": { "state": state, "history": history },
        "files": files,
        "missing": missing,
    });
    if want_originals {
        pkg["originals"] = true.into();
    }
    Ok(Json(pkg))
}

/// Where an event is dispatched to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DispatchRequest {
    /// Unit, agency or note (kept in the review history).
    pub note: Option<String>,
}

/// Records that the event was dispatched, by the logged-in user.
#[utoipa::path(
    post,
    path = "/api/events/{id}/dispatch",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    request_body = DispatchRequest,
    responses(
        (status = 200, description = "The review state after the dispatch (unchanged status)"),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not dispatch", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
        (status = 409, description = "Two-person rule not met (biometric match), or the event was rejected", body = ErrorBody),
    )
)]
pub(crate) async fn dispatch(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    id: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id)?;
    // The body is optional: nothing, or {"note": "…"}.
    let req: DispatchRequest = if body.iter().all(u8::is_ascii_whitespace) {
        DispatchRequest::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(
                format!("invalid body: {e}"),
                "send {\"note\": \"unit 7\"} or no body",
            )
        })?
    };
    let found = s
        .with_data("reading an event", move |st| st.event(id))
        .await?;
    if !found.is_some_and(|e| s.may_see_camera(&user, &e.camera)) {
        return Err(ApiError::not_found(format!("no event with id {id}")));
    }
    let actor = user.name.clone();
    let note = req.note.clone();
    let st = s.data();
    let r = tokio::task::spawn_blocking(move || {
        st.review(id, &actor, ReviewAction::Dispatch, None, note.as_deref())
    })
    .await
    .map_err(|e| ApiError::internal("dispatching an event", e))?;
    match r {
        Ok(state) => {
            audit(
                &s,
                &user,
                remote,
                "event.dispatch",
                id,
                "ok",
                json!({ "note": req.note }),
            )
            .await?;
            Ok(Json(json!(state)))
        }
        Err(StoreError::Refused(m)) => {
            audit(
                &s,
                &user,
                remote,
                "event.dispatch",
                id,
                "refused",
                json!({ "error": m }),
            )
            .await?;
            Err(ApiError::new(StatusCode::CONFLICT, m))
        }
        Err(StoreError::Invalid(m)) => Err(ApiError::bad_request(m, "send {\"note\": \"…\"}")),
        Err(e) => Err(ApiError::internal("dispatching an event", e)),
    }
}
