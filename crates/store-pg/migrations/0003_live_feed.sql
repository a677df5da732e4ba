-- PostgreSQL schema 3: the live event stream and camera-scoped evidence.
--
-- Every statement that inserts events notifies channel `kuzet_event`; each
-- `kuzet serve` listening on the database then reads the new rows by id.
-- That is exact because event ids grow in commit order: the ingest takes a
-- transaction-level advisory lock before inserting events (see
-- `EVENT_ORDER_LOCK` in kuzet-store-pg), so no transaction can commit an id
-- below one a reader has already seen. The payload is empty: readers catch
-- up by id, so a lost or folded notification costs latency, never an event.
CREATE FUNCTION kuzet_event_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('kuzet_event', '');
  RETURN NULL;
END $$;
CREATE TRIGGER event_notify AFTER INSERT ON event
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_event_notify();

-- Which cameras' events name an evidence hash anywhere in their details
-- (frames, offence packages, clips), as SQLite's `evidence_camera`: the
-- evidence route shows a file to a camera-scoped user only when one of
-- these cameras is in scope.
CREATE TABLE evidence_camera (
  hash TEXT NOT NULL,
  camera TEXT NOT NULL,
  PRIMARY KEY (hash, camera)
);
CREATE FUNCTION kuzet_evidence_camera() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO evidence_camera (hash, camera)
  SELECT DISTINCT v #>> '{}', NEW.camera
  FROM jsonb_path_query(NEW.details_json::jsonb, 'lax $.**') AS v
  WHERE jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^[0-9a-f]{64}$'
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER event_evidence_camera AFTER INSERT ON event
  FOR EACH ROW WHEN (NEW.details_json IS NOT NULL)
  EXECUTE FUNCTION kuzet_evidence_camera();
-- A plate read's crops and frame belong to its camera (SQLite migration 16).
CREATE FUNCTION kuzet_plate_evidence_camera() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO evidence_camera (hash, camera)
  SELECT DISTINCT h, NEW.camera
  FROM unnest(ARRAY[NEW.plate_crop, NEW.vehicle_crop, NEW.frame]) AS h
  WHERE h IS NOT NULL
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER plate_read_evidence_camera AFTER INSERT ON plate_reads
  FOR EACH ROW EXECUTE FUNCTION kuzet_plate_evidence_camera();
-- Links for the rows stored before this migration.
INSERT INTO evidence_camera (hash, camera)
SELECT DISTINCT h, p.camera
FROM plate_reads p, unnest(ARRAY[p.plate_crop, p.vehicle_crop, p.frame]) AS h
WHERE h IS NOT NULL
ON CONFLICT DO NOTHING;
INSERT INTO evidence_camera (hash, camera)
SELECT DISTINCT v #>> '{}', e.camera
FROM event e, jsonb_path_query(e.details_json::jsonb, 'lax $.**') AS v
WHERE e.details_json IS NOT NULL
  AND jsonb_typeof(v) = 'string' AND (v #>> '{}') ~ '^[0-9a-f]{64}$'
ON CONFLICT DO NOTHING;
