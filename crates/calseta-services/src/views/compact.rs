//! The `compact` payload profile: the same facts as the full `alert.enriched` payload without the
//! repetition that costs an agent's model tokens. Nulls and empty values go; each provider's
//! result keeps only its extracted fields (no repeated `provider_name`, `status`, `success`,
//! `cache_hit`, timestamps or `error_message: null`); failed lookups keep their error once;
//! skipped lookups (private addresses, unsupported types) are summarised once for the alert;
//! timestamps appear once, on the alert; workflows are only those that act on the alert's
//! indicator types, each with a one-line summary and its uuid (the full documentation is a
//! REST or MCP read away).

use std::collections::{BTreeMap, BTreeSet};

use calseta_core::alerts::Malice;
use calseta_core::enrichment::{IndicatorResults, ResultStatus};
use calseta_core::indicators::MaliceSource;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::views::payload::AlertEnrichedPayload;

/// The profiles an agent can receive.
pub const PROFILES: [&str; 2] = ["full", "compact"];

/// Drops nulls, empty strings, empty lists and empty objects, recursively.
fn prune(value: Value) -> Option<Value> {
    match value {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(items) => {
            let items: Vec<Value> = items.into_iter().filter_map(prune).collect();
            (!items.is_empty()).then_some(Value::Array(items))
        }
        Value::Object(map) => {
            let map: Map<String, Value> =
                map.into_iter().filter_map(|(k, v)| prune(v).map(|v| (k, v))).collect();
            (!map.is_empty()).then_some(Value::Object(map))
        }
        other => Some(other),
    }
}

fn pick(source: &Value, keys: &[&str]) -> Value {
    let mut out = Map::new();
    for key in keys {
        if let Some(v) = source.get(*key) {
            out.insert((*key).to_string(), v.clone());
        }
    }
    Value::Object(out)
}

/// The first sentence or line of a text, at most 160 characters.
fn summary(text: &str) -> String {
    let line = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or_default();
    let sentence = line.split_inclusive(". ").next().unwrap_or(line).trim();
    if sentence.chars().count() <= 160 {
        sentence.to_string()
    } else {
        let mut cut: String = sentence.chars().take(159).collect();
        cut.push('…');
        cut
    }
}

/// The compact profile of the `alert.enriched` payload (every fact of the full one, none of its
/// repetition); nulls and empty values are dropped when it is serialized by [`compact`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactPayload {
    /// Always `alert.enriched`.
    pub event: &'static str,
    /// Always `compact`.
    pub profile: &'static str,
    /// The alert, with its enrichment summary.
    pub alert: CompactAlert,
    /// Its indicators: each provider's extracted fields, and the failures.
    pub indicators: Vec<CompactIndicator>,
    /// The detection rule and its documentation.
    pub detection_rule: Option<CompactRule>,
    /// The context documents (`uuid`, `title`, `document_type`, `description`, `content`).
    #[schema(value_type = Vec<Object>)]
    pub context_documents: Vec<Value>,
    /// Past alerts sharing indicators, each indicator as `type:value`.
    pub past_alerts: Vec<CompactPastAlert>,
    /// The workflows that act on the alert's indicator types, each with a one-line summary.
    #[schema(value_type = Vec<Object>)]
    pub workflows: Vec<Value>,
    /// Where to call back.
    pub calseta_api_base_url: String,
}

/// The compact alert: its facts once, timestamps included.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactAlert {
    /// Its id.
    pub uuid: Uuid,
    /// Title.
    pub title: String,
    /// Description.
    pub description: Option<String>,
    /// Severity.
    pub severity: String,
    /// Source.
    pub source_name: String,
    /// Status.
    pub status: String,
    /// Verdict.
    #[schema(value_type = String)]
    pub malice: Malice,
    /// Tags.
    pub tags: Vec<String>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When its enrichment completed.
    pub enriched_at: Option<DateTime<Utc>>,
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
    /// Providers by outcome; skipped lookups grouped by reason.
    pub enrichment: CompactEnrichment,
}

/// The enrichment summary of a compact alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactEnrichment {
    /// Providers with a successful lookup.
    pub succeeded: Vec<String>,
    /// Providers with a failed lookup.
    pub failed: Vec<String>,
    /// Skipped lookups, once per reason.
    pub skipped: Vec<SkippedLookups>,
}

/// Indicators whose lookups were skipped for one reason.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct SkippedLookups {
    /// Why (`private address`, …).
    pub reason: String,
    /// The indicators' values.
    pub indicators: Vec<String>,
}

/// A compact indicator.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactIndicator {
    /// Its id.
    pub uuid: Uuid,
    /// Its type.
    #[serde(rename = "type")]
    pub kind: String,
    /// Its value.
    pub value: String,
    /// Its verdict.
    pub malice: String,
    /// `analyst` when an analyst set the verdict (otherwise absent).
    pub malice_source: Option<&'static str>,
    /// Each answering provider's extracted fields.
    #[schema(value_type = Object)]
    pub enrichment: Map<String, Value>,
    /// Each failed provider's error.
    #[schema(value_type = Object)]
    pub failed: Map<String, Value>,
}

/// The compact detection rule.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactRule {
    /// Its id.
    pub uuid: Uuid,
    /// Its name.
    pub name: String,
    /// The SIEM.
    pub source_name: Option<String>,
    /// The SIEM's id of it.
    pub source_rule_id: Option<String>,
    /// Its severity.
    pub severity: Option<String>,
    /// MITRE ATT&CK tactics.
    pub mitre_tactics: Vec<String>,
    /// MITRE ATT&CK techniques.
    pub mitre_techniques: Vec<String>,
    /// MITRE ATT&CK sub-techniques.
    pub mitre_subtechniques: Vec<String>,
    /// Data sources.
    pub data_sources: Vec<String>,
    /// Its documentation.
    pub documentation: Option<String>,
}

/// A compact past alert.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CompactPastAlert {
    /// Its id.
    pub uuid: Uuid,
    /// Its title.
    pub title: String,
    /// Its status.
    pub status: String,
    /// How it was closed.
    pub close_classification: Option<String>,
    /// When it happened.
    pub occurred_at: DateTime<Utc>,
    /// When it was closed.
    pub closed_at: Option<DateTime<Utc>>,
    /// Notes on it.
    pub analyst_notes: Option<String>,
    /// The shared indicators, `type:value`.
    pub indicators: Vec<String>,
}

/// The compact profile of a full payload, derived field by field.
pub fn compact_payload(full: &AlertEnrichedPayload) -> CompactPayload {
    let mut skipped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let kinds: BTreeSet<&str> = full.indicators.iter().map(|i| i.kind.as_str()).collect();
    let indicators = full
        .indicators
        .iter()
        .map(|indicator| {
            let mut found = Map::new();
            let mut failed = Map::new();
            let results = IndicatorResults::from_json(Some(&indicator.enrichment_results));
            for (provider, result) in results.0 {
                match result.status {
                    ResultStatus::Success => {
                        // A lookup that found nothing to extract still answered: say so.
                        let extracted = match result.extracted {
                            Some(fields) if !fields.is_empty() => Value::Object(fields),
                            _ => json!("answered, no fields"),
                        };
                        found.insert(provider, extracted);
                    }
                    ResultStatus::Skipped { .. } | ResultStatus::Deferred { .. } => {
                        let reason = result.status.skip_reason().filter(|r| !r.is_empty());
                        skipped
                            .entry(reason.unwrap_or_else(|| "skipped".into()))
                            .or_default()
                            .insert(indicator.value.clone());
                    }
                    ResultStatus::Failed { error } => {
                        failed.insert(
                            provider,
                            json!(if error.is_empty() { "failed".to_string() } else { error }),
                        );
                    }
                }
            }
            CompactIndicator {
                uuid: indicator.uuid,
                kind: indicator.kind.clone(),
                value: indicator.value.clone(),
                malice: indicator.malice.clone(),
                malice_source: (MaliceSource::parse(&indicator.malice_source) == Ok(MaliceSource::Analyst))
                    .then_some(MaliceSource::Analyst.as_str()),
                enrichment: found,
                failed,
            }
        })
        .collect();
    let workflows = full
        .workflows
        .iter()
        .filter(|w| {
            let types: Vec<&str> =
                w["indicator_types"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
            // A workflow for every type (none listed) applies to every alert.
            types.is_empty() || types.iter().any(|t| kinds.contains(*t))
        })
        .map(|w| {
            let mut out = pick(w, &["uuid", "name", "risk_level", "approval_mode", "indicator_types"]);
            out["summary"] = json!(summary(w["documentation"].as_str().unwrap_or_default()));
            out
        })
        .collect();
    let a = &full.alert;
    let alert = CompactAlert {
        uuid: a.uuid,
        title: a.title.clone(),
        description: a.description.clone(),
        severity: a.severity.clone(),
        source_name: a.source_name.clone(),
        status: a.status.clone(),
        malice: a.malice,
        tags: a.tags.clone(),
        occurred_at: a.occurred_at,
        enriched_at: a.enriched_at,
        close_classification: a.close_classification.clone(),
        acknowledged_at: a.acknowledged_at,
        triaged_at: a.triaged_at,
        closed_at: a.closed_at,
        agent_findings: a.agent_findings.clone(),
        enrichment: CompactEnrichment {
            succeeded: a.metadata.enrichment.succeeded.clone(),
            failed: a.metadata.enrichment.failed.clone(),
            skipped: skipped
                .into_iter()
                .map(|(reason, values)| SkippedLookups { reason, indicators: values.into_iter().collect() })
                .collect(),
        },
    };
    let detection_rule = full.detection_rule.as_ref().map(|r| CompactRule {
        uuid: r.uuid,
        name: r.name.clone(),
        source_name: r.source_name.clone(),
        source_rule_id: r.source_rule_id.clone(),
        severity: r.severity.clone(),
        mitre_tactics: r.mitre_tactics.clone(),
        mitre_techniques: r.mitre_techniques.clone(),
        mitre_subtechniques: r.mitre_subtechniques.clone(),
        data_sources: r.data_sources.clone(),
        documentation: r.documentation.clone(),
    });
    let context_documents = full
        .context_documents
        .iter()
        .map(|d| pick(d, &["uuid", "title", "document_type", "description", "content"]))
        .collect();
    let past_alerts = full
        .past_alerts
        .iter()
        .map(|p| CompactPastAlert {
            uuid: p.uuid,
            title: p.title.clone(),
            status: p.status.clone(),
            close_classification: p.close_classification.clone(),
            occurred_at: p.occurred_at,
            closed_at: p.closed_at,
            analyst_notes: p.analyst_notes.clone(),
            indicators: p
                .indicators
                .iter()
                .map(|i| {
                    format!(
                        "{}:{}",
                        i["type"].as_str().unwrap_or_default(),
                        i["value"].as_str().unwrap_or_default()
                    )
                })
                .collect(),
        })
        .collect();
    CompactPayload {
        event: full.event,
        profile: "compact",
        alert,
        indicators,
        detection_rule,
        context_documents,
        past_alerts,
        workflows,
        calseta_api_base_url: full.calseta_api_base_url.clone(),
    }
}

/// The compact profile of a full payload as JSON: [`compact_payload`], without nulls and empty
/// values.
pub fn compact(full: &AlertEnrichedPayload) -> Value {
    serde_json::to_value(compact_payload(full)).ok().and_then(prune).unwrap_or(Value::Null)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use calseta_core::alerts::Malice;
    use chrono::Utc;
    use serde_json::{Value, json};
    use uuid::Uuid;

    use super::{compact, summary};
    use crate::pipeline::context::PastAlert;
    use crate::views::payload::{
        AlertEnrichedPayload, EnrichmentOutcome, PayloadAlert, PayloadIndicator, PayloadMetadata,
    };
    use crate::views::records::DetectionRuleResponse;

    fn indicator(value: &str, malice: &str, results: Value) -> PayloadIndicator {
        PayloadIndicator {
            uuid: Uuid::nil(),
            kind: "ip".into(),
            value: value.into(),
            malice: malice.into(),
            malice_source: "enrichment".into(),
            first_seen: Utc::now(),
            last_seen: Utc::now(),
            is_enriched: true,
            enrichment_results: results,
            found_in: None,
        }
    }

    fn payload() -> AlertEnrichedPayload {
        let now = Utc::now();
        let skipped = json!({"_validation": {"status": "skipped", "error_message": "Enrichment skipped: private address"}});
        AlertEnrichedPayload {
            event: "alert.enriched",
            alert: PayloadAlert {
                uuid: Uuid::nil(),
                title: "Impossible travel".into(),
                description: None,
                severity: "High".into(),
                source_name: "sentinel".into(),
                status: "Open".into(),
                malice: Malice::Malicious,
                occurred_at: now,
                ingested_at: now,
                enriched_at: Some(now),
                is_enriched: true,
                tags: vec![],
                close_classification: None,
                acknowledged_at: None,
                triaged_at: None,
                closed_at: None,
                agent_findings: json!([]),
                created_at: now,
                updated_at: now,
                metadata: PayloadMetadata {
                    generated_at: now,
                    alert_source: "sentinel".into(),
                    indicator_count: 3,
                    enrichment: EnrichmentOutcome {
                        succeeded: vec!["virustotal".into()],
                        failed: vec![],
                        skipped: vec![],
                        enriched_at: Some(now),
                    },
                    detection_rule_matched: true,
                    context_documents_applied: 1,
                },
            },
            indicators: vec![
                indicator(
                    "185.220.101.47",
                    "Malicious",
                    json!({
                        "virustotal": {"provider_name": "virustotal", "status": "success", "success": true, "cache_hit": false,
                                       "error_message": null, "enriched_at": "t", "extracted": {"malicious_count": 14, "malice": "Malicious"}},
                        "abuseipdb": {"provider_name": "abuseipdb", "status": "failed", "success": false, "error_message": "HTTP 500"}}),
                ),
                indicator("10.0.0.5", "Pending", skipped.clone()),
                indicator("10.0.0.6", "Pending", skipped),
            ],
            detection_rule: Some(DetectionRuleResponse {
                uuid: Uuid::nil(),
                name: "Rule".into(),
                source_rule_id: None,
                source_name: None,
                severity: None,
                is_active: true,
                mitre_tactics: vec![],
                mitre_techniques: vec![],
                mitre_subtechniques: vec![],
                data_sources: vec![],
                run_frequency: None,
                created_by: None,
                documentation: Some("# Rule\nDoc.".into()),
                created_at: now,
                updated_at: now,
            }),
            past_alerts: vec![PastAlert {
                uuid: Uuid::nil(),
                title: "Before".into(),
                status: "Closed".into(),
                close_classification: Some("True Positive - Suspicious Activity".into()),
                closed_at: None,
                occurred_at: now,
                indicators: vec![json!({"type": "ip", "value": "185.220.101.47"})],
                analyst_notes: Some("INC-1".into()),
            }],
            context_documents: vec![
                json!({"title": "Runbook", "content": "Steps.", "version": 1, "created_at": "t"}),
            ],
            workflows: vec![
                json!({"uuid": "w1", "name": "Block IP", "indicator_types": ["ip"], "documentation": "Blocks the address at the edge. Then logs.", "tags": []}),
                json!({"uuid": "w2", "name": "Revoke sessions", "indicator_types": ["account"], "documentation": "Long."}),
            ],
            calseta_api_base_url: "http://localhost:8000".into(),
        }
    }

    #[test]
    fn repetition_goes_and_facts_stay() {
        let c = compact(&payload());
        let nil = Uuid::nil().to_string();
        assert_eq!(c["profile"], "compact");
        assert!(c["alert"].get("description").is_none() && c["alert"].get("updated_at").is_none());
        assert_eq!(
            c["indicators"][0],
            json!({"uuid": nil, "type": "ip", "value": "185.220.101.47", "malice": "Malicious",
            "enrichment": {"virustotal": {"malicious_count": 14, "malice": "Malicious"}}, "failed": {"abuseipdb": "HTTP 500"}})
        );
        assert_eq!(
            c["indicators"][1],
            json!({"uuid": nil, "type": "ip", "value": "10.0.0.5", "malice": "Pending"})
        );
        assert_eq!(
            c["alert"]["enrichment"]["skipped"],
            json!([{"reason": "private address", "indicators": ["10.0.0.5", "10.0.0.6"]}])
        );
        assert_eq!(
            c["detection_rule"],
            json!({"uuid": nil, "name": "Rule", "documentation": "# Rule\nDoc."})
        );
        assert_eq!(c["context_documents"], json!([{"title": "Runbook", "content": "Steps."}]));
        assert_eq!(c["past_alerts"][0]["indicators"], json!(["ip:185.220.101.47"]));
        assert_eq!(c["past_alerts"][0]["analyst_notes"], "INC-1");
        assert_eq!(
            c["workflows"],
            json!([{"uuid": "w1", "name": "Block IP", "indicator_types": ["ip"], "summary": "Blocks the address at the edge."}])
        );
    }

    #[test]
    fn summaries_are_one_short_line() {
        assert_eq!(summary("# Title\n\nTerminates all sessions. Then more."), "Terminates all sessions.");
        assert_eq!(summary(&"x".repeat(300)).chars().count(), 160);
        assert_eq!(summary(""), "");
    }
}
