//! Calseta's domain vocabulary and pure logic.
//!
//! This crate owns the types every other layer speaks in — scopes, API-key formats, pagination
//! rules, job retry policies — and the deterministic logic over them. It performs no IO and has no
//! async code, so everything here is unit-testable in isolation.

#[macro_use]
mod macros;

pub mod activity;
pub mod agents;
pub mod alerts;
pub mod api_keys;
pub mod decoders;
pub mod enrichment;
pub mod entities;
pub mod extraction;
pub mod freetext;
pub mod indicators;
pub mod jobs;
pub mod mitre;
pub mod pagination;
pub mod paths;
pub mod redact;
pub mod scopes;
pub mod sources;
pub mod targeting;
pub mod time;
pub mod webhooks;
pub mod workflows;

/// An enumeration value that is not one of the known strings.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not a valid {kind}; expected one of: {expected}")]
pub struct UnknownValue {
    /// What was being parsed (e.g. "scope").
    pub kind: &'static str,
    /// The rejected input.
    pub value: String,
    /// The accepted values, comma separated.
    pub expected: String,
}

impl UnknownValue {
    /// Builds the error for `value` given the accepted `options`.
    pub fn new(kind: &'static str, value: &str, options: &[&str]) -> Self {
        Self { kind, value: value.to_string(), expected: options.join(", ") }
    }
}
