//! Configuration views: the zone and line editor of the web app writes the
//! geometry it drew on a snapshot back into the config file.
//!
//! The file stays the single source of truth (it is what `kuzet serve`
//! loaded and what operators keep in version control), so the edit goes
//! into it with comments kept, validated as a whole before it is written
//! (`config::edit`). The running pipeline then gets the edited camera and
//! applies it to its rules at the next frame, keeping the state of what did
//! not change (`analytics::RuleEngine::reconfigure`); the answer says
//! `applied`. Where this process does not run the camera (distributed mode:
//! a worker runs it) the answer says `restart_required`. The stored camera
//! record (what the overlay draws) shows the new geometry at once either way.

use crate::error::{ApiError, ErrorBody};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use config::edit::{EditError, GeometryEdit};
use serde::Deserialize;
use serde_json::{json, Value};
use store::NewAuditEntry;
use utoipa::ToSchema;

/// A zone polygon, normalised to 0..1 of the frame.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ZoneBody {
    /// At least three `[x, y]` points, 0..1 of frame width and height.
    pub polygon: Vec<[f32; 2]>,
}

/// A line's end points, normalised to 0..1 of the frame.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LineBody {
    pub from: [f32; 2],
    pub to: [f32; 2],
}

fn path_of(p: Result<Path<(String, String)>, PathRejection>) -> Result<(String, String), ApiError> {
    let Path((camera, name)) =
        p.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/cameras/{id}/zones/{name}"))?;
    let ok = |s: &str| {
        !s.is_empty()
            && s.len() <= 64
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' '))
    };
    if !ok(&name) {
        return Err(ApiError::bad_request(
            format!("invalid name {name:?}"),
            "zone and line names are 1-64 letters, digits, spaces, '-', '_' or '.'",
        ));
    }
    Ok((camera, name))
}

/// Applies one edit to the config file and records the camera's new
/// configuration in the store. The change is audited first: a change that
/// cannot be recorded is not made.
async fn edit(
    s: &AppState,
    user: &User,
    remote: Remote,
    camera: String,
    name: String,
    change: GeometryEdit,
) -> Result<Json<Value>, ApiError> {
    if !s.may_see_camera(user, &camera) {
        return Err(ApiError::not_found(format!("no camera {camera:?}")));
    }
    s.audit(NewAuditEntry {
        actor: Some(user.actor()),
        remote: remote.text(),
        action: "config.geometry".into(),
        target: Some(format!("{camera}/{name}")),
        reason: None,
        outcome: "ok".into(),
        details: json!({ "change": format!("{change:?}") }),
    })
    .await?;
    let Some(path) = s.inner.config_file.get().cloned() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "this server was started without a config file, so there is nothing to edit",
        )
        .with_hint("start `kuzet serve --config FILE` to edit zones and lines from the web app"));
    };
    let store = s.inner.store.clone();
    let cam = camera.clone();
    let done = tokio::task::spawn_blocking(move || {
        let cfg = config::edit::edit_file(&path, &cam, &name, &change)?;
        let c = cfg
            .cameras
            .iter()
            .find(|c| c.id == cam)
            .ok_or_else(|| EditError::NoCamera(cam.clone()))?;
        let json = serde_json::to_value(c).unwrap_or_default();
        let edited = c.clone();
        store
            .upsert_camera(
                &c.id,
                c.display_name(),
                &base::url::redact_url(&c.url),
                &json,
            )
            .map_err(|e| {
                EditError::Unsupported(format!("saved, but the camera record was not updated: {e}"))
            })?;
        Ok::<_, EditError>((json, edited))
    })
    .await
    .map_err(|e| ApiError::internal("editing the config", e))?;
    match done {
        Ok((camera_json, edited)) => {
            let applied = s.inner.apply_camera.get().is_some_and(|f| f(edited));
            Ok(Json(json!({
                "saved": true,
                "applied": applied,
                "restart_required": !applied,
                "camera": camera_json,
            })))
        }
        Err(e @ (EditError::NoCamera(_) | EditError::NotFound { .. })) => {
            Err(ApiError::not_found(e.to_string()))
        }
        Err(e @ (EditError::Invalid(_) | EditError::Unsupported(_))) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            e.to_string(),
        )),
        Err(e) => Err(ApiError::internal("editing the config", e)),
    }
}

fn body<T>(b: Result<Json<T>, JsonRejection>, hint: &str) -> Result<T, ApiError> {
    b.map(|Json(v)| v)
        .map_err(|e| ApiError::bad_request(e.body_text(), hint))
}

/// Sets (or creates) a zone's polygon in the config file.
#[utoipa::path(
    put,
    path = "/api/cameras/{id}/zones/{name}",
    tag = "config",
    params(("id" = String, Path, description = "Camera id"), ("name" = String, Path, description = "Zone name")),
    request_body = ZoneBody,
    responses(
        (status = 200, description = "Saved: `{\"saved\": true, \"applied\": true, \"restart_required\": false, \"camera\": {…}}` (`applied`: the running pipeline uses it from its next frame)"),
        (status = 400, description = "Malformed body or name", body = ErrorBody),
        (status = 404, description = "No such camera", body = ErrorBody),
        (status = 409, description = "The server has no config file", body = ErrorBody),
        (status = 422, description = "The edited config would be invalid (the message names the key)", body = ErrorBody),
    )
)]
pub(crate) async fn put_zone(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    p: Result<Path<(String, String)>, PathRejection>,
    b: Result<Json<ZoneBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let (camera, name) = path_of(p)?;
    let z = body(b, "send {\"polygon\": [[x, y], …]} with 0..1 coordinates")?;
    edit(
        &s,
        &user,
        remote,
        camera,
        name,
        GeometryEdit::Zone { polygon: z.polygon },
    )
    .await
}

/// Sets (or creates) a counting line in the config file.
#[utoipa::path(
    put,
    path = "/api/cameras/{id}/lines/{name}",
    tag = "config",
    params(("id" = String, Path, description = "Camera id"), ("name" = String, Path, description = "Line name")),
    request_body = LineBody,
    responses(
        (status = 200, description = "Saved: `{\"saved\": true, \"applied\": true, \"restart_required\": false, \"camera\": {…}}` (`applied`: the running pipeline uses it from its next frame)"),
        (status = 400, description = "Malformed body or name", body = ErrorBody),
        (status = 404, description = "No such camera", body = ErrorBody),
        (status = 409, description = "The server has no config file", body = ErrorBody),
        (status = 422, description = "The edited config would be invalid", body = ErrorBody),
    )
)]
pub(crate) async fn put_line(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    p: Result<Path<(String, String)>, PathRejection>,
    b: Result<Json<LineBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let (camera, name) = path_of(p)?;
    let l = body(
        b,
        "send {\"from\": [x, y], \"to\": [x, y]} with 0..1 coordinates",
    )?;
    edit(
        &s,
        &user,
        remote,
        camera,
        name,
        GeometryEdit::Line {
            from: l.from,
            to: l.to,
        },
    )
    .await
}

/// Removes a zone from the config file.
#[utoipa::path(
    delete,
    path = "/api/cameras/{id}/zones/{name}",
    tag = "config",
    params(("id" = String, Path, description = "Camera id"), ("name" = String, Path, description = "Zone name")),
    responses(
        (status = 200, description = "Removed"),
        (status = 404, description = "No such camera or zone", body = ErrorBody),
        (status = 409, description = "The server has no config file", body = ErrorBody),
    )
)]
pub(crate) async fn delete_zone(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (camera, name) = path_of(p)?;
    edit(&s, &user, remote, camera, name, GeometryEdit::RemoveZone).await
}

/// Removes a line from the config file.
#[utoipa::path(
    delete,
    path = "/api/cameras/{id}/lines/{name}",
    tag = "config",
    params(("id" = String, Path, description = "Camera id"), ("name" = String, Path, description = "Line name")),
    responses(
        (status = 200, description = "Removed"),
        (status = 404, description = "No such camera or line", body = ErrorBody),
        (status = 409, description = "The server has no config file", body = ErrorBody),
    )
)]
pub(crate) async fn delete_line(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    p: Result<Path<(String, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let (camera, name) = path_of(p)?;
    edit(&s, &user, remote, camera, name, GeometryEdit::RemoveLine).await
}
