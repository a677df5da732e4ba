//! `kuzet simulate`: synthetic camera traffic through a real `nats-server`
//! and the production ingest into a store, to measure their throughput on
//! one machine (docs/scale.md, docs/distributed.md).

use anyhow::{bail, Context, Result};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct Args {
    /// Simulated cameras.
    #[arg(long)]
    pub cameras: usize,
    /// Events per second per camera. Tracks, whole frames and plate reads
    /// follow at the ratios measured on real clips (docs/scale.md §1.2); the
    /// measured busy camera (walkway, 3,980 events/h) is 1.1.
    #[arg(long, default_value_t = 1.1)]
    pub rate: f64,
    /// How long to publish.
    #[arg(long, default_value_t = 10.0)]
    pub seconds: f64,
    /// Simulated workers (publishing connections); cameras are spread over them.
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Face sightings per event (0: none). Each carries a random 512-d
    /// embedding and a 6 KB face crop and is matched, sealed and stored by
    /// the central face service, which loads the face models
    /// ($KUZET_MODELS); 0.25 is the capacity model's face camera.
    #[arg(long, default_value_t = 0.0)]
    pub faces_per_event: f64,
    /// The bus: a nats-server with JetStream that no `kuzet serve` consumes
    /// from (the simulation binds the production consumer).
    #[arg(long, env = "KUZET_BUS")]
    pub bus: String,
    /// Store directory the ingest writes (default: a temporary one, removed
    /// afterwards). Use an empty directory: it must not hold other events.
    #[arg(long)]
    pub data_dir: Option<std::path::PathBuf>,
    /// Store events, tracks and plate reads in this PostgreSQL database, as
    /// `kuzet serve --database` does, to measure the central ingest on it
    /// (an empty database: it must not hold other bus events).
    #[arg(long, env = "KUZET_DATABASE")]
    pub database: Option<String>,
    /// With --database: evidence to this S3-compatible bucket
    /// (`s3://bucket[/prefix]`, as `kuzet serve --evidence`) instead of the
    /// data directory.
    #[arg(long, env = "KUZET_EVIDENCE", requires = "database")]
    pub evidence: Option<String>,
    /// Seconds to wait after publishing for the ingest to store everything.
    #[arg(long, default_value_t = 120)]
    pub drain_timeout: u64,
    /// Print the report as one JSON object.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: Args) -> Result<ExitCode> {
    let tmp;
    let dir = match &a.data_dir {
        Some(d) => d.clone(),
        None => {
            tmp = tempfile_dir()?;
            tmp.path().to_path_buf()
        }
    };
    let store = Arc::new(
        store::Store::open(&dir)
            .with_context(|| format!("opening the store in {}", dir.display()))?,
    );
    if !store.event_msg_ids()?.is_empty() {
        bail!(
            "{} already holds bus events: give `kuzet simulate` an empty --data-dir (or none)",
            dir.display()
        );
    }
    // Sightings are sealed under this store's key, here and in PostgreSQL.
    let conf = config::Config::default();
    if a.faces_per_event > 0.0 {
        super::configure_seal_key(&store, &conf, &dir)?;
    }
    let central = match &a.database {
        None => None,
        Some(url) => {
            let c = super::serve::data_backend(Some(url), a.evidence.as_deref(), &store, &dir)?;
            use store::KeyedTable;
            if !c.data.dedupe_keys(KeyedTable::Events)?.is_empty() {
                bail!(
                    "{} already holds bus events: give `kuzet simulate --database` an empty \
                     database (createdb kuzet_sim)",
                    super::serve::redact_url(url)
                );
            }
            Some((c.data, c.blobs))
        }
    };
    let mut cfg = bus::SimConfig::new(&a.bus, a.cameras, a.rate, a.seconds);
    cfg.workers = a.workers;
    cfg.drain_timeout = Duration::from_secs(a.drain_timeout);
    cfg.profile.faces_per_event = a.faces_per_event;
    // Sightings go through the central matcher `kuzet serve --bus` runs,
    // sealed under this store's key and kept where it keeps them: in
    // PostgreSQL when given.
    let faces = if a.faces_per_event > 0.0 {
        let sightings = central.as_ref().map(|(data, _)| data.clone());
        let svc = super::faces::open_service_with(&conf, store.clone(), sightings)
            .context("--faces-per-event needs the face models")?;
        Some(pipeline::FaceMatcher::from_config(
            svc,
            store.clone(),
            &conf,
        ))
    } else {
        None
    };
    let r =
        bus::simulate_with_faces(&cfg, store.clone(), central, faces).context("kuzet simulate")?;
    store.close();
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        print_report(&r);
    }
    Ok(if r.clean() {
        ExitCode::SUCCESS
    } else {
        eprintln!("kuzet simulate: records were lost or duplicated (see above)");
        ExitCode::FAILURE
    })
}

/// A temporary directory without adding a dependency for it.
struct TmpDir(std::path::PathBuf);

impl TmpDir {
    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn tempfile_dir() -> Result<TmpDir> {
    let p = std::env::temp_dir().join(format!(
        "kuzet-simulate-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&p).with_context(|| format!("creating {}", p.display()))?;
    Ok(TmpDir(p))
}

fn print_report(r: &bus::SimReport) {
    let mb = |b: f64| b / 1e6;
    println!(
        "{} cameras × {:.2} events/s ({:.0} events/s target) on {} worker(s), {:.0} s; stored in {}, evidence {}",
        r.cameras,
        r.profile.events_per_s,
        r.target_events_per_s,
        r.workers,
        r.seconds,
        r.backend,
        r.evidence_store
    );
    println!(
        "generated: {} events, {} tracks, {} plate reads, {} face sightings, {} evidence JPEGs ({} shed under back-pressure)",
        r.events, r.tracks, r.plate_reads, r.sightings, r.evidence, r.shed
    );
    println!(
        "publish:   {:.0} events/s, {:.0} messages/s, {:.2} MB/s ({:.1} kB/s per camera) over {:.1} s",
        r.publish_events_per_s,
        r.publish_messages_per_s,
        mb(r.publish_bytes_per_s),
        r.publish_bytes_per_s_per_camera / 1e3,
        r.publish_s
    );
    println!(
        "ingest:    {:.0} events/s, {:.0} messages/s end to end; drained {:.1} s after publishing",
        r.ingest_events_per_s, r.ingest_messages_per_s, r.drain_s
    );
    println!(
        "lag:       max {} messages pending, {} at publish end; queue full {}×, {} publish retries",
        r.max_pending, r.pending_at_publish_end, r.queue_full, r.publish_retries
    );
    println!(
        "messages:  {} acknowledged by the broker ({} of them duplicates, not stored again), {} stored in the stream, {} committed by the ingest ({} redelivered)",
        r.messages_acked,
        r.publish_duplicates,
        r.stream_stored,
        r.committed_messages,
        r.redelivered_messages
    );
    for (name, l) in [
        ("events", &r.event_latency),
        ("plates", &r.plate_latency),
        ("sightings", &r.sighting_latency),
        ("evidence", &r.evidence_latency),
    ] {
        println!(
            "latency {name:<9} publish → stored: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms ({} samples)",
            l.p50_ms, l.p99_ms, l.max_ms, l.count
        );
    }
    println!(
        "errors:    {} lost / {} duplicated events, {} lost / {} duplicated plate reads, {} lost / {} duplicated sightings, {} foreign, {} missing evidence, {} undecodable, {} store failures{}",
        r.lost_events,
        r.duplicate_events,
        r.lost_plate_reads,
        r.duplicate_plate_reads,
        r.lost_sightings,
        r.duplicate_sightings,
        r.foreign_events,
        r.missing_evidence,
        r.undecodable,
        r.store_failures,
        if r.drain_timed_out { ", DRAIN TIMED OUT" } else { "" }
    );
}
