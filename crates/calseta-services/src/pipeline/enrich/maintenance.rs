//! Keeping the shared enrichment cache from growing forever: the periodic `purge_enrichment_cache`
//! job deletes the rows whose TTL has passed (a read never serves them, but nothing else removed
//! them).

use calseta_jobs::{JobContext, JobFailure, JobHandler};
use calseta_store::enrichment_cache;

/// Handler of `purge_enrichment_cache` ([`crate::pipeline::kinds::PURGE_ENRICHMENT_CACHE`]).
pub struct PurgeEnrichmentCache;

#[async_trait::async_trait]
impl JobHandler for PurgeEnrichmentCache {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let removed = enrichment_cache::purge_expired(ctx.db()).await?;
        tracing::info!(removed, "purged expired enrichment cache rows");
        Ok(())
    }
}
