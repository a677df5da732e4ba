//! Frame-rate reduction by presentation time.

/// Decides which decoded frames to analyse so that a source is analysed at a
/// target rate whatever its native rate.
///
/// It works on presentation timestamps rather than frame counts, so it behaves
/// the same for files, for live streams with jittery or variable frame rates
/// and after dropped packets. Kept frames follow a schedule of slots spaced
/// `1/target` apart rather than "1/target after the last kept frame": with the
/// latter a 29.97 fps stream sampled at 5 fps would keep every 7th frame
/// (4.3 fps), because 6 frames fall 0.2 ms short of the interval.
#[derive(Clone, Debug)]
pub struct Sampler {
    interval_us: Option<i64>,
    next_due_us: Option<i64>,
}

/// Timestamps are rounded to milliseconds by some containers; a frame this
/// close to its slot still takes it.
const TOLERANCE_US: i64 = 1_000;

impl Sampler {
    /// `None`, or a non-positive or non-finite rate, keeps every frame.
    pub fn new(target_fps: Option<f64>) -> Self {
        let interval_us = target_fps
            .filter(|f| f.is_finite() && *f > 0.0)
            .map(|f| ((1e6 / f).round() as i64).max(1));
        Sampler {
            interval_us,
            next_due_us: None,
        }
    }

    /// Whether the frame presented at `pts_us` (microseconds, any origin) is kept.
    pub fn keep(&mut self, pts_us: i64) -> bool {
        let Some(interval) = self.interval_us else {
            return true;
        };
        match self.next_due_us {
            // Frames after the last kept one lie within one interval of the
            // slot; anything earlier means the timestamps went backwards (a
            // camera rebooted): restart the schedule from this frame.
            Some(due) if pts_us + 2 * interval < due => {
                self.next_due_us = Some(pts_us + interval);
                true
            }
            Some(due) if pts_us + TOLERANCE_US < due => false,
            Some(due) => {
                // After a gap (lost packets, a paused stream) restart from this
                // frame instead of bursting through the missed slots.
                let next = due + interval;
                self.next_due_us = Some(if next <= pts_us {
                    pts_us + interval
                } else {
                    next
                });
                true
            }
            None => {
                self.next_due_us = Some(pts_us + interval);
                true
            }
        }
    }

    /// Forgets the schedule, e.g. when a new stream starts after a reconnect.
    pub fn reset(&mut self) {
        self.next_due_us = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(target: Option<f64>, native: f64, n: usize) -> usize {
        let mut s = Sampler::new(target);
        (0..n)
            .filter(|&i| s.keep((i as f64 * 1e6 / native).round() as i64))
            .count()
    }

    #[test]
    fn halves_ten_fps() {
        assert_eq!(count(Some(5.0), 10.0, 795), 398);
    }

    #[test]
    fn ntsc_rate_sampled_to_five_gives_five() {
        // 10 s of 29.97 fps → 50 frames at 5 fps, not 43.
        let n = count(Some(5.0), 30000.0 / 1001.0, 300);
        assert!((50..=51).contains(&n), "{n}");
    }

    #[test]
    fn none_or_faster_target_keeps_everything() {
        assert_eq!(count(None, 25.0, 100), 100);
        assert_eq!(count(Some(50.0), 25.0, 100), 100);
        assert_eq!(count(Some(0.0), 25.0, 100), 100);
        assert_eq!(count(Some(f64::NAN), 25.0, 100), 100);
    }

    #[test]
    fn gaps_and_jumps_restart_the_schedule() {
        let mut s = Sampler::new(Some(1.0));
        assert!(s.keep(0));
        assert!(!s.keep(500_000));
        // A 10 s gap: keep the next frame, then one a second later, no burst.
        assert!(s.keep(10_000_000));
        assert!(!s.keep(10_100_000));
        assert!(s.keep(11_000_000));
        // Timestamps jump back (camera restarted): resume promptly.
        assert!(s.keep(0));
        assert!(!s.keep(400_000));
        assert!(s.keep(1_000_000));
    }
}
