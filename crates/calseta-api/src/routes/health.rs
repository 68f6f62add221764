//! `GET /health` (no auth, not enveloped).

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;

/// Health of the service and its dependencies.
#[derive(Debug, Serialize, ToSchema)]
pub struct HealthResponse {
    /// `ok`, or `down` when the database is unreachable.
    pub status: &'static str,
    /// `APP_VERSION`.
    pub version: String,
    /// `ok` or `error`.
    pub database: &'static str,
    /// `ok` or `error`.
    pub queue: &'static str,
    /// Jobs waiting to run.
    pub queue_depth: i64,
    /// `configured` or `unconfigured` per active enrichment provider.
    pub enrichment_providers: BTreeMap<String, &'static str>,
    /// Job counts per queue and status (Calseta addition).
    pub queues: BTreeMap<String, BTreeMap<String, i64>>,
    /// The workflow sandbox: `checking` (just started), `full`, `degraded: no …` (layers this
    /// machine lacks) or `unavailable` (no `python3`) (Calseta addition).
    pub workflow_sandbox: String,
}

/// Health check: 200 when the database answers, 503 otherwise.
#[utoipa::path(
    get,
    path = "/health",
    tag = "health",
    responses(
        (status = 200, description = "Database reachable", body = HealthResponse),
        (status = 503, description = "Database unreachable", body = HealthResponse),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthResponse>) {
    let env = |name: &str| std::env::var(name).ok();
    let mock_mode = state.services().enrichment.registry().mock_mode();
    let report = state.services().health(&env, mock_mode).await;
    let status = if report.database_ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = HealthResponse {
        status: if report.database_ok { "ok" } else { "down" },
        version: state.settings().app_version.clone(),
        database: if report.database_ok { "ok" } else { "error" },
        queue: if report.queue_ok { "ok" } else { "error" },
        queue_depth: report.queue_depth,
        enrichment_providers: report.enrichment_providers,
        queues: report.queues,
        workflow_sandbox: state.services().workflow_sandbox_level(),
    };
    (status, Json(body))
}
