//! Building blocks with no domain knowledge: the SSRF-safe outbound HTTP client, encryption at
//! rest, the TTL cache with single-flight loading, and child-process isolation for untrusted input.

pub mod addresses;
pub mod cache;
pub mod crypto;
pub mod isolation;
pub mod outbound;
pub mod workflow_runtime;
