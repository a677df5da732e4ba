//! Helpers shared by the integration tests.
#![allow(dead_code)]

use base::{Frame, SystemClock};
use kuzet_media::{open, MediaError, SourceOptions, SourceSpec};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub fn video(name: &str) -> PathBuf {
    base::env::require_data(&format!("videos/{name}"))
}

/// Pixels are kept for this many leading frames only: a full video of
/// 768x576 frames would take a gigabyte.
pub const KEEP_PIXELS: usize = 16;

/// Every frame of a source up to its end or first error (pixels checked for
/// size, and kept for the first [`KEEP_PIXELS`] frames).
pub fn drain(spec: &SourceSpec, opts: &SourceOptions) -> (Vec<Frame>, Option<MediaError>) {
    let mut src = match open(spec, opts, Arc::new(SystemClock)) {
        Ok(s) => s,
        Err(e) => return (Vec::new(), Some(e)),
    };
    let mut frames = Vec::new();
    loop {
        match src.next_frame() {
            Ok(Some(mut f)) => {
                assert_eq!(f.rgb.len(), f.width as usize * f.height as usize * 3);
                if frames.len() >= KEEP_PIXELS {
                    f.rgb = Arc::new(Vec::new());
                }
                frames.push(f)
            }
            Ok(None) => return (frames, None),
            Err(e) => {
                // After reporting, the source is finished.
                assert!(matches!(src.next_frame(), Ok(None)));
                return (frames, Some(e));
            }
        }
    }
}

/// Writes the first `fraction` of `src`'s bytes to `dir/name`.
pub fn truncated_copy(src: &Path, dir: &Path, name: &str, fraction: f64) -> PathBuf {
    let bytes = std::fs::read(src).unwrap();
    let n = (bytes.len() as f64 * fraction) as usize;
    let out = dir.join(name);
    std::fs::write(&out, &bytes[..n]).unwrap();
    out
}
