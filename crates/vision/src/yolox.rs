//! Megvii YOLOX-nano (COCO-80) as a [`Detector`], with several cameras'
//! frames batched into one inference call.
//!
//! Pre-processing follows MANIFEST.md exactly: letterbox with
//! r = min(S/h, S/w), resize, place top-left, pad 114, BGR, raw 0–255, NCHW
//! float. The resize is `fast_image_resize` (SIMD) with OpenCV-like bilinear
//! interpolation (the model was trained and verified with `cv2.INTER_LINEAR`);
//! the RGB→BGR swap, u8→f32 and HWC→CHW transposition are one fused pass.
//!
//! Batching: the shipped file declares batch 1. After its sha256 is checked,
//! the bytes are patched in memory ([`crate::onnx_patch`]) so the batch dim is
//! symbolic; the session's shapes are then checked against the manifest with
//! the batch relaxed. Measured on the 2-core dev machine (ORT 1.31 CPU,
//! `examples/bench_yolox.rs`, interleaved runs): batch 1 ≈ 10.6 ms median /
//! 10.0 ms min per 768×576 frame at 2 intra-op threads, batch 4 ≈ 12.5 ms
//! median / 9.2 ms min per frame, i.e. **no throughput gain on CPU** (the
//! convolutions already keep both cores busy at batch 1). Batching is kept
//! because it costs nothing on CPU, amortises per-call overhead, and is where
//! GPU providers gain; set `max_batch = 1` to get the lowest latency per
//! camera on CPU.

use crate::detector::{
    clamp_roi, load_labels, nms_per_class, DetectRequest, Detector, StageTimings,
};
use crate::error::VisionError;
use crate::manifest::ModelManifest;
use crate::onnx_patch::{make_dims_dynamic, DimEdit};
use crate::runtime::{
    session_from_bytes, verified_model_bytes, DynamicDims, ModelSession, SessionConfig,
};
use base::{BBox, Detection};
use fast_image_resize::{
    images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use ort::value::TensorRef;
use serde::Deserialize;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;
use tracing::{debug, info, warn};

/// Manifest key of the model.
pub const YOLOX_NANO: &str = "yolox_nano";

/// Letterbox padding value (YOLOX's `preproc`).
const PAD: f32 = 114.0;
const STRIDES: [u32; 3] = [8, 16, 32];

/// Labels kept by default: what CCTV analytics act on (people, vehicles,
/// carried/left objects). Other COCO classes are mostly false positives here.
/// Official COCO spellings; `coco80.names` says `motorbike`, and reported
/// labels use the label file's spelling.
pub const DEFAULT_CLASSES: [&str; 9] = [
    "person",
    "bicycle",
    "car",
    "motorcycle",
    "bus",
    "truck",
    "backpack",
    "handbag",
    "suitcase",
];

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct YoloxConfig {
    /// Keep boxes with obj × cls above this (MANIFEST: 0.3).
    pub score_threshold: f32,
    /// Per-class NMS IoU (MANIFEST: 0.45).
    pub nms_iou: f32,
    /// Class names to keep; empty = all 80.
    pub classes: Vec<String>,
    /// Most images per inference call; larger requests are split.
    pub max_batch: usize,
    /// Patch the model so one call runs many images. `false` loops batch 1
    /// (the escape hatch if a future model file cannot be patched).
    pub dynamic_batch: bool,
    /// Square network input side; `None` = the file's own (416). Another
    /// multiple of 32 (e.g. 320: ~40% less compute, fewer small objects)
    /// makes the spatial dims symbolic in memory too.
    pub input_size: Option<u32>,
    pub session: SessionConfig,
}

impl Default for YoloxConfig {
    fn default() -> Self {
        YoloxConfig {
            score_threshold: 0.3,
            nms_iou: 0.45,
            classes: DEFAULT_CLASSES.iter().map(|s| s.to_string()).collect(),
            max_batch: 4,
            dynamic_batch: true,
            input_size: None,
            session: SessionConfig::default(),
        }
    }
}

/// Where one request's pixels landed in the network input.
#[derive(Clone, Copy, Debug)]
struct Placement {
    /// Letterbox scale (input px per frame px).
    r: f32,
    /// ROI origin in the frame and its size.
    x: f32,
    y: f32,
    w: f32,
    h: f32,
}

pub struct Yolox {
    session: ModelSession,
    labels: Vec<Arc<str>>,
    /// Per class index: whether configured to be kept.
    keep: Vec<bool>,
    cfg: YoloxConfig,
    size: u32,
    /// (col, row, stride) of every output row.
    grid: Vec<(f32, f32, f32)>,
    resizer: Resizer,
    resized: Vec<u8>,
    input: Vec<f32>,
    output: Vec<f32>,
    timings: StageTimings,
}

impl std::fmt::Debug for Yolox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Yolox")
            .field("session", &self.session.key)
            .field("provider", &self.session.provider)
            .field("cfg", &self.cfg)
            .finish()
    }
}

impl Yolox {
    /// Loads `yolox_nano` from the embedded manifest and `KUZET_MODELS`.
    pub fn from_env(cfg: YoloxConfig) -> Result<Self, VisionError> {
        Self::new(&ModelManifest::embedded(), &base::env::models_dir(), cfg)
    }

    /// Verifies the model and its label file against `manifest`, patches the
    /// batch dimension (unless disabled) and creates a checked session.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: YoloxConfig,
    ) -> Result<Self, VisionError> {
        Self::with_key(manifest, YOLOX_NANO, models_dir, cfg)
    }

    /// As [`Yolox::new`] for another manifest entry with YOLOX's I/O contract.
    pub fn with_key(
        manifest: &ModelManifest,
        key: &str,
        models_dir: &Path,
        cfg: YoloxConfig,
    ) -> Result<Self, VisionError> {
        if !(0.0..=1.0).contains(&cfg.score_threshold) || !(0.0..=1.0).contains(&cfg.nms_iou) {
            return Err(VisionError::Config(format!(
                "score_threshold and nms_iou must be within 0..1 (got {}, {})",
                cfg.score_threshold, cfg.nms_iou
            )));
        }
        if cfg.max_batch == 0 {
            return Err(VisionError::Config("max_batch must be at least 1".into()));
        }
        let entry = manifest.get(key)?;
        let spec = entry
            .input
            .as_ref()
            .ok_or_else(|| VisionError::NoSpec { key: key.into() })?;
        let native = match spec.shape.as_slice() {
            [_, 3, h, w] if h == w && *h > 0 && *h % 32 == 0 => *h as u32,
            other => {
                return Err(VisionError::ModelShape {
                    key: key.into(),
                    file: entry.file.clone(),
                    reason: format!("YOLOX needs a square NCHW input, the manifest says {other:?}"),
                })
            }
        };
        let size = cfg.input_size.unwrap_or(native);
        if !size.is_multiple_of(32) || !(64..=1280).contains(&size) {
            return Err(VisionError::Config(format!(
                "input_size must be a multiple of 32 within 64..=1280 (got {size})"
            )));
        }
        let labels_key = entry
            .labels
            .as_deref()
            .ok_or_else(|| VisionError::Manifest {
                path: "models.toml".into(),
                reason: format!("model `{key}` names no labels file"),
            })?;
        let labels_entry = manifest.get(labels_key)?;
        verified_model_bytes(labels_key, labels_entry, models_dir)?;
        let labels = load_labels(&labels_entry.path(models_dir))?;

        let keep = if cfg.classes.is_empty() {
            vec![true; labels.len()]
        } else {
            let mut keep = vec![false; labels.len()];
            for c in &cfg.classes {
                let i = find_label(&labels, c).ok_or_else(|| {
                    VisionError::Config(format!(
                        "unknown class `{c}` (not in {})",
                        labels_entry.file
                    ))
                })?;
                keep[i] = true;
            }
            keep
        };

        let bytes = verified_model_bytes(key, entry, models_dir)?;
        // Which dims to make symbolic: batch (for multi-camera batches) and,
        // for a non-native size, height/width and the anchor count.
        let mut in_edits = Vec::new();
        let mut out_edits = Vec::new();
        let mut dynamic = DynamicDims::none();
        if cfg.dynamic_batch {
            in_edits.push(DimEdit {
                index: 0,
                param: "batch",
                if_value: Some(1),
            });
            out_edits.push(DimEdit {
                index: 0,
                param: "batch",
                if_value: Some(1),
            });
            dynamic = DynamicDims::batch();
        }
        if size != native {
            in_edits.push(DimEdit {
                index: 2,
                param: "height",
                if_value: None,
            });
            in_edits.push(DimEdit {
                index: 3,
                param: "width",
                if_value: None,
            });
            out_edits.push(DimEdit {
                index: 1,
                param: "anchors",
                if_value: None,
            });
            dynamic.input.extend([2, 3]);
            dynamic.outputs.push(1);
        }
        let session = if in_edits.is_empty() {
            session_from_bytes(key, entry, &bytes, &cfg.session, &dynamic)?
        } else {
            let outs: Vec<(&str, &[DimEdit])> = entry
                .outputs
                .iter()
                .map(|o| (o.name.as_str(), &out_edits[..]))
                .collect();
            let (patched, report) =
                make_dims_dynamic(&bytes, &[(spec.name.as_str(), &in_edits[..])], &outs).map_err(
                    |e| VisionError::Patch {
                        key: key.into(),
                        reason: format!(
                    "{e}; set dynamic_batch = false and no input_size to run the file as shipped"
                ),
                    },
                )?;
            debug!(model = key, ?report, "dims made dynamic");
            session_from_bytes(key, entry, &patched, &cfg.session, &dynamic)?
        };

        let grid: Vec<(f32, f32, f32)> = STRIDES
            .iter()
            .flat_map(|&s| {
                let g = size / s;
                (0..g)
                    .flat_map(move |row| (0..g).map(move |col| (col as f32, row as f32, s as f32)))
            })
            .collect();
        let native_cells: u32 = STRIDES.iter().map(|s| (native / s) * (native / s)).sum();
        let rows = entry.outputs[0].shape.get(1).copied().unwrap_or(-1);
        let cols = entry.outputs[0].shape.get(2).copied().unwrap_or(-1);
        if rows != i64::from(native_cells) || cols != 5 + labels.len() as i64 {
            return Err(VisionError::ModelShape {
                key: key.into(),
                file: entry.file.clone(),
                reason: format!(
                    "output {:?} does not fit {} grid cells × (5 + {} classes)",
                    entry.outputs[0].shape,
                    native_cells,
                    labels.len()
                ),
            });
        }
        info!(
            model = key,
            provider = %session.provider,
            size,
            dynamic_batch = session.dynamic_batch,
            max_batch = cfg.max_batch,
            "YOLOX ready"
        );
        Ok(Yolox {
            session,
            labels,
            keep,
            cfg,
            size,
            grid,
            resizer: Resizer::new(),
            resized: Vec::new(),
            input: Vec::new(),
            output: Vec::new(),
            timings: StageTimings::default(),
        })
    }

    /// Network input side in pixels (416).
    pub fn input_size(&self) -> u32 {
        self.size
    }

    /// The execution provider in use after any fallback.
    pub fn provider(&self) -> crate::runtime::ExecutionProvider {
        self.session.provider
    }

    pub fn config(&self) -> &YoloxConfig {
        &self.cfg
    }

    /// Letterboxes one request into batch slot `slot` of `self.input`.
    fn preprocess_one(
        &mut self,
        req: &DetectRequest<'_>,
        slot: usize,
    ) -> Result<Option<Placement>, VisionError> {
        let f = req.frame;
        if f.rgb.len() != f.width as usize * f.height as usize * 3 {
            return Err(VisionError::InvalidInput(format!(
                "frame {}x{} has {} bytes, expected packed RGB8",
                f.width,
                f.height,
                f.rgb.len()
            )));
        }
        let s = self.size as usize;
        let plane = s * s;
        let slot_data = &mut self.input[slot * 3 * plane..(slot + 1) * 3 * plane];
        let Some((x, y, w, h)) = clamp_roi(req.roi, f) else {
            slot_data.fill(PAD);
            return Ok(None);
        };
        let r = (self.size as f32 / h as f32).min(self.size as f32 / w as f32);
        let nw = ((w as f32 * r) as u32).clamp(1, self.size);
        let nh = ((h as f32 * r) as u32).clamp(1, self.size);
        self.resized.resize(nw as usize * nh as usize * 3, 0);
        let src = ImageRef::new(f.width, f.height, &f.rgb, PixelType::U8x3)
            .map_err(|e| VisionError::InvalidInput(e.to_string()))?;
        let mut dst = Image::from_slice_u8(nw, nh, &mut self.resized, PixelType::U8x3)
            .map_err(|e| VisionError::InvalidInput(e.to_string()))?;
        let opts = ResizeOptions::new()
            .resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear))
            .crop(x as f64, y as f64, w as f64, h as f64);
        self.resizer
            .resize(&src, &mut dst, &opts)
            .map_err(|e| VisionError::InvalidInput(format!("resize: {e}")))?;
        letterbox_bgr_chw(&self.resized, nw as usize, nh as usize, s, slot_data);
        Ok(Some(Placement {
            r,
            x: x as f32,
            y: y as f32,
            w: w as f32,
            h: h as f32,
        }))
    }

    /// Runs one chunk of at most `max_batch` requests.
    fn run_chunk(
        &mut self,
        reqs: &[DetectRequest<'_>],
        out: &mut Vec<Vec<Detection>>,
    ) -> Result<(), VisionError> {
        let t0 = Instant::now();
        let n = reqs.len();
        let s = self.size as usize;
        let per_image = 3 * s * s;
        self.input.resize(n * per_image, 0.0);
        let mut placements = Vec::with_capacity(n);
        for (i, req) in reqs.iter().enumerate() {
            placements.push(self.preprocess_one(req, i)?);
        }
        let t1 = Instant::now();

        let rows = self.grid.len();
        let cols = 5 + self.labels.len();
        self.output.clear();
        let batches: Vec<(usize, usize)> = if self.session.dynamic_batch {
            vec![(0, n)]
        } else {
            (0..n).map(|i| (i, 1)).collect()
        };
        for &(start, count) in &batches {
            let data = &self.input[start * per_image..(start + count) * per_image];
            let tensor = TensorRef::from_array_view(([count, 3, s, s], data))?;
            let outputs = self.session.session.run(ort::inputs![tensor])?;
            let (shape, values) = outputs[0].try_extract_tensor::<f32>()?;
            if shape[..] != [count as i64, rows as i64, cols as i64] {
                return Err(VisionError::Ort(format!(
                    "unexpected output shape {shape:?}, expected [{count}, {rows}, {cols}]"
                )));
            }
            self.output.extend_from_slice(values);
            self.timings.runs += 1;
        }
        let t2 = Instant::now();

        for (i, p) in placements.iter().enumerate() {
            let Some(p) = p else {
                out.push(Vec::new());
                continue;
            };
            let block = &self.output[i * rows * cols..(i + 1) * rows * cols];
            out.push(self.decode(block, cols, p));
        }
        let t3 = Instant::now();
        self.timings.preprocess += t1 - t0;
        self.timings.inference += t2 - t1;
        self.timings.postprocess += t3 - t2;
        Ok(())
    }

    /// Grid decode, threshold, class filter, NMS, back to frame coordinates.
    fn decode(&self, block: &[f32], cols: usize, p: &Placement) -> Vec<Detection> {
        let thr = self.cfg.score_threshold;
        let mut dets = Vec::new();
        for (row, &(gx, gy, stride)) in block.chunks_exact(cols).zip(&self.grid) {
            let obj = row[4];
            if obj <= thr {
                continue; // score = obj × cls ≤ obj
            }
            // One label per anchor: the argmax over all 80 classes, then the
            // class filter, so a box YOLOX thinks is a "traffic light" is not
            // relabelled as its runner-up "car".
            let (cls, &cp) = row[5..]
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.total_cmp(b.1))
                .expect("80 classes");
            let score = obj * cp;
            if score <= thr || !self.keep[cls] {
                continue;
            }
            let cx = (row[0] + gx) * stride;
            let cy = (row[1] + gy) * stride;
            let w = row[2].exp() * stride;
            let h = row[3].exp() * stride;
            let b = BBox::from_cxcywh(cx, cy, w, h);
            // Back to ROI pixels, then frame pixels; clamp to the ROI since
            // everything outside it was padding.
            let b = BBox::new(b.x1 / p.r, b.y1 / p.r, b.x2 / p.r, b.y2 / p.r).clamp(p.w, p.h);
            let b = BBox::new(b.x1 + p.x, b.y1 + p.y, b.x2 + p.x, b.y2 + p.y);
            if b.area() <= 0.0 || !b.is_finite() {
                continue;
            }
            dets.push(Detection {
                bbox: b,
                score,
                class_id: cls as u32,
                label: self.labels[cls].clone(),
            });
        }
        nms_per_class(dets, self.cfg.nms_iou)
    }
}

/// Official COCO names and the Darknet spellings used by `coco80.names`
/// (which this model's label file follows): config may use either.
const COCO_ALIASES: [(&str, &str); 6] = [
    ("motorcycle", "motorbike"),
    ("airplane", "aeroplane"),
    ("couch", "sofa"),
    ("potted plant", "pottedplant"),
    ("dining table", "diningtable"),
    ("tv", "tvmonitor"),
];

/// Index of a class name in `labels`, accepting either COCO spelling.
fn find_label(labels: &[Arc<str>], name: &str) -> Option<usize> {
    let alias = COCO_ALIASES
        .iter()
        .find_map(|&(a, b)| (a == name).then_some(b).or((b == name).then_some(a)));
    labels
        .iter()
        .position(|l| &**l == name || Some(&**l) == alias)
}

/// Writes a `nw`×`nh` packed RGB8 image into a `s`×`s` BGR planar f32 slot
/// (top-left), padding the rest with 114: swap, convert and transpose in one
/// pass over the pixels.
fn letterbox_bgr_chw(rgb: &[u8], nw: usize, nh: usize, s: usize, slot: &mut [f32]) {
    let plane = s * s;
    let (pb, rest) = slot.split_at_mut(plane);
    let (pg, pr) = rest.split_at_mut(plane);
    for y in 0..nh {
        let src = &rgb[y * nw * 3..(y + 1) * nw * 3];
        let o = y * s;
        let (rb, rg, rr) = (&mut pb[o..o + s], &mut pg[o..o + s], &mut pr[o..o + s]);
        for (x, px) in src.chunks_exact(3).enumerate() {
            rr[x] = f32::from(px[0]);
            rg[x] = f32::from(px[1]);
            rb[x] = f32::from(px[2]);
        }
        rb[nw..].fill(PAD);
        rg[nw..].fill(PAD);
        rr[nw..].fill(PAD);
    }
    pb[nh * s..].fill(PAD);
    pg[nh * s..].fill(PAD);
    pr[nh * s..].fill(PAD);
}

impl Detector for Yolox {
    fn name(&self) -> &str {
        &self.session.key
    }

    fn labels(&self) -> &[Arc<str>] {
        &self.labels
    }

    fn max_batch(&self) -> usize {
        self.cfg.max_batch
    }

    fn detect(&mut self, reqs: &[DetectRequest<'_>]) -> Result<Vec<Vec<Detection>>, VisionError> {
        self.timings = StageTimings {
            batch: reqs.len(),
            ..Default::default()
        };
        let mut out = Vec::with_capacity(reqs.len());
        for chunk in reqs.chunks(self.cfg.max_batch) {
            if let Err(e) = self.run_chunk(chunk, &mut out) {
                warn!(model = %self.session.key, error = %e, "detection failed");
                return Err(e);
            }
        }
        Ok(out)
    }

    fn last_timings(&self) -> StageTimings {
        self.timings
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_layout() {
        // 2x1 image: red, blue; into a 4x4 slot.
        let rgb = [255u8, 0, 0, 0, 0, 255];
        let mut slot = vec![0f32; 3 * 16];
        letterbox_bgr_chw(&rgb, 2, 1, 4, &mut slot);
        let (b, g, r) = (&slot[0..16], &slot[16..32], &slot[32..48]);
        assert_eq!((b[0], g[0], r[0]), (0.0, 0.0, 255.0)); // red pixel
        assert_eq!((b[1], g[1], r[1]), (255.0, 0.0, 0.0)); // blue pixel
        assert!(b[2..].iter().all(|&v| v == PAD));
        assert!(r[4..].iter().all(|&v| v == PAD));
    }
}
