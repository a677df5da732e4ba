//! Irreversible masking of bystanders in evidence pixels.
//!
//! Stored evidence is seen by operators who have no business identifying
//! people who merely walked past a camera, so heads and faces are destroyed
//! in the stored JPEG before it is written. Masking is two passes over each
//! region:
//!
//! 1. **pixelation** into blocks of at least [`MIN_BLOCK`] pixels (or an
//!    eighth of the region, whichever is larger): every pixel of a block is
//!    replaced by the block mean, so at most ~8×8 values survive per face —
//!    far below what recognition (or a human) needs, and the lost detail is
//!    not recoverable by any deblurring since it was averaged away;
//! 2. a **box blur** over the pixelated region, so block edges do not give
//!    away a silhouette that a "depixelation" model could fit to.
//!
//! The original pixels survive only encrypted (see [`crate::sealed`]), and
//! only for an audited un-mask.

use base::BBox;

/// Smallest pixelation block, in pixels.
pub const MIN_BLOCK: u32 = 8;

/// The head region of a person box: what is masked where no face detector
/// ran. The top 22 % of the box height, the middle 70 % of its width, grown
/// by 15 % so a tilted or turned head is still covered.
pub fn head_region(person: BBox) -> BBox {
    let w = person.x2 - person.x1;
    let h = person.y2 - person.y1;
    let cx = (person.x1 + person.x2) / 2.0;
    let hw = w * 0.35;
    let hh = h * 0.22;
    BBox::new(cx - hw, person.y1, cx + hw, person.y1 + hh).expand(0.15)
}

/// Where the plate of a vehicle that is not the record's subject is masked
/// when no plate detector has located it: the lower 65 % of the box (from 35 %
/// of its height down to its bottom edge), across its whole width, grown by
/// 5 %. Plates sit on the bumpers, which are in that band whether the vehicle
/// is seen from the front, the back, at an angle or from the side (where the
/// plate is at one end, hence the whole width). The band reaches that high
/// because a vehicle cut off by the top of the frame, or a pickup's tailgate,
/// puts the plate at 25–45 % of the detected box (measured on the labelled
/// plates of `$KUZET_DATA`, see docs/security.md). It hides most of every
/// bystander vehicle, which is the price of not running a second detector; a
/// plate mounted higher (some lorries, roof signs) can escape it.
pub fn plate_region(vehicle: BBox) -> BBox {
    let h = vehicle.y2 - vehicle.y1;
    BBox::new(vehicle.x1, vehicle.y1 + 0.35 * h, vehicle.x2, vehicle.y2).expand(0.05)
}

/// Integer pixel rectangle covering `b` inside a `width`×`height` frame, or
/// `None` if it is empty or not finite. Rounds outward: a mask never leaves
/// an edge of the face uncovered.
fn rect(b: BBox, width: u32, height: u32) -> Option<(u32, u32, u32, u32)> {
    if !b.is_finite() {
        return None;
    }
    let b = b.clamp(width as f32, height as f32);
    let x1 = b.x1.floor().max(0.0) as u32;
    let y1 = b.y1.floor().max(0.0) as u32;
    let x2 = (b.x2.ceil().max(0.0) as u32).min(width);
    let y2 = (b.y2.ceil().max(0.0) as u32).min(height);
    (x2 > x1 && y2 > y1).then_some((x1, y1, x2, y2))
}

/// Masks every region of `regions` in `rgb` (packed RGB8, `width`×`height`)
/// in place. Regions outside the frame are ignored; pixels outside every
/// region are untouched. Returns how many regions were masked.
pub fn mask_regions(rgb: &mut [u8], width: u32, height: u32, regions: &[BBox]) -> usize {
    if rgb.len() != width as usize * height as usize * 3 {
        return 0;
    }
    let mut n = 0;
    for r in regions {
        if let Some((x1, y1, x2, y2)) = rect(*r, width, height) {
            pixelate(rgb, width, (x1, y1, x2, y2));
            box_blur(rgb, width, (x1, y1, x2, y2));
            n += 1;
        }
    }
    n
}

fn pixelate(rgb: &mut [u8], width: u32, (x1, y1, x2, y2): (u32, u32, u32, u32)) {
    let stride = width as usize * 3;
    let block = ((x2 - x1).max(y2 - y1) / 8).max(MIN_BLOCK);
    let mut by = y1;
    while by < y2 {
        let ey = (by + block).min(y2);
        let mut bx = x1;
        while bx < x2 {
            let ex = (bx + block).min(x2);
            let mut sum = [0u64; 3];
            for y in by..ey {
                let row = y as usize * stride;
                for x in bx..ex {
                    let i = row + x as usize * 3;
                    sum[0] += rgb[i] as u64;
                    sum[1] += rgb[i + 1] as u64;
                    sum[2] += rgb[i + 2] as u64;
                }
            }
            let count = ((ey - by) * (ex - bx)) as u64;
            let mean = sum.map(|s| (s / count) as u8);
            for y in by..ey {
                let row = y as usize * stride;
                for x in bx..ex {
                    let i = row + x as usize * 3;
                    rgb[i..i + 3].copy_from_slice(&mean);
                }
            }
            bx = ex;
        }
        by = ey;
    }
}

/// A separable box blur confined to the rectangle (samples outside it are
/// clamped to its edge, so nothing from outside bleeds in and nothing inside
/// leaks out).
fn box_blur(rgb: &mut [u8], width: u32, (x1, y1, x2, y2): (u32, u32, u32, u32)) {
    let stride = width as usize * 3;
    let (w, h) = ((x2 - x1) as usize, (y2 - y1) as usize);
    let radius = (w.max(h) / 10).max(2) as i64;
    let mut buf = vec![0u8; w * h * 3];
    for y in 0..h {
        let row = (y1 as usize + y) * stride + x1 as usize * 3;
        buf[y * w * 3..(y + 1) * w * 3].copy_from_slice(&rgb[row..row + w * 3]);
    }
    let mut tmp = vec![0u8; w * h * 3];
    // A running sum per line: O(1) per pixel whatever the radius, which
    // matters once whole plate bands of vehicles (hundreds of pixels wide,
    // radius tens of pixels) are masked in every frame of a clip.
    let pass = |src: &[u8], dst: &mut [u8], horizontal: bool| {
        let (outer, inner) = if horizontal { (h, w) } else { (w, h) };
        let at = |o: usize, j: i64| -> usize {
            let j = j.clamp(0, inner as i64 - 1) as usize;
            let (x, y) = if horizontal { (j, o) } else { (o, j) };
            (y * w + x) * 3
        };
        let n = (2 * radius + 1) as u32;
        for o in 0..outer {
            let mut sum = [0u32; 3];
            for d in -radius..=radius {
                let k = at(o, d);
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += src[k + c] as u32;
                }
            }
            for i in 0..inner {
                let k = at(o, i as i64);
                for (d, s) in dst[k..k + 3].iter_mut().zip(&sum) {
                    *d = (s / n) as u8;
                }
                let (add, sub) = (at(o, i as i64 + radius + 1), at(o, i as i64 - radius));
                for (c, s) in sum.iter_mut().enumerate() {
                    *s = *s + src[add + c] as u32 - src[sub + c] as u32;
                }
            }
        }
    };
    pass(&buf, &mut tmp, true);
    pass(&tmp, &mut buf, false);
    for y in 0..h {
        let row = (y1 as usize + y) * stride + x1 as usize * 3;
        rgb[row..row + w * 3].copy_from_slice(&buf[y * w * 3..(y + 1) * w * 3]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(w: u32, h: u32) -> Vec<u8> {
        let mut s = 0x1234_5678u32;
        (0..w * h * 3)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                s as u8
            })
            .collect()
    }

    #[test]
    fn masks_only_the_region_and_destroys_detail() {
        let (w, h) = (64, 48);
        let orig = noise(w, h);
        let mut px = orig.clone();
        assert_eq!(
            mask_regions(&mut px, w, h, &[BBox::new(10.0, 8.0, 42.0, 40.0)]),
            1
        );
        let stride = w as usize * 3;
        let mut inside_changed = 0;
        for y in 0..h as usize {
            for x in 0..w as usize {
                let i = y * stride + x * 3;
                let inside = (10..42).contains(&x) && (8..40).contains(&y);
                if !inside {
                    assert_eq!(&px[i..i + 3], &orig[i..i + 3], "outside pixel {x},{y}");
                } else if px[i..i + 3] != orig[i..i + 3] {
                    inside_changed += 1;
                }
            }
        }
        assert!(inside_changed > 32 * 32 * 9 / 10, "{inside_changed}");
        // Random noise has a large variance; what is left inside is flat.
        let vals: Vec<f64> = (8..40)
            .flat_map(|y| (10..42).map(move |x| (y, x)))
            .map(|(y, x)| px[y * stride + x * 3] as f64)
            .collect();
        let mean = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / vals.len() as f64;
        assert!(var < 200.0, "variance left inside the mask: {var}");
    }

    /// The running-sum blur gives exactly what summing the whole window at
    /// every pixel (the first implementation) gave.
    #[test]
    fn running_sum_blur_equals_the_window_sum() {
        let (w, h) = (53u32, 37u32);
        let orig = noise(w, h);
        let rect = (5u32, 3u32, 50u32, 31u32);
        let mut fast = orig.clone();
        box_blur(&mut fast, w, rect);
        // Reference: full window sum per pixel, edges clamped to the rect.
        let (rw, rh) = ((rect.2 - rect.0) as i64, (rect.3 - rect.1) as i64);
        let r = (rw.max(rh) / 10).max(2);
        let px = |b: &[u8], x: i64, y: i64, c: usize| -> u32 {
            let x = x.clamp(0, rw - 1) + rect.0 as i64;
            let y = y.clamp(0, rh - 1) + rect.1 as i64;
            b[(y as usize * w as usize + x as usize) * 3 + c] as u32
        };
        let mut tmp = vec![0u8; (rw * rh * 3) as usize];
        for y in 0..rh {
            for x in 0..rw {
                for c in 0..3 {
                    let s: u32 = (-r..=r).map(|d| px(&orig, x + d, y, c)).sum();
                    tmp[((y * rw + x) * 3) as usize + c] = (s / (2 * r + 1) as u32) as u8;
                }
            }
        }
        let mut reference = orig.clone();
        for y in 0..rh {
            for x in 0..rw {
                for c in 0..3 {
                    let s: u32 = (-r..=r)
                        .map(|d| {
                            let yy = (y + d).clamp(0, rh - 1);
                            tmp[((yy * rw + x) * 3) as usize + c] as u32
                        })
                        .sum();
                    let (fx, fy) = (x + rect.0 as i64, y + rect.1 as i64);
                    reference[(fy as usize * w as usize + fx as usize) * 3 + c] =
                        (s / (2 * r + 1) as u32) as u8;
                }
            }
        }
        assert_eq!(fast, reference);
    }

    #[test]
    fn bad_regions_are_ignored() {
        let mut px = noise(16, 16);
        let orig = px.clone();
        let n = mask_regions(
            &mut px,
            16,
            16,
            &[
                BBox::new(f32::NAN, 0.0, 4.0, 4.0),
                BBox::new(30.0, 30.0, 40.0, 40.0),
            ],
        );
        assert_eq!(n, 0);
        assert_eq!(px, orig);
        // A wrong buffer size masks nothing rather than panicking.
        assert_eq!(
            mask_regions(&mut px[1..], 16, 16, &[BBox::new(0.0, 0.0, 8.0, 8.0)]),
            0
        );
    }

    #[test]
    fn plate_band_is_the_lower_part_of_the_vehicle() {
        let v = BBox::new(100.0, 100.0, 300.0, 200.0);
        let p = plate_region(v);
        assert!(p.y1 > 130.0 && p.y1 < 135.0, "{p:?}");
        assert!(p.y2 >= 200.0 && p.x1 <= 100.0 && p.x2 >= 300.0, "{p:?}");
        // A front plate (centre, 80 % down) and a side view's rear plate
        // (near an end) are inside.
        for (x, y) in [(200.0, 180.0), (110.0, 175.0)] {
            assert!(p.x1 <= x && x <= p.x2 && p.y1 <= y && y <= p.y2, "{x},{y}");
        }
    }

    #[test]
    fn head_is_the_top_of_the_person() {
        let h = head_region(BBox::new(100.0, 50.0, 150.0, 250.0));
        assert!(h.y1 < 50.0 + 1.0 && h.y2 < 50.0 + 0.3 * 200.0 && h.y2 > 50.0 + 0.2 * 200.0);
        assert!(h.x1 > 100.0 && h.x2 < 150.0);
    }
}
