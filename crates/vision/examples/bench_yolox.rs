//! Batch-1 vs batch-N YOLOX inference on CPU, interleaved so machine load
//! affects both alike. `cargo run --release -p kuzet-vision --example bench_yolox -- [iters] [threads] [n]`
use kuzet_vision::{DetectRequest, Detector, SessionConfig, Yolox, YoloxConfig};
use std::sync::Arc;

fn main() {
    let mut args = std::env::args().skip(1);
    let iters: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(20);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(2);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(4);
    let img = image::open(base::env::data_dir().join("scenes/bus_street.jpg"))
        .expect("KUZET_DATA/scenes/bus_street.jpg")
        .resize_exact(768, 576, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let f = base::Frame::new(
        Arc::from("bench"),
        0,
        Default::default(),
        0,
        768,
        576,
        img.into_raw(),
    );
    let mut det = Yolox::from_env(YoloxConfig {
        max_batch: n,
        session: SessionConfig {
            intra_threads: threads,
            ..Default::default()
        },
        ..Default::default()
    })
    .expect("YOLOX");
    let one = [DetectRequest::whole(&f)];
    let many = vec![one[0]; n];
    for _ in 0..3 {
        det.detect(&one).unwrap();
        det.detect(&many).unwrap();
    }
    let (mut p1, mut i1, mut q1, mut in_) = (vec![], vec![], vec![], vec![]);
    for _ in 0..iters {
        det.detect(&one).unwrap();
        let t = det.last_timings();
        p1.push(t.preprocess.as_secs_f64() * 1e3);
        i1.push(t.inference.as_secs_f64() * 1e3);
        q1.push(t.postprocess.as_secs_f64() * 1e3);
        det.detect(&many).unwrap();
        in_.push(det.last_timings().inference.as_secs_f64() * 1e3 / n as f64);
    }
    let stat = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2], v[0])
    };
    let (p, pm) = stat(&mut p1);
    let (i, im) = stat(&mut i1);
    let (q, qm) = stat(&mut q1);
    let (b, bm) = stat(&mut in_);
    println!("768x576 intra_threads={threads} iters={iters} (median / min, ms)");
    println!("  preprocess  {p:.2} / {pm:.2}");
    println!("  inference   {i:.2} / {im:.2}  (batch 1)");
    println!("  postprocess {q:.3} / {qm:.3}");
    println!("  inference per frame at batch {n}: {b:.2} / {bm:.2}");
}
