//! `/v1/context-documents`: runbooks, IR plans and other documents chosen for alerts by targeting rules.

use axum::Json;
use axum::extract::{FromRequest, Multipart, Request, State};
use axum::http::{StatusCode, header};
use calseta_services::records::DocumentFields;
use calseta_services::views::documents::document_view;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ListQuery};
use crate::serde_util::double_option;
use calseta_services::params::{DocumentSearch, Paging};

/// List context documents (without content).
#[utoipa::path(get, path = "/v1/context-documents", tag = "knowledge", params(DocumentSearch), security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "Documents", body = crate::envelope::ListEnvelope<crate::schemas::DocumentResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_documents(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ListQuery(search): ListQuery<DocumentSearch>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let (filter, page) = search.to_query(Paging::REST)?;
    let (rows, total) =
        state.services().documents.list_documents(&filter, page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.iter().map(|r| document_view(r, false)).collect(), total, page)))
}

/// Body of `POST /v1/context-documents`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentCreateRequest {
    /// 1..500 characters.
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    title: String,
    /// runbook, ir_plan, sop, playbook, detection_guide, other
    #[schema(schema_with = crate::shapes::document_type)]
    document_type: String,
    /// Applies to every alert.
    #[serde(default)]
    is_global: bool,
    #[serde(default)]
    description: Option<String>,
    /// Markdown (not empty).
    #[schema(pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    content: String,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels)]
    tags: Vec<String>,
    /// `{"match_any": [...], "match_all": [...]}` over source_name, severity, tags, detection_rule.
    #[serde(default)]
    #[schema(schema_with = crate::shapes::targeting_rules_or_null)]
    targeting_rules: Option<Value>,
}

/// Create a context document — from JSON, or by uploading a file (`multipart/form-data` with
/// `title`, `document_type`, `is_global`, `description`, `tags` (JSON array or comma list),
/// `targeting_rules` (JSON) and `file`: Markdown, text, HTML, PDF or DOCX, converted to Markdown).
#[utoipa::path(post, path = "/v1/context-documents", tag = "knowledge",
    request_body(content = DocumentCreateRequest, description = "JSON, or multipart/form-data with the same fields plus `file`"),
    security(("api_key" = ["alerts:write"])),
    responses((status = 201, description = "The document", body = crate::envelope::Envelope<crate::schemas::DocumentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_document(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsWrite>,
    request: Request,
) -> Result<(StatusCode, Json<Envelope<Value>>), ApiError> {
    let is_multipart = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.to_ascii_lowercase().starts_with("multipart/form-data"));
    let documents = &state.services().documents;
    let row = if is_multipart {
        let (fields, filename, bytes) = read_upload(request, &state).await?;
        documents.create_document_from_file(fields, &filename, &bytes).await?
    } else {
        let ApiJson(b) = ApiJson::<DocumentCreateRequest>::from_request(request, &state).await?;
        let fields = DocumentFields {
            title: b.title,
            document_type: b.document_type,
            is_global: b.is_global,
            targeting_rules: b.targeting_rules.filter(|v| !v.is_null()),
            description: b.description,
            content: b.content,
            tags: b.tags,
            version: 1,
        };
        documents.create_document(fields).await?
    };
    Ok((StatusCode::CREATED, Json(Envelope::new(document_view(&row, true)))))
}

fn form_error(field: &str, msg: impl Into<String>) -> ApiError {
    ApiError::validation(&[calseta_services::FieldError {
        loc: vec!["body".into(), field.into()],
        msg: msg.into(),
        kind: "value_error".into(),
    }])
}

/// Reads the multipart form of an upload: the document fields, the file name and its bytes.
async fn read_upload(
    request: Request,
    state: &AppState,
) -> Result<(DocumentFields, String, Vec<u8>), ApiError> {
    // Read within the body limit and timeout first, so the form parser never waits on the client.
    let (parts, body) = request.into_parts();
    let bytes = crate::extract::read_body(Request::from_parts(parts.clone(), body)).await?;
    let request = Request::from_parts(parts, axum::body::Body::from(bytes));
    let mut multipart =
        Multipart::from_request(request, state).await.map_err(|e| form_error("file", e.body_text()))?;
    let mut values = std::collections::HashMap::new();
    let mut file = None;
    while let Some(field) = multipart.next_field().await.map_err(|e| form_error("file", e.body_text()))? {
        let name = field.name().unwrap_or_default().to_string();
        if name == "file" {
            let filename = field.file_name().unwrap_or_default().to_string();
            let bytes = field.bytes().await.map_err(|e| form_error("file", e.body_text()))?;
            file = Some((filename, bytes.to_vec()));
        } else {
            let text = field.text().await.map_err(|e| form_error(&name, e.body_text()))?;
            values.insert(name, text);
        }
    }
    let (filename, bytes) = file.ok_or_else(|| form_error("file", "a file is required"))?;
    let required = |name: &str| {
        values
            .get(name)
            .filter(|v| !v.trim().is_empty())
            .cloned()
            .ok_or_else(|| form_error(name, format!("{name} is required")))
    };
    let tags = match values.get("tags").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        None => Vec::new(),
        Some(text) if text.starts_with('[') => serde_json::from_str(text)
            .map_err(|_| form_error("tags", "tags must be a JSON array of strings"))?,
        Some(text) => text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::to_string).collect(),
    };
    let targeting_rules = match values.get("targeting_rules").map(|t| t.trim()).filter(|t| !t.is_empty()) {
        None => None,
        Some(text) => Some(
            serde_json::from_str::<Value>(text)
                .map_err(|e| form_error("targeting_rules", format!("targeting_rules is not JSON: {e}")))?,
        ),
    };
    let fields = DocumentFields {
        title: required("title")?,
        document_type: required("document_type")?,
        is_global: values
            .get("is_global")
            .is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes")),
        targeting_rules,
        description: values.get("description").cloned().filter(|d| !d.is_empty()),
        content: String::new(),
        tags,
        version: 1,
    };
    Ok((fields, filename, bytes))
}

/// One context document.
#[utoipa::path(get, path = "/v1/context-documents/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Document id")), security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "The document", body = crate::envelope::Envelope<crate::schemas::DocumentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_document(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(document_view(&state.services().documents.get_document(uuid).await?, true))))
}

/// Body of `PATCH /v1/context-documents/{uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct DocumentPatchRequest {
    /// 1..500 characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 500,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    title: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::document_type_or_null)]
    document_type: Option<String>,
    #[serde(default)]
    is_global: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    #[schema(value_type = Option<String>)]
    description: Option<Option<String>>,
    /// A new content bumps `version`.
    #[serde(default)]
    #[schema(pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]")]
    content: Option<String>,
    #[serde(default)]
    #[schema(schema_with = crate::shapes::labels_or_null)]
    tags: Option<Vec<String>>,
    /// `null` removes targeting (a non-global document then applies to every alert, as in v1).
    #[serde(default, deserialize_with = "double_option")]
    #[schema(schema_with = crate::shapes::targeting_rules_or_null)]
    targeting_rules: Option<Option<Value>>,
}

/// Change a context document.
#[utoipa::path(patch, path = "/v1/context-documents/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Document id")), request_body = DocumentPatchRequest, security(("api_key" = ["alerts:write"])),
    responses((status = 200, description = "The document", body = crate::envelope::Envelope<crate::schemas::DocumentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_document(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<DocumentPatchRequest>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let row = state
        .services()
        .documents
        .patch_document(uuid, |f| {
            if let Some(v) = b.title {
                f.title = v;
            }
            if let Some(v) = b.document_type {
                f.document_type = v;
            }
            if let Some(v) = b.is_global {
                f.is_global = v;
            }
            if let Some(v) = b.description {
                f.description = v;
            }
            if let Some(v) = b.content {
                f.content = v;
            }
            if let Some(v) = b.tags {
                f.tags = v;
            }
            if let Some(v) = b.targeting_rules {
                f.targeting_rules = v;
            }
        })
        .await?;
    Ok(Json(Envelope::new(document_view(&row, true))))
}

/// Delete a context document.
#[utoipa::path(delete, path = "/v1/context-documents/{uuid}", tag = "knowledge", params(("uuid" = Uuid, Path, description = "Document id")), security(("api_key" = ["alerts:write"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_document(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().documents.delete_document(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}
