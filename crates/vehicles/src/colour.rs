//! Vehicle body colour from a vehicle crop, as a named colour with a
//! confidence, or [`VehicleColour::Unknown`] when the evidence is weak.
//!
//! No colour model exists in the models folder, so this is colour science,
//! not learning, and every step is there for a failure seen on real crops:
//!
//! 1. **Where to look.** A detector box holds body, glass, tyres, lights,
//!    plate and road. Whatever the viewpoint (front, rear, side, overhead),
//!    body panels fill the centre and the lower-middle of the box (bonnet,
//!    boot lid, doors, roof seen from above), while glass sits high, tyres
//!    and road at the bottom corners and the edges. Pixels are weighted by a
//!    centred Gaussian whose centre sits below the box centre.
//! 2. **Which pixels are paint.** Each sampled block (box-averaged, to
//!    remove noise) is converted to CIELAB, where distances follow
//!    perception and lightness is separate from hue, named, and votes with
//!    its prior weight. Glass, tyres, grille and shadow are dark and grey, so
//!    dark achromatic votes count less; chromatic votes count more, because
//!    nothing but paint is red or blue over a large part of a car.
//! 3. **Naming.** A colour is named by hue angle and chroma (`red`,
//!    `blue`…), or by lightness when the chroma is low (`white`, `silver`,
//!    `grey`, `black`). The chroma threshold scales with lightness because
//!    dark paint shows less chroma than light paint.
//! 4. **Doubt.** The confidence is the winner's vote share, lowered when the
//!    runner-up is close; below [`ColourConfig::min_confidence`] the answer
//!    is `unknown`.
//!
//! Known limits (measured, see `docs/evaluation.md`): dark green and dark
//! blue paint in shade has almost no chroma and reads as black; exposure
//! moves white/silver/grey across the lightness bands.

use crate::error::VehiclesError;
use image::RgbImage;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// A named vehicle body colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VehicleColour {
    White,
    Silver,
    Grey,
    Black,
    Red,
    Orange,
    Yellow,
    Green,
    Blue,
    Purple,
    Brown,
    Beige,
    /// Too little evidence for a name (small or blurred crop, mixed colours).
    Unknown,
}

impl VehicleColour {
    /// Every colour, `Unknown` last.
    pub const ALL: [VehicleColour; 13] = [
        VehicleColour::White,
        VehicleColour::Silver,
        VehicleColour::Grey,
        VehicleColour::Black,
        VehicleColour::Red,
        VehicleColour::Orange,
        VehicleColour::Yellow,
        VehicleColour::Green,
        VehicleColour::Blue,
        VehicleColour::Purple,
        VehicleColour::Brown,
        VehicleColour::Beige,
        VehicleColour::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            VehicleColour::White => "white",
            VehicleColour::Silver => "silver",
            VehicleColour::Grey => "grey",
            VehicleColour::Black => "black",
            VehicleColour::Red => "red",
            VehicleColour::Orange => "orange",
            VehicleColour::Yellow => "yellow",
            VehicleColour::Green => "green",
            VehicleColour::Blue => "blue",
            VehicleColour::Purple => "purple",
            VehicleColour::Brown => "brown",
            VehicleColour::Beige => "beige",
            VehicleColour::Unknown => "unknown",
        }
    }

    /// Whether the colour has no hue (white, silver, grey, black).
    pub fn is_achromatic(self) -> bool {
        matches!(
            self,
            VehicleColour::White
                | VehicleColour::Silver
                | VehicleColour::Grey
                | VehicleColour::Black
        )
    }
}

impl fmt::Display for VehicleColour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for VehicleColour {
    type Err = VehiclesError;

    /// Parses a name; `gray` is accepted for `grey`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase();
        let s = if s == "gray" { "grey".to_string() } else { s };
        VehicleColour::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| VehiclesError::InvalidInput(format!("unknown colour `{s}`")))
    }
}

/// A pixel in CIELAB (D65): `l` 0–100, `a` green–red, `b` blue–yellow.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Lab {
    pub l: f32,
    pub a: f32,
    pub b: f32,
}

impl Lab {
    pub fn chroma(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Hue angle in degrees, 0..360.
    pub fn hue(&self) -> f32 {
        let h = self.b.atan2(self.a).to_degrees();
        if h < 0.0 {
            h + 360.0
        } else {
            h
        }
    }

    /// CIE76 colour difference (about 2.3 is just noticeable): lets a
    /// search match "this colour" by distance instead of by name.
    pub fn delta_e(&self, o: &Lab) -> f32 {
        ((self.l - o.l).powi(2) + (self.a - o.a).powi(2) + (self.b - o.b).powi(2)).sqrt()
    }
}

fn srgb_to_linear(c: u8) -> f32 {
    let c = c as f32 / 255.0;
    if c <= 0.04045 {
        c / 12.92
    } else {
        ((c + 0.055) / 1.055).powf(2.4)
    }
}

/// sRGB (8 bit) to CIELAB, D65 white.
pub fn rgb_to_lab(rgb: [u8; 3]) -> Lab {
    let (r, g, b) = (
        srgb_to_linear(rgb[0]),
        srgb_to_linear(rgb[1]),
        srgb_to_linear(rgb[2]),
    );
    let x = (0.412_456_4 * r + 0.357_576_1 * g + 0.180_437_5 * b) / 0.950_47;
    let y = 0.212_672_9 * r + 0.715_152_2 * g + 0.072_175 * b;
    let z = (0.019_333_9 * r + 0.119_192 * g + 0.950_304_1 * b) / 1.088_83;
    let f = |t: f32| {
        if t > 0.008_856 {
            t.cbrt()
        } else {
            7.787 * t + 16.0 / 116.0
        }
    };
    let (fx, fy, fz) = (f(x), f(y), f(z));
    Lab {
        l: 116.0 * fy - 16.0,
        a: 500.0 * (fx - fy),
        b: 200.0 * (fy - fz),
    }
}

/// Settings of [`classify`]. The defaults were set on the labelled
/// development crops (see `docs/evaluation.md`).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ColourConfig {
    /// Crops are subsampled to about this many pixels on the long side:
    /// colour needs no detail and this keeps a crop under a millisecond.
    pub sample_side: u32,
    /// Centre of the body prior as fractions of the box (x, y).
    pub prior_centre: (f32, f32),
    /// Spread of the body prior as fractions of the box (x, y).
    pub prior_sigma: (f32, f32),
    /// Chroma above which a colour has a hue, at lightness 50; it scales
    /// with lightness (dark paint shows less chroma).
    pub chroma_threshold: f32,
    /// Factor on `chroma_threshold` for blue hues (sky reflections).
    pub blue_cast: f32,
    /// Vote weight of achromatic pixels darker than `dark_l`: glass,
    /// tyres, grille and shadow are dark, so they count less than paint.
    pub dark_l: f32,
    pub dark_weight: f32,
    /// Vote weight of chromatic pixels: only paint is coloured over a large
    /// area of a car (tail lights are small and off-centre).
    pub chromatic_weight: f32,
    /// Lightness boundaries: white above `white_l`, silver above `silver_l`,
    /// grey above `grey_l`, black below.
    pub white_l: f32,
    pub silver_l: f32,
    pub grey_l: f32,
    /// Below this confidence the answer is `unknown`.
    pub min_confidence: f32,
    /// Crops smaller than this (either side, pixels) are `unknown`.
    pub min_side: u32,
}

impl Default for ColourConfig {
    fn default() -> Self {
        ColourConfig {
            sample_side: 64,
            prior_centre: (0.5, 0.5),
            prior_sigma: (0.35, 0.3),
            chroma_threshold: 12.0,
            blue_cast: 1.4,
            dark_l: 35.0,
            dark_weight: 0.6,
            chromatic_weight: 2.0,
            white_l: 72.0,
            silver_l: 45.0,
            grey_l: 25.0,
            min_confidence: 0.15,
            min_side: 12,
        }
    }
}

/// Weighted vote of one colour name.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct ColourVote {
    pub name: VehicleColour,
    /// Share of the weighted votes, 0..1.
    pub share: f32,
}

/// The colour of one vehicle.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColourEstimate {
    /// The decision, `Unknown` when `confidence < min_confidence`.
    pub colour: VehicleColour,
    /// The winning name even when the decision is `Unknown`.
    pub best_guess: VehicleColour,
    /// 0..1: the winner's vote share, lowered when the runner-up is close.
    pub confidence: f32,
    /// Mean colour of the pixels that voted for the winner (for searches by
    /// colour distance).
    pub lab: Lab,
    /// Every name that got votes, largest share first (evidence).
    pub votes: Vec<ColourVote>,
}

impl ColourEstimate {
    fn unknown() -> Self {
        ColourEstimate {
            colour: VehicleColour::Unknown,
            best_guess: VehicleColour::Unknown,
            confidence: 0.0,
            lab: Lab {
                l: 0.0,
                a: 0.0,
                b: 0.0,
            },
            votes: Vec::new(),
        }
    }
}

/// Chroma needed for a hue at lightness `l`.
fn chroma_needed(cfg: &ColourConfig, l: f32) -> f32 {
    cfg.chroma_threshold * (0.55 + 0.9 * (l / 100.0).clamp(0.0, 1.0))
}

/// Names a Lab colour, with a margin in 0..1: how far it is from the nearest
/// naming boundary (0 = on a boundary).
pub fn name_lab(cfg: &ColourConfig, c: &Lab) -> (VehicleColour, f32) {
    let chroma = c.chroma();
    let mut need = chroma_needed(cfg, c.l);
    // Grey and silver paint mirrors the sky and daylight white balance
    // leaves a blue cast: a bluish tint needs more chroma to count as blue.
    if (200.0..315.0).contains(&c.hue()) {
        need *= cfg.blue_cast;
    }
    if chroma < need {
        // Achromatic: lightness bands. The margin is the distance to the
        // nearest band edge (in L units, saturating at 8) and to the hue edge.
        let bands = [
            (cfg.white_l, 101.0, VehicleColour::White),
            (cfg.silver_l, cfg.white_l, VehicleColour::Silver),
            (cfg.grey_l, cfg.silver_l, VehicleColour::Grey),
            (-1.0, cfg.grey_l, VehicleColour::Black),
        ];
        let (lo, hi, name) = bands.into_iter().find(|&(lo, _, _)| c.l >= lo).unwrap_or((
            -1.0,
            cfg.grey_l,
            VehicleColour::Black,
        ));
        let edge_l = ((c.l - lo).min(hi - c.l) / 8.0).clamp(0.0, 1.0);
        let edge_c = ((need - chroma) / need).clamp(0.0, 1.0);
        // White and black are open-ended at one side and only bounded by
        // chroma there: a far margin on the open side.
        let edge_l = match name {
            VehicleColour::White if c.l - lo > 8.0 => 1.0,
            VehicleColour::Black if hi - c.l > 8.0 => 1.0,
            _ => edge_l,
        };
        return (name, edge_l.min(0.5 + edge_c));
    }
    let h = c.hue();
    // Hue sectors in CIELAB degrees (sRGB red is at 40°, orange ~60°,
    // yellow ~100°, green ~135°, cyan ~195°, blue ~305°, magenta ~330°).
    let sectors: [(f32, f32, VehicleColour); 7] = [
        (-15.0, 50.0, VehicleColour::Red),
        (50.0, 75.0, VehicleColour::Orange),
        (75.0, 110.0, VehicleColour::Yellow),
        (110.0, 200.0, VehicleColour::Green),
        (200.0, 315.0, VehicleColour::Blue),
        (315.0, 345.0, VehicleColour::Purple),
        (345.0, 360.0, VehicleColour::Red),
    ];
    let hh = if h >= 345.0 { h - 360.0 } else { h };
    let (lo, hi, mut name) = sectors
        .into_iter()
        .find(|&(lo, hi, _)| hh >= lo && hh < hi)
        .unwrap_or((-15.0, 50.0, VehicleColour::Red));
    let edge_h = ((hh - lo).min(hi - hh) / 10.0).clamp(0.0, 1.0);
    let edge_c = ((chroma - need) / need).clamp(0.0, 1.0);
    // Orange and yellow hues at low lightness or low chroma are brown, at
    // high lightness and low chroma beige (cream, champagne, sand).
    if matches!(name, VehicleColour::Orange | VehicleColour::Yellow)
        || (name == VehicleColour::Red && hh > 35.0 && chroma < 30.0)
    {
        if c.l < 45.0 || (c.l < 60.0 && chroma < 35.0) {
            name = VehicleColour::Brown;
        } else if chroma < 30.0 {
            name = VehicleColour::Beige;
        }
    }
    (name, edge_h.min(edge_c + 0.3).min(1.0))
}

/// Box-averaged body-region pixels as (Lab, prior weight): averaging each
/// block before conversion removes JPEG and sensor noise that would
/// otherwise scatter votes.
fn sample(img: &RgbImage, cfg: &ColourConfig) -> Vec<(Lab, f32)> {
    let (w, h) = img.dimensions();
    let step = (w.max(h) / cfg.sample_side.max(8)).max(1);
    let (cx, cy) = cfg.prior_centre;
    let (sx, sy) = cfg.prior_sigma;
    let mut out = Vec::with_capacity(((w / step + 1) * (h / step + 1)) as usize);
    let mut y0 = 0;
    while y0 + step <= h {
        let fy = (y0 as f32 + step as f32 / 2.0) / h as f32;
        let mut x0 = 0;
        while x0 + step <= w {
            let fx = (x0 as f32 + step as f32 / 2.0) / w as f32;
            let wgt = (-0.5 * (((fx - cx) / sx).powi(2) + ((fy - cy) / sy).powi(2))).exp();
            if wgt > 0.05 {
                let mut acc = [0u32; 3];
                for y in y0..y0 + step {
                    for x in x0..x0 + step {
                        let p = img.get_pixel(x, y).0;
                        for k in 0..3 {
                            acc[k] += p[k] as u32;
                        }
                    }
                }
                let n = step * step;
                let avg = acc.map(|v| ((v + n / 2) / n) as u8);
                out.push((rgb_to_lab(avg), wgt));
            }
            x0 += step;
        }
        y0 += step;
    }
    out
}

/// The colour of the vehicle in `crop` (the detector box's pixels).
///
/// Every sampled pixel is named and votes with its prior weight. Dark
/// achromatic pixels (glass, tyres, grille, shadow under the car) vote with
/// [`ColourConfig::dark_weight`], so a white car's windscreen does not
/// outvote its bonnet, while a black car, having nothing else, still wins
/// as black. Chromatic pixels vote with [`ColourConfig::chromatic_weight`]:
/// nothing but paint is red or blue over a large part of a car.
pub fn classify(crop: &RgbImage, cfg: &ColourConfig) -> ColourEstimate {
    if crop.width() < cfg.min_side || crop.height() < cfg.min_side {
        return ColourEstimate::unknown();
    }
    let px = sample(crop, cfg);
    if px.len() < 16 {
        return ColourEstimate::unknown();
    }
    let mut acc: Vec<(VehicleColour, f32, [f32; 3])> = Vec::new();
    for (lab, w) in &px {
        let (name, _) = name_lab(cfg, lab);
        let w = if name.is_achromatic() {
            if lab.l < cfg.dark_l {
                w * cfg.dark_weight
            } else {
                *w
            }
        } else {
            w * cfg.chromatic_weight
        };
        match acc.iter_mut().find(|a| a.0 == name) {
            Some(a) => {
                a.1 += w;
                a.2[0] += lab.l * w;
                a.2[1] += lab.a * w;
                a.2[2] += lab.b * w;
            }
            None => acc.push((name, w, [lab.l * w, lab.a * w, lab.b * w])),
        }
    }
    let total: f32 = acc.iter().map(|a| a.1).sum::<f32>().max(1e-6);
    acc.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (name, wsum, sums) = acc[0];
    let share = wsum / total;
    let second = acc.get(1).map_or(0.0, |a| a.1 / total);
    // A clear winner (share well above the runner-up) is confident; a tie
    // between, say, silver and white is not.
    let confidence = (share * (0.5 + 0.5 * ((share - second) / share.max(1e-6)))).clamp(0.0, 1.0);
    ColourEstimate {
        colour: if confidence >= cfg.min_confidence {
            name
        } else {
            VehicleColour::Unknown
        },
        best_guess: name,
        confidence,
        lab: Lab {
            l: sums[0] / wsum,
            a: sums[1] / wsum,
            b: sums[2] / wsum,
        },
        votes: acc
            .iter()
            .map(|a| ColourVote {
                name: a.0,
                share: a.1 / total,
            })
            .collect(),
    }
}

/// One labelled vehicle: `path,x,y,w,h,colour` in a CSV file.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColourLabel {
    /// Relative to the data root; a video frame is `videos/<file>#t=<seconds>`.
    pub path: String,
    /// Vehicle box in pixels (x, y, w, h).
    pub bbox: [u32; 4],
    pub colour: VehicleColour,
}

/// The labelled development crops shipped with the crate
/// (`testdata/colour_labels.csv`, paths relative to the data root), so
/// `kuzet eval colours <data-root>` needs no other file.
pub const BUILTIN_COLOUR_LABELS: &str = include_str!("../testdata/colour_labels.csv");

/// Parses [`BUILTIN_COLOUR_LABELS`].
pub fn builtin_colour_labels() -> Result<Vec<ColourLabel>, VehiclesError> {
    parse_colour_labels(
        BUILTIN_COLOUR_LABELS,
        Path::new("testdata/colour_labels.csv"),
    )
}

/// Reads a colour labels file (`path,x,y,w,h,colour`).
pub fn read_colour_labels(path: &Path) -> Result<Vec<ColourLabel>, VehiclesError> {
    let text = std::fs::read_to_string(path).map_err(|e| VehiclesError::Labels {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    parse_colour_labels(&text, path)
}

/// Parses `path,x,y,w,h,colour` rows; the header row and `#` comment lines
/// are skipped. `origin` names the file in errors.
pub fn parse_colour_labels(text: &str, origin: &Path) -> Result<Vec<ColourLabel>, VehiclesError> {
    let bad = |line: usize, reason: String| VehiclesError::Labels {
        path: origin.to_path_buf(),
        reason: format!("line {line}: {reason}"),
    };
    // `#` comment lines keep this file out of `labels_csv::Table`; its
    // field rule (quotes) and the byte-order mark of spreadsheet exports
    // still apply.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f = base::labels_csv::fields(line);
        if f[0].eq_ignore_ascii_case("path") {
            continue;
        }
        if f.len() != 6 {
            return Err(bad(i + 1, format!("expected 6 fields, got {}", f.len())));
        }
        let mut bbox = [0u32; 4];
        for (k, v) in bbox.iter_mut().enumerate() {
            *v = f[k + 1]
                .parse()
                .map_err(|_| bad(i + 1, format!("bad number `{}`", f[k + 1])))?;
        }
        if bbox[2] == 0 || bbox[3] == 0 {
            return Err(bad(i + 1, "empty box".into()));
        }
        let colour = f[5]
            .parse()
            .map_err(|e: VehiclesError| bad(i + 1, e.to_string()))?;
        rows.push(ColourLabel {
            path: f[0].to_string(),
            bbox,
            colour,
        });
    }
    Ok(rows)
}

/// Loads a labelled image, or decodes the frame of a `file#t=<seconds>`
/// video reference with the `ffmpeg` command (evaluation only: the
/// pipeline gets its frames from `kuzet-media`).
pub fn load_labelled_image(data_root: &Path, rel: &str) -> Result<RgbImage, VehiclesError> {
    let Some((file, t)) = rel.split_once("#t=") else {
        return crate::eval::load_image(&data_root.join(rel));
    };
    let path = data_root.join(file);
    let secs: f64 = t.parse().map_err(|_| VehiclesError::Image {
        path: path.clone(),
        reason: format!("bad time `{t}` (want `#t=<seconds>`)"),
    })?;
    let out = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-ss", &format!("{secs:.3}"), "-i"])
        .arg(&path)
        .args(["-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"])
        .output()
        .map_err(|e| VehiclesError::Image {
            path: path.clone(),
            reason: format!("cannot run ffmpeg to decode a video frame: {e}"),
        })?;
    if !out.status.success() || out.stdout.is_empty() {
        return Err(VehiclesError::Image {
            path,
            reason: format!(
                "ffmpeg could not decode the frame at {secs} s: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
        });
    }
    image::load_from_memory(&out.stdout)
        .map(|i| i.to_rgb8())
        .map_err(|e| VehiclesError::Image {
            path,
            reason: e.to_string(),
        })
}

/// One evaluated crop.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColourEvalItem {
    pub path: String,
    pub bbox: [u32; 4],
    pub truth: VehicleColour,
    pub predicted: VehicleColour,
    pub best_guess: VehicleColour,
    pub confidence: f32,
    /// The votes the decision was made from (evidence for a reviewer).
    pub votes: Vec<ColourVote>,
}

/// Accuracy report of [`evaluate`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ColourReport {
    pub crops: usize,
    /// Predicted name equal to the label (`unknown` counts as wrong).
    pub correct: usize,
    pub accuracy: f32,
    /// Crops answered `unknown`.
    pub unknown: usize,
    /// Accuracy over the crops that got a name.
    pub accuracy_when_named: f32,
    /// Accuracy when silver and grey count as one colour: the boundary
    /// between them is a matter of taste even for human labellers.
    pub accuracy_silver_grey_merged: f32,
    /// truth → predicted → count.
    pub confusion: BTreeMap<VehicleColour, BTreeMap<VehicleColour, usize>>,
    pub items: Vec<ColourEvalItem>,
}

/// Classifies every labelled crop and compares with its label.
pub fn evaluate(
    data_root: &Path,
    labels: &[ColourLabel],
    cfg: &ColourConfig,
) -> Result<ColourReport, VehiclesError> {
    let mut cache: HashMap<String, RgbImage> = HashMap::new();
    let mut items = Vec::with_capacity(labels.len());
    for l in labels {
        if !cache.contains_key(&l.path) {
            let img = load_labelled_image(data_root, &l.path)?;
            cache.insert(l.path.clone(), img);
        }
        let img = &cache[&l.path];
        let [x, y, w, h] = l.bbox;
        let Some(c) =
            crate::geometry::crop(img, x as f32, y as f32, (x + w) as f32, (y + h) as f32)
        else {
            return Err(VehiclesError::InvalidInput(format!(
                "{}: box {:?} lies outside the {}x{} image",
                l.path,
                l.bbox,
                img.width(),
                img.height()
            )));
        };
        let e = classify(&c, cfg);
        items.push(ColourEvalItem {
            path: l.path.clone(),
            bbox: l.bbox,
            truth: l.colour,
            predicted: e.colour,
            best_guess: e.best_guess,
            confidence: e.confidence,
            votes: e.votes,
        });
    }
    let n = items.len();
    let correct = items.iter().filter(|i| i.truth == i.predicted).count();
    let unknown = items
        .iter()
        .filter(|i| i.predicted == VehicleColour::Unknown)
        .count();
    let sg = |c: VehicleColour| {
        if c == VehicleColour::Silver {
            VehicleColour::Grey
        } else {
            c
        }
    };
    let merged = items
        .iter()
        .filter(|i| sg(i.truth) == sg(i.predicted))
        .count();
    let mut confusion: BTreeMap<VehicleColour, BTreeMap<VehicleColour, usize>> = BTreeMap::new();
    for i in &items {
        *confusion
            .entry(i.truth)
            .or_default()
            .entry(i.predicted)
            .or_default() += 1;
    }
    let rate = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f32 / b as f32 };
    Ok(ColourReport {
        crops: n,
        correct,
        accuracy: rate(correct, n),
        unknown,
        accuracy_when_named: rate(correct, n - unknown),
        accuracy_silver_grey_merged: rate(merged, n),
        confusion,
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A crude car seen from the front: paint body, dark windscreen on top,
    /// black tyres at the bottom corners, grey road around.
    fn car(paint: [u8; 3]) -> RgbImage {
        RgbImage::from_fn(120, 90, |x, y| {
            let (fx, fy) = (x as f32 / 120.0, y as f32 / 90.0);
            let px = if fy > 0.88 && !(0.15..=0.85).contains(&fx) {
                [20, 20, 20]
            } else if fy > 0.92 {
                [110, 110, 112]
            } else if (0.12..0.42).contains(&fy) && (0.15..0.85).contains(&fx) {
                [35, 40, 48]
            } else if !(0.05..=0.95).contains(&fx) {
                [110, 110, 112]
            } else {
                // a little shading across the body
                let s = 0.85 + 0.15 * fx;
                [
                    (paint[0] as f32 * s) as u8,
                    (paint[1] as f32 * s) as u8,
                    (paint[2] as f32 * s) as u8,
                ]
            };
            Rgb(px)
        })
    }

    #[test]
    fn lab_of_primaries_is_standard() {
        let w = rgb_to_lab([255, 255, 255]);
        assert!((w.l - 100.0).abs() < 0.5 && w.chroma() < 1.0, "{w:?}");
        let r = rgb_to_lab([255, 0, 0]);
        assert!(
            (r.l - 53.2).abs() < 0.5 && (r.hue() - 40.0).abs() < 2.0,
            "{r:?}"
        );
        let b = rgb_to_lab([0, 0, 255]);
        assert!((b.hue() - 306.3).abs() < 2.0, "{b:?}");
    }

    #[test]
    fn painted_cars_get_their_colour_despite_glass_tyres_and_road() {
        let cfg = ColourConfig::default();
        for (paint, want) in [
            ([190, 25, 30], VehicleColour::Red),
            ([25, 55, 150], VehicleColour::Blue),
            ([235, 236, 238], VehicleColour::White),
            ([18, 18, 20], VehicleColour::Black),
            ([30, 110, 50], VehicleColour::Green),
            ([230, 200, 20], VehicleColour::Yellow),
            ([165, 168, 172], VehicleColour::Silver),
            ([95, 97, 100], VehicleColour::Grey),
            ([100, 65, 35], VehicleColour::Brown),
        ] {
            let e = classify(&car(paint), &cfg);
            assert_eq!(e.colour, want, "paint {paint:?}: {e:?}");
            assert!(e.confidence > 0.3, "paint {paint:?}: {e:?}");
        }
    }

    #[test]
    fn a_tiny_or_mixed_crop_is_unknown() {
        let cfg = ColourConfig::default();
        let tiny = RgbImage::from_pixel(6, 6, Rgb([200, 0, 0]));
        assert_eq!(classify(&tiny, &cfg).colour, VehicleColour::Unknown);
        // Four equal quadrants of unrelated colours: no dominant paint.
        let mixed = RgbImage::from_fn(80, 80, |x, y| {
            Rgb(match (x * 4 / 80, y * 4 / 80) {
                (a, b) if (a + b) % 4 == 0 => [200, 20, 20],
                (a, b) if (a + b) % 4 == 1 => [20, 150, 30],
                (a, b) if (a + b) % 4 == 2 => [20, 40, 200],
                _ => [220, 200, 30],
            })
        });
        let e = classify(&mixed, &cfg);
        assert!(e.confidence < 0.6, "{e:?}");
    }

    #[test]
    fn names_parse_and_print() {
        for c in VehicleColour::ALL {
            assert_eq!(c.as_str().parse::<VehicleColour>().unwrap(), c);
        }
        assert_eq!(
            "Gray".parse::<VehicleColour>().unwrap(),
            VehicleColour::Grey
        );
        assert!("mauve".parse::<VehicleColour>().is_err());
        assert_eq!(
            serde_json::to_string(&VehicleColour::Silver).unwrap(),
            "\"silver\""
        );
    }

    #[test]
    fn colour_labels_take_spreadsheet_exports_and_name_bad_lines() {
        let origin = Path::new("labels.csv");
        let plain = "# hand labels\npath,x,y,w,h,colour\nplates/us/a.jpg,1,2,30,40,red\n";
        let excel = "\u{feff}# hand labels\r\n\"path\",x,y,w,h,colour\r\n\r\n\"plates/us/a.jpg\", 1,2,30,40,Red\r\n";
        let a = parse_colour_labels(plain, origin).unwrap();
        assert_eq!(a.len(), 1);
        assert_eq!(a, parse_colour_labels(excel, origin).unwrap());
        assert_eq!(a[0].bbox, [1, 2, 30, 40]);
        let err = parse_colour_labels("path,x\nb.jpg,1,2,0,4,red\n", origin)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("empty box"), "{err}");
    }
}
