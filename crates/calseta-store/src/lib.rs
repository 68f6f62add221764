//! Calseta storage.
//!
//! Owns the database: the [`Db`] handle over SQLite (embedded default) or PostgreSQL (scale-out),
//! the embedded migrations for both engines, one repository module per table family, and the
//! durable `jobs` table (enqueue in the caller's transaction, claim with a lease, retry, dead letters).
//! Every query is written once in portable SQL (`$n` placeholders, `RETURNING`, `ON CONFLICT`) and
//! run on whichever engine the [`Db`] holds.

#[macro_use]
mod macros;
#[macro_use]
mod query;
mod sql;

pub mod activity;
pub mod agent_runs;
pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod bulk;
pub mod console_sessions;
pub mod context_documents;
mod counters;
mod db;
pub mod detection_rules;
mod engine;
pub mod enrichment_cache;
pub mod enrichment_providers;
mod enums;
mod error;
pub mod field_extractions;
pub mod indicators;
pub mod jobs;
pub mod mappings;
pub mod metrics;
mod migrations;
pub mod query_plans;
pub mod retention;
pub mod sandbox;
pub mod schema;
pub mod secrets;
pub mod sources;
pub mod state;
pub mod workflow_approvals;
pub mod workflow_runs;
pub mod workflows;
mod writer;

pub use counters::DbWork;
pub use db::{Db, DbOptions, Tx, now};
pub use engine::Engine;
pub use enums::NullableText;
pub use error::StoreError;
pub use migrations::fingerprint as migrations_fingerprint;
