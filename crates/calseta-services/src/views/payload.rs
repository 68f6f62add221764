//! The `alert.enriched` payload every agent receives (also every field of v1's payload): the
//! alert with its metadata, indicators with their results (raw responses stripped), detection
//! rule, past alerts, the context documents that apply, and the active workflows.

use std::sync::Arc;

use calseta_core::alerts::Malice;
use calseta_store::workflows as workflows_repo;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::ServiceError;
use crate::pipeline::context::{AlertContext, PastAlert};
use crate::views::alert_context::ChosenContext;
use crate::views::alert_detail::{AlertDetail, enrichment_outcomes, strip_raw};
use crate::views::documents::document_view;
use crate::views::records::DetectionRuleResponse;

/// Builds agent payloads.
pub struct PayloadBuilder {
    db: calseta_store::Db,
    context: Arc<AlertContext>,
    api_base_url: String,
}

/// The `alert.enriched` payload: what every agent receives, by webhook, REST
/// (`GET /v1/alerts/{uuid}/payload`) and MCP.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AlertEnrichedPayload {
    /// Always `alert.enriched`.
    pub event: &'static str,
    /// The alert, with `_metadata`.
    pub alert: PayloadAlert,
    /// Its indicators with their provider results (raw answers stripped).
    pub indicators: Vec<PayloadIndicator>,
    /// The detection rule that fired, with its documentation.
    pub detection_rule: Option<DetectionRuleResponse>,
    /// Alerts sharing enrichable indicators with this one.
    pub past_alerts: Vec<PastAlert>,
    /// The context documents whose targeting rules match, with their content.
    #[schema(value_type = Vec<Object>)]
    pub context_documents: Vec<Value>,
    /// The active workflows an agent may execute.
    #[schema(value_type = Vec<Object>)]
    pub workflows: Vec<Value>,
    /// `CALSETA_API_BASE_URL`: where to call back.
    pub calseta_api_base_url: String,
}

/// The alert part of the payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayloadAlert {
    /// Its id.
    pub uuid: Uuid,
    /// Title, as the source wrote it.
    pub title: String,
    /// Description, as the source wrote it.
    pub description: Option<String>,
    /// `Pending`, `Informational`, `Low`, `Medium`, `High`, `Critical`.
    pub severity: String,
    /// The source it came from.
    pub source_name: String,
    /// Its status.
    pub status: String,
    /// Its verdict (an analyst's override, else the worst of its indicators').
    #[schema(value_type = String)]
    pub malice: Malice,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When Calseta accepted it.
    pub ingested_at: DateTime<Utc>,
    /// When its enrichment completed.
    pub enriched_at: Option<DateTime<Utc>>,
    /// Whether its enrichment completed.
    pub is_enriched: bool,
    /// Tags.
    pub tags: Vec<String>,
    /// How it was closed.
    pub close_classification: Option<String>,
    /// When it was acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was triaged.
    pub triaged_at: Option<DateTime<Utc>>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Findings agents posted.
    #[schema(value_type = Vec<Object>)]
    pub agent_findings: Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
    /// Facts about the payload itself.
    #[serde(rename = "_metadata")]
    pub metadata: PayloadMetadata,
}

/// `alert._metadata`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayloadMetadata {
    /// When this payload was built.
    pub generated_at: DateTime<Utc>,
    /// The alert's source.
    pub alert_source: String,
    /// How many indicators it carries.
    pub indicator_count: usize,
    /// Which providers succeeded, failed and were skipped.
    pub enrichment: EnrichmentOutcome,
    /// Whether a detection rule is attached.
    pub detection_rule_matched: bool,
    /// How many context documents apply.
    pub context_documents_applied: usize,
}

/// The providers of an alert's enrichment, by outcome.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrichmentOutcome {
    /// Providers with at least one successful lookup.
    pub succeeded: Vec<String>,
    /// Providers with a failed lookup.
    pub failed: Vec<String>,
    /// Providers skipped.
    pub skipped: Vec<String>,
    /// When the enrichment completed.
    pub enriched_at: Option<DateTime<Utc>>,
}

/// An indicator of the payload.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PayloadIndicator {
    /// Its id.
    pub uuid: Uuid,
    /// `ip`, `domain`, `hash_sha256`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Its canonical value.
    pub value: String,
    /// Its verdict.
    pub malice: String,
    /// Who decided the verdict (`enrichment`, `analyst`, …).
    pub malice_source: String,
    /// First seen by Calseta.
    pub first_seen: DateTime<Utc>,
    /// Last seen by Calseta.
    pub last_seen: DateTime<Utc>,
    /// Whether a provider answered for it.
    pub is_enriched: bool,
    /// Each provider's result, without its raw answer.
    #[schema(value_type = Object)]
    pub enrichment_results: Value,
    /// Where extraction found it in this alert (absent for links made before origins were kept).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_in: Option<FoundIn>,
}

/// Where extraction found an indicator in the alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FoundIn {
    /// The field path (`process.command_line`, `Entities[ip].Address`); absent for one added by hand.
    pub field: Option<String>,
    /// The pass: `source_plugin`, `normalized_mappings`, `raw_payload_mappings`, `free_text`, `manual`.
    pub pass: String,
    /// The decoder that revealed it inside an encoded or wrapped field (`cef`, `leef`, `syslog`,
    /// `key-value`, `json`, `powershell-base64`, `url-defence`); absent when written plainly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<String>,
}

impl PayloadBuilder {
    /// A builder reading documents and past alerts through `context`; `api_base_url` is
    /// `CALSETA_API_BASE_URL`, copied into every payload.
    pub fn new(db: calseta_store::Db, context: Arc<AlertContext>, api_base_url: String) -> Self {
        Self { db, context, api_base_url }
    }

    /// The seed's `alert.enriched` payload for an alert, as JSON (also every field of v1's
    /// payload).
    pub async fn build(&self, detail: &AlertDetail) -> Result<Value, ServiceError> {
        let payload = self.build_typed(detail).await?;
        serde_json::to_value(&payload).map_err(|e| ServiceError::Config(format!("payload: {e}")))
    }

    /// The `alert.enriched` payload for an alert.
    pub async fn build_typed(&self, detail: &AlertDetail) -> Result<AlertEnrichedPayload, ServiceError> {
        let ChosenContext { documents, past_alerts } = ChosenContext::of(&self.context, detail).await?;
        let workflows = workflows_repo::active_workflows(&self.db).await?;
        let (succeeded, failed, skipped) = enrichment_outcomes(&detail.indicators);
        let a = &detail.alert;
        let origins = &detail.origins;
        let found_in = |indicator_id: i64| {
            origins.iter().find(|o| o.indicator_id == indicator_id).and_then(|o| {
                o.origin_pass.0.map(|pass| FoundIn {
                    field: o.origin_field.clone(),
                    pass: pass.as_str().to_string(),
                    decoder: o.origin_decoder.clone(),
                })
            })
        };
        let indicators: Vec<PayloadIndicator> = detail
            .indicators
            .iter()
            .map(|i| PayloadIndicator {
                found_in: found_in(i.id),
                uuid: i.uuid,
                kind: i.kind.to_string(),
                value: i.value.clone(),
                malice: i.malice.to_string(),
                malice_source: i.malice_source.to_string(),
                first_seen: i.first_seen,
                last_seen: i.last_seen,
                is_enriched: i.is_enriched,
                enrichment_results: strip_raw(i.enrichment_results.as_ref().map(|j| &j.0)),
            })
            .collect();
        let detection_rule = detail.detection_rule.clone().map(DetectionRuleResponse::from);
        let context_documents: Vec<Value> = documents
            .iter()
            .map(|d| {
                let mut view = document_view(d, true);
                if let Value::Object(map) = &mut view {
                    map.remove("targeting_rules");
                }
                view
            })
            .collect();
        let metadata = PayloadMetadata {
            generated_at: calseta_store::now(),
            alert_source: a.source_name.clone(),
            indicator_count: indicators.len(),
            enrichment: EnrichmentOutcome { succeeded, failed, skipped, enriched_at: a.enriched_at },
            detection_rule_matched: a.detection_rule_id.is_some(),
            context_documents_applied: context_documents.len(),
        };
        let alert = PayloadAlert {
            uuid: a.uuid,
            title: a.title.clone(),
            description: a.description.clone(),
            severity: a.severity.to_string(),
            source_name: a.source_name.clone(),
            status: a.status.to_string(),
            malice: detail.malice(),
            occurred_at: a.occurred_at,
            ingested_at: a.ingested_at,
            enriched_at: a.enriched_at,
            is_enriched: a.is_enriched,
            tags: a.tags.0.clone(),
            close_classification: a.close_classification.map(|c| c.to_string()),
            acknowledged_at: a.acknowledged_at,
            triaged_at: a.triaged_at,
            closed_at: a.closed_at,
            agent_findings: a.agent_findings.as_ref().map(|j| j.0.clone()).unwrap_or(json!([])),
            created_at: a.created_at,
            updated_at: a.updated_at,
            metadata,
        };
        Ok(AlertEnrichedPayload {
            event: "alert.enriched",
            alert,
            indicators,
            detection_rule,
            past_alerts,
            context_documents,
            workflows,
            calseta_api_base_url: self.api_base_url.clone(),
        })
    }
}
