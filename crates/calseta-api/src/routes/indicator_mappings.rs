//! `/v1/indicator-mappings` (admin): the normalized and raw-payload field mappings, the source
//! plugins' own fields, and the extraction dry run.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::params::{MappingSearch, Paging};
use calseta_services::records::{MappingChanges, MappingRow};
use calseta_services::resources::mappings::{MappingInput, MappingService};
use chrono::{DateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::serde_util::double_option;

/// An indicator field mapping.
#[derive(Debug, Serialize, ToSchema)]
pub struct MappingResponse {
    uuid: Uuid,
    /// `null` = every source.
    source_name: Option<String>,
    field_path: String,
    indicator_type: String,
    /// `normalized`, `raw_payload` (or `source_plugin` in `source-plugin-fields`).
    extraction_target: String,
    is_system: bool,
    is_active: bool,
    description: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<MappingRow> for MappingResponse {
    fn from(r: MappingRow) -> Self {
        MappingResponse {
            uuid: r.uuid,
            source_name: r.source_name,
            field_path: r.field_path,
            indicator_type: r.indicator_type,
            extraction_target: r.extraction_target,
            is_system: r.is_system,
            is_active: r.is_active,
            description: r.description,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// List mappings, oldest first.
#[utoipa::path(
    get,
    path = "/v1/indicator-mappings",
    tag = "indicator-mappings",
    params(MappingSearch),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = ListEnvelope<MappingResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn list_mappings(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ListQuery(params): ListQuery<MappingSearch>,
) -> Result<Json<ListEnvelope<MappingResponse>>, ApiError> {
    let (filter, page) = params.to_query(Paging::REST)?;
    let (rows, total) = state.services().mappings.list(&filter, page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// Body of `POST /v1/indicator-mappings`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MappingCreateRequest {
    /// A registered source, or null for every source.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::source_name_or_null)]
    source_name: Option<String>,
    /// A normalized field name, a raw-payload or free-text path (`a.b`, flat `a.b` keys,
    /// `a.items[].ip`), or `*` — the source's own free-text fields, accepted only with
    /// `extraction_target` `free_text` (a 422 `VALIDATION_ERROR` with any other target).
    #[schema(schema_with = crate::shapes::mapping_path)]
    field_path: String,
    #[schema(schema_with = crate::shapes::indicator_type)]
    indicator_type: String,
    /// normalized (default), raw_payload or free_text.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::extraction_target_or_null)]
    extraction_target: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    #[serde(default)]
    description: Option<String>,
}

/// Create a custom mapping (takes effect in every process within seconds). `field_path` `*`
/// stands for the source's own free-text fields and is accepted only with `extraction_target`
/// `free_text` (to turn their scan on or off); with `normalized` or `raw_payload` it is refused
/// with 422 `VALIDATION_ERROR`.
#[utoipa::path(
    post,
    path = "/v1/indicator-mappings",
    tag = "indicator-mappings",
    request_body = MappingCreateRequest,
    security(("api_key" = ["admin"])),
    responses((status = 201, body = Envelope<MappingResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn create_mapping(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(body): ApiJson<MappingCreateRequest>,
) -> Result<(StatusCode, Json<Envelope<MappingResponse>>), ApiError> {
    let input = MappingInput {
        source_name: body.source_name,
        field_path: body.field_path,
        indicator_type: body.indicator_type,
        extraction_target: body.extraction_target.unwrap_or_else(|| "normalized".into()),
        is_active: body.is_active.unwrap_or(true),
        description: body.description,
    };
    let row = state.services().mappings.create(input).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(row.into()))))
}

/// The fields each source plugin extracts itself (pass 1), mapping-shaped.
#[utoipa::path(
    get,
    path = "/v1/indicator-mappings/source-plugin-fields",
    tag = "indicator-mappings",
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<Vec<MappingResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody))
)]
pub async fn source_plugin_fields(_auth: Authed<scope::Admin>) -> Json<Envelope<Vec<MappingResponse>>> {
    let epoch = Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).single().unwrap_or_default();
    let fields = MappingService::source_plugin_fields()
        .into_iter()
        .map(|(source, f)| MappingResponse {
            uuid: Uuid::nil(),
            source_name: Some(source.to_string()),
            field_path: f.field_path.to_string(),
            indicator_type: f.indicator_type.as_str().to_string(),
            extraction_target: "source_plugin".into(),
            is_system: true,
            is_active: true,
            description: Some(f.description.to_string()),
            created_at: epoch,
            updated_at: epoch,
        })
        .collect();
    Json(Envelope::new(fields))
}

/// Body of the dry run.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TestExtractionRequest {
    #[schema(schema_with = crate::shapes::source_name)]
    source_name: String,
    #[schema(value_type = Object)]
    raw_payload: Value,
}

/// Dry run: the three passes over a sample payload, with what each found and refused.
#[utoipa::path(
    post,
    path = "/v1/indicator-mappings/test-extraction",
    tag = "indicator-mappings",
    request_body = TestExtractionRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "passes, deduplicated, normalization_preview", body = crate::envelope::Envelope<crate::schemas::TestExtractionResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn test_extraction(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(body): ApiJson<TestExtractionRequest>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let report = state.services().mappings.test_extraction(&body.source_name, &body.raw_payload).await?;
    Ok(Json(Envelope::new(report)))
}

/// One mapping.
#[utoipa::path(
    get,
    path = "/v1/indicator-mappings/{uuid}",
    tag = "indicator-mappings",
    params(("uuid" = Uuid, Path, description = "Mapping id")),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<MappingResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_mapping(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<MappingResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().mappings.get(uuid).await?.into())))
}

/// Body of `PATCH /v1/indicator-mappings/{uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct MappingPatchRequest {
    /// Not on system mappings; `*` only on a `free_text` mapping (422 otherwise).
    #[serde(default)]
    #[schema(schema_with = crate::shapes::mapping_path_or_null)]
    field_path: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::indicator_type_or_null)]
    indicator_type: Option<String>,
    #[serde(default)]
    is_active: Option<bool>,
    /// `null` clears it.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
}

/// Change a mapping.
#[utoipa::path(
    patch,
    path = "/v1/indicator-mappings/{uuid}",
    tag = "indicator-mappings",
    params(("uuid" = Uuid, Path, description = "Mapping id")),
    request_body = MappingPatchRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<MappingResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn patch_mapping(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<MappingPatchRequest>,
) -> Result<Json<Envelope<MappingResponse>>, ApiError> {
    let changes = MappingChanges {
        field_path: body.field_path,
        indicator_type: body.indicator_type,
        is_active: body.is_active,
        description: body.description,
    };
    Ok(Json(Envelope::new(state.services().mappings.patch(uuid, changes).await?.into())))
}

/// Delete a custom mapping.
#[utoipa::path(
    delete,
    path = "/v1/indicator-mappings/{uuid}",
    tag = "indicator-mappings",
    params(("uuid" = Uuid, Path, description = "Mapping id")),
    security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn delete_mapping(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().mappings.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
