//! Job kinds and queueing: a kind names its handler, its queue and its retry policy; a payload is
//! any serde type, encoded once when the job is queued and decoded by the handler.

use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_store::Tx;
use calseta_store::jobs::{self as repo, NewJob};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::JobError;

/// A kind of job: its handler name, queue and retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JobKind {
    /// Handler name stored in `jobs.kind`.
    pub name: &'static str,
    /// Queue it is counted and budgeted under.
    pub queue: &'static str,
    /// Attempts and back-off.
    pub retry: RetryPolicy,
}

impl JobKind {
    /// The same kind with another retry policy (configured attempts or back-off).
    pub const fn with_retry(self, retry: RetryPolicy) -> Self {
        Self { retry, ..self }
    }

    /// A job of this kind with `payload`, ready to be queued later in some transaction.
    pub fn prepare(&self, payload: &impl Serialize) -> Result<PreparedJob, JobError> {
        Ok(PreparedJob(NewJob {
            kind: self.name.to_string(),
            queue: self.queue.to_string(),
            payload: serde_json::to_value(payload)?,
            max_attempts: self.retry.max_attempts,
            run_at: calseta_store::now(),
        }))
    }
}

/// A job built ahead of the transaction that queues it (e.g. while no write lock is held).
#[derive(Debug, Clone)]
pub struct PreparedJob(NewJob);

impl PreparedJob {
    /// Overrides the attempts allowed for this one job (e.g. per destination).
    pub fn with_max_attempts(mut self, attempts: u32) -> Self {
        self.0.max_attempts = attempts.max(1);
        self
    }

    /// Queues the job inside `tx`; it runs only if `tx` commits.
    pub async fn enqueue(&self, tx: &mut Tx) -> Result<Uuid, JobError> {
        Ok(repo::enqueue(tx, &self.0).await?)
    }
}

/// Queues `kind` with a raw JSON payload inside `tx`, to run after `delay`.
pub async fn enqueue(tx: &mut Tx, kind: &JobKind, payload: Value, delay: Duration) -> Result<Uuid, JobError> {
    let run_at = calseta_store::now() + chrono::Duration::from_std(delay).unwrap_or_default();
    let job = NewJob {
        kind: kind.name.to_string(),
        queue: kind.queue.to_string(),
        payload,
        max_attempts: kind.retry.max_attempts,
        run_at,
    };
    Ok(repo::enqueue(tx, &job).await?)
}

/// Queues `kind` with a typed payload inside `tx`, to run after `delay`.
pub async fn enqueue_payload(
    tx: &mut Tx,
    kind: &JobKind,
    payload: &impl Serialize,
    delay: Duration,
) -> Result<Uuid, JobError> {
    enqueue(tx, kind, serde_json::to_value(payload)?, delay).await
}
