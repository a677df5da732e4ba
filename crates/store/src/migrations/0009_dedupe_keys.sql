-- Migration 9: idempotency keys on the ingest tables (issue 8, distributed mode).
--
-- A worker publishes each event, plate read and face sighting with a
-- deterministic key; the bus delivers at least once, so the same row can
-- arrive twice (a redelivery, or a replay after a failover). Writes through
-- `StoreBackend` look the key up first and return the stored row's id instead
-- of inserting again. NULL keys (the embedded mode) are never compared:
-- SQLite and PostgreSQL both treat NULLs as distinct in a UNIQUE index.
-- `event.dedupe_key` came with migration 7 (the bus); this adds the same key
-- to the two other ingest tables.
ALTER TABLE plate_reads ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX plate_reads_dedupe_key ON plate_reads (dedupe_key);
ALTER TABLE face_sighting ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX face_sighting_dedupe_key ON face_sighting (dedupe_key);
