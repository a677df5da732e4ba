//! The audit chain: appends, paging, and tampering done directly on the
//! SQLite file (as someone holding the database could), each of which
//! `verify_audit` must catch and pin to the right entry.

use base::{SimulatedClock, Timestamp};
use kuzet_store::audit::{audit_hash, GENESIS_HASH};
use kuzet_store::{NewAuditEntry, Store, DB_FILE};
use rusqlite::{params, Connection};
use std::path::Path;
use std::sync::Arc;

fn entry(i: usize) -> NewAuditEntry {
    NewAuditEntry {
        actor: Some(format!("user{}", i % 3)),
        remote: Some("127.0.0.1".into()),
        action: "faces.search".into(),
        target: Some(format!("/api/faces/search#{i}")),
        reason: Some(format!("case {i}")),
        outcome: if i.is_multiple_of(2) { "ok" } else { "denied" }.into(),
        details: serde_json::json!({ "i": i }),
    }
}

/// A store with `n` entries, closed, so the test can open the file itself.
fn chain(dir: &Path, n: usize) {
    let clock = Arc::new(SimulatedClock::new(Timestamp::from_millis(
        1_700_000_000_000,
    )));
    let store = Store::open_with_clock(dir, clock.clone()).unwrap();
    for i in 1..=n {
        let e = store.append_audit(entry(i)).unwrap();
        assert_eq!(e.seq, i as i64);
        clock.advance(std::time::Duration::from_millis(10));
    }
    let v = store.verify_audit().unwrap();
    assert_eq!(v.entries, n as u64);
    assert_eq!(v.first_bad, None, "{v:?}");
    assert_eq!(v.head.unwrap(), store.audit_head().unwrap().unwrap());
    store.close();
}

/// Opens the database like an intruder would: the append-only triggers are
/// only a guard against mistakes, so drop them first.
fn tamper(dir: &Path) -> Connection {
    let c = Connection::open(dir.join(DB_FILE)).unwrap();
    c.execute_batch("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;")
        .unwrap();
    c
}

fn first_bad(dir: &Path) -> (i64, String) {
    let store = Store::open(dir).unwrap();
    let b = store
        .verify_audit()
        .unwrap()
        .first_bad
        .expect("tampering not detected");
    (b.seq, b.problem)
}

#[test]
fn chain_links_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 7);
    let store = Store::open(dir.path()).unwrap();
    let page = store.audit_entries(None, 3).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [7, 6, 5]);
    let next = store.audit_entries(Some(5), 3).unwrap();
    assert_eq!(next.iter().map(|e| e.seq).collect::<Vec<_>>(), [4, 3, 2]);
    let all = store.audit_entries(None, 100).unwrap();
    assert_eq!(all.last().unwrap().prev_hash, GENESIS_HASH);
    for w in all.windows(2) {
        assert_eq!(w[0].prev_hash, w[1].hash);
    }
    assert_eq!(all[0].details, serde_json::json!({ "i": 7 }));
    assert_eq!(all[0].reason.as_deref(), Some("case 7"));
}

#[test]
fn the_application_cannot_edit_or_delete() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 2);
    let c = Connection::open(dir.path().join(DB_FILE)).unwrap();
    let e = c.execute("UPDATE audit_log SET outcome = 'ok' WHERE seq = 2", []);
    assert!(e.unwrap_err().to_string().contains("append-only"));
    let e = c.execute("DELETE FROM audit_log WHERE seq = 1", []);
    assert!(e.unwrap_err().to_string().contains("append-only"));
}

#[test]
fn edit_is_caught_at_the_edited_entry() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 6);
    tamper(dir.path())
        .execute("UPDATE audit_log SET outcome = 'ok' WHERE seq = 3", [])
        .unwrap();
    let (seq, problem) = first_bad(dir.path());
    assert_eq!(seq, 3, "{problem}");
    assert!(problem.contains("changed"), "{problem}");
}

#[test]
fn deletion_is_caught_at_the_entry_after_it() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 6);
    tamper(dir.path())
        .execute("DELETE FROM audit_log WHERE seq = 4", [])
        .unwrap();
    let (seq, problem) = first_bad(dir.path());
    assert_eq!(seq, 5, "{problem}");
    assert!(problem.contains("deleted"), "{problem}");
}

#[test]
fn deletion_with_renumbering_is_caught() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 6);
    let c = tamper(dir.path());
    c.execute("DELETE FROM audit_log WHERE seq = 2", [])
        .unwrap();
    for s in 3..=6 {
        c.execute(
            "UPDATE audit_log SET seq = ?1 WHERE seq = ?2",
            params![s - 1, s],
        )
        .unwrap();
    }
    drop(c);
    let (seq, problem) = first_bad(dir.path());
    assert_eq!(seq, 2, "{problem}");
}

#[test]
fn insertion_is_caught_even_with_a_valid_looking_hash() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 5);
    let c = tamper(dir.path());
    // Make room after entry 2 and forge an entry 3 that links correctly to 2.
    for s in (3..=5).rev() {
        c.execute(
            "UPDATE audit_log SET seq = ?1 WHERE seq = ?2",
            params![s + 1, s],
        )
        .unwrap();
    }
    let prev: String = c
        .query_row("SELECT hash FROM audit_log WHERE seq = 2", [], |r| r.get(0))
        .unwrap();
    let hash = audit_hash(
        3,
        5,
        Some("mallory"),
        None,
        "auth.login",
        None,
        None,
        "ok",
        "{}",
        &prev,
    );
    c.execute(
        "INSERT INTO audit_log (seq, ts, actor, remote, action, target, reason, outcome,
                                details_json, prev_hash, hash)
         VALUES (3, 5, 'mallory', NULL, 'auth.login', NULL, NULL, 'ok', '{}', ?1, ?2)",
        params![prev, hash],
    )
    .unwrap();
    drop(c);
    // The forged entry itself checks out; the old entry 3, now numbered 4,
    // no longer does, and that is the first bad entry.
    let (seq, problem) = first_bad(dir.path());
    assert_eq!(seq, 4, "{problem}");

    // A cruder insertion at the end, with no valid hash, is caught at itself.
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 3);
    tamper(dir.path())
        .execute(
            "INSERT INTO audit_log (seq, ts, action, outcome, details_json, prev_hash, hash)
             VALUES (4, 9, 'x', 'ok', '{}', 'bogus', 'bogus')",
            [],
        )
        .unwrap();
    assert_eq!(first_bad(dir.path()).0, 4);
}

#[test]
fn reordering_is_caught_at_the_first_moved_entry() {
    let dir = tempfile::tempdir().unwrap();
    chain(dir.path(), 6);
    let c = tamper(dir.path());
    // Swap entries 3 and 4 (their numbers move with them).
    c.execute_batch(
        "UPDATE audit_log SET seq = 100 WHERE seq = 3;
         UPDATE audit_log SET seq = 3 WHERE seq = 4;
         UPDATE audit_log SET seq = 4 WHERE seq = 100;",
    )
    .unwrap();
    drop(c);
    let (seq, problem) = first_bad(dir.path());
    assert_eq!(seq, 3, "{problem}");
}
