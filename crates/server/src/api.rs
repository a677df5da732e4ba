//! Request handlers other than the live stream.

use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use auth::User;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base::{Event, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::EventQuery;
use utoipa::IntoParams;

/// Most events one `/api/events` page returns; bigger requests are capped so a
/// careless `limit=1000000` cannot make the server build a huge response.
pub const MAX_LIMIT: usize = 1000;
/// Page size when the client names none.
pub const DEFAULT_LIMIT: usize = 100;

const TIME_HINT: &str =
    "use RFC 3339 (e.g. 2026-11-22T10:00:00Z or 2026-11-22T10:00:00+05:00) or integer epoch milliseconds";

/// An event as the API shows it: the stored fields plus a readable time and,
/// when it has evidence, the URL of its image.
#[derive(Serialize)]
pub(crate) struct EventJson<'a> {
    #[serde(flatten)]
    pub event: &'a Event,
    /// `ts` (epoch ms) as RFC 3339, for humans and for clients without a date library.
    pub time: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub evidence_url: Option<String>,
    /// The evidence lock, where the handler looked it up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lock: Option<store::EventLock>,
    /// The event's images kept with a sealed original (un-maskable), where
    /// the handler looked them up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masked_evidence: Option<Vec<String>>,
}

impl<'a> EventJson<'a> {
    pub fn new(event: &'a Event) -> Self {
        EventJson {
            event,
            time: event.ts.to_rfc3339(),
            evidence_url: event
                .evidence
                .as_deref()
                .filter(|h| is_valid_hash(h))
                .map(|h| format!("/api/evidence/{h}")),
            lock: None,
            masked_evidence: None,
        }
    }

    pub fn with_lock(mut self, lock: Option<store::EventLock>) -> Self {
        self.lock = lock;
        self
    }
}

/// Whether `h` is a SHA-256 in lowercase hex, the only form evidence is named
/// by. Checked before a client-supplied hash goes near the filesystem, so
/// traversal (`../`), separators and NULs are refused outright.
pub(crate) fn is_valid_hash(h: &str) -> bool {
    h.len() == 64 && h.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The `{id}` of an `/api/events/{id}…` route: a positive integer, else a 400
/// that names the route (`route`) to use.
pub(crate) fn event_id(
    id: Result<Path<String>, PathRejection>,
    route: &str,
) -> Result<i64, ApiError> {
    let Path(raw) = id.map_err(|e| ApiError::bad_request(e.body_text(), format!("use {route}")))?;
    match raw.parse::<i64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(ApiError::bad_request(
            format!("invalid event id {raw:?}"),
            "event ids are positive integers, as in the `id` field of /api/events",
        )),
    }
}

/// A query rejection (unknown parameter, bad encoding) as a JSON 400.
pub(crate) fn query_error(e: QueryRejection, accepted: &str) -> ApiError {
    ApiError::bad_request(
        format!("invalid query string: {}", e.body_text()),
        format!("accepted parameters: {accepted}"),
    )
}

/// Empty parameters (`camera=`, as an HTML form sends) count as absent.
pub(crate) fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

fn parse_time(name: &str, v: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => Timestamp::parse(&s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("invalid `{name}`: {s:?} is not a time"), TIME_HINT)
        }),
    }
}

fn parse_positive(name: &str, v: Option<String>, hint: &str) -> Result<Option<i64>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => match s.trim().parse::<i64>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                format!("invalid `{name}`: {s:?} is not a positive integer"),
                hint,
            )),
        },
    }
}

/// Liveness and readiness: the server runs and its event store can be read.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "system",
    responses(
        (status = 200, description = "The server is up and the store is readable", body = crate::docs::Health),
        (status = 503, description = "The event store cannot be read; `status` is `unavailable`", body = crate::docs::Health),
    )
)]
pub(crate) async fn healthz(State(s): State<AppState>) -> Response {
    let uptime_s = s.inner.started.elapsed().as_secs_f64();
    let version = env!("CARGO_PKG_VERSION");
    // A one-row read proves the database opens, is readable and its schema is
    // what we expect, without the cost of counting anything.
    let probe = s
        .with_store("health check", |st| {
            st.events(&EventQuery {
                limit: 1,
                ..Default::default()
            })
        })
        .await;
    match probe {
        Ok(_) => {
            Json(json!({"status": "ok", "uptime_s": uptime_s, "version": version})).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({
                "status": "unavailable",
                "uptime_s": uptime_s,
                "version": version,
                "error": "the event store cannot be read",
                "hint": e.body.hint,
            })),
        )
            .into_response(),
    }
}

/// Readiness for a load balancer or orchestrator: the store is readable and,
/// in distributed mode, the bus ingest is connected (its lag is reported).
/// Unlike `/healthz` (is the process alive), a 503 here means "send no
/// traffic yet" — e.g. during a rolling upgrade before the ingest is bound.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "system",
    responses(
        (status = 200, description = "Ready: the store is readable and every configured dependency (the bus) is up; details per check", body = Object),
        (status = 503, description = "Not ready; the failing check says why", body = Object),
    )
)]
pub(crate) async fn readyz(State(s): State<AppState>) -> Response {
    let store_ok = s
        .with_store("readiness check", |st| {
            st.events(&EventQuery {
                limit: 1,
                ..Default::default()
            })
        })
        .await
        .is_ok();
    let (extra_ok, extra) = match s.inner.readiness.get() {
        Some(f) => f(),
        None => (true, serde_json::Value::Null),
    };
    let ready = store_ok && extra_ok;
    let body = json!({"ready": ready, "store": store_ok, "bus": extra});
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// Prometheus metrics in the text exposition format (names start with `kuzet_`).
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    responses(
        (status = 200, description = "Prometheus text exposition, version 0.0.4", content_type = "text/plain; version=0.0.4; charset=utf-8", body = String),
    )
)]
pub(crate) async fn metrics(State(s): State<AppState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        s.inner.metrics.render(),
    )
        .into_response()
}

/// Cameras: live status of the configured ones merged with their stored rows,
/// then stored cameras no longer configured. URL passwords are masked.
#[utoipa::path(
    get,
    path = "/api/cameras",
    tag = "cameras",
    responses(
        (status = 200, description = "Every known camera", body = Vec<crate::docs::CameraStatus>),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn cameras(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Value>, ApiError> {
    let mut live = (s.inner.cameras)();
    let mut stored = s.with_data("reading cameras", |st| st.cameras()).await?;
    live.retain(|c| s.may_see_camera(&user, &c.id));
    stored.retain(|c| s.may_see_camera(&user, &c.id));
    let mut out = Vec::with_capacity(live.len() + stored.len());
    let mut seen = std::collections::HashSet::new();
    for status in &live {
        let mut v = serde_json::to_value(status).unwrap_or(Value::Null);
        if let Some(obj) = v.as_object_mut() {
            obj.insert("url".into(), base::url::redact_url(&status.url).into());
            obj.insert("configured".into(), true.into());
            if let Some(row) = stored.iter().find(|r| r.id == status.id) {
                obj.insert("created".into(), row.created.to_rfc3339().into());
                obj.insert("updated".into(), row.updated.to_rfc3339().into());
            }
            if let Some(t) = status.last_frame {
                obj.insert("last_frame_time".into(), t.to_rfc3339().into());
            }
        }
        seen.insert(status.id.clone());
        out.push(v);
    }
    // Cameras that have events in the database but are no longer configured:
    // listed so their history stays discoverable, marked as not running.
    for row in stored.iter().filter(|r| !seen.contains(&r.id)) {
        out.push(json!({
            "id": row.id,
            "name": row.name,
            "url": base::url::redact_url(&row.url),
            "state": "unconfigured",
            "configured": false,
            "created": row.created.to_rfc3339(),
            "updated": row.updated.to_rfc3339(),
        }));
    }
    Ok(Json(Value::Array(out)))
}

/// Query parameters of `GET /api/events`, as strings so that every malformed
/// value gets an error naming the parameter and the accepted format.
/// Empty values count as absent; unknown parameters are a 400.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct EventsParams {
    /// Only events of this camera id.
    #[param(example = "gate")]
    camera: Option<String>,
    /// Only events of this kind (e.g. `zone_enter`, `line_cross`, `dwell`).
    #[param(example = "line_cross")]
    kind: Option<String>,
    /// Only events at or after this time: RFC 3339 (e.g. `2026-11-22T10:00:00Z`)
    /// or integer epoch milliseconds. Must not be after `until`.
    #[param(example = "2026-11-22T10:00:00Z")]
    since: Option<String>,
    /// Only events at or before this time: RFC 3339 or integer epoch milliseconds.
    #[param(example = "1700000000000")]
    until: Option<String>,
    /// Page size, 1 to 1000 (larger values are capped at 1000); default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<String>,
    /// Only events with a smaller id: the previous page's `next_before_id`.
    #[param(value_type = Option<i64>, minimum = 1)]
    before_id: Option<String>,
}

const EVENTS_PARAMS: &str = "camera, kind, since, until (RFC 3339 or epoch ms), \
     limit (1..1000), before_id (the previous page's next_before_id)";

fn events_query(p: EventsParams) -> Result<EventQuery, ApiError> {
    let since = parse_time("since", p.since)?;
    let until = parse_time("until", p.until)?;
    if let (Some(a), Some(b)) = (since, until) {
        if a > b {
            return Err(ApiError::bad_request(
                format!("`since` ({a}) is after `until` ({b})"),
                "swap the two, or leave one out",
            ));
        }
    }
    let limit = parse_positive(
        "limit",
        p.limit,
        "use an integer from 1 to 1000 (larger values are capped at 1000)",
    )?
    .map_or(DEFAULT_LIMIT, |n| (n as u64).min(MAX_LIMIT as u64) as usize);
    let before_id = parse_positive(
        "before_id",
        p.before_id,
        "use the `next_before_id` of the previous page",
    )?;
    Ok(EventQuery {
        camera: non_empty(p.camera),
        kind: non_empty(p.kind),
        since,
        until,
        limit,
        before_id,
        cameras: None,
    })
}

/// Stored events, newest first, one page at a time.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    params(EventsParams),
    responses(
        (status = 200, description = "A page of events, newest first", body = crate::docs::EventsPage),
        (status = 400, description = "A parameter is malformed or unknown, or `since` is after `until`", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn events(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    params: Result<Query<EventsParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(params) = params.map_err(|e| query_error(e, EVENTS_PARAMS))?;
    let mut q = events_query(params)?;
    q.cameras = s.visible_cameras(&user);
    let limit = q.limit;
    let events = s
        .with_data("querying events", move |st| st.events(&q))
        .await?;
    // A full page means there may be more; an id cursor (not an offset) stays
    // correct while new events arrive at the top.
    let next_before_id = if events.len() >= limit {
        events.last().and_then(|e| e.id)
    } else {
        None
    };
    let ids: Vec<i64> = events.iter().filter_map(|e| e.id).collect();
    // Locks live beside the events they hold.
    let mut locks = s
        .with_data("reading event locks", move |st| st.event_locks(&ids))
        .await?;
    let list: Vec<EventJson> = events
        .iter()
        .map(|e| EventJson::new(e).with_lock(e.id.and_then(|id| locks.remove(&id))))
        .collect();
    Ok(Json(json!({
        "events": list,
        "next_before_id": next_before_id,
    })))
}

/// One event by id.
#[utoipa::path(
    get,
    path = "/api/events/{id}",
    tag = "events",
    params(
        ("id" = i64, Path, description = "Event id: a positive integer, the `id` field of an event", minimum = 1),
    ),
    responses(
        (status = 200, description = "The event", body = crate::docs::Event),
        (status = 400, description = "The id is not a positive integer", body = ErrorBody),
        (status = 404, description = "No event has this id", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn event(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let id = event_id(id, "/api/events/{id}")?;
    let found = s
        .with_data("reading an event", move |st| st.event(id))
        .await?;
    let elsewhere = s.data_elsewhere();
    // Another group's event is answered as if it did not exist.
    match found.filter(|e| s.may_see_camera(&user, &e.camera)) {
        Some(e) => {
            let images: Vec<String> = e
                .evidence
                .iter()
                .cloned()
                .chain(
                    e.details
                        .get("frame_evidence")
                        .and_then(|v| v.as_str())
                        .map(str::to_string),
                )
                .filter(|h| is_valid_hash(h))
                .collect();
            let (lock, masked) = if elsewhere {
                (None, Vec::new())
            } else {
                s.with_store("reading an event lock", move |st| {
                    let lock = st.event_lock(id)?;
                    let mut masked = Vec::new();
                    for h in images {
                        if !masked.contains(&h) && st.has_evidence_original(&h)? {
                            masked.push(h);
                        }
                    }
                    Ok::<_, store::StoreError>((lock, masked))
                })
                .await?
            };
            let mut out = EventJson::new(&e).with_lock(lock);
            out.masked_evidence = Some(masked);
            Ok(Json(json!(out)))
        }
        None => Err(ApiError::not_found(format!("no event with id {id}"))),
    }
}

/// A year: the longest lifetime HTTP caches commonly honour; `private`
/// because evidence needs a login, so shared caches must not keep it. Evidence is named
/// by its content hash, so a URL's bytes can never change.
const EVIDENCE_CACHE: &str = "private, max-age=31536000, immutable";

/// An event's evidence file (JPEG image or MP4 clip), named by its content
/// hash and so cacheable forever (`Cache-Control: immutable`, `ETag` = the
/// hash). Byte ranges are served, so a `<video>` can seek in a clip.
#[utoipa::path(
    get,
    path = "/api/evidence/{hash}",
    tag = "events",
    params(
        ("hash" = String, Path, description = "SHA-256 of the JPEG, 64 lowercase hex digits (an event's `evidence` field), optionally followed by `.jpg`", pattern = "^[0-9a-f]{64}(\\.jpg)?$"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer; a match answers 304"),
        ("Range" = Option<String>, Header, description = "One byte range (`bytes=0-`, `bytes=100-199`, `bytes=-500`), as video players send; several ranges get the whole file"),
    ),
    responses(
        (status = 200, description = "The evidence file: a JPEG image, or an H.264 MP4 clip (an event's `details.clip.hash`); the type is in Content-Type", content((crate::docs::Jpeg = "image/jpeg"), (crate::docs::Jpeg = "video/mp4"))),
        (status = 206, description = "The requested byte range (Content-Range)", content((crate::docs::Jpeg = "image/jpeg"), (crate::docs::Jpeg = "video/mp4"))),
        (status = 416, description = "The range lies outside the file (Content-Range: bytes */length)"),
        (status = 304, description = "The cached copy is current (it always is: the bytes of a hash never change)"),
        (status = 400, description = "Not a valid hash (also refuses path traversal)", body = ErrorBody),
        (status = 404, description = "No evidence with this hash", body = ErrorBody),
        (status = 500, description = "The evidence could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn evidence(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<crate::security::Remote>,
    headers: HeaderMap,
    hash: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(raw) =
        hash.map_err(|e| ApiError::bad_request(e.body_text(), "use /api/evidence/{hash}"))?;
    // Accept the file name as well as the bare hash.
    let hash = raw.strip_suffix(".jpg").unwrap_or(&raw).to_string();
    if !is_valid_hash(&hash) {
        return Err(ApiError::bad_request(
            "invalid evidence hash",
            "an evidence hash is 64 lowercase hex digits (SHA-256), as in an event's `evidence` field",
        ));
    }
    let etag = format!("\"{hash}\"");
    let cache_headers = [
        (header::ETAG, etag.clone()),
        (header::CACHE_CONTROL, EVIDENCE_CACHE.to_string()),
    ];
    // Same name, same bytes: a cached copy is always current.
    let cached = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|inm| {
            inm.split(',').any(|t| {
                let t = t.trim();
                t == "*" || t.trim_start_matches("W/") == etag
            })
        });
    let lookup = hash.clone();
    let visible = s.visible_cameras(&user);
    let elsewhere = s.data_evidence_cameras(&hash, visible.is_some()).await?;
    let blobs = s.inner.blobs.get().cloned();
    let found = s
        .with_store("reading evidence", move |st| {
            // The store's directory first (sealed face crops live there),
            // then the object storage workers' evidence goes to.
            let local = st.evidence_path(&lookup).is_some();
            let remote = match (&blobs, local) {
                (Some(b), false) => b.exists(&lookup).map_err(|e| e.to_string())?,
                _ => false,
            };
            if !local && !remote {
                return Ok(None);
            }
            // A group-scoped user sees evidence of their cameras only.
            if let Some(v) = &visible {
                let cams = st.evidence_cameras(&lookup).map_err(|e| e.to_string())?;
                if !cams.iter().chain(&elsewhere).any(|c| v.contains(c)) {
                    return Ok(None);
                }
            }
            if cached {
                return Ok(Some(Vec::new()));
            }
            if let (Some(b), true) = (&blobs, remote) {
                return b.get(&lookup).map_err(|e| e.to_string());
            }
            // A sealed face crop is opened here, after the same checks as
            // any evidence; the hash (and ETag) is that of the plain JPEG.
            match st.evidence_bytes(&lookup) {
                Ok(bytes) => Ok(bytes),
                Err(store::StoreError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.to_string()),
            }
        })
        .await?;
    if found.is_some() {
        // Every view is on record (a cached copy too: the user sees it).
        s.audit_evidence_view(&user, &remote, &hash).await?;
    }
    match found {
        None => Err(ApiError::not_found(format!("no evidence with hash {hash}"))),
        Some(_) if cached => Ok((StatusCode::NOT_MODIFIED, cache_headers).into_response()),
        Some(bytes) => {
            let mime = evidence_mime(&bytes);
            let accept = (header::ACCEPT_RANGES, "bytes".to_string());
            let len = bytes.len() as u64;
            match headers
                .get(header::RANGE)
                .and_then(|v| v.to_str().ok())
                .map(|r| byte_range(r, len))
            {
                // No range, or one this route does not serve in parts
                // (several ranges): the whole file, as RFC 9110 allows.
                None | Some(Range::Ignore) => Ok((
                    [(header::CONTENT_TYPE, mime.to_string()), accept],
                    cache_headers,
                    bytes,
                )
                    .into_response()),
                Some(Range::Unsatisfiable) => Ok((
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    [(header::CONTENT_RANGE, format!("bytes */{len}")), accept],
                )
                    .into_response()),
                Some(Range::Part(a, b)) => Ok((
                    StatusCode::PARTIAL_CONTENT,
                    [
                        (header::CONTENT_TYPE, mime.to_string()),
                        (header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}")),
                        accept,
                    ],
                    cache_headers,
                    bytes[a as usize..=b as usize].to_vec(),
                )
                    .into_response()),
            }
        }
    }
}

/// The media type of an evidence file, from its first bytes: evidence is
/// content-addressed and its name says nothing about its kind. Images are
/// JPEGs; clips are MP4 (`ftyp` box first).
pub(crate) fn evidence_mime(bytes: &[u8]) -> &'static str {
    if bytes.len() >= 8 && &bytes[4..8] == b"ftyp" {
        "video/mp4"
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        "image/jpeg"
    } else {
        "application/octet-stream"
    }
}

/// A `Range` header's meaning for a file of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Range {
    /// Serve the whole file (malformed, several ranges, or not bytes).
    Ignore,
    /// Answer 416.
    Unsatisfiable,
    /// First and last byte, inclusive.
    Part(u64, u64),
}

/// Parses a single `bytes=` range (`a-b`, `a-`, `-n`); browsers ask for
/// `bytes=0-` and then for parts while seeking a video.
pub(crate) fn byte_range(header: &str, len: u64) -> Range {
    let Some(spec) = header.trim().strip_prefix("bytes=") else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    let (first, last) = match (a.parse::<u64>(), b.parse::<u64>()) {
        (Ok(a), Ok(b)) if a <= b => (a, b.min(len.saturating_sub(1))),
        (Ok(_), Ok(_)) => return Range::Ignore,
        (Ok(a), Err(_)) if b.is_empty() => (a, len.saturating_sub(1)),
        (Err(_), Ok(n)) if a.is_empty() => {
            if n == 0 {
                return Range::Unsatisfiable;
            }
            (len.saturating_sub(n), len.saturating_sub(1))
        }
        _ => return Range::Ignore,
    };
    if len == 0 || first >= len {
        return Range::Unsatisfiable;
    }
    Range::Part(first, last)
}

/// Event counts by kind and camera, and other store totals.
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "events",
    responses(
        (status = 200, description = "Totals", body = crate::docs::Stats),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn stats(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
) -> Result<Json<Value>, ApiError> {
    let mut counts = s.with_data("counting events", |st| st.counts()).await?;
    if let Some(v) = s.visible_cameras(&user) {
        // Scoped users see their cameras' counts only; per-kind totals span
        // every camera, so they are withheld rather than leaked.
        counts.by_camera.retain(|c, _| v.contains(c));
        counts.events = counts.by_camera.values().sum();
        counts.cameras = counts.by_camera.len() as u64;
        counts.by_kind.clear();
    }
    Ok(Json(json!(counts)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_validation() {
        assert!(is_valid_hash(&"0af9".repeat(16)));
        for bad in [
            "",
            "../../etc/passwd",
            &"A".repeat(64),
            &"a".repeat(63),
            &format!("../{}", "a".repeat(61)),
        ] {
            assert!(!is_valid_hash(bad), "{bad:?}");
        }
    }

    #[test]
    fn byte_ranges() {
        assert_eq!(byte_range("bytes=0-", 100), Range::Part(0, 99));
        assert_eq!(byte_range("bytes=10-19", 100), Range::Part(10, 19));
        assert_eq!(byte_range("bytes=90-500", 100), Range::Part(90, 99));
        assert_eq!(byte_range("bytes=-30", 100), Range::Part(70, 99));
        assert_eq!(byte_range("bytes=-300", 100), Range::Part(0, 99));
        assert_eq!(byte_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(byte_range("bytes=-0", 100), Range::Unsatisfiable);
        assert_eq!(byte_range("bytes=0-1,5-6", 100), Range::Ignore);
        assert_eq!(byte_range("bytes=9-2", 100), Range::Ignore);
        assert_eq!(byte_range("items=0-1", 100), Range::Ignore);
        assert_eq!(byte_range("bytes=x-", 100), Range::Ignore);
        assert_eq!(evidence_mime(b"\0\0\0\x20ftypisom"), "video/mp4");
        assert_eq!(evidence_mime(&[0xff, 0xd8, 0xff]), "image/jpeg");
        assert_eq!(evidence_mime(b"GIF8"), "application/octet-stream");
    }

    #[test]
    fn limit_is_capped_and_validated() {
        let p = |limit: &str| EventsParams {
            camera: None,
            kind: None,
            since: None,
            until: None,
            limit: Some(limit.into()),
            before_id: None,
        };
        assert_eq!(events_query(p("5000")).unwrap().limit, MAX_LIMIT);
        assert_eq!(events_query(p("")).unwrap().limit, DEFAULT_LIMIT);
        assert!(events_query(p("0")).is_err());
        assert!(events_query(p("ten")).is_err());
    }
}
