//! Subcommands and what they share: config loading and data-dir resolution.

pub mod analyze;
pub mod authorisation;
pub mod bench;
pub mod crowd;
pub mod events;
pub mod faces;
pub mod fire;
pub mod keys;
pub mod models;
pub mod plates;
pub mod retention;
pub mod security;
pub mod serve;
pub mod simulate;
pub mod worker;

use anyhow::{Context, Result};
use config::Config;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// `--database`: where the central data (watchlists, hotlists) of the
/// distributed mode is kept.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct CentralDb {
    /// The PostgreSQL database of `kuzet serve --bus --database`, which keeps
    /// the watchlists and hotlists of the distributed mode (default:
    /// KUZET_DATABASE, else the config's `[cluster] database`; none: this
    /// data directory's store).
    #[arg(long, env = "KUZET_DATABASE")]
    pub database: Option<String>,
}

impl CentralDb {
    /// Whether a central database is named (flag, environment or config).
    pub fn named(&self, cfg: &config::Config) -> bool {
        self.database.is_some() || cfg.cluster.database.is_some()
    }

    /// The central database, opened with `store`'s key (templates are
    /// sealed under the serve node's key), or `None` for the embedded store.
    pub fn open(
        &self,
        cfg: &config::Config,
        store: &store::Store,
    ) -> Result<Option<Arc<dyn store::StoreBackend>>> {
        let Some(url) = self
            .database
            .clone()
            .or_else(|| cfg.cluster.database.clone())
        else {
            return Ok(None);
        };
        let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(&url)).with_context(|| {
            format!(
                "cannot open the PostgreSQL database {} (--database / KUZET_DATABASE / [cluster] database)",
                serve::redact_url(&url)
            )
        })?;
        if let Some(key) = store.seal_key() {
            pg.set_seal_key(key);
        }
        Ok(Some(Arc::new(pg)))
    }
}

/// `--config` and `--data-dir`, which every command that reads or writes the
/// data directory takes.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Common {
    /// TOML configuration file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Where the database and evidence live (default: the config's
    /// `data_dir`, else ./kuzet-data).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

impl Common {
    /// The loaded config and the data directory it resolves to.
    pub fn load(&self) -> Result<(Config, PathBuf)> {
        let cfg = load_config(self.config.as_deref())?;
        let dir = data_dir(self.data_dir.as_deref(), &cfg);
        Ok((cfg, dir))
    }
}

/// Loads `--config` if given, else defaults.
pub fn load_config(path: Option<&Path>) -> Result<Config> {
    match path {
        Some(p) => Ok(Config::load(p)?),
        None => Ok(Config::default()),
    }
}

/// `--data-dir`, else the config's `data_dir`, else `./kuzet-data`.
pub fn data_dir(flag: Option<&Path>, cfg: &Config) -> PathBuf {
    flag.map(Path::to_path_buf)
        .or_else(|| cfg.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("kuzet-data"))
}

/// Models folder: the config's `models.dir`, else `KUZET_MODELS`, else `../shared/models`.
pub fn models_dir(cfg: &Config) -> PathBuf {
    cfg.models.dir.clone().unwrap_or_else(base::env::models_dir)
}

pub fn open_store(dir: &Path) -> Result<store::Store> {
    store::Store::open(dir)
        .with_context(|| format!("cannot open the data directory {}", dir.display()))
}

/// Where the evidence key is read from, and which setting named it
/// (`"default"`: the generated one in the data directory).
pub fn seal_key_path(cfg: &Config, dir: &Path) -> (PathBuf, &'static str) {
    match std::env::var_os("KUZET_KEY_FILE").filter(|v| !v.is_empty()) {
        Some(p) => (PathBuf::from(p), "KUZET_KEY_FILE"),
        None => match &cfg.evidence.key_file {
            Some(p) => (p.clone(), "[evidence] key_file"),
            None => (dir.join("keys").join("evidence.key"), "default"),
        },
    }
}

/// Configures the key that seals un-masked evidence originals:
/// `$KUZET_KEY_FILE`, else `[evidence] key_file`, else
/// `<data_dir>/keys/evidence.key`, created (0600) if missing — never no key,
/// so masking never silently drops the originals an investigation may need.
pub fn configure_seal_key(store: &store::Store, cfg: &Config, dir: &Path) -> Result<()> {
    let (path, from) = seal_key_path(cfg, dir);
    let key = if from == "default" {
        let (key, created) = store::SealKey::load_or_create(&path)
            .with_context(|| format!("evidence key {}", path.display()))?;
        if created {
            tracing::warn!(
                path = %path.display(),
                key_id = key.id(),
                "no evidence key configured: generated one (mode 0600) in the data directory; \
                 back it up, and for production set KUZET_KEY_FILE or [evidence] key_file to a \
                 key kept apart from the data"
            );
        }
        key
    } else {
        store::SealKey::load(&path).with_context(|| {
            format!(
                "evidence key from {from} ({}) cannot be used",
                path.display()
            )
        })?
    };
    let key = std::sync::Arc::new(key);
    store.set_seal_key(key.clone());
    // Face data stored in the clear by a version before migration 13 is
    // sealed now (a no-op once done: two indexed counts).
    let r = store
        .seal_plain_face_data(key)
        .context("sealing face data stored in the clear before migration 13")?;
    if r.resealed() > 0 {
        tracing::info!(
            templates = r.templates.resealed,
            sightings = r.sightings.resealed,
            crops = r.crops.resealed,
            "sealed face data that was stored in the clear"
        );
    }
    Ok(())
}

/// Process CPU time (user + system) so far: benchmarks report CPU-seconds per
/// frame, which says how many cameras a core sustains.
pub fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes the struct we pass.
    unsafe {
        let mut u: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut u) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(u.ru_utime) + tv(u.ru_stime)
    }
}
