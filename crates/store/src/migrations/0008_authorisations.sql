-- Migration 8: legal authorisations for biometric identification (issue 7).
--
-- Live face matching on a camera and every retrospective face search need an
-- authorisation naming its legal ground, the issuing authority and decision,
-- and its scope (cameras, watchlists, a time window) and expiry. An urgent
-- one takes effect at once and lapses, its results purged, when no approval
-- is recorded in time (24 h live, 48 h retrospective). Rows are never
-- deleted: revocation and lapse are recorded in place.
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
