//! The twelve `calseta://` resources: five collections listed as plain resources, seven
//! parameterised ones listed as templates, and how each is read (with its scope).

use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_services::views::documents::document_view;
use calseta_services::views::records::{ActivityEventResponse, DetectionRuleResponse};
use calseta_services::views::workflows::workflow_response;
use calseta_services::{ServiceError, Services};
use calseta_store::alerts::{AlertFilter, AlertSummaryRow};
use calseta_store::context_documents::DocumentFilter;
use calseta_store::detection_rules::{DetectionRuleRow, RuleFilter};
use calseta_store::workflows::WorkflowFilter;
use rmcp::model::{Resource, ResourceTemplate};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::arguments::parse_uuid;
use crate::error::McpFailure;

/// A resource or template as listed.
struct Listed {
    uri: &'static str,
    name: &'static str,
    description: &'static str,
}

/// The collections, listed as plain resources.
const COLLECTIONS: &[Listed] = &[
    Listed {
        uri: "calseta://alerts",
        name: "alerts",
        description: "The 50 most recent alerts (by occurred_at) with status, severity and enrichment state.",
    },
    Listed {
        uri: "calseta://detection-rules",
        name: "detection-rules",
        description: "Detection rules with MITRE mappings and a documentation summary (up to 500).",
    },
    Listed {
        uri: "calseta://context-documents",
        name: "context-documents",
        description: "Runbooks, IR plans and other context documents, without content (up to 500).",
    },
    Listed {
        uri: "calseta://workflows",
        name: "workflows",
        description: "Response workflows with their approval mode, risk level and documentation (up to 500).",
    },
    Listed {
        uri: "calseta://metrics/summary",
        name: "metrics-summary",
        description: "SOC health over the last 30 days: alert counts, MTTD/MTTA/MTTT/MTTC, FP rate, workflows, approvals, queue.",
    },
];

/// The parameterised resources, listed as templates.
const TEMPLATES: &[Listed] = &[
    Listed {
        uri: "calseta://alerts/{uuid}",
        name: "alert",
        description: "One alert with indicators and enrichment results, detection rule and its documentation, applicable context documents, past related alerts and workflows: every field of the alert.enriched payload, and the enrichment_status.",
    },
    Listed {
        uri: "calseta://alerts/{uuid}/context",
        name: "alert-context",
        description: "The context documents that apply to an alert (with content) and its past related alerts.",
    },
    Listed {
        uri: "calseta://alerts/{uuid}/activity",
        name: "alert-activity",
        description: "An alert's activity log, newest first (up to 100 events).",
    },
    Listed {
        uri: "calseta://detection-rules/{uuid}",
        name: "detection-rule",
        description: "One detection rule with its full documentation.",
    },
    Listed {
        uri: "calseta://context-documents/{uuid}",
        name: "context-document",
        description: "One context document with content and targeting rules.",
    },
    Listed {
        uri: "calseta://workflows/{uuid}",
        name: "workflow",
        description: "One workflow with its code and execution settings.",
    },
    Listed {
        uri: "calseta://enrichments/{type}/{value}",
        name: "enrichment",
        description: "Enrich one indicator now with every configured provider (cached). type: ip, domain, hash_md5, hash_sha1, hash_sha256, url, email or account; percent-encode the value.",
    },
];

/// The plain resources as MCP lists them.
pub(crate) fn listed_resources() -> Vec<Resource> {
    COLLECTIONS
        .iter()
        .map(|l| {
            Resource::new(l.uri, l.name).with_description(l.description).with_mime_type("application/json")
        })
        .collect()
}

/// The templates as MCP lists them.
pub(crate) fn listed_templates() -> Vec<ResourceTemplate> {
    TEMPLATES
        .iter()
        .map(|l| {
            ResourceTemplate::new(l.uri, l.name)
                .with_description(l.description)
                .with_mime_type("application/json")
        })
        .collect()
}

/// A resource a URI names.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    Alerts,
    Alert(Uuid),
    AlertContext(Uuid),
    AlertActivity(Uuid),
    DetectionRules,
    DetectionRule(Uuid),
    ContextDocuments,
    ContextDocument(Uuid),
    Workflows,
    Workflow(Uuid),
    MetricsSummary,
    Enrichment { kind: String, value: String },
}

fn unknown(uri: &str) -> McpFailure {
    McpFailure::Service(ServiceError::NotFound(format!(
        "Unknown resource: {uri}. List resources and resource templates for the URIs this server reads."
    )))
}

impl Target {
    /// The resource `uri` names.
    pub(crate) fn parse(uri: &str) -> Result<Target, McpFailure> {
        let path = uri.strip_prefix("calseta://").ok_or_else(|| unknown(uri))?;
        let path = path.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
        if let Some(rest) = path.strip_prefix("enrichments/") {
            let (kind, value) = rest.split_once('/').ok_or_else(|| {
                McpFailure::BadArgument("An enrichment URI is calseta://enrichments/{type}/{value}".into())
            })?;
            let value = percent_encoding::percent_decode_str(value).decode_utf8().map_err(|_| {
                McpFailure::BadArgument("The value is not valid percent-encoded UTF-8".into())
            })?;
            return Ok(Target::Enrichment { kind: kind.to_string(), value: value.into_owned() });
        }
        let parts: Vec<&str> = path.split('/').collect();
        let id = |text: &str| parse_uuid("uuid", text);
        Ok(match parts.as_slice() {
            ["alerts"] => Target::Alerts,
            ["alerts", uuid] => Target::Alert(id(uuid)?),
            ["alerts", uuid, "context"] => Target::AlertContext(id(uuid)?),
            ["alerts", uuid, "activity"] => Target::AlertActivity(id(uuid)?),
            ["detection-rules"] => Target::DetectionRules,
            ["detection-rules", uuid] => Target::DetectionRule(id(uuid)?),
            ["context-documents"] => Target::ContextDocuments,
            ["context-documents", uuid] => Target::ContextDocument(id(uuid)?),
            ["workflows"] => Target::Workflows,
            ["workflows", uuid] => Target::Workflow(id(uuid)?),
            ["metrics", "summary"] => Target::MetricsSummary,
            _ => return Err(unknown(uri)),
        })
    }

    /// The scope reading it takes.
    pub(crate) fn scope(&self) -> Scope {
        match self {
            Target::Workflows | Target::Workflow(_) => Scope::WorkflowsRead,
            Target::Enrichment { .. } => Scope::EnrichmentsRead,
            _ => Scope::AlertsRead,
        }
    }

    /// Reads it.
    pub(crate) async fn read(self, services: &Services) -> Result<Value, McpFailure> {
        Ok(match self {
            Target::Alerts => {
                let filter =
                    AlertFilter { sort_by: "occurred_at".into(), descending: true, ..AlertFilter::default() };
                let (rows, total) =
                    services.alerts.list(&filter, PageRequest { page: 1, page_size: 50 }).await?;
                let alerts: Vec<Value> = rows.iter().map(alert_summary).collect();
                json!({"count": alerts.len(), "total": total, "alerts": alerts})
            }
            Target::Alert(uuid) => alert_resource(services, uuid).await?,
            Target::AlertContext(uuid) => {
                let detail = services.alerts.detail(uuid).await?;
                let documents: Vec<Value> = services
                    .context
                    .documents_for(&detail.alert)
                    .await?
                    .iter()
                    .map(|d| {
                        let mut view = document_view(d, true);
                        if let Value::Object(map) = &mut view {
                            map.retain(|k, _| {
                                [
                                    "uuid",
                                    "title",
                                    "document_type",
                                    "is_global",
                                    "description",
                                    "content",
                                    "tags",
                                ]
                                .contains(&k.as_str())
                            });
                        }
                        view
                    })
                    .collect();
                let past = services.context.past_alerts(&detail.alert, &detail.indicators).await?;
                json!({"count": documents.len(), "context_documents": documents, "past_alerts": past})
            }
            Target::AlertActivity(uuid) => {
                let (rows, total) =
                    services.alerts.activity(uuid, PageRequest { page: 1, page_size: 100 }).await?;
                let activity =
                    rows.into_iter().map(|r| flatten_event(r.into())).collect::<Result<Vec<_>, _>>()?;
                json!({"count": activity.len(), "total": total, "activity": activity})
            }
            Target::DetectionRules => {
                let filter =
                    RuleFilter { sort_by: "created_at".into(), descending: true, ..RuleFilter::default() };
                let (rows, total) = services.detection_rules.list_rules(&filter, 500, 0).await?;
                let rules: Vec<Value> =
                    rows.iter().map(|r| rule_summary(r, "documentation_summary")).collect();
                json!({"count": rules.len(), "total": total, "detection_rules": rules})
            }
            Target::DetectionRule(uuid) => {
                json_of(DetectionRuleResponse::from(services.detection_rules.get_rule(uuid).await?))?
            }
            Target::ContextDocuments => {
                let filter = DocumentFilter {
                    sort_by: "created_at".into(),
                    descending: true,
                    ..DocumentFilter::default()
                };
                let (rows, total) = services.documents.list_documents(&filter, 500, 0).await?;
                let documents: Vec<Value> = rows.iter().map(|d| document_view(d, false)).collect();
                json!({"count": documents.len(), "total": total, "context_documents": documents})
            }
            Target::ContextDocument(uuid) => {
                document_view(&services.documents.get_document(uuid).await?, true)
            }
            Target::Workflows => {
                let filter = WorkflowFilter {
                    sort_by: "created_at".into(),
                    descending: true,
                    ..WorkflowFilter::default()
                };
                let (rows, total) = services.workflows.list(&filter, 500, 0).await?;
                let workflows = rows
                    .into_iter()
                    .map(|r| json_of(workflow_response(r, false)))
                    .collect::<Result<Vec<_>, _>>()?;
                json!({"count": workflows.len(), "total": total, "workflows": workflows})
            }
            Target::Workflow(uuid) => json_of(workflow_response(services.workflows.get(uuid).await?, true))?,
            Target::MetricsSummary => services.metrics.summary().await?,
            Target::Enrichment { kind, value } => enrichment(services, &kind, &value).await?,
        })
    }
}

/// An alert in a list, with v1's fields.
pub(crate) fn alert_summary(r: &AlertSummaryRow) -> Value {
    json!({
        "uuid": r.uuid, "title": r.title, "severity": r.severity, "status": r.status,
        "enrichment_status": r.enrichment_status, "source_name": r.source_name, "occurred_at": r.occurred_at,
        "is_enriched": r.is_enriched, "tags": r.tags.0, "close_classification": r.close_classification,
        "created_at": r.created_at,
    })
}

/// A rule in a list: its documentation cut to 200 characters under `documentation_key`.
pub(crate) fn rule_summary(r: &DetectionRuleRow, documentation_key: &str) -> Value {
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

/// The alert as v1's resource shows it, carrying every field of the `alert.enriched` payload: the
/// alert's own fields at the top level, then indicators, rule, documents, past alerts, workflows.
async fn alert_resource(services: &Services, uuid: Uuid) -> Result<Value, McpFailure> {
    let payload = services.dispatch.payload(uuid, "full").await?;
    let Value::Object(mut payload) = payload else { return Ok(Value::Null) };
    let mut view = match payload.remove("alert") {
        Some(Value::Object(alert)) => alert,
        _ => Map::new(),
    };
    // v1's resource has the alert's enrichment state, which the agent payload does not carry.
    let row = services.alerts.row(uuid).await?;
    view.insert("enrichment_status".into(), Value::String(row.enrichment_status));
    for (key, value) in payload {
        if key != "event" {
            view.insert(key, value);
        }
    }
    Ok(Value::Object(view))
}

/// An activity event with its references in the same object (v1's MCP shape); a reference whose
/// name an event field already has stays under `references`.
fn flatten_event(event: ActivityEventResponse) -> Result<Value, McpFailure> {
    let mut view = json_of(event)?;
    if let Value::Object(map) = &mut view
        && let Some(Value::Object(references)) = map.remove("references")
    {
        let mut kept = Map::new();
        for (key, value) in references {
            if map.contains_key(&key) {
                kept.insert(key, value);
            } else {
                map.insert(key, value);
            }
        }
        if !kept.is_empty() {
            map.insert("references".into(), Value::Object(kept));
        }
    }
    Ok(view)
}

/// `value` as JSON (a view that cannot be written is a server fault, never an empty answer).
pub(crate) fn json_of(value: impl serde::Serialize) -> Result<Value, McpFailure> {
    serde_json::to_value(value)
        .map_err(|e| McpFailure::Service(ServiceError::Config(format!("view JSON: {e}"))))
}

/// On-demand enrichment: `{type, value, results, provider_count}` (and why, when no provider
/// covers the type).
pub(crate) async fn enrichment(services: &Services, kind: &str, value: &str) -> Result<Value, McpFailure> {
    let (kind, value, results) = services.providers.enrich(kind, value).await?;
    let mut view = json!({
        "type": kind.as_str(), "value": value, "provider_count": results.len(), "results": results,
        "enriched_at": calseta_store::now(),
    });
    if view["provider_count"] == 0 {
        view["message"] =
            json!(format!("No configured providers support indicator type '{}'.", kind.as_str()));
    }
    Ok(view)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_join_the_event_unless_their_name_is_taken() {
        let event = ActivityEventResponse {
            uuid: Uuid::nil(),
            event_type: "alert_finding_added".into(),
            actor_type: "mcp".into(),
            actor_key_prefix: Some("cai_abcd".into()),
            alert_id: Some(1),
            workflow_id: None,
            detection_rule_id: None,
            references: json!({"agent_name": "bot", "event_type": "spoofed"}),
            created_at: calseta_store::now(),
        };
        let Ok(view) = flatten_event(event) else { panic!("flattens") };
        assert_eq!(view["agent_name"], "bot");
        assert_eq!(view["event_type"], "alert_finding_added");
        assert_eq!(view["references"], json!({"event_type": "spoofed"}));
    }

    #[test]
    fn uris_name_their_resource_or_say_what_is_wrong() {
        let id = Uuid::new_v4();
        assert_eq!(
            Target::parse(&format!("calseta://alerts/{id}/context")).ok(),
            Some(Target::AlertContext(id))
        );
        assert_eq!(
            Target::parse("calseta://enrichments/url/https%3A%2F%2Fevil.example%2Fa%20b").ok(),
            Some(Target::Enrichment { kind: "url".into(), value: "https://evil.example/a b".into() })
        );
        assert!(matches!(Target::parse("calseta://alerts/nope"), Err(McpFailure::BadArgument(_))));
        assert!(matches!(
            Target::parse("calseta://elsewhere"),
            Err(McpFailure::Service(ServiceError::NotFound(_)))
        ));
        assert!(matches!(
            Target::parse("https://alerts"),
            Err(McpFailure::Service(ServiceError::NotFound(_)))
        ));
    }
}
