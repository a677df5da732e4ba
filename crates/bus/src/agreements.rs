//! Run-time agreement changes reaching `kuzet worker`s.
//!
//! When a camera owner withdraws an analytic while the system runs (issue
//! 7, `POST /api/agreements/{owner}`), the server records it in its store,
//! and every process holding that store applies it at once. Workers hold no
//! store: without this module a worker kept detecting faces and reading
//! plates on a camera whose owner had withdrawn them until its next
//! restart, and the server merely dropped the results on arrival. Now:
//!
//! * the server ([`publish_agreements`]) mirrors the run-time terms per
//!   owner into the JetStream key-value bucket [`AGREEMENTS_BUCKET`]
//!   whenever the store's agreement change counter moves (one key per
//!   owner, the value `{"owner", "terms"}`; cleared terms delete the key);
//! * each worker ([`follow_agreements`]) loads the bucket before its engine
//!   starts and then watches it; [`WorkerAgreements`] applies the terms to
//!   the worker's own configured agreements with the same rule as the store
//!   ([`store::CameraAgreement::analytics_in_force`]). The worker's sink asks
//!   it before the face and plate stages analyse and drops withdrawn
//!   analytics' events before they are published.
//!
//! A bucket rather than plain messages so that a worker started after the
//! change learns it. The server's check stays in place (the central ingest
//! still drops what a worker sent before it heard of a change), so the bus
//! is an optimisation of *where* a withdrawal binds, never its only guard.
//! The bucket holds the run-time terms only; the configured agreements come
//! from the config file every role loads, and terms can only narrow them.

use crate::{camera_key, BusError};
use async_nats::jetstream::{self, kv};
use base::{Event, Shutdown};
use futures::StreamExt;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::{AgreementTerms, CameraAgreement, Store};

/// Key-value bucket of run-time agreement terms, one key per owner.
pub const AGREEMENTS_BUCKET: &str = "kuzet_agreements";

/// One owner's run-time terms as stored in the bucket.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OwnerTerms {
    pub owner: String,
    pub terms: AgreementTerms,
}

/// The bucket: file-backed, latest value only, no TTL (terms hold until
/// changed).
async fn bucket(js: &jetstream::Context) -> Result<kv::Store, BusError> {
    crate::nats::get_or_create_kv(
        js,
        kv::Config {
            bucket: AGREEMENTS_BUCKET.to_owned(),
            history: 1,
            storage: jetstream::stream::StorageType::File,
            ..Default::default()
        },
    )
    .await
    .map_err(BusError::Nats)
}

/// A worker's view: its configured agreements per camera and the run-time
/// terms per owner it last heard from the bus.
pub struct WorkerAgreements {
    /// Camera → its agreement and its owner's bucket key.
    cameras: HashMap<String, (CameraAgreement, String)>,
    /// Bucket key → owner terms (a deletion names only the key).
    by_key: RwLock<HashMap<String, OwnerTerms>>,
    withheld: AtomicU64,
}

impl WorkerAgreements {
    /// `cameras`: the config's owned cameras (`pipeline::camera_agreements`).
    pub fn new(cameras: HashMap<String, CameraAgreement>) -> WorkerAgreements {
        WorkerAgreements {
            cameras: cameras
                .into_iter()
                .map(|(id, a)| {
                    let key = camera_key(&a.owner);
                    (id, (a, key))
                })
                .collect(),
            by_key: RwLock::default(),
            withheld: AtomicU64::new(0),
        }
    }

    /// Whether `analytic` may run on `camera` under the terms heard so far.
    pub fn analytic_allowed(&self, camera: &str, analytic: &str) -> bool {
        let Some((cam, key)) = self.cameras.get(camera) else {
            return true;
        };
        cam.allows(self.by_key.read().get(key).map(|t| &t.terms), analytic)
    }

    /// Keeps the events whose analytic is still allowed; counts the rest.
    pub fn filter_events(&self, events: Vec<Event>) -> Vec<Event> {
        if self.by_key.read().is_empty() {
            return events;
        }
        let before = events.len();
        let kept: Vec<Event> = events
            .into_iter()
            .filter(|e| {
                store::agreements::analytic_of(&e.kind)
                    .is_none_or(|a| self.analytic_allowed(&e.camera, a))
            })
            .collect();
        let dropped = (before - kept.len()) as u64;
        if dropped > 0 {
            self.withheld.fetch_add(dropped, Ordering::Relaxed);
            metrics::counter!("kuzet_worker_withheld_by_agreement_total").increment(dropped);
        }
        kept
    }

    /// Events not published because their analytic was withdrawn.
    pub fn withheld(&self) -> u64 {
        self.withheld.load(Ordering::Relaxed)
    }

    /// The run-time terms of `owner` heard so far.
    pub fn terms_of(&self, owner: &str) -> Option<AgreementTerms> {
        self.by_key
            .read()
            .get(&camera_key(owner))
            .map(|t| t.terms.clone())
    }

    fn apply(&self, key: &str, value: Option<&[u8]>) {
        let mut by_key = self.by_key.write();
        match value.map(serde_json::from_slice::<OwnerTerms>) {
            Some(Ok(t)) => {
                tracing::info!(owner = %t.owner, terms = ?t.terms, "agreement terms changed at run time");
                by_key.insert(key.to_owned(), t);
            }
            Some(Err(e)) => {
                // Not understood (a newer server?): keep what was known
                // rather than dropping a withdrawal.
                tracing::warn!(key, error = %e, "agreement terms on the bus not understood; keeping the previous ones");
            }
            None => {
                if let Some(t) = by_key.remove(key) {
                    tracing::info!(owner = %t.owner, "agreement terms back to the configured ones");
                }
            }
        }
    }
}

/// Loads the bucket's current terms into `view` (call before the engine
/// starts), then applies every change until `stop`. Returns once loaded,
/// with the watch running on `rt`; a broken watch is re-opened (and the
/// bucket re-read) after a second, logged.
pub async fn follow_agreements(
    client: async_nats::Client,
    view: Arc<WorkerAgreements>,
    rt: &tokio::runtime::Handle,
    stop: Shutdown,
) -> Result<(), BusError> {
    let js = jetstream::new(client);
    let kv = bucket(&js).await?;
    load(&kv, &view).await?;
    rt.spawn(async move {
        while !stop.is_triggered() {
            if let Err(e) = watch(&kv, &view, &stop).await {
                tracing::warn!(error = %e, "agreement watch broke; re-opening");
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stop.is_triggered() {
                break;
            }
            if let Err(e) = load(&kv, &view).await {
                tracing::warn!(error = %e, "could not re-read the agreement terms");
            }
        }
    });
    Ok(())
}

async fn load(kv: &kv::Store, view: &WorkerAgreements) -> Result<(), BusError> {
    let mut keys = kv.keys().await.map_err(BusError::nats)?;
    let mut seen = Vec::new();
    while let Some(k) = keys.next().await {
        seen.push(k.map_err(BusError::nats)?);
    }
    let known: Vec<String> = view.by_key.read().keys().cloned().collect();
    for k in known.iter().filter(|k| !seen.contains(k)) {
        view.apply(k, None);
    }
    for k in &seen {
        let e = kv.entry(k).await.map_err(BusError::nats)?;
        match e.filter(|e| e.operation == kv::Operation::Put) {
            Some(e) => view.apply(k, Some(&e.value)),
            None => view.apply(k, None),
        }
    }
    Ok(())
}

async fn watch(kv: &kv::Store, view: &WorkerAgreements, stop: &Shutdown) -> Result<(), BusError> {
    let mut w = kv.watch_with_history(">").await.map_err(BusError::nats)?;
    loop {
        // Woken at least every half second to notice `stop`.
        let Ok(next) = tokio::time::timeout(Duration::from_millis(500), w.next()).await else {
            if stop.is_triggered() {
                return Ok(());
            }
            continue;
        };
        let Some(entry) = next else {
            return Err(BusError::Nats("the agreement watch ended".into()));
        };
        let entry = entry.map_err(BusError::nats)?;
        match entry.operation {
            kv::Operation::Put => view.apply(&entry.key, Some(&entry.value)),
            kv::Operation::Delete | kv::Operation::Purge => view.apply(&entry.key, None),
        }
    }
}

/// The server side: mirrors the store's run-time terms into the bucket at
/// start and whenever its agreement change counter moves (checked every
/// `every`), until `stop`. A failed mirror is retried at the next check.
pub async fn publish_agreements(
    client: async_nats::Client,
    store: Arc<Store>,
    every: Duration,
    stop: Shutdown,
) -> Result<(), BusError> {
    let js = jetstream::new(client);
    let kv = bucket(&js).await?;
    let mut mirrored: Option<i64> = None;
    while !stop.is_triggered() {
        let s = store.clone();
        // The terms themselves are read only when the counter moved.
        let read = tokio::task::spawn_blocking(move || {
            let generation = s.agreement_generation()?;
            if mirrored == Some(generation) {
                return Ok(None);
            }
            Ok::<_, store::StoreError>(Some((generation, s.agreement_changes()?)))
        })
        .await;
        match read {
            Ok(Ok(Some((generation, changes)))) => match mirror(&kv, &changes).await {
                Ok(()) => {
                    tracing::debug!(
                        generation,
                        owners = changes.len(),
                        "agreement terms mirrored to the bus"
                    );
                    mirrored = Some(generation);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "could not mirror the agreement terms to the bus")
                }
            },
            Ok(Ok(None)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "could not read the agreement terms"),
            Err(e) => tracing::warn!(error = %e, "agreement read task failed"),
        }
        tokio::time::sleep(every).await;
    }
    Ok(())
}

async fn mirror(kv: &kv::Store, changes: &[store::AgreementChange]) -> Result<(), BusError> {
    let mut want = HashMap::new();
    for c in changes {
        let value = OwnerTerms {
            owner: c.owner.clone(),
            terms: c.terms.clone(),
        };
        let json = serde_json::to_vec(&value).map_err(|e| BusError::Nats(e.to_string()))?;
        want.insert(camera_key(&c.owner), json);
    }
    let mut keys = kv.keys().await.map_err(BusError::nats)?;
    let mut stale = Vec::new();
    while let Some(k) = keys.next().await {
        let k = k.map_err(BusError::nats)?;
        if !want.contains_key(&k) {
            stale.push(k);
        }
    }
    for (k, v) in want {
        let current = kv.get(&k).await.map_err(BusError::nats)?;
        if current.as_deref() != Some(v.as_slice()) {
            kv.put(&k, v.into()).await.map_err(BusError::nats)?;
        }
    }
    for k in stale {
        kv.delete(&k).await.map_err(BusError::nats)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base::Timestamp;

    fn view() -> WorkerAgreements {
        WorkerAgreements::new(
            [(
                "gate".to_owned(),
                CameraAgreement {
                    owner: "mall".into(),
                    analytics: Some(vec!["zones".into(), "plates".into(), "faces".into()]),
                    viewer_roles: None,
                },
            )]
            .into_iter()
            .collect(),
        )
    }

    fn terms(owner: &str, analytics: &[&str]) -> Vec<u8> {
        serde_json::to_vec(&OwnerTerms {
            owner: owner.into(),
            terms: AgreementTerms {
                analytics: Some(analytics.iter().map(|s| s.to_string()).collect()),
                ..Default::default()
            },
        })
        .unwrap()
    }

    #[test]
    fn terms_narrow_the_configured_agreement_and_a_deletion_restores_it() {
        let v = view();
        assert!(v.analytic_allowed("gate", "plates"));
        assert!(!v.analytic_allowed("gate", "fire"), "not configured");
        assert!(
            v.analytic_allowed("lobby", "fire"),
            "camera without an owner"
        );
        v.apply("mall", Some(&terms("mall", &["zones", "fire"])));
        assert!(!v.analytic_allowed("gate", "plates"), "withdrawn");
        assert!(!v.analytic_allowed("gate", "fire"), "terms never widen");
        assert!(v.analytic_allowed("gate", "zones"));
        let plate = Event::new("gate", "hotlist_match", Timestamp::from_millis(1));
        let zone = Event::new("gate", "zone_enter", Timestamp::from_millis(2));
        let kept = v.filter_events(vec![plate, zone]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].kind, "zone_enter");
        assert_eq!(v.withheld(), 1);
        // Garbage keeps the withdrawal; a deletion lifts it.
        v.apply("mall", Some(b"{not json"));
        assert!(!v.analytic_allowed("gate", "plates"));
        v.apply("mall", None);
        assert!(v.analytic_allowed("gate", "plates"));
        assert!(v.terms_of("mall").is_none());
    }
}
