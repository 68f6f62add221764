//! The `enrich_alert` job — one alert's run through the pipeline after ingest: re-normalize the
//! stored payload, run all extraction passes (through the extract stage's hook), enrich the
//! indicators with every applicable provider within the per-alert deadline, and mark the alert
//! `Enriched` — or `Failed` when every lookup made failed — with an `alert_enrichment_completed`
//! event and the follow-up jobs of the [`AfterEnriched`] hooks (the `alert.enriched`
//! deliveries), all in one fenced transaction. The indicators found (global entities + links) are
//! written by the run's first write ([`super::links`]): that completion when the lookups all
//! answer within [`RESULTS_HELD_FOR`].

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
use calseta_store::indicators::{self, NewIndicators, NewOrigin};
use serde_json::{Map, Value, json};

use super::EnrichmentEngine;
use super::links::{RunLinks, TargetResults, store_results, under};
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
    /// The lookups to queue as `enrich_deferred` jobs when the run completes.
    pub deferred: Vec<DeferredLookups>,
    /// How the run's provider lookups ended (validation skips are not lookups).
    pub lookups: OutcomeCounts,
    /// Results not yet written, per indicator (the run's index), for the run's completion
    /// transaction to write: those of lookups that finished together at the end of the run.
    pub unstored: Vec<TargetResults>,
}

/// One provider's lookups left to an `enrich_deferred` job.
#[derive(Debug, Clone, PartialEq)]
pub struct DeferredLookups {
    /// The provider.
    pub provider_name: String,
    /// The indicators, by the run's index.
    pub targets: Vec<usize>,
    /// How long the job waits.
    pub wait: Duration,
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
    /// The indicator, by the run's index.
    target: usize,
    wait: Duration,
}

/// Provider results waiting to be written, per indicator (the run's index).
#[derive(Default)]
struct PendingResults(BTreeMap<usize, Map<String, Value>>);

impl PendingResults {
    fn add(&mut self, target: usize, provider: &str, result: &ProviderResult) {
        self.0.entry(target).or_default().insert(provider.to_string(), result.to_json());
    }

    fn into_batch(self) -> Vec<TargetResults> {
        self.0.into_iter().collect()
    }

    /// Puts back a batch that could not be written, under any results that arrived since.
    fn restore(&mut self, batch: Vec<TargetResults>) {
        for (target, mut results) in batch {
            let newer = self.0.entry(target).or_default();
            results.extend(std::mem::take(newer));
            *newer = results;
        }
    }
}

/// How long a run's first write waits, and how long results that arrived wait for the run's
/// other lookups before they are written on their own. A run whose lookups all answer within it
/// writes once — its indicators' links, their results, its status — in its completion
/// transaction; a slower run shows its indicators and what it has so far after at most this long.
pub const RESULTS_HELD_FOR: Duration = Duration::from_millis(250);

/// What one provider lookup for one indicator produced.
struct LookupOutcome {
    provider: String,
    target: usize,
    result: ProviderResult,
    deferral: Option<Deferral>,
}

impl EnrichmentEngine {
    /// Enriches the indicators of `links` (the alert's, and those the run found) with every
    /// applicable provider and reports per provider. The run's first write — the links still
    /// unwritten and the results so far — comes [`RESULTS_HELD_FOR`] after it starts, and later
    /// results are written once they have waited as long for the lookups still running; those
    /// that finish together at the end are returned unwritten ([`EnrichmentSummary::unstored`])
    /// for the completion transaction, which then also writes the links. Lookups still running at
    /// the deadline and rate-limited ones come back as `enrich_deferred` jobs for the completion to
    /// queue.
    pub async fn enrich_indicators(
        &self,
        ctx: &JobContext,
        alert: &AlertRow,
        links: &mut RunLinks<'_>,
    ) -> Result<EnrichmentSummary, JobFailure> {
        let providers = self.registry.providers().await?;
        let mut summary = EnrichmentSummary::default();
        let mut tasks = tokio::task::JoinSet::new();
        // What each running lookup is, so that those still running at the deadline can be queued.
        let mut running: HashMap<tokio::task::Id, Deferral> = HashMap::new();
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        let mut pending = PendingResults::default();
        for (target, (kind, value)) in links.targets().iter().enumerate() {
            let kind = *kind;
            if let Some(reason) = gate::skip_reason(kind, value) {
                pending.add(target, "_validation", &skipped_result("_validation", &reason));
                continue;
            }
            for provider in providers.iter().filter(|p| p.configured && p.supports(kind)) {
                let provider = provider.clone();
                let value = value.clone();
                let engine = self.clone();
                let lookup = Deferral { provider: provider.name.clone(), target, wait: Duration::ZERO };
                let handle = tasks.spawn(async move {
                    let outcome = engine.lookup(&provider, kind, &value).await;
                    match outcome {
                        Lookup::Done(result) => {
                            LookupOutcome { provider: provider.name.clone(), target, result, deferral: None }
                        }
                        Lookup::Deferred(wait) => {
                            // Stored (as skipped) until the deferred job stores the real answer.
                            let result = ProviderResult::deferred(
                                &provider.name,
                                wait.as_secs().max(1),
                                calseta_store::now(),
                            );
                            let deferral = Deferral { provider: provider.name.clone(), target, wait };
                            LookupOutcome {
                                provider: provider.name.clone(),
                                target,
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
        // Armed from the start (the run's first write) and while results are held: when it fires
        // the links still unwritten and the results held are written, even if no other lookup has
        // finished since.
        let hold = tokio::time::sleep(RESULTS_HELD_FOR);
        tokio::pin!(hold);
        let mut holding = !tasks.is_empty();
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
                            pending.add(outcome.target, &outcome.provider, &outcome.result);
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
                    let batch = std::mem::take(&mut pending).into_batch();
                    if !links.write_with(ctx, &batch).await {
                        // Kept for the next write (or the completion).
                        pending.restore(batch);
                    }
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
            let mut by_provider: HashMap<String, (Duration, Vec<usize>)> = HashMap::new();
            for d in deferrals {
                let entry = by_provider.entry(d.provider).or_insert((Duration::ZERO, Vec::new()));
                entry.0 = entry.0.max(d.wait);
                entry.1.push(d.target);
            }
            // Queued with the run's completion (see `EnrichAlert`), so a run that is retried
            // does not queue them twice.
            for (provider_name, (wait, targets)) in by_provider {
                summary.deferred.push(DeferredLookups { provider_name, targets, wait });
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
        // Written by the run's first write, never before the lookups: provider calls hold no
        // write transaction, and a quick run writes once.
        let to_link: Vec<_> = old
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
        let mut links = RunLinks::new(alert.id, &before, to_link);
        let summary = match self.engine.enrich_indicators(ctx, &alert, &mut links).await {
            Ok(summary) => summary,
            Err(failure) => {
                // No lookup ran (the providers could not be read): the indicators are still linked.
                links.write_with(ctx, &[]).await;
                return Err(failure);
            }
        };
        let mut completed = self.complete(ctx, &alert, &found.passes, over_limit, &summary, &mut links).await;
        if let Ok(Completion::Stale) = completed {
            // Another run inserted one of the new indicators after the payload was built: the
            // links are written on their own, and the completion reads them back.
            completed = match links.write(ctx).await {
                Ok(()) => self.complete(ctx, &alert, &found.passes, over_limit, &summary, &mut links).await,
                Err(e) => Err(e),
            };
        }
        match completed {
            Ok(Completion::Done) => Ok(()),
            Ok(_) => {
                // The alert is gone: the held results of indicators already linked are still
                // written, for the other alerts that share them.
                let held = links.with_ids(&summary.unstored);
                if !held.is_empty() {
                    store_results(ctx.db(), &held).await;
                }
                Ok(())
            }
            Err(failure) => {
                // The completion failed: the indicators found are still linked and the held
                // results written (fenced: an attempt that lost its lease writes nothing), so a
                // run that ends up a dead letter leaves the alert its indicators.
                links.write_with(ctx, &summary.unstored).await;
                Err(failure)
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

/// How a completion ended.
enum Completion {
    /// The run is complete.
    Done,
    /// The alert was deleted meanwhile: nothing to complete.
    AlertGone,
    /// The links did not come out as the payload showed them: nothing was written.
    Stale,
}

impl EnrichAlert {
    /// Completes a run whose lookups are done: the links still unwritten, the alert's enrichment
    /// status, the held results, the deferred lookups, the completion event and the follow-up
    /// jobs in one transaction with the job's success.
    async fn complete(
        &self,
        ctx: &JobContext,
        alert: &AlertRow,
        passes: &[extraction::PassReport],
        over_limit: usize,
        summary: &EnrichmentSummary,
        links: &mut RunLinks<'_>,
    ) -> Result<Completion, JobFailure> {
        // Read again: results written during the run, and what others changed meanwhile. The
        // links and results still held are written by the completion transaction below; the
        // payload shows the indicators as it will leave them.
        let (mut linked, mut origins) = indicators::for_alert_with_origins(ctx.db(), alert.id).await?;
        let now = calseta_store::now();
        let mut new = NewIndicators::at(now);
        links.predict(ctx.db(), &mut linked, &mut origins, &mut new).await?;
        let position: HashMap<(calseta_core::indicators::IndicatorType, &str), usize> =
            linked.iter().enumerate().map(|(i, row)| ((row.kind, row.value.as_str()), i)).collect();
        let held: Vec<(usize, &Map<String, Value>)> = summary
            .unstored
            .iter()
            .filter_map(|(target, results)| {
                let (kind, value) = links.targets().get(*target)?;
                Some((*position.get(&(*kind, value.as_str()))?, results))
            })
            .collect();
        for (at, results) in held {
            if let Some(indicator) = linked.get_mut(at) {
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
        // analyst may have changed it during the run; the indicators were just read, and those
        // still to be linked shown as the transaction will link them).
        let Some(mut current) = alerts::get(ctx.db(), alert.uuid).await? else {
            return Ok(Completion::AlertGone);
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
        let Some(ids) = links.link_as_predicted(&mut tx, &linked, &new).await? else {
            tx.rollback().await?;
            return Ok(Completion::Stale);
        };
        indicators::merge_results_in(&mut tx, &under(&ids, &summary.unstored), now).await?;
        for lookups in &summary.deferred {
            let indicators = lookups
                .targets
                .iter()
                .filter_map(|target| {
                    let (kind, value) = links.targets().get(*target)?;
                    let id = ids.get(*target).copied().flatten()?;
                    Some(DeferredIndicator { id, kind: kind.as_str().to_string(), value: value.clone() })
                })
                .collect();
            let job = EnrichDeferredJob {
                alert_uuid: alert.uuid,
                provider_name: lookups.provider_name.clone(),
                indicators,
            };
            kinds::enqueue_deferred(&mut tx, &job, lookups.wait).await?;
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
        links.settle(ids);
        Ok(Completion::Done)
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
