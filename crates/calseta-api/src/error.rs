//! The API error envelope and the one mapping from service errors to HTTP.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calseta_services::{FieldError, ServiceError};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

/// `{"error": {"code", "message", "details"}}`
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The inside of an error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// UPPER_SNAKE error code, e.g. `VALIDATION_ERROR`.
    pub code: String,
    /// Human-readable message.
    pub message: String,
    /// Structured details (e.g. `errors` for validation failures).
    #[schema(value_type = Object)]
    pub details: Value,
}

/// An error response.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    details: Value,
    retry_after: Option<u64>,
    allow: Option<String>,
}

impl ApiError {
    /// An error with empty details.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: json!({}), retry_after: None, allow: None }
    }

    /// Adds details.
    pub fn with_details(mut self, details: Value) -> Self {
        self.details = details;
        self
    }

    /// 404 `NOT_FOUND`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 422 `VALIDATION_ERROR` with the reference's `details.errors` list.
    pub fn validation(errors: &[FieldError]) -> Self {
        let errors: Vec<Value> =
            errors.iter().map(|e| json!({"type": e.kind, "loc": e.loc, "msg": e.msg})).collect();
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "VALIDATION_ERROR", "Request validation failed.")
            .with_details(json!({ "errors": errors }))
    }

    /// 429 `RATE_LIMITED` with `Retry-After`.
    fn rate_limited(retry_after: u64) -> Self {
        let mut e =
            Self::new(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED", "Rate limit exceeded. Try again later.")
                .with_details(json!({ "retry_after_seconds": retry_after }));
        e.retry_after = Some(retry_after);
        e
    }

    /// 405 `METHOD_NOT_ALLOWED`, listing the allowed methods when known.
    pub fn method_not_allowed(allow: Option<String>) -> Self {
        let mut e = Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            "The method is not allowed for the requested resource.",
        );
        e.allow = allow;
        e
    }

    /// 500 `INTERNAL_ERROR`, never with internals.
    pub fn internal() -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL_ERROR", "An unexpected error occurred.")
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }
}

impl From<calseta_services::params::ParamsError> for ApiError {
    fn from(error: calseta_services::params::ParamsError) -> Self {
        ServiceError::from(error).into()
    }
}

impl From<ServiceError> for ApiError {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::NotFound(message) => ApiError::not_found(message),
            ServiceError::Unknown { code, message } => ApiError::new(StatusCode::NOT_FOUND, code, message),
            ServiceError::Invalid(errors) => ApiError::validation(&errors),
            ServiceError::CodeInvalid(errors) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "WORKFLOW_CODE_INVALID",
                "Workflow code failed validation",
            )
            .with_details(json!({ "errors": errors })),
            ServiceError::Malformed { code, message } | ServiceError::Refused { code, message } => {
                ApiError::new(StatusCode::BAD_REQUEST, code, message)
            }
            ServiceError::Unprocessable { code, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ServiceError::Forbidden { code, message } => ApiError::new(StatusCode::FORBIDDEN, code, message),
            ServiceError::Unauthenticated { code, message } => {
                ApiError::new(StatusCode::UNAUTHORIZED, code, message)
            }
            ServiceError::Conflict { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            ServiceError::RateLimited { retry_after } => ApiError::rate_limited(retry_after.as_secs().max(1)),
            // Every unavailability is temporary: the client is told when to try again.
            ServiceError::Unavailable(message) => {
                let seconds = calseta_services::UNAVAILABLE_RETRY_AFTER.as_secs();
                let mut e = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "SERVICE_UNAVAILABLE", message)
                    .with_details(json!({ "retry_after_seconds": seconds }));
                e.retry_after = Some(seconds);
                e
            }
            ServiceError::Store(e) => {
                tracing::error!(error = %e, "storage error");
                ApiError::internal()
            }
            ServiceError::Config(e) => {
                tracing::error!(error = %e, "configuration error");
                ApiError::internal()
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail { code: self.code.to_string(), message: self.message, details: self.details },
        };
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if let Some(allow) = self.allow
            && let Ok(value) = HeaderValue::from_str(&allow)
        {
            response.headers_mut().insert(header::ALLOW, value);
        }
        response
    }
}
