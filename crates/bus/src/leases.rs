//! Camera leases in JetStream KV buckets.
//!
//! Two buckets, both with `max_age` = the lease TTL, so a key nobody refreshes
//! disappears by itself:
//! - `kuzet_workers`: worker id → heartbeat; the live keys are the members;
//! - `kuzet_leases`: camera key → the worker holding it.
//!
//! Every heartbeat (TTL / 3) a worker refreshes its membership and each lease
//! it holds with a compare-and-set on the revision it last wrote (a failed CAS
//! means someone else holds it now: the lease is lost, never shared), then
//! compares its count with its fair share ([`fair_share`]: cameras / live
//! workers, the remainder going to the first workers in id order):
//! above it, it releases the surplus (so a newly started worker gets some);
//! below it, it creates leases on free cameras (create = "only if absent",
//! atomic on the broker).
//!
//! Failover bound: a dead worker's leases expire at most one TTL after its
//! last refresh; the survivors see them free at their next heartbeat, so its
//! cameras are claimed within **TTL + one heartbeat interval** (TTL × 4/3) of
//! the death, plus the claiming worker's engine restart.

use crate::{camera_key, Bus, BusError, KvBucket};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Clone, Debug)]
pub struct LeaseConfig {
    pub worker: String,
    /// Must equal the buckets' `max_age` ([`crate::NatsConfig::lease_ttl`]).
    pub ttl: Duration,
    /// Every configured camera id (the candidates).
    pub cameras: Vec<String>,
}

impl LeaseConfig {
    pub fn heartbeat(&self) -> Duration {
        (self.ttl / 3).max(Duration::from_millis(100))
    }
}

/// This worker's share of `total` cameras: `total / members`, one more for
/// the first `total % members` members in id order, so shares differ by at
/// most one and add up to `total` (4 cameras on 3 workers: 2, 1, 1).
pub fn fair_share(total: usize, members: &[String], me: &str) -> usize {
    let n = members.len().max(1);
    let rank = members.iter().position(|m| m == me).unwrap_or(n - 1);
    total / n + usize::from(rank < total % n)
}

/// A change of this worker's leases (for logs, `--json` and metrics).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "lease", rename_all = "snake_case")]
pub enum LeaseEvent {
    Claimed { camera: String },
    Released { camera: String },
    Lost { camera: String },
}

/// The lease loop of one worker.
pub struct Leases<B: Bus> {
    bus: Arc<B>,
    cfg: LeaseConfig,
    /// camera id → revision of our last write.
    held: BTreeMap<String, u64>,
    membership_rev: Option<u64>,
    tx: watch::Sender<BTreeSet<String>>,
}

impl<B: Bus> Leases<B> {
    /// The receiver always holds the set of cameras this worker leases now.
    pub fn new(bus: Arc<B>, cfg: LeaseConfig) -> (Self, watch::Receiver<BTreeSet<String>>) {
        let (tx, rx) = watch::channel(BTreeSet::new());
        (
            Leases {
                bus,
                cfg,
                held: BTreeMap::new(),
                membership_rev: None,
                tx,
            },
            rx,
        )
    }

    /// One heartbeat: refresh membership and leases, release the surplus,
    /// claim up to the fair share. Returns what changed.
    pub async fn tick(&mut self) -> Result<Vec<LeaseEvent>, BusError> {
        let mut changes = Vec::new();
        self.refresh_membership().await?;
        // Refresh what we hold.
        let held: Vec<(String, u64)> = self.held.iter().map(|(c, r)| (c.clone(), *r)).collect();
        for (camera, rev) in held {
            let key = camera_key(&camera);
            match self
                .bus
                .kv_update(KvBucket::Leases, &key, self.cfg.worker.clone(), rev)
                .await
            {
                Ok(Some(new_rev)) => {
                    self.held.insert(camera, new_rev);
                }
                Ok(None) => {
                    self.held.remove(&camera);
                    changes.push(LeaseEvent::Lost { camera });
                }
                Err(e) => {
                    // The broker is unreachable: we cannot prove we still
                    // hold it, and it may expire meanwhile. Stop running it
                    // (someone else will, or we reclaim it) rather than risk
                    // two workers publishing the same camera.
                    tracing::warn!(error = %e, camera, "lease refresh failed; dropping the lease");
                    self.held.remove(&camera);
                    changes.push(LeaseEvent::Lost { camera });
                }
            }
        }
        let mut members = self.bus.kv_keys(KvBucket::Workers).await?;
        let me = camera_key(&self.cfg.worker);
        if !members.contains(&me) {
            members.push(me.clone());
        }
        members.sort();
        let total = self.cfg.cameras.len();
        let share = fair_share(total, &members, &me);
        let members = members.len();
        // Release the surplus (the last ones in order, deterministic).
        while self.held.len() > share {
            let Some(camera) = self.held.keys().next_back().cloned() else {
                break;
            };
            self.held.remove(&camera);
            self.bus
                .kv_delete(KvBucket::Leases, &camera_key(&camera))
                .await?;
            changes.push(LeaseEvent::Released { camera });
        }
        // Claim free cameras up to the share, starting at an offset derived
        // from the worker id so that workers starting together spread out.
        if self.held.len() < share && total > 0 {
            let offset = self
                .cfg
                .worker
                .bytes()
                .fold(0usize, |a, b| a.wrapping_mul(31).wrapping_add(b as usize))
                % total;
            for i in 0..total {
                if self.held.len() >= share {
                    break;
                }
                let camera = &self.cfg.cameras[(offset + i) % total];
                if self.held.contains_key(camera) {
                    continue;
                }
                let key = camera_key(camera);
                if self.bus.kv_get(KvBucket::Leases, &key).await?.is_some() {
                    continue;
                }
                if let Some(rev) = self
                    .bus
                    .kv_create(KvBucket::Leases, &key, self.cfg.worker.clone())
                    .await?
                {
                    self.held.insert(camera.clone(), rev);
                    changes.push(LeaseEvent::Claimed {
                        camera: camera.clone(),
                    });
                }
            }
        }
        for c in &changes {
            let what = match c {
                LeaseEvent::Claimed { .. } => "claimed",
                LeaseEvent::Released { .. } => "released",
                LeaseEvent::Lost { .. } => "lost",
            };
            metrics::counter!("kuzet_bus_lease_changes_total", "change" => what).increment(1);
        }
        metrics::gauge!("kuzet_bus_leases_held").set(self.held.len() as f64);
        metrics::gauge!("kuzet_bus_workers_live").set(members as f64);
        if !changes.is_empty() {
            self.tx.send_replace(self.held.keys().cloned().collect());
        }
        Ok(changes)
    }

    async fn refresh_membership(&mut self) -> Result<(), BusError> {
        let value = format!("{}", self.held.len());
        let key = camera_key(&self.cfg.worker);
        let rev = match self.membership_rev {
            Some(rev) => {
                self.bus
                    .kv_update(KvBucket::Workers, &key, value.clone(), rev)
                    .await?
            }
            None => None,
        };
        let rev = match rev {
            Some(r) => Some(r),
            // First beat, or our key expired (we were stalled past the TTL).
            None => match self.bus.kv_create(KvBucket::Workers, &key, value).await? {
                Some(r) => Some(r),
                None => {
                    return Err(BusError::Nats(format!(
                    "another live worker is registered as {:?}: give each worker a distinct --id",
                    self.cfg.worker
                )))
                }
            },
        };
        self.membership_rev = rev;
        Ok(())
    }

    /// Gives every lease back (clean shutdown: the others take over at their
    /// next heartbeat instead of after the TTL).
    pub async fn release_all(&mut self) {
        let held: Vec<String> = self.held.keys().cloned().collect();
        for camera in held {
            if let Err(e) = self
                .bus
                .kv_delete(KvBucket::Leases, &camera_key(&camera))
                .await
            {
                tracing::warn!(error = %e, camera, "could not release a lease");
            }
        }
        self.held.clear();
        let _ = self
            .bus
            .kv_delete(KvBucket::Workers, &camera_key(&self.cfg.worker))
            .await;
        self.membership_rev = None;
        self.tx.send_replace(BTreeSet::new());
    }

    pub fn held(&self) -> impl Iterator<Item = &String> {
        self.held.keys()
    }

    pub fn config(&self) -> &LeaseConfig {
        &self.cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up_and_differ_by_at_most_one() {
        let m: Vec<String> = ["w1", "w2", "w3"].map(String::from).to_vec();
        let shares: Vec<usize> = m.iter().map(|w| fair_share(4, &m, w)).collect();
        assert_eq!(shares, [2, 1, 1]);
        for total in 0..20 {
            let s: Vec<usize> = m.iter().map(|w| fair_share(total, &m, w)).collect();
            assert_eq!(s.iter().sum::<usize>(), total);
            assert!(s.iter().max().unwrap() - s.iter().min().unwrap() <= 1);
        }
        assert_eq!(fair_share(3, &[], "w"), 3);
    }
}
