//! Face watchlists: lists, enrolled persons and their face templates
//! (migration 0002).
//!
//! Writes here are rare, operator-driven administration (enrol, remove). They
//! go through the store's one writer thread like every other write (see
//! `Store::exec`): each runs in its own savepoint, so a person and all their
//! templates appear, or disappear, atomically, and the caller learns of a
//! constraint failure (unknown list, duplicate name) directly — after the
//! commit, so a returned id is durable.
//!
//! Embeddings are stored as little-endian f32 BLOBs together with the key of
//! the model that produced them, because templates of different models are
//! not comparable: a gallery only loads templates of the model in use.

use crate::{Store, StoreError};
use base::Timestamp;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// What a list is for; drives alert wording and, later, retention rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WatchlistCategory {
    Wanted,
    Missing,
    Debtor,
    Custom,
}

impl WatchlistCategory {
    pub const ALL: [WatchlistCategory; 4] = [
        WatchlistCategory::Wanted,
        WatchlistCategory::Missing,
        WatchlistCategory::Debtor,
        WatchlistCategory::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WatchlistCategory::Wanted => "wanted",
            WatchlistCategory::Missing => "missing",
            WatchlistCategory::Debtor => "debtor",
            WatchlistCategory::Custom => "custom",
        }
    }
}

impl std::fmt::Display for WatchlistCategory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for WatchlistCategory {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| {
                StoreError::Invalid(format!(
                    "unknown watchlist category {s:?}: use wanted, missing, debtor or custom"
                ))
            })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Watchlist {
    pub id: i64,
    pub name: String,
    pub category: WatchlistCategory,
    /// Cosine similarity at or above which a candidate of this list is a match.
    pub threshold: f32,
    /// Higher first when several lists match one face.
    pub priority: i64,
    pub created: Timestamp,
}

/// Fields the privacy work will enforce (who authorised the entry and until
/// when); all optional at this stage.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegalBasis {
    pub case_number: Option<String>,
    pub authority: Option<String>,
    pub expires: Option<Timestamp>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Person {
    pub id: i64,
    pub watchlist_id: i64,
    pub watchlist: String,
    pub name: String,
    pub notes: Option<String>,
    pub legal: LegalBasis,
    pub created: Timestamp,
    /// Templates stored for this person.
    pub templates: u64,
    /// Cameras the entry may match on; `None` = every camera.
    #[serde(default)]
    pub cameras: Option<Vec<String>>,
    /// A temporary entry (lost-child mode), deleted at its expiry.
    #[serde(default)]
    pub temporary: bool,
}

/// Where and for how long an entry applies (see [`Store::add_person_scoped`]).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonScope {
    /// Only these cameras may match the entry; `None` = every camera.
    pub cameras: Option<Vec<String>>,
    /// Deleted once its `expires` has passed; requires an expiry.
    pub temporary: bool,
}

/// A template to store with a new person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewTemplate {
    /// Manifest key of the embedding model.
    pub model: String,
    pub embedding: Vec<f32>,
    /// The face's quality record, opaque to the store.
    pub quality: serde_json::Value,
    /// SHA-256 of the enrolment photo, if configured to keep a reference.
    pub photo_hash: Option<String>,
}

/// One template with the person and list it belongs to: what a gallery loads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GalleryTemplate {
    pub template_id: i64,
    pub person_id: i64,
    pub person_name: String,
    pub watchlist: Watchlist,
    pub embedding: Vec<f32>,
    /// The entry's expiry: an expired entry must not match.
    #[serde(default)]
    pub expires: Option<Timestamp>,
    /// Cameras the entry may match on; `None` = every camera.
    #[serde(default)]
    pub cameras: Option<Vec<String>>,
}

pub(crate) fn embedding_blob(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

pub(crate) fn blob_embedding(b: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !b.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt(format!(
            "face template embedding of {} bytes is not a whole number of f32",
            b.len()
        )));
    }
    Ok(b.chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect())
}

fn category_from_sql(s: String, col: usize) -> rusqlite::Result<WatchlistCategory> {
    s.parse().map_err(|_| {
        rusqlite::Error::FromSqlConversionFailure(
            col,
            rusqlite::types::Type::Text,
            format!("unknown watchlist category {s:?}").into(),
        )
    })
}

fn cameras_from_sql(s: Option<String>, col: usize) -> rusqlite::Result<Option<Vec<String>>> {
    s.map(|s| {
        serde_json::from_str(&s).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(col, rusqlite::types::Type::Text, e.into())
        })
    })
    .transpose()
}

const WATCHLIST_COLUMNS: &str = "id, name, category, threshold, priority, created";

fn watchlist_from_row(r: &Row<'_>) -> rusqlite::Result<Watchlist> {
    Ok(Watchlist {
        id: r.get(0)?,
        name: r.get(1)?,
        category: category_from_sql(r.get(2)?, 2)?,
        threshold: r.get::<_, f64>(3)? as f32,
        priority: r.get(4)?,
        created: Timestamp::from_millis(r.get(5)?),
    })
}

pub(crate) fn check_text(what: &str, s: &str) -> Result<(), StoreError> {
    if s.trim().is_empty() {
        return Err(StoreError::Invalid(format!("{what} is empty")));
    }
    Ok(())
}

/// An existing list asked for under another category is refused: silently
/// filing a wanted person on a missing-persons list would be worse.
pub fn check_same_category(w: &Watchlist, category: WatchlistCategory) -> Result<(), StoreError> {
    if w.category != category {
        return Err(StoreError::Invalid(format!(
            "watchlist {:?} exists with category {}, not {category}: use that category or another list name",
            w.name, w.category
        )));
    }
    Ok(())
}

/// What every backend checks before creating a list.
pub fn validate_watchlist(name: &str, threshold: f32) -> Result<(), StoreError> {
    check_text("watchlist name", name)?;
    if !(-1.0..=1.0).contains(&threshold) {
        return Err(StoreError::Invalid(format!(
            "watchlist threshold {threshold} is not a cosine similarity (-1..1)"
        )));
    }
    Ok(())
}

/// The checks every backend makes before storing a person: a name, at least
/// one finite template (a person who can never be matched would only give
/// false reassurance), valid photo hashes, a non-empty camera scope, and an
/// expiry on a temporary entry.
pub fn validate_new_person(
    name: &str,
    legal: &LegalBasis,
    scope: &PersonScope,
    templates: &[NewTemplate],
) -> Result<(), StoreError> {
    check_text("person name", name)?;
    if templates.is_empty() {
        return Err(StoreError::Invalid(format!(
            "person {name:?} has no face template: enrol at least one accepted photo"
        )));
    }
    for t in templates {
        check_text("template model", &t.model)?;
        if t.embedding.is_empty() || t.embedding.iter().any(|x| !x.is_finite()) {
            return Err(StoreError::Invalid(format!(
                "person {name:?}: a template embedding is empty or not finite"
            )));
        }
        if let Some(h) = &t.photo_hash {
            crate::check_hash(h)?;
        }
    }
    if scope.cameras.as_ref().is_some_and(|c| c.is_empty()) {
        return Err(StoreError::Invalid(format!(
            "person {name:?}: the camera scope is empty; give at least one camera or none for all"
        )));
    }
    if scope.temporary && legal.expires.is_none() {
        return Err(StoreError::Invalid(format!(
            "person {name:?}: a temporary entry needs an expiry"
        )));
    }
    Ok(())
}

impl Store {
    /// The list called `name`, created with `category`, `threshold` and
    /// `priority` if it does not exist yet (then `.1` is true). An existing
    /// list keeps its settings; asking for it under another category is an
    /// error, because silently filing a wanted person on a missing-persons
    /// list would be worse than refusing.
    pub fn ensure_watchlist(
        &self,
        name: &str,
        category: WatchlistCategory,
        threshold: f32,
        priority: i64,
    ) -> Result<(Watchlist, bool), StoreError> {
        validate_watchlist(name, threshold)?;
        let now = self.clock.now().millis();
        let name = name.to_owned();
        self.exec("ensure_watchlist", move |tx| {
            let found = tx
                .prepare_cached(&format!(
                    "SELECT {WATCHLIST_COLUMNS} FROM watchlist WHERE name = ?1"
                ))?
                .query_row([&name], watchlist_from_row)
                .optional()?;
            if let Some(w) = found {
                check_same_category(&w, category)?;
                return Ok((w, false));
            }
            tx.prepare_cached(
                "INSERT INTO watchlist (name, category, threshold, priority, created)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                name,
                category.as_str(),
                threshold as f64,
                priority,
                now
            ])?;
            Ok((
                Watchlist {
                    id: tx.last_insert_rowid(),
                    name,
                    category,
                    threshold,
                    priority,
                    created: Timestamp::from_millis(now),
                },
                true,
            ))
        })
    }

    /// Every watchlist, by name.
    pub fn watchlists(&self) -> Result<Vec<Watchlist>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {WATCHLIST_COLUMNS} FROM watchlist ORDER BY name"
            ))?;
            let rows = st.query_map([], watchlist_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The list called `name`.
    pub fn watchlist(&self, name: &str) -> Result<Option<Watchlist>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {WATCHLIST_COLUMNS} FROM watchlist WHERE name = ?1"
            ))?
            .query_row([name], watchlist_from_row)
            .optional()?)
        })
    }

    /// Stores a person and all their templates in one transaction and
    /// returns the person. At least one template is required: a person who
    /// can never be matched would only give false reassurance.
    pub fn add_person(
        &self,
        watchlist_id: i64,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        templates: &[NewTemplate],
    ) -> Result<Person, StoreError> {
        self.add_person_scoped(
            watchlist_id,
            name,
            notes,
            legal,
            &PersonScope::default(),
            templates,
        )
    }

    /// [`Store::add_person`] limited to some cameras and/or marked temporary
    /// (lost-child mode).
    pub fn add_person_scoped(
        &self,
        watchlist_id: i64,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        scope: &PersonScope,
        templates: &[NewTemplate],
    ) -> Result<Person, StoreError> {
        validate_new_person(name, legal, scope, templates)?;
        let key = self.face_key(&format!("enrolling {name:?}"))?;
        let now = self.clock.now().millis();
        let cameras_json = match &scope.cameras {
            Some(c) => Some(serde_json::to_string(c)?),
            None => None,
        };
        let (name, notes, legal, temporary) = (
            name.to_owned(),
            notes.map(str::to_owned),
            legal.clone(),
            scope.temporary,
        );
        let templates = templates.to_vec();
        let id = self.exec("add_person", move |tx| {
            let list: Option<i64> = tx
                .prepare_cached("SELECT id FROM watchlist WHERE id = ?1")?
                .query_row([watchlist_id], |r| r.get(0))
                .optional()?;
            if list.is_none() {
                return Err(StoreError::Invalid(format!(
                    "watchlist {watchlist_id} does not exist"
                )));
            }
            tx.prepare_cached(
                "INSERT INTO person (watchlist_id, name, notes, case_number, authority, expires,
                                     created, cameras_json, temporary)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                watchlist_id,
                name,
                notes,
                legal.case_number,
                legal.authority,
                legal.expires.map(Timestamp::millis),
                now,
                cameras_json,
                temporary
            ])?;
            let person = tx.last_insert_rowid();
            let mut st = tx.prepare_cached(
                "INSERT INTO face_template (person_id, model, embedding, quality_json, photo_hash, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for t in &templates {
                // Inserted with an empty embedding, then sealed with the
                // id the insert assigned as associated data.
                st.execute(params![
                    person,
                    t.model,
                    Vec::<u8>::new(),
                    serde_json::to_string(&t.quality)?,
                    t.photo_hash,
                    now
                ])?;
                let id = tx.last_insert_rowid();
                crate::sealed_faces::seal_row(
                    tx,
                    &key,
                    crate::sealed_faces::SealedTable::Template,
                    id,
                    &t.embedding,
                )?;
            }
            Ok(person)
        })?;
        self.person(id)?
            .ok_or_else(|| StoreError::Corrupt(format!("person {id} vanished after insert")))
    }

    /// Deletes every temporary entry whose expiry is at or before `now`;
    /// returns the ids removed. Their templates go with them, so a running
    /// gallery drops them at its next refresh.
    pub fn purge_expired_temporary(&self, now: Timestamp) -> Result<Vec<i64>, StoreError> {
        self.exec("purge_expired_temporary", move |tx| {
            let ids: Vec<i64> = tx
                .prepare_cached(
                    "SELECT id FROM person WHERE temporary = 1 AND expires IS NOT NULL AND expires <= ?1",
                )?
                .query_map([now.millis()], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            for id in &ids {
                tx.prepare_cached("DELETE FROM face_template WHERE person_id = ?1")?
                    .execute([id])?;
                tx.prepare_cached("DELETE FROM person WHERE id = ?1")?
                    .execute([id])?;
            }
            Ok(ids)
        })
    }

    /// Bumped by triggers on every watchlist change (also by other
    /// processes): a gallery reloads when it differs from what it loaded.
    pub fn watchlist_generation(&self) -> Result<i64, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT value FROM change_counter WHERE name = 'watchlists'")?
                    .query_row([], |r| r.get(0))?,
            )
        })
    }

    /// One person, with their list's name and template count.
    pub fn person(&self, id: i64) -> Result<Option<Person>, StoreError> {
        Ok(self.persons_where(Some(id), None)?.into_iter().next())
    }

    /// Persons of one list (or all), by list then id.
    pub fn persons(&self, watchlist_id: Option<i64>) -> Result<Vec<Person>, StoreError> {
        self.persons_where(None, watchlist_id)
    }

    fn persons_where(
        &self,
        id: Option<i64>,
        watchlist_id: Option<i64>,
    ) -> Result<Vec<Person>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT p.id, p.watchlist_id, w.name, p.name, p.notes, p.case_number,
                        p.authority, p.expires, p.created,
                        (SELECT count(*) FROM face_template t WHERE t.person_id = p.id),
                        p.cameras_json, p.temporary
                 FROM person p JOIN watchlist w ON w.id = p.watchlist_id
                 WHERE (?1 IS NULL OR p.id = ?1) AND (?2 IS NULL OR p.watchlist_id = ?2)
                 ORDER BY w.name, p.id",
            )?;
            let rows = st.query_map(params![id, watchlist_id], |r| {
                Ok(Person {
                    id: r.get(0)?,
                    watchlist_id: r.get(1)?,
                    watchlist: r.get(2)?,
                    name: r.get(3)?,
                    notes: r.get(4)?,
                    legal: LegalBasis {
                        case_number: r.get(5)?,
                        authority: r.get(6)?,
                        expires: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_millis),
                    },
                    created: Timestamp::from_millis(r.get(8)?),
                    templates: r.get::<_, i64>(9)? as u64,
                    cameras: cameras_from_sql(r.get(10)?, 10)?,
                    temporary: r.get(11)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Deletes a person and every template of theirs (same transaction);
    /// false if there was no such person. Galleries loaded before the call
    /// still hold the templates: reload them.
    pub fn remove_person(&self, id: i64) -> Result<bool, StoreError> {
        self.exec("remove_person", move |tx| {
            tx.prepare_cached("DELETE FROM face_template WHERE person_id = ?1")?
                .execute([id])?;
            let n = tx
                .prepare_cached("DELETE FROM person WHERE id = ?1")?
                .execute([id])?;
            Ok(n > 0)
        })
    }

    /// Every template of `model` with its person and list, for building a
    /// search gallery.
    /// Sealed templates are opened with the configured key (an error names
    /// the key needed when it is missing or another).
    pub fn face_templates(&self, model: &str) -> Result<Vec<GalleryTemplate>, StoreError> {
        let key = self.seal_key();
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT t.id, t.embedding, p.id, p.name,
                        w.id, w.name, w.category, w.threshold, w.priority, w.created,
                        p.expires, p.cameras_json, t.key_id
                 FROM face_template t
                 JOIN person p ON p.id = t.person_id
                 JOIN watchlist w ON w.id = p.watchlist_id
                 WHERE t.model = ?1
                 ORDER BY t.id",
            )?;
            let mut rows = st.query([model])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let blob: Vec<u8> = r.get(1)?;
                let id: i64 = r.get(0)?;
                let key_id: Option<String> = r.get(12)?;
                out.push(GalleryTemplate {
                    template_id: id,
                    embedding: crate::sealed_faces::open_embedding(
                        key.as_deref(),
                        crate::sealed_faces::SealedTable::Template,
                        id,
                        key_id.as_deref(),
                        &blob,
                    )?,
                    person_id: r.get(2)?,
                    person_name: r.get(3)?,
                    watchlist: Watchlist {
                        id: r.get(4)?,
                        name: r.get(5)?,
                        category: category_from_sql(r.get(6)?, 6)?,
                        threshold: r.get::<_, f64>(7)? as f32,
                        priority: r.get(8)?,
                        created: Timestamp::from_millis(r.get(9)?),
                    },
                    expires: r.get::<_, Option<i64>>(10)?.map(Timestamp::from_millis),
                    cameras: cameras_from_sql(r.get(11)?, 11)?,
                });
            }
            Ok(out)
        })
    }

    /// Every template of one person as it was enrolled (any model, opened,
    /// with its quality record and photo reference), in id order: what
    /// moving the person into another store copies.
    pub fn person_templates(&self, person_id: i64) -> Result<Vec<NewTemplate>, StoreError> {
        let key = self.seal_key();
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, model, embedding, quality_json, photo_hash, key_id
                 FROM face_template WHERE person_id = ?1 ORDER BY id",
            )?;
            let mut rows = st.query([person_id])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let blob: Vec<u8> = r.get(2)?;
                let quality: String = r.get(3)?;
                let key_id: Option<String> = r.get(5)?;
                out.push(NewTemplate {
                    model: r.get(1)?,
                    embedding: crate::sealed_faces::open_embedding(
                        key.as_deref(),
                        crate::sealed_faces::SealedTable::Template,
                        id,
                        key_id.as_deref(),
                        &blob,
                    )?,
                    quality: serde_json::from_str(&quality)?,
                    photo_hash: r.get(4)?,
                });
            }
            Ok(out)
        })
    }

    /// Templates stored for models other than `model`: they are invisible
    /// to a gallery of `model`, so callers warn about them.
    pub fn face_templates_of_other_models(&self, model: &str) -> Result<u64, StoreError> {
        self.readers.with(|c| {
            Ok(
                c.prepare_cached("SELECT count(*) FROM face_template WHERE model <> ?1")?
                    .query_row([model], |r| r.get::<_, i64>(0))? as u64,
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_roundtrip_and_corruption() {
        let v = vec![0.5f32, -1.25, 3.0e-7];
        assert_eq!(blob_embedding(&embedding_blob(&v)).unwrap(), v);
        assert!(blob_embedding(&[1, 2, 3]).is_err());
    }

    #[test]
    fn category_parses() {
        assert_eq!(
            "Wanted".parse::<WatchlistCategory>().unwrap(),
            WatchlistCategory::Wanted
        );
        let e = "thief"
            .parse::<WatchlistCategory>()
            .unwrap_err()
            .to_string();
        assert!(e.contains("wanted, missing, debtor or custom"), "{e}");
    }

    #[test]
    fn watchlist_person_template_lifecycle() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let key = std::sync::Arc::new(crate::SealKey::generate().0);
        s.set_seal_key(key.clone());
        let (w, created) = s
            .ensure_watchlist("wanted-a", WatchlistCategory::Wanted, 0.4, 5)
            .unwrap();
        assert!(created);
        let (w2, created) = s
            .ensure_watchlist("wanted-a", WatchlistCategory::Wanted, 0.9, 0)
            .unwrap();
        assert!(!created);
        assert_eq!(w2.threshold, 0.4);
        assert!(s
            .ensure_watchlist("wanted-a", WatchlistCategory::Missing, 0.4, 0)
            .is_err());
        let t = |x: f32| NewTemplate {
            model: "m".into(),
            embedding: vec![x, 1.0],
            quality: serde_json::json!({"q": 1}),
            photo_hash: None,
        };
        assert!(s
            .add_person(w.id, "nobody", None, &LegalBasis::default(), &[])
            .is_err());
        assert!(s
            .add_person(999, "x", None, &LegalBasis::default(), &[t(1.0)])
            .is_err());
        let legal = LegalBasis {
            case_number: Some("C-1".into()),
            authority: None,
            expires: Some(Timestamp::from_millis(1_000)),
        };
        let p = s
            .add_person(w.id, "Ann", Some("note"), &legal, &[t(1.0), t(2.0)])
            .unwrap();
        assert_eq!((p.templates, p.legal.clone()), (2, legal));
        let q = s
            .add_person(w.id, "Bob", None, &LegalBasis::default(), &[t(3.0)])
            .unwrap();
        assert_eq!(s.face_templates("m").unwrap().len(), 3);
        assert_eq!(s.face_templates("other").unwrap().len(), 0);
        assert_eq!(s.face_templates_of_other_models("other").unwrap(), 3);
        assert!(s.remove_person(p.id).unwrap());
        assert!(!s.remove_person(p.id).unwrap());
        let g = s.face_templates("m").unwrap();
        assert_eq!(g.len(), 1);
        assert_eq!((g[0].person_id, g[0].embedding[0]), (q.id, 3.0));
        assert_eq!(s.persons(Some(w.id)).unwrap().len(), 1);
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        s.set_seal_key(key);
        assert_eq!(s.watchlists().unwrap(), vec![w]);
        assert_eq!(s.face_templates("m").unwrap(), g);
    }
}
