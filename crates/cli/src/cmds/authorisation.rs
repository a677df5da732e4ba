//! `kuzet authorisation add|approve|ls|revoke`: legal authorisations for
//! biometric identification, worked on the data directory directly. Each
//! change is audited by the store in the same transaction. The actor is
//! `--by NAME` when given (the officer acting), else the operating-system
//! user (`cli:$USER`); approval by the requester is refused.

use super::{open_store, Common};
use anyhow::{bail, Context, Result};
use base::Timestamp;
use std::process::ExitCode;
use store::{Authorisation, AuthorisationPurpose, ListClass, NewAuthorisation};

// Parsed once per process: the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(clap::Subcommand)]
pub enum AuthorisationCmd {
    /// Record a requested authorisation (urgent ones take effect at once).
    Add {
        /// live, retrospective or both.
        #[arg(long)]
        purpose: String,
        /// The law and article the decision rests on.
        #[arg(long)]
        legal_ground: String,
        /// Who issued it (court, prosecutor, …).
        #[arg(long)]
        authority: String,
        /// The decision's reference number.
        #[arg(long)]
        decision: String,
        /// Cameras or camera groups, comma-separated.
        #[arg(long)]
        cameras: String,
        /// Watchlist names, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        watchlists: Vec<String>,
        /// missing (missing-person lists) or criminal (every other list).
        #[arg(long)]
        list_class: String,
        /// Start of the footage window (RFC 3339 or epoch ms).
        #[arg(long)]
        window_start: Option<String>,
        /// End of the footage window.
        #[arg(long)]
        window_end: Option<String>,
        /// When the authorisation expires (RFC 3339 or epoch ms).
        #[arg(long)]
        expires: String,
        /// Take effect without approval; stopped and purged unless approved
        /// within 24 h (live) / 48 h (retrospective only).
        #[arg(long)]
        urgent: bool,
        /// Who requests it (default: cli:$USER).
        #[arg(long)]
        by: Option<String>,
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
    /// Approve an authorisation (not by its requester).
    Approve {
        id: i64,
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Revoke an authorisation; it stops taking effect at once.
    Revoke {
        id: i64,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        by: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// List authorisations with their status (and record overdue lapses).
    Ls {
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        common: Common,
    },
}

fn time(flag: &str, v: &str) -> Result<Timestamp> {
    Timestamp::parse(v)
        .with_context(|| format!("{flag} {v:?}: use RFC 3339 (2026-11-22T10:00:00Z) or epoch ms"))
}

fn actor(by: Option<String>) -> String {
    by.map(|b| b.trim().to_owned())
        .filter(|b| !b.is_empty())
        .unwrap_or_else(super::security::cli_actor)
}

fn print(a: &Authorisation, now: Timestamp) {
    println!(
        "{:>4}  {:<13} {:<8} {:<13} cameras {}  lists {} ({})  expires {}{}",
        a.id,
        a.purpose.as_str(),
        format!("{:?}", a.status(now)).to_lowercase(),
        a.decision_ref,
        a.cameras.join(","),
        a.watchlists.join(","),
        a.list_class.as_str(),
        a.expires,
        a.urgent_deadline()
            .map(|d| format!("  urgent: approve before {d}"))
            .unwrap_or_default()
    );
}

pub fn run(cmd: AuthorisationCmd) -> Result<ExitCode> {
    match cmd {
        AuthorisationCmd::Add {
            purpose,
            legal_ground,
            authority,
            decision,
            cameras,
            watchlists,
            list_class,
            window_start,
            window_end,
            expires,
            urgent,
            by,
            json,
            common,
        } => {
            let (cfg, dir) = common.load()?;
            let store = open_store(&dir)?;
            let ids = match super::faces::resolve_camera_ids(&cfg, &store, &cameras) {
                Ok(ids) => ids,
                // A camera may be authorised before it is first recorded
                // (e.g. a clip about to be analysed): take the ids as given.
                Err(e) => {
                    let ids: Vec<String> = cameras
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned)
                        .collect();
                    eprintln!("warning: {e:#}; authorising camera ids {ids:?} as given");
                    ids
                }
            };
            let a = store.request_authorisation(NewAuthorisation {
                purpose: purpose.parse::<AuthorisationPurpose>()?,
                legal_ground,
                authority,
                decision_ref: decision,
                scope_text: cameras,
                cameras: ids,
                watchlists,
                list_class: list_class.parse::<ListClass>()?,
                window_start: window_start
                    .map(|v| time("--window-start", &v))
                    .transpose()?,
                window_end: window_end.map(|v| time("--window-end", &v)).transpose()?,
                expires: time("--expires", &expires)?,
                urgent,
                requested_by: actor(by),
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&a)?);
            } else {
                println!("recorded authorisation {}", a.id);
                print(&a, store.clock().now());
            }
        }
        AuthorisationCmd::Approve { id, by, common } => {
            let (_, dir) = common.load()?;
            let store = open_store(&dir)?;
            let a = store.approve_authorisation(id, &actor(by))?;
            println!("approved authorisation {id}");
            print(&a, store.clock().now());
        }
        AuthorisationCmd::Revoke {
            id,
            reason,
            by,
            common,
        } => {
            let (_, dir) = common.load()?;
            let store = open_store(&dir)?;
            if reason.trim().is_empty() {
                bail!("--reason must say why the authorisation is revoked");
            }
            store.revoke_authorisation(id, &actor(by), &reason)?;
            println!("revoked authorisation {id}");
        }
        AuthorisationCmd::Ls { json, common } => {
            let (_, dir) = common.load()?;
            let store = open_store(&dir)?;
            for l in store.lapse_overdue_authorisations()? {
                eprintln!(
                    "urgent authorisation {} was not approved in time: stopped, {} event(s) and {} entr(ies) purged",
                    l.authorisation_id,
                    l.events.len(),
                    l.persons.len()
                );
            }
            let all = store.authorisations()?;
            let now = store.clock().now();
            if json {
                let v: Vec<serde_json::Value> = all
                    .iter()
                    .map(|a| {
                        let mut v = serde_json::to_value(a).unwrap_or_default();
                        v["status"] = serde_json::to_value(a.status(now)).unwrap_or_default();
                        v
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                if all.is_empty() {
                    println!("no authorisations");
                }
                for a in &all {
                    print(a, now);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Checks that authorisation `id` covers a retrospective search of
/// `cameras` over `[since, until)` now (and `list`, when the search puts an
/// entry on one), and returns the search narrowed to
/// its scope; a refusal is audited (`faces.search` / `faces.lost`, outcome
/// `refused`) before it is returned.
pub fn scope_search(
    store: &store::Store,
    id: Option<i64>,
    action: &str,
    cameras: &[String],
    since: Option<Timestamp>,
    until: Option<Timestamp>,
    list: Option<(&str, store::WatchlistCategory)>,
) -> Result<(i64, store::authorisations::ScopedSearch)> {
    let refuse = |msg: String| -> Result<(i64, store::authorisations::ScopedSearch)> {
        store
            .append_audit(store::NewAuditEntry {
                actor: Some(super::security::cli_actor()),
                action: action.into(),
                target: id.map(|i| format!("authorisation {i}")),
                outcome: "refused".into(),
                details: serde_json::json!({ "error": msg }),
                ..Default::default()
            })
            .context("cannot write the audit log")?;
        bail!("{msg}")
    };
    let Some(id) = id else {
        return refuse(
            "every face search must name the legal authorisation it rests on: pass --authorisation ID (see `kuzet authorisation ls`)".into(),
        );
    };
    let Some(a) = store.authorisation(id)? else {
        return refuse(format!("no authorisation with id {id}"));
    };
    if let Some((name, cat)) = list {
        if !a.covers_list(name, cat) {
            return refuse(format!(
                "authorisation {id} does not cover the {cat} list {name:?}"
            ));
        }
    }
    match a.scope_search(store.clock().now(), cameras, since, until) {
        Ok(s) => Ok((id, s)),
        Err(e) => refuse(e.to_string()),
    }
}

/// Audits a CLI face search that ran (`outcome` ok), with its count.
pub fn audit_use(
    store: &store::Store,
    id: i64,
    action: &str,
    details: serde_json::Value,
) -> Result<()> {
    store
        .append_audit(store::NewAuditEntry {
            actor: Some(super::security::cli_actor()),
            action: action.into(),
            target: Some(format!("authorisation {id}")),
            outcome: "ok".into(),
            details,
            ..Default::default()
        })
        .context("cannot write the audit log")?;
    Ok(())
}
