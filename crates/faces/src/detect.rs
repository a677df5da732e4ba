//! Face detection with YuNet-n (dynamic input size), 5 landmarks per face.
//!
//! Pre/post-processing follows MANIFEST.md: BGR, raw 0–255, H and W padded
//! (bottom/right, with 0) to multiples of 32, never stretched; per stride s in
//! 8/16/32, score = sqrt(clip(cls)·clip(obj)), cx = (col+b0)·s, cy = (row+b1)·s,
//! w = exp(b2)·s, h = exp(b3)·s, landmark i = ((col+k2i)·s, (row+k2i+1)·s);
//! then NMS at IoU 0.3.
//!
//! Scales: one pass with the long side capped at `max_side` (640: ~40 ms on
//! the 2-core machine) finds faces down to ~10 px *after* downscaling. A
//! 4000-px photo or a wide CCTV frame shrinks faces 6×, so when the image is
//! more than 1.5× larger than `max_side` a second, finer pass runs with the
//! long side capped at `fine_max_side`; a small image (long side under half of
//! `max_side`) gets a 2× upsampled pass instead, because YuNet's smallest
//! anchors miss faces under ~10 px. Passes are merged by NMS. Two scales
//! rather than tiles: one extra inference, no seams to stitch, and the merge
//! is the NMS we run anyway. A caller that drops small faces anyway (the
//! pipeline's quality gate) uses [`FaceDetector::detect_min_face`], which
//! skips the finer pass when it could only add faces below that size.

use crate::error::FacesError;
use crate::imageio::{check_rgb, fill_planes, resize_rgb, Planes};
use base::{BBox, Point};
use fast_image_resize::Resizer;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest key of the detector.
pub const YUNET: &str = "yunet_n";
const STRIDES: [usize; 3] = [8, 16, 32];
/// Face size (network px) the first pass finds reliably: well above YuNet's
/// ~10 px floor, so skipping the finer pass never loses a face of that size.
pub const RELIABLE_NET_FACE: f32 = 16.0;

/// One detected face in image pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Face {
    pub bbox: BBox,
    pub score: f32,
    /// Eye, eye, nose, mouth corner, mouth corner; the first of each pair is
    /// the one on the image's left (the ArcFace template's order).
    pub landmarks: [Point; 5],
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceDetectorConfig {
    /// MANIFEST: 0.6–0.7. 0.6 keeps small, blurry CCTV faces; the quality
    /// gate, not the detector, decides what may be matched.
    pub score_threshold: f32,
    /// MANIFEST: 0.3.
    pub nms_iou: f32,
    /// Long side of the first pass (multiple of 32 not required).
    pub max_side: u32,
    /// Long side of the finer pass on large images; 0 disables it.
    pub fine_max_side: u32,
    pub session: SessionConfig,
}

impl Default for FaceDetectorConfig {
    fn default() -> Self {
        FaceDetectorConfig {
            score_threshold: 0.6,
            nms_iou: 0.3,
            max_side: 640,
            fine_max_side: 1280,
            session: SessionConfig::default(),
        }
    }
}

pub struct FaceDetector {
    session: ModelSession,
    cfg: FaceDetectorConfig,
    resizer: Resizer,
    input: Vec<f32>,
    /// Time spent in the last `detect` call, for throughput reports.
    pub last_ms: f64,
}

impl std::fmt::Debug for FaceDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceDetector")
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl FaceDetector {
    /// Verifies `yunet_n` against the manifest (size, sha256, tensors) and
    /// creates its session.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: FaceDetectorConfig,
    ) -> Result<Self, FacesError> {
        if !(0.0..=1.0).contains(&cfg.score_threshold) || !(0.0..=1.0).contains(&cfg.nms_iou) {
            return Err(FacesError::Config(format!(
                "face detector score_threshold and nms_iou must be within 0..1 (got {}, {})",
                cfg.score_threshold, cfg.nms_iou
            )));
        }
        if !(64..=4096).contains(&cfg.max_side)
            || (cfg.fine_max_side != 0 && !(64..=8192).contains(&cfg.fine_max_side))
        {
            return Err(FacesError::Config(format!(
                "face detector max_side must be within 64..=4096 and fine_max_side 0 or 64..=8192 (got {}, {})",
                cfg.max_side, cfg.fine_max_side
            )));
        }
        let session = load_session(manifest, YUNET, models_dir, &cfg.session)?;
        Ok(FaceDetector {
            session,
            cfg,
            resizer: Resizer::new(),
            input: Vec::new(),
            last_ms: 0.0,
        })
    }

    pub fn config(&self) -> &FaceDetectorConfig {
        &self.cfg
    }

    /// The scales (network px per image px) run on a `w`×`h` image.
    pub fn scales(&self, w: u32, h: u32) -> Vec<f32> {
        pick_scales(&self.cfg, w, h, 0.0)
    }

    /// Faces in a packed RGB8 image, highest score first.
    pub fn detect(&mut self, rgb: &[u8], w: u32, h: u32) -> Result<Vec<Face>, FacesError> {
        self.detect_min_face(rgb, w, h, 0.0)
    }

    /// [`FaceDetector::scales`] for a caller that only uses faces whose
    /// shorter side is at least `min_face` image px (the quality gate's
    /// `min_size`): the finer pass on a large image exists for faces the first
    /// pass shrinks below YuNet's reach (~10 px). When even a `min_face` face
    /// is at least [`RELIABLE_NET_FACE`] px in the first pass, the finer pass
    /// can only add faces the caller rejects, so it is skipped.
    pub fn scales_for(&self, w: u32, h: u32, min_face: f32) -> Vec<f32> {
        pick_scales(&self.cfg, w, h, min_face)
    }

    /// [`FaceDetector::detect`] with [`FaceDetector::scales_for`]: faces
    /// smaller than `min_face` may be missing (0 = none may be).
    pub fn detect_min_face(
        &mut self,
        rgb: &[u8],
        w: u32,
        h: u32,
        min_face: f32,
    ) -> Result<Vec<Face>, FacesError> {
        check_rgb(rgb, w, h)?;
        let t0 = Instant::now();
        let mut all = Vec::new();
        for s in self.scales_for(w, h, min_face) {
            all.extend(self.detect_at(rgb, w, h, s)?);
        }
        let faces = nms(all, self.cfg.nms_iou);
        self.last_ms = t0.elapsed().as_secs_f64() * 1e3;
        Ok(faces)
    }

    /// One pass at scale `s`.
    fn detect_at(&mut self, rgb: &[u8], w: u32, h: u32, s: f32) -> Result<Vec<Face>, FacesError> {
        let nw = ((w as f32 * s).round() as u32).max(1);
        let nh = ((h as f32 * s).round() as u32).max(1);
        let resized;
        let px: &[u8] = if nw == w && nh == h {
            rgb
        } else {
            resized = resize_rgb(&mut self.resizer, rgb, w, h, None, nw, nh)?;
            &resized
        };
        let (pw, ph) = (nw.div_ceil(32) as usize * 32, nh.div_ceil(32) as usize * 32);
        let plane = pw * ph;
        self.input.clear();
        self.input.resize(3 * plane, 0.0);
        let size = (nw as usize, nh as usize);
        fill_planes(px, size, pw, Planes::Bgr, &mut self.input, f32::from);
        let tensor = TensorRef::from_array_view(([1usize, 3, ph, pw], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let thr = self.cfg.score_threshold;
        // Scale factors back to image pixels (independent for x and y because
        // of rounding).
        let (sx, sy) = (w as f32 / nw as f32, h as f32 / nh as f32);
        let mut faces = Vec::new();
        for stride in STRIDES {
            let get = |name: &str, width: usize| -> Result<&[f32], FacesError> {
                let (shape, v) = outputs[name].try_extract_tensor::<f32>()?;
                let n = (pw / stride) * (ph / stride);
                if v.len() != n * width {
                    return Err(FacesError::ModelOutput {
                        key: YUNET.into(),
                        reason: format!(
                            "{name} of shape {shape:?} for a {pw}x{ph} input (expected [1, {n}, {width}])"
                        ),
                    });
                }
                Ok(v)
            };
            let cls = get(&format!("cls_{stride}"), 1)?;
            let obj = get(&format!("obj_{stride}"), 1)?;
            let bbox = get(&format!("bbox_{stride}"), 4)?;
            let kps = get(&format!("kps_{stride}"), 10)?;
            let cols = pw / stride;
            let st = stride as f32;
            for i in 0..cls.len() {
                let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
                if score < thr {
                    continue;
                }
                let (row, col) = ((i / cols) as f32, (i % cols) as f32);
                let b = &bbox[i * 4..i * 4 + 4];
                let cx = (col + b[0]) * st;
                let cy = (row + b[1]) * st;
                if cx >= nw as f32 || cy >= nh as f32 {
                    continue; // centred in the padding
                }
                let bw = b[2].exp() * st;
                let bh = b[3].exp() * st;
                let bb =
                    BBox::from_cxcywh(cx * sx, cy * sy, bw * sx, bh * sy).clamp(w as f32, h as f32);
                if !bb.is_finite() || bb.area() <= 0.0 {
                    continue;
                }
                let k = &kps[i * 10..i * 10 + 10];
                let lm = std::array::from_fn(|j| {
                    Point::new((col + k[2 * j]) * st * sx, (row + k[2 * j + 1]) * st * sy)
                });
                faces.push(Face {
                    bbox: bb,
                    score,
                    landmarks: lm,
                });
            }
        }
        Ok(faces)
    }
}

/// [`FaceDetector::scales_for`] of a config.
fn pick_scales(cfg: &FaceDetectorConfig, w: u32, h: u32, min_face: f32) -> Vec<f32> {
    let long = w.max(h) as f32;
    let m = cfg.max_side as f32;
    let first = (m / long).min(1.0);
    let mut s = vec![first];
    if long > 1.5 * m && cfg.fine_max_side > cfg.max_side {
        if min_face * first < RELIABLE_NET_FACE {
            s.push((cfg.fine_max_side as f32 / long).min(1.0));
        }
    } else if long < 0.5 * m {
        s.push(2.0);
    }
    s
}

/// Greedy NMS, highest score first.
pub fn nms(faces: Vec<Face>, iou: f32) -> Vec<Face> {
    // An intersection never exceeds the smaller area: containment off.
    nms_contained(faces, iou, 1.0)
}

/// [`nms`] that also drops a box with more than `contained` of its area
/// inside a better one (a face cut at a tile seam overlaps the whole face
/// little by IoU).
pub fn nms_contained(mut faces: Vec<Face>, iou: f32, contained: f32) -> Vec<Face> {
    faces.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<Face> = Vec::with_capacity(faces.len());
    for f in faces {
        let a = f.bbox.area();
        if keep.iter().all(|k| {
            k.bbox.iou(&f.bbox) <= iou
                && k.bbox.intersection(&f.bbox) <= contained * a.min(k.bbox.area())
        }) {
            keep.push(f);
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finer_pass_skipped_only_when_it_cannot_add_a_usable_face() {
        let cfg = FaceDetectorConfig::default();
        // Plain rule: 1200 px gets a second pass, 600 none, 300 the 2x pass.
        assert_eq!(pick_scales(&cfg, 1200, 800, 0.0).len(), 2);
        assert_eq!(pick_scales(&cfg, 600, 400, 0.0).len(), 1);
        assert_eq!(pick_scales(&cfg, 300, 200, 32.0), vec![1.0, 2.0]);
        // 1200 px: a 32 px face is 17 px in the first pass -> skipped.
        assert_eq!(pick_scales(&cfg, 1200, 800, 32.0).len(), 1);
        // 1600 px: a 32 px face is 12.8 px, under the reliable size -> kept.
        assert_eq!(pick_scales(&cfg, 1600, 900, 32.0).len(), 2);
        // 4000 px: always kept.
        assert_eq!(pick_scales(&cfg, 4000, 3000, 32.0).len(), 2);
    }
}
