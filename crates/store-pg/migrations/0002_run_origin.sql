-- PostgreSQL schema 2: the origin of a run (a worker's engine session,
-- e.g. "w1/1700000000000"), as SQLite's `run.origin`. `kuzet serve --bus`
-- on PostgreSQL maps every message of one session to one run, whichever
-- server process ingests it; UNIQUE makes that mapping race-free.

ALTER TABLE run ADD COLUMN origin TEXT UNIQUE;
