//! Motion-gating tuning aid: how many sampled frames of a video the motion
//! detector would send to the object detector, for a threshold and min_area.
//!
//! `cargo run --release -p kuzet-pipeline --example motion_probe -- VIDEO [THRESHOLD] [MIN_AREA]`

use std::sync::Arc;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .ok_or("usage: motion_probe VIDEO [THRESHOLD] [MIN_AREA]")?;
    let threshold: u8 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(25);
    let min_area: f32 = args.next().map(|s| s.parse()).transpose()?.unwrap_or(0.001);
    let spec = media::SourceSpec::parse(&path)?;
    let opts = media::SourceOptions {
        target_fps: Some(5.0),
        ..Default::default()
    };
    let mut src = media::open(&spec, &opts, Arc::new(base::SystemClock))?;
    let mut motion = vision::MotionDetector::new(vision::MotionConfig {
        threshold,
        min_area,
        ..Default::default()
    });
    let (mut frames, mut moving) = (0, 0);
    while let Some(f) = src.next_frame()? {
        let r = motion.detect(&f);
        moving += usize::from(r.has_motion());
        if frames % 10 == 0 {
            let boxes: Vec<_> = r
                .regions
                .iter()
                .map(|b| {
                    (
                        b.x1 as i32,
                        b.y1 as i32,
                        b.width() as i32,
                        b.height() as i32,
                    )
                })
                .collect();
            println!(
                "{frames}: changed {:.4} regions {boxes:?}",
                r.changed_fraction
            );
        }
        frames += 1;
    }
    println!("frames {frames}, with motion {moving}");
    Ok(())
}
