//! Workflow vocabulary: lifecycle states, approval modes, risk levels and kinds (v1's strings).

string_enum!(
    /// A workflow's lifecycle state; only `active` workflows execute.
    WorkflowState, "state", {
        Draft => "draft",
        Active => "active",
        Inactive => "inactive",
    }
);

/// Why a workflow may not run now, or `None` when it may: its state must be `active` and it must
/// be switched on (`is_active`). The one rule for execute, the run itself and test mode (v1
/// checked only the state, and only when the execution was requested).
pub fn refusal_to_run(name: &str, state: &str, is_active: bool) -> Option<String> {
    if WorkflowState::parse(state) != Ok(WorkflowState::Active) {
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
    fn approval_follows_the_mode_and_the_caller() {
        assert!(needs_approval(ApprovalMode::Always, false));
        assert!(needs_approval(ApprovalMode::AgentOnly, true));
        assert!(!needs_approval(ApprovalMode::AgentOnly, false));
        assert!(!needs_approval(ApprovalMode::Never, true));
        assert_eq!(WorkflowState::parse("active"), Ok(WorkflowState::Active));
        assert_eq!(refusal_to_run("W", "active", true), None);
        assert!(refusal_to_run("W", "draft", true).unwrap().contains("is draft"));
        assert!(refusal_to_run("W", "active", false).unwrap().contains("switched off"));
        assert!(RiskLevel::parse("extreme").is_err());
    }
}
