//! Core of the ANN benchmark, shared by `benches/ann.rs` and a tiny-size test
//! (`tests/bench_smoke.rs`) so that the benchmark keeps working in CI.
//!
//! Data: `n / 50` clusters ("identities") with a per-cluster spread, members
//! are centre + Gaussian noise, renormalised, which gives in-cluster cosines
//! of roughly 0.4–0.75 like same-person face embeddings. Every query is a fresh
//! member of a random cluster, and a near-duplicate of it (query + small
//! noise, cosine 0.89–0.995) is planted at a random position of the base set,
//! so the true nearest neighbour sits among its cluster-mates.

#![allow(dead_code)]

use std::io::Write;
use std::path::Path;
use std::time::Instant;

use kuzet_index::{Index, IndexParams};

#[derive(Clone, Debug)]
pub struct Config {
    pub n: usize,
    pub nq: usize,
    pub dim: usize,
    pub m: usize,
    pub ef_construction: usize,
    pub threads: usize,
    pub seed: u64,
    pub target_recall: f64,
    /// ef values tried in order; the first reaching the target is reported.
    pub efs: Vec<usize>,
    /// Timed repetitions at the chosen ef; the fastest is reported.
    pub repeats: usize,
}

impl Config {
    pub fn new(n: usize, nq: usize) -> Config {
        Config {
            n,
            nq: nq.min(n),
            dim: 512,
            m: 16,
            ef_construction: 100,
            threads: 2,
            seed: 42,
            target_recall: 0.99,
            efs: vec![
                10, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072,
                4096,
            ],
            repeats: 3,
        }
    }
}

pub struct Data {
    pub dim: usize,
    pub base: Vec<f32>,
    pub queries: Vec<f32>,
    /// Row of the planted near-duplicate of each query.
    pub planted: Vec<u32>,
    /// Row of the exact nearest neighbour of each query.
    pub gt: Vec<u32>,
}

struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64, i: u64) -> Rng {
        let mut r = Rng(seed
            ^ stream.wrapping_mul(0xd1b5_4a32_d192_ed03)
            ^ i.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Fills `out` with standard normal samples (Box–Muller).
    fn gauss(&mut self, out: &mut [f32]) {
        for pair in out.chunks_mut(2) {
            let r = (-2.0 * self.unit().ln()).sqrt();
            let t = std::f64::consts::TAU * self.unit();
            pair[0] = (r * t.cos()) as f32;
            if pair.len() > 1 {
                pair[1] = (r * t.sin()) as f32;
            }
        }
    }
}

fn normalise(v: &mut [f32]) {
    let n = v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt() as f32;
    v.iter_mut().for_each(|x| *x /= n);
}

fn par_rows(out: &mut [f32], dim: usize, threads: usize, f: impl Fn(usize, &mut [f32]) + Sync) {
    let rows = out.len() / dim.max(1);
    let per = rows.div_ceil(threads.max(1)).max(1);
    std::thread::scope(|s| {
        for (c, chunk) in out.chunks_mut(per * dim).enumerate() {
            let f = &f;
            s.spawn(move || {
                for (j, row) in chunk.chunks_exact_mut(dim).enumerate() {
                    f(c * per + j, row);
                }
            });
        }
    });
}

/// Deterministic for a given config, whatever the thread count.
pub fn generate(cfg: &Config) -> Data {
    let (n, nq, dim) = (cfg.n, cfg.nq, cfg.dim);
    let nc = (n / 50).max(1);
    let scale = 1.0 / (dim as f32).sqrt();
    let mut centres = vec![0f32; nc * dim];
    par_rows(&mut centres, dim, cfg.threads, |c, row| {
        Rng::new(cfg.seed, 1, c as u64).gauss(row);
        normalise(row);
    });
    let spread: Vec<f32> = (0..nc)
        .map(|c| 0.6 + 0.6 * Rng::new(cfg.seed, 2, c as u64).unit() as f32)
        .collect();
    let member = |rng: &mut Rng, row: &mut [f32]| {
        let c = rng.below(nc);
        rng.gauss(row);
        let ctr = &centres[c * dim..(c + 1) * dim];
        for (x, m) in row.iter_mut().zip(ctr) {
            *x = m + *x * spread[c] * scale;
        }
        normalise(row);
    };
    let mut base = vec![0f32; n * dim];
    par_rows(&mut base, dim, cfg.threads, |i, row| {
        member(&mut Rng::new(cfg.seed, 3, i as u64), row)
    });
    let mut queries = vec![0f32; nq * dim];
    par_rows(&mut queries, dim, cfg.threads, |j, row| {
        member(&mut Rng::new(cfg.seed, 4, j as u64), row)
    });
    // One planted near-duplicate per query, at distinct rows.
    let stride = n / nq.max(1);
    let mut planted = Vec::with_capacity(nq);
    let mut noise = vec![0f32; dim];
    for j in 0..nq {
        let mut rng = Rng::new(cfg.seed, 5, j as u64);
        let row = j * stride + rng.below(stride.max(1));
        let e = (0.1 + 0.4 * rng.unit()) as f32 * scale;
        rng.gauss(&mut noise);
        let dst = &mut base[row * dim..(row + 1) * dim];
        for ((d, q), z) in dst
            .iter_mut()
            .zip(&queries[j * dim..(j + 1) * dim])
            .zip(&noise)
        {
            *d = q + z * e;
        }
        normalise(dst);
        planted.push(row as u32);
    }
    let gt = ground_truth(&base, &queries, dim, cfg.threads);
    Data {
        dim,
        base,
        queries,
        planted,
        gt,
    }
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    for (x, y) in a.chunks_exact(16).zip(b.chunks_exact(16)) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let tail = a.len() / 16 * 16;
    acc.iter().sum::<f32>()
        + a[tail..]
            .iter()
            .zip(&b[tail..])
            .map(|(x, y)| x * y)
            .sum::<f32>()
}

/// Exact top-1 of every query by brute force, blocked so that a block of
/// base rows stays in cache while all queries pass over it.
pub fn ground_truth(base: &[f32], queries: &[f32], dim: usize, threads: usize) -> Vec<u32> {
    let n = base.len() / dim;
    let nq = queries.len() / dim;
    let per = n.div_ceil(threads.max(1)).max(1);
    let parts: Vec<Vec<(f32, u32)>> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..n.div_ceil(per))
            .map(|t| {
                s.spawn(move || {
                    let mut best = vec![(f32::NEG_INFINITY, u32::MAX); nq];
                    let (lo, hi) = (t * per, ((t + 1) * per).min(n));
                    for b0 in (lo..hi).step_by(256) {
                        let b1 = (b0 + 256).min(hi);
                        for (j, q) in queries.chunks_exact(dim).enumerate() {
                            for i in b0..b1 {
                                let s = dot(q, &base[i * dim..(i + 1) * dim]);
                                if s > best[j].0 {
                                    best[j] = (s, i as u32);
                                }
                            }
                        }
                    }
                    best
                })
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("ground-truth thread"))
            .collect()
    });
    (0..nq)
        .map(|j| {
            parts
                .iter()
                .map(|p| p[j])
                .fold(
                    (f32::NEG_INFINITY, u32::MAX),
                    |a, b| if b.0 > a.0 { b } else { a },
                )
                .1
        })
        .collect()
}

#[derive(Clone, Debug, Default)]
pub struct SearchRun {
    pub ef: usize,
    pub recall: f64,
    pub qps: f64,
    /// Queries per second of thread CPU time: robust when other processes
    /// compete for the cores.
    pub qps_cpu: f64,
    pub p50_us: f64,
    pub p99_us: f64,
}

#[derive(Debug, Default)]
pub struct RustReport {
    pub build_s: f64,
    pub index_bytes: usize,
    pub rss_delta_bytes: Option<u64>,
    pub sweep: Vec<SearchRun>,
    /// The fastest timed run at the smallest ef reaching the target recall
    /// (or at the largest ef tried when none did).
    pub chosen: SearchRun,
    pub planted_hit_rate: f64,
}

/// CPU time of the calling thread in seconds (Linux schedstat, ns resolution).
pub fn thread_cpu_s() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = s.split_whitespace().next()?.parse().ok()?;
    Some(ns as f64 * 1e-9)
}

pub fn rss_bytes() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Single-threaded queries, one after another; QPS = queries / wall time.
fn run_queries(ix: &Index, data: &Data) -> SearchRun {
    let dim = data.dim;
    let mut lat = Vec::with_capacity(data.gt.len());
    let mut hits = 0usize;
    let c0 = thread_cpu_s();
    let t0 = Instant::now();
    for (j, q) in data.queries.chunks_exact(dim).enumerate() {
        let t = Instant::now();
        let r = ix.search(q, 1).expect("valid query");
        lat.push(t.elapsed().as_secs_f64() * 1e6);
        if r.first().map(|h| h.id) == Some(data.gt[j] as u64) {
            hits += 1;
        }
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = c0.zip(thread_cpu_s()).map_or(wall, |(a, b)| b - a);
    lat.sort_by(f64::total_cmp);
    SearchRun {
        ef: ix.params().ef_search,
        recall: hits as f64 / data.gt.len().max(1) as f64,
        qps: data.gt.len() as f64 / wall.max(1e-9),
        qps_cpu: data.gt.len() as f64 / cpu.max(1e-9),
        p50_us: percentile(&lat, 0.5),
        p99_us: percentile(&lat, 0.99),
    }
}

pub fn build_index(cfg: &Config, data: &Data) -> (Index, f64) {
    let params = IndexParams {
        m: cfg.m,
        ef_construction: cfg.ef_construction,
        build_threads: cfg.threads,
        ..IndexParams::default()
    };
    let mut ix = Index::new(data.dim, params).expect("valid params");
    let ids: Vec<u64> = (0..(data.base.len() / data.dim) as u64).collect();
    let t = Instant::now();
    ix.insert_many(&ids, &data.base).expect("valid vectors");
    (ix, t.elapsed().as_secs_f64())
}

pub fn run_rust(cfg: &Config, data: &Data) -> (Index, RustReport) {
    let rss0 = rss_bytes();
    let (mut ix, build_s) = build_index(cfg, data);
    let rss_delta = rss0.zip(rss_bytes()).map(|(a, b)| b.saturating_sub(a));
    let mut rep = RustReport {
        build_s,
        index_bytes: ix.memory_bytes(),
        rss_delta_bytes: rss_delta,
        ..Default::default()
    };
    let mut chosen_ef = *cfg.efs.last().unwrap_or(&64);
    for &ef in &cfg.efs {
        ix.set_ef_search(ef);
        let r = run_queries(&ix, data);
        let ok = r.recall >= cfg.target_recall;
        rep.sweep.push(r);
        if ok {
            chosen_ef = ef;
            break;
        }
    }
    ix.set_ef_search(chosen_ef);
    let runs: Vec<SearchRun> = (0..cfg.repeats.max(1))
        .map(|_| run_queries(&ix, data))
        .collect();
    let best_cpu = runs.iter().map(|r| r.qps_cpu).fold(0.0, f64::max);
    rep.chosen = runs
        .into_iter()
        .max_by(|a, b| a.qps.total_cmp(&b.qps))
        .unwrap_or_default();
    rep.chosen.qps_cpu = best_cpu;
    rep.planted_hit_rate = data
        .gt
        .iter()
        .zip(&data.planted)
        .filter(|(g, p)| g == p)
        .count() as f64
        / data.gt.len().max(1) as f64;
    (ix, rep)
}

fn write_f32s(path: &Path, v: &[f32]) -> std::io::Result<()> {
    let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
    for x in v {
        w.write_all(&x.to_le_bytes())?;
    }
    w.flush()
}

/// Raw files for the FAISS side: little-endian f32 rows (`base.f32`,
/// `queries.f32`) and u32 ground-truth rows (`gt.u32`).
pub fn write_raw(dir: &Path, data: &Data) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    write_f32s(&dir.join("base.f32"), &data.base)?;
    write_f32s(&dir.join("queries.f32"), &data.queries)?;
    let mut w = std::io::BufWriter::new(std::fs::File::create(dir.join("gt.u32"))?);
    for g in &data.gt {
        w.write_all(&g.to_le_bytes())?;
    }
    w.flush()
}
