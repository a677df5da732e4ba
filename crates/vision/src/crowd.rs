//! Crowd counting: people in one frame from multi-scale person detection
//! fused with face detections.
//!
//! A person detector at 416 px misses people who are small in the frame, and
//! a dense crowd is mostly small, overlapping people. Two cheap remedies are
//! combined:
//!
//! - **Multi-scale tiles with a scale-aware merge.** The frame is detected
//!   whole, then as 2×2 and 3×3 overlapping tiles (each a full detector
//!   input, so people are 1.8× and 2.6× larger than in the whole-frame pass
//!   on a 4:3 frame). A tile level only contributes people that the coarser
//!   level could *not* see reliably: boxes shorter than
//!   [`CrowdCounterConfig::reliable_height`] network pixels at the coarser
//!   level's scale. Larger boxes found in tiles are fragments of people the
//!   coarser level already has (a torso, a person cut at the tile border, a
//!   bus window at 3× magnification), which is what made plain 3×3 tiling
//!   over-count sparse scenes. The rest are merged greedily: a box that
//!   overlaps (IoU) or lies mostly inside an already kept box is a duplicate.
//! - **Faces as heads.** In a crowd the heads are what stays visible. A face
//!   detector ([`HeadDetector`]: SCRFD on tiles near native scale, or YuNet
//!   with a 2× pass, wired in the pipeline crate) sees frontal heads of
//!   10–16 px and more. Each face is matched one-to-one with a kept person
//!   box whose upper part holds its centre; a face with no such box is a
//!   person the body detector missed and adds one. Faces under
//!   [`CrowdCounterConfig::min_face`] px are ignored: below the detector's
//!   reliable size most detections on the development photos were not
//!   annotated heads (texture, print, far background).
//!
//! Measured results and the limits of the method are in `docs/evaluation.md`
//! (`kuzet eval crowd`).

use crate::detector::{nms_per_class, DetectRequest, Detector};
use crate::error::VisionError;
use base::{BBox, Detection, Frame, Point};
use serde::{Deserialize, Serialize};
use std::time::Instant;

/// A source of face (head) boxes: SCRFD or YuNet in the `faces` crate,
/// wrapped where both crates are available (the pipeline), so vision does not
/// depend on it.
pub trait HeadDetector: Send {
    /// Face boxes with scores in frame pixels, for a packed RGB8 frame.
    fn heads(&mut self, frame: &Frame) -> Result<Vec<(BBox, f32)>, VisionError>;
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct CrowdCounterConfig {
    /// Person boxes below this score are ignored (at every scale). Higher
    /// than the tracker's 0.3 because the 3×3 tiles magnify texture into
    /// low-score "people".
    pub person_score: f32,
    /// Tile grids run after the whole frame, coarse to fine (n means n×n).
    pub grids: Vec<u32>,
    /// Overlap between neighbouring tiles (fraction of a tile).
    pub overlap: f32,
    /// Person height (network px) from which a scale is trusted: a finer
    /// level only adds people shorter than this at the coarser level's scale.
    pub reliable_height: f32,
    /// Faces below this score are ignored.
    pub face_score: f32,
    /// Faces shorter than this (frame px) are ignored.
    pub min_face: f32,
    /// Dedup: same person when IoU is above this...
    pub dup_iou: f32,
    /// ...or when this fraction of the smaller box lies inside the other.
    pub dup_contained: f32,
}

impl Default for CrowdCounterConfig {
    fn default() -> Self {
        CrowdCounterConfig {
            person_score: 0.5,
            grids: vec![2, 3],
            overlap: 0.2,
            reliable_height: 64.0,
            face_score: 0.8,
            min_face: 16.0,
            dup_iou: 0.45,
            dup_contained: 0.7,
        }
    }
}

impl CrowdCounterConfig {
    /// Checks ranges, so a bad config is an error naming the key.
    pub fn validate(&self) -> Result<(), VisionError> {
        let bad = |k: &str, v: f32, r: &str| {
            Err(VisionError::Config(format!(
                "crowd counter: {k} = {v} must be {r}"
            )))
        };
        for (k, v) in [
            ("person_score", self.person_score),
            ("face_score", self.face_score),
            ("dup_iou", self.dup_iou),
            ("dup_contained", self.dup_contained),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return bad(k, v, "within 0..1");
            }
        }
        if !(0.0..=0.5).contains(&self.overlap) {
            return bad("overlap", self.overlap, "within 0..0.5");
        }
        if self.reliable_height.is_nan() || self.reliable_height <= 0.0 {
            return bad("reliable_height", self.reliable_height, "positive");
        }
        if self.min_face.is_nan() || self.min_face < 0.0 {
            return bad("min_face", self.min_face, "0 or more");
        }
        if let Some(g) = self.grids.iter().find(|g| !(2..=8).contains(*g)) {
            return Err(VisionError::Config(format!(
                "crowd counter: grid {g} must be within 2..=8 (n means n×n tiles)"
            )));
        }
        Ok(())
    }
}

/// Which detector found a counted person.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PersonSource {
    /// A person box (its level: 1 = whole frame, n = n×n tiles).
    Body { level: u32 },
    /// A face no person box accounted for.
    Face,
}

/// One counted person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CountedPerson {
    /// Person box; for a face-only person, the body estimated from the face
    /// (3 face widths wide, 7.5 face heights tall), so zone rules can place
    /// it by the bottom centre like a tracked person.
    pub bbox: BBox,
    /// Where the head is (top of the box, or the face centre).
    pub head: Point,
    pub score: f32,
    pub source: PersonSource,
    /// Matched face, if any.
    pub face: Option<BBox>,
}

/// The count of one frame.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CrowdEstimate {
    pub people: Vec<CountedPerson>,
    /// Person boxes kept after the multi-scale merge.
    pub bodies: usize,
    /// Faces used (score and size above the limits).
    pub faces: usize,
    /// Faces that added a person (no body box accounted for them).
    pub faces_added: usize,
    pub person_ms: f64,
    pub face_ms: f64,
}

impl CrowdEstimate {
    pub fn count(&self) -> usize {
        self.people.len()
    }

    /// How many counted people are in focus: their [`focus_measure`] is at
    /// least `ratio` × the sharpest person's. For a photo whose label counts
    /// only the foreground (a player before a stand the lens has blurred),
    /// where the counter rightly sees the blurred spectators too. A person
    /// is measured on the face where one matched (a body box cut by the
    /// frame or holding background says less about the lens than a face).
    pub fn in_focus(&self, frame: &Frame, ratio: f32) -> usize {
        let focus: Vec<f32> = self
            .people
            .iter()
            .map(|p| focus_measure(frame, &p.face.unwrap_or(p.bbox)))
            .collect();
        let best = focus.iter().copied().fold(0.0, f32::max);
        focus.iter().filter(|&&f| f >= ratio * best).count()
    }
}

/// Side of the square (in pixels) a region is averaged down to before its
/// focus is measured: see [`focus_measure`].
const FOCUS_SIDE: f64 = 32.0;

/// Share of a region's contrast that lies in fine detail: the variance of
/// the 3×3 Laplacian of its luma over the variance of the luma (0 for a flat
/// or a tiny region), measured after the region is area-averaged down to
/// about 32×32 px. Defocus blur removes fine detail but keeps coarse
/// contrast, so the ratio separates a blurred person from a sharp one
/// whatever their clothing's contrast. The averaging makes it a property of
/// the object rather than of its size in pixels: measured at native
/// resolution a sharp 200 px face (smooth skin) scores as low as a blurred
/// spectator, while a sharp 13 px face scores 50× higher. On the development
/// photo with a blurred stand, the spectators measure 0.01–0.07 of the
/// player. Written by hand: a box average and a 3×3 stencil over one region
/// are cheaper than converting the frame for an image crate's filters.
pub fn focus_measure(frame: &Frame, b: &BBox) -> f32 {
    let (w, h) = (frame.width as i64, frame.height as i64);
    let x1 = (b.x1.floor() as i64).clamp(0, w);
    let y1 = (b.y1.floor() as i64).clamp(0, h);
    let x2 = (b.x2.ceil() as i64).clamp(0, w);
    let y2 = (b.y2.ceil() as i64).clamp(0, h);
    let (bw, bh) = (x2 - x1, y2 - y1);
    if bw < 3 || bh < 3 {
        return 0.0;
    }
    let scale = (FOCUS_SIDE * FOCUS_SIDE / (bw * bh) as f64).sqrt().min(1.0);
    let tw = ((bw as f64 * scale).round() as i64).max(3);
    let th = ((bh as f64 * scale).round() as i64).max(3);
    let (mut sum, mut cnt) = (
        vec![0.0f64; (tw * th) as usize],
        vec![0u32; (tw * th) as usize],
    );
    let rgb = &frame.rgb;
    for y in y1..y2 {
        let cy = (y - y1) * th / bh;
        for x in x1..x2 {
            let i = ((y * w + x) * 3) as usize;
            let v = 0.299 * rgb[i] as f64 + 0.587 * rgb[i + 1] as f64 + 0.114 * rgb[i + 2] as f64;
            let c = (cy * tw + (x - x1) * tw / bw) as usize;
            sum[c] += v;
            cnt[c] += 1;
        }
    }
    let g: Vec<f64> = sum
        .iter()
        .zip(&cnt)
        .map(|(s, &n)| s / n.max(1) as f64)
        .collect();
    let var = variance(g.iter().copied());
    let at = |x: i64, y: i64| g[(y * tw + x) as usize];
    let lap = (1..th - 1).flat_map(|y| {
        (1..tw - 1).map(move |x| {
            at(x - 1, y) + at(x + 1, y) + at(x, y - 1) + at(x, y + 1) - 4.0 * at(x, y)
        })
    });
    let lvar = variance(lap);
    if var <= 1e-9 {
        0.0
    } else {
        (lvar / var) as f32
    }
}

fn variance(v: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut s, mut s2) = (0.0, 0.0, 0.0);
    for x in v {
        n += 1.0;
        s += x;
        s2 += x * x;
    }
    if n == 0.0 {
        0.0
    } else {
        (s2 - s * s / n) / n
    }
}

/// Counts people in frames; owns its detectors.
pub struct CrowdCounter {
    cfg: CrowdCounterConfig,
    detector: Box<dyn Detector>,
    heads: Option<Box<dyn HeadDetector>>,
    /// Network input side of the person detector.
    input: f32,
}

/// The `n`×`n` overlapping tiles of a `w`×`h` frame (row-major).
pub fn grid_tiles(w: u32, h: u32, n: u32, overlap: f32) -> Vec<BBox> {
    let span = |len: f32| -> Vec<(f32, f32)> {
        let n = n.max(1);
        let o = overlap.clamp(0.0, 0.5);
        let size = len / (n as f32 - (n as f32 - 1.0) * o);
        let step = size * (1.0 - o);
        (0..n)
            .map(|i| {
                let a = (i as f32 * step).round();
                let b = if i + 1 == n {
                    len
                } else {
                    (i as f32 * step + size).round().min(len)
                };
                (a, b)
            })
            .collect()
    };
    let (xs, ys) = (span(w as f32), span(h as f32));
    ys.iter()
        .flat_map(|&(y1, y2)| xs.iter().map(move |&(x1, x2)| BBox::new(x1, y1, x2, y2)))
        .collect()
}

impl CrowdCounter {
    /// `detector` should keep `person` (other classes are ignored) with a
    /// score threshold at or below `cfg.person_score`; `input_size` is its
    /// square network input (416 for YOLOX-nano). `heads` is optional: without
    /// it only bodies are counted.
    pub fn new(
        cfg: CrowdCounterConfig,
        detector: Box<dyn Detector>,
        input_size: u32,
        heads: Option<Box<dyn HeadDetector>>,
    ) -> Result<Self, VisionError> {
        cfg.validate()?;
        Ok(CrowdCounter {
            cfg,
            detector,
            heads,
            input: input_size as f32,
        })
    }

    pub fn config(&self) -> &CrowdCounterConfig {
        &self.cfg
    }

    /// Counts the people in `frame`.
    pub fn count(&mut self, frame: &Frame) -> Result<CrowdEstimate, VisionError> {
        let (w, h) = (frame.width, frame.height);
        if w == 0 || h == 0 || frame.rgb.len() != w as usize * h as usize * 3 {
            return Err(VisionError::InvalidInput(format!(
                "frame {w}x{h} has {} bytes, expected packed RGB8",
                frame.rgb.len()
            )));
        }
        let t0 = Instant::now();
        // Level 1 = whole frame, then the grids; all in one detector call.
        let mut levels: Vec<(u32, Vec<Option<BBox>>)> = vec![(1, vec![None])];
        for &n in &self.cfg.grids {
            levels.push((
                n,
                grid_tiles(w, h, n, self.cfg.overlap)
                    .into_iter()
                    .map(Some)
                    .collect(),
            ));
        }
        let reqs: Vec<DetectRequest<'_>> = levels
            .iter()
            .flat_map(|(_, rois)| rois.iter().map(|r| DetectRequest { frame, roi: *r }))
            .collect();
        let mut results = self.detector.detect(&reqs)?.into_iter();
        let mut per_level: Vec<(u32, f32, Vec<Detection>)> = Vec::new();
        for (n, rois) in &levels {
            let dets: Vec<Detection> = results
                .by_ref()
                .take(rois.len())
                .flatten()
                .filter(|d| &*d.label == "person" && d.score > self.cfg.person_score)
                .collect();
            // Network px per frame px at this level (first tile's size).
            let (rw, rh) = match rois[0] {
                Some(b) => (b.width(), b.height()),
                None => (w as f32, h as f32),
            };
            let r = (self.input / rw).min(self.input / rh);
            per_level.push((*n, r, nms_per_class(dets, self.cfg.dup_iou)));
        }
        let bodies = self.merge_levels(per_level);
        let person_ms = t0.elapsed().as_secs_f64() * 1e3;

        let t1 = Instant::now();
        let faces: Vec<(BBox, f32)> = match self.heads.as_mut() {
            Some(hd) => hd
                .heads(frame)?
                .into_iter()
                .filter(|(b, s)| *s > self.cfg.face_score && b.height() >= self.cfg.min_face)
                .collect(),
            None => Vec::new(),
        };
        let face_ms = t1.elapsed().as_secs_f64() * 1e3;
        let n_faces = faces.len();
        let (people, faces_added) = fuse(bodies, faces, (w as f32, h as f32));
        Ok(CrowdEstimate {
            bodies: people.len() - faces_added,
            people,
            faces: n_faces,
            faces_added,
            person_ms,
            face_ms,
        })
    }

    /// Scale-aware merge: whole-frame boxes are kept; each finer level adds
    /// boxes too small for the previous level and not duplicating a kept box.
    fn merge_levels(&self, levels: Vec<(u32, f32, Vec<Detection>)>) -> Vec<(Detection, u32)> {
        let mut keep: Vec<(Detection, u32)> = Vec::new();
        let mut prev_r = None;
        for (n, r, mut dets) in levels {
            if let Some(pr) = prev_r {
                dets.retain(|d| d.bbox.height() * pr < self.cfg.reliable_height);
            }
            dets.sort_by(|a, b| b.score.total_cmp(&a.score));
            if prev_r.is_none() {
                // The whole frame is the reference: already NMS-ed, all kept.
                keep.extend(dets.into_iter().map(|d| (d, n)));
                prev_r = Some(r);
                continue;
            }
            for d in dets {
                let area = d.bbox.area();
                let dup = keep.iter().any(|(k, _)| {
                    k.bbox.iou(&d.bbox) > self.cfg.dup_iou
                        || k.bbox.intersection(&d.bbox)
                            > self.cfg.dup_contained * area.min(k.bbox.area())
                });
                if !dup {
                    keep.push((d, n));
                }
            }
            prev_r = Some(r);
        }
        keep
    }
}

/// A face belongs to a body box when its centre lies within the box widened
/// by this fraction on each side (heads stick out of loose boxes)...
const FACE_SIDE_SLACK: f32 = 0.15;
/// ...and no higher than this fraction of the box height above its top.
const FACE_TOP_SLACK: f32 = 0.15;

/// Matches faces (best first) one-to-one with body boxes; unmatched faces
/// are extra people. Returns everyone and how many faces were added. The
/// body estimated for a face-only person is clipped to the `frame` (w, h):
/// near the bottom edge it would reach below the image, and a zone places a
/// person by the bottom centre, which must lie in the frame to be counted.
fn fuse(
    bodies: Vec<(Detection, u32)>,
    mut faces: Vec<(BBox, f32)>,
    frame: (f32, f32),
) -> (Vec<CountedPerson>, usize) {
    let mut people: Vec<CountedPerson> = bodies
        .into_iter()
        .map(|(d, level)| CountedPerson {
            head: Point::new(
                (d.bbox.x1 + d.bbox.x2) / 2.0,
                d.bbox.y1 + 0.08 * d.bbox.height(),
            ),
            bbox: d.bbox,
            score: d.score,
            source: PersonSource::Body { level },
            face: None,
        })
        .collect();
    let n_bodies = people.len();
    faces.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut added = 0;
    for (f, score) in faces {
        let c = f.center();
        let best = people[..n_bodies]
            .iter()
            .enumerate()
            .filter(|(_, p)| p.face.is_none())
            .filter(|(_, p)| {
                let b = &p.bbox;
                let (bw, bh) = (b.width(), b.height());
                c.x >= b.x1 - FACE_SIDE_SLACK * bw
                    && c.x <= b.x2 + FACE_SIDE_SLACK * bw
                    && c.y >= b.y1 - FACE_TOP_SLACK * bh
                    && c.y <= b.y2
            })
            .min_by(|a, b| {
                let d = |p: &CountedPerson| (c.x - p.bbox.center().x).abs() / p.bbox.width();
                d(a.1).total_cmp(&d(b.1))
            })
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                people[i].face = Some(f);
                people[i].head = c;
            }
            None => {
                added += 1;
                let (fw, fh) = (f.width(), f.height());
                people.push(CountedPerson {
                    bbox: BBox::new(c.x - 1.5 * fw, f.y1, c.x + 1.5 * fw, f.y1 + 7.5 * fh)
                        .clamp(frame.0, frame.1),
                    head: c,
                    score,
                    source: PersonSource::Face,
                    face: Some(f),
                });
            }
        }
    }
    (people, added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn focus_separates_blur_from_low_contrast() {
        // left: fine stripes, full contrast above and below, a tenth of it
        // in the middle rows (dark clothing in shade is low-contrast, not
        // blurred); right: the same stripes out of focus
        let (w, h) = (64u32, 32u32);
        let stripe = |x: u32| {
            if (x / 8).is_multiple_of(2) {
                220.0f32
            } else {
                40.0
            }
        };
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for y in 0..h {
            for x in 0..w {
                let v = if x >= 32 {
                    // a 7-px box blur (defocus) of the stripes
                    (x - 3..=x + 3).map(stripe).sum::<f32>() / 7.0
                } else if (8..24).contains(&y) {
                    130.0 + (stripe(x) - 130.0) / 10.0
                } else {
                    stripe(x)
                };
                let i = ((y * w + x) * 3) as usize;
                rgb[i..i + 3].fill(v as u8);
            }
        }
        let f = Frame::new(Arc::from("t"), 0, base::Timestamp(0), 0, w, h, rgb);
        let sharp = focus_measure(&f, &BBox::new(0.0, 0.0, 32.0, 8.0));
        let dim = focus_measure(&f, &BBox::new(0.0, 8.0, 32.0, 24.0));
        let blurred = focus_measure(&f, &BBox::new(32.0, 0.0, 64.0, 32.0));
        assert!(
            sharp > 0.5 && (dim / sharp - 1.0).abs() < 0.2,
            "{sharp} {dim}"
        );
        assert!(blurred < 0.25 * sharp, "{blurred} {sharp}");
        // a flat or degenerate region has no detail
        assert_eq!(focus_measure(&f, &BBox::new(0.0, 0.0, 2.0, 2.0)), 0.0);
        assert_eq!(
            focus_measure(&f, &BBox::new(-50.0, -50.0, -10.0, -10.0)),
            0.0
        );
    }

    #[test]
    fn focus_is_a_property_of_the_object_not_its_size() {
        // the same sharp stripes seen 4× closer: at native resolution the
        // near copy holds 16× less Laplacian energy per unit contrast
        let stripes = |side: u32, width: u32| {
            let mut rgb = vec![0u8; (side * side * 3) as usize];
            for y in 0..side {
                for x in 0..side {
                    let v = if ((x + y / 3) / width).is_multiple_of(2) {
                        210
                    } else {
                        50
                    };
                    let i = ((y * side + x) * 3) as usize;
                    rgb[i..i + 3].fill(v);
                }
            }
            let f = Frame::new(Arc::from("t"), 0, base::Timestamp(0), 0, side, side, rgb);
            focus_measure(&f, &BBox::new(0.0, 0.0, side as f32, side as f32))
        };
        let (far, near) = (stripes(64, 4), stripes(256, 16));
        assert!(far > 0.5 && (near / far - 1.0).abs() < 0.5, "{far} {near}");
    }

    fn person(x1: f32, y1: f32, x2: f32, y2: f32, score: f32) -> Detection {
        Detection {
            bbox: BBox::new(x1, y1, x2, y2),
            score,
            class_id: 0,
            label: Arc::from("person"),
        }
    }

    fn counter_cfg() -> CrowdCounterConfig {
        CrowdCounterConfig::default()
    }

    struct NoDetector;
    impl Detector for NoDetector {
        fn name(&self) -> &str {
            "none"
        }
        fn labels(&self) -> &[Arc<str>] {
            &[]
        }
        fn max_batch(&self) -> usize {
            16
        }
        fn detect(&mut self, r: &[DetectRequest<'_>]) -> Result<Vec<Vec<Detection>>, VisionError> {
            Ok(vec![Vec::new(); r.len()])
        }
        fn last_timings(&self) -> crate::StageTimings {
            Default::default()
        }
    }

    #[test]
    fn finer_levels_only_add_people_too_small_for_the_coarser_one() {
        let c = CrowdCounter::new(counter_cfg(), Box::new(NoDetector), 416, None).unwrap();
        // Whole frame at r = 0.4: one big person. 2x2 at r = 0.7 finds a
        // fragment of it (too tall to be new: 200 px * 0.4 = 80 net px) and a
        // small person (100 px * 0.4 = 40 < 64 net px: new).
        let levels = vec![
            (1, 0.4, vec![person(100.0, 100.0, 180.0, 400.0, 0.9)]),
            (
                2,
                0.7,
                vec![
                    person(400.0, 100.0, 450.0, 300.0, 0.9),
                    person(600.0, 100.0, 630.0, 200.0, 0.6),
                    // Duplicate of the whole-frame person, inside it.
                    person(110.0, 110.0, 170.0, 160.0, 0.9),
                ],
            ),
        ];
        let kept = c.merge_levels(levels);
        let boxes: Vec<(BBox, u32)> = kept.iter().map(|(d, n)| (d.bbox, *n)).collect();
        assert_eq!(
            boxes,
            vec![
                (BBox::new(100.0, 100.0, 180.0, 400.0), 1),
                (BBox::new(600.0, 100.0, 630.0, 200.0), 2)
            ]
        );
    }

    #[test]
    fn a_face_adds_a_person_only_outside_every_body() {
        let bodies = vec![(person(100.0, 100.0, 160.0, 300.0, 0.9), 1)];
        let faces = vec![
            // The body's own face: absorbed.
            (BBox::new(120.0, 105.0, 140.0, 130.0), 0.95),
            // A second face inside the same box (someone behind): one box
            // takes one face, so it adds a person.
            (BBox::new(140.0, 110.0, 158.0, 132.0), 0.9),
            // A face far away: a person the body detector missed.
            (BBox::new(500.0, 100.0, 520.0, 124.0), 0.85),
            // A face near the bottom edge of the 1000×400 frame.
            (BBox::new(700.0, 350.0, 716.0, 370.0), 0.8),
        ];
        let (people, added) = fuse(bodies, faces, (1000.0, 400.0));
        assert_eq!((people.len(), added), (4, 3));
        assert_eq!(people[0].face, Some(BBox::new(120.0, 105.0, 140.0, 130.0)));
        assert_eq!(people[2].source, PersonSource::Face);
        // Estimated body below the face, for zone placement...
        assert!((people[2].bbox.y2 - (100.0 + 7.5 * 24.0)).abs() < 1e-3);
        // ...ending at the frame's edge, where a zone can still place it.
        assert_eq!(people[3].bbox.y2, 400.0);
    }

    #[test]
    fn bad_config_is_an_error_naming_the_key() {
        let cfg = CrowdCounterConfig {
            grids: vec![1],
            ..Default::default()
        };
        let e = CrowdCounter::new(cfg, Box::new(NoDetector), 416, None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("grid 1"), "{e}");
        let cfg = CrowdCounterConfig {
            person_score: 1.5,
            ..Default::default()
        };
        let e = cfg.validate().unwrap_err();
        assert!(e.to_string().contains("person_score"), "{e}");
    }
}
