//! The job runtime's error type (callers map it into their own layer's error).

use calseta_store::StoreError;

/// Why a job operation failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// No job has this id.
    #[error("Job not found.")]
    NotFound,
    /// Only dead letters can be retried.
    #[error("Only dead jobs can be retried; this job is '{status}'.")]
    NotDead {
        /// The job's current status.
        status: calseta_core::jobs::JobStatus,
    },
    /// A payload could not be encoded.
    #[error("job payload: {0}")]
    Payload(#[from] serde_json::Error),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
