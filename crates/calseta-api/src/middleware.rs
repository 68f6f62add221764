//! Cross-cutting HTTP behaviour: request ids, client IP, access log, security headers, body-size
//! limits enforced on the bytes actually read, and panics turned into a clean 500.

use std::any::Any;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::error::ApiError;

/// `X-Request-ID`.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id (echoed from `X-Request-ID` when sane, else generated).
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub use calseta_services::platform::rate_limit::ClientIp;

fn sane_request_id(value: &HeaderValue) -> Option<String> {
    let text = value.to_str().ok()?;
    let ok = !text.is_empty()
        && text.len() <= 128
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=".contains(&b));
    ok.then(|| text.to_string())
}

/// Picks the client IP: with `trusted` proxies in front, each appending the address it saw, the
/// client is `trusted` entries from the right of `X-Forwarded-For`.
pub fn client_ip(peer: Option<IpAddr>, forwarded_for: Option<&str>, trusted: usize) -> Option<IpAddr> {
    if trusted > 0
        && let Some(header) = forwarded_for
    {
        let hops: Vec<&str> = header.split(',').map(str::trim).filter(|h| !h.is_empty()).collect();
        if !hops.is_empty() {
            let index = hops.len().saturating_sub(trusted);
            if let Some(ip) = hops.get(index).and_then(|h| h.parse::<IpAddr>().ok()) {
                return Some(ip);
            }
        }
    }
    peer
}

/// The route template a request matched (`/v1/alerts/{uuid}`), carried out on the response for
/// the metrics.
#[derive(Debug, Clone)]
pub struct RouteTemplate(pub String);

/// Route layer: records the matched route's template on the response. Only routed requests pass
/// here, so anything else is labelled `unmatched`.
pub async fn route_template(request: Request, next: Next) -> Response {
    let template = request.extensions().get::<axum::extract::MatchedPath>().map(|m| m.as_str().to_string());
    let mut response = next.run(request).await;
    if let Some(template) = template {
        response.extensions_mut().insert(RouteTemplate(template));
    }
    response
}

/// A method as a bounded label: the HTTP methods, else `other`.
pub fn method_label(method: &axum::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    }
}

/// Outermost layer: assigns the request id and client IP, logs one access line per request.
pub async fn request_context(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(sane_request_id)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let forwarded = request.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    let ip = client_ip(peer, forwarded, state.settings().trusted_proxy_count)
        .unwrap_or(IpAddr::from([127, 0, 0, 1]));
    request.extensions_mut().insert(RequestId(request_id.clone()));
    request.extensions_mut().insert(ClientIp(ip));
    let method = request.method().clone();
    // The path only: query strings may carry credentials (`?api_key=` on ingest routes).
    let path = request.uri().path().to_string();

    let mut response = next.run(request).await;

    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(X_REQUEST_ID.clone(), value);
    }
    let seconds = started.elapsed().as_secs_f64();
    let status = response.status().as_u16();
    // Labels come from the route table and a fixed set of methods: no client can grow them.
    let route = response.extensions().get::<RouteTemplate>().map_or("unmatched", |r| r.0.as_str());
    state.services().telemetry.http(method_label(&method), route, status, seconds);
    let duration_ms = (seconds * 1000.0 * 100.0).round() / 100.0;
    tracing::info!(
        target: "calseta::access",
        method = %method,
        path = %path,
        status_code = response.status().as_u16(),
        duration_ms,
        request_id = %request_id,
        client_ip = %ip,
        "request"
    );
    response
}

const CSP_API: &str = "default-src 'none'; frame-ancestors 'none'";
const CSP_DOCS: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                        img-src 'self' data:; frame-ancestors 'none'";
const CSP_UI: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; \
                      connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn content_security_policy(path: &str) -> &'static str {
    if path.ends_with("/decide") {
        CSP_UI
    } else if path.starts_with("/v1/")
        || path == "/v1"
        || path.starts_with("/health")
        || path == "/openapi.json"
    {
        CSP_API
    } else if path == "/docs" || path.starts_with("/docs/") {
        CSP_DOCS
    } else {
        CSP_UI
    }
}

/// Adds the security headers to every response. A front end that sets its own
/// `Content-Security-Policy` or `Referrer-Policy` (the console's, stricter) keeps it.
pub async fn security_headers(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let csp = content_security_policy(request.uri().path());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::X_XSS_PROTECTION, HeaderValue::from_static("1; mode=block"));
    headers.entry(header::REFERRER_POLICY).or_insert(HeaderValue::from_static("no-referrer"));
    headers.insert(
        HeaderName::from_static("permissions-policy"),
        HeaderValue::from_static("geolocation=(), microphone=(), camera=()"),
    );
    headers.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(csp));
    let settings = state.settings();
    if settings.https_enabled && settings.hsts_enabled {
        headers.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=63072000; includeSubDomains"),
        );
    }
    response
}

/// Whether `path` is an ingest route (which has its own, smaller body limit).
pub fn is_ingest_path(path: &str) -> bool {
    path.starts_with("/v1/ingest/") || path == "/v1/alerts"
}

/// The body limit of a request, for the extractors that read its body.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimit {
    /// Bytes allowed.
    pub bytes: usize,
    /// Whether it is an ingest route (`MAX_INGEST_PAYLOAD_SIZE_MB`).
    pub ingest: bool,
    /// How long reading the whole body may take.
    pub read_timeout: std::time::Duration,
}

impl BodyLimit {
    /// 413 `PAYLOAD_TOO_LARGE` in the envelope, naming the limit.
    pub fn too_large(&self) -> ApiError {
        let mb = self.bytes / (1024 * 1024);
        let message = if self.ingest {
            format!("Request body exceeds the {mb}MB limit for ingest endpoints.")
        } else {
            format!("Request body exceeds the {mb}MB limit for this endpoint.")
        };
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE", message)
    }
}

/// Sets the body-size limit of the route (`MAX_INGEST_PAYLOAD_SIZE_MB` on ingest routes,
/// `MAX_REQUEST_BODY_SIZE_MB` elsewhere) without reading the body: a declared `Content-Length`
/// over it is refused at once, and the body is wrapped so that reading it — which happens only in
/// the handler, after authentication — stops as soon as it passes the limit (chunked bodies
/// included). The body extractors (`extract::read_body`) turn that into the envelope.
pub async fn body_limit(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let settings = state.settings();
    let ingest = is_ingest_path(request.uri().path());
    let limit = BodyLimit {
        bytes: if ingest { settings.max_ingest_bytes } else { settings.max_body_bytes },
        ingest,
        read_timeout: settings.body_read_timeout,
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit.bytes as u64) {
        return limit.too_large().into_response();
    }
    request.extensions_mut().insert(limit);
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, limit.bytes);
    next.run(Request::from_parts(parts, Body::new(limited))).await
}

/// Turns a handler panic into the standard 500 envelope (details are logged, never returned).
pub fn panic_response(panic: Box<dyn Any + Send + 'static>) -> Response {
    let detail = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    tracing::error!(panic = %detail, "handler panicked");
    ApiError::internal().into_response()
}

/// 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::not_found("The requested resource was not found.")
}

/// 405 for known routes with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_a_fixed_set() {
        assert_eq!(method_label(&axum::http::Method::GET), "GET");
        assert_eq!(method_label(&axum::http::Method::from_bytes(b"FOO123").unwrap()), "other");
    }

    #[test]
    fn client_ip_honours_only_trusted_hops() {
        let peer: IpAddr = "10.0.0.9".parse().unwrap();
        let xff = Some("6.6.6.6, 1.2.3.4");
        assert_eq!(client_ip(Some(peer), xff, 0), Some(peer));
        assert_eq!(client_ip(Some(peer), xff, 1), Some("1.2.3.4".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), xff, 2), Some("6.6.6.6".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), xff, 5), Some("6.6.6.6".parse().unwrap()));
        assert_eq!(client_ip(Some(peer), Some("garbage"), 1), Some(peer));
    }

    #[test]
    fn csp_by_path() {
        assert_eq!(content_security_policy("/v1/alerts"), CSP_API);
        assert_eq!(content_security_policy("/health"), CSP_API);
        assert_eq!(content_security_policy("/docs"), CSP_DOCS);
        assert_eq!(content_security_policy("/v1/approvals/x/decide"), CSP_UI);
        assert_eq!(content_security_policy("/"), CSP_UI);
    }
}
