//! The job kinds this build knows, enqueueing them, and the dead-letter administration.

use std::time::Duration;

use calseta_core::jobs::{JobStatus, RetryPolicy};
use calseta_core::pagination::PageRequest;
use calseta_store::jobs::{self as repo, JobRow, NewJob};
use calseta_store::{Db, Tx};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::ServiceError;
use crate::worker::{JobContext, JobFailure, JobHandler};

/// A kind of job: its handler name, queue and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobKind {
    /// Handler name stored in `jobs.kind`.
    pub name: &'static str,
    /// Queue it is counted under.
    pub queue: &'static str,
    /// Attempts and back-off.
    pub retry: RetryPolicy,
}

/// Deletes succeeded jobs past their retention; scheduled hourly by every worker.
pub const PRUNE_FINISHED_JOBS: JobKind = JobKind {
    name: "prune_finished_jobs",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// Enqueues `kind` inside `tx`, to run after `delay`.
pub async fn enqueue(
    tx: &mut Tx,
    kind: &JobKind,
    payload: Value,
    delay: Duration,
) -> Result<Uuid, ServiceError> {
    let run_at = calseta_store::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    let job = NewJob {
        kind: kind.name.to_string(),
        queue: kind.queue.to_string(),
        payload,
        max_attempts: kind.retry.max_attempts,
        run_at,
    };
    Ok(repo::enqueue(tx, &job).await?)
}

/// A job as administrators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Public id.
    pub uuid: Uuid,
    /// Handler name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// Status name.
    pub status: String,
    /// Handler input.
    pub payload: Value,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Next start.
    pub run_at: DateTime<Utc>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Succeeded or died at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Enqueued.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl From<JobRow> for Job {
    fn from(row: JobRow) -> Self {
        Job {
            uuid: row.uuid,
            kind: row.kind,
            queue: row.queue,
            status: row.status,
            payload: row.payload.0,
            attempts: row.attempts,
            max_attempts: row.max_attempts,
            run_at: row.run_at,
            last_error: row.last_error,
            finished_at: row.finished_at,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Lists jobs (e.g. dead letters), newest first.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    queue: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<Job>, i64), ServiceError> {
    let (rows, total) = repo::list(db, status, queue, page).await?;
    Ok((rows.into_iter().map(Job::from).collect(), total))
}

/// One job.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Job, ServiceError> {
    repo::get(db, uuid).await?.map(Job::from).ok_or_else(|| ServiceError::NotFound("Job not found.".into()))
}

/// Re-queues a dead letter with a fresh set of attempts.
pub async fn retry_dead(db: &Db, uuid: Uuid) -> Result<Job, ServiceError> {
    if let Some(row) = repo::retry_dead(db, uuid).await? {
        return Ok(row.into());
    }
    let job = get(db, uuid).await?;
    Err(ServiceError::Rejected {
        status: 409,
        code: "JOB_NOT_DEAD",
        message: format!("Only dead jobs can be retried; this job is '{}'.", job.status),
    })
}

/// Handler of [`PRUNE_FINISHED_JOBS`].
pub struct PruneFinishedJobs {
    /// How long succeeded jobs are kept.
    pub retention: Duration,
}

#[async_trait::async_trait]
impl JobHandler for PruneFinishedJobs {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let before = calseta_store::now() - chrono::Duration::from_std(self.retention).unwrap_or_default();
        let removed = repo::prune_succeeded(ctx.db(), before).await.map_err(JobFailure::retryable)?;
        tracing::info!(removed, "pruned finished jobs");
        Ok(())
    }
}

/// Enqueues a prune unless one is already waiting (called periodically by workers).
pub async fn schedule_prune(db: &Db) -> Result<(), ServiceError> {
    if repo::has_pending(db, PRUNE_FINISHED_JOBS.name).await? {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    enqueue(&mut tx, &PRUNE_FINISHED_JOBS, Value::Object(Default::default()), Duration::ZERO).await?;
    tx.commit().await?;
    Ok(())
}
