//! Image files to packed RGB8, and content hashes.

use crate::error::FireError;
use sha2::{Digest, Sha256};
use std::path::Path;

/// A decoded still: packed RGB8, no row padding.
#[derive(Clone, Debug)]
pub struct RgbImage {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl RgbImage {
    /// Mirror left-right (training augmentation).
    pub fn flipped(&self) -> RgbImage {
        let w = self.width as usize;
        let mut out = Vec::with_capacity(self.rgb.len());
        for row in self.rgb.chunks_exact(w * 3) {
            for px in row.chunks_exact(3).rev() {
                out.extend_from_slice(px);
            }
        }
        RgbImage {
            width: self.width,
            height: self.height,
            rgb: out,
        }
    }
}

/// Decodes a JPEG/PNG by content (not extension); errors name the file.
pub fn load_rgb(path: &Path) -> Result<RgbImage, FireError> {
    let bytes = std::fs::read(path).map_err(|e| FireError::io(path, e))?;
    decode_rgb(&bytes, path)
}

/// As [`load_rgb`] for bytes already read (so hashing and decoding share one read).
pub fn decode_rgb(bytes: &[u8], path: &Path) -> Result<RgbImage, FireError> {
    let img = image::ImageReader::new(std::io::Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| FireError::Image {
            path: path.into(),
            reason: e.to_string(),
        })?
        .decode()
        .map_err(|e| FireError::Image {
            path: path.into(),
            reason: e.to_string(),
        })?
        .to_rgb8();
    let (width, height) = img.dimensions();
    if width == 0 || height == 0 {
        return Err(FireError::Image {
            path: path.into(),
            reason: "empty image".into(),
        });
    }
    Ok(RgbImage {
        width,
        height,
        rgb: img.into_raw(),
    })
}

/// Lower-case hex sha256 of bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One row of a `path,class,...` labels file.
pub struct LabelRow {
    /// 1-based line number in the file, for error messages.
    pub line: usize,
    /// Path relative to the data root, trimmed.
    pub path: String,
    /// Class name, trimmed.
    pub class: String,
}

/// Reads a labels CSV with `path` and `class` columns (any order, more
/// columns allowed); blank lines are skipped, an empty list is an error.
pub fn read_label_rows(csv: &Path) -> Result<Vec<LabelRow>, FireError> {
    let text = std::fs::read_to_string(csv).map_err(|e| FireError::io(csv, e))?;
    let table = base::labels_csv::Table::parse(&text);
    let col = |name: &str| {
        table.column(name).ok_or_else(|| {
            FireError::data(
                csv,
                format!("no `{name}` column in header {:?}", table.header),
            )
        })
    };
    let (pc, cc) = (col("path")?, col("class")?);
    let mut out = Vec::new();
    for row in &table.rows {
        let (Some(p), Some(c)) = (row.get(pc), row.get(cc)) else {
            return Err(FireError::data(
                csv,
                format!("line {} has too few fields", row.line),
            ));
        };
        out.push(LabelRow {
            line: row.line,
            path: p.to_string(),
            class: c.to_string(),
        });
    }
    if out.is_empty() {
        return Err(FireError::data(csv, "no images listed"));
    }
    Ok(out)
}
