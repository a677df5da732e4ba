//! The crate's error type. Every message names what failed and, where the
//! user can act, what to do about it (another photo, `--largest`, a variable).

use std::path::PathBuf;

/// Why a photo cannot be enrolled. Kept apart from [`FacesError`] so callers
/// (the CLI, the API) can report a refusal as an answer, not a crash.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error(
        "no face found: use a photo where the face is visible and at least {min_size} px wide"
    )]
    NoFace { min_size: u32 },
    #[error(
        "{count} faces found: use a photo of the person alone, or pass --largest to enrol the largest face"
    )]
    SeveralFaces { count: usize },
    #[error("face quality too low ({reasons}): use a sharper, more frontal, larger photo")]
    LowQuality { reasons: String },
    #[error("cannot use the photo: {reason}")]
    Unreadable { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum FacesError {
    #[error(transparent)]
    Vision(#[from] vision::VisionError),

    #[error(transparent)]
    Store(#[from] store::StoreError),

    #[error("cannot read image {path}: {reason} (expected a JPEG or PNG file)")]
    Image { path: PathBuf, reason: String },

    #[error("invalid image: {0}")]
    InvalidImage(String),

    #[error("model `{key}` returned {reason}")]
    ModelOutput { key: String, reason: String },

    #[error("invalid configuration: {0}")]
    Config(String),

    #[error("{path}: {reason}")]
    Refused { path: String, reason: Refusal },

    #[error("{0}")]
    Invalid(String),

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl<R> From<ort::Error<R>> for FacesError {
    fn from(e: ort::Error<R>) -> Self {
        FacesError::Vision(vision::VisionError::Ort(e.to_string()))
    }
}
