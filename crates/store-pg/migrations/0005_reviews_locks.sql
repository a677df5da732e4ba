-- PostgreSQL schema 5: operators' reviews and evidence locks beside the
-- events they are about (SQLite migrations 6 and 11, column for column).
--
-- With `kuzet serve --database` the events live here, so what operators
-- decide about them must too: the review's state machine (the two-person
-- rule for biometric matches) runs in the same transaction that reads the
-- event, and a lock is seen by the retention pass that would delete it.
-- Reviews go with their event (retention deletes an unlocked event with its
-- history, as SQLite's pass does); a lock holds its event, so a locked event
-- is never deleted while the lock stands.
CREATE TABLE event_review (
  event_id BIGINT PRIMARY KEY REFERENCES event (id) ON DELETE CASCADE,
  -- new | acknowledged | pending_confirmation | confirmed | rejected
  status TEXT NOT NULL,
  assignee TEXT,
  -- JSON array of the distinct users who confirmed, in order.
  confirmed_by TEXT NOT NULL DEFAULT '[]',
  updated BIGINT NOT NULL
);
CREATE INDEX event_review_status ON event_review (status, event_id);

CREATE TABLE event_review_action (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  event_id BIGINT NOT NULL REFERENCES event (id) ON DELETE CASCADE,
  ts BIGINT NOT NULL,
  actor TEXT NOT NULL,
  -- ack | confirm | reject | assign | comment | reopen | dispatch
  action TEXT NOT NULL,
  assignee TEXT,
  comment TEXT,
  -- The status after the action.
  status TEXT NOT NULL
);
CREATE INDEX event_review_action_event ON event_review_action (event_id, id);

CREATE TABLE event_lock (
  event_id BIGINT PRIMARY KEY REFERENCES event (id),
  case_ref TEXT NOT NULL,
  reason TEXT NOT NULL,
  locked_by TEXT NOT NULL,
  locked BIGINT NOT NULL
);

-- An event's track view (`GET /api/events/{id}/track`) finds the other
-- events of the same object by camera and track id.
CREATE INDEX event_camera_track ON event (camera, track_id, ts) WHERE track_id IS NOT NULL;
