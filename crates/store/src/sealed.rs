//! AES-256-GCM sealing of what must never sit on disk in the clear: the
//! un-masked originals of evidence frames.
//!
//! A key is 32 random bytes kept in a file (64 hex digits, or the 32 raw
//! bytes) outside the store. Its **key id** is the first 16 hex digits of the
//! SHA-256 of the key; every ciphertext is stored next to the id of the key
//! that sealed it, so a store can tell "sealed under another key" (a
//! configuration or rotation problem, named in the error) from "tampered
//! with" (GCM authentication failure). The associated data binds each
//! ciphertext to what it belongs to (the blurred evidence hash), so a sealed
//! original cannot be swapped onto another evidence row undetected.
//!
//! Sealed layout: 12-byte random nonce ‖ ciphertext ‖ 16-byte tag.

use crate::StoreError;
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::Aes256Gcm;
use std::io::Write;
use std::path::Path;

const NONCE_LEN: usize = 12;

/// A data-encryption key. Debug never prints the key bytes.
pub struct SealKey {
    id: String,
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SealKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealKey").field("id", &self.id).finish()
    }
}

impl SealKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(key: &[u8; 32]) -> SealKey {
        let id = crate::sha256_hex(key)[..16].to_string();
        SealKey {
            id,
            cipher: Aes256Gcm::new(key.into()),
        }
    }

    /// A fresh random key and its 64-hex-digit file form.
    pub fn generate() -> (SealKey, String) {
        let key = Aes256Gcm::generate_key(OsRng);
        let bytes: [u8; 32] = key.into();
        (SealKey::from_bytes(&bytes), hex::encode(bytes))
    }

    /// Reads a key file: 64 hex digits (whitespace around them ignored) or
    /// exactly 32 raw bytes. Errors name the file and what is wrong.
    pub fn load(path: &Path) -> Result<SealKey, StoreError> {
        let raw = std::fs::read(path).map_err(|e| StoreError::io(path, e))?;
        let text = std::str::from_utf8(&raw).map(str::trim).unwrap_or("");
        let bytes: [u8; 32] = if text.len() == 64 {
            let v = hex::decode(text).map_err(|_| {
                StoreError::Invalid(format!(
                    "key file {}: 64 characters but not hex digits; write 32 random bytes as \
                     hex (e.g. `openssl rand -hex 32 > {}`)",
                    path.display(),
                    path.display()
                ))
            })?;
            v.try_into().expect("64 hex digits are 32 bytes")
        } else if raw.len() == 32 {
            raw.as_slice().try_into().expect("length checked")
        } else {
            return Err(StoreError::Invalid(format!(
                "key file {}: expected 64 hex digits or 32 raw bytes, found {} bytes; \
                 create one with `openssl rand -hex 32 > {}`",
                path.display(),
                raw.len(),
                path.display()
            )));
        };
        Ok(SealKey::from_bytes(&bytes))
    }

    /// Loads `path`, or, if it does not exist, creates it with a fresh key
    /// readable by the owner only (0600). Returns the key and whether it
    /// was created, so the caller can say so in the log.
    pub fn load_or_create(path: &Path) -> Result<(SealKey, bool), StoreError> {
        if path.exists() {
            return Ok((SealKey::load(path)?, false));
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::io(dir, e))?;
        }
        let (key, hex) = SealKey::generate();
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|e| StoreError::io(path, e))?;
        f.write_all(hex.as_bytes())
            .and_then(|()| f.write_all(b"\n"))
            .and_then(|()| f.sync_all())
            .map_err(|e| StoreError::io(path, e))?;
        Ok((key, true))
    }

    /// The key id stored beside every ciphertext.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts `plain`, authenticating `aad` with it.
    pub fn seal(&self, plain: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let ct = self
            .cipher
            .encrypt(&nonce, Payload { msg: plain, aad })
            .map_err(|_| StoreError::Invalid("encryption failed".into()))?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts what [`SealKey::seal`] produced under `key_id` with `aad`.
    /// A different key id, a modified ciphertext or different associated
    /// data are all refused with an error saying which.
    pub fn open(&self, key_id: &str, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, StoreError> {
        if key_id != self.id {
            return Err(StoreError::Invalid(format!(
                "sealed under key {key_id}, but the configured key is {}: configure the key \
                 it was sealed with (or finish `kuzet keys rotate`)",
                self.id
            )));
        }
        if sealed.len() < NONCE_LEN + 16 {
            return Err(StoreError::Invalid(
                "sealed data is truncated (shorter than nonce and tag)".into(),
            ));
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(nonce.into(), Payload { msg: ct, aad })
            .map_err(|_| {
                StoreError::Invalid(
                    "sealed data failed authentication: it was modified or does not belong here"
                        .into(),
                )
            })
    }
}

/// What a key rotation did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Rotation {
    /// Rows re-sealed under the new key by this call.
    pub resealed: u64,
    /// Rows that were under the new key already (an earlier, interrupted
    /// rotation).
    pub already: u64,
    /// Transactions committed.
    pub batches: u64,
}

/// Rows re-sealed per transaction: small enough that a crash loses little
/// work and readers are not held up, large enough to amortise the fsync.
pub const ROTATE_BATCH: usize = 64;

impl crate::Store {
    /// Re-seals every sealed evidence original under `new`, opening it
    /// with `old`. Crash-safe and resumable: each batch of
    /// [`ROTATE_BATCH`] rows is re-sealed in one transaction (a row holds
    /// either its old ciphertext and key id or its new ones, never a mix), and
    /// rows already under `new` are skipped, so running it again after an
    /// interruption finishes the job. Keep the old key until it returns
    /// `Ok`. A row under neither key, or one that fails authentication,
    /// stops the rotation with an error naming it (nothing of that batch is
    /// written).
    pub fn reseal_evidence_originals(
        &self,
        old: std::sync::Arc<SealKey>,
        new: std::sync::Arc<SealKey>,
    ) -> Result<Rotation, StoreError> {
        if old.id() == new.id() {
            return Err(StoreError::Invalid(format!(
                "the new key is the current key ({}): generate a new one with \
                 `openssl rand -hex 32`",
                new.id()
            )));
        }
        let new_id = new.id().to_string();
        let already: u64 = self.readers.with(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM evidence_original WHERE key_id = ?1",
                [&new_id],
                |r| r.get::<_, i64>(0),
            )? as u64)
        })?;
        let mut out = Rotation {
            already,
            ..Default::default()
        };
        loop {
            let (old, new) = (old.clone(), new.clone());
            let n = self.exec("reseal_evidence_originals", move |c| {
                let rows: Vec<(String, String, Vec<u8>)> = {
                    let mut st = c.prepare_cached(
                        "SELECT hash, key_id, sealed FROM evidence_original
                         WHERE key_id <> ?1 ORDER BY hash LIMIT ?2",
                    )?;
                    let it = st
                        .query_map(rusqlite::params![new.id(), ROTATE_BATCH as i64], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                        })?;
                    it.collect::<Result<_, _>>()?
                };
                let mut up = c.prepare_cached(
                    "UPDATE evidence_original SET key_id = ?1, sealed = ?2 WHERE hash = ?3",
                )?;
                for (hash, key_id, sealed) in &rows {
                    let plain = old.open(key_id, sealed, hash.as_bytes()).map_err(|e| {
                        StoreError::Invalid(format!("evidence original {hash}: {e}"))
                    })?;
                    let resealed = new.seal(&plain, hash.as_bytes())?;
                    up.execute(rusqlite::params![new.id(), resealed, hash])?;
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper_detection() {
        let (k, _) = SealKey::generate();
        let plain = b"original jpeg bytes".to_vec();
        let s = k.seal(&plain, b"hash-a").unwrap();
        assert!(!s.windows(plain.len()).any(|w| w == plain));
        assert_eq!(k.open(k.id(), &s, b"hash-a").unwrap(), plain);
        // Other associated data, a flipped bit, truncation: all refused.
        assert!(k.open(k.id(), &s, b"hash-b").is_err());
        let mut t = s.clone();
        let last = t.len() - 20;
        t[last] ^= 1;
        assert!(k.open(k.id(), &t, b"hash-a").is_err());
        assert!(k.open(k.id(), &s[..20], b"hash-a").is_err());
        // Another key: refused by id before any decryption is tried.
        let (k2, _) = SealKey::generate();
        let e = k2.open(k.id(), &s, b"hash-a").unwrap_err().to_string();
        assert!(e.contains(k.id()), "{e}");
        assert!(format!("{k:?}").contains(k.id()));
    }

    #[test]
    fn key_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("keys/evidence.key");
        let (k, created) = SealKey::load_or_create(&p).unwrap();
        assert!(created);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (k2, created) = SealKey::load_or_create(&p).unwrap();
        assert!(!created);
        assert_eq!(k.id(), k2.id());
        let raw = dir.path().join("raw.key");
        std::fs::write(&raw, [7u8; 32]).unwrap();
        assert_eq!(
            SealKey::load(&raw).unwrap().id(),
            SealKey::from_bytes(&[7u8; 32]).id()
        );
        let bad = dir.path().join("bad.key");
        std::fs::write(&bad, "short").unwrap();
        let e = SealKey::load(&bad).unwrap_err().to_string();
        assert!(e.contains("bad.key") && e.contains("64 hex digits"), "{e}");
        std::fs::write(&bad, "z".repeat(64)).unwrap();
        assert!(SealKey::load(&bad).is_err());
    }
}
