//! `kuzet retention run` as an operator runs it: the real binary on a data
//! directory with an old and a new event, a config with `[retention]`, a
//! dry run that changes nothing, then a pass that deletes the old event and
//! its evidence file and leaves an audit log that verifies.

use std::path::Path;
use std::process::{Command, Output};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");

fn kuzet(data: &Path, config: &Path, args: &[&str]) -> Output {
    Command::new(KUZET)
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        o.status,
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn retention_run_dry_then_real() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let config = tmp.path().join("kuzet.toml");
    std::fs::write(&config, "[retention]\nevents_days = 10\n").unwrap();
    let (old, new, file) = {
        let s = store::Store::open(&data).unwrap();
        let now = base::Clock::now(&base::SystemClock).millis();
        let h = s.save_evidence_bytes(b"old frame", 4, 4).unwrap();
        let mut e = base::Event::new("gate", "zone_enter", base::Timestamp(now - 11 * 86_400_000));
        e.evidence = Some(h.clone());
        let old = s.insert_events(vec![e]).unwrap()[0].id.unwrap();
        let new = s
            .insert_events(vec![base::Event::new(
                "gate",
                "zone_enter",
                base::Timestamp(now),
            )])
            .unwrap()[0]
            .id
            .unwrap();
        let file = s.evidence_path(&h).unwrap();
        (old, new, file)
    };

    let o = kuzet(&data, &config, &["retention", "run", "--dry-run"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("dry run"), "{}", text(&o));
    let events_line = out.lines().find(|l| l.starts_with("events")).unwrap();
    let cols: Vec<&str> = events_line.split_whitespace().collect();
    assert_eq!((cols[2], cols[4]), ("1", "1"), "{events_line}");
    assert!(file.exists(), "a dry run deletes nothing");

    let o = kuzet(&data, &config, &["retention", "run", "--json"]);
    assert!(o.status.success(), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(r["dry_run"], false);
    assert_eq!(r["classes"][0]["class"], "events");
    assert_eq!(r["classes"][0]["rows"], 1);
    assert_eq!(r["audit_seqs"].as_array().unwrap().len(), 1);
    assert!(!file.exists(), "the old event's evidence file is gone");
    let s = store::Store::open(&data).unwrap();
    assert!(s.event(old).unwrap().is_none());
    assert!(s.event(new).unwrap().is_some());
    drop(s);

    let o = kuzet(&data, &config, &["audit", "verify"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("audit log OK: 1 entries"),
        "{}",
        text(&o)
    );
}
