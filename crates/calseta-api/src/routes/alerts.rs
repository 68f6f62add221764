//! `/v1/alerts`: list, detail, analyst changes, delete, findings, indicators, activity, the
//! relationship graph and re-enrichment. (Ingest lives in `routes::ingest`.)

use std::collections::HashMap;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::audit::Actor;
use calseta_services::resources::alerts::{AlertPatch, FindingInput};
use calseta_services::views::alert_detail::{enrichment_summary, graph_alert_node};
use calseta_services::views::documents::document_view;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope, query_error};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ListQuery};
use crate::serde_util::double_option;
use calseta_services::params::{AlertSearch, PageQuery, Paging};
use calseta_services::views::alerts::{AlertEnvelope, AlertSummary, alert_envelope};
use calseta_services::views::records::{ActivityEventResponse, IndicatorResponse};

/// List alerts, newest `occurred_at` first by default.
#[utoipa::path(
    get,
    path = "/v1/alerts",
    tag = "alerts",
    params(AlertSearch),
    security(("api_key" = ["alerts:read"])),
    responses(
        (status = 200, body = ListEnvelope<AlertSummary>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn list_alerts(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ListQuery(search): ListQuery<AlertSearch>,
) -> Result<Json<ListEnvelope<AlertSummary>>, ApiError> {
    let (rows, total, page) = state.services().alerts.search(&search, Paging::REST).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// One alert with its indicators, detection rule and computed metadata.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, body = AlertEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_alert(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<AlertEnvelope>, ApiError> {
    let alert = state.services().alerts.with_context(uuid).await?;
    let documents = alert.documents.iter().map(|d| document_view(d, true)).collect();
    let past = alert.past_alerts.iter().map(|p| serde_json::to_value(p).unwrap_or_default()).collect();
    Ok(Json(alert_envelope(alert.detail, documents, past)))
}

/// The schema of `PATCH /v1/alerts/{uuid}`'s body: [`AlertPatchRequest`], closing only with a
/// classification.
pub struct AlertPatchBody;

impl utoipa::PartialSchema for AlertPatchBody {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        let fields = utoipa::openapi::Ref::from_schema_name(<AlertPatchRequest as ToSchema>::name());
        utoipa::openapi::RefOr::T(crate::shapes::alert_patch_body(fields.into()))
    }
}

impl ToSchema for AlertPatchBody {
    fn schemas(schemas: &mut Vec<(String, utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>)>) {
        let name = <AlertPatchRequest as ToSchema>::name().into_owned();
        schemas.push((name, <AlertPatchRequest as utoipa::PartialSchema>::schema()));
    }
}

/// Body of `PATCH /v1/alerts/{uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AlertPatchRequest {
    /// Open, Triaging, Escalated or Closed (Closed needs `close_classification` in the same request).
    #[serde(default)]
    #[schema(schema_with = crate::shapes::alert_status_or_null)]
    status: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::severity_or_null)]
    severity: Option<String>,
    /// One of the seven close classifications; `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::shapes::close_classification_or_null)]
    close_classification: Option<Option<String>>,
    /// Replaces the tag list.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    tags: Option<Vec<String>>,
    /// Pending, Benign, Suspicious or Malicious.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::malice_or_null)]
    malice_override: Option<String>,
    /// Clears the override (wins over `malice_override`).
    #[serde(default)]
    reset_malice_override: Option<bool>,
    /// Analyst notes (shown with past alerts), at most 50,000 characters; `null` clears them.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>, max_length = 50_000)]
    close_notes: Option<Option<String>>,
}

/// Change status (with lifecycle stamps), severity, tags, classification, notes or the malice override.
#[utoipa::path(
    patch,
    path = "/v1/alerts/{uuid}",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    request_body = AlertPatchBody,
    security(("api_key" = ["alerts:write"])),
    responses((status = 200, body = AlertEnvelope), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn patch_alert(
    State(state): State<AppState>,
    auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<AlertPatchRequest>,
) -> Result<Json<AlertEnvelope>, ApiError> {
    let patch = AlertPatch {
        status: body.status,
        severity: body.severity,
        close_classification: body.close_classification,
        tags: body.tags,
        malice_override: body.malice_override,
        reset_malice_override: body.reset_malice_override.unwrap_or(false),
        close_notes: body.close_notes,
    };
    let detail = state.services().alerts.patch(uuid, patch, &Actor::api(&auth.key)).await?;
    // As in v1, a PATCH answer does not re-evaluate the alert's documents.
    Ok(Json(alert_envelope(detail, Vec::new(), Vec::new())))
}

/// Delete an alert (its indicator links go with it; activity rows stay).
#[utoipa::path(
    delete,
    path = "/v1/alerts/{uuid}",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:write"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn delete_alert(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().alerts.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/alerts/{uuid}/findings`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct FindingRequest {
    /// 1..255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    agent_name: String,
    /// 1..50 000 characters.
    #[schema(
        min_length = 1,
        max_length = 50000,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    summary: String,
    /// low, medium or high.
    #[serde(default)]
    #[schema(pattern = "^(low|medium|high)$")]
    confidence: Option<String>,
    #[serde(default)]
    recommended_action: Option<String>,
    /// Any object up to 64 KB.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    evidence: Option<Value>,
}

/// Post an agent's finding.
#[utoipa::path(
    post,
    path = "/v1/alerts/{uuid}/findings",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    request_body = FindingRequest,
    security(("api_key" = ["alerts:write"])),
    responses((status = 201, description = "The finding", body = crate::envelope::Envelope<crate::schemas::FindingResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_finding(
    State(state): State<AppState>,
    auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<FindingRequest>,
) -> Result<(StatusCode, Json<Envelope<Value>>), ApiError> {
    let input = FindingInput {
        agent_name: body.agent_name,
        summary: body.summary,
        confidence: body.confidence,
        recommended_action: body.recommended_action,
        evidence: body.evidence,
    };
    let finding = state.services().alerts.add_finding(uuid, input, &Actor::api(&auth.key)).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(finding))))
}

/// The alert's findings, oldest first.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}/findings",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "Findings", body = crate::envelope::Envelope<Vec<crate::schemas::FindingResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_findings(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    Ok(Json(Envelope::new(state.services().alerts.findings(uuid).await?)))
}

/// The alert's indicators.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}/indicators",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, body = Envelope<Vec<IndicatorResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn list_indicators(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Vec<IndicatorResponse>>>, ApiError> {
    let rows = state.services().alerts.indicators(uuid).await?;
    Ok(Json(Envelope::new(rows.into_iter().map(|r| IndicatorResponse::from_row(r, false)).collect())))
}

/// One indicator to add.
#[derive(Debug, Deserialize, ToSchema)]
pub struct NewIndicator {
    /// One of the eight types.
    #[serde(rename = "type")]
    #[schema(schema_with = crate::shapes::indicator_type)]
    kind: String,
    /// 1..2048 characters; normalized like extracted values.
    #[schema(min_length = 1, max_length = 2048)]
    value: String,
}

/// Body of `POST /v1/alerts/{uuid}/indicators`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct AddIndicatorsRequest {
    /// 1..100 indicators.
    #[schema(min_items = 1, max_items = 100)]
    indicators: Vec<NewIndicator>,
}

/// `?enrich=` (default true).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnrichParam {
    /// Queue a new enrichment run afterwards.
    enrich: Option<bool>,
}

/// Add indicators by hand.
#[utoipa::path(
    post,
    path = "/v1/alerts/{uuid}/indicators",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id"), EnrichParam),
    request_body = AddIndicatorsRequest,
    security(("api_key" = ["alerts:write"])),
    responses((status = 201, description = "{added_count, indicators, enrich_requested}", body = crate::envelope::Envelope<crate::schemas::AddedIndicatorsResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn add_indicators(
    State(state): State<AppState>,
    auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<EnrichParam>,
    ApiJson(body): ApiJson<AddIndicatorsRequest>,
) -> Result<(StatusCode, Json<Envelope<Value>>), ApiError> {
    let enrich = params.enrich.unwrap_or(true);
    let items: Vec<(String, String)> = body.indicators.into_iter().map(|i| (i.kind, i.value)).collect();
    let rows = state.services().alerts.add_indicators(uuid, &items, enrich, &Actor::api(&auth.key)).await?;
    let indicators: Vec<IndicatorResponse> =
        rows.into_iter().map(|r| IndicatorResponse::from_row(r, false)).collect();
    let data = json!({"added_count": indicators.len(), "indicators": indicators, "enrich_requested": enrich});
    Ok((StatusCode::CREATED, Json(Envelope::new(data))))
}

/// The alert's activity log, newest first.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}/activity",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id"), PageQuery),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, body = ListEnvelope<ActivityEventResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_activity(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ListQuery(params): ListQuery<PageQuery>,
) -> Result<Json<ListEnvelope<ActivityEventResponse>>, ApiError> {
    let page = params.page(Paging::REST)?;
    let (rows, total) = state.services().alerts.activity(uuid, page).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// `?sibling_limit=` (1..50, default 10).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GraphParams {
    /// Other alerts listed per indicator.
    #[param(minimum = 1, maximum = 50)]
    sibling_limit: Option<i64>,
}

/// The alert, its indicators, and for each indicator the other alerts that share it.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}/relationship-graph",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id"), GraphParams),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "{alert, indicators}", body = crate::envelope::Envelope<crate::schemas::RelationshipGraphResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn relationship_graph(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<GraphParams>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let limit = params.sibling_limit.unwrap_or(10);
    if !(1..=50).contains(&limit) {
        return Err(ApiError::validation(&[query_error(
            "sibling_limit",
            "Input should be between 1 and 50",
        )]));
    }
    let (alert, indicators, counts, siblings) = state.services().alerts.graph(uuid, limit).await?;
    let counts: HashMap<i64, i64> = counts.into_iter().collect();
    let mut by_indicator: HashMap<i64, Vec<Value>> = HashMap::new();
    for s in siblings {
        by_indicator.entry(s.indicator_id).or_default().push(graph_alert_node(
            s.uuid,
            &s.title,
            s.severity.as_str(),
            s.status.as_str(),
            &s.source_name,
            s.occurred_at,
            &s.tags.0,
        ));
    }
    let nodes: Vec<Value> = indicators
        .iter()
        .map(|i| {
            json!({
                "uuid": i.uuid, "type": i.kind, "value": i.value, "malice": i.malice, "first_seen": i.first_seen,
                "last_seen": i.last_seen, "is_enriched": i.is_enriched, "enrichment_summary": enrichment_summary(i),
                "total_alert_count": counts.get(&i.id).copied().unwrap_or(0),
                "sibling_alerts": by_indicator.remove(&i.id).unwrap_or_default(),
            })
        })
        .collect();
    let node = graph_alert_node(
        alert.uuid,
        &alert.title,
        alert.severity.as_str(),
        alert.status.as_str(),
        &alert.source_name,
        alert.occurred_at,
        &alert.tags.0,
    );
    Ok(Json(Envelope::new(json!({"alert": node, "indicators": nodes}))))
}

/// Queue a new extraction and enrichment run.
#[utoipa::path(
    post,
    path = "/v1/alerts/{uuid}/enrich",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:write"])),
    responses((status = 202, description = "{\"message\": \"Enrichment queued\"}", body = crate::envelope::Envelope<crate::schemas::MessageResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn re_enrich(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    state.services().alerts.re_enrich(uuid).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({"data": {"message": "Enrichment queued"}, "meta": {}}))))
}

/// The documents that apply to the alert (global first), with `meta.past_alerts`.
#[utoipa::path(
    get,
    path = "/v1/alerts/{uuid}/context",
    tag = "alerts",
    params(("uuid" = Uuid, Path, description = "Alert id")),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "data: documents; meta.past_alerts", body = crate::schemas::AlertContextResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn alert_context(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Value>, ApiError> {
    let detail = state.services().alerts.detail(uuid).await?;
    let context = &state.services().context;
    let documents: Vec<Value> = context
        .documents_for(&detail.targeting_facts())
        .await?
        .iter()
        .map(|d| document_view(d, true))
        .collect();
    let past = context.past_alerts(&detail.alert, &detail.indicators).await?;
    Ok(Json(json!({"data": documents, "meta": {"past_alerts": past}})))
}
