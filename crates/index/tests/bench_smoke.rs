//! Runs the benchmark's core at a tiny size so that `benches/ann.rs` keeps
//! compiling and working in CI (FAISS/Python is not involved here).

#[path = "../benches/support/mod.rs"]
mod support;

#[test]
fn benchmark_core_runs_at_tiny_size() {
    let mut cfg = support::Config::new(3000, 50);
    cfg.dim = 64;
    cfg.ef_construction = 48;
    cfg.repeats = 1;
    let data = support::generate(&cfg);
    assert_eq!(data.base.len(), 3000 * 64);
    assert_eq!(data.gt.len(), 50);
    // The planted near-duplicates make the exact top-1 (almost always) the
    // planted row.
    let planted = data
        .gt
        .iter()
        .zip(&data.planted)
        .filter(|(g, p)| g == p)
        .count();
    assert!(planted >= 45, "{planted}");
    let (ix, rep) = support::run_rust(&cfg, &data);
    assert_eq!(ix.len(), 3000);
    assert!(rep.chosen.recall >= 0.95, "{:?}", rep.chosen);
    assert!(rep.chosen.qps > 0.0 && rep.build_s > 0.0);

    let dir = tempfile::tempdir().unwrap();
    support::write_raw(dir.path(), &data).unwrap();
    let len = |f: &str| std::fs::metadata(dir.path().join(f)).unwrap().len();
    assert_eq!(len("base.f32"), 3000 * 64 * 4);
    assert_eq!(len("queries.f32"), 50 * 64 * 4);
    assert_eq!(len("gt.u32"), 50 * 4);
}
