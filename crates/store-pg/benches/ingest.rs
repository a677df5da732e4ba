//! Ingest throughput and bytes per row of both store backends, through the
//! `StoreBackend` trait, for the capacity model (docs/scale.md).
//!
//! `cargo bench -p kuzet-store-pg --bench ingest` measures (tens of
//! thousands of rows per class); under `cargo test` (no `--bench` argument)
//! it runs a few hundred rows as a smoke test and checks the row counts, so
//! CI keeps it working without spending minutes.
//!
//! Both backends run durable: SQLite with `synchronous=FULL` (the store's
//! setting), PostgreSQL with `fsync=on` and `synchronous_commit=on`. Rows
//! carry dedupe keys, as they do when they come from the bus. Each data
//! class is measured in its own SQLite file / PostgreSQL database so bytes
//! per row (table + indexes) can be read off the sizes.

use base::{BBox, Event, Timestamp};
use kuzet_store_pg as store_pg;
use std::time::Instant;
use store::{Keyed, NewPlateRead, NewSighting, Store, StoreBackend};
use store_pg::testing::TempPostgres;
use store_pg::{PgConfig, PgStore};

const BATCH: usize = 100;

fn event(i: usize) -> Keyed<Event> {
    let mut e = Event::new(
        format!("cam-{:06}", i % 500),
        ["zone_enter", "zone_exit", "line_cross", "loitering"][i % 4],
        Timestamp(1_700_000_000_000 + i as i64 * 37),
    );
    e.track_id = Some(i as u64 / 7);
    e.label = Some("person".into());
    e.rule = Some("entrance".into());
    e.bbox = Some(BBox::new(100.0, 120.0, 180.0, 300.0));
    e.score = 0.8;
    e.details = serde_json::json!({"dwell_seconds": 12.5, "reason": "left_zone",
        "frame_evidence": format!("{:064x}", i + 1)});
    e.evidence = Some(format!("{:064x}", i));
    Keyed::with_key(format!("worker-1/run-1/{i}"), e)
}

fn plate(i: usize) -> Keyed<NewPlateRead> {
    Keyed::with_key(
        format!("worker-1/plate/{i}"),
        NewPlateRead {
            camera: format!("cam-{:06}", i % 500),
            run_id: None,
            track_id: Some(i as u64),
            first_seen: Timestamp(1_700_000_000_000 + i as i64 * 53),
            last_seen: Timestamp(1_700_000_000_000 + i as i64 * 53 + 1_800),
            plate: format!("AB{:05}CD", i % 100_000),
            raw_text: format!("AB {:05} CD", i % 100_000),
            format: Some("eu".into()),
            country: Some("kz".into()),
            confidence: 0.93,
            votes: 9,
            agreeing: 8,
            vehicle_type: Some("car".into()),
            colour: Some("white".into()),
            plate_crop: Some(format!("{:064x}", i * 3)),
            vehicle_crop: Some(format!("{:064x}", i * 3 + 1)),
            frame: Some(format!("{:064x}", i * 3 + 2)),
            hotlist_hits: 0,
        },
    )
}

fn sighting(i: usize) -> Keyed<NewSighting> {
    // Pseudo-random components: real embeddings are incompressible, and a
    // patterned vector would let PostgreSQL's TOAST compression understate
    // the bytes per row.
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut v: Vec<f32> = (0..512)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect();
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
    Keyed::with_key(
        format!("worker-1/face/{i}"),
        NewSighting {
            camera: format!("cam-{:06}", i % 500),
            ts: Timestamp(1_700_000_000_000 + i as i64 * 41),
            run_id: Some(1),
            track_id: Some(i as u64 / 3),
            model: "arcface-r100".into(),
            embedding: v,
            bbox: BBox::new(300.0, 100.0, 360.0, 180.0),
            quality: 0.71,
            crop: Some(format!("{:064x}", i)),
            matched_person: None,
        },
    )
}

/// Rows per second of `insert` over `n` rows in batches of [`BATCH`], from
/// `threads` threads each inserting its share.
fn measure<T: Clone + Send + Sync>(
    s: &dyn StoreBackend,
    n: usize,
    threads: usize,
    make: fn(usize) -> Keyed<T>,
    insert: fn(&dyn StoreBackend, Vec<Keyed<T>>) -> usize,
) -> f64 {
    let per = n / threads;
    let t0 = Instant::now();
    std::thread::scope(|sc| {
        for t in 0..threads {
            sc.spawn(move || {
                let mut done = 0;
                let start = t * per;
                for b in (start..start + per).step_by(BATCH) {
                    let batch: Vec<_> = (b..(b + BATCH).min(start + per)).map(make).collect();
                    done += insert(s, batch);
                }
                assert_eq!(done, per);
            });
        }
    });
    (per * threads) as f64 / t0.elapsed().as_secs_f64()
}

fn ins_events(s: &dyn StoreBackend, b: Vec<Keyed<Event>>) -> usize {
    s.ingest_events(None, b).unwrap().len()
}
fn ins_plates(s: &dyn StoreBackend, b: Vec<Keyed<NewPlateRead>>) -> usize {
    s.ingest_plate_reads(b).unwrap().len()
}
fn ins_sightings(s: &dyn StoreBackend, b: Vec<Keyed<NewSighting>>) -> usize {
    s.ingest_sightings(b).unwrap().len()
}

fn dir_bytes(p: &std::path::Path) -> u64 {
    ["kuzet.db", "kuzet.db-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(p.join(f)).ok())
        .map(|m| m.len())
        .sum()
}

struct Row {
    backend: &'static str,
    class: &'static str,
    rows: usize,
    rate_1: f64,
    rate_4: f64,
    bytes_per_row: f64,
}

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (n_ev, n_pl, n_si) = if full {
        (40_000, 20_000, 10_000)
    } else {
        (400, 200, 200)
    };
    let pg = TempPostgres::start_durable().unwrap_or_else(|e| {
        eprintln!("ingest bench: cannot start PostgreSQL: {e}");
        std::process::exit(1)
    });
    let mut out: Vec<Row> = Vec::new();
    type Runner = fn(&dyn StoreBackend, usize, usize) -> f64;
    let classes: [(&str, usize, Runner, &str); 3] = [
        (
            "events",
            n_ev,
            |s, n, t| measure(s, n, t, event, ins_events),
            "event",
        ),
        (
            "plate reads",
            n_pl,
            |s, n, t| measure(s, n, t, plate, ins_plates),
            "plate_reads",
        ),
        (
            "face sightings (512-d)",
            n_si,
            |s, n, t| measure(s, n, t, sighting, ins_sightings),
            "face_sighting",
        ),
    ];
    for (ci, (class, n, run, table)) in classes.into_iter().enumerate() {
        // SQLite: one file per class; single-thread run, then a 4-thread run
        // into a second file (ids and keys would collide in one).
        let d1 = tempfile::tempdir().unwrap();
        let empty = {
            let s = Store::open(d1.path()).unwrap();
            s.close();
            dir_bytes(d1.path())
        };
        let s = Store::open(d1.path()).unwrap();
        // Face data is stored only sealed (migration 13): time it so.
        let key = std::sync::Arc::new(store::SealKey::generate().0);
        s.set_seal_key(key.clone());
        let r1 = run(&s, n, 1);
        s.close();
        drop(s);
        let bytes = dir_bytes(d1.path()).saturating_sub(empty);
        let d4 = tempfile::tempdir().unwrap();
        let s4 = Store::open(d4.path()).unwrap();
        s4.set_seal_key(key);
        let r4 = run(&s4, n, 4);
        drop(s4);
        out.push(Row {
            backend: "sqlite",
            class,
            rows: n,
            rate_1: r1,
            rate_4: r4,
            bytes_per_row: bytes as f64 / n as f64,
        });

        let url = pg.create_database(&format!("bench{ci}a")).unwrap();
        let p = PgStore::connect(&PgConfig::new(&url)).unwrap();
        // Sealed here too (schema 6), as SQLite.
        let key = std::sync::Arc::new(store::SealKey::generate().0);
        p.set_seal_key(key.clone());
        let r1 = run(&p, n, 1);
        p.run(|pool| async move {
            sqlx::raw_sql("VACUUM ANALYZE")
                .execute(&pool)
                .await
                .map_err(|e| store::StoreError::Backend(e.to_string()))?;
            Ok(())
        })
        .unwrap();
        let (bytes, rows) = p.table_size(table).unwrap();
        assert_eq!(rows as usize, n);
        let url4 = pg.create_database(&format!("bench{ci}b")).unwrap();
        let p4 = PgStore::connect(&PgConfig::new(&url4)).unwrap();
        p4.set_seal_key(key);
        let r4 = run(&p4, n, 4);
        out.push(Row {
            backend: "postgres",
            class,
            rows: n,
            rate_1: r1,
            rate_4: r4,
            bytes_per_row: bytes as f64 / n as f64,
        });
    }
    println!(
        "\n| backend | data class | rows | rows/s, 1 writer | rows/s, 4 writers | bytes/row (table + indexes) |"
    );
    println!("|---|---|---|---|---|---|");
    for r in &out {
        println!(
            "| {} | {} | {} | {:.0} | {:.0} | {:.0} |",
            r.backend, r.class, r.rows, r.rate_1, r.rate_4, r.bytes_per_row
        );
    }
    println!(
        "\nbatches of {BATCH} rows per call, keyed; {} run",
        if full { "full" } else { "smoke (cargo test)" }
    );
}
