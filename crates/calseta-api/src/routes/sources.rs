//! `/v1/sources`: the alert sources that send webhooks, and their credentials.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::views::agents::source_view;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use calseta_services::params::{PageQuery, Paging};

/// List alert source integrations, newest first.
#[utoipa::path(get, path = "/v1/sources", tag = "agents", params(PageQuery), security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "Sources", body = crate::envelope::ListEnvelope<crate::schemas::SourceResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_sources(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ListQuery(params): ListQuery<PageQuery>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let page = params.page(Paging::REST)?;
    let rows = state.services().sources.list().await?;
    let total = rows.len() as i64;
    Ok(Json(ListEnvelope::new(
        rows.iter().skip(page.offset() as usize).take(page.limit() as usize).map(source_view).collect(),
        total,
        page,
    )))
}

/// Register a source integration (its `auth_config` is stored encrypted, never returned).
#[utoipa::path(post, path = "/v1/sources", tag = "agents", request_body(content = crate::shapes::SourceCreateBody, description = "source_name, display_name, is_active, auth_type, auth_config, documentation"),
    security(("api_key" = ["admin"])),
    responses((status = 201, description = "The source", body = crate::envelope::Envelope<crate::schemas::SourceResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_source(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Envelope<Value>>), ApiError> {
    let row = state.services().sources.save(None, body).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(source_view(&row)))))
}

/// One source integration.
#[utoipa::path(get, path = "/v1/sources/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Source id")), security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "The source", body = crate::envelope::Envelope<crate::schemas::SourceResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_source(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(source_view(&state.services().sources.get(uuid).await?))))
}

/// Change a source integration.
#[utoipa::path(patch, path = "/v1/sources/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Source id")),
    request_body(content = crate::shapes::SourcePatchBody, description = "display_name, is_active, auth_type, auth_config, documentation"),
    security(("api_key" = ["admin"])),
    responses((status = 200, description = "The source", body = crate::envelope::Envelope<crate::schemas::SourceResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_source(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(source_view(&state.services().sources.save(Some(uuid), body).await?))))
}

/// Delete a source integration.
#[utoipa::path(delete, path = "/v1/sources/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Source id")), security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_source(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().sources.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
