//! The `enrich_alert` job: re-normalize the stored payload, run all three extraction passes,
//! persist the indicators (global entities + links), hand them to the [`IndicatorEnricher`], and
//! mark the alert `Enriched` with an `alert_enrichment_completed` event and its `alert.enriched`
//! deliveries, in one transaction.
//!
//! **The enrichment seam** is [`IndicatorEnricher`]: the enrichment engine in the server;
//! [`NoEnrichmentProviders`] ends a run after extraction with zero providers.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::alerts::Malice;
use calseta_core::extraction;
use calseta_core::jobs::RetryPolicy;
use calseta_core::sources;
use calseta_store::Db;
use calseta_store::alerts::{self, AlertRow};
use calseta_store::indicators::{self, IndicatorRow};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::activity::{self, Actor};
use crate::jobs::JobKind;
use crate::mappings::MappingService;
use crate::worker::{JobContext, JobFailure, JobHandler};

/// The `enrich_alert` kind with the configured retry policy (`QUEUE_MAX_RETRIES`,
/// `QUEUE_RETRY_BACKOFF_SECONDS`).
pub fn enrich_alert_kind(max_attempts: u32, backoff: Duration) -> JobKind {
    JobKind {
        name: "enrich_alert",
        queue: "enrichment",
        retry: RetryPolicy::exponential(max_attempts.max(1), backoff),
    }
}

/// Queues an enrichment run of the alert inside the caller's transaction.
pub async fn enqueue_run(
    tx: &mut calseta_store::Tx,
    kind: &JobKind,
    alert_uuid: Uuid,
) -> Result<Uuid, crate::ServiceError> {
    crate::jobs::enqueue(tx, kind, json!({"alert_uuid": alert_uuid}), Duration::ZERO).await
}

/// What an enrichment run did, per provider name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EnrichmentSummary {
    /// Providers that answered for at least one indicator.
    pub succeeded: Vec<String>,
    /// Providers that failed.
    pub failed: Vec<String>,
    /// Providers skipped or deferred.
    pub skipped: Vec<String>,
}

/// Enriches an alert's indicators (the seam where the enrichment engine plugs in).
#[async_trait::async_trait]
pub trait IndicatorEnricher: Send + Sync + 'static {
    /// Enriches `indicators` of `alert`, storing results, and reports per provider.
    async fn enrich(
        &self,
        ctx: &JobContext,
        alert: &AlertRow,
        indicators: &[IndicatorRow],
    ) -> Result<EnrichmentSummary, JobFailure>;
}

/// No provider is configured: every run ends after extraction with an empty summary.
pub struct NoEnrichmentProviders;

#[async_trait::async_trait]
impl IndicatorEnricher for NoEnrichmentProviders {
    async fn enrich(
        &self,
        _ctx: &JobContext,
        _alert: &AlertRow,
        _indicators: &[IndicatorRow],
    ) -> Result<EnrichmentSummary, JobFailure> {
        Ok(EnrichmentSummary::default())
    }
}

/// Handler of `enrich_alert`.
pub struct EnrichAlert {
    /// Mapping rules for passes 2–3.
    pub mappings: Arc<MappingService>,
    /// The enrichment step.
    pub enricher: Arc<dyn IndicatorEnricher>,
    /// Builds the `alert.enriched` deliveries queued when the run completes.
    pub dispatch: crate::dispatch::PayloadBuilder,
}

fn alert_uuid(payload: &Value) -> Result<Uuid, JobFailure> {
    payload
        .get("alert_uuid")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| JobFailure::permanent("payload has no alert_uuid"))
}

#[async_trait::async_trait]
impl JobHandler for EnrichAlert {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let uuid = alert_uuid(&ctx.payload)?;
        let Some(alert) = alerts::get(ctx.db(), uuid).await.map_err(JobFailure::retryable)? else {
            // Deleted since it was queued: nothing to enrich.
            return Ok(());
        };
        let source = sources::find(&alert.source_name)
            .ok_or_else(|| JobFailure::permanent(format!("unknown source '{}'", alert.source_name)))?;
        let raw: Value = serde_json::from_str(&alert.raw_payload)
            .map_err(|e| JobFailure::permanent(format!("stored payload is not JSON: {e}")))?;
        let normalized = source.normalize(&raw, alert.created_at);
        let rules = self.mappings.rules().await.map_err(JobFailure::retryable)?;
        let found = extraction::extract(source, &raw, &normalized, &rules, true);

        // Links are committed before enrichment so provider calls never hold the write lock.
        let mut tx = ctx.begin_fenced().await?;
        for indicator in &found.indicators {
            indicators::upsert_and_link(&mut tx, alert.id, indicator.kind.as_str(), &indicator.value)
                .await
                .map_err(JobFailure::retryable)?;
        }
        tx.commit().await.map_err(JobFailure::retryable)?;

        let linked = indicators::for_alert(ctx.db(), alert.id).await.map_err(JobFailure::retryable)?;
        let summary = self.enricher.enrich(ctx, &alert, &linked).await?;
        let linked = indicators::for_alert(ctx.db(), alert.id).await.map_err(JobFailure::retryable)?;

        let mut malice_counts = json!({"Pending": 0, "Benign": 0, "Suspicious": 0, "Malicious": 0});
        for indicator in &linked {
            let verdict = Malice::parse(&indicator.malice).unwrap_or(Malice::Pending);
            if let Some(n) = malice_counts.get_mut(verdict.as_str()) {
                *n = json!(n.as_i64().unwrap_or(0) + 1);
            }
        }
        let rejected: Vec<&extraction::Rejected> =
            found.passes.iter().flat_map(|p| p.rejected.iter()).collect();
        let now = calseta_store::now();
        let indicator_count = linked.len();
        // Every completed run is dispatched once to the matching agents: the deliveries are queued
        // in the transaction that marks the alert Enriched, so neither happens without the other.
        // The payload shows the alert as that transaction leaves it (its row is read afresh: an
        // analyst may have changed it during the run; the indicators were just read).
        let Some(mut current) = alerts::get(ctx.db(), uuid).await.map_err(JobFailure::retryable)? else {
            return Ok(());
        };
        current.enrichment_status = "Enriched".into();
        current.is_enriched = true;
        current.enriched_at = Some(now);
        current.updated_at = now;
        let detail = self.dispatch.alerts.detail_of(current, linked).await.map_err(JobFailure::retryable)?;
        let deliveries = self.dispatch.deliveries(detail, None).await.map_err(JobFailure::retryable)?;
        let mut tx = ctx.begin_fenced().await?;
        alerts::set_enrichment(&mut tx, alert.id, "Enriched", Some(now))
            .await
            .map_err(JobFailure::retryable)?;
        let references = json!({
            "indicator_count": indicator_count,
            "providers_succeeded": summary.succeeded,
            "providers_failed": summary.failed,
            "providers_skipped": summary.skipped,
            "malice_counts": malice_counts,
            "enriched_at": now,
            "indicators_rejected": rejected,
        });
        activity::record(&mut tx, &Actor::system(), "alert_enrichment_completed", Some(alert.id), references)
            .await
            .map_err(JobFailure::retryable)?;
        deliveries.enqueue(&mut tx).await.map_err(JobFailure::retryable)?;
        ctx.finish(tx).await
    }

    async fn on_dead(&self, db: &Db, payload: &Value, error: &str) {
        if let Ok(uuid) = alert_uuid(payload) {
            match alerts::mark_enrichment_failed(db, uuid).await {
                Ok(()) => tracing::warn!(alert = %uuid, error, "enrichment gave up; alert marked Failed"),
                Err(e) => {
                    tracing::error!(alert = %uuid, error = %e, "could not mark alert enrichment Failed")
                }
            }
        }
    }
}
