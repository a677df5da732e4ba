//! What a configured source string means.

use crate::error::MediaError;
use std::fmt;
use std::path::{Path, PathBuf};

/// Extensions decoded as still images rather than handed to FFmpeg, so that
/// snapshot cameras (a JPEG rewritten every few seconds, or a folder of them)
/// run through the same pipeline as video.
pub const IMAGE_EXTENSIONS: &[&str] = &["jpg", "jpeg", "png", "bmp"];

/// A parsed source. Parsing touches the file system (to tell a folder from a
/// file) but opens nothing, so a config can be validated before any decoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceSpec {
    /// `rtsp://` or `rtsps://` URL, kept verbatim (credentials included).
    Rtsp(String),
    /// A video file for FFmpeg.
    File(PathBuf),
    /// A single still image.
    Image(PathBuf),
    /// A folder of still images, played in file-name order.
    Folder(PathBuf),
}

impl SourceSpec {
    /// Parses a configured source: an RTSP URL, `file://` URL or a path.
    pub fn parse(s: &str) -> Result<SourceSpec, MediaError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(MediaError::Unsupported {
                spec: s.to_string(),
            });
        }
        if let Some((scheme, rest)) = s.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            return match scheme.as_str() {
                "rtsp" | "rtsps" if !rest.is_empty() => Ok(SourceSpec::Rtsp(s.to_string())),
                "file" => Self::from_path(percent_decode(rest)),
                _ => Err(MediaError::Unsupported {
                    spec: redact_url(s),
                }),
            };
        }
        Self::from_path(s)
    }

    /// Classifies a local path: folder, image (by extension) or video file.
    pub fn from_path(path: impl AsRef<Path>) -> Result<SourceSpec, MediaError> {
        let path = path.as_ref();
        let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => MediaError::NotFound {
                path: path.to_path_buf(),
            },
            _ => MediaError::Io {
                path: path.to_path_buf(),
                source: e,
            },
        })?;
        if meta.is_dir() {
            Ok(SourceSpec::Folder(path.to_path_buf()))
        } else if is_image_path(path) {
            Ok(SourceSpec::Image(path.to_path_buf()))
        } else {
            Ok(SourceSpec::File(path.to_path_buf()))
        }
    }

    /// Network streams have no end: the runner reconnects instead of finishing.
    pub fn is_live(&self) -> bool {
        matches!(self, SourceSpec::Rtsp(_))
    }
}

/// Shows URLs with the password masked, because specs are logged and shown in
/// the camera status API.
impl fmt::Display for SourceSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SourceSpec::Rtsp(u) => f.write_str(&redact_url(u)),
            SourceSpec::File(p) | SourceSpec::Image(p) | SourceSpec::Folder(p) => {
                write!(f, "{}", p.display())
            }
        }
    }
}

pub(crate) fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
        .unwrap_or(false)
}

pub use base::url::redact_url;

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push(h * 16 + l);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rtsp_urls_are_live() {
        let s = SourceSpec::parse("rtsp://admin:pw@10.0.0.5:554/Streaming/101").unwrap();
        assert_eq!(
            s,
            SourceSpec::Rtsp("rtsp://admin:pw@10.0.0.5:554/Streaming/101".into())
        );
        assert!(s.is_live());
        assert_eq!(s.to_string(), "rtsp://admin:***@10.0.0.5:554/Streaming/101");
        assert!(matches!(
            SourceSpec::parse("RTSPS://cam/x").unwrap(),
            SourceSpec::Rtsp(_)
        ));
    }

    #[test]
    fn local_paths_are_classified() {
        let dir = tempfile::tempdir().unwrap();
        let img = dir.path().join("snap.JPG");
        let vid = dir.path().join("clip.mkv");
        std::fs::write(&img, b"x").unwrap();
        std::fs::write(&vid, b"x").unwrap();
        assert_eq!(
            SourceSpec::parse(dir.path().to_str().unwrap()).unwrap(),
            SourceSpec::Folder(dir.path().into())
        );
        assert_eq!(
            SourceSpec::parse(img.to_str().unwrap()).unwrap(),
            SourceSpec::Image(img.clone())
        );
        assert_eq!(
            SourceSpec::parse(vid.to_str().unwrap()).unwrap(),
            SourceSpec::File(vid.clone())
        );
        let url = format!("file://{}", vid.display());
        assert_eq!(SourceSpec::parse(&url).unwrap(), SourceSpec::File(vid));
        assert!(!SourceSpec::parse(&url).unwrap().is_live());
    }

    #[test]
    fn file_urls_are_percent_decoded() {
        let dir = tempfile::tempdir().unwrap();
        let vid = dir.path().join("my clip.mp4");
        std::fs::write(&vid, b"x").unwrap();
        let url = format!("file://{}/my%20clip.mp4", dir.path().display());
        assert_eq!(SourceSpec::parse(&url).unwrap(), SourceSpec::File(vid));
    }

    #[test]
    fn bad_specs_are_named() {
        let e = SourceSpec::parse("/no/such/video.mp4").unwrap_err();
        assert!(matches!(e, MediaError::NotFound { .. }));
        assert!(
            e.to_string()
                .starts_with("no such file or directory: /no/such/video.mp4"),
            "{e}"
        );
        let e = SourceSpec::parse("http://user:pw@cam/stream").unwrap_err();
        assert!(matches!(e, MediaError::Unsupported { .. }));
        assert!(!e.to_string().contains("pw@"), "{e}");
        assert!(matches!(
            SourceSpec::parse("   ").unwrap_err(),
            MediaError::Unsupported { .. }
        ));
        assert!(matches!(
            SourceSpec::parse("rtsp://").unwrap_err(),
            MediaError::Unsupported { .. }
        ));
    }
}
