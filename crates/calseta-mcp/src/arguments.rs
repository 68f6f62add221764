//! Reading a tool call's arguments: each getter names the argument in its error, so a model that
//! sends a wrong value is told which one and why.

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::error::McpFailure;

/// The longest text argument (a finding's summary is the longest the use cases take).
const MAX_TEXT: usize = 65_536;
/// The most values a list argument takes (each becomes a query parameter).
const MAX_LIST: usize = 50;

/// A tool call's arguments (`null` counts as absent).
pub(crate) struct Arguments {
    map: Map<String, Value>,
}

fn bad(message: String) -> McpFailure {
    McpFailure::BadArgument(message)
}

impl Arguments {
    /// The arguments, refusing any name outside `known`.
    pub(crate) fn new(map: Option<Map<String, Value>>, known: &[&str]) -> Result<Self, McpFailure> {
        let map = map.unwrap_or_default();
        let unknown: Vec<&str> = map.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
        if !unknown.is_empty() {
            return Err(bad(format!(
                "Unknown argument(s): {}. Allowed: {}.",
                unknown.join(", "),
                known.join(", ")
            )));
        }
        Ok(Arguments { map })
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// An optional string (at most [`MAX_TEXT`] characters; the use case may allow fewer).
    pub(crate) fn text(&self, name: &str) -> Result<Option<String>, McpFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) if s.chars().count() > MAX_TEXT => {
                Err(bad(format!("{name} is at most {MAX_TEXT} characters")))
            }
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(bad(format!("{name} must be a string, not {}", kind(other)))),
        }
    }

    /// A string that must be given and not blank.
    pub(crate) fn required_text(&self, name: &str) -> Result<String, McpFailure> {
        match self.text(name)? {
            Some(s) if !s.trim().is_empty() => Ok(s),
            Some(_) => Err(bad(format!("{name} must not be empty"))),
            None => Err(bad(format!("{name} is required"))),
        }
    }

    /// A UUID that must be given.
    pub(crate) fn uuid(&self, name: &str) -> Result<Uuid, McpFailure> {
        let text = self.required_text(name)?;
        parse_uuid(name, &text)
    }

    /// An optional UUID.
    pub(crate) fn optional_uuid(&self, name: &str) -> Result<Option<Uuid>, McpFailure> {
        self.text(name)?.map(|t| parse_uuid(name, &t)).transpose()
    }

    /// An optional boolean.
    pub(crate) fn boolean(&self, name: &str) -> Result<Option<bool>, McpFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(bad(format!("{name} must be true or false, not {}", kind(other)))),
        }
    }

    /// An optional number.
    pub(crate) fn number(&self, name: &str) -> Result<Option<f64>, McpFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(n.as_f64()),
            Some(other) => Err(bad(format!("{name} must be a number, not {}", kind(other)))),
        }
    }

    /// An optional whole number in `min..=max`.
    fn integer(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, McpFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(i) if (min..=max).contains(&i) => Ok(Some(i)),
                _ => Err(bad(format!("{name} must be a whole number from {min} to {max}"))),
            },
            Some(other) => Err(bad(format!("{name} must be a whole number, not {}", kind(other)))),
        }
    }

    /// `page` (default 1) and `page_size` (default 20; larger sizes are cut to 100, as v1's search
    /// tools do).
    pub(crate) fn page(&self) -> Result<PageRequest, McpFailure> {
        let page = self.integer("page", 1, i64::from(u32::MAX))?.unwrap_or(1);
        let page_size = match self.present("page_size") {
            Some(Value::Number(n)) if n.as_i64().is_some_and(|i| i < 1) => {
                return Err(bad("page_size must be at least 1".into()));
            }
            _ => self.integer("page_size", 1, i64::MAX)?.unwrap_or(20).min(100),
        };
        Ok(PageRequest { page: page as u32, page_size: page_size as u32 })
    }

    /// An optional ISO 8601 timestamp.
    pub(crate) fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, McpFailure> {
        let Some(text) = self.text(name)? else { return Ok(None) };
        calseta_core::time::parse_timestamp(&text)
            .map(Some)
            .ok_or_else(|| bad(format!("{name} must be an ISO 8601 timestamp, e.g. 2026-01-31T12:00:00Z")))
    }

    /// A list given as a comma-separated string (v1) or as an array of strings.
    pub(crate) fn list(&self, name: &str) -> Result<Vec<String>, McpFailure> {
        let items: Vec<String> = match self.present(name) {
            None => return Ok(Vec::new()),
            Some(Value::String(s)) => s.split(',').map(str::to_string).collect(),
            Some(Value::Array(values)) => values
                .iter()
                .map(|v| v.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad(format!("{name} must be a list of strings")))?,
            Some(other) => Err(bad(format!("{name} must be a comma-separated string, not {}", kind(other))))?,
        };
        let items: Vec<String> =
            items.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
        if items.len() > MAX_LIST || items.iter().any(|i| i.chars().count() > 255) {
            return Err(bad(format!("{name} takes at most {MAX_LIST} values of at most 255 characters")));
        }
        Ok(items)
    }

    /// An optional JSON object.
    pub(crate) fn object(&self, name: &str) -> Result<Option<Value>, McpFailure> {
        match self.present(name) {
            None => Ok(None),
            Some(v @ Value::Object(_)) => Ok(Some(v.clone())),
            Some(other) => Err(bad(format!("{name} must be an object, not {}", kind(other)))),
        }
    }

    /// `sort_order`: `asc` or `desc` (default), as descending.
    pub(crate) fn descending(&self) -> Result<bool, McpFailure> {
        match self.text("sort_order")?.as_deref() {
            None | Some("desc") => Ok(true),
            Some("asc") => Ok(false),
            Some(other) => Err(bad(format!("sort_order must be asc or desc, not '{other}'"))),
        }
    }

    /// `sort_by`, one of `allowed` (default `default`).
    pub(crate) fn sort_by(&self, allowed: &[&str], default: &str) -> Result<String, McpFailure> {
        match self.text("sort_by")? {
            None => Ok(default.to_string()),
            Some(s) if allowed.contains(&s.as_str()) => Ok(s),
            Some(s) => Err(bad(format!("sort_by must be one of {}, not '{s}'", allowed.join(", ")))),
        }
    }
}

/// `text` as a UUID, or an error naming `name`.
pub(crate) fn parse_uuid(name: &str, text: &str) -> Result<Uuid, McpFailure> {
    // Quote at most a UUID's length of what was sent: the message goes back to a model's context.
    let shown: String = text.chars().take(40).collect();
    let more = if text.chars().count() > 40 { "…" } else { "" };
    Uuid::parse_str(text.trim()).map_err(|_| bad(format!("{name} must be a UUID, not '{shown}{more}'")))
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
