//! The console's own stylesheet and script, embedded in the binary and served under
//! content-hashed names (`/assets/app-<12 hex of SHA-256>.css`), so browsers may cache them for a
//! year: a new build with changed content has a new name, and pages link whatever this build
//! serves.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

/// What an immutable, content-named asset may be cached for.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// One served file.
struct Asset {
    /// `/assets/<name>`.
    path: String,
    body: &'static str,
    content_type: &'static str,
}

impl Asset {
    fn new(stem: &str, extension: &str, body: &'static str, content_type: &'static str) -> Self {
        let digest = hex::encode(Sha256::digest(body.as_bytes()));
        let hash = digest.get(..12).unwrap_or(&digest);
        Asset { path: format!("/assets/{stem}-{hash}.{extension}"), body, content_type }
    }

    fn name(&self) -> &str {
        self.path.trim_start_matches("/assets/")
    }
}

struct Assets {
    css: Asset,
    js: Asset,
}

/// Hashed once per process (the first page or [`prepare`] computes them).
static ASSETS: LazyLock<Assets> = LazyLock::new(|| Assets {
    css: Asset::new("app", "css", CSS, "text/css; charset=utf-8"),
    js: Asset::new("app", "js", JS, "text/javascript; charset=utf-8"),
});

/// Computes the hashed names now (at startup), not on the first request.
pub fn prepare() {
    LazyLock::force(&ASSETS);
}

/// The stylesheet's path, e.g. `/assets/app-0123456789ab.css`.
pub fn css_path() -> &'static str {
    &ASSETS.css.path
}

/// The script's path, e.g. `/assets/app-0123456789ab.js`.
pub fn js_path() -> &'static str {
    &ASSETS.js.path
}

/// `GET /assets/{name}`: the asset with this hashed name, cacheable for a year; any other name
/// (an old build's included) is a 404, so a stale name never caches new content.
pub async fn serve(Path(name): Path<String>) -> Response {
    let asset = [&ASSETS.css, &ASSETS.js].into_iter().find(|asset| asset.name() == name);
    let Some(asset) = asset else {
        return (StatusCode::NOT_FOUND, [(header::CACHE_CONTROL, "no-store")], "Not found.").into_response();
    };
    let mut response = asset.body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(IMMUTABLE));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_first_twelve_hex_digits_of_the_content_hash() {
        let css = css_path();
        assert!(css.starts_with("/assets/app-") && css.ends_with(".css"), "{css}");
        let hash = css.trim_start_matches("/assets/app-").trim_end_matches(".css");
        assert_eq!(hash.len(), 12);
        assert!(hex::encode(Sha256::digest(CSS.as_bytes())).starts_with(hash));
        assert!(js_path().ends_with(".js"));
    }
}
