//! The traits through which one stage calls into another without importing it. The composition
//! root gives each stage the implementations it needs: extraction (implemented by `extract`, used
//! by `ingest` and `enrich`) and what follows a completed enrichment run (implemented by
//! `dispatch`). The respond stage needs no hook: it starts from a request (REST, MCP), not from
//! another stage.

use calseta_core::extraction::Extraction;
use calseta_core::sources::{AlertSource, NormalizedAlert};
use calseta_jobs::PreparedJob;
use calseta_store::alerts::AlertRow;
use calseta_store::indicators::{IndicatorRow, LinkOrigin};
use serde_json::Value;

use crate::ServiceError;

/// Finds an alert's indicators.
#[async_trait::async_trait]
pub trait IndicatorExtractor: Send + Sync + 'static {
    /// Runs the extraction passes over the raw and normalized alert with the active mapping rules;
    /// the raw-payload pass only when `with_raw_pass`.
    async fn extract(
        &self,
        source: &dyn AlertSource,
        raw: &Value,
        normalized: &NormalizedAlert,
        with_raw_pass: bool,
    ) -> Result<Extraction, ServiceError>;
}

/// Work that follows a completed enrichment run.
#[async_trait::async_trait]
pub trait AfterEnriched: Send + Sync + 'static {
    /// Reads what it needs — outside any write transaction — for the alert as the completing
    /// transaction leaves it, and returns the jobs to queue in that transaction, so that the alert
    /// is never marked Enriched without them nor they queued without it.
    async fn follow_ups(
        &self,
        alert: &AlertRow,
        indicators: &[IndicatorRow],
        origins: &[LinkOrigin],
    ) -> Result<Vec<PreparedJob>, ServiceError>;
}
