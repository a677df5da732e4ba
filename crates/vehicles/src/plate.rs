//! RetinaFace-MobileNet0.25 plate detector with four corner points
//! (`plate/retina_plate_mnet025_4pt.onnx`), decoded as MANIFEST.md says:
//! letterbox to 640 top-left, BGR − (104,117,123), SSD priors at strides
//! 8/16/32, variances 0.1/0.2, corners in the order BR, BL, TL, TR.
//!
//! The file ships with a fixed 640×640 input, but its graph is fully
//! convolutional up to heads that flatten to `[-1, 4]`: after the hash check
//! its height, width and prior count are made symbolic in memory, so a
//! region can be letterboxed to 640 on its longer side and padded only to the
//! next multiple of 32 on the other (a 4:3 vehicle crop runs at 640×480, a
//! quarter less work, at the same scale). The priors are laid out per input
//! size as the model's own PriorBox does (rows, then columns, then sizes).

use crate::error::VehiclesError;
use base::{BBox, Point};
use fast_image_resize::{
    images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use image::RgbImage;
use ort::value::TensorRef;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use vision::onnx_patch::{make_dims_dynamic, DimEdit};
use vision::{
    session_from_bytes, verified_model_bytes, DynamicDims, ModelManifest, ModelSession,
    SessionConfig,
};

/// Manifest key.
pub const RETINA_PLATE: &str = "retina_plate";
const SIZE: usize = 640;
/// Input sides must be multiples of the coarsest stride.
const ALIGN: usize = 32;
const MEAN_BGR: [f32; 3] = [104.0, 117.0, 123.0];
const STEPS: [(usize, [f32; 2]); 3] =
    [(8, [24.0, 48.0]), (16, [96.0, 192.0]), (32, [384.0, 768.0])];

/// One plate found, in full-image pixels.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct PlateDetection {
    pub bbox: BBox,
    /// Plate corners in reading order: top-left, top-right, bottom-right,
    /// bottom-left (the model's own order BR, BL, TL, TR is converted).
    pub corners: [Point; 4],
    pub score: f32,
}

/// The plate detector session and its priors.
pub struct PlateDetector {
    session: ModelSession,
    /// Priors in input pixels per input (height, width).
    priors: HashMap<(usize, usize), Arc<Vec<[f32; 4]>>>,
    resizer: Resizer,
    resized: Vec<u8>,
    input: Vec<f32>,
    /// Keep detections scoring at least this (MANIFEST: 0.8).
    pub score_threshold: f32,
    /// NMS IoU (MANIFEST: 0.4).
    pub nms_iou: f32,
    /// Pad the letterboxed region only to a multiple of 32 instead of to
    /// 640×640 (the file as shipped): same scale, less padding to convolve.
    pub fit_canvas: bool,
    /// Largest factor a region is scaled up by on its way to 640. A small
    /// vehicle crop blown up 4× shows its plate no sharper than at 2×, costs
    /// 4× the pixels, and gave the model more junk to fire on
    /// (docs/performance.md).
    pub max_upscale: f32,
}

impl std::fmt::Debug for PlateDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PlateDetector")
            .field("score_threshold", &self.score_threshold)
            .finish()
    }
}

/// SSD priors (cx, cy, w, h) in input pixels for an input of `h`×`w`, in
/// the model's output order: per stride, rows, then columns, then sizes.
fn priors(h: usize, w: usize) -> Vec<[f32; 4]> {
    let mut v = Vec::new();
    for (step, sizes) in STEPS {
        for i in 0..h.div_ceil(step) {
            for j in 0..w.div_ceil(step) {
                for m in sizes {
                    v.push([
                        (j as f32 + 0.5) * step as f32,
                        (i as f32 + 0.5) * step as f32,
                        m,
                        m,
                    ]);
                }
            }
        }
    }
    v
}

/// Greedy NMS over plates, highest score first.
pub fn nms(mut dets: Vec<PlateDetection>, iou: f32) -> Vec<PlateDetection> {
    dets.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut keep: Vec<PlateDetection> = Vec::new();
    for d in dets {
        if keep.iter().all(|k| k.bbox.iou(&d.bbox) <= iou) {
            keep.push(d);
        }
    }
    keep
}

impl PlateDetector {
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: &SessionConfig,
    ) -> Result<Self, VehiclesError> {
        let entry = manifest.get(RETINA_PLATE)?;
        let bytes = verified_model_bytes(RETINA_PLATE, entry, models_dir)?;
        let spec = entry.input.as_ref().ok_or_else(|| VehiclesError::Model {
            key: RETINA_PLATE.into(),
            reason: "the manifest gives no input".into(),
        })?;
        let hw = [
            DimEdit {
                index: 2,
                param: "height",
                if_value: None,
            },
            DimEdit {
                index: 3,
                param: "width",
                if_value: None,
            },
        ];
        let count = [DimEdit {
            index: 0,
            param: "priors",
            if_value: None,
        }];
        let outs: Vec<(&str, &[DimEdit])> = entry
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), &count[..]))
            .collect();
        let (patched, _) = make_dims_dynamic(&bytes, &[(spec.name.as_str(), &hw[..])], &outs)
            .map_err(|e| VehiclesError::Model {
                key: RETINA_PLATE.into(),
                reason: format!("cannot make its input size symbolic: {e}"),
            })?;
        let dynamic = DynamicDims {
            input: vec![2, 3],
            outputs: vec![0],
        };
        let session = session_from_bytes(RETINA_PLATE, entry, &patched, cfg, &dynamic)?;
        Ok(PlateDetector {
            session,
            priors: HashMap::new(),
            resizer: Resizer::new(),
            resized: Vec::new(),
            input: Vec::new(),
            score_threshold: 0.8,
            nms_iou: 0.4,
            fit_canvas: true,
            max_upscale: 2.0,
        })
    }

    /// The factor a `w`×`h` region is scaled by: its longer side to 640,
    /// but up by at most `max_upscale`.
    pub fn scale_for(&self, w: f32, h: f32) -> f32 {
        (SIZE as f32 / w)
            .min(SIZE as f32 / h)
            .min(self.max_upscale.max(f32::MIN_POSITIVE))
    }

    /// Detects plates in `roi` of `img` (whole image when `None`); results
    /// are in full-image pixels. The region is letterboxed to 640 (scaled up
    /// when smaller, by at most `max_upscale`: a vehicle crop then shows its
    /// plate at a size the model was trained on).
    pub fn detect(
        &mut self,
        img: &RgbImage,
        roi: Option<BBox>,
    ) -> Result<Vec<PlateDetection>, VehiclesError> {
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let roi = roi.unwrap_or(BBox::new(0.0, 0.0, iw, ih)).clamp(iw, ih);
        let (rx, ry) = (roi.x1.floor(), roi.y1.floor());
        let (rw, rh) = ((roi.x2.ceil() - rx).max(0.0), (roi.y2.ceil() - ry).max(0.0));
        if rw < 8.0 || rh < 8.0 {
            return Ok(Vec::new());
        }
        let r = self.scale_for(rw, rh);
        let nw = ((rw * r).round() as u32).clamp(1, SIZE as u32);
        let nh = ((rh * r).round() as u32).clamp(1, SIZE as u32);
        self.resized.resize(nw as usize * nh as usize * 3, 0);
        let src = ImageRef::new(img.width(), img.height(), img.as_raw(), PixelType::U8x3)
            .map_err(|e| VehiclesError::InvalidInput(e.to_string()))?;
        let mut dst = Image::from_slice_u8(nw, nh, &mut self.resized, PixelType::U8x3)
            .map_err(|e| VehiclesError::InvalidInput(e.to_string()))?;
        let opts = ResizeOptions::new()
            .resize_alg(ResizeAlg::Convolution(FilterType::Bilinear))
            .crop(f64::from(rx), f64::from(ry), f64::from(rw), f64::from(rh));
        self.resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| VehiclesError::InvalidInput(format!("resize: {e}")))?;
        let (ih, iw) = if self.fit_canvas {
            (
                (nh as usize).next_multiple_of(ALIGN),
                (nw as usize).next_multiple_of(ALIGN),
            )
        } else {
            (SIZE, SIZE)
        };
        // Pad with the mean, i.e. 0 after subtraction.
        let plane = ih * iw;
        self.input.clear();
        self.input.resize(3 * plane, 0.0);
        let nw = nw as usize;
        for (y, row) in self.resized.chunks_exact(nw * 3).enumerate() {
            for (x, px) in row.chunks_exact(3).enumerate() {
                let o = y * iw + x;
                self.input[o] = f32::from(px[2]) - MEAN_BGR[0];
                self.input[plane + o] = f32::from(px[1]) - MEAN_BGR[1];
                self.input[2 * plane + o] = f32::from(px[0]) - MEAN_BGR[2];
            }
        }
        let priors = self
            .priors
            .entry((ih, iw))
            .or_insert_with(|| Arc::new(priors(ih, iw)))
            .clone();
        let tensor = TensorRef::from_array_view(([1, 3, ih, iw], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let (_, loc) = outputs[0].try_extract_tensor::<f32>()?;
        let (_, conf) = outputs[1].try_extract_tensor::<f32>()?;
        let (_, landms) = outputs[2].try_extract_tensor::<f32>()?;
        let n = priors.len();
        if loc.len() != n * 4 || conf.len() != n * 2 || landms.len() != n * 8 {
            return Err(VehiclesError::Model {
                key: RETINA_PLATE.into(),
                reason: format!(
                    "outputs have {}/{}/{} values, expected {} priors",
                    loc.len(),
                    conf.len(),
                    landms.len(),
                    n
                ),
            });
        }
        // Input pixels to image pixels.
        let scale = 1.0 / r;
        let mut dets = Vec::new();
        for (k, p) in priors.iter().enumerate() {
            let score = conf[k * 2 + 1];
            if score.is_nan() || score < self.score_threshold {
                continue;
            }
            let l = &loc[k * 4..k * 4 + 4];
            let cx = p[0] + l[0] * 0.1 * p[2];
            let cy = p[1] + l[1] * 0.1 * p[3];
            let w = p[2] * (l[2] * 0.2).exp();
            let h = p[3] * (l[3] * 0.2).exp();
            let to_img = |x: f32, y: f32| Point::new(x * scale + rx, y * scale + ry);
            let b1 = to_img(cx - w / 2.0, cy - h / 2.0);
            let b2 = to_img(cx + w / 2.0, cy + h / 2.0);
            let lm = &landms[k * 8..k * 8 + 8];
            let pt = |i: usize| {
                to_img(
                    p[0] + lm[2 * i] * 0.1 * p[2],
                    p[1] + lm[2 * i + 1] * 0.1 * p[3],
                )
            };
            // model order BR, BL, TL, TR -> TL, TR, BR, BL
            let corners = [pt(2), pt(3), pt(0), pt(1)];
            let bbox = BBox::new(b1.x, b1.y, b2.x, b2.y);
            // The padding is not the image: on a whole frame letterboxed to
            // 640×640 a quarter of the canvas is mean-grey, and the model
            // finds "plates" on its edge (191 of 1,619 candidates on a tenth
            // of the labelled photos; dropping them changes no exact read of
            // the 217).
            let (cx, cy) = ((b1.x + b2.x) / 2.0, (b1.y + b2.y) / 2.0);
            if cx < rx || cy < ry || cx > rx + rw || cy > ry + rh {
                continue;
            }
            if !bbox.is_finite() || corners.iter().any(|c| !c.x.is_finite() || !c.y.is_finite()) {
                continue;
            }
            dets.push(PlateDetection {
                bbox,
                corners,
                score,
            });
        }
        Ok(nms(dets, self.nms_iou))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prior_count_matches_the_model() {
        let p = priors(640, 640);
        assert_eq!(p.len(), 16800);
        // first prior: stride 8, cell (0,0), size 24
        assert_eq!(p[0], [4.0, 4.0, 24.0, 24.0]);
        // second prior: same cell, size 48
        assert_eq!(p[1][2], 48.0);
        // last prior: stride 32, cell (19,19), size 768
        assert_eq!(p[16799], [624.0, 624.0, 768.0, 768.0]);
    }

    #[test]
    fn priors_of_a_wide_input_run_along_rows() {
        // 480 high, 640 wide: stride 8 has 60 rows of 80 columns.
        let p = priors(480, 640);
        assert_eq!(p.len(), 2 * (60 * 80 + 30 * 40 + 15 * 20));
        // the second column of the first row, not the second row
        assert_eq!(p[2], [12.0, 4.0, 24.0, 24.0]);
        // first prior of the second row
        assert_eq!(p[2 * 80], [4.0, 12.0, 24.0, 24.0]);
    }

    #[test]
    fn nms_keeps_the_best_of_overlaps() {
        let d = |x: f32, s: f32| PlateDetection {
            bbox: BBox::new(x, 0.0, x + 10.0, 5.0),
            corners: [Point::default(); 4],
            score: s,
        };
        let k = nms(vec![d(0.0, 0.8), d(1.0, 0.9), d(50.0, 0.85)], 0.4);
        assert_eq!(k.len(), 2);
        assert_eq!(k[0].score, 0.9);
    }
}
