//! Face detection with SCRFD (InsightFace; `scrfd_2_5g` or `scrfd_500m`),
//! 5 landmarks per face, on the whole image or on overlapping tiles.
//!
//! Why a second face detector: SCRFD was trained for WIDER FACE's hard set
//! (tiny, occluded faces) and finds small heads YuNet misses. On the crowd
//! photos of the development set, 2×2 tiles at the model card's threshold
//! (0.5) matched 109 (500m) and 113 (2.5g) of 142 annotated heads (6 and 7
//! detections matched none, several of them real people left unannotated)
//! against 100 (6) for the YuNet passes the crowd counter used before
//! (`docs/evaluation.md`). Its
//! pretrained weights are "non-commercial research only" per InsightFace,
//! which `models.toml` records; YuNet (Apache-2.0) stays selectable.
//!
//! Pre/post-processing follows MANIFEST.md: fixed 640×640 input, the image
//! letterboxed at the top left (aspect kept, padded with 0), RGB,
//! (x − 127.5)/128; per stride s in 8/16/32 two anchors per cell centred at
//! (col·s, row·s) (no +0.5); scores already sigmoid-ed; box = centre ∓
//! distance·s; landmark = centre + k·s; NMS at IoU 0.4.
//!
//! Tiles: the input is fixed, so a 1024×768 frame shrinks to 0.63× and a
//! 16-px face to 10 px, the model's floor. Tiling (each tile a full input)
//! keeps the scale near 1. Tile results are merged by NMS that also treats
//! a box mostly inside another as a duplicate (a face cut at a tile seam).

use crate::detect::{nms_contained, Face};
use crate::error::FacesError;
use crate::imageio::{check_rgb, fill_planes, resize_rgb, Planes};
use base::{BBox, Point};
use fast_image_resize::Resizer;
use ort::value::TensorRef;
use serde::Deserialize;
use std::path::Path;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest key of the larger (more accurate) SCRFD.
pub const SCRFD_2_5G: &str = "scrfd_2_5g";
/// Manifest key of the smaller SCRFD.
pub const SCRFD_500M: &str = "scrfd_500m";
/// The fixed network input side.
pub const SCRFD_INPUT: u32 = 640;
const STRIDES: [usize; 3] = [8, 16, 32];
const ANCHORS: usize = 2;

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScrfdConfig {
    /// MANIFEST: 0.5.
    pub score_threshold: f32,
    /// MANIFEST: 0.4.
    pub nms_iou: f32,
    /// Tile merge: a box with this fraction of its area inside a better one
    /// is a duplicate.
    pub dup_contained: f32,
    pub session: SessionConfig,
}

impl Default for ScrfdConfig {
    fn default() -> Self {
        ScrfdConfig {
            score_threshold: 0.5,
            nms_iou: 0.4,
            dup_contained: 0.7,
            session: SessionConfig::default(),
        }
    }
}

pub struct Scrfd {
    key: String,
    session: ModelSession,
    cfg: ScrfdConfig,
    resizer: Resizer,
    input: Vec<f32>,
}

impl std::fmt::Debug for Scrfd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Scrfd")
            .field("key", &self.key)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl Scrfd {
    /// Verifies model `key` (`scrfd_2_5g` or `scrfd_500m`) against the
    /// manifest (size, sha256, tensors) and creates its session.
    pub fn new(
        manifest: &ModelManifest,
        key: &str,
        models_dir: &Path,
        cfg: ScrfdConfig,
    ) -> Result<Self, FacesError> {
        if ![SCRFD_2_5G, SCRFD_500M].contains(&key) {
            return Err(FacesError::Config(format!(
                "`{key}` is not an SCRFD model: use `{SCRFD_2_5G}` or `{SCRFD_500M}`"
            )));
        }
        for (k, v) in [
            ("score_threshold", cfg.score_threshold),
            ("nms_iou", cfg.nms_iou),
            ("dup_contained", cfg.dup_contained),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(FacesError::Config(format!(
                    "SCRFD {k} must be within 0..1 (got {v})"
                )));
            }
        }
        let session = load_session(manifest, key, models_dir, &cfg.session)?;
        Ok(Scrfd {
            key: key.to_string(),
            session,
            cfg,
            resizer: Resizer::new(),
            input: Vec::new(),
        })
    }

    pub fn config(&self) -> &ScrfdConfig {
        &self.cfg
    }

    /// Faces in a packed RGB8 image (one letterboxed pass), best first.
    pub fn detect(&mut self, rgb: &[u8], w: u32, h: u32) -> Result<Vec<Face>, FacesError> {
        self.detect_tiles(rgb, w, h, &[BBox::new(0.0, 0.0, w as f32, h as f32)])
    }

    /// Faces found in any of `tiles` (image px; each run as a full network
    /// input), merged, best first.
    pub fn detect_tiles(
        &mut self,
        rgb: &[u8],
        w: u32,
        h: u32,
        tiles: &[BBox],
    ) -> Result<Vec<Face>, FacesError> {
        check_rgb(rgb, w, h)?;
        let mut all = Vec::new();
        for t in tiles {
            let t = t.clamp(w as f32, h as f32);
            let (x1, y1) = (t.x1.floor().max(0.0), t.y1.floor().max(0.0));
            let (tw, th) = (
                (t.x2.ceil() - x1).min(w as f32 - x1),
                (t.y2.ceil() - y1).min(h as f32 - y1),
            );
            if tw < 1.0 || th < 1.0 {
                continue;
            }
            all.extend(self.detect_region(rgb, w, h, (x1, y1, tw, th))?);
        }
        Ok(nms_contained(all, self.cfg.nms_iou, self.cfg.dup_contained))
    }

    /// One pass over the region (x, y, w, h) of the image.
    fn detect_region(
        &mut self,
        rgb: &[u8],
        w: u32,
        h: u32,
        (x0, y0, rw, rh): (f32, f32, f32, f32),
    ) -> Result<Vec<Face>, FacesError> {
        let side = SCRFD_INPUT as f32;
        let r = (side / rw).min(side / rh);
        let nw = ((rw * r).round() as u32).clamp(1, SCRFD_INPUT);
        let nh = ((rh * r).round() as u32).clamp(1, SCRFD_INPUT);
        let crop = (x0 as f64, y0 as f64, rw as f64, rh as f64);
        let px = resize_rgb(&mut self.resizer, rgb, w, h, Some(crop), nw, nh)?;
        let s = SCRFD_INPUT as usize;
        let plane = s * s;
        self.input.clear();
        // Padding is 0 after normalisation (the manifest's "pad with 0" is of
        // the network input, as upstream builds it with np.zeros).
        self.input.resize(3 * plane, 0.0);
        fill_planes(
            &px,
            (nw as usize, nh as usize),
            s,
            Planes::Rgb,
            &mut self.input,
            |v| (f32::from(v) - 127.5) / 128.0,
        );
        let tensor = TensorRef::from_array_view(([1usize, 3, s, s], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        // Network px back to image px (x and y apart because of rounding).
        let (sx, sy) = (rw / nw as f32, rh / nh as f32);
        let thr = self.cfg.score_threshold;
        let mut faces = Vec::new();
        for (level, stride) in STRIDES.into_iter().enumerate() {
            let cells = s / stride;
            let n = cells * cells * ANCHORS;
            let get = |i: usize, width: usize| -> Result<&[f32], FacesError> {
                let name = format!("out{i}");
                let (shape, v) = outputs[name.as_str()].try_extract_tensor::<f32>()?;
                if v.len() != n * width {
                    return Err(FacesError::ModelOutput {
                        key: self.key.clone(),
                        reason: format!("{name} of shape {shape:?} (expected [1, {n}, {width}])"),
                    });
                }
                Ok(v)
            };
            let scores = get(level, 1)?;
            let dist = get(level + 3, 4)?;
            let kps = get(level + 6, 10)?;
            let st = stride as f32;
            for (i, &score) in scores.iter().enumerate() {
                if score < thr {
                    continue;
                }
                let cell = i / ANCHORS;
                let (cx, cy) = ((cell % cells) as f32 * st, (cell / cells) as f32 * st);
                if cx >= nw as f32 || cy >= nh as f32 {
                    continue; // centred in the padding
                }
                let d = &dist[i * 4..i * 4 + 4];
                let bb = BBox::new(
                    x0 + (cx - d[0] * st) * sx,
                    y0 + (cy - d[1] * st) * sy,
                    x0 + (cx + d[2] * st) * sx,
                    y0 + (cy + d[3] * st) * sy,
                )
                .clamp(w as f32, h as f32);
                if !bb.is_finite() || bb.area() <= 0.0 {
                    continue;
                }
                let k = &kps[i * 10..i * 10 + 10];
                let landmarks = std::array::from_fn(|j| {
                    Point::new(
                        x0 + (cx + k[2 * j] * st) * sx,
                        y0 + (cy + k[2 * j + 1] * st) * sy,
                    )
                });
                faces.push(Face {
                    bbox: bb,
                    score,
                    landmarks,
                });
            }
        }
        Ok(faces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Face {
        Face {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            landmarks: [Point::new(0.0, 0.0); 5],
        }
    }

    #[test]
    fn merge_drops_overlaps_and_seam_fragments() {
        let kept = nms_contained(
            vec![
                face(0.0, 0.0, 20.0, 20.0, 0.6),
                // Same face from the neighbouring tile, better score.
                face(1.0, 1.0, 21.0, 21.0, 0.9),
                // The half of it a tile seam cut off: inside, low IoU.
                face(10.0, 0.0, 21.0, 21.0, 0.7),
                // A neighbour's face touching it: kept.
                face(22.0, 0.0, 42.0, 20.0, 0.8),
            ],
            0.4,
            0.7,
        );
        let boxes: Vec<BBox> = kept.iter().map(|f| f.bbox).collect();
        assert_eq!(
            boxes,
            vec![
                BBox::new(1.0, 1.0, 21.0, 21.0),
                BBox::new(22.0, 0.0, 42.0, 20.0)
            ]
        );
    }

    #[test]
    fn unknown_model_key_is_refused_by_name() {
        let e = Scrfd::new(
            &ModelManifest::embedded(),
            "yunet_n",
            Path::new("/nonexistent"),
            ScrfdConfig::default(),
        )
        .unwrap_err();
        assert!(e.to_string().contains("scrfd_2_5g"), "{e}");
    }
}
