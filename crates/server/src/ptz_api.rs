//! Position reports of panning fire cameras (`[camera.fire] ptz = true`).
//!
//! A fire tower's PTZ camera patrols the horizon, so the bearing of a plume
//! it sees depends on where it pointed when the frame was taken. What drives
//! or polls the camera (a patrol controller, a bridge from its ONVIF PTZ
//! status) reports each position here; the running pipeline uses the latest
//! report at or before a frame's time (`pipeline::PtzReports`). Reports are
//! telemetry, not configuration: nothing is written to the config file, and
//! they are not audited one by one (a patrol reports every few seconds).
//! Only cameras this process runs take reports; the bus does not carry them
//! to `kuzet worker`s yet (docs/fire.md).

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
use std::sync::Arc;
use utoipa::ToSchema;

/// Records a camera's reported position: `(camera, azimuth_deg, hfov_deg,
/// at)` → `Ok(true)` applied, `Ok(false)` when this process does not run
/// the camera, `Err(reason)` when the report or the camera cannot take it.
pub type PtzReportFn =
    Arc<dyn Fn(&str, f64, Option<f64>, Timestamp) -> Result<bool, String> + Send + Sync>;

/// Where the camera points.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PtzBody {
    /// Compass azimuth of the image centre, degrees clockwise from true north.
    pub azimuth_deg: f64,
    /// Horizontal field of view, degrees (0..180), when the camera zooms.
    #[serde(default)]
    pub hfov_deg: Option<f64>,
    /// RFC 3339 time from which the camera pointed there; now when absent.
    #[serde(default)]
    pub at: Option<String>,
}

/// Records where a panning fire camera points.
#[utoipa::path(
    post,
    path = "/api/cameras/{id}/ptz",
    tag = "cameras",
    params(("id" = String, Path, description = "Camera id")),
    request_body = PtzBody,
    responses(
        (status = 200, description = "Recorded: `{\"applied\": true, \"camera\": …, \"azimuth_deg\": …, \"hfov_deg\": …, \"at\": …}`; alarms of frames from `at` on take this bearing"),
        (status = 400, description = "Malformed body or time", body = ErrorBody),
        (status = 404, description = "No such camera", body = ErrorBody),
        (status = 409, description = "This process does not run the camera", body = ErrorBody),
        (status = 422, description = "The camera is not a panning fire camera, or a value is out of range", body = ErrorBody),
    )
)]
pub(crate) async fn report(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    p: Result<Path<String>, PathRejection>,
    b: Result<Json<PtzBody>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(camera) =
        p.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/cameras/{id}/ptz"))?;
    let body = b.map(|Json(v)| v).map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "send {\"azimuth_deg\": 212.5, \"hfov_deg\": 12.0, \"at\": \"2026-07-01T12:00:00Z\"} (hfov_deg and at optional)",
        )
    })?;
    if !s.may_see_camera(&user, &camera) {
        return Err(ApiError::not_found(format!("no camera {camera:?}")));
    }
    let at = match &body.at {
        Some(t) => Timestamp::parse(t).ok_or_else(|| {
            ApiError::bad_request(
                format!("`at` {t:?} is not an RFC 3339 time"),
                "e.g. 2026-07-01T12:00:00Z, or leave it out for now",
            )
        })?,
        None => s.inner.store.clock().now(),
    };
    let not_here = || {
        ApiError::new(
            StatusCode::CONFLICT,
            format!("this process does not run camera {camera:?}"),
        )
        .with_hint("positions reach cameras that this `kuzet serve` runs itself; cameras run by `kuzet worker`s (distributed mode) do not take reports yet")
    };
    let Some(record) = s.inner.report_ptz.get() else {
        return Err(not_here());
    };
    match record(&camera, body.azimuth_deg, body.hfov_deg, at) {
        Ok(true) => Ok(Json(json!({
            "applied": true,
            "camera": camera,
            "azimuth_deg": body.azimuth_deg.rem_euclid(360.0),
            "hfov_deg": body.hfov_deg,
            "at": at.to_rfc3339(),
        }))),
        Ok(false) => Err(not_here()),
        Err(reason) => Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, reason)),
    }
}
