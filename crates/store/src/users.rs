//! Users, web sessions and API tokens (migration 5).
//!
//! The store keeps only what cannot reveal a secret: password hashes (argon2id
//! PHC strings made by `kuzet-auth`) and SHA-256 hashes of session ids and
//! tokens. Roles are plain strings here; `kuzet-auth` owns their meaning, so
//! the store never needs to change when a role is added.

use crate::{Store, StoreError};
use base::Timestamp;
use rusqlite::{params, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

/// A stored user.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// Camera groups the user may see; empty = every camera.
    pub groups: Vec<String>,
    /// Camera owners whose cameras the user may see; empty = any owner's
    /// (migration 14).
    #[serde(default)]
    pub owners: Vec<String>,
    /// Argon2id PHC string; never sent to clients.
    #[serde(skip_serializing)]
    pub password_hash: String,
    pub created: Timestamp,
    pub updated: Timestamp,
}

/// A stored web session (the id itself is only in the user's cookie).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id_hash: String,
    pub user_id: i64,
    pub created: Timestamp,
    pub last_seen: Timestamp,
    pub remote: Option<String>,
}

/// A stored API token (the token itself was shown once, at creation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: i64,
    pub name: String,
    pub user_id: i64,
    pub user_name: String,
    pub created: Timestamp,
    pub last_used: Option<Timestamp>,
    pub revoked: Option<Timestamp>,
}

const USER_COLUMNS: &str =
    "id, name, role, groups_json, password_hash, created, updated, owners_json";

fn json_list(r: &Row<'_>, i: usize) -> rusqlite::Result<Vec<String>> {
    let text: String = r.get(i)?;
    serde_json::from_str(&text).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, Box::new(e))
    })
}

fn user_from_row(r: &Row<'_>) -> rusqlite::Result<UserRecord> {
    Ok(UserRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        role: r.get(2)?,
        groups: json_list(r, 3)?,
        owners: json_list(r, 7)?,
        password_hash: r.get(4)?,
        created: Timestamp::from_millis(r.get(5)?),
        updated: Timestamp::from_millis(r.get(6)?),
    })
}

const TOKEN_COLUMNS: &str = "t.id, t.name, t.user_id, u.name, t.created, t.last_used, t.revoked";

fn token_from_row(r: &Row<'_>) -> rusqlite::Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.get(0)?,
        name: r.get(1)?,
        user_id: r.get(2)?,
        user_name: r.get(3)?,
        created: Timestamp::from_millis(r.get(4)?),
        last_used: r.get::<_, Option<i64>>(5)?.map(Timestamp::from_millis),
        revoked: r.get::<_, Option<i64>>(6)?.map(Timestamp::from_millis),
    })
}

impl Store {
    /// Adds a user; an existing name is an error (names identify people in
    /// the audit log, so one is never silently reused or overwritten).
    pub fn add_user(
        &self,
        name: &str,
        role: &str,
        groups: &[String],
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        self.add_user_scoped(name, role, groups, &[], password_hash)
    }

    /// [`Store::add_user`] with an owner scope: the user sees only cameras
    /// of these owners (and of its groups, when it has groups).
    pub fn add_user_scoped(
        &self,
        name: &str,
        role: &str,
        groups: &[String],
        owners: &[String],
        password_hash: &str,
    ) -> Result<UserRecord, StoreError> {
        if name.trim().is_empty() || role.is_empty() || password_hash.is_empty() {
            return Err(StoreError::Invalid(
                "user name, role and password hash must not be empty".into(),
            ));
        }
        let now = self.clock.now().millis();
        let groups_json = serde_json::to_string(groups)?;
        let owners_json = serde_json::to_string(owners)?;
        let (name, role, hash) = (name.to_owned(), role.to_owned(), password_hash.to_owned());
        self.exec("add_user", move |c| {
            let exists: Option<i64> = c
                .prepare_cached("SELECT id FROM user_account WHERE name = ?1")?
                .query_row([&name], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(StoreError::Invalid(format!(
                    "user {name:?} already exists: choose another name or remove it first"
                )));
            }
            c.prepare_cached(
                "INSERT INTO user_account
                   (name, role, groups_json, password_hash, created, updated, owners_json)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            )?
            .execute(params![name, role, groups_json, hash, now, owners_json])?;
            let id = c.last_insert_rowid();
            Ok(c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM user_account WHERE id = ?1"
            ))?
            .query_row([id], user_from_row)?)
        })
    }

    /// Replaces a user's password hash; false if there is no such user.
    pub fn set_user_password(&self, name: &str, password_hash: &str) -> Result<bool, StoreError> {
        let now = self.clock.now().millis();
        let (name, hash) = (name.to_owned(), password_hash.to_owned());
        self.exec("set_user_password", move |c| {
            let n = c
                .prepare_cached(
                    "UPDATE user_account SET password_hash = ?2, updated = ?3 WHERE name = ?1",
                )?
                .execute(params![name, hash, now])?;
            Ok(n > 0)
        })
    }

    /// Removes a user with their sessions and tokens; false if there was none.
    pub fn remove_user(&self, name: &str) -> Result<bool, StoreError> {
        let name = name.to_owned();
        self.exec("remove_user", move |c| {
            let n = c
                .prepare_cached("DELETE FROM user_account WHERE name = ?1")?
                .execute([name])?;
            Ok(n > 0)
        })
    }

    /// Every user, by name.
    pub fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM user_account ORDER BY name"
            ))?;
            let rows = st.query_map([], user_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// The user called `name`.
    pub fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM user_account WHERE name = ?1"
            ))?
            .query_row([name], user_from_row)
            .optional()?)
        })
    }

    /// The user with id `id`.
    pub fn user(&self, id: i64) -> Result<Option<UserRecord>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {USER_COLUMNS} FROM user_account WHERE id = ?1"
            ))?
            .query_row([id], user_from_row)
            .optional()?)
        })
    }

    /// How many users exist (0 means the first `kuzet serve` creates `admin`).
    pub fn user_count(&self) -> Result<u64, StoreError> {
        self.readers.with(|c| {
            Ok(c.query_row("SELECT count(*) FROM user_account", [], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
    }

    /// Records a new session for `user_id`, created now.
    pub fn insert_session(
        &self,
        id_hash: &str,
        user_id: i64,
        remote: Option<&str>,
    ) -> Result<SessionRecord, StoreError> {
        let now = self.clock.now().millis();
        let rec = SessionRecord {
            id_hash: id_hash.to_owned(),
            user_id,
            created: Timestamp::from_millis(now),
            last_seen: Timestamp::from_millis(now),
            remote: remote.map(str::to_owned),
        };
        let r = rec.clone();
        self.exec("insert_session", move |c| {
            c.prepare_cached(
                "INSERT INTO user_session (id_hash, user_id, created, last_seen, remote)
                 VALUES (?1, ?2, ?3, ?3, ?4)",
            )?
            .execute(params![r.id_hash, r.user_id, now, r.remote])?;
            Ok(())
        })?;
        Ok(rec)
    }

    /// The session whose id hashes to `id_hash`.
    pub fn session(&self, id_hash: &str) -> Result<Option<SessionRecord>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(
                "SELECT id_hash, user_id, created, last_seen, remote
                 FROM user_session WHERE id_hash = ?1",
            )?
            .query_row([id_hash], |r| {
                Ok(SessionRecord {
                    id_hash: r.get(0)?,
                    user_id: r.get(1)?,
                    created: Timestamp::from_millis(r.get(2)?),
                    last_seen: Timestamp::from_millis(r.get(3)?),
                    remote: r.get(4)?,
                })
            })
            .optional()?)
        })
    }

    /// Moves a session's idle clock to `now`.
    pub fn touch_session(&self, id_hash: &str, now: Timestamp) -> Result<(), StoreError> {
        let id_hash = id_hash.to_owned();
        self.exec("touch_session", move |c| {
            c.prepare_cached("UPDATE user_session SET last_seen = ?2 WHERE id_hash = ?1")?
                .execute(params![id_hash, now.millis()])?;
            Ok(())
        })
    }

    /// Ends a session (logout or expiry); false if it did not exist.
    pub fn delete_session(&self, id_hash: &str) -> Result<bool, StoreError> {
        let id_hash = id_hash.to_owned();
        self.exec("delete_session", move |c| {
            Ok(
                c.prepare_cached("DELETE FROM user_session WHERE id_hash = ?1")?
                    .execute([id_hash])?
                    > 0,
            )
        })
    }

    /// Deletes sessions created before `created_before` or idle since before
    /// `seen_before`; returns how many.
    pub fn delete_expired_sessions(
        &self,
        created_before: Timestamp,
        seen_before: Timestamp,
    ) -> Result<usize, StoreError> {
        self.exec("delete_expired_sessions", move |c| {
            Ok(
                c.prepare_cached("DELETE FROM user_session WHERE created < ?1 OR last_seen < ?2")?
                    .execute(params![created_before.millis(), seen_before.millis()])?,
            )
        })
    }

    /// Stores a new named token for `user_id`; an existing name is an error.
    pub fn add_token(
        &self,
        name: &str,
        user_id: i64,
        token_hash: &str,
    ) -> Result<TokenRecord, StoreError> {
        if name.trim().is_empty() {
            return Err(StoreError::Invalid("token name is empty".into()));
        }
        let now = self.clock.now().millis();
        let (name, hash) = (name.to_owned(), token_hash.to_owned());
        self.exec("add_token", move |c| {
            let exists: Option<i64> = c
                .prepare_cached("SELECT id FROM api_token WHERE name = ?1")?
                .query_row([&name], |r| r.get(0))
                .optional()?;
            if exists.is_some() {
                return Err(StoreError::Invalid(format!(
                    "a token named {name:?} already exists: choose another name"
                )));
            }
            c.prepare_cached(
                "INSERT INTO api_token (name, user_id, token_hash, created) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![name, user_id, hash, now])?;
            let id = c.last_insert_rowid();
            Ok(c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_token t JOIN user_account u ON u.id = t.user_id
                 WHERE t.id = ?1"
            ))?
            .query_row([id], token_from_row)?)
        })
    }

    /// The token whose value hashes to `token_hash`, revoked or not.
    pub fn token_by_hash(&self, token_hash: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.readers.with(|c| {
            Ok(c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_token t JOIN user_account u ON u.id = t.user_id
                 WHERE t.token_hash = ?1"
            ))?
            .query_row([token_hash], token_from_row)
            .optional()?)
        })
    }

    /// Every token, by name.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.readers.with(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {TOKEN_COLUMNS} FROM api_token t JOIN user_account u ON u.id = t.user_id
                 ORDER BY t.name"
            ))?;
            let rows = st.query_map([], token_from_row)?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Revokes the token called `name`; false if none is active under it.
    pub fn revoke_token(&self, name: &str) -> Result<bool, StoreError> {
        let now = self.clock.now().millis();
        let name = name.to_owned();
        self.exec("revoke_token", move |c| {
            Ok(c.prepare_cached(
                "UPDATE api_token SET revoked = ?2 WHERE name = ?1 AND revoked IS NULL",
            )?
            .execute(params![name, now])?
                > 0)
        })
    }

    /// Records that a token was used at `now` (callers throttle this).
    pub fn touch_token(&self, id: i64, now: Timestamp) -> Result<(), StoreError> {
        self.exec("touch_token", move |c| {
            c.prepare_cached("UPDATE api_token SET last_used = ?2 WHERE id = ?1")?
                .execute(params![id, now.millis()])?;
            Ok(())
        })
    }
}
