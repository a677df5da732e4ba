//! Logging in to a test's `kuzet serve` as the initial admin, with the
//! random password its first start wrote into the data directory, as a
//! person following the printed instructions would.

use std::path::Path;

/// The session cookie (`name=value`) of the initial admin of the server at
/// `base` (e.g. `http://127.0.0.1:8080`) whose data directory is `data`.
pub fn initial_admin_cookie(base: &str, data: &Path) -> String {
    let pw_file = data.join("initial-admin-password");
    let password =
        std::fs::read_to_string(&pw_file).unwrap_or_else(|e| panic!("{}: {e}", pw_file.display()));
    session_cookie(base, "admin", password.trim())
}

/// The session cookie (`name=value`) of user `name` logged in with
/// `password` at `base`.
#[allow(dead_code)] // not every test binary that includes this module logs in others
pub fn session_cookie(base: &str, name: &str, password: &str) -> String {
    let login = reqwest::blocking::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"name": name, "password": password}))
        .send()
        .expect("log in");
    assert!(
        login.status().is_success(),
        "login {name}: {}",
        login.status()
    );
    login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string()
}
