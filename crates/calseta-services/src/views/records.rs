//! Records as the API and MCP show them — indicators, detection rules, activity events — and a
//! stored raw payload as the JSON it arrived as.

use crate::views::alert_detail::strip_raw;
use calseta_store::activity::ActivityRow;
use calseta_store::detection_rules::DetectionRuleRow;
use calseta_store::indicators::IndicatorRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;
use utoipa::ToSchema;
use uuid::Uuid;

/// An indicator (`enrichment_results` without raw provider responses unless stated).
#[derive(Debug, Serialize, ToSchema)]
pub struct IndicatorResponse {
    pub uuid: Uuid,
    /// `ip`, `domain`, `hash_md5`, `hash_sha1`, `hash_sha256`, `url`, `email` or `account`.
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub is_enriched: bool,
    /// `Pending`, `Benign`, `Suspicious` or `Malicious`.
    pub malice: String,
    /// `enrichment` or `analyst`.
    pub malice_source: String,
    pub malice_overridden_at: Option<DateTime<Utc>>,
    /// Per provider: `status`, `success`, `extracted`, `enriched_at`, `error_message`, …; `null`
    /// before any lookup.
    #[schema(value_type = Option<Object>)]
    pub enrichment_results: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl IndicatorResponse {
    /// The API view; `with_raw` keeps providers' raw responses (indicator detail only).
    pub fn from_row(row: IndicatorRow, with_raw: bool) -> Self {
        let results = row.enrichment_results.map(|j| j.0);
        let enrichment_results =
            if with_raw { results.unwrap_or(Value::Null) } else { strip_raw(results.as_ref()) };
        IndicatorResponse {
            uuid: row.uuid,
            kind: row.kind.to_string(),
            value: row.value,
            first_seen: row.first_seen,
            last_seen: row.last_seen,
            is_enriched: row.is_enriched,
            malice: row.malice.to_string(),
            malice_source: row.malice_source.to_string(),
            malice_overridden_at: row.malice_overridden_at,
            enrichment_results,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// A detection rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DetectionRuleResponse {
    pub uuid: Uuid,
    pub name: String,
    pub source_rule_id: Option<String>,
    pub source_name: Option<String>,
    pub severity: Option<String>,
    pub is_active: bool,
    pub mitre_tactics: Vec<String>,
    pub mitre_techniques: Vec<String>,
    pub mitre_subtechniques: Vec<String>,
    pub data_sources: Vec<String>,
    pub run_frequency: Option<String>,
    pub created_by: Option<String>,
    pub documentation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<DetectionRuleRow> for DetectionRuleResponse {
    fn from(r: DetectionRuleRow) -> Self {
        DetectionRuleResponse {
            uuid: r.uuid,
            name: r.name,
            source_rule_id: r.source_rule_id,
            source_name: r.source_name,
            severity: r.severity,
            is_active: r.is_active,
            mitre_tactics: r.mitre_tactics.0,
            mitre_techniques: r.mitre_techniques.0,
            mitre_subtechniques: r.mitre_subtechniques.0,
            data_sources: r.data_sources.0,
            run_frequency: r.run_frequency,
            created_by: r.created_by,
            documentation: r.documentation,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// An activity-log event.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActivityEventResponse {
    pub uuid: Uuid,
    pub event_type: String,
    /// `api`, `mcp` or `system`.
    pub actor_type: String,
    pub actor_key_prefix: Option<String>,
    /// Internal ids, as in Calseta v1.
    pub alert_id: Option<i64>,
    pub workflow_id: Option<i64>,
    pub detection_rule_id: Option<i64>,
    #[schema(value_type = Object)]
    pub references: Value,
    pub created_at: DateTime<Utc>,
}

impl From<ActivityRow> for ActivityEventResponse {
    fn from(r: ActivityRow) -> Self {
        ActivityEventResponse {
            uuid: r.uuid,
            event_type: r.event_type,
            actor_type: r.actor_type,
            actor_key_prefix: r.actor_key_prefix,
            alert_id: r.alert_id,
            workflow_id: r.workflow_id,
            detection_rule_id: r.detection_rule_id,
            references: r.references.map(|j| j.0).unwrap_or(Value::Null),
            created_at: r.created_at,
        }
    }
}

/// A stored raw payload as the JSON it arrived as (key order and number spelling kept).
pub fn raw_json(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_string())
        .or_else(|_| RawValue::from_string("null".into()))
        .unwrap_or_else(|_| Box::<RawValue>::default())
}
