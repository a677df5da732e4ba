//! End-to-end: the shipped head on `$KUZET_DATA/fire` (the dev set, never
//! trained on), and the refusal to evaluate on training images.

use kuzet_fire::eval::{evaluate, format_table};
use kuzet_fire::{ClassifierConfig, FireClassifier, FireHead};

fn classifier() -> FireClassifier {
    base::env::require_models();
    FireClassifier::new(ClassifierConfig::default()).expect("classifier loads")
}

/// Measured 2026-11-22 with the shipped head: see docs/fire.md. The floor
/// sits a little below so a regression (or a broken extractor) fails.
const BINARY_F1_FLOOR: f32 = 0.85;

#[test]
fn shipped_head_on_dev_set() {
    let root = base::env::require_data("fire/labels.csv");
    let root = root.parent().unwrap().parent().unwrap();
    let mut clf = classifier();
    let w = FireHead::default_path().display().to_string();
    let r = evaluate(root, &mut clf, &w).unwrap();
    eprintln!("{}", format_table(&r));
    assert!(r.images > 0);
    assert!(
        r.binary.f1 >= BINARY_F1_FLOOR,
        "binary F1 {:.3} below the floor {BINARY_F1_FLOOR}",
        r.binary.f1
    );
    let fire = &r.classes[0];
    assert!(fire.recall >= 0.7, "fire recall {:.3}", fire.recall);
}

#[test]
fn refuses_training_images() {
    let train_img = base::env::require_data("fire_train/fire/cair_fire_0001.jpg");
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fire")).unwrap();
    std::fs::copy(&train_img, dir.path().join("fire/x.jpg")).unwrap();
    std::fs::write(
        dir.path().join("fire/labels.csv"),
        "path,class\nfire/x.jpg,fire\n",
    )
    .unwrap();
    let mut clf = classifier();
    let err = evaluate(dir.path(), &mut clf, "shipped")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("training") && err.contains("fire/x.jpg"),
        "{err}"
    );
}

#[test]
fn corrupt_image_is_named() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fire")).unwrap();
    std::fs::write(dir.path().join("fire/bad.jpg"), b"not an image").unwrap();
    std::fs::write(
        dir.path().join("fire/labels.csv"),
        "path,class\nfire/bad.jpg,no_fire\n",
    )
    .unwrap();
    let mut clf = classifier();
    let err = evaluate(dir.path(), &mut clf, "shipped")
        .unwrap_err()
        .to_string();
    assert!(err.contains("bad.jpg"), "{err}");
    std::fs::write(
        dir.path().join("fire/labels.csv"),
        "path,class\nfire/bad.jpg,lava\n",
    )
    .unwrap();
    let err = evaluate(dir.path(), &mut clf, "shipped")
        .unwrap_err()
        .to_string();
    assert!(err.contains("lava"), "{err}");
}
