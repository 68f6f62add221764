//! Stored records that are already exactly what REST answers or takes, re-exported so the API
//! reaches them through the services (it depends on no storage crate). Records the API reshapes
//! belong in [`crate::views`] instead.

pub use calseta_jobs::Job;
pub use calseta_store::context_documents::DocumentFields;
pub use calseta_store::detection_rules::{DetectionRuleRow, RuleFields};
pub use calseta_store::enrichment_providers::ProviderRow;
pub use calseta_store::field_extractions::{
    ExtractionChanges, ExtractionFilter, ExtractionRow, NewExtraction,
};
pub use calseta_store::mappings::{MappingChanges, MappingFilter, MappingRow};
pub use calseta_store::workflow_approvals::ApprovalRow;
pub use calseta_store::workflow_runs::RunRow;
pub use calseta_store::workflows::SecretRow;

/// The current time at the precision stored timestamps have (microseconds), so a time shown next
/// to stored ones compares and prints like them.
pub fn now() -> chrono::DateTime<chrono::Utc> {
    calseta_store::now()
}
