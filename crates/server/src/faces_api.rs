//! Face endpoints: watchlists, enrolment, identification, retrospective
//! search and lost-child mode.
//!
//! Photos are sent as the raw request body (`Content-Type: image/jpeg` or
//! `image/png`) with the other fields in the query string: one upload per
//! request keeps the handlers simple and streams no multipart parser over
//! untrusted input. The face models run on the blocking pool, never on the
//! async workers.
//!
//! Face functions are off unless the deployment switches them on (`[faces]
//! enabled = true`, allowed only with `[organisation] law_enforcement =
//! true`); until then every route here answers 403 saying so. Only the
//! investigator and supervisor roles reach them (the route policy).
//!
//! Every identification, search and lost-child call needs a typed `reason`
//! and is written to the audit log — with who, from where, the reason, the
//! scope and how many results — before its results are returned; if the audit
//! entry cannot be written, no results are returned. Watchlist changes are
//! audited the same way.

use crate::error::{ApiError, ErrorBody};
use crate::security::Remote;
use crate::AppState;
use auth::User;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use base::Timestamp;
use faces::{FaceService, FacesError};
use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Arc;
use store::{LegalBasis, NewAuditEntry, SightingQuery, WatchlistCategory};

/// Shortest accepted reason: enough for a case number and a word of why.
pub const MIN_REASON_CHARS: usize = 5;
/// Longest accepted reason.
pub const MAX_REASON_CHARS: usize = 500;

/// The typed justification every face search must carry.
fn require_reason(reason: &Option<String>) -> Result<String, ApiError> {
    let r = reason.as_deref().map(str::trim).unwrap_or("");
    let n = r.chars().count();
    if !(MIN_REASON_CHARS..=MAX_REASON_CHARS).contains(&n) {
        return Err(ApiError::bad_request(
            if n == 0 {
                "a reason is required for every face search".to_string()
            } else {
                format!("`reason` must be {MIN_REASON_CHARS} to {MAX_REASON_CHARS} characters")
            },
            "add `reason=` with the case number and why, e.g. reason=case%2042%2F2026%20robbery%20suspect; it is kept in the audit log",
        ));
    }
    Ok(r.to_owned())
}

/// [`require_reason`], auditing a refusal: an attempt without a reason is
/// itself worth knowing about.
async fn reason_or_refuse(
    s: &AppState,
    user: &User,
    remote: Remote,
    action: &'static str,
    reason: &Option<String>,
) -> Result<String, ApiError> {
    match require_reason(reason) {
        Ok(r) => Ok(r),
        Err(e) => {
            FaceAudit {
                user,
                remote,
                action,
                target: None,
                reason: reason.clone(),
            }
            .write(s, "refused", json!({ "error": e.body.error }))
            .await?;
            Err(e)
        }
    }
}

/// What an audited face call records.
struct FaceAudit<'a> {
    user: &'a User,
    remote: Remote,
    action: &'static str,
    target: Option<String>,
    reason: Option<String>,
}

impl FaceAudit<'_> {
    async fn write(self, s: &AppState, outcome: &str, details: Value) -> Result<(), ApiError> {
        s.audit(NewAuditEntry {
            actor: Some(self.user.actor()),
            remote: self.remote.text(),
            action: self.action.into(),
            target: self.target,
            reason: self.reason,
            outcome: outcome.into(),
            details,
        })
        .await
    }
}

/// Audits the result of a face call (outcome and a count), then hands the
/// result on; an unwritable audit entry turns the answer into an error.
async fn audited<T>(
    s: &AppState,
    a: FaceAudit<'_>,
    r: Result<T, ApiError>,
    count: impl FnOnce(&T) -> Value,
) -> Result<T, ApiError> {
    let (outcome, details) = match &r {
        Ok(v) => ("ok", count(v)),
        Err(e) => (
            "failed",
            json!({ "status": e.status.as_u16(), "error": e.body.error }),
        ),
    };
    a.write(s, outcome, details).await?;
    r
}

/// Largest accepted photo upload.
pub const MAX_PHOTO_BYTES: usize = 16 * 1024 * 1024;

/// Turns a camera/group list (`"gate,stadium"`) into camera ids.
pub type ResolveCamerasFn = Arc<dyn Fn(&str) -> Result<Vec<String>, String> + Send + Sync>;

/// What the face routes need.
#[derive(Clone)]
pub struct FaceApi {
    pub service: Arc<FaceService>,
    pub resolve_cameras: ResolveCamerasFn,
}

/// The face routes' service, or 403 while face functions are off.
pub(crate) fn face_api(s: &AppState) -> Result<FaceApi, ApiError> {
    service(s)
}

fn service(s: &AppState) -> Result<FaceApi, ApiError> {
    s.inner.faces.get().cloned().ok_or_else(|| {
        ApiError::new(StatusCode::FORBIDDEN, "face functions are disabled on this server")
            .with_hint("an administrator enables them with `[faces] enabled = true` in the config, where the law allows")
    })
}

fn decode_photo(body: &Bytes) -> Result<image::RgbImage, ApiError> {
    decode_upload(body)
}

/// Decodes an uploaded photo (what every face route does with its body);
/// public to the crate for the image-upload fuzz target.
pub(crate) fn decode_upload(body: &[u8]) -> Result<image::RgbImage, ApiError> {
    if body.is_empty() {
        return Err(ApiError::bad_request(
            "no photo in the request body",
            "send the JPEG or PNG file as the body, e.g. curl --data-binary @photo.jpg",
        ));
    }
    image::load_from_memory(body)
        .map(|i| i.to_rgb8())
        .map_err(|e| {
            ApiError::bad_request(
                format!("the body is not a readable image: {e}"),
                "send a JPEG or PNG file as the request body",
            )
        })
}

fn faces_error(context: &'static str, e: FacesError) -> ApiError {
    match e {
        FacesError::Refused { reason, .. } => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("photo refused: {reason}"),
        ),
        FacesError::Invalid(m) | FacesError::InvalidImage(m) => {
            ApiError::bad_request(m, "check the request's parameters")
        }
        FacesError::Store(store::StoreError::Invalid(m)) => {
            ApiError::bad_request(m, "check the request's parameters")
        }
        other => ApiError::internal(context, other),
    }
}

async fn blocking<T: Send + 'static>(
    context: &'static str,
    f: impl FnOnce() -> Result<T, FacesError> + Send + 'static,
) -> Result<T, ApiError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r.map_err(|e| faces_error(context, e)),
        Err(e) => Err(ApiError::internal(context, e)),
    }
}

fn parse_time(name: &str, v: &Option<String>) -> Result<Option<Timestamp>, ApiError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .map(|s| {
            Timestamp::parse(s).ok_or_else(|| {
                ApiError::bad_request(
                    format!("invalid `{name}`: {s:?}"),
                    "use RFC 3339 (2026-11-22T10:00:00Z) or epoch milliseconds",
                )
            })
        })
        .transpose()
}

/// Watchlists with their persons.
#[utoipa::path(
    get,
    path = "/api/watchlists",
    tag = "faces",
    responses(
        (status = 200, description = "Every watchlist with its persons", body = Vec<crate::docs::WatchlistWithPersons>),
        (status = 403, description = "Face functions are disabled", body = ErrorBody),
    )
)]
pub(crate) async fn watchlists(State(s): State<AppState>) -> Result<Json<Value>, ApiError> {
    let api = service(&s)?;
    let out = blocking("reading watchlists", move || {
        let st = api.service.face_data();
        let mut out = Vec::new();
        for w in st.watchlists()? {
            let persons = st.persons(Some(w.id))?;
            out.push(json!({"watchlist": w, "persons": persons}));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(Value::Array(out)))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct EnrolParams {
    /// The person's name.
    name: String,
    /// wanted, missing, debtor or custom; needed when the list is new, and
    /// must match an existing list's category.
    category: Option<String>,
    /// Enrol the largest face of a photo with several faces.
    #[serde(default)]
    largest: bool,
    notes: Option<String>,
    case_number: Option<String>,
    authority: Option<String>,
    /// Expiry of the entry (RFC 3339 or epoch ms); expired entries never match.
    expires: Option<String>,
}

/// Enrols a person from one photo (the request body).
#[utoipa::path(
    post,
    path = "/api/watchlists/{name}/persons",
    tag = "faces",
    params(
        ("name" = String, Path, description = "Watchlist name; created with the given category if new"),
        EnrolParams,
    ),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The photo (JPEG or PNG)"),
    responses(
        (status = 200, description = "The enrolled person", body = crate::docs::Person),
        (status = 400, description = "Bad parameters or not an image", body = ErrorBody),
        (status = 403, description = "Face functions are disabled", body = ErrorBody),
        (status = 422, description = "The photo was refused (no face, several faces, low quality)", body = ErrorBody),
    )
)]
pub(crate) async fn enrol(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Path(list): Path<String>,
    Query(p): Query<EnrolParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let a = FaceAudit {
        user: &user,
        remote,
        action: "watchlist.enrol",
        target: Some(format!("{list}/{}", p.name)),
        reason: p.case_number.clone(),
    };
    let r = enrol_inner(&s, list, p, body).await;
    audited(&s, a, r, |v| json!({ "person": v.0.get("id") })).await
}

async fn enrol_inner(
    s: &AppState,
    list: String,
    p: EnrolParams,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let api = service(s)?;
    let img = decode_photo(&body)?;
    let expires = parse_time("expires", &p.expires)?;
    let category = match &p.category {
        Some(c) => Some(c.parse::<WatchlistCategory>().map_err(|e| {
            ApiError::bad_request(e.to_string(), "use wanted, missing, debtor or custom")
        })?),
        None => None,
    };
    let person = blocking("enrolling a person", move || {
        let svc = &api.service;
        let st = svc.face_data();
        let wl = match (st.watchlist(&list)?, category) {
            (Some(w), Some(c)) if w.category != c => {
                return Err(FacesError::Invalid(format!(
                    "watchlist {list:?} has category {}, not {c}",
                    w.category
                )))
            }
            (Some(w), _) => w,
            (None, Some(c)) => {
                st.ensure_watchlist(&list, c, faces::DEFAULT_THRESHOLD, 0)?
                    .0
            }
            (None, None) => {
                return Err(FacesError::Invalid(format!(
                    "watchlist {list:?} does not exist: pass `category` to create it"
                )))
            }
        };
        let face = svc.enrolment_face(&img, p.largest)?;
        svc.enrol_faces(
            &wl,
            &p.name,
            p.notes.as_deref(),
            &LegalBasis {
                case_number: p.case_number,
                authority: p.authority,
                expires,
            },
            vec![face],
        )
    })
    .await?;
    Ok(Json(json!(person)))
}

/// Removes a person and all their templates.
#[utoipa::path(
    delete,
    path = "/api/persons/{id}",
    tag = "faces",
    params(("id" = i64, Path, description = "Person id")),
    responses(
        (status = 200, description = "Removed", body = Object),
        (status = 403, description = "Face functions are disabled", body = ErrorBody),
        (status = 404, description = "No such person", body = ErrorBody),
    )
)]
pub(crate) async fn remove_person(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, ApiError> {
    let a = FaceAudit {
        user: &user,
        remote,
        action: "watchlist.remove",
        target: Some(format!("person {id}")),
        reason: None,
    };
    let r = remove_person_inner(&s, id).await;
    audited(&s, a, r, |_| json!({})).await
}

async fn remove_person_inner(s: &AppState, id: i64) -> Result<Json<Value>, ApiError> {
    let api = service(s)?;
    let removed = blocking("removing a person", move || {
        let r = api.service.face_data().remove_person(id)?;
        // Make the gallery drop the person now.
        api.service.gallery()?;
        Ok(r)
    })
    .await?;
    if removed {
        Ok(Json(json!({"removed": id})))
    } else {
        Err(ApiError::not_found(format!("no person with id {id}")))
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct IdentifyParams {
    /// Candidates per face (default 5).
    top_k: Option<usize>,
    /// Why this search is made (case number and purpose); required, audited.
    reason: Option<String>,
    /// Id of the legal authorisation the identification rests on; required.
    /// It must be in effect (approved, or urgent within its window) and
    /// cover retrospective use; only the watchlists it covers are searched.
    authorisation: Option<i64>,
}

/// Every face of a photo with its watchlist candidates and decision, among
/// the lists the named authorisation covers.
#[utoipa::path(
    post,
    path = "/api/faces/identify",
    tag = "faces",
    params(IdentifyParams),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The photo (JPEG or PNG)"),
    responses(
        (status = 200, description = "Faces with candidates", body = crate::docs::IdentifyResult),
        (status = 400, description = "Not an image, no `reason` or no `authorisation`", body = ErrorBody),
        (status = 403, description = "Face functions are disabled, or the authorisation is unknown, not in effect or live-only", body = ErrorBody),
    )
)]
pub(crate) async fn identify(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Query(p): Query<IdentifyParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason_or_refuse(&s, &user, remote, "faces.identify", &p.reason).await?;
    let a = FaceAudit {
        user: &user,
        remote,
        action: "faces.identify",
        target: Some(format!(
            "authorisation={}",
            p.authorisation.map_or("-".into(), |a| a.to_string())
        )),
        reason: Some(reason),
    };
    let r = async {
        let api = service(&s)?;
        let img = decode_photo(&body)?;
        let auth = authorisation(&s, p.authorisation).await?;
        // In effect and for retrospective use, as for a sighting search; the
        // cameras do not matter (a photo, not footage).
        let now = s.inner.store.clock().now();
        auth.scope_search(now, &[], None, None)
            .map_err(not_covered)?;
        let k = p.top_k.unwrap_or(faces::DEFAULT_TOP_K).clamp(1, 50);
        let (id, actor) = (auth.id, user.name.clone());
        let found = blocking("identifying faces", move || {
            let allow = |list: &str, cat: store::WatchlistCategory| auth.covers_list(list, cat);
            let found = api.service.identify_lists(&img, k, &allow)?;
            api.service
                .store()
                .record_authorisation_use(id, &actor, "faces.identify", None)?;
            Ok(found)
        })
        .await?;
        Ok(Json(json!({ "faces": found, "authorisation": id })))
    }
    .await;
    audited(
        &s,
        a,
        r,
        |v| json!({ "faces": v.0["faces"].as_array().map_or(0, |a| a.len()) }),
    )
    .await
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SearchParams {
    /// Cameras or camera groups, comma-separated (default: all).
    cameras: Option<String>,
    /// Inclusive start (RFC 3339 or epoch ms).
    since: Option<String>,
    /// Exclusive end (RFC 3339 or epoch ms).
    until: Option<String>,
    /// Lowest similarity to report (default: the measured operating point).
    min_score: Option<f32>,
    /// Why this search is made (case number and purpose); required, audited.
    reason: Option<String>,
    /// Id of the legal authorisation the search rests on; required. Its
    /// scope must cover the cameras and time range (unnamed ones default to
    /// its scope).
    authorisation: Option<i64>,
}

/// "Where and when was this person seen?": sightings like the photo's
/// largest face, grouped into appearances.
#[utoipa::path(
    post,
    path = "/api/faces/search",
    tag = "faces",
    params(SearchParams),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The photo (JPEG or PNG)"),
    responses(
        (status = 200, description = "Appearances, best first", body = crate::docs::FaceSearchResult),
        (status = 400, description = "Bad parameters, not an image, or no `reason`", body = ErrorBody),
        (status = 403, description = "Face functions are disabled", body = ErrorBody),
        (status = 422, description = "No usable face in the photo", body = ErrorBody),
    )
)]
pub(crate) async fn search(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Query(p): Query<SearchParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason_or_refuse(&s, &user, remote, "faces.search", &p.reason).await?;
    let a = FaceAudit {
        user: &user,
        remote,
        action: "faces.search",
        target: Some(format!(
            "authorisation={} cameras={} since={} until={}",
            p.authorisation.map_or("-".into(), |a| a.to_string()),
            p.cameras.as_deref().unwrap_or("all"),
            p.since.as_deref().unwrap_or("-"),
            p.until.as_deref().unwrap_or("-")
        )),
        reason: Some(reason),
    };
    let visible = s.visible_cameras(&user);
    let r = search_inner(&s, &user, visible, p, body).await;
    audited(
        &s,
        a,
        r,
        |v| json!({ "appearances": v.0["appearances"].as_array().map_or(0, |a| a.len()) }),
    )
    .await
}

async fn search_inner(
    s: &AppState,
    user: &User,
    visible: Option<Vec<String>>,
    p: SearchParams,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let api = service(s)?;
    let auth = authorisation(s, p.authorisation).await?;
    let img = decode_photo(&body)?;
    let mut cameras = match p.cameras.as_deref().filter(|c| !c.trim().is_empty()) {
        Some(c) => (api.resolve_cameras)(c)
            .map_err(|e| ApiError::bad_request(e, "name configured camera ids or groups"))?,
        None => auth.cameras.clone(),
    };
    // A group-scoped user searches their own cameras only.
    if let Some(v) = visible {
        cameras.retain(|c| v.contains(c));
        if cameras.is_empty() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "none of these cameras is in your camera groups",
            ));
        }
    }
    let now = s.inner.store.clock().now();
    let (cameras, since, until) = auth
        .scope_search(
            now,
            &cameras,
            parse_time("since", &p.since)?,
            parse_time("until", &p.until)?,
        )
        .map_err(not_covered)?;
    let q = SightingQuery {
        cameras,
        since,
        until,
    };
    if let Some(m) = p.min_score {
        if !(-1.0..=1.0).contains(&m) {
            return Err(ApiError::bad_request(
                format!("invalid `min_score`: {m}"),
                "a cosine similarity between -1 and 1",
            ));
        }
    }
    let (id, actor) = (auth.id, user.name.clone());
    let r = blocking("searching sightings", move || {
        let r = api.service.search_photo(&img, &q, p.min_score)?;
        api.service
            .store()
            .record_authorisation_use(id, &actor, "faces.search", None)?;
        Ok(r)
    })
    .await?;
    let mut v = json!(r);
    v["authorisation"] = json!(auth.id);
    Ok(Json(v))
}

/// The authorisation a search names: 400 without one, 403 when unknown.
async fn authorisation(s: &AppState, id: Option<i64>) -> Result<store::Authorisation, ApiError> {
    let Some(id) = id else {
        return Err(ApiError::bad_request(
            "every face search must name the legal authorisation it rests on",
            "add `authorisation=ID` (GET /api/authorisations lists them); a supervisor records and approves authorisations",
        ));
    };
    let st = s.inner.store.clone();
    let found = tokio::task::spawn_blocking(move || st.authorisation(id))
        .await
        .map_err(|e| ApiError::internal("reading an authorisation", e))?
        .map_err(|e| ApiError::internal("reading an authorisation", e))?;
    found.ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!("no authorisation with id {id}"),
        )
        .with_hint("GET /api/authorisations lists them")
    })
}

/// A search outside the authorisation's scope (or one not in effect): 403.
fn not_covered(e: store::StoreError) -> ApiError {
    ApiError::new(StatusCode::FORBIDDEN, e.to_string()).with_hint(
        "search only the cameras, time window and lists the authorisation covers, while it is in effect",
    )
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct LostParams {
    /// Cameras or camera groups to watch, comma-separated.
    cameras: String,
    /// Minutes of past sightings to search now (default 30).
    minutes: Option<u32>,
    /// Name of the entry (default "lost child").
    name: Option<String>,
    /// Hours until the entry expires (default 12).
    expires_hours: Option<f32>,
    notes: Option<String>,
    /// Why (e.g. the report number of the missing child); required, audited.
    reason: Option<String>,
    /// Id of the legal authorisation; required. It must cover the cameras,
    /// the minutes searched and the lost-children (missing-person) list.
    authorisation: Option<i64>,
}

/// Lost-child mode: a temporary high-priority entry on the chosen cameras,
/// and an immediate search of their recent sightings.
#[utoipa::path(
    post,
    path = "/api/faces/lost",
    tag = "faces",
    params(LostParams),
    request_body(content = Vec<u8>, content_type = "image/jpeg", description = "The child's photo (JPEG or PNG)"),
    responses(
        (status = 200, description = "The temporary entry and recent appearances", body = crate::docs::LostResult),
        (status = 400, description = "Bad parameters, not an image, or no `reason`", body = ErrorBody),
        (status = 403, description = "Face functions are disabled", body = ErrorBody),
        (status = 422, description = "No usable face in the photo", body = ErrorBody),
    )
)]
pub(crate) async fn lost(
    State(s): State<AppState>,
    Extension(user): Extension<User>,
    Extension(remote): Extension<Remote>,
    Query(p): Query<LostParams>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let reason = reason_or_refuse(&s, &user, remote, "faces.lost", &p.reason).await?;
    let a = FaceAudit {
        user: &user,
        remote,
        action: "faces.lost",
        target: Some(format!(
            "authorisation={} cameras={}",
            p.authorisation.map_or("-".into(), |a| a.to_string()),
            p.cameras
        )),
        reason: Some(reason),
    };
    if let Some(v) = s.visible_cameras(&user) {
        let api = service(&s)?;
        let asked = (api.resolve_cameras)(&p.cameras)
            .map_err(|e| ApiError::bad_request(e, "name configured camera ids or groups"))?;
        if asked.iter().any(|c| !v.contains(c)) {
            let r = Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "some of these cameras are not in your camera groups",
            ));
            return audited(&s, a, r, |_: &Json<Value>| json!({})).await;
        }
    }
    let r = lost_inner(&s, &user, p, body).await;
    audited(
        &s,
        a,
        r,
        |v| json!({ "appearances": v.0["appearances"].as_array().map_or(0, |a| a.len()) }),
    )
    .await
}

async fn lost_inner(
    s: &AppState,
    user: &User,
    p: LostParams,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let api = service(s)?;
    let auth = authorisation(s, p.authorisation).await?;
    let img = decode_photo(&body)?;
    let cameras = (api.resolve_cameras)(&p.cameras)
        .map_err(|e| ApiError::bad_request(e, "name configured camera ids or groups"))?;
    if !auth.covers_list(faces::LOST_LIST, store::WatchlistCategory::Missing) {
        return Err(not_covered(store::StoreError::Refused(format!(
            "authorisation {} does not cover the missing-person list {:?}",
            auth.id,
            faces::LOST_LIST
        ))));
    }
    let hours = p.expires_hours.unwrap_or(12.0);
    if !(hours > 0.0 && hours <= 24.0 * 7.0) {
        return Err(ApiError::bad_request(
            format!("invalid `expires_hours`: {hours}"),
            "between 0 and 168 hours",
        ));
    }
    let minutes = p.minutes.unwrap_or(30).min(7 * 24 * 60);
    let now = s.inner.store.clock().now();
    let since = Timestamp::from_millis(now.millis() - i64::from(minutes) * 60_000);
    auth.scope_search(now, &cameras, Some(since), None)
        .map_err(not_covered)?;
    let name = p.name.unwrap_or_else(|| "lost child".into());
    let (id, actor) = (auth.id, user.name.clone());
    let r = blocking("starting lost-child mode", move || {
        let r = api.service.lost(
            &img,
            &name,
            cameras,
            minutes,
            (hours * 3_600_000.0) as i64,
            p.notes,
        )?;
        // Linked, so a lapse of an urgent authorisation removes the entry.
        api.service.store().record_authorisation_use(
            id,
            &actor,
            "faces.lost",
            Some(r.person.id),
        )?;
        Ok(r)
    })
    .await?;
    let mut v = json!(r);
    v["authorisation"] = json!(auth.id);
    Ok(Json(v))
}
