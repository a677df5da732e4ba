//! Same as `kuzet train fire` / `kuzet eval fire`, without building the CLI:
//! `cargo run --release -p kuzet-fire --example fire_tool -- train <data-root> <out.json>`
//! `cargo run --release -p kuzet-fire --example fire_tool -- eval <data-root> [weights.json] [tiles...]`

use kuzet_fire::train::{train, TrainConfig};
use kuzet_fire::{ClassifierConfig, FireClassifier};
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("train") if args.len() >= 3 => {
            let (head, report) = train(&PathBuf::from(&args[1]), &TrainConfig::default())?;
            head.save(&PathBuf::from(&args[2]))?;
            println!("{}", serde_json::to_string_pretty(&report)?);
        }
        Some("eval") if args.len() >= 2 => {
            let weights = args.get(2).map(PathBuf::from);
            let mut cfg = ClassifierConfig {
                weights: weights.clone(),
                ..Default::default()
            };
            let tiles: Vec<u32> = args.iter().skip(3).filter_map(|a| a.parse().ok()).collect();
            if args.len() > 3 {
                cfg.tile_grids = tiles;
            }
            let w = weights.map_or("shipped (embedded)".into(), |p| p.display().to_string());
            let mut clf = FireClassifier::new(cfg)?;
            let r = kuzet_fire::eval::evaluate(&PathBuf::from(&args[1]), &mut clf, &w)?;
            print!("{}", kuzet_fire::eval::format_table(&r));
        }
        Some("bench-monitor") => {
            // Temporal analysis cost per push on 1080p frames (classifier
            // effectively off: colour scorer once per hour).
            use kuzet_fire::{ColourScorer, FireMonitor, FireMonitorConfig};
            let cfg = FireMonitorConfig {
                classify_interval_ms: 3_600_000,
                min_push_interval_ms: 0,
                ..Default::default()
            };
            let mut mon = FireMonitor::new(cfg, Box::new(ColourScorer::default()))?;
            let (w, h) = (1920u32, 1080u32);
            let frames: Vec<base::Frame> = (0..4u8)
                .map(|k| {
                    let rgb = (0..w * h * 3).map(|i| (i as u8).wrapping_mul(7).wrapping_add(k)).collect();
                    base::Frame::new("bench".into(), k as u64, base::Timestamp(0), 0, w, h, rgb)
                })
                .collect();
            let n = 200;
            let t0 = std::time::Instant::now();
            for i in 0..n {
                let ts = base::Timestamp(i as i64 * 200);
                mon.push(ts, &frames[i % 4])?;
            }
            println!("monitor analysis: {:.3} ms per 1920x1080 push", t0.elapsed().as_secs_f64() * 1000.0 / n as f64);
        }
        _ => eprintln!("usage: fire_tool train <data-root> <out.json> | eval <data-root> [weights] [tile grids...]"),
    }
    Ok(())
}
