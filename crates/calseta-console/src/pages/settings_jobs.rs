//! `/settings/jobs`: the durable job queue — counts per kind and status (queued, running, done,
//! dead), the jobs running now, and the dead letters with their last error, each with a retry
//! button (REST's `POST /v1/jobs/{uuid}/retry`, same service, same `admin` scope), paged.
//!
//! A job's error and payload may quote what an attacker sent (an alert, a provider's answer):
//! escaped text only.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::records::Job;

use super::alert_detail::EmptyForm;
use super::forms::FormErrors;
use super::listing::{Filters, Pager, Shown};
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// Dead letters per page.
const PAGE_SIZE: u32 = 25;
/// Running jobs listed (a busy queue has at most its workers' concurrency running).
const RUNNING_SHOWN: u32 = 50;
/// Where the page lives.
const PATH: &str = "/settings/jobs";
/// The statuses in the counts table, in the order a job passes through them.
const STATUSES: [JobStatus; 4] =
    [JobStatus::Queued, JobStatus::Running, JobStatus::Succeeded, JobStatus::Dead];

/// One kind's counts, in [`STATUSES`] order.
struct KindRow {
    kind: String,
    counts: Vec<i64>,
}

/// One job as the page lists it.
struct JobShown {
    uuid: String,
    kind: String,
    queue: String,
    attempts: String,
    error: String,
    payload: String,
    created: Shown,
    changed: Shown,
}

impl From<Job> for JobShown {
    fn from(job: Job) -> Self {
        JobShown {
            uuid: job.uuid.to_string(),
            kind: job.kind,
            queue: job.queue,
            attempts: format!("{} of {}", job.attempts, job.max_attempts),
            error: job.last_error.unwrap_or_default(),
            payload: serde_json::to_string(&job.payload).unwrap_or_default(),
            created: job.created_at.into(),
            changed: job.finished_at.unwrap_or(job.updated_at).into(),
        }
    }
}

#[derive(Template)]
#[template(path = "settings_jobs.html")]
struct JobsPage {
    ctx: PageContext,
    statuses: Vec<&'static str>,
    kinds: Vec<KindRow>,
    running: Vec<JobShown>,
    running_total: i64,
    dead: Vec<JobShown>,
    pager: Pager,
    errors: FormErrors,
    retried: Option<String>,
}

/// A status as the page names it (`succeeded` is "done").
fn status_heading(status: JobStatus) -> &'static str {
    match status {
        JobStatus::Succeeded => "done",
        other => other.as_str(),
    }
}

async fn jobs_page(
    state: &ConsoleState,
    ctx: PageContext,
    filters: &Filters,
    errors: FormErrors,
) -> Result<JobsPage, PageError> {
    let services = state.services();
    let mut by_kind: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for row in services.job_counts_by_kind().await? {
        let counts = by_kind.entry(row.kind).or_insert_with(|| vec![0; STATUSES.len()]);
        if let Some(at) = STATUSES.iter().position(|s| *s == row.status) {
            counts[at] += row.count;
        }
    }
    let running_page = PageRequest { page: 1, page_size: RUNNING_SHOWN };
    let (running, running_total) = services.jobs(Some(JobStatus::Running), None, running_page).await?;
    let page =
        PageRequest { page: filters.value("page").parse().unwrap_or(1u32).max(1), page_size: PAGE_SIZE };
    let (dead, dead_total) = services.jobs(Some(JobStatus::Dead), None, page).await?;
    // Only a job id is echoed back: the notice never repeats arbitrary text from a link.
    let retried = filters
        .values("retried")
        .into_iter()
        .find_map(|v| uuid::Uuid::parse_str(&v).ok())
        .map(|u| u.to_string());
    Ok(JobsPage {
        ctx,
        statuses: STATUSES.iter().map(|s| status_heading(*s)).collect(),
        kinds: by_kind.into_iter().map(|(kind, counts)| KindRow { kind, counts }).collect(),
        running: running.into_iter().map(JobShown::from).collect(),
        running_total,
        dead: dead.into_iter().map(JobShown::from).collect(),
        pager: Pager::new(PATH, &Filters::default(), page, dead_total),
        errors,
        retried,
    })
}

/// `GET /settings/jobs[?page=N]`: the counts, the running jobs, the dead letters.
pub async fn index(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let filters = Filters::from_query(raw.as_deref());
    Ok(render(&jobs_page(&state, ctx, &filters, FormErrors::none()).await?))
}

/// `POST /settings/jobs/{uuid}/retry`: puts a dead letter back in its queue with fresh attempts;
/// a job that is not dead is refused as REST refuses it (409, with its message).
pub async fn retry(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<EmptyForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = path_uuid(&raw, "Job not found.")?;
    match state.services().retry_job(uuid).await {
        Ok(job) => Ok(see_other(&format!("{PATH}?retried={}", job.uuid))),
        Err(e @ ServiceError::Conflict { .. }) => {
            let errors = FormErrors::from_service(e)?;
            let mut response = render(&jobs_page(&state, ctx, &Filters::default(), errors).await?);
            if response.status() == StatusCode::OK {
                *response.status_mut() = StatusCode::CONFLICT;
            }
            Ok(response)
        }
        Err(e) => Err(e.into()),
    }
}
