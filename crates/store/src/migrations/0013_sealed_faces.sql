-- Migration 13: face templates, sighting embeddings and face crops sealed at
-- rest (issue 7, item 8).
--
-- `key_id` is the id of the AES-256-GCM key that sealed the row (the first 16
-- hex digits of the key's SHA-256, as in evidence_original); the embedding
-- BLOB then holds nonce ‖ ciphertext ‖ tag, with the row's identity
-- ("face_template:<id>" / "face_sighting:<id>") as associated data, so a
-- sealed embedding copied onto another row fails authentication. NULL means
-- a plain little-endian f32 embedding written before this migration: SQL
-- cannot seal (the key is not in the database), so the store seals such rows
-- when it is next opened with a key (`kuzet serve` / `analyze` at start-up)
-- and `kuzet keys rotate` seals any left.
ALTER TABLE face_template ADD COLUMN key_id TEXT;
ALTER TABLE face_sighting ADD COLUMN key_id TEXT;
-- A face crop file sealed under `key_id` (file layout: "KZSEAL1\n" ‖ key id
-- ‖ nonce ‖ ciphertext ‖ tag, associated data "face_crop:<hash>", the hash
-- being that of the plain JPEG); NULL = a plain JPEG file.
ALTER TABLE evidence ADD COLUMN key_id TEXT;
CREATE INDEX face_template_key ON face_template (key_id);
CREATE INDEX face_sighting_key ON face_sighting (key_id);
CREATE INDEX evidence_key ON evidence (key_id) WHERE key_id IS NOT NULL;
