//! `kuzet eval crowd <data-root>`: the crowd counter against head-point
//! labels (`<data-root>/crowd/labels.csv`: path,count,...) and the people
//! counts of the scene stills (`<data-root>/scenes/labels.csv`:
//! path,counts,description with counts like `people:4;bus:1`).

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
    /// Crowd counting: per-image count against <data-root>/crowd/labels.csv
    /// and the people counts of <data-root>/scenes/labels.csv (a count
    /// qualified `(foreground)` is compared with the people in focus).
    Crowd {
        /// Folder holding crowd/labels.csv and/or scenes/labels.csv (e.g. $KUZET_DATA).
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

/// The data rows of a labels file (header skipped; see
/// [`base::labels_csv`] for what is accepted).
fn data_rows(csv: &Path) -> Result<Vec<base::labels_csv::Row>> {
    let text =
        std::fs::read_to_string(csv).with_context(|| format!("cannot read {}", csv.display()))?;
    Ok(base::labels_csv::Table::parse(&text).rows)
}

/// (relative path, labelled count) rows of a crowd labels file.
pub fn read_labels(csv: &Path) -> Result<Vec<(String, u32)>> {
    let mut out = Vec::new();
    for row in data_rows(csv)? {
        let (Some(path), Some(count)) = (row.get(0), row.get(1)) else {
            bail!("{} line {}: expected path,count", csv.display(), row.line);
        };
        let n: u32 = count.parse().with_context(|| {
            format!(
                "{} line {}: count `{count}` is not a whole number",
                csv.display(),
                row.line
            )
        })?;
        out.push((path.to_string(), n));
    }
    if out.is_empty() {
        bail!("{} lists no images", csv.display());
    }
    Ok(out)
}

/// One labelled still to count.
#[derive(Debug, PartialEq)]
pub struct LabelledStill {
    pub path: String,
    /// `crowd` (head points) or `scenes` (counts by eye).
    pub set: &'static str,
    /// People to count; `None` where the label is not a number
    /// (`hundreds (not counted)`): the image is counted and shown, not scored.
    pub count: Option<u32>,
    /// The label's words after the number (`foreground`), or the whole label
    /// where it has no number.
    pub qualifier: Option<String>,
}

impl LabelledStill {
    /// The label counts only the people in focus (`people:1 (foreground)`).
    pub fn foreground_only(&self) -> bool {
        self.count.is_some()
            && self
                .qualifier
                .as_deref()
                .is_some_and(|q| q.to_ascii_lowercase().contains("foreground"))
    }
}

/// People rows of a scenes labels file (`path,counts,description`, counts
/// like `people:4;bus:1` or `people:1 (foreground);ball:1`; `persons` and
/// `person` are read as `people`). Rows without a people count are not
/// crowd labels and are skipped.
pub fn read_scene_labels(csv: &Path) -> Result<Vec<LabelledStill>> {
    let mut out = Vec::new();
    for row in data_rows(csv)? {
        let (Some(path), Some(counts)) = (row.get(0), row.get(1)) else {
            bail!(
                "{} line {}: expected path,counts,description",
                csv.display(),
                row.line
            );
        };
        let Some(people) = counts.split(';').find_map(|item| {
            let (k, v) = item.split_once(':')?;
            let k = k.trim().to_ascii_lowercase();
            matches!(k.as_str(), "people" | "persons" | "person").then(|| v.trim())
        }) else {
            continue;
        };
        let digits: String = people.chars().take_while(|c| c.is_ascii_digit()).collect();
        let (count, qualifier) = if digits.is_empty() {
            (None, Some(people.to_string()))
        } else {
            let n: u32 = digits.parse().with_context(|| {
                format!(
                    "{} line {}: people count `{people}` is too large",
                    csv.display(),
                    row.line
                )
            })?;
            let q = people[digits.len()..]
                .trim()
                .trim_start_matches('(')
                .trim_end_matches(')')
                .trim();
            (Some(n), (!q.is_empty()).then(|| q.to_string()))
        };
        out.push(LabelledStill {
            path: path.to_string(),
            set: "scenes",
            count,
            qualifier,
        });
    }
    Ok(out)
}

/// A person is in the foreground when their focus measure is at least this
/// share of the sharpest person's. On the one development photo with a
/// blurred stand the spectators measure 0.01–0.07 of the player; on the
/// crowd photos, where everyone is meant to be in focus, most people measure
/// 0.2–1 but motion blur and shade take some down to 0.02, so this only
/// applies where a label counts the foreground alone.
const FOREGROUND_FOCUS_RATIO: f32 = 0.15;

pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    let EvalCmd::Crowd {
        data_root,
        config,
        grids,
        no_faces,
        heads,
        json,
    } = cmd;
    let crowd_csv = data_root.join("crowd/labels.csv");
    let scenes_csv = data_root.join("scenes/labels.csv");
    if !crowd_csv.is_file() && !scenes_csv.is_file() {
        bail!(
            "{} has neither crowd/labels.csv nor scenes/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let mut labels = Vec::new();
    if crowd_csv.is_file() {
        labels.extend(
            read_labels(&crowd_csv)?
                .into_iter()
                .map(|(path, n)| LabelledStill {
                    path,
                    set: "crowd",
                    count: Some(n),
                    qualifier: None,
                }),
        );
    }
    if scenes_csv.is_file() {
        labels.extend(read_scene_labels(&scenes_csv)?);
    }
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
    for still in &labels {
        let rel = &still.path;
        let path = data_root.join(rel);
        let img = faces::load_photo(&path).with_context(|| {
            format!(
                "image listed in {}/labels.csv",
                data_root.join(still.set).display()
            )
        })?;
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
        let in_focus = est.in_focus(&frame, FOREGROUND_FOCUS_RATIO);
        // What the label counts: everyone, or the people in focus.
        let scored = if still.foreground_only() {
            in_focus
        } else {
            est.count()
        };
        let err = match still.count {
            Some(label) if label > 0 => (scored as f64 - label as f64) / label as f64 * 100.0,
            _ => f64::NAN,
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
            "set": still.set,
            "width": w,
            "height": h,
            "label": still.count,
            "label_qualifier": still.qualifier,
            "estimate": est.count(),
            "in_focus": in_focus,
            "scored_estimate": scored,
            "error_pct": err.is_finite().then(|| (err * 10.0).round() / 10.0),
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
    // Mean absolute % error over the scored rows of one set (or all).
    let mae = |set: Option<&str>| {
        let errs: Vec<f64> = rows
            .iter()
            .filter(|r| set.is_none_or(|s| r["set"] == s))
            .filter_map(|r| r["error_pct"].as_f64())
            .collect();
        (!errs.is_empty()).then(|| errs.iter().map(|e| e.abs()).sum::<f64>() / errs.len() as f64)
    };
    let sets: Vec<&str> = ["crowd", "scenes"]
        .into_iter()
        .filter(|s| rows.iter().any(|r| r["set"] == *s))
        .collect();
    let total_label: u64 = labels.iter().filter_map(|l| l.count).map(u64::from).sum();
    let total_est: u64 = rows
        .iter()
        .filter(|r| r["error_pct"].is_number())
        .filter_map(|r| r["scored_estimate"].as_u64())
        .sum();
    let mean_ms = rows.iter().filter_map(|r| r["ms"].as_f64()).sum::<f64>() / rows.len() as f64;
    let round1 = |v: Option<f64>| v.map(|v| (v * 10.0).round() / 10.0);
    if json {
        let per_set: serde_json::Map<String, serde_json::Value> = sets
            .iter()
            .map(|s| {
                let scored = rows
                    .iter()
                    .filter(|r| r["set"] == *s && r["error_pct"].is_number())
                    .count();
                (
                    s.to_string(),
                    json!({ "mean_abs_error_pct": round1(mae(Some(s))), "scored_images": scored }),
                )
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "images": rows,
                "mean_abs_error_pct": round1(mae(None)),
                "sets": per_set,
                "total_label": total_label,
                "total_estimate": total_est,
                "mean_ms": (mean_ms * 10.0).round() / 10.0,
                "counter": ccfg,
                "faces": !no_faces,
                "head_model": settings.faces.then_some(&settings.head_model),
                "foreground_focus_ratio": FOREGROUND_FOCUS_RATIO,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!("| image | label | estimate | in focus | error | bodies | faces added | ms |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        let label = match (r["label"].as_u64(), r["label_qualifier"].as_str()) {
            (Some(n), Some(q)) => format!("{n} ({q})"),
            (Some(n), None) => n.to_string(),
            (None, q) => q.unwrap_or("").to_string(),
        };
        let err = r["error_pct"]
            .as_f64()
            .map_or("not scored".to_string(), |e| format!("{e:+.0} %"));
        println!(
            "| {} | {label} | {} | {} | {err} | {} | {} | {:.0} |",
            r["path"].as_str().unwrap_or(""),
            r["estimate"],
            r["in_focus"],
            r["bodies"],
            r["faces_added"],
            r["ms"].as_f64().unwrap_or(0.0),
        );
    }
    for s in &sets {
        if let Some(m) = mae(Some(s)) {
            println!("| **{s}: mean abs % error** | | | | {m:.1} % | | | |");
        }
    }
    if let Some(m) = mae(None) {
        println!(
            "| **total / mean abs % error** | {total_label} | {total_est} | | {m:.1} % | | | {mean_ms:.0} |"
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scene_labels_give_people_counts_and_their_qualifiers() {
        let dir = std::env::temp_dir().join(format!("kuzet-scenes-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let csv = dir.join("labels.csv");
        std::fs::write(
            &csv,
            "path,counts,description\n\
             scenes/a.jpg,people:4;bus:1,\"street, 4 people\"\n\
             scenes/b.jpg,people:1 (foreground);ball:1,player\n\
             fire/c.jpg,people:hundreds (not counted),crowd\n\
             scenes/d.jpg,\"bus:1;car:2\",no people key\n\
             scenes/e.jpg,\"people:12;car:2\",quoted\n\
             scenes/f.jpg,Persons:3,another key\n",
        )
        .unwrap();
        let rows = read_scene_labels(&csv).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let got: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.path.as_str(),
                    r.count,
                    r.qualifier.as_deref(),
                    r.foreground_only(),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("scenes/a.jpg", Some(4), None, false),
                ("scenes/b.jpg", Some(1), Some("foreground"), true),
                ("fire/c.jpg", None, Some("hundreds (not counted)"), false),
                ("scenes/e.jpg", Some(12), None, false),
                ("scenes/f.jpg", Some(3), None, false),
            ]
        );
        assert!(rows.iter().all(|r| r.set == "scenes"));
    }
}
