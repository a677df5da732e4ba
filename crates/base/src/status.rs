//! Live per-camera status, shared between the pipeline (writer) and the API (reader).

use crate::clock::Timestamp;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CameraState {
    Connecting,
    Online,
    /// Lost the stream; reconnecting with backoff.
    Reconnecting,
    /// A file source reached its end.
    Finished,
    Failed,
    Stopped,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CameraStatus {
    pub id: String,
    pub name: String,
    pub url: String,
    pub state: CameraState,
    /// Frames analysed per second over the last few seconds.
    pub fps: f32,
    pub frames: u64,
    /// Frames dropped by the bounded queue under overload.
    pub dropped: u64,
    pub queue_depth: usize,
    pub reconnects: u64,
    pub width: u32,
    pub height: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_frame: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}
