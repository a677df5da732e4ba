//! Face templates, sighting embeddings and face crops sealed at rest
//! (migration 13): nothing readable on disk, rows cannot be swapped, plain
//! rows from before the migration are sealed, rotation covers them.

use base::{BBox, Timestamp};
use kuzet_store::{
    self as store, LegalBasis, NewSighting, NewTemplate, SealKey, Store, WatchlistCategory,
};
use std::sync::Arc;
use std::time::Instant;

fn photo() -> (Vec<u8>, u32, u32) {
    let p = base::env::require_data("faces/obama/fr_obama.jpg");
    let img = image::open(&p).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}

/// A deterministic unit vector of 512 dimensions (the embedder's size).
fn unit(seed: u32) -> Vec<f32> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut v: Vec<f32> = (0..512)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x % 2001) as f32 / 1000.0 - 1.0
        })
        .collect();
    let n = v.iter().map(|a| a * a).sum::<f32>().sqrt();
    v.iter_mut().for_each(|a| *a /= n);
    v
}

fn template(seed: u32) -> NewTemplate {
    NewTemplate {
        model: "m".into(),
        embedding: unit(seed),
        quality: serde_json::json!({}),
        photo_hash: None,
    }
}

fn sighting(i: u32, crop: Option<String>) -> NewSighting {
    NewSighting {
        camera: "gate".into(),
        ts: Timestamp::from_millis(1_000 + i as i64),
        run_id: None,
        track_id: Some(i as u64),
        model: "m".into(),
        embedding: unit(10_000 + i),
        bbox: BBox::new(1.0, 2.0, 30.0, 40.0),
        quality: 0.9,
        crop,
        matched_person: None,
    }
}

fn key() -> Arc<SealKey> {
    Arc::new(SealKey::generate().0)
}

fn bytes_of(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

#[test]
fn face_data_is_sealed_and_refused_without_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let (w, _) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.5, 0)
        .unwrap();
    // No key: nothing face-related is written in the clear.
    let e = s
        .add_person(w.id, "Ann", None, &LegalBasis::default(), &[template(1)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no key is configured"), "{e}");
    assert!(s.insert_sightings(vec![sighting(0, None)]).is_err());
    let (rgb, pw, ph) = photo();
    assert!(s.save_face_crop(&rgb, pw, ph, None, 90).is_err());
    assert!(s.persons(None).unwrap().is_empty());

    let k = key();
    s.set_seal_key(k.clone());
    let ann = s
        .add_person(
            w.id,
            "Ann",
            None,
            &LegalBasis::default(),
            &[template(1), template(2)],
        )
        .unwrap();
    s.add_person(w.id, "Bob", None, &LegalBasis::default(), &[template(3)])
        .unwrap();
    let crop = s
        .save_face_crop(&rgb, pw, ph, Some(BBox::new(50.0, 30.0, 250.0, 260.0)), 90)
        .unwrap();
    let ids = s
        .insert_sightings(vec![sighting(0, Some(crop.clone())), sighting(1, None)])
        .unwrap();
    s.flush().unwrap();

    // Read back through the key.
    let t = s.face_templates("m").unwrap();
    assert_eq!(t.len(), 3);
    assert_eq!(t[0].embedding, unit(1));
    assert_eq!(t[2].embedding, unit(3));
    let e = s.sighting_embeddings("m", 0, 10).unwrap();
    assert_eq!(e, vec![(ids[0], unit(10_000)), (ids[1], unit(10_001))]);
    let jpeg = s.evidence_bytes(&crop).unwrap().unwrap();
    assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "a JPEG comes back");
    assert_eq!(store::sha256_hex(&jpeg), crop, "named by the plain JPEG");
    let img = image::load_from_memory(&jpeg).unwrap();
    assert_eq!((img.width(), img.height()), (200, 230));

    // On disk: the crop file is not a JPEG and holds no plain run of it;
    // the database holds no plain embedding.
    let file = std::fs::read(s.evidence_path(&crop).unwrap()).unwrap();
    assert!(file.starts_with(b"KZSEAL1\n"));
    assert!(!file.windows(64).any(|x| x == &jpeg[200..264]));
    s.close();
    let db = std::fs::read(dir.path().join(store::DB_FILE)).unwrap();
    for v in [unit(1), unit(2), unit(3), unit(10_000)] {
        let b = bytes_of(&v);
        assert!(!db.windows(32).any(|x| x == &b[..32]), "plain embedding");
    }

    // Swapping sealed embeddings between rows is detected.
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    let (k1, k2): (i64, i64) = (t[0].template_id, t[2].template_id);
    let bob: Vec<u8> = c
        .query_row(
            "SELECT embedding FROM face_template WHERE id = ?1",
            [k2],
            |r| r.get(0),
        )
        .unwrap();
    c.execute(
        "UPDATE face_template SET embedding = ?1 WHERE id = ?2",
        rusqlite::params![bob, k1],
    )
    .unwrap();
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    s.set_seal_key(k.clone());
    let e = s.face_templates("m").unwrap_err().to_string();
    assert!(
        e.contains(&format!("face_template {k1}")) && e.contains("authentication"),
        "{e}"
    );
    // Another key is named, not mistaken for tampering.
    s.set_seal_key(key());
    let e = s.sighting_embeddings("m", 0, 10).unwrap_err().to_string();
    assert!(e.contains(k.id()), "{e}");
    let e = s.evidence_bytes(&crop).unwrap_err().to_string();
    assert!(e.contains(k.id()), "{e}");
    assert_eq!(ann.templates, 2);
}

/// Rows written before migration 13 are plain (`key_id` NULL): they are
/// read as they are and sealed by the start-up pass.
#[test]
fn plain_rows_from_before_the_migration_are_sealed() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let k = key();
    s.set_seal_key(k.clone());
    let (w, _) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.5, 0)
        .unwrap();
    let p = s
        .add_person(w.id, "Ann", None, &LegalBasis::default(), &[template(1)])
        .unwrap();
    let (rgb, pw, ph) = photo();
    let crop = s
        .save_evidence_jpeg(&rgb, pw, ph, Some(BBox::new(0.0, 0.0, 100.0, 100.0)), 90)
        .unwrap();
    let ids = s
        .insert_sightings(vec![sighting(0, Some(crop.clone())), sighting(1, None)])
        .unwrap();
    s.close();
    // Make them look like rows from a pre-0013 store.
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    c.execute(
        "UPDATE face_template SET key_id = NULL, embedding = ?1 WHERE person_id = ?2",
        rusqlite::params![bytes_of(&unit(1)), p.id],
    )
    .unwrap();
    for (i, id) in ids.iter().enumerate() {
        c.execute(
            "UPDATE face_sighting SET key_id = NULL, embedding = ?1 WHERE id = ?2",
            rusqlite::params![bytes_of(&unit(10_000 + i as u32)), id],
        )
        .unwrap();
    }
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    // Plain rows read without a key, as before.
    assert_eq!(s.face_templates("m").unwrap()[0].embedding, unit(1));
    s.set_seal_key(k.clone());
    let r = s.seal_plain_face_data(k.clone()).unwrap();
    assert_eq!(
        (r.templates.resealed, r.sightings.resealed, r.crops.resealed),
        (1, 2, 1),
        "{r:?}"
    );
    // Idempotent: nothing left.
    assert_eq!(s.seal_plain_face_data(k.clone()).unwrap().resealed(), 0);
    assert_eq!(s.face_templates("m").unwrap()[0].embedding, unit(1));
    assert_eq!(
        s.sighting_embeddings("m", 0, 10).unwrap()[1].1,
        unit(10_001)
    );
    let file = std::fs::read(s.evidence_path(&crop).unwrap()).unwrap();
    assert!(file.starts_with(b"KZSEAL1\n"), "the plain crop is sealed");
    let jpeg = s.evidence_bytes(&crop).unwrap().unwrap();
    assert_eq!(store::sha256_hex(&jpeg), crop);
}

#[test]
fn rotation_reseals_face_data_resumes_and_stops_at_tampering() {
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let old = key();
    s.set_seal_key(old.clone());
    let (w, _) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.5, 0)
        .unwrap();
    // More rows than one batch, so batching and resumption are exercised.
    let n = store::sealed::ROTATE_BATCH as u32 + 6;
    for i in 0..3 {
        s.add_person(
            w.id,
            &format!("p{i}"),
            None,
            &LegalBasis::default(),
            &[template(i)],
        )
        .unwrap();
    }
    let (rgb, pw, ph) = photo();
    let mut crops = Vec::new();
    for i in 0..3 {
        let x = 10.0 * i as f32;
        crops.push(
            s.save_face_crop(&rgb, pw, ph, Some(BBox::new(x, 0.0, x + 90.0, 90.0)), 90)
                .unwrap(),
        );
    }
    s.insert_sightings(
        (0..n)
            .map(|i| sighting(i, crops.get(i as usize).cloned()))
            .collect(),
    )
    .unwrap();
    s.flush().unwrap();
    let jpegs: Vec<Vec<u8>> = crops
        .iter()
        .map(|h| s.evidence_bytes(h).unwrap().unwrap())
        .collect();

    let new = key();
    assert!(s.reseal_face_data(Some(old.clone()), old.clone()).is_err());
    let r = s.reseal_face_data(Some(old.clone()), new.clone()).unwrap();
    assert_eq!(r.templates.resealed, 3);
    assert_eq!(r.sightings.resealed, n as u64);
    assert_eq!(r.sightings.batches, 2, "{r:?}");
    assert_eq!(r.crops.resealed, 3);
    // The new key opens everything; the old one is refused by name.
    s.set_seal_key(new.clone());
    assert_eq!(s.face_templates("m").unwrap()[1].embedding, unit(1));
    assert_eq!(
        s.sighting_embeddings("m", 0, 1000).unwrap().len(),
        n as usize
    );
    for (h, j) in crops.iter().zip(&jpegs) {
        assert_eq!(&s.evidence_bytes(h).unwrap().unwrap(), j);
    }
    s.set_seal_key(old.clone());
    assert!(s.face_templates("m").is_err());
    assert!(s.evidence_bytes(&crops[0]).is_err());
    // Again, as after a crash: nothing left to do.
    let r = s.reseal_face_data(Some(old.clone()), new.clone()).unwrap();
    assert_eq!(r.resealed(), 0);
    assert_eq!(
        (r.templates.already, r.sightings.already, r.crops.already),
        (3, n as u64, 3)
    );

    // A tampered sighting stops the rotation and names the row; rows
    // before it in its batch stay under the old key (one transaction).
    s.close();
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    let (id, mut blob): (i64, Vec<u8>) = c
        .query_row(
            "SELECT id, embedding FROM face_sighting ORDER BY id LIMIT 1 OFFSET 3",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    blob[20] ^= 1;
    c.execute(
        "UPDATE face_sighting SET embedding = ?1 WHERE id = ?2",
        rusqlite::params![blob, id],
    )
    .unwrap();
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    let third = key();
    let e = s
        .reseal_face_data(Some(new.clone()), third.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("face_sighting {id}")), "{e}");
    s.set_seal_key(new.clone());
    let first = s.sighting_embeddings("m", 0, 3).unwrap();
    assert_eq!(first.len(), 3, "its batch was rolled back");
}

/// What sealing costs: printed for docs/security.md (run with
/// `--nocapture`); `KUZET_SEAL_BENCH_ROWS` sets the size.
#[test]
fn sealing_cost_is_measured() {
    let rows: u32 = std::env::var("KUZET_SEAL_BENCH_ROWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000);
    let dir = tempfile::tempdir().unwrap();
    let s = Store::open(dir.path()).unwrap();
    let k = key();
    s.set_seal_key(k.clone());
    // Per-template sealing and opening, in memory.
    let v = bytes_of(&unit(7));
    let t = Instant::now();
    let sealed: Vec<Vec<u8>> = (0..rows)
        .map(|i| k.seal(&v, format!("face_template:{i}").as_bytes()).unwrap())
        .collect();
    let seal_us = t.elapsed().as_secs_f64() * 1e6 / rows as f64;
    let t = Instant::now();
    for (i, c) in sealed.iter().enumerate() {
        k.open(k.id(), c, format!("face_template:{i}").as_bytes())
            .unwrap();
    }
    let open_us = t.elapsed().as_secs_f64() * 1e6 / rows as f64;
    // Bulk throughput: what sealing the persisted sighting index costs
    // (about 2.1 KiB per sighting of 512 f32 plus its graph links).
    let bulk = vec![7u8; 64 << 20];
    let t = Instant::now();
    let sealed_bulk = k.seal(&bulk, b"faces/sightings:m").unwrap();
    let seal_mbs = 64.0 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    assert_eq!(
        k.open(k.id(), &sealed_bulk, b"faces/sightings:m")
            .unwrap()
            .len(),
        bulk.len()
    );
    let open_mbs = 64.0 / t.elapsed().as_secs_f64();
    // Scanning sealed sightings (what an index rebuild reads) against the
    // same rows made plain.
    for chunk in (0..rows).collect::<Vec<_>>().chunks(500) {
        s.insert_sightings(chunk.iter().map(|&i| sighting(i, None)).collect())
            .unwrap();
    }
    let scan = |s: &Store| {
        let t = Instant::now();
        let mut after = 0;
        let mut n = 0;
        loop {
            let page = s.sighting_embeddings("m", after, 4096).unwrap();
            let Some(last) = page.last() else { break };
            after = last.0;
            n += page.len();
        }
        assert_eq!(n, rows as usize);
        t.elapsed().as_secs_f64()
    };
    let sealed_s = scan(&s);
    s.close();
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    let ids: Vec<i64> = c
        .prepare("SELECT id FROM face_sighting")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let tx = c.unchecked_transaction().unwrap();
    for (i, id) in ids.iter().enumerate() {
        tx.execute(
            "UPDATE face_sighting SET key_id = NULL, embedding = ?1 WHERE id = ?2",
            rusqlite::params![bytes_of(&unit(10_000 + i as u32)), id],
        )
        .unwrap();
    }
    tx.commit().unwrap();
    drop(c);
    let s = Store::open(dir.path()).unwrap();
    let plain_s = scan(&s);
    eprintln!(
        "sealing cost ({rows} rows of 512 f32): seal {seal_us:.2} µs/template, open \
         {open_us:.2} µs/template; sighting scan sealed {:.1} ms vs plain {:.1} ms \
         ({:.2} µs/row overhead); bulk seal {seal_mbs:.0} MiB/s, open {open_mbs:.0} MiB/s",
        sealed_s * 1e3,
        plain_s * 1e3,
        (sealed_s - plain_s) * 1e6 / rows as f64
    );
}
