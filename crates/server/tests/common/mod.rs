//! Starting an in-process server for integration tests.

// Each test binary compiles this module and uses a different part of it.
#![allow(dead_code)]

use base::Shutdown;
use kuzet_server::{install_metrics_recorder, serve, AppState, CameraStatusFn};
use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use store::Store;

pub struct Running {
    pub addr: SocketAddr,
    pub store: Arc<Store>,
    pub shutdown: Shutdown,
    pub thread: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

/// Serves a fresh store on 127.0.0.1 (any port); `customise` adds optional
/// parts (faces, snapshots) to the state before it starts.
pub fn start(
    cameras: CameraStatusFn,
    customise: impl FnOnce(AppState, &Arc<Store>) -> AppState,
) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path()).unwrap());
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
