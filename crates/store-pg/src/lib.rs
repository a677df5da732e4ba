//! PostgreSQL backend of kuzet's store: the same [`StoreBackend`] as the
//! embedded SQLite store, on a server that many `kuzet serve` instances and
//! ingest consumers can share.
//!
//! * **Schema**: numbered migrations (`migrations/NNNN_*.sql`) mirroring the
//!   SQLite schema, applied at connect in one transaction under an advisory
//!   lock (two servers starting together migrate once); a database of a newer
//!   schema is refused, as in SQLite.
//! * **Idempotent, batched ingest**: `dedupe_key` is UNIQUE on events, plate
//!   reads and sightings. A batch is one statement — `INSERT … SELECT … FROM
//!   UNNEST(<one array per column>) ON CONFLICT (dedupe_key) DO NOTHING
//!   RETURNING id, dedupe_key` — plus one lookup for the keys stored before;
//!   a key raced by two consumers is stored once (the second waits on the
//!   index entry until the first commits) and both get the first row's id.
//! * **Sync facade**: the trait is blocking (see `kuzet_store::backend`); each
//!   call runs on this backend's own tokio runtime and the caller's thread
//!   waits for it, so calling from plain threads, from `spawn_blocking` or
//!   even from inside another runtime never panics.

mod gallery;
mod hotlists;
mod retention;
mod reviews;
pub mod testing;
pub mod vector;

pub use retention::{claimed_by, retention_job, FileClaimed, IndexedBlobs, ReleasingLocal};

use base::{BBox, Clock, Event, SystemClock, Timestamp};
use futures::TryStreamExt;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgRow};
// Every `AssertSqlSafe` below wraps SQL built only from this crate's
// constants (column lists, table names); values always go through binds.
use sqlx::{AssertSqlSafe, PgPool, Postgres, QueryBuilder, Row};
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use store::audit::{AuditRow, GENESIS_HASH, MAX_AUDIT_LIMIT};
use store::backend::{
    check_dedupe_key, validate_event, validate_plate_read, validate_sighting, validate_track,
};
use store::{
    plate_like, AuditEntry, AuditVerification, CameraRecord, Counts, EventLock, EventQuery,
    EventTrack, GalleryTemplate, HotlistEntryRecord, HotlistRecord, Ingested, Keyed, KeyedTable,
    LegalBasis, NewAuditEntry, NewHotlistEntry, NewPlateRead, NewSighting, NewTemplate, Person,
    PersonScope, PlateReadQuery, PlateReadRecord, ReviewAction, ReviewCounts, ReviewEntry,
    ReviewState, RunRecord, Sighting, SightingQuery, StoreBackend, StoreError, Subscription,
    TimelineBucket, TrackRecord, TrajectoryPoint, Watchlist, WatchlistCategory,
    DEFAULT_SUBSCRIBER_BUFFER,
};

/// A numbered PostgreSQL migration.
struct Migration {
    version: i64,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in increasing version order. Append only.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("../migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_run_origin",
        sql: include_str!("../migrations/0002_run_origin.sql"),
    },
    Migration {
        version: 3,
        name: "0003_live_feed",
        sql: include_str!("../migrations/0003_live_feed.sql"),
    },
    Migration {
        version: 4,
        name: "0004_retention",
        sql: include_str!("../migrations/0004_retention.sql"),
    },
    Migration {
        version: 5,
        name: "0005_reviews_locks",
        sql: include_str!("../migrations/0005_reviews_locks.sql"),
    },
    Migration {
        version: 6,
        name: "0006_sealed_sightings",
        sql: include_str!("../migrations/0006_sealed_sightings.sql"),
    },
    Migration {
        version: 7,
        name: "0007_gallery",
        sql: include_str!("../migrations/0007_gallery.sql"),
    },
    Migration {
        version: 8,
        name: "0008_hotlists",
        sql: include_str!("../migrations/0008_hotlists.sql"),
    },
];

/// The schema version this binary writes.
pub const PG_SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// Key of the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x6b757a65_74000001;
/// Key of the transaction-level advisory lock every event insert takes
/// first. It makes event ids grow in commit order (an identity value is
/// drawn inside the lock and the lock is released by the commit), which the
/// live stream relies on: a reader that has seen id N will never see a new
/// id below N appear later. Batches are one statement, so the lock is held
/// for one insert per ingest batch.
const EVENT_ORDER_LOCK: i64 = 0x6b757a65_74000002;
/// Channel of the `event_notify` trigger (migration 3).
const EVENT_CHANNEL: &str = "kuzet_event";
/// How often the live feed reads new events even without a notification
/// (a dropped listener connection, a notification lost in a reconnect).
const FEED_POLL: Duration = Duration::from_secs(2);
/// Events read per query when the live feed catches up.
const FEED_PAGE: usize = 500;
/// Key of the advisory lock that serialises audit appends (the chain needs a
/// total order; one writer at a time reads the head and appends).
/// (It had the event-order key by mistake before, which made every audit
/// append wait for event inserts and the other way round.)
const AUDIT_LOCK: i64 = 0x6b757a65_74000003;

/// Connection settings.
#[derive(Clone, Debug)]
pub struct PgConfig {
    /// `postgres://user:pass@host:port/db` (libpq-style URL).
    pub url: String,
    /// Pool size: concurrent statements this process may run.
    pub max_connections: u32,
    /// How long a call waits for a free connection before failing.
    pub acquire_timeout: Duration,
}

impl PgConfig {
    pub fn new(url: impl Into<String>) -> Self {
        PgConfig {
            url: url.into(),
            max_connections: 8,
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL store. Share it with `Arc`; every method takes `&self`.
pub struct PgStore {
    pool: PgPool,
    rt: tokio::runtime::Runtime,
    clock: Arc<dyn Clock>,
    /// The live event feed, started by the first subscriber.
    feed: std::sync::OnceLock<Arc<store::Broadcaster>>,
    /// The key face embeddings are sealed under (the serve node's evidence
    /// key); without one, face data is refused, never stored in the clear.
    seal_key: std::sync::RwLock<Option<Arc<store::SealKey>>>,
}

fn db_err(op: &str) -> impl Fn(sqlx::Error) -> StoreError + '_ {
    move |e| StoreError::Backend(format!("postgres {op}: {e}"))
}

impl PgStore {
    /// Connects, migrates and returns the store, on the system clock.
    pub fn connect(cfg: &PgConfig) -> Result<PgStore, StoreError> {
        Self::connect_with_clock(cfg, Arc::new(SystemClock))
    }

    /// Like [`PgStore::connect`], with the clock that stamps `created`,
    /// run and audit times.
    pub fn connect_with_clock(
        cfg: &PgConfig,
        clock: Arc<dyn Clock>,
    ) -> Result<PgStore, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kuzet-store-pg")
            .enable_all()
            .build()
            .map_err(|e| StoreError::Backend(format!("postgres: cannot start runtime: {e}")))?;
        let opts = PgConnectOptions::from_str(&cfg.url).map_err(|e| {
            StoreError::Invalid(format!(
                "PostgreSQL URL is not valid ({e}); expected postgres://user@host:port/database"
            ))
        })?;
        let pool_opts = PgPoolOptions::new()
            .max_connections(cfg.max_connections.max(1))
            .acquire_timeout(cfg.acquire_timeout);
        let pool = block(&rt, async move {
            pool_opts.connect_with(opts).await.map_err(|e| {
                StoreError::Backend(format!(
                    "cannot connect to PostgreSQL ({e}); check that the server runs and the \
                     URL's host, port, user and database are right"
                ))
            })
        })?;
        let s = PgStore {
            pool,
            rt,
            clock,
            feed: std::sync::OnceLock::new(),
            seal_key: std::sync::RwLock::new(None),
        };
        s.run(|pool| async move { migrate(&pool).await })?;
        tracing::info!(schema = PG_SCHEMA_VERSION, "postgres store opened");
        Ok(s)
    }

    /// The key face embeddings are sealed under: the same key as the serve
    /// node's SQLite store (`kuzet serve` passes its evidence key), so both
    /// rotate together.
    pub fn set_seal_key(&self, key: Arc<store::SealKey>) {
        *self.seal_key.write().unwrap_or_else(|p| p.into_inner()) = Some(key);
    }

    /// The configured sealing key, if any.
    pub fn seal_key(&self) -> Option<Arc<store::SealKey>> {
        self.seal_key
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Re-seals every sighting embedding under `new` (`kuzet keys rotate
    /// --database`), opening each with `old` (rows in the clear from before
    /// schema 6 are sealed on the way). Batches of [`store::ROTATE_BATCH`]
    /// rows, one transaction each, rows already under `new` skipped:
    /// resumable after an interruption, and a row holds either its old
    /// ciphertext and key id or its new ones. A row that does not open stops
    /// the rotation with an error naming it.
    pub fn reseal_sightings(
        &self,
        old: Arc<store::SealKey>,
        new: Arc<store::SealKey>,
    ) -> Result<store::Rotation, StoreError> {
        self.reseal(SealedColumn::Sighting, old, new)
    }

    /// [`PgStore::reseal_sightings`] for the watchlist templates (schema 7).
    pub fn reseal_templates(
        &self,
        old: Arc<store::SealKey>,
        new: Arc<store::SealKey>,
    ) -> Result<store::Rotation, StoreError> {
        self.reseal(SealedColumn::Template, old, new)
    }

    fn reseal(
        &self,
        what: SealedColumn,
        old: Arc<store::SealKey>,
        new: Arc<store::SealKey>,
    ) -> Result<store::Rotation, StoreError> {
        let table = what.table();
        let already = self.run({
            let id = new.id().to_owned();
            move |pool| async move {
                let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                    "SELECT count(*) FROM {table} WHERE key_id = $1"
                )))
                .bind(id)
                .fetch_one(&pool)
                .await
                .map_err(db_err("rotation count"))?;
                Ok(n as u64)
            }
        })?;
        let mut r = store::Rotation {
            already,
            ..Default::default()
        };
        let mut after = 0i64;
        loop {
            let (old, new) = (old.clone(), new.clone());
            let done = self.run(move |pool| async move {
                let mut tx = pool.begin().await.map_err(db_err("begin"))?;
                let rows: Vec<(i64, Vec<u8>, Option<String>)> =
                    sqlx::query_as(AssertSqlSafe(format!(
                        "SELECT id, embedding, key_id FROM {table}
                         WHERE id > $1 AND key_id IS DISTINCT FROM $2 ORDER BY id LIMIT $3
                         FOR UPDATE"
                    )))
                    .bind(after)
                    .bind(new.id())
                    .bind(store::ROTATE_BATCH as i64)
                    .fetch_all(&mut *tx)
                    .await
                    .map_err(db_err("rotation read"))?;
                let Some(last) = rows.last().map(|r| r.0) else {
                    return Ok(None);
                };
                for (id, blob, key_id) in &rows {
                    // A row under a third key is refused here, by id.
                    let v = what.open(&old, *id, key_id.as_deref(), blob)?;
                    let sealed = what.seal(&new, *id, &v)?;
                    sqlx::query(AssertSqlSafe(format!(
                        "UPDATE {table} SET embedding = $1, key_id = $2 WHERE id = $3"
                    )))
                    .bind(sealed)
                    .bind(new.id())
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("rotation write"))?;
                }
                tx.commit().await.map_err(db_err("rotation commit"))?;
                Ok(Some((last, rows.len() as u64)))
            })?;
            match done {
                None => break,
                Some((last, n)) => {
                    after = last;
                    r.resealed += n;
                    r.batches += 1;
                }
            }
        }
        Ok(r)
    }

    /// The connection pool, for adapters sharing this database (pgvector).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Runs `f(pool)` on this store's runtime and waits for it.
    pub fn run<T, F, Fut>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(PgPool) -> Fut,
        Fut: Future<Output = Result<T, StoreError>> + Send + 'static,
    {
        block(&self.rt, f(self.pool.clone()))
    }

    /// Total on-disk size of a table with its indexes and TOAST, and its
    /// row count: what the capacity model measures.
    pub fn table_size(&self, table: &'static str) -> Result<(u64, u64), StoreError> {
        const TABLES: &[&str] = &[
            "run",
            "camera",
            "track",
            "event",
            "evidence",
            "face_sighting",
            "plate_reads",
            "audit_log",
        ];
        if !TABLES.contains(&table) {
            return Err(StoreError::Invalid(format!(
                "table_size: {table:?} is not one of kuzet's tables {TABLES:?}"
            )));
        }
        self.run(move |pool| async move {
            let bytes: i64 = sqlx::query_scalar("SELECT pg_total_relation_size($1::regclass)")
                .bind(table)
                .fetch_one(&pool)
                .await
                .map_err(db_err("table size"))?;
            let rows: i64 =
                sqlx::query_scalar(AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
                    .fetch_one(&pool)
                    .await
                    .map_err(db_err("row count"))?;
            Ok((bytes as u64, rows as u64))
        })
    }
}

/// Waits for `fut` on `rt` from any thread, including one inside another
/// tokio runtime (where `Runtime::block_on` would panic): the future runs on
/// `rt`'s workers and this thread only waits for its result.
/// The sealed embedding columns, for key rotation.
#[derive(Clone, Copy)]
enum SealedColumn {
    Sighting,
    Template,
}

impl SealedColumn {
    fn table(self) -> &'static str {
        match self {
            SealedColumn::Sighting => "face_sighting",
            SealedColumn::Template => "face_template",
        }
    }

    fn open(
        self,
        key: &store::SealKey,
        id: i64,
        key_id: Option<&str>,
        blob: &[u8],
    ) -> Result<Vec<f32>, StoreError> {
        match self {
            SealedColumn::Sighting => {
                store::sealed_faces::open_sighting_embedding(Some(key), id, key_id, blob)
            }
            SealedColumn::Template => {
                store::sealed_faces::open_template_embedding(Some(key), id, key_id, blob)
            }
        }
    }

    fn seal(self, key: &store::SealKey, id: i64, v: &[f32]) -> Result<Vec<u8>, StoreError> {
        match self {
            SealedColumn::Sighting => store::sealed_faces::seal_sighting_embedding(key, id, v),
            SealedColumn::Template => store::sealed_faces::seal_template_embedding(key, id, v),
        }
    }
}

fn block<T: Send + 'static>(
    rt: &tokio::runtime::Runtime,
    fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
) -> Result<T, StoreError> {
    let handle = rt.spawn(fut);
    // Unconstrained: a JoinHandle polled inside another runtime's task (the
    // bus ingest calls the store from its async loop) spends that task's
    // cooperative budget, and once it is spent tokio defers the wake-up to
    // that runtime's scheduler, which this blocked thread never returns to:
    // after ~128 calls in one poll (e.g. the first batch from 200 cameras)
    // the ingest parked forever. `kuzet simulate --database` found it.
    futures::executor::block_on(tokio::task::unconstrained(handle))
        .map_err(|e| StoreError::Backend(format!("postgres task failed: {e}")))?
}

async fn events_after(pool: &PgPool, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT {EVENT_COLUMNS} FROM event WHERE id > $1 ORDER BY id LIMIT $2"
    )))
    .bind(after)
    .bind(limit.min(i64::MAX as usize) as i64)
    .fetch_all(pool)
    .await
    .map_err(db_err("events after"))?;
    rows.iter()
        .map(event_from_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_err("events after"))
}

/// The live feed of one process: wakes on the `event_notify` trigger's
/// notifications (or every [`FEED_POLL`] without one) and publishes the
/// events committed since the last one it published, in id order. Reading
/// by id rather than trusting notification payloads means a listener
/// reconnect or a folded notification never loses an event; the listener
/// connection is re-opened after an error, a second later.
async fn live_feed(pool: PgPool, feed: Arc<store::Broadcaster>, mut last: i64) {
    let mut listener: Option<sqlx::postgres::PgListener> = None;
    loop {
        if listener.is_none() {
            match sqlx::postgres::PgListener::connect_with(&pool).await {
                Ok(mut l) => match l.listen(EVENT_CHANNEL).await {
                    Ok(()) => listener = Some(l),
                    Err(e) => tracing::warn!(error = %e, "postgres live feed: LISTEN failed"),
                },
                Err(e) => tracing::warn!(error = %e, "postgres live feed: cannot connect"),
            }
        }
        match listener.as_mut() {
            Some(l) => match tokio::time::timeout(FEED_POLL, l.try_recv()).await {
                Ok(Ok(Some(_)) | Ok(None)) | Err(_) => {}
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "postgres live feed: listener failed; reconnecting");
                    listener = None;
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
            None => tokio::time::sleep(Duration::from_secs(1)).await,
        }
        loop {
            match events_after(&pool, last, FEED_PAGE).await {
                Ok(events) => {
                    if let Some(id) = events.last().and_then(|e| e.id) {
                        last = id;
                    }
                    feed.publish(&events);
                    if events.len() < FEED_PAGE {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "postgres live feed: cannot read new events");
                    break;
                }
            }
        }
    }
}

async fn migrate(pool: &PgPool) -> Result<(), StoreError> {
    let mut tx = pool.begin().await.map_err(db_err("migrate"))?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(db_err("migration lock"))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS kuzet_schema_version (
           version BIGINT PRIMARY KEY, name TEXT NOT NULL, applied BIGINT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(db_err("schema version table"))?;
    let found: i64 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM kuzet_schema_version")
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("schema version"))?;
    if found > PG_SCHEMA_VERSION {
        return Err(StoreError::FutureSchema {
            found,
            supported: PG_SCHEMA_VERSION,
        });
    }
    let now = SystemClock.now().millis();
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        sqlx::raw_sql(m.sql)
            .execute(&mut *tx)
            .await
            .map_err(|e| StoreError::Backend(format!("postgres migration {}: {e}", m.name)))?;
        sqlx::query(
            "INSERT INTO kuzet_schema_version (version, name, applied) VALUES ($1, $2, $3)",
        )
        .bind(m.version)
        .bind(m.name)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(db_err("record migration"))?;
        tracing::info!(
            version = m.version,
            name = m.name,
            "postgres migration applied"
        );
    }
    tx.commit().await.map_err(db_err("migrate commit"))?;
    Ok(())
}

const EVENT_COLUMNS: &str =
    "id, camera, kind, ts, track_id, label, rule, x1, y1, x2, y2, score, details_json, evidence";

fn parse_json(s: String) -> serde_json::Value {
    serde_json::from_str(&s).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unparseable JSON column");
        serde_json::Value::String(s)
    })
}

fn event_from_row(r: &PgRow) -> Result<Event, sqlx::Error> {
    let coords: [Option<f32>; 4] = [r.try_get(7)?, r.try_get(8)?, r.try_get(9)?, r.try_get(10)?];
    let bbox = match coords {
        [Some(x1), Some(y1), Some(x2), Some(y2)] => Some(BBox::new(x1, y1, x2, y2)),
        _ => None,
    };
    Ok(Event {
        id: Some(r.try_get(0)?),
        camera: r.try_get(1)?,
        kind: r.try_get(2)?,
        ts: Timestamp(r.try_get(3)?),
        track_id: r.try_get::<Option<i64>, _>(4)?.map(|t| t as u64),
        label: r.try_get(5)?,
        rule: r.try_get(6)?,
        bbox,
        score: r.try_get(11)?,
        details: r
            .try_get::<Option<String>, _>(12)?
            .map(parse_json)
            .unwrap_or(serde_json::Value::Null),
        evidence: r.try_get(13)?,
    })
}

const TRACK_COLUMNS: &str = "run_id, camera, track_id, label, first_seen, last_seen, frames, \
                             best_score, best_crop, trajectory_json";

fn track_from_row(r: &PgRow) -> Result<TrackRecord, sqlx::Error> {
    let traj: String = r.try_get(9)?;
    let trajectory: Vec<TrajectoryPoint> = serde_json::from_str(&traj).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unparseable trajectory");
        Vec::new()
    });
    Ok(TrackRecord {
        run_id: r.try_get(0)?,
        camera: r.try_get(1)?,
        track_id: r.try_get::<i64, _>(2)? as u64,
        label: r.try_get(3)?,
        first_seen: Timestamp(r.try_get(4)?),
        last_seen: Timestamp(r.try_get(5)?),
        frames: r.try_get::<i64, _>(6)? as u64,
        best_score: r.try_get(7)?,
        best_crop: r.try_get(8)?,
        trajectory,
    })
}

const READ_COLUMNS: &str = "id, camera, run_id, track_id, first_seen, last_seen, plate, raw_text, \
     format, country, confidence, votes, agreeing, vehicle_type, colour, plate_crop, \
     vehicle_crop, frame, hotlist_hits, created";

fn read_from_row(r: &PgRow) -> Result<PlateReadRecord, sqlx::Error> {
    Ok(PlateReadRecord {
        id: r.try_get(0)?,
        read: NewPlateRead {
            camera: r.try_get(1)?,
            run_id: r.try_get(2)?,
            track_id: r.try_get::<Option<i64>, _>(3)?.map(|t| t as u64),
            first_seen: Timestamp(r.try_get(4)?),
            last_seen: Timestamp(r.try_get(5)?),
            plate: r.try_get(6)?,
            raw_text: r.try_get(7)?,
            format: r.try_get(8)?,
            country: r.try_get(9)?,
            confidence: r.try_get(10)?,
            votes: r.try_get::<i32, _>(11)? as u32,
            agreeing: r.try_get::<i32, _>(12)? as u32,
            vehicle_type: r.try_get(13)?,
            colour: r.try_get(14)?,
            plate_crop: r.try_get(15)?,
            vehicle_crop: r.try_get(16)?,
            frame: r.try_get(17)?,
            hotlist_hits: r.try_get::<i32, _>(18)? as u32,
        },
        created: Timestamp(r.try_get(19)?),
    })
}

const SIGHTING_COLUMNS: &str =
    "id, camera, ts, track_id, model, x1, y1, x2, y2, quality, crop, matched_person, run_id";

fn sighting_from_row(r: &PgRow) -> Result<Sighting, sqlx::Error> {
    Ok(Sighting {
        id: r.try_get(0)?,
        camera: r.try_get(1)?,
        ts: Timestamp(r.try_get(2)?),
        track_id: r.try_get::<Option<i64>, _>(3)?.map(|t| t as u64),
        model: r.try_get(4)?,
        bbox: BBox::new(r.try_get(5)?, r.try_get(6)?, r.try_get(7)?, r.try_get(8)?),
        quality: r.try_get(9)?,
        crop: r.try_get(10)?,
        matched_person: r.try_get(11)?,
        run_id: r.try_get(12)?,
    })
}

const AUDIT_COLUMNS: &str =
    "seq, ts, actor, remote, action, target, reason, outcome, details_json, prev_hash, hash";

fn audit_from_row(r: &PgRow) -> Result<AuditRow, sqlx::Error> {
    Ok(AuditRow {
        seq: r.try_get(0)?,
        ts: r.try_get(1)?,
        actor: r.try_get(2)?,
        remote: r.try_get(3)?,
        action: r.try_get(4)?,
        target: r.try_get(5)?,
        reason: r.try_get(6)?,
        outcome: r.try_get(7)?,
        details_json: r.try_get(8)?,
        prev_hash: r.try_get(9)?,
        hash: r.try_get(10)?,
    })
}

/// Appends one audit entry inside `tx`, chained to the head; the advisory
/// lock is held to the commit, so no other append reads the same head.
async fn append_audit_tx(
    tx: &mut sqlx::Transaction<'_, Postgres>,
    ts: i64,
    e: NewAuditEntry,
    details_json: String,
) -> Result<AuditRow, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(AUDIT_LOCK)
        .execute(&mut **tx)
        .await
        .map_err(db_err("audit lock"))?;
    let last: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err("audit head"))?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let mut row = AuditRow {
        seq,
        ts,
        actor: e.actor,
        remote: e.remote,
        action: e.action,
        target: e.target,
        reason: e.reason,
        outcome: e.outcome,
        details_json,
        prev_hash,
        hash: String::new(),
    };
    row.hash = row.computed_hash();
    sqlx::query(AssertSqlSafe(format!(
        "INSERT INTO audit_log ({AUDIT_COLUMNS})
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )))
    .bind(row.seq)
    .bind(row.ts)
    .bind(&row.actor)
    .bind(&row.remote)
    .bind(&row.action)
    .bind(&row.target)
    .bind(&row.reason)
    .bind(&row.outcome)
    .bind(&row.details_json)
    .bind(&row.prev_hash)
    .bind(&row.hash)
    .execute(&mut **tx)
    .await
    .map_err(db_err("append audit"))?;
    Ok(row)
}

/// Ids for a batch inserted with one `INSERT … SELECT … FROM UNNEST(…) ORDER
/// BY ord ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key`, in
/// input order.
///
/// * Keyed rows: the returned id of their key, else (the key was stored
///   before, or repeated earlier in the batch) the id that holds the key,
///   looked up in one query. A key whose row a concurrent transaction was
///   inserting is found too: the INSERT waited for that transaction.
/// * Unkeyed rows: identity values are drawn in the order the SELECT feeds
///   the INSERT (`ORDER BY ord`), so the returned unkeyed ids, ascending,
///   belong to the unkeyed inputs in input order. The conformance suite
///   checks this mapping row by row.
async fn batch_ids(
    conn: &mut sqlx::PgConnection,
    table: &'static str,
    keys: &[Option<String>],
    returned: Vec<(i64, Option<String>)>,
) -> Result<Vec<i64>, StoreError> {
    let mut by_key: HashMap<String, i64> = HashMap::new();
    let mut unkeyed: Vec<i64> = Vec::new();
    for (id, key) in returned {
        match key {
            Some(k) => {
                by_key.insert(k, id);
            }
            None => unkeyed.push(id),
        }
    }
    unkeyed.sort_unstable();
    let missing: Vec<String> = keys
        .iter()
        .flatten()
        .filter(|k| !by_key.contains_key(*k))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let rows: Vec<(String, i64)> = sqlx::query_as(AssertSqlSafe(format!(
            "SELECT dedupe_key, id FROM {table} WHERE dedupe_key = ANY($1)"
        )))
        .bind(&missing)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err("dedupe lookup"))?;
        by_key.extend(rows);
    }
    let mut next_unkeyed = unkeyed.into_iter();
    keys.iter()
        .map(|k| match k {
            Some(k) => by_key.get(k).copied().ok_or_else(|| {
                StoreError::Backend(format!(
                    "postgres insert into {table}: no row holds dedupe key {k:?} after the insert"
                ))
            }),
            None => next_unkeyed.next().ok_or_else(|| {
                StoreError::Backend(format!(
                    "postgres insert into {table} returned fewer ids than unkeyed rows"
                ))
            }),
        })
        .collect()
}

/// A batch of events as one array per column (bound to `UNNEST`).
struct EventColumns {
    camera: Vec<String>,
    kind: Vec<String>,
    ts: Vec<i64>,
    track_id: Vec<Option<i64>>,
    label: Vec<Option<String>>,
    rule: Vec<Option<String>>,
    x1: Vec<Option<f32>>,
    y1: Vec<Option<f32>>,
    x2: Vec<Option<f32>>,
    y2: Vec<Option<f32>>,
    score: Vec<f32>,
    details: Vec<Option<String>>,
    evidence: Vec<Option<String>>,
    key: Vec<Option<String>>,
}

impl EventColumns {
    fn with_capacity(n: usize) -> Self {
        EventColumns {
            camera: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            ts: Vec::with_capacity(n),
            track_id: Vec::with_capacity(n),
            label: Vec::with_capacity(n),
            rule: Vec::with_capacity(n),
            x1: Vec::with_capacity(n),
            y1: Vec::with_capacity(n),
            x2: Vec::with_capacity(n),
            y2: Vec::with_capacity(n),
            score: Vec::with_capacity(n),
            details: Vec::with_capacity(n),
            evidence: Vec::with_capacity(n),
            key: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, k: &Keyed<Event>) -> Result<(), StoreError> {
        let e = &k.item;
        self.camera.push(e.camera.clone());
        self.kind.push(e.kind.clone());
        self.ts.push(e.ts.millis());
        self.track_id.push(e.track_id.map(|t| t as i64));
        self.label.push(e.label.clone());
        self.rule.push(e.rule.clone());
        self.x1.push(e.bbox.map(|b| b.x1));
        self.y1.push(e.bbox.map(|b| b.y1));
        self.x2.push(e.bbox.map(|b| b.x2));
        self.y2.push(e.bbox.map(|b| b.y2));
        self.score.push(e.score);
        self.details.push(match &e.details {
            serde_json::Value::Null => None,
            v => Some(serde_json::to_string(v)?),
        });
        self.evidence.push(e.evidence.clone());
        self.key.push(k.dedupe_key.clone());
        Ok(())
    }
}

/// A batch of plate reads as one array per column.
#[derive(Default)]
struct PlateColumns {
    camera: Vec<String>,
    run_id: Vec<Option<i64>>,
    track_id: Vec<Option<i64>>,
    first_seen: Vec<i64>,
    last_seen: Vec<i64>,
    plate: Vec<String>,
    raw_text: Vec<String>,
    format: Vec<Option<String>>,
    country: Vec<Option<String>>,
    confidence: Vec<f32>,
    votes: Vec<i32>,
    agreeing: Vec<i32>,
    vehicle_type: Vec<Option<String>>,
    colour: Vec<Option<String>>,
    plate_crop: Vec<Option<String>>,
    vehicle_crop: Vec<Option<String>>,
    frame: Vec<Option<String>>,
    hotlist_hits: Vec<i32>,
    key: Vec<Option<String>>,
}

fn int4(v: u32) -> i32 {
    v.min(i32::MAX as u32) as i32
}

impl PlateColumns {
    fn push(&mut self, k: &Keyed<NewPlateRead>) {
        let r = &k.item;
        self.camera.push(r.camera.clone());
        self.run_id.push(r.run_id);
        self.track_id.push(r.track_id.map(|t| t as i64));
        self.first_seen.push(r.first_seen.millis());
        self.last_seen.push(r.last_seen.millis());
        self.plate.push(r.plate.clone());
        self.raw_text.push(r.raw_text.clone());
        self.format.push(r.format.clone());
        self.country.push(r.country.clone());
        self.confidence.push(r.confidence);
        self.votes.push(int4(r.votes));
        self.agreeing.push(int4(r.agreeing));
        self.vehicle_type.push(r.vehicle_type.clone());
        self.colour.push(r.colour.clone());
        self.plate_crop.push(r.plate_crop.clone());
        self.vehicle_crop.push(r.vehicle_crop.clone());
        self.frame.push(r.frame.clone());
        self.hotlist_hits.push(int4(r.hotlist_hits));
        self.key.push(k.dedupe_key.clone());
    }
}

/// A batch of face sightings as one array per column.
#[derive(Default)]
struct SightingColumns {
    camera: Vec<String>,
    ts: Vec<i64>,
    run_id: Vec<Option<i64>>,
    track_id: Vec<Option<i64>>,
    model: Vec<String>,
    embedding: Vec<Vec<u8>>,
    x1: Vec<f32>,
    y1: Vec<f32>,
    x2: Vec<f32>,
    y2: Vec<f32>,
    quality: Vec<f32>,
    crop: Vec<Option<String>>,
    matched_person: Vec<Option<i64>>,
    key: Vec<Option<String>>,
    id: Vec<i64>,
}

impl SightingColumns {
    /// Adds a sighting as row `id`, its embedding sealed under `seal`.
    fn push(
        &mut self,
        k: &Keyed<NewSighting>,
        id: i64,
        seal: &store::SealKey,
    ) -> Result<(), StoreError> {
        let s = &k.item;
        self.camera.push(s.camera.clone());
        self.ts.push(s.ts.millis());
        self.run_id.push(s.run_id);
        self.track_id.push(s.track_id.map(|t| t as i64));
        self.model.push(s.model.clone());
        self.embedding
            .push(store::sealed_faces::seal_sighting_embedding(
                seal,
                id,
                &s.embedding,
            )?);
        self.x1.push(s.bbox.x1);
        self.y1.push(s.bbox.y1);
        self.x2.push(s.bbox.x2);
        self.y2.push(s.bbox.y2);
        self.quality.push(s.quality);
        self.crop.push(s.crop.clone());
        self.matched_person.push(s.matched_person);
        self.key.push(k.dedupe_key.clone());
        self.id.push(id);
        Ok(())
    }
}

impl PgStore {
    /// Stores events; each comes back with its id and whether this call
    /// inserted it (a key found stored, or repeated earlier in the batch, is
    /// a duplicate).
    fn ingest_events_inner(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<(Event, Ingested)>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for k in &events {
            validate_event(&k.item)?;
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        let n = events.len();
        let mut c = EventColumns::with_capacity(n);
        for k in &events {
            c.push(k)?;
        }
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)")
                .bind(EVENT_ORDER_LOCK)
                .execute(&mut *tx)
                .await
                .map_err(db_err("event order lock"))?;
            let returned: Vec<(i64, Option<String>)> = sqlx::query_as(
                "INSERT INTO event (camera, kind, ts, run_id, track_id, label, rule,
                                    x1, y1, x2, y2, score, details_json, evidence, dedupe_key)
                 SELECT camera, kind, ts, $15, track_id, label, rule,
                        x1, y1, x2, y2, score, details_json, evidence, dedupe_key
                 FROM UNNEST($1::TEXT[], $2::TEXT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[],
                             $6::TEXT[], $7::REAL[], $8::REAL[], $9::REAL[], $10::REAL[],
                             $11::REAL[], $12::TEXT[], $13::TEXT[], $14::TEXT[])
                   WITH ORDINALITY AS t(camera, kind, ts, track_id, label, rule, x1, y1, x2, y2,
                                        score, details_json, evidence, dedupe_key, ord)
                 ORDER BY ord
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
            )
            .bind(c.camera)
            .bind(c.kind)
            .bind(c.ts)
            .bind(c.track_id)
            .bind(c.label)
            .bind(c.rule)
            .bind(c.x1)
            .bind(c.y1)
            .bind(c.x2)
            .bind(c.y2)
            .bind(c.score)
            .bind(c.details)
            .bind(c.evidence)
            .bind(&c.key)
            .bind(run_id)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("insert events"))?;
            let mut fresh: std::collections::HashSet<i64> =
                returned.iter().map(|(id, _)| *id).collect();
            let ids = batch_ids(&mut tx, "event", &c.key, returned).await?;
            tx.commit().await.map_err(db_err("commit events"))?;
            Ok(events
                .into_iter()
                .zip(ids)
                .map(|(k, id)| {
                    // The first position of an id inserted now is new; a key
                    // repeated later in the batch is its duplicate.
                    let o = if fresh.remove(&id) {
                        Ingested::New(id)
                    } else {
                        Ingested::Duplicate(id)
                    };
                    (
                        Event {
                            id: Some(id),
                            ..k.item
                        },
                        o,
                    )
                })
                .collect())
        })
    }
}

impl StoreBackend for PgStore {
    fn backend_name(&self) -> &'static str {
        "postgres"
    }

    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), StoreError> {
        if id.is_empty() {
            return Err(StoreError::Invalid("camera id is empty".into()));
        }
        let config_json = serde_json::to_string(config)?;
        let now = self.clock.now().millis();
        let (id, name, url) = (id.to_owned(), name.to_owned(), url.to_owned());
        self.run(move |pool| async move {
            sqlx::query(
                "INSERT INTO camera (id, name, url, config_json, created, updated)
                 VALUES ($1, $2, $3, $4, $5, $5)
                 ON CONFLICT (id) DO UPDATE SET
                   name = excluded.name, url = excluded.url,
                   config_json = excluded.config_json, updated = excluded.updated
                 WHERE camera.name IS DISTINCT FROM excluded.name
                    OR camera.url IS DISTINCT FROM excluded.url
                    OR camera.config_json IS DISTINCT FROM excluded.config_json",
            )
            .bind(id)
            .bind(name)
            .bind(url)
            .bind(config_json)
            .bind(now)
            .execute(&pool)
            .await
            .map_err(db_err("upsert camera"))?;
            Ok(())
        })
    }

    fn cameras(&self) -> Result<Vec<CameraRecord>, StoreError> {
        self.run(|pool| async move {
            let rows = sqlx::query(
                "SELECT id, name, url, config_json, created, updated FROM camera ORDER BY id",
            )
            .fetch_all(&pool)
            .await
            .map_err(db_err("cameras"))?;
            rows.iter()
                .map(|r| {
                    Ok(CameraRecord {
                        id: r.try_get(0)?,
                        name: r.try_get(1)?,
                        url: r.try_get(2)?,
                        config: parse_json(r.try_get(3)?),
                        created: Timestamp(r.try_get(4)?),
                        updated: Timestamp(r.try_get(5)?),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err("cameras"))
        })
    }

    fn create_run(&self, version: &str, pid: Option<u32>) -> Result<i64, StoreError> {
        let started = self.clock.now().millis();
        let version = version.to_owned();
        self.run(move |pool| async move {
            sqlx::query_scalar(
                "INSERT INTO run (started, version, pid) VALUES ($1, $2, $3) RETURNING id",
            )
            .bind(started)
            .bind(version)
            .bind(pid.map(i64::from))
            .fetch_one(&pool)
            .await
            .map_err(db_err("create run"))
        })
    }

    fn finish_run(&self, run_id: i64) -> Result<(), StoreError> {
        let ended = self.clock.now().millis();
        self.run(move |pool| async move {
            sqlx::query("UPDATE run SET ended = $2 WHERE id = $1")
                .bind(run_id)
                .bind(ended)
                .execute(&pool)
                .await
                .map_err(db_err("finish run"))?;
            Ok(())
        })
    }

    fn run_for_origin(&self, origin: &str, version: &str) -> Result<i64, StoreError> {
        if origin.is_empty() {
            return Err(StoreError::Invalid("run origin is empty".into()));
        }
        let started = self.clock.now().millis();
        let (origin, version) = (origin.to_owned(), version.to_owned());
        self.run(move |pool| async move {
            // The no-op update makes RETURNING yield the existing row too:
            // one round trip, and concurrent first sights agree on one id.
            sqlx::query_scalar(
                "INSERT INTO run (started, version, origin) VALUES ($1, $2, $3)
                 ON CONFLICT (origin) DO UPDATE SET origin = excluded.origin
                 RETURNING id",
            )
            .bind(started)
            .bind(version)
            .bind(origin)
            .fetch_one(&pool)
            .await
            .map_err(db_err("run for origin"))
        })
    }

    fn ingest_events_outcomes(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Ingested>, StoreError> {
        Ok(self
            .ingest_events_inner(run_id, events)?
            .into_iter()
            .map(|(_, o)| o)
            .collect())
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        let limit = limit.min(i64::MAX as usize) as i64;
        self.run(move |pool| async move {
            let rows = sqlx::query(
                "SELECT id, started, ended, version, pid FROM run ORDER BY id DESC LIMIT $1",
            )
            .bind(limit)
            .fetch_all(&pool)
            .await
            .map_err(db_err("runs"))?;
            rows.iter()
                .map(|r| {
                    Ok(RunRecord {
                        id: r.try_get(0)?,
                        started: Timestamp(r.try_get(1)?),
                        ended: r.try_get::<Option<i64>, _>(2)?.map(Timestamp),
                        version: r.try_get(3)?,
                        pid: r.try_get::<Option<i64>, _>(4)?.map(|p| p as u32),
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(db_err("runs"))
        })
    }

    fn ingest_events(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Event>, StoreError> {
        Ok(self
            .ingest_events_inner(run_id, events)?
            .into_iter()
            .map(|(e, _)| e)
            .collect())
    }

    fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        let q = q.clone();
        self.run(move |pool| async move {
            let mut b: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("SELECT {EVENT_COLUMNS} FROM event WHERE TRUE"));
            if let Some(cam) = &q.camera {
                b.push(" AND camera = ").push_bind(cam.clone());
            }
            if let Some(cams) = &q.cameras {
                b.push(" AND camera = ANY(")
                    .push_bind(cams.clone())
                    .push(")");
            }
            if let Some(kind) = &q.kind {
                b.push(" AND kind = ").push_bind(kind.clone());
            }
            if let Some(since) = q.since {
                b.push(" AND ts >= ").push_bind(since.millis());
            }
            if let Some(until) = q.until {
                b.push(" AND ts < ").push_bind(until.millis());
            }
            if let Some(before) = q.before_id {
                // Keyset paging in (ts, id) order, as in SQLite; an unknown id
                // falls back to id order.
                let ts: Option<i64> = sqlx::query_scalar("SELECT ts FROM event WHERE id = $1")
                    .bind(before)
                    .fetch_optional(&pool)
                    .await
                    .map_err(db_err("events paging"))?;
                match ts {
                    Some(ts) => {
                        b.push(" AND (ts, id) < (")
                            .push_bind(ts)
                            .push(", ")
                            .push_bind(before)
                            .push(")");
                    }
                    None => {
                        b.push(" AND id < ").push_bind(before);
                    }
                }
            }
            b.push(" ORDER BY ts DESC, id DESC LIMIT ")
                .push_bind(q.effective_limit() as i64);
            let rows = b.build().fetch_all(&pool).await.map_err(db_err("events"))?;
            rows.iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("events"))
        })
    }

    fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        self.run(move |pool| async move {
            let row = sqlx::query(AssertSqlSafe(format!(
                "SELECT {EVENT_COLUMNS} FROM event WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(db_err("event"))?;
            row.as_ref()
                .map(event_from_row)
                .transpose()
                .map_err(db_err("event"))
        })
    }

    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.run(move |pool| async move { events_after(&pool, after, limit).await })
    }

    fn max_event_id(&self) -> Result<i64, StoreError> {
        self.run(|pool| async move {
            sqlx::query_scalar("SELECT coalesce(max(id), 0) FROM event")
                .fetch_one(&pool)
                .await
                .map_err(db_err("newest event id"))
        })
    }

    fn subscribe_events(&self) -> Result<Subscription, StoreError> {
        if let Some(feed) = self.feed.get() {
            return Ok(feed.subscribe(DEFAULT_SUBSCRIBER_BUFFER));
        }
        // Start where the database is now: a subscriber sees what commits
        // from here on, as with SQLite.
        let start = self.max_event_id()?;
        let feed = self.feed.get_or_init(|| {
            let feed = Arc::new(store::Broadcaster::default());
            self.rt
                .spawn(live_feed(self.pool.clone(), feed.clone(), start));
            feed
        });
        Ok(feed.subscribe(DEFAULT_SUBSCRIBER_BUFFER))
    }

    fn evidence_cameras(&self, hash: &str) -> Result<Vec<String>, StoreError> {
        let hash = hash.to_owned();
        self.run(move |pool| async move {
            // By index: event_evidence (migration 4) holds every event's
            // main evidence and details hashes; crops have partial indexes.
            sqlx::query_scalar(
                "SELECT e.camera FROM event_evidence ee JOIN event e ON e.id = ee.event_id
                 WHERE ee.hash = $1
                 UNION SELECT camera FROM track WHERE best_crop = $1
                 UNION SELECT camera FROM face_sighting WHERE crop = $1
                 UNION SELECT camera FROM evidence_camera WHERE hash = $1",
            )
            .bind(hash)
            .fetch_all(&pool)
            .await
            .map_err(db_err("evidence cameras"))
        })
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        self.run(|pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            // One snapshot, so the numbers agree with each other.
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .execute(&mut *tx)
                .await
                .map_err(db_err("counts"))?;
            let mut out = Counts::default();
            for (sql, by_kind) in [
                ("SELECT kind, count(*) FROM event GROUP BY kind", true),
                ("SELECT camera, count(*) FROM event GROUP BY camera", false),
            ] {
                let mut rows = sqlx::query(sql).fetch(&mut *tx);
                while let Some(r) = rows.try_next().await.map_err(db_err("counts"))? {
                    let k: String = r.try_get(0).map_err(db_err("counts"))?;
                    let n: i64 = r.try_get(1).map_err(db_err("counts"))?;
                    if by_kind {
                        out.by_kind.insert(k, n as u64);
                    } else {
                        out.by_camera.insert(k, n as u64);
                    }
                }
            }
            out.events = out.by_kind.values().sum();
            let r = sqlx::query(
                "SELECT (SELECT count(*) FROM camera), (SELECT count(*) FROM track),
                        (SELECT count(*) FROM run), (SELECT count(*) FROM evidence),
                        (SELECT coalesce(sum(bytes), 0)::BIGINT FROM evidence)",
            )
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("counts"))?;
            let get = |i: usize| r.try_get::<i64, _>(i).map(|n| n as u64);
            out.cameras = get(0).map_err(db_err("counts"))?;
            out.tracks = get(1).map_err(db_err("counts"))?;
            out.runs = get(2).map_err(db_err("counts"))?;
            out.evidence_files = get(3).map_err(db_err("counts"))?;
            out.evidence_bytes = get(4).map_err(db_err("counts"))?;
            tx.commit().await.map_err(db_err("counts"))?;
            Ok(out)
        })
    }

    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), StoreError> {
        for t in &tracks {
            validate_track(t)?;
        }
        if tracks.is_empty() {
            return Ok(());
        }
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            for t in tracks {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO track ({TRACK_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                     ON CONFLICT (run_id, camera, track_id) DO UPDATE SET
                       label = coalesce(excluded.label, track.label),
                       first_seen = least(track.first_seen, excluded.first_seen),
                       last_seen = greatest(track.last_seen, excluded.last_seen),
                       frames = excluded.frames,
                       best_score = excluded.best_score,
                       best_crop = coalesce(excluded.best_crop, track.best_crop),
                       trajectory_json = excluded.trajectory_json"
                )))
                .bind(t.run_id)
                .bind(&t.camera)
                .bind(t.track_id as i64)
                .bind(&t.label)
                .bind(t.first_seen.millis())
                .bind(t.last_seen.millis())
                .bind(t.frames as i64)
                .bind(t.best_score)
                .bind(&t.best_crop)
                .bind(serde_json::to_string(&t.trajectory)?)
                .execute(&mut *tx)
                .await
                .map_err(db_err("upsert track"))?;
            }
            tx.commit().await.map_err(db_err("commit tracks"))?;
            Ok(())
        })
    }

    fn tracks(
        &self,
        camera: &str,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TrackRecord>, StoreError> {
        let camera = camera.to_owned();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.run(move |pool| async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {TRACK_COLUMNS} FROM track
                 WHERE camera = $1 AND ($2::BIGINT IS NULL OR run_id = $2)
                 ORDER BY last_seen DESC LIMIT $3"
            )))
            .bind(camera)
            .bind(run_id)
            .bind(limit)
            .fetch_all(&pool)
            .await
            .map_err(db_err("tracks"))?;
            rows.iter()
                .map(track_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("tracks"))
        })
    }

    fn ingest_plate_reads(&self, reads: Vec<Keyed<NewPlateRead>>) -> Result<Vec<i64>, StoreError> {
        for k in &reads {
            validate_plate_read(&k.item)?;
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        if reads.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now().millis();
        let mut c = PlateColumns::default();
        for k in &reads {
            c.push(k);
        }
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let returned: Vec<(i64, Option<String>)> = sqlx::query_as(
                "INSERT INTO plate_reads (camera, run_id, track_id, first_seen, last_seen,
                   plate, raw_text, format, country, confidence, votes, agreeing,
                   vehicle_type, colour, plate_crop, vehicle_crop, frame, hotlist_hits,
                   created, dedupe_key)
                 SELECT camera, run_id, track_id, first_seen, last_seen, plate, raw_text,
                   format, country, confidence, votes, agreeing, vehicle_type, colour,
                   plate_crop, vehicle_crop, frame, hotlist_hits, $20, dedupe_key
                 FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[],
                   $5::BIGINT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::REAL[],
                   $11::INT[], $12::INT[], $13::TEXT[], $14::TEXT[], $15::TEXT[], $16::TEXT[],
                   $17::TEXT[], $18::INT[], $19::TEXT[])
                   WITH ORDINALITY AS t(camera, run_id, track_id, first_seen, last_seen, plate,
                     raw_text, format, country, confidence, votes, agreeing, vehicle_type,
                     colour, plate_crop, vehicle_crop, frame, hotlist_hits, dedupe_key, ord)
                 ORDER BY ord
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
            )
            .bind(c.camera)
            .bind(c.run_id)
            .bind(c.track_id)
            .bind(c.first_seen)
            .bind(c.last_seen)
            .bind(c.plate)
            .bind(c.raw_text)
            .bind(c.format)
            .bind(c.country)
            .bind(c.confidence)
            .bind(c.votes)
            .bind(c.agreeing)
            .bind(c.vehicle_type)
            .bind(c.colour)
            .bind(c.plate_crop)
            .bind(c.vehicle_crop)
            .bind(c.frame)
            .bind(c.hotlist_hits)
            .bind(&c.key)
            .bind(now)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("insert plate reads"))?;
            let ids = batch_ids(&mut tx, "plate_reads", &c.key, returned).await?;
            tx.commit().await.map_err(db_err("commit plate reads"))?;
            Ok(ids)
        })
    }

    fn plate_reads(&self, q: &PlateReadQuery) -> Result<Vec<PlateReadRecord>, StoreError> {
        let like = q.pattern.as_deref().map(plate_like).transpose()?;
        let q = q.clone();
        self.run(move |pool| async move {
            let mut b: QueryBuilder<Postgres> =
                QueryBuilder::new(format!("SELECT {READ_COLUMNS} FROM plate_reads WHERE TRUE"));
            if let Some(l) = like {
                b.push(" AND plate LIKE ").push_bind(l);
            }
            if !q.cameras.is_empty() {
                b.push(" AND camera = ANY(")
                    .push_bind(q.cameras.clone())
                    .push(")");
            }
            if let Some(s) = q.since {
                b.push(" AND first_seen >= ").push_bind(s.millis());
            }
            if let Some(u) = q.until {
                b.push(" AND first_seen < ").push_bind(u.millis());
            }
            b.push(" ORDER BY first_seen DESC, id DESC LIMIT ")
                .push_bind(q.effective_limit() as i64)
                .push(" OFFSET ")
                .push_bind(q.offset.min(i64::MAX as usize) as i64);
            let rows = b
                .build()
                .fetch_all(&pool)
                .await
                .map_err(db_err("plate reads"))?;
            rows.iter()
                .map(read_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("plate reads"))
        })
    }

    fn ingest_sightings(&self, sightings: Vec<Keyed<NewSighting>>) -> Result<Vec<i64>, StoreError> {
        for k in &sightings {
            validate_sighting(&k.item)?;
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        if sightings.is_empty() {
            return Ok(Vec::new());
        }
        let key = self
            .seal_key()
            .ok_or_else(|| store::sealed_faces::no_face_key("ingesting a face sighting"))?;
        let now = self.clock.now().millis();
        let n = sightings.len() as i64;
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            // Each embedding is sealed with its row id as associated data,
            // so the ids are drawn first (ascending, in input order, which
            // `batch_ids` relies on for unkeyed rows) and inserted
            // explicitly. Ids of rows a dedupe key turns away stay unused.
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "SELECT nextval(pg_get_serial_sequence('face_sighting', 'id'))
                 FROM generate_series(1, $1)",
            )
            .bind(n)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("sighting ids"))?;
            ids.sort_unstable();
            let mut c = SightingColumns::default();
            for (k, &id) in sightings.iter().zip(&ids) {
                c.push(k, id, &key)?;
            }
            let returned: Vec<(i64, Option<String>)> = sqlx::query_as(
                "INSERT INTO face_sighting (id, camera, ts, run_id, track_id, model, embedding,
                   key_id, x1, y1, x2, y2, quality, crop, matched_person, created, dedupe_key)
                 OVERRIDING SYSTEM VALUE
                 SELECT id, camera, ts, run_id, track_id, model, embedding, $17, x1, y1, x2, y2,
                   quality, crop, matched_person, $14, dedupe_key
                 FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::TEXT[],
                   $6::BYTEA[], $7::REAL[], $8::REAL[], $9::REAL[], $10::REAL[], $11::REAL[],
                   $12::TEXT[], $13::BIGINT[], $15::TEXT[], $16::BIGINT[])
                   WITH ORDINALITY AS t(camera, ts, run_id, track_id, model, embedding, x1, y1,
                     x2, y2, quality, crop, matched_person, dedupe_key, id, ord)
                 ORDER BY ord
                 ON CONFLICT (dedupe_key) DO NOTHING RETURNING id, dedupe_key",
            )
            .bind(c.camera)
            .bind(c.ts)
            .bind(c.run_id)
            .bind(c.track_id)
            .bind(c.model)
            .bind(c.embedding)
            .bind(c.x1)
            .bind(c.y1)
            .bind(c.x2)
            .bind(c.y2)
            .bind(c.quality)
            .bind(c.crop)
            .bind(c.matched_person)
            .bind(now)
            .bind(&c.key)
            .bind(&c.id)
            .bind(key.id())
            .fetch_all(&mut *tx)
            .await
            .map_err(db_err("insert sightings"))?;
            let ids = batch_ids(&mut tx, "face_sighting", &c.key, returned).await?;
            tx.commit().await.map_err(db_err("commit sightings"))?;
            Ok(ids)
        })
    }

    fn sightings(&self, q: &SightingQuery, limit: usize) -> Result<Vec<Sighting>, StoreError> {
        let q = q.clone();
        let limit = limit.min(i64::MAX as usize) as i64;
        self.run(move |pool| async move {
            let mut b: QueryBuilder<Postgres> = QueryBuilder::new(format!(
                "SELECT {SIGHTING_COLUMNS} FROM face_sighting WHERE TRUE"
            ));
            if !q.cameras.is_empty() {
                b.push(" AND camera = ANY(")
                    .push_bind(q.cameras.clone())
                    .push(")");
            }
            if let Some(s) = q.since {
                b.push(" AND ts >= ").push_bind(s.millis());
            }
            if let Some(u) = q.until {
                b.push(" AND ts < ").push_bind(u.millis());
            }
            b.push(" ORDER BY ts DESC, id DESC LIMIT ").push_bind(limit);
            let rows = b
                .build()
                .fetch_all(&pool)
                .await
                .map_err(db_err("sightings"))?;
            rows.iter()
                .map(sighting_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("sightings"))
        })
    }

    fn sighting_embeddings(
        &self,
        model: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        let model = model.to_owned();
        let limit = limit.min(i64::MAX as usize) as i64;
        let key = self.seal_key();
        self.run(move |pool| async move {
            let rows = sqlx::query(
                "SELECT id, embedding, key_id FROM face_sighting
                 WHERE model = $1 AND id > $2 ORDER BY id LIMIT $3",
            )
            .bind(model)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&pool)
            .await
            .map_err(db_err("sighting embeddings"))?;
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: i64 = r.try_get(0).map_err(db_err("sighting embeddings"))?;
                let blob: Vec<u8> = r.try_get(1).map_err(db_err("sighting embeddings"))?;
                let key_id: Option<String> = r.try_get(2).map_err(db_err("sighting embeddings"))?;
                out.push((
                    id,
                    store::sealed_faces::open_sighting_embedding(
                        key.as_deref(),
                        id,
                        key_id.as_deref(),
                        &blob,
                    )?,
                ));
            }
            Ok(out)
        })
    }

    fn sighting_ids(&self, model: &str) -> Result<Vec<i64>, StoreError> {
        let model = model.to_owned();
        self.run(move |pool| async move {
            sqlx::query_scalar("SELECT id FROM face_sighting WHERE model = $1 ORDER BY id")
                .bind(model)
                .fetch_all(&pool)
                .await
                .map_err(db_err("sighting ids"))
        })
    }

    fn sightings_by_ids(&self, ids: &[i64]) -> Result<Vec<Sighting>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let ids = ids.to_vec();
        self.run(move |pool| async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {SIGHTING_COLUMNS} FROM face_sighting WHERE id = ANY($1) ORDER BY id"
            )))
            .bind(ids)
            .fetch_all(&pool)
            .await
            .map_err(db_err("sightings by id"))?;
            rows.iter()
                .map(sighting_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("sightings by id"))
        })
    }

    fn mark_sightings_matched(&self, ids: Vec<i64>, person: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.run(move |pool| async move {
            sqlx::query("UPDATE face_sighting SET matched_person = $2 WHERE id = ANY($1)")
                .bind(ids)
                .bind(person)
                .execute(&pool)
                .await
                .map_err(db_err("mark sightings matched"))?;
            Ok(())
        })
    }

    fn ensure_hotlist(&self, name: &str, description: &str) -> Result<HotlistRecord, StoreError> {
        self.pg_ensure_hotlist(name, description)
    }

    fn hotlists(&self) -> Result<Vec<HotlistRecord>, StoreError> {
        self.pg_hotlists()
    }

    fn add_hotlist_entries(
        &self,
        list: &str,
        entries: Vec<NewHotlistEntry>,
    ) -> Result<Vec<i64>, StoreError> {
        self.pg_add_hotlist_entries(list, entries)
    }

    fn hotlist_entries(&self, list: Option<&str>) -> Result<Vec<HotlistEntryRecord>, StoreError> {
        self.pg_hotlist_entries(list, None)
    }

    fn hotlist_entry(&self, id: i64) -> Result<Option<HotlistEntryRecord>, StoreError> {
        Ok(self.pg_hotlist_entries(None, Some(id))?.into_iter().next())
    }

    fn remove_hotlist_entry(&self, id: i64) -> Result<bool, StoreError> {
        self.pg_remove_hotlist_entry(id)
    }

    fn hotlist_generation(&self) -> Result<i64, StoreError> {
        self.pg_hotlist_generation()
    }

    fn ensure_watchlist(
        &self,
        name: &str,
        category: WatchlistCategory,
        threshold: f32,
        priority: i64,
    ) -> Result<(Watchlist, bool), StoreError> {
        self.pg_ensure_watchlist(name, category, threshold, priority)
    }

    fn watchlists(&self) -> Result<Vec<Watchlist>, StoreError> {
        self.pg_watchlists(None)
    }

    fn watchlist(&self, name: &str) -> Result<Option<Watchlist>, StoreError> {
        Ok(self.pg_watchlists(Some(name))?.into_iter().next())
    }

    fn add_person_scoped(
        &self,
        watchlist_id: i64,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        scope: &PersonScope,
        templates: &[NewTemplate],
    ) -> Result<Person, StoreError> {
        self.pg_add_person(watchlist_id, name, notes, legal, scope, templates)
    }

    fn person(&self, id: i64) -> Result<Option<Person>, StoreError> {
        Ok(self.pg_persons(Some(id), None)?.into_iter().next())
    }

    fn persons(&self, watchlist_id: Option<i64>) -> Result<Vec<Person>, StoreError> {
        self.pg_persons(None, watchlist_id)
    }

    fn remove_person(&self, id: i64) -> Result<bool, StoreError> {
        self.pg_remove_person(id)
    }

    fn purge_expired_temporary(&self, now: Timestamp) -> Result<Vec<i64>, StoreError> {
        self.pg_purge_expired_temporary(now)
    }

    fn watchlist_generation(&self) -> Result<i64, StoreError> {
        self.pg_watchlist_generation()
    }

    fn face_templates(&self, model: &str) -> Result<Vec<GalleryTemplate>, StoreError> {
        self.pg_face_templates(model)
    }

    fn face_templates_of_other_models(&self, model: &str) -> Result<u64, StoreError> {
        self.pg_templates_of_other_models(model)
    }

    fn append_audit(&self, e: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        if e.action.is_empty() || e.outcome.is_empty() {
            return Err(StoreError::Invalid(
                "audit entries need an action and an outcome".into(),
            ));
        }
        let ts = self.clock.now().millis();
        let details_json = match &e.details {
            serde_json::Value::Null => "{}".to_owned(),
            v => serde_json::to_string(v)?,
        };
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let row = append_audit_tx(&mut tx, ts, e, details_json).await?;
            tx.commit().await.map_err(db_err("commit audit"))?;
            Ok(row.into_entry())
        })
    }

    fn audit_entries(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_AUDIT_LIMIT) as i64;
        self.run(move |pool| async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE seq < $1 ORDER BY seq DESC LIMIT $2"
            )))
            .bind(before_seq.unwrap_or(i64::MAX))
            .bind(limit)
            .fetch_all(&pool)
            .await
            .map_err(db_err("audit entries"))?;
            rows.iter()
                .map(|r| audit_from_row(r).map(AuditRow::into_entry))
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("audit entries"))
        })
    }

    fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        self.run(|pool| async move {
            // Read in seq order, then checked by the verifier SQLite uses.
            let mut rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {AUDIT_COLUMNS} FROM audit_log ORDER BY seq"
            )))
            .fetch(&pool);
            let mut all = Vec::new();
            while let Some(r) = rows.try_next().await.map_err(db_err("verify audit"))? {
                all.push(audit_from_row(&r).map_err(db_err("verify audit")));
            }
            store::audit::verify_rows(all)
        })
    }

    fn dedupe_keys(&self, table: KeyedTable) -> Result<Vec<String>, StoreError> {
        let sql = format!(
            "SELECT dedupe_key FROM {} WHERE dedupe_key IS NOT NULL",
            table.table()
        );
        self.run(move |pool| async move {
            sqlx::query_scalar(AssertSqlSafe(sql))
                .fetch_all(&pool)
                .await
                .map_err(db_err("dedupe keys"))
        })
    }

    fn review(
        &self,
        event_id: i64,
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewState, StoreError> {
        self.pg_review(event_id, actor, action, assignee, comment)
    }

    fn review_state(&self, event_id: i64) -> Result<Option<ReviewState>, StoreError> {
        self.pg_review_state(event_id)
    }

    fn review_history(&self, event_id: i64) -> Result<Vec<ReviewEntry>, StoreError> {
        self.pg_review_history(event_id)
    }

    fn review_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
        kind: Option<&str>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError> {
        self.pg_review_counts(since, until, kind, cameras)
    }

    fn event_timeline(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_ms: i64,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        self.pg_event_timeline(since, until, bucket_ms, cameras)
    }

    fn lock_event(
        &self,
        event_id: i64,
        case_ref: &str,
        reason: &str,
        actor: &str,
    ) -> Result<EventLock, StoreError> {
        self.pg_lock_event(event_id, case_ref, reason, actor)
    }

    fn unlock_event(&self, event_id: i64) -> Result<Option<EventLock>, StoreError> {
        self.pg_unlock_event(event_id)
    }

    fn event_locks(&self, ids: &[i64]) -> Result<HashMap<i64, EventLock>, StoreError> {
        self.pg_event_locks(ids)
    }

    fn event_track(&self, id: i64) -> Result<Option<EventTrack>, StoreError> {
        self.pg_event_track(id)
    }
}
