//! Retention (off by default): the periodic `apply_retention` job deletes closed alerts, activity
//! events, agent runs and dead letters older than the configured number of days, then gives SQLite's freed pages
//! back to the file system.

use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_jobs::{JobContext, JobFailure, JobHandler, JobKind};
use calseta_store::retention::{self, Retention};

/// Deletes what the retention settings no longer keep (periodic, when any setting is on).
pub const APPLY_RETENTION: JobKind = JobKind {
    name: "apply_retention",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// How often workers schedule [`APPLY_RETENTION`].
pub const APPLY_RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// Days to keep each kind of record; 0 keeps it forever.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RetentionSettings {
    /// `RETENTION_CLOSED_ALERT_DAYS`: closed alerts, counted from `closed_at`, with their
    /// activity, indicator links and agent runs.
    pub closed_alert_days: u32,
    /// `RETENTION_ACTIVITY_DAYS`: activity events.
    pub activity_days: u32,
    /// `RETENTION_AGENT_RUN_DAYS`: agent delivery attempts.
    pub agent_run_days: u32,
    /// `RETENTION_DEAD_JOB_DAYS`: dead letters (succeeded jobs follow `JOB_RETENTION_HOURS`).
    pub dead_job_days: u32,
}

impl RetentionSettings {
    /// Whether anything is ever deleted.
    pub fn is_on(&self) -> bool {
        self.closed_alert_days > 0
            || self.activity_days > 0
            || self.agent_run_days > 0
            || self.dead_job_days > 0
    }

    /// The cut-offs as of now.
    fn cutoffs(&self) -> Retention {
        let before =
            |days: u32| (days > 0).then(|| calseta_store::now() - chrono::Duration::days(i64::from(days)));
        Retention {
            closed_alerts_before: before(self.closed_alert_days),
            activity_before: before(self.activity_days),
            agent_runs_before: before(self.agent_run_days),
            dead_jobs_before: before(self.dead_job_days),
        }
    }
}

/// Handler of [`APPLY_RETENTION`].
pub struct ApplyRetention {
    /// What to keep.
    pub settings: RetentionSettings,
}

#[async_trait::async_trait]
impl JobHandler for ApplyRetention {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let removed = retention::apply(ctx.db(), &self.settings.cutoffs()).await?;
        ctx.db().reclaim_space().await?;
        tracing::info!(
            alerts = removed.alerts,
            activity = removed.activity,
            agent_runs = removed.agent_runs,
            dead_jobs = removed.dead_jobs,
            "applied retention"
        );
        Ok(())
    }
}
