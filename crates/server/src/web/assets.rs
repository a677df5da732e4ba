//! The app's static files, compiled into the binary.

use crate::error::ApiError;
use axum::extract::Path;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

macro_rules! assets {
    ($($path:literal),* $(,)?) => {
        &[$(($path, include_bytes!(concat!("../../assets/", $path)) as &[u8])),*]
    };
}

/// Every file the app consists of, by its path under `/assets/`.
const FILES: &[(&str, &[u8])] = assets![
    "index.html",
    "transparency.html",
    "app.css",
    "favicon.svg",
    "js/app.js",
    "js/api.js",
    "js/i18n.js",
    "js/sse.js",
    "js/util.js",
    "js/live.js",
    "js/cameras.js",
    "js/events.js",
    "js/detail.js",
    "js/track.js",
    "js/review.js",
    "js/search.js",
    "js/zones.js",
    "js/lists.js",
    "js/authorisations.js",
    "js/map.js",
    "js/stats.js",
    "js/login.js",
    "js/transparency.js",
    "i18n/en.json",
    "i18n/ru.json",
    "i18n/kk.json",
    "geo/almaty.geojson",
];

/// Assets are not fingerprinted, so browsers revalidate every time; the ETag
/// makes that a bodiless 304.
const CACHE: &str = "no-cache";

pub(crate) fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "geojson" => "application/geo+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        _ => "application/octet-stream",
    }
}

/// FNV-1a of every file with the crate version: one tag per build, so a new
/// binary invalidates every cached file.
fn etag() -> &'static str {
    static TAG: OnceLock<String> = OnceLock::new();
    TAG.get_or_init(|| {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in FILES
            .iter()
            .flat_map(|(p, b)| p.as_bytes().iter().chain(b.iter()))
            .chain(env!("CARGO_PKG_VERSION").as_bytes())
        {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        format!("\"{h:016x}\"")
    })
}

fn serve_file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let (_, body) = FILES.iter().find(|(p, _)| *p == path)?;
    let tag = etag();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        });
    let common = [
        (header::ETAG, tag.to_string()),
        (header::CACHE_CONTROL, CACHE.to_string()),
    ];
    Some(if fresh {
        (StatusCode::NOT_MODIFIED, common).into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(path).to_string())],
            common,
            *body,
        )
            .into_response()
    })
}

/// The situation centre web app (`index.html`).
#[utoipa::path(
    get,
    path = "/",
    tag = "web app",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer; a match answers 304")),
    responses(
        (status = 200, description = "The app's HTML page", content_type = "text/html; charset=utf-8", body = String),
        (status = 304, description = "The cached copy is current"),
    )
)]
pub(crate) async fn index(headers: HeaderMap) -> Response {
    serve_file("index.html", &headers).expect("index.html is compiled in")
}

/// The public transparency report page: no login, it reads only
/// `/api/transparency` (aggregate counts and the module register).
#[utoipa::path(
    get,
    path = "/transparency",
    tag = "web app",
    params(("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer; a match answers 304")),
    responses(
        (status = 200, description = "The transparency report's HTML page", content_type = "text/html; charset=utf-8", body = String),
        (status = 304, description = "The cached copy is current"),
    )
)]
pub(crate) async fn transparency_page(headers: HeaderMap) -> Response {
    serve_file("transparency.html", &headers).expect("transparency.html is compiled in")
}

/// A file of the web app (ES modules, CSS, translations, map data), with its
/// content type, `Cache-Control: no-cache` and an `ETag`.
#[utoipa::path(
    get,
    path = "/assets/{path}",
    tag = "web app",
    params(
        ("path" = String, Path, description = "File path under the app's assets, may contain `/` (e.g. `app.js`, `i18n/en.json`)"),
        ("If-None-Match" = Option<String>, Header, description = "An ETag from an earlier answer; a match answers 304"),
    ),
    responses(
        (status = 200, description = "The file, with the content type of its extension", content(
            (String = "text/javascript"),
            (String = "text/css"),
            (Object = "application/json"),
            (Object = "application/geo+json"),
        )),
        (status = 304, description = "The cached copy is current"),
        (status = 404, description = "No such asset", body = crate::error::ErrorBody),
    )
)]
pub(crate) async fn asset(Path(path): Path<String>, headers: HeaderMap) -> Response {
    serve_file(&path, &headers).unwrap_or_else(|| {
        ApiError::not_found(format!("no such asset: /assets/{path}")).into_response()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_asset_has_a_known_type() {
        for (p, b) in FILES {
            assert_ne!(content_type(p), "application/octet-stream", "{p}");
            assert!(!b.is_empty(), "{p} is empty");
        }
    }

    #[test]
    fn translations_have_the_same_keys() {
        let keys = |name: &str| {
            let (_, b) = FILES.iter().find(|(p, _)| *p == name).unwrap();
            let v: serde_json::Value = serde_json::from_slice(b).unwrap();
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let en = keys("i18n/en.json");
        assert_eq!(en, keys("i18n/ru.json"), "ru.json keys differ from en.json");
        assert_eq!(en, keys("i18n/kk.json"), "kk.json keys differ from en.json");
    }

    #[test]
    fn basemap_is_valid_geojson() {
        let (_, b) = FILES
            .iter()
            .find(|(p, _)| *p == "geo/almaty.geojson")
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(b).unwrap();
        assert_eq!(v["type"], "FeatureCollection");
        assert!(!v["features"].as_array().unwrap().is_empty());
    }
}
