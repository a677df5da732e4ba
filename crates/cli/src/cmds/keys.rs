//! `kuzet keys rotate`: re-seal every encrypted evidence original, face
//! template and sighting embedding (in PostgreSQL too, with `--database`) and
//! face crop under a new key, audited
//! (face data stored in the clear before migration 13 is sealed on the way). Run it on the server machine with the server stopped
//! or running (rows are re-sealed in short transactions); keep the old key
//! until it reports success, then point the server at the new one.

use super::{open_store, seal_key_path, Common};
use anyhow::{bail, Context, Result};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use store::{NewAuditEntry, SealKey};

#[derive(clap::Subcommand)]
pub enum KeysCmd {
    /// Re-encrypt everything sealed under the current key (KUZET_KEY_FILE,
    /// `[evidence] key_file`, or the generated <data_dir>/keys/evidence.key)
    /// under the key in FILE. Resumable: run it again after an interruption.
    Rotate {
        /// The new key: 64 hex digits (`openssl rand -hex 32 > FILE`).
        #[arg(long)]
        new_key: PathBuf,
        /// The PostgreSQL database of `kuzet serve --bus --database`, whose
        /// watchlist templates and face sightings are sealed under the same key (default: KUZET_DATABASE,
        /// `[cluster] database`).
        #[arg(long, env = "KUZET_DATABASE")]
        database: Option<String>,
        #[command(flatten)]
        common: Common,
    },
}

pub fn run(cmd: KeysCmd) -> Result<ExitCode> {
    match cmd {
        KeysCmd::Rotate {
            new_key,
            database,
            common,
        } => {
            let (cfg, dir) = common.load()?;
            let database = database.or_else(|| cfg.cluster.database.clone());
            if !dir.join(store::DB_FILE).exists() {
                bail!(
                    "no kuzet database in {}: pass the --data-dir of the server",
                    dir.display()
                );
            }
            let (old_path, from) = seal_key_path(&cfg, &dir);
            let old = SealKey::load(&old_path).with_context(|| {
                format!(
                    "the current key ({from}: {}) is needed to open what it sealed",
                    old_path.display()
                )
            })?;
            let new = SealKey::load(&new_key)
                .with_context(|| format!("--new-key {}", new_key.display()))?;
            let (old_id, new_id) = (old.id().to_string(), new.id().to_string());
            let store = open_store(&dir)?;
            let (old, new) = (Arc::new(old), Arc::new(new));
            // Central sightings first: while they are under the old key the
            // server (still on it) reads them.
            let central = match database.as_deref() {
                None => None,
                Some(url) => {
                    let pg = store_pg::PgStore::connect(&store_pg::PgConfig::new(url))
                        .with_context(|| {
                            format!(
                                "cannot open the PostgreSQL database {}",
                                super::serve::redact_url(url)
                            )
                        })?;
                    Some(pg)
                }
            };
            let r = central
                .as_ref()
                .map(|pg| {
                    Ok::<_, store::StoreError>((
                        pg.reseal_templates(old.clone(), new.clone())?,
                        pg.reseal_sightings(old.clone(), new.clone())?,
                    ))
                })
                .transpose()
                .and_then(|central| {
                    let originals = store.reseal_evidence_originals(old.clone(), new.clone())?;
                    let faces = store.reseal_face_data(Some(old), new)?;
                    Ok((originals, faces, central))
                });
            let audit = |outcome: &str, details: serde_json::Value| {
                store
                    .append_audit(NewAuditEntry {
                        actor: Some(super::security::cli_actor()),
                        action: "keys.rotate".into(),
                        target: Some(format!("key {old_id} -> {new_id}")),
                        outcome: outcome.into(),
                        details,
                        ..Default::default()
                    })
                    .context("cannot write the audit log")
            };
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    audit("failed", serde_json::json!({ "error": e.to_string() }))?;
                    return Err(e).context("rotation stopped; the old key still opens every row not yet re-sealed, run it again once fixed");
                }
            };
            let (r, faces, central) = r;
            audit(
                "ok",
                serde_json::json!({
                    "originals": r,
                    "templates": faces.templates,
                    "sightings": faces.sightings,
                    "crops": faces.crops,
                    "central_templates": central.as_ref().map(|c| &c.0),
                    "central_sightings": central.as_ref().map(|c| &c.1),
                }),
            )?;
            // The persisted sighting indexes are sealed under the old key:
            // drop them, the server rebuilds them from the re-sealed rows at
            // start.
            for name in [faces::SIGHTING_INDEX, faces::CENTRAL_SIGHTING_INDEX] {
                let index = dir.join(faces::FACES_DIR).join(name);
                match std::fs::remove_file(&index) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("removing {}", index.display()))
                    }
                }
            }
            if let Some((t, c)) = &central {
                println!(
                    "PostgreSQL: re-sealed {} templates and {} sightings ({} already under the new key)",
                    t.resealed,
                    c.resealed,
                    t.already + c.already
                );
            }
            println!(
                "face data: re-sealed {} templates, {} sightings, {} crops ({} rows/files \
                 already under the new key)",
                faces.templates.resealed,
                faces.sightings.resealed,
                faces.crops.resealed,
                faces.templates.already + faces.sightings.already + faces.crops.already
            );
            if from == "default" {
                // The generated key lives in the data dir: swap it in place,
                // keeping the old one beside it until the operator deletes it.
                let keep = old_path.with_file_name(format!("evidence.key.{old_id}.old"));
                std::fs::copy(&old_path, &keep)
                    .with_context(|| format!("keeping the old key as {}", keep.display()))?;
                let tmp = old_path.with_extension("key.new");
                std::fs::copy(&new_key, &tmp)
                    .and_then(|_| {
                        use std::os::unix::fs::PermissionsExt;
                        std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))
                    })
                    .and_then(|_| std::fs::rename(&tmp, &old_path))
                    .with_context(|| format!("installing the new key as {}", old_path.display()))?;
                println!(
                    "re-sealed {} originals ({} already under the new key) in {} transactions; \
                     {} now holds key {new_id}, the old key {old_id} is kept as {} — delete it \
                     once backups no longer need it",
                    r.resealed,
                    r.already,
                    r.batches,
                    old_path.display(),
                    keep.display()
                );
            } else {
                println!(
                    "re-sealed {} originals ({} already under the new key) in {} transactions \
                     under key {new_id}; now point {from} at {} and restart the server; keep \
                     the old key {old_id} until then",
                    r.resealed,
                    r.already,
                    r.batches,
                    new_key.display()
                );
            }
            store.close();
            Ok(ExitCode::SUCCESS)
        }
    }
}
