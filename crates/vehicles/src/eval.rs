//! `eval plates`: read every labelled image, compare with the label, and
//! report exact-match rate and character accuracy per region and overall.

use crate::anpr::Anpr;
use crate::error::VehiclesError;
use crate::formats::canonical;
use crate::pool::AnprPool;
use image::RgbImage;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// One row of `plates/labels.csv` (`path,region,plate_text,x,y,w,h`; the box
/// is not used: recognition must find the plate itself).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LabelRow {
    /// Relative to the data root.
    pub path: String,
    pub region: String,
    pub plate_text: String,
}

/// Reads `<data_root>/plates/labels.csv`.
pub fn read_labels(data_root: &Path) -> Result<Vec<LabelRow>, VehiclesError> {
    let path = data_root.join("plates/labels.csv");
    let text = std::fs::read_to_string(&path).map_err(|e| VehiclesError::Labels {
        path: path.clone(),
        reason: format!(
            "{e} (is {} the data root, holding plates/?)",
            data_root.display()
        ),
    })?;
    let bad = |line: usize, reason: &str| VehiclesError::Labels {
        path: path.clone(),
        reason: format!("line {line}: {reason}"),
    };
    let table = base::labels_csv::Table::parse(&text);
    if table.header.is_empty() {
        return Err(bad(1, "empty file"));
    }
    let col = |name: &str| {
        table
            .column(name)
            .ok_or_else(|| bad(1, &format!("no `{name}` column")))
    };
    let (pc, rc, tc) = (col("path")?, col("region")?, col("plate_text")?);
    let mut rows = Vec::new();
    for row in &table.rows {
        let get = |c: usize| row.get(c).ok_or_else(|| bad(row.line, "too few fields"));
        rows.push(LabelRow {
            path: get(pc)?.to_string(),
            region: get(rc)?.to_ascii_lowercase(),
            plate_text: get(tc)?.to_string(),
        });
    }
    Ok(rows)
}

/// Loads an image file as RGB8.
pub fn load_image(path: &Path) -> Result<RgbImage, VehiclesError> {
    image::open(path)
        .map(|i| i.to_rgb8())
        .map_err(|e| VehiclesError::Image {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })
}

/// Levenshtein distance over characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// 1 − edit distance / the longer length (1 for two empty strings).
pub fn char_accuracy(truth: &str, pred: &str) -> f32 {
    let n = truth.chars().count().max(pred.chars().count());
    if n == 0 {
        return 1.0;
    }
    1.0 - edit_distance(truth, pred) as f32 / n as f32
}

/// Countries whose formats apply to a data-set region (`eu` covers the EU
/// formats and the generic European one).
pub fn region_countries(region: &str) -> Vec<String> {
    match region {
        "us" | "eu" | "br" | "kz" | "cn" => vec![region.to_string()],
        _ => Vec::new(),
    }
}

/// One evaluated image.
#[derive(Clone, Debug, Serialize)]
pub struct EvalItem {
    pub path: String,
    pub region: String,
    pub truth: String,
    /// Best plate read, `None` when no plate was found.
    pub predicted: Option<String>,
    pub raw: Option<String>,
    pub format: Option<String>,
    pub confidence: f32,
    pub exact: bool,
    pub char_accuracy: f32,
    pub seconds: f64,
}

/// Totals for one region (or all).
#[derive(Clone, Debug, Default, Serialize)]
pub struct RegionStats {
    pub region: String,
    pub images: usize,
    pub exact: usize,
    pub exact_rate: f64,
    pub char_accuracy: f64,
    /// Images where no plate was found at all.
    pub no_plate: usize,
}

/// The whole evaluation.
#[derive(Clone, Debug, Serialize)]
pub struct EvalReport {
    pub regions: Vec<RegionStats>,
    pub overall: RegionStats,
    pub seconds: f64,
    /// Images (one plate each) per second of wall time, end to end.
    pub plates_per_s: f64,
    pub items: Vec<EvalItem>,
}

fn stats(region: &str, items: &[&EvalItem]) -> RegionStats {
    let n = items.len();
    let exact = items.iter().filter(|i| i.exact).count();
    RegionStats {
        region: region.to_string(),
        images: n,
        exact,
        exact_rate: if n == 0 { 0.0 } else { exact as f64 / n as f64 },
        char_accuracy: if n == 0 {
            0.0
        } else {
            items
                .iter()
                .map(|i| f64::from(i.char_accuracy))
                .sum::<f64>()
                / n as f64
        },
        no_plate: items.iter().filter(|i| i.predicted.is_none()).count(),
    }
}

/// Reads one labelled photo and scores the best read against its label.
fn evaluate_one(
    anpr: &mut Anpr,
    data_root: &Path,
    row: &LabelRow,
) -> Result<EvalItem, VehiclesError> {
    let path: PathBuf = data_root.join(&row.path);
    let img = load_image(&path)?;
    anpr.set_countries(region_countries(&row.region));
    let t = Instant::now();
    let reads = anpr.recognize(&img)?;
    let seconds = t.elapsed().as_secs_f64();
    let truth = canonical(&row.plate_text);
    let best = reads.first();
    let predicted = best.map(|r| canonical(&r.text));
    Ok(EvalItem {
        path: row.path.clone(),
        region: row.region.clone(),
        exact: predicted.as_deref() == Some(truth.as_str()),
        char_accuracy: predicted
            .as_deref()
            .map_or(0.0, |p| char_accuracy(&truth, p)),
        truth,
        predicted,
        raw: best.map(|r| r.raw_text.clone()),
        format: best.and_then(|r| r.format.clone()),
        confidence: best.map_or(0.0, |r| r.confidence),
        seconds,
    })
}

/// Evaluates `rows` (images under `data_root`), several photos at once when
/// the pool has several readers. The region of each row selects the plate
/// formats, as a camera's configured country would. `progress` sees each
/// item as it finishes (from the readers' threads, in completion order);
/// the report lists them in `rows` order.
pub fn evaluate(
    pool: &AnprPool,
    data_root: &Path,
    rows: &[LabelRow],
    progress: impl Fn(&EvalItem) + Sync,
) -> Result<EvalReport, VehiclesError> {
    let t0 = Instant::now();
    let items = pool
        .map(rows, |anpr, row| {
            let item = evaluate_one(anpr, data_root, row)?;
            progress(&item);
            Ok(item)
        })
        .into_iter()
        .collect::<Result<Vec<_>, VehiclesError>>()?;
    let seconds = t0.elapsed().as_secs_f64();
    let mut names: Vec<String> = Vec::new();
    for i in &items {
        if !names.contains(&i.region) {
            names.push(i.region.clone());
        }
    }
    let regions = names
        .iter()
        .map(|r| {
            stats(
                r,
                &items.iter().filter(|i| &i.region == r).collect::<Vec<_>>(),
            )
        })
        .collect();
    let overall = stats("overall", &items.iter().collect::<Vec<_>>());
    Ok(EvalReport {
        regions,
        overall,
        seconds,
        plates_per_s: items.len() as f64 / seconds.max(1e-9),
        items,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_and_accuracy() {
        assert_eq!(edit_distance("", ""), 0);
        assert_eq!(edit_distance("ABC", ""), 3);
        assert_eq!(edit_distance("KITTEN", "SITTING"), 3);
        assert_eq!(char_accuracy("ABC123", "ABC123"), 1.0);
        assert!((char_accuracy("ABC123", "A8C123") - 5.0 / 6.0).abs() < 1e-6);
        assert_eq!(char_accuracy("ABC", ""), 0.0);
    }

    #[test]
    fn labels_parse_and_errors_name_the_file() {
        let dir =
            std::env::temp_dir().join(format!("kuzet-vehicles-labels-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("plates")).unwrap();
        std::fs::write(
            dir.join("plates/labels.csv"),
            "path,region,plate_text,x,y,w,h\nplates/us/a.jpg,US,ab-12,1,2,3,4\n\n",
        )
        .unwrap();
        let rows = read_labels(&dir).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].region, "us");
        assert_eq!(canonical(&rows[0].plate_text), "AB12");
        // a spreadsheet export: byte-order mark, CRLF, quoted fields
        std::fs::write(
            dir.join("plates/labels.csv"),
            "\u{feff}path,region,plate_text\r\n\"plates/us/a, b.jpg\",us,AB12\r\n",
        )
        .unwrap();
        let rows = read_labels(&dir).unwrap();
        assert_eq!(rows[0].path, "plates/us/a, b.jpg");
        assert_eq!(rows[0].plate_text, "AB12");
        std::fs::write(dir.join("plates/labels.csv"), "a,b\n1,2\n").unwrap();
        let e = read_labels(&dir).unwrap_err().to_string();
        assert!(e.contains("no `path` column"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
        let e = read_labels(Path::new("/nonexistent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("labels.csv"), "{e}");
    }
}
