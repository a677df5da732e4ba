//! Plate hotlists on PostgreSQL (schema 8), with the embedded store's
//! checks (`store::plates::{check_list_name, validate_entry}`) and answers,
//! so `kuzet serve --database` keeps them central and every serve node's
//! plate matcher loads the same entries.

use crate::{db_err, PgStore};
use base::Timestamp;
use sqlx::postgres::PgRow;
use sqlx::Row;
use store::plates::{check_list_name, validate_entries};
use store::{HotlistEntryRecord, HotlistRecord, NewHotlistEntry, StoreError};

// Lists and plates are ordered byte for byte (`COLLATE "C"`), as SQLite's
// BINARY collation orders them, whatever the database's locale.
const ENTRY_SELECT: &str = "SELECT e.id, e.hotlist_id, h.name, e.plate, e.plate_norm, e.reason,
       e.priority, e.expires, e.notes, e.created
     FROM hotlist_entries e JOIN hotlists h ON h.id = e.hotlist_id";
const ENTRY_ORDER: &str = " ORDER BY h.name COLLATE \"C\", e.plate_norm COLLATE \"C\", e.id";

fn entry_from_row(r: &PgRow) -> Result<HotlistEntryRecord, sqlx::Error> {
    Ok(HotlistEntryRecord {
        id: r.try_get(0)?,
        hotlist_id: r.try_get(1)?,
        list: r.try_get(2)?,
        plate: r.try_get(3)?,
        plate_norm: r.try_get(4)?,
        reason: r.try_get(5)?,
        priority: r.try_get(6)?,
        expires: r.try_get::<Option<i64>, _>(7)?.map(Timestamp),
        notes: r.try_get(8)?,
        created: Timestamp(r.try_get(9)?),
    })
}

type Tx<'a> = sqlx::Transaction<'a, sqlx::Postgres>;

/// The id of list `name`, created if missing (a concurrent creation by
/// another node is taken, not an error).
async fn ensure_list(tx: &mut Tx<'_>, name: &str, now: i64) -> Result<i64, StoreError> {
    sqlx::query(
        "INSERT INTO hotlists (name, created) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind(name)
    .bind(now)
    .execute(&mut **tx)
    .await
    .map_err(db_err("create hotlist"))?;
    sqlx::query_scalar("SELECT id FROM hotlists WHERE name = $1")
        .bind(name)
        .fetch_one(&mut **tx)
        .await
        .map_err(db_err("hotlist id"))
}

impl PgStore {
    pub(crate) fn pg_ensure_hotlist(
        &self,
        name: &str,
        description: &str,
    ) -> Result<HotlistRecord, StoreError> {
        check_list_name(name)?;
        let now = self.clock.now().millis();
        let (n, d) = (name.to_owned(), description.to_owned());
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let id = ensure_list(&mut tx, &n, now).await?;
            if !d.is_empty() {
                sqlx::query("UPDATE hotlists SET description = $2 WHERE id = $1")
                    .bind(id)
                    .bind(&d)
                    .execute(&mut *tx)
                    .await
                    .map_err(db_err("hotlist description"))?;
            }
            tx.commit().await.map_err(db_err("commit hotlist"))?;
            Ok(())
        })?;
        self.pg_hotlists()?
            .into_iter()
            .find(|h| h.name == name)
            .ok_or_else(|| StoreError::Commit(format!("hotlist {name:?} vanished")))
    }

    pub(crate) fn pg_hotlists(&self) -> Result<Vec<HotlistRecord>, StoreError> {
        self.run(move |pool| async move {
            let rows: Vec<(i64, String, String, i64, i64)> = sqlx::query_as(
                "SELECT h.id, h.name, h.description, h.created,
                        (SELECT count(*) FROM hotlist_entries e WHERE e.hotlist_id = h.id)
                 FROM hotlists h ORDER BY h.name COLLATE \"C\"",
            )
            .fetch_all(&pool)
            .await
            .map_err(db_err("hotlists"))?;
            Ok(rows
                .into_iter()
                .map(|(id, name, description, created, n)| HotlistRecord {
                    id,
                    name,
                    description,
                    entries: n as u64,
                    created: Timestamp(created),
                })
                .collect())
        })
    }

    pub(crate) fn pg_add_hotlist_entries(
        &self,
        list: &str,
        entries: Vec<NewHotlistEntry>,
    ) -> Result<Vec<i64>, StoreError> {
        let norms = validate_entries(list, &entries)?;
        let now = self.clock.now().millis();
        let list = list.to_owned();
        self.run(move |pool| async move {
            let mut tx = pool.begin().await.map_err(db_err("begin"))?;
            let hid = ensure_list(&mut tx, &list, now).await?;
            let mut ids = Vec::with_capacity(entries.len());
            for (e, norm) in entries.iter().zip(&norms) {
                let id: i64 = sqlx::query_scalar(
                    "INSERT INTO hotlist_entries (hotlist_id, plate, plate_norm, reason, priority,
                       expires, notes, created) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     RETURNING id",
                )
                .bind(hid)
                .bind(e.plate.trim())
                .bind(norm)
                .bind(&e.reason)
                .bind(e.priority)
                .bind(e.expires.map(Timestamp::millis))
                .bind(&e.notes)
                .bind(now)
                .fetch_one(&mut *tx)
                .await
                .map_err(db_err("add hotlist entry"))?;
                ids.push(id);
            }
            tx.commit()
                .await
                .map_err(db_err("commit hotlist entries"))?;
            Ok(ids)
        })
    }

    pub(crate) fn pg_hotlist_entries(
        &self,
        list: Option<&str>,
        id: Option<i64>,
    ) -> Result<Vec<HotlistEntryRecord>, StoreError> {
        let list = list.map(str::to_owned);
        self.run(move |pool| async move {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "{ENTRY_SELECT} WHERE ($1::TEXT IS NULL OR h.name = $1)
                   AND ($2::BIGINT IS NULL OR e.id = $2){ENTRY_ORDER}"
            )))
            .bind(list)
            .bind(id)
            .fetch_all(&pool)
            .await
            .map_err(db_err("hotlist entries"))?;
            rows.iter()
                .map(entry_from_row)
                .collect::<Result<Vec<_>, _>>()
                .map_err(db_err("hotlist entries"))
        })
    }

    pub(crate) fn pg_remove_hotlist_entry(&self, id: i64) -> Result<bool, StoreError> {
        self.run(move |pool| async move {
            let n = sqlx::query("DELETE FROM hotlist_entries WHERE id = $1")
                .bind(id)
                .execute(&pool)
                .await
                .map_err(db_err("remove hotlist entry"))?
                .rows_affected();
            Ok(n > 0)
        })
    }

    pub(crate) fn pg_hotlist_generation(&self) -> Result<i64, StoreError> {
        self.run(move |pool| async move {
            sqlx::query_scalar("SELECT value FROM hotlist_generation")
                .fetch_one(&pool)
                .await
                .map_err(db_err("hotlist generation"))
        })
    }
}
