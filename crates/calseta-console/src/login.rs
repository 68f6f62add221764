//! `/login` and `/logout`: signing a human API key in (or, in sandbox mode, a demo key with one
//! click) and out.
//!
//! Before sign-in there is no session to tie a CSRF token to, so the form uses a double-submit
//! token: a random value in a `SameSite=Strict` cookie and in the form's hidden `csrf_token`,
//! which must match, together with the `Origin` check every console POST makes.

use askama::Template;
use axum::Extension;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calseta_services::demo::{DEMO_LAB_KEY, DEMO_READ_KEY};
use calseta_services::platform::rate_limit::ClientIp;
use calseta_services::resources::api_keys::AuthFailure;
use calseta_services::resources::console_sessions::{Lookup, SignInRefusal};
use rand::RngCore;
use serde::Deserialize;

use crate::headers::same_origin;
use crate::pages::{PageError, render, see_other};
use crate::session::{
    LOGIN_CSRF_COOKIE, SESSION_COOKIE, SignedForm, cookie, safe_next, set_cookie, tokens_match,
};
use crate::state::ConsoleState;

/// How long a sign-in form stays usable.
const LOGIN_FORM_SECONDS: i64 = 3600;

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    css: &'static str,
    csrf_token: String,
    next: String,
    notice: Option<&'static str>,
    error: Option<&'static str>,
    sandbox: bool,
}

/// The query of `GET /login`.
#[derive(Debug, Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    reason: Option<String>,
}

/// What `/login?reason=` says.
fn notice(reason: Option<&str>) -> Option<&'static str> {
    use calseta_services::resources::console_sessions::SessionEnd;
    let end = match reason? {
        "idle" => SessionEnd::Idle,
        "expired" => SessionEnd::Expired,
        "revoked" => SessionEnd::KeyRevoked,
        "key_expired" => SessionEnd::KeyExpired,
        "signed_out" => return Some("You have signed out."),
        _ => return None,
    };
    Some(end.message())
}

/// A fresh double-submit token (256 random bits).
fn new_form_token() -> String {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    URL_SAFE_NO_PAD.encode(random)
}

/// The form token the browser already holds (several tabs share it), else a new one.
fn form_token(headers: &HeaderMap) -> String {
    cookie(headers, LOGIN_CSRF_COOKIE)
        .filter(|t| t.len() == 43 && t.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        .unwrap_or_else(new_form_token)
}

/// The sign-in page with `status`, (re)setting the form's cookie.
fn login_response(
    state: &ConsoleState,
    status: StatusCode,
    token: String,
    next: Option<&str>,
    notice: Option<&'static str>,
    error: Option<&'static str>,
) -> Response {
    let page = LoginPage {
        css: crate::assets::css_path(),
        csrf_token: token.clone(),
        next: safe_next(next).unwrap_or_default().to_string(),
        notice,
        error,
        sandbox: state.settings().sandbox_mode,
    };
    let mut response = (status, render(&page)).into_response();
    let secure = state.settings().https_enabled;
    if let Some(value) = set_cookie(LOGIN_CSRF_COOKIE, &token, "/login", LOGIN_FORM_SECONDS, secure) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

/// `GET /login`: the sign-in form (a browser already signed in goes on to `next`).
pub async fn login_page(
    State(state): State<ConsoleState>,
    Query(query): Query<LoginQuery>,
    headers: HeaderMap,
) -> Response {
    if let Some(id) = cookie(&headers, SESSION_COOKIE)
        && let Ok(Lookup::Active(_)) = state.sessions().resolve(&id).await
    {
        return see_other(safe_next(query.next.as_deref()).unwrap_or("/"));
    }
    let token = form_token(&headers);
    login_response(
        &state,
        StatusCode::OK,
        token,
        query.next.as_deref(),
        notice(query.reason.as_deref()),
        None,
    )
}

/// The sign-in form's fields.
#[derive(Debug, Deserialize)]
struct LoginForm {
    api_key: Option<String>,
    csrf_token: Option<String>,
    next: Option<String>,
    /// Sandbox mode's one-click sign-in: `lab` (full access) or `read` (read-only).
    demo: Option<String>,
}

/// `POST /login`: checks the origin and the form token, then signs the key in; a refusal shows
/// the form again with why (a failed key counts against `RATE_LIMIT_UNAUTHED_PER_MINUTE`).
pub async fn login_submit(
    State(state): State<ConsoleState>,
    client_ip: Option<Extension<ClientIp>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> Response {
    let settings = state.settings();
    if !same_origin(&headers, &uri, settings.https_enabled) {
        return PageError::csrf().into_response();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return PageError::bad_request("The sign-in form could not be read.").into_response();
    };
    let expected = cookie(&headers, LOGIN_CSRF_COOKIE).unwrap_or_default();
    if !tokens_match(form.csrf_token.as_deref(), &expected) {
        return PageError::csrf().into_response();
    }
    let next = form.next.as_deref();
    let again = |status, error| login_response(&state, status, expected.clone(), next, None, Some(error));
    let token = match form.demo.as_deref() {
        Some(_) if !settings.sandbox_mode => {
            return PageError::forbidden("One-click sign-in is offered in sandbox mode only.")
                .into_response();
        }
        Some("read") => DEMO_READ_KEY.to_string(),
        Some(_) => DEMO_LAB_KEY.to_string(),
        None => form.api_key.as_deref().map(str::trim).unwrap_or_default().to_string(),
    };
    if token.is_empty() {
        return again(StatusCode::BAD_REQUEST, "Enter an API key.");
    }
    let ip = client_ip.map_or_else(|| "unknown".to_string(), |Extension(ClientIp(ip))| ip.to_string());
    let services = state.services();
    let opened = state
        .sessions()
        .sign_in(&services.keys, &token, &ip, &services.limiter, settings.unauthed_per_minute)
        .await;
    let opened = match opened {
        Ok(opened) => opened,
        Err(SignInRefusal::Throttled { retry_after }) => {
            return PageError::too_many(
                format!("Too many failed sign-ins from your address. Try again in {retry_after} seconds."),
                retry_after,
            )
            .into_response();
        }
        Err(SignInRefusal::Failed(AuthFailure::Unavailable)) => {
            return PageError::unavailable().into_response();
        }
        Err(SignInRefusal::Failed(failure)) => {
            tracing::info!(reason = failure.reason(), client_ip = %ip, "console sign-in refused");
            return again(StatusCode::UNAUTHORIZED, "That API key was not accepted.");
        }
        Err(SignInRefusal::AgentKey) => {
            return again(
                StatusCode::FORBIDDEN,
                "This is an agent key. Agents use the REST API and MCP; sign in to the console with a human key.",
            );
        }
        Err(SignInRefusal::Service(e)) => return PageError::from(e).into_response(),
    };
    tracing::info!(key_prefix = %opened.session.key.key_prefix, client_ip = %ip, "console sign-in");
    let mut response = see_other(safe_next(next).unwrap_or("/"));
    let lifetime = state.sessions().policy().absolute.num_seconds();
    let response_headers = response.headers_mut();
    for cookie in [
        set_cookie(SESSION_COOKIE, &opened.id, "/", lifetime, settings.https_enabled),
        set_cookie(LOGIN_CSRF_COOKIE, "", "/login", 0, settings.https_enabled),
    ]
    .into_iter()
    .flatten()
    {
        response_headers.append(header::SET_COOKIE, cookie);
    }
    response
}

/// The sign-out form: nothing but its `csrf_token`.
#[derive(Debug, Deserialize)]
pub struct NoFields {}

/// `POST /logout`: ends the session and clears its cookie.
pub async fn logout(State(state): State<ConsoleState>, signed: SignedForm<NoFields>) -> Response {
    if let Err(e) = state.sessions().end(signed.ctx.session_id()).await {
        return PageError::from(e).into_response();
    }
    let mut response = see_other("/login?reason=signed_out");
    if let Some(value) = set_cookie(SESSION_COOKIE, "", "/", 0, state.settings().https_enabled) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
