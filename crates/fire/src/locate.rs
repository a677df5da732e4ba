//! Where is the fire? Bearings from tower cameras and their intersection.
//!
//! A tower camera sees a plume in a direction, not at a distance: the pixel
//! column of the detection, the camera's heading (azimuth of the image
//! centre) and its horizontal field of view give a compass bearing (pinhole
//! model). Two or more towers seeing the same fire give crossing rays; their
//! least-squares crossing is the fire's position, which is how fire lookout
//! towers have always located smoke (the Osborne fire finder), now from
//! cameras up to ~30 km away.
//!
//! Geometry runs on a gnomonic projection centred among the cameras: it maps
//! every great circle to a straight line, so each camera's ray (the great
//! circle leaving it at its bearing) is exactly a line in the plane and the
//! crossing needs no approximation beyond the sphere itself.

use serde::{Deserialize, Serialize};

/// Mean Earth radius (m).
const EARTH_R: f64 = 6_371_008.8;

/// One camera's sighting of a fire or plume.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bearing {
    pub camera: String,
    /// Camera position, degrees.
    pub lat: f64,
    pub lon: f64,
    /// Compass bearing to the detection, degrees clockwise from true north.
    pub azimuth_deg: f64,
    /// Half the angular width of the detection plus the heading's survey
    /// error, degrees: how far off the true direction may be.
    pub half_width_deg: f64,
    /// Height of the lens above sea level (m), when configured: where the
    /// ray starts for a situation centre that draws it over terrain. The
    /// crossing itself is on the Earth's surface and does not use it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_m: Option<f64>,
}

/// Bearing of a detection whose box spans columns `x1..x2` of a frame
/// `width` pixels wide, from a camera pointing at `heading_deg` with a
/// horizontal field of view of `hfov_deg`. Returns (azimuth, half width),
/// degrees; `heading_error_deg` is added to the half width.
pub fn bearing_of(
    x1: f32,
    x2: f32,
    width: u32,
    heading_deg: f64,
    hfov_deg: f64,
    heading_error_deg: f64,
) -> (f64, f64) {
    let w = f64::from(width.max(1));
    let focal = (w / 2.0) / (hfov_deg.to_radians() / 2.0).tan();
    let angle = |x: f32| ((f64::from(x) - w / 2.0) / focal).atan().to_degrees();
    let (a1, a2) = (angle(x1.min(x2)), angle(x1.max(x2)));
    let centre = heading_deg + (a1 + a2) / 2.0;
    (
        centre.rem_euclid(360.0),
        (a2 - a1) / 2.0 + heading_error_deg,
    )
}

/// Confidence of [`Fix::ellipse`].
pub const ELLIPSE_CONFIDENCE: f64 = 0.95;

/// χ² quantile with 2 degrees of freedom at [`ELLIPSE_CONFIDENCE`]:
/// −2 ln(1 − p).
const CHI2_2DOF_95: f64 = 5.991_464_547_107_979;

/// The region a fire lies in with [`ELLIPSE_CONFIDENCE`], on the ground.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Ellipse {
    pub semi_major_m: f64,
    pub semi_minor_m: f64,
    /// Compass direction of the major axis, degrees clockwise from true
    /// north, 0..180.
    pub major_azimuth_deg: f64,
    pub confidence: f64,
}

/// A located fire.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Fix {
    pub lat: f64,
    pub lon: f64,
    /// Radius (m) within which the fire lies if every bearing is within its
    /// half width: the far corner of the tightest pair's overlap.
    pub uncertainty_m: f64,
    /// Where the fire lies with 95 % confidence, taking each bearing's half
    /// width as two standard deviations of its error: a long, thin ellipse
    /// along the rays when they cross at a narrow angle or one tower is far
    /// away, which one radius cannot show.
    pub ellipse: Ellipse,
    /// Distance from each camera (m), in the order of the bearings.
    pub ranges_m: Vec<f64>,
    /// Smallest angle between two of the rays (degrees); near 0 or 180 the
    /// crossing is ill-conditioned.
    pub crossing_deg: f64,
}

/// Why bearings give no position.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LocateError {
    #[error("at least two bearings from two different cameras are needed")]
    TooFew,
    #[error("the rays are almost parallel (crossing {0:.1}°): no reliable intersection")]
    Parallel(f64),
    #[error("the rays cross behind camera {0} — the cameras see different fires")]
    Behind(String),
    #[error(
        "the crossing lies {range_km:.1} km from camera {camera}, beyond the {max_km:.0} km range"
    )]
    OutOfRange {
        camera: String,
        range_km: f64,
        max_km: f64,
    },
}

/// Rays crossing at less than this are refused (a 5° crossing multiplies
/// bearing error by ~11 along the rays).
pub const MIN_CROSSING_DEG: f64 = 5.0;

/// The fire's position from `bearings` (two or more cameras), or why not.
pub fn triangulate(bearings: &[Bearing], max_range_m: f64) -> Result<Fix, LocateError> {
    if bearings.len() < 2 {
        return Err(LocateError::TooFew);
    }
    let lat0 = bearings.iter().map(|b| b.lat).sum::<f64>() / bearings.len() as f64;
    let lon0 = bearings.iter().map(|b| b.lon).sum::<f64>() / bearings.len() as f64;
    let plane = Gnomonic::new(lat0, lon0);
    let rays: Vec<Ray> = bearings
        .iter()
        .map(|b| {
            // The ray's direction in the plane: towards a point 1 km along
            // the great circle.
            let o = plane.forward(b.lat, b.lon);
            let (lat2, lon2) = destination(b.lat, b.lon, b.azimuth_deg, 1_000.0);
            let q = plane.forward(lat2, lon2);
            let n = ((q.0 - o.0).powi(2) + (q.1 - o.1).powi(2)).sqrt().max(1e-9);
            (o, ((q.0 - o.0) / n, (q.1 - o.1) / n))
        })
        .collect();
    // Smallest pairwise crossing angle, folded to 0..90.
    let mut crossing: f64 = 90.0;
    for i in 0..rays.len() {
        for j in i + 1..rays.len() {
            let (di, dj) = (rays[i].1, rays[j].1);
            let cos = (di.0 * dj.0 + di.1 * dj.1).clamp(-1.0, 1.0);
            let ang = cos.acos().to_degrees();
            crossing = crossing.min(ang.min(180.0 - ang));
        }
    }
    if crossing < MIN_CROSSING_DEG {
        return Err(LocateError::Parallel(crossing));
    }
    // First every ray alike, which gives the ranges; then each ray weighted
    // by its perpendicular error at that range, σ = range·tan(half width)/2,
    // so a far or wide bearing pulls the fix less (with two rays both give
    // the same crossing), and the weighted normal matrix is the inverse of
    // the fix's covariance.
    let (p0, _) = solve(&rays, &vec![1.0; rays.len()]).ok_or(LocateError::Parallel(crossing))?;
    let ranges0 = ranges_to(bearings, &rays, &plane, p0, max_range_m)?;
    let sigma = |k: usize, range: f64| {
        (range * bearings[k].half_width_deg.to_radians().tan() / 2.0).max(1.0)
    };
    let weights: Vec<f64> = (0..rays.len())
        .map(|k| sigma(k, ranges0[k]).powi(-2))
        .collect();
    let (p, normal) = solve(&rays, &weights).ok_or(LocateError::Parallel(crossing))?;
    let ranges = ranges_to(bearings, &rays, &plane, p, max_range_m)?;
    let (lat, lon) = plane.inverse(p.0, p.1);
    let ellipse = confidence_ellipse(normal);
    // Each bearing confines the fire to a strip of half width
    // range·tan(half width) around its ray; two strips crossing at θ overlap
    // in a parallelogram whose far corner lies
    // sqrt(l1² + l2² + 2·l1·l2·|cos θ|) / sin θ from the crossing. The
    // fire is inside every pair's parallelogram, so the tightest pair bounds it.
    let mut uncertainty = f64::INFINITY;
    for i in 0..rays.len() {
        for j in i + 1..rays.len() {
            let l = |k: usize| ranges[k] * bearings[k].half_width_deg.to_radians().tan();
            let (di, dj) = (rays[i].1, rays[j].1);
            let cos = (di.0 * dj.0 + di.1 * dj.1).abs().min(1.0);
            let sin = (1.0 - cos * cos).sqrt().max(1e-6);
            let (li, lj) = (l(i), l(j));
            uncertainty = uncertainty.min((li * li + lj * lj + 2.0 * li * lj * cos).sqrt() / sin);
        }
    }
    Ok(Fix {
        lat,
        lon,
        uncertainty_m: uncertainty,
        ellipse,
        ranges_m: ranges,
        crossing_deg: crossing,
    })
}

/// A ray in the gnomonic plane: origin and unit direction.
type Ray = ((f64, f64), (f64, f64));

/// The upper triangle (a11, a12, a22) of a symmetric 2×2 matrix.
type Sym2 = (f64, f64, f64);

/// Weighted least squares: the point minimising Σ wₖ·(perpendicular
/// distance to ray k)², from Σ wₖ(I − d dᵀ) p = Σ wₖ(I − d dᵀ) o. Returns it
/// and the normal matrix (a11, a12, a22); `None` when singular.
fn solve(rays: &[Ray], weights: &[f64]) -> Option<((f64, f64), Sym2)> {
    let (mut a11, mut a12, mut a22, mut b1, mut b2) = (0.0, 0.0, 0.0, 0.0, 0.0);
    for (((ox, oy), (dx, dy)), w) in rays.iter().zip(weights) {
        let (m11, m12, m22) = (w * (1.0 - dx * dx), -w * dx * dy, w * (1.0 - dy * dy));
        a11 += m11;
        a12 += m12;
        a22 += m22;
        b1 += m11 * ox + m12 * oy;
        b2 += m12 * ox + m22 * oy;
    }
    let det = a11 * a22 - a12 * a12;
    // Relative to the matrix's scale: the weights are 1/m².
    if det.abs() <= 1e-12 * (a11 + a22).powi(2) {
        return None;
    }
    let p = ((a22 * b1 - a12 * b2) / det, (a11 * b2 - a12 * b1) / det);
    Some((p, (a11, a12, a22)))
}

/// Each camera's distance to the point `p`, or why the point cannot be the
/// fire (behind a camera, or beyond `max_range_m`).
fn ranges_to(
    bearings: &[Bearing],
    rays: &[Ray],
    plane: &Gnomonic,
    p: (f64, f64),
    max_range_m: f64,
) -> Result<Vec<f64>, LocateError> {
    let (lat, lon) = plane.inverse(p.0, p.1);
    let mut ranges = Vec::with_capacity(rays.len());
    for (b, ((ox, oy), (dx, dy))) in bearings.iter().zip(rays) {
        if (p.0 - ox) * dx + (p.1 - oy) * dy <= 0.0 {
            return Err(LocateError::Behind(b.camera.clone()));
        }
        let along = distance_m(b.lat, b.lon, lat, lon);
        if along > max_range_m {
            return Err(LocateError::OutOfRange {
                camera: b.camera.clone(),
                range_km: along / 1000.0,
                max_km: max_range_m / 1000.0,
            });
        }
        ranges.push(along);
    }
    Ok(ranges)
}

/// The 95 % ellipse of a position whose covariance is the inverse of the
/// normal matrix (a11, a12, a22) in the gnomonic plane (x east, y north,
/// metres; its scale is within 2·10⁻⁵ of the ground's 30 km from the centre).
fn confidence_ellipse((a11, a12, a22): Sym2) -> Ellipse {
    let det = a11 * a22 - a12 * a12;
    let (c11, c12, c22) = (a22 / det, -a12 / det, a11 / det);
    let mean = (c11 + c22) / 2.0;
    let spread = (((c11 - c22) / 2.0).powi(2) + c12 * c12).sqrt();
    let (l1, l2) = (mean + spread, (mean - spread).max(0.0));
    // Direction of the larger eigenvalue's eigenvector, as a compass angle.
    let theta = 0.5 * (2.0 * c12).atan2(c11 - c22);
    let (ex, ey) = (theta.cos(), theta.sin());
    Ellipse {
        semi_major_m: (CHI2_2DOF_95 * l1).sqrt(),
        semi_minor_m: (CHI2_2DOF_95 * l2).sqrt(),
        major_azimuth_deg: ex.atan2(ey).to_degrees().rem_euclid(180.0),
        confidence: ELLIPSE_CONFIDENCE,
    }
}

/// Combines alarms of several towers over time: each camera's latest raised
/// alarm bearing is kept for `window_ms` (towers rarely raise in the same
/// second: the plume must grow into each view); a new bearing is crossed
/// with the others. Bearings that cross behind a camera or out of range are
/// different fires, so when all of them together fail, the new bearing is
/// tried against each other camera alone and the best-conditioned pair wins.
pub struct Locator {
    window_ms: i64,
    max_range_m: f64,
    recent: Vec<(i64, Bearing)>,
}

impl Locator {
    pub fn new(window_ms: i64, max_range_m: f64) -> Self {
        Locator {
            window_ms,
            max_range_m,
            recent: Vec::new(),
        }
    }

    /// A raised alarm's bearing at `ts_ms`; returns a fix and the bearings
    /// it used when this bearing crosses others.
    pub fn observe(&mut self, ts_ms: i64, b: Bearing) -> Option<(Fix, Vec<Bearing>)> {
        self.recent
            .retain(|(t, x)| ts_ms - *t <= self.window_ms && x.camera != b.camera);
        self.recent.push((ts_ms, b.clone()));
        if self.recent.len() < 2 {
            return None;
        }
        let all: Vec<Bearing> = self.recent.iter().map(|(_, x)| x.clone()).collect();
        if let Ok(f) = triangulate(&all, self.max_range_m) {
            return Some((f, all));
        }
        self.recent
            .iter()
            .filter(|(_, x)| x.camera != b.camera)
            .filter_map(|(_, x)| {
                let pair = vec![x.clone(), b.clone()];
                triangulate(&pair, self.max_range_m).ok().map(|f| (f, pair))
            })
            .max_by(|a, b| a.0.crossing_deg.total_cmp(&b.0.crossing_deg))
    }

    /// The camera's alarm cleared: its bearing no longer counts.
    pub fn clear(&mut self, camera: &str) {
        self.recent.retain(|(_, x)| x.camera != camera);
    }
}

/// Gnomonic projection about (lat0, lon0), metres.
struct Gnomonic {
    sin0: f64,
    cos0: f64,
    lon0: f64,
}

impl Gnomonic {
    fn new(lat0: f64, lon0: f64) -> Self {
        let p = lat0.to_radians();
        Gnomonic {
            sin0: p.sin(),
            cos0: p.cos(),
            lon0: lon0.to_radians(),
        }
    }

    fn forward(&self, lat: f64, lon: f64) -> (f64, f64) {
        let (p, dl) = (lat.to_radians(), lon.to_radians() - self.lon0);
        let cos_c = self.sin0 * p.sin() + self.cos0 * p.cos() * dl.cos();
        (
            EARTH_R * p.cos() * dl.sin() / cos_c,
            EARTH_R * (self.cos0 * p.sin() - self.sin0 * p.cos() * dl.cos()) / cos_c,
        )
    }

    fn inverse(&self, x: f64, y: f64) -> (f64, f64) {
        let rho = (x * x + y * y).sqrt();
        if rho < 1e-9 {
            return (self.sin0.asin().to_degrees(), self.lon0.to_degrees());
        }
        let c = (rho / EARTH_R).atan();
        let lat = (c.cos() * self.sin0 + y * c.sin() * self.cos0 / rho).asin();
        let lon =
            self.lon0 + (x * c.sin()).atan2(rho * self.cos0 * c.cos() - y * self.sin0 * c.sin());
        (lat.to_degrees(), lon.to_degrees())
    }
}

/// The point `dist_m` along the great circle leaving (lat, lon) at `azimuth_deg`.
pub fn destination(lat: f64, lon: f64, azimuth_deg: f64, dist_m: f64) -> (f64, f64) {
    let (p1, l1, th) = (lat.to_radians(), lon.to_radians(), azimuth_deg.to_radians());
    let d = dist_m / EARTH_R;
    let p2 = (p1.sin() * d.cos() + p1.cos() * d.sin() * th.cos()).asin();
    let l2 = l1 + (th.sin() * d.sin() * p1.cos()).atan2(d.cos() - p1.sin() * p2.sin());
    (p2.to_degrees(), l2.to_degrees())
}

/// Great-circle distance (m), for checks and reports.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_R * a.sqrt().asin()
}

/// Initial compass bearing (degrees) from point 1 to point 2.
pub fn azimuth_deg(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dl = (lon2 - lon1).to_radians();
    let y = dl.sin() * p2.cos();
    let x = p1.cos() * p2.sin() - p1.sin() * p2.cos() * dl.cos();
    y.atan2(x).to_degrees().rem_euclid(360.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Towers near Almaty and a fire 20–25 km away in the foothills.
    const FIRE: (f64, f64) = (43.10, 76.95);
    fn tower(name: &str, lat: f64, lon: f64, err_deg: f64) -> Bearing {
        Bearing {
            camera: name.into(),
            lat,
            lon,
            azimuth_deg: azimuth_deg(lat, lon, FIRE.0, FIRE.1) + err_deg,
            half_width_deg: 0.5,
            height_m: None,
        }
    }

    #[test]
    fn two_exact_bearings_meet_at_the_fire() {
        let b = [
            tower("west", 43.25, 76.75, 0.0),
            tower("east", 43.28, 77.15, 0.0),
        ];
        let fix = triangulate(&b, 30_000.0).unwrap();
        let err = distance_m(fix.lat, fix.lon, FIRE.0, FIRE.1);
        assert!(err < 1.0, "{err} m off: {fix:?}");
        for (r, t) in fix.ranges_m.iter().zip(&b) {
            let truth = distance_m(t.lat, t.lon, FIRE.0, FIRE.1);
            assert!((r - truth).abs() < 1.0, "{r} vs {truth}");
        }
        assert!(fix.crossing_deg > 30.0);
    }

    /// Bearing errors within the stated half widths keep the fire inside the
    /// reported uncertainty; a third tower tightens it.
    #[test]
    fn bearing_errors_stay_within_the_uncertainty() {
        let two = [
            tower("west", 43.25, 76.75, 0.4),
            tower("east", 43.28, 77.15, -0.4),
        ];
        let fix = triangulate(&two, 30_000.0).unwrap();
        let err = distance_m(fix.lat, fix.lon, FIRE.0, FIRE.1);
        assert!(
            err > 50.0 && err <= fix.uncertainty_m,
            "{err} m, ±{}",
            fix.uncertainty_m
        );
        let three = [
            two[0].clone(),
            two[1].clone(),
            tower("south", 42.95, 76.90, 0.0),
        ];
        let fix3 = triangulate(&three, 30_000.0).unwrap();
        let err3 = distance_m(fix3.lat, fix3.lon, FIRE.0, FIRE.1);
        assert!(err3 < err, "{err3} !< {err}");
    }

    /// Whether `(lat, lon)` lies inside `fix`'s ellipse.
    fn inside(fix: &Fix, lat: f64, lon: f64) -> bool {
        let d = distance_m(fix.lat, fix.lon, lat, lon);
        let az = azimuth_deg(fix.lat, fix.lon, lat, lon).to_radians();
        let (east, north) = (d * az.sin(), d * az.cos());
        let e = &fix.ellipse;
        let phi = e.major_azimuth_deg.to_radians();
        let along = east * phi.sin() + north * phi.cos();
        let across = east * phi.cos() - north * phi.sin();
        (along / e.semi_major_m).powi(2) + (across / e.semi_minor_m).powi(2) <= 1.0
    }

    /// Standard normal draws from a fixed seed (xorshift + Box–Muller), so
    /// the coverage below is the same on every run.
    fn normals(seed: u64) -> impl FnMut() -> f64 {
        let mut x = seed;
        let mut uniform = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 11) as f64 + 0.5) / (1u64 << 53) as f64
        };
        move || {
            let (u, v) = (uniform(), uniform());
            (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
        }
    }

    /// Bearing errors drawn as the ellipse assumes (half width = 2σ): the
    /// true fire lies inside the reported ellipse in about 95 % of fixes.
    #[test]
    fn the_ellipse_holds_the_fire_95_times_in_100() {
        let mut n = normals(0x5eed_f1e5);
        let (mut hits, draws) = (0, 600);
        for _ in 0..draws {
            let b = [
                tower("west", 43.25, 76.75, 0.25 * n()),
                tower("east", 43.28, 77.15, 0.25 * n()),
                tower("south", 42.95, 76.90, 0.25 * n()),
            ];
            let fix = triangulate(&b, 30_000.0).unwrap();
            hits += usize::from(inside(&fix, FIRE.0, FIRE.1));
        }
        let coverage = hits as f64 / draws as f64;
        assert!((0.92..=0.98).contains(&coverage), "coverage {coverage}");
    }

    /// Two towers close together see the fire at a narrow angle: the fix is
    /// poor along the rays and good across them, so the ellipse is long and
    /// points along the line of sight; a third tower from the side shrinks it.
    #[test]
    fn a_narrow_crossing_gives_a_long_ellipse_along_the_rays() {
        let a = tower("a", 43.30, 76.90, 0.0);
        let b = tower("b", 43.30, 77.02, 0.0);
        let fix = triangulate(&[a.clone(), b.clone()], 30_000.0).unwrap();
        let e = &fix.ellipse;
        assert!(fix.crossing_deg < 30.0, "{}", fix.crossing_deg);
        assert!(e.semi_major_m > 3.0 * e.semi_minor_m, "{e:?}");
        let sight = azimuth_deg(FIRE.0, FIRE.1, 43.30, 76.96).rem_euclid(180.0);
        let off = (e.major_azimuth_deg - sight).abs();
        assert!(
            off.min(180.0 - off) < 10.0,
            "{e:?} vs line of sight {sight}"
        );
        let side = tower("side", 43.12, 77.20, 0.0);
        let fix3 = triangulate(&[a, b, side], 30_000.0).unwrap();
        let area = |e: &Ellipse| e.semi_major_m * e.semi_minor_m;
        assert!(
            area(&fix3.ellipse) < 0.5 * area(e),
            "{:?} vs {e:?}",
            fix3.ellipse
        );
        assert!(inside(&fix3, FIRE.0, FIRE.1));
    }

    #[test]
    fn refuses_bad_geometry() {
        let west = tower("west", 43.25, 76.75, 0.0);
        assert_eq!(
            triangulate(std::slice::from_ref(&west), 30_000.0),
            Err(LocateError::TooFew)
        );
        // A second camera right next to the first: parallel rays.
        let near = tower("near", 43.2501, 76.7501, 0.0);
        assert!(matches!(
            triangulate(&[west.clone(), near], 30_000.0),
            Err(LocateError::Parallel(_))
        ));
        // Looking away from each other: the crossing is behind one of them.
        let mut away = tower("east", 43.28, 77.15, 0.0);
        away.azimuth_deg = (away.azimuth_deg + 180.0) % 360.0;
        assert!(matches!(
            triangulate(&[west.clone(), away], 30_000.0),
            Err(LocateError::Behind(_))
        ));
        // The fire is ~20 km away: a 10 km range refuses it.
        let east = tower("east", 43.28, 77.15, 0.0);
        assert!(matches!(
            triangulate(&[west, east], 10_000.0),
            Err(LocateError::OutOfRange { .. })
        ));
    }

    /// Towers raise minutes apart; a stale or cleared bearing is not used,
    /// and a bearing towards another fire does not spoil the pair that agrees.
    #[test]
    fn locator_pairs_bearings_over_time() {
        let mut loc = Locator::new(10 * 60_000, 30_000.0);
        assert!(loc.observe(0, tower("west", 43.25, 76.75, 0.0)).is_none());
        let (fix, used) = loc
            .observe(120_000, tower("east", 43.28, 77.15, 0.0))
            .unwrap();
        assert_eq!(used.len(), 2);
        assert!(distance_m(fix.lat, fix.lon, FIRE.0, FIRE.1) < 1.0);
        // 13 minutes in, the others are older than the 10-minute window.
        assert!(loc
            .observe(13 * 60_000, tower("south", 42.95, 76.90, 0.0))
            .is_none());
        loc.clear("south");
        assert!(loc
            .observe(13 * 60_000, tower("west", 43.25, 76.75, 0.0))
            .is_none());
        // A third tower looking away (another fire) does not stop the pair.
        let mut away = tower("north", 43.40, 76.95, 0.0);
        away.azimuth_deg = (away.azimuth_deg + 180.0) % 360.0;
        assert!(loc.observe(13 * 60_000 + 1, away).is_none());
        let (fix, used) = loc
            .observe(14 * 60_000, tower("east", 43.28, 77.15, 0.0))
            .unwrap();
        assert_eq!(used.len(), 2, "{used:?}");
        assert!(distance_m(fix.lat, fix.lon, FIRE.0, FIRE.1) < 1.0);
    }

    #[test]
    fn pixel_columns_to_bearings() {
        // Centre column = heading; the right edge = heading + hfov/2.
        let (az, half) = bearing_of(959.0, 961.0, 1920, 90.0, 60.0, 0.0);
        assert!((az - 90.0).abs() < 0.05 && half < 0.05, "{az} {half}");
        let (az, _) = bearing_of(1919.0, 1920.0, 1920, 350.0, 60.0, 0.0);
        assert!((az - 20.0).abs() < 0.1, "wraps past north: {az}");
        let (_, half) = bearing_of(0.0, 1920.0, 1920, 0.0, 60.0, 1.0);
        assert!((half - 31.0).abs() < 0.01, "{half}");
    }
}
