//! SOC metrics, as v1 defines them (reference §12.4–12.6): alert volumes and breakdowns, MTTD,
//! MTTA, MTTT, MTTC and time to enrich, false- and true-positive rates, enrichment coverage, daily
//! series and top lists, per window, per detection rule, and for workflow runs. Every figure comes
//! from a few aggregate queries (`calseta_store::metrics`), the same on both engines.

pub mod dashboard;

use std::collections::BTreeMap;

use calseta_store::metrics::{self as repo, ACTIVE_STATUSES, AlertWindow, DayCount};
use calseta_store::{Db, detection_rules};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{FieldError, ServiceError};

/// The window a metrics request covers: `[from, to)`; when either bound is missing, both are the
/// last 30 days (v1). `names` are the request's names of the two bounds, for the error.
pub fn window(
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    names: (&str, &str),
) -> Result<(DateTime<Utc>, DateTime<Utc>), ServiceError> {
    match (from, to) {
        (Some(from), Some(to)) if from >= to => Err(ServiceError::Invalid(vec![FieldError::query(
            names.0,
            format!("{} must be before {}", names.0, names.1),
        )])),
        (Some(from), Some(to)) => Ok((from, to)),
        _ => {
            let now = calseta_store::now();
            Ok((now - Duration::days(30), now))
        }
    }
}

fn ratio(part: i64, whole: i64) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
}

fn series(days: Vec<DayCount>) -> Value {
    Value::Array(days.into_iter().map(|d| json!({"date": d.date, "count": d.count})).collect())
}

fn counts<'a>(pairs: impl Iterator<Item = (&'a str, i64)>) -> Value {
    let mut map: BTreeMap<&str, i64> = BTreeMap::new();
    for (key, n) in pairs {
        *map.entry(key).or_default() += n;
    }
    Value::Object(map.into_iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<Map<_, _>>())
}

/// The metrics service.
pub struct SocMetrics {
    db: Db,
}

impl SocMetrics {
    /// Metrics over `db`.
    pub fn new(db: Db) -> Self {
        SocMetrics { db }
    }

    /// `GET /v1/metrics/alerts`.
    pub async fn alerts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Value, ServiceError> {
        let window = AlertWindow { from, to, detection_rule_id: None };
        let groups = repo::alert_groups(&self.db, &window).await?;
        let totals = repo::alert_aggregates(&self.db, &window).await?;
        let over_time = repo::alerts_per_day(&self.db, &window, false).await?;
        let top = repo::top_detection_rules(&self.db, &window).await?;
        let total: i64 = groups.iter().map(|g| g.count).sum();
        let active = groups.iter().filter(|g| ACTIVE_STATUSES.contains(&g.status));
        Ok(json!({
            "period_from": from, "period_to": to,
            "total_alerts": total,
            "alerts_by_status": counts(groups.iter().map(|g| (g.status.as_str(), g.count))),
            "alerts_by_severity": counts(groups.iter().map(|g| (g.severity.as_str(), g.count))),
            "alerts_by_source": counts(groups.iter().map(|g| (g.source_name.as_str(), g.count))),
            "alerts_over_time": series(over_time),
            "false_positive_rate": ratio(totals.false_positives, totals.closed),
            "mean_time_to_enrich": totals.mean_time_to_enrich,
            "mean_time_to_detect": totals.mean_time_to_detect,
            "mean_time_to_acknowledge": totals.mean_time_to_acknowledge,
            "mean_time_to_triage": totals.mean_time_to_triage,
            "mean_time_to_conclusion": totals.mean_time_to_conclusion,
            "active_alerts_by_severity": counts(active.map(|g| (g.severity.as_str(), g.count))),
            "top_detection_rules": top.into_iter().map(|r| json!({"uuid": r.uuid, "name": r.name, "count": r.count})).collect::<Vec<_>>(),
            "enrichment_coverage": ratio(totals.enriched, total),
        }))
    }

    /// `GET /v1/detection-rules/{uuid}/metrics`.
    pub async fn detection_rule(
        &self,
        uuid: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Value, ServiceError> {
        let rule = detection_rules::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Detection rule {uuid} not found")))?;
        let window = AlertWindow { from, to, detection_rule_id: Some(rule.id) };
        let groups = repo::alert_groups(&self.db, &window).await?;
        let totals = repo::alert_aggregates(&self.db, &window).await?;
        let total: i64 = groups.iter().map(|g| g.count).sum();
        let active: Vec<_> = groups.iter().filter(|g| ACTIVE_STATUSES.contains(&g.status)).collect();
        let classifications = repo::close_classifications(&self.db, &window).await?;
        Ok(json!({
            "detection_rule_uuid": rule.uuid, "detection_rule_name": rule.name,
            "period_from": from, "period_to": to,
            "total_alerts": total,
            "active_alerts": active.iter().map(|g| g.count).sum::<i64>(),
            "alerts_by_status": counts(groups.iter().map(|g| (g.status.as_str(), g.count))),
            "alerts_by_severity": counts(groups.iter().map(|g| (g.severity.as_str(), g.count))),
            "false_positive_rate": ratio(totals.false_positives, totals.closed),
            "true_positive_rate": ratio(totals.true_positives, totals.closed),
            "close_classifications": counts(classifications.iter().map(|(c, n)| (c.as_str(), *n))),
            "alerts_over_time": series(repo::alerts_per_day(&self.db, &window, false).await?),
            "fp_over_time": series(repo::alerts_per_day(&self.db, &window, true).await?),
            "mtta_seconds": totals.mean_time_to_acknowledge,
            "mttc_seconds": totals.mean_time_to_conclusion,
            "severity_distribution": counts(active.iter().map(|g| (g.severity.as_str(), g.count))),
            "top_indicators": repo::top_indicators(&self.db, &window).await?.into_iter()
                .map(|i| json!({"type": i.kind, "value": i.value, "count": i.count, "malice": i.malice}))
                .collect::<Vec<_>>(),
            "alert_sources": counts(groups.iter().map(|g| (g.source_name.as_str(), g.count))),
        }))
    }

    /// `GET /v1/metrics/workflows`.
    pub async fn workflows(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Value, ServiceError> {
        let by_type = repo::workflows_by_type(&self.db).await?;
        let runs = repo::run_aggregates(&self.db, from, to).await?;
        Ok(json!({
            "period_from": from, "period_to": to,
            "total_configured": by_type.iter().map(|(_, n)| n).sum::<i64>(),
            "workflows_by_type": counts(by_type.iter().map(|(t, n)| (t.as_str(), *n))),
            "workflow_run_count": runs.runs,
            "workflow_success_rate": ratio(runs.successes, runs.runs),
            "workflow_runs_over_time": series(repo::runs_per_day(&self.db, from, to).await?),
            "time_saved_hours": runs.minutes_saved as f64 / 60.0,
            "most_executed_workflows": repo::most_executed(&self.db, from, to).await?.into_iter()
                .map(|w| json!({"uuid": w.uuid, "name": w.name, "run_count": w.count}))
                .collect::<Vec<_>>(),
        }))
    }

    /// `GET /v1/metrics/summary`: the last 30 days at a glance — alerts, workflows, approvals, the
    /// platform's configuration and the job queues.
    pub async fn summary(&self) -> Result<Value, ServiceError> {
        let now = calseta_store::now();
        let from = now - Duration::days(30);
        let window = AlertWindow { from, to: now, detection_rule_id: None };
        let groups = repo::alert_groups(&self.db, &window).await?;
        let totals = repo::alert_aggregates(&self.db, &window).await?;
        let total: i64 = groups.iter().map(|g| g.count).sum();
        let active: Vec<_> = groups.iter().filter(|g| ACTIVE_STATUSES.contains(&g.status)).collect();
        let runs = repo::run_aggregates(&self.db, from, now).await?;
        let approvals = repo::approval_stats(&self.db, from, now).await?;
        let platform = repo::platform_counts(&self.db).await?;
        let mut by_type: BTreeMap<String, i64> = BTreeMap::new();
        for types in repo::active_provider_types(&self.db).await? {
            for t in types {
                *by_type.entry(t).or_default() += 1;
            }
        }
        // As v1: queue figures that cannot be read leave `queue` null, not the whole summary.
        let queues = match repo::queue_stats(&self.db, from).await {
            Ok(queues) => Some(queues),
            Err(e) => {
                tracing::warn!(error = %e, "queue figures unavailable for the metrics summary");
                None
            }
        };
        let age =
            |at: Option<DateTime<Utc>>| at.map(|at| ((now - at).num_milliseconds() as f64 / 1000.0).max(0.0));
        let queue = queues.map(|queues| {
            let oldest = queues.iter().filter_map(|q| q.oldest_pending).min();
            json!({
                "queues": queues.iter().map(|q| json!({
                    "queue": q.queue, "pending": q.pending, "in_progress": q.in_progress,
                    "succeeded_30d": q.succeeded, "failed_30d": q.failed,
                    "avg_duration_seconds": q.avg_duration_seconds, "oldest_pending_age_seconds": age(q.oldest_pending),
                })).collect::<Vec<_>>(),
                "total_pending": queues.iter().map(|q| q.pending).sum::<i64>(),
                "total_in_progress": queues.iter().map(|q| q.in_progress).sum::<i64>(),
                "total_failed_30d": queues.iter().map(|q| q.failed).sum::<i64>(),
                "total_succeeded_30d": queues.iter().map(|q| q.succeeded).sum::<i64>(),
                "oldest_pending_age_seconds": age(oldest),
            })
        });
        Ok(json!({
            "period": "last_30_days",
            "alerts": {
                "total": total,
                "active": active.iter().map(|g| g.count).sum::<i64>(),
                "by_severity": counts(active.iter().map(|g| (g.severity.as_str(), g.count))),
                "by_status": counts(groups.iter().map(|g| (g.status.as_str(), g.count))),
                "by_source": counts(groups.iter().map(|g| (g.source_name.as_str(), g.count))),
                "enrichment_coverage": ratio(totals.enriched, total),
                "mean_time_to_enrich_seconds": totals.mean_time_to_enrich,
                "false_positive_rate": ratio(totals.false_positives, totals.closed),
                "mttd_seconds": totals.mean_time_to_detect,
                "mtta_seconds": totals.mean_time_to_acknowledge,
                "mttt_seconds": totals.mean_time_to_triage,
                "mttc_seconds": totals.mean_time_to_conclusion,
            },
            "workflows": {
                "total_configured": platform.active_workflows,
                "executions": runs.runs,
                "success_rate": ratio(runs.successes, runs.runs),
                "estimated_time_saved_hours": runs.minutes_saved as f64 / 60.0,
            },
            "approvals": {
                "pending": approvals.pending,
                "approved_last_30_days": approvals.approved,
                "approval_rate": ratio(approvals.approved, approvals.approved + approvals.rejected),
                "median_response_time_minutes": median(&approvals.response_seconds).map(|s| s / 60.0),
            },
            "platform": {
                "context_documents": platform.context_documents,
                "detection_rules": platform.detection_rules,
                "enrichment_providers": platform.active_providers,
                "enrichment_providers_by_indicator_type": by_type,
                "agents": platform.active_agents,
                "workflows": platform.workflows,
                "indicator_mappings": platform.indicator_mappings,
            },
            "queue": queue,
        }))
    }
}

impl SocMetrics {
    /// This process's Prometheus exposition in `format`: what it recorded, and the database's
    /// figures now.
    pub async fn prometheus(
        &self,
        telemetry: &crate::platform::telemetry::Telemetry,
        format: crate::platform::telemetry::Format,
    ) -> Result<String, ServiceError> {
        use crate::pipeline::kinds;
        let (pool_size, pool_idle) = self.db.pool_stats();
        // Read before this scrape's own queries, so they count towards the next scrape.
        let db_work = self.db.work_done();
        let mut queues: Vec<String> = [
            kinds::ENRICH_ALERT,
            kinds::ENRICH_DEFERRED,
            kinds::PURGE_ENRICHMENT_CACHE,
            kinds::DISPATCH_ALERT,
            kinds::DELIVER_WEBHOOK,
            kinds::EXECUTE_WORKFLOW_RUN,
            kinds::NOTIFY_APPROVAL,
            kinds::EXPIRE_APPROVALS,
        ]
        .iter()
        .map(|kind| kind.queue.to_string())
        .collect();
        queues.sort();
        queues.dedup();
        let providers = calseta_store::enrichment_providers::active_credential_states(&self.db)
            .await?
            .into_iter()
            .map(|p| p.provider_name)
            .collect();
        let snapshot = crate::platform::telemetry::Snapshot {
            jobs: repo::jobs_by_queue_and_status(&self.db).await?,
            queues,
            workflow_runs: repo::runs_by_status(&self.db).await?,
            approvals_pending: repo::approvals_pending(&self.db).await?,
            pool_size: i64::from(pool_size),
            pool_idle: i64::try_from(pool_idle).unwrap_or(i64::MAX),
            providers,
            db_work,
        };
        Ok(telemetry.render(&snapshot, format))
    }
}

/// The median of sorted values (the mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted.get(n / 2 - 1).copied()? + sorted.get(n / 2).copied()?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::median;

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[1.0, 2.0, 10.0]), Some(2.0));
        assert_eq!(median(&[1.0, 2.0, 4.0, 10.0]), Some(3.0));
    }
}
