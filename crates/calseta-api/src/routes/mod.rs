//! One module per resource.

pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod approval_pages;
pub mod enrichment;
pub mod health;
pub mod indicator_mappings;
pub mod indicators;
pub mod ingest;
pub mod jobs;
pub mod knowledge;
pub mod metrics;
pub mod respond;
pub mod settings;
pub mod telemetry;
pub mod workflows;
