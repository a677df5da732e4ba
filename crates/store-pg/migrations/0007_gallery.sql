-- PostgreSQL schema 7: the face watchlist gallery (SQLite migrations 2, 3
-- and 13, column for column): lists, enrolled persons, sealed templates.
--
-- Watchlists are small (thousands of persons) and every serve node keeps
-- them in an in-service index; they live here, beside the sightings, so all
-- serve nodes load the same gallery and a sighting's `matched_person` names
-- a person of this database.
CREATE TABLE watchlist (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  category TEXT NOT NULL CHECK (category IN ('wanted', 'missing', 'debtor', 'custom')),
  threshold REAL NOT NULL,
  priority BIGINT NOT NULL DEFAULT 0,
  created BIGINT NOT NULL
);

-- case_number / authority / expires: the entry's legal basis; cameras_json:
-- JSON array of the cameras it may match on (NULL = all); temporary: a
-- lost-child entry, deleted at its expiry.
CREATE TABLE person (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  watchlist_id BIGINT NOT NULL REFERENCES watchlist (id) ON DELETE CASCADE,
  name TEXT NOT NULL,
  notes TEXT,
  case_number TEXT,
  authority TEXT,
  expires BIGINT,
  created BIGINT NOT NULL,
  cameras_json TEXT,
  temporary BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX person_watchlist ON person (watchlist_id);
CREATE INDEX person_temporary_expires ON person (expires) WHERE temporary;

-- `embedding` is sealed (AES-256-GCM) under the key `key_id` names, with
-- "face_template:<id>" as associated data; NULL key_id = plain f32 (only
-- rows copied from an old store).
CREATE TABLE face_template (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  person_id BIGINT NOT NULL REFERENCES person (id) ON DELETE CASCADE,
  model TEXT NOT NULL,
  embedding BYTEA NOT NULL,
  quality_json TEXT NOT NULL DEFAULT '{}',
  photo_hash TEXT,
  created BIGINT NOT NULL,
  key_id TEXT
);
CREATE INDEX face_template_person ON face_template (person_id);

-- Bumped by every statement that changes the gallery, whichever node ran
-- it: a serve node reloads its index when the value differs from the one it
-- loaded.
CREATE TABLE gallery_generation (
  only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
  value BIGINT NOT NULL
);
INSERT INTO gallery_generation VALUES (TRUE, 0);

CREATE FUNCTION kuzet_gallery_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE gallery_generation SET value = value + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER watchlist_changed AFTER INSERT OR UPDATE OR DELETE ON watchlist
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_gallery_changed();
CREATE TRIGGER person_changed AFTER INSERT OR UPDATE OR DELETE ON person
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_gallery_changed();
CREATE TRIGGER face_template_changed AFTER INSERT OR UPDATE OR DELETE ON face_template
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_gallery_changed();
