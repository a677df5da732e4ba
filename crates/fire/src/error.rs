//! One error type for the crate; messages name the file or setting at fault.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum FireError {
    #[error(transparent)]
    Vision(#[from] vision::VisionError),

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot decode image {path}: {reason}")]
    Image { path: PathBuf, reason: String },

    /// The weights file is malformed or does not fit this extractor/build.
    #[error("fire head weights {path}: {reason}")]
    Weights { path: String, reason: String },

    #[error("data set {path}: {reason}")]
    Data { path: PathBuf, reason: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("invalid frame: {0}")]
    Frame(String),
}

impl FireError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        FireError::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn data(path: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        FireError::Data {
            path: path.into(),
            reason: reason.into(),
        }
    }
}
