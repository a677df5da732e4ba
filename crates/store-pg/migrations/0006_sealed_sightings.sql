-- PostgreSQL schema 6: face sighting embeddings sealed at rest (SQLite
-- migration 13, column for column).
--
-- A face embedding is biometric data: the SQLite store has kept it only
-- AES-256-GCM sealed under the evidence key since its migration 13, and so
-- must PostgreSQL. `key_id` names the key a row's `embedding` is sealed
-- under; the associated data is the row id ("face_sighting:<id>"), so a
-- sealed embedding copied onto another row does not open. NULL marks a row
-- written by schema 1–5 in the clear; it is read as it is.
ALTER TABLE face_sighting ADD COLUMN key_id TEXT;
