//! Ingest: turns camera streams, video files and still images into sampled
//! RGB [`Frame`](base::Frame)s on a bounded queue.
//!
//! Public API:
//!
//! - [`SourceSpec::parse`]`(&str) -> Result<SourceSpec, MediaError>`: `rtsp://`/`rtsps://`
//!   URL, `file://` URL, video file, image (jpg/jpeg/png/bmp) or folder of images.
//! - [`open`]`(&SourceSpec, &SourceOptions, Arc<dyn Clock>) -> Result<Box<dyn FrameSource>, MediaError>`
//!   and the [`FrameSource`] trait: `next_frame() -> Result<Option<Frame>, MediaError>`
//!   (`Ok(None)` = clean end) and `info() -> SourceInfo`.
//! - [`probe`]`(path) -> Result<SourceInfo, MediaError>`: size, rate, duration of a local source.
//! - [`SourceOptions`]: camera id, `target_fps` sampling, `realtime` pacing,
//!   `loop_file`, still-image rate, network timeout, cancellation.
//! - [`spawn_camera`]`(spec, CameraOptions, clock, shutdown, Arc<FrameQueue>, SharedStatus) -> JoinHandle<()>`:
//!   a thread per camera that reconnects with [`Backoff`] and reports in a
//!   [`SharedStatus`] (see [`new_status`]).
//! - [`FrameQueue`]: bounded; `push` drops the oldest frame when full (live),
//!   `push_blocking` waits (offline analysis), `pop(timeout)`, `close`.
//! - [`Backoff::delay`]`(attempt, rng) -> Duration` and [`Sampler`].
//!
//! - [`encode_mp4`]`(&[ClipFrame], max_width) -> Result<EncodedClip, MediaError>`:
//!   evidence clips as H.264/MP4 (see [`clip`]).
//!
//! Decoding goes through FFmpeg (ffmpeg-next) for video and RTSP (over TCP)
//! and through the `image` crate for stills, so every kind of source yields
//! the same packed RGB24 frames. Frame times: files get the open time plus the
//! presentation time, live streams the time of receipt.

mod backoff;
mod camera;
pub mod clip;
mod error;
mod ffmpeg;
mod images;
mod queue;
mod sampler;
mod source;
mod spec;
pub mod testing;

pub use backoff::Backoff;
pub use camera::{new_status, spawn_camera, CameraOptions, SharedStatus};
pub use clip::{encode_mp4, ClipEncoder, ClipFrame, EncodedClip, CLIP_MIME};
pub use error::MediaError;
pub use queue::FrameQueue;
pub use sampler::Sampler;
pub use source::{open, probe, FrameSource, SourceInfo, SourceOptions};
pub use spec::{redact_url, SourceSpec, IMAGE_EXTENSIONS};
