//! A real RTSP server for tests: `scripts/rtsp_server.py` (GStreamer's RTSP
//! server) serving a video file on 127.0.0.1. Shared by this crate's tests and
//! the end-to-end tests, so RTSP is always tested against a real server
//! process, never a mock.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Debian packages the server needs (for `/usr/bin/python3`).
pub const RTSP_SERVER_PACKAGES: &str = "python3-gi gir1.2-gst-rtsp-server-1.0 \
gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad";

/// The running server; killed (SIGKILL) on drop, so a failing test leaves no
/// process behind.
pub struct RtspServer {
    child: Child,
    url: String,
}

impl RtspServer {
    /// Starts serving `file` at `rtsp://127.0.0.1:<port>/stream` and waits
    /// (up to 15 s) until the server says it listens. The error names the
    /// Debian packages to install.
    pub fn start(port: u16, file: &Path) -> Result<RtspServer, String> {
        let script = base::env::workspace_root().join("scripts/rtsp_server.py");
        let mut child = Command::new("/usr/bin/python3")
            .arg(&script)
            .args(["--port", &port.to_string(), "--file"])
            .arg(file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run /usr/bin/python3 {}: {e}; install the Debian packages {RTSP_SERVER_PACKAGES}",
                    script.display()
                )
            })?;
        let Some(stdout) = child.stdout.take() else {
            return Err(fail(child, "has no stdout"));
        };
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(line) if line.starts_with("READY") => {
                    return Ok(RtspServer {
                        child,
                        url: format!("rtsp://127.0.0.1:{port}/stream"),
                    })
                }
                Ok(_) => {}
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {
                    if let Ok(Some(_)) = child.try_wait() {
                        return Err(fail(child, "exited"));
                    }
                }
                Err(_) => return Err(fail(child, "did not print READY within 15 s")),
            }
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Kills the server abruptly, as a camera losing power would.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn fail(mut child: Child, what: &str) -> String {
    let _ = child.kill();
    let _ = child.wait();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    format!(
        "the RTSP test server {what}: {err}\nIt needs the Debian packages {RTSP_SERVER_PACKAGES} (for /usr/bin/python3)"
    )
}

/// A TCP port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> std::io::Result<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}
