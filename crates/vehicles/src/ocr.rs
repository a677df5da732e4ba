//! PaddleOCR PP-OCRv4: the text recogniser (CTC) used to read plates, and the
//! text detector (DB) used to find the character line on a plate and as a
//! fallback plate finder where the 4-corner plate model misses.

use crate::error::VehiclesError;
use base::BBox;
use image::RgbImage;
use ort::value::TensorRef;
use std::path::Path;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest key of the recogniser.
pub const PPOCR_REC: &str = "ppocr_rec";
/// Manifest key of the detector.
pub const PPOCR_DET: &str = "ppocr_det";

/// Recogniser input height (MANIFEST: 48).
pub const REC_HEIGHT: u32 = 48;
/// Narrowest recogniser input: the model was trained on lines padded to 320,
/// and reads short plates better with the padding than without.
const REC_MIN_WIDTH: usize = 320;
const REC_MAX_WIDTH: usize = 1280;

/// One recognised text line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TextRead {
    /// Every decoded character (not yet filtered to A-Z/0-9) with its
    /// confidence: the highest probability over the time steps it spans.
    pub chars: Vec<(char, f32)>,
    /// Per character of `chars`: the recogniser's best *other* letter or
    /// digit over the same time steps, with its highest probability. Plate
    /// formats use it to pick the OCR's own second choice where the layout
    /// rules out the first (a `G` where a digit must stand, with `6` close
    /// behind), which is better evidence than a fixed confusion table.
    /// Empty when the decoder did not record alternatives.
    pub alts: Vec<Option<(char, f32)>>,
}

impl TextRead {
    pub fn text(&self) -> String {
        self.chars.iter().map(|&(c, _)| c).collect()
    }
    /// Mean character confidence (0 for an empty read).
    pub fn confidence(&self) -> f32 {
        if self.chars.is_empty() {
            0.0
        } else {
            self.chars.iter().map(|&(_, p)| p).sum::<f32>() / self.chars.len() as f32
        }
    }
}

/// Greedy CTC decoding of a `steps`×`classes` probability matrix (rows are
/// time steps, already softmaxed): take the argmax per step, merge repeats,
/// drop the blank (class 0). Class `i ≥ 1` is `dict[i - 1]`; a class past the
/// dictionary is a space (PP-OCR's last class). Each emitted character gets
/// the highest probability of its run.
///
/// The argmax runs over the plate alphabet only: the blank, the characters
/// of the reader's [`Script`] (either case), separators (space, `-`, `·`,
/// `.`) and the space class; `ctc_greedy` reads [`Script::Latin`].
/// PP-OCR's dictionary holds 6,600 characters. A seal or sticker between a
/// plate's groups (German and Czech plates carry them) is read as `:` or
/// `°`, and a worn glyph now and then as a Chinese look-alike; neither is
/// text on the plate, and read as characters they marked a right read down
/// as "other text" (`plate_likeness` in `anpr.rs`). On the development
/// plates this fixed one read and broke none (`docs/evaluation.md`, tenth
/// increment).
pub fn ctc_greedy(probs: &[f32], steps: usize, classes: usize, dict: &[char]) -> Vec<(char, f32)> {
    ctc_greedy_alts(probs, steps, classes, dict, Script::Latin).chars
}

/// Which plate characters a recogniser may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Script {
    /// A–Z and 0–9: PP-OCR, which reads every format but China's. Its
    /// dictionary also holds the province characters, and a worn or cut
    /// `W` at a plate's edge reads as `皖` (Anhui) there; a Latin plate
    /// never carries one (`docs/evaluation.md`, eleventh increment).
    Latin,
    /// A–Z, 0–9 and the 31 province characters: LPRNet on Chinese plates.
    WithProvinces,
}

impl Script {
    fn reads(self, c: char) -> bool {
        match self {
            Script::Latin => c.is_ascii_alphanumeric(),
            Script::WithProvinces => base::plate_text::is_plate_char(c),
        }
    }
}

/// [`ctc_greedy`] that also records, per emitted character, the best other
/// letter or digit (case-folded, so `o` is not an alternative to `O`) over
/// the steps of its run: the second choice a plate format may fall back on.
pub fn ctc_greedy_alts(
    probs: &[f32],
    steps: usize,
    classes: usize,
    dict: &[char],
    script: Script,
) -> TextRead {
    // Only A-Z/0-9 can be alternatives on a plate, and only plate characters
    // and separators can be read at all; scanning those few classes per step
    // is also cheaper than the argmax over the whole dictionary.
    let readable: Vec<usize> = std::iter::once(0)
        .chain(
            dict.iter()
                .enumerate()
                .filter(|&(i, &c)| {
                    i + 1 < classes && (script.reads(c) || base::plate_text::is_separator(c))
                })
                .map(|(i, _)| i + 1),
        )
        // The class past the dictionary is PP-OCR's space.
        .chain((dict.len() + 1..classes).take(1))
        .collect();
    let alnum: Vec<(usize, char)> = readable
        .iter()
        .filter_map(|&i| Some((i, dict.get(i.checked_sub(1)?)?.to_ascii_uppercase())))
        .filter(|&(_, c)| c.is_ascii_uppercase() || c.is_ascii_digit())
        .collect();
    let mut out = TextRead::default();
    if classes == 0 {
        return out;
    }
    let mut prev = 0usize;
    for t in 0..steps {
        let Some(row) = probs.get(t * classes..(t + 1) * classes) else {
            break;
        };
        let (idx, p) = readable
            .iter()
            .map(|&i| (i, row[i]))
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((0, 0.0));
        if idx != 0 {
            let c = dict.get(idx - 1).copied().unwrap_or(' ');
            let main = c.to_ascii_uppercase();
            let alt = alnum
                .iter()
                .filter(|&&(_, a)| a != main)
                .map(|&(i, a)| (a, row[i]))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if idx == prev {
                if let Some(last) = out.chars.last_mut() {
                    last.1 = last.1.max(p);
                }
                if let (Some(slot), Some(a)) = (out.alts.last_mut(), alt) {
                    if slot.is_none_or(|s| a.1 > s.1) {
                        *slot = Some(a);
                    }
                }
            } else {
                out.chars.push((c, p));
                out.alts.push(alt);
            }
        }
        prev = idx;
    }
    out
}

/// Writes `img` as BGR planar (x/255 − 0.5)/0.5 into a `3×h×w_slot` slice,
/// left-aligned; the rest of each row keeps its value (0 = the pad).
fn bgr_norm_chw(img: &RgbImage, w_slot: usize, h: usize, out: &mut [f32]) {
    let plane = w_slot * h;
    let iw = img.width() as usize;
    for (y, row) in img.rows().enumerate().take(h) {
        for (x, p) in row.enumerate().take(w_slot.min(iw)) {
            let o = y * w_slot + x;
            out[o] = f32::from(p[2]) / 127.5 - 1.0;
            out[plane + o] = f32::from(p[1]) / 127.5 - 1.0;
            out[2 * plane + o] = f32::from(p[0]) / 127.5 - 1.0;
        }
    }
}

/// Resizes to exactly `w`×`h` with a triangle (bilinear, area-aware) filter.
pub(crate) fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    if img.width() == w && img.height() == h {
        return img.clone();
    }
    image::imageops::resize(
        img,
        w.max(1),
        h.max(1),
        image::imageops::FilterType::Triangle,
    )
}

/// PP-OCRv4 text-line recogniser.
pub struct TextRecognizer {
    session: ModelSession,
    dict: Vec<char>,
    input: Vec<f32>,
}

impl std::fmt::Debug for TextRecognizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextRecognizer")
            .field("dict_len", &self.dict.len())
            .finish()
    }
}

impl TextRecognizer {
    /// Loads `ppocr_rec` (sha256-checked) and reads its character dictionary
    /// from the ONNX metadata key `character`, so the dictionary can never
    /// drift from the weights.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: &SessionConfig,
    ) -> Result<Self, VehiclesError> {
        let session = load_session(manifest, PPOCR_REC, models_dir, cfg)?;
        let meta = session.session.metadata()?;
        let chars = meta
            .custom("character")
            .ok_or_else(|| VehiclesError::Model {
                key: PPOCR_REC.into(),
                reason: "no `character` key in the ONNX metadata (not a rapidocr PP-OCR export?)"
                    .into(),
            })?;
        let dict: Vec<char> = chars
            .split('\n')
            .map(|l| l.trim_end_matches('\r'))
            .filter(|l| !l.is_empty())
            .map(|l| l.chars().next().unwrap_or(' '))
            .collect();
        drop(meta);
        let classes = manifest
            .get(PPOCR_REC)?
            .outputs
            .first()
            .and_then(|o| o.shape.last().copied())
            .unwrap_or(-1);
        if classes > 0 && dict.len() + 2 != classes as usize {
            return Err(VehiclesError::Model {
                key: PPOCR_REC.into(),
                reason: format!(
                    "dictionary has {} entries but the output has {classes} classes (expected blank + dictionary + space)",
                    dict.len()
                ),
            });
        }
        Ok(TextRecognizer {
            session,
            dict,
            input: Vec::new(),
        })
    }

    pub fn dictionary(&self) -> &[char] {
        &self.dict
    }

    /// Reads each image as one text line. Images are resized to height 48
    /// keeping their aspect ratio and run as one batch, right-padded to the
    /// widest (at least 320).
    pub fn recognize(&mut self, imgs: &[RgbImage]) -> Result<Vec<TextRead>, VehiclesError> {
        if imgs.is_empty() {
            return Ok(Vec::new());
        }
        let h = REC_HEIGHT as usize;
        let mut lines = Vec::with_capacity(imgs.len());
        for img in imgs {
            if img.width() == 0 || img.height() == 0 {
                return Err(VehiclesError::InvalidInput("empty image for OCR".into()));
            }
            let ratio = img.width() as f32 / img.height() as f32;
            let w = ((REC_HEIGHT as f32 * ratio).ceil() as usize).clamp(8, REC_MAX_WIDTH);
            lines.push(resize(img, w as u32, REC_HEIGHT));
        }
        let max_w = lines.iter().map(|l| l.width() as usize).max().unwrap_or(8);
        let w = max_w.max(REC_MIN_WIDTH).div_ceil(8) * 8;
        let n = lines.len();
        let per = 3 * h * w;
        self.input.clear();
        self.input.resize(n * per, 0.0);
        for (i, l) in lines.iter().enumerate() {
            bgr_norm_chw(l, w, h, &mut self.input[i * per..(i + 1) * per]);
        }
        let tensor = TensorRef::from_array_view(([n, 3, h, w], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let (shape, probs) = outputs[0].try_extract_tensor::<f32>()?;
        if shape.len() != 3 || shape[0] as usize != n {
            return Err(VehiclesError::Model {
                key: PPOCR_REC.into(),
                reason: format!("unexpected output shape {shape:?}"),
            });
        }
        let (steps, classes) = (shape[1] as usize, shape[2] as usize);
        Ok((0..n)
            .map(|i| {
                ctc_greedy_alts(
                    &probs[i * steps * classes..(i + 1) * steps * classes],
                    steps,
                    classes,
                    &self.dict,
                    Script::Latin,
                )
            })
            .collect())
    }
}

/// One text region found by the detector, in the input image's pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TextBox {
    pub bbox: BBox,
    /// Mean text probability inside the region.
    pub score: f32,
}

/// PP-OCRv4 DB text detector with a simplified post-processing: connected
/// components of the binarised map, axis-aligned boxes, DB's unclip distance.
/// Axis-aligned is enough here: it runs on rectified plates and on vehicle
/// crops where plates are near-horizontal.
pub struct TextDetector {
    session: ModelSession,
    input: Vec<f32>,
    /// Binarisation threshold (MANIFEST: 0.3).
    pub bin_thresh: f32,
    /// Minimum mean probability of a kept region (MANIFEST: 0.5).
    pub box_thresh: f32,
    /// DB unclip ratio (MANIFEST: 1.6).
    pub unclip: f32,
}

impl std::fmt::Debug for TextDetector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextDetector").finish()
    }
}

impl TextDetector {
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: &SessionConfig,
    ) -> Result<Self, VehiclesError> {
        Ok(TextDetector {
            session: load_session(manifest, PPOCR_DET, models_dir, cfg)?,
            input: Vec::new(),
            bin_thresh: 0.3,
            box_thresh: 0.5,
            unclip: 1.6,
        })
    }

    /// Finds text regions. The image is scaled so its longer side is
    /// `long_side` (both sides rounded to multiples of 32, as the model needs).
    pub fn detect(
        &mut self,
        img: &RgbImage,
        long_side: u32,
    ) -> Result<Vec<TextBox>, VehiclesError> {
        let (iw, ih) = (img.width(), img.height());
        if iw == 0 || ih == 0 {
            return Err(VehiclesError::InvalidInput(
                "empty image for text detection".into(),
            ));
        }
        let r = long_side.max(32) as f32 / iw.max(ih) as f32;
        let round32 = |v: f32| ((v / 32.0).round() as usize).max(1) * 32;
        let (w, h) = (round32(iw as f32 * r), round32(ih as f32 * r));
        let resized = resize(img, w as u32, h as u32);
        self.input.clear();
        self.input.resize(3 * w * h, 0.0);
        bgr_norm_chw(&resized, w, h, &mut self.input);
        let tensor = TensorRef::from_array_view(([1, 3, h, w], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let (shape, prob) = outputs[0].try_extract_tensor::<f32>()?;
        if shape[..] != [1, 1, h as i64, w as i64] {
            return Err(VehiclesError::Model {
                key: PPOCR_DET.into(),
                reason: format!("unexpected output shape {shape:?}"),
            });
        }
        let sx = iw as f32 / w as f32;
        let sy = ih as f32 / h as f32;
        Ok(
            db_boxes(prob, w, h, self.bin_thresh, self.box_thresh, self.unclip)
                .into_iter()
                .map(|b| TextBox {
                    bbox: BBox::new(
                        b.bbox.x1 * sx,
                        b.bbox.y1 * sy,
                        b.bbox.x2 * sx,
                        b.bbox.y2 * sy,
                    )
                    .clamp(iw as f32, ih as f32),
                    score: b.score,
                })
                .collect(),
        )
    }
}

/// DB post-processing on a `w`×`h` probability map: binarise, label 4-connected
/// components, keep those whose mean probability reaches `box_thresh`, and
/// grow each box by DB's unclip distance (area × ratio / perimeter).
pub fn db_boxes(
    prob: &[f32],
    w: usize,
    h: usize,
    bin: f32,
    box_thresh: f32,
    unclip: f32,
) -> Vec<TextBox> {
    let mut label = vec![0u32; w * h];
    let mut out = Vec::new();
    let mut stack = Vec::new();
    let mut next = 0u32;
    for start in 0..w * h {
        if label[start] != 0 || prob[start] <= bin {
            continue;
        }
        next += 1;
        label[start] = next;
        stack.push(start);
        let (mut x1, mut y1, mut x2, mut y2) = (usize::MAX, usize::MAX, 0, 0);
        let (mut sum, mut n) = (0f32, 0usize);
        while let Some(i) = stack.pop() {
            let (x, y) = (i % w, i / w);
            x1 = x1.min(x);
            y1 = y1.min(y);
            x2 = x2.max(x);
            y2 = y2.max(y);
            sum += prob[i];
            n += 1;
            let mut push = |j: usize| {
                if label[j] == 0 && prob[j] > bin {
                    label[j] = next;
                    stack.push(j);
                }
            };
            if x > 0 {
                push(i - 1);
            }
            if x + 1 < w {
                push(i + 1);
            }
            if y > 0 {
                push(i - w);
            }
            if y + 1 < h {
                push(i + w);
            }
        }
        let (bw, bh) = ((x2 - x1 + 1) as f32, (y2 - y1 + 1) as f32);
        if n < 4 || bw.min(bh) < 3.0 || sum / (n as f32) < box_thresh {
            continue;
        }
        let d = bw * bh * unclip / (2.0 * (bw + bh));
        out.push(TextBox {
            bbox: BBox::new(
                x1 as f32 - d,
                y1 as f32 - d,
                (x2 + 1) as f32 + d,
                (y2 + 1) as f32 + d,
            ),
            score: sum / n as f32,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One-hot rows for a sequence of class indices.
    fn onehot(seq: &[usize], classes: usize, p: f32) -> Vec<f32> {
        let mut v = vec![(1.0 - p) / (classes - 1) as f32; seq.len() * classes];
        for (t, &c) in seq.iter().enumerate() {
            v[t * classes + c] = p;
        }
        v
    }

    #[test]
    fn ctc_merges_repeats_and_drops_blanks() {
        let dict = ['A', 'B', '1'];
        // classes: 0 blank, 1 A, 2 B, 3 '1', 4 space
        let seq = [0, 1, 1, 0, 1, 2, 2, 0, 3, 4, 3];
        let probs = onehot(&seq, 5, 0.9);
        let out = ctc_greedy(&probs, seq.len(), 5, &dict);
        let text: String = out.iter().map(|c| c.0).collect();
        assert_eq!(text, "AAB1 1");
        assert!(out.iter().all(|&(_, p)| (p - 0.9).abs() < 1e-6));
    }

    #[test]
    fn ctc_records_the_best_other_letter_or_digit_of_each_run() {
        // classes: 0 blank, 1 G, 2 '6', 3 g, 4 '-', 5 space
        let dict = ['G', '6', 'g', '-'];
        let (steps, classes) = (4, 6);
        let mut probs = vec![0.0f32; steps * classes];
        let mut row = |t: usize, vals: &[(usize, f32)]| {
            for &(c, p) in vals {
                probs[t * classes + c] = p;
            }
        };
        row(0, &[(1, 0.5), (3, 0.3), (2, 0.1), (4, 0.1)]);
        row(1, &[(1, 0.6), (2, 0.35), (4, 0.05)]);
        row(2, &[(0, 0.9), (4, 0.1)]);
        row(3, &[(4, 0.7), (1, 0.2), (0, 0.1)]);
        let r = ctc_greedy_alts(&probs, steps, classes, &dict, Script::Latin);
        assert_eq!(r.text(), "G-");
        // `g` is the same letter, `-` is no plate character: the run max of `6`
        assert_eq!(r.alts, vec![Some(('6', 0.35)), Some(('G', 0.2))]);
        assert_eq!(r.chars.len(), r.alts.len());
    }

    #[test]
    fn ctc_confidence_is_the_run_maximum() {
        let dict = ['X'];
        let mut probs = onehot(&[1, 1, 0], 3, 0.6);
        probs[3 + 1] = 0.95; // second step of the run
        let out = ctc_greedy(&probs, 3, 3, &dict);
        assert_eq!(out, vec![('X', 0.95)]);
        assert!(ctc_greedy(&[], 0, 3, &dict).is_empty());
        // a matrix shorter than `steps` says is not read past its end
        assert_eq!(ctc_greedy(&probs, 10, 3, &dict).len(), 1);
    }

    #[test]
    fn only_plate_characters_are_read() {
        // classes: 0 blank, 1 W, 2 '口' (no plate character), 3 '鲁', 4 '@'
        let dict = ['W', '口', '鲁', '@'];
        let (steps, classes) = (4, 5);
        let mut probs = vec![0.0f32; steps * classes];
        let mut row = |t: usize, vals: &[(usize, f32)]| {
            for &(c, p) in vals {
                probs[t * classes + c] = p;
            }
        };
        row(0, &[(3, 0.9), (0, 0.1)]);
        row(1, &[(2, 0.5), (1, 0.3), (0, 0.2)]);
        row(2, &[(4, 0.6), (0, 0.3), (1, 0.1)]);
        row(3, &[(1, 0.7), (0, 0.3)]);
        // `口` outscores the W at step 1 and `@` the blank at step 2: without
        // the plate alphabet the read would be `鲁口@W`.
        let r = ctc_greedy_alts(&probs, steps, classes, &dict, Script::WithProvinces);
        assert_eq!(r.text(), "鲁WW");
        assert_eq!(r.chars[1], ('W', 0.3));
        assert_eq!(
            ctc_greedy_alts(&probs, steps, 0, &dict, Script::WithProvinces),
            TextRead::default()
        );
        // PP-OCR reads Latin plates only: the province character, the best
        // class at step 0, is not read, and the step is a blank there.
        let latin = ctc_greedy_alts(&probs, steps, classes, &dict, Script::Latin);
        assert_eq!(latin.text(), "WW");
        assert_eq!(ctc_greedy(&probs, steps, classes, &dict), latin.chars);
    }

    #[test]
    fn db_finds_two_separate_regions() {
        let (w, h) = (40, 20);
        let mut p = vec![0f32; w * h];
        for y in 5..12 {
            for x in 2..12 {
                p[y * w + x] = 0.9;
            }
            for x in 20..35 {
                p[y * w + x] = 0.8;
            }
        }
        let mut b = db_boxes(&p, w, h, 0.3, 0.5, 1.6);
        b.sort_by(|a, c| a.bbox.x1.total_cmp(&c.bbox.x1));
        assert_eq!(b.len(), 2);
        assert!(b[0].bbox.x1 < 2.0 && b[0].bbox.x2 > 12.0);
        assert!((b[1].score - 0.8).abs() < 1e-5);
    }
}
