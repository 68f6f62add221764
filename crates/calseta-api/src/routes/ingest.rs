//! `POST /v1/ingest/{source_name}` (SIEM webhooks) and `POST /v1/alerts` (programmatic ingest).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use calseta_services::pipeline::ingest::Ingested;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::IngestAuthed;
use crate::envelope::Envelope;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiBody, ApiJson, ApiPath};

/// The answer to an accepted alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct IngestResponse {
    /// The new alert — or, for a duplicate, the original.
    alert_uuid: Uuid,
    /// `queued` or `deduplicated`.
    status: &'static str,
    is_duplicate: bool,
    /// The original's count, for duplicates; otherwise null.
    duplicate_count: Option<i32>,
}

impl From<Ingested> for IngestResponse {
    fn from(i: Ingested) -> Self {
        IngestResponse {
            alert_uuid: i.alert_uuid,
            status: if i.is_duplicate { "deduplicated" } else { "queued" },
            is_duplicate: i.is_duplicate,
            duplicate_count: i.duplicate_count,
        }
    }
}

/// Ingest a SIEM webhook. Checks, in order: key and scope (401/403), source (404
/// `UNKNOWN_SOURCE`), the key's allowed sources (403 `SOURCE_NOT_ALLOWED`), the source's signature
/// when its secret is configured (401 `INVALID_SIGNATURE`), JSON (400 `INVALID_JSON`, 422
/// `INVALID_PAYLOAD` for non-objects), the source's shape (422 `INVALID_PAYLOAD`). Answers 202 once
/// the alert and its enrichment job are committed. Senders that cannot set headers may pass an
/// ingest-only key as `?api_key=`.
#[utoipa::path(
    post,
    path = "/v1/ingest/{source_name}",
    tag = "ingest",
    params(("source_name" = String, Path, description = "sentinel, elastic, splunk or generic")),
    request_body(content = Object, description = "The SIEM's alert payload, as it sends it"),
    security(("api_key" = ["alerts:ingest"])),
    responses(
        (status = 202, body = Envelope<IngestResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 413, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn ingest_webhook(
    State(state): State<AppState>,
    auth: IngestAuthed,
    ApiPath(source_name): ApiPath<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Envelope<IngestResponse>>), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_string);
    let ingested = state.services().ingest.ingest_webhook(&source_name, &auth.key, &header, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(Envelope::new(ingested.into()))))
}

/// Body of `POST /v1/alerts`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ProgrammaticIngest {
    /// A registered source.
    source_name: String,
    /// The alert payload in that source's format (at most 1 MB).
    #[schema(value_type = Object)]
    payload: Box<RawValue>,
}

/// Ingest an alert programmatically (same pipeline, no signature step).
#[utoipa::path(
    post,
    path = "/v1/alerts",
    tag = "alerts",
    request_body = ProgrammaticIngest,
    security(("api_key" = ["alerts:ingest"])),
    responses(
        (status = 202, body = Envelope<IngestResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody),
    )
)]
pub async fn ingest_alert(
    State(state): State<AppState>,
    auth: IngestAuthed,
    ApiJson(body): ApiJson<ProgrammaticIngest>,
) -> Result<(StatusCode, Json<Envelope<IngestResponse>>), ApiError> {
    if body.payload.get().len() > 1024 * 1024 {
        return Err(ApiError::from(calseta_services::ServiceError::invalid(
            "payload",
            "payload is larger than 1 MB",
        )));
    }
    let ingested =
        state.services().ingest.ingest_payload(&body.source_name, &auth.key, body.payload.get()).await?;
    Ok((StatusCode::ACCEPTED, Json(Envelope::new(ingested.into()))))
}
