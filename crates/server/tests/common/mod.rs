//! Starting an in-process server for integration tests.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use auth::Role;
use base::Shutdown;
use kuzet_server::{install_metrics_recorder, serve, AppState, CameraStatusFn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use store::Store;

/// Password of every test user (`<role>` is the user name).
pub const PASSWORD: &str = "test-password";

/// The bearer token of the test user with `role`: fixed values, stored
/// hashed like any token, so a test's HTTP client can carry one without
/// asking the server first.
pub fn token(role: Role) -> String {
    format!("kzt_test_{role}")
}

/// The token most tests use: a supervisor sees everything but the audit log
/// and user management.
pub fn default_token() -> String {
    token(Role::Supervisor)
}

/// A user per role (named after it, password [`PASSWORD`]) with its token.
pub fn add_test_users(store: &Store) {
    for role in Role::ALL {
        let hash = auth::hash_password(PASSWORD).unwrap();
        let u = store
            .add_user(role.as_str(), role.as_str(), &[], &hash)
            .unwrap();
        store
            .add_token(
                &format!("test-{role}"),
                u.id,
                &auth::secret_hash(&token(role)),
            )
            .unwrap();
    }
}

/// A blocking client that sends `token` with every request and gives up
/// after `timeout` (a hung server fails the test instead of hanging it).
pub fn client_with(token: &str, timeout: Duration) -> reqwest::blocking::Client {
    let mut h = reqwest::header::HeaderMap::new();
    h.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::blocking::Client::builder()
        .timeout(timeout)
        .default_headers(h)
        .build()
        .unwrap()
}

pub struct Running {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    pub shutdown: Shutdown,
    pub thread: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// The face service over `store` with the real models and default settings
/// (needs `KUZET_MODELS`): what a law-enforcement test server enables.
pub fn face_service(store: &Arc<Store>) -> Arc<faces::FaceService> {
    let pipe = faces::FacePipeline::from_env(faces::FacePipelineConfig::default()).unwrap();
    Arc::new(
        faces::FaceService::open(
            store.clone(),
            pipe,
            Arc::new(base::SystemClock),
            faces::FaceServiceConfig::default(),
        )
        .unwrap(),
    )
}

/// Serves a fresh store (with one user and token per role, see
/// [`add_test_users`]) on 127.0.0.1 (any port); `customise` adds optional
/// parts (faces, snapshots) to the state before it starts.
pub fn start(
    cameras: CameraStatusFn,
    customise: impl FnOnce(AppState, &Arc<Store>) -> AppState,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
    // Face data is only stored sealed: a server always runs with a key.
    store.set_seal_key(Arc::new(store::SealKey::generate().0));
    add_test_users(&store);
    let state = customise(
        AppState::new(store.clone(), cameras, install_metrics_recorder()),
        &store,
    );
    let shutdown = Shutdown::new();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let sd = shutdown.clone();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
            addr_tx.send(listener.local_addr()?)?;
            serve(listener, state, sd).await
        })
    });
    let addr = addr_rx
        .recv_timeout(Duration::from_secs(10))
        .expect("server did not start");
    Running {
        addr,
        store,
        shutdown,
        thread: Some(thread),
        _dir: dir,
    }
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown.trigger();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
