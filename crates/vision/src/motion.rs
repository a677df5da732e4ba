//! Motion gating, as Frigate does it: run the (expensive) object detector only
//! where something changed.
//!
//! Per frame: box-filter downscale to grayscale in one pass over the RGB bytes
//! (e.g. 768×576 → 320×240), compare with a running-average background, keep
//! pixels differing by more than `threshold`, drop those under static masks
//! (timestamps, trees in the wind), dilate, label connected components, map
//! their boxes back to full-frame pixels, merge boxes that touch, and drop
//! regions whose changed area is under `min_area` of the frame.
//! [`regions_to_rois`] then turns regions into detector inputs with context.

use base::{BBox, Frame, Point, Polygon};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MotionConfig {
    /// Gray-level difference from the background that counts as change.
    pub threshold: u8,
    /// Smallest region kept, as a fraction of the frame's area (counted in
    /// changed pixels, so a thin line across the frame is not "big").
    pub min_area: f32,
    /// Background learning rate per frame (0..1): higher forgets parked cars
    /// and lighting drift faster, lower keeps slow movers visible longer.
    pub alpha: f32,
    /// Width of the analysis image; height keeps the aspect ratio.
    pub downscale_width: u32,
    /// Areas to ignore, vertices normalised 0..1 (x right, y down).
    pub masks: Vec<Polygon>,
    /// Dilation radius in analysis pixels; joins the fragments of one object.
    pub dilate: u32,
    /// Regions closer than this (analysis pixels) are merged.
    pub merge_gap: u32,
    /// When more than this fraction of the frame changes at once (lights
    /// switched, camera moved, IR mode), the background is reset to the
    /// current frame and the whole frame is reported once.
    pub recalibrate_fraction: f32,
}

impl Default for MotionConfig {
    fn default() -> Self {
        MotionConfig {
            threshold: 25,
            min_area: 0.001,
            alpha: 0.05,
            downscale_width: 320,
            masks: Vec::new(),
            dilate: 2,
            merge_gap: 4,
            recalibrate_fraction: 0.7,
        }
    }
}

/// Outcome for one frame.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MotionResult {
    /// Changed regions in full-frame pixel coordinates.
    pub regions: Vec<BBox>,
    /// Fraction of (unmasked) analysis pixels over the threshold, before dilation.
    pub changed_fraction: f32,
}

impl MotionResult {
    pub fn has_motion(&self) -> bool {
        !self.regions.is_empty()
    }
}

/// Running-average background subtractor; one per camera.
#[derive(Debug)]
pub struct MotionDetector {
    cfg: MotionConfig,
    /// Frame size the buffers were built for.
    frame_w: u32,
    frame_h: u32,
    dw: usize,
    dh: usize,
    /// Analysis column c covers input columns col_start[c]..col_start[c+1];
    /// likewise rows.
    col_start: Vec<u32>,
    row_start: Vec<u32>,
    /// 1 / (input columns of each analysis column).
    inv_cols: Vec<f32>,
    gray: Vec<u8>,
    /// Per-channel column sums of one analysis row's input rows; u16 (twice
    /// the SIMD lanes of u32) is enough for up to 257 rows per analysis row,
    /// and `setup` widens the analysis image if a frame is taller than that.
    acc: Vec<u16>,
    /// Prefix sums of weighted gray along one analysis row.
    prefix: Vec<u32>,
    background: Vec<f32>,
    /// 1 where a static mask hides the pixel.
    masked: Vec<u8>,
    unmasked_pixels: usize,
    changed: Vec<u8>,
    tmp: Vec<u8>,
    labels: Vec<u32>,
    stack: Vec<u32>,
    initialised: bool,
}

impl MotionDetector {
    pub fn new(cfg: MotionConfig) -> Self {
        MotionDetector {
            cfg,
            frame_w: 0,
            frame_h: 0,
            dw: 0,
            dh: 0,
            col_start: Vec::new(),
            row_start: Vec::new(),
            inv_cols: Vec::new(),
            prefix: Vec::new(),
            gray: Vec::new(),
            acc: Vec::new(),
            background: Vec::new(),
            masked: Vec::new(),
            unmasked_pixels: 0,
            changed: Vec::new(),
            tmp: Vec::new(),
            labels: Vec::new(),
            stack: Vec::new(),
            initialised: false,
        }
    }

    pub fn config(&self) -> &MotionConfig {
        &self.cfg
    }

    /// Forgets the background: the next frame counts as all motion.
    pub fn reset(&mut self) {
        self.initialised = false;
    }

    fn setup(&mut self, w: u32, h: u32) {
        // Keep analysis rows under ~200 input rows each (u16 row sums).
        let min_dw = (w as usize).div_ceil(200);
        let dw = (self.cfg.downscale_width as usize)
            .max(min_dw)
            .clamp(1, w.max(1) as usize);
        let dh =
            ((h as f64 * dw as f64 / w.max(1) as f64).round() as usize).clamp(1, h.max(1) as usize);
        self.frame_w = w;
        self.frame_h = h;
        self.dw = dw;
        self.dh = dh;
        self.col_start = (0..=dw).map(|c| (c * w as usize / dw) as u32).collect();
        self.row_start = (0..=dh).map(|r| (r * h as usize / dh) as u32).collect();
        self.inv_cols = self
            .col_start
            .windows(2)
            .map(|p| 1.0 / (p[1] - p[0]).max(1) as f32)
            .collect();
        self.gray = vec![0; dw * dh];
        self.acc = vec![0; w as usize * 3];
        self.prefix = vec![0; w as usize + 1];
        self.background = vec![0.0; dw * dh];
        self.changed = vec![0; dw * dh];
        self.tmp = vec![0; dw * dh];
        self.labels = vec![0; dw * dh];
        self.masked = vec![0; dw * dh];
        let polys: Vec<Polygon> = self
            .cfg
            .masks
            .iter()
            .map(|p| p.to_pixels(dw as f32, dh as f32))
            .collect();
        if !polys.is_empty() {
            for y in 0..dh {
                for x in 0..dw {
                    let c = Point::new(x as f32 + 0.5, y as f32 + 0.5);
                    if polys.iter().any(|p| p.contains(c)) {
                        self.masked[y * dw + x] = 1;
                    }
                }
            }
        }
        self.unmasked_pixels = self.masked.iter().filter(|&&m| m == 0).count().max(1);
        self.initialised = false;
    }

    /// Box-filter downscale of packed RGB8 to gray (BT.601 weights), one pass
    /// over the bytes: each analysis row first sums its input rows channel by
    /// channel (a straight u8→u32 add the compiler vectorises), then each
    /// analysis column sums its contiguous run of input columns.
    fn downscale(&mut self, rgb: &[u8]) {
        let (w, dw) = (self.frame_w as usize, self.dw);
        for r in 0..self.dh {
            let (y0, y1) = (self.row_start[r] as usize, self.row_start[r + 1] as usize);
            self.acc.fill(0);
            for y in y0..y1 {
                let row = &rgb[y * w * 3..(y + 1) * w * 3];
                for (a, &b) in self.acc.iter_mut().zip(row) {
                    *a += u16::from(b);
                }
            }
            // Weighted gray per input column, as a running (prefix) sum so
            // each analysis column is one subtraction; multiply by
            // reciprocals (an integer division per output pixel cost more
            // than all the additions together).
            let mut run = 0u32;
            self.prefix[0] = 0;
            for (p, px) in self.prefix[1..].iter_mut().zip(self.acc.chunks_exact(3)) {
                run += 77 * u32::from(px[0]) + 150 * u32::from(px[1]) + 29 * u32::from(px[2]);
                *p = run;
            }
            let inv_rows = 1.0 / (256.0 * (y1 - y0).max(1) as f32);
            let out = &mut self.gray[r * dw..(r + 1) * dw];
            for ((o, cs), &inv) in out
                .iter_mut()
                .zip(self.col_start.windows(2))
                .zip(&self.inv_cols)
            {
                let sum = (self.prefix[cs[1] as usize] - self.prefix[cs[0] as usize]) as f32;
                *o = (sum * inv_rows * inv + 0.5) as u8;
            }
        }
    }

    /// Analyses one frame and updates the background.
    ///
    /// The first frame (or the first after a size change or [`reset`]) has
    /// no background to compare with: it is reported as all motion.
    ///
    /// [`reset`]: MotionDetector::reset
    pub fn detect(&mut self, frame: &Frame) -> MotionResult {
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 || frame.rgb.len() < w as usize * h as usize * 3 {
            return MotionResult::default();
        }
        if w != self.frame_w || h != self.frame_h {
            self.setup(w, h);
        }
        self.downscale(&frame.rgb);
        let full = BBox::new(0.0, 0.0, w as f32, h as f32);
        if !self.initialised {
            for (b, &g) in self.background.iter_mut().zip(&self.gray) {
                *b = f32::from(g);
            }
            self.initialised = true;
            return MotionResult {
                regions: vec![full],
                changed_fraction: 1.0,
            };
        }

        let thr = f32::from(self.cfg.threshold);
        let alpha = self.cfg.alpha.clamp(0.0, 1.0);
        let mut changed = 0usize;
        for (((c, b), &g), &m) in self
            .changed
            .iter_mut()
            .zip(self.background.iter_mut())
            .zip(&self.gray)
            .zip(&self.masked)
        {
            let g = f32::from(g);
            let hit = m == 0 && (g - *b).abs() > thr;
            *c = u8::from(hit);
            changed += usize::from(hit);
            *b += alpha * (g - *b);
        }
        let changed_fraction = changed as f32 / self.unmasked_pixels as f32;
        if changed_fraction > self.cfg.recalibrate_fraction {
            for (b, &g) in self.background.iter_mut().zip(&self.gray) {
                *b = f32::from(g);
            }
            return MotionResult {
                regions: vec![full],
                changed_fraction,
            };
        }
        if changed == 0 {
            return MotionResult {
                regions: Vec::new(),
                changed_fraction,
            };
        }
        self.dilate();
        let comps = self.components();
        let min_px = self.cfg.min_area * (self.dw * self.dh) as f32;
        let gap = self.cfg.merge_gap as f32;
        let merged = merge_boxes(comps, gap);
        let (sx, sy) = (w as f32 / self.dw as f32, h as f32 / self.dh as f32);
        let regions = merged
            .into_iter()
            .filter(|(_, px)| *px as f32 >= min_px)
            .map(|(b, _)| {
                BBox::new(b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy).clamp(w as f32, h as f32)
            })
            .collect();
        MotionResult {
            regions,
            changed_fraction,
        }
    }

    /// Separable square dilation of `changed` by `cfg.dilate`.
    fn dilate(&mut self) {
        let r = self.cfg.dilate as usize;
        if r == 0 {
            return;
        }
        let (dw, dh) = (self.dw, self.dh);
        // Horizontal: changed -> tmp.
        for y in 0..dh {
            let src = &self.changed[y * dw..(y + 1) * dw];
            let dst = &mut self.tmp[y * dw..(y + 1) * dw];
            dst.fill(0);
            for (x, _) in src.iter().enumerate().filter(|(_, &v)| v != 0) {
                dst[x.saturating_sub(r)..(x + r + 1).min(dw)].fill(1);
            }
        }
        // Vertical: tmp -> changed. Pixels that really changed keep bit 2 so
        // region areas count changed pixels, not the dilation's halo (which
        // made every one-pixel speck of sensor noise look like a 5×5 object).
        for v in self.changed.iter_mut() {
            *v = if *v != 0 { 2 } else { 0 };
        }
        for y in 0..dh {
            let y0 = y.saturating_sub(r);
            let y1 = (y + r + 1).min(dh);
            for x in 0..dw {
                if self.tmp[y * dw + x] != 0 {
                    for yy in y0..y1 {
                        self.changed[yy * dw + x] |= 1;
                    }
                }
            }
        }
    }

    /// 4-connected components of `changed`: (box in analysis pixels, changed
    /// pixel count).
    fn components(&mut self) -> Vec<(BBox, usize)> {
        let (dw, dh) = (self.dw, self.dh);
        self.labels.fill(0);
        let mut out = Vec::new();
        let mut next = 0u32;
        for start in 0..dw * dh {
            if self.changed[start] == 0 || self.labels[start] != 0 {
                continue;
            }
            next += 1;
            let (mut x1, mut y1, mut x2, mut y2) = (usize::MAX, usize::MAX, 0, 0);
            let mut count = 0;
            self.stack.clear();
            self.stack.push(start as u32);
            self.labels[start] = next;
            while let Some(i) = self.stack.pop() {
                let i = i as usize;
                let (x, y) = (i % dw, i / dw);
                count += usize::from(self.changed[i] & 2 != 0 || self.cfg.dilate == 0);
                x1 = x1.min(x);
                y1 = y1.min(y);
                x2 = x2.max(x);
                y2 = y2.max(y);
                let mut visit = |j: usize| {
                    if self.changed[j] != 0 && self.labels[j] == 0 {
                        self.labels[j] = next;
                        self.stack.push(j as u32);
                    }
                };
                if x > 0 {
                    visit(i - 1);
                }
                if x + 1 < dw {
                    visit(i + 1);
                }
                if y > 0 {
                    visit(i - dw);
                }
                if y + 1 < dh {
                    visit(i + dw);
                }
            }
            out.push((
                BBox::new(x1 as f32, y1 as f32, (x2 + 1) as f32, (y2 + 1) as f32),
                count,
            ));
        }
        out
    }
}

fn near(a: &BBox, b: &BBox, gap: f32) -> bool {
    a.x1 <= b.x2 + gap && b.x1 <= a.x2 + gap && a.y1 <= b.y2 + gap && b.y1 <= a.y2 + gap
}

/// Unions boxes that overlap or lie within `gap` of each other, until none do.
/// Carries a weight (pixel count) that is summed.
fn merge_boxes(mut boxes: Vec<(BBox, usize)>, gap: f32) -> Vec<(BBox, usize)> {
    loop {
        let mut merged_any = false;
        let mut out: Vec<(BBox, usize)> = Vec::with_capacity(boxes.len());
        for (b, n) in boxes {
            if let Some(o) = out.iter_mut().find(|(o, _)| near(o, &b, gap)) {
                o.0 = o.0.union(&b);
                o.1 += n;
                merged_any = true;
            } else {
                out.push((b, n));
            }
        }
        boxes = out;
        if !merged_any {
            return boxes;
        }
    }
}

/// How motion regions become detector ROIs.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct RoiConfig {
    /// Smallest ROI side in frame pixels (the detector's input size: a crop
    /// smaller than this would be upscaled, which helps nobody).
    pub min_side: f32,
    /// Grow each region by this fraction of its size (0.5 = +50%) so the
    /// detector sees the whole object, not just its moving part.
    pub grow: f32,
    /// If the ROIs together cover more than this fraction of the frame, run
    /// on the whole frame instead (one full pass is cheaper than overlaps).
    pub full_frame_fraction: f32,
}

impl Default for RoiConfig {
    fn default() -> Self {
        RoiConfig {
            min_side: 416.0,
            grow: 0.5,
            full_frame_fraction: 0.6,
        }
    }
}

/// Turns motion regions into square-ish detector ROIs in frame pixels: each
/// grown by `grow`, made at least `min_side` square (centred, shifted inside
/// the frame), overlapping ones merged; the whole frame when they cover more
/// than `full_frame_fraction` of it. Empty input gives no ROIs.
pub fn regions_to_rois(regions: &[BBox], frame_w: u32, frame_h: u32, cfg: &RoiConfig) -> Vec<BBox> {
    let (fw, fh) = (frame_w as f32, frame_h as f32);
    let full = BBox::new(0.0, 0.0, fw, fh);
    if regions.is_empty() || fw <= 0.0 || fh <= 0.0 {
        return Vec::new();
    }
    let mut rois: Vec<(BBox, usize)> = regions
        .iter()
        .filter(|r| r.is_finite())
        .map(|r| {
            let g = r.expand(cfg.grow / 2.0);
            let side = g.width().max(g.height()).max(cfg.min_side);
            let (w, h) = (side.min(fw), side.min(fh));
            let c = g.center();
            let x1 = (c.x - w / 2.0).clamp(0.0, fw - w);
            let y1 = (c.y - h / 2.0).clamp(0.0, fh - h);
            (BBox::new(x1, y1, x1 + w, y1 + h), 0)
        })
        .collect();
    rois = merge_boxes(rois, 0.0);
    let covered: f32 = rois.iter().map(|(b, _)| b.area()).sum();
    if covered > cfg.full_frame_fraction * fw * fh {
        return vec![full];
    }
    rois.into_iter().map(|(b, _)| b).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn frame_with_rect(w: u32, h: u32, rect: Option<(u32, u32, u32, u32)>) -> Frame {
        let mut rgb = vec![90u8; (w * h * 3) as usize];
        if let Some((x1, y1, x2, y2)) = rect {
            for y in y1..y2 {
                for x in x1..x2 {
                    let i = ((y * w + x) * 3) as usize;
                    rgb[i..i + 3].copy_from_slice(&[220, 200, 40]);
                }
            }
        }
        Frame::new(Arc::from("test"), 0, Default::default(), 0, w, h, rgb)
    }

    #[test]
    fn first_frame_is_all_motion_then_identical_is_none() {
        let mut m = MotionDetector::new(MotionConfig::default());
        let f = frame_with_rect(768, 576, Some((100, 100, 200, 200)));
        let r = m.detect(&f);
        assert_eq!(r.regions, vec![BBox::new(0.0, 0.0, 768.0, 576.0)]);
        let r = m.detect(&f);
        assert!(r.regions.is_empty(), "{r:?}");
        assert_eq!(r.changed_fraction, 0.0);
    }

    #[test]
    fn moved_rectangle_gives_one_region_around_it() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.detect(&frame_with_rect(768, 576, Some((300, 200, 380, 360))));
        let r = m.detect(&frame_with_rect(768, 576, Some((330, 210, 410, 370))));
        assert_eq!(r.regions.len(), 1, "{r:?}");
        let b = r.regions[0];
        // Covers old and new positions (their union), and not much more.
        let union = BBox::new(300.0, 200.0, 410.0, 370.0);
        assert!(b.intersection(&union) / union.area() > 0.9, "{b:?}");
        assert!(b.area() < union.area() * 1.5, "{b:?}");
        assert!(r.changed_fraction > 0.0 && r.changed_fraction < 0.1);
    }

    #[test]
    fn mask_suppresses_motion() {
        let mask = Polygon(vec![
            Point::new(0.3, 0.25),
            Point::new(0.6, 0.25),
            Point::new(0.6, 0.75),
            Point::new(0.3, 0.75),
        ]);
        let cfg = MotionConfig {
            masks: vec![mask],
            ..Default::default()
        };
        let mut m = MotionDetector::new(cfg);
        m.detect(&frame_with_rect(768, 576, Some((300, 200, 380, 360))));
        let r = m.detect(&frame_with_rect(768, 576, Some((330, 210, 410, 370))));
        assert!(r.regions.is_empty(), "{r:?}");
        // The same motion outside the mask is still seen.
        let mut m = MotionDetector::new(MotionConfig {
            masks: vec![Polygon(vec![
                Point::new(0.0, 0.0),
                Point::new(0.1, 0.0),
                Point::new(0.1, 0.1),
            ])],
            ..Default::default()
        });
        m.detect(&frame_with_rect(768, 576, Some((300, 200, 380, 360))));
        let r = m.detect(&frame_with_rect(768, 576, Some((330, 210, 410, 370))));
        assert_eq!(r.regions.len(), 1);
    }

    #[test]
    fn small_changes_are_filtered_and_lighting_recalibrates() {
        let mut m = MotionDetector::new(MotionConfig::default());
        m.detect(&frame_with_rect(768, 576, None));
        // A 3x3 speck is under min_area.
        let r = m.detect(&frame_with_rect(768, 576, Some((10, 10, 13, 13))));
        assert!(r.regions.is_empty(), "{r:?}");
        // Everything brighter: whole frame once, then quiet.
        let mut bright = frame_with_rect(768, 576, None);
        Arc::make_mut(&mut bright.rgb).fill(200);
        let r = m.detect(&bright);
        assert_eq!(r.regions, vec![BBox::new(0.0, 0.0, 768.0, 576.0)]);
        assert!(m.detect(&bright).regions.is_empty());
    }

    /// Must stay far below a detector call: well under 1 ms per 768x576 frame
    /// in release builds (the bound here is loose for loaded CI machines).
    #[test]
    fn motion_is_cheap() {
        let mut m = MotionDetector::new(MotionConfig::default());
        let frames: Vec<Frame> = (0..20)
            .map(|i| frame_with_rect(768, 576, Some((100 + i * 10, 200, 180 + i * 10, 360))))
            .collect();
        m.detect(&frames[0]);
        let t = std::time::Instant::now();
        for f in &frames[1..] {
            assert!(m.detect(f).has_motion());
        }
        let per = t.elapsed() / 19;
        eprintln!("motion 768x576: {per:?} per frame");
        if !cfg!(debug_assertions) {
            assert!(per < std::time::Duration::from_millis(5), "{per:?}");
        }
    }

    #[test]
    fn rois_get_context_merge_and_fall_back_to_full_frame() {
        let cfg = RoiConfig::default();
        // A small person-sized region becomes a 416 square inside the frame.
        let rois = regions_to_rois(&[BBox::new(700.0, 20.0, 740.0, 120.0)], 1280, 720, &cfg);
        assert_eq!(rois.len(), 1);
        let r = rois[0];
        assert_eq!((r.width(), r.height()), (416.0, 416.0));
        assert!(r.x1 >= 0.0 && r.y1 >= 0.0 && r.x2 <= 1280.0 && r.y2 <= 720.0);
        assert!(r.intersection(&BBox::new(700.0, 20.0, 740.0, 120.0)) == 40.0 * 100.0);
        // Two nearby regions merge into one ROI.
        let rois = regions_to_rois(
            &[
                BBox::new(100.0, 100.0, 150.0, 200.0),
                BBox::new(300.0, 150.0, 350.0, 250.0),
            ],
            1920,
            1080,
            &cfg,
        );
        assert_eq!(rois.len(), 1, "{rois:?}");
        // Far apart ones stay separate.
        let rois = regions_to_rois(
            &[
                BBox::new(0.0, 0.0, 50.0, 50.0),
                BBox::new(1800.0, 1000.0, 1850.0, 1050.0),
            ],
            1920,
            1080,
            &cfg,
        );
        assert_eq!(rois.len(), 2);
        // On a small frame the ROIs cover most of it: whole frame.
        let rois = regions_to_rois(&[BBox::new(10.0, 10.0, 60.0, 60.0)], 600, 400, &cfg);
        assert_eq!(rois, vec![BBox::new(0.0, 0.0, 600.0, 400.0)]);
        assert!(regions_to_rois(&[], 640, 480, &cfg).is_empty());
    }
}
