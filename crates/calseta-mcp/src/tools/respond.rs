//! The indicator and response tools: on-demand enrichment, the indicator verdict, workflow
//! execution and the approval gate.

use calseta_core::alerts::Malice;
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_services::params::Paging;
use calseta_services::pipeline::respond::{Caller, Decider, Decision, ExecuteRequest, Execution};
use calseta_services::views::workflows::ApprovalResponse;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::fields::{self, choice_schema, nullable_choice_schema};
use super::{Call, ToolInput};
use crate::error::McpFailure;
use crate::resources::{enrichment, json_of};

/// Arguments of `enrich_indicator`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct EnrichIndicator {
    /// The indicator type.
    #[serde(rename = "type", deserialize_with = "fields::choice")]
    #[schemars(schema_with = "choice_schema::<IndicatorType>")]
    kind: IndicatorType,
    /// The indicator value.
    #[serde(deserialize_with = "fields::required_text")]
    #[schemars(length(min = 1, max = 65536))]
    value: String,
}

impl ToolInput for EnrichIndicator {
    const NAME: &'static str = "enrich_indicator";
    const SCOPE: Scope = Scope::EnrichmentsRead;
    const READ_ONLY: bool = true;
    const DESCRIPTION: &'static str =
        "Enrich one indicator now with every configured provider (results are cached).";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        enrichment(call.services, self.kind.as_str(), &self.value).await
    }
}

/// Arguments of `update_indicator_malice`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct UpdateIndicatorMalice {
    /// The indicator.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    indicator_uuid: Uuid,
    /// The verdict; null returns to the providers' verdict.
    #[serde(default, deserialize_with = "fields::optional_choice")]
    #[schemars(schema_with = "nullable_choice_schema::<Malice>")]
    malice: Option<Malice>,
}

impl ToolInput for UpdateIndicatorMalice {
    const NAME: &'static str = "update_indicator_malice";
    const SCOPE: Scope = Scope::AlertsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str =
        "Set the analyst verdict on an indicator, or null to return to the providers' verdict.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let row =
            call.services.indicators.set_malice(self.indicator_uuid, self.malice, &call.actor()).await?;
        Ok(json!({"indicator_uuid": self.indicator_uuid, "malice": row.malice,
            "malice_source": row.malice_source, "updated_at": row.updated_at}))
    }
}

/// Arguments of `execute_workflow`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ExecuteWorkflow {
    /// The workflow.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    workflow_uuid: Uuid,
    /// The indicator's type.
    #[serde(deserialize_with = "fields::choice")]
    #[schemars(schema_with = "choice_schema::<IndicatorType>")]
    indicator_type: IndicatorType,
    /// The indicator's value.
    #[serde(deserialize_with = "fields::required_text")]
    #[schemars(length(min = 1, max = 65536))]
    indicator_value: String,
    /// The alert the workflow acts for.
    #[serde(default, deserialize_with = "fields::optional_uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    alert_uuid: Option<Uuid>,
    /// Why: shown to the approver. Required when the workflow asks for approval.
    #[serde(default, deserialize_with = "fields::text")]
    #[schemars(length(max = 65536))]
    reason: Option<String>,
    /// 0.0 to 1.0. Required when the workflow asks for approval.
    #[serde(default)]
    #[schemars(range(min = 0.0, max = 1.0))]
    confidence: Option<f64>,
}

impl ToolInput for ExecuteWorkflow {
    const NAME: &'static str = "execute_workflow";
    const SCOPE: Scope = Scope::WorkflowsExecute;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str = "Run a response workflow for an indicator. Workflows that need a human answer pending_approval (give a reason and a confidence); others are queued at once.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let request = ExecuteRequest {
            indicator_type: self.indicator_type.as_str().into(),
            indicator_value: self.indicator_value,
            alert_uuid: self.alert_uuid,
            reason: self.reason,
            confidence: self.confidence,
        };
        // As in v1, a call through MCP is an agent's: the approval gate treats it so, and asks
        // for a reason and a confidence only when a human will be asked.
        let caller = Caller {
            key_prefix: call.key.key_prefix.clone(),
            by_agent: true,
            actor_type: "mcp",
            explain_always: false,
        };
        let workflow_uuid = self.workflow_uuid;
        Ok(match call.services.respond.execute(workflow_uuid, request, &caller).await? {
            Execution::Queued { run_uuid } => {
                json!({"status": "queued", "run_uuid": run_uuid, "workflow_uuid": workflow_uuid})
            }
            Execution::PendingApproval { approval_uuid, expires_at } => json!({
                "status": "pending_approval", "approval_request_uuid": approval_uuid,
                "workflow_uuid": workflow_uuid, "expires_at": expires_at}),
        })
    }
}

/// Arguments of `list_pending_approvals`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ListPendingApprovals {
    /// Only this workflow's requests.
    #[serde(default, deserialize_with = "fields::optional_uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    workflow_uuid: Option<Uuid>,
    /// Page number, from 1 (default 1).
    #[serde(default)]
    #[schemars(range(min = 1))]
    page: Option<i64>,
    /// Items per page (default 20; larger sizes are cut to 100).
    #[serde(default)]
    #[schemars(range(min = 1))]
    page_size: Option<i64>,
}

impl ToolInput for ListPendingApprovals {
    const NAME: &'static str = "list_pending_approvals";
    const SCOPE: Scope = Scope::ApprovalsWrite;
    const READ_ONLY: bool = true;
    const DESCRIPTION: &'static str = "Workflow runs waiting for a human decision, newest first.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let page =
            Paging::TOOL.request(self.page, self.page_size).map_err(calseta_services::ServiceError::from)?;
        let (rows, total) = call
            .services
            .respond
            .approvals(Some("pending"), self.workflow_uuid, page.limit(), page.offset())
            .await?;
        let approvals: Vec<ApprovalResponse> = rows.into_iter().map(Into::into).collect();
        Ok(json!({"approvals": approvals, "total": total, "page": page.page, "page_size": page.page_size}))
    }
}

/// Arguments of `approve_workflow`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct ApproveWorkflow {
    /// The approval request.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    approval_request_uuid: Uuid,
    /// Who decided (default: the caller's key prefix).
    #[serde(default, deserialize_with = "fields::text")]
    #[schemars(length(max = 255))]
    responder_id: Option<String>,
}

/// Arguments of `reject_workflow` (the same as approving).
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct RejectWorkflow(ApproveWorkflow);

impl ApproveWorkflow {
    /// Records `decision` on the request.
    async fn decide(self, call: Call<'_>, decision: Decision) -> Result<Value, McpFailure> {
        let responder = self.responder_id.filter(|r| !r.trim().is_empty());
        if responder.as_ref().is_some_and(|r| r.chars().count() > 255) {
            return Err(McpFailure::BadArgument("responder_id is at most 255 characters".into()));
        }
        let responder = responder.unwrap_or_else(|| call.key.key_prefix.clone());
        let by_agent = call.key.key_type == calseta_core::api_keys::KeyType::Agent;
        let row = call
            .services
            .respond
            .decide(
                self.approval_request_uuid,
                decision,
                Decider {
                    responder_id: &responder,
                    actor: &call.actor(),
                    by_agent,
                    via: "mcp",
                    note: None,
                    four_eyes: false,
                },
            )
            .await?;
        json_of(ApprovalResponse::from(row))
    }
}

impl ToolInput for ApproveWorkflow {
    const NAME: &'static str = "approve_workflow";
    const SCOPE: Scope = Scope::ApprovalsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str = "Approve a pending workflow approval request: the workflow runs once.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        self.decide(call, Decision::Approve).await
    }
}

impl ToolInput for RejectWorkflow {
    const NAME: &'static str = "reject_workflow";
    const SCOPE: Scope = Scope::ApprovalsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str = "Reject a pending workflow approval request: nothing runs.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        self.0.decide(call, Decision::Reject).await
    }
}
