//! The step executor: one provider's HTTP steps for one value — templates rendered, each step
//! with its timeout and the response size bound, `429` as a deferral, not-found statuses — and the
//! masked trace the provider test endpoint shows.

use std::time::{Duration, Instant};

use calseta_core::enrichment::{response, template};
use calseta_core::indicators::IndicatorType;
use calseta_core::redact::strip_url_secrets;
use serde_json::{Map, Value, json};

use super::EnrichmentEngine;
use super::registry::Provider;
use crate::platform::outbound::{OutboundError, read_capped};

/// Largest provider response read.
const MAX_RESPONSE_BYTES: usize = 5 * 1024 * 1024;
/// Wait when a `429` carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// One HTTP step as executed, for the provider test endpoint (credentials masked).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepDebug {
    /// The step's name.
    pub step_name: String,
    /// Its position, from 0.
    pub step_index: usize,
    /// The value looked up.
    pub indicator_value: String,
    /// HTTP method.
    pub request_method: String,
    /// URL sent (credentials masked).
    pub request_url: String,
    /// Headers sent (credentials masked).
    pub request_headers: Map<String, Value>,
    /// Query parameters sent (credentials masked).
    pub request_query_params: Map<String, Value>,
    /// JSON body sent, or `"<form body>"`.
    pub request_body: Value,
    /// Status answered.
    pub response_status_code: Option<u16>,
    /// Headers answered.
    pub response_headers: Map<String, Value>,
    /// Body answered (truncated past 50,000 characters).
    pub response_body: Value,
    /// How long the step took.
    pub duration_ms: f64,
    /// Why the step failed (credentials masked).
    pub error: Option<String>,
    /// Whether an optional step failed and was passed over.
    pub skipped: bool,
}

/// What running a provider's steps produced.
pub(super) enum Executed {
    Answer { raw: Value, found: bool },
    Failed(String),
    RateLimited(Duration),
}

/// `first4****last4`, or `****` for short values.
pub fn mask(value: &str) -> String {
    if value.chars().count() <= 8 {
        "****".into()
    } else {
        let chars: Vec<char> = value.chars().collect();
        format!(
            "{}****{}",
            chars[..4].iter().collect::<String>(),
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    }
}

fn mask_text(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |acc, s| {
        acc.replace(s, &mask(s)).replace(&template::encode_component(s), &mask(s))
    })
}

fn sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["authorization", "apikey", "api_key", "api-key", "token", "secret", "password", "x-api-key"]
        .iter()
        .any(|k| n.contains(k))
}

impl EnrichmentEngine {
    pub(super) async fn execute(
        &self,
        provider: &Provider,
        kind: IndicatorType,
        value: &str,
        debug: bool,
    ) -> (Executed, Vec<StepDebug>) {
        let mut trace = Vec::new();
        let Some(config) = provider.config.as_ref().filter(|c| !c.steps.is_empty()) else {
            return (Executed::Failed("No steps defined in http_config".into()), trace);
        };
        let mut secrets = provider.secrets();
        // Values of a step's response that a later step sends in a header, query or body are
        // credentials (e.g. an OAuth access token): masked in traces, never stored.
        let credentials = credential_references(&config.steps);
        let mut responses = Map::new();
        let mut found = true;
        for (index, step) in config.steps.iter().enumerate() {
            let name = step.name_at(index);
            let ctx = template::Context {
                indicator_type: kind.as_str(),
                indicator_value: value,
                auth: &provider.credentials,
                steps: &responses,
            };
            let url_template = if index == 0 {
                config.url_templates_by_type.get(kind.as_str()).unwrap_or(&step.url)
            } else {
                &step.url
            };
            let rendered_url = template::render(url_template, &ctx, true);
            let query = template::render_value(&Value::Object(step.query_params.clone()), &ctx);
            let headers = template::render_value(&Value::Object(step.headers.clone()), &ctx);
            let body = step.json_body.as_ref().map(|b| template::render_value(b, &ctx));
            let form =
                step.form_body.as_ref().map(|f| template::render_value(&Value::Object(f.clone()), &ctx));
            let mut debug_step = StepDebug {
                step_name: name.clone(),
                step_index: index,
                indicator_value: value.to_string(),
                request_method: step.method.to_uppercase(),
                request_url: mask_text(&rendered_url, &secrets),
                request_headers: headers
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                let text = template::text_of(v);
                                let masked =
                                    if sensitive_header(k) || secrets.iter().any(|s| text.contains(s)) {
                                        mask(&text)
                                    } else {
                                        text
                                    };
                                (k.clone(), Value::String(masked))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                request_query_params: query
                    .as_object()
                    .map(|q| {
                        q.iter()
                            .map(|(k, v)| {
                                (k.clone(), Value::String(mask_text(&template::text_of(v), &secrets)))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                request_body: if form.is_some() {
                    json!("<form body>")
                } else {
                    redact_json(&body.clone().unwrap_or(Value::Null), &secrets, mask)
                },
                response_status_code: None,
                response_headers: Map::new(),
                response_body: Value::Null,
                duration_ms: 0.0,
                error: None,
                skipped: false,
            };
            let started = Instant::now();
            let outcome = self.send_step(provider, step, &rendered_url, &query, &headers, body, form).await;
            debug_step.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            let fail = |debug_step: &mut StepDebug, message: String| {
                debug_step.error = Some(strip_url_secrets(&mask_text(&message, &secrets)));
                if step.optional {
                    debug_step.skipped = true;
                    None
                } else {
                    Some(message)
                }
            };
            match outcome {
                Err(message) => {
                    let message = format!("Step '{name}' failed: {message}");
                    if let Some(err) = fail(&mut debug_step, message) {
                        trace.push(debug_step);
                        return (Executed::Failed(err), trace);
                    }
                }
                Ok((status, response_headers, body_value)) => {
                    debug_step.response_status_code = Some(status);
                    debug_step.response_headers = response_headers.clone();
                    debug_step.response_body = truncate_for_debug(&body_value);
                    if status == 429 {
                        let wait = response_headers
                            .get("retry-after")
                            .and_then(Value::as_str)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs)
                            .unwrap_or(DEFAULT_RETRY_AFTER);
                        trace.push(debug_step);
                        return (Executed::RateLimited(wait), trace);
                    }
                    if step.not_found_status.contains(&status) {
                        found = false;
                        responses.insert(name.clone(), json!({"status_code": status}));
                        trace.push(debug_step);
                        break;
                    }
                    if !step.expected_status.contains(&status) {
                        let message = format!("Step '{name}' returned HTTP {status}");
                        if let Some(err) = fail(&mut debug_step, message) {
                            trace.push(debug_step);
                            return (Executed::Failed(err), trace);
                        }
                    } else {
                        responses.insert(name.clone(), body_value);
                    }
                }
            }
            if let Some(response) = responses.get(&name) {
                for path in credentials.iter().filter(|(step, _)| *step == name).map(|(_, path)| path) {
                    let value =
                        if path.is_empty() { Some(response) } else { response::lookup(response, path) };
                    let text = value.map(template::text_of).unwrap_or_default();
                    if text.chars().count() >= 4 && !secrets.contains(&text) {
                        secrets.push(text);
                    }
                }
            }
            debug_step.response_body = redact_json(&debug_step.response_body, &secrets, mask);
            trace.push(debug_step);
        }
        let raw = if config.steps.len() == 1 {
            responses.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null)
        } else {
            Value::Object(responses)
        };
        // What is kept (results, the shared cache) holds no credential, given or obtained.
        let raw = redact_json(&raw, &secrets, |_| "[REDACTED]".to_string());
        if !debug {
            trace.clear();
        }
        (Executed::Answer { raw, found }, trace)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_step(
        &self,
        provider: &Provider,
        step: &calseta_core::enrichment::HttpStep,
        url: &str,
        query: &Value,
        headers: &Value,
        body: Option<Value>,
        form: Option<Value>,
    ) -> Result<(u16, Map<String, Value>, Value), String> {
        let mut url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if let Some(params) = query.as_object().filter(|p| !p.is_empty()) {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in params {
                pairs.append_pair(k, &template::text_of(v));
            }
        }
        // The full check: a name is resolved and held to the port rules (this server's own
        // listeners and database port, `host:port` entries) before anything is sent.
        // A provider whose allowance lists hosts may reach private addresses on those only (and
        // their ports); without a list, on any.
        let narrowed = provider.allow_private_network && !provider.private_network_hosts.is_empty();
        if narrowed {
            self.http.check_destination_allowing(&url, &provider.private_network_hosts).await?;
        } else {
            self.http.check_destination_url(&url, provider.allow_private_network).await?;
        }
        let method = reqwest::Method::from_bytes(step.method.to_uppercase().as_bytes())
            .map_err(|_| "invalid method".to_string())?;
        let mut request = self
            .http
            .client(provider.allow_private_network)
            .request(method, url)
            .timeout(Duration::from_secs_f64(step.timeout_seconds.clamp(0.1, 120.0)));
        if let Some(h) = headers.as_object() {
            for (k, v) in h {
                request = request.header(k.as_str(), template::text_of(v));
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        } else if let Some(Value::Object(fields)) = form {
            let pairs: Vec<(String, String)> =
                fields.iter().map(|(k, v)| (k.clone(), template::text_of(v))).collect();
            request = request.form(&pairs);
        }
        let mut response = request.send().await.map_err(describe_error)?;
        let status = response.status().as_u16();
        let response_headers: Map<String, Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str().ok().map(|v| (k.as_str().to_string(), Value::String(v.to_string())))
            })
            .collect();
        let bytes = read_capped(&mut response, MAX_RESPONSE_BYTES).await.map_err(|e| match e {
            OutboundError::TooLarge { max } => format!("response larger than {} MB", max / (1024 * 1024)),
            other => other.to_string(),
        })?;
        let body = serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&bytes);
            json!({"_raw_text": text.chars().take(2000).collect::<String>()})
        });
        Ok((status, response_headers, body))
    }
}

/// The `(step, path)` of every earlier-step value that a step sends in its headers, query
/// (parameters or the URL's query string) or body.
fn credential_references(steps: &[calseta_core::enrichment::HttpStep]) -> Vec<(String, String)> {
    steps
        .iter()
        .flat_map(|step| {
            let mut refs = template::step_references(&Value::Object(step.headers.clone()));
            // A URL's query is a query too (`…?access_token={{steps.token.response.access_token}}`);
            // its path holds identifiers (a user id), which are no credentials.
            if let Some((_, query)) = step.url.split_once('?') {
                refs.extend(template::step_references(&Value::String(query.to_string())));
            }
            refs.extend(template::step_references(&Value::Object(step.query_params.clone())));
            if let Some(body) = &step.json_body {
                refs.extend(template::step_references(body));
            }
            if let Some(form) = &step.form_body {
                refs.extend(template::step_references(&Value::Object(form.clone())));
            }
            refs
        })
        .collect()
}

/// `value` with every occurrence of a secret in its strings (keys included) replaced by
/// `replacement(secret)`.
fn redact_json(value: &Value, secrets: &[String], replacement: impl Fn(&str) -> String + Copy) -> Value {
    let redact = |text: &str| {
        secrets.iter().fold(text.to_string(), |acc, s| {
            if acc.contains(s.as_str()) { acc.replace(s.as_str(), &replacement(s)) } else { acc }
        })
    };
    match value {
        Value::String(text) => Value::String(redact(text)),
        Value::Array(items) => {
            Value::Array(items.iter().map(|v| redact_json(v, secrets, replacement)).collect())
        }
        Value::Object(map) => Value::Object(
            map.iter().map(|(k, v)| (redact(k), redact_json(v, secrets, replacement))).collect(),
        ),
        other => other.clone(),
    }
}

fn describe_error(e: reqwest::Error) -> String {
    // "timed out" for a timeout, else the client error's causes.
    OutboundError::from(e).to_string()
}

fn truncate_for_debug(body: &Value) -> Value {
    let text = body.to_string();
    if text.len() > 50_000 {
        json!({"_truncated": true, "_preview": text.chars().take(50_000).collect::<String>()})
    } else {
        body.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_and_verdicts() {
        assert_eq!(mask("vt-test-key-123456"), "vt-t****3456");
        assert_eq!(mask("short"), "****");
        assert_eq!(
            mask_text("https://x/?k=secretvalue1", &["secretvalue1".into()]),
            "https://x/?k=secr****lue1"
        );
    }
}
