//! The context stage: the organisation's knowledge chosen for an alert — context documents whose
//! targeting rules match it (global ones first) and past alerts that share its indicators.
//!
//! Document targeting is evaluated in memory over a small per-process index (id, global flag,
//! type, rules — refreshed every 2 s and on local changes); only matching documents' content is
//! loaded, so an alert read costs in proportion to its matches, not to the library.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::enrichment::gate;
use calseta_core::targeting::{self, AlertFacts};
use calseta_store::Db;
use calseta_store::alerts::{self as alerts_repo, AlertRow};
use calseta_store::context_documents::{self as docs, DocumentRow, TargetingRow};
use calseta_store::indicators::IndicatorRow;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;
use crate::platform::cache::TtlCell;

const TARGETING_TTL: Duration = Duration::from_secs(2);
/// Past alerts listed per alert.
pub const PAST_ALERTS_LIMIT: i64 = 10;

/// An alert that shares enrichable indicators with another (DESIGN §9.6).
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct PastAlert {
    /// The past alert.
    pub uuid: Uuid,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
    /// How it was closed.
    pub close_classification: Option<String>,
    /// When it was closed.
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When it occurred.
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The shared indicators, as `type:value` objects.
    #[schema(value_type = Vec<Object>)]
    pub indicators: Vec<Value>,
    /// `close_notes`, else the latest finding's summary.
    pub analyst_notes: Option<String>,
}

/// Chooses the documents and past alerts of an alert.
pub struct AlertContext {
    db: Db,
    index: TtlCell<Arc<Vec<TargetingRow>>>,
}

impl AlertContext {
    /// The stage over `db`.
    pub fn new(db: Db) -> Self {
        Self { db, index: TtlCell::new(TARGETING_TTL, 1) }
    }

    /// Forgets the targeting index (after a document change in this process).
    pub fn invalidate(&self) {
        self.index.clear();
    }

    async fn targeting_index(&self) -> Result<Arc<Vec<TargetingRow>>, ServiceError> {
        self.index.get_or_load((), || async { Ok(Arc::new(docs::targeting(&self.db).await?)) }).await
    }

    /// The documents that apply to an alert described by `facts` (see
    /// [`AlertDetail::targeting_facts`](crate::views::alert_detail::AlertDetail::targeting_facts)):
    /// global ones first, then targeted ones, each group by document type.
    pub async fn documents_for(&self, facts: &AlertFacts<'_>) -> Result<Vec<DocumentRow>, ServiceError> {
        let index = self.targeting_index().await?;
        let mut chosen: Vec<&TargetingRow> = index
            .iter()
            .filter(|d| d.is_global || targeting::matches(d.targeting_rules.as_ref().map(|j| &j.0), facts))
            .collect();
        chosen.sort_by(|a, b| {
            (!a.is_global, &a.document_type, a.id).cmp(&(!b.is_global, &b.document_type, b.id))
        });
        let ids: Vec<i64> = chosen.iter().map(|d| d.id).collect();
        let mut rows = docs::by_ids(&self.db, &ids).await?;
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Other alerts sharing at least one enrichable indicator with this one, newest first.
    pub async fn past_alerts(
        &self,
        alert: &AlertRow,
        indicators: &[IndicatorRow],
    ) -> Result<Vec<PastAlert>, ServiceError> {
        let shared_ids: Vec<i64> = indicators
            .iter()
            .filter(|i| gate::skip_reason(i.kind, &i.value).is_none())
            .map(|i| i.id)
            .collect();
        let (rows, shared) =
            alerts_repo::past_alerts(&self.db, alert.id, &shared_ids, PAST_ALERTS_LIMIT).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let latest_finding =
                    r.agent_findings.as_ref().and_then(|f| f.0.as_array()).and_then(|items| {
                        items.iter().max_by_key(|f| f["posted_at"].as_str().unwrap_or_default().to_string())
                    });
                PastAlert {
                    uuid: r.uuid,
                    title: r.title,
                    status: r.status.to_string(),
                    close_classification: r.close_classification.map(|c| c.to_string()),
                    closed_at: r.closed_at,
                    occurred_at: r.occurred_at,
                    indicators: shared
                        .iter()
                        .filter(|(id, _, _)| *id == r.id)
                        .map(|(_, t, v)| json!({"type": t, "value": v}))
                        .collect(),
                    analyst_notes: r
                        .close_notes
                        .or_else(|| latest_finding.and_then(|f| f["summary"].as_str()).map(str::to_string)),
                }
            })
            .collect())
    }
}
