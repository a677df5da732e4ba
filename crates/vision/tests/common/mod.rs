//! Shared helpers for the integration tests: real images into `Frame`s.

#![allow(dead_code)]

use base::{Detection, Frame};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

/// Decodes a JPEG/PNG into a packed RGB8 frame.
pub fn load_frame(path: &Path) -> Frame {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("cannot decode {}: {e}", path.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    Frame::new(
        Arc::from(path.file_stem().unwrap().to_string_lossy().as_ref()),
        0,
        Default::default(),
        0,
        w,
        h,
        img.into_raw(),
    )
}

/// A model image from `KUZET_MODELS/testdata`, panicking with the variable's
/// name when the models are absent.
pub fn model_testdata(rel: &str) -> Frame {
    let p = base::env::require_models().join("testdata").join(rel);
    assert!(p.exists(), "{} missing: set KUZET_MODELS", p.display());
    load_frame(&p)
}

/// A development image from `KUZET_DATA`.
pub fn data_image(rel: &str) -> Frame {
    load_frame(&base::env::require_data(rel))
}

/// Resizes a frame (nearest neighbour: only for building synthetic inputs).
pub fn resize_nearest(f: &Frame, w: u32, h: u32) -> Frame {
    let mut rgb = vec![0u8; (w * h * 3) as usize];
    for y in 0..h {
        let sy = (y as u64 * f.height as u64 / h as u64) as usize;
        for x in 0..w {
            let sx = (x as u64 * f.width as u64 / w as u64) as usize;
            let s = (sy * f.width as usize + sx) * 3;
            let d = ((y * w + x) * 3) as usize;
            rgb[d..d + 3].copy_from_slice(&f.rgb[s..s + 3]);
        }
    }
    Frame::new(f.camera.clone(), f.seq, f.ts, f.pts_ms, w, h, rgb)
}

pub fn count(dets: &[Detection], labels: &[&str]) -> usize {
    dets.iter().filter(|d| labels.contains(&&*d.label)).count()
}

pub fn describe(dets: &[Detection]) -> String {
    dets.iter()
        .map(|d| {
            format!(
                "{} {:.2} [{:.0},{:.0},{:.0},{:.0}]",
                d.label, d.score, d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2
            )
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Serialises the model tests: two cores, and timings are only meaningful
/// when sessions do not compete.
pub fn serial() -> MutexGuard<'static, ()> {
    static M: OnceLock<Mutex<()>> = OnceLock::new();
    M.get_or_init(|| Mutex::new(()))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}
