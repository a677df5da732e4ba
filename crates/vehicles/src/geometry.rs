//! Perspective rectification: a homography from four point pairs and a
//! bilinear warp of a quadrilateral onto an upright canvas.
//!
//! Why: OCR reads a horizontal line of text; a plate seen from a pole-mounted
//! camera is a skewed, rotated quadrilateral. Warping its four corners onto a
//! rectangle undoes rotation, shear and perspective in one step.

use base::Point;
use image::RgbImage;

/// A 3×3 projective transform, row-major, `h[8]` normalised to 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The transform taking each `src[i]` to `dst[i]` (direct linear
    /// transform with h33 = 1, solved by Gaussian elimination with partial
    /// pivoting). `None` when the points are degenerate (three collinear,
    /// repeated points, non-finite values).
    pub fn from_points(src: &[Point; 4], dst: &[Point; 4]) -> Option<Homography> {
        let mut a = [[0f64; 9]; 8];
        for i in 0..4 {
            let (x, y) = (f64::from(src[i].x), f64::from(src[i].y));
            let (u, v) = (f64::from(dst[i].x), f64::from(dst[i].y));
            a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
            a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
        }
        let scale = a
            .iter()
            .flat_map(|r| r.iter())
            .fold(0f64, |m, v| m.max(v.abs()));
        if !scale.is_finite() || scale == 0.0 {
            return None;
        }
        for col in 0..8 {
            let piv = (col..8).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs()))?;
            if a[piv][col].abs() < 1e-10 * scale {
                return None;
            }
            a.swap(col, piv);
            for r in 0..8 {
                if r != col {
                    let f = a[r][col] / a[col][col];
                    if f != 0.0 {
                        let pivot_row = a[col];
                        for (dst, src) in a[r][col..].iter_mut().zip(&pivot_row[col..]) {
                            *dst -= f * src;
                        }
                    }
                }
            }
        }
        let mut h = [0f64; 9];
        for i in 0..8 {
            h[i] = a[i][8] / a[i][i];
        }
        h[8] = 1.0;
        h.iter().all(|v| v.is_finite()).then_some(Homography(h))
    }

    /// Maps a point; `None` at the line at infinity.
    pub fn apply(&self, x: f64, y: f64) -> Option<(f64, f64)> {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        if w.abs() < 1e-12 {
            return None;
        }
        Some((
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        ))
    }
}

/// Bilinear sample of `img` at (x, y) (pixel centres at integer + 0.5);
/// outside the image the edge pixel is repeated.
fn sample(img: &RgbImage, x: f64, y: f64) -> [f32; 3] {
    let (w, h) = (img.width() as i64, img.height() as i64);
    let fx = x - 0.5;
    let fy = y - 0.5;
    let x0 = fx.floor();
    let y0 = fy.floor();
    let ax = (fx - x0) as f32;
    let ay = (fy - y0) as f32;
    let (x0, y0) = (x0 as i64, y0 as i64);
    let px = |xx: i64, yy: i64| {
        let p = img.get_pixel(xx.clamp(0, w - 1) as u32, yy.clamp(0, h - 1) as u32);
        [f32::from(p[0]), f32::from(p[1]), f32::from(p[2])]
    };
    let (a, b, c, d) = (
        px(x0, y0),
        px(x0 + 1, y0),
        px(x0, y0 + 1),
        px(x0 + 1, y0 + 1),
    );
    let mut out = [0f32; 3];
    for k in 0..3 {
        let top = a[k] + (b[k] - a[k]) * ax;
        let bot = c[k] + (d[k] - c[k]) * ax;
        out[k] = top + (bot - top) * ay;
    }
    out
}

/// Warps the quadrilateral `quad` (TL, TR, BR, BL in `img` pixels) onto an
/// upright `width`×`height` canvas, widened by `margin_x`/`margin_y` (fractions
/// of the plate's width/height on each side) so that slightly tight corners
/// do not clip the first or last character.
///
/// Where the source is much larger than the canvas, each output pixel
/// averages an n×n grid of bilinear samples (n up to 4): plain bilinear
/// sampling of a 5× downscale aliases strokes away.
pub fn warp_quad(
    img: &RgbImage,
    quad: &[Point; 4],
    width: u32,
    height: u32,
    margin_x: f32,
    margin_y: f32,
) -> Option<RgbImage> {
    if width == 0 || height == 0 || img.width() == 0 || img.height() == 0 {
        return None;
    }
    let unit = [
        Point::new(0.0, 0.0),
        Point::new(1.0, 0.0),
        Point::new(1.0, 1.0),
        Point::new(0.0, 1.0),
    ];
    let h = Homography::from_points(&unit, quad)?;
    let (mx, my) = (f64::from(margin_x), f64::from(margin_y));
    let (w, hh) = (f64::from(width), f64::from(height));
    let to_unit = |x: f64, y: f64| {
        (
            -mx + x / w * (1.0 + 2.0 * mx),
            -my + y / hh * (1.0 + 2.0 * my),
        )
    };
    // Source pixels per canvas pixel, from the quad's mean side lengths.
    let side = |a: Point, b: Point| f64::from(((a.x - b.x).powi(2) + (a.y - b.y).powi(2)).sqrt());
    let src_w = (side(quad[0], quad[1]) + side(quad[3], quad[2])) / 2.0 * (1.0 + 2.0 * mx);
    let src_h = (side(quad[0], quad[3]) + side(quad[1], quad[2])) / 2.0 * (1.0 + 2.0 * my);
    let scale = (src_w / w).max(src_h / hh);
    let n = (scale.ceil() as usize).clamp(1, 4);
    let mut out = RgbImage::new(width, height);
    for y in 0..height {
        for x in 0..width {
            let mut acc = [0f32; 3];
            let mut cnt = 0f32;
            for sy in 0..n {
                for sx in 0..n {
                    let cx = f64::from(x) + (sx as f64 + 0.5) / n as f64;
                    let cy = f64::from(y) + (sy as f64 + 0.5) / n as f64;
                    let (u, v) = to_unit(cx, cy);
                    if let Some((px, py)) = h.apply(u, v) {
                        let s = sample(img, px, py);
                        for k in 0..3 {
                            acc[k] += s[k];
                        }
                        cnt += 1.0;
                    }
                }
            }
            if cnt > 0.0 {
                let p = out.get_pixel_mut(x, y);
                for k in 0..3 {
                    p[k] = (acc[k] / cnt).round().clamp(0.0, 255.0) as u8;
                }
            }
        }
    }
    Some(out)
}

/// Crops an axis-aligned region (clamped to the image); `None` when empty.
pub fn crop(img: &RgbImage, x1: f32, y1: f32, x2: f32, y2: f32) -> Option<RgbImage> {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let x1 = x1.clamp(0.0, w).floor() as u32;
    let y1 = y1.clamp(0.0, h).floor() as u32;
    let x2 = x2.clamp(0.0, w).ceil() as u32;
    let y2 = y2.clamp(0.0, h).ceil() as u32;
    if x2 <= x1 || y2 <= y1 {
        return None;
    }
    Some(image::imageops::crop_imm(img, x1, y1, x2 - x1, y2 - y1).to_image())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn square_to_rectangle_is_recovered() {
        let src = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(0.0, 1.0),
        ];
        let dst = [
            Point::new(10.0, 20.0),
            Point::new(110.0, 20.0),
            Point::new(110.0, 50.0),
            Point::new(10.0, 50.0),
        ];
        let h = Homography::from_points(&src, &dst).unwrap();
        for (s, d) in src.iter().zip(&dst) {
            let (x, y) = h.apply(f64::from(s.x), f64::from(s.y)).unwrap();
            assert!((x - f64::from(d.x)).abs() < 1e-6 && (y - f64::from(d.y)).abs() < 1e-6);
        }
        // an affine map: the centre goes to the centre
        let (x, y) = h.apply(0.5, 0.5).unwrap();
        assert!((x - 60.0).abs() < 1e-6 && (y - 35.0).abs() < 1e-6);
    }

    #[test]
    fn perspective_round_trip() {
        let src = [
            Point::new(12.0, 7.0),
            Point::new(95.0, 18.0),
            Point::new(90.0, 51.0),
            Point::new(8.0, 40.0),
        ];
        let dst = [
            Point::new(0.0, 0.0),
            Point::new(200.0, 0.0),
            Point::new(200.0, 50.0),
            Point::new(0.0, 50.0),
        ];
        let h = Homography::from_points(&src, &dst).unwrap();
        let back = Homography::from_points(&dst, &src).unwrap();
        for s in &src {
            let (u, v) = h.apply(f64::from(s.x), f64::from(s.y)).unwrap();
            let (x, y) = back.apply(u, v).unwrap();
            assert!((x - f64::from(s.x)).abs() < 1e-6 && (y - f64::from(s.y)).abs() < 1e-6);
        }
    }

    #[test]
    fn degenerate_points_are_refused() {
        let p = Point::new(1.0, 1.0);
        let line = [
            Point::new(0.0, 0.0),
            Point::new(1.0, 1.0),
            Point::new(2.0, 2.0),
            Point::new(3.0, 3.0),
        ];
        assert!(Homography::from_points(&[p; 4], &line).is_none());
        assert!(Homography::from_points(&line, &line).is_none());
    }

    #[test]
    fn warp_of_a_rotated_rectangle_is_upright() {
        // A dark 60×20 bar rotated by 90° (so 20 wide, 60 tall) on white.
        let mut img = RgbImage::from_pixel(100, 100, image::Rgb([255, 255, 255]));
        for y in 20..80 {
            for x in 40..60 {
                img.put_pixel(x, y, image::Rgb([0, 0, 0]));
            }
        }
        // TL of the plate is at the bottom-left of the bar (rotated +90°).
        let quad = [
            Point::new(40.0, 80.0),
            Point::new(40.0, 20.0),
            Point::new(60.0, 20.0),
            Point::new(60.0, 80.0),
        ];
        let out = warp_quad(&img, &quad, 60, 20, 0.0, 0.0).unwrap();
        assert_eq!((out.width(), out.height()), (60, 20));
        let mean: f32 = out.pixels().map(|p| f32::from(p[0])).sum::<f32>() / (60.0 * 20.0);
        assert!(mean < 20.0, "inside the bar everything is dark, got {mean}");
        // With a margin the white surround shows up at the edges.
        let out = warp_quad(&img, &quad, 80, 40, 0.2, 0.5).unwrap();
        assert!(out.get_pixel(1, 1)[0] > 200);
        assert!(out.get_pixel(40, 20)[0] < 30);
    }
}
