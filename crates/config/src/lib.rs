//! kuzet configuration: one TOML file, validated at load.
//!
//! Every error names the offending key and, where the file has it, the line and
//! column (`kuzet.toml:12:3: camera[1].zone[0].polygon: needs at least 3
//! points`), so an operator fixes a typo without reading code. Coordinates of
//! zones, lines and masks are normalised to 0..1 of the frame so one config works
//! at any stream resolution.

pub mod edit;
pub mod owners;

pub use owners::{AgreementConfig, OwnerConfig, OwnerKind};

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
    /// Face matching and sightings (`[faces]`); cameras opt in with
    /// `[camera.faces]`.
    #[serde(default)]
    pub faces: FacesSettings,
    /// Plate reads and hotlists (`[plates]`); cameras opt in with
    /// `[camera.plates]`.
    #[serde(default)]
    pub plates: PlatesSettings,
    /// How long each class of data is kept (`[retention]`).
    #[serde(default)]
    pub retention: RetentionConfig,
    /// Who runs this installation (`[organisation]`); decides whether
    /// biometric functions may be switched on at all.
    #[serde(default)]
    pub organisation: OrganisationConfig,
    /// Web sessions of `kuzet serve` (`[server]`).
    #[serde(default)]
    pub server: ServerConfig,
    /// Distributed mode (`[cluster]`): the bus, and where `kuzet serve`
    /// stores what workers publish. Flags and environment variables
    /// override it.
    #[serde(default)]
    pub cluster: ClusterConfig,
    /// Bodies that own cameras, with their data-sharing agreements
    /// (`[[owner]]`, see [`owners`]).
    #[serde(default, rename = "owner")]
    pub owners: Vec<OwnerConfig>,
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
    /// Mask every head, and the plate of every vehicle that is not the
    /// record's subject, in stored evidence irreversibly (bystanders are not
    /// to be identified by whoever reviews events); the original is kept
    /// only sealed under `key_file` for an audited un-mask. On by default;
    /// `false` stores frames as captured (a deployment's own decision, e.g.
    /// a closed site with no public).
    pub mask_bystanders: bool,
    /// AES-256 key (64 hex digits) that seals un-masked originals.
    /// `KUZET_KEY_FILE` overrides it; with neither, `<data_dir>/keys/
    /// evidence.key` is created (mode 0600) and the log says so. Relative
    /// paths are resolved against the config file's directory.
    pub key_file: Option<PathBuf>,
    /// Seconds of video before an event kept in its evidence clip (0-30).
    /// Clips are off when this and `clip_after_seconds` are both 0.
    pub clip_before_seconds: f32,
    /// Seconds of video after an event kept in its evidence clip (0-30).
    /// The clip is encoded once these have passed; the event itself is
    /// stored (and alerts) at once and gets its clip then.
    pub clip_after_seconds: f32,
    /// Clips are downscaled to at most this width in pixels (160-3840).
    pub clip_max_width: u32,
}

impl EvidenceConfig {
    /// Whether events get video clips.
    pub fn clips_enabled(&self) -> bool {
        self.clip_before_seconds + self.clip_after_seconds > 0.0
    }
}

impl Default for EvidenceConfig {
    fn default() -> Self {
        EvidenceConfig {
            jpeg_quality: 85,
            full_frame: true,
            mask_bystanders: true,
            key_file: None,
            clip_before_seconds: 3.0,
            clip_after_seconds: 3.0,
            clip_max_width: 960,
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
    /// Camera groups this camera belongs to (e.g. `["stadium", "north"]`):
    /// lost-child mode and searches address cameras by group.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Live face matching on person tracks (`[camera.faces]`); off when absent.
    #[serde(default)]
    pub faces: Option<CameraFaces>,
    /// Licence-plate reads and hotlist alerts on vehicle tracks
    /// (`[camera.plates]`); off when absent.
    #[serde(default)]
    pub plates: Option<CameraPlates>,
    /// Fire and smoke detection (`[camera.fire]`); off when absent.
    #[serde(default)]
    pub fire: Option<CameraFire>,
    /// Crowd counting for the zones' crowd rules (`[camera.crowd_counter]`):
    /// multi-scale person tiles fused with faces, every `interval_seconds`,
    /// instead of counting person tracks. Off when absent.
    #[serde(default)]
    pub crowd_counter: Option<CrowdCounterSettings>,
    /// Image ↔ ground mapping (`[camera.calibration]`) for measurements in
    /// metres: speed, bus-lane distance. Absent = pixels only.
    #[serde(default)]
    pub calibration: Option<CalibrationConfig>,
    /// Traffic-offence rules (`[camera.offences]`, `[[camera.offences.speed]]`…).
    #[serde(default)]
    pub offences: OffencesConfig,
    /// Id of the `[[owner]]` this camera belongs to; its data-sharing
    /// agreement limits what runs on it, who sees it and how long its data
    /// is kept. Absent = the operating organisation's own camera.
    #[serde(default)]
    pub owner: Option<String>,
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
    /// Height of the lens above sea level, metres: where a tower camera
    /// looks from. Carried with its bearings (docs/fire.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height_m: Option<f64>,
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

/// `[faces]`: service-wide face settings.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FacesSettings {
    /// Face functions of `kuzet serve` (live matching, face API). Off by
    /// default: biometric identification runs only where it is decided on.
    pub enabled: bool,
    /// Deprecated alias of `[retention] face_unmatched_hours`, still read
    /// so old files keep their meaning; setting both is an error.
    pub sighting_retention_hours: Option<f32>,
    /// Deprecated alias of `[retention] face_matched_days` (in hours).
    pub matched_retention_hours: Option<f32>,
    /// Store sightings at all (off = live matching only, nothing searchable later).
    pub store_sightings: bool,
    /// Store sightings of faces that matched no watchlist entry (embedding
    /// and crop). Off = such faces are only counted
    /// (`kuzet_face_sightings_unstored_total`), never written: a bystander
    /// leaves no biometric trace, at the price of retrospective search only
    /// finding faces that matched an entry when they were seen.
    pub store_unmatched_sightings: bool,
}

impl Default for FacesSettings {
    fn default() -> Self {
        FacesSettings {
            enabled: false,
            sighting_retention_hours: None,
            matched_retention_hours: None,
            store_sightings: true,
            store_unmatched_sightings: true,
        }
    }
}

/// `[plates]`: service-wide plate settings.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatesSettings {
    /// Deprecated alias of `[retention] plate_reads_days`.
    pub read_retention_days: Option<f32>,
    /// A plate-format table in the syntax of the built-in one
    /// (`crates/vehicles/plate_formats.toml`) that replaces it: formats and
    /// confusion tables are data so a deployment can add its countries'
    /// layouts without a new build. Read when the plate reader loads.
    pub formats: Option<PathBuf>,
}

/// `[retention]`: how long each class of data is kept (issue 7). Every
/// class is personal data about people who did nothing, so the defaults are
/// short; an event locked for a case is kept whatever its age.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Events with their review state, and tracks. Default 90 days.
    pub events_days: Option<f64>,
    /// Evidence JPEGs (frames and crops; kuzet keeps no video), from when
    /// they were saved, even while a row still refers to them. Default 30 days.
    pub evidence_days: Option<f64>,
    /// Face sightings that matched nobody (embedding + crop). Default 72 h.
    pub face_unmatched_hours: Option<f64>,
    /// Face sightings that matched a watchlist entry. Default 90 days.
    pub face_matched_days: Option<f64>,
    /// Plate reads (text, vehicle, crops). Default 30 days.
    pub plate_reads_days: Option<f64>,
    /// How often `kuzet serve` runs the retention job. Default 5 minutes.
    pub interval_minutes: Option<f64>,
}

/// Retention defaults (see [`RetentionConfig`]).
pub const DEFAULT_EVENTS_DAYS: f64 = 90.0;
pub const DEFAULT_EVIDENCE_DAYS: f64 = 30.0;
pub const DEFAULT_FACE_UNMATCHED_HOURS: f64 = 72.0;
pub const DEFAULT_FACE_MATCHED_DAYS: f64 = 90.0;
pub const DEFAULT_PLATE_READS_DAYS: f64 = 30.0;
pub const DEFAULT_RETENTION_INTERVAL_MINUTES: f64 = 5.0;
/// Longest retention accepted: a century, to catch unit mistakes.
const MAX_RETENTION_DAYS: f64 = 36_500.0;

/// The retention in effect, after defaults and deprecated aliases.
#[derive(Clone, Debug, PartialEq)]
pub struct Retention {
    pub events: std::time::Duration,
    pub evidence: std::time::Duration,
    pub face_unmatched: std::time::Duration,
    pub face_matched: std::time::Duration,
    pub plate_reads: std::time::Duration,
    pub interval: std::time::Duration,
    /// One line per deprecated key in use, for the caller to log.
    pub deprecations: Vec<String>,
}

/// Detector labels of vehicles that carry plates (YOLOX/COCO names; the
/// default detect classes call motorcycles `motorbike`).
pub const PLATE_VEHICLE_LABELS: &[&str] = &["car", "bus", "truck", "motorcycle", "motorbike"];

/// `[camera.plates]`: plate reading on this camera's vehicle tracks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraPlates {
    pub enabled: bool,
    /// Seconds between plate reads of one vehicle track (each read costs
    /// plate detection and OCR on the vehicle crop).
    pub interval_seconds: f32,
    /// Vehicle boxes narrower than this (pixels) are skipped: their plates
    /// are too small to read.
    pub min_vehicle_width: f32,
    /// Plate-format countries this camera sees (`us`, `eu`, `br`, `kz`…);
    /// empty = every format in the table.
    pub countries: Vec<String>,
    /// A track's plate is final once this many reads agree on the voted text
    /// (or when the track ends, whichever is first).
    pub stable_votes: u32,
}

impl Default for CameraPlates {
    fn default() -> Self {
        CameraPlates {
            enabled: true,
            interval_seconds: 0.5,
            min_vehicle_width: 80.0,
            countries: Vec::new(),
            stable_votes: 3,
        }
    }
}

/// `[organisation]`: the body that operates this installation.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OrganisationConfig {
    /// Shown in the audit export and the web app.
    pub name: Option<String>,
    /// A law-enforcement body. Real-time and retrospective biometric
    /// identification (`[faces]`) may run only for one (cf. EU AI Act art. 5);
    /// without it `[faces] enabled = true` is a configuration error.
    pub law_enforcement: bool,
}

/// `[server]`: web sessions of `kuzet serve`.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// A session unused this long ends (minutes).
    pub session_idle_minutes: u32,
    /// A session ends this long after login however busy (hours).
    pub session_max_hours: u32,
    /// PEM certificate chain (leaf first): with `tls_key`, `kuzet serve`
    /// speaks HTTPS only (rustls) and marks its session cookie `Secure`.
    pub tls_cert: Option<std::path::PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1) of `tls_cert`.
    pub tls_key: Option<std::path::PathBuf>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            session_idle_minutes: 30,
            session_max_hours: 12,
            tls_cert: None,
            tls_key: None,
        }
    }
}

/// `[cluster]`: distributed mode, for `kuzet serve` and `kuzet worker`
/// (docs/distributed.md). Each key has a flag and an environment variable
/// that win over it (`--bus`/`KUZET_BUS`, `--database`/`KUZET_DATABASE`,
/// `--evidence`/`KUZET_EVIDENCE`), so one file can serve every node and a
/// secret can stay out of it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// NATS server with JetStream, e.g. "nats://10.0.0.5:4222". Set, `kuzet
    /// serve` stores what workers publish instead of running cameras.
    pub bus: Option<String>,
    /// PostgreSQL for the ingested data, "postgres://user@host:5432/db"
    /// (`kuzet serve` only; needs `bus`). The URL's password is a secret:
    /// prefer `KUZET_DATABASE` or a 0600 config file.
    pub database: Option<String>,
    /// S3-compatible bucket for workers' evidence, "s3://bucket[/prefix]"
    /// (`kuzet serve` only; needs `bus`). Credentials come from AWS_*.
    pub evidence: Option<String>,
}

/// `[camera.fire]`: fire and smoke detection (a trained head on the detector's
/// features, per frame and tile, confirmed by flicker / rising-plume cues).
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraFire {
    pub enabled: bool,
    /// Seconds between classifier runs (the costly part, ~40 ms a region).
    pub classify_interval_seconds: f32,
    /// Tiles per side scored besides the whole frame (0 = whole frame only).
    /// Finer tiles catch smaller, more distant fires at more cost.
    pub tile_grid: u32,
    /// Seconds over which hits must persist before an alarm.
    pub window_seconds: f32,
    /// A fire alarm also needs flame-coloured flicker (off for stills).
    pub require_flicker: bool,
    /// Compass bearing of the image centre, degrees clockwise from true
    /// north. With `hfov_deg` and the camera's `location`, alarms carry a
    /// bearing and alarms of two towers are triangulated into a position.
    pub heading_deg: Option<f64>,
    /// Horizontal field of view, degrees.
    pub hfov_deg: Option<f64>,
    /// The camera pans (and may zoom): the azimuth (and field of view) of
    /// the image centre come from reports (`POST /api/cameras/{id}/ptz`),
    /// the latest one made at or before a frame's time; `heading_deg` and
    /// `hfov_deg`, each optional then, are the home position used before
    /// the first report.
    pub ptz: bool,
    /// How far off the surveyed heading may be, degrees (added to every
    /// bearing's uncertainty).
    pub heading_error_deg: f64,
    /// Crossings farther than this from a camera are not trusted (tower
    /// cameras see smoke to about 30 km).
    pub max_range_km: f64,
}

impl Default for CameraFire {
    fn default() -> Self {
        CameraFire {
            enabled: true,
            classify_interval_seconds: 1.0,
            tile_grid: 2,
            window_seconds: 8.0,
            require_flicker: true,
            heading_deg: None,
            hfov_deg: None,
            ptz: false,
            heading_error_deg: 0.5,
            max_range_km: 30.0,
        }
    }
}

/// `[camera.crowd_counter]`: how the crowd rules of this camera count people.
/// Person tracks undercount dense scenes (small, hidden people); the counter
/// runs the detector on 2×2 and 3×3 tiles and a face detector for heads
/// (docs/evaluation.md, crowd). It costs about 14 detector inputs and a few
/// face inputs per count, so it runs at an interval, not on every frame.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrowdCounterSettings {
    pub enabled: bool,
    /// Seconds between counts; zones keep the last count in between.
    pub interval_seconds: f32,
    /// Fuse face detections with the person boxes.
    pub faces: bool,
    /// The face (head) model: `scrfd_500m` (default: more small heads than
    /// YuNet at less cost), `scrfd_2_5g` (a few more heads, about twice the
    /// face cost), or `yunet_n`. SCRFD weights are for non-commercial research
    /// only (models.toml); YuNet's are Apache-2.0.
    pub head_model: String,
    /// Tile grids after the whole frame (n = n×n), coarse to fine.
    pub grids: Vec<u32>,
}

/// Face models the crowd counter can use as its head detector.
pub const CROWD_HEAD_MODELS: [&str; 3] = ["scrfd_500m", "scrfd_2_5g", "yunet_n"];

impl Default for CrowdCounterSettings {
    fn default() -> Self {
        CrowdCounterSettings {
            enabled: true,
            interval_seconds: 2.0,
            faces: true,
            head_model: CROWD_HEAD_MODELS[0].to_string(),
            grids: vec![2, 3],
        }
    }
}

/// `[camera.faces]`: live face matching on this camera's person tracks.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CameraFaces {
    pub enabled: bool,
    /// Seconds between face attempts on one person track.
    pub interval_seconds: f32,
    /// Person boxes shorter than this (pixels) are skipped: their faces are
    /// too small to match.
    pub min_person_height: f32,
    /// Faces of one track that must match the same person before it alerts
    /// (1 for snapshot cameras, where each image stands alone).
    pub min_votes: u32,
}

impl Default for CameraFaces {
    fn default() -> Self {
        CameraFaces {
            enabled: true,
            interval_seconds: 0.5,
            min_person_height: 80.0,
            min_votes: 2,
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
    /// Also alert on objects the detector does not know: blobs that differ
    /// from a slow background model but have stopped changing (dual
    /// background), outside person and vehicle tracks.
    pub static_objects: bool,
    /// Smallest such blob, as a fraction of the frame area.
    pub static_min_area: f32,
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
            static_objects: false,
            static_min_area: 0.001,
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

/// `[camera.calibration]`: how image positions map to metres on the road.
///
/// Two independent methods, either or both: a ground-plane homography from
/// four surveyed points (positions anywhere on the road plane, so speed can
/// be measured along any path) or two lines across the road a surveyed
/// distance apart (the classic speed trap: time between crossings).
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationConfig {
    #[serde(default)]
    pub homography: Option<HomographyCalibration>,
    #[serde(default)]
    pub lines: Option<TwoLineCalibration>,
}

/// Four image points (normalised 0..1) and the same four points on the
/// ground in metres (any right-handed plane frame, e.g. x across the road,
/// y along it). No three of either set may be collinear.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HomographyCalibration {
    pub image: [[f32; 2]; 4],
    pub ground: [[f32; 2]; 4],
}

/// Two lines across the road (normalised ends) `distance_m` apart along it.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TwoLineCalibration {
    pub first: [[f32; 2]; 2],
    pub second: [[f32; 2]; 2],
    pub distance_m: f32,
}

/// Which calibration a speed rule measures with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SpeedMethod {
    /// Ground-plane positions of the vehicle's bottom centre, robust slope over a window.
    Homography,
    /// Time between crossing the two calibration lines.
    Lines,
}

/// `[camera.offences]`: traffic-offence rules of one camera. Each rule kind
/// is an array of tables (`[[camera.offences.speed]]`); all are off when absent.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct OffencesConfig {
    /// Labels that count as vehicles (detector spelling; `motorbike` and
    /// `motorcycle` are treated as the same class).
    pub vehicle_classes: Vec<String>,
    /// Evidence window: frames from this long before the offence moment…
    pub evidence_before_seconds: f32,
    /// …to this long after it.
    pub evidence_after_seconds: f32,
    pub red_light: Vec<RedLightConfig>,
    pub speed: Vec<SpeedConfig>,
    pub wrong_way: Vec<WrongWayConfig>,
    pub no_stopping: Vec<NoStoppingConfig>,
    pub bus_lane: Vec<BusLaneConfig>,
}

/// Default vehicle labels (YOLOX's label file says `motorbike`).
pub const DEFAULT_VEHICLE_CLASSES: &[&str] = &["car", "truck", "bus", "motorbike"];

impl Default for OffencesConfig {
    fn default() -> Self {
        OffencesConfig {
            vehicle_classes: DEFAULT_VEHICLE_CLASSES
                .iter()
                .map(|s| s.to_string())
                .collect(),
            evidence_before_seconds: 3.0,
            evidence_after_seconds: 3.0,
            red_light: Vec::new(),
            speed: Vec::new(),
            wrong_way: Vec::new(),
            no_stopping: Vec::new(),
            bus_lane: Vec::new(),
        }
    }
}

impl OffencesConfig {
    pub fn is_empty(&self) -> bool {
        self.red_light.is_empty()
            && self.speed.is_empty()
            && self.wrong_way.is_empty()
            && self.no_stopping.is_empty()
            && self.bus_lane.is_empty()
    }
}

/// Red-light running: a vehicle crossing `stop_line` in `direction` while the
/// light read from the pixels of `light` is red.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedLightConfig {
    pub name: String,
    /// Stop line ends `[from, to]`, normalised.
    pub stop_line: [[f32; 2]; 2],
    /// Which crossings are offences (same convention as counting lines:
    /// `in` = from the right of from→to to its left, as seen on screen).
    #[serde(default)]
    pub direction: LineDirection,
    /// The signal head: 2 points = box corners, 3+ = polygon (normalised).
    pub light: Vec<[f32; 2]>,
    /// Optional per-lamp regions (same shape rules), which make the reading
    /// robust to over-exposed lamps that lose their colour.
    #[serde(default)]
    pub lamps: Option<LampRegions>,
    /// Crossings within this many seconds of the light turning red are
    /// tolerated (amber-to-red reaction margin).
    #[serde(default)]
    pub grace_seconds: f32,
    /// Readings below this confidence leave the light state unchanged.
    #[serde(default = "default_light_confidence")]
    pub min_confidence: f32,
    /// Consecutive agreeing readings needed to change the light state.
    #[serde(default = "default_light_confirm")]
    pub confirm_readings: u32,
    /// Labels this rule applies to; empty = `vehicle_classes`.
    #[serde(default)]
    pub classes: Vec<String>,
}

fn default_light_confidence() -> f32 {
    0.5
}
fn default_light_confirm() -> u32 {
    2
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LampRegions {
    pub red: Vec<[f32; 2]>,
    #[serde(default)]
    pub amber: Option<Vec<[f32; 2]>>,
    pub green: Vec<[f32; 2]>,
}

/// Speeding: measured speed above `limit_kmh` plus tolerance.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct SpeedConfig {
    pub name: String,
    pub limit_kmh: f32,
    /// Fixed tolerance added to the limit.
    #[serde(default)]
    pub tolerance_kmh: f32,
    /// Proportional tolerance (percent of the limit); the larger of the two applies.
    #[serde(default)]
    pub tolerance_percent: f32,
    /// Calibration to use; default: the homography if configured, else the lines.
    #[serde(default)]
    pub method: Option<SpeedMethod>,
    /// Homography method: measure only while the vehicle is inside this
    /// polygon; empty = anywhere. (The lines method measures between its lines.)
    #[serde(default)]
    pub zone: Vec<[f32; 2]>,
    /// Homography method: seconds of track the speed is fitted over.
    #[serde(default = "default_speed_window")]
    pub window_seconds: f32,
    /// Homography method: consecutive over-limit estimates needed.
    #[serde(default = "default_light_confirm")]
    pub confirm_estimates: u32,
    #[serde(default)]
    pub classes: Vec<String>,
}

fn default_speed_window() -> f32 {
    1.0
}

/// Wrong-way driving: moving through `lane` against its `direction`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct WrongWayConfig {
    pub name: String,
    pub lane: Vec<[f32; 2]>,
    /// Legal direction of travel as an arrow `[from, to]`, normalised.
    pub direction: [[f32; 2]; 2],
    /// Offence when the cosine between the vehicle's motion and the lane
    /// direction is below this (−0.5 = more than 120° off).
    #[serde(default = "default_max_cosine")]
    pub max_cosine: f32,
    /// The wrong-way motion must last at least this long…
    #[serde(default = "default_wrong_way_seconds")]
    pub min_seconds: f32,
    /// …and cover at least this distance, as a fraction of the frame diagonal.
    #[serde(default = "default_wrong_way_distance")]
    pub min_distance: f32,
    #[serde(default)]
    pub classes: Vec<String>,
}

fn default_max_cosine() -> f32 {
    -0.5
}
fn default_wrong_way_seconds() -> f32 {
    1.0
}
fn default_wrong_way_distance() -> f32 {
    0.05
}

/// Illegal stopping/parking: standing in `zone` longer than `limit_seconds`.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoStoppingConfig {
    pub name: String,
    pub zone: Vec<[f32; 2]>,
    pub limit_seconds: f32,
    /// A vehicle is stopped while its bottom centre moves slower than this,
    /// in box heights per second (resolution and distance independent).
    #[serde(default = "default_stopped_speed")]
    pub stopped_speed: f32,
    /// Moving for less than this does not restart the stop timer (creeping
    /// forward in a queue, tracker jitter).
    #[serde(default = "default_move_grace")]
    pub move_grace_seconds: f32,
    #[serde(default)]
    pub classes: Vec<String>,
}

fn default_stopped_speed() -> f32 {
    0.15
}
fn default_move_grace() -> f32 {
    2.0
}

/// Bus-lane use: a vehicle not in `allowed_classes` inside `lane` for more
/// than `max_seconds` (or, with a homography, more than `max_distance_m`).
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct BusLaneConfig {
    pub name: String,
    pub lane: Vec<[f32; 2]>,
    #[serde(default = "default_bus_allowed")]
    pub allowed_classes: Vec<String>,
    #[serde(default = "default_bus_seconds")]
    pub max_seconds: f32,
    #[serde(default)]
    pub max_distance_m: Option<f32>,
    #[serde(default)]
    pub classes: Vec<String>,
}

fn default_bus_allowed() -> Vec<String> {
    vec!["bus".to_string()]
}
fn default_bus_seconds() -> f32 {
    3.0
}

impl Config {
    /// Camera ids named by `spec`: a comma-separated list of camera ids and
    /// group names (`[camera] groups = [...]`), in config order, each once.
    /// An unknown name is an error listing what exists, because a lost-child
    /// search on a misspelt group would silently watch nothing.
    pub fn resolve_cameras(&self, spec: &str) -> Result<Vec<String>, String> {
        let mut out: Vec<String> = Vec::new();
        for name in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let hit: Vec<&CameraConfig> = self
                .cameras
                .iter()
                .filter(|c| c.id == name || c.groups.iter().any(|g| g == name))
                .collect();
            if hit.is_empty() {
                let mut groups: Vec<&str> = self
                    .cameras
                    .iter()
                    .flat_map(|c| c.groups.iter().map(String::as_str))
                    .collect();
                groups.sort_unstable();
                groups.dedup();
                let ids: Vec<&str> = self.cameras.iter().map(|c| c.id.as_str()).collect();
                return Err(format!(
                    "no camera or camera group named {name:?} (cameras: {}; groups: {})",
                    if ids.is_empty() {
                        "none".into()
                    } else {
                        ids.join(", ")
                    },
                    if groups.is_empty() {
                        "none".into()
                    } else {
                        groups.join(", ")
                    },
                ));
            }
            for c in hit {
                if !out.contains(&c.id) {
                    out.push(c.id.clone());
                }
            }
        }
        if out.is_empty() {
            return Err("no camera given: name camera ids or groups, comma-separated".into());
        }
        Ok(out)
    }

    /// Reads and validates a config file. Relative `data_dir` and
    /// `models.dir` are made absolute against the file's directory.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut cfg = Config::parse(&text, &path.display().to_string())?;
        let base = path.parent().unwrap_or(Path::new("."));
        for p in [
            &mut cfg.data_dir,
            &mut cfg.models.dir,
            &mut cfg.evidence.key_file,
        ]
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

    /// The retention in effect: `[retention]`, else a deprecated alias,
    /// else the default.
    pub fn retention(&self) -> Retention {
        let r = &self.retention;
        let mut deprecations = Vec::new();
        let mut pick = |new: Option<f64>,
                        old: Option<f32>,
                        old_key: &str,
                        new_key: &str,
                        scale: f64,
                        default: f64| {
            match (new, old) {
                (Some(v), _) => v,
                (None, Some(v)) => {
                    deprecations.push(format!(
                        "{old_key} is deprecated: write `[retention] {new_key}` instead"
                    ));
                    f64::from(v) * scale
                }
                (None, None) => default,
            }
        };
        let face_unmatched = pick(
            r.face_unmatched_hours,
            self.faces.sighting_retention_hours,
            "[faces] sighting_retention_hours",
            "face_unmatched_hours",
            1.0,
            DEFAULT_FACE_UNMATCHED_HOURS,
        );
        let face_matched = pick(
            r.face_matched_days,
            self.faces.matched_retention_hours,
            "[faces] matched_retention_hours",
            "face_matched_days (in days)",
            1.0 / 24.0,
            DEFAULT_FACE_MATCHED_DAYS,
        );
        let plate_reads = pick(
            r.plate_reads_days,
            self.plates.read_retention_days,
            "[plates] read_retention_days",
            "plate_reads_days",
            1.0,
            DEFAULT_PLATE_READS_DAYS,
        );
        let secs = |v: f64, unit: f64| std::time::Duration::from_secs_f64((v * unit).max(0.0));
        Retention {
            events: secs(r.events_days.unwrap_or(DEFAULT_EVENTS_DAYS), 86_400.0),
            evidence: secs(r.evidence_days.unwrap_or(DEFAULT_EVIDENCE_DAYS), 86_400.0),
            face_unmatched: secs(face_unmatched, 3600.0),
            face_matched: secs(face_matched, 86_400.0),
            plate_reads: secs(plate_reads, 86_400.0),
            interval: secs(
                r.interval_minutes
                    .unwrap_or(DEFAULT_RETENTION_INTERVAL_MINUTES),
                60.0,
            ),
            deprecations,
        }
    }

    fn validate_retention(&self) -> Result<(), Violation> {
        let r = &self.retention;
        let aliases: [(Option<f32>, [&'static str; 2], &str); 3] = [
            (
                self.faces.sighting_retention_hours,
                ["faces", "sighting_retention_hours"],
                "face_unmatched_hours",
            ),
            (
                self.faces.matched_retention_hours,
                ["faces", "matched_retention_hours"],
                "face_matched_days",
            ),
            (
                self.plates.read_retention_days,
                ["plates", "read_retention_days"],
                "plate_reads_days",
            ),
        ];
        let set = [
            r.face_unmatched_hours,
            r.face_matched_days,
            r.plate_reads_days,
        ];
        for ((old, path, new_key), new) in aliases.into_iter().zip(set) {
            if let Some(v) = old {
                check(
                    new.is_none(),
                    &path,
                    &format!(
                        "is a deprecated alias of `[retention] {new_key}`, which is also set: \
                         remove this key"
                    ),
                )?;
                check(
                    v.is_finite() && v > 0.0,
                    &path,
                    "must be > 0 (better: move it to [retention])",
                )?;
            }
        }
        let fields: [(Option<f64>, &'static str, f64); 6] = [
            (r.events_days, "events_days", 1.0),
            (r.evidence_days, "evidence_days", 1.0),
            (r.face_unmatched_hours, "face_unmatched_hours", 1.0 / 24.0),
            (r.face_matched_days, "face_matched_days", 1.0),
            (r.plate_reads_days, "plate_reads_days", 1.0),
            (r.interval_minutes, "interval_minutes", 1.0 / 1440.0),
        ];
        for (v, key, to_days) in fields {
            if let Some(v) = v {
                check(
                    v.is_finite() && v > 0.0 && v * to_days <= MAX_RETENTION_DAYS,
                    &["retention", key],
                    "must be > 0 and at most 36500 days (check the unit in the key's name)",
                )?;
            }
        }
        let eff = self.retention();
        check(
            eff.face_matched >= eff.face_unmatched,
            &["retention", "face_matched_days"],
            "must keep matched face sightings at least as long as face_unmatched_hours",
        )?;
        check(
            eff.interval <= std::time::Duration::from_secs(86_400),
            &["retention", "interval_minutes"],
            "must be at most 1440 (one day): the job must run at least daily",
        )?;
        Ok(())
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

    fn validate_cluster(&self) -> Result<(), Violation> {
        let c = &self.cluster;
        if let Some(b) = &c.bus {
            check(
                ["nats://", "tls://", "ws://", "wss://"]
                    .iter()
                    .any(|p| b.starts_with(p) && b.len() > p.len()),
                &["cluster", "bus"],
                "must be a NATS URL like \"nats://10.0.0.5:4222\"",
            )?;
        }
        if let Some(d) = &c.database {
            check(
                ["postgres://", "postgresql://"]
                    .iter()
                    .any(|p| d.starts_with(p) && d.len() > p.len()),
                &["cluster", "database"],
                "must be a PostgreSQL URL like \"postgres://kuzet@10.0.0.6:5432/kuzet\"",
            )?;
            check(
                c.bus.is_some(),
                &["cluster", "database"],
                "stores what workers publish: set `bus` too (without it kuzet serve stores \
                 into its SQLite data directory)",
            )?;
        }
        if let Some(e) = &c.evidence {
            check(
                e.strip_prefix("s3://")
                    .is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')),
                &["cluster", "evidence"],
                "must be a bucket URL like \"s3://kuzet-evidence\" or \"s3://kuzet-evidence/site-a\"",
            )?;
            check(
                c.bus.is_some(),
                &["cluster", "evidence"],
                "stores what workers publish: set `bus` too (without it kuzet serve keeps \
                 evidence in its data directory)",
            )?;
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
        for (v, key) in [
            (self.evidence.clip_before_seconds, "clip_before_seconds"),
            (self.evidence.clip_after_seconds, "clip_after_seconds"),
        ] {
            check(
                (0.0..=30.0).contains(&v),
                &["evidence", key],
                "must be between 0 and 30 seconds (0 and 0 turn clips off)",
            )?;
        }
        check(
            (160..=3840).contains(&self.evidence.clip_max_width),
            &["evidence", "clip_max_width"],
            "must be between 160 and 3840 pixels",
        )?;
        self.validate_retention()?;
        check(
            self.evidence
                .key_file
                .as_ref()
                .is_none_or(|p| !p.as_os_str().is_empty()),
            &["evidence", "key_file"],
            "must be a path to a key file (64 hex digits, e.g. `openssl rand -hex 32`), \
             or left out to use $KUZET_KEY_FILE or a generated <data_dir>/keys/evidence.key",
        )?;
        check(
            self.faces.store_unmatched_sightings
                || (self.retention.face_unmatched_hours.is_none()
                    && self.faces.sighting_retention_hours.is_none()),
            &["faces", "store_unmatched_sightings"],
            "is false, so no unmatched sighting is ever stored, yet a retention for them \
             ([retention] face_unmatched_hours or [faces] sighting_retention_hours) is set: \
             remove that retention key, or set store_unmatched_sightings = true",
        )?;
        check(
            !self.faces.enabled || self.organisation.law_enforcement,
            &["faces", "enabled"],
            "face identification may run only for a law-enforcement organisation: set \
             `[organisation] law_enforcement = true` if this installation is operated by one, \
             otherwise set `[faces] enabled = false`",
        )?;
        check(
            (1..=24 * 60).contains(&self.server.session_idle_minutes),
            &["server", "session_idle_minutes"],
            "must be between 1 and 1440 minutes",
        )?;
        check(
            (1..=24 * 7).contains(&self.server.session_max_hours),
            &["server", "session_max_hours"],
            "must be between 1 and 168 hours",
        )?;
        check(
            self.server.tls_cert.is_some() == self.server.tls_key.is_some(),
            if self.server.tls_cert.is_some() {
                &["server", "tls_cert"]
            } else {
                &["server", "tls_key"]
            },
            "HTTPS needs both `tls_cert` and `tls_key` (PEM files): set both, or neither for plain HTTP",
        )?;
        if let Some(l) = &self.listen {
            check(
                l.parse::<std::net::SocketAddr>().is_ok(),
                &["listen"],
                "must be an address like \"127.0.0.1:8080\"",
            )?;
        }
        self.validate_cluster()?;
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
                if let Some(h) = loc.height_m {
                    check_at(
                        (-500.0..=9000.0).contains(&h),
                        at("location"),
                        "height_m is metres above sea level, in [-500, 9000]",
                    )?;
                }
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
            for g in &c.groups {
                check_at(
                    valid_id(g),
                    at("groups"),
                    "group names must be 1-64 characters of letters, digits, '-', '_' or '.'",
                )?;
            }
            if let Some(f) = &c.fire {
                let fat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("fire"),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    f.classify_interval_seconds >= 0.2 && f.classify_interval_seconds <= 600.0,
                    fat("classify_interval_seconds"),
                    "must be in [0.2, 600]",
                )?;
                check_at(f.tile_grid <= 6, fat("tile_grid"), "must be 0 to 6")?;
                check_at(
                    f.window_seconds >= f.classify_interval_seconds && f.window_seconds <= 3600.0,
                    fat("window_seconds"),
                    "must be at least classify_interval_seconds and at most 3600",
                )?;
                if let Some(h) = f.heading_deg {
                    check_at(
                        (0.0..360.0).contains(&h),
                        fat("heading_deg"),
                        "must be in [0, 360)",
                    )?;
                }
                if let Some(v) = f.hfov_deg {
                    check_at(v > 0.0 && v < 180.0, fat("hfov_deg"), "must be in (0, 180)")?;
                }
                check_at(
                    f.ptz || f.heading_deg.is_some() == f.hfov_deg.is_some(),
                    fat(if f.heading_deg.is_some() {
                        "hfov_deg"
                    } else {
                        "heading_deg"
                    }),
                    "bearings need both heading_deg and hfov_deg (or ptz = true, whose reports give them)",
                )?;
                check_at(
                    (f.heading_deg.is_none() && !f.ptz) || c.location.is_some(),
                    fat(if f.ptz { "ptz" } else { "heading_deg" }),
                    "bearings need the camera's position: add location = { lat = ..., lon = ... } to the camera",
                )?;
                check_at(
                    (0.0..=10.0).contains(&f.heading_error_deg),
                    fat("heading_error_deg"),
                    "must be in [0, 10]",
                )?;
                check_at(
                    f.max_range_km > 0.0 && f.max_range_km <= 100.0,
                    fat("max_range_km"),
                    "must be in (0, 100]",
                )?;
            }
            if let Some(cc) = &c.crowd_counter {
                let cat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("crowd_counter"),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    cc.interval_seconds >= 0.0 && cc.interval_seconds <= 3600.0,
                    cat("interval_seconds"),
                    "must be in [0, 3600] (0 = every analysed frame)",
                )?;
                check_at(
                    cc.grids.iter().all(|g| (2..=8).contains(g)),
                    cat("grids"),
                    "each grid must be 2 to 8 (n means n×n tiles), e.g. [2, 3]",
                )?;
                check_at(
                    CROWD_HEAD_MODELS.contains(&cc.head_model.as_str()),
                    cat("head_model"),
                    &format!(
                        "must be one of {}",
                        CROWD_HEAD_MODELS.map(|m| format!("\"{m}\"")).join(", ")
                    ),
                )?;
                check_at(
                    d.classes.iter().any(|l| l == "person"),
                    cat("enabled"),
                    "the crowd counter counts people, but detect.classes has no \"person\": add it",
                )?;
            }
            if let Some(f) = &c.faces {
                let fat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("faces"),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    f.interval_seconds > 0.0 && f.interval_seconds <= 60.0,
                    fat("interval_seconds"),
                    "must be in (0, 60]",
                )?;
                check_at(
                    f.min_person_height >= 0.0,
                    fat("min_person_height"),
                    "must be >= 0 (pixels)",
                )?;
                check_at(
                    (1..=50).contains(&f.min_votes),
                    fat("min_votes"),
                    "must be between 1 and 50",
                )?;
                check_at(
                    !f.enabled || self.faces.enabled,
                    fat("enabled"),
                    "live face matching needs the face functions switched on: add `[faces] enabled = true`",
                )?;
                check_at(
                    d.classes.iter().any(|l| l == "person"),
                    fat("enabled"),
                    "faces are looked for on person tracks, but detect.classes has no \"person\": add it",
                )?;
            }
            if let Some(p) = &c.plates {
                let pat = |k: &'static str| {
                    vec![
                        Seg::Key("camera"),
                        Seg::Index(i),
                        Seg::Key("plates"),
                        Seg::Key(k),
                    ]
                };
                check_at(
                    p.interval_seconds > 0.0 && p.interval_seconds <= 60.0,
                    pat("interval_seconds"),
                    "must be in (0, 60]",
                )?;
                check_at(
                    p.min_vehicle_width >= 0.0,
                    pat("min_vehicle_width"),
                    "must be >= 0 (pixels)",
                )?;
                check_at(
                    (1..=50).contains(&p.stable_votes),
                    pat("stable_votes"),
                    "must be between 1 and 50",
                )?;
                for c in &p.countries {
                    check_at(
                        !c.is_empty()
                            && c.len() <= 8
                            && c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_'),
                        pat("countries"),
                        "must be format country codes like \"us\", \"eu\", \"br\", \"kz\"",
                    )?;
                }
                check_at(
                    d.classes
                        .iter()
                        .any(|l| PLATE_VEHICLE_LABELS.contains(&l.as_str())),
                    pat("enabled"),
                    "plates are read on vehicle tracks, but detect.classes has no vehicle: add \"car\" (and \"bus\", \"truck\", \"motorbike\")",
                )?;
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
                check_at(
                    a.static_min_area > 0.0 && a.static_min_area <= 0.5,
                    aat("static_min_area"),
                    "must be in (0, 0.5] (fraction of the frame area)",
                )?;
            }
            validate_traffic(i, c, &d.classes)?;
        }
        owners::validate(&self.owners, &self.cameras)?;
        Ok(())
    }

    pub fn owner(&self, id: &str) -> Option<&OwnerConfig> {
        self.owners.iter().find(|o| o.id == id)
    }

    /// The data-sharing agreement a camera runs under, if its owner has one.
    pub fn agreement_of(&self, camera: &CameraConfig) -> Option<&AgreementConfig> {
        camera
            .owner
            .as_deref()
            .and_then(|o| self.owner(o))
            .and_then(|o| o.agreement.as_ref())
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
            groups: Vec::new(),
            faces: None,
            plates: None,
            fire: None,
            crowd_counter: None,
            calibration: None,
            offences: OffencesConfig::default(),
            owner: None,
        }
    }
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.id)
    }
}

/// Labels equal up to the COCO/Darknet spelling of motorcycles.
fn same_label(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> &str {
        if s == "motorcycle" {
            "motorbike"
        } else {
            s
        }
    }
    norm(a) == norm(b)
}

fn check_vehicle_labels(
    labels: &[String],
    known: &[String],
    path: Vec<Seg>,
) -> Result<(), Violation> {
    for l in labels {
        check_at(
            known.iter().any(|k| same_label(k, l)),
            path.clone(),
            &format!(
                "label {l:?} is not detected; [detect] classes are {}",
                known.join(", ")
            ),
        )?;
    }
    Ok(())
}

/// A box (2 corners) or polygon (3+ points) in normalised coordinates.
fn check_region(points: &[[f32; 2]], path: Vec<Seg>) -> Result<(), Violation> {
    if points.len() == 2 {
        check_at(
            points.iter().all(|p| in_unit(*p)),
            path.clone(),
            "coordinates are normalised: each must be between 0 and 1",
        )?;
        let (a, b) = (points[0], points[1]);
        check_at(
            (a[0] - b[0]).abs() > 1e-4 && (a[1] - b[1]).abs() > 1e-4,
            path,
            "a box's two corners must differ in x and in y",
        )
    } else {
        check_polygon(points, path).map_err(|mut v| {
            if points.len() < 3 {
                v.message = "needs 2 points (box corners) or 3+ (polygon)".into();
            }
            v
        })
    }
}

fn check_segment(ends: &[[f32; 2]; 2], path: Vec<Seg>) -> Result<(), Violation> {
    check_at(
        in_unit(ends[0]) && in_unit(ends[1]),
        path.clone(),
        "coordinates are normalised: each must be between 0 and 1",
    )?;
    check_at(
        (ends[0][0] - ends[1][0]).abs() + (ends[0][1] - ends[1][1]).abs() > 1e-3,
        path,
        "the two ends must differ",
    )
}

/// Whether any three of the four points are (nearly) collinear, which makes
/// a homography from them degenerate.
fn has_collinear_triple(p: &[[f32; 2]; 4], scale: f32) -> bool {
    let tri = |a: [f32; 2], b: [f32; 2], c: [f32; 2]| {
        ((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])).abs() / 2.0
    };
    let eps = 1e-4 * scale * scale;
    [(0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)]
        .iter()
        .any(|&(i, j, k)| tri(p[i], p[j], p[k]) < eps)
}

/// Checks `[camera.calibration]` and `[camera.offences]` of camera `i`.
fn validate_traffic(i: usize, c: &CameraConfig, detected: &[String]) -> Result<(), Violation> {
    let cam = |rest: &[Seg]| {
        let mut p = vec![Seg::Key("camera"), Seg::Index(i)];
        p.extend_from_slice(rest);
        p
    };
    let mut has_h = false;
    let mut has_lines = false;
    if let Some(cal) = &c.calibration {
        let calp = |rest: &[Seg]| {
            let mut p = vec![Seg::Key("calibration")];
            p.extend_from_slice(rest);
            cam(&p)
        };
        check_at(
            cal.homography.is_some() || cal.lines.is_some(),
            calp(&[]),
            "needs homography = { image = [4 points], ground = [4 points in metres] } or lines = { first, second, distance_m }",
        )?;
        if let Some(h) = &cal.homography {
            has_h = true;
            let at = |k| calp(&[Seg::Key("homography"), Seg::Key(k)]);
            check_at(
                h.image.iter().all(|p| in_unit(*p)),
                at("image"),
                "coordinates are normalised: each must be between 0 and 1",
            )?;
            check_at(
                !has_collinear_triple(&h.image, 1.0),
                at("image"),
                "three of the four points are (nearly) on one line; pick points spread over the road",
            )?;
            check_at(
                h.ground
                    .iter()
                    .flatten()
                    .all(|v| v.is_finite() && v.abs() < 1e5),
                at("ground"),
                "must be finite ground coordinates in metres",
            )?;
            let span = h
                .ground
                .iter()
                .flat_map(|a| {
                    h.ground
                        .iter()
                        .map(move |b| (a[0] - b[0]).hypot(a[1] - b[1]))
                })
                .fold(0.0f32, f32::max);
            check_at(
                span >= 0.5 && !has_collinear_triple(&h.ground, span),
                at("ground"),
                "three of the four points are (nearly) on one line, or the points are less than 0.5 m apart",
            )?;
        }
        if let Some(l) = &cal.lines {
            has_lines = true;
            let at = |k| calp(&[Seg::Key("lines"), Seg::Key(k)]);
            check_segment(&l.first, at("first"))?;
            check_segment(&l.second, at("second"))?;
            let p = |q: [f32; 2]| base::Point::new(q[0], q[1]);
            check_at(
                !base::geom::segments_intersect(
                    p(l.first[0]),
                    p(l.first[1]),
                    p(l.second[0]),
                    p(l.second[1]),
                ),
                at("second"),
                "the two calibration lines must not cross",
            )?;
            check_at(
                l.distance_m.is_finite() && l.distance_m > 0.0 && l.distance_m <= 1000.0,
                at("distance_m"),
                "must be in (0, 1000] metres",
            )?;
        }
    }
    let o = &c.offences;
    let op = |k: &'static str| cam(&[Seg::Key("offences"), Seg::Key(k)]);
    if o.vehicle_classes
        != DEFAULT_VEHICLE_CLASSES
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    {
        check_at(
            !o.vehicle_classes.is_empty(),
            op("vehicle_classes"),
            "must name at least one label, e.g. [\"car\", \"bus\"]",
        )?;
        check_vehicle_labels(&o.vehicle_classes, detected, op("vehicle_classes"))?;
    }
    for (k, v) in [
        ("evidence_before_seconds", o.evidence_before_seconds),
        ("evidence_after_seconds", o.evidence_after_seconds),
    ] {
        check_at(
            (0.0..=60.0).contains(&v),
            op(k),
            "must be in [0, 60] seconds",
        )?;
    }
    let mut names = HashSet::new();
    let mut name_ok = |kind: &'static str, j: usize, name: &str| {
        let path = cam(&[
            Seg::Key("offences"),
            Seg::Key(kind),
            Seg::Index(j),
            Seg::Key("name"),
        ]);
        check_at(
            valid_id(name),
            path.clone(),
            "must be 1-64 characters of letters, digits, '-', '_' or '.'",
        )?;
        check_at(
            names.insert(name.to_string()),
            path,
            &format!("duplicate offence rule name {name:?} on camera {:?}", c.id),
        )
    };
    let rp = |kind: &'static str, j: usize, k: &'static str| {
        cam(&[
            Seg::Key("offences"),
            Seg::Key(kind),
            Seg::Index(j),
            Seg::Key(k),
        ])
    };
    let rule =
        |kind: &'static str, j: usize| cam(&[Seg::Key("offences"), Seg::Key(kind), Seg::Index(j)]);
    for (j, r) in o.red_light.iter().enumerate() {
        let at = |k| rp("red_light", j, k);
        name_ok("red_light", j, &r.name)?;
        check_segment(&r.stop_line, at("stop_line"))?;
        check_region(&r.light, at("light"))?;
        if let Some(l) = &r.lamps {
            let lp = |k| {
                let mut p = at("lamps");
                p.push(Seg::Key(k));
                p
            };
            check_region(&l.red, lp("red"))?;
            check_region(&l.green, lp("green"))?;
            if let Some(a) = &l.amber {
                check_region(a, lp("amber"))?;
            }
        }
        check_at(
            (0.0..=10.0).contains(&r.grace_seconds),
            at("grace_seconds"),
            "must be in [0, 10] seconds",
        )?;
        check_at(
            (0.0..=1.0).contains(&r.min_confidence),
            at("min_confidence"),
            "must be between 0 and 1",
        )?;
        check_at(
            (1..=50).contains(&r.confirm_readings),
            at("confirm_readings"),
            "must be between 1 and 50",
        )?;
        check_vehicle_labels(&r.classes, detected, at("classes"))?;
    }
    for (j, r) in o.speed.iter().enumerate() {
        let at = |k| rp("speed", j, k);
        name_ok("speed", j, &r.name)?;
        check_at(
            r.limit_kmh > 0.0 && r.limit_kmh <= 400.0,
            at("limit_kmh"),
            "must be in (0, 400] km/h",
        )?;
        check_at(
            (0.0..=100.0).contains(&r.tolerance_kmh),
            at("tolerance_kmh"),
            "must be in [0, 100] km/h",
        )?;
        check_at(
            (0.0..=100.0).contains(&r.tolerance_percent),
            at("tolerance_percent"),
            "must be in [0, 100]",
        )?;
        match r.method {
            Some(SpeedMethod::Homography) => check_at(
                has_h,
                at("method"),
                "needs [camera.calibration] homography = { image = [...], ground = [...] }",
            )?,
            Some(SpeedMethod::Lines) => check_at(
                has_lines,
                at("method"),
                "needs [camera.calibration] lines = { first = [...], second = [...], distance_m = ... }",
            )?,
            None => check_at(
                has_h || has_lines,
                rule("speed", j),
                "speed needs a [camera.calibration] (homography or lines)",
            )?,
        }
        if !r.zone.is_empty() {
            check_polygon(&r.zone, at("zone"))?;
        }
        check_at(
            r.window_seconds >= 0.2 && r.window_seconds <= 10.0,
            at("window_seconds"),
            "must be in [0.2, 10] seconds",
        )?;
        check_at(
            (1..=50).contains(&r.confirm_estimates),
            at("confirm_estimates"),
            "must be between 1 and 50",
        )?;
        check_vehicle_labels(&r.classes, detected, at("classes"))?;
    }
    for (j, r) in o.wrong_way.iter().enumerate() {
        let at = |k| rp("wrong_way", j, k);
        name_ok("wrong_way", j, &r.name)?;
        check_polygon(&r.lane, at("lane"))?;
        check_segment(&r.direction, at("direction"))?;
        check_at(
            (-1.0..=0.0).contains(&r.max_cosine),
            at("max_cosine"),
            "must be in [-1, 0] (-0.5 = more than 120 degrees against the lane)",
        )?;
        check_at(
            r.min_seconds >= 0.0 && r.min_seconds <= 60.0,
            at("min_seconds"),
            "must be in [0, 60]",
        )?;
        check_at(
            r.min_distance > 0.0 && r.min_distance <= 1.0,
            at("min_distance"),
            "must be a fraction of the frame diagonal in (0, 1]",
        )?;
        check_vehicle_labels(&r.classes, detected, at("classes"))?;
    }
    for (j, r) in o.no_stopping.iter().enumerate() {
        let at = |k| rp("no_stopping", j, k);
        name_ok("no_stopping", j, &r.name)?;
        check_polygon(&r.zone, at("zone"))?;
        check_at(
            r.limit_seconds > 0.0 && r.limit_seconds <= 86_400.0,
            at("limit_seconds"),
            "must be in (0, 86400]",
        )?;
        check_at(
            r.stopped_speed > 0.0 && r.stopped_speed <= 10.0,
            at("stopped_speed"),
            "must be in (0, 10] box heights per second",
        )?;
        check_at(
            (0.0..=600.0).contains(&r.move_grace_seconds),
            at("move_grace_seconds"),
            "must be in [0, 600]",
        )?;
        check_vehicle_labels(&r.classes, detected, at("classes"))?;
    }
    for (j, r) in o.bus_lane.iter().enumerate() {
        let at = |k| rp("bus_lane", j, k);
        name_ok("bus_lane", j, &r.name)?;
        check_polygon(&r.lane, at("lane"))?;
        check_at(
            r.max_seconds > 0.0 && r.max_seconds <= 3600.0,
            at("max_seconds"),
            "must be in (0, 3600]",
        )?;
        if let Some(d) = r.max_distance_m {
            check_at(
                d > 0.0 && d <= 10_000.0,
                at("max_distance_m"),
                "must be in (0, 10000] metres",
            )?;
            check_at(
                has_h,
                at("max_distance_m"),
                "needs [camera.calibration] homography to measure metres",
            )?;
        }
        check_vehicle_labels(&r.classes, detected, at("classes"))?;
        check_vehicle_labels(&r.allowed_classes, detected, at("allowed_classes"))?;
    }
    Ok(())
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

    #[test]
    fn fire_bearings_need_heading_fov_and_location() {
        let cam = "[[camera]]\nid = \"t\"\nurl = \"x.mp4\"\n";
        let ok = format!("{cam}location = {{ lat = 43.2, lon = 76.9 }}\n[camera.fire]\nheading_deg = 135\nhfov_deg = 58\n");
        let f = Config::parse(&ok, "k.toml").unwrap().cameras[0]
            .fire
            .clone()
            .unwrap();
        assert_eq!(
            (f.heading_deg, f.hfov_deg, f.max_range_km),
            (Some(135.0), Some(58.0), 30.0)
        );
        let no_loc = format!("{cam}[camera.fire]\nheading_deg = 135\nhfov_deg = 58\n");
        assert!(err(&no_loc).contains("location"), "{}", err(&no_loc));
        let no_fov = format!(
            "{cam}location = {{ lat = 43.2, lon = 76.9 }}\n[camera.fire]\nheading_deg = 135\n"
        );
        assert!(err(&no_fov).contains("hfov_deg"), "{}", err(&no_fov));
        let bad = format!("{cam}location = {{ lat = 43.2, lon = 76.9 }}\n[camera.fire]\nheading_deg = 360\nhfov_deg = 58\n");
        assert!(err(&bad).contains("heading_deg"), "{}", err(&bad));
        // A panning camera: reports give the azimuth, the field of view may
        // be configured alone; it still needs a position.
        let ptz = format!("{cam}location = {{ lat = 43.2, lon = 76.9, height_m = 1450 }}\n[camera.fire]\nptz = true\nhfov_deg = 30\n");
        let c = Config::parse(&ptz, "k.toml").unwrap();
        assert_eq!(c.cameras[0].location.unwrap().height_m, Some(1450.0));
        assert!(c.cameras[0].fire.as_ref().unwrap().ptz);
        let ptz_no_loc = format!("{cam}[camera.fire]\nptz = true\nhfov_deg = 30\n");
        assert!(err(&ptz_no_loc).contains("ptz"), "{}", err(&ptz_no_loc));
        let deep = format!("{cam}location = {{ lat = 43.2, lon = 76.9, height_m = 12000 }}\n");
        assert!(err(&deep).contains("height_m"), "{}", err(&deep));
    }

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
    fn never_store_unmatched_sightings_is_validated() {
        let c = Config::parse(
            &format!("{GOOD}\n[faces]\nstore_unmatched_sightings = false\n"),
            "k.toml",
        )
        .unwrap();
        assert!(!c.faces.store_unmatched_sightings && c.faces.store_sightings);
        assert!(
            Config::parse(GOOD, "k.toml")
                .unwrap()
                .faces
                .store_unmatched_sightings
        );
        let e = err(&format!(
            "{GOOD}\n[faces]\nstore_unmatched_sightings = false\n[retention]\nface_unmatched_hours = 24\n"
        ));
        assert!(
            e.contains("store_unmatched_sightings") && e.contains("face_unmatched_hours"),
            "{e}"
        );
        let e = err(&format!(
            "{GOOD}\n[faces]\nstore_unmatched_sightings = \"no\"\n"
        ));
        assert!(e.contains("[faces]") && e.contains("boolean"), "{e}");
    }

    #[test]
    fn faces_need_a_law_enforcement_organisation() {
        let e = err(&format!("{GOOD}\n[faces]\nenabled = true\n"));
        assert!(e.contains("faces.enabled") || e.contains("enabled"), "{e}");
        assert!(e.contains("law_enforcement = true"), "{e}");
        let ok =
            format!("{GOOD}\n[faces]\nenabled = true\n[organisation]\nlaw_enforcement = true\n");
        let c = Config::parse(&ok, "k.toml").unwrap();
        assert!(c.faces.enabled && c.organisation.law_enforcement);
        assert_eq!(c.server.session_idle_minutes, 30);
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
    fn crowd_counter_head_model_is_checked() {
        // The section sits between the camera and its zone, as a user writes it.
        let with = |section: &str| {
            GOOD.replace(
                "fps = 5\n",
                &format!("fps = 5\n\n[camera.crowd_counter]\n{section}\n"),
            )
        };
        let c = Config::parse(&with("grids = [2]"), "k.toml").unwrap();
        let cc = c.cameras[0].crowd_counter.as_ref().unwrap();
        assert_eq!((cc.head_model.as_str(), cc.faces), ("scrfd_500m", true));
        let c = Config::parse(&with("head_model = \"yunet_n\""), "k.toml").unwrap();
        assert_eq!(
            c.cameras[0].crowd_counter.as_ref().unwrap().head_model,
            "yunet_n"
        );
        let e = err(&with("head_model = \"scrfd_10g\""));
        assert!(e.contains("camera[0].crowd_counter.head_model"), "{e}");
        assert!(e.contains("scrfd_2_5g"), "{e}");
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

    const TRAFFIC: &str = r#"
[[camera]]
id = "junction"
url = "x.mp4"

[camera.calibration]
homography = { image = [[0.1, 0.9], [0.6, 0.9], [0.45, 0.2], [0.3, 0.2]], ground = [[0, 0], [7, 0], [7, 40], [0, 40]] }
lines = { first = [[0.0, 0.4], [1.0, 0.4]], second = [[0.0, 0.8], [1.0, 0.8]], distance_m = 15.0 }

[camera.offences]
evidence_before_seconds = 4

[[camera.offences.red_light]]
name = "stop-north"
stop_line = [[0.2, 0.6], [0.8, 0.6]]
direction = "in"
light = [[0.85, 0.05], [0.9, 0.25]]
lamps = { red = [[0.85, 0.05], [0.9, 0.11]], green = [[0.85, 0.18], [0.9, 0.25]] }
grace_seconds = 0.5

[[camera.offences.speed]]
name = "main-road"
limit_kmh = 50
tolerance_percent = 10

[[camera.offences.speed]]
name = "trap"
limit_kmh = 50
method = "lines"

[[camera.offences.wrong_way]]
name = "southbound"
lane = [[0.1, 0.2], [0.4, 0.2], [0.4, 1.0], [0.1, 1.0]]
direction = [[0.25, 0.2], [0.25, 0.9]]

[[camera.offences.no_stopping]]
name = "bay"
zone = [[0.6, 0.5], [0.9, 0.5], [0.9, 0.9], [0.6, 0.9]]
limit_seconds = 120

[[camera.offences.bus_lane]]
name = "bus-lane"
lane = [[0.0, 0.5], [0.1, 0.5], [0.1, 1.0], [0.0, 1.0]]
max_distance_m = 30
"#;

    #[test]
    fn traffic_offences_parse_with_defaults() {
        let c = Config::parse(TRAFFIC, "k.toml").unwrap();
        let cam = &c.cameras[0];
        let cal = cam.calibration.as_ref().unwrap();
        assert_eq!(cal.homography.as_ref().unwrap().ground[2], [7.0, 40.0]);
        assert_eq!(cal.lines.as_ref().unwrap().distance_m, 15.0);
        let o = &cam.offences;
        assert_eq!(o.vehicle_classes, DEFAULT_VEHICLE_CLASSES);
        assert_eq!(o.evidence_before_seconds, 4.0);
        assert_eq!(o.evidence_after_seconds, 3.0);
        let r = &o.red_light[0];
        assert_eq!(r.direction, LineDirection::In);
        assert!(r.lamps.as_ref().unwrap().amber.is_none());
        assert_eq!((r.min_confidence, r.confirm_readings), (0.5, 2));
        assert_eq!(o.speed[0].method, None);
        assert_eq!(o.speed[1].method, Some(SpeedMethod::Lines));
        assert_eq!(o.speed[0].window_seconds, 1.0);
        assert_eq!(o.wrong_way[0].max_cosine, -0.5);
        assert_eq!(o.no_stopping[0].stopped_speed, 0.15);
        assert_eq!(o.bus_lane[0].allowed_classes, ["bus"]);
        assert_eq!(o.bus_lane[0].max_seconds, 3.0);
        // Absent: no rules, no calibration.
        let g = Config::parse(GOOD, "k.toml").unwrap();
        assert!(g.cameras[0].offences.is_empty() && g.cameras[0].calibration.is_none());
    }

    #[test]
    fn traffic_offence_errors_point_at_lines() {
        let e = err(&TRAFFIC.replace("limit_kmh = 50\ntolerance", "limit_kmh = -5\ntolerance"));
        assert!(e.starts_with("k.toml:23:"), "{e}");
        assert!(e.contains("camera[0].offences.speed[0].limit_kmh"), "{e}");

        // A speed rule without any calibration points at its table.
        let no_cal = TRAFFIC
            .replace("[camera.calibration]\n", "")
            .replace("homography = { image", "#")
            .replace("lines = { first", "#");
        let e = err(&no_cal.replace("max_distance_m = 30\n", ""));
        assert!(
            e.contains("speed[0]: speed needs a [camera.calibration]"),
            "{e}"
        );
        assert!(e.starts_with("k.toml:20:"), "{e}");

        let e = err(&TRAFFIC.replace("[0.6, 0.9], [0.45, 0.2]", "[0.6, 0.9], [0.35, 0.9]"));
        assert!(
            e.contains("calibration.homography.image: three of the four"),
            "{e}"
        );
        assert!(e.starts_with("k.toml:7:"), "{e}");

        let e = err(&TRAFFIC.replace("distance_m = 15.0", "distance_m = 0"));
        assert!(e.contains("calibration.lines.distance_m"), "{e}");

        let e = err(&TRAFFIC.replace("[[0.0, 0.8], [1.0, 0.8]]", "[[0.0, 0.2], [1.0, 0.6]]"));
        assert!(e.contains("must not cross"), "{e}");

        let e = err(&TRAFFIC.replace(
            "light = [[0.85, 0.05], [0.9, 0.25]]",
            "light = [[0.85, 0.05]]",
        ));
        assert!(e.starts_with("k.toml:17:"), "{e}");
        assert!(e.contains("red_light[0].light: needs 2 points"), "{e}");

        let e = err(&TRAFFIC.replace(
            "red = [[0.85, 0.05], [0.9, 0.11]]",
            "red = [[0.85, 0.05], [1.9, 0.11]]",
        ));
        assert!(e.contains("red_light[0].lamps.red"), "{e}");
        assert!(e.starts_with("k.toml:18:"), "{e}");

        let e = err(&TRAFFIC.replace("grace_seconds = 0.5", "grace_seconds = 50"));
        assert!(
            e.starts_with("k.toml:19:") && e.contains("grace_seconds"),
            "{e}"
        );

        let e = err(&TRAFFIC.replace("name = \"trap\"", "name = \"main-road\""));
        assert!(e.contains("duplicate offence rule name"), "{e}");
        assert!(e.starts_with("k.toml:27:"), "{e}");

        let e = err(&TRAFFIC.replace(
            "direction = [[0.25, 0.2], [0.25, 0.9]]",
            "direction = [[0.25, 0.2], [0.25, 0.2]]",
        ));
        assert!(
            e.contains("wrong_way[0].direction: the two ends must differ"),
            "{e}"
        );

        let e = err(&TRAFFIC.replace("limit_seconds = 120", "limit_seconds = 0"));
        assert!(e.starts_with("k.toml:39:"), "{e}");
        assert!(e.contains("no_stopping[0].limit_seconds"), "{e}");

        let e = err(&TRAFFIC.replace(
            "max_distance_m = 30",
            "max_distance_m = 30\nallowed_classes = [\"tram\"]",
        ));
        assert!(
            e.contains("bus_lane[0].allowed_classes") && e.contains("\"tram\""),
            "{e}"
        );

        let e = err(&TRAFFIC.replace(
            "evidence_before_seconds = 4",
            "evidence_before_seconds = 4\nvehicle_classes = [\"car\", \"motorcycle\", \"tank\"]",
        ));
        assert!(
            e.contains("offences.vehicle_classes") && e.contains("\"tank\""),
            "{e}"
        );
        assert!(e.starts_with("k.toml:12:"), "{e}");

        // Unknown keys and wrong shapes are caught by the parser, with the line.
        let e = err(&TRAFFIC.replace(
            "limit_kmh = 50\nmethod",
            "limit_kmh = 50\nlimit_mph = 30\nmethod",
        ));
        assert!(
            e.starts_with("k.toml:29:") && e.contains("limit_mph"),
            "{e}"
        );
        let e = err(&TRAFFIC.replace("method = \"lines\"", "method = \"radar\""));
        assert!(e.starts_with("k.toml:29:"), "{e}");
        let e = err(&TRAFFIC.replace(
            "stop_line = [[0.2, 0.6], [0.8, 0.6]]",
            "stop_line = [[0.2, 0.6]]",
        ));
        assert!(e.starts_with("k.toml:15:"), "{e}");

        // max_distance_m needs a homography.
        let e = err(&TRAFFIC.replace("homography = { image", "# homography = { image"));
        assert!(e.contains("bus_lane[0].max_distance_m: needs"), "{e}");
    }

    #[test]
    fn evidence_masking_defaults_on_and_key_file_is_checked() {
        let c = Config::parse("", "k.toml").unwrap();
        assert!(c.evidence.mask_bystanders);
        assert_eq!(c.evidence.key_file, None);
        let c = Config::parse(
            "[evidence]\nmask_bystanders = false\nkey_file = \"keys/e.key\"\n",
            "k.toml",
        )
        .unwrap();
        assert!(!c.evidence.mask_bystanders);
        let e = err("[evidence]\nkey_file = \"\"\n");
        assert!(e.contains("evidence.key_file"), "{e}");
        assert!(c.evidence.clips_enabled());
        let e = err("[evidence]\nclip_before_seconds = -1\n");
        assert!(e.contains("evidence.clip_before_seconds"), "{e}");
        let e = err("[evidence]\nclip_after_seconds = 31\n");
        assert!(e.contains("evidence.clip_after_seconds"), "{e}");
        let e = err("[evidence]\nclip_max_width = 100\n");
        assert!(e.contains("evidence.clip_max_width"), "{e}");
        let off = Config::parse(
            "[evidence]\nclip_before_seconds = 0\nclip_after_seconds = 0\n",
            "k.toml",
        )
        .unwrap();
        assert!(!off.evidence.clips_enabled());
        let e = err("[evidence]\nmask_bystanders = \"yes\"\n");
        assert!(e.starts_with("k.toml:2:"), "{e}");
        // A relative key path is the config file's neighbour.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k.toml");
        std::fs::write(&p, "[evidence]\nkey_file = \"keys/e.key\"\n").unwrap();
        let c = Config::load(&p).unwrap();
        assert_eq!(c.evidence.key_file.unwrap(), dir.path().join("keys/e.key"));
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

    #[test]
    fn cluster_section_is_checked_and_errors_point_at_lines() {
        let ok = "[cluster]\nbus = \"nats://10.0.0.5:4222\"\ndatabase = \"postgres://kuzet@db/kuzet\"\nevidence = \"s3://ev/site-a\"\n";
        let c = Config::parse(ok, "k.toml").unwrap();
        assert_eq!(c.cluster.bus.as_deref(), Some("nats://10.0.0.5:4222"));
        assert_eq!(c.cluster.evidence.as_deref(), Some("s3://ev/site-a"));
        assert!(Config::default().cluster.bus.is_none());
        let e = err("[cluster]\nbus = \"10.0.0.5:4222\"\n");
        assert!(
            e.starts_with("k.toml:2:") && e.contains("cluster.bus"),
            "{e}"
        );
        assert!(e.contains("nats://"), "{e}");
        let e = err("[cluster]\nbus = \"nats://a:4222\"\ndatabase = \"mysql://x/y\"\n");
        assert!(
            e.starts_with("k.toml:3:") && e.contains("postgres://"),
            "{e}"
        );
        let e = err("[cluster]\ndatabase = \"postgres://x/y\"\n");
        assert!(e.contains("cluster.database") && e.contains("bus"), "{e}");
        let e = err("[cluster]\nbus = \"nats://a:4222\"\nevidence = \"/srv/evidence\"\n");
        assert!(e.starts_with("k.toml:3:") && e.contains("s3://"), "{e}");
        let e = err("[cluster]\nevidence = \"s3://b\"\n");
        assert!(e.contains("cluster.evidence") && e.contains("bus"), "{e}");
        let e = err("[cluster]\nbuss = \"nats://a:4222\"\n");
        assert!(e.contains("buss"), "{e}");
    }

    #[test]
    fn tls_needs_certificate_and_key_together() {
        let both = "[server]\ntls_cert = \"cert.pem\"\ntls_key = \"key.pem\"\n";
        let c = Config::parse(both, "k.toml").unwrap();
        assert_eq!(c.server.tls_cert.unwrap(), std::path::Path::new("cert.pem"));
        let e = err("[server]\ntls_cert = \"cert.pem\"\n");
        assert!(
            e.starts_with("k.toml:2:") && e.contains("server.tls_cert"),
            "{e}"
        );
        assert!(e.contains("tls_key"), "{e}");
        let e = err("[server]\ntls_key = \"key.pem\"\n");
        assert!(e.contains("server.tls_key"), "{e}");
        assert!(Config::default().server.tls_cert.is_none());
    }

    #[test]
    fn camera_plates_defaults_and_errors_point_at_lines() {
        let toml = "[plates]\nread_retention_days = 7\n\n[[camera]]\nid = \"gate\"\nurl = \"x.mp4\"\n[camera.plates]\ncountries = [\"us\"]\n";
        let c = Config::parse(toml, "k.toml").unwrap();
        assert_eq!(c.plates.read_retention_days, Some(7.0));
        assert_eq!(
            c.retention().plate_reads,
            std::time::Duration::from_secs(7 * 86_400)
        );
        let p = c.cameras[0].plates.as_ref().unwrap();
        assert!(p.enabled);
        assert_eq!(p.countries, ["us"]);
        assert_eq!((p.interval_seconds, p.stable_votes), (0.5, 3));
        assert_eq!(
            Config::default().retention().plate_reads,
            std::time::Duration::from_secs(30 * 86_400)
        );
        let e = err(&toml.replace("countries = [\"us\"]", "interval_seconds = 0"));
        assert!(e.starts_with("k.toml:8:"), "{e}");
        assert!(e.contains("camera[0].plates.interval_seconds"), "{e}");
        let e = err(&toml.replace("countries = [\"us\"]", "countries = [\"u s\"]"));
        assert!(e.contains("plates.countries"), "{e}");
        let e = err(&toml.replace("= 7", "= 0"));
        assert!(e.contains("plates.read_retention_days"), "{e}");
        let no_cars = format!("[detect]\nclasses = [\"person\"]\n{toml}");
        let e = err(&no_cars);
        assert!(e.contains("no vehicle"), "{e}");
    }

    #[test]
    fn retention_defaults_keys_aliases_and_errors() {
        use std::time::Duration;
        let day = |d: u64| Duration::from_secs(d * 86_400);
        let r = Config::default().retention();
        assert_eq!(
            (
                r.events,
                r.evidence,
                r.face_unmatched,
                r.face_matched,
                r.plate_reads
            ),
            (
                day(90),
                day(30),
                Duration::from_secs(72 * 3600),
                day(90),
                day(30)
            )
        );
        assert_eq!(r.interval, Duration::from_secs(300));
        assert!(r.deprecations.is_empty());

        let c = Config::parse(
            "[retention]\nevents_days = 14\nevidence_days = 7\nface_unmatched_hours = 24\n\
             face_matched_days = 30\nplate_reads_days = 10\ninterval_minutes = 1\n",
            "k.toml",
        )
        .unwrap();
        let r = c.retention();
        assert_eq!(
            (
                r.events,
                r.evidence,
                r.face_unmatched,
                r.face_matched,
                r.plate_reads,
                r.interval
            ),
            (
                day(14),
                day(7),
                Duration::from_secs(24 * 3600),
                day(30),
                day(10),
                Duration::from_secs(60)
            )
        );

        // The old keys still work, with a deprecation note each.
        let c = Config::parse(
            "[faces]\nsighting_retention_hours = 48\nmatched_retention_hours = 480\n\
             [plates]\nread_retention_days = 3\n",
            "k.toml",
        )
        .unwrap();
        let r = c.retention();
        assert_eq!(
            (r.face_unmatched, r.face_matched, r.plate_reads),
            (Duration::from_secs(48 * 3600), day(20), day(3))
        );
        assert_eq!(r.deprecations.len(), 3, "{:?}", r.deprecations);
        assert!(r.deprecations[0].contains("[retention] face_unmatched_hours"));

        // Both the alias and the new key: an error at the alias.
        let e =
            err("[faces]\nsighting_retention_hours = 48\n[retention]\nface_unmatched_hours = 24\n");
        assert!(e.starts_with("k.toml:2:"), "{e}");
        assert!(
            e.contains("faces.sighting_retention_hours") && e.contains("deprecated"),
            "{e}"
        );
        let e = err("[retention]\nevidence_days = 0\n");
        assert!(
            e.contains("retention.evidence_days") && e.contains("> 0"),
            "{e}"
        );
        let e = err("[retention]\nevents_days = 100000\n");
        assert!(e.contains("retention.events_days"), "{e}");
        let e = err("[retention]\nface_unmatched_hours = 480\nface_matched_days = 2\n");
        assert!(e.contains("retention.face_matched_days"), "{e}");
        let e = err("[retention]\nvideo_days = 3\n");
        assert!(e.contains("video_days"), "{e}");
    }
}
