//! The console dashboard's figures for a window, typed: the same aggregate queries and the same
//! arithmetic as `GET /v1/metrics/alerts` and `/v1/metrics/summary` (so the console and the API
//! agree for the same window), plus what only the dashboard shows — the previous window of equal
//! length for trends, alerts per bucket and severity, alerts by verdict, each enrichment
//! provider's outcomes, the job queues now and the approvals waiting.

use calseta_core::alerts::{AlertStatus, Malice, Severity};
use calseta_core::enrichment::{OutcomeCounts, ProviderResult};
use calseta_core::jobs::JobStatus;
use calseta_store::metrics::{self as repo, AlertWindow, Bucket};
use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveDate, Utc};
use serde_json::json;
use uuid::Uuid;

use super::{SocMetrics, ratio};
use crate::ServiceError;

/// The headline figures of one window: MTTx in seconds (`None` when no alert has both stamps)
/// and the false-positive rate among closed alerts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Headline {
    /// Mean time to detect (created − occurred).
    pub mttd: Option<f64>,
    /// Mean time to acknowledge.
    pub mtta: Option<f64>,
    /// Mean time to triage.
    pub mttt: Option<f64>,
    /// Mean time to conclusion (close).
    pub mttc: Option<f64>,
    /// False positives among closed alerts, 0–1.
    pub false_positive_rate: f64,
    /// Closed alerts (the rate's denominator).
    pub closed: i64,
}

/// The series' granularity, chosen from the window's length.
pub use calseta_store::metrics::Bucket as SeriesBucket;

/// One bucket of the alerts-over-time series.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    /// The bucket key: `YYYY-MM-DDTHH`, `YYYY-MM-DD` or `YYYY-MM` (UTC).
    pub key: String,
    /// Alerts per severity, in [`Severity::ALL`] order (zeros included).
    pub counts: Vec<(Severity, i64)>,
}

/// A detection rule and its alerts in the window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleCount {
    /// The rule's id.
    pub uuid: Uuid,
    /// Its name (as whoever wrote the rule named it).
    pub name: String,
    /// Alerts.
    pub count: i64,
}

/// One enrichment provider's stored results for the window's indicators.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProviderOutcomes {
    /// The provider.
    pub provider: String,
    /// Answered.
    pub succeeded: i64,
    /// Failed.
    pub failed: i64,
    /// Not asked (a rate-limit deferral included, as it is stored as skipped).
    pub skipped: i64,
}

/// The job queues now.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueHealth {
    /// Jobs waiting.
    pub pending: i64,
    /// Jobs running.
    pub running: i64,
    /// Dead letters kept until an admin retries them.
    pub dead: i64,
}

/// Everything the dashboard shows for `[from, to)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Dashboard {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// Alerts created in the window.
    pub total: i64,
    /// This window's headline figures.
    pub current: Headline,
    /// The previous window of equal length (`[from − (to − from), from)`), for trends.
    pub previous: Headline,
    /// Enriched alerts over all alerts of the window, 0–1.
    pub enrichment_coverage: f64,
    /// Alerts by status, in [`AlertStatus::ALL`] order, zeros left out.
    pub by_status: Vec<(AlertStatus, i64)>,
    /// Alerts by severity, in [`Severity::ALL`] order, zeros left out.
    pub by_severity: Vec<(Severity, i64)>,
    /// Alerts by source, most first (then by name).
    pub by_source: Vec<(String, i64)>,
    /// Alerts by verdict, worst first.
    pub by_malice: Vec<(Malice, i64)>,
    /// How the series is bucketed.
    pub bucket: SeriesBucket,
    /// Alerts per bucket and severity, every bucket of the window (zeros included).
    pub over_time: Vec<SeriesPoint>,
    /// The ten rules with the most alerts.
    pub top_rules: Vec<RuleCount>,
    /// Each provider's outcomes, by name.
    pub providers: Vec<ProviderOutcomes>,
    /// The job queues now.
    pub queues: QueueHealth,
    /// Approval requests pending now.
    pub approvals_pending: i64,
}

/// The bucket for a window: hours up to two days, days up to 92 days, else months.
pub fn bucket_for(from: DateTime<Utc>, to: DateTime<Utc>) -> SeriesBucket {
    let length = to - from;
    if length <= Duration::days(2) {
        Bucket::Hour
    } else if length <= Duration::days(92) {
        Bucket::Day
    } else {
        Bucket::Month
    }
}

/// Every bucket key of `[from, to)`, ascending.
pub fn bucket_keys(from: DateTime<Utc>, to: DateTime<Utc>, bucket: SeriesBucket) -> Vec<String> {
    let mut keys = Vec::new();
    match bucket {
        Bucket::Hour => {
            let mut at = from.duration_trunc(Duration::hours(1)).unwrap_or(from);
            while at < to {
                keys.push(at.format("%Y-%m-%dT%H").to_string());
                at += Duration::hours(1);
            }
        }
        Bucket::Day => {
            let mut day = from.date_naive();
            while day.and_hms_opt(0, 0, 0).is_some_and(|d| d.and_utc() < to) {
                keys.push(day.format("%Y-%m-%d").to_string());
                let Some(next) = day.succ_opt() else { break };
                day = next;
            }
        }
        Bucket::Month => {
            let mut month = NaiveDate::from_ymd_opt(from.year(), from.month(), 1);
            while let Some(first) = month {
                if first.and_hms_opt(0, 0, 0).is_none_or(|d| d.and_utc() >= to) {
                    break;
                }
                keys.push(first.format("%Y-%m").to_string());
                month = first.checked_add_months(chrono::Months::new(1));
            }
        }
    }
    keys
}

/// Provider results as stored, counted as the core reads them (`status`, else `success`).
fn provider_outcomes(rows: Vec<repo::ProviderStatusCount>) -> Vec<ProviderOutcomes> {
    let mut out: Vec<ProviderOutcomes> = Vec::new();
    for row in rows {
        // Names starting with `_` are pseudo-providers (the enrichability gate), not providers.
        if row.provider.starts_with('_') {
            continue;
        }
        let stored = json!({"status": row.status, "success": row.success});
        let mut outcome = OutcomeCounts::default();
        outcome.record(&ProviderResult::from_json(&row.provider, &stored).status);
        let n = row.count;
        let entry = match out.iter_mut().position(|p| p.provider == row.provider) {
            Some(i) => &mut out[i],
            None => {
                out.push(ProviderOutcomes { provider: row.provider.clone(), ..Default::default() });
                let last = out.len() - 1;
                &mut out[last]
            }
        };
        entry.succeeded += n * i64::from(outcome.succeeded > 0);
        entry.failed += n * i64::from(outcome.failed > 0);
        entry.skipped += n * i64::from(outcome.skipped > 0 || outcome.deferred > 0);
    }
    out.sort_by(|a, b| a.provider.cmp(&b.provider));
    out
}

impl SocMetrics {
    /// The headline figures of `[from, to)`, computed as `/v1/metrics/alerts` computes them.
    async fn headline(
        &self,
        window: &AlertWindow,
    ) -> Result<(Headline, repo::AlertAggregates), ServiceError> {
        let totals = repo::alert_aggregates(&self.db, window).await?;
        let headline = Headline {
            mttd: totals.mean_time_to_detect,
            mtta: totals.mean_time_to_acknowledge,
            mttt: totals.mean_time_to_triage,
            mttc: totals.mean_time_to_conclusion,
            false_positive_rate: ratio(totals.false_positives, totals.closed),
            closed: totals.closed,
        };
        Ok((headline, totals))
    }

    /// The job queues now: waiting, running and dead jobs over every queue.
    pub async fn queue_health(&self) -> Result<QueueHealth, ServiceError> {
        let mut health = QueueHealth::default();
        for (_, status, n) in repo::jobs_by_queue_and_status(&self.db).await? {
            match JobStatus::parse(&status) {
                Ok(JobStatus::Queued) => health.pending += n,
                Ok(JobStatus::Running) => health.running += n,
                Ok(JobStatus::Dead) => health.dead += n,
                Ok(JobStatus::Succeeded) | Err(_) => {}
            }
        }
        Ok(health)
    }

    /// Approval requests pending now.
    pub async fn approvals_pending(&self) -> Result<i64, ServiceError> {
        Ok(repo::approvals_pending(&self.db).await?)
    }

    /// The console dashboard's figures for `[from, to)` (see [`Dashboard`]).
    pub async fn dashboard(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Dashboard, ServiceError> {
        let window = AlertWindow { from, to, detection_rule_id: None };
        let previous_window = AlertWindow { from: from - (to - from), to: from, detection_rule_id: None };
        let groups = repo::alert_groups(&self.db, &window).await?;
        let (current, totals) = self.headline(&window).await?;
        let (previous, _) = self.headline(&previous_window).await?;
        let total: i64 = groups.iter().map(|g| g.count).sum();

        let by_status = AlertStatus::ALL
            .iter()
            .map(|s| (*s, groups.iter().filter(|g| g.status == *s).map(|g| g.count).sum::<i64>()))
            .filter(|(_, n)| *n > 0)
            .collect();
        let by_severity = Severity::ALL
            .iter()
            .map(|s| (*s, groups.iter().filter(|g| g.severity == *s).map(|g| g.count).sum::<i64>()))
            .filter(|(_, n)| *n > 0)
            .collect();
        let mut by_source: Vec<(String, i64)> = Vec::new();
        for g in &groups {
            match by_source.iter_mut().find(|(s, _)| *s == g.source_name) {
                Some((_, n)) => *n += g.count,
                None => by_source.push((g.source_name.clone(), g.count)),
            }
        }
        by_source.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        let bucket = bucket_for(from, to);
        let counted = repo::alerts_per_bucket_and_severity(&self.db, &window, bucket).await?;
        let over_time = bucket_keys(from, to, bucket)
            .into_iter()
            .map(|key| {
                let counts = Severity::ALL
                    .iter()
                    .map(|s| {
                        let n = counted
                            .iter()
                            .filter(|c| c.bucket == key && c.severity == *s)
                            .map(|c| c.count)
                            .sum();
                        (*s, n)
                    })
                    .collect();
                SeriesPoint { key, counts }
            })
            .collect();

        let top_rules = repo::top_detection_rules(&self.db, &window)
            .await?
            .into_iter()
            .map(|r| RuleCount { uuid: r.uuid, name: r.name, count: r.count })
            .collect();

        Ok(Dashboard {
            from,
            to,
            total,
            current,
            previous,
            enrichment_coverage: ratio(totals.enriched, total),
            by_status,
            by_severity,
            by_source,
            by_malice: repo::alerts_by_malice(&self.db, &window).await?,
            bucket,
            over_time,
            top_rules,
            providers: provider_outcomes(repo::provider_results(&self.db, &window).await?),
            queues: self.queue_health().await?,
            approvals_pending: self.approvals_pending().await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).single().unwrap_or_default()
    }

    #[test]
    fn windows_pick_hours_days_or_months() {
        let from = at(2026, 1, 1, 0, 0);
        assert_eq!(bucket_for(from, from + Duration::hours(24)), Bucket::Hour);
        assert_eq!(bucket_for(from, from + Duration::days(7)), Bucket::Day);
        assert_eq!(bucket_for(from, from + Duration::days(30)), Bucket::Day);
        assert_eq!(bucket_for(from, from + Duration::days(400)), Bucket::Month);
    }

    #[test]
    fn bucket_keys_cover_the_window_and_no_more() {
        let keys = bucket_keys(at(2026, 1, 1, 22, 30), at(2026, 1, 2, 1, 0), Bucket::Hour);
        assert_eq!(keys, ["2026-01-01T22", "2026-01-01T23", "2026-01-02T00"]);
        let keys = bucket_keys(at(2026, 1, 30, 12, 0), at(2026, 2, 2, 0, 0), Bucket::Day);
        assert_eq!(keys, ["2026-01-30", "2026-01-31", "2026-02-01"]);
        let keys = bucket_keys(at(2025, 11, 15, 0, 0), at(2026, 2, 1, 0, 0), Bucket::Month);
        assert_eq!(keys, ["2025-11", "2025-12", "2026-01"]);
        assert!(bucket_keys(at(2026, 1, 1, 0, 0), at(2026, 1, 1, 0, 0), Bucket::Day).is_empty());
    }

    #[test]
    fn provider_outcomes_read_results_as_the_core_does() {
        let row =
            |provider: &str, status: Option<&str>, success: bool, count: i64| repo::ProviderStatusCount {
                provider: provider.into(),
                status: status.map(str::to_string),
                success,
                count,
            };
        let outcomes = provider_outcomes(vec![
            row("virustotal", Some("success"), true, 3),
            row("virustotal", Some("failed"), false, 2),
            row("virustotal", Some("skipped"), false, 1),
            row("abuseipdb", None, true, 4),
            row("abuseipdb", None, false, 1),
            row("_validation", Some("skipped"), false, 9),
        ]);
        assert_eq!(
            outcomes,
            vec![
                ProviderOutcomes { provider: "abuseipdb".into(), succeeded: 4, failed: 1, skipped: 0 },
                ProviderOutcomes { provider: "virustotal".into(), succeeded: 3, failed: 2, skipped: 1 },
            ]
        );
    }
}
