//! Development helper: `cargo run --release -p kuzet-vehicles --example
//! eval_plates [REGION] [EVERY_NTH]` prints each failure and the summary.
//! `ANPR_CFG` (TOML) overrides settings, `PLATE_FORMATS` (a file) the
//! format table.
use kuzet_vehicles::{evaluate, read_labels, Anpr, AnprConfig, AnprPool};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let region = args.get(1).filter(|s| *s != "all").cloned();
    let nth: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1);
    let root = base::env::data_dir();
    let rows: Vec<_> = read_labels(&root)?
        .into_iter()
        .filter(|r| region.as_ref().is_none_or(|g| &r.region == g))
        .enumerate()
        .filter(|(i, _)| i % nth == 0)
        .map(|(_, r)| r)
        .collect();
    let mut cfg = AnprConfig::default();
    if let Ok(v) = std::env::var("ANPR_CFG") {
        cfg = toml::from_str(&v)?;
    }
    // PLATE_FORMATS=path: try a format table without rebuilding.
    let anpr = match std::env::var("PLATE_FORMATS") {
        Ok(p) => Anpr::with_formats(
            &vision::ModelManifest::embedded(),
            &base::env::models_dir(),
            cfg,
            kuzet_vehicles::PlateFormats::from_toml(&std::fs::read_to_string(p)?)?,
        )?,
        Err(_) => Anpr::from_env(cfg)?,
    };
    let pool = AnprPool::single(anpr);
    let rep = evaluate(&pool, &root, &rows, |i| {
        if !i.exact {
            println!(
                "FAIL {:40} truth {:10} got {:10} raw {:?} fmt {:?} conf {:.2}",
                i.path,
                i.truth,
                i.predicted.as_deref().unwrap_or("-"),
                i.raw,
                i.format,
                i.confidence
            );
        }
    })?;
    for r in rep.regions.iter().chain(std::iter::once(&rep.overall)) {
        println!(
            "{:8} n={:4} exact={:4} ({:.1}%) char={:.3} no_plate={}",
            r.region,
            r.images,
            r.exact,
            r.exact_rate * 100.0,
            r.char_accuracy,
            r.no_plate
        );
    }
    println!("{:.1} s, {:.2} plates/s", rep.seconds, rep.plates_per_s);
    if let Ok(dir) = std::env::var("DUMP") {
        std::fs::create_dir_all(&dir)?;
        let mut anpr = pool.first();
        for it in rep.items.iter().filter(|i| !i.exact) {
            let img = kuzet_vehicles::load_image(&root.join(&it.path))?;
            anpr.set_countries(kuzet_vehicles::eval::region_countries(&it.region));
            for (k, r) in anpr.recognize(&img)?.iter().enumerate() {
                let stem = std::path::Path::new(&it.path)
                    .file_stem()
                    .unwrap()
                    .to_string_lossy()
                    .to_string();
                if let Some(c) = anpr.rectify(&img, &r.corners) {
                    c.save(format!("{dir}/{stem}_{k}_{}_{:?}.png", r.text, r.source))?;
                }
                println!(
                    "  {stem} #{k} {} raw {} src {:?} det {:.2} conf {:.2} bbox {:?}",
                    r.text, r.raw_text, r.source, r.det_score, r.confidence, r.bbox
                );
            }
        }
    }
    Ok(())
}

/// `DUMP=dir`: writes the rectified crops of each read of every failure.
#[allow(dead_code)]
fn unused() {}
