//! End-to-end face tests on real photos from `$KUZET_DATA/faces` and real
//! models from `$KUZET_MODELS`.

use kuzet_faces::{
    choose_enrolment_face, cosine, enrol, identify, load_photo, Decision, EnrolRequest,
    FacePipeline, FacePipelineConfig, Gallery, Refusal,
};
use parking_lot_free::shared;
use std::path::PathBuf;
use store::{LegalBasis, Store, WatchlistCategory};

/// One pipeline for all tests in this binary (loading is cheap, but the
/// tests run in parallel on 2 cores; serialising them keeps timings sane).
mod parking_lot_free {
    use kuzet_faces::{FacePipeline, FacePipelineConfig};
    use std::sync::{Mutex, MutexGuard, OnceLock};

    pub fn shared() -> MutexGuard<'static, FacePipeline> {
        static P: OnceLock<Mutex<FacePipeline>> = OnceLock::new();
        P.get_or_init(|| {
            base::env::require_models();
            Mutex::new(FacePipeline::from_env(FacePipelineConfig::default()).expect("face models"))
        })
        .lock()
        .unwrap_or_else(|p| p.into_inner())
    }
}

fn photo(rel: &str) -> PathBuf {
    base::env::require_data(rel)
}

fn embedding(p: &mut FacePipeline, rel: &str) -> Vec<f32> {
    let img = load_photo(&photo(rel)).unwrap();
    let f = p
        .enrolment_face(&img, true)
        .unwrap()
        .unwrap_or_else(|r| panic!("{rel}: {r}"));
    f.embedding.unwrap()
}

#[test]
fn yunet_finds_one_face_on_a_portrait_and_several_in_a_group() {
    let mut p = shared();
    let one = p
        .analyze_image(&load_photo(&photo("faces/obama/fr_obama.jpg")).unwrap())
        .unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    let f = &one[0].face;
    // Landmarks inside the box, eyes above the mouth.
    for l in &f.landmarks {
        assert!(l.x > f.bbox.x1 && l.x < f.bbox.x2 && l.y > f.bbox.y1 && l.y < f.bbox.y2);
    }
    assert!(f.landmarks[0].y < f.landmarks[3].y && f.landmarks[0].x < f.landmarks[1].x);
    let many = p
        .analyze_image(&load_photo(&photo("faces/multi/df_selfie-many-people.jpg")).unwrap())
        .unwrap();
    assert!(many.len() >= 4, "selfie: {} faces", many.len());
    let two = p
        .analyze_image(&load_photo(&photo("faces/multi/fr_kit_with_rose.jpg")).unwrap())
        .unwrap();
    assert_eq!(two.len(), 2);
}

#[test]
fn same_identity_pairs_score_above_different_identity_pairs() {
    let mut p = shared();
    let set = [
        ("obama", "faces/obama/fr_obama.jpg"),
        ("obama", "faces/obama/fr_obama2.jpg"),
        ("obama", "faces/obama/fr_obama3.jpg"),
        ("biden", "faces/biden/fr_biden.jpg"),
        ("biden", "faces/biden/fr_biden2.jpg"),
        ("kit", "faces/kit_harington/fr_john1.jpeg"),
        ("kit", "faces/kit_harington/fr_john2.jpeg"),
        ("rose", "faces/rose_leslie/fr_img1.jpg"),
        ("rose", "faces/rose_leslie/fr_img2.jpg"),
        ("alex", "faces/alex_lacamoire/fr_img1.jpg"),
        ("alex", "faces/alex_lacamoire/fr_alex_lacamoire1.jpg"),
    ];
    let embs: Vec<Vec<f32>> = set.iter().map(|(_, r)| embedding(&mut p, r)).collect();
    let (mut gmin, mut imax) = (f32::MAX, f32::MIN);
    for a in 0..set.len() {
        assert!(
            (cosine(&embs[a], &embs[a]) - 1.0).abs() < 1e-4,
            "not unit length"
        );
        for b in a + 1..set.len() {
            let s = cosine(&embs[a], &embs[b]);
            if set[a].0 == set[b].0 {
                gmin = gmin.min(s);
            } else {
                imax = imax.max(s);
            }
        }
    }
    assert!(gmin > imax, "min genuine {gmin} <= max impostor {imax}");
    assert!(
        gmin > 0.3 && imax < 0.3,
        "min genuine {gmin}, max impostor {imax}"
    );
}

#[test]
fn enrolment_refuses_no_face_several_faces_and_low_quality() {
    let mut p = shared();
    // A licence-plate photo: no face.
    let img = load_photo(&photo("plates/eu/eu1.jpg")).unwrap();
    let r = p.enrolment_face(&img, false).unwrap().unwrap_err();
    assert!(matches!(r, Refusal::NoFace { .. }), "{r}");
    assert!(r.to_string().contains("no face"));
    // Two people: refused, unless the largest face is asked for.
    let img = load_photo(&photo("faces/multi/fr_kit_with_rose.jpg")).unwrap();
    let r = p.enrolment_face(&img, false).unwrap().unwrap_err();
    assert_eq!(r, Refusal::SeveralFaces { count: 2 });
    assert!(r.to_string().contains("--largest"));
    assert!(p.enrolment_face(&img, true).unwrap().is_ok());
    // A face shrunk to ~20 px is below the gate (or not found at all).
    let img = load_photo(&photo("faces/obama/fr_obama.jpg")).unwrap();
    let tiny = image::imageops::resize(&img, 91, 114, image::imageops::FilterType::Triangle);
    let r = p.enrolment_face(&tiny, false).unwrap().unwrap_err();
    assert!(
        matches!(r, Refusal::LowQuality { .. } | Refusal::NoFace { .. }),
        "{r}"
    );
    // The rule itself on an analysed face that failed the gate.
    let full = p.analyze_image(&img).unwrap();
    let mut bad = full.clone();
    bad[0].rejected = vec!["sharpness 3.0 < 50.0".into()];
    let r = choose_enrolment_face(bad, false, 32.0).unwrap_err();
    assert!(r.to_string().contains("sharpness 3.0"), "{r}");
    // Garbage input is an error, not a panic.
    assert!(p.analyze(&[0u8; 10], 5, 5).is_err());
}

#[test]
fn watchlist_persists_across_reopen_and_rm_removes_from_results() {
    let mut p = shared();
    let dir = tempfile::tempdir().unwrap();
    let model = p.model_key().to_owned();
    let probe = load_photo(&photo("faces/obama/fr_obama2.jpg")).unwrap();
    let key = std::sync::Arc::new(store::SealKey::generate().0);
    let obama_id = {
        let s = Store::open(dir.path()).unwrap();
        s.set_seal_key(key.clone());
        let (wl, _) = s
            .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.4, 1)
            .unwrap();
        let req = |name: &str, photos: &[&str], largest| EnrolRequest {
            name: name.into(),
            notes: None,
            legal: LegalBasis::default(),
            photos: photos.iter().map(|r| photo(r)).collect(),
            largest,
            keep_photo: false,
        };
        let o = enrol(
            &s,
            &s,
            &mut p,
            &wl,
            &req(
                "Obama",
                &["faces/obama/fr_obama.jpg", "plates/eu/eu1.jpg"],
                false,
            ),
        )
        .unwrap();
        assert_eq!(o.accepted.len(), 1);
        assert_eq!(o.refused.len(), 1);
        assert!(o.refused[0].reason.contains("no face"), "{:?}", o.refused);
        let obama = o.person.unwrap();
        let b = enrol(
            &s,
            &s,
            &mut p,
            &wl,
            &req("Biden", &["faces/biden/fr_biden.jpg"], false),
        )
        .unwrap();
        assert!(b.person.is_some());
        // Nothing stored when every photo is refused.
        let none = enrol(
            &s,
            &s,
            &mut p,
            &wl,
            &req("Pair", &["faces/multi/fr_kit_with_rose.jpg"], false),
        )
        .unwrap();
        assert!(none.person.is_none());
        assert_eq!(s.persons(None).unwrap().len(), 2);
        obama.id
    };
    // Reopen: the templates are still there (sealed) and still match.
    let s = Store::open(dir.path()).unwrap();
    s.set_seal_key(key);
    let g = Gallery::load(&s, &model).unwrap();
    assert_eq!(g.len(), 2);
    let r = identify(&mut p, &g, &probe, 5).unwrap();
    assert_eq!(r.len(), 1);
    let search = r[0].search.as_ref().unwrap();
    assert_eq!(search.candidates[0].person_id, obama_id);
    assert!(search.candidates[0].margin.unwrap() > 0.2, "{search:?}");
    assert!(matches!(search.decision, Decision::Match { person_id, .. } if person_id == obama_id));
    // Remove: a freshly loaded gallery no longer returns the person at all.
    assert!(s.remove_person(obama_id).unwrap());
    let g = Gallery::load(&s, &model).unwrap();
    assert_eq!(g.len(), 1);
    let r = identify(&mut p, &g, &probe, 5).unwrap();
    let search = r[0].search.as_ref().unwrap();
    assert!(search.candidates.iter().all(|c| c.person_id != obama_id));
    assert_eq!(search.decision, Decision::NoMatch);
}

#[test]
fn bad_configuration_and_files_are_explained() {
    let cfg = FacePipelineConfig {
        gate: kuzet_faces::QualityGate {
            min_liveness: 2.0,
            ..Default::default()
        },
        ..Default::default()
    };
    let e = FacePipeline::from_env(cfg).unwrap_err().to_string();
    assert!(e.contains("min_liveness"), "{e}");
    let e = load_photo(std::path::Path::new("/nonexistent/x.jpg"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("/nonexistent/x.jpg"), "{e}");
}

/// Two workers must give each photo the same faces and embeddings, in the
/// photos' order, as one pipeline does: the pool only changes who does the
/// work.
#[test]
fn a_pool_of_two_gives_the_same_results_in_order_as_one_pipeline() {
    use kuzet_faces::FacePool;
    let rels = [
        "faces/obama/fr_obama.jpg",
        "faces/multi/fr_kit_with_rose.jpg",
        "plates/eu/eu1.jpg",
        "faces/obama/fr_obama2.jpg",
        "faces/multi/df_selfie-many-people.jpg",
    ];
    let imgs: Vec<_> = rels
        .iter()
        .map(|r| load_photo(&photo(r)).unwrap())
        .collect();
    let one: Vec<Vec<Option<Vec<f32>>>> = {
        let mut p = shared();
        imgs.iter()
            .map(|i| {
                let faces = p.analyze_image(i).unwrap();
                faces.into_iter().map(|f| f.embedding).collect()
            })
            .collect()
    };
    let mut cfg = FacePipelineConfig::default();
    cfg.session.intra_threads = 2;
    let pool = FacePool::new(
        &vision::ModelManifest::embedded(),
        &base::env::models_dir(),
        cfg,
        2,
    )
    .unwrap();
    assert_eq!(pool.workers(), 2);
    let two = pool.map(&imgs, |p, i| {
        let faces = p.analyze_image(i).unwrap();
        faces.into_iter().map(|f| f.embedding).collect::<Vec<_>>()
    });
    assert_eq!(one.len(), two.len());
    for ((a, b), rel) in one.iter().zip(&two).zip(rels) {
        assert_eq!(a.len(), b.len(), "{rel}: face count");
        for (x, y) in a.iter().zip(b) {
            match (x, y) {
                (Some(x), Some(y)) => assert!(cosine(x, y) > 0.999, "{rel}: embedding differs"),
                (None, None) => {}
                _ => panic!("{rel}: gate decision differs"),
            }
        }
    }
    assert!(one.iter().any(|f| f.len() > 3), "the group photo has faces");
    assert_eq!(pool.totals().images, imgs.len() as u64);
}

#[test]
fn scrfd_finds_a_portrait_face_and_more_small_faces_in_tiles() {
    base::env::require_models();
    let mut d = kuzet_faces::Scrfd::new(
        &vision::ModelManifest::embedded(),
        kuzet_faces::SCRFD_2_5G,
        &base::env::models_dir(),
        kuzet_faces::ScrfdConfig::default(),
    )
    .unwrap();
    let img = load_photo(&photo("faces/obama/fr_obama.jpg")).unwrap();
    let (w, h) = img.dimensions();
    let one = d.detect(img.as_raw(), w, h).unwrap();
    assert_eq!(one.len(), 1, "{one:?}");
    let f = &one[0];
    for l in &f.landmarks {
        assert!(l.x > f.bbox.x1 && l.x < f.bbox.x2 && l.y > f.bbox.y1 && l.y < f.bbox.y2);
    }
    // Image-left eye first, eyes above the mouth (the ArcFace order YuNet uses).
    assert!(f.landmarks[0].x < f.landmarks[1].x && f.landmarks[0].y < f.landmarks[3].y);

    // A street crowd: 2×2 tiles run the model near native scale and find
    // faces of 10–16 px the shrunken whole-frame pass cannot.
    let img = load_photo(&photo("crowd/pc_train_30.jpg")).unwrap();
    let (w, h) = img.dimensions();
    let whole = d.detect(img.as_raw(), w, h).unwrap();
    let tiles = vision::grid_tiles(w, h, 2, 0.2);
    let tiled = d.detect_tiles(img.as_raw(), w, h, &tiles).unwrap();
    let small = |v: &[kuzet_faces::Face]| v.iter().filter(|f| f.bbox.height() < 16.0).count();
    assert!(
        tiled.len() > whole.len() && small(&tiled) > small(&whole),
        "tiles {} faces ({} small), whole {} ({} small)",
        tiled.len(),
        small(&tiled),
        whole.len(),
        small(&whole)
    );
}
