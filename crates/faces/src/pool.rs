//! Several face pipelines working through one batch of photos: a
//! [`vision::Pool`] of [`FacePipeline`]s (see there for why two pipelines
//! with one intra-op thread each beat one with two), used by folder
//! enrolment, `kuzet eval faces` and `kuzet bench faces`.

use crate::error::FacesError;
use crate::pipeline::{FacePipeline, FacePipelineConfig, StageTotals};
use std::path::Path;
use vision::{ModelManifest, Pool};

pub use vision::split_threads;

/// `workers` face pipelines sharing a thread budget.
#[derive(Debug)]
pub struct FacePool(Pool<FacePipeline>);

impl std::ops::Deref for FacePool {
    type Target = Pool<FacePipeline>;
    fn deref(&self) -> &Pool<FacePipeline> {
        &self.0
    }
}

impl FacePool {
    /// Loads `workers` pipelines (see [`split_threads`] for 0) from `cfg`,
    /// whose session thread counts are the budget shared among them.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: FacePipelineConfig,
        workers: usize,
    ) -> Result<Self, FacesError> {
        Pool::with_thread_budget(cfg.session.intra_threads, workers, |each| {
            let mut one = cfg.clone();
            one.session.intra_threads = each;
            one.detector.session.intra_threads = each;
            FacePipeline::new(manifest, models_dir, one)
        })
        .map(FacePool)
    }

    /// A pool of one already loaded pipeline (runs items in order, on the
    /// caller's thread).
    pub fn single(pipe: FacePipeline) -> Self {
        FacePool(Pool::new(vec![pipe]))
    }

    /// Stage times summed over the workers (CPU-ish milliseconds: with two
    /// workers, twice the wall time can be spent).
    pub fn totals(&self) -> StageTotals {
        let mut t = StageTotals::default();
        self.each(|p| {
            let s = p.totals;
            t.images += s.images;
            t.faces += s.faces;
            t.embedded += s.embedded;
            t.detect_ms += s.detect_ms;
            t.quality_ms += s.quality_ms;
            t.align_ms += s.align_ms;
            t.embed_ms += s.embed_ms;
        });
        t
    }

    pub fn reset_totals(&self) {
        self.each(|p| p.totals = StageTotals::default());
    }
}
