//! kuzet configuration: one TOML file, validated at load.
//!
//! Every error names the offending key and, where the file has it, the line and
//! column (`kuzet.toml:12:3: camera[1].zone[0].polygon: needs at least 3
//! points`), so an operator fixes a typo without reading code. Coordinates of
//! zones, lines and masks are normalised to 0..1 of the frame so one config works
//! at any stream resolution.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{location}: {message}")]
    Invalid { location: String, message: String },
}

/// The whole file.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where all state lives (database, evidence). `--data-dir` overrides it.
    /// Relative paths are resolved against the config file's directory.
    #[serde(default)]
    pub data_dir: Option<PathBuf>,
    /// HTTP listen address for `kuzet serve`.
    #[serde(default)]
    pub listen: Option<String>,
    #[serde(default)]
    pub models: ModelsConfig,
    #[serde(default)]
    pub detect: DetectConfig,
    #[serde(default)]
    pub tracker: TrackerSettings,
    #[serde(default)]
    pub evidence: EvidenceConfig,
    #[serde(default, rename = "camera")]
    pub cameras: Vec<CameraConfig>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelsConfig {
    /// Folder of ONNX files; default `$KUZET_MODELS` or `../shared/models`.
    pub dir: Option<PathBuf>,
    /// Manifest key of the object detector.
    pub detector: String,
    pub execution_provider: ExecutionProvider,
    /// ONNX Runtime intra-op threads; 0 = one per core.
    pub threads: usize,
    /// Let idle ONNX Runtime threads spin-wait between operators: lower
    /// inference latency, but the spinning burns cycles the decode and
    /// post-processing threads could use (see docs/performance.md).
    pub spinning: bool,
}

impl Default for ModelsConfig {
    fn default() -> Self {
        ModelsConfig {
            dir: None,
            detector: "yolox_nano".into(),
            execution_provider: ExecutionProvider::Cpu,
            threads: 0,
            spinning: false,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutionProvider {
    #[default]
    Cpu,
    Cuda,
    Tensorrt,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectConfig {
    pub score_threshold: f32,
    pub nms_iou: f32,
    /// COCO labels to keep; everything else the detector finds is discarded.
    pub classes: Vec<String>,
    /// Frames from different cameras run through the model together, up to this many.
    pub max_batch: usize,
    /// Detector input side in pixels (multiple of 32). YOLOX-nano is trained
    /// at 416; 320 runs ~1.7x faster and misses more small, distant objects.
    pub input_size: u32,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            score_threshold: 0.3,
            nms_iou: 0.45,
            classes: DEFAULT_CLASSES.iter().map(|s| s.to_string()).collect(),
            max_batch: 4,
            input_size: 416,
        }
    }
}

/// People, vehicles and carried objects: what CCTV analytics acts on.
pub const DEFAULT_CLASSES: &[&str] = &[
    "person",
    "bicycle",
    "car",
    "motorbike",
    "bus",
    "truck",
    "backpack",
    "handbag",
    "suitcase",
];

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerSettings {
    /// Seconds a lost track is kept for re-association before it ends.
    pub max_lost_seconds: f32,
    /// Matched frames before a track is confirmed (and gets a public id).
    pub min_hits: u32,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        TrackerSettings {
            max_lost_seconds: 3.0,
            min_hits: 2,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct EvidenceConfig {
    /// JPEG quality of evidence images (1-100).
    pub jpeg_quality: u8,
    /// Save the whole frame with each event (crops are always saved).
    pub full_frame: bool,
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            jpeg_quality: 85,
            full_frame: true,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    /// Stable identifier used in the API and the database.
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    /// `rtsp://…`, a video file, an image, or a folder of images.
    pub url: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Analysis frame rate; frames in between are skipped before conversion.
    #[serde(default = "default_fps")]
    pub fps: f32,
    /// Bounded frame queue between decoder and detector (drop-oldest).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Play files at their native speed (a file standing in for a live camera).
    #[serde(default)]
    pub realtime: bool,
    /// Restart a file at its end.
    #[serde(default, rename = "loop")]
    pub loop_file: bool,
    #[serde(default)]
    pub location: Option<Location>,
    #[serde(default)]
    pub motion: MotionSettings,
    /// Tiled detection for dense scenes (`tiling = { enabled = true }`).
    #[serde(default)]
    pub tiling: TilingSettings,
    #[serde(default, rename = "zone")]
    pub zones: Vec<ZoneConfig>,
    #[serde(default, rename = "line")]
    pub lines: Vec<LineConfig>,
    /// Abandoned-object alerts (`[camera.abandoned]`); off when absent.
    #[serde(default)]
    pub abandoned: Option<AbandonedConfig>,
}

fn yes() -> bool {
    true
}
fn default_fps() -> f32 {
    5.0
}
fn default_queue() -> usize {
    16
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Location {
    pub lat: f64,
    pub lon: f64,
}

/// Frigate-style motion gating: the detector runs only where pixels changed.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MotionSettings {
    pub enabled: bool,
    /// Grey-level difference (0-255) that counts as a changed pixel.
    pub threshold: u8,
    /// Smallest motion region, as a fraction of the frame area.
    pub min_area: f32,
    /// Background adaptation rate per analysed frame (0-1).
    pub alpha: f32,
    /// Width of the downscaled frame motion is computed on.
    pub downscale_width: u32,
    /// Run the detector on the whole frame at least this often (seconds), so
    /// slow or stopped objects are re-confirmed; 0 disables.
    pub full_frame_interval: f32,
    /// Polygons (normalised 0..1) where motion is ignored: clocks, trees, sky.
    pub masks: Vec<Vec<[f32; 2]>>,
}

impl Default for MotionSettings {
    fn default() -> Self {
        MotionSettings {
            enabled: true,
            threshold: 25,
            min_area: 0.001,
            alpha: 0.05,
            downscale_width: 320,
            full_frame_interval: 10.0,
            masks: Vec::new(),
        }
    }
}

/// Tiled detection: each analysed frame is detected whole *and* as a grid of
/// overlapping tiles at native scale (all in one batch), so small people in
/// dense scenes reach the detector at a usable size. Costs one detector input
/// per tile on top of the whole frame.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TilingSettings {
    pub enabled: bool,
    /// Tiles across and down, e.g. `[2, 2]`.
    pub grid: [u32; 2],
    /// Fraction of a tile shared with its neighbour, in [0, 0.5].
    pub overlap: f32,
}

impl Default for TilingSettings {
    fn default() -> Self {
        TilingSettings {
            enabled: false,
            grid: [2, 2],
            overlap: 0.2,
        }
    }
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub name: String,
    /// Vertices normalised to 0..1 of frame width/height.
    pub polygon: Vec<[f32; 2]>,
    /// Labels the zone applies to; empty = all tracked classes.
    #[serde(default)]
    pub classes: Vec<String>,
    /// Emit `zone_dwell` once a track has stayed this long.
    #[serde(default)]
    pub dwell_seconds: Option<f32>,
    /// Emit `zone_enter` / `zone_exit` events (dwell-only zones turn this off).
    #[serde(default = "yes")]
    pub enter_exit: bool,
    /// Emit `loitering` once a person has been in the zone this long, counted
    /// across short occlusions (unlike `dwell_seconds`, which is per track).
    #[serde(default)]
    pub loiter_seconds: Option<f32>,
    /// A person track that ends in the zone hands its dwell start to a new
    /// person track appearing near it within this many seconds.
    #[serde(default = "default_reassociate")]
    pub reassociate_seconds: f32,
    /// People counting and crowd alerts for this zone; off when absent.
    #[serde(default)]
    pub crowd: Option<CrowdConfig>,
}

fn default_reassociate() -> f32 {
    5.0
}

/// Per-zone crowd rules: density/count thresholds with hysteresis, and sudden
/// gathering/dispersal. Counts are of `person` tracks standing in the zone.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrowdConfig {
    /// `crowd_density` when the smoothed count exceeds this.
    pub max_people: Option<u32>,
    /// Ground area of the zone in square metres (needed for density).
    pub area_m2: Option<f32>,
    /// `crowd_density` when people per square metre exceed this.
    pub max_density: Option<f32>,
    /// The alert clears only once the level falls below threshold × (1 − hysteresis),
    /// so a crowd hovering at the threshold does not flap.
    pub hysteresis: f32,
    /// The level must stay over (or under) the threshold this long to change state.
    pub hold_seconds: f32,
    /// Per-frame counts are averaged over this window (detector misses are noisy).
    pub smoothing_seconds: f32,
    /// `crowd_gathering` when the count grows by at least this within `window_seconds`.
    pub gathering_increase: Option<u32>,
    /// `crowd_dispersal` when the count falls by at least this within the window;
    /// defaults to `gathering_increase`.
    pub dispersal_decrease: Option<u32>,
    pub window_seconds: f32,
}

impl Default for CrowdConfig {
    fn default() -> Self {
        CrowdConfig {
            max_people: None,
            area_m2: None,
            max_density: None,
            hysteresis: 0.2,
            hold_seconds: 3.0,
            smoothing_seconds: 2.0,
            gathering_increase: None,
            dispersal_decrease: None,
            window_seconds: 30.0,
        }
    }
}

/// `[camera.abandoned]`: carried objects left behind by the person who brought them.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AbandonedConfig {
    pub enabled: bool,
    /// Labels of carried objects; only these ever alert (never cars or furniture).
    pub labels: Vec<String>,
    /// Seconds the object must stay still with its owner away before the alert.
    pub seconds: f32,
    /// The owner is away beyond this distance, in multiples of the owner's box
    /// height (resolution independent); back within half of it counts as returned.
    pub owner_distance: f32,
    /// The object is still while its centre stays within this fraction of its
    /// size from where it stopped.
    pub still_fraction: f32,
    /// A person is associated with the object when their boxes overlap or are
    /// within this many object sizes of each other.
    pub association_factor: f32,
    /// An owner track that ends is taken over by a new person track appearing
    /// near it within this many seconds (short occlusions).
    pub reassociate_seconds: f32,
}

impl Default for AbandonedConfig {
    fn default() -> Self {
        AbandonedConfig {
            enabled: true,
            labels: ["backpack", "handbag", "suitcase"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            seconds: 30.0,
            owner_distance: 3.0,
            still_fraction: 0.5,
            association_factor: 1.5,
            reassociate_seconds: 5.0,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LineDirection {
    /// Count crossings both ways (each event says which).
    #[default]
    Both,
    /// Only crossings from the right-hand side of from→to to its left-hand
    /// side, as seen on screen looking from `from` towards `to`.
    In,
    /// Only crossings from left to right.
    Out,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub name: String,
    pub from: [f32; 2],
    pub to: [f32; 2],
    #[serde(default)]
    pub direction: LineDirection,
    #[serde(default)]
    pub classes: Vec<String>,
}

impl Config {
    /// Reads and validates a config file. Relative `data_dir` and
    /// `models.dir` are made absolute against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [&mut cfg.data_dir, &mut cfg.models.dir]
            .into_iter()
            .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
        Ok(cfg)
    }

    /// Parses and validates TOML text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            let location = match e.span() {
                Some(span) => {
                    let (line, col) = line_col(text, span.start);
                    match enclosing_table(text, span.start) {
                        Some(t) => format!("{origin}:{line}:{col}: in [{t}]"),
                        None => format!("{origin}:{line}:{col}"),
                    }
                }
                None => origin.to_string(),
            };
            ConfigError::Invalid {
                location,
                message: e.message().to_string(),
            }
        })?;
        let expanded = cfg.expand_env();
        if let Err(v) = expanded.and_then(|_| cfg.validate()) {
            let location = locate(text, &v.path)
                .map(|(l, c)| format!("{origin}:{l}:{c}: {}", v.path_string()))
                .unwrap_or_else(|| format!("{origin}: {}", v.path_string()));
            return Err(ConfigError::Invalid {
                location,
                message: v.message,
            });
        }
        Ok(cfg)
    }

    /// A config with one camera for `url` and defaults elsewhere, used by
    /// `kuzet analyze <url>` when no file is given.
    pub fn single(url: &str, id: &str) -> Config {
        let mut cfg = Config::default();
        cfg.cameras.push(CameraConfig::new(id, url));
        cfg
    }

    pub fn camera(&self, id: &str) -> Option<&CameraConfig> {
        self.cameras.iter().find(|c| c.id == id)
    }

    /// Expands `${NAME}` in camera URLs from the environment, so credentials
    /// and data locations stay out of the file.
    fn expand_env(&mut self) -> Result<(), Violation> {
        for (i, c) in self.cameras.iter_mut().enumerate() {
            let path = vec![Seg::Key("camera"), Seg::Index(i), Seg::Key("url")];
            c.url = expand_vars(&c.url).map_err(|message| Violation { path, message })?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), Violation> {
        let d = &self.detect;
        check(
            (0.0..=1.0).contains(&d.score_threshold),
            &["detect", "score_threshold"],
            "must be between 0 and 1",
        )?;
        check(
            (0.0..=1.0).contains(&d.nms_iou),
            &["detect", "nms_iou"],
            "must be between 0 and 1",
        )?;
        check(
            (1..=64).contains(&d.max_batch),
            &["detect", "max_batch"],
            "must be between 1 and 64",
        )?;
        check(
            d.input_size.is_multiple_of(32) && (160..=1280).contains(&d.input_size),
            &["detect", "input_size"],
            "must be a multiple of 32 between 160 and 1280",
        )?;
        check(
            !d.classes.is_empty(),
            &["detect", "classes"],
            "must name at least one label, e.g. [\"person\", \"car\"]",
        )?;
        check(
            self.tracker.max_lost_seconds > 0.0 && self.tracker.max_lost_seconds <= 600.0,
            &["tracker", "max_lost_seconds"],
            "must be in (0, 600]",
        )?;
        check(
            (1..=100).contains(&self.evidence.jpeg_quality),
            &["evidence", "jpeg_quality"],
            "must be between 1 and 100",
        )?;
        if let Some(l) = &self.listen {
            check(
                l.parse::<std::net::SocketAddr>().is_ok(),
                &["listen"],
                "must be an address like \"127.0.0.1:8080\"",
            )?;
        }
        let mut ids = HashSet::new();
        for (i, c) in self.cameras.iter().enumerate() {
            let at = |k: &'static str| vec![Seg::Key("camera"), Seg::Index(i), Seg::Key(k)];
            check_at(
                valid_id(&c.id),
                at("id"),
                "must be 1-64 characters of letters, digits, '-', '_' or '.'",
            )?;
            check_at(
                ids.insert(c.id.as_str()),
                at("id"),
                &format!("duplicate camera id {:?}", c.id),
            )?;
            check_at(!c.url.trim().is_empty(), at("url"), "must not be empty")?;
            check_at(
                c.fps > 0.0 && c.fps <= 120.0,
                at("fps"),
                "must be in (0, 120]",
            )?;
            check_at(
                (1..=10_000).contains(&c.queue),
                at("queue"),
                "must be between 1 and 10000",
            )?;
            if let Some(loc) = c.location {
                check_at(
                    (-90.0..=90.0).contains(&loc.lat) && (-180.0..=180.0).contains(&loc.lon),
                    at("location"),
                    "lat must be in [-90, 90] and lon in [-180, 180]",
                )?;
            }
            let m = &c.motion;
            let mat = |k: &'static str| {
                vec![
                    Seg::Key("camera"),
                    Seg::Index(i),
                    Seg::Key("motion"),
                    Seg::Key(k),
                ]
            };
            check_at(
                m.min_area >= 0.0 && m.min_area < 1.0,
                mat("min_area"),
                "must be a fraction of the frame in [0, 1)",
            )?;
            check_at(
                m.alpha > 0.0 && m.alpha <= 1.0,
                mat("alpha"),
                "must be in (0, 1]",
            )?;
            check_at(
                (32..=1920).contains(&m.downscale_width),
                mat("downscale_width"),
                "must be between 32 and 1920",
            )?;
            check_at(
                m.full_frame_interval >= 0.0,
                mat("full_frame_interval"),
                "must be >= 0",
            )?;
            let tat = |k: &'static str| {
                vec![
                    Seg::Key("camera"),
                    Seg::Index(i),
                    Seg::Key("tiling"),
                    Seg::Key(k),
                ]
            };
            let t = &c.tiling;
            check_at(
                t.grid.iter().all(|n| (1..=4).contains(n)) && t.grid[0] * t.grid[1] >= 2,
                tat("grid"),
                "must be [across, down], each 1-4 and at least 2 tiles, e.g. [2, 2]",
            )?;
            check_at(
                (0.0..=0.5).contains(&t.overlap),
                tat("overlap"),
                "must be a fraction of a tile in [0, 0.5]",
            )?;
            for (j, mask) in m.masks.iter().enumerate() {
                let path = vec![
                    Seg::Key("camera"),
                    Seg::Index(i),
                    Seg::Key("motion"),
                    Seg::Key("masks"),
                    Seg::Index(j),
                ];
                check_polygon(mask, path)?;
            }
            let mut names = HashSet::new();
            for (j, z) in c.zones.iter().enumerate() {
                let zat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("zone"),
                        Seg::Index(j),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    valid_id(&z.name),
                    zat("name"),
                    "must be 1-64 characters of letters, digits, '-', '_' or '.'",
                )?;
                check_at(
                    names.insert(z.name.as_str()),
                    zat("name"),
                    &format!("duplicate zone/line name {:?} on camera {:?}", z.name, c.id),
                )?;
                check_polygon(&z.polygon, zat("polygon"))?;
                if let Some(s) = z.dwell_seconds {
                    check_at(s > 0.0, zat("dwell_seconds"), "must be > 0")?;
                }
                check_labels(&z.classes, &d.classes, zat("classes"))?;
                if let Some(s) = z.loiter_seconds {
                    check_at(s > 0.0, zat("loiter_seconds"), "must be > 0")?;
                }
                check_at(
                    (0.0..=600.0).contains(&z.reassociate_seconds),
                    zat("reassociate_seconds"),
                    "must be in [0, 600]",
                )?;
                if let Some(cr) = &z.crowd {
                    let cat = |k: &'static str| {
                        let mut p = zat("crowd");
                        p.push(Seg::Key(k));
                        p
                    };
                    check_at(
                        cr.max_people.is_some()
                            || cr.max_density.is_some()
                            || cr.gathering_increase.is_some()
                            || cr.dispersal_decrease.is_some(),
                        zat("crowd"),
                        "needs max_people, max_density or gathering_increase, e.g. { max_people = 20 }",
                    )?;
                    if let Some(n) = cr.max_people {
                        check_at(n >= 1, cat("max_people"), "must be >= 1")?;
                    }
                    if let Some(a) = cr.area_m2 {
                        check_at(a > 0.0, cat("area_m2"), "must be > 0 (square metres)")?;
                    }
                    if let Some(x) = cr.max_density {
                        check_at(x > 0.0, cat("max_density"), "must be > 0 (people per m²)")?;
                        check_at(
                            cr.area_m2.is_some(),
                            cat("max_density"),
                            "needs area_m2, the zone's ground area in square metres",
                        )?;
                    }
                    check_at(
                        (0.0..1.0).contains(&cr.hysteresis),
                        cat("hysteresis"),
                        "must be a fraction in [0, 1)",
                    )?;
                    check_at(cr.hold_seconds >= 0.0, cat("hold_seconds"), "must be >= 0")?;
                    check_at(
                        cr.smoothing_seconds >= 0.0,
                        cat("smoothing_seconds"),
                        "must be >= 0",
                    )?;
                    for (k, v) in [
                        ("gathering_increase", cr.gathering_increase),
                        ("dispersal_decrease", cr.dispersal_decrease),
                    ] {
                        if let Some(n) = v {
                            check_at(n >= 1, cat(k), "must be >= 1")?;
                        }
                    }
                    check_at(
                        cr.window_seconds > 0.0 && cr.window_seconds <= 3600.0,
                        cat("window_seconds"),
                        "must be in (0, 3600]",
                    )?;
                }
            }
            for (j, l) in c.lines.iter().enumerate() {
                let lat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("line"),
                        Seg::Index(j),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    valid_id(&l.name),
                    lat("name"),
                    "must be 1-64 characters of letters, digits, '-', '_' or '.'",
                )?;
                check_at(
                    names.insert(l.name.as_str()),
                    lat("name"),
                    &format!("duplicate zone/line name {:?} on camera {:?}", l.name, c.id),
                )?;
                check_at(
                    in_unit(l.from),
                    lat("from"),
                    "coordinates are normalised: each must be between 0 and 1",
                )?;
                check_at(
                    in_unit(l.to),
                    lat("to"),
                    "coordinates are normalised: each must be between 0 and 1",
                )?;
                check_at(
                    (l.from[0] - l.to[0]).abs() + (l.from[1] - l.to[1]).abs() > 1e-3,
                    lat("to"),
                    "the line's two ends must differ",
                )?;
                check_labels(&l.classes, &d.classes, lat("classes"))?;
            }
            if let Some(a) = &c.abandoned {
                let aat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("abandoned"),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    !a.labels.is_empty(),
                    aat("labels"),
                    "must name at least one carried-object label, e.g. [\"backpack\", \"suitcase\"]",
                )?;
                check_labels(&a.labels, &d.classes, aat("labels"))?;
                check_at(
                    !a.labels.iter().any(|l| l == "person"),
                    aat("labels"),
                    "\"person\" is the owner, not an object that can be abandoned",
                )?;
                check_at(
                    a.seconds > 0.0 && a.seconds <= 86_400.0,
                    aat("seconds"),
                    "must be in (0, 86400]",
                )?;
                check_at(
                    a.owner_distance > 0.0,
                    aat("owner_distance"),
                    "must be > 0 (multiples of the owner's height)",
                )?;
                check_at(
                    a.still_fraction > 0.0 && a.still_fraction <= 5.0,
                    aat("still_fraction"),
                    "must be in (0, 5] (fraction of the object's size)",
                )?;
                check_at(
                    a.association_factor >= 0.0 && a.association_factor <= 20.0,
                    aat("association_factor"),
                    "must be in [0, 20] (multiples of the object's size)",
                )?;
                check_at(
                    (0.0..=600.0).contains(&a.reassociate_seconds),
                    aat("reassociate_seconds"),
                    "must be in [0, 600]",
                )?;
            }
        }
        Ok(())
    }
}

impl CameraConfig {
    pub fn new(id: &str, url: &str) -> CameraConfig {
        CameraConfig {
            id: id.to_string(),
            name: None,
            url: url.to_string(),
            enabled: true,
            fps: default_fps(),
            queue: default_queue(),
            realtime: false,
            loop_file: false,
            location: None,
            motion: MotionSettings::default(),
            tiling: TilingSettings::default(),
            zones: Vec::new(),
            lines: Vec::new(),
            abandoned: None,
        }
    }
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

fn expand_vars(s: &str) -> Result<String, String> {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unclosed \"${{\" in {s:?}"))?;
        let name = &after[..end];
        // The two kuzet locations have defaults even when unset.
        let fallback = match name {
            "KUZET_DATA" => Some(base::env::data_dir()),
            "KUZET_MODELS" => Some(base::env::models_dir()),
            _ => None,
        };
        match std::env::var(name) {
            Ok(v) => out.push_str(&v),
            Err(_) if fallback.is_some() => {
                out.push_str(&fallback.unwrap_or_default().to_string_lossy())
            }
            Err(_) => {
                return Err(format!(
                    "environment variable {name} is not set (referenced as ${{{name}}})"
                ))
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn in_unit(p: [f32; 2]) -> bool {
    (0.0..=1.0).contains(&p[0]) && (0.0..=1.0).contains(&p[1])
}

fn check_polygon(points: &[[f32; 2]], path: Vec<Seg>) -> Result<(), Violation> {
    check_at(
        points.len() >= 3,
        path.clone(),
        "a polygon needs at least 3 points, e.g. [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0]]",
    )?;
    check_at(
        points.iter().all(|p| in_unit(*p)),
        path.clone(),
        "coordinates are normalised: each must be between 0 and 1 (fractions of frame width and height)",
    )?;
    let poly = base::Polygon(
        points
            .iter()
            .map(|p| base::Point::new(p[0], p[1]))
            .collect(),
    );
    check_at(poly.area() > 1e-6, path, "the polygon has no area")
}

fn check_labels(labels: &[String], known: &[String], path: Vec<Seg>) -> Result<(), Violation> {
    for l in labels {
        check_at(
            known.contains(l),
            path.clone(),
            &format!(
                "label {l:?} is not detected; [detect] classes are {}",
                known.join(", ")
            ),
        )?;
    }
    Ok(())
}

#[derive(Clone, Debug)]
enum Seg {
    Key(&'static str),
    Index(usize),
}

struct Violation {
    path: Vec<Seg>,
    message: String,
}

impl Violation {
    fn path_string(&self) -> String {
        let mut s = String::new();
        for seg in &self.path {
            match seg {
                Seg::Key(k) => {
                    if !s.is_empty() {
                        s.push('.');
                    }
                    s.push_str(k)
                }
                Seg::Index(i) => s.push_str(&format!("[{i}]")),
            }
        }
        s
    }
}

fn check(ok: bool, path: &[&'static str], msg: &str) -> Result<(), Violation> {
    check_at(ok, path.iter().map(|k| Seg::Key(k)).collect(), msg)
}

fn check_at(ok: bool, path: Vec<Seg>, msg: &str) -> Result<(), Violation> {
    if ok {
        Ok(())
    } else {
        Err(Violation {
            path,
            message: msg.to_string(),
        })
    }
}

/// The `[table]` or `[[array]]` header above `offset`, so a parse error
/// says which section the bad key is in.
fn enclosing_table(text: &str, offset: usize) -> Option<String> {
    let before = &text[..offset.min(text.len())];
    let line_start = before.rfind('\n').unwrap_or(0);
    before[..line_start]
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['))
        .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before
        .rfind('\n')
        .map_or(before.len(), |p| before.len() - p - 1)
        + 1;
    (line, col)
}

/// Finds where a key path sits in the source, descending as far as it exists
/// (a defaulted key points at its table instead).
fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let doc = toml_edit::Document::parse(text.to_string()).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut span = None;
    for seg in path {
        let next = match seg {
            Seg::Key(k) => item.get(*k),
            Seg::Index(i) => item.get(*i),
        };
        match next {
            Some(n) => {
                item = n;
                let s = match item {
                    toml_edit::Item::Table(t) => t.span(),
                    toml_edit::Item::Value(v) => v.span(),
                    _ => item.span(),
                };
                if let Some(s) = s {
                    span = Some(s);
                }
            }
            None => break,
        }
    }
    span.map(|s| line_col(text, s.start))
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
data_dir = "state"
listen = "127.0.0.1:8080"

[detect]
score_threshold = 0.35

[[camera]]
id = "gate-1"
url = "rtsp://127.0.0.1:8554/gate"
fps = 5

[[camera.zone]]
name = "walkway"
polygon = [[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]
classes = ["person"]
dwell_seconds = 30

[[camera.line]]
name = "entrance"
from = [0.5, 0.0]
to = [0.5, 1.0]
direction = "in"
"#;

    fn err(text: &str) -> String {
        Config::parse(text, "k.toml").unwrap_err().to_string()
    }

    #[test]
    fn parses_good_config() {
        let c = Config::parse(GOOD, "k.toml").unwrap();
        assert_eq!(c.cameras.len(), 1);
        let cam = &c.cameras[0];
        assert_eq!(cam.zones[0].dwell_seconds, Some(30.0));
        assert_eq!(cam.lines[0].direction, LineDirection::In);
        assert!(cam.motion.enabled);
        assert_eq!(c.detect.score_threshold, 0.35);
    }

    #[test]
    fn unknown_key_points_at_line() {
        let text = GOOD.replace("fps = 5", "fps = 5\nfsp = 3");
        let e = err(&text);
        assert!(e.starts_with("k.toml:12:"), "{e}");
        assert!(e.contains("fsp"), "{e}");
        assert!(e.contains("in [camera]"), "{e}");
    }

    #[test]
    fn wrong_type_points_at_line() {
        let e = err(&GOOD.replace("fps = 5", "fps = \"fast\""));
        assert!(e.starts_with("k.toml:11:"), "{e}");
    }

    #[test]
    fn validation_names_key_and_line() {
        let text = GOOD.replace(
            "[[0.1, 0.5], [0.9, 0.5], [0.9, 1.0], [0.1, 1.0]]",
            "[[0.1, 0.5], [0.9, 0.5]]",
        );
        let e = err(&text);
        assert!(e.starts_with("k.toml:15:"), "{e}");
        assert!(e.contains("camera[0].zone[0].polygon"), "{e}");
        assert!(e.contains("at least 3 points"), "{e}");

        let e = err(&GOOD.replace("[0.9, 1.0], [0.1", "[1.9, 1.0], [0.1"));
        assert!(e.contains("normalised"), "{e}");

        let e = err(&GOOD.replace("classes = [\"person\"]", "classes = [\"dragon\"]"));
        assert!(e.contains("\"dragon\" is not detected"), "{e}");
        assert!(e.starts_with("k.toml:16:"), "{e}");

        let e = err(&format!(
            "{GOOD}\n[[camera]]\nid = \"gate-1\"\nurl = \"x.mp4\"\n"
        ));
        assert!(e.contains("duplicate camera id"), "{e}");
        assert!(e.starts_with("k.toml:26:"), "{e}");

        let e = err(&GOOD.replace("127.0.0.1:8080", "localhost"));
        assert!(e.starts_with("k.toml:3:") && e.contains("listen"), "{e}");

        let e = err(&GOOD.replace("score_threshold = 0.35", "score_threshold = 3.5"));
        assert!(e.contains("detect.score_threshold"), "{e}");
    }

    #[test]
    fn tiling_parses_and_validates() {
        let c = Config::parse(GOOD, "k.toml").unwrap();
        assert!(!c.cameras[0].tiling.enabled);
        assert_eq!(c.cameras[0].tiling.grid, [2, 2]);
        let on = GOOD.replace(
            "fps = 5",
            "fps = 5\ntiling = { enabled = true, grid = [3, 2] }",
        );
        let c = Config::parse(&on, "k.toml").unwrap();
        let t = &c.cameras[0].tiling;
        assert!(t.enabled && t.grid == [3, 2] && t.overlap == 0.2);

        let e = err(&GOOD.replace(
            "fps = 5",
            "fps = 5\ntiling = { enabled = true, grid = [1, 1] }",
        ));
        assert!(e.starts_with("k.toml:12:"), "{e}");
        assert!(e.contains("camera[0].tiling.grid"), "{e}");
        let e = err(&GOOD.replace("fps = 5", "fps = 5\ntiling = { overlap = 0.8 }"));
        assert!(e.starts_with("k.toml:12:"), "{e}");
        assert!(e.contains("camera[0].tiling.overlap"), "{e}");
        let e = err(&GOOD.replace("fps = 5", "fps = 5\ntiling = { tiles = 2 }"));
        assert!(e.starts_with("k.toml:12:") && e.contains("tiles"), "{e}");
    }

    #[test]
    fn urls_expand_environment() {
        std::env::set_var("KUZET_CFG_TEST_HOST", "10.0.0.7");
        let c = Config::parse(
            "[[camera]]\nid = \"a\"\nurl = \"rtsp://${KUZET_CFG_TEST_HOST}/s\"\n",
            "k.toml",
        )
        .unwrap();
        assert_eq!(c.cameras[0].url, "rtsp://10.0.0.7/s");
        let e = err("[[camera]]\nid = \"a\"\nurl = \"${KUZET_CFG_TEST_UNSET}/x\"\n");
        assert!(e.starts_with("k.toml:3:"), "{e}");
        assert!(e.contains("KUZET_CFG_TEST_UNSET is not set"), "{e}");
    }

    #[test]
    fn empty_config_is_valid() {
        let c = Config::parse("", "k.toml").unwrap();
        assert!(c.cameras.is_empty());
        assert_eq!(c.detect.classes.len(), DEFAULT_CLASSES.len());
    }

    const SAFETY: &str = r#"
[[camera]]
id = "hall"
url = "x.mp4"

[camera.abandoned]
seconds = 20
owner_distance = 2.5

[[camera.zone]]
name = "concourse"
polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
enter_exit = false
loiter_seconds = 120
crowd = { max_people = 20, area_m2 = 150.0, max_density = 2.0, hysteresis = 0.2, gathering_increase = 10, window_seconds = 30 }
"#;

    #[test]
    fn safety_rules_parse_with_defaults() {
        let c = Config::parse(SAFETY, "k.toml").unwrap();
        let cam = &c.cameras[0];
        let a = cam.abandoned.as_ref().unwrap();
        assert!(a.enabled);
        assert_eq!(a.seconds, 20.0);
        assert_eq!(a.owner_distance, 2.5);
        assert_eq!(a.labels, ["backpack", "handbag", "suitcase"]);
        let z = &cam.zones[0];
        assert_eq!(z.loiter_seconds, Some(120.0));
        assert_eq!(z.reassociate_seconds, 5.0);
        let cr = z.crowd.as_ref().unwrap();
        assert_eq!(cr.max_people, Some(20));
        assert_eq!(cr.max_density, Some(2.0));
        assert_eq!(cr.gathering_increase, Some(10));
        assert_eq!(cr.hold_seconds, 3.0);
        // Absent sections stay off.
        let g = Config::parse(GOOD, "k.toml").unwrap();
        assert!(g.cameras[0].abandoned.is_none());
        assert!(g.cameras[0].zones[0].crowd.is_none());
    }

    #[test]
    fn safety_rules_errors_point_at_lines() {
        let e = err(&SAFETY.replace("max_density = 2.0", "max_density = -2.0"));
        assert!(e.starts_with("k.toml:15:"), "{e}");
        assert!(e.contains("camera[0].zone[0].crowd.max_density"), "{e}");

        let e = err(&SAFETY.replace("area_m2 = 150.0, ", ""));
        assert!(e.contains("crowd.max_density: needs area_m2"), "{e}");

        let e = err(&SAFETY.replace("hysteresis = 0.2", "hysteresis = 1.5"));
        assert!(e.contains("crowd.hysteresis"), "{e}");

        let e = err(&SAFETY.replace(
            "crowd = { max_people = 20, area_m2 = 150.0, max_density = 2.0, hysteresis = 0.2, gathering_increase = 10, window_seconds = 30 }",
            "crowd = { area_m2 = 150.0 }",
        ));
        assert!(e.contains("zone[0].crowd: needs max_people"), "{e}");

        let e = err(&SAFETY.replace("crowd = {", "crowd = { max_pople = 3,"));
        assert!(
            e.starts_with("k.toml:15:") && e.contains("max_pople"),
            "{e}"
        );

        let e = err(&SAFETY.replace("loiter_seconds = 120", "loiter_seconds = 0"));
        assert!(e.starts_with("k.toml:14:"), "{e}");
        assert!(e.contains("zone[0].loiter_seconds"), "{e}");

        let e = err(&SAFETY.replace(
            "seconds = 20\n",
            "seconds = 20\nlabels = [\"car\", \"sofa\"]\n",
        ));
        assert!(e.contains("\"sofa\" is not detected"), "{e}");
        assert!(e.starts_with("k.toml:8:"), "{e}");

        let e = err(&SAFETY.replace("seconds = 20\n", "seconds = 20\nlabels = [\"person\"]\n"));
        assert!(e.contains("abandoned.labels"), "{e}");

        let e = err(&SAFETY.replace("owner_distance = 2.5", "owner_distance = 0"));
        assert!(e.starts_with("k.toml:8:"), "{e}");
        assert!(e.contains("camera[0].abandoned.owner_distance"), "{e}");
    }

    #[test]
    fn relative_paths_resolve_against_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.toml");
        std::fs::write(&p, GOOD).unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.data_dir.unwrap(), dir.path().join("state"));
        let e = Config::load(&dir.path().join("missing.toml")).unwrap_err();
        assert!(e.to_string().contains("missing.toml"));
    }
}
