//! The pages: the context every signed-in page renders with ([`PageContext`], taken as an
//! extractor), the error page ([`PageError`]), and [`render`].
//!
//! A new page is a module here with a template struct that carries `ctx: PageContext` and
//! `{% extends "base.html" %}` (the header, navigation, sign-out form and `<main>` landmark come
//! from the base layout), and a handler that takes `PageContext` (unauthenticated requests are
//! redirected to `/login` before it runs), checks [`PageContext::require_scope`] for what it
//! shows, and returns `render(&page)`. State-changing handlers take `SignedForm<T>` instead,
//! which also checks the `Origin` and the form's `csrf_token`.
//!
//! Configuration forms that the services refuse are shown again with what was typed and the
//! refusal next to each field ([`forms::FormErrors`], the `field_error` and `form_errors` macros),
//! answered `422` by [`forms::render_refused`].

pub mod activity;
pub mod agent_fields;
pub mod agent_form;
pub mod agents;
pub mod alert_actions;
pub mod alert_detail;
pub mod alert_indicators;
pub mod alert_response;
mod alert_shared;
pub mod alerts;
pub mod approvals;
pub mod dashboard;
pub mod detection_rule_form;
pub mod detection_rules;
pub mod document_editor;
pub mod documents;
pub mod forms;
pub mod listing;
pub mod provider_form;
pub mod provider_test;
pub mod providers;
pub mod settings;
pub mod settings_api_keys;
pub mod settings_jobs;
pub mod settings_mappings;
pub mod settings_secrets;
pub mod settings_sources;
pub mod settings_system;
pub mod workflow_code;
pub mod workflow_editor;
pub mod workflow_runs;
pub mod workflow_settings;
pub mod workflows;

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use calseta_core::scopes::Scope;
use calseta_services::resources::api_keys::ApiKey;
use calseta_services::resources::console_sessions::ConsoleSession;
use chrono::{DateTime, Utc};

/// What every signed-in page knows: who is signed in, with which scopes, the session's CSRF
/// token for its forms, where the page is, and the asset names to link.
#[derive(Clone)]
pub struct PageContext {
    /// The signed-in key's name.
    pub key_name: String,
    /// The key's display prefix (`cai_xxxx`).
    pub key_prefix: String,
    /// The key's scopes as granted.
    pub scopes: Vec<String>,
    /// The session's CSRF token: every form's hidden `csrf_token`.
    pub csrf_token: String,
    /// The request's path (navigation marks the current section).
    pub path: String,
    /// Sandbox mode (a banner says the data is a demo).
    pub sandbox: bool,
    /// When the session ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// The stylesheet's hashed path.
    pub css: &'static str,
    /// The script's hashed path.
    pub js: &'static str,
    /// The activity-log position this page was read at, on pages that follow live updates: the
    /// event stream starts there, so nothing that happens between rendering and connecting is lost.
    pub events_since: Option<i64>,
    key: ApiKey,
    session_id: String,
}

impl std::fmt::Debug for PageContext {
    // The session id and CSRF token are credentials: `{:?}` never shows them.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PageContext")
            .field("key_name", &self.key_name)
            .field("key_prefix", &self.key_prefix)
            .field("scopes", &self.scopes)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl PageContext {
    /// The context of a request to `path` in the live `session` whose cookie holds `session_id`.
    pub(crate) fn new(session: ConsoleSession, session_id: String, path: String, sandbox: bool) -> Self {
        PageContext {
            key_name: session.key.name.clone(),
            key_prefix: session.key.key_prefix.clone(),
            scopes: session.key.scopes.clone(),
            csrf_token: session.csrf_token,
            path,
            sandbox,
            expires_at: session.expires_at,
            css: crate::assets::css_path(),
            js: crate::assets::js_path(),
            key: session.key,
            session_id,
            events_since: None,
        }
    }

    /// The signed-in key, as REST would see it (pass it to the services as the caller).
    pub fn key(&self) -> &ApiKey {
        &self.key
    }

    /// The session id from the cookie (sign-out ends it); never rendered.
    pub(crate) fn session_id(&self) -> &str {
        &self.session_id
    }

    /// Whether the key may do what `scope` guards: pages offer only the actions this allows.
    pub fn allows(&self, scope: Scope) -> bool {
        self.key.allows(scope)
    }

    /// [`Self::allows`] as a refusal: the server refuses what the page would not offer, exactly
    /// as REST refuses the same key.
    pub fn require_scope(&self, scope: Scope) -> Result<(), PageError> {
        if self.allows(scope) {
            Ok(())
        } else {
            Err(PageError::forbidden(format!("Your API key lacks the {scope} scope this page needs.")))
        }
    }

    /// Whether `href` is the current navigation section (`/` only for the dashboard itself).
    pub fn is_current(&self, href: &str) -> bool {
        if href == "/" {
            self.path == "/"
        } else {
            self.path == href || self.path.strip_prefix(href).is_some_and(|rest| rest.starts_with('/'))
        }
    }
}

/// `303 See Other` to `location`, where a form's POST sends the browser back (a location that is
/// not a valid header value is the error page, never a redirect to somewhere else).
pub(crate) fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(value) => (StatusCode::SEE_OTHER, [(header::LOCATION, value)]).into_response(),
        Err(_) => PageError::internal().into_response(),
    }
}

/// The uuid in a page's path, or the `404` page saying `not_found` when it is not one (an id that
/// cannot exist is answered like one that does not).
pub(crate) fn path_uuid(raw: &str, not_found: &str) -> Result<uuid::Uuid, PageError> {
    uuid::Uuid::parse_str(raw).map_err(|_| PageError::not_found(not_found))
}

/// Renders `page` as an HTML response (an error page if the template fails).
pub fn render<T: Template>(page: &T) -> Response {
    match page.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            PageError::internal().into_response()
        }
    }
}

/// A refusal or failure shown as a plain page with its status.
#[derive(Debug, Clone)]
pub struct PageError {
    status: StatusCode,
    title: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl PageError {
    /// 403: the key may not do this.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            title: "Not allowed",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 403: a state-changing request without this session's CSRF token or from another origin.
    pub fn csrf() -> Self {
        Self::forbidden(
            "This form was not sent from this console, or its page is out of date. \
             Go back, reload the page and try again.",
        )
    }

    /// 400: the request could not be read.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            title: "Bad request",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 422: the form was read but what it asks for cannot be done.
    pub fn unprocessable(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            title: "Cannot do that",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self { status: StatusCode::NOT_FOUND, title: "Not found", message: message.into(), retry_after: None }
    }

    /// 409: the change no longer applies (already decided, expired).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self {
            status: StatusCode::CONFLICT,
            title: "Already settled",
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429 with `Retry-After`.
    pub fn too_many(message: impl Into<String>, retry_after: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            title: "Too many attempts",
            message: message.into(),
            retry_after: Some(retry_after),
        }
    }

    /// 503: a dependency did not answer; nothing changed.
    pub fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            title: "Temporarily unavailable",
            message: "The console could not reach its database. Nothing was changed; try again shortly."
                .into(),
            retry_after: Some(5),
        }
    }

    /// 500.
    pub fn internal() -> Self {
        Self {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            title: "Something went wrong",
            message: "The page could not be shown. The error was logged.".into(),
            retry_after: None,
        }
    }

    /// The status this page is answered with.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<calseta_services::ServiceError> for PageError {
    fn from(error: calseta_services::ServiceError) -> Self {
        use calseta_services::ServiceError as E;
        match error {
            E::NotFound(message) => PageError::not_found(message),
            E::Forbidden { message, .. } => PageError::forbidden(message),
            E::Conflict { message, .. } => PageError::conflict(message),
            // Input the services refused, where a page has no form to show it next to: the
            // refusal as REST words it, never a 500.
            E::Invalid(fields) => {
                PageError::unprocessable(fields.iter().map(|f| f.msg.as_str()).collect::<Vec<_>>().join(" "))
            }
            E::CodeInvalid(problems) => PageError::unprocessable(problems.join(" ")),
            E::Malformed { code, message } => PageError::bad_request(format!("{message} ({code})")),
            E::Unprocessable { code, message }
            | E::Refused { code, message }
            | E::Unknown { code, message } => PageError::unprocessable(format!("{message} ({code})")),
            E::Unauthenticated { message, .. } => PageError::forbidden(message),
            E::RateLimited { retry_after } => {
                PageError::too_many("Too many requests; try again shortly.", retry_after.as_secs().max(1))
            }
            E::Unavailable(_) | E::Store(_) => {
                tracing::error!(error = %error, "console request failed");
                PageError::unavailable()
            }
            other => {
                tracing::error!(error = %other, "console request failed");
                PageError::internal()
            }
        }
    }
}

/// A page outside the signed-in layout (errors), linking only the stylesheet.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    css: &'static str,
    status: u16,
    title: &'a str,
    message: &'a str,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            css: crate::assets::css_path(),
            status: self.status.as_u16(),
            title: self.title,
            message: &self.message,
        };
        let mut response = match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "console error page failed");
                (self.status, self.message.clone()).into_response()
            }
        };
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}
