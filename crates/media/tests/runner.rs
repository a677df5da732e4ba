//! The camera runner: queueing modes, end states, reconnect schedule.

mod common;

use base::{CameraState, Clock, Shutdown, SimulatedClock, SystemClock, Timestamp};
use common::video;
use kuzet_media::{
    new_status, spawn_camera, Backoff, CameraOptions, FrameQueue, SourceOptions, SourceSpec,
};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[test]
fn file_camera_lossless_delivers_every_frame_then_finishes() {
    let spec = SourceSpec::File(video("worker_zone.mp4")); // 71 frames
    let status = new_status("w", "Worker", &spec);
    let queue = Arc::new(FrameQueue::new(3));
    let h = spawn_camera(
        spec,
        CameraOptions {
            lossless: true,
            ..Default::default()
        },
        Arc::new(SystemClock),
        Shutdown::new(),
        queue.clone(),
        status.clone(),
    );
    let mut seqs = Vec::new();
    while let Some(f) = queue.pop(Duration::from_secs(10)) {
        std::thread::sleep(Duration::from_millis(2)); // a slow consumer
        seqs.push(f.seq);
    }
    h.join().unwrap();
    assert_eq!(seqs, (0..71).collect::<Vec<_>>());
    assert!(queue.is_closed());
    let s = status.lock();
    assert_eq!(s.state, CameraState::Finished);
    assert_eq!((s.frames, s.dropped, s.reconnects), (71, 0, 0));
    assert_eq!((s.width, s.height), (480, 270));
    assert!(s.last_error.is_none());
}

#[test]
fn live_mode_drops_oldest_under_a_slow_consumer() {
    let spec = SourceSpec::File(video("worker_zone.mp4"));
    let status = new_status("w", "Worker", &spec);
    let queue = Arc::new(FrameQueue::new(2));
    let h = spawn_camera(
        spec,
        CameraOptions::default(),
        Arc::new(SystemClock),
        Shutdown::new(),
        queue.clone(),
        status.clone(),
    );
    // Let the producer run ahead; it never blocks.
    h.join().unwrap();
    let mut got = Vec::new();
    while let Some(f) = queue.pop(Duration::from_millis(100)) {
        got.push(f.seq);
    }
    assert_eq!(got, [69, 70], "the newest frames survive");
    assert_eq!(queue.dropped(), 69);
    assert_eq!(status.lock().dropped, 69);
}

#[test]
fn damaged_or_missing_file_fails_without_retrying() {
    let dir = tempfile::tempdir().unwrap();
    let p = common::truncated_copy(&video("vtest_pedestrians.mp4"), dir.path(), "cut.mp4", 0.1);
    for spec in [
        SourceSpec::File(p),
        SourceSpec::File(dir.path().join("missing.mp4")),
    ] {
        let status = new_status("f", "F", &spec);
        let queue = Arc::new(FrameQueue::new(1000));
        spawn_camera(
            spec,
            CameraOptions::default(),
            Arc::new(SystemClock),
            Shutdown::new(),
            queue.clone(),
            status.clone(),
        )
        .join()
        .unwrap();
        let s = status.lock();
        assert_eq!(s.state, CameraState::Failed);
        assert_eq!(s.reconnects, 0);
        let err = s.last_error.as_deref().unwrap();
        assert!(
            err.contains("truncated") || err.contains("no such file"),
            "{err}"
        );
        assert!(queue.is_closed());
    }
}

/// A port with nothing listening: connection refused at once.
fn closed_port_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    drop(l);
    format!("rtsp://127.0.0.1:{port}/stream")
}

#[test]
fn reconnect_schedule_follows_backoff_on_simulated_clock() {
    let backoff = Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(4),
        multiplier: 2.0,
        jitter: 0.3,
    };
    let clock = SimulatedClock::new(Timestamp(0));
    let spec = SourceSpec::Rtsp(closed_port_url());
    let status = new_status("c", "C", &spec);
    let t = Instant::now();
    spawn_camera(
        spec,
        CameraOptions {
            backoff: backoff.clone(),
            max_attempts: Some(6),
            seed: Some(42),
            ..Default::default()
        },
        Arc::new(clock.clone()),
        Shutdown::new(),
        Arc::new(FrameQueue::new(4)),
        status.clone(),
    )
    .join()
    .unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "simulated waits took real time"
    );
    let s = status.lock();
    assert_eq!(s.state, CameraState::Failed);
    assert_eq!(s.reconnects, 5);
    assert!(
        s.last_error.as_deref().unwrap().contains("cannot connect"),
        "{:?}",
        s.last_error
    );
    // The clock slept exactly the seeded schedule (to the millisecond).
    let mut rng = StdRng::seed_from_u64(42);
    let expected: Vec<u128> = (0..5)
        .map(|a| backoff.delay(a, &mut rng).as_millis())
        .collect();
    assert!(expected.windows(2).any(|w| w[1] > w[0]));
    assert!(expected.iter().all(|&d| d <= 4000));
    let slept: u128 = clock.sleeps().iter().map(|d| d.as_millis()).sum();
    assert_eq!(slept, expected.iter().sum::<u128>());
    assert_eq!(clock.now(), Timestamp(slept as i64));
}

#[test]
fn shutdown_interrupts_a_long_backoff() {
    let spec = SourceSpec::Rtsp(closed_port_url());
    let status = new_status("c", "C", &spec);
    let shutdown = Shutdown::new();
    let queue = Arc::new(FrameQueue::new(4));
    let h = spawn_camera(
        spec,
        CameraOptions {
            backoff: Backoff {
                initial: Duration::from_secs(60),
                ..Default::default()
            },
            source: SourceOptions {
                io_timeout: Duration::from_secs(1),
                ..Default::default()
            },
            ..Default::default()
        },
        Arc::new(SystemClock),
        shutdown.clone(),
        queue.clone(),
        status.clone(),
    );
    let t = Instant::now();
    while status.lock().state != CameraState::Reconnecting {
        assert!(t.elapsed() < Duration::from_secs(10));
        std::thread::sleep(Duration::from_millis(10));
    }
    let t = Instant::now();
    shutdown.trigger();
    h.join().unwrap();
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
    assert_eq!(status.lock().state, CameraState::Stopped);
    assert!(queue.is_closed());
    let _ = SystemClock.now();
}
