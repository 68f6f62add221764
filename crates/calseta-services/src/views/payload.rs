//! The `alert.enriched` payload every agent receives (also every field of v1's payload): the
//! alert with its metadata, indicators with their results (raw responses stripped), detection
//! rule, past alerts, the context documents that apply, and the active workflows.

use std::sync::Arc;

use calseta_store::agents as agents_repo;
use serde_json::{Value, json};

use crate::ServiceError;
use crate::pipeline::context::AlertContext;
use crate::views::alert_detail::{AlertDetail, enrichment_outcomes, strip_raw};
use crate::views::documents::document_view;

/// Builds agent payloads.
pub struct PayloadBuilder {
    db: calseta_store::Db,
    context: Arc<AlertContext>,
    api_base_url: String,
}

impl PayloadBuilder {
    /// A builder reading documents and past alerts through `context`; `api_base_url` is
    /// `CALSETA_API_BASE_URL`, copied into every payload.
    pub fn new(db: calseta_store::Db, context: Arc<AlertContext>, api_base_url: String) -> Self {
        Self { db, context, api_base_url }
    }

    /// The seed's `alert.enriched` payload for an alert (also every field of v1's payload).
    pub async fn build(&self, detail: &AlertDetail) -> Result<Value, ServiceError> {
        let documents = self.context.documents_for(&detail.alert).await?;
        let past = self.context.past_alerts(&detail.alert, &detail.indicators).await?;
        let workflows = agents_repo::active_workflows(&self.db).await?;
        let (succeeded, failed, skipped) = enrichment_outcomes(&detail.indicators);
        let malice = detail.malice();
        let a = &detail.alert;
        let indicators: Vec<Value> = detail
            .indicators
            .iter()
            .map(|i| json!({
                "uuid": i.uuid, "type": i.kind, "value": i.value, "malice": i.malice, "malice_source": i.malice_source,
                "first_seen": i.first_seen, "last_seen": i.last_seen, "is_enriched": i.is_enriched,
                "enrichment_results": strip_raw(i.enrichment_results.as_ref().map(|j| &j.0)),
            }))
            .collect();
        let rule = detail.detection_rule.as_ref().map(|r| json!({
            "uuid": r.uuid, "name": r.name, "source_rule_id": r.source_rule_id, "source_name": r.source_name, "severity": r.severity,
            "is_active": r.is_active, "mitre_tactics": r.mitre_tactics.0, "mitre_techniques": r.mitre_techniques.0,
            "mitre_subtechniques": r.mitre_subtechniques.0, "data_sources": r.data_sources.0, "run_frequency": r.run_frequency,
            "created_by": r.created_by, "documentation": r.documentation, "created_at": r.created_at, "updated_at": r.updated_at,
        }));
        let documents: Vec<Value> = documents
            .iter()
            .map(|d| {
                let mut view = document_view(d, true);
                if let Value::Object(map) = &mut view {
                    map.remove("targeting_rules");
                }
                view
            })
            .collect();
        let payload = json!({
            "event": "alert.enriched",
            "alert": {
                "uuid": a.uuid, "title": a.title, "description": a.description, "severity": a.severity, "source_name": a.source_name,
                "status": a.status, "malice": malice, "occurred_at": a.occurred_at, "ingested_at": a.ingested_at,
                "enriched_at": a.enriched_at, "is_enriched": a.is_enriched, "tags": a.tags.0,
                "close_classification": a.close_classification, "acknowledged_at": a.acknowledged_at, "triaged_at": a.triaged_at,
                "closed_at": a.closed_at, "agent_findings": a.agent_findings.as_ref().map(|j| j.0.clone()).unwrap_or(json!([])),
                "created_at": a.created_at, "updated_at": a.updated_at,
                "_metadata": {
                    "generated_at": calseta_store::now(), "alert_source": a.source_name, "indicator_count": indicators.len(),
                    "enrichment": {"succeeded": succeeded, "failed": failed, "skipped": skipped, "enriched_at": a.enriched_at},
                    "detection_rule_matched": a.detection_rule_id.is_some(), "context_documents_applied": documents.len(),
                },
            },
            "indicators": indicators,
            "detection_rule": rule,
            "past_alerts": past,
            "context_documents": documents,
            "workflows": workflows,
            "calseta_api_base_url": self.api_base_url,
        });
        Ok(payload)
    }
}
