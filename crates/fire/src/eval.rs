//! `kuzet eval fire`: precision/recall/F1 per class and for fire-or-smoke vs
//! no_fire on `<data-root>/fire/labels.csv` (`path,class[,note]`, path
//! relative to the data root, class fire | smoke | no_fire).
//!
//! Never on training images: every eval image's sha256 is compared with the
//! hashes the weights file records for its training set, and with the files
//! of `<data-root>/fire_train` when present; any overlap aborts the run.

use crate::classify::FireClassifier;
use crate::error::FireError;
use crate::imageio::{decode_rgb, sha256_hex};
use crate::CLASSES;
use serde::Serialize;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tracing::{info, warn};

/// Binary confusion counts for one positive class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Counts {
    pub fn add(&mut self, truth: bool, pred: bool) {
        match (truth, pred) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }
    fn ratio(a: usize, b: usize) -> f32 {
        if b == 0 {
            0.0
        } else {
            a as f32 / b as f32
        }
    }
    pub fn precision(&self) -> f32 {
        Self::ratio(self.tp, self.tp + self.fp)
    }
    pub fn recall(&self) -> f32 {
        Self::ratio(self.tp, self.tp + self.fn_)
    }
    pub fn f1(&self) -> f32 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ClassMetrics {
    pub class: String,
    /// Images whose truth is this class.
    pub support: usize,
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
    pub counts: Counts,
}

impl ClassMetrics {
    fn new(class: &str, c: Counts) -> Self {
        ClassMetrics {
            class: class.into(),
            support: c.tp + c.fn_,
            precision: c.precision(),
            recall: c.recall(),
            f1: c.f1(),
            counts: c,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct ImageResult {
    pub path: String,
    pub truth: String,
    pub predicted: String,
    pub fire: f32,
    pub smoke: f32,
    /// `whole` or `tile NxN`: where the best score came from.
    pub best_region: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub data_root: String,
    pub weights: String,
    pub images: usize,
    pub classes: Vec<ClassMetrics>,
    /// fire-or-smoke (positive) vs no_fire.
    pub binary: ClassMetrics,
    /// Rows = truth, columns = prediction, both in `labels` order.
    pub confusion: Vec<Vec<usize>>,
    pub labels: Vec<String>,
    pub accuracy: f32,
    pub tile_grids: Vec<u32>,
    pub regions_per_image: usize,
    /// Mean classifier time per image (all regions), excluding decoding.
    pub ms_per_image: f32,
    pub per_image: Vec<ImageResult>,
}

/// One labelled eval image.
#[derive(Clone, Debug)]
pub struct EvalImage {
    pub rel: String,
    pub path: PathBuf,
    pub class: usize,
}

/// Reads `<root>/fire/labels.csv`.
pub fn read_eval_labels(root: &Path) -> Result<Vec<EvalImage>, FireError> {
    let csv = root.join("fire/labels.csv");
    crate::imageio::read_label_rows(&csv)?
        .into_iter()
        .map(|r| {
            let class = CLASSES.iter().position(|k| *k == r.class).ok_or_else(|| {
                FireError::data(
                    &csv,
                    format!(
                        "line {}: class `{}` (expected fire, smoke or no_fire)",
                        r.line, r.class
                    ),
                )
            })?;
            Ok(EvalImage {
                path: root.join(&r.path),
                rel: r.path,
                class,
            })
        })
        .collect()
}

/// sha256 of every file under `<root>/fire_train` (recursively), if present.
fn train_dir_hashes(root: &Path) -> Result<HashSet<String>, FireError> {
    let mut out = HashSet::new();
    let mut stack = vec![root.join("fire_train")];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|x| x != "csv" && x != "md") {
                let bytes = std::fs::read(&p).map_err(|e| FireError::io(&p, e))?;
                out.insert(sha256_hex(&bytes));
            }
        }
    }
    Ok(out)
}

/// Runs the classifier on every labelled image and computes the metrics.
pub fn evaluate(
    root: &Path,
    clf: &mut FireClassifier,
    weights: &str,
) -> Result<EvalReport, FireError> {
    let items = read_eval_labels(root)?;
    let mut trained: HashSet<String> = clf.head().training.image_sha256.iter().cloned().collect();
    if trained.is_empty() {
        warn!("the weights file lists no training image hashes; only <data-root>/fire_train is checked");
    }
    trained.extend(train_dir_hashes(root)?);
    // Read and hash everything first, so an overlap aborts before any scoring.
    let mut loaded = Vec::with_capacity(items.len());
    let mut overlap = Vec::new();
    for it in &items {
        let bytes = std::fs::read(&it.path).map_err(|e| FireError::io(&it.path, e))?;
        if trained.contains(&sha256_hex(&bytes)) {
            overlap.push(it.rel.clone());
        }
        loaded.push(bytes);
    }
    if !overlap.is_empty() {
        return Err(FireError::data(
            root.join("fire/labels.csv"),
            format!(
                "{} eval image(s) are training images (same sha256): {}; refusing to evaluate on training data",
                overlap.len(),
                overlap.join(", ")
            ),
        ));
    }

    let n = CLASSES.len();
    let mut confusion = vec![vec![0usize; n]; n];
    let mut per_image = Vec::new();
    let mut ms = 0f32;
    for (it, bytes) in items.iter().zip(&loaded) {
        let img = decode_rgb(bytes, &it.path)?;
        let t0 = Instant::now();
        let s = clf.score(&img)?;
        ms += t0.elapsed().as_secs_f32() * 1000.0;
        let pred = CLASSES.iter().position(|c| *c == s.class).unwrap_or(2);
        confusion[it.class][pred] += 1;
        let best = s
            .regions
            .iter()
            .max_by(|a, b| a.prob.total_cmp(&b.prob))
            .map_or("whole".to_string(), |r| match r.grid {
                None => "whole".into(),
                Some(g) => format!("tile {g}x{g}"),
            });
        info!(path = %it.rel, truth = CLASSES[it.class], pred = s.class, fire = s.fire, smoke = s.smoke, "scored");
        per_image.push(ImageResult {
            path: it.rel.clone(),
            truth: CLASSES[it.class].into(),
            predicted: s.class.into(),
            fire: s.fire,
            smoke: s.smoke,
            best_region: best,
        });
    }
    let classes = (0..n)
        .map(|k| {
            let mut c = Counts::default();
            for (t, row) in confusion.iter().enumerate() {
                for (p, &v) in row.iter().enumerate() {
                    for _ in 0..v {
                        c.add(t == k, p == k);
                    }
                }
            }
            ClassMetrics::new(CLASSES[k], c)
        })
        .collect();
    let mut bin = Counts::default();
    for (t, row) in confusion.iter().enumerate() {
        for (p, &v) in row.iter().enumerate() {
            for _ in 0..v {
                bin.add(t != 2, p != 2);
            }
        }
    }
    let correct: usize = (0..n).map(|k| confusion[k][k]).sum();
    Ok(EvalReport {
        data_root: root.display().to_string(),
        weights: weights.to_string(),
        images: items.len(),
        classes,
        binary: ClassMetrics::new("fire_or_smoke", bin),
        confusion,
        labels: CLASSES.iter().map(|s| s.to_string()).collect(),
        accuracy: correct as f32 / items.len() as f32,
        tile_grids: clf.config().tile_grids.clone(),
        regions_per_image: clf.regions(640, 480).len(),
        ms_per_image: ms / items.len() as f32,
        per_image,
    })
}

/// Markdown table of the report.
pub fn format_table(r: &EvalReport) -> String {
    let mut s = format!(
        "fire evaluation: {} ({} images, weights {}, whole + tiles {:?} = {} regions/image, {:.1} ms/image)\n\n",
        r.data_root, r.images, r.weights, r.tile_grids, r.regions_per_image, r.ms_per_image
    );
    s += "| class | support | precision | recall | F1 |\n|---|---|---|---|---|\n";
    for c in r.classes.iter().chain(std::iter::once(&r.binary)) {
        s += &format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} |\n",
            c.class, c.support, c.precision, c.recall, c.f1
        );
    }
    s += &format!(
        "\naccuracy (3 classes): {:.3}\n\nconfusion (rows = truth, columns = predicted)\n\n",
        r.accuracy
    );
    s += &format!(
        "| truth \\ pred | {} |\n|---|{}\n",
        r.labels.join(" | "),
        "---|".repeat(r.labels.len())
    );
    for (l, row) in r.labels.iter().zip(&r.confusion) {
        let cells: Vec<String> = row.iter().map(|v| v.to_string()).collect();
        s += &format!("| {l} | {} |\n", cells.join(" | "));
    }
    let wrong: Vec<&ImageResult> = r
        .per_image
        .iter()
        .filter(|i| i.truth != i.predicted)
        .collect();
    if !wrong.is_empty() {
        s += "\nmisclassified:\n";
        for i in wrong {
            s += &format!(
                "  {} truth={} predicted={} fire={:.3} smoke={:.3} ({})\n",
                i.path, i.truth, i.predicted, i.fire, i.smoke, i.best_region
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_metrics() {
        let mut c = Counts::default();
        for (t, p) in [
            (true, true),
            (true, true),
            (true, false),
            (false, true),
            (false, false),
        ] {
            c.add(t, p);
        }
        assert!((c.precision() - 2.0 / 3.0).abs() < 1e-6);
        assert!((c.recall() - 2.0 / 3.0).abs() < 1e-6);
        assert!((c.f1() - 2.0 / 3.0).abs() < 1e-6);
        assert_eq!(Counts::default().f1(), 0.0);
    }
}
