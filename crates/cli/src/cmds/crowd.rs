//! `kuzet eval crowd <data-root>`: the crowd counter against head-point
//! labels (`<data-root>/crowd/labels.csv`: path,count,...).

use super::{load_config, models_dir};
use anyhow::{bail, Context, Result};
use base::{Frame, Timestamp};
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Crowd counting: per-image count against <data-root>/crowd/labels.csv.
    Crowd {
        /// Folder holding crowd/labels.csv (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Config file (models folder, threads, detector input size).
        #[arg(long)]
        config: Option<PathBuf>,
        /// Tile grids after the whole frame (repeatable; default 2 and 3).
        #[arg(long = "grid")]
        grids: Vec<u32>,
        /// Count person boxes only (no face fusion).
        #[arg(long)]
        no_faces: bool,
        /// Face model used for heads: scrfd_500m (default), scrfd_2_5g or
        /// yunet_n.
        #[arg(long, value_parser = config::CROWD_HEAD_MODELS)]
        heads: Option<String>,
        /// Print JSON (every image and the summary) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// (relative path, labelled count) rows of a crowd labels file.
pub fn read_labels(csv: &Path) -> Result<Vec<(String, u32)>> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().skip(1) {
        if line.trim().is_empty() {
            continue;
        }
        let mut f = line.splitn(3, ',');
        let (Some(path), Some(count)) = (f.next(), f.next()) else {
            bail!("{} line {}: expected path,count", csv.display(), i + 1);
        };
        let n: u32 = count.trim().parse().with_context(|| {
            format!(
                "{} line {}: count `{count}` is not a whole number",
                csv.display(),
                i + 1
            )
        })?;
        out.push((path.trim().to_string(), n));
    }
    if out.is_empty() {
        bail!("{} lists no images", csv.display());
    }
    Ok(out)
}

pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    let EvalCmd::Crowd {
        data_root,
        config,
        grids,
        no_faces,
        heads,
        json,
    } = cmd;
    let csv = data_root.join("crowd/labels.csv");
    if !csv.is_file() {
        bail!(
            "{} has no crowd/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let labels = read_labels(&csv)?;
    let cfg = load_config(config.as_deref())?;
    // What a camera's `[camera.crowd_counter]` runs by default, so the
    // figures are the cameras' figures.
    let mut settings = config::CrowdCounterSettings {
        faces: !no_faces,
        ..Default::default()
    };
    if !grids.is_empty() {
        settings.grids = grids;
    }
    if let Some(h) = heads {
        settings.head_model = h;
    }
    let ccfg = pipeline::crowd_counter_config(&settings);
    let mut counter = pipeline::build_crowd_counter(&cfg, &models_dir(&cfg), &settings)?;
    let mut rows = Vec::new();
    let mut warm = false;
    for (rel, label) in &labels {
        let path = data_root.join(rel);
        let img = faces::load_photo(&path)
            .with_context(|| format!("image listed in {}", csv.display()))?;
        let (w, h) = img.dimensions();
        let frame = Frame::new(Arc::from("eval"), 0, Timestamp(0), 0, w, h, img.into_raw());
        if !warm {
            // Session start-up (first-run allocations) is not a count's cost.
            counter.count(&frame)?;
            warm = true;
        }
        let t = std::time::Instant::now();
        let est = counter.count(&frame)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let n = est.count() as f64;
        let err = if *label > 0 {
            (n - *label as f64) / *label as f64 * 100.0
        } else {
            f64::NAN
        };
        let min_face = est
            .people
            .iter()
            .filter_map(|p| p.face.map(|f| f.height()))
            .fold(f32::INFINITY, f32::min);
        let min_body = est
            .people
            .iter()
            .filter(|p| matches!(p.source, vision::PersonSource::Body { .. }))
            .map(|p| p.bbox.height())
            .fold(f32::INFINITY, f32::min);
        rows.push(json!({
            "path": rel,
            "width": w,
            "height": h,
            "label": label,
            "estimate": est.count(),
            "error_pct": (err * 10.0).round() / 10.0,
            "bodies": est.bodies,
            "faces": est.faces,
            "faces_added": est.faces_added,
            "smallest_face_px": min_face.is_finite().then_some(min_face.round()),
            "smallest_body_px": min_body.is_finite().then_some(min_body.round()),
            "ms": (ms * 10.0).round() / 10.0,
            "person_ms": (est.person_ms * 10.0).round() / 10.0,
            "face_ms": (est.face_ms * 10.0).round() / 10.0,
            // Every counted person, so a miscount can be looked at.
            "people": est.people,
        }));
    }
    let errs: Vec<f64> = rows
        .iter()
        .filter_map(|r| r["error_pct"].as_f64())
        .filter(|e| e.is_finite())
        .collect();
    let mae = errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len().max(1) as f64;
    let total_label: u64 = labels.iter().map(|(_, n)| *n as u64).sum();
    let total_est: u64 = rows.iter().filter_map(|r| r["estimate"].as_u64()).sum();
    let mean_ms = rows.iter().filter_map(|r| r["ms"].as_f64()).sum::<f64>() / rows.len() as f64;
    if json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "images": rows,
                "mean_abs_error_pct": (mae * 10.0).round() / 10.0,
                "total_label": total_label,
                "total_estimate": total_est,
                "mean_ms": (mean_ms * 10.0).round() / 10.0,
                "counter": ccfg,
                "faces": !no_faces,
                "head_model": settings.faces.then_some(&settings.head_model),
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("| image | label | estimate | error | bodies | faces added | ms |");
    println!("|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {} | {} | {:+.0} % | {} | {} | {:.0} |",
            r["path"].as_str().unwrap_or(""),
            r["label"],
            r["estimate"],
            r["error_pct"].as_f64().unwrap_or(f64::NAN),
            r["bodies"],
            r["faces_added"],
            r["ms"].as_f64().unwrap_or(0.0),
        );
    }
    println!(
        "| **total / mean abs % error** | {total_label} | {total_est} | {mae:.1} % | | | {mean_ms:.0} |"
    );
    Ok(ExitCode::SUCCESS)
}
