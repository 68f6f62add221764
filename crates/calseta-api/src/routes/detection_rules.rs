//! `/v1/detection-rules`: the rules that fire alerts, with their documentation and MITRE mapping.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::records::{DetectionRuleRow, RuleFields};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::serde_util::double_option;
use calseta_services::params::{DetectionRuleSearch, Paging};
use calseta_services::views::records::DetectionRuleResponse;

/// List detection rules.
#[utoipa::path(get, path = "/v1/detection-rules", tag = "knowledge", params(DetectionRuleSearch), security(("api_key" = ["alerts:read"])),
    responses((status = 200, body = ListEnvelope<DetectionRuleResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_rules(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ListQuery(search): ListQuery<DetectionRuleSearch>,
) -> Result<Json<ListEnvelope<DetectionRuleResponse>>, ApiError> {
    let (rows, total, page) = state.services().detection_rules.search(&search, Paging::REST).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// Body of `POST /v1/detection-rules`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RuleCreateRequest {
    /// 1..500 characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    name: String,
    /// The SIEM's rule id (Sentinel analytic-rule GUID, Elastic rule uuid, Splunk search name):
    /// alerts from `source_name` carrying it are linked to this rule.
    #[serde(default)]
    source_rule_id: Option<String>,
    #[serde(default)]
    source_name: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels)]
    mitre_tactics: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels)]
    mitre_techniques: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels)]
    mitre_subtechniques: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels)]
    data_sources: Vec<String>,
    #[serde(default)]
    run_frequency: Option<String>,
    /// Defaults to the caller's key prefix.
    #[serde(default)]
    created_by: Option<String>,
    /// Markdown: what the rule detects, blind spots, triage steps.
    #[serde(default)]
    documentation: Option<String>,
}

/// Create a detection rule.
#[utoipa::path(post, path = "/v1/detection-rules", tag = "knowledge", request_body = RuleCreateRequest, security(("api_key" = ["admin"])),
    responses((status = 201, body = Envelope<DetectionRuleResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    auth: Authed<scope::Admin>,
    ApiJson(b): ApiJson<RuleCreateRequest>,
) -> Result<(StatusCode, Json<Envelope<DetectionRuleResponse>>), ApiError> {
    let fields = RuleFields {
        name: b.name,
        source_rule_id: b.source_rule_id,
        source_name: b.source_name,
        severity: b.severity,
        is_active: b.is_active.unwrap_or(true),
        mitre_tactics: b.mitre_tactics,
        mitre_techniques: b.mitre_techniques,
        mitre_subtechniques: b.mitre_subtechniques,
        data_sources: b.data_sources,
        run_frequency: b.run_frequency,
        created_by: b.created_by.or_else(|| Some(auth.key.key_prefix.clone())),
        documentation: b.documentation,
    };
    let row = state.services().detection_rules.create_rule(fields).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(row.into()))))
}

/// One detection rule.
#[utoipa::path(get, path = "/v1/detection-rules/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Rule id")), security(("api_key" = ["alerts:read"])),
    responses((status = 200, body = Envelope<DetectionRuleResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_rule(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<DetectionRuleResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().detection_rules.get_rule(uuid).await?.into())))
}

/// Body of `PATCH /v1/detection-rules/{uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RulePatchRequest {
    /// 1..500 characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    name: Option<String>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    severity: Option<Option<String>>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    mitre_tactics: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    mitre_techniques: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    mitre_subtechniques: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    data_sources: Option<Vec<String>>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    documentation: Option<Option<String>>,
}

/// Change a rule (a stub created at ingest becomes a full rule in place).
#[utoipa::path(patch, path = "/v1/detection-rules/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Rule id")), request_body = RulePatchRequest, security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<DetectionRuleResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_rule(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<RulePatchRequest>,
) -> Result<Json<Envelope<DetectionRuleResponse>>, ApiError> {
    let row: DetectionRuleRow = state
        .services()
        .detection_rules
        .patch_rule(uuid, |f| {
            if let Some(v) = b.name {
                f.name = v;
            }
            if let Some(v) = b.severity {
                f.severity = v;
            }
            if let Some(v) = b.is_active {
                f.is_active = v;
            }
            if let Some(v) = b.mitre_tactics {
                f.mitre_tactics = v;
            }
            if let Some(v) = b.mitre_techniques {
                f.mitre_techniques = v;
            }
            if let Some(v) = b.mitre_subtechniques {
                f.mitre_subtechniques = v;
            }
            if let Some(v) = b.data_sources {
                f.data_sources = v;
            }
            if let Some(v) = b.documentation {
                f.documentation = v;
            }
        })
        .await?;
    Ok(Json(Envelope::new(row.into())))
}

/// Delete a rule (its alerts stay, unlinked).
#[utoipa::path(delete, path = "/v1/detection-rules/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Rule id")), security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().detection_rules.delete_rule(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
