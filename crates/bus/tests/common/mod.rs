//! A real `nats-server -js` on a free 127.0.0.1 port with a temporary store
//! directory (Debian package `nats-server`, installed by scripts/setup.sh),
//! killed when dropped. Shared by the bus's integration tests.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub url: String,
    _dir: tempfile::TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn nats_server() -> Server {
    let bin = ["/usr/sbin/nats-server", "/usr/bin/nats-server"]
        .into_iter()
        .find(|p| Path::new(p).is_file())
        .unwrap_or_else(|| {
            panic!(
                "nats-server not found: install the Debian package `nats-server` \
                 (scripts/setup.sh does it)"
            )
        });
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let t = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "nats-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Server {
        child,
        url: format!("nats://127.0.0.1:{port}"),
        _dir: dir,
    }
}

/// A store holding a fresh sealing key (face data is kept only sealed; a
/// worker holds none) and the central face service on it with the real
/// models, as `kuzet serve` opens them.
#[allow(dead_code)] // not every test binary of the crate uses faces
pub fn sealed_store_and_faces(
    dir: &Path,
) -> (
    std::sync::Arc<store::Store>,
    std::sync::Arc<faces::FaceService>,
) {
    sealed_store_and_faces_with(dir, None)
}

/// [`sealed_store_and_faces`] keeping the sightings in `central` (sealed
/// there under the store's key), as `kuzet serve --database` does.
#[allow(dead_code)]
pub fn sealed_store_and_faces_with(
    dir: &Path,
    central: Option<std::sync::Arc<store_pg::PgStore>>,
) -> (
    std::sync::Arc<store::Store>,
    std::sync::Arc<faces::FaceService>,
) {
    sealed_store_and_faces_keyed(
        dir,
        central,
        std::sync::Arc::new(store::SealKey::generate().0),
    )
}

/// [`sealed_store_and_faces_with`] under a given key: serve nodes sharing
/// one central database share its key.
#[allow(dead_code)]
pub fn sealed_store_and_faces_keyed(
    dir: &Path,
    central: Option<std::sync::Arc<store_pg::PgStore>>,
    key: std::sync::Arc<store::SealKey>,
) -> (
    std::sync::Arc<store::Store>,
    std::sync::Arc<faces::FaceService>,
) {
    use std::sync::Arc;
    base::env::require_models();
    let store = Arc::new(store::Store::open(dir).unwrap());
    store.set_seal_key(key.clone());
    if let Some(pg) = &central {
        pg.set_seal_key(key);
    }
    let svc = Arc::new(
        faces::FaceService::open_with_sightings(
            store.clone(),
            central.map(|c| c as Arc<dyn store::StoreBackend>),
            faces::FacePipeline::from_env(faces::FacePipelineConfig::default())
                .expect("face models"),
            Arc::new(base::SystemClock),
            faces::FaceServiceConfig::default(),
        )
        .unwrap(),
    );
    (store, svc)
}
