//! The embedded store of kuzet: events, tracks, cameras and runs in SQLite, and
//! evidence JPEGs as content-addressed files beside it.
//!
//! Layout of a data directory:
//!
//! ```text
//! <data_dir>/kuzet.db            SQLite, WAL mode (plus -wal and -shm files)
//! <data_dir>/evidence/ab/ab….jpg evidence, named by SHA-256
//! ```
//!
//! Design, following Moonfire NVR's `db` crate:
//! * **Numbered migrations** (`src/migrations/NNNN_*.sql`) run at open, in one
//!   transaction; a database from a newer binary is refused ([`schema`]).
//! * **One writer**: a thread owns the only write connection and commits
//!   whatever has queued in one transaction (group commit). A call to
//!   [`Store::insert_events`] returns only after the commit, so the ids it
//!   returns are an acknowledgement: those events survive `kill -9`.
//! * **Readers** use a pool of read-only connections; WAL lets them run
//!   concurrently with the writer.
//! * **Live feed**: committed events fan out to [`Subscription`]s without ever
//!   blocking the writer.

pub mod agreements;
pub mod audit;
pub mod authorisations;
pub mod backend;
pub mod blob;
pub mod evidence;
pub mod faces;
mod ingest;
pub mod plates;
pub mod privacy;
mod read;
pub mod retention;
pub mod reviews;
pub mod schema;
pub mod sealed;
pub mod sealed_faces;
pub mod sightings;
mod subscribe;
pub mod track_view;
pub mod users;
mod writer;

pub use agreements::{AgreementChange, AgreementTerms, CameraAgreement};
pub use audit::{AuditAnchor, AuditBreak, AuditEntry, AuditVerification, NewAuditEntry};
pub use authorisations::{
    Authorisation, AuthorisationLapse, AuthorisationPurpose, AuthorisationStatus, ListClass,
    NewAuthorisation,
};
pub use backend::{Keyed, KeyedTable, StoreBackend};
pub use blob::{EvidenceBlobs, LocalEvidence};
pub use evidence::{encode_jpeg, encode_rgb_jpeg, is_valid_hash, sha256_hex, EvidenceInfo};
pub use faces::{
    GalleryTemplate, LegalBasis, NewTemplate, Person, PersonScope, Watchlist, WatchlistCategory,
};
pub use ingest::{Ingested, KeyedEvent};
pub use plates::{
    plate_like, HotlistEntryRecord, HotlistRecord, NewHotlistEntry, NewPlateRead, PlatePurge,
    PlateReadQuery, PlateReadRecord,
};
pub use read::{DEFAULT_EVENT_LIMIT, MAX_EVENT_LIMIT};
pub use retention::{
    ClassPurge, EventLock, RetentionCap, RetentionJob, RetentionPolicy, RetentionReport,
};
pub use reviews::{
    release_check, ReviewAction, ReviewCounts, ReviewEntry, ReviewInput, ReviewState, ReviewStatus,
    TimelineBucket,
};
pub use schema::SCHEMA_VERSION;
pub use sealed::{Rotation, SealKey, ROTATE_BATCH};
pub use sealed_faces::FaceRotation;
pub use sightings::{NewSighting, Sighting, SightingPurge, SightingQuery};
pub use subscribe::{Broadcaster, Subscription, DEFAULT_SUBSCRIBER_BUFFER};
pub use track_view::EventTrack;
pub use users::{SessionRecord, TokenRecord, UserRecord};

use base::{BBox, Clock, Event, SystemClock, Timestamp};
use crossbeam_channel::Sender;
use parking_lot::{Mutex, RwLock};
use read::ReadPool;
use rusqlite::{Connection, OpenFlags};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use writer::{Command, Counters, Writer};

/// File name of the database inside the data directory.
pub const DB_FILE: &str = "kuzet.db";
/// Directory of evidence files inside the data directory.
pub const EVIDENCE_DIR: &str = "evidence";

/// Commands that may wait for the writer. When the disk stalls, callers block
/// here (backpressure) instead of the queue growing without bound.
const QUEUE_CAPACITY: usize = 4096;

/// How long any connection waits for a lock held by another connection or
/// process before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "database schema version {found} is newer than this binary supports ({supported}); \
         it was written by a newer kuzet: upgrade kuzet or use another data directory"
    )]
    FutureSchema { found: i64, supported: i64 },
    #[error("schema migration {version} failed: {source}")]
    Migration {
        version: i64,
        #[source]
        source: rusqlite::Error,
    },
    #[error("database is damaged: {0}")]
    Corrupt(String),
    /// The transaction holding this write could not commit; nothing of it was
    /// stored. A string because every caller in the group gets a copy.
    #[error("commit failed: {0}")]
    Commit(String),
    #[error("store is closed")]
    Closed,
    #[error("invalid input: {0}")]
    Invalid(String),
    /// The request is well formed but a rule forbids it now (a review
    /// action that does not fit the event's state); the text names the rule.
    #[error("{0}")]
    Refused(String),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("jpeg encoding: {0}")]
    Image(#[from] image::ImageError),
    /// A server-based backend (PostgreSQL) failed; the text names the
    /// operation and the server's message.
    #[error("{0}")]
    Backend(String),
}

impl StoreError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        StoreError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// A configured camera, as last recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CameraRecord {
    pub id: String,
    pub name: String,
    pub url: String,
    /// The camera's configuration section, opaque to the store.
    pub config: serde_json::Value,
    pub created: Timestamp,
    /// Last time name, url or config changed.
    pub updated: Timestamp,
}

/// One sampled position of a tracked object (bottom-centre, frame pixels).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrajectoryPoint {
    pub ts: Timestamp,
    pub x: f32,
    pub y: f32,
}

/// Summary of one track. Upserting the same (run, camera, track id) again
/// replaces the counters and trajectory, widens the seen interval and keeps the
/// old label/crop when the new ones are `None`. Callers sample the trajectory;
/// the store keeps what it is given.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackRecord {
    pub run_id: i64,
    pub camera: String,
    pub track_id: u64,
    pub label: Option<String>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub frames: u64,
    pub best_score: f32,
    /// Evidence hash of the best crop.
    pub best_crop: Option<String>,
    pub trajectory: Vec<TrajectoryPoint>,
}

/// One process run (see [`Store::begin_run`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub started: Timestamp,
    /// `None` while running, or if the process died without closing the store.
    pub ended: Option<Timestamp>,
    pub version: String,
    pub pid: Option<u32>,
}

/// Filter for [`Store::events`]. Results are newest first, by (ts, id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct EventQuery {
    pub camera: Option<String>,
    pub kind: Option<String>,
    /// Inclusive lower bound on `ts`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `ts`.
    pub until: Option<Timestamp>,
    /// At most this many (0 means [`DEFAULT_EVENT_LIMIT`]; capped at
    /// [`MAX_EVENT_LIMIT`]).
    pub limit: usize,
    /// Paging: only events after this one in newest-first order (pass the id
    /// of the last event of the previous page).
    pub before_id: Option<i64>,
    /// Only events of these cameras (a user's camera-group scope); `None` =
    /// every camera, an empty list = none.
    pub cameras: Option<Vec<String>>,
}

impl Default for EventQuery {
    fn default() -> Self {
        EventQuery {
            camera: None,
            kind: None,
            since: None,
            until: None,
            limit: DEFAULT_EVENT_LIMIT,
            before_id: None,
            cameras: None,
        }
    }
}

impl EventQuery {
    /// The limit actually applied.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_EVENT_LIMIT,
            n => n.min(MAX_EVENT_LIMIT),
        }
    }
}

/// Totals for dashboards and `/api/stats`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    pub events: u64,
    pub by_kind: BTreeMap<String, u64>,
    pub by_camera: BTreeMap<String, u64>,
    pub cameras: u64,
    pub tracks: u64,
    pub runs: u64,
    pub evidence_files: u64,
    pub evidence_bytes: u64,
}

/// Counters of the writer since open.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriterStats {
    /// Transactions committed (or attempted).
    pub transactions: u64,
    /// Commands processed; `commands / transactions` is the group-commit factor.
    pub commands: u64,
    /// Events acknowledged.
    pub events: u64,
    /// Commands that failed on their own (rolled back to their savepoint).
    pub failed_commands: u64,
    /// Transactions whose commit failed.
    pub failed_commits: u64,
    /// Largest number of commands in one transaction.
    pub max_batch: u64,
    /// Live subscribers now.
    pub subscribers: usize,
    /// Events dropped for slow subscribers, all together.
    pub subscriber_lagged: u64,
}

/// The store. Share it with `Arc<Store>`; every method takes `&self` and is
/// safe to call from any thread.
pub struct Store {
    dir: PathBuf,
    evidence_dir: PathBuf,
    clock: Arc<dyn Clock>,
    /// `None` once closed. A read lock is held while sending, so `close` (write
    /// lock) knows no send is in flight when it drops the sender.
    tx: RwLock<Option<Sender<Command>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    readers: ReadPool,
    subs: Arc<Broadcaster>,
    counters: Arc<Counters>,
    /// Run stamped on inserted events; 0 = none yet.
    current_run: AtomicI64,
    /// Seals the originals of masked evidence; `None` until configured.
    seal_key: RwLock<Option<Arc<SealKey>>>,
    /// Cameras' owners and agreement terms (config and run-time changes).
    agreements: RwLock<agreements::AgreementView>,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`, on the system clock.
    pub fn open(data_dir: &Path) -> Result<Store, StoreError> {
        Self::open_with_clock(data_dir, Arc::new(SystemClock))
    }

    /// Like [`Store::open`], with the clock used for `created`/`updated`/run
    /// times (events carry their own timestamps).
    pub fn open_with_clock(data_dir: &Path, clock: Arc<dyn Clock>) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::io(data_dir, e))?;
        let evidence_dir = data_dir.join(EVIDENCE_DIR);
        std::fs::create_dir_all(&evidence_dir).map_err(|e| StoreError::io(&evidence_dir, e))?;
        let db_path = data_dir.join(DB_FILE);
        let mut conn = Connection::open_with_flags(
            &db_path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL: readers never block the writer nor it them, and a commit is one
        // sequential append (+ fsync) instead of rewriting pages in place.
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // E.g. some network filesystems; still correct, just slower.
            tracing::warn!(mode, "could not enable WAL journal mode");
        }
        // FULL fsyncs the WAL at every commit, so an acknowledged event
        // survives power loss, not only a process crash (NORMAL would survive
        // kill -9, since the data is in the OS page cache, but could lose the
        // last commits on power loss). The cost is one fsync per transaction,
        // which group commit spreads over every event queued meanwhile.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        schema::migrate(&mut conn, clock.now().millis())?;
        evidence::remove_stale_temp_files(&evidence_dir);

        let (tx, rx) = crossbeam_channel::bounded(QUEUE_CAPACITY);
        let subs = Arc::new(Broadcaster::default());
        let counters = Arc::new(Counters::default());
        let w = Writer {
            conn,
            rx,
            subs: subs.clone(),
            counters: counters.clone(),
        };
        let handle = std::thread::Builder::new()
            .name("kuzet-store-writer".into())
            .spawn(move || w.run())
            .map_err(|e| StoreError::io(&db_path, e))?;
        tracing::info!(dir = %data_dir.display(), schema = SCHEMA_VERSION, "store opened");
        Ok(Store {
            dir: data_dir.to_owned(),
            evidence_dir,
            clock,
            tx: RwLock::new(Some(tx)),
            writer: Mutex::new(Some(handle)),
            readers: ReadPool::new(db_path),
            subs,
            counters,
            current_run: AtomicI64::new(0),
            seal_key: RwLock::new(None),
            agreements: RwLock::new(Default::default()),
        })
    }

    /// The clock that stamps rows; session expiry and login back-off use it
    /// too, so tests on a simulated clock see one consistent time.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn send(&self, cmd: Command) -> Result<(), StoreError> {
        let tx = self.tx.read();
        tx.as_ref()
            .ok_or(StoreError::Closed)?
            .send(cmd)
            .map_err(|_| StoreError::Closed)
    }

    /// Sends a command and waits for the writer's answer (after the commit).
    fn request<T>(
        &self,
        make: impl FnOnce(Sender<Result<T, StoreError>>) -> Command,
    ) -> Result<T, StoreError> {
        let (reply, rx) = crossbeam_channel::bounded(1);
        self.send(make(reply))?;
        // A dropped reply means the writer thread died (it only panics on bugs).
        rx.recv().map_err(|_| StoreError::Closed)?
    }

    /// Runs `f` on the writer's connection, in its own savepoint of the next
    /// group commit, and returns its value once that transaction has
    /// committed. If `f` fails, only its own statements are rolled back.
    pub(crate) fn exec<T: Send + 'static>(
        &self,
        name: &'static str,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let f: writer::ExecFn = Box::new(move |c| Ok(Box::new(f(c)?) as writer::AnyValue));
        let v = self.request(|reply| Command::Exec {
            name,
            f: Some(f),
            reply,
        })?;
        downcast(v, name)
    }

    /// [`Store::exec`] for work that inserts events: `f` returns its value
    /// and the new events, which live subscribers get after the commit, in
    /// commit order with every other writer's (see `writer::ExecPublishFn`).
    pub(crate) fn exec_publishing<T: Send + 'static>(
        &self,
        name: &'static str,
        f: impl FnOnce(&Connection) -> Result<(T, Vec<Event>), StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let f: writer::ExecPublishFn = Box::new(move |c| {
            let (v, events) = f(c)?;
            Ok((Box::new(v) as writer::AnyValue, events))
        });
        let v = self.request(|reply| Command::ExecPublish {
            name,
            f: Some(f),
            reply,
        })?;
        downcast(v, name)
    }

    /// Stores events and returns them with their ids, after the transaction
    /// holding them has committed: the ids are the acknowledgement that the
    /// events are durable. Events are stamped with the current run (see
    /// [`Store::begin_run`]). Concurrent callers share transactions.
    pub fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Event>, StoreError> {
        // An owner may have withdrawn an analytic while this runs.
        let events = self.drop_disallowed_events(events);
        if events.is_empty() {
            return Ok(events);
        }
        for e in &events {
            validate_event(e)?;
        }
        let run_id = match self.current_run.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        };
        self.request(|reply| Command::InsertEvents {
            events,
            run_id,
            reply,
        })
    }

    /// Records a camera's configuration (insert or update), waiting for the
    /// commit.
    pub fn upsert_camera(
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
        self.request(|reply| Command::UpsertCamera {
            id: id.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
            config_json,
            now,
            reply,
        })
    }

    /// Starts a new run (one per process start), makes it the run stamped on
    /// subsequent events, and returns its id for [`TrackRecord::run_id`].
    pub fn begin_run(&self) -> Result<i64, StoreError> {
        let started = self.clock.now().millis();
        let id = self.request(|reply| Command::BeginRun {
            started,
            version: env!("CARGO_PKG_VERSION").to_owned(),
            pid: std::process::id(),
            reply,
        })?;
        let prev = self.current_run.swap(id, Ordering::AcqRel);
        if prev != 0 {
            self.end_run(prev);
        }
        tracing::info!(run_id = id, "run started");
        Ok(id)
    }

    /// The run begun last, if any.
    pub fn current_run(&self) -> Option<i64> {
        match self.current_run.load(Ordering::Acquire) {
            0 => None,
            id => Some(id),
        }
    }

    fn end_run(&self, run_id: i64) {
        let ended = self.clock.now().millis();
        if let Err(e) = self.send(Command::EndRun { run_id, ended }) {
            tracing::debug!(error = %e, run_id, "could not record run end");
        }
    }

    /// Queues track summaries without waiting for the commit (tracks are
    /// updated often and each update supersedes the last). They are committed
    /// by the next transaction and at the latest by [`Store::flush`] or
    /// [`Store::close`]; errors (e.g. an unknown run id) are only logged.
    pub fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), StoreError> {
        if tracks.is_empty() {
            return Ok(());
        }
        for t in &tracks {
            if t.track_id > i64::MAX as u64 || t.frames > i64::MAX as u64 {
                return Err(StoreError::Invalid(format!(
                    "track {} counters exceed SQLite integers",
                    t.track_id
                )));
            }
            if let Some(h) = &t.best_crop {
                check_hash(h)?;
            }
        }
        self.send(Command::UpsertTracks { tracks })
    }

    /// Waits until everything queued before this call has committed.
    pub fn flush(&self) -> Result<(), StoreError> {
        self.request(|reply| Command::Flush { reply })
    }

    /// Receives every event committed from now on, in commit order, with ids.
    /// The subscriber gets a buffer of [`DEFAULT_SUBSCRIBER_BUFFER`] events;
    /// beyond that it loses events (counted) rather than slowing the writer.
    pub fn subscribe(&self) -> Subscription {
        self.subscribe_with_capacity(DEFAULT_SUBSCRIBER_BUFFER)
    }

    /// [`Store::subscribe`] with a chosen buffer size.
    pub fn subscribe_with_capacity(&self, capacity: usize) -> Subscription {
        self.subs.subscribe(capacity)
    }

    /// Encodes `rgb` (packed RGB8, `width`×`height`), cropped to `crop` if
    /// given, as a JPEG of `quality` (1–100), stores it under its SHA-256 and
    /// returns the hash (for [`Event::evidence`]).
    ///
    /// Encoding and the file write happen on the calling thread (CPU and disk
    /// work that must not hold up the writer); only the `evidence` row goes
    /// through the writer, queued ahead of any event the caller inserts next.
    /// Identical content is stored once.
    pub fn save_evidence_jpeg(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
    ) -> Result<String, StoreError> {
        let (jpeg, w, h) = evidence::encode_jpeg(rgb, width, height, crop, quality)?;
        self.save_evidence_bytes(&jpeg, w, h)
    }

    /// Stores an already-encoded JPEG of `width`×`height` (see
    /// [`Store::save_evidence_jpeg`]).
    pub fn save_evidence_bytes(
        &self,
        jpeg: &[u8],
        width: u32,
        height: u32,
    ) -> Result<String, StoreError> {
        let hash = evidence::sha256_hex(jpeg);
        let written = evidence::write_file(&self.evidence_dir, &hash, jpeg)?;
        tracing::trace!(hash, written, bytes = jpeg.len(), "evidence saved");
        self.send(Command::InsertEvidence {
            info: EvidenceInfo {
                hash: hash.clone(),
                bytes: jpeg.len() as u64,
                width,
                height,
                created: self.clock.now(),
            },
            key_id: None,
        })?;
        Ok(hash)
    }

    /// Adds a video clip to events already stored, as `details.clip`
    /// (`{"hash", "mime", "duration_ms", "frames", "width", "height", ...}`;
    /// `hash` names an evidence file saved with
    /// [`Store::save_evidence_bytes`]). Clips are encoded once the seconds
    /// after an event have passed, so the event is stored (and alerts) first
    /// and gets its clip here. Retention, locks and camera scope treat the
    /// clip like every evidence hash in the details. Returns how many events
    /// were updated (events deleted meanwhile are skipped).
    pub fn attach_event_clip(
        &self,
        event_ids: &[i64],
        clip: serde_json::Value,
    ) -> Result<usize, StoreError> {
        let hash = clip.get("hash").and_then(|h| h.as_str()).unwrap_or("");
        if !is_valid_hash(hash) {
            return Err(StoreError::Invalid(format!(
                "a clip needs the `hash` of its evidence file (64 lowercase hex digits), got {hash:?}"
            )));
        }
        let json = serde_json::to_string(&clip)?;
        let ids = event_ids.to_vec();
        self.exec("attach_event_clip", move |c| {
            let mut st = c.prepare_cached(
                "UPDATE event SET details_json =
                   json_set(CASE WHEN json_type(details_json) = 'object'
                                 THEN details_json ELSE '{}' END,
                            '$.clip', json(?1))
                 WHERE id = ?2",
            )?;
            let mut n = 0;
            for id in ids {
                n += st.execute(rusqlite::params![json, id])?;
            }
            Ok(n)
        })
    }

    /// Sets the key that seals the originals of masked evidence (and opens
    /// them for an un-mask).
    pub fn set_seal_key(&self, key: Arc<SealKey>) {
        tracing::info!(key_id = key.id(), "evidence sealing key configured");
        *self.seal_key.write() = Some(key);
    }

    /// The configured sealing key, if any.
    pub fn seal_key(&self) -> Option<Arc<SealKey>> {
        self.seal_key.read().clone()
    }

    /// Like [`Store::save_evidence_jpeg`], but masks `regions` (frame
    /// coordinates; bystanders' heads) irreversibly in the stored JPEG (see
    /// [`privacy`]) and keeps the unmasked JPEG only sealed under the
    /// configured key, for an audited un-mask. Without a key the original is
    /// not kept at all: masking never falls back to storing faces in the
    /// clear. Regions outside the crop cost nothing; when none touches it the
    /// JPEG is stored as is.
    #[allow(clippy::too_many_arguments)]
    pub fn save_evidence_masked(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
        regions: &[BBox],
    ) -> Result<String, StoreError> {
        if regions.is_empty() {
            return self.save_evidence_jpeg(rgb, width, height, crop, quality);
        }
        let (orig, w, h, (x0, y0)) = evidence::crop_rgb(rgb, width, height, crop)?;
        let local: Vec<BBox> = regions
            .iter()
            .map(|r| {
                BBox::new(
                    r.x1 - x0 as f32,
                    r.y1 - y0 as f32,
                    r.x2 - x0 as f32,
                    r.y2 - y0 as f32,
                )
            })
            .collect();
        let mut masked = orig.clone();
        let n = privacy::mask_regions(&mut masked, w, h, &local);
        if n == 0 {
            return self.save_evidence_jpeg(&orig, w, h, None, quality);
        }
        let hash = self.save_evidence_jpeg(&masked, w, h, None, quality)?;
        match self.seal_key() {
            Some(key) => {
                let (jpeg, _, _) = evidence::encode_jpeg(&orig, w, h, None, quality)?;
                let sealed = key.seal(&jpeg, hash.as_bytes())?;
                self.send(Command::InsertSealedOriginal {
                    hash: hash.clone(),
                    key_id: key.id().to_string(),
                    sealed,
                    regions: n as u32,
                    created: self.clock.now().millis(),
                })?;
            }
            None => tracing::debug!(
                hash,
                "no sealing key: masked evidence kept without original"
            ),
        }
        Ok(hash)
    }

    /// Whether a sealed original is kept for masked evidence `hash`.
    pub fn has_evidence_original(&self, hash: &str) -> Result<bool, StoreError> {
        if !is_valid_hash(hash) {
            return Ok(false);
        }
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT 1 FROM evidence_original WHERE hash = ?1")?
                    .exists([hash])?,
            )
        })
    }

    /// The unmasked original JPEG of masked evidence `hash`, opened with the
    /// configured key; `None` when none is kept. Callers must have checked
    /// the caller's right to see it and audited the reason: this is the one
    /// way back to bystanders' faces.
    pub fn evidence_original(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        if !is_valid_hash(hash) {
            return Ok(None);
        }
        let row: Option<(String, Vec<u8>)> = self.readers.with(|c| {
            let mut st =
                c.prepare_cached("SELECT key_id, sealed FROM evidence_original WHERE hash = ?1")?;
            let mut rows = st.query([hash])?;
            Ok(match rows.next()? {
                Some(r) => Some((r.get(0)?, r.get(1)?)),
                None => None,
            })
        })?;
        let Some((key_id, sealed)) = row else {
            return Ok(None);
        };
        let key = self.seal_key().ok_or_else(|| {
            StoreError::Invalid(
                "an original is kept sealed but no key is configured: set KUZET_KEY_FILE or                  [privacy] key_file"
                    .into(),
            )
        })?;
        key.open(&key_id, &sealed, hash.as_bytes()).map(Some)
    }

    /// The file of an evidence hash, or `None` if `hash` is not a well-formed
    /// hash (so a request path like `../../etc/passwd` never becomes a file
    /// path) or no such file exists.
    pub fn evidence_path(&self, hash: &str) -> Option<PathBuf> {
        if !is_valid_hash(hash) {
            return None;
        }
        let p = evidence::path_for(&self.evidence_dir, hash);
        p.is_file().then_some(p)
    }

    /// Whether a row of this store (event, track, sighting, plate read)
    /// refers to `hash`: then the file is this store's, and its retention
    /// alone may delete it. The PostgreSQL retention of a serve node asks
    /// before deleting a file it released.
    pub fn evidence_referenced(&self, hash: &str) -> Result<bool, StoreError> {
        if !is_valid_hash(hash) {
            return Ok(false);
        }
        self.readers
            .with(|c| crate::sightings::evidence_in_use(c, hash))
    }

    /// Deletes an evidence file and its index row that another store's
    /// retention released, unless a row of this store refers to it; true if
    /// a file was deleted. A serve node on PostgreSQL keeps the face crops
    /// of PostgreSQL's sightings here, sealed, indexed but referred to only
    /// from there: they must go when their sighting (and any alert naming
    /// them) goes, not live on to this store's `evidence_days`.
    pub fn release_evidence(&self, hash: &str) -> Result<bool, StoreError> {
        if !is_valid_hash(hash) {
            return Ok(false);
        }
        let h = hash.to_owned();
        let released = self.exec("release_evidence", move |c| {
            if crate::sightings::evidence_in_use(c, &h)? {
                return Ok(false);
            }
            c.prepare_cached("DELETE FROM evidence WHERE hash = ?1")?
                .execute([&h])?;
            c.prepare_cached("DELETE FROM evidence_camera WHERE hash = ?1")?
                .execute([&h])?;
            Ok(true)
        })?;
        Ok(released && EvidenceBlobs::delete(self, hash)?)
    }

    /// The `evidence` row of a hash, once committed.
    pub fn evidence_info(&self, hash: &str) -> Result<Option<EvidenceInfo>, StoreError> {
        if !is_valid_hash(hash) {
            return Ok(None);
        }
        self.readers.evidence_info(hash)
    }

    /// Cameras whose events, tracks or face sightings refer to an evidence
    /// file: what decides whether a camera-scoped user may fetch it.
    pub fn evidence_cameras(&self, hash: &str) -> Result<Vec<String>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT camera FROM event WHERE evidence = ?1
                 UNION SELECT camera FROM track WHERE best_crop = ?1
                 UNION SELECT camera FROM face_sighting WHERE crop = ?1
                 UNION SELECT camera FROM evidence_camera WHERE hash = ?1",
            )?;
            let rows = st.query_map([hash], |r| r.get::<_, String>(0))?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Events matching `q`, newest first.
    pub fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        self.readers.events(q)
    }

    /// One event by id.
    pub fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        self.readers.event(id)
    }

    /// Every recorded camera, by id.
    pub fn cameras(&self) -> Result<Vec<CameraRecord>, StoreError> {
        self.readers.cameras()
    }

    /// Tracks of `camera` (of one run, or all), most recently seen first.
    pub fn tracks(
        &self,
        camera: &str,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TrackRecord>, StoreError> {
        self.readers.tracks(camera, run_id, limit)
    }

    /// The latest runs, newest first.
    pub fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.readers.runs(limit)
    }

    /// Totals per kind and camera, from one snapshot.
    pub fn counts(&self) -> Result<Counts, StoreError> {
        self.readers.counts()
    }

    /// Writer counters since open.
    pub fn writer_stats(&self) -> WriterStats {
        let c = &self.counters;
        let get = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
        WriterStats {
            transactions: get(&c.transactions),
            commands: get(&c.commands),
            events: get(&c.events),
            failed_commands: get(&c.failed_commands),
            failed_commits: get(&c.failed_commits),
            max_batch: get(&c.max_batch),
            subscribers: self.subs.count(),
            subscriber_lagged: self.subs.total_lagged(),
        }
    }

    /// Graceful shutdown: marks the current run ended, commits everything
    /// queued, stops the writer and ends subscriptions. Later writes fail with
    /// [`StoreError::Closed`]; reads keep working. Idempotent; also done on drop.
    pub fn close(&self) {
        if let Some(run) = self.current_run() {
            self.end_run(run);
        }
        // Dropping the last sender lets the writer drain the queue and exit.
        drop(self.tx.write().take());
        if let Some(h) = self.writer.lock().take() {
            if h.join().is_err() {
                tracing::error!("store writer thread panicked");
            }
            tracing::info!(dir = %self.dir.display(), "store closed");
        }
        self.subs.close();
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn check_hash(h: &str) -> Result<(), StoreError> {
    if is_valid_hash(h) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!("not an evidence hash: {h:?}")))
    }
}

/// Rejects what SQLite would store wrongly (NaN becomes NULL, u64 beyond i64)
/// before it reaches the writer, so the caller gets a precise error.
pub(crate) fn validate_event(e: &Event) -> Result<(), StoreError> {
    let bad = |why: &str| {
        Err(StoreError::Invalid(format!(
            "event {} at {} on {:?}: {why}",
            e.kind, e.ts, e.camera
        )))
    };
    if e.camera.is_empty() {
        return bad("empty camera");
    }
    if e.kind.is_empty() {
        return bad("empty kind");
    }
    if !e.score.is_finite() {
        return bad("non-finite score");
    }
    if e.bbox.is_some_and(|b| !b.is_finite()) {
        return bad("non-finite bbox");
    }
    if e.track_id.is_some_and(|t| t > i64::MAX as u64) {
        return bad("track id exceeds SQLite integers");
    }
    if let Some(h) = &e.evidence {
        check_hash(h)?;
    }
    Ok(())
}

/// The value an `Exec` closure produced, as the type its caller expects.
fn downcast<T: 'static>(v: writer::AnyValue, name: &str) -> Result<T, StoreError> {
    v.downcast::<T>()
        .map(|b| *b)
        .map_err(|_| StoreError::Commit(format!("{name}: unexpected result type")))
}
