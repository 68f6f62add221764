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

/// The longest reason an analyst may give for a verdict.
pub const MAX_REASON_CHARS: usize = 2000;

/// An analyst's change to an indicator's verdict.
#[derive(Debug, Clone, Default)]
pub struct MaliceChange {
    /// `Some` sets a sticky analyst verdict; `None` resets to the providers' verdict.
    pub verdict: Option<Malice>,
    /// Why (kept in the activity event).
    pub reason: Option<String>,
    /// The alert the change was made from.
    pub alert: Option<Uuid>,
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
        self.change_malice(uuid, MaliceChange { verdict, reason: None, alert: None }, actor).await
    }

    /// [`Self::set_malice`] with the analyst's reason (recorded in the activity event) and the
    /// alert it was made from, which must be linked to the indicator (the event is filed under
    /// that alert; without one, under the first alert linked to the indicator).
    pub async fn change_malice(
        &self,
        uuid: Uuid,
        change: MaliceChange,
        actor: &Actor,
    ) -> Result<IndicatorRow, ServiceError> {
        let MaliceChange { verdict, reason, alert } = change;
        let reason = reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty());
        if reason.as_ref().is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
            return Err(ServiceError::invalid(
                "reason",
                format!("the reason is at most {MAX_REASON_CHARS} characters"),
            ));
        }
        let current = self.get(uuid).await?;
        // Changed from an alert's page: the indicator must be one of that alert's.
        let from_alert = match alert {
            Some(alert_uuid) => {
                Some(repo::linked_alert_id(&self.db, current.id, alert_uuid).await?.ok_or_else(|| {
                    ServiceError::NotFound("The indicator is not linked to this alert.".into())
                })?)
            }
            None => None,
        };
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
        let alert_id = match from_alert {
            Some(id) => Some(id),
            None => repo::first_linked_alert(&mut tx, current.id).await?,
        };
        let mut refs = json!({
            "from_malice": current.malice, "to_malice": updated.malice,
            "malice_source": if verdict.is_some() { "analyst" } else { "reset" },
            "indicator_type": updated.kind, "indicator_value": updated.value,
        });
        if let (Some(reason), Value::Object(fields)) = (reason, &mut refs) {
            fields.insert("reason".into(), Value::String(reason));
        }
        audit::record(&mut tx, actor, "indicator_malice_updated", alert_id, refs).await?;
        tx.commit().await?;
        Ok(updated)
    }
}
