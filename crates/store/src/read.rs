//! Read side: a small pool of read-only connections.
//!
//! In WAL mode readers see the last committed snapshot and never wait for the
//! writer, so queries from the HTTP API do not slow down ingestion. Connections
//! are pooled because opening one (and re-preparing statements) costs more
//! than most of our queries.

use crate::evidence::EvidenceInfo;
use crate::{CameraRecord, Counts, EventQuery, RunRecord, StoreError, TrackRecord};
use base::{BBox, Event, Timestamp};
use parking_lot::Mutex;
use rusqlite::types::Value;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Row};
use std::path::PathBuf;
use std::time::Duration;

/// Idle connections kept; more are opened on demand under load and closed
/// after use.
const MAX_IDLE: usize = 4;

/// Most events one query returns, whatever the caller asks for: bounds the
/// memory and time a single API request can take.
pub const MAX_EVENT_LIMIT: usize = 1000;
/// Events returned when the query does not say.
pub const DEFAULT_EVENT_LIMIT: usize = 100;

pub(crate) struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

pub(crate) const EVENT_COLUMNS: &str =
    "id, camera, kind, ts, track_id, label, rule, x1, y1, x2, y2, \
                             score, details_json, evidence";

impl ReadPool {
    pub(crate) fn new(path: PathBuf) -> Self {
        ReadPool {
            path,
            idle: Mutex::new(Vec::new()),
        }
    }

    fn open(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(conn)
    }

    /// Runs `f` on a pooled connection.
    pub(crate) fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let conn = match self.idle.lock().pop() {
            Some(c) => c,
            None => self.open()?,
        };
        let r = f(&conn);
        let mut idle = self.idle.lock();
        if idle.len() < MAX_IDLE {
            idle.push(conn);
        }
        r
    }

    pub(crate) fn events(&self, q: &EventQuery) -> Result<Vec<Event>, StoreError> {
        self.with(|c| {
            let mut sql = format!("SELECT {EVENT_COLUMNS} FROM event WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            if let Some(cam) = &q.camera {
                sql.push_str(" AND camera = ?");
                args.push(Value::Text(cam.clone()));
            }
            if let Some(cams) = &q.cameras {
                // A JSON array bound as one parameter: no SQL built from names.
                sql.push_str(" AND camera IN (SELECT value FROM json_each(?))");
                args.push(Value::Text(serde_json::to_string(cams)?));
            }
            if let Some(kind) = &q.kind {
                sql.push_str(" AND kind = ?");
                args.push(Value::Text(kind.clone()));
            }
            if let Some(since) = q.since {
                sql.push_str(" AND ts >= ?");
                args.push(Value::Integer(since.millis()));
            }
            if let Some(until) = q.until {
                sql.push_str(" AND ts < ?");
                args.push(Value::Integer(until.millis()));
            }
            if let Some(before) = q.before_id {
                // Keyset paging in (ts, id) order: the next page starts right
                // after the last event of the previous one, stable while new
                // events arrive. An unknown id falls back to id order.
                let ts: Option<i64> = c
                    .prepare_cached("SELECT ts FROM event WHERE id = ?1")?
                    .query_row([before], |r| r.get(0))
                    .optional()?;
                match ts {
                    Some(ts) => {
                        sql.push_str(" AND (ts < ? OR (ts = ? AND id < ?))");
                        args.extend([
                            Value::Integer(ts),
                            Value::Integer(ts),
                            Value::Integer(before),
                        ]);
                    }
                    None => {
                        sql.push_str(" AND id < ?");
                        args.push(Value::Integer(before));
                    }
                }
            }
            sql.push_str(" ORDER BY ts DESC, id DESC LIMIT ?");
            args.push(Value::Integer(q.effective_limit() as i64));
            let mut st = c.prepare_cached(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), event_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) fn events_after(&self, after: i64, limit: usize) -> Result<Vec<Event>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM event WHERE id > ?1 ORDER BY id LIMIT ?2"
            ))?;
            let rows = st.query_map(
                rusqlite::params![after, limit.min(i64::MAX as usize) as i64],
                event_from_row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) fn max_event_id(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.prepare_cached("SELECT COALESCE(MAX(id), 0) FROM event")?
                .query_row([], |r| r.get(0))?)
        })
    }

    pub(crate) fn event(&self, id: i64) -> Result<Option<Event>, StoreError> {
        self.with(|c| {
            Ok(
                c.prepare_cached(&format!("SELECT {EVENT_COLUMNS} FROM event WHERE id = ?1"))?
                    .query_row([id], event_from_row)
                    .optional()?,
            )
        })
    }

    pub(crate) fn cameras(&self) -> Result<Vec<CameraRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, name, url, config_json, created, updated FROM camera ORDER BY id",
            )?;
            let rows = st.query_map([], |r| {
                let config: String = r.get(3)?;
                Ok(CameraRecord {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    url: r.get(2)?,
                    config: parse_json(config),
                    created: Timestamp(r.get(4)?),
                    updated: Timestamp(r.get(5)?),
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) fn tracks(
        &self,
        camera: &str,
        run_id: Option<i64>,
        limit: usize,
    ) -> Result<Vec<TrackRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT run_id, camera, track_id, label, first_seen, last_seen, frames,
                        best_score, best_crop, trajectory_json
                 FROM track
                 WHERE camera = ?1 AND (?2 IS NULL OR run_id = ?2)
                 ORDER BY last_seen DESC, run_id DESC, track_id DESC LIMIT ?3",
            )?;
            let rows = st.query_map(
                params![camera, run_id, limit.min(MAX_EVENT_LIMIT) as i64],
                track_from_row,
            )?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) fn runs(&self, limit: usize) -> Result<Vec<RunRecord>, StoreError> {
        self.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, started, ended, version, pid FROM run ORDER BY id DESC LIMIT ?1",
            )?;
            let rows = st.query_map([limit.min(MAX_EVENT_LIMIT) as i64], |r| {
                Ok(RunRecord {
                    id: r.get(0)?,
                    started: Timestamp(r.get(1)?),
                    ended: r.get::<_, Option<i64>>(2)?.map(Timestamp),
                    version: r.get(3)?,
                    pid: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    pub(crate) fn evidence_info(&self, hash: &str) -> Result<Option<EvidenceInfo>, StoreError> {
        self.with(|c| {
            Ok(c.prepare_cached(
                "SELECT hash, bytes, width, height, created FROM evidence WHERE hash = ?1",
            )?
            .query_row([hash], |r| {
                Ok(EvidenceInfo {
                    hash: r.get(0)?,
                    bytes: r.get::<_, i64>(1)? as u64,
                    width: r.get(2)?,
                    height: r.get(3)?,
                    created: Timestamp(r.get(4)?),
                })
            })
            .optional()?)
        })
    }

    pub(crate) fn counts(&self) -> Result<Counts, StoreError> {
        self.with(|c| {
            // One snapshot, so the numbers agree with each other.
            c.execute_batch("BEGIN")?;
            let r = counts_in(c);
            let _ = c.execute_batch("COMMIT");
            r
        })
    }
}

fn counts_in(c: &Connection) -> Result<Counts, StoreError> {
    let mut out = Counts::default();
    let group = |sql: &str| -> Result<Vec<(String, u64)>, StoreError> {
        let mut st = c.prepare_cached(sql)?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
        Ok(rows.collect::<Result<Vec<_>, _>>()?)
    };
    out.by_kind = group("SELECT kind, count(*) FROM event GROUP BY kind")?
        .into_iter()
        .collect();
    out.by_camera = group("SELECT camera, count(*) FROM event GROUP BY camera")?
        .into_iter()
        .collect();
    out.events = out.by_kind.values().sum();
    let one = |sql: &str| -> Result<u64, StoreError> {
        Ok(c.query_row(sql, [], |r| r.get::<_, i64>(0))? as u64)
    };
    out.cameras = one("SELECT count(*) FROM camera")?;
    out.tracks = one("SELECT count(*) FROM track")?;
    out.runs = one("SELECT count(*) FROM run")?;
    out.evidence_files = one("SELECT count(*) FROM evidence")?;
    out.evidence_bytes = one("SELECT coalesce(sum(bytes), 0) FROM evidence")?;
    Ok(out)
}

fn parse_json(s: String) -> serde_json::Value {
    serde_json::from_str(&s).unwrap_or_else(|e| {
        // Only a hand-edited database gets here; keep the text rather than fail
        // the whole query.
        tracing::warn!(error = %e, "unparseable JSON column");
        serde_json::Value::String(s)
    })
}

/// A track row in the column order `run_id, camera, track_id, label,
/// first_seen, last_seen, frames, best_score, best_crop, trajectory_json`.
pub(crate) fn track_from_row(r: &Row<'_>) -> rusqlite::Result<TrackRecord> {
    let traj: String = r.get(9)?;
    Ok(TrackRecord {
        run_id: r.get(0)?,
        camera: r.get(1)?,
        track_id: r.get::<_, i64>(2)? as u64,
        label: r.get(3)?,
        first_seen: Timestamp(r.get(4)?),
        last_seen: Timestamp(r.get(5)?),
        frames: r.get::<_, i64>(6)? as u64,
        best_score: r.get(7)?,
        best_crop: r.get(8)?,
        trajectory: serde_json::from_str(&traj).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "unreadable track trajectory");
            Vec::new()
        }),
    })
}

pub(crate) fn event_from_row(r: &Row<'_>) -> rusqlite::Result<Event> {
    let coords: [Option<f32>; 4] = [r.get(7)?, r.get(8)?, r.get(9)?, r.get(10)?];
    let bbox = match coords {
        [Some(x1), Some(y1), Some(x2), Some(y2)] => Some(BBox::new(x1, y1, x2, y2)),
        _ => None,
    };
    Ok(Event {
        id: Some(r.get(0)?),
        camera: r.get(1)?,
        kind: r.get(2)?,
        ts: Timestamp(r.get(3)?),
        track_id: r.get::<_, Option<i64>>(4)?.map(|t| t as u64),
        label: r.get(5)?,
        rule: r.get(6)?,
        bbox,
        score: r.get(11)?,
        details: r
            .get::<_, Option<String>>(12)?
            .map(parse_json)
            .unwrap_or(serde_json::Value::Null),
        evidence: r.get(13)?,
    })
}
