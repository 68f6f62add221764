//! Calseta workflows' runtime: validation of workflow code at save time (by the interpreter's own
//! parser) and execution of one run in a sandboxed CPython child — namespaces, Landlock, seccomp
//! and resource limits — whose every effect outside goes through the parent ([`WorkflowHost`]).
//! No domain types: the services crate supplies the context and the host.
#![deny(unsafe_code)]

pub mod mask;
mod pool;
pub mod runtime;
pub mod sandbox;

pub use runtime::{
    HttpAnswer, HttpCall, RunOutcome, RunRequest, RunStatus, Runtime, RuntimeError, SandboxLevel,
    SandboxOptions, WorkflowHost,
};
pub use sandbox::{Layers, RunLimits, THREADS_PER_RUN};

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
