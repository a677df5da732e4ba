//! Vehicle commands: `plate IMAGE`, `eval plates <data-root>`,
//! `eval colours <data-root>`.

use super::{load_config, models_dir};
use anyhow::{bail, Context, Result};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use vehicles::{colour, evaluate, load_image, read_labels, Anpr, AnprConfig, AnprPool};

#[derive(clap::Args)]
pub struct PlateArgs {
    /// Image to read plates from (JPEG or PNG).
    pub image: PathBuf,
    /// Countries whose plate formats may match (kz, us, eu, br, cn; repeatable;
    /// cn reads with LPRNet, province character included).
    /// Default: all.
    #[arg(long = "country")]
    pub countries: Vec<String>,
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum EvalCmd {
    /// Licence plates: exact match and character accuracy on <data-root>/plates/labels.csv.
    Plates {
        /// Folder holding plates/labels.csv (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Only this region (us, eu, br).
        #[arg(long)]
        region: Option<String>,
        #[arg(long)]
        config: Option<PathBuf>,
        /// Photos read at once, each by its own reader with a share of the
        /// ORT threads (0 = one per core).
        #[arg(long, default_value_t = 0)]
        workers: usize,
        /// When the plate model runs on the whole photo: `fallback` (the
        /// default: only where the vehicle crops found no plate) or `always`.
        #[arg(long, default_value = "fallback")]
        image_pass: vehicles::ImagePass,
        /// Run the plate model on its shipped 640×640 canvas instead of the
        /// region padded to a multiple of 32 (for comparing the two).
        #[arg(long)]
        square_plate_canvas: bool,
        /// Print JSON (totals and every image) instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Vehicle colour: accuracy and confusion on labelled vehicle crops.
    Colours {
        /// Folder the label paths are relative to (e.g. $KUZET_DATA).
        data_root: PathBuf,
        /// Labels file (`path,x,y,w,h,colour`). Default: the crops labelled
        /// from the development media, built into the binary.
        #[arg(long)]
        labels: Option<PathBuf>,
        /// Print JSON (totals, confusion and every crop) instead of a table.
        #[arg(long)]
        json: bool,
    },
}

fn anpr(config: Option<&std::path::Path>, countries: Vec<String>) -> Result<Anpr> {
    let cfg = load_config(config)?;
    let mut ac = AnprConfig {
        countries,
        ..AnprConfig::default()
    };
    ac.session.intra_threads = cfg.models.threads;
    Ok(Anpr::with_formats(
        &vision::ModelManifest::embedded(),
        &models_dir(&cfg),
        ac,
        pipeline::plate_formats(&cfg)?,
    )?)
}

/// `workers` readers (0 = one per core) sharing `[models] threads`, with the
/// whole-photo plate pass as given.
fn anpr_pool(
    config: Option<&std::path::Path>,
    workers: usize,
    image_pass: vehicles::ImagePass,
    fit_plate_canvas: bool,
) -> Result<AnprPool> {
    let cfg = load_config(config)?;
    let mut ac = AnprConfig {
        image_pass,
        fit_plate_canvas,
        ..AnprConfig::default()
    };
    ac.session.intra_threads = cfg.models.threads;
    ac.session.spinning = cfg.models.spinning;
    let formats = pipeline::plate_formats(&cfg)?;
    AnprPool::with_formats(
        &vision::ModelManifest::embedded(),
        &models_dir(&cfg),
        ac,
        workers,
        formats,
    )
    .context("cannot load the plate models (check KUZET_MODELS, or run `kuzet models check`)")
}

/// `kuzet plate IMAGE`.
pub fn run_plate(a: PlateArgs) -> Result<ExitCode> {
    let img = load_image(&a.image)?;
    let mut anpr = anpr(a.config.as_deref(), a.countries)?;
    let reads = anpr.recognize(&img)?;
    if a.json {
        let plates: Vec<_> = reads
            .iter()
            .map(|r| {
                json!({
                    "text": r.text,
                    "raw_text": r.raw_text,
                    "format": r.format,
                    "confidence": (f64::from(r.confidence) * 1000.0).round() / 1000.0,
                    "box": [r.bbox.x1, r.bbox.y1, r.bbox.x2, r.bbox.y2],
                    "corners": r.corners.iter().map(|p| [p.x, p.y]).collect::<Vec<_>>(),
                    "source": r.source,
                })
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "image": a.image.display().to_string(),
                "plates": plates,
            }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if reads.is_empty() {
        println!("no plate found in {}", a.image.display());
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<10} {:<12} {:<12} {:>5}  box (x1,y1,x2,y2)",
        "text", "format", "raw", "conf"
    );
    for r in &reads {
        println!(
            "{:<10} {:<12} {:<12} {:>5.2}  {:.0},{:.0},{:.0},{:.0}",
            r.text,
            r.format.as_deref().unwrap_or("-"),
            r.raw_text,
            r.confidence,
            r.bbox.x1,
            r.bbox.y1,
            r.bbox.x2,
            r.bbox.y2
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// `kuzet eval plates|colours <data-root>`.
pub fn run_eval(cmd: EvalCmd) -> Result<ExitCode> {
    match cmd {
        EvalCmd::Plates {
            data_root,
            region,
            config,
            workers,
            image_pass,
            square_plate_canvas,
            json,
        } => run_eval_plates(
            data_root,
            region,
            config,
            workers,
            image_pass,
            !square_plate_canvas,
            json,
        ),
        EvalCmd::Colours {
            data_root,
            labels,
            json,
        } => run_eval_colours(data_root, labels, json),
    }
}

/// `kuzet eval colours <data-root>`.
fn run_eval_colours(data_root: PathBuf, labels: Option<PathBuf>, json: bool) -> Result<ExitCode> {
    let rows = match &labels {
        Some(p) => colour::read_colour_labels(p)?,
        None => colour::builtin_colour_labels()?,
    };
    if rows.is_empty() {
        bail!("no labelled crops");
    }
    let rep = colour::evaluate(&data_root, &rows, &colour::ColourConfig::default())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "colour evaluation: {} crops ({})",
        rep.crops,
        labels
            .as_ref()
            .map_or("built-in labels".to_string(), |p| p.display().to_string())
    );
    println!(
        "accuracy {:.1} % ({}/{}), unknown {}, accuracy when named {:.1} %, silver+grey merged {:.1} %",
        rep.accuracy * 100.0,
        rep.correct,
        rep.crops,
        rep.unknown,
        rep.accuracy_when_named * 100.0,
        rep.accuracy_silver_grey_merged * 100.0
    );
    let cols: Vec<colour::VehicleColour> = colour::VehicleColour::ALL
        .into_iter()
        .filter(|c| {
            rep.confusion.contains_key(c) || rep.confusion.values().any(|m| m.contains_key(c))
        })
        .collect();
    println!("\nconfusion (rows: label, columns: predicted)");
    print!("| label |");
    for c in &cols {
        print!(" {c} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(cols.len()));
    for (truth, row) in &rep.confusion {
        print!("| {truth} |");
        for c in &cols {
            match row.get(c) {
                Some(n) => print!(" {n} |"),
                None => print!(" |"),
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// `kuzet eval plates <data-root>`.
fn run_eval_plates(
    data_root: PathBuf,
    region: Option<String>,
    config: Option<PathBuf>,
    workers: usize,
    image_pass: vehicles::ImagePass,
    fit_plate_canvas: bool,
    json: bool,
) -> Result<ExitCode> {
    let mut rows = read_labels(&data_root)?;
    if let Some(r) = &region {
        let r = r.to_ascii_lowercase();
        rows.retain(|row| row.region == r);
        if rows.is_empty() {
            bail!(
                "no images of region `{r}` in {}/plates/labels.csv",
                data_root.display()
            );
        }
    }
    let pool = anpr_pool(config.as_deref(), workers, image_pass, fit_plate_canvas)?;
    let total = rows.len();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rep = evaluate(&pool, &data_root, &rows, |_| {
        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if !json && n.is_multiple_of(25) {
            eprintln!("{n}/{total}");
        }
    })?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rep)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "plate evaluation: {} ({} images)",
        data_root.display(),
        total
    );
    println!("| region | images | exact | exact % | char accuracy | no plate |");
    println!("|---|---|---|---|---|---|");
    for s in rep.regions.iter().chain(std::iter::once(&rep.overall)) {
        println!(
            "| {} | {} | {} | {:.1} | {:.3} | {} |",
            s.region,
            s.images,
            s.exact,
            s.exact_rate * 100.0,
            s.char_accuracy,
            s.no_plate
        );
    }
    println!(
        "{:.1} s, {:.2} images/s end to end (vehicle detection, plate localisation, OCR)",
        rep.seconds, rep.plates_per_s
    );
    Ok(ExitCode::SUCCESS)
}

/// Live plate reading for `EngineOptions`, when any camera has
/// `[camera.plates] enabled`.
pub fn live_plates(cfg: &config::Config) -> Result<Option<pipeline::LivePlates>> {
    if !cfg
        .cameras
        .iter()
        .any(|c| c.enabled && c.plates.as_ref().is_some_and(|p| p.enabled))
    {
        return Ok(None);
    }
    Ok(Some(pipeline::LivePlates::new(
        models_dir(cfg),
        pipeline::plate_formats(cfg)?,
    )))
}

#[derive(Subcommand)]
pub enum HotlistCmd {
    /// Add one wanted plate to a hotlist (created if missing).
    Add {
        #[command(flatten)]
        common: super::Common,
        #[command(flatten)]
        db: super::CentralDb,
        /// Hotlist name, e.g. `stolen`.
        #[arg(long)]
        list: String,
        /// The plate as written (spaces and dashes are ignored when matching).
        #[arg(long)]
        plate: String,
        #[arg(long, default_value = "")]
        reason: String,
        /// Higher is more urgent.
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// When the entry stops matching: RFC 3339 or epoch milliseconds.
        #[arg(long)]
        expires: Option<String>,
        #[arg(long, default_value = "")]
        notes: String,
    },
    /// Import plates from a CSV with a header naming `plate` and optionally
    /// `reason`, `priority`, `expires`, `notes`. All rows or none: bad rows
    /// are reported with their line numbers.
    Import {
        #[command(flatten)]
        common: super::Common,
        #[command(flatten)]
        db: super::CentralDb,
        file: PathBuf,
        #[arg(long)]
        list: String,
    },
    /// List hotlist entries.
    Ls {
        #[command(flatten)]
        common: super::Common,
        #[command(flatten)]
        db: super::CentralDb,
        /// Only this list.
        #[arg(long)]
        list: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Remove one entry by id (from `hotlist ls`).
    Rm {
        #[command(flatten)]
        common: super::Common,
        #[command(flatten)]
        db: super::CentralDb,
        id: i64,
    },
}

/// `search plate`.
#[derive(Subcommand)]
pub enum SearchCmd {
    /// Where and when was a plate read? PATTERN: `?` is any one character,
    /// `*` any run (e.g. `AB?12*`).
    Plate {
        #[command(flatten)]
        common: super::Common,
        pattern: String,
        /// Cameras or camera groups, comma-separated (default: all).
        #[arg(long)]
        camera: Option<String>,
        /// From (inclusive): RFC 3339 or epoch milliseconds.
        #[arg(long)]
        since: Option<String>,
        /// Until (exclusive): RFC 3339 or epoch milliseconds.
        #[arg(long)]
        until: Option<String>,
        /// At most this many reads (newest first).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, default_value_t = 0)]
        offset: usize,
        #[arg(long)]
        json: bool,
    },
}

fn parse_time(flag: &str, v: Option<&str>) -> Result<Option<base::Timestamp>> {
    v.map(|s| {
        base::Timestamp::parse(s).ok_or_else(|| {
            anyhow::anyhow!(
                "{flag} {s:?}: expected RFC 3339 (2026-11-22T10:00:00Z) or epoch milliseconds"
            )
        })
    })
    .transpose()
}

/// Parses a hotlist CSV (header with at least `plate`). Every bad row is
/// reported, with its line number, before anything is stored.
pub fn parse_hotlist_csv(text: &str) -> Result<Vec<store::NewHotlistEntry>> {
    // Spreadsheet exports (byte-order mark, CRLF, quoted fields) read as
    // plain files do.
    let table = base::labels_csv::Table::parse(text);
    if table.header.is_empty() {
        bail!("the file is empty: expected a header line such as `plate,reason,priority,expires,notes`");
    }
    const KNOWN: [&str; 5] = ["plate", "reason", "priority", "expires", "notes"];
    let col = |name: &str| table.column(name);
    let Some(plate_col) = col("plate") else {
        bail!(
            "line 1: the header {:?} has no `plate` column (expected e.g. `plate,reason,priority,expires,notes`)",
            table.header.join(",")
        );
    };
    for c in &table.header {
        if !KNOWN.iter().any(|k| k.eq_ignore_ascii_case(c)) {
            bail!("line 1: unknown column {c:?} (known: {})", KNOWN.join(", "));
        }
    }
    let columns = table.header.len();
    let mut out = Vec::new();
    let mut errors = Vec::new();
    for row in &table.rows {
        let n = row.line;
        let f = &row.fields;
        if f.len() != columns {
            errors.push(format!(
                "line {n}: {} fields, the header has {columns}",
                f.len()
            ));
            continue;
        }
        let get = |name: &str| {
            col(name)
                .map(|i| f[i].trim().to_string())
                .unwrap_or_default()
        };
        let plate = f[plate_col].trim().to_string();
        if store::plates::normalize_plate(&plate).is_empty() {
            errors.push(format!(
                "line {n}: plate {plate:?} has no letters or digits"
            ));
            continue;
        }
        if store::plates::normalize_plate(&plate).len() > store::plates::MAX_PLATE_LEN {
            errors.push(format!("line {n}: plate {plate:?} is too long"));
            continue;
        }
        let priority = match get("priority") {
            p if p.is_empty() => 0,
            p => match p.parse::<i32>() {
                Ok(v) => v,
                Err(_) => {
                    errors.push(format!("line {n}: priority {p:?} is not a whole number"));
                    continue;
                }
            },
        };
        let expires = match get("expires") {
            e if e.is_empty() => None,
            e => match base::Timestamp::parse(&e) {
                Some(t) => Some(t),
                None => {
                    errors.push(format!(
                        "line {n}: expires {e:?} is not RFC 3339 (2027-01-31T00:00:00Z) or epoch milliseconds"
                    ));
                    continue;
                }
            },
        };
        out.push(store::NewHotlistEntry {
            plate,
            reason: get("reason"),
            priority,
            expires,
            notes: get("notes"),
        });
    }
    if !errors.is_empty() {
        bail!(
            "{} bad row(s), nothing imported:\n  {}",
            errors.len(),
            errors.join("\n  ")
        );
    }
    if out.is_empty() {
        bail!("no rows after the header: nothing to import");
    }
    Ok(out)
}

/// The data directory's store and, with `--database`, the central database
/// that keeps the hotlists of the distributed mode.
fn hotlists_of(
    common: &super::Common,
    db: &super::CentralDb,
) -> Result<(store::Store, Option<Arc<dyn store::StoreBackend>>)> {
    let (cfg, dir) = common.load()?;
    let store = super::open_store(&dir)?;
    let central = db.open(&cfg, &store)?;
    Ok((store, central))
}

pub fn run_hotlist(cmd: HotlistCmd) -> Result<ExitCode> {
    match cmd {
        HotlistCmd::Add {
            common,
            db,
            list,
            plate,
            reason,
            priority,
            expires,
            notes,
        } => {
            let (store, central) = hotlists_of(&common, &db)?;
            let entry = store::NewHotlistEntry {
                plate: plate.clone(),
                reason,
                priority,
                expires: parse_time("--expires", expires.as_deref())?,
                notes,
            };
            let ids = central
                .as_deref()
                .unwrap_or(&store)
                .add_hotlist_entries(&list, vec![entry])?;
            println!("added {plate:?} to hotlist {list:?} as entry {}", ids[0]);
            store.close();
        }
        HotlistCmd::Import {
            common,
            db,
            file,
            list,
        } => {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", file.display()))?;
            let entries =
                parse_hotlist_csv(&text).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let (store, central) = hotlists_of(&common, &db)?;
            let n = entries.len();
            central
                .as_deref()
                .unwrap_or(&store)
                .add_hotlist_entries(&list, entries)?;
            println!("imported {n} plate(s) into hotlist {list:?}");
            store.close();
        }
        HotlistCmd::Ls {
            common,
            db,
            list,
            json,
        } => {
            let (store, central) = hotlists_of(&common, &db)?;
            let entries = central
                .as_deref()
                .unwrap_or(&store)
                .hotlist_entries(list.as_deref())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&entries)?);
            } else if entries.is_empty() {
                println!("no hotlist entries");
            } else {
                println!(
                    "{:>6}  {:<12} {:<12} {:>4}  {:<20} reason",
                    "id", "list", "plate", "prio", "expires"
                );
                for e in &entries {
                    println!(
                        "{:>6}  {:<12} {:<12} {:>4}  {:<20} {}",
                        e.id,
                        e.list,
                        e.plate,
                        e.priority,
                        e.expires
                            .map(|t| t.to_rfc3339())
                            .unwrap_or_else(|| "never".into()),
                        e.reason
                    );
                }
            }
            store.close();
        }
        HotlistCmd::Rm { common, db, id } => {
            let (store, central) = hotlists_of(&common, &db)?;
            if !central
                .as_deref()
                .unwrap_or(&store)
                .remove_hotlist_entry(id)?
            {
                bail!("no hotlist entry {id}: see `kuzet hotlist ls` for the ids");
            }
            println!("removed hotlist entry {id}");
            store.close();
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn run_search(cmd: SearchCmd) -> Result<ExitCode> {
    let SearchCmd::Plate {
        common,
        pattern,
        camera,
        since,
        until,
        limit,
        offset,
        json,
    } = cmd;
    // Checked before the store opens so a typo costs nothing.
    store::plate_like(&pattern).map_err(|e| anyhow::anyhow!("{e}"))?;
    let (cfg, dir) = common.load()?;
    let store = super::open_store(&dir)?;
    let cameras = match camera.as_deref() {
        Some(spec) => super::faces::resolve_camera_ids(&cfg, &store, spec)?,
        None => Vec::new(),
    };
    let q = store::PlateReadQuery {
        pattern: Some(pattern.clone()),
        cameras,
        since: parse_time("--since", since.as_deref())?,
        until: parse_time("--until", until.as_deref())?,
        limit,
        offset,
    };
    let reads = store.plate_reads(&q)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&reads)?);
    } else {
        println!("{pattern}: {} read(s)", reads.len());
        for r in &reads {
            let x = &r.read;
            println!(
                "{:>6}  {}  {:<10} {:<10} {:.2}  {}/{} votes  {} {}  track {}",
                r.id,
                x.first_seen,
                x.camera,
                x.plate,
                x.confidence,
                x.agreeing,
                x.votes,
                x.colour.as_deref().unwrap_or("-"),
                x.vehicle_type.as_deref().unwrap_or("-"),
                x.track_id
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "-".into()),
            );
        }
    }
    store.close();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hotlist_csv_parses_and_reports_bad_lines() {
        let ok = parse_hotlist_csv(
            "plate,reason,priority,expires\nABC 123,\"stolen, red\",5,\n\nXYZ9,,,2027-01-31T00:00:00Z\n",
        )
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].reason, "stolen, red");
        assert_eq!(ok[0].priority, 5);
        assert!(ok[1].expires.is_some());
        let e = parse_hotlist_csv("plate,priority\nAB1,x\n--,1\nOK1,2\nA,1,2\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("3 bad row(s)"), "{e}");
        assert!(e.contains("line 2: priority"), "{e}");
        assert!(e.contains("line 3: plate"), "{e}");
        assert!(e.contains("line 5: 3 fields"), "{e}");
        assert!(parse_hotlist_csv("reason\nx\n")
            .unwrap_err()
            .to_string()
            .contains("no `plate` column"));
        assert!(parse_hotlist_csv("").is_err());
        assert!(parse_hotlist_csv("plate,colour\nA1,red\n").is_err());
        // a spreadsheet's export: byte-order mark, CRLF, capitalised header
        let excel = parse_hotlist_csv("\u{feff}Plate,Reason\r\nABC 123,stolen\r\n").unwrap();
        assert_eq!(
            (excel[0].plate.as_str(), excel[0].reason.as_str()),
            ("ABC 123", "stolen")
        );
    }
}
