//! Views of workflows and approval requests, shared by REST and MCP.

use calseta_store::workflow_approvals::ApprovalRow;
use calseta_store::workflows::WorkflowRow;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A workflow (`code` and the execution settings only in the detail).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowResponse {
    pub uuid: Uuid,
    pub name: String,
    pub workflow_type: Option<String>,
    pub indicator_types: Vec<String>,
    pub state: String,
    pub code_version: i32,
    pub is_active: bool,
    pub is_system: bool,
    pub tags: Vec<String>,
    pub time_saved_minutes: Option<i32>,
    pub approval_mode: String,
    pub risk_level: String,
    pub documentation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_seconds: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_count: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_channel: Option<Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_timeout_seconds: Option<i32>,
}

/// The view of a workflow row; `detail` adds the code and execution settings.
pub fn workflow_response(row: WorkflowRow, detail: bool) -> WorkflowResponse {
    WorkflowResponse {
        uuid: row.uuid,
        name: row.name,
        workflow_type: row.workflow_type.map(|t| t.to_string()),
        indicator_types: row.indicator_types.0,
        state: row.state.to_string(),
        code_version: row.code_version,
        is_active: row.is_active,
        is_system: row.is_system,
        tags: row.tags.0,
        time_saved_minutes: row.time_saved_minutes,
        approval_mode: row.approval_mode.to_string(),
        risk_level: row.risk_level.to_string(),
        documentation: row.documentation,
        created_at: row.created_at,
        updated_at: row.updated_at,
        code: detail.then_some(row.code),
        timeout_seconds: detail.then_some(row.timeout_seconds),
        retry_count: detail.then_some(row.retry_count),
        approval_channel: detail.then_some(row.approval_channel),
        approval_timeout_seconds: detail.then_some(row.approval_timeout_seconds),
    }
}

/// An approval request.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalResponse {
    pub uuid: Uuid,
    pub workflow_id: i64,
    pub workflow_name: String,
    pub workflow_uuid: Uuid,
    pub trigger_type: String,
    pub trigger_agent_key_prefix: String,
    #[schema(value_type = Object)]
    pub trigger_context: Value,
    pub reason: String,
    pub confidence: f64,
    pub notifier_type: String,
    pub notifier_channel: Option<String>,
    /// pending, approved, rejected, expired, cancelled
    pub status: String,
    pub responder_id: Option<String>,
    pub responded_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    #[schema(value_type = Object)]
    pub execution_result: Value,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<ApprovalRow> for ApprovalResponse {
    fn from(a: ApprovalRow) -> Self {
        ApprovalResponse {
            uuid: a.uuid,
            workflow_id: a.workflow_id,
            workflow_name: a.workflow_name,
            workflow_uuid: a.workflow_uuid,
            trigger_type: a.trigger_type.to_string(),
            trigger_agent_key_prefix: a.trigger_agent_key_prefix,
            trigger_context: a.trigger_context.map(|c| c.0).unwrap_or(Value::Null),
            reason: a.reason,
            confidence: a.confidence,
            notifier_type: a.notifier_type,
            notifier_channel: a.notifier_channel,
            status: a.status.to_string(),
            responder_id: a.responder_id,
            responded_at: a.responded_at,
            expires_at: a.expires_at,
            execution_result: a.execution_result.map(|c| c.0).unwrap_or(Value::Null),
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}
