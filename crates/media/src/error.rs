//! Errors of the ingest stage.
//!
//! Every message names the source, what went wrong and what the operator can do
//! about it, because these errors end up in logs and in the camera status shown
//! to people who cannot read a backtrace.

use std::path::PathBuf;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum MediaError {
    #[error("no such file or directory: {}: check the path (relative paths are resolved from the current directory)", path.display())]
    NotFound { path: PathBuf },

    #[error("unsupported source {spec:?}: give an rtsp:// or rtsps:// URL, a video file, an image (jpg/jpeg/png/bmp) or a folder of images")]
    Unsupported { spec: String },

    #[error("{} is empty (0 bytes): the recording or copy did not complete; copy the file again", path.display())]
    EmptyFile { path: PathBuf },

    #[error("{} is not a video FFmpeg can read ({reason}): check the path or convert it with `ffmpeg -i <file> -c:v libx264 out.mp4`", path.display())]
    NotVideo { path: PathBuf, reason: String },

    #[error("{} has no video stream (only audio, subtitles or data): use a file that contains video", path.display())]
    NoVideoStream { path: PathBuf },

    #[error("cannot decode {source_name} ({reason}): the codec may be unsupported by this FFmpeg build; convert it with `ffmpeg -i <file> -c:v libx264 out.mp4`")]
    Decoder { source_name: String, reason: String },

    #[error("{} is truncated or damaged: it ended after {frames_decoded} frames{} ({detail}); copy the file again or salvage it with `ffmpeg -i <file> -c copy fixed.mp4`",
        path.display(),
        expected_frames.map(|n| format!(" of the {n} its header announces")).unwrap_or_default())]
    Truncated {
        path: PathBuf,
        frames_decoded: u64,
        expected_frames: Option<u64>,
        detail: String,
    },

    #[error("{} is damaged: {errors} decoding errors over {frames_decoded} frames ({detail}); re-encode it with `ffmpeg -i <file> -c:v libx264 out.mp4`", path.display())]
    Corrupt {
        path: PathBuf,
        frames_decoded: u64,
        errors: u64,
        detail: String,
    },

    #[error("cannot connect to {url} ({reason}): check that the camera is reachable, the URL path and the credentials, and that it serves RTSP over TCP")]
    Connect { url: String, reason: String },

    #[error("lost the stream from {url} ({reason}): the camera or network dropped it; the camera runner reconnects")]
    StreamLost { url: String, reason: String },

    #[error("cannot decode image {} ({reason}): check the file or re-save it as JPEG or PNG", path.display())]
    Image { path: PathBuf, reason: String },

    #[error("folder {} holds no images (jpg, jpeg, png, bmp): put snapshots there or point at a video file", path.display())]
    EmptyFolder { path: PathBuf },

    #[error("cannot encode an evidence clip: {reason}")]
    Encode { reason: String },

    #[error("cannot read {}: {source}: check the permissions", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl MediaError {
    /// Whether reopening the same source may help: a dropped network stream
    /// may come back, a truncated file will not.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            MediaError::Connect { .. } | MediaError::StreamLost { .. }
        )
    }
}
