//! Short list items as MCP's collections and searches show them (v1's MCP fields): an alert and a
//! detection rule with its documentation cut to 200 characters.

use calseta_store::alerts::AlertSummaryRow;
use calseta_store::detection_rules::DetectionRuleRow;
use serde_json::{Value, json};

/// An alert in an MCP list.
pub fn alert_brief(r: &AlertSummaryRow) -> Value {
    json!({
        "uuid": r.uuid, "title": r.title, "severity": r.severity, "status": r.status,
        "enrichment_status": r.enrichment_status, "source_name": r.source_name, "occurred_at": r.occurred_at,
        "is_enriched": r.is_enriched, "tags": r.tags.0, "close_classification": r.close_classification,
        "created_at": r.created_at,
    })
}

/// A detection rule in an MCP list: its documentation cut to 200 characters under
/// `documentation_key` (v1's collection and search name it differently).
pub fn rule_brief(r: &DetectionRuleRow, documentation_key: &str) -> Value {
    let summary = r.documentation.as_deref().map(|d| {
        if d.chars().count() > 200 {
            format!("{}...", d.chars().take(200).collect::<String>())
        } else {
            d.to_string()
        }
    });
    let mut view = json!({
        "uuid": r.uuid, "name": r.name, "source_name": r.source_name, "severity": r.severity, "is_active": r.is_active,
        "mitre_tactics": r.mitre_tactics.0, "mitre_techniques": r.mitre_techniques.0,
        "mitre_subtechniques": r.mitre_subtechniques.0, "data_sources": r.data_sources.0, "created_at": r.created_at,
    });
    view[documentation_key] = json!(summary);
    view
}
