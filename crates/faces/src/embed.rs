//! Face embedding of an aligned 112×112 crop, L2-normalised so that the dot
//! product of two embeddings is their cosine similarity.
//!
//! The model is a manifest key (default `faceplugin_fr_512`: RGB,
//! (x−127)/128, 512-d). Colour order and normalisation are read from the
//! manifest entry, so another embedder with the same 112×112 contract (e.g.
//! `mobilefacenet_128`, (x−127.5)/128) is swapped in by key alone.

use crate::align::ALIGNED_SIZE;
use crate::error::FacesError;
use ort::value::TensorRef;
use std::path::Path;
use vision::{load_session, ModelManifest, ModelSession, SessionConfig};

/// Manifest key of the default embedder.
pub const FACEPLUGIN_512: &str = "faceplugin_fr_512";
/// Embedding size of the default model (the index of an empty store starts
/// with it; it is replaced by the first vector's size if that differs).
pub const FACEPLUGIN_DIM: usize = 512;

pub struct FaceEmbedder {
    session: ModelSession,
    key: String,
    dim: usize,
    bgr: bool,
    mean: f32,
    scale: f32,
    input: Vec<f32>,
}

impl std::fmt::Debug for FaceEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEmbedder")
            .field("key", &self.key)
            .field("dim", &self.dim)
            .finish()
    }
}

/// Parses the manifest's `(x-M)/S` normalisation into (M, 1/S).
fn parse_normalisation(s: &str) -> Option<(f32, f32)> {
    let t: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = t.strip_prefix("(x-")?;
    let (m, rest) = rest.split_once(")/")?;
    let (m, d): (f32, f32) = (m.parse().ok()?, rest.parse().ok()?);
    (d != 0.0).then_some((m, 1.0 / d))
}

impl FaceEmbedder {
    /// Verifies and loads the embedder `key`; refuses a model whose input is
    /// not [1, 3, 112, 112] or whose normalisation is not `(x-M)/S`.
    pub fn new(
        manifest: &ModelManifest,
        key: &str,
        models_dir: &Path,
        session: &SessionConfig,
    ) -> Result<Self, FacesError> {
        let entry = manifest.get(key)?;
        let bad = |reason: String| FacesError::Config(format!("embedder `{key}`: {reason}"));
        let spec = entry
            .input
            .as_ref()
            .ok_or_else(|| bad("no input spec in the manifest".into()))?;
        let side = i64::from(ALIGNED_SIZE);
        if !matches!(spec.shape.as_slice(), [_, 3, h, w] if *h == side && *w == side) {
            return Err(bad(format!(
                "input shape {:?} is not [1, 3, 112, 112]",
                spec.shape
            )));
        }
        let (mean, scale) = parse_normalisation(&spec.normalisation).ok_or_else(|| {
            bad(format!(
                "normalisation {:?} is not of the form (x-M)/S",
                spec.normalisation
            ))
        })?;
        let bgr = match spec.colour.to_ascii_uppercase().as_str() {
            "RGB" => false,
            "BGR" => true,
            other => return Err(bad(format!("colour {other:?} is neither RGB nor BGR"))),
        };
        let dim = entry
            .outputs
            .first()
            .and_then(|o| o.shape.last().copied())
            .filter(|&d| d > 0)
            .ok_or_else(|| bad("output has no fixed embedding size".into()))?
            as usize;
        let session = load_session(manifest, key, models_dir, session)?;
        Ok(FaceEmbedder {
            session,
            key: key.to_owned(),
            dim,
            bgr,
            mean,
            scale,
            input: vec![0.0; 3 * (ALIGNED_SIZE * ALIGNED_SIZE) as usize],
        })
    }

    /// Manifest key of the model (stored with every template).
    pub fn model_key(&self) -> &str {
        &self.key
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Embeds an aligned 112×112 packed RGB8 crop.
    pub fn embed(&mut self, aligned_rgb: &[u8]) -> Result<Vec<f32>, FacesError> {
        let plane = (ALIGNED_SIZE * ALIGNED_SIZE) as usize;
        if aligned_rgb.len() != plane * 3 {
            return Err(FacesError::InvalidImage(format!(
                "aligned crop has {} bytes, expected 112x112 RGB8 ({} bytes)",
                aligned_rgb.len(),
                plane * 3
            )));
        }
        let (c0, c2) = if self.bgr { (2, 0) } else { (0, 2) };
        for (i, px) in aligned_rgb.chunks_exact(3).enumerate() {
            self.input[i] = (f32::from(px[c0]) - self.mean) * self.scale;
            self.input[plane + i] = (f32::from(px[1]) - self.mean) * self.scale;
            self.input[2 * plane + i] = (f32::from(px[c2]) - self.mean) * self.scale;
        }
        let s = ALIGNED_SIZE as usize;
        let tensor = TensorRef::from_array_view(([1usize, 3, s, s], &self.input[..]))?;
        let outputs = self.session.session.run(ort::inputs![tensor])?;
        let (_, v) = outputs[0].try_extract_tensor::<f32>()?;
        if v.len() != self.dim {
            return Err(FacesError::ModelOutput {
                key: self.key.clone(),
                reason: format!("{} values, expected {}", v.len(), self.dim),
            });
        }
        let mut e = v.to_vec();
        l2_normalise(&mut e).ok_or_else(|| FacesError::ModelOutput {
            key: self.key.clone(),
            reason: "a zero or non-finite embedding".into(),
        })?;
        Ok(e)
    }
}

/// Scales `v` to unit length; `None` if it is zero or not finite.
pub fn l2_normalise(v: &mut [f32]) -> Option<()> {
    let n = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if !(n.is_finite() && n > 0.0) {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= n);
    Some(())
}

/// Cosine similarity of two unit vectors (their dot product).
pub fn cosine(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_strings() {
        assert_eq!(
            parse_normalisation("(x-127)/128"),
            Some((127.0, 1.0 / 128.0))
        );
        assert_eq!(
            parse_normalisation("(x - 127.5) / 128"),
            Some((127.5, 1.0 / 128.0))
        );
        assert_eq!(parse_normalisation("raw 0-255"), None);
        assert_eq!(parse_normalisation("(x-1)/0"), None);
    }

    #[test]
    fn unit_vectors() {
        let mut v = vec![3.0, 4.0];
        l2_normalise(&mut v).unwrap();
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-6);
        assert!(l2_normalise(&mut [0.0, 0.0]).is_none());
    }
}
