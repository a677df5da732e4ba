//! Decoding real video files, and the errors for damaged or wrong ones.

mod common;

use base::{Clock, SimulatedClock, Timestamp};
use common::{drain, truncated_copy, video};
use kuzet_media::{open, probe, MediaError, SourceOptions, SourceSpec};
use std::sync::Arc;
use std::time::Duration;

fn spec(p: &std::path::Path) -> SourceSpec {
    SourceSpec::parse(p.to_str().unwrap()).unwrap()
}

#[test]
fn decodes_every_frame_of_a_real_video() {
    let path = video("vtest_pedestrians.mp4");
    let s = spec(&path);
    assert!(matches!(s, SourceSpec::File(_)));
    let opts = SourceOptions {
        camera: "vtest".into(),
        ..Default::default()
    };
    let (frames, err) = drain(&s, &opts);
    assert!(err.is_none(), "{err:?}");
    assert_eq!(frames.len(), 795);
    assert_eq!(frames[100].pts_ms, 10_000);
    let f = &frames[10];
    assert_eq!((f.width, f.height), (768, 576));
    assert_eq!(f.rgb.len(), 768 * 576 * 3);
    assert_eq!(&*f.camera, "vtest");
    // seq counts delivered frames, ts = open time + pts.
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.seq, i as u64);
    }
    assert_eq!(frames[100].ts.0 - frames[0].ts.0, 10_000);
    // A real picture, not a blank buffer.
    let mean = f.rgb.iter().map(|&v| v as u64).sum::<u64>() / f.rgb.len() as u64;
    assert!((20..235).contains(&mean), "mean {mean}");
    let distinct = f.rgb.iter().collect::<std::collections::HashSet<_>>().len();
    assert!(distinct > 100);
}

#[test]
fn samples_ten_fps_to_five() {
    let path = video("vtest_pedestrians.mp4");
    let opts = SourceOptions {
        target_fps: Some(5.0),
        ..Default::default()
    };
    let (frames, err) = drain(&spec(&path), &opts);
    assert!(err.is_none(), "{err:?}");
    assert!((396..=399).contains(&frames.len()), "{}", frames.len());
    for w in frames.windows(2) {
        assert_eq!(w[1].pts_ms - w[0].pts_ms, 200);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
}

#[test]
fn samples_ntsc_rate_to_five() {
    // 275 frames at 29.97 fps (9.18 s of video): 46 at 5 fps. Sampling by
    // "1/5 s since the last kept frame" would give 40.
    let (frames, err) = drain(
        &spec(&video("hamilton_faces.mp4")),
        &SourceOptions {
            target_fps: Some(5.0),
            ..Default::default()
        },
    );
    assert!(err.is_none(), "{err:?}");
    assert!((45..=47).contains(&frames.len()), "{}", frames.len());
}

#[test]
fn every_sample_video_decodes_cleanly() {
    // Guards the truncation heuristics against false alarms on good files.
    let dir = base::env::require_data("videos");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("mp4") {
            continue;
        }
        let info = probe(&p).unwrap();
        let (frames, err) = drain(
            &spec(&p),
            &SourceOptions {
                target_fps: Some(2.0),
                ..Default::default()
            },
        );
        assert!(err.is_none(), "{}: {err:?}", p.display());
        assert!(!frames.is_empty());
        assert_eq!(
            (frames[0].width, frames[0].height),
            (info.width, info.height)
        );
        n += 1;
    }
    assert!(n >= 5);
}

#[test]
fn probe_reports_header_facts() {
    let info = probe(video("vtest_pedestrians.mp4")).unwrap();
    assert_eq!((info.width, info.height), (768, 576));
    assert_eq!(info.frame_count, Some(795));
    assert!((info.fps.unwrap() - 10.0).abs() < 0.01);
    assert!(!info.is_live);
    let d = info.duration.unwrap().as_secs_f64();
    assert!((79.0..80.0).contains(&d), "{d}");
    assert_eq!(info.codec.as_deref(), Some("h264"));
}

#[test]
fn realtime_pacing_and_looping_on_a_simulated_clock() {
    let path = video("classroom_seated_people.mp4"); // 45 frames @ 15 fps
    let clock = SimulatedClock::new(Timestamp(1_000_000));
    let opts = SourceOptions {
        realtime: true,
        loop_file: true,
        target_fps: Some(5.0),
        ..Default::default()
    };
    let mut src = open(&spec(&path), &opts, Arc::new(clock.clone())).unwrap();
    let frames: Vec<_> = (0..40)
        .map(|_| src.next_frame().unwrap().unwrap())
        .collect();
    // Three seconds a pass at 5 fps: 15 frames a pass; 40 frames span passes.
    for w in frames.windows(2) {
        let dt = w[1].pts_ms - w[0].pts_ms;
        assert!((190..=210).contains(&dt), "{dt}");
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    let last = frames.last().unwrap();
    assert!((7_500..8_300).contains(&last.pts_ms), "{}", last.pts_ms);
    // Realtime: the clock was slept forward to each frame's due time.
    assert_eq!(last.ts, Timestamp(1_000_000 + last.pts_ms));
    assert!(clock.now() >= last.ts);
    assert!(!clock.sleeps().is_empty());
    // Not looping, not realtime: no sleeping at all.
    let clock = SimulatedClock::new(Timestamp(0));
    let mut src = open(
        &spec(&path),
        &SourceOptions::default(),
        Arc::new(clock.clone()),
    )
    .unwrap();
    let mut n = 0;
    while src.next_frame().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 45);
    assert!(clock.sleeps().is_empty());
}

#[test]
fn truncated_mp4_without_index_is_named() {
    // hamilton_faces.mp4 keeps its moov atom at the end: the first 40% has none.
    let dir = tempfile::tempdir().unwrap();
    let p = truncated_copy(&video("hamilton_faces.mp4"), dir.path(), "cut.mp4", 0.4);
    let (frames, err) = drain(&spec(&p), &SourceOptions::default());
    assert!(frames.is_empty());
    let err = err.expect("a truncated file must fail");
    assert!(
        matches!(
            err,
            MediaError::Truncated {
                frames_decoded: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("cut.mp4") && msg.contains("moov"), "{msg}");
    assert!(matches!(probe(&p), Err(MediaError::Truncated { .. })));
}

#[test]
fn truncated_mp4_mid_stream_reports_after_its_frames() {
    // vtest_pedestrians.mp4 has its index first: the cut copy opens, decodes
    // about 40% of its frames, then must say it is truncated.
    let dir = tempfile::tempdir().unwrap();
    let p = truncated_copy(&video("vtest_pedestrians.mp4"), dir.path(), "cut.mp4", 0.4);
    let t = std::time::Instant::now();
    let (frames, err) = drain(&spec(&p), &SourceOptions::default());
    assert!(t.elapsed() < Duration::from_secs(20));
    assert!((200..500).contains(&frames.len()), "{}", frames.len());
    match err {
        Some(MediaError::Truncated {
            path,
            frames_decoded,
            expected_frames,
            ..
        }) => {
            assert_eq!(path, p);
            assert!(frames_decoded >= frames.len() as u64);
            assert_eq!(expected_frames, Some(795));
        }
        other => panic!("expected Truncated, got {other:?}"),
    }
}

#[test]
fn corrupted_middle_is_reported() {
    let src = std::fs::read(video("vtest_pedestrians.mp4")).unwrap();
    let mut bytes = src.clone();
    let mid = bytes.len() / 2;
    for (i, b) in bytes[mid..mid + 200_000].iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("garbled.mp4");
    std::fs::write(&p, &bytes).unwrap();
    let (frames, err) = drain(&spec(&p), &SourceOptions::default());
    assert!(frames.len() > 300, "{}", frames.len());
    let err = err.expect("damage must not pass silently");
    assert!(
        matches!(
            err,
            MediaError::Corrupt { .. } | MediaError::Truncated { .. }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("garbled.mp4"));
}

#[test]
fn empty_text_and_missing_files_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    let e = drain(&spec(&empty), &SourceOptions::default()).1.unwrap();
    assert!(matches!(e, MediaError::EmptyFile { .. }), "{e:?}");
    assert!(e.to_string().contains("empty.mp4"));

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "these are meeting notes, not a video\n".repeat(50)).unwrap();
    let e = drain(&spec(&text), &SourceOptions::default()).1.unwrap();
    assert!(matches!(e, MediaError::NotVideo { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("notes.mp4") && msg.contains("not a video"),
        "{msg}"
    );

    // A text file with a text extension: FFmpeg's tty demuxer would "play" it.
    let txt = dir.path().join("readme.txt");
    std::fs::write(&txt, "hello\n".repeat(100)).unwrap();
    let e = drain(&spec(&txt), &SourceOptions::default()).1.unwrap();
    assert!(matches!(e, MediaError::NotVideo { .. }), "{e:?}");

    // CSV next to the videos.
    let csv = base::env::require_data("videos/labels.csv");
    let e = drain(&spec(&csv), &SourceOptions::default()).1.unwrap();
    assert!(matches!(e, MediaError::NotVideo { .. }), "{e:?}");

    let e = SourceSpec::parse(dir.path().join("gone.mp4").to_str().unwrap()).unwrap_err();
    assert!(
        e.to_string().starts_with("no such file or directory: "),
        "{e}"
    );
    assert!(matches!(
        probe(dir.path().join("gone.mp4")),
        Err(MediaError::NotFound { .. })
    ));

    // Opened as a file but removed before decoding.
    let gone = SourceSpec::File(dir.path().join("gone.mp4"));
    let e = drain(&gone, &SourceOptions::default()).1.unwrap();
    assert!(matches!(e, MediaError::NotFound { .. }), "{e:?}");
}

#[test]
fn simulated_clock_gives_file_frames_reproducible_times() {
    let clock = SimulatedClock::new(Timestamp(5_000));
    let mut src = open(
        &spec(&video("worker_zone.mp4")),
        &SourceOptions {
            target_fps: Some(1.0),
            ..Default::default()
        },
        Arc::new(clock),
    )
    .unwrap();
    let mut ts = Vec::new();
    while let Some(f) = src.next_frame().unwrap() {
        ts.push(f.ts.0);
    }
    assert_eq!(ts, [5_000, 6_000, 7_000, 8_000, 9_000]);
}
