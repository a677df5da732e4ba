//! Temporal behaviour of `FireMonitor` on synthetic frames and simulated
//! time (no model needed: colour or stub scorers).

use base::{Frame, Timestamp};
use kuzet_fire::{
    AlarmKind, AlarmState, ColourScorer, FireAlarm, FireError, FireMonitor, FireMonitorConfig,
    FrameScorer, FrameScores,
};
use std::sync::Arc;

const W: u32 = 320;
const H: u32 = 240;

fn canvas() -> Vec<u8> {
    let mut v = Vec::with_capacity((W * H * 3) as usize);
    for y in 0..H {
        for x in 0..W {
            // Dark blue-green scene with a gentle gradient (not flame, not grey).
            v.extend_from_slice(&[30 + (x / 16) as u8, 60 + (y / 16) as u8, 90]);
        }
    }
    v
}

fn disc(rgb: &mut [u8], cx: f32, cy: f32, r: f32, c: [u8; 3]) {
    for y in 0..H {
        for x in 0..W {
            if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r {
                let i = ((y * W + x) * 3) as usize;
                rgb[i..i + 3].copy_from_slice(&c);
            }
        }
    }
}

fn frame(seq: u64, ts: Timestamp, rgb: Vec<u8>) -> Frame {
    Frame::new(Arc::from("cam"), seq, ts, ts.millis(), W, H, rgb)
}

/// Deterministic jitter in 0..1.
fn jitter(i: u64, k: u64) -> f32 {
    let mut s = i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ k.wrapping_mul(0xD1B5_4A32_D192_ED03);
    s ^= s >> 29;
    s = s.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    s ^= s >> 32;
    (s % 10_000) as f32 / 10_000.0
}

fn flame_frame(i: u64) -> Vec<u8> {
    let mut rgb = canvas();
    let r = 18.0 + 14.0 * jitter(i, 1);
    let g = 90 + (100.0 * jitter(i, 2)) as u8;
    disc(
        &mut rgb,
        160.0 + 6.0 * jitter(i, 3),
        150.0 - 10.0 * jitter(i, 4),
        r,
        [255, g, 20],
    );
    // Bright core that comes and goes.
    if jitter(i, 5) > 0.4 {
        disc(&mut rgb, 160.0, 150.0, r * 0.4, [255, 230, 160]);
    }
    rgb
}

/// Runs `n` frames at `period_ms` through the monitor, collecting alarms.
fn run(
    mon: &mut FireMonitor,
    n: u64,
    period_ms: i64,
    mut make: impl FnMut(u64) -> Vec<u8>,
) -> Vec<(u64, FireAlarm)> {
    let t0 = Timestamp::from_millis(1_700_000_000_000);
    let mut out = Vec::new();
    for i in 0..n {
        let ts = Timestamp(t0.millis() + i as i64 * period_ms);
        for a in mon.push(ts, &frame(i, ts, make(i))).unwrap() {
            out.push((i, a));
        }
    }
    out
}

fn colour_monitor() -> FireMonitor {
    FireMonitor::new(
        FireMonitorConfig::default(),
        Box::new(ColourScorer::default()),
    )
    .unwrap()
}

#[test]
fn flickering_blob_raises_then_clears_fire() {
    let mut mon = colour_monitor();
    // 2 fps: 30 s of flickering fire, then 20 s of the empty scene.
    let alarms = run(&mut mon, 100, 500, |i| {
        if i < 60 {
            flame_frame(i)
        } else {
            canvas()
        }
    });
    let raised: Vec<_> = alarms
        .iter()
        .filter(|(_, a)| a.kind == AlarmKind::Fire && a.state == AlarmState::Raised)
        .collect();
    assert_eq!(raised.len(), 1, "{alarms:?}");
    let (i, a) = raised[0];
    // Needs 3 classifier hits at 1 s: not before frame 4 (2 s), well within 10 s.
    assert!((4..=20).contains(i), "raised at frame {i}");
    assert!(a.score >= 0.5 && a.cue >= 0.05 && a.hits >= 3, "{a:?}");
    assert!(a.evidence_seq <= *i);
    let cleared: Vec<_> = alarms
        .iter()
        .filter(|(_, a)| a.kind == AlarmKind::Fire && a.state == AlarmState::Cleared)
        .collect();
    assert_eq!(cleared.len(), 1, "{alarms:?}");
    assert!(
        cleared[0].0 > 60 && cleared[0].0 <= 84,
        "cleared at {}",
        cleared[0].0
    );
    assert!(!mon.active(AlarmKind::Fire));
    assert!(alarms.iter().all(|(_, a)| a.kind == AlarmKind::Fire));
}

#[test]
fn single_frame_spike_never_alarms() {
    let mut mon = colour_monitor();
    let alarms = run(&mut mon, 60, 500, |i| {
        if i == 10 {
            flame_frame(i)
        } else {
            canvas()
        }
    });
    assert!(alarms.is_empty(), "{alarms:?}");
    // Even a 2-frame burst (one classifier hit at 1 s cadence) stays quiet.
    let mut mon = colour_monitor();
    let alarms = run(&mut mon, 60, 500, |i| {
        if (20..22).contains(&i) {
            flame_frame(i)
        } else {
            canvas()
        }
    });
    assert!(alarms.is_empty(), "{alarms:?}");
}

#[test]
fn static_orange_sign_has_no_flicker_and_no_alarm() {
    let mut mon = colour_monitor();
    let sign = {
        let mut rgb = canvas();
        disc(&mut rgb, 160.0, 150.0, 25.0, [255, 140, 20]);
        rgb
    };
    let alarms = run(&mut mon, 60, 500, |_| sign.clone());
    assert!(alarms.is_empty(), "{alarms:?}");
    // The classifier alone would have said fire: only flicker held it back.
    assert!(mon.last_scores().unwrap().fire >= 0.5);
    assert!(mon.flicker() < 0.01, "flicker {}", mon.flicker());
    // Without the flicker requirement the same sequence alarms.
    let cfg = FireMonitorConfig {
        require_flicker: false,
        ..Default::default()
    };
    let mut mon = FireMonitor::new(cfg, Box::new(ColourScorer::default())).unwrap();
    assert!(!run(&mut mon, 20, 500, |_| sign.clone()).is_empty());
}

/// Says "smoke" with a fixed score, so only the temporal cues decide.
struct SmokeStub;
impl FrameScorer for SmokeStub {
    fn score(&mut self, f: &Frame) -> Result<FrameScores, FireError> {
        let mut s = ColourScorer::default().score(f)?;
        s.fire = 0.0;
        s.smoke = 0.9;
        s.class = "smoke";
        Ok(s)
    }
    fn threshold(&self) -> f32 {
        0.5
    }
}

fn plume(i: u64) -> Vec<u8> {
    let mut rgb = canvas();
    // Grey plume rising from (250, 220) and widening over time.
    let t = i as f32;
    for k in 0..6 {
        let k = k as f32;
        let y = 220.0 - (4.0 + 1.2 * k) * t.min(40.0) * 0.5 - 8.0 * k;
        let r = 6.0 + 0.25 * t.min(40.0) + 2.0 * k;
        if y > 0.0 {
            disc(&mut rgb, 250.0 + 3.0 * k, y, r, [175, 175, 178]);
        }
    }
    rgb
}

#[test]
fn growing_rising_plume_raises_smoke_static_grey_does_not() {
    let mut mon = FireMonitor::new(FireMonitorConfig::default(), Box::new(SmokeStub)).unwrap();
    let alarms = run(&mut mon, 40, 500, plume);
    assert!(
        alarms
            .iter()
            .any(|(_, a)| a.kind == AlarmKind::Smoke && a.state == AlarmState::Raised),
        "{alarms:?} motion {:?}",
        mon.smoke_motion()
    );
    // A grey wall present from the start is background: no motion, no alarm.
    let wall = {
        let mut rgb = canvas();
        disc(&mut rgb, 250.0, 120.0, 40.0, [175, 175, 178]);
        rgb
    };
    let mut mon = FireMonitor::new(FireMonitorConfig::default(), Box::new(SmokeStub)).unwrap();
    assert!(run(&mut mon, 40, 500, |_| wall.clone()).is_empty());
}

#[test]
fn bad_frames_and_config_are_errors() {
    let mut mon = colour_monitor();
    let bad = Frame {
        camera: Arc::from("cam"),
        seq: 0,
        ts: Timestamp(0),
        pts_ms: 0,
        width: 10,
        height: 10,
        rgb: Arc::new(vec![0; 7]),
    };
    assert!(mon.push(Timestamp(0), &bad).is_err());
    let cfg = FireMonitorConfig {
        raise_hits: 0,
        ..Default::default()
    };
    assert!(FireMonitor::new(cfg, Box::new(ColourScorer::default())).is_err());
    // Config deserialises with defaults for what is left out.
    let cfg: FireMonitorConfig =
        serde_json::from_str(r#"{"window_ms": 5000, "classifier": {"tile_grids": [2, 3]}}"#)
            .unwrap();
    assert_eq!(cfg.window_ms, 5000);
    assert_eq!(cfg.classifier.tile_grids, vec![2, 3]);
    assert_eq!(cfg.raise_hits, FireMonitorConfig::default().raise_hits);
}

/// A PTZ camera pans from a plain view to one with a grey wall in it. Fed as
/// one scene, the wall is new low-saturation area against the old
/// background, which the plume cue takes for smoke; told the view changed,
/// the monitor learns the wall as background and raises nothing.
#[test]
fn a_pan_to_a_grey_wall_is_a_new_view_not_smoke() {
    let wall = {
        let mut rgb = canvas();
        disc(&mut rgb, 250.0, 120.0, 40.0, [175, 175, 178]);
        rgb
    };
    let t0 = Timestamp::from_millis(1_700_000_000_000);
    let feed = |tell: bool| {
        let mut mon = FireMonitor::new(FireMonitorConfig::default(), Box::new(SmokeStub)).unwrap();
        let mut alarms = Vec::new();
        for i in 0..40u64 {
            let ts = Timestamp(t0.millis() + i as i64 * 500);
            if i == 10 && tell {
                mon.view_changed();
            }
            let rgb = if i < 10 { canvas() } else { wall.clone() };
            alarms.extend(mon.push(ts, &frame(i, ts, rgb)).unwrap());
        }
        alarms
    };
    let untold = feed(false);
    assert!(
        untold
            .iter()
            .any(|a| a.kind == AlarmKind::Smoke && a.state == AlarmState::Raised),
        "the pan looks like smoke when the monitor is not told: {untold:?}"
    );
    let told = feed(true);
    assert!(told.is_empty(), "{told:?}");
}
