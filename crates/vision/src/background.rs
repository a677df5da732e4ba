//! Static objects the detector does not know, from background subtraction.
//!
//! The classic dual-background method (Porikli et al., "Robust abandoned
//! object detection using dual foregrounds", 2008): two running-average
//! backgrounds of a small grayscale image learn at different speeds. A pixel
//! that differs from the **long-term** background (minutes) but matches the
//! **short-term** one (seconds) shows something that arrived and then stopped
//! changing: a left object, or a person standing still. Each such pixel
//! accumulates evidence over time; where evidence has lasted `still_seconds`,
//! connected pixels form a blob. Blobs inside the boxes of known tracks
//! (people, vehicles: given by the caller) are never reported, so a standing
//! person or a parked car that the detector already explains is not a
//! "new object".
//!
//! Guards that keep it quiet on real video:
//! - **Global gain compensation:** the long-term background is compared after
//!   scaling by the frame's mean-brightness ratio, so a uniform lighting
//!   change is not foreground; when more than `relearn_fraction` of the frame
//!   is foreground anyway (camera moved, IR switched), both backgrounds are
//!   re-learnt from the current frame and all evidence is dropped.
//! - **Frozen under a blob:** the long-term background does not learn under
//!   pixels that hold static evidence, so an object left for longer than the
//!   long-term time constant is not absorbed into the background (its alert
//!   would otherwise "clear" while it is still there); it clears when the
//!   pixels match the background again (object taken away).
//!
//! Time is taken from frame timestamps (learning rates are per second, not
//! per frame), so tests drive it with a simulated clock and any frame rate.

use base::{BBox, Frame, Timestamp};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct StaticObjectConfig {
    /// Width of the analysis image (height keeps the aspect ratio).
    pub downscale_width: u32,
    /// Time constant of the long-term background, seconds.
    pub long_seconds: f32,
    /// Time constant of the short-term background, seconds.
    pub short_seconds: f32,
    /// Gray-level difference that counts as different.
    pub threshold: f32,
    /// Seconds a pixel must stay "arrived and still" to be static.
    pub still_seconds: f32,
    /// Smallest blob, fraction of the frame area.
    pub min_area: f32,
    /// Foreground over this fraction of the frame: re-learn everything.
    pub relearn_fraction: f32,
    /// Track boxes are widened by this fraction before masking (shadows,
    /// loose boxes).
    pub exclude_margin: f32,
    /// A blob keeps its id when it overlaps last frame's blob by this IoU.
    pub match_iou: f32,
}

impl Default for StaticObjectConfig {
    fn default() -> Self {
        StaticObjectConfig {
            downscale_width: 160,
            long_seconds: 120.0,
            short_seconds: 1.5,
            threshold: 30.0,
            still_seconds: 5.0,
            min_area: 0.001,
            relearn_fraction: 0.5,
            exclude_margin: 0.1,
            match_iou: 0.3,
        }
    }
}

/// A static blob in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticBlob {
    /// Stable while the blob stays (matched frame to frame by overlap).
    pub id: u64,
    pub bbox: BBox,
    /// When its pixels first became "arrived and still" (the drop time).
    pub since: Timestamp,
    /// Fraction of the frame area.
    pub area: f32,
}

/// Dual-background static-object detector; one per camera.
#[derive(Debug)]
pub struct StaticObjectDetector {
    cfg: StaticObjectConfig,
    frame_w: u32,
    frame_h: u32,
    dw: usize,
    dh: usize,
    gray: Vec<f32>,
    long: Vec<f32>,
    short: Vec<f32>,
    /// Seconds each pixel has been "arrived and still".
    evidence: Vec<f32>,
    /// When each pixel's current evidence started (ms).
    started: Vec<i64>,
    excluded: Vec<u8>,
    labels: Vec<u32>,
    stack: Vec<usize>,
    last_ts: Option<Timestamp>,
    blobs: Vec<StaticBlob>,
    next_id: u64,
}

impl StaticObjectDetector {
    pub fn new(cfg: StaticObjectConfig) -> Self {
        StaticObjectDetector {
            cfg,
            frame_w: 0,
            frame_h: 0,
            dw: 0,
            dh: 0,
            gray: Vec::new(),
            long: Vec::new(),
            short: Vec::new(),
            evidence: Vec::new(),
            started: Vec::new(),
            excluded: Vec::new(),
            labels: Vec::new(),
            stack: Vec::new(),
            last_ts: None,
            blobs: Vec::new(),
            next_id: 1,
        }
    }

    pub fn config(&self) -> &StaticObjectConfig {
        &self.cfg
    }

    fn setup(&mut self, w: u32, h: u32) {
        let dw = (self.cfg.downscale_width.max(16) as usize)
            .min(w as usize)
            .max(1);
        let dh = ((h as usize * dw) / w as usize).max(1);
        let n = dw * dh;
        self.frame_w = w;
        self.frame_h = h;
        self.dw = dw;
        self.dh = dh;
        self.gray = vec![0.0; n];
        self.evidence = vec![0.0; n];
        self.started = vec![0; n];
        self.excluded = vec![0; n];
        self.labels = vec![0; n];
        self.long.clear();
        self.short.clear();
        self.last_ts = None;
        self.blobs.clear();
    }

    /// Box-average downscale to gray.
    fn downscale(&mut self, f: &Frame) {
        let (w, h) = (f.width as usize, f.height as usize);
        let (dw, dh) = (self.dw, self.dh);
        for gy in 0..dh {
            let y0 = gy * h / dh;
            let y1 = ((gy + 1) * h / dh).max(y0 + 1);
            for gx in 0..dw {
                let x0 = gx * w / dw;
                let x1 = ((gx + 1) * w / dw).max(x0 + 1);
                let mut sum = 0u32;
                // Every other row and column: plenty for a blob detector.
                for y in (y0..y1).step_by(2) {
                    let row = &f.rgb[(y * w + x0) * 3..(y * w + x1) * 3];
                    for px in row.chunks_exact(3).step_by(2) {
                        sum += 77 * px[0] as u32 + 150 * px[1] as u32 + 29 * px[2] as u32;
                    }
                }
                let count = (y1 - y0).div_ceil(2) * (x1 - x0).div_ceil(2);
                self.gray[gy * dw + gx] = sum as f32 / (256.0 * count as f32);
            }
        }
    }

    /// Feeds one frame; `exclude` are the boxes of known tracks (frame
    /// pixels). Returns the static blobs present now.
    pub fn update(&mut self, frame: &Frame, exclude: &[BBox]) -> &[StaticBlob] {
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 || frame.rgb.len() != w as usize * h as usize * 3 {
            return &[];
        }
        if w != self.frame_w || h != self.frame_h {
            self.setup(w, h);
        }
        self.downscale(frame);
        let ts = frame.ts;
        let n = self.dw * self.dh;
        let Some(last) = self.last_ts.filter(|_| !self.long.is_empty()) else {
            self.long = self.gray.clone();
            self.short = self.gray.clone();
            self.last_ts = Some(ts);
            return &self.blobs;
        };
        let dt = (ts.millis() - last.millis()).max(0) as f32 / 1000.0;
        self.last_ts = Some(ts);
        let a_long = 1.0 - (-dt / self.cfg.long_seconds.max(1e-3)).exp();
        let a_short = 1.0 - (-dt / self.cfg.short_seconds.max(1e-3)).exp();

        // Gain: mean brightness of the frame over that of the background.
        let mean = |v: &[f32]| v.iter().sum::<f32>() / n as f32;
        let gain = mean(&self.gray) / mean(&self.long).max(1.0);
        let thr = self.cfg.threshold;
        let fg = self
            .gray
            .iter()
            .zip(&self.long)
            .filter(|(g, l)| (**g - gain * **l).abs() > thr)
            .count();
        if fg as f32 > self.cfg.relearn_fraction * n as f32 {
            // The whole view changed: start over rather than alert.
            self.long.copy_from_slice(&self.gray);
            self.short.copy_from_slice(&self.gray);
            self.evidence.fill(0.0);
            self.blobs.clear();
            return &self.blobs;
        }

        self.mark_excluded(exclude);
        let now = ts.millis();
        for i in 0..n {
            let g = self.gray[i];
            let diff_long = (g - gain * self.long[i]).abs() > thr;
            let diff_short = (g - self.short[i]).abs() > thr;
            if diff_long && !diff_short && self.excluded[i] == 0 {
                if self.evidence[i] == 0.0 {
                    self.started[i] = now;
                }
                self.evidence[i] += dt;
            } else if !diff_long {
                self.evidence[i] = 0.0;
            } else {
                // Moving over it, or under a track: hold (an object briefly
                // passed in front of keeps its evidence), but a track box
                // standing on it for good clears it below.
                if self.excluded[i] != 0 {
                    self.evidence[i] = 0.0;
                }
            }
            self.short[i] += a_short * (g - self.short[i]);
            if self.evidence[i] == 0.0 {
                // Compensated so a lighting drift is learnt as drift.
                self.long[i] += a_long * (g / gain.max(1e-3) - self.long[i]);
            }
        }
        let found = self.components();
        self.match_blobs(found);
        &self.blobs
    }

    fn mark_excluded(&mut self, boxes: &[BBox]) {
        self.excluded.fill(0);
        let sx = self.dw as f32 / self.frame_w as f32;
        let sy = self.dh as f32 / self.frame_h as f32;
        for b in boxes {
            let b = b.expand(self.cfg.exclude_margin);
            let x0 = (b.x1 * sx).floor().max(0.0) as usize;
            let y0 = (b.y1 * sy).floor().max(0.0) as usize;
            let x1 = ((b.x2 * sx).ceil().max(0.0) as usize).min(self.dw);
            let y1 = ((b.y2 * sy).ceil().max(0.0) as usize).min(self.dh);
            for y in y0..y1 {
                self.excluded[y * self.dw + x0.min(x1)..y * self.dw + x1].fill(1);
            }
        }
    }

    /// Connected static pixels (8-neighbour) as (frame box, area, since).
    fn components(&mut self) -> Vec<(BBox, f32, i64)> {
        let (dw, dh) = (self.dw, self.dh);
        let still = self.cfg.still_seconds;
        self.labels.fill(0);
        let mut out = Vec::new();
        let mut next = 0u32;
        let sx = self.frame_w as f32 / dw as f32;
        let sy = self.frame_h as f32 / dh as f32;
        let min_px = (self.cfg.min_area * (dw * dh) as f32).max(1.0);
        for start in 0..dw * dh {
            if self.evidence[start] < still || self.labels[start] != 0 {
                continue;
            }
            next += 1;
            self.labels[start] = next;
            self.stack.clear();
            self.stack.push(start);
            let (mut x0, mut y0, mut x1, mut y1) = (dw, dh, 0, 0);
            let mut count = 0usize;
            let mut since = i64::MAX;
            while let Some(i) = self.stack.pop() {
                let (x, y) = (i % dw, i / dw);
                count += 1;
                since = since.min(self.started[i]);
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
                for dy in -1i32..=1 {
                    for dx in -1i32..=1 {
                        let (nx, ny) = (x as i32 + dx, y as i32 + dy);
                        if nx < 0 || ny < 0 || nx >= dw as i32 || ny >= dh as i32 {
                            continue;
                        }
                        let j = ny as usize * dw + nx as usize;
                        if self.labels[j] == 0 && self.evidence[j] >= still {
                            self.labels[j] = next;
                            self.stack.push(j);
                        }
                    }
                }
            }
            if count as f32 >= min_px {
                let b = BBox::new(
                    x0 as f32 * sx,
                    y0 as f32 * sy,
                    (x1 + 1) as f32 * sx,
                    (y1 + 1) as f32 * sy,
                );
                out.push((b, count as f32 / (dw * dh) as f32, since));
            }
        }
        out
    }

    /// Keeps ids stable across frames by box overlap.
    fn match_blobs(&mut self, found: Vec<(BBox, f32, i64)>) {
        let mut next = Vec::with_capacity(found.len());
        for (bbox, area, since) in found {
            let prev = self
                .blobs
                .iter()
                .filter(|b| b.bbox.iou(&bbox) >= self.cfg.match_iou)
                .max_by(|a, b| a.bbox.iou(&bbox).total_cmp(&b.bbox.iou(&bbox)));
            let (id, since) = match prev {
                Some(p) => (p.id, p.since),
                None => {
                    self.next_id += 1;
                    (self.next_id - 1, Timestamp(since))
                }
            };
            if next.iter().any(|b: &StaticBlob| b.id == id) {
                self.next_id += 1;
                // Two blobs split from one: the second gets a new id.
                next.push(StaticBlob {
                    id: self.next_id - 1,
                    bbox,
                    since,
                    area,
                });
            } else {
                next.push(StaticBlob {
                    id,
                    bbox,
                    since,
                    area,
                });
            }
        }
        self.blobs = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A 320×240 frame of gray `bg` with `rects` (x, y, w, h, value).
    pub(crate) fn frame(ms: i64, bg: u8, rects: &[(u32, u32, u32, u32, u8)]) -> Frame {
        let (w, h) = (320u32, 240u32);
        let mut rgb = vec![bg; (w * h * 3) as usize];
        for &(x, y, rw, rh, v) in rects {
            for yy in y..y + rh {
                for xx in x..x + rw {
                    let i = ((yy * w + xx) * 3) as usize;
                    rgb[i..i + 3].fill(v);
                }
            }
        }
        Frame::new(Arc::from("t"), 0, Timestamp(ms), ms, w, h, rgb)
    }

    const BAG: (u32, u32, u32, u32, u8) = (100, 150, 30, 24, 200);

    fn run(
        d: &mut StaticObjectDetector,
        from_s: f32,
        to_s: f32,
        f: impl Fn(i64) -> Frame,
    ) -> usize {
        let mut n = 0;
        let mut t = from_s;
        while t < to_s {
            let fr = f((t * 1000.0) as i64);
            n = d.update(&fr, &[]).len();
            t += 0.2;
        }
        n
    }

    #[test]
    fn a_left_object_becomes_one_blob_after_still_seconds_and_goes_when_taken() {
        let mut d = StaticObjectDetector::new(Default::default());
        assert_eq!(run(&mut d, 0.0, 10.0, |ms| frame(ms, 80, &[])), 0);
        // Dropped at t=10; not yet static after 3 s...
        assert_eq!(run(&mut d, 10.0, 13.0, |ms| frame(ms, 80, &[BAG])), 0);
        // ...one blob once it has stayed still long enough.
        assert_eq!(run(&mut d, 13.0, 20.0, |ms| frame(ms, 80, &[BAG])), 1);
        let b = d.blobs[0].clone();
        assert!(
            b.bbox.iou(&BBox::new(100.0, 150.0, 130.0, 174.0)) > 0.5,
            "{b:?}"
        );
        // Drop time: shortly after 10 s (the short background needs to
        // absorb it first).
        assert!((10_000..13_000).contains(&b.since.millis()), "{b:?}");
        // Same id while it stays, even after the long-term time constant.
        assert_eq!(run(&mut d, 20.0, 200.0, |ms| frame(ms, 80, &[BAG])), 1);
        assert_eq!(d.blobs[0].id, b.id);
        // Taken away: gone.
        assert_eq!(run(&mut d, 200.0, 202.0, |ms| frame(ms, 80, &[])), 0);
    }

    #[test]
    fn a_lighting_change_over_the_whole_frame_is_not_an_object() {
        let mut d = StaticObjectDetector::new(Default::default());
        let scene = [(20, 20, 60, 60, 150), (200, 100, 80, 100, 40)];
        run(&mut d, 0.0, 10.0, |ms| frame(ms, 80, &scene));
        let brighter = [(20, 20, 60, 60, 225), (200, 100, 80, 100, 60)];
        assert_eq!(run(&mut d, 10.0, 40.0, |ms| frame(ms, 120, &brighter)), 0);
        // Lights off: darker everywhere, more than half the frame changes.
        let dark = [(20, 20, 60, 60, 20), (200, 100, 80, 100, 5)];
        assert_eq!(run(&mut d, 40.0, 70.0, |ms| frame(ms, 10, &dark)), 0);
    }

    #[test]
    fn an_object_under_a_known_track_is_not_reported() {
        let mut d = StaticObjectDetector::new(Default::default());
        run(&mut d, 0.0, 10.0, |ms| frame(ms, 80, &[]));
        let car = (150, 60, 100, 60, 30);
        let track = [BBox::new(150.0, 60.0, 250.0, 120.0)];
        let mut t = 10.0;
        while t < 60.0 {
            let fr = frame((t * 1000.0) as i64, 80, &[car]);
            assert!(d.update(&fr, &track).is_empty(), "at {t}");
            t += 0.2;
        }
    }

    #[test]
    fn a_passer_by_is_not_static() {
        let mut d = StaticObjectDetector::new(Default::default());
        run(&mut d, 0.0, 10.0, |ms| frame(ms, 80, &[]));
        // A block crossing the frame at 40 px/s.
        let n = run(&mut d, 10.0, 16.0, |ms| {
            let x = ((ms - 10_000) as f32 / 1000.0 * 40.0) as u32;
            frame(ms, 80, &[(x, 100, 20, 40, 220)])
        });
        assert_eq!(n, 0);
    }
}
