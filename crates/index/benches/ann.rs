//! 1:N search benchmark: kuzet-index against FAISS `IndexHNSWFlat` on the
//! same vectors, each at the smallest ef reaching recall@1 ≥ 0.99.
//!
//! ```text
//! cargo bench -p kuzet-index                        # 1M vectors, 1000 queries
//! KUZET_ANN_N=100000 KUZET_ANN_Q=1000 cargo bench -p kuzet-index
//! ```
//! Other knobs: `KUZET_ANN_M` (16), `KUZET_ANN_EFC` (100), `KUZET_ANN_THREADS`
//! (build threads for both sides, 2), `KUZET_PYTHON` (default
//! `.deps/pyvenv/bin/python`, made by `scripts/bench_venv.sh`),
//! `KUZET_ANN_SKIP_FAISS=1`.
//!
//! Search is single-threaded on both sides: latency is per query; QPS is
//! queries / wall time of a sequential pass (FAISS: one batched call with one
//! OpenMP thread, which spares it Python's per-call overhead).

mod support;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use support::{Config, SearchRun};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

fn mib(b: f64) -> String {
    format!("{:.0} MiB", b / (1024.0 * 1024.0))
}

struct Faiss {
    build_s: f64,
    rss_delta: f64,
    chosen: SearchRun,
    sweep: Vec<SearchRun>,
    version: String,
}

fn run(cfg: &Config, r: &serde_json::Value) -> Option<SearchRun> {
    let _ = cfg;
    Some(SearchRun {
        ef: r["ef"].as_u64()? as usize,
        recall: r["recall"].as_f64()?,
        qps: r["qps"].as_f64()?,
        qps_cpu: r["qps_cpu"].as_f64().unwrap_or(f64::NAN),
        p50_us: r["p50_us"].as_f64().unwrap_or(f64::NAN),
        p99_us: r["p99_us"].as_f64().unwrap_or(f64::NAN),
    })
}

fn run_faiss(cfg: &Config, dir: &std::path::Path) -> Result<Faiss, String> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("KUZET_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join(".deps/pyvenv/bin/python"));
    let hint = "install it with `scripts/bench_venv.sh` (creates .deps/pyvenv with numpy and faiss-cpu from PyPI)";
    let ok = Command::new(&python)
        .args(["-c", "import faiss, numpy"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !ok {
        return Err(format!(
            "FAISS comparison skipped: {} cannot import faiss and numpy; {hint}",
            python.display()
        ));
    }
    let efs: Vec<String> = cfg.efs.iter().map(|e| e.to_string()).collect();
    let out = Command::new(&python)
        .arg(root.join("bench/faiss_hnsw.py"))
        .arg("--dir")
        .arg(dir)
        .args(["--n", &cfg.n.to_string(), "--nq", &cfg.nq.to_string()])
        .args(["--dim", &cfg.dim.to_string(), "--m", &cfg.m.to_string()])
        .args(["--ef-construction", &cfg.ef_construction.to_string()])
        .args(["--threads", &cfg.threads.to_string()])
        .args(["--target", &cfg.target_recall.to_string()])
        .args(["--repeats", &cfg.repeats.to_string()])
        .args(["--efs", &efs.join(",")])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !out.status.success() {
        return Err(format!(
            "bench/faiss_hnsw.py failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| format!("no JSON from bench/faiss_hnsw.py: {stdout}"))?;
    Ok(Faiss {
        build_s: v["build_s"].as_f64().unwrap_or(f64::NAN),
        rss_delta: v["rss_delta_bytes"].as_f64().unwrap_or(f64::NAN),
        chosen: run(cfg, &v["chosen"]).ok_or("bad 'chosen' in FAISS JSON")?,
        sweep: v["sweep"]
            .as_array()
            .map(|a| a.iter().filter_map(|r| run(cfg, r)).collect())
            .unwrap_or_default(),
        version: format!(
            "{} ({})",
            v["faiss_version"].as_str().unwrap_or("?"),
            v["compile_options"].as_str().unwrap_or("?").trim()
        ),
    })
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --all-targets` (CI) runs
    // this binary without it, and then only a tiny size keeps it working:
    // the 1M run takes half an hour on 2 cores and belongs to `cargo bench`.
    let benching = std::env::args().any(|a| a == "--bench");
    let (default_n, default_q) = if benching {
        (1_000_000, 1000)
    } else {
        (2_000, 50)
    };
    let n = env_usize("KUZET_ANN_N", default_n);
    let nq = env_usize("KUZET_ANN_Q", default_q);
    let mut cfg = Config::new(n, nq);
    cfg.m = env_usize("KUZET_ANN_M", cfg.m);
    cfg.ef_construction = env_usize("KUZET_ANN_EFC", cfg.ef_construction);
    cfg.threads = env_usize("KUZET_ANN_THREADS", cfg.threads);
    println!(
        "kuzet-index ANN bench: n={} queries={} dim={} M={} efConstruction={} build threads={} (search: 1 thread)",
        cfg.n, cfg.nq, cfg.dim, cfg.m, cfg.ef_construction, cfg.threads
    );
    let t = Instant::now();
    let data = support::generate(&cfg);
    println!(
        "data + exact ground truth: {:.1}s; exact top-1 is the planted duplicate for {:.1}% of queries",
        t.elapsed().as_secs_f64(),
        100.0 * data.gt.iter().zip(&data.planted).filter(|(g, p)| g == p).count() as f64 / cfg.nq.max(1) as f64
    );
    let (ix, rust) = support::run_rust(&cfg, &data);
    drop(ix);
    for r in &rust.sweep {
        println!(
            "  kuzet ef={:<5} recall@1={:.4} qps={:.0} qps/cpu-s={:.0}",
            r.ef, r.recall, r.qps, r.qps_cpu
        );
    }
    let dir = std::env::temp_dir().join(format!("kuzet-ann-{}", std::process::id()));
    let faiss = if std::env::var_os("KUZET_ANN_SKIP_FAISS").is_some() {
        Err("FAISS comparison skipped (KUZET_ANN_SKIP_FAISS)".to_string())
    } else if !benching {
        Err(
            "FAISS comparison skipped (smoke run under `cargo test`; use `cargo bench`)"
                .to_string(),
        )
    } else {
        support::write_raw(&dir, &data)
            .map_err(|e| format!("cannot write {}: {e}", dir.display()))
            .and_then(|()| {
                drop(data);
                run_faiss(&cfg, &dir)
            })
    };
    let _ = std::fs::remove_dir_all(&dir);
    if let Ok(f) = &faiss {
        for r in &f.sweep {
            println!(
                "  faiss ef={:<5} recall@1={:.4} qps={:.0} qps/cpu-s={:.0}",
                r.ef, r.recall, r.qps, r.qps_cpu
            );
        }
    }
    let c = &rust.chosen;
    println!();
    println!(
        "| n={} q={} | kuzet-index | FAISS HNSWFlat |",
        cfg.n, cfg.nq
    );
    println!("|---|---|---|");
    let f = faiss.as_ref().ok();
    let col = |g: &dyn Fn(&Faiss) -> String| f.map(g).unwrap_or_else(|| "-".into());
    println!(
        "| build ({} threads) | {:.1} s | {} |",
        cfg.threads,
        rust.build_s,
        col(&|f| format!("{:.1} s", f.build_s))
    );
    println!(
        "| memory (RSS growth during build) | {} (index estimate {}) | {} |",
        rust.rss_delta_bytes.map_or("?".into(), |b| mib(b as f64)),
        mib(rust.index_bytes as f64),
        col(&|f| mib(f.rss_delta))
    );
    println!(
        "| ef at recall@1 ≥ {} | {} | {} |",
        cfg.target_recall,
        c.ef,
        col(&|f| f.chosen.ef.to_string())
    );
    println!(
        "| recall@1 | {:.4} | {} |",
        c.recall,
        col(&|f| format!("{:.4}", f.chosen.recall))
    );
    println!(
        "| latency p50 / p99 | {:.0} / {:.0} µs | {} |",
        c.p50_us,
        c.p99_us,
        col(&|f| format!("{:.0} / {:.0} µs", f.chosen.p50_us, f.chosen.p99_us))
    );
    println!(
        "| QPS (1 thread, wall) | {:.0} | {} |",
        c.qps,
        col(&|f| format!("{:.0}", f.chosen.qps))
    );
    println!(
        "| QPS (1 thread, per CPU-second) | {:.0} | {} |",
        c.qps_cpu,
        col(&|f| format!("{:.0}", f.chosen.qps_cpu))
    );
    match &faiss {
        Ok(f) => {
            println!(
                "| QPS ratio kuzet / FAISS | {:.2}× wall, {:.2}× CPU | |",
                c.qps / f.chosen.qps,
                c.qps_cpu / f.chosen.qps_cpu
            );
            println!(
                "(faiss-cpu {}; timings on a shared machine are noisy)",
                f.version
            );
        }
        Err(e) => println!("{e}"),
    }
}
