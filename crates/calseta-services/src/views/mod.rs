//! Read models shared by REST, MCP and dispatch: the alert detail with its enrichment summaries,
//! the alert with its context, the `alert.enriched` payload, MCP's list items, and the JSON views of documents, agents and sources, workflows and approvals, the approval inbox, and health.

pub mod agents;
pub mod alert_context;
pub mod alert_detail;
pub mod alerts;
pub mod approval_inbox;
pub mod briefs;
pub mod compact;
pub mod documents;
pub mod enrichment;
pub mod health;
pub mod payload;
pub mod records;
pub mod system;
pub mod workflows;
