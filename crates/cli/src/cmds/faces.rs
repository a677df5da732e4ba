//! Face commands: `watchlist add|ls|rm`, `identify`, `eval faces`.

use super::{load_config, models_dir, open_store, Common};
use anyhow::{anyhow, bail, Context, Result};
use base::Timestamp;
use clap::Subcommand;
use faces::{
    Decision, EnrolRequest, FacePipeline, FacePipelineConfig, Gallery, DEFAULT_THRESHOLD,
    DEFAULT_TOP_K,
};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use store::{LegalBasis, WatchlistCategory};

#[derive(Subcommand)]
pub enum WatchlistCmd {
    /// Enrol a person from one or more photos (creates the list if needed).
    Add {
        #[command(flatten)]
        common: Common,
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
        #[arg(long)]
        list: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove a person (and all their templates) by id.
    Rm {
        #[command(flatten)]
        common: Common,
        id: i64,
    },
}

#[derive(clap::Args)]
pub struct IdentifyArgs {
    #[command(flatten)]
    pub common: Common,
    pub photo: PathBuf,
    /// Candidates per face.
    #[arg(long, default_value_t = DEFAULT_TOP_K)]
    pub top_k: usize,
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
        #[arg(long)]
        json: bool,
    },
}

fn pipeline(common: &Common) -> Result<FacePipeline> {
    let cfg = load_config(common.config.as_deref())?;
    let mut fc = FacePipelineConfig::default();
    let ep = serde_json::to_value(cfg.models.execution_provider)?
        .as_str()
        .unwrap_or("cpu")
        .parse::<vision::ExecutionProvider>()?;
    for s in [&mut fc.session, &mut fc.detector.session] {
        s.provider = ep;
        s.intra_threads = cfg.models.threads;
    }
    FacePipeline::new(&vision::ModelManifest::embedded(), &models_dir(&cfg), fc)
        .context("cannot load the face models (check KUZET_MODELS, or run `kuzet models check`)")
}

fn store_of(common: &Common, must_exist: bool) -> Result<store::Store> {
    let (_, dir) = common.load()?;
    if must_exist && !dir.join(store::DB_FILE).exists() {
        bail!(
            "no kuzet database in {}: enrol someone first with `kuzet watchlist add --data-dir {}`",
            dir.display(),
            dir.display()
        );
    }
    open_store(&dir)
}

pub fn run_watchlist(cmd: WatchlistCmd) -> Result<ExitCode> {
    match cmd {
        WatchlistCmd::Add {
            common,
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
            let expires = expires
                .map(|s| {
                    Timestamp::parse(&s).ok_or_else(|| {
                        anyhow!("--expires {s:?}: expected RFC 3339 (2027-01-31T00:00:00Z) or epoch milliseconds")
                    })
                })
                .transpose()?;
            for p in &photos {
                if !p.is_file() {
                    bail!("photo {} does not exist or is not a file", p.display());
                }
            }
            let mut pipe = pipeline(&common)?;
            let store = store_of(&common, false)?;
            let (wl, created) = store.ensure_watchlist(&list, category, threshold, priority)?;
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
            let out = faces::enrol(&store, &mut pipe, &wl, &req)?;
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
        WatchlistCmd::Ls { common, list, json } => {
            let store = store_of(&common, false)?;
            let lists = store.watchlists()?;
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
                out.push((w.clone(), store.persons(Some(w.id))?));
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
        WatchlistCmd::Rm { common, id } => {
            let store = store_of(&common, true)?;
            if store.remove_person(id)? {
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
    let mut pipe = pipeline(&a.common)?;
    let store = store_of(&a.common, false)?;
    let gallery = Gallery::load(&store, pipe.model_key())?;
    let found = faces::identify(&mut pipe, &gallery, &img, a.top_k)?;
    if a.json {
        let v = serde_json::json!({
            "photo": a.photo.display().to_string(),
            "model": pipe.model_key(),
            "gallery_templates": gallery.len(),
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
        json,
    } = cmd;
    if !data_root.join("faces/labels.csv").is_file() {
        bail!(
            "{} has no faces/labels.csv: pass the data root (e.g. $KUZET_DATA)",
            data_root.display()
        );
    }
    let mut pipe = pipeline(&common)?;
    let r = faces::eval::evaluate(Path::new(&data_root), &mut pipe)?;
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
