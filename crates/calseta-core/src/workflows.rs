//! Workflow vocabulary: lifecycle states, approval modes, risk levels and kinds (v1's strings).

string_enum!(
    /// A workflow's lifecycle state; only `active` workflows execute.
    WorkflowState, "state", {
        Draft => "draft",
        Active => "active",
        Inactive => "inactive",
    }
);

/// What an execution was asked for, stored with its approval request and its run (v1's
/// `trigger_context`): the indicator, the alert, and the code version an approver approves.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TriggerContext {
    /// The indicator's type, as requested.
    #[serde(default)]
    pub indicator_type: String,
    /// The indicator's value, as requested.
    #[serde(default)]
    pub indicator_value: String,
    /// The alert's database id, when the execution names an alert.
    #[serde(default)]
    pub alert_id: Option<i64>,
    /// The alert's public id, when the execution names an alert.
    #[serde(default)]
    pub alert_uuid: Option<uuid::Uuid>,
    /// The code version current when the execution was requested: only it may run.
    #[serde(default)]
    pub code_version: Option<i32>,
}

impl TriggerContext {
    /// The context as stored (JSON); a missing or unreadable one reads as empty, as v1's rows
    /// without one did.
    pub fn from_stored(stored: Option<&serde_json::Value>) -> TriggerContext {
        stored.and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default()
    }

    /// The context as it is stored.
    pub fn to_stored(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// Why a workflow may not run now, or `None` when it may: its state must be `active` and it must
/// be switched on (`is_active`). The one rule for execute, the run itself and test mode (v1
/// checked only the state, and only when the execution was requested).
pub fn refusal_to_run(name: &str, state: WorkflowState, is_active: bool) -> Option<String> {
    if state != WorkflowState::Active {
        return Some(format!("Workflow '{name}' is {state}; only active workflows execute."));
    }
    (!is_active).then(|| {
        format!("Workflow '{name}' is switched off (is_active is false); only active workflows execute.")
    })
}

string_enum!(
    /// When an execution needs a human decision first.
    ApprovalMode, "approval_mode", {
        Always => "always",
        AgentOnly => "agent_only",
        Never => "never",
    }
);

string_enum!(
    /// How dangerous a workflow is (shown in approvals; it does not change gating).
    RiskLevel, "risk_level", {
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
);

string_enum!(
    /// What a workflow acts on.
    WorkflowType, "workflow_type", {
        Indicator => "indicator",
        Alert => "alert",
    }
);

string_enum!(
    /// A workflow run's lifecycle (`workflow_runs.status`).
    RunState, "run status", {
        Queued => "queued",
        Running => "running",
        Success => "success",
        Failed => "failed",
        TimedOut => "timed_out",
    }
);

string_enum!(
    /// An approval request's lifecycle (`workflow_approval_requests.status`).
    ApprovalStatus, "approval status", {
        Pending => "pending",
        Approved => "approved",
        Rejected => "rejected",
        Cancelled => "cancelled",
        Expired => "expired",
    }
);

/// Whether an execution by a key of `key_type` (`human`/`agent`) needs approval under `mode`.
pub fn needs_approval(mode: ApprovalMode, by_agent: bool) -> bool {
    match mode {
        ApprovalMode::Always => true,
        ApprovalMode::AgentOnly => by_agent,
        ApprovalMode::Never => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trigger_context_is_stored_as_v1_wrote_it() {
        let uuid = uuid::Uuid::nil();
        let context = TriggerContext {
            indicator_type: "ip".into(),
            indicator_value: "1.2.3.4".into(),
            alert_id: Some(7),
            alert_uuid: Some(uuid),
            code_version: Some(3),
        };
        let stored = serde_json::json!({"indicator_type": "ip", "indicator_value": "1.2.3.4", "alert_id": 7,
                                        "alert_uuid": uuid, "code_version": 3});
        assert_eq!(context.to_stored(), stored);
        assert_eq!(TriggerContext::from_stored(Some(&stored)), context);
        let without_alert = serde_json::json!({"indicator_type": "ip", "indicator_value": "x", "alert_id": null,
                                               "alert_uuid": null, "code_version": 1});
        assert_eq!(TriggerContext::from_stored(Some(&without_alert)).alert_id, None);
        assert_eq!(TriggerContext::from_stored(None), TriggerContext::default());
    }

    #[test]
    fn approval_follows_the_mode_and_the_caller() {
        assert!(needs_approval(ApprovalMode::Always, false));
        assert!(needs_approval(ApprovalMode::AgentOnly, true));
        assert!(!needs_approval(ApprovalMode::AgentOnly, false));
        assert!(!needs_approval(ApprovalMode::Never, true));
        assert_eq!(WorkflowState::parse("active"), Ok(WorkflowState::Active));
        assert_eq!(refusal_to_run("W", WorkflowState::Active, true), None);
        assert!(refusal_to_run("W", WorkflowState::Draft, true).unwrap().contains("is draft"));
        assert!(refusal_to_run("W", WorkflowState::Active, false).unwrap().contains("switched off"));
        assert!(RiskLevel::parse("extreme").is_err());
    }

    #[test]
    fn stored_statuses_convert_from_text_and_unknown_ones_are_errors() {
        assert_eq!(RunState::try_from("timed_out".to_string()), Ok(RunState::TimedOut));
        assert_eq!(ApprovalStatus::try_from("cancelled".to_string()), Ok(ApprovalStatus::Cancelled));
        let unknown = ApprovalStatus::try_from("maybe".to_string()).unwrap_err();
        assert_eq!((unknown.kind, unknown.value.as_str()), ("approval status", "maybe"));
    }
}
