-- The current full schema of kuzet.db, for reading. It is NOT executed by the
-- binary: databases are built by applying migrations/NNNN_*.sql in order, and
-- a test checks that this file and the migrations produce identical schemas.
-- Schema version: 2

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
  pid INTEGER,
  -- A worker's engine session, "worker id/start ms", for runs created by the
  -- bus ingest (migration 7); NULL for this process's own runs.
  origin TEXT
);
CREATE UNIQUE INDEX run_origin ON run (origin) WHERE origin IS NOT NULL;

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
  evidence TEXT,
  -- Idempotency key of a bus delivery (migration 7): the deterministic id of
  -- the message it came from; NULL in embedded mode. Unique, so a redelivered
  -- message is not stored twice.
  dedupe_key TEXT
);
CREATE UNIQUE INDEX event_dedupe_key ON event (dedupe_key);

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
  created INTEGER NOT NULL,
  -- Migration 13: key that sealed the file (face crops); NULL = plain JPEG.
  key_id TEXT
) WITHOUT ROWID;

-- Sealed (AES-256-GCM) originals of evidence whose bystanders were masked
-- (migration 10); keyed by the masked JPEG's hash, opened only by an
-- audited un-mask. `key_id` names the key that sealed it.
CREATE TABLE evidence_original (
  hash TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  sealed BLOB NOT NULL,
  regions INTEGER NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX evidence_original_key ON evidence_original (key_id);
-- The sealed original goes with its evidence row (migration 11).
CREATE TRIGGER evidence_original_follows AFTER DELETE ON evidence
BEGIN
  DELETE FROM evidence_original WHERE hash = OLD.hash;
END;

-- Face watchlists (migration 2): lists, persons, face templates.
-- One list per purpose. `threshold` is the cosine similarity at or above which
-- a candidate of this list is a match; `priority` orders simultaneous matches.
CREATE TABLE watchlist (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL CHECK (category IN ('wanted', 'missing', 'debtor', 'custom')),
  threshold REAL NOT NULL,
  priority INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL
);

-- An enrolled person. case_number / authority / expires are the legal basis
-- of the entry, enforced by the privacy work; NULL = not recorded.
CREATE TABLE person (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  watchlist_id INTEGER NOT NULL REFERENCES watchlist (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  notes TEXT,
  case_number TEXT,
  authority TEXT,
  expires INTEGER,
  created INTEGER NOT NULL,
  -- Migration 3: JSON array of camera ids the entry may match on (NULL =
  -- all), and whether it is temporary (lost-child mode).
  cameras_json TEXT,
  temporary INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX person_watchlist ON person (watchlist_id);

-- A face template: the L2-normalised embedding as little-endian f32, tagged
-- with the manifest key of the model that made it (templates of different
-- models are not comparable). quality_json is the face's quality record;
-- photo_hash the SHA-256 of the enrolment photo when photos are kept.
CREATE TABLE face_template (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  person_id INTEGER NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  embedding BLOB NOT NULL,
  quality_json TEXT NOT NULL DEFAULT '{}',
  photo_hash TEXT,
  created INTEGER NOT NULL,
  -- Migration 13: key that sealed `embedding` (AES-256-GCM, associated data
  -- "face_template:<id>"); NULL = plain f32, written before migration 13.
  key_id TEXT
);
CREATE INDEX face_template_person ON face_template (person_id);
-- Face sightings (migration 3).
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
  created INTEGER NOT NULL,
  dedupe_key TEXT,
  -- Migration 13: key that sealed `embedding` (associated data
  -- "face_sighting:<id>"); NULL = plain f32, written before migration 13.
  key_id TEXT
);
CREATE UNIQUE INDEX face_sighting_dedupe_key ON face_sighting (dedupe_key);
CREATE INDEX face_sighting_ts ON face_sighting (ts);
CREATE INDEX face_sighting_camera_ts ON face_sighting (camera, ts);

-- Watchlist change counters (migration 3), bumped by triggers.
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
-- Plate reads and hotlists (migration 4).
--
-- A plate read is the voted result of one vehicle track (or one still
-- image): the plate text, how sure the vote is, what kind and colour of
-- vehicle carried it, and evidence (plate crop, vehicle crop, frame). Reads
-- answer "when and where was this plate seen?" and are kept for
-- `[plates] read_retention_days`.
CREATE TABLE plate_reads (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  camera TEXT NOT NULL,
  run_id INTEGER,
  track_id INTEGER,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
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
  created INTEGER NOT NULL,
  dedupe_key TEXT
);
CREATE UNIQUE INDEX plate_reads_dedupe_key ON plate_reads (dedupe_key);
CREATE INDEX plate_reads_first_seen ON plate_reads (first_seen);
CREATE INDEX plate_reads_camera_first_seen ON plate_reads (camera, first_seen);
CREATE INDEX plate_reads_plate ON plate_reads (plate);

-- Hotlists: named lists of wanted plates (stolen, wanted, expired permit…).
CREATE TABLE hotlists (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL
);
-- One wanted plate. `plate` as entered, `plate_norm` its A-Z0-9 form that
-- reads are matched against; `expires` in Unix ms (NULL = never).
CREATE TABLE hotlist_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hotlist_id INTEGER NOT NULL REFERENCES hotlists (id) ON DELETE CASCADE,
  plate TEXT NOT NULL,
  plate_norm TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  expires INTEGER,
  notes TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL
);
CREATE INDEX hotlist_entries_hotlist ON hotlist_entries (hotlist_id);
CREATE INDEX hotlist_entries_plate ON hotlist_entries (plate_norm);

-- A running pipeline reloads its hotlists when this counter moves (an entry
-- added by the CLI or the API reaches live cameras without a restart).
INSERT INTO change_counter (name, value) VALUES ('hotlists', 0);
CREATE TRIGGER hotlist_entries_insert AFTER INSERT ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlist_entries_update AFTER UPDATE ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlist_entries_delete AFTER DELETE ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlists_delete AFTER DELETE ON hotlists BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;


-- Operators' review of events (migration 0006_reviews; see there).
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

-- Users, sessions, API tokens and the audit log (migration 5).
CREATE TABLE user_account (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  groups_json TEXT NOT NULL DEFAULT '[]',
  password_hash TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL,
  -- Owners whose cameras the user may see (migration 14); empty = any.
  owners_json TEXT NOT NULL DEFAULT '[]'
);

-- A web-app login. Expires after `idle` without use or at `created` plus the
-- absolute lifetime, whichever comes first (both checked by the server).
CREATE TABLE user_session (
  id_hash TEXT PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
  created INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  remote TEXT
);
CREATE INDEX user_session_user ON user_session (user_id);

-- A named bearer token for a machine (scraper, integration), acting as its
-- user. Revoked tokens are kept (with the time) so the audit trail can name them.
CREATE TABLE api_token (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  user_id INTEGER NOT NULL REFERENCES user_account (id) ON DELETE CASCADE,
  token_hash TEXT NOT NULL UNIQUE,
  created INTEGER NOT NULL,
  last_used INTEGER,
  revoked INTEGER
);

-- Append-only, hash-chained audit log: `hash` = SHA-256 over the canonical
-- row (every other column) and `prev_hash`, so any edit, deletion, insertion
-- or reordering breaks the chain from that entry on (`kuzet audit verify`).
CREATE TABLE audit_log (
  seq INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
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
-- The application never changes or removes an entry; these triggers make an
-- accidental UPDATE or DELETE fail loudly. Someone with the file can drop
-- them, which is what the hash chain is for.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN
  SELECT RAISE(ABORT, 'audit_log is append-only');
END;

-- Legal authorisations for biometric identification (migration 8).
CREATE TABLE authorisation (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  -- live | retrospective | both
  purpose TEXT NOT NULL,
  legal_ground TEXT NOT NULL,
  authority TEXT NOT NULL,
  decision_ref TEXT NOT NULL,
  -- The cameras/groups as requested, and the camera ids they resolved to
  -- (JSON array) when the authorisation was recorded.
  scope_text TEXT NOT NULL,
  cameras_json TEXT NOT NULL,
  -- JSON array of watchlist names; `list_class` (missing | criminal) keeps
  -- missing-person lists apart from the others: a list of the other class
  -- never matches under this authorisation, whatever its name.
  watchlists_json TEXT NOT NULL,
  list_class TEXT NOT NULL,
  -- Footage/matching time window (epoch ms; NULL = unbounded on that side).
  window_start INTEGER,
  window_end INTEGER,
  expires INTEGER NOT NULL,
  urgent INTEGER NOT NULL,
  requested_by TEXT NOT NULL,
  requested INTEGER NOT NULL,
  approved_by TEXT,
  approved INTEGER,
  revoked_by TEXT,
  revoked INTEGER,
  revoke_reason TEXT,
  -- When an unapproved urgent authorisation was stopped, and what was purged.
  lapsed INTEGER,
  purge_json TEXT
);
CREATE INDEX authorisation_expires ON authorisation (expires);

-- Each use of an authorisation by a retrospective search or lost-child
-- call, with the watchlist entry it created (lost-child), so a lapse can
-- purge what the use produced.
CREATE TABLE authorisation_use (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  authorisation_id INTEGER NOT NULL REFERENCES authorisation (id),
  ts INTEGER NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  person_id INTEGER
);
CREATE INDEX authorisation_use_auth ON authorisation_use (authorisation_id);

INSERT INTO change_counter (name, value) VALUES ('authorisations', 0);
CREATE TRIGGER authorisation_insert AFTER INSERT ON authorisation BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'authorisations';
END;
CREATE TRIGGER authorisation_update AFTER UPDATE ON authorisation BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'authorisations';
END;

-- Evidence locks (migration 11): a locked event, its evidence, the sightings
-- and plate read its details name and its track survive retention. Unlocking
-- deletes the row; the audit log keeps the history.
CREATE TABLE event_lock (
  event_id INTEGER PRIMARY KEY REFERENCES event (id),
  case_ref TEXT NOT NULL,
  reason TEXT NOT NULL,
  locked_by TEXT NOT NULL,
  locked INTEGER NOT NULL
);
CREATE INDEX evidence_created ON evidence (created);
CREATE INDEX track_last_seen ON track (last_seen);

-- Evidence per camera (migration 12): which cameras' events name an evidence file anywhere in
-- their details (frames, offence packages, video clips), so the evidence
-- route can apply a group-scoped user's camera scope to every such file,
-- not only to an event's main crop. Kept by triggers, so every writer
-- (inserts, a clip attached later) maintains it; an evidence row takes its
-- links with it when retention deletes it.
CREATE TABLE evidence_camera (
  hash TEXT NOT NULL,
  camera TEXT NOT NULL,
  PRIMARY KEY (hash, camera)
) WITHOUT ROWID;
CREATE TRIGGER evidence_camera_on_insert AFTER INSERT ON event
WHEN NEW.details_json IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT value, NEW.camera FROM json_tree(NEW.details_json)
  WHERE type = 'text' AND length(value) = 64 AND value NOT GLOB '*[^0-9a-f]*';
END;
CREATE TRIGGER evidence_camera_on_update AFTER UPDATE OF details_json ON event
WHEN NEW.details_json IS NOT NULL
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT value, NEW.camera FROM json_tree(NEW.details_json)
  WHERE type = 'text' AND length(value) = 64 AND value NOT GLOB '*[^0-9a-f]*';
END;
CREATE TRIGGER evidence_camera_follows AFTER DELETE ON evidence
BEGIN
  DELETE FROM evidence_camera WHERE hash = OLD.hash;
END;
-- Sealed face data (migration 13): which rows and files each key sealed, so
-- a rotation finds what it still has to re-seal.
CREATE INDEX face_template_key ON face_template (key_id);
CREATE INDEX face_sighting_key ON face_sighting (key_id);
CREATE INDEX evidence_key ON evidence (key_id) WHERE key_id IS NOT NULL;
-- Agreement terms changed at run time (migration 15): only narrow the
-- config's; NULL = as configured.
CREATE TABLE agreement_terms (
  owner TEXT PRIMARY KEY,
  analytics_json TEXT,
  viewer_roles_json TEXT,
  retention_days REAL,
  changed_by TEXT NOT NULL,
  changed_at INTEGER NOT NULL,
  reason TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO change_counter (name, value) VALUES ('agreements', 0);
CREATE TRIGGER agreement_terms_insert AFTER INSERT ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;
CREATE TRIGGER agreement_terms_update AFTER UPDATE ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;
CREATE TRIGGER agreement_terms_delete AFTER DELETE ON agreement_terms BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'agreements';
END;
-- Plate-read evidence per camera (migration 16): a read's crops and frame
-- belong to its camera for the evidence route's camera scope.
CREATE TRIGGER evidence_camera_on_plate_read AFTER INSERT ON plate_reads
BEGIN
  INSERT OR IGNORE INTO evidence_camera (hash, camera)
  SELECT h, NEW.camera FROM (
    SELECT NEW.plate_crop AS h UNION SELECT NEW.vehicle_crop UNION SELECT NEW.frame
  ) WHERE h IS NOT NULL;
END;
