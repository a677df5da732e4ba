//! 1:N search of a face against the watchlists.
//!
//! Exact cosine search: every template is one dot product with the probe.
//! Watchlists are small (thousands of templates × 512 floats ≈ 2 MB per 1000;
//! a scan of 10 000 takes ~2 ms), so exact search is both fastest to build
//! and free of recall loss. An ANN index (HNSW) with incremental add/remove
//! and exact re-ranking is the later increment for the 1M-vector
//! retrospective sighting search, where a scan no longer fits the latency.

use crate::embed::cosine;
use crate::error::FacesError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::{GalleryTemplate, Store, WatchlistCategory};

/// Default per-list threshold (cosine similarity) for new watchlists.
///
/// Measured with `kuzet eval faces $KUZET_DATA` (faceplugin 512-d, default
/// quality gate, 55 photos of 14 identities, all acquired): genuine pairs
/// (122) min 0.526 / mean 0.745; impostor pairs (1 363) max 0.445 / mean
/// 0.015. FAR is 1.5e-3 at 0.40, 7e-4 at 0.412 (the FAR 1e-3 point) and 0
/// from 0.446 up, while TAR stays 100 % up to 0.526. The five highest
/// impostor pairs (0.36–0.445) are four deepface_p07 × deepface_p09 pairs
/// (look-alikes, or one person split by the source's pair labels) and one
/// p03 × p12. MANIFEST.md's 6-person set gave genuine min 0.526, impostor
/// max 0.184. 0.45 is the lowest value that accepts no impostor pair seen
/// in either set, and still leaves 0.076 to the weakest genuine pair; lists
/// where a false alert costs most (wanted) may raise it per list.
pub const DEFAULT_THRESHOLD: f32 = 0.45;

/// How many candidates a search returns by default.
pub const DEFAULT_TOP_K: usize = 5;

#[derive(Clone, Debug)]
struct Entry {
    template_id: i64,
    person_id: i64,
    person_name: String,
    watchlist: store::Watchlist,
}

/// One person found close to the probe.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub person_id: i64,
    pub person_name: String,
    pub watchlist: String,
    pub category: WatchlistCategory,
    pub priority: i64,
    /// The list's threshold the score is judged against.
    pub threshold: f32,
    /// Best cosine similarity over the person's templates.
    pub score: f32,
    /// The template that gave `score`.
    pub template_id: i64,
    /// `score` minus the next candidate's score; `None` for the last one.
    /// A small margin means two enrolled persons look alike to the model.
    pub margin: Option<f32>,
    /// `score ≥ threshold`.
    pub is_match: bool,
}

/// Outcome of one search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "snake_case")]
pub enum Decision {
    /// The matching candidate of highest list priority (then score).
    Match {
        person_id: i64,
        person_name: String,
        watchlist: String,
        score: f32,
    },
    NoMatch,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SearchResult {
    pub candidates: Vec<Candidate>,
    pub decision: Decision,
}

/// Templates of one embedding model held in memory for exact search.
#[derive(Clone, Debug, Default)]
pub struct Gallery {
    model: String,
    dim: usize,
    entries: Vec<Entry>,
    /// Row-major `entries.len() × dim`.
    vectors: Vec<f32>,
}

impl Gallery {
    /// Loads every template of `model` from the store. Templates of other
    /// models are skipped with a warning (re-enrol them after a model swap).
    pub fn load(store: &Store, model: &str) -> Result<Gallery, FacesError> {
        let other = store.face_templates_of_other_models(model)?;
        if other > 0 {
            tracing::warn!(
                other,
                model,
                "face templates of another embedding model are ignored: re-enrol those persons"
            );
        }
        Self::from_templates(model, store.face_templates(model)?)
    }

    /// Builds a gallery from loaded templates; all must have one dimension.
    pub fn from_templates(
        model: &str,
        templates: Vec<GalleryTemplate>,
    ) -> Result<Gallery, FacesError> {
        let mut g = Gallery {
            model: model.to_owned(),
            ..Default::default()
        };
        for t in templates {
            if g.dim == 0 {
                g.dim = t.embedding.len();
            }
            if t.embedding.len() != g.dim {
                return Err(FacesError::Invalid(format!(
                    "template {} has {} dimensions, others have {}: the store mixes models under the key {model:?}",
                    t.template_id,
                    t.embedding.len(),
                    g.dim
                )));
            }
            g.vectors.extend_from_slice(&t.embedding);
            g.entries.push(Entry {
                template_id: t.template_id,
                person_id: t.person_id,
                person_name: t.person_name,
                watchlist: t.watchlist,
            });
        }
        Ok(g)
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    /// Number of templates.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The `k` persons closest to `probe` (a unit vector), best first, and
    /// the decision at each person's list threshold.
    pub fn search(&self, probe: &[f32], k: usize) -> Result<SearchResult, FacesError> {
        if !self.is_empty() && probe.len() != self.dim {
            return Err(FacesError::Invalid(format!(
                "probe has {} dimensions, the gallery {}",
                probe.len(),
                self.dim
            )));
        }
        // Best template per person.
        let mut best: HashMap<i64, (f32, usize)> = HashMap::new();
        for (i, e) in self.entries.iter().enumerate() {
            let s = cosine(probe, &self.vectors[i * self.dim..(i + 1) * self.dim]);
            let b = best.entry(e.person_id).or_insert((f32::MIN, i));
            if s > b.0 {
                *b = (s, i);
            }
        }
        let mut ranked: Vec<(f32, usize)> = best.into_values().collect();
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let margins: Vec<Option<f32>> = (0..ranked.len())
            .map(|i| ranked.get(i + 1).map(|n| ranked[i].0 - n.0))
            .collect();
        let candidates: Vec<Candidate> = ranked
            .iter()
            .zip(margins)
            .take(k)
            .map(|(&(score, i), margin)| {
                let e = &self.entries[i];
                Candidate {
                    person_id: e.person_id,
                    person_name: e.person_name.clone(),
                    watchlist: e.watchlist.name.clone(),
                    category: e.watchlist.category,
                    priority: e.watchlist.priority,
                    threshold: e.watchlist.threshold,
                    score,
                    template_id: e.template_id,
                    margin,
                    is_match: score >= e.watchlist.threshold,
                }
            })
            .collect();
        let decision = candidates
            .iter()
            .filter(|c| c.is_match)
            .max_by(|a, b| {
                a.priority
                    .cmp(&b.priority)
                    .then(a.score.total_cmp(&b.score))
            })
            .map_or(Decision::NoMatch, |c| Decision::Match {
                person_id: c.person_id,
                person_name: c.person_name.clone(),
                watchlist: c.watchlist.clone(),
                score: c.score,
            });
        Ok(SearchResult {
            candidates,
            decision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;

    fn list(name: &str, threshold: f32, priority: i64) -> store::Watchlist {
        store::Watchlist {
            id: priority,
            name: name.into(),
            category: WatchlistCategory::Custom,
            threshold,
            priority,
            created: Timestamp::from_millis(0),
        }
    }

    fn t(id: i64, person: i64, v: [f32; 2], l: &store::Watchlist) -> GalleryTemplate {
        GalleryTemplate {
            template_id: id,
            person_id: person,
            person_name: format!("p{person}"),
            watchlist: l.clone(),
            embedding: v.to_vec(),
        }
    }

    #[test]
    fn per_person_best_margin_and_priority() {
        let low = list("low", 0.5, 0);
        let high = list("high", 0.5, 9);
        let s2 = std::f32::consts::FRAC_1_SQRT_2;
        let g = Gallery::from_templates(
            "m",
            vec![
                t(1, 1, [1.0, 0.0], &low),
                t(2, 1, [0.0, 1.0], &low),
                t(3, 2, [s2, s2], &high),
                t(4, 3, [-1.0, 0.0], &low),
            ],
        )
        .unwrap();
        let r = g.search(&[1.0, 0.0], 5).unwrap();
        let ids: Vec<i64> = r.candidates.iter().map(|c| c.person_id).collect();
        assert_eq!(ids, vec![1, 2, 3]);
        assert_eq!(r.candidates[0].template_id, 1);
        assert!((r.candidates[0].margin.unwrap() - (1.0 - s2)).abs() < 1e-6);
        assert_eq!(r.candidates[2].margin, None);
        // Person 2 scores lower but its list has priority.
        assert!(matches!(r.decision, Decision::Match { person_id: 2, .. }));
        let r = g.search(&[0.0, -1.0], 1).unwrap();
        assert_eq!(r.candidates.len(), 1);
        assert_eq!(r.decision, Decision::NoMatch);
        assert!(g.search(&[1.0, 0.0, 0.0], 1).is_err());
    }

    #[test]
    fn mixed_dimensions_are_refused() {
        let l = list("l", 0.5, 0);
        let mut bad = t(2, 2, [1.0, 0.0], &l);
        bad.embedding.push(0.0);
        assert!(Gallery::from_templates("m", vec![t(1, 1, [1.0, 0.0], &l), bad]).is_err());
        assert!(Gallery::default()
            .search(&[1.0], 3)
            .unwrap()
            .candidates
            .is_empty());
    }
}
