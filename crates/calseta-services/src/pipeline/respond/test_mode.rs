//! Test mode (`POST /v1/workflows/{uuid}/test`): a workflow runs in the same sandbox against a
//! synthetic indicator, with HTTP answered by mock responses (keyed by method and URL pattern, or
//! v1's one body for every request) or, when asked, live through the SSRF-safe client. Identity
//! integrations are mocked and nothing is stored: no run, no activity.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::indicators::IndicatorType;
use calseta_core::workflows::needs_approval;
use calseta_workflows::{HttpAnswer, HttpCall, RunLimits, RunRequest, RunStatus, WorkflowHost};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Caller;
use super::host::{PlatformHost, WorkflowSettings};
use crate::audit::{self, Actor};
use crate::platform::outbound::OutboundClient;
use crate::platform::workflow_runtime::LazyRuntime;
use crate::resources::workflows::{SecretGrants, WorkflowService, not_found as workflow_not_found};
use crate::{FieldError, ServiceError};

/// The most a test run may take, whatever the workflow's own timeout (v1's limit).
const MAX_TEST_SECONDS: u64 = 30;
/// The largest `mock_http_responses` accepted (v1's limit).
const MAX_MOCKS_BYTES: usize = 256 * 1024;
/// Methods a mock key may name.
const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// A test run as asked.
#[derive(Debug, Clone)]
pub struct TestRequest {
    /// The synthetic indicator's type (`ip` by default).
    pub indicator_type: String,
    /// Its value (`1.2.3.4` by default).
    pub indicator_value: String,
    /// Mock answers: `{"GET https://host/path/*": {"status": 200, "json": {...}}, ...}`, or v1's
    /// single body for every request.
    pub mock_http_responses: Value,
    /// Real HTTP (through the SSRF-safe client) instead of mocks.
    pub live_http: bool,
}

/// What a test run did.
#[derive(Debug, Clone, PartialEq)]
pub struct TestOutcome {
    /// `WorkflowResult.success`.
    pub success: bool,
    /// Its message.
    pub message: String,
    /// The run's log, one JSON object per line.
    pub log_output: String,
    /// How long it took.
    pub duration_ms: u64,
    /// `WorkflowResult.data`.
    pub result_data: Value,
}

/// One keyed mock answer.
#[derive(Debug, Clone)]
struct MockRule {
    method: Option<String>,
    pattern: String,
    status: u16,
    headers: Map<String, Value>,
    text: String,
}

/// How HTTP is answered in a test run.
#[derive(Debug, Clone)]
enum Mocks {
    /// v1: every request gets 200 with this JSON body.
    OneBody(Value),
    /// Each request gets the answer of the most specific rule that matches it, else an error.
    Keyed(Vec<MockRule>),
}

fn is_pattern(key: &str) -> bool {
    let rest = match key.split_once(' ') {
        Some((method, rest)) if METHODS.contains(&method.to_ascii_uppercase().as_str()) || method == "*" => {
            rest.trim()
        }
        _ => key,
    };
    rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with('*')
}

/// `{"status"?, "json" | "text" | "body", "headers"?}` is an answer; anything else is a JSON body.
fn rule(key: &str, value: &Value) -> MockRule {
    let (method, pattern) = match key.split_once(' ') {
        Some(("*", rest)) => (None, rest.trim()),
        Some((m, rest)) if METHODS.contains(&m.to_ascii_uppercase().as_str()) => {
            (Some(m.to_ascii_uppercase()), rest.trim())
        }
        _ => (None, key),
    };
    const SPEC_KEYS: [&str; 6] = ["status", "status_code", "json", "text", "body", "headers"];
    let spec = value.as_object().filter(|o| {
        o.keys().all(|k| SPEC_KEYS.contains(&k.as_str()))
            && ["json", "text", "body"].iter().any(|k| o.contains_key(*k))
    });
    let (status, headers, text) = match spec {
        Some(o) => {
            let status = o.get("status").or_else(|| o.get("status_code")).and_then(Value::as_u64);
            let text = match (o.get("text"), o.get("json").or_else(|| o.get("body"))) {
                (Some(Value::String(t)), _) => t.clone(),
                (_, Some(json)) => json.to_string(),
                _ => String::new(),
            };
            let headers = o.get("headers").and_then(Value::as_object).cloned().unwrap_or_default();
            (status.and_then(|s| u16::try_from(s).ok()).unwrap_or(200), headers, text)
        }
        None => (200, Map::new(), value.to_string()),
    };
    MockRule { method, pattern: pattern.to_string(), status, headers, text }
}

/// Whether `url` matches a pattern in which `*` stands for any run of characters.
fn glob_matches(pattern: &str, url: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if parts.len() == 1 {
        return pattern == url;
    }
    if !url.starts_with(first) || url.len() < first.len() + last.len() || !url.ends_with(last) {
        return false;
    }
    let mut rest = &url[first.len()..url.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

impl Mocks {
    fn parse(value: &Value) -> Mocks {
        match value.as_object() {
            Some(map) if !map.is_empty() && map.keys().all(|k| is_pattern(k)) => {
                let mut rules: Vec<MockRule> = map.iter().map(|(k, v)| rule(k, v)).collect();
                // The most specific rule first: a method, then the most literal characters.
                rules.sort_by_key(|r| {
                    (r.method.is_none(), std::cmp::Reverse(r.pattern.chars().filter(|c| *c != '*').count()))
                });
                Mocks::Keyed(rules)
            }
            Some(map) if !map.is_empty() => Mocks::OneBody(value.clone()),
            _ => Mocks::OneBody(json!({"status": "ok"})),
        }
    }

    fn answer(&self, method: &str, url: &str) -> Result<HttpAnswer, String> {
        let json_header = || {
            let mut h = Map::new();
            h.insert("content-type".into(), json!("application/json"));
            h
        };
        match self {
            Mocks::OneBody(body) => Ok(HttpAnswer {
                status_code: 200,
                headers: json_header(),
                text: body.to_string(),
                url: url.into(),
            }),
            Mocks::Keyed(rules) => {
                let method = method.to_ascii_uppercase();
                let rule = rules
                    .iter()
                    .find(|r| {
                        r.method.as_deref().is_none_or(|m| m == method) && glob_matches(&r.pattern, url)
                    })
                    .ok_or_else(|| format!("test mode: no mock response for {method} {url}"))?;
                let mut headers = if rule.headers.is_empty() { json_header() } else { rule.headers.clone() };
                headers.entry("content-type").or_insert(json!("application/json"));
                Ok(HttpAnswer { status_code: rule.status, headers, text: rule.text.clone(), url: url.into() })
            }
        }
    }
}

/// The host of a test run: mocked or live HTTP, the real workflow secrets (as granted), mocked
/// integrations.
struct TestHost {
    platform: PlatformHost,
    mocks: Option<Mocks>,
}

#[async_trait::async_trait]
impl WorkflowHost for TestHost {
    async fn http(&self, call: HttpCall) -> Result<HttpAnswer, String> {
        match &self.mocks {
            None => self.platform.http(call).await,
            Some(mocks) => {
                let url = super::host::call_url(&call)?;
                mocks.answer(&call.method, url.as_str())
            }
        }
    }

    async fn secret(&self, name: &str) -> Result<Option<String>, String> {
        self.platform.secret(name).await
    }

    async fn integration(
        &self,
        _integration: &str,
        _method: &str,
        _args: &[String],
    ) -> Result<Value, String> {
        // Test mode never acts on a real identity provider (v1: mock clients that do nothing).
        Ok(Value::Null)
    }
}

/// Runs workflows in test mode.
pub struct WorkflowTester {
    pub(crate) db: calseta_store::Db,
    pub(crate) runtime: Arc<LazyRuntime>,
    pub(crate) http: OutboundClient,
    pub(crate) workflows: Arc<WorkflowService>,
    pub(crate) settings: Arc<WorkflowSettings>,
}

impl WorkflowTester {
    /// Runs the workflow's current code once, storing nothing but — for a live run, whose
    /// requests are real — a `workflow_tested_live` activity event.
    pub async fn test(
        &self,
        workflow_uuid: Uuid,
        request: TestRequest,
        caller: &Caller,
    ) -> Result<TestOutcome, ServiceError> {
        let mut errors = Vec::new();
        if let Err(e) = IndicatorType::parse(&request.indicator_type) {
            errors.push(FieldError::body("indicator_type", e.to_string()));
        }
        if request.indicator_value.trim().is_empty() {
            errors.push(FieldError::body("indicator_value", "indicator_value must not be empty"));
        }
        if !request.mock_http_responses.is_object() {
            errors.push(FieldError::body("mock_http_responses", "mock_http_responses must be an object"));
        } else if request.mock_http_responses.to_string().len() > MAX_MOCKS_BYTES {
            errors
                .push(FieldError::body("mock_http_responses", "mock_http_responses must be at most 256 KB"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let workflow = calseta_store::workflows::get(&self.db, workflow_uuid)
            .await?
            .ok_or_else(|| workflow_not_found(workflow_uuid))?;
        if let Some(refusal) =
            calseta_core::workflows::refusal_to_run(&workflow.name, workflow.state, workflow.is_active)
        {
            return Err(ServiceError::refused("WORKFLOW_NOT_EXECUTABLE", refusal));
        }
        let mode = workflow.approval_mode;
        if request.live_http && needs_approval(mode, caller.by_agent) {
            // A live test makes the workflow's real requests: it must not be a way around the gate.
            return Err(ServiceError::forbidden(
                "APPROVAL_REQUIRED",
                "live_http makes the workflow's real requests, and its approval mode asks a human first: \
                 execute it (and have it approved), or test it with mock responses.",
            ));
        }
        if request.live_http {
            let mut tx = self.db.begin().await?;
            let refs = json!({"workflow_uuid": workflow.uuid, "workflow_name": workflow.name,
                              "indicator_type": request.indicator_type, "indicator_value": request.indicator_value});
            let actor = Actor { actor_type: caller.actor_type, key_prefix: Some(caller.key_prefix.clone()) };
            audit::record_workflow(&mut tx, &actor, "workflow_tested_live", None, workflow.id, refs).await?;
            tx.commit().await?;
        }
        let timeout = Duration::from_secs(
            u64::try_from(workflow.timeout_seconds.max(1)).unwrap_or(60).min(MAX_TEST_SECONDS),
        );
        let now = calseta_store::now();
        let run = RunRequest {
            code: workflow.code.clone(),
            indicator: json!({"uuid": Uuid::new_v4(), "type": request.indicator_type, "value": request.indicator_value,
                              "malice": "Pending", "is_enriched": false, "enrichment_results": {},
                              "first_seen": now, "last_seen": now, "created_at": now, "updated_at": now}),
            alert: None,
            integrations: vec!["okta".into(), "entra".into()],
            limits: RunLimits { memory_mb: self.settings.max_memory_mb.max(64), timeout },
        };
        let host = TestHost {
            platform: PlatformHost {
                http: self.http.clone(),
                workflows: self.workflows.clone(),
                settings: self.settings.clone(),
                timeout,
                // A test reads only the secrets a run of this code would read.
                grants: SecretGrants::of(&workflow),
            },
            mocks: (!request.live_http).then(|| Mocks::parse(&request.mock_http_responses)),
        };
        // A test run waits a little for a free sandbox slot; past that the caller is told when
        // to try again (429 with Retry-After), and nothing ran.
        let outcome = self
            .runtime
            .get()
            .await
            .run_within(run, &host, crate::platform::workflow_runtime::REQUEST_SLOT_WAIT)
            .await
            .map_err(crate::platform::workflow_runtime::runtime_error)?;
        Ok(TestOutcome {
            success: outcome.status == RunStatus::Success,
            message: outcome.message,
            log_output: outcome.log_output,
            duration_ms: u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX),
            result_data: outcome.data,
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Mocks, glob_matches};

    #[test]
    fn patterns_match_with_stars_anywhere() {
        assert!(glob_matches("https://a.test/users/*", "https://a.test/users/42?x=1"));
        assert!(glob_matches("*/sessions", "https://a.test/users/42/sessions"));
        assert!(glob_matches("https://*.test/*/x", "https://a.test/b/c/x"));
        assert!(!glob_matches("https://a.test/users/*", "https://b.test/users/42"));
        assert!(!glob_matches("https://a.test/x", "https://a.test/x/y"));
        assert!(!glob_matches("https://a.test/*/*/z", "https://a.test/z"));
    }

    #[test]
    fn keyed_mocks_answer_by_method_and_the_most_specific_pattern() {
        let mocks = Mocks::parse(&json!({
            "GET https://idp.test/users/*": {"status": 200, "json": {"id": "00u1"}},
            "DELETE https://idp.test/users/*/sessions": {"status": 204, "text": ""},
            "https://idp.test/*": {"status": 404, "json": {"error": "nope"}}
        }));
        let get = mocks.answer("get", "https://idp.test/users/jdoe").unwrap();
        assert_eq!((get.status_code, get.text.as_str()), (200, r#"{"id":"00u1"}"#));
        assert_eq!(mocks.answer("DELETE", "https://idp.test/users/00u1/sessions").unwrap().status_code, 204);
        assert_eq!(mocks.answer("POST", "https://idp.test/other").unwrap().status_code, 404);
        assert!(mocks.answer("GET", "https://elsewhere.test/").unwrap_err().contains("no mock response"));
    }

    #[test]
    fn v1_mocks_answer_every_request_with_one_body() {
        let mocks = Mocks::parse(&json!({"status": "ok", "id": 7}));
        let answer = mocks.answer("POST", "https://any.test/x").unwrap();
        assert_eq!(answer.status_code, 200);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&answer.text).unwrap(),
            json!({"status": "ok", "id": 7})
        );
        assert_eq!(
            Mocks::parse(&json!({})).answer("GET", "https://x.test").unwrap().text,
            r#"{"status":"ok"}"#
        );
    }
}
