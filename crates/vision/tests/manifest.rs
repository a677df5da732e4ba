//! Models manifest and session loading against the real models folder.

mod common;

use kuzet_vision::onnx_patch::make_batch_dynamic;
use kuzet_vision::{
    load_session, CheckStatus, ModelManifest, SessionConfig, VisionError, Yolox, YoloxConfig,
    YOLOX_NANO,
};
use std::path::Path;

fn manifest() -> ModelManifest {
    ModelManifest::load(ModelManifest::default_path()).expect("models.toml at the workspace root")
}

/// A temporary models folder holding symlinks to the real files (so nothing
/// big is copied), with individual entries replaced by the test.
fn temp_models(real: &Path, m: &ModelManifest) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for e in m.models.values() {
        let dst = dir.path().join(&e.file);
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(real.join(&e.file), &dst).unwrap();
    }
    dir
}

#[test]
fn check_passes_on_real_models() {
    let models = base::env::require_models();
    let m = manifest();
    let t = std::time::Instant::now();
    let checks = m.check(&models);
    eprintln!("hashed {} files in {:?}", checks.len(), t.elapsed());
    assert_eq!(checks.len(), m.models.len());
    for c in &checks {
        assert!(c.is_ok(), "{}", c.message);
    }
    // The embedded copy is the same manifest.
    assert_eq!(
        ModelManifest::embedded()
            .check(&models)
            .iter()
            .filter(|c| c.is_ok())
            .count(),
        checks.len()
    );
}

#[test]
fn truncated_and_missing_files_are_reported() {
    let models = base::env::require_models();
    let m = manifest();
    let dir = temp_models(&models, &m);
    let yolox = m.get(YOLOX_NANO).unwrap();
    // Truncated copy of YOLOX.
    let p = dir.path().join(&yolox.file);
    std::fs::remove_file(&p).unwrap();
    let bytes = std::fs::read(models.join(&yolox.file)).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() / 2]).unwrap();
    // Same-size but corrupted pose model.
    let pose = m.get("movenet_lightning").unwrap();
    let pp = dir.path().join(&pose.file);
    std::fs::remove_file(&pp).unwrap();
    let mut pb = std::fs::read(models.join(&pose.file)).unwrap();
    pb[1000] ^= 0xff;
    std::fs::write(&pp, &pb).unwrap();
    // Missing face model.
    let face = m.get("yunet_n").unwrap();
    std::fs::remove_file(dir.path().join(&face.file)).unwrap();

    let checks = m.check(dir.path());
    let by_key = |k: &str| checks.iter().find(|c| c.key == k).unwrap();
    let y = by_key(YOLOX_NANO);
    assert!(
        matches!(y.status, CheckStatus::SizeMismatch { .. }),
        "{:?}",
        y.status
    );
    assert!(
        y.message.contains("yolox_nano.onnx") && y.message.contains("hamacom2004jp/iinfer"),
        "{}",
        y.message
    );
    let p = by_key("movenet_lightning");
    assert!(
        matches!(p.status, CheckStatus::HashMismatch { .. }),
        "{:?}",
        p.status
    );
    assert!(
        p.message.contains("sha256 mismatch") && p.message.contains("movenet_lightning_192.onnx"),
        "{}",
        p.message
    );
    let f = by_key("yunet_n");
    assert_eq!(f.status, CheckStatus::Missing);
    assert!(
        f.message.contains("missing") && f.message.contains("ShiqiYu/libfacedetection.train"),
        "{}",
        f.message
    );
    assert_eq!(
        checks.iter().filter(|c| c.is_ok()).count(),
        m.models.len() - 3
    );
}

#[test]
fn session_with_wrong_hash_is_refused() {
    let models = base::env::require_models();
    let m = manifest();
    let dir = temp_models(&models, &m);
    // Put a different (valid ONNX) model where YOLOX should be, padded to the
    // right size so only the hash can tell.
    let yolox = m.get(YOLOX_NANO).unwrap();
    let p = dir.path().join(&yolox.file);
    std::fs::remove_file(&p).unwrap();
    let mut other = std::fs::read(models.join("coco_detect/yolo_fastestv2.onnx")).unwrap();
    other.resize(yolox.bytes as usize, 0);
    std::fs::write(&p, &other).unwrap();
    let err = load_session(&m, YOLOX_NANO, dir.path(), &SessionConfig::default()).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, VisionError::ModelFile(_)), "{err:?}");
    assert!(
        msg.contains("sha256")
            && msg.contains("refusing to load")
            && msg.contains("yolox_nano.onnx"),
        "{msg}"
    );
    let err = Yolox::new(&m, dir.path(), YoloxConfig::default()).unwrap_err();
    assert!(err.to_string().contains("refusing to load"), "{err}");
    // Missing file: names KUZET_MODELS and the source.
    std::fs::remove_file(&p).unwrap();
    let msg = load_session(&m, YOLOX_NANO, dir.path(), &SessionConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("missing") && msg.contains("KUZET_MODELS") && msg.contains("iinfer"),
        "{msg}"
    );
}

#[test]
fn session_shapes_are_checked_against_manifest() {
    let models = base::env::require_models();
    let mut m = manifest();
    // Every model in the manifest loads and matches its spec.
    for (k, e) in &m.models {
        if e.input.is_some() {
            load_session(
                &m,
                k,
                &models,
                &SessionConfig {
                    intra_threads: 1,
                    ..Default::default()
                },
            )
            .unwrap_or_else(|e| panic!("{k}: {e}"));
        }
    }
    // A manifest that disagrees with the file is caught with a clear message.
    let e = m.models.get_mut(YOLOX_NANO).unwrap();
    e.input.as_mut().unwrap().shape = vec![1, 3, 320, 320];
    let msg = load_session(&m, YOLOX_NANO, &models, &SessionConfig::default())
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("[1, 3, 416, 416]") && msg.contains("[1, 3, 320, 320]"),
        "{msg}"
    );
    let e = m.models.get_mut(YOLOX_NANO).unwrap();
    e.input.as_mut().unwrap().shape = vec![1, 3, 416, 416];
    e.outputs[0].name = "boxes".into();
    let msg = load_session(&m, YOLOX_NANO, &models, &SessionConfig::default())
        .unwrap_err()
        .to_string();
    assert!(msg.contains("`output`") && msg.contains("`boxes`"), "{msg}");
}

#[test]
fn gpu_provider_falls_back_to_cpu() {
    let models = base::env::require_models();
    let m = manifest();
    for p in [
        kuzet_vision::ExecutionProvider::Cuda,
        kuzet_vision::ExecutionProvider::TensorRt,
    ] {
        let s = load_session(
            &m,
            YOLOX_NANO,
            &models,
            &SessionConfig {
                provider: p,
                ..Default::default()
            },
        )
        .unwrap();
        // The CPU-only PyPI library has neither; a CUDA build would keep it.
        eprintln!("{p} requested -> {} in use", s.provider);
    }
}

#[test]
fn real_yolox_patch_report() {
    let models = base::env::require_models();
    let bytes = std::fs::read(models.join("coco_detect/yolox_nano.onnx")).unwrap();
    let t = std::time::Instant::now();
    let (patched, report) = make_batch_dynamic(&bytes, &["images"], &["output"], "batch").unwrap();
    eprintln!("patched in {:?}: {report:?}", t.elapsed());
    assert_eq!((report.inputs, report.outputs), (1, 1));
    // Weights pass through untouched: size changes only by a few bytes.
    assert!(
        patched.len().abs_diff(bytes.len()) < 4096,
        "{} vs {}",
        patched.len(),
        bytes.len()
    );
}
