//! Indicator use cases: detail (with raw provider responses) and the analyst's malice verdict.

use calseta_core::alerts::Malice;
use calseta_core::enrichment::IndicatorResults;
use calseta_core::indicators::MaliceSource;
use calseta_store::Db;
use calseta_store::indicators::{self as repo, IndicatorRow};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;
use crate::audit::{self, Actor};

fn not_found() -> ServiceError {
    ServiceError::NotFound("Indicator not found.".into())
}

/// Indicator use cases.
pub struct IndicatorService {
    db: Db,
}

/// The verdict stored providers imply on an analyst's reset (v1's rule): the worst
/// `extracted.verdict` / `extracted.malice`.
pub fn verdict_from_results(results: Option<&Value>) -> Malice {
    IndicatorResults::from_json(results).reset_verdict()
}

impl IndicatorService {
    /// A service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db }
    }

    /// One indicator.
    pub async fn get(&self, uuid: Uuid) -> Result<IndicatorRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(not_found)
    }

    /// `Some(verdict)` sets a sticky analyst verdict; `None` resets to the providers' verdict.
    pub async fn set_malice(
        &self,
        uuid: Uuid,
        verdict: Option<Malice>,
        actor: &Actor,
    ) -> Result<IndicatorRow, ServiceError> {
        let current = self.get(uuid).await?;
        let mut tx = self.db.begin().await?;
        let updated = match verdict {
            Some(m) => {
                repo::set_malice(&mut tx, current.id, m, MaliceSource::Analyst, Some(calseta_store::now()))
                    .await?
            }
            None => {
                let computed = verdict_from_results(current.enrichment_results.as_ref().map(|j| &j.0));
                repo::set_malice(&mut tx, current.id, computed, MaliceSource::Enrichment, None).await?
            }
        };
        let alert_id = repo::first_linked_alert(&mut tx, current.id).await?;
        let refs = json!({
            "from_malice": current.malice, "to_malice": updated.malice,
            "malice_source": if verdict.is_some() { "analyst" } else { "reset" },
            "indicator_type": updated.kind, "indicator_value": updated.value,
        });
        audit::record(&mut tx, actor, "indicator_malice_updated", alert_id, refs).await?;
        tx.commit().await?;
        Ok(updated)
    }
}
