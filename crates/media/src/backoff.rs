//! Reconnect delays.

use rand::Rng;
use std::time::Duration;

/// Exponential backoff with jitter for reconnecting to cameras.
///
/// Jitter keeps a site's cameras from reconnecting in lock-step after a
/// switch or NVR reboot; the cap keeps a camera that comes back from waiting
/// long to be noticed. The rng is a parameter so schedules are reproducible.
#[derive(Clone, Debug, PartialEq)]
pub struct Backoff {
    /// Delay before the first retry.
    pub initial: Duration,
    /// No delay exceeds this, jitter included.
    pub max: Duration,
    /// Growth factor per consecutive failure (≥ 1).
    pub multiplier: f64,
    /// Relative jitter in 0..=1: a delay is spread uniformly over
    /// `base × (1 ± jitter)`.
    pub jitter: f64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_millis(500),
            max: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// Delay before retry number `attempt`, counted from 0 for the first retry
    /// after a success.
    pub fn delay<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let max = self.max.as_secs_f64();
        let mult = if self.multiplier.is_finite() {
            self.multiplier.max(1.0)
        } else {
            1.0
        };
        let base = (self.initial.as_secs_f64() * mult.powi(attempt.min(1000) as i32)).min(max);
        let jitter = if self.jitter.is_finite() {
            self.jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let factor = if jitter > 0.0 {
            rng.random_range(1.0 - jitter..=1.0 + jitter)
        } else {
            1.0
        };
        Duration::from_secs_f64((base * factor).clamp(0.0, max))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn b() -> Backoff {
        Backoff {
            initial: Duration::from_millis(100),
            max: Duration::from_secs(5),
            multiplier: 2.0,
            jitter: 0.25,
        }
    }

    #[test]
    fn grows_and_is_capped() {
        let nojit = Backoff { jitter: 0.0, ..b() };
        let mut rng = StdRng::seed_from_u64(1);
        let d: Vec<u64> = (0..10)
            .map(|a| nojit.delay(a, &mut rng).as_millis() as u64)
            .collect();
        assert_eq!(d, [100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 5000]);
        assert_eq!(nojit.delay(u32::MAX, &mut rng), Duration::from_secs(5));
    }

    #[test]
    fn jitter_stays_in_range_and_never_exceeds_max() {
        let b = b();
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 0..20 {
            let base = (100.0 * 2f64.powi(attempt as i32)).min(5000.0);
            for _ in 0..50 {
                let ms = b.delay(attempt, &mut rng).as_secs_f64() * 1000.0;
                assert!(ms >= base * 0.75 - 1e-6, "{attempt}: {ms} < {base}");
                assert!(ms <= (base * 1.25).min(5000.0) + 1e-6, "{attempt}: {ms}");
            }
        }
        // Jitter actually varies the delay.
        let mut rng = StdRng::seed_from_u64(7);
        let d: Vec<_> = (0..10).map(|_| b.delay(2, &mut rng)).collect();
        assert!(d.iter().any(|x| *x != d[0]));
    }

    #[test]
    fn deterministic_with_seed() {
        let b = b();
        let run = |seed| {
            let mut rng = StdRng::seed_from_u64(seed);
            (0..8).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(42), run(42));
        assert_ne!(run(42), run(43));
    }

    #[test]
    fn silly_settings_do_not_panic() {
        let b = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(2),
            multiplier: f64::NAN,
            jitter: 7.0,
        };
        let mut rng = StdRng::seed_from_u64(0);
        for a in 0..5 {
            assert!(b.delay(a, &mut rng) <= Duration::from_secs(2));
        }
    }
}
