//! The vector-engine trait: what retrospective face search needs from
//! whatever holds the sightings' embeddings — upsert, delete, top-k search
//! restricted to cameras and a time window.
//!
//! [`HnswEngine`] (this crate's in-process [`Index`] plus the camera and time
//! of each id) is the embedded default. A server-based engine (pgvector, in
//! `kuzet-store-pg`) implements the same trait for deployments whose
//! sightings outgrow one process's memory; see `docs/scale.md`.

use crate::{Hit, Index, IndexError, IndexParams};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// One vector to store: the sighting id, where and when it was seen.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorItem {
    pub id: u64,
    pub camera: String,
    /// Unix milliseconds.
    pub ts: i64,
    pub vector: Vec<f32>,
}

/// Camera and time restriction of a search.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VectorFilter {
    /// Only these cameras; empty = all.
    pub cameras: Vec<String>,
    /// Inclusive lower bound (Unix ms).
    pub since: Option<i64>,
    /// Exclusive upper bound (Unix ms).
    pub until: Option<i64>,
}

impl VectorFilter {
    /// Whether a vector seen on `camera` at `ts` passes.
    pub fn accepts(&self, camera: &str, ts: i64) -> bool {
        (self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera))
            && self.since.is_none_or(|s| ts >= s)
            && self.until.is_none_or(|u| ts < u)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum VectorError {
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The engine's server failed or refused; the text names what and why.
    #[error("{0}")]
    Engine(String),
}

/// A store of embeddings searchable by cosine similarity with filters.
/// Blocking, like the store trait: callers are pipeline threads and
/// `spawn_blocking` sections of the server.
pub trait VectorEngine: Send + Sync {
    /// `"hnsw"`, `"pgvector"`…, for logs.
    fn engine_name(&self) -> &'static str;
    /// Inserts vectors, replacing any stored under the same id.
    fn upsert(&self, items: &[VectorItem]) -> Result<(), VectorError>;
    /// Removes ids (unknown ids are ignored); returns how many were removed.
    fn delete(&self, ids: &[u64]) -> Result<usize, VectorError>;
    /// The `k` most similar vectors passing `filter`, best first, with exact
    /// cosine similarity. Returns `min(k, matching)` hits.
    fn search(&self, q: &[f32], k: usize, filter: &VectorFilter) -> Result<Vec<Hit>, VectorError>;
    /// Vectors stored.
    fn len(&self) -> Result<u64, VectorError>;
    /// Whether nothing is stored.
    fn is_empty(&self) -> Result<bool, VectorError> {
        Ok(self.len()? == 0)
    }
}

/// The embedded engine: an HNSW [`Index`] and, per id, the camera and time
/// the filter needs. Camera names are interned (a city has far fewer cameras
/// than sightings).
pub struct HnswEngine {
    inner: RwLock<Inner>,
}

struct Inner {
    index: Index,
    meta: HashMap<u64, (Arc<str>, i64)>,
    cameras: HashMap<Arc<str>, ()>,
}

impl HnswEngine {
    pub fn new(dim: usize, params: IndexParams) -> Result<HnswEngine, VectorError> {
        Ok(HnswEngine {
            inner: RwLock::new(Inner {
                index: Index::new(dim, params)?,
                meta: HashMap::new(),
                cameras: HashMap::new(),
            }),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        // A panic while holding the lock leaves the index consistent (every
        // mutation is a single Index call), so poisoning is ignored.
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl VectorEngine for HnswEngine {
    fn engine_name(&self) -> &'static str {
        "hnsw"
    }

    fn upsert(&self, items: &[VectorItem]) -> Result<(), VectorError> {
        let mut g = self.write();
        let dim = g.index.dim();
        // Validate everything first, so a bad item changes nothing.
        for it in items {
            if it.vector.len() != dim {
                return Err(IndexError::Dimension {
                    expected: dim,
                    got: it.vector.len(),
                }
                .into());
            }
            if let Some((i, v)) = it.vector.iter().enumerate().find(|(_, v)| !v.is_finite()) {
                return Err(IndexError::NonFinite {
                    index: i,
                    value: *v,
                }
                .into());
            }
            if it.vector.iter().map(|v| v * v).sum::<f32>() <= 0.0 {
                return Err(IndexError::ZeroNorm.into());
            }
        }
        for it in items {
            if g.index.contains(it.id) {
                g.index.remove(it.id);
            }
            g.index.insert(it.id, &it.vector)?;
            let cam: Arc<str> = match g.cameras.get_key_value(it.camera.as_str()) {
                Some((k, _)) => k.clone(),
                None => {
                    let k: Arc<str> = Arc::from(it.camera.as_str());
                    g.cameras.insert(k.clone(), ());
                    k
                }
            };
            g.meta.insert(it.id, (cam, it.ts));
        }
        Ok(())
    }

    fn delete(&self, ids: &[u64]) -> Result<usize, VectorError> {
        let mut g = self.write();
        let mut n = 0;
        for id in ids {
            if g.index.remove(*id) {
                n += 1;
            }
            g.meta.remove(id);
        }
        Ok(n)
    }

    fn search(&self, q: &[f32], k: usize, filter: &VectorFilter) -> Result<Vec<Hit>, VectorError> {
        let g = self.read();
        if filter == &VectorFilter::default() {
            return Ok(g.index.search(q, k)?);
        }
        let keep = |id: u64| {
            g.meta
                .get(&id)
                .is_some_and(|(cam, ts)| filter.accepts(cam, *ts))
        };
        Ok(g.index.search_filtered(q, k, &keep)?)
    }

    fn len(&self) -> Result<u64, VectorError> {
        Ok(self.read().index.len() as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit(dim: usize, seed: u64) -> Vec<f32> {
        // xorshift: deterministic, no dependency.
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..dim)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s % 2000) as f32 / 1000.0 - 1.0
            })
            .collect()
    }

    fn engine() -> HnswEngine {
        HnswEngine::new(16, IndexParams::default()).unwrap()
    }

    #[test]
    fn upsert_search_filter_delete() {
        let e = engine();
        let items: Vec<VectorItem> = (1..=200)
            .map(|i| VectorItem {
                id: i,
                camera: if i % 2 == 0 { "even" } else { "odd" }.into(),
                ts: i as i64 * 1000,
                vector: unit(16, i),
            })
            .collect();
        e.upsert(&items).unwrap();
        assert_eq!(e.len().unwrap(), 200);
        let q = unit(16, 42);
        let top = e.search(&q, 1, &VectorFilter::default()).unwrap();
        assert_eq!(top[0].id, 42);
        assert!((top[0].score - 1.0).abs() < 1e-4);
        // Camera filter excludes the exact match.
        let odd = VectorFilter {
            cameras: vec!["odd".into()],
            ..Default::default()
        };
        let hits = e.search(&q, 5, &odd).unwrap();
        assert_eq!(hits.len(), 5);
        assert!(hits.iter().all(|h| h.id % 2 == 1), "{hits:?}");
        // Time window [10 s, 20 s) holds ids 10..=19.
        let window = VectorFilter {
            since: Some(10_000),
            until: Some(20_000),
            ..Default::default()
        };
        let hits = e.search(&q, 50, &window).unwrap();
        assert_eq!(hits.len(), 10);
        assert!(hits.iter().all(|h| (10..20).contains(&h.id)));
        // Replacing id 42's vector moves it away from the query.
        e.upsert(&[VectorItem {
            id: 42,
            camera: "even".into(),
            ts: 42_000,
            vector: unit(16, 4242),
        }])
        .unwrap();
        assert_eq!(e.len().unwrap(), 200);
        let top = e.search(&q, 1, &VectorFilter::default()).unwrap();
        assert!(top[0].id != 42 || top[0].score < 0.99);
        assert_eq!(e.delete(&[42, 9999]).unwrap(), 1);
        assert_eq!(e.len().unwrap(), 199);
        let all = e.search(&q, 500, &VectorFilter::default()).unwrap();
        assert!(all.iter().all(|h| h.id != 42));
    }

    #[test]
    fn bad_vectors_change_nothing() {
        let e = engine();
        let good = VectorItem {
            id: 1,
            camera: "c".into(),
            ts: 0,
            vector: unit(16, 1),
        };
        let short = VectorItem {
            id: 2,
            vector: vec![1.0; 3],
            ..good.clone()
        };
        assert!(e.upsert(&[good.clone(), short]).is_err());
        let mut nan = good.clone();
        nan.id = 3;
        nan.vector[0] = f32::NAN;
        assert!(e.upsert(&[nan]).is_err());
        assert_eq!(e.len().unwrap(), 0);
        e.upsert(&[good]).unwrap();
        assert_eq!(e.len().unwrap(), 1);
    }
}
