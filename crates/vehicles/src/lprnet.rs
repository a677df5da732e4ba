//! LPRNet (`plate/lprnet_chinese.onnx`): a recogniser trained on Chinese
//! blue and green plates, which reads their province character as well as
//! the letters and digits. It is what the issue means by "LPRNet where it
//! fits": cameras whose `countries` include `cn`. It reads the whole
//! rectified plate at a fixed 94×24 (its training size), one plate per run:
//! the export's output reshape drops the batch dimension (MANIFEST.md).

use crate::error::VehiclesError;
use crate::ocr::{ctc_greedy_alts, Script, TextRead};
use image::RgbImage;
use ort::value::TensorRef;
use std::path::Path;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest key.
pub const LPRNET: &str = "lprnet_chinese";
const W: u32 = 94;
const H: u32 = 24;

/// The 68 classes in index order (MANIFEST.md); the last, `-`, is the blank.
const ALPHABET: &str = "京沪津渝冀晋蒙辽吉黑苏浙皖闽赣鲁豫鄂湘粤桂琼川贵云藏陕甘青宁新0123456789ABCDEFGHJKLMNPQRSTUVWXYZIO-";

pub use base::plate_text::is_province;

/// LPRNet session and its input buffer.
pub struct LprNet {
    session: ModelSession,
    alphabet: Vec<char>,
    input: Vec<f32>,
}

impl std::fmt::Debug for LprNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LprNet").finish_non_exhaustive()
    }
}

impl LprNet {
    /// Loads `lprnet_chinese` (sha256-checked).
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: &SessionConfig,
    ) -> Result<Self, VehiclesError> {
        let session = load_session(manifest, LPRNET, models_dir, cfg)?;
        Ok(LprNet {
            session,
            alphabet: ALPHABET.chars().collect(),
            input: vec![0.0; (3 * W * H) as usize],
        })
    }

    /// Reads one plate image (any size; resized to 94×24). Characters carry
    /// the softmax probability of their class, the highest over their run;
    /// alternatives are the best other letter or digit, as the PP-OCR
    /// decoder gives them, so plate formats can use them the same way.
    pub fn read(&mut self, plate: &RgbImage) -> Result<TextRead, VehiclesError> {
        if plate.width() == 0 || plate.height() == 0 {
            return Err(VehiclesError::InvalidInput(
                "empty plate image for LPRNet".into(),
            ));
        }
        let img = image::imageops::resize(plate, W, H, image::imageops::FilterType::Triangle);
        let plane = (W * H) as usize;
        for (i, p) in img.pixels().enumerate() {
            // BGR planar, (x − 127.5) × 0.0078125
            self.input[i] = (f32::from(p[2]) - 127.5) * 0.007_812_5;
            self.input[plane + i] = (f32::from(p[1]) - 127.5) * 0.007_812_5;
            self.input[2 * plane + i] = (f32::from(p[0]) - 127.5) * 0.007_812_5;
        }
        let tensor =
            TensorRef::from_array_view(([1usize, 3, H as usize, W as usize], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let (shape, logits) = outputs[0].try_extract_tensor::<f32>()?;
        let classes = self.alphabet.len();
        if shape.len() != 2 || shape[0] as usize != classes {
            return Err(VehiclesError::Model {
                key: LPRNET.into(),
                reason: format!("unexpected output shape {shape:?} (expected [{classes}, T])"),
            });
        }
        let steps = shape[1] as usize;
        // classes × time → time × classes, softmaxed per step, in the
        // layout of PP-OCR's decoder, which then serves both recognisers.
        let mut probs = vec![0f32; steps * classes];
        for t in 0..steps {
            let col = (0..classes).map(|c| logits[c * steps + t]);
            let max = col.clone().fold(f32::MIN, f32::max);
            let sum: f32 = col.clone().map(|v| (v - max).exp()).sum();
            for (c, v) in col.enumerate() {
                probs[t * classes + ctc_column(c, classes)] = (v - max).exp() / sum;
            }
        }
        Ok(ctc_greedy_alts(
            &probs,
            steps,
            classes,
            &self.alphabet[..classes - 1],
            Script::WithProvinces,
        ))
    }
}

/// Column of LPRNet's class `c` in the layout [`ctc_greedy_alts`] reads:
/// the blank (LPRNet's last class) first, then the alphabet in order.
fn ctc_column(c: usize, classes: usize) -> usize {
    (c + 1) % classes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alphabet_has_the_manifest_layout() {
        let a: Vec<char> = ALPHABET.chars().collect();
        assert_eq!(a.len(), 68);
        assert_eq!(a[0], '京');
        assert_eq!(a[31], '0');
        assert_eq!(a[41], 'A');
        assert_eq!(a[67], '-');
        // the province block is the shared list, in the same order
        let provinces: String = a[..31].iter().collect();
        assert_eq!(provinces, base::plate_text::PROVINCES);
    }

    #[test]
    fn decoding_merges_repeats_and_drops_blanks() {
        let a: Vec<char> = ALPHABET.chars().collect();
        let classes = a.len();
        let idx = |c: char| a.iter().position(|&x| x == c).unwrap();
        // 鲁 鲁 - A A - A 1  →  鲁 A A 1
        let seq = ['鲁', '鲁', '-', 'A', 'A', '-', 'A', '1'];
        let col = |c: char| ctc_column(idx(c), classes);
        let mut probs = vec![0.0f32; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            probs[t * classes + col(c)] = 0.9;
            probs[t * classes + col('8')] = 0.05;
        }
        probs[4 * classes + col('A')] = 0.95;
        let r = ctc_greedy_alts(
            &probs,
            seq.len(),
            classes,
            &a[..classes - 1],
            Script::WithProvinces,
        );
        assert_eq!(r.text(), "鲁AA1");
        assert_eq!(r.chars[1].1, 0.95);
        assert_eq!(r.alts[1], Some(('8', 0.05)));
    }
}
