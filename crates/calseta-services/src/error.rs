//! The service layer's error type, in domain terms. The REST API maps it to HTTP in exactly one
//! place (`calseta-api/src/error.rs`) and MCP maps the same enum in one place of its own; nothing
//! here knows a status code.

use std::time::Duration;

use calseta_jobs::{JobError, JobFailure};
use calseta_store::StoreError;

/// One invalid input field, in the shape of the reference's `details.errors` items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Where: e.g. `["body", "scopes", "0"]`.
    pub loc: Vec<String>,
    /// What is wrong, for a person.
    pub msg: String,
    /// Machine-readable kind, e.g. `value_error`.
    pub kind: String,
}

impl FieldError {
    /// A `value_error` at `body.<field>`.
    pub fn body(field: &str, msg: impl Into<String>) -> Self {
        Self { loc: vec!["body".into(), field.into()], msg: msg.into(), kind: "value_error".into() }
    }

    /// A `value_error` at `query.<field>`.
    pub fn query(field: &str, msg: impl Into<String>) -> Self {
        Self { loc: vec!["query".into(), field.into()], msg: msg.into(), kind: "value_error".into() }
    }
}

/// How long a client is told to wait after [`ServiceError::Unavailable`] (`Retry-After`).
pub const UNAVAILABLE_RETRY_AFTER: Duration = Duration::from_secs(5);

/// Why a use case failed.
///
/// Variants with a `code` carry the reference's error code (e.g. `DUPLICATE_PROVIDER`), which
/// clients match on; the message is shown to the client as it is.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The addressed resource does not exist.
    #[error("{0}")]
    NotFound(String),
    /// A named thing the request refers to is not known (e.g. `UNKNOWN_SOURCE`).
    #[error("{code}: {message}")]
    Unknown {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// Input fields failed validation, each with its location.
    #[error("validation failed: {0:?}")]
    Invalid(Vec<FieldError>),
    /// Workflow code that failed validation: every problem, with its line and column.
    #[error("workflow code failed validation: {0:?}")]
    CodeInvalid(Vec<String>),
    /// The input cannot be read at all (e.g. `INVALID_JSON`).
    #[error("{code}: {message}")]
    Malformed {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// The input was read but its content cannot be processed (e.g. `INVALID_PAYLOAD`,
    /// `UNSUPPORTED_FORMAT`).
    #[error("{code}: {message}")]
    Unprocessable {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// A domain rule refuses the operation as asked (e.g. `BUILTIN_RESTRICTED`, an endpoint the
    /// SSRF policy blocks).
    #[error("{code}: {message}")]
    Refused {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// The caller is known but may not do this (e.g. `SOURCE_NOT_ALLOWED`).
    #[error("{code}: {message}")]
    Forbidden {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// The request's proof of origin failed (e.g. `INVALID_SIGNATURE`).
    #[error("{code}: {message}")]
    Unauthenticated {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// The change conflicts with the current state (e.g. a duplicate, a job that is not dead).
    #[error("{code}: {message}")]
    Conflict {
        /// Error code.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// Too many requests; the caller may try again after the wait.
    #[error("rate limited; retry after {}s", retry_after.as_secs())]
    RateLimited {
        /// How long to wait.
        retry_after: Duration,
    },
    /// A dependency (the database, the workflow sandbox's slots, a child process, a remote) did
    /// not answer, did not commit or stayed busy; nothing was changed and the caller may retry
    /// after [`UNAVAILABLE_RETRY_AFTER`]. The text is for the client.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// Misconfiguration discovered at startup or at use.
    #[error("configuration error: {0}")]
    Config(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for ServiceError {
    fn from(error: StoreError) -> Self {
        match error {
            // Nothing of the request was stored: the client can safely retry.
            e @ (StoreError::WriterBusy | StoreError::CommitFailed(_)) => {
                tracing::error!(error = %e, "write not committed");
                ServiceError::Unavailable("The change could not be stored; retry.".into())
            }
            // The database is restarting, unreachable or full: nothing was done.
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ServiceError::Unavailable("The database is unavailable; retry shortly.".into())
            }
            e => ServiceError::Store(e),
        }
    }
}

impl ServiceError {
    /// A single-field validation error.
    pub fn invalid(field: &str, msg: impl Into<String>) -> Self {
        ServiceError::Invalid(vec![FieldError::body(field, msg)])
    }

    /// A [`ServiceError::Conflict`].
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Conflict { code, message: message.into() }
    }

    /// A [`ServiceError::Refused`].
    pub fn refused(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Refused { code, message: message.into() }
    }

    /// A [`ServiceError::Forbidden`].
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Forbidden { code, message: message.into() }
    }

    /// A [`ServiceError::Unprocessable`].
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Unprocessable { code, message: message.into() }
    }

    /// `Invalid` when `errors` is not empty.
    pub fn check(errors: Vec<FieldError>) -> Result<(), ServiceError> {
        if errors.is_empty() { Ok(()) } else { Err(ServiceError::Invalid(errors)) }
    }
}

impl From<JobError> for ServiceError {
    fn from(error: JobError) -> Self {
        match error {
            JobError::NotFound => ServiceError::NotFound("Job not found.".into()),
            e @ JobError::NotDead { .. } => {
                ServiceError::Conflict { code: "JOB_NOT_DEAD", message: e.to_string() }
            }
            JobError::Payload(e) => ServiceError::Config(format!("job payload: {e}")),
            JobError::Store(e) => e.into(),
        }
    }
}

/// A job that failed with a service error is retried when another attempt may succeed (a
/// dependency or the database was unavailable, something was busy or rate limited, or the
/// configuration may be fixed meanwhile); what the input or the state refuses is permanent.
impl From<ServiceError> for JobFailure {
    fn from(error: ServiceError) -> Self {
        match error {
            e @ (ServiceError::Unavailable(_)
            | ServiceError::RateLimited { .. }
            | ServiceError::Config(_)
            | ServiceError::Store(_)) => JobFailure::retryable(e),
            e @ (ServiceError::NotFound(_)
            | ServiceError::Unknown { .. }
            | ServiceError::Invalid(_)
            | ServiceError::CodeInvalid(_)
            | ServiceError::Malformed { .. }
            | ServiceError::Unprocessable { .. }
            | ServiceError::Refused { .. }
            | ServiceError::Forbidden { .. }
            | ServiceError::Unauthenticated { .. }
            | ServiceError::Conflict { .. }) => JobFailure::permanent(e),
        }
    }
}

/// The message for a body (or a pasted payload) that is not JSON: `JSON decode error: …` with
/// serde's account of where, the same words in REST and the console.
pub fn json_decode_message(error: &serde_json::Error) -> String {
    format!("JSON decode error: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_failures_retry_what_another_attempt_may_fix() {
        let retried = |e: ServiceError| {
            let text = e.to_string();
            let failure = JobFailure::from(e);
            assert_eq!(failure.message, text, "the message is the error's text");
            assert!(failure.postpone.is_none());
            failure.retryable
        };
        assert!(retried(ServiceError::Unavailable("db".into())));
        assert!(retried(ServiceError::RateLimited { retry_after: Duration::from_secs(1) }));
        assert!(retried(ServiceError::Config("key".into())));
        assert!(!retried(ServiceError::NotFound("gone".into())));
        assert!(!retried(ServiceError::invalid("field", "bad")));
        assert!(!retried(ServiceError::refused("SSRF_BLOCKED", "no")));
        assert!(!retried(ServiceError::forbidden("NOPE", "no")));
        assert!(!retried(ServiceError::conflict("DUP", "twice")));
    }
}
