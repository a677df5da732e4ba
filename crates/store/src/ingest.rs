//! Writes that arrive over the bus (`kuzet serve` consuming what workers
//! publish). Delivery is at least once, so every write here is idempotent:
//! events by their message id (unique index, migration 7), runs by their
//! origin, tracks by their key (an upsert), evidence by its hash.

use crate::{validate_event, Store, StoreError};
use base::Event;
use rusqlite::{params, OptionalExtension};

/// An event with the deterministic id of the message that carried it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyedEvent {
    pub msg_id: String,
    pub event: Event,
}

/// What [`Store::ingest_events`] did with each event, in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ingested {
    /// Stored now, with this id.
    New(i64),
    /// Already stored (a redelivery), under this id.
    Duplicate(i64),
}

impl Ingested {
    pub fn id(self) -> i64 {
        match self {
            Ingested::New(id) | Ingested::Duplicate(id) => id,
        }
    }
}

impl Store {
    /// The run of a worker's engine session (`origin`, e.g. "w1/1700000000000"),
    /// created on first sight. The same origin always maps to the same run, so
    /// redelivered messages of a session never split it. Does not change
    /// [`Store::current_run`].
    pub fn run_for_origin(&self, origin: &str, version: &str) -> Result<i64, StoreError> {
        if origin.is_empty() {
            return Err(StoreError::Invalid("run origin is empty".into()));
        }
        let origin = origin.to_owned();
        let version = version.to_owned();
        let started = self.clock().now().millis();
        self.exec("run_for_origin", move |c| {
            let found: Option<i64> = c
                .prepare_cached("SELECT id FROM run WHERE origin = ?1")?
                .query_row(params![origin], |r| r.get(0))
                .optional()?;
            if let Some(id) = found {
                return Ok(id);
            }
            c.prepare_cached("INSERT INTO run (started, version, origin) VALUES (?1, ?2, ?3)")?
                .execute(params![started, version, origin])?;
            Ok(c.last_insert_rowid())
        })
    }

    /// Stores events that carry message ids, in one transaction, and returns
    /// after the commit what happened to each: a message id seen before
    /// yields the existing row instead of a second one. New events reach
    /// subscribers (the live SSE stream) like [`Store::insert_events`]' do.
    pub fn ingest_events(
        &self,
        run_id: Option<i64>,
        events: Vec<KeyedEvent>,
    ) -> Result<Vec<Ingested>, StoreError> {
        if events.is_empty() {
            return Ok(Vec::new());
        }
        for k in &events {
            validate_event(&k.event)?;
            if k.msg_id.is_empty() || k.msg_id.len() > 200 {
                return Err(StoreError::Invalid(format!(
                    "event {} on {:?}: message id must be 1–200 characters",
                    k.event.kind, k.event.camera
                )));
            }
        }
        let outcomes = self.exec_publishing("ingest_events", move |c| {
            let mut ins = c.prepare_cached(
                "INSERT INTO event (camera, kind, ts, run_id, track_id, label, rule,
                                    x1, y1, x2, y2, score, details_json, evidence, dedupe_key)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
                 ON CONFLICT (dedupe_key) DO NOTHING",
            )?;
            let mut outcomes = Vec::with_capacity(events.len());
            let mut fresh = Vec::new();
            for k in events {
                let mut e = k.event;
                let details = match &e.details {
                    serde_json::Value::Null => None,
                    v => Some(serde_json::to_string(v)?),
                };
                let b = e.bbox;
                let n = ins.execute(params![
                    e.camera,
                    e.kind,
                    e.ts.millis(),
                    run_id,
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
                    k.msg_id,
                ])?;
                if n == 1 {
                    let id = c.last_insert_rowid();
                    e.id = Some(id);
                    fresh.push(e);
                    outcomes.push(Ingested::New(id));
                } else {
                    let id: i64 = c
                        .prepare_cached("SELECT id FROM event WHERE dedupe_key = ?1")?
                        .query_row(params![k.msg_id], |r| r.get(0))?;
                    outcomes.push(Ingested::Duplicate(id));
                }
            }
            // Published by the writer after the commit: the live feed sees
            // new rows once, never redeliveries.
            Ok((outcomes, fresh))
        })?;
        Ok(outcomes)
    }

    /// Every stored message id with its event id (tests and audits compare
    /// them with what workers saw acknowledged).
    pub fn event_msg_ids(&self) -> Result<Vec<(String, i64)>, StoreError> {
        self.exec("event_msg_ids", move |c| {
            let mut st =
                c.prepare("SELECT dedupe_key, id FROM event WHERE dedupe_key IS NOT NULL")?;
            let rows = st
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }

    /// Every dedupe key (the bus message id) stored in `table`, one entry
    /// per row: `kuzet simulate` checks that each record it published is
    /// stored exactly once.
    pub fn dedupe_keys(&self, table: crate::KeyedTable) -> Result<Vec<String>, StoreError> {
        let table = table.table();
        self.exec("dedupe_keys", move |c| {
            let mut st = c.prepare(&format!(
                "SELECT dedupe_key FROM {table} WHERE dedupe_key IS NOT NULL"
            ))?;
            let rows = st
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(rows)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;

    fn ev(camera: &str, ts: i64) -> Event {
        let mut e = Event::new(camera, "line_cross", Timestamp::from_millis(ts));
        e.track_id = Some(3);
        e
    }

    #[test]
    fn a_redelivered_message_is_stored_once() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let run = store.run_for_origin("w1/1", "test").unwrap();
        assert_eq!(store.run_for_origin("w1/1", "test").unwrap(), run);
        assert_ne!(store.run_for_origin("w2/1", "test").unwrap(), run);
        let a = KeyedEvent {
            msg_id: "m-a".into(),
            event: ev("c1", 1000),
        };
        let b = KeyedEvent {
            msg_id: "m-b".into(),
            event: ev("c1", 2000),
        };
        let first = store
            .ingest_events(Some(run), vec![a.clone(), b.clone()])
            .unwrap();
        assert!(matches!(first[0], Ingested::New(_)));
        // The same message again, alone and next to a new one.
        let c = KeyedEvent {
            msg_id: "m-c".into(),
            event: ev("c2", 3000),
        };
        let again = store.ingest_events(Some(run), vec![b, c]).unwrap();
        assert_eq!(again[0], Ingested::Duplicate(first[1].id()));
        assert!(matches!(again[1], Ingested::New(_)));
        store.flush().unwrap();
        let ids = store.event_msg_ids().unwrap();
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert_eq!(store.counts().unwrap().events, 3);
        // Embedded-mode events (no message id) never collide.
        store
            .insert_events(vec![ev("c1", 1000), ev("c1", 1000)])
            .unwrap();
        assert_eq!(store.counts().unwrap().events, 5);
    }
}
