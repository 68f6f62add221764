//! One module per resource.

pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod approval_pages;
pub mod context_documents;
pub mod detection_rules;
pub mod enrichment;
pub mod health;
pub mod indicator_mappings;
pub mod indicators;
pub mod ingest;
pub mod jobs;
pub mod metrics;
pub mod payloads;
pub mod respond;
pub mod settings;
pub mod sources;
pub mod telemetry;
pub mod workflows;
