//! Calseta's analyst console: the browser front end served at `/`.
//!
//! Owns the console's routes and everything they need: sign-in with a human API key and the
//! server-side sessions it opens (`session`, over `calseta-services`' console sessions), CSRF and
//! `Origin` checks on every state-changing request, the security headers of every console
//! response (`headers`), the pages and their shared context (`pages`), and our own CSS and
//! JavaScript served under content-hashed names (`assets`). Like REST and MCP it depends on
//! `calseta-services` only, never on the store.
//!
//! Pages are [askama] templates (`templates/*.html`): Jinja-like files a reviewer reads as HTML,
//! compiled into the binary and type-checked against the structs that render them, with HTML
//! escaping on by default, so alert content written by whoever triggered an alert cannot become
//! markup. Every action is a plain HTML form; JavaScript only enhances.

#![forbid(unsafe_code)]

pub mod assets;
pub mod charts;
pub mod events;
pub mod headers;
mod login;
pub mod markdown;
pub mod pages;
pub mod session;
pub mod state;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use calseta_services::Services;
use calseta_services::live::LiveSettings;

pub use pages::{PageContext, PageError};
pub use session::SignedForm;
pub use state::ConsoleState;

/// Console forms are small: a larger body is refused before it is read.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Console settings, from the process configuration.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// `CONSOLE_SESSION_IDLE_MINUTES` (60): a session without a request for this long ends.
    pub session_idle_minutes: u32,
    /// `HTTPS_ENABLED`: cookies are `Secure` and the expected `Origin` is `https://`.
    pub https_enabled: bool,
    /// `SANDBOX_MODE`: `/login` offers one-click sign-in with the public demo keys.
    pub sandbox_mode: bool,
    /// `RATE_LIMIT_UNAUTHED_PER_MINUTE`: failed sign-ins per client address and minute, counted
    /// with REST's and MCP's failed authentications.
    pub unauthed_per_minute: u32,
    /// The live feed behind `GET /events`: `CONSOLE_SSE_MAX_CONNECTIONS` (256) and
    /// `CONSOLE_SSE_GAP_GRACE_MS` (5000).
    pub live: LiveSettings,
    /// `CONSOLE_SSE_HEARTBEAT_SECONDS` (15): a comment line on every open event stream this
    /// often (proxies keep the connection; the session is checked again).
    pub heartbeat: Duration,
    /// The server's shutdown signal: open event streams end when it turns `true`, so a graceful
    /// shutdown does not wait for browsers to hang up.
    pub shutdown: Option<tokio::sync::watch::Receiver<bool>>,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            session_idle_minutes: calseta_services::resources::console_sessions::DEFAULT_IDLE_MINUTES,
            https_enabled: false,
            sandbox_mode: false,
            unauthed_per_minute: 30,
            live: LiveSettings::default(),
            heartbeat: Duration::from_secs(15),
            shutdown: None,
        }
    }
}

/// The console's routes, with their state and security headers, to be merged into the server's
/// router (which adds request ids, the access log, body limits and the JSON 404 for other paths).
pub fn router(services: Arc<Services>, settings: ConsoleSettings) -> Router {
    let state = ConsoleState::new(services, settings);
    Router::new()
        .route("/", get(pages::dashboard::show))
        .route("/alerts", get(pages::alerts::queue))
        .route("/alerts/bulk", post(pages::alerts::bulk))
        .route("/alerts/{uuid}", get(pages::alert_detail::show))
        .route("/alerts/{uuid}/update", post(pages::alert_detail::update))
        .route("/alerts/{uuid}/close", post(pages::alert_detail::close))
        .route("/alerts/{uuid}/enrich", post(pages::alert_detail::re_enrich))
        .route("/alerts/{uuid}/findings", post(pages::alert_detail::add_finding))
        .route("/alerts/{uuid}/indicators", post(pages::alert_indicators::add_indicator))
        .route("/alerts/{uuid}/indicators/malice", post(pages::alert_indicators::set_malice))
        .route("/alerts/{uuid}/tags", post(pages::alert_indicators::change_tags))
        .route("/approvals", get(pages::approvals::inbox))
        .route("/approvals/{uuid}/decide", post(pages::approvals::decide))
        .route("/alerts/{uuid}/payload", get(pages::alert_response::payload))
        .route("/alerts/{uuid}/dispatch", post(pages::alert_actions::dispatch))
        .route("/alerts/{uuid}/workflows", post(pages::alert_actions::execute))
        .route("/alerts/{uuid}/workflow-outcome", get(pages::alert_actions::outcome))
        .route("/activity", get(pages::activity::log))
        .route("/events", get(events::stream))
        // Enrichment providers (pages/providers.rs).
        .route("/providers", get(pages::providers::list))
        .route("/providers/new", get(pages::providers::new_form).post(pages::providers::create))
        .route("/providers/{uuid}", get(pages::providers::show).post(pages::providers::update))
        .route("/providers/{uuid}/activate", post(pages::providers::activate))
        .route("/providers/{uuid}/deactivate", post(pages::providers::deactivate))
        .route("/providers/{uuid}/clear-cache", post(pages::providers::clear_cache))
        .route("/providers/{uuid}/delete", post(pages::providers::delete))
        .route("/providers/{uuid}/test", post(pages::providers::test))
        .route("/providers/{uuid}/extractions", post(pages::providers::add_extraction))
        .route("/providers/{uuid}/extractions/toggle", post(pages::providers::toggle_extraction))
        .route("/providers/{uuid}/extractions/delete", post(pages::providers::delete_extraction))
        .route("/login", get(login::login_page).post(login::login_submit))
        .route("/logout", post(login::logout))
        .route("/assets/{name}", get(assets::serve))
        .layer(DefaultBodyLimit::max(MAX_FORM_BYTES))
        .layer(axum::middleware::from_fn(headers::security_headers))
        .with_state(state)
}
