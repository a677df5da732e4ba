//! LPRNet's time per plate on its 40 test crops (`$KUZET_MODELS/testdata/lpr_crops`),
//! against PP-OCR reading the same crops one at a time and as one batch.
use kuzet_vehicles::{load_image, LprNet, TextRecognizer};
use vision::{ModelManifest, SessionConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let models = base::env::require_models();
    let m = ModelManifest::embedded();
    let mut lpr = LprNet::new(&m, &models, &SessionConfig::default())?;
    let mut rec = TextRecognizer::new(&m, &models, &SessionConfig::default())?;
    let mut crops = Vec::new();
    for e in std::fs::read_dir(models.join("testdata/lpr_crops"))? {
        crops.push(load_image(&e?.path())?);
    }
    for c in &crops {
        lpr.read(c)?;
    }
    rec.recognize(&crops)?;
    let reps = 5;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        for c in &crops {
            lpr.read(c)?;
        }
    }
    let lpr_ms = t.elapsed().as_secs_f64() * 1e3 / (reps * crops.len()) as f64;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        for c in &crops {
            rec.recognize(std::slice::from_ref(c))?;
        }
    }
    let one_ms = t.elapsed().as_secs_f64() * 1e3 / (reps * crops.len()) as f64;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        rec.recognize(&crops)?;
    }
    let batch_ms = t.elapsed().as_secs_f64() * 1e3 / (reps * crops.len()) as f64;
    println!("per plate: LPRNet {lpr_ms:.2} ms; PP-OCR one at a time {one_ms:.2} ms, in one batch of {} {batch_ms:.2} ms", crops.len());
    Ok(())
}
