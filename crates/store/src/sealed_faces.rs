//! Face data sealed at rest (migration 13): watchlist templates, sighting
//! embeddings and face crop files are AES-256-GCM sealed under the same key
//! as evidence originals ([`SealKey`]).
//!
//! Why every row carries its key id and its own associated data: a rotation
//! may be interrupted, so a store can hold rows under two keys at once, and
//! a sealed embedding copied onto another row (to make a stranger match a
//! wanted person's id) must fail authentication rather than decrypt.
//!
//! Writes without a key are refused: face data is never written in the
//! clear (a worker, which has no key, stores no face data at all). Rows of
//! a store from before migration 13 are plain (`key_id` NULL); they are read
//! as they are and sealed by [`Store::seal_plain_face_data`] (run when a
//! process opens the store with its key) or by `kuzet keys rotate`.

use crate::faces::{blob_embedding, embedding_blob};
use crate::sealed::{Rotation, SealKey, ROTATE_BATCH};
use crate::{evidence, is_valid_hash, Store, StoreError};
use base::BBox;
use rusqlite::params;
use serde::Serialize;
use std::sync::Arc;

/// First bytes of a sealed crop file; a plain JPEG starts with FF D8.
pub(crate) const CROP_MAGIC: &[u8; 8] = b"KZSEAL1\n";
const KEY_ID_LEN: usize = 16;

pub(crate) fn template_aad(id: i64) -> Vec<u8> {
    format!("face_template:{id}").into_bytes()
}

pub(crate) fn sighting_aad(id: i64) -> Vec<u8> {
    format!("face_sighting:{id}").into_bytes()
}

fn crop_aad(hash: &str) -> Vec<u8> {
    format!("face_crop:{hash}").into_bytes()
}

/// The tables whose `embedding` column is sealed, with the associated data
/// of a row.
#[derive(Clone, Copy)]
pub(crate) enum SealedTable {
    Template,
    Sighting,
}

impl SealedTable {
    fn table(self) -> &'static str {
        match self {
            SealedTable::Template => "face_template",
            SealedTable::Sighting => "face_sighting",
        }
    }

    pub(crate) fn aad(self, id: i64) -> Vec<u8> {
        match self {
            SealedTable::Template => template_aad(id),
            SealedTable::Sighting => sighting_aad(id),
        }
    }
}

/// Decodes a stored embedding: sealed (`key_id` set) or plain (a row from
/// before migration 13).
pub(crate) fn open_embedding(
    key: Option<&SealKey>,
    table: SealedTable,
    id: i64,
    key_id: Option<&str>,
    blob: &[u8],
) -> Result<Vec<f32>, StoreError> {
    let Some(key_id) = key_id else {
        return blob_embedding(blob);
    };
    let key = key.ok_or_else(|| no_face_key(&format!("{} {id} is sealed", table.table())))?;
    let plain = key
        .open(key_id, blob, &table.aad(id))
        .map_err(|e| StoreError::Invalid(format!("{} {id}: {e}", table.table())))?;
    blob_embedding(&plain)
}

/// A sighting embedding sealed for row `id` of another backend's
/// `face_sighting` table (PostgreSQL): the same bytes and associated data as
/// the SQLite rows, so a sealed embedding copied onto another row fails to
/// open there too. Store it with `key.id()`.
pub fn seal_sighting_embedding(
    key: &SealKey,
    id: i64,
    embedding: &[f32],
) -> Result<Vec<u8>, StoreError> {
    seal_embedding(key, SealedTable::Sighting, id, embedding)
}

/// A template embedding sealed for row `id` of another backend's
/// `face_template` table (PostgreSQL), with the SQLite rows' bytes and
/// associated data. Store it with `key.id()`.
pub fn seal_template_embedding(
    key: &SealKey,
    id: i64,
    embedding: &[f32],
) -> Result<Vec<u8>, StoreError> {
    seal_embedding(key, SealedTable::Template, id, embedding)
}

/// Opens what [`seal_template_embedding`] sealed (`key_id` set), or decodes
/// a plain row (`key_id` NULL).
pub fn open_template_embedding(
    key: Option<&SealKey>,
    id: i64,
    key_id: Option<&str>,
    blob: &[u8],
) -> Result<Vec<f32>, StoreError> {
    open_embedding(key, SealedTable::Template, id, key_id, blob)
}

/// `embedding` sealed for row `id` of `table` (what [`open_embedding`]
/// opens).
fn seal_embedding(
    key: &SealKey,
    table: SealedTable,
    id: i64,
    embedding: &[f32],
) -> Result<Vec<u8>, StoreError> {
    key.seal(&embedding_blob(embedding), &table.aad(id))
}

/// Opens what [`seal_sighting_embedding`] sealed (`key_id` set), or decodes
/// a plain row (`key_id` NULL: written before the backend sealed them).
pub fn open_sighting_embedding(
    key: Option<&SealKey>,
    id: i64,
    key_id: Option<&str>,
    blob: &[u8],
) -> Result<Vec<f32>, StoreError> {
    open_embedding(key, SealedTable::Sighting, id, key_id, blob)
}

/// Seals `embedding` for row `id` and writes it with its key id. Runs on
/// the writer, inside the caller's transaction, right after the INSERT
/// that assigned the id.
pub(crate) fn seal_row(
    c: &rusqlite::Connection,
    key: &SealKey,
    table: SealedTable,
    id: i64,
    embedding: &[f32],
) -> Result<(), StoreError> {
    let sealed = seal_embedding(key, table, id, embedding)?;
    c.prepare_cached(&format!(
        "UPDATE {} SET embedding = ?1, key_id = ?2 WHERE id = ?3",
        table.table()
    ))?
    .execute(params![sealed, key.id(), id])?;
    Ok(())
}

/// The error of face data handled without a key (every backend says the
/// same).
pub fn no_face_key(what: &str) -> StoreError {
    StoreError::Invalid(format!(
        "{what}, but no key is configured: face data is only stored encrypted; set \
         KUZET_KEY_FILE or [evidence] key_file (kuzet serve and analyze create \
         <data_dir>/keys/evidence.key when neither is set)"
    ))
}

/// A sealed crop file: magic ‖ key id ‖ nonce ‖ ciphertext ‖ tag.
fn sealed_file(key: &SealKey, hash: &str, jpeg: &[u8]) -> Result<Vec<u8>, StoreError> {
    seal_file_bytes(key, &crop_aad(hash), jpeg)
}

/// Seals `plain` in the self-describing file layout of sealed crops
/// (magic ‖ key id ‖ nonce ‖ ciphertext ‖ tag), for other files that must
/// not hold face data in the clear (the persisted sighting index).
pub fn seal_file_bytes(key: &SealKey, aad: &[u8], plain: &[u8]) -> Result<Vec<u8>, StoreError> {
    let sealed = key.seal(plain, aad)?;
    let mut out = Vec::with_capacity(CROP_MAGIC.len() + KEY_ID_LEN + sealed.len());
    out.extend_from_slice(CROP_MAGIC);
    out.extend_from_slice(key.id().as_bytes());
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal_file_bytes`] produced; an error for anything else
/// (a plain file, another key, tampering), saying which.
pub fn open_file_bytes(key: &SealKey, aad: &[u8], bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    let id = file_key_id(bytes)?
        .ok_or_else(|| StoreError::Invalid("not a sealed file (no KZSEAL1 header)".into()))?;
    key.open(id, &bytes[CROP_MAGIC.len() + KEY_ID_LEN..], aad)
}

/// The key id of a sealed crop file, `None` for a plain file.
fn file_key_id(bytes: &[u8]) -> Result<Option<&str>, StoreError> {
    if !bytes.starts_with(CROP_MAGIC) {
        return Ok(None);
    }
    let id = bytes
        .get(CROP_MAGIC.len()..CROP_MAGIC.len() + KEY_ID_LEN)
        .and_then(|b| std::str::from_utf8(b).ok())
        .ok_or_else(|| StoreError::Corrupt("sealed crop file header is truncated".into()))?;
    Ok(Some(id))
}

/// What a pass over the sealed face data did, per class.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FaceRotation {
    pub templates: Rotation,
    pub sightings: Rotation,
    pub crops: Rotation,
}

impl FaceRotation {
    /// Rows and files written by this pass.
    pub fn resealed(&self) -> u64 {
        self.templates.resealed + self.sightings.resealed + self.crops.resealed
    }
}

/// Replaces the crop file at `path` by `jpeg` sealed under `key`, atomically
/// (temporary file, fsync, rename, directory fsync).
fn replace_sealed(
    path: &std::path::Path,
    hash: &str,
    key: &SealKey,
    jpeg: &[u8],
) -> Result<(), StoreError> {
    let file = sealed_file(key, hash, jpeg)?;
    let dir = path.parent().expect("evidence path has a parent");
    let tmp = dir.join(format!(".{hash}.reseal.tmp"));
    std::fs::write(&tmp, &file)
        .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| StoreError::io(path, e))?;
    evidence::sync_dir(dir)
}

impl Store {
    /// The key face data is sealed with; an error naming the fix when none
    /// is configured.
    pub(crate) fn face_key(&self, what: &str) -> Result<Arc<SealKey>, StoreError> {
        self.seal_key().ok_or_else(|| no_face_key(what))
    }

    /// Encodes a face crop as JPEG, seals it under the configured key and
    /// stores it as an evidence file named by the plain JPEG's SHA-256 (so
    /// events refer to it as to any evidence). Read it back with
    /// [`Store::evidence_bytes`]. Refused without a key.
    pub fn save_face_crop(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
    ) -> Result<String, StoreError> {
        let key = self.face_key("storing a face crop")?;
        let (jpeg, w, h) = evidence::encode_jpeg(rgb, width, height, crop, quality)?;
        self.write_sealed_jpeg(&key, &jpeg, w, h)
    }

    /// Seals an encoded JPEG under `key`, writes the file named by the
    /// plain JPEG's hash and records it; returns that hash.
    fn write_sealed_jpeg(
        &self,
        key: &SealKey,
        jpeg: &[u8],
        w: u32,
        h: u32,
    ) -> Result<String, StoreError> {
        let hash = evidence::sha256_hex(jpeg);
        let file = sealed_file(key, &hash, jpeg)?;
        evidence::write_file(&self.evidence_dir, &hash, &file)?;
        self.send(crate::writer::Command::InsertEvidence {
            info: evidence::EvidenceInfo {
                hash: hash.clone(),
                bytes: file.len() as u64,
                width: w,
                height: h,
                created: self.clock.now(),
            },
            key_id: Some(key.id().to_string()),
        })?;
        Ok(hash)
    }

    /// Stores the full frame of a face match: bystanders in `regions` masked
    /// irreversibly (as [`Store::save_evidence_masked`] does, the unmasked
    /// original kept only in `evidence_original` for an audited un-mask),
    /// and the masked JPEG itself sealed as a face crop is, because the
    /// matched face is left visible in it: a frame that identifies the
    /// wanted person is face data like the crop. Read it back with
    /// [`Store::evidence_bytes`] after the caller's access checks; `kuzet
    /// keys rotate` re-seals it with the crops. Refused without a key.
    pub fn save_face_frame(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        quality: u8,
        regions: &[BBox],
    ) -> Result<String, StoreError> {
        let key = self.face_key("storing the frame of a face match")?;
        let mut masked = rgb.to_vec();
        let n = crate::privacy::mask_regions(&mut masked, width, height, regions);
        let (jpeg, w, h) = evidence::encode_jpeg(&masked, width, height, None, quality)?;
        drop(masked);
        let hash = self.write_sealed_jpeg(&key, &jpeg, w, h)?;
        if n > 0 {
            let (orig, _, _) = evidence::encode_jpeg(rgb, width, height, None, quality)?;
            let sealed = key.seal(&orig, hash.as_bytes())?;
            self.send(crate::writer::Command::InsertSealedOriginal {
                hash: hash.clone(),
                key_id: key.id().to_string(),
                sealed,
                regions: n as u32,
                created: self.clock.now().millis(),
            })?;
        }
        Ok(hash)
    }

    /// Seals one face-crop file still in the clear (a worker's crop, which
    /// arrives over the bus as plain evidence) under the configured key.
    /// `false` when its file is not there (yet): the caller may try again.
    /// A file already sealed is left as it is. Costs one file read, not a
    /// pass over the tables.
    pub fn seal_face_crop_file(&self, hash: &str) -> Result<bool, StoreError> {
        let key = self.face_key("sealing a face crop")?;
        if !is_valid_hash(hash) {
            return Err(StoreError::Invalid(format!(
                "invalid evidence hash {hash:?}"
            )));
        }
        let path = evidence::path_for(&self.evidence_dir, hash);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(StoreError::io(&path, e)),
        };
        if file_key_id(&bytes)?.is_some() {
            return Ok(true);
        }
        replace_sealed(&path, hash, &key, &bytes)?;
        let (id, h) = (key.id().to_string(), hash.to_owned());
        self.exec("seal_face_crop_file", move |c| {
            c.prepare_cached("UPDATE evidence SET key_id = ?1 WHERE hash = ?2")?
                .execute(params![id, h])?;
            Ok(())
        })?;
        Ok(true)
    }

    /// The bytes of evidence `hash` as a JPEG: a sealed face crop is opened
    /// with the configured key (callers must have checked access, as for
    /// any evidence). `None` when there is no such file.
    pub fn evidence_bytes(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let Some(path) = self.evidence_path(hash) else {
            return Ok(None);
        };
        let bytes = std::fs::read(&path).map_err(|e| StoreError::io(&path, e))?;
        let Some(key_id) = file_key_id(&bytes)? else {
            return Ok(Some(bytes));
        };
        let key = self.face_key(&format!("evidence {hash} is a sealed face crop"))?;
        key.open(
            key_id,
            &bytes[CROP_MAGIC.len() + KEY_ID_LEN..],
            &crop_aad(hash),
        )
        .map(Some)
        .map_err(|e| StoreError::Invalid(format!("face crop {hash}: {e}")))
    }

    /// Seals face data still stored in the clear (rows and crops written
    /// before migration 13) under `key`; rows under other keys are left to
    /// `kuzet keys rotate`. Cheap when there is nothing to do (two indexed
    /// counts), so `kuzet serve` and `analyze` run it at every start.
    pub fn seal_plain_face_data(&self, key: Arc<SealKey>) -> Result<FaceRotation, StoreError> {
        self.reseal_face_data(None, key)
    }

    /// Re-seals every face template, sighting embedding and face crop under
    /// `new`: rows under `old` are opened with it, plain rows (from before
    /// migration 13) are sealed. Same semantics as
    /// [`Store::reseal_evidence_originals`]: batches of [`ROTATE_BATCH`]
    /// rows per transaction, rows already under `new` skipped, so it resumes
    /// after an interruption; a row under neither key or failing
    /// authentication stops it with an error naming the row. With `old`
    /// `None`, only plain rows are sealed.
    pub fn reseal_face_data(
        &self,
        old: Option<Arc<SealKey>>,
        new: Arc<SealKey>,
    ) -> Result<FaceRotation, StoreError> {
        if old.as_ref().is_some_and(|o| o.id() == new.id()) {
            return Err(StoreError::Invalid(format!(
                "the new key is the current key ({}): generate a new one with \
                 `openssl rand -hex 32`",
                new.id()
            )));
        }
        Ok(FaceRotation {
            templates: self.reseal_table(SealedTable::Template, old.clone(), new.clone())?,
            sightings: self.reseal_table(SealedTable::Sighting, old.clone(), new.clone())?,
            crops: self.reseal_crops(old, new)?,
        })
    }

    fn reseal_table(
        &self,
        table: SealedTable,
        old: Option<Arc<SealKey>>,
        new: Arc<SealKey>,
    ) -> Result<Rotation, StoreError> {
        let name = table.table();
        let new_id = new.id().to_string();
        let already: u64 = self.readers.with(|c| {
            Ok(c.query_row(
                &format!("SELECT count(*) FROM {name} WHERE key_id = ?1"),
                [&new_id],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })?;
        let mut out = Rotation {
            already,
            ..Default::default()
        };
        // Only plain rows without an old key; otherwise also rows under
        // any other key (opened with `old`, or refused by name).
        let filter = if old.is_some() {
            "key_id IS NULL OR key_id <> ?1"
        } else {
            "key_id IS NULL AND ?1 IS NOT NULL"
        };
        loop {
            let (old, new) = (old.clone(), new.clone());
            let n = self.exec("reseal_face_data", move |c| {
                let rows: Vec<(i64, Option<String>, Vec<u8>)> = {
                    let mut st = c.prepare_cached(&format!(
                        "SELECT id, key_id, embedding FROM {name}
                         WHERE {filter} ORDER BY id LIMIT ?2"
                    ))?;
                    let it = st.query_map(params![new.id(), ROTATE_BATCH as i64], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })?;
                    it.collect::<Result<_, _>>()?
                };
                for (id, key_id, blob) in &rows {
                    let v = open_embedding(old.as_deref(), table, *id, key_id.as_deref(), blob)?;
                    seal_row(c, &new, table, *id, &v)?;
                }
                Ok(rows.len() as u64)
            })?;
            if n == 0 {
                break;
            }
            out.resealed += n;
            out.batches += 1;
        }
        Ok(out)
    }

    /// Crop files: each is re-sealed by an atomic file replace, then its
    /// `evidence` row records the new key in a batch transaction. A crash
    /// between the two leaves a file already under `new` whose row names the
    /// old key; the next run reads the file's own header and only fixes the
    /// row. Plain crops of sightings (from before migration 13) and plain
    /// full frames of face matches (from before those were sealed) are
    /// sealed.
    fn reseal_crops(
        &self,
        old: Option<Arc<SealKey>>,
        new: Arc<SealKey>,
    ) -> Result<Rotation, StoreError> {
        let new_id = new.id().to_string();
        let already: u64 = self.readers.with(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM evidence WHERE key_id = ?1",
                [&new_id],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })?;
        let mut out = Rotation {
            already,
            ..Default::default()
        };
        // Plain face data: crops of sightings, and the full frames of face
        // matches stored before those were sealed too.
        let sql = if old.is_some() {
            "SELECT hash FROM evidence
             WHERE ((key_id IS NOT NULL AND key_id <> ?1)
                    OR (key_id IS NULL
                        AND (hash IN (SELECT crop FROM face_sighting)
                             OR hash IN (SELECT json_extract(details_json, '$.frame_evidence')
                                         FROM event WHERE kind = 'face_match'))))
               AND hash > ?3
             ORDER BY hash LIMIT ?2"
        } else {
            "SELECT hash FROM evidence
             WHERE key_id IS NULL AND ?1 IS NOT NULL
               AND (hash IN (SELECT crop FROM face_sighting)
                    OR hash IN (SELECT json_extract(details_json, '$.frame_evidence')
                                FROM event WHERE kind = 'face_match'))
               AND hash > ?3
             ORDER BY hash LIMIT ?2"
        };
        // Keyset paging: a row passed over (file gone, or sealed under a
        // key this pass has not got) is never fetched again in this run.
        let mut after = String::new();
        loop {
            let hashes: Vec<String> = self.readers.with(|c| {
                let mut st = c.prepare_cached(sql)?;
                let it =
                    st.query_map(params![&new_id, ROTATE_BATCH as i64, &after], |r| r.get(0))?;
                Ok(it.collect::<Result<_, _>>()?)
            })?;
            let Some(last) = hashes.last() else {
                break;
            };
            after = last.clone();
            let mut done = Vec::with_capacity(hashes.len());
            for h in &hashes {
                if !is_valid_hash(h) {
                    continue;
                }
                let path = evidence::path_for(&self.evidence_dir, h);
                let bytes = match std::fs::read(&path) {
                    Ok(b) => b,
                    // Deleted by retention meanwhile: nothing left to seal;
                    // the row is gone or about to be.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(StoreError::io(&path, e)),
                };
                let plain = match file_key_id(&bytes)? {
                    Some(id) if id == new_id => None,
                    Some(id) => {
                        // Sealing plain data only (start-up pass): a file
                        // already sealed under another key is left to
                        // `kuzet keys rotate`, never a reason to stop.
                        let Some(old) = old.as_deref() else {
                            continue;
                        };
                        Some(
                            old.open(id, &bytes[CROP_MAGIC.len() + KEY_ID_LEN..], &crop_aad(h))
                                .map_err(|e| StoreError::Invalid(format!("face crop {h}: {e}")))?,
                        )
                    }
                    None => Some(bytes),
                };
                if let Some(jpeg) = plain {
                    replace_sealed(&path, h, &new, &jpeg)?;
                }
                done.push(h.clone());
            }
            if done.is_empty() {
                continue;
            }
            let id = new_id.clone();
            let n = done.len() as u64;
            self.exec("reseal_face_crops", move |c| {
                let mut up = c.prepare_cached("UPDATE evidence SET key_id = ?1 WHERE hash = ?2")?;
                for h in &done {
                    up.execute(params![id, h])?;
                }
                Ok(())
            })?;
            out.resealed += n;
            out.batches += 1;
        }
        Ok(out)
    }
}
