-- Migration 11: retention per data class and the evidence lock (issue 7).
--
-- A locked event is case material: the retention job skips it, its evidence
-- files, the face sightings and plate read its details name, and its track.
-- One row per locked event; unlocking deletes the row (the audit log keeps
-- who locked and unlocked, when and why).
CREATE TABLE event_lock (
  event_id INTEGER PRIMARY KEY REFERENCES event (id),
  case_ref TEXT NOT NULL,
  reason TEXT NOT NULL,
  locked_by TEXT NOT NULL,
  locked INTEGER NOT NULL
);
-- The retention job selects by age: evidence by `created`, tracks by
-- `last_seen` (events, sightings and plate reads have time indexes already).
CREATE INDEX evidence_created ON evidence (created);
CREATE INDEX track_last_seen ON track (last_seen);
-- Deletion is real: the sealed original of masked evidence (migration 10)
-- goes with its evidence row, whoever deletes it (retention, a lapse purge,
-- plate and sighting purges).
CREATE TRIGGER evidence_original_follows AFTER DELETE ON evidence
BEGIN
  DELETE FROM evidence_original WHERE hash = OLD.hash;
END;
