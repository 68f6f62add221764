//! The approval inbox's read model: the requests waiting for a person, soonest to expire first,
//! and the newest settled ones, each with what an approver weighs — the agent's reason and
//! confidence, the workflow and its risk, the indicator and the alert it acts for.

use calseta_core::api_keys::KeyType;
use calseta_core::workflows::{ApprovalStatus, RiskLevel, TriggerContext};
use calseta_store::workflow_approvals::ApprovalRow;
use chrono::{DateTime, Utc};
use uuid::Uuid;

/// One approval request as an approver sees it.
#[derive(Debug, Clone)]
pub struct ApprovalItem {
    /// The request.
    pub uuid: Uuid,
    /// The workflow that would run.
    pub workflow_uuid: Uuid,
    /// Its name.
    pub workflow_name: String,
    /// Its risk level.
    pub risk_level: RiskLevel,
    /// Why the requester wants it run (written by an agent: untrusted text).
    pub reason: String,
    /// The requester's confidence, 0..1.
    pub confidence: f64,
    /// Where the request stands (a pending one past its expiry reads as expired).
    pub status: ApprovalStatus,
    /// The requesting key's prefix.
    pub requested_by: String,
    /// Whether an agent key requested it.
    pub requested_by_agent: bool,
    /// The indicator's type, as requested.
    pub indicator_type: String,
    /// The indicator's value, as requested (alert content: untrusted text).
    pub indicator_value: String,
    /// The alert it acts for, when one was named.
    pub alert_uuid: Option<Uuid>,
    /// When it was requested.
    pub created_at: DateTime<Utc>,
    /// When it expires unless decided.
    pub expires_at: DateTime<Utc>,
    /// Who decided, when someone did.
    pub responder_id: Option<String>,
    /// When it was decided.
    pub responded_at: Option<DateTime<Utc>>,
}

impl From<ApprovalRow> for ApprovalItem {
    fn from(row: ApprovalRow) -> Self {
        let context = TriggerContext::from_stored(row.trigger_context.as_ref().map(|c| &c.0));
        ApprovalItem {
            uuid: row.uuid,
            workflow_uuid: row.workflow_uuid,
            workflow_name: row.workflow_name,
            risk_level: row.workflow_risk_level,
            reason: row.reason,
            confidence: row.confidence,
            status: row.status,
            requested_by: row.trigger_agent_key_prefix,
            requested_by_agent: row.trigger_type == KeyType::Agent,
            indicator_type: context.indicator_type,
            indicator_value: context.indicator_value,
            alert_uuid: context.alert_uuid,
            created_at: row.created_at,
            expires_at: row.expires_at,
            responder_id: row.responder_id,
            responded_at: row.responded_at,
        }
    }
}

/// What the inbox shows.
#[derive(Debug, Clone, Default)]
pub struct ApprovalInbox {
    /// Requests waiting for a decision, the soonest to expire first.
    pub pending: Vec<ApprovalItem>,
    /// How many are waiting in all (the list may be cut).
    pub pending_total: i64,
    /// The newest settled requests: approved, rejected, cancelled or expired.
    pub settled: Vec<ApprovalItem>,
}
