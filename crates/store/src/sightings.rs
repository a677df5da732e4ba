//! Face sightings (migration 3): every face a camera saw that passed the
//! quality gate, with its embedding, for retrospective search ("where and
//! when was this person seen?").
//!
//! Sightings are personal data about bystanders, so they live only for the
//! configured retention: [`Store::purge_sightings`] deletes the rows and any
//! crop file nothing else refers to, on the writer thread like every write.

use crate::{evidence, is_valid_hash, Store, StoreError};
use base::{BBox, Timestamp};
use rusqlite::types::Value;
use rusqlite::{params, Connection, Row};
use serde::{Deserialize, Serialize};

/// A sighting to store.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewSighting {
    pub camera: String,
    pub ts: Timestamp,
    pub run_id: Option<i64>,
    pub track_id: Option<u64>,
    /// Manifest key of the embedding model.
    pub model: String,
    /// L2-normalised embedding.
    pub embedding: Vec<f32>,
    /// Face box in frame pixels.
    pub bbox: BBox,
    /// Scalar quality used to rank the faces of a track (higher is better).
    pub quality: f32,
    /// Evidence hash of the face crop.
    pub crop: Option<String>,
    /// The watchlist person this face matched, if any.
    pub matched_person: Option<i64>,
}

/// A stored sighting (without its embedding).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    pub id: i64,
    pub camera: String,
    pub ts: Timestamp,
    /// The run (process start) that saw it: track ids restart with each run.
    pub run_id: Option<i64>,
    pub track_id: Option<u64>,
    pub model: String,
    pub bbox: BBox,
    pub quality: f32,
    pub crop: Option<String>,
    pub matched_person: Option<i64>,
}

/// Camera and time filter of a sighting search.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SightingQuery {
    /// Only these cameras; empty = all.
    pub cameras: Vec<String>,
    /// Inclusive lower bound on `ts`.
    pub since: Option<Timestamp>,
    /// Exclusive upper bound on `ts`.
    pub until: Option<Timestamp>,
}

impl SightingQuery {
    /// Whether a sighting passes the filter.
    pub fn accepts(&self, camera: &str, ts: Timestamp) -> bool {
        (self.cameras.is_empty() || self.cameras.iter().any(|c| c == camera))
            && self.since.is_none_or(|s| ts >= s)
            && self.until.is_none_or(|u| ts < u)
    }
}

/// What a purge removed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SightingPurge {
    /// Ids of the deleted sightings (to drop from a search index).
    pub ids: Vec<i64>,
    /// Crop files deleted (those no event, track or sighting still uses).
    pub files: u64,
}

const COLUMNS: &str =
    "id, camera, ts, track_id, model, x1, y1, x2, y2, quality, crop, matched_person, run_id";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Sighting> {
    Ok(Sighting {
        id: r.get(0)?,
        camera: r.get(1)?,
        ts: Timestamp::from_millis(r.get(2)?),
        track_id: r.get::<_, Option<i64>>(3)?.map(|t| t as u64),
        model: r.get(4)?,
        bbox: BBox::new(
            r.get::<_, f64>(5)? as f32,
            r.get::<_, f64>(6)? as f32,
            r.get::<_, f64>(7)? as f32,
            r.get::<_, f64>(8)? as f32,
        ),
        quality: r.get::<_, f64>(9)? as f32,
        crop: r.get(10)?,
        matched_person: r.get(11)?,
        run_id: r.get(12)?,
    })
}

pub(crate) fn validate(s: &NewSighting) -> Result<(), StoreError> {
    let bad = |why: &str| {
        Err(StoreError::Invalid(format!(
            "face sighting at {} on {:?}: {why}",
            s.ts, s.camera
        )))
    };
    if s.camera.is_empty() {
        return bad("empty camera");
    }
    if s.model.is_empty() {
        return bad("empty model key");
    }
    if s.embedding.is_empty() || s.embedding.iter().any(|x| !x.is_finite()) {
        return bad("embedding is empty or not finite");
    }
    if !s.bbox.is_finite() || !s.quality.is_finite() {
        return bad("non-finite box or quality");
    }
    if s.track_id.is_some_and(|t| t > i64::MAX as u64) {
        return bad("track id exceeds SQLite integers");
    }
    if let Some(h) = &s.crop {
        crate::check_hash(h)?;
    }
    Ok(())
}

impl Store {
    /// Stores sightings and returns their ids after the commit (the ids go
    /// into the search index, which must never point at an uncommitted row).
    pub fn insert_sightings(&self, sightings: Vec<NewSighting>) -> Result<Vec<i64>, StoreError> {
        if sightings.is_empty() {
            return Ok(Vec::new());
        }
        for s in &sightings {
            validate(s)?;
        }
        let key = self.face_key("storing a face sighting")?;
        let now = self.clock.now().millis();
        self.exec("insert_sightings", move |c| {
            let mut st = c.prepare_cached(
                "INSERT INTO face_sighting (camera, ts, run_id, track_id, model, embedding,
                                            x1, y1, x2, y2, quality, crop, matched_person, created)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
            )?;
            let mut ids = Vec::with_capacity(sightings.len());
            for s in &sightings {
                st.execute(params![
                    s.camera,
                    s.ts.millis(),
                    s.run_id,
                    s.track_id.map(|t| t as i64),
                    s.model,
                    Vec::<u8>::new(),
                    s.bbox.x1,
                    s.bbox.y1,
                    s.bbox.x2,
                    s.bbox.y2,
                    s.quality,
                    s.crop,
                    s.matched_person,
                    now,
                ])?;
                let id = c.last_insert_rowid();
                crate::sealed_faces::seal_row(
                    c,
                    &key,
                    crate::sealed_faces::SealedTable::Sighting,
                    id,
                    &s.embedding,
                )?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Records that sightings matched a watchlist person (they then fall
    /// under the longer retention of matched data).
    pub fn mark_sightings_matched(&self, ids: Vec<i64>, person: i64) -> Result<(), StoreError> {
        if ids.is_empty() {
            return Ok(());
        }
        self.exec("mark_sightings_matched", move |c| {
            let mut st =
                c.prepare_cached("UPDATE face_sighting SET matched_person = ?2 WHERE id = ?1")?;
            for id in &ids {
                st.execute(params![id, person])?;
            }
            Ok(())
        })
    }

    /// The sightings with these ids (unknown ids are skipped), in id order.
    pub fn sightings_by_ids(&self, ids: &[i64]) -> Result<Vec<Sighting>, StoreError> {
        let mut out = Vec::with_capacity(ids.len());
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM face_sighting WHERE id = ?1"
            ))?;
            for id in ids {
                let mut rows = st.query_map([id], from_row)?;
                if let Some(s) = rows.next() {
                    out.push(s?);
                }
            }
            Ok(())
        })?;
        out.sort_by_key(|s| s.id);
        Ok(out)
    }

    /// Sightings matching `q`, newest first, at most `limit`.
    pub fn sightings(&self, q: &SightingQuery, limit: usize) -> Result<Vec<Sighting>, StoreError> {
        self.readers.with(|c| {
            let mut sql = format!("SELECT {COLUMNS} FROM face_sighting WHERE 1 = 1");
            let mut args: Vec<Value> = Vec::new();
            push_filter(q, &mut sql, &mut args);
            sql.push_str(" ORDER BY ts DESC, id DESC LIMIT ?");
            args.push(Value::Integer(limit.min(i64::MAX as usize) as i64));
            let mut st = c.prepare(&sql)?;
            let rows = st.query_map(rusqlite::params_from_iter(args), from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Id, camera, time and embedding of sightings of `model` with an id
    /// above `after_id`, in id order, at most `limit`: pages for building or
    /// catching up a search index.
    pub fn sighting_embeddings(
        &self,
        model: &str,
        after_id: i64,
        limit: usize,
    ) -> Result<Vec<(i64, Vec<f32>)>, StoreError> {
        let key = self.seal_key();
        self.readers.with(|c| {
            let mut st = c.prepare_cached(
                "SELECT id, embedding, key_id FROM face_sighting
                 WHERE model = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let mut rows = st.query(params![model, after_id, limit as i64])?;
            let mut out = Vec::new();
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let blob: Vec<u8> = r.get(1)?;
                let key_id: Option<String> = r.get(2)?;
                let v = crate::sealed_faces::open_embedding(
                    key.as_deref(),
                    crate::sealed_faces::SealedTable::Sighting,
                    id,
                    key_id.as_deref(),
                    &blob,
                )?;
                out.push((id, v));
            }
            Ok(out)
        })
    }

    /// Every sighting id of `model`, ascending (to reconcile an index).
    pub fn sighting_ids(&self, model: &str) -> Result<Vec<i64>, StoreError> {
        self.readers.with(|c| {
            let mut st =
                c.prepare_cached("SELECT id FROM face_sighting WHERE model = ?1 ORDER BY id")?;
            let rows = st.query_map([model], |r| r.get(0))?;
            Ok(rows.collect::<Result<Vec<i64>, _>>()?)
        })
    }

    /// Deletes unmatched sightings older than `unmatched_before` and matched
    /// ones older than `matched_before`, with their crop files when nothing
    /// else uses them. Rows go in one writer transaction; files are deleted
    /// after the commit, so a crash leaves at worst an orphan file (never a
    /// row pointing at a missing file).
    pub fn purge_sightings(
        &self,
        unmatched_before: Timestamp,
        matched_before: Timestamp,
    ) -> Result<SightingPurge, StoreError> {
        let (ids, hashes) = self.exec("purge_sightings", move |c| {
            let mut st = c.prepare_cached(
                "SELECT id, crop FROM face_sighting
                 WHERE (matched_person IS NULL AND ts < ?1) OR ts < ?2",
            )?;
            let rows: Vec<(i64, Option<String>)> = st
                .query_map(
                    params![unmatched_before.millis(), matched_before.millis()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?
                .collect::<Result<_, _>>()?;
            let mut del = c.prepare_cached("DELETE FROM face_sighting WHERE id = ?1")?;
            for (id, _) in &rows {
                del.execute([id])?;
            }
            let mut orphans = Vec::new();
            for h in rows.iter().filter_map(|(_, h)| h.as_deref()) {
                if is_valid_hash(h) && !orphans.iter().any(|o| o == h) && !evidence_in_use(c, h)? {
                    c.prepare_cached("DELETE FROM evidence WHERE hash = ?1")?
                        .execute([h])?;
                    orphans.push(h.to_owned());
                }
            }
            Ok((
                rows.into_iter().map(|(id, _)| id).collect::<Vec<i64>>(),
                orphans,
            ))
        })?;
        let mut files = 0;
        for h in &hashes {
            let p = evidence::path_for(&self.evidence_dir, h);
            match std::fs::remove_file(&p) {
                Ok(()) => files += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StoreError::io(&p, e)),
            }
        }
        Ok(SightingPurge { ids, files })
    }
}

fn push_filter(q: &SightingQuery, sql: &mut String, args: &mut Vec<Value>) {
    if !q.cameras.is_empty() {
        sql.push_str(" AND camera IN (");
        for (i, c) in q.cameras.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            args.push(Value::Text(c.clone()));
        }
        sql.push(')');
    }
    if let Some(s) = q.since {
        sql.push_str(" AND ts >= ?");
        args.push(Value::Integer(s.millis()));
    }
    if let Some(u) = q.until {
        sql.push_str(" AND ts < ?");
        args.push(Value::Integer(u.millis()));
    }
}

/// Whether an evidence hash is still referenced by an event, a track, a
/// sighting or a plate read (a purge must not delete evidence of an alert).
pub(crate) fn evidence_in_use(c: &Connection, h: &str) -> Result<bool, StoreError> {
    let pattern = format!("%{h}%");
    let used: bool = c
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM event WHERE evidence = ?1)
                 OR EXISTS (SELECT 1 FROM event WHERE details_json LIKE ?2)
                 OR EXISTS (SELECT 1 FROM track WHERE best_crop = ?1)
                 OR EXISTS (SELECT 1 FROM face_sighting WHERE crop = ?1)
                 OR EXISTS (SELECT 1 FROM plate_reads
                            WHERE plate_crop = ?1 OR vehicle_crop = ?1 OR frame = ?1)",
        )?
        .query_row(params![h, pattern], |r| r.get(0))?;
    Ok(used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{LegalBasis, NewTemplate, PersonScope, WatchlistCategory};
    use base::{Event, SimulatedClock};
    use std::sync::Arc;

    fn sighting(camera: &str, ts: i64, crop: Option<String>) -> NewSighting {
        NewSighting {
            camera: camera.into(),
            ts: Timestamp::from_millis(ts),
            run_id: None,
            track_id: Some(7),
            model: "m".into(),
            embedding: vec![0.6, 0.8],
            bbox: BBox::new(1.0, 2.0, 30.0, 40.0),
            quality: 0.9,
            crop,
            matched_person: None,
        }
    }

    #[test]
    fn insert_query_and_purge_with_files() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.set_seal_key(std::sync::Arc::new(crate::SealKey::generate().0));
        let rgb = vec![128u8; 8 * 8 * 3];
        let crop_a = s.save_evidence_jpeg(&rgb, 8, 8, None, 90).unwrap();
        let rgb_b = vec![10u8; 8 * 8 * 3];
        let crop_b = s.save_evidence_jpeg(&rgb_b, 8, 8, None, 90).unwrap();
        let ids = s
            .insert_sightings(vec![
                sighting("a", 1_000, Some(crop_a.clone())),
                sighting("b", 2_000, Some(crop_b.clone())),
                sighting("a", 3_000, None),
            ])
            .unwrap();
        assert_eq!(ids.len(), 3);
        let q = SightingQuery {
            cameras: vec!["a".into()],
            since: Some(Timestamp::from_millis(1_000)),
            until: None,
        };
        let got = s.sightings(&q, 10).unwrap();
        assert_eq!(
            got.iter().map(|x| x.id).collect::<Vec<_>>(),
            vec![ids[2], ids[0]]
        );
        assert!(q.accepts("a", Timestamp::from_millis(1_000)));
        assert!(!q.accepts("b", Timestamp::from_millis(1_000)));
        assert_eq!(s.sighting_ids("m").unwrap(), ids);
        assert_eq!(s.sighting_embeddings("m", ids[0], 10).unwrap().len(), 2);
        assert_eq!(s.sightings_by_ids(&[ids[1], 999]).unwrap()[0].camera, "b");
        // crop_b is also an alert's evidence: the purge must keep the file.
        let mut e = Event::new("b", "face_match", Timestamp::from_millis(2_000));
        e.evidence = Some(crop_b.clone());
        s.insert_events(vec![e]).unwrap();
        s.mark_sightings_matched(vec![ids[2]], 42).unwrap();
        let p = s
            .purge_sightings(Timestamp::from_millis(10_000), Timestamp::from_millis(0))
            .unwrap();
        assert_eq!(p.ids, vec![ids[0], ids[1]]);
        assert_eq!(p.files, 1);
        assert!(s.evidence_path(&crop_a).is_none(), "unused crop deleted");
        assert!(s.evidence_path(&crop_b).is_some(), "alert evidence kept");
        let left = s.sightings(&SightingQuery::default(), 10).unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].matched_person, Some(42));
    }

    #[test]
    fn bad_sightings_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.set_seal_key(std::sync::Arc::new(crate::SealKey::generate().0));
        let mut bad = sighting("a", 1, None);
        bad.embedding[0] = f32::NAN;
        assert!(s.insert_sightings(vec![bad]).is_err());
        let mut bad = sighting("", 1, None);
        bad.crop = None;
        assert!(s.insert_sightings(vec![bad]).is_err());
        assert!(s
            .insert_sightings(vec![sighting("a", 1, Some("../x".into()))])
            .is_err());
    }

    #[test]
    fn temporary_entries_expire_and_bump_the_generation() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(0)));
        let s = Store::open_with_clock(dir.path(), clock).unwrap();
        s.set_seal_key(std::sync::Arc::new(crate::SealKey::generate().0));
        let g0 = s.watchlist_generation().unwrap();
        let (w, _) = s
            .ensure_watchlist("lost", WatchlistCategory::Missing, 0.4, 100)
            .unwrap();
        let t = NewTemplate {
            model: "m".into(),
            embedding: vec![1.0, 0.0],
            quality: serde_json::json!({}),
            photo_hash: None,
        };
        let scope = PersonScope {
            cameras: Some(vec!["gate".into()]),
            temporary: true,
        };
        let no_expiry = s.add_person_scoped(
            w.id,
            "child",
            None,
            &LegalBasis::default(),
            &scope,
            std::slice::from_ref(&t),
        );
        assert!(no_expiry.is_err(), "temporary needs an expiry");
        let legal = LegalBasis {
            expires: Some(Timestamp::from_millis(5_000)),
            ..Default::default()
        };
        let p = s
            .add_person_scoped(w.id, "child", None, &legal, &scope, &[t])
            .unwrap();
        assert!(p.temporary);
        assert_eq!(p.cameras, Some(vec!["gate".to_string()]));
        let g1 = s.watchlist_generation().unwrap();
        assert!(g1 > g0);
        let tpl = s.face_templates("m").unwrap();
        assert_eq!(tpl[0].cameras, Some(vec!["gate".to_string()]));
        assert_eq!(tpl[0].expires, Some(Timestamp::from_millis(5_000)));
        assert!(s
            .purge_expired_temporary(Timestamp::from_millis(4_999))
            .unwrap()
            .is_empty());
        assert_eq!(
            s.purge_expired_temporary(Timestamp::from_millis(5_000))
                .unwrap(),
            vec![p.id]
        );
        assert!(s.face_templates("m").unwrap().is_empty());
        assert!(s.watchlist_generation().unwrap() > g1);
    }
}
