//! Periodic maintenance of the jobs table: pruning succeeded jobs past their retention, run as an
//! ordinary job kind that every worker schedules once per period.

use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_store::Db;
use calseta_store::jobs as repo;
use serde_json::Value;

use crate::{JobContext, JobError, JobFailure, JobHandler, JobKind};

/// Deletes succeeded jobs past their retention.
pub const PRUNE_FINISHED_JOBS: JobKind = JobKind {
    name: "prune_finished_jobs",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// How often workers schedule [`PRUNE_FINISHED_JOBS`].
pub const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Handler of [`PRUNE_FINISHED_JOBS`].
pub struct PruneFinishedJobs {
    /// How long succeeded jobs are kept.
    pub retention: Duration,
}

#[async_trait::async_trait]
impl JobHandler for PruneFinishedJobs {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let before = calseta_store::now() - chrono::Duration::from_std(self.retention).unwrap_or_default();
        let removed = repo::prune_succeeded(ctx.db(), before).await?;
        tracing::info!(removed, "pruned finished jobs");
        Ok(())
    }
}

/// Queues one job of `kind` unless one is already queued or running.
pub async fn schedule_once(db: &Db, kind: &JobKind) -> Result<(), JobError> {
    if repo::has_pending(db, kind.name).await? {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    crate::enqueue(&mut tx, kind, Value::Object(Default::default()), Duration::ZERO).await?;
    tx.commit().await?;
    Ok(())
}
