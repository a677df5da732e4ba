//! Where evidence bytes live, behind one trait: the local evidence directory
//! (today's layout) or S3-compatible object storage (`kuzet-objstore`).
//!
//! Blobs are content-addressed: the key of a JPEG is its SHA-256, and every
//! implementation refuses bytes that do not hash to the key they are put
//! under, so a name can never hold different content on any backend. The
//! relative key `ab/<sha256>.jpg` ([`evidence_key`]) is the same on disk and
//! in a bucket, so an evidence directory can be copied into a bucket (or
//! back) as is.

use crate::evidence::{self, is_valid_hash, sha256_hex};
use crate::StoreError;
use std::path::{Path, PathBuf};

/// Relative key of an evidence hash: `ab/ab….jpg`.
pub fn evidence_key(hash: &str) -> Result<String, StoreError> {
    check(hash)?;
    Ok(format!("{}/{hash}.jpg", &hash[..2]))
}

fn check(hash: &str) -> Result<(), StoreError> {
    if is_valid_hash(hash) {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "not an evidence hash (64 lowercase hex digits): {hash:?}"
        )))
    }
}

/// The key of `bytes`: their SHA-256 in lowercase hex.
pub fn content_hash(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

/// Refuses bytes whose SHA-256 is not `hash`.
pub fn check_content(hash: &str, bytes: &[u8]) -> Result<(), StoreError> {
    check(hash)?;
    let actual = sha256_hex(bytes);
    if actual != hash {
        return Err(StoreError::Invalid(format!(
            "evidence bytes hash to {actual}, not to the key {hash}: refusing to store them \
             under a name that does not match their content"
        )));
    }
    Ok(())
}

/// A content-addressed store of evidence blobs. Blocking, like the store.
pub trait EvidenceBlobs: Send + Sync {
    /// `"local"`, `"s3"`…, for logs.
    fn blobs_name(&self) -> &'static str;
    /// Stores `bytes` under `hash` (their SHA-256, checked). Returns whether
    /// they were new; storing existing content again is a cheap no-op.
    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError>;
    /// The bytes of `hash`, `None` when absent.
    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError>;
    /// Whether `hash` is stored.
    fn exists(&self, hash: &str) -> Result<bool, StoreError>;
    /// Removes `hash`; returns whether it existed.
    fn delete(&self, hash: &str) -> Result<bool, StoreError>;
    /// Stores a JPEG of `width`×`height` under `hash` (see
    /// [`EvidenceBlobs::put`]). Backends that index evidence (the SQLite
    /// store's `evidence` table: sizes, retention, sealing) record the
    /// dimensions; plain blob stores ignore them.
    fn put_image(
        &self,
        hash: &str,
        bytes: &[u8],
        _width: u32,
        _height: u32,
    ) -> Result<bool, StoreError> {
        self.put(hash, bytes)
    }
    /// The directory blobs are kept in, when this is a local directory in
    /// the evidence layout: two stores with the same directory hold the
    /// same files. `None` for object storage.
    fn local_dir(&self) -> Option<&Path> {
        None
    }
    /// Makes every earlier put durable, index included. Blob writes are
    /// durable when `put` returns; only an index queued behind a writer
    /// thread (SQLite) has anything to do here. The bus ingest calls it
    /// before acknowledging a batch.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

/// The SQLite store as a blob store: files in its evidence directory (the
/// [`LocalEvidence`] layout) plus its `evidence` index rows, exactly what
/// [`crate::Store::save_evidence_bytes`] writes. The bus ingest of a serve
/// node on SQLite stores evidence through this, so its retention and
/// sealing see ingested evidence as they see the embedded pipeline's.
impl EvidenceBlobs for crate::Store {
    fn blobs_name(&self) -> &'static str {
        "local"
    }

    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        self.put_image(hash, bytes, 0, 0)
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.evidence_dir)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        LocalEvidence::new(&self.evidence_dir).get(hash)
    }

    fn exists(&self, hash: &str) -> Result<bool, StoreError> {
        LocalEvidence::new(&self.evidence_dir).exists(hash)
    }

    fn delete(&self, hash: &str) -> Result<bool, StoreError> {
        LocalEvidence::new(&self.evidence_dir).delete(hash)
    }

    fn put_image(
        &self,
        hash: &str,
        bytes: &[u8],
        width: u32,
        height: u32,
    ) -> Result<bool, StoreError> {
        check_content(hash, bytes)?;
        let existed = evidence::path_for(&self.evidence_dir, hash).is_file();
        self.save_evidence_bytes(bytes, width, height)?;
        Ok(!existed)
    }

    fn flush(&self) -> Result<(), StoreError> {
        crate::Store::flush(self)
    }
}

/// Evidence files under a local directory (`<data-dir>/evidence`), written
/// exactly as [`crate::Store::save_evidence_bytes`] writes them (temp file,
/// fsync, rename, directory fsync).
pub struct LocalEvidence {
    root: PathBuf,
}

impl LocalEvidence {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        LocalEvidence { root: root.into() }
    }

    /// The directory holding the `ab/` fan-out directories.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

impl EvidenceBlobs for LocalEvidence {
    fn blobs_name(&self) -> &'static str {
        "local"
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.root)
    }

    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        check_content(hash, bytes)?;
        evidence::write_file(&self.root, hash, bytes)
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        check(hash)?;
        let p = evidence::path_for(&self.root, hash);
        match std::fs::read(&p) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }

    fn exists(&self, hash: &str) -> Result<bool, StoreError> {
        check(hash)?;
        Ok(evidence::path_for(&self.root, hash).is_file())
    }

    fn delete(&self, hash: &str) -> Result<bool, StoreError> {
        check(hash)?;
        let p = evidence::path_for(&self.root, hash);
        match std::fs::remove_file(&p) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&p, e)),
        }
    }
}

/// The behaviour every [`EvidenceBlobs`] must have, as one function that
/// each implementation's tests call (local here, object storage in
/// `kuzet-objstore`). Panics at the first deviation: for tests only.
pub fn conformance(b: &dyn EvidenceBlobs) {
    let bytes = b"\xff\xd8\xff\xe0 not really a jpeg".to_vec();
    let hash = sha256_hex(&bytes);
    assert!(!b.exists(&hash).unwrap());
    assert_eq!(b.get(&hash).unwrap(), None);
    assert!(b.put(&hash, &bytes).unwrap(), "first put is new");
    assert!(!b.put(&hash, &bytes).unwrap(), "second put is a no-op");
    assert!(b.exists(&hash).unwrap());
    assert_eq!(b.get(&hash).unwrap().as_deref(), Some(&bytes[..]));
    let other = sha256_hex(b"other");
    assert!(matches!(b.put(&other, &bytes), Err(StoreError::Invalid(_))));
    assert!(!b.exists(&other).unwrap());
    for bad in ["../../etc/passwd", "", &hash.to_uppercase(), &hash[..63]] {
        assert!(matches!(b.get(bad), Err(StoreError::Invalid(_))), "{bad}");
        assert!(
            matches!(b.put(bad, &bytes), Err(StoreError::Invalid(_))),
            "{bad}"
        );
    }
    assert!(b.delete(&hash).unwrap());
    assert!(!b.delete(&hash).unwrap());
    assert!(!b.exists(&hash).unwrap());
    assert_eq!(b.get(&hash).unwrap(), None);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_blobs_conform() {
        let dir = tempfile::tempdir().unwrap();
        conformance(&LocalEvidence::new(dir.path()));
    }

    #[test]
    fn store_blobs_conform_and_index_dimensions() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        conformance(&store);
        let bytes = vec![9u8; 50];
        let hash = sha256_hex(&bytes);
        assert!(store.put_image(&hash, &bytes, 64, 48).unwrap());
        assert!(!store.put_image(&hash, &bytes, 64, 48).unwrap());
        EvidenceBlobs::flush(&store).unwrap();
        let info = store.evidence_info(&hash).unwrap().expect("indexed");
        assert_eq!((info.width, info.height, info.bytes), (64, 48, 50));
    }

    #[test]
    fn local_layout_is_the_stores() {
        // A blob put through the trait is the file the store serves.
        let dir = tempfile::tempdir().unwrap();
        let store = crate::Store::open(dir.path()).unwrap();
        let blobs = LocalEvidence::new(dir.path().join(crate::EVIDENCE_DIR));
        let bytes = vec![7u8; 100];
        let hash = sha256_hex(&bytes);
        blobs.put(&hash, &bytes).unwrap();
        let p = store.evidence_path(&hash).unwrap();
        assert_eq!(std::fs::read(p).unwrap(), bytes);
        assert_eq!(
            evidence_key(&hash).unwrap(),
            format!("{}/{hash}.jpg", &hash[..2])
        );
        // And the store's own file is visible through the trait.
        let h2 = store.save_evidence_bytes(&[1, 2, 3], 1, 1).unwrap();
        assert_eq!(blobs.get(&h2).unwrap().unwrap(), vec![1, 2, 3]);
    }
}
