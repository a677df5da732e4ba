//! The single writer thread.
//!
//! SQLite allows one writer at a time; rather than have callers contend for the
//! lock (and each pay an fsync), one thread owns the write connection and
//! callers send it commands. Whatever has queued up while the previous commit
//! was syncing goes into the next transaction together ("group commit"), so
//! under load many events share one fsync. Each command runs in its own
//! savepoint, so one bad command fails alone instead of taking its batch-mates
//! down with it.

use crate::evidence::EvidenceInfo;
use crate::subscribe::Broadcaster;
use crate::{StoreError, TrackRecord};
use base::Event;
use crossbeam_channel::{Receiver, Sender};
use rusqlite::{params, Connection, TransactionBehavior};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Most commands committed in one transaction: bounds how long one commit
/// takes (and so the latency of the first caller in it).
const MAX_BATCH: usize = 1024;

type Reply<T> = Sender<Result<T, StoreError>>;

/// A value produced by an [`Command::Exec`] closure, handed back after commit.
pub(crate) type AnyValue = Box<dyn std::any::Any + Send>;

/// Work a caller runs on the writer's connection inside its own savepoint:
/// rare administrative writes (watchlists, purges) that need several
/// statements to commit together, without a second write connection.
pub(crate) type ExecFn = Box<dyn FnOnce(&Connection) -> Result<AnyValue, StoreError> + Send>;

/// Like [`ExecFn`], also returning the events it inserted: the writer
/// publishes them to live subscribers after the commit and before replying,
/// on its own thread, so subscribers see every writer's events in commit
/// (and so id) order. Publishing from the caller's thread after the reply
/// let two concurrent ingests publish out of order, and an SSE client that
/// had seen the later id skipped the earlier one.
pub(crate) type ExecPublishFn =
    Box<dyn FnOnce(&Connection) -> Result<(AnyValue, Vec<Event>), StoreError> + Send>;

pub(crate) enum Command {
    InsertEvents {
        events: Vec<Event>,
        run_id: Option<i64>,
        reply: Reply<Vec<Event>>,
    },
    UpsertCamera {
        id: String,
        name: String,
        url: String,
        config_json: String,
        now: i64,
        reply: Reply<()>,
    },
    BeginRun {
        started: i64,
        version: String,
        pid: u32,
        reply: Reply<i64>,
    },
    EndRun {
        run_id: i64,
        ended: i64,
    },
    UpsertTracks {
        tracks: Vec<TrackRecord>,
    },
    InsertEvidence {
        info: EvidenceInfo,
        /// The key that sealed the file (a face crop), `None` for plain.
        key_id: Option<String>,
    },
    /// The sealed original of a masked evidence JPEG (see `crate::sealed`).
    InsertSealedOriginal {
        hash: String,
        key_id: String,
        sealed: Vec<u8>,
        regions: u32,
        created: i64,
    },
    /// Runs a closure in the batch's transaction; replies after the commit.
    Exec {
        name: &'static str,
        f: Option<ExecFn>,
        reply: Reply<AnyValue>,
    },
    /// [`Command::Exec`] for closures that insert events (see
    /// [`ExecPublishFn`]).
    ExecPublish {
        name: &'static str,
        f: Option<ExecPublishFn>,
        reply: Reply<AnyValue>,
    },
    /// Replies once everything queued before it has committed.
    Flush {
        reply: Reply<()>,
    },
}

impl Command {
    fn name(&self) -> &'static str {
        match self {
            Command::InsertEvents { .. } => "insert_events",
            Command::UpsertCamera { .. } => "upsert_camera",
            Command::BeginRun { .. } => "begin_run",
            Command::EndRun { .. } => "end_run",
            Command::UpsertTracks { .. } => "upsert_tracks",
            Command::InsertEvidence { .. } => "insert_evidence",
            Command::InsertSealedOriginal { .. } => "insert_sealed_original",
            Command::Exec { name, .. } | Command::ExecPublish { name, .. } => name,
            Command::Flush { .. } => "flush",
        }
    }
}

/// What a command produced, held until its transaction commits.
enum Outcome {
    Unit,
    RunId(i64),
    Value(AnyValue),
    /// A value and the events to publish once committed.
    Published(AnyValue, Vec<Event>),
}

/// Counters the writer keeps; read through [`crate::Store::writer_stats`].
#[derive(Default)]
pub(crate) struct Counters {
    pub transactions: AtomicU64,
    pub commands: AtomicU64,
    pub events: AtomicU64,
    pub failed_commands: AtomicU64,
    pub failed_commits: AtomicU64,
    pub max_batch: AtomicU64,
}

pub(crate) struct Writer {
    pub conn: Connection,
    pub rx: Receiver<Command>,
    pub subs: Arc<Broadcaster>,
    pub counters: Arc<Counters>,
}

impl Writer {
    /// Runs until every sender is gone and the queue is drained: queued writes
    /// are never dropped on shutdown.
    pub(crate) fn run(mut self) {
        while let Ok(first) = self.rx.recv() {
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match self.rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            self.commit_batch(batch);
        }
        // Fold the WAL back into the main file so the next open starts small;
        // failure is harmless (the WAL is replayed on open).
        if let Err(e) = self
            .conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
        {
            tracing::debug!(error = %e, "final WAL checkpoint failed");
        }
        tracing::debug!("store writer stopped");
    }

    fn commit_batch(&mut self, mut batch: Vec<Command>) {
        let c = &self.counters;
        c.max_batch.fetch_max(batch.len() as u64, Ordering::Relaxed);
        let mut results: Vec<Result<Outcome, StoreError>> = Vec::with_capacity(batch.len());
        let committed = (|| -> Result<(), rusqlite::Error> {
            let mut tx = self
                .conn
                .transaction_with_behavior(TransactionBehavior::Immediate)?;
            for cmd in batch.iter_mut() {
                let sp = tx.savepoint()?;
                let r = apply(&sp, cmd);
                match r {
                    Ok(o) => {
                        sp.commit()?;
                        results.push(Ok(o));
                    }
                    Err(e) => {
                        // Dropping the savepoint rolls back just this command.
                        drop(sp);
                        tracing::warn!(command = cmd.name(), error = %e, "store command failed");
                        c.failed_commands.fetch_add(1, Ordering::Relaxed);
                        results.push(Err(e));
                    }
                }
            }
            tx.commit()
        })();
        c.transactions.fetch_add(1, Ordering::Relaxed);
        c.commands.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if let Err(e) = committed {
            // Nothing of this batch is durable: every caller hears so.
            tracing::error!(error = %e, commands = batch.len(), "store commit failed");
            c.failed_commits.fetch_add(1, Ordering::Relaxed);
            let msg = e.to_string();
            results = batch
                .iter()
                .map(|_| Err(StoreError::Commit(msg.clone())))
                .collect();
        }
        for (cmd, res) in batch.into_iter().zip(results) {
            // A send error means the caller stopped waiting; the data is
            // committed regardless.
            match cmd {
                Command::InsertEvents { events, reply, .. } => match res {
                    Ok(_) => {
                        c.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                        self.subs.publish(&events);
                        let _ = reply.send(Ok(events));
                    }
                    Err(e) => {
                        let _ = reply.send(Err(e));
                    }
                },
                Command::UpsertCamera { reply, .. } | Command::Flush { reply } => {
                    let _ = reply.send(res.map(|_| ()));
                }
                Command::BeginRun { reply, .. } => {
                    let _ = reply.send(res.and_then(|o| match o {
                        Outcome::RunId(id) => Ok(id),
                        _ => Err(StoreError::Commit("no run id".into())),
                    }));
                }
                Command::Exec { reply, .. } => {
                    let _ = reply.send(res.and_then(|o| match o {
                        Outcome::Value(v) => Ok(v),
                        _ => Err(StoreError::Commit("no value".into())),
                    }));
                }
                Command::ExecPublish { reply, .. } => {
                    let _ = reply.send(res.and_then(|o| match o {
                        Outcome::Published(v, events) => {
                            c.events.fetch_add(events.len() as u64, Ordering::Relaxed);
                            self.subs.publish(&events);
                            Ok(v)
                        }
                        _ => Err(StoreError::Commit("no value".into())),
                    }));
                }
                Command::EndRun { .. }
                | Command::UpsertTracks { .. }
                | Command::InsertEvidence { .. }
                | Command::InsertSealedOriginal { .. } => {
                    if let Err(e) = res {
                        tracing::debug!(error = %e, "fire-and-forget store command lost");
                    }
                }
            }
        }
    }
}

/// Executes one command inside its savepoint. Event ids are written into the
/// events in place; they only reach the caller after the commit.
fn apply(conn: &Connection, cmd: &mut Command) -> Result<Outcome, StoreError> {
    match cmd {
        Command::InsertEvents { events, run_id, .. } => {
            let mut st = conn.prepare_cached(
                "INSERT INTO event (camera, kind, ts, run_id, track_id, label, rule,
                                    x1, y1, x2, y2, score, details_json, evidence)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            for e in events.iter_mut() {
                let details = match &e.details {
                    serde_json::Value::Null => None,
                    v => Some(serde_json::to_string(v)?),
                };
                let b = e.bbox;
                st.execute(params![
                    e.camera,
                    e.kind,
                    e.ts.millis(),
                    *run_id,
                    e.track_id.map(|t| t as i64),
                    e.label,
                    e.rule,
                    b.map(|b| b.x1),
                    b.map(|b| b.y1),
                    b.map(|b| b.x2),
                    b.map(|b| b.y2),
                    e.score,
                    details,
                    e.evidence,
                ])?;
                e.id = Some(conn.last_insert_rowid());
            }
            Ok(Outcome::Unit)
        }
        Command::UpsertCamera {
            id,
            name,
            url,
            config_json,
            now,
            ..
        } => {
            // `updated` only moves when something actually changed, so it
            // tells when the configuration last changed, not when we last started.
            conn.prepare_cached(
                "INSERT INTO camera (id, name, url, config_json, created, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT (id) DO UPDATE SET
                   name = excluded.name, url = excluded.url,
                   config_json = excluded.config_json, updated = excluded.updated
                 WHERE name IS NOT excluded.name OR url IS NOT excluded.url
                    OR config_json IS NOT excluded.config_json",
            )?
            .execute(params![&*id, &*name, &*url, &*config_json, *now])?;
            Ok(Outcome::Unit)
        }
        Command::BeginRun {
            started,
            version,
            pid,
            ..
        } => {
            conn.prepare_cached("INSERT INTO run (started, version, pid) VALUES (?1, ?2, ?3)")?
                .execute(params![*started, &*version, *pid])?;
            Ok(Outcome::RunId(conn.last_insert_rowid()))
        }
        Command::EndRun { run_id, ended } => {
            conn.prepare_cached("UPDATE run SET ended = ?2 WHERE id = ?1")?
                .execute(params![*run_id, *ended])?;
            Ok(Outcome::Unit)
        }
        Command::UpsertTracks { tracks } => {
            let mut st = conn.prepare_cached(
                "INSERT INTO track (run_id, camera, track_id, label, first_seen, last_seen,
                                    frames, best_score, best_crop, trajectory_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT (run_id, camera, track_id) DO UPDATE SET
                   label = coalesce(excluded.label, label),
                   first_seen = min(first_seen, excluded.first_seen),
                   last_seen = max(last_seen, excluded.last_seen),
                   frames = excluded.frames,
                   best_score = excluded.best_score,
                   best_crop = coalesce(excluded.best_crop, best_crop),
                   trajectory_json = excluded.trajectory_json",
            )?;
            for t in tracks.iter() {
                st.execute(params![
                    t.run_id,
                    t.camera,
                    t.track_id as i64,
                    t.label,
                    t.first_seen.millis(),
                    t.last_seen.millis(),
                    t.frames as i64,
                    t.best_score,
                    t.best_crop,
                    serde_json::to_string(&t.trajectory)?,
                ])?;
            }
            Ok(Outcome::Unit)
        }
        Command::InsertSealedOriginal {
            hash,
            key_id,
            sealed,
            regions,
            created,
        } => {
            // The first sealing of a hash wins: identical masked bytes come
            // from identical input, so any later original is the same.
            conn.prepare_cached(
                "INSERT OR IGNORE INTO evidence_original (hash, key_id, sealed, regions, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![&*hash, &*key_id, &*sealed, *regions, *created])?;
            Ok(Outcome::Unit)
        }
        Command::InsertEvidence { info, key_id } => {
            conn.prepare_cached(
                // Saving known content again renews `created`: evidence
                // retention counts from the last time the content was saved,
                // so a frame re-used by a new event does not expire with the
                // old one.
                // A sealed save marks the row sealed; a plain one never
                // unmarks it (reads go by the file's own header).
                "INSERT INTO evidence (hash, bytes, width, height, created, key_id)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (hash) DO UPDATE SET created = max(created, excluded.created),
                     key_id = coalesce(excluded.key_id, key_id)",
            )?
            .execute(params![
                info.hash,
                info.bytes as i64,
                info.width,
                info.height,
                info.created.millis(),
                key_id.as_deref()
            ])?;
            Ok(Outcome::Unit)
        }
        Command::Exec { f, .. } => match f.take() {
            Some(f) => Ok(Outcome::Value(f(conn)?)),
            None => Err(StoreError::Commit("command already run".into())),
        },
        Command::ExecPublish { f, .. } => match f.take() {
            Some(f) => {
                let (v, events) = f(conn)?;
                Ok(Outcome::Published(v, events))
            }
            None => Err(StoreError::Commit("command already run".into())),
        },
        Command::Flush { .. } => Ok(Outcome::Unit),
    }
}
