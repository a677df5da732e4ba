-- Migration 5: users, sessions, API tokens and the hash-chained audit log
-- (issue 7). Secrets are never stored: passwords as argon2id PHC strings,
-- session ids and API tokens as SHA-256 hex of the random value.

-- A person or machine that may use the API. `role` is one of viewer,
-- operator, investigator, supervisor, auditor, admin; `groups_json` lists the
-- camera groups the user may see ('[]' = every camera).
CREATE TABLE user_account (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  groups_json TEXT NOT NULL DEFAULT '[]',
  password_hash TEXT NOT NULL,
  created INTEGER NOT NULL,
  updated INTEGER NOT NULL
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
