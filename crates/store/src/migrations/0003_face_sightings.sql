-- Migration 3: face sightings and live watchlist changes (issue 3).
--
-- A sighting is one face seen by a camera that passed the quality gate: its
-- embedding, where and when, and the evidence crop. Sightings answer "where
-- and when was this person seen?" and are kept only for the configured
-- retention (matched sightings may be kept longer than unmatched ones).
CREATE TABLE face_sighting (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  camera TEXT NOT NULL,
  ts INTEGER NOT NULL,
  run_id INTEGER,
  track_id INTEGER,
  model TEXT NOT NULL,
  embedding BLOB NOT NULL,
  x1 REAL NOT NULL,
  y1 REAL NOT NULL,
  x2 REAL NOT NULL,
  y2 REAL NOT NULL,
  quality REAL NOT NULL,
  crop TEXT,
  matched_person INTEGER,
  created INTEGER NOT NULL
);
CREATE INDEX face_sighting_ts ON face_sighting (ts);
CREATE INDEX face_sighting_camera_ts ON face_sighting (camera, ts);

-- Scope of an entry: a JSON array of camera ids it may match on (NULL = every
-- camera), and whether it is temporary (lost-child mode; it expires).
ALTER TABLE person ADD COLUMN cameras_json TEXT;
ALTER TABLE person ADD COLUMN temporary INTEGER NOT NULL DEFAULT 0;

-- Counters bumped by triggers whenever the watchlists change, so a running
-- `kuzet serve` notices enrolments made by another process (the CLI) with
-- one cheap read instead of reloading every template.
CREATE TABLE change_counter (
  name TEXT PRIMARY KEY,
  value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO change_counter (name, value) VALUES ('watchlists', 0);
CREATE TRIGGER face_template_insert AFTER INSERT ON face_template BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'watchlists';
END;
CREATE TRIGGER face_template_delete AFTER DELETE ON face_template BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'watchlists';
END;
CREATE TRIGGER person_update AFTER UPDATE ON person BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'watchlists';
END;
CREATE TRIGGER watchlist_update AFTER UPDATE ON watchlist BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'watchlists';
END;
