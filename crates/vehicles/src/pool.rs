//! Several plate readers working through one batch of photos: a
//! [`vision::Pool`] of [`Anpr`]s, each with its share of the intra-op
//! threads (see `vision::pool` for why that beats one reader with all of
//! them). Used by `kuzet eval plates`, `kuzet bench plates` and folder
//! sources of snapshot cameras read in bulk; the live pipeline has its own
//! plates thread instead.

use crate::anpr::{Anpr, AnprConfig, AnprStats};
use crate::error::VehiclesError;
use crate::formats::PlateFormats;
use std::path::Path;
use vision::{ModelManifest, Pool};

/// `workers` plate readers sharing a thread budget.
#[derive(Debug)]
pub struct AnprPool(Pool<Anpr>);

impl std::ops::Deref for AnprPool {
    type Target = Pool<Anpr>;
    fn deref(&self) -> &Pool<Anpr> {
        &self.0
    }
}

impl AnprPool {
    /// Loads `workers` readers (0 = one per core, see
    /// [`vision::split_threads`]); `cfg.session.intra_threads` (0 = all
    /// cores) is the budget shared among them.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: AnprConfig,
        workers: usize,
    ) -> Result<Self, VehiclesError> {
        Self::with_formats(manifest, models_dir, cfg, workers, PlateFormats::builtin())
    }

    /// As [`AnprPool::new`] with another format table.
    pub fn with_formats(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: AnprConfig,
        workers: usize,
        formats: PlateFormats,
    ) -> Result<Self, VehiclesError> {
        Pool::with_thread_budget(cfg.session.intra_threads, workers, |each| {
            let mut one = cfg.clone();
            one.session.intra_threads = each;
            Anpr::with_formats(manifest, models_dir, one, formats.clone())
        })
        .map(AnprPool)
    }

    /// A pool of one loaded reader (items run in order, on the caller's
    /// thread).
    pub fn single(anpr: Anpr) -> Self {
        AnprPool(Pool::new(vec![anpr]))
    }

    /// Work done by all readers since the last [`AnprPool::reset_stats`].
    pub fn stats(&self) -> AnprStats {
        let mut t = AnprStats::default();
        self.each(|a| {
            t.images += a.stats.images;
            t.plate_model_runs += a.stats.plate_model_runs;
            t.plates_read += a.stats.plates_read;
            t.crops_read += a.stats.crops_read;
        });
        t
    }

    pub fn reset_stats(&self) {
        self.each(|a| a.stats = AnprStats::default());
    }
}
