//! `/v1/workflows` (CRUD, code versions and secret grants) and `/v1/workflow-secrets`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_core::scopes::Scope;
use calseta_services::audit::Actor;
use calseta_services::records::SecretRow;
use calseta_services::resources::workflows::SecretGrants;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use calseta_services::params::{Paging, WorkflowSearch};
use calseta_services::views::workflows::{WorkflowResponse, workflow_response};

/// List workflows.
#[utoipa::path(get, path = "/v1/workflows", tag = "workflows", params(WorkflowSearch), security(("api_key" = ["workflows:read"])),
    responses((status = 200, body = ListEnvelope<WorkflowResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_workflows(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ListQuery(search): ListQuery<WorkflowSearch>,
) -> Result<Json<ListEnvelope<WorkflowResponse>>, ApiError> {
    let (filter, page) = search.to_query(Paging::REST)?;
    let (rows, total) = state.services().workflows.list(&filter, page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(|r| workflow_response(r, false)).collect(), total, page)))
}

/// Create a workflow; its code is validated first (400 `WORKFLOW_CODE_INVALID` with every problem).
#[utoipa::path(post, path = "/v1/workflows", tag = "workflows",
    request_body(content = crate::shapes::WorkflowCreateBody, description = "name and code required; see docs/workflows.md"),
    security(("api_key" = ["workflows:write"])),
    responses((status = 201, body = Envelope<WorkflowResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn create_workflow(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsWrite>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Envelope<WorkflowResponse>>), ApiError> {
    let row = state.services().workflows.create(body).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(workflow_response(row, true)))))
}

/// Body of `POST /v1/workflows/generate`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct GenerateBody {
    /// What the workflow should do, in words (1 to 10,000 characters).
    #[schema(schema_with = crate::shapes::generate_description)]
    description: String,
    /// `indicator` (default) or `alert`.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::workflow_type_or_null)]
    workflow_type: Option<String>,
    /// The indicator types it is for (not validated, as v1).
    #[serde(default)]
    indicator_types: Vec<String>,
}

/// A generated workflow, for a human to review and save (`POST /v1/workflows` with its code).
#[derive(Debug, Serialize, ToSchema)]
pub struct GeneratedWorkflowResponse {
    /// The code; it passed the same validation as a saved workflow's.
    generated_code: String,
    /// A name for it (`Generated Workflow` when the model gave none).
    suggested_name: String,
    /// Documentation for it, when the model gave some.
    suggested_documentation: Option<String>,
    /// What to check before using it.
    warnings: Vec<String>,
}

/// Generate a workflow from a description with an Anthropic-compatible model (v1 §10.8);
/// nothing is saved. `503` when `ANTHROPIC_API_KEY` is not set; `400 WORKFLOW_GENERATION_FAILED`
/// when the model fails or its code does not validate.
#[utoipa::path(post, path = "/v1/workflows/generate", tag = "workflows", request_body = GenerateBody,
    security(("api_key" = ["workflows:write"])),
    responses((status = 200, body = Envelope<GeneratedWorkflowResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn generate_workflow(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsWrite>,
    ApiJson(body): ApiJson<GenerateBody>,
) -> Result<Json<Envelope<GeneratedWorkflowResponse>>, ApiError> {
    use calseta_services::resources::workflow_generator::GenerateRequest;
    let request = GenerateRequest {
        description: body.description,
        workflow_type: body.workflow_type,
        indicator_types: body.indicator_types,
    };
    let generated = state.services().workflow_generator.generate(request).await?;
    Ok(Json(Envelope::new(GeneratedWorkflowResponse {
        generated_code: generated.generated_code,
        suggested_name: generated.suggested_name,
        suggested_documentation: generated.suggested_documentation,
        warnings: generated.warnings,
    })))
}

/// One workflow, with its code.
#[utoipa::path(get, path = "/v1/workflows/{uuid}", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    security(("api_key" = ["workflows:read"])),
    responses((status = 200, body = Envelope<WorkflowResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_workflow(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<WorkflowResponse>>, ApiError> {
    Ok(Json(Envelope::new(workflow_response(state.services().workflows.get(uuid).await?, true))))
}

/// Change a workflow (`null` leaves a field as it is); new code is validated, and the code it
/// replaces is kept as a version. New code from a key without `admin` suspends the workflow's
/// secret grants until an admin confirms them (`PUT /v1/workflows/{uuid}/secrets`); from an admin
/// key it confirms them.
#[utoipa::path(patch, path = "/v1/workflows/{uuid}", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    request_body(content = crate::shapes::WorkflowPatchBody, description = "Any fields of the create body"),
    security(("api_key" = ["workflows:write"])),
    responses((status = 200, body = Envelope<WorkflowResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn patch_workflow(
    State(state): State<AppState>,
    auth: Authed<scope::WorkflowsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Envelope<WorkflowResponse>>, ApiError> {
    let admin = auth.key.allows(Scope::Admin);
    let row = state.services().workflows.patch(uuid, body, &Actor::api(&auth.key), admin).await?;
    Ok(Json(Envelope::new(workflow_response(row, true))))
}

/// Delete a workflow (system workflows: 403).
#[utoipa::path(delete, path = "/v1/workflows/{uuid}", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    security(("api_key" = ["workflows:write"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_workflow(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().workflows.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A kept code version.
#[derive(Debug, Serialize, ToSchema)]
pub struct CodeVersionResponse {
    version: i32,
    /// The first 120 characters (v1).
    code_preview: String,
    /// The whole code (Calseta addition).
    code: String,
    saved_at: DateTime<Utc>,
}

/// The previous versions of a workflow's code, newest first (the current code is not listed).
#[utoipa::path(get, path = "/v1/workflows/{uuid}/versions", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    security(("api_key" = ["workflows:read"])),
    responses((status = 200, body = Envelope<Vec<CodeVersionResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn workflow_versions(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Vec<CodeVersionResponse>>>, ApiError> {
    let versions = state.services().workflows.versions(uuid).await?;
    Ok(Json(Envelope::new(
        versions
            .into_iter()
            .map(|v| CodeVersionResponse {
                version: v.version,
                code_preview: v.code.chars().take(120).collect(),
                code: v.code,
                saved_at: v.saved_at,
            })
            .collect(),
    )))
}

/// A workflow secret's name and times (never its value).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSecretResponse {
    name: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<SecretRow> for WorkflowSecretResponse {
    fn from(r: SecretRow) -> Self {
        WorkflowSecretResponse { name: r.name, created_at: r.created_at, updated_at: r.updated_at }
    }
}

/// Body of `PUT /v1/workflow-secrets/{name}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PutSecretRequest {
    /// Up to 64 KB; stored encrypted, read by workflows as `ctx.secrets["NAME"]`.
    #[schema(max_length = 65536)]
    value: String,
}

/// Store or replace a workflow secret.
#[utoipa::path(put, path = "/v1/workflow-secrets/{name}", tag = "workflows", params(("name" = String, Path, description = "1 to 128 of A-Z a-z 0-9 _ - .", pattern = "^[A-Za-z0-9_.-]{1,128}$")),
    request_body = PutSecretRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<WorkflowSecretResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_secret(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<PutSecretRequest>,
) -> Result<Json<Envelope<WorkflowSecretResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().workflows.put_secret(&name, &body.value).await?.into())))
}

/// The workflow secrets' names and times.
#[utoipa::path(get, path = "/v1/workflow-secrets", tag = "workflows", security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<Vec<WorkflowSecretResponse>>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn list_secrets(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
) -> Result<Json<Envelope<Vec<WorkflowSecretResponse>>>, ApiError> {
    let secrets = state.services().workflows.secrets().await?;
    Ok(Json(Envelope::new(secrets.into_iter().map(Into::into).collect())))
}

/// Delete a workflow secret.
#[utoipa::path(delete, path = "/v1/workflow-secrets/{name}", tag = "workflows", params(("name" = String, Path, description = "Secret name")),
    security(("api_key" = ["admin"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_secret(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(name): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    state.services().workflows.delete_secret(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The workflow secrets one workflow may read (Calseta addition).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowSecretGrantsResponse {
    /// The granted names, sorted; a name may be granted before its secret exists.
    secrets: Vec<String>,
    /// The code version an admin confirmed the grants for (`null`: never confirmed).
    confirmed_code_version: Option<i32>,
    /// The workflow's current code version.
    code_version: i32,
    /// Grants exist but the code changed since they were confirmed (by a key without `admin`):
    /// none is served until an admin confirms the current version with `PUT`.
    suspended: bool,
}

impl From<SecretGrants> for WorkflowSecretGrantsResponse {
    fn from(g: SecretGrants) -> Self {
        WorkflowSecretGrantsResponse {
            suspended: g.suspended(),
            secrets: g.secrets,
            confirmed_code_version: g.confirmed_code_version,
            code_version: g.code_version,
        }
    }
}

/// The schema of a list of secret names (each as `PUT /v1/workflow-secrets/{name}` accepts).
fn secret_names() -> RefOr<Schema> {
    let name = ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(128))
        .pattern(Some("^[A-Za-z0-9_.-]{1,128}$"));
    RefOr::T(Schema::Array(ArrayBuilder::new().items(name).max_items(Some(256)).build()))
}

/// Body of `PUT /v1/workflows/{uuid}/secrets`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PutSecretGrantsRequest {
    /// Every secret the workflow may read (replaces the current grants; `[]` revokes them all).
    #[schema(schema_with = secret_names)]
    secrets: Vec<String>,
    /// The code version the admin reviewed (required: a confirmation names the code it confirms):
    /// when the code is at another version now, nothing changes (`409 WORKFLOW_CODE_CHANGED`).
    #[schema(minimum = 1)]
    code_version: i32,
}

/// A workflow's secret grants: which workflow secrets it may read, and whether they are suspended
/// because its code changed since an admin confirmed them.
#[utoipa::path(get, path = "/v1/workflows/{uuid}/secrets", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<WorkflowSecretGrantsResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_secret_grants(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<WorkflowSecretGrantsResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().workflows.secret_grants(uuid).await?.into())))
}

/// Set a workflow's secret grants and confirm them for its current code version (also how an
/// admin confirms new code written by a key without `admin`). Recorded as
/// `workflow_secret_grants_updated`.
#[utoipa::path(put, path = "/v1/workflows/{uuid}/secrets", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    request_body = PutSecretGrantsRequest,
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<WorkflowSecretGrantsResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn put_secret_grants(
    State(state): State<AppState>,
    auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<PutSecretGrantsRequest>,
) -> Result<Json<Envelope<WorkflowSecretGrantsResponse>>, ApiError> {
    let grants = state
        .services()
        .workflows
        .put_secret_grants(uuid, &body.secrets, body.code_version, &Actor::api(&auth.key))
        .await?;
    Ok(Json(Envelope::new(grants.into())))
}
