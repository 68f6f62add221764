//! `/v1/enrichment-providers`, `/v1/enrichment-field-extractions` and `/v1/enrichments`:
//! providers as data, their field extractions, and on-demand enrichment.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::pipeline::enrich::EnrichmentEngine;
use calseta_services::records::ProviderRow;
use calseta_services::records::{ExtractionChanges, ExtractionRow, NewExtraction};
use calseta_services::resources::providers::ProviderInput;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::serde_util::double_option;
use calseta_services::params::{ExtractionSearch, Paging, ProviderSearch};

/// An enrichment provider (credentials and mock responses are never returned).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProviderResponse {
    uuid: Uuid,
    provider_name: String,
    display_name: String,
    description: Option<String>,
    is_builtin: bool,
    is_active: bool,
    supported_indicator_types: Vec<String>,
    #[schema(value_type = Object)]
    http_config: Value,
    auth_type: String,
    /// Credentials stored, available from the environment, or not needed.
    has_credentials: bool,
    /// Active and usable now.
    is_configured: bool,
    #[schema(value_type = Option<Object>)]
    env_var_mapping: Option<Value>,
    default_cache_ttl_seconds: i32,
    #[schema(value_type = Option<Object>)]
    cache_ttl_by_type: Option<Value>,
    #[schema(value_type = Option<Object>)]
    malice_rules: Option<Value>,
    /// Real calls per minute, shared by every process (null = unlimited).
    rate_limit_per_minute: Option<i32>,
    /// Calls in flight at once per process.
    max_concurrency: i32,
    /// May call private-network addresses (internal intel services).
    allow_private_network: bool,
    /// `host` or `host:port` entries that allowance is narrowed to (empty: every private address).
    private_network_hosts: Vec<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

fn provider_response(state: &AppState, row: ProviderRow) -> ProviderResponse {
    let providers = &state.services().providers;
    let has_credentials = providers.has_credentials(&row);
    let is_configured = providers.is_configured(&row);
    ProviderResponse {
        uuid: row.uuid,
        provider_name: row.provider_name,
        display_name: row.display_name,
        description: row.description,
        is_builtin: row.is_builtin,
        is_active: row.is_active,
        supported_indicator_types: row.supported_indicator_types.0,
        http_config: row.http_config.0,
        auth_type: row.auth_type,
        has_credentials,
        is_configured,
        env_var_mapping: row.env_var_mapping.map(|j| j.0),
        default_cache_ttl_seconds: row.default_cache_ttl_seconds,
        cache_ttl_by_type: row.cache_ttl_by_type.map(|j| j.0),
        malice_rules: row.malice_rules.map(|j| j.0),
        rate_limit_per_minute: row.rate_limit_per_minute,
        max_concurrency: row.max_concurrency,
        allow_private_network: row.allow_private_network,
        private_network_hosts: row.private_network_hosts.0,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// List providers, oldest first.
#[utoipa::path(get, path = "/v1/enrichment-providers", tag = "enrichment", params(ProviderSearch),
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, body = ListEnvelope<ProviderResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_providers(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ListQuery(f): ListQuery<ProviderSearch>,
) -> Result<Json<ListEnvelope<ProviderResponse>>, ApiError> {
    let page = f.page(Paging::REST)?;
    let rows = state.services().providers.list(f.is_active, f.is_builtin).await?;
    let total = rows.len() as i64;
    let items = rows
        .into_iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|r| provider_response(&state, r))
        .collect();
    Ok(Json(ListEnvelope::new(items, total, page)))
}

/// Body of `POST /v1/enrichment-providers`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProviderCreateRequest {
    /// 1..100 of `a-z 0-9 _`, unique.
    #[schema(pattern = "^[a-z0-9_]{1,100}$")]
    provider_name: String,
    /// 1..200 characters.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    display_name: String,
    #[serde(default)]
    description: Option<String>,
    #[schema(schema_with = crate::shapes::indicator_types)]
    supported_indicator_types: Vec<String>,
    /// `{"steps": [...], "url_templates_by_type": {...}}` (see docs/enrichment.md).
    #[schema(schema_with = crate::shapes::http_config)]
    http_config: Value,
    /// `no_auth` (default), `api_key`, `api_token`, `oauth2_client_credentials`, …
    #[serde(default)]
    auth_type: Option<String>,
    /// Credentials and settings used as `{{auth.*}}` (stored encrypted, never returned).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    auth_config: Option<Value>,
    /// 0..86400 (default 3600).
    #[serde(default)]
    #[schema(minimum = 0, maximum = 86400)]
    default_cache_ttl_seconds: Option<i32>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::cache_ttls_or_null)]
    cache_ttl_by_type: Option<Value>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::malice_rules_or_null)]
    malice_rules: Option<Value>,
    /// At least 1; omitted = no limit.
    #[serde(default)]
    #[schema(minimum = 1)]
    rate_limit_per_minute: Option<i32>,
    /// 1..64.
    #[serde(default)]
    #[schema(minimum = 1, maximum = 64)]
    max_concurrency: Option<i32>,
    #[serde(default)]
    allow_private_network: Option<bool>,
    /// `host` or `host:port` entries the private-network allowance is narrowed to (at most 64).
    #[serde(default)]
    #[schema(schema_with = crate::shapes::private_hosts_or_null)]
    private_network_hosts: Option<Vec<String>>,
}

/// Add a provider — no code: its HTTP steps, extractions and verdict rules are data.
#[utoipa::path(post, path = "/v1/enrichment-providers", tag = "enrichment", request_body = ProviderCreateRequest,
    security(("api_key" = ["admin"])),
    responses((status = 201, body = Envelope<ProviderResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(b): ApiJson<ProviderCreateRequest>,
) -> Result<(StatusCode, Json<Envelope<ProviderResponse>>), ApiError> {
    let input = ProviderInput {
        provider_name: b.provider_name,
        display_name: b.display_name,
        description: b.description,
        supported_indicator_types: b.supported_indicator_types,
        http_config: b.http_config,
        auth_type: b.auth_type,
        auth_config: b.auth_config,
        default_cache_ttl_seconds: b.default_cache_ttl_seconds,
        cache_ttl_by_type: b.cache_ttl_by_type,
        malice_rules: b.malice_rules,
        rate_limit_per_minute: b.rate_limit_per_minute,
        max_concurrency: b.max_concurrency,
        allow_private_network: b.allow_private_network,
        private_network_hosts: b.private_network_hosts,
    };
    let row = state.services().providers.create(input).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(provider_response(&state, row)))))
}

/// One provider.
#[utoipa::path(get, path = "/v1/enrichment-providers/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, body = Envelope<ProviderResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ProviderResponse>>, ApiError> {
    let row = state.services().providers.get(uuid).await?;
    Ok(Json(Envelope::new(provider_response(&state, row))))
}

/// Change a provider (builtins: only activation, credentials, description, verdict rules, TTLs
/// and limits). Explicit `null` clears nullable fields such as `auth_config`.
#[utoipa::path(patch, path = "/v1/enrichment-providers/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    request_body(content = crate::shapes::ProviderPatchBody, description = "Any fields of the create body but `provider_name`"),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<ProviderResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Envelope<ProviderResponse>>, ApiError> {
    let row = state.services().providers.patch(uuid, body).await?;
    Ok(Json(Envelope::new(provider_response(&state, row))))
}

/// Delete a custom provider (and its custom extractions).
#[utoipa::path(delete, path = "/v1/enrichment-providers/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().providers.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Activate a provider.
#[utoipa::path(post, path = "/v1/enrichment-providers/{uuid}/activate", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<ProviderResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn activate_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ProviderResponse>>, ApiError> {
    let row = state.services().providers.set_active(uuid, true).await?;
    Ok(Json(Envelope::new(provider_response(&state, row))))
}

/// Deactivate a provider.
#[utoipa::path(post, path = "/v1/enrichment-providers/{uuid}/deactivate", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<ProviderResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn deactivate_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ProviderResponse>>, ApiError> {
    let row = state.services().providers.set_active(uuid, false).await?;
    Ok(Json(Envelope::new(provider_response(&state, row))))
}

/// Body of the provider test.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProviderTestRequest {
    #[schema(schema_with = crate::shapes::indicator_type)]
    indicator_type: String,
    #[schema(min_length = 1)]
    indicator_value: String,
}

/// Run a provider live against one value, with every step's request and response (credentials masked).
#[utoipa::path(post, path = "/v1/enrichment-providers/{uuid}/test", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Provider id")),
    request_body = ProviderTestRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "success, extracted, raw_response, steps, malice_rule", body = crate::envelope::Envelope<crate::schemas::ProviderTestResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_provider(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ProviderTestRequest>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(
        state.services().providers.test(uuid, &b.indicator_type, &b.indicator_value).await?,
    )))
}

/// A field extraction rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExtractionResponse {
    uuid: Uuid,
    provider_name: String,
    indicator_type: String,
    source_path: String,
    target_key: String,
    value_type: String,
    is_system: bool,
    is_active: bool,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<ExtractionRow> for ExtractionResponse {
    fn from(r: ExtractionRow) -> Self {
        ExtractionResponse {
            uuid: r.uuid,
            provider_name: r.provider_name,
            indicator_type: r.indicator_type,
            source_path: r.source_path,
            target_key: r.target_key,
            value_type: r.value_type,
            is_system: r.is_system,
            is_active: r.is_active,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// List field extractions, oldest first.
#[utoipa::path(get, path = "/v1/enrichment-field-extractions", tag = "enrichment", params(ExtractionSearch),
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, body = ListEnvelope<ExtractionResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_extractions(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ListQuery(f): ListQuery<ExtractionSearch>,
) -> Result<Json<ListEnvelope<ExtractionResponse>>, ApiError> {
    let (filter, page) = f.to_query(Paging::REST)?;
    let (rows, total) =
        state.services().extractions.list_extractions(&filter, page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// One extraction to create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtractionCreateRequest {
    #[schema(min_length = 1)]
    provider_name: String,
    #[schema(schema_with = crate::shapes::indicator_type)]
    indicator_type: String,
    /// Dotted path into the response (step name first for multi-step providers; numbers index lists).
    #[schema(schema_with = crate::shapes::path_text)]
    source_path: String,
    #[schema(schema_with = crate::shapes::path_text)]
    target_key: String,
    /// string (default), int, float, bool, list, dict, any.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::value_type_or_null)]
    value_type: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

impl From<ExtractionCreateRequest> for NewExtraction {
    fn from(r: ExtractionCreateRequest) -> Self {
        NewExtraction {
            provider_name: r.provider_name,
            indicator_type: r.indicator_type,
            source_path: r.source_path,
            target_key: r.target_key,
            value_type: r.value_type.unwrap_or_else(|| "string".into()),
            is_system: false,
            description: r.description,
        }
    }
}

/// Create a field extraction.
#[utoipa::path(post, path = "/v1/enrichment-field-extractions", tag = "enrichment", request_body = ExtractionCreateRequest,
    security(("api_key" = ["admin"])),
    responses((status = 201, body = Envelope<ExtractionResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_extraction(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(b): ApiJson<ExtractionCreateRequest>,
) -> Result<(StatusCode, Json<Envelope<ExtractionResponse>>), ApiError> {
    let mut rows = state.services().extractions.create_extractions(vec![b.into()]).await?;
    let row = rows.pop().ok_or_else(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(Envelope::new(row.into()))))
}

/// Body of the bulk create.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtractionBulkRequest {
    /// 1..100 rules, created all-or-nothing.
    #[schema(min_items = 1, max_items = 100)]
    extractions: Vec<ExtractionCreateRequest>,
}

/// Create up to 100 field extractions at once (all or nothing).
#[utoipa::path(post, path = "/v1/enrichment-field-extractions/bulk", tag = "enrichment", request_body = ExtractionBulkRequest,
    security(("api_key" = ["admin"])),
    responses((status = 201, body = Envelope<Vec<ExtractionResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn bulk_create_extractions(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(b): ApiJson<ExtractionBulkRequest>,
) -> Result<(StatusCode, Json<Envelope<Vec<ExtractionResponse>>>), ApiError> {
    let rows = state
        .services()
        .extractions
        .create_extractions(b.extractions.into_iter().map(Into::into).collect())
        .await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(rows.into_iter().map(Into::into).collect()))))
}

/// One field extraction.
#[utoipa::path(get, path = "/v1/enrichment-field-extractions/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Extraction id")),
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, body = Envelope<ExtractionResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_extraction(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ExtractionResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().extractions.get_extraction(uuid).await?.into())))
}

/// Body of the extraction patch.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExtractionPatchRequest {
    #[serde(default)]
    #[schema(schema_with = crate::shapes::path_text_or_null)]
    source_path: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::path_text_or_null)]
    target_key: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::value_type_or_null)]
    value_type: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
}

/// Change a field extraction (system rules: only `is_active`).
#[utoipa::path(patch, path = "/v1/enrichment-field-extractions/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Extraction id")),
    request_body = ExtractionPatchRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<ExtractionResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_extraction(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ExtractionPatchRequest>,
) -> Result<Json<Envelope<ExtractionResponse>>, ApiError> {
    let changes = ExtractionChanges {
        source_path: b.source_path,
        target_key: b.target_key,
        value_type: b.value_type,
        is_active: b.is_active,
        description: b.description,
    };
    Ok(Json(Envelope::new(state.services().extractions.patch_extraction(uuid, changes).await?.into())))
}

/// Delete a custom field extraction.
#[utoipa::path(delete, path = "/v1/enrichment-field-extractions/{uuid}", tag = "enrichment", params(("uuid" = Uuid, Path, description = "Extraction id")),
    security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_extraction(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().extractions.delete_extraction(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/enrichments` (`indicator_type`/`indicator_value` accepted as aliases).
#[derive(Debug, Deserialize, ToSchema)]
pub struct EnrichRequest {
    /// One of the eight indicator types.
    #[serde(rename = "type", alias = "indicator_type")]
    #[schema(schema_with = crate::shapes::indicator_type)]
    kind: String,
    /// The value to look up.
    #[serde(alias = "indicator_value")]
    #[schema(min_length = 1)]
    value: String,
}

/// Enrich one value now with every applicable provider (cached; nothing else stored).
#[utoipa::path(post, path = "/v1/enrichments", tag = "enrichment", request_body = EnrichRequest,
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, description = "{type, value, results, enriched_at}", body = crate::envelope::Envelope<crate::schemas::EnrichNowResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn enrich_now(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ApiJson(b): ApiJson<EnrichRequest>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let (kind, value, results) = state.services().providers.enrich(&b.kind, &b.value).await?;
    Ok(Json(Envelope::new(
        json!({"type": kind, "value": value, "results": results, "enriched_at": calseta_services::records::now()}),
    )))
}

/// The providers this process can use now.
#[utoipa::path(get, path = "/v1/enrichments/providers", tag = "enrichment",
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, description = "provider_name, display_name, supported_types, is_configured, cache_ttl_seconds", body = crate::envelope::Envelope<Vec<crate::schemas::LoadedProviderResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn loaded_providers(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
) -> Result<Json<Envelope<Vec<Value>>>, ApiError> {
    let engine: &EnrichmentEngine = &state.services().enrichment;
    let providers = engine.registry().providers().await?;
    let list = providers
        .iter()
        .map(|p| json!({"provider_name": p.name, "display_name": p.display_name, "supported_types": p.supported_types, "is_configured": p.configured, "cache_ttl_seconds": p.default_cache_ttl_seconds}))
        .collect();
    Ok(Json(Envelope::new(list)))
}
