//! The `compact` payload profile: the same facts as the full `alert.enriched` payload without the
//! repetition that costs an agent's model tokens. Nulls and empty values go; each provider's
//! result keeps only its extracted fields (no repeated `provider_name`, `status`, `success`,
//! `cache_hit`, timestamps or `error_message: null`); failed lookups keep their error once;
//! skipped lookups (private addresses, unsupported types) are summarised once for the alert;
//! timestamps appear once, on the alert; workflows are only those that act on the alert's
//! indicator types, each with a one-line summary and its uuid (the full documentation is a
//! REST or MCP read away).

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

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

/// The compact profile of a full payload.
pub fn compact(full: &Value) -> Value {
    let alert = &full["alert"];
    let mut skipped: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut kinds: BTreeSet<String> = BTreeSet::new();
    let indicators: Vec<Value> = full["indicators"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|indicator| {
            let value = indicator["value"].as_str().unwrap_or_default().to_string();
            if let Some(kind) = indicator["type"].as_str() {
                kinds.insert(kind.to_string());
            }
            let mut found = Map::new();
            let mut failed = Map::new();
            for (provider, result) in indicator["enrichment_results"].as_object().into_iter().flatten() {
                match result["status"].as_str().unwrap_or_default() {
                    "success" => {
                        // A lookup that found nothing to extract still answered: say so.
                        let extracted = match &result["extracted"] {
                            Value::Object(map) if !map.is_empty() => result["extracted"].clone(),
                            _ => json!("answered, no fields"),
                        };
                        found.insert(provider.clone(), extracted);
                    }
                    "skipped" => {
                        let reason = result["error_message"]
                            .as_str()
                            .unwrap_or("skipped")
                            .trim_start_matches("Enrichment skipped: ")
                            .to_string();
                        skipped.entry(reason).or_default().insert(value.clone());
                    }
                    status => {
                        let error = result["error_message"].as_str().unwrap_or(status).to_string();
                        failed.insert(
                            provider.clone(),
                            json!(if error.is_empty() { "failed".to_string() } else { error }),
                        );
                    }
                }
            }
            let mut out = pick(indicator, &["uuid", "type", "value", "malice"]);
            if indicator["malice_source"] == "analyst" {
                out["malice_source"] = json!("analyst");
            }
            out["enrichment"] = Value::Object(found);
            out["failed"] = Value::Object(failed);
            out
        })
        .collect();
    let workflows: Vec<Value> = full["workflows"]
        .as_array()
        .into_iter()
        .flatten()
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
    let mut alert_out = pick(
        alert,
        &[
            "uuid",
            "title",
            "description",
            "severity",
            "source_name",
            "status",
            "malice",
            "tags",
            "occurred_at",
            "enriched_at",
            "close_classification",
            "acknowledged_at",
            "triaged_at",
            "closed_at",
            "agent_findings",
        ],
    );
    alert_out["enrichment"] = json!({
        "succeeded": alert["_metadata"]["enrichment"]["succeeded"],
        "failed": alert["_metadata"]["enrichment"]["failed"],
        "skipped": skipped.into_iter().map(|(reason, values)| json!({"reason": reason, "indicators": values})).collect::<Vec<_>>(),
    });
    let rule = pick(
        &full["detection_rule"],
        &[
            "uuid",
            "name",
            "source_name",
            "source_rule_id",
            "severity",
            "mitre_tactics",
            "mitre_techniques",
            "mitre_subtechniques",
            "data_sources",
            "documentation",
        ],
    );
    let documents: Vec<Value> = full["context_documents"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| pick(d, &["uuid", "title", "document_type", "description", "content"]))
        .collect();
    let past: Vec<Value> = full["past_alerts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let mut out = pick(
                p,
                &[
                    "uuid",
                    "title",
                    "severity",
                    "status",
                    "close_classification",
                    "occurred_at",
                    "closed_at",
                    "analyst_notes",
                ],
            );
            out["indicators"] = Value::Array(
                p["indicators"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|i| {
                        json!(format!(
                            "{}:{}",
                            i["type"].as_str().unwrap_or_default(),
                            i["value"].as_str().unwrap_or_default()
                        ))
                    })
                    .collect(),
            );
            out
        })
        .collect();
    prune(json!({
        "event": full["event"],
        "profile": "compact",
        "alert": alert_out,
        "indicators": indicators,
        "detection_rule": rule,
        "context_documents": documents,
        "past_alerts": past,
        "workflows": workflows,
        "calseta_api_base_url": full["calseta_api_base_url"],
    }))
    .unwrap_or(Value::Null)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{compact, summary};

    #[test]
    fn repetition_goes_and_facts_stay() {
        let full = json!({
            "event": "alert.enriched",
            "alert": {"uuid": "a1", "title": "Impossible travel", "severity": "High", "description": null, "tags": [],
                      "malice": "Malicious", "updated_at": "2026-01-01T00:00:00Z",
                      "_metadata": {"enrichment": {"succeeded": ["virustotal"], "failed": [], "skipped": []}}},
            "indicators": [
                {"type": "ip", "value": "185.220.101.47", "malice": "Malicious", "first_seen": "x", "enrichment_results": {
                    "virustotal": {"provider_name": "virustotal", "status": "success", "success": true, "cache_hit": false,
                                   "error_message": null, "enriched_at": "t", "extracted": {"malicious_count": 14, "malice": "Malicious"}},
                    "abuseipdb": {"provider_name": "abuseipdb", "status": "failed", "success": false, "error_message": "HTTP 500"}}},
                {"type": "ip", "value": "10.0.0.5", "malice": "Pending", "enrichment_results": {
                    "_validation": {"status": "skipped", "error_message": "Enrichment skipped: private address"}}},
                {"type": "ip", "value": "10.0.0.6", "malice": "Pending", "enrichment_results": {
                    "_validation": {"status": "skipped", "error_message": "Enrichment skipped: private address"}}}],
            "detection_rule": {"name": "Rule", "documentation": "# Rule\nDoc.", "created_at": "t", "run_frequency": null},
            "context_documents": [{"title": "Runbook", "content": "Steps.", "version": 1, "created_at": "t"}],
            "past_alerts": [{"title": "Before", "close_classification": "True Positive - Suspicious Activity", "analyst_notes": "INC-1",
                             "indicators": [{"type": "ip", "value": "185.220.101.47"}]}],
            "workflows": [
                {"uuid": "w1", "name": "Block IP", "indicator_types": ["ip"], "documentation": "Blocks the address at the edge. Then logs.", "tags": []},
                {"uuid": "w2", "name": "Revoke sessions", "indicator_types": ["account"], "documentation": "Long."}],
            "calseta_api_base_url": "http://localhost:8000"
        });
        let c = compact(&full);
        assert_eq!(c["profile"], "compact");
        assert!(c["alert"].get("description").is_none() && c["alert"].get("updated_at").is_none());
        assert_eq!(
            c["indicators"][0],
            json!({"type": "ip", "value": "185.220.101.47", "malice": "Malicious",
            "enrichment": {"virustotal": {"malicious_count": 14, "malice": "Malicious"}}, "failed": {"abuseipdb": "HTTP 500"}})
        );
        assert_eq!(c["indicators"][1], json!({"type": "ip", "value": "10.0.0.5", "malice": "Pending"}));
        assert_eq!(
            c["alert"]["enrichment"]["skipped"],
            json!([{"reason": "private address", "indicators": ["10.0.0.5", "10.0.0.6"]}])
        );
        assert_eq!(c["detection_rule"], json!({"name": "Rule", "documentation": "# Rule\nDoc."}));
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
