//! Fire/smoke commands: `train fire <data-root>`, `eval fire <data-root>`.

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use fire::train::{train, TrainConfig};
use fire::{ClassifierConfig, FireClassifier};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum TrainCmd {
    /// Fit the fire/smoke head on <data-root>/fire_train (YOLOX-nano features).
    Fire {
        /// Folder holding fire_train/labels.csv (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Where to write the weights. The default never overwrites the
        /// shipped crates/fire/weights/fire_head_v1.json.
        #[arg(long, default_value = "fire_head_v1.json")]
        out: PathBuf,
        /// Network input side for the features (multiple of 32).
        #[arg(long, default_value_t = 416)]
        input_size: u32,
        /// Print the training report as JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Fire/smoke: precision/recall/F1 on <data-root>/fire/labels.csv.
    Fire {
        /// Folder holding fire/labels.csv (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Head weights (default: the shipped crates/fire/weights/fire_head_v1.json,
        /// compiled in).
        #[arg(long)]
        weights: Option<PathBuf>,
        /// Tile grids scored besides the whole image (repeatable; default 2 = 2×2).
        #[arg(long = "tiles")]
        tiles: Vec<u32>,
        /// Print JSON (metrics and every image) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

pub fn run_train(cmd: TrainCmd) -> Result<ExitCode> {
    let TrainCmd::Fire {
        data_root,
        out,
        input_size,
        json,
    } = cmd;
    if !data_root.join("fire_train/labels.csv").is_file() {
        bail!(
            "{} has no fire_train/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let cfg = TrainConfig {
        input_size,
        progress: !json,
        ..Default::default()
    };
    let (head, report) = train(&data_root, &cfg).context("training the fire head")?;
    head.save(&out)
        .with_context(|| format!("writing {}", out.display()))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "fire head trained on {} images ({} fire, {} no_fire; {} samples), features in {:.0} s",
        report.images,
        report.fire_images,
        report.no_fire_images,
        report.samples,
        report.extract_seconds
    );
    println!(
        "\n{}-fold cross-validation inside fire_train (image level, max over whole + tiles):\n",
        cfg.folds
    );
    println!("| l2 | threshold | precision | recall | F1 |\n|---|---|---|---|---|");
    for r in &report.cv {
        let mark = if r.l2 == report.chosen.l2 {
            " (chosen)"
        } else {
            ""
        };
        println!(
            "| {}{} | {:.3} | {:.3} | {:.3} | {:.3} |",
            r.l2, mark, r.threshold, r.precision, r.recall, r.f1
        );
    }
    println!("\nweights written to {}", out.display());
    Ok(ExitCode::SUCCESS)
}

pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    let EvalCmd::Fire {
        data_root,
        weights,
        tiles,
        json,
    } = cmd;
    if !data_root.join("fire/labels.csv").is_file() {
        bail!(
            "{} has no fire/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let mut cfg = ClassifierConfig {
        weights: weights.clone(),
        ..Default::default()
    };
    if !tiles.is_empty() {
        cfg.tile_grids = tiles;
    }
    let label = weights.map_or_else(
        || "shipped fire_head_v1.json (embedded)".to_string(),
        |p| p.display().to_string(),
    );
    let mut clf = FireClassifier::new(cfg)?;
    let r = fire::eval::evaluate(&data_root, &mut clf, &label)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        print!("{}", fire::eval::format_table(&r));
    }
    Ok(ExitCode::SUCCESS)
}
