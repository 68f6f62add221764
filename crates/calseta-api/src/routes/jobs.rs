//! `/v1/jobs`: inspect the durable job queue and retry dead letters (admin; Calseta addition).

use axum::Json;
use axum::extract::State;
use calseta_jobs::Job;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ListQuery};
use calseta_services::params::{JobSearch, Paging};

/// A background job.
#[derive(Debug, Serialize, ToSchema)]
pub struct JobResponse {
    uuid: Uuid,
    /// Handler name, e.g. `enrich_alert`.
    kind: String,
    /// Queue, e.g. `enrichment`.
    queue: String,
    /// `queued`, `running`, `succeeded` or `dead`.
    status: String,
    #[schema(value_type = Object)]
    payload: Value,
    /// Attempts started so far.
    attempts: i32,
    max_attempts: i32,
    /// Earliest next start.
    run_at: DateTime<Utc>,
    last_error: Option<String>,
    finished_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Job> for JobResponse {
    fn from(j: Job) -> Self {
        Self {
            uuid: j.uuid,
            kind: j.kind,
            queue: j.queue,
            status: j.status.to_string(),
            payload: j.payload,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            run_at: j.run_at,
            last_error: j.last_error,
            finished_at: j.finished_at,
            created_at: j.created_at,
            updated_at: j.updated_at,
        }
    }
}

/// List jobs, newest first — `?status=dead` lists the dead letters.
#[utoipa::path(
    get,
    path = "/v1/jobs",
    tag = "jobs",
    params(JobSearch),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = ListEnvelope<JobResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody),
    )
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ListQuery(filters): ListQuery<JobSearch>,
) -> Result<Json<ListEnvelope<JobResponse>>, ApiError> {
    let page = filters.page(Paging::REST)?;
    let (status, queue) = (filters.status, filters.queue());
    let (rows, total) = state.services().jobs(status, queue, page).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// Get one job.
#[utoipa::path(
    get,
    path = "/v1/jobs/{uuid}",
    tag = "jobs",
    params(("uuid" = Uuid, Path, description = "Job id")),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = Envelope<JobResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<JobResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().job(uuid).await?.into())))
}

/// Put a dead letter back in its queue with a fresh set of attempts.
#[utoipa::path(
    post,
    path = "/v1/jobs/{uuid}/retry",
    tag = "jobs",
    params(("uuid" = Uuid, Path, description = "Job id")),
    security(("api_key" = ["admin"])),
    responses(
        (status = 200, body = Envelope<JobResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "The job is not dead", body = ErrorBody),
    )
)]
pub async fn retry_job(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<JobResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().retry_job(uuid).await?.into())))
}
