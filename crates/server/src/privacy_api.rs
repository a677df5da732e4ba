//! Un-masking evidence: the one way back to bystanders' faces.
//!
//! Stored evidence has every head that is not a confirmed match masked
//! irreversibly; `GET /api/evidence/{hash}` only ever serves that. The
//! original is kept AES-256-GCM sealed in the store and handed out here, to
//! investigators and supervisors (the policy table), with a typed reason,
//! and only after the audit entry (who, which file, why) is committed: no
//! audit entry, no image. Refusals (no reason) and failures (no original,
//! a tampered row, the wrong key) are audited too.

use crate::error::{ApiError, ErrorBody};
use crate::faces_api::{MAX_REASON_CHARS, MIN_REASON_CHARS};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::body::Bytes;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use serde_json::{json, Value};
use store::{is_valid_hash, NewAuditEntry, StoreError};
use utoipa::ToSchema;

/// Why the original is needed.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UnmaskRequest {
    /// Case number and why the unmasked image is needed (5–500 characters);
    /// kept in the audit log.
    pub reason: String,
}

/// The trimmed `reason` of a JSON body holding one (un-mask, export of
/// originals), or why it is refused: the text goes into the audit entry of
/// the refusal and the 400.
pub(crate) fn body_reason<T: serde::de::DeserializeOwned>(
    body: &[u8],
    reason: impl FnOnce(T) -> String,
) -> Result<String, String> {
    let r = serde_json::from_slice::<T>(body).map_err(|e| format!("invalid body: {e}"))?;
    let t = reason(r).trim().to_string();
    if (MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&t.chars().count()) {
        Ok(t)
    } else {
        Err(format!(
            "`reason` must be {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters"
        ))
    }
}

async fn audit(
    s: &AppState,
    user: &User,
    remote: &Remote,
    hash: &str,
    reason: Option<String>,
    outcome: &str,
    details: Value,
) -> Result<(), ApiError> {
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: "evidence.unmask".into(),
        target: Some(format!("evidence {hash}")),
        reason,
        outcome: outcome.into(),
        details,
    })
    .await
}

/// The unmasked original of a masked evidence JPEG, for an investigation.
/// Audited (`evidence.unmask`, with the reason) before the image is sent.
#[utoipa::path(
    post,
    path = "/api/evidence/{hash}/unmask",
    tag = "events",
    params(
        ("hash" = String, Path, description = "SHA-256 of the masked JPEG (as served by /api/evidence/{hash})", pattern = "^[0-9a-f]{64}(\\.jpg)?$"),
    ),
    request_body = UnmaskRequest,
    responses(
        (status = 200, description = "The original JPEG, not cacheable", content_type = "image/jpeg", body = crate::docs::Jpeg),
        (status = 400, description = "Invalid hash, or no or too short a reason (the refusal is audited)", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "Only investigators and supervisors may un-mask", body = ErrorBody),
        (status = 404, description = "No such evidence visible to this user, or nothing was masked in it", body = ErrorBody),
        (status = 500, description = "The sealed original could not be opened (wrong key, or modified: see the error)", body = ErrorBody),
    )
)]
pub(crate) async fn unmask(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    hash: Result<Path<String>, PathRejection>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Path(raw) =
        hash.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/evidence/{hash}/unmask"))?;
    let hash = raw.strip_suffix(".jpg").unwrap_or(&raw).to_string();
    if !is_valid_hash(&hash) {
        return Err(ApiError::bad_request(
            "invalid evidence hash",
            "an evidence hash is 64 lowercase hex digits (SHA-256), as in an event's `evidence` field",
        ));
    }
    let hint = "send {\"reason\": \"case 42/2026: identify the witness at the gate\"}; \
                the reason is kept in the audit log";
    let reason = body_reason::<UnmaskRequest>(&body, |r| r.reason);
    let reason = match reason {
        Ok(r) => r,
        Err(e) => {
            audit(
                &s,
                &user,
                &remote,
                &hash,
                None,
                "refused",
                json!({ "error": e }),
            )
            .await?;
            return Err(ApiError::bad_request(e, hint));
        }
    };
    let lookup = hash.clone();
    let visible = s.visible_cameras(&user);
    let elsewhere = s.data_evidence_cameras(&hash, visible.is_some()).await?;
    let found = s
        .with_store("reading a sealed original", move |st| {
            if st.evidence_path(&lookup).is_none() {
                return Ok::<_, StoreError>(None);
            }
            if let Some(v) = &visible {
                let cams = st.evidence_cameras(&lookup)?;
                if !cams.iter().chain(&elsewhere).any(|c| v.contains(c)) {
                    return Ok(None);
                }
            }
            Ok(Some(st.evidence_original(&lookup)))
        })
        .await?;
    let original = match found {
        None => {
            audit(
                &s,
                &user,
                &remote,
                &hash,
                Some(reason),
                "not_found",
                Value::Null,
            )
            .await?;
            return Err(ApiError::not_found(format!("no evidence with hash {hash}")));
        }
        Some(Ok(None)) => {
            audit(
                &s,
                &user,
                &remote,
                &hash,
                Some(reason),
                "not_found",
                json!({ "error": "no sealed original" }),
            )
            .await?;
            return Err(ApiError::not_found(format!(
                "evidence {hash} has no masked original: nothing was masked in it, or it was \
                 stored without a sealing key"
            ))
            .with_hint("GET /api/evidence/{hash} serves it as stored"));
        }
        Some(Err(e)) => {
            tracing::error!(hash, error = %e, "sealed evidence original could not be opened");
            audit(
                &s,
                &user,
                &remote,
                &hash,
                Some(reason),
                "failed",
                json!({ "error": e.to_string() }),
            )
            .await?;
            return Err(ApiError::internal("opening a sealed original", e));
        }
        Some(Ok(Some(bytes))) => bytes,
    };
    audit(
        &s,
        &user,
        &remote,
        &hash,
        Some(reason),
        "ok",
        json!({ "bytes": original.len() }),
    )
    .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            // Each view is a separate, audited act: never from a cache.
            (header::CACHE_CONTROL, "no-store"),
        ],
        original,
    )
        .into_response())
}
