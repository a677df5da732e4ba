//! Operators' reviews, evidence locks and an event's track on PostgreSQL
//! (schema 5): the same answers as the embedded store's `store::reviews`,
//! `store::retention` (locks) and `store::track_view`, so the situation
//! centre works the same whichever backend holds the events.
//!
//! The review state machine is the store crate's ([`ReviewInput::apply`]);
//! here it runs inside a transaction that holds the event row `FOR UPDATE`,
//! which serialises two operators acting on one event exactly as SQLite's
//! single writer does: the second reads the first one's result.

use crate::{db_err, event_from_row, track_from_row, PgStore, EVENT_COLUMNS, TRACK_COLUMNS};
use base::Timestamp;
use sqlx::{AssertSqlSafe, Row};
use std::collections::HashMap;
use store::track_view::{MAX_TRACK_EVENTS, NO_RUN_WINDOW_MS};
use store::{
    EventLock, EventTrack, ReviewAction, ReviewCounts, ReviewEntry, ReviewInput, ReviewState,
    StoreError, TimelineBucket,
};

const LOCK_COLUMNS: &str = "event_id, case_ref, reason, locked_by, locked";

fn lock_from_row(r: &sqlx::postgres::PgRow) -> Result<EventLock, sqlx::Error> {
    Ok(EventLock {
        event_id: r.try_get(0)?,
        case_ref: r.try_get(1)?,
        reason: r.try_get(2)?,
        locked_by: r.try_get(3)?,
        locked: Timestamp::from_millis(r.try_get(4)?),
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// The review state of `event_id` read in `tx`; `lock` takes the event row
/// for update (the write path). `None` when the event does not exist.
async fn load_state(
    tx: &mut Tx<'_>,
    event_id: i64,
    lock: bool,
) -> Result<Option<ReviewState>, StoreError> {
    if lock {
        // Locked in a statement of its own: under READ COMMITTED each
        // statement takes a new snapshot, so the review row read below is
        // the one the previous holder of the lock committed. (Locking inside
        // the join would wait for the lock but still read the review from
        // before that commit, and two confirmations by one user would win.)
        sqlx::query("SELECT 1 FROM event WHERE id = $1 FOR UPDATE")
            .bind(event_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(db_err("review: lock event"))?;
    }
    let sql = "SELECT e.kind, r.status, r.assignee, r.confirmed_by, r.updated
         FROM event e LEFT JOIN event_review r ON r.event_id = e.id WHERE e.id = $1";
    type Row = (
        String,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
    );
    let row: Option<Row> = sqlx::query_as(sql)
        .bind(event_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_err("review state"))?;
    let Some((kind, status, assignee, confirmed_by, updated)) = row else {
        return Ok(None);
    };
    ReviewState::from_row(
        event_id,
        &kind,
        status.as_deref(),
        assignee,
        confirmed_by.as_deref(),
        updated,
    )
    .map(Some)
}

impl PgStore {
    pub(crate) fn pg_review(
        &self,
        event_id: i64,
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewState, StoreError> {
        let input = ReviewInput::new(actor, action, assignee, comment)?;
        let now = self.clock.now();
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin review"))?;
            let mut st = load_state(&mut tx, event_id, true)
                .await?
                .ok_or_else(|| ReviewInput::no_event(event_id))?;
            input.apply(&mut st, now)?;
            sqlx::query(
                "INSERT INTO event_review (event_id, status, assignee, confirmed_by, updated)
                 VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (event_id) DO UPDATE SET status = excluded.status,
                   assignee = excluded.assignee, confirmed_by = excluded.confirmed_by,
                   updated = excluded.updated",
            )
            .bind(event_id)
            .bind(st.status.as_str())
            .bind(&st.assignee)
            .bind(serde_json::to_string(&st.confirmed_by)?)
            .bind(now.millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err("review"))?;
            sqlx::query(
                "INSERT INTO event_review_action
                   (event_id, ts, actor, action, assignee, comment, status)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(event_id)
            .bind(now.millis())
            .bind(&input.actor)
            .bind(input.action.as_str())
            .bind(&input.assignee)
            .bind(&input.comment)
            .bind(st.status.as_str())
            .execute(&mut *tx)
            .await
            .map_err(db_err("review action"))?;
            tx.commit().await.map_err(db_err("commit review"))?;
            Ok(st)
        })
    }

    pub(crate) fn pg_review_state(&self, event_id: i64) -> Result<Option<ReviewState>, StoreError> {
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let st = load_state(&mut tx, event_id, false).await?;
            tx.rollback().await.map_err(db_err("rollback"))?;
            Ok(st)
        })
    }

    pub(crate) fn pg_review_history(&self, event_id: i64) -> Result<Vec<ReviewEntry>, StoreError> {
        type Row = (
            i64,
            i64,
            i64,
            String,
            String,
            Option<String>,
            Option<String>,
            String,
        );
        let rows: Vec<Row> = self.run(move |pool| async move {
            sqlx::query_as(
                "SELECT id, event_id, ts, actor, action, assignee, comment, status
                 FROM event_review_action WHERE event_id = $1 ORDER BY id",
            )
            .bind(event_id)
            .fetch_all(&pool)
            .await
            .map_err(db_err("review history"))
        })?;
        rows.into_iter()
            .map(|(id, ev, ts, actor, action, assignee, comment, status)| {
                ReviewEntry::from_row(id, ev, ts, actor, &action, assignee, comment, &status)
            })
            .collect()
    }

    pub(crate) fn pg_review_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
        kind: Option<&str>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError> {
        let kind = kind.map(str::to_owned);
        let rows: Vec<(String, String, i64)> = self.run(move |pool| async move {
            sqlx::query_as(
                "SELECT r.status, e.camera, count(*) FROM event_review r
                 JOIN event e ON e.id = r.event_id
                 WHERE e.ts >= $1 AND e.ts < $2 AND ($3::TEXT IS NULL OR e.kind = $3)
                 GROUP BY r.status, e.camera",
            )
            .bind(since.millis())
            .bind(until.millis())
            .bind(kind)
            .fetch_all(&pool)
            .await
            .map_err(db_err("review counts"))
        })?;
        let rows = rows
            .into_iter()
            .map(|(s, c, n)| (s, c, n.max(0) as u64))
            .collect();
        ReviewCounts::from_rows(rows, cameras)
    }

    pub(crate) fn pg_event_timeline(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_ms: i64,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        store::reviews::check_timeline(since, until, bucket_ms)?;
        let rows: Vec<(i64, String, String, i64)> = self.run(move |pool| async move {
            // Integer division truncates toward zero in both databases, and
            // ts >= since keeps the dividend non-negative: same buckets.
            sqlx::query_as(
                "SELECT (ts - $1) / $3 AS b, kind, camera, count(*) FROM event
                 WHERE ts >= $1 AND ts < $2 GROUP BY b, kind, camera ORDER BY b, kind",
            )
            .bind(since.millis())
            .bind(until.millis())
            .bind(bucket_ms)
            .fetch_all(&pool)
            .await
            .map_err(db_err("event timeline"))
        })?;
        let rows = rows
            .into_iter()
            .map(|(b, k, c, n)| (b, k, c, n.max(0) as u64))
            .collect();
        Ok(store::reviews::timeline_from_rows(
            rows, since, bucket_ms, cameras,
        ))
    }

    pub(crate) fn pg_lock_event(
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
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin lock"))?;
            // Holding the event row also waits out a retention pass that
            // is deleting it, so the answer is "locked" or "no event".
            let exists: Option<i64> =
                sqlx::query_scalar("SELECT id FROM event WHERE id = $1 FOR UPDATE")
                    .bind(event_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err("lock: event"))?;
            if exists.is_none() {
                return Err(EventLock::no_event(event_id));
            }
            let old = sqlx::query(AssertSqlSafe(format!(
                "SELECT {LOCK_COLUMNS} FROM event_lock WHERE event_id = $1"
            )))
            .bind(event_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(db_err("lock: existing"))?;
            if let Some(old) = old {
                return Err(lock_from_row(&old)
                    .map_err(db_err("lock: existing"))?
                    .already_locked());
            }
            sqlx::query(AssertSqlSafe(format!(
                "INSERT INTO event_lock ({LOCK_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
            )))
            .bind(lock.event_id)
            .bind(&lock.case_ref)
            .bind(&lock.reason)
            .bind(&lock.locked_by)
            .bind(lock.locked.millis())
            .execute(&mut *tx)
            .await
            .map_err(db_err("lock"))?;
            tx.commit().await.map_err(db_err("commit lock"))?;
            Ok(lock)
        })
    }

    pub(crate) fn pg_unlock_event(&self, event_id: i64) -> Result<Option<EventLock>, StoreError> {
        self.run(move |pool| async move {
            let row = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM event_lock WHERE event_id = $1 RETURNING {LOCK_COLUMNS}"
            )))
            .bind(event_id)
            .fetch_optional(&pool)
            .await
            .map_err(db_err("unlock"))?;
            row.as_ref()
                .map(lock_from_row)
                .transpose()
                .map_err(db_err("unlock"))
        })
    }

    pub(crate) fn pg_event_locks(
        &self,
        ids: &[i64],
    ) -> Result<HashMap<i64, EventLock>, StoreError> {
        if ids.is_empty() {
            return Ok(HashMap::new());
        }
        let ids = ids.to_vec();
        self.run(move |pool| async move {
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {LOCK_COLUMNS} FROM event_lock WHERE event_id = ANY($1)"
            )))
            .bind(ids)
            .fetch_all(&pool)
            .await
            .map_err(db_err("event locks"))?;
            rows.iter()
                .map(|r| lock_from_row(r).map(|l| (l.event_id, l)))
                .collect::<Result<HashMap<_, _>, _>>()
                .map_err(db_err("event locks"))
        })
    }

    pub(crate) fn pg_event_track(&self, id: i64) -> Result<Option<EventTrack>, StoreError> {
        self.run(move |pool| async move {
            let key: Option<(Option<i64>, String, Option<i64>, i64)> =
                sqlx::query_as("SELECT run_id, camera, track_id, ts FROM event WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&pool)
                    .await
                    .map_err(db_err("event track"))?;
            let Some((run, camera, track_id, ts)) = key else {
                return Ok(None);
            };
            let Some(track_id) = track_id else {
                return Ok(Some(EventTrack {
                    track: None,
                    events: Vec::new(),
                    truncated: false,
                }));
            };
            let track = match run {
                Some(run) => sqlx::query(AssertSqlSafe(format!(
                    "SELECT {TRACK_COLUMNS} FROM track
                     WHERE run_id = $1 AND camera = $2 AND track_id = $3"
                )))
                .bind(run)
                .bind(&camera)
                .bind(track_id)
                .fetch_optional(&pool)
                .await
                .map_err(db_err("event track"))?
                .as_ref()
                .map(track_from_row)
                .transpose()
                .map_err(db_err("event track"))?,
                None => None,
            };
            // Same rule as the embedded store (store::track_view): a run
            // names the object; without one, a time window around the event.
            let (from, to) = match run {
                Some(_) => (i64::MIN, i64::MAX),
                None => (ts - NO_RUN_WINDOW_MS, ts + NO_RUN_WINDOW_MS),
            };
            let rows = sqlx::query(AssertSqlSafe(format!(
                "SELECT {EVENT_COLUMNS} FROM event
                 WHERE camera = $1 AND track_id = $2 AND run_id IS NOT DISTINCT FROM $3
                   AND ts BETWEEN $4 AND $5
                 ORDER BY ts, id LIMIT $6"
            )))
            .bind(&camera)
            .bind(track_id)
            .bind(run)
            .bind(from)
            .bind(to)
            .bind(MAX_TRACK_EVENTS as i64 + 1)
            .fetch_all(&pool)
            .await
            .map_err(db_err("event track"))?;
            let mut events = rows
                .iter()
                .map(event_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("event track"))?;
            let truncated = events.len() > MAX_TRACK_EVENTS;
            events.truncate(MAX_TRACK_EVENTS);
            Ok(Some(EventTrack {
                track,
                events,
                truncated,
            }))
        })
    }
}
