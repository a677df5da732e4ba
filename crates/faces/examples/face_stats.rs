//! Prints every face's quality record on the labelled photos with an open
//! gate (all checks off except liveness computed), to calibrate the gate:
//! `cargo run --release -p kuzet-faces --example face_stats`.

use kuzet_faces::eval::read_labels;
use kuzet_faces::{load_photo, FacePipeline, FacePipelineConfig, QualityGate};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = base::env::data_dir();
    let cfg = FacePipelineConfig {
        gate: QualityGate {
            min_size: 0.0,
            min_sharpness: 0.0,
            max_abs_yaw: 180.0,
            min_liveness: 0.000_001,
        },
        ..Default::default()
    };
    let mut p = FacePipeline::from_env(cfg)?;
    let mut paths: Vec<(String, String)> = read_labels(&root)?
        .into_iter()
        .map(|l| (l.rel, l.identity))
        .collect();
    for m in std::fs::read_dir(root.join("faces/multi"))? {
        let m = m?.path();
        paths.push((
            format!("faces/multi/{}", m.file_name().unwrap().to_string_lossy()),
            "multi".into(),
        ));
    }
    for (rel, id) in paths {
        let img = match load_photo(&root.join(&rel)) {
            Ok(i) => i,
            Err(e) => {
                println!("{rel} ERROR {e}");
                continue;
            }
        };
        let t = std::time::Instant::now();
        let faces = p.analyze_image(&img)?;
        println!(
            "{rel} ({id}) {}x{} faces={} {:.0}ms",
            img.width(),
            img.height(),
            faces.len(),
            t.elapsed().as_secs_f64() * 1e3
        );
        for f in faces.iter().take(10) {
            let q = &f.quality;
            println!(
                "   box=[{:.0},{:.0},{:.0},{:.0}] det={:.2} size={:.0} eye={:.0} sharp={:.1} yaw={:.0} roll={:.0} live={:.3}",
                f.face.bbox.x1, f.face.bbox.y1, f.face.bbox.x2, f.face.bbox.y2,
                q.det_score, q.size, q.eye_distance, q.sharpness, q.yaw, q.roll,
                q.liveness.unwrap_or(-1.0)
            );
        }
    }
    println!("{:?}", p.totals);
    Ok(())
}
