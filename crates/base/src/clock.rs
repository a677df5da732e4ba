//! Time, behind a trait so that time-based logic (dwell, reconnect backoff,
//! retention) can be tested deterministically on a simulated clock, as Moonfire
//! NVR does with its `Clocks` trait.

use serde::{Deserialize, Serialize};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, UTC. Milliseconds are fine-grained enough
/// for video at any practical frame rate and fit SQLite's INTEGER exactly.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
    pub fn secs_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
    pub fn plus(self, d: Duration) -> Self {
        Timestamp(self.0.saturating_add(d.as_millis() as i64))
    }
    /// Duration since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis((self.0 - earlier.0).max(0) as u64)
    }
    /// RFC 3339 rendering (UTC, millisecond precision) for humans and JSON APIs.
    pub fn to_rfc3339(self) -> String {
        let secs = self.0.div_euclid(1000);
        let ms = self.0.rem_euclid(1000);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{ms:03}Z",
            sod / 3600,
            (sod / 60) % 60,
            sod % 60
        )
    }
    /// Parses either integer milliseconds or an RFC 3339 UTC time
    /// (`2026-11-22T10:00:00Z`, fractional seconds and `+hh:mm` offsets allowed).
    pub fn parse(s: &str) -> Option<Timestamp> {
        let s = s.trim();
        if let Ok(ms) = s.parse::<i64>() {
            return Some(Timestamp(ms));
        }
        parse_rfc3339(s)
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

// Howard Hinnant's days-from-civil algorithms: a dependency (chrono/time) for two
// small pure functions is not worth its compile time in every crate.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn parse_rfc3339(s: &str) -> Option<Timestamp> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !(b[10] == b'T' || b[10] == b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut ms = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let digits = &frac[..n.min(3)];
        ms = digits.parse::<i64>().ok()? * 10i64.pow(3 - digits.len() as u32);
        rest = &frac[n..];
    }
    let offset_min = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let oh = rest.get(1..3)?.parse::<i64>().ok()?;
            let om = rest.get(4..6)?.parse::<i64>().ok()?;
            sign * (oh * 60 + om)
        }
    };
    let days = days_from_civil(y, mo as u32, d as u32);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_min * 60;
    Some(Timestamp(secs * 1000 + ms))
}

/// Source of time. Production uses [`SystemClock`]; tests use [`SimulatedClock`].
pub trait Clock: Send + Sync + 'static {
    /// Wall-clock time.
    fn now(&self) -> Timestamp;
    /// Blocks the calling thread for `d` (simulated clocks advance instead).
    fn sleep(&self, d: Duration);
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let d = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(d.as_millis() as i64)
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A clock that only moves when told to (or when something sleeps on it), so
/// tests of dwell times and backoff schedules take no real time and never flake.
#[derive(Clone, Debug)]
pub struct SimulatedClock {
    inner: Arc<parking_lot::Mutex<SimState>>,
}

#[derive(Debug)]
struct SimState {
    now: Timestamp,
    slept: Vec<Duration>,
}

impl SimulatedClock {
    pub fn new(start: Timestamp) -> Self {
        SimulatedClock {
            inner: Arc::new(parking_lot::Mutex::new(SimState {
                now: start,
                slept: Vec::new(),
            })),
        }
    }
    pub fn advance(&self, d: Duration) {
        let mut s = self.inner.lock();
        s.now = s.now.plus(d);
    }
    /// Every duration passed to [`Clock::sleep`], in order: lets tests assert a
    /// backoff schedule.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.inner.lock().slept.clone()
    }
}

impl Clock for SimulatedClock {
    fn now(&self) -> Timestamp {
        self.inner.lock().now
    }
    fn sleep(&self, d: Duration) {
        let mut s = self.inner.lock();
        s.slept.push(d);
        s.now = s.now.plus(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip() {
        for ms in [0i64, 1_700_000_000_123, 951_782_400_000, -86_400_000] {
            let t = Timestamp(ms);
            assert_eq!(Timestamp::parse(&t.to_rfc3339()), Some(t), "{}", t);
        }
        assert_eq!(
            Timestamp::parse("2026-11-22T10:00:00+05:00"),
            Timestamp::parse("2026-11-22T05:00:00Z")
        );
        assert_eq!(Timestamp::parse("1000"), Some(Timestamp(1000)));
        assert_eq!(Timestamp::parse("yesterday"), None);
        assert_eq!(Timestamp::parse("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn simulated_clock_records_sleeps() {
        let c = SimulatedClock::new(Timestamp(0));
        c.sleep(Duration::from_millis(250));
        c.advance(Duration::from_secs(1));
        assert_eq!(c.now(), Timestamp(1250));
        assert_eq!(c.sleeps(), vec![Duration::from_millis(250)]);
    }
}
