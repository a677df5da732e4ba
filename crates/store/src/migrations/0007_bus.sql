-- Migration 7: idempotent ingest from the bus (issue 8, `kuzet worker`).
--
-- Delivery from NATS JetStream is at least once: a message is redelivered
-- when the server dies between the commit and the acknowledgement, and a
-- worker re-publishes what it never saw acknowledged. Every bus message
-- carries a deterministic id; the unique indexes below make a second copy a
-- no-op instead of a duplicate row. Rows written in embedded mode have NULL
-- there (NULLs never collide in a UNIQUE index).
ALTER TABLE event ADD COLUMN msg_id TEXT;
CREATE UNIQUE INDEX event_msg_id ON event (msg_id) WHERE msg_id IS NOT NULL;

-- A worker's engine session ("worker id/start ms"), so that every message of
-- one session lands in one run however often it is redelivered, also across
-- a server restart. NULL for the server's own runs.
ALTER TABLE run ADD COLUMN origin TEXT;
CREATE UNIQUE INDEX run_origin ON run (origin) WHERE origin IS NOT NULL;
