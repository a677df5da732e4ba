//! The operators' review of events: acknowledge, confirm, reject (with a
//! reason), assign, comment, reopen — and the two-person rule for face
//! matches (two different users must confirm before a match counts).
//!
//! The actor is always the logged-in user: a review names who decided, so it
//! can never be posted on someone else's behalf. Events of cameras outside
//! the user's groups answer 404, as in the rest of the API.

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use auth::User;
use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};
use store::{ReviewAction, StoreError};
use utoipa::ToSchema;

/// One review action.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    /// `ack`, `confirm`, `reject`, `assign`, `comment` or `reopen`.
    #[schema(value_type = String, example = "confirm")]
    pub action: ReviewAction,
    /// Why: required for `reject`, `comment` and `reopen`.
    pub comment: Option<String>,
    /// The user to hand the event to (`assign`).
    pub assignee: Option<String>,
}

fn event_id(id: Result<Path<String>, PathRejection>) -> Result<i64, ApiError> {
    crate::api::event_id(id, "/api/events/{id}/review")
}

/// Runs a review store call off the async workers, mapping refusals to 409
/// and bad input to 400 (the store's text says which rule).
async fn run<T: Send + 'static>(
    s: &AppState,
    f: impl FnOnce(&dyn store::StoreBackend) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    s.with_data_rules(
        "reviewing an event",
        "send {\"action\": \"confirm\"|\"reject\"|…, \"comment\": \"why\"}",
        f,
    )
    .await
}

/// The event, if it exists and the user may see its camera.
async fn visible_event(s: &AppState, user: &User, id: i64) -> Result<(), ApiError> {
    let found = run(s, move |st| st.event(id)).await?;
    match found.filter(|e| s.may_see_camera(user, &e.camera)) {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(format!("no event with id {id}"))),
    }
}

/// Records one review action by the logged-in user and returns the event's
/// new review state.
#[utoipa::path(
    post,
    path = "/api/events/{id}/review",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "The new review state: status (new, acknowledged, pending_confirmation, confirmed, rejected), assignee, confirmed_by, confirmations_required, updated"),
        (status = 400, description = "Malformed body or id", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 403, description = "The role may not review", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
        (status = 409, description = "The action does not fit the event's state: the same user confirming twice (two-person rule), confirming a rejected event, rejecting without a reason", body = ErrorBody),
    )
)]
pub(crate) async fn review(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Json<ReviewRequest>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id)?;
    let Json(req) = body.map_err(|e| {
        ApiError::bad_request(
            e.body_text(),
            "send JSON {\"action\": \"ack\"|\"confirm\"|\"reject\"|\"assign\"|\"comment\"|\"reopen\", \"comment\": \"…\", \"assignee\": \"…\"}",
        )
    })?;
    if req.action == ReviewAction::Dispatch {
        return Err(ApiError::bad_request(
            "dispatch is not a review action here",
            "use POST /api/events/{id}/dispatch (audited, two-person rule for face matches)",
        ));
    }
    visible_event(&s, &user, id).await?;
    let actor = user.name.clone();
    let state = run(&s, move |st| {
        st.review(
            id,
            &actor,
            req.action,
            req.assignee.as_deref(),
            req.comment.as_deref(),
        )
    })
    .await?;
    Ok(Json(json!(state)))
}

/// An event's review state and its full history, oldest action first.
#[utoipa::path(
    get,
    path = "/api/events/{id}/review",
    tag = "events",
    params(("id" = i64, Path, description = "Event id", minimum = 1)),
    responses(
        (status = 200, description = "`{\"state\": {…}, \"history\": [{\"ts\", \"actor\", \"action\", \"comment\", \"assignee\", \"status\"}…]}`"),
        (status = 400, description = "Malformed id", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
        (status = 404, description = "No such event (or not visible to this user)", body = ErrorBody),
    )
)]
pub(crate) async fn review_history(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id)?;
    visible_event(&s, &user, id).await?;
    let (state, history) = run(&s, move |st| {
        Ok((st.review_state(id)?, st.review_history(id)?))
    })
    .await?;
    Ok(Json(json!({ "state": state, "history": history })))
}

/// Query of the statistics timeline.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct TimelineQuery {
    /// How far back, in hours (1–720, default 24).
    pub hours: Option<u32>,
    /// Bucket length in minutes (5–1440, default 60).
    pub bucket_minutes: Option<u32>,
}

/// Events per time bucket and kind over the last hours, and how reviewed
/// events stand (confirmed against rejected: the false-alarm rate), over the
/// cameras the user may see.
#[utoipa::path(
    get,
    path = "/api/stats/timeline",
    tag = "events",
    params(TimelineQuery),
    responses(
        (status = 200, description = "`{\"since\", \"until\", \"bucket_ms\", \"buckets\": [{\"start\", \"kind\", \"count\"}…], \"reviews\": {\"acknowledged\", \"pending_confirmation\", \"confirmed\", \"rejected\"}}`"),
        (status = 400, description = "Out-of-range hours or bucket", body = ErrorBody),
        (status = 401, description = "Not logged in", body = ErrorBody),
    )
)]
pub(crate) async fn timeline(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    q: Result<axum::extract::Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let axum::extract::Query(q) =
        q.map_err(|e| ApiError::bad_request(e.body_text(), "use ?hours=24&bucket_minutes=60"))?;
    let hours = q.hours.unwrap_or(24);
    let minutes = q.bucket_minutes.unwrap_or(60);
    if !(1..=720).contains(&hours) || !(5..=1440).contains(&minutes) {
        return Err(ApiError::bad_request(
            format!("hours {hours} or bucket_minutes {minutes} out of range"),
            "hours is 1–720 and bucket_minutes 5–1440",
        ));
    }
    let bucket_ms = i64::from(minutes) * 60_000;
    // Align to whole buckets so successive calls line up.
    let now = s.inner.store.clock().now().millis();
    let until = (now / bucket_ms + 1) * bucket_ms;
    let since = until - i64::from(hours) * 3_600_000;
    let visible = s.visible_cameras(&user);
    let (buckets, reviews) = run(&s, move |st| {
        let filter = visible
            .as_ref()
            .map(|v| move |c: &str| v.iter().any(|x| x == c));
        let f: Option<&dyn Fn(&str) -> bool> = filter.as_ref().map(|f| f as &dyn Fn(&str) -> bool);
        let (a, b) = (
            base::Timestamp::from_millis(since),
            base::Timestamp::from_millis(until),
        );
        Ok((
            st.event_timeline(a, b, bucket_ms, f)?,
            st.review_counts(a, b, None, f)?,
        ))
    })
    .await?;
    Ok(Json(json!({
        "since": since,
        "until": until,
        "bucket_ms": bucket_ms,
        "buckets": buckets,
        "reviews": reviews,
    })))
}
