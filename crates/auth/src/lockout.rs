//! Back-off after failed logins, per user name and per remote address.
//!
//! Per name stops a guesser aiming at one account from many addresses; per
//! address stops one machine from trying many names. The lock doubles with
//! every further failure, up to a ceiling, so an honest typo costs seconds and
//! a guessing run costs hours. State is kept in memory: a restart forgets it,
//! which costs an attacker a restart they cannot cause from outside.

use base::Timestamp;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::time::Duration;

/// Thresholds and lock lengths.
#[derive(Clone, Copy, Debug)]
pub struct LockoutPolicy {
    /// Failures on one user name before it is locked.
    pub per_user: u32,
    /// Failures from one address (any names) before it is locked.
    pub per_address: u32,
    /// First lock; doubled for every failure beyond the threshold.
    pub base: Duration,
    /// Longest lock.
    pub max: Duration,
    /// A key with no failure for this long starts from zero again.
    pub forget_after: Duration,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            per_user: 5,
            per_address: 20,
            base: Duration::from_secs(30),
            max: Duration::from_secs(15 * 60),
            forget_after: Duration::from_secs(3600),
        }
    }
}

/// Most keys remembered per kind before old ones are dropped: bounds memory
/// under a flood of made-up names.
const MAX_KEYS: usize = 100_000;

#[derive(Clone, Copy, Debug)]
struct State {
    failures: u32,
    last: Timestamp,
    until: Option<Timestamp>,
}

struct Table<K> {
    map: Mutex<HashMap<K, State>>,
}

impl<K: Eq + Hash + Clone> Table<K> {
    fn new() -> Self {
        Table {
            map: Mutex::new(HashMap::new()),
        }
    }

    fn remaining(&self, k: &K, now: Timestamp) -> Option<Duration> {
        let m = self.map.lock();
        let until = m.get(k)?.until?;
        (until > now).then(|| until.since(now))
    }

    fn fail(&self, k: K, now: Timestamp, threshold: u32, p: &LockoutPolicy) {
        let mut m = self.map.lock();
        if m.len() >= MAX_KEYS {
            m.retain(|_, s| now.since(s.last) < p.forget_after);
        }
        let s = m.entry(k).or_insert(State {
            failures: 0,
            last: now,
            until: None,
        });
        if now.since(s.last) >= p.forget_after {
            s.failures = 0;
        }
        s.failures += 1;
        s.last = now;
        if s.failures >= threshold {
            let doublings = (s.failures - threshold).min(20);
            let lock = p.base.saturating_mul(1 << doublings).min(p.max);
            s.until = Some(now.plus(lock));
        }
    }

    fn clear(&self, k: &K) {
        self.map.lock().remove(k);
    }
}

/// The failure counters.
pub struct Lockouts {
    policy: LockoutPolicy,
    users: Table<String>,
    addrs: Table<IpAddr>,
}

impl Lockouts {
    pub fn new(policy: LockoutPolicy) -> Self {
        Lockouts {
            policy,
            users: Table::new(),
            addrs: Table::new(),
        }
    }

    /// How long `name` or `remote` stays locked, if either is.
    pub fn locked(&self, name: &str, remote: Option<IpAddr>, now: Timestamp) -> Option<Duration> {
        let u = self.users.remaining(&name.to_owned(), now);
        let a = remote.and_then(|r| self.addrs.remaining(&r, now));
        u.max(a)
    }

    /// Counts a failed login.
    pub fn failed(&self, name: &str, remote: Option<IpAddr>, now: Timestamp) {
        let p = &self.policy;
        self.users.fail(name.to_owned(), now, p.per_user, p);
        if let Some(r) = remote {
            self.addrs.fail(r, now, p.per_address, p);
        }
    }

    /// A correct password clears the name's count. The address's count stays:
    /// otherwise one valid account would let its owner guess others freely.
    pub fn succeeded(&self, name: &str) {
        self.users.clear(&name.to_owned());
    }
}

#[cfg(test)]
mod tests {
    use crate::*;
    use base::SimulatedClock;
    use std::sync::Arc;

    fn setup() -> (tempfile::TempDir, Arc<SimulatedClock>, Auth) {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(
            1_700_000_000_000,
        )));
        let store = Arc::new(Store::open_with_clock(dir.path(), clock.clone()).unwrap());
        let a = Auth::new(store, SessionPolicy::default(), LockoutPolicy::default());
        a.add_user("ann", Role::Viewer, &[], "right-password")
            .unwrap();
        a.add_user("bob", Role::Viewer, &[], "right-password")
            .unwrap();
        (dir, clock, a)
    }

    fn retry_after(r: Result<(User, String), LoginError>) -> Option<Duration> {
        match r {
            Err(LoginError::LockedOut { retry_after }) => Some(retry_after),
            _ => None,
        }
    }

    #[test]
    fn user_lock_doubles_and_expires_on_the_clock() {
        let (_d, clock, a) = setup();
        for _ in 0..4 {
            assert!(matches!(
                a.login("ann", "guess", None),
                Err(LoginError::BadCredentials)
            ));
        }
        // The fifth failure locks for 30 s; during the lock even the right
        // password is refused, and other users are unaffected.
        assert!(matches!(
            a.login("ann", "guess", None),
            Err(LoginError::BadCredentials)
        ));
        let left = retry_after(a.login("ann", "right-password", None)).unwrap();
        assert_eq!(left, Duration::from_secs(30));
        assert!(a.login("bob", "right-password", None).is_ok());
        clock.advance(Duration::from_secs(29));
        assert!(retry_after(a.login("ann", "right-password", None)).is_some());
        clock.advance(Duration::from_secs(1));
        // Lock over: one more failure locks again, for twice as long.
        assert!(matches!(
            a.login("ann", "guess", None),
            Err(LoginError::BadCredentials)
        ));
        assert_eq!(
            retry_after(a.login("ann", "right-password", None)),
            Some(Duration::from_secs(60))
        );
        // Many more failures: capped at 15 minutes.
        for _ in 0..12 {
            clock.advance(Duration::from_secs(15 * 60));
            let _ = a.login("ann", "guess", None);
        }
        assert_eq!(
            retry_after(a.login("ann", "right-password", None)),
            Some(Duration::from_secs(15 * 60))
        );
        // Success clears the count.
        clock.advance(Duration::from_secs(15 * 60));
        assert!(a.login("ann", "right-password", None).is_ok());
        assert!(matches!(
            a.login("ann", "guess", None),
            Err(LoginError::BadCredentials)
        ));
    }

    #[test]
    fn address_lock_covers_every_name() {
        let (_d, clock, a) = setup();
        let ip: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "203.0.113.8".parse().unwrap();
        // 20 failures spread over many names (none reaches its own threshold).
        for i in 0..20 {
            let _ = a.login(&format!("u{}", i % 5), "guess", Some(ip));
            clock.advance(Duration::from_secs(1));
        }
        assert!(retry_after(a.login("bob", "right-password", Some(ip))).is_some());
        assert!(a.login("bob", "right-password", Some(other)).is_ok());
        clock.advance(Duration::from_secs(30));
        assert!(a.login("bob", "right-password", Some(ip)).is_ok());
    }

    #[test]
    fn failures_are_forgotten_after_an_hour() {
        let (_d, clock, a) = setup();
        for _ in 0..4 {
            let _ = a.login("ann", "guess", None);
        }
        clock.advance(Duration::from_secs(3600));
        let _ = a.login("ann", "guess", None);
        assert!(a.login("ann", "right-password", None).is_ok());
    }
}
