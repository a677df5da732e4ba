//! Video files and RTSP streams through FFmpeg (libavformat + libavcodec +
//! libswscale).

use crate::error::MediaError;
use crate::sampler::Sampler;
use crate::source::{FrameSource, Pacer, SourceInfo, SourceOptions};
use crate::spec::redact_url;
use base::{Clock, Frame};
use ffmpeg_next as ff;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};
use std::time::{Duration, Instant};

/// Initialises FFmpeg once per process and quiets its logging: FFmpeg prints
/// a line per damaged packet (hundreds for one truncated file) while this crate
/// reports damage itself. Set `KUZET_FFMPEG_LOG` (`error`, `warning`, `info`,
/// `debug`) to see FFmpeg's own messages when diagnosing a camera.
pub(crate) fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        if let Err(e) = ff::init() {
            tracing::warn!("FFmpeg initialisation reported {e}");
        }
        ff::format::network::init();
        use ff::util::log::Level;
        let level = match std::env::var("KUZET_FFMPEG_LOG").as_deref() {
            Ok("error") => Level::Error,
            Ok("warning") => Level::Warning,
            Ok("info") => Level::Info,
            Ok("debug") => Level::Debug,
            _ => Level::Fatal,
        };
        ff::util::log::set_level(level);
    });
}

/// Milliseconds on a process-wide monotonic clock, for the I/O watchdog
/// (which must use real time whatever clock the pipeline runs on).
fn mono_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

#[derive(Clone, Debug)]
enum Origin {
    File(PathBuf),
    Rtsp(String),
}

impl Origin {
    fn name(&self) -> String {
        match self {
            Origin::File(p) => p.display().to_string(),
            Origin::Rtsp(u) => redact_url(u),
        }
    }
}

/// The swscale context. `SwsContext` has no thread affinity; ffmpeg-next only
/// omits `Send` because it wraps a raw pointer.
struct Scaler {
    ctx: ff::software::scaling::Context,
    out: ff::frame::Video,
    key: (ff::format::Pixel, u32, u32),
}

// SAFETY: the context and frame are owned exclusively by one `FfmpegSource`
// and only used through `&mut self`; libswscale keeps no thread-local state.
unsafe impl Send for Scaler {}

/// One opened container: demuxer, chosen video stream and decoder.
struct Opened {
    input: ff::format::context::Input,
    stream_index: usize,
    time_base: ff::Rational,
    decoder: ff::decoder::Video,
    info: SourceInfo,
}

pub(crate) struct FfmpegSource {
    origin: Origin,
    opts: SourceOptions,
    cur: Opened,
    info: SourceInfo,
    scaler: Option<Scaler>,
    decoded: ff::frame::Video,
    sampler: Sampler,
    pacer: Pacer,
    /// Deadline (on `mono_ms`) after which the interrupt callback aborts a
    /// blocking read; 0 = none. Shared with the callback FFmpeg polls.
    watchdog: Arc<AtomicU64>,
    seq: u64,
    frame_dur_us: i64,
    pass: Pass,
    done: bool,
}

/// Bookkeeping for one play-through of the input (a loop restarts it).
#[derive(Default)]
struct Pass {
    first_pts_us: Option<i64>,
    /// Added to pts so looped playback keeps increasing timestamps.
    offset_us: i64,
    last_pts_us: Option<i64>,
    frames: u64,
    demux_errors: u64,
    decode_errors: u64,
    consecutive_errors: u64,
    last_error: Option<String>,
    /// A read error other than end-of-file: the data stops here.
    io_error: Option<String>,
    eof_sent: bool,
}

/// Beyond this many errors in a row, with no frame or packet in between,
/// the input is considered hopeless rather than momentarily damaged.
const MAX_CONSECUTIVE_ERRORS: u64 = 10_000;

impl FfmpegSource {
    pub(crate) fn open_file(
        path: &Path,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MediaError> {
        Self::open(Origin::File(path.to_path_buf()), opts, clock)
    }

    pub(crate) fn open_rtsp(
        url: &str,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MediaError> {
        Self::open(Origin::Rtsp(url.to_string()), opts, clock)
    }

    pub(crate) fn probe_file(path: &Path) -> Result<SourceInfo, MediaError> {
        let origin = Origin::File(path.to_path_buf());
        let opened = open_input(
            &origin,
            &SourceOptions::default(),
            &Arc::new(AtomicU64::new(0)),
        )?;
        Ok(opened.info)
    }

    fn open(
        origin: Origin,
        opts: &SourceOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, MediaError> {
        let watchdog = Arc::new(AtomicU64::new(0));
        let cur = open_input(&origin, opts, &watchdog)?;
        let info = cur.info.clone();
        let frame_dur_us = info
            .fps
            .filter(|f| *f > 0.0)
            .map(|f| (1e6 / f) as i64)
            .unwrap_or(40_000);
        tracing::debug!(source = %origin.name(), ?info, "opened");
        Ok(FfmpegSource {
            origin,
            opts: opts.clone(),
            cur,
            info,
            scaler: None,
            decoded: ff::frame::Video::empty(),
            sampler: Sampler::new(opts.target_fps),
            pacer: Pacer::new(clock, opts),
            watchdog,
            seq: 0,
            frame_dur_us,
            pass: Pass::default(),
            done: false,
        })
    }

    fn is_live(&self) -> bool {
        matches!(self.origin, Origin::Rtsp(_))
    }

    fn note_error(&mut self, demux: bool, msg: String) -> Result<(), MediaError> {
        if demux {
            self.pass.demux_errors += 1;
        } else {
            self.pass.decode_errors += 1;
        }
        self.pass.consecutive_errors += 1;
        let n = self.pass.demux_errors + self.pass.decode_errors;
        if n.is_power_of_two() {
            tracing::debug!(source = %self.origin.name(), errors = n, "{msg}");
        }
        self.pass.last_error = Some(msg);
        if self.pass.consecutive_errors > MAX_CONSECUTIVE_ERRORS {
            let detail = format!(
                "{} unreadable packets in a row, last: {}",
                self.pass.consecutive_errors,
                self.pass.last_error.as_deref().unwrap_or("?")
            );
            match &self.origin {
                Origin::Rtsp(u) => {
                    self.done = true;
                    return Err(MediaError::StreamLost {
                        url: redact_url(u),
                        reason: detail,
                    });
                }
                // The usable data ends here (a long file cut short yields one
                // error per missing packet): finish the pass and let
                // `damage` report what was lost.
                Origin::File(_) => {
                    self.pass.io_error = Some(detail);
                    self.pass.consecutive_errors = 0;
                    self.send_eof();
                }
            }
        }
        Ok(())
    }

    fn send_eof(&mut self) {
        // Errors here only mean the decoder was already flushed.
        let _ = self.cur.decoder.send_eof();
        self.pass.eof_sent = true;
    }

    fn read_packet(&mut self) -> Result<(), MediaError> {
        if self.is_live() {
            let deadline = mono_ms() + self.opts.io_timeout.as_millis() as u64;
            self.watchdog.store(deadline, Ordering::Relaxed);
        }
        let mut packet = ff::Packet::empty();
        match packet.read(&mut self.cur.input) {
            Ok(()) => {
                if packet.stream() != self.cur.stream_index {
                    return Ok(());
                }
                if let Err(e) = self.cur.decoder.send_packet(&packet) {
                    return self.note_error(false, format!("the decoder rejected a packet: {e}"));
                }
                self.pass.consecutive_errors = 0;
                Ok(())
            }
            Err(ff::Error::Eof) => {
                self.send_eof();
                Ok(())
            }
            // The demuxer skips a damaged packet and can resync after it.
            Err(ff::Error::InvalidData) => {
                self.note_error(true, "damaged or missing data in the container".into())
            }
            Err(e) => match &self.origin {
                Origin::Rtsp(u) => {
                    self.done = true;
                    Err(MediaError::StreamLost {
                        url: redact_url(u),
                        reason: describe_io_error(&e, &self.opts),
                    })
                }
                Origin::File(_) => {
                    if matches!(e, ff::Error::Exit) {
                        // Cancelled by shutdown: stop without blaming the file.
                        self.done = true;
                        return Ok(());
                    }
                    self.pass.io_error = Some(format!("read error: {e}"));
                    self.send_eof();
                    Ok(())
                }
            },
        }
    }

    /// Handles a decoded picture: timestamps it, samples it and converts the
    /// kept ones to RGB (skipped frames never reach swscale).
    fn on_decoded(&mut self) -> Result<Option<Frame>, MediaError> {
        self.pass.frames += 1;
        self.pass.consecutive_errors = 0;
        let tb = self.cur.time_base;
        let raw_us = self
            .decoded
            .timestamp()
            .or_else(|| self.decoded.pts())
            .map(|p| rescale_us(p, tb));
        let rel_us = match (raw_us, self.pass.first_pts_us) {
            (Some(p), Some(first)) => p - first + self.pass.offset_us,
            // The first timestamped frame anchors the pass. RTSP often
            // delivers the first key frame untimed (before RTCP sync), so
            // anchor to follow on from any untimed frames already delivered.
            (Some(p), None) => {
                let rel = self
                    .pass
                    .last_pts_us
                    .map(|l| l + self.frame_dur_us)
                    .unwrap_or(self.pass.offset_us);
                self.pass.first_pts_us = Some(p - (rel - self.pass.offset_us));
                rel
            }
            // No timestamp: assume the nominal frame rate.
            (None, _) => self
                .pass
                .last_pts_us
                .map(|l| l + self.frame_dur_us)
                .unwrap_or(self.pass.offset_us),
        };
        self.pass.last_pts_us = Some(rel_us);
        if !self.sampler.keep(rel_us) {
            return Ok(None);
        }
        let (w, h, rgb) = self.convert_rgb()?;
        let pts_ms = rel_us.div_euclid(1000);
        let ts = if self.is_live() {
            self.pacer.now()
        } else {
            self.pacer.wait_for(pts_ms);
            self.pacer.ts(pts_ms)
        };
        let frame = Frame::new(self.opts.camera.clone(), self.seq, ts, pts_ms, w, h, rgb);
        self.seq += 1;
        Ok(Some(frame))
    }

    fn convert_rgb(&mut self) -> Result<(u32, u32, Vec<u8>), MediaError> {
        let (fmt, w, h) = (
            self.decoded.format(),
            self.decoded.width(),
            self.decoded.height(),
        );
        let key = (fmt, w, h);
        if self.scaler.as_ref().map(|s| s.key) != Some(key) {
            let ctx = ff::software::scaling::Context::get(
                fmt,
                w,
                h,
                ff::format::Pixel::RGB24,
                w,
                h,
                ff::software::scaling::Flags::BILINEAR,
            )
            .map_err(|e| MediaError::Decoder {
                source_name: self.origin.name(),
                reason: format!("cannot convert {fmt:?} {w}x{h} pictures to RGB: {e}"),
            })?;
            self.scaler = Some(Scaler {
                ctx,
                out: ff::frame::Video::empty(),
                key,
            });
        }
        let scaler = self.scaler.as_mut().expect("scaler set above");
        scaler
            .ctx
            .run(&self.decoded, &mut scaler.out)
            .map_err(|e| MediaError::Decoder {
                source_name: self.origin.name(),
                reason: format!("RGB conversion failed: {e}"),
            })?;
        let row = w as usize * 3;
        let stride = scaler.out.stride(0);
        let data = scaler.out.data(0);
        let mut rgb = Vec::with_capacity(row * h as usize);
        if stride == row {
            rgb.extend_from_slice(&data[..row * h as usize]);
        } else {
            for y in 0..h as usize {
                rgb.extend_from_slice(&data[y * stride..y * stride + row]);
            }
        }
        Ok((w, h, rgb))
    }

    /// The decoder is drained: decide between the end, an error about the
    /// file, and (looping) another pass.
    fn end_of_pass(&mut self) -> Result<(), MediaError> {
        let path = match &self.origin {
            Origin::Rtsp(u) => {
                self.done = true;
                return Err(MediaError::StreamLost {
                    url: redact_url(u),
                    reason: self
                        .pass
                        .last_error
                        .clone()
                        .unwrap_or_else(|| "the server ended the stream".into()),
                });
            }
            Origin::File(p) => p.clone(),
        };
        if let Some(e) = self.damage(&path) {
            self.done = true;
            return Err(e);
        }
        if !self.opts.loop_file
            || self.pass.frames == 0
            || self.opts.cancel.as_ref().is_some_and(|c| c.is_triggered())
        {
            self.done = true;
            return Ok(());
        }
        self.cur = open_input(&self.origin, &self.opts, &self.watchdog)?;
        let offset_us = self
            .pass
            .last_pts_us
            .map(|l| l + self.frame_dur_us)
            .unwrap_or(0);
        self.pass = Pass {
            offset_us,
            ..Pass::default()
        };
        Ok(())
    }

    /// Damage found in a finished pass over a file. Shortfall against the
    /// header is the only way to notice some truncations: a cut MP4 whose
    /// index survived reads cleanly up to the cut, then reports nothing worse
    /// than damaged packets.
    fn damage(&self, path: &Path) -> Option<MediaError> {
        let p = &self.pass;
        let expected = self.info.frame_count;
        let short_of_frames = expected.is_some_and(|n| p.frames * 10 < n * 9);
        let short_of_time = match (self.info.duration, p.last_pts_us) {
            (Some(d), Some(last)) => {
                let d = d.as_micros() as i64;
                (last - p.offset_us) + self.frame_dur_us < d * 9 / 10 - 1_000_000
            }
            (Some(d), None) => d > Duration::from_secs(1),
            _ => false,
        };
        if p.io_error.is_some() || short_of_frames || short_of_time {
            let detail = p
                .io_error
                .clone()
                .or_else(|| p.last_error.clone())
                .unwrap_or_else(|| "the data ends before the end its header announces".into());
            let detail = match p.last_pts_us {
                Some(last) => format!(
                    "{detail}; last picture at {:.1} s",
                    (last - p.offset_us) as f64 / 1e6
                ),
                None => detail,
            };
            return Some(MediaError::Truncated {
                path: path.to_path_buf(),
                frames_decoded: p.frames,
                expected_frames: expected,
                detail,
            });
        }
        if p.demux_errors + p.decode_errors > 0 {
            return Some(MediaError::Corrupt {
                path: path.to_path_buf(),
                frames_decoded: p.frames,
                errors: p.demux_errors + p.decode_errors,
                detail: p.last_error.clone().unwrap_or_default(),
            });
        }
        None
    }
}

impl FrameSource for FfmpegSource {
    fn next_frame(&mut self) -> Result<Option<Frame>, MediaError> {
        loop {
            if self.done {
                return Ok(None);
            }
            match self.cur.decoder.receive_frame(&mut self.decoded) {
                Ok(()) => match self.on_decoded()? {
                    Some(f) => return Ok(Some(f)),
                    None => continue,
                },
                Err(ff::Error::Eof) => {
                    self.end_of_pass()?;
                    continue;
                }
                Err(ff::Error::Other { errno }) if errno == ff::util::error::EAGAIN => {}
                Err(e) => {
                    self.note_error(false, format!("decoding failed: {e}"))?;
                    // `note_error` resets the run when it gives up on the
                    // data; a decoder still failing while draining ends here.
                    if self.pass.eof_sent && self.pass.consecutive_errors == 0 {
                        self.end_of_pass()?;
                    }
                    continue;
                }
            }
            if self.pass.eof_sent {
                // A drained decoder answers Eof; EAGAIN after EOF means it
                // lost track, which ends the pass all the same.
                self.end_of_pass()?;
                continue;
            }
            if self.opts.cancel.as_ref().is_some_and(|c| c.is_triggered()) {
                self.done = true;
                return Ok(None);
            }
            self.read_packet()?;
        }
    }

    fn info(&self) -> SourceInfo {
        self.info.clone()
    }
}

fn rescale_us(pts: i64, tb: ff::Rational) -> i64 {
    let (num, den) = (tb.numerator() as i128, tb.denominator() as i128);
    if den == 0 {
        return 0;
    }
    (pts as i128 * num * 1_000_000 / den).clamp(i64::MIN as i128, i64::MAX as i128) as i64
}

fn rational_f64(r: ff::Rational) -> Option<f64> {
    (r.numerator() > 0 && r.denominator() > 0)
        .then(|| r.numerator() as f64 / r.denominator() as f64)
}

fn describe_io_error(e: &ff::Error, opts: &SourceOptions) -> String {
    match e {
        ff::Error::Exit if opts.cancel.as_ref().is_some_and(|c| c.is_triggered()) => {
            "cancelled by shutdown".into()
        }
        ff::Error::Exit => format!("no data for {:.0?}", opts.io_timeout),
        e => e.to_string(),
    }
}

/// Whether the file starts like an MP4/MOV (an `ftyp` box): then a failure to
/// open it means a cut-off recording rather than a file of another kind.
fn looks_like_mp4(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 12];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut head))
        .map(|_| &head[4..8] == b"ftyp")
        .unwrap_or(false)
}

fn open_input(
    origin: &Origin,
    opts: &SourceOptions,
    watchdog: &Arc<AtomicU64>,
) -> Result<Opened, MediaError> {
    init();
    let (target, live) = match origin {
        Origin::File(path) => {
            let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => MediaError::NotFound { path: path.clone() },
                _ => MediaError::Io {
                    path: path.clone(),
                    source: e,
                },
            })?;
            if meta.is_dir() {
                return Err(MediaError::NotVideo {
                    path: path.clone(),
                    reason: "it is a directory".into(),
                });
            }
            if meta.len() == 0 {
                return Err(MediaError::EmptyFile { path: path.clone() });
            }
            let Some(s) = path.to_str() else {
                return Err(MediaError::NotVideo {
                    path: path.clone(),
                    reason: "the path is not valid UTF-8, which FFmpeg cannot open; rename it"
                        .into(),
                });
            };
            // The `file:` prefix stops FFmpeg from reading `name:rest` as a protocol.
            (format!("file:{s}"), false)
        }
        Origin::Rtsp(url) => {
            if url.contains('\0') {
                return Err(MediaError::Unsupported {
                    spec: redact_url(url),
                });
            }
            (url.clone(), true)
        }
    };

    let mut dict = ff::Dictionary::new();
    if live {
        let timeout_us = opts.io_timeout.as_micros().max(1).to_string();
        dict.set("rtsp_transport", "tcp");
        // The socket I/O timeout (µs) is `timeout` since FFmpeg 5
        // (libavformat 59); before, it was `stimeout`, and `timeout` meant
        // "listen for a connection", which must not be set on a client.
        let key = if ff::format::version() >> 16 >= 59 {
            "timeout"
        } else {
            "stimeout"
        };
        dict.set(key, &timeout_us);
        dict.set("allowed_media_types", "video");
        // Opening reads packets to learn the stream; bound it so a camera
        // that is slow to send a key frame does not stall for 5 s.
        dict.set("analyzeduration", "2000000");
        let open_deadline = mono_ms() + 2 * opts.io_timeout.as_millis() as u64 + 2_000;
        watchdog.store(open_deadline, Ordering::Relaxed);
    } else {
        watchdog.store(0, Ordering::Relaxed);
    }
    let wd = watchdog.clone();
    let cancel = opts.cancel.clone();
    let interrupt = move || {
        if cancel.as_ref().is_some_and(|c| c.is_triggered()) {
            return true;
        }
        let d = wd.load(Ordering::Relaxed);
        d != 0 && mono_ms() > d
    };

    let input = ff::format::input_with_interrupt_and_dictionary(&target, interrupt, dict)
        .map_err(|e| match origin {
            Origin::Rtsp(u) => MediaError::Connect {
                url: redact_url(u),
                reason: match e {
                    ff::Error::Exit => describe_io_error(&e, opts),
                    e => e.to_string(),
                },
            },
            Origin::File(p) if matches!(e, ff::Error::InvalidData) && looks_like_mp4(p) => {
                MediaError::Truncated {
                    path: p.clone(),
                    frames_decoded: 0,
                    expected_frames: None,
                    detail: "its index (moov atom) is missing, as when a recording is cut off before it is finalised".into(),
                }
            }
            Origin::File(p) => MediaError::NotVideo {
                path: p.clone(),
                reason: e.to_string(),
            },
        })?;

    let not_video = |reason: &str| match origin {
        Origin::File(p) => MediaError::NotVideo {
            path: p.clone(),
            reason: reason.to_string(),
        },
        Origin::Rtsp(u) => MediaError::Connect {
            url: redact_url(u),
            reason: reason.to_string(),
        },
    };
    // FFmpeg's `tty` demuxer renders any text file as video; nobody means that.
    if input.format().name() == "tty" {
        return Err(not_video("it is a text file"));
    }
    let stream = input
        .streams()
        .best(ff::media::Type::Video)
        .ok_or_else(|| match origin {
            Origin::File(p) => MediaError::NoVideoStream { path: p.clone() },
            Origin::Rtsp(u) => MediaError::Connect {
                url: redact_url(u),
                reason: "the stream has no video track".into(),
            },
        })?;
    let stream_index = stream.index();
    let time_base = stream.time_base();
    let decoder_err = |reason: String| MediaError::Decoder {
        source_name: origin.name(),
        reason,
    };
    let mut ctx = ff::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| decoder_err(format!("bad codec parameters: {e}")))?;
    ctx.set_threading(ff::codec::threading::Config {
        kind: ff::codec::threading::Type::Frame,
        count: opts.decode_threads,
        ..Default::default()
    });
    let codec_id = ctx.id();
    let mut dec = ctx.decoder();
    dec.set_packet_time_base(time_base);
    let decoder = dec
        .video()
        .map_err(|e| decoder_err(format!("no decoder for {codec_id:?}: {e}")))?;
    if decoder.width() == 0 || decoder.height() == 0 {
        return Err(not_video("the video stream has no picture size"));
    }

    let fps = rational_f64(stream.avg_frame_rate()).or_else(|| rational_f64(stream.rate()));
    let duration = if live {
        None
    } else if stream.duration() > 0 {
        Some(Duration::from_micros(
            rescale_us(stream.duration(), time_base).max(0) as u64,
        ))
    } else if input.duration() > 0 {
        Some(Duration::from_micros(input.duration() as u64))
    } else {
        None
    };
    let frame_count = (!live && stream.frames() > 0).then(|| stream.frames() as u64);
    let info = SourceInfo {
        width: decoder.width(),
        height: decoder.height(),
        fps,
        is_live: live,
        duration,
        frame_count,
        codec: decoder.codec().map(|c| c.name().to_string()),
    };
    Ok(Opened {
        input,
        stream_index,
        time_base,
        decoder,
        info,
    })
}
