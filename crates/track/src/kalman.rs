//! The SORT/ByteTrack 8-state constant-velocity Kalman filter on
//! (cx, cy, aspect, h), made time-step aware.
//!
//! ByteTrack steps the filter once per frame with noise tuned for ~30 fps video.
//! kuzet analyses cameras at whatever rate they sustain (and skips frames when
//! motion gating says nothing changed), so this filter steps by the real time
//! between observations: velocities are in units per second, and the process
//! noise of a step of `dt` seconds is that of `dt × 30` ByteTrack frames, so the
//! tuning carries over unchanged at 30 fps and stays sensible at 2 fps.

use base::BBox;

/// Process/measurement noise relative to box height, as in SORT/ByteTrack: a
/// position is uncertain by about a twentieth of the object's height.
const STD_WEIGHT_POSITION: f64 = 1.0 / 20.0;
/// Velocity noise relative to box height (per reference frame).
const STD_WEIGHT_VELOCITY: f64 = 1.0 / 160.0;
/// Frame rate ByteTrack's per-frame noise figures were tuned for; converts them
/// to per-second units.
const REF_FPS: f64 = 30.0;
/// Smallest height/aspect the filter reports, so a long coast with a shrinking
/// velocity can never produce an empty or inverted box.
const MIN_HEIGHT: f64 = 1.0;
const MIN_ASPECT: f64 = 1e-3;

type Mat8 = [[f64; 8]; 8];

/// Kalman state of one track: mean `[cx, cy, a, h, vcx, vcy, va, vh]`
/// (velocities per second) and its covariance.
#[derive(Clone, Debug)]
pub struct KalmanBox {
    mean: [f64; 8],
    cov: Mat8,
}

fn measure(b: &BBox) -> [f64; 4] {
    let w = (b.width() as f64).max(MIN_ASPECT);
    let h = (b.height() as f64).max(MIN_ASPECT);
    let c = b.center();
    [c.x as f64, c.y as f64, w / h, h]
}

impl KalmanBox {
    /// Starts a filter at a first detection, with zero velocity and ByteTrack's
    /// initial uncertainty (large on velocity, which is unknown).
    pub fn new(b: &BBox) -> Self {
        let z = measure(b);
        let h = z[3];
        let std = [
            2.0 * STD_WEIGHT_POSITION * h,
            2.0 * STD_WEIGHT_POSITION * h,
            1e-2,
            2.0 * STD_WEIGHT_POSITION * h,
            10.0 * STD_WEIGHT_VELOCITY * h * REF_FPS,
            10.0 * STD_WEIGHT_VELOCITY * h * REF_FPS,
            1e-5 * REF_FPS,
            10.0 * STD_WEIGHT_VELOCITY * h * REF_FPS,
        ];
        let mut cov = [[0.0; 8]; 8];
        for (i, s) in std.iter().enumerate() {
            cov[i][i] = s * s;
        }
        KalmanBox {
            mean: [z[0], z[1], z[2], z[3], 0.0, 0.0, 0.0, 0.0],
            cov,
        }
    }

    /// Advances the state by `dt` seconds of constant-velocity motion.
    pub fn predict(&mut self, dt: f64) {
        if dt <= 0.0 || !dt.is_finite() {
            return;
        }
        let h = self.mean[3].max(MIN_HEIGHT);
        for i in 0..4 {
            self.mean[i] += self.mean[i + 4] * dt;
        }
        self.mean[2] = self.mean[2].max(MIN_ASPECT);
        self.mean[3] = self.mean[3].max(MIN_HEIGHT);

        // P' = F P Fᵀ with F = [[I, dt·I], [0, I]], done blockwise.
        let p = &self.cov;
        let mut a = *p;
        for i in 0..4 {
            for j in 0..8 {
                a[i][j] = p[i][j] + dt * p[i + 4][j];
            }
        }
        let mut out = a;
        for row in out.iter_mut() {
            for j in 0..4 {
                row[j] += dt * row[j + 4];
            }
        }
        // Process noise of `dt × REF_FPS` independent reference frames.
        let steps = dt * REF_FPS;
        let q = [
            STD_WEIGHT_POSITION * h,
            STD_WEIGHT_POSITION * h,
            1e-2,
            STD_WEIGHT_POSITION * h,
            STD_WEIGHT_VELOCITY * h * REF_FPS,
            STD_WEIGHT_VELOCITY * h * REF_FPS,
            1e-5 * REF_FPS,
            STD_WEIGHT_VELOCITY * h * REF_FPS,
        ];
        for (i, s) in q.iter().enumerate() {
            out[i][i] += s * s * steps;
        }
        self.cov = out;
    }

    /// Corrects the state with a detected box.
    pub fn update(&mut self, b: &BBox) {
        let z = measure(b);
        let h = self.mean[3].max(MIN_HEIGHT);
        let r = [
            STD_WEIGHT_POSITION * h,
            STD_WEIGHT_POSITION * h,
            1e-1,
            STD_WEIGHT_POSITION * h,
        ];
        let mut s = [[0.0; 4]; 4];
        for (i, srow) in s.iter_mut().enumerate() {
            srow.copy_from_slice(&self.cov[i][..4]);
            srow[i] += r[i] * r[i];
        }
        let Some(s_inv) = invert4(&s) else {
            return;
        };
        // K = P Hᵀ S⁻¹, where P Hᵀ is the first four columns of P.
        let mut k = [[0.0; 4]; 8];
        for (i, krow) in k.iter_mut().enumerate() {
            for (c, kv) in krow.iter_mut().enumerate() {
                *kv = (0..4).map(|j| self.cov[i][j] * s_inv[j][c]).sum();
            }
        }
        let y: [f64; 4] = std::array::from_fn(|i| z[i] - self.mean[i]);
        for (i, krow) in k.iter().enumerate() {
            self.mean[i] += (0..4).map(|c| krow[c] * y[c]).sum::<f64>();
        }
        self.mean[2] = self.mean[2].max(MIN_ASPECT);
        self.mean[3] = self.mean[3].max(MIN_HEIGHT);
        // P -= K S Kᵀ = K (P Hᵀ)ᵀ.
        let mut delta = [[0.0; 8]; 8];
        for (i, drow) in delta.iter_mut().enumerate() {
            for (j, d) in drow.iter_mut().enumerate() {
                *d = (0..4).map(|c| k[i][c] * self.cov[j][c]).sum();
            }
        }
        for (crow, drow) in self.cov.iter_mut().zip(&delta) {
            for (c, d) in crow.iter_mut().zip(drow) {
                *c -= d;
            }
        }
        // Keep the covariance exactly symmetric against rounding drift.
        for i in 0..8 {
            for j in (i + 1)..8 {
                let m = 0.5 * (self.cov[i][j] + self.cov[j][i]);
                self.cov[i][j] = m;
                self.cov[j][i] = m;
            }
        }
    }

    /// Current box estimate.
    pub fn bbox(&self) -> BBox {
        let h = self.mean[3].max(MIN_HEIGHT);
        let w = self.mean[2].max(MIN_ASPECT) * h;
        BBox::from_cxcywh(self.mean[0] as f32, self.mean[1] as f32, w as f32, h as f32)
    }

    /// Velocity of the box centre, pixels per second.
    pub fn velocity(&self) -> (f64, f64) {
        (self.mean[4], self.mean[5])
    }

    /// Zeroes every velocity: used when the scene around a track is known not to
    /// have changed, so the object is by definition not moving.
    pub fn stop(&mut self) {
        for v in &mut self.mean[4..] {
            *v = 0.0;
        }
    }

    /// Zeroes the height velocity, as ByteTrack does before predicting a lost
    /// track, so a coasting box does not grow or shrink without evidence.
    pub fn freeze_height(&mut self) {
        self.mean[7] = 0.0;
    }
}

/// Inverse of a 4×4 matrix by Gauss–Jordan elimination with partial pivoting;
/// `None` if singular (cannot happen for an innovation covariance, whose
/// measurement noise is strictly positive, but a NaN input must not panic).
fn invert4(m: &[[f64; 4]; 4]) -> Option<[[f64; 4]; 4]> {
    let mut a = *m;
    let mut inv = [[0.0; 4]; 4];
    for (i, row) in inv.iter_mut().enumerate() {
        row[i] = 1.0;
    }
    for col in 0..4 {
        let piv = (col..4).max_by(|&x, &y| a[x][col].abs().total_cmp(&a[y][col].abs()))?;
        let pv = a[piv][col];
        if pv.abs() < 1e-12 || !pv.is_finite() {
            return None;
        }
        a.swap(col, piv);
        inv.swap(col, piv);
        for j in 0..4 {
            a[col][j] /= pv;
            inv[col][j] /= pv;
        }
        for r in 0..4 {
            if r != col {
                let f = a[r][col];
                if f != 0.0 {
                    for j in 0..4 {
                        a[r][j] -= f * a[col][j];
                        inv[r][j] -= f * inv[col][j];
                    }
                }
            }
        }
    }
    Some(inv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invert4_round_trip() {
        let m = [
            [4.0, 1.0, 0.5, 0.0],
            [1.0, 3.0, 0.2, 0.1],
            [0.5, 0.2, 2.0, 0.3],
            [0.0, 0.1, 0.3, 1.0],
        ];
        let inv = invert4(&m).unwrap();
        for (i, mrow) in m.iter().enumerate() {
            for (j, want) in (0..4).map(|j| (j, if i == j { 1.0 } else { 0.0 })) {
                let v: f64 = (0..4).map(|k| mrow[k] * inv[k][j]).sum();
                assert!((v - want).abs() < 1e-12);
            }
        }
        assert!(invert4(&[[0.0; 4]; 4]).is_none());
    }

    #[test]
    fn learns_velocity_in_pixels_per_second() {
        // 100 px/s to the right, observed at irregular intervals.
        let mut kf = KalmanBox::new(&BBox::from_cxcywh(100.0, 200.0, 40.0, 80.0));
        let mut t = 0.0;
        for dt in [0.1, 0.3, 0.05, 0.2, 0.4, 0.1, 0.25, 0.15, 0.3, 0.2].repeat(3) {
            t += dt;
            kf.predict(dt);
            kf.update(&BBox::from_cxcywh(
                100.0 + 100.0 * t as f32,
                200.0,
                40.0,
                80.0,
            ));
        }
        let (vx, vy) = kf.velocity();
        assert!((vx - 100.0).abs() < 5.0, "vx {vx}");
        assert!(vy.abs() < 5.0, "vy {vy}");
        // Coasting one second predicts one second of travel.
        let x0 = kf.bbox().center().x;
        kf.predict(1.0);
        assert!((kf.bbox().center().x - x0 - 100.0).abs() < 6.0);
        let b = kf.bbox();
        assert!((b.width() - 40.0).abs() < 1.0 && (b.height() - 80.0).abs() < 1.0);
    }

    #[test]
    fn stop_freezes_position() {
        let mut kf = KalmanBox::new(&BBox::from_cxcywh(0.0, 0.0, 10.0, 10.0));
        for i in 1..10 {
            kf.predict(0.1);
            kf.update(&BBox::from_cxcywh(i as f32 * 5.0, 0.0, 10.0, 10.0));
        }
        kf.stop();
        let before = kf.bbox();
        kf.predict(30.0);
        assert_eq!(kf.bbox(), before);
    }
}
