//! The extract stage: the active indicator-mapping rules (cached briefly in each process, so a
//! change reaches every process within seconds) and the extraction passes run with them.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::extraction::{self, Extraction, MappingRule};
use calseta_core::sources::{AlertSource, NormalizedAlert};
use calseta_store::Db;
use calseta_store::mappings::{self as repo, MappingFilter, MappingRow};
use serde_json::Value;

use crate::ServiceError;
use crate::pipeline::hooks::IndicatorExtractor;
use crate::platform::cache::TtlCell;

/// How long a process reuses the rules it read.
const RULES_TTL: Duration = Duration::from_secs(2);

/// The mapping rules and the passes that use them.
pub struct MappingRules {
    db: Db,
    cached: TtlCell<Arc<Vec<MappingRule>>>,
}

/// The extraction rule of a mapping row.
pub fn rule_of(row: &MappingRow) -> MappingRule {
    MappingRule {
        source_name: row.source_name.clone(),
        field_path: row.field_path.clone(),
        indicator_type: row.indicator_type.clone(),
        extraction_target: row.extraction_target.clone(),
        is_active: row.is_active,
    }
}

impl MappingRules {
    /// The rules over `db`.
    pub fn new(db: Db) -> Self {
        Self { db, cached: TtlCell::new(RULES_TTL, 1) }
    }

    /// The rules, at most a couple of seconds old.
    pub async fn rules(&self) -> Result<Arc<Vec<MappingRule>>, ServiceError> {
        self.cached.get_or_load((), || async { Ok(Arc::new(self.load().await?)) }).await
    }

    /// The rules as stored now (no cache): the active ones, and the inactive ones too, since an
    /// inactive `free_text` mapping turns a free-text field (or the pass) off.
    pub async fn load(&self) -> Result<Vec<MappingRule>, ServiceError> {
        let filter = MappingFilter::default();
        let (rows, _) = repo::list(&self.db, &filter, 0, 0).await?;
        Ok(rows.iter().map(rule_of).collect())
    }

    /// Forgets the cached rules (after a change in this process).
    pub fn invalidate(&self) {
        self.cached.clear();
    }
}

#[async_trait::async_trait]
impl IndicatorExtractor for MappingRules {
    async fn extract(
        &self,
        source: &dyn AlertSource,
        raw: &Value,
        normalized: &NormalizedAlert,
        with_raw_pass: bool,
    ) -> Result<Extraction, ServiceError> {
        let rules = self.rules().await?;
        Ok(extraction::extract(source, raw, normalized, &rules, with_raw_pass))
    }
}
