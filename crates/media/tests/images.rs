//! Still images and folders go through the same Frame pipeline as video.

mod common;

use base::SystemClock;
use common::drain;
use kuzet_media::{
    new_status, open, probe, spawn_camera, CameraOptions, FrameQueue, MediaError, SourceOptions,
    SourceSpec,
};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A tempdir with four plate photos (named so that name order differs from
/// the source order), one BMP, a text file and a directory to ignore.
fn snapshot_folder() -> (tempfile::TempDir, Vec<PathBuf>) {
    let src = base::env::require_data("plates/br");
    let mut jpgs: Vec<_> = std::fs::read_dir(&src)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    jpgs.sort();
    assert!(jpgs.len() >= 4, "need 4 jpgs in {}", src.display());
    let dir = tempfile::tempdir().unwrap();
    let names = ["c.jpg", "a.jpg", "d.JPEG", "b.jpg"];
    for (from, name) in jpgs.iter().zip(names) {
        std::fs::copy(from, dir.path().join(name)).unwrap();
    }
    // A BMP made from one of them.
    let img = image::open(&jpgs[0]).unwrap().into_rgb8();
    let small = image::imageops::thumbnail(&img, 64, 48);
    small.save(dir.path().join("e.bmp")).unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not an image").unwrap();
    std::fs::create_dir(dir.path().join("sub.jpg")).unwrap();
    let order = ["a.jpg", "b.jpg", "c.jpg", "d.JPEG", "e.bmp"]
        .iter()
        .map(|n| dir.path().join(n))
        .collect();
    (dir, order)
}

#[test]
fn folder_plays_images_in_name_order() {
    let (dir, order) = snapshot_folder();
    let spec = SourceSpec::parse(dir.path().to_str().unwrap()).unwrap();
    assert_eq!(spec, SourceSpec::Folder(dir.path().into()));
    let opts = SourceOptions {
        camera: "snap".into(),
        image_fps: 2.0,
        ..Default::default()
    };
    let (frames, err) = drain(&spec, &opts);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 5);
    for (i, (f, path)) in frames.iter().zip(&order).enumerate() {
        let img = image::open(path).unwrap().into_rgb8();
        assert_eq!((f.width, f.height), img.dimensions(), "{}", path.display());
        assert_eq!(
            f.rgb.as_slice(),
            img.as_raw().as_slice(),
            "{}",
            path.display()
        );
        assert_eq!(f.pts_ms, i as i64 * 500);
        assert_eq!(f.seq, i as u64);
        assert_eq!(&*f.camera, "snap");
    }
    assert_eq!(frames[4].ts.0 - frames[0].ts.0, 2_000);
    let info = probe(dir.path()).unwrap();
    assert_eq!(info.frame_count, Some(5));
    assert_eq!(
        (info.width, info.height),
        (frames[0].width, frames[0].height)
    );
}

#[test]
fn folder_sampling_skips_images() {
    let (dir, _) = snapshot_folder();
    let (frames, err) = drain(
        &SourceSpec::Folder(dir.path().into()),
        &SourceOptions {
            image_fps: 2.0,
            target_fps: Some(1.0),
            ..Default::default()
        },
    );
    assert!(err.is_none());
    let pts: Vec<_> = frames.iter().map(|f| f.pts_ms).collect();
    assert_eq!(pts, [0, 1000, 2000]);
}

#[test]
fn single_image_is_one_frame() {
    let path = base::env::require_data("faces/biden/fr_biden2.jpg");
    let spec = SourceSpec::parse(path.to_str().unwrap()).unwrap();
    assert_eq!(spec, SourceSpec::Image(path.clone()));
    let (frames, err) = drain(&spec, &SourceOptions::default());
    assert!(err.is_none());
    assert_eq!(frames.len(), 1);
    assert_eq!((frames[0].width, frames[0].height), (1200, 1200));
    assert_eq!(probe(&path).unwrap().codec.as_deref(), Some("jpeg"));
}

#[test]
fn bad_images_are_reported_or_skipped() {
    let (dir, _) = snapshot_folder();
    let broken = dir.path().join("0_broken.jpg");
    std::fs::write(&broken, "truncated upload").unwrap();
    // In a folder a bad snapshot is skipped…
    let (frames, err) = drain(
        &SourceSpec::Folder(dir.path().into()),
        &SourceOptions::default(),
    );
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 5);
    // …alone it is the error.
    let e = open(
        &SourceSpec::Image(broken.clone()),
        &SourceOptions::default(),
        Arc::new(SystemClock),
    )
    .err()
    .unwrap();
    assert!(matches!(e, MediaError::Image { .. }), "{e:?}");
    assert!(e.to_string().contains("0_broken.jpg"), "{e}");

    // A folder where nothing decodes is an error, not an empty success.
    let bad = tempfile::tempdir().unwrap();
    std::fs::write(bad.path().join("x.png"), "nope").unwrap();
    let (frames, err) = drain(
        &SourceSpec::Folder(bad.path().into()),
        &SourceOptions::default(),
    );
    assert!(frames.is_empty());
    assert!(matches!(err, Some(MediaError::Image { .. })), "{err:?}");

    let empty = tempfile::tempdir().unwrap();
    let e = drain(
        &SourceSpec::Folder(empty.path().into()),
        &SourceOptions::default(),
    )
    .1
    .unwrap();
    assert!(matches!(e, MediaError::EmptyFolder { .. }), "{e:?}");
}

#[test]
fn looping_folder_rereads_new_snapshots() {
    let (dir, _) = snapshot_folder();
    let mut src = open(
        &SourceSpec::Folder(dir.path().into()),
        &SourceOptions {
            loop_file: true,
            ..Default::default()
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    for _ in 0..5 {
        src.next_frame().unwrap().unwrap();
    }
    std::fs::copy(dir.path().join("a.jpg"), dir.path().join("f.jpg")).unwrap();
    let pts: Vec<_> = (0..6)
        .map(|_| src.next_frame().unwrap().unwrap().pts_ms)
        .collect();
    assert_eq!(pts, [5000, 6000, 7000, 8000, 9000, 10000]);
}

#[test]
fn snapshot_folder_runs_as_a_camera() {
    let (dir, _) = snapshot_folder();
    let spec = SourceSpec::Folder(dir.path().into());
    let status = new_status("snap", "Snapshots", &spec);
    let queue = Arc::new(FrameQueue::new(2));
    let h = spawn_camera(
        spec,
        CameraOptions {
            lossless: true,
            ..Default::default()
        },
        Arc::new(SystemClock),
        base::Shutdown::new(),
        queue.clone(),
        status.clone(),
    );
    let mut n = 0;
    while let Some(_f) = queue.pop(Duration::from_secs(10)) {
        n += 1;
    }
    h.join().unwrap();
    assert_eq!(n, 5);
    let s = status.lock();
    assert_eq!(s.state, base::CameraState::Finished);
    assert_eq!(s.frames, 5);
    assert_eq!(s.dropped, 0);
}
