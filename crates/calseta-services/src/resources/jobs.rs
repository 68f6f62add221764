//! Jobs as administrators see them: listing (e.g. dead letters), reading one, and retrying a dead
//! letter — the job runtime's admin functions in the service layer's terms.

use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_jobs::{Job, admin};
use calseta_store::Db;
use uuid::Uuid;

use crate::ServiceError;

/// Lists jobs, newest first.
pub async fn list(
    db: &Db,
    status: Option<JobStatus>,
    queue: Option<&str>,
    page: PageRequest,
) -> Result<(Vec<Job>, i64), ServiceError> {
    Ok(admin::list(db, status, queue, page).await?)
}

/// One job.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Job, ServiceError> {
    Ok(admin::get(db, uuid).await?)
}

/// Re-queues a dead letter with a fresh set of attempts.
pub async fn retry_dead(db: &Db, uuid: Uuid) -> Result<Job, ServiceError> {
    Ok(admin::retry_dead(db, uuid).await?)
}
