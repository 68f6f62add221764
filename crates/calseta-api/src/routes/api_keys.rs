//! `/v1/api-keys`: issue, list, inspect, change and revoke API keys (admin).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use calseta_services::resources::api_keys::{ApiKey, IssuedKey, KeyPatch, NewKeyRequest};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{AnyKey, Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::serde_util::{double_option, lenient_timestamp};
use calseta_services::params::{PageQuery, Paging};

/// An API key (the plain key is never shown again after creation).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyResponse {
    uuid: Uuid,
    name: String,
    /// First 8 characters of the key.
    key_prefix: String,
    scopes: Vec<String>,
    /// `human` or `agent`.
    key_type: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    /// `null` = may ingest from any source.
    allowed_sources: Option<Vec<String>>,
    last_used_at: Option<DateTime<Utc>>,
}

impl From<ApiKey> for ApiKeyResponse {
    fn from(k: ApiKey) -> Self {
        Self {
            uuid: k.uuid,
            name: k.name,
            key_prefix: k.key_prefix,
            scopes: k.scopes,
            key_type: k.key_type.to_string(),
            is_active: k.is_active,
            created_at: k.created_at,
            expires_at: k.expires_at,
            allowed_sources: k.allowed_sources,
            last_used_at: k.last_used_at,
        }
    }
}

/// A newly created key, including the plain `key` — shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiKeyCreated {
    uuid: Uuid,
    name: String,
    key_prefix: String,
    /// The full key (`cai_…`). Store it now: it cannot be retrieved later.
    key: String,
    scopes: Vec<String>,
    key_type: String,
    is_active: bool,
    created_at: DateTime<Utc>,
    expires_at: Option<DateTime<Utc>>,
    allowed_sources: Option<Vec<String>>,
}

impl From<IssuedKey> for ApiKeyCreated {
    fn from(issued: IssuedKey) -> Self {
        let k = issued.key;
        Self {
            uuid: k.uuid,
            name: k.name,
            key_prefix: k.key_prefix,
            key: issued.plain,
            scopes: k.scopes,
            key_type: k.key_type.to_string(),
            is_active: k.is_active,
            created_at: k.created_at,
            expires_at: k.expires_at,
            allowed_sources: k.allowed_sources,
        }
    }
}

/// Body of `POST /v1/api-keys`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateApiKeyRequest {
    /// 1 to 255 characters.
    #[schema(
        min_length = 1,
        max_length = 255,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    name: String,
    /// At least one of the known scopes.
    #[schema(schema_with = crate::shapes::scopes)]
    scopes: Vec<String>,
    /// `human` (default) or `agent`.
    #[serde(default)]
    #[schema(pattern = "^(human|agent)$")]
    key_type: Option<String>,
    /// Restrict ingest to these sources; omitted or empty = any.
    #[serde(default)]
    allowed_sources: Option<Vec<String>>,
    /// Expiry (ISO 8601; without an offset it is UTC).
    #[serde(default, deserialize_with = "lenient_timestamp")]
    expires_at: Option<DateTime<Utc>>,
}

/// Body of `PATCH /v1/api-keys/{uuid}`; omitted fields are unchanged.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PatchApiKeyRequest {
    /// Replaces the scope list.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::scopes_or_null)]
    scopes: Option<Vec<String>>,
    /// A list restricts ingest; explicit `null` lifts the restriction.
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<Vec<String>>)]
    allowed_sources: Option<Option<Vec<String>>>,
    /// Re-activate or revoke.
    #[serde(default)]
    is_active: Option<bool>,
}

/// List active API keys, newest first.
#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "api-keys",
    params(PageQuery),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = ListEnvelope<ApiKeyResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list_api_keys(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ListQuery(params): ListQuery<PageQuery>,
) -> Result<Json<ListEnvelope<ApiKeyResponse>>, ApiError> {
    let page = params.page(Paging::REST)?;
    let (keys, total) = state.keys().list(true, page).await?;
    Ok(Json(ListEnvelope::new(keys.into_iter().map(Into::into).collect(), total, page)))
}

/// Create an API key; the response carries the full key once.
#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "api-keys",
    request_body = CreateApiKeyRequest,
    security(("api_key" = ["admin"])),
    responses(
        (status = 201, body = Envelope<ApiKeyCreated>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn create_api_key(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiJson(body): ApiJson<CreateApiKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let issued = state
        .keys()
        .issue(NewKeyRequest {
            name: body.name,
            scopes: body.scopes,
            key_type: body.key_type,
            allowed_sources: body.allowed_sources,
            expires_at: body.expires_at,
        })
        .await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(ApiKeyCreated::from(issued)))))
}

/// The key making this request: its name, scopes, type and source restriction. Any valid key may
/// ask; the answer comes from the authenticated key itself, without a database read.
#[utoipa::path(
    get,
    path = "/v1/api-keys/current",
    tag = "api-keys",
    security(("api_key" = [])),
    responses(
        (status = 200, body = Envelope<ApiKeyResponse>),
        (status = 401, body = ErrorBody),
    )
)]
pub async fn current_api_key(caller: AnyKey) -> Json<Envelope<ApiKeyResponse>> {
    Json(Envelope::new(ApiKeyResponse::from((*caller.key).clone())))
}

/// Get an API key (revoked keys too).
#[utoipa::path(
    get,
    path = "/v1/api-keys/{uuid}",
    tag = "api-keys",
    params(("uuid" = Uuid, Path, description = "API key id")),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = Envelope<ApiKeyResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn get_api_key(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ApiKeyResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.keys().get(uuid).await?.into())))
}

/// Change scopes, source restriction or active state.
#[utoipa::path(
    patch,
    path = "/v1/api-keys/{uuid}",
    tag = "api-keys",
    params(("uuid" = Uuid, Path, description = "API key id")),
    request_body = PatchApiKeyRequest,
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = Envelope<ApiKeyResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn patch_api_key(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PatchApiKeyRequest>,
) -> Result<Json<Envelope<ApiKeyResponse>>, ApiError> {
    let patch =
        KeyPatch { scopes: body.scopes, allowed_sources: body.allowed_sources, is_active: body.is_active };
    Ok(Json(Envelope::new(state.keys().patch(uuid, patch).await?.into())))
}

/// Revoke an API key (soft delete; it stops working at once in this process and within seconds
/// in every other).
#[utoipa::path(
    delete,
    path = "/v1/api-keys/{uuid}",
    tag = "api-keys",
    params(("uuid" = Uuid, Path, description = "API key id")),
    security(("api_key" = ["admin"])),
    responses(
        (status = 204, description = "Revoked"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn delete_api_key(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.keys().revoke(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
