//! The trained head and its versioned weights file (JSON).
//!
//! Why JSON: the head is ~900 weights plus standardisation statistics
//! (~60 KB), so a self-describing text file is small enough, diffs well and
//! needs no new dependency. Loading checks the format name and version, that
//! the feature extractor identity (model key, **model sha256**, input size,
//! layers, pooling, dimension) and colour feature list match this build, and
//! that every vector has the right length and finite values: a head trained
//! on other features would otherwise produce confident nonsense.

use crate::colour::COLOUR_FEATURES;
use crate::error::FireError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use vision::features::ExtractorIdentity;

/// `format` field of every weights file.
pub const FORMAT: &str = "kuzet-fire-head";
/// Bumped whenever fields or their meaning change.
pub const FORMAT_VERSION: u32 = 1;

/// `weights/fire_head_v1.json` as built into the binary (see `docs/fire.md`
/// for how it was produced).
const SHIPPED_JSON: &str = include_str!("../weights/fire_head_v1.json");

/// Decision thresholds, chosen on the training data's cross-validation.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Thresholds {
    /// Fire-or-smoke probability at or above which a region counts.
    pub fire: f32,
    /// A positive region with fewer flame-coloured pixels than this is
    /// reported as smoke rather than fire (the training "fire" scenes often
    /// show only their smoke).
    pub flame_min_frac: f32,
}

/// What the head was trained on, for reproducibility and the eval overlap check.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct TrainingInfo {
    pub data: String,
    pub images: usize,
    pub fire_images: usize,
    pub no_fire_images: usize,
    pub samples: usize,
    pub augmentation: String,
    pub l2: f32,
    pub epochs: usize,
    pub learning_rate: f32,
    pub seed: u64,
    pub cv_folds: usize,
    /// Out-of-fold image-level metrics at the chosen threshold.
    pub cv_precision: f32,
    pub cv_recall: f32,
    pub cv_f1: f32,
    pub tool: String,
    /// sha256 of every training image: `kuzet eval fire` refuses to score them.
    pub image_sha256: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FireHead {
    pub format: String,
    pub version: u32,
    pub extractor: ExtractorIdentity,
    pub colour_features: Vec<String>,
    /// Output classes of the image-level decision.
    pub classes: Vec<String>,
    /// Per-feature standardisation (CNN features then colour features).
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Logistic regression on standardised features: P(fire or smoke).
    pub weights: Vec<f32>,
    pub bias: f32,
    pub thresholds: Thresholds,
    pub training: TrainingInfo,
}

impl FireHead {
    /// `crates/fire/weights/fire_head_v1.json` of this source tree.
    pub fn default_path() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("weights/fire_head_v1.json")
    }

    /// The shipped weights, compiled in, so an installed binary works
    /// without the source tree or a training run.
    pub fn shipped() -> Result<FireHead, FireError> {
        Self::from_json(SHIPPED_JSON, "shipped fire_head_v1.json (embedded)")
    }

    /// Number of inputs: extractor features plus colour features.
    pub fn input_dim(&self) -> usize {
        self.weights.len()
    }

    /// Reads and validates a weights file (format, version, lengths, values).
    /// The extractor match is checked separately ([`FireHead::check_extractor`])
    /// because it needs the loaded model.
    pub fn load(path: &Path) -> Result<FireHead, FireError> {
        let text = std::fs::read_to_string(path).map_err(|e| FireError::Weights {
            path: path.display().to_string(),
            reason: format!(
                "{e} (train one with `kuzet train fire <data-root>` or use the shipped {})",
                Self::default_path().display()
            ),
        })?;
        Self::from_json(&text, &path.display().to_string())
    }

    pub fn from_json(text: &str, origin: &str) -> Result<FireHead, FireError> {
        let err = |reason: String| FireError::Weights {
            path: origin.to_string(),
            reason,
        };
        // Check the format before the full parse, so an old or foreign file
        // gets a version message rather than a missing-field one.
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| err(format!("not JSON: {e}")))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(err(format!("not a fire head file (format != {FORMAT:?})")));
        }
        let version = v.get("version").and_then(|x| x.as_u64());
        if version != Some(u64::from(FORMAT_VERSION)) {
            return Err(err(format!(
                "format version {version:?}, this build reads version {FORMAT_VERSION}: retrain with `kuzet train fire`"
            )));
        }
        let head: FireHead = serde_json::from_value(v).map_err(|e| err(e.to_string()))?;
        head.validate().map_err(err)?;
        Ok(head)
    }

    fn validate(&self) -> Result<(), String> {
        let want_colour: Vec<String> = COLOUR_FEATURES.iter().map(|s| s.to_string()).collect();
        if self.colour_features != want_colour {
            return Err(format!(
                "colour features {:?} differ from this build's {:?}",
                self.colour_features, want_colour
            ));
        }
        let n = self.extractor.dim + COLOUR_FEATURES.len();
        for (name, len) in [
            ("weights", self.weights.len()),
            ("mean", self.mean.len()),
            ("std", self.std.len()),
        ] {
            if len != n {
                return Err(format!(
                    "{name} has {len} values, expected {n} ({} extractor + {} colour)",
                    self.extractor.dim,
                    COLOUR_FEATURES.len()
                ));
            }
        }
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !finite(&self.weights)
            || !finite(&self.mean)
            || !finite(&self.std)
            || !self.bias.is_finite()
        {
            return Err("non-finite values".into());
        }
        if self.std.iter().any(|&s| s <= 0.0) {
            return Err("std must be positive".into());
        }
        if !(0.0..=1.0).contains(&self.thresholds.fire) {
            return Err(format!(
                "thresholds.fire {} outside 0..1",
                self.thresholds.fire
            ));
        }
        if self.classes != crate::CLASSES {
            return Err(format!(
                "classes {:?}, expected {:?}",
                self.classes,
                crate::CLASSES
            ));
        }
        Ok(())
    }

    /// Refuses features from another model file, size, layer set or pooling.
    pub fn check_extractor(
        &self,
        actual: &ExtractorIdentity,
        origin: &str,
    ) -> Result<(), FireError> {
        let e = &self.extractor;
        let mismatch = if !e.model_sha256.eq_ignore_ascii_case(&actual.model_sha256) {
            Some(format!(
                "trained on model {} sha256 {}, the loaded model has sha256 {}",
                e.model_key, e.model_sha256, actual.model_sha256
            ))
        } else if e.model_key != actual.model_key {
            Some(format!(
                "trained on `{}`, extractor uses `{}`",
                e.model_key, actual.model_key
            ))
        } else if e.input_size != actual.input_size {
            Some(format!(
                "trained at input size {}, the extractor runs at {}",
                e.input_size, actual.input_size
            ))
        } else if e.layers != actual.layers || e.pooling != actual.pooling || e.dim != actual.dim {
            Some("trained on other feature layers/pooling".to_string())
        } else {
            None
        };
        match mismatch {
            Some(reason) => Err(FireError::Weights {
                path: origin.to_string(),
                reason: format!("{reason}: retrain with `kuzet train fire`"),
            }),
            None => Ok(()),
        }
    }

    /// P(fire or smoke) for one raw (unstandardised) feature vector.
    pub fn prob(&self, x: &[f32]) -> f32 {
        let z = self.bias
            + self
                .weights
                .iter()
                .zip(x)
                .zip(self.mean.iter().zip(&self.std))
                .map(|((w, v), (m, sd))| w * (v - m) / sd)
                .sum::<f32>();
        sigmoid(z)
    }

    /// Writes pretty JSON (atomically: temp file then rename).
    pub fn save(&self, path: &Path) -> Result<(), FireError> {
        let text = serde_json::to_string(self).map_err(|e| FireError::Weights {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| FireError::io(dir, e))?;
        }
        let tmp = path.with_extension("json.tmp");
        std::fs::write(&tmp, text).map_err(|e| FireError::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| FireError::io(path, e))
    }
}

pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + (-z).exp())
}

/// Per-feature mean and standard deviation (floored so constant features
/// do not blow up).
pub fn standardiser(x: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let d = x.first().map_or(0, Vec::len);
    let n = x.len().max(1) as f64;
    let mut mean = vec![0f64; d];
    let mut sq = vec![0f64; d];
    for row in x {
        for (j, &v) in row.iter().enumerate() {
            mean[j] += f64::from(v);
            sq[j] += f64::from(v) * f64::from(v);
        }
    }
    let mean: Vec<f32> = mean.iter().map(|m| (m / n) as f32).collect();
    let std = sq
        .iter()
        .zip(&mean)
        .map(|(s, &m)| ((s / n - f64::from(m) * f64::from(m)).max(0.0).sqrt() as f32).max(1e-3))
        .collect();
    (mean, std)
}

/// Full-batch logistic regression with L2, trained by Adam on already
/// standardised rows: deterministic (no sampling), and with a few thousand
/// rows of ~900 features it converges in about a second.
pub fn fit_logistic(
    x: &[Vec<f32>],
    y: &[f32],
    sample_w: &[f32],
    l2: f32,
    epochs: usize,
    lr: f32,
) -> (Vec<f32>, f32) {
    let d = x.first().map_or(0, Vec::len);
    let mut w = vec![0f32; d];
    let mut b = 0f32;
    let (mut mw, mut vw) = (vec![0f32; d], vec![0f32; d]);
    let (mut mb, mut vb) = (0f32, 0f32);
    let (b1, b2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let wsum: f32 = sample_w.iter().sum::<f32>().max(1e-9);
    let mut g = vec![0f32; d];
    for t in 1..=epochs {
        g.iter_mut().for_each(|v| *v = 0.0);
        let mut gb = 0f32;
        for ((row, &yi), &si) in x.iter().zip(y).zip(sample_w) {
            let z = b + row.iter().zip(&w).map(|(a, c)| a * c).sum::<f32>();
            let e = (sigmoid(z) - yi) * si / wsum;
            gb += e;
            for (gj, &xj) in g.iter_mut().zip(row) {
                *gj += e * xj;
            }
        }
        for (gj, &wj) in g.iter_mut().zip(&w) {
            *gj += l2 * wj;
        }
        let c1 = 1.0 - b1.powi(t as i32);
        let c2 = 1.0 - b2.powi(t as i32);
        for j in 0..d {
            mw[j] = b1 * mw[j] + (1.0 - b1) * g[j];
            vw[j] = b2 * vw[j] + (1.0 - b2) * g[j] * g[j];
            w[j] -= lr * (mw[j] / c1) / ((vw[j] / c2).sqrt() + eps);
        }
        mb = b1 * mb + (1.0 - b1) * gb;
        vb = b2 * vb + (1.0 - b2) * gb * gb;
        b -= lr * (mb / c1) / ((vb / c2).sqrt() + eps);
    }
    (w, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logistic_separates() {
        let x: Vec<Vec<f32>> = (0..40)
            .map(|i| vec![if i % 2 == 0 { 1.0 } else { -1.0 }, (i as f32 * 0.37).sin()])
            .collect();
        let y: Vec<f32> = (0..40)
            .map(|i| if i % 2 == 0 { 1.0 } else { 0.0 })
            .collect();
        let (w, b) = fit_logistic(&x, &y, &[1.0; 40], 1e-3, 300, 0.05);
        assert!(sigmoid(w[0] + b) > 0.9 && sigmoid(-w[0] + b) < 0.1);
    }
}
