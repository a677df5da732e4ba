//! What operators decided about events: acknowledge, confirm, reject,
//! assign, comment, reopen (migration `reviews`).
//!
//! The state machine lives here, inside the writer's transaction, so two
//! operators acting on one alert at once cannot both "win": the second sees
//! the first's result. Biometric matches need two confirmations by two
//! different users before they count as confirmed (the two-person rule of
//! EU AI Act Art. 14(5)); until then they are `pending_confirmation`, and
//! nothing may dispatch or export them ([`ReviewState::releasable`]).

use crate::{Store, StoreError};
use base::event::kinds;
use base::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

/// Where an event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    New,
    Acknowledged,
    /// Confirmed by fewer users than the kind requires.
    PendingConfirmation,
    Confirmed,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewStatus::New => "new",
            ReviewStatus::Acknowledged => "acknowledged",
            ReviewStatus::PendingConfirmation => "pending_confirmation",
            ReviewStatus::Confirmed => "confirmed",
            ReviewStatus::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<ReviewStatus> {
        [
            ReviewStatus::New,
            ReviewStatus::Acknowledged,
            ReviewStatus::PendingConfirmation,
            ReviewStatus::Confirmed,
            ReviewStatus::Rejected,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One operator action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewAction {
    /// Seen: a pinned high-priority alert may unpin.
    Ack,
    /// The alert is right (a true match, a real offence).
    Confirm,
    /// The alert is wrong; a comment saying why is required, because
    /// rejections are the false-alarm statistics.
    Reject,
    /// Hand the event to a user (`assignee`).
    Assign,
    Comment,
    /// Undo a confirmation or rejection (a comment is required).
    Reopen,
    /// The event was handed to a patrol/partner agency. Refused for a
    /// biometric match until the two-person rule is met; leaves the status
    /// as it is. The API records it through its own audited route.
    Dispatch,
}

impl ReviewAction {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewAction::Ack => "ack",
            ReviewAction::Confirm => "confirm",
            ReviewAction::Reject => "reject",
            ReviewAction::Assign => "assign",
            ReviewAction::Comment => "comment",
            ReviewAction::Reopen => "reopen",
            ReviewAction::Dispatch => "dispatch",
        }
    }
}

/// The current review of one event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewState {
    pub event_id: i64,
    pub status: ReviewStatus,
    pub assignee: Option<String>,
    /// Distinct users who confirmed, in order.
    pub confirmed_by: Vec<String>,
    /// Confirmations this event's kind needs.
    pub confirmations_required: u32,
    /// Last change; `None` while nobody has acted.
    pub updated: Option<Timestamp>,
}

impl ReviewState {
    /// May this event be dispatched or exported? Only once confirmed by as
    /// many different users as its kind requires.
    pub fn releasable(&self) -> bool {
        self.status == ReviewStatus::Confirmed
    }
}

/// One entry of an event's review history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub id: i64,
    pub event_id: i64,
    pub ts: Timestamp,
    pub actor: String,
    pub action: ReviewAction,
    pub assignee: Option<String>,
    pub comment: Option<String>,
    /// Status after the action.
    pub status: ReviewStatus,
}

/// Confirmations an event of `kind` needs: two different users for a
/// biometric identification, one otherwise.
pub fn confirmations_required(kind: &str) -> u32 {
    if kind == kinds::FACE_MATCH {
        2
    } else {
        1
    }
}

/// Longest comment kept, in bytes; a review note, not a document store.
const MAX_COMMENT: usize = 4000;

fn refused(msg: impl Into<String>) -> StoreError {
    StoreError::Refused(msg.into())
}

fn no_event(event_id: i64) -> StoreError {
    refused(format!("event {event_id} does not exist"))
}

/// A review action checked and trimmed, before any backend looks at the
/// event: both backends refuse the same input with the same words.
#[derive(Clone, Debug)]
pub struct ReviewInput {
    pub actor: String,
    pub action: ReviewAction,
    pub assignee: Option<String>,
    pub comment: Option<String>,
}

impl ReviewInput {
    pub fn new(
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewInput, StoreError> {
        let actor = actor.trim().to_owned();
        if actor.is_empty() {
            return Err(StoreError::Invalid("review actor is empty".into()));
        }
        let comment = comment.map(str::trim).filter(|c| !c.is_empty());
        if comment.is_some_and(|c| c.len() > MAX_COMMENT) {
            return Err(StoreError::Invalid(format!(
                "review comment is longer than {MAX_COMMENT} bytes"
            )));
        }
        Ok(ReviewInput {
            actor,
            action,
            comment: comment.map(str::to_owned),
            assignee: assignee
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .map(str::to_owned),
        })
    }

    /// Runs the state machine on `st` (read inside the backend's write
    /// transaction), stamping the change at `now`.
    pub fn apply(&self, st: &mut ReviewState, now: Timestamp) -> Result<(), StoreError> {
        transition(
            st,
            &self.actor,
            self.action,
            self.assignee.as_deref(),
            self.comment.as_deref(),
        )?;
        st.updated = Some(now);
        Ok(())
    }

    /// The refusal for an event id that has no event.
    pub fn no_event(event_id: i64) -> StoreError {
        no_event(event_id)
    }
}

impl ReviewState {
    /// The state from an event's kind and its stored review row (all `None`
    /// while nobody acted): the one decoding both backends share.
    pub fn from_row(
        event_id: i64,
        kind: &str,
        status: Option<&str>,
        assignee: Option<String>,
        confirmed_by_json: Option<&str>,
        updated: Option<i64>,
    ) -> Result<ReviewState, StoreError> {
        Ok(ReviewState {
            event_id,
            status: match status {
                Some(s) => parse_status(s)?,
                None => ReviewStatus::New,
            },
            assignee,
            confirmed_by: match confirmed_by_json {
                Some(j) => serde_json::from_str(j)?,
                None => Vec::new(),
            },
            confirmations_required: confirmations_required(kind),
            updated: updated.map(Timestamp::from_millis),
        })
    }
}

impl ReviewAction {
    /// The action stored as `text`.
    pub fn parse(text: &str) -> Result<ReviewAction, StoreError> {
        serde_json::from_value(serde_json::Value::String(text.to_owned()))
            .map_err(|_| StoreError::Corrupt(format!("review action {text:?}")))
    }
}

impl ReviewEntry {
    /// An entry from its stored columns, as both backends read them.
    #[allow(clippy::too_many_arguments)]
    pub fn from_row(
        id: i64,
        event_id: i64,
        ts: i64,
        actor: String,
        action: &str,
        assignee: Option<String>,
        comment: Option<String>,
        status: &str,
    ) -> Result<ReviewEntry, StoreError> {
        Ok(ReviewEntry {
            id,
            event_id,
            ts: Timestamp::from_millis(ts),
            actor,
            action: ReviewAction::parse(action)?,
            assignee,
            comment,
            status: parse_status(status)?,
        })
    }
}

impl ReviewCounts {
    /// Sums (status, camera, count) rows over the cameras `cameras` lets
    /// through.
    pub fn from_rows(
        rows: Vec<(String, String, u64)>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError> {
        let mut out = ReviewCounts::default();
        for (status, camera, n) in rows {
            if cameras.is_some_and(|f| !f(&camera)) {
                continue;
            }
            match parse_status(&status)? {
                ReviewStatus::Acknowledged => out.acknowledged += n,
                ReviewStatus::PendingConfirmation => out.pending_confirmation += n,
                ReviewStatus::Confirmed => out.confirmed += n,
                ReviewStatus::Rejected => out.rejected += n,
                ReviewStatus::New => {}
            }
        }
        Ok(out)
    }
}

/// Review counts over events in a time range, for statistics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReviewCounts {
    pub acknowledged: u64,
    pub pending_confirmation: u64,
    pub confirmed: u64,
    pub rejected: u64,
}

impl Store {
    /// Applies `action` by `actor` to event `event_id` and returns the new
    /// state. Refused (with [`StoreError::Refused`], naming the rule) when
    /// the action does not fit: confirming a rejected event, the same user
    /// confirming twice, rejecting or reopening without a comment, assigning
    /// nobody, an unknown event.
    pub fn review(
        &self,
        event_id: i64,
        actor: &str,
        action: ReviewAction,
        assignee: Option<&str>,
        comment: Option<&str>,
    ) -> Result<ReviewState, StoreError> {
        let input = ReviewInput::new(actor, action, assignee, comment)?;
        let now = self.clock.now();
        self.exec("review", move |tx| {
            let mut st = load_state(tx, event_id)?.ok_or_else(|| no_event(event_id))?;
            input.apply(&mut st, now)?;
            tx.prepare_cached(
                "INSERT INTO event_review (event_id, status, assignee, confirmed_by, updated)
                 VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (event_id) DO UPDATE SET status = excluded.status,
                   assignee = excluded.assignee, confirmed_by = excluded.confirmed_by,
                   updated = excluded.updated",
            )?
            .execute(params![
                event_id,
                st.status.as_str(),
                st.assignee,
                serde_json::to_string(&st.confirmed_by)?,
                now.millis()
            ])?;
            tx.prepare_cached(
                "INSERT INTO event_review_action (event_id, ts, actor, action, assignee, comment, status)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![
                event_id,
                now.millis(),
                input.actor,
                input.action.as_str(),
                input.assignee,
                input.comment,
                st.status.as_str()
            ])?;
            Ok(st)
        })
    }

    /// The review of `event_id` (status `new` when nobody acted), `None` if
    /// the event does not exist.
    pub fn review_state(&self, event_id: i64) -> Result<Option<ReviewState>, StoreError> {
        self.readers.with(|c| load_state(c, event_id))
    }

    /// Every action on `event_id`, oldest first.
    pub fn review_history(&self, event_id: i64) -> Result<Vec<ReviewEntry>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, event_id, ts, actor, action, assignee, comment, status
                 FROM event_review_action WHERE event_id = ?1 ORDER BY id",
            )?;
            let rows = st.query_map([event_id], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, String>(7)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (id, event_id, ts, actor, action, assignee, comment, status) = row?;
                out.push(ReviewEntry::from_row(
                    id, event_id, ts, actor, &action, assignee, comment, &status,
                )?);
            }
            Ok(out)
        })
    }

    /// How many events with `ts` in `[since, until)` (of `kind`, if given)
    /// stand at each review status (events nobody acted on are not counted),
    /// over the cameras `cameras` lets through (`None` = every camera).
    pub fn review_counts(
        &self,
        since: Timestamp,
        until: Timestamp,
        kind: Option<&str>,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<ReviewCounts, StoreError> {
        let rows = self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT r.status, e.camera, count(*) FROM event_review r JOIN event e ON e.id = r.event_id
                 WHERE e.ts >= ?1 AND e.ts < ?2 AND (?3 IS NULL OR e.kind = ?3)
                 GROUP BY r.status, e.camera",
            )?;
            let rows = st.query_map(params![since.millis(), until.millis(), kind], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)? as u64,
                ))
            })?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        ReviewCounts::from_rows(rows, cameras)
    }
}

/// Events per time bucket and kind: the statistics timeline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TimelineBucket {
    /// Start of the bucket.
    pub start: Timestamp,
    pub kind: String,
    pub count: u64,
}

impl Store {
    /// Event counts in `[since, until)` per `bucket_ms`-long bucket (aligned
    /// to `since`) and kind, over the cameras `cameras` lets through;
    /// buckets without events are absent.
    pub fn event_timeline(
        &self,
        since: Timestamp,
        until: Timestamp,
        bucket_ms: i64,
        cameras: Option<&dyn Fn(&str) -> bool>,
    ) -> Result<Vec<TimelineBucket>, StoreError> {
        check_timeline(since, until, bucket_ms)?;
        let rows = self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT (ts - ?1) / ?3 AS b, kind, camera, count(*) FROM event
                 WHERE ts >= ?1 AND ts < ?2 GROUP BY b, kind, camera ORDER BY b, kind",
            )?;
            let rows = st.query_map(params![since.millis(), until.millis(), bucket_ms], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                ))
            })?;
            Ok::<_, StoreError>(rows.collect::<Result<Vec<_>, _>>()?)
        })?;
        Ok(timeline_from_rows(rows, since, bucket_ms, cameras))
    }
}

/// Refuses a timeline with no extent or a bucket that is not positive.
pub fn check_timeline(
    since: Timestamp,
    until: Timestamp,
    bucket_ms: i64,
) -> Result<(), StoreError> {
    if bucket_ms <= 0 || until.millis() <= since.millis() {
        return Err(StoreError::Invalid(format!(
            "timeline needs a positive bucket and since < until (bucket {bucket_ms} ms)"
        )));
    }
    Ok(())
}

/// Folds (bucket index, kind, camera, count) rows ordered by bucket and kind
/// into buckets, over the cameras `cameras` lets through: every backend
/// groups by camera so the camera scope is applied here, once.
pub fn timeline_from_rows(
    rows: Vec<(i64, String, String, u64)>,
    since: Timestamp,
    bucket_ms: i64,
    cameras: Option<&dyn Fn(&str) -> bool>,
) -> Vec<TimelineBucket> {
    let mut out: Vec<TimelineBucket> = Vec::new();
    for (b, kind, camera, n) in rows {
        if cameras.is_some_and(|f| !f(&camera)) {
            continue;
        }
        let start = Timestamp::from_millis(since.millis() + b * bucket_ms);
        match out.last_mut() {
            Some(last) if last.start == start && last.kind == kind => last.count += n,
            _ => out.push(TimelineBucket {
                start,
                kind,
                count: n,
            }),
        }
    }
    out
}

pub(crate) fn parse_status(s: &str) -> Result<ReviewStatus, StoreError> {
    ReviewStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("review status {s:?}")))
}

fn load_state(c: &Connection, event_id: i64) -> Result<Option<ReviewState>, StoreError> {
    let row = c
        .prepare_cached(
            "SELECT e.kind, r.status, r.assignee, r.confirmed_by, r.updated
             FROM event e LEFT JOIN event_review r ON r.event_id = e.id WHERE e.id = ?1",
        )?
        .query_row([event_id], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<i64>>(4)?,
            ))
        })
        .optional()?;
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

/// Refuses to release (export, dispatch) a rejected event, or a biometric
/// match not yet confirmed by as many different users as its kind needs.
pub fn release_check(st: &ReviewState, verb: &str) -> Result<(), StoreError> {
    if st.status == ReviewStatus::Rejected {
        return Err(refused(format!(
            "the event was rejected as a false alarm and cannot be {verb}"
        )));
    }
    if st.confirmations_required > 1 && !st.releasable() {
        return Err(refused(format!(
            "two-person rule: a biometric match can be {verb} only after {} different users confirmed it ({} so far)",
            st.confirmations_required,
            st.confirmed_by.len()
        )));
    }
    Ok(())
}

/// The state machine, on an in-memory state.
fn transition(
    st: &mut ReviewState,
    actor: &str,
    action: ReviewAction,
    assignee: Option<&str>,
    comment: Option<&str>,
) -> Result<(), StoreError> {
    use ReviewStatus::*;
    match action {
        ReviewAction::Ack => {
            if st.status == New {
                st.status = Acknowledged;
            }
        }
        ReviewAction::Confirm => match st.status {
            Rejected => {
                return Err(refused(
                    "the event was rejected: reopen it (with a comment) before confirming",
                ))
            }
            Confirmed => return Err(refused("the event is already confirmed")),
            _ if st.confirmed_by.iter().any(|u| u == actor) => {
                return Err(refused(format!(
                    "two-person rule: {actor} already confirmed this event; a second, different user must confirm it"
                )))
            }
            _ => {
                st.confirmed_by.push(actor.to_owned());
                st.status = if st.confirmed_by.len() as u32 >= st.confirmations_required {
                    Confirmed
                } else {
                    PendingConfirmation
                };
            }
        },
        ReviewAction::Reject => {
            if comment.is_none() {
                return Err(refused(
                    "rejecting needs a comment saying why (it feeds the false-alarm statistics)",
                ));
            }
            if st.status == Confirmed {
                return Err(refused(
                    "the event is confirmed: reopen it (with a comment) before rejecting",
                ));
            }
            st.status = Rejected;
        }
        ReviewAction::Assign => {
            let Some(a) = assignee else {
                return Err(refused("assigning needs an assignee"));
            };
            st.assignee = Some(a.to_owned());
            if st.status == New {
                st.status = Acknowledged;
            }
        }
        ReviewAction::Comment => {
            if comment.is_none() {
                return Err(refused("a comment action needs a comment"));
            }
        }
        ReviewAction::Dispatch => release_check(st, "dispatched")?,
        ReviewAction::Reopen => {
            if comment.is_none() {
                return Err(refused("reopening needs a comment saying why"));
            }
            if !matches!(st.status, Confirmed | Rejected | PendingConfirmation) {
                return Err(refused("only a confirmed or rejected event can be reopened"));
            }
            st.status = Acknowledged;
            st.confirmed_by.clear();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Event;

    fn store_with(kinds: &[&str]) -> (tempfile::TempDir, Store, Vec<i64>) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let events = kinds
            .iter()
            .map(|k| Event::new("cam", *k, Timestamp::from_millis(1_000)))
            .collect();
        let ids = store
            .insert_events(events)
            .unwrap()
            .into_iter()
            .map(|e| e.id.unwrap())
            .collect();
        (dir, store, ids)
    }

    fn refused_with(r: Result<ReviewState, StoreError>, needle: &str) {
        match r {
            Err(StoreError::Refused(m)) => assert!(m.contains(needle), "{m}"),
            other => panic!("expected a refusal containing {needle:?}, got {other:?}"),
        }
    }

    #[test]
    fn dispatch_of_a_face_match_waits_for_two_confirmations() {
        let (_d, s, ids) = store_with(&[kinds::FACE_MATCH, "offence_speed"]);
        let (m, o) = (ids[0], ids[1]);
        refused_with(
            s.review(m, "ann", ReviewAction::Dispatch, None, None),
            "two-person rule",
        );
        s.review(m, "ann", ReviewAction::Confirm, None, None)
            .unwrap();
        refused_with(
            s.review(m, "ann", ReviewAction::Dispatch, None, None),
            "(1 so far)",
        );
        s.review(m, "bob", ReviewAction::Confirm, None, None)
            .unwrap();
        let st = s
            .review(m, "ann", ReviewAction::Dispatch, None, Some("unit 7"))
            .unwrap();
        assert_eq!(
            st.status,
            ReviewStatus::Confirmed,
            "dispatch keeps the status"
        );
        assert!(release_check(&st, "exported").is_ok());
        let last = s.review_history(m).unwrap().pop().unwrap();
        assert_eq!(last.action, ReviewAction::Dispatch);
        // An ordinary event dispatches at once, but never once rejected.
        s.review(o, "ann", ReviewAction::Dispatch, None, None)
            .unwrap();
        s.review(o, "ann", ReviewAction::Reject, None, Some("no car"))
            .unwrap();
        refused_with(
            s.review(o, "ann", ReviewAction::Dispatch, None, None),
            "rejected",
        );
    }

    #[test]
    fn ordinary_event_confirmed_by_one_user() {
        let (_d, s, ids) = store_with(&["offence_speed"]);
        let st = s.review_state(ids[0]).unwrap().unwrap();
        assert_eq!(
            (st.status, st.confirmations_required),
            (ReviewStatus::New, 1)
        );
        s.review(ids[0], "ann", ReviewAction::Ack, None, None)
            .unwrap();
        let st = s
            .review(
                ids[0],
                "ann",
                ReviewAction::Confirm,
                None,
                Some("plate visible"),
            )
            .unwrap();
        assert_eq!(st.status, ReviewStatus::Confirmed);
        assert!(st.releasable());
        let h = s.review_history(ids[0]).unwrap();
        let actions: Vec<_> = h.iter().map(|e| (e.action, e.status)).collect();
        assert_eq!(
            actions,
            vec![
                (ReviewAction::Ack, ReviewStatus::Acknowledged),
                (ReviewAction::Confirm, ReviewStatus::Confirmed)
            ]
        );
        assert_eq!(h[1].comment.as_deref(), Some("plate visible"));
    }

    #[test]
    fn face_match_needs_two_different_users() {
        let (_d, s, ids) = store_with(&["face_match"]);
        let st = s
            .review(ids[0], "ann", ReviewAction::Confirm, None, None)
            .unwrap();
        assert_eq!(st.status, ReviewStatus::PendingConfirmation);
        assert!(!st.releasable());
        refused_with(
            s.review(ids[0], "ann", ReviewAction::Confirm, None, None),
            "two-person rule",
        );
        let st = s
            .review(ids[0], "bob", ReviewAction::Confirm, None, None)
            .unwrap();
        assert_eq!(st.status, ReviewStatus::Confirmed);
        assert_eq!(st.confirmed_by, vec!["ann".to_string(), "bob".to_string()]);
        assert!(st.releasable());
    }

    #[test]
    fn reject_needs_a_reason_and_blocks_confirmation_until_reopened() {
        let (_d, s, ids) = store_with(&["face_match"]);
        refused_with(
            s.review(ids[0], "ann", ReviewAction::Reject, None, None),
            "comment",
        );
        refused_with(
            s.review(ids[0], "ann", ReviewAction::Reject, None, Some("   ")),
            "comment",
        );
        let st = s
            .review(
                ids[0],
                "ann",
                ReviewAction::Reject,
                None,
                Some("different person"),
            )
            .unwrap();
        assert_eq!(st.status, ReviewStatus::Rejected);
        refused_with(
            s.review(ids[0], "bob", ReviewAction::Confirm, None, None),
            "reopen",
        );
        refused_with(
            s.review(ids[0], "bob", ReviewAction::Reopen, None, None),
            "comment",
        );
        let st = s
            .review(
                ids[0],
                "bob",
                ReviewAction::Reopen,
                None,
                Some("second look"),
            )
            .unwrap();
        assert_eq!(st.status, ReviewStatus::Acknowledged);
        assert!(st.confirmed_by.is_empty());
    }

    #[test]
    fn assign_and_unknown_event() {
        let (_d, s, ids) = store_with(&["loitering"]);
        refused_with(
            s.review(ids[0], "ann", ReviewAction::Assign, None, None),
            "assignee",
        );
        let st = s
            .review(ids[0], "ann", ReviewAction::Assign, Some("bob"), None)
            .unwrap();
        assert_eq!(st.assignee.as_deref(), Some("bob"));
        assert_eq!(st.status, ReviewStatus::Acknowledged);
        refused_with(
            s.review(9_999, "ann", ReviewAction::Ack, None, None),
            "does not exist",
        );
        assert!(s.review_state(9_999).unwrap().is_none());
        assert!(matches!(
            s.review(ids[0], " ", ReviewAction::Ack, None, None),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn counts_by_status() {
        let (_d, s, ids) = store_with(&["offence_speed", "face_match", "fire", "fire"]);
        s.review(ids[0], "ann", ReviewAction::Confirm, None, None)
            .unwrap();
        s.review(ids[1], "ann", ReviewAction::Confirm, None, None)
            .unwrap();
        s.review(ids[2], "ann", ReviewAction::Reject, None, Some("sunset"))
            .unwrap();
        let c = s
            .review_counts(
                Timestamp::from_millis(0),
                Timestamp::from_millis(2_000),
                None,
                None,
            )
            .unwrap();
        assert_eq!(
            c,
            ReviewCounts {
                acknowledged: 0,
                pending_confirmation: 1,
                confirmed: 1,
                rejected: 1
            }
        );
        let none = s
            .review_counts(
                Timestamp::from_millis(2_000),
                Timestamp::from_millis(3_000),
                None,
                None,
            )
            .unwrap();
        assert_eq!(none, ReviewCounts::default());
        let other_cams: &dyn Fn(&str) -> bool = &|c| c != "cam";
        let hidden = s
            .review_counts(
                Timestamp::from_millis(0),
                Timestamp::from_millis(2_000),
                None,
                Some(other_cams),
            )
            .unwrap();
        assert_eq!(hidden, ReviewCounts::default());
        let faces = s
            .review_counts(
                Timestamp::from_millis(0),
                Timestamp::from_millis(2_000),
                Some("face_match"),
                None,
            )
            .unwrap();
        assert_eq!((faces.pending_confirmation, faces.confirmed), (1, 0));
    }

    #[test]
    fn timeline_buckets_by_kind_and_camera_filter() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let ev = |cam: &str, kind: &str, ms: i64| Event::new(cam, kind, Timestamp::from_millis(ms));
        s.insert_events(vec![
            ev("a", "fire", 0),
            ev("a", "fire", 500),
            ev("b", "fire", 999),
            ev("a", "loitering", 1_000),
            ev("b", "fire", 2_500),
            ev("a", "fire", 3_000),
        ])
        .unwrap();
        let t = s
            .event_timeline(
                Timestamp::from_millis(0),
                Timestamp::from_millis(3_000),
                1_000,
                None,
            )
            .unwrap();
        let got: Vec<(i64, &str, u64)> = t
            .iter()
            .map(|b| (b.start.millis(), b.kind.as_str(), b.count))
            .collect();
        assert_eq!(
            got,
            vec![(0, "fire", 3), (1_000, "loitering", 1), (2_000, "fire", 1)]
        );
        let only_a: &dyn Fn(&str) -> bool = &|c| c == "a";
        let t = s
            .event_timeline(
                Timestamp::from_millis(0),
                Timestamp::from_millis(3_000),
                1_000,
                Some(only_a),
            )
            .unwrap();
        let got: Vec<(i64, u64)> = t.iter().map(|b| (b.start.millis(), b.count)).collect();
        assert_eq!(got, vec![(0, 2), (1_000, 1)]);
        assert!(s
            .event_timeline(
                Timestamp::from_millis(5),
                Timestamp::from_millis(5),
                1_000,
                None
            )
            .is_err());
    }
}
