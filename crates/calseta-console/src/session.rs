//! Finding the signed-in session of a request: the session cookie, [`PageContext`] as an
//! extractor (unauthenticated → `303 /login?next=…`), and [`SignedForm`], the extractor of every
//! state-changing request (same `Origin`, live session, the session's `csrf_token`), and
//! [`SignedUpload`], the same checks for a `multipart/form-data` upload.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calseta_services::resources::console_sessions::{Lookup, SessionEnd};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use subtle::ConstantTimeEq;

use crate::headers::same_origin;
use crate::pages::{PageContext, PageError};
use crate::state::ConsoleState;

/// The session cookie: the session id, nothing else.
pub const SESSION_COOKIE: &str = "calseta_session";
/// The sign-in form's double-submit cookie (before there is a session to tie a token to).
pub const LOGIN_CSRF_COOKIE: &str = "calseta_login_csrf";

/// The value of cookie `name` in the request, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim().to_string())
}

/// A `Set-Cookie` value: always `HttpOnly` and `SameSite=Strict` (no script reads it, no other
/// site's request carries it), `Secure` when the console is served over HTTPS; `max_age` 0
/// deletes the cookie.
pub fn set_cookie(name: &str, value: &str, path: &str, max_age: i64, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
    ))
    .ok()
}

/// Whether `sent` is exactly `expected`, in constant time.
pub fn tokens_match(sent: Option<&str>, expected: &str) -> bool {
    match sent {
        Some(sent) if !expected.is_empty() && sent.len() == expected.len() => {
            sent.as_bytes().ct_eq(expected.as_bytes()).into()
        }
        _ => false,
    }
}

/// `next` if it is a path on this site (`/…`, not `//host` or `/\host`, no control characters),
/// so a sign-in link can never send anyone elsewhere.
pub fn safe_next(next: Option<&str>) -> Option<&str> {
    let next = next?;
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.contains('\\')
        && next.len() <= 2048
        && !next.chars().any(char::is_control);
    ok.then_some(next)
}

/// The `reason` parameter `/login` understands for an ended session.
pub fn end_reason(end: SessionEnd) -> Option<&'static str> {
    match end {
        SessionEnd::Unknown => None,
        SessionEnd::Idle => Some("idle"),
        SessionEnd::Expired => Some("expired"),
        SessionEnd::KeyRevoked => Some("revoked"),
        SessionEnd::KeyExpired => Some("key_expired"),
    }
}

/// `303 /login?next=<target>&reason=…`; clears a stale session cookie when one was sent.
fn to_login(target: Option<&str>, end: Option<SessionEnd>, clear: bool, secure: bool) -> Response {
    let mut query: Vec<(&str, &str)> = Vec::new();
    if let Some(target) = safe_next(target).filter(|t| *t != "/") {
        query.push(("next", target));
    }
    if let Some(reason) = end.and_then(end_reason) {
        query.push(("reason", reason));
    }
    let encoded = serde_urlencoded::to_string(&query).unwrap_or_default();
    let location = if encoded.is_empty() { "/login".to_string() } else { format!("/login?{encoded}") };
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    if clear && let Some(value) = set_cookie(SESSION_COOKIE, "", "/", 0, secure) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// Resolves the request's session: the page context, or the response that sends the browser to
/// sign in (`next` brings it back to `target` afterwards).
async fn signed_in(
    parts: &Parts,
    state: &ConsoleState,
    target: Option<&str>,
) -> Result<PageContext, Response> {
    let secure = state.settings().https_enabled;
    let Some(id) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Err(to_login(target, None, false, secure));
    };
    match state.sessions().resolve(&id).await {
        Ok(Lookup::Active(session)) => {
            Ok(PageContext::new(*session, id, parts.uri.path().to_string(), state.settings().sandbox_mode))
        }
        Ok(Lookup::Ended(end)) => Err(to_login(target, Some(end), true, secure)),
        Err(e) => Err(PageError::from(e).into_response()),
    }
}

impl FromRequestParts<ConsoleState> for PageContext {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        // Only a page the browser can GET again is a place to come back to after signing in.
        let target = (parts.method == http::Method::GET)
            .then(|| parts.uri.path_and_query().map(|p| p.as_str().to_string()))
            .flatten();
        signed_in(parts, state, target.as_deref()).await
    }
}

/// A state-changing request of a signed-in session: its `Origin` is this server, its session is
/// live, and its urlencoded form carries the session's `csrf_token`; `form` is the rest of the
/// form. Anything else is refused with a 403 page before the handler runs, so nothing changes.
#[derive(Debug)]
pub struct SignedForm<T> {
    /// The signed-in page context.
    pub ctx: PageContext,
    /// The form's fields.
    pub form: T,
}

#[derive(Deserialize)]
struct CsrfField {
    csrf_token: Option<String>,
}

impl<T: DeserializeOwned + Send> FromRequest<ConsoleState> for SignedForm<T> {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &parts.uri, state.settings().https_enabled) {
            return Err(PageError::csrf().into_response());
        }
        let ctx = signed_in(&parts, state, None).await?;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(IntoResponse::into_response)?;
        let token: CsrfField =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| PageError::csrf().into_response())?;
        if !tokens_match(token.csrf_token.as_deref(), &ctx.csrf_token) {
            return Err(PageError::csrf().into_response());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            PageError::bad_request(format!("The form could not be read: {e}")).into_response()
        })?;
        Ok(SignedForm { ctx, form })
    }
}

/// A `multipart/form-data` upload of a signed-in session, checked as [`SignedForm`] checks a
/// form: its `Origin` is this server, its session is live, and its `csrf_token` part is the
/// session's token — all before the handler sees a byte of the file. Text parts are `fields`;
/// the part named `file` (at most one) is `file`.
#[derive(Debug)]
pub struct SignedUpload {
    /// The signed-in page context.
    pub ctx: PageContext,
    /// The text parts by name (the last of a repeated name).
    pub fields: std::collections::HashMap<String, String>,
    /// The `file` part: its file name and bytes.
    pub file: Option<(String, Vec<u8>)>,
}

impl FromRequest<ConsoleState> for SignedUpload {
    type Rejection = Response;

    async fn from_request(request: Request, state: &ConsoleState) -> Result<Self, Self::Rejection> {
        let (parts, body) = request.into_parts();
        if !same_origin(&parts.headers, &parts.uri, state.settings().https_enabled) {
            return Err(PageError::csrf().into_response());
        }
        let ctx = signed_in(&parts, state, None).await?;
        let unreadable =
            |e: &dyn std::fmt::Display| PageError::bad_request(format!("The upload could not be read: {e}"));
        let mut multipart = axum::extract::Multipart::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| unreadable(&e.body_text()).into_response())?;
        let mut fields = std::collections::HashMap::new();
        let mut file = None;
        while let Some(field) =
            multipart.next_field().await.map_err(|e| unreadable(&e.body_text()).into_response())?
        {
            let name = field.name().unwrap_or_default().to_string();
            if name == "file" {
                let filename = field.file_name().unwrap_or_default().to_string();
                let bytes = field.bytes().await.map_err(|e| unreadable(&e.body_text()).into_response())?;
                file = Some((filename, bytes.to_vec()));
            } else {
                let text = field.text().await.map_err(|e| unreadable(&e.body_text()).into_response())?;
                fields.insert(name, text);
            }
        }
        // The token is checked once every part is read, and before anything is done with them.
        if !tokens_match(fields.get("csrf_token").map(String::as_str), &ctx.csrf_token) {
            return Err(PageError::csrf().into_response());
        }
        Ok(SignedUpload { ctx, fields, file })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_same_site_paths_are_followed_after_sign_in() {
        assert_eq!(safe_next(Some("/alerts?status=Open")), Some("/alerts?status=Open"));
        for hostile in ["//evil.example", "/\\evil.example", "https://evil.example", "evil", "/a\nb", ""] {
            assert_eq!(safe_next(Some(hostile)), None, "{hostile:?}");
        }
        assert_eq!(safe_next(None), None);
    }

    #[test]
    fn cookies_are_read_by_exact_name() {
        let mut headers = HeaderMap::new();
        headers.insert(header::COOKIE, HeaderValue::from_static("x_calseta_session=no; calseta_session=yes"));
        assert_eq!(cookie(&headers, SESSION_COOKIE).as_deref(), Some("yes"));
        assert_eq!(cookie(&headers, LOGIN_CSRF_COOKIE), None);
    }

    #[test]
    fn tokens_must_match_exactly() {
        assert!(tokens_match(Some("abc"), "abc"));
        assert!(!tokens_match(Some("abd"), "abc"));
        assert!(!tokens_match(Some("ab"), "abc"));
        assert!(!tokens_match(None, "abc"));
        assert!(!tokens_match(Some(""), ""));
    }

    #[test]
    fn session_cookies_are_http_only_and_strict() {
        let value = set_cookie(SESSION_COOKIE, "id", "/", 60, true).unwrap();
        let text = value.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict") && text.ends_with("; Secure"));
        let plain = set_cookie(SESSION_COOKIE, "id", "/", 60, false).unwrap();
        assert!(!plain.to_str().unwrap().contains("Secure"));
    }
}
