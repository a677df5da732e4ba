//! Vehicle commands: `plate IMAGE`, `eval plates <data-root>`,
//! `eval colours <data-root>`.

use super::{load_config, models_dir};
use anyhow::{bail, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use vehicles::{colour, evaluate, load_image, read_labels, Anpr, AnprConfig};

#[derive(clap::Args)]
pub struct PlateArgs {
    /// Image to read plates from (JPEG or PNG).
    pub image: PathBuf,
    /// Countries whose plate formats may match (kz, us, eu, br; repeatable).
    /// Default: all.
    #[arg(long = "country")]
    pub countries: Vec<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Licence plates: exact match and character accuracy on <data-root>/plates/labels.csv.
    Plates {
        /// Folder holding plates/labels.csv (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Only this region (us, eu, br).
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Print JSON (totals and every image) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Vehicle colour: accuracy and confusion on labelled vehicle crops.
    Colours {
        /// Folder the label paths are relative to (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Labels file (`path,x,y,w,h,colour`). Default: the crops labelled
        /// from the development media, built into the binary.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Print JSON (totals, confusion and every crop) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn anpr(config: Option<&std::path::Path>, countries: Vec<String>) -> Result<Anpr> {
    let cfg = load_config(config)?;
    let mut ac = AnprConfig {
        countries,
        ..AnprConfig::default()
    };
    ac.session.intra_threads = cfg.models.threads;
    Ok(Anpr::new(
        &vision::ModelManifest::embedded(),
        &models_dir(&cfg),
        ac,
    )?)
}

/// `kuzet plate IMAGE`.
pub fn run_plate(a: PlateArgs) -> Result<ExitCode> {
    let img = load_image(&a.image)?;
    let mut anpr = anpr(a.config.as_deref(), a.countries)?;
    let reads = anpr.recognize(&img)?;
    if a.json {
        let plates: Vec<_> = reads
            .iter()
            .map(|r| {
                json!({
                    "text": r.text,
                    "raw_text": r.raw_text,
                    "format": r.format,
                    "confidence": (f64::from(r.confidence) * 1000.0).round() / 1000.0,
                    "box": [r.bbox.x1, r.bbox.y1, r.bbox.x2, r.bbox.y2],
                    "corners": r.corners.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                    "source": r.source,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "image": a.image.display().to_string(),
                "plates": plates,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if reads.is_empty() {
        println!("no plate found in {}", a.image.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10} {:<12} {:<12} {:>5}  box (x1,y1,x2,y2)",
        "text", "format", "raw", "conf"
    );
    for r in &reads {
        println!(
            "{:<10} {:<12} {:<12} {:>5.2}  {:.0},{:.0},{:.0},{:.0}",
            r.text,
            r.format.as_deref().unwrap_or("-"),
            r.raw_text,
            r.confidence,
            r.bbox.x1,
            r.bbox.y1,
            r.bbox.x2,
            r.bbox.y2
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `kuzet eval plates|colours <data-root>`.
pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    match cmd {
        EvalCmd::Plates {
            data_root,
            region,
            config,
            json,
        } => run_eval_plates(data_root, region, config, json),
        EvalCmd::Colours {
            data_root,
            labels,
            json,
        } => run_eval_colours(data_root, labels, json),
    }
}

/// `kuzet eval colours <data-root>`.
fn run_eval_colours(data_root: PathBuf, labels: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let rows = match &labels {
        Some(p) => colour::read_colour_labels(p)?,
        None => colour::builtin_colour_labels()?,
    };
    if rows.is_empty() {
        bail!("no labelled crops");
    }
    let rep = colour::evaluate(&data_root, &rows, &colour::ColourConfig::default())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "colour evaluation: {} crops ({})",
        rep.crops,
        labels
            .as_ref()
            .map_or("built-in labels".to_string(), |p| p.display().to_string())
    );
    println!(
        "accuracy {:.1} % ({}/{}), unknown {}, accuracy when named {:.1} %, silver+grey merged {:.1} %",
        rep.accuracy * 100.0,
        rep.correct,
        rep.crops,
        rep.unknown,
        rep.accuracy_when_named * 100.0,
        rep.accuracy_silver_grey_merged * 100.0
    );
    let cols: Vec<colour::VehicleColour> = colour::VehicleColour::ALL
        .into_iter()
        .filter(|c| {
            rep.confusion.contains_key(c) || rep.confusion.values().any(|m| m.contains_key(c))
        })
        .collect();
    println!("\nconfusion (rows: label, columns: predicted)");
    print!("| label |");
    for c in &cols {
        print!(" {c} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(cols.len()));
    for (truth, row) in &rep.confusion {
        print!("| {truth} |");
        for c in &cols {
            match row.get(c) {
                Some(n) => print!(" {n} |"),
                None => print!(" |"),
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// `kuzet eval plates <data-root>`.
fn run_eval_plates(
    data_root: PathBuf,
    region: Option<String>,
    config: Option<PathBuf>,
    json: bool,
) -> Result<ExitCode> {
    let mut rows = read_labels(&data_root)?;
    if let Some(r) = &region {
        let r = r.to_ascii_lowercase();
        rows.retain(|row| row.region == r);
        if rows.is_empty() {
            bail!(
                "no images of region `{r}` in {}/plates/labels.csv",
                data_root.display()
            );
        }
    }
    let mut anpr = anpr(config.as_deref(), Vec::new())?;
    let total = rows.len();
    let mut done = 0;
    let rep = evaluate(&mut anpr, &data_root, &rows, |_| {
        done += 1;
        if !json && done % 25 == 0 {
            eprintln!("{done}/{total}");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "plate evaluation: {} ({} images)",
        data_root.display(),
        total
    );
    println!("| region | images | exact | exact % | char accuracy | no plate |");
    println!("|---|---|---|---|---|---|");
    for s in rep.regions.iter().chain(std::iter::once(&rep.overall)) {
        println!(
            "| {} | {} | {} | {:.1} | {:.3} | {} |",
            s.region,
            s.images,
            s.exact,
            s.exact_rate * 100.0,
            s.char_accuracy,
            s.no_plate
        );
    }
    println!(
        "{:.1} s, {:.2} images/s end to end (vehicle detection, plate localisation, OCR)",
        rep.seconds, rep.plates_per_s
    );
    Ok(ExitCode::SUCCESS)
}
