//! Cheap per-pixel colour cues. They complement the CNN features (which were
//! trained on COCO objects, not flames) and drive the temporal cues: flicker
//! is measured on flame-coloured pixels, smoke growth on low-saturation ones.

use vision::features::CropRect;

/// Names of [`ColourStats::to_vec`], in order; stored in the weights file so a
/// head refuses a build whose colour features differ.
pub const COLOUR_FEATURES: [&str; 8] = [
    "flame_frac",
    "core_frac",
    "warm_sat_frac",
    "grey_frac",
    "dark_frac",
    "mean_sat",
    "mean_val",
    "std_val",
];

/// Flame colour: red-dominant, bright, R ≥ G > B with a clear red–blue gap
/// (the RGB rule of Chen et al. 2004 / Celik 2009, loosened for JPEG).
#[inline]
pub fn is_flame(r: u8, g: u8, b: u8) -> bool {
    r >= 150 && r >= g && g > b && (r as i32 - b as i32) >= 70
}

/// The near-white/yellow core of a bright flame.
#[inline]
pub fn is_core(r: u8, g: u8, b: u8) -> bool {
    r >= 235 && g >= 190 && b <= 200 && r >= b + 40
}

/// Smoke-like colour: low saturation, mid to high brightness.
#[inline]
pub fn is_grey(r: u8, g: u8, b: u8) -> bool {
    let max = r.max(g).max(b) as i32;
    let min = r.min(g).min(b) as i32;
    (90..=245).contains(&max) && (max - min) * 100 <= 18 * max
}

/// Luma (BT.601), 0–255.
#[inline]
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    0.299 * r as f32 + 0.587 * g as f32 + 0.114 * b as f32
}

/// Fractions and moments of one region's pixels.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ColourStats {
    pub flame_frac: f32,
    pub core_frac: f32,
    /// Hue 0–60°, saturation > 0.5, value > 0.5 (orange/yellow, bright).
    pub warm_sat_frac: f32,
    pub grey_frac: f32,
    pub dark_frac: f32,
    pub mean_sat: f32,
    pub mean_val: f32,
    pub std_val: f32,
}

impl ColourStats {
    /// Stats of `crop` of a packed RGB8 image, sampling at most ~160 px per
    /// side (they are fractions, so sub-sampling changes little and keeps a
    /// 4K frame under a millisecond).
    pub fn of(rgb: &[u8], width: u32, crop: CropRect) -> ColourStats {
        let step = (crop.w.max(crop.h) / 160).max(1) as usize;
        let w = width as usize;
        let mut n = 0f32;
        let mut s = ColourStats::default();
        let mut sum_v2 = 0f32;
        for y in (crop.y as usize..(crop.y + crop.h) as usize).step_by(step) {
            for x in (crop.x as usize..(crop.x + crop.w) as usize).step_by(step) {
                let i = (y * w + x) * 3;
                let Some(px) = rgb.get(i..i + 3) else {
                    continue;
                };
                let (r, g, b) = (px[0], px[1], px[2]);
                n += 1.0;
                let max = r.max(g).max(b) as f32;
                let min = r.min(g).min(b) as f32;
                let v = max / 255.0;
                let sat = if max > 0.0 { (max - min) / max } else { 0.0 };
                s.mean_sat += sat;
                s.mean_val += v;
                sum_v2 += v * v;
                s.flame_frac += f32::from(u8::from(is_flame(r, g, b)));
                s.core_frac += f32::from(u8::from(is_core(r, g, b)));
                s.grey_frac += f32::from(u8::from(is_grey(r, g, b)));
                s.dark_frac += f32::from(u8::from(v < 0.2));
                // Hue 0–60° means R is the max and G ≥ B.
                if sat > 0.5 && v > 0.5 && max == r as f32 && g >= b {
                    s.warm_sat_frac += 1.0;
                }
            }
        }
        if n == 0.0 {
            return s;
        }
        for f in [
            &mut s.flame_frac,
            &mut s.core_frac,
            &mut s.warm_sat_frac,
            &mut s.grey_frac,
            &mut s.dark_frac,
            &mut s.mean_sat,
            &mut s.mean_val,
        ] {
            *f /= n;
        }
        s.std_val = (sum_v2 / n - s.mean_val * s.mean_val).max(0.0).sqrt();
        s
    }

    /// The values in [`COLOUR_FEATURES`] order.
    pub fn to_vec(&self) -> [f32; 8] {
        [
            self.flame_frac,
            self.core_frac,
            self.warm_sat_frac,
            self.grey_frac,
            self.dark_frac,
            self.mean_sat,
            self.mean_val,
            self.std_val,
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(is_flame(255, 140, 20));
        assert!(!is_flame(20, 140, 255));
        assert!(!is_flame(128, 128, 128));
        assert!(is_grey(160, 160, 165));
        assert!(!is_grey(255, 140, 20));
        let rgb = [255u8, 140, 20, 160, 160, 160].repeat(8);
        let s = ColourStats::of(&rgb, 4, CropRect::full(4, 4));
        assert!((s.flame_frac - 0.5).abs() < 1e-6);
        assert!((s.grey_frac - 0.5).abs() < 1e-6);
    }
}
