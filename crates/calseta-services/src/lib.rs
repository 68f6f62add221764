//! Calseta use cases, shared by the REST API, MCP and the worker.
//!
//! Owns the application logic above storage: API-key issuance and authentication, the
//! encryption-key lifecycle, the one-time bootstrap key, health reporting, and the durable job
//! runtime (claiming, lease renewal, retries, graceful shutdown) with its job kinds.

pub mod activity;
pub mod alert_enrichment;
pub mod alerts;
pub mod api_keys;
pub mod bootstrap;
pub mod crypto;
mod error;
pub mod health;
pub mod indicators;
pub mod ingestion;
pub mod jobs;
pub mod mappings;
pub mod worker;

pub use error::{FieldError, ServiceError};
