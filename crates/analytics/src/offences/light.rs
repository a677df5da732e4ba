//! Traffic-light state read from pixels.
//!
//! A lit lamp is the brightest, most saturated thing in the signal head; the
//! housing, the back plate and unlit lamps are dark or grey. So the reading
//! looks only at bright, saturated pixels inside the configured region and
//! votes on their hue. That works whatever colour the housing is and however
//! dark it is. When lamp sub-regions are configured the reading instead
//! compares how lit each lamp is, which also copes with over-exposed lamps
//! whose centre burns out to white and loses its hue.
//!
//! Single readings are noisy (LED flicker against the shutter, a bird, a
//! headlight glare), so [`LightTracker`] turns readings into a debounced
//! state with the time it took effect, which is what the red-light rule needs
//! for its grace period.

use base::{BBox, Point, Polygon, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::time::Duration;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LightState {
    Red,
    Amber,
    Green,
    #[default]
    Unknown,
}

/// One reading of a signal head.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LightReading {
    pub state: LightState,
    /// 0..1: how clearly one colour (or lamp) dominates and how much lit area
    /// backs it.
    pub confidence: f32,
    /// Per-colour evidence (share of lit pixels, or lamp lit fractions).
    pub red: f32,
    pub amber: f32,
    pub green: f32,
}

/// A box or polygon in frame pixels.
#[derive(Clone, Debug, PartialEq)]
pub enum Region {
    Box(BBox),
    Polygon(Polygon),
}

impl Region {
    /// From config points (pixels): 2 points are box corners, 3+ a polygon.
    pub fn from_points(points: &[Point]) -> Region {
        if points.len() == 2 {
            let (a, b) = (points[0], points[1]);
            Region::Box(BBox::new(
                a.x.min(b.x),
                a.y.min(b.y),
                a.x.max(b.x),
                a.y.max(b.y),
            ))
        } else {
            Region::Polygon(Polygon(points.to_vec()))
        }
    }
    pub fn bbox(&self) -> BBox {
        match self {
            Region::Box(b) => *b,
            Region::Polygon(p) => p.bbox(),
        }
    }
    fn contains(&self, p: Point) -> bool {
        match self {
            Region::Box(b) => p.x >= b.x1 && p.x < b.x2 && p.y >= b.y1 && p.y < b.y2,
            Region::Polygon(poly) => poly.contains(p),
        }
    }
}

/// Where the signal head is, optionally with one region per lamp.
#[derive(Clone, Debug, PartialEq)]
pub struct LightRegion {
    pub housing: Region,
    pub lamps: Option<Lamps>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Lamps {
    pub red: Region,
    pub amber: Option<Region>,
    pub green: Region,
}

/// Pixels brighter than this (0..1 value) can be a lit lamp at all.
const MIN_LIT_VALUE: f32 = 0.45;
/// …and must be at least this fraction of the region's brightest pixel, so a
/// dim reflection on the housing does not vote next to the real lamp.
const RELATIVE_LIT_VALUE: f32 = 0.6;
/// Saturation a lit pixel needs for its hue to count.
const MIN_SATURATION: f32 = 0.35;
/// Lit area (fraction of the housing) at which confidence is no longer
/// limited by how little is lit; a lamp covers ~20-30% of its housing.
const FULL_LIT_FRACTION: f32 = 0.03;

fn hsv(r: u8, g: u8, b: u8) -> (f32, f32, f32) {
    let (r, g, b) = (r as f32 / 255.0, g as f32 / 255.0, b as f32 / 255.0);
    let max = r.max(g).max(b);
    let min = r.min(g).min(b);
    let d = max - min;
    let s = if max > 0.0 { d / max } else { 0.0 };
    let h = if d <= 0.0 {
        0.0
    } else if max == r {
        60.0 * ((g - b) / d).rem_euclid(6.0)
    } else if max == g {
        60.0 * ((b - r) / d + 2.0)
    } else {
        60.0 * ((r - g) / d + 4.0)
    };
    (h, s, max)
}

/// Colour class of a hue in degrees. Green signals are often blue-green
/// (LEDs around 170-190°), amber spans orange to yellow.
fn hue_class(h: f32) -> Option<LightState> {
    if !(20.0..340.0).contains(&h) {
        Some(LightState::Red)
    } else if (20.0..70.0).contains(&h) {
        Some(LightState::Amber)
    } else if (80.0..200.0).contains(&h) {
        Some(LightState::Green)
    } else {
        None
    }
}

/// Calls `f(h, s, v)` for every frame pixel inside `region`. Regions partly or
/// wholly outside the frame are clipped; a short buffer is ignored.
fn for_pixels(
    rgb: &[u8],
    width: u32,
    height: u32,
    region: &Region,
    mut f: impl FnMut(f32, f32, f32),
) {
    if rgb.len() < width as usize * height as usize * 3 {
        return;
    }
    let b = region.bbox();
    if !b.is_finite() {
        return;
    }
    let x1 = b.x1.floor().max(0.0) as usize;
    let y1 = b.y1.floor().max(0.0) as usize;
    let x2 = (b.x2.ceil().max(0.0) as usize).min(width as usize);
    let y2 = (b.y2.ceil().max(0.0) as usize).min(height as usize);
    for y in y1..y2 {
        for x in x1..x2 {
            if !region.contains(Point::new(x as f32 + 0.5, y as f32 + 0.5)) {
                continue;
            }
            let i = (y * width as usize + x) * 3;
            let (h, s, v) = hsv(rgb[i], rgb[i + 1], rgb[i + 2]);
            f(h, s, v);
        }
    }
}

/// Reads the signal state from a packed RGB8 frame.
pub fn classify_light(rgb: &[u8], width: u32, height: u32, region: &LightRegion) -> LightReading {
    match &region.lamps {
        Some(l) => classify_lamps(rgb, width, height, l),
        None => classify_housing(rgb, width, height, &region.housing),
    }
}

fn classify_housing(rgb: &[u8], width: u32, height: u32, housing: &Region) -> LightReading {
    let mut vmax = 0.0f32;
    let mut n = 0usize;
    for_pixels(rgb, width, height, housing, |_, _, v| {
        vmax = vmax.max(v);
        n += 1;
    });
    let unknown = LightReading::default();
    if n == 0 || vmax < MIN_LIT_VALUE {
        return unknown;
    }
    let thr = MIN_LIT_VALUE.max(RELATIVE_LIT_VALUE * vmax);
    let mut counts = [0usize; 3];
    for_pixels(rgb, width, height, housing, |h, s, v| {
        if v >= thr && s >= MIN_SATURATION {
            match hue_class(h) {
                Some(LightState::Red) => counts[0] += 1,
                Some(LightState::Amber) => counts[1] += 1,
                Some(LightState::Green) => counts[2] += 1,
                _ => {}
            }
        }
    });
    let lit: usize = counts.iter().sum();
    if lit < 2 {
        return unknown;
    }
    let share = counts.map(|c| c as f32 / lit as f32);
    let size = (lit as f32 / n as f32 / FULL_LIT_FRACTION).min(1.0);
    decide(share, size)
}

/// Picks the dominant colour of `score` (red, amber, green); `scale` (0..1)
/// discounts weak evidence.
fn decide(score: [f32; 3], scale: f32) -> LightReading {
    let states = [LightState::Red, LightState::Amber, LightState::Green];
    let mut order = [0usize, 1, 2];
    order.sort_by(|&a, &b| score[b].total_cmp(&score[a]));
    let (best, second) = (score[order[0]], score[order[1]]);
    let mut r = LightReading {
        state: LightState::Unknown,
        confidence: 0.0,
        red: score[0],
        amber: score[1],
        green: score[2],
    };
    if best > 0.0 {
        // Dominance: 1 when one colour has all the evidence, 0 on a tie.
        let dominance = (best - second) / best;
        r.confidence = (dominance * scale).clamp(0.0, 1.0);
        if r.confidence > 0.0 {
            r.state = states[order[0]];
        }
    }
    r
}

/// Fraction of a lamp's pixels that look lit: bright and either of the
/// lamp's own colour or burnt out to near-white.
fn lamp_lit(rgb: &[u8], width: u32, height: u32, lamp: &Region, colour: LightState) -> f32 {
    let (mut lit, mut n) = (0usize, 0usize);
    for_pixels(rgb, width, height, lamp, |h, s, v| {
        n += 1;
        let coloured = v >= MIN_LIT_VALUE && s >= MIN_SATURATION && hue_class(h) == Some(colour);
        let burnt = v >= 0.9 && s < MIN_SATURATION;
        if coloured || burnt {
            lit += 1;
        }
    });
    if n == 0 {
        0.0
    } else {
        lit as f32 / n as f32
    }
}

fn classify_lamps(rgb: &[u8], width: u32, height: u32, l: &Lamps) -> LightReading {
    let red = lamp_lit(rgb, width, height, &l.red, LightState::Red);
    let amber = l
        .amber
        .as_ref()
        .map(|a| lamp_lit(rgb, width, height, a, LightState::Amber))
        .unwrap_or(0.0);
    let green = lamp_lit(rgb, width, height, &l.green, LightState::Green);
    let best = red.max(amber).max(green);
    // A lamp counts as on when a good part of it is lit (~a third of its
    // box for a round lamp in a square box gives full confidence).
    decide([red, amber, green], (best / 0.3).min(1.0))
}

/// How long readings may be inconclusive before the state becomes unknown:
/// a crossing is only judged against a light seen recently.
pub const LIGHT_STALE_AFTER: Duration = Duration::from_secs(2);
/// Raw readings kept for evidence.
const MAX_READINGS: usize = 600;

/// One confirmed state change.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct LightChange {
    pub ts: Timestamp,
    pub state: LightState,
}

/// Debounced light state from a stream of readings.
#[derive(Clone, Debug)]
pub struct LightTracker {
    min_confidence: f32,
    confirm: u32,
    keep: Duration,
    state: LightState,
    since: Option<Timestamp>,
    candidate: LightState,
    candidate_since: Timestamp,
    candidate_count: u32,
    last_confident: Option<Timestamp>,
    changes: VecDeque<LightChange>,
    readings: VecDeque<(Timestamp, LightReading)>,
}

impl LightTracker {
    /// `keep`: how much history to keep for evidence.
    pub fn new(min_confidence: f32, confirm: u32, keep: Duration) -> Self {
        LightTracker {
            min_confidence,
            confirm: confirm.max(1),
            keep,
            state: LightState::Unknown,
            since: None,
            candidate: LightState::Unknown,
            candidate_since: Timestamp(0),
            candidate_count: 0,
            last_confident: None,
            changes: VecDeque::new(),
            readings: VecDeque::new(),
        }
    }

    pub fn observe(&mut self, ts: Timestamp, r: LightReading) {
        if self.readings.back().is_some_and(|(t, _)| *t > ts) {
            return; // out of order: ignore rather than corrupt the history
        }
        self.readings.push_back((ts, r));
        while self.readings.len() > MAX_READINGS
            || self
                .readings
                .front()
                .is_some_and(|(t, _)| ts.since(*t) > self.keep)
        {
            self.readings.pop_front();
        }
        while self.changes.len() > 2
            && self
                .changes
                .get(1)
                .is_some_and(|c| ts.since(c.ts) > self.keep)
        {
            self.changes.pop_front();
        }
        if r.state == LightState::Unknown || r.confidence < self.min_confidence {
            let stale = self
                .last_confident
                .is_none_or(|t| ts.since(t) > LIGHT_STALE_AFTER);
            if stale && self.state != LightState::Unknown {
                self.set(ts, LightState::Unknown);
            }
            return;
        }
        self.last_confident = Some(ts);
        if r.state == self.state {
            self.candidate_count = 0;
            return;
        }
        if r.state == self.candidate && self.candidate_count > 0 {
            self.candidate_count += 1;
        } else {
            self.candidate = r.state;
            self.candidate_since = ts;
            self.candidate_count = 1;
        }
        if self.candidate_count >= self.confirm {
            // The change took effect when it was first seen, not when confirmed.
            self.set(self.candidate_since, self.candidate);
            self.candidate_count = 0;
        }
    }

    fn set(&mut self, ts: Timestamp, state: LightState) {
        self.state = state;
        self.since = Some(ts);
        self.changes.push_back(LightChange { ts, state });
    }

    pub fn state(&self) -> LightState {
        self.state
    }

    /// When the current state took effect.
    pub fn since(&self) -> Option<Timestamp> {
        self.since
    }

    /// The confirmed state at `ts` (within the kept history) and when it began.
    pub fn state_at(&self, ts: Timestamp) -> (LightState, Option<Timestamp>) {
        match self.changes.iter().rev().find(|c| c.ts <= ts) {
            Some(c) => (c.state, Some(c.ts)),
            None => (LightState::Unknown, None),
        }
    }

    /// State changes and raw readings in `[from, to]`, for the offence record.
    pub fn history(&self, from: Timestamp, to: Timestamp) -> serde_json::Value {
        // Include the change in effect at `from` so the record shows the
        // state the window started in.
        let first = self.changes.iter().rposition(|c| c.ts <= from).unwrap_or(0);
        let changes: Vec<_> = self
            .changes
            .iter()
            .skip(first)
            .filter(|c| c.ts <= to)
            .map(|c| serde_json::json!({ "ts": c.ts, "state": c.state }))
            .collect();
        let readings: Vec<_> = self
            .readings
            .iter()
            .filter(|(t, _)| *t >= from && *t <= to)
            .map(|(t, r)| {
                serde_json::json!({
                    "ts": t,
                    "state": r.state,
                    "confidence": (r.confidence * 100.0).round() / 100.0,
                })
            })
            .collect();
        serde_json::json!({ "changes": changes, "readings": readings })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const W: u32 = 120;
    const H: u32 = 100;

    /// A grey street scene with a dark signal head at x 40..60, y 10..70 and
    /// three lamps (red top, amber middle, green bottom), `lit` switched on
    /// with `colour`.
    fn frame(lit: Option<(usize, [u8; 3])>) -> Vec<u8> {
        let mut rgb = vec![0u8; (W * H * 3) as usize];
        for px in rgb.chunks_mut(3) {
            px.copy_from_slice(&[150, 160, 170]); // overcast sky / road
        }
        let mut put = |x: u32, y: u32, c: [u8; 3]| {
            let i = ((y * W + x) * 3) as usize;
            rgb[i..i + 3].copy_from_slice(&c);
        };
        for y in 10..70 {
            for x in 40..60 {
                put(x, y, [20, 22, 20]); // dark housing
            }
        }
        let centres = [20u32, 40, 60];
        for (k, cy) in centres.iter().enumerate() {
            for y in cy - 8..cy + 8 {
                for x in 42..58 {
                    let (dx, dy) = (x as f32 - 49.5, y as f32 - *cy as f32 + 0.5);
                    if dx * dx + dy * dy <= 49.0 {
                        let c = match lit {
                            Some((i, c)) if i == k => c,
                            _ => [45, 40, 38], // unlit lens
                        };
                        put(x, y, c);
                    }
                }
            }
        }
        rgb
    }

    fn housing() -> LightRegion {
        LightRegion {
            housing: Region::Box(BBox::new(38.0, 8.0, 62.0, 72.0)),
            lamps: None,
        }
    }

    fn with_lamps() -> LightRegion {
        let lamp = |cy: f32| Region::Box(BBox::new(42.0, cy - 8.0, 58.0, cy + 8.0));
        LightRegion {
            housing: Region::Box(BBox::new(38.0, 8.0, 62.0, 72.0)),
            lamps: Some(Lamps {
                red: lamp(20.0),
                amber: Some(lamp(40.0)),
                green: lamp(60.0),
            }),
        }
    }

    #[test]
    fn reads_each_colour_from_the_housing() {
        for (lamp, colour, want) in [
            (0, [240, 40, 30], LightState::Red),
            (1, [250, 180, 20], LightState::Amber),
            (2, [40, 230, 150], LightState::Green), // blue-green LED
        ] {
            let r = classify_light(&frame(Some((lamp, colour))), W, H, &housing());
            assert_eq!(r.state, want, "{r:?}");
            assert!(r.confidence > 0.8, "{r:?}");
        }
    }

    #[test]
    fn dark_head_and_grey_scene_are_unknown() {
        let r = classify_light(&frame(None), W, H, &housing());
        assert_eq!(r.state, LightState::Unknown, "{r:?}");
        // The region over the bright grey sky only: nothing saturated.
        let sky = LightRegion {
            housing: Region::Box(BBox::new(0.0, 0.0, 30.0, 30.0)),
            lamps: None,
        };
        let r = classify_light(&frame(None), W, H, &sky);
        assert_eq!(r.state, LightState::Unknown, "{r:?}");
    }

    #[test]
    fn lamps_read_burnt_out_white_lamp_by_position() {
        // Over-exposed: the lit lamp is pure white, hue is gone.
        let f = frame(Some((0, [255, 255, 255])));
        let r = classify_light(&f, W, H, &with_lamps());
        assert_eq!(r.state, LightState::Red, "{r:?}");
        let f = frame(Some((2, [255, 255, 250])));
        assert_eq!(
            classify_light(&f, W, H, &with_lamps()).state,
            LightState::Green
        );
        let r = classify_light(&frame(None), W, H, &with_lamps());
        assert_eq!(r.state, LightState::Unknown, "{r:?}");
    }

    #[test]
    fn bad_input_does_not_panic() {
        let off = LightRegion {
            housing: Region::Box(BBox::new(500.0, -50.0, 900.0, 20.0)),
            lamps: None,
        };
        assert_eq!(
            classify_light(&frame(None), W, H, &off).state,
            LightState::Unknown
        );
        assert_eq!(
            classify_light(&[1, 2], W, H, &housing()).state,
            LightState::Unknown
        );
        let nan = LightRegion {
            housing: Region::Box(BBox::new(f32::NAN, 0.0, 5.0, 5.0)),
            lamps: None,
        };
        assert_eq!(
            classify_light(&frame(None), W, H, &nan).state,
            LightState::Unknown
        );
    }

    fn reading(state: LightState) -> LightReading {
        LightReading {
            state,
            confidence: 0.9,
            ..Default::default()
        }
    }

    #[test]
    fn tracker_debounces_and_dates_changes_when_first_seen() {
        let mut t = LightTracker::new(0.5, 2, Duration::from_secs(30));
        t.observe(Timestamp(0), reading(LightState::Green));
        t.observe(Timestamp(200), reading(LightState::Green));
        assert_eq!(t.state(), LightState::Green);
        // One red glitch does not change the state.
        t.observe(Timestamp(400), reading(LightState::Red));
        t.observe(Timestamp(600), reading(LightState::Green));
        assert_eq!(t.state(), LightState::Green);
        t.observe(Timestamp(800), reading(LightState::Red));
        t.observe(Timestamp(1000), reading(LightState::Red));
        assert_eq!(t.state(), LightState::Red);
        assert_eq!(t.since(), Some(Timestamp(800)));
        assert_eq!(t.state_at(Timestamp(700)).0, LightState::Green);
        assert_eq!(
            t.state_at(Timestamp(900)),
            (LightState::Red, Some(Timestamp(800)))
        );
        // Low-confidence readings keep the state for a while, then it goes unknown.
        let weak = LightReading {
            state: LightState::Green,
            confidence: 0.1,
            ..Default::default()
        };
        t.observe(Timestamp(2000), weak);
        assert_eq!(t.state(), LightState::Red);
        t.observe(Timestamp(3100), weak);
        assert_eq!(t.state(), LightState::Unknown);
        let h = t.history(Timestamp(500), Timestamp(1000));
        assert_eq!(h["changes"][0]["state"], "green");
        assert_eq!(h["changes"][1]["state"], "red");
        assert_eq!(h["readings"].as_array().unwrap().len(), 3);
    }
}
