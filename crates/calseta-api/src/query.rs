//! Query strings with repeated keys, comma lists, and the reference's error shapes.

use std::collections::HashMap;

use axum::http::StatusCode;
use calseta_core::pagination::PageRequest;
use calseta_services::FieldError;
use chrono::{DateTime, Utc};

use crate::envelope::{PageParams, query_error};
use crate::error::ApiError;

/// A parsed query string.
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    /// Parses a raw query string.
    pub fn parse(raw: Option<&str>) -> Self {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(map)
    }

    /// The last non-empty value of `name`.
    pub fn one(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// The last value of `name` as sent, even when empty: a typed parameter sent empty is an
    /// error (as in v1), not an absent one.
    pub fn given(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.last()).map(String::as_str)
    }

    /// A comma-separated list (trimmed, empties dropped).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.one(name)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// Every value of a repeated key.
    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.get(name).map(|v| v.iter().filter(|s| !s.is_empty()).cloned().collect()).unwrap_or_default()
    }

    /// An integer parameter.
    pub fn int(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<i64> {
        let text = self.given(name)?;
        text.parse().map_err(|_| errors.push(query_error(name, "Input should be a valid integer"))).ok()
    }

    /// A boolean parameter.
    pub fn boolean(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<bool> {
        match self.given(name)?.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Some(true),
            "false" | "0" | "no" | "off" => Some(false),
            _ => {
                errors.push(query_error(name, "Input should be a valid boolean"));
                None
            }
        }
    }

    /// A timestamp parameter.
    pub fn time(&self, name: &str, errors: &mut Vec<FieldError>) -> Option<DateTime<Utc>> {
        let text = self.given(name)?;
        let parsed = calseta_core::time::parse_timestamp(text);
        if parsed.is_none() {
            errors.push(query_error(name, "Input should be a valid datetime"));
        }
        parsed
    }

    /// `page` and `page_size`.
    pub fn page(&self, errors: &mut Vec<FieldError>) -> Result<PageRequest, ApiError> {
        let params = PageParams { page: self.int("page", errors), page_size: self.int("page_size", errors) };
        params.validate()
    }

    /// `sort_by` (one of `allowed`, default `default`) and `sort_order` (`asc`/`desc`, default desc);
    /// anything else is the reference's 400.
    pub fn sort(&self, allowed: &[&str], default: &str) -> Result<(String, bool), ApiError> {
        let by = self.one("sort_by").unwrap_or(default);
        if !allowed.contains(&by) {
            return Err(bad_sort(&format!("sort_by must be one of {}.", allowed.join(", "))));
        }
        let descending = match self.one("sort_order") {
            None | Some("desc") => true,
            Some("asc") => false,
            Some(_) => return Err(bad_sort("sort_order must be asc or desc.")),
        };
        Ok((by.to_string(), descending))
    }
}

/// 400 `VALIDATION_ERROR` for bad sort parameters (v1 answers 400 here, not 422).
pub fn bad_sort(message: &str) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", message.to_string())
}
