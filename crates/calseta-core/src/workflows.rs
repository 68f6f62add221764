//! Workflow vocabulary: lifecycle states, approval modes, risk levels and kinds (v1's strings).

string_enum!(
    /// A workflow's lifecycle state; only `active` workflows execute.
    WorkflowState, "state", {
        Draft => "draft",
        Active => "active",
        Inactive => "inactive",
    }
);

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
        assert!(RiskLevel::parse("extreme").is_err());
    }
}
