//! Building blocks with no domain knowledge: the SSRF-safe outbound HTTP client, encryption at
//! rest, the TTL cache with single-flight loading, child-process isolation for untrusted input,
//! the chat transports (Slack, Teams) notifications go out through, request rate limits, per-key
//! semaphores, and this process's Prometheus telemetry.

pub mod addresses;
pub mod cache;
pub mod chat;
pub mod crypto;
pub mod isolation;
pub mod outbound;
pub mod rate_limit;
pub mod semaphores;
pub mod telemetry;
pub mod workflow_runtime;
