//! Licence-plate reads and hotlists (migration 4).
//!
//! A plate read is the voted plate of one vehicle track (or one still image)
//! with its evidence; reads are kept for `[plates] read_retention_days` and
//! searched by wildcard pattern ([`PlateReadQuery::pattern`]). Hotlists are
//! named lists of wanted plates; a trigger bumps the `hotlists` change
//! counter on every change so a running pipeline reloads them
//! ([`Store::hotlist_generation`]). All writes go through the single writer.

use crate::sightings::evidence_in_use;
use crate::{evidence, Store, StoreError};
use base::Timestamp;
use rusqlite::types::Value;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// Most reads one query returns, whatever the caller asks for.
pub const MAX_PLATE_LIMIT: usize = 1000;
/// Reads returned when the query does not say.
pub const DEFAULT_PLATE_LIMIT: usize = 100;
/// Longest plate accepted (normalised): no real plate is longer, and a
/// bound keeps an imported CSV of junk from filling the table.
pub const MAX_PLATE_LEN: usize = 16;

/// A voted plate read to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewPlateRead {
    pub camera: String,
    pub run_id: Option<i64>,
    /// The vehicle track; `None` for a still image (a one-frame track).
    pub track_id: Option<u64>,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// Normalised plate text (A-Z, 0-9).
    pub plate: String,
    /// What the OCR read for the best single read, before clean-up.
    pub raw_text: String,
    /// Plate format matched, `None` when none fits.
    pub format: Option<String>,
    /// Country/region of the format (`us`, `eu`, `br`…).
    pub country: Option<String>,
    /// Confidence of the vote, 0..1.
    pub confidence: f32,
    /// Reads the vote combined.
    pub votes: u32,
    /// Reads whose text equals the voted text.
    pub agreeing: u32,
    /// Detector class of the vehicle (`car`, `bus`, `truck`, `motorcycle`).
    pub vehicle_type: Option<String>,
    /// Named body colour, `None` when unknown.
    pub colour: Option<String>,
    /// Evidence hashes.
    pub plate_crop: Option<String>,
    pub vehicle_crop: Option<String>,
    pub frame: Option<String>,
    /// Hotlist entries this read matched.
    pub hotlist_hits: u32,
}

/// A stored plate read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlateReadRecord {
    pub id: i64,
    #[serde(flatten)]
    pub read: NewPlateRead,
    pub created: Timestamp,
}

/// Filter of a plate search. Results are newest first (by first sighting).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PlateReadQuery {
    /// Wildcard pattern: `?` one character, `*` any run; letters and digits
    /// as on the plate (case, spaces and dashes ignored). `None` = all.
    pub pattern: Option<String>,
    /// Only these cameras; empty = all.
    pub cameras: Vec<String>,
    /// Inclusive lower bound on the first sighting.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on the first sighting.
    pub until: Option<Timestamp>,
    /// At most this many (0 = [`DEFAULT_PLATE_LIMIT`]; capped at
    /// [`MAX_PLATE_LIMIT`]).
    pub limit: usize,
    /// Skip this many (pagination).
    pub offset: usize,
}

/// What a retention purge removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatePurge {
    pub rows: u64,
    /// Evidence files deleted (those no event, track, sighting or remaining
    /// read still uses).
    pub files: u64,
}

/// A hotlist with its entry count.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotlistRecord {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub entries: u64,
    pub created: Timestamp,
}

/// A wanted plate to add.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NewHotlistEntry {
    pub plate: String,
    pub reason: String,
    /// Higher is more urgent.
    pub priority: i32,
    /// After this the entry no longer matches; `None` never expires.
    pub expires: Option<Timestamp>,
    pub notes: String,
}

/// A stored hotlist entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HotlistEntryRecord {
    pub id: i64,
    pub hotlist_id: i64,
    /// Name of the list.
    pub list: String,
    /// As entered.
    pub plate: String,
    /// A-Z0-9 form matched against reads.
    pub plate_norm: String,
    pub reason: String,
    pub priority: i32,
    pub expires: Option<Timestamp>,
    pub notes: String,
    pub created: Timestamp,
}

impl HotlistEntryRecord {
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.expires.is_none_or(|e| now < e)
    }
}

/// Upper-case A-Z/0-9 and a Chinese plate's province character only
/// (spaces, dashes, dots and anything else dropped): the same form reads are
/// stored in ([`base::plate_text::canonical`]).
pub fn normalize_plate(s: &str) -> String {
    base::plate_text::canonical(s)
}

/// The SQL `LIKE` pattern of a plate wildcard pattern (`?` → `_`, `*` →
/// `%`), with the meaning of `vehicles::PlatePattern`: letters and digits
/// upper-cased, a Chinese plate's province character kept, spaces, dashes
/// and dots ignored, anything else refused (so no `%`/`_` of the caller's
/// ever reaches SQL).
pub fn plate_like(pattern: &str) -> Result<String, StoreError> {
    let mut out = String::new();
    for c in pattern.chars() {
        match c {
            '?' => out.push('_'),
            '*' => {
                if !out.ends_with('%') {
                    out.push('%')
                }
            }
            c if base::plate_text::is_plate_char(c) => out.push(c.to_ascii_uppercase()),
            c if base::plate_text::is_separator(c) => {}
            other => {
                return Err(StoreError::Invalid(format!(
                    "plate pattern `{pattern}`: `{other}` is not a letter, digit, `?` or `*`"
                )))
            }
        }
    }
    if out.is_empty() {
        return Err(StoreError::Invalid(format!(
            "plate pattern `{pattern}` is empty: give letters/digits with `?` (one character) or `*` (any run)"
        )));
    }
    Ok(out)
}

/// List names are identifiers in URLs and CLI flags.
fn valid_list_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// What every backend checks of a hotlist name.
pub fn check_list_name(name: &str) -> Result<(), StoreError> {
    if valid_list_name(name) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "hotlist name {name:?}: use 1-64 letters, digits, '-', '_' or '.' (e.g. \"stolen\")"
        )))
    }
}

/// What every backend checks of a batch for `list`: the list's name and
/// each entry, a bad one named by its position (1-based); returns the
/// normalised plates in order.
pub fn validate_entries(
    list: &str,
    entries: &[NewHotlistEntry],
) -> Result<Vec<String>, StoreError> {
    check_list_name(list)?;
    let mut norms = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        norms.push(validate_entry(e).map_err(|err| match err {
            StoreError::Invalid(m) => StoreError::Invalid(format!("entry {}: {m}", i + 1)),
            other => other,
        })?);
    }
    Ok(norms)
}

/// What every backend checks of an entry; returns its normalised plate.
pub fn validate_entry(e: &NewHotlistEntry) -> Result<String, StoreError> {
    let norm = normalize_plate(&e.plate);
    if norm.is_empty() {
        return Err(StoreError::Invalid(format!(
            "plate {:?} has no letters or digits",
            e.plate
        )));
    }
    if norm.len() > MAX_PLATE_LEN {
        return Err(StoreError::Invalid(format!(
            "plate {:?} is longer than {MAX_PLATE_LEN} characters",
            e.plate
        )));
    }
    if e.reason.len() > 1000 || e.notes.len() > 4000 {
        return Err(StoreError::Invalid(format!(
            "plate {:?}: reason (1000) or notes (4000 bytes) too long",
            e.plate
        )));
    }
    Ok(norm)
}

pub(crate) fn validate_read(r: &NewPlateRead) -> Result<(), StoreError> {
    let bad = |why: &str| {
        Err(StoreError::Invalid(format!(
            "plate read at {} on {:?}: {why}",
            r.first_seen, r.camera
        )))
    };
    if r.camera.is_empty() {
        return bad("empty camera");
    }
    if r.plate.is_empty() || normalize_plate(&r.plate) != r.plate {
        return bad("plate must be non-empty A-Z/0-9 (a Chinese plate may start with its province character)");
    }
    if !r.confidence.is_finite() {
        return bad("non-finite confidence");
    }
    if r.last_seen < r.first_seen {
        return bad("last_seen before first_seen");
    }
    if r.track_id.is_some_and(|t| t > i64::MAX as u64) {
        return bad("track id exceeds SQLite integers");
    }
    for h in [&r.plate_crop, &r.vehicle_crop, &r.frame]
        .into_iter()
        .flatten()
    {
        crate::check_hash(h)?;
    }
    Ok(())
}

const READ_COLUMNS: &str = "id, camera, run_id, track_id, first_seen, last_seen, plate, raw_text, \
     format, country, confidence, votes, agreeing, vehicle_type, colour, plate_crop, \
     vehicle_crop, frame, hotlist_hits, created";

fn read_from_row(r: &Row<'_>) -> rusqlite::Result<PlateReadRecord> {
    Ok(PlateReadRecord {
        id: r.get(0)?,
        read: NewPlateRead {
            camera: r.get(1)?,
            run_id: r.get(2)?,
            track_id: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
            first_seen: Timestamp::from_millis(r.get(4)?),
            last_seen: Timestamp::from_millis(r.get(5)?),
            plate: r.get(6)?,
            raw_text: r.get(7)?,
            format: r.get(8)?,
            country: r.get(9)?,
            confidence: r.get::<_, f64>(10)? as f32,
            votes: r.get::<_, i64>(11)? as u32,
            agreeing: r.get::<_, i64>(12)? as u32,
            vehicle_type: r.get(13)?,
            colour: r.get(14)?,
            plate_crop: r.get(15)?,
            vehicle_crop: r.get(16)?,
            frame: r.get(17)?,
            hotlist_hits: r.get::<_, i64>(18)? as u32,
        },
        created: Timestamp::from_millis(r.get(19)?),
    })
}

const ENTRY_COLUMNS: &str = "e.id, e.hotlist_id, h.name, e.plate, e.plate_norm, e.reason, \
     e.priority, e.expires, e.notes, e.created";

fn entry_from_row(r: &Row<'_>) -> rusqlite::Result<HotlistEntryRecord> {
    Ok(HotlistEntryRecord {
        id: r.get(0)?,
        hotlist_id: r.get(1)?,
        list: r.get(2)?,
        plate: r.get(3)?,
        plate_norm: r.get(4)?,
        reason: r.get(5)?,
        priority: r.get(6)?,
        expires: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
        notes: r.get(8)?,
        created: Timestamp::from_millis(r.get(9)?),
    })
}

fn ensure_list(c: &rusqlite::Connection, name: &str, now: i64) -> Result<i64, StoreError> {
    let id: Option<i64> = c
        .prepare_cached("SELECT id FROM hotlists WHERE name = ?1")?
        .query_row([name], |r| r.get(0))
        .optional()?;
    match id {
        Some(id) => Ok(id),
        None => {
            c.prepare_cached("INSERT INTO hotlists (name, created) VALUES (?1, ?2)")?
                .execute(params![name, now])?;
            Ok(c.last_insert_rowid())
        }
    }
}

impl PlateReadQuery {
    /// The limit actually applied.
    pub fn effective_limit(&self) -> usize {
        match self.limit {
            0 => DEFAULT_PLATE_LIMIT,
            n => n.min(MAX_PLATE_LIMIT),
        }
    }
}

impl Store {
    /// Stores one plate read and returns its id after the commit.
    pub fn insert_plate_read(&self, r: NewPlateRead) -> Result<i64, StoreError> {
        validate_read(&r)?;
        let now = self.clock.now().millis();
        self.exec("insert_plate_read", move |c| {
            c.prepare_cached(
                "INSERT INTO plate_reads (camera, run_id, track_id, first_seen, last_seen, plate,
                   raw_text, format, country, confidence, votes, agreeing, vehicle_type, colour,
                   plate_crop, vehicle_crop, frame, hotlist_hits, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16,
                   ?17, ?18, ?19)",
            )?
            .execute(params![
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
            ])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Plate reads matching `q`, newest first, one page.
    pub fn plate_reads(&self, q: &PlateReadQuery) -> Result<Vec<PlateReadRecord>, StoreError> {
        let like = q.pattern.as_deref().map(plate_like).transpose()?;
        self.readers.with(|c| {
            let mut sql = format!("SELECT {READ_COLUMNS} FROM plate_reads WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            if let Some(l) = like {
                // Plates are stored normalised (A-Z0-9), the pattern too, so
                // LIKE's case folding and `_`/`%` are the only wildcards.
                sql.push_str(" AND plate LIKE ?");
                args.push(Value::Text(l));
            }
            if !q.cameras.is_empty() {
                sql.push_str(" AND camera IN (");
                for (i, cam) in q.cameras.iter().enumerate() {
                    sql.push_str(if i == 0 { "?" } else { ", ?" });
                    args.push(Value::Text(cam.clone()));
                }
                sql.push(')');
            }
            if let Some(s) = q.since {
                sql.push_str(" AND first_seen >= ?");
                args.push(Value::Integer(s.millis()));
            }
            if let Some(u) = q.until {
                sql.push_str(" AND first_seen < ?");
                args.push(Value::Integer(u.millis()));
            }
            sql.push_str(" ORDER BY first_seen DESC, id DESC LIMIT ? OFFSET ?");
            args.push(Value::Integer(q.effective_limit() as i64));
            args.push(Value::Integer(q.offset.min(i64::MAX as usize) as i64));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), read_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Deletes plate reads first seen before `before`, and their evidence
    /// files when nothing else (an alert, a track, a sighting, a remaining
    /// read) uses them. Rows go in one writer transaction; files are deleted
    /// after the commit, so a crash leaves at worst an orphan file.
    pub fn purge_plate_reads(&self, before: Timestamp) -> Result<PlatePurge, StoreError> {
        let (rows, hashes) = self.exec("purge_plate_reads", move |c| {
            let mut st = c.prepare_cached(
                "SELECT plate_crop, vehicle_crop, frame FROM plate_reads WHERE first_seen < ?1",
            )?;
            let mut hashes: Vec<String> = Vec::new();
            let found = st.query_map([before.millis()], |r| {
                Ok([
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ])
            })?;
            for row in found {
                for h in row?.into_iter().flatten() {
                    if crate::is_valid_hash(&h) && !hashes.contains(&h) {
                        hashes.push(h);
                    }
                }
            }
            let rows = c
                .prepare_cached("DELETE FROM plate_reads WHERE first_seen < ?1")?
                .execute([before.millis()])? as u64;
            let mut orphans = Vec::new();
            for h in hashes {
                if !evidence_in_use(c, &h)? {
                    c.prepare_cached("DELETE FROM evidence WHERE hash = ?1")?
                        .execute([&h])?;
                    orphans.push(h);
                }
            }
            Ok((rows, orphans))
        })?;
        let mut files = 0;
        for h in &hashes {
            let p = evidence::path_for(&self.evidence_dir, h);
            match std::fs::remove_file(&p) {
                Ok(()) => files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&p, e)),
            }
        }
        Ok(PlatePurge { rows, files })
    }

    /// Creates the hotlist if it does not exist; returns it.
    pub fn ensure_hotlist(
        &self,
        name: &str,
        description: &str,
    ) -> Result<HotlistRecord, StoreError> {
        check_list_name(name)?;
        let now = self.clock.now().millis();
        let (n, d) = (name.to_owned(), description.to_owned());
        self.exec("ensure_hotlist", move |c| {
            let id = ensure_list(c, &n, now)?;
            if !d.is_empty() {
                c.prepare_cached("UPDATE hotlists SET description = ?2 WHERE id = ?1")?
                    .execute(params![id, d])?;
            }
            Ok(())
        })?;
        self.hotlists()?
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| StoreError::Commit(format!("hotlist {name:?} vanished")))
    }

    /// Every hotlist, by name.
    pub fn hotlists(&self) -> Result<Vec<HotlistRecord>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT h.id, h.name, h.description, h.created,
                        (SELECT count(*) FROM hotlist_entries e WHERE e.hotlist_id = h.id)
                 FROM hotlists h ORDER BY h.name",
            )?;
            let rows = st.query_map([], |r| {
                Ok(HotlistRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    description: r.get(2)?,
                    created: Timestamp::from_millis(r.get(3)?),
                    entries: r.get::<_, i64>(4)? as u64,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Adds entries to a list (created if missing), all or none: one bad
    /// entry refuses the whole batch, naming it by its index. Returns the
    /// new ids in order.
    pub fn add_hotlist_entries(
        &self,
        list: &str,
        entries: Vec<NewHotlistEntry>,
    ) -> Result<Vec<i64>, StoreError> {
        let norms = validate_entries(list, &entries)?;
        let now = self.clock.now().millis();
        let list = list.to_owned();
        self.exec("add_hotlist_entries", move |c| {
            let hid = ensure_list(c, &list, now)?;
            let mut st = c.prepare_cached(
                "INSERT INTO hotlist_entries (hotlist_id, plate, plate_norm, reason, priority,
                   expires, notes, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?;
            let mut ids = Vec::with_capacity(entries.len());
            for (e, norm) in entries.iter().zip(&norms) {
                st.execute(params![
                    hid,
                    e.plate.trim(),
                    norm,
                    e.reason,
                    e.priority,
                    e.expires.map(|t| t.millis()),
                    e.notes,
                    now
                ])?;
                ids.push(c.last_insert_rowid());
            }
            Ok(ids)
        })
    }

    /// Entries of one list (or all), by list, then plate.
    pub fn hotlist_entries(
        &self,
        list: Option<&str>,
    ) -> Result<Vec<HotlistEntryRecord>, StoreError> {
        self.readers.with(|c| {
            let base = format!(
                "SELECT {ENTRY_COLUMNS} FROM hotlist_entries e JOIN hotlists h ON h.id = e.hotlist_id"
            );
            let rows = match list {
                Some(l) => {
                    let mut st = c.prepare_cached(&format!(
                        "{base} WHERE h.name = ?1 ORDER BY h.name, e.plate_norm, e.id"
                    ))?;
                    let r = st.query_map([l], entry_from_row)?;
                    r.collect::<Result<Vec<_>, _>>()?
                }
                None => {
                    let mut st = c
                        .prepare_cached(&format!("{base} ORDER BY h.name, e.plate_norm, e.id"))?;
                    let r = st.query_map([], entry_from_row)?;
                    r.collect::<Result<Vec<_>, _>>()?
                }
            };
            Ok(rows)
        })
    }

    /// One entry by id.
    pub fn hotlist_entry(&self, id: i64) -> Result<Option<HotlistEntryRecord>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {ENTRY_COLUMNS} FROM hotlist_entries e JOIN hotlists h ON h.id = e.hotlist_id
                 WHERE e.id = ?1"
            ))?
            .query_row([id], entry_from_row)
            .optional()?)
        })
    }

    /// Removes one entry; `false` when there was none with that id.
    pub fn remove_hotlist_entry(&self, id: i64) -> Result<bool, StoreError> {
        self.exec("remove_hotlist_entry", move |c| {
            Ok(
                c.prepare_cached("DELETE FROM hotlist_entries WHERE id = ?1")?
                    .execute([id])?
                    > 0,
            )
        })
    }

    /// Bumped by triggers on every hotlist change (also by other processes):
    /// a pipeline reloads its entries when this differs from what it loaded.
    pub fn hotlist_generation(&self) -> Result<i64, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM change_counter WHERE name = 'hotlists'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }
}

/// Moves the hotlists of `from` (a serve node's SQLite store) into `to`,
/// the central database that keeps them from now on (`kuzet serve
/// --database`), so no wanted plate silently stops alerting: list by list,
/// the entries are added there (all of a list or none), then removed here.
/// An entry already there with the same plate, reason, priority, expiry and
/// notes (added before a crash between the two steps) is not added twice.
/// Returns the entries moved.
pub fn move_hotlists(from: &Store, to: &dyn crate::StoreBackend) -> Result<usize, StoreError> {
    let mut moved = 0;
    for list in from.hotlists()? {
        let entries = from.hotlist_entries(Some(&list.name))?;
        if entries.is_empty() {
            continue;
        }
        to.ensure_hotlist(&list.name, &list.description)?;
        let there = to.hotlist_entries(Some(&list.name))?;
        let same = |e: &HotlistEntryRecord, t: &HotlistEntryRecord| {
            (&e.plate_norm, &e.reason, e.priority, e.expires, &e.notes)
                == (&t.plate_norm, &t.reason, t.priority, t.expires, &t.notes)
        };
        let new: Vec<NewHotlistEntry> = entries
            .iter()
            .filter(|e| !there.iter().any(|t| same(e, t)))
            .map(|e| NewHotlistEntry {
                plate: e.plate.clone(),
                reason: e.reason.clone(),
                priority: e.priority,
                expires: e.expires,
                notes: e.notes.clone(),
            })
            .collect();
        if !new.is_empty() {
            to.add_hotlist_entries(&list.name, new)?;
        }
        for e in &entries {
            from.remove_hotlist_entry(e.id)?;
        }
        moved += entries.len();
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::{Event, SimulatedClock};
    use std::sync::Arc;

    fn read(camera: &str, plate: &str, ts: i64, crop: Option<String>) -> NewPlateRead {
        NewPlateRead {
            camera: camera.into(),
            run_id: None,
            track_id: Some(3),
            first_seen: Timestamp::from_millis(ts),
            last_seen: Timestamp::from_millis(ts + 500),
            plate: plate.into(),
            raw_text: plate.to_lowercase(),
            format: Some("us_generic".into()),
            country: Some("us".into()),
            confidence: 0.8,
            votes: 3,
            agreeing: 2,
            vehicle_type: Some("car".into()),
            colour: Some("white".into()),
            plate_crop: crop,
            vehicle_crop: None,
            frame: None,
            hotlist_hits: 0,
        }
    }

    fn plates(v: &[PlateReadRecord]) -> Vec<&str> {
        v.iter().map(|r| r.read.plate.as_str()).collect()
    }

    #[test]
    fn like_patterns_follow_plate_pattern_rules() {
        assert_eq!(plate_like("12?-ab*").unwrap(), "12_AB%");
        assert_eq!(plate_like("**A").unwrap(), "%A");
        assert!(plate_like("A%").is_err(), "a raw LIKE wildcard is refused");
        assert!(plate_like("A_B").is_err());
        assert!(plate_like(" - ").is_err());
    }

    #[test]
    fn search_by_wildcard_camera_and_time_newest_first_paged() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        for (cam, p, ts) in [
            ("a", "ABC123", 1_000),
            ("a", "ABD123", 2_000),
            ("b", "ABC123", 3_000),
            ("a", "XYZ999", 4_000),
            ("a", "ABC1234", 5_000),
        ] {
            s.insert_plate_read(read(cam, p, ts, None)).unwrap();
        }
        let q = |pattern: &str| PlateReadQuery {
            pattern: Some(pattern.into()),
            ..Default::default()
        };
        assert_eq!(
            plates(&s.plate_reads(&q("AB?123")).unwrap()),
            vec!["ABC123", "ABD123", "ABC123"]
        );
        assert_eq!(
            plates(&s.plate_reads(&q("abc*")).unwrap()),
            vec!["ABC1234", "ABC123", "ABC123"]
        );
        assert_eq!(plates(&s.plate_reads(&q("*99*")).unwrap()), vec!["XYZ999"]);
        assert!(s.plate_reads(&q("AB")).unwrap().is_empty(), "whole plate");
        let mut f = q("AB*");
        f.cameras = vec!["a".into()];
        f.since = Some(Timestamp::from_millis(2_000));
        f.until = Some(Timestamp::from_millis(5_000));
        assert_eq!(plates(&s.plate_reads(&f).unwrap()), vec!["ABD123"]);
        let page = |offset| PlateReadQuery {
            limit: 2,
            offset,
            ..Default::default()
        };
        let p0 = s.plate_reads(&page(0)).unwrap();
        let p1 = s.plate_reads(&page(2)).unwrap();
        let p2 = s.plate_reads(&page(4)).unwrap();
        assert_eq!(plates(&p0), vec!["ABC1234", "XYZ999"]);
        assert_eq!(plates(&p1), vec!["ABC123", "ABD123"]);
        assert_eq!(plates(&p2), vec!["ABC123"]);
        assert_eq!(p2[0].read.camera, "a");
        assert!(s.plate_reads(&q("A%")).is_err());
        let mut bad = read("a", "abc-1", 1, None);
        assert!(s.insert_plate_read(bad.clone()).is_err(), "not normalised");
        bad.plate = "ABC1".into();
        bad.confidence = f32::NAN;
        assert!(s.insert_plate_read(bad).is_err());
        // a Chinese plate keeps its province: found by it, and not by another
        s.insert_plate_read(read("c", "鲁Q1V825", 6_000, None))
            .unwrap();
        assert_eq!(
            plates(&s.plate_reads(&q("鲁Q*")).unwrap()),
            vec!["鲁Q1V825"]
        );
        assert_eq!(
            plates(&s.plate_reads(&q("?Q1V825")).unwrap()),
            vec!["鲁Q1V825"]
        );
        assert!(s.plate_reads(&q("苏Q*")).unwrap().is_empty());
    }

    #[test]
    fn purge_deletes_old_reads_and_unused_crops() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let crop_a = s
            .save_evidence_jpeg(&[100u8; 8 * 8 * 3], 8, 8, None, 90)
            .unwrap();
        let crop_b = s
            .save_evidence_jpeg(&[20u8; 8 * 8 * 3], 8, 8, None, 90)
            .unwrap();
        let crop_c = s
            .save_evidence_jpeg(&[60u8; 8 * 8 * 3], 8, 8, None, 90)
            .unwrap();
        s.insert_plate_read(read("a", "OLD1", 1_000, Some(crop_a.clone())))
            .unwrap();
        s.insert_plate_read(read("a", "OLD2", 2_000, Some(crop_b.clone())))
            .unwrap();
        s.insert_plate_read(read("a", "NEW1", 9_000, Some(crop_c.clone())))
            .unwrap();
        // crop_b is also a hotlist alert's evidence: the file must stay.
        let mut e = Event::new("a", "hotlist_match", Timestamp::from_millis(2_000));
        e.details = serde_json::json!({ "plate_crop": crop_b });
        s.insert_events(vec![e]).unwrap();
        let p = s.purge_plate_reads(Timestamp::from_millis(5_000)).unwrap();
        assert_eq!(p, PlatePurge { rows: 2, files: 1 });
        assert!(s.evidence_path(&crop_a).is_none());
        assert!(s.evidence_path(&crop_b).is_some());
        assert!(s.evidence_path(&crop_c).is_some());
        assert_eq!(
            plates(&s.plate_reads(&PlateReadQuery::default()).unwrap()),
            vec!["NEW1"]
        );
    }

    #[test]
    fn hotlists_add_list_remove_and_generation() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(10_000)));
        let s = Store::open_with_clock(dir.path(), clock).unwrap();
        let g0 = s.hotlist_generation().unwrap();
        let ids = s
            .add_hotlist_entries(
                "stolen",
                vec![
                    NewHotlistEntry {
                        plate: "abc-123".into(),
                        reason: "stolen 2026-11-01".into(),
                        priority: 5,
                        ..Default::default()
                    },
                    NewHotlistEntry {
                        plate: "XYZ 9".into(),
                        expires: Some(Timestamp::from_millis(20_000)),
                        ..Default::default()
                    },
                ],
            )
            .unwrap();
        assert_eq!(ids.len(), 2);
        let g1 = s.hotlist_generation().unwrap();
        assert!(g1 > g0);
        let bad = s.add_hotlist_entries(
            "stolen",
            vec![
                NewHotlistEntry {
                    plate: "OK1".into(),
                    ..Default::default()
                },
                NewHotlistEntry {
                    plate: "--".into(),
                    ..Default::default()
                },
            ],
        );
        let msg = bad.unwrap_err().to_string();
        assert!(msg.contains("entry 2"), "{msg}");
        assert!(s.add_hotlist_entries("bad name", vec![]).is_err());
        let all = s.hotlist_entries(None).unwrap();
        assert_eq!(all.len(), 2, "the refused batch added nothing");
        assert_eq!(all[0].plate_norm, "ABC123");
        assert_eq!(all[0].list, "stolen");
        assert!(all[1].is_active(Timestamp::from_millis(19_999)));
        assert!(!all[1].is_active(Timestamp::from_millis(20_000)));
        let lists = s.hotlists().unwrap();
        assert_eq!(lists.len(), 1);
        assert_eq!(lists[0].entries, 2);
        s.ensure_hotlist("wanted", "wanted by police").unwrap();
        assert_eq!(s.hotlists().unwrap().len(), 2);
        assert!(s.hotlist_entries(Some("wanted")).unwrap().is_empty());
        assert!(s.remove_hotlist_entry(ids[0]).unwrap());
        assert!(!s.remove_hotlist_entry(ids[0]).unwrap());
        assert!(s.hotlist_entry(ids[0]).unwrap().is_none());
        assert_eq!(s.hotlist_entry(ids[1]).unwrap().unwrap().plate, "XYZ 9");
        assert!(s.hotlist_generation().unwrap() > g1);
    }
}
