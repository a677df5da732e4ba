//! The bus between `kuzet worker`s and the central `kuzet serve`.
//!
//! Workers decode, detect, track and apply rules for the cameras they lease,
//! and publish what the pipeline produces (events, tracks, evidence JPEGs,
//! camera records) to NATS JetStream; the server consumes the stream into its
//! store and serves the API. Nothing here is a home-made cluster: delivery,
//! persistence, deduplication and leases are JetStream features.
//!
//! - [`Bus`] is the narrow interface the worker and the ingest use (publish
//!   with a dedupe id and wait for the broker's acknowledgement; pull,
//!   acknowledge; compare-and-set keys with a TTL). [`Nats`] implements it.
//! - [`BusSink`] is the pipeline's [`pipeline::Sink`] on a worker.
//! - [`Leases`] assigns cameras to workers through a JetStream KV bucket.
//! - [`Ingest`] is the server's durable consumer: it acknowledges a message
//!   only after the store has committed it.
//! - [`live`] carries camera status and on-demand snapshots on core NATS,
//!   outside the stream.
//!
//! Guarantees (see docs/distributed.md): at-least-once delivery with
//! idempotent writes — every event message carries a deterministic id, used as
//! the JetStream `Nats-Msg-Id` (dedupe within the stream's window) and as a
//! unique key in the store (dedupe forever).

pub mod agreements;
mod ingest;
mod leases;
pub mod live;
mod nats;
mod record;
mod simulate;
mod sink;

pub use ingest::{CommitObserver, Committed, Ingest, IngestStats};
pub use leases::{fair_share, LeaseConfig, LeaseEvent, Leases};
pub use nats::{Nats, NatsConfig};
pub use record::{
    event_msg_id, evidence_msg_id, plate_msg_id, sighting_msg_id, Record, SUBJECT_PREFIX,
};
pub use simulate::{simulate, simulate_with_faces, Latency, Profile, SimConfig, SimReport};
pub use sink::{Acked, AckedFn, BusSink, SinkConfig, SinkStats};

use bytes::Bytes;
use futures::future::BoxFuture;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("cannot connect to the bus at {url}: {reason} (is nats-server running with JetStream, `nats-server -js`?)")]
    Connect { url: String, reason: String },
    #[error("bus: {0}")]
    Nats(String),
    #[error("bus message: {0}")]
    Decode(String),
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The central matcher (plate hotlists) failed.
    #[error(transparent)]
    Match(#[from] pipeline::PipelineError),
    /// Bad settings (the message names the flag or key and the range).
    #[error("{0}")]
    Invalid(String),
    #[error("the bus is shut down")]
    Closed,
}

impl BusError {
    pub(crate) fn nats(e: impl std::fmt::Display) -> Self {
        BusError::Nats(e.to_string())
    }
}

/// One message to publish.
#[derive(Clone, Debug)]
pub struct Outgoing {
    pub subject: String,
    /// Deterministic id: the broker drops a second copy within its dedupe
    /// window; `None` for records whose repetition is harmless (upserts).
    pub msg_id: Option<String>,
    pub headers: Vec<(&'static str, String)>,
    pub payload: Bytes,
}

/// What the broker said about a published message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PubAck {
    pub sequence: u64,
    /// The broker had this message id already (a retry or a re-run).
    pub duplicate: bool,
}

/// A message pulled from the durable consumer.
pub trait Delivery: Send {
    fn subject(&self) -> &str;
    fn header(&self, name: &str) -> Option<String>;
    fn payload(&self) -> &[u8];
    /// Acknowledge: the broker will not deliver it again.
    fn ack(&self) -> BoxFuture<'_, Result<(), BusError>>;
    /// Ask for redelivery after `delay` (the store failed).
    fn nak(&self, delay: Duration) -> BoxFuture<'_, Result<(), BusError>>;
    /// Never deliver again (undecodable: redelivery cannot help).
    fn term(&self) -> BoxFuture<'_, Result<(), BusError>>;
    /// The broker delivered this message before (its acknowledgement was
    /// lost, it waited past `ack_wait`, or a store failure asked for it
    /// again): counted, so redelivery under load is visible, not inferred.
    fn redelivered(&self) -> bool {
        false
    }
}

/// A key's current value and revision in a TTL'd key-value bucket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvEntry {
    pub value: String,
    pub revision: u64,
}

/// The bus: what workers and the ingest need from a broker.
pub trait Bus: Send + Sync + 'static {
    /// Publishes and waits for the broker's acknowledgement (the message is
    /// then persisted in the stream).
    fn publish(&self, msg: Outgoing) -> BoxFuture<'_, Result<PubAck, BusError>>;
    /// Pulls up to `max` messages, waiting at most `wait` for the first.
    fn fetch(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Box<dyn Delivery>>, BusError>>;
    /// Messages not yet acknowledged by the ingest (its lag).
    fn pending(&self) -> BoxFuture<'_, Result<u64, BusError>>;
    /// Whether the connection to the broker is up now.
    fn connected(&self) -> bool;
    /// `bucket`'s live entry for `key` (`None` if absent, deleted or expired).
    fn kv_get<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KvEntry>, BusError>>;
    /// Creates `key` only if it has no live value; `Ok(None)` if it has one.
    fn kv_create<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
        value: String,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>>;
    /// Replaces `key` only if its revision is still `revision` (refreshing its
    /// TTL); `Ok(None)` if someone else wrote it meanwhile.
    fn kv_update<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
        value: String,
        revision: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>>;
    /// Deletes `key`.
    fn kv_delete<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>>;
    /// Live keys of `bucket`.
    fn kv_keys(&self, bucket: KvBucket) -> BoxFuture<'_, Result<Vec<String>, BusError>>;
}

/// The two lease buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KvBucket {
    /// camera key → worker id holding its lease.
    Leases,
    /// worker id → heartbeat (membership, for the fair share).
    Workers,
}

/// A camera id as a KV key: KV keys allow `[-/_=.a-zA-Z0-9]`; other ids are
/// hex-encoded behind a `x_` prefix so any camera id works and no two ids map
/// to one key.
pub fn camera_key(camera: &str) -> String {
    let plain = !camera.is_empty()
        && !camera.starts_with("x_")
        && !camera.starts_with('.')
        && !camera.ends_with('.')
        && camera
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
    if plain {
        camera.to_owned()
    } else {
        format!("x_{}", hex::encode(camera.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camera_keys_are_valid_and_distinct() {
        assert_eq!(camera_key("gate-1"), "gate-1");
        assert_eq!(camera_key("a b"), "x_612062");
        assert_ne!(camera_key("x_61"), camera_key("a"));
        assert_ne!(camera_key("x_61"), "x_61");
        assert!(camera_key("").starts_with("x_"));
    }
}
