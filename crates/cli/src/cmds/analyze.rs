use super::{models_dir, open_store};
use anyhow::{bail, Context, Result};
use base::{Event, Shutdown, SystemClock};
use config::{CameraConfig, Config};
use pipeline::{Engine, EngineOptions, Mode, Summary};
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;

#[derive(clap::Args)]
pub struct Args {
    /// Video file, image, folder of images or rtsp:// URL. Without it, every
    /// camera in the config is analysed.
    pub source: Option<String>,
    #[command(flatten)]
    pub common: super::Common,
    /// Apply the zones and lines of this configured camera to SOURCE.
    #[arg(long)]
    pub camera: Option<String>,
    /// Print one JSON object per event, then a JSON summary.
    #[arg(long)]
    pub json: bool,
    /// Analysis frame rate (overrides the camera's `fps`).
    #[arg(long)]
    pub fps: Option<f32>,
    /// Turn motion gating off (or on) for every camera.
    #[arg(long)]
    pub motion: Option<bool>,
    /// Stop after this many analysed frames per camera.
    #[arg(long)]
    pub max_frames: Option<u64>,
    /// Match faces on person tracks against the watchlists of the data
    /// directory (switches on `[faces]` and `[camera.faces]` with defaults
    /// where the config does not).
    #[arg(long)]
    pub faces: bool,
    /// Read licence plates on vehicle tracks (each image of a still source
    /// is a one-frame track) and check them against the hotlists of the
    /// data directory (switches on `[camera.plates]` with defaults where the
    /// config does not).
    #[arg(long)]
    pub plates: bool,
}

/// The config to analyse `source` with: a configured camera's rules when one
/// matches (by `--camera` or by URL), else defaults with an id from the name.
pub fn config_for_source(mut cfg: Config, source: &str, camera: Option<&str>) -> Result<Config> {
    let cam = match camera {
        Some(id) => {
            let Some(c) = cfg.camera(id) else {
                bail!(
                    "--camera {id}: no such camera in the config (configured: {})",
                    cfg.cameras
                        .iter()
                        .map(|c| c.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            };
            let mut c = c.clone();
            c.url = source.to_string();
            c
        }
        None => match cfg.cameras.iter().find(|c| c.url == source) {
            Some(c) => c.clone(),
            None => CameraConfig::new(&id_from_source(source), source),
        },
    };
    let mut cam = cam;
    cam.enabled = true;
    cam.realtime = false;
    cam.loop_file = false;
    cfg.cameras = vec![cam];
    Ok(cfg)
}

fn id_from_source(source: &str) -> String {
    let stem = if source.contains("://") {
        source
            .rsplit('/')
            .find(|s| !s.is_empty())
            .unwrap_or("camera")
    } else {
        std::path::Path::new(source)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("camera")
    };
    let id: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if id.is_empty() {
        "camera".into()
    } else {
        id
    }
}

pub fn event_json(e: &Event) -> serde_json::Value {
    let mut v = serde_json::to_value(e).unwrap_or_default();
    if let serde_json::Value::Object(m) = &mut v {
        m.insert("time".into(), e.ts.to_rfc3339().into());
    }
    v
}

pub fn run(a: Args) -> Result<ExitCode> {
    let (mut cfg, dir) = a.common.load()?;
    if let Some(src) = &a.source {
        cfg = config_for_source(cfg, src, a.camera.as_deref())?;
    } else if cfg.cameras.is_empty() {
        bail!("nothing to analyse: pass a video file, image, folder or rtsp:// URL, or a --config with [[camera]] sections");
    } else {
        // Offline analysis runs each file once, as fast as it decodes; pacing
        // and looping are for files standing in for live cameras in `serve`.
        for c in &mut cfg.cameras {
            c.realtime = false;
            c.loop_file = false;
        }
    }
    if let Some(fps) = a.fps {
        if !(fps > 0.0 && fps <= 120.0) {
            bail!("--fps must be in (0, 120], got {fps}");
        }
        for c in &mut cfg.cameras {
            c.fps = fps;
        }
    }
    if a.faces {
        cfg.faces.enabled = true;
        for c in &mut cfg.cameras {
            let f = c.faces.get_or_insert_with(Default::default);
            f.enabled = true;
        }
    }
    if a.plates {
        for c in &mut cfg.cameras {
            let p = c.plates.get_or_insert_with(Default::default);
            p.enabled = true;
        }
    }
    let store = Arc::new(open_store(&dir)?);
    super::configure_seal_key(&store, &cfg, &dir)?;
    let detector = pipeline::build_detector(&cfg, &models_dir(&cfg))
        .context("cannot load the object detector")?;
    let face_service = if cfg.faces.enabled {
        Some(super::faces::open_service(&cfg, store.clone())?)
    } else {
        None
    };
    let shutdown = Shutdown::new();
    {
        let s = shutdown.clone();
        let _ = ctrlc_on_signal(move || s.trigger());
    }
    let interrupted = shutdown.clone();
    let json = a.json;
    let sink: pipeline::EventSink = Box::new(move |e: &Event| {
        let mut out = std::io::stdout().lock();
        if json {
            let _ = writeln!(out, "{}", event_json(e));
        } else {
            let _ = writeln!(
                out,
                "{}  {:<10} {:<11} {:<14} {} #{}  {}",
                e.ts,
                e.camera,
                e.kind,
                e.rule.as_deref().unwrap_or("-"),
                e.label.as_deref().unwrap_or("-"),
                e.track_id.unwrap_or(0),
                e.details
            );
        }
    });
    let opts = EngineOptions {
        mode: Mode::Offline,
        motion: a.motion,
        max_frames: a.max_frames,
        evidence: true,
        faces: face_service
            .as_ref()
            .and_then(|s| super::faces::live_faces(&cfg, s)),
        plates: super::plates::live_plates(&cfg)?,
    };
    let engine = Engine::start(
        &cfg,
        detector,
        store.clone(),
        opts,
        Arc::new(SystemClock),
        shutdown,
        Some(sink),
    )?;
    let summary = engine.wait()?;
    if let Some(s) = &face_service {
        s.save_sightings()?;
    }
    drop(face_service);
    store.close();
    print_summary(&summary, json, &dir);
    if interrupted.is_triggered() {
        // A partial run must not look like a complete one to scripts.
        eprintln!("kuzet: interrupted; the summary covers the frames analysed so far");
        return Ok(ExitCode::from(130));
    }
    if summary.errors.is_empty() {
        Ok(ExitCode::SUCCESS)
    } else {
        for (cam, e) in &summary.errors {
            eprintln!("error: camera {cam}: {e}");
        }
        Ok(ExitCode::from(1))
    }
}

fn print_summary(s: &Summary, json: bool, dir: &std::path::Path) {
    if json {
        let v = serde_json::json!({
            "summary": {
                "frames": s.frames,
                "tracks": s.tracks,
                "tracks_total": s.total_tracks(),
                "events": s.events,
                "detections": s.detections,
                "peak": s.peak,
                "fps": (s.fps() * 10.0).round() / 10.0,
                "wall_seconds": (s.wall_seconds * 1000.0).round() / 1000.0,
                "cameras": s.cameras,
                // Time per stage summed over threads (they overlap): where a
                // run's time went, e.g. `evidence` on the post thread.
                "stage_seconds": s.stages.seconds.iter()
                    .map(|(k, v)| (k.clone(), serde_json::json!((v * 1000.0).round() / 1000.0)))
                    .collect::<serde_json::Map<_, _>>(),
                "errors": s.errors.iter().map(|(c, e)| serde_json::json!({"camera": c, "error": e})).collect::<Vec<_>>(),
                "data_dir": dir.display().to_string(),
            }
        });
        let mut v = v;
        if let (Some(f), Some(m)) = (&s.faces, v["summary"].as_object_mut()) {
            m.insert("faces".into(), serde_json::json!(f));
        }
        if let (Some(p), Some(m)) = (&s.plates, v["summary"].as_object_mut()) {
            m.insert("plates".into(), serde_json::json!(p));
        }
        println!("{v}");
    } else {
        println!("--");
        println!(
            "frames {}  wall {:.1} s  {:.1} frames/s  data in {}",
            s.frames,
            s.wall_seconds,
            s.fps(),
            dir.display()
        );
        let tracks: Vec<String> = s.tracks.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "tracks: {}",
            if tracks.is_empty() {
                "none".into()
            } else {
                tracks.join(", ")
            }
        );
        let peak: Vec<String> = s.peak.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "most in one frame: {}",
            if peak.is_empty() {
                "none".into()
            } else {
                peak.join(", ")
            }
        );
        let ev: Vec<String> = s.events.iter().map(|(k, v)| format!("{k} {v}")).collect();
        println!(
            "events: {}",
            if ev.is_empty() {
                "none".into()
            } else {
                ev.join(", ")
            }
        );
        if let Some(f) = &s.faces {
            println!(
                "faces: {} person crops, {} faces, {} passed the quality gate, {} sightings, {} matches, {} dropped, {:.1} s",
                f.jobs, f.faces, f.passed, f.sightings, f.matches, f.dropped, f.seconds
            );
        }
        if let Some(p) = &s.plates {
            println!(
                "plates: {} vehicle crops, {} read, {} plate reads stored, {} hotlist matches, {} dropped, {:.1} s",
                p.jobs, p.reads, p.plate_reads, p.matches, p.dropped, p.seconds
            );
        }
    }
}

/// SIGINT/SIGTERM → `f`, via a tiny thread blocked on a signal pipe; no async
/// runtime is needed for offline analysis.
pub fn ctrlc_on_signal(f: impl Fn() + Send + 'static) -> std::io::Result<()> {
    static mut PIPE_W: libc::c_int = -1;
    extern "C" fn on_signal(_: libc::c_int) {
        // SAFETY: write(2) is async-signal-safe; PIPE_W is set before the handler.
        unsafe {
            let b = 1u8;
            libc::write(PIPE_W, &b as *const u8 as *const libc::c_void, 1);
        }
    }
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: plain POSIX calls with valid arguments.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        PIPE_W = fds[1];
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let r = fds[0];
    std::thread::spawn(move || {
        let mut b = 0u8;
        // SAFETY: reading one byte into a valid buffer.
        let n = unsafe { libc::read(r, &mut b as *mut u8 as *mut libc::c_void, 1) };
        if n > 0 {
            f();
        }
    });
    Ok(())
}
