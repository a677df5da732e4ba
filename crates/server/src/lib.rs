//! kuzet's HTTP API: cameras, events (queries and a live Server-Sent Events
//! stream), evidence images, health and Prometheus metrics.
//!
//! | Route | Answer |
//! |---|---|
//! | `GET /healthz` | `{"status":"ok","uptime_s":…,"version":…}`; 503 if the store cannot be read |
//! | `GET /metrics` | Prometheus text exposition |
//! | `GET /api/cameras` | live [`CameraStatus`] of configured cameras merged with stored camera rows (URL passwords masked) |
//! | `GET /api/events?camera=&kind=&since=&until=&limit=&before_id=` | `{"events":[…],"next_before_id":…}`, newest first |
//! | `GET /api/events/{id}` | one event |
//! | `GET /api/events/{id}/track` | the event's track (trajectory, seen interval) and every event of the same object |
//! | `GET /api/events/stream?camera=&kind=` | SSE: `event: <kind>`, `id: <id>`, `data: <json>`; honours `Last-Event-ID` |
//! | `GET /api/evidence/{hash}` | the evidence JPEG, cacheable forever |
//! | `GET /api/stats` | event counts by kind and camera |
//! | `GET /`, `GET /assets/{path}` | the situation centre web app (see [`web`]) |
//! | `GET /api/cameras/{id}/snapshot`, `/overlay`, `GET /api/map/cameras` | live pictures and locations for the app |
//! | `GET /api/openapi.json` | an OpenAPI 3 document of every route, schema and error ([`ApiDoc`]) |
//!
//! Errors are JSON, `{"error":…,"hint":…}`, with 400 for bad input and 404 for
//! unknown ids, hashes and routes.
//!
//! The server only reads: the pipeline writes events into the [`Store`] and
//! publishes live camera status through a closure, and this crate never depends
//! on the pipeline (the CLI wires the two together). Store calls are blocking
//! SQLite work, so handlers run them on tokio's blocking pool to keep the async
//! workers free for streaming.

mod agreement_api;
mod api;
mod auth_api;
mod authorisation_api;
mod config_api;
mod docs;
mod error;
pub mod faces_api;
pub mod fuzzing;
mod lock_api;
mod metrics;
pub mod plates_api;
pub mod policy;
mod privacy_api;
mod ptz_api;
mod release_api;
mod review_api;
pub mod security;
mod stream;
pub mod tls;
mod track_api;
pub mod transparency;
pub mod web;

pub use docs::{openapi_json_string, ApiDoc};
pub use metrics::{install_metrics_recorder, LATENCY_BUCKETS};
pub use web::{OverlayObject, SnapshotFn, SnapshotFrame};

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put, MethodRouter};
use axum::Router;
use base::{CameraStatus, Shutdown};
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::Store;
use tokio::sync::watch;
use tower_http::trace::TraceLayer;

/// Live camera status as the pipeline sees it, read on every `/api/cameras`.
pub type CameraStatusFn = Arc<dyn Fn() -> Vec<CameraStatus> + Send + Sync>;

/// How long in-flight requests may take to finish after shutdown is triggered
/// before the server drops them: a stuck client must not hold up a restart.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// How often [`serve`] looks at the (thread-oriented, condvar-based)
/// [`Shutdown`] flag; polling from one task is simpler than parking a thread
/// on it and costs nothing measurable.
const SHUTDOWN_POLL: Duration = Duration::from_millis(50);

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub store: Arc<Store>,
    pub cameras: CameraStatusFn,
    pub metrics: PrometheusHandle,
    pub started: Instant,
    /// Live events from the store, fanned out to SSE clients.
    pub feed: stream::Feed,
    /// Becomes true when the server is shutting down, so SSE streams (which
    /// would otherwise never end) finish and graceful shutdown can complete.
    pub closing: watch::Sender<bool>,
    /// Snapshots and caches of the web app.
    pub web: web::WebState,
    /// Face routes; unset = face functions disabled (403).
    pub faces: std::sync::OnceLock<faces_api::FaceApi>,
    /// Users, sessions and tokens; a default one over `store` unless set.
    pub auth: std::sync::OnceLock<Arc<auth::Auth>>,
    /// `[organisation] law_enforcement`: biometric routes need it.
    pub law_enforcement: std::sync::OnceLock<bool>,
    /// Mark the session cookie `Secure` (served over TLS).
    pub secure_cookies: std::sync::OnceLock<bool>,
    /// Camera id -> its groups, owner and agreement roles, for scoped users.
    pub camera_scopes: std::sync::OnceLock<security::CameraScopes>,
    /// Cameras shared by their owners, per agreement, for the transparency
    /// report.
    pub camera_sharing: std::sync::OnceLock<Vec<transparency::CameraSharing>>,
    /// The config file `kuzet serve` loaded; the zone/line editor writes it.
    pub config_file: std::sync::OnceLock<std::path::PathBuf>,
    /// Extra readiness checks (the bus ingest in distributed mode).
    pub readiness: std::sync::OnceLock<ReadinessFn>,
    /// Where the ingested data lives when it is not `store` (`kuzet serve
    /// --bus --database postgres://…`): the read routes answer from it.
    pub data: std::sync::OnceLock<Arc<dyn store::StoreBackend>>,
    /// Where workers' evidence lives when not in the store's evidence
    /// directory (`serve --bus --evidence s3://…`); the evidence route
    /// falls back to it.
    pub blobs: std::sync::OnceLock<Arc<dyn store::EvidenceBlobs>>,
    /// Applies an edited camera's zones and lines to the running pipeline.
    pub apply_camera: std::sync::OnceLock<ApplyCameraFn>,
    /// Hands panning fire cameras' reported positions to the pipeline.
    pub report_ptz: std::sync::OnceLock<PtzReportFn>,
    /// (actor, evidence hash) -> when its last `evidence.view` was audited
    /// (store clock, ms); see `AppState::audit_evidence_view`.
    pub evidence_views: std::sync::Mutex<std::collections::HashMap<(String, String), i64>>,
}

pub use ptz_api::PtzReportFn;

/// Hands an edited camera configuration to the running pipeline; `false`
/// when this process does not run that camera (a restart applies it then).
pub type ApplyCameraFn = Arc<dyn Fn(config::CameraConfig) -> bool + Send + Sync>;

/// Readiness beyond the store: `(ready, details)`, e.g. the bus connection
/// and the ingest's lag in distributed mode (docs/distributed.md).
pub type ReadinessFn = Arc<dyn Fn() -> (bool, serde_json::Value) + Send + Sync>;

impl AppState {
    /// `store` may be a `Store` or an `Arc<Store>` shared with the pipeline.
    /// Starts the thread that bridges the store's live event feed to async SSE
    /// clients; it stops when the last clone of this state is dropped.
    pub fn new(
        store: impl Into<Arc<Store>>,
        cameras: CameraStatusFn,
        metrics: PrometheusHandle,
    ) -> Self {
        let store = store.into();
        let feed = stream::Feed::start(store.subscribe());
        AppState {
            inner: Arc::new(Inner {
                store,
                cameras,
                metrics,
                started: Instant::now(),
                feed,
                closing: watch::Sender::new(false),
                web: web::WebState::default(),
                faces: std::sync::OnceLock::new(),
                auth: std::sync::OnceLock::new(),
                law_enforcement: std::sync::OnceLock::new(),
                secure_cookies: std::sync::OnceLock::new(),
                camera_scopes: std::sync::OnceLock::new(),
                camera_sharing: std::sync::OnceLock::new(),
                config_file: std::sync::OnceLock::new(),
                readiness: std::sync::OnceLock::new(),
                data: std::sync::OnceLock::new(),
                blobs: std::sync::OnceLock::new(),
                apply_camera: std::sync::OnceLock::new(),
                report_ptz: std::sync::OnceLock::new(),
                evidence_views: Default::default(),
            }),
        }
    }

    /// Uses this authentication service (session lifetimes, lockout policy)
    /// instead of the default one. Only the first call has an effect.
    pub fn with_auth(self, auth: Arc<auth::Auth>) -> Self {
        let _ = self.inner.auth.set(auth);
        self
    }

    /// Declares the organisation a law-enforcement body
    /// (`[organisation] law_enforcement`), without which biometric routes
    /// refuse everyone. Only the first call has an effect.
    pub fn with_law_enforcement(self, yes: bool) -> Self {
        let _ = self.inner.law_enforcement.set(yes);
        self
    }

    /// Marks session cookies `Secure` (when serving over TLS).
    pub fn with_secure_cookies(self, yes: bool) -> Self {
        let _ = self.inner.secure_cookies.set(yes);
        self
    }

    /// The camera groups of each configured camera, for users scoped to
    /// groups (a camera not listed is visible only to unscoped users).
    pub fn with_camera_groups(self, groups: security::CameraGroups) -> Self {
        self.with_camera_scopes(
            groups
                .into_iter()
                .map(|(id, groups)| {
                    let scope = security::CameraScope {
                        groups,
                        ..Default::default()
                    };
                    (id, scope)
                })
                .collect(),
        )
    }

    /// The data-sharing agreements behind the cameras, as the transparency
    /// report shows them (see [`transparency::camera_sharing`]).
    pub fn with_camera_sharing(self, sharing: Vec<transparency::CameraSharing>) -> Self {
        let _ = self.inner.camera_sharing.set(sharing);
        self
    }

    /// Each configured camera's groups, owner and the roles its owner's
    /// data-sharing agreement shares it with.
    pub fn with_camera_scopes(self, scopes: security::CameraScopes) -> Self {
        let _ = self.inner.camera_scopes.set(scopes);
        self
    }

    /// The authentication service.
    pub fn auth(&self) -> &Arc<auth::Auth> {
        self.inner.auth.get_or_init(|| {
            Arc::new(auth::Auth::new(
                self.inner.store.clone(),
                auth::SessionPolicy::default(),
                auth::LockoutPolicy::default(),
            ))
        })
    }

    pub(crate) fn law_enforcement(&self) -> bool {
        self.inner.law_enforcement.get().copied().unwrap_or(false)
    }

    pub(crate) fn secure_cookies(&self) -> bool {
        self.inner.secure_cookies.get().copied().unwrap_or(false)
    }

    /// Gives the API the latest analysed frame per camera, for
    /// `/api/cameras/{id}/snapshot` and `/overlay`. Without it both answer as if
    /// no frame had been analysed. Only the first call has an effect.
    pub fn with_snapshots(self, snapshots: SnapshotFn) -> Self {
        let _ = self.inner.web.snapshots.set(snapshots);
        self
    }

    /// Switches the face routes on.
    pub fn with_faces(self, faces: faces_api::FaceApi) -> Self {
        let _ = self.inner.faces.set(faces);
        self
    }

    /// Reads events, counts, cameras and plate reads from `data` (the
    /// central PostgreSQL of `serve --bus --database`) instead of the SQLite
    /// store, which keeps users, lists and the audit log. Reviews, locks,
    /// exports and event tracks follow the events into `data`.
    /// The live event stream then follows `data`'s commits; subscribing to
    /// them is the error this can return.
    pub fn with_data_backend(
        self,
        data: Arc<dyn store::StoreBackend>,
    ) -> Result<Self, store::StoreError> {
        let sub = data.subscribe_events()?;
        if self.inner.data.set(data).is_ok() {
            self.inner.feed.replace_source(sub);
        }
        Ok(self)
    }

    /// Serves evidence that is not in the store's evidence directory from
    /// `blobs` (object storage of `serve --bus --evidence`), after the same
    /// camera-scope checks. Only the first call has an effect.
    pub fn with_evidence_blobs(self, blobs: Arc<dyn store::EvidenceBlobs>) -> Self {
        let _ = self.inner.blobs.set(blobs);
        self
    }

    /// Whether the ingested data lives outside the SQLite store.
    pub(crate) fn data_elsewhere(&self) -> bool {
        self.inner.data.get().is_some()
    }

    /// The data plane: the configured backend, the SQLite store unless one
    /// was set.
    pub(crate) fn data(&self) -> Arc<dyn store::StoreBackend> {
        match self.inner.data.get() {
            Some(d) => d.clone(),
            None => self.inner.store.clone(),
        }
    }

    /// Runs a read of the data plane on a blocking thread, against the
    /// configured backend (the SQLite store unless one was set).
    pub(crate) async fn with_data<T: Send + 'static>(
        &self,
        context: &'static str,
        f: impl FnOnce(&dyn store::StoreBackend) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, error::ApiError> {
        self.with_data_rules(context, "check the request's parameters", f)
            .await
    }

    /// Like [`AppState::with_data`] for calls where the backend enforces a
    /// rule (reviews, locks): a refusal is 409 and bad input 400 with
    /// `invalid_hint`, the backend's text saying which rule either way.
    pub(crate) async fn with_data_rules<T: Send + 'static>(
        &self,
        context: &'static str,
        invalid_hint: &'static str,
        f: impl FnOnce(&dyn store::StoreBackend) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, error::ApiError> {
        let data = self.data();
        rule_result(
            context,
            invalid_hint,
            tokio::task::spawn_blocking(move || f(data.as_ref())).await,
        )
    }

    /// The bytes of evidence `hash` wherever it is kept: the SQLite store's
    /// directory (sealed face crops are opened), then the object storage
    /// workers' evidence goes to. Blocking; callers check access first.
    pub(crate) fn evidence_bytes_blocking(
        store: &Store,
        blobs: Option<&Arc<dyn store::EvidenceBlobs>>,
        hash: &str,
    ) -> Result<Option<Vec<u8>>, store::StoreError> {
        match store.evidence_bytes(hash) {
            Ok(Some(b)) => return Ok(Some(b)),
            Ok(None) => {}
            Err(store::StoreError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        match blobs {
            Some(b) => b.get(hash),
            None => Ok(None),
        }
    }

    /// Cameras whose rows in the data backend refer to evidence `hash`,
    /// when that backend is not the SQLite store (`serve --database`);
    /// empty otherwise, or when `needed` is false (an unscoped user). The
    /// evidence routes add them to the SQLite store's own links (face
    /// sightings and lists stay there) before applying a camera scope.
    pub(crate) async fn data_evidence_cameras(
        &self,
        hash: &str,
        needed: bool,
    ) -> Result<Vec<String>, error::ApiError> {
        if !needed || !self.data_elsewhere() {
            return Ok(Vec::new());
        }
        let hash = hash.to_owned();
        self.with_data("reading which cameras evidence belongs to", move |d| {
            d.evidence_cameras(&hash)
        })
        .await
    }

    /// Adds a readiness check to `/readyz` (e.g. the bus ingest is
    /// connected). Only the first call has an effect.
    pub fn with_readiness(self, check: ReadinessFn) -> Self {
        let _ = self.inner.readiness.set(check);
        self
    }

    /// The config file the server runs from, so the web app's zone and line
    /// editor can write it. Without it those routes answer 409.
    pub fn with_config_file(self, path: std::path::PathBuf) -> Self {
        let _ = self.inner.config_file.set(path);
        self
    }

    /// Lets the zone and line editor apply its edits to the running
    /// pipeline, without a restart. Only the first call has an effect.
    pub fn with_camera_apply(self, apply: ApplyCameraFn) -> Self {
        let _ = self.inner.apply_camera.set(apply);
        self
    }

    /// Lets panning fire cameras report where they point
    /// (`POST /api/cameras/{id}/ptz`). Only the first call has an effect.
    pub fn with_ptz_reports(self, report: PtzReportFn) -> Self {
        let _ = self.inner.report_ptz.set(report);
        self
    }

    /// The store the API reads.
    pub fn store(&self) -> &Arc<Store> {
        &self.inner.store
    }

    /// Ends live streams and makes [`serve`] stop accepting connections; what
    /// [`serve`] does when its `Shutdown` is triggered.
    pub fn begin_shutdown(&self) {
        self.inner.closing.send_replace(true);
    }

    /// Runs blocking store work on the blocking pool.
    pub(crate) async fn with_store<T, E>(
        &self,
        context: &'static str,
        f: impl FnOnce(&Store) -> Result<T, E> + Send + 'static,
    ) -> Result<T, error::ApiError>
    where
        T: Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let store = self.inner.store.clone();
        match tokio::task::spawn_blocking(move || f(&store)).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => Err(error::ApiError::internal(context, e)),
            Err(e) => Err(error::ApiError::internal(context, e)),
        }
    }

    /// Like [`AppState::with_store`] for calls where the store enforces a
    /// rule: a refusal (`StoreError::Refused`) is 409, bad input
    /// (`StoreError::Invalid`) is 400 with `invalid_hint`, the store's text
    /// saying which rule either way.
    pub(crate) async fn with_store_rules<T: Send + 'static>(
        &self,
        context: &'static str,
        invalid_hint: &'static str,
        f: impl FnOnce(&Store) -> Result<T, store::StoreError> + Send + 'static,
    ) -> Result<T, error::ApiError> {
        let store = self.inner.store.clone();
        rule_result(
            context,
            invalid_hint,
            tokio::task::spawn_blocking(move || f(&store)).await,
        )
    }
}

/// Maps a store call's result to the API's: a refusal
/// (`StoreError::Refused`) is 409, bad input (`StoreError::Invalid`) is 400
/// with `invalid_hint`, anything else 500.
fn rule_result<T>(
    context: &'static str,
    invalid_hint: &'static str,
    r: Result<Result<T, store::StoreError>, tokio::task::JoinError>,
) -> Result<T, error::ApiError> {
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(store::StoreError::Refused(m))) => {
            Err(error::ApiError::new(axum::http::StatusCode::CONFLICT, m))
        }
        Ok(Err(store::StoreError::Invalid(m))) => {
            Err(error::ApiError::bad_request(m, invalid_hint))
        }
        Ok(Err(e)) => Err(error::ApiError::internal(context, e)),
        Err(e) => Err(error::ApiError::internal(context, e)),
    }
}

/// Routes as they are registered, remembered so the policy can be checked
/// against them (every route must have a row in `policy.txt`).
struct Routes {
    router: Router<AppState>,
    list: Vec<(&'static str, &'static str)>,
}

impl Routes {
    fn add(mut self, method: &'static str, path: &'static str, r: MethodRouter<AppState>) -> Self {
        self.list.push((method, path));
        self.router = self.router.route(path, r);
        self
    }
}

fn routes() -> Routes {
    let photo = || DefaultBodyLimit::max(faces_api::MAX_PHOTO_BYTES);
    Routes {
        router: Router::new(),
        list: Vec::new(),
    }
    .add("GET", "/healthz", get(api::healthz))
    .add("GET", "/readyz", get(api::readyz))
    .add("GET", "/metrics", get(api::metrics))
    .add("GET", "/api/cameras", get(api::cameras))
    .add("GET", "/api/events", get(api::events))
    .add("GET", "/api/events/stream", get(stream::events_stream))
    .add("GET", "/api/events/{id}", get(api::event))
    .add("GET", "/api/events/{id}/track", get(track_api::event_track))
    .add("GET", "/api/evidence/{hash}", get(api::evidence))
    .add(
        "POST",
        "/api/evidence/{hash}/unmask",
        post(privacy_api::unmask),
    )
    .add("GET", "/api/stats", get(api::stats))
    .add("GET", "/api/cameras/{id}/snapshot", get(web::snapshot))
    .add("GET", "/api/cameras/{id}/overlay", get(web::overlay))
    .add("GET", "/api/map/cameras", get(web::map_cameras))
    .add("GET", "/api/openapi.json", get(docs::openapi_json))
    .add("POST", "/api/auth/login", post(auth_api::login))
    .add("POST", "/api/auth/logout", post(auth_api::logout))
    .add("GET", "/api/auth/me", get(auth_api::me))
    .add("GET", "/api/audit", get(auth_api::audit_log))
    .add("GET", "/api/users", get(auth_api::users))
    .add("POST", "/api/users", post(auth_api::add_user))
    .add("DELETE", "/api/users/{name}", delete(auth_api::remove_user))
    .add("GET", "/api/watchlists", get(faces_api::watchlists))
    .add(
        "POST",
        "/api/watchlists/{name}/persons",
        post(faces_api::enrol).layer(photo()),
    )
    .add(
        "DELETE",
        "/api/persons/{id}",
        delete(faces_api::remove_person),
    )
    .add(
        "POST",
        "/api/faces/identify",
        post(faces_api::identify).layer(photo()),
    )
    .add(
        "POST",
        "/api/faces/search",
        post(faces_api::search).layer(photo()),
    )
    .add(
        "POST",
        "/api/faces/lost",
        post(faces_api::lost).layer(photo()),
    )
    .add("GET", "/api/plates", get(plates_api::plates))
    .add("GET", "/api/hotlists", get(plates_api::hotlists))
    .add("POST", "/api/hotlists", post(plates_api::create_hotlist))
    .add(
        "POST",
        "/api/hotlists/{name}/entries",
        post(plates_api::add_entries),
    )
    .add(
        "DELETE",
        "/api/hotlist-entries/{id}",
        delete(plates_api::remove_entry),
    )
    .add(
        "GET",
        "/api/events/{id}/review",
        get(review_api::review_history),
    )
    .add("POST", "/api/events/{id}/review", post(review_api::review))
    .add("GET", "/api/events/{id}/export", get(release_api::export))
    .add(
        "POST",
        "/api/events/{id}/export/originals",
        post(release_api::export_originals),
    )
    .add(
        "PUT",
        "/api/owners/{id}/agreement",
        put(agreement_api::change),
    )
    .add("POST", "/api/events/{id}/lock", post(lock_api::lock))
    .add("DELETE", "/api/events/{id}/lock", delete(lock_api::unlock))
    .add(
        "POST",
        "/api/events/{id}/dispatch",
        post(release_api::dispatch),
    )
    .add("GET", "/api/stats/timeline", get(review_api::timeline))
    .add("GET", "/api/transparency", get(transparency::transparency))
    .add("GET", "/api/authorisations", get(authorisation_api::list))
    .add(
        "POST",
        "/api/authorisations",
        post(authorisation_api::request),
    )
    .add(
        "POST",
        "/api/authorisations/{id}/approve",
        post(authorisation_api::approve),
    )
    .add(
        "POST",
        "/api/authorisations/{id}/revoke",
        post(authorisation_api::revoke),
    )
    .add("POST", "/api/cameras/{id}/ptz", post(ptz_api::report))
    .add(
        "PUT",
        "/api/cameras/{id}/zones/{name}",
        put(config_api::put_zone),
    )
    .add(
        "DELETE",
        "/api/cameras/{id}/zones/{name}",
        delete(config_api::delete_zone),
    )
    .add(
        "PUT",
        "/api/cameras/{id}/lines/{name}",
        put(config_api::put_line),
    )
    .add(
        "DELETE",
        "/api/cameras/{id}/lines/{name}",
        delete(config_api::delete_line),
    )
    .add("GET", "/", get(web::index))
    .add("GET", "/transparency", get(web::transparency_page))
    .add("GET", "/assets/{*path}", get(web::asset))
}

/// Every registered route as (method, path pattern), for the route × role
/// test and the policy check.
pub fn registered_routes() -> Vec<(&'static str, &'static str)> {
    routes().list
}

/// The API's routes (see the crate docs), each behind the authorisation
/// middleware ([`security`]), with request tracing.
pub fn router(state: AppState) -> Router {
    let r = routes();
    for (m, p) in &r.list {
        let method = m.parse().unwrap_or(axum::http::Method::GET);
        if policy::policy().get(&method, p).is_none() {
            tracing::error!(
                method = m,
                path = p,
                "route has no row in the route policy; it will refuse everyone"
            );
        }
    }
    r.router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security::authorize,
        ))
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

/// Serves until `shutdown` is triggered, then shuts down gracefully: no new
/// connections are accepted, SSE streams end, and in-flight requests get
/// [`SHUTDOWN_GRACE`] to finish before they are dropped.
///
/// Signals are the caller's business (the CLI triggers `shutdown` for
/// pipeline threads too); [`trigger_on_signals`] is a ready-made helper.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    serve_on(listener, state, shutdown).await
}

/// Like [`serve`], over HTTPS only: connections are accepted once their TLS
/// handshake is done ([`tls::TlsListener`]), and the session cookie is
/// marked `Secure`.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: AppState,
    shutdown: Shutdown,
) -> anyhow::Result<()> {
    let listener = tls::TlsListener::new(listener, tls)?;
    serve_on(listener, state.with_secure_cookies(true), shutdown).await
}

async fn serve_on<L>(listener: L, state: AppState, shutdown: Shutdown) -> anyhow::Result<()>
where
    L: axum::serve::Listener<Addr = std::net::SocketAddr>,
{
    use axum::serve::ListenerExt;
    let local = listener.local_addr()?;
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move {
            while !shutdown.is_triggered() {
                tokio::time::sleep(SHUTDOWN_POLL).await;
            }
            state.begin_shutdown();
        })
    };
    let mut closing = state.inner.closing.subscribe();
    let mut closing2 = closing.clone();
    tracing::info!(%local, "HTTP API listening");
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    // `tap_io` (a no-op) gives every listener the peer address as connect
    // info, which the audit log and lockout use.
    let server = axum::serve(listener.tap_io(|_| {}), app).with_graceful_shutdown(async move {
        let _ = closing.wait_for(|c| *c).await;
        tracing::info!("HTTP API shutting down");
    });
    let result = tokio::select! {
        r = server => r.map_err(anyhow::Error::from),
        _ = async {
            let _ = closing2.wait_for(|c| *c).await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => {
            tracing::warn!(grace = ?SHUTDOWN_GRACE, "requests still running after the shutdown grace period; dropping them");
            Ok(())
        }
    };
    watcher.abort();
    result
}

/// Waits for SIGINT (Ctrl-C) or, on Unix, SIGTERM, then triggers `shutdown`.
/// Spawn it next to [`serve`] when nothing else handles signals.
pub async fn trigger_on_signals(shutdown: Shutdown) {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => tracing::info!("SIGINT received; shutting down"),
        _ = term => tracing::info!("SIGTERM received; shutting down"),
    }
    shutdown.trigger();
}
