//! The crate's one error type: every message says what failed and, where the
//! user can fix it, how (which variable to set, which file to fetch).

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VisionError {
    #[error(
        "ONNX Runtime library not found (tried: {tried}). Set ORT_DYLIB_PATH to the path of \
         libonnxruntime.so, or run `make setup` to install it under .deps/onnxruntime/"
    )]
    RuntimeNotFound { tried: String },

    #[error("failed to load ONNX Runtime from {path}: {reason} (check ORT_DYLIB_PATH, or run `make setup`)")]
    RuntimeLoad { path: PathBuf, reason: String },

    #[error("ONNX Runtime is not initialised: call kuzet_vision::init_runtime() first")]
    RuntimeNotInitialised,

    #[error("models manifest {path}: {reason}")]
    Manifest { path: String, reason: String },

    #[error("model `{0}` is not in the models manifest")]
    UnknownModel(String),

    #[error("model `{key}` has no input/output spec in the manifest, so no session can be checked against it")]
    NoSpec { key: String },

    /// The file is absent, or differs from the manifest: never loaded.
    #[error("{0}")]
    ModelFile(String),

    #[error("model `{key}` ({file}): {reason}")]
    ModelShape {
        key: String,
        file: String,
        reason: String,
    },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("ONNX Runtime: {0}")]
    Ort(String),

    #[error("cannot make the batch dimension of `{key}` dynamic: {reason}")]
    Patch { key: String, reason: String },

    #[error("invalid request: {0}")]
    InvalidInput(String),

    #[error("invalid configuration: {0}")]
    Config(String),
}

impl<R> From<ort::Error<R>> for VisionError {
    fn from(e: ort::Error<R>) -> Self {
        VisionError::Ort(e.to_string())
    }
}

impl VisionError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        VisionError::Io {
            path: path.into(),
            source,
        }
    }
}
