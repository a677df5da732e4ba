//! The worker's [`pipeline::Sink`]: publishes what the pipeline produces.
//!
//! The pipeline threads hand records to a **bounded** queue; one task
//! publishes them and awaits the broker's acknowledgements, retrying with the
//! same message id until acknowledged (at least once; the id makes retries
//! harmless). When the queue is full — the broker or the central side is
//! behind — the pipeline thread blocks, so the pipeline's own policy applies
//! upstream: live cameras drop their oldest frames (counted per camera),
//! files wait. Nothing handed to the queue is dropped; what was not yet
//! acknowledged when a worker dies is lost with the frames it came from and
//! was never reported as acknowledged.

use crate::record::{
    event_msg_id, evidence_msg_id, plate_msg_id, sighting_msg_id, CameraRecordMsg, H_HEIGHT,
    H_MSG_ID, H_ORIGIN, H_VERSION, H_WIDTH, SUBJECT_CAMERA, SUBJECT_EVENT, SUBJECT_EVIDENCE,
    SUBJECT_PLATE, SUBJECT_SIGHTING, SUBJECT_TRACK,
};
use crate::{Bus, Outgoing};
use base::{BBox, Event};
use futures::stream::FuturesUnordered;
use futures::StreamExt;
use parking_lot::Mutex;
use pipeline::{FaceObservation, PipelineError, PlateObservation, Sink};
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{Store, TrackRecord};
use tokio::sync::{mpsc, oneshot};

/// An acknowledged event (what `kuzet worker --json` prints).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Acked {
    pub msg_id: String,
    pub camera: String,
    pub kind: String,
    /// The broker already had it (a retry).
    pub duplicate: bool,
}

/// Called for every event the broker acknowledged.
pub type AckedFn = Arc<dyn Fn(&Acked) + Send + Sync>;

#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// This worker's id (part of the run origin).
    pub worker: String,
    /// Records waiting to be published, at most.
    pub queue: usize,
    /// Publishes awaiting the broker's acknowledgement, at most.
    pub in_flight: usize,
}

impl Default for SinkConfig {
    fn default() -> Self {
        SinkConfig {
            worker: "worker".into(),
            queue: 1024,
            in_flight: 256,
        }
    }
}

enum Job {
    Publish(Outgoing, Option<Acked>),
    /// Replies once everything queued before it is acknowledged.
    Flush(oneshot::Sender<()>),
}

/// Publishes pipeline output to the bus (see the module docs).
pub struct BusSink {
    tx: mpsc::Sender<Job>,
    cfg: SinkConfig,
    origin: Mutex<String>,
    /// Evidence hashes published lately, so a crop seen on consecutive events
    /// is sent once (the broker and store would dedupe it anyway).
    recent_evidence: Mutex<(HashSet<String>, VecDeque<String>)>,
    stats: Arc<SinkStats>,
    /// Run-time agreement terms heard from the server, once bound.
    agreements: std::sync::OnceLock<Arc<crate::agreements::WorkerAgreements>>,
}

/// Publisher counters (also exported as Prometheus metrics).
#[derive(Debug, Default)]
pub struct SinkStats {
    pub published: AtomicU64,
    pub acked_events: AtomicU64,
    /// Acknowledged as a duplicate of a message id the broker had within
    /// its dedupe window, so not stored again.
    pub duplicates: AtomicU64,
    pub retries: AtomicU64,
    /// Messages of any kind the broker acknowledged, and their payload bytes.
    pub acked: AtomicU64,
    pub acked_bytes: AtomicU64,
    /// Times a pipeline thread found the queue full and had to wait.
    pub queue_full: AtomicU64,
}

impl BusSink {
    /// Starts the publisher task on `rt`.
    pub fn start<B: Bus>(
        bus: Arc<B>,
        cfg: SinkConfig,
        rt: &tokio::runtime::Handle,
        on_ack: Option<AckedFn>,
    ) -> Arc<BusSink> {
        let (tx, rx) = mpsc::channel(cfg.queue.max(1));
        let stats = Arc::new(SinkStats::default());
        rt.spawn(publisher(
            bus,
            rx,
            cfg.in_flight.max(1),
            stats.clone(),
            on_ack,
        ));
        Arc::new(BusSink {
            tx,
            origin: Mutex::new(format!("{}/{}", cfg.worker, now_ms())),
            cfg,
            recent_evidence: Mutex::new((HashSet::new(), VecDeque::new())),
            stats,
            agreements: std::sync::OnceLock::new(),
        })
    }

    /// Applies the owners' run-time agreement terms (see
    /// [`crate::agreements`]): withdrawn analytics are neither analysed nor
    /// published from now on. Bound once; a second call is ignored.
    pub fn bind_agreements(&self, view: Arc<crate::agreements::WorkerAgreements>) {
        let _ = self.agreements.set(view);
    }

    pub fn stats(&self) -> &SinkStats {
        &self.stats
    }

    /// Records queued and not yet taken by the publisher.
    pub fn queue_depth(&self) -> usize {
        self.cfg.queue.max(1) - self.tx.capacity()
    }

    fn origin(&self) -> String {
        self.origin.lock().clone()
    }

    fn enqueue(&self, job: Job) -> Result<(), PipelineError> {
        let job = match self.tx.try_send(job) {
            Ok(()) => {
                metrics::gauge!("kuzet_bus_publish_queue_depth").set(self.queue_depth() as f64);
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Full(job)) => job,
            Err(mpsc::error::TrySendError::Closed(_)) => {
                return Err(PipelineError::Sink("the bus publisher stopped".into()))
            }
        };
        self.stats.queue_full.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kuzet_bus_publish_queue_full_total").increment(1);
        // Called from pipeline threads, never from the runtime's own.
        self.tx
            .blocking_send(job)
            .map_err(|_| PipelineError::Sink("the bus publisher stopped".into()))?;
        metrics::gauge!("kuzet_bus_publish_queue_depth").set(self.queue_depth() as f64);
        Ok(())
    }

    /// Publishes an encoded evidence JPEG (content-addressed; a hash sent
    /// lately is skipped) and returns its hash. The tail of
    /// [`Sink::save_evidence_jpeg`], public so `kuzet simulate` publishes
    /// ready-made JPEGs through the same code without re-encoding them.
    pub fn publish_evidence(&self, jpeg: Vec<u8>, w: u32, h: u32) -> Result<String, PipelineError> {
        let hash = store::sha256_hex(&jpeg);
        {
            let mut recent = self.recent_evidence.lock();
            if recent.0.contains(&hash) {
                return Ok(hash);
            }
            recent.0.insert(hash.clone());
            recent.1.push_back(hash.clone());
            if recent.1.len() > 512 {
                if let Some(old) = recent.1.pop_front() {
                    recent.0.remove(&old);
                }
            }
        }
        let id = evidence_msg_id(&hash);
        let mut headers = self.headers(Some(&id));
        headers.push((H_WIDTH, w.to_string()));
        headers.push((H_HEIGHT, h.to_string()));
        self.enqueue(Job::Publish(
            Outgoing {
                subject: SUBJECT_EVIDENCE.into(),
                msg_id: Some(id),
                headers,
                payload: jpeg.into(),
            },
            None,
        ))?;
        Ok(hash)
    }

    fn headers(&self, msg_id: Option<&str>) -> Vec<(&'static str, String)> {
        let mut h = vec![
            (H_ORIGIN, self.origin()),
            (H_VERSION, env!("CARGO_PKG_VERSION").to_owned()),
        ];
        if let Some(id) = msg_id {
            h.push((H_MSG_ID, id.to_owned()));
        }
        h
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn json<T: serde::Serialize>(v: &T) -> Result<bytes::Bytes, PipelineError> {
    serde_json::to_vec(v)
        .map(Into::into)
        .map_err(|e| PipelineError::Sink(format!("cannot encode a bus message: {e}")))
}

impl Sink for BusSink {
    fn begin_run(&self) -> Result<(), PipelineError> {
        // One origin per engine start: the server maps it to one run.
        *self.origin.lock() = format!("{}/{}", self.cfg.worker, now_ms());
        Ok(())
    }

    fn current_run(&self) -> Option<i64> {
        // The server assigns the run from the origin header.
        None
    }

    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), PipelineError> {
        let msg = CameraRecordMsg {
            id: id.to_owned(),
            name: name.to_owned(),
            url: url.to_owned(),
            config: config.clone(),
        };
        self.enqueue(Job::Publish(
            Outgoing {
                subject: SUBJECT_CAMERA.into(),
                msg_id: None,
                headers: self.headers(None),
                payload: json(&msg)?,
            },
            None,
        ))
    }

    fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Event>, PipelineError> {
        let events = match self.agreements.get() {
            Some(a) => a.filter_events(events),
            None => events,
        };
        for e in &events {
            let id = event_msg_id(e);
            let acked = Acked {
                msg_id: id.clone(),
                camera: e.camera.clone(),
                kind: e.kind.clone(),
                duplicate: false,
            };
            self.enqueue(Job::Publish(
                Outgoing {
                    subject: SUBJECT_EVENT.into(),
                    headers: self.headers(Some(&id)),
                    msg_id: Some(id),
                    payload: json(e)?,
                },
                Some(acked),
            ))?;
        }
        Ok(events)
    }

    fn analytic_allowed(&self, camera: &str, analytic: &str) -> bool {
        self.agreements
            .get()
            .is_none_or(|a| a.analytic_allowed(camera, analytic))
    }

    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), PipelineError> {
        if tracks.is_empty() {
            return Ok(());
        }
        self.enqueue(Job::Publish(
            Outgoing {
                subject: SUBJECT_TRACK.into(),
                msg_id: None,
                headers: self.headers(None),
                payload: json(&tracks)?,
            },
            None,
        ))
    }

    fn save_evidence_jpeg(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
    ) -> Result<String, PipelineError> {
        let (jpeg, w, h) = store::encode_jpeg(rgb, width, height, crop, quality)?;
        self.publish_evidence(jpeg, w, h)
    }

    fn flush(&self) -> Result<(), PipelineError> {
        let (tx, rx) = oneshot::channel();
        self.enqueue(Job::Flush(tx))?;
        rx.blocking_recv()
            .map_err(|_| PipelineError::Sink("the bus publisher stopped before a flush".into()))
    }

    fn central_store(&self) -> Option<Arc<Store>> {
        None
    }

    fn publish_plate_read(&self, obs: PlateObservation) -> Result<(), PipelineError> {
        let id = plate_msg_id(&obs);
        self.enqueue(Job::Publish(
            Outgoing {
                subject: SUBJECT_PLATE.into(),
                headers: self.headers(Some(&id)),
                msg_id: Some(id),
                payload: json(&obs)?,
            },
            None,
        ))
    }

    fn publish_face_sighting(&self, obs: FaceObservation) -> Result<(), PipelineError> {
        let id = sighting_msg_id(&obs);
        self.enqueue(Job::Publish(
            Outgoing {
                subject: SUBJECT_SIGHTING.into(),
                headers: self.headers(Some(&id)),
                msg_id: Some(id),
                payload: json(&obs)?,
            },
            None,
        ))
    }
}

type AckFuture<'a> = futures::future::BoxFuture<
    'a,
    (
        Outgoing,
        Option<Acked>,
        Result<crate::PubAck, crate::BusError>,
    ),
>;

/// Publishes queued records, at most `in_flight` awaiting acknowledgement,
/// retrying each until the broker acknowledges it.
async fn publisher<B: Bus>(
    bus: Arc<B>,
    mut rx: mpsc::Receiver<Job>,
    in_flight: usize,
    stats: Arc<SinkStats>,
    on_ack: Option<AckedFn>,
) {
    let mut pending: FuturesUnordered<AckFuture<'static>> = FuturesUnordered::new();
    let mut flushes: Vec<oneshot::Sender<()>> = Vec::new();
    let send = |msg: Outgoing, acked: Option<Acked>, delay: Duration| -> AckFuture<'static> {
        let bus = bus.clone();
        Box::pin(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            let r = bus.publish(msg.clone()).await;
            (msg, acked, r)
        })
    };
    let mut open = true;
    loop {
        if pending.is_empty() {
            for f in flushes.drain(..) {
                let _ = f.send(());
            }
            if !open {
                return;
            }
        }
        tokio::select! {
            job = rx.recv(), if open && pending.len() < in_flight && flushes.is_empty() => match job {
                Some(Job::Publish(msg, acked)) => {
                    stats.published.fetch_add(1, Ordering::Relaxed);
                    pending.push(send(msg, acked, Duration::ZERO));
                }
                Some(Job::Flush(reply)) => flushes.push(reply),
                None => open = false,
            },
            Some((msg, acked, r)) = pending.next(), if !pending.is_empty() => match r {
                Ok(ack) => {
                    stats.acked.fetch_add(1, Ordering::Relaxed);
                    stats.acked_bytes.fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
                    if ack.duplicate {
                        // Not stored again: the broker holds (or delivered)
                        // a message with this id already. Counted, because
                        // an id reused for other content would be lost here.
                        stats.duplicates.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("kuzet_bus_publish_duplicates_total").increment(1);
                        tracing::debug!(seq = ack.sequence, subject = %msg.subject, msg_id = ?msg.msg_id, "the broker had this message id already");
                    }
                    if let Some(mut a) = acked {
                        a.duplicate = ack.duplicate;
                        stats.acked_events.fetch_add(1, Ordering::Relaxed);
                        metrics::counter!("kuzet_bus_events_acked_total").increment(1);
                        if let Some(f) = &on_ack {
                            f(&a);
                        }
                    }
                }
                Err(e) => {
                    stats.retries.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("kuzet_bus_publish_retries_total").increment(1);
                    tracing::warn!(error = %e, subject = %msg.subject, "publish not acknowledged; retrying with the same id");
                    pending.push(send(msg, acked, Duration::from_millis(500)));
                }
            },
        }
    }
}
