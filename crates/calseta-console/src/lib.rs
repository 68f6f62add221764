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
pub mod highlight;
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
/// A context document's forms (its whole text, an uploaded file) may be this large; the server's
/// `MAX_REQUEST_BODY_SIZE_MB` is the tighter limit by default.
const MAX_DOCUMENT_BYTES: usize = 32 * 1024 * 1024;

/// A workflow code form (editor, create, test runner): 256 KB of code, urlencoded (up to three
/// bytes a character), and the rest of the form.
const MAX_CODE_FORM_BYTES: usize = 1024 * 1024;

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
    /// `APP_VERSION`, shown on `/settings/system` (as `/health` reports it).
    pub app_version: String,
    /// The process configuration as `/settings/system` lists it, every secret already masked by
    /// the binary that read it (the console never sees a secret value).
    pub configuration: Vec<ConfigEntry>,
}

/// One setting of the process configuration: its variable name and its effective value, or a
/// mask when the value is a secret (keys, tokens, signing secrets, passwords in URLs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigEntry {
    /// The environment variable, e.g. `DATABASE_URL`.
    pub name: String,
    /// The effective value, masked where it holds a secret.
    pub value: String,
    /// Whether the value holds a secret (masked, wholly or in part).
    pub secret: bool,
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
            app_version: env!("CARGO_PKG_VERSION").to_string(),
            configuration: Vec::new(),
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
        // Context documents (list, detail, editor with the targeting builder and its preview,
        // uploads reviewed before saving). Document forms carry whole documents, so they take
        // more than the console's small-form limit (the server's body limit still applies).
        .route("/context-documents", get(pages::documents::list))
        .route(
            "/context-documents/new",
            get(pages::document_editor::new_form)
                .post(pages::document_editor::create)
                .layer(DefaultBodyLimit::max(MAX_DOCUMENT_BYTES)),
        )
        .route("/context-documents/preview", post(pages::document_editor::preview))
        .route(
            "/context-documents/upload",
            get(pages::document_editor::upload_form)
                .post(pages::document_editor::upload)
                .layer(DefaultBodyLimit::max(MAX_DOCUMENT_BYTES)),
        )
        .route("/context-documents/{uuid}", get(pages::documents::show))
        .route(
            "/context-documents/{uuid}/edit",
            get(pages::document_editor::edit_form)
                .post(pages::document_editor::update)
                .layer(DefaultBodyLimit::max(MAX_DOCUMENT_BYTES)),
        )
        .route("/context-documents/{uuid}/delete", post(pages::documents::delete))
        .route("/activity", get(pages::activity::log))
        // Settings: the index, alert sources, API keys and workflow secrets.
        .route("/settings", get(pages::settings::index))
        .route("/settings/sources", get(pages::settings_sources::list).post(pages::settings_sources::add))
        .route("/settings/sources/{uuid}/secret", post(pages::settings_sources::set_secret))
        .route("/settings/sources/{uuid}/active", post(pages::settings_sources::set_active))
        .route(
            "/settings/sources/{uuid}/delete",
            get(pages::settings_sources::confirm_delete).post(pages::settings_sources::delete),
        )
        .route(
            "/settings/api-keys",
            get(pages::settings_api_keys::list).post(pages::settings_api_keys::create),
        )
        .route(
            "/settings/api-keys/{uuid}",
            get(pages::settings_api_keys::edit).post(pages::settings_api_keys::update),
        )
        .route(
            "/settings/api-keys/{uuid}/revoke",
            get(pages::settings_api_keys::confirm_revoke).post(pages::settings_api_keys::revoke),
        )
        .route("/settings/secrets", get(pages::settings_secrets::list).post(pages::settings_secrets::set))
        .route(
            "/settings/secrets/{name}/delete",
            get(pages::settings_secrets::confirm_delete).post(pages::settings_secrets::delete),
        )
        // Workflows (issue 23): list, create from a template, the code editor, test runner,
        // versions, runs, settings and secret grants. Code forms take up to 256 KB of code,
        // urlencoded: their own, larger body limit.
        .route("/workflows", get(pages::workflows::list))
        .route(
            "/workflows/new",
            get(pages::workflows::new_form)
                .post(pages::workflows::create)
                .layer(DefaultBodyLimit::max(MAX_CODE_FORM_BYTES)),
        )
        .route("/workflows/{uuid}", get(pages::workflow_code::show))
        .route(
            "/workflows/{uuid}/code",
            post(pages::workflow_code::submit).layer(DefaultBodyLimit::max(MAX_CODE_FORM_BYTES)),
        )
        .route(
            "/workflows/{uuid}/test",
            get(pages::workflow_runs::form)
                .post(pages::workflow_runs::run)
                .layer(DefaultBodyLimit::max(MAX_CODE_FORM_BYTES)),
        )
        .route("/workflows/{uuid}/versions", get(pages::workflow_runs::versions))
        .route("/workflows/{uuid}/runs", get(pages::workflow_runs::runs))
        .route(
            "/workflows/{uuid}/settings",
            get(pages::workflow_settings::show).post(pages::workflow_settings::save),
        )
        .route("/workflows/{uuid}/secrets", post(pages::workflow_settings::grant))
        .route("/workflows/{uuid}/delete", post(pages::workflow_settings::delete))
        // Configuration: detection rules and agents (issue 23, pages 2 and 4).
        .route("/detection-rules", get(pages::detection_rules::list).post(pages::detection_rule_form::create))
        .route("/detection-rules/new", get(pages::detection_rule_form::new))
        .route("/detection-rules/{uuid}", get(pages::detection_rules::show))
        .route(
            "/detection-rules/{uuid}/edit",
            get(pages::detection_rule_form::edit).post(pages::detection_rule_form::update),
        )
        .route("/detection-rules/{uuid}/delete", post(pages::detection_rule_form::delete))
        .route("/agents", get(pages::agents::list).post(pages::agent_form::create))
        .route("/agents/new", get(pages::agent_form::new))
        .route("/agents/{uuid}", get(pages::agents::show).post(pages::agent_form::update))
        .route("/agents/{uuid}/rotate-secret", post(pages::agent_form::rotate_secret))
        .route("/agents/{uuid}/test", post(pages::agent_form::test_event))
        .route("/agents/{uuid}/delete", post(pages::agent_form::delete))
        // End of detection rules and agents.
        // Settings: indicator mappings, jobs and the system.
        .route(
            "/settings/mappings",
            get(pages::settings_mappings::index).post(pages::settings_mappings::create),
        )
        .route("/settings/mappings/test-extraction", post(pages::settings_mappings::dry_run))
        .route(
            "/settings/mappings/{uuid}",
            get(pages::settings_mappings::edit).post(pages::settings_mappings::update),
        )
        .route("/settings/mappings/{uuid}/active", post(pages::settings_mappings::set_active))
        .route("/settings/mappings/{uuid}/delete", post(pages::settings_mappings::delete))
        .route("/settings/jobs", get(pages::settings_jobs::index))
        .route("/settings/jobs/{uuid}/retry", post(pages::settings_jobs::retry))
        .route("/settings/system", get(pages::settings_system::show))
        .route("/events", get(events::stream))
        // Enrichment providers (pages/providers.rs).
        .route("/providers", get(pages::providers::list))
        .route("/providers/new", get(pages::providers::new_form).post(pages::providers::create))
        .route("/providers/{uuid}", get(pages::providers::show).post(pages::providers::update))
        .route("/providers/{uuid}/activate", post(pages::providers::activate))
        .route("/providers/{uuid}/deactivate", post(pages::providers::deactivate))
        .route("/providers/{uuid}/clear-cache", post(pages::providers::clear_cache))
        .route("/providers/{uuid}/delete", post(pages::providers::delete))
        .route("/providers/{uuid}/test", post(pages::provider_test::test))
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
