-- PostgreSQL schema 4: retention on PostgreSQL.
--
-- The retention pass (kuzet-store-pg `PgStore::retention_pass`) deletes
-- rows past their class's retention and then every evidence file nothing
-- refers to any more. "Refers to" must be answerable by index, at any
-- size, so:
--
-- * `event_evidence` lists every evidence hash an event names (its main
--   evidence and every hash anywhere in its details: frames, crops, offence
--   packages, clips), kept by a trigger and deleted with the event;
-- * the crop and frame columns of tracks, sightings and plate reads get
--   partial indexes;
-- * `evidence` (the index of stored files: size, time) gets an index on
--   `created` for the evidence class's own retention.
CREATE TABLE event_evidence (
  hash TEXT NOT NULL,
  event_id BIGINT NOT NULL REFERENCES event (id) ON DELETE CASCADE,
  PRIMARY KEY (hash, event_id)
);
CREATE INDEX event_evidence_event ON event_evidence (event_id);

CREATE FUNCTION kuzet_event_evidence() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO event_evidence (hash, event_id)
  SELECT DISTINCT h, NEW.id
  FROM (
    SELECT NEW.evidence AS h
    UNION ALL
    SELECT v #>> '{}'
    FROM jsonb_path_query(coalesce(NEW.details_json, 'null')::jsonb, 'lax $.**') AS v
    WHERE jsonb_typeof(v) = 'string'
  ) AS x
  WHERE h ~ '^[0-9a-f]{64}$'
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;
CREATE TRIGGER event_evidence_refs AFTER INSERT ON event
  FOR EACH ROW EXECUTE FUNCTION kuzet_event_evidence();

-- References of the events stored before this migration.
INSERT INTO event_evidence (hash, event_id)
SELECT DISTINCT h, id
FROM (
  SELECT e.id, e.evidence AS h FROM event e
  UNION ALL
  SELECT e.id, v #>> '{}'
  FROM event e, jsonb_path_query(e.details_json::jsonb, 'lax $.**') AS v
  WHERE e.details_json IS NOT NULL AND jsonb_typeof(v) = 'string'
) AS x
WHERE h ~ '^[0-9a-f]{64}$'
ON CONFLICT DO NOTHING;

CREATE INDEX track_best_crop ON track (best_crop) WHERE best_crop IS NOT NULL;
CREATE INDEX track_last_seen ON track (last_seen);
CREATE INDEX face_sighting_crop ON face_sighting (crop) WHERE crop IS NOT NULL;
CREATE INDEX plate_reads_plate_crop ON plate_reads (plate_crop) WHERE plate_crop IS NOT NULL;
CREATE INDEX plate_reads_vehicle_crop ON plate_reads (vehicle_crop) WHERE vehicle_crop IS NOT NULL;
CREATE INDEX plate_reads_frame ON plate_reads (frame) WHERE frame IS NOT NULL;
CREATE INDEX evidence_created ON evidence (created);
