//! The face watchlist gallery on PostgreSQL (schema 7): lists, enrolled
//! persons and their sealed templates, with the same answers and checks as
//! the embedded store's `store::faces`, so `kuzet serve --database` keeps
//! the gallery beside the sightings and every serve node loads the same one.
//!
//! Template embeddings are sealed under the store's key with the row id as
//! associated data (the SQLite bytes exactly): the id is drawn from the
//! sequence first and the row inserted sealed, so no embedding is ever
//! written in the clear, not even inside a transaction.

use crate::{db_err, PgStore};
use base::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::Row;
use store::faces::{check_same_category, validate_new_person, validate_watchlist};
use store::{
    GalleryTemplate, LegalBasis, NewTemplate, Person, PersonScope, StoreError, Watchlist,
    WatchlistCategory,
};

const WATCHLIST_COLUMNS: &str = "id, name, category, threshold, priority, created";

fn category(s: &str) -> Result<WatchlistCategory, StoreError> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("unknown watchlist category {s:?}")))
}

fn watchlist_from_row(r: &PgRow, at: usize) -> Result<Watchlist, StoreError> {
    let get = db_err("watchlist row");
    Ok(Watchlist {
        id: r.try_get(at).map_err(&get)?,
        name: r.try_get(at + 1).map_err(&get)?,
        category: category(r.try_get::<&str, _>(at + 2).map_err(&get)?)?,
        threshold: r.try_get(at + 3).map_err(&get)?,
        priority: r.try_get(at + 4).map_err(&get)?,
        created: Timestamp(r.try_get(at + 5).map_err(&get)?),
    })
}

fn cameras(json: Option<String>) -> Result<Option<Vec<String>>, StoreError> {
    json.map(|s| {
        serde_json::from_str(&s)
            .map_err(|e| StoreError::Corrupt(format!("person camera scope {s:?}: {e}")))
    })
    .transpose()
}

// Lists are ordered by name byte for byte (`COLLATE "C"`), as SQLite's
// BINARY collation orders them, whatever the database's locale.
impl PgStore {
    pub(crate) fn pg_ensure_watchlist(
        &self,
        name: &str,
        category: WatchlistCategory,
        threshold: f32,
        priority: i64,
    ) -> Result<(Watchlist, bool), StoreError> {
        validate_watchlist(name, threshold)?;
        // Looked up first so asking for an existing list changes nothing (an
        // INSERT that does nothing would still bump the generation and make
        // every serve node reload its gallery).
        let existing = || -> Result<Option<Watchlist>, StoreError> {
            Ok(self.pg_watchlists(Some(name))?.into_iter().next())
        };
        if let Some(w) = existing()? {
            check_same_category(&w, category)?;
            return Ok((w, false));
        }
        let now = self.clock.now().millis();
        let n = name.to_owned();
        let inserted = self.run(move |pool| async move {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "INSERT INTO watchlist (name, category, threshold, priority, created)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (name) DO NOTHING
                 RETURNING {WATCHLIST_COLUMNS}"
            )))
            .bind(n)
            .bind(category.as_str())
            .bind(threshold)
            .bind(priority)
            .bind(now)
            .fetch_optional(&pool)
            .await
            .map_err(db_err("create watchlist"))?
            .map(|r| watchlist_from_row(&r, 0))
            .transpose()
        })?;
        let (w, created) = match inserted {
            Some(w) => (w, true),
            // Another node created it meanwhile.
            None => (
                existing()?
                    .ok_or_else(|| StoreError::Corrupt(format!("watchlist {name:?} vanished")))?,
                false,
            ),
        };
        check_same_category(&w, category)?;
        Ok((w, created))
    }

    pub(crate) fn pg_watchlists(&self, name: Option<&str>) -> Result<Vec<Watchlist>, StoreError> {
        let name = name.map(str::to_owned);
        self.run(move |pool| async move {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {WATCHLIST_COLUMNS} FROM watchlist
                 WHERE $1::TEXT IS NULL OR name = $1 ORDER BY name COLLATE \"C\""
            )))
            .bind(name)
            .fetch_all(&pool)
            .await
            .map_err(db_err("watchlists"))?;
            rows.iter().map(|r| watchlist_from_row(r, 0)).collect()
        })
    }

    pub(crate) fn pg_add_person(
        &self,
        watchlist_id: i64,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        scope: &PersonScope,
        templates: &[NewTemplate],
    ) -> Result<Person, StoreError> {
        validate_new_person(name, legal, scope, templates)?;
        let key = self
            .seal_key()
            .ok_or_else(|| store::sealed_faces::no_face_key(&format!("enrolling {name:?}")))?;
        let now = self.clock.now().millis();
        let cameras_json = scope
            .cameras
            .as_ref()
            .map(serde_json::to_string)
            .transpose()?;
        let mut quality = Vec::with_capacity(templates.len());
        for t in templates {
            quality.push(serde_json::to_string(&t.quality)?);
        }
        let (name, notes, legal, temporary, templates) = (
            name.to_owned(),
            notes.map(str::to_owned),
            legal.clone(),
            scope.temporary,
            templates.to_vec(),
        );
        let id = self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let list: Option<i64> =
                sqlx::query_scalar("SELECT id FROM watchlist WHERE id = $1 FOR SHARE")
                    .bind(watchlist_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(db_err("enrol: watchlist"))?;
            if list.is_none() {
                return Err(StoreError::Invalid(format!(
                    "watchlist {watchlist_id} does not exist"
                )));
            }
            let person: i64 = sqlx::query_scalar(
                "INSERT INTO person (watchlist_id, name, notes, case_number, authority, expires,
                                     created, cameras_json, temporary)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
            )
            .bind(watchlist_id)
            .bind(&name)
            .bind(&notes)
            .bind(&legal.case_number)
            .bind(&legal.authority)
            .bind(legal.expires.map(Timestamp::millis))
            .bind(now)
            .bind(&cameras_json)
            .bind(temporary)
            .fetch_one(&mut *tx)
            .await
            .map_err(db_err("enrol: person"))?;
            for (t, q) in templates.iter().zip(&quality) {
                let id: i64 = sqlx::query_scalar(
                    "SELECT nextval(pg_get_serial_sequence('face_template', 'id'))",
                )
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("enrol: template id"))?;
                let sealed = store::sealed_faces::seal_template_embedding(&key, id, &t.embedding)?;
                sqlx::query(
                    "INSERT INTO face_template (id, person_id, model, embedding, quality_json,
                                                photo_hash, created, key_id)
                     OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(id)
                .bind(person)
                .bind(&t.model)
                .bind(sealed)
                .bind(q)
                .bind(&t.photo_hash)
                .bind(now)
                .bind(key.id())
                .execute(&mut *tx)
                .await
                .map_err(db_err("enrol: template"))?;
            }
            tx.commit().await.map_err(db_err("enrol: commit"))?;
            Ok(person)
        })?;
        self.pg_persons(Some(id), None)?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::Corrupt(format!("person {id} vanished after insert")))
    }

    pub(crate) fn pg_persons(
        &self,
        id: Option<i64>,
        watchlist_id: Option<i64>,
    ) -> Result<Vec<Person>, StoreError> {
        self.run(move |pool| async move {
            let rows = sqlx::query(
                "SELECT p.id, p.watchlist_id, w.name, p.name, p.notes, p.case_number,
                        p.authority, p.expires, p.created,
                        (SELECT count(*) FROM face_template t WHERE t.person_id = p.id),
                        p.cameras_json, p.temporary
                 FROM person p JOIN watchlist w ON w.id = p.watchlist_id
                 WHERE ($1::BIGINT IS NULL OR p.id = $1)
                   AND ($2::BIGINT IS NULL OR p.watchlist_id = $2)
                 ORDER BY w.name COLLATE \"C\", p.id",
            )
            .bind(id)
            .bind(watchlist_id)
            .fetch_all(&pool)
            .await
            .map_err(db_err("persons"))?;
            let get = db_err("person row");
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                out.push(Person {
                    id: r.try_get(0).map_err(&get)?,
                    watchlist_id: r.try_get(1).map_err(&get)?,
                    watchlist: r.try_get(2).map_err(&get)?,
                    name: r.try_get(3).map_err(&get)?,
                    notes: r.try_get(4).map_err(&get)?,
                    legal: LegalBasis {
                        case_number: r.try_get(5).map_err(&get)?,
                        authority: r.try_get(6).map_err(&get)?,
                        expires: r.try_get::<Option<i64>, _>(7).map_err(&get)?.map(Timestamp),
                    },
                    created: Timestamp(r.try_get(8).map_err(&get)?),
                    templates: r.try_get::<i64, _>(9).map_err(&get)? as u64,
                    cameras: cameras(r.try_get(10).map_err(&get)?)?,
                    temporary: r.try_get(11).map_err(&get)?,
                });
            }
            Ok(out)
        })
    }

    pub(crate) fn pg_remove_person(&self, id: i64) -> Result<bool, StoreError> {
        self.run(move |pool| async move {
            // Templates go with the person (ON DELETE CASCADE).
            let n = sqlx::query("DELETE FROM person WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await
                .map_err(db_err("remove person"))?
                .rows_affected();
            Ok(n > 0)
        })
    }

    pub(crate) fn pg_purge_expired_temporary(
        &self,
        now: Timestamp,
    ) -> Result<Vec<i64>, StoreError> {
        self.run(move |pool| async move {
            let mut ids: Vec<i64> = sqlx::query_scalar(
                "DELETE FROM person WHERE temporary AND expires IS NOT NULL AND expires <= $1
                 RETURNING id",
            )
            .bind(now.millis())
            .fetch_all(&pool)
            .await
            .map_err(db_err("purge temporary entries"))?;
            ids.sort_unstable();
            Ok(ids)
        })
    }

    pub(crate) fn pg_watchlist_generation(&self) -> Result<i64, StoreError> {
        self.run(move |pool| async move {
            sqlx::query_scalar("SELECT value FROM gallery_generation")
                .fetch_one(&pool)
                .await
                .map_err(db_err("gallery generation"))
        })
    }

    pub(crate) fn pg_face_templates(
        &self,
        model: &str,
    ) -> Result<Vec<GalleryTemplate>, StoreError> {
        let key = self.seal_key();
        let model = model.to_owned();
        self.run(move |pool| async move {
            // The list's columns in `watchlist_from_row`'s order, from 7.
            let rows = sqlx::query(
                "SELECT t.id, t.embedding, t.key_id, p.id, p.name, p.expires, p.cameras_json,
                        w.id, w.name, w.category, w.threshold, w.priority, w.created
                 FROM face_template t
                 JOIN person p ON p.id = t.person_id
                 JOIN watchlist w ON w.id = p.watchlist_id
                 WHERE t.model = $1
                 ORDER BY t.id",
            )
            .bind(model)
            .fetch_all(&pool)
            .await
            .map_err(db_err("face templates"))?;
            let get = db_err("face template row");
            let mut out = Vec::with_capacity(rows.len());
            for r in &rows {
                let id: i64 = r.try_get(0).map_err(&get)?;
                let blob: Vec<u8> = r.try_get(1).map_err(&get)?;
                let key_id: Option<String> = r.try_get(2).map_err(&get)?;
                out.push(GalleryTemplate {
                    template_id: id,
                    embedding: store::sealed_faces::open_template_embedding(
                        key.as_deref(),
                        id,
                        key_id.as_deref(),
                        &blob,
                    )?,
                    person_id: r.try_get(3).map_err(&get)?,
                    person_name: r.try_get(4).map_err(&get)?,
                    expires: r.try_get::<Option<i64>, _>(5).map_err(&get)?.map(Timestamp),
                    cameras: cameras(r.try_get(6).map_err(&get)?)?,
                    watchlist: watchlist_from_row(r, 7)?,
                });
            }
            Ok(out)
        })
    }

    pub(crate) fn pg_templates_of_other_models(&self, model: &str) -> Result<u64, StoreError> {
        let model = model.to_owned();
        self.run(move |pool| async move {
            let n: i64 = sqlx::query_scalar("SELECT count(*) FROM face_template WHERE model <> $1")
                .bind(model)
                .fetch_one(&pool)
                .await
                .map_err(db_err("face templates of other models"))?;
            Ok(n as u64)
        })
    }
}
