//! The eleven API-key scopes, the rule that `admin` passes every check, and that `alerts:write`
//! also allows ingest (`alerts:ingest`).

use std::fmt;
use std::str::FromStr;

use crate::UnknownValue;

/// A permission an API key may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    AlertsIngest,
    AlertsRead,
    AlertsWrite,
    EnrichmentsRead,
    WorkflowsRead,
    WorkflowsWrite,
    WorkflowsExecute,
    ApprovalsWrite,
    AgentsRead,
    AgentsWrite,
    Admin,
}

impl Scope {
    /// Every scope, in the reference's order.
    pub const ALL: [Scope; 11] = [
        Scope::AlertsIngest,
        Scope::AlertsRead,
        Scope::AlertsWrite,
        Scope::EnrichmentsRead,
        Scope::WorkflowsRead,
        Scope::WorkflowsWrite,
        Scope::WorkflowsExecute,
        Scope::ApprovalsWrite,
        Scope::AgentsRead,
        Scope::AgentsWrite,
        Scope::Admin,
    ];

    /// The wire name, e.g. `alerts:read`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Scope::AlertsIngest => "alerts:ingest",
            Scope::AlertsRead => "alerts:read",
            Scope::AlertsWrite => "alerts:write",
            Scope::EnrichmentsRead => "enrichments:read",
            Scope::WorkflowsRead => "workflows:read",
            Scope::WorkflowsWrite => "workflows:write",
            Scope::WorkflowsExecute => "workflows:execute",
            Scope::ApprovalsWrite => "approvals:write",
            Scope::AgentsRead => "agents:read",
            Scope::AgentsWrite => "agents:write",
            Scope::Admin => "admin",
        }
    }

    /// All wire names.
    pub fn names() -> Vec<&'static str> {
        Self::ALL.iter().map(|s| s.as_str()).collect()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = UnknownValue;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .iter()
            .copied()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownValue::new("scope", s, &Scope::names()))
    }
}

/// Whether a key holding `granted` may call a route that requires `required`.
///
/// `admin` is a super-scope and `alerts:write` implies `alerts:ingest`; unknown strings a key might
/// hold (v1 stored them unvalidated) grant nothing.
pub fn allows<S: AsRef<str>>(granted: &[S], required: Scope) -> bool {
    granted.iter().any(|g| {
        let g = g.as_ref();
        g == Scope::Admin.as_str()
            || g == required.as_str()
            || (required == Scope::AlertsIngest && g == Scope::AlertsWrite.as_str())
    })
}

/// Parses and de-duplicates scope names, keeping the first-seen order.
pub fn parse_scopes<S: AsRef<str>>(names: &[S]) -> Result<Vec<Scope>, UnknownValue> {
    let mut out: Vec<Scope> = Vec::with_capacity(names.len());
    for name in names {
        let scope: Scope = name.as_ref().trim().parse()?;
        if !out.contains(&scope) {
            out.push(scope);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_scope_round_trips() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>(), Ok(scope));
        }
        assert!("alerts:delete".parse::<Scope>().is_err());
    }

    #[test]
    fn admin_passes_every_check() {
        for scope in Scope::ALL {
            assert!(allows(&["admin"], scope));
        }
        assert!(allows(&["alerts:read"], Scope::AlertsRead));
        assert!(!allows(&["alerts:read"], Scope::AlertsWrite));
        assert!(!allows::<&str>(&[], Scope::AlertsRead));
    }

    #[test]
    fn alerts_write_implies_ingest_and_nothing_implies_write_but_admin() {
        assert!(allows(&["alerts:write"], Scope::AlertsIngest));
        assert!(allows(&["alerts:ingest"], Scope::AlertsIngest));
        assert!(!allows(&["alerts:ingest"], Scope::AlertsWrite));
        assert!(!allows(&["alerts:ingest"], Scope::AlertsRead));
    }

    #[test]
    fn parse_dedups_and_rejects_unknown() {
        let parsed = parse_scopes(&["alerts:read", " alerts:read", "admin"]);
        assert_eq!(parsed, Ok(vec![Scope::AlertsRead, Scope::Admin]));
        let err = parse_scopes(&["alerts:read", "root"]);
        assert!(matches!(err, Err(e) if e.value == "root"));
    }
}
