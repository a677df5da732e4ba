//! Face commands: `watchlist add|ls|rm`, `identify`, `eval faces`.

use super::{load_config, models_dir, open_store, CentralDb, Common};
use anyhow::{anyhow, bail, Context, Result};
use base::SystemClock;
use base::Timestamp;
use clap::Subcommand;
use faces::{
    Decision, EnrolRequest, FacePipeline, FacePipelineConfig, Gallery, DEFAULT_THRESHOLD,
    DEFAULT_TOP_K,
};
use faces::{FaceService, FaceServiceConfig};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use store::{LegalBasis, WatchlistCategory};

#[derive(Subcommand)]
pub enum WatchlistCmd {
    /// Enrol a person from one or more photos (creates the list if needed).
    Add {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: CentralDb,
        /// Watchlist name.
        #[arg(long)]
        list: String,
        /// wanted, missing, debtor or custom (used when the list is created;
        /// must match an existing list's).
        #[arg(long)]
        category: String,
        /// The person's name.
        #[arg(long)]
        name: String,
        /// Enrol the largest face of a multi-face photo instead of refusing it.
        #[arg(long)]
        largest: bool,
        /// Match threshold (cosine) of a newly created list.
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        /// Priority of a newly created list (higher wins when several match).
        #[arg(long, default_value_t = 0)]
        priority: i64,
        #[arg(long)]
        notes: Option<String>,
        #[arg(long)]
        case_number: Option<String>,
        #[arg(long)]
        authority: Option<String>,
        /// Expiry of the entry: RFC 3339 or epoch milliseconds.
        #[arg(long)]
        expires: Option<String>,
        /// Keep the enrolment photos in the evidence store (off: only templates are kept).
        #[arg(long)]
        keep_photo: bool,
        /// Photo files of the person.
        #[arg(required = true)]
        photos: Vec<PathBuf>,
    },
    /// List watchlists and their persons.
    Ls {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: CentralDb,
        #[arg(long)]
        list: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Enrol one person per sub-folder of FOLDER (the folder name is the
    /// person's name, its photos their templates), with a progress bar.
    Import {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: CentralDb,
        #[arg(long)]
        list: String,
        #[arg(long)]
        category: String,
        #[arg(long)]
        largest: bool,
        #[arg(long, default_value_t = DEFAULT_THRESHOLD)]
        threshold: f32,
        #[arg(long, default_value_t = 0)]
        priority: i64,
        /// Expiry of every entry: RFC 3339 or epoch milliseconds.
        #[arg(long)]
        expires: Option<String>,
        folder: PathBuf,
    },
    /// Remove a person (and all their templates) by id.
    Rm {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: CentralDb,
        id: i64,
    },
}

#[derive(clap::Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub db: CentralDb,
    pub photo: PathBuf,
    /// Candidates per face.
    #[arg(long, default_value_t = DEFAULT_TOP_K)]
    pub top_k: usize,
    /// The legal authorisation (id) this identification rests on; required,
    /// as for the API. Only the watchlists it covers are searched.
    #[arg(long)]
    pub authorisation: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Face verification (1:1) and identification (1:N) on <data-root>/faces/labels.csv.
    Faces {
        #[command(flatten)]
        common: Common,
        data_root: PathBuf,
        /// Photos analysed at once, each by its own pipeline with a share of
        /// the ORT threads (0 = one per core, 1 on a GPU provider).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        #[arg(long)]
        json: bool,
    },
}

fn pipeline(common: &Common) -> Result<FacePipeline> {
    let cfg = load_config(common.config.as_deref())?;
    face_pipeline_for(&cfg)
}

/// The face models with the config's execution provider and threads.
pub fn face_pipeline_for(cfg: &config::Config) -> Result<FacePipeline> {
    FacePipeline::new(
        &vision::ModelManifest::embedded(),
        &models_dir(cfg),
        face_config_for(cfg)?,
    )
    .context("cannot load the face models (check KUZET_MODELS, or run `kuzet models check`)")
}

/// `workers` face pipelines sharing the config's ORT threads, for batches
/// of photos (see [`faces::FacePool`]). 0 = one per core on the CPU; a GPU
/// provider gets one (its kernels already run in parallel on the device).
pub fn face_pool_for(cfg: &config::Config, workers: usize) -> Result<faces::FacePool> {
    let fc = face_config_for(cfg)?;
    let workers = if workers == 0 && fc.session.provider != vision::ExecutionProvider::Cpu {
        1
    } else {
        workers
    };
    faces::FacePool::new(
        &vision::ModelManifest::embedded(),
        &models_dir(cfg),
        fc,
        workers,
    )
    .context("cannot load the face models (check KUZET_MODELS, or run `kuzet models check`)")
}

fn face_config_for(cfg: &config::Config) -> Result<FacePipelineConfig> {
    let mut fc = FacePipelineConfig::default();
    let ep = serde_json::to_value(cfg.models.execution_provider)?
        .as_str()
        .unwrap_or("cpu")
        .parse::<vision::ExecutionProvider>()?;
    for s in [&mut fc.session, &mut fc.detector.session] {
        s.provider = ep;
        s.intra_threads = cfg.models.threads;
    }
    Ok(fc)
}

/// The face service over `store` (gallery + sighting index from the data dir).
pub fn open_service(cfg: &config::Config, store: Arc<store::Store>) -> Result<Arc<FaceService>> {
    open_service_with(cfg, store, None)
}

/// Like [`open_service`], with the sightings in `central` when given (the
/// PostgreSQL database of `kuzet serve --bus --database`).
pub fn open_service_with(
    cfg: &config::Config,
    store: Arc<store::Store>,
    central: Option<Arc<dyn store::StoreBackend>>,
) -> Result<Arc<FaceService>> {
    let pipe = face_pipeline_for(cfg)?;
    Ok(Arc::new(FaceService::open_with_sightings(
        store,
        central,
        pipe,
        Arc::new(SystemClock),
        FaceServiceConfig {
            store_sightings: cfg.faces.store_sightings,
            store_unmatched_sightings: cfg.faces.store_unmatched_sightings,
            ..FaceServiceConfig::default()
        },
    )?))
}

/// Live face matching for the pipeline, if the config switches it on for a
/// camera.
pub fn live_faces(cfg: &config::Config, svc: &Arc<FaceService>) -> Option<pipeline::LiveFaces> {
    live_faces_on(cfg, Some(svc.clone()))
}

/// The faces stage of a `kuzet worker`: the face models run here, matching
/// happens on `kuzet serve` (no watchlists on workers).
pub fn worker_faces(cfg: &config::Config) -> Option<pipeline::LiveFaces> {
    live_faces_on(cfg, None)
}

fn live_faces_on(
    cfg: &config::Config,
    service: Option<Arc<FaceService>>,
) -> Option<pipeline::LiveFaces> {
    let any = cfg
        .cameras
        .iter()
        .any(|c| c.enabled && c.faces.as_ref().is_some_and(|f| f.enabled));
    if !(cfg.faces.enabled && any) {
        return None;
    }
    let cfg = cfg.clone();
    Some(pipeline::LiveFaces {
        service,
        models: Arc::new(move || {
            face_pipeline_for(&cfg).map_err(|e| faces::FacesError::Config(format!("{e:#}")))
        }),
    })
}

fn store_of(common: &Common, must_exist: bool) -> Result<store::Store> {
    let (cfg, dir) = common.load()?;
    if must_exist && !dir.join(store::DB_FILE).exists() {
        bail!(
            "no kuzet database in {}: enrol someone first with `kuzet watchlist add --data-dir {}`",
            dir.display(),
            dir.display()
        );
    }
    let store = open_store(&dir)?;
    // Templates are sealed under the evidence key (created if missing).
    super::configure_seal_key(&store, &cfg, &dir)?;
    Ok(store)
}

/// The data directory's store and, with `--database`, the central database
/// that keeps the watchlists (see [`CentralDb`]).
type StoreAndGallery = (store::Store, Option<Arc<dyn store::StoreBackend>>);

fn gallery_of(common: &Common, db: &CentralDb, must_exist: bool) -> Result<StoreAndGallery> {
    let cfg = load_config(common.config.as_deref())?;
    // With the gallery in PostgreSQL the data directory only lends its key.
    let store = store_of(common, must_exist && !db.named(&cfg))?;
    let central = db.open(&cfg, &store)?;
    Ok((store, central))
}

pub fn run_watchlist(cmd: WatchlistCmd) -> Result<ExitCode> {
    match cmd {
        WatchlistCmd::Add {
            common,
            db,
            list,
            category,
            name,
            largest,
            threshold,
            priority,
            notes,
            case_number,
            authority,
            expires,
            keep_photo,
            photos,
        } => {
            let category: WatchlistCategory = category.parse()?;
            let expires = parse_expiry(expires)?;
            let photos = expand_photos(&photos)?;
            let mut pipe = pipeline(&common)?;
            let (store, central) = gallery_of(&common, &db, false)?;
            let gallery = central.as_deref().unwrap_or(&store);
            let (wl, created) = gallery.ensure_watchlist(&list, category, threshold, priority)?;
            if created {
                println!(
                    "created watchlist {:?} ({}, threshold {:.2}, priority {})",
                    wl.name, wl.category, wl.threshold, wl.priority
                );
            }
            let req = EnrolRequest {
                name,
                notes,
                legal: LegalBasis {
                    case_number,
                    authority,
                    expires,
                },
                photos,
                largest,
                keep_photo,
            };
            let out = enrol_with_progress(&store, gallery, &mut pipe, &wl, &req)?;
            for r in &out.refused {
                println!("refused  {}: {}", r.path, r.reason);
            }
            match out.person {
                Some(p) => {
                    println!(
                        "enrolled person {} {:?} on {:?} from {} photo(s)",
                        p.id,
                        p.name,
                        wl.name,
                        out.accepted.len()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                None => {
                    println!("nothing enrolled: no photo was accepted");
                    Ok(ExitCode::from(1))
                }
            }
        }
        WatchlistCmd::Ls {
            common,
            db,
            list,
            json,
        } => {
            let (store, central) = gallery_of(&common, &db, false)?;
            let gallery = central.as_deref().unwrap_or(&store);
            let lists = gallery.watchlists()?;
            let selected: Vec<_> = match &list {
                Some(l) => {
                    let w = lists
                        .iter()
                        .find(|w| &w.name == l)
                        .ok_or_else(|| anyhow!("no watchlist named {l:?}"))?;
                    vec![w.clone()]
                }
                None => lists,
            };
            let mut out = Vec::new();
            for w in &selected {
                out.push((w.clone(), gallery.persons(Some(w.id))?));
            }
            if json {
                let v: Vec<_> = out
                    .iter()
                    .map(|(w, p)| serde_json::json!({"watchlist": w, "persons": p}))
                    .collect();
                println!("{}", serde_json::to_string_pretty(&v)?);
            } else {
                for (w, persons) in &out {
                    println!(
                        "{} ({}, threshold {:.2}, priority {}): {} person(s)",
                        w.name,
                        w.category,
                        w.threshold,
                        w.priority,
                        persons.len()
                    );
                    for p in persons {
                        let case = p.legal.case_number.as_deref().unwrap_or("-");
                        println!(
                            "  {:>6}  {:<30} templates {}  case {}",
                            p.id, p.name, p.templates, case
                        );
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        WatchlistCmd::Import {
            common,
            db,
            list,
            category,
            largest,
            threshold,
            priority,
            expires,
            folder,
        } => {
            let category: WatchlistCategory = category.parse()?;
            let expires = parse_expiry(expires)?;
            let mut persons: Vec<PathBuf> = std::fs::read_dir(&folder)
                .with_context(|| format!("cannot read folder {}", folder.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_dir())
                .collect();
            persons.sort();
            if persons.is_empty() {
                bail!(
                    "{} has no sub-folders: put each person's photos in a folder named after them",
                    folder.display()
                );
            }
            let mut pipe = pipeline(&common)?;
            let (store, central) = gallery_of(&common, &db, false)?;
            let gallery = central.as_deref().unwrap_or(&store);
            let (wl, _) = gallery.ensure_watchlist(&list, category, threshold, priority)?;
            let bar = progress(persons.len() as u64, "persons");
            let (mut enrolled, mut refused) = (0usize, Vec::new());
            for dir in &persons {
                let name = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().replace('_', " "))
                    .unwrap_or_default();
                bar.set_message(name.clone());
                let photos = match expand_photos(std::slice::from_ref(dir)) {
                    Ok(p) => p,
                    Err(e) => {
                        refused.push(format!("{name}: {e:#}"));
                        bar.inc(1);
                        continue;
                    }
                };
                let req = EnrolRequest {
                    name: name.clone(),
                    notes: None,
                    legal: LegalBasis {
                        expires,
                        ..Default::default()
                    },
                    photos,
                    largest,
                    keep_photo: false,
                };
                let out = faces::enrol(&store, gallery, &mut pipe, &wl, &req)?;
                for r in &out.refused {
                    refused.push(format!("{name}: {}: {}", r.path, r.reason));
                }
                if out.person.is_some() {
                    enrolled += 1;
                }
                bar.inc(1);
            }
            bar.finish_and_clear();
            for r in &refused {
                println!("refused  {r}");
            }
            println!(
                "enrolled {enrolled} of {} person(s) on {:?}",
                persons.len(),
                wl.name
            );
            Ok(if enrolled > 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        WatchlistCmd::Rm { common, db, id } => {
            let (store, central) = gallery_of(&common, &db, true)?;
            let gallery = central.as_deref().unwrap_or(&store);
            if gallery.remove_person(id)? {
                println!("removed person {id} and their templates");
                Ok(ExitCode::SUCCESS)
            } else {
                println!("no person with id {id} (see `kuzet watchlist ls`)");
                Ok(ExitCode::from(1))
            }
        }
    }
}

pub fn run_identify(a: IdentifyArgs) -> Result<ExitCode> {
    if a.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let img = faces::load_photo(&a.photo)?;
    let store = store_of(&a.common, false)?;
    // Identification against watchlists is a biometric search like the
    // API's `POST /api/faces/identify`: it needs an authorisation in effect
    // for retrospective use (photos, not footage, so no camera scope), is
    // limited to the lists it covers, and is audited either way.
    let (auth_id, _) = super::authorisation::scope_search(
        &store,
        a.authorisation,
        "faces.identify",
        &[],
        None,
        None,
        None,
    )?;
    let auth = store
        .authorisation(auth_id)?
        .with_context(|| format!("authorisation {auth_id} vanished"))?;
    let mut pipe = pipeline(&a.common)?;
    let cfg = load_config(a.common.config.as_deref())?;
    let central = a.db.open(&cfg, &store)?;
    let gallery = Gallery::load(central.as_deref().unwrap_or(&store), pipe.model_key())?;
    let allow = |list: &str, cat: WatchlistCategory| auth.covers_list(list, cat);
    let now = store.clock().now();
    let found =
        faces::watchlist::identify_lists(&mut pipe, &gallery, &img, a.top_k, Some(now), &allow)?;
    store.record_authorisation_use(
        auth_id,
        &super::security::cli_actor(),
        "faces.identify",
        None,
    )?;
    super::authorisation::audit_use(
        &store,
        auth_id,
        "faces.identify",
        serde_json::json!({ "faces": found.len() }),
    )?;
    if a.json {
        let v = serde_json::json!({
            "photo": a.photo.display().to_string(),
            "model": pipe.model_key(),
            "gallery_templates": gallery.len(),
            "authorisation": auth_id,
            "faces": found,
        });
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{}: {} face(s); gallery {} template(s)",
        a.photo.display(),
        found.len(),
        gallery.len()
    );
    for (i, f) in found.iter().enumerate() {
        let b = &f.face.face.bbox;
        let q = &f.face.quality;
        println!(
            "face {i}: box [{:.0},{:.0},{:.0},{:.0}] size {:.0}px sharp {:.0} yaw {:.0}° roll {:.0}° live {}",
            b.x1,
            b.y1,
            b.x2,
            b.y2,
            q.size,
            q.sharpness,
            q.yaw,
            q.roll,
            q.liveness.map_or("-".into(), |l| format!("{l:.2}"))
        );
        match &f.search {
            None => println!(
                "  not matched: below the quality gate ({})",
                f.face.rejected.join(", ")
            ),
            Some(s) => {
                for c in &s.candidates {
                    println!(
                        "  {:>6} {:<24} {:<16} score {:.3} margin {} threshold {:.2}{}",
                        c.person_id,
                        c.person_name,
                        c.watchlist,
                        c.score,
                        c.margin.map_or("-".into(), |m| format!("{m:.3}")),
                        c.threshold,
                        if c.is_match { "  MATCH" } else { "" }
                    );
                }
                match &s.decision {
                    Decision::Match {
                        person_id,
                        person_name,
                        watchlist,
                        score,
                    } => println!(
                        "  decision: MATCH person {person_id} {person_name:?} on {watchlist:?} ({score:.3})"
                    ),
                    Decision::NoMatch => println!("  decision: no match"),
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn pct(x: f64) -> String {
    format!("{:.1}%", x * 100.0)
}

pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    let EvalCmd::Faces {
        common,
        data_root,
        workers,
        json,
    } = cmd;
    if !data_root.join("faces/labels.csv").is_file() {
        bail!(
            "{} has no faces/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let cfg = load_config(common.config.as_deref())?;
    let pool = face_pool_for(&cfg, workers)?;
    let r = faces::eval::evaluate(Path::new(&data_root), &pool)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(ExitCode::SUCCESS);
    }
    let v = &r.verification;
    let id = &r.identification;
    println!(
        "face evaluation: {} ({} photos, {} identities, model {})",
        r.data_root, r.photos, r.identities, r.model
    );
    println!("| metric | value |");
    println!("|---|---|");
    println!(
        "| failure to enrol (gallery photos) | {} ({}) |",
        pct(r.failure_to_enrol),
        r.failed_to_enrol
    );
    println!(
        "| failure to acquire (probe photos) | {} ({}) |",
        pct(r.failure_to_acquire),
        r.failed_to_acquire
    );
    println!(
        "| genuine pairs: n / min / mean / max | {} / {:.3} / {:.3} / {:.3} |",
        v.genuine.count, v.genuine.min, v.genuine.mean, v.genuine.max
    );
    println!(
        "| impostor pairs: n / min / mean / max | {} / {:.3} / {:.3} / {:.3} |",
        v.impostor.count, v.impostor.min, v.impostor.mean, v.impostor.max
    );
    for t in &v.tar_at_far {
        println!(
            "| TAR at FAR {:.0e} | {} (threshold {:.3}, FAR reached {:.4}) |",
            t.far_target,
            pct(t.tar),
            t.threshold,
            t.far
        );
    }
    println!("| AUC | {:.4} |", v.auc);
    println!(
        "| EER | {} (threshold {:.3}) |",
        pct(v.eer),
        v.eer_threshold
    );
    for p in &v.roc {
        println!(
            "| ROC at threshold {:.2} | TAR {} FAR {:.4} |",
            p.threshold,
            pct(p.tar),
            p.far
        );
    }
    println!(
        "| 1:N enrolled / mated probes | {} / {} |",
        id.enrolled, id.mated_probes
    );
    println!("| 1:N rank-1 accuracy | {} |", pct(id.rank1));
    for (label, f) in [
        ("singleton non-mated", &id.fnir_singletons),
        ("leave-one-identity-out non-mated", &id.fnir_leave_one_out),
    ] {
        match f {
            Some(f) => println!(
                "| FNIR at FPIR 0.01, {label} ({} searches) | {} (threshold {:.3}, FPIR reached {:.3}) |",
                f.nonmated_searches,
                pct(f.fnir),
                f.threshold,
                f.fpir
            ),
            None => println!("| FNIR at FPIR 0.01, {label} | n/a (no non-mated searches) |"),
        }
    }
    println!(
        "| speed (detect+quality+align+embed) | {:.1} faces/s, {:.0} ms/photo |",
        r.faces_per_s, r.ms_per_photo
    );
    for (k, ms) in &r.stage_ms {
        println!("| {k} | {ms:.1} ms |");
    }
    for (a, b, s) in &r.top_impostors {
        println!("highest impostor pair: {s:.3} {a} vs {b}");
    }
    for (a, b, s) in &r.bottom_genuine {
        println!("lowest genuine pair: {s:.3} {a} vs {b}");
    }
    for o in r.outcomes.iter().filter(|o| o.failure.is_some()) {
        println!(
            "not used: {} ({}): {}",
            o.path,
            o.identity,
            o.failure.as_deref().unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn parse_expiry(expires: Option<String>) -> Result<Option<Timestamp>> {
    expires
        .map(|s| {
            Timestamp::parse(&s).ok_or_else(|| {
                anyhow!("--expires {s:?}: expected RFC 3339 (2027-01-31T00:00:00Z) or epoch milliseconds")
            })
        })
        .transpose()
}

fn parse_time(flag: &str, v: Option<String>) -> Result<Option<Timestamp>> {
    v.map(|s| {
        Timestamp::parse(&s).ok_or_else(|| {
            anyhow!("{flag} {s:?}: expected RFC 3339 (2026-11-22T10:00:00Z) or epoch milliseconds")
        })
    })
    .transpose()
}

fn is_photo(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .is_some_and(|e| matches!(e.as_str(), "jpg" | "jpeg" | "png" | "webp" | "bmp"))
}

/// Photo files of the arguments: files as given, folders expanded to the
/// images directly inside them (sorted). A missing path is an error.
fn expand_photos(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read folder {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.is_file() && is_photo(f))
                .collect();
            if inside.is_empty() {
                bail!("folder {} holds no JPEG/PNG photo", p.display());
            }
            inside.sort();
            out.extend(inside);
        } else if p.is_file() {
            out.push(p.clone());
        } else {
            bail!("photo {} does not exist or is not a file", p.display());
        }
    }
    Ok(out)
}

/// A progress bar on stderr (hidden when stderr is not a terminal).
fn progress(len: u64, what: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(len);
    let style = indicatif::ProgressStyle::with_template(&format!(
        "{{bar:30}} {{pos}}/{{len}} {what} {{elapsed}}/{{eta}} {{msg}}"
    ))
    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar
}

/// [`faces::enrol`] with a progress bar for folders of photos.
fn enrol_with_progress(
    store: &store::Store,
    gallery: &dyn store::StoreBackend,
    pipe: &mut FacePipeline,
    wl: &store::Watchlist,
    req: &EnrolRequest,
) -> Result<faces::EnrolOutcome> {
    if req.photos.len() < 3 {
        return Ok(faces::enrol(store, gallery, pipe, wl, req)?);
    }
    let bar = progress(req.photos.len() as u64, "photos");
    let out = faces::enrol_with_progress(store, gallery, pipe, wl, req, &mut |p| {
        bar.set_message(p.display().to_string());
        bar.inc(1);
    });
    bar.finish_and_clear();
    Ok(out?)
}

#[derive(Subcommand)]
pub enum SearchCmd {
    /// Where and when was the person on PHOTO seen? Searches stored face
    /// sightings and groups them into appearances.
    Face {
        #[command(flatten)]
        common: Common,
        #[command(flatten)]
        db: CentralDb,
        photo: PathBuf,
        /// Cameras or camera groups, comma-separated (default: all).
        #[arg(long)]
        camera: Option<String>,
        /// From (RFC 3339 or epoch ms).
        #[arg(long)]
        since: Option<String>,
        /// Until (RFC 3339 or epoch ms).
        #[arg(long)]
        until: Option<String>,
        /// Lowest similarity to report (default: the measured operating point).
        #[arg(long)]
        min_score: Option<f32>,
        /// The legal authorisation (id) the search rests on; required.
        #[arg(long)]
        authorisation: Option<i64>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
pub struct LostArgs {
    #[command(flatten)]
    pub common: Common,
    #[command(flatten)]
    pub db: CentralDb,
    /// Photo of the missing person (a child, usually).
    pub photo: PathBuf,
    /// Cameras or camera groups to watch, comma-separated.
    #[arg(long)]
    pub cameras: String,
    /// Minutes of past sightings to search now.
    #[arg(long, default_value_t = 30)]
    pub minutes: u32,
    /// Name of the entry.
    #[arg(long, default_value = "lost child")]
    pub name: String,
    /// Hours until the temporary entry expires.
    #[arg(long, default_value_t = 12.0)]
    pub expires_hours: f32,
    #[arg(long)]
    pub notes: Option<String>,
    /// The legal authorisation (id) the search rests on; required. It must
    /// cover the cameras and the lost-children (missing-person) list.
    #[arg(long)]
    pub authorisation: Option<i64>,
    #[arg(long)]
    pub json: bool,
}

fn print_appearances(appearances: &[faces::Appearance]) {
    if appearances.is_empty() {
        println!("  no appearance above the threshold");
    }
    for (i, a) in appearances.iter().enumerate() {
        println!(
            "  {:>3}. {:<16} {} .. {}  score {:.3}  {} sighting(s)  tracks {:?}  crop {}",
            i + 1,
            a.camera,
            a.first_seen,
            a.last_seen,
            a.best_score,
            a.sightings,
            a.track_ids,
            a.best.crop.as_deref().unwrap_or("-")
        );
    }
}

fn service_for(common: &Common, db: &CentralDb) -> Result<(config::Config, Arc<FaceService>)> {
    let (cfg, dir) = common.load()?;
    let store = Arc::new(open_store(&dir)?);
    super::configure_seal_key(&store, &cfg, &dir)?;
    let central = db.open(&cfg, &store)?;
    let svc = open_service_with(&cfg, store, central)?;
    Ok((cfg, svc))
}

/// Camera ids of `spec` (ids and groups, comma-separated): from the config,
/// or else cameras the data directory has recorded (e.g. sources analysed
/// with `kuzet analyze`, which have no config section).
fn resolve_cameras(cfg: &config::Config, svc: &FaceService, spec: &str) -> Result<Vec<String>> {
    resolve_camera_ids(cfg, svc.store(), spec)
}

/// [`resolve_cameras`] on a store (shared with `search plate`).
pub fn resolve_camera_ids(
    cfg: &config::Config,
    store: &store::Store,
    spec: &str,
) -> Result<Vec<String>> {
    match cfg.resolve_cameras(spec) {
        Ok(c) => Ok(c),
        Err(e) => {
            let known: Vec<String> = store.cameras()?.into_iter().map(|c| c.id).collect();
            let names: Vec<&str> = spec
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if !names.is_empty() && names.iter().all(|n| known.iter().any(|k| k == n)) {
                Ok(names.into_iter().map(str::to_owned).collect())
            } else {
                bail!(
                    "{e}; cameras recorded in the data directory: {}",
                    if known.is_empty() {
                        "none".into()
                    } else {
                        known.join(", ")
                    }
                )
            }
        }
    }
}

pub fn run_search(cmd: SearchCmd) -> Result<ExitCode> {
    let SearchCmd::Face {
        common,
        db,
        photo,
        camera,
        since,
        until,
        min_score,
        authorisation,
        json,
    } = cmd;
    let img = faces::load_photo(&photo)?;
    let (cfg, svc) = service_for(&common, &db)?;
    let cameras = match camera.as_deref() {
        Some(c) => resolve_cameras(&cfg, &svc, c).context("--camera")?,
        None => Vec::new(),
    };
    let (auth_id, (cameras, since, until)) = super::authorisation::scope_search(
        svc.store(),
        authorisation,
        "faces.search",
        &cameras,
        parse_time("--since", since)?,
        parse_time("--until", until)?,
        None,
    )?;
    let q = store::SightingQuery {
        cameras,
        since,
        until,
    };
    let r = svc.search_photo(&img, &q, min_score)?;
    svc.store().record_authorisation_use(
        auth_id,
        &super::security::cli_actor(),
        "faces.search",
        None,
    )?;
    super::authorisation::audit_use(
        svc.store(),
        auth_id,
        "faces.search",
        serde_json::json!({ "appearances": r.appearances.len() }),
    )?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        if let Some(n) = &r.notice {
            println!("NOTE: {n}");
        }
        println!(
            "{}: {} appearance(s) among {} sighting(s) in range",
            photo.display(),
            r.appearances.len(),
            r.indexed
        );
        print_appearances(&r.appearances);
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_lost(a: LostArgs) -> Result<ExitCode> {
    if !(a.expires_hours > 0.0 && a.expires_hours <= 168.0) {
        bail!("--expires-hours must be in (0, 168]");
    }
    let img = faces::load_photo(&a.photo)?;
    let (cfg, svc) = service_for(&a.common, &a.db)?;
    let cameras = resolve_cameras(&cfg, &svc, &a.cameras).context("--cameras")?;
    let now = svc.store().clock().now();
    let since = Timestamp::from_millis(now.millis() - i64::from(a.minutes) * 60_000);
    let (auth_id, _) = super::authorisation::scope_search(
        svc.store(),
        a.authorisation,
        "faces.lost",
        &cameras,
        Some(since),
        None,
        Some((faces::LOST_LIST, WatchlistCategory::Missing)),
    )?;
    let r = svc.lost(
        &img,
        &a.name,
        cameras.clone(),
        a.minutes,
        (a.expires_hours * 3_600_000.0) as i64,
        a.notes,
    )?;
    svc.store().record_authorisation_use(
        auth_id,
        &super::security::cli_actor(),
        "faces.lost",
        Some(r.person.id),
    )?;
    super::authorisation::audit_use(
        svc.store(),
        auth_id,
        "faces.lost",
        serde_json::json!({ "person": r.person.id, "appearances": r.appearances.len() }),
    )?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&r)?);
    } else {
        println!(
            "lost-child entry {} {:?} on {:?}, watching {} until {}",
            r.person.id,
            r.person.name,
            r.person.watchlist,
            cameras.join(", "),
            r.person.legal.expires.map_or("-".into(), |e| e.to_string())
        );
        println!(
            "sightings of the last {} minute(s) on those cameras:",
            a.minutes
        );
        print_appearances(&r.appearances);
        println!("a running `kuzet serve` alerts on new matches at once.");
    }
    Ok(ExitCode::SUCCESS)
}
