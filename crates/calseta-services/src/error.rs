//! The service layer's error type; the API maps it to HTTP in exactly one place.

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
}

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The addressed resource does not exist; the message is shown to the client.
    #[error("{0}")]
    NotFound(String),
    /// Input failed validation (422 `VALIDATION_ERROR`).
    #[error("validation failed: {0:?}")]
    Validation(Vec<FieldError>),
    /// A domain rule refused the request, with its own code and status.
    #[error("{code}: {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// Error code, e.g. `DUPLICATE_PROVIDER`.
        code: &'static str,
        /// Message for the client.
        message: String,
    },
    /// Misconfiguration discovered at startup or at use.
    #[error("configuration error: {0}")]
    Config(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A dependency did not answer in time.
    #[error("timed out: {0}")]
    Timeout(String),
}

impl ServiceError {
    /// A single-field validation error.
    pub fn invalid(field: &str, msg: impl Into<String>) -> Self {
        ServiceError::Validation(vec![FieldError::body(field, msg)])
    }
}
