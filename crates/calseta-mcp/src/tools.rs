//! The tools: v1's eight (findings, status, malice, searches, enrichment, workflow execution) and
//! Calseta's additions (pending approvals, approve/reject, the agent payload). Each names its scope
//! and input schema here; its arguments are checked before any use case runs.

use std::sync::{Arc, OnceLock};

use calseta_core::alerts::{AlertStatus, CloseClassification, Malice};
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_services::Services;
use calseta_services::audit::Actor;
use calseta_services::pipeline::respond::{Caller, Decision, ExecuteRequest, Execution};
use calseta_services::resources::alerts::{AlertPatch, FindingInput};
use calseta_services::resources::api_keys::ApiKey;
use calseta_services::views::workflows::ApprovalResponse;
use calseta_store::alerts::AlertFilter;
use calseta_store::detection_rules::RuleFilter;
use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};

use crate::arguments::Arguments;
use crate::error::McpFailure;
use crate::resources::{alert_summary, enrichment, json_of, rule_summary};

/// One tool: its name, scope, whether it only reads, description and argument schema.
struct ToolSpec {
    name: &'static str,
    scope: Scope,
    read_only: bool,
    description: &'static str,
    schema: fn() -> Value,
}

const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: "post_alert_finding",
        scope: Scope::AlertsWrite,
        read_only: false,
        schema: post_alert_finding_schema,
        description: "Post an analysis finding to an alert (appended to its findings and activity log).",
    },
    ToolSpec {
        name: "update_alert_status",
        scope: Scope::AlertsWrite,
        read_only: false,
        schema: update_alert_status_schema,
        description: "Change an alert's status (Open, Triaging, Escalated, Closed). Closing needs a close_classification.",
    },
    ToolSpec {
        name: "search_alerts",
        scope: Scope::AlertsRead,
        read_only: true,
        schema: search_alerts_schema,
        description: "Search alerts by status, severity, source, enrichment state, time window and tags.",
    },
    ToolSpec {
        name: "update_alert_malice",
        scope: Scope::AlertsWrite,
        read_only: false,
        schema: update_alert_malice_schema,
        description: "Set the analyst verdict on an alert (Pending, Benign, Suspicious, Malicious), or null to return to the indicators' verdict.",
    },
    ToolSpec {
        name: "search_detection_rules",
        scope: Scope::AlertsRead,
        read_only: true,
        schema: search_detection_rules_schema,
        description: "Search detection rules by name, MITRE tactic or technique, source and state.",
    },
    ToolSpec {
        name: "enrich_indicator",
        scope: Scope::EnrichmentsRead,
        read_only: true,
        schema: enrich_indicator_schema,
        description: "Enrich one indicator now with every configured provider (results are cached).",
    },
    ToolSpec {
        name: "update_indicator_malice",
        scope: Scope::AlertsWrite,
        read_only: false,
        schema: update_indicator_malice_schema,
        description: "Set the analyst verdict on an indicator, or null to return to the providers' verdict.",
    },
    ToolSpec {
        name: "execute_workflow",
        scope: Scope::WorkflowsExecute,
        read_only: false,
        schema: execute_workflow_schema,
        description: "Run a response workflow for an indicator. Workflows that need a human answer pending_approval (give a reason and a confidence); others are queued at once.",
    },
    ToolSpec {
        name: "list_pending_approvals",
        scope: Scope::ApprovalsWrite,
        read_only: true,
        schema: list_pending_approvals_schema,
        description: "Workflow runs waiting for a human decision, newest first.",
    },
    ToolSpec {
        name: "approve_workflow",
        scope: Scope::ApprovalsWrite,
        read_only: false,
        schema: decision_schema,
        description: "Approve a pending workflow approval request: the workflow runs once.",
    },
    ToolSpec {
        name: "reject_workflow",
        scope: Scope::ApprovalsWrite,
        read_only: false,
        schema: decision_schema,
        description: "Reject a pending workflow approval request: nothing runs.",
    },
    ToolSpec {
        name: "get_alert_payload",
        scope: Scope::AlertsRead,
        read_only: true,
        schema: get_alert_payload_schema,
        description: "The alert.enriched payload of an alert as an agent receives it: profile compact (default; the same facts in fewer tokens) or full.",
    },
];

fn spec(name: &str) -> Option<&'static ToolSpec> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The catalogue, with each tool's schema, built once per process.
fn catalogue() -> &'static [Tool] {
    static CATALOGUE: OnceLock<Vec<Tool>> = OnceLock::new();
    CATALOGUE.get_or_init(|| {
        TOOLS
            .iter()
            .map(|t| {
                let schema: JsonObject = match (t.schema)() {
                    Value::Object(map) => map,
                    _ => JsonObject::new(),
                };
                Tool::new(t.name, t.description, Arc::new(schema))
                    .with_annotations(ToolAnnotations::new().read_only(t.read_only).open_world(false))
            })
            .collect()
    })
}

/// Every tool as MCP lists it.
pub(crate) fn listed_tools() -> Vec<Tool> {
    catalogue().to_vec()
}

/// The scope tool `name` takes, if it exists.
pub(crate) fn scope_of(name: &str) -> Option<Scope> {
    spec(name).map(|t| t.scope)
}

/// The argument names tool `name` accepts.
fn known_arguments(name: &str) -> Vec<&'static str> {
    catalogue()
        .iter()
        .find(|t| t.name == name)
        .and_then(|t| t.input_schema.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Runs tool `name` for `key` with `arguments`.
pub(crate) async fn call(
    services: &Services,
    key: &ApiKey,
    name: &str,
    arguments: Option<JsonObject>,
) -> Result<Value, McpFailure> {
    let args = Arguments::new(arguments, &known_arguments(name))?;
    let actor = Actor::mcp(key);
    match name {
        "post_alert_finding" => {
            let alert_uuid = args.uuid("alert_uuid")?;
            let input = FindingInput {
                agent_name: args.text("agent_name")?.unwrap_or_else(|| "mcp-agent".into()),
                summary: args.required_text("summary")?,
                confidence: Some(args.required_text("confidence")?),
                recommended_action: args.text("recommended_action")?,
                evidence: args.object("evidence")?,
            };
            let finding = services.alerts.add_finding(alert_uuid, input, &actor).await?;
            Ok(
                json!({"finding_id": finding["id"], "alert_uuid": alert_uuid, "posted_at": finding["posted_at"]}),
            )
        }
        "update_alert_status" => {
            let alert_uuid = args.uuid("alert_uuid")?;
            let status = one_of(&args.required_text("status")?, "status", &AlertStatus::names())?;
            let classification = args
                .text("close_classification")?
                .map(|c| one_of(&c, "close_classification", &CloseClassification::names()))
                .transpose()?;
            if status == "Closed" && classification.is_none() {
                return Err(McpFailure::BadArgument(
                    "close_classification is required to close an alert".into(),
                ));
            }
            let patch = AlertPatch {
                status: Some(status),
                close_classification: classification.map(Some),
                close_notes: args.text("close_notes")?.map(Some),
                ..AlertPatch::default()
            };
            let (previous, detail) = services.alerts.patch_from(alert_uuid, patch, &actor).await?;
            Ok(json!({"alert_uuid": alert_uuid, "status": detail.alert.status, "previous_status": previous,
                "close_classification": detail.alert.close_classification, "updated_at": detail.alert.updated_at}))
        }
        "search_alerts" => {
            let sort = args.sort_by(
                &["title", "status", "severity", "source_name", "occurred_at", "created_at"],
                "occurred_at",
            )?;
            let filter = AlertFilter {
                statuses: args.list("status")?,
                severities: args.list("severity")?,
                source_names: args.list("source_name")?,
                enrichment_statuses: args.list("enrichment_status")?,
                is_enriched: args.boolean("is_enriched")?,
                from_time: args.time("from_time")?,
                to_time: args.time("to_time")?,
                tags: args.list("tags")?,
                sort_by: sort,
                descending: args.descending()?,
                ..AlertFilter::default()
            };
            let page = args.page()?;
            let (rows, total) = services.alerts.list(&filter, page).await?;
            let alerts: Vec<Value> = rows.iter().map(alert_summary).collect();
            Ok(json!({"alerts": alerts, "total": total, "page": page.page, "page_size": page.page_size}))
        }
        "update_alert_malice" => {
            let alert_uuid = args.uuid("alert_uuid")?;
            let malice = args.text("malice")?.map(|m| one_of(&m, "malice", &Malice::names())).transpose()?;
            let patch = AlertPatch {
                reset_malice_override: malice.is_none(),
                malice_override: malice,
                ..AlertPatch::default()
            };
            let detail = services.alerts.patch(alert_uuid, patch, &actor).await?;
            Ok(json!({"alert_uuid": alert_uuid, "malice_override": detail.alert.malice_override,
                "effective_malice": detail.malice().as_str(), "updated_at": detail.alert.updated_at}))
        }
        "search_detection_rules" => {
            let filter = RuleFilter {
                name_contains: args.text("name")?.filter(|n| !n.trim().is_empty()),
                mitre_tactic: args.text("mitre_tactic")?,
                mitre_technique: args.text("mitre_technique")?,
                source_names: args.list("source_name")?,
                severities: args.list("severity")?,
                is_active: args.boolean("is_active")?,
                sort_by: args.sort_by(&["name", "source_name", "severity", "created_at"], "created_at")?,
                descending: args.descending()?,
            };
            let page = args.page()?;
            let (rows, total) =
                services.detection_rules.list_rules(&filter, page.limit(), page.offset()).await?;
            let rules: Vec<Value> = rows.iter().map(|r| rule_summary(r, "documentation")).collect();
            Ok(
                json!({"detection_rules": rules, "total": total, "page": page.page, "page_size": page.page_size}),
            )
        }
        "enrich_indicator" => {
            enrichment(services, &args.required_text("type")?, &args.required_text("value")?).await
        }
        "update_indicator_malice" => {
            let indicator_uuid = args.uuid("indicator_uuid")?;
            let malice = args
                .text("malice")?
                .map(|m| Malice::parse(&m).map_err(|e| McpFailure::BadArgument(e.to_string())))
                .transpose()?;
            let row = services.indicators.set_malice(indicator_uuid, malice, &actor).await?;
            Ok(
                json!({"indicator_uuid": indicator_uuid, "malice": row.malice, "malice_source": row.malice_source,
                "updated_at": row.updated_at}),
            )
        }
        "execute_workflow" => {
            let workflow_uuid = args.uuid("workflow_uuid")?;
            let request = ExecuteRequest {
                indicator_type: args.required_text("indicator_type")?,
                indicator_value: args.required_text("indicator_value")?,
                alert_uuid: args.optional_uuid("alert_uuid")?,
                reason: args.text("reason")?,
                confidence: args.number("confidence")?,
            };
            // As in v1, a call through MCP is an agent's: the approval gate treats it so, and asks
            // for a reason and a confidence only when a human will be asked.
            let caller = Caller {
                key_prefix: key.key_prefix.clone(),
                by_agent: true,
                actor_type: "mcp",
                explain_always: false,
            };
            Ok(match services.respond.execute(workflow_uuid, request, &caller).await? {
                Execution::Queued { run_uuid } => {
                    json!({"status": "queued", "run_uuid": run_uuid, "workflow_uuid": workflow_uuid})
                }
                Execution::PendingApproval { approval_uuid, expires_at } => json!({
                    "status": "pending_approval", "approval_request_uuid": approval_uuid,
                    "workflow_uuid": workflow_uuid, "expires_at": expires_at}),
            })
        }
        "list_pending_approvals" => {
            let workflow = args.optional_uuid("workflow_uuid")?;
            let page = args.page()?;
            let (rows, total) =
                services.respond.approvals(Some("pending"), workflow, page.limit(), page.offset()).await?;
            let approvals: Vec<ApprovalResponse> = rows.into_iter().map(Into::into).collect();
            Ok(
                json!({"approvals": approvals, "total": total, "page": page.page, "page_size": page.page_size}),
            )
        }
        "approve_workflow" | "reject_workflow" => {
            let uuid = args.uuid("approval_request_uuid")?;
            let decision = if name == "approve_workflow" { Decision::Approve } else { Decision::Reject };
            let responder = args.text("responder_id")?.filter(|r| !r.trim().is_empty());
            if responder.as_ref().is_some_and(|r| r.chars().count() > 255) {
                return Err(McpFailure::BadArgument("responder_id is at most 255 characters".into()));
            }
            let responder = responder.unwrap_or_else(|| key.key_prefix.clone());
            let by_agent = key.key_type == "agent";
            let row = services.respond.decide(uuid, decision, &responder, &actor, by_agent, "mcp").await?;
            json_of(ApprovalResponse::from(row))
        }
        "get_alert_payload" => {
            let alert_uuid = args.uuid("alert_uuid")?;
            let profile = args.text("profile")?.unwrap_or_else(|| "compact".into());
            let profile = one_of(&profile, "profile", &["compact", "full"])?;
            Ok(services.dispatch.payload(alert_uuid, &profile).await?)
        }
        // Unreachable: the server refuses names outside the catalogue before calling.
        other => Err(McpFailure::BadArgument(format!("Unknown tool: {other}"))),
    }
}

/// `value` if it is one of `allowed`, else an error naming `name` and the choices.
fn one_of(value: &str, name: &str, allowed: &[&str]) -> Result<String, McpFailure> {
    if allowed.contains(&value) {
        Ok(value.to_string())
    } else {
        Err(McpFailure::BadArgument(format!("{name} must be one of: {}. Got '{value}'.", allowed.join(", "))))
    }
}

fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn uuid_property(description: &str) -> Value {
    json!({"type": "string", "format": "uuid", "description": description})
}

fn choice(values: &[&str], description: &str) -> Value {
    json!({"type": "string", "enum": values, "description": description})
}

fn nullable_choice(values: &[&str], description: &str) -> Value {
    json!({"type": ["string", "null"], "enum": values.iter().map(|v| json!(v)).chain([Value::Null]).collect::<Vec<_>>(),
        "description": description})
}

fn text(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn paging() -> [(&'static str, Value); 4] {
    [
        ("sort_order", choice(&["asc", "desc"], "Default desc.")),
        ("page", json!({"type": "integer", "minimum": 1, "default": 1})),
        ("page_size", json!({"type": "integer", "minimum": 1, "maximum": 100, "default": 20})),
        ("sort_by", json!({"type": "string"})),
    ]
}

fn with_paging(mut properties: Value, sort_by: &[&str]) -> Value {
    for (name, schema) in paging() {
        properties[name] = schema;
    }
    properties["sort_by"] = choice(sort_by, "Field to sort by.");
    properties
}

fn post_alert_finding_schema() -> Value {
    object(
        json!({
            "alert_uuid": uuid_property("The alert."),
            "summary": text("What the agent found (1 to 50,000 characters)."),
            "confidence": choice(&["low", "medium", "high"], "How sure the agent is."),
            "agent_name": text("Who posts it (default mcp-agent)."),
            "recommended_action": text("What the agent recommends."),
            "evidence": {"type": "object", "description": "Supporting data (at most 64 KB)."},
        }),
        &["alert_uuid", "summary", "confidence"],
    )
}

fn update_alert_status_schema() -> Value {
    object(
        json!({
            "alert_uuid": uuid_property("The alert."),
            "status": choice(&AlertStatus::names(), "The new status."),
            "close_classification": choice(&CloseClassification::names(), "Required when status is Closed."),
            "close_notes": text("Analyst notes, shown with past alerts."),
        }),
        &["alert_uuid", "status"],
    )
}

fn search_alerts_schema() -> Value {
    object(
        with_paging(
            json!({
                "status": text("Comma-separated: Open, Triaging, Escalated, Closed."),
                "severity": text("Comma-separated: Pending, Informational, Low, Medium, High, Critical."),
                "source_name": text("Comma-separated source names (elastic, sentinel, splunk, generic, …)."),
                "enrichment_status": text("Comma-separated: Pending, Enriched, Failed."),
                "is_enriched": {"type": "boolean"},
                "from_time": text("occurred_at at or after this ISO 8601 time."),
                "to_time": text("occurred_at at or before this ISO 8601 time."),
                "tags": text("Comma-separated tags the alert must all carry."),
            }),
            &["title", "status", "severity", "source_name", "occurred_at", "created_at"],
        ),
        &[],
    )
}

fn update_alert_malice_schema() -> Value {
    object(
        json!({
            "alert_uuid": uuid_property("The alert."),
            "malice": nullable_choice(&Malice::names(), "The verdict; null returns to the indicators' verdict."),
        }),
        &["alert_uuid"],
    )
}

fn search_detection_rules_schema() -> Value {
    object(
        with_paging(
            json!({
                "name": text("Part of the rule's name (any case)."),
                "mitre_tactic": text("A MITRE ATT&CK tactic the rule maps to: its ID or name in any case and spacing, e.g. TA0006, Credential Access or credential-access."),
                "mitre_technique": text("A MITRE technique or sub-technique in any case, e.g. T1110 (with its sub-techniques) or T1110.003."),
                "source_name": text("Comma-separated source names."),
                "severity": text("Comma-separated severities."),
                "is_active": {"type": "boolean"},
            }),
            &["name", "source_name", "severity", "created_at"],
        ),
        &[],
    )
}

fn enrich_indicator_schema() -> Value {
    object(
        json!({
            "type": choice(&IndicatorType::names(), "The indicator type."),
            "value": text("The indicator value."),
        }),
        &["type", "value"],
    )
}

fn update_indicator_malice_schema() -> Value {
    object(
        json!({
            "indicator_uuid": uuid_property("The indicator."),
            "malice": nullable_choice(&Malice::names(), "The verdict; null returns to the providers' verdict."),
        }),
        &["indicator_uuid"],
    )
}

fn execute_workflow_schema() -> Value {
    object(
        json!({
            "workflow_uuid": uuid_property("The workflow."),
            "indicator_type": choice(&IndicatorType::names(), "The indicator's type."),
            "indicator_value": text("The indicator's value."),
            "alert_uuid": uuid_property("The alert the workflow acts for."),
            "reason": text("Why: shown to the approver. Required when the workflow asks for approval."),
            "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                "description": "0.0 to 1.0. Required when the workflow asks for approval."},
        }),
        &["workflow_uuid", "indicator_type", "indicator_value"],
    )
}

fn list_pending_approvals_schema() -> Value {
    let mut properties = json!({"workflow_uuid": uuid_property("Only this workflow's requests.")});
    for (name, schema) in paging().into_iter().filter(|(n, _)| n.starts_with("page")) {
        properties[name] = schema;
    }
    object(properties, &[])
}

fn decision_schema() -> Value {
    object(
        json!({
            "approval_request_uuid": uuid_property("The approval request."),
            "responder_id": text("Who decided (default: the caller's key prefix)."),
        }),
        &["approval_request_uuid"],
    )
}

fn get_alert_payload_schema() -> Value {
    object(
        json!({
            "alert_uuid": uuid_property("The alert."),
            "profile": choice(&["compact", "full"], "compact (default) or full."),
        }),
        &["alert_uuid"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_has_an_object_schema_naming_its_required_arguments() {
        for t in TOOLS {
            let schema = (t.schema)();
            let properties = schema["properties"].as_object().map(|p| p.keys().cloned().collect::<Vec<_>>());
            let properties = properties.unwrap_or_default();
            for required in schema["required"].as_array().into_iter().flatten() {
                assert!(
                    properties.iter().any(|p| Some(p.as_str()) == required.as_str()),
                    "{}: {required}",
                    t.name
                );
            }
            assert_eq!(schema["type"], "object", "{}", t.name);
        }
        assert_eq!(listed_tools().len(), 12);
    }

    #[test]
    fn unknown_and_ill_typed_arguments_are_named() {
        let args = |v: Value| Arguments::new(v.as_object().cloned(), &["alert_uuid", "page"]);
        let Err(McpFailure::BadArgument(message)) = args(json!({"alert_uid": "x"})) else {
            panic!("accepted")
        };
        assert!(message.contains("alert_uid") && message.contains("alert_uuid"), "{message}");
        let Ok(a) = args(json!({"alert_uuid": "nope", "page": 0})) else { panic!("refused") };
        let Err(McpFailure::BadArgument(message)) = a.uuid("alert_uuid") else { panic!("accepted") };
        assert!(message.contains("alert_uuid must be a UUID"), "{message}");
        let Err(McpFailure::BadArgument(message)) = a.page() else { panic!("accepted") };
        assert!(message.contains("page must be a whole number from 1"), "{message}");
    }
}
