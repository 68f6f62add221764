//! SOC metrics as aggregate queries: alert counts, MTTD/MTTA/MTTT/MTTC and time to enrich, false
//! and true positive rates, enrichment coverage, daily series and top lists — each a few grouped
//! queries over a `created_at` window, written once for both engines (only the epoch and day
//! expressions differ).

use calseta_core::alerts::{AlertStatus, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::engine::Engine;
use crate::{Db, StoreError};

/// Statuses of alerts still being worked.
pub const ACTIVE_STATUSES: [AlertStatus; 3] =
    [AlertStatus::Open, AlertStatus::Triaging, AlertStatus::Escalated];

/// Seconds since the epoch of a timestamp column, as a float.
fn epoch(engine: Engine, column: &str) -> String {
    match engine {
        Engine::Sqlite => format!("((julianday({column}) - 2440587.5) * 86400.0)"),
        Engine::Postgres => format!("EXTRACT(EPOCH FROM {column})::float8"),
    }
}

/// The UTC day (`YYYY-MM-DD`) of a timestamp column.
fn day(engine: Engine, column: &str) -> String {
    match engine {
        // Stored as RFC 3339 text in UTC: the date is its first ten characters.
        Engine::Sqlite => format!("substr({column}, 1, 10)"),
        Engine::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
    }
}

/// The mean of `later − earlier` in seconds, over rows where both are set.
fn mean_between(engine: Engine, later: &str, earlier: &str) -> String {
    format!(
        "AVG(CASE WHEN {later} IS NOT NULL AND {earlier} IS NOT NULL THEN {} - {} END)",
        epoch(engine, later),
        epoch(engine, earlier)
    )
}

/// Counts of alerts by (status, severity, source), the base of every breakdown.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AlertGroup {
    /// Status.
    #[sqlx(try_from = "String")]
    pub status: AlertStatus,
    /// Severity.
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    /// Source.
    pub source_name: String,
    /// How many.
    #[sqlx(rename = "n")]
    pub count: i64,
}

/// The one-row aggregates of a window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertAggregates {
    /// Closed alerts.
    pub closed: i64,
    /// Closed as `False Positive…`.
    pub false_positives: i64,
    /// Closed as `True Positive…`.
    pub true_positives: i64,
    /// Enriched alerts.
    pub enriched: i64,
    /// Mean enriched_at − ingested_at.
    pub mean_time_to_enrich: Option<f64>,
    /// Mean created_at − occurred_at (MTTD).
    pub mean_time_to_detect: Option<f64>,
    /// Mean acknowledged_at − created_at (MTTA).
    pub mean_time_to_acknowledge: Option<f64>,
    /// Mean triaged_at − created_at (MTTT).
    pub mean_time_to_triage: Option<f64>,
    /// Mean closed_at − created_at (MTTC).
    pub mean_time_to_conclusion: Option<f64>,
}

/// A count per UTC day, ascending, days with data only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub date: String,
    /// How many.
    pub count: i64,
}

/// A named thing and how often it occurred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ranked {
    /// Its public id.
    pub uuid: uuid::Uuid,
    /// Its name.
    pub name: String,
    /// How many.
    pub count: i64,
}

/// Which alerts: a window on `created_at`, optionally of one detection rule.
#[derive(Debug, Clone, Copy)]
pub struct AlertWindow {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// Only this rule's alerts.
    pub detection_rule_id: Option<i64>,
}

impl AlertWindow {
    fn filter(&self) -> &'static str {
        if self.detection_rule_id.is_some() {
            "a.created_at >= $1 AND a.created_at < $2 AND a.detection_rule_id = $3"
        } else {
            // The third parameter is bound either way (0 here), so both forms bind alike.
            "a.created_at >= $1 AND a.created_at < $2 AND $3 = 0"
        }
    }
}

macro_rules! bound {
    ($query:expr, $window:expr) => {
        $query.bind($window.from).bind($window.to).bind($window.detection_rule_id.unwrap_or(0))
    };
}

/// Alerts grouped by status, severity and source.
pub async fn alert_groups(db: &Db, window: &AlertWindow) -> Result<Vec<AlertGroup>, StoreError> {
    let sql = format!(
        "SELECT a.status, a.severity, a.source_name, COUNT(*) AS n FROM alerts a WHERE {} \
         GROUP BY a.status, a.severity, a.source_name",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query_as::<_, AlertGroup>(&sql), window).fetch_all(p).await)?;
    Ok(rows)
}

/// The window's one-row aggregates.
pub async fn alert_aggregates(db: &Db, window: &AlertWindow) -> Result<AlertAggregates, StoreError> {
    let engine = db.engine();
    let truthy = match engine {
        Engine::Sqlite => "a.is_enriched = 1",
        Engine::Postgres => "a.is_enriched",
    };
    let sql = format!(
        "SELECT \
           COALESCE(SUM(CASE WHEN a.status = 'Closed' THEN 1 ELSE 0 END), 0) AS closed, \
           COALESCE(SUM(CASE WHEN a.status = 'Closed' AND a.close_classification LIKE 'False Positive%' THEN 1 ELSE 0 END), 0) AS fp, \
           COALESCE(SUM(CASE WHEN a.status = 'Closed' AND a.close_classification LIKE 'True Positive%' THEN 1 ELSE 0 END), 0) AS tp, \
           COALESCE(SUM(CASE WHEN {truthy} THEN 1 ELSE 0 END), 0) AS enriched, \
           AVG(CASE WHEN {truthy} AND a.enriched_at IS NOT NULL THEN {} - {} END) AS mtte, \
           {} AS mttd, {} AS mtta, {} AS mttt, {} AS mttc \
         FROM alerts a WHERE {}",
        epoch(engine, "a.enriched_at"),
        epoch(engine, "a.ingested_at"),
        mean_between(engine, "a.created_at", "a.occurred_at"),
        mean_between(engine, "a.acknowledged_at", "a.created_at"),
        mean_between(engine, "a.triaged_at", "a.created_at"),
        mean_between(engine, "a.closed_at", "a.created_at"),
        window.filter()
    );
    let row = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_one(p).await.map(|r| {
        AlertAggregates {
            closed: r.get("closed"),
            false_positives: r.get("fp"),
            true_positives: r.get("tp"),
            enriched: r.get("enriched"),
            mean_time_to_enrich: r.get("mtte"),
            mean_time_to_detect: r.get("mttd"),
            mean_time_to_acknowledge: r.get("mtta"),
            mean_time_to_triage: r.get("mttt"),
            mean_time_to_conclusion: r.get("mttc"),
        }
    }))?;
    Ok(row)
}

/// Alerts per UTC day of `created_at` (only false-positive closes with `false_positives`).
pub async fn alerts_per_day(
    db: &Db,
    window: &AlertWindow,
    false_positives: bool,
) -> Result<Vec<DayCount>, StoreError> {
    let engine = db.engine();
    let only = if false_positives {
        " AND a.status = 'Closed' AND a.close_classification LIKE 'False Positive%'"
    } else {
        ""
    };
    let bucket = day(engine, "a.created_at");
    let sql = format!(
        "SELECT {bucket} AS d, COUNT(*) AS n FROM alerts a WHERE {}{only} GROUP BY {bucket} ORDER BY {bucket}",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| DayCount { date: r.get("d"), count: r.get("n") }).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// The ten detection rules with the most alerts in the window.
pub async fn top_detection_rules(db: &Db, window: &AlertWindow) -> Result<Vec<Ranked>, StoreError> {
    let sql = format!(
        "SELECT r.uuid, r.name, COUNT(*) AS n FROM alerts a JOIN detection_rules r ON r.id = a.detection_rule_id \
         WHERE {} GROUP BY r.id, r.uuid, r.name ORDER BY n DESC, r.name LIMIT 10",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| Ranked { uuid: r.get("uuid"), name: r.get("name"), count: r.get("n") }).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// Closed alerts per close classification.
pub async fn close_classifications(db: &Db, window: &AlertWindow) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = format!(
        "SELECT a.close_classification AS c, COUNT(*) AS n FROM alerts a WHERE {} AND a.status = 'Closed' \
         AND a.close_classification IS NOT NULL GROUP BY a.close_classification ORDER BY a.close_classification",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| (r.get::<String, _>("c"), r.get::<i64, _>("n"))).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// An indicator and how many of the window's alerts it is linked to.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TopIndicator {
    /// Type.
    #[sqlx(rename = "t", try_from = "String")]
    pub kind: IndicatorType,
    /// Value.
    #[sqlx(rename = "v")]
    pub value: String,
    /// Linked alerts.
    #[sqlx(rename = "n")]
    pub count: i64,
    /// Verdict.
    #[sqlx(rename = "m", try_from = "String")]
    pub malice: Malice,
}

/// The ten indicators linked to the most alerts of the window.
pub async fn top_indicators(db: &Db, window: &AlertWindow) -> Result<Vec<TopIndicator>, StoreError> {
    let sql = format!(
        "SELECT i.type AS t, i.value AS v, i.malice AS m, COUNT(*) AS n FROM alerts a \
         JOIN alert_indicators ai ON ai.alert_id = a.id JOIN indicators i ON i.id = ai.indicator_id \
         WHERE {} GROUP BY i.id, i.type, i.value, i.malice ORDER BY n DESC, i.value LIMIT 10",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query_as::<_, TopIndicator>(&sql), window).fetch_all(p).await)?;
    Ok(rows)
}

/// Workflow runs in a window on `workflow_runs.created_at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunAggregates {
    /// Runs.
    pub runs: i64,
    /// Successful runs.
    pub successes: i64,
    /// Σ of the workflows' `time_saved_minutes` over successful runs.
    pub minutes_saved: i64,
}

/// The window's run aggregates.
pub async fn run_aggregates(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<RunAggregates, StoreError> {
    let sql = "SELECT COUNT(*) AS runs, \
               COALESCE(SUM(CASE WHEN r.status = 'success' THEN 1 ELSE 0 END), 0) AS ok, \
               COALESCE(SUM(CASE WHEN r.status = 'success' THEN COALESCE(w.time_saved_minutes, 0) ELSE 0 END), 0) AS saved \
               FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id \
               WHERE r.created_at >= $1 AND r.created_at < $2";
    let row = on_pool!(db.read_pool(), p => sqlx::query(sql).bind(from).bind(to).fetch_one(p).await.map(|r| {
        RunAggregates { runs: r.get("runs"), successes: r.get("ok"), minutes_saved: r.get("saved") }
    }))?;
    Ok(row)
}

/// Runs per UTC day.
pub async fn runs_per_day(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<DayCount>, StoreError> {
    let bucket = day(db.engine(), "r.created_at");
    let sql = format!(
        "SELECT {bucket} AS d, COUNT(*) AS n FROM workflow_runs r WHERE r.created_at >= $1 AND r.created_at < $2 \
         GROUP BY {bucket} ORDER BY {bucket}"
    );
    let rows = on_pool!(db.read_pool(), p => sqlx::query(&sql).bind(from).bind(to).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| DayCount { date: r.get("d"), count: r.get("n") }).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// The ten workflows run most in the window.
pub async fn most_executed(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Ranked>, StoreError> {
    let sql = "SELECT w.uuid, w.name, COUNT(*) AS n FROM workflow_runs r JOIN workflows w ON w.id = r.workflow_id \
               WHERE r.created_at >= $1 AND r.created_at < $2 GROUP BY w.id, w.uuid, w.name ORDER BY n DESC, w.name LIMIT 10";
    let rows = on_pool!(db.read_pool(), p => sqlx::query(sql).bind(from).bind(to).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| Ranked { uuid: r.get("uuid"), name: r.get("name"), count: r.get("n") }).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// Configured workflows by type (`unset` when none), any state.
pub async fn workflows_by_type(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = "SELECT COALESCE(workflow_type, 'unset') AS t, COUNT(*) AS n FROM workflows GROUP BY COALESCE(workflow_type, 'unset') ORDER BY t";
    let rows = on_pool!(db.read_pool(), p => sqlx::query(sql).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| (r.get::<String, _>("t"), r.get::<i64, _>("n"))).collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// How much of the platform is configured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PlatformCounts {
    /// Context documents.
    pub context_documents: i64,
    /// Detection rules.
    pub detection_rules: i64,
    /// Active enrichment providers.
    pub active_providers: i64,
    /// Active agents.
    pub active_agents: i64,
    /// Workflows, any state.
    pub workflows: i64,
    /// Workflows in state `active`.
    pub active_workflows: i64,
    /// Indicator mappings.
    pub indicator_mappings: i64,
}

/// The platform's counts, in one query.
pub async fn platform_counts(db: &Db) -> Result<PlatformCounts, StoreError> {
    let sql = "SELECT (SELECT COUNT(*) FROM context_documents) AS docs, (SELECT COUNT(*) FROM detection_rules) AS rules, \
               (SELECT COUNT(*) FROM enrichment_providers WHERE is_active) AS providers, \
               (SELECT COUNT(*) FROM agent_registrations WHERE is_active) AS agents, \
               (SELECT COUNT(*) FROM workflows) AS workflows, \
               (SELECT COUNT(*) FROM workflows WHERE state = 'active') AS active_workflows, \
               (SELECT COUNT(*) FROM indicator_field_mappings) AS mappings";
    let counts = on_pool!(db.read_pool(), p => sqlx::query(sql).fetch_one(p).await.map(|r| PlatformCounts {
        context_documents: r.get("docs"),
        detection_rules: r.get("rules"),
        active_providers: r.get("providers"),
        active_agents: r.get("agents"),
        workflows: r.get("workflows"),
        active_workflows: r.get("active_workflows"),
        indicator_mappings: r.get("mappings"),
    }))?;
    Ok(counts)
}

/// The indicator types each active provider supports (one list per provider).
pub async fn active_provider_types(db: &Db) -> Result<Vec<Vec<String>>, StoreError> {
    let sql = "SELECT supported_indicator_types AS t FROM enrichment_providers WHERE is_active";
    let rows = on_pool!(db.read_pool(), p => sqlx::query(sql).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| r.get::<sqlx::types::Json<Vec<String>>, _>("t").0)
            .collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// Approval requests: pending now, and the decisions of a window on `created_at`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ApprovalStats {
    /// Pending (stored status, any age).
    pub pending: i64,
    /// Approved, of the window.
    pub approved: i64,
    /// Rejected, of the window.
    pub rejected: i64,
    /// Seconds from request to decision of the window's approved and rejected requests, sorted.
    pub response_seconds: Vec<f64>,
}

/// Approval requests pending now (stored status, any age).
pub async fn approvals_pending(db: &Db) -> Result<i64, StoreError> {
    let sql = "SELECT COUNT(*) FROM workflow_approval_requests WHERE status = 'pending'";
    Ok(on_pool!(db.read_pool(), p => sqlx::query_scalar(sql).fetch_one(p).await)?)
}

/// The window's approval figures.
pub async fn approval_stats(
    db: &Db,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<ApprovalStats, StoreError> {
    let counts = "SELECT COALESCE(SUM(CASE WHEN status = 'approved' THEN 1 ELSE 0 END), 0) AS approved, \
                  COALESCE(SUM(CASE WHEN status = 'rejected' THEN 1 ELSE 0 END), 0) AS rejected \
                  FROM workflow_approval_requests WHERE created_at >= $1 AND created_at < $2";
    let engine = db.engine();
    let durations = format!(
        "SELECT {} - {} AS s FROM workflow_approval_requests WHERE created_at >= $1 AND created_at < $2 \
         AND status IN ('approved', 'rejected') AND responded_at IS NOT NULL ORDER BY 1 LIMIT 100000",
        epoch(engine, "responded_at"),
        epoch(engine, "created_at")
    );
    let (approved, rejected) = on_pool!(db.read_pool(), p => sqlx::query(counts).bind(from).bind(to).fetch_one(p).await
        .map(|r| (r.get::<i64, _>("approved"), r.get::<i64, _>("rejected"))))?;
    let pending = approvals_pending(db).await?;
    let response_seconds = on_pool!(db.read_pool(), p => sqlx::query(&durations).bind(from).bind(to).fetch_all(p).await
        .map(|rows| rows.iter().map(|r| r.get::<f64, _>("s")).collect::<Vec<_>>()))?;
    Ok(ApprovalStats { pending, approved, rejected, response_seconds })
}

/// One job queue's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Jobs waiting.
    pub pending: i64,
    /// Jobs running.
    pub in_progress: i64,
    /// Jobs that succeeded since the window's start (succeeded jobs are kept `JOB_RETENTION_HOURS`).
    pub succeeded: i64,
    /// Dead letters since the window's start.
    pub failed: i64,
    /// Mean seconds from due to finished of those that succeeded.
    pub avg_duration_seconds: Option<f64>,
    /// When the oldest waiting job became due.
    pub oldest_pending: Option<DateTime<Utc>>,
}

/// The job queues' figures, finished jobs counted since `since`.
pub async fn queue_stats(db: &Db, since: DateTime<Utc>) -> Result<Vec<QueueStats>, StoreError> {
    let engine = db.engine();
    let sql = format!(
        "SELECT queue, \
           COALESCE(SUM(CASE WHEN status = 'queued' THEN 1 ELSE 0 END), 0) AS pending, \
           COALESCE(SUM(CASE WHEN status = 'running' THEN 1 ELSE 0 END), 0) AS running, \
           COALESCE(SUM(CASE WHEN status = 'succeeded' AND finished_at >= $1 THEN 1 ELSE 0 END), 0) AS succeeded, \
           COALESCE(SUM(CASE WHEN status = 'dead' AND finished_at >= $1 THEN 1 ELSE 0 END), 0) AS failed, \
           AVG(CASE WHEN status = 'succeeded' AND finished_at >= $1 THEN {} - {} END) AS duration, \
           MIN(CASE WHEN status = 'queued' THEN run_at END) AS oldest \
         FROM jobs GROUP BY queue ORDER BY queue",
        epoch(engine, "finished_at"),
        epoch(engine, "run_at")
    );
    let rows = on_pool!(db.read_pool(), p => sqlx::query(&sql).bind(since).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| QueueStats {
                queue: r.get("queue"),
                pending: r.get("pending"),
                in_progress: r.get("running"),
                succeeded: r.get("succeeded"),
                failed: r.get("failed"),
                avg_duration_seconds: r.get("duration"),
                oldest_pending: r.get("oldest"),
            })
            .collect::<Vec<_>>()
    }))?;
    Ok(rows)
}

/// Jobs by (queue, status), now.
pub async fn jobs_by_queue_and_status(db: &Db) -> Result<Vec<(String, String, i64)>, StoreError> {
    let sql = "SELECT queue, status, COUNT(*) AS n FROM jobs GROUP BY queue, status ORDER BY queue, status";
    Ok(on_pool!(db.read_pool(), p => sqlx::query(sql).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| (r.get("queue"), r.get("status"), r.get("n"))).collect::<Vec<_>>()
    }))?)
}

/// Workflow runs by status, all time.
pub async fn runs_by_status(db: &Db) -> Result<Vec<(String, i64)>, StoreError> {
    let sql = "SELECT status, COUNT(*) AS n FROM workflow_runs GROUP BY status ORDER BY status";
    Ok(on_pool!(db.read_pool(), p => sqlx::query(sql).fetch_all(p).await.map(|rows| {
        rows.iter().map(|r| (r.get("status"), r.get("n"))).collect::<Vec<_>>()
    }))?)
}

/// How finely a series is bucketed: by UTC hour, day or month of `created_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// `YYYY-MM-DDTHH`.
    Hour,
    /// `YYYY-MM-DD`.
    Day,
    /// `YYYY-MM`.
    Month,
}

/// The bucket key of a timestamp column (`YYYY-MM-DDTHH`, `YYYY-MM-DD` or `YYYY-MM`, UTC).
fn bucket_key(engine: Engine, bucket: Bucket, column: &str) -> String {
    match (engine, bucket) {
        (_, Bucket::Day) => day(engine, column),
        // Stored as RFC 3339 text in UTC: the hour is in the first 13 characters (the separator
        // is normalised to `T`, whichever the encoder wrote).
        (Engine::Sqlite, Bucket::Hour) => {
            format!("(substr({column}, 1, 10) || 'T' || substr({column}, 12, 2))")
        }
        (Engine::Sqlite, Bucket::Month) => format!("substr({column}, 1, 7)"),
        (Engine::Postgres, Bucket::Hour) => {
            format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')")
        }
        (Engine::Postgres, Bucket::Month) => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM')"),
    }
}

/// A count per (bucket, severity), only buckets with data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeverityCount {
    /// The bucket key (see [`Bucket`]).
    pub bucket: String,
    /// Severity.
    pub severity: Severity,
    /// How many.
    pub count: i64,
}

/// Alerts per bucket of `created_at` and severity.
pub async fn alerts_per_bucket_and_severity(
    db: &Db,
    window: &AlertWindow,
    bucket: Bucket,
) -> Result<Vec<SeverityCount>, StoreError> {
    let key = bucket_key(db.engine(), bucket, "a.created_at");
    let sql = format!(
        "SELECT {key} AS b, a.severity AS s, COUNT(*) AS n FROM alerts a WHERE {} GROUP BY {key}, a.severity ORDER BY 1",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| (r.get::<String, _>("b"), r.get::<String, _>("s"), r.get::<i64, _>("n")))
            .collect::<Vec<_>>()
    }))?;
    rows.into_iter()
        .map(|(bucket, severity, count)| {
            Ok(SeverityCount { bucket, severity: Severity::try_from(severity)?, count })
        })
        .collect()
}

/// Alerts by verdict: an analyst's override, else the worst verdict of the alert's indicators,
/// else `Pending` — as the alert read models compute it, here in SQL.
pub async fn alerts_by_malice(db: &Db, window: &AlertWindow) -> Result<Vec<(Malice, i64)>, StoreError> {
    // The verdicts ranked by priority, from the enum (no verdict spelled here).
    let rank = Malice::ALL
        .iter()
        .map(|m| format!("WHEN '{}' THEN {}", m.as_str(), m.priority()))
        .collect::<Vec<_>>()
        .join(" ");
    let sql = format!(
        "SELECT x.o AS o, x.p AS p, COUNT(*) AS n FROM (SELECT a.malice_override AS o, \
           (SELECT CAST(MAX(CASE i.malice {rank} ELSE 0 END) AS BIGINT) FROM alert_indicators ai \
            JOIN indicators i ON i.id = ai.indicator_id WHERE ai.alert_id = a.id) AS p \
         FROM alerts a WHERE {}) x GROUP BY x.o, x.p",
        window.filter()
    );
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| (r.get::<Option<String>, _>("o"), r.get::<Option<i64>, _>("p"), r.get::<i64, _>("n")))
            .collect::<Vec<_>>()
    }))?;
    let mut counts: Vec<(Malice, i64)> = Vec::new();
    for (overridden, priority, n) in rows {
        let malice = match overridden.as_deref().map(Malice::parse) {
            Some(Ok(m)) => m,
            _ => Malice::ALL
                .iter()
                .copied()
                .find(|m| Some(i64::from(m.priority())) == priority)
                .unwrap_or(Malice::Pending),
        };
        match counts.iter_mut().find(|(m, _)| *m == malice) {
            Some((_, total)) => *total += n,
            None => counts.push((malice, n)),
        }
    }
    counts.sort_by_key(|(m, _)| std::cmp::Reverse(m.priority()));
    Ok(counts)
}

/// One provider's stored results, by how they are stored (`status`, else `success`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProviderStatusCount {
    /// The provider (the key in `enrichment_results`).
    pub provider: String,
    /// The stored `status` when it is a string.
    pub status: Option<String>,
    /// Whether the stored `success` is `true`.
    pub success: bool,
    /// How many indicators hold such a result.
    pub count: i64,
}

/// The stored provider results of the indicators linked to the window's alerts (each indicator
/// once), grouped by provider, `status` and `success`: the JSON is taken apart in the database so
/// that raw provider answers are never read out.
pub async fn provider_results(db: &Db, window: &AlertWindow) -> Result<Vec<ProviderStatusCount>, StoreError> {
    let linked = format!(
        "SELECT DISTINCT i.id, i.enrichment_results AS r FROM alerts a \
         JOIN alert_indicators ai ON ai.alert_id = a.id JOIN indicators i ON i.id = ai.indicator_id \
         WHERE {} AND i.enrichment_results IS NOT NULL",
        window.filter()
    );
    let sql = match db.engine() {
        Engine::Sqlite => format!(
            "SELECT j.key AS k, \
               CASE WHEN json_type(j.value, '$.status') = 'text' THEN json_extract(j.value, '$.status') END AS s, \
               CASE WHEN json_type(j.value, '$.success') = 'true' THEN 1 ELSE 0 END AS ok, COUNT(*) AS n \
             FROM ({linked}) x, json_each(CASE WHEN json_type(x.r) = 'object' THEN x.r ELSE '{{}}' END) j \
             GROUP BY 1, 2, 3 ORDER BY 1"
        ),
        Engine::Postgres => format!(
            "SELECT j.key AS k, \
               CASE WHEN jsonb_typeof(j.value -> 'status') = 'string' THEN j.value ->> 'status' END AS s, \
               CASE WHEN j.value -> 'success' = 'true'::jsonb THEN 1 ELSE 0 END AS ok, COUNT(*) AS n \
             FROM ({linked}) x CROSS JOIN LATERAL \
               jsonb_each(CASE WHEN jsonb_typeof(x.r) = 'object' THEN x.r ELSE '{{}}'::jsonb END) j \
             GROUP BY 1, 2, 3 ORDER BY 1"
        ),
    };
    let rows = on_pool!(db.read_pool(), p => bound!(sqlx::query(&sql), window).fetch_all(p).await.map(|rows| {
        rows.iter()
            .map(|r| ProviderStatusCount {
                provider: r.get("k"),
                status: r.get("s"),
                success: r.get::<i32, _>("ok") == 1,
                count: r.get("n"),
            })
            .collect::<Vec<_>>()
    }))?;
    Ok(rows)
}
