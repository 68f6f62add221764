//! The OpenAPI 3.1 document (`/openapi.json`) and the offline API reference page (`/docs`).

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The document's static parts; routes add themselves through `utoipa_axum`.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Calseta API",
        description = "Data layer for AI security agents: ingest, normalize, enrich and contextualize \
                       security alerts. Every `/v1` route takes `Authorization: Bearer cai_…` with the \
                       scope listed in its security requirement (`admin` passes every check).",
        license(name = "Apache-2.0")
    ),
    modifiers(&BearerKey),
    tags(
        (name = "health", description = "Service health"),
        (name = "ingest", description = "SIEM webhooks"),
        (name = "alerts", description = "Alerts, findings, indicators, activity"),
        (name = "indicators", description = "Indicators and analyst verdicts"),
        (name = "knowledge", description = "Detection rules and context documents"),
        (name = "agents", description = "Agents (signed alert.enriched webhooks) and alert sources"),
        (name = "indicator-mappings", description = "Indicator field mappings (admin)"),
        (name = "enrichment", description = "Enrichment providers, field extractions, on-demand enrichment"),
        (name = "api-keys", description = "API keys (admin)"),
        (name = "jobs", description = "Durable job queue and dead letters (admin)"),
    )
)]
pub struct ApiDoc;

struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("cai_…")
                    .description(Some(
                        "A Calseta API key; the scope a route needs is listed in its security requirement.",
                    ))
                    .build(),
            ),
        );
    }
}

/// `GET /docs`: the API reference page (no CDN; served from the binary).
pub async fn docs_page() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], include_str!("../assets/docs.html"))
}

/// `GET /docs/docs.js`
pub async fn docs_script() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/javascript; charset=utf-8")], include_str!("../assets/docs.js"))
}

/// `GET /docs/docs.css`
pub async fn docs_style() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], include_str!("../assets/docs.css"))
}
