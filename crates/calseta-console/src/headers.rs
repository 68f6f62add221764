//! The security headers of every console response, and the `Origin` check of state-changing
//! requests.
//!
//! The CSP allows nothing inline — no `<script>` blocks, no `style=` attributes, no event-handler
//! attributes — and nothing from elsewhere, so markup injected through alert content could
//! neither run nor load anything even if it escaped the templates. `Referrer-Policy` is
//! `same-origin` rather than `no-referrer` because browsers send `Origin: null` on form posts
//! under `no-referrer`, which would make the `Origin` check refuse our own forms.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::middleware::Next;
use axum::response::Response;

/// The console's Content-Security-Policy. `default-src 'none'` (stricter than `'self'`) so every
/// kind of resource is named; no `unsafe-inline` or `unsafe-eval`; Trusted Types required for
/// script sinks, so the browser itself refuses any string our JavaScript would hand to
/// `innerHTML` and the like.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                       connect-src 'self'; object-src 'none'; form-action 'self'; frame-ancestors 'none'; \
                       base-uri 'none'; require-trusted-types-for 'script'";

/// Middleware: the security headers on every console response, and `Cache-Control: no-store`
/// unless the response chose its own caching (the hashed assets do).
pub async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}

/// This server's origin as the browser names it: the scheme (`https` when `HTTPS_ENABLED`, the
/// TLS being terminated in front of us) and the `Host` the request was sent to (HTTP/2 carries it
/// in the request target).
pub fn own_origin(headers: &HeaderMap, uri: &Uri, https: bool) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
        .or_else(|| uri.authority().map(|a| a.as_str().to_string()))?;
    let scheme = if https { "https" } else { "http" };
    Some(format!("{scheme}://{host}"))
}

/// Whether the request's `Origin` header names this server (a missing header does not: every
/// browser sends one on a form post).
pub fn same_origin(headers: &HeaderMap, uri: &Uri, https: bool) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else {
        return false;
    };
    own_origin(headers, uri, https).is_some_and(|own| own.eq_ignore_ascii_case(origin))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn the_origin_must_be_this_host_with_this_scheme() {
        let uri: Uri = "/logout".parse().unwrap();
        let ours = headers(&[("host", "127.0.0.1:8000"), ("origin", "http://127.0.0.1:8000")]);
        assert!(same_origin(&ours, &uri, false));
        assert!(!same_origin(&ours, &uri, true), "http origin while we are served over https");
        let foreign = headers(&[("host", "127.0.0.1:8000"), ("origin", "http://evil.example")]);
        assert!(!same_origin(&foreign, &uri, false));
        let port = headers(&[("host", "127.0.0.1:8000"), ("origin", "http://127.0.0.1:8001")]);
        assert!(!same_origin(&port, &uri, false));
        assert!(!same_origin(&headers(&[("host", "127.0.0.1:8000")]), &uri, false), "no Origin");
        let null = headers(&[("host", "127.0.0.1:8000"), ("origin", "null")]);
        assert!(!same_origin(&null, &uri, false));
        let h2: Uri = "https://soc.example/logout".parse().unwrap();
        assert!(same_origin(&headers(&[("origin", "https://soc.example")]), &h2, true));
    }
}
