//! The S3 path of `ObjectEvidence` against a real S3 API: PyPI's
//! `moto[server]` started on 127.0.0.1 with a free port (installed by
//! scripts/setup.sh). Not skipped when moto is missing: the test fails and
//! says how to install it.

use kuzet_objstore::testing::Moto;
use kuzet_objstore::{ObjectEvidence, S3Config};
use store::EvidenceBlobs;

#[test]
fn s3_evidence_against_moto() {
    let moto = Moto::start();
    moto.create_bucket("kuzet-evidence");
    let cfg = S3Config {
        endpoint: Some(moto.endpoint()),
        bucket: "kuzet-evidence".into(),
        region: "us-east-1".into(),
        access_key_id: "test".into(),
        secret_access_key: "test".into(),
        allow_http: true,
        prefix: "site-a/evidence".into(),
    };
    let o = ObjectEvidence::s3(&cfg).unwrap();
    store::blob::conformance(&o);

    // The object lands under the prefix with the evidence directory's layout.
    let bytes = vec![0xab; 2048];
    let hash = store::blob::content_hash(&bytes);
    assert!(o.put(&hash, &bytes).unwrap());
    let key = format!("site-a/evidence/{}/{hash}.jpg", &hash[..2]);
    let listing = moto.http("GET", "/kuzet-evidence?list-type=2");
    assert!(listing.contains(&key), "{key} not in {listing}");
    assert_eq!(o.get(&hash).unwrap().unwrap(), bytes);

    // A missing bucket is an error that names the operation, not a panic.
    let missing = ObjectEvidence::s3(&S3Config {
        bucket: "no-such-bucket".into(),
        ..cfg
    })
    .unwrap();
    let err = missing.put(&hash, &bytes).unwrap_err().to_string();
    assert!(err.contains("object storage"), "{err}");
}
