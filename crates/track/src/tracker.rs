//! The tracker: ByteTrack association on top of [`KalmanBox`] and
//! [`linear_assignment`], with time-based expiry and partial scene coverage.

use crate::assign::linear_assignment;
use crate::kalman::KalmanBox;
use base::{BBox, Detection, Point, Timestamp};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::Duration;

/// Labels that one detector confuses with each other frame to frame on the same
/// vehicle (COCO: a van is a car in one frame and a truck in the next).
const VEHICLE_LABELS: [&str; 3] = ["car", "truck", "bus"];

/// Tracker tuning. Defaults are ByteTrack's, except that expiry is in time
/// rather than frames because each camera is analysed at its own, varying rate.
///
/// The three `*_iou` fields keep ByteTrack's convention: they are **maximum
/// costs**, cost = 1 − IoU (1 − IoU × score when [`fuse_score`] applies), so
/// `match_iou: 0.8` accepts pairs with IoU ≥ 0.2.
///
/// [`fuse_score`]: TrackerConfig::fuse_score
#[derive(Clone, Debug, PartialEq)]
pub struct TrackerConfig {
    /// Detections at or above this score are "high" and take part in the first
    /// association stage and in track births.
    pub high_thresh: f32,
    /// Detections below this are ignored; between `low_thresh` and
    /// `high_thresh` they may only sustain existing tracks (stage 2), which is
    /// ByteTrack's trick for keeping partially occluded objects.
    pub low_thresh: f32,
    /// Minimum score of an unmatched high detection to start a track.
    pub new_track_thresh: f32,
    /// Stage 1 (high detections vs confirmed and lost tracks) maximum cost.
    pub match_iou: f32,
    /// Stage 2 (low detections vs still-unmatched tracked tracks) maximum cost.
    pub second_match_iou: f32,
    /// Stage 3 (tentative tracks vs leftover high detections) maximum cost.
    pub unconfirmed_match_iou: f32,
    /// Multiply IoU by the detection score in stages 1 and 3 (ByteTrack's
    /// `fuse_score`, on by default outside MOT20), so a confident detection wins
    /// a contested track over a doubtful one.
    pub fuse_score: bool,
    /// Matched frames needed before a track is confirmed and gets its public ID.
    pub min_hits: u32,
    /// How long a confirmed track may go unmatched, counting only time during
    /// which its area was observed (see [`Coverage`]), before it is ended.
    pub max_lost: Duration,
    /// A track only matches detections of its class.
    pub class_aware: bool,
    /// With `class_aware`, still let car, truck and bus match each other, so a
    /// detector flipping between them does not split one vehicle's track.
    pub vehicle_classes_interchangeable: bool,
    /// Bound on [`Track::trajectory`]; older points are thinned when full.
    pub trajectory_max_points: usize,
    /// Frame width and height in pixels, for judging crops truncated by the
    /// frame edge in [`BestCrop`]; `None` skips that factor.
    pub frame_size: Option<(u32, u32)>,
    /// With [`Coverage::Regions`], the fraction of a track's predicted box that
    /// must lie inside the regions for the track to count as observed.
    pub region_min_overlap: f32,
    /// Relative improvement in crop quality needed to replace a track's best
    /// crop, so the pipeline does not re-encode evidence for every 1% gain.
    pub best_min_gain: f32,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            high_thresh: 0.5,
            low_thresh: 0.1,
            new_track_thresh: 0.6,
            match_iou: 0.8,
            second_match_iou: 0.5,
            unconfirmed_match_iou: 0.7,
            fuse_score: true,
            min_hits: 2,
            max_lost: Duration::from_secs(3),
            class_aware: true,
            vehicle_classes_interchangeable: true,
            trajectory_max_points: 256,
            frame_size: None,
            region_min_overlap: 0.5,
            best_min_gain: 0.05,
        }
    }
}

/// Which part of the frame the detections of one update describe.
///
/// Motion gating runs the detector only where something changed (or not at
/// all), and the tracker must not read "no detection" as "object gone" where
/// nobody looked:
/// - `Full`: the whole frame was analysed; every track is observed.
/// - `Regions(r)`: only inside `r` (frame pixels). A track is observed when at
///   least [`TrackerConfig::region_min_overlap`] of its predicted box lies in
///   the regions. Unobserved tracks are frozen: not predicted forward, velocity
///   zeroed (nothing changed there, so the object is not moving), position
///   kept, and their lost time not increased. A parked car or a standing person
///   thus keeps its ID indefinitely at almost no cost.
/// - `None`: nothing changed anywhere; every track is frozen. Same as
///   `Regions(vec![])`.
///
/// Unobserved tracks still take part in matching: a detection from a region
/// that clips a frozen track continues that track instead of starting a twin.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Coverage {
    #[default]
    Full,
    Regions(Vec<BBox>),
    None,
}

impl Coverage {
    fn observes(&self, b: &BBox, min_overlap: f32) -> bool {
        match self {
            Coverage::Full => true,
            Coverage::None => false,
            Coverage::Regions(rs) => {
                let covered: f32 = rs.iter().map(|r| r.intersection(b)).sum();
                let area = b.area();
                if area <= 0.0 {
                    let c = b.center();
                    return rs
                        .iter()
                        .any(|r| c.x >= r.x1 && c.x <= r.x2 && c.y >= r.y1 && c.y <= r.y2);
                }
                // Overlapping regions count twice; clamping keeps the fraction
                // meaningful, and gating regions rarely overlap.
                covered > 0.0 && (covered / area).min(1.0) >= min_overlap
            }
        }
    }
}

/// Public life-cycle state of a confirmed track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackState {
    /// Matched to a detection in the latest update where it was observed.
    Confirmed,
    /// Missed while observed; coasting on its motion model until matched again
    /// or `max_lost` of observed time has passed.
    Lost,
}

/// The detection chosen as a track's evidence picture.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct BestCrop {
    pub ts: Timestamp,
    /// The detector's box (not the filtered one): what to cut from the frame.
    pub bbox: BBox,
    pub score: f32,
    /// score × size × (1 − edge truncation) × (1 − occlusion), in 0..1.
    pub quality: f32,
}

/// Everything known about one (confirmed) track; the final record is handed out
/// in [`TrackUpdate::ended`] and by [`Tracker::finish`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Track {
    /// Public ID, 1, 2, 3… per tracker, assigned at confirmation.
    pub id: u64,
    /// Majority vote over every matched detection.
    pub class_id: u32,
    pub label: Arc<str>,
    pub state: TrackState,
    pub first_seen: Timestamp,
    /// Time of the last matched detection.
    pub last_seen: Timestamp,
    /// Number of updates in which a detection was matched.
    pub hits: u32,
    /// Latest box: filtered when matched, predicted when coasting, frozen when
    /// unobserved.
    pub bbox: BBox,
    /// Score of the last matched detection.
    pub score: f32,
    pub max_score: f32,
    /// Bottom-centre points of matched updates. Bounded by
    /// `trajectory_max_points`: when full, every other point (except the first
    /// and the latest) is dropped, so older history gets progressively sparser
    /// while the recent path stays detailed.
    pub trajectory: Vec<(Timestamp, Point)>,
    pub best: Option<BestCrop>,
    /// When the tracker gave up on the track (expiry or `finish`); `None` while live.
    pub ended: Option<Timestamp>,
}

/// What the rules need about one confirmed track after an update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrackSnapshot {
    pub id: u64,
    pub class_id: u32,
    pub label: Arc<str>,
    pub bbox: BBox,
    pub score: f32,
    pub ts: Timestamp,
    /// Bottom centre of `bbox`.
    pub point: Point,
    /// Bottom centre in the previous update (for line crossing); `None` only
    /// for a track born and confirmed in this very update (`min_hits ≤ 1`).
    pub prev_point: Option<Point>,
    /// Velocity of the box centre, pixels per second (zero while unobserved).
    pub velocity: Point,
    pub state: TrackState,
    /// Whether the track's area was observed in this update (see [`Coverage`]).
    pub observed: bool,
    /// The best crop improved in this update: the current frame holds it, so
    /// the pipeline should cut the evidence picture now.
    pub is_new_best: bool,
    pub hits: u32,
    pub first_seen: Timestamp,
}

/// Result of one [`Tracker::update`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TrackUpdate {
    /// Every live confirmed track, matched, coasting or frozen, by ID.
    pub active: Vec<TrackSnapshot>,
    /// Tracks removed in this update, final records.
    pub ended: Vec<Track>,
    /// IDs confirmed in this update.
    pub started: Vec<u64>,
}

#[derive(Clone, Debug)]
struct Vote {
    class_id: u32,
    label: Arc<str>,
    count: u32,
    score_sum: f32,
}

/// Internal track: the public record plus filter and bookkeeping.
#[derive(Clone, Debug)]
struct Slot {
    /// `rec.id == 0` while tentative.
    rec: Track,
    tentative: bool,
    kf: KalmanBox,
    /// Unmatched time while observed, since the last match.
    lost_for: Duration,
    observed: bool,
    matched: bool,
    new_best: bool,
    point: Point,
    prev_point: Option<Point>,
    votes: Vec<Vote>,
}

/// ByteTrack-style multi-object tracker for one camera.
///
/// Each [`update`](Tracker::update):
/// 1. predicts every observed track to `ts` (real elapsed time), freezes
///    unobserved ones;
/// 2. matches high-score detections to confirmed and lost tracks (optimal
///    assignment on 1 − IoU);
/// 3. matches low-score detections to still-unmatched tracked tracks;
/// 4. matches tentative tracks to the leftover high detections; tentative
///    tracks that miss an observed update are dropped silently;
/// 5. starts tentative tracks from leftover detections ≥ `new_track_thresh`;
/// 6. ends lost tracks whose observed lost time exceeds `max_lost`.
#[derive(Debug)]
pub struct Tracker {
    cfg: TrackerConfig,
    slots: Vec<Slot>,
    next_id: u64,
    last_ts: Option<Timestamp>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker {
            cfg,
            slots: Vec::new(),
            next_id: 1,
            last_ts: None,
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.cfg
    }

    /// Sets the frame size once the stream's resolution is known (or changes).
    pub fn set_frame_size(&mut self, width: u32, height: u32) {
        self.cfg.frame_size = Some((width, height));
    }

    /// Live confirmed tracks (tracked, lost or frozen), in birth order.
    pub fn tracks(&self) -> impl Iterator<Item = &Track> {
        self.slots.iter().filter(|s| !s.tentative).map(|s| &s.rec)
    }

    /// Advance to `ts` with the detections found in `coverage`.
    ///
    /// Timestamps should not go backwards; if they do the step counts as zero
    /// time.
    pub fn update(
        &mut self,
        ts: Timestamp,
        dets: &[Detection],
        coverage: &Coverage,
    ) -> TrackUpdate {
        let step = self.last_ts.map_or(Duration::ZERO, |p| ts.since(p));
        let prev_ts = self.last_ts.unwrap_or(ts);
        self.last_ts = Some(ts.max(prev_ts));
        let cfg = &self.cfg;

        // 1. Predict or freeze.
        for s in &mut self.slots {
            s.matched = false;
            s.new_best = false;
            s.prev_point = Some(s.point);
            let mut pred = s.kf.clone();
            if !s.tentative && s.rec.state == TrackState::Lost {
                pred.freeze_height();
            }
            pred.predict(ts.since(prev_ts).as_secs_f64());
            s.observed = coverage.observes(&pred.bbox(), cfg.region_min_overlap);
            if s.observed {
                s.kf = pred;
            } else {
                s.kf.stop();
            }
            s.rec.bbox = s.kf.bbox();
        }

        let usable =
            |d: &Detection| d.bbox.is_finite() && d.bbox.area() > 0.0 && d.score.is_finite();
        let high: Vec<usize> = (0..dets.len())
            .filter(|&i| usable(&dets[i]) && dets[i].score >= cfg.high_thresh)
            .collect();
        let low: Vec<usize> = (0..dets.len())
            .filter(|&i| {
                usable(&dets[i])
                    && dets[i].score >= cfg.low_thresh
                    && dets[i].score < cfg.high_thresh
            })
            .collect();

        let mut started = Vec::new();

        // 2. High detections vs confirmed + lost tracks.
        let pool: Vec<usize> = (0..self.slots.len())
            .filter(|&i| !self.slots[i].tentative)
            .collect();
        let a = self.associate(&pool, &high, dets, cfg.fuse_score, cfg.match_iou);
        for &(r, c) in &a.matches {
            self.apply_match(pool[r], dets, high[c], ts, &mut started);
        }
        let left_high: Vec<usize> = a.unmatched_cols.iter().map(|&c| high[c]).collect();

        // 3. Low detections vs remaining tracked (not lost) tracks.
        let pool2: Vec<usize> = a
            .unmatched_rows
            .iter()
            .map(|&r| pool[r])
            .filter(|&i| self.slots[i].rec.state == TrackState::Confirmed)
            .collect();
        let a2 = self.associate(&pool2, &low, dets, false, self.cfg.second_match_iou);
        for &(r, c) in &a2.matches {
            self.apply_match(pool2[r], dets, low[c], ts, &mut started);
        }
        for s in &mut self.slots {
            if !s.tentative && !s.matched && s.observed {
                if s.rec.state == TrackState::Confirmed {
                    s.rec.state = TrackState::Lost;
                    s.lost_for = step;
                } else {
                    s.lost_for += step;
                }
            }
        }

        // 4. Tentative tracks vs leftover high detections.
        let pool3: Vec<usize> = (0..self.slots.len())
            .filter(|&i| self.slots[i].tentative)
            .collect();
        let a3 = self.associate(
            &pool3,
            &left_high,
            dets,
            self.cfg.fuse_score,
            self.cfg.unconfirmed_match_iou,
        );
        for &(r, c) in &a3.matches {
            self.apply_match(pool3[r], dets, left_high[c], ts, &mut started);
        }

        // 5. Births.
        for &c in &a3.unmatched_cols {
            let d = &dets[left_high[c]];
            if d.score >= self.cfg.new_track_thresh {
                self.birth(dets, left_high[c], ts, &mut started);
            }
        }

        // 6. Removals. Tentative tracks get one chance per observed update, and
        // a hard `max_lost` of wall time so frozen noise cannot linger.
        let max_lost = self.cfg.max_lost;
        let mut ended = Vec::new();
        self.slots.retain_mut(|s| {
            if s.tentative {
                return s.matched || (!s.observed && ts.since(s.rec.first_seen) <= max_lost);
            }
            if s.rec.state == TrackState::Lost && s.lost_for > max_lost {
                let mut rec = s.rec.clone();
                rec.ended = Some(ts);
                ended.push(rec);
                return false;
            }
            true
        });

        let mut active: Vec<TrackSnapshot> = self
            .slots
            .iter_mut()
            .filter(|s| !s.tentative)
            .map(|s| {
                s.point = s.rec.bbox.bottom_center();
                let (vx, vy) = s.kf.velocity();
                TrackSnapshot {
                    id: s.rec.id,
                    class_id: s.rec.class_id,
                    label: s.rec.label.clone(),
                    bbox: s.rec.bbox,
                    score: s.rec.score,
                    ts,
                    point: s.point,
                    prev_point: s.prev_point,
                    velocity: Point::new(vx as f32, vy as f32),
                    state: s.rec.state,
                    observed: s.observed,
                    is_new_best: s.new_best,
                    hits: s.rec.hits,
                    first_seen: s.rec.first_seen,
                }
            })
            .collect();
        for s in self.slots.iter_mut().filter(|s| s.tentative) {
            s.point = s.rec.bbox.bottom_center();
        }
        active.sort_by_key(|a| a.id);
        TrackUpdate {
            active,
            ended,
            started,
        }
    }

    /// End of stream: ends every remaining confirmed track (tentative ones are
    /// discarded) and returns their final records, `ended` set to `ts`.
    pub fn finish(&mut self, ts: Timestamp) -> Vec<Track> {
        let mut out: Vec<Track> = self
            .slots
            .drain(..)
            .filter(|s| !s.tentative)
            .map(|s| {
                let mut rec = s.rec;
                rec.ended = Some(ts);
                rec
            })
            .collect();
        out.sort_by_key(|t| t.id);
        out
    }

    fn compatible(&self, s: &Slot, d: &Detection) -> bool {
        !self.cfg.class_aware
            || s.rec.class_id == d.class_id
            || (self.cfg.vehicle_classes_interchangeable
                && VEHICLE_LABELS.contains(&&*s.rec.label)
                && VEHICLE_LABELS.contains(&&*d.label))
    }

    fn associate(
        &self,
        rows: &[usize],
        cols: &[usize],
        dets: &[Detection],
        fuse: bool,
        limit: f32,
    ) -> crate::assign::Assignment {
        let mut cost = Vec::with_capacity(rows.len() * cols.len());
        for &r in rows {
            let s = &self.slots[r];
            for &c in cols {
                let d = &dets[c];
                cost.push(if self.compatible(s, d) {
                    let iou = s.rec.bbox.iou(&d.bbox) as f64;
                    1.0 - if fuse { iou * d.score as f64 } else { iou }
                } else {
                    f64::INFINITY
                });
            }
        }
        linear_assignment(&cost, rows.len(), cols.len(), limit as f64)
    }

    /// Corrects the track's filter with detection `di` and records the hit.
    fn apply_match(
        &mut self,
        slot: usize,
        dets: &[Detection],
        di: usize,
        ts: Timestamp,
        started: &mut Vec<u64>,
    ) {
        self.slots[slot].kf.update(&dets[di].bbox);
        self.record_hit(slot, dets, di, ts, started);
    }

    /// Bookkeeping of a matched detection: counters, votes, trajectory,
    /// confirmation and best crop (the filter is already corrected).
    fn record_hit(
        &mut self,
        slot: usize,
        dets: &[Detection],
        di: usize,
        ts: Timestamp,
        started: &mut Vec<u64>,
    ) {
        let d = &dets[di];
        let min_hits = self.cfg.min_hits;
        let s = &mut self.slots[slot];
        s.matched = true;
        s.observed = true;
        s.lost_for = Duration::ZERO;
        s.rec.state = TrackState::Confirmed;
        s.rec.bbox = s.kf.bbox();
        s.rec.last_seen = ts;
        s.rec.hits += 1;
        s.rec.score = d.score;
        s.rec.max_score = s.rec.max_score.max(d.score);
        vote(s, d);
        if s.tentative && s.rec.hits >= min_hits {
            s.tentative = false;
            s.rec.id = self.next_id;
            self.next_id += 1;
            started.push(s.rec.id);
        }
        push_point(
            &mut s.rec.trajectory,
            (ts, s.rec.bbox.bottom_center()),
            self.cfg.trajectory_max_points,
        );
        if !s.tentative {
            let q = crop_quality(&d.bbox, d.score, self.cfg.frame_size, dets, di);
            let better = s
                .rec
                .best
                .is_none_or(|b| q > b.quality * (1.0 + self.cfg.best_min_gain));
            // The first crop after confirmation is always taken: the frames a
            // tentative track was seen in are gone by the time it has an ID.
            if better {
                s.rec.best = Some(BestCrop {
                    ts,
                    bbox: d.bbox,
                    score: d.score,
                    quality: q,
                });
                s.new_best = true;
            }
        }
    }

    fn birth(&mut self, dets: &[Detection], di: usize, ts: Timestamp, started: &mut Vec<u64>) {
        let d = &dets[di];
        let kf = KalmanBox::new(&d.bbox);
        let bbox = kf.bbox();
        self.slots.push(Slot {
            rec: Track {
                id: 0,
                class_id: d.class_id,
                label: d.label.clone(),
                state: TrackState::Confirmed,
                first_seen: ts,
                last_seen: ts,
                hits: 0,
                bbox,
                score: d.score,
                max_score: d.score,
                trajectory: Vec::new(),
                best: None,
                ended: None,
            },
            tentative: true,
            kf,
            lost_for: Duration::ZERO,
            observed: true,
            matched: false,
            new_best: false,
            point: bbox.bottom_center(),
            prev_point: None,
            votes: Vec::new(),
        });
        // The birth detection is the first hit (the filter already starts at
        // it); this also confirms at once when `min_hits ≤ 1`.
        self.record_hit(self.slots.len() - 1, dets, di, ts, started);
    }
}

fn vote(s: &mut Slot, d: &Detection) {
    match s.votes.iter_mut().find(|v| v.class_id == d.class_id) {
        Some(v) => {
            v.count += 1;
            v.score_sum += d.score;
        }
        None => s.votes.push(Vote {
            class_id: d.class_id,
            label: d.label.clone(),
            count: 1,
            score_sum: d.score,
        }),
    }
    // Ties go to the higher summed score, then to the class seen first.
    let mut best = &s.votes[0];
    for v in &s.votes[1..] {
        if v.count > best.count || (v.count == best.count && v.score_sum > best.score_sum) {
            best = v;
        }
    }
    s.rec.class_id = best.class_id;
    s.rec.label = best.label.clone();
}

fn push_point(traj: &mut Vec<(Timestamp, Point)>, p: (Timestamp, Point), max: usize) {
    traj.push(p);
    if traj.len() > max.max(2) {
        // Keep the first point, every other one after it, and the newest.
        let last = traj.len() - 1;
        let mut i = 0;
        traj.retain(|_| {
            let keep = i % 2 == 0 || i == last;
            i += 1;
            keep
        });
    }
}

/// How good a detection is as evidence picture, 0..1: confident, large enough
/// to recognise, inside the frame, and not covered by other objects.
fn crop_quality(
    b: &BBox,
    score: f32,
    frame: Option<(u32, u32)>,
    dets: &[Detection],
    di: usize,
) -> f32 {
    let area = b.area();
    if area <= 0.0 {
        return 0.0;
    }
    // Saturating in the box's linear size: past ~200 px more pixels add little.
    let size = 1.0 - (-area.sqrt() / 64.0).exp();
    let truncation = match frame {
        Some((w, h)) => {
            let (w, h) = (w as f32, h as f32);
            let visible = b.clamp(w, h).area() / area;
            // A box touching the border is probably cut off by it.
            const MARGIN: f32 = 2.0;
            let touching = [
                b.x1 <= MARGIN,
                b.y1 <= MARGIN,
                b.x2 >= w - MARGIN,
                b.y2 >= h - MARGIN,
            ]
            .iter()
            .filter(|&&t| t)
            .count();
            visible * 0.8f32.powi(touching as i32)
        }
        None => 1.0,
    };
    let occluded = dets
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != di)
        .map(|(_, o)| b.intersection(&o.bbox) / area)
        .fold(0.0f32, f32::max)
        .min(1.0);
    (score * size * truncation * (1.0 - occluded)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trajectory_thinning_keeps_ends() {
        let mut t = Vec::new();
        for i in 0..1000 {
            push_point(&mut t, (Timestamp(i), Point::new(i as f32, 0.0)), 16);
            assert!(t.len() <= 16);
            assert_eq!(t[0].0, Timestamp(0));
            assert_eq!(t.last().unwrap().0, Timestamp(i));
            assert!(t.windows(2).all(|w| w[0].0 < w[1].0));
        }
    }

    #[test]
    fn crop_quality_prefers_big_whole_unoccluded() {
        let det = |b: BBox| Detection {
            bbox: b,
            score: 0.9,
            class_id: 0,
            label: "person".into(),
        };
        let big = BBox::new(100.0, 100.0, 200.0, 300.0);
        let small = BBox::new(100.0, 100.0, 120.0, 140.0);
        let edge = BBox::new(0.0, 100.0, 100.0, 300.0);
        let f = Some((640, 480));
        let q = |b: BBox, others: &[BBox]| {
            let mut ds = vec![det(b)];
            ds.extend(others.iter().map(|&o| det(o)));
            crop_quality(&b, 0.9, f, &ds, 0)
        };
        assert!(q(big, &[]) > q(small, &[]));
        assert!(q(big, &[]) > q(edge, &[]));
        assert!(q(big, &[]) > q(big, &[BBox::new(150.0, 100.0, 250.0, 300.0)]));
    }
}
