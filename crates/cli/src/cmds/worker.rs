//! `kuzet worker`: runs the cameras it leases and publishes their results to
//! the bus; `kuzet serve --bus` stores them. See docs/distributed.md.

use super::models_dir;
use anyhow::{bail, Context, Result};
use base::{Shutdown, SystemClock};
use bus::{AckedFn, Bus, BusSink, LeaseConfig, LeaseEvent, Leases, Nats, NatsConfig, SinkConfig};
use pipeline::{Engine, EngineOptions, Mode, Sink};
use std::collections::BTreeSet;
use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// TOML configuration file: its cameras are the pool this worker leases from.
    #[arg(long)]
    pub config: std::path::PathBuf,
    /// The bus, e.g. nats://127.0.0.1:4222 (NATS with JetStream); default:
    /// the config's `[cluster] bus`.
    #[arg(long, env = "KUZET_BUS")]
    pub bus: Option<String>,
    /// This worker's id, unique among running workers (default: host name + pid).
    #[arg(long)]
    pub id: Option<String>,
    /// Serve /healthz, /readyz and /metrics on this address (e.g. 127.0.0.1:9101).
    #[arg(long)]
    pub listen: Option<String>,
    /// Lease TTL in seconds: a dead worker's cameras move to the others within
    /// TTL × 4/3 plus an engine restart. Every worker and the server must use
    /// the same value (the broker's buckets keep one).
    #[arg(long, default_value_t = 10.0)]
    pub lease_ttl: f64,
    /// Records waiting for the bus at most; beyond, the pipeline waits and
    /// live cameras drop their oldest frames (counted).
    #[arg(long, default_value_t = 1024)]
    pub publish_queue: usize,
    /// Print one JSON line per acknowledged event and per lease change.
    #[arg(long)]
    pub json: bool,
}

fn emit(json: bool, v: &impl serde::Serialize) {
    if json {
        let mut out = std::io::stdout().lock();
        let _ = serde_json::to_writer(&mut out, v);
        let _ = out.write_all(b"\n");
        let _ = out.flush();
    }
}

pub fn run(a: Args) -> Result<ExitCode> {
    let cfg = super::load_config(Some(&a.config))?;
    let Some(bus_url) = a.bus.clone().or_else(|| cfg.cluster.bus.clone()) else {
        bail!(
            "{}: no bus to lease cameras from: pass --bus nats://HOST:4222 (or KUZET_BUS), \
             or set `[cluster] bus` in the config",
            a.config.display()
        );
    };
    if !(0.5..=3600.0).contains(&a.lease_ttl) {
        bail!("--lease-ttl {}: expected 0.5 to 3600 seconds", a.lease_ttl);
    }
    let cameras: Vec<String> = cfg
        .cameras
        .iter()
        .filter(|c| c.enabled)
        .map(|c| c.id.clone())
        .collect();
    if cameras.is_empty() {
        bail!(
            "{}: no enabled camera to lease; add [[camera]] sections",
            a.config.display()
        );
    }
    let id = a.id.clone().unwrap_or_else(|| {
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        format!("{}-{}", host.trim(), std::process::id())
    });
    let ttl = Duration::from_secs_f64(a.lease_ttl);
    let metrics = server::install_metrics_recorder();
    let shutdown = Shutdown::new();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mut ncfg = NatsConfig::new(&bus_url);
    ncfg.lease_ttl = ttl;
    ncfg.client_name = format!("kuzet-worker-{id}");
    let nats = Arc::new(
        rt.block_on(Nats::connect(ncfg))
            .with_context(|| format!("worker {id}"))?,
    );
    let json = a.json;
    let on_ack: Option<AckedFn> = json.then(|| {
        Arc::new(move |acked: &bus::Acked| emit(true, &serde_json::json!({"acked": acked})))
            as AckedFn
    });
    let sink = BusSink::start(
        nats.clone(),
        SinkConfig {
            worker: id.clone(),
            queue: a.publish_queue,
            ..Default::default()
        },
        rt.handle(),
        on_ack,
    );
    // Owners' run-time agreement changes, mirrored by the server: loaded
    // before any camera runs, then followed (see `bus::agreements`).
    let agreements = Arc::new(bus::agreements::WorkerAgreements::new(
        pipeline::camera_agreements(&cfg),
    ));
    rt.block_on(bus::agreements::follow_agreements(
        nats.client(),
        agreements.clone(),
        rt.handle(),
        shutdown.clone(),
    ))
    .with_context(|| format!("worker {id}: reading the agreement terms from the bus"))?;
    sink.bind_agreements(agreements);
    let (mut leases, mut held_rx) = Leases::new(
        nats.clone(),
        LeaseConfig {
            worker: id.clone(),
            ttl,
            cameras,
        },
    );
    let leasing_ok = Arc::new(AtomicBool::new(false));
    let lease_task = {
        let shutdown = shutdown.clone();
        let leasing_ok = leasing_ok.clone();
        rt.spawn(async move {
            let beat = leases.config().heartbeat();
            while !shutdown.is_triggered() {
                match leases.tick().await {
                    Ok(changes) => {
                        leasing_ok.store(true, Ordering::Relaxed);
                        for c in changes {
                            match &c {
                                LeaseEvent::Claimed { camera } => {
                                    tracing::info!(camera, "lease claimed")
                                }
                                LeaseEvent::Released { camera } => {
                                    tracing::info!(camera, "lease released")
                                }
                                LeaseEvent::Lost { camera } => tracing::warn!(camera, "lease lost"),
                            }
                            emit(json, &c);
                        }
                    }
                    Err(e) => {
                        leasing_ok.store(false, Ordering::Relaxed);
                        tracing::warn!(error = %e, "lease heartbeat failed");
                    }
                }
                tokio::time::sleep(beat).await;
            }
            leases.release_all().await;
        })
    };
    if let Some(listen) = &a.listen {
        let addr: std::net::SocketAddr = listen.parse().with_context(|| {
            format!("--listen {listen:?}: expected an address like 127.0.0.1:9101")
        })?;
        let listener = rt
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("cannot listen on {addr}"))?;
        let nats = nats.clone();
        let leasing_ok = leasing_ok.clone();
        rt.spawn(health::serve(
            listener,
            move || {
                let bus = nats.connected();
                let leasing = leasing_ok.load(Ordering::Relaxed);
                (
                    bus && leasing,
                    serde_json::json!({"bus_connected": bus, "leasing": leasing}),
                )
            },
            metrics,
        ));
    }
    rt.spawn(server::trigger_on_signals(shutdown.clone()));
    eprintln!("kuzet worker {id}: leasing cameras from {bus_url}");

    // Live status and on-demand snapshots for the server's camera list and
    // wall, read from whichever engine runs now.
    let current: Current = Arc::new(std::sync::Mutex::new(None));
    rt.spawn({
        let (statuses, snapshot) = live_sources(current.clone());
        let (client, worker, stop) = (nats.client(), id.clone(), shutdown.clone());
        async move {
            let timing = bus::live::LiveTiming::default();
            if let Err(e) =
                bus::live::serve_worker(client, worker, statuses, snapshot, timing, stop).await
            {
                tracing::warn!(error = %e, "live status and snapshots stopped");
            }
        }
    });

    // Run the leased cameras; restart the engine whenever the set changes.
    let mut engine: Option<Engine> = None;
    let mut running: BTreeSet<String> = BTreeSet::new();
    let mut result = Ok(());
    while !shutdown.is_triggered() {
        // Let a burst of lease changes settle into one restart.
        let changed = rt.block_on(async {
            tokio::time::timeout(Duration::from_millis(250), held_rx.changed()).await
        });
        if matches!(changed, Ok(Err(_))) {
            break;
        }
        let held = held_rx.borrow_and_update().clone();
        if held == running {
            continue;
        }
        *lock(&current) = None;
        if let Some(e) = engine.take() {
            e.stop();
            if let Err(err) = e.wait() {
                tracing::error!(error = %err, "the engine failed");
            }
        }
        running = held;
        metrics::counter!("kuzet_worker_engine_restarts_total").increment(1);
        if running.is_empty() {
            continue;
        }
        match start_engine(&cfg, &running, sink.clone(), Shutdown::new()) {
            Ok(e) => {
                *lock(&current) = Some((e.status_provider(), e.latest_frames()));
                engine = Some(e);
            }
            Err(err) => {
                result = Err(err);
                shutdown.trigger();
            }
        }
    }
    if let Some(e) = engine.take() {
        e.stop();
        let _ = e.wait();
    }
    // Everything handed to the bus is acknowledged before the leases go.
    if let Err(e) = sink.flush() {
        tracing::warn!(error = %e, "could not flush the bus on exit");
    }
    let _ = rt.block_on(lease_task);
    result?;
    Ok(ExitCode::SUCCESS)
}

/// The running engine's status and latest frames, `None` between engines.
type Current = Arc<std::sync::Mutex<Option<(bus::live::StatusFn, pipeline::LatestFrameFn)>>>;

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Snapshot JPEGs: good enough for a wall tile.
const SNAPSHOT_QUALITY: u8 = 75;

/// What the live publisher reads: the current engine's statuses, and a JPEG
/// of a camera's latest analysed frame with its tracked objects.
fn live_sources(current: Current) -> (bus::live::StatusFn, bus::live::SnapshotSource) {
    let c = current.clone();
    let statuses: bus::live::StatusFn = Arc::new(move || {
        let f = lock(&c).as_ref().map(|(s, _)| s.clone());
        f.map(|f| f()).unwrap_or_default()
    });
    let snapshot: bus::live::SnapshotSource = Arc::new(move |camera: &str| {
        let latest = lock(&current).as_ref().map(|(_, l)| l.clone())?;
        let l = latest(camera)?;
        let f = &l.frame;
        if f.rgb.len() != f.width as usize * f.height as usize * 3 {
            return None;
        }
        let jpeg = store::encode_rgb_jpeg(&f.rgb, f.width, f.height, SNAPSHOT_QUALITY)
            .map_err(|e| tracing::warn!(camera, error = %e, "snapshot not encoded"))
            .ok()?;
        Some(bus::live::Snapshot {
            meta: bus::live::SnapshotMeta {
                ts: f.ts,
                width: f.width,
                height: f.height,
                objects: l.objects,
            },
            jpeg: jpeg.into(),
        })
    });
    (statuses, snapshot)
}

/// Starts an engine on the `held` cameras only. Plates are read here for the
/// cameras with `[camera.plates]` and the voted reads published; the hotlist
/// check runs in `kuzet serve --bus`. Face matching stays off: it needs the
/// watchlists, which a worker must not hold.
fn start_engine(
    cfg: &config::Config,
    held: &BTreeSet<String>,
    sink: Arc<BusSink>,
    stop: Shutdown,
) -> Result<Engine> {
    let mut cfg = cfg.clone();
    for c in &mut cfg.cameras {
        c.enabled = c.enabled && held.contains(&c.id);
    }
    let detector = pipeline::build_detector(&cfg, &models_dir(&cfg))
        .context("cannot load the object detector")?;
    let opts = EngineOptions {
        mode: Mode::Live,
        plates: super::plates::live_plates(&cfg)?,
        // Faces are detected and embedded here and matched by `kuzet serve`.
        faces: super::faces::worker_faces(&cfg),
        ..Default::default()
    };
    let output: Arc<dyn Sink> = sink;
    Ok(Engine::start_with_sink(
        &cfg,
        detector,
        output,
        opts,
        Arc::new(SystemClock),
        stop,
        None,
    )?)
}

/// A minimal HTTP/1.1 responder for the worker's probes and metrics: three
/// fixed GET routes need no web framework.
mod health {
    use metrics_exporter_prometheus::PrometheusHandle;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    pub async fn serve(
        listener: tokio::net::TcpListener,
        ready: impl Fn() -> (bool, serde_json::Value) + Send + Sync + 'static,
        metrics: PrometheusHandle,
    ) {
        let ready = std::sync::Arc::new(ready);
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                continue;
            };
            let ready = ready.clone();
            let metrics = metrics.clone();
            tokio::spawn(async move {
                // Read the whole request head (it may come in several
                // segments): closing with unread bytes would reset the
                // connection before the client reads the answer.
                let mut buf = vec![0u8; 2048];
                let mut n = 0;
                let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
                while n < buf.len() && !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    match tokio::time::timeout_at(deadline, sock.read(&mut buf[n..])).await {
                        Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                        Ok(Ok(k)) => n += k,
                    }
                }
                if n == 0 {
                    return;
                }
                let req = String::from_utf8_lossy(&buf[..n]);
                let path = req.split_whitespace().nth(1).unwrap_or("/");
                let (status, ctype, body) = match path {
                    "/healthz" => (
                        "200 OK",
                        "application/json",
                        r#"{"status":"ok"}"#.to_string(),
                    ),
                    "/readyz" => {
                        let (ok, detail) = ready();
                        let status = if ok {
                            "200 OK"
                        } else {
                            "503 Service Unavailable"
                        };
                        (status, "application/json", detail.to_string())
                    }
                    "/metrics" => ("200 OK", "text/plain; version=0.0.4", metrics.render()),
                    _ => (
                        "404 Not Found",
                        "text/plain",
                        "endpoints: /healthz /readyz /metrics\n".into(),
                    ),
                };
                let head = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(body.as_bytes()).await;
            });
        }
    }
}
