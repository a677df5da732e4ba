//! Who is calling: users and roles, argon2id passwords, web sessions, API
//! tokens, and back-off after failed logins.
//!
//! The store keeps the records (only hashes of secrets); this crate decides
//! what they mean. Which role may do what is the server's route policy, not
//! this crate's: here a role is only a name with a fixed meaning.
//!
//! Time (session expiry, lockouts) comes from the store's [`base::Clock`], so
//! tests on a simulated clock exercise expiry and back-off without sleeping.

mod lockout;

pub use lockout::{LockoutPolicy, Lockouts};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base::Timestamp;
use base64::Engine;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use store::{Store, StoreError, UserRecord};

/// File in the data directory that receives the first admin's password.
pub const INITIAL_PASSWORD_FILE: &str = "initial-admin-password";

/// Name of the user created on first start.
pub const INITIAL_ADMIN: &str = "admin";

/// Shortest password accepted: argon2id slows guessing, it cannot make a
/// three-letter password safe.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "unknown role {0:?}: use one of viewer, operator, investigator, supervisor, auditor, admin"
    )]
    UnknownRole(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// What a user is for. Roles are not a ladder: an auditor reads the audit log
/// but not the cameras, an admin manages users but cannot run face searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Watches cameras and events.
    Viewer,
    /// A viewer who also operates the system (acknowledges, dispatches).
    Operator,
    /// Law-enforcement investigator: may use biometric functions.
    Investigator,
    /// Supervises investigators: biometric functions too.
    Supervisor,
    /// Oversight: reads the audit log, nothing else.
    Auditor,
    /// Manages users and tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 6] = [
        Role::Viewer,
        Role::Operator,
        Role::Investigator,
        Role::Supervisor,
        Role::Auditor,
        Role::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Investigator => "investigator",
            Role::Supervisor => "supervisor",
            Role::Auditor => "auditor",
            Role::Admin => "admin",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Role {
    type Err = AuthError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| AuthError::UnknownRole(s.to_owned()))
    }
}

/// An authenticated caller, as handlers see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// Camera groups this user may see; empty = every camera.
    pub groups: Vec<String>,
    /// Camera owners whose cameras this user may see; empty = any owner's.
    pub owners: Vec<String>,
    /// How the request proved who it is.
    pub via: Via,
}

/// The credential a request carried.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "kind", content = "name")]
pub enum Via {
    Session,
    /// An API token, by its name.
    Token(String),
}

impl User {
    /// How the audit log names this caller: the user, and the token if one
    /// was used (a leaked token must be traceable to itself).
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session => self.name.clone(),
            Via::Token(t) => format!("{}/token:{t}", self.name),
        }
    }

    /// Whether the user's scopes admit a camera that belongs to
    /// `camera_groups` and to `owner` (`None`: the organisation's own). Both
    /// scopes must admit it: a user limited to a shopping centre's cameras
    /// does not see the police's, whatever their groups.
    pub fn may_see(&self, camera_groups: &[String], owner: Option<&str>) -> bool {
        let groups =
            self.groups.is_empty() || self.groups.iter().any(|g| camera_groups.contains(g));
        let owners =
            self.owners.is_empty() || owner.is_some_and(|o| self.owners.iter().any(|x| x == o));
        groups && owners
    }

    /// Whether the user sees every camera whatever its groups and owner.
    pub fn unscoped(&self) -> bool {
        self.groups.is_empty() && self.owners.is_empty()
    }

    fn from_record(r: UserRecord, via: Via) -> Result<User, AuthError> {
        Ok(User {
            id: r.id,
            role: r.role.parse()?,
            name: r.name,
            groups: r.groups,
            owners: r.owners,
            via,
        })
    }
}

/// Session lifetimes.
#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    /// A session unused for this long ends.
    pub idle: Duration,
    /// A session ends this long after login, however busy.
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        SessionPolicy {
            idle: Duration::from_secs(30 * 60),
            absolute: Duration::from_secs(12 * 3600),
        }
    }
}

/// How often a session's or token's "last used" time is written: each write
/// goes through the store's single writer, and a per-request write would make
/// every read a write.
const TOUCH_EVERY: Duration = Duration::from_secs(60);

/// Why a login did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("wrong user name or password")]
    BadCredentials,
    #[error("too many failed logins; try again in {} s", retry_after.as_secs().max(1))]
    LockedOut { retry_after: Duration },
    #[error(transparent)]
    Auth(#[from] AuthError),
}

/// Authentication service; share it with `Arc`.
pub struct Auth {
    store: Arc<Store>,
    sessions: SessionPolicy,
    lockouts: Lockouts,
}

impl Auth {
    pub fn new(store: Arc<Store>, sessions: SessionPolicy, lockout: LockoutPolicy) -> Auth {
        Auth {
            lockouts: Lockouts::new(lockout),
            store,
            sessions,
        }
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    pub fn session_policy(&self) -> SessionPolicy {
        self.sessions
    }

    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }

    /// Checks a password and opens a session. Returns the user and the
    /// session id (for the cookie; only its hash is stored).
    ///
    /// Locked-out names and addresses are refused before the password is
    /// looked at, so guessing during a lockout learns nothing. Unknown names
    /// cost one hash verification like known ones, so timing does not tell
    /// which names exist.
    pub fn login(
        &self,
        name: &str,
        password: &str,
        remote: Option<IpAddr>,
    ) -> Result<(User, String), LoginError> {
        let now = self.now();
        if let Some(retry_after) = self.lockouts.locked(name, remote, now) {
            return Err(LoginError::LockedOut { retry_after });
        }
        let rec = self.store.user_by_name(name).map_err(AuthError::from)?;
        let ok = match &rec {
            Some(r) => verify_password(&r.password_hash, password),
            None => {
                verify_password(dummy_hash(), password);
                false
            }
        };
        let rec = match (ok, rec) {
            (true, Some(r)) => r,
            _ => {
                self.lockouts.failed(name, remote, now);
                return Err(LoginError::BadCredentials);
            }
        };
        self.lockouts.succeeded(name);
        let user = User::from_record(rec, Via::Session)?;
        let id = new_secret();
        self.store
            .insert_session(
                &secret_hash(&id),
                user.id,
                remote.map(|r| r.to_string()).as_deref(),
            )
            .map_err(AuthError::from)?;
        Ok((user, id))
    }

    /// The user of a live session, or `None` for an unknown or expired one
    /// (expired sessions are deleted on sight).
    pub fn session(&self, session_id: &str) -> Result<Option<User>, AuthError> {
        let hash = secret_hash(session_id);
        let Some(s) = self.store.session(&hash)? else {
            return Ok(None);
        };
        let now = self.now();
        if now.since(s.created) >= self.sessions.absolute
            || now.since(s.last_seen) >= self.sessions.idle
        {
            self.store.delete_session(&hash)?;
            return Ok(None);
        }
        let Some(rec) = self.store.user(s.user_id)? else {
            return Ok(None);
        };
        if now.since(s.last_seen) >= TOUCH_EVERY {
            self.store.touch_session(&hash, now)?;
        }
        Ok(Some(User::from_record(rec, Via::Session)?))
    }

    /// Ends a session; false if it did not exist.
    pub fn logout(&self, session_id: &str) -> Result<bool, AuthError> {
        Ok(self.store.delete_session(&secret_hash(session_id))?)
    }

    /// Deletes every expired session (housekeeping; expired sessions are
    /// refused anyway).
    pub fn purge_sessions(&self) -> Result<usize, AuthError> {
        let now = self.now();
        let before = |d: Duration| Timestamp::from_millis(now.millis() - d.as_millis() as i64);
        Ok(self
            .store
            .delete_expired_sessions(before(self.sessions.absolute), before(self.sessions.idle))?)
    }

    /// The user behind a bearer token, or `None` for an unknown or revoked one.
    pub fn token(&self, token: &str) -> Result<Option<User>, AuthError> {
        let Some(t) = self.store.token_by_hash(&secret_hash(token))? else {
            return Ok(None);
        };
        if t.revoked.is_some() {
            return Ok(None);
        }
        let Some(rec) = self.store.user(t.user_id)? else {
            return Ok(None);
        };
        let now = self.now();
        if t.last_used.is_none_or(|l| now.since(l) >= TOUCH_EVERY) {
            self.store.touch_token(t.id, now)?;
        }
        Ok(Some(User::from_record(rec, Via::Token(t.name))?))
    }

    /// Creates a named token for `user` and returns its value, which is shown
    /// once and never stored.
    pub fn create_token(&self, name: &str, user: &str) -> Result<String, AuthError> {
        check_name("token name", name)?;
        let rec = self.store.user_by_name(user)?.ok_or_else(|| {
            AuthError::Invalid(format!("no user named {user:?}: see `kuzet user ls`"))
        })?;
        let token = format!("kzt_{}", new_secret());
        self.store.add_token(name, rec.id, &secret_hash(&token))?;
        Ok(token)
    }

    /// Adds a user after checking the name, role and password.
    pub fn add_user(
        &self,
        name: &str,
        role: Role,
        groups: &[String],
        password: &str,
    ) -> Result<UserRecord, AuthError> {
        self.add_user_scoped(name, role, groups, &[], password)
    }

    /// [`Auth::add_user`] limited to the cameras of some owners too.
    pub fn add_user_scoped(
        &self,
        name: &str,
        role: Role,
        groups: &[String],
        owners: &[String],
        password: &str,
    ) -> Result<UserRecord, AuthError> {
        check_name("user name", name)?;
        for g in groups {
            check_name("camera group", g)?;
        }
        for o in owners {
            check_name("camera owner", o)?;
        }
        check_password(password)?;
        Ok(self.store.add_user_scoped(
            name,
            role.as_str(),
            groups,
            owners,
            &hash_password(password)?,
        )?)
    }

    /// On the very first start (no users, and no password file left from an
    /// earlier one) creates [`INITIAL_ADMIN`] with a random password written
    /// to `<data_dir>/initial-admin-password` (mode 0600). Returns the file's
    /// path when it did. There is no default password to forget to change.
    pub fn ensure_initial_admin(&self, data_dir: &Path) -> Result<Option<PathBuf>, AuthError> {
        if self.store.user_count()? > 0 {
            return Ok(None);
        }
        let path = data_dir.join(INITIAL_PASSWORD_FILE);
        if path.exists() {
            tracing::warn!(
                file = %path.display(),
                "no users exist but an initial password was already issued once; \
                 create a user with `kuzet user add NAME --role admin`"
            );
            return Ok(None);
        }
        let password = generate_password();
        write_private(&path, format!("{password}\n").as_bytes())?;
        if let Err(e) = self.add_user(INITIAL_ADMIN, Role::Admin, &[], &password) {
            let _ = std::fs::remove_file(&path);
            return Err(e);
        }
        Ok(Some(path))
    }
}

fn check_name(what: &str, s: &str) -> Result<(), AuthError> {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(AuthError::Invalid(format!(
            "{what} {s:?} is not allowed: use 1-64 letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

/// Rejects passwords too short to resist guessing.
pub fn check_password(password: &str) -> Result<(), AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::Invalid(format!(
            "password too short: use at least {MIN_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// Argon2id (the crate's defaults: 19 MiB, 2 passes, 1 lane, as OWASP
/// recommends) with a random salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|e| AuthError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Whether `password` matches a PHC string; a malformed hash never matches.
pub fn verify_password(phc: &str, password: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

fn dummy_hash() -> &'static str {
    static H: OnceLock<String> = OnceLock::new();
    H.get_or_init(|| hash_password("kuzet-no-such-user").unwrap_or_default())
}

/// 256 random bits, URL-safe base64 (a session id or the body of a token).
pub fn new_secret() -> String {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// What the store keeps of a secret. A plain SHA-256 suffices: the secret
/// has 256 random bits, so there is nothing to brute-force.
pub fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// A random password of 24 characters from an unambiguous alphabet (~137 bits).
pub fn generate_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut rng = rand::rng();
    (0..24)
        .map(|_| ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()] as char)
        .collect()
}

/// Writes a file only its owner can read, refusing to overwrite one.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AuthError> {
    use std::io::Write;
    let io = |source| AuthError::Io {
        path: path.to_owned(),
        source,
    };
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let mut f = o.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)?;
    f.sync_all().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::{Clock, SimulatedClock};

    fn auth() -> (tempfile::TempDir, Arc<SimulatedClock>, Auth) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(
            1_700_000_000_000,
        )));
        let store = Arc::new(Store::open_with_clock(dir.path(), clock.clone()).unwrap());
        let a = Auth::new(store, SessionPolicy::default(), LockoutPolicy::default());
        (dir, clock, a)
    }

    #[test]
    fn roles_parse_and_reject() {
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
        let e = "root".parse::<Role>().unwrap_err().to_string();
        assert!(e.contains("viewer") && e.contains("admin"), "{e}");
    }

    #[test]
    fn password_hash_is_argon2id_and_salted() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b);
        assert!(verify_password(&a, "correct horse"));
        assert!(!verify_password(&a, "correct hors"));
        assert!(!verify_password("not a hash", "x"));
    }

    #[test]
    fn login_session_idle_and_absolute_expiry() {
        let (_d, clock, a) = auth();
        a.add_user("ann", Role::Viewer, &[], "s3cret-pass").unwrap();
        assert!(matches!(
            a.login("ann", "wrong-pass", None),
            Err(LoginError::BadCredentials)
        ));
        let (u, sid) = a.login("ann", "s3cret-pass", None).unwrap();
        assert_eq!((u.name.as_str(), u.role), ("ann", Role::Viewer));
        // The store holds only the hash.
        assert!(a.store().session(&sid).unwrap().is_none());
        assert!(a.session(&sid).unwrap().is_some());
        // Used every 20 minutes it survives idle expiry (30 min)...
        for _ in 0..40 {
            clock.advance(Duration::from_secs(20 * 60));
            if clock.now().since(Timestamp::from_millis(1_700_000_000_000))
                >= Duration::from_secs(12 * 3600)
            {
                break;
            }
            assert!(a.session(&sid).unwrap().is_some());
        }
        // ...until the absolute limit (12 h).
        assert!(a.session(&sid).unwrap().is_none());
        // A fresh session left alone for 31 minutes ends.
        let (_, sid) = a.login("ann", "s3cret-pass", None).unwrap();
        clock.advance(Duration::from_secs(31 * 60));
        assert!(a.session(&sid).unwrap().is_none());
        // Logout ends a session at once.
        let (_, sid) = a.login("ann", "s3cret-pass", None).unwrap();
        assert!(a.logout(&sid).unwrap());
        assert!(a.session(&sid).unwrap().is_none());
    }

    #[test]
    fn tokens_authenticate_until_revoked() {
        let (_d, _c, a) = auth();
        a.add_user("scraper", Role::Viewer, &[], "long-enough")
            .unwrap();
        let t = a.create_token("prom", "scraper").unwrap();
        let u = a.token(&t).unwrap().unwrap();
        assert_eq!(u.via, Via::Token("prom".into()));
        assert_eq!(u.actor(), "scraper/token:prom");
        assert!(a.token("kzt_nope").unwrap().is_none());
        assert!(a.create_token("prom", "scraper").is_err());
        assert!(a.store().revoke_token("prom").unwrap());
        assert!(a.token(&t).unwrap().is_none());
    }

    #[test]
    fn bad_names_and_short_passwords_are_refused() {
        let (_d, _c, a) = auth();
        let e = a
            .add_user("a b", Role::Viewer, &[], "long-enough")
            .unwrap_err();
        assert!(e.to_string().contains("not allowed"), "{e}");
        let e = a.add_user("ann", Role::Viewer, &[], "short").unwrap_err();
        assert!(e.to_string().contains("at least 8"), "{e}");
        a.add_user("ann", Role::Viewer, &[], "long-enough").unwrap();
        let e = a
            .add_user("ann", Role::Admin, &[], "long-enough")
            .unwrap_err();
        assert!(e.to_string().contains("already exists"), "{e}");
    }

    #[test]
    fn initial_admin_once_with_private_file() {
        let (d, _c, a) = auth();
        let p = a.ensure_initial_admin(d.path()).unwrap().unwrap();
        let pw = std::fs::read_to_string(&p).unwrap();
        assert_eq!(pw.trim().len(), 24);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (u, _) = a.login(INITIAL_ADMIN, pw.trim(), None).unwrap();
        assert_eq!(u.role, Role::Admin);
        // Never again: not with users, and not after they are all removed.
        assert!(a.ensure_initial_admin(d.path()).unwrap().is_none());
        a.store().remove_user(INITIAL_ADMIN).unwrap();
        assert!(a.ensure_initial_admin(d.path()).unwrap().is_none());
        assert_eq!(a.store().user_count().unwrap(), 0);
    }

    #[test]
    fn camera_group_and_owner_scope() {
        let u = |groups: &[&str], owners: &[&str]| User {
            id: 1,
            name: "x".into(),
            role: Role::Viewer,
            groups: groups.iter().map(|s| s.to_string()).collect(),
            owners: owners.iter().map(|s| s.to_string()).collect(),
            via: Via::Session,
        };
        let cam = vec!["north".to_string(), "stadium".to_string()];
        assert!(u(&[], &[]).may_see(&cam, None));
        assert!(u(&[], &[]).unscoped());
        assert!(u(&["stadium"], &[]).may_see(&cam, Some("mall")));
        assert!(!u(&["south"], &[]).may_see(&cam, None));
        assert!(!u(&["south"], &[]).may_see(&[], None));
        // Owner scope: only that owner's cameras, never the organisation's own.
        let guard = u(&[], &["mall"]);
        assert!(!guard.unscoped());
        assert!(guard.may_see(&cam, Some("mall")));
        assert!(!guard.may_see(&cam, Some("bank")));
        assert!(!guard.may_see(&cam, None));
        // Both scopes must admit the camera.
        assert!(!u(&["south"], &["mall"]).may_see(&cam, Some("mall")));
        assert!(u(&["north"], &["mall"]).may_see(&cam, Some("mall")));
    }

    #[test]
    fn role_names_agree_with_the_config_crate() {
        let ours: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(ours, config::owners::ROLE_NAMES.to_vec());
    }

    #[test]
    fn owner_scope_is_stored() {
        let (_d, _clock, a) = auth();
        let pw = "correct horse battery";
        a.add_user_scoped("guard", Role::Operator, &[], &["mall".into()], pw)
            .unwrap();
        let (u, _) = a.login("guard", pw, None).unwrap();
        assert_eq!(u.owners, vec!["mall".to_string()]);
        assert!(a
            .add_user_scoped("g2", Role::Operator, &[], &["bad owner!".into()], pw)
            .is_err());
    }
}
