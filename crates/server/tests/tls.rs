//! HTTPS (`[server] tls_cert`/`tls_key`): the API answers over TLS with a
//! certificate made for the test by the `openssl` command, the session
//! cookie is `Secure`, plain HTTP on the TLS port gets no answer, a client
//! that never finishes its handshake does not hold up others, and bad key
//! material is refused with an error naming the file and the setting.

use base::Shutdown;
use kuzet_server::{install_metrics_recorder, serve_tls, tls, AppState};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;
use store::Store;

mod common;

/// A self-signed P-256 server certificate (not a CA) for 127.0.0.1 and its
/// key.
fn make_cert(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let cnf = dir.join("leaf.cnf");
    std::fs::write(
        &cnf,
        "[req]\ndistinguished_name = dn\nx509_extensions = leaf\nprompt = no\n\
         [dn]\nCN = kuzet-test\n\
         [leaf]\nbasicConstraints = critical,CA:FALSE\nsubjectAltName = IP:127.0.0.1\n\
         keyUsage = critical,digitalSignature\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"])
        .args(["-nodes", "-days", "1", "-config"])
        .arg(&cnf)
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("the TLS test needs the `openssl` command (Debian package openssl; `make setup` installs it)");
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// A blocking rustls client trusting only `cert`: sends `request`, returns
/// the whole response.
fn https(addr: SocketAddr, cert: &Path, request: &str) -> String {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(cert).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(Arc::new(cfg), name).unwrap();
    let mut sock = TcpStream::connect(addr).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut tls = rustls::Stream::new(&mut conn, &mut sock);
    tls.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = tls.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn https_serves_the_api_with_secure_cookies() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let config = tls::load(&cert, &key).unwrap();
    let store = Arc::new(Store::open(&dir.path().join("data")).unwrap());
    common::add_test_users(&store);
    let state = AppState::new(store, Arc::new(Vec::new), install_metrics_recorder());
    let shutdown = Shutdown::new();
    let sd = shutdown.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            serve_tls(l, config, state, sd).await
        })
    });
    let addr = rx.recv_timeout(Duration::from_secs(10)).unwrap();

    // A client that connects and never starts its handshake.
    let _stalled = TcpStream::connect(addr).unwrap();

    let health = https(
        addr,
        &cert,
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
    );
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");

    let body = format!(r#"{{"name":"operator","password":"{}"}}"#, common::PASSWORD);
    let login = https(
        addr,
        &cert,
        &format!(
            "POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    );
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let cookie = login
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("set-cookie:"))
        .unwrap_or_else(|| panic!("no session cookie: {login}"));
    assert!(cookie.contains("; Secure"), "{cookie}");

    // Plain HTTP to the TLS port: no HTTP answer.
    let mut plain = TcpStream::connect(addr).unwrap();
    plain
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut got = Vec::new();
    let _ = plain.read_to_end(&mut got);
    assert!(
        !String::from_utf8_lossy(&got).contains("200 OK"),
        "plain HTTP was answered: {}",
        String::from_utf8_lossy(&got)
    );

    shutdown.trigger();
    server.join().unwrap().unwrap();
}

#[test]
fn bad_key_material_names_the_file_and_setting() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = make_cert(dir.path());
    let missing = dir.path().join("nope.pem");
    let e = tls::load(&missing, &key).unwrap_err().to_string();
    assert!(e.contains("nope.pem") && e.contains("tls_cert"), "{e}");
    let e = tls::load(&cert, &cert).unwrap_err().to_string();
    assert!(e.contains("tls_key"), "{e}");
    // Another key than the certificate's.
    let other = tempfile::tempdir().unwrap();
    let (_, other_key) = make_cert(other.path());
    let e = tls::load(&cert, &other_key).unwrap_err().to_string();
    assert!(e.contains("do not fit"), "{e}");
}
