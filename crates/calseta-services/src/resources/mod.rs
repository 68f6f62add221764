//! The resources agents and analysts read and change, shared by REST and MCP: alerts and their
//! indicators, agents, sources, enrichment providers and field extractions, indicator mappings,
//! detection rules, context documents, API keys (with the bootstrap key), the console's sessions
//! and jobs. (The append-only activity log every change writes to is the low-level
//! `crate::audit`.)

pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod body;
pub mod bootstrap;
pub mod console_sessions;
pub mod context_documents;
pub mod detection_rules;
pub mod field_extractions;
pub mod indicators;
pub mod jobs;
pub mod mappings;
pub mod providers;
pub mod retention;
pub mod secrets;
pub mod sources;
pub mod workflow_generator;
pub mod workflow_templates;
pub mod workflows;
