//! Per-camera temporal fire/smoke decisions.
//!
//! One still can fool the classifier (a sunset, a red sign, a fireplace on
//! TV), so alarms need **persistence and motion** over a time window:
//!
//! - *Flicker* (flame): flames change shape and brightness from frame to
//!   frame, a sign or a red car parked does not. Over the flame-coloured pixels
//!   (union of this and the previous analysed frame, inside the classifier's
//!   region) flicker is the mean of "pixel toggled flame/not flame" or, if not,
//!   its brightness change / 40. A static orange object scores ~0.
//! - *Smoke*: low-saturation pixels that differ from a slow background
//!   (EMA, ~25 s at 2 fps), whose area grows or whose centroid drifts upward
//!   across the window (least-squares slopes).
//! - *Decision*: every `classify_interval_ms` the frame (whole + tiles) goes
//!   through the [`FrameScorer`]; a fire *hit* needs the fire score over its
//!   threshold and (by default) window flicker over `flicker_threshold`; a
//!   smoke hit needs the smoke score and growth or upward drift. An alarm is
//!   raised once `raise_hits` hits fall within `window_ms` (so one-frame
//!   spikes never alarm) and cleared after `clear_ms` without hits
//!   (hysteresis: raising needs several hits, staying on needs only one per
//!   `clear_ms`).
//!
//! The colour/temporal analysis runs on a ~96 px wide copy of the frame on
//! every accepted push (well under a millisecond); only classification is
//! expensive, and it runs at `classify_interval_ms`.

use crate::classify::{ClassifierConfig, FireClassifier, FrameScores, RegionScore};
use crate::colour::{is_flame, is_grey, luma, ColourStats};
use crate::error::FireError;
use base::{BBox, Frame, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use tracing::{debug, info, warn};
use vision::features::CropRect;

/// Anything that scores a frame: the trained [`FireClassifier`], or
/// [`ColourScorer`] (tests, or a model-free fallback).
pub trait FrameScorer: Send {
    fn score(&mut self, frame: &Frame) -> Result<FrameScores, FireError>;
    /// Threshold for both scores when the config sets none.
    fn threshold(&self) -> f32;
}

impl FrameScorer for FireClassifier {
    fn score(&mut self, frame: &Frame) -> Result<FrameScores, FireError> {
        self.score_frame(frame)
    }
    fn threshold(&self) -> f32 {
        self.head().thresholds.fire
    }
}

/// Model-free scorer: fire score = flame-coloured fraction × `gain` (capped
/// at 1), no smoke score. Only useful together with the flicker cue.
#[derive(Clone, Debug)]
pub struct ColourScorer {
    pub gain: f32,
}

impl Default for ColourScorer {
    fn default() -> Self {
        ColourScorer { gain: 50.0 }
    }
}

impl FrameScorer for ColourScorer {
    fn score(&mut self, frame: &Frame) -> Result<FrameScores, FireError> {
        check_frame(frame)?;
        let c = ColourStats::of(
            &frame.rgb,
            frame.width,
            CropRect::full(frame.width, frame.height),
        );
        let fire = (c.flame_frac * self.gain).min(1.0);
        let bbox = BBox {
            x1: 0.0,
            y1: 0.0,
            x2: frame.width as f32,
            y2: frame.height as f32,
        };
        Ok(FrameScores {
            fire,
            smoke: 0.0,
            class: if fire >= 0.5 { "fire" } else { "no_fire" },
            region: bbox,
            regions: vec![RegionScore {
                bbox,
                prob: fire,
                flame_frac: c.flame_frac,
                grey_frac: c.grey_frac,
                grid: None,
            }],
            elapsed_ms: 0.0,
        })
    }
    fn threshold(&self) -> f32 {
        0.5
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct FireMonitorConfig {
    /// Weights, tiles and session of the trained classifier.
    pub classifier: ClassifierConfig,
    /// Pushes closer together than this are ignored (push every decoded
    /// frame; the monitor samples). 200 ms = 5 fps for the flicker cue.
    pub min_push_interval_ms: u64,
    /// How often the (expensive) classifier runs.
    pub classify_interval_ms: u64,
    /// Width of the copy used for colour and temporal cues.
    pub analysis_width: u32,
    /// Time window for persistence, flicker and smoke motion.
    pub window_ms: u64,
    /// Classifier hits within the window needed to raise an alarm.
    pub raise_hits: usize,
    /// An active alarm clears after this long without a hit.
    pub clear_ms: u64,
    /// Score thresholds; `None` = the scorer's (the head's CV-chosen one).
    pub fire_threshold: Option<f32>,
    pub smoke_threshold: Option<f32>,
    /// Require flicker for fire hits (off: a static fire picture can alarm).
    pub require_flicker: bool,
    pub flicker_threshold: f32,
    /// Fewer flame-coloured analysis pixels than this = no flicker sample.
    pub min_flame_pixels: usize,
    /// Require growth or upward drift for smoke hits.
    pub require_smoke_motion: bool,
    /// Smoke candidate area (fraction of the frame) needed at all.
    pub smoke_min_area: f32,
    /// Area growth, fraction of the frame per second.
    pub smoke_growth_per_s: f32,
    /// Upward centroid drift, fraction of the frame height per second.
    pub smoke_rise_per_s: f32,
}

impl Default for FireMonitorConfig {
    fn default() -> Self {
        FireMonitorConfig {
            classifier: ClassifierConfig::default(),
            min_push_interval_ms: 200,
            classify_interval_ms: 1000,
            analysis_width: 96,
            window_ms: 8000,
            raise_hits: 3,
            clear_ms: 10_000,
            fire_threshold: None,
            smoke_threshold: None,
            require_flicker: true,
            flicker_threshold: 0.05,
            min_flame_pixels: 3,
            require_smoke_motion: true,
            smoke_min_area: 0.002,
            smoke_growth_per_s: 0.0002,
            smoke_rise_per_s: 0.002,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmKind {
    Fire,
    Smoke,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlarmState {
    Raised,
    Cleared,
}

/// A state change of one camera's fire or smoke alarm.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FireAlarm {
    pub kind: AlarmKind,
    pub state: AlarmState,
    /// When the change was decided.
    pub ts: Timestamp,
    /// Region of the strongest hit in the window (frame pixels).
    pub region: BBox,
    /// Strongest classifier score among the window's hits.
    pub score: f32,
    /// `Frame::seq` and time of that strongest hit: the evidence frame.
    pub evidence_seq: u64,
    pub evidence_ts: Timestamp,
    /// Hits within the window when decided.
    pub hits: usize,
    /// Window flicker (fire) or smoke area growth per second (smoke).
    pub cue: f32,
}

#[derive(Clone, Copy, Debug)]
struct Hit {
    ts: Timestamp,
    seq: u64,
    score: f32,
    region: BBox,
}

#[derive(Debug, Default)]
struct Track {
    hits: VecDeque<Hit>,
    active: bool,
}

/// Temporal fire/smoke monitor for one camera. Feed it every decoded frame
/// (or a sampled subset) from the camera's thread with [`FireMonitor::push`].
pub struct FireMonitor {
    cfg: FireMonitorConfig,
    scorer: Box<dyn FrameScorer>,
    fire_t: f32,
    smoke_t: f32,
    last_push: Option<Timestamp>,
    last_classify: Option<Timestamp>,
    dims: (u32, u32),
    aw: usize,
    ah: usize,
    prev_lum: Vec<f32>,
    prev_flame: Vec<bool>,
    bg: Vec<f32>,
    /// (ts, flicker) samples with enough flame pixels.
    flicker: VecDeque<(Timestamp, f32)>,
    /// (ts, area fraction, centroid y fraction) of smoke candidates.
    smoke: VecDeque<(Timestamp, f32, f32)>,
    /// Classifier region in analysis pixels, for localised flicker.
    region: Option<(usize, usize, usize, usize)>,
    fire: Track,
    smoke_track: Track,
    last_scores: Option<FrameScores>,
}

impl std::fmt::Debug for FireMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FireMonitor")
            .field("cfg", &self.cfg)
            .field("fire_active", &self.fire.active)
            .field("smoke_active", &self.smoke_track.active)
            .finish()
    }
}

fn check_frame(frame: &Frame) -> Result<(), FireError> {
    if frame.width == 0
        || frame.height == 0
        || frame.rgb.len() != frame.width as usize * frame.height as usize * 3
    {
        return Err(FireError::Frame(format!(
            "{}x{} frame with {} bytes is not packed RGB8",
            frame.width,
            frame.height,
            frame.rgb.len()
        )));
    }
    Ok(())
}

/// Least-squares slope of `v` against seconds.
fn slope(points: impl Iterator<Item = (f64, f64)>) -> f64 {
    let p: Vec<(f64, f64)> = points.collect();
    let n = p.len() as f64;
    if p.len() < 3 {
        return 0.0;
    }
    let mx = p.iter().map(|q| q.0).sum::<f64>() / n;
    let my = p.iter().map(|q| q.1).sum::<f64>() / n;
    let sxx: f64 = p.iter().map(|q| (q.0 - mx).powi(2)).sum();
    let sxy: f64 = p.iter().map(|q| (q.0 - mx) * (q.1 - my)).sum();
    if sxx <= 1e-9 {
        0.0
    } else {
        sxy / sxx
    }
}

impl FireMonitor {
    /// Loads the trained classifier described by `cfg.classifier`.
    pub fn from_config(cfg: FireMonitorConfig) -> Result<Self, FireError> {
        let clf = FireClassifier::new(cfg.classifier.clone())?;
        Self::new(cfg, Box::new(clf))
    }

    /// With any scorer (tests use [`ColourScorer`] or stubs).
    pub fn new(cfg: FireMonitorConfig, scorer: Box<dyn FrameScorer>) -> Result<Self, FireError> {
        if cfg.raise_hits == 0 || cfg.window_ms == 0 || cfg.analysis_width < 8 {
            return Err(FireError::Config(
                "raise_hits and window_ms must be positive, analysis_width at least 8".into(),
            ));
        }
        for t in [cfg.fire_threshold, cfg.smoke_threshold]
            .into_iter()
            .flatten()
        {
            if !(0.0..=1.0).contains(&t) {
                return Err(FireError::Config(format!("threshold {t} outside 0..1")));
            }
        }
        let fire_t = cfg.fire_threshold.unwrap_or_else(|| scorer.threshold());
        let smoke_t = cfg.smoke_threshold.unwrap_or_else(|| scorer.threshold());
        Ok(FireMonitor {
            cfg,
            scorer,
            fire_t,
            smoke_t,
            last_push: None,
            last_classify: None,
            dims: (0, 0),
            aw: 0,
            ah: 0,
            prev_lum: Vec::new(),
            prev_flame: Vec::new(),
            bg: Vec::new(),
            flicker: VecDeque::new(),
            smoke: VecDeque::new(),
            region: None,
            fire: Track::default(),
            smoke_track: Track::default(),
            last_scores: None,
        })
    }

    pub fn config(&self) -> &FireMonitorConfig {
        &self.cfg
    }

    /// Whether the fire / smoke alarm is currently raised.
    pub fn active(&self, kind: AlarmKind) -> bool {
        match kind {
            AlarmKind::Fire => self.fire.active,
            AlarmKind::Smoke => self.smoke_track.active,
        }
    }

    /// The most recent classifier result.
    pub fn last_scores(&self) -> Option<&FrameScores> {
        self.last_scores.as_ref()
    }

    /// Mean flicker over the window (0 when no flame-coloured pixels).
    pub fn flicker(&self) -> f32 {
        if self.flicker.is_empty() {
            return 0.0;
        }
        self.flicker.iter().map(|f| f.1).sum::<f32>() / self.flicker.len() as f32
    }

    /// (area fraction now, growth per s, rise per s) of smoke candidates.
    pub fn smoke_motion(&self) -> (f32, f32, f32) {
        let Some(&(t0, _, _)) = self.smoke.front() else {
            return (0.0, 0.0, 0.0);
        };
        let area = self.smoke.back().map_or(0.0, |s| s.1);
        let secs = |t: Timestamp| t.since(t0).as_secs_f64();
        let growth = slope(self.smoke.iter().map(|s| (secs(s.0), f64::from(s.1))));
        // Only frames with candidates have a meaningful centroid.
        let rise = -slope(
            self.smoke
                .iter()
                .filter(|s| s.1 > 0.0)
                .map(|s| (secs(s.0), f64::from(s.2))),
        );
        (area, growth as f32, rise as f32)
    }

    fn reset(&mut self) {
        self.prev_lum.clear();
        self.prev_flame.clear();
        self.bg.clear();
        self.flicker.clear();
        self.smoke.clear();
        self.region = None;
        self.last_classify = None;
    }

    /// The camera now looks elsewhere (a PTZ camera panned or zoomed): the
    /// background, flicker and plume history describe another scene, and
    /// compared with the new one every grey roof or cloud that came into
    /// view would look like a growing plume. They restart, as after a
    /// reconnect, and so do the hits of alarms not yet raised: a new view
    /// earns its own persistence. A raised alarm stays until its clearing
    /// time passes without hits, as it would in one view.
    pub fn view_changed(&mut self) {
        self.reset();
        for t in [&mut self.fire, &mut self.smoke_track] {
            if !t.active {
                t.hits.clear();
            }
        }
    }

    /// Feeds one frame. Returns the alarms raised or cleared by it (usually
    /// none). Frames closer than `min_push_interval_ms` to the last accepted
    /// one are ignored; a timestamp going backwards or a size change resets
    /// the temporal state (reconnects), without clearing raised alarms.
    pub fn push(&mut self, ts: Timestamp, frame: &Frame) -> Result<Vec<FireAlarm>, FireError> {
        check_frame(frame)?;
        if let Some(last) = self.last_push {
            if ts < last {
                warn!(camera = %frame.camera, "timestamp went backwards; fire monitor state reset");
                self.reset();
            } else if ts.since(last).as_millis() < u128::from(self.cfg.min_push_interval_ms) {
                return Ok(Vec::new());
            }
        }
        self.last_push = Some(ts);
        if self.dims != (frame.width, frame.height) {
            self.reset();
            self.dims = (frame.width, frame.height);
            self.aw = (self.cfg.analysis_width.min(frame.width)) as usize;
            self.ah = ((frame.height as f32 * self.aw as f32 / frame.width as f32).round()
                as usize)
                .max(1);
        }
        self.analyse(ts, frame);

        let due = self
            .last_classify
            .is_none_or(|t| ts.since(t).as_millis() >= u128::from(self.cfg.classify_interval_ms));
        let mut out = Vec::new();
        if due {
            self.last_classify = Some(ts);
            let s = self.scorer.score(frame)?;
            // Localise flicker to where the classifier looks.
            let sx = self.aw as f32 / frame.width as f32;
            let sy = self.ah as f32 / frame.height as f32;
            let r = s.region;
            self.region = (r.x2 > r.x1 && r.y2 > r.y1).then(|| {
                (
                    (r.x1 * sx).floor().max(0.0) as usize,
                    (r.y1 * sy).floor().max(0.0) as usize,
                    ((r.x2 * sx).ceil() as usize).min(self.aw),
                    ((r.y2 * sy).ceil() as usize).min(self.ah),
                )
            });
            let flicker = self.flicker();
            let (area, growth, rise) = self.smoke_motion();
            let fire_hit = s.fire >= self.fire_t
                && (!self.cfg.require_flicker || flicker >= self.cfg.flicker_threshold);
            let smoke_motion = area >= self.cfg.smoke_min_area
                && (growth >= self.cfg.smoke_growth_per_s || rise >= self.cfg.smoke_rise_per_s);
            let smoke_hit =
                s.smoke >= self.smoke_t && (!self.cfg.require_smoke_motion || smoke_motion);
            debug!(camera = %frame.camera, fire = s.fire, smoke = s.smoke, flicker, area, growth, rise, fire_hit, smoke_hit, "fire monitor tick");
            let hit = |score| Hit {
                ts,
                seq: frame.seq,
                score,
                region: s.region,
            };
            if fire_hit {
                self.fire.hits.push_back(hit(s.fire));
            }
            if smoke_hit {
                self.smoke_track.hits.push_back(hit(s.smoke));
            }
            self.last_scores = Some(s);
            let window = self.cfg.window_ms;
            let (raise, clear) = (self.cfg.raise_hits, self.cfg.clear_ms);
            if let Some(a) = decide(
                &mut self.fire,
                AlarmKind::Fire,
                ts,
                fire_hit,
                window,
                raise,
                clear,
                flicker,
            ) {
                out.push(a);
            }
            if let Some(a) = decide(
                &mut self.smoke_track,
                AlarmKind::Smoke,
                ts,
                smoke_hit,
                window,
                raise,
                clear,
                growth,
            ) {
                out.push(a);
            }
        }
        for a in &out {
            info!(camera = %frame.camera, kind = ?a.kind, state = ?a.state, score = a.score, "fire monitor alarm");
        }
        Ok(out)
    }

    /// Downscales the frame and updates the flicker and smoke samples.
    fn analyse(&mut self, ts: Timestamp, frame: &Frame) {
        let (aw, ah) = (self.aw, self.ah);
        let (w, h) = (frame.width as usize, frame.height as usize);
        let mut lum = vec![0f32; aw * ah];
        let mut flame = vec![false; aw * ah];
        let mut grey = vec![false; aw * ah];
        for y in 0..ah {
            let (y0, y1) = (y * h / ah, ((y + 1) * h / ah).max(y * h / ah + 1));
            let sy = ((y1 - y0) / 4).max(1);
            for x in 0..aw {
                let (x0, x1) = (x * w / aw, ((x + 1) * w / aw).max(x * w / aw + 1));
                let sx = ((x1 - x0) / 4).max(1);
                let (mut r, mut g, mut b, mut n) = (0u32, 0u32, 0u32, 0u32);
                for yy in (y0..y1.min(h)).step_by(sy) {
                    for xx in (x0..x1.min(w)).step_by(sx) {
                        let i = (yy * w + xx) * 3;
                        r += u32::from(frame.rgb[i]);
                        g += u32::from(frame.rgb[i + 1]);
                        b += u32::from(frame.rgb[i + 2]);
                        n += 1;
                    }
                }
                let n = n.max(1);
                let (r, g, b) = ((r / n) as u8, (g / n) as u8, (b / n) as u8);
                let k = y * aw + x;
                lum[k] = luma(r, g, b);
                flame[k] = is_flame(r, g, b);
                grey[k] = is_grey(r, g, b);
            }
        }
        let cutoff = Timestamp(ts.millis() - self.cfg.window_ms as i64);
        // Flicker inside the classifier's region.
        if self.prev_lum.len() == lum.len() {
            let (x0, y0, x1, y1) = self.region.unwrap_or((0, 0, aw, ah));
            let (mut union, mut change) = (0usize, 0f32);
            for y in y0..y1 {
                for x in x0..x1 {
                    let k = y * aw + x;
                    if flame[k] || self.prev_flame[k] {
                        union += 1;
                        change += if flame[k] != self.prev_flame[k] {
                            1.0
                        } else {
                            ((lum[k] - self.prev_lum[k]).abs() / 40.0).min(1.0)
                        };
                    }
                }
            }
            if union >= self.cfg.min_flame_pixels {
                self.flicker.push_back((ts, change / union as f32));
            }
        }
        while self.flicker.front().is_some_and(|f| f.0 < cutoff) {
            self.flicker.pop_front();
        }
        // Smoke candidates against the slow background.
        if self.bg.len() != lum.len() {
            self.bg = lum.clone();
        }
        let (mut count, mut ysum) = (0usize, 0f32);
        for k in 0..lum.len() {
            if grey[k] && (lum[k] - self.bg[k]).abs() >= 10.0 {
                count += 1;
                ysum += (k / aw) as f32;
            }
            self.bg[k] += 0.02 * (lum[k] - self.bg[k]);
        }
        let area = count as f32 / lum.len() as f32;
        let cy = if count > 0 {
            ysum / count as f32 / ah as f32
        } else {
            0.0
        };
        self.smoke.push_back((ts, area, cy));
        while self.smoke.front().is_some_and(|f| f.0 < cutoff) {
            self.smoke.pop_front();
        }
        self.prev_lum = lum;
        self.prev_flame = flame;
    }
}

/// Window bookkeeping and raise/clear hysteresis for one alarm kind.
#[allow(clippy::too_many_arguments)]
fn decide(
    t: &mut Track,
    kind: AlarmKind,
    ts: Timestamp,
    hit: bool,
    window_ms: u64,
    raise_hits: usize,
    clear_ms: u64,
    cue: f32,
) -> Option<FireAlarm> {
    let keep_from = Timestamp(ts.millis() - window_ms.max(clear_ms) as i64);
    while t.hits.front().is_some_and(|h| h.ts < keep_from) {
        t.hits.pop_front();
    }
    let win_from = Timestamp(ts.millis() - window_ms as i64);
    let in_window: Vec<Hit> = t
        .hits
        .iter()
        .filter(|h| h.ts >= win_from)
        .copied()
        .collect();
    let best = in_window
        .iter()
        .max_by(|a, b| a.score.total_cmp(&b.score))
        .copied();
    let alarm = |state, h: Hit| FireAlarm {
        kind,
        state,
        ts,
        region: h.region,
        score: h.score,
        evidence_seq: h.seq,
        evidence_ts: h.ts,
        hits: in_window.len(),
        cue,
    };
    if !t.active {
        if hit && in_window.len() >= raise_hits {
            t.active = true;
            return best.map(|h| alarm(AlarmState::Raised, h));
        }
    } else {
        let last = t.hits.back().copied();
        let quiet = last.is_none_or(|h| ts.since(h.ts).as_millis() >= u128::from(clear_ms));
        if quiet {
            t.active = false;
            let h = last.unwrap_or(Hit {
                ts,
                seq: 0,
                score: 0.0,
                region: BBox::default(),
            });
            return Some(alarm(AlarmState::Cleared, h));
        }
    }
    None
}
