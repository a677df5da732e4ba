-- Migration 9: idempotency keys on the ingest tables (issue 8, distributed mode).
--
-- A worker publishes each event, plate read and face sighting with a
-- deterministic key; the bus delivers at least once, so the same row can
-- arrive twice (a redelivery, or a replay after a failover). Writes through
-- `StoreBackend` look the key up first and return the stored row's id instead
-- of inserting again. NULL keys (the embedded mode) are never compared:
-- SQLite and PostgreSQL both treat NULLs as distinct in a UNIQUE index.
--
-- Merge note: the bus branch's migration 0007 adds the same columns and
-- indexes under the same names. Where it has landed, this file must become a
-- no-op (keep the version, body `SELECT 1;`) so version numbers stay unique.
ALTER TABLE event ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX event_dedupe_key ON event (dedupe_key);
ALTER TABLE plate_reads ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX plate_reads_dedupe_key ON plate_reads (dedupe_key);
ALTER TABLE face_sighting ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX face_sighting_dedupe_key ON face_sighting (dedupe_key);
