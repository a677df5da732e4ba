//! Runs every fuzz target body over its checked-in corpus (`fuzz/corpus/`):
//! keeps the targets compiling and the seeds — and every input that once
//! crashed a parser — passing on each `make test`. A panic fails the test,
//! naming the file.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut out: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let p = e.unwrap().path();
            let b = std::fs::read(&p).unwrap();
            (p, b)
        })
        .collect();
    out.sort();
    assert!(out.len() >= 3, "{target}: the corpus needs seeds");
    out
}

fn run(target: &str, f: fn(&[u8])) {
    for (path, bytes) in corpus(target) {
        let r = std::panic::catch_unwind(|| f(&bytes));
        assert!(r.is_ok(), "{target} panicked on {}", path.display());
    }
}

#[test]
fn config_toml() {
    run("config_toml", kuzet_server::fuzzing::config_toml);
}

#[test]
fn api_json() {
    run("api_json", kuzet_server::fuzzing::api_json);
}

#[test]
fn camera_url() {
    run("camera_url", kuzet_server::fuzzing::camera_url);
}

#[test]
fn plate_text() {
    run("plate_text", kuzet_server::fuzzing::plate_text);
}

#[test]
fn plate_formats() {
    run("plate_formats", kuzet_server::fuzzing::plate_formats);
}

#[test]
fn image_upload() {
    run("image_upload", kuzet_server::fuzzing::image_upload);
}
