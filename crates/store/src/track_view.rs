//! An event's track: the tracked object's summary (seen interval, frames,
//! best crop, sampled trajectory) and every event the same object raised, so
//! an operator sees what it did before and after the alert.
//!
//! Track ids restart with every run of the pipeline, so "the same object" is
//! the same (run, camera, track id). Events stored without a run (tests,
//! imports) are matched by camera and track id within [`NO_RUN_WINDOW_MS`] of
//! the event instead, because their ids may repeat across runs.

use crate::read::{event_from_row, track_from_row, EVENT_COLUMNS};
use crate::{Store, StoreError, TrackRecord};
use base::Event;
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// Most events of one track returned.
pub const MAX_TRACK_EVENTS: usize = 500;
/// Window around an event without a run within which events of the same
/// camera and track id count as the same object.
pub const NO_RUN_WINDOW_MS: i64 = 3_600_000;

/// What [`Store::event_track`] returns for an existing event.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EventTrack {
    /// The stored track summary; `None` when the event has no track id or the
    /// track was not stored (still images, a run that stopped first).
    pub track: Option<TrackRecord>,
    /// Every event of the same object, oldest first (the event itself
    /// included); empty when the event has no track id.
    pub events: Vec<Event>,
    /// More events exist than were returned.
    pub truncated: bool,
}

impl Store {
    /// The track of event `id` and the events of the same object; `None` when
    /// no event has this id.
    pub fn event_track(&self, id: i64) -> Result<Option<EventTrack>, StoreError> {
        self.readers.with(|c| {
            let key: Option<(Option<i64>, String, Option<i64>, i64)> = c
                .prepare_cached("SELECT run_id, camera, track_id, ts FROM event WHERE id = ?1")?
                .query_row([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                .optional()?;
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
                Some(run) => c
                    .prepare_cached(
                        "SELECT run_id, camera, track_id, label, first_seen, last_seen, frames,
                                best_score, best_crop, trajectory_json
                         FROM track WHERE run_id = ?1 AND camera = ?2 AND track_id = ?3",
                    )?
                    .query_row(params![run, camera, track_id], track_from_row)
                    .optional()?,
                None => None,
            };
            // `run_id IS ?` matches NULL to NULL; the time window only
            // matters for run-less events (see the module note).
            let (from, to) = match run {
                Some(_) => (i64::MIN, i64::MAX),
                None => (ts - NO_RUN_WINDOW_MS, ts + NO_RUN_WINDOW_MS),
            };
            let mut st = c.prepare_cached(&format!(
                "SELECT {EVENT_COLUMNS} FROM event
                 WHERE camera = ?1 AND track_id = ?2 AND run_id IS ?3 AND ts BETWEEN ?4 AND ?5
                 ORDER BY ts, id LIMIT ?6"
            ))?;
            let mut events = st
                .query_map(
                    params![camera, track_id, run, from, to, MAX_TRACK_EVENTS as i64 + 1],
                    event_from_row,
                )?
                .collect::<Result<Vec<_>, _>>()?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TrajectoryPoint;
    use base::Timestamp;

    fn ev(cam: &str, kind: &str, ts: i64, track: Option<u64>) -> Event {
        let mut e = Event::new(cam, kind, Timestamp(ts));
        e.track_id = track;
        e
    }

    #[test]
    fn an_events_track_and_the_events_of_the_same_object() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let run = store.begin_run().unwrap();
        store
            .upsert_tracks(vec![TrackRecord {
                run_id: run,
                camera: "gate".into(),
                track_id: 7,
                label: Some("person".into()),
                first_seen: Timestamp(1_000),
                last_seen: Timestamp(9_000),
                frames: 40,
                best_score: 0.9,
                best_crop: None,
                trajectory: vec![
                    TrajectoryPoint {
                        ts: Timestamp(1_000),
                        x: 10.0,
                        y: 20.0,
                    },
                    TrajectoryPoint {
                        ts: Timestamp(9_000),
                        x: 50.0,
                        y: 60.0,
                    },
                ],
            }])
            .unwrap();
        let stored = store
            .insert_events(vec![
                ev("gate", "zone_enter", 2_000, Some(7)),
                ev("gate", "loitering", 8_000, Some(7)),
                ev("gate", "zone_enter", 3_000, Some(8)), // another object
                ev("yard", "zone_enter", 3_000, Some(7)), // another camera
                ev("gate", "crowd_density", 4_000, None), // no track
            ])
            .unwrap();
        store.flush().unwrap();
        let id = |i: usize| stored[i].id.unwrap();
        let t = store.event_track(id(1)).unwrap().unwrap();
        let tr = t.track.expect("the stored track");
        assert_eq!((tr.track_id, tr.frames, tr.trajectory.len()), (7, 40, 2));
        let kinds: Vec<&str> = t.events.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["zone_enter", "loitering"],
            "oldest first, same object only"
        );
        assert!(!t.truncated);
        // No track id: an empty answer, not an error; no event: None.
        let none = store.event_track(id(4)).unwrap().unwrap();
        assert!(none.track.is_none() && none.events.is_empty());
        assert!(store.event_track(999_999).unwrap().is_none());
    }
}
