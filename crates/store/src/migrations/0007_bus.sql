-- Migration 7: idempotent ingest from the bus (issue 8, `kuzet worker`).
--
-- Delivery from NATS JetStream is at least once: a message is redelivered
-- when the server dies between the commit and the acknowledgement, and a
-- worker re-publishes what it never saw acknowledged. Every bus message
-- carries a deterministic id; the unique indexes below make a second copy a
-- no-op instead of a duplicate row. Rows written in embedded mode have NULL
-- there (NULLs never collide in a UNIQUE index).
-- The column is `dedupe_key`, the name the `StoreBackend` keyed ingest (and
-- PostgreSQL's schema) use for the same idea; migration 9 adds it to plate
-- reads and sightings.
ALTER TABLE event ADD COLUMN dedupe_key TEXT;
CREATE UNIQUE INDEX event_dedupe_key ON event (dedupe_key);

-- A worker's engine session ("worker id/start ms"), so that every message of
-- one session lands in one run however often it is redelivered, also across
-- a server restart. NULL for the server's own runs.
ALTER TABLE run ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX run_origin ON run (origin) WHERE origin IS NOT NULL;
