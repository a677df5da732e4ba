//! The NATS JetStream adapter of [`Bus`].

use crate::{Bus, BusError, Delivery, KvBucket, KvEntry, Outgoing, PubAck, SUBJECT_PREFIX};
use async_nats::jetstream::{self, consumer, kv, stream, AckKind};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use std::time::Duration;

/// Names and limits of what the adapter creates on the broker (idempotent:
/// an existing stream, consumer or bucket of the same name is used as is).
#[derive(Clone, Debug)]
pub struct NatsConfig {
    /// `nats://host:port`.
    pub url: String,
    /// The stream holding every subject under `kuzet.>`.
    pub stream: String,
    /// The ingest's durable consumer.
    pub consumer: String,
    /// Unacknowledged data the stream may hold. When the central side falls
    /// this far behind, publishes are refused (discard-new), workers retry and
    /// their bounded queues fill: back-pressure ends at each camera's frame
    /// queue, where dropped frames are counted — acknowledged data is never
    /// evicted.
    pub max_bytes: i64,
    /// Broker-side dedupe window for `Nats-Msg-Id` (the store dedupes forever).
    pub duplicate_window: Duration,
    /// Lease TTL: a lease not refreshed within it expires (KV `max_age`).
    pub lease_ttl: Duration,
    /// Name this connection shows on the broker.
    pub client_name: String,
    /// Bind (creating if missing) the lease buckets: workers do; the
    /// server does not, so its settings never change the workers' TTL.
    pub leases: bool,
}

impl NatsConfig {
    pub fn new(url: impl Into<String>) -> Self {
        NatsConfig {
            url: url.into(),
            stream: "KUZET".into(),
            consumer: "kuzet-ingest".into(),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            lease_ttl: Duration::from_secs(10),
            client_name: "kuzet".into(),
            leases: true,
        }
    }
}

/// A connection to NATS with the stream, consumer and lease buckets bound.
pub struct Nats {
    client: async_nats::Client,
    js: jetstream::Context,
    consumer: tokio::sync::OnceCell<consumer::PullConsumer>,
    leases: Option<kv::Store>,
    workers: Option<kv::Store>,
    cfg: NatsConfig,
}

impl Nats {
    /// Connects (retrying for up to ~10 s, so workers and server may start in
    /// any order) and creates the stream and lease buckets if missing.
    pub async fn connect(cfg: NatsConfig) -> Result<Nats, BusError> {
        let connect_err = |e: &dyn std::fmt::Display| BusError::Connect {
            url: cfg.url.clone(),
            reason: e.to_string(),
        };
        let mut attempt = 0;
        let client = loop {
            let r = async_nats::ConnectOptions::new()
                .name(&cfg.client_name)
                .connection_timeout(Duration::from_secs(2))
                .connect(cfg.url.as_str())
                .await;
            match r {
                Ok(c) => break c,
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    tracing::debug!(error = %e, attempt, "bus not reachable yet");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(connect_err(&e)),
            }
        };
        let js = jetstream::new(client.clone());
        js.get_or_create_stream(stream::Config {
            name: cfg.stream.clone(),
            subjects: vec![format!("{SUBJECT_PREFIX}.>")],
            // Work queue: a message is removed once the ingest acknowledged
            // it, so the stream holds exactly the central side's backlog.
            retention: stream::RetentionPolicy::WorkQueue,
            discard: stream::DiscardPolicy::New,
            max_bytes: cfg.max_bytes,
            duplicate_window: cfg.duplicate_window,
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(|e| connect_err(&format!("stream {}: {e}", cfg.stream)))?;
        let bucket = |name: &str| kv::Config {
            bucket: name.to_owned(),
            history: 1,
            max_age: cfg.lease_ttl,
            storage: stream::StorageType::Memory,
            ..Default::default()
        };
        let (leases, workers) = if cfg.leases {
            (
                Some(
                    get_or_create_kv(&js, bucket("kuzet_leases"))
                        .await
                        .map_err(|e| connect_err(&e))?,
                ),
                Some(
                    get_or_create_kv(&js, bucket("kuzet_workers"))
                        .await
                        .map_err(|e| connect_err(&e))?,
                ),
            )
        } else {
            (None, None)
        };
        Ok(Nats {
            client,
            js,
            consumer: tokio::sync::OnceCell::new(),
            leases,
            workers,
            cfg,
        })
    }

    pub fn config(&self) -> &NatsConfig {
        &self.cfg
    }

    /// The core NATS connection, for live data outside the stream
    /// ([`crate::live`]).
    pub fn client(&self) -> async_nats::Client {
        self.client.clone()
    }

    /// The stream's last sequence: how many messages it has ever stored (a
    /// publish acknowledged as a duplicate does not move it). `kuzet
    /// simulate` compares its growth with what the publishers were
    /// acknowledged and what the ingest committed.
    pub async fn stream_last_sequence(&self) -> Result<u64, BusError> {
        let mut stream = self
            .js
            .get_stream(&self.cfg.stream)
            .await
            .map_err(BusError::nats)?;
        let info = stream.info().await.map_err(BusError::nats)?;
        Ok(info.state.last_sequence)
    }

    async fn consumer(&self) -> Result<&consumer::PullConsumer, BusError> {
        self.consumer
            .get_or_try_init(|| async {
                let stream = self
                    .js
                    .get_stream(&self.cfg.stream)
                    .await
                    .map_err(BusError::nats)?;
                stream
                    .get_or_create_consumer(
                        &self.cfg.consumer,
                        consumer::pull::Config {
                            durable_name: Some(self.cfg.consumer.clone()),
                            ack_policy: consumer::AckPolicy::Explicit,
                            // A batch is committed within seconds; past this
                            // the broker redelivers (idempotent).
                            ack_wait: Duration::from_secs(30),
                            max_ack_pending: 10_000,
                            ..Default::default()
                        },
                    )
                    .await
                    .map_err(BusError::nats)
            })
            .await
    }

    fn bucket(&self, b: KvBucket) -> Result<&kv::Store, BusError> {
        match b {
            KvBucket::Leases => self.leases.as_ref(),
            KvBucket::Workers => self.workers.as_ref(),
        }
        .ok_or_else(|| {
            BusError::Nats("this connection was opened without the lease buckets".into())
        })
    }
}

/// The bucket, created if missing. An existing bucket with another TTL is an
/// error, not silently reconfigured: the TTL is the failover time every
/// worker relies on, and changing it under running workers would change it
/// for them too. (`create_or_update_key_value` would also do, but its
/// update request is not understood by nats-server 2.9, Debian 12's.)
pub(crate) async fn get_or_create_kv(
    js: &jetstream::Context,
    cfg: kv::Config,
) -> Result<kv::Store, String> {
    let store = match js.get_key_value(&cfg.bucket).await {
        Ok(s) => s,
        Err(_) => match js.create_key_value(cfg.clone()).await {
            Ok(s) => s,
            // Another worker created it meanwhile, or the broker is older
            // than the client's bucket request: create the stream that backs
            // a bucket (the KV conventions) directly, then bind it.
            Err(create) => {
                tracing::debug!(error = %create, bucket = %cfg.bucket, "creating the bucket's stream directly");
                js.get_or_create_stream(stream::Config {
                    name: format!("KV_{}", cfg.bucket),
                    subjects: vec![format!("$KV.{}.>", cfg.bucket)],
                    max_messages_per_subject: cfg.history,
                    max_age: cfg.max_age,
                    storage: cfg.storage,
                    discard: stream::DiscardPolicy::New,
                    allow_rollup: true,
                    deny_delete: true,
                    allow_direct: true,
                    num_replicas: 1,
                    ..Default::default()
                })
                .await
                .map_err(|e| {
                    format!("key-value bucket {}: {create}; its stream: {e}", cfg.bucket)
                })?;
                js.get_key_value(&cfg.bucket)
                    .await
                    .map_err(|e| format!("key-value bucket {}: {e}", cfg.bucket))?
            }
        },
    };
    let status = store
        .status()
        .await
        .map_err(|e| format!("key-value bucket {}: {e}", cfg.bucket))?;
    if status.max_age() != cfg.max_age {
        return Err(format!(
            "key-value bucket {} has a lease TTL of {:?} but this process runs with {:?}: \
             start every worker with the same --lease-ttl (or delete the bucket when no worker runs)",
            cfg.bucket,
            status.max_age(),
            cfg.max_age
        ));
    }
    Ok(store)
}

struct NatsDelivery(jetstream::Message);

impl Delivery for NatsDelivery {
    fn subject(&self) -> &str {
        self.0.subject.as_str()
    }

    fn header(&self, name: &str) -> Option<String> {
        self.0
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    }

    fn payload(&self) -> &[u8] {
        &self.0.payload
    }

    fn ack(&self) -> BoxFuture<'_, Result<(), BusError>> {
        async move { self.0.ack().await.map_err(BusError::nats) }.boxed()
    }

    fn nak(&self, delay: Duration) -> BoxFuture<'_, Result<(), BusError>> {
        async move {
            self.0
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(BusError::nats)
        }
        .boxed()
    }

    fn term(&self) -> BoxFuture<'_, Result<(), BusError>> {
        async move { self.0.ack_with(AckKind::Term).await.map_err(BusError::nats) }.boxed()
    }

    fn redelivered(&self) -> bool {
        self.0.info().is_ok_and(|i| i.delivered > 1)
    }
}

impl Bus for Nats {
    fn publish(&self, msg: Outgoing) -> BoxFuture<'_, Result<PubAck, BusError>> {
        async move {
            let mut headers = async_nats::HeaderMap::new();
            for (k, v) in &msg.headers {
                headers.insert(*k, v.as_str());
            }
            let mut p = jetstream::message::PublishMessage::build()
                .payload(msg.payload)
                .headers(headers);
            if let Some(id) = &msg.msg_id {
                p = p.message_id(id);
            }
            let ack = self
                .js
                .send_publish(msg.subject, p)
                .await
                .map_err(BusError::nats)?
                .await
                .map_err(BusError::nats)?;
            Ok(PubAck {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            })
        }
        .boxed()
    }

    fn fetch(
        &self,
        max: usize,
        wait: Duration,
    ) -> BoxFuture<'_, Result<Vec<Box<dyn Delivery>>, BusError>> {
        async move {
            let consumer = self.consumer().await?;
            let mut batch = consumer
                .fetch()
                .max_messages(max)
                .expires(wait)
                .messages()
                .await
                .map_err(BusError::nats)?;
            let mut out: Vec<Box<dyn Delivery>> = Vec::new();
            while let Some(m) = batch.next().await {
                match m {
                    Ok(m) => out.push(Box::new(NatsDelivery(m))),
                    Err(e) => {
                        // What arrived before the error is still delivered;
                        // the rest is redelivered after ack_wait.
                        tracing::debug!(error = %e, "bus fetch ended early");
                        break;
                    }
                }
            }
            Ok(out)
        }
        .boxed()
    }

    fn pending(&self) -> BoxFuture<'_, Result<u64, BusError>> {
        async move {
            let mut c = self.consumer().await?.clone();
            let info = c.info().await.map_err(BusError::nats)?;
            Ok(info.num_pending + info.num_ack_pending as u64)
        }
        .boxed()
    }

    fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    fn kv_get<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
    ) -> BoxFuture<'a, Result<Option<KvEntry>, BusError>> {
        async move {
            let e = self
                .bucket(bucket)?
                .entry(key)
                .await
                .map_err(BusError::nats)?;
            Ok(e.filter(|e| e.operation == kv::Operation::Put)
                .map(|e| KvEntry {
                    value: String::from_utf8_lossy(&e.value).into_owned(),
                    revision: e.revision,
                }))
        }
        .boxed()
    }

    fn kv_create<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
        value: String,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>> {
        async move {
            match self.bucket(bucket)?.create(key, value.into()).await {
                Ok(rev) => Ok(Some(rev)),
                Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
                Err(e) => Err(BusError::nats(e)),
            }
        }
        .boxed()
    }

    fn kv_update<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
        value: String,
        revision: u64,
    ) -> BoxFuture<'a, Result<Option<u64>, BusError>> {
        async move {
            match self
                .bucket(bucket)?
                .update(key, value.into(), revision)
                .await
            {
                Ok(rev) => Ok(Some(rev)),
                Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(None),
                Err(e) => Err(BusError::nats(e)),
            }
        }
        .boxed()
    }

    fn kv_delete<'a>(
        &'a self,
        bucket: KvBucket,
        key: &'a str,
    ) -> BoxFuture<'a, Result<(), BusError>> {
        async move {
            self.bucket(bucket)?
                .delete(key)
                .await
                .map_err(BusError::nats)
        }
        .boxed()
    }

    fn kv_keys(&self, bucket: KvBucket) -> BoxFuture<'_, Result<Vec<String>, BusError>> {
        async move {
            let mut keys = self.bucket(bucket)?.keys().await.map_err(BusError::nats)?;
            let mut out = Vec::new();
            while let Some(k) = keys.next().await {
                out.push(k.map_err(BusError::nats)?);
            }
            Ok(out)
        }
        .boxed()
    }
}
