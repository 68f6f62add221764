//! The alert detail read model — the alert, its indicators with where each was found, and its detection
//! rule — and the summaries of enrichment results that the API, MCP and agent payloads show.

use calseta_core::alerts::Malice;
use calseta_core::enrichment::{IndicatorResults, ResultStatus};
use calseta_core::targeting::AlertFacts;
use calseta_store::Db;
use calseta_store::alerts::{self as repo, AlertRow};
use calseta_store::detection_rules::{self, DetectionRuleRow};
use calseta_store::indicators::{self, IndicatorRow, LinkOrigin};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;

/// An alert with what its detail view shows.
#[derive(Debug, Clone)]
pub struct AlertDetail {
    /// The alert row.
    pub alert: AlertRow,
    /// Its indicators, with their enrichment results.
    pub indicators: Vec<IndicatorRow>,
    /// The detection rule it fired from, when known.
    pub detection_rule: Option<DetectionRuleRow>,
    /// Where each indicator was found (field path, extraction pass, decoder), by link.
    pub origins: Vec<LinkOrigin>,
}

impl AlertDetail {
    /// What targeting rules (documents, agents' `trigger_filter`) test of this alert, its
    /// detection rule's name included.
    pub fn targeting_facts(&self) -> AlertFacts<'_> {
        AlertFacts {
            source_name: &self.alert.source_name,
            severity: self.alert.severity.as_str(),
            tags: &self.alert.tags.0,
            detection_rule: self.detection_rule.as_ref().map(|r| r.name.as_str()),
        }
    }

    /// The override, else the worst indicator verdict, else Pending.
    pub fn malice(&self) -> Malice {
        if let Some(m) = self.alert.malice_override {
            return m;
        }
        Malice::worst_of(self.indicators.iter().map(|i| i.malice))
    }
}

/// One alert with its indicators and detection rule.
pub async fn load(db: &Db, uuid: Uuid) -> Result<AlertDetail, ServiceError> {
    let alert =
        repo::get(db, uuid).await?.ok_or_else(|| ServiceError::NotFound("Alert not found.".into()))?;
    let (indicators, origins) = indicators::for_alert_with_origins(db, alert.id).await?;
    of(db, alert, indicators, origins).await
}

/// The detail of an alert whose row and indicators the caller already read.
pub async fn of(
    db: &Db,
    alert: AlertRow,
    indicators: Vec<IndicatorRow>,
    origins: Vec<LinkOrigin>,
) -> Result<AlertDetail, ServiceError> {
    let detection_rule = match alert.detection_rule_id {
        Some(id) => detection_rules::get_by_id(db, id).await?,
        None => None,
    };
    Ok(AlertDetail { alert, indicators, detection_rule, origins })
}

/// An alert's node in the relationship graph.
pub fn graph_alert_node(
    uuid: Uuid,
    title: &str,
    severity: &str,
    status: &str,
    source: &str,
    occurred_at: chrono::DateTime<chrono::Utc>,
    tags: &[String],
) -> Value {
    json!({"uuid": uuid, "title": title, "severity": severity, "status": status, "source_name": source, "occurred_at": occurred_at, "tags": tags})
}

/// `enrichment_results` without each provider's `raw` response.
pub fn strip_raw(results: Option<&Value>) -> Value {
    match results {
        Some(Value::Object(map)) => Value::Object(
            map.iter()
                .map(|(provider, entry)| {
                    let mut entry = entry.clone();
                    if let Value::Object(fields) = &mut entry {
                        fields.remove("raw");
                    }
                    (provider.clone(), entry)
                })
                .collect(),
        ),
        Some(other) => other.clone(),
        None => Value::Null,
    }
}

fn results_of(indicator: &IndicatorRow) -> IndicatorResults {
    IndicatorResults::from_json(indicator.enrichment_results.as_ref().map(|j| &j.0))
}

/// Providers that succeeded, failed and were skipped (or deferred) across the indicators (sorted).
pub fn enrichment_outcomes(indicators: &[IndicatorRow]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut succeeded = std::collections::BTreeSet::new();
    let mut failed = std::collections::BTreeSet::new();
    let mut skipped = std::collections::BTreeSet::new();
    for indicator in indicators {
        for (provider, result) in results_of(indicator).0 {
            match result.status {
                ResultStatus::Success => succeeded.insert(provider),
                ResultStatus::Failed { .. } => failed.insert(provider),
                ResultStatus::Skipped { .. } | ResultStatus::Deferred { .. } => skipped.insert(provider),
            };
        }
    }
    (succeeded.into_iter().collect(), failed.into_iter().collect(), skipped.into_iter().collect())
}

/// The graph's one-word summary of each provider's result.
pub fn enrichment_summary(indicator: &IndicatorRow) -> Value {
    let summary: serde_json::Map<String, Value> = results_of(indicator)
        .0
        .into_iter()
        .map(|(provider, result)| {
            let word = ["verdict", "malice", "risk_score"]
                .iter()
                .find_map(|k| result.extracted_field(k).and_then(calseta_core::paths::scalar_text))
                .unwrap_or_else(|| if result.is_success() { "enriched".into() } else { "failed".into() });
            (provider, Value::from(word))
        })
        .collect();
    Value::Object(summary)
}
