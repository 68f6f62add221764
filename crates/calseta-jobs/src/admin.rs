//! Job administration: listing jobs (e.g. dead letters), reading one, and retrying a dead letter.

use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_store::Db;
use calseta_store::jobs::{self as repo, JobRow};
use chrono::{DateTime, Utc};
use serde_json::Value;
use uuid::Uuid;

use crate::JobError;

/// A job as administrators see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Public id.
    pub uuid: Uuid,
    /// Handler name.
    pub kind: String,
    /// Queue.
    pub queue: String,
    /// Status.
    pub status: JobStatus,
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

/// Lists jobs, newest first.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    queue: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<Job>, i64), JobError> {
    let (rows, total) = repo::list(db, status, queue, page).await?;
    Ok((rows.into_iter().map(Job::from).collect(), total))
}

/// One job.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Job, JobError> {
    repo::get(db, uuid).await?.map(Job::from).ok_or(JobError::NotFound)
}

/// Re-queues a dead letter with a fresh set of attempts.
pub async fn retry_dead(db: &Db, uuid: Uuid) -> Result<Job, JobError> {
    if let Some(row) = repo::retry_dead(db, uuid).await? {
        return Ok(row.into());
    }
    let job = get(db, uuid).await?;
    Err(JobError::NotDead { status: job.status })
}
