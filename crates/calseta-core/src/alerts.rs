//! Alert vocabulary (statuses, severities, malice, close classifications) and the lifecycle rules.

use chrono::{DateTime, Utc};

string_enum!(
    /// Alert severity.
    Severity, "severity", {
        Pending => "Pending",
        Informational => "Informational",
        Low => "Low",
        Medium => "Medium",
        High => "High",
        Critical => "Critical",
    }
);

impl Severity {
    /// Sort rank: Critical 5 … Informational 1, Pending 0.
    pub const fn rank(self) -> i32 {
        match self {
            Severity::Critical => 5,
            Severity::High => 4,
            Severity::Medium => 3,
            Severity::Low => 2,
            Severity::Informational => 1,
            Severity::Pending => 0,
        }
    }
}

string_enum!(
    /// Analyst-facing alert status (any transition is allowed).
    AlertStatus, "status", {
        Open => "Open",
        Triaging => "Triaging",
        Escalated => "Escalated",
        Closed => "Closed",
    }
);

string_enum!(
    /// System-managed enrichment state.
    EnrichmentStatus, "enrichment_status", {
        Pending => "Pending",
        Enriched => "Enriched",
        Failed => "Failed",
    }
);

string_enum!(
    /// A maliciousness verdict.
    Malice, "malice", {
        Pending => "Pending",
        Benign => "Benign",
        Suspicious => "Suspicious",
        Malicious => "Malicious",
    }
);

impl Malice {
    /// Malicious > Suspicious > Benign > Pending.
    pub const fn priority(self) -> i32 {
        match self {
            Malice::Malicious => 3,
            Malice::Suspicious => 2,
            Malice::Benign => 1,
            Malice::Pending => 0,
        }
    }

    /// The worst verdict among stored strings (unknown strings rank lowest), `Pending` if none.
    pub fn worst<'a>(verdicts: impl IntoIterator<Item = &'a str>) -> Malice {
        verdicts
            .into_iter()
            .filter_map(|v| Malice::parse(v).ok())
            .max_by_key(|m| m.priority())
            .unwrap_or(Malice::Pending)
    }

    /// The worst of some verdicts, `Pending` if none.
    pub fn worst_of(verdicts: impl IntoIterator<Item = Malice>) -> Malice {
        verdicts.into_iter().max_by_key(|m| m.priority()).unwrap_or(Malice::Pending)
    }
}

string_enum!(
    /// Why an alert was closed (v1's exact strings).
    CloseClassification, "close_classification", {
        TruePositive => "True Positive - Suspicious Activity",
        BenignPositive => "Benign Positive - Suspicious but Expected",
        FalsePositiveLogic => "False Positive - Incorrect Detection Logic",
        FalsePositiveData => "False Positive - Inaccurate Data",
        Undetermined => "Undetermined",
        Duplicate => "Duplicate",
        NotApplicable => "Not Applicable",
    }
);

/// The status and its write-once lifecycle stamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifecycle {
    /// Current status.
    pub status: AlertStatus,
    /// First left `Open` for triage or escalation (or was closed).
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// First set to `Triaging`.
    pub triaged_at: Option<DateTime<Utc>>,
    /// First closed.
    pub closed_at: Option<DateTime<Utc>>,
}

impl Lifecycle {
    /// Moves to `next` at `now`, applying v1's stamp rules: `acknowledged_at` when leaving `Open`
    /// for Triaging/Escalated (or on close), `triaged_at` on Triaging, `closed_at` on Closed; each
    /// only once, and re-opening clears nothing.
    pub fn transition(self, next: AlertStatus, now: DateTime<Utc>) -> Lifecycle {
        let mut after = Lifecycle { status: next, ..self };
        match next {
            AlertStatus::Triaging | AlertStatus::Escalated => {
                if after.acknowledged_at.is_none() && self.status == AlertStatus::Open {
                    after.acknowledged_at = Some(now);
                }
                if next == AlertStatus::Triaging && after.triaged_at.is_none() {
                    after.triaged_at = Some(now);
                }
            }
            AlertStatus::Closed => {
                if after.closed_at.is_none() {
                    after.closed_at = Some(now);
                }
                if after.acknowledged_at.is_none() {
                    after.acknowledged_at = Some(now);
                }
            }
            AlertStatus::Open => {}
        }
        after
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(s, 0).single().unwrap()
    }

    #[test]
    fn lifecycle_stamps_are_write_once() {
        let open =
            Lifecycle { status: AlertStatus::Open, acknowledged_at: None, triaged_at: None, closed_at: None };
        let triaging = open.transition(AlertStatus::Triaging, t(10));
        assert_eq!((triaging.acknowledged_at, triaging.triaged_at), (Some(t(10)), Some(t(10))));
        let escalated = triaging.transition(AlertStatus::Escalated, t(20));
        assert_eq!(escalated.acknowledged_at, Some(t(10)));
        let closed = escalated.transition(AlertStatus::Closed, t(30));
        assert_eq!(closed.closed_at, Some(t(30)));
        let reopened = closed.transition(AlertStatus::Open, t(40));
        assert_eq!((reopened.closed_at, reopened.triaged_at), (Some(t(30)), Some(t(10))));
        let closed_again = reopened.transition(AlertStatus::Closed, t(50));
        assert_eq!(closed_again.closed_at, Some(t(30)));
    }

    #[test]
    fn acknowledgement_only_from_open_or_on_close() {
        let escalated = Lifecycle {
            status: AlertStatus::Escalated,
            acknowledged_at: None,
            triaged_at: None,
            closed_at: None,
        };
        assert_eq!(escalated.transition(AlertStatus::Triaging, t(5)).acknowledged_at, None);
        let open = Lifecycle { status: AlertStatus::Open, ..escalated };
        let closed = open.transition(AlertStatus::Closed, t(7));
        assert_eq!((closed.acknowledged_at, closed.triaged_at), (Some(t(7)), None));
    }

    #[test]
    fn enums_round_trip_and_rank() {
        assert_eq!(Severity::parse("High"), Ok(Severity::High));
        assert!(Severity::parse("high").is_err());
        assert_eq!(Malice::worst(["Benign", "Malicious", "weird"]), Malice::Malicious);
        assert_eq!(Malice::worst([]), Malice::Pending);
        assert_eq!(CloseClassification::ALL.len(), 7);
        assert!(Severity::Critical.rank() > Severity::Pending.rank());
    }
}
