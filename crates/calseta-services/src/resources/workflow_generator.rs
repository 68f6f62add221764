//! The workflow generator (`POST /v1/workflows/generate`, v1 §10.8): asks an Anthropic-compatible
//! Messages endpoint for a workflow from a description, checks the code it answers with the same
//! validation a saved workflow gets, and returns it — nothing is saved. No LLM runs in the data
//! path: this is an authoring aid a human invokes and reviews.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::ServiceError;
use crate::platform::outbound::{OutboundClient, OutboundError, error_text, read_capped};
use crate::resources::workflows::WorkflowService;

/// The most of the endpoint's answer that is read.
const MAX_ANSWER_BYTES: usize = 1024 * 1024;
/// How long the endpoint may take (v1's limit).
const TIMEOUT: Duration = Duration::from_secs(60);
/// The longest description accepted.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;
/// The error code of every failure of the model's side (v1's).
const FAILED: &str = "WORKFLOW_GENERATION_FAILED";

/// Where generation is done: `ANTHROPIC_API_KEY`, `ANTHROPIC_BASE_URL`, `ANTHROPIC_MODEL`.
#[derive(Debug, Clone)]
pub struct GeneratorSettings {
    /// The endpoint's key (`x-api-key`).
    pub api_key: String,
    /// `https://api.anthropic.com`, or any endpoint that speaks the Messages API.
    pub base_url: String,
    /// The model (v1: `claude-sonnet-4-6`).
    pub model: String,
}

/// What to generate.
#[derive(Debug, Clone, Deserialize)]
pub struct GenerateRequest {
    /// What the workflow should do, in words.
    pub description: String,
    /// `indicator` (default) or `alert`.
    #[serde(default)]
    pub workflow_type: Option<String>,
    /// The indicator types it is for (v1 does not validate them).
    #[serde(default)]
    pub indicator_types: Vec<String>,
}

/// A generated workflow, for a human to review and save.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeneratedWorkflow {
    /// The code, valid by the same checks as a saved workflow's.
    pub generated_code: String,
    /// A name for it (`Generated Workflow` when the model gives none).
    pub suggested_name: String,
    /// Documentation for it, when the model gives some.
    pub suggested_documentation: Option<String>,
    /// What the model says to check before using it.
    pub warnings: Vec<String>,
}

/// Generates workflows.
pub struct WorkflowGenerator {
    settings: Option<GeneratorSettings>,
    http: OutboundClient,
    workflows: Arc<WorkflowService>,
}

/// What the model is told: the contract of a workflow, and the answer's shape.
const SYSTEM_PROMPT: &str = r#"You write Calseta workflows: Python response actions run in a sandbox with no network, files or processes of their own.
A workflow is a module defining `async def run(ctx) -> WorkflowResult`, importing only:
from app.workflows.context import WorkflowContext, WorkflowResult
and, if needed, these standard modules: asyncio, base64, collections, copy, datetime, enum, functools, hashlib, hmac, html, http, inspect, ipaddress, itertools, json, logging, math, operator, re, statistics, string, textwrap, time, typing, unicodedata, urllib, uuid.
Everything outside goes through ctx:
- ctx.indicator.type, ctx.indicator.value, ctx.indicator.malice; ctx.alert (None or .title, .severity, .source_name, .tags)
- await ctx.http.get/post/put/patch/delete(url, params=, headers=, json=, data=) -> response with .status_code, .json(), .text, .is_success, .raise_for_status()
- ctx.secrets["NAME"] / ctx.secrets.get("NAME", default) for credentials (never hard-code them)
- ctx.log.info/warning/error(message, **fields)
- await ctx.integrations.okta.revoke_sessions/suspend_user/unsuspend_user/reset_password/expire_password(login), ctx.integrations.entra.revoke_sessions/disable_account/enable_account/reset_mfa(upn) (each may be None when not configured)
Return WorkflowResult.ok(message, data={...}) or WorkflowResult.fail(message). No dunder attributes, no eval/exec/open/getattr with computed names.
Answer with one JSON object only: {"code": "...", "suggested_name": "...", "suggested_documentation": "...", "warnings": ["..."]}."#;

/// The text of the first text block of a Messages API answer.
fn answer_text(answer: &Value) -> Option<&str> {
    answer
        .get("content")?
        .as_array()?
        .iter()
        .find(|block| block.get("type").and_then(Value::as_str) == Some("text"))?
        .get("text")?
        .as_str()
}

/// The JSON object in `text`, inside a ``` fence or not.
fn fenced_json(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    let inner = match trimmed.strip_prefix("```") {
        Some(rest) => {
            let rest = rest.split_once('\n').map_or("", |(_, body)| body);
            rest.trim_end().strip_suffix("```").unwrap_or(rest)
        }
        None => trimmed,
    };
    serde_json::from_str::<Value>(inner.trim()).ok().filter(Value::is_object)
}

impl WorkflowGenerator {
    /// A generator (`settings` `None`: not configured) validating with `workflows`.
    pub fn new(
        settings: Option<GeneratorSettings>,
        http: OutboundClient,
        workflows: Arc<WorkflowService>,
    ) -> Self {
        WorkflowGenerator { settings, http, workflows }
    }

    /// Generates a workflow for `request`; nothing is saved.
    pub async fn generate(&self, request: GenerateRequest) -> Result<GeneratedWorkflow, ServiceError> {
        let description = request.description.trim();
        if description.is_empty() || description.chars().count() > MAX_DESCRIPTION_CHARS {
            return Err(ServiceError::invalid(
                "description",
                format!("description must be 1 to {MAX_DESCRIPTION_CHARS} characters"),
            ));
        }
        let workflow_type = request.workflow_type.as_deref().unwrap_or("indicator");
        if !["indicator", "alert"].contains(&workflow_type) {
            return Err(ServiceError::invalid("workflow_type", "workflow_type must be indicator or alert"));
        }
        let Some(settings) = &self.settings else {
            return Err(ServiceError::Unavailable(
                "Workflow generation is not configured: set ANTHROPIC_API_KEY (and ANTHROPIC_BASE_URL for \
                 another Anthropic-compatible endpoint)."
                    .into(),
            ));
        };
        let types = if request.indicator_types.is_empty() {
            "any".to_string()
        } else {
            request.indicator_types.join(", ")
        };
        let prompt = format!(
            "Write a workflow.\nDescription: {description}\nWorkflow type: {workflow_type}\nIndicator types: {types}"
        );
        let body = json!({"model": settings.model, "max_tokens": 4096, "system": SYSTEM_PROMPT,
                          "messages": [{"role": "user", "content": prompt}]});
        let url = format!("{}/v1/messages", settings.base_url.trim_end_matches('/'));
        let answer = self.ask(settings, &url, &body).await?;
        let text = answer_text(&answer).ok_or_else(|| failed("the model's answer has no text"))?;
        let proposal = fenced_json(text).ok_or_else(|| failed("the model's answer is not a JSON object"))?;
        let code = proposal
            .get("code")
            .and_then(Value::as_str)
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| failed("the model's answer has no code"))?;
        match self.workflows.validate_code(code).await {
            Ok(()) => {}
            Err(ServiceError::CodeInvalid(problems)) => {
                return Err(failed(&format!(
                    "the generated code failed validation: {}",
                    problems.join("; ")
                )));
            }
            Err(other) => return Err(other),
        }
        let text_of = |key: &str| proposal.get(key).and_then(Value::as_str).map(str::to_string);
        Ok(GeneratedWorkflow {
            generated_code: code.to_string(),
            suggested_name: text_of("suggested_name")
                .filter(|n| !n.trim().is_empty())
                .unwrap_or_else(|| "Generated Workflow".into()),
            suggested_documentation: text_of("suggested_documentation"),
            warnings: proposal
                .get("warnings")
                .and_then(Value::as_array)
                .map(|w| w.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default(),
        })
    }

    /// Posts the request to the endpoint, through the SSRF-safe client, and reads its answer.
    async fn ask(
        &self,
        settings: &GeneratorSettings,
        url: &str,
        body: &Value,
    ) -> Result<Value, ServiceError> {
        let url = self.http.check_destination(url, false).await.map_err(|e| failed(&e))?;
        let mut response = self
            .http
            .client(false)
            .post(url)
            .timeout(TIMEOUT)
            .header("x-api-key", &settings.api_key)
            .header("anthropic-version", "2023-06-01")
            .json(body)
            .send()
            .await
            .map_err(|e| failed(&format!("the model endpoint did not answer: {}", error_text(e))))?;
        let status = response.status();
        let bytes = read_capped(&mut response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
            OutboundError::TooLarge { .. } => failed("the model's answer is larger than 1 MiB"),
            other => failed(&other.causes()),
        })?;
        if !status.is_success() {
            return Err(failed(&format!("the model endpoint answered HTTP {}", status.as_u16())));
        }
        serde_json::from_slice(&bytes).map_err(|_| failed("the model endpoint's answer is not JSON"))
    }
}

fn failed(reason: &str) -> ServiceError {
    ServiceError::refused(FAILED, format!("Workflow generation failed: {reason}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_read_from_the_first_text_block_inside_or_outside_a_fence() {
        let answer = json!({"content": [{"type": "thinking"}, {"type": "text", "text": "```json\n{\"code\": \"x\"}\n```"}]});
        assert_eq!(fenced_json(answer_text(&answer).unwrap()), Some(json!({"code": "x"})));
        assert_eq!(fenced_json("{\"code\": \"y\"}"), Some(json!({"code": "y"})));
        assert_eq!(fenced_json("```\n[1]\n```"), None);
        assert_eq!(fenced_json("not json"), None);
        assert_eq!(answer_text(&json!({"content": []})), None);
    }
}
