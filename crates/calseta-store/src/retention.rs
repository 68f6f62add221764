//! Retention: deleting what an operator chose not to keep — closed alerts (with their activity,
//! indicator links and agent runs), activity events, agent runs, dead letters. `Db::reclaim_space` then gives
//! SQLite's freed pages back to the file system.

use chrono::{DateTime, Utc};

use crate::{Db, StoreError};

/// What to delete; `None` keeps everything of that kind.
#[derive(Debug, Clone, Copy, Default)]
pub struct Retention {
    /// Alerts closed before this.
    pub closed_alerts_before: Option<DateTime<Utc>>,
    /// Activity events recorded before this.
    pub activity_before: Option<DateTime<Utc>>,
    /// Agent delivery attempts made before this.
    pub agent_runs_before: Option<DateTime<Utc>>,
    /// Dead letters that died before this.
    pub dead_jobs_before: Option<DateTime<Utc>>,
}

/// How many rows were deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Removed {
    /// Closed alerts.
    pub alerts: u64,
    /// Activity events (of those alerts, or older than the limit).
    pub activity: u64,
    /// Agent runs older than the limit (runs of deleted alerts go with them).
    pub agent_runs: u64,
    /// Dead letters.
    pub dead_jobs: u64,
}

/// Deletes what `retention` names, in one transaction.
pub async fn apply(db: &Db, retention: &Retention) -> Result<Removed, StoreError> {
    let mut removed = Removed::default();
    let mut tx = db.begin().await?;
    if let Some(before) = retention.closed_alerts_before {
        let closed = "SELECT id FROM alerts WHERE status = 'Closed' AND closed_at < $1";
        let sql = format!("DELETE FROM activity_events WHERE alert_id IN ({closed})");
        removed.activity +=
            on_tx!(tx, c => sqlx::query(&sql).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
        // Indicator links and agent runs go with their alert (ON DELETE CASCADE).
        let sql = "DELETE FROM alerts WHERE status = 'Closed' AND closed_at < $1";
        removed.alerts +=
            on_tx!(tx, c => sqlx::query(sql).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
    }
    if let Some(before) = retention.activity_before {
        let sql = "DELETE FROM activity_events WHERE created_at < $1";
        removed.activity +=
            on_tx!(tx, c => sqlx::query(sql).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
    }
    if let Some(before) = retention.agent_runs_before {
        let sql = "DELETE FROM agent_runs WHERE created_at < $1";
        removed.agent_runs +=
            on_tx!(tx, c => sqlx::query(sql).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
    }
    if let Some(before) = retention.dead_jobs_before {
        let sql = "DELETE FROM jobs WHERE status = 'dead' AND finished_at < $1";
        removed.dead_jobs +=
            on_tx!(tx, c => sqlx::query(sql).bind(before).execute(c).await.map(|r| r.rows_affected()))?;
    }
    tx.commit().await?;
    Ok(removed)
}
