-- Migration 10: sealed originals of masked evidence (issue 7, bystanders).
--
-- Stored evidence has bystanders' heads masked irreversibly. The unmasked
-- original of a masked JPEG is kept only here, AES-256-GCM sealed under the
-- key `key_id` (the first 16 hex digits of the key's SHA-256), with the
-- masked JPEG's hash as associated data, so a sealed original cannot be
-- moved onto another row undetected. It is opened only by an audited
-- un-mask (`POST /api/evidence/{hash}/unmask`). `regions` is how many
-- regions were masked. A BLOB in the database rather than a file: key
-- rotation re-seals rows in transactions, so a crash never leaves a mix
-- that no single key opens.
CREATE TABLE evidence_original (
  hash TEXT PRIMARY KEY,
  key_id TEXT NOT NULL,
  sealed BLOB NOT NULL,
  regions INTEGER NOT NULL,
  created INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX evidence_original_key ON evidence_original (key_id);
