//! What the alert page's modules share: reading the path's uuid, turning a service refusal into
//! a page, the `303` back to the page, and the fixed CSS words and text forms of values.

use axum::response::Response;
use calseta_core::alerts::{Malice, Severity};
use calseta_services::ServiceError;
use serde_json::Value;
use uuid::Uuid;

use super::{PageError, path_uuid, see_other};

/// The CSS modifier of a verdict (fixed words, never alert text).
pub(super) fn malice_class(malice: Malice) -> &'static str {
    match malice {
        Malice::Malicious => "malice-malicious",
        Malice::Suspicious => "malice-suspicious",
        Malice::Benign => "malice-benign",
        Malice::Pending => "malice-pending",
    }
}

/// The CSS modifier of a severity (fixed words, never alert text).
pub(super) fn severity_class(severity: Severity) -> &'static str {
    match severity {
        Severity::Critical => "sev-critical",
        Severity::High => "sev-high",
        Severity::Medium => "sev-medium",
        Severity::Low => "sev-low",
        Severity::Informational => "sev-info",
        Severity::Pending => "sev-pending",
    }
}

/// A JSON value as one line of text (strings without quotes).
pub(super) fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The uuid of the path, or the 404 page a malformed one answers with.
pub(super) fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "There is no alert with this id.")
}

/// A service refusal as a page: invalid input is a 400 that says what was wrong, a refused
/// request (e.g. an inactive workflow) a 422 with the service's reason.
pub(super) fn refusal(error: ServiceError) -> PageError {
    match error {
        ServiceError::Invalid(errors) => {
            let message = errors.iter().map(|e| e.msg.as_str()).collect::<Vec<_>>().join(" ");
            PageError::bad_request(format!("The change was not made: {message}"))
        }
        ServiceError::NotFound(_) => PageError::not_found("There is no alert with this id."),
        ServiceError::Refused { message, .. } => PageError::unprocessable(message),
        other => PageError::from(other),
    }
}

/// `303` back to the alert's page (at `anchor`).
pub(super) fn back_to(uuid: Uuid, anchor: &str) -> Response {
    see_other(&format!("/alerts/{uuid}#{anchor}"))
}
