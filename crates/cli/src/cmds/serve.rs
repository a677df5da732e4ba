use super::{models_dir, open_store};
use anyhow::{bail, Context, Result};
use base::{Shutdown, SystemClock};
use pipeline::{Engine, EngineOptions, Mode};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: super::Common,
    /// Address to serve the API on (default: the config's `listen`, else 127.0.0.1:8080).
    #[arg(long)]
    pub listen: Option<String>,
    /// Distributed mode: store what `kuzet worker`s publish on this bus
    /// (e.g. nats://127.0.0.1:4222) instead of running the cameras here.
    #[arg(long, env = "KUZET_BUS")]
    pub bus: Option<String>,
    /// With --bus: store what the workers produce (cameras, runs, events,
    /// tracks, plate reads, alerts) in this PostgreSQL database
    /// (postgres://user:password@host:port/database) instead of the SQLite
    /// store in the data directory, which keeps users, hotlists, watchlists
    /// and the API's audit log. Evidence stays in <data-dir>/evidence.
    #[arg(long, env = "KUZET_DATABASE")]
    pub database: Option<String>,
    /// With --bus: keep the evidence images workers publish in S3-compatible
    /// object storage (s3://bucket or s3://bucket/prefix) instead of
    /// <data-dir>/evidence. Credentials, region and endpoint come from
    /// AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION (default
    /// us-east-1) and AWS_ENDPOINT_URL (MinIO, Ceph RGW, Garage…). Face
    /// crops stay on this node, sealed.
    #[arg(long, env = "KUZET_EVIDENCE")]
    pub evidence: Option<String>,
}

/// `url` with its password replaced by `***`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_owned();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!(
            "{}{}:***{}",
            &url[..scheme_end + 3],
            &rest[..colon],
            &rest[at..]
        ),
        None => url.to_owned(),
    }
}

/// Where `serve --bus` keeps what workers publish.
pub(crate) struct Central {
    pub data: Arc<dyn store::StoreBackend>,
    pub blobs: Arc<dyn store::EvidenceBlobs>,
    /// The PostgreSQL store when `data` is one, for its retention job.
    pub pg: Option<Arc<store_pg::PgStore>>,
}

/// The central data backend of `serve --bus`: PostgreSQL when a database URL
/// is given, else the SQLite store; evidence in object storage when an
/// `s3://` location is given, else in the data directory. With PostgreSQL
/// the evidence files are indexed there too (retention, stats).
pub(crate) fn data_backend(
    database: Option<&str>,
    evidence: Option<&str>,
    store: &Arc<store::Store>,
    dir: &std::path::Path,
) -> Result<Central> {
    let blobs: Option<Arc<dyn store::EvidenceBlobs>> = match evidence {
        None => None,
        Some(url) => {
            let cfg = objstore::S3Config::from_url(url, |k| std::env::var(k).ok())
                .map_err(|e| anyhow::anyhow!("--evidence / KUZET_EVIDENCE: {e}"))?;
            let o = objstore::ObjectEvidence::s3(&cfg)
                .map_err(|e| anyhow::anyhow!("--evidence / KUZET_EVIDENCE {url}: {e}"))?;
            tracing::info!(evidence = %url, "evidence goes to object storage");
            eprintln!(
                "kuzet: evidence goes to object storage at {url} (face crops stay here, sealed)"
            );
            Some(Arc::new(o))
        }
    };
    let Some(url) = database else {
        return Ok(Central {
            data: store.clone(),
            blobs: blobs.unwrap_or_else(|| store.clone()),
            pg: None,
        });
    };
    if !url.starts_with("postgres://") && !url.starts_with("postgresql://") {
        bail!(
            "--database / KUZET_DATABASE {:?}: expected a PostgreSQL URL like \
             postgres://user:password@host:5432/kuzet",
            redact_url(url)
        );
    }
    let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(url)).map_err(|e| {
        anyhow::anyhow!(
            "cannot open the PostgreSQL database {}: {e}\n  fix: start PostgreSQL and create the \
             database, or correct --database / KUZET_DATABASE",
            redact_url(url)
        )
    })?;
    // Face embeddings are sealed there under the same key as here.
    if let Some(key) = store.seal_key() {
        pg.set_seal_key(key);
    }
    tracing::info!(database = %redact_url(url), "ingested data goes to PostgreSQL");
    let blobs = blobs.unwrap_or_else(|| {
        eprintln!(
            "kuzet: evidence goes to {}",
            dir.join(store::EVIDENCE_DIR).display()
        );
        Arc::new(store::LocalEvidence::new(dir.join(store::EVIDENCE_DIR)))
    });
    eprintln!(
        "kuzet: ingested data goes to PostgreSQL at {}",
        redact_url(url)
    );
    let pg = Arc::new(pg);
    Ok(Central {
        data: pg.clone(),
        blobs: Arc::new(store_pg::IndexedBlobs::new(blobs, pg.clone())),
        pg: Some(pg),
    })
}

pub fn run(a: Args) -> Result<ExitCode> {
    let (cfg, dir) = a.common.load()?;
    // Flags and environment win over `[cluster]`.
    let a = Args {
        bus: a.bus.or_else(|| cfg.cluster.bus.clone()),
        database: a.database.or_else(|| cfg.cluster.database.clone()),
        evidence: a.evidence.or_else(|| cfg.cluster.evidence.clone()),
        ..a
    };
    let listen = a
        .listen
        .or_else(|| cfg.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: std::net::SocketAddr = listen
        .parse()
        .with_context(|| format!("--listen {listen:?}: expected an address like 127.0.0.1:8080"))?;
    let store = Arc::new(open_store(&dir)?);
    super::configure_seal_key(&store, &cfg, &dir)?;
    let metrics = server::install_metrics_recorder();
    let shutdown = Shutdown::new();

    // Distributed mode: the workers run the cameras; this process consumes
    // their results into the store (acknowledging after each commit).
    if a.evidence.is_some() && a.bus.is_none() {
        bail!("--evidence (KUZET_EVIDENCE, [cluster] evidence) stores what workers publish: it needs --bus URL (KUZET_BUS, [cluster] bus; distributed mode); without a bus, kuzet serve keeps evidence in its data directory");
    }
    if a.database.is_some() && a.bus.is_none() {
        bail!("--database (KUZET_DATABASE, [cluster] database) stores what workers publish: it needs --bus URL (KUZET_BUS, [cluster] bus; distributed mode); without a bus, kuzet serve stores into its SQLite data directory");
    }
    // The API reads the ingested data where the ingest writes it.
    let central: Option<Central> = match &a.bus {
        Some(_) => Some(data_backend(
            a.database.as_deref(),
            a.evidence.as_deref(),
            &store,
            &dir,
        )?),
        None => None,
    };
    // Hotlists are central data on PostgreSQL (schema 8): entries this data
    // directory still holds move there, so none silently stops alerting.
    if let Some(pg) = central.as_ref().and_then(|c| c.pg.as_ref()) {
        let moved = store::plates::move_hotlists(&store, pg.as_ref())
            .context("moving this data directory's hotlist entries into PostgreSQL")?;
        if moved > 0 {
            store.append_audit(store::NewAuditEntry {
                actor: Some("kuzet".into()),
                action: "hotlist.move".into(),
                target: Some(format!("{moved} entries to the central database")),
                outcome: "ok".into(),
                details: serde_json::json!({ "entries": moved }),
                ..Default::default()
            })?;
            eprintln!("kuzet: moved {moved} hotlist entries into PostgreSQL");
        }
    }
    // With PostgreSQL the face sightings and the watchlist gallery are kept
    // there too (sealed under this store's key), so every serve node loads
    // the same gallery; authorisations and crops stay here.
    let face_service = if cfg.faces.enabled {
        let sightings = central
            .as_ref()
            .filter(|c| c.pg.is_some())
            .map(|c| c.data.clone());
        Some(super::faces::open_service_with(
            &cfg,
            store.clone(),
            sightings,
        )?)
    } else {
        None
    };
    let ingest = match &a.bus {
        Some(url) => {
            // Workers publish faces; they are matched here, against the
            // face service's gallery and this store's authorisations.
            let faces = face_service
                .as_ref()
                .map(|svc| pipeline::FaceMatcher::from_config(svc.clone(), store.clone(), &cfg));
            let c = central
                .as_ref()
                .context("the central data backend is opened with the bus")?;
            let (data, blobs) = (c.data.clone(), c.blobs.clone());
            Some(start_ingest(
                url,
                store.clone(),
                data,
                blobs,
                faces,
                &pipeline::plate_formats(&cfg)?,
                shutdown.clone(),
            )?)
        }
        None => None,
    };
    let engine = if ingest.is_some() {
        eprintln!(
            "kuzet: distributed mode: cameras run on `kuzet worker`s, results arrive over the bus"
        );
        None
    } else if cfg.cameras.iter().any(|c| c.enabled) {
        let detector = pipeline::build_detector(&cfg, &models_dir(&cfg))
            .context("cannot load the object detector")?;
        let opts = EngineOptions {
            mode: Mode::Live,
            faces: face_service
                .as_ref()
                .and_then(|s| super::faces::live_faces(&cfg, s)),
            plates: super::plates::live_plates(&cfg)?,
            ..Default::default()
        };
        Some(Engine::start(
            &cfg,
            detector,
            store.clone(),
            opts,
            Arc::new(SystemClock),
            shutdown.clone(),
            None,
        )?)
    } else {
        eprintln!("kuzet: no cameras configured; serving stored events only");
        None
    };
    // Distributed mode: the workers report their cameras' status and answer
    // snapshot requests over the bus (see bus::live).
    let live = match &a.bus {
        Some(url) => Some(start_live(url)?),
        None => None,
    };
    let statuses: server::CameraStatusFn = match (&engine, &live) {
        (Some(e), _) => e.status_provider(),
        (None, Some((_, view))) => {
            let view = view.clone();
            Arc::new(move || view.statuses().into_iter().map(|(_, s)| s).collect())
        }
        (None, None) => Arc::new(Vec::new),
    };
    // Accounts: no default password. The very first start creates `admin`
    // with a random password in a 0600 file, and says where.
    let auth = Arc::new(auth::Auth::new(
        store.clone(),
        auth::SessionPolicy {
            idle: std::time::Duration::from_secs(u64::from(cfg.server.session_idle_minutes) * 60),
            absolute: std::time::Duration::from_secs(
                u64::from(cfg.server.session_max_hours) * 3600,
            ),
        },
        auth::LockoutPolicy::default(),
    ));
    if let Some(path) = auth
        .ensure_initial_admin(&dir)
        .context("cannot create the initial admin user")?
    {
        tracing::warn!(file = %path.display(), "created user `admin`; its password is in this file (read it, log in, then delete the file)");
        println!(
            "kuzet: created user `admin`; its password is in {} (shown nowhere else)",
            path.display()
        );
    }
    let camera_scopes: server::security::CameraScopes = cfg
        .cameras
        .iter()
        .map(|c| {
            let scope = server::security::CameraScope {
                groups: c.groups.clone(),
                owner: c.owner.clone(),
                viewer_roles: cfg.agreement_of(c).and_then(|a| a.viewer_roles.clone()),
            };
            (c.id.clone(), scope)
        })
        .collect();
    // Agreement changes made while serving (`PUT /api/owners/{id}/agreement`)
    // bind the API's camera scope and the retention job even where this
    // process runs no engine (a central server of workers).
    pipeline::register_agreements(&store, &cfg);
    let mut state = server::AppState::new(store.clone(), statuses, metrics)
        .with_auth(auth)
        .with_law_enforcement(cfg.organisation.law_enforcement)
        .with_camera_scopes(camera_scopes)
        .with_camera_sharing(server::transparency::camera_sharing(&cfg));
    if let Some((_, ready)) = &ingest {
        state = state.with_readiness(ready.clone());
    }
    if let Some(c) = central.as_ref().filter(|_| a.database.is_some()) {
        state = state.with_data_backend(c.data.clone()).context(
            "cannot follow the central database's new events for the live stream \
             (/api/events/stream)",
        )?;
    }
    if let Some(c) = central.as_ref().filter(|_| a.evidence.is_some()) {
        state = state.with_evidence_blobs(c.blobs.clone());
    }
    if let Some(path) = &a.common.config {
        // The web app's zone/line editor writes into the file we run from.
        let path = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
        state = state.with_config_file(path);
    }
    if let Some(e) = &engine {
        // Zones and lines edited in the web app apply without a restart.
        state = state.with_camera_apply(e.camera_editor());
        // Panning fire cameras report where they point; their alarms'
        // bearings follow.
        let ptz = e.ptz_reporter();
        state = state.with_ptz_reports(Arc::new(move |camera, azimuth, hfov, at| {
            let report = pipeline::PtzReport::new(azimuth, hfov, at).map_err(|e| e.to_string())?;
            ptz(camera, report).map_err(|e| e.to_string())
        }));
        // The web app's live snapshots: the pipeline keeps the latest analysed
        // frame per camera; the server encodes it to JPEG when asked.
        let latest = e.latest_frames();
        state = state.with_snapshots(Arc::new(move |camera| {
            latest(camera).map(|l| server::SnapshotFrame {
                ts: l.frame.ts,
                width: l.frame.width,
                height: l.frame.height,
                rgb: l.frame.rgb.clone(),
                objects: overlay(l.objects),
            })
        }));
    }

    if let (None, Some((rt, view))) = (&engine, &live) {
        state = state.with_snapshots(remote_snapshots(rt.handle().clone(), view.clone()));
    }

    let housekeeping = face_service.as_ref().map(|svc| {
        let api = server::faces_api::FaceApi {
            service: svc.clone(),
            resolve_cameras: {
                let cfg = cfg.clone();
                Arc::new(move |spec: &str| cfg.resolve_cameras(spec))
            },
        };
        state = state.clone().with_faces(api);
        spawn_face_housekeeping(svc.clone(), shutdown.clone())
    });

    let retention_job =
        super::retention::spawn_job(store.clone(), &cfg, face_service.clone(), shutdown.clone())?;
    // What the ingest wrote to PostgreSQL has the same retention.
    let pg_retention_job = match central.and_then(|c| Some((c.pg?, c.blobs))) {
        Some((pg, blobs)) => Some(super::retention::spawn_pg_job(
            pg,
            blobs,
            store.clone(),
            &cfg,
            face_service.clone(),
            shutdown.clone(),
        )?),
        None => None,
    };

    // HTTPS when configured; relative paths are the config file's.
    let tls = match (&cfg.server.tls_cert, &cfg.server.tls_key) {
        (Some(cert), Some(key)) => {
            let base = a
                .common
                .config
                .as_deref()
                .and_then(|p| p.parent())
                .map(|p| p.to_path_buf())
                .unwrap_or_default();
            Some(server::tls::load(&base.join(cert), &base.join(key))?)
        }
        _ => None,
    };
    let scheme = if tls.is_some() { "https" } else { "http" };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let served = rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                bail!("cannot listen on {addr}: the port is in use; stop the other process or pass --listen 127.0.0.1:PORT")
            }
            Err(e) => bail!("cannot listen on {addr}: {e}"),
        };
        let url = format!("{scheme}://{}", listener.local_addr()?);
        println!("kuzet is serving on {url}  (data in {})", dir.display());
        println!("  open {url}/                   the situation centre (web app)");
        println!("  open {url}/api/cameras        cameras and their live status");
        println!("  open {url}/api/events         stored events (?camera=&kind=&since=&until=&limit=)");
        println!("  open {url}/api/events/stream  live events (Server-Sent Events)");
        println!("  open {url}/metrics            Prometheus metrics");
        println!("  every page and API call needs a login (web app) or `Authorization: Bearer` (kuzet token create)");
        println!("  Ctrl-C or SIGTERM stops it without losing queued events.");
        tokio::spawn(server::trigger_on_signals(shutdown.clone()));
        match tls {
            Some(tls) => server::serve_tls(listener, tls, state, shutdown.clone()).await,
            None => server::serve(listener, state, shutdown.clone()).await,
        }
    });
    // Whatever ended the server, stop the cameras and drain queued frames
    // through the pipeline before closing the store.
    shutdown.trigger();
    if let Some(e) = engine {
        let summary = e.wait()?;
        eprintln!(
            "kuzet: stopped after {} frames, {} events",
            summary.frames,
            summary.events.values().sum::<u64>()
        );
    }
    if let Some((h, _)) = ingest {
        // The ingest finishes (commits and acknowledges) its current batch.
        let _ = h.join();
    }
    if let Some(h) = housekeeping {
        let _ = h.join();
    }
    let _ = retention_job.join();
    if let Some(j) = pg_retention_job {
        let _ = j.join();
    }
    if let Some(svc) = &face_service {
        svc.save_sightings()?;
    }
    drop(face_service);
    store.close();
    served?;
    Ok(ExitCode::SUCCESS)
}

/// Tracked objects (id, label, score, box) as the API draws them.
fn overlay(objects: Vec<(u64, String, f32, base::BBox)>) -> Vec<server::OverlayObject> {
    objects
        .into_iter()
        .map(|(track_id, label, score, bbox)| server::OverlayObject {
            track_id,
            label,
            score,
            bbox,
        })
        .collect()
}

/// The live view of the workers' cameras on a runtime of its own (one
/// thread: it only decodes small JSON reports and forwards requests).
fn start_live(url: &str) -> Result<(tokio::runtime::Runtime, bus::live::LiveView)> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bus-live")
        .enable_all()
        .build()?;
    let view = rt
        .block_on(bus::live::LiveView::connect(
            url,
            bus::live::LiveTiming::default(),
        ))
        .context("kuzet serve --bus: live camera status")?;
    Ok((rt, view))
}

/// Snapshots of workers' cameras: asks the worker running the camera (at
/// most `LiveTiming::snapshot_timeout`, 1 s) and decodes its JPEG for the
/// API, which draws overlays and re-encodes as for local cameras.
fn remote_snapshots(
    handle: tokio::runtime::Handle,
    view: bus::live::LiveView,
) -> server::SnapshotFn {
    Arc::new(move |camera: &str| {
        let (view, cam, h) = (view.clone(), camera.to_owned(), handle.clone());
        // Runs on the live runtime; this thread only waits for the answer.
        let fetch = move || {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            h.spawn(async move {
                let _ = tx.send(view.snapshot(&cam).await);
            });
            rx.recv_timeout(std::time::Duration::from_secs(5))
        };
        let answer = match tokio::runtime::Handle::try_current() {
            Ok(rt) if rt.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
                tokio::task::block_in_place(fetch)
            }
            _ => fetch(),
        };
        let shot = match answer {
            Ok(Ok(Some(s))) => s,
            Ok(Ok(None)) => return None,
            Ok(Err(e)) => {
                tracing::warn!(camera, error = %e, "snapshot request failed");
                return None;
            }
            Err(_) => {
                tracing::warn!(camera, "no snapshot answer from the live runtime");
                return None;
            }
        };
        let img = image::load_from_memory_with_format(&shot.jpeg, image::ImageFormat::Jpeg)
            .map_err(
                |e| tracing::warn!(camera, error = %e, "a worker sent an undecodable snapshot"),
            )
            .ok()?
            .to_rgb8();
        Some(server::SnapshotFrame {
            ts: shot.meta.ts,
            width: img.width(),
            height: img.height(),
            rgb: Arc::new(img.into_raw()),
            objects: overlay(shot.meta.objects),
        })
    })
}

/// How often the server looks for agreement changes to mirror to workers:
/// one small read of a change counter.
const AGREEMENT_MIRROR_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// Connects to the bus and starts the ingest on its own thread (store writes
/// block; they must not stall the HTTP runtime). Returns the thread and the
/// readiness check for `/readyz`: connected, consumer bound, lag.
fn start_ingest(
    url: &str,
    store: Arc<store::Store>,
    data: Arc<dyn store::StoreBackend>,
    blobs: Arc<dyn store::EvidenceBlobs>,
    faces: Option<pipeline::FaceMatcher>,
    plate_formats: &vehicles::PlateFormats,
    shutdown: Shutdown,
) -> Result<(std::thread::JoinHandle<()>, server::ReadinessFn)> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut ncfg = bus::NatsConfig::new(url);
    ncfg.leases = false;
    ncfg.client_name = "kuzet-serve".into();
    let nats = Arc::new(
        rt.block_on(bus::Nats::connect(ncfg))
            .context("kuzet serve --bus")?,
    );
    let backend = data.backend_name();
    let evidence = blobs.blobs_name();
    // Workers learn the owners' run-time agreement changes from the bus.
    rt.spawn(bus::agreements::publish_agreements(
        nats.client(),
        store.clone(),
        AGREEMENT_MIRROR_EVERY,
        shutdown.clone(),
    ));
    let mut ingest = bus::Ingest::new(nats.clone(), store)
        .with_backends(data, blobs)
        .with_plate_formats(plate_formats);
    if let Some(f) = faces {
        ingest = ingest.with_faces(f);
    }
    let stats = ingest.stats();
    let ready: server::ReadinessFn = Arc::new(move || {
        use bus::Bus;
        use std::sync::atomic::Ordering::Relaxed;
        let connected = nats.connected();
        let bound = stats.ready.load(Relaxed);
        (
            connected && bound,
            serde_json::json!({
                "connected": connected,
                "consumer": bound,
                "backend": backend,
                "evidence": evidence,
                "pending": stats.pending.load(Relaxed),
                "events_new": stats.events_new.load(Relaxed),
                "events_duplicate": stats.events_duplicate.load(Relaxed),
            }),
        )
    });
    let h = std::thread::Builder::new()
        .name("bus-ingest".into())
        .spawn(move || rt.block_on(ingest.run(shutdown)))?;
    Ok((h, ready))
}

/// Housekeeping of the face service: expires lost-child entries every few
/// minutes and saves the sighting index every minute, until shutdown.
/// Sightings themselves are purged by the retention job.
fn spawn_face_housekeeping(
    svc: Arc<faces::FaceService>,
    shutdown: Shutdown,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("faces-housekeeping".into())
        .spawn(move || {
            let tick = std::time::Duration::from_millis(250);
            let mut since_save = std::time::Duration::ZERO;
            // Purge at start (a restart after a long stop catches up).
            let mut since_purge = std::time::Duration::from_secs(3600);
            while !shutdown.is_triggered() {
                if since_purge >= std::time::Duration::from_secs(300) {
                    since_purge = std::time::Duration::ZERO;
                    if let Err(e) = svc.expire_temporary_entries() {
                        tracing::warn!(error = %e, "expiring lost-child entries failed");
                    }
                }
                if since_save >= std::time::Duration::from_secs(60) {
                    since_save = std::time::Duration::ZERO;
                    if let Err(e) = svc.save_sightings() {
                        tracing::warn!(error = %e, "saving the sighting index failed");
                    }
                }
                std::thread::sleep(tick);
                since_save += tick;
                since_purge += tick;
            }
        })
        .expect("cannot start the face housekeeping thread")
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://kuzet:s3cret@db:5432/kuzet"),
            "postgres://kuzet:***@db:5432/kuzet"
        );
        assert_eq!(
            redact_url("postgres://kuzet@127.0.0.1:5432/kuzet"),
            "postgres://kuzet@127.0.0.1:5432/kuzet"
        );
        assert_eq!(
            redact_url("postgres://127.0.0.1/k?user=a@b"),
            "postgres://127.0.0.1/k?user=a@b"
        );
        assert_eq!(
            redact_url("postgresql://u:p@ss@h/db"),
            "postgresql://u:***@h/db"
        );
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
