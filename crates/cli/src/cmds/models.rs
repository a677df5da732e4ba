use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum Cmd {
    /// Verify every model file's size and sha256; names what is missing or corrupt and how to get it.
    Check {
        /// Models folder (default: $KUZET_MODELS, else ../shared/models).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Manifest file (default: the one built into this binary).
        #[arg(long)]
        manifest: Option<PathBuf>,
    },
}

pub fn run(cmd: Cmd) -> Result<ExitCode> {
    match cmd {
        Cmd::Check { dir, manifest } => {
            let dir = dir.unwrap_or_else(base::env::models_dir);
            let m = match manifest {
                Some(p) => vision::ModelManifest::load(&p)?,
                None => vision::ModelManifest::embedded(),
            };
            let checks = m.check(&dir);
            let mut bad = 0;
            println!("models in {}", dir.display());
            for c in &checks {
                if c.is_ok() {
                    println!("  ok       {}", c.key);
                } else {
                    bad += 1;
                    println!("  PROBLEM  {}: {}", c.key, c.message);
                }
            }
            if bad == 0 {
                println!("all {} models verified", checks.len());
                Ok(ExitCode::SUCCESS)
            } else {
                println!(
                    "{bad} of {} models missing or corrupt (set KUZET_MODELS to the models folder)",
                    checks.len()
                );
                Ok(ExitCode::from(1))
            }
        }
    }
}
