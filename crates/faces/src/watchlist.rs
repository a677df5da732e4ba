//! Enrolment into and identification against the stored watchlists: the
//! glue between [`FacePipeline`], the store and [`Gallery`], kept in the
//! library so the CLI and (later) the HTTP API share one set of rules.

use crate::error::{FacesError, Refusal};
use crate::imageio::load_photo;
use crate::matching::{Gallery, SearchResult};
use crate::pipeline::{AnalyzedFace, FacePipeline};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use store::{LegalBasis, NewTemplate, Person, Store, StoreBackend, Watchlist};

/// Who to enrol.
#[derive(Clone, Debug, Default)]
pub struct EnrolRequest {
    pub name: String,
    pub notes: Option<String>,
    pub legal: LegalBasis,
    pub photos: Vec<PathBuf>,
    /// Enrol the largest face of a multi-face photo instead of refusing it.
    pub largest: bool,
    /// Keep the photo in the evidence store and record its hash with the
    /// template. Off by default: the template alone is needed for matching,
    /// and a photo is personal data to be kept only where policy allows.
    pub keep_photo: bool,
}

/// A photo that was not used, and why.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RefusedPhoto {
    pub path: String,
    pub reason: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EnrolOutcome {
    /// `None` when no photo was accepted (nothing was stored).
    pub person: Option<Person>,
    pub accepted: Vec<String>,
    pub refused: Vec<RefusedPhoto>,
}

/// Why one photo cannot give a template, or the face it gives.
pub fn enrolment_face_from(
    pipeline: &mut FacePipeline,
    path: &Path,
    largest: bool,
) -> Result<(image::RgbImage, AnalyzedFace), Refusal> {
    let img = load_photo(path).map_err(|e| Refusal::Unreadable {
        reason: e.to_string(),
    })?;
    match pipeline.enrolment_face(&img, largest) {
        Ok(Ok(face)) => Ok((img, face)),
        Ok(Err(r)) => Err(r),
        Err(e) => Err(Refusal::Unreadable {
            reason: e.to_string(),
        }),
    }
}

/// Enrols one person on `list` from every acceptable photo; refused photos
/// are listed with their reason. Nothing is stored when no photo is
/// accepted. All accepted templates are stored in one transaction in
/// `gallery` (the store itself, or the central database of `kuzet serve
/// --database`); kept photos go to `store`'s sealed evidence.
pub fn enrol(
    store: &Store,
    gallery: &dyn StoreBackend,
    pipeline: &mut FacePipeline,
    list: &Watchlist,
    req: &EnrolRequest,
) -> Result<EnrolOutcome, FacesError> {
    enrol_with_progress(store, gallery, pipeline, list, req, &mut |_| {})
}

/// [`enrol`], calling `done` after each photo is analysed (a progress bar
/// for folders of photos).
pub fn enrol_with_progress(
    store: &Store,
    gallery: &dyn StoreBackend,
    pipeline: &mut FacePipeline,
    list: &Watchlist,
    req: &EnrolRequest,
    done: &mut dyn FnMut(&Path),
) -> Result<EnrolOutcome, FacesError> {
    if req.photos.is_empty() {
        return Err(FacesError::Invalid(
            "no photo given: pass one or more photo files of the person".into(),
        ));
    }
    let mut templates = Vec::new();
    let (mut accepted, mut refused) = (Vec::new(), Vec::new());
    for path in &req.photos {
        let shown = path.display().to_string();
        match enrolment_face_from(pipeline, path, req.largest) {
            Ok((img, face)) => {
                let photo_hash = if req.keep_photo {
                    Some(store.save_evidence_jpeg(
                        img.as_raw(),
                        img.width(),
                        img.height(),
                        None,
                        90,
                    )?)
                } else {
                    None
                };
                templates.push(NewTemplate {
                    model: pipeline.model_key().to_owned(),
                    embedding: face.embedding.clone().ok_or_else(|| {
                        FacesError::Invalid(format!("{shown}: accepted face has no embedding"))
                    })?,
                    quality: serde_json::to_value(&face.quality)
                        .map_err(|e| FacesError::Invalid(e.to_string()))?,
                    photo_hash,
                });
                accepted.push(shown);
            }
            Err(r) => refused.push(RefusedPhoto {
                path: shown,
                reason: r.to_string(),
            }),
        }
        done(path);
    }
    let person = if templates.is_empty() {
        None
    } else {
        Some(gallery.add_person_scoped(
            list.id,
            &req.name,
            req.notes.as_deref(),
            &req.legal,
            &store::PersonScope::default(),
            &templates,
        )?)
    };
    Ok(EnrolOutcome {
        person,
        accepted,
        refused,
    })
}

/// One face of an identification request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IdentifiedFace {
    #[serde(flatten)]
    pub face: AnalyzedFace,
    /// `None` for faces below the quality gate: never matched.
    pub search: Option<SearchResult>,
}

/// Every face of a photo with its top-`k` candidates and decision.
pub fn identify(
    pipeline: &mut FacePipeline,
    gallery: &Gallery,
    img: &image::RgbImage,
    k: usize,
) -> Result<Vec<IdentifiedFace>, FacesError> {
    identify_lists(pipeline, gallery, img, k, None, &|_, _| true)
}

/// [`identify`] against the lists `allow(name, category)` accepts (what a
/// legal authorisation covers), skipping entries expired at `now`. The
/// filter runs inside the gallery search, so an entry of another list never
/// takes one of the `k` places of an entry of an allowed one.
pub fn identify_lists(
    pipeline: &mut FacePipeline,
    gallery: &Gallery,
    img: &image::RgbImage,
    k: usize,
    now: Option<base::Timestamp>,
    allow: &dyn Fn(&str, store::WatchlistCategory) -> bool,
) -> Result<Vec<IdentifiedFace>, FacesError> {
    pipeline
        .analyze_image(img)?
        .into_iter()
        .map(|face| {
            let search = match &face.embedding {
                Some(e) => Some(gallery.search_lists(e, k, None, now, allow)?),
                None => None,
            };
            Ok(IdentifiedFace { face, search })
        })
        .collect()
}
