//! Workflow templates: starting points a front end offers when a workflow is created — the code
//! of the nine builtin Okta and Entra workflows, and templates for common response actions
//! (block an IP, isolate a host, disable an account, open a ticket, post to a channel) written
//! against the workflow `ctx` API. Each template's code is a data file in the binary
//! (`data/workflows/templates/`) and passes the same validation as a saved workflow (tested in
//! `crates/calseta/tests/it/console_workflows.rs`). A template is never saved by itself: creating
//! from one is an ordinary create with its code.

use calseta_core::indicators::IndicatorType;
use calseta_core::workflows::RiskLevel;

use crate::resources::workflows::BUILTINS;

/// Where a template comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    /// The code of a builtin workflow (it relies on the Okta or Entra integration).
    Builtin,
    /// A common action over `ctx.http` and a workflow secret, to adapt to one's own tools.
    CommonAction,
}

/// A template: what a new workflow starts with.
#[derive(Debug, Clone, Copy)]
pub struct WorkflowTemplate {
    /// Its key in a URL (`block_ip`, `okta_suspend_user`).
    pub key: &'static str,
    /// The suggested workflow name.
    pub name: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
    /// Builtin or a common action.
    pub kind: TemplateKind,
    /// The indicator types it acts on.
    pub indicator_types: &'static [IndicatorType],
    /// The suggested risk level.
    pub risk_level: RiskLevel,
    /// The code.
    pub code: &'static str,
    /// Its documentation (Markdown).
    pub documentation: &'static str,
}

macro_rules! action {
    ($key:literal, $name:literal, $summary:literal, $risk:ident, [$($kind:ident),+]) => {
        WorkflowTemplate {
            key: $key,
            name: $name,
            summary: $summary,
            kind: TemplateKind::CommonAction,
            indicator_types: &[$(IndicatorType::$kind),+],
            risk_level: RiskLevel::$risk,
            code: include_str!(concat!("../../data/workflows/templates/", $key, ".py")),
            documentation: include_str!(concat!("../../data/workflows/templates/", $key, ".md")),
        }
    };
}

/// The common actions.
const ACTIONS: [WorkflowTemplate; 5] = [
    action!("block_ip", "Block an IP", "Adds the IP to a firewall's blocklist for 24 hours.", High, [Ip]),
    action!(
        "isolate_host",
        "Isolate a host",
        "Finds the device by IP or hostname in the EDR and contains it.",
        Critical,
        [Ip, Domain]
    ),
    action!(
        "disable_account",
        "Disable an account",
        "Sets the user inactive in an identity provider over SCIM 2.0.",
        High,
        [Account, Email]
    ),
    action!(
        "open_ticket",
        "Open a ticket",
        "Files an issue about the indicator and its alert in the ticketing system.",
        Low,
        [Ip, Domain, HashMd5, HashSha1, HashSha256, Url, Email, Account]
    ),
    action!(
        "post_to_channel",
        "Post to a channel",
        "Tells the team about the indicator through a chat incoming webhook.",
        Low,
        [Ip, Domain, HashMd5, HashSha1, HashSha256, Url, Email, Account]
    ),
];

/// The first line of a builtin's documentation that is not a heading (its description).
fn first_line(documentation: &'static str) -> &'static str {
    documentation.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')).unwrap_or("")
}

/// Every template: the common actions first, then the builtins' code.
pub fn templates() -> Vec<WorkflowTemplate> {
    let builtins = BUILTINS.iter().map(|b| WorkflowTemplate {
        key: b.stem,
        name: b.name,
        summary: first_line(b.documentation),
        kind: TemplateKind::Builtin,
        indicator_types: &[IndicatorType::Account],
        risk_level: b.risk,
        code: b.code,
        documentation: b.documentation,
    });
    ACTIONS.iter().copied().chain(builtins).collect()
}

/// The template with `key`.
pub fn template(key: &str) -> Option<WorkflowTemplate> {
    templates().into_iter().find(|t| t.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_and_common_action_is_a_template_with_a_run_function() {
        let all = templates();
        assert_eq!(all.iter().filter(|t| t.kind == TemplateKind::Builtin).count(), 9);
        for key in ["block_ip", "isolate_host", "disable_account", "open_ticket", "post_to_channel"] {
            assert!(template(key).is_some_and(|t| t.kind == TemplateKind::CommonAction), "{key}");
        }
        let mut keys: Vec<&str> = all.iter().map(|t| t.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), all.len(), "template keys are unique");
        for t in &all {
            assert!(t.code.contains("async def run(ctx"), "{}", t.key);
            assert!(!t.summary.is_empty() && !t.indicator_types.is_empty(), "{}", t.key);
        }
        assert!(template("nope").is_none());
    }
}
