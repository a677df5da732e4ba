//! `GET /api/openapi.json`: the API described as an OpenAPI 3 document,
//! generated at compile time by `utoipa` from the handlers'
//! `#[utoipa::path]` attributes and the schema types below.
//!
//! Most answers are built as `serde_json` values or come from types of other
//! crates (`base::Event`, `base::CameraStatus`, `store::Counts`), which cannot
//! derive `ToSchema` here; the structs in this module mirror the JSON those
//! handlers produce, field by field. They exist only to be described and are
//! never built, hence the `dead_code` allowance. The API tests check the
//! document against the router, so a route cannot be added undocumented.

#![allow(dead_code)]

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use std::collections::BTreeMap;
use std::sync::OnceLock;
use utoipa::{OpenApi, ToSchema};

/// The document, listing every route of [`crate::router`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "kuzet API",
        version = env!("CARGO_PKG_VERSION"),
        description = "HTTP API of kuzet, the CCTV analytics server: cameras, \
            events (queries and a live Server-Sent Events stream), evidence images, \
            live snapshots and overlays, face functions (law enforcement only), the \
            audit log, users, health and Prometheus metrics. Every route except the \
            public ones needs a session cookie (POST /api/auth/login) or an API token \
            (`Authorization: Bearer`); which roles may call a route is listed in its \
            description and enforced from the server's route policy. Every error \
            answers JSON `{\"error\": \"...\", \"hint\": \"...\"}` (schema `ApiError`).",
        license(name = "see the kuzet repository")
    ),
    paths(
        crate::api::healthz,
        crate::api::readyz,
        crate::api::metrics,
        crate::api::cameras,
        crate::api::events,
        crate::stream::events_stream,
        crate::api::event,
        crate::track_api::event_track,
        crate::api::evidence,
        crate::privacy_api::unmask,
        crate::api::stats,
        crate::web::live::snapshot,
        crate::web::live::overlay,
        crate::web::live::map_cameras,
        crate::web::assets::index,
        crate::web::assets::transparency_page,
        crate::web::assets::asset,
        openapi_json,
        crate::faces_api::watchlists,
        crate::faces_api::enrol,
        crate::faces_api::remove_person,
        crate::faces_api::identify,
        crate::faces_api::search,
        crate::faces_api::lost,
        crate::auth_api::login,
        crate::auth_api::logout,
        crate::auth_api::me,
        crate::auth_api::audit_log,
        crate::auth_api::users,
        crate::auth_api::add_user,
        crate::auth_api::remove_user,
        crate::review_api::review,
        crate::review_api::review_history,
        crate::review_api::timeline,
        crate::authorisation_api::list,
        crate::release_api::export,
        crate::release_api::export_originals,
        crate::release_api::dispatch,
        crate::lock_api::lock,
        crate::agreement_api::change,
        crate::lock_api::unlock,
        crate::authorisation_api::request,
        crate::authorisation_api::approve,
        crate::authorisation_api::revoke,
        crate::transparency::transparency,
        crate::ptz_api::report,
        crate::config_api::put_zone,
        crate::config_api::delete_zone,
        crate::config_api::put_line,
        crate::config_api::delete_line,
    ),
    modifiers(&Security),
    components(schemas(
        crate::error::ErrorBody,
        Health,
        Event,
        EventsPage,
        BBox,
        CameraState,
        CameraStatus,
        Stats,
        Overlay,
        OverlayObject,
        CameraMap,
        CameraFeature,
        PointGeometry,
        CameraFeatureProperties,
        Watchlist,
        Person,
        WatchlistWithPersons,
        FaceCandidate,
        IdentifiedFace,
        IdentifyResult,
        Sighting,
        Appearance,
        FaceSearchResult,
        LostResult,
        Me,
        AuditEntry,
        AuditAnchor,
        AuditPage,
        UserInfo,
        crate::auth_api::LoginBody,
        crate::auth_api::NewUserBody,
        crate::review_api::ReviewRequest,
        crate::authorisation_api::AuthorisationRequest,
        crate::authorisation_api::RevokeRequest,
        crate::release_api::DispatchRequest,
        crate::lock_api::LockRequest,
        crate::agreement_api::AgreementChangeRequest,
        EventLock,
        crate::privacy_api::UnmaskRequest,
        crate::release_api::ExportOriginalsRequest,
        crate::ptz_api::PtzBody,
        crate::config_api::ZoneBody,
        crate::config_api::LineBody,
    )),
    tags(
        (name = "system", description = "Health, metrics and this document"),
        (name = "cameras", description = "Configured and stored cameras, live pictures"),
        (name = "events", description = "Analytics events and their evidence"),
        (name = "owners", description = "Camera owners' data-sharing agreements"),
        (name = "web app", description = "The situation centre single-page app"),
        (name = "faces", description = "Face watchlists, identification, retrospective search and lost-child mode (off unless enabled)"),
        (name = "auth", description = "Login, logout and the current user"),
        (name = "audit", description = "The hash-chained audit log (auditor role)"),
        (name = "users", description = "User management (admin role)"),
        (name = "config", description = "Zones and lines written into the config file (applied at the next start)"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes, and to every route that is not public the
/// security requirement, the roles allowed (from the route policy) and the
/// 401/403 answers: the policy table stays the one place that says who may
/// call what.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
        };
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let comps = api.components.get_or_insert_with(Default::default);
        comps.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::security::SESSION_COOKIE,
                "Session cookie set by POST /api/auth/login (HttpOnly, SameSite=Strict)",
            ))),
        );
        comps.add_security_scheme(
            "token",
            SecurityScheme::Http({
                let mut h = Http::new(HttpAuthScheme::Bearer);
                h.description = Some("An API token from `kuzet token create`".into());
                h
            }),
        );
        let error = |what: &str| {
            ResponseBuilder::new()
                .description(what)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ApiError")))
                        .build(),
                )
                .build()
        };
        let policy = crate::policy::policy();
        for (path, item) in api.paths.paths.iter_mut() {
            let ops = [
                (axum::http::Method::GET, item.get.as_mut()),
                (axum::http::Method::POST, item.post.as_mut()),
                (axum::http::Method::PUT, item.put.as_mut()),
                (axum::http::Method::PATCH, item.patch.as_mut()),
                (axum::http::Method::DELETE, item.delete.as_mut()),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                // The router's catch-all `{*path}` is `{path}` in OpenAPI.
                let rule = policy
                    .get(&method, path)
                    .or_else(|| policy.get(&method, &path.replace('{', "{*")));
                let Some(rule) = rule else { continue };
                if rule.public {
                    continue;
                }
                let roles: Vec<&str> = rule.roles.iter().map(|r| r.as_str()).collect();
                let mut who = format!("Roles: {}.", roles.join(", "));
                if rule.biometric {
                    who.push_str(
                        " Biometric: only where `[organisation] law_enforcement` and \
                         `[faces] enabled` are set.",
                    );
                }
                op.description = Some(match op.description.take() {
                    Some(d) => format!("{d}\n\n{who}"),
                    None => who,
                });
                op.security = Some(vec![
                    SecurityRequirement::new("session", Vec::<String>::new()),
                    SecurityRequirement::new("token", Vec::<String>::new()),
                ]);
                let r = &mut op.responses.responses;
                r.entry("401".into()).or_insert_with(|| {
                    error("Not logged in: no valid session cookie or token").into()
                });
                r.entry("403".into()).or_insert_with(|| {
                    error("The caller's role may not use this route (or face functions are off)")
                        .into()
                });
            }
        }
    }
}

/// The document as JSON, built once.
pub fn openapi_json_string() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        let mut doc = ApiDoc::openapi().merge_from(crate::plates_api::PlatesDoc::openapi());
        // The merged parts get their roles, 401/403 and security schemes too
        // (the modifier only overwrites or fills in, so a second pass is harmless).
        utoipa::Modify::modify(&Security, &mut doc);
        doc.to_pretty_json()
            .expect("the OpenAPI document serialises")
    })
}

/// This OpenAPI document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "system",
    responses(
        (status = 200, description = "The OpenAPI 3 document describing every route", content_type = "application/json", body = Object),
    )
)]
pub(crate) async fn openapi_json() -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        openapi_json_string(),
    )
        .into_response()
}

/// `GET /healthz`.
#[derive(ToSchema)]
pub struct Health {
    /// `ok`, or `unavailable` (with status 503) when the event store cannot be read.
    #[schema(example = "ok")]
    pub status: String,
    /// Seconds since the server started.
    pub uptime_s: f64,
    /// The server's version.
    #[schema(example = "0.1.0")]
    pub version: String,
    /// Only when unavailable.
    pub error: Option<String>,
    /// Only when unavailable: what to look at.
    pub hint: Option<String>,
}

/// A bounding box in pixels of the camera frame.
#[derive(ToSchema)]
pub struct BBox {
    pub x1: f32,
    pub y1: f32,
    pub x2: f32,
    pub y2: f32,
}

/// An analytics event, as `/api/events`, `/api/events/{id}` and the live
/// stream return it.
#[derive(ToSchema)]
pub struct Event {
    /// Assigned by the store; positive, increasing with commit order.
    #[schema(minimum = 1, example = 42)]
    pub id: i64,
    /// Camera id.
    #[schema(example = "gate")]
    pub camera: String,
    /// Event kind, e.g. `zone_enter`, `zone_exit`, `dwell`, `line_cross`, `count`.
    #[schema(example = "line_cross")]
    pub kind: String,
    /// When it happened, epoch milliseconds (UTC).
    #[schema(example = 1_700_000_000_000_i64)]
    pub ts: i64,
    /// `ts` as RFC 3339.
    #[schema(format = DateTime, example = "2023-11-14T22:13:20Z")]
    pub time: String,
    /// Tracker id of the object, when the event concerns one.
    pub track_id: Option<u64>,
    /// Object class, e.g. `person`.
    pub label: Option<String>,
    /// Name of the zone or line the rule belongs to.
    pub rule: Option<String>,
    pub bbox: Option<BBox>,
    /// Detector confidence, 0..1.
    pub score: f32,
    /// Kind-specific values (dwell seconds, direction, counts…). Evidence
    /// beyond the crop is named here by hash: `frame_evidence` (the whole
    /// frame), `evidence_package` (offences), and `clip` once its seconds
    /// after the event have been recorded: `{hash, mime: "video/mp4",
    /// duration_ms, frames, width, height, bytes, start_ts, masked_frames,
    /// encode_ms}`, served by `/api/evidence/{hash}`.
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// SHA-256 (64 lowercase hex digits) of the evidence JPEG, when one was saved.
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub evidence: Option<String>,
    /// `/api/evidence/{evidence}`, when there is evidence.
    pub evidence_url: Option<String>,
    /// Present when the event is locked for a case: retention keeps it and
    /// what it refers to (`/api/events` and `/api/events/{id}` only).
    pub lock: Option<EventLock>,
    /// Hashes of this event's images (`evidence`, `details.frame_evidence`)
    /// with bystanders masked and the original kept sealed, so
    /// `POST /api/evidence/{hash}/unmask` can show it (`/api/events/{id}`
    /// only).
    pub masked_evidence: Option<Vec<String>>,
}

/// An evidence lock (`POST /api/events/{id}/lock`).
#[derive(ToSchema)]
pub struct EventLock {
    pub event_id: i64,
    /// The case the event is material of.
    pub case_ref: String,
    pub reason: String,
    /// User who locked it.
    pub locked_by: String,
    /// When, epoch milliseconds.
    pub locked: i64,
}

/// One page of `/api/events`, newest first.
#[derive(ToSchema)]
pub struct EventsPage {
    pub events: Vec<Event>,
    /// Pass as `before_id` to get the next (older) page; null on the last page.
    pub next_before_id: Option<i64>,
}

/// What a camera is doing. `unconfigured` marks cameras known only from the
/// database (they have history but are not running).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum CameraState {
    Connecting,
    Online,
    /// Lost the stream; reconnecting with backoff.
    Reconnecting,
    /// A file source reached its end.
    Finished,
    Failed,
    Stopped,
    Unconfigured,
}

/// A camera of `/api/cameras`: live status of a configured camera merged with
/// its stored row, or (with `configured: false`) a stored camera that is no
/// longer configured, which has only the identity fields and timestamps.
#[derive(ToSchema)]
pub struct CameraStatus {
    pub id: String,
    pub name: String,
    /// Source URL with any password masked as `***`.
    #[schema(example = "rtsp://admin:***@10.0.0.5:554/stream1")]
    pub url: String,
    pub state: CameraState,
    /// Whether the camera is in the running configuration.
    pub configured: bool,
    /// Frames analysed per second over the last few seconds (configured cameras).
    pub fps: Option<f32>,
    pub frames: Option<u64>,
    /// Frames dropped by the bounded queue under overload.
    pub dropped: Option<u64>,
    pub queue_depth: Option<u64>,
    pub reconnects: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    /// Time of the last analysed frame, epoch milliseconds.
    pub last_frame: Option<i64>,
    /// `last_frame` as RFC 3339.
    #[schema(format = DateTime)]
    pub last_frame_time: Option<String>,
    pub last_error: Option<String>,
    /// When the camera was first stored, RFC 3339.
    #[schema(format = DateTime)]
    pub created: Option<String>,
    /// When its stored row last changed, RFC 3339.
    #[schema(format = DateTime)]
    pub updated: Option<String>,
}

/// `/api/stats`: totals in the store.
#[derive(ToSchema)]
pub struct Stats {
    pub events: u64,
    /// Event count per kind.
    pub by_kind: BTreeMap<String, u64>,
    /// Event count per camera id.
    pub by_camera: BTreeMap<String, u64>,
    pub cameras: u64,
    pub tracks: u64,
    pub runs: u64,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
}

/// A tracked object on the latest analysed frame.
#[derive(ToSchema)]
pub struct OverlayObject {
    pub track_id: u64,
    pub label: String,
    pub score: f32,
    /// `[x1, y1, x2, y2]` normalised to 0..1 of the frame.
    #[schema(rename = "box", min_items = 4, max_items = 4)]
    pub bbox: Vec<f32>,
}

/// `/api/cameras/{id}/overlay`: what to draw over the snapshot.
#[derive(ToSchema)]
pub struct Overlay {
    pub camera: String,
    /// Always `normalised`: coordinates are fractions of the frame, 0..1.
    #[schema(example = "normalised")]
    pub coords: String,
    /// Frame size in pixels; 0 when unknown.
    pub width: u32,
    pub height: u32,
    /// Whether a snapshot of the camera exists (the objects are from it).
    pub snapshot: bool,
    /// Time of the snapshot frame, epoch milliseconds.
    pub ts: Option<i64>,
    /// `ts` as RFC 3339.
    #[schema(format = DateTime)]
    pub time: Option<String>,
    pub objects: Vec<OverlayObject>,
    /// Configured zones: `name`, `polygon` (normalised points), `classes`.
    #[schema(value_type = Vec<Object>)]
    pub zones: Vec<serde_json::Value>,
    /// Configured lines: `name`, `from`, `to`, `direction`, `classes`.
    #[schema(value_type = Vec<Object>)]
    pub lines: Vec<serde_json::Value>,
}

/// `/api/map/cameras`: cameras with a configured location, as GeoJSON.
#[derive(ToSchema)]
pub struct CameraMap {
    /// Always `FeatureCollection`.
    #[schema(rename = "type", example = "FeatureCollection")]
    pub kind: String,
    pub features: Vec<CameraFeature>,
}

/// A GeoJSON feature: one camera.
#[derive(ToSchema)]
pub struct CameraFeature {
    /// Always `Feature`.
    #[schema(rename = "type", example = "Feature")]
    pub kind: String,
    pub geometry: PointGeometry,
    pub properties: CameraFeatureProperties,
}

/// A GeoJSON point.
#[derive(ToSchema)]
pub struct PointGeometry {
    /// Always `Point`.
    #[schema(rename = "type", example = "Point")]
    pub kind: String,
    /// `[longitude, latitude]` in degrees (WGS 84).
    #[schema(min_items = 2, max_items = 2)]
    pub coordinates: Vec<f64>,
}

/// A camera on the map.
#[derive(ToSchema)]
pub struct CameraFeatureProperties {
    pub id: String,
    pub name: String,
    pub state: CameraState,
    /// Null when the camera is not running.
    pub fps: Option<f32>,
}

/// A JPEG image.
#[derive(ToSchema)]
#[schema(value_type = String, format = Binary)]
pub struct Jpeg(Vec<u8>);

/// A face watchlist.
#[derive(ToSchema)]
pub struct Watchlist {
    pub id: i64,
    #[schema(example = "wanted-2026")]
    pub name: String,
    /// wanted, missing, debtor or custom.
    #[schema(example = "wanted")]
    pub category: String,
    /// Cosine similarity at or above which a candidate matches.
    #[schema(example = 0.45)]
    pub threshold: f32,
    /// Higher first when several lists match one face.
    pub priority: i64,
    /// Epoch milliseconds.
    pub created: i64,
}

/// The legal basis of an entry.
#[derive(ToSchema)]
pub struct LegalBasis {
    pub case_number: Option<String>,
    pub authority: Option<String>,
    /// Epoch milliseconds; expired entries never match.
    pub expires: Option<i64>,
}

/// An enrolled person.
#[derive(ToSchema)]
pub struct Person {
    pub id: i64,
    pub watchlist_id: i64,
    pub watchlist: String,
    pub name: String,
    pub notes: Option<String>,
    pub legal: LegalBasis,
    pub created: i64,
    /// Face templates stored.
    pub templates: u64,
    /// Cameras the entry may match on; null = all.
    pub cameras: Option<Vec<String>>,
    /// A temporary (lost-child) entry.
    pub temporary: bool,
}

/// `GET /api/watchlists` item.
#[derive(ToSchema)]
pub struct WatchlistWithPersons {
    pub watchlist: Watchlist,
    pub persons: Vec<Person>,
}

/// A watchlist person close to a face.
#[derive(ToSchema)]
pub struct FaceCandidate {
    pub person_id: i64,
    pub person_name: String,
    pub watchlist: String,
    pub category: String,
    pub priority: i64,
    pub threshold: f32,
    /// Cosine similarity.
    pub score: f32,
    pub template_id: i64,
    /// Score minus the next candidate's.
    pub margin: Option<f32>,
    pub is_match: bool,
}

/// One face of an identification.
#[derive(ToSchema)]
pub struct IdentifiedFace {
    /// Detector box and 5 landmarks.
    pub face: Object,
    /// Size, sharpness, pose, liveness.
    pub quality: Object,
    /// Why the face failed the quality gate (empty = passed).
    pub rejected: Vec<String>,
    /// Candidates and decision; null for faces below the gate.
    pub search: Option<Object>,
}

/// `POST /api/faces/identify`.
#[derive(ToSchema)]
pub struct IdentifyResult {
    /// Candidates come only from the watchlists the authorisation covers.
    pub faces: Vec<IdentifiedFace>,
    /// The authorisation the identification rested on.
    pub authorisation: i64,
}

/// A stored face sighting.
#[derive(ToSchema)]
pub struct Sighting {
    pub id: i64,
    pub camera: String,
    /// Epoch milliseconds.
    pub ts: i64,
    /// The run that saw it (track ids restart with each run).
    pub run_id: Option<i64>,
    pub track_id: Option<u64>,
    pub model: String,
    pub bbox: BBox,
    pub quality: f32,
    /// Evidence hash of the face crop (`/api/evidence/{hash}`).
    pub crop: Option<String>,
    pub matched_person: Option<i64>,
}

/// Consecutive sightings on one camera.
#[derive(ToSchema)]
pub struct Appearance {
    pub camera: String,
    pub first_seen: i64,
    pub last_seen: i64,
    pub best_score: f32,
    pub best: Sighting,
    pub sightings: usize,
    pub track_ids: Vec<u64>,
}

/// `POST /api/faces/search`.
#[derive(ToSchema)]
pub struct FaceSearchResult {
    /// The probe face.
    pub face: Object,
    pub appearances: Vec<Appearance>,
    /// Sightings within the filters.
    pub indexed: usize,
    /// Present when this installation does not keep every face it sees
    /// (e.g. `[faces] store_unmatched_sightings = false`): an empty result
    /// then does not mean "not seen".
    pub notice: Option<String>,
    /// The authorisation the search rested on.
    pub authorisation: i64,
}

/// `POST /api/faces/lost`.
#[derive(ToSchema)]
pub struct LostResult {
    pub person: Person,
    pub appearances: Vec<Appearance>,
}

/// Any JSON object.
#[derive(ToSchema)]
pub struct Object {}

/// `GET /api/auth/me` and a successful login.
#[derive(ToSchema)]
pub struct Me {
    #[schema(example = "ann")]
    pub name: String,
    /// viewer, operator, investigator, supervisor, auditor or admin.
    #[schema(example = "viewer")]
    pub role: String,
    /// Camera groups the user may see; empty = every camera.
    pub groups: Vec<String>,
    /// Camera owners whose cameras the user may see; empty = any owner's.
    pub owners: Vec<String>,
    /// `{"kind":"session"}` or `{"kind":"token","name":…}`.
    #[schema(value_type = Object)]
    pub via: serde_json::Value,
    /// Whether face functions are available to this user here.
    pub biometric: bool,
}

/// One audit-log entry.
#[derive(ToSchema)]
pub struct AuditEntry {
    /// Position in the chain, from 1, without gaps.
    pub seq: i64,
    /// Epoch milliseconds.
    pub ts: i64,
    /// User (or `user/token:NAME`); null when the caller was not authenticated.
    pub actor: Option<String>,
    pub remote: Option<String>,
    /// e.g. `auth.login`, `http.forbidden`, `faces.search`, `user.add`.
    pub action: String,
    pub target: Option<String>,
    /// The typed reason given for a face search.
    pub reason: Option<String>,
    /// `ok`, `failed`, `denied`, `locked`, …
    pub outcome: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
    /// `hash` of the entry before (64 zeros for the first).
    pub prev_hash: String,
    /// SHA-256 over this entry's canonical form, `prev_hash` included.
    pub hash: String,
}

/// The newest entry's number and hash, for an external witness.
#[derive(ToSchema)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: String,
}

/// One page of `/api/audit`, newest first.
#[derive(ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before_seq` for the next (older) page; null on the last page.
    pub next_before_seq: Option<i64>,
    pub head: Option<AuditAnchor>,
}

/// A user, as admins see it (never the password hash).
#[derive(ToSchema)]
pub struct UserInfo {
    pub id: i64,
    pub name: String,
    pub role: String,
    pub groups: Vec<String>,
    pub owners: Vec<String>,
    /// Epoch milliseconds.
    pub created: i64,
    pub updated: i64,
}
