//! Alignment to the 112×112 ArcFace 5-point template: the embedder was
//! trained on faces placed exactly there, so the eyes, nose and mouth must
//! land on the template's points or the embedding degrades.
//!
//! The transform is the least-squares *similarity* (rotation, uniform scale,
//! translation; no shear, no reflection) from the 5 landmarks to the template:
//! Umeyama's solution, which in 2D has the closed form below. It is what
//! `cv2.estimateAffinePartial2D` / `skimage SimilarityTransform` compute
//! (without their RANSAC, which 5 good points do not need).

use base::Point;

/// Side of the aligned crop.
pub const ALIGNED_SIZE: u32 = 112;

/// ArcFace template (MANIFEST.md), in the detector's landmark order.
pub const ARCFACE_TEMPLATE: [Point; 5] = [
    Point::new(38.2946, 51.6963),
    Point::new(73.5318, 51.5014),
    Point::new(56.0252, 71.7366),
    Point::new(41.5493, 92.3655),
    Point::new(70.7299, 92.2041),
];

/// x' = a·x − b·y + tx, y' = b·x + a·y + ty: scale √(a²+b²), angle atan2(b, a).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Similarity {
    pub a: f32,
    pub b: f32,
    pub tx: f32,
    pub ty: f32,
}

impl Similarity {
    pub const IDENTITY: Similarity = Similarity {
        a: 1.0,
        b: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x - self.b * p.y + self.tx,
            self.b * p.x + self.a * p.y + self.ty,
        )
    }

    pub fn scale(&self) -> f32 {
        self.a.hypot(self.b)
    }

    /// Rotation in radians.
    pub fn angle(&self) -> f32 {
        self.b.atan2(self.a)
    }

    /// The inverse map, or `None` for a degenerate (zero-scale) transform.
    pub fn inverse(&self) -> Option<Similarity> {
        let d = self.a * self.a + self.b * self.b;
        if d <= f32::EPSILON || !d.is_finite() {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        Some(Similarity {
            a,
            b,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        })
    }
}

/// Least-squares similarity mapping `src[i]` onto `dst[i]` (Umeyama, 2D).
/// `None` when the source points coincide (no scale can be estimated).
pub fn estimate_similarity(src: &[Point], dst: &[Point]) -> Option<Similarity> {
    let n = src.len().min(dst.len());
    if n < 2 {
        return None;
    }
    let mean = |p: &[Point]| {
        let (sx, sy) = p[..n]
            .iter()
            .fold((0f64, 0f64), |(x, y), q| (x + q.x as f64, y + q.y as f64));
        (sx / n as f64, sy / n as f64)
    };
    let (msx, msy) = mean(src);
    let (mdx, mdy) = mean(dst);
    let (mut num_a, mut num_b, mut den) = (0f64, 0f64, 0f64);
    for (s, d) in src[..n].iter().zip(&dst[..n]) {
        let (x, y) = (s.x as f64 - msx, s.y as f64 - msy);
        let (u, v) = (d.x as f64 - mdx, d.y as f64 - mdy);
        num_a += x * u + y * v;
        num_b += x * v - y * u;
        den += x * x + y * y;
    }
    if den <= 1e-9 {
        return None;
    }
    let (a, b) = (num_a / den, num_b / den);
    let tx = mdx - (a * msx - b * msy);
    let ty = mdy - (b * msx + a * msy);
    let t = Similarity {
        a: a as f32,
        b: b as f32,
        tx: tx as f32,
        ty: ty as f32,
    };
    (t.a.is_finite() && t.b.is_finite() && t.tx.is_finite() && t.ty.is_finite()).then_some(t)
}

/// Warps a packed RGB8 image by `m` (image → output coordinates) into an
/// `ow`×`oh` RGB8 image with bilinear sampling; pixels mapping outside the
/// image are black (as `cv2.warpAffine`'s default border). Output pixel
/// (u, v) samples the image at m⁻¹(u, v), no half-pixel shift, as OpenCV does.
pub fn warp_similarity(rgb: &[u8], w: u32, h: u32, m: &Similarity, ow: u32, oh: u32) -> Vec<u8> {
    let mut out = vec![0u8; ow as usize * oh as usize * 3];
    let Some(inv) = m.inverse() else {
        return out;
    };
    let (w, h) = (w as usize, h as usize);
    if rgb.len() != w * h * 3 {
        return out;
    }
    let px = |x: isize, y: isize, c: usize| -> f32 {
        if x < 0 || y < 0 || x as usize >= w || y as usize >= h {
            0.0
        } else {
            f32::from(rgb[(y as usize * w + x as usize) * 3 + c])
        }
    };
    for v in 0..oh as usize {
        for u in 0..ow as usize {
            let p = inv.apply(Point::new(u as f32, v as f32));
            if !(p.x > -1.0 && p.y > -1.0 && p.x < w as f32 && p.y < h as f32) {
                continue;
            }
            let (x0, y0) = (p.x.floor(), p.y.floor());
            let (fx, fy) = (p.x - x0, p.y - y0);
            let (x0, y0) = (x0 as isize, y0 as isize);
            let o = (v * ow as usize + u) * 3;
            for c in 0..3 {
                let top = px(x0, y0, c) * (1.0 - fx) + px(x0 + 1, y0, c) * fx;
                let bot = px(x0, y0 + 1, c) * (1.0 - fx) + px(x0 + 1, y0 + 1, c) * fx;
                out[o + c] = (top * (1.0 - fy) + bot * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    out
}

/// The transform from `landmarks` to the ArcFace template and the aligned
/// 112×112 RGB8 crop; `None` if the landmarks are degenerate.
pub fn align_face(
    rgb: &[u8],
    w: u32,
    h: u32,
    landmarks: &[Point; 5],
) -> Option<(Similarity, Vec<u8>)> {
    let m = estimate_similarity(landmarks, &ARCFACE_TEMPLATE)?;
    let crop = warp_similarity(rgb, w, h, &m, ALIGNED_SIZE, ALIGNED_SIZE);
    Some((m, crop))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f32, b: f32, eps: f32) -> bool {
        (a - b).abs() <= eps
    }

    #[test]
    fn template_to_itself_is_identity() {
        let m = estimate_similarity(&ARCFACE_TEMPLATE, &ARCFACE_TEMPLATE).unwrap();
        assert!(close(m.a, 1.0, 1e-5) && close(m.b, 0.0, 1e-5), "{m:?}");
        assert!(close(m.tx, 0.0, 1e-3) && close(m.ty, 0.0, 1e-3), "{m:?}");
    }

    #[test]
    fn known_similarity_is_recovered() {
        let (s, th) = (2.5f32, 0.4f32);
        let truth = Similarity {
            a: s * th.cos(),
            b: s * th.sin(),
            tx: 123.0,
            ty: -45.0,
        };
        let moved: Vec<Point> = ARCFACE_TEMPLATE.iter().map(|&p| truth.apply(p)).collect();
        // landmarks (moved) -> template is the inverse of `truth`.
        let m = estimate_similarity(&moved, &ARCFACE_TEMPLATE).unwrap();
        let inv = truth.inverse().unwrap();
        assert!(close(m.scale(), 1.0 / s, 1e-4), "{m:?}");
        assert!(close(m.angle(), -th, 1e-4), "{m:?}");
        assert!(
            close(m.tx, inv.tx, 1e-2) && close(m.ty, inv.ty, 1e-2),
            "{m:?} vs {inv:?}"
        );
        for (p, q) in moved.iter().zip(&ARCFACE_TEMPLATE) {
            let r = m.apply(*p);
            assert!(close(r.x, q.x, 1e-2) && close(r.y, q.y, 1e-2));
        }
    }

    #[test]
    fn degenerate_points_are_refused() {
        let same = [Point::new(5.0, 5.0); 5];
        assert!(estimate_similarity(&same, &ARCFACE_TEMPLATE).is_none());
        assert!(Similarity {
            a: 0.0,
            b: 0.0,
            tx: 1.0,
            ty: 1.0
        }
        .inverse()
        .is_none());
    }

    #[test]
    fn warp_identity_copies_and_shift_moves() {
        let (w, h) = (4u32, 3u32);
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 7 % 256) as u8).collect();
        assert_eq!(
            warp_similarity(&rgb, w, h, &Similarity::IDENTITY, w, h),
            rgb
        );
        let shift = Similarity {
            tx: 1.0,
            ..Similarity::IDENTITY
        };
        let out = warp_similarity(&rgb, w, h, &shift, w, h);
        // Output (1,0) samples input (0,0); output (0,0) falls outside.
        assert_eq!(&out[3..6], &rgb[0..3]);
        assert_eq!(&out[0..3], &[0, 0, 0]);
    }
}
