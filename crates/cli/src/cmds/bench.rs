//! `kuzet bench`: where the time goes, and how that compares with baselines
//! measured in the same run on the same machine — never against numbers from
//! elsewhere. Baselines:
//! - model-only inference on the same frames (the ceiling a pipeline can reach
//!   without skipping work);
//! - the Python reference pipeline in `bench/reference.py` (opencv-python +
//!   onnxruntime, same model, video, sampling, thresholds, threads);
//! - the same pipeline with and without motion gating on a mostly static video.

use super::{cpu_seconds, load_config, models_dir};
use anyhow::{bail, Context, Result};
use base::{Frame, Shutdown, SystemClock};
use config::Config;
use pipeline::{Engine, EngineOptions, Mode, Summary, STAGES};
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Instant;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct Args {
    #[command(subcommand)]
    pub cmd: Option<BenchCmd>,
    /// Video to benchmark on (people or traffic moving).
    #[arg(required = true)]
    pub video: Option<PathBuf>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Analysed frames (0 = the whole video).
    #[arg(long, default_value_t = 0)]
    pub frames: u64,
    #[arg(long, default_value_t = 5.0)]
    pub fps: f32,
    /// Also run the Python reference pipeline (sets up .deps/pyvenv once).
    #[arg(long)]
    pub python: bool,
    /// A mostly static video for the motion-gating comparison.
    #[arg(long = "static")]
    pub static_video: Option<PathBuf>,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub json: bool,
}

struct PipelineRun {
    summary: Summary,
    wall: f64,
    cpu: f64,
}

impl PipelineRun {
    fn fps(&self) -> f64 {
        self.summary.frames as f64 / self.wall.max(1e-9)
    }
    fn cpu_per_frame(&self) -> f64 {
        self.cpu / (self.summary.frames.max(1) as f64)
    }
    fn json(&self) -> serde_json::Value {
        let n = self.summary.frames.max(1) as f64;
        let stages: serde_json::Map<String, serde_json::Value> = STAGES
            .iter()
            .map(|s| {
                (
                    s.to_string(),
                    json!(round3(self.summary.stages.get(s) * 1000.0 / n)),
                )
            })
            .collect();
        json!({
            "frames": self.summary.frames,
            "detected_frames": self.summary.cameras.iter().map(|c| c.detected_frames).sum::<u64>(),
            "wall_s": round3(self.wall),
            "cpu_s": round3(self.cpu),
            "fps": round3(self.fps()),
            "cpu_s_per_frame": round6(self.cpu_per_frame()),
            "stage_ms_per_frame": stages,
            "tracks": self.summary.tracks,
        })
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

fn bench_config(base: &Config, video: &Path, fps: f32) -> Config {
    let mut cfg = base.clone();
    let mut cam = config::CameraConfig::new("bench", &video.display().to_string());
    cam.fps = fps;
    cfg.cameras = vec![cam];
    cfg
}

fn run_pipeline(cfg: &Config, motion: bool, frames: u64) -> Result<PipelineRun> {
    let dir = tempdir()?;
    let store = Arc::new(store::Store::open(&dir)?);
    let detector = pipeline::build_detector(cfg, &models_dir(cfg))?;
    let opts = EngineOptions {
        mode: Mode::Offline,
        motion: Some(motion),
        max_frames: (frames > 0).then_some(frames),
        evidence: true,
        faces: None,
        plates: None,
    };
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    let engine = Engine::start(
        cfg,
        detector,
        store.clone(),
        opts,
        Arc::new(SystemClock),
        Shutdown::new(),
        None,
    )?;
    let summary = engine.wait()?;
    store.close();
    let run = PipelineRun {
        wall: t.elapsed().as_secs_f64(),
        cpu: cpu_seconds() - cpu0,
        summary,
    };
    let _ = std::fs::remove_dir_all(&dir);
    if let Some((cam, e)) = run.summary.errors.first() {
        bail!("benchmark source {cam} failed: {e}");
    }
    Ok(run)
}

fn tempdir() -> Result<PathBuf> {
    let d = std::env::temp_dir().join(format!(
        "kuzet-bench-{}-{}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&d)?;
    Ok(d)
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// Decodes the frames once, then times the detector alone on each (batch 1,
/// whole frame): inference is the ceiling, pre/post are reported apart.
fn model_only(cfg: &Config, video: &Path, fps: f32, frames: u64) -> Result<serde_json::Value> {
    let spec = media::SourceSpec::parse(&video.display().to_string())?;
    let opts = media::SourceOptions {
        target_fps: Some(fps as f64),
        ..Default::default()
    };
    let mut src = media::open(&spec, &opts, Arc::new(SystemClock))?;
    let mut decoded: Vec<Frame> = Vec::new();
    while let Some(f) = src.next_frame()? {
        decoded.push(f);
        if frames > 0 && decoded.len() as u64 >= frames {
            break;
        }
    }
    if decoded.is_empty() {
        bail!("{}: no frames decoded", video.display());
    }
    let mut det = pipeline::build_detector(cfg, &models_dir(cfg))?;
    det.detect(&[vision::DetectRequest::whole(&decoded[0])])?; // warm-up
    let (mut pre, mut inf, mut post) = (0.0, 0.0, 0.0);
    let cpu0 = cpu_seconds();
    let t = Instant::now();
    for f in &decoded {
        det.detect(&[vision::DetectRequest::whole(f)])?;
        let tm = det.last_timings();
        pre += tm.preprocess.as_secs_f64();
        inf += tm.inference.as_secs_f64();
        post += tm.postprocess.as_secs_f64();
    }
    let wall = t.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let n = decoded.len() as f64;
    Ok(json!({
        "frames": decoded.len(),
        "inference_ms_per_frame": round3(inf * 1000.0 / n),
        "preprocess_ms_per_frame": round3(pre * 1000.0 / n),
        "postprocess_ms_per_frame": round3(post * 1000.0 / n),
        "inference_only_fps": round3(n / inf.max(1e-9)),
        "detector_fps": round3(n / wall.max(1e-9)),
        "cpu_s_per_frame": round6(cpu / n),
    }))
}

fn python_reference(
    cfg: &Config,
    video: &Path,
    fps: f32,
    frames: u64,
) -> Result<serde_json::Value> {
    let root = base::env::workspace_root();
    let venv = std::process::Command::new("bash")
        .arg(root.join("scripts/bench_venv.sh"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run scripts/bench_venv.sh")?;
    if !venv.status.success() {
        bail!("scripts/bench_venv.sh failed: the Python reference needs PyPI access once to install onnxruntime and opencv-python-headless");
    }
    let py = String::from_utf8_lossy(&venv.stdout).trim().to_string();
    let threads = if cfg.models.threads == 0 {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
    } else {
        cfg.models.threads
    };
    let model = models_dir(cfg).join("coco_detect/yolox_nano.onnx");
    let out = std::process::Command::new(&py)
        .arg(root.join("bench/reference.py"))
        .arg(video)
        .args(["--model", &model.display().to_string()])
        .args(["--fps", &fps.to_string()])
        .args(["--frames", &frames.to_string()])
        .args(["--threads", &threads.to_string()])
        .args(["--score", &cfg.detect.score_threshold.to_string()])
        .args(["--nms", &cfg.detect.nms_iou.to_string()])
        .args(["--classes", &cfg.detect.classes.join(",")])
        .arg("--json")
        .stderr(std::process::Stdio::inherit())
        .output()
        .context("cannot run bench/reference.py")?;
    if !out.status.success() {
        bail!("bench/reference.py failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout).context("bench/reference.py printed no JSON")
}

/// Runs `bench/<script>` over `photos` with the bench venv's Python, the
/// arguments every photo reference takes (models, threads, repeat, spin)
/// plus `extra`, and parses the JSON it prints. `None`, with a note on
/// stderr, when no venv has the packages (the Rust figures still stand).
fn photo_reference(
    script: &str,
    photos: &[PathBuf],
    cfg: &Config,
    threads: usize,
    repeat: u32,
    extra: &[String],
) -> Result<Option<serde_json::Value>> {
    let Some(py) = face_bench::venv_python() else {
        eprintln!(
            "Python reference skipped: no venv with cv2, numpy and onnxruntime. Create it with \
             `scripts/bench_venv.sh` (needs PyPI once), then rerun; Rust figures only."
        );
        return Ok(None);
    };
    let out = std::process::Command::new(&py)
        .arg(base::env::workspace_root().join("bench").join(script))
        .args(photos)
        .arg("--models")
        .arg(models_dir(cfg))
        .args(["--threads", &threads.to_string()])
        .args(["--repeat", &repeat.to_string()])
        .args(cfg.models.spinning.then_some("--spin"))
        .args(extra)
        .arg("--json")
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("cannot run bench/{script}"))?;
    if !out.status.success() {
        bail!("bench/{script} failed ({})", out.status);
    }
    serde_json::from_slice(&out.stdout)
        .map(Some)
        .with_context(|| format!("bench/{script} printed no JSON"))
}

pub fn run(a: Args) -> Result<ExitCode> {
    match a.cmd {
        Some(BenchCmd::Faces(f)) => return face_bench::run(f),
        Some(BenchCmd::Plates(p)) => return plate_bench::run(p),
        Some(BenchCmd::Analytics(x)) => return analytics_bench::run(x),
        None => {}
    }
    let video = a
        .video
        .clone()
        .context("a video to benchmark on is required")?;
    let base_cfg = load_config(a.config.as_deref())?;
    if !video.exists() {
        bail!("{}: no such video", video.display());
    }
    let cfg = bench_config(&base_cfg, &video, a.fps);
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let say = |s: &str| {
        if !a.json {
            eprintln!("{s}");
        }
    };

    say("model-only inference (ceiling)…");
    let ceiling = model_only(&cfg, &video, a.fps, a.frames)?;
    say("pipeline, motion gating off…");
    let full = run_pipeline(&cfg, false, a.frames)?;
    say("pipeline, motion gating on…");
    let gated = run_pipeline(&cfg, true, a.frames)?;
    let python = if a.python {
        say("Python reference pipeline…");
        Some(python_reference(&cfg, &video, a.fps, a.frames)?)
    } else {
        None
    };
    let statics = match &a.static_video {
        Some(v) => {
            say("static video, motion gating off/on…");
            let scfg = bench_config(&base_cfg, v, a.fps);
            Some((
                run_pipeline(&scfg, false, a.frames)?,
                run_pipeline(&scfg, true, a.frames)?,
            ))
        }
        None => None,
    };

    let inf_ms = ceiling["inference_ms_per_frame"].as_f64().unwrap_or(0.0);
    let wall_ms = full.wall * 1000.0 / full.summary.frames.max(1) as f64;
    let overhead = wall_ms / inf_ms.max(1e-9) - 1.0;
    let cams_per_core = |cpu_per_frame: f64| 1.0 / (cpu_per_frame * 5.0).max(1e-9);
    let mut report = json!({
        "video": video.display().to_string(),
        "analysis_fps": a.fps,
        "cores": cores,
        "model_only": ceiling,
        "pipeline": full.json(),
        "pipeline_motion_gated": gated.json(),
        "overhead_vs_inference": round3(overhead),
        "cameras_per_core_at_5fps": round3(cams_per_core(full.cpu_per_frame())),
        "cameras_per_core_at_5fps_gated": round3(cams_per_core(gated.cpu_per_frame())),
    });
    if let Some(py) = &python {
        let pf = py["fps"].as_f64().unwrap_or(0.0);
        let pc = py["cpu_s_per_frame"].as_f64().unwrap_or(0.0);
        report["python_reference"] = py.clone();
        report["vs_python"] = json!({
            "fps_ratio": round3(full.fps() / pf.max(1e-9)),
            "cpu_per_frame_ratio": round3(pc / full.cpu_per_frame().max(1e-9)),
        });
    }
    if let Some((off, on)) = &statics {
        report["static"] = json!({
            "video": a.static_video.as_ref().map(|p| p.display().to_string()),
            "gating_off": off.json(),
            "gating_on": on.json(),
            "fps_multiplier": round3(on.fps() / off.fps().max(1e-9)),
            "cpu_multiplier": round3(off.cpu_per_frame() / on.cpu_per_frame().max(1e-9)),
            "cameras_per_core_at_5fps_gated": round3(cams_per_core(on.cpu_per_frame())),
        });
    }
    if a.json {
        println!("{report}");
        return Ok(ExitCode::SUCCESS);
    }
    print_tables(&report, &full, &gated, python.as_ref(), statics.as_ref());
    Ok(ExitCode::SUCCESS)
}

/// One row of a side-by-side photo-bench table: a label and how to format a
/// run's report for it.
type Row<'a> = (String, Box<dyn Fn(&serde_json::Value) -> String + 'a>);

/// Prints `rows` for each run of `cols` side by side (`kuzet bench faces` and
/// `kuzet bench plates`).
fn print_columns(cols: &[(&str, &serde_json::Value)], rows: &[Row<'_>]) {
    print!("\n  {:<28}", "");
    for (n, _) in cols {
        print!(" {n:>11}");
    }
    println!();
    for (label, get) in rows {
        print!("  {label:<28}");
        for (_, v) in cols {
            print!(" {:>11}", get(v));
        }
        println!();
    }
}

/// A number of a report, formatted with two decimals.
fn num2(key: &'static str) -> Box<dyn Fn(&serde_json::Value) -> String> {
    Box::new(move |v| format!("{:.2}", v[key].as_f64().unwrap_or(0.0)))
}

fn print_tables(
    r: &serde_json::Value,
    full: &PipelineRun,
    gated: &PipelineRun,
    py: Option<&serde_json::Value>,
    statics: Option<&(PipelineRun, PipelineRun)>,
) {
    println!(
        "kuzet bench: {}  ({} frames at {} fps, {} cores)",
        r["video"].as_str().unwrap_or(""),
        full.summary.frames,
        r["analysis_fps"],
        r["cores"]
    );
    println!("\nper-stage time, ms per analysed frame (stages overlap across threads):");
    println!("  {:<12} {:>10} {:>10}", "stage", "no gating", "gated");
    let n1 = full.summary.frames.max(1) as f64;
    let n2 = gated.summary.frames.max(1) as f64;
    for s in STAGES {
        println!(
            "  {:<12} {:>10.2} {:>10.2}",
            s,
            full.summary.stages.get(s) * 1000.0 / n1,
            gated.summary.stages.get(s) * 1000.0 / n2
        );
    }
    println!("\nend to end:");
    println!("  {:<34} {:>10} {:>14}", "", "frames/s", "CPU-s/frame");
    let m = &r["model_only"];
    println!(
        "  {:<34} {:>10.1} {:>14}",
        "model-only inference (ceiling)",
        m["inference_only_fps"].as_f64().unwrap_or(0.0),
        "-"
    );
    println!(
        "  {:<34} {:>10.1} {:>14.4}",
        "kuzet pipeline",
        full.fps(),
        full.cpu_per_frame()
    );
    println!(
        "  {:<34} {:>10.1} {:>14.4}",
        "kuzet pipeline, motion-gated",
        gated.fps(),
        gated.cpu_per_frame()
    );
    if let Some(p) = py {
        println!(
            "  {:<34} {:>10.1} {:>14.4}",
            "Python reference",
            p["fps"].as_f64().unwrap_or(0.0),
            p["cpu_s_per_frame"].as_f64().unwrap_or(0.0)
        );
    }
    println!("\nratios (same run):");
    println!(
        "  pipeline overhead over model-only inference: {:+.1} % (target <= 10 %)",
        r["overhead_vs_inference"].as_f64().unwrap_or(0.0) * 100.0
    );
    if let Some(v) = r.get("vs_python") {
        println!(
            "  vs Python reference: {:.2}x frames/s, {:.2}x less CPU per frame (target > 1 on both)",
            v["fps_ratio"].as_f64().unwrap_or(0.0),
            v["cpu_per_frame_ratio"].as_f64().unwrap_or(0.0)
        );
    }
    if let (Some((off, on)), Some(s)) = (statics, r.get("static")) {
        println!(
            "  static video {}: motion gating {:.2}x frames/s, {:.2}x less CPU per frame ({} of {} frames ran the detector)",
            s["video"].as_str().unwrap_or(""),
            s["fps_multiplier"].as_f64().unwrap_or(0.0),
            s["cpu_multiplier"].as_f64().unwrap_or(0.0),
            on.summary.cameras.iter().map(|c| c.detected_frames).sum::<u64>(),
            off.summary.frames
        );
    }
    println!(
        "\ncameras at 5 analysed fps one core sustains: {:.1} (no gating), {:.1} (gated, this video){}",
        r["cameras_per_core_at_5fps"].as_f64().unwrap_or(0.0),
        r["cameras_per_core_at_5fps_gated"].as_f64().unwrap_or(0.0),
        r.get("static")
            .map(|s| format!(
                ", {:.1} (gated, static video)",
                s["cameras_per_core_at_5fps_gated"].as_f64().unwrap_or(0.0)
            ))
            .unwrap_or_default()
    );
}

#[derive(clap::Subcommand)]
pub enum BenchCmd {
    /// Faces/s of detect + quality + align + embed on real photos, against
    /// the Python reference (`bench/faces_reference.py`) in the same run.
    Faces(face_bench::FacesArgs),
    /// Plates/s of vehicle detection + plate localisation + rectification +
    /// OCR on the labelled plate photos, against the Python reference
    /// (`bench/plates_reference.py`) in the same run.
    Plates(plate_bench::PlatesArgs),
    /// Per-frame cost of each analytic (detect, track, rules, crowd counter,
    /// static objects, faces, fire head) against plain detection, same run.
    Analytics(analytics_bench::AnalyticsArgs),
}

/// `kuzet bench faces`: the default FacePipeline (YuNet at kuzet's scales,
/// quality gate with MiniFASNet V2 + V1SE anti-spoofing, ArcFace alignment,
/// faceplugin 512-d embedder) over the photos listed in `labels.csv`, then
/// the Python reference with the same models, thresholds and threads over the
/// same files. Decoding is excluded on both sides (photos are decoded before
/// timing starts, each side with its usual decoder); one warm-up image is run
/// and not counted.
mod face_bench {
    use super::{cpu_seconds, load_config, round3};
    use anyhow::{bail, Context, Result};
    use serde_json::json;
    use std::path::{Path, PathBuf};
    use std::process::ExitCode;
    use std::time::Instant;

    #[derive(clap::Args)]
    pub struct FacesArgs {
        /// Folder holding `labels.csv` and the photos it lists (default
        /// `$KUZET_DATA/faces`).
        #[arg(long)]
        pub data_root: Option<PathBuf>,
        #[arg(long)]
        pub config: Option<PathBuf>,
        /// Passes over the photos (both sides).
        #[arg(long, default_value_t = 1)]
        pub repeat: u32,
        /// Only the first N photos (0 = all); `--limit 3` is the CI size.
        #[arg(long, default_value_t = 0)]
        pub limit: usize,
        /// Give the Python reference kuzet's rule for skipping the finer
        /// detector pass (`FaceDetector::scales_for`) instead of the plain
        /// two-scale rule, so both sides run the same detector passes.
        #[arg(long)]
        pub python_same_scales: bool,
        /// Rust only: do not run the Python reference.
        #[arg(long)]
        pub no_python: bool,
        /// Photos analysed at once on the kuzet side, each by its own
        /// pipeline with a share of the ORT threads (0 = one per core). The
        /// Python reference analyses one photo at a time with all threads.
        #[arg(long, default_value_t = 0)]
        pub workers: usize,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        pub json: bool,
    }

    /// Photo paths from `labels.csv` (first column, relative to the data
    /// folder that holds `faces/`, or to `root` itself).
    fn photo_list(root: &Path) -> Result<Vec<PathBuf>> {
        let csv = root.join("labels.csv");
        let text = std::fs::read_to_string(&csv).with_context(|| {
            format!(
                "cannot read {} (set --data-root or KUZET_DATA)",
                csv.display()
            )
        })?;
        let mut out = Vec::new();
        for row in base::labels_csv::Table::parse(&text).rows {
            let rel = row.get(0).unwrap_or("");
            if rel.is_empty() {
                continue;
            }
            let a = root.parent().map(|p| p.join(rel));
            let p = match a {
                Some(p) if p.is_file() => p,
                _ => root.join(rel),
            };
            if !p.is_file() {
                bail!("{}: listed in {} but missing", p.display(), csv.display());
            }
            out.push(p);
        }
        if out.is_empty() {
            bail!("{} lists no photos", csv.display());
        }
        Ok(out)
    }

    pub(super) fn venv_python() -> Option<PathBuf> {
        let venv = std::env::var_os("KUZET_PYVENV")
            .map(PathBuf::from)
            .unwrap_or_else(|| base::env::workspace_root().join(".deps/pyvenv"));
        let py = venv.join("bin/python");
        let ok = std::process::Command::new(&py)
            .args(["-c", "import cv2, numpy, onnxruntime"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then_some(py)
    }

    pub fn run(a: FacesArgs) -> Result<ExitCode> {
        let mut cfg = load_config(a.config.as_deref())?;
        // Same intra-op threads on both sides, stated in the report.
        if cfg.models.threads == 0 {
            cfg.models.threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
        }
        let threads = cfg.models.threads;
        let say = |s: &str| {
            if !a.json {
                eprintln!("{s}");
            }
        };
        let root = a
            .data_root
            .clone()
            .unwrap_or_else(|| base::env::data_dir().join("faces"));
        let mut paths = photo_list(&root)?;
        if a.limit > 0 {
            paths.truncate(a.limit);
        }
        let repeat = a.repeat.max(1);

        say(&format!("decoding {} photos (not timed)…", paths.len()));
        let images = paths
            .iter()
            .map(|p| ::faces::load_photo(p).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?;
        let pool = crate::cmds::faces::face_pool_for(&cfg, a.workers)?;
        let min_face = if a.python_same_scales {
            pool.first().gate().min_size
        } else {
            0.0
        };
        say(&format!("kuzet FacePipeline × {} workers…", pool.workers()));
        pool.try_each(|p| p.analyze_image(&images[0]).map(drop))?;
        pool.reset_totals();
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let work: Vec<(u32, usize)> = (0..repeat)
            .flat_map(|r| (0..images.len()).map(move |i| (r, i)))
            .collect();
        let counts = pool.map(&work, |p, &(_, i)| {
            p.analyze_image(&images[i]).map(|got| {
                let e = got.iter().filter(|f| f.embedding.is_some()).count();
                [got.len(), e]
            })
        });
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let mut per_image = counts
            .into_iter()
            .collect::<std::result::Result<Vec<_>, _>>()?;
        per_image.truncate(images.len());
        let tot = pool.totals();
        let n_img = tot.images.max(1) as f64;
        let rust = json!({
            "images": images.len(),
            "repeat": repeat,
            "workers": pool.workers(),
            "ort_threads_per_worker": ::faces::split_threads(threads, pool.workers()).1,
            "faces_detected": tot.faces / u64::from(repeat),
            "faces_embedded": tot.embedded / u64::from(repeat),
            "per_image_faces_embedded": per_image,
            "wall_s": round3(wall),
            "cpu_s": round3(cpu),
            "faces_per_s": round3(tot.embedded as f64 / wall.max(1e-9)),
            "images_per_s": round3(tot.images as f64 / wall.max(1e-9)),
            "stage_ms_per_image": {
                "detect": round3(tot.detect_ms / n_img),
                "quality": round3(tot.quality_ms / n_img),
                "align": round3(tot.align_ms / n_img),
                "embed": round3(tot.embed_ms / n_img),
            },
        });
        drop(pool);

        let python = if a.no_python {
            None
        } else {
            say("Python reference (bench/faces_reference.py)…");
            super::photo_reference(
                "faces_reference.py",
                &paths,
                &cfg,
                threads,
                repeat,
                &["--min-face".into(), min_face.to_string()],
            )?
        };

        let mut report = json!({
            "data_root": root.display().to_string(),
            "threads": threads,
            "ort_spinning": cfg.models.spinning,
            "decode": "excluded (photos decoded before timing, both sides)",
            "python_detector_scales": if a.python_same_scales { "kuzet's (finer pass skipped when it can only add faces below the gate's min size)" } else { "plain two-scale rule (finer pass on every image with long side > 960 px)" },
            "work": "YuNet detect at kuzet's scales, quality gate incl. MiniFASNet V2+V1SE on faces passing size/pose/sharpness, ArcFace alignment, faceplugin 512-d embed of faces passing the gate",
            "rust": rust,
        });
        if let Some(p) = &python {
            let rf = report["rust"]["faces_per_s"].as_f64().unwrap_or(0.0);
            let pf = p["faces_per_s"].as_f64().unwrap_or(0.0);
            let ri = report["rust"]["images_per_s"].as_f64().unwrap_or(0.0);
            let pi = p["images_per_s"].as_f64().unwrap_or(0.0);
            let (re, pe) = (
                report["rust"]["faces_embedded"].as_u64().unwrap_or(0),
                p["faces_embedded"].as_u64().unwrap_or(0),
            );
            let mismatched = report["rust"]["per_image_faces_embedded"]
                .as_array()
                .zip(p["per_image_faces_embedded"].as_array())
                .map(|(r, q)| r.iter().zip(q).filter(|(x, y)| x[1] != y[1]).count())
                .unwrap_or(0);
            report["python"] = p.clone();
            // Faces per CPU-second: the work each side spends per face,
            // which a loaded machine distorts much less than the wall rate.
            let per_cpu = |v: &serde_json::Value, n: u64| {
                n as f64 * f64::from(repeat) / v["cpu_s"].as_f64().unwrap_or(0.0).max(1e-9)
            };
            let (rc, pc) = (per_cpu(&report["rust"], re), per_cpu(p, pe));
            report["vs_python"] = json!({
                "faces_per_s_ratio": round3(rf / pf.max(1e-9)),
                "faces_per_cpu_s": [round3(rc), round3(pc)],
                "faces_per_cpu_s_ratio": round3(rc / pc.max(1e-9)),
                "images_per_s_ratio": round3(ri / pi.max(1e-9)),
                "faces_embedded": [re, pe],
                "images_with_different_embedded_count": mismatched,
            });
        }
        if a.json {
            println!("{report}");
        } else {
            print_table(&report);
        }
        Ok(ExitCode::SUCCESS)
    }

    fn print_table(r: &serde_json::Value) {
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        println!(
            "kuzet bench faces: {}  ({} photos x {}, {} ORT threads, decode excluded)\n  \
             kuzet: {} photos at once, {} ORT thread(s) each; Python: one photo at a time",
            r["data_root"].as_str().unwrap_or(""),
            r["rust"]["images"],
            r["rust"]["repeat"],
            r["threads"],
            r["rust"]["workers"],
            r["rust"]["ort_threads_per_worker"]
        );
        let cols: Vec<(&str, &serde_json::Value)> = std::iter::once(("kuzet", &r["rust"]))
            .chain(r.get("python").map(|p| ("Python", p)))
            .collect();
        let mut rows: Vec<super::Row> = vec![
            (
                "faces detected".into(),
                Box::new(|v| v["faces_detected"].to_string()),
            ),
            (
                "faces embedded".into(),
                Box::new(|v| v["faces_embedded"].to_string()),
            ),
            ("faces/s".into(), super::num2("faces_per_s")),
            ("images/s".into(), super::num2("images_per_s")),
        ];
        // Per worker: with several workers the stages of different photos
        // overlap, so these add up to more than the wall time.
        for s in ["detect", "quality", "align", "embed"] {
            rows.push((
                format!("{s}, ms/image"),
                Box::new(move |v| format!("{:.2}", f(&v["stage_ms_per_image"][s]))),
            ));
        }
        rows.push(("CPU-s total".into(), super::num2("cpu_s")));
        super::print_columns(&cols, &rows);
        if let Some(v) = r.get("vs_python") {
            println!(
                "\n  kuzet / Python: {:.2}x faces/s, {:.2}x images/s (target >= 1.5x), \
                 {:.2}x faces per CPU-second; faces embedded {} vs {}, {} photos differ",
                f(&v["faces_per_s_ratio"]),
                f(&v["images_per_s_ratio"]),
                f(&v["faces_per_cpu_s_ratio"]),
                v["faces_embedded"][0],
                v["faces_embedded"][1],
                v["images_with_different_embedded_count"]
            );
        }
    }
}

/// `kuzet bench plates`: `Anpr::recognize` on the photos of
/// `plates/labels.csv` in the configuration the Python reference reproduces
/// (YOLOX vehicles, the 4-corner plate model on the image and on each
/// vehicle, perspective rectification, PP-OCRv4 rec of the whole plate at
/// 1x and 1.5x width; no character-line finder, no text-detector fallback),
/// then `bench/plates_reference.py` with the same models, thresholds and
/// threads on the same files. The default configuration (with the line
/// finder) is timed too, kuzet only, so the cost of the accuracy work is on
/// record. Decoding is excluded on both sides; one warm-up image is not
/// counted.
mod plate_bench {
    use super::{cpu_seconds, load_config, models_dir, round3};
    use anyhow::{bail, Context, Result};
    use serde_json::json;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::time::Instant;
    use vehicles::{AnprConfig, AnprPool, RgbImage};

    #[derive(clap::Args)]
    pub struct PlatesArgs {
        /// Folder holding `plates/labels.csv` (default `$KUZET_DATA`).
        #[arg(long)]
        pub data_root: Option<PathBuf>,
        #[arg(long)]
        pub config: Option<PathBuf>,
        /// Passes over the photos (both sides).
        #[arg(long, default_value_t = 1)]
        pub repeat: u32,
        /// Only every Nth photo of the list (1 = all); `--every 20` is the CI
        /// size (11 photos across the regions).
        #[arg(long, default_value_t = 1)]
        pub every: usize,
        /// Rust only: do not run the Python reference.
        #[arg(long)]
        pub no_python: bool,
        /// Photos read at once on the kuzet side, each by its own reader with
        /// a share of the ORT threads (0 = one per core). One reader with all
        /// threads is timed too; the Python reference reads one photo at a
        /// time with all threads.
        #[arg(long, default_value_t = 0)]
        pub workers: usize,
        /// Print one JSON object instead of tables.
        #[arg(long)]
        pub json: bool,
    }

    /// Times `recognize` over the images on every reader of `pool` at once
    /// (each photo read by one reader; one warm-up photo per reader first).
    fn time_rust(pool: &AnprPool, images: &[RgbImage], repeat: u32) -> Result<serde_json::Value> {
        pool.try_each(|a| a.recognize(&images[0]).map(drop))?;
        pool.reset_stats();
        let work: Vec<(u32, usize)> = (0..repeat)
            .flat_map(|r| (0..images.len()).map(move |i| (r, i)))
            .collect();
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let got = pool.map(&work, |a, &(_, i)| {
            let before = a.stats.plates_read;
            a.recognize(&images[i]).map(|reads| {
                (
                    a.stats.plates_read - before,
                    reads.first().map(|p| p.raw_text.clone()),
                )
            })
        });
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        let mut first: Vec<(u64, Option<String>)> = got.into_iter().collect::<Result<_, _>>()?;
        first.truncate(images.len());
        let (per_image, texts): (Vec<u64>, Vec<Option<String>>) = first.into_iter().unzip();
        let s = pool.stats();
        Ok(json!({
            "images": images.len(),
            "repeat": repeat,
            "workers": pool.workers(),
            "plates_read": s.plates_read / u64::from(repeat),
            "crops_read": s.crops_read / u64::from(repeat),
            "per_image_plates_read": per_image,
            "best_raw_text": texts,
            "wall_s": round3(wall),
            "cpu_s": round3(cpu),
            "plates_per_s": round3(s.plates_read as f64 / wall.max(1e-9)),
            "plates_per_cpu_s": round3(s.plates_read as f64 / cpu.max(1e-9)),
            "images_per_s": round3(s.images as f64 / wall.max(1e-9)),
            "plate_model_runs": s.plate_model_runs / u64::from(repeat),
        }))
    }

    pub fn run(a: PlatesArgs) -> Result<ExitCode> {
        let mut cfg = load_config(a.config.as_deref())?;
        if cfg.models.threads == 0 {
            cfg.models.threads = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(2);
        }
        let threads = cfg.models.threads;
        let say = |s: &str| {
            if !a.json {
                eprintln!("{s}");
            }
        };
        let root = a.data_root.clone().unwrap_or_else(base::env::data_dir);
        let rows: Vec<_> = vehicles::read_labels(&root)?
            .into_iter()
            .step_by(a.every.max(1))
            .collect();
        if rows.is_empty() {
            bail!(
                "{} lists no photos",
                root.join("plates/labels.csv").display()
            );
        }
        let paths: Vec<PathBuf> = rows.iter().map(|r| root.join(&r.path)).collect();
        let repeat = a.repeat.max(1);
        say(&format!("decoding {} photos (not timed)…", paths.len()));
        let images = paths
            .iter()
            .map(|p| vehicles::load_image(p).map_err(anyhow::Error::from))
            .collect::<Result<Vec<_>>>()?;
        let session = vision::SessionConfig {
            intra_threads: threads,
            spinning: cfg.models.spinning,
            ..Default::default()
        };
        let load = |ac: AnprConfig, workers: usize| {
            AnprPool::new(
                &vision::ModelManifest::embedded(),
                &models_dir(&cfg),
                ac,
                workers,
            )
            .context(
                "cannot load the plate models (check KUZET_MODELS, or run `kuzet models check`)",
            )
        };
        // The Python reference runs the plate model on the whole photo
        // every time.
        let same = AnprConfig {
            image_pass: vehicles::ImagePass::Always,
            fit_plate_canvas: false,
            // The script letterboxes every region to 640, however small.
            plate_max_upscale: f32::INFINITY,
            line_isolation: false,
            text_fallback: false,
            session: session.clone(),
            ..AnprConfig::default()
        };
        let stretches = same.read_stretch.clone();
        say("kuzet Anpr, the Python reference's configuration, one reader…");
        let one = time_rust(&load(same.clone(), 1)?, &images, repeat)?;
        let pool = load(same.clone(), a.workers)?;
        say(&format!("… the same, {} readers at once…", pool.workers()));
        let rust = time_rust(&pool, &images, repeat)?;
        let workers = pool.workers();
        drop(pool);
        // A pool of `a.workers` readers on `ac`, timed over every photo (the
        // pool is dropped before the next one loads).
        let timed = |ac: AnprConfig| time_rust(&load(ac, a.workers)?, &images, repeat);
        say("… the same, plate model on the region padded to a multiple of 32, not to 640×640…");
        let fit = timed(AnprConfig {
            fit_plate_canvas: true,
            ..same.clone()
        })?;
        say("… and whole-photo plate pass only where the vehicle crops found no plate…");
        let smart = timed(AnprConfig {
            image_pass: vehicles::ImagePass::Fallback,
            fit_plate_canvas: true,
            ..same.clone()
        })?;
        say("kuzet Anpr, default configuration (line finder, early accept, fallback)…");
        let default = timed(AnprConfig {
            session,
            ..AnprConfig::default()
        })?;

        let python = if a.no_python {
            None
        } else {
            say("Python reference (bench/plates_reference.py)…");
            super::photo_reference("plates_reference.py", &paths, &cfg, threads, repeat, &[])?
        };

        let mut report = json!({
            "data_root": root.display().to_string(),
            "threads": threads,
            "ort_spinning": cfg.models.spinning,
            "decode": "excluded (photos decoded before timing, both sides)",
            "work": format!("YOLOX-nano vehicles, 4-corner plate model (640×640 canvas) on the image and on the best 8 vehicles, NMS merge, best 6 plates rectified, PP-OCRv4 rec of each plate at widths x{stretches:?} in one batch, greedy CTC"),
            "workers": workers,
            "ort_threads_per_worker": vision::split_threads(threads, workers).1,
            "rust": rust,
            "rust_one_reader": one,
            "rust_fit_canvas": fit,
            "rust_image_pass_fallback": smart,
            "rust_default_config": default,
        });
        if let Some(p) = &python {
            let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
            let r = &report["rust"];
            let ratio = f(&r["plates_per_s"]) / f(&p["plates_per_s"]).max(1e-9);
            let cpu_ratio = f(&p["cpu_s"]) / f(&r["cpu_s"]).max(1e-9);
            let differ = r["per_image_plates_read"]
                .as_array()
                .zip(p["per_image_plates_read"].as_array())
                .map(|(x, y)| x.iter().zip(y).filter(|(a, b)| a != b).count())
                .unwrap_or(0);
            let same_text = r["best_raw_text"]
                .as_array()
                .zip(p["best_raw_text"].as_array())
                .map(|(x, y)| x.iter().zip(y).filter(|(a, b)| a == b).count())
                .unwrap_or(0);
            let p_per_cpu = f(&p["plates_read"]) * f64::from(repeat) / f(&p["cpu_s"]).max(1e-9);
            let vs = json!({
                "plates_per_s_ratio": round3(ratio),
                "fit_canvas_plates_per_s_ratio": round3(
                    f(&report["rust_fit_canvas"]["plates_per_s"]) / f(&p["plates_per_s"]).max(1e-9)
                ),
                "fit_canvas_images_per_s_ratio": round3(
                    f(&report["rust_fit_canvas"]["images_per_s"]) / f(&p["images_per_s"]).max(1e-9)
                ),
                "image_pass_fallback_images_per_s_ratio": round3(
                    f(&report["rust_image_pass_fallback"]["images_per_s"])
                        / f(&p["images_per_s"]).max(1e-9)
                ),
                "image_pass_fallback_plates_per_s_ratio": round3(
                    f(&report["rust_image_pass_fallback"]["plates_per_s"])
                        / f(&p["plates_per_s"]).max(1e-9)
                ),
                "default_config_images_per_s_ratio": round3(
                    f(&report["rust_default_config"]["images_per_s"])
                        / f(&p["images_per_s"]).max(1e-9)
                ),
                "one_reader_plates_per_s_ratio": round3(
                    f(&report["rust_one_reader"]["plates_per_s"]) / f(&p["plates_per_s"]).max(1e-9)
                ),
                "plates_per_cpu_s_ratio": round3(f(&r["plates_per_cpu_s"]) / p_per_cpu.max(1e-9)),
                "images_per_s_ratio": round3(f(&r["images_per_s"]) / f(&p["images_per_s"]).max(1e-9)),
                "cpu_s_ratio_python_over_rust": round3(cpu_ratio),
                "plates_read": [r["plates_read"].clone(), p["plates_read"].clone()],
                "images_with_different_plate_count": differ,
                "images_with_same_best_raw_text": same_text,
            });
            report["python"] = p.clone();
            report["vs_python"] = vs;
        }
        if a.json {
            println!("{report}");
        } else {
            print_table(&report);
        }
        Ok(ExitCode::SUCCESS)
    }

    fn print_table(r: &serde_json::Value) {
        let f = |v: &serde_json::Value| v.as_f64().unwrap_or(0.0);
        println!(
            "kuzet bench plates: {}  ({} photos x {}, {} ORT threads, decode excluded)",
            r["data_root"].as_str().unwrap_or(""),
            r["rust"]["images"],
            r["rust"]["repeat"],
            r["threads"]
        );
        let cols: Vec<(&str, &serde_json::Value)> = [
            ("kuzet", &r["rust"]),
            ("kuzet 1 rdr", &r["rust_one_reader"]),
            ("kuzet fit", &r["rust_fit_canvas"]),
            ("kuzet img-", &r["rust_image_pass_fallback"]),
            ("kuzet dflt", &r["rust_default_config"]),
        ]
        .into_iter()
        .chain(r.get("python").map(|p| ("Python", p)))
        .collect();
        let rows: Vec<super::Row> = vec![
            (
                "readers at once".into(),
                Box::new(|v| v["workers"].as_u64().map_or("1".into(), |w| w.to_string())),
            ),
            (
                "plates read".into(),
                Box::new(|v| v["plates_read"].to_string()),
            ),
            (
                "plate model runs".into(),
                Box::new(|v| v["plate_model_runs"].to_string()),
            ),
            ("plates/s".into(), super::num2("plates_per_s")),
            ("images/s".into(), super::num2("images_per_s")),
            ("wall s".into(), super::num2("wall_s")),
            ("CPU-s total".into(), super::num2("cpu_s")),
        ];
        super::print_columns(&cols, &rows);
        if let Some(v) = r.get("vs_python") {
            println!(
                "\n  kuzet / Python (same work): {:.2}x plates/s with {} readers at once (target >= 2x), \
                 {:.2}x with one reader; {:.2}x plates per CPU-second;\n  \
                 smarter work on the same models: {:.2}x photos/s ({:.2}x candidates/s) with the plate model on \
                 the region padded to a multiple of 32 (`fit`: the same model runs, without the square canvas's \
                 edge artefacts to read);\n  \
                 {:.2}x photos/s with, besides, the whole-photo plate pass only where the vehicle crops found \
                 no plate (`img-`);\n  \
                 the default configuration (line finder, several reads per plate, text fallback: the \
                 accuracy of `kuzet eval plates`): {:.2}x photos/s (`dflt`);\n  \
                 plates read {} vs {}, {} photos differ in plate count, {} of {} with the same best raw read",
                f(&v["plates_per_s_ratio"]),
                r["workers"],
                f(&v["one_reader_plates_per_s_ratio"]),
                f(&v["plates_per_cpu_s_ratio"]),
                f(&v["fit_canvas_images_per_s_ratio"]),
                f(&v["fit_canvas_plates_per_s_ratio"]),
                f(&v["image_pass_fallback_images_per_s_ratio"]),
                f(&v["default_config_images_per_s_ratio"]),
                v["plates_read"][0],
                v["plates_read"][1],
                v["images_with_different_plate_count"],
                v["images_with_same_best_raw_text"],
                r["rust"]["images"]
            );
        }
    }
}

/// `kuzet bench analytics <video>`: the cost of each analytic stage per
/// analysed frame, each timed alone on the same decoded frames (no thread
/// overlap), with ratios against the plain whole-frame detection measured in
/// the same run. Interval-driven analytics (crowd counter, fire head) also
/// get their cost amortised over the frames between two runs at their
/// default interval.
pub mod analytics_bench {
    use super::{load_config, models_dir, round3};
    use anyhow::{bail, Context, Result};
    use base::{Frame, SystemClock};
    use serde_json::json;
    use std::path::PathBuf;
    use std::process::ExitCode;
    use std::sync::Arc;
    use std::time::Instant;

    #[derive(clap::Args)]
    pub struct AnalyticsArgs {
        /// Video to measure on (people moving, ideally).
        pub video: PathBuf,
        #[arg(long)]
        pub config: Option<PathBuf>,
        /// Analysed frames (the CI size is small; 0 = the whole video).
        #[arg(long, default_value_t = 50)]
        pub frames: u64,
        #[arg(long, default_value_t = 5.0)]
        pub fps: f32,
        /// Skip the fire head (it needs its weights and is ~40 ms a region).
        #[arg(long)]
        pub no_fire: bool,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        pub json: bool,
    }

    /// Mean ms of `f` over `frames`.
    fn time_each<T>(
        frames: &[Frame],
        mut f: impl FnMut(&Frame) -> Result<T>,
    ) -> Result<(f64, Vec<T>)> {
        let mut out = Vec::with_capacity(frames.len());
        let t = Instant::now();
        for fr in frames {
            out.push(f(fr)?);
        }
        Ok((t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64, out))
    }

    pub fn run(a: AnalyticsArgs) -> Result<ExitCode> {
        if !a.video.exists() {
            bail!("{}: no such video", a.video.display());
        }
        let cfg = load_config(a.config.as_deref())?;
        let md = models_dir(&cfg);
        let spec = media::SourceSpec::parse(&a.video.display().to_string())?;
        let opts = media::SourceOptions {
            target_fps: Some(a.fps as f64),
            ..Default::default()
        };
        let mut src = media::open(&spec, &opts, Arc::new(SystemClock))?;
        let mut frames: Vec<Frame> = Vec::new();
        while let Some(f) = src.next_frame()? {
            frames.push(f);
            if a.frames > 0 && frames.len() as u64 >= a.frames {
                break;
            }
        }
        let Some(first) = frames.first().cloned() else {
            bail!("{}: no frames decoded", a.video.display());
        };
        let (w, h) = (first.width, first.height);
        let say = |s: &str| {
            if !a.json {
                eprintln!("{s}");
            }
        };
        let mut rows: Vec<(&str, f64, Option<f64>, String)> = Vec::new();

        say("detect (baseline: whole frame)…");
        let mut det = pipeline::build_detector(&cfg, &md)?;
        det.detect(&[vision::DetectRequest::whole(&first)])?;
        let (detect_ms, dets) = time_each(&frames, |f| {
            Ok(det.detect(&[vision::DetectRequest::whole(f)])?.remove(0))
        })?;
        rows.push(("detect", detect_ms, None, "YOLOX whole frame".into()));

        say("detect, 2×2 tiles…");
        let tiles: Vec<Option<base::BBox>> = std::iter::once(None)
            .chain(vision::grid_tiles(w, h, 2, 0.2).into_iter().map(Some))
            .collect();
        let (tiled_ms, _) = time_each(&frames, |f| {
            let reqs: Vec<_> = tiles
                .iter()
                .map(|r| vision::DetectRequest { frame: f, roi: *r })
                .collect();
            Ok(det.detect(&reqs)?.len())
        })?;
        rows.push(("detect_tiled_2x2", tiled_ms, None, "whole + 4 tiles".into()));

        say("track…");
        let mut tracker = track::Tracker::new(track::TrackerConfig::default());
        tracker.set_frame_size(w, h);
        let mut idx = 0usize;
        let (track_ms, updates) = time_each(&frames, |f| {
            let u = tracker.update(f.ts, &dets[idx], &track::Coverage::Full);
            idx += 1;
            Ok(u)
        })?;
        rows.push(("track", track_ms, None, String::new()));

        say("rules (zones, loitering, crowd, abandoned)…");
        let cam_toml = "[[camera]]\nid = \"bench\"\nurl = \"x.mp4\"\n\
            [[camera.zone]]\nname = \"all\"\npolygon = [[0,0],[1,0],[1,1],[0,1]]\nloiter_seconds = 30\n\
            crowd = { max_people = 20, gathering_increase = 5 }\n\
            [[camera.zone]]\nname = \"half\"\npolygon = [[0,0.5],[1,0.5],[1,1],[0,1]]\ndwell_seconds = 10\n\
            [[camera.line]]\nname = \"mid\"\nfrom = [0.5,0]\nto = [0.5,1]\n\
            [camera.abandoned]\nstatic_objects = true\n";
        let cam = config::Config::parse(cam_toml, "bench.toml")?
            .cameras
            .remove(0);
        let mut rules = analytics::RuleEngine::new(&cam, w, h);
        let mut idx = 0usize;
        let (rules_ms, _) = time_each(&frames, |f| {
            let u = &updates[idx];
            idx += 1;
            let objs: Vec<analytics::ObjectState<'_>> = u
                .active
                .iter()
                .map(|s| analytics::ObjectState {
                    track_id: s.id,
                    label: &s.label,
                    bbox: s.bbox,
                    score: s.score,
                })
                .collect();
            let ended: Vec<u64> = u.ended.iter().map(|t| t.id).collect();
            Ok(rules.update(f.ts, &objs, &ended).len())
        })?;
        rows.push((
            "rules",
            rules_ms,
            None,
            "2 zones, 1 line, crowd, loiter, abandoned".into(),
        ));

        say("static objects (dual background)…");
        let mut sd = vision::StaticObjectDetector::new(Default::default());
        let mut idx = 0usize;
        let (static_ms, blobs) = time_each(&frames, |f| {
            let known: Vec<base::BBox> = updates[idx].active.iter().map(|s| s.bbox).collect();
            idx += 1;
            Ok(sd.update(f, &known).len())
        })?;
        rows.push((
            "static_objects",
            static_ms,
            None,
            format!("{} blobs at the end", blobs.last().copied().unwrap_or(0)),
        ));

        // The default head model and the alternatives, so the choice's cost
        // is measured in the same run.
        for head in config::CROWD_HEAD_MODELS {
            say(&format!("crowd counter, {head} heads (every frame here)…"));
            let cc = config::CrowdCounterSettings {
                head_model: head.to_string(),
                ..Default::default()
            };
            let mut counter = pipeline::build_crowd_counter(&cfg, &md, &cc)?;
            counter.count(&first)?;
            let (crowd_ms, counts) = time_each(&frames, |f| Ok(counter.count(f)?.count()))?;
            let crowd_every = (cc.interval_seconds * a.fps).max(1.0) as f64;
            let default = head == config::CrowdCounterSettings::default().head_model;
            rows.push((
                if default {
                    "crowd_counter"
                } else {
                    "crowd_counter (alt heads)"
                },
                crowd_ms,
                Some(crowd_ms / crowd_every),
                format!(
                    "{head}{}; mean {:.1} people; amortised at one count per {} s",
                    if default { " (default)" } else { "" },
                    counts.iter().sum::<usize>() as f64 / counts.len() as f64,
                    cc.interval_seconds
                ),
            ));
        }

        say("faces (YuNet, whole frame)…");
        let mut fd = faces::FaceDetector::new(
            &vision::ModelManifest::embedded(),
            &md,
            faces::FaceDetectorConfig::default(),
        )
        .context("loading YuNet")?;
        let (face_ms, _) = time_each(&frames, |f| Ok(fd.detect(&f.rgb, f.width, f.height)?.len()))?;
        rows.push(("face_detect", face_ms, None, "YuNet, default scales".into()));

        if !a.no_fire {
            say("fire head (whole frame + 2×2 tiles)…");
            let fc = config::CameraFire::default();
            let mut clf = fire::FireClassifier::new(fire::ClassifierConfig::default())?;
            let (fire_ms, _) = time_each(&frames, |f| Ok(clf.score_frame(f)?))?;
            let every = (fc.classify_interval_seconds * a.fps).max(1.0) as f64;
            rows.push((
                "fire_head",
                fire_ms,
                Some(fire_ms / every),
                format!(
                    "amortised at one run per {} s",
                    fc.classify_interval_seconds
                ),
            ));
        }

        let report = json!({
            "video": a.video.display().to_string(),
            "frames": frames.len(),
            "width": w,
            "height": h,
            "analysis_fps": a.fps,
            "stages": rows.iter().map(|(name, ms, amort, note)| json!({
                "stage": name,
                "ms_per_frame": round3(*ms),
                "ratio_to_detect": round3(ms / detect_ms.max(1e-9)),
                "amortised_ms_per_frame": amort.map(round3),
                "amortised_ratio_to_detect": amort.map(|m| round3(m / detect_ms.max(1e-9))),
                "note": note,
            })).collect::<Vec<_>>(),
        });
        if a.json {
            println!("{report}");
            return Ok(ExitCode::SUCCESS);
        }
        println!(
            "kuzet bench analytics: {} ({} frames {}x{} at {} fps)\n",
            a.video.display(),
            frames.len(),
            w,
            h,
            a.fps
        );
        println!(
            "| stage | ms / frame | × detect | amortised ms / frame | amortised × detect | note |"
        );
        println!("|---|---|---|---|---|---|");
        for (name, ms, amort, note) in &rows {
            let (am, ar) = match amort {
                Some(m) => (format!("{m:.2}"), format!("{:.2}", m / detect_ms)),
                None => ("".into(), "".into()),
            };
            println!(
                "| {name} | {ms:.2} | {:.2} | {am} | {ar} | {note} |",
                ms / detect_ms
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
