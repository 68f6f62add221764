//! Lookups a rate limit (or the alert's deadline) postponed: the `enrich_deferred` job asks the
//! provider again for the indicators it still owes, stores the answers in its fenced completion
//! transaction, and queues itself again for what is still limited.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::indicators::IndicatorType;
use calseta_jobs::{JobContext, JobFailure, JobHandler};

use super::EnrichmentEngine;
use calseta_store::indicators;
use serde_json::{Map, Value};

use super::lookup::Lookup;
use crate::pipeline::kinds::{self, EnrichDeferredJob};

/// Handler of `enrich_deferred` ([`kinds::ENRICH_DEFERRED`]).
pub struct EnrichDeferred {
    /// The engine whose limits the lookups share.
    pub engine: Arc<EnrichmentEngine>,
}

#[async_trait::async_trait]
impl JobHandler for EnrichDeferred {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let job: EnrichDeferredJob = ctx.payload_as()?;
        let Some(provider) = self.engine.registry.provider(&job.provider_name).await? else {
            return Ok(());
        };
        let mut remaining = Vec::new();
        let mut answers: Vec<(i64, Map<String, Value>)> = Vec::new();
        let mut wait = Duration::ZERO;
        for item in &job.indicators {
            let Ok(kind) = IndicatorType::parse(&item.kind) else { continue };
            if !remaining.is_empty() {
                remaining.push(item.clone());
                continue;
            }
            match self.engine.lookup(&provider, kind, &item.value).await {
                Lookup::Done(result) => {
                    answers.push((item.id, Map::from_iter([(provider.name.clone(), result.to_json())])));
                }
                Lookup::Deferred(w) => {
                    wait = w;
                    remaining.push(item.clone());
                }
            }
        }
        // The answers land with the job's success, fenced by it: an attempt that lost its lease
        // writes nothing, and a failed write retries the job instead of losing the answers.
        let mut tx = ctx.begin_for_finish().await?;
        indicators::merge_results_in(&mut tx, &answers, calseta_store::now()).await?;
        if !remaining.is_empty() {
            let next = EnrichDeferredJob { indicators: remaining, ..job };
            kinds::enqueue_deferred(&mut tx, &next, wait).await?;
        }
        ctx.finish(tx).await
    }
}
