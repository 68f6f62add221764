//! Alerts as the API and MCP show them: the list item, and the full alert with its indicators,
//! detection rule, context documents, past alerts and computed `meta`.

use calseta_store::alerts::AlertSummaryRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::views::alert_detail::{AlertDetail, enrichment_outcomes};
use crate::views::records::{DetectionRuleResponse, IndicatorResponse, raw_json};

/// An alert in a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertSummary {
    uuid: Uuid,
    title: String,
    description: Option<String>,
    severity: String,
    status: String,
    enrichment_status: String,
    source_name: String,
    occurred_at: DateTime<Utc>,
    ingested_at: DateTime<Utc>,
    is_enriched: bool,
    duplicate_count: i32,
    tags: Vec<String>,
    close_classification: Option<String>,
    closed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<AlertSummaryRow> for AlertSummary {
    fn from(r: AlertSummaryRow) -> Self {
        AlertSummary {
            uuid: r.uuid,
            title: r.title,
            description: r.description,
            severity: r.severity.to_string(),
            status: r.status.to_string(),
            enrichment_status: r.enrichment_status.to_string(),
            source_name: r.source_name,
            occurred_at: r.occurred_at,
            ingested_at: r.ingested_at,
            is_enriched: r.is_enriched,
            duplicate_count: r.duplicate_count,
            tags: r.tags.0,
            close_classification: r.close_classification.map(|c| c.to_string()),
            closed_at: r.closed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A full alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertResponse {
    uuid: Uuid,
    title: String,
    description: Option<String>,
    severity: String,
    status: String,
    enrichment_status: String,
    source_name: String,
    occurred_at: DateTime<Utc>,
    ingested_at: DateTime<Utc>,
    enriched_at: Option<DateTime<Utc>>,
    is_enriched: bool,
    fingerprint: Option<String>,
    duplicate_count: i32,
    last_seen_at: Option<DateTime<Utc>>,
    close_classification: Option<String>,
    /// Analyst notes recorded at close (Calseta addition).
    close_notes: Option<String>,
    acknowledged_at: Option<DateTime<Utc>>,
    triaged_at: Option<DateTime<Utc>>,
    closed_at: Option<DateTime<Utc>>,
    tags: Vec<String>,
    /// Internal id, as in Calseta v1.
    detection_rule_id: Option<i64>,
    /// The payload exactly as received.
    #[schema(value_type = Object)]
    raw_payload: Box<RawValue>,
    /// The override, else the worst indicator verdict.
    malice: String,
    malice_override: Option<String>,
    malice_override_source: Option<String>,
    malice_override_at: Option<DateTime<Utc>>,
    indicators: Vec<IndicatorResponse>,
    detection_rule: Option<DetectionRuleResponse>,
    /// Documents whose targeting selects this alert (global first).
    #[schema(value_type = Vec<Object>)]
    context_documents: Vec<Value>,
    /// Other alerts sharing indicators, newest first (Calseta addition).
    #[schema(value_type = Vec<Object>)]
    past_alerts: Vec<Value>,
    #[schema(value_type = Option<Vec<Object>>)]
    agent_findings: Option<Value>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// `{"data": <alert>, "meta": <computed metadata>}`
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertEnvelope {
    data: AlertResponse,
    #[schema(value_type = Object)]
    meta: Value,
}

/// The full alert of `detail` with the documents and past alerts chosen for it.
pub fn alert_envelope(
    detail: AlertDetail,
    context_documents: Vec<Value>,
    past_alerts: Vec<Value>,
) -> AlertEnvelope {
    let malice = detail.malice().as_str().to_string();
    let (succeeded, failed, skipped) = enrichment_outcomes(&detail.indicators);
    let a = detail.alert;
    let meta = json!({
        "generated_at": calseta_store::now(),
        "alert_source": a.source_name,
        "indicator_count": detail.indicators.len(),
        "enrichment": {"succeeded": succeeded, "failed": failed, "skipped": skipped, "enriched_at": a.enriched_at},
        "detection_rule_matched": a.detection_rule_id.is_some(),
        "context_documents_applied": context_documents.len(),
    });
    let data = AlertResponse {
        uuid: a.uuid,
        title: a.title,
        description: a.description,
        severity: a.severity.to_string(),
        status: a.status.to_string(),
        enrichment_status: a.enrichment_status.to_string(),
        source_name: a.source_name,
        occurred_at: a.occurred_at,
        ingested_at: a.ingested_at,
        enriched_at: a.enriched_at,
        is_enriched: a.is_enriched,
        fingerprint: a.fingerprint,
        duplicate_count: a.duplicate_count,
        last_seen_at: a.last_seen_at,
        close_classification: a.close_classification.map(|c| c.to_string()),
        close_notes: a.close_notes,
        acknowledged_at: a.acknowledged_at,
        triaged_at: a.triaged_at,
        closed_at: a.closed_at,
        tags: a.tags.0,
        detection_rule_id: a.detection_rule_id,
        raw_payload: raw_json(&a.raw_payload),
        malice,
        malice_override: a.malice_override.map(|m| m.to_string()),
        malice_override_source: a.malice_override_source.map(|s| s.to_string()),
        malice_override_at: a.malice_override_at,
        indicators: detail.indicators.into_iter().map(|i| IndicatorResponse::from_row(i, false)).collect(),
        detection_rule: detail.detection_rule.map(Into::into),
        context_documents,
        past_alerts,
        agent_findings: a.agent_findings.map(|j| j.0),
        created_at: a.created_at,
        updated_at: a.updated_at,
    };
    AlertEnvelope { data, meta }
}
