//! Per-image scoring: the whole frame plus overlapping tiles, each through
//! the feature extractor and the head; the image score is the best region.
//!
//! Why tiles: the extractor letterboxes its input to 416 px, so in a 1080p
//! frame a fire 20 px across shrinks to ~8 px, below what the stride-8 maps
//! resolve. In a 3×3 tile it keeps ~3× more pixels. Tiling costs one
//! inference per tile (all in one batch), so the grid is configurable per
//! camera: wide tower views want 3×3 or 4×4, a warehouse camera 2×2.

use crate::colour::ColourStats;
use crate::error::FireError;
use crate::head::FireHead;
use crate::imageio::RgbImage;
use base::BBox;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;
use tracing::debug;
use vision::features::{CropRect, FeatureConfig, FeatureExtractor};
use vision::SessionConfig;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ClassifierConfig {
    /// Head weights; `None` = the shipped `crates/fire/weights/fire_head_v1.json`
    /// (compiled in).
    pub weights: Option<PathBuf>,
    /// Tile grids scored besides the whole frame: `[2]` = 2×2, `[2, 3]` =
    /// 2×2 and 3×3. Empty = whole frame only.
    pub tile_grids: Vec<u32>,
    /// Overlap between neighbouring tiles, as a fraction of the tile size, so
    /// a fire on a tile border is whole in at least one tile.
    pub tile_overlap: f32,
    /// Most regions per inference call.
    pub max_batch: usize,
    pub session: SessionConfig,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            weights: None,
            tile_grids: vec![2],
            tile_overlap: 0.25,
            max_batch: 8,
            session: SessionConfig::default(),
        }
    }
}

/// One scored region.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RegionScore {
    /// In frame pixels.
    pub bbox: BBox,
    /// P(fire or smoke) from the head.
    pub prob: f32,
    pub flame_frac: f32,
    pub grey_frac: f32,
    /// `None` for the whole frame, else the tile grid (2 = 2×2).
    pub grid: Option<u32>,
}

/// The result for one frame or still.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FrameScores {
    /// Best probability among regions with flame-coloured pixels.
    pub fire: f32,
    /// Best probability among positive-looking regions without flame colour.
    pub smoke: f32,
    /// `fire`, `smoke` or `no_fire` at the head's thresholds.
    pub class: &'static str,
    /// The region behind the decision (the best region overall when negative).
    pub region: BBox,
    pub regions: Vec<RegionScore>,
    /// Time spent (pre-processing, inference, pooling, head).
    pub elapsed_ms: f32,
}

/// Overlapping `n`×`n` tiles covering the image.
pub fn tile_grid(width: u32, height: u32, n: u32, overlap: f32) -> Vec<CropRect> {
    if n <= 1 {
        return vec![CropRect::full(width, height)];
    }
    let o = overlap.clamp(0.0, 0.9);
    let axis = |len: u32| -> Vec<(u32, u32)> {
        let tile = (len as f32 / (n as f32 - (n as f32 - 1.0) * o))
            .ceil()
            .min(len as f32) as u32;
        let tile = tile.max(1);
        (0..n)
            .map(|i| {
                let start = if n == 1 {
                    0
                } else {
                    ((len - tile) as f32 * i as f32 / (n - 1) as f32).round() as u32
                };
                (start, tile)
            })
            .collect()
    };
    let xs = axis(width);
    let ys = axis(height);
    let mut out = Vec::with_capacity((n * n) as usize);
    for &(y, h) in &ys {
        for &(x, w) in &xs {
            out.push(CropRect { x, y, w, h });
        }
    }
    out
}

/// CNN features followed by colour features, one vector per crop.
pub fn region_features(
    fx: &mut FeatureExtractor,
    img: &RgbImage,
    crops: &[CropRect],
) -> Result<Vec<Vec<f32>>, FireError> {
    let mut v = fx.extract(&img.rgb, img.width, img.height, crops)?;
    for (f, c) in v.iter_mut().zip(crops) {
        f.extend_from_slice(&ColourStats::of(&img.rgb, img.width, *c).to_vec());
    }
    Ok(v)
}

/// Feature extractor + head.
pub struct FireClassifier {
    fx: FeatureExtractor,
    head: FireHead,
    cfg: ClassifierConfig,
}

impl std::fmt::Debug for FireClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FireClassifier")
            .field("fx", &self.fx)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl FireClassifier {
    /// Loads the head, then the extractor at the head's input size, and
    /// refuses a head trained on other features.
    pub fn new(cfg: ClassifierConfig) -> Result<Self, FireError> {
        if cfg.tile_grids.iter().any(|&n| n == 0 || n > 8) {
            return Err(FireError::Config(format!(
                "tile_grids must be within 1..=8 (got {:?})",
                cfg.tile_grids
            )));
        }
        if !(0.0..0.9).contains(&cfg.tile_overlap) {
            return Err(FireError::Config(format!(
                "tile_overlap must be within 0..0.9 (got {})",
                cfg.tile_overlap
            )));
        }
        let (head, origin) = match &cfg.weights {
            Some(p) => (FireHead::load(p)?, p.display().to_string()),
            None => (
                FireHead::shipped()?,
                "shipped fire_head_v1.json".to_string(),
            ),
        };
        vision::init_runtime()?;
        let fx = FeatureExtractor::from_env(FeatureConfig {
            input_size: head.extractor.input_size,
            max_batch: cfg.max_batch.max(1),
            session: cfg.session.clone(),
        })?;
        head.check_extractor(fx.identity(), &origin)?;
        Ok(FireClassifier { fx, head, cfg })
    }

    pub fn head(&self) -> &FireHead {
        &self.head
    }

    pub fn config(&self) -> &ClassifierConfig {
        &self.cfg
    }

    /// The regions scored for a `width`×`height` image: whole, then tiles.
    pub fn regions(&self, width: u32, height: u32) -> Vec<(Option<u32>, CropRect)> {
        let mut r = vec![(None, CropRect::full(width, height))];
        for &n in &self.cfg.tile_grids {
            if n > 1 {
                r.extend(
                    tile_grid(width, height, n, self.cfg.tile_overlap)
                        .into_iter()
                        .map(|c| (Some(n), c)),
                );
            }
        }
        r
    }

    /// Scores a packed RGB8 frame.
    pub fn score_frame(&mut self, frame: &base::Frame) -> Result<FrameScores, FireError> {
        let img = RgbImage {
            width: frame.width,
            height: frame.height,
            rgb: frame.rgb.to_vec(),
        };
        self.score(&img)
    }

    /// Scores a still: every region through the head, then the decision.
    pub fn score(&mut self, img: &RgbImage) -> Result<FrameScores, FireError> {
        if img.width == 0
            || img.height == 0
            || img.rgb.len() != img.width as usize * img.height as usize * 3
        {
            return Err(FireError::Frame(format!(
                "{}x{} image with {} bytes is not packed RGB8",
                img.width,
                img.height,
                img.rgb.len()
            )));
        }
        let t0 = Instant::now();
        let regions = self.regions(img.width, img.height);
        let crops: Vec<CropRect> = regions.iter().map(|(_, c)| *c).collect();
        let feats = region_features(&mut self.fx, img, &crops)?;
        let colour_at = self.head.extractor.dim;
        let scored: Vec<RegionScore> = regions
            .iter()
            .zip(&feats)
            .map(|((grid, c), f)| RegionScore {
                bbox: BBox {
                    x1: c.x as f32,
                    y1: c.y as f32,
                    x2: (c.x + c.w) as f32,
                    y2: (c.y + c.h) as f32,
                },
                prob: self.head.prob(f),
                flame_frac: f[colour_at],
                grey_frac: f[colour_at + 3],
                grid: *grid,
            })
            .collect();
        let out = decide(&self.head, scored, t0.elapsed().as_secs_f32() * 1000.0);
        debug!(
            class = out.class,
            fire = out.fire,
            smoke = out.smoke,
            ms = out.elapsed_ms,
            "fire scores"
        );
        Ok(out)
    }
}

/// Image-level decision from region scores (see [`FrameScores`]).
pub fn decide(head: &FireHead, regions: Vec<RegionScore>, elapsed_ms: f32) -> FrameScores {
    let t = &head.thresholds;
    let best_of = |flame: bool| {
        regions
            .iter()
            .filter(|r| (r.flame_frac >= t.flame_min_frac) == flame)
            .max_by(|a, b| a.prob.total_cmp(&b.prob))
    };
    let fire_r = best_of(true);
    let smoke_r = best_of(false);
    let fire = fire_r.map_or(0.0, |r| r.prob);
    let smoke = smoke_r.map_or(0.0, |r| r.prob);
    let best = regions.iter().max_by(|a, b| a.prob.total_cmp(&b.prob));
    let (class, region) = if fire >= t.fire {
        ("fire", fire_r.map(|r| r.bbox))
    } else if smoke >= t.fire {
        ("smoke", smoke_r.map(|r| r.bbox))
    } else {
        ("no_fire", best.map(|r| r.bbox))
    };
    FrameScores {
        fire,
        smoke,
        class,
        region: region.unwrap_or_default(),
        regions,
        elapsed_ms,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiles_cover_and_overlap() {
        let t = tile_grid(1920, 1080, 3, 0.25);
        assert_eq!(t.len(), 9);
        assert_eq!((t[0].x, t[0].y), (0, 0));
        let last = t[8];
        assert_eq!(last.x + last.w, 1920);
        assert_eq!(last.y + last.h, 1080);
        assert!(t[1].x < t[0].x + t[0].w, "neighbours overlap");
        assert_eq!(tile_grid(10, 10, 1, 0.2).len(), 1);
        assert!(tile_grid(3, 2, 4, 0.5)
            .iter()
            .all(|c| c.w >= 1 && c.x + c.w <= 3));
    }
}
