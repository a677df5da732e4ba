//! Pooled feature vectors from the YOLOX-nano backbone/neck, for small heads
//! (e.g. fire/smoke) trained on a pretrained detector's features.
//!
//! Why this model and these layers: no pretrained fire/smoke model exists
//! offline, and YOLOX-nano is already verified and loaded for detection. Its
//! three PAN outputs (strides 8/16/32; 64/128/256 channels for nano) are what
//! the detection head reads, so they carry the detector's notion of texture,
//! colour and objectness at three scales. The shipped file only outputs
//! detections, so the verified bytes are patched in memory
//! ([`crate::onnx_patch::add_graph_outputs`]) to also return those maps; the
//! batch (and, for a non-native size, spatial) dims are made symbolic so a
//! frame and its tiles run in one call.
//!
//! Pooling: per level, channel-wise mean and max over the cells that hold
//! image pixels (the letterbox padding is left out, so a tile's features do
//! not depend on how much padding its aspect ratio needed). The vector is
//! `[mean(p3), max(p3), mean(p4), max(p4), mean(p5), max(p5)]`, 896 values.
//!
//! Pre-processing is YOLOX's (MANIFEST.md): letterbox top-left with
//! r = min(S/h, S/w), pad 114, BGR, raw 0–255, NCHW.

use crate::error::VisionError;
use crate::manifest::{ModelManifest, OutputSpec};
use crate::onnx_patch::{add_graph_outputs, make_dims_dynamic, DimEdit};
use crate::runtime::{
    session_from_bytes, verified_model_bytes, DynamicDims, ModelSession, SessionConfig,
};
use crate::yolox::YOLOX_NANO;
use fast_image_resize::{
    images::Image, images::ImageRef, FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer,
};
use ort::value::TensorRef;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tracing::{debug, info};

/// Letterbox padding value (YOLOX's `preproc`).
const PAD: f32 = 114.0;

/// One exposed feature map: graph tensor name, stride, channels.
#[derive(Clone, Copy, Debug)]
pub struct FeatureLayer {
    pub name: &'static str,
    pub stride: u32,
    pub channels: usize,
}

/// The PAN outputs of YOLOX-nano (found by listing the graph's nodes: the
/// last `Mul` (SiLU) of `C3_p3`, `C3_n3` and `C3_n4`, each feeding one
/// `head/stems.N` conv).
pub const YOLOX_NANO_PAN: [FeatureLayer; 3] = [
    FeatureLayer {
        name: "/backbone/C3_p3/conv3/act/Mul_output_0",
        stride: 8,
        channels: 64,
    },
    FeatureLayer {
        name: "/backbone/C3_n3/conv3/act/Mul_output_0",
        stride: 16,
        channels: 128,
    },
    FeatureLayer {
        name: "/backbone/C3_n4/conv3/act/Mul_output_0",
        stride: 32,
        channels: 256,
    },
];

/// Pooling identifier written into head weights files.
pub const POOLING: &str = "valid-region mean+max per channel, per level";

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureConfig {
    /// Square network input side (multiple of 32). 416 is the file's own.
    pub input_size: u32,
    /// Most crops per inference call; larger requests are split.
    pub max_batch: usize,
    pub session: SessionConfig,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            input_size: 416,
            max_batch: 8,
            session: SessionConfig::default(),
        }
    }
}

/// What produced a feature vector: a head trained on one identity must refuse
/// features from another (other model bytes, size, layers or pooling).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExtractorIdentity {
    pub model_key: String,
    pub model_sha256: String,
    pub input_size: u32,
    pub layers: Vec<String>,
    pub pooling: String,
    pub dim: usize,
}

/// A rectangle of the source image, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropRect {
    pub x: u32,
    pub y: u32,
    pub w: u32,
    pub h: u32,
}

impl CropRect {
    pub fn full(width: u32, height: u32) -> Self {
        CropRect {
            x: 0,
            y: 0,
            w: width,
            h: height,
        }
    }
}

/// Runs the patched YOLOX-nano and pools its PAN maps.
pub struct FeatureExtractor {
    session: ModelSession,
    cfg: FeatureConfig,
    identity: ExtractorIdentity,
    resizer: Resizer,
    resized: Vec<u8>,
    input: Vec<f32>,
}

impl std::fmt::Debug for FeatureExtractor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeatureExtractor")
            .field("identity", &self.identity)
            .field("provider", &self.session.provider)
            .finish()
    }
}

impl FeatureExtractor {
    /// Loads `yolox_nano` from the embedded manifest and `KUZET_MODELS`.
    pub fn from_env(cfg: FeatureConfig) -> Result<Self, VisionError> {
        Self::new(&ModelManifest::embedded(), &base::env::models_dir(), cfg)
    }

    /// Verifies the model (size + sha256), patches it in memory to expose
    /// [`YOLOX_NANO_PAN`] and creates a checked session.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: FeatureConfig,
    ) -> Result<Self, VisionError> {
        let key = YOLOX_NANO;
        if cfg.max_batch == 0 {
            return Err(VisionError::Config("max_batch must be at least 1".into()));
        }
        let size = cfg.input_size;
        if !size.is_multiple_of(32) || !(64..=1280).contains(&size) {
            return Err(VisionError::Config(format!(
                "feature input_size must be a multiple of 32 within 64..=1280 (got {size})"
            )));
        }
        let entry = manifest.get(key)?;
        let spec = entry
            .input
            .as_ref()
            .ok_or_else(|| VisionError::NoSpec { key: key.into() })?;
        let native = spec.shape.get(2).copied().unwrap_or(-1);
        let bytes = verified_model_bytes(key, entry, models_dir)?;

        let batch = DimEdit {
            index: 0,
            param: "batch",
            if_value: Some(1),
        };
        let mut in_edits = vec![batch];
        let mut out_edits = vec![batch];
        let mut dynamic = DynamicDims::batch();
        if i64::from(size) != native {
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
        let outs: Vec<(&str, &[DimEdit])> = entry
            .outputs
            .iter()
            .map(|o| (o.name.as_str(), &out_edits[..]))
            .collect();
        let patch_err = |e: crate::onnx_patch::PatchError| VisionError::Patch {
            key: key.into(),
            reason: e.to_string(),
        };
        let (patched, report) =
            make_dims_dynamic(&bytes, &[(spec.name.as_str(), &in_edits[..])], &outs)
                .map_err(patch_err)?;
        let layers: Vec<(&str, usize)> = YOLOX_NANO_PAN.iter().map(|l| (l.name, 4)).collect();
        let patched = add_graph_outputs(&patched, &layers).map_err(patch_err)?;
        debug!(model = key, ?report, "feature outputs exposed");

        // The session is checked against the manifest plus the new outputs,
        // whose dims are all symbolic.
        let mut checked = entry.clone();
        for l in &YOLOX_NANO_PAN {
            checked.outputs.push(OutputSpec {
                name: l.name.to_string(),
                shape: vec![-1; 4],
            });
        }
        let session = session_from_bytes(key, &checked, &patched, &cfg.session, &dynamic)?;
        let dim = YOLOX_NANO_PAN.iter().map(|l| 2 * l.channels).sum();
        let identity = ExtractorIdentity {
            model_key: key.to_string(),
            model_sha256: entry.sha256.to_ascii_lowercase(),
            input_size: size,
            layers: YOLOX_NANO_PAN.iter().map(|l| l.name.to_string()).collect(),
            pooling: POOLING.to_string(),
            dim,
        };
        info!(model = key, provider = %session.provider, size, dim, "feature extractor ready");
        Ok(FeatureExtractor {
            session,
            cfg,
            identity,
            resizer: Resizer::new(),
            resized: Vec::new(),
            input: Vec::new(),
        })
    }

    pub fn identity(&self) -> &ExtractorIdentity {
        &self.identity
    }

    /// Length of every returned vector.
    pub fn dim(&self) -> usize {
        self.identity.dim
    }

    /// One pooled feature vector per crop of a packed RGB8 image.
    pub fn extract(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crops: &[CropRect],
    ) -> Result<Vec<Vec<f32>>, VisionError> {
        if rgb.len() != width as usize * height as usize * 3 || width == 0 || height == 0 {
            return Err(VisionError::InvalidInput(format!(
                "image {width}x{height} has {} bytes, expected packed RGB8",
                rgb.len()
            )));
        }
        for c in crops {
            if c.w == 0
                || c.h == 0
                || u64::from(c.x) + u64::from(c.w) > u64::from(width)
                || u64::from(c.y) + u64::from(c.h) > u64::from(height)
            {
                return Err(VisionError::InvalidInput(format!(
                    "crop {c:?} is empty or outside the {width}x{height} image"
                )));
            }
        }
        let mut out = Vec::with_capacity(crops.len());
        for chunk in crops.chunks(self.cfg.max_batch) {
            self.run_chunk(rgb, width, height, chunk, &mut out)?;
        }
        Ok(out)
    }

    fn run_chunk(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
        crops: &[CropRect],
        out: &mut Vec<Vec<f32>>,
    ) -> Result<(), VisionError> {
        let s = self.cfg.input_size as usize;
        let per = 3 * s * s;
        let n = crops.len();
        self.input.resize(n * per, 0.0);
        // Letterboxed size of each crop, to pool only over image cells.
        let mut placed = Vec::with_capacity(n);
        for (i, c) in crops.iter().enumerate() {
            let r = (s as f32 / c.h as f32).min(s as f32 / c.w as f32);
            let nw = ((c.w as f32 * r) as u32).clamp(1, s as u32);
            let nh = ((c.h as f32 * r) as u32).clamp(1, s as u32);
            self.resized.resize(nw as usize * nh as usize * 3, 0);
            let src = ImageRef::new(width, height, rgb, PixelType::U8x3)
                .map_err(|e| VisionError::InvalidInput(e.to_string()))?;
            let mut dst = Image::from_slice_u8(nw, nh, &mut self.resized, PixelType::U8x3)
                .map_err(|e| VisionError::InvalidInput(e.to_string()))?;
            let opts = ResizeOptions::new()
                .resize_alg(ResizeAlg::Interpolation(FilterType::Bilinear))
                .crop(c.x as f64, c.y as f64, c.w as f64, c.h as f64);
            self.resizer
                .resize(&src, &mut dst, &opts)
                .map_err(|e| VisionError::InvalidInput(format!("resize: {e}")))?;
            letterbox_bgr_chw(
                &self.resized,
                nw as usize,
                nh as usize,
                s,
                &mut self.input[i * per..(i + 1) * per],
            );
            placed.push((nw as usize, nh as usize));
        }
        let tensor = TensorRef::from_array_view(([n, 3, s, s], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let mut vecs = vec![Vec::with_capacity(self.identity.dim); n];
        for layer in &YOLOX_NANO_PAN {
            let (shape, values) = outputs[layer.name].try_extract_tensor::<f32>()?;
            let (c, gh, gw) = (
                layer.channels,
                s / layer.stride as usize,
                s / layer.stride as usize,
            );
            if shape[..] != [n as i64, c as i64, gh as i64, gw as i64] {
                return Err(VisionError::Ort(format!(
                    "feature map `{}` has shape {shape:?}, expected [{n}, {c}, {gh}, {gw}]",
                    layer.name
                )));
            }
            for (i, v) in vecs.iter_mut().enumerate() {
                let (nw, nh) = placed[i];
                let st = layer.stride as usize;
                let vw = nw.div_ceil(st).clamp(1, gw);
                let vh = nh.div_ceil(st).clamp(1, gh);
                let img = &values[i * c * gh * gw..(i + 1) * c * gh * gw];
                let mut means = Vec::with_capacity(c);
                let mut maxes = Vec::with_capacity(c);
                for ch in 0..c {
                    let plane = &img[ch * gh * gw..(ch + 1) * gh * gw];
                    let mut sum = 0.0f32;
                    let mut max = f32::NEG_INFINITY;
                    for row in plane.chunks_exact(gw).take(vh) {
                        for &x in &row[..vw] {
                            sum += x;
                            max = max.max(x);
                        }
                    }
                    means.push(sum / (vw * vh) as f32);
                    maxes.push(max);
                }
                v.extend_from_slice(&means);
                v.extend_from_slice(&maxes);
            }
        }
        out.extend(vecs);
        Ok(())
    }
}

/// Writes a `nw`×`nh` packed RGB8 image into a `s`×`s` BGR planar f32 slot
/// (top-left), padding the rest with 114.
fn letterbox_bgr_chw(rgb: &[u8], nw: usize, nh: usize, s: usize, slot: &mut [f32]) {
    let plane = s * s;
    slot.fill(PAD);
    let (pb, rest) = slot.split_at_mut(plane);
    let (pg, pr) = rest.split_at_mut(plane);
    for y in 0..nh {
        let src = &rgb[y * nw * 3..(y + 1) * nw * 3];
        let o = y * s;
        for (x, px) in src.chunks_exact(3).enumerate() {
            pr[o + x] = f32::from(px[0]);
            pg[o + x] = f32::from(px[1]);
            pb[o + x] = f32::from(px[2]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn letterbox_pads_and_swaps() {
        let rgb = [10u8, 20, 30, 40, 50, 60];
        let mut slot = vec![0.0; 3 * 4 * 4];
        letterbox_bgr_chw(&rgb, 2, 1, 4, &mut slot);
        assert_eq!(slot[0], 30.0); // B of pixel 0
        assert_eq!(slot[16], 20.0); // G
        assert_eq!(slot[32 + 1], 40.0); // R of pixel 1
        assert_eq!(slot[2], PAD);
        assert_eq!(slot[4], PAD);
    }

    #[test]
    fn extracts_pooled_features() {
        let models = base::env::require_models();
        crate::init_runtime().unwrap();
        let mut fx = FeatureExtractor::new(
            &ModelManifest::embedded(),
            &models,
            FeatureConfig {
                input_size: 256,
                ..Default::default()
            },
        )
        .unwrap();
        let (w, h) = (64u32, 48u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let crops = [
            CropRect::full(w, h),
            CropRect {
                x: 8,
                y: 8,
                w: 20,
                h: 30,
            },
        ];
        let v = fx.extract(&rgb, w, h, &crops).unwrap();
        assert_eq!(v.len(), 2);
        assert!(v
            .iter()
            .all(|x| x.len() == 896 && x.iter().all(|f| f.is_finite())));
        assert_ne!(v[0], v[1]);
        // Same crop alone gives the same vector as in a batch.
        let one = fx.extract(&rgb, w, h, &crops[1..]).unwrap();
        let d: f32 = one[0].iter().zip(&v[1]).map(|(a, b)| (a - b).abs()).sum();
        assert!(d / 896.0 < 1e-3, "batch vs single differ by {d}");
        assert!(fx
            .extract(
                &rgb,
                w,
                h,
                &[CropRect {
                    x: 60,
                    y: 0,
                    w: 10,
                    h: 4
                }]
            )
            .is_err());
        assert!(fx.extract(&rgb[..10], w, h, &crops).is_err());
    }
}
