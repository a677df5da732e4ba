//! `kuzet user …`, `kuzet token …` and `kuzet audit …`: accounts and the
//! audit log, worked on the data directory directly (on the server machine,
//! by whoever may read its files). Every change is itself audited, with the
//! operating-system user as the actor.

use super::{open_store, Common};
use anyhow::{bail, Context, Result};
use auth::{Auth, LockoutPolicy, Role, SessionPolicy};
use std::io::{BufRead, IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use store::{NewAuditEntry, Store};

#[derive(clap::Subcommand)]
pub enum UserCmd {
    /// Add a user (the password is asked for, or read from stdin).
    Add {
        name: String,
        /// viewer, operator, investigator, supervisor, auditor or admin.
        #[arg(long)]
        role: String,
        /// Camera groups the user may see, comma-separated (default: all cameras).
        #[arg(long, value_delimiter = ',')]
        groups: Vec<String>,
        /// Camera owners (`[[owner]]` ids) whose cameras the user may see,
        /// comma-separated, e.g. a shopping centre's own security staff
        /// (default: any owner's). Checked against `--config` when given.
        #[arg(long, value_delimiter = ',')]
        owners: Vec<String>,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: Common,
    },
    /// List users.
    Ls {
        #[command(flatten)]
        common: Common,
    },
    /// Remove a user with their sessions and tokens.
    Rm {
        name: String,
        #[command(flatten)]
        common: Common,
    },
    /// Set a new password.
    Passwd {
        name: String,
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Subcommand)]
pub enum TokenCmd {
    /// Create a named API token acting as USER; prints it once.
    Create {
        name: String,
        #[arg(long)]
        user: String,
        #[command(flatten)]
        common: Common,
    },
    /// List tokens (never their values).
    Ls {
        #[command(flatten)]
        common: Common,
    },
    /// Revoke a token.
    Revoke {
        name: String,
        #[command(flatten)]
        common: Common,
    },
}

#[derive(clap::Subcommand)]
pub enum AuditCmd {
    /// Check the hash chain; names the first bad entry and exits 1 if any.
    Verify {
        /// Also check that the chain still contains this anchor (SEQ:HASH,
        /// from `export-anchor`): catches a rewritten tail.
        #[arg(long)]
        anchor: Option<String>,
        #[command(flatten)]
        common: Common,
    },
    /// Print the chain head (seq and hash) for an external witness.
    ExportAnchor {
        #[command(flatten)]
        common: Common,
    },
}

/// Who ran the command, for the audit log.
pub(crate) fn cli_actor() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

fn audit(
    store: &Store,
    action: &str,
    target: &str,
    outcome: &str,
    details: serde_json::Value,
) -> Result<()> {
    store
        .append_audit(NewAuditEntry {
            actor: Some(cli_actor()),
            action: action.into(),
            target: Some(target.into()),
            outcome: outcome.into(),
            details,
            ..Default::default()
        })
        .context("cannot write the audit log")?;
    Ok(())
}

fn open(common: &Common) -> Result<(Arc<Store>, Auth)> {
    let (_, dir) = common.load()?;
    let store = Arc::new(open_store(&dir)?);
    let auth = Auth::new(
        store.clone(),
        SessionPolicy::default(),
        LockoutPolicy::default(),
    );
    Ok((store, auth))
}

/// The password: from stdin with `--password-stdin`, else asked twice on the
/// terminal without echo. Never from a flag (it would land in shell history).
fn read_password(from_stdin: bool) -> Result<String> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        let pw = line.trim_end_matches(['\r', '\n']).to_string();
        if pw.is_empty() {
            bail!("no password on standard input");
        }
        return Ok(pw);
    }
    if !std::io::stdin().is_terminal() {
        bail!("no terminal to ask for the password: pass --password-stdin and pipe it in");
    }
    let a = prompt_hidden("Password: ")?;
    let b = prompt_hidden("Again: ")?;
    if a != b {
        bail!("the two passwords differ; nothing changed");
    }
    Ok(a)
}

fn prompt_hidden(prompt: &str) -> Result<String> {
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    let fd = libc::STDIN_FILENO;
    // SAFETY: termios calls on our own stdin with a struct we own.
    let old = unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        if libc::tcgetattr(fd, &mut t) != 0 {
            bail!("cannot read the terminal settings");
        }
        let old = t;
        t.c_lflag &= !libc::ECHO;
        libc::tcsetattr(fd, libc::TCSANOW, &t);
        old
    };
    let mut line = String::new();
    let r = std::io::stdin().lock().read_line(&mut line);
    // SAFETY: restores the settings read above.
    unsafe {
        libc::tcsetattr(fd, libc::TCSANOW, &old);
    }
    eprintln!();
    r?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}

pub fn run_user(cmd: UserCmd) -> Result<ExitCode> {
    match cmd {
        UserCmd::Add {
            name,
            role,
            groups,
            owners,
            password_stdin,
            common,
        } => {
            let role: Role = role.parse()?;
            let groups: Vec<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
            let owners: Vec<String> = owners.into_iter().filter(|o| !o.is_empty()).collect();
            if common.config.is_some() {
                // A mistyped owner would give a user who sees nothing.
                let (cfg, _) = common.load()?;
                if let Some(o) = owners.iter().find(|o| cfg.owner(o).is_none()) {
                    let known: Vec<&str> = cfg.owners.iter().map(|o| o.id.as_str()).collect();
                    bail!(
                        "owner {o:?} is not defined in the config (owners: {}); add an [[owner]] \
                         or fix --owners",
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    );
                }
            }
            let (store, auth) = open(&common)?;
            let pw = read_password(password_stdin)?;
            let r = auth.add_user_scoped(&name, role, &groups, &owners, &pw);
            audit(
                &store,
                "user.add",
                &name,
                if r.is_ok() { "ok" } else { "failed" },
                serde_json::json!({ "role": role, "groups": groups, "owners": owners }),
            )?;
            r?;
            let mut scope = if groups.is_empty() {
                ", all cameras".to_string()
            } else {
                format!(", groups {}", groups.join(","))
            };
            if !owners.is_empty() {
                scope.push_str(&format!(", owners {}", owners.join(",")));
            }
            println!("added {name} ({role}{scope})");
        }
        UserCmd::Ls { common } => {
            let (store, _) = open(&common)?;
            for u in store.users()? {
                let groups = if u.groups.is_empty() {
                    "*".to_string()
                } else {
                    u.groups.join(",")
                };
                let owners = if u.owners.is_empty() {
                    "*".to_string()
                } else {
                    u.owners.join(",")
                };
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    u.name, u.role, groups, owners, u.created
                );
            }
        }
        UserCmd::Rm { name, common } => {
            let (store, _) = open(&common)?;
            let removed = store.remove_user(&name)?;
            audit(
                &store,
                "user.remove",
                &name,
                if removed { "ok" } else { "not_found" },
                serde_json::json!({}),
            )?;
            if !removed {
                bail!("no user named {name:?}: see `kuzet user ls`");
            }
            println!("removed {name}");
        }
        UserCmd::Passwd {
            name,
            password_stdin,
            common,
        } => {
            let (store, _) = open(&common)?;
            let pw = read_password(password_stdin)?;
            auth::check_password(&pw)?;
            let changed = store.set_user_password(&name, &auth::hash_password(&pw)?)?;
            audit(
                &store,
                "user.passwd",
                &name,
                if changed { "ok" } else { "not_found" },
                serde_json::json!({}),
            )?;
            if !changed {
                bail!("no user named {name:?}: see `kuzet user ls`");
            }
            println!("password of {name} changed");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_token(cmd: TokenCmd) -> Result<ExitCode> {
    match cmd {
        TokenCmd::Create { name, user, common } => {
            let (store, auth) = open(&common)?;
            let r = auth.create_token(&name, &user);
            audit(
                &store,
                "token.create",
                &name,
                if r.is_ok() { "ok" } else { "failed" },
                serde_json::json!({ "user": user }),
            )?;
            let token = r?;
            eprintln!(
                "token {name} for {user} (shown once; send it as `Authorization: Bearer …`):"
            );
            println!("{token}");
        }
        TokenCmd::Ls { common } => {
            let (store, _) = open(&common)?;
            for t in store.tokens()? {
                let state = match t.revoked {
                    Some(at) => format!("revoked {at}"),
                    None => "active".into(),
                };
                let used = t.last_used.map_or("never".into(), |t| t.to_string());
                println!("{}\t{}\t{}\tlast used {}", t.name, t.user_name, state, used);
            }
        }
        TokenCmd::Revoke { name, common } => {
            let (store, _) = open(&common)?;
            let revoked = store.revoke_token(&name)?;
            audit(
                &store,
                "token.revoke",
                &name,
                if revoked { "ok" } else { "not_found" },
                serde_json::json!({}),
            )?;
            if !revoked {
                bail!("no active token named {name:?}: see `kuzet token ls`");
            }
            println!("revoked {name}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_audit(cmd: AuditCmd) -> Result<ExitCode> {
    match cmd {
        AuditCmd::Verify { anchor, common } => {
            let (_, dir) = common.load()?;
            if !dir.join(store::DB_FILE).exists() {
                bail!(
                    "no kuzet database in {}: pass the --data-dir of the server",
                    dir.display()
                );
            }
            let store = open_store(&dir)?;
            let v = store.verify_audit()?;
            if let Some(b) = &v.first_bad {
                println!("audit log BROKEN at entry {}: {}", b.seq, b.problem);
                println!(
                    "{} entries read; the entries before {} check out",
                    v.entries, b.seq
                );
                return Ok(ExitCode::from(1));
            }
            if let Some(a) = anchor {
                let (seq, hash) = a
                    .split_once(':')
                    .and_then(|(s, h)| Some((s.parse::<i64>().ok()?, h.to_string())))
                    .context(
                        "--anchor: expected SEQ:HASH as printed by `kuzet audit export-anchor`",
                    )?;
                let found = store
                    .audit_entries(Some(seq + 1), 1)?
                    .into_iter()
                    .next()
                    .filter(|e| e.seq == seq);
                match found {
                    Some(e) if e.hash == hash => {}
                    Some(_) => {
                        println!("audit log BROKEN at entry {seq}: its hash differs from the anchor (the chain was rewritten)");
                        return Ok(ExitCode::from(1));
                    }
                    None => {
                        println!(
                            "audit log BROKEN: anchor entry {seq} is missing (the chain was cut)"
                        );
                        return Ok(ExitCode::from(1));
                    }
                }
            }
            match v.head {
                Some(h) => println!(
                    "audit log OK: {} entries, head {}:{}",
                    v.entries, h.seq, h.hash
                ),
                None => println!("audit log OK: empty"),
            }
        }
        AuditCmd::ExportAnchor { common } => {
            let (_, dir) = common.load()?;
            let store = open_store(&dir)?;
            match store.audit_head()? {
                Some(h) => {
                    let now = base::Timestamp::from_millis(
                        std::time::SystemTime::now()
                            .duration_since(std::time::UNIX_EPOCH)
                            .map(|d| d.as_millis() as i64)
                            .unwrap_or(0),
                    );
                    println!("{}:{}", h.seq, h.hash);
                    eprintln!("chain head at {now}; keep this line somewhere the server cannot write, and check it later with `kuzet audit verify --anchor`");
                }
                None => bail!("the audit log is empty: nothing to anchor yet"),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
