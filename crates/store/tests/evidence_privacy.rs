//! Bystander masking and sealed originals on a real photograph.

use base::BBox;
use kuzet_store::{self as store, SealKey, Store};
use std::sync::Arc;

fn photo() -> (Vec<u8>, u32, u32) {
    let p = base::env::require_data("faces/obama/fr_obama.jpg");
    let img = image::open(&p).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}

fn decode(jpeg: &[u8]) -> (Vec<u8>, u32, u32) {
    let img = image::load_from_memory(jpeg).unwrap().to_rgb8();
    let (w, h) = img.dimensions();
    (img.into_raw(), w, h)
}

/// Mean absolute difference per channel over the pixels where `inside`
/// says so.
fn mad(a: &[u8], b: &[u8], w: u32, inside: impl Fn(u32, u32) -> bool) -> f64 {
    let (mut sum, mut n) = (0u64, 0u64);
    for (i, (pa, pb)) in a.chunks(3).zip(b.chunks(3)).enumerate() {
        let (x, y) = (i as u32 % w, i as u32 / w);
        if inside(x, y) {
            for c in 0..3 {
                sum += (pa[c] as i32 - pb[c] as i32).unsigned_abs() as u64;
            }
            n += 3;
        }
    }
    sum as f64 / n.max(1) as f64
}

#[test]
fn masked_evidence_differs_in_the_face_only_and_the_original_is_sealed() {
    let (rgb, w, h) = photo();
    // The portrait's face: the middle of the picture (the face detector's
    // box on this photo lies inside it).
    let face = BBox::new(
        w as f32 * 0.3,
        h as f32 * 0.15,
        w as f32 * 0.7,
        h as f32 * 0.65,
    );
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (key, _) = SealKey::generate();
    let key = Arc::new(key);
    store.set_seal_key(key.clone());

    let plain = store.save_evidence_jpeg(&rgb, w, h, None, 90).unwrap();
    let masked = store
        .save_evidence_masked(&rgb, w, h, None, 90, &[face])
        .unwrap();
    assert_ne!(plain, masked);
    store.flush().unwrap();

    let plain_jpeg = std::fs::read(store.evidence_path(&plain).unwrap()).unwrap();
    let masked_jpeg = std::fs::read(store.evidence_path(&masked).unwrap()).unwrap();
    let (p, pw, ph) = decode(&plain_jpeg);
    let (m, mw, mh) = decode(&masked_jpeg);
    assert_eq!((pw, ph, mw, mh), (w, h, w, h));
    let margin = 12; // JPEG blocks straddling the mask edge
    let inside = |x: u32, y: u32| {
        (x as f32) >= face.x1
            && (x as f32) < face.x2
            && (y as f32) >= face.y1
            && (y as f32) < face.y2
    };
    let far_outside = |x: u32, y: u32| {
        (x as f32) < face.x1 - margin as f32
            || (x as f32) >= face.x2 + margin as f32
            || (y as f32) < face.y1 - margin as f32
            || (y as f32) >= face.y2 + margin as f32
    };
    let d_in = mad(&p, &m, w, inside);
    let d_out = mad(&p, &m, w, far_outside);
    assert!(d_in > 8.0, "the face region must change a lot: {d_in}");
    assert!(
        d_out < 0.5,
        "pixels away from the face must not change: {d_out}"
    );
    // Detail inside is gone: the masked face has far less local variation
    // (sum of horizontal gradients) than the real one.
    let grad = |img: &[u8]| {
        let mut g = 0u64;
        for y in face.y1 as u32 + 1..face.y2 as u32 - 1 {
            for x in face.x1 as u32 + 1..face.x2 as u32 - 1 {
                let i = ((y * w + x) * 3) as usize;
                g += (img[i] as i32 - img[i + 3] as i32).unsigned_abs() as u64;
            }
        }
        g
    };
    assert!(
        grad(&m) * 10 < grad(&p),
        "masked face keeps detail: {} vs {}",
        grad(&m),
        grad(&p)
    );

    // The original comes back, equal to the unmasked encoding.
    assert!(store.has_evidence_original(&masked).unwrap());
    assert!(!store.has_evidence_original(&plain).unwrap());
    let orig = store.evidence_original(&masked).unwrap().unwrap();
    assert_eq!(orig, plain_jpeg);
    assert_eq!(store.evidence_original(&plain).unwrap(), None);
    store.close();

    // In the database it is ciphertext: the original JPEG's bytes (any
    // 64-byte window of them) do not occur in the sealed blob.
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    let (key_id, sealed): (String, Vec<u8>) = c
        .query_row(
            "SELECT key_id, sealed FROM evidence_original WHERE hash = ?1",
            [&masked],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!(key_id, key.id());
    for chunk in orig.chunks(64).take(50) {
        assert!(!sealed.windows(chunk.len()).any(|w| w == chunk));
    }
    // Tampering is detected.
    let mut bad = sealed.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x40;
    c.execute(
        "UPDATE evidence_original SET sealed = ?1 WHERE hash = ?2",
        rusqlite::params![bad, masked],
    )
    .unwrap();
    drop(c);
    let store = Store::open(dir.path()).unwrap();
    store.set_seal_key(key.clone());
    let e = store.evidence_original(&masked).unwrap_err().to_string();
    assert!(e.contains("authentication"), "{e}");
    // Another key is refused by id; no key at all says what to configure.
    let (other, _) = SealKey::generate();
    store.set_seal_key(Arc::new(other));
    let e = store.evidence_original(&masked).unwrap_err().to_string();
    assert!(e.contains(key.id()), "{e}");
}

#[test]
fn masking_without_a_key_keeps_no_original_and_crops_translate_regions() {
    let (rgb, w, h) = photo();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let face = BBox::new(
        w as f32 * 0.3,
        h as f32 * 0.15,
        w as f32 * 0.7,
        h as f32 * 0.65,
    );
    // A crop away from the face: nothing to mask, stored as the plain crop.
    let corner = BBox::new(0.0, 0.0, w as f32 * 0.2, h as f32 * 0.1);
    let a = store
        .save_evidence_masked(&rgb, w, h, Some(corner), 90, &[face])
        .unwrap();
    let b = store
        .save_evidence_jpeg(&rgb, w, h, Some(corner), 90)
        .unwrap();
    assert_eq!(a, b);
    // A crop around the face: masked, but with no key no original is kept.
    let around = face.expand(0.2);
    let m = store
        .save_evidence_masked(&rgb, w, h, Some(around), 90, &[face])
        .unwrap();
    let p = store
        .save_evidence_jpeg(&rgb, w, h, Some(around), 90)
        .unwrap();
    assert_ne!(m, p);
    store.flush().unwrap();
    assert!(!store.has_evidence_original(&m).unwrap());
    assert_eq!(store.evidence_original(&m).unwrap(), None);
}

#[test]
fn rotation_reseals_under_the_new_key_resumes_and_stops_at_tampering() {
    let (rgb, w, h) = photo();
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let (old, _) = SealKey::generate();
    let old = Arc::new(old);
    store.set_seal_key(old.clone());
    // Several masked crops, so the originals span more than one row.
    let mut hashes = Vec::new();
    for i in 0..5 {
        let f = i as f32 * 0.05;
        let face = BBox::new(
            w as f32 * (0.3 + f),
            h as f32 * 0.15,
            w as f32 * 0.7,
            h as f32 * 0.65,
        );
        hashes.push(
            store
                .save_evidence_masked(&rgb, w, h, None, 90, &[face])
                .unwrap(),
        );
    }
    store.flush().unwrap();
    let originals: Vec<Vec<u8>> = hashes
        .iter()
        .map(|h| store.evidence_original(h).unwrap().unwrap())
        .collect();

    let (new, _) = SealKey::generate();
    let new = Arc::new(new);
    // Rotating to the same key is refused.
    assert!(store
        .reseal_evidence_originals(old.clone(), old.clone())
        .is_err());
    let r = store
        .reseal_evidence_originals(old.clone(), new.clone())
        .unwrap();
    assert_eq!((r.resealed, r.already), (5, 0));
    // Read back under the new key; the old key is refused.
    store.set_seal_key(new.clone());
    for (h, o) in hashes.iter().zip(&originals) {
        assert_eq!(&store.evidence_original(h).unwrap().unwrap(), o);
    }
    store.set_seal_key(old.clone());
    let e = store.evidence_original(&hashes[0]).unwrap_err().to_string();
    assert!(e.contains(new.id()), "{e}");
    // Running it again (as after a crash) finds nothing left to do.
    let r = store
        .reseal_evidence_originals(old.clone(), new.clone())
        .unwrap();
    assert_eq!((r.resealed, r.already), (0, 5));

    // A tampered row stops a rotation, and its batch is left as it was.
    let (third, _) = SealKey::generate();
    let third = Arc::new(third);
    store.close();
    let c = rusqlite::Connection::open(dir.path().join(store::DB_FILE)).unwrap();
    let mut sealed: Vec<u8> = c
        .query_row(
            "SELECT sealed FROM evidence_original WHERE hash = ?1",
            [&hashes[2]],
            |r| r.get(0),
        )
        .unwrap();
    sealed[30] ^= 1;
    c.execute(
        "UPDATE evidence_original SET sealed = ?1 WHERE hash = ?2",
        rusqlite::params![sealed, hashes[2]],
    )
    .unwrap();
    drop(c);
    let store = Store::open(dir.path()).unwrap();
    let e = store
        .reseal_evidence_originals(new.clone(), third.clone())
        .unwrap_err()
        .to_string();
    assert!(e.contains(&hashes[2]), "{e}");
    store.set_seal_key(new.clone());
    for (i, h) in hashes.iter().enumerate() {
        if i != 2 {
            assert_eq!(&store.evidence_original(h).unwrap().unwrap(), &originals[i]);
        }
    }
}
