//! End-to-end plate reading (#4) on real stills: `kuzet analyze --plates`
//! on a folder of labelled plate photos (a snapshot source: every image is
//! a one-frame track) with a hotlist entry for one labelled plate. The
//! pipeline must store plate reads that agree with the labels, raise a
//! `hotlist_match` with evidence for the listed plate, and the reads must be
//! found again by wildcard search.
//!
//! The images are chosen from `plates/labels.csv` by a rule on the labels
//! alone (US plates at least 150 px wide, the first four by path), not by
//! what the recogniser happens to read; the hotlisted plate is the widest
//! labelled one of them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "support/stills.rs"]
mod support;

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");
/// Four stills take a few seconds; generous for a loaded 2-core machine.
const LIMIT: Duration = Duration::from_secs(180);

struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

fn kuzet(args: &[&str]) -> Out {
    let mut child = Command::new(KUZET)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kuzet runs");
    let t = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if t.elapsed() > LIMIT {
            let _ = child.kill();
            panic!("kuzet {args:?} ran past {LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let o = child.wait_with_output().unwrap();
    Out {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn stills_give_plate_reads_hotlist_match_and_wildcard_search() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("plates");
    let stills = support::copy_stills(&folder);
    let data: PathBuf = tmp.path().join("data");
    let (_, listed, _) = stills.iter().max_by_key(|r| r.2).unwrap().clone();

    let add = kuzet(&[
        "hotlist",
        "add",
        "--data-dir",
        s(&data),
        "--list",
        "stolen",
        "--plate",
        &listed,
        "--reason",
        "stolen in test",
        "--priority",
        "7",
    ]);
    assert_eq!(add.code, Some(0), "{}", add.stderr);
    // A bad import is refused with line numbers and adds nothing.
    let csv = tmp.path().join("bad.csv");
    std::fs::write(&csv, "plate,priority\nGOOD1,1\n--,2\nOK2,high\n").unwrap();
    let bad = kuzet(&[
        "hotlist",
        "import",
        s(&csv),
        "--list",
        "stolen",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(bad.code, Some(2), "{}", bad.stdout);
    assert!(
        bad.stderr.contains("line 3") && bad.stderr.contains("line 4"),
        "{}",
        bad.stderr
    );
    let ls = kuzet(&["hotlist", "ls", "--json", "--data-dir", s(&data)]);
    let entries: Value = serde_json::from_str(&ls.stdout).unwrap();
    assert_eq!(entries.as_array().unwrap().len(), 1, "{entries}");

    let r = kuzet(&[
        "analyze",
        s(&folder),
        "--plates",
        "--json",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    let lines: Vec<Value> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let summary = &lines.last().unwrap()["summary"];
    assert_eq!(summary["frames"], 4, "{summary}");
    let p = &summary["plates"];
    assert!(
        p["jobs"].as_u64().unwrap() >= 4,
        "one job per still at least: {p}"
    );

    // Reads against the labels: every stored read, then the labels found.
    let all = kuzet(&["search", "plate", "*", "--json", "--data-dir", s(&data)]);
    assert_eq!(all.code, Some(0), "{}", all.stderr);
    let reads: Vec<Value> = serde_json::from_str(&all.stdout).unwrap();
    assert_eq!(reads.len() as u64, p["plate_reads"].as_u64().unwrap());
    let plates: Vec<&str> = reads.iter().map(|r| r["plate"].as_str().unwrap()).collect();
    let found = stills
        .iter()
        .filter(|(_, t, _)| plates.contains(&t.as_str()))
        .count();
    assert!(
        found * 2 >= stills.len(),
        "only {found} of {} labelled plates read exactly: {plates:?}",
        stills.len()
    );
    for r in &reads {
        assert!(
            r["track_id"].is_null(),
            "a still is a track of its own: {r}"
        );
        assert!(r["votes"].as_u64().unwrap() >= 1);
        assert!(r["frame"].is_string() && r["plate_crop"].is_string(), "{r}");
    }

    // The hotlisted plate alerted, with its evidence on disk.
    let hits: Vec<&Value> = lines
        .iter()
        .filter(|e| e["kind"] == "hotlist_match")
        .collect();
    let hit = hits
        .iter()
        .find(|e| e["details"]["listed_plate"] == listed.as_str())
        .unwrap_or_else(|| panic!("no hotlist_match for {listed}: {hits:?}, reads {plates:?}"));
    let d = &hit["details"];
    assert_eq!(d["list"], "stolen");
    assert_eq!(d["priority"], 7);
    assert_eq!(d["reason"], "stolen in test");
    assert!(
        d["match_kind"] == "exact" || d["match_kind"] == "fuzzy",
        "{d}"
    );
    for k in ["plate_crop", "frame_evidence"] {
        let h = d[k].as_str().unwrap();
        let f = data.join("evidence").join(&h[..2]).join(format!("{h}.jpg"));
        assert!(f.is_file(), "{k} {} missing", f.display());
    }
    let read = d["read"].as_str().unwrap();
    assert!(plates.contains(&read));

    // Wildcards find the alerting read: `*` after a prefix, `?` inside.
    let prefix = format!("{}*", &read[..2]);
    let mut one = read.to_string();
    one.replace_range(1..2, "?");
    for pattern in [prefix.as_str(), one.as_str()] {
        let q = kuzet(&["search", "plate", pattern, "--json", "--data-dir", s(&data)]);
        assert_eq!(q.code, Some(0), "{}", q.stderr);
        let got: Vec<Value> = serde_json::from_str(&q.stdout).unwrap();
        assert!(got.iter().any(|r| r["plate"] == read), "{pattern}: {got:?}");
        assert!(got.len() <= reads.len());
    }
    let none = kuzet(&[
        "search",
        "plate",
        "ZZZZZZZZ",
        "--json",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(
        serde_json::from_str::<Vec<Value>>(&none.stdout)
            .unwrap()
            .len(),
        0
    );
    let typo = kuzet(&["search", "plate", "AB%", "--data-dir", s(&data)]);
    assert_eq!(typo.code, Some(2));
    assert!(
        typo.stderr.contains("not a letter, digit"),
        "{}",
        typo.stderr
    );
}

/// `[plates] formats` replaces the built-in format table for `kuzet plate`
/// (and every other reader): the read is fitted to the installation's
/// format; a broken table is refused with the setting, file and line named.
#[test]
fn an_installations_format_table_is_the_one_plates_are_fitted_to() {
    let photo = base::env::require_data("plates/br/AYO9034.jpg");
    let tmp = tempfile::tempdir().unwrap();
    let table = tmp.path().join("formats.toml");
    std::fs::write(
        &table,
        "[confusions]\nto_digit = { O = \"0\" }\nto_letter = { \"0\" = \"O\" }\n\n\
         [[format]]\nname = \"br-here\"\ncountry = \"br\"\npattern = \"LLL DDDD\"\n",
    )
    .unwrap();
    let cfg = tmp.path().join("kuzet.toml");
    std::fs::write(&cfg, format!("[plates]\nformats = {:?}\n", s(&table))).unwrap();
    let r = kuzet(&["plate", s(&photo), "--json", "--config", s(&cfg)]);
    assert_eq!(r.code, Some(0), "{}", r.stderr);
    let v: Value = serde_json::from_str(&r.stdout).unwrap();
    let first = &v["plates"][0];
    assert_eq!(first["text"], "AYO9034", "{v}");
    assert_eq!(first["format"], "br-here", "{v}");

    std::fs::write(&table, "[confusions]\n[[format]\nname = \"x\"\n").unwrap();
    let r = kuzet(&["plate", s(&photo), "--json", "--config", s(&cfg)]);
    assert_ne!(r.code, Some(0));
    assert!(
        r.stderr.contains("[plates] formats")
            && r.stderr.contains("formats.toml")
            && r.stderr.contains("line 2"),
        "{}",
        r.stderr
    );
}

/// A camera that lists `cn` reads Chinese plates with LPRNet through the
/// live pipeline: the stored read keeps its province character, and search
/// finds it by the province (models' test photo 皖A·H712X, MANIFEST.md).
#[test]
fn a_chinese_plate_is_stored_and_found_with_its_province() {
    let photo = base::env::require_models().join("testdata/plates/car_plate_3.jpg");
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("kuzet.toml");
    std::fs::write(
        &cfg,
        format!(
            "[[camera]]\nid = \"border\"\nurl = {:?}\n\n[camera.plates]\ncountries = [\"cn\"]\n",
            s(&photo)
        ),
    )
    .unwrap();
    let r = kuzet(&[
        "analyze",
        s(&photo),
        "--camera",
        "border",
        "--config",
        s(&cfg),
        "--json",
        "--data-dir",
        s(&data),
    ]);
    assert_eq!(r.code, Some(0), "{}\n{}", r.stdout, r.stderr);
    let found = kuzet(&["search", "plate", "皖A*", "--json", "--data-dir", s(&data)]);
    assert_eq!(found.code, Some(0), "{}", found.stderr);
    let reads: Vec<Value> = serde_json::from_str(&found.stdout).unwrap();
    assert_eq!(reads.len(), 1, "{}\n{}", found.stdout, r.stdout);
    assert_eq!(reads[0]["plate"], "皖AH712X", "{}", found.stdout);
    let other = kuzet(&["search", "plate", "苏A*", "--json", "--data-dir", s(&data)]);
    let none: Vec<Value> = serde_json::from_str(&other.stdout).unwrap();
    assert!(none.is_empty(), "{}", other.stdout);
}
