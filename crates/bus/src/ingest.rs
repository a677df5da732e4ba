//! The server side: a durable pull consumer that writes into the store and
//! acknowledges each message only after the store has committed it.
//!
//! A crash between commit and acknowledgement makes the broker redeliver;
//! the writes are idempotent (events by message id, runs by origin, tracks by
//! key, evidence by hash, plate reads by message id and their hotlist alerts
//! by a key derived from it), so redelivery never duplicates a row.
//!
//! Plate reads arrive voted but unmatched: the ingest checks them against the
//! hotlists with the same [`PlateMatcher`] the embedded pipeline uses, so a
//! hit raises the same `hotlist_match` event with the same evidence.
//!
//! Two planes: the data workers produce (cameras, runs, events, tracks, plate
//! reads and their alerts, `face_match` events) goes through
//! [`StoreBackend`] and evidence through [`EvidenceBlobs`], so the same code
//! path ingests into the serve node's SQLite or into PostgreSQL. What matching
//! needs (hotlists, watchlists, authorisations) and face sightings (sealed,
//! indexed by the face service) stay on the serve node's SQLite [`Store`].

use crate::record::{decode, Record};
use crate::{Bus, BusError, Delivery};
use base::Shutdown;
use pipeline::{FaceMatcher, FaceObservation, PlateMatcher, PlateObservation};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use store::{EvidenceBlobs, Ingested, Keyed, Store, StoreBackend};

/// Moves a face crop that arrived as ordinary evidence into the serve
/// node's own store when evidence goes elsewhere (object storage): face
/// crops are biometric data, kept only on the node that holds the sealing
/// key, where the sighting's store seals them (`Store::seal_plain_face_data`),
/// never in a shared bucket. Copy, make durable, then delete: a crash
/// between the steps leaves the crop in both places, and the redelivered
/// sighting finishes the move. Nothing to do when the crop is missing (the
/// sighting is stored without it) or both stores share one directory.
fn face_crop_home(store: &Store, blobs: &dyn EvidenceBlobs, hash: &str) -> Result<(), BusError> {
    if let (Some(a), Some(b)) = (blobs.local_dir(), EvidenceBlobs::local_dir(store)) {
        let same = a == b
            || matches!((std::fs::canonicalize(a), std::fs::canonicalize(b)), (Ok(x), Ok(y)) if x == y);
        if same {
            return Ok(());
        }
    }
    if store.evidence_path(hash).is_none() {
        let Some(bytes) = blobs.get(hash)? else {
            return Ok(());
        };
        let (w, h) = image::ImageReader::new(std::io::Cursor::new(&bytes))
            .with_guessed_format()
            .ok()
            .and_then(|r| r.into_dimensions().ok())
            .unwrap_or((0, 0));
        store.put_image(hash, &bytes, w, h)?;
        store.flush()?;
    }
    blobs.delete(hash)?;
    Ok(())
}

/// Ingest counters, shared with the readiness endpoint.
#[derive(Debug, Default)]
pub struct IngestStats {
    pub messages: AtomicU64,
    pub events_new: AtomicU64,
    pub events_duplicate: AtomicU64,
    pub evidence: AtomicU64,
    pub undecodable: AtomicU64,
    /// Messages the broker delivered more than once (see
    /// [`crate::Delivery::redelivered`]); the writes are idempotent.
    pub redelivered: AtomicU64,
    pub store_failures: AtomicU64,
    /// Plate-read messages stored (redeliveries included: they resolve to
    /// the row stored first).
    pub plate_reads: AtomicU64,
    /// `hotlist_match` events raised from ingested plate reads.
    pub hotlist_matches_new: AtomicU64,
    /// Alerts of a redelivered plate read, found already stored.
    pub hotlist_matches_duplicate: AtomicU64,
    /// Face-sighting messages handled (matched, and stored when sightings
    /// are kept); redeliveries included, they are not voted twice.
    pub sightings: AtomicU64,
    /// `face_match` events raised centrally from workers' sightings.
    pub face_matches_new: AtomicU64,
    /// Face sightings that arrived while this server matches no faces
    /// (`[faces] enabled = false`): acknowledged and dropped, counted.
    pub sightings_unmatched: AtomicU64,
    /// Events and plate reads of analytics their camera owner's agreement
    /// no longer allows (changed at run time, `PUT
    /// /api/owners/{id}/agreement`): acknowledged, not stored, counted.
    /// Workers hold no store, so the serve node enforces the change for
    /// them, from the moment it is made.
    pub withheld: AtomicU64,
    /// Messages in the stream not yet acknowledged (last measurement).
    pub pending: AtomicU64,
    /// The consumer is bound and the last fetch succeeded.
    pub ready: AtomicBool,
}

/// A message the ingest committed and acknowledged (see
/// [`Ingest::on_committed`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed {
    pub subject: String,
    /// `Kuzet-Msg-Id`, for the records that carry one (events, plate reads,
    /// evidence).
    pub msg_id: Option<String>,
    pub bytes: usize,
}

/// Told, after each batch, what was committed and acknowledged.
pub type CommitObserver = Arc<dyn Fn(&[Committed]) + Send + Sync>;

pub struct Ingest<B: Bus> {
    bus: Arc<B>,
    /// The serve node's SQLite: hotlists, watchlists, face sightings.
    store: Arc<Store>,
    /// Where ingested data goes (`store` itself unless configured).
    data: Arc<dyn StoreBackend>,
    /// Where ingested evidence goes (`store`'s evidence directory and index
    /// unless configured).
    blobs: Arc<dyn EvidenceBlobs>,
    stats: Arc<IngestStats>,
    /// origin → run id in `data`.
    runs: HashMap<String, i64>,
    /// origin → run id in `store`, for face sightings (the same as `runs`
    /// when `data` is `store`).
    sighting_runs: HashMap<String, i64>,
    batch: usize,
    plates: PlateMatcher,
    faces: Option<FaceMatcher>,
    observer: Option<CommitObserver>,
}

impl<B: Bus> Ingest<B> {
    fn withhold(&self, camera: &str, kind: &str) {
        self.stats.withheld.fetch_add(1, Ordering::Relaxed);
        metrics::counter!("kuzet_bus_withheld_by_agreement_total").increment(1);
        tracing::debug!(
            camera,
            kind,
            "not stored: the camera owner's agreement no longer allows this analytic"
        );
    }

    pub fn new(bus: Arc<B>, store: Arc<Store>) -> Self {
        Ingest {
            bus,
            store: store.clone(),
            data: store.clone(),
            blobs: store.clone(),
            stats: Arc::new(IngestStats::default()),
            runs: HashMap::new(),
            sighting_runs: HashMap::new(),
            batch: 256,
            plates: PlateMatcher::new(store, &vehicles::PlateFormats::builtin()),
            faces: None,
            observer: None,
        }
    }

    /// Stores the ingested data in `data` (e.g. PostgreSQL) and evidence in
    /// `blobs` instead of the SQLite store given to [`Ingest::new`], which
    /// keeps the hotlists, watchlists and face sightings. Alerts raised here
    /// go to `data` with the events they belong with.
    pub fn with_backends(
        mut self,
        data: Arc<dyn StoreBackend>,
        blobs: Arc<dyn EvidenceBlobs>,
    ) -> Self {
        self.plates = std::mem::replace(
            &mut self.plates,
            PlateMatcher::new(self.store.clone(), &vehicles::PlateFormats::builtin()),
        )
        .with_backend(data.clone());
        self.faces = self.faces.take().map(|f| f.with_backend(data.clone()));
        self.data = data;
        self.blobs = blobs;
        self
    }

    /// Matches plate reads against the hotlists with the confusion tables
    /// of `formats`, the workers' `[plates] formats`; the built-in table's
    /// otherwise.
    pub fn with_plate_formats(mut self, formats: &vehicles::PlateFormats) -> Self {
        self.plates = self.plates.with_confusions(formats);
        self
    }

    /// Matches the face sightings workers publish against this server's
    /// watchlists (see [`FaceMatcher`]). Without it, sightings are counted
    /// and dropped: the server runs without face matching.
    pub fn with_faces(mut self, faces: FaceMatcher) -> Self {
        self.faces = Some(faces.with_backend(self.data.clone()));
        self
    }

    /// Calls `f` after each batch with the messages stored and acknowledged:
    /// `kuzet simulate` measures publish → stored latency with it, on the
    /// production ingest rather than a copy.
    pub fn on_committed(mut self, f: CommitObserver) -> Self {
        self.observer = Some(f);
        self
    }

    pub fn stats(&self) -> Arc<IngestStats> {
        self.stats.clone()
    }

    /// Consumes until `shutdown`; what was fetched is finished (committed and
    /// acknowledged) before returning. Store calls block, so run this on a
    /// runtime whose blocking does not stall others (its own thread).
    pub async fn run(mut self, shutdown: Shutdown) {
        let mut last_lag = Instant::now() - Duration::from_secs(60);
        while !shutdown.is_triggered() {
            if last_lag.elapsed() >= Duration::from_secs(1) {
                last_lag = Instant::now();
                match self.bus.pending().await {
                    Ok(n) => {
                        self.stats.pending.store(n, Ordering::Relaxed);
                        metrics::gauge!("kuzet_bus_consumer_pending").set(n as f64);
                    }
                    Err(e) => tracing::debug!(error = %e, "cannot read the consumer lag"),
                }
            }
            match self.bus.fetch(self.batch, Duration::from_millis(500)).await {
                Ok(batch) => {
                    self.stats.ready.store(true, Ordering::Relaxed);
                    if !batch.is_empty() {
                        self.handle(batch).await;
                    }
                }
                Err(e) => {
                    self.stats.ready.store(false, Ordering::Relaxed);
                    tracing::warn!(error = %e, "bus fetch failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    }

    /// Stores one fetched batch, then acknowledges it.
    pub async fn handle(&mut self, batch: Vec<Box<dyn Delivery>>) {
        let n = batch.len() as u64;
        self.stats.messages.fetch_add(n, Ordering::Relaxed);
        metrics::counter!("kuzet_bus_ingested_messages_total").increment(n);
        let mut ok: Vec<&dyn Delivery> = Vec::new();
        let mut failed: Vec<&dyn Delivery> = Vec::new();
        // Events are stored together, per origin, after everything else of
        // the batch (evidence files first, so an event's JPEG exists).
        let mut events: HashMap<String, Vec<(usize, Keyed<base::Event>)>> = HashMap::new();
        let mut plates: Vec<(usize, String, String, Box<PlateObservation>)> = Vec::new();
        let mut sightings: Vec<(usize, String, String, Box<FaceObservation>)> = Vec::new();
        for (i, d) in batch.iter().enumerate() {
            if d.redelivered() {
                self.stats.redelivered.fetch_add(1, Ordering::Relaxed);
                metrics::counter!("kuzet_bus_redelivered_total").increment(1);
            }
            let rec = match decode(d.subject(), |h| d.header(h), d.payload()) {
                Ok(r) => r,
                Err(e) => {
                    self.stats.undecodable.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("kuzet_bus_undecodable_total").increment(1);
                    tracing::error!(error = %e, "dropping an undecodable bus message");
                    if let Err(e) = d.term().await {
                        tracing::debug!(error = %e, "term failed");
                    }
                    continue;
                }
            };
            let res = match rec {
                Record::Camera(c) => self
                    .data
                    .upsert_camera(&c.id, &c.name, &c.url, &c.config)
                    .map_err(BusError::from),
                Record::Evidence {
                    hash,
                    width,
                    height,
                    jpeg,
                } => self
                    .blobs
                    .put_image(&hash, &jpeg, width, height)
                    .map(|_| {
                        self.stats.evidence.fetch_add(1, Ordering::Relaxed);
                    })
                    .map_err(BusError::from),
                Record::Tracks { origin, mut tracks } => match self.run_of(&origin) {
                    Ok(run) => {
                        for t in &mut tracks {
                            t.run_id = run;
                        }
                        self.data.upsert_tracks(tracks).map_err(BusError::from)
                    }
                    Err(e) => Err(e),
                },
                Record::Event {
                    origin,
                    msg_id,
                    event,
                } => {
                    events
                        .entry(origin)
                        .or_default()
                        .push((i, Keyed::with_key(msg_id, event)));
                    continue;
                }
                Record::PlateRead {
                    origin,
                    msg_id,
                    obs,
                } => {
                    plates.push((i, origin, msg_id, obs));
                    continue;
                }
                Record::Sighting {
                    origin,
                    msg_id,
                    obs,
                } => {
                    sightings.push((i, origin, msg_id, obs));
                    continue;
                }
            };
            match res {
                Ok(()) => ok.push(d.as_ref()),
                Err(e) => {
                    tracing::warn!(error = %e, subject = d.subject(), "store write failed; the message will be redelivered");
                    failed.push(d.as_ref());
                }
            }
        }
        for (origin, list) in events {
            // Run-time agreement changes bind what workers publish here.
            let (list, withheld): (Vec<_>, Vec<_>) = list.into_iter().partition(|(_, k)| {
                store::agreements::analytic_of(&k.item.kind)
                    .is_none_or(|a| self.store.analytic_allowed(&k.item.camera, a))
            });
            for (i, k) in withheld {
                self.withhold(&k.item.camera, &k.item.kind);
                ok.push(batch[i].as_ref());
            }
            if list.is_empty() {
                continue;
            }
            let (idx, keyed): (Vec<usize>, Vec<Keyed<base::Event>>) = list.into_iter().unzip();
            let res = self
                .run_of(&origin)
                .and_then(|run| Ok(self.data.ingest_events_outcomes(Some(run), keyed)?));
            match res {
                Ok(outcomes) => {
                    for o in outcomes {
                        match o {
                            Ingested::New(_) => {
                                self.stats.events_new.fetch_add(1, Ordering::Relaxed);
                                metrics::counter!("kuzet_bus_events_ingested_total", "outcome" => "new").increment(1);
                            }
                            Ingested::Duplicate(_) => {
                                self.stats.events_duplicate.fetch_add(1, Ordering::Relaxed);
                                metrics::counter!("kuzet_bus_events_ingested_total", "outcome" => "duplicate").increment(1);
                            }
                        }
                    }
                    ok.extend(idx.iter().map(|&i| batch[i].as_ref()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, origin, "storing events failed; they will be redelivered");
                    failed.extend(idx.iter().map(|&i| batch[i].as_ref()));
                }
            }
        }
        // Plate reads after their evidence; each is matched and stored with
        // its alerts before the next (the store commits each call).
        for (i, origin, msg_id, obs) in plates {
            if !self.store.analytic_allowed(&obs.read.camera, "plates") {
                self.withhold(&obs.read.camera, "plate_read");
                ok.push(batch[i].as_ref());
                continue;
            }
            let res = self
                .run_of(&origin)
                .and_then(|run| Ok(self.plates.record(*obs, Some(run), Some(&msg_id))?));
            match res {
                Ok(m) => {
                    self.stats.plate_reads.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("kuzet_bus_plate_reads_ingested_total").increment(1);
                    let dup = (m.events.len() - m.new_events) as u64;
                    self.stats
                        .hotlist_matches_new
                        .fetch_add(m.new_events as u64, Ordering::Relaxed);
                    self.stats
                        .hotlist_matches_duplicate
                        .fetch_add(dup, Ordering::Relaxed);
                    ok.push(batch[i].as_ref());
                }
                Err(e) => {
                    tracing::warn!(error = %e, origin, "storing a plate read failed; it will be redelivered");
                    failed.push(batch[i].as_ref());
                }
            }
        }
        // Face sightings after their crops, like plate reads.
        for (i, origin, msg_id, obs) in sightings {
            let Some(faces) = self.faces.as_mut() else {
                if self
                    .stats
                    .sightings_unmatched
                    .fetch_add(1, Ordering::Relaxed)
                    == 0
                {
                    tracing::warn!("workers publish face sightings but this server has face matching off ([faces] enabled = false): they are dropped, counted in kuzet_bus_sightings_unmatched_total");
                }
                metrics::counter!("kuzet_bus_sightings_unmatched_total").increment(1);
                ok.push(batch[i].as_ref());
                continue;
            };
            if obs.model != faces.model_key() {
                // Redelivery cannot fix this: acknowledge, count, say why.
                self.stats
                    .sightings_unmatched
                    .fetch_add(1, Ordering::Relaxed);
                metrics::counter!("kuzet_bus_sightings_unmatched_total").increment(1);
                tracing::error!(camera = %obs.camera, worker_model = %obs.model, server_model = %faces.model_key(), "a face sighting was embedded with another model than this server's: run the same face models on workers and server; dropped");
                ok.push(batch[i].as_ref());
                continue;
            }
            // The sighting's run is in the SQLite store, its alert's in the
            // data backend (one and the same unless configured apart).
            let sighting_run = match self.sighting_runs.get(&origin) {
                Some(r) => Ok(*r),
                None => self
                    .store
                    .run_for_origin(&origin, "worker")
                    .inspect(|&r| {
                        self.sighting_runs.insert(origin.clone(), r);
                    })
                    .map_err(BusError::from),
            };
            let event_run = match self.runs.get(&origin) {
                Some(r) => Ok(*r),
                None => self
                    .data
                    .run_for_origin(&origin, "worker")
                    .inspect(|&r| {
                        self.runs.insert(origin.clone(), r);
                    })
                    .map_err(BusError::from),
            };
            let res = sighting_run.and_then(|srun| {
                let erun = event_run?;
                if let Some(crop) = &obs.crop {
                    face_crop_home(&self.store, self.blobs.as_ref(), crop)?;
                }
                Ok(faces.record_with_runs(*obs, Some(srun), Some(erun), Some(&msg_id))?)
            });
            match res {
                Ok(m) => {
                    self.stats.sightings.fetch_add(1, Ordering::Relaxed);
                    metrics::counter!("kuzet_bus_sightings_ingested_total").increment(1);
                    self.stats
                        .face_matches_new
                        .fetch_add(m.new_events as u64, Ordering::Relaxed);
                    ok.push(batch[i].as_ref());
                }
                Err(e) => {
                    tracing::warn!(error = %e, origin, "matching a face sighting failed; it will be redelivered");
                    failed.push(batch[i].as_ref());
                }
            }
        }
        // Evidence rows (and, on SQLite, sightings' side writes) are queued
        // without waiting; the flush makes everything of this batch durable
        // before any acknowledgement.
        if let Err(e) = self.blobs.flush().and_then(|()| self.store.flush()) {
            tracing::warn!(error = %e, "store flush failed; the batch will be redelivered");
            failed.append(&mut ok);
        }
        for d in &ok {
            if let Err(e) = d.ack().await {
                // Redelivered later: harmless, the writes are idempotent.
                tracing::debug!(error = %e, "ack failed");
            }
        }
        if let Some(f) = &self.observer {
            let done: Vec<Committed> = ok
                .iter()
                .map(|d| Committed {
                    subject: d.subject().to_owned(),
                    msg_id: d.header(crate::record::H_MSG_ID),
                    bytes: d.payload().len(),
                })
                .collect();
            f(&done);
        }
        if !failed.is_empty() {
            self.stats
                .store_failures
                .fetch_add(failed.len() as u64, Ordering::Relaxed);
            metrics::counter!("kuzet_bus_store_failures_total").increment(failed.len() as u64);
        }
        for d in failed {
            let _ = d.nak(Duration::from_secs(1)).await;
        }
    }

    fn run_of(&mut self, origin: &str) -> Result<i64, BusError> {
        if let Some(r) = self.runs.get(origin) {
            return Ok(*r);
        }
        let run = self.data.run_for_origin(origin, "worker")?;
        self.runs.insert(origin.to_owned(), run);
        Ok(run)
    }
}
