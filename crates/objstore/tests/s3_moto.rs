//! The S3 path of `ObjectEvidence` against a real S3 API: PyPI's
//! `moto[server]` started on 127.0.0.1 with a free port (installed by
//! scripts/setup.sh). Not skipped when moto is missing: the test fails and
//! says how to install it.

use kuzet_objstore::{ObjectEvidence, S3Config};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use store::EvidenceBlobs;

struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One raw HTTP request (moto does not check signatures on bucket creation).
fn http(port: u16, method: &str, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

fn start_moto() -> (Moto, u16) {
    let port = free_port();
    let child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run python3 ({e}): run scripts/setup.sh"));
    let mut m = Moto(child);
    let t0 = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Some(st) = m.0.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = m.0.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            panic!(
                "moto server exited ({st}): {err}\nInstall it with \
                 `python3 -m pip install 'moto[server]'` (scripts/setup.sh does)"
            );
        }
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "moto server did not listen on 127.0.0.1:{port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    (m, port)
}

#[test]
fn s3_evidence_against_moto() {
    let (_moto, port) = start_moto();
    let created = http(port, "PUT", "/kuzet-evidence");
    assert!(
        created.starts_with("HTTP/1.1 200"),
        "create bucket: {created}"
    );
    let cfg = S3Config {
        endpoint: Some(format!("http://127.0.0.1:{port}")),
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
    let listing = http(port, "GET", "/kuzet-evidence?list-type=2");
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
