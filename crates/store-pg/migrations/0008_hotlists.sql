-- PostgreSQL schema 8: plate hotlists (SQLite migration 4, column for
-- column), so every serve node's plate matcher checks reads against the
-- same wanted plates.
CREATE TABLE hotlists (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL
);

-- One wanted plate: `plate` as entered, `plate_norm` its A-Z0-9 form that
-- reads are matched against; `expires` in Unix ms (NULL = never).
CREATE TABLE hotlist_entries (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  hotlist_id BIGINT NOT NULL REFERENCES hotlists (id) ON DELETE CASCADE,
  plate TEXT NOT NULL,
  plate_norm TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  expires BIGINT,
  notes TEXT NOT NULL DEFAULT '',
  created BIGINT NOT NULL
);
CREATE INDEX hotlist_entries_hotlist ON hotlist_entries (hotlist_id);
CREATE INDEX hotlist_entries_plate ON hotlist_entries (plate_norm);

-- Bumped by every statement that changes the entries (or deletes a list),
-- whichever node ran it: a plate matcher reloads when it moves.
CREATE TABLE hotlist_generation (
  only_row BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (only_row),
  value BIGINT NOT NULL
);
INSERT INTO hotlist_generation VALUES (TRUE, 0);

CREATE FUNCTION kuzet_hotlists_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE hotlist_generation SET value = value + 1;
  RETURN NULL;
END $$;
CREATE TRIGGER hotlist_entries_changed AFTER INSERT OR UPDATE OR DELETE ON hotlist_entries
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_hotlists_changed();
CREATE TRIGGER hotlists_deleted AFTER DELETE ON hotlists
  FOR EACH STATEMENT EXECUTE FUNCTION kuzet_hotlists_changed();
