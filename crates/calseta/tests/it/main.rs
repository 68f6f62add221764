//! Calseta's integration tests: the real server on port 0 over HTTP, on SQLite always and on
//! PostgreSQL when `TEST_DATABASE_URL` is set (a fresh database per test, cloned from a migrated
//! template).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::print_stdout, clippy::print_stderr)]

mod agents;
mod alerts;
mod api_keys;
mod approvals;
mod browser;
mod bulk_load;
mod cli;
mod console;
mod console_agents;
mod console_approvals;
mod console_browser;
mod console_dashboard;
mod console_detail;
mod console_documents;
mod console_indicators;
mod console_live;
mod console_providers;
mod console_queue;
mod console_response;
mod console_rules;
mod console_settings_keys;
mod console_settings_system;
mod console_setup;
mod console_workflows;
mod contract;
mod contract_fixes;
mod destinations;
mod enrichment;
mod enrichment_truth;
mod extraction;
mod helpers;
mod http;
mod ingest;
mod jobs;
mod knowledge;
mod layout;
mod mcp;
mod metrics;
mod openapi_types;
mod ops_contract;
mod outage;
mod payload;
mod query_plans;
mod respond;
mod sandbox;
mod sandbox_attacks;
mod schema;
mod scopes;
mod secret_grants;
mod workflow_generate;
mod workflows;
mod wrapped_extraction;
