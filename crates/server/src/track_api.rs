//! `GET /api/events/{id}/track`: what the object behind an alert did — its
//! stored track (seen interval, frames, best crop, trajectory in frame
//! pixels) and every event it raised, oldest first. The detail view draws the
//! trajectory over the evidence frame and lists the events as a timeline.

use crate::api::{event_id, EventJson};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use auth::User;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde_json::{json, Value};

/// The track of an event and the events of the same object.
#[utoipa::path(
    get,
    path = "/api/events/{id}/track",
    tag = "events",
    params(
        ("id" = i64, Path, description = "Event id: a positive integer, the `id` field of an event", minimum = 1),
    ),
    responses(
        (status = 200, description = "`{track: {run_id, camera, track_id, label, first_seen, last_seen, frames, best_score, best_crop, best_crop_url, trajectory: [{ts, x, y}]} | null, events: [Event], truncated}`; `track` is null and `events` empty when the event has no track (e.g. a crowd count)"),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No event has this id", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn event_track(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id, "/api/events/{id}/track")?;
    let found = s
        .with_data("reading an event's track", move |st| {
            // The camera check needs the event itself.
            Ok::<_, store::StoreError>(match st.event(id)? {
                Some(e) => Some((e.camera, st.event_track(id)?)),
                None => None,
            })
        })
        .await?;
    // Another group's event is answered as if it did not exist.
    let Some((camera, Some(t))) = found.filter(|(cam, _)| s.may_see_camera(&user, cam)) else {
        return Err(ApiError::not_found(format!("no event with id {id}")));
    };
    debug_assert!(t.events.iter().all(|e| e.camera == camera));
    let track = t.track.map(|tr| {
        let url = tr
            .best_crop
            .as_deref()
            .filter(|h| crate::api::is_valid_hash(h))
            .map(|h| format!("/api/evidence/{h}"));
        let mut v = json!(tr);
        v["best_crop_url"] = json!(url);
        v
    });
    let events: Vec<EventJson> = t.events.iter().map(EventJson::new).collect();
    Ok(Json(json!({
        "track": track,
        "events": events,
        "truncated": t.truncated,
    })))
}
