//! The `enrich_alert` job — one alert's run through the pipeline after ingest: re-normalize the
//! stored payload, run all extraction passes (through the extract stage's hook), persist the
//! indicators (global entities + links), enrich them with every applicable provider within the
//! per-alert deadline, and mark the alert `Enriched` — or `Failed` when every lookup made failed —
//! with an `alert_enrichment_completed` event and the follow-up jobs of the [`AfterEnriched`] hooks
//! (the `alert.enriched` deliveries), all in one fenced transaction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use calseta_core::alerts::EnrichmentStatus;
use calseta_core::enrichment::{OutcomeCounts, ProviderResult, ResultStatus, gate};
use calseta_core::extraction;
use calseta_core::sources;
use calseta_jobs::{JobContext, JobFailure, JobHandler};
use calseta_store::Db;
use calseta_store::alerts::{self, AlertRow};
use calseta_store::indicators::{self, IndicatorRow, NewOrigin};
use serde_json::{Map, Value, json};

use super::EnrichmentEngine;
use super::lookup::{Lookup, skipped_result};
use crate::audit::{self, Actor};
use crate::pipeline::hooks::{AfterEnriched, IndicatorExtractor};
use crate::pipeline::kinds::{self, DeferredIndicator, EnrichAlertJob, EnrichDeferredJob};

/// What an enrichment run did, per provider name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EnrichmentSummary {
    /// Providers that answered for at least one indicator.
    pub succeeded: Vec<String>,
    /// Providers that failed.
    pub failed: Vec<String>,
    /// Providers skipped or deferred.
    pub skipped: Vec<String>,
    /// The `enrich_deferred` jobs to queue (with their delays) when the run completes.
    pub deferred: Vec<(EnrichDeferredJob, Duration)>,
    /// How the run's provider lookups ended (validation skips are not lookups).
    pub lookups: OutcomeCounts,
    /// Results not yet written, per indicator id, for the run's completion transaction to write:
    /// those of lookups that finished together at the end of the run.
    pub unstored: Vec<(i64, Map<String, Value>)>,
}

impl EnrichmentSummary {
    /// Whether the alert ends `Failed`: lookups were made and every one failed (none answered,
    /// none is still to come); skipped lookups alone leave it `Enriched`.
    pub fn all_failed(&self) -> bool {
        self.lookups.all_failed() && self.deferred.is_empty()
    }
}

struct Deferral {
    provider: String,
    indicator: DeferredIndicator,
    wait: Duration,
}

/// Provider results waiting to be written, per indicator.
#[derive(Default)]
struct PendingResults(BTreeMap<i64, Map<String, Value>>);

impl PendingResults {
    fn add(&mut self, indicator_id: i64, provider: &str, result: &ProviderResult) {
        self.0.entry(indicator_id).or_default().insert(provider.to_string(), result.to_json());
    }

    fn into_batch(self) -> Vec<(i64, Map<String, Value>)> {
        self.0.into_iter().collect()
    }

    /// Writes every pending result in one transaction (one commit per batch, not per lookup).
    async fn store(self, db: &Db) {
        store_results(db, &self.into_batch()).await;
    }
}

/// Writes `batch` in one transaction of its own; a failure is logged (the results are lost, the
/// run goes on).
async fn store_results(db: &Db, batch: &[(i64, Map<String, Value>)]) {
    if let Err(e) = indicators::merge_results(db, batch).await {
        tracing::warn!(indicators = batch.len(), error = %e, "could not store enrichment results");
    }
}

/// How long results that arrived wait for the run's other lookups before they are written on
/// their own. A run whose lookups all answer within it writes its results once, in its completion
/// transaction; a slower run shows what it has so far after at most this long.
const RESULTS_HELD_FOR: Duration = Duration::from_millis(250);

/// What one provider lookup for one indicator produced.
struct LookupOutcome {
    provider: String,
    indicator_id: i64,
    result: ProviderResult,
    deferral: Option<Deferral>,
}

impl EnrichmentEngine {
    /// Enriches `linked` indicators of `alert` with every applicable provider and reports per
    /// provider. Results are written as they arrive once they have waited [`RESULTS_HELD_FOR`] for
    /// the lookups still running; those that finish together at the end are returned unwritten
    /// ([`EnrichmentSummary::unstored`]) for the completion transaction. Lookups still running at
    /// the deadline and rate-limited ones come back as `enrich_deferred` jobs for the completion to
    /// queue.
    pub async fn enrich_indicators(
        &self,
        alert: &AlertRow,
        linked: &[IndicatorRow],
    ) -> Result<EnrichmentSummary, JobFailure> {
        let providers = self.registry.providers().await?;
        let mut summary = EnrichmentSummary::default();
        let mut tasks = tokio::task::JoinSet::new();
        // What each running lookup is, so that those still running at the deadline can be queued.
        let mut running: HashMap<tokio::task::Id, Deferral> = HashMap::new();
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        let mut pending = PendingResults::default();
        for indicator in linked {
            let kind = indicator.kind;
            if let Some(reason) = gate::skip_reason(kind, &indicator.value) {
                pending.add(indicator.id, "_validation", &skipped_result("_validation", &reason));
                continue;
            }
            for provider in providers.iter().filter(|p| p.configured && p.supports(kind)) {
                let provider = provider.clone();
                let (id, value) = (indicator.id, indicator.value.clone());
                let engine = self.clone();
                let lookup = Deferral {
                    provider: provider.name.clone(),
                    indicator: DeferredIndicator {
                        id,
                        kind: kind.as_str().to_string(),
                        value: value.clone(),
                    },
                    wait: Duration::ZERO,
                };
                let handle = tasks.spawn(async move {
                    let outcome = engine.lookup(&provider, kind, &value).await;
                    match outcome {
                        Lookup::Done(result) => LookupOutcome {
                            provider: provider.name.clone(),
                            indicator_id: id,
                            result,
                            deferral: None,
                        },
                        Lookup::Deferred(wait) => {
                            // Stored (as skipped) until the deferred job stores the real answer.
                            let result = ProviderResult::deferred(
                                &provider.name,
                                wait.as_secs().max(1),
                                calseta_store::now(),
                            );
                            let indicator = DeferredIndicator { id, kind: kind.as_str().to_string(), value };
                            let deferral = Deferral { provider: provider.name.clone(), indicator, wait };
                            LookupOutcome {
                                provider: provider.name.clone(),
                                indicator_id: id,
                                result,
                                deferral: Some(deferral),
                            }
                        }
                    }
                });
                running.insert(handle.id(), lookup);
            }
        }
        let mut succeeded = BTreeSet::new();
        let mut failed = BTreeSet::new();
        let mut deferrals: Vec<Deferral> = Vec::new();
        let deadline = tokio::time::sleep(self.alert_deadline);
        tokio::pin!(deadline);
        // Armed while results are held: when it fires they are written even if no other lookup
        // has finished since.
        let hold = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(hold);
        let mut holding = false;
        loop {
            tokio::select! {
                next = tasks.join_next_with_id() => match next {
                    None => break,
                    Some(first) => {
                        // Everything already finished is stored with it, in one transaction: fast
                        // results land at once without one commit per lookup.
                        let mut ready = vec![first];
                        while let Some(more) = tasks.try_join_next_with_id() {
                            ready.push(more);
                        }
                        for joined in ready {
                            let outcome = match joined {
                                Ok((id, outcome)) => {
                                    running.remove(&id);
                                    outcome
                                }
                                Err(e) => {
                                    running.remove(&e.id());
                                    tracing::warn!(error = %e, "an enrichment lookup task failed");
                                    continue;
                                }
                            };
                            pending.add(outcome.indicator_id, &outcome.provider, &outcome.result);
                            summary.lookups.record(&outcome.result.status);
                            match outcome.result.status {
                                ResultStatus::Success => { succeeded.insert(outcome.provider); }
                                ResultStatus::Failed { .. } => { failed.insert(outcome.provider); }
                                ResultStatus::Skipped { .. } | ResultStatus::Deferred { .. } => { skipped.insert(outcome.provider); }
                            }
                            if let Some(d) = outcome.deferral {
                                deferrals.push(d);
                            }
                        }
                        if !holding && !tasks.is_empty() {
                            hold.as_mut().reset(tokio::time::Instant::now() + RESULTS_HELD_FOR);
                            holding = true;
                        }
                    }
                },
                _ = &mut hold, if holding => {
                    holding = false;
                    std::mem::take(&mut pending).store(&self.db).await;
                },
                _ = &mut deadline => {
                    // The run reports without the late lookups. They do not run on detached and
                    // unbounded: they stop here and go to the queue as `enrich_deferred` jobs, run
                    // under the worker's slots and leases like any job, and store their results then.
                    tracing::warn!(alert = %alert.uuid, late = running.len(), "enrichment deadline passed; late lookups queued");
                    skipped.insert("deadline".into());
                    tasks.shutdown().await;
                    deferrals.extend(running.drain().map(|(_, lookup)| lookup));
                    break;
                }
            }
        }
        // What is still held goes with the run's completion.
        summary.unstored = pending.into_batch();
        if !deferrals.is_empty() {
            let mut by_provider: HashMap<String, (Duration, Vec<DeferredIndicator>)> = HashMap::new();
            for d in deferrals {
                let entry = by_provider.entry(d.provider).or_insert((Duration::ZERO, Vec::new()));
                entry.0 = entry.0.max(d.wait);
                entry.1.push(d.indicator);
            }
            // Queued with the run's completion (see `EnrichAlert`), so a run that is retried
            // does not queue them twice.
            for (provider_name, (wait, indicators)) in by_provider {
                summary
                    .deferred
                    .push((EnrichDeferredJob { alert_uuid: alert.uuid, provider_name, indicators }, wait));
            }
        }
        summary.succeeded = succeeded.into_iter().collect();
        summary.failed = failed.into_iter().filter(|p| !summary.succeeded.contains(p)).collect();
        summary.skipped = skipped.into_iter().collect();
        Ok(summary)
    }
}

/// The most indicators one alert keeps.
pub const MAX_INDICATORS_PER_ALERT: usize = 1000;

/// Handler of `enrich_alert` ([`crate::pipeline::kinds::ENRICH_ALERT`]).
pub struct EnrichAlert {
    /// Runs the extraction passes (the extract stage).
    pub extractor: Arc<dyn IndicatorExtractor>,
    /// Looks the indicators up.
    pub engine: EnrichmentEngine,
    /// What follows a completed run (today: dispatch), queued in its transaction.
    pub after_enriched: Vec<Arc<dyn AfterEnriched>>,
}

#[async_trait::async_trait]
impl JobHandler for EnrichAlert {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let uuid = ctx.payload_as::<EnrichAlertJob>()?.alert_uuid;
        let Some(alert) = alerts::get(ctx.db(), uuid).await? else {
            // Deleted since it was queued: nothing to enrich.
            return Ok(());
        };
        let source = sources::find(&alert.source_name)
            .ok_or_else(|| JobFailure::permanent(format!("unknown source '{}'", alert.source_name)))?;
        let raw: Value = serde_json::from_str(&alert.raw_payload)
            .map_err(|e| JobFailure::permanent(format!("stored payload is not JSON: {e}")))?;
        let normalized = source.normalize(&raw, alert.created_at);
        let found = self.extractor.extract(source, &raw, &normalized, true).await?;

        // An alert keeps at most MAX_INDICATORS_PER_ALERT indicators, counting those it already
        // has (added by hand, or by an earlier run); new ones are taken in extraction order and the
        // rest are counted in the completion event, not stored or enriched.
        let before = indicators::for_alert(ctx.db(), alert.id).await?;
        let known: std::collections::HashSet<(&str, &str)> =
            before.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
        let room = MAX_INDICATORS_PER_ALERT.saturating_sub(known.len());
        let (old, new): (Vec<_>, Vec<_>) =
            found.indicators.iter().partition(|i| known.contains(&(i.kind.as_str(), i.value.as_str())));
        let over_limit = new.len().saturating_sub(room);
        // Links are committed before enrichment so provider calls never hold the write lock.
        let links: Vec<_> = old
            .into_iter()
            .chain(new.into_iter().take(room))
            .map(|indicator| {
                let origin = NewOrigin {
                    field: Some(indicator.source_field.as_str()),
                    pass: indicator.pass,
                    decoder: indicator.decoder,
                };
                (indicator.kind, indicator.value.as_str(), Some(origin))
            })
            .collect();
        let mut tx = ctx.begin_fenced().await?;
        indicators::upsert_and_link_all(&mut tx, alert.id, &links).await?;
        tx.commit().await?;

        let linked = indicators::for_alert(ctx.db(), alert.id).await?;
        let summary = self.engine.enrich_indicators(&alert, &linked).await?;
        match self.complete(ctx, &alert, &found.passes, over_limit, &summary).await {
            Ok(true) => Ok(()),
            not_completed => {
                // The alert is gone or the completion failed: the held results are still written,
                // for the other alerts that share these indicators.
                if !summary.unstored.is_empty() {
                    store_results(ctx.db(), &summary.unstored).await;
                }
                not_completed.map(|_| ())
            }
        }
    }

    async fn on_dead(&self, db: &Db, payload: &Value, error: &str) {
        let Ok(EnrichAlertJob { alert_uuid }) = calseta_jobs::handler::decode(payload) else { return };
        match mark_failed(db, alert_uuid, error).await {
            Ok(true) => tracing::warn!(alert = %alert_uuid, error, "enrichment gave up; alert marked Failed"),
            Ok(false) => {}
            Err(e) => {
                tracing::error!(alert = %alert_uuid, error = %e, "could not mark alert enrichment Failed")
            }
        }
    }
}

impl EnrichAlert {
    /// Completes a run whose lookups are done: the alert's enrichment status, the held results,
    /// the deferred lookups, the completion event and the follow-up jobs in one transaction with
    /// the job's success; `false` when the alert was deleted meanwhile (nothing to complete).
    async fn complete(
        &self,
        ctx: &JobContext,
        alert: &AlertRow,
        passes: &[extraction::PassReport],
        over_limit: usize,
        summary: &EnrichmentSummary,
    ) -> Result<bool, JobFailure> {
        // Read again: results written during the run, and what others changed meanwhile. The
        // results still held are written by the completion transaction below; the payload shows
        // the indicators as it will leave them.
        let (mut linked, origins) = indicators::for_alert_with_origins(ctx.db(), alert.id).await?;
        let now = calseta_store::now();
        let unstored: HashMap<i64, &Map<String, Value>> =
            summary.unstored.iter().map(|(id, results)| (*id, results)).collect();
        for indicator in &mut linked {
            if let Some(results) = unstored.get(&indicator.id) {
                indicator.merge_results(results, now);
            }
        }

        let mut malice_counts = json!({"Pending": 0, "Benign": 0, "Suspicious": 0, "Malicious": 0});
        for indicator in &linked {
            if let Some(n) = malice_counts.get_mut(indicator.malice.as_str()) {
                *n = json!(n.as_i64().unwrap_or(0) + 1);
            }
        }
        let rejected: Vec<&extraction::Rejected> = passes.iter().flat_map(|p| p.rejected.iter()).collect();
        let indicator_count = linked.len();
        // A run whose every lookup failed leaves the alert `Failed` (not enriched, no enriched_at),
        // but it is still complete: it is dispatched like any other, its results listing the
        // failures, so agents are not left waiting on an alert no provider could speak to.
        let failed_run = summary.all_failed();
        let (status, enriched_at) = if failed_run {
            (EnrichmentStatus::Failed, None)
        } else {
            (EnrichmentStatus::Enriched, Some(now))
        };
        // Every completed run is dispatched once to the matching agents: the deliveries are queued
        // in the transaction that sets the enrichment status, so neither happens without the other.
        // The payload shows the alert as that transaction leaves it (its row is read afresh: an
        // analyst may have changed it during the run; the indicators were just read).
        let Some(mut current) = alerts::get(ctx.db(), alert.uuid).await? else {
            return Ok(false);
        };
        current.enrichment_status = status;
        if !failed_run {
            current.is_enriched = true;
            current.enriched_at = Some(now);
        }
        current.updated_at = now;
        let mut follow_ups = Vec::new();
        for hook in &self.after_enriched {
            follow_ups.extend(hook.follow_ups(&current, &linked, &origins).await?);
        }
        let mut tx = ctx.begin_for_finish().await?;
        // The alert's row before its indicators', as every transaction that changes both takes
        // them (PostgreSQL row locks); on SQLite the update goes with the results' read.
        alerts::set_enrichment(&mut tx, alert.id, status, enriched_at, now).await?;
        indicators::merge_results_in(&mut tx, &summary.unstored, now).await?;
        for (job, wait) in &summary.deferred {
            kinds::enqueue_deferred(&mut tx, job, *wait).await?;
        }
        let references = json!({
            "indicator_count": indicator_count,
            "enrichment_status": status,
            "providers_succeeded": summary.succeeded,
            "providers_failed": summary.failed,
            "providers_skipped": summary.skipped,
            "malice_counts": malice_counts,
            "enriched_at": now,
            "indicators_rejected": rejected,
            "indicators_over_limit": over_limit,
        });
        audit::record(&mut tx, &Actor::system(), "alert_enrichment_completed", Some(alert.id), references)
            .await?;
        for job in &follow_ups {
            job.enqueue(&mut tx).await?;
        }
        ctx.finish(tx).await?;
        Ok(true)
    }
}

/// Marks the alert `Failed` with an `alert_enrichment_failed` event, in one transaction (unless it
/// was deleted or since enriched); whether it did.
async fn mark_failed(db: &Db, alert_uuid: uuid::Uuid, error: &str) -> Result<bool, crate::ServiceError> {
    let mut tx = db.begin().await?;
    let Some(alert_id) = alerts::mark_enrichment_failed(&mut tx, alert_uuid).await? else {
        tx.rollback().await?;
        return Ok(false);
    };
    let references = json!({"error": error, "failed_at": calseta_store::now()});
    audit::record(&mut tx, &Actor::system(), "alert_enrichment_failed", Some(alert_id), references).await?;
    tx.commit().await?;
    Ok(true)
}
