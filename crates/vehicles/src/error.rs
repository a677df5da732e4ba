//! The crate's one error type. Messages name what failed and, where the user
//! can fix it, how.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VehiclesError {
    /// Model manifest, hash or session problems (missing file, wrong sha256…).
    #[error(transparent)]
    Vision(#[from] vision::VisionError),

    #[error("ONNX Runtime: {0}")]
    Ort(String),

    /// A model whose outputs or metadata do not have the expected form.
    #[error("model `{key}`: {reason}")]
    Model { key: String, reason: String },

    #[error("cannot read image {path}: {reason}")]
    Image { path: PathBuf, reason: String },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The plate-format table (TOML) is malformed.
    #[error("plate formats: {0}")]
    Formats(String),

    /// The evaluation labels file is missing or malformed.
    #[error("labels {path}: {reason}")]
    Labels { path: PathBuf, reason: String },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl<R> From<ort::Error<R>> for VehiclesError {
    fn from(e: ort::Error<R>) -> Self {
        VehiclesError::Ort(e.to_string())
    }
}
