//! RTSP against a real server (GStreamer's, via scripts/rtsp_server.py).

mod common;

use base::{CameraState, Frame, Shutdown, SystemClock};
use common::video;
use kuzet_media::testing::RtspServer as Server;
use kuzet_media::{
    new_status, open, spawn_camera, Backoff, CameraOptions, FrameQueue, MediaError, SharedStatus,
    SourceOptions, SourceSpec,
};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    kuzet_media::testing::free_port().expect("no free port on 127.0.0.1")
}

/// Pops frames until `n` arrived or `limit` passed.
fn collect(queue: &FrameQueue, n: usize, limit: Duration) -> Vec<Frame> {
    let deadline = Instant::now() + limit;
    let mut frames = Vec::new();
    while frames.len() < n && Instant::now() < deadline {
        if let Some(f) = queue.pop(Duration::from_millis(100)) {
            frames.push(f);
        }
    }
    frames
}

fn wait_for(
    status: &SharedStatus,
    limit: Duration,
    what: &str,
    cond: impl Fn(&base::CameraStatus) -> bool,
) {
    let deadline = Instant::now() + limit;
    while !cond(&status.lock()) {
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}: {:?}",
            status.lock()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

// traffic_road_two_lanes.mp4: 320x240 at ~60 fps, 28 s, so frames come fast.
const CLIP: &str = "traffic_road_two_lanes.mp4";

#[test]
fn reads_frames_over_rtsp() {
    let port = free_port();
    let _server = Server::start(port, &video(CLIP)).unwrap_or_else(|e| panic!("{e}"));
    let spec = SourceSpec::parse(&format!("rtsp://127.0.0.1:{port}/stream")).unwrap();
    assert!(spec.is_live());

    let mut src = open(&spec, &SourceOptions::default(), Arc::new(SystemClock)).unwrap();
    let info = src.info();
    assert!(info.is_live);
    assert_eq!((info.width, info.height), (320, 240));
    let f = src.next_frame().unwrap().unwrap();
    assert_eq!(f.rgb.len(), 320 * 240 * 3);
    drop(src);

    let status = new_status("cam1", "Road", &spec);
    let queue = Arc::new(FrameQueue::new(64));
    let shutdown = Shutdown::new();
    let t = Instant::now();
    let h = spawn_camera(
        spec,
        CameraOptions {
            source: SourceOptions {
                camera: "cam1".into(),
                ..Default::default()
            },
            ..Default::default()
        },
        Arc::new(SystemClock),
        shutdown.clone(),
        queue.clone(),
        status.clone(),
    );
    let frames = collect(&queue, 30, Duration::from_secs(20));
    eprintln!("30 RTSP frames in {:?}", t.elapsed());
    assert!(frames.len() >= 20, "only {} frames over RTSP", frames.len());
    for w in frames.windows(2) {
        assert_eq!(w[1].seq, w[0].seq + 1);
        assert!(w[1].pts_ms > w[0].pts_ms);
        assert!(w[1].ts >= w[0].ts);
    }
    assert!(frames
        .iter()
        .all(|f| (f.width, f.height) == (320, 240) && &*f.camera == "cam1"));
    assert_eq!(status.lock().state, CameraState::Online);

    let t = Instant::now();
    shutdown.trigger();
    h.join().unwrap();
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t.elapsed()
    );
    assert_eq!(status.lock().state, CameraState::Stopped);
}

#[test]
fn reconnects_when_the_server_dies_and_returns() {
    let port = free_port();
    let file = video(CLIP);
    let mut server = Server::start(port, &file).unwrap_or_else(|e| panic!("{e}"));
    let spec = SourceSpec::Rtsp(format!("rtsp://127.0.0.1:{port}/stream"));
    let status = new_status("cam2", "Road", &spec);
    let queue = Arc::new(FrameQueue::new(256));
    let shutdown = Shutdown::new();
    let h = spawn_camera(
        spec,
        CameraOptions {
            backoff: Backoff {
                initial: Duration::from_millis(200),
                max: Duration::from_secs(1),
                multiplier: 2.0,
                jitter: 0.2,
            },
            source: SourceOptions {
                camera: "cam2".into(),
                target_fps: Some(20.0),
                io_timeout: Duration::from_secs(2),
                ..Default::default()
            },
            ..Default::default()
        },
        Arc::new(SystemClock),
        shutdown.clone(),
        queue.clone(),
        status.clone(),
    );

    let before = collect(&queue, 10, Duration::from_secs(20));
    assert!(
        before.len() >= 10,
        "only {} frames before the drop",
        before.len()
    );
    server.kill();
    wait_for(
        &status,
        Duration::from_secs(10),
        "the loss to be noticed",
        |s| s.reconnects >= 1,
    );
    {
        let s = status.lock();
        assert_ne!(s.state, CameraState::Online);
        assert!(s.last_error.is_some());
    }
    // Drain what arrived before the drop, then bring the camera back.
    while queue.pop(Duration::from_millis(50)).is_some() {}
    let frames_at_restart = status.lock().frames;
    std::thread::sleep(Duration::from_millis(300));
    let _server = Server::start(port, &file).unwrap_or_else(|e| panic!("{e}"));

    let after = collect(&queue, 10, Duration::from_secs(20));
    assert!(
        after.len() >= 10,
        "only {} frames after the server returned",
        after.len()
    );
    let last_before = before.last().unwrap().seq;
    assert!(
        after.iter().all(|f| f.seq > last_before),
        "seq keeps counting across reconnects"
    );
    {
        let s = status.lock();
        assert_eq!(s.state, CameraState::Online);
        assert!(s.reconnects >= 1);
        assert!(s.frames >= frames_at_restart + 10);
        eprintln!(
            "reconnected: {} reconnects, last error {:?}",
            s.reconnects, s.last_error
        );
    }
    shutdown.trigger();
    h.join().unwrap();
}

#[test]
fn silent_server_times_out_instead_of_hanging() {
    // Accepts TCP connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let _keep = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().take(4) {
            held.push(s);
        }
        std::thread::sleep(Duration::from_secs(30));
    });
    let spec = SourceSpec::Rtsp(format!("rtsp://user:secret@127.0.0.1:{port}/stream"));
    let t = Instant::now();
    let err = open(
        &spec,
        &SourceOptions {
            io_timeout: Duration::from_secs(1),
            ..Default::default()
        },
        Arc::new(SystemClock),
    )
    .err()
    .expect("a silent server must not yield a source");
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "took {:?}",
        t.elapsed()
    );
    assert!(matches!(err, MediaError::Connect { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("cannot connect") && !msg.contains("secret"),
        "{msg}"
    );
}
