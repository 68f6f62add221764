//! The provider configuration format (v1's `http_config`, `malice_rules`, field extractions).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

fn default_method() -> String {
    "GET".into()
}
fn default_timeout() -> f64 {
    30.0
}
fn default_expected() -> Vec<u16> {
    vec![200]
}
fn default_pending() -> String {
    "Pending".into()
}
fn default_operator() -> String {
    "==".into()
}

/// A provider's HTTP steps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpConfig {
    /// Run in order; later steps may use earlier responses.
    pub steps: Vec<HttpStep>,
    /// Replaces the first step's URL for an indicator type.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub url_templates_by_type: BTreeMap<String, String>,
}

/// A list of HTTP statuses: integers 0 to 65535, `200.0` read as `200` (JSON does not tell the two
/// apart, nor does the OpenAPI document's `integer`).
fn statuses<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<u16>, D::Error> {
    let numbers = Vec::<serde_json::Number>::deserialize(deserializer)?;
    numbers
        .iter()
        .map(|n| {
            let whole = n.as_u64().or_else(|| {
                n.as_f64().filter(|f| f.fract() == 0.0 && (0.0..=65_535.0).contains(f)).map(|f| f as u64)
            });
            whole.and_then(|w| u16::try_from(w).ok()).ok_or_else(|| {
                serde::de::Error::custom(format!("invalid value: {n}, expected a status from 0 to 65535"))
            })
        })
        .collect()
}

/// One HTTP request of a provider.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpStep {
    /// Defaults to `step_<i>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default = "default_method")]
    pub method: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub query_params: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json_body: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub form_body: Option<Map<String, Value>>,
    #[serde(default = "default_timeout")]
    pub timeout_seconds: f64,
    #[serde(default = "default_expected", deserialize_with = "statuses")]
    pub expected_status: Vec<u16>,
    #[serde(default, skip_serializing_if = "Vec::is_empty", deserialize_with = "statuses")]
    pub not_found_status: Vec<u16>,
    #[serde(default)]
    pub optional: bool,
}

impl HttpStep {
    /// The step's name (`step_<i>` when unnamed).
    pub fn name_at(&self, index: usize) -> String {
        self.name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("step_{index}"))
    }
}

/// Ordered threshold rules; the first match gives the verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MaliceRules {
    #[serde(default)]
    pub rules: Vec<MaliceRule>,
    #[serde(default = "default_pending")]
    pub default_verdict: String,
    #[serde(default = "default_pending")]
    pub not_found_verdict: String,
}

/// `field operator value → verdict`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MaliceRule {
    /// Dotted path into the response (step name first for multi-step providers).
    pub field: String,
    /// `==`, `!=`, `>`, `>=`, `<`, `<=`, `contains`, `in`.
    #[serde(default = "default_operator")]
    pub operator: String,
    #[serde(default)]
    pub value: Value,
    /// Defaults to the rules' `default_verdict`.
    #[serde(default)]
    pub verdict: Option<String>,
}

/// One response field copied into `extracted`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldExtraction {
    pub indicator_type: String,
    pub source_path: String,
    pub target_key: String,
    /// `string`, `int`, `float`, `bool`, `list`, `dict`, `any`.
    pub value_type: String,
}

const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// Problems with an `http_config`, as human messages (empty = valid).
pub fn validate_http_config(value: &Value) -> Result<HttpConfig, Vec<String>> {
    let config: HttpConfig =
        serde_json::from_value(value.clone()).map_err(|e| vec![format!("http_config: {e}")])?;
    let mut problems = Vec::new();
    if config.steps.is_empty() {
        problems.push("http_config.steps must hold at least one step".to_string());
    }
    for (i, step) in config.steps.iter().enumerate() {
        if step.url.trim().is_empty() {
            problems.push(format!("http_config.steps[{i}].url is empty"));
        }
        if !METHODS.contains(&step.method.to_uppercase().as_str()) {
            problems.push(format!("http_config.steps[{i}].method '{}' is not an HTTP method", step.method));
        }
        if !(step.timeout_seconds > 0.0 && step.timeout_seconds <= 120.0) {
            problems.push(format!("http_config.steps[{i}].timeout_seconds must be in (0, 120]"));
        }
    }
    if problems.is_empty() { Ok(config) } else { Err(problems) }
}
