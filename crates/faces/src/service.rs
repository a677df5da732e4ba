//! Everything a running kuzet does with faces, behind one object shared by
//! the live pipeline, the HTTP API and the CLI: the watchlist gallery (kept
//! in step with the store, also across processes), the sighting index for
//! retrospective search, enrolment, identification, lost-child mode and the
//! retention purge.
//!
//! The face models themselves are behind a mutex: the API and CLI use them
//! for a photo at a time. The live pipeline runs its own [`FacePipeline`] so
//! an investigator's search never waits for a camera's frames, or vice versa.

use crate::error::FacesError;
use crate::live::{group_appearances, Appearance, SightingHit};
use crate::matching::{Gallery, SearchResult, DEFAULT_THRESHOLD};
use crate::pipeline::{AnalyzedFace, FacePipeline};
use crate::watchlist::IdentifiedFace;
use base::{Clock, Timestamp};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use store::{
    Authorisation, LegalBasis, NewSighting, NewTemplate, Person, PersonScope, SightingQuery, Store,
    WatchlistCategory,
};

/// Sub-folder of the data directory holding the persisted sighting index.
pub const FACES_DIR: &str = "faces";
/// The sighting index, sealed under the store's key (it holds every
/// sighting embedding, so it must not sit on disk in the clear).
pub const SIGHTING_INDEX: &str = "sightings.sealed";
/// The sighting index over a central database's sightings (PostgreSQL):
/// its own file, as its ids are not the local store's.
pub const CENTRAL_SIGHTING_INDEX: &str = "sightings.central.sealed";
/// Plain index files written before face data was sealed (migration 13):
/// deleted at open, their content is rebuilt from the sealed rows.
const PLAIN_INDEXES: [&str; 2] = ["watchlist.idx", "sightings.idx"];

/// Name of the list lost-child entries go on.
pub const LOST_LIST: &str = "lost-children";

/// Settings of the face service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaceServiceConfig {
    /// Lowest score a retrospective-search hit may have. Equal to the
    /// watchlist default: the same measured operating point (FAR ≈ 0 on the
    /// development set) applies to "is this the same person".
    pub search_min_score: f32,
    /// Sightings further apart than this on one camera start a new appearance.
    pub appearance_gap_seconds: f32,
    /// Most hits a search ranks before grouping.
    pub search_max_hits: usize,
    /// Threshold of the lost-children list when it is created. Slightly
    /// below the default: a missed child costs more than a second look.
    pub lost_threshold: f32,
    /// `[faces] store_sightings`: searches say so when nothing is stored.
    pub store_sightings: bool,
    /// `[faces] store_unmatched_sightings`: when off, a search says that
    /// only faces that matched a watchlist entry when seen can be found.
    pub store_unmatched_sightings: bool,
}

impl Default for FaceServiceConfig {
    fn default() -> Self {
        FaceServiceConfig {
            search_min_score: DEFAULT_THRESHOLD,
            appearance_gap_seconds: 30.0,
            search_max_hits: 500,
            lost_threshold: 0.42,
            store_sightings: true,
            store_unmatched_sightings: true,
        }
    }
}

/// The searchable sightings: the ANN index plus the camera and time of each
/// id, so camera/time filters run inside the search.
struct SightingIndex {
    index: index::Index,
    meta: HashMap<u64, (Arc<str>, Timestamp)>,
    cameras: HashMap<String, Arc<str>>,
    /// Changes since the last save.
    dirty: u64,
}

impl SightingIndex {
    fn camera(&mut self, c: &str) -> Arc<str> {
        self.cameras
            .entry(c.to_owned())
            .or_insert_with(|| Arc::from(c))
            .clone()
    }
}

/// Result of a photo search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PhotoSearch {
    /// The probe face (largest face of the photo).
    pub face: AnalyzedFace,
    pub appearances: Vec<Appearance>,
    /// Sightings searched (after filters, before the score cut).
    pub indexed: usize,
    /// Set when this installation does not keep every face it sees, so an
    /// empty result must not be read as "not seen".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<String>,
}

/// Result of lost-child mode.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LostOutcome {
    pub person: Person,
    /// Sightings of the last minutes that match, grouped.
    pub appearances: Vec<Appearance>,
}

pub struct FaceService {
    store: Arc<Store>,
    /// Where sightings and the watchlist gallery are kept when not in
    /// `store`: the central database of `kuzet serve --bus --database`
    /// (PostgreSQL), shared by every serve node. Authorisations, face crops
    /// and kept enrolment photos stay in `store`.
    central: Option<Arc<dyn store::StoreBackend>>,
    clock: Arc<dyn Clock>,
    cfg: FaceServiceConfig,
    model: String,
    dir: PathBuf,
    pipeline: Mutex<FacePipeline>,
    gallery: RwLock<Arc<Gallery>>,
    generation: AtomicI64,
    sightings: RwLock<SightingIndex>,
    saving: AtomicBool,
    /// Authorisations as of `auth_generation`, reloaded when they change.
    auths: RwLock<Arc<Vec<Authorisation>>>,
    auth_generation: AtomicI64,
    /// Clock time (ms) of the last lapse sweep.
    last_sweep: AtomicI64,
}

/// How often live matching sweeps overdue urgent authorisations. Their
/// effect stops at the deadline regardless (it is computed from the clock);
/// the sweep records the lapse and purges the results.
const SWEEP_INTERVAL_MS: i64 = 60_000;

impl std::fmt::Debug for FaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceService")
            .field("model", &self.model)
            .field("dir", &self.dir)
            .finish()
    }
}

/// Associated data of the sealed sighting index: a file of another model's
/// index (or another file) cannot be passed off as this one.
fn index_aad(model: &str) -> Vec<u8> {
    format!("faces/sightings:{model}").into_bytes()
}

/// Reads the sealed sighting index; `Ok(None)` when there is none.
fn load_sealed_index(
    store: &Store,
    model: &str,
    path: &Path,
) -> Result<Option<index::Index>, FacesError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(FacesError::Io {
                path: path.to_owned(),
                source,
            })
        }
    };
    let key = store
        .seal_key()
        .ok_or_else(|| FacesError::Invalid("no key configured to open it".into()))?;
    let plain = store::sealed_faces::open_file_bytes(&key, &index_aad(model), &bytes)?;
    Ok(Some(
        index::Index::from_bytes(&plain, path).map_err(index_err(path))?,
    ))
}

/// Seals and writes the sighting index atomically (temporary file, fsync,
/// rename). Without a key nothing is written: the index is rebuilt from the
/// database at the next start instead.
fn save_sealed_index(
    store: &Store,
    model: &str,
    ix: &index::Index,
    path: &Path,
) -> Result<(), FacesError> {
    let Some(key) = store.seal_key() else {
        return Ok(());
    };
    let sealed = store::sealed_faces::seal_file_bytes(&key, &index_aad(model), &ix.to_bytes())?;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let io = |source| FacesError::Io {
        path: path.to_owned(),
        source,
    };
    std::fs::write(&tmp, &sealed).map_err(io)?;
    std::fs::File::open(&tmp)
        .and_then(|f| f.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            io(e)
        })
}

/// The persisted sighting index's file: [`SIGHTING_INDEX`], or
/// [`CENTRAL_SIGHTING_INDEX`] over a central database's sightings.
fn index_file(central: bool) -> &'static str {
    if central {
        CENTRAL_SIGHTING_INDEX
    } else {
        SIGHTING_INDEX
    }
}

/// What [`move_local_gallery`] moved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GalleryMove {
    pub persons: usize,
    pub templates: usize,
}

/// Moves the watchlist entries of a data directory's SQLite store into the
/// central database that keeps the gallery from now on (a serve node that
/// ran embedded, or on PostgreSQL before schema 7, switched to `--database`):
/// otherwise they would silently stop matching. Person by person: added
/// there (templates opened with the store's key and sealed again for their
/// new rows), then removed here, so no entry is ever in neither place. A
/// person already there with the same list, name, legal basis, scope and
/// template count was added before a crash and is only removed here. Lists
/// keep their settings; persons get new ids (the audit entry maps them).
pub fn move_local_gallery(
    store: &Store,
    central: &dyn store::StoreBackend,
) -> Result<GalleryMove, FacesError> {
    let persons = store.persons(None)?;
    let mut out = GalleryMove::default();
    if persons.is_empty() {
        return Ok(out);
    }
    let lists: HashMap<i64, store::Watchlist> =
        store.watchlists()?.into_iter().map(|w| (w.id, w)).collect();
    let there = central.persons(None)?;
    let fail = |e: store::StoreError| {
        FacesError::Invalid(format!(
            "moving this data directory's watchlist entries into the central database: {e}"
        ))
    };
    let mut ids = Vec::with_capacity(persons.len());
    for p in persons {
        let w = lists
            .get(&p.watchlist_id)
            .ok_or_else(|| FacesError::Invalid(format!("person {} has no watchlist", p.id)))?;
        let (cw, _) = central
            .ensure_watchlist(&w.name, w.category, w.threshold, w.priority)
            .map_err(fail)?;
        let templates = store.person_templates(p.id)?;
        let same = there.iter().find(|t| {
            t.watchlist == w.name
                && t.name == p.name
                && t.legal == p.legal
                && t.cameras == p.cameras
                && t.temporary == p.temporary
                && t.templates == templates.len() as u64
        });
        let new_id = match same {
            Some(t) => t.id,
            None => {
                central
                    .add_person_scoped(
                        cw.id,
                        &p.name,
                        p.notes.as_deref(),
                        &p.legal,
                        &PersonScope {
                            cameras: p.cameras.clone(),
                            temporary: p.temporary,
                        },
                        &templates,
                    )
                    .map_err(fail)?
                    .id
            }
        };
        store.remove_person(p.id)?;
        out.persons += 1;
        out.templates += templates.len();
        ids.push([p.id, new_id]);
    }
    store.append_audit(store::NewAuditEntry {
        actor: Some("kuzet".into()),
        action: "watchlist.move".into(),
        target: Some(format!("{} person(s) to the central database", out.persons)),
        outcome: "ok".into(),
        details: serde_json::json!({
            "backend": central.backend_name(),
            "templates": out.templates,
            "ids": ids,
        }),
        ..Default::default()
    })?;
    Ok(out)
}

fn index_err(path: &Path) -> impl Fn(index::IndexError) -> FacesError + '_ {
    move |e| FacesError::Invalid(format!("face index {}: {e}", path.display()))
}

impl FaceService {
    /// Opens the service on `store`: loads (or rebuilds) both indexes from
    /// `<data_dir>/faces/` and brings them in step with the database.
    pub fn open(
        store: Arc<Store>,
        pipeline: FacePipeline,
        clock: Arc<dyn Clock>,
        cfg: FaceServiceConfig,
    ) -> Result<FaceService, FacesError> {
        Self::open_with_sightings(store, None, pipeline, clock, cfg)
    }

    /// Like [`FaceService::open`], keeping sightings and the watchlist
    /// gallery in `central` (the distributed mode's database) when given:
    /// sightings are recorded, indexed from, searched and marked there, and
    /// persons are enrolled, loaded and removed there; `store` keeps the
    /// rest.
    pub fn open_with_sightings(
        store: Arc<Store>,
        central: Option<Arc<dyn store::StoreBackend>>,
        pipeline: FacePipeline,
        clock: Arc<dyn Clock>,
        cfg: FaceServiceConfig,
    ) -> Result<FaceService, FacesError> {
        let model = pipeline.model_key().to_owned();
        let dir = store.dir().join(FACES_DIR);
        std::fs::create_dir_all(&dir).map_err(|source| FacesError::Io {
            path: dir.clone(),
            source,
        })?;
        for name in PLAIN_INDEXES {
            let p = dir.join(name);
            match std::fs::remove_file(&p) {
                Ok(()) => {
                    tracing::info!(path = %p.display(), "deleted a plain face index (face data is now only kept sealed)")
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(FacesError::Io { path: p, source }),
            }
        }
        let rows: &dyn store::StoreBackend = match &central {
            Some(c) => c.as_ref(),
            None => store.as_ref(),
        };
        if central.is_some() {
            let moved = move_local_gallery(&store, rows)?;
            if moved.persons > 0 {
                tracing::info!(
                    persons = moved.persons,
                    templates = moved.templates,
                    "watchlist entries moved from this data directory into the central database"
                );
            }
        }
        let generation = rows.watchlist_generation()?;
        // The watchlist gallery is small: built in memory from the
        // decrypted templates at every start, never written to disk.
        let gallery = Gallery::load(rows, &model)?;
        let path = dir.join(index_file(central.is_some()));
        let sightings = Self::load_sightings(&store, rows, &model, &path)?;
        let svc = FaceService {
            store,
            central,
            clock,
            cfg,
            model,
            dir,
            pipeline: Mutex::new(pipeline),
            gallery: RwLock::new(Arc::new(gallery)),
            generation: AtomicI64::new(generation),
            sightings: RwLock::new(sightings),
            saving: AtomicBool::new(false),
            auths: RwLock::new(Arc::new(Vec::new())),
            auth_generation: AtomicI64::new(i64::MIN),
            last_sweep: AtomicI64::new(i64::MIN),
        };
        svc.save_sightings()?;
        Ok(svc)
    }

    /// Loads the persisted sighting index and reconciles it with the store:
    /// ids the store no longer has are removed (purged meanwhile), missing
    /// ones are added page by page.
    fn load_sightings(
        store: &Store,
        rows: &dyn store::StoreBackend,
        model: &str,
        path: &Path,
    ) -> Result<SightingIndex, FacesError> {
        let ids = rows.sighting_ids(model)?;
        let mut index = match load_sealed_index(store, model, path) {
            Ok(Some(i)) => i,
            Ok(None) => {
                index::Index::new(crate::embed::FACEPLUGIN_DIM, index::IndexParams::default())
                    .map_err(index_err(path))?
            }
            Err(e) => {
                // Another key (after a rotation), damage or tampering: the
                // database is the truth, rebuild from it.
                tracing::warn!(path = %path.display(), error = %e, "sighting index unreadable: rebuilding from the database");
                index::Index::new(crate::embed::FACEPLUGIN_DIM, index::IndexParams::default())
                    .map_err(index_err(path))?
            }
        };
        let wanted: std::collections::HashSet<u64> = ids.iter().map(|&i| i as u64).collect();
        let stale: Vec<u64> = index.ids().filter(|id| !wanted.contains(id)).collect();
        for id in &stale {
            index.remove(*id);
        }
        let mut added = 0usize;
        let missing: Vec<i64> = ids
            .iter()
            .copied()
            .filter(|&i| !index.contains(i as u64))
            .collect();
        if let Some(&first) = missing.first() {
            let mut after = first - 1;
            loop {
                let page = rows.sighting_embeddings(model, after, 4096)?;
                let Some(last) = page.last() else { break };
                after = last.0;
                for (id, v) in page {
                    if !index.contains(id as u64) {
                        if index.dim() != v.len() && index.is_empty() {
                            index = index::Index::new(v.len(), index::IndexParams::default())
                                .map_err(index_err(path))?;
                        }
                        index.insert(id as u64, &v).map_err(index_err(path))?;
                        added += 1;
                    }
                }
            }
        }
        let mut si = SightingIndex {
            index,
            meta: HashMap::new(),
            cameras: HashMap::new(),
            dirty: (stale.len() + added) as u64,
        };
        // Camera and time of every sighting, for filters.
        let all = rows.sightings(&SightingQuery::default(), usize::MAX)?;
        for s in all {
            let cam = si.camera(&s.camera);
            si.meta.insert(s.id as u64, (cam, s.ts));
        }
        if !stale.is_empty() || added > 0 {
            tracing::info!(
                removed = stale.len(),
                added,
                total = si.index.len(),
                "sighting index brought in step with the database"
            );
        }
        Ok(si)
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// Where the sightings and the watchlist gallery are: the central
    /// database, else the store. Read and change watchlists through this.
    pub fn face_data(&self) -> &dyn store::StoreBackend {
        match &self.central {
            Some(c) => c.as_ref(),
            None => self.store.as_ref(),
        }
    }

    /// Whether sightings and the gallery live in a central database rather
    /// than the store (its retention job then deletes sightings, not
    /// [`FaceService::purge`]).
    pub fn central_sightings(&self) -> bool {
        self.central.is_some()
    }

    /// Records that sightings matched a watchlist person (they then fall
    /// under the longer retention of matched data), where they are kept.
    pub fn mark_sightings_matched(&self, ids: Vec<i64>, person: i64) -> Result<(), FacesError> {
        Ok(self.face_data().mark_sightings_matched(ids, person)?)
    }

    pub fn config(&self) -> &FaceServiceConfig {
        &self.cfg
    }

    /// Manifest key of the embedding model.
    pub fn model_key(&self) -> &str {
        &self.model
    }

    /// The current gallery, reloaded first if the watchlists changed (in
    /// this process or another: the store's change counter tells).
    pub fn gallery(&self) -> Result<Arc<Gallery>, FacesError> {
        let generation = self.face_data().watchlist_generation()?;
        if generation != self.generation.load(Ordering::Acquire) {
            let g = Gallery::load(self.face_data(), &self.model)?;
            *self.gallery.write() = Arc::new(g);
            self.generation.store(generation, Ordering::Release);
            tracing::info!(generation, "watchlists changed: gallery reloaded");
        }
        Ok(self.gallery.read().clone())
    }

    /// Every authorisation, reloaded first if any changed (in this process
    /// or another: the store's change counter tells).
    pub fn authorisations(&self) -> Result<Arc<Vec<Authorisation>>, FacesError> {
        let generation = self.store.authorisation_generation()?;
        if generation != self.auth_generation.load(Ordering::Acquire) {
            let all = self.store.authorisations()?;
            *self.auths.write() = Arc::new(all);
            self.auth_generation.store(generation, Ordering::Release);
            tracing::info!(generation, "authorisations changed: reloaded");
        }
        Ok(self.auths.read().clone())
    }

    /// Records lapses of overdue urgent authorisations and purges their
    /// results, at most once per [`SWEEP_INTERVAL_MS`] of clock time.
    pub fn sweep_authorisations(&self) -> Result<Vec<store::AuthorisationLapse>, FacesError> {
        let now = self.clock.now().millis();
        let last = self.last_sweep.load(Ordering::Acquire);
        if last != i64::MIN && now - last < SWEEP_INTERVAL_MS {
            return Ok(Vec::new());
        }
        self.last_sweep.store(now, Ordering::Release);
        let lapses = self.store.lapse_overdue_authorisations()?;
        if !lapses.is_empty() {
            self.gallery()?;
        }
        Ok(lapses)
    }

    /// Searches the watchlists for a face seen on `camera` at `ts`.
    ///
    /// With a camera (live matching), only lists that an authorisation in
    /// effect now covers for that camera and moment may match: with none,
    /// the answer is "no match" without searching. Without a camera (a photo
    /// identified by an investigator) every list is searched.
    pub fn match_face(
        &self,
        embedding: &[f32],
        k: usize,
        camera: Option<&str>,
        ts: Option<Timestamp>,
    ) -> Result<SearchResult, FacesError> {
        let Some(cam) = camera else {
            return self.gallery()?.search_scoped(embedding, k, None, ts);
        };
        if let Err(e) = self.sweep_authorisations() {
            tracing::warn!(error = %e, "authorisation lapse sweep failed");
        }
        let now = self.clock.now();
        let at = ts.unwrap_or(now);
        let auths = self.authorisations()?;
        let live: Vec<&Authorisation> = auths
            .iter()
            .filter(|a| {
                a.purpose.live()
                    && a.in_effect(now)
                    && a.cameras.iter().any(|c| c == cam)
                    && a.window_contains(at)
            })
            .collect();
        if live.is_empty() {
            return Ok(SearchResult {
                candidates: Vec::new(),
                decision: crate::matching::Decision::NoMatch,
            });
        }
        let allow =
            |list: &str, cat: WatchlistCategory| live.iter().any(|a| a.covers_list(list, cat));
        self.gallery()?
            .search_lists(embedding, k, Some(cam), ts, &allow)
    }

    /// Runs the face models on one image (serialised between callers).
    pub fn analyze(&self, img: &image::RgbImage) -> Result<Vec<AnalyzedFace>, FacesError> {
        self.pipeline.lock().analyze_image(img)
    }

    /// Every face of a photo with its top-`k` watchlist candidates.
    pub fn identify(
        &self,
        img: &image::RgbImage,
        k: usize,
    ) -> Result<Vec<IdentifiedFace>, FacesError> {
        let gallery = self.gallery()?;
        let mut pipe = self.pipeline.lock();
        crate::watchlist::identify(&mut pipe, &gallery, img, k)
    }

    /// [`FaceService::identify`] restricted to the lists `allow(name,
    /// category)` accepts — those a legal authorisation covers — with
    /// entries expired now excluded; filtered inside the search.
    pub fn identify_lists(
        &self,
        img: &image::RgbImage,
        k: usize,
        allow: &dyn Fn(&str, WatchlistCategory) -> bool,
    ) -> Result<Vec<IdentifiedFace>, FacesError> {
        let gallery = self.gallery()?;
        let now = self.clock.now();
        let mut pipe = self.pipeline.lock();
        crate::watchlist::identify_lists(&mut pipe, &gallery, img, k, Some(now), allow)
    }

    /// Stores sightings and adds them to the search index; returns their ids.
    pub fn record_sightings(&self, sightings: Vec<NewSighting>) -> Result<Vec<i64>, FacesError> {
        if sightings.is_empty() {
            return Ok(Vec::new());
        }
        let meta: Vec<(String, Timestamp, Vec<f32>)> = sightings
            .iter()
            .map(|s| (s.camera.clone(), s.ts, s.embedding.clone()))
            .collect();
        let ids = match &self.central {
            Some(c) => {
                c.ingest_sightings(sightings.into_iter().map(store::Keyed::plain).collect())?
            }
            None => self.store.insert_sightings(sightings)?,
        };
        self.index_sightings(&ids, meta)?;
        Ok(ids)
    }

    /// Like [`FaceService::record_sightings`] for sightings that arrive over
    /// the bus with a dedupe key: a key stored before resolves to its row,
    /// which is not indexed a second time.
    pub fn record_sightings_keyed(
        &self,
        sightings: Vec<store::Keyed<NewSighting>>,
    ) -> Result<Vec<i64>, FacesError> {
        if sightings.is_empty() {
            return Ok(Vec::new());
        }
        let meta: Vec<(String, Timestamp, Vec<f32>)> = sightings
            .iter()
            .map(|s| (s.item.camera.clone(), s.item.ts, s.item.embedding.clone()))
            .collect();
        let ids = self.face_data().ingest_sightings(sightings)?;
        self.index_sightings(&ids, meta)?;
        Ok(ids)
    }

    fn index_sightings(
        &self,
        ids: &[i64],
        meta: Vec<(String, Timestamp, Vec<f32>)>,
    ) -> Result<(), FacesError> {
        let mut si = self.sightings.write();
        for (id, (camera, ts, v)) in ids.iter().zip(meta) {
            if si.meta.contains_key(&(*id as u64)) {
                continue;
            }
            if si.index.is_empty() && si.index.dim() != v.len() {
                si.index = index::Index::new(v.len(), index::IndexParams::default())
                    .map_err(index_err(&self.dir))?;
            }
            si.index
                .insert(*id as u64, &v)
                .map_err(index_err(&self.dir))?;
            let cam = si.camera(&camera);
            si.meta.insert(*id as u64, (cam, ts));
            si.dirty += 1;
        }
        Ok(())
    }

    /// Sightings indexed now.
    pub fn sighting_count(&self) -> usize {
        self.sightings.read().index.len()
    }

    /// Where and when a face like `embedding` was seen, grouped into
    /// appearances, best first.
    pub fn search_embedding(
        &self,
        embedding: &[f32],
        q: &SightingQuery,
        min_score: Option<f32>,
    ) -> Result<(Vec<Appearance>, usize), FacesError> {
        let min_score = min_score.unwrap_or(self.cfg.search_min_score);
        let si = self.sightings.read();
        if si.index.is_empty() {
            return Ok((Vec::new(), 0));
        }
        if embedding.len() != si.index.dim() {
            return Err(FacesError::Invalid(format!(
                "probe has {} dimensions, the sighting index {}",
                embedding.len(),
                si.index.dim()
            )));
        }
        let keep = |id: u64| si.meta.get(&id).is_some_and(|(c, ts)| q.accepts(c, *ts));
        let searched = si.meta.values().filter(|(c, ts)| q.accepts(c, *ts)).count();
        let hits = si
            .index
            .search_filtered(embedding, self.cfg.search_max_hits, &keep)
            .map_err(index_err(&self.dir))?;
        drop(si);
        let scored: Vec<(i64, f32)> = hits
            .into_iter()
            .filter(|h| h.score >= min_score)
            .map(|h| (h.id as i64, h.score))
            .collect();
        let ids: Vec<i64> = scored.iter().map(|h| h.0).collect();
        let rows = self.face_data().sightings_by_ids(&ids)?;
        let by_id: HashMap<i64, f32> = scored.into_iter().collect();
        let hits: Vec<SightingHit> = rows
            .into_iter()
            .filter_map(|s| {
                by_id
                    .get(&s.id)
                    .map(|&score| SightingHit { sighting: s, score })
            })
            .collect();
        let gap = (self.cfg.appearance_gap_seconds * 1000.0) as i64;
        Ok((group_appearances(hits, gap), searched))
    }

    /// The largest acceptable face of a photo (the probe of a search).
    pub fn probe_face(&self, img: &image::RgbImage) -> Result<AnalyzedFace, FacesError> {
        self.enrolment_face(img, true)
    }

    /// The face to enrol from a photo, or the refusal as
    /// [`FacesError::Refused`].
    pub fn enrolment_face(
        &self,
        img: &image::RgbImage,
        largest: bool,
    ) -> Result<AnalyzedFace, FacesError> {
        match self.pipeline.lock().enrolment_face(img, largest)? {
            Ok(f) => Ok(f),
            Err(r) => Err(FacesError::Refused {
                path: "photo".into(),
                reason: r,
            }),
        }
    }

    /// Stores a person with the templates of already accepted faces, and
    /// refreshes the gallery so the entry matches at once.
    pub fn enrol_faces(
        &self,
        list: &store::Watchlist,
        name: &str,
        notes: Option<&str>,
        legal: &LegalBasis,
        faces: Vec<AnalyzedFace>,
    ) -> Result<Person, FacesError> {
        let mut templates = Vec::with_capacity(faces.len());
        for f in faces {
            templates.push(NewTemplate {
                model: self.model.clone(),
                quality: serde_json::to_value(&f.quality)
                    .map_err(|e| FacesError::Invalid(e.to_string()))?,
                embedding: f.embedding.ok_or_else(|| {
                    FacesError::Invalid("an accepted face has no embedding".into())
                })?,
                photo_hash: None,
            });
        }
        let p = self.face_data().add_person_scoped(
            list.id,
            name,
            notes,
            legal,
            &PersonScope::default(),
            &templates,
        )?;
        self.gallery()?;
        Ok(p)
    }

    /// "Where and when was this person seen?" for a photo.
    pub fn search_photo(
        &self,
        img: &image::RgbImage,
        q: &SightingQuery,
        min_score: Option<f32>,
    ) -> Result<PhotoSearch, FacesError> {
        let face = self.probe_face(img)?;
        let emb = face
            .embedding
            .as_deref()
            .ok_or_else(|| FacesError::Invalid("the probe face has no embedding".into()))?;
        let (appearances, indexed) = self.search_embedding(emb, q, min_score)?;
        Ok(PhotoSearch {
            face,
            appearances,
            indexed,
            notice: self.search_notice(),
        })
    }

    /// What a retrospective search must tell its user about the sightings
    /// this installation keeps (`None`: every face that passed the quality
    /// gate is kept for its retention).
    pub fn search_notice(&self) -> Option<String> {
        if !self.cfg.store_sightings {
            Some(
                "face sightings are not stored on this installation ([faces] store_sightings = \
                 false): a search can find nothing"
                    .into(),
            )
        } else if !self.cfg.store_unmatched_sightings {
            Some(
                "never-store mode: faces that matched no watchlist entry are not stored \
                 ([faces] store_unmatched_sightings = false), so only faces that matched an \
                 entry when they were seen can be found; no result does not mean the person \
                 was not seen"
                    .into(),
            )
        } else {
            None
        }
    }

    /// Lost-child mode: enrols the photo as a temporary, high-priority entry
    /// on [`LOST_LIST`] scoped to `cameras`, expiring after `expires_in_ms`,
    /// and searches the sightings of the last `minutes` on those cameras.
    /// Live matching picks the entry up at once (the gallery reloads on the
    /// store's change counter).
    pub fn lost(
        &self,
        img: &image::RgbImage,
        name: &str,
        cameras: Vec<String>,
        minutes: u32,
        expires_in_ms: i64,
        notes: Option<String>,
    ) -> Result<LostOutcome, FacesError> {
        if cameras.is_empty() {
            return Err(FacesError::Invalid(
                "lost-child mode needs at least one camera to watch".into(),
            ));
        }
        if expires_in_ms <= 0 {
            return Err(FacesError::Invalid(
                "the lost-child entry must expire in the future".into(),
            ));
        }
        let face = self.probe_face(img)?;
        let emb = face
            .embedding
            .clone()
            .ok_or_else(|| FacesError::Invalid("the probe face has no embedding".into()))?;
        let (list, _) = self.face_data().ensure_watchlist(
            LOST_LIST,
            WatchlistCategory::Missing,
            self.cfg.lost_threshold,
            1000,
        )?;
        let now = self.clock.now();
        let legal = LegalBasis {
            expires: Some(now.plus(std::time::Duration::from_millis(expires_in_ms as u64))),
            ..Default::default()
        };
        let scope = PersonScope {
            cameras: Some(cameras.clone()),
            temporary: true,
        };
        let template = NewTemplate {
            model: self.model.clone(),
            embedding: emb.clone(),
            quality: serde_json::to_value(&face.quality)
                .map_err(|e| FacesError::Invalid(e.to_string()))?,
            photo_hash: None,
        };
        let person = self.face_data().add_person_scoped(
            list.id,
            name,
            notes.as_deref(),
            &legal,
            &scope,
            &[template],
        )?;
        // Make the live gallery see it now rather than at the next check.
        self.gallery()?;
        let since = Timestamp::from_millis(now.millis() - i64::from(minutes) * 60_000);
        let q = SightingQuery {
            cameras,
            since: Some(since),
            until: None,
        };
        let (appearances, _) = self.search_embedding(&emb, &q, Some(list.threshold))?;
        Ok(LostOutcome {
            person,
            appearances,
        })
    }

    /// Retention: deletes sightings past their retention (and their crop
    /// files), expired lost-child entries, and drops both from the indexes.
    /// `kuzet serve` uses the store's audited retention pass instead
    /// ([`store::Store::retention_pass`] with [`FaceService::forget_sightings`]).
    pub fn purge(
        &self,
        unmatched_hours: f32,
        matched_hours: f32,
    ) -> Result<(store::SightingPurge, Vec<i64>), FacesError> {
        let now = self.clock.now();
        let ago = |h: f32| Timestamp::from_millis(now.millis() - (h * 3_600_000.0) as i64);
        // Central sightings are the central database's retention job's:
        // the store's ids are not the index's then.
        let purge = if self.central.is_some() {
            store::SightingPurge::default()
        } else {
            let p = self
                .store
                .purge_sightings(ago(unmatched_hours), ago(matched_hours))?;
            self.forget_sightings(&p.ids);
            p
        };
        let expired = self.expire_temporary_entries()?;
        if !purge.ids.is_empty() || !expired.is_empty() {
            tracing::info!(
                sightings = purge.ids.len(),
                files = purge.files,
                expired_entries = expired.len(),
                "face retention purge"
            );
        }
        Ok((purge, expired))
    }

    /// Drops deleted sightings from the search index (the retention job
    /// calls this with the ids it deleted, so a search never returns a
    /// sighting whose row and crop are gone).
    pub fn forget_sightings(&self, ids: &[i64]) {
        if ids.is_empty() {
            return;
        }
        let mut si = self.sightings.write();
        for id in ids {
            si.index.remove(*id as u64);
            si.meta.remove(&(*id as u64));
            si.dirty += 1;
        }
    }

    /// Deletes lost-child entries past their expiry and refreshes the live
    /// gallery; returns the person ids removed.
    pub fn expire_temporary_entries(&self) -> Result<Vec<i64>, FacesError> {
        let expired = self.face_data().purge_expired_temporary(self.clock.now())?;
        self.gallery()?;
        Ok(expired)
    }

    /// Saves the sighting index if it changed (atomic write). Called
    /// periodically and at shutdown; a crash in between only costs a
    /// catch-up from the database at the next start.
    pub fn save_sightings(&self) -> Result<(), FacesError> {
        if self.saving.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        let path = self.dir.join(index_file(self.central.is_some()));
        let r = {
            let si = self.sightings.read();
            if si.dirty == 0 && path.exists() {
                Ok(())
            } else {
                save_sealed_index(&self.store, &self.model, &si.index, &path)
            }
        };
        if r.is_ok() {
            self.sightings.write().dirty = 0;
        }
        self.saving.store(false, Ordering::Release);
        r
    }
}
