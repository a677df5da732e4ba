//! `kuzet retention run`: the retention pass on demand, and the background
//! job of `kuzet serve` (see `store::retention`).

use super::Common;
use anyhow::{Context, Result};
use base::Shutdown;
use config::Config;
use std::process::ExitCode;
use std::sync::Arc;
use store::{RetentionCap, RetentionJob, RetentionPolicy, RetentionReport, Store};

#[derive(clap::Subcommand)]
pub enum RetentionCmd {
    /// Delete everything past its class's `[retention]` now (audited), and
    /// print what was deleted per class.
    Run {
        #[command(flatten)]
        common: Common,
        /// Print what would be deleted; delete and audit nothing.
        #[arg(long)]
        dry_run: bool,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also purge what `kuzet serve --bus --database` ingested into this
        /// PostgreSQL database (default: the config's `[cluster] database`).
        #[arg(long, env = "KUZET_DATABASE")]
        database: Option<String>,
        /// With --database: where that data's evidence is, s3://bucket[/prefix]
        /// (default: `[cluster] evidence`, else the data directory).
        #[arg(long, env = "KUZET_EVIDENCE")]
        evidence: Option<String>,
    },
}

/// The store policy of a config, logging deprecated keys once.
pub fn policy(cfg: &Config) -> (RetentionPolicy, std::time::Duration) {
    let r = cfg.retention();
    for d in &r.deprecations {
        tracing::warn!("{d}");
    }
    (
        RetentionPolicy {
            events: r.events,
            evidence: r.evidence,
            face_unmatched: r.face_unmatched,
            face_matched: r.face_matched,
            plate_reads: r.plate_reads,
        },
        r.interval,
    )
}

/// The owners' agreement caps: one per agreement with `retention_days` and
/// cameras (the store deletes by whichever cutoff comes first).
pub fn caps(cfg: &Config) -> Vec<RetentionCap> {
    cfg.owners
        .iter()
        .filter_map(|o| {
            let a = o.agreement.as_ref()?;
            let days = a.retention_days?;
            let cameras: Vec<String> = cfg
                .cameras
                .iter()
                .filter(|c| c.owner.as_deref() == Some(o.id.as_str()))
                .map(|c| c.id.clone())
                .collect();
            (!cameras.is_empty()).then(|| RetentionCap {
                reason: format!("owner {} agreement {}", o.id, a.reference),
                cameras,
                keep: std::time::Duration::from_secs_f64(days * 86_400.0),
            })
        })
        .collect()
}

/// Starts the retention job of `kuzet serve`; deleted face sightings leave
/// the running face service's index too.
pub fn spawn_job(
    store: Arc<Store>,
    cfg: &Config,
    faces: Option<Arc<faces::FaceService>>,
    shutdown: Shutdown,
) -> Result<std::thread::JoinHandle<()>> {
    let (policy, interval) = policy(cfg);
    let mut job = RetentionJob::new(store, policy, interval).with_caps(caps(cfg));
    // Sightings kept centrally are the PostgreSQL job's (`spawn_pg_job`):
    // this store's ids are not the index's then.
    if let Some(svc) = faces.filter(|s| !s.central_sightings()) {
        job = job.on_sightings_deleted(Box::new(move |ids| svc.forget_sightings(ids)));
    }
    std::thread::Builder::new()
        .name("retention".into())
        .spawn(move || job.run(&shutdown))
        .context("cannot start the retention thread")
}

/// Starts the retention job of a serve node's PostgreSQL data (see
/// `store_pg::retention_job`): same policy and caps as the local one.
pub fn spawn_pg_job(
    pg: Arc<store_pg::PgStore>,
    blobs: Arc<dyn store::EvidenceBlobs>,
    local: Arc<Store>,
    cfg: &Config,
    faces: Option<Arc<faces::FaceService>>,
    shutdown: Shutdown,
) -> Result<std::thread::JoinHandle<()>> {
    let (policy, interval) = policy(cfg);
    let mut job = store_pg::retention_job(pg, blobs, local, policy, interval).with_caps(caps(cfg));
    // Sightings deleted there leave the face service's index.
    if let Some(svc) = faces.filter(|s| s.central_sightings()) {
        job = job.on_sightings_deleted(Box::new(move |ids| svc.forget_sightings(ids)));
    }
    std::thread::Builder::new()
        .name("pg-retention".into())
        .spawn(move || job.run(&shutdown))
        .context("cannot start the PostgreSQL retention thread")
}

pub fn run(cmd: RetentionCmd) -> Result<ExitCode> {
    let RetentionCmd::Run {
        common,
        dry_run,
        json,
        database,
        evidence,
    } = cmd;
    let (cfg, dir) = common.load()?;
    if !dir.join(store::DB_FILE).exists() {
        anyhow::bail!(
            "no kuzet database in {}: pass the --data-dir (or --config) of the installation",
            dir.display()
        );
    }
    let (policy, _) = policy(&cfg);
    let store = Arc::new(super::open_store(&dir)?);
    // The caps of agreements changed at run time too, as the job applies.
    pipeline::register_agreements(&store, &cfg);
    let mut caps = caps(&cfg);
    caps.extend(store.agreement_retention_caps());
    let now = store.clock().now();
    let report = store.retention_pass_capped(policy, caps.clone(), now, dry_run)?;
    let database = database.or_else(|| cfg.cluster.database.clone());
    let evidence = evidence.or_else(|| cfg.cluster.evidence.clone());
    let central = match database.as_deref() {
        Some(url) => {
            let c = super::serve::data_backend(Some(url), evidence.as_deref(), &store, &dir)?;
            let pg = c.pg.context("--database did not open PostgreSQL")?;
            let claimed = store_pg::claimed_by(store.clone());
            let blobs = store_pg::ReleasingLocal::new(c.blobs.clone(), store.clone());
            Some(pg.retention_pass(policy, caps, now, dry_run, claimed, &blobs)?)
        }
        None => None,
    };
    store.close();
    match (json, &central) {
        (true, None) => println!("{}", serde_json::to_string_pretty(&report)?),
        (true, Some(pg)) => println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({"sqlite": report, "postgres": pg}))?
        ),
        (false, _) => {
            print!("{}", render(&report));
            if let Some(pg) = &central {
                print!("postgres: {}", render(pg));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as a table, one line per class.
pub fn render(r: &RetentionReport) -> String {
    let mut out = format!(
        "retention {} at {}\n{:<15} {:<25} {:>8} {:>8} {:>8} {:>12} {:>7}\n",
        if r.dry_run {
            "dry run (nothing deleted)"
        } else {
            "pass"
        },
        r.now.to_rfc3339(),
        "class",
        "older than",
        "rows",
        "related",
        "files",
        "bytes",
        "locked"
    );
    for c in &r.classes {
        out.push_str(&format!(
            "{:<15} {:<25} {:>8} {:>8} {:>8} {:>12} {:>7}\n",
            c.class,
            c.cutoff.to_rfc3339(),
            c.rows,
            c.related_rows + c.references_cleared,
            c.files,
            c.bytes,
            c.locked_kept
        ));
    }
    if !r.dry_run {
        out.push_str(&format!(
            "{} audit entr{} written\n",
            r.audit_seqs.len(),
            if r.audit_seqs.len() == 1 { "y" } else { "ies" }
        ));
    }
    out
}
