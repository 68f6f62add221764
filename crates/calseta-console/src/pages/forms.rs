//! Form refusals shown where they belong: the services' validation errors (the same ones REST
//! answers with `422`) turned into messages next to the fields they name, and the rest of an
//! input refusal (a malformed payload, a duplicate name, a rule the domain enforces) as one notice
//! above the form. A configuration page re-renders its form with what was typed and these
//! errors, answered `422`, instead of the error page.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_services::ServiceError;

use super::{PageError, render};

/// What a form submission was refused for: messages per field and messages for the whole form.
#[derive(Debug, Clone, Default)]
pub struct FormErrors {
    /// Messages about the form as a whole, shown above it.
    pub general: Vec<String>,
    /// `(field path, message)`: the path is the REST body's location joined with dots
    /// (`scopes.0`, `steps.1.url`), so the same refusal names the same field in both front ends.
    fields: Vec<(String, String)>,
}

impl FormErrors {
    /// No errors: a form shown for the first time.
    pub fn none() -> Self {
        Self::default()
    }

    /// Adds a message for `field` (a page's own check, before the services are asked).
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.fields.push((field.to_string(), message.into()));
    }

    /// Adds a message for the whole form.
    pub fn add_general(&mut self, message: impl Into<String>) {
        self.general.push(message.into());
    }

    /// Whether nothing was refused.
    pub fn is_empty(&self) -> bool {
        self.general.is_empty() && self.fields.is_empty()
    }

    /// Whether `field` (or something inside it, `field.N…`) was refused: its input is marked
    /// `aria-invalid` and described by its message.
    pub fn invalid(&self, field: &str) -> bool {
        self.fields.iter().any(|(path, _)| Self::names(path, field))
    }

    /// The messages for `field` and what is inside it, joined, or `None`.
    pub fn field(&self, field: &str) -> Option<String> {
        let messages: Vec<&str> = self
            .fields
            .iter()
            .filter(|(path, _)| Self::names(path, field))
            .map(|(_, m)| m.as_str())
            .collect();
        (!messages.is_empty()).then(|| messages.join(" "))
    }

    /// Every field message with its path, for refusals naming a field the form does not show.
    pub fn all_fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(path, message)| (path.as_str(), message.as_str()))
    }

    fn names(path: &str, field: &str) -> bool {
        path == field || path.strip_prefix(field).is_some_and(|rest| rest.starts_with('.'))
    }

    /// The refusal `error` as form errors when it is about the input (validation, malformed or
    /// unprocessable input, a conflict, a domain refusal, an unknown name); anything else — not
    /// found, not allowed, the database down — stays the error page.
    pub fn from_service(error: ServiceError) -> Result<FormErrors, PageError> {
        let mut errors = FormErrors::none();
        match error {
            ServiceError::Invalid(fields) => {
                for field in fields {
                    // REST's location is `["body", "steps", "1", "url"]`: the field is what follows.
                    let path: Vec<&str> = field
                        .loc
                        .iter()
                        .map(String::as_str)
                        .skip_while(|part| *part == "body" || *part == "query")
                        .collect();
                    errors.add(&path.join("."), field.msg);
                }
            }
            ServiceError::CodeInvalid(problems) => {
                for problem in problems {
                    errors.add("code", problem);
                }
            }
            ServiceError::Malformed { code, message }
            | ServiceError::Unprocessable { code, message }
            | ServiceError::Refused { code, message }
            | ServiceError::Conflict { code, message }
            | ServiceError::Unknown { code, message } => errors.add_general(format!("{message} ({code})")),
            other => return Err(other.into()),
        }
        Ok(errors)
    }
}

/// Renders a form page that was refused: the page with its errors, answered `422`.
pub fn render_refused<T: askama::Template>(page: &T) -> Response {
    let mut response = render(page);
    if response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response.into_response()
}

#[cfg(test)]
mod tests {
    use calseta_services::error::FieldError;

    use super::*;

    #[test]
    fn validation_errors_name_the_rest_fields_and_their_parents() {
        let errors = FormErrors::from_service(ServiceError::Invalid(vec![
            FieldError::body("name", "Name is required."),
            FieldError {
                loc: vec!["body".into(), "steps".into(), "1".into(), "url".into()],
                msg: "Bad URL.".into(),
                kind: "value_error".into(),
            },
        ]))
        .unwrap();
        assert_eq!(errors.field("name").as_deref(), Some("Name is required."));
        assert!(errors.invalid("steps") && errors.invalid("steps.1.url") && !errors.invalid("step"));
        assert_eq!(errors.field("steps.1").as_deref(), Some("Bad URL."));
        assert!(errors.general.is_empty());
    }

    #[test]
    fn domain_refusals_are_general_and_other_failures_stay_error_pages() {
        let errors = FormErrors::from_service(ServiceError::conflict("DUPLICATE_NAME", "Taken.")).unwrap();
        assert_eq!(errors.general, vec!["Taken. (DUPLICATE_NAME)".to_string()]);
        let code = FormErrors::from_service(ServiceError::CodeInvalid(vec!["line 3, column 5: bad".into()]))
            .unwrap();
        assert!(code.invalid("code"));
        let page = FormErrors::from_service(ServiceError::NotFound("gone".into())).unwrap_err();
        assert_eq!(page.status(), StatusCode::NOT_FOUND);
    }

    #[test]
    fn a_refusal_shown_as_a_page_keeps_its_status_and_is_never_a_500() {
        use calseta_services::ServiceError as E;
        let cases = [
            (
                E::refused("BUILTIN_RESTRICTED", "Builtins cannot be deleted."),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (E::unprocessable("INVALID_PAYLOAD", "Bad."), StatusCode::UNPROCESSABLE_ENTITY),
            (E::invalid("name", "Name is required."), StatusCode::UNPROCESSABLE_ENTITY),
            (E::CodeInvalid(vec!["line 1: bad".into()]), StatusCode::UNPROCESSABLE_ENTITY),
            (E::Malformed { code: "INVALID_JSON", message: "Not JSON.".into() }, StatusCode::BAD_REQUEST),
            (
                E::Unknown { code: "UNKNOWN_SOURCE", message: "No such source.".into() },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                E::Unauthenticated { code: "INVALID_SIGNATURE", message: "Bad signature.".into() },
                StatusCode::FORBIDDEN,
            ),
        ];
        for (error, status) in cases {
            assert_eq!(PageError::from(error).status(), status);
        }
    }
}
