//! Calseta's durable job runtime, with no knowledge of the domain.
//!
//! Owns the contract between whoever queues work and whoever does it — job kinds with typed
//! payloads ([`kind`]), the handler trait and the per-attempt context ([`handler`]), the registry of
//! handlers ([`registry`]) — and the machinery that runs it: the worker loop with claims, leases,
//! fencing, back-off, dead letters and wake-ups ([`worker`]), administration of jobs ([`admin`]) and
//! periodic maintenance ([`maintenance`]). Which kinds exist, which queues come first and how many
//! slots each queue may use are decided by the composition root that builds the registry and the
//! [`WorkerConfig`]; nothing here names a domain queue.

pub mod admin;
mod error;
pub mod handler;
pub mod kind;
pub mod maintenance;
pub mod registry;
pub mod worker;

pub use admin::Job;
pub use error::JobError;
pub use handler::{JobContext, JobFailure, JobHandler};
pub use kind::{JobKind, PreparedJob, enqueue, enqueue_payload};
pub use registry::JobRegistry;
pub use worker::{Worker, WorkerConfig};
