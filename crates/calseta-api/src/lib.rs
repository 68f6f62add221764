//! Calseta's HTTP API.
//!
//! Owns the axum routers (one module per resource), the `Authed<Scope>` extractor, request
//! extractors with enveloped rejections, the single mapping from service errors to HTTP, the
//! cross-cutting middleware (request ids, security headers, CORS, body limits, rate limits, access
//! log) and the OpenAPI document with its offline reference page. Handlers stay thin: they parse,
//! call `calseta-services`, and shape the response.

pub mod auth;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod middleware;
pub mod openapi;
/// Request rate limits (shared with MCP, so they live in the services' platform layer).
pub mod rate_limit {
    pub use calseta_services::platform::rate_limit::{RateLimiter, RateLimits};
}
pub mod routes;
pub mod schemas;
mod serde_util;
pub mod shapes;

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::routing::get;
use calseta_services::Services;
use calseta_services::resources::api_keys::ApiKeyService;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::rate_limit::{RateLimiter, RateLimits};

/// HTTP-level settings.
#[derive(Debug, Clone)]
pub struct ApiSettings {
    /// `APP_VERSION`, reported by `/health` and the OpenAPI document.
    pub app_version: String,
    /// `CORS_ALLOWED_ORIGINS`; empty with `cors_allow_all` false = no CORS.
    pub cors_allowed_origins: Vec<String>,
    /// `CORS_ALLOW_ALL_ORIGINS` (`*`, no credentials).
    pub cors_allow_all: bool,
    /// `HTTPS_ENABLED`.
    pub https_enabled: bool,
    /// `SECURITY_HEADER_HSTS_ENABLED`.
    pub hsts_enabled: bool,
    /// `MAX_REQUEST_BODY_SIZE_MB` in bytes.
    pub max_body_bytes: usize,
    /// `MAX_INGEST_PAYLOAD_SIZE_MB` in bytes.
    pub max_ingest_bytes: usize,
    /// `REQUEST_BODY_TIMEOUT_SECONDS`: how long reading one request's body may take.
    pub body_read_timeout: std::time::Duration,
    /// `TRUSTED_PROXY_COUNT`.
    pub trusted_proxy_count: usize,
    /// Per-minute limits.
    pub rate_limits: RateLimits,
    /// `METRICS_TOKEN`: the bearer token `/metrics` asks for (open when unset).
    pub metrics_token: Option<String>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        Self {
            app_version: "dev".into(),
            cors_allowed_origins: Vec::new(),
            cors_allow_all: false,
            https_enabled: false,
            hsts_enabled: true,
            max_body_bytes: 10 * 1024 * 1024,
            max_ingest_bytes: 5 * 1024 * 1024,
            body_read_timeout: std::time::Duration::from_secs(30),
            trusted_proxy_count: 0,
            rate_limits: RateLimits::default(),
            metrics_token: None,
        }
    }
}

struct AppContext {
    services: Arc<Services>,
    settings: ApiSettings,
}

/// Shared state of every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<AppContext>);

impl AppState {
    /// State over the `services` with `settings`.
    pub fn new(services: Arc<Services>, settings: ApiSettings) -> Self {
        AppState(Arc::new(AppContext { services, settings }))
    }

    /// API-key use cases.
    pub fn keys(&self) -> &ApiKeyService {
        &self.0.services.keys
    }

    /// Every use-case service.
    pub fn services(&self) -> &Services {
        &self.0.services
    }

    /// HTTP settings.
    pub fn settings(&self) -> &ApiSettings {
        &self.0.settings
    }

    /// Request rate limiter (the process's, shared with MCP).
    pub fn limiter(&self) -> &RateLimiter {
        &self.0.services.limiter
    }
}

/// Every documented route. Routes are only ever added here, so the OpenAPI document is the
/// route table (the scope-matrix test walks it).
fn api_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(routes::health::health))
        .routes(routes!(routes::api_keys::list_api_keys, routes::api_keys::create_api_key))
        .routes(routes!(routes::api_keys::current_api_key))
        .routes(routes!(
            routes::api_keys::get_api_key,
            routes::api_keys::patch_api_key,
            routes::api_keys::delete_api_key
        ))
        .routes(routes!(routes::ingest::ingest_webhook))
        .routes(routes!(routes::alerts::list_alerts, routes::ingest::ingest_alert))
        .routes(routes!(routes::alerts::get_alert, routes::alerts::patch_alert, routes::alerts::delete_alert))
        .routes(routes!(routes::alerts::add_finding, routes::alerts::list_findings))
        .routes(routes!(routes::alerts::list_indicators, routes::alerts::add_indicators))
        .routes(routes!(routes::alerts::list_activity))
        .routes(routes!(routes::alerts::relationship_graph))
        .routes(routes!(routes::alerts::re_enrich))
        .routes(routes!(routes::alerts::alert_context))
        .routes(routes!(routes::agents::trigger_agents))
        .routes(routes!(routes::payloads::alert_payload))
        .routes(routes!(routes::agents::dispatch_agent))
        .routes(routes!(routes::agents::list_agents, routes::agents::create_agent))
        .routes(routes!(routes::agents::get_agent, routes::agents::patch_agent, routes::agents::delete_agent))
        .routes(routes!(routes::agents::test_agent))
        .routes(routes!(routes::agents::agent_runs))
        .routes(routes!(routes::sources::list_sources, routes::sources::create_source))
        .routes(routes!(
            routes::sources::get_source,
            routes::sources::patch_source,
            routes::sources::delete_source
        ))
        .routes(routes!(routes::workflows::list_workflows, routes::workflows::create_workflow))
        .routes(routes!(
            routes::workflows::get_workflow,
            routes::workflows::patch_workflow,
            routes::workflows::delete_workflow
        ))
        .routes(routes!(routes::workflows::workflow_versions))
        .routes(routes!(routes::workflows::generate_workflow))
        .routes(routes!(routes::workflows::get_secret_grants, routes::workflows::put_secret_grants))
        .routes(routes!(routes::respond::execute_workflow))
        .routes(routes!(routes::respond::workflow_runs))
        .routes(routes!(routes::respond::all_runs))
        .routes(routes!(routes::respond::list_approvals))
        .routes(routes!(routes::respond::get_approval))
        .routes(routes!(routes::respond::approve))
        .routes(routes!(routes::respond::reject))
        .routes(routes!(routes::respond::cancel))
        .routes(routes!(routes::respond::test_workflow))
        .routes(routes!(routes::approval_pages::decide_page, routes::approval_pages::decide_submit))
        .routes(routes!(routes::approval_pages::slack_callback))
        .routes(routes!(routes::approval_pages::teams_callback))
        .routes(routes!(routes::workflows::list_secrets))
        .routes(routes!(routes::workflows::put_secret, routes::workflows::delete_secret))
        .routes(routes!(routes::detection_rules::list_rules, routes::detection_rules::create_rule))
        .routes(routes!(
            routes::detection_rules::get_rule,
            routes::detection_rules::patch_rule,
            routes::detection_rules::delete_rule
        ))
        .routes(routes!(
            routes::context_documents::list_documents,
            routes::context_documents::create_document
        ))
        .routes(routes!(
            routes::context_documents::get_document,
            routes::context_documents::patch_document,
            routes::context_documents::delete_document
        ))
        .routes(routes!(routes::indicators::get_indicator, routes::indicators::patch_indicator))
        .routes(routes!(
            routes::indicator_mappings::list_mappings,
            routes::indicator_mappings::create_mapping
        ))
        .routes(routes!(routes::indicator_mappings::source_plugin_fields))
        .routes(routes!(routes::indicator_mappings::test_extraction))
        .routes(routes!(
            routes::indicator_mappings::get_mapping,
            routes::indicator_mappings::patch_mapping,
            routes::indicator_mappings::delete_mapping
        ))
        .routes(routes!(routes::enrichment::list_providers, routes::enrichment::create_provider))
        .routes(routes!(
            routes::enrichment::get_provider,
            routes::enrichment::patch_provider,
            routes::enrichment::delete_provider
        ))
        .routes(routes!(routes::enrichment::activate_provider))
        .routes(routes!(routes::enrichment::deactivate_provider))
        .routes(routes!(routes::enrichment::test_provider))
        .routes(routes!(routes::enrichment::list_extractions, routes::enrichment::create_extraction))
        .routes(routes!(routes::enrichment::bulk_create_extractions))
        .routes(routes!(
            routes::enrichment::get_extraction,
            routes::enrichment::patch_extraction,
            routes::enrichment::delete_extraction
        ))
        .routes(routes!(routes::enrichment::enrich_now))
        .routes(routes!(routes::enrichment::loaded_providers))
        .routes(routes!(routes::metrics::alert_metrics))
        .routes(routes!(routes::metrics::workflow_metrics))
        .routes(routes!(routes::metrics::summary))
        .routes(routes!(routes::metrics::detection_rule_metrics))
        .routes(routes!(routes::settings::approval_defaults))
        .routes(routes!(routes::jobs::list_jobs))
        .routes(routes!(routes::jobs::get_job))
        .routes(routes!(routes::jobs::retry_job))
}

/// The OpenAPI document for `version`.
pub fn openapi_document(version: &str) -> utoipa::openapi::OpenApi {
    let (_, mut doc) = api_routes().split_for_parts();
    doc.info.version = version.to_string();
    openapi::complete_error_responses(&mut doc);
    doc
}

/// The complete application router, with `mcp` (the MCP router, which serves `/mcp`) mounted
/// at `/mcp` behind the same middleware.
pub fn router(state: AppState, mcp: Router) -> Router {
    router_with(state, mcp, Router::new())
}

/// [`router`] with a browser front end's routes (the console's, at `/`) merged in: they pass
/// through the same request ids, access log, metrics and body limits, keep the security headers
/// they set themselves, and any path neither serves still gets the enveloped 404.
pub fn router_with(state: AppState, mcp: Router, front: Router) -> Router {
    let (routes, mut doc) = api_routes().split_for_parts();
    doc.info.version = state.settings().app_version.clone();
    openapi::complete_error_responses(&mut doc);
    let openapi_json = Arc::new(doc.to_json().unwrap_or_else(|_| "{}".into()));

    let app = routes
        .route_service("/mcp", mcp)
        .route(
            "/openapi.json",
            get(move || {
                let body = openapi_json.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], (*body).clone()) }
            }),
        )
        .route("/metrics", get(routes::telemetry::prometheus))
        .route("/docs", get(openapi::docs_page))
        .route("/docs/docs.js", get(openapi::docs_script))
        .route("/docs/docs.css", get(openapi::docs_style));
    with_middleware(state, app, front)
}

/// A router serving only `mcp` (for `MCP_PORT`), behind the API's middleware.
pub fn mcp_only_router(state: AppState, mcp: Router) -> Router {
    with_middleware(state, Router::new().route_service("/mcp", mcp), Router::new())
}

/// Request ids, security headers, CORS, body limits, panics as envelopes, the access log and the
/// enveloped 404/405 around `routes` and the `front` end's routes.
fn with_middleware(state: AppState, routes: Router<AppState>, front: Router) -> Router {
    let mut app = routes
        .with_state(state.clone())
        .merge(front)
        .route_layer(axum::middleware::from_fn(middleware::route_template))
        .fallback(middleware::not_found)
        .method_not_allowed_fallback(middleware::method_not_allowed)
        .layer(CatchPanicLayer::custom(middleware::panic_response))
        // The limits are ours (per route family, in the envelope): axum's implicit 2 MB is off.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::body_limit));
    if let Some(cors) = cors_layer(state.settings()) {
        app = app.layer(cors);
    }
    app.layer(axum::middleware::from_fn_with_state(state.clone(), middleware::security_headers))
        .layer(axum::middleware::from_fn_with_state(state, middleware::request_context))
}

fn cors_layer(settings: &ApiSettings) -> Option<CorsLayer> {
    let methods = [Method::GET, Method::POST, Method::PATCH, Method::DELETE, Method::OPTIONS];
    let headers = [header::AUTHORIZATION, header::CONTENT_TYPE, HeaderName::from_static("x-request-id")];
    if settings.cors_allow_all {
        return Some(
            CorsLayer::new().allow_origin(AllowOrigin::any()).allow_methods(methods).allow_headers(headers),
        );
    }
    let origins: Vec<HeaderValue> =
        settings.cors_allowed_origins.iter().filter_map(|o| HeaderValue::from_str(o.trim()).ok()).collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods(methods)
            .allow_headers(headers)
            .allow_credentials(true),
    )
}
