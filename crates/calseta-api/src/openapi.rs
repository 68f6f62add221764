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
    // The delivery body of every agent webhook, in both profiles (the full one is also the body
    // of `GET /v1/alerts/{uuid}/payload`).
    components(schemas(
        calseta_services::views::payload::AlertEnrichedPayload,
        calseta_services::views::compact::CompactPayload
    )),
    tags(
        (name = "health", description = "Service health"),
        (name = "ingest", description = "SIEM webhooks"),
        (name = "alerts", description = "Alerts, findings, indicators, activity"),
        (name = "indicators", description = "Indicators and analyst verdicts"),
        (name = "knowledge", description = "Detection rules and context documents"),
        (name = "agents", description = "Agents (signed alert.enriched webhooks) and alert sources"),
        (name = "indicator-mappings", description = "Indicator field mappings (admin)"),
        (name = "enrichment", description = "Enrichment providers, field extractions, on-demand enrichment"),
        (name = "workflows", description = "Workflows (sandboxed Python response actions), their code versions and secrets"),
        (name = "api-keys", description = "API keys (admin)"),
        (name = "jobs", description = "Durable job queue and dead letters (admin)"),
        (name = "metrics", description = "SOC metrics: MTTD, MTTA, MTTT, MTTC, rates, breakdowns"),
        (name = "settings", description = "This deployment's approval defaults (admin)"),
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

/// The error answers every `/v1` operation can give, added to each operation that does not list
/// them itself, so that the document names every status a route answers: `401`/`403` (key and
/// scope), `422` (a malformed path id or query), `429` (rate limits), `500` and `503` (storage);
/// and for operations with a body `400`, `408` (body read timeout) and `413` (body limits).
pub fn complete_error_responses(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let error = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorBody"))).build(),
                )
                .build(),
        )
    };
    let always = [
        ("401", "No valid API key"),
        ("403", "The key lacks the scope"),
        ("422", "Invalid path, query or body"),
        ("429", "Rate limited (Retry-After)"),
        ("500", "Unexpected error"),
        ("503", "Storage unavailable; retry"),
    ];
    let with_body =
        [("400", "Unreadable body"), ("408", "Body not received in time"), ("413", "Body over the limit")];
    for (path, item) in openapi.paths.paths.iter_mut() {
        if !path.starts_with("/v1") {
            continue;
        }
        for operation in [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete]
            .into_iter()
            .flatten()
        {
            let has_body = operation.request_body.is_some();
            let statuses = always.iter().chain(with_body.iter().filter(|_| has_body));
            for (status, description) in statuses {
                operation.responses.responses.entry(status.to_string()).or_insert_with(|| error(description));
            }
        }
    }
}
