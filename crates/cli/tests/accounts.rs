//! `kuzet user`, `kuzet token` and `kuzet audit` as a person runs them: the
//! real binary on a temporary data directory, and an audit log tampered with
//! directly in SQLite that `kuzet audit verify` must catch.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

const KUZET: &str = env!("CARGO_BIN_EXE_kuzet");

fn kuzet(data: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(KUZET);
    c.args(args)
        .arg("--data-dir")
        .arg(data)
        .env("USER", "tester")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
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
fn users_tokens_and_a_tampered_audit_log() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let o = kuzet(
        &data,
        &[
            "user",
            "add",
            "ann",
            "--role",
            "investigator",
            "--groups",
            "north,stadium",
            "--password-stdin",
        ],
        Some("a-long-password\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    // Bad input is explained, never a panic.
    let o = kuzet(
        &data,
        &["user", "add", "bob", "--role", "root", "--password-stdin"],
        Some("a-long-password\n"),
    );
    assert!(
        !o.status.success() && text(&o).contains("viewer"),
        "{}",
        text(&o)
    );
    let o = kuzet(
        &data,
        &["user", "add", "bob", "--role", "viewer", "--password-stdin"],
        Some("short\n"),
    );
    assert!(
        !o.status.success() && text(&o).contains("at least 8"),
        "{}",
        text(&o)
    );
    let o = kuzet(&data, &["user", "add", "bob", "--role", "viewer"], None);
    assert!(
        !o.status.success() && text(&o).contains("--password-stdin"),
        "{}",
        text(&o)
    );

    let o = kuzet(&data, &["user", "ls"], None);
    let ls = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(ls.contains("ann\tinvestigator\tnorth,stadium"), "{ls}");

    let o = kuzet(
        &data,
        &["token", "create", "scraper", "--user", "ann"],
        None,
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("kzt_") && token.len() > 40, "{token}");
    let o = kuzet(&data, &["token", "revoke", "scraper"], None);
    assert!(o.status.success(), "{}", text(&o));
    let o = kuzet(&data, &["token", "ls"], None);
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("revoked"),
        "{}",
        text(&o)
    );

    // Every change above is in the chain, which verifies.
    let o = kuzet(&data, &["audit", "verify"], None);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("audit log OK: 4 entries"),
        "{}",
        text(&o)
    );
    let o = kuzet(&data, &["audit", "export-anchor"], None);
    assert!(o.status.success(), "{}", text(&o));
    let anchor = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(
        anchor.starts_with("4:") && anchor.len() == 2 + 64,
        "{anchor}"
    );
    let o = kuzet(&data, &["audit", "verify", "--anchor", &anchor], None);
    assert!(o.status.success(), "{}", text(&o));

    // Someone with the file edits entry 2 (the refused `bob` add) to look successful.
    let c = rusqlite::Connection::open(data.join("kuzet.db")).unwrap();
    c.execute_batch(
        "DROP TRIGGER audit_log_no_update;
         UPDATE audit_log SET outcome = 'ok' WHERE seq = 2;",
    )
    .unwrap();
    drop(c);
    let o = kuzet(&data, &["audit", "verify"], None);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("BROKEN at entry 2"), "{}", text(&o));
}

/// Camera owners (issue #7): a user scoped to an owner the config defines,
/// a mistyped owner refused, and a camera whose data-sharing agreement has
/// ended is not analysed, with the reason.
#[test]
fn owner_scoped_users_and_an_ended_agreement() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let cfg = tmp.path().join("kuzet.toml");
    let video = std::path::Path::new(&std::env::var("KUZET_DATA").unwrap_or_else(|_| {
        panic!("set KUZET_DATA to the shared data folder (the Makefile exports it)")
    }))
    .join("videos/vtest_pedestrians.mp4");
    std::fs::write(
        &cfg,
        format!(
            r#"
[[owner]]
id = "mall"
kind = "private_business"
[owner.agreement]
reference = "DSA-2019/3"
analytics = ["zones"]
valid_until = "2020-01-01"

[[camera]]
id = "mall-1"
url = "{}"
owner = "mall"
"#,
            video.display()
        ),
    )
    .unwrap();
    let cfg_arg = cfg.to_str().unwrap();
    let add = |name: &str, owners: &str| {
        kuzet(
            &data,
            &[
                "user",
                "add",
                name,
                "--role",
                "operator",
                "--owners",
                owners,
                "--password-stdin",
                "--config",
                cfg_arg,
            ],
            Some("a-long-password\n"),
        )
    };
    let o = add("guard", "mall");
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("owners mall"), "{}", text(&o));
    let o = add("other", "bank");
    assert!(
        !o.status.success() && text(&o).contains("owner \"bank\" is not defined"),
        "{}",
        text(&o)
    );
    let o = kuzet(&data, &["user", "ls"], None);
    let ls = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(ls.contains("guard\toperator\t*\tmall\t"), "{ls}");

    let o = kuzet(&data, &["analyze", "--config", cfg_arg], None);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("no camera may run now")
            && text(&o).contains("DSA-2019/3 ended at 2020-01-01"),
        "{}",
        text(&o)
    );
}
