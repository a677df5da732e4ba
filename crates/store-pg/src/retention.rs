//! Retention on PostgreSQL, and the evidence index that makes it possible.
//!
//! The same policy as the embedded store (`store::retention`): events and
//! tracks, face sightings (unmatched after a short time, matched after a
//! long one), plate reads, and evidence files past their own age, each class
//! shortened per camera by owners' agreement caps; evidence a deleted row
//! referred to goes with it when nothing else refers to it. Rows and one
//! audit entry per class that lost anything commit in one transaction (the
//! audit entries go to this database's hash-chained `audit_log`, beside the
//! rows they account for); files are deleted after the commit, so a crash
//! leaves at worst an orphan file, never a row pointing at a deleted one.
//!
//! A locked event (schema 5, `event_lock`) is case material, as in the
//! embedded store: the pass keeps it, its track, the face sightings and the
//! plate read its details name, and every evidence file those refer to,
//! however old, until the lock is lifted.
//!
//! Why set-based SQL rather than the SQLite pass's row loop: a national
//! deployment purges millions of rows a day; `DELETE … RETURNING` with the
//! references read in the same statement is one round trip per class.

use crate::{append_audit_tx, db_err, PgStore};
use base::Timestamp;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use store::retention::{ago, audit_entries};
use store::{
    ClassPurge, EvidenceBlobs, RetentionCap, RetentionJob, RetentionPolicy, RetentionReport, Store,
    StoreError,
};

/// Tells whether another store still owns an evidence file (a row of the
/// serve node's SQLite store refers to it): such files are never deleted by
/// this pass.
pub type FileClaimed = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// The serve node's SQLite store as [`FileClaimed`]: a file one of its rows
/// refers to (or whose references cannot be read) stays.
pub fn claimed_by(local: Arc<Store>) -> FileClaimed {
    Arc::new(move |h| local.evidence_referenced(h).unwrap_or(true))
}

/// The evidence store a serve node's PostgreSQL retention deletes from:
/// `central` (the evidence directory or bucket the ingest writes), and the
/// serve node's own store, which keeps the face crops of PostgreSQL's
/// sightings that the ingest moved out of a bucket, sealed and indexed
/// there. A file this pass released goes from both,
/// so a face crop follows its sighting's retention, not the local
/// `evidence_days` (`Store::release_evidence` keeps a file a local row
/// refers to).
pub struct ReleasingLocal {
    central: Arc<dyn EvidenceBlobs>,
    local: Arc<Store>,
}

impl ReleasingLocal {
    pub fn new(central: Arc<dyn EvidenceBlobs>, local: Arc<Store>) -> Self {
        ReleasingLocal { central, local }
    }
}

impl EvidenceBlobs for ReleasingLocal {
    fn blobs_name(&self) -> &'static str {
        self.central.blobs_name()
    }

    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        self.central.put(hash, bytes)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.central.get(hash)
    }

    fn exists(&self, hash: &str) -> Result<bool, StoreError> {
        self.central.exists(hash)
    }

    fn delete(&self, hash: &str) -> Result<bool, StoreError> {
        let central = self.central.delete(hash)?;
        let local = self.local.release_evidence(hash)?;
        Ok(central || local)
    }

    fn local_dir(&self) -> Option<&Path> {
        self.central.local_dir()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.central.flush()
    }
}

/// Per camera, the latest cutoff the agreement caps set for it (the cap
/// that deletes the most wins), as two parallel arrays for `unnest`.
fn cap_cutoffs(caps: &[RetentionCap], now: Timestamp) -> (Vec<String>, Vec<i64>) {
    let mut m: BTreeMap<&str, i64> = BTreeMap::new();
    for cap in caps {
        let cut = ago(now, cap.keep).millis();
        for cam in &cap.cameras {
            let e = m.entry(cam.as_str()).or_insert(cut);
            *e = (*e).max(cut);
        }
    }
    (
        m.keys().map(|s| (*s).to_owned()).collect(),
        m.values().copied().collect(),
    )
}

/// `caps(cam, cut)`: the CTE every class's DELETE joins for its camera's
/// agreement cutoff (NULL, so never due by it, for cameras without a cap).
const CAPS_CTE: &str = "caps(cam, cut) AS (SELECT * FROM unnest($2::TEXT[], $3::BIGINT[]))";

/// What the locks protect, for the statements that need it: `locked` (the
/// locked events), `locked_sightings` and `locked_reads` (the ids their
/// details name under `sightings` and `plate_read_id`, as the embedded
/// pass reads them).
const LOCKED_CTE: &str = "locked AS (
    SELECT e.id, e.camera, e.run_id, e.track_id, e.details_json::jsonb AS d
    FROM event_lock l JOIN event e ON e.id = l.event_id),
  locked_sightings AS (
    SELECT (v #>> '{}')::BIGINT AS id FROM locked,
      jsonb_array_elements(CASE WHEN jsonb_typeof(d -> 'sightings') = 'array'
                                THEN d -> 'sightings' ELSE '[]'::jsonb END) AS v
    WHERE jsonb_typeof(v) = 'number' AND (v #>> '{}') ~ '^-?[0-9]{1,18}$'),
  locked_reads AS (
    SELECT (d ->> 'plate_read_id')::BIGINT AS id FROM locked
    WHERE jsonb_typeof(d -> 'plate_read_id') = 'number'
      AND (d ->> 'plate_read_id') ~ '^-?[0-9]{1,18}$')";

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// Every evidence hash a lock protects: its events' references, and the
/// crops of the tracks, sightings and plate reads they hold.
async fn protected_hashes(tx: &mut Tx<'_>) -> Result<BTreeSet<String>, StoreError> {
    let rows: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "WITH {LOCKED_CTE}
         SELECT hash FROM event_evidence WHERE event_id IN (SELECT id FROM locked)
         UNION SELECT t.best_crop FROM track t JOIN locked k
           ON k.run_id = t.run_id AND k.camera = t.camera AND k.track_id = t.track_id
         UNION SELECT crop FROM face_sighting WHERE id IN (SELECT id FROM locked_sightings)
         UNION SELECT unnest(ARRAY[plate_crop, vehicle_crop, frame]) FROM plate_reads
           WHERE id IN (SELECT id FROM locked_reads)"
    )))
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err("retention: locked evidence"))?;
    Ok(rows.into_iter().flatten().collect())
}

/// Deletes the `evidence` index rows (and camera links) of the `candidates`
/// nothing refers to any more; returns (hash, bytes) of each released file
/// that no other store claims.
async fn release_orphans(
    tx: &mut Tx<'_>,
    candidates: BTreeSet<String>,
    claimed: &FileClaimed,
) -> Result<Vec<(String, u64)>, StoreError> {
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    let candidates: Vec<String> = candidates.into_iter().collect();
    let orphans: Vec<String> = sqlx::query_scalar(
        "SELECT h FROM unnest($1::TEXT[]) AS h
         WHERE h ~ '^[0-9a-f]{64}$'
           AND NOT EXISTS (SELECT 1 FROM event_evidence WHERE hash = h)
           AND NOT EXISTS (SELECT 1 FROM track WHERE best_crop = h)
           AND NOT EXISTS (SELECT 1 FROM face_sighting WHERE crop = h)
           AND NOT EXISTS (SELECT 1 FROM plate_reads WHERE plate_crop = h)
           AND NOT EXISTS (SELECT 1 FROM plate_reads WHERE vehicle_crop = h)
           AND NOT EXISTS (SELECT 1 FROM plate_reads WHERE frame = h)",
    )
    .bind(&candidates)
    .fetch_all(&mut **tx)
    .await
    .map_err(db_err("retention: orphaned evidence"))?;
    release(tx, orphans, claimed).await
}

/// Drops the index rows and camera links of `hashes`; the files to delete.
async fn release(
    tx: &mut Tx<'_>,
    hashes: Vec<String>,
    claimed: &FileClaimed,
) -> Result<Vec<(String, u64)>, StoreError> {
    if hashes.is_empty() {
        return Ok(Vec::new());
    }
    let sizes: Vec<(String, i64)> =
        sqlx::query_as("DELETE FROM evidence WHERE hash = ANY($1) RETURNING hash, bytes")
            .bind(&hashes)
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err("retention: evidence rows"))?;
    sqlx::query("DELETE FROM evidence_camera WHERE hash = ANY($1)")
        .bind(&hashes)
        .execute(&mut **tx)
        .await
        .map_err(db_err("retention: evidence camera links"))?;
    let sizes: BTreeMap<String, i64> = sizes.into_iter().collect();
    Ok(hashes
        .into_iter()
        .filter(|h| !claimed(h))
        .map(|h| {
            let bytes = sizes.get(&h).copied().unwrap_or(0).max(0) as u64;
            (h, bytes)
        })
        .collect())
}

fn files_into(cp: &mut ClassPurge, f: &[(String, u64)]) {
    cp.files = f.len() as u64;
    cp.bytes = f.iter().map(|x| x.1).sum();
}

/// One pass inside `tx`: the report and the files to delete after commit.
async fn pass(
    tx: &mut Tx<'_>,
    policy: &RetentionPolicy,
    caps: &[RetentionCap],
    now: Timestamp,
    claimed: &FileClaimed,
) -> Result<(RetentionReport, Vec<(String, u64)>), StoreError> {
    let (cams, cuts) = cap_cutoffs(caps, now);
    let mut report = RetentionReport {
        now,
        ..Default::default()
    };
    let mut files = Vec::new();

    // Events (their references go with them: event_evidence cascades) and
    // tracks. The SELECT reads the references in the statement's snapshot,
    // from before the cascade.
    {
        let cutoff = ago(now, policy.events);
        let mut cp = ClassPurge {
            class: "events".into(),
            cutoff,
            ..Default::default()
        };
        let rows: Vec<(i64, Vec<String>)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH {CAPS_CTE},
             d AS (DELETE FROM event e
                   WHERE (e.ts < $1 OR e.ts < (SELECT cut FROM caps WHERE cam = e.camera))
                     AND NOT EXISTS (SELECT 1 FROM event_lock l WHERE l.event_id = e.id)
                   RETURNING e.id, e.ts)
             SELECT d.ts, array(SELECT hash FROM event_evidence ee WHERE ee.event_id = d.id)
             FROM d"
        )))
        .bind(cutoff.millis())
        .bind(&cams)
        .bind(&cuts)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("retention: events"))?;
        let mut released = BTreeSet::new();
        for (ts, hashes) in rows {
            cp.rows += 1;
            cp.by_agreement += u64::from(ts >= cutoff.millis());
            released.extend(hashes);
        }
        let crops: Vec<Option<String>> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "WITH {CAPS_CTE}, {LOCKED_CTE}
             DELETE FROM track t
             WHERE (t.last_seen < $1 OR t.last_seen < (SELECT cut FROM caps WHERE cam = t.camera))
               AND NOT EXISTS (SELECT 1 FROM locked k WHERE k.run_id = t.run_id
                               AND k.camera = t.camera AND k.track_id = t.track_id)
             RETURNING t.best_crop"
        )))
        .bind(cutoff.millis())
        .bind(&cams)
        .bind(&cuts)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("retention: tracks"))?;
        cp.related_rows += crops.len() as u64;
        released.extend(crops.into_iter().flatten());
        let f = release_orphans(tx, released, claimed).await?;
        files_into(&mut cp, &f);
        files.extend(f);
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
        let rows: Vec<(i64, Option<String>, bool)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH {CAPS_CTE}, {LOCKED_CTE}
                 DELETE FROM face_sighting f
                 WHERE ((f.matched_person IS NULL AND f.ts < $1) OR f.ts < $4
                        OR f.ts < (SELECT cut FROM caps WHERE cam = f.camera))
                   AND f.id NOT IN (SELECT id FROM locked_sightings)
                 RETURNING f.id, f.crop,
                           (f.matched_person IS NULL AND f.ts < $1) OR f.ts < $4"
        )))
        .bind(cutoff.millis())
        .bind(&cams)
        .bind(&cuts)
        .bind(cutoff_matched.millis())
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("retention: face sightings"))?;
        let mut released = BTreeSet::new();
        for (id, crop, own) in rows {
            cp.rows += 1;
            cp.by_agreement += u64::from(!own);
            report.sighting_ids.push(id);
            released.extend(crop);
        }
        let f = release_orphans(tx, released, claimed).await?;
        files_into(&mut cp, &f);
        files.extend(f);
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
        type Row = (Option<String>, Option<String>, Option<String>, bool);
        let rows: Vec<Row> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "WITH {CAPS_CTE}, {LOCKED_CTE}
             DELETE FROM plate_reads p
             WHERE (p.first_seen < $1 OR p.first_seen < (SELECT cut FROM caps WHERE cam = p.camera))
               AND p.id NOT IN (SELECT id FROM locked_reads)
             RETURNING p.plate_crop, p.vehicle_crop, p.frame, p.first_seen < $1"
        )))
        .bind(cutoff.millis())
        .bind(&cams)
        .bind(&cuts)
        .fetch_all(&mut **tx)
        .await
        .map_err(db_err("retention: plate reads"))?;
        let mut released = BTreeSet::new();
        for (a, b, c, own) in rows {
            cp.rows += 1;
            cp.by_agreement += u64::from(!own);
            released.extend([a, b, c].into_iter().flatten());
        }
        let f = release_orphans(tx, released, claimed).await?;
        files_into(&mut cp, &f);
        files.extend(f);
        report.classes.push(cp);
    }

    // Evidence files past their own retention, referenced or not: the
    // references in rows that stay are cleared first.
    {
        let cutoff = ago(now, policy.evidence);
        let mut cp = ClassPurge {
            class: "evidence".into(),
            cutoff,
            ..Default::default()
        };
        let due: Vec<String> = sqlx::query_scalar("SELECT hash FROM evidence WHERE created < $1")
            .bind(cutoff.millis())
            .fetch_all(&mut **tx)
            .await
            .map_err(db_err("retention: due evidence"))?;
        let keep = if due.is_empty() {
            BTreeSet::new()
        } else {
            protected_hashes(tx).await?
        };
        let due: Vec<String> = due.into_iter().filter(|h| !keep.contains(h)).collect();
        if !due.is_empty() {
            for sql in [
                "UPDATE event SET evidence = NULL
                 WHERE id IN (SELECT event_id FROM event_evidence WHERE hash = ANY($1))
                   AND evidence = ANY($1)",
                "UPDATE track SET best_crop = NULL WHERE best_crop = ANY($1)",
                "UPDATE face_sighting SET crop = NULL WHERE crop = ANY($1)",
                "UPDATE plate_reads SET plate_crop = NULL WHERE plate_crop = ANY($1)",
                "UPDATE plate_reads SET vehicle_crop = NULL WHERE vehicle_crop = ANY($1)",
                "UPDATE plate_reads SET frame = NULL WHERE frame = ANY($1)",
            ] {
                cp.references_cleared += sqlx::query(sql)
                    .bind(&due)
                    .execute(&mut **tx)
                    .await
                    .map_err(db_err("retention: clear evidence references"))?
                    .rows_affected();
            }
            // Links of details that keep naming the hash: the file is gone,
            // so nothing refers to it any more.
            sqlx::query("DELETE FROM event_evidence WHERE hash = ANY($1)")
                .bind(&due)
                .execute(&mut **tx)
                .await
                .map_err(db_err("retention: event evidence links"))?;
            cp.rows = due.len() as u64;
            let f = release(tx, due, claimed).await?;
            files_into(&mut cp, &f);
            files.extend(f);
        }
        report.classes.push(cp);
    }
    Ok((report, files))
}

impl PgStore {
    /// Deletes everything past its class's retention at `now` (see the
    /// module docs) and appends one audit entry per class that lost
    /// anything, in one transaction; then deletes the released files from
    /// `blobs`, except those `claimed` says another store owns. `dry_run`
    /// computes the same report in a transaction that is rolled back.
    pub fn retention_pass(
        &self,
        policy: RetentionPolicy,
        caps: Vec<RetentionCap>,
        now: Timestamp,
        dry_run: bool,
        claimed: FileClaimed,
        blobs: &dyn EvidenceBlobs,
    ) -> Result<RetentionReport, StoreError> {
        let audit_ts = self.clock.now().millis();
        let (report, files) = self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let (mut report, files) = pass(&mut tx, &policy, &caps, now, &claimed).await?;
            if dry_run {
                tx.rollback().await.map_err(db_err("rollback"))?;
                report.dry_run = true;
                return Ok((report, Vec::new()));
            }
            for entry in audit_entries(&report, &policy, &caps)? {
                let details = serde_json::to_string(&entry.details)?;
                let row = append_audit_tx(&mut tx, audit_ts, entry, details).await?;
                report.audit_seqs.push(row.seq);
            }
            tx.commit().await.map_err(db_err("commit retention pass"))?;
            Ok((report, files))
        })?;
        // After the commit: a crash before this leaves orphan files only.
        for (h, _) in &files {
            if let Err(e) = blobs.delete(h) {
                tracing::warn!(hash = %h, error = %e, "could not delete an expired evidence file");
            }
        }
        Ok(report)
    }
}

/// Evidence blobs indexed in PostgreSQL: every file put is also recorded in
/// the `evidence` table (size, dimensions, time stored; storing the same
/// content again renews the time, as in SQLite), which the evidence class's
/// retention and `/api/stats` read. Index rows are queued and
/// written in one statement by [`EvidenceBlobs::flush`], which the bus
/// ingest calls before acknowledging a batch, so a file is indexed before
/// its message is acknowledged (a crash in between redelivers it; the put
/// is idempotent).
pub struct IndexedBlobs {
    inner: Arc<dyn EvidenceBlobs>,
    pg: Arc<PgStore>,
    pending: Mutex<Vec<(String, i64, i32, i32)>>,
}

/// Queued index rows that trigger a flush on their own.
const MAX_PENDING: usize = 512;

impl IndexedBlobs {
    pub fn new(inner: Arc<dyn EvidenceBlobs>, pg: Arc<PgStore>) -> Self {
        IndexedBlobs {
            inner,
            pg,
            pending: Mutex::new(Vec::new()),
        }
    }

    fn write_index(&self) -> Result<(), StoreError> {
        let rows = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        if rows.is_empty() {
            return Ok(());
        }
        let created = self.pg.clock.now().millis();
        let mut hashes = Vec::with_capacity(rows.len());
        let mut bytes = Vec::with_capacity(rows.len());
        let mut widths = Vec::with_capacity(rows.len());
        let mut heights = Vec::with_capacity(rows.len());
        // One row per hash: ON CONFLICT DO UPDATE may touch a row once.
        let rows: BTreeMap<String, (i64, i32, i32)> = rows
            .into_iter()
            .map(|(h, b, w, ht)| (h, (b, w, ht)))
            .collect();
        for (h, (b, w, ht)) in rows {
            hashes.push(h);
            bytes.push(b);
            widths.push(w);
            heights.push(ht);
        }
        self.pg.run(move |pool| async move {
            sqlx::query(
                "INSERT INTO evidence (hash, bytes, width, height, created)
                 SELECT h, b, w, ht, $5
                 FROM unnest($1::TEXT[], $2::BIGINT[], $3::INT[], $4::INT[]) AS x(h, b, w, ht)
                 ON CONFLICT (hash) DO UPDATE SET created = excluded.created",
            )
            .bind(hashes)
            .bind(bytes)
            .bind(widths)
            .bind(heights)
            .bind(created)
            .execute(&pool)
            .await
            .map_err(db_err("index evidence"))?;
            Ok(())
        })
    }
}

impl EvidenceBlobs for IndexedBlobs {
    fn blobs_name(&self) -> &'static str {
        self.inner.blobs_name()
    }

    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        self.put_image(hash, bytes, 0, 0)
    }

    fn put_image(
        &self,
        hash: &str,
        bytes: &[u8],
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError> {
        let new = self.inner.put_image(hash, bytes, width, height)?;
        let full = {
            let mut p = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            p.push((
                hash.to_owned(),
                bytes.len() as i64,
                width.min(i32::MAX as u32) as i32,
                height.min(i32::MAX as u32) as i32,
            ));
            p.len() >= MAX_PENDING
        };
        if full {
            self.write_index()?;
        }
        Ok(new)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.get(hash)
    }

    fn exists(&self, hash: &str) -> Result<bool, StoreError> {
        self.inner.exists(hash)
    }

    fn delete(&self, hash: &str) -> Result<bool, StoreError> {
        self.inner.delete(hash)
    }

    fn local_dir(&self) -> Option<&Path> {
        self.inner.local_dir()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()?;
        self.write_index()
    }
}

/// The retention job of a serve node on PostgreSQL: the local store's job
/// (a pass at start and then every `interval`, on its clock, with the
/// agreement caps changed at run time) running this backend's pass. A file
/// a row of the serve node's SQLite store (`local`) refers to is never
/// deleted by this job; one it only keeps for PostgreSQL (a sealed face
/// crop) is deleted from it with its index row ([`ReleasingLocal`]). Its
/// own retention job runs beside this one.
pub fn retention_job(
    pg: Arc<PgStore>,
    blobs: Arc<dyn EvidenceBlobs>,
    local: Arc<Store>,
    policy: RetentionPolicy,
    interval: Duration,
) -> RetentionJob {
    let claimed = claimed_by(local.clone());
    let blobs = ReleasingLocal::new(blobs, local.clone());
    RetentionJob::new(local, policy, interval).with_pass(Box::new(move |policy, caps, now| {
        pg.retention_pass(policy, caps, now, false, claimed.clone(), &blobs)
    }))
}
