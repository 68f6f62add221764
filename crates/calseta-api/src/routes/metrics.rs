//! SOC metrics: `/v1/metrics/alerts`, `/v1/metrics/workflows` and
//! `/v1/detection-rules/{uuid}/metrics`, over a `created_at` window (the last 30 days unless both
//! bounds are given, as v1).

use axum::Json;
use axum::extract::State;
use calseta_services::params::{MetricsWindow, RuleMetricsWindow};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ListQuery};

/// Alert metrics: volumes, breakdowns, MTTD/MTTA/MTTT/MTTC, time to enrich, false-positive rate,
/// enrichment coverage, daily series and top detection rules.
#[utoipa::path(get, path = "/v1/metrics/alerts", tag = "metrics", params(MetricsWindow),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "Alert metrics", body = crate::envelope::Envelope<crate::schemas::AlertMetricsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn alert_metrics(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ListQuery(window): ListQuery<MetricsWindow>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window.bounds()?;
    let data = state.services().metrics.alerts(from, to).await?;
    Ok(Json(json!({"data": data, "meta": {}})))
}

/// The last 30 days at a glance: alerts (MTTx, rates, coverage), workflows, approvals, the
/// platform's configuration and the job queues.
#[utoipa::path(get, path = "/v1/metrics/summary", tag = "metrics",
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "The summary", body = crate::envelope::Envelope<crate::schemas::MetricsSummaryResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn summary(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
) -> Result<Json<Value>, ApiError> {
    let data = state.services().metrics.summary().await?;
    Ok(Json(json!({"data": data, "meta": {}})))
}

/// Workflow metrics: configured workflows, runs, success rate, time saved, most executed.
#[utoipa::path(get, path = "/v1/metrics/workflows", tag = "metrics", params(MetricsWindow),
    security(("api_key" = ["workflows:read"])),
    responses((status = 200, description = "Workflow metrics", body = crate::envelope::Envelope<crate::schemas::WorkflowMetricsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn workflow_metrics(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ListQuery(window): ListQuery<MetricsWindow>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window.bounds()?;
    let data = state.services().metrics.workflows(from, to).await?;
    Ok(Json(json!({"data": data, "meta": {}})))
}

/// One detection rule's metrics: its alerts, their outcomes, MTTA/MTTC and top indicators.
#[utoipa::path(get, path = "/v1/detection-rules/{uuid}/metrics", tag = "knowledge",
    params(("uuid" = Uuid, Path, description = "Detection rule id"), RuleMetricsWindow),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "The rule's metrics", body = crate::envelope::Envelope<crate::schemas::DetectionRuleMetricsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn detection_rule_metrics(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ListQuery(window): ListQuery<RuleMetricsWindow>,
) -> Result<Json<Value>, ApiError> {
    let (from, to) = window.bounds()?;
    let data = state.services().metrics.detection_rule(uuid, from, to).await?;
    Ok(Json(json!({"data": data, "meta": {}})))
}
