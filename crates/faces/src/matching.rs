//! 1:N search of a face against the watchlists.
//!
//! Templates live in a `kuzet-index` HNSW index (int8 traversal, exact f32
//! re-ranking of the candidates), keyed by template id, so enrolment and
//! removal are incremental and a national-scale list stays fast. The index
//! can be persisted beside the database; on load it is checked against the
//! store's template ids and rebuilt when they differ, so the database stays
//! the single source of truth. Expired entries and entries scoped to other
//! cameras are filtered out inside the search, before ranking.

use crate::error::FacesError;
use base::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use store::{GalleryTemplate, StoreBackend, WatchlistCategory};

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
    person_id: i64,
    person_name: String,
    watchlist: store::Watchlist,
    expires: Option<Timestamp>,
    cameras: Option<Vec<String>>,
}

impl Entry {
    /// Whether the entry may match a face seen on `camera` at `now`.
    fn applies(&self, camera: Option<&str>, now: Option<Timestamp>) -> bool {
        let live = match (self.expires, now) {
            (Some(e), Some(n)) => n < e,
            _ => true,
        };
        let here = match (&self.cameras, camera) {
            (Some(cams), Some(c)) => cams.iter().any(|x| x == c),
            _ => true,
        };
        live && here
    }
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

/// Templates of one embedding model, indexed for search.
pub struct Gallery {
    model: String,
    dim: usize,
    entries: HashMap<i64, Entry>,
    index: index::Index,
}

impl std::fmt::Debug for Gallery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gallery")
            .field("model", &self.model)
            .field("templates", &self.entries.len())
            .finish()
    }
}

impl Default for Gallery {
    fn default() -> Self {
        Gallery {
            model: String::new(),
            dim: 0,
            entries: HashMap::new(),
            index: empty_index(1),
        }
    }
}

/// Templates searched per requested person: a person may have several
/// templates, and filtered-out (expired, other-camera) entries still cost a
/// slot, so ask the index for more than `k`.
const TEMPLATES_PER_PERSON: usize = 8;

impl Gallery {
    /// Loads every template of `model` from the store (SQLite or the
    /// central database). Templates of other models are skipped with a
    /// warning (re-enrol them after a model swap).
    pub fn load(store: &dyn StoreBackend, model: &str) -> Result<Gallery, FacesError> {
        warn_other_models(store, model)?;
        Self::from_templates(model, store.face_templates(model)?)
    }

    fn from_templates_without_index(
        model: &str,
        templates: &[GalleryTemplate],
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
            g.entries.insert(
                t.template_id,
                Entry {
                    person_id: t.person_id,
                    person_name: t.person_name.clone(),
                    watchlist: t.watchlist.clone(),
                    expires: t.expires,
                    cameras: t.cameras.clone(),
                },
            );
        }
        g.index = empty_index(g.dim.max(1));
        Ok(g)
    }

    /// Builds a gallery from loaded templates; all must have one dimension.
    pub fn from_templates(
        model: &str,
        templates: Vec<GalleryTemplate>,
    ) -> Result<Gallery, FacesError> {
        let mut g = Self::from_templates_without_index(model, &templates)?;
        for t in &templates {
            g.index
                .insert(t.template_id as u64, &t.embedding)
                .map_err(|e| FacesError::Invalid(format!("template {}: {e}", t.template_id)))?;
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
        self.search_scoped(probe, k, None, None)
    }

    /// [`Gallery::search`] over the entries that apply to a face seen on
    /// `camera` at `now`: entries scoped to other cameras and expired
    /// entries never match (`None` skips that check).
    pub fn search_scoped(
        &self,
        probe: &[f32],
        k: usize,
        camera: Option<&str>,
        now: Option<Timestamp>,
    ) -> Result<SearchResult, FacesError> {
        self.search_lists(probe, k, camera, now, &|_, _| true)
    }

    /// [`Gallery::search_scoped`] over the lists `allow(name, category)`
    /// accepts: what a legal authorisation covers. Filtered inside the
    /// search, so a list outside the authorisation can neither match nor
    /// appear as a candidate.
    pub fn search_lists(
        &self,
        probe: &[f32],
        k: usize,
        camera: Option<&str>,
        now: Option<Timestamp>,
        allow: &dyn Fn(&str, WatchlistCategory) -> bool,
    ) -> Result<SearchResult, FacesError> {
        if !self.is_empty() && probe.len() != self.dim {
            return Err(FacesError::Invalid(format!(
                "probe has {} dimensions, the gallery {}",
                probe.len(),
                self.dim
            )));
        }
        if self.is_empty() || k == 0 {
            return Ok(SearchResult {
                candidates: Vec::new(),
                decision: Decision::NoMatch,
            });
        }
        let keep = |id: u64| {
            self.entries.get(&(id as i64)).is_some_and(|e| {
                e.applies(camera, now) && allow(&e.watchlist.name, e.watchlist.category)
            })
        };
        let want = (k * TEMPLATES_PER_PERSON).max(32);
        let hits = self
            .index
            .search_filtered(probe, want, &keep)
            .map_err(|e| FacesError::Invalid(format!("watchlist index: {e}")))?;
        // Best template per person (hits come best first).
        let mut ranked: Vec<(f32, i64)> = Vec::new();
        let mut seen: HashMap<i64, ()> = HashMap::new();
        for h in hits {
            let tid = h.id as i64;
            let Some(e) = self.entries.get(&tid) else {
                continue;
            };
            if seen.insert(e.person_id, ()).is_none() {
                ranked.push((h.score, tid));
            }
        }
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let margins: Vec<Option<f32>> = (0..ranked.len())
            .map(|i| ranked.get(i + 1).map(|n| ranked[i].0 - n.0))
            .collect();
        let candidates: Vec<Candidate> = ranked
            .iter()
            .zip(margins)
            .take(k)
            .map(|(&(score, tid), margin)| {
                let e = &self.entries[&tid];
                Candidate {
                    person_id: e.person_id,
                    person_name: e.person_name.clone(),
                    watchlist: e.watchlist.name.clone(),
                    category: e.watchlist.category,
                    priority: e.watchlist.priority,
                    threshold: e.watchlist.threshold,
                    score,
                    template_id: tid,
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

/// An empty index of `dim` (≥ 1) with default parameters, which are valid
/// by construction.
fn empty_index(dim: usize) -> index::Index {
    index::Index::new(dim.clamp(1, index::MAX_DIM), index::IndexParams::default())
        .expect("default index parameters are valid")
}

fn warn_other_models(store: &dyn StoreBackend, model: &str) -> Result<(), FacesError> {
    let other = store.face_templates_of_other_models(model)?;
    if other > 0 {
        tracing::warn!(
            other,
            model,
            "face templates of another embedding model are ignored: re-enrol those persons"
        );
    }
    Ok(())
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
            expires: None,
            cameras: None,
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
    fn expired_entries_and_unauthorised_lists_never_match() {
        let wanted = list("wanted", 0.5, 0);
        let mut missing = list("kids", 0.5, 1);
        missing.category = WatchlistCategory::Missing;
        let mut old = t(1, 1, [1.0, 0.0], &wanted);
        old.expires = Some(Timestamp::from_millis(1_000));
        let g = Gallery::from_templates("m", vec![old, t(2, 2, [1.0, 0.0], &missing)]).unwrap();
        let before = g
            .search_scoped(&[1.0, 0.0], 5, Some("c"), Some(Timestamp::from_millis(999)))
            .unwrap();
        assert_eq!(before.candidates.len(), 2);
        // Past its expiry an ordinary (non-temporary) entry is filtered out.
        let after = g
            .search_scoped(
                &[1.0, 0.0],
                5,
                Some("c"),
                Some(Timestamp::from_millis(1_000)),
            )
            .unwrap();
        let ids: Vec<i64> = after.candidates.iter().map(|c| c.person_id).collect();
        assert_eq!(ids, vec![2]);
        // A list outside the authorised ones is not even a candidate.
        let only_wanted = g
            .search_lists(
                &[1.0, 0.0],
                5,
                Some("c"),
                Some(Timestamp::from_millis(0)),
                &|n, _| n == "wanted",
            )
            .unwrap();
        let ids: Vec<i64> = only_wanted.candidates.iter().map(|c| c.person_id).collect();
        assert_eq!(ids, vec![1]);
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
