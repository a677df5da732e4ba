//! Several model pipelines working through one batch of photos.
//!
//! Why: the models of a photo pipeline are small (YuNet 0.3 MB, the face
//! embedder 4.9 MB, the plate model 1.7 MB, PP-OCR rec 10 MB), so one ONNX
//! Runtime call gains little from a second intra-op thread — most operators
//! are too short to split well, and the pre/post-processing between calls
//! (resize, planar fill, prior decode, NMS, alignment, rectification) runs on
//! one thread anyway. Two pipelines with one intra-op thread each, each on its
//! own photo, keep both cores busy through all of that. Used where photos
//! arrive in batches (folder enrolment, evaluations, benchmarks); the live
//! pipeline has its own thread per stage instead.
//!
//! Written here rather than taken from rayon: each worker must own one
//! pipeline (ONNX sessions and scratch buffers) for the whole batch, which a
//! work-stealing pool does not express, and the loop is twenty lines.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

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

/// One pipeline per worker; each worker keeps its pipeline for a whole batch.
pub struct Pool<P> {
    pipes: Vec<Mutex<P>>,
}

impl<P> std::fmt::Debug for Pool<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.pipes.len())
            .finish()
    }
}

impl<P: Send> Pool<P> {
    /// A pool of the given pipelines (at least one).
    ///
    /// # Panics
    /// If `pipes` is empty: a pool without a worker is a caller bug
    /// ([`split_threads`] never asks for zero).
    pub fn new(pipes: Vec<P>) -> Self {
        assert!(!pipes.is_empty(), "a pool needs at least one pipeline");
        Pool {
            pipes: pipes.into_iter().map(Mutex::new).collect(),
        }
    }

    /// Builds `workers` pipelines with `make` (stops at the first error).
    pub fn build<E>(workers: usize, mut make: impl FnMut() -> Result<P, E>) -> Result<Self, E> {
        let pipes = (0..workers.max(1))
            .map(|_| make())
            .collect::<Result<Vec<_>, E>>()?;
        Ok(Pool::new(pipes))
    }

    /// Splits a budget of `threads` intra-op threads over `workers`
    /// pipelines (see [`split_threads`]) and builds each with
    /// `make(threads_each)`.
    pub fn with_thread_budget<E>(
        threads: usize,
        workers: usize,
        mut make: impl FnMut(usize) -> Result<P, E>,
    ) -> Result<Self, E> {
        let (workers, each) = split_threads(threads, workers);
        Pool::build(workers, || make(each))
    }

    pub fn workers(&self) -> usize {
        self.pipes.len()
    }

    /// `f` over every item, results in the items' order. Each worker takes
    /// the next unclaimed item, so a slow photo does not hold the others up.
    pub fn map<T: Sync, R: Send>(&self, items: &[T], f: impl Fn(&mut P, &T) -> R + Sync) -> Vec<R> {
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

    /// `f` once on every worker's pipeline, in turn (warm-up: ONNX Runtime
    /// plans its first run of each input shape, which is not to be timed;
    /// summing per-pipeline counters).
    pub fn each(&self, mut f: impl FnMut(&mut P)) {
        for p in &self.pipes {
            f(&mut lock(p));
        }
    }

    /// `f` on every worker's pipeline in turn, stopping at the first error.
    pub fn try_each<E>(&self, mut f: impl FnMut(&mut P) -> Result<(), E>) -> Result<(), E> {
        self.pipes.iter().try_for_each(|p| f(&mut lock(p)))
    }

    /// The first pipeline, for single calls (model key, gate, one photo).
    pub fn first(&self) -> MutexGuard<'_, P> {
        lock(&self.pipes[0])
    }
}

/// A worker that panicked leaves its pipeline's counters half-updated at
/// worst; the models are still usable, so the poison is ignored.
fn lock<P>(m: &Mutex<P>) -> MutexGuard<'_, P> {
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

    #[test]
    fn map_keeps_order_and_uses_every_worker_state() {
        // Each "pipeline" counts the items it handled; results carry the
        // item so order is checked, and the counts must add up.
        let pool = Pool::new(vec![0usize, 0, 0]);
        let items: Vec<u32> = (0..500).collect();
        let out = pool.map(&items, |n, &i| {
            *n += 1;
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        let mut total = 0;
        pool.each(|n| total += *n);
        assert_eq!(total, 500);
        let r: Result<Pool<u8>, &str> = Pool::build(2, || Err("no model"));
        assert_eq!(r.unwrap_err(), "no model");
    }
}
