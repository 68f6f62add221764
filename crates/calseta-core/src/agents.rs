//! Agent vocabulary: the payload profile an agent receives and the outcome of a delivery.

string_enum!(
    /// Which `alert.enriched` payload an agent receives.
    PayloadProfile, "payload_profile", {
        Full => "full",
        Compact => "compact",
    }
);

string_enum!(
    /// The outcome of one delivery attempt to an agent (`agent_runs.status`).
    DeliveryStatus, "delivery status", {
        Success => "success",
        Failed => "failed",
        Timeout => "timeout",
    }
);
