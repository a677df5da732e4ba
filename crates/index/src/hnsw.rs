//! The HNSW graph over int8 codes.
//!
//! Adjacency is flat: layer 0 is one `Vec` with a fixed stride of `m0 + 1`
//! words per node (`[count, neighbours...]`), so expanding a node touches one
//! or two cache lines and no pointer chasing. Upper layers hold only ~1/m of
//! the nodes and live in a per-node boxed slice.
//!
//! Words are `AtomicU32` so that the parallel build can read lists while other
//! threads rewrite them (HNSW tolerates a slightly stale view of a list) and
//! writers only serialise per node through striped locks. Relaxed loads
//! compile to plain loads, so searching a finished graph pays nothing for it.

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU32, Ordering as AO};
use std::sync::{Mutex, MutexGuard};

use crate::kernels::{prefetch, Kernels};

pub(crate) const NONE: u32 = u32::MAX;
/// Level cap; with m ≥ 2 a level above this has probability < 2^-16 per node.
pub(crate) const MAX_LEVEL: u8 = 16;

/// A candidate: similarity (higher is nearer) and slot.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Near {
    pub sim: f32,
    pub slot: u32,
}

impl PartialEq for Near {
    fn eq(&self, o: &Self) -> bool {
        self.cmp(o) == Ordering::Equal
    }
}
impl Eq for Near {}
impl PartialOrd for Near {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Near {
    fn cmp(&self, o: &Self) -> Ordering {
        self.sim
            .total_cmp(&o.sim)
            .then_with(|| o.slot.cmp(&self.slot))
    }
}

pub(crate) struct Graph {
    pub m: usize,
    pub m0: usize,
    pub level0: Vec<AtomicU32>,
    pub upper: Vec<Box<[AtomicU32]>>,
    pub levels: Vec<u8>,
    pub entry: u32,
    pub max_level: u8,
}

impl Graph {
    pub fn new(m: usize) -> Graph {
        Graph {
            m,
            m0: 2 * m,
            level0: Vec::new(),
            upper: Vec::new(),
            levels: Vec::new(),
            entry: NONE,
            max_level: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.levels.len()
    }

    pub fn push_node(&mut self, level: u8) {
        self.level0.extend((0..=self.m0).map(|_| AtomicU32::new(0)));
        let up = level as usize * (self.m + 1);
        self.upper
            .push((0..up).map(|_| AtomicU32::new(0)).collect());
        self.levels.push(level);
    }

    /// The `[count, neighbours...]` words of `node` at `level`.
    #[inline]
    pub fn list(&self, node: u32, level: u8) -> &[AtomicU32] {
        let node = node as usize;
        if level == 0 {
            let s = self.m0 + 1;
            &self.level0[node * s..node * s + s]
        } else {
            let s = self.m + 1;
            let off = (level as usize - 1) * s;
            &self.upper[node][off..off + s]
        }
    }

    #[inline]
    pub fn read(&self, node: u32, level: u8, out: &mut Vec<u32>) {
        let l = self.list(node, level);
        let cnt = (l[0].load(AO::Acquire) as usize).min(l.len() - 1);
        out.clear();
        out.extend(l[1..=cnt].iter().map(|w| w.load(AO::Relaxed)));
    }

    fn write(&self, node: u32, level: u8, nbrs: &[u32]) {
        let l = self.list(node, level);
        for (w, &n) in l[1..].iter().zip(nbrs) {
            w.store(n, AO::Relaxed);
        }
        l[0].store(nbrs.len().min(l.len() - 1) as u32, AO::Release);
    }

    pub fn memory_bytes(&self) -> usize {
        self.level0.capacity() * 4
            + self.upper.capacity() * std::mem::size_of::<Box<[AtomicU32]>>()
            + self.upper.iter().map(|u| u.len() * 4).sum::<usize>()
            + self.levels.capacity()
    }
}

/// Per-thread search state, reused across queries so that a search allocates
/// nothing in the steady state.
#[derive(Default)]
pub(crate) struct Scratch {
    /// Visited marks: a node is visited when its tag equals `gen`. One byte
    /// per node keeps the array cache-resident (1 MB per million nodes); it
    /// is cleared once every 255 searches.
    tags: Vec<u8>,
    gen: u8,
    cand: BinaryHeap<Near>,
    res: BinaryHeap<Reverse<Near>>,
    nbrs: Vec<u32>,
    fresh: Vec<u32>,
    pub found: Vec<Near>,
    sel: Vec<u32>,
    pairs: Vec<Near>,
    sel2: Vec<u32>,
}

impl Scratch {
    fn new_visit(&mut self, n: usize) {
        if self.tags.len() < n {
            self.tags.resize(n, 0);
        }
        self.gen = self.gen.wrapping_add(1);
        if self.gen == 0 {
            self.tags.fill(0);
            self.gen = 1;
        }
    }

    #[inline]
    fn visit(&mut self, slot: u32) -> bool {
        let t = &mut self.tags[slot as usize];
        if *t == self.gen {
            false
        } else {
            *t = self.gen;
            true
        }
    }
}

/// What the graph algorithms need to score nodes: the codes, their scales and
/// the adjacency, all borrowed from the index.
pub(crate) struct View<'a> {
    pub dim: usize,
    pub codes: &'a [i8],
    pub scales: &'a [f32],
    pub graph: &'a Graph,
    pub kern: Kernels,
}

/// State shared by build threads: the entry point and striped node locks.
pub(crate) struct BuildShared {
    pub entry: Mutex<(u32, u8)>,
    pub locks: Vec<Mutex<()>>,
    pub ef_construction: usize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A poisoned lock only means another build thread panicked; the data it
    // guards (nothing, or two integers) is still consistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<'a> View<'a> {
    #[inline]
    fn code(&self, slot: u32) -> &'a [i8] {
        let s = slot as usize * self.dim;
        &self.codes[s..s + self.dim]
    }

    #[inline]
    pub fn sim(&self, q: &[i8], qs: f32, slot: u32) -> f32 {
        (self.kern.dot_i8)(q, self.code(slot)) as f32 * qs * self.scales[slot as usize]
    }

    #[inline]
    fn sim_nodes(&self, a: u32, b: u32) -> f32 {
        self.sim(self.code(a), self.scales[a as usize], b)
    }

    fn prefetch_code(&self, slot: u32) {
        let base = slot as usize * self.dim;
        let mut off = 0;
        while off < self.dim {
            prefetch(self.codes[base + off..].as_ptr());
            off += 64;
        }
    }

    fn greedy(&self, q: &[i8], qs: f32, mut ep: Near, level: u8, s: &mut Scratch) -> Near {
        loop {
            let mut moved = false;
            self.graph.read(ep.slot, level, &mut s.nbrs);
            for i in 0..s.nbrs.len() {
                let n = s.nbrs[i];
                let sim = self.sim(q, qs, n);
                if sim > ep.sim {
                    ep = Near { sim, slot: n };
                    moved = true;
                }
            }
            if !moved {
                return ep;
            }
        }
    }

    /// Best-first search of one layer. Nodes failing `accept` are traversed
    /// (they may be the only path to good nodes) but never enter the result
    /// set. Returns false when more than `budget` nodes were scored, which the
    /// caller takes as "the filter is too selective for the graph".
    /// Results are left in `s.found`, best first.
    #[allow(clippy::too_many_arguments)]
    fn search_layer<F: Fn(u32) -> bool>(
        &self,
        q: &[i8],
        qs: f32,
        eps: &[Near],
        ef: usize,
        level: u8,
        accept: &F,
        budget: usize,
        s: &mut Scratch,
    ) -> bool {
        s.new_visit(self.graph.len());
        s.cand.clear();
        s.res.clear();
        for &e in eps {
            if s.visit(e.slot) {
                s.cand.push(e);
                if accept(e.slot) {
                    s.res.push(Reverse(e));
                    if s.res.len() > ef {
                        s.res.pop();
                    }
                }
            }
        }
        let mut scored = 0usize;
        let mut complete = true;
        while let Some(c) = s.cand.pop() {
            if s.res.len() >= ef && s.res.peek().is_some_and(|w| c.sim < w.0.sim) {
                break;
            }
            self.graph.read(c.slot, level, &mut s.nbrs);
            s.fresh.clear();
            for &n in &s.nbrs {
                if let Some(t) = s.tags.get(n as usize) {
                    prefetch(t);
                }
            }
            for i in 0..s.nbrs.len() {
                let n = s.nbrs[i];
                if (n as usize) < self.graph.len() && s.visit(n) {
                    s.fresh.push(n);
                }
            }
            if let Some(&f) = s.fresh.first() {
                self.prefetch_code(f);
            }
            for i in 0..s.fresh.len() {
                if let Some(&nx) = s.fresh.get(i + 1) {
                    self.prefetch_code(nx);
                }
                let n = s.fresh[i];
                let sim = self.sim(q, qs, n);
                let full = s.res.len() >= ef;
                if !full || s.res.peek().is_some_and(|w| sim > w.0.sim) {
                    let e = Near { sim, slot: n };
                    s.cand.push(e);
                    if accept(n) {
                        s.res.push(Reverse(e));
                        if s.res.len() > ef {
                            s.res.pop();
                        }
                    }
                }
            }
            scored += s.fresh.len();
            if scored > budget {
                complete = false;
                break;
            }
        }
        s.found.clear();
        s.found.extend(s.res.drain().map(|r| r.0));
        s.found.sort_unstable_by(|a, b| b.cmp(a));
        complete
    }

    /// k-NN search from the entry point; see [`View::search_layer`] for
    /// `accept`, `budget` and the return value.
    pub fn search<F: Fn(u32) -> bool>(
        &self,
        q: &[i8],
        qs: f32,
        ef: usize,
        accept: &F,
        budget: usize,
        s: &mut Scratch,
    ) -> bool {
        let g = self.graph;
        if g.entry == NONE {
            s.found.clear();
            return true;
        }
        let mut ep = Near {
            sim: self.sim(q, qs, g.entry),
            slot: g.entry,
        };
        for l in (1..=g.max_level).rev() {
            ep = self.greedy(q, qs, ep, l, s);
        }
        self.search_layer(q, qs, &[ep], ef, 0, accept, budget, s)
    }

    /// HNSW's neighbour-selection heuristic: keep a candidate only if it is
    /// nearer to the base than to every neighbour already kept, which spreads
    /// links across directions and keeps clusters connected.
    fn select(&self, cands: &[Near], m: usize, out: &mut Vec<u32>) {
        out.clear();
        for c in cands {
            if out.len() >= m {
                break;
            }
            if out.iter().all(|&o| self.sim_nodes(c.slot, o) < c.sim) {
                out.push(c.slot);
            }
        }
    }

    /// Links an already stored node into the graph. Safe to call from several
    /// threads at once for distinct nodes.
    pub fn insert(&self, slot: u32, sh: &BuildShared, s: &mut Scratch) {
        let g = self.graph;
        let level = g.levels[slot as usize];
        let q = self.code(slot);
        let qs = self.scales[slot as usize];
        let mut guard = lock(&sh.entry);
        let (ep0, maxl) = *guard;
        if ep0 == NONE {
            *guard = (slot, level);
            return;
        }
        // A node that raises the top level keeps the entry lock for its whole
        // insert so that nobody descends from an entry point whose upper
        // layers are still empty.
        let held = if level > maxl {
            Some(guard)
        } else {
            drop(guard);
            None
        };
        let mut ep = Near {
            sim: self.sim(q, qs, ep0),
            slot: ep0,
        };
        for l in (level + 1..=maxl).rev() {
            ep = self.greedy(q, qs, ep, l, s);
        }
        let mut eps = vec![ep];
        for l in (0..=level.min(maxl)).rev() {
            self.search_layer(q, qs, &eps, sh.ef_construction, l, &|_| true, usize::MAX, s);
            s.found.retain(|c| c.slot != slot);
            let mut found = std::mem::take(&mut s.found);
            let mut sel = std::mem::take(&mut s.sel);
            // Like FAISS (and unlike hnswlib), a new node may take the full
            // 2m links at layer 0: denser bottom layer, fewer hops per query.
            let mmax = if l == 0 { g.m0 } else { g.m };
            self.select(&found, mmax, &mut sel);
            {
                let _l = lock(&sh.locks[slot as usize % sh.locks.len()]);
                g.write(slot, l, &sel);
            }
            for &n in &sel {
                self.add_link(n, slot, l, mmax, sh, s);
            }
            eps.clear();
            eps.extend_from_slice(&found);
            if eps.is_empty() {
                eps.push(ep);
            }
            found.clear();
            s.found = found;
            s.sel = sel;
        }
        if let Some(mut g) = held {
            *g = (slot, level);
        }
    }

    fn add_link(
        &self,
        node: u32,
        new: u32,
        level: u8,
        mmax: usize,
        sh: &BuildShared,
        s: &mut Scratch,
    ) {
        let _l = lock(&sh.locks[node as usize % sh.locks.len()]);
        self.graph.read(node, level, &mut s.nbrs);
        if s.nbrs.contains(&new) {
            return;
        }
        if s.nbrs.len() < mmax {
            s.nbrs.push(new);
            self.graph.write(node, level, &s.nbrs);
            return;
        }
        s.pairs.clear();
        for i in 0..s.nbrs.len() {
            let x = s.nbrs[i];
            s.pairs.push(Near {
                sim: self.sim_nodes(node, x),
                slot: x,
            });
        }
        s.pairs.push(Near {
            sim: self.sim_nodes(node, new),
            slot: new,
        });
        s.pairs.sort_unstable_by(|a, b| b.cmp(a));
        let pairs = std::mem::take(&mut s.pairs);
        let mut sel = std::mem::take(&mut s.sel2);
        self.select(&pairs, mmax, &mut sel);
        self.graph.write(node, level, &sel);
        s.pairs = pairs;
        s.sel2 = sel;
    }
}
