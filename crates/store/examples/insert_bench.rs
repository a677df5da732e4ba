//! Measures acknowledged-insert throughput, showing what group commit buys.
//!
//! `cargo run --release -p kuzet-store --example insert_bench [DIR]`
//! (DIR defaults to a temp dir; use one on the real data disk: fsync cost
//! depends entirely on the storage).

use base::{BBox, Event, Timestamp};
use kuzet_store::Store;
use std::sync::Arc;
use std::time::Instant;

fn event(t: usize, n: usize) -> Event {
    let mut e = Event::new(format!("cam{}", t % 4), "zone_enter", Timestamp(n as i64));
    e.track_id = Some(n as u64);
    e.label = Some("person".into());
    e.rule = Some("door".into());
    e.bbox = Some(BBox::new(10.0, 20.0, 110.0, 220.0));
    e.score = 0.9;
    e.details = serde_json::json!({"zone": "door", "thread": t});
    e
}

/// `threads` threads each make `calls` calls of `per_call` events; returns
/// acknowledged events per second.
fn run(store: &Arc<Store>, threads: usize, calls: usize, per_call: usize) -> f64 {
    let before = store.writer_stats();
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let store = store.clone();
            std::thread::spawn(move || {
                for n in 0..calls {
                    let batch = (0..per_call).map(|k| event(t, n * per_call + k)).collect();
                    store.insert_events(batch).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    let after = store.writer_stats();
    let total = (threads * calls * per_call) as f64;
    let tx = after.transactions - before.transactions;
    println!(
        "{threads:>2} threads x {calls:>5} calls x {per_call:>3} events: {:>9.0} events/s, \
         {:>7.0} calls/s, {tx:>6} transactions ({:.1} calls/commit)",
        total / secs,
        (threads * calls) as f64 / secs,
        (threads * calls) as f64 / tx.max(1) as f64,
    );
    total / secs
}

fn main() {
    let tmp;
    let dir = match std::env::args_os().nth(1) {
        Some(d) => std::path::PathBuf::from(d),
        None => {
            tmp = tempfile::tempdir().unwrap();
            tmp.path().to_owned()
        }
    };
    println!("store in {}", dir.display());
    let store = Arc::new(Store::open(&dir).unwrap());
    run(&store, 1, 2000, 1);
    run(&store, 8, 1000, 1);
    run(&store, 32, 300, 1);
    run(&store, 1, 200, 100);
    run(&store, 8, 100, 100);
    println!("{:?}", store.writer_stats());
}
