//! A throw-away PostgreSQL server for tests and benchmarks: Debian's
//! `postgresql` 15 binaries, a temporary data directory, 127.0.0.1 on a free
//! port, trust authentication, stopped (and its directory removed) on drop.
//!
//! `initdb` refuses to run as root; when the caller is root the directory is
//! handed to the `postgres` system user and the binaries run through
//! `runuser -u postgres --`.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's `postgresql-15` package puts its server binaries.
pub const PG_BIN_DIR: &str = "/usr/lib/postgresql/15/bin";

/// Why the server could not be started, in words that name the fix.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TempPgError(String);

/// A running temporary server.
pub struct TempPostgres {
    dir: tempfile::TempDir,
    data: PathBuf,
    port: u16,
    as_postgres: bool,
}

fn is_root() -> bool {
    // `id -u` avoids a libc dependency for one call.
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn free_port() -> Result<u16, TempPgError> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| TempPgError(format!("cannot find a free port on 127.0.0.1: {e}")))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| TempPgError(format!("cannot read the free port: {e}")))
}

impl TempPostgres {
    /// Initialises and starts a server tuned for tests (`fsync=off`: a crash
    /// of a throw-away server loses nothing of value); fails with a message
    /// naming the Debian package when the binaries are missing.
    pub fn start() -> Result<TempPostgres, TempPgError> {
        Self::start_with(false)
    }

    /// Like [`TempPostgres::start`] with PostgreSQL's durable defaults
    /// (`fsync=on`, `full_page_writes=on`): for throughput measurements that
    /// must include the cost of flushing each commit to disk.
    pub fn start_durable() -> Result<TempPostgres, TempPgError> {
        Self::start_with(true)
    }

    fn start_with(durable: bool) -> Result<TempPostgres, TempPgError> {
        let bin = Path::new(PG_BIN_DIR);
        for b in ["initdb", "pg_ctl"] {
            if !bin.join(b).is_file() {
                return Err(TempPgError(format!(
                    "{} not found: install the Debian package `postgresql` (15), e.g. by \
                     running scripts/setup.sh",
                    bin.join(b).display()
                )));
            }
        }
        let as_postgres = is_root();
        let mut builder = tempfile::Builder::new();
        builder.prefix("kuzet-pg-");
        // As root the server runs as `postgres`, which must be able to reach
        // the directory: $TMPDIR may sit under a private home, /tmp never does.
        let dir = if as_postgres {
            builder.tempdir_in("/tmp")
        } else {
            builder.tempdir()
        }
        .map_err(|e| TempPgError(format!("cannot create a temporary directory: {e}")))?;
        let data = dir.path().join("data");
        if as_postgres {
            // The data directory's parent must be traversable by `postgres`.
            let st = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .map_err(|e| TempPgError(format!("chown: {e}")))?;
            if !st.success() {
                return Err(TempPgError(
                    "cannot chown the temporary directory to the `postgres` user (created by \
                     the Debian package `postgresql`)"
                        .into(),
                ));
            }
        }
        let mut me = TempPostgres {
            dir,
            data,
            port: 0,
            as_postgres,
        };
        me.run(
            "initdb",
            &[
                "-D",
                &me.data.display().to_string(),
                "-U",
                "kuzet",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )?;
        // A port may be taken between probing and binding: retry a few.
        let mut last = String::new();
        for _ in 0..5 {
            me.port = free_port()?;
            let log = me.dir.path().join("server.log").display().to_string();
            let sync = if durable {
                "-c fsync=on -c full_page_writes=on"
            } else {
                "-c fsync=off -c full_page_writes=off"
            };
            let opts = format!(
                "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories='' \
                 {sync} -c synchronous_commit=on -c max_connections=50",
                me.port
            );
            match me.run(
                "pg_ctl",
                &[
                    "-D",
                    &me.data.display().to_string(),
                    "-l",
                    &log,
                    "-o",
                    &opts,
                    "-w",
                    "-t",
                    "30",
                    "start",
                ],
            ) {
                Ok(()) => {
                    me.run_sql("CREATE DATABASE kuzet")?;
                    return Ok(me);
                }
                Err(e) => {
                    last = format!(
                        "{e}; server log: {}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    )
                }
            }
        }
        Err(TempPgError(format!("postgres did not start: {last}")))
    }

    fn command(&self, bin: &str) -> Command {
        let path = Path::new(PG_BIN_DIR).join(bin);
        let mut c = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(path);
            c
        } else {
            Command::new(path)
        };
        // The caller's directory may not be readable by `postgres`.
        c.current_dir(self.dir.path());
        c
    }

    fn run(&self, bin: &str, args: &[&str]) -> Result<(), TempPgError> {
        let out = self
            .command(bin)
            .args(args)
            .output()
            .map_err(|e| TempPgError(format!("cannot run {bin}: {e}")))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TempPgError(format!(
                "{bin} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    fn run_sql(&self, sql: &str) -> Result<(), TempPgError> {
        let out = Command::new("psql")
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args([
                "-U",
                "kuzet",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
                sql,
            ])
            .output()
            .map_err(|e| {
                TempPgError(format!(
                    "cannot run psql ({e}): install the Debian package `postgresql-client`"
                ))
            })?;
        if out.status.success() {
            Ok(())
        } else {
            Err(TempPgError(format!(
                "psql {sql:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            )))
        }
    }

    /// Creates a fresh, empty database and returns its URL (one per test
    /// case, so cases never see each other's rows on one server).
    pub fn create_database(&self, name: &str) -> Result<String, TempPgError> {
        if !name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(TempPgError(format!(
                "database name {name:?}: use a-z, 0-9 and _"
            )));
        }
        self.run_sql(&format!("CREATE DATABASE {name}"))?;
        Ok(self.url_for(name))
    }

    /// URL of the `kuzet` database.
    pub fn url(&self) -> String {
        self.url_for("kuzet")
    }

    fn url_for(&self, db: &str) -> String {
        format!("postgres://kuzet@127.0.0.1:{}/{db}", self.port)
    }

    /// The port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (fast shutdown). Also done on drop.
    pub fn stop(&mut self) {
        if self.port == 0 {
            return;
        }
        let data = self.data.display().to_string();
        if let Err(e) = self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]) {
            tracing::warn!(error = %e, "could not stop the temporary postgres");
        }
        self.port = 0;
    }
}

impl Drop for TempPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
