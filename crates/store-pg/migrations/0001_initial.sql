-- PostgreSQL schema 1 of kuzet: the tables behind `StoreBackend`, mirroring
-- the SQLite schema (crates/store/src/schema.sql) column for column so the two
-- backends answer the same queries the same way. Times are BIGINT Unix
-- milliseconds, as in SQLite; boxes and scores are REAL (f32, what the
-- pipeline produces); embeddings are BYTEA of little-endian f32, byte-identical
-- to SQLite's BLOBs so rows can be copied between backends unchanged.
--
-- `dedupe_key` on the three ingest tables is the idempotency key of a bus
-- delivery (same name as SQLite migrations 0007/0009). UNIQUE treats NULLs as
-- distinct, so embedded-mode rows without a key never collide.

CREATE TABLE run (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  started BIGINT NOT NULL,
  ended BIGINT,
  version TEXT NOT NULL,
  pid BIGINT
);

CREATE TABLE camera (
  id TEXT PRIMARY KEY,
  name TEXT NOT NULL,
  url TEXT NOT NULL,
  config_json TEXT NOT NULL DEFAULT '{}',
  created BIGINT NOT NULL,
  updated BIGINT NOT NULL
);

CREATE TABLE track (
  run_id BIGINT NOT NULL REFERENCES run (id),
  camera TEXT NOT NULL,
  track_id BIGINT NOT NULL,
  label TEXT,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  frames BIGINT NOT NULL,
  best_score REAL NOT NULL,
  best_crop TEXT,
  trajectory_json TEXT NOT NULL DEFAULT '[]',
  PRIMARY KEY (run_id, camera, track_id)
);
CREATE INDEX track_camera_last_seen ON track (camera, last_seen);

CREATE TABLE event (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  camera TEXT NOT NULL,
  kind TEXT NOT NULL,
  ts BIGINT NOT NULL,
  run_id BIGINT REFERENCES run (id),
  track_id BIGINT,
  label TEXT,
  rule TEXT,
  x1 REAL,
  y1 REAL,
  x2 REAL,
  y2 REAL,
  score REAL NOT NULL,
  details_json TEXT,
  evidence TEXT,
  dedupe_key TEXT UNIQUE
);
-- Unlike SQLite's, PostgreSQL indexes do not end in the row id implicitly:
-- the id is named so "ORDER BY ts DESC, id DESC" is served by an index scan.
CREATE INDEX event_ts ON event (ts, id);
CREATE INDEX event_camera_ts ON event (camera, ts, id);
CREATE INDEX event_kind_ts ON event (kind, ts, id);

CREATE TABLE evidence (
  hash TEXT PRIMARY KEY,
  bytes BIGINT NOT NULL,
  width INTEGER NOT NULL,
  height INTEGER NOT NULL,
  created BIGINT NOT NULL
);

CREATE TABLE face_sighting (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  camera TEXT NOT NULL,
  ts BIGINT NOT NULL,
  run_id BIGINT,
  track_id BIGINT,
  model TEXT NOT NULL,
  embedding BYTEA NOT NULL,
  x1 REAL NOT NULL,
  y1 REAL NOT NULL,
  x2 REAL NOT NULL,
  y2 REAL NOT NULL,
  quality REAL NOT NULL,
  crop TEXT,
  matched_person BIGINT,
  created BIGINT NOT NULL,
  dedupe_key TEXT UNIQUE
);
CREATE INDEX face_sighting_ts ON face_sighting (ts);
CREATE INDEX face_sighting_camera_ts ON face_sighting (camera, ts);

CREATE TABLE plate_reads (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  camera TEXT NOT NULL,
  run_id BIGINT,
  track_id BIGINT,
  first_seen BIGINT NOT NULL,
  last_seen BIGINT NOT NULL,
  plate TEXT NOT NULL,
  raw_text TEXT NOT NULL DEFAULT '',
  format TEXT,
  country TEXT,
  confidence REAL NOT NULL,
  votes INTEGER NOT NULL,
  agreeing INTEGER NOT NULL,
  vehicle_type TEXT,
  colour TEXT,
  plate_crop TEXT,
  vehicle_crop TEXT,
  frame TEXT,
  hotlist_hits INTEGER NOT NULL DEFAULT 0,
  created BIGINT NOT NULL,
  dedupe_key TEXT UNIQUE
);
CREATE INDEX plate_reads_first_seen ON plate_reads (first_seen);
CREATE INDEX plate_reads_camera_first_seen ON plate_reads (camera, first_seen);
-- text_pattern_ops: lets "plate LIKE 'AB%'" use the index whatever the
-- database collation is.
CREATE INDEX plate_reads_plate ON plate_reads (plate text_pattern_ops);

CREATE TABLE audit_log (
  seq BIGINT PRIMARY KEY,
  ts BIGINT NOT NULL,
  actor TEXT,
  remote TEXT,
  action TEXT NOT NULL,
  target TEXT,
  reason TEXT,
  outcome TEXT NOT NULL,
  details_json TEXT NOT NULL,
  prev_hash TEXT NOT NULL,
  hash TEXT NOT NULL
);
-- As in SQLite: an accidental UPDATE or DELETE fails loudly; the hash chain
-- catches whoever drops the trigger.
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
  RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
  FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
