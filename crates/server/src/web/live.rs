//! Live camera pictures for the camera wall and the map.

use crate::error::ApiError;
use crate::AppState;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base::{BBox, CameraStatus, Timestamp};
use serde::Serialize;
use serde_json::{json, Value};
use std::sync::Arc;

/// A tracked object drawn over a snapshot.
#[derive(Clone, Debug, Serialize)]
pub struct OverlayObject {
    pub track_id: u64,
    pub label: String,
    pub score: f32,
    /// Pixels of the frame.
    pub bbox: BBox,
}

/// A camera's latest analysed frame and the confirmed tracks on it. The
/// pipeline keeps it; the server only reads and encodes it on request.
#[derive(Clone, Debug)]
pub struct SnapshotFrame {
    pub ts: Timestamp,
    pub width: u32,
    pub height: u32,
    /// RGB24, `width * height * 3` bytes (shared with the pipeline, not copied).
    pub rgb: Arc<Vec<u8>>,
    pub objects: Vec<OverlayObject>,
}

/// The latest analysed frame of a camera by id, `None` before its first frame.
pub type SnapshotFn = Arc<dyn Fn(&str) -> Option<SnapshotFrame> + Send + Sync>;

/// Good enough for a wall tile; evidence has its own quality setting.
const SNAPSHOT_QUALITY: u8 = 75;

fn latest(s: &AppState, camera: &str) -> Option<SnapshotFrame> {
    s.inner.web.snapshots.get().and_then(|f| f(camera))
}

fn encode_jpeg(f: &SnapshotFrame) -> Result<Vec<u8>, String> {
    if f.rgb.len() != f.width as usize * f.height as usize * 3 {
        return Err(format!(
            "snapshot of {}x{} has {} bytes",
            f.width,
            f.height,
            f.rgb.len()
        ));
    }
    store::encode_rgb_jpeg(&f.rgb, f.width, f.height, SNAPSHOT_QUALITY).map_err(|e| e.to_string())
}

fn no_snapshot(camera: &str) -> ApiError {
    ApiError::not_found(format!("no analysed frame of camera {camera:?} yet")).with_hint(
        "snapshots exist for cameras the running pipeline has analysed at least one frame of; \
         see /api/cameras",
    )
}

/// JPEG of the camera's latest analysed frame (`Cache-Control: no-store`).
#[utoipa::path(
    get,
    path = "/api/cameras/{id}/snapshot",
    tag = "cameras",
    params(("id" = String, Path, description = "Camera id, as listed by /api/cameras")),
    responses(
        (status = 200, description = "The latest analysed frame", content_type = "image/jpeg", body = crate::docs::Jpeg),
        (status = 404, description = "No frame of this camera has been analysed yet (or no such camera)", body = crate::error::ErrorBody),
        (status = 500, description = "The frame could not be encoded", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn snapshot(
    State(s): State<AppState>,
    axum::Extension(user): axum::Extension<auth::User>,
    Path(camera): Path<String>,
) -> Result<Response, ApiError> {
    if !s.may_see_camera(&user, &camera) {
        return Err(no_snapshot(&camera));
    }
    let Some(frame) = latest(&s, &camera) else {
        return Err(no_snapshot(&camera));
    };
    let cached = s
        .inner
        .web
        .jpeg_cache
        .lock()
        .ok()
        .and_then(|c| c.get(&camera).cloned())
        .filter(|(ts, _)| *ts == frame.ts.0)
        .map(|(_, b)| b);
    let jpeg = match cached {
        Some(b) => b,
        None => {
            let ts = frame.ts.0;
            let bytes = tokio::task::spawn_blocking(move || encode_jpeg(&frame))
                .await
                .map_err(|e| ApiError::internal("encoding a snapshot", e))?
                .map_err(|e| ApiError::internal("encoding a snapshot", e))?;
            let bytes = Arc::new(bytes);
            if let Ok(mut c) = s.inner.web.jpeg_cache.lock() {
                c.insert(camera.clone(), (ts, bytes.clone()));
            }
            bytes
        }
    };
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        jpeg.as_ref().clone(),
    )
        .into_response())
}

/// Zones and lines of a camera's stored configuration (normalised 0..1, as
/// the config requires), keeping only what a drawing needs.
fn geometry(config: &Value) -> (Value, Value) {
    // The config file (and so a serialised `CameraConfig`) spells the lists
    // `zone` and `line` (`[[camera.zone]]`); older records and hand-written
    // JSON use the plural.
    let pick = |key: &str, fields: &[&str]| -> Value {
        let list = config
            .get(key)
            .or_else(|| config.get(key.trim_end_matches('s')))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        Value::Array(
            list.iter()
                .map(|item| {
                    let mut o = serde_json::Map::new();
                    for f in fields {
                        if let Some(v) = item.get(*f) {
                            o.insert((*f).into(), v.clone());
                        }
                    }
                    Value::Object(o)
                })
                .collect(),
        )
    };
    (
        pick("zones", &["name", "polygon", "classes", "dwell_seconds"]),
        pick("lines", &["name", "from", "to", "direction", "classes"]),
    )
}

/// The tracked objects on the latest analysed frame and the camera's configured
/// zones and lines, normalised to 0..1 of the frame, for drawing over the snapshot.
#[utoipa::path(
    get,
    path = "/api/cameras/{id}/overlay",
    tag = "cameras",
    params(("id" = String, Path, description = "Camera id, as listed by /api/cameras")),
    responses(
        (status = 200, description = "What to draw; `objects` is empty before the first analysed frame", body = crate::docs::Overlay),
        (status = 404, description = "No such camera, configured or stored", body = crate::error::ErrorBody),
        (status = 500, description = "The store could not be read", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn overlay(
    State(s): State<AppState>,
    axum::Extension(user): axum::Extension<auth::User>,
    Path(camera): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let visible = s.may_see_camera(&user, &camera);
    let live = (s.inner.cameras)()
        .into_iter()
        .find(|c| c.id == camera)
        .filter(|_| visible);
    let stored = s.with_store("reading cameras", |st| st.cameras()).await?;
    let row = stored
        .into_iter()
        .find(|r| r.id == camera)
        .filter(|_| visible);
    if live.is_none() && row.is_none() {
        return Err(ApiError::not_found(format!("no camera {camera:?}"))
            .with_hint("camera ids are listed by /api/cameras"));
    }
    let (zones, lines) = row
        .as_ref()
        .map(|r| geometry(&r.config))
        .unwrap_or((json!([]), json!([])));
    let frame = latest(&s, &camera);
    let (w, h) = frame
        .as_ref()
        .map(|f| (f.width, f.height))
        .or(live.as_ref().map(|l| (l.width, l.height)))
        .unwrap_or((0, 0));
    let objects: Vec<Value> = frame
        .as_ref()
        .map(|f| {
            let (fw, fh) = (f.width.max(1) as f32, f.height.max(1) as f32);
            f.objects
                .iter()
                .map(|o| {
                    json!({
                        "track_id": o.track_id,
                        "label": o.label,
                        "score": o.score,
                        "box": [o.bbox.x1 / fw, o.bbox.y1 / fh, o.bbox.x2 / fw, o.bbox.y2 / fh],
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(Json(json!({
        "camera": camera,
        "coords": "normalised",
        "width": w,
        "height": h,
        "snapshot": frame.is_some(),
        "ts": frame.as_ref().map(|f| f.ts.0),
        "time": frame.as_ref().map(|f| f.ts.to_rfc3339()),
        "objects": objects,
        "zones": zones,
        "lines": lines,
    })))
}

fn state_of(live: Option<&CameraStatus>) -> Value {
    live.map_or(json!("unconfigured"), |l| json!(l.state))
}

/// Cameras with a configured location, as a GeoJSON `FeatureCollection`.
#[utoipa::path(
    get,
    path = "/api/map/cameras",
    tag = "cameras",
    responses(
        (status = 200, description = "Located cameras with their live state", content_type = "application/geo+json", body = crate::docs::CameraMap),
        (status = 500, description = "The store could not be read", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn map_cameras(
    State(s): State<AppState>,
    axum::Extension(user): axum::Extension<auth::User>,
) -> Result<Json<Value>, ApiError> {
    let live = (s.inner.cameras)();
    let mut stored = s.with_store("reading cameras", |st| st.cameras()).await?;
    stored.retain(|r| s.may_see_camera(&user, &r.id));
    let features: Vec<Value> = stored
        .iter()
        .filter_map(|r| {
            let loc = r.config.get("location")?;
            let (lat, lon) = (loc.get("lat")?.as_f64()?, loc.get("lon")?.as_f64()?);
            let l = live.iter().find(|c| c.id == r.id);
            Some(json!({
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [lon, lat]},
                "properties": {
                    "id": r.id,
                    "name": r.name,
                    "state": state_of(l),
                    "fps": l.map(|c| c.fps),
                },
            }))
        })
        .collect();
    Ok(Json(
        json!({"type": "FeatureCollection", "features": features}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn geometry_keeps_drawable_fields() {
        let cfg = json!({
            "zones": [{"name": "z", "polygon": [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0]], "classes": ["person"], "enter_exit": true}],
            "lines": [{"name": "l", "from": [0.5, 0.0], "to": [0.5, 1.0], "direction": "any"}],
        });
        let (z, l) = geometry(&cfg);
        assert_eq!(z[0]["name"], "z");
        assert!(z[0].get("enter_exit").is_none());
        assert_eq!(l[0]["to"], json!([0.5, 1.0]));
        let (z, l) = geometry(&json!({}));
        assert_eq!((z, l), (json!([]), json!([])));
        // A serialised CameraConfig, as the pipeline records it, says `zone`.
        let recorded = json!({
            "zone": [{"name": "yard", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]]}],
            "line": [{"name": "gate", "from": [0.0, 0.5], "to": [1.0, 0.5]}],
        });
        let (z, l) = geometry(&recorded);
        assert_eq!(
            (z[0]["name"].as_str(), l[0]["name"].as_str()),
            (Some("yard"), Some("gate"))
        );
    }

    #[test]
    fn jpeg_encoding_checks_the_buffer() {
        let f = SnapshotFrame {
            ts: Timestamp(1),
            width: 4,
            height: 2,
            rgb: Arc::new(vec![128; 4 * 2 * 3]),
            objects: vec![],
        };
        let jpeg = encode_jpeg(&f).unwrap();
        assert_eq!(&jpeg[..2], &[0xff, 0xd8]);
        let bad = SnapshotFrame {
            rgb: Arc::new(vec![0; 5]),
            ..f
        };
        assert!(encode_jpeg(&bad).is_err());
    }
}
