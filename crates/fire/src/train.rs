//! `kuzet train fire`: fit the head on `<data-root>/fire_train`.
//!
//! Samples per image: the whole image, its mirror image, and the 2×2 tiles
//! (the same regions the classifier scores). Labels are image-level, so a
//! tile of a fire image is only used as a positive when it holds some
//! flame-coloured pixels; tiles of no_fire images are all negatives. Classes
//! are weighted to equal total weight (68 fire vs 250 no_fire images).
//!
//! Hyper-parameters (L2 strength) and the decision threshold are chosen by
//! k-fold cross-validation **inside fire_train**, grouped by image so an
//! image's mirror and tiles never straddle folds; the dev set `fire/` is never
//! read here. The final head is refitted on all of fire_train.

use crate::classify::{region_features, tile_grid};
use crate::colour::COLOUR_FEATURES;
use crate::error::FireError;
use crate::eval::Counts;
use crate::head::{
    fit_logistic, sigmoid, standardiser, FireHead, Thresholds, TrainingInfo, FORMAT, FORMAT_VERSION,
};
use crate::imageio::{decode_rgb, sha256_hex};
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use std::path::{Path, PathBuf};
use tracing::info;
use vision::features::{CropRect, FeatureConfig, FeatureExtractor};
use vision::SessionConfig;

#[derive(Clone, Debug)]
pub struct TrainConfig {
    pub input_size: u32,
    pub tile_grid: u32,
    pub tile_overlap: f32,
    pub folds: usize,
    pub seed: u64,
    pub l2_grid: Vec<f32>,
    pub epochs: usize,
    pub learning_rate: f32,
    /// A fire image's tile is a positive only with at least this flame fraction.
    pub tile_positive_flame: f32,
    pub flame_min_frac: f32,
    pub progress: bool,
    pub session: SessionConfig,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            input_size: 416,
            tile_grid: 2,
            tile_overlap: 0.25,
            folds: 5,
            seed: 20_260_522,
            l2_grid: vec![1e-3, 1e-2, 3e-2, 1e-1, 3e-1],
            epochs: 250,
            learning_rate: 0.03,
            tile_positive_flame: 0.01,
            flame_min_frac: 0.002,
            progress: true,
            session: SessionConfig::default(),
        }
    }
}

/// Cross-validation result for one L2 value.
#[derive(Clone, Debug, Serialize)]
pub struct CvResult {
    pub l2: f32,
    pub threshold: f32,
    pub precision: f32,
    pub recall: f32,
    pub f1: f32,
}

#[derive(Clone, Debug, Serialize)]
pub struct TrainReport {
    pub images: usize,
    pub fire_images: usize,
    pub no_fire_images: usize,
    pub samples: usize,
    pub cv: Vec<CvResult>,
    pub chosen: CvResult,
    pub extract_seconds: f32,
}

/// One labelled image of fire_train.
#[derive(Clone, Debug)]
pub struct TrainImage {
    pub path: PathBuf,
    pub fire: bool,
}

/// Reads `<root>/fire_train/labels.csv` (`path,class,...`, path relative to root).
pub fn read_train_labels(root: &Path) -> Result<Vec<TrainImage>, FireError> {
    let csv = root.join("fire_train/labels.csv");
    crate::imageio::read_label_rows(&csv)?
        .into_iter()
        .map(|r| {
            let fire = match r.class.as_str() {
                "fire" => true,
                "no_fire" => false,
                other => {
                    return Err(FireError::data(
                        &csv,
                        format!(
                            "line {}: class `{other}` (expected fire or no_fire)",
                            r.line
                        ),
                    ))
                }
            };
            Ok(TrainImage {
                path: root.join(&r.path),
                fire,
            })
        })
        .collect()
}

struct Sample {
    image: usize,
    /// Whole image or its mirror (`false`) / a tile (`true`).
    tile: bool,
    x: Vec<f32>,
    y: f32,
}

/// Tiny deterministic PRNG (xorshift64*) for the fold shuffle: no dependency,
/// same folds on every machine.
fn shuffle<T>(v: &mut [T], seed: u64) {
    let mut s = seed.max(1);
    for i in (1..v.len()).rev() {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        let r = s.wrapping_mul(0x2545_F491_4F6C_DD1D);
        v.swap(i, (r % (i as u64 + 1)) as usize);
    }
}

/// Extracts features, cross-validates, refits on everything.
pub fn train(root: &Path, cfg: &TrainConfig) -> Result<(FireHead, TrainReport), FireError> {
    if cfg.folds < 2 || cfg.l2_grid.is_empty() {
        return Err(FireError::Config(
            "need folds >= 2 and at least one l2 value".into(),
        ));
    }
    let images = read_train_labels(root)?;
    vision::init_runtime()?;
    let mut fx = FeatureExtractor::from_env(FeatureConfig {
        input_size: cfg.input_size,
        max_batch: 8,
        session: cfg.session.clone(),
    })?;
    let colour_at = fx.dim();
    let t0 = std::time::Instant::now();
    let pb = if cfg.progress {
        let pb = ProgressBar::new(images.len() as u64);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg} [{bar:40}] {pos}/{len} {elapsed_precise} eta {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        pb.set_message("fire_train features");
        pb
    } else {
        ProgressBar::hidden()
    };
    let mut samples = Vec::new();
    let mut hashes = Vec::with_capacity(images.len());
    for (i, im) in images.iter().enumerate() {
        let bytes = std::fs::read(&im.path).map_err(|e| FireError::io(&im.path, e))?;
        hashes.push(sha256_hex(&bytes));
        let img = decode_rgb(&bytes, &im.path)?;
        let mut crops = vec![CropRect::full(img.width, img.height)];
        crops.extend(tile_grid(
            img.width,
            img.height,
            cfg.tile_grid,
            cfg.tile_overlap,
        ));
        let feats = region_features(&mut fx, &img, &crops)?;
        let flip = img.flipped();
        let ffeat = region_features(&mut fx, &flip, &[CropRect::full(img.width, img.height)])?;
        let y = if im.fire { 1.0 } else { 0.0 };
        for (k, x) in feats.into_iter().enumerate() {
            let tile = k > 0;
            if tile && im.fire && x[colour_at] < cfg.tile_positive_flame {
                continue; // image-level label; this tile may show no fire
            }
            samples.push(Sample {
                image: i,
                tile,
                x,
                y,
            });
        }
        samples.extend(ffeat.into_iter().map(|x| Sample {
            image: i,
            tile: false,
            x,
            y,
        }));
        pb.inc(1);
    }
    pb.finish_and_clear();
    let extract_seconds = t0.elapsed().as_secs_f32();
    info!(
        samples = samples.len(),
        seconds = extract_seconds,
        "features extracted"
    );

    // Folds by image, stratified by class.
    let mut fold = vec![0usize; images.len()];
    for class in [true, false] {
        let mut idx: Vec<usize> = (0..images.len())
            .filter(|&i| images[i].fire == class)
            .collect();
        shuffle(&mut idx, cfg.seed ^ u64::from(class));
        for (k, i) in idx.into_iter().enumerate() {
            fold[i] = k % cfg.folds;
        }
    }
    let labels: Vec<bool> = images.iter().map(|i| i.fire).collect();
    let mut cv = Vec::new();
    for &l2 in &cfg.l2_grid {
        let mut oof = vec![0f32; images.len()];
        for f in 0..cfg.folds {
            let train: Vec<&Sample> = samples.iter().filter(|s| fold[s.image] != f).collect();
            let (w, b, mean, std) = fit(&train, l2, cfg);
            for s in samples.iter().filter(|s| fold[s.image] == f) {
                let p = predict(&w, b, &mean, &std, &s.x);
                oof[s.image] = oof[s.image].max(p);
            }
        }
        let r = best_threshold(&oof, &labels, l2);
        info!(l2, f1 = r.f1, threshold = r.threshold, "cross-validation");
        cv.push(r);
    }
    // Best F1; ties go to the stronger regularisation (listed later).
    let chosen = cv
        .iter()
        .fold(None::<&CvResult>, |best, r| match best {
            Some(b) if b.f1 > r.f1 + 1e-6 => Some(b),
            _ => Some(r),
        })
        .cloned()
        .ok_or_else(|| FireError::Config("empty l2 grid".into()))?;

    let all: Vec<&Sample> = samples.iter().collect();
    let (weights, bias, mean, std) = fit(&all, chosen.l2, cfg);
    let fire_images = labels.iter().filter(|&&f| f).count();
    let head = FireHead {
        format: FORMAT.into(),
        version: FORMAT_VERSION,
        extractor: fx.identity().clone(),
        colour_features: COLOUR_FEATURES.iter().map(|s| s.to_string()).collect(),
        classes: crate::CLASSES.iter().map(|s| s.to_string()).collect(),
        mean,
        std,
        weights,
        bias,
        thresholds: Thresholds {
            fire: chosen.threshold,
            flame_min_frac: cfg.flame_min_frac,
        },
        training: TrainingInfo {
            data: "fire_train (labels.csv: fire | no_fire)".into(),
            images: images.len(),
            fire_images,
            no_fire_images: images.len() - fire_images,
            samples: samples.len(),
            augmentation: format!(
                "whole + horizontal mirror + {g}x{g} tiles (overlap {o}); fire tiles kept only with flame_frac >= {t}",
                g = cfg.tile_grid,
                o = cfg.tile_overlap,
                t = cfg.tile_positive_flame
            ),
            l2: chosen.l2,
            epochs: cfg.epochs,
            learning_rate: cfg.learning_rate,
            seed: cfg.seed,
            cv_folds: cfg.folds,
            cv_precision: chosen.precision,
            cv_recall: chosen.recall,
            cv_f1: chosen.f1,
            tool: format!("kuzet-fire {} train", env!("CARGO_PKG_VERSION")),
            image_sha256: hashes,
        },
    };
    let report = TrainReport {
        images: images.len(),
        fire_images,
        no_fire_images: images.len() - fire_images,
        samples: samples.len(),
        cv,
        chosen,
        extract_seconds,
    };
    Ok((head, report))
}

fn fit(train: &[&Sample], l2: f32, cfg: &TrainConfig) -> (Vec<f32>, f32, Vec<f32>, Vec<f32>) {
    let raw: Vec<Vec<f32>> = train.iter().map(|s| s.x.clone()).collect();
    let (mean, std) = standardiser(&raw);
    let x: Vec<Vec<f32>> = raw
        .into_iter()
        .map(|r| {
            r.iter()
                .zip(&mean)
                .zip(&std)
                .map(|((v, m), s)| (v - m) / s)
                .collect()
        })
        .collect();
    let y: Vec<f32> = train.iter().map(|s| s.y).collect();
    let pos = y.iter().filter(|&&v| v > 0.5).count().max(1) as f32;
    let neg = (y.len() as f32 - pos).max(1.0);
    // Equal total weight per class; tiles count half (noisier labels).
    let sw: Vec<f32> = train
        .iter()
        .map(|s| {
            let c = if s.y > 0.5 { 0.5 / pos } else { 0.5 / neg };
            c * if s.tile { 0.5 } else { 1.0 } * y.len() as f32
        })
        .collect();
    let (w, b) = fit_logistic(&x, &y, &sw, l2, cfg.epochs, cfg.learning_rate);
    (w, b, mean, std)
}

fn predict(w: &[f32], b: f32, mean: &[f32], std: &[f32], x: &[f32]) -> f32 {
    let z = b + w
        .iter()
        .zip(x)
        .zip(mean.iter().zip(std))
        .map(|((w, v), (m, sd))| w * (v - m) / sd)
        .sum::<f32>();
    sigmoid(z)
}

/// Threshold with the best F1 on out-of-fold scores, searched in 0.2..=0.8 so
/// a lucky split cannot push it to an extreme.
fn best_threshold(scores: &[f32], labels: &[bool], l2: f32) -> CvResult {
    let mut best = CvResult {
        l2,
        threshold: 0.5,
        precision: 0.0,
        recall: 0.0,
        f1: -1.0,
    };
    for k in 0..=24 {
        let t = 0.2 + 0.025 * k as f32;
        let mut c = Counts::default();
        for (&s, &l) in scores.iter().zip(labels) {
            c.add(l, s >= t);
        }
        let f1 = c.f1();
        // Prefer thresholds nearer 0.5 on ties.
        if f1 > best.f1 + 1e-6
            || ((f1 - best.f1).abs() <= 1e-6 && (t - 0.5).abs() < (best.threshold - 0.5).abs())
        {
            best = CvResult {
                l2,
                threshold: t,
                precision: c.precision(),
                recall: c.recall(),
                f1,
            };
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shuffle_is_deterministic_permutation() {
        let mut a: Vec<u32> = (0..20).collect();
        let mut b = a.clone();
        shuffle(&mut a, 7);
        shuffle(&mut b, 7);
        assert_eq!(a, b);
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..20).collect::<Vec<_>>());
        assert_ne!(a, (0..20).collect::<Vec<_>>());
    }
}
