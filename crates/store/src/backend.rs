//! The one store trait of kuzet: what the distributed mode moves between
//! workers and the central side, implemented by the embedded SQLite [`Store`]
//! here and by PostgreSQL in `kuzet-store-pg`.
//!
//! # Why synchronous
//!
//! Every caller of the store today is synchronous code on its own thread: the
//! pipeline's post/faces/plates threads call it directly, and the axum server
//! already wraps each store call in `spawn_blocking`. A blocking trait keeps
//! both unchanged and lets the SQLite implementation stay what it is (a writer
//! thread with group commit, blocking readers). The PostgreSQL backend is
//! async inside (`sqlx`) and blocks on its own private runtime, so the trait
//! never leaks an executor into callers and both backends are swappable behind
//! `Arc<dyn StoreBackend>`. The cost is one thread hop per call on PostgreSQL,
//! negligible next to a network round trip.
//!
//! # Idempotent ingest
//!
//! The bus delivers at least once. Every ingested row may therefore carry a
//! `dedupe_key` ([`Keyed`]): a backend stores a key once and answers a second
//! delivery with the id of the row stored the first time, so redeliveries
//! and replays after a failover never duplicate rows. `None` keys (the
//! embedded mode) are never compared.

use crate::audit::{AuditEntry, AuditVerification, NewAuditEntry};
use crate::faces::{
    GalleryTemplate, LegalBasis, NewTemplate, Person, PersonScope, Watchlist, WatchlistCategory,
};
use crate::plates::{
    HotlistEntryRecord, HotlistRecord, NewHotlistEntry, NewPlateRead, PlateReadQuery,
    PlateReadRecord,
};
use crate::reviews::{ReviewAction, ReviewCounts, ReviewEntry, ReviewState, TimelineBucket};
use crate::sightings::{NewSighting, Sighting, SightingQuery};
use crate::{
    CameraRecord, Counts, EventLock, EventQuery, EventTrack, Ingested, KeyedEvent, RunRecord,
    Store, StoreError, Subscription, TrackRecord,
};
use base::{Event, Timestamp};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;

/// An ingested record and its idempotency key.
#[derive(Clone, Debug, PartialEq)]
pub struct Keyed<T> {
    /// Deterministic id of the delivery (e.g. `worker/run/camera/seq`); at
    /// most 512 bytes. `None` = never deduplicated.
    pub dedupe_key: Option<String>,
    pub item: T,
}

impl<T> Keyed<T> {
    /// A record without a key (embedded mode).
    pub fn plain(item: T) -> Self {
        Keyed {
            dedupe_key: None,
            item,
        }
    }

    /// A record with a key.
    pub fn with_key(key: impl Into<String>, item: T) -> Self {
        Keyed {
            dedupe_key: Some(key.into()),
            item,
        }
    }
}

/// The tables the bus ingest writes with a dedupe key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyedTable {
    Events,
    PlateReads,
    Sightings,
}

impl KeyedTable {
    /// The table's name (the same on both backends).
    pub fn table(self) -> &'static str {
        match self {
            KeyedTable::Events => "event",
            KeyedTable::PlateReads => "plate_reads",
            KeyedTable::Sightings => "face_sighting",
        }
    }
}

/// Longest accepted dedupe key: keys are indexed, and anything longer is a
/// caller bug (a key should be an id, not a payload).
pub const MAX_DEDUPE_KEY: usize = 512;

/// Checks a dedupe key before any backend stores it.
pub fn check_dedupe_key(key: Option<&str>) -> Result<(), StoreError> {
    match key {
        Some("") => Err(StoreError::Invalid(
            "dedupe key is empty: pass None for records that need no deduplication".into(),
        )),
        Some(k) if k.len() > MAX_DEDUPE_KEY => Err(StoreError::Invalid(format!(
            "dedupe key of {} bytes exceeds {MAX_DEDUPE_KEY}: use an id, not a payload",
            k.len()
        ))),
        _ => Ok(()),
    }
}

/// Validation shared by every backend, so PostgreSQL refuses exactly what
/// SQLite refuses.
pub fn validate_event(e: &Event) -> Result<(), StoreError> {
    crate::validate_event(e)
}

/// See [`validate_event`].
pub fn validate_plate_read(r: &NewPlateRead) -> Result<(), StoreError> {
    crate::plates::validate_read(r)
}

/// See [`validate_event`].
pub fn validate_sighting(s: &NewSighting) -> Result<(), StoreError> {
    crate::sightings::validate(s)
}

/// See [`validate_event`].
pub fn validate_track(t: &TrackRecord) -> Result<(), StoreError> {
    if t.track_id > i64::MAX as u64 || t.frames > i64::MAX as u64 {
        return Err(StoreError::Invalid(format!(
            "track {} counters exceed 64-bit signed integers",
            t.track_id
        )));
    }
    if !t.best_score.is_finite() {
        return Err(StoreError::Invalid(format!(
            "track {} has a non-finite best score",
            t.track_id
        )));
    }
    if let Some(h) = &t.best_crop {
        crate::check_hash(h)?;
    }
    Ok(())
}

/// The data the distributed mode moves, behind one interface. Every method
/// blocks until its answer is durable (writes) or read (queries); see the
/// module documentation for why the trait is synchronous.
pub trait StoreBackend: Send + Sync {
    /// `"sqlite"` or `"postgres"`, for logs and metrics.
    fn backend_name(&self) -> &'static str;

    /// Records a camera's configuration (insert or update).
    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), StoreError>;
    /// Every recorded camera, by id.
    fn cameras(&self) -> Result<Vec<CameraRecord>, StoreError>;

    /// Records the start of a run (a worker or process start) and returns its
    /// id. Unlike [`Store::begin_run`] this does not change which run the
    /// embedded pipeline stamps on events: runs here are explicit.
    fn create_run(&self, version: &str, pid: Option<u32>) -> Result<i64, StoreError>;
    /// Marks a run ended.
    fn finish_run(&self, run_id: i64) -> Result<(), StoreError>;
    /// The latest runs, newest first.
    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError>;
    /// The run of a worker's engine session (`origin`, e.g.
    /// "w1/1700000000000"), created on first sight: the same origin always
    /// maps to the same run, so redelivered messages never split a session,
    /// whichever server process ingests them.
    fn run_for_origin(&self, origin: &str, version: &str) -> Result<i64, StoreError>;

    /// Stores events of `run_id` and returns them with their ids, after the
    /// commit. A key stored before yields the earlier row's id.
    fn ingest_events(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Event>, StoreError>;
    /// Like [`StoreBackend::ingest_events`], saying for each event whether
    /// it was stored now or found stored (a redelivery): the bus ingest
    /// counts redeliveries and the live feed must see new rows only once.
    fn ingest_events_outcomes(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Ingested>, StoreError>;
    /// Events matching `q`, newest first by (ts, id).
    fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError>;
    /// One event by id.
    fn event(&self, id: i64) -> Result<Option<Event>, StoreError>;
    /// Stored events with an id above `after`, in id order, at most `limit`:
    /// what a live-stream client missed. Ids grow in commit order on both
    /// backends (SQLite has one writer; PostgreSQL serialises event inserts,
    /// see `kuzet-store-pg`), so nothing committed later can appear below
    /// an id already returned.
    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>, StoreError>;
    /// The highest event id, 0 when there is none: where a new live-stream
    /// client starts.
    fn max_event_id(&self) -> Result<i64, StoreError>;
    /// Events committed from now on, in commit order, with their ids, never
    /// a redelivered one. A subscriber that falls behind loses events
    /// (counted in [`Subscription::lagged`]) and re-reads them with
    /// [`StoreBackend::events_after`].
    fn subscribe_events(&self) -> Result<Subscription, StoreError>;
    /// Cameras whose stored rows (events, track crops, sightings) refer to
    /// the evidence `hash`: the API shows evidence to a camera-scoped user
    /// only when one of them is in scope.
    fn evidence_cameras(&self, hash: &str) -> Result<Vec<String>, StoreError>;
    /// Totals per kind and camera.
    fn counts(&self) -> Result<Counts, StoreError>;

    /// Inserts or updates track summaries (same merge rules as SQLite: the
    /// seen interval widens, label and crop keep their old value when the
    /// new one is `None`). Returns after the commit.
    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), StoreError>;
    /// Tracks of `camera` (of one run, or all), most recently seen first.
    fn tracks(
        &self,
        camera: &str,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TrackRecord>, StoreError>;

    /// Stores plate reads; returns their ids in input order.
    fn ingest_plate_reads(&self, reads: Vec<Keyed<NewPlateRead>>) -> Result<Vec<i64>, StoreError>;
    /// Plate reads matching `q` (pattern with `?`/`*`, cameras, time), newest
    /// first, one page.
    fn plate_reads(&self, q: &PlateReadQuery) -> Result<Vec<PlateReadRecord>, StoreError>;

    /// Stores face sightings with their embeddings; returns ids in input order.
    fn ingest_sightings(&self, sightings: Vec<Keyed<NewSighting>>) -> Result<Vec<i64>, StoreError>;
    /// Sightings matching `q`, newest first, at most `limit`.
    fn sightings(&self, q: &SightingQuery, limit: usize) -> Result<Vec<Sighting>, StoreError>;
    /// Id and embedding of sightings of `model` with id above `after_id`, in
    /// id order: pages for loading a search index.
    fn sighting_embeddings(
        &self,
        model: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<f32>)>, StoreError>;
    /// Ids of every sighting of `model`, ascending: what a search index
    /// loaded earlier is reconciled against.
    fn sighting_ids(&self, model: &str) -> Result<Vec<i64>, StoreError>;
    /// The sightings with these ids (unknown ids are skipped), in id order.
    fn sightings_by_ids(&self, ids: &[i64]) -> Result<Vec<Sighting>, StoreError>;
    /// Records that sightings matched a watchlist person (they then fall
    /// under the longer retention of matched data).
    fn mark_sightings_matched(&self, ids: Vec<i64>, person: i64) -> Result<(), StoreError>;

    // Plate hotlists (see `crate::plates`): central data like the gallery,
    // so every serve node's plate matcher loads the same entries.

    /// Creates the hotlist if missing (a non-empty `description` replaces
    /// the stored one); returns it.
    fn ensure_hotlist(&self, name: &str, description: &str) -> Result<HotlistRecord, StoreError>;
    /// Every hotlist, by name, with its entry count.
    fn hotlists(&self) -> Result<Vec<HotlistRecord>, StoreError>;
    /// Adds entries to a list (created if missing), all or none; new ids
    /// in order.
    fn add_hotlist_entries(
        &self,
        list: &str,
        entries: Vec<NewHotlistEntry>,
    ) -> Result<Vec<i64>, StoreError>;
    /// Entries of one list (or all), by list, then plate, then id.
    fn hotlist_entries(&self, list: Option<&str>) -> Result<Vec<HotlistEntryRecord>, StoreError>;
    /// One entry by id.
    fn hotlist_entry(&self, id: i64) -> Result<Option<HotlistEntryRecord>, StoreError>;
    /// Removes one entry; false when there was none.
    fn remove_hotlist_entry(&self, id: i64) -> Result<bool, StoreError>;
    /// Changes on every entry change (by any process): a plate matcher
    /// reloads when it differs from what it loaded.
    fn hotlist_generation(&self) -> Result<i64, StoreError>;

    // The face watchlist gallery: lists, enrolled persons, sealed templates
    // (see `crate::faces`). Kept beside the sightings: in the distributed
    // mode both live in the central database, so every serve node loads the
    // same gallery and a sighting's `matched_person` names a person there.

    /// The list called `name`, created if missing (then `.1` is true); an
    /// existing list under another category is an error.
    fn ensure_watchlist(
        &self,
        name: &str,
        category: WatchlistCategory,
        threshold: f32,
        priority: i64,
    ) -> Result<(Watchlist, bool), StoreError>;
    /// Every watchlist, by name.
    fn watchlists(&self) -> Result<Vec<Watchlist>, StoreError>;
    /// The list called `name`.
    fn watchlist(&self, name: &str) -> Result<Option<Watchlist>, StoreError>;
    /// Stores a person and all their templates (sealed) in one transaction.
    fn add_person_scoped(
        &self,
        watchlist_id: i64,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        scope: &PersonScope,
        templates: &[NewTemplate],
    ) -> Result<Person, StoreError>;
    /// One person, with their list's name and template count.
    fn person(&self, id: i64) -> Result<Option<Person>, StoreError>;
    /// Persons of one list (or all), by list then id.
    fn persons(&self, watchlist_id: Option<i64>) -> Result<Vec<Person>, StoreError>;
    /// Deletes a person and their templates; false if there was none.
    fn remove_person(&self, id: i64) -> Result<bool, StoreError>;
    /// Deletes temporary entries expired at `now`; returns their ids.
    fn purge_expired_temporary(&self, now: Timestamp) -> Result<Vec<i64>, StoreError>;
    /// Changes on every watchlist, person or template change (by any
    /// process): a gallery reloads when it differs from what it loaded.
    fn watchlist_generation(&self) -> Result<i64, StoreError>;
    /// Every template of `model` with its person and list, opened.
    fn face_templates(&self, model: &str) -> Result<Vec<GalleryTemplate>, StoreError>;
    /// Templates of other models (invisible to a gallery of `model`).
    fn face_templates_of_other_models(&self, model: &str) -> Result<u64, StoreError>;

    /// Appends to the hash-chained audit log after every earlier entry.
    fn append_audit(&self, e: NewAuditEntry) -> Result<AuditEntry, StoreError>;
    /// Entries newest first, paged backwards by `before_seq`.
    fn audit_entries(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;
    /// Checks the whole chain.
    fn verify_audit(&self) -> Result<AuditVerification, StoreError>;

    /// Every dedupe key stored in `table`: what `kuzet simulate` checks its
    /// generated message ids against (lost, foreign). A full scan: for
    /// measurement runs, not for serving.
    fn dedupe_keys(&self, table: KeyedTable) -> Result<Vec<String>, StoreError>;

    /// Applies an operator's review action to event `event_id` and returns
    /// its new state. The state machine (`store::reviews`, the two-person
    /// rule included) runs inside the backend's write transaction, so two
    /// operators acting at once cannot both win; refusals are
    /// [`StoreError::Refused`] naming the rule.
    fn review(
        &self,
        event_id: i64,
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewState, StoreError>;
    /// The review of `event_id` (status `new` when nobody acted), `None` if
    /// the event does not exist.
    fn review_state(&self, event_id: i64) -> Result<Option<ReviewState>, StoreError>;
    /// Every review action on `event_id`, oldest first.
    fn review_history(&self, event_id: i64) -> Result<Vec<ReviewEntry>, StoreError>;
    /// Events with `ts` in `[since, until)` (of `kind`, if given) per review
    /// status, over the cameras `cameras` lets through (`None` = all).
    fn review_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
        kind: Option<&str>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError>;
    /// Event counts per `bucket_ms` bucket (aligned to `since`) and kind.
    fn event_timeline(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_ms: i64,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Vec<TimelineBucket>, StoreError>;

    /// Locks an event for a case: retention keeps it, its evidence, its
    /// track and the sightings and plate read it names until it is
    /// unlocked. Refused if it is already locked.
    fn lock_event(
        &self,
        event_id: i64,
        case_ref: &str,
        reason: &str,
        actor: &str,
    ) -> Result<EventLock, StoreError>;
    /// Lifts an event's lock; returns it, `None` if it was not locked.
    fn unlock_event(&self, event_id: i64) -> Result<Option<EventLock>, StoreError>;
    /// The locks of those of `ids` that are locked.
    fn event_locks(&self, ids: &[i64]) -> Result<HashMap<i64, EventLock>, StoreError>;

    /// The track of event `id` and every event of the same object; `None`
    /// when no event has this id.
    fn event_track(&self, id: i64) -> Result<Option<EventTrack>, StoreError>;
}

/// Looks a key up in `table` (one of the three ingest tables: a constant, never
/// caller input).
fn existing_id(c: &Connection, table: &str, key: &str) -> Result<Option<i64>, StoreError> {
    Ok(
        c.prepare_cached(&format!("SELECT id FROM {table} WHERE dedupe_key = ?1"))?
            .query_row([key], |r| r.get(0))
            .optional()?,
    )
}

impl StoreBackend for Store {
    fn backend_name(&self) -> &'static str {
        "sqlite"
    }

    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), StoreError> {
        Store::upsert_camera(self, id, name, url, config)
    }

    fn cameras(&self) -> Result<Vec<CameraRecord>, StoreError> {
        Store::cameras(self)
    }

    fn create_run(&self, version: &str, pid: Option<u32>) -> Result<i64, StoreError> {
        let started = self.clock.now().millis();
        let version = version.to_owned();
        self.exec("create_run", move |c| {
            c.prepare_cached("INSERT INTO run (started, version, pid) VALUES (?1, ?2, ?3)")?
                .execute(params![started, version, pid])?;
            Ok(c.last_insert_rowid())
        })
    }

    fn finish_run(&self, run_id: i64) -> Result<(), StoreError> {
        let ended = self.clock.now().millis();
        self.exec("finish_run", move |c| {
            c.prepare_cached("UPDATE run SET ended = ?2 WHERE id = ?1")?
                .execute(params![run_id, ended])?;
            Ok(())
        })
    }

    fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        Store::runs(self, limit)
    }

    fn run_for_origin(&self, origin: &str, version: &str) -> Result<i64, StoreError> {
        Store::run_for_origin(self, origin, version)
    }

    fn ingest_events_outcomes(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Ingested>, StoreError> {
        for k in &events {
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        if events.iter().all(|k| k.dedupe_key.is_some()) {
            // The bus path: the store's own keyed ingest (counters, live feed).
            let keyed = events
                .into_iter()
                .map(|k| KeyedEvent {
                    msg_id: k.dedupe_key.unwrap_or_default(),
                    event: k.item,
                })
                .collect();
            return Store::ingest_events(self, run_id, keyed);
        }
        // Rows without a key are always new; a mixed batch is stored one
        // event at a time so each keyed one can say what it was.
        let mut out = Vec::with_capacity(events.len());
        for k in events {
            match k.dedupe_key {
                None => {
                    let stored = StoreBackend::ingest_events(self, run_id, vec![k])?;
                    out.extend(stored.iter().filter_map(|e| e.id).map(Ingested::New));
                }
                Some(_) => out.extend(StoreBackend::ingest_events_outcomes(self, run_id, vec![k])?),
            }
        }
        Ok(out)
    }

    fn ingest_events(
        &self,
        run_id: Option<i64>,
        events: Vec<Keyed<Event>>,
    ) -> Result<Vec<Event>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for k in &events {
            validate_event(&k.item)?;
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        self.exec_publishing("ingest_events", move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO event (camera, kind, ts, run_id, track_id, label, rule,
                                    x1, y1, x2, y2, score, details_json, evidence, dedupe_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let mut out = Vec::with_capacity(events.len());
            let mut fresh = Vec::new();
            for Keyed {
                dedupe_key,
                mut item,
            } in events
            {
                if let Some(id) = dedupe_key
                    .as_deref()
                    .map(|k| existing_id(c, "event", k))
                    .transpose()?
                    .flatten()
                {
                    item.id = Some(id);
                    out.push(item);
                    continue;
                }
                let details = match &item.details {
                    serde_json::Value::Null => None,
                    v => Some(serde_json::to_string(v)?),
                };
                let b = item.bbox;
                st.execute(params![
                    item.camera,
                    item.kind,
                    item.ts.millis(),
                    run_id,
                    item.track_id.map(|t| t as i64),
                    item.label,
                    item.rule,
                    b.map(|b| b.x1),
                    b.map(|b| b.y1),
                    b.map(|b| b.x2),
                    b.map(|b| b.y2),
                    item.score,
                    details,
                    item.evidence,
                    dedupe_key,
                ])?;
                item.id = Some(c.last_insert_rowid());
                fresh.push(item.clone());
                out.push(item);
            }
            // Published by the writer after the commit: the live feed sees
            // new rows once, never redeliveries.
            Ok((out, fresh))
        })
    }

    fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        Store::events(self, q)
    }

    fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        Store::event(self, id)
    }

    fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.readers.events_after(after, limit)
    }

    fn max_event_id(&self) -> Result<i64, StoreError> {
        self.readers.max_event_id()
    }

    fn subscribe_events(&self) -> Result<Subscription, StoreError> {
        Ok(self.subscribe())
    }

    fn evidence_cameras(&self, hash: &str) -> Result<Vec<String>, StoreError> {
        Store::evidence_cameras(self, hash)
    }

    fn counts(&self) -> Result<Counts, StoreError> {
        Store::counts(self)
    }

    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), StoreError> {
        for t in &tracks {
            validate_track(t)?;
        }
        Store::upsert_tracks(self, tracks)?;
        // The embedded path queues tracks without waiting; the trait promises
        // durability on return.
        self.flush()
    }

    fn tracks(
        &self,
        camera: &str,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TrackRecord>, StoreError> {
        Store::tracks(self, camera, run_id, limit)
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
        self.exec("ingest_plate_reads", move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO plate_reads (camera, run_id, track_id, first_seen, last_seen, plate,
                   raw_text, format, country, confidence, votes, agreeing, vehicle_type, colour,
                   plate_crop, vehicle_crop, frame, hotlist_hits, created, dedupe_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, ?19, ?20)",
            )?;
            let mut ids = Vec::with_capacity(reads.len());
            for Keyed {
                dedupe_key,
                item: r,
            } in reads
            {
                if let Some(id) = dedupe_key
                    .as_deref()
                    .map(|k| existing_id(c, "plate_reads", k))
                    .transpose()?
                    .flatten()
                {
                    ids.push(id);
                    continue;
                }
                st.execute(params![
                    r.camera,
                    r.run_id,
                    r.track_id.map(|t| t as i64),
                    r.first_seen.millis(),
                    r.last_seen.millis(),
                    r.plate,
                    r.raw_text,
                    r.format,
                    r.country,
                    r.confidence,
                    r.votes,
                    r.agreeing,
                    r.vehicle_type,
                    r.colour,
                    r.plate_crop,
                    r.vehicle_crop,
                    r.frame,
                    r.hotlist_hits,
                    now,
                    dedupe_key,
                ])?;
                ids.push(c.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    fn plate_reads(&self, q: &PlateReadQuery) -> Result<Vec<PlateReadRecord>, StoreError> {
        Store::plate_reads(self, q)
    }

    fn ingest_sightings(&self, sightings: Vec<Keyed<NewSighting>>) -> Result<Vec<i64>, StoreError> {
        for k in &sightings {
            validate_sighting(&k.item)?;
            check_dedupe_key(k.dedupe_key.as_deref())?;
        }
        if sightings.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.face_key("ingesting a face sighting")?;
        let now = self.clock.now().millis();
        self.exec("ingest_sightings", move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO face_sighting (camera, ts, run_id, track_id, model, embedding,
                   x1, y1, x2, y2, quality, crop, matched_person, created, dedupe_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )?;
            let mut ids = Vec::with_capacity(sightings.len());
            for Keyed {
                dedupe_key,
                item: s,
            } in sightings
            {
                if let Some(id) = dedupe_key
                    .as_deref()
                    .map(|k| existing_id(c, "face_sighting", k))
                    .transpose()?
                    .flatten()
                {
                    ids.push(id);
                    continue;
                }
                st.execute(params![
                    s.camera,
                    s.ts.millis(),
                    s.run_id,
                    s.track_id.map(|t| t as i64),
                    s.model,
                    Vec::<u8>::new(),
                    s.bbox.x1,
                    s.bbox.y1,
                    s.bbox.x2,
                    s.bbox.y2,
                    s.quality,
                    s.crop,
                    s.matched_person,
                    now,
                    dedupe_key,
                ])?;
                let id = c.last_insert_rowid();
                crate::sealed_faces::seal_row(
                    c,
                    &key,
                    crate::sealed_faces::SealedTable::Sighting,
                    id,
                    &s.embedding,
                )?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    fn sightings(&self, q: &SightingQuery, limit: usize) -> Result<Vec<Sighting>, StoreError> {
        Store::sightings(self, q, limit)
    }

    fn sighting_embeddings(
        &self,
        model: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        Store::sighting_embeddings(self, model, after_id, limit)
    }

    fn sighting_ids(&self, model: &str) -> Result<Vec<i64>, StoreError> {
        Store::sighting_ids(self, model)
    }

    fn sightings_by_ids(&self, ids: &[i64]) -> Result<Vec<Sighting>, StoreError> {
        Store::sightings_by_ids(self, ids)
    }

    fn mark_sightings_matched(&self, ids: Vec<i64>, person: i64) -> Result<(), StoreError> {
        Store::mark_sightings_matched(self, ids, person)
    }

    fn ensure_hotlist(&self, name: &str, description: &str) -> Result<HotlistRecord, StoreError> {
        Store::ensure_hotlist(self, name, description)
    }

    fn hotlists(&self) -> Result<Vec<HotlistRecord>, StoreError> {
        Store::hotlists(self)
    }

    fn add_hotlist_entries(
        &self,
        list: &str,
        entries: Vec<NewHotlistEntry>,
    ) -> Result<Vec<i64>, StoreError> {
        Store::add_hotlist_entries(self, list, entries)
    }

    fn hotlist_entries(&self, list: Option<&str>) -> Result<Vec<HotlistEntryRecord>, StoreError> {
        Store::hotlist_entries(self, list)
    }

    fn hotlist_entry(&self, id: i64) -> Result<Option<HotlistEntryRecord>, StoreError> {
        Store::hotlist_entry(self, id)
    }

    fn remove_hotlist_entry(&self, id: i64) -> Result<bool, StoreError> {
        Store::remove_hotlist_entry(self, id)
    }

    fn hotlist_generation(&self) -> Result<i64, StoreError> {
        Store::hotlist_generation(self)
    }

    fn ensure_watchlist(
        &self,
        name: &str,
        category: WatchlistCategory,
        threshold: f32,
        priority: i64,
    ) -> Result<(Watchlist, bool), StoreError> {
        Store::ensure_watchlist(self, name, category, threshold, priority)
    }

    fn watchlists(&self) -> Result<Vec<Watchlist>, StoreError> {
        Store::watchlists(self)
    }

    fn watchlist(&self, name: &str) -> Result<Option<Watchlist>, StoreError> {
        Store::watchlist(self, name)
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
        Store::add_person_scoped(self, watchlist_id, name, notes, legal, scope, templates)
    }

    fn person(&self, id: i64) -> Result<Option<Person>, StoreError> {
        Store::person(self, id)
    }

    fn persons(&self, watchlist_id: Option<i64>) -> Result<Vec<Person>, StoreError> {
        Store::persons(self, watchlist_id)
    }

    fn remove_person(&self, id: i64) -> Result<bool, StoreError> {
        Store::remove_person(self, id)
    }

    fn purge_expired_temporary(&self, now: Timestamp) -> Result<Vec<i64>, StoreError> {
        Store::purge_expired_temporary(self, now)
    }

    fn watchlist_generation(&self) -> Result<i64, StoreError> {
        Store::watchlist_generation(self)
    }

    fn face_templates(&self, model: &str) -> Result<Vec<GalleryTemplate>, StoreError> {
        Store::face_templates(self, model)
    }

    fn face_templates_of_other_models(&self, model: &str) -> Result<u64, StoreError> {
        Store::face_templates_of_other_models(self, model)
    }

    fn append_audit(&self, e: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        Store::append_audit(self, e)
    }

    fn audit_entries(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        Store::audit_entries(self, before_seq, limit)
    }

    fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        Store::verify_audit(self)
    }

    fn dedupe_keys(&self, table: KeyedTable) -> Result<Vec<String>, StoreError> {
        Store::dedupe_keys(self, table)
    }

    fn review(
        &self,
        event_id: i64,
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewState, StoreError> {
        Store::review(self, event_id, actor, action, assignee, comment)
    }

    fn review_state(&self, event_id: i64) -> Result<Option<ReviewState>, StoreError> {
        Store::review_state(self, event_id)
    }

    fn review_history(&self, event_id: i64) -> Result<Vec<ReviewEntry>, StoreError> {
        Store::review_history(self, event_id)
    }

    fn review_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
        kind: Option<&str>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError> {
        Store::review_counts(self, since, until, kind, cameras)
    }

    fn event_timeline(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_ms: i64,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        Store::event_timeline(self, since, until, bucket_ms, cameras)
    }

    fn lock_event(
        &self,
        event_id: i64,
        case_ref: &str,
        reason: &str,
        actor: &str,
    ) -> Result<EventLock, StoreError> {
        Store::lock_event(self, event_id, case_ref, reason, actor)
    }

    fn unlock_event(&self, event_id: i64) -> Result<Option<EventLock>, StoreError> {
        Store::unlock_event(self, event_id)
    }

    fn event_locks(&self, ids: &[i64]) -> Result<HashMap<i64, EventLock>, StoreError> {
        Store::event_locks(self, ids)
    }

    fn event_track(&self, id: i64) -> Result<Option<EventTrack>, StoreError> {
        Store::event_track(self, id)
    }
}
