//! The twelve `calseta://` resources: five collections listed as plain resources, seven
//! parameterised ones listed as templates, and how each is read (with its scope).

use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_services::params::{AlertSearch, DetectionRuleSearch, Paging};
use calseta_services::views::briefs::{alert_brief, rule_brief};
use calseta_services::views::documents::document_view;
use calseta_services::views::enrichment::on_demand;
use calseta_services::views::records::{ActivityEventResponse, DetectionRuleResponse};
use calseta_services::views::workflows::workflow_response;
use calseta_services::{ServiceError, Services};
use rmcp::model::{Resource, ResourceTemplate};
use serde_json::{Map, Value, json};
use uuid::Uuid;

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
                // The 50 most recent by occurred_at: the list's default order.
                let search = AlertSearch { page_size: Some(50), ..AlertSearch::default() };
                let (rows, total, _) = services.alerts.search(&search, Paging::REST).await?;
                let alerts: Vec<Value> = rows.iter().map(alert_brief).collect();
                json!({"count": alerts.len(), "total": total, "alerts": alerts})
            }
            Target::Alert(uuid) => alert_resource(services, uuid).await?,
            Target::AlertContext(uuid) => {
                let alert = services.alerts.with_context(uuid).await?;
                let documents: Vec<Value> = alert
                    .documents
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
                json!({"count": documents.len(), "context_documents": documents, "past_alerts": alert.past_alerts})
            }
            Target::AlertActivity(uuid) => {
                let (rows, total) =
                    services.alerts.activity(uuid, PageRequest { page: 1, page_size: 100 }).await?;
                let activity =
                    rows.into_iter().map(|r| flatten_event(r.into())).collect::<Result<Vec<_>, _>>()?;
                json!({"count": activity.len(), "total": total, "activity": activity})
            }
            Target::DetectionRules => {
                // Up to 500, newest first: the list's default order.
                let search = DetectionRuleSearch { page_size: Some(500), ..DetectionRuleSearch::default() };
                let (rows, total, _) = services.detection_rules.search(&search, Paging::REST).await?;
                let rules: Vec<Value> = rows.iter().map(|r| rule_brief(r, "documentation_summary")).collect();
                json!({"count": rules.len(), "total": total, "detection_rules": rules})
            }
            Target::DetectionRule(uuid) => {
                json_of(DetectionRuleResponse::from(services.detection_rules.get_rule(uuid).await?))?
            }
            Target::ContextDocuments => {
                let (rows, total) = services.documents.newest_documents(500).await?;
                let documents: Vec<Value> = rows.iter().map(|d| document_view(d, false)).collect();
                json!({"count": documents.len(), "total": total, "context_documents": documents})
            }
            Target::ContextDocument(uuid) => {
                document_view(&services.documents.get_document(uuid).await?, true)
            }
            Target::Workflows => {
                let (rows, total) = services.workflows.newest(500).await?;
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
    view.insert("enrichment_status".into(), Value::String(row.enrichment_status.to_string()));
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
    Ok(on_demand(kind, &value, results))
}

/// `text` as a UUID, or an error naming `name`.
fn parse_uuid(name: &str, text: &str) -> Result<Uuid, McpFailure> {
    // Quote at most a UUID's length of what was sent: the message goes back to a model's context.
    let shown: String = text.chars().take(40).collect();
    let more = if text.chars().count() > 40 { "…" } else { "" };
    Uuid::parse_str(text.trim())
        .map_err(|_| McpFailure::BadArgument(format!("{name} must be a UUID, not '{shown}{more}'")))
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
            created_at: chrono::Utc::now(),
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
