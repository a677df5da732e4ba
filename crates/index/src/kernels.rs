//! Dot-product kernels and int8 scalar quantisation.
//!
//! Graph traversal is dominated by distance computations on vectors that are
//! not in cache, so the traversal works on int8 codes (a quarter of the bytes
//! of f32) and only the final candidates are scored in f32. The kernels are
//! plain loops the compiler vectorises, compiled twice: once for the baseline
//! target and once with AVX2/FMA enabled, chosen at run time. The int8 AVX2
//! path uses intrinsics because the `maddubs` trick (32 products per
//! instruction) is not something the auto-vectoriser finds.

/// Largest code magnitude. -128 is never produced, which keeps every pair sum
/// of `maddubs` (2·127·127 = 32258) inside i16 without saturation.
pub(crate) const CODE_MAX: f32 = 127.0;

/// The kernels picked for this CPU. Function pointers rather than per-call
/// feature checks so that the hot loops carry no branching on the CPU model.
#[derive(Clone, Copy)]
pub(crate) struct Kernels {
    pub dot_i8: fn(&[i8], &[i8]) -> i32,
    pub dot_f32: fn(&[f32], &[f32]) -> f32,
}

impl Kernels {
    pub fn detect() -> Kernels {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return Kernels {
                    dot_i8: x86::dot_i8_avx2_entry,
                    dot_f32: x86::dot_f32_avx2_entry,
                };
            }
        }
        Kernels::portable()
    }

    pub fn portable() -> Kernels {
        Kernels {
            dot_i8: dot_i8_portable,
            dot_f32: dot_f32_portable,
        }
    }
}

/// Quantises `v` into `out` with one scale per vector; returns the scale so
/// that `v[i] ≈ out[i] as f32 * scale`. A per-vector scale needs no training
/// pass, so incremental inserts never invalidate earlier codes.
pub(crate) fn quantise(v: &[f32], out: &mut [i8]) -> f32 {
    let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        out.iter_mut().for_each(|c| *c = 0);
        return 0.0;
    }
    let inv = CODE_MAX / max;
    for (c, x) in out.iter_mut().zip(v) {
        *c = (x * inv).round().clamp(-CODE_MAX, CODE_MAX) as i8;
    }
    max / CODE_MAX
}

#[inline(always)]
fn dot_i8_generic(a: &[i8], b: &[i8]) -> i32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0i32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            acc[i] += x[i] as i32 * y[i] as i32;
        }
    }
    let mut s: i32 = acc.iter().sum();
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += *x as i32 * *y as i32;
    }
    s
}

#[inline(always)]
fn dot_f32_generic(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    // Independent lanes: the compiler may vectorise them without reassociating.
    let mut acc = [0f32; 16];
    let mut ca = a.chunks_exact(16);
    let mut cb = b.chunks_exact(16);
    for (x, y) in (&mut ca).zip(&mut cb) {
        for i in 0..16 {
            acc[i] += x[i] * y[i];
        }
    }
    let mut s = 0.0f32;
    for pair in acc.chunks_exact(2) {
        s += pair[0] + pair[1];
    }
    for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
        s += x * y;
    }
    s
}

pub(crate) fn dot_i8_portable(a: &[i8], b: &[i8]) -> i32 {
    dot_i8_generic(a, b)
}

pub(crate) fn dot_f32_portable(a: &[f32], b: &[f32]) -> f32 {
    dot_f32_generic(a, b)
}

/// Hints the CPU to start loading `p`'s cache line; a no-op off x86-64.
#[inline(always)]
pub(crate) fn prefetch<T>(p: *const T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: prefetch never faults, whatever the address; SSE is part of
        // the x86-64 baseline.
        #[allow(unused_unsafe)]
        unsafe {
            _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    pub(super) fn dot_i8_avx2_entry(a: &[i8], b: &[i8]) -> i32 {
        // SAFETY: `Kernels::detect` installs this entry only after checking
        // that the CPU supports AVX2.
        unsafe { dot_i8_avx2(a, b) }
    }

    pub(super) fn dot_f32_avx2_entry(a: &[f32], b: &[f32]) -> f32 {
        // SAFETY: installed only after AVX2 and FMA were detected.
        unsafe { dot_f32_avx2(a, b) }
    }

    #[target_feature(enable = "avx2,fma")]
    unsafe fn dot_f32_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        let mut acc = [0f32; 16];
        let mut ca = a.chunks_exact(16);
        let mut cb = b.chunks_exact(16);
        for (x, y) in (&mut ca).zip(&mut cb) {
            for i in 0..16 {
                acc[i] = x[i].mul_add(y[i], acc[i]);
            }
        }
        let mut s = 0.0f32;
        for pair in acc.chunks_exact(2) {
            s += pair[0] + pair[1];
        }
        for (x, y) in ca.remainder().iter().zip(cb.remainder()) {
            s += x * y;
        }
        s
    }

    #[target_feature(enable = "avx2")]
    unsafe fn dot_i8_avx2(a: &[i8], b: &[i8]) -> i32 {
        let n = a.len().min(b.len());
        let ones = _mm256_set1_epi16(1);
        let mut acc0 = _mm256_setzero_si256();
        let mut acc1 = _mm256_setzero_si256();
        let mut i = 0;
        while i + 64 <= n {
            // SAFETY: i + 64 <= n <= len of both slices; unaligned loads.
            let (va0, vb0, va1, vb1) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i),
                    _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i),
                    _mm256_loadu_si256(a.as_ptr().add(i + 32) as *const __m256i),
                    _mm256_loadu_si256(b.as_ptr().add(i + 32) as *const __m256i),
                )
            };
            // |a| · (b with a's sign) == a · b, in the u8 × i8 form maddubs wants.
            let p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(va0, va0), _mm256_sign_epi8(vb0, va0));
            let p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(va1, va1), _mm256_sign_epi8(vb1, va1));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p0, ones));
            acc1 = _mm256_add_epi32(acc1, _mm256_madd_epi16(p1, ones));
            i += 64;
        }
        while i + 32 <= n {
            // SAFETY: i + 32 <= n <= len of both slices.
            let (va, vb) = unsafe {
                (
                    _mm256_loadu_si256(a.as_ptr().add(i) as *const __m256i),
                    _mm256_loadu_si256(b.as_ptr().add(i) as *const __m256i),
                )
            };
            let p = _mm256_maddubs_epi16(_mm256_sign_epi8(va, va), _mm256_sign_epi8(vb, va));
            acc0 = _mm256_add_epi32(acc0, _mm256_madd_epi16(p, ones));
            i += 32;
        }
        let acc = _mm256_add_epi32(acc0, acc1);
        let lo = _mm256_castsi256_si128(acc);
        let hi = _mm256_extracti128_si256::<1>(acc);
        let s4 = _mm_add_epi32(lo, hi);
        let s2 = _mm_add_epi32(s4, _mm_shuffle_epi32::<0b01_00_11_10>(s4));
        let s1 = _mm_add_epi32(s2, _mm_shuffle_epi32::<0b10_11_00_01>(s2));
        let mut s = _mm_cvtsi128_si32(s1);
        while i < n {
            s += a[i] as i32 * b[i] as i32;
            i += 1;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn simd_matches_portable() {
        let k = Kernels::detect();
        let mut seed = 7u64;
        let mut next = || {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) as u32
        };
        for len in [0usize, 1, 31, 32, 33, 64, 100, 512, 515] {
            let a: Vec<i8> = (0..len)
                .map(|_| (next() % 255) as i32 as i8)
                .map(|x| x.max(-127))
                .collect();
            let b: Vec<i8> = (0..len)
                .map(|_| (next() % 255) as i32 as i8)
                .map(|x| x.max(-127))
                .collect();
            assert_eq!((k.dot_i8)(&a, &b), dot_i8_portable(&a, &b), "len {len}");
            let fa: Vec<f32> = a.iter().map(|&x| x as f32 / 100.0).collect();
            let fb: Vec<f32> = b.iter().map(|&x| x as f32 / 100.0).collect();
            let d = (k.dot_f32)(&fa, &fb) - dot_f32_portable(&fa, &fb);
            assert!(d.abs() < 1e-3, "len {len}: {d}");
        }
    }

    #[test]
    fn quantise_round_trips_closely() {
        let v: Vec<f32> = (0..512).map(|i| ((i as f32) * 0.37).sin() / 16.0).collect();
        let mut c = vec![0i8; 512];
        let s = quantise(&v, &mut c);
        for (x, q) in v.iter().zip(&c) {
            assert!((x - *q as f32 * s).abs() <= s * 0.5 + 1e-7);
        }
    }
}
