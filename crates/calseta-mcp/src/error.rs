//! The one mapping from failures to MCP: a tool's failure becomes a tool result with `isError`
//! (so the model reads why), a resource's becomes a JSON-RPC error. Both carry the reference's
//! error code and message, the same words REST uses.

use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::resources::api_keys::AuthFailure;
use rmcp::ErrorData;
use rmcp::model::{CallToolResult, ContentBlock, ErrorCode};
use serde_json::{Value, json};

/// JSON-RPC code for a missing, unknown or expired key (server-defined range).
const UNAUTHORIZED: ErrorCode = ErrorCode(-32001);
/// JSON-RPC code for a key without the scope the call needs.
const FORBIDDEN: ErrorCode = ErrorCode(-32003);
/// JSON-RPC code for a change that conflicts with the current state.
const CONFLICT: ErrorCode = ErrorCode(-32009);

/// Why an MCP call failed.
#[derive(Debug)]
pub(crate) enum McpFailure {
    /// No key, or a key that does not authenticate.
    Unauthenticated(AuthFailure),
    /// The key lacks the scope.
    Forbidden(Scope),
    /// An argument or URI the caller sent cannot be used.
    BadArgument(String),
    /// The use case refused or failed.
    Service(ServiceError),
}

impl From<ServiceError> for McpFailure {
    fn from(error: ServiceError) -> Self {
        McpFailure::Service(error)
    }
}

/// What a caller is told: JSON-RPC code, Calseta error code, message, details.
struct Told {
    rpc: ErrorCode,
    code: &'static str,
    message: String,
    details: Value,
}

fn told(rpc: ErrorCode, code: &'static str, message: impl Into<String>) -> Told {
    Told { rpc, code, message: message.into(), details: json!({}) }
}

impl McpFailure {
    fn told(self) -> Told {
        match self {
            McpFailure::Unauthenticated(failure) => match failure {
                AuthFailure::MissingHeader => told(
                    UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "Missing or invalid Authorization header. Expected: Bearer cai_...",
                ),
                AuthFailure::InvalidFormat => told(UNAUTHORIZED, "UNAUTHORIZED", "Invalid API key format."),
                AuthFailure::KeyExpired => told(UNAUTHORIZED, "KEY_EXPIRED", "API key has expired."),
                AuthFailure::InvalidKey => told(UNAUTHORIZED, "UNAUTHORIZED", "Invalid API key."),
                AuthFailure::Unavailable => told(
                    ErrorCode::INTERNAL_ERROR,
                    "SERVICE_UNAVAILABLE",
                    "The database is unavailable; retry shortly.",
                ),
            },
            McpFailure::Forbidden(scope) => Told {
                details: json!({ "required_scopes": [scope.as_str()] }),
                ..told(FORBIDDEN, "FORBIDDEN", format!("Insufficient scope. Required: {scope}"))
            },
            McpFailure::BadArgument(message) => told(ErrorCode::INVALID_PARAMS, "VALIDATION_ERROR", message),
            McpFailure::Service(error) => service_told(error),
        }
    }

    /// The failure's message alone.
    pub(crate) fn into_message(self) -> String {
        self.told().message
    }

    /// The failure as a tool result the model can read.
    pub(crate) fn into_tool_result(self) -> CallToolResult {
        let t = self.told();
        let mut body = json!({ "error": t.message, "code": t.code });
        if t.details.as_object().is_some_and(|d| !d.is_empty()) {
            body["details"] = t.details;
        }
        CallToolResult::error(vec![ContentBlock::text(body.to_string())])
    }

    /// The failure as a JSON-RPC error (resource reads and listings).
    pub(crate) fn into_protocol_error(self) -> ErrorData {
        let t = self.told();
        let mut data = json!({ "code": t.code });
        if t.details.as_object().is_some_and(|d| !d.is_empty()) {
            data["details"] = t.details;
        }
        ErrorData::new(t.rpc, t.message, Some(data))
    }
}

fn service_told(error: ServiceError) -> Told {
    match error {
        ServiceError::NotFound(message) => told(ErrorCode::RESOURCE_NOT_FOUND, "NOT_FOUND", message),
        ServiceError::Unknown { code, message } => told(ErrorCode::RESOURCE_NOT_FOUND, code, message),
        ServiceError::Invalid(errors) => {
            // Name the argument, not REST's `body`/`query` location.
            let message = errors
                .iter()
                .map(|e| match e.loc.last() {
                    Some(field) if e.msg.contains(field.as_str()) => e.msg.clone(),
                    Some(field) => format!("{field}: {}", e.msg),
                    None => e.msg.clone(),
                })
                .collect::<Vec<_>>()
                .join("; ");
            // Locations name the tool's arguments, not REST's body or query.
            let items: Vec<Value> = errors
                .iter()
                .map(|e| {
                    let mut loc = e.loc.clone();
                    if loc.first().is_some_and(|l| l == "body" || l == "query") {
                        loc[0] = "arguments".into();
                    }
                    json!({"type": e.kind, "loc": loc, "msg": e.msg})
                })
                .collect();
            Told {
                details: json!({ "errors": items }),
                ..told(ErrorCode::INVALID_PARAMS, "VALIDATION_ERROR", format!("Invalid input: {message}"))
            }
        }
        ServiceError::CodeInvalid(errors) => Told {
            details: json!({ "errors": errors }),
            ..told(ErrorCode::INVALID_PARAMS, "WORKFLOW_CODE_INVALID", "Workflow code failed validation")
        },
        ServiceError::Malformed { code, message }
        | ServiceError::Unprocessable { code, message }
        | ServiceError::Refused { code, message } => told(ErrorCode::INVALID_PARAMS, code, message),
        ServiceError::Forbidden { code, message } => told(FORBIDDEN, code, message),
        ServiceError::Unauthenticated { code, message } => told(UNAUTHORIZED, code, message),
        ServiceError::Conflict { code, message } => told(CONFLICT, code, message),
        ServiceError::RateLimited { retry_after } => Told {
            details: json!({ "retry_after_seconds": retry_after.as_secs().max(1) }),
            ..told(ErrorCode::INTERNAL_ERROR, "RATE_LIMITED", "Rate limit exceeded. Try again later.")
        },
        ServiceError::Unavailable(message) => Told {
            details: json!({ "retry_after_seconds": calseta_services::UNAVAILABLE_RETRY_AFTER.as_secs() }),
            ..told(ErrorCode::INTERNAL_ERROR, "SERVICE_UNAVAILABLE", message)
        },
        ServiceError::Store(e) => {
            tracing::error!(error = %e, "storage error");
            told(ErrorCode::INTERNAL_ERROR, "INTERNAL_ERROR", "An unexpected error occurred.")
        }
        ServiceError::Config(e) => {
            tracing::error!(error = %e, "configuration error");
            told(ErrorCode::INTERNAL_ERROR, "INTERNAL_ERROR", "An unexpected error occurred.")
        }
    }
}

impl McpFailure {
    /// A refusal by the HTTP layer, before any MCP message is read: REST's envelope and status
    /// (401 for a key, 429 with `Retry-After` for too many failed keys).
    pub(crate) fn into_http_response(self) -> axum::response::Response {
        use axum::http::{HeaderName, StatusCode, header};
        use axum::response::IntoResponse;
        let (status, header): (StatusCode, Option<(HeaderName, String)>) = match &self {
            // The key could not be looked up: the database is away, a retry may succeed.
            McpFailure::Unauthenticated(AuthFailure::Unavailable) => {
                (StatusCode::SERVICE_UNAVAILABLE, Some((header::RETRY_AFTER, "5".into())))
            }
            McpFailure::Unauthenticated(_) => {
                (StatusCode::UNAUTHORIZED, Some((header::WWW_AUTHENTICATE, "Bearer".into())))
            }
            McpFailure::Service(ServiceError::RateLimited { retry_after }) => (
                StatusCode::TOO_MANY_REQUESTS,
                Some((header::RETRY_AFTER, retry_after.as_secs().max(1).to_string())),
            ),
            _ => (StatusCode::BAD_REQUEST, None),
        };
        let t = self.told();
        let body = axum::Json(json!({"error": {"code": t.code, "message": t.message, "details": t.details}}));
        match header {
            Some(h) => (status, [h], body).into_response(),
            None => (status, body).into_response(),
        }
    }
}

/// Why the stdio server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum McpServeError {
    /// `CALSETA_API_KEY` is missing or does not authenticate.
    #[error("CALSETA_API_KEY: {0}")]
    Key(String),
    /// The MCP session failed.
    #[error("MCP session: {0}")]
    Session(String),
}
