#!/usr/bin/env python3
"""FAISS side of the kuzet-index ANN benchmark (crates/index/benches/ann.rs).

Reads the raw files the Rust benchmark writes into --dir:
  base.f32     n x dim little-endian float32, unit vectors
  queries.f32  nq x dim
  gt.u32       nq exact top-1 rows (computed by the Rust side by brute force)
builds faiss.IndexHNSWFlat(dim, M, METRIC_INNER_PRODUCT) with the same M and
efConstruction and the same number of build threads, then sweeps efSearch and
reports the smallest value reaching --target recall@1, timed --repeats times
(fastest kept). Search runs on one OpenMP thread:
  * QPS: nq / wall time of one batched search call (no per-call Python
    overhead), and nq / thread CPU time of that call (robust on a busy host);
  * latency p50/p99: one search call per query (includes ~µs of Python and
    pybind overhead per call).
Prints one JSON object on the last stdout line.
"""
import argparse
import json
import os
import time

import faiss
import numpy as np


def rss_bytes():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run(index, queries, gt, ef):
    index.hnsw.efSearch = ef
    t0, c0 = time.perf_counter(), time.thread_time()
    _, ids = index.search(queries, 1)
    wall, cpu = time.perf_counter() - t0, time.thread_time() - c0
    recall = float(np.mean(ids[:, 0] == gt))
    return {"ef": ef, "recall": recall, "qps": len(gt) / wall, "qps_cpu": len(gt) / max(cpu, 1e-9)}


def latencies(index, queries):
    lat = np.empty(len(queries))
    for i in range(len(queries)):
        q = queries[i : i + 1]
        t = time.perf_counter()
        index.search(q, 1)
        lat[i] = (time.perf_counter() - t) * 1e6
    return float(np.percentile(lat, 50)), float(np.percentile(lat, 99))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--n", type=int, required=True)
    ap.add_argument("--nq", type=int, required=True)
    ap.add_argument("--dim", type=int, default=512)
    ap.add_argument("--m", type=int, default=16)
    ap.add_argument("--ef-construction", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2, help="build threads")
    ap.add_argument("--target", type=float, default=0.99)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--efs", default="10,16,24,32,48,64,96,128,192,256,384,512,768,1024,1536,2048,3072,4096")
    a = ap.parse_args()

    base = np.fromfile(os.path.join(a.dir, "base.f32"), dtype="<f4").reshape(a.n, a.dim)
    queries = np.fromfile(os.path.join(a.dir, "queries.f32"), dtype="<f4").reshape(a.nq, a.dim)
    gt = np.fromfile(os.path.join(a.dir, "gt.u32"), dtype="<u4").astype(np.int64)
    assert len(gt) == a.nq

    faiss.omp_set_num_threads(a.threads)
    rss0 = rss_bytes()
    index = faiss.IndexHNSWFlat(a.dim, a.m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = a.ef_construction
    t = time.perf_counter()
    index.add(base)
    build_s = time.perf_counter() - t
    rss_delta = rss_bytes() - rss0
    del base

    faiss.omp_set_num_threads(1)
    sweep, chosen_ef = [], None
    efs = [int(x) for x in a.efs.split(",") if x]
    for ef in efs:
        r = run(index, queries, gt, ef)
        sweep.append(r)
        if r["recall"] >= a.target:
            chosen_ef = ef
            break
    if chosen_ef is None:
        chosen_ef = efs[-1]
    runs = [run(index, queries, gt, chosen_ef) for _ in range(max(1, a.repeats))]
    chosen = max(runs, key=lambda r: r["qps"])
    chosen["qps_cpu"] = max(r["qps_cpu"] for r in runs)
    chosen["p50_us"], chosen["p99_us"] = latencies(index, queries)
    print(
        json.dumps(
            {
                "faiss_version": faiss.__version__,
                "compile_options": faiss.get_compile_options(),
                "build_s": build_s,
                "rss_delta_bytes": rss_delta,
                "chosen": chosen,
                "sweep": sweep,
            }
        )
    )


if __name__ == "__main__":
    main()
