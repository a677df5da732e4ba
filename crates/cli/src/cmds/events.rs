use super::open_store;
use anyhow::{anyhow, Result};
use base::Timestamp;
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub common: super::Common,
    #[arg(long)]
    pub camera: Option<String>,
    #[arg(long)]
    pub kind: Option<String>,
    /// RFC 3339 time or epoch milliseconds.
    #[arg(long)]
    pub since: Option<String>,
    #[arg(long)]
    pub until: Option<String>,
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
}

fn time(flag: &str, v: &Option<String>) -> Result<Option<Timestamp>> {
    v.as_deref()
        .map(|s| {
            Timestamp::parse(s).ok_or_else(|| {
                anyhow!("--{flag} {s:?}: expected RFC 3339 (2026-11-22T10:00:00Z) or epoch milliseconds")
            })
        })
        .transpose()
}

pub fn run(a: Args) -> Result<ExitCode> {
    let (_, dir) = a.common.load()?;
    if !dir.join("kuzet.db").exists() {
        anyhow::bail!("no kuzet database in {}: run `kuzet analyze` or `kuzet serve` with this --data-dir first", dir.display());
    }
    let store = open_store(&dir)?;
    let q = store::EventQuery {
        camera: a.camera,
        kind: a.kind,
        since: time("since", &a.since)?,
        until: time("until", &a.until)?,
        limit: a.limit,
        ..Default::default()
    };
    for e in store.events(&q)? {
        println!("{}", super::analyze::event_json(&e));
    }
    Ok(ExitCode::SUCCESS)
}
