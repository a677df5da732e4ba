//! Fuzz target bodies: every parser of untrusted input the server runs,
//! each as a function of raw bytes that must never panic, whatever the
//! bytes. `fuzz/` (cargo-fuzz, outside the workspace) drives them with
//! libFuzzer; `tests/fuzz_corpus.rs` runs them over the checked-in seed
//! corpus on every `make test`, so they keep compiling and the seeds (and
//! every crash input once fixed) stay regression tests.
//!
//! They call the same functions the request handlers call, not copies, so a
//! fix in the handler is what the fuzzer checks.

use serde::de::DeserializeOwned;

/// The config file (TOML): parse, environment expansion and validation.
pub fn config_toml(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = config::Config::parse(text, "fuzz.toml");
    }
}

/// The zone/line editor: a JSON body applied to a config text
/// (`PUT /api/cameras/{id}/zones/{name}` and `/lines/{name}`).
pub fn config_edit(data: &[u8]) {
    const BASE: &str = "[[camera]]\nid = \"gate\"\nurl = \"rtsp://cam/1\"\n";
    if let Ok(z) = serde_json::from_slice::<crate::config_api::ZoneBody>(data) {
        let _ = config::edit::apply(
            BASE,
            "gate",
            "z",
            &config::edit::GeometryEdit::Zone { polygon: z.polygon },
        );
    }
    if let Ok(l) = serde_json::from_slice::<crate::config_api::LineBody>(data) {
        let _ = config::edit::apply(
            BASE,
            "gate",
            "l",
            &config::edit::GeometryEdit::Line {
                from: l.from,
                to: l.to,
            },
        );
    }
}

/// A camera URL as shown in the API and logs (credential redaction).
pub fn camera_url(data: &[u8]) {
    if let Ok(url) = std::str::from_utf8(data) {
        let out = base::url::redact_url(url);
        // The password never survives redaction.
        let authority = url
            .split_once("://")
            .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""));
        let pass = authority
            .and_then(|a| a.rsplit_once('@'))
            .and_then(|(userinfo, _)| userinfo.split_once(':'))
            .map(|(_, p)| p);
        if let Some(p) = pass.filter(|p| !p.is_empty() && *p != "***") {
            assert!(!out.contains(&format!(":{p}@")), "password left in {out:?}");
        }
    }
}

/// Plate text typed by users: hotlist entries and search patterns.
pub fn plate_text(data: &[u8]) {
    if let Ok(s) = std::str::from_utf8(data) {
        let n = store::plates::normalize_plate(s);
        assert!(
            n.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
            "normalised plate {n:?} has other characters"
        );
        if let Ok(like) = store::plate_like(s) {
            // Nothing but the translated wildcards reaches SQL LIKE.
            assert!(
                like.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_' || c == '%'),
                "pattern {s:?} gave LIKE {like:?}"
            );
        }
    }
}

/// An installation's plate-format table (`[plates] formats`): parsed, and
/// a read fitted to whatever formats it defines.
pub fn plate_formats(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(f) = vehicles::PlateFormats::from_toml(text) {
            let read: Vec<(char, f32)> = "AB0-12C3D4O".chars().map(|c| (c, 0.6)).collect();
            let n = f.normalize(&read, &[]);
            assert!(
                n.text
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()),
                "fitted plate {:?} has other characters",
                n.text
            );
            assert_eq!(n.char_conf.len(), n.text.chars().count());
        }
    }
}

/// An uploaded photo (face enrolment, identification, search, lost-child),
/// decoded exactly as the face routes decode it.
pub fn image_upload(data: &[u8]) {
    let _ = crate::faces_api::decode_upload(data);
}

fn body<T: DeserializeOwned>(data: &[u8]) -> Option<T> {
    serde_json::from_slice(data).ok()
}

/// Every JSON request body the API accepts, with the parsing the handlers
/// do after deserialising (times, enums, plate text).
pub fn api_json(data: &[u8]) {
    if let Some(r) = body::<crate::authorisation_api::AuthorisationRequest>(data) {
        let _ = r.purpose.parse::<store::AuthorisationPurpose>();
        let _ = r.list_class.parse::<store::ListClass>();
        let _ = base::Timestamp::parse(&r.expires);
        r.window_start.as_deref().map(base::Timestamp::parse);
        r.window_end.as_deref().map(base::Timestamp::parse);
    }
    let _ = body::<crate::authorisation_api::RevokeRequest>(data);
    let _ = body::<crate::review_api::ReviewRequest>(data);
    let _ = body::<crate::release_api::DispatchRequest>(data);
    let _ = body::<crate::auth_api::LoginBody>(data);
    let _ = body::<crate::auth_api::NewUserBody>(data);
    let _ = body::<crate::plates_api::NewHotlist>(data);
    if let Some(r) = body::<crate::ptz_api::PtzBody>(data) {
        r.at.as_deref().map(base::Timestamp::parse);
        let _ = r.azimuth_deg.rem_euclid(360.0);
    }
    if let Some(r) = body::<crate::agreement_api::AgreementChangeRequest>(data) {
        let _ = store::AgreementTerms {
            analytics: r.analytics,
            viewer_roles: r.viewer_roles,
            retention_days: r.retention_days,
        }
        .validate();
    }
    // One hotlist entry or an array of them, as `add_entries` reads them.
    if let Some(v) = body::<serde_json::Value>(data) {
        let items = match v {
            serde_json::Value::Array(a) => a,
            one => vec![one],
        };
        for item in items {
            if let Ok(e) = serde_json::from_value::<crate::plates_api::NewEntry>(item) {
                let _ = store::plates::normalize_plate(e.plate());
                e.expires().map(base::Timestamp::parse);
            }
        }
    }
    config_edit(data);
}
