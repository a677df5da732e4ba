//! Faces for kuzet: detection, alignment, embedding, quality, watchlist
//! matching and evaluation (issue 3, first increment).
//!
//! # Pipeline
//!
//! [`FacePipeline`] runs, per image:
//! 1. [`FaceDetector`]: YuNet-n with 5 landmarks, at a capped long side plus
//!    a finer second scale on large (or upsampled small) images.
//! 2. Quality ([`Quality`]): box size, eye distance, pose (yaw/roll from the
//!    landmarks), sharpness (variance of the Laplacian of the aligned crop),
//!    and anti-spoofing p(real) from MiniFASNet V2 (+V1SE).
//! 3. [`align_face`]: least-squares similarity (Umeyama) from the landmarks to
//!    the ArcFace 112×112 template, bilinear warp.
//! 4. [`FaceEmbedder`]: `faceplugin_fr_512` (or any manifest key with the
//!    same 112×112 contract), L2-normalised.
//!
//! Faces failing the [`QualityGate`] are reported (counted) but never
//! embedded, matched or enrolled.
//!
//! # Watchlists and matching
//!
//! Persistence lives in the store (`store::Store::{ensure_watchlist,
//! add_person, persons, remove_person, face_templates}`, migration 0002).
//! [`Gallery`] loads the templates of the embedder's model and answers
//! [`Gallery::search`] by exact cosine scan: top-k persons with score,
//! margin to the next candidate and the decision at each list's threshold
//! ([`DEFAULT_THRESHOLD`] for new lists, chosen from measured scores).
//! [`choose_enrolment_face`] is the enrolment rule: a photo with no face,
//! several faces (unless `largest`) or a face below the gate is refused with
//! a [`Refusal`].
//!
//! # Evaluation
//!
//! [`eval::evaluate`] runs 1:1 verification (TAR at FAR, ROC, AUC, EER) and
//! 1:N identification (rank-1, FNIR at FPIR 0.01) on `<root>/faces/labels.csv`.
//!
//! All fallible calls return [`FacesError`]; bad input is an error naming
//! the problem, never a panic.

pub mod align;
pub mod detect;
pub mod embed;
pub mod error;
pub mod eval;
pub mod imageio;
pub mod live;
pub mod matching;
pub mod pipeline;
pub mod pool;
pub mod quality;
pub mod scrfd;
pub mod service;
pub mod watchlist;

pub use align::{align_face, estimate_similarity, Similarity, ALIGNED_SIZE, ARCFACE_TEMPLATE};
pub use detect::{Face, FaceDetector, FaceDetectorConfig, YUNET};
pub use embed::{cosine, l2_normalise, FaceEmbedder, FACEPLUGIN_512};
pub use error::{FacesError, Refusal};
pub use eval::FaceEvalReport;
pub use imageio::load_photo;
pub use live::{
    group_appearances, Appearance, SightingHit, TrackMatch, TrackVoter, Vote, VoteConfig,
};
pub use matching::{Candidate, Decision, Gallery, SearchResult, DEFAULT_THRESHOLD, DEFAULT_TOP_K};
pub use pipeline::{
    choose_enrolment_face, AnalyzedFace, FacePipeline, FacePipelineConfig, StageTotals,
};
pub use pool::{split_threads, FacePool};
pub use quality::{AntiSpoof, Quality, QualityGate};
pub use scrfd::{Scrfd, ScrfdConfig, SCRFD_2_5G, SCRFD_500M, SCRFD_INPUT};
pub use service::{
    move_local_gallery, FaceService, FaceServiceConfig, GalleryMove, LostOutcome, PhotoSearch,
    CENTRAL_SIGHTING_INDEX, FACES_DIR, LOST_LIST, SIGHTING_INDEX,
};
pub use watchlist::{
    enrol, enrol_with_progress, identify, identify_lists, EnrolOutcome, EnrolRequest,
    IdentifiedFace, RefusedPhoto,
};
