-- Migration 1: the initial schema.
--
-- Migrations are append-only: once released, a migration file is never edited;
-- a change is a new numbered file. `schema.sql` shows the resulting full schema.
--
-- Times are INTEGER milliseconds since the Unix epoch (UTC), the same unit as
-- `kuzet_base::Timestamp`, so they compare and index cheaply.

-- One row per applied migration: an audit trail of when a database was
-- upgraded. `PRAGMA user_version` is the authoritative number (it is read before
-- any table exists); this table is for humans.
CREATE TABLE schema_version (
  version INTEGER PRIMARY KEY,
  applied INTEGER NOT NULL,
  notes TEXT
);

-- One row per process run (each `Store::begin_run`). Tracker ids restart at 1
-- in every run, so a track is only identified by (run, camera, track id).
CREATE TABLE run (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  started INTEGER NOT NULL,
  ended INTEGER,
  version TEXT NOT NULL,
  pid INTEGER
);

CREATE TABLE camera (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}',
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
) WITHOUT ROWID;

-- Summary of one tracked object. `camera` deliberately has no foreign key:
-- analytics must never lose a track because the camera row was not written yet.
CREATE TABLE track (
  run_id INTEGER NOT NULL REFERENCES run (id),
  camera TEXT NOT NULL,
  track_id INTEGER NOT NULL,
  label TEXT,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  frames INTEGER NOT NULL,
  best_score REAL NOT NULL,
  -- Evidence hash of the best crop (see the evidence table).
  best_crop TEXT,
  -- JSON array of sampled points [{"ts":…,"x":…,"y":…}, …].
  trajectory_json TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (run_id, camera, track_id)
) WITHOUT ROWID;

CREATE INDEX track_camera_last_seen ON track (camera, last_seen);

-- Events are the acknowledged facts. No foreign keys on camera or evidence: an
-- event is accepted whatever else was or was not persisted before it.
CREATE TABLE event (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  camera TEXT NOT NULL,
  kind TEXT NOT NULL,
  ts INTEGER NOT NULL,
  run_id INTEGER REFERENCES run (id),
  track_id INTEGER,
  label TEXT,
  rule TEXT,
  -- Bounding box in frame pixels; all four NULL when the event has none.
  x1 REAL,
  y1 REAL,
  x2 REAL,
  y2 REAL,
  score REAL NOT NULL,
  -- Kind-specific JSON; NULL stands for JSON null.
  details_json TEXT,
  evidence TEXT
);

-- Each index ends implicitly in the rowid (= id), so "ORDER BY ts DESC, id DESC"
-- is served straight from them.
CREATE INDEX event_ts ON event (ts);
CREATE INDEX event_camera_ts ON event (camera, ts);
CREATE INDEX event_kind_ts ON event (kind, ts);

-- Evidence JPEGs live as files named by their SHA-256; this table records
-- which exist so they can be counted, audited and garbage-collected.
CREATE TABLE evidence (
  hash TEXT PRIMARY KEY,
  bytes INTEGER NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
