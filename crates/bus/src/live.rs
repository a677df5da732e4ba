//! Live camera status and snapshots between `kuzet worker`s and `kuzet
//! serve`, so the camera list and the camera wall work in distributed mode.
//!
//! Both are *live* data: worth nothing a few seconds later, never stored,
//! never acknowledged. They therefore travel on core NATS subjects outside
//! the JetStream stream (`kuzet.>` is the stream; these are `kuzet_live.>`),
//! so they cost no stream space and never compete with events for it:
//!
//! * **Status**: each worker publishes the status of the cameras it runs
//!   (state, fps, frames, drops, last frame, error) every
//!   [`LiveTiming::status_every`] on `kuzet_live.status.<worker>`. The server
//!   keeps the latest report per camera and forgets one older than
//!   [`LiveTiming::stale_after`] (a dead worker's cameras drop out of the
//!   live list until their new worker reports them).
//! * **Snapshots, on demand**: a JPEG of a camera's latest analysed frame is
//!   sent only when someone looks. The server sends a request on
//!   `kuzet_live.snapshot.<camera key>` with the camera id as payload; every
//!   worker subscribes to `kuzet_live.snapshot.*` and the one running the
//!   camera answers (JPEG payload, `Kuzet-Snapshot` header with time, size
//!   and the tracked objects for the overlay); the others stay silent.
//!   Pushing frames all the time would cost ~50 KB per camera per second on
//!   the bus for pictures nobody watches.

use crate::{camera_key, BusError};
use base::{BBox, CameraStatus, Shutdown, Timestamp};
use bytes::Bytes;
use futures::StreamExt;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Subject prefix of live data (outside the `kuzet.>` stream).
pub const LIVE_PREFIX: &str = "kuzet_live";
/// Header of a snapshot reply carrying [`SnapshotMeta`] as JSON.
pub const SNAPSHOT_HEADER: &str = "Kuzet-Snapshot";

/// How often workers report and when the server forgets a report.
#[derive(Clone, Copy, Debug)]
pub struct LiveTiming {
    pub status_every: Duration,
    pub stale_after: Duration,
    /// How long the server waits for a snapshot answer.
    pub snapshot_timeout: Duration,
}

impl Default for LiveTiming {
    fn default() -> Self {
        LiveTiming {
            status_every: Duration::from_secs(2),
            stale_after: Duration::from_secs(6),
            snapshot_timeout: Duration::from_secs(1),
        }
    }
}

/// One worker's status message.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StatusReport {
    pub worker: String,
    pub cameras: Vec<CameraStatus>,
}

/// What a snapshot reply says about its JPEG.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SnapshotMeta {
    pub ts: Timestamp,
    pub width: u32,
    pub height: u32,
    /// Tracked objects on the frame: (track id, label, score, box in pixels).
    pub objects: Vec<(u64, String, f32, BBox)>,
}

/// A snapshot as the worker answers it.
#[derive(Clone, Debug)]
pub struct Snapshot {
    pub meta: SnapshotMeta,
    pub jpeg: Bytes,
}

/// The current status of the cameras a worker runs.
pub type StatusFn = Arc<dyn Fn() -> Vec<CameraStatus> + Send + Sync>;
/// A JPEG snapshot of a camera the worker runs, `None` for others.
pub type SnapshotSource = Arc<dyn Fn(&str) -> Option<Snapshot> + Send + Sync>;

fn snapshot_subject(camera: &str) -> String {
    format!("{LIVE_PREFIX}.snapshot.{}", camera_key(camera))
}

/// Worker side: publishes status and answers snapshot requests until
/// `shutdown`. `statuses` and `snapshot` are read at each use, so they may
/// follow an engine that is restarted behind them.
pub async fn serve_worker(
    client: async_nats::Client,
    worker: String,
    statuses: StatusFn,
    snapshot: SnapshotSource,
    timing: LiveTiming,
    shutdown: Shutdown,
) -> Result<(), BusError> {
    let mut requests = client
        .subscribe(format!("{LIVE_PREFIX}.snapshot.*"))
        .await
        .map_err(BusError::nats)?;
    let status_subject = format!("{LIVE_PREFIX}.status.{}", camera_key(&worker));
    let mut tick = tokio::time::interval(timing.status_every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while !shutdown.is_triggered() {
        tokio::select! {
            _ = tick.tick() => {
                let report = StatusReport { worker: worker.clone(), cameras: statuses() };
                match serde_json::to_vec(&report) {
                    Ok(body) => {
                        if let Err(e) = client.publish(status_subject.clone(), body.into()).await {
                            tracing::debug!(error = %e, "live status not sent");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "live status not encoded"),
                }
            }
            msg = requests.next() => {
                let Some(msg) = msg else { break };
                let Some(reply) = msg.reply.clone() else { continue };
                let camera = String::from_utf8_lossy(&msg.payload).into_owned();
                let snapshot = snapshot.clone();
                let client = client.clone();
                // JPEG encoding is CPU work: off the runtime's threads.
                tokio::spawn(async move {
                    let shot = tokio::task::spawn_blocking(move || snapshot(&camera)).await;
                    let Ok(Some(shot)) = shot else { return };
                    let Ok(meta) = serde_json::to_string(&shot.meta) else { return };
                    let mut headers = async_nats::HeaderMap::new();
                    headers.insert(SNAPSHOT_HEADER, meta.as_str());
                    if let Err(e) = client.publish_with_headers(reply, headers, shot.jpeg).await {
                        tracing::debug!(error = %e, "snapshot reply not sent");
                    }
                });
            }
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    }
    Ok(())
}

/// Server side: the latest status per camera from every worker, and
/// snapshot requests.
#[derive(Clone)]
pub struct LiveView {
    client: async_nats::Client,
    timing: LiveTiming,
    latest: Arc<Mutex<Latest>>,
}

/// Per camera id: when its last report came, from which worker, the status.
type Latest = HashMap<String, (Instant, String, CameraStatus)>;

impl LiveView {
    /// Opens its own core NATS connection to `url` and starts (on the
    /// caller's runtime, which must keep running).
    pub async fn connect(url: &str, timing: LiveTiming) -> Result<Self, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("kuzet-serve-live")
            .connect(url)
            .await
            .map_err(|e| BusError::Connect {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        Self::start(client, timing).await
    }

    /// Subscribes to the workers' status reports (on the caller's runtime).
    pub async fn start(client: async_nats::Client, timing: LiveTiming) -> Result<Self, BusError> {
        let mut sub = client
            .subscribe(format!("{LIVE_PREFIX}.status.*"))
            .await
            .map_err(BusError::nats)?;
        let latest: Arc<Mutex<Latest>> = Arc::default();
        let map = latest.clone();
        tokio::spawn(async move {
            while let Some(msg) = sub.next().await {
                let report: StatusReport = match serde_json::from_slice(&msg.payload) {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, subject = %msg.subject, "undecodable live status; ignored");
                        continue;
                    }
                };
                let now = Instant::now();
                let mut m = map.lock();
                for c in report.cameras {
                    m.insert(c.id.clone(), (now, report.worker.clone(), c));
                }
            }
        });
        Ok(LiveView {
            client,
            timing,
            latest,
        })
    }

    /// The fresh statuses, by camera id, with the worker that reported each.
    pub fn statuses(&self) -> Vec<(String, CameraStatus)> {
        let mut m = self.latest.lock();
        let stale = self.timing.stale_after;
        m.retain(|_, (at, _, _)| at.elapsed() <= stale);
        let mut out: Vec<(String, CameraStatus)> =
            m.values().map(|(_, w, c)| (w.clone(), c.clone())).collect();
        out.sort_by(|a, b| a.1.id.cmp(&b.1.id));
        out
    }

    /// Asks the worker running `camera` for a snapshot; `None` when no
    /// worker answers in time (camera not running, no frame yet).
    pub async fn snapshot(&self, camera: &str) -> Result<Option<Snapshot>, BusError> {
        let req = self.client.request(
            snapshot_subject(camera),
            camera.to_owned().into_bytes().into(),
        );
        let msg = match tokio::time::timeout(self.timing.snapshot_timeout, req).await {
            Err(_) => return Ok(None),
            Ok(Err(e)) => {
                return match e.kind() {
                    async_nats::RequestErrorKind::NoResponders
                    | async_nats::RequestErrorKind::TimedOut => Ok(None),
                    _ => Err(BusError::nats(e)),
                }
            }
            Ok(Ok(m)) => m,
        };
        let meta = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(SNAPSHOT_HEADER))
            .ok_or_else(|| BusError::Decode("snapshot reply without its header".into()))?;
        let meta: SnapshotMeta = serde_json::from_str(meta.as_str())
            .map_err(|e| BusError::Decode(format!("snapshot header: {e}")))?;
        Ok(Some(Snapshot {
            meta,
            jpeg: msg.payload,
        }))
    }
}
