-- Migration 4: licence-plate reads and hotlists (issue 4).
--
-- A plate read is the voted result of one vehicle track (or one still
-- image): the plate text, how sure the vote is, what kind and colour of
-- vehicle carried it, and evidence (plate crop, vehicle crop, frame). Reads
-- answer "when and where was this plate seen?" and are kept for
-- `[plates] read_retention_days`.
CREATE TABLE plate_reads (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  camera TEXT NOT NULL,
  run_id INTEGER,
  track_id INTEGER,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  plate TEXT NOT NULL,
  raw_text TEXT NOT NULL DEFAULT '',
  format TEXT,
  country TEXT,
  confidence REAL NOT NULL,
  votes INTEGER NOT NULL,
  agreeing INTEGER NOT NULL,
  vehicle_type TEXT,
  colour TEXT,
  plate_crop TEXT,
  vehicle_crop TEXT,
  frame TEXT,
  hotlist_hits INTEGER NOT NULL DEFAULT 0,
  created INTEGER NOT NULL
);
CREATE INDEX plate_reads_first_seen ON plate_reads (first_seen);
CREATE INDEX plate_reads_camera_first_seen ON plate_reads (camera, first_seen);
CREATE INDEX plate_reads_plate ON plate_reads (plate);

-- Hotlists: named lists of wanted plates (stolen, wanted, expired permit…).
CREATE TABLE hotlists (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  name TEXT NOT NULL UNIQUE,
  description TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL
);
-- One wanted plate. `plate` as entered, `plate_norm` its A-Z0-9 form that
-- reads are matched against; `expires` in Unix ms (NULL = never).
CREATE TABLE hotlist_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  hotlist_id INTEGER NOT NULL REFERENCES hotlists (id) ON DELETE CASCADE,
  plate TEXT NOT NULL,
  plate_norm TEXT NOT NULL,
  reason TEXT NOT NULL DEFAULT '',
  priority INTEGER NOT NULL DEFAULT 0,
  expires INTEGER,
  notes TEXT NOT NULL DEFAULT '',
  created INTEGER NOT NULL
);
CREATE INDEX hotlist_entries_hotlist ON hotlist_entries (hotlist_id);
CREATE INDEX hotlist_entries_plate ON hotlist_entries (plate_norm);

-- A running pipeline reloads its hotlists when this counter moves (an entry
-- added by the CLI or the API reaches live cameras without a restart).
INSERT INTO change_counter (name, value) VALUES ('hotlists', 0);
CREATE TRIGGER hotlist_entries_insert AFTER INSERT ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlist_entries_update AFTER UPDATE ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlist_entries_delete AFTER DELETE ON hotlist_entries BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
CREATE TRIGGER hotlists_delete AFTER DELETE ON hotlists BEGIN
  UPDATE change_counter SET value = value + 1 WHERE name = 'hotlists';
END;
