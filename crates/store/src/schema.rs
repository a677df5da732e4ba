//! Numbered schema migrations, applied at open (the Moonfire NVR approach).
//!
//! `PRAGMA user_version` holds the schema version: SQLite keeps it in the
//! database header, so it is readable before any table exists and changes
//! atomically with the migration transaction. Migration `n` upgrades version
//! `n - 1` to `n`; all pending ones run in one transaction so a crash mid-upgrade
//! leaves the previous version intact.

use crate::StoreError;
use rusqlite::{params, Connection, TransactionBehavior};

/// A migration: its version (the file number) and SQL.
pub(crate) struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

/// Every migration, in increasing version order. Append only.
pub(crate) const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_initial",
        sql: include_str!("migrations/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "0002_faces",
        sql: include_str!("migrations/0002_faces.sql"),
    },
    Migration {
        version: 3,
        name: "0003_face_sightings",
        sql: include_str!("migrations/0003_face_sightings.sql"),
    },
    Migration {
        version: 4,
        name: "0004_plates",
        sql: include_str!("migrations/0004_plates.sql"),
    },
    Migration {
        version: 5,
        name: "0005_security",
        sql: include_str!("migrations/0005_security.sql"),
    },
    Migration {
        version: 6,
        name: "0006_reviews",
        sql: include_str!("migrations/0006_reviews.sql"),
    },
    Migration {
        version: 7,
        name: "0007_bus",
        sql: include_str!("migrations/0007_bus.sql"),
    },
    Migration {
        version: 8,
        name: "0008_authorisations",
        sql: include_str!("migrations/0008_authorisations.sql"),
    },
    Migration {
        version: 9,
        name: "0009_dedupe_keys",
        sql: include_str!("migrations/0009_dedupe_keys.sql"),
    },
    Migration {
        version: 10,
        name: "0010_evidence_originals",
        sql: include_str!("migrations/0010_evidence_originals.sql"),
    },
    Migration {
        version: 11,
        name: "0011_retention",
        sql: include_str!("migrations/0011_retention.sql"),
    },
    Migration {
        version: 12,
        name: "0012_evidence_camera",
        sql: include_str!("migrations/0012_evidence_camera.sql"),
    },
    Migration {
        version: 13,
        name: "0013_sealed_faces",
        sql: include_str!("migrations/0013_sealed_faces.sql"),
    },
    Migration {
        version: 14,
        name: "0014_camera_owners",
        sql: include_str!("migrations/0014_camera_owners.sql"),
    },
    Migration {
        version: 15,
        name: "0015_agreement_terms",
        sql: include_str!("migrations/0015_agreement_terms.sql"),
    },
    Migration {
        version: 16,
        name: "0016_plate_evidence_camera",
        sql: include_str!("migrations/0016_plate_evidence_camera.sql"),
    },
];

/// The full current schema, for documentation and the consistency test.
pub const SCHEMA_SQL: &str = include_str!("schema.sql");

/// The schema version this binary writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS[MIGRATIONS.len() - 1].version;

/// The versions of every migration this binary knows, in order.
pub fn migration_versions() -> Vec<i64> {
    MIGRATIONS.iter().map(|m| m.version).collect()
}

/// Reads the schema version of an open database.
pub(crate) fn version(conn: &Connection) -> Result<i64, StoreError> {
    Ok(conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
}

/// Brings the database up to [`SCHEMA_VERSION`], refusing databases written by a
/// newer binary: silently using a schema we do not understand could corrupt it.
pub(crate) fn migrate(conn: &mut Connection, now_ms: i64) -> Result<(), StoreError> {
    // IMMEDIATE takes the write lock before reading the version, so two
    // processes opening the same new database cannot both migrate it.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = version(&tx)?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::FutureSchema {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    if found < 0 {
        return Err(StoreError::Corrupt(format!(
            "negative schema version {found}"
        )));
    }
    if found == SCHEMA_VERSION {
        return Ok(());
    }
    for m in MIGRATIONS.iter().filter(|m| m.version > found) {
        tracing::info!(
            version = m.version,
            name = m.name,
            "applying schema migration"
        );
        tx.execute_batch(m.sql).map_err(|e| StoreError::Migration {
            version: m.version,
            source: e,
        })?;
        tx.execute(
            "INSERT INTO schema_version (version, applied, notes) VALUES (?1, ?2, ?3)",
            params![m.version, now_ms, m.name],
        )?;
        // PRAGMA cannot take bound parameters; the value is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {}", m.version))?;
    }
    tx.commit()?;
    tracing::info!(from = found, to = SCHEMA_VERSION, "schema migrated");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tables, columns and index columns of a database, in a stable order: the
    /// structure, independent of whitespace and comments in the SQL text.
    fn structure(conn: &Connection) -> Vec<String> {
        let mut out = Vec::new();
        let mut st = conn
            .prepare(
                "SELECT m.type, m.name, p.cid, p.name, p.type, p.\"notnull\", p.dflt_value, p.pk
                 FROM sqlite_master m JOIN pragma_table_info(m.name) p
                 WHERE m.type = 'table' ORDER BY m.name, p.cid",
            )
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "{}|{}|{}|{}|{}|{}|{:?}|{}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, i64>(7)?,
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
        let mut st = conn
            .prepare(
                "SELECT m.name, m.tbl_name, i.seqno, i.name
                 FROM sqlite_master m JOIN pragma_index_info(m.name) i
                 WHERE m.type = 'index' ORDER BY m.name, i.seqno",
            )
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "index|{}|{}|{}|{:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
        let mut st = conn
            .prepare(
                "SELECT m.name, f.\"table\", f.\"from\", f.\"to\"
                 FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
                 WHERE m.type = 'table' ORDER BY m.name, f.id, f.seq",
            )
            .unwrap();
        let rows = st
            .query_map([], |r| {
                Ok(format!(
                    "fk|{}|{}|{}|{:?}",
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
        out
    }

    #[test]
    fn schema_sql_matches_migrations() {
        let mut migrated = Connection::open_in_memory().unwrap();
        migrate(&mut migrated, 0).unwrap();
        assert_eq!(version(&migrated).unwrap(), SCHEMA_VERSION);
        let documented = Connection::open_in_memory().unwrap();
        documented.execute_batch(SCHEMA_SQL).unwrap();
        let (a, b) = (structure(&migrated), structure(&documented));
        assert!(a.len() > 20, "suspiciously small schema: {a:?}");
        assert_eq!(a, b, "schema.sql is out of date with migrations/");
    }

    #[test]
    fn migrations_are_numbered_in_order() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            if i > 0 {
                assert!(m.version > MIGRATIONS[i - 1].version, "{}", m.name);
            }
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{}",
                m.name
            );
        }
    }

    #[test]
    fn migrate_is_idempotent() {
        let mut c = Connection::open_in_memory().unwrap();
        migrate(&mut c, 1).unwrap();
        migrate(&mut c, 2).unwrap();
        let n: i64 = c
            .query_row("SELECT count(*) FROM schema_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, MIGRATIONS.len() as i64);
    }
}
