//! The models manifest (`models.toml` at the workspace root): which files the
//! project uses, their sizes and sha256 hashes, where they came from, under
//! what licence, and the input/output contract every session is checked
//! against. Code asks for models by key, never by hard-coded path, so a new
//! model plugs in through the manifest.

use crate::error::VisionError;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The manifest compiled into the binary, so an installed `kuzet` can check
/// models without the source tree beside it.
pub const EMBEDDED_MANIFEST: &str = include_str!("../../../models.toml");

/// All models the project knows, keyed by a short stable name (`yolox_nano`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelManifest {
    pub schema: u32,
    /// Sorted by key, so reports come out in a stable order.
    pub models: BTreeMap<String, ModelEntry>,
}

/// One file in the models folder.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelEntry {
    pub role: String,
    /// Path relative to the models folder.
    pub file: String,
    /// Lower-case hex sha256 of the whole file.
    pub sha256: String,
    pub bytes: u64,
    /// Upstream location: how to obtain the file again.
    pub source: String,
    pub licence: String,
    /// The manifest flags the licence as absent; keep such models out of
    /// anything distributed without checking.
    #[serde(default)]
    pub no_licence_stated: bool,
    /// Key of the labels file this model's class indices refer to.
    #[serde(default)]
    pub labels: Option<String>,
    /// `None` for non-model files (label lists).
    #[serde(default)]
    pub input: Option<InputSpec>,
    #[serde(default)]
    pub outputs: Vec<OutputSpec>,
}

/// The single input tensor of a model.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    /// `float32` or `int32`.
    pub dtype: String,
    /// As declared in the file; -1 = dynamic.
    pub shape: Vec<i64>,
    /// `NCHW` or `NHWC`.
    pub layout: String,
    /// `RGB` or `BGR`.
    pub colour: String,
    /// Human-readable formula, e.g. `raw 0-255`, `(x-127.5)/128`.
    pub normalisation: String,
    /// How the image is fitted to the input (letterbox, resize, alignment…).
    #[serde(default)]
    pub prep: String,
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    pub name: String,
    /// As declared in the file; -1 = dynamic.
    pub shape: Vec<i64>,
}

/// Outcome of checking one file against the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckStatus {
    Ok,
    Missing,
    SizeMismatch {
        expected: u64,
        actual: u64,
    },
    HashMismatch {
        expected: String,
        actual: String,
    },
    /// Could not be read (permissions, I/O error).
    Unreadable(String),
}

/// One line of a models check: the model, its path, the verdict and a message
/// that, on failure, says how to get the right file.
#[derive(Clone, Debug)]
pub struct ModelCheck {
    pub key: String,
    pub path: PathBuf,
    pub status: CheckStatus,
    pub message: String,
}

impl ModelCheck {
    pub fn is_ok(&self) -> bool {
        self.status == CheckStatus::Ok
    }
}

impl ModelManifest {
    /// Parses a manifest file.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, VisionError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| VisionError::io(path, e))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// `<workspace root>/models.toml`, the file the embedded copy was built from.
    pub fn default_path() -> PathBuf {
        base::env::workspace_root().join("models.toml")
    }

    /// The copy compiled into this binary.
    pub fn embedded() -> Self {
        Self::parse(EMBEDDED_MANIFEST, "<embedded models.toml>")
            .expect("the embedded models.toml is validated by the crate's tests")
    }

    /// Parses manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, VisionError> {
        let err = |reason: String| VisionError::Manifest {
            path: origin.to_string(),
            reason,
        };
        let m: ModelManifest = toml::from_str(text).map_err(|e| err(e.to_string()))?;
        if m.schema != 1 {
            return Err(err(format!("unsupported schema {}", m.schema)));
        }
        for (key, e) in &m.models {
            if e.sha256.len() != 64 || !e.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(err(format!("model `{key}`: sha256 must be 64 hex digits")));
            }
            if let Some(l) = &e.labels {
                if !m.models.contains_key(l) {
                    return Err(err(format!(
                        "model `{key}`: labels `{l}` is not in the manifest"
                    )));
                }
            }
            if e.input.is_some() && e.outputs.is_empty() {
                return Err(err(format!("model `{key}`: an input spec needs outputs")));
            }
        }
        Ok(m)
    }

    pub fn get(&self, key: &str) -> Result<&ModelEntry, VisionError> {
        self.models
            .get(key)
            .ok_or_else(|| VisionError::UnknownModel(key.to_string()))
    }

    /// Checks every file in `models_dir` against the manifest (size first, then
    /// a streamed sha256), in key order.
    pub fn check(&self, models_dir: &Path) -> Vec<ModelCheck> {
        self.models
            .iter()
            .map(|(k, e)| e.check(k, models_dir))
            .collect()
    }
}

impl ModelEntry {
    pub fn path(&self, models_dir: &Path) -> PathBuf {
        models_dir.join(&self.file)
    }

    /// How to obtain the correct file, for error messages.
    pub fn how_to_get(&self) -> String {
        format!(
            "get it from {} and place it at <KUZET_MODELS>/{} (sha256 {}, {} bytes)",
            self.source, self.file, self.sha256, self.bytes
        )
    }

    /// Checks one file: present, right size, right hash.
    pub fn check(&self, key: &str, models_dir: &Path) -> ModelCheck {
        let path = self.path(models_dir);
        let (status, message) = match std::fs::metadata(&path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (
                CheckStatus::Missing,
                format!("{}: missing; {}", path.display(), self.how_to_get()),
            ),
            Err(e) => (
                CheckStatus::Unreadable(e.to_string()),
                format!("{}: cannot read ({e})", path.display()),
            ),
            Ok(md) if md.len() != self.bytes => (
                CheckStatus::SizeMismatch {
                    expected: self.bytes,
                    actual: md.len(),
                },
                format!(
                    "{}: size mismatch, {} bytes instead of {} (truncated or wrong file); {}",
                    path.display(),
                    md.len(),
                    self.bytes,
                    self.how_to_get()
                ),
            ),
            Ok(_) => match sha256_file(&path) {
                Err(e) => (
                    CheckStatus::Unreadable(e.to_string()),
                    format!("{}: cannot read ({e})", path.display()),
                ),
                Ok(h) if h.eq_ignore_ascii_case(&self.sha256) => {
                    (CheckStatus::Ok, format!("{}: ok", path.display()))
                }
                Ok(h) => (
                    CheckStatus::HashMismatch {
                        expected: self.sha256.clone(),
                        actual: h.clone(),
                    },
                    format!(
                        "{}: sha256 mismatch, {h} instead of {}; {}",
                        path.display(),
                        self.sha256,
                        self.how_to_get()
                    ),
                ),
            },
        };
        ModelCheck {
            key: key.to_string(),
            path,
            status,
            message,
        }
    }
}

/// Streams a file through sha256 in 256 KiB blocks (no whole-file buffer).
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// sha256 of bytes already in memory.
pub fn sha256_bytes(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifest_parses_and_matches_file() {
        let m = ModelManifest::embedded();
        assert!(m.models.contains_key("yolox_nano"));
        assert_eq!(m.models.len(), 17, "every model of MANIFEST.md");
        let y = m.get("yolox_nano").unwrap();
        assert_eq!(y.input.as_ref().unwrap().shape, vec![1, 3, 416, 416]);
        assert_eq!(y.labels.as_deref(), Some("coco80_names"));
        assert!(m.get("yolo_fastestv2").unwrap().no_licence_stated);
        let on_disk = ModelManifest::load(ModelManifest::default_path()).unwrap();
        assert_eq!(on_disk.models.len(), m.models.len());
    }

    #[test]
    fn bad_manifests_are_refused() {
        assert!(ModelManifest::parse("schema = 2\n[models]\n", "t").is_err());
        let bad_hash = r#"
schema = 1
[models.x]
role = "r"
file = "f"
sha256 = "abc"
bytes = 1
source = "s"
licence = "l"
"#;
        let e = ModelManifest::parse(bad_hash, "t").unwrap_err().to_string();
        assert!(e.contains("64 hex"), "{e}");
    }
}
