//! Whole-image licence-plate recognition: localise → rectify → read →
//! normalise.
//!
//! Localisation runs the 4-corner plate model on each vehicle the COCO
//! detector finds, because at 640 input a plate in a large frame is too small
//! for the model, while in a vehicle crop scaled to 640 it is the size the
//! model was trained on; and on the whole image where the crops found no plate
//! (no vehicle, or a box that cuts its plate off; [`ImagePass`]). Plates the
//! 4-corner model misses
//! (it was trained on Chinese plates) are looked for by the general text
//! detector in the lower part of each vehicle, as a fallback.

use crate::error::VehiclesError;
use crate::formats::{canonical, PlateFormats, Reader};
use crate::geometry::{crop, warp_quad};
use crate::lprnet::{is_province, LprNet};
use crate::ocr::{TextDetector, TextRead, TextRecognizer, REC_HEIGHT};
use crate::plate::{nms, PlateDetection, PlateDetector};
use base::{BBox, Detection, Frame, Point, Timestamp};
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vision::{DetectRequest, Detector, ModelManifest, SessionConfig, Yolox, YoloxConfig};

/// COCO classes that carry plates.
pub const VEHICLE_CLASSES: [&str; 4] = ["car", "bus", "truck", "motorcycle"];

/// Longer side, in pixels, at which the text-detector fallback scans a
/// vehicle's region (or the image). A plate in the lower part of a vehicle
/// box 900 px wide is about 90×45 px; at 640 the detector sees it at two
/// thirds of that and misses a dim one, at 960 it is at full size. The
/// fallback only runs on photos where the plate model found nothing.
const FALLBACK_LONG_SIDE: u32 = 960;

/// A vehicle box whose top lies within this fraction of the image height
/// from the top edge is taken as cut off there.
const TRUNCATED_TOP: f32 = 0.02;

/// How a plate was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlateSource {
    /// 4-corner plate model on the whole image.
    Image,
    /// 4-corner plate model on a vehicle crop.
    Vehicle,
    /// General text detector in a vehicle's lower part (or the image's).
    TextFallback,
}

/// When the plate model runs on the whole image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ImagePass {
    /// Always, besides the vehicle crops.
    Always,
    /// Only when the vehicle crops found no plate (no vehicle found: a plate
    /// close-up; or a vehicle box that cuts its plate off). Vehicle crops,
    /// scaled to the model's input, show plates at the size it was trained
    /// on, while at 640 a plate in a large frame is mostly too small for it
    /// (MANIFEST.md): where the crops found plates, the whole-image run is
    /// mostly redundant work. Measured on the 217 labelled photos: the same
    /// 175 exact reads as `Always` (one plate lost and one gained), 1.26×
    /// the photos per second (docs/evaluation.md).
    #[default]
    Fallback,
}

impl std::str::FromStr for ImagePass {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "always" => Ok(ImagePass::Always),
            "fallback" => Ok(ImagePass::Fallback),
            _ => Err(format!(
                "{s:?}: expected `always` or `fallback` (when the plate model runs on the whole image)"
            )),
        }
    }
}

/// One recognised plate.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PlateRead {
    /// Normalised text (A-Z/0-9, corrected to the matched format).
    pub text: String,
    /// What the OCR read, before any clean-up.
    pub raw_text: String,
    /// Name of the plate format matched, `None` when none fits.
    pub format: Option<String>,
    /// Axis-aligned plate box in image pixels.
    pub bbox: BBox,
    /// Plate corners TL, TR, BR, BL in image pixels (the box's corners when
    /// the plate came from the text fallback).
    pub corners: [Point; 4],
    /// Overall confidence in 0..1: localisation score × mean character
    /// confidence, lowered when no specific format fits.
    pub confidence: f32,
    /// Per-character confidence of `text`.
    pub char_conf: Vec<f32>,
    /// Localisation score.
    pub det_score: f32,
    pub source: PlateSource,
    /// The vehicle box the plate was found in, if any.
    pub vehicle: Option<BBox>,
}

/// Settings of [`Anpr`].
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AnprConfig {
    /// Countries whose formats may match (codes in `plate_formats.toml`:
    /// `kz`, `us`, `eu`, `br`, `cn`…); empty = all that PP-OCR reads (LPRNet
    /// runs only for a listed country whose formats it reads: `cn`).
    pub countries: Vec<String>,
    /// Plate model score threshold. Lower than MANIFEST's 0.8 because the
    /// model was trained on Chinese plates and scores others lower; OCR and
    /// format checks reject the false positives.
    pub plate_threshold: f32,
    /// Also look for plates inside detected vehicles.
    pub vehicle_crops: bool,
    /// When the plate model also runs on the whole image.
    pub image_pass: ImagePass,
    /// Run the plate model on the letterboxed region padded only to a
    /// multiple of 32 (a 4:3 vehicle crop at 640×480) rather than on the
    /// shipped 640×640 canvas: the same scale, so the same plates, with less
    /// padding to convolve (docs/performance.md). Off is the file as shipped.
    pub fit_plate_canvas: bool,
    /// Largest factor the plate model scales a region up by (a small
    /// vehicle crop): `f32::INFINITY` is always to 640 as the model card
    /// letterboxes.
    pub plate_max_upscale: f32,
    /// Text-detector fallback when the plate model finds nothing.
    pub text_fallback: bool,
    /// Plate candidates read per image, best localisation scores first.
    pub max_candidates: usize,
    /// Margins added around the detected corners before rectification
    /// (fractions of plate width and height): the corners are often tight.
    pub margin_x: f32,
    pub margin_y: f32,
    /// Find the character line inside the rectified plate with the text
    /// detector and read only that line: US plates carry a state name,
    /// slogans and stickers above and below the characters, and the corners
    /// of a model trained on Chinese plates are often tight or loose.
    pub line_isolation: bool,
    /// Characters the OCR is less sure of than this are dropped (while at
    /// least 4 remain): mostly separators, emblems and bolts read as a letter.
    pub min_char_conf: f32,
    /// Read each plate as several hypotheses (its isolated character line
    /// and the whole rectified plate, each at every `read_stretch`) and keep
    /// the text with the highest summed confidence over the hypotheses that
    /// read it. The line finder sometimes picks a dealer frame or clips an
    /// edge character, the whole plate sometimes carries a state name into
    /// the read; a text two crops agree on is rarely a misread. Off, only
    /// the line is read (the whole plate when no line is found).
    pub multi_read: bool,
    /// Horizontal stretch factors each plate crop is read at (`1.0` = the
    /// crop's own aspect at height 48). The recogniser emits one column per
    /// 8 input pixels and was trained on text whose glyphs are about as wide
    /// as tall; a plate's glyphs are narrow, so at its own aspect two equal
    /// neighbours can fall into adjacent columns with no blank between them
    /// and CTC merges them (`133GZD` read `13GZD`). Stretching gives each
    /// glyph more columns. Used only with `multi_read` (else `1.0` alone).
    pub read_stretch: Vec<f32>,
    /// With `multi_read`, read the line and the whole plate at the widest
    /// stretch first, and at the other stretches only when those two reads
    /// disagree.
    pub early_accept: bool,
    pub session: SessionConfig,
}

impl Default for AnprConfig {
    fn default() -> Self {
        AnprConfig {
            countries: Vec::new(),
            plate_threshold: 0.3,
            vehicle_crops: true,
            image_pass: ImagePass::Fallback,
            fit_plate_canvas: true,
            plate_max_upscale: 2.0,
            text_fallback: true,
            max_candidates: 6,
            margin_x: 0.04,
            margin_y: 0.10,
            line_isolation: true,
            min_char_conf: 0.3,
            multi_read: true,
            read_stretch: vec![1.0, 1.5],
            early_accept: true,
            session: SessionConfig::default(),
        }
    }
}

/// Work counters of an [`Anpr`], for benchmarks (`kuzet bench plates`
/// reports plates/s from them).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AnprStats {
    /// Images passed to [`Anpr::recognize`].
    pub images: u64,
    /// Runs of the plate model (whole image and vehicle crops).
    pub plate_model_runs: u64,
    /// Plate candidates rectified and read by the recogniser.
    pub plates_read: u64,
    /// Crops the recogniser read (every hypothesis of every plate).
    pub crops_read: u64,
}

/// The recogniser: models plus the format table.
pub struct Anpr {
    /// Work done so far; reset it freely.
    pub stats: AnprStats,
    plates: PlateDetector,
    rec: TextRecognizer,
    det: Option<TextDetector>,
    vehicles: Option<Yolox>,
    /// LPRNet, loaded on the first plate of a country it reads (`cn`).
    lpr: Option<LprNet>,
    /// Where LPRNet is loaded from.
    models: (ModelManifest, PathBuf),
    formats: PlateFormats,
    cfg: AnprConfig,
}

impl std::fmt::Debug for Anpr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Anpr").field("cfg", &self.cfg).finish()
    }
}

/// A localised plate waiting to be read.
#[derive(Clone, Copy, Debug)]
struct Candidate {
    det: PlateDetection,
    source: PlateSource,
    vehicle: Option<BBox>,
}

fn quad_of(b: &BBox) -> [Point; 4] {
    [
        Point::new(b.x1, b.y1),
        Point::new(b.x2, b.y1),
        Point::new(b.x2, b.y2),
        Point::new(b.x1, b.y2),
    ]
}

fn dist(a: Point, b: Point) -> f32 {
    ((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt()
}

/// Width/height of the plate quad (mean opposite sides).
fn quad_aspect(q: &[Point; 4]) -> f32 {
    let w = (dist(q[0], q[1]) + dist(q[3], q[2])) / 2.0;
    let h = (dist(q[0], q[3]) + dist(q[1], q[2])) / 2.0;
    if h <= 0.0 {
        0.0
    } else {
        w / h
    }
}

/// Wraps an image as a [`Frame`] for the COCO detector.
fn frame_of(img: &RgbImage) -> Frame {
    Frame::new(
        Arc::from("anpr"),
        0,
        Timestamp::from_millis(0),
        0,
        img.width(),
        img.height(),
        img.as_raw().clone(),
    )
}

impl Anpr {
    /// Loads the models from the embedded manifest and `KUZET_MODELS`.
    pub fn from_env(cfg: AnprConfig) -> Result<Self, VehiclesError> {
        Self::new(&ModelManifest::embedded(), &base::env::models_dir(), cfg)
    }

    /// Loads every model (each sha256-checked) and the built-in format table.
    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: AnprConfig,
    ) -> Result<Self, VehiclesError> {
        Self::with_formats(manifest, models_dir, cfg, PlateFormats::builtin())
    }

    /// As [`Anpr::new`] with another format table.
    pub fn with_formats(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: AnprConfig,
        formats: PlateFormats,
    ) -> Result<Self, VehiclesError> {
        if !(0.0..=1.0).contains(&cfg.plate_threshold) {
            return Err(VehiclesError::InvalidInput(format!(
                "plate_threshold must be within 0..1 (got {})",
                cfg.plate_threshold
            )));
        }
        if cfg.plate_max_upscale.is_nan() || cfg.plate_max_upscale <= 0.0 {
            return Err(VehiclesError::InvalidInput(format!(
                "plate_max_upscale must be above 0 (got {}; inf scales every region to 640)",
                cfg.plate_max_upscale
            )));
        }
        if cfg.read_stretch.is_empty() || cfg.read_stretch.iter().any(|s| !(0.5..=3.0).contains(s))
        {
            return Err(VehiclesError::InvalidInput(format!(
                "read_stretch must list at least one factor, each within 0.5..3 (got {:?})",
                cfg.read_stretch
            )));
        }
        let known = formats.countries();
        for c in &cfg.countries {
            if !known.iter().any(|k| k.eq_ignore_ascii_case(c)) {
                return Err(VehiclesError::InvalidInput(format!(
                    "unknown country `{c}` (the format table has: {})",
                    known.join(", ")
                )));
            }
        }
        let mut plates = PlateDetector::new(manifest, models_dir, &cfg.session)?;
        plates.score_threshold = cfg.plate_threshold;
        plates.fit_canvas = cfg.fit_plate_canvas;
        plates.max_upscale = cfg.plate_max_upscale;
        let rec = TextRecognizer::new(manifest, models_dir, &cfg.session)?;
        let det = if cfg.text_fallback || cfg.line_isolation {
            Some(TextDetector::new(manifest, models_dir, &cfg.session)?)
        } else {
            None
        };
        let vehicles = if cfg.vehicle_crops || cfg.text_fallback {
            Some(Yolox::new(
                manifest,
                models_dir,
                YoloxConfig {
                    classes: VEHICLE_CLASSES.iter().map(|s| s.to_string()).collect(),
                    max_batch: 1,
                    session: cfg.session.clone(),
                    ..YoloxConfig::default()
                },
            )?)
        } else {
            None
        };
        let mut anpr = Anpr {
            stats: AnprStats::default(),
            plates,
            rec,
            det,
            vehicles,
            lpr: None,
            models: (manifest.clone(), models_dir.to_path_buf()),
            formats,
            cfg,
        };
        // A camera that reads Chinese plates finds a missing LPRNet at start.
        if !anpr.lpr_countries().is_empty() {
            anpr.lpr = Some(LprNet::new(manifest, models_dir, &anpr.cfg.session)?);
        }
        Ok(anpr)
    }

    pub fn config(&self) -> &AnprConfig {
        &self.cfg
    }

    pub fn formats(&self) -> &PlateFormats {
        &self.formats
    }

    /// Restricts format matching to these countries (empty = all), e.g. per
    /// camera. Unknown codes simply match nothing.
    pub fn set_countries(&mut self, countries: Vec<String>) {
        self.cfg.countries = countries;
    }

    /// Vehicles in the image (car, bus, truck, motorcycle), best first.
    pub fn vehicles(&mut self, img: &RgbImage) -> Result<Vec<Detection>, VehiclesError> {
        let Some(y) = self.vehicles.as_mut() else {
            return Ok(Vec::new());
        };
        let frame = frame_of(img);
        let mut v = y
            .detect(&[DetectRequest::whole(&frame)])?
            .pop()
            .unwrap_or_default();
        v.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(v)
    }

    /// Every plate in the image, most confident first. Plates that read as
    /// nothing (fewer than 2 characters) are dropped.
    pub fn recognize(&mut self, img: &RgbImage) -> Result<Vec<PlateRead>, VehiclesError> {
        if img.width() < 8 || img.height() < 8 {
            return Err(VehiclesError::InvalidInput(format!(
                "image {}x{} is too small to hold a plate",
                img.width(),
                img.height()
            )));
        }
        self.stats.images += 1;
        let vehicles = if self.vehicles.is_some() {
            self.vehicles(img)?
        } else {
            Vec::new()
        };
        let mut cands: Vec<Candidate> = Vec::new();
        if self.cfg.vehicle_crops {
            for v in vehicles.iter().take(8) {
                let roi = v.bbox.expand(0.05);
                self.stats.plate_model_runs += 1;
                for det in self.plates.detect(img, Some(roi))? {
                    // A plate must lie inside the vehicle's box.
                    let c = det.bbox.center();
                    if c.x < v.bbox.x1 || c.x > v.bbox.x2 || c.y < v.bbox.y1 || c.y > v.bbox.y2 {
                        continue;
                    }
                    cands.push(Candidate {
                        det,
                        source: PlateSource::Vehicle,
                        vehicle: Some(v.bbox),
                    });
                }
            }
        }
        // The whole image: always, or only where the crops found nothing.
        if self.cfg.image_pass == ImagePass::Always || cands.is_empty() {
            self.stats.plate_model_runs += 1;
            let whole = self.plates.detect(img, None)?;
            cands.extend(whole.into_iter().map(|det| Candidate {
                det,
                source: PlateSource::Image,
                vehicle: None,
            }));
        }
        let cands = merge_candidates(cands, self.cfg.max_candidates);
        let mut reads = Vec::new();
        for c in &cands {
            if let Some(r) = self.read_candidate(img, c)? {
                reads.push(r);
            }
        }
        if reads.is_empty() && self.cfg.text_fallback {
            reads = self.text_fallback(img, &vehicles, false)?;
            if reads.is_empty() {
                reads = self.text_fallback(img, &vehicles, true)?;
            }
        }
        reads.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
        // One read per physical plate: drop overlapping weaker ones.
        let mut out: Vec<PlateRead> = Vec::new();
        for r in reads {
            if out.iter().all(|o| o.bbox.iou(&r.bbox) < 0.3) {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Reads a plate whose corners (TL, TR, BR, BL) are known, e.g. from a
    /// tracked vehicle's earlier detection. `None` when nothing legible.
    pub fn read_plate(
        &mut self,
        img: &RgbImage,
        corners: &[Point; 4],
        det_score: f32,
    ) -> Result<Option<PlateRead>, VehiclesError> {
        let xs = corners.iter().map(|p| p.x);
        let ys = corners.iter().map(|p| p.y);
        let bbox = BBox::new(
            xs.clone().fold(f32::MAX, f32::min),
            ys.clone().fold(f32::MAX, f32::min),
            xs.fold(f32::MIN, f32::max),
            ys.fold(f32::MIN, f32::max),
        );
        let c = Candidate {
            det: PlateDetection {
                bbox,
                corners: *corners,
                score: det_score,
            },
            source: PlateSource::Image,
            vehicle: None,
        };
        self.read_candidate(img, &c)
    }

    /// The upright plate image OCR reads (height 48, width from the corners'
    /// aspect ratio, with the configured margins): also the plate crop for
    /// evidence. `None` for degenerate corners.
    pub fn rectify(&self, img: &RgbImage, corners: &[Point; 4]) -> Option<RgbImage> {
        let aspect = quad_aspect(corners);
        if !(0.8..=12.0).contains(&aspect) {
            return None;
        }
        let (mx, my) = (self.cfg.margin_x, self.cfg.margin_y);
        let h = REC_HEIGHT;
        let w = ((h as f32 * aspect * (1.0 + 2.0 * mx) / (1.0 + 2.0 * my)).round() as u32)
            .clamp(16, 640);
        warp_quad(img, corners, w, h, mx, my)
    }

    /// The main character line of a plate: rectify with generous margins at
    /// twice the OCR height, detect text, take the tallest region near the
    /// middle and join the regions on the same line (the detector splits at
    /// separators and emblems). `None` when no line is found.
    fn plate_line(
        &mut self,
        img: &RgbImage,
        corners: &[Point; 4],
    ) -> Result<Option<RgbImage>, VehiclesError> {
        let Some(det) = self.det.as_mut() else {
            return Ok(None);
        };
        let aspect = quad_aspect(corners);
        if !(0.8..=12.0).contains(&aspect) {
            return Ok(None);
        }
        let (mx, my) = (0.15f32, 0.30f32);
        let h = 2 * REC_HEIGHT;
        let w = ((h as f32 * aspect * (1.0 + 2.0 * mx) / (1.0 + 2.0 * my)).round() as u32)
            .clamp(32, 1280);
        let Some(canvas) = warp_quad(img, corners, w, h, mx, my) else {
            return Ok(None);
        };
        let long = (w.max(h)).div_ceil(32) * 32;
        let boxes = det.detect(&canvas, long)?;
        let (cw, ch) = (w as f32, h as f32);
        let Some(main) = boxes
            .iter()
            .filter(|b| {
                let c = b.bbox.center();
                c.y > 0.2 * ch && c.y < 0.8 * ch && b.bbox.width() > 0.15 * cw
            })
            .max_by(|a, b| a.bbox.height().total_cmp(&b.bbox.height()))
        else {
            return Ok(None);
        };
        let mut line = main.bbox;
        for b in &boxes {
            let overlap = (line.y2.min(b.bbox.y2) - line.y1.max(b.bbox.y1)).max(0.0);
            if b.bbox.height() >= 0.6 * main.bbox.height()
                && overlap >= 0.6 * b.bbox.height().min(main.bbox.height())
            {
                line = line.union(&b.bbox);
            }
        }
        if line.height() < 0.2 * ch {
            return Ok(None);
        }
        let pad = 0.08 * line.height();
        Ok(crop(
            &canvas,
            line.x1 - pad,
            line.y1 - pad,
            line.x2 + pad,
            line.y2 + pad,
        ))
    }

    /// The configured countries whose plates LPRNet reads (none when no
    /// country is configured: LPRNet only runs where a camera says it sees
    /// such plates, it would double every other camera's reading cost).
    fn lpr_countries(&self) -> Vec<String> {
        let lpr = self.formats.reader_countries(Reader::Lprnet);
        self.cfg
            .countries
            .iter()
            .filter(|c| lpr.iter().any(|l| l.eq_ignore_ascii_case(c)))
            .cloned()
            .collect()
    }

    /// Rectifies and reads one candidate: PP-OCR for the countries it
    /// reads, LPRNet for those it reads (Chinese plates), the more
    /// confident of the two where a camera lists both kinds.
    fn read_candidate(
        &mut self,
        img: &RgbImage,
        c: &Candidate,
    ) -> Result<Option<PlateRead>, VehiclesError> {
        let lpr_countries = self.lpr_countries();
        let ppocr = lpr_countries.len() < self.cfg.countries.len() || self.cfg.countries.is_empty();
        let by_ocr = if ppocr {
            self.read_ppocr(img, c)?
        } else {
            None
        };
        let by_lpr = if lpr_countries.is_empty() {
            None
        } else {
            self.read_lprnet(img, c, &lpr_countries)?
        };
        Ok(match (by_ocr, by_lpr) {
            (Some(a), Some(b)) => Some(if b.confidence > a.confidence { b } else { a }),
            (a, b) => a.or(b),
        })
    }

    /// LPRNet on the rectified plate, fitted to `countries`' LPRNet formats
    /// after its province character.
    fn read_lprnet(
        &mut self,
        img: &RgbImage,
        c: &Candidate,
        countries: &[String],
    ) -> Result<Option<PlateRead>, VehiclesError> {
        let Some(plate) = self.rectify(img, &c.det.corners) else {
            return Ok(None);
        };
        let net = match self.lpr.as_mut() {
            Some(n) => n,
            None => self.lpr.insert(LprNet::new(
                &self.models.0,
                &self.models.1,
                &self.cfg.session,
            )?),
        };
        let read = net.read(&plate)?;
        self.stats.crops_read += 1;
        let province = read.chars.first().copied().filter(|&(p, _)| is_province(p));
        let skip = usize::from(province.is_some());
        let rest = TextRead {
            chars: read.chars[skip..].to_vec(),
            alts: read.alts.get(skip..).unwrap_or_default().to_vec(),
        };
        let n = self
            .formats
            .normalize_read(&rest.chars, &rest.alts, countries, Reader::Lprnet);
        let mut r = self.scored(n, province, read.text(), plate_likeness(&rest), c);
        // A Chinese plate read without its province is incomplete.
        if let Some(r) = r.as_mut() {
            if province.is_none() && self.specific(r.format.as_deref()) {
                r.confidence *= 0.85;
            }
        }
        Ok(r)
    }

    /// PP-OCR reads of a candidate's crops, voted.
    fn read_ppocr(
        &mut self,
        img: &RgbImage,
        c: &Candidate,
    ) -> Result<Option<PlateRead>, VehiclesError> {
        let q = &c.det.corners;
        let aspect = quad_aspect(q);
        if !(0.8..=12.0).contains(&aspect) {
            return Ok(None);
        }
        let line = if self.cfg.line_isolation {
            self.plate_line(img, q)?
        } else {
            None
        };
        let mut crops: Vec<RgbImage> = Vec::with_capacity(2);
        let has_line = line.is_some();
        crops.extend(line);
        if !has_line || self.cfg.multi_read {
            crops.extend(self.rectify(img, q));
        }
        let stretches: &[f32] = if self.cfg.multi_read {
            &self.cfg.read_stretch
        } else {
            &[1.0]
        };
        if crops.is_empty() || stretches.is_empty() {
            return Ok(None);
        }
        self.stats.plates_read += 1;
        // With two crops (line and whole plate), read both at the widest
        // stretch first: when they agree, the other stretches could only
        // outvote them by agreeing on another text with more confidence,
        // which is rarer than the recogniser run is costly (a quarter of
        // the plates need it; measured in docs/performance.md).
        let widest = stretches.iter().copied().fold(f32::MIN, f32::max);
        let (first, rest): (Vec<f32>, Vec<f32>) = if self.cfg.early_accept && crops.len() > 1 {
            (
                vec![widest],
                stretches.iter().copied().filter(|&s| s != widest).collect(),
            )
        } else {
            (stretches.to_vec(), Vec::new())
        };
        let mut reads = self.read_crops(&crops, &first, c)?;
        if !rest.is_empty() && !Self::agreed(&reads) {
            reads.extend(self.read_crops(&crops, &rest, c)?);
        }
        for r in &reads {
            tracing::trace!(text = %r.text, raw = %r.raw_text, format = ?r.format, confidence = r.confidence, "plate hypothesis");
        }
        Ok(vote(reads))
    }

    /// Reads every crop at every stretch in one recogniser batch.
    fn read_crops(
        &mut self,
        crops: &[RgbImage],
        stretches: &[f32],
        c: &Candidate,
    ) -> Result<Vec<PlateRead>, VehiclesError> {
        let mut canvases = Vec::with_capacity(crops.len() * stretches.len());
        for &st in stretches {
            for c in crops {
                canvases.push(stretch(c, st));
            }
        }
        self.stats.crops_read += canvases.len() as u64;
        Ok(self
            .rec
            .recognize(&canvases)?
            .into_iter()
            .filter_map(|r| self.finish(r, c))
            .collect())
    }

    /// Whether a plate's reads (at least two) all give one text.
    fn agreed(reads: &[PlateRead]) -> bool {
        reads.len() > 1 && reads.iter().all(|r| r.text == reads[0].text)
    }

    /// Normalises a read and scores it.
    fn finish(&self, read: TextRead, c: &Candidate) -> Option<PlateRead> {
        let (mut chars, mut alts) = crate::formats::clean_read_alts(&read.chars, &read.alts);
        let confident = chars
            .iter()
            .filter(|&&(_, p)| p >= self.cfg.min_char_conf)
            .count();
        if confident >= 4 {
            let min = self.cfg.min_char_conf;
            (chars, alts) = chars
                .into_iter()
                .zip(alts)
                .filter(|&((_, p), _)| p >= min)
                .unzip();
        }
        let n = self
            .formats
            .normalize_alts(&chars, &alts, &self.cfg.countries);
        self.scored(n, None, read.text(), plate_likeness(&read), c)
    }

    /// Whether `format` names a specific (not catch-all) format.
    fn specific(&self, format: Option<&str>) -> bool {
        format
            .and_then(|f| self.formats.formats().iter().find(|x| x.name == f))
            .is_some_and(|f| !f.generic)
    }

    /// The plate read of a fitted text (with `province` in front, LPRNet's),
    /// scored: localisation × mean character confidence × how specific the
    /// format is × `likeness` (the share of plate characters in the read).
    /// `None` for a text under two characters.
    fn scored(
        &self,
        n: crate::formats::Normalized,
        province: Option<(char, f32)>,
        raw_text: String,
        likeness: f32,
        c: &Candidate,
    ) -> Option<PlateRead> {
        if n.text.len() < 2 {
            return None;
        }
        let mut text = String::new();
        let mut char_conf = Vec::with_capacity(n.char_conf.len() + 1);
        if let Some((p, conf)) = province {
            text.push(p);
            char_conf.push(conf);
        }
        text.push_str(&n.text);
        char_conf.extend(&n.char_conf);
        let mean = char_conf.iter().sum::<f32>() / char_conf.len() as f32;
        let fit = if n.format.is_none() {
            0.5
        } else if self.specific(n.format.as_deref()) {
            1.0
        } else {
            0.85
        };
        let confidence = (c.det.score.sqrt() * mean * fit * likeness).clamp(0.0, 1.0);
        Some(PlateRead {
            text,
            raw_text,
            format: n.format,
            bbox: c.det.bbox,
            corners: c.det.corners,
            confidence,
            char_conf,
            det_score: c.det.score,
            source: c.source,
            vehicle: c.vehicle,
        })
    }

    /// Text-detector fallback: text regions of plate-like shape in the lower
    /// 60 % of each vehicle (the whole box when it is cut off by the image's
    /// top edge; the whole image when no vehicle was found). With
    /// `contrast`, each region's luma is stretched to full range before
    /// detection (a second try for dim or washed-out plates, which the
    /// detector misses at low contrast); the text is read from the photo as
    /// it is.
    fn text_fallback(
        &mut self,
        img: &RgbImage,
        vehicles: &[Detection],
        contrast: bool,
    ) -> Result<Vec<PlateRead>, VehiclesError> {
        let (iw, ih) = (img.width() as f32, img.height() as f32);
        let regions: Vec<(BBox, Option<BBox>)> = if vehicles.is_empty() {
            vec![(BBox::new(0.0, 0.0, iw, ih), None)]
        } else {
            vehicles
                .iter()
                .take(3)
                .map(|v| {
                    let b = v.bbox;
                    // A box that starts at the image's top edge holds only
                    // the lower part of its vehicle (a truck or van close to
                    // the camera): its plate can sit anywhere in it.
                    let top = if b.y1 <= TRUNCATED_TOP * ih {
                        b.y1
                    } else {
                        b.y1 + 0.4 * b.height()
                    };
                    (BBox::new(b.x1, top, b.x2, b.y2).clamp(iw, ih), Some(b))
                })
                .collect()
        };
        let Some(det) = self.det.as_mut() else {
            return Ok(Vec::new());
        };
        let mut boxes: Vec<(BBox, f32, Option<BBox>)> = Vec::new();
        for (region, vehicle) in regions {
            let Some(sub) = crop(img, region.x1, region.y1, region.x2, region.y2) else {
                continue;
            };
            let sub = if contrast {
                crate::enhance::stretch_contrast(&sub, 0.02, 0.98)
            } else {
                sub
            };
            for t in det.detect(&sub, FALLBACK_LONG_SIDE)? {
                let b = t.bbox;
                let (w, h) = (b.width(), b.height());
                if h < 8.0 || !(1.5..=10.0).contains(&(w / h.max(1.0))) {
                    continue;
                }
                let b = BBox::new(
                    b.x1 + region.x1,
                    b.y1 + region.y1,
                    b.x2 + region.x1,
                    b.y2 + region.y1,
                );
                boxes.push((b, t.score, vehicle));
            }
        }
        boxes.sort_by(|a, b| (b.1 * b.0.area().sqrt()).total_cmp(&(a.1 * a.0.area().sqrt())));
        boxes.truncate(self.cfg.max_candidates);
        let crops: Vec<RgbImage> = boxes
            .iter()
            .filter_map(|(b, _, _)| crop(img, b.x1, b.y1, b.x2, b.y2))
            .collect();
        if crops.len() != boxes.len() {
            return Ok(Vec::new());
        }
        self.stats.plates_read += crops.len() as u64;
        self.stats.crops_read += crops.len() as u64;
        let reads = self.rec.recognize(&crops)?;
        let mut out = Vec::new();
        for ((b, score, vehicle), read) in boxes.into_iter().zip(reads) {
            let c = Candidate {
                det: PlateDetection {
                    bbox: b,
                    corners: quad_of(&b),
                    score: score * 0.8,
                },
                source: PlateSource::TextFallback,
                vehicle,
            };
            if let Some(r) = self.finish(read, &c) {
                // A text line with two or more characters beyond the plate
                // layout it was fitted to is other text on the vehicle or in
                // the picture (a phone number, a time stamp), not a plate.
                let surplus = canonical(&r.raw_text)
                    .chars()
                    .count()
                    .saturating_sub(r.text.chars().count());
                if r.text.len() >= 4 && r.format.is_some() && surplus <= 1 {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }
}

/// Share of a read's characters a plate can carry: letters are upper case
/// and the only punctuation is a separator (`-`, `·`, `.`, space). Dealer
/// frames ("GoPenske.com") and stickers read as lower case, which lowers
/// their confidence against the plate. (Colons and other punctuation are not
/// read at all: see `ocr::ctc_greedy`; a clock overlay is turned away by the
/// fallback's layout check instead.)
fn plate_likeness(read: &TextRead) -> f32 {
    let mut n = 0usize;
    let mut junk = 0usize;
    for &(c, _) in &read.chars {
        if base::plate_text::is_separator(c) {
            continue;
        }
        n += 1;
        if !(c.is_ascii_uppercase() || c.is_ascii_digit()) {
            junk += 1;
        }
    }
    if n == 0 {
        0.0
    } else {
        1.0 - junk as f32 / n as f32
    }
}

/// `img` resized to `factor` × its width, same height.
fn stretch(img: &RgbImage, factor: f32) -> RgbImage {
    if factor == 1.0 {
        return img.clone();
    }
    let w = ((img.width() as f32 * factor).round() as u32).max(1);
    crate::ocr::resize(img, w, img.height())
}

/// Picks one read among a plate's hypotheses: the text with the highest
/// summed confidence over the hypotheses that read it (ties: the higher
/// single confidence), reported as its most confident read. Summing rather
/// than taking the maximum lets two crops that agree outweigh one confident
/// misread; with one hypothesis it is the plain read.
fn vote(reads: Vec<PlateRead>) -> Option<PlateRead> {
    let mut best: Option<(f32, usize)> = None;
    for (i, r) in reads.iter().enumerate() {
        let score: f32 = reads
            .iter()
            .filter(|o| o.text == r.text)
            .map(|o| o.confidence)
            .sum();
        let better = best
            .is_none_or(|(s, b)| score > s || (score == s && r.confidence > reads[b].confidence));
        if better {
            best = Some((score, i));
        }
    }
    best.map(|(_, i)| reads[i].clone())
}

/// Merges candidates from the whole image and vehicle crops (the same plate
/// is usually found by both) and keeps the `max` best.
fn merge_candidates(cands: Vec<Candidate>, max: usize) -> Vec<Candidate> {
    let dets: Vec<PlateDetection> = cands.iter().map(|c| c.det).collect();
    let kept = nms(dets, 0.3);
    kept.into_iter()
        .take(max)
        .filter_map(|d| cands.iter().find(|c| c.det == d).copied())
        .collect()
}

/// Whether two plate texts are equal after canonicalisation.
pub fn same_plate(a: &str, b: &str) -> bool {
    canonical(a) == canonical(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str, confidence: f32) -> PlateRead {
        PlateRead {
            text: text.into(),
            raw_text: text.into(),
            format: None,
            bbox: BBox::new(0.0, 0.0, 10.0, 5.0),
            corners: [Point::default(); 4],
            confidence,
            char_conf: vec![confidence; text.len()],
            det_score: 1.0,
            source: PlateSource::Image,
            vehicle: None,
        }
    }

    #[test]
    fn agreeing_hypotheses_outvote_one_confident_misread() {
        let r = vote(vec![
            read("13GZD", 0.75),
            read("133GZD", 0.5),
            read("133GZD", 0.45),
        ])
        .unwrap();
        assert_eq!(r.text, "133GZD");
        // the group is reported as its most confident read
        assert_eq!(r.confidence, 0.5);
        // alone, the most confident read wins
        let r = vote(vec![read("13GZD", 0.75), read("133GZD", 0.5)]).unwrap();
        assert_eq!(r.text, "13GZD");
        assert!(vote(Vec::new()).is_none());
    }

    #[test]
    fn stretch_widens_only() {
        let img = RgbImage::new(40, 48);
        let s = stretch(&img, 1.5);
        assert_eq!((s.width(), s.height()), (60, 48));
        assert_eq!(stretch(&img, 1.0).dimensions(), (40, 48));
    }

    #[test]
    fn bad_read_stretch_is_refused_before_loading_models() {
        for bad in [vec![], vec![1.0, 0.0], vec![f32::NAN], vec![5.0]] {
            let cfg = AnprConfig {
                read_stretch: bad.clone(),
                ..AnprConfig::default()
            };
            let e =
                Anpr::new(&ModelManifest::embedded(), Path::new("/nonexistent"), cfg).unwrap_err();
            assert!(e.to_string().contains("read_stretch"), "{bad:?}: {e}");
        }
    }
}
