//! Plate endpoints: search of stored plate reads (wildcards, camera and time
//! filters, evidence URLs) and hotlist management.
//!
//! The routes are registered (and policed) in [`crate::router`];
//! [`PlatesDoc`] is merged into the OpenAPI document.

use crate::api::{non_empty, query_error};
use crate::error::{ApiError, ErrorBody};
use crate::AppState;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::Json;
use base::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::{NewHotlistEntry, PlateReadQuery, PlateReadRecord, StoreError};
use utoipa::{IntoParams, OpenApi, ToSchema};

/// The plate routes' part of the OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    paths(plates, hotlists, create_hotlist, add_entries, remove_entry),
    components(schemas(PlateReadDoc, PlateReadsPage, HotlistDoc, HotlistEntryDoc, NewHotlist, NewEntry, AddedEntries)),
    tags((name = "plates", description = "Licence-plate reads (wildcard search) and hotlists of wanted plates"))
)]
pub struct PlatesDoc;

const TIME_HINT: &str = "use RFC 3339 (e.g. 2026-11-22T10:00:00Z) or integer epoch milliseconds";

/// Store errors: bad input is the caller's (400), the rest the server's.
fn store_error(context: &'static str, e: StoreError) -> ApiError {
    match e {
        StoreError::Invalid(m) => ApiError::bad_request(m, "check the request's fields"),
        other => ApiError::internal(context, other),
    }
}

/// Runs a hotlist call on a blocking thread against the data plane: the
/// central database with `serve --database` (every serve node's plate
/// matcher loads the same lists), else the SQLite store.
async fn blocking<T: Send + 'static>(
    s: &AppState,
    context: &'static str,
    f: impl FnOnce(&dyn store::StoreBackend) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let data = s.data();
    match tokio::task::spawn_blocking(move || f(data.as_ref())).await {
        Ok(r) => r.map_err(|e| store_error(context, e)),
        Err(e) => Err(ApiError::internal(context, e)),
    }
}

fn parse_time(name: &str, v: Option<String>) -> Result<Option<Timestamp>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => Timestamp::parse(&s).map(Some).ok_or_else(|| {
            ApiError::bad_request(format!("invalid `{name}`: {s:?} is not a time"), TIME_HINT)
        }),
    }
}

fn parse_count(name: &str, v: Option<String>, min: usize) -> Result<Option<usize>, ApiError> {
    match non_empty(v) {
        None => Ok(None),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= min => Ok(Some(n)),
            _ => Err(ApiError::bad_request(
                format!("invalid `{name}`: {s:?} is not an integer >= {min}"),
                "limit: 1 to 1000 (larger values are capped); offset: 0 or more",
            )),
        },
    }
}

fn evidence_url(h: &Option<String>) -> Option<String> {
    h.as_deref()
        .filter(|h| crate::api::is_valid_hash(h))
        .map(|h| format!("/api/evidence/{h}"))
}

fn read_json(r: &PlateReadRecord) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
    if let Some(o) = v.as_object_mut() {
        o.insert("time".into(), r.read.first_seen.to_rfc3339().into());
        o.insert(
            "plate_crop_url".into(),
            evidence_url(&r.read.plate_crop).into(),
        );
        o.insert(
            "vehicle_crop_url".into(),
            evidence_url(&r.read.vehicle_crop).into(),
        );
        o.insert("frame_url".into(), evidence_url(&r.read.frame).into());
    }
    v
}

/// Query parameters of `GET /api/plates`; empty values count as absent,
/// unknown parameters are a 400.
#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PlatesParams {
    /// Plate pattern: `?` any one character, `*` any run; case, spaces and
    /// dashes ignored. Absent = every read.
    #[param(example = "AB?12*")]
    pattern: Option<String>,
    /// Only these camera ids, comma-separated.
    #[param(example = "gate,north")]
    camera: Option<String>,
    /// Only reads first seen at or after this time (RFC 3339 or epoch ms).
    since: Option<String>,
    /// Only reads first seen before this time (RFC 3339 or epoch ms).
    until: Option<String>,
    /// Page size, 1 to 1000 (capped); default 100.
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000, default = 100)]
    limit: Option<String>,
    /// Reads to skip: the previous page's `next_offset`.
    #[param(value_type = Option<i64>, minimum = 0, default = 0)]
    offset: Option<String>,
}

const PLATES_PARAMS: &str = "pattern (? one character, * any run), camera (ids, comma-separated), \
     since, until (RFC 3339 or epoch ms), limit (1..1000), offset";

/// Stored plate reads, newest first, with evidence URLs.
#[utoipa::path(
    get,
    path = "/api/plates",
    tag = "plates",
    params(PlatesParams),
    responses(
        (status = 200, description = "A page of plate reads, newest first", body = PlateReadsPage),
        (status = 400, description = "A parameter is malformed or unknown", body = ErrorBody),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn plates(
    State(s): State<AppState>,
    params: Result<Query<PlatesParams>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(p) = params.map_err(|e| query_error(e, PLATES_PARAMS))?;
    let pattern = non_empty(p.pattern);
    if let Some(pat) = &pattern {
        store::plate_like(pat).map_err(|e| {
            ApiError::bad_request(
                e.to_string(),
                "letters and digits, `?` for one unknown character, `*` for any run",
            )
        })?;
    }
    let q = PlateReadQuery {
        pattern,
        cameras: non_empty(p.camera)
            .map(|c| {
                c.split(',')
                    .map(|x| x.trim().to_string())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        since: parse_time("since", p.since)?,
        until: parse_time("until", p.until)?,
        limit: parse_count("limit", p.limit, 1)?.unwrap_or(0),
        offset: parse_count("offset", p.offset, 0)?.unwrap_or(0),
    };
    let limit = q.effective_limit();
    let offset = q.offset;
    let reads = s
        .with_data("querying plate reads", move |st| st.plate_reads(&q))
        .await?;
    let next_offset = (reads.len() >= limit).then_some(offset + reads.len());
    Ok(Json(json!({
        "reads": reads.iter().map(read_json).collect::<Vec<_>>(),
        "next_offset": next_offset,
    })))
}

/// Every hotlist with its entries.
#[utoipa::path(
    get,
    path = "/api/hotlists",
    tag = "plates",
    responses(
        (status = 200, description = "Hotlists by name, each with its entries", body = Vec<HotlistDoc>),
        (status = 500, description = "The store could not be read", body = ErrorBody),
    )
)]
pub(crate) async fn hotlists(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let out = blocking(&s, "reading hotlists", |st| {
        let entries = st.hotlist_entries(None)?;
        Ok(st
            .hotlists()?
            .into_iter()
            .map(|h| {
                let mine: Vec<_> = entries.iter().filter(|e| e.hotlist_id == h.id).collect();
                let mut v = serde_json::to_value(&h).unwrap_or(Value::Null);
                if let Some(o) = v.as_object_mut() {
                    o.insert("items".into(), json!(mine));
                }
                v
            })
            .collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(Value::Array(out)))
}

fn json_body<T>(body: Result<Json<T>, JsonRejection>, example: &str) -> Result<T, ApiError> {
    body.map(|Json(v)| v).map_err(|e| {
        ApiError::bad_request(
            format!("invalid JSON body: {}", e.body_text()),
            format!("send Content-Type: application/json with a body like {example}"),
        )
    })
}

/// Creates a hotlist (or updates its description if it exists).
#[utoipa::path(
    post,
    path = "/api/hotlists",
    tag = "plates",
    request_body = NewHotlist,
    responses(
        (status = 200, description = "The hotlist", body = HotlistDoc),
        (status = 400, description = "Bad JSON or list name", body = ErrorBody),
    )
)]
pub(crate) async fn create_hotlist(
    State(s): State<AppState>,
    body: Result<Json<NewHotlist>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let b = json_body(
        body,
        r#"{"name": "stolen", "description": "stolen vehicles"}"#,
    )?;
    let h = blocking(&s, "creating a hotlist", move |st| {
        st.ensure_hotlist(&b.name, &b.description)
    })
    .await?;
    Ok(Json(json!(h)))
}

/// Adds one entry (an object) or several (an array) to a hotlist, created
/// if missing; all or none.
#[utoipa::path(
    post,
    path = "/api/hotlists/{name}/entries",
    tag = "plates",
    params(("name" = String, Path, description = "Hotlist name, e.g. `stolen`")),
    request_body = NewEntry,
    responses(
        (status = 200, description = "Ids of the new entries, in order", body = AddedEntries),
        (status = 400, description = "Bad JSON, plate or list name", body = ErrorBody),
    )
)]
pub(crate) async fn add_entries(
    State(s): State<AppState>,
    Path(name): Path<String>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    const EXAMPLE: &str = r#"{"plate": "ABC123", "reason": "stolen", "priority": 5, "expires": "2027-01-31T00:00:00Z"}"#;
    let v = json_body(body, EXAMPLE)?;
    let items = match v {
        Value::Array(a) => a,
        other => vec![other],
    };
    let mut entries = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let e: NewEntry = serde_json::from_value(item).map_err(|e| {
            ApiError::bad_request(
                format!("entry {}: {e}", i + 1),
                format!("each entry is like {EXAMPLE}"),
            )
        })?;
        let expires = parse_time("expires", e.expires)?;
        entries.push(NewHotlistEntry {
            plate: e.plate,
            reason: e.reason,
            priority: e.priority,
            expires,
            notes: e.notes,
        });
    }
    let ids = blocking(&s, "adding hotlist entries", move |st| {
        st.add_hotlist_entries(&name, entries)
    })
    .await?;
    Ok(Json(json!({ "ids": ids })))
}

/// Removes one hotlist entry.
#[utoipa::path(
    delete,
    path = "/api/hotlist-entries/{id}",
    tag = "plates",
    params(("id" = i64, Path, description = "Entry id (from GET /api/hotlists)")),
    responses(
        (status = 200, description = "Removed", body = Object),
        (status = 400, description = "The id is not an integer", body = ErrorBody),
        (status = 404, description = "No entry has this id", body = ErrorBody),
    )
)]
pub(crate) async fn remove_entry(
    State(s): State<AppState>,
    id: Result<Path<i64>, axum::extract::rejection::PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|e| {
        ApiError::bad_request(
            format!("invalid entry id: {}", e.body_text()),
            "use the integer `id` of an entry from GET /api/hotlists",
        )
    })?;
    let removed = blocking(&s, "removing a hotlist entry", move |st| {
        st.remove_hotlist_entry(id)
    })
    .await?;
    if removed {
        Ok(Json(json!({ "removed": id })))
    } else {
        Err(ApiError::not_found(format!(
            "no hotlist entry with id {id}"
        )))
    }
}

/// Body of `POST /api/hotlists`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewHotlist {
    /// 1-64 letters, digits, `-`, `_` or `.`.
    #[schema(example = "stolen")]
    name: String,
    #[serde(default)]
    description: String,
}

/// One entry of `POST /api/hotlists/{name}/entries` (or an array of them).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewEntry {
    /// The plate as written; spaces and dashes are ignored when matching.
    #[schema(example = "ABC 123")]
    plate: String,
    #[serde(default)]
    reason: String,
    /// Higher is more urgent.
    #[serde(default)]
    priority: i32,
    /// RFC 3339 or epoch ms; absent = never expires.
    #[serde(default)]
    expires: Option<String>,
    #[serde(default)]
    notes: String,
}

impl NewEntry {
    /// The plate as written (for the fuzz body of the API's JSON parsers).
    pub(crate) fn plate(&self) -> &str {
        &self.plate
    }
    pub(crate) fn expires(&self) -> Option<&str> {
        self.expires.as_deref()
    }
}

// Schemas mirroring the JSON answers (see docs.rs for why).

/// Ids of added entries.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub(crate) struct AddedEntries {
    ids: Vec<i64>,
}

/// A stored plate read.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[schema(as = PlateRead)]
pub(crate) struct PlateReadDoc {
    id: i64,
    camera: String,
    run_id: Option<i64>,
    /// Vehicle track; absent for a still image.
    track_id: Option<u64>,
    /// Epoch ms.
    first_seen: i64,
    last_seen: i64,
    /// `first_seen` as RFC 3339.
    time: String,
    /// Normalised plate (A-Z, 0-9).
    plate: String,
    raw_text: String,
    format: Option<String>,
    country: Option<String>,
    /// Confidence of the per-track vote, 0..1.
    confidence: f32,
    /// Reads combined by the vote.
    votes: u32,
    /// Reads equal to the voted text.
    agreeing: u32,
    /// `car`, `bus`, `truck`, `motorcycle`.
    vehicle_type: Option<String>,
    colour: Option<String>,
    plate_crop: Option<String>,
    vehicle_crop: Option<String>,
    frame: Option<String>,
    plate_crop_url: Option<String>,
    vehicle_crop_url: Option<String>,
    frame_url: Option<String>,
    /// Hotlist entries the read matched.
    hotlist_hits: u32,
    created: i64,
}

/// A page of plate reads.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
pub(crate) struct PlateReadsPage {
    reads: Vec<PlateReadDoc>,
    /// Pass as `offset` for the next page; null on the last page.
    next_offset: Option<usize>,
}

/// A hotlist entry.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[schema(as = HotlistEntry)]
pub(crate) struct HotlistEntryDoc {
    id: i64,
    hotlist_id: i64,
    list: String,
    plate: String,
    plate_norm: String,
    reason: String,
    priority: i32,
    /// Epoch ms; null = never.
    expires: Option<i64>,
    notes: String,
    created: i64,
}

/// A hotlist with its entries.
#[allow(dead_code)]
#[derive(Serialize, ToSchema)]
#[schema(as = Hotlist)]
pub(crate) struct HotlistDoc {
    id: i64,
    name: String,
    description: String,
    /// Number of entries.
    entries: u64,
    created: i64,
    /// The entries (in `GET /api/hotlists` only).
    items: Vec<HotlistEntryDoc>,
}
