//! Where the pipeline's results go.
//!
//! The pipeline threads (post, fire, offence evidence) write through [`Sink`]
//! so that one code path serves both deployments:
//! - **embedded** (the default): [`StoreSink`] writes the local SQLite store,
//!   exactly as before — events are acknowledged once committed;
//! - **worker** (`kuzet worker`): a bus sink (crate `kuzet-bus`) publishes
//!   the same records to NATS JetStream and the central server stores them.
//!
//! The trait is deliberately narrow: it holds what a worker can produce on
//! its own. Face-watchlist and plate-hotlist matching need central data
//! (templates, hotlists), so they keep the [`Store`] itself, reached through
//! [`Sink::central_store`]. A worker has none: it reads plates and hands
//! the voted reads on ([`Sink::publish_plate_read`]) for central matching.

use crate::{PipelineError, PlateObservation};
use base::{BBox, Event};
use std::sync::Arc;
use store::{Store, TrackRecord};

/// The pipeline's output. Every method may be called from any pipeline thread.
pub trait Sink: Send + Sync {
    /// Starts a new run (one per engine start) and makes it current.
    fn begin_run(&self) -> Result<(), PipelineError>;
    /// The run stamped on track records (0 where the sink assigns runs later).
    fn current_run(&self) -> Option<i64>;
    /// Records a camera's configuration.
    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), PipelineError>;
    /// Hands events over and returns them once this sink has accepted them
    /// (the store: committed, with ids; a bus: queued for publishing, the
    /// acknowledgement arrives asynchronously). Blocks while the sink is full,
    /// which back-pressures the pipeline.
    fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Event>, PipelineError>;
    /// Queues track summaries (each update supersedes the last).
    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), PipelineError>;
    /// JPEG-encodes (and optionally crops) RGB pixels, stores the JPEG under
    /// its SHA-256 and returns the hash for [`Event::evidence`].
    fn save_evidence_jpeg(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
    ) -> Result<String, PipelineError>;
    /// Like [`Sink::save_evidence_jpeg`], with `regions` (frame coordinates:
    /// bystanders' heads) masked irreversibly in what is stored. The default
    /// keeps no original (a worker has no sealing key: the sealed original
    /// stays with the store that holds the key); [`StoreSink`] seals it.
    fn save_evidence_masked(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
        regions: &[BBox],
    ) -> Result<String, PipelineError> {
        if regions.is_empty() {
            return self.save_evidence_jpeg(rgb, width, height, crop, quality);
        }
        let mut masked = rgb.to_vec();
        store::privacy::mask_regions(&mut masked, width, height, regions);
        self.save_evidence_jpeg(&masked, width, height, crop, quality)
    }
    /// Waits until everything handed over before has been accepted durably.
    fn flush(&self) -> Result<(), PipelineError>;
    /// The central store, where this process has one (embedded mode): live
    /// face and plate matching need its watchlists and hotlists.
    fn central_store(&self) -> Option<Arc<Store>>;
    /// Hands a voted plate read to the central side, which checks it
    /// against the hotlists (a worker's bus sink). Only called when
    /// [`Sink::central_store`] is `None`: with a store the plates stage
    /// matches locally.
    fn publish_plate_read(&self, obs: PlateObservation) -> Result<(), PipelineError> {
        let _ = obs;
        Err(PipelineError::Invalid(
            "this sink cannot forward plate reads: plate matching needs a central store or a bus"
                .into(),
        ))
    }
    /// Whether the owner of `camera` still allows `analytic` (an agreement's
    /// analytics, narrowed at run time). The face and plate stages ask
    /// before they analyse, so nothing withdrawn is computed or sent. The
    /// default allows what the validated config runs: a sink that learns no
    /// run-time terms has nothing to narrow it with.
    fn analytic_allowed(&self, camera: &str, analytic: &str) -> bool {
        let _ = (camera, analytic);
        true
    }
    /// Hands a searched-for face to the central side, which matches it
    /// against the watchlists (a worker's bus sink). Only called when
    /// [`Sink::central_store`] is `None`.
    fn publish_face_sighting(&self, obs: crate::FaceObservation) -> Result<(), PipelineError> {
        Err(PipelineError::Sink(format!(
            "this sink cannot hand the face sighting on {:?} to a central matcher",
            obs.camera
        )))
    }
}

/// The embedded default: the local store.
pub struct StoreSink(pub Arc<Store>);

impl Sink for StoreSink {
    fn begin_run(&self) -> Result<(), PipelineError> {
        self.0.begin_run()?;
        Ok(())
    }

    fn current_run(&self) -> Option<i64> {
        self.0.current_run()
    }

    fn upsert_camera(
        &self,
        id: &str,
        name: &str,
        url: &str,
        config: &serde_json::Value,
    ) -> Result<(), PipelineError> {
        Ok(self.0.upsert_camera(id, name, url, config)?)
    }

    fn insert_events(&self, events: Vec<Event>) -> Result<Vec<Event>, PipelineError> {
        Ok(self.0.insert_events(events)?)
    }

    fn upsert_tracks(&self, tracks: Vec<TrackRecord>) -> Result<(), PipelineError> {
        Ok(self.0.upsert_tracks(tracks)?)
    }

    fn save_evidence_jpeg(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
    ) -> Result<String, PipelineError> {
        Ok(self
            .0
            .save_evidence_jpeg(rgb, width, height, crop, quality)?)
    }

    fn save_evidence_masked(
        &self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crop: Option<BBox>,
        quality: u8,
        regions: &[BBox],
    ) -> Result<String, PipelineError> {
        Ok(self
            .0
            .save_evidence_masked(rgb, width, height, crop, quality, regions)?)
    }

    fn flush(&self) -> Result<(), PipelineError> {
        Ok(self.0.flush()?)
    }

    fn central_store(&self) -> Option<Arc<Store>> {
        Some(self.0.clone())
    }

    fn analytic_allowed(&self, camera: &str, analytic: &str) -> bool {
        self.0.analytic_allowed(camera, analytic)
    }
}
