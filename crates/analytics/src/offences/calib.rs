//! Camera calibration for measurements in metres: a ground-plane homography
//! from four surveyed points, or two lines across the road a known distance
//! apart, plus the small robust-statistics helpers speed estimation needs.
//!
//! Everything here works in frame pixels (the engine converts the normalised
//! config once) and in `f64`: homography entries span many orders of
//! magnitude and `f32` loses metres at the far end of a long road.

use base::geom::{segments_intersect, side};
use base::Point;
use serde::Serialize;

/// A 3×3 plane-to-plane projective map, row-major, `h[8] == 1`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The map taking each `src[i]` to `dst[i]`, solved exactly from four
    /// correspondences (8 unknowns, `h33 = 1`). `None` when the points are
    /// degenerate (three collinear) or not finite.
    pub fn from_points(src: &[[f64; 2]; 4], dst: &[[f64; 2]; 4]) -> Option<Homography> {
        let mut a = [[0.0f64; 9]; 8];
        for i in 0..4 {
            let [x, y] = src[i];
            let [u, v] = dst[i];
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let sol = solve8(a)?;
        let h = Homography([
            sol[0], sol[1], sol[2], sol[3], sol[4], sol[5], sol[6], sol[7], 1.0,
        ]);
        // Reject near-singular solutions: each source point must map back to its
        // destination (catches collinear input that elimination let through).
        let scale = dst
            .iter()
            .map(|p| p[0].abs().max(p[1].abs()))
            .fold(1.0f64, f64::max);
        for i in 0..4 {
            let q = h.apply_f64(src[i])?;
            if (q[0] - dst[i][0]).hypot(q[1] - dst[i][1]) > 1e-6 * scale {
                return None;
            }
        }
        Some(h)
    }

    /// Maps an image point; `None` at or beyond the horizon (the plane's
    /// vanishing line), where a ground position does not exist.
    pub fn apply(&self, p: Point) -> Option<[f64; 2]> {
        self.apply_f64([p.x as f64, p.y as f64])
    }

    fn apply_f64(&self, [x, y]: [f64; 2]) -> Option<[f64; 2]> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        if !w.is_finite() || w.abs() < 1e-12 {
            return None;
        }
        let u = (h[0] * x + h[1] * y + h[2]) / w;
        let v = (h[3] * x + h[4] * y + h[5]) / w;
        (u.is_finite() && v.is_finite()).then_some([u, v])
    }
}

/// Gaussian elimination with partial pivoting on an 8×8 augmented system.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    if a.iter().flatten().any(|v| !v.is_finite()) {
        return None;
    }
    for col in 0..8 {
        let piv = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
        if a[piv][col].abs() < 1e-12 {
            return None;
        }
        a.swap(col, piv);
        let pivot = a[col];
        for (row, r) in a.iter_mut().enumerate() {
            let f = r[col] / pivot[col];
            if row != col && f != 0.0 {
                for (v, p) in r.iter_mut().zip(pivot.iter()).skip(col) {
                    *v -= f * p;
                }
            }
        }
    }
    let mut x = [0.0; 8];
    for (i, (xi, r)) in x.iter_mut().zip(a.iter()).enumerate() {
        *xi = r[8] / r[i];
        if !xi.is_finite() {
            return None;
        }
    }
    Some(x)
}

/// Two lines across the road `distance_m` apart (pixels).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct TwoLines {
    pub first: [Point; 2],
    pub second: [Point; 2],
    pub distance_m: f64,
}

impl TwoLines {
    /// Speed in km/h of a vehicle crossing the two lines `dt` seconds apart
    /// (either order); `None` for non-positive times.
    pub fn speed_kmh(&self, dt_seconds: f64) -> Option<f64> {
        (dt_seconds > 1e-3).then(|| self.distance_m / dt_seconds * 3.6)
    }
}

/// When the segment `p0@t0 → p1@t1` crosses the line `a-b`, the interpolated
/// crossing time (seconds, same base as `t0`/`t1`) assuming constant speed
/// between the two observations, and the sign of `p0`'s side. `None` when it
/// does not cross.
pub fn crossing_time(p0: Point, t0: f64, p1: Point, t1: f64, a: Point, b: Point) -> Option<f64> {
    if !segments_intersect(p0, p1, a, b) {
        return None;
    }
    let s0 = side(a, b, p0).abs() as f64;
    let s1 = side(a, b, p1).abs() as f64;
    let f = if s0 + s1 > 0.0 { s0 / (s0 + s1) } else { 0.5 };
    Some(t0 + (t1 - t0) * f)
}

/// Theil–Sen slope of `y` over `t`: the median of all pairwise slopes, which
/// ignores up to ~29% of outliers (a box that jumps for a frame when a
/// vehicle is partly occluded) where a least-squares fit would not.
pub fn theil_sen_slope(samples: &[(f64, f64)]) -> Option<f64> {
    let mut slopes = Vec::with_capacity(samples.len() * samples.len() / 2);
    for (i, a) in samples.iter().enumerate() {
        for b in &samples[i + 1..] {
            let dt = b.0 - a.0;
            if dt.abs() > 1e-6 {
                let s = (b.1 - a.1) / dt;
                if s.is_finite() {
                    slopes.push(s);
                }
            }
        }
    }
    median(&mut slopes)
}

pub(crate) fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_recovers_a_known_map() {
        // A known projective map, then its four-point reconstruction.
        let h = Homography([1.2, 0.1, 5.0, -0.2, 0.9, 3.0, 0.001, 0.002, 1.0]);
        let src = [[0.0, 0.0], [100.0, 0.0], [100.0, 80.0], [0.0, 80.0]];
        let dst = src.map(|p| h.apply_f64(p).unwrap());
        let g = Homography::from_points(&src, &dst).unwrap();
        for (a, b) in g.0.iter().zip(h.0.iter()) {
            assert!((a - b).abs() < 1e-9, "{:?} vs {:?}", g.0, h.0);
        }
        let q = g.apply(Point::new(37.0, 55.0)).unwrap();
        let r = h.apply_f64([37.0, 55.0]).unwrap();
        assert!((q[0] - r[0]).abs() < 1e-6 && (q[1] - r[1]).abs() < 1e-6);
    }

    #[test]
    fn homography_of_a_road_trapezoid() {
        // A road 7 m wide seen in perspective: the far edge (y=100) is narrower
        // than the near one (y=400). Ground y runs 0 m (near) to 40 m (far).
        let img = [
            [100.0, 400.0],
            [540.0, 400.0],
            [380.0, 100.0],
            [260.0, 100.0],
        ];
        let gnd = [[0.0, 0.0], [7.0, 0.0], [7.0, 40.0], [0.0, 40.0]];
        let h = Homography::from_points(&img, &gnd).unwrap();
        let c = h.apply(Point::new(320.0, 400.0)).unwrap();
        assert!((c[0] - 3.5).abs() < 1e-9 && c[1].abs() < 1e-9, "{c:?}");
        let far = h.apply(Point::new(320.0, 100.0)).unwrap();
        assert!((far[1] - 40.0).abs() < 1e-9, "{far:?}");
        // Perspective compresses the far half of the road, so the image
        // midpoint is much nearer than the ground midpoint. Pixels per metre
        // grow linearly down the image (120 px per 7 m far, 440 near), so
        // Y(y) = k (400 - y) / w(y) with w(250) = 280 and Y(100) = 40 m:
        // k = 16 and Y(250) = 16 * 150 / 280 = 60/7 m.
        let mid = h.apply(Point::new(320.0, 250.0)).unwrap();
        assert!((mid[1] - 60.0 / 7.0).abs() < 1e-9, "{mid:?}");
    }

    #[test]
    fn degenerate_homography_is_refused() {
        let img = [[0.0, 0.0], [1.0, 1.0], [2.0, 2.0], [0.0, 5.0]];
        let gnd = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(Homography::from_points(&img, &gnd).is_none());
        let nan = [[f64::NAN, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(Homography::from_points(&nan, &gnd).is_none());
    }

    #[test]
    fn two_line_speed_and_crossing_interpolation() {
        let l = TwoLines {
            first: [Point::new(0.0, 100.0), Point::new(100.0, 100.0)],
            second: [Point::new(0.0, 300.0), Point::new(100.0, 300.0)],
            distance_m: 20.0,
        };
        // 20 m in 1.2 s = 60 km/h.
        assert!((l.speed_kmh(1.2).unwrap() - 60.0).abs() < 1e-9);
        assert!(l.speed_kmh(0.0).is_none());
        // Moving down 50 px per 0.1 s: y=80 at t=1.0, y=130 at t=1.1 crosses
        // y=100 at t=1.04.
        let t = crossing_time(
            Point::new(50.0, 80.0),
            1.0,
            Point::new(50.0, 130.0),
            1.1,
            l.first[0],
            l.first[1],
        )
        .unwrap();
        assert!((t - 1.04).abs() < 1e-6, "{t}");
        assert!(crossing_time(
            Point::new(50.0, 80.0),
            1.0,
            Point::new(50.0, 90.0),
            1.1,
            l.first[0],
            l.first[1]
        )
        .is_none());
    }

    #[test]
    fn theil_sen_ignores_an_outlier() {
        let mut s: Vec<(f64, f64)> = (0..10).map(|i| (i as f64 * 0.2, i as f64 * 2.0)).collect();
        s[5].1 += 30.0; // one jumpy box
        let v = theil_sen_slope(&s).unwrap();
        assert!((v - 10.0).abs() < 1e-9, "{v}");
        assert!(theil_sen_slope(&[(1.0, 1.0)]).is_none());
    }
}
