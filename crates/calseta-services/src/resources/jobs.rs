//! Jobs as administrators see them: listing (e.g. dead letters), reading one, counting them per
//! kind and status, and retrying a dead letter — the job runtime's admin functions in the service
//! layer's terms.

use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_jobs::{Job, admin};
use calseta_store::Db;
pub use calseta_store::jobs::KindCount;
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

/// Job counts per kind and status, kinds in name order (succeeded jobs count until pruned).
pub async fn counts_by_kind(db: &Db) -> Result<Vec<KindCount>, ServiceError> {
    Ok(calseta_store::jobs::counts_by_kind(db).await?)
}

/// Re-queues a dead letter with a fresh set of attempts.
pub async fn retry_dead(db: &Db, uuid: Uuid) -> Result<Job, ServiceError> {
    Ok(admin::retry_dead(db, uuid).await?)
}

impl crate::Services {
    /// Lists jobs, newest first (see [`list`]).
    pub async fn jobs(
        &self,
        status: Option<JobStatus>,
        queue: Option<&str>,
        page: PageRequest,
    ) -> Result<(Vec<Job>, i64), ServiceError> {
        list(&self.db, status, queue, page).await
    }

    /// One job (see [`get`]).
    pub async fn job(&self, uuid: Uuid) -> Result<Job, ServiceError> {
        get(&self.db, uuid).await
    }

    /// Job counts per kind and status (see [`counts_by_kind`]).
    pub async fn job_counts_by_kind(&self) -> Result<Vec<KindCount>, ServiceError> {
        counts_by_kind(&self.db).await
    }

    /// Re-queues a dead letter (see [`retry_dead`]).
    pub async fn retry_job(&self, uuid: Uuid) -> Result<Job, ServiceError> {
        retry_dead(&self.db, uuid).await
    }
}
