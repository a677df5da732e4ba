//! Where models and development media live.
//!
//! They are never copied into the repository: code finds them through
//! `KUZET_MODELS` and `KUZET_DATA` (the Makefile exports absolute paths), falling
//! back to `../shared/{models,data}` beside the workspace root.

use std::path::{Path, PathBuf};

/// Root of the cargo workspace this crate was built in; the defaults for models
/// and data are resolved from it so `cargo test` in any crate finds them.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn from_env(var: &str, default_rel: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => workspace_root().join(default_rel),
    }
}

/// Pretrained models (`KUZET_MODELS`, default `../shared/models`).
pub fn models_dir() -> PathBuf {
    from_env("KUZET_MODELS", "../shared/models")
}

/// Development media (`KUZET_DATA`, default `../shared/data`).
pub fn data_dir() -> PathBuf {
    from_env("KUZET_DATA", "../shared/data")
}

/// For tests: the path of a development media file, or a panic that names the
/// variable to set, so a missing data set never looks like a code failure.
pub fn require_data(rel: &str) -> PathBuf {
    let p = data_dir().join(rel);
    assert!(
        p.exists(),
        "test media {} not found: set KUZET_DATA to the development media folder (default ../shared/data)",
        p.display()
    );
    p
}

/// For tests: the models folder, or a panic naming `KUZET_MODELS`.
pub fn require_models() -> PathBuf {
    let p = models_dir();
    assert!(
        p.join("coco_detect").exists(),
        "models not found in {}: set KUZET_MODELS to the pretrained models folder (default ../shared/models)",
        p.display()
    );
    p
}
