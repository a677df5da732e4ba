//! Face recognition evaluation on a labelled photo set
//! (`<root>/faces/labels.csv`: path,identity,…; paths relative to `<root>`).
//!
//! * 1:1 verification: every same-identity pair is genuine, every
//!   different-identity pair an impostor; TAR at FAR 1e-2 / 1e-3, ROC points,
//!   AUC, EER and score statistics.
//! * 1:N identification: the first photo (file order) of each identity with
//!   ≥ 2 photos is enrolled, the rest are mated probes (rank-1 accuracy);
//!   photos of single-photo identities are non-mated probes, and FNIR is
//!   read at the threshold where FPIR = 0.01. With few singletons FPIR can
//!   only take coarse values, so the same figure is also given with
//!   leave-one-identity-out non-mated searches (every mated probe searched
//!   against the gallery without its own identity).
//!
//! A photo without an acceptable face (none found, or below the quality
//! gate) is a failure to enrol (gallery photo) or to acquire (probe); it
//! takes part in no pair, and counts as a miss in identification.

use crate::embed::cosine;
use crate::error::FacesError;
use crate::imageio::load_photo;
use crate::pipeline::choose_enrolment_face;
use crate::pool::FacePool;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One row of labels.csv.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LabelledPhoto {
    /// As written in the CSV (relative to the data root).
    pub rel: String,
    pub path: PathBuf,
    pub identity: String,
}

/// Reads `<root>/faces/labels.csv`.
pub fn read_labels(root: &Path) -> Result<Vec<LabelledPhoto>, FacesError> {
    let csv = root.join("faces/labels.csv");
    let text = std::fs::read_to_string(&csv).map_err(|e| FacesError::Io {
        path: csv.clone(),
        source: e,
    })?;
    let table = base::labels_csv::Table::parse(&text);
    let (Some(pc), Some(ic)) = (table.column("path"), table.column("identity")) else {
        return Err(FacesError::Invalid(format!(
            "{}: the header must name the columns `path` and `identity` (found {:?})",
            csv.display(),
            table.header
        )));
    };
    let mut out = Vec::new();
    for row in &table.rows {
        let (Some(rel), Some(id)) = (row.get(pc), row.get(ic)) else {
            return Err(FacesError::Invalid(format!(
                "{} line {}: fewer columns than the header",
                csv.display(),
                row.line
            )));
        };
        out.push(LabelledPhoto {
            rel: rel.to_owned(),
            path: root.join(rel),
            identity: id.to_owned(),
        });
    }
    Ok(out)
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ScoreStats {
    pub count: usize,
    pub min: f32,
    pub mean: f32,
    pub max: f32,
}

impl ScoreStats {
    fn of(v: &[f32]) -> ScoreStats {
        if v.is_empty() {
            return ScoreStats::default();
        }
        ScoreStats {
            count: v.len(),
            min: v.iter().copied().fold(f32::MAX, f32::min),
            mean: v.iter().sum::<f32>() / v.len() as f32,
            max: v.iter().copied().fold(f32::MIN, f32::max),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RocPoint {
    pub threshold: f32,
    pub tar: f64,
    pub far: f64,
}

/// TAR at a target FAR: the threshold is the lowest at which the impostor
/// acceptance rate is ≤ the target (scores ≥ threshold are accepted).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TarAtFar {
    pub far_target: f64,
    pub threshold: f32,
    pub tar: f64,
    /// FAR actually reached (≤ target; coarse with few impostor pairs).
    pub far: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verification {
    pub genuine: ScoreStats,
    pub impostor: ScoreStats,
    pub tar_at_far: Vec<TarAtFar>,
    pub roc: Vec<RocPoint>,
    /// P(genuine score > impostor score).
    pub auc: f64,
    /// Equal error rate and its threshold.
    pub eer: f64,
    pub eer_threshold: f32,
}

fn rate_at(sorted_desc: &[f32], t: f32) -> f64 {
    if sorted_desc.is_empty() {
        return 0.0;
    }
    sorted_desc.iter().take_while(|&&s| s >= t).count() as f64 / sorted_desc.len() as f64
}

/// The lowest threshold among observed scores (and just above the top
/// impostor) whose FAR is ≤ `far_target`.
fn threshold_for_far(impostor_desc: &[f32], far_target: f64) -> f32 {
    let n = impostor_desc.len();
    // Accepting the top j impostors gives FAR j/n; the largest allowed j:
    let j = (far_target * n as f64 + 1e-9).floor() as usize;
    if j >= n {
        return f32::MIN;
    }
    // Threshold just above impostor j (0-based), so it is rejected.
    next_up(impostor_desc[j])
}

fn next_up(x: f32) -> f32 {
    if x.is_nan() || x == f32::INFINITY {
        return x;
    }
    let bits = x.to_bits();
    let next = if x == 0.0 {
        1
    } else if x > 0.0 {
        bits + 1
    } else {
        bits - 1
    };
    f32::from_bits(next)
}

/// 1:1 metrics from genuine and impostor scores.
pub fn verification(genuine: &[f32], impostor: &[f32]) -> Verification {
    let mut g = genuine.to_vec();
    let mut i = impostor.to_vec();
    g.sort_by(|a, b| b.total_cmp(a));
    i.sort_by(|a, b| b.total_cmp(a));
    let tar_at_far = [1e-2, 1e-3]
        .into_iter()
        .map(|far_target| {
            let t = threshold_for_far(&i, far_target);
            TarAtFar {
                far_target,
                threshold: t,
                tar: rate_at(&g, t),
                far: rate_at(&i, t),
            }
        })
        .collect();
    let roc = [0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6]
        .into_iter()
        .map(|t| RocPoint {
            threshold: t,
            tar: rate_at(&g, t),
            far: rate_at(&i, t),
        })
        .collect();
    // AUC by counting pairs (ties count half); sizes here are small.
    let mut wins = 0f64;
    for &a in &g {
        for &b in &i {
            wins += if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            };
        }
    }
    let auc = if g.is_empty() || i.is_empty() {
        0.0
    } else {
        wins / (g.len() * i.len()) as f64
    };
    // EER: scan observed scores as thresholds.
    let (mut eer, mut eer_t, mut best) = (1.0, 0.0, f64::MAX);
    for &t in g.iter().chain(&i) {
        let frr = 1.0 - rate_at(&g, t);
        let far = rate_at(&i, t);
        if (frr - far).abs() < best {
            best = (frr - far).abs();
            eer = (frr + far) / 2.0;
            eer_t = t;
        }
    }
    Verification {
        genuine: ScoreStats::of(genuine),
        impostor: ScoreStats::of(impostor),
        tar_at_far,
        roc,
        auc,
        eer,
        eer_threshold: eer_t,
    }
}

/// FNIR at a target FPIR.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FnirAtFpir {
    pub fpir_target: f64,
    pub threshold: f32,
    pub fnir: f64,
    pub fpir: f64,
    pub nonmated_searches: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Identification {
    pub enrolled: usize,
    pub mated_probes: usize,
    /// Mated probes whose rank-1 candidate is their own identity (probes
    /// that failed to acquire count as misses).
    pub rank1: f64,
    /// With the protocol's non-mated probes (single-photo identities).
    pub fnir_singletons: Option<FnirAtFpir>,
    /// With leave-one-identity-out non-mated searches added.
    pub fnir_leave_one_out: Option<FnirAtFpir>,
}

/// A gallery of (identity, embedding) and searches against it.
fn top1(
    gallery: &[(String, Vec<f32>)],
    probe: &[f32],
    skip: Option<&str>,
) -> Option<(String, f32)> {
    gallery
        .iter()
        .filter(|(id, _)| Some(id.as_str()) != skip)
        .map(|(id, e)| (id.clone(), cosine(probe, e)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

/// FNIR at FPIR: threshold from the non-mated top scores, then the fraction
/// of mated probes not returned at rank 1 with a score ≥ threshold.
/// `mated` holds the rank-1 outcome of each mated probe: Some((correct,
/// score)), or None for a failure to acquire.
fn fnir_at(mated: &[Option<(bool, f32)>], nonmated_top: &[f32], fpir: f64) -> Option<FnirAtFpir> {
    if nonmated_top.is_empty() || mated.is_empty() {
        return None;
    }
    let mut nm = nonmated_top.to_vec();
    nm.sort_by(|a, b| b.total_cmp(a));
    let t = threshold_for_far(&nm, fpir);
    let misses = mated
        .iter()
        .filter(|m| !matches!(m, Some((true, s)) if *s >= t))
        .count();
    Some(FnirAtFpir {
        fpir_target: fpir,
        threshold: t,
        fnir: misses as f64 / mated.len() as f64,
        fpir: rate_at(&nm, t),
        nonmated_searches: nm.len(),
    })
}

/// 1:N identification metrics.
/// `enrolled`: identity → embedding (identities that failed to enrol are
/// absent); `mated`: (identity, embedding or None for failure to acquire);
/// `nonmated`: embeddings of single-photo identities.
pub fn identification(
    enrolled: &[(String, Vec<f32>)],
    mated: &[(String, Option<Vec<f32>>)],
    nonmated: &[Vec<f32>],
) -> Identification {
    let outcomes: Vec<Option<(bool, f32)>> = mated
        .iter()
        .map(|(id, e)| {
            e.as_ref()
                .and_then(|e| top1(enrolled, e, None))
                .map(|(top, s)| (&top == id, s))
        })
        .collect();
    let rank1 = if mated.is_empty() {
        0.0
    } else {
        outcomes
            .iter()
            .filter(|o| matches!(o, Some((true, _))))
            .count() as f64
            / mated.len() as f64
    };
    let singles: Vec<f32> = nonmated
        .iter()
        .filter_map(|e| top1(enrolled, e, None).map(|(_, s)| s))
        .collect();
    let mut loo = singles.clone();
    loo.extend(mated.iter().filter_map(|(id, e)| {
        e.as_ref()
            .and_then(|e| top1(enrolled, e, Some(id)))
            .map(|(_, s)| s)
    }));
    Identification {
        enrolled: enrolled.len(),
        mated_probes: mated.len(),
        rank1,
        fnir_singletons: fnir_at(&outcomes, &singles, 0.01),
        fnir_leave_one_out: fnir_at(&outcomes, &loo, 0.01),
    }
}

/// What happened to one photo.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoOutcome {
    pub path: String,
    pub identity: String,
    pub faces: usize,
    /// None = an acceptable face was used; else why not.
    pub failure: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaceEvalReport {
    pub data_root: String,
    pub model: String,
    pub photos: usize,
    pub identities: usize,
    /// Gallery photos without an acceptable face / gallery photos.
    pub failure_to_enrol: f64,
    pub failed_to_enrol: usize,
    /// Probe photos without an acceptable face / probe photos.
    pub failure_to_acquire: f64,
    pub failed_to_acquire: usize,
    pub verification: Verification,
    pub identification: Identification,
    /// Faces per second through detect + quality + align + embed, and the
    /// per-stage means, over this run.
    pub faces_per_s: f64,
    pub ms_per_photo: f64,
    pub stage_ms: BTreeMap<String, f64>,
    /// The highest-scoring impostor pairs (path, path, score): where a
    /// threshold will first fail.
    pub top_impostors: Vec<(String, String, f32)>,
    /// The lowest-scoring genuine pairs.
    pub bottom_genuine: Vec<(String, String, f32)>,
    pub outcomes: Vec<PhotoOutcome>,
}

/// Runs the whole evaluation. Each photo contributes its largest face (the
/// photos are single-identity portraits; background faces are ignored).
pub fn evaluate(root: &Path, pool: &FacePool) -> Result<FaceEvalReport, FacesError> {
    let labels = read_labels(root)?;
    if labels.is_empty() {
        return Err(FacesError::Invalid(format!(
            "{}/faces/labels.csv lists no photos",
            root.display()
        )));
    }
    let before = pool.totals();
    let t0 = Instant::now();
    // Photos are decoded and analysed on the pool's workers; results come
    // back in label order, so the report does not depend on the workers.
    let analysed = pool.map(&labels, |pipeline, l| {
        Ok::<_, FacesError>(match load_photo(&l.path) {
            Err(e) => (0, Some(e.to_string()), None),
            Ok(img) => {
                let faces = pipeline.analyze_image(&img)?;
                let n = faces.len();
                match choose_enrolment_face(faces, true, pipeline.gate().min_size) {
                    Ok(f) => (n, None, f.embedding),
                    Err(r) => (n, Some(r.to_string()), None),
                }
            }
        })
    });
    let mut embs: Vec<Option<Vec<f32>>> = Vec::with_capacity(labels.len());
    let mut outcomes = Vec::with_capacity(labels.len());
    for (l, a) in labels.iter().zip(analysed) {
        let (faces, failure, emb) = a?;
        outcomes.push(PhotoOutcome {
            path: l.rel.clone(),
            identity: l.identity.clone(),
            faces,
            failure,
        });
        embs.push(emb);
    }
    let elapsed = t0.elapsed().as_secs_f64();
    let after = pool.totals();

    // Verification over acquired photos.
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    let (mut gpairs, mut ipairs) = (Vec::new(), Vec::new());
    for a in 0..labels.len() {
        for b in a + 1..labels.len() {
            if let (Some(x), Some(y)) = (&embs[a], &embs[b]) {
                let s = cosine(x, y);
                let pair = (labels[a].rel.clone(), labels[b].rel.clone(), s);
                if labels[a].identity == labels[b].identity {
                    genuine.push(s);
                    gpairs.push(pair);
                } else {
                    impostor.push(s);
                    ipairs.push(pair);
                }
            }
        }
    }
    ipairs.sort_by(|a, b| b.2.total_cmp(&a.2));
    ipairs.truncate(5);
    gpairs.sort_by(|a, b| a.2.total_cmp(&b.2));
    gpairs.truncate(5);

    // Identification split.
    let mut count: HashMap<&str, usize> = HashMap::new();
    for l in &labels {
        *count.entry(&l.identity).or_default() += 1;
    }
    let mut enrolled = Vec::new();
    let mut seen = HashMap::new();
    let (mut mated, mut nonmated) = (Vec::new(), Vec::new());
    let (mut gallery_photos, mut fte, mut probes, mut fta) = (0, 0, 0, 0);
    for (l, e) in labels.iter().zip(&embs) {
        if count[l.identity.as_str()] < 2 {
            probes += 1;
            match e {
                Some(e) => nonmated.push(e.clone()),
                None => fta += 1,
            }
        } else if seen.insert(l.identity.as_str(), ()).is_none() {
            gallery_photos += 1;
            match e {
                Some(e) => enrolled.push((l.identity.clone(), e.clone())),
                None => fte += 1,
            }
        } else {
            probes += 1;
            if e.is_none() {
                fta += 1;
            }
            mated.push((l.identity.clone(), e.clone()));
        }
    }
    let identification = identification(&enrolled, &mated, &nonmated);
    let faces = (after.embedded - before.embedded).max(1) as f64;
    let mut stage_ms = BTreeMap::new();
    let images = (after.images - before.images).max(1) as f64;
    stage_ms.insert(
        "detect_per_photo".into(),
        (after.detect_ms - before.detect_ms) / images,
    );
    stage_ms.insert(
        "quality_per_face".into(),
        (after.quality_ms - before.quality_ms) / (after.faces - before.faces).max(1) as f64,
    );
    stage_ms.insert(
        "align_per_face".into(),
        (after.align_ms - before.align_ms) / (after.faces - before.faces).max(1) as f64,
    );
    stage_ms.insert(
        "embed_per_face".into(),
        (after.embed_ms - before.embed_ms) / faces,
    );
    Ok(FaceEvalReport {
        data_root: root.display().to_string(),
        model: pool.first().model_key().to_owned(),
        photos: labels.len(),
        identities: count.len(),
        failure_to_enrol: fte as f64 / gallery_photos.max(1) as f64,
        failed_to_enrol: fte,
        failure_to_acquire: fta as f64 / probes.max(1) as f64,
        failed_to_acquire: fta,
        verification: verification(&genuine, &impostor),
        identification,
        faces_per_s: faces / elapsed,
        ms_per_photo: elapsed * 1e3 / labels.len() as f64,
        stage_ms,
        top_impostors: ipairs,
        bottom_genuine: gpairs,
        outcomes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verification_metrics() {
        let g = [0.9, 0.8, 0.7, 0.3];
        let i: Vec<f32> = (0..100).map(|k| k as f32 / 250.0).collect(); // 0 .. 0.396
        let v = verification(&g, &i);
        // FAR 1e-2 over 100 impostors allows 1: threshold just above the 2nd highest.
        assert_eq!(v.tar_at_far[0].far, 0.01);
        assert_eq!(v.tar_at_far[0].tar, 0.75);
        assert_eq!(v.tar_at_far[1].far, 0.0);
        assert!(v.auc > 0.9 && v.auc < 1.0);
        assert_eq!(v.genuine.count, 4);
        let perfect = verification(&[0.9], &[0.1]);
        assert_eq!((perfect.auc, perfect.eer), (1.0, 0.0));
    }

    #[test]
    fn identification_metrics() {
        let e = |x: f32| vec![x, (1.0 - x * x).max(0.0).sqrt()];
        let enrolled = vec![("a".to_string(), e(1.0)), ("b".to_string(), e(0.0))];
        let mated = vec![
            ("a".to_string(), Some(e(0.95))),
            ("b".to_string(), Some(e(0.1))),
            ("b".to_string(), None),
        ];
        let r = identification(&enrolled, &mated, &[e(0.7)]);
        assert!((r.rank1 - 2.0 / 3.0).abs() < 1e-9);
        let s = r.fnir_singletons.unwrap();
        assert_eq!(s.nonmated_searches, 1);
        assert_eq!(r.fnir_leave_one_out.unwrap().nonmated_searches, 3);
        // The single non-mated top score (cos(a, e(.7)) = .7) sets the
        // threshold; both mated hits score above it.
        assert!((s.fnir - 1.0 / 3.0).abs() < 1e-9, "{s:?}");
    }
}
