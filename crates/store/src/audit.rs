//! The append-only, hash-chained audit log (migration 5).
//!
//! Every entry's `hash` is SHA-256 over its canonical form — a JSON array of
//! every other column, `prev_hash` included — so each entry vouches for all
//! entries before it. Entries are appended through the store's single writer,
//! which reads the chain head and inserts the next entry in one savepoint: the
//! order is total and no two entries can claim the same predecessor.
//!
//! The chain shows edits, deletions, insertions and reorderings to anyone who
//! holds the database but not the will to rewrite every later entry; someone
//! who rewrites the whole tail is caught by comparing with a head exported
//! earlier ([`Store::audit_head`], `kuzet audit export-anchor`) and kept by an
//! external witness.

use crate::{Store, StoreError};
use base::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Most entries one [`Store::audit_entries`] call returns.
pub const MAX_AUDIT_LIMIT: usize = 1000;

/// What to record; the store adds seq, time and the chain hashes.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewAuditEntry {
    /// User name, token name (`token:NAME`), or `None` for an anonymous caller.
    pub actor: Option<String>,
    /// Remote address of the request, if it came over the network.
    pub remote: Option<String>,
    /// What was attempted, e.g. `auth.login`, `http.denied`, `faces.search`.
    pub action: String,
    /// What it was attempted on (a route, a user name, a watchlist).
    pub target: Option<String>,
    /// The caller's typed justification, where one is required.
    pub reason: Option<String>,
    /// `ok`, `denied`, `failed`, `locked`, ...
    pub outcome: String,
    /// Anything else worth keeping; `Null` is stored as `{}`.
    pub details: serde_json::Value,
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub ts: Timestamp,
    pub actor: Option<String>,
    pub remote: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub outcome: String,
    pub details: serde_json::Value,
    pub prev_hash: String,
    pub hash: String,
}

/// The newest entry's number and hash: what an external witness keeps.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    pub seq: i64,
    pub hash: String,
}

/// The first entry where the chain does not hold.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditBreak {
    /// The `seq` column of the first bad row (as found in the table).
    pub seq: i64,
    /// What is wrong with it, in words.
    pub problem: String,
}

/// Result of [`Store::verify_audit`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditVerification {
    /// Rows read.
    pub entries: u64,
    /// The last row read (the head, when the chain is intact).
    pub head: Option<AuditAnchor>,
    /// `None` when every entry checks out.
    pub first_bad: Option<AuditBreak>,
}

/// SHA-256 (hex) of an entry's canonical form. The details are hashed as
/// stored (a JSON text), so re-serialising them can never change a hash.
#[allow(clippy::too_many_arguments)]
pub fn audit_hash(
    seq: i64,
    ts: i64,
    actor: Option<&str>,
    remote: Option<&str>,
    action: &str,
    target: Option<&str>,
    reason: Option<&str>,
    outcome: &str,
    details_json: &str,
    prev_hash: &str,
) -> String {
    let canonical = serde_json::json!([
        seq,
        ts,
        actor,
        remote,
        action,
        target,
        reason,
        outcome,
        details_json,
        prev_hash
    ])
    .to_string();
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// A row exactly as stored, for verification. Public so that every store
/// backend (SQLite here, PostgreSQL in `kuzet-store-pg`) verifies its chain
/// with the one [`verify_rows`] instead of a copy of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub ts: i64,
    pub actor: Option<String>,
    pub remote: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub reason: Option<String>,
    pub outcome: String,
    pub details_json: String,
    pub prev_hash: String,
    pub hash: String,
}
type RawRow = AuditRow;

const COLUMNS: &str =
    "seq, ts, actor, remote, action, target, reason, outcome, details_json, prev_hash, hash";

fn raw_from_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok(RawRow {
        seq: r.get(0)?,
        ts: r.get(1)?,
        actor: r.get(2)?,
        remote: r.get(3)?,
        action: r.get(4)?,
        target: r.get(5)?,
        reason: r.get(6)?,
        outcome: r.get(7)?,
        details_json: r.get(8)?,
        prev_hash: r.get(9)?,
        hash: r.get(10)?,
    })
}

impl AuditRow {
    /// The hash this row's content should have.
    pub fn computed_hash(&self) -> String {
        audit_hash(
            self.seq,
            self.ts,
            self.actor.as_deref(),
            self.remote.as_deref(),
            &self.action,
            self.target.as_deref(),
            self.reason.as_deref(),
            &self.outcome,
            &self.details_json,
            &self.prev_hash,
        )
    }

    /// The entry as returned to callers (details parsed).
    pub fn into_entry(self) -> AuditEntry {
        let details = serde_json::from_str(&self.details_json)
            .unwrap_or(serde_json::Value::String(self.details_json));
        AuditEntry {
            seq: self.seq,
            ts: Timestamp::from_millis(self.ts),
            actor: self.actor,
            remote: self.remote,
            action: self.action,
            target: self.target,
            reason: self.reason,
            outcome: self.outcome,
            details,
            prev_hash: self.prev_hash,
            hash: self.hash,
        }
    }
}

/// Walks the whole table in `seq` order and reports the first row that breaks
/// the chain. Works on any connection, so `kuzet audit verify` can check a
/// database read-only.
pub fn verify_chain(conn: &Connection) -> Result<AuditVerification, StoreError> {
    let mut st = conn.prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))?;
    let mut rows = st.query([])?;
    verify_rows(std::iter::from_fn(|| match rows.next() {
        Ok(Some(r)) => Some(raw_from_row(r).map_err(StoreError::from)),
        Ok(None) => None,
        Err(e) => Some(Err(e.into())),
    }))
}

/// Checks rows given in `seq` order (as read from any backend's table) and
/// reports the first one that breaks the chain; stops reading there.
pub fn verify_rows(
    rows: impl IntoIterator<Item = Result<AuditRow, StoreError>>,
) -> Result<AuditVerification, StoreError> {
    let mut prev = GENESIS_HASH.to_owned();
    let mut entries = 0u64;
    let mut head = None;
    for (expected_seq, row) in (1i64..).zip(rows) {
        let row = row?;
        entries += 1;
        let bad = |problem: String| AuditBreak {
            seq: row.seq,
            problem,
        };
        let first_bad = if row.seq != expected_seq {
            Some(bad(format!(
                "entry {} stands where entry {expected_seq} should: entries were deleted, \
                 inserted or renumbered before it",
                row.seq
            )))
        } else if row.prev_hash != prev {
            Some(bad(format!(
                "entry {} does not follow the entry before it (prev_hash differs): an entry \
                 was deleted, inserted or reordered here",
                row.seq
            )))
        } else if row.computed_hash() != row.hash {
            Some(bad(format!(
                "entry {} was changed after it was written (its hash does not match its content)",
                row.seq
            )))
        } else {
            None
        };
        if first_bad.is_some() {
            return Ok(AuditVerification {
                entries,
                head,
                first_bad,
            });
        }
        prev = row.hash.clone();
        head = Some(AuditAnchor {
            seq: row.seq,
            hash: row.hash,
        });
    }
    Ok(AuditVerification {
        entries,
        head,
        first_bad: None,
    })
}

/// Appends `e` at `ts` on the writer's connection, inside the caller's
/// savepoint: lets a change and its audit entry commit together (or not at
/// all), as the authorisation lapse does.
pub(crate) fn insert_audit(
    c: &Connection,
    ts: i64,
    e: NewAuditEntry,
) -> Result<AuditEntry, StoreError> {
    let details_json = match &e.details {
        serde_json::Value::Null => "{}".to_owned(),
        v => serde_json::to_string(v)?,
    };
    let last: Option<(i64, String)> = c
        .prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev_hash) = match last {
        Some((s, h)) => (s + 1, h),
        None => (1, GENESIS_HASH.to_owned()),
    };
    let row = RawRow {
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
    let hash = row.computed_hash();
    c.prepare_cached(&format!(
        "INSERT INTO audit_log ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
    ))?
    .execute(params![
        row.seq,
        row.ts,
        row.actor,
        row.remote,
        row.action,
        row.target,
        row.reason,
        row.outcome,
        row.details_json,
        row.prev_hash,
        hash
    ])?;
    Ok(RawRow { hash, ..row }.into_entry())
}

impl Store {
    /// Appends an entry after every entry committed or queued before it, and
    /// returns it once committed.
    pub fn append_audit(&self, e: NewAuditEntry) -> Result<AuditEntry, StoreError> {
        if e.action.is_empty() || e.outcome.is_empty() {
            return Err(StoreError::Invalid(
                "audit entries need an action and an outcome".into(),
            ));
        }
        let ts = self.clock.now().millis();
        self.exec("append_audit", move |c| insert_audit(c, ts, e))
    }

    /// Entries newest first; `before_seq` pages backwards (pass the last
    /// `seq` of the previous page). `limit` is capped at [`MAX_AUDIT_LIMIT`].
    pub fn audit_entries(
        &self,
        before_seq: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let limit = limit.clamp(1, MAX_AUDIT_LIMIT) as i64;
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE seq < ?1 ORDER BY seq DESC LIMIT ?2"
            ))?;
            let rows = st.query_map(params![before_seq.unwrap_or(i64::MAX), limit], |r| {
                raw_from_row(r)
            })?;
            let mut out = Vec::new();
            for r in rows {
                out.push(r?.into_entry());
            }
            Ok(out)
        })
    }

    /// How many entries each (action, outcome) has, all time: the
    /// transparency report's figures come from the same log auditors verify.
    pub fn audit_counts(&self) -> Result<Vec<(String, String, u64)>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT action, outcome, count(*) FROM audit_log GROUP BY action, outcome",
            )?;
            let rows = st.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The newest entry's seq and hash, for an external witness.
    pub fn audit_head(&self) -> Result<Option<AuditAnchor>, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")?
                    .query_row([], |r| {
                        Ok(AuditAnchor {
                            seq: r.get(0)?,
                            hash: r.get(1)?,
                        })
                    })
                    .optional()?,
            )
        })
    }

    /// Checks the whole chain (see [`verify_chain`]).
    pub fn verify_audit(&self) -> Result<AuditVerification, StoreError> {
        self.readers.with(verify_chain)
    }
}
