-- Migration 6: operators' review of events (issue 6; two-person rule of issue 7).
--
-- An event is a fact the pipeline acknowledged; what people decided about it
-- is kept apart so the event row never changes. `event_review` is the
-- current state (absent = new), `event_review_action` the history of every
-- action with who, when and why, append-only.
CREATE TABLE event_review (
  event_id INTEGER PRIMARY KEY REFERENCES event (id),
  -- new | acknowledged | pending_confirmation | confirmed | rejected
  status TEXT NOT NULL,
  assignee TEXT,
  -- JSON array of the distinct users who confirmed, in order.
  confirmed_by TEXT NOT NULL DEFAULT '[]',
  updated INTEGER NOT NULL
);
CREATE INDEX event_review_status ON event_review (status, event_id);

CREATE TABLE event_review_action (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  event_id INTEGER NOT NULL REFERENCES event (id),
  ts INTEGER NOT NULL,
  actor TEXT NOT NULL,
  -- ack | confirm | reject | assign | comment | reopen
  action TEXT NOT NULL,
  assignee TEXT,
  comment TEXT,
  -- The status after the action.
  status TEXT NOT NULL
);
CREATE INDEX event_review_action_event ON event_review_action (event_id, id);
