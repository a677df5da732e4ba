//! Per-face quality: size, sharpness, pose, liveness, and the gate that
//! decides whether a face may be matched at all.
//!
//! Why a gate: a 20-px, motion-blurred or profile face yields an embedding
//! that is close to *everyone* (low-quality embeddings collapse towards the
//! mean), which is where false alerts come from. Such faces are counted, so
//! operators see the camera is working, but never searched.

use crate::detect::Face;
use crate::error::FacesError;
use crate::imageio::{check_rgb, resize_rgb};
use base::{BBox, Point};
use fast_image_resize::Resizer;
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use std::path::Path;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest keys of the anti-spoofing models and their crop scales.
pub const MINIFASNET_V2: (&str, f32) = ("minifasnet_v2", 2.7);
pub const MINIFASNET_V1SE: (&str, f32) = ("minifasnet_v1se", 4.0);
const SPOOF_SIDE: u32 = 80;

/// What is known about one face's usability.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Quality {
    /// Shorter side of the detector's box, image pixels.
    pub size: f32,
    /// Distance between the eye landmarks, image pixels.
    pub eye_distance: f32,
    /// Detector confidence.
    pub det_score: f32,
    /// Variance of the Laplacian of the aligned 112×112 grey crop. Both blur
    /// and upscaling from a tiny face lower it.
    pub sharpness: f32,
    /// Head turn left/right estimated from landmarks, degrees (0 = frontal;
    /// coarse: ±10° on frontal photos, saturates near ±60°).
    pub yaw: f32,
    /// In-plane tilt of the eye line, degrees.
    pub roll: f32,
    /// Anti-spoofing p(real) (mean of the MiniFASNet softmaxes); `None` when
    /// not computed (anti-spoofing off, or an earlier check already failed).
    pub liveness: Option<f32>,
}

/// Thresholds below which a face is counted but never matched or enrolled.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct QualityGate {
    /// Minimum shorter box side, pixels. The embedder works on 112 px;
    /// below ~32 px the eyes are a few pixels apart and identity is gone.
    pub min_size: f32,
    /// Minimum Laplacian variance of the aligned crop.
    pub min_sharpness: f32,
    /// Maximum |yaw|, degrees: the 5-point alignment assumes a near-frontal
    /// face, and beyond ~45° half the face is hidden.
    pub max_abs_yaw: f32,
    /// Minimum anti-spoofing p(real); 0 disables the check (and the models).
    pub min_liveness: f32,
}

impl Default for QualityGate {
    /// Calibrated on the 60 photos of `$KUZET_DATA/faces` (+ multi/), with
    /// `cargo run --release -p kuzet-faces --example face_stats`:
    /// * every portrait face has size ≥ 55 px and sharpness ≥ 197; the one
    ///   blurred background face seen scores 13, hence 50;
    /// * portrait yaw estimates lie within ±27°; a profile face in the
    ///   background gives 71°, hence 45;
    /// * MiniFASNet p(real) of genuine photos ranges 0.063–1.0 (3 of 55
    ///   below 0.52): on photos of photos, at this resolution, the model is
    ///   not a reliable live/spoof separator, and no spoof samples exist to
    ///   measure rejection. The default only refuses near-certain spoofs
    ///   (p(real) < 0.05); raise it for access-control cameras.
    fn default() -> Self {
        QualityGate {
            min_size: 32.0,
            min_sharpness: 50.0,
            max_abs_yaw: 45.0,
            min_liveness: 0.05,
        }
    }
}

impl QualityGate {
    /// Why `q` fails the gate (empty = passes). Liveness not computed is not
    /// a failure: it is only skipped when an earlier check already failed or
    /// anti-spoofing is off.
    pub fn failures(&self, q: &Quality) -> Vec<String> {
        let mut r = Vec::new();
        if q.size < self.min_size {
            r.push(format!("face {:.0} px < {:.0} px", q.size, self.min_size));
        }
        if q.yaw.abs() > self.max_abs_yaw {
            r.push(format!(
                "yaw {:.0}° > {:.0}°",
                q.yaw.abs(),
                self.max_abs_yaw
            ));
        }
        if q.sharpness < self.min_sharpness {
            r.push(format!(
                "sharpness {:.1} < {:.1}",
                q.sharpness, self.min_sharpness
            ));
        }
        if let Some(l) = q.liveness {
            if l < self.min_liveness {
                r.push(format!("liveness {:.2} < {:.2}", l, self.min_liveness));
            }
        }
        r
    }

    pub fn validate(&self) -> Result<(), FacesError> {
        let ok = self.min_size >= 0.0
            && self.min_sharpness >= 0.0
            && (0.0..=180.0).contains(&self.max_abs_yaw)
            && (0.0..=1.0).contains(&self.min_liveness);
        if ok {
            Ok(())
        } else {
            Err(FacesError::Config(format!(
                "quality gate out of range: {self:?} (sizes ≥ 0, max_abs_yaw 0..180, min_liveness 0..1)"
            )))
        }
    }
}

/// (yaw, roll) in degrees from the 5 landmarks.
///
/// Roll is the angle of the eye line. For yaw the points are first rotated
/// by −roll; then the nose's horizontal offset from the midline (mean x of
/// the eyes and mouth corners), divided by half the eye distance, is
/// ≈ tan(yaw), because the nose tip stands about half an eye distance in
/// front of the eye plane. Coarse, but monotonic and free.
pub fn pose_from_landmarks(lm: &[Point; 5]) -> (f32, f32) {
    let (le, re) = (lm[0], lm[1]);
    let roll = (re.y - le.y).atan2(re.x - le.x);
    let (c, s) = (roll.cos(), roll.sin());
    let rot = |p: Point| p.x * c + p.y * s; // x after rotating by -roll
    let eye_half = ((rot(re) - rot(le)) / 2.0).abs().max(1e-3);
    let mid = (rot(lm[0]) + rot(lm[1]) + rot(lm[3]) + rot(lm[4])) / 4.0;
    let yaw = ((rot(lm[2]) - mid) / eye_half).atan();
    (yaw.to_degrees(), roll.to_degrees())
}

/// Variance of the 4-neighbour Laplacian (`cv2.Laplacian`, ksize 1) of the
/// grey version of a packed RGB8 image, borders excluded.
pub fn laplacian_variance(rgb: &[u8], w: u32, h: u32) -> f32 {
    let (w, h) = (w as usize, h as usize);
    if w < 3 || h < 3 || rgb.len() != w * h * 3 {
        return 0.0;
    }
    let g: Vec<f32> = rgb
        .chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect();
    let (mut sum, mut sum2, mut n) = (0f64, 0f64, 0f64);
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let l = (g[i - 1] + g[i + 1] + g[i - w] + g[i + w] - 4.0 * g[i]) as f64;
            sum += l;
            sum2 += l * l;
            n += 1.0;
        }
    }
    let mean = sum / n;
    (sum2 / n - mean * mean).max(0.0) as f32
}

/// The MiniFASNet crop (Silent-Face `_get_new_box`): the box scaled by
/// `scale` about its centre, the scale capped so it fits the image, then
/// shifted inside it. Returns (x, y, w, h) in pixels.
pub fn spoof_crop(b: &BBox, img_w: u32, img_h: u32, scale: f32) -> (f32, f32, f32, f32) {
    let (sw, sh) = (img_w as f32, img_h as f32);
    let (bw, bh) = (b.width().max(1.0), b.height().max(1.0));
    let scale = scale.min((sh - 1.0) / bh).min((sw - 1.0) / bw).max(0.0);
    let (nw, nh) = (bw * scale, bh * scale);
    let (cx, cy) = (b.x1 + bw / 2.0, b.y1 + bh / 2.0);
    let (mut x1, mut y1, mut x2, mut y2) =
        (cx - nw / 2.0, cy - nh / 2.0, cx + nw / 2.0, cy + nh / 2.0);
    if x1 < 0.0 {
        x2 -= x1;
        x1 = 0.0;
    }
    if y1 < 0.0 {
        y2 -= y1;
        y1 = 0.0;
    }
    if x2 > sw - 1.0 {
        x1 -= x2 - sw + 1.0;
        x2 = sw - 1.0;
    }
    if y2 > sh - 1.0 {
        y1 -= y2 - sh + 1.0;
        y2 = sh - 1.0;
    }
    let (x1, y1, x2, y2) = (
        x1.floor().max(0.0),
        y1.floor().max(0.0),
        x2.floor(),
        y2.floor(),
    );
    // Upstream crops [y1, y2] inclusive.
    (
        x1,
        y1,
        (x2 - x1 + 1.0).min(sw - x1).max(1.0),
        (y2 - y1 + 1.0).min(sh - y1).max(1.0),
    )
}

/// MiniFASNet V2 (and optionally V1SE) anti-spoofing.
pub struct AntiSpoof {
    models: Vec<(ModelSession, f32)>,
    resizer: Resizer,
    input: Vec<f32>,
}

impl std::fmt::Debug for AntiSpoof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AntiSpoof")
            .field("models", &self.models.len())
            .finish()
    }
}

impl AntiSpoof {
    /// Loads V2, and V1SE too when `with_v1se` (upstream averages both; it
    /// costs one more ~5–10 ms inference per face).
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        session: &SessionConfig,
        with_v1se: bool,
    ) -> Result<Self, FacesError> {
        let mut keys = vec![MINIFASNET_V2];
        if with_v1se {
            keys.push(MINIFASNET_V1SE);
        }
        let models = keys
            .into_iter()
            .map(|(k, s)| Ok((load_session(manifest, k, models_dir, session)?, s)))
            .collect::<Result<Vec<_>, FacesError>>()?;
        Ok(AntiSpoof {
            models,
            resizer: Resizer::new(),
            input: vec![0.0; 3 * (SPOOF_SIDE * SPOOF_SIDE) as usize],
        })
    }

    /// p(real) of `face` in a packed RGB8 image: mean over the models of the
    /// softmax's class 1 (MANIFEST: index 1 = real).
    pub fn p_real(&mut self, rgb: &[u8], w: u32, h: u32, face: &Face) -> Result<f32, FacesError> {
        check_rgb(rgb, w, h)?;
        let plane = (SPOOF_SIDE * SPOOF_SIDE) as usize;
        let mut total = 0.0;
        for (session, scale) in &mut self.models {
            let (x, y, cw, ch) = spoof_crop(&face.bbox, w, h, *scale);
            let crop = resize_rgb(
                &mut self.resizer,
                rgb,
                w,
                h,
                Some((x as f64, y as f64, cw as f64, ch as f64)),
                SPOOF_SIDE,
                SPOOF_SIDE,
            )?;
            // BGR, raw 0-255, planar.
            for (i, px) in crop.chunks_exact(3).enumerate() {
                self.input[i] = f32::from(px[2]);
                self.input[plane + i] = f32::from(px[1]);
                self.input[2 * plane + i] = f32::from(px[0]);
            }
            let s = SPOOF_SIDE as usize;
            let tensor = TensorRef::from_array_view(([1usize, 3, s, s], &self.input[..]))?;
            let out = session.session.run(ort::inputs![tensor])?;
            let (_, v) = out[0].try_extract_tensor::<f32>()?;
            if v.len() != 3 {
                return Err(FacesError::ModelOutput {
                    key: session.key.clone(),
                    reason: format!("{} logits, expected 3", v.len()),
                });
            }
            let m = v.iter().copied().fold(f32::MIN, f32::max);
            let e: Vec<f32> = v.iter().map(|x| (x - m).exp()).collect();
            total += e[1] / e.iter().sum::<f32>();
        }
        Ok(total / self.models.len() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frontal() -> [Point; 5] {
        crate::align::ARCFACE_TEMPLATE
    }

    #[test]
    fn pose_of_template_is_frontal_and_roll_follows_rotation() {
        let (yaw, roll) = pose_from_landmarks(&frontal());
        assert!(yaw.abs() < 3.0 && roll.abs() < 1.0, "{yaw} {roll}");
        let th = 20f32.to_radians();
        let rot = frontal().map(|p| {
            Point::new(
                p.x * th.cos() - p.y * th.sin(),
                p.x * th.sin() + p.y * th.cos(),
            )
        });
        let (yaw2, roll2) = pose_from_landmarks(&rot);
        assert!(
            (roll2 - 20.0).abs() < 1.0 && (yaw2 - yaw).abs() < 1.0,
            "{yaw2} {roll2}"
        );
        // Nose pushed towards the image's right: a turned head.
        let mut turned = frontal();
        turned[2].x += 20.0;
        assert!(pose_from_landmarks(&turned).0 > 30.0);
    }

    #[test]
    fn sharpness_orders_flat_and_textured() {
        let flat = vec![128u8; 16 * 16 * 3];
        let checker: Vec<u8> = (0..16 * 16)
            .flat_map(|i| {
                let v = if (i % 16 + i / 16) % 2 == 0 { 0 } else { 255 };
                [v, v, v]
            })
            .collect();
        assert_eq!(laplacian_variance(&flat, 16, 16), 0.0);
        assert!(laplacian_variance(&checker, 16, 16) > 1000.0);
        assert_eq!(laplacian_variance(&flat, 2, 2), 0.0);
    }

    #[test]
    fn spoof_crop_stays_inside() {
        let (x, y, w, h) = spoof_crop(&BBox::new(0.0, 0.0, 50.0, 60.0), 100, 100, 2.7);
        assert!(
            x >= 0.0 && y >= 0.0 && x + w <= 100.0 && y + h <= 100.0,
            "{x} {y} {w} {h}"
        );
        let (x, y, w, h) = spoof_crop(&BBox::new(40.0, 40.0, 50.0, 50.0), 1000, 1000, 2.7);
        assert!((w - 28.0).abs() <= 1.0 && (h - 28.0).abs() <= 1.0 && x > 30.0 && y > 30.0);
    }

    #[test]
    fn gate_names_each_failure() {
        let q = Quality {
            size: 20.0,
            eye_distance: 8.0,
            det_score: 0.9,
            sharpness: 1.0,
            yaw: -70.0,
            roll: 0.0,
            liveness: Some(0.01),
        };
        let f = QualityGate::default().failures(&q);
        assert_eq!(f.len(), 4, "{f:?}");
        assert!(f[0].contains("20 px"));
    }
}
