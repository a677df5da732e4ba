//! The frame source abstraction and the options shared by every source kind.

use crate::error::MediaError;
use crate::ffmpeg::FfmpegSource;
use crate::images::ImageSource;
use crate::spec::SourceSpec;
use base::{Clock, Frame, Shutdown, Timestamp};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// Something that yields decoded, sampled RGB frames.
///
/// `Send` so a source can be opened on one thread and decoded on another.
pub trait FrameSource: Send {
    /// The next kept frame; `Ok(None)` is a clean end of stream. A damaged
    /// file yields the frames it could decode first and then the error, so
    /// partial results are not lost and the damage is not silent.
    fn next_frame(&mut self) -> Result<Option<Frame>, MediaError>;
    /// What is known about the source, available right after opening.
    fn info(&self) -> SourceInfo;
}

/// Source properties. Live streams and some containers do not announce
/// everything, hence the options.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SourceInfo {
    pub width: u32,
    pub height: u32,
    /// Native frame rate (the image rate for stills).
    pub fps: Option<f64>,
    pub is_live: bool,
    pub duration: Option<Duration>,
    /// Frames (or images) in the source, as the container announces it.
    pub frame_count: Option<u64>,
    /// Codec or image format name, for diagnostics (`h264`, `jpeg`…).
    pub codec: Option<String>,
}

/// How to open and play a source.
#[derive(Clone, Debug)]
pub struct SourceOptions {
    /// Camera identifier stamped on every frame.
    pub camera: Arc<str>,
    /// Analysis rate; `None` delivers every decoded frame.
    pub target_fps: Option<f64>,
    /// Play files (and stills) at their native speed instead of as fast as
    /// possible, so a file can stand in for a live camera.
    pub realtime: bool,
    /// Restart files (and image folders, re-listed each pass) at their end.
    pub loop_file: bool,
    /// Rate at which stills are presented: image *i* has pts `i × 1000/fps` ms.
    pub image_fps: f64,
    /// Network I/O timeout: a camera that stops answering for this long is
    /// treated as lost (the RTSP socket timeout and a watchdog on reads).
    pub io_timeout: Duration,
    /// FFmpeg decoder threads; 0 lets FFmpeg choose from the CPU count.
    pub decode_threads: usize,
    /// When triggered, blocking network reads and realtime pacing abort, so
    /// shutdown is not delayed by a silent camera.
    pub cancel: Option<Shutdown>,
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            camera: Arc::from("camera"),
            target_fps: None,
            realtime: false,
            loop_file: false,
            image_fps: 1.0,
            io_timeout: Duration::from_secs(5),
            decode_threads: 0,
            cancel: None,
        }
    }
}

/// Opens any source kind. `clock` gives file frames their wall time (open
/// time + pts) and paces realtime playback.
pub fn open(
    spec: &SourceSpec,
    opts: &SourceOptions,
    clock: Arc<dyn Clock>,
) -> Result<Box<dyn FrameSource>, MediaError> {
    Ok(match spec {
        SourceSpec::Rtsp(url) => Box::new(FfmpegSource::open_rtsp(url, opts, clock)?),
        SourceSpec::File(path) => Box::new(FfmpegSource::open_file(path, opts, clock)?),
        SourceSpec::Image(path) => Box::new(ImageSource::open_image(path, opts, clock)?),
        SourceSpec::Folder(path) => Box::new(ImageSource::open_folder(path, opts, clock)?),
    })
}

/// Properties of a local video, image or image folder without decoding it.
pub fn probe(path: impl AsRef<Path>) -> Result<SourceInfo, MediaError> {
    let path = path.as_ref();
    match SourceSpec::from_path(path)? {
        SourceSpec::File(p) => FfmpegSource::probe_file(&p),
        SourceSpec::Image(p) => ImageSource::probe_image(&p),
        SourceSpec::Folder(p) => ImageSource::probe_folder(&p, SourceOptions::default().image_fps),
        SourceSpec::Rtsp(u) => Err(MediaError::Unsupported { spec: u }),
    }
}

/// Turns presentation times into wall times and, for realtime playback,
/// waits until each frame is due.
pub(crate) struct Pacer {
    clock: Arc<dyn Clock>,
    start: Timestamp,
    realtime: bool,
    cancel: Option<Shutdown>,
}

impl Pacer {
    pub(crate) fn new(clock: Arc<dyn Clock>, opts: &SourceOptions) -> Self {
        Pacer {
            start: clock.now(),
            clock,
            realtime: opts.realtime,
            cancel: opts.cancel.clone(),
        }
    }

    /// Wall time of a frame presented `pts_ms` after the start.
    pub(crate) fn ts(&self, pts_ms: i64) -> Timestamp {
        Timestamp(self.start.0.saturating_add(pts_ms))
    }

    pub(crate) fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// In realtime mode, sleeps until the frame at `pts_ms` is due.
    pub(crate) fn wait_for(&self, pts_ms: i64) {
        if self.realtime {
            sleep_until(&*self.clock, self.ts(pts_ms), self.cancel.as_ref());
        }
    }
}

/// Sleeps on `clock` until `deadline`, in short steps so a triggered `cancel`
/// is noticed within 100 ms. Going through the clock keeps waits instant and
/// recorded under a simulated clock. Returns true if cancelled.
pub(crate) fn sleep_until(
    clock: &dyn Clock,
    deadline: Timestamp,
    cancel: Option<&Shutdown>,
) -> bool {
    const STEP: Duration = Duration::from_millis(100);
    loop {
        if cancel.is_some_and(Shutdown::is_triggered) {
            return true;
        }
        let left = deadline.since(clock.now());
        if left.is_zero() {
            return false;
        }
        clock.sleep(left.min(STEP));
    }
}
