//! Store conformance suite: one set of cases written against `StoreBackend`,
//! run against the embedded SQLite store (temp dir) and PostgreSQL (one
//! throw-away server for the whole binary, a fresh database per case).
//!
//! A custom harness (`harness = false`) so the server is started once and
//! stopped at the end, which libtest has no hook for. Arguments that do not
//! start with `-` filter cases by substring, like libtest's.

use base::{BBox, Event, Timestamp};
use index::{VectorEngine, VectorFilter};
use kuzet_store_pg as store_pg;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use store::{
    EventQuery, Ingested, Keyed, LegalBasis, NewAuditEntry, NewHotlistEntry, NewPlateRead,
    NewSighting, NewTemplate, PersonScope, PlateReadQuery, SightingQuery, Store, StoreBackend,
    StoreError, TrackRecord, TrajectoryPoint, WatchlistCategory,
};
use store_pg::testing::TempPostgres;
use store_pg::{PgConfig, PgStore};

type Case = fn(&dyn StoreBackend);
/// A PostgreSQL-only case: the database URL and the store on it.
type PgCase = fn(&str, &Arc<PgStore>);

fn ev(camera: &str, kind: &str, ts: i64) -> Event {
    let mut e = Event::new(camera, kind, Timestamp(ts));
    e.score = 0.5;
    e.bbox = Some(BBox::new(1.0, 2.0, 30.5, 40.25));
    e.track_id = Some(7);
    e.label = Some("person".into());
    e.details = serde_json::json!({"dwell_seconds": 3.5});
    e
}

fn plain(events: Vec<Event>) -> Vec<Keyed<Event>> {
    events.into_iter().map(Keyed::plain).collect()
}

fn cameras_and_runs(s: &dyn StoreBackend) {
    s.upsert_camera("cam-b", "B", "rtsp://b", &serde_json::json!({"fps": 5}))
        .unwrap();
    s.upsert_camera("cam-a", "A", "rtsp://a", &serde_json::json!({}))
        .unwrap();
    s.upsert_camera("cam-a", "A2", "rtsp://a", &serde_json::json!({}))
        .unwrap();
    let cams = s.cameras().unwrap();
    assert_eq!(
        cams.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["cam-a", "cam-b"]
    );
    assert_eq!(cams[0].name, "A2");
    assert_eq!(cams[1].config, serde_json::json!({"fps": 5}));
    assert!(matches!(
        s.upsert_camera("", "x", "y", &serde_json::json!({})),
        Err(StoreError::Invalid(_))
    ));

    let r1 = s.create_run("1.0", Some(42)).unwrap();
    let r2 = s.create_run("1.1", None).unwrap();
    assert!(r2 > r1);
    s.finish_run(r1).unwrap();
    let runs = s.runs(10).unwrap();
    assert_eq!(runs.len(), 2);
    assert_eq!(runs[0].id, r2);
    assert_eq!(runs[0].ended, None);
    assert_eq!(runs[1].pid, Some(42));
    assert!(runs[1].ended.is_some());
    assert_eq!(s.runs(1).unwrap().len(), 1);
}

fn events_roundtrip_and_filters(s: &dyn StoreBackend) {
    let run = s.create_run("t", None).unwrap();
    let mut input = Vec::new();
    for i in 0..30 {
        let cam = if i % 3 == 0 { "north" } else { "south" };
        let kind = if i % 2 == 0 {
            "zone_enter"
        } else {
            "line_cross"
        };
        input.push(ev(cam, kind, 1_000 + (i / 2) * 10)); // pairs share a ts
    }
    let mut no_box = Event::new("north", "crowd_density", Timestamp(5_000));
    no_box.details = serde_json::Value::Null;
    input.push(no_box.clone());
    let stored = s.ingest_events(Some(run), plain(input.clone())).unwrap();
    assert_eq!(stored.len(), 31);
    let ids: Vec<i64> = stored.iter().map(|e| e.id.unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[1] > w[0]), "ids ascend: {ids:?}");

    // Get by id returns exactly what went in.
    let got = s.event(ids[4]).unwrap().unwrap();
    assert_eq!(got, stored[4]);
    assert_eq!(got.bbox, Some(BBox::new(1.0, 2.0, 30.5, 40.25)));
    assert_eq!(got.details, serde_json::json!({"dwell_seconds": 3.5}));
    let nb = s.event(ids[30]).unwrap().unwrap();
    assert_eq!(nb.bbox, None);
    assert_eq!(nb.details, serde_json::Value::Null);
    assert_eq!(s.event(i64::MAX).unwrap(), None);

    // Newest first by (ts, id).
    let all = s
        .events(&EventQuery {
            limit: 100,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.len(), 31);
    assert_eq!(all[0].kind, "crowd_density");
    for w in all.windows(2) {
        assert!((w[0].ts, w[0].id) > (w[1].ts, w[1].id));
    }
    let q = |q: EventQuery| s.events(&q).unwrap();
    let north = q(EventQuery {
        camera: Some("north".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(north.len(), 11);
    assert!(north.iter().all(|e| e.camera == "north"));
    let scoped = q(EventQuery {
        cameras: Some(vec!["south".into(), "nowhere".into()]),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(scoped.len(), 20);
    let none = q(EventQuery {
        cameras: Some(vec![]),
        ..Default::default()
    });
    assert!(none.is_empty(), "an empty camera scope sees nothing");
    let kind = q(EventQuery {
        kind: Some("line_cross".into()),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(kind.len(), 15);
    let window = q(EventQuery {
        since: Some(Timestamp(1_050)),
        until: Some(Timestamp(1_100)),
        limit: 100,
        ..Default::default()
    });
    assert_eq!(window.len(), 10, "ts 1050..1090, two each");
    assert!(window.iter().all(|e| (1_050..1_100).contains(&e.ts.0)));

    // Keyset paging visits every event once, in order.
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = q(EventQuery {
            limit: 7,
            before_id: before,
            ..Default::default()
        });
        if page.is_empty() {
            break;
        }
        before = page.last().unwrap().id;
        seen.extend(page);
    }
    assert_eq!(seen, all);

    let c = s.counts().unwrap();
    assert_eq!(c.events, 31);
    assert_eq!(c.by_kind["zone_enter"], 15);
    assert_eq!(c.by_kind["crowd_density"], 1);
    assert_eq!(c.by_camera["south"], 20);
    assert_eq!(c.runs, 1);
}

fn events_are_idempotent_by_key(s: &dyn StoreBackend) {
    let batch: Vec<Keyed<Event>> = (0..10)
        .map(|i| Keyed::with_key(format!("w1/cam/{i}"), ev("cam", "zone_enter", i)))
        .collect();
    let first = s.ingest_events(None, batch.clone()).unwrap();
    // A redelivery of the whole batch, and one that overlaps with new keys.
    let again = s.ingest_events(None, batch.clone()).unwrap();
    assert_eq!(
        first.iter().map(|e| e.id).collect::<Vec<_>>(),
        again.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    // [k5, new, k6, k7, k8, k9, k10, k10, new]: keyed and unkeyed interleaved.
    let mut mixed = batch[5..].to_vec();
    mixed.insert(1, Keyed::plain(ev("cam", "zone_exit", 11)));
    mixed.push(Keyed::with_key("w1/cam/10", ev("cam", "zone_enter", 10)));
    mixed.push(Keyed::with_key("w1/cam/10", ev("cam", "zone_enter", 10)));
    mixed.push(Keyed::plain(ev("cam", "zone_exit", 12)));
    let m = s.ingest_events(None, mixed).unwrap();
    assert_eq!(m.len(), 9);
    // Every returned id names the row given at that position.
    for e in &m {
        let got = s.event(e.id.unwrap()).unwrap().unwrap();
        assert_eq!((got.ts, &got.kind), (e.ts, &e.kind), "{e:?}");
    }
    assert_eq!(m[0].id, first[5].id);
    assert_eq!(m[5].id, first[9].id);
    assert_eq!(
        m[6].id, m[7].id,
        "a key repeated within one batch is stored once"
    );
    assert_ne!(m[1].id, m[8].id, "rows without keys are never deduplicated");
    assert_eq!(s.counts().unwrap().events, 13);

    for bad in [
        Keyed::with_key("", ev("cam", "k", 1)),
        Keyed::with_key("x".repeat(513), ev("cam", "k", 1)),
        Keyed::plain(Event {
            score: f32::NAN,
            ..ev("cam", "k", 1)
        }),
        Keyed::plain(ev("", "k", 1)),
        Keyed::plain(Event {
            evidence: Some("../../etc/passwd".into()),
            ..ev("cam", "k", 1)
        }),
    ] {
        assert!(
            matches!(
                s.ingest_events(None, vec![bad.clone()]),
                Err(StoreError::Invalid(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(
        s.counts().unwrap().events,
        13,
        "refused batches store nothing"
    );
}

fn bus_ingest_runs_and_outcomes(s: &dyn StoreBackend) {
    // The bus ingest: one run per worker session, stable across calls.
    let r1 = s.run_for_origin("w1/1700000000000", "worker").unwrap();
    let r2 = s.run_for_origin("w2/1700000000001", "worker").unwrap();
    assert_ne!(r1, r2);
    assert_eq!(s.run_for_origin("w1/1700000000000", "worker").unwrap(), r1);
    assert!(matches!(
        s.run_for_origin("", "worker"),
        Err(StoreError::Invalid(_))
    ));
    // Outcomes: new once, a duplicate on redelivery, with the same id.
    let batch: Vec<Keyed<Event>> = (0..3)
        .map(|i| Keyed::with_key(format!("w1/o/{i}"), ev("o", "zone_enter", i)))
        .collect();
    let first = s.ingest_events_outcomes(Some(r1), batch.clone()).unwrap();
    assert!(
        first.iter().all(|o| matches!(o, Ingested::New(_))),
        "{first:?}"
    );
    let mut again = batch[1..].to_vec();
    again.push(Keyed::with_key("w1/o/9", ev("o", "zone_enter", 9)));
    let second = s.ingest_events_outcomes(Some(r1), again).unwrap();
    assert_eq!(
        second[..2],
        [
            Ingested::Duplicate(first[1].id()),
            Ingested::Duplicate(first[2].id())
        ]
    );
    assert!(matches!(second[2], Ingested::New(_)));
    let stored = s.event(first[0].id()).unwrap().unwrap();
    assert_eq!(stored.ts, Timestamp(0));
    assert_eq!(s.counts().unwrap().events, 4);
}

fn concurrent_redeliveries_store_once(s: &dyn StoreBackend) {
    // Four consumers receive the same 50 keyed events at once (a redelivery
    // storm after a failover): exactly 50 rows, every consumer gets the same ids.
    let batch: Vec<Keyed<Event>> = (0..50)
        .map(|i| Keyed::with_key(format!("w2/c/{i}"), ev("c", "zone_enter", i)))
        .collect();
    let results: Vec<Vec<Option<i64>>> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let b = batch.clone();
                sc.spawn(move || {
                    s.ingest_events(None, b)
                        .unwrap()
                        .iter()
                        .map(|e| e.id)
                        .collect()
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for r in &results[1..] {
        assert_eq!(r, &results[0]);
    }
    assert_eq!(s.counts().unwrap().events, 50);
}

fn tracks_merge(s: &dyn StoreBackend) {
    let run = s.create_run("t", None).unwrap();
    let t = TrackRecord {
        run_id: run,
        camera: "cam".into(),
        track_id: 3,
        label: Some("car".into()),
        first_seen: Timestamp(100),
        last_seen: Timestamp(200),
        frames: 10,
        best_score: 0.7,
        best_crop: Some("ab".repeat(32)),
        trajectory: vec![TrajectoryPoint {
            ts: Timestamp(100),
            x: 1.5,
            y: 2.5,
        }],
    };
    s.upsert_tracks(vec![t.clone()]).unwrap();
    s.upsert_tracks(vec![TrackRecord {
        label: None,
        best_crop: None,
        first_seen: Timestamp(150),
        last_seen: Timestamp(300),
        frames: 20,
        best_score: 0.9,
        ..t.clone()
    }])
    .unwrap();
    let got = s.tracks("cam", Some(run), 10).unwrap();
    assert_eq!(got.len(), 1);
    let g = &got[0];
    assert_eq!(g.label.as_deref(), Some("car"), "None keeps the old label");
    assert_eq!(g.best_crop, t.best_crop);
    assert_eq!(
        (g.first_seen, g.last_seen),
        (Timestamp(100), Timestamp(300))
    );
    assert_eq!(g.frames, 20);
    assert_eq!(g.trajectory, t.trajectory);
    assert!(s.tracks("cam", Some(run + 1000), 10).unwrap().is_empty());
    assert_eq!(s.tracks("cam", None, 10).unwrap().len(), 1);
    assert_eq!(s.counts().unwrap().tracks, 1);
    assert!(matches!(
        s.upsert_tracks(vec![TrackRecord {
            best_crop: Some("nope".into()),
            ..t
        }]),
        Err(StoreError::Invalid(_))
    ));
}

fn read(camera: &str, plate: &str, first: i64) -> NewPlateRead {
    NewPlateRead {
        camera: camera.into(),
        run_id: None,
        track_id: Some(9),
        first_seen: Timestamp(first),
        last_seen: Timestamp(first + 500),
        plate: plate.into(),
        raw_text: plate.to_lowercase(),
        format: Some("eu".into()),
        country: None,
        confidence: 0.875,
        votes: 5,
        agreeing: 4,
        vehicle_type: Some("car".into()),
        colour: None,
        plate_crop: Some("cd".repeat(32)),
        vehicle_crop: None,
        frame: None,
        hotlist_hits: 1,
    }
}

fn plate_reads(s: &dyn StoreBackend) {
    let reads = vec![
        Keyed::with_key("p/1", read("gate", "AB123CD", 1_000)),
        Keyed::with_key("p/2", read("gate", "AB124CD", 2_000)),
        Keyed::with_key("p/3", read("bridge", "XY123CD", 3_000)),
        Keyed::plain(read("bridge", "AB123ZZ", 4_000)),
    ];
    let ids = s.ingest_plate_reads(reads.clone()).unwrap();
    assert_eq!(ids.len(), 4);
    let again = s.ingest_plate_reads(reads[..3].to_vec()).unwrap();
    assert_eq!(again, ids[..3]);
    let q = |q: PlateReadQuery| s.plate_reads(&q).unwrap();
    let all = q(PlateReadQuery::default());
    assert_eq!(all.len(), 4, "keyed redelivery stored nothing new");
    assert_eq!(all[0].read, reads[3].item, "newest first, exact roundtrip");
    let ab = q(PlateReadQuery {
        pattern: Some("ab12?cd".into()),
        ..Default::default()
    });
    assert_eq!(
        ab.iter().map(|r| r.read.plate.as_str()).collect::<Vec<_>>(),
        ["AB124CD", "AB123CD"]
    );
    let star = q(PlateReadQuery {
        pattern: Some("*123*".into()),
        cameras: vec!["bridge".into()],
        ..Default::default()
    });
    assert_eq!(star.len(), 2);
    let window = q(PlateReadQuery {
        since: Some(Timestamp(2_000)),
        until: Some(Timestamp(4_000)),
        ..Default::default()
    });
    assert_eq!(window.len(), 2);
    let page = q(PlateReadQuery {
        limit: 2,
        offset: 2,
        ..Default::default()
    });
    assert_eq!(
        page.iter().map(|r| r.id).collect::<Vec<_>>(),
        [ids[1], ids[0]]
    );
    assert!(matches!(
        s.plate_reads(&PlateReadQuery {
            pattern: Some("AB%".into()),
            ..Default::default()
        }),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.ingest_plate_reads(vec![Keyed::plain(read("gate", "ab-1", 1))]),
        Err(StoreError::Invalid(_))
    ));
}

fn sighting(camera: &str, ts: i64, seed: f32) -> NewSighting {
    NewSighting {
        camera: camera.into(),
        ts: Timestamp(ts),
        run_id: Some(1),
        track_id: Some(4),
        model: "arcface".into(),
        embedding: (0..512).map(|i| ((i as f32) * seed).sin()).collect(),
        bbox: BBox::new(10.0, 20.0, 50.0, 80.0),
        quality: 0.625,
        crop: Some("ef".repeat(32)),
        matched_person: None,
    }
}

fn face_sightings(s: &dyn StoreBackend) {
    let input: Vec<Keyed<NewSighting>> = (0..6)
        .map(|i| {
            Keyed::with_key(
                format!("s/{i}"),
                sighting(if i < 3 { "a" } else { "b" }, 1_000 * i, i as f32 + 0.1),
            )
        })
        .collect();
    let ids = s.ingest_sightings(input.clone()).unwrap();
    assert_eq!(s.ingest_sightings(input.clone()).unwrap(), ids);
    let all = s.sightings(&SightingQuery::default(), 100).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all[0].id, ids[5], "newest first");
    assert_eq!(all[0].bbox, BBox::new(10.0, 20.0, 50.0, 80.0));
    assert_eq!(all[0].quality, 0.625);
    let a = s
        .sightings(
            &SightingQuery {
                cameras: vec!["a".into()],
                since: Some(Timestamp(1_000)),
                until: None,
            },
            100,
        )
        .unwrap();
    assert_eq!(a.iter().map(|x| x.id).collect::<Vec<_>>(), [ids[2], ids[1]]);
    // Embeddings come back bit for bit, paged by id.
    let p1 = s.sighting_embeddings("arcface", 0, 4).unwrap();
    let p2 = s.sighting_embeddings("arcface", p1[3].0, 4).unwrap();
    assert_eq!(p1.len() + p2.len(), 6);
    for ((id, emb), k) in p1.iter().chain(&p2).zip(&input) {
        assert!(ids.contains(id));
        assert_eq!(emb, &k.item.embedding);
    }
    assert!(s.sighting_embeddings("other", 0, 10).unwrap().is_empty());
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(s.sighting_ids("arcface").unwrap(), sorted);
    assert!(s.sighting_ids("other").unwrap().is_empty());
    // By id: unknown ids skipped, id order.
    let got = s.sightings_by_ids(&[ids[4], -7, ids[1]]).unwrap();
    assert_eq!(
        got.iter().map(|x| x.id).collect::<Vec<_>>(),
        [ids[1].min(ids[4]), ids[1].max(ids[4])]
    );
    assert_eq!(got[0].crop.as_deref(), Some("ef".repeat(32).as_str()));
    assert!(s.sightings_by_ids(&[]).unwrap().is_empty());
    // A match moves them to the longer retention of matched data.
    s.mark_sightings_matched(vec![ids[0], ids[2]], 77).unwrap();
    let matched: Vec<i64> = s
        .sightings(&SightingQuery::default(), 100)
        .unwrap()
        .into_iter()
        .filter(|x| x.matched_person == Some(77))
        .map(|x| x.id)
        .collect();
    assert_eq!(matched, [ids[2], ids[0]]);
    let mut bad = sighting("a", 1, 1.0);
    bad.embedding[3] = f32::INFINITY;
    assert!(matches!(
        s.ingest_sightings(vec![Keyed::plain(bad)]),
        Err(StoreError::Invalid(_))
    ));
}

fn audit_chain(s: &dyn StoreBackend) {
    let v = s.verify_audit().unwrap();
    assert_eq!((v.entries, v.head, v.first_bad), (0, None, None));
    let mut last = None;
    for i in 0..5 {
        last = Some(
            s.append_audit(NewAuditEntry {
                actor: Some("alice".into()),
                remote: None,
                action: "faces.search".into(),
                target: Some(format!("list-{i}")),
                reason: Some("case 12".into()),
                outcome: "ok".into(),
                details: serde_json::json!({"k": i}),
            })
            .unwrap(),
        );
    }
    let last = last.unwrap();
    assert_eq!(last.seq, 5);
    let page = s.audit_entries(None, 2).unwrap();
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), [5, 4]);
    assert_eq!(page[0], last);
    let older = s.audit_entries(Some(4), 10).unwrap();
    assert_eq!(older.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 2, 1]);
    assert_eq!(older[0].hash, page[1].prev_hash);
    let v = s.verify_audit().unwrap();
    assert_eq!(v.entries, 5);
    assert_eq!(v.first_bad, None);
    assert_eq!(v.head.unwrap().hash, last.hash);
    assert!(matches!(
        s.append_audit(NewAuditEntry::default()),
        Err(StoreError::Invalid(_))
    ));
}

fn concurrent_audit_appends_chain(s: &dyn StoreBackend) {
    std::thread::scope(|sc| {
        for t in 0..4 {
            sc.spawn(move || {
                for i in 0..10 {
                    s.append_audit(NewAuditEntry {
                        action: format!("t{t}.{i}"),
                        outcome: "ok".into(),
                        ..Default::default()
                    })
                    .unwrap();
                }
            });
        }
    });
    let v = s.verify_audit().unwrap();
    assert_eq!(v.entries, 40);
    assert_eq!(v.first_bad, None, "{v:?}");
}

/// The live stream's contract: a subscriber gets every event committed
/// after it subscribed exactly once, in increasing id order, redeliveries
/// never; `events_after` pages the same rows by id.
fn live_feed_in_id_order(s: &dyn StoreBackend) {
    assert_eq!(s.max_event_id().unwrap(), 0);
    let before = s
        .ingest_events(
            None,
            plain(vec![ev("a", "zone_enter", 1), ev("a", "zone_exit", 2)]),
        )
        .unwrap();
    let first = before[0].id.unwrap();
    assert_eq!(s.max_event_id().unwrap(), before[1].id.unwrap());
    let sub = s.subscribe_events().unwrap();
    // Three consumers ingest at once; every batch is delivered twice.
    let stored: Vec<i64> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..3)
            .map(|w| {
                sc.spawn(move || {
                    let mut ids = Vec::new();
                    for b in 0..4 {
                        let batch: Vec<Keyed<Event>> = (0..5)
                            .map(|i| {
                                Keyed::with_key(
                                    format!("w{w}/{b}/{i}"),
                                    ev("b", "line_cross", 100 + i),
                                )
                            })
                            .collect();
                        let got = s.ingest_events(None, batch.clone()).unwrap();
                        let again = s.ingest_events(None, batch).unwrap();
                        assert_eq!(
                            got.iter().map(|e| e.id).collect::<Vec<_>>(),
                            again.iter().map(|e| e.id).collect::<Vec<_>>()
                        );
                        ids.extend(got.iter().map(|e| e.id.unwrap()));
                    }
                    ids
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let mut want = stored.clone();
    want.sort_unstable();
    let mut got = Vec::new();
    while got.len() < want.len() {
        match sub.recv_timeout(std::time::Duration::from_secs(10)) {
            Ok(e) => got.push(e.id.unwrap()),
            Err(e) => panic!(
                "live feed stopped after {} of {}: {e}",
                got.len(),
                want.len()
            ),
        }
    }
    assert_eq!(got, want, "every new event once, in id order");
    assert!(
        sub.recv_timeout(std::time::Duration::from_millis(300))
            .is_err(),
        "redeliveries are not published"
    );
    assert_eq!(sub.lagged(), 0);
    // Paging by id.
    let all = s.events_after(first - 1, 1000).unwrap();
    assert_eq!(all.len(), 62);
    assert!(all.windows(2).all(|w| w[0].id < w[1].id));
    let page = s.events_after(first, 5).unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0].id, before[1].id);
    assert!(s
        .events_after(s.max_event_id().unwrap(), 10)
        .unwrap()
        .is_empty());
}

/// Which cameras a piece of evidence belongs to, for the camera scope of
/// the evidence route: an event's main crop, any hash inside its details
/// (frames, offence packages), a plate read's crops.
fn evidence_cameras_follow_rows(s: &dyn StoreBackend) {
    let (h1, h2, h3, h4) = (
        "1a".repeat(32),
        "2b".repeat(32),
        "3c".repeat(32),
        "4d".repeat(32),
    );
    let mut e1 = ev("north", "zone_enter", 1);
    e1.evidence = Some(h1.clone());
    let mut e2 = ev("south", "offence", 2);
    e2.details = serde_json::json!({"package": {"frames": [h2.clone()], "note": "x"}});
    let mut e3 = ev("east", "offence", 3);
    e3.details = serde_json::json!({"frame": h2.clone()});
    s.ingest_events(None, plain(vec![e1, e2, e3])).unwrap();
    let mut r = read("gate", "AB123CD", 10);
    r.plate_crop = Some(h3.clone());
    r.frame = Some(h4.clone());
    s.ingest_plate_reads(vec![Keyed::with_key("p/ev", r)])
        .unwrap();
    let cams = |h: &str| {
        let mut c = s.evidence_cameras(h).unwrap();
        c.sort();
        c
    };
    assert_eq!(cams(&h1), ["north"]);
    assert_eq!(cams(&h2), ["east", "south"]);
    assert_eq!(cams(&h3), ["gate"]);
    assert_eq!(cams(&h4), ["gate"]);
    assert!(cams(&"5e".repeat(32)).is_empty());
}

fn reviews_and_the_two_person_rule(s: &dyn StoreBackend) {
    use store::{ReviewAction::*, ReviewStatus};
    let stored = s
        .ingest_events(
            None,
            plain(vec![
                ev("north", "face_match", 10_000),
                ev("south", "zone_enter", 20_000),
                ev("north", "zone_enter", 70_000),
            ]),
        )
        .unwrap();
    let [fm, zone, later] = [0, 1, 2].map(|i| stored[i].id.unwrap());
    let new = s.review_state(fm).unwrap().unwrap();
    assert_eq!(
        (new.status, new.confirmations_required, new.updated),
        (ReviewStatus::New, 2, None)
    );
    assert_eq!(s.review_state(i64::MAX).unwrap(), None);
    let refused = |r: Result<store::ReviewState, StoreError>, needle: &str| match r {
        Err(StoreError::Refused(m)) => assert!(m.contains(needle), "{m}"),
        other => panic!("expected a refusal with {needle:?}, got {other:?}"),
    };
    refused(
        s.review(i64::MAX, "ann", Confirm, None, None),
        "does not exist",
    );
    assert!(matches!(
        s.review(fm, "  ", Ack, None, None),
        Err(StoreError::Invalid(_))
    ));

    // A face match counts only after two different users confirmed it, and
    // nothing may release it before.
    let st = s.review(fm, "ann", Confirm, None, None).unwrap();
    assert_eq!(st.status, ReviewStatus::PendingConfirmation);
    assert!(store::release_check(&st, "exported").is_err());
    refused(s.review(fm, "ann", Confirm, None, None), "two-person rule");
    refused(s.review(fm, "ann", Dispatch, None, None), "two-person rule");
    let st = s
        .review(fm, " bob ", Confirm, None, Some("same face"))
        .unwrap();
    assert_eq!(st.status, ReviewStatus::Confirmed);
    assert_eq!(st.confirmed_by, ["ann", "bob"]);
    assert!(store::release_check(&st, "exported").is_ok());
    s.review(fm, "bob", Dispatch, None, Some("unit 7")).unwrap();
    let after = s.review_state(fm).unwrap().unwrap();
    assert_eq!(
        (after.status, &after.confirmed_by),
        (st.status, &st.confirmed_by),
        "a dispatch leaves the status as it is"
    );

    // An ordinary event: one confirmation; rejecting needs a reason.
    refused(s.review(zone, "ann", Reject, None, None), "comment");
    let st = s
        .review(zone, "ann", Reject, None, Some("a shadow"))
        .unwrap();
    assert_eq!(st.status, ReviewStatus::Rejected);
    refused(s.review(zone, "bob", Confirm, None, None), "reopen");
    s.review(later, "ann", Assign, Some("cid"), None).unwrap();
    let assigned = s.review_state(later).unwrap().unwrap();
    assert_eq!(
        (assigned.status, assigned.assignee.as_deref()),
        (ReviewStatus::Acknowledged, Some("cid"))
    );

    // Two sessions of one user confirming at once: one wins, the other
    // reads its result and is refused (the state machine runs inside the
    // write transaction on both backends).
    let racing = s
        .ingest_events(None, plain(vec![ev("north", "face_match", 90_000)]))
        .unwrap()[0]
        .id
        .unwrap();
    let outcomes: Vec<bool> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| sc.spawn(|| s.review(racing, "dan", Confirm, None, None).is_ok()))
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(outcomes.iter().filter(|ok| **ok).count(), 1, "{outcomes:?}");
    let raced = s.review_state(racing).unwrap().unwrap();
    assert_eq!(raced.confirmed_by, ["dan"]);
    assert_eq!(s.review_history(racing).unwrap().len(), 1);

    let h = s.review_history(fm).unwrap();
    let actions: Vec<_> = h.iter().map(|e| (e.actor.as_str(), e.action)).collect();
    assert_eq!(
        actions,
        [("ann", Confirm), ("bob", Confirm), ("bob", Dispatch)],
        "refused actions leave no history"
    );
    assert_eq!(h[1].comment.as_deref(), Some("same face"));
    assert_eq!(h[1].status, ReviewStatus::Confirmed);
    assert!(h.windows(2).all(|w| w[1].id > w[0].id));
    assert!(s.review_history(i64::MAX).unwrap().is_empty());

    // Counts and timeline over a time range, with a camera scope.
    let (t0, t1) = (Timestamp(0), Timestamp(80_000));
    let with_race = s.review_counts(t0, Timestamp(100_000), None, None).unwrap();
    assert_eq!(with_race.pending_confirmation, 1);
    let all = s.review_counts(t0, t1, None, None).unwrap();
    assert_eq!(
        (
            all.confirmed,
            all.rejected,
            all.acknowledged,
            all.pending_confirmation
        ),
        (1, 1, 1, 0)
    );
    let north = |c: &str| c == "north";
    let n = s.review_counts(t0, t1, None, Some(&north)).unwrap();
    assert_eq!((n.confirmed, n.rejected, n.acknowledged), (1, 0, 1));
    let fms = s.review_counts(t0, t1, Some("face_match"), None).unwrap();
    assert_eq!((fms.confirmed, fms.acknowledged), (1, 0));
    let early = s.review_counts(t0, Timestamp(15_000), None, None).unwrap();
    assert_eq!((early.confirmed, early.rejected), (1, 0));

    let tl = s.event_timeline(t0, t1, 60_000, None).unwrap();
    let got: Vec<_> = tl
        .iter()
        .map(|b| (b.start.0, b.kind.as_str(), b.count))
        .collect();
    assert_eq!(
        got,
        [
            (0, "face_match", 1),
            (0, "zone_enter", 1),
            (60_000, "zone_enter", 1)
        ]
    );
    let tl = s.event_timeline(t0, t1, 60_000, Some(&north)).unwrap();
    assert!(tl.iter().all(|b| b.start.0 < t1.0));
    assert_eq!(tl.iter().map(|b| b.count).sum::<u64>(), 2);
    assert!(matches!(
        s.event_timeline(t1, t0, 60_000, None),
        Err(StoreError::Invalid(_))
    ));
}

fn locks_and_event_tracks(s: &dyn StoreBackend) {
    let run = s.create_run("t", None).unwrap();
    let mut a = ev("gate", "zone_enter", 1_000);
    a.track_id = Some(7);
    let mut b = a.clone();
    b.kind = "loitering".into();
    b.ts = Timestamp(5_000);
    let mut other = a.clone();
    other.track_id = Some(8);
    let mut no_track = ev("gate", "crowd_density", 2_000);
    no_track.track_id = None;
    let stored = s
        .ingest_events(Some(run), plain(vec![a, b, other, no_track]))
        .unwrap();
    let [a, b, _other, no_track] = [0, 1, 2, 3].map(|i| stored[i].id.unwrap());
    s.upsert_tracks(vec![TrackRecord {
        run_id: run,
        camera: "gate".into(),
        track_id: 7,
        label: Some("person".into()),
        first_seen: Timestamp(900),
        last_seen: Timestamp(5_100),
        frames: 40,
        best_score: 0.9,
        best_crop: None,
        trajectory: vec![TrajectoryPoint {
            ts: Timestamp(900),
            x: 0.25,
            y: 0.5,
        }],
    }])
    .unwrap();

    let t = s.event_track(b).unwrap().unwrap();
    assert_eq!(t.track.as_ref().unwrap().frames, 40);
    assert_eq!(t.track.unwrap().trajectory.len(), 1);
    assert_eq!(
        t.events.iter().map(|e| e.id.unwrap()).collect::<Vec<_>>(),
        [a, b],
        "the same object's events, oldest first; not track 8's"
    );
    assert!(!t.truncated);
    let none = s.event_track(no_track).unwrap().unwrap();
    assert!(none.track.is_none() && none.events.is_empty());
    assert!(s.event_track(i64::MAX).unwrap().is_none());

    // Locks: one per event, with a case and a reason.
    assert!(matches!(
        s.lock_event(a, " ", "why", "ann"),
        Err(StoreError::Invalid(_))
    ));
    assert!(matches!(
        s.lock_event(i64::MAX, "CASE-1", "why", "ann"),
        Err(StoreError::Invalid(_))
    ));
    let l = s.lock_event(a, " CASE-1 ", "robbery", "ann").unwrap();
    assert_eq!(
        (l.case_ref.as_str(), l.locked_by.as_str()),
        ("CASE-1", "ann")
    );
    match s.lock_event(a, "CASE-2", "other", "bob") {
        Err(StoreError::Refused(m)) => assert!(m.contains("CASE-1"), "{m}"),
        other => panic!("a second lock must be refused: {other:?}"),
    }
    let locks = s.event_locks(&[a, b, i64::MAX]).unwrap();
    assert_eq!(locks.len(), 1);
    assert_eq!(locks[&a], l);
    assert!(s.event_locks(&[]).unwrap().is_empty());
    assert_eq!(s.unlock_event(a).unwrap(), Some(l));
    assert_eq!(s.unlock_event(a).unwrap(), None);
    assert!(s.event_locks(&[a]).unwrap().is_empty());
}

const CASES: &[(&str, Case)] = &[
    (
        "reviews_and_the_two_person_rule",
        reviews_and_the_two_person_rule,
    ),
    ("locks_and_event_tracks", locks_and_event_tracks),
    ("live_feed_in_id_order", live_feed_in_id_order),
    ("evidence_cameras_follow_rows", evidence_cameras_follow_rows),
    ("cameras_and_runs", cameras_and_runs),
    ("events_roundtrip_and_filters", events_roundtrip_and_filters),
    ("events_are_idempotent_by_key", events_are_idempotent_by_key),
    ("bus_ingest_runs_and_outcomes", bus_ingest_runs_and_outcomes),
    (
        "concurrent_redeliveries_store_once",
        concurrent_redeliveries_store_once,
    ),
    ("tracks_merge", tracks_merge),
    ("plate_reads", plate_reads),
    ("face_sightings", face_sightings),
    ("watchlist_gallery", watchlist_gallery),
    ("hotlists", hotlists),
    ("audit_chain", audit_chain),
    (
        "concurrent_audit_appends_chain",
        concurrent_audit_appends_chain,
    ),
];

fn template(model: &str, seed: f32) -> NewTemplate {
    NewTemplate {
        model: model.into(),
        embedding: (0..512).map(|i| ((i as f32) * seed).sin()).collect(),
        quality: serde_json::json!({ "score": seed }),
        photo_hash: None,
    }
}

/// The watchlist gallery (lists, persons, sealed templates): the same
/// answers, checks and change counter on both backends, so the face service
/// loads the same gallery from either.
fn watchlist_gallery(s: &dyn StoreBackend) {
    let (w, created) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.4, 5)
        .unwrap();
    assert!(created);
    assert_eq!(
        (w.name.as_str(), w.threshold, w.priority),
        ("wanted", 0.4, 5)
    );
    let g1 = s.watchlist_generation().unwrap();
    // Asking again returns the list as it is, and changes nothing.
    let (again, created) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.9, 0)
        .unwrap();
    assert!(!created);
    assert_eq!(again, w);
    assert_eq!(s.watchlist_generation().unwrap(), g1);
    let e = s
        .ensure_watchlist("wanted", WatchlistCategory::Missing, 0.4, 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("exists with category wanted"), "{e}");
    assert!(s
        .ensure_watchlist(" ", WatchlistCategory::Wanted, 0.4, 0)
        .is_err());
    assert!(s
        .ensure_watchlist("x", WatchlistCategory::Wanted, 1.5, 0)
        .is_err());
    let (lost, _) = s
        .ensure_watchlist("lost", WatchlistCategory::Missing, 0.42, 1000)
        .unwrap();
    assert_eq!(
        s.watchlists()
            .unwrap()
            .iter()
            .map(|w| w.name.as_str())
            .collect::<Vec<_>>(),
        ["lost", "wanted"]
    );
    assert_eq!(s.watchlist("lost").unwrap(), Some(lost.clone()));
    assert_eq!(s.watchlist("nope").unwrap(), None);

    // Refused before anything is stored.
    let none = PersonScope::default();
    let legal = LegalBasis::default();
    for (name, templates, scope) in [
        ("nobody", vec![], none.clone()),
        ("", vec![template("m", 1.0)], none.clone()),
        (
            "nan",
            vec![NewTemplate {
                embedding: vec![f32::NAN; 4],
                ..template("m", 1.0)
            }],
            none.clone(),
        ),
        (
            "no cameras",
            vec![template("m", 1.0)],
            PersonScope {
                cameras: Some(vec![]),
                temporary: false,
            },
        ),
        (
            "temporary without expiry",
            vec![template("m", 1.0)],
            PersonScope {
                cameras: None,
                temporary: true,
            },
        ),
    ] {
        assert!(
            s.add_person_scoped(w.id, name, None, &legal, &scope, &templates)
                .is_err(),
            "{name:?} accepted"
        );
    }
    let e = s
        .add_person_scoped(999_999, "x", None, &legal, &none, &[template("m", 1.0)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("does not exist"), "{e}");
    assert!(s.persons(None).unwrap().is_empty());

    let basis = LegalBasis {
        case_number: Some("C-1".into()),
        authority: Some("court".into()),
        expires: Some(Timestamp::from_millis(9_000_000_000_000)),
    };
    let ann = s
        .add_person_scoped(
            w.id,
            "Ann",
            Some("note"),
            &basis,
            &none,
            &[template("m", 1.0), template("m", 2.0)],
        )
        .unwrap();
    assert_eq!(
        (
            ann.watchlist.as_str(),
            ann.templates,
            &ann.legal,
            ann.notes.as_deref()
        ),
        ("wanted", 2, &basis, Some("note"))
    );
    let child_scope = PersonScope {
        cameras: Some(vec!["gate".into(), "hall".into()]),
        temporary: true,
    };
    let child = s
        .add_person_scoped(
            lost.id,
            "Child",
            None,
            &LegalBasis {
                expires: Some(Timestamp::from_millis(5_000)),
                ..Default::default()
            },
            &child_scope,
            &[template("m", 3.0)],
        )
        .unwrap();
    assert_eq!(child.cameras, child_scope.cameras);
    assert!(child.temporary);
    let bob = s
        .add_person_scoped(w.id, "Bob", None, &legal, &none, &[template("other", 4.0)])
        .unwrap();
    assert_eq!(s.person(ann.id).unwrap(), Some(ann.clone()));
    assert_eq!(s.person(999_999).unwrap(), None);
    assert_eq!(
        s.persons(None)
            .unwrap()
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["Child", "Ann", "Bob"],
        "by list name, then id"
    );
    assert_eq!(s.persons(Some(w.id)).unwrap().len(), 2);

    // The gallery: templates of one model, opened, with person and list.
    let g = s.face_templates("m").unwrap();
    assert_eq!(g.len(), 3);
    assert!(g.windows(2).all(|p| p[0].template_id < p[1].template_id));
    assert_eq!(g[0].person_id, ann.id);
    assert_eq!(g[0].embedding, template("m", 1.0).embedding);
    assert_eq!(g[1].embedding, template("m", 2.0).embedding);
    assert_eq!(g[0].watchlist, w);
    assert_eq!(g[0].expires, basis.expires);
    assert_eq!(g[2].person_name, "Child");
    assert_eq!(g[2].cameras, child_scope.cameras);
    assert_eq!(s.face_templates_of_other_models("m").unwrap(), 1);
    assert_eq!(s.face_templates("other").unwrap()[0].person_id, bob.id);

    // Temporary entries go at their expiry, with their templates.
    let g2 = s.watchlist_generation().unwrap();
    assert!(s
        .purge_expired_temporary(Timestamp::from_millis(4_999))
        .unwrap()
        .is_empty());
    assert_eq!(
        s.purge_expired_temporary(Timestamp::from_millis(5_000))
            .unwrap(),
        [child.id]
    );
    assert_ne!(s.watchlist_generation().unwrap(), g2);
    assert_eq!(s.face_templates("m").unwrap().len(), 2);

    // Removal takes the templates along.
    let g3 = s.watchlist_generation().unwrap();
    assert!(s.remove_person(ann.id).unwrap());
    assert!(!s.remove_person(ann.id).unwrap());
    assert_ne!(s.watchlist_generation().unwrap(), g3);
    assert!(s.face_templates("m").unwrap().is_empty());
    assert_eq!(
        s.persons(None).unwrap(),
        [s.person(bob.id).unwrap().unwrap()]
    );
}

fn wanted(plate: &str) -> NewHotlistEntry {
    NewHotlistEntry {
        plate: plate.into(),
        reason: "stolen".into(),
        priority: 1,
        expires: None,
        notes: String::new(),
    }
}

/// Plate hotlists: the same answers, checks and change counter on both
/// backends, so a plate matcher loads the same entries from either.
fn hotlists(s: &dyn StoreBackend) {
    let g0 = s.hotlist_generation().unwrap();
    let h = s.ensure_hotlist("stolen", "stolen vehicles").unwrap();
    assert_eq!(
        (h.name.as_str(), h.description.as_str(), h.entries),
        ("stolen", "stolen vehicles", 0)
    );
    assert_eq!(
        s.ensure_hotlist("stolen", "").unwrap().description,
        "stolen vehicles"
    );
    assert_eq!(
        s.hotlist_generation().unwrap(),
        g0,
        "an empty list matches nothing"
    );
    assert!(s.ensure_hotlist("bad name!", "").is_err());
    // All or nothing, the bad entry named by its position.
    let e = s
        .add_hotlist_entries("stolen", vec![wanted("AB 123-CD"), wanted("--")])
        .unwrap_err()
        .to_string();
    assert!(e.contains("entry 2"), "{e}");
    assert!(s.hotlist_entries(None).unwrap().is_empty());
    let ids = s
        .add_hotlist_entries("stolen", vec![wanted("ZZ 999"), wanted("AB 123-CD")])
        .unwrap();
    assert_eq!(ids.len(), 2);
    let g1 = s.hotlist_generation().unwrap();
    assert_ne!(g1, g0);
    // A list made on the fly by its first entry.
    let mut urgent = wanted("b7");
    urgent.expires = Some(Timestamp::from_millis(5_000));
    urgent.priority = 9;
    s.add_hotlist_entries("amber", vec![urgent]).unwrap();
    let all = s.hotlist_entries(None).unwrap();
    assert_eq!(
        all.iter()
            .map(|e| (e.list.as_str(), e.plate_norm.as_str()))
            .collect::<Vec<_>>(),
        [("amber", "B7"), ("stolen", "AB123CD"), ("stolen", "ZZ999")],
        "by list, then plate"
    );
    assert_eq!(all[0].expires, Some(Timestamp::from_millis(5_000)));
    assert_eq!(all[1].plate, "AB 123-CD", "kept as entered");
    assert_eq!(s.hotlist_entries(Some("stolen")).unwrap().len(), 2);
    assert_eq!(
        s.hotlist_entry(ids[0]).unwrap().unwrap().plate_norm,
        "ZZ999"
    );
    assert_eq!(s.hotlist_entry(999_999).unwrap(), None);
    let lists = s.hotlists().unwrap();
    assert_eq!(
        lists
            .iter()
            .map(|h| (h.name.as_str(), h.entries))
            .collect::<Vec<_>>(),
        [("amber", 1), ("stolen", 2)]
    );
    assert!(s.remove_hotlist_entry(ids[0]).unwrap());
    assert!(!s.remove_hotlist_entry(ids[0]).unwrap());
    assert_ne!(s.hotlist_generation().unwrap(), g1);
    assert_eq!(s.hotlist_entries(Some("stolen")).unwrap().len(), 1);
}

/// PostgreSQL-only checks of what SQLite enforces by its own triggers.
fn pg_audit_is_append_only_and_tamper_evident(s: &PgStore) {
    for i in 0..3 {
        s.append_audit(NewAuditEntry {
            action: format!("a{i}"),
            outcome: "ok".into(),
            ..Default::default()
        })
        .unwrap();
    }
    let refused = s.run(|pool| async move {
        Ok(
            sqlx::query("UPDATE audit_log SET outcome = 'denied' WHERE seq = 2")
                .execute(&pool)
                .await
                .map_err(|e| e.to_string()),
        )
    });
    let err = refused.unwrap().unwrap_err();
    assert!(err.contains("append-only"), "{err}");
    // Someone who disables the trigger is caught by the chain.
    s.run(|pool| async move {
        sqlx::raw_sql(
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update;
             UPDATE audit_log SET outcome = 'denied' WHERE seq = 2;",
        )
        .execute(&pool)
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(())
    })
    .unwrap();
    let v = s.verify_audit().unwrap();
    assert_eq!(v.first_bad.unwrap().seq, 2);
}

fn pg_vector_engine_names_missing_extension(s: &PgStore) {
    // pgvector is not in Debian 12, so the real server here lacks it: the
    // adapter must refuse at open with an error that says so.
    let err = match store_pg::vector::PgVectorEngine::open(s, 512) {
        Ok(e) => {
            // A server with pgvector: exercise it for real.
            use index::VectorItem;
            e.upsert(&[VectorItem {
                id: 1,
                camera: "c".into(),
                ts: 5,
                vector: vec![1.0; 512],
            }])
            .unwrap();
            let hits = e.search(&[1.0; 512], 1, &VectorFilter::default()).unwrap();
            assert_eq!(hits[0].id, 1);
            return;
        }
        Err(e) => e.to_string(),
    };
    assert!(err.contains("pgvector"), "{err}");
}

/// A JPEG-shaped blob with its hash (the blob stores check content).
fn blob(tag: &str) -> (String, Vec<u8>) {
    let bytes = format!("evidence {tag}").into_bytes();
    (store::blob::content_hash(&bytes), bytes)
}

fn pg_retention_deletes_what_is_due_with_its_evidence_and_audits_it(s: &Arc<PgStore>) {
    use store::{EvidenceBlobs, RetentionCap, RetentionPolicy};
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let local = store::LocalEvidence::new(dir.path());
    let blobs =
        store_pg::IndexedBlobs::new(Arc::new(store::LocalEvidence::new(dir.path())), s.clone());
    let [old_ev, shared, claimed, gate, track_crop, read_crop, new_ev] =
        ["old", "shared", "claimed", "gate", "track", "read", "new"].map(|t| {
            let (h, b) = blob(t);
            blobs.put_image(&h, &b, 64, 48).unwrap();
            h
        });
    // The same content twice in one batch is one index row.
    let (h, b) = blob("old");
    blobs.put_image(&h, &b, 64, 48).unwrap();
    blobs.flush().unwrap();
    assert_eq!(s.counts().unwrap().evidence_files, 7, "puts are indexed");

    let now = Timestamp(1_900_000_000_000);
    let run = s.create_run("t", None).unwrap();
    let mut e_old = ev("north", "zone_enter", now.0 - 40 * DAY);
    e_old.evidence = Some(old_ev.clone());
    e_old.details = serde_json::json!({"frame": shared, "clip": {"file": claimed}});
    let mut e_new = ev("north", "zone_enter", now.0 - DAY);
    e_new.evidence = Some(shared.clone());
    let mut e_gate = ev("gate", "line_cross", now.0 - 10 * DAY);
    e_gate.evidence = Some(gate.clone());
    s.ingest_events(Some(run), plain(vec![e_old, e_new, e_gate]))
        .unwrap();
    let track = |id: u64, last: i64, crop: Option<String>| TrackRecord {
        run_id: run,
        camera: "north".into(),
        track_id: id,
        label: Some("person".into()),
        first_seen: Timestamp(last - 1000),
        last_seen: Timestamp(last),
        frames: 3,
        best_score: 0.8,
        best_crop: crop,
        trajectory: Vec::new(),
    };
    s.upsert_tracks(vec![
        track(1, now.0 - 40 * DAY, Some(track_crop.clone())),
        track(2, now.0 - DAY, None),
    ])
    .unwrap();
    let mut r_old = read("north", "AB123CD", now.0 - 40 * DAY);
    r_old.plate_crop = Some(read_crop.clone());
    r_old.vehicle_crop = Some(shared.clone());
    s.ingest_plate_reads(vec![
        Keyed::plain(r_old),
        Keyed::plain(read("north", "XY999ZZ", now.0 - DAY)),
    ])
    .unwrap();
    let mut unmatched = sighting("north", now.0 - 2 * DAY, 0.3);
    unmatched.crop = None;
    let mut matched = unmatched.clone();
    matched.matched_person = Some(7);
    s.ingest_sightings(vec![Keyed::plain(unmatched), Keyed::plain(matched)])
        .unwrap();

    let policy = RetentionPolicy {
        events: std::time::Duration::from_secs(30 * 86_400),
        evidence: std::time::Duration::from_secs(3650 * 86_400),
        face_unmatched: std::time::Duration::from_secs(86_400),
        face_matched: std::time::Duration::from_secs(90 * 86_400),
        plate_reads: std::time::Duration::from_secs(30 * 86_400),
    };
    let caps = vec![RetentionCap {
        reason: "owner city agreement A-1".into(),
        cameras: vec!["gate".into()],
        keep: std::time::Duration::from_secs(7 * 86_400),
    }];
    let claimed_hash = claimed.clone();
    let claims: store_pg::FileClaimed = Arc::new(move |h: &str| h == claimed_hash);
    let exists = |h: &str| local.exists(h).unwrap();

    // A dry run reports the same and changes nothing.
    let dry = s
        .retention_pass(policy, caps.clone(), now, true, claims.clone(), &blobs)
        .unwrap();
    assert!(dry.dry_run);
    assert_eq!(dry.class("events").unwrap().rows, 2);
    assert_eq!(s.events(&EventQuery::default()).unwrap().len(), 3);
    assert!(exists(&old_ev));
    assert!(s.audit_entries(None, 10).unwrap().is_empty());

    let r = s
        .retention_pass(policy, caps, now, false, claims, &blobs)
        .unwrap();
    let ev_c = r.class("events").unwrap();
    assert_eq!(
        (ev_c.rows, ev_c.by_agreement, ev_c.related_rows),
        (2, 1, 1),
        "the 40-day event, the capped 10-day gate event and the old track"
    );
    // The old event's main evidence, the gate's and the old track's crop
    // are released; `shared` is still used, `claimed` is another store's.
    assert_eq!(ev_c.files, 3, "{ev_c:?}");
    let left = s.events(&EventQuery::default()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].evidence.as_deref(), Some(shared.as_str()));
    assert_eq!(s.tracks("north", None, 10).unwrap().len(), 1);
    let pr = r.class("plate_reads").unwrap();
    assert_eq!((pr.rows, pr.files), (1, 1));
    let fs = r.class("face_sightings").unwrap();
    assert_eq!(
        fs.rows, 1,
        "the unmatched 2-day sighting; the matched one stays"
    );
    assert_eq!(r.sighting_ids.len(), 1);
    assert_eq!(
        s.sightings(&SightingQuery::default(), 10).unwrap()[0].matched_person,
        Some(7)
    );
    for h in [&old_ev, &gate, &track_crop, &read_crop] {
        assert!(!exists(h), "released file {h} deleted");
        assert!(
            s.evidence_cameras(h).unwrap().is_empty(),
            "links of {h} gone"
        );
    }
    for h in [&shared, &claimed, &new_ev] {
        assert!(exists(h), "file {h} kept");
    }
    assert_eq!(
        s.counts().unwrap().evidence_files,
        2,
        "`claimed` left this database's index; its file is the other store's"
    );
    // One audit entry per class that lost anything, in the same chain.
    let audit = s.audit_entries(None, 10).unwrap();
    let mut targets: Vec<_> = audit.iter().filter_map(|e| e.target.clone()).collect();
    targets.sort();
    assert_eq!(targets, ["events", "face_sightings", "plate_reads"]);
    assert!(audit.iter().all(|e| e.action == "retention.purge"));
    let ev_audit = audit
        .iter()
        .find(|e| e.target.as_deref() == Some("events"))
        .unwrap();
    assert!(
        ev_audit
            .reason
            .as_deref()
            .unwrap()
            .contains("agreement A-1"),
        "{ev_audit:?}"
    );
    assert_eq!(r.audit_seqs.len(), 3);
    assert!(s.verify_audit().unwrap().first_bad.is_none());

    // Evidence past its own age goes whatever refers to it: the reference
    // in the row that stays is cleared.
    let evidence_only = RetentionPolicy {
        events: policy.face_matched * 100,
        face_matched: policy.face_matched * 100,
        face_unmatched: policy.face_matched * 100,
        plate_reads: policy.face_matched * 100,
        evidence: std::time::Duration::from_secs(86_400),
    };
    use base::Clock;
    let later = Timestamp(now.0.max(base::SystemClock.now().0) + 2 * DAY);
    let never: store_pg::FileClaimed = Arc::new(|_: &str| false);
    let r = s
        .retention_pass(evidence_only, Vec::new(), later, false, never, &blobs)
        .unwrap();
    let evc = r.class("evidence").unwrap();
    assert_eq!((evc.rows, evc.files), (2, 2), "{evc:?}");
    assert_eq!(
        evc.references_cleared, 1,
        "the new event's evidence: {evc:?}"
    );
    assert!(!exists(&shared) && !exists(&new_ev));
    assert!(exists(&claimed), "never this database's to delete");
    assert_eq!(s.events(&EventQuery::default()).unwrap()[0].evidence, None);
    assert_eq!(s.counts().unwrap().evidence_files, 0);
}

fn pg_retention_keeps_what_a_lock_holds(s: &Arc<PgStore>) {
    use store::{EvidenceBlobs, RetentionPolicy};
    const DAY: i64 = 86_400_000;
    let dir = tempfile::tempdir().unwrap();
    let local = store::LocalEvidence::new(dir.path());
    let blobs =
        store_pg::IndexedBlobs::new(Arc::new(store::LocalEvidence::new(dir.path())), s.clone());
    let [main, frame, track_crop, face_crop, plate_crop, loose] =
        ["main", "frame", "track", "face", "plate", "loose"].map(|t| {
            let (h, b) = blob(t);
            blobs.put_image(&h, &b, 64, 48).unwrap();
            h
        });
    blobs.flush().unwrap();
    let now = Timestamp(1_900_000_000_000);
    let old = now.0 - 400 * DAY;
    let run = s.create_run("t", None).unwrap();
    let mut f = sighting("north", old, 0.2);
    f.crop = Some(face_crop.clone());
    let mut f2 = f.clone();
    f2.crop = None;
    let sids = s
        .ingest_sightings(vec![Keyed::plain(f), Keyed::plain(f2)])
        .unwrap();
    let mut r = read("north", "AB123CD", old);
    r.plate_crop = Some(plate_crop.clone());
    let rids = s
        .ingest_plate_reads(vec![
            Keyed::plain(r),
            Keyed::plain(read("north", "XY999ZZ", old)),
        ])
        .unwrap();
    let mut case = ev("north", "face_match", old);
    case.evidence = Some(main.clone());
    case.details = serde_json::json!({
        "frame_evidence": frame, "sightings": [sids[0]], "plate_read_id": rids[0]
    });
    let mut free = ev("north", "zone_enter", old);
    free.track_id = Some(99);
    free.evidence = Some(loose.clone());
    let ids: Vec<i64> = s
        .ingest_events(Some(run), plain(vec![case, free]))
        .unwrap()
        .iter()
        .map(|e| e.id.unwrap())
        .collect();
    let track = |id: u64, crop: Option<String>| TrackRecord {
        run_id: run,
        camera: "north".into(),
        track_id: id,
        label: Some("person".into()),
        first_seen: Timestamp(old - 1000),
        last_seen: Timestamp(old),
        frames: 3,
        best_score: 0.8,
        best_crop: crop,
        trajectory: Vec::new(),
    };
    s.upsert_tracks(vec![track(7, Some(track_crop.clone())), track(99, None)])
        .unwrap();
    s.review(ids[0], "ann", store::ReviewAction::Ack, None, None)
        .unwrap();
    s.review(ids[1], "ann", store::ReviewAction::Ack, None, None)
        .unwrap();
    s.lock_event(ids[0], "CASE-9", "robbery", "ann").unwrap();

    // Every class due, evidence included: only what the lock holds stays.
    let short = std::time::Duration::from_secs(86_400);
    let policy = RetentionPolicy {
        events: short,
        evidence: short,
        face_unmatched: short,
        face_matched: short,
        plate_reads: short,
    };
    let never: store_pg::FileClaimed = Arc::new(|_: &str| false);
    let r = s
        .retention_pass(policy, Vec::new(), now, false, never.clone(), &blobs)
        .unwrap();
    assert_eq!(r.class("events").unwrap().rows, 1, "the unlocked event");
    assert_eq!(r.class("events").unwrap().related_rows, 1, "track 99");
    assert_eq!(r.class("face_sightings").unwrap().rows, 1);
    assert_eq!(r.sighting_ids, [sids[1]]);
    assert_eq!(r.class("plate_reads").unwrap().rows, 1);
    let left = s.events(&EventQuery::default()).unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, Some(ids[0]));
    assert_eq!(left[0].evidence.as_deref(), Some(main.as_str()));
    assert_eq!(s.tracks("north", None, 10).unwrap().len(), 1);
    assert_eq!(
        s.sightings(&SightingQuery::default(), 10).unwrap()[0].id,
        sids[0]
    );
    assert_eq!(
        s.plate_reads(&PlateReadQuery {
            limit: 10,
            ..Default::default()
        })
        .unwrap()[0]
            .id,
        rids[0]
    );
    for h in [&main, &frame, &track_crop, &face_crop, &plate_crop] {
        assert!(local.exists(h).unwrap(), "locked evidence {h} kept");
    }
    assert!(!local.exists(&loose).unwrap());
    assert!(
        s.review_state(ids[1]).unwrap().is_none(),
        "review went with its event"
    );
    assert_eq!(s.review_history(ids[0]).unwrap().len(), 1);

    // Lifted, the next pass deletes it all.
    s.unlock_event(ids[0]).unwrap();
    let r = s
        .retention_pass(policy, Vec::new(), now, false, never, &blobs)
        .unwrap();
    assert_eq!(r.class("events").unwrap().rows, 1);
    assert!(s.events(&EventQuery::default()).unwrap().is_empty());
    assert!(s.review_history(ids[0]).unwrap().is_empty());
    for h in [&main, &frame, &track_crop, &face_crop, &plate_crop] {
        assert!(!local.exists(h).unwrap(), "{h} released with the lock");
    }
    assert_eq!(s.counts().unwrap().evidence_files, 0);
}

/// Face embeddings are stored sealed (schema 6): not in the clear, under the
/// configured key, bound to their row; refused without a key; rows written
/// in the clear before schema 6 stay readable.
fn pg_sighting_embeddings_are_sealed(url: &str, s: &PgStore) {
    let key = s.seal_key().expect("the harness sets a key");
    // Unkeyed rows around a key repeated inside the batch.
    let batch = vec![
        Keyed::plain(sighting("a", 1_000, 0.1)),
        Keyed::with_key("k/1", sighting("a", 2_000, 0.2)),
        Keyed::plain(sighting("a", 3_000, 0.3)),
        Keyed::with_key("k/1", sighting("a", 2_000, 0.2)),
    ];
    let ids = s.ingest_sightings(batch.clone()).unwrap();
    assert_eq!(ids[1], ids[3], "a key repeated in the batch is one row");
    assert!(ids[0] < ids[1] && ids[1] < ids[2], "{ids:?}");
    let raw = |id: i64| -> (Vec<u8>, Option<String>) {
        s.run(move |pool| async move {
            Ok(
                sqlx::query_as("SELECT embedding, key_id FROM face_sighting WHERE id = $1")
                    .bind(id)
                    .fetch_one(&pool)
                    .await
                    .unwrap(),
            )
        })
        .unwrap()
    };
    let plain = |v: &[f32]| -> Vec<u8> { v.iter().flat_map(|x| x.to_le_bytes()).collect() };
    for (i, id) in ids.iter().take(3).enumerate() {
        let (blob, key_id) = raw(*id);
        assert_eq!(key_id.as_deref(), Some(key.id()));
        let clear = plain(&batch[i].item.embedding);
        assert_ne!(blob, clear);
        assert!(
            !blob.windows(16).any(|w| w == &clear[..16]),
            "no run of the clear embedding is stored"
        );
    }
    let back = s.sighting_embeddings("arcface", 0, 10).unwrap();
    assert_eq!(back.len(), 3);
    for ((id, v), i) in back.iter().zip([0, 1, 2]) {
        assert_eq!(*id, ids[i]);
        assert_eq!(v, &batch[i].item.embedding);
    }

    // Without a key: nothing is written, sealed rows do not open.
    let bare = PgStore::connect(&PgConfig::new(url)).unwrap();
    let e = bare
        .ingest_sightings(vec![Keyed::plain(sighting("a", 4_000, 0.4))])
        .unwrap_err()
        .to_string();
    assert!(e.contains("no key is configured"), "{e}");
    assert!(bare.sighting_embeddings("arcface", 0, 10).is_err());
    drop(bare);

    // A sealed embedding copied onto another row does not open there.
    let (id0, id2) = (ids[0], ids[2]);
    s.run(move |pool| async move {
        sqlx::query(
            "UPDATE face_sighting SET embedding = (SELECT embedding FROM face_sighting \
             WHERE id = $1) WHERE id = $2",
        )
        .bind(id0)
        .bind(id2)
        .execute(&pool)
        .await
        .unwrap();
        Ok(())
    })
    .unwrap();
    assert!(s.sighting_embeddings("arcface", 0, 10).is_err());

    // A row from before schema 6 (clear, no key id) reads as it is.
    let legacy: Vec<f32> = (0..512).map(|i| i as f32 / 512.0).collect();
    let bytes = plain(&legacy);
    let old = s
        .run(move |pool| async move {
            Ok(sqlx::query_scalar::<_, i64>(
                "INSERT INTO face_sighting (camera, ts, model, embedding, x1, y1, x2, y2, \
                 quality, created) VALUES ('a', 5000, 'legacy', $1, 0, 0, 1, 1, 0.5, 0) \
                 RETURNING id",
            )
            .bind(bytes)
            .fetch_one(&pool)
            .await
            .unwrap())
        })
        .unwrap();
    assert_eq!(
        s.sighting_embeddings("legacy", 0, 10).unwrap(),
        [(old, legacy)]
    );
}

/// `kuzet keys rotate --database`: every sighting embedding re-sealed under
/// the new key (plain legacy rows too), resumable, and a row under a third
/// key stops it with its id.
fn pg_sightings_are_resealed_on_rotation(url: &str, s: &PgStore) {
    let old = s.seal_key().unwrap();
    let ids = s
        .ingest_sightings(
            (0..70)
                .map(|i| Keyed::plain(sighting("a", i, 0.01 * i as f32)))
                .collect(),
        )
        .unwrap();
    let legacy: Vec<f32> = vec![0.5; 512];
    let bytes: Vec<u8> = legacy.iter().flat_map(|x| x.to_le_bytes()).collect();
    s.run(move |pool| async move {
        sqlx::query(
            "INSERT INTO face_sighting (camera, ts, model, embedding, x1, y1, x2, y2, \
             quality, created) VALUES ('a', 9, 'arcface', $1, 0, 0, 1, 1, 0.5, 0)",
        )
        .bind(bytes)
        .execute(&pool)
        .await
        .unwrap();
        Ok(())
    })
    .unwrap();
    let before = s.sighting_embeddings("arcface", 0, 100).unwrap();
    let new = Arc::new(store::SealKey::generate().0);
    let r = s.reseal_sightings(old.clone(), new.clone()).unwrap();
    assert_eq!((r.resealed, r.already), (71, 0));
    assert_eq!(r.batches, 2, "batches of ROTATE_BATCH");
    // Under the new key only: a store with it reads everything as before.
    let fresh = PgStore::connect(&PgConfig::new(url)).unwrap();
    fresh.set_seal_key(new.clone());
    assert_eq!(
        fresh.sighting_embeddings("arcface", 0, 100).unwrap(),
        before
    );
    let again = s.reseal_sightings(old.clone(), new.clone()).unwrap();
    assert_eq!((again.resealed, again.already), (0, 71));
    // A row under a key neither side holds stops the rotation, named.
    let third = store::SealKey::generate().0;
    let sealed = store::sealed_faces::seal_sighting_embedding(&third, ids[3], &legacy).unwrap();
    let (tid, id3) = (third.id().to_owned(), ids[3]);
    s.run(move |pool| async move {
        sqlx::query("UPDATE face_sighting SET embedding = $1, key_id = $2 WHERE id = $3")
            .bind(sealed)
            .bind(tid)
            .bind(id3)
            .execute(&pool)
            .await
            .unwrap();
        Ok(())
    })
    .unwrap();
    let e = s
        .reseal_sightings(new, Arc::new(store::SealKey::generate().0))
        .unwrap_err()
        .to_string();
    assert!(e.contains(&format!("face_sighting {}", ids[3])), "{e}");
}

/// Watchlist templates (schema 7) are stored sealed like sightings: bound to
/// their row, refused without a key, and re-sealed by `kuzet keys rotate
/// --database` in resumable batches.
fn pg_templates_are_sealed_and_resealed(url: &str, s: &PgStore) {
    let key = s.seal_key().expect("the harness sets a key");
    let (w, _) = s
        .ensure_watchlist("wanted", WatchlistCategory::Wanted, 0.4, 0)
        .unwrap();
    let templates: Vec<NewTemplate> = (0..70).map(|i| template("m", 0.1 + i as f32)).collect();
    let p = s
        .add_person_scoped(
            w.id,
            "Ann",
            None,
            &LegalBasis::default(),
            &PersonScope::default(),
            &templates,
        )
        .unwrap();
    assert_eq!(p.templates, 70);
    let raw: Vec<(i64, Vec<u8>, Option<String>)> = s
        .run(|pool| async move {
            Ok(
                sqlx::query_as("SELECT id, embedding, key_id FROM face_template ORDER BY id")
                    .fetch_all(&pool)
                    .await
                    .unwrap(),
            )
        })
        .unwrap();
    for ((_, blob, key_id), t) in raw.iter().zip(&templates) {
        assert_eq!(key_id.as_deref(), Some(key.id()));
        let clear: Vec<u8> = t.embedding.iter().flat_map(|x| x.to_le_bytes()).collect();
        assert!(
            !blob.windows(16).any(|w| w == &clear[..16]),
            "no run of the clear template is stored"
        );
    }
    let before = s.face_templates("m").unwrap();
    assert_eq!(
        before.iter().map(|t| &t.embedding).collect::<Vec<_>>(),
        templates.iter().map(|t| &t.embedding).collect::<Vec<_>>()
    );

    // Without the key: nothing enrolled, nothing opened.
    let bare = PgStore::connect(&PgConfig::new(url)).unwrap();
    let e = bare
        .add_person_scoped(
            w.id,
            "Bob",
            None,
            &LegalBasis::default(),
            &PersonScope::default(),
            &[template("m", 9.0)],
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("no key is configured"), "{e}");
    assert!(bare.face_templates("m").is_err());
    assert_eq!(bare.persons(None).unwrap().len(), 1, "lists stay readable");
    drop(bare);

    // Rotation: everything under the new key, resumable, same embeddings.
    let new = Arc::new(store::SealKey::generate().0);
    let r = s.reseal_templates(key.clone(), new.clone()).unwrap();
    assert_eq!((r.resealed, r.already, r.batches), (70, 0, 2));
    let fresh = PgStore::connect(&PgConfig::new(url)).unwrap();
    fresh.set_seal_key(new.clone());
    assert_eq!(fresh.face_templates("m").unwrap(), before);
    let again = s.reseal_templates(key, new).unwrap();
    assert_eq!((again.resealed, again.already), (0, 70));

    // A sealed template copied onto another row does not open there.
    let (a, b) = (raw[0].0, raw[1].0);
    s.run(move |pool| async move {
        sqlx::query(
            "UPDATE face_template SET embedding = (SELECT embedding FROM face_template \
             WHERE id = $1) WHERE id = $2",
        )
        .bind(a)
        .bind(b)
        .execute(&pool)
        .await
        .unwrap();
        Ok(())
    })
    .unwrap();
    let e = fresh.face_templates("m").unwrap_err().to_string();
    assert!(e.contains(&format!("face_template {b}")), "{e}");
}

/// A serve node on PostgreSQL keeps the face crops of PostgreSQL's sightings
/// in its own store (sealed, indexed there, referred to only from
/// PostgreSQL). When PostgreSQL's retention deletes a sighting, its crop
/// goes from the serve node's store too, with its index row — unless a row
/// of that store refers to it.
fn pg_retention_releases_the_serve_nodes_face_crops(s: &Arc<PgStore>) {
    use store::{EvidenceBlobs, RetentionPolicy};
    let dir = tempfile::tempdir().unwrap();
    let local = Arc::new(Store::open(&dir.path().join("serve")).unwrap());
    let bucket = Arc::new(store::LocalEvidence::new(dir.path().join("bucket")));
    let jpeg = |seed: u8| {
        let rgb: Vec<u8> = (0..16 * 16 * 3)
            .map(|i| (i as u8).wrapping_mul(seed))
            .collect();
        let (b, _, _) = store::encode_jpeg(&rgb, 16, 16, None, 90).unwrap();
        (store::sha256_hex(&b), b)
    };
    // Two crops moved into the serve node's store; a local event names the
    // second (a face_match raised before the switch to PostgreSQL).
    let (crop, crop_bytes) = jpeg(1);
    let (kept, kept_bytes) = jpeg(2);
    local.put_image(&crop, &crop_bytes, 16, 16).unwrap();
    local.put_image(&kept, &kept_bytes, 16, 16).unwrap();
    local.flush().unwrap();
    let mut e = ev("north", "face_match", 1_000);
    e.evidence = Some(kept.clone());
    local.insert_events(vec![e]).unwrap();
    local.flush().unwrap();

    let now = Timestamp(1_900_000_000_000);
    let mut old = sighting("north", now.0 - 2 * 86_400_000, 0.3);
    old.crop = Some(crop.clone());
    let mut other = old.clone();
    other.crop = Some(kept.clone());
    let mut fresh = old.clone();
    fresh.ts = Timestamp(now.0 - 1000);
    fresh.crop = None;
    s.ingest_sightings(vec![
        Keyed::plain(old),
        Keyed::plain(other),
        Keyed::plain(fresh),
    ])
    .unwrap();
    let policy = RetentionPolicy {
        events: std::time::Duration::from_secs(30 * 86_400),
        evidence: std::time::Duration::from_secs(3650 * 86_400),
        face_unmatched: std::time::Duration::from_secs(86_400),
        face_matched: std::time::Duration::from_secs(90 * 86_400),
        plate_reads: std::time::Duration::from_secs(30 * 86_400),
    };
    let blobs = store_pg::ReleasingLocal::new(bucket, local.clone());
    let r = s
        .retention_pass(
            policy,
            Vec::new(),
            now,
            false,
            store_pg::claimed_by(local.clone()),
            &blobs,
        )
        .unwrap();
    assert_eq!(r.class("face_sightings").unwrap().rows, 2, "{r:?}");
    assert_eq!(s.sightings(&SightingQuery::default(), 10).unwrap().len(), 1);
    assert!(
        local.evidence_path(&crop).is_none(),
        "the deleted sighting's crop stayed on the serve node"
    );
    assert!(
        local.evidence_info(&crop).unwrap().is_none(),
        "index row kept"
    );
    assert!(
        local.evidence_path(&kept).is_some(),
        "a crop a local row refers to was deleted"
    );
    assert!(local.evidence_info(&kept).unwrap().is_some());
    assert!(!blobs.exists(&crop).unwrap());
}

/// A serve node's SQLite hotlists move into PostgreSQL at `serve
/// --database` start: every entry there once, none left here, and a second
/// move (or one after a crash between the two steps) adds nothing.
fn pg_hotlists_move_from_a_serve_nodes_store(s: &PgStore) {
    let dir = tempfile::tempdir().unwrap();
    let local = Store::open(dir.path()).unwrap();
    local.ensure_hotlist("stolen", "stolen cars").unwrap();
    local
        .add_hotlist_entries("stolen", vec![wanted("AB123CD"), wanted("XY1")])
        .unwrap();
    local
        .add_hotlist_entries("amber", vec![wanted("Q7")])
        .unwrap();
    // As if a first move had added one entry and crashed.
    s.add_hotlist_entries("stolen", vec![wanted("XY1")])
        .unwrap();
    assert_eq!(store::plates::move_hotlists(&local, s).unwrap(), 3);
    assert!(local.hotlist_entries(None).unwrap().is_empty());
    let there = s.hotlist_entries(None).unwrap();
    assert_eq!(
        there
            .iter()
            .map(|e| (e.list.as_str(), e.plate_norm.as_str()))
            .collect::<Vec<_>>(),
        [("amber", "Q7"), ("stolen", "AB123CD"), ("stolen", "XY1")]
    );
    assert_eq!(
        s.hotlists().unwrap()[1].description,
        "stolen cars",
        "the list's description moves with it"
    );
    assert_eq!(store::plates::move_hotlists(&local, s).unwrap(), 0);
    assert_eq!(s.hotlist_entries(None).unwrap().len(), 3);
}

fn pg_refuses_newer_schema(url: &str, s: &PgStore) {
    s.run(|pool| async move {
        sqlx::query("INSERT INTO kuzet_schema_version VALUES (999, 'future', 0)")
            .execute(&pool)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(())
    })
    .unwrap();
    match PgStore::connect(&PgConfig::new(url)) {
        Err(StoreError::FutureSchema { found: 999, .. }) => {}
        Err(e) => panic!("expected FutureSchema, got {e}"),
        Ok(_) => panic!("a database of a newer schema was accepted"),
    }
}

fn main() {
    // libtest-style arguments: flags are ignored (the flags that take a
    // separate value swallow it), the rest filter case names.
    let mut filters: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if ["--test-threads", "--skip", "--format", "--color", "-Z"].contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            filters.push(a);
        }
    }
    let wanted = |name: &str| filters.is_empty() || filters.iter().any(|f| name.contains(f));
    let t0 = std::time::Instant::now();
    let pg = match TempPostgres::start() {
        Ok(pg) => pg,
        Err(e) => {
            eprintln!("conformance: cannot start PostgreSQL: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "conformance: PostgreSQL on 127.0.0.1:{} ready in {:.1} s",
        pg.port(),
        t0.elapsed().as_secs_f64()
    );
    let mut failed = Vec::new();
    let mut passed = 0;
    let mut db_seq = 0;
    let mut new_pg = || -> (String, Arc<PgStore>) {
        db_seq += 1;
        let url = pg.create_database(&format!("case{db_seq}")).unwrap();
        let s = Arc::new(PgStore::connect(&PgConfig::new(&url)).unwrap());
        // Face data is stored only sealed (schema 6), as in SQLite.
        s.set_seal_key(Arc::new(store::SealKey::generate().0));
        (url, s)
    };
    let mut report = |name: String, r: std::thread::Result<()>| match r {
        Ok(()) => {
            println!("test {name} ... ok");
            passed += 1;
        }
        Err(_) => {
            println!("test {name} ... FAILED");
            failed.push(name);
        }
    };
    for (name, case) in CASES {
        let sq = format!("sqlite::{name}");
        if wanted(&sq) {
            let dir = tempfile::tempdir().unwrap();
            let s = Store::open(dir.path()).unwrap();
            // The SQLite store keeps face data only sealed (migration 13).
            s.set_seal_key(std::sync::Arc::new(store::SealKey::generate().0));
            report(sq, catch_unwind(AssertUnwindSafe(|| case(&s))));
        }
        let pn = format!("postgres::{name}");
        if wanted(&pn) {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let (_, s) = new_pg();
                case(&*s)
            }));
            report(pn, r);
        }
    }
    let extra: [(&str, PgCase); 10] = [
        (
            "postgres::hotlists_move_from_a_serve_nodes_store",
            |_, s| pg_hotlists_move_from_a_serve_nodes_store(s),
        ),
        (
            "postgres::retention_releases_the_serve_nodes_face_crops",
            |_, s| pg_retention_releases_the_serve_nodes_face_crops(s),
        ),
        ("postgres::templates_are_sealed_and_resealed", |url, s| {
            pg_templates_are_sealed_and_resealed(url, s)
        }),
        ("postgres::sightings_are_resealed_on_rotation", |url, s| {
            pg_sightings_are_resealed_on_rotation(url, s)
        }),
        ("postgres::sighting_embeddings_are_sealed", |url, s| {
            pg_sighting_embeddings_are_sealed(url, s)
        }),
        ("postgres::retention_keeps_what_a_lock_holds", |_, s| {
            pg_retention_keeps_what_a_lock_holds(s)
        }),
        (
            "postgres::retention_deletes_what_is_due_with_its_evidence_and_audits_it",
            |_, s| pg_retention_deletes_what_is_due_with_its_evidence_and_audits_it(s),
        ),
        (
            "postgres::audit_is_append_only_and_tamper_evident",
            |_, s| pg_audit_is_append_only_and_tamper_evident(s),
        ),
        ("postgres::vector_engine_names_missing_extension", |_, s| {
            pg_vector_engine_names_missing_extension(s)
        }),
        ("postgres::refuses_newer_schema", |url, s| {
            pg_refuses_newer_schema(url, s)
        }),
    ];
    for (name, case) in extra {
        if wanted(name) {
            let r = catch_unwind(AssertUnwindSafe(|| {
                let (url, s) = new_pg();
                case(&url, &s)
            }));
            report(name.to_owned(), r);
        }
    }
    drop(pg);
    println!(
        "\ntest result: {}. {passed} passed; {} failed; finished in {:.2}s",
        if failed.is_empty() { "ok" } else { "FAILED" },
        failed.len(),
        t0.elapsed().as_secs_f64()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}
