//! Detect → quality → align → embed, in one object, and enrolment rules.

use crate::align::{align_face, ALIGNED_SIZE};
use crate::detect::{Face, FaceDetector, FaceDetectorConfig};
use crate::embed::{FaceEmbedder, FACEPLUGIN_512};
use crate::error::{FacesError, Refusal};
use crate::quality::{laplacian_variance, pose_from_landmarks, AntiSpoof, Quality, QualityGate};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;
use vision::{ModelManifest, SessionConfig};

#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FacePipelineConfig {
    pub detector: FaceDetectorConfig,
    /// Manifest key of the embedder.
    pub embedder: String,
    pub gate: QualityGate,
    /// Also run MiniFASNet V1SE (upstream averages V2 and V1SE).
    pub anti_spoof_v1se: bool,
    /// Session settings of the embedder and anti-spoofing models.
    pub session: SessionConfig,
}

impl Default for FacePipelineConfig {
    fn default() -> Self {
        FacePipelineConfig {
            detector: FaceDetectorConfig::default(),
            embedder: FACEPLUGIN_512.into(),
            gate: QualityGate::default(),
            anti_spoof_v1se: true,
            session: SessionConfig::default(),
        }
    }
}

/// One detected face after the quality gate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AnalyzedFace {
    pub face: Face,
    pub quality: Quality,
    /// Why the face failed the gate; empty = it passed.
    pub rejected: Vec<String>,
    /// L2-normalised embedding, only for faces that passed the gate: a
    /// rejected face is never matched, so it is not embedded either.
    #[serde(skip)]
    pub embedding: Option<Vec<f32>>,
}

impl AnalyzedFace {
    pub fn passed(&self) -> bool {
        self.rejected.is_empty()
    }
}

/// Milliseconds spent per stage since the pipeline was created.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTotals {
    pub images: u64,
    pub faces: u64,
    pub embedded: u64,
    pub detect_ms: f64,
    pub quality_ms: f64,
    pub align_ms: f64,
    pub embed_ms: f64,
}

pub struct FacePipeline {
    detector: FaceDetector,
    embedder: FaceEmbedder,
    anti_spoof: Option<AntiSpoof>,
    gate: QualityGate,
    pub totals: StageTotals,
}

impl std::fmt::Debug for FacePipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FacePipeline")
            .field("detector", &self.detector)
            .field("embedder", &self.embedder)
            .field("gate", &self.gate)
            .finish()
    }
}

impl FacePipeline {
    /// Loads every model (sha256-verified) from the embedded manifest and
    /// `KUZET_MODELS`.
    pub fn from_env(cfg: FacePipelineConfig) -> Result<Self, FacesError> {
        Self::new(&ModelManifest::embedded(), &base::env::models_dir(), cfg)
    }

    pub fn new(
        manifest: &ModelManifest,
        models_dir: &Path,
        cfg: FacePipelineConfig,
    ) -> Result<Self, FacesError> {
        cfg.gate.validate()?;
        let detector = FaceDetector::new(manifest, models_dir, cfg.detector.clone())?;
        let embedder = FaceEmbedder::new(manifest, &cfg.embedder, models_dir, &cfg.session)?;
        let anti_spoof = if cfg.gate.min_liveness > 0.0 {
            Some(AntiSpoof::new(
                manifest,
                models_dir,
                &cfg.session,
                cfg.anti_spoof_v1se,
            )?)
        } else {
            None
        };
        Ok(FacePipeline {
            detector,
            embedder,
            anti_spoof,
            gate: cfg.gate,
            totals: StageTotals::default(),
        })
    }

    /// Manifest key of the embedder, stored with every template.
    pub fn model_key(&self) -> &str {
        self.embedder.model_key()
    }

    pub fn gate(&self) -> &QualityGate {
        &self.gate
    }

    /// Every face in a packed RGB8 image, highest detector score first (on a
    /// large photo, faces under the gate's `min_size` may be missing: the
    /// detector pass that only finds such faces is skipped). Checks
    /// run cheapest first (size, pose, sharpness, then liveness) and stop at
    /// the first failure group, so crowds of tiny faces cost little.
    pub fn analyze(&mut self, rgb: &[u8], w: u32, h: u32) -> Result<Vec<AnalyzedFace>, FacesError> {
        // Faces under the gate's min_size are never embedded, so a detector
        // pass that could only add such faces is skipped.
        let faces = self
            .detector
            .detect_min_face(rgb, w, h, self.gate.min_size)?;
        self.totals.images += 1;
        self.totals.detect_ms += self.detector.last_ms;
        let mut out = Vec::with_capacity(faces.len());
        for face in faces {
            self.totals.faces += 1;
            let t0 = Instant::now();
            let (yaw, roll) = pose_from_landmarks(&face.landmarks);
            let eye = &face.landmarks;
            let mut q = Quality {
                size: face.bbox.width().min(face.bbox.height()),
                eye_distance: (eye[1].x - eye[0].x).hypot(eye[1].y - eye[0].y),
                det_score: face.score,
                sharpness: 0.0,
                yaw,
                roll,
                liveness: None,
            };
            let t1 = Instant::now();
            let aligned = align_face(rgb, w, h, &face.landmarks);
            let t2 = Instant::now();
            self.totals.align_ms += (t2 - t1).as_secs_f64() * 1e3;
            let Some((_, crop)) = aligned else {
                out.push(AnalyzedFace {
                    face,
                    quality: q,
                    rejected: vec!["degenerate landmarks".into()],
                    embedding: None,
                });
                continue;
            };
            q.sharpness = laplacian_variance(&crop, ALIGNED_SIZE, ALIGNED_SIZE);
            let mut rejected = self.gate.failures(&q);
            if rejected.is_empty() {
                if let Some(a) = &mut self.anti_spoof {
                    q.liveness = Some(a.p_real(rgb, w, h, &face)?);
                    rejected = self.gate.failures(&q);
                }
            }
            self.totals.quality_ms += (t1 - t0 + t2.elapsed()).as_secs_f64() * 1e3;
            let embedding = if rejected.is_empty() {
                let t3 = Instant::now();
                let e = self.embedder.embed(&crop)?;
                self.totals.embed_ms += t3.elapsed().as_secs_f64() * 1e3;
                self.totals.embedded += 1;
                Some(e)
            } else {
                None
            };
            out.push(AnalyzedFace {
                face,
                quality: q,
                rejected,
                embedding,
            });
        }
        Ok(out)
    }

    /// [`FacePipeline::analyze`] of a decoded image.
    pub fn analyze_image(
        &mut self,
        img: &image::RgbImage,
    ) -> Result<Vec<AnalyzedFace>, FacesError> {
        self.analyze(img.as_raw(), img.width(), img.height())
    }

    /// The face to enrol from one photo, or why the photo is refused: no
    /// face; more than one face at least `min_size` large (unless `largest`,
    /// which takes the largest box); or the chosen face fails the gate.
    pub fn enrolment_face(
        &mut self,
        img: &image::RgbImage,
        largest: bool,
    ) -> Result<Result<AnalyzedFace, Refusal>, FacesError> {
        let faces = self.analyze_image(img)?;
        Ok(choose_enrolment_face(faces, largest, self.gate.min_size))
    }
}

/// The enrolment rule on already analysed faces (see
/// [`FacePipeline::enrolment_face`]).
pub fn choose_enrolment_face(
    faces: Vec<AnalyzedFace>,
    largest: bool,
    min_size: f32,
) -> Result<AnalyzedFace, Refusal> {
    if faces.is_empty() {
        return Err(Refusal::NoFace {
            min_size: min_size as u32,
        });
    }
    let big = faces.iter().filter(|f| f.quality.size >= min_size).count();
    if big > 1 && !largest {
        return Err(Refusal::SeveralFaces { count: big });
    }
    let chosen = faces
        .into_iter()
        .max_by(|a, b| a.face.bbox.area().total_cmp(&b.face.bbox.area()))
        .expect("not empty");
    if chosen.passed() {
        Ok(chosen)
    } else {
        Err(Refusal::LowQuality {
            reasons: chosen.rejected.join(", "),
        })
    }
}
