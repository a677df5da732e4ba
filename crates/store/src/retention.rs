//! Retention per data class, and the evidence lock (migration 11).
//!
//! Personal data must not outlive its purpose, so every class the store keeps
//! has its own retention ([`RetentionPolicy`]) and one pass
//! ([`Store::retention_pass`]) deletes what is past it:
//!
//! * **events**: events older than the cutoff with their review state and
//!   history, and tracks last seen before it;
//! * **face sightings**: unmatched ones after a short time, matched ones
//!   after a longer one (the caller drops the returned ids from the search
//!   index);
//! * **plate reads**;
//! * **evidence**: JPEG files and event clips (the store keeps frames,
//!   crops and seconds-long clips, never continuous video, so evidence is
//!   the "video" class) created before the cutoff,
//!   whatever still refers to them; references in rows that stay are
//!   cleared, so no row points at a deleted file.
//!
//! Evidence a deleted row referred to is deleted with it when nothing else
//! refers to it (several rows may share one content-addressed file).
//!
//! A locked event ([`Store::lock_event`]) is case material: the pass skips
//! it, its track, the sightings and plate read its details name, and every
//! evidence file any of them refers to.
//!
//! Rows and the audit entries (one per class that lost anything, with
//! counts) commit in one transaction; files are removed after the commit,
//! so a crash leaves at worst an orphan file, never a row pointing at a
//! missing file or a deletion without its audit entry.

use crate::audit::insert_audit;
use crate::sightings::evidence_in_use;
use crate::{evidence, is_valid_hash, NewAuditEntry, Store, StoreError};
use base::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

/// Audit action of a retention deletion.
pub const AUDIT_ACTION: &str = "retention.purge";
/// Audit actor of the retention job.
pub const AUDIT_ACTOR: &str = "system:retention";

/// How long each data class is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub events: Duration,
    pub evidence: Duration,
    pub face_unmatched: Duration,
    pub face_matched: Duration,
    pub plate_reads: Duration,
}

/// A shorter retention for some cameras: their owner's data-sharing
/// agreement (`[owner.agreement] retention_days`) caps how long anything of
/// theirs is kept. Applies to events, tracks, face sightings (matched or
/// not) and plate reads of those cameras; their evidence files go with them
/// when nothing else refers to them. Only ever shortens the class policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionCap {
    /// Why, for the audit entry (e.g. the agreement's reference).
    pub reason: String,
    pub cameras: Vec<String>,
    pub keep: Duration,
}

/// The data classes, in the order a pass handles them.
pub const CLASSES: [&str; 4] = ["events", "face_sightings", "plate_reads", "evidence"];

/// What one pass deleted (or, dry, would delete) of one class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassPurge {
    pub class: String,
    /// Items older than this were due (for face sightings: the cutoff of
    /// unmatched ones; matched ones use `cutoff_matched`).
    pub cutoff: Timestamp,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cutoff_matched: Option<Timestamp>,
    /// Rows of the class deleted (events, sightings, reads, evidence rows).
    pub rows: u64,
    /// Rows of other tables deleted with them (reviews, review actions and
    /// tracks for events).
    pub related_rows: u64,
    /// Evidence files this class released and that were deleted.
    pub files: u64,
    /// Bytes of those files.
    pub bytes: u64,
    /// Due items kept because a lock protects them.
    pub locked_kept: u64,
    /// Evidence class only: references cleared in rows that stay.
    pub references_cleared: u64,
    /// Of `rows`, those deleted only because an owner's agreement caps the
    /// retention of their camera ([`RetentionCap`]).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub by_agreement: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Rows of one class that the agreement caps make due beyond those its own
/// retention selected (`have`, updated): `select` (ending in its FROM) with
/// `time_col` before each cap's cutoff, on the cap's cameras.
#[allow(clippy::too_many_arguments)]
fn capped<T, K: Eq + std::hash::Hash>(
    c: &Connection,
    select: &str,
    time_col: &str,
    caps: &[RetentionCap],
    now: Timestamp,
    have: &mut HashSet<K>,
    key: impl Fn(&T) -> K,
    map: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    let mut out = Vec::new();
    for cap in caps {
        let sql = format!(
            "{select} WHERE {time_col} < ?1 AND camera IN (SELECT value FROM json_each(?2))"
        );
        let cams = serde_json::to_string(&cap.cameras)?;
        let rows: Vec<T> = c
            .prepare_cached(&sql)?
            .query_map(params![ago(now, cap.keep).millis(), cams], &map)?
            .collect::<Result<_, _>>()?;
        out.extend(rows.into_iter().filter(|r| have.insert(key(r))));
    }
    Ok(out)
}

/// The result of a pass.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionReport {
    pub now: Timestamp,
    pub dry_run: bool,
    pub classes: Vec<ClassPurge>,
    /// Deleted face sightings: drop them from the sighting index.
    pub sighting_ids: Vec<i64>,
    /// Sequence numbers of the audit entries written (none when dry or
    /// nothing was deleted).
    pub audit_seqs: Vec<i64>,
}

impl RetentionReport {
    pub fn class(&self, name: &str) -> Option<&ClassPurge> {
        self.classes.iter().find(|c| c.class == name)
    }
}

/// A lock on an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventLock {
    pub event_id: i64,
    /// The case the event belongs to (case number, file reference).
    pub case_ref: String,
    pub reason: String,
    pub locked_by: String,
    pub locked: Timestamp,
}

fn lock_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EventLock> {
    Ok(EventLock {
        event_id: r.get(0)?,
        case_ref: r.get(1)?,
        reason: r.get(2)?,
        locked_by: r.get(3)?,
        locked: Timestamp::from_millis(r.get(4)?),
    })
}

/// Longest case reference / reason accepted.
pub const MAX_LOCK_TEXT: usize = 1000;

impl EventLock {
    /// Trims and checks a lock's case reference and reason (both required,
    /// at most [`MAX_LOCK_TEXT`] bytes), for every backend alike.
    pub fn check_text(case_ref: &str, reason: &str) -> Result<(String, String), StoreError> {
        let (case_ref, reason) = (case_ref.trim().to_owned(), reason.trim().to_owned());
        for (name, v) in [("case_ref", &case_ref), ("reason", &reason)] {
            if v.is_empty() {
                return Err(StoreError::Invalid(format!(
                    "`{name}` is empty: a lock needs the case reference and the reason"
                )));
            }
            if v.len() > MAX_LOCK_TEXT {
                return Err(StoreError::Invalid(format!(
                    "`{name}` is longer than {MAX_LOCK_TEXT} bytes"
                )));
            }
        }
        Ok((case_ref, reason))
    }

    /// The refusal to lock an event that has no row.
    pub fn no_event(event_id: i64) -> StoreError {
        StoreError::Invalid(format!("no event with id {event_id}"))
    }

    /// The refusal to lock an event this lock already holds: a case
    /// reference is never silently replaced.
    pub fn already_locked(&self) -> StoreError {
        StoreError::Refused(format!(
            "event {} is already locked for case {:?} by {}; unlock it first to change the case",
            self.event_id, self.case_ref, self.locked_by
        ))
    }
}

/// `now - d`, saturating: the cutoff of a retention of `d`.
pub fn ago(now: Timestamp, d: Duration) -> Timestamp {
    Timestamp::from_millis(
        now.millis()
            .saturating_sub(d.as_millis().min(i64::MAX as u128) as i64),
    )
}

/// Every evidence hash in a details JSON (crops, frames, owners...).
fn details_hashes(details: Option<&str>, out: &mut Vec<String>) {
    fn walk(v: &serde_json::Value, out: &mut Vec<String>) {
        match v {
            serde_json::Value::String(s) if is_valid_hash(s) => out.push(s.clone()),
            serde_json::Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            serde_json::Value::Object(o) => o.values().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    if let Some(v) = details.and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok()) {
        walk(&v, out);
    }
}

/// What the locks protect.
#[derive(Default)]
struct Protected {
    events: HashSet<i64>,
    tracks: HashSet<(i64, String, i64)>,
    sightings: HashSet<i64>,
    reads: HashSet<i64>,
    hashes: HashSet<String>,
}

fn protected(c: &Connection) -> Result<Protected, StoreError> {
    let mut p = Protected::default();
    let mut st = c.prepare_cached(
        "SELECT e.id, e.camera, e.run_id, e.track_id, e.evidence, e.details_json
         FROM event_lock l JOIN event e ON e.id = l.event_id",
    )?;
    let rows = st.query_map([], |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<i64>>(2)?,
            r.get::<_, Option<i64>>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
        ))
    })?;
    let mut hashes = Vec::new();
    for row in rows {
        let (id, camera, run, track, ev, details) = row?;
        p.events.insert(id);
        if let (Some(run), Some(track)) = (run, track) {
            p.tracks.insert((run, camera, track));
        }
        hashes.extend(ev);
        details_hashes(details.as_deref(), &mut hashes);
        if let Some(v) = details
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        {
            if let Some(id) = v.get("plate_read_id").and_then(|x| x.as_i64()) {
                p.reads.insert(id);
            }
            if let Some(a) = v.get("sightings").and_then(|x| x.as_array()) {
                p.sightings.extend(a.iter().filter_map(|x| x.as_i64()));
            }
        }
    }
    for (run, camera, track) in &p.tracks {
        let crop: Option<Option<String>> = c
            .prepare_cached(
                "SELECT best_crop FROM track WHERE run_id = ?1 AND camera = ?2 AND track_id = ?3",
            )?
            .query_row(params![run, camera, track], |r| r.get(0))
            .optional()?;
        hashes.extend(crop.flatten());
    }
    for id in &p.sightings {
        let crop: Option<Option<String>> = c
            .prepare_cached("SELECT crop FROM face_sighting WHERE id = ?1")?
            .query_row([id], |r| r.get(0))
            .optional()?;
        hashes.extend(crop.flatten());
    }
    for id in &p.reads {
        let row: Option<[Option<String>; 3]> = c
            .prepare_cached(
                "SELECT plate_crop, vehicle_crop, frame FROM plate_reads WHERE id = ?1",
            )?
            .query_row([id], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))
            .optional()?;
        hashes.extend(row.into_iter().flatten().flatten());
    }
    p.hashes = hashes.into_iter().filter(|h| is_valid_hash(h)).collect();
    Ok(p)
}

/// Deletes the evidence rows of `candidates` nothing refers to any more (and
/// no lock protects); returns (hash, bytes) of each, for the file deletion.
fn release_orphans(
    c: &Connection,
    candidates: BTreeSet<String>,
    keep: &HashSet<String>,
) -> Result<Vec<(String, u64)>, StoreError> {
    let mut out = Vec::new();
    for h in candidates {
        if keep.contains(&h) || !is_valid_hash(&h) || evidence_in_use(c, &h)? {
            continue;
        }
        let bytes: Option<i64> = c
            .prepare_cached("DELETE FROM evidence WHERE hash = ?1 RETURNING bytes")?
            .query_row([&h], |r| r.get(0))
            .optional()?;
        out.push((h, bytes.unwrap_or(0).max(0) as u64));
    }
    Ok(out)
}

/// Evidence files a class released: (hash, bytes), deleted after the commit.
type Released = Vec<(String, u64)>;

/// One pass on the writer's connection. Returns the report and, per class,
/// the files to delete after the commit.
fn pass(
    c: &Connection,
    policy: &RetentionPolicy,
    caps: &[RetentionCap],
    now: Timestamp,
) -> Result<(RetentionReport, Vec<Released>), StoreError> {
    let keep = protected(c)?;
    let mut report = RetentionReport {
        now,
        ..Default::default()
    };
    let mut files = Vec::new();

    // Events (with their reviews) and tracks.
    {
        let cutoff = ago(now, policy.events);
        let mut cp = ClassPurge {
            class: "events".into(),
            cutoff,
            ..Default::default()
        };
        let mut released = BTreeSet::new();
        let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?));
        let mut due: Vec<(i64, Option<String>, Option<String>)> = c
            .prepare_cached("SELECT id, evidence, details_json FROM event WHERE ts < ?1")?
            .query_map([cutoff.millis()], row)?
            .collect::<Result<_, _>>()?;
        let own = due.len();
        let mut have: HashSet<i64> = due.iter().map(|d| d.0).collect();
        let select = "SELECT id, evidence, details_json FROM event";
        due.extend(capped(c, select, "ts", caps, now, &mut have, |d| d.0, row)?);
        for (i, (id, ev, details)) in due.into_iter().enumerate() {
            if keep.events.contains(&id) {
                cp.locked_kept += 1;
                continue;
            }
            cp.by_agreement += u64::from(i >= own);
            cp.related_rows += c
                .prepare_cached("DELETE FROM event_review_action WHERE event_id = ?1")?
                .execute([id])? as u64;
            cp.related_rows += c
                .prepare_cached("DELETE FROM event_review WHERE event_id = ?1")?
                .execute([id])? as u64;
            cp.rows += c
                .prepare_cached("DELETE FROM event WHERE id = ?1")?
                .execute([id])? as u64;
            let mut hs: Vec<String> = ev.into_iter().collect();
            details_hashes(details.as_deref(), &mut hs);
            released.extend(hs);
        }
        let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?));
        let mut tracks: Vec<(i64, String, i64, Option<String>)> = c
            .prepare_cached(
                "SELECT run_id, camera, track_id, best_crop FROM track WHERE last_seen < ?1",
            )?
            .query_map([cutoff.millis()], row)?
            .collect::<Result<_, _>>()?;
        let key = |t: &(i64, String, i64, Option<String>)| (t.0, t.1.clone(), t.2);
        let mut have: HashSet<_> = tracks.iter().map(key).collect();
        let select = "SELECT run_id, camera, track_id, best_crop FROM track";
        tracks.extend(capped(
            c,
            select,
            "last_seen",
            caps,
            now,
            &mut have,
            key,
            row,
        )?);
        for (run, camera, track, crop) in tracks {
            if keep.tracks.contains(&(run, camera.clone(), track)) {
                cp.locked_kept += 1;
                continue;
            }
            cp.related_rows += c
                .prepare_cached(
                    "DELETE FROM track WHERE run_id = ?1 AND camera = ?2 AND track_id = ?3",
                )?
                .execute(params![run, camera, track])? as u64;
            released.extend(crop);
        }
        let f = release_orphans(c, released, &keep.hashes)?;
        cp.files = f.len() as u64;
        cp.bytes = f.iter().map(|x| x.1).sum();
        files.push(f);
        report.classes.push(cp);
    }

    // Face sightings: unmatched after a short time, matched after a long one.
    {
        let cutoff = ago(now, policy.face_unmatched);
        let cutoff_matched = ago(now, policy.face_matched);
        let mut cp = ClassPurge {
            class: "face_sightings".into(),
            cutoff,
            cutoff_matched: Some(cutoff_matched),
            ..Default::default()
        };
        let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, r.get(1)?));
        let mut due: Vec<(i64, Option<String>)> = c
            .prepare_cached(
                "SELECT id, crop FROM face_sighting
                 WHERE (matched_person IS NULL AND ts < ?1) OR ts < ?2",
            )?
            .query_map(params![cutoff.millis(), cutoff_matched.millis()], row)?
            .collect::<Result<_, _>>()?;
        let own = due.len();
        let mut have: HashSet<i64> = due.iter().map(|d| d.0).collect();
        let select = "SELECT id, crop FROM face_sighting";
        due.extend(capped(c, select, "ts", caps, now, &mut have, |d| d.0, row)?);
        let mut released = BTreeSet::new();
        for (i, (id, crop)) in due.into_iter().enumerate() {
            if keep.sightings.contains(&id) {
                cp.locked_kept += 1;
                continue;
            }
            cp.by_agreement += u64::from(i >= own);
            cp.rows += c
                .prepare_cached("DELETE FROM face_sighting WHERE id = ?1")?
                .execute([id])? as u64;
            report.sighting_ids.push(id);
            released.extend(crop);
        }
        let f = release_orphans(c, released, &keep.hashes)?;
        cp.files = f.len() as u64;
        cp.bytes = f.iter().map(|x| x.1).sum();
        files.push(f);
        report.classes.push(cp);
    }

    // Plate reads.
    {
        let cutoff = ago(now, policy.plate_reads);
        let mut cp = ClassPurge {
            class: "plate_reads".into(),
            cutoff,
            ..Default::default()
        };
        let row = |r: &rusqlite::Row<'_>| Ok((r.get(0)?, [r.get(1)?, r.get(2)?, r.get(3)?]));
        let select = "SELECT id, plate_crop, vehicle_crop, frame FROM plate_reads";
        let mut due: Vec<(i64, [Option<String>; 3])> = c
            .prepare_cached(&format!("{select} WHERE first_seen < ?1"))?
            .query_map([cutoff.millis()], row)?
            .collect::<Result<_, _>>()?;
        let own = due.len();
        let mut have: HashSet<i64> = due.iter().map(|d| d.0).collect();
        due.extend(capped(
            c,
            select,
            "first_seen",
            caps,
            now,
            &mut have,
            |d| d.0,
            row,
        )?);
        let mut released = BTreeSet::new();
        for (i, (id, hs)) in due.into_iter().enumerate() {
            if keep.reads.contains(&id) {
                cp.locked_kept += 1;
                continue;
            }
            cp.by_agreement += u64::from(i >= own);
            cp.rows += c
                .prepare_cached("DELETE FROM plate_reads WHERE id = ?1")?
                .execute([id])? as u64;
            released.extend(hs.into_iter().flatten());
        }
        let f = release_orphans(c, released, &keep.hashes)?;
        cp.files = f.len() as u64;
        cp.bytes = f.iter().map(|x| x.1).sum();
        files.push(f);
        report.classes.push(cp);
    }

    // Evidence files past their own retention, referenced or not.
    {
        let cutoff = ago(now, policy.evidence);
        let mut cp = ClassPurge {
            class: "evidence".into(),
            cutoff,
            ..Default::default()
        };
        let due: Vec<(String, i64)> = c
            .prepare_cached("SELECT hash, bytes FROM evidence WHERE created < ?1")?
            .query_map([cutoff.millis()], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<Result<_, _>>()?;
        let mut f = Vec::new();
        for (h, bytes) in due {
            if keep.hashes.contains(&h) {
                cp.locked_kept += 1;
                continue;
            }
            for sql in [
                "UPDATE event SET evidence = NULL WHERE evidence = ?1",
                "UPDATE track SET best_crop = NULL WHERE best_crop = ?1",
                "UPDATE face_sighting SET crop = NULL WHERE crop = ?1",
                "UPDATE plate_reads SET plate_crop = NULL WHERE plate_crop = ?1",
                "UPDATE plate_reads SET vehicle_crop = NULL WHERE vehicle_crop = ?1",
                "UPDATE plate_reads SET frame = NULL WHERE frame = ?1",
            ] {
                cp.references_cleared += c.prepare_cached(sql)?.execute([&h])? as u64;
            }
            cp.rows += c
                .prepare_cached("DELETE FROM evidence WHERE hash = ?1")?
                .execute([&h])? as u64;
            if is_valid_hash(&h) {
                f.push((h, bytes.max(0) as u64));
            }
        }
        cp.files = f.len() as u64;
        cp.bytes = f.iter().map(|x| x.1).sum();
        files.push(f);
        report.classes.push(cp);
    }
    Ok((report, files))
}

/// The audit entries of a pass: one per class that lost anything, with the
/// class's counts as details and, in the reason, the retention that made
/// it due (and the agreements that shortened it). Both backends write
/// exactly these, in the transaction of the deletion.
pub fn audit_entries(
    report: &RetentionReport,
    policy: &RetentionPolicy,
    caps: &[RetentionCap],
) -> Result<Vec<NewAuditEntry>, StoreError> {
    let mut out = Vec::new();
    for cp in &report.classes {
        if cp.rows == 0 && cp.files == 0 && cp.related_rows == 0 {
            continue;
        }
        let keep = match cp.class.as_str() {
            "events" => policy.events,
            "face_sightings" => policy.face_unmatched,
            "plate_reads" => policy.plate_reads,
            _ => policy.evidence,
        };
        let mut reason = format!("retention: older than {}", human(keep));
        if cp.class == "face_sightings" {
            reason.push_str(&format!(
                " (unmatched), {} (matched)",
                human(policy.face_matched)
            ));
        }
        if cp.by_agreement > 0 {
            let why: Vec<String> = caps
                .iter()
                .map(|k| format!("{} ({})", k.reason, human(k.keep)))
                .collect();
            reason.push_str(&format!(
                "; {} by data-sharing agreement: {}",
                cp.by_agreement,
                why.join(", ")
            ));
        }
        out.push(NewAuditEntry {
            actor: Some(AUDIT_ACTOR.into()),
            remote: None,
            action: AUDIT_ACTION.into(),
            target: Some(cp.class.clone()),
            reason: Some(reason),
            outcome: "ok".into(),
            details: serde_json::to_value(cp)?,
        });
    }
    Ok(out)
}

fn human(d: Duration) -> String {
    let s = d.as_secs();
    if s.is_multiple_of(86_400) {
        format!("{} days", s / 86_400)
    } else if s.is_multiple_of(3600) {
        format!("{} hours", s / 3600)
    } else {
        format!("{s} s")
    }
}

impl Store {
    /// Deletes everything past its class's retention at `now` (see the
    /// module docs), appending one audit entry per class that lost anything.
    /// `dry_run` computes exactly the same report inside a savepoint that is
    /// rolled back: nothing is deleted and nothing audited.
    pub fn retention_pass(
        &self,
        policy: RetentionPolicy,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<RetentionReport, StoreError> {
        self.retention_pass_capped(policy, Vec::new(), now, dry_run)
    }

    /// [`Store::retention_pass`] with owners' agreement caps on some cameras.
    pub fn retention_pass_capped(
        &self,
        policy: RetentionPolicy,
        caps: Vec<RetentionCap>,
        now: Timestamp,
        dry_run: bool,
    ) -> Result<RetentionReport, StoreError> {
        let audit_ts = self.clock.now().millis();
        let (report, files) = self.exec("retention_pass", move |c| {
            c.execute_batch("SAVEPOINT retention_pass")?;
            let r = pass(c, &policy, &caps, now);
            let (mut report, files) = match r {
                Ok(v) if !dry_run => v,
                other => {
                    c.execute_batch("ROLLBACK TO retention_pass; RELEASE retention_pass")?;
                    let (mut report, _) = other?;
                    report.dry_run = true;
                    return Ok((report, Vec::new()));
                }
            };
            for entry in audit_entries(&report, &policy, &caps)? {
                let e = insert_audit(c, audit_ts, entry)?;
                report.audit_seqs.push(e.seq);
            }
            c.execute_batch("RELEASE retention_pass")?;
            Ok((report, files))
        })?;
        // After the commit: a crash before this leaves orphan files only.
        for (h, _) in files.iter().flatten() {
            let p = evidence::path_for(&self.evidence_dir, h);
            match std::fs::remove_file(&p) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "could not delete an expired evidence file")
                }
            }
        }
        Ok(report)
    }

    /// Locks an event for a case: retention keeps it and what it refers to
    /// until it is unlocked. Refused if it is already locked (unlock first,
    /// so a case reference is never silently replaced).
    pub fn lock_event(
        &self,
        event_id: i64,
        case_ref: &str,
        reason: &str,
        actor: &str,
    ) -> Result<EventLock, StoreError> {
        let (case_ref, reason) = EventLock::check_text(case_ref, reason)?;
        let lock = EventLock {
            event_id,
            case_ref,
            reason,
            locked_by: actor.to_owned(),
            locked: self.clock.now(),
        };
        self.exec("lock_event", move |c| {
            let exists: bool = c
                .prepare_cached("SELECT EXISTS (SELECT 1 FROM event WHERE id = ?1)")?
                .query_row([event_id], |r| r.get(0))?;
            if !exists {
                return Err(EventLock::no_event(event_id));
            }
            if let Some(old) = lock_of(c, event_id)? {
                return Err(old.already_locked());
            }
            c.prepare_cached(
                "INSERT INTO event_lock (event_id, case_ref, reason, locked_by, locked)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                lock.event_id,
                lock.case_ref,
                lock.reason,
                lock.locked_by,
                lock.locked.millis()
            ])?;
            Ok(lock)
        })
    }

    /// Removes an event's lock; returns it, or `None` if it was not locked.
    pub fn unlock_event(&self, event_id: i64) -> Result<Option<EventLock>, StoreError> {
        self.exec("unlock_event", move |c| {
            let old = lock_of(c, event_id)?;
            c.prepare_cached("DELETE FROM event_lock WHERE event_id = ?1")?
                .execute([event_id])?;
            Ok(old)
        })
    }

    /// The lock of an event, if any.
    pub fn event_lock(&self, event_id: i64) -> Result<Option<EventLock>, StoreError> {
        self.readers.with(|c| lock_of(c, event_id))
    }

    /// The locks of some events (those locked), by event id.
    pub fn event_locks(&self, ids: &[i64]) -> Result<HashMap<i64, EventLock>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = ids.to_vec();
        self.readers.with(move |c| {
            let mut out = HashMap::new();
            for id in &ids {
                if let Some(l) = lock_of(c, *id)? {
                    out.insert(*id, l);
                }
            }
            Ok(out)
        })
    }

    /// Every lock, newest first.
    pub fn all_event_locks(&self) -> Result<Vec<EventLock>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT event_id, case_ref, reason, locked_by, locked FROM event_lock
                 ORDER BY locked DESC, event_id DESC",
            )?;
            let rows = st.query_map([], lock_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }
}

/// Called with the ids of deleted face sightings (to update the index).
pub type SightingsDeleted = Box<dyn Fn(&[i64]) + Send + Sync>;

/// The background retention job of `kuzet serve`: a pass at start (a
/// restart after a long stop catches up) and then every `interval`, timed
/// on the store's clock so tests can drive it with a simulated one.
pub struct RetentionJob {
    store: std::sync::Arc<Store>,
    policy: RetentionPolicy,
    caps: Vec<RetentionCap>,
    interval: Duration,
    on_sightings_deleted: Option<SightingsDeleted>,
    pass: Option<RetentionPass>,
    next_due: Option<Timestamp>,
}

/// A retention pass over data kept elsewhere than `store` (PostgreSQL):
/// policy, caps (configured and changed at run time) and the time.
pub type RetentionPass = Box<
    dyn FnMut(RetentionPolicy, Vec<RetentionCap>, Timestamp) -> Result<RetentionReport, StoreError>
        + Send,
>;

impl RetentionJob {
    pub fn new(store: std::sync::Arc<Store>, policy: RetentionPolicy, interval: Duration) -> Self {
        RetentionJob {
            store,
            policy,
            caps: Vec::new(),
            interval,
            on_sightings_deleted: None,
            pass: None,
            next_due: None,
        }
    }

    /// Runs `pass` instead of this store's own pass: the same schedule,
    /// clock, agreement caps and logging for data another backend keeps.
    pub fn with_pass(mut self, pass: RetentionPass) -> Self {
        self.pass = Some(pass);
        self
    }

    /// Owners' agreement caps on some cameras (see [`RetentionCap`]).
    pub fn with_caps(mut self, caps: Vec<RetentionCap>) -> Self {
        self.caps = caps;
        self
    }

    /// Also tell `f` which face sightings were deleted.
    pub fn on_sightings_deleted(mut self, f: SightingsDeleted) -> Self {
        self.on_sightings_deleted = Some(f);
        self
    }

    /// Runs a pass if one is due; returns its report. A failed pass is
    /// retried at the next interval (it deleted nothing: one transaction).
    pub fn tick(&mut self) -> Option<Result<RetentionReport, StoreError>> {
        let now = self.store.clock().now();
        if self.next_due.is_some_and(|due| now < due) {
            return None;
        }
        self.next_due = Some(now.plus(self.interval));
        // Caps of agreements changed at run time join the configured ones
        // at every pass (the shorter cap wins where both apply).
        let mut caps = self.caps.clone();
        caps.extend(self.store.agreement_retention_caps());
        let r = match &mut self.pass {
            Some(pass) => pass(self.policy, caps, now),
            None => self
                .store
                .retention_pass_capped(self.policy, caps, now, false),
        };
        let backend = if self.pass.is_some() {
            "other"
        } else {
            "store"
        };
        match &r {
            Ok(report) => {
                if let Some(f) = &self.on_sightings_deleted {
                    f(&report.sighting_ids);
                }
                for c in report.classes.iter().filter(|c| c.rows + c.files > 0) {
                    tracing::info!(
                        backend,
                        class = c.class,
                        rows = c.rows,
                        related_rows = c.related_rows,
                        files = c.files,
                        bytes = c.bytes,
                        locked_kept = c.locked_kept,
                        by_agreement = c.by_agreement,
                        "retention purge"
                    );
                }
            }
            Err(e) => {
                tracing::warn!(backend, error = %e, "retention pass failed; retrying at the next interval")
            }
        }
        Some(r)
    }

    /// Ticks until `shutdown`, sleeping on the store's clock in between.
    pub fn run(mut self, shutdown: &base::Shutdown) {
        let step = Duration::from_millis(250).min(self.interval);
        while !shutdown.is_triggered() {
            let _ = self.tick();
            self.store.clock().sleep(step);
        }
    }
}

fn lock_of(c: &Connection, event_id: i64) -> Result<Option<EventLock>, StoreError> {
    Ok(c.prepare_cached(
        "SELECT event_id, case_ref, reason, locked_by, locked FROM event_lock
             WHERE event_id = ?1",
    )?
    .query_row([event_id], lock_from_row)
    .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{NewPlateRead, NewSighting, TrackRecord};
    use base::{BBox, Clock, Event, SimulatedClock};
    use std::sync::Arc;

    const T0: i64 = 1_700_000_000_000;
    const H: i64 = 3_600_000;
    const D: i64 = 24 * H;

    fn policy(evidence_days: u64) -> RetentionPolicy {
        RetentionPolicy {
            events: Duration::from_secs(10 * 86_400),
            evidence: Duration::from_secs(evidence_days * 86_400),
            face_unmatched: Duration::from_secs(72 * 3600),
            face_matched: Duration::from_secs(20 * 86_400),
            plate_reads: Duration::from_secs(7 * 86_400),
        }
    }

    fn open() -> (tempfile::TempDir, Store, SimulatedClock) {
        let dir = tempfile::tempdir().unwrap();
        let clock = SimulatedClock::new(Timestamp::from_millis(T0));
        let s = Store::open_with_clock(dir.path(), Arc::new(clock.clone())).unwrap();
        s.set_seal_key(std::sync::Arc::new(crate::SealKey::generate().0));
        (dir, s, clock)
    }

    fn jpeg(s: &Store, v: u8) -> String {
        let h = s
            .save_evidence_jpeg(&[v; 8 * 8 * 3], 8, 8, None, 90)
            .unwrap();
        s.flush().unwrap();
        h
    }

    fn sighting(ts: i64, crop: Option<String>) -> NewSighting {
        NewSighting {
            camera: "gate".into(),
            ts: Timestamp::from_millis(ts),
            run_id: None,
            track_id: Some(7),
            model: "m".into(),
            embedding: vec![0.6, 0.8],
            bbox: BBox::new(1.0, 2.0, 30.0, 40.0),
            quality: 0.9,
            crop,
            matched_person: None,
        }
    }

    fn read(ts: i64, crop: Option<String>) -> NewPlateRead {
        NewPlateRead {
            camera: "gate".into(),
            run_id: None,
            track_id: Some(3),
            first_seen: Timestamp::from_millis(ts),
            last_seen: Timestamp::from_millis(ts + 500),
            plate: "ABC123".into(),
            raw_text: "abc123".into(),
            format: None,
            country: None,
            confidence: 0.8,
            votes: 3,
            agreeing: 2,
            vehicle_type: None,
            colour: None,
            plate_crop: crop,
            vehicle_crop: None,
            frame: None,
            hotlist_hits: 0,
        }
    }

    /// Runs a pass at `T0 + at` on the store's clock.
    fn pass_at(s: &Store, clock: &SimulatedClock, at: i64, p: RetentionPolicy) -> RetentionReport {
        let now = clock.now().millis();
        clock.advance(Duration::from_millis((T0 + at - now) as u64));
        s.retention_pass(p, clock.now(), false).unwrap()
    }

    fn rows(r: &RetentionReport, class: &str) -> u64 {
        r.class(class).unwrap().rows
    }

    fn deleted(r: &RetentionReport) -> u64 {
        r.classes
            .iter()
            .map(|c| c.rows + c.files + c.related_rows)
            .sum()
    }

    fn retention_audits(s: &Store) -> Vec<crate::AuditEntry> {
        s.audit_entries(None, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == AUDIT_ACTION)
            .collect()
    }

    /// Retention deletes the sealed original of masked evidence with it.
    #[test]
    fn sealed_originals_go_with_their_evidence() {
        let (_d, s, clock) = open();
        let (key, _) = crate::SealKey::generate();
        s.set_seal_key(std::sync::Arc::new(key));
        let rgb: Vec<u8> = (0..64 * 64 * 3).map(|i| (i * 7 % 251) as u8).collect();
        let h = s
            .save_evidence_masked(&rgb, 64, 64, None, 90, &[BBox::new(8.0, 8.0, 40.0, 40.0)])
            .unwrap();
        s.flush().unwrap();
        assert!(s.has_evidence_original(&h).unwrap());
        let r = pass_at(&s, &clock, 5 * D + 1, policy(5));
        assert_eq!(r.class("evidence").unwrap().files, 1, "{r:?}");
        assert!(
            !s.has_evidence_original(&h).unwrap(),
            "sealed original left behind"
        );
    }

    /// An owner's agreement caps retention of its cameras only, in every
    /// class with a camera, and says so in the audit entry; locks still win.
    #[test]
    fn agreement_caps_shorten_retention_of_their_cameras_only() {
        let (_d, s, clock) = open();
        let at = |cam: &str| {
            let mut e = Event::new(cam, "zone_enter", Timestamp::from_millis(T0));
            e.evidence = None;
            e
        };
        let shop_crop = jpeg(&s, 9);
        let mut shop_event = at("shop");
        shop_event.evidence = Some(shop_crop.clone());
        let ids = s
            .insert_events(vec![shop_event, at("shop"), at("gate")])
            .unwrap();
        let (shop_ev, locked_ev, gate_ev) =
            (ids[0].id.unwrap(), ids[1].id.unwrap(), ids[2].id.unwrap());
        s.lock_event(locked_ev, "case 7", "robbery at the entrance", "sup")
            .unwrap();
        let mut shop_sighting = sighting(T0, None);
        shop_sighting.camera = "shop".into();
        let sids = s
            .insert_sightings(vec![shop_sighting, sighting(T0, None)])
            .unwrap();
        s.mark_sightings_matched(sids.clone(), 42).unwrap();
        let mut shop_read = read(T0, None);
        shop_read.camera = "shop".into();
        s.insert_plate_read(shop_read).unwrap();
        s.insert_plate_read(read(T0, None)).unwrap();

        let caps = vec![RetentionCap {
            reason: "owner mall agreement DSA-14".into(),
            cameras: vec!["shop".into()],
            keep: Duration::from_secs(2 * 86_400),
        }];
        let pass = |at: i64| {
            let now = clock.now().millis();
            clock.advance(Duration::from_millis((T0 + at - now) as u64));
            s.retention_pass_capped(policy(30), caps.clone(), clock.now(), false)
                .unwrap()
        };
        // At the cap's boundary nothing goes; just past it the shop's
        // event, matched sighting and plate read go, the gate's stay.
        let r = pass(2 * D);
        assert_eq!(deleted(&r), 0, "{r:?}");
        let r = pass(2 * D + 1);
        assert_eq!(rows(&r, "events"), 1, "{r:?}");
        assert_eq!(r.class("events").unwrap().by_agreement, 1);
        assert_eq!(r.class("events").unwrap().locked_kept, 1);
        assert_eq!(r.class("events").unwrap().files, 1, "its crop went too");
        assert!(s.evidence_path(&shop_crop).is_none());
        assert_eq!(rows(&r, "face_sightings"), 1);
        assert_eq!(r.sighting_ids, vec![sids[0]]);
        assert_eq!(rows(&r, "plate_reads"), 1);
        assert!(s.event(shop_ev).unwrap().is_none());
        assert!(s.event(locked_ev).unwrap().is_some(), "the lock wins");
        assert!(s.event(gate_ev).unwrap().is_some());
        let audits = retention_audits(&s);
        assert!(
            audits.iter().all(|a| a
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("1 by data-sharing agreement: owner mall agreement DSA-14 (2 days)")),
            "{audits:?}"
        );
        // The class's own retention still applies to the other cameras.
        let r = pass(7 * D + 1);
        assert_eq!(rows(&r, "plate_reads"), 1);
        assert_eq!(r.class("plate_reads").unwrap().by_agreement, 0);
    }

    /// A clip attached after the event (the post-roll) is evidence like any
    /// other: a camera-scoped reader finds its camera, a lock keeps it, and
    /// when the event is purged the clip file and its row are gone.
    #[test]
    fn a_purged_events_clip_file_is_gone() {
        let (_d, s, clock) = open();
        // Not a playable MP4: the store keeps bytes, whatever they encode.
        let bytes = b"\0\0\0\x20ftypisom clip bytes".to_vec();
        let clip = s.save_evidence_bytes(&bytes, 960, 540).unwrap();
        let mut e = Event::new("gate", "zone_enter", Timestamp::from_millis(T0));
        e.evidence = Some(jpeg(&s, 9));
        e.details = serde_json::json!({ "zone": "z" });
        let e = s.insert_events(vec![e]).unwrap()[0].id.unwrap();
        let mut other = Event::new("gate", "zone_enter", Timestamp::from_millis(T0 + 3 * D));
        other.details = serde_json::json!({ "zone": "z" });
        let other = s.insert_events(vec![other]).unwrap()[0].id.unwrap();
        let info = serde_json::json!({ "hash": clip, "mime": "video/mp4", "duration_ms": 6000, "frames": 60 });
        assert_eq!(s.attach_event_clip(&[e, 999_999], info).unwrap(), 1);
        let details = s.event(e).unwrap().unwrap().details;
        assert_eq!(details["clip"]["hash"], clip.as_str());
        assert_eq!(details["zone"], "z", "the other details are kept");
        assert_eq!(s.evidence_cameras(&clip).unwrap(), vec!["gate".to_string()]);
        assert!(s
            .attach_event_clip(&[other], serde_json::json!({ "hash": "../x" }))
            .is_err());

        // Locked: the events class skips it, and so its clip.
        s.lock_event(e, "case-1", "court", "sup").unwrap();
        let mut p = policy(365);
        p.events = Duration::from_secs(2 * 86_400);
        let r = pass_at(&s, &clock, 2 * D + 1, p);
        assert_eq!(r.class("events").unwrap().locked_kept, 1, "{r:?}");
        assert!(s.evidence_path(&clip).is_some());
        s.unlock_event(e).unwrap();
        let r = pass_at(&s, &clock, 2 * D + 2, p);
        assert_eq!(rows(&r, "events"), 1, "{r:?}");
        assert!(s.event(e).unwrap().is_none());
        assert!(s.event(other).unwrap().is_some());
        assert!(s.evidence_path(&clip).is_none(), "clip file deleted");
        assert_eq!(s.evidence_info(&clip).unwrap(), None);
        assert!(s.evidence_cameras(&clip).unwrap().is_empty());
    }

    #[test]
    fn each_class_expires_exactly_at_its_boundary() {
        let (_d, s, clock) = open();
        let p = policy(5);
        let a = jpeg(&s, 1);
        let b = jpeg(&s, 2);
        let c = jpeg(&s, 3);
        let mut e = Event::new("gate", "zone_enter", Timestamp::from_millis(T0));
        e.evidence = Some(a.clone());
        let e = s.insert_events(vec![e]).unwrap()[0].id.unwrap();
        let ids = s
            .insert_sightings(vec![sighting(T0, Some(b.clone())), sighting(T0, None)])
            .unwrap();
        s.mark_sightings_matched(vec![ids[1]], 42).unwrap();
        let pr = s.insert_plate_read(read(T0, Some(c.clone()))).unwrap();

        // Unmatched face sightings: 72 h.
        let r = pass_at(&s, &clock, 72 * H, p);
        assert_eq!(deleted(&r), 0, "{r:?}");
        assert!(
            retention_audits(&s).is_empty(),
            "nothing deleted, nothing audited"
        );
        let r = pass_at(&s, &clock, 72 * H + 1, p);
        assert_eq!(rows(&r, "face_sightings"), 1);
        assert_eq!(r.class("face_sightings").unwrap().files, 1);
        assert_eq!(r.sighting_ids, vec![ids[0]]);
        assert_eq!(deleted(&r), 2, "{r:?}");
        assert!(s.evidence_path(&b).is_none(), "crop file deleted");
        assert!(!s
            .dir()
            .join("evidence")
            .join(&b[..2])
            .join(format!("{b}.jpg"))
            .exists());
        assert_eq!(s.sighting_ids("m").unwrap(), vec![ids[1]]);
        let audits = retention_audits(&s);
        assert_eq!(audits.len(), 1);
        assert_eq!(audits[0].target.as_deref(), Some("face_sightings"));
        assert_eq!(audits[0].details["rows"], 1);
        assert_eq!(audits[0].details["files"], 1);

        // Evidence: 5 days, referenced or not; references are cleared.
        assert_eq!(deleted(&pass_at(&s, &clock, 5 * D, p)), 0);
        let r = pass_at(&s, &clock, 5 * D + 1, p);
        let ev = r.class("evidence").unwrap();
        assert_eq!(
            (ev.rows, ev.files, ev.references_cleared),
            (2, 2, 2),
            "{r:?}"
        );
        assert!(s.evidence_path(&a).is_none() && s.evidence_path(&c).is_none());
        assert_eq!(s.event(e).unwrap().unwrap().evidence, None);
        assert_eq!(s.evidence_info(&a).unwrap(), None);

        // Plate reads: 7 days.
        assert_eq!(deleted(&pass_at(&s, &clock, 7 * D, p)), 0);
        let r = pass_at(&s, &clock, 7 * D + 1, p);
        assert_eq!((rows(&r, "plate_reads"), deleted(&r)), (1, 1));
        assert!(s
            .plate_reads(&crate::PlateReadQuery::default())
            .unwrap()
            .iter()
            .all(|x| x.id != pr));

        // Events: 10 days.
        assert_eq!(deleted(&pass_at(&s, &clock, 10 * D, p)), 0);
        let r = pass_at(&s, &clock, 10 * D + 1, p);
        assert_eq!((rows(&r, "events"), deleted(&r)), (1, 1));
        assert!(s.event(e).unwrap().is_none());

        // Matched face sightings: 20 days.
        assert_eq!(deleted(&pass_at(&s, &clock, 20 * D, p)), 0);
        let r = pass_at(&s, &clock, 20 * D + 1, p);
        assert_eq!(r.sighting_ids, vec![ids[1]]);
        assert!(s.sighting_ids("m").unwrap().is_empty());

        let classes: Vec<_> = retention_audits(&s)
            .into_iter()
            .rev()
            .map(|e| e.target.unwrap())
            .collect();
        assert_eq!(
            classes,
            [
                "face_sightings",
                "evidence",
                "plate_reads",
                "events",
                "face_sightings"
            ]
        );
        let v = s.verify_audit().unwrap();
        assert!(v.first_bad.is_none(), "{v:?}");
        assert_eq!(v.entries, 5);
    }

    #[test]
    fn locks_keep_case_items_and_shared_files_stay_while_referenced() {
        let (_d, s, clock) = open();
        let p = policy(30);
        let run = s.begin_run().unwrap();
        let (a, b, c1, c2, shared) = (
            jpeg(&s, 1),
            jpeg(&s, 2),
            jpeg(&s, 3),
            jpeg(&s, 4),
            jpeg(&s, 5),
        );
        let sids = s
            .insert_sightings(vec![
                sighting(T0, Some(c1.clone())),
                sighting(T0, Some(shared.clone())),
            ])
            .unwrap();
        let pr = s.insert_plate_read(read(T0, Some(c2.clone()))).unwrap();
        let mut locked = Event::new("gate", "face_match", Timestamp::from_millis(T0));
        locked.track_id = Some(5);
        locked.evidence = Some(a.clone());
        locked.details = serde_json::json!({
            "sightings": [sids[0]],
            "plate_read_id": pr,
            "frame": b,
        });
        let mut other = Event::new("gate", "zone_enter", Timestamp::from_millis(T0));
        other.track_id = Some(6);
        other.evidence = Some(shared.clone());
        let ids = s.insert_events(vec![locked, other]).unwrap();
        let (locked, other) = (ids[0].id.unwrap(), ids[1].id.unwrap());
        let track = |id| TrackRecord {
            run_id: run,
            camera: "gate".into(),
            track_id: id,
            label: Some("person".into()),
            first_seen: Timestamp::from_millis(T0),
            last_seen: Timestamp::from_millis(T0),
            frames: 3,
            best_score: 0.9,
            best_crop: None,
            trajectory: vec![],
        };
        s.upsert_tracks(vec![track(5), track(6)]).unwrap();
        s.flush().unwrap();

        // Lock rules.
        assert!(matches!(
            s.lock_event(999, "C-1", "court order", "ann"),
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.lock_event(locked, " ", "court order", "ann"),
            Err(StoreError::Invalid(_))
        ));
        let l = s
            .lock_event(locked, "C-2026-17", "robbery case", "ann")
            .unwrap();
        assert_eq!(s.event_lock(locked).unwrap(), Some(l.clone()));
        assert!(matches!(
            s.lock_event(locked, "C-2", "x", "bob"),
            Err(StoreError::Refused(_))
        ));
        assert_eq!(s.event_locks(&[locked, other]).unwrap().len(), 1);

        // The unlocked sighting goes at 72 h, but its crop is also the other
        // event's evidence: the file stays while that event refers to it.
        let r = pass_at(&s, &clock, 72 * H + 1, p);
        assert_eq!(r.sighting_ids, vec![sids[1]]);
        assert_eq!(r.class("face_sightings").unwrap().files, 0);
        assert_eq!(r.class("face_sightings").unwrap().locked_kept, 1);
        assert!(s.evidence_path(&shared).is_some(), "shared file kept");

        // Everything is due at 31 days; only the lock's items survive.
        let r = pass_at(&s, &clock, 31 * D, p);
        let ev = r.class("events").unwrap();
        assert_eq!(
            (ev.rows, ev.related_rows, ev.files, ev.locked_kept),
            (1, 1, 1, 2),
            "{r:?}"
        );
        assert!(
            s.evidence_path(&shared).is_none(),
            "last reference gone: file deleted"
        );
        assert!(s.event(other).unwrap().is_none());
        assert_eq!(r.class("plate_reads").unwrap().locked_kept, 1);
        assert_eq!(r.class("evidence").unwrap().locked_kept, 4);
        for h in [&a, &b, &c1, &c2] {
            assert!(s.evidence_path(h).is_some(), "locked evidence {h} kept");
        }
        assert!(s.event(locked).unwrap().is_some());
        assert_eq!(s.sighting_ids("m").unwrap(), vec![sids[0]]);
        assert_eq!(s.tracks("gate", None, 10).unwrap().len(), 1);

        // A dry run reports what unlocking would release, and changes nothing.
        assert_eq!(s.unlock_event(locked).unwrap(), Some(l));
        assert_eq!(s.unlock_event(locked).unwrap(), None);
        let audits = retention_audits(&s).len();
        let dry = s.retention_pass(p, clock.now(), true).unwrap();
        assert!(dry.dry_run && dry.audit_seqs.is_empty());
        assert_eq!(rows(&dry, "events"), 1);
        // The classes release the four files as their last references go.
        assert_eq!(dry.classes.iter().map(|c| c.files).sum::<u64>(), 4);
        assert_eq!(retention_audits(&s).len(), audits);
        assert!(s.event(locked).unwrap().is_some());
        assert!(s.evidence_path(&a).is_some());

        let r = s.retention_pass(p, clock.now(), false).unwrap();
        assert_eq!(
            r,
            RetentionReport {
                dry_run: false,
                audit_seqs: r.audit_seqs.clone(),
                ..dry
            }
        );
        assert!(s.event(locked).unwrap().is_none());
        for h in [&a, &b, &c1, &c2] {
            assert!(s.evidence_path(h).is_none(), "{h} deleted after unlock");
        }
        assert!(s.sighting_ids("m").unwrap().is_empty());
        assert!(s.tracks("gate", None, 10).unwrap().is_empty());
        let v = s.verify_audit().unwrap();
        assert!(v.first_bad.is_none(), "{v:?}");
    }

    #[test]
    fn the_job_runs_at_start_then_every_interval_on_the_clock() {
        let (_d, s, clock) = open();
        let s = Arc::new(s);
        let seen = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen2 = seen.clone();
        let mut job = RetentionJob::new(s.clone(), policy(30), Duration::from_secs(300))
            .on_sightings_deleted(Box::new(move |ids| seen2.lock().extend_from_slice(ids)));
        let ids = s
            .insert_sightings(vec![
                sighting(T0 - 72 * H - 1, None),
                sighting(T0 - 72 * H + 200_000, None),
            ])
            .unwrap();
        // Due at start.
        let r = job.tick().unwrap().unwrap();
        assert_eq!(r.sighting_ids, vec![ids[0]]);
        assert_eq!(*seen.lock(), vec![ids[0]]);
        // Not again before the interval, although the second one is due.
        clock.advance(Duration::from_secs(299));
        assert!(job.tick().is_none());
        assert_eq!(s.sighting_ids("m").unwrap(), vec![ids[1]]);
        clock.advance(Duration::from_secs(1));
        assert_eq!(job.tick().unwrap().unwrap().sighting_ids, vec![ids[1]]);
        assert_eq!(*seen.lock(), ids);
        // The loop stops on shutdown.
        let shutdown = base::Shutdown::new();
        shutdown.trigger();
        job.run(&shutdown);
    }
}
