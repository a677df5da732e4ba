//! A WebDriver client for the browser tests: Debian's `chromium` and
//! `chromium-driver`, driven by a few blocking JSON calls to the W3C
//! endpoints (no extra crates, nothing to download). Shared by the server's
//! browser tests and the CLI's end-to-end browser test (included there by
//! path), so both drive the browser the same way.

// Each test binary uses a different part of it.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const PACKAGES: &str = "install the Debian packages `chromium` and `chromium-driver` \
     (`apt-get install chromium chromium-driver`, or `make setup`)";
pub const W3C_ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

pub fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(name))
        .find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `chromedriver` as a child process, killed on drop.
pub struct Driver {
    child: Child,
    base: String,
    http: reqwest::blocking::Client,
}

impl Driver {
    pub fn start() -> Driver {
        let exe = which("chromedriver").unwrap_or_else(|| {
            panic!("the browser test needs chromedriver, which is not on PATH: {PACKAGES}")
        });
        assert!(
            Path::new(CHROMIUM).is_file(),
            "the browser test needs {CHROMIUM}, which is missing: {PACKAGES}"
        );
        let port = free_port();
        let child = Command::new(exe)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start chromedriver: {e}; {PACKAGES}"));
        let d = Driver {
            child,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        };
        let t = Instant::now();
        loop {
            let ready = d
                .http
                .get(format!("{}/status", d.base))
                .send()
                .ok()
                .and_then(|r| r.json::<Value>().ok())
                .is_some_and(|v| v["value"]["ready"] == true);
            if ready {
                return d;
            }
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "chromedriver did not become ready"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req
            .send()
            .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status();
        let v: Value = r.json().unwrap_or(Value::Null);
        assert!(status.is_success(), "{method} {path}: {status} {v}");
        v["value"].clone()
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One browser session.
pub struct Browser<'a> {
    d: &'a Driver,
    session: String,
    artifacts: PathBuf,
    _profile: tempfile::TempDir,
}

impl<'a> Browser<'a> {
    pub fn open(d: &'a Driver, artifacts: PathBuf) -> Browser<'a> {
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1920,1080",
                    "--lang=en-GB",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let v = d.call(reqwest::Method::POST, "/session", Some(caps));
        let session = v["sessionId"].as_str().expect("a session id").to_string();
        Browser {
            d,
            session,
            artifacts,
            _profile: profile,
        }
    }

    pub fn post(&self, path: &str, body: Value) -> Value {
        self.d.call(
            reqwest::Method::POST,
            &format!("/session/{}{path}", self.session),
            Some(body),
        )
    }

    pub fn goto(&self, url: &str) {
        self.post("/url", json!({ "url": url }));
    }

    pub fn js(&self, script: &str) -> Value {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }

    /// Polls `expr` (a JavaScript expression) until it is truthy, for up
    /// to 10 s (what the app needs to render from the API).
    pub fn wait(&self, what: &str, expr: &str) {
        self.wait_for(what, expr, Duration::from_secs(10));
    }

    /// Like [`Browser::wait`] with a longer `limit`, for what the pipeline
    /// produces from real video.
    pub fn wait_for(&self, what: &str, expr: &str, limit: Duration) {
        let t = Instant::now();
        loop {
            if self.js(&format!("return !!({expr});")) == json!(true) {
                return;
            }
            if t.elapsed() > limit {
                let shot = self.screenshot("timeout");
                panic!(
                    "timed out waiting for {what} ({expr}); screenshot {}; console: {:?}",
                    shot.display(),
                    self.console()
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn element(&self, css: &str) -> String {
        let v = self.post("/element", json!({"using": "css selector", "value": css}));
        v[W3C_ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {v}"))
            .to_string()
    }

    /// Types `text` into the element as key presses (a real user's input).
    pub fn type_text(&self, css: &str, text: &str) {
        let id = self.element(css);
        self.post(&format!("/element/{id}/value"), json!({ "text": text }));
    }

    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.post(&format!("/element/{id}/click"), json!({}));
    }

    pub fn key(&self, k: &str) {
        self.post(
            "/actions",
            json!({"actions": [{"type": "key", "id": "keyboard", "actions": [
                {"type": "keyDown", "value": k}, {"type": "keyUp", "value": k}]}]}),
        );
    }

    pub fn screenshot(&self, name: &str) -> PathBuf {
        let v = self.d.call(
            reqwest::Method::GET,
            &format!("/session/{}/screenshot", self.session),
            None,
        );
        let png = base64_decode(v.as_str().expect("base64 PNG"));
        let path = self.artifacts.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Browser console entries since the last call.
    pub fn console(&self) -> Vec<Value> {
        self.post("/se/log", json!({"type": "browser"}))
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for Browser<'_> {
    fn drop(&mut self) {
        let _ = self
            .d
            .http
            .delete(format!("{}/session/{}", self.d.base, self.session))
            .send();
    }
}

pub fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let clean: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(clean.len() / 4 * 3);
    for chunk in clean.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let mut n = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            n |= if c == b'=' { 0 } else { val(c) } << (18 - 6 * i);
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&bytes[..3 - pad]);
    }
    out
}

pub fn artifacts_dir() -> PathBuf {
    // CARGO_MANIFEST_DIR is crates/<name>; artefacts go to the workspace target/.
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"));
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn severe(logs: &[Value]) -> Vec<String> {
    logs.iter()
        .filter(|l| l["level"] == "SEVERE")
        .map(|l| l["message"].as_str().unwrap_or_default().to_string())
        .collect()
}
