//! pgvector adapter of [`VectorEngine`]: face embeddings of sightings in the
//! same PostgreSQL as the sightings themselves, searched with pgvector's HNSW
//! index (`vector_cosine_ops`).
//!
//! Why pgvector rather than Qdrant: the sightings already live in
//! PostgreSQL, so vectors share its backups, replication, retention deletes
//! (one transaction with the rows) and access control; the adapter is plain
//! SQL over the `sqlx` pool this crate already has, adding no dependency and
//! no build time (`qdrant-client` brings tonic/prost and a gRPC stack).
//! Scaling past one server's disk is done the PostgreSQL way — one table per
//! day partition (`PARTITION BY RANGE (ts)`), each with its own HNSW index,
//! so retention drops whole partitions and a time-filtered search touches only
//! the days asked for; see `docs/scale.md` for the sizing.
//!
//! **Not tested against a real pgvector server**: pgvector is not packaged in
//! Debian 12 and nothing outside package registries is reachable here. The
//! tests run the adapter against a real PostgreSQL 15 *without* the
//! extension and check that it fails at [`PgVectorEngine::open`] with an
//! error naming the missing extension; the SQL the adapter sends for search
//! is checked by unit tests on its text only.

use crate::PgStore;
use index::{Hit, VectorEngine, VectorError, VectorFilter, VectorItem};
// `AssertSqlSafe` wraps SQL built from this module's constants only.
use sqlx::{AssertSqlSafe, Row};

/// Table holding the vectors (one row per sighting id).
pub const VECTOR_TABLE: &str = "face_vector";

/// The pgvector engine over a [`PgStore`]'s pool.
pub struct PgVectorEngine<'a> {
    store: &'a PgStore,
    dim: usize,
}

/// pgvector's text form of a vector: `[1,2.5,-3]`. Non-finite values are
/// refused (pgvector rejects NaN and infinity too, with a less clear error).
pub fn vector_literal(v: &[f32]) -> Result<String, VectorError> {
    let mut s = String::with_capacity(v.len() * 10 + 2);
    s.push('[');
    for (i, x) in v.iter().enumerate() {
        if !x.is_finite() {
            return Err(VectorError::Engine(format!(
                "vector component {i} is not finite ({x})"
            )));
        }
        if i > 0 {
            s.push(',');
        }
        s.push_str(&x.to_string());
    }
    s.push(']');
    Ok(s)
}

/// The search statement: cosine distance `<=>` ordered by the HNSW index,
/// camera and time filters as bound parameters ($2 cameras or NULL, $3/$4
/// time bounds or NULL, $5 k).
pub fn search_sql() -> String {
    format!(
        "SELECT id, 1 - (embedding <=> $1::vector) AS score FROM {VECTOR_TABLE}
         WHERE ($2::TEXT[] IS NULL OR camera = ANY($2))
           AND ($3::BIGINT IS NULL OR ts >= $3)
           AND ($4::BIGINT IS NULL OR ts < $4)
         ORDER BY embedding <=> $1::vector LIMIT $5"
    )
}

fn engine_err(op: &'static str) -> impl Fn(sqlx::Error) -> VectorError {
    move |e| VectorError::Engine(format!("pgvector {op}: {e}"))
}

impl<'a> PgVectorEngine<'a> {
    /// Checks that the `vector` extension is available, creates it and the
    /// table (with its HNSW index) if missing. Fails with a message naming
    /// pgvector when the server lacks it.
    pub fn open(store: &'a PgStore, dim: usize) -> Result<PgVectorEngine<'a>, VectorError> {
        if dim == 0 || dim > 16000 {
            return Err(VectorError::Engine(format!(
                "dimension {dim}: pgvector indexes vectors of 1 to 16000 dimensions"
            )));
        }
        store
            .run(move |pool| async move {
                let available: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')",
                )
                .fetch_one(&pool)
                .await
                .map_err(|e| store::StoreError::Backend(format!("pgvector check: {e}")))?;
                if !available {
                    return Err(store::StoreError::Backend(
                        "the PostgreSQL server lacks the pgvector extension (`vector`): install \
                         it on the server (e.g. the postgresql-15-pgvector package from the \
                         PostgreSQL apt repository, or build it from source) or use the \
                         embedded HNSW engine"
                            .into(),
                    ));
                }
                for sql in [
                    "CREATE EXTENSION IF NOT EXISTS vector".to_owned(),
                    format!(
                        "CREATE TABLE IF NOT EXISTS {VECTOR_TABLE} (
                           id BIGINT PRIMARY KEY, camera TEXT NOT NULL, ts BIGINT NOT NULL,
                           embedding vector({dim}) NOT NULL)"
                    ),
                    format!(
                        "CREATE INDEX IF NOT EXISTS {VECTOR_TABLE}_hnsw ON {VECTOR_TABLE}
                         USING hnsw (embedding vector_cosine_ops)"
                    ),
                    format!(
                        "CREATE INDEX IF NOT EXISTS {VECTOR_TABLE}_camera_ts
                         ON {VECTOR_TABLE} (camera, ts)"
                    ),
                ] {
                    sqlx::raw_sql(AssertSqlSafe(sql))
                        .execute(&pool)
                        .await
                        .map_err(|e| store::StoreError::Backend(format!("pgvector setup: {e}")))?;
                }
                Ok(())
            })
            .map_err(|e| VectorError::Engine(e.to_string()))?;
        Ok(PgVectorEngine { store, dim })
    }

    fn check_dim(&self, v: &[f32]) -> Result<(), VectorError> {
        if v.len() != self.dim {
            return Err(VectorError::Index(index::IndexError::Dimension {
                expected: self.dim,
                got: v.len(),
            }));
        }
        Ok(())
    }

    fn run<T: Send + 'static>(
        &self,
        fut: impl std::future::Future<Output = Result<T, VectorError>> + Send + 'static,
    ) -> Result<T, VectorError> {
        self.store
            .run(|_| async move { Ok(fut.await) })
            .map_err(|e| VectorError::Engine(e.to_string()))?
    }
}

impl VectorEngine for PgVectorEngine<'_> {
    fn engine_name(&self) -> &'static str {
        "pgvector"
    }

    fn upsert(&self, items: &[VectorItem]) -> Result<(), VectorError> {
        let mut rows = Vec::with_capacity(items.len());
        for it in items {
            self.check_dim(&it.vector)?;
            rows.push((
                it.id as i64,
                it.camera.clone(),
                it.ts,
                vector_literal(&it.vector)?,
            ));
        }
        let pool = self.store.pool().clone();
        self.run(async move {
            let mut tx = pool.begin().await.map_err(engine_err("begin"))?;
            for (id, camera, ts, v) in rows {
                sqlx::query(AssertSqlSafe(format!(
                    "INSERT INTO {VECTOR_TABLE} (id, camera, ts, embedding)
                     VALUES ($1, $2, $3, $4::vector)
                     ON CONFLICT (id) DO UPDATE SET camera = excluded.camera,
                       ts = excluded.ts, embedding = excluded.embedding"
                )))
                .bind(id)
                .bind(camera)
                .bind(ts)
                .bind(v)
                .execute(&mut *tx)
                .await
                .map_err(engine_err("upsert"))?;
            }
            tx.commit().await.map_err(engine_err("commit"))?;
            Ok(())
        })
    }

    fn delete(&self, ids: &[u64]) -> Result<usize, VectorError> {
        let ids: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let pool = self.store.pool().clone();
        self.run(async move {
            let r = sqlx::query(AssertSqlSafe(format!(
                "DELETE FROM {VECTOR_TABLE} WHERE id = ANY($1)"
            )))
            .bind(ids)
            .execute(&pool)
            .await
            .map_err(engine_err("delete"))?;
            Ok(r.rows_affected() as usize)
        })
    }

    fn search(&self, q: &[f32], k: usize, filter: &VectorFilter) -> Result<Vec<Hit>, VectorError> {
        self.check_dim(q)?;
        let lit = vector_literal(q)?;
        let cams = (!filter.cameras.is_empty()).then(|| filter.cameras.clone());
        let (since, until) = (filter.since, filter.until);
        let k = k.min(i64::MAX as usize) as i64;
        let pool = self.store.pool().clone();
        self.run(async move {
            let rows = sqlx::query(AssertSqlSafe(search_sql()))
                .bind(lit)
                .bind(cams)
                .bind(since)
                .bind(until)
                .bind(k)
                .fetch_all(&pool)
                .await
                .map_err(engine_err("search"))?;
            rows.iter()
                .map(|r| {
                    Ok(Hit {
                        id: r.try_get::<i64, _>(0)? as u64,
                        score: r.try_get::<f64, _>(1)? as f32,
                    })
                })
                .collect::<Result<Vec<_>, sqlx::Error>>()
                .map_err(engine_err("search"))
        })
    }

    fn len(&self) -> Result<u64, VectorError> {
        let pool = self.store.pool().clone();
        self.run(async move {
            let n: i64 = sqlx::query_scalar(AssertSqlSafe(format!(
                "SELECT count(*) FROM {VECTOR_TABLE}"
            )))
            .fetch_one(&pool)
            .await
            .map_err(engine_err("count"))?;
            Ok(n as u64)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_is_pgvector_text_form() {
        assert_eq!(vector_literal(&[1.0, -0.5, 0.25]).unwrap(), "[1,-0.5,0.25]");
        assert_eq!(vector_literal(&[]).unwrap(), "[]");
        assert!(vector_literal(&[f32::NAN]).is_err());
        assert!(vector_literal(&[1.0, f32::INFINITY]).is_err());
    }

    #[test]
    fn search_orders_by_cosine_distance_with_bound_filters() {
        let sql = search_sql();
        assert!(sql.contains("ORDER BY embedding <=> $1::vector LIMIT $5"));
        assert!(sql.contains("camera = ANY($2)"));
        assert!(sql.contains("ts >= $3") && sql.contains("ts < $4"));
    }
}
