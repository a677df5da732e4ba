//! Persisted approximate-nearest-neighbour index for face embeddings.
//!
//! Faces are compared by cosine similarity. Watchlists hold thousands of
//! templates and retrospective search runs over millions of stored sightings,
//! where an exact scan per query is too slow; this crate answers 1:N queries
//! from an HNSW graph instead.
//!
//! # Design
//! * Vectors are L2-normalised on the way in, so cosine is a dot product.
//! * The graph is built and traversed on int8 codes (one scale per vector):
//!   a quarter of the memory traffic of f32 and SIMD-friendly. The best
//!   `rerank` candidates are then re-scored with the stored f32 vectors, so
//!   the scores returned are exact cosines.
//! * Removal leaves a tombstone: the node still routes searches but never
//!   appears in results. When tombstones reach a quarter of the nodes the
//!   graph is rebuilt from the live vectors.
//! * [`Index::search_filtered`] traverses the graph with the filter applied
//!   to results only and falls back to an exact scan of the kept set when the
//!   filter is so selective that the graph cannot fill `k` results cheaply.
//! * [`Index::save`] writes a versioned, CRC-checked file atomically.
//!
//! See `docs/ann.md` for the file format and measured figures.

pub mod engine;
mod hnsw;
mod kernels;
mod persist;

use std::cell::RefCell;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering as AO};
use std::sync::Mutex;

pub use engine::{HnswEngine, VectorEngine, VectorError, VectorFilter, VectorItem};
use hnsw::{BuildShared, Graph, Near, Scratch, View, MAX_LEVEL};
use kernels::Kernels;

/// Largest accepted dimension; bounds allocations made from file headers.
pub const MAX_DIM: usize = 1 << 16;
/// Largest accepted `m`; layer-0 lists have `2 m` entries.
pub const MAX_M: usize = 128;

/// Build and search knobs. The defaults suit 512-d face embeddings from a few
/// thousand up to a few million vectors.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexParams {
    /// Links per node (layer 0 keeps up to `2 m`). More links: better recall
    /// on hard data, more memory and slower inserts.
    pub m: usize,
    /// Candidate list size while linking a new node; build quality vs time.
    pub ef_construction: usize,
    /// Candidate list size at query time (raised to `k` if smaller); the
    /// main recall/speed knob.
    pub ef_search: usize,
    /// How many of the best quantised candidates are re-scored in f32. The
    /// int8 ranking is only approximate, so a few more than `k` are needed.
    pub rerank: usize,
    /// Threads used by bulk inserts and rebuilds; 0 means all cores.
    pub build_threads: usize,
    /// Seed of the level assignment, so builds are reproducible.
    pub seed: u64,
}

impl Default for IndexParams {
    fn default() -> Self {
        IndexParams {
            m: 16,
            ef_construction: 100,
            ef_search: 64,
            rerank: 32,
            build_threads: 0,
            seed: 0x6b75_7a65_7461_6e6e,
        }
    }
}

/// One result: the caller's id and its exact cosine similarity to the query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hit {
    pub id: u64,
    pub score: f32,
}

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("vector has dimension {got}, the index expects {expected}")]
    Dimension { expected: usize, got: usize },
    #[error("vector component {index} is not finite ({value})")]
    NonFinite { index: usize, value: f32 },
    #[error("vector has zero (or non-finite) norm; cosine similarity is undefined for it")]
    ZeroNorm,
    #[error("{what}: {got} values for {ids} ids of dimension {dim}")]
    BatchShape {
        what: &'static str,
        got: usize,
        ids: usize,
        dim: usize,
    },
    #[error("invalid index parameters: {0}")]
    Params(String),
    #[error("index is full ({0} slots)")]
    Full(usize),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: not a kuzet ANN index (bad magic)", path.display())]
    BadMagic { path: PathBuf },
    #[error("{}: unsupported index file version {found} (this build reads {supported})", path.display())]
    Version {
        path: PathBuf,
        found: u32,
        supported: u32,
    },
    #[error("{}: index has dimension {found}, expected {expected}", path.display())]
    FileDimension {
        path: PathBuf,
        found: usize,
        expected: usize,
    },
    #[error("{}: file is truncated ({detail})", path.display())]
    Truncated { path: PathBuf, detail: String },
    #[error("{}: checksum mismatch (stored {stored:08x}, computed {computed:08x}); the file is corrupt", path.display())]
    Checksum {
        path: PathBuf,
        stored: u32,
        computed: u32,
    },
    #[error("{}: corrupt index file: {detail}", path.display())]
    Corrupt { path: PathBuf, detail: String },
}

/// The index. `Send + Sync`: searches take `&self` and may run concurrently;
/// mutations take `&mut self`.
pub struct Index {
    dim: usize,
    params: IndexParams,
    ids: Vec<u64>,
    slot_of: HashMap<u64, u32>,
    deleted: Vec<bool>,
    n_deleted: usize,
    vectors: Vec<f32>,
    codes: Vec<i8>,
    scales: Vec<f32>,
    graph: Graph,
    kern: Kernels,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let r = SCRATCH.with(|c| match c.try_borrow_mut() {
        Ok(mut s) => Some((f.take().expect("called once"))(&mut s)),
        // Re-entered (a filter closure searching again): use a fresh one.
        Err(_) => None,
    });
    match r {
        Some(r) => r,
        None => (f.take().expect("not called yet"))(&mut Scratch::default()),
    }
}

fn check_params(dim: usize, p: &IndexParams) -> Result<(), IndexError> {
    let bad = |m: String| Err(IndexError::Params(m));
    if dim == 0 || dim > MAX_DIM {
        return bad(format!("dimension {dim} outside 1..={MAX_DIM}"));
    }
    if p.m < 2 || p.m > MAX_M {
        return bad(format!("m = {} outside 2..={MAX_M}", p.m));
    }
    if p.ef_construction < 1 || p.ef_search < 1 {
        return bad("ef_construction and ef_search must be at least 1".into());
    }
    Ok(())
}

/// Level of the `slot`-th node: geometric with ratio 1/m, from a hash so that
/// builds are reproducible.
fn random_level(seed: u64, slot: u64, m: usize) -> u8 {
    let mut z = seed ^ slot.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    let u = ((z >> 11) as f64 + 1.0) / (1u64 << 53) as f64; // (0, 1]
    let l = (-u.ln() / (m as f64).ln()).floor();
    (l as u64).min(MAX_LEVEL as u64) as u8
}

impl Index {
    /// An empty index for vectors of `dim` components.
    pub fn new(dim: usize, params: IndexParams) -> Result<Index, IndexError> {
        check_params(dim, &params)?;
        Ok(Index {
            dim,
            graph: Graph::new(params.m),
            params,
            ids: Vec::new(),
            slot_of: HashMap::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            vectors: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            kern: Kernels::detect(),
        })
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    pub fn params(&self) -> &IndexParams {
        &self.params
    }

    /// Query-time knob; takes effect for the next search.
    pub fn set_ef_search(&mut self, ef: usize) {
        self.params.ef_search = ef.max(1);
    }

    /// Number of live (not removed) vectors.
    pub fn len(&self) -> usize {
        self.slot_of.len()
    }

    pub fn is_empty(&self) -> bool {
        self.slot_of.is_empty()
    }

    pub fn contains(&self, id: u64) -> bool {
        self.slot_of.contains_key(&id)
    }

    /// Every live id, in no particular order (to reconcile the index with
    /// the database that owns the vectors).
    pub fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        self.slot_of.keys().copied()
    }

    /// Heap bytes held by the index (vectors, codes, graph, id map), an
    /// estimate of its resident memory.
    pub fn memory_bytes(&self) -> usize {
        self.vectors.capacity() * 4
            + self.codes.capacity()
            + self.scales.capacity() * 4
            + self.ids.capacity() * 8
            + self.deleted.capacity()
            + self.slot_of.capacity() * (8 + 4 + 1)
            + self.graph.memory_bytes()
    }

    /// Validates and L2-normalises `v` into `out`.
    fn normalise_into(&self, v: &[f32], out: &mut Vec<f32>) -> Result<(), IndexError> {
        if v.len() != self.dim {
            return Err(IndexError::Dimension {
                expected: self.dim,
                got: v.len(),
            });
        }
        let mut n2 = 0.0f64;
        for (i, &x) in v.iter().enumerate() {
            if !x.is_finite() {
                return Err(IndexError::NonFinite { index: i, value: x });
            }
            n2 += x as f64 * x as f64;
        }
        let norm = n2.sqrt();
        if !(norm > 0.0 && norm.is_finite()) {
            return Err(IndexError::ZeroNorm);
        }
        let inv = 1.0 / norm;
        out.extend(v.iter().map(|&x| (x as f64 * inv) as f32));
        Ok(())
    }

    fn view(&self) -> View<'_> {
        View {
            dim: self.dim,
            codes: &self.codes,
            scales: &self.scales,
            graph: &self.graph,
            kern: self.kern,
        }
    }

    fn slots(&self) -> usize {
        self.ids.len()
    }

    /// Stores a normalised vector in a new slot (not yet linked).
    fn push_slot(&mut self, id: u64, v: &[f32]) {
        let slot = self.slots();
        if let Some(old) = self.slot_of.insert(id, slot as u32) {
            self.deleted[old as usize] = true;
            self.n_deleted += 1;
        }
        self.ids.push(id);
        self.deleted.push(false);
        self.vectors.extend_from_slice(v);
        let start = self.codes.len();
        self.codes.resize(start + self.dim, 0);
        let s = kernels::quantise(v, &mut self.codes[start..]);
        self.scales.push(s);
        let level = random_level(self.params.seed, slot as u64, self.params.m);
        self.graph.push_node(level);
    }

    fn reserve(&mut self, extra: usize) -> Result<(), IndexError> {
        let limit = (u32::MAX - 1) as usize;
        if self.slots() + extra > limit {
            return Err(IndexError::Full(limit));
        }
        self.ids.reserve(extra);
        self.deleted.reserve(extra);
        self.vectors.reserve(extra * self.dim);
        self.codes.reserve(extra * self.dim);
        self.scales.reserve(extra);
        self.slot_of.reserve(extra);
        Ok(())
    }

    /// Links slots `first..` into the graph, in parallel when there are many.
    fn link_from(&mut self, first: usize) {
        let n = self.slots();
        if first >= n {
            return;
        }
        let cores = match self.params.build_threads {
            0 => std::thread::available_parallelism().map_or(1, |c| c.get()),
            t => t,
        };
        let threads = cores.min((n - first).div_ceil(256)).max(1);
        let sh = BuildShared {
            entry: Mutex::new((self.graph.entry, self.graph.max_level)),
            locks: (0..if threads > 1 { 4096 } else { 1 })
                .map(|_| Mutex::new(()))
                .collect(),
            ef_construction: self.params.ef_construction.max(self.params.m),
        };
        let view = self.view();
        if threads == 1 {
            with_scratch(|s| {
                for slot in first..n {
                    view.insert(slot as u32, &sh, s);
                }
            });
        } else {
            let next = AtomicUsize::new(first);
            std::thread::scope(|sc| {
                for _ in 0..threads {
                    sc.spawn(|| {
                        let mut s = Scratch::default();
                        loop {
                            let slot = next.fetch_add(1, AO::Relaxed);
                            if slot >= n {
                                break;
                            }
                            view.insert(slot as u32, &sh, &mut s);
                        }
                    });
                }
            });
        }
        let (entry, max_level) = sh.entry.into_inner().unwrap_or_else(|e| e.into_inner());
        self.graph.entry = entry;
        self.graph.max_level = max_level;
    }

    /// Adds `v` under `id`; an existing `id` is replaced.
    pub fn insert(&mut self, id: u64, v: &[f32]) -> Result<(), IndexError> {
        let mut nv = Vec::with_capacity(self.dim);
        self.normalise_into(v, &mut nv)?;
        self.reserve(1)?;
        let first = self.slots();
        self.push_slot(id, &nv);
        self.link_from(first);
        self.maybe_compact();
        Ok(())
    }

    /// Bulk insert of `ids.len()` row-major vectors, linked in parallel
    /// (`build_threads`). All rows are validated before anything changes;
    /// a later duplicate id replaces an earlier one.
    pub fn insert_many(&mut self, ids: &[u64], vectors: &[f32]) -> Result<(), IndexError> {
        if vectors.len() != ids.len() * self.dim {
            return Err(IndexError::BatchShape {
                what: "insert_many",
                got: vectors.len(),
                ids: ids.len(),
                dim: self.dim,
            });
        }
        // Validate everything first (all or nothing), then normalise row by
        // row: no second copy of a possibly multi-GB batch.
        let mut norm = Vec::with_capacity(self.dim);
        for row in vectors.chunks_exact(self.dim) {
            norm.clear();
            self.normalise_into(row, &mut norm)?;
        }
        self.reserve(ids.len())?;
        let first = self.slots();
        for (&id, row) in ids.iter().zip(vectors.chunks_exact(self.dim)) {
            norm.clear();
            self.normalise_into(row, &mut norm)?;
            self.push_slot(id, &norm);
        }
        self.link_from(first);
        self.maybe_compact();
        Ok(())
    }

    /// Removes `id`; returns whether it was present.
    pub fn remove(&mut self, id: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&id) else {
            return false;
        };
        self.deleted[slot as usize] = true;
        self.n_deleted += 1;
        self.maybe_compact();
        true
    }

    /// Tombstones that remain in the graph (routing only, never returned).
    pub fn tombstones(&self) -> usize {
        self.n_deleted
    }

    fn maybe_compact(&mut self) {
        if self.n_deleted > 0 && self.n_deleted * 4 >= self.slots() {
            self.compact();
        }
    }

    /// Rebuilds the graph from the live vectors, dropping all tombstones.
    /// Runs automatically once tombstones reach a quarter of the nodes.
    pub fn compact(&mut self) {
        let mut fresh = Index {
            dim: self.dim,
            graph: Graph::new(self.params.m),
            params: self.params.clone(),
            ids: Vec::new(),
            slot_of: HashMap::new(),
            deleted: Vec::new(),
            n_deleted: 0,
            vectors: Vec::new(),
            codes: Vec::new(),
            scales: Vec::new(),
            kern: self.kern,
        };
        // Cannot fail: the live count only shrinks.
        let _ = fresh.reserve(self.len());
        for slot in 0..self.slots() {
            if !self.deleted[slot] {
                let v = &self.vectors[slot * self.dim..(slot + 1) * self.dim];
                fresh.push_slot(self.ids[slot], v);
            }
        }
        fresh.link_from(0);
        *self = fresh;
    }

    fn prepare_query(&self, q: &[f32]) -> Result<(Vec<f32>, Vec<i8>, f32), IndexError> {
        let mut v = Vec::with_capacity(self.dim);
        self.normalise_into(q, &mut v)?;
        let mut code = vec![0i8; self.dim];
        let s = kernels::quantise(&v, &mut code);
        Ok((v, code, s))
    }

    /// Exact f32 scores for the best `max(k, rerank)` quantised candidates.
    fn rerank(&self, q: &[f32], found: &[Near], k: usize) -> Vec<Hit> {
        let take = found.len().min(k.max(self.params.rerank));
        let mut hits: Vec<Hit> = found[..take]
            .iter()
            .map(|c| {
                let s = c.slot as usize;
                Hit {
                    id: self.ids[s],
                    score: (self.kern.dot_f32)(q, &self.vectors[s * self.dim..(s + 1) * self.dim]),
                }
            })
            .collect();
        sort_hits(&mut hits);
        hits.truncate(k);
        hits
    }

    /// The `k` nearest live vectors to `q` by cosine, best first, with exact
    /// scores. Approximate: see `ef_search`.
    pub fn search(&self, q: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let (v, code, qs) = self.prepare_query(q)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let ef = self.params.ef_search.max(k);
        let view = self.view();
        let deleted = &self.deleted;
        with_scratch(|s| {
            let accept = |slot: u32| !deleted[slot as usize];
            view.search(&code, qs, ef, &accept, usize::MAX, s);
            Ok(self.rerank(&v, &s.found, k))
        })
    }

    /// Like [`Index::search`], restricted to ids for which `keep` is true
    /// (camera, time window...). Always returns `min(k, kept)` results: when
    /// the filter is too selective for the graph to fill `k` results within a
    /// bounded amount of work, it answers with an exact scan of the kept set.
    pub fn search_filtered(
        &self,
        q: &[f32],
        k: usize,
        keep: &dyn Fn(u64) -> bool,
    ) -> Result<Vec<Hit>, IndexError> {
        let (v, code, qs) = self.prepare_query(q)?;
        if k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let ef = self.params.ef_search.max(k);
        let budget = (self.slots() / 8).max(4 * ef * self.graph.m0);
        let view = self.view();
        let graph_hits = with_scratch(|s| {
            let accept = |slot: u32| !self.deleted[slot as usize] && keep(self.ids[slot as usize]);
            let complete = view.search(&code, qs, ef, &accept, budget, s);
            (complete && s.found.len() >= k).then(|| self.rerank(&v, &s.found, k))
        });
        Ok(match graph_hits {
            Some(h) => h,
            None => self.exact(&v, k, keep),
        })
    }

    /// Brute-force cosine search over all live vectors: the ground truth the
    /// approximate search is measured against.
    pub fn exact_search(&self, q: &[f32], k: usize) -> Result<Vec<Hit>, IndexError> {
        let mut v = Vec::with_capacity(self.dim);
        self.normalise_into(q, &mut v)?;
        Ok(self.exact(&v, k, &|_| true))
    }

    fn exact(&self, v: &[f32], k: usize, keep: &dyn Fn(u64) -> bool) -> Vec<Hit> {
        if k == 0 {
            return Vec::new();
        }
        let mut heap: BinaryHeap<std::cmp::Reverse<Near>> = BinaryHeap::with_capacity(k + 1);
        for slot in 0..self.slots() {
            if self.deleted[slot] || !keep(self.ids[slot]) {
                continue;
            }
            let sim = (self.kern.dot_f32)(v, &self.vectors[slot * self.dim..(slot + 1) * self.dim]);
            if heap.len() < k {
                heap.push(std::cmp::Reverse(Near {
                    sim,
                    slot: slot as u32,
                }));
            } else if heap.peek().is_some_and(|w| sim > w.0.sim) {
                heap.pop();
                heap.push(std::cmp::Reverse(Near {
                    sim,
                    slot: slot as u32,
                }));
            }
        }
        let mut hits: Vec<Hit> = heap
            .into_iter()
            .map(|r| Hit {
                id: self.ids[r.0.slot as usize],
                score: r.0.sim,
            })
            .collect();
        sort_hits(&mut hits);
        hits
    }

    /// Writes the index to `path` atomically: a temporary file in the same
    /// directory, fsynced, then renamed over `path`.
    pub fn save(&self, path: &Path) -> Result<(), IndexError> {
        persist::save(self, path)
    }

    /// Reads an index written by [`Index::save`]. Every structural field is
    /// validated, so a damaged file yields an error naming it, never a panic.
    pub fn load(path: &Path) -> Result<Index, IndexError> {
        persist::load(path, None)
    }

    /// The [`Index::save`] file format in memory, so a caller can encrypt it
    /// before it reaches a disk (face sighting indexes are sealed).
    pub fn to_bytes(&self) -> Vec<u8> {
        persist::to_bytes(self)
    }

    /// Reads what [`Index::to_bytes`] produced, validated as [`Index::load`]
    /// validates a file; `label` names the source in errors.
    pub fn from_bytes(bytes: &[u8], label: &Path) -> Result<Index, IndexError> {
        persist::from_bytes(bytes, label)
    }

    /// [`Index::load`] that also rejects a file of another dimension, e.g. an
    /// index built for a different embedding model.
    pub fn load_expecting_dim(path: &Path, dim: usize) -> Result<Index, IndexError> {
        persist::load(path, Some(dim))
    }
}

fn sort_hits(hits: &mut [Hit]) {
    hits.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_geometric() {
        let n = 100_000u64;
        let above: usize = (0..n).filter(|&i| random_level(1, i, 16) > 0).count();
        let frac = above as f64 / n as f64;
        assert!((frac - 1.0 / 16.0).abs() < 0.01, "{frac}");
    }

    #[test]
    fn index_is_send_sync() {
        fn ok<T: Send + Sync>() {}
        ok::<Index>();
    }
}
