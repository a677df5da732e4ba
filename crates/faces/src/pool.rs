//! Several face pipelines working through one batch of photos.
//!
//! Why: the face models are small (YuNet 0.3 MB, MiniFASNet 1.7 MB, the
//! embedder 4.9 MB), so one ONNX Runtime call gains little from a second
//! intra-op thread — most of an operator is too short to split well, and the
//! pre/post-processing between calls (resize, planar fill, grid decode, NMS,
//! alignment) runs on one thread anyway. Two pipelines with one intra-op thread
//! each, each on its own photo, keep both cores busy through all of that.
//! Used where photos arrive in batches: folder enrolment, `kuzet eval faces`
//! and `kuzet bench faces`. The live pipeline has its own thread per stage.

use crate::error::FacesError;
use crate::pipeline::{FacePipeline, FacePipelineConfig, StageTotals};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use vision::ModelManifest;

/// `workers` pipelines sharing a thread budget.
pub struct FacePool {
    pipes: Vec<Mutex<FacePipeline>>,
}

impl std::fmt::Debug for FacePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacePool")
            .field("workers", &self.pipes.len())
            .finish()
    }
}

/// How to split `threads` intra-op threads (0 = all cores) over `workers`
/// pipelines (0 = one per core, at most 4: beyond that the models' memory
/// grows and the cores are taken anyway). Returns (workers, threads each).
pub fn split_threads(threads: usize, workers: usize) -> (usize, usize) {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2);
    let total = if threads == 0 { cores } else { threads };
    let workers = if workers == 0 { total.min(4) } else { workers }.max(1);
    (workers, (total / workers).max(1))
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
        let (workers, each) = split_threads(cfg.session.intra_threads, workers);
        let mut one = cfg;
        one.session.intra_threads = each;
        one.detector.session.intra_threads = each;
        let pipes = (0..workers)
            .map(|_| FacePipeline::new(manifest, models_dir, one.clone()).map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FacePool { pipes })
    }

    /// A pool of one already loaded pipeline (runs items in order, on the
    /// caller's thread).
    pub fn single(pipe: FacePipeline) -> Self {
        FacePool {
            pipes: vec![Mutex::new(pipe)],
        }
    }

    pub fn workers(&self) -> usize {
        self.pipes.len()
    }

    /// `f` over every item, results in the items' order. Each worker takes
    /// the next unclaimed item, so a slow photo does not hold the others up.
    pub fn map<T: Sync, R: Send>(
        &self,
        items: &[T],
        f: impl Fn(&mut FacePipeline, &T) -> R + Sync,
    ) -> Vec<R> {
        if self.pipes.len() == 1 || items.len() < 2 {
            let mut p = lock(&self.pipes[0]);
            return items.iter().map(|it| f(&mut p, it)).collect();
        }
        let next = AtomicUsize::new(0);
        let mut slots: Vec<Option<R>> = (0..items.len()).map(|_| None).collect();
        let done: Vec<Vec<(usize, R)>> = std::thread::scope(|s| {
            let handles: Vec<_> = self
                .pipes
                .iter()
                .map(|pipe| {
                    let (next, f) = (&next, &f);
                    s.spawn(move || {
                        let mut p = lock(pipe);
                        let mut out = Vec::new();
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            let Some(it) = items.get(i) else { break };
                            out.push((i, f(&mut p, it)));
                        }
                        out
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        for (i, r) in done.into_iter().flatten() {
            slots[i] = Some(r);
        }
        slots
            .into_iter()
            .map(|r| r.expect("every index is claimed by exactly one worker"))
            .collect()
    }

    /// Stage times summed over the workers (CPU-ish milliseconds: with two
    /// workers, twice the wall time can be spent).
    pub fn totals(&self) -> StageTotals {
        let mut t = StageTotals::default();
        for p in &self.pipes {
            let p = lock(p);
            let s = p.totals;
            t.images += s.images;
            t.faces += s.faces;
            t.embedded += s.embedded;
            t.detect_ms += s.detect_ms;
            t.quality_ms += s.quality_ms;
            t.align_ms += s.align_ms;
            t.embed_ms += s.embed_ms;
        }
        t
    }

    pub fn reset_totals(&self) {
        for p in &self.pipes {
            lock(p).totals = StageTotals::default();
        }
    }

    /// `f` once on every worker's pipeline, in turn (warm-up: ONNX Runtime
    /// plans its first run of each input shape, which is not to be timed).
    pub fn each(&self, mut f: impl FnMut(&mut FacePipeline)) {
        for p in &self.pipes {
            f(&mut lock(p));
        }
    }

    /// The first pipeline, for single calls (model key, gate, one photo).
    pub fn first(&self) -> std::sync::MutexGuard<'_, FacePipeline> {
        lock(&self.pipes[0])
    }
}

/// A worker that panicked leaves its pipeline's totals half-updated at
/// worst; the models are still usable, so the poison is ignored.
fn lock(m: &Mutex<FacePipeline>) -> std::sync::MutexGuard<'_, FacePipeline> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_gives_every_worker_a_thread() {
        assert_eq!(split_threads(2, 2), (2, 1));
        assert_eq!(split_threads(4, 2), (2, 2));
        assert_eq!(split_threads(1, 2), (2, 1));
        assert_eq!(split_threads(3, 1), (1, 3));
        let (w, t) = split_threads(0, 0);
        assert!(w >= 1 && t >= 1);
    }
}
