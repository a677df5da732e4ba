//! Photometric clean-up for the text detector: plates in CCTV stills are
//! often dark or washed out, and the detector, trained on well-exposed text,
//! misses text of little contrast.

use image::RgbImage;

/// Rec. 601 luma of a pixel.
fn luma(p: &image::Rgb<u8>) -> f32 {
    0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2])
}

/// Linear contrast stretch: the `lo`..`hi` quantiles of the luma are mapped
/// to 0..255, every channel alike (colour kept). A crop whose luma spread is
/// already wide comes back about unchanged.
pub fn stretch_contrast(img: &RgbImage, lo: f32, hi: f32) -> RgbImage {
    let mut hist = [0u32; 256];
    for p in img.pixels() {
        hist[luma(p).round().clamp(0.0, 255.0) as usize] += 1;
    }
    let n = img.width() as f32 * img.height() as f32;
    let quantile = |q: f32| {
        let target = q * n;
        let mut acc = 0f32;
        for (v, &c) in hist.iter().enumerate() {
            acc += c as f32;
            if acc >= target {
                return v as f32;
            }
        }
        255.0
    };
    let (a, b) = (quantile(lo), quantile(hi));
    if b - a < 8.0 {
        return img.clone();
    }
    let k = 255.0 / (b - a);
    let mut out = img.clone();
    for p in out.pixels_mut() {
        for c in p.0.iter_mut() {
            *c = ((f32::from(*c) - a) * k).round().clamp(0.0, 255.0) as u8;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dim_crop_is_stretched_to_full_range_and_a_flat_one_left_alone() {
        // dark grey text (60) on a dull plate (100)
        let mut img = RgbImage::from_pixel(40, 10, image::Rgb([100, 100, 100]));
        for x in 10..20 {
            img.put_pixel(x, 5, image::Rgb([60, 60, 60]));
        }
        let s = stretch_contrast(&img, 0.02, 0.98);
        assert_eq!(s.get_pixel(12, 5)[0], 0);
        assert_eq!(s.get_pixel(0, 0)[0], 255);
        let flat = RgbImage::from_pixel(8, 8, image::Rgb([90, 90, 90]));
        assert_eq!(stretch_contrast(&flat, 0.02, 0.98), flat);
    }
}
