//! A throw-away S3 API for tests: PyPI's `moto[server]` on 127.0.0.1 with a
//! free port (installed by scripts/setup.sh), as `kuzet-store-pg`'s
//! `testing` module starts a throw-away PostgreSQL. Public so the CLI's
//! distributed test runs `kuzet serve --evidence s3://…` against the same
//! server the adapter's own test uses. A missing moto is a panic that says
//! how to install it, never a skipped test.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; stopped on drop.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Moto {
    /// Starts moto and waits (at most 30 s) until it listens.
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or_else(|e| panic!("no free port for moto: {e}"));
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
        let mut m = Moto { child, port };
        let t0 = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(st)) = m.child.try_wait() {
                let mut err = String::new();
                if let Some(mut e) = m.child.stderr.take() {
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
        m
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: the endpoint for `AWS_ENDPOINT_URL`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One raw HTTP request (moto does not check signatures on bucket
    /// creation or listing); the whole response as text.
    pub fn http(&self, method: &str, path: &str) -> String {
        let port = self.port;
        let mut s = TcpStream::connect(("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("moto on {port}: {e}"));
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap_or_else(|e| panic!("moto on {port}: {e}"));
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    /// Creates `bucket`; panics with moto's answer when that fails.
    pub fn create_bucket(&self, bucket: &str) {
        let created = self.http("PUT", &format!("/{bucket}"));
        assert!(
            created.starts_with("HTTP/1.1 200"),
            "create bucket {bucket}: {created}"
        );
    }
}
