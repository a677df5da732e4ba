//! A camera's ingest thread: open, decode, push, and reconnect on failure.

use crate::backoff::Backoff;
use crate::error::MediaError;
use crate::queue::FrameQueue;
use crate::source::{open, sleep_until, SourceOptions};
use crate::spec::SourceSpec;
use base::{CameraState, CameraStatus, Clock, Shutdown};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// A camera's live status, shared between its runner (the writer) and
/// whoever reports it (API, metrics).
///
/// A mutex rather than atomics because readers want a consistent snapshot of
/// several fields (state with its last error, frames with last frame time)
/// and the runner takes it once per delivered frame, a few times a second.
/// The runner writes `state`, `frames`, `dropped`, `queue_depth`,
/// `reconnects`, `width`, `height`, `last_frame` and `last_error`; `fps`
/// (frames *analysed* per second) is left to the analysing consumer.
pub type SharedStatus = Arc<parking_lot::Mutex<CameraStatus>>;

/// A fresh status in state `Connecting`; `url` is shown with the password masked.
pub fn new_status(id: &str, name: &str, spec: &SourceSpec) -> SharedStatus {
    Arc::new(parking_lot::Mutex::new(CameraStatus {
        id: id.to_string(),
        name: name.to_string(),
        url: spec.to_string(),
        state: CameraState::Connecting,
        fps: 0.0,
        frames: 0,
        dropped: 0,
        queue_depth: 0,
        reconnects: 0,
        width: 0,
        height: 0,
        last_frame: None,
        last_error: None,
    }))
}

/// How a camera runner behaves.
#[derive(Clone, Debug)]
pub struct CameraOptions {
    /// How the source is opened and sampled (`source.camera` names the frames).
    pub source: SourceOptions,
    pub backoff: Backoff,
    /// Streaming this long without failure resets the backoff to its first
    /// step, so a camera that drops once a day reconnects quickly each time.
    pub stable_after: Duration,
    /// Consecutive failed attempts after which the camera is `Failed`;
    /// `None` retries live streams forever. Files are never retried: their
    /// errors do not go away.
    pub max_attempts: Option<u32>,
    /// Wait for room in the queue instead of dropping the oldest frame: for
    /// offline file analysis, where every frame must be analysed.
    pub lossless: bool,
    /// Close the queue when the runner ends so the consumer sees the end.
    /// Turn off when several cameras share one queue.
    pub close_queue_on_exit: bool,
    /// Seed of the backoff jitter; `None` derives one from the camera id, so
    /// cameras desynchronise but each one's schedule is reproducible.
    pub seed: Option<u64>,
}

impl Default for CameraOptions {
    fn default() -> Self {
        CameraOptions {
            source: SourceOptions::default(),
            backoff: Backoff::default(),
            stable_after: Duration::from_secs(30),
            max_attempts: None,
            lossless: false,
            close_queue_on_exit: true,
            seed: None,
        }
    }
}

/// Starts the ingest thread of one camera.
///
/// The thread ends when the source finishes (files), fails for good, the
/// queue is closed by its consumer, or `shutdown` triggers; its final state
/// is in `status`. Waits go through `clock` (and wake on `shutdown`), so
/// reconnect schedules can be tested on a simulated clock. Frame `seq` and
/// `pts_ms` continue across reconnects, so the camera reads as one stream.
pub fn spawn_camera(
    spec: SourceSpec,
    opts: CameraOptions,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
    queue: Arc<FrameQueue>,
    status: SharedStatus,
) -> JoinHandle<()> {
    std::thread::Builder::new()
        .name(format!("cam-{}", opts.source.camera))
        .spawn(move || {
            let runner = Runner {
                spec,
                opts,
                clock,
                shutdown,
                queue,
                status,
            };
            runner.run();
        })
        .expect("cannot start a camera thread: the process is out of threads or memory")
}

struct Runner {
    spec: SourceSpec,
    opts: CameraOptions,
    clock: Arc<dyn Clock>,
    shutdown: Shutdown,
    queue: Arc<FrameQueue>,
    status: SharedStatus,
}

/// Why one connection ended.
enum End {
    Stopped,
    Eof,
    Error(MediaError),
}

impl Runner {
    fn run(self) {
        let final_state = self.run_loop();
        {
            let mut s = self.status.lock();
            s.state = final_state;
            s.dropped = self.queue.dropped();
            s.queue_depth = self.queue.depth();
        }
        tracing::info!(camera = %self.opts.source.camera, state = ?final_state, "camera runner ended");
        if self.opts.close_queue_on_exit {
            self.queue.close();
        }
    }

    fn run_loop(&self) -> CameraState {
        let camera = self.opts.source.camera.clone();
        let live = self.spec.is_live();
        let seed = self.opts.seed.unwrap_or_else(|| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            camera.hash(&mut h);
            h.finish()
        });
        let mut rng = StdRng::seed_from_u64(seed);
        let mut source_opts = self.opts.source.clone();
        if source_opts.cancel.is_none() {
            source_opts.cancel = Some(self.shutdown.clone());
        }
        // Consecutive failures since the last stable period.
        let mut attempt: u32 = 0;
        // Numbering across reconnects: see `Renumber`.
        let mut renumber = Renumber::default();
        loop {
            if self.shutdown.is_triggered() {
                return CameraState::Stopped;
            }
            let err = match open(&self.spec, &source_opts, self.clock.clone()) {
                Err(e) => e,
                Ok(mut src) => {
                    let info = src.info();
                    {
                        let mut s = self.status.lock();
                        s.state = CameraState::Online;
                        s.width = info.width;
                        s.height = info.height;
                    }
                    tracing::info!(camera = %camera, source = %self.spec, width = info.width, height = info.height, "online");
                    let online_since = self.clock.now();
                    renumber.new_connection();
                    let mut stable = false;
                    let end = loop {
                        if self.shutdown.is_triggered() || self.queue.is_closed() {
                            break End::Stopped;
                        }
                        match src.next_frame() {
                            Ok(Some(mut f)) => {
                                renumber.apply(&mut f);
                                {
                                    let mut s = self.status.lock();
                                    s.frames += 1;
                                    s.last_frame = Some(f.ts);
                                    s.width = f.width;
                                    s.height = f.height;
                                }
                                if self.opts.lossless {
                                    if !self.queue.push_blocking_until(f, &self.shutdown) {
                                        break End::Stopped;
                                    }
                                } else {
                                    self.queue.push(f);
                                }
                                {
                                    let mut s = self.status.lock();
                                    s.dropped = self.queue.dropped();
                                    s.queue_depth = self.queue.depth();
                                }
                                if !stable
                                    && self.clock.now().since(online_since)
                                        >= self.opts.stable_after
                                {
                                    stable = true;
                                    attempt = 0;
                                }
                            }
                            Ok(None) => break End::Eof,
                            Err(e) => break End::Error(e),
                        }
                    };
                    match end {
                        End::Stopped => return CameraState::Stopped,
                        End::Eof if !live => return CameraState::Finished,
                        End::Eof => MediaError::StreamLost {
                            url: self.spec.to_string(),
                            reason: "the stream ended".into(),
                        },
                        End::Error(e) => e,
                    }
                }
            };
            if self.shutdown.is_triggered() {
                return CameraState::Stopped;
            }
            tracing::warn!(camera = %camera, "{err}");
            self.status.lock().last_error = Some(err.to_string());
            if !live && !err.is_transient() {
                return CameraState::Failed;
            }
            if self.opts.max_attempts.is_some_and(|m| attempt + 1 >= m) {
                return CameraState::Failed;
            }
            let delay = self.opts.backoff.delay(attempt, &mut rng);
            attempt = attempt.saturating_add(1);
            {
                let mut s = self.status.lock();
                s.state = CameraState::Reconnecting;
                s.reconnects += 1;
            }
            tracing::info!(camera = %camera, attempt, "reconnecting in {delay:.1?}");
            let deadline = self.clock.now().plus(delay);
            // The state stays `Reconnecting` through the next attempt.
            if sleep_until(&*self.clock, deadline, Some(&self.shutdown)) {
                return CameraState::Stopped;
            }
        }
    }
}

/// Keeps a camera's frame numbering continuous across reconnects: each new
/// connection's source counts `seq` and `pts_ms` from 0 again, but consumers
/// (trackers, recorders) need one gap-free `seq` and increasing `pts_ms` per
/// camera. A new connection's pts continue from the last delivered one plus
/// the wall time that passed meanwhile.
#[derive(Default)]
struct Renumber {
    next_seq: u64,
    /// Last delivered (pts_ms, ts) over all connections.
    last: Option<(i64, base::Timestamp)>,
    /// Added to the current connection's pts; `None` until its first frame.
    offset: Option<i64>,
}

impl Renumber {
    fn new_connection(&mut self) {
        self.offset = None;
    }

    fn apply(&mut self, f: &mut base::Frame) {
        let offset = *self.offset.get_or_insert_with(|| match self.last {
            Some((pts, ts)) => pts + f.ts.since(ts).as_millis().max(1) as i64 - f.pts_ms,
            None => 0,
        });
        f.pts_ms += offset;
        f.seq = self.next_seq;
        self.next_seq += 1;
        self.last = Some((f.pts_ms, f.ts));
    }
}
