-- Migration 2: face watchlists (issue 3).
--
-- A watchlist holds persons; a person holds one or more face templates (an
-- embedding per accepted enrolment photo). Deleting a person deletes their
-- templates (ON DELETE CASCADE, and explicitly by the store), so a removed
-- person can never be matched again.

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
  created INTEGER NOT NULL
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
  created INTEGER NOT NULL
);
CREATE INDEX face_template_person ON face_template (person_id);
