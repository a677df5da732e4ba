//! Evidence blobs on object storage: [`ObjectEvidence`] implements
//! `store::EvidenceBlobs` over any `object_store` backend — S3 and
//! S3-compatible services (MinIO, Ceph RGW, Garage, cloud S3) for the
//! distributed deployment, or a local directory.
//!
//! Keys are the same relative paths as the evidence directory
//! (`[prefix/]ab/<sha256>.jpg`, see `store::blob::evidence_key`), so a data
//! directory's `evidence/` can be synced into a bucket as is.
//!
//! Writes are content-addressed: `put` refuses bytes that do not hash to
//! their key, and writing the same key twice writes the same bytes, so a
//! plain (last-writer-wins) PUT is safe under races and retries and no
//! conditional-put support is needed from the service. `put` first asks
//! whether the object exists to skip re-uploading identical evidence; under a
//! race two writers may both report "new" — the stored bytes are identical.
//!
//! The trait is blocking; calls run on this adapter's own tokio runtime and
//! the caller waits (see `store::backend` for why the store traits block).

pub mod testing;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use std::future::Future;
use std::sync::Arc;
use store::blob::{check_content, evidence_key};
use store::{EvidenceBlobs, StoreError};

/// Settings of an S3-compatible bucket.
#[derive(Clone, Debug)]
pub struct S3Config {
    /// `https://s3.eu-west-1.amazonaws.com`, `http://minio:9000`…; `None`
    /// = AWS's endpoint for `region`.
    pub endpoint: Option<String>,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allow `http://` endpoints (a bucket on a trusted local network).
    pub allow_http: bool,
    /// Key prefix inside the bucket (e.g. `kuzet/evidence`); empty = none.
    pub prefix: String,
}

impl S3Config {
    /// The bucket of `s3://bucket[/prefix]`, with credentials, region and
    /// endpoint from the variables every S3 tool reads (`env` looks them
    /// up; the process environment in production): `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` (default `us-east-1`) and
    /// `AWS_ENDPOINT_URL` for S3-compatible services (MinIO, Ceph RGW,
    /// Garage); an `http://` endpoint is allowed as given.
    pub fn from_url(
        url: &str,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<S3Config, StoreError> {
        let Some(rest) = url.strip_prefix("s3://") else {
            return Err(StoreError::Invalid(format!(
                "evidence location {url:?}: expected s3://bucket or s3://bucket/prefix"
            )));
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(StoreError::Invalid(format!(
                "evidence location {url:?} names no bucket: expected s3://bucket[/prefix]"
            )));
        }
        let var = |name: &str| env(name).filter(|v| !v.is_empty());
        let need = |name: &str| {
            var(name).ok_or_else(|| {
                StoreError::Invalid(format!(
                    "evidence on {url}: {name} is not set; set AWS_ACCESS_KEY_ID and \
                     AWS_SECRET_ACCESS_KEY to the bucket's credentials"
                ))
            })
        };
        let endpoint = var("AWS_ENDPOINT_URL");
        Ok(S3Config {
            allow_http: endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
            endpoint,
            bucket: bucket.to_owned(),
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "us-east-1".into()),
            access_key_id: need("AWS_ACCESS_KEY_ID")?,
            secret_access_key: need("AWS_SECRET_ACCESS_KEY")?,
            prefix: prefix.to_owned(),
        })
    }
}

/// Evidence blobs in an `object_store`.
pub struct ObjectEvidence {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    name: &'static str,
    rt: tokio::runtime::Runtime,
}

fn backend_err(op: &'static str) -> impl Fn(object_store::Error) -> StoreError {
    move |e| StoreError::Backend(format!("object storage {op}: {e}"))
}

impl ObjectEvidence {
    fn with_store(
        store: Arc<dyn ObjectStore>,
        prefix: &str,
        name: &'static str,
    ) -> Result<Self, StoreError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("kuzet-objstore")
            .enable_all()
            .build()
            .map_err(|e| {
                StoreError::Backend(format!("object storage: cannot start runtime: {e}"))
            })?;
        let prefix = prefix.trim_matches('/').to_owned();
        if prefix.split('/').any(|p| p == ".." || p == ".") {
            return Err(StoreError::Invalid(format!(
                "object key prefix {prefix:?} may not contain `.` or `..` segments"
            )));
        }
        Ok(ObjectEvidence {
            store,
            prefix,
            name,
            rt,
        })
    }

    /// Blobs under a local directory, through `object_store`'s file backend
    /// (for parity tests and single-node setups that want the same code path
    /// as the bucket).
    pub fn local(root: &std::path::Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(root)
            .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", root.display())))?;
        let fs = LocalFileSystem::new_with_prefix(root).map_err(backend_err("open directory"))?;
        Self::with_store(Arc::new(fs), "", "local-object")
    }

    /// Blobs in an S3-compatible bucket (path-style requests, which every
    /// S3-compatible service accepts).
    pub fn s3(cfg: &S3Config) -> Result<Self, StoreError> {
        if cfg.bucket.is_empty() {
            return Err(StoreError::Invalid("S3 bucket name is empty".into()));
        }
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&cfg.bucket)
            .with_region(&cfg.region)
            .with_access_key_id(&cfg.access_key_id)
            .with_secret_access_key(&cfg.secret_access_key)
            .with_allow_http(cfg.allow_http)
            .with_virtual_hosted_style_request(false);
        if let Some(ep) = &cfg.endpoint {
            b = b.with_endpoint(ep);
        }
        let s3 = b.build().map_err(|e| {
            StoreError::Invalid(format!(
                "S3 configuration for bucket {:?}: {e} (check endpoint, region and credentials)",
                cfg.bucket
            ))
        })?;
        Self::with_store(Arc::new(s3), &cfg.prefix, "s3")
    }

    fn path(&self, hash: &str) -> Result<ObjPath, StoreError> {
        let key = evidence_key(hash)?;
        Ok(if self.prefix.is_empty() {
            ObjPath::from(key)
        } else {
            ObjPath::from(format!("{}/{key}", self.prefix))
        })
    }

    fn block<T: Send + 'static>(
        &self,
        fut: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Runs on our runtime; this thread only waits, so calling from inside
        // another runtime does not panic.
        futures::executor::block_on(self.rt.spawn(fut))
            .map_err(|e| StoreError::Backend(format!("object storage task failed: {e}")))?
    }

    fn head(&self, path: ObjPath) -> Result<bool, StoreError> {
        let store = self.store.clone();
        self.block(async move {
            match store.head(&path).await {
                Ok(_) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(backend_err("head")(e)),
            }
        })
    }
}

impl EvidenceBlobs for ObjectEvidence {
    fn blobs_name(&self) -> &'static str {
        self.name
    }

    fn put(&self, hash: &str, bytes: &[u8]) -> Result<bool, StoreError> {
        check_content(hash, bytes)?;
        let path = self.path(hash)?;
        if self.head(path.clone())? {
            return Ok(false);
        }
        let store = self.store.clone();
        let payload = PutPayload::from(bytes.to_vec());
        self.block(async move {
            store
                .put(&path, payload)
                .await
                .map_err(backend_err("put"))?;
            Ok(true)
        })
    }

    fn get(&self, hash: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let path = self.path(hash)?;
        let store = self.store.clone();
        self.block(async move {
            match store.get(&path).await {
                Ok(r) => Ok(Some(r.bytes().await.map_err(backend_err("read"))?.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(backend_err("get")(e)),
            }
        })
    }

    fn exists(&self, hash: &str) -> Result<bool, StoreError> {
        self.head(self.path(hash)?)
    }

    fn delete(&self, hash: &str) -> Result<bool, StoreError> {
        let path = self.path(hash)?;
        // S3 answers a delete of a missing key with success, so ask first.
        if !self.head(path.clone())? {
            return Ok(false);
        }
        let store = self.store.clone();
        self.block(async move {
            match store.delete(&path).await {
                Ok(()) => Ok(true),
                Err(object_store::Error::NotFound { .. }) => Ok(false),
                Err(e) => Err(backend_err("delete")(e)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_object_store_conforms_and_matches_the_disk_layout() {
        let dir = tempfile::tempdir().unwrap();
        let o = ObjectEvidence::local(dir.path()).unwrap();
        store::blob::conformance(&o);
        // Same keys as the evidence directory: either side reads the other's.
        let disk = store::LocalEvidence::new(dir.path());
        let bytes = b"evidence".to_vec();
        let hash = "2f3e1c5b6d0a7f8e9c4b3a2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f";
        assert!(o.put(hash, &bytes).is_err(), "wrong hash refused");
        let hash = sha(&bytes);
        o.put(&hash, &bytes).unwrap();
        assert_eq!(disk.get(&hash).unwrap().unwrap(), bytes);
        let h2 = sha(b"x");
        disk.put(&h2, b"x").unwrap();
        assert!(o.exists(&h2).unwrap());
    }

    #[test]
    fn prefix_with_dot_segments_is_refused() {
        let cfg = S3Config {
            endpoint: Some("http://127.0.0.1:1".into()),
            bucket: "b".into(),
            region: "us-east-1".into(),
            access_key_id: "k".into(),
            secret_access_key: "s".into(),
            allow_http: true,
            prefix: "a/../b".into(),
        };
        assert!(matches!(
            ObjectEvidence::s3(&cfg),
            Err(StoreError::Invalid(_))
        ));
    }

    #[test]
    fn s3_urls_and_environment_make_a_config_or_name_what_is_missing() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                vars.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let creds: &[(&str, &str)] = &[
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_ENDPOINT_URL", "http://minio:9000"),
        ];
        let c = S3Config::from_url("s3://evidence/site-a/cams", env(creds)).unwrap();
        assert_eq!(
            (c.bucket.as_str(), c.prefix.as_str(), c.region.as_str()),
            ("evidence", "site-a/cams", "us-east-1")
        );
        assert!(c.allow_http);
        assert_eq!(c.endpoint.as_deref(), Some("http://minio:9000"));
        let c = S3Config::from_url(
            "s3://b",
            env(&[
                ("AWS_ACCESS_KEY_ID", "k"),
                ("AWS_SECRET_ACCESS_KEY", "s"),
                ("AWS_REGION", "eu-central-1"),
            ]),
        )
        .unwrap();
        assert_eq!(
            (c.prefix.as_str(), c.region.as_str(), c.allow_http),
            ("", "eu-central-1", false)
        );
        for (url, vars, needle) in [
            ("s3:///x", creds, "no bucket"),
            ("https://b/x", creds, "expected s3://"),
            (
                "s3://b",
                &[("AWS_ACCESS_KEY_ID", "k")][..],
                "AWS_SECRET_ACCESS_KEY",
            ),
        ] {
            match S3Config::from_url(url, env(vars)) {
                Err(StoreError::Invalid(m)) => assert!(m.contains(needle), "{url}: {m}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    fn sha(b: &[u8]) -> String {
        store::blob::content_hash(b)
    }
}
