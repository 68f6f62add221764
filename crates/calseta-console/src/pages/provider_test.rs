//! `/providers/{uuid}/test`: an enrichment provider's live test against one indicator, as
//! `POST /v1/enrichment-providers/{uuid}/test` (`admin`) runs it — every step's request
//! (credentials masked by the service) and status, the raw answer, the extracted fields and the
//! verdict with the malice rule that decided it. Provider answers were written by someone else:
//! escaped text only.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::enrichment::verdict::DecidingRule;
use calseta_core::scopes::Scope;
use serde_json::Value;

use super::forms::{FormErrors, render_refused};
use super::provider_form::{self, TestForm};
use super::providers::{Opt, Summary, opts, parse_uuid, summary};
use super::{PageContext, PageError, render};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// One step of a live test as the result page shows it (credentials already masked by the service).
struct TestStep {
    name: String,
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    query: Vec<(String, String)>,
    body: Option<String>,
    status: Option<String>,
    duration: String,
    error: Option<String>,
    skipped: bool,
    response: String,
}

#[derive(Template)]
#[template(path = "provider_test.html")]
struct TestPage {
    ctx: PageContext,
    provider: Summary,
    test: TestForm,
    test_errors: FormErrors,
    /// `None` when the test was refused before it ran.
    result: Option<TestResult>,
}

impl TestPage {
    fn test_types(&self) -> Vec<Opt> {
        opts(&provider_form::indicator_types(), |t| t == self.test.indicator_type)
    }
}

struct TestResult {
    success: bool,
    indicator: String,
    verdict: Option<String>,
    verdict_class: String,
    rule: Option<String>,
    error: Option<String>,
    duration: String,
    steps: Vec<TestStep>,
    extracted: Vec<(String, String)>,
    raw: String,
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn pairs(value: Option<&Value>) -> Vec<(String, String)> {
    value
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), scalar(v))).collect())
        .unwrap_or_default()
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}

fn test_result(report: &Value) -> TestResult {
    let verdict = report.pointer("/extracted/malice").and_then(Value::as_str).map(str::to_string);
    let steps = report
        .get("steps")
        .and_then(Value::as_array)
        .map(|steps| {
            steps
                .iter()
                .map(|s| TestStep {
                    name: s.get("step_name").map(scalar).unwrap_or_default(),
                    method: s.get("request_method").map(scalar).unwrap_or_default(),
                    url: s.get("request_url").map(scalar).unwrap_or_default(),
                    headers: pairs(s.get("request_headers")),
                    query: pairs(s.get("request_query_params")),
                    body: s.get("request_body").filter(|b| !b.is_null()).map(pretty),
                    status: s.get("response_status_code").filter(|c| !c.is_null()).map(scalar),
                    duration: format!(
                        "{:.0} ms",
                        s.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0)
                    ),
                    error: s.get("error").and_then(Value::as_str).map(str::to_string),
                    skipped: s.get("skipped").and_then(Value::as_bool).unwrap_or(false),
                    response: s.get("response_body").map(pretty).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default();
    TestResult {
        success: report.get("success").and_then(Value::as_bool).unwrap_or(false),
        indicator: format!(
            "{}: {}",
            report.get("indicator_type").map(scalar).unwrap_or_default(),
            report.get("indicator_value").map(scalar).unwrap_or_default()
        ),
        verdict_class: format!("malice-{}", verdict.as_deref().unwrap_or("pending").to_ascii_lowercase()),
        verdict,
        rule: report.get("malice_rule").and_then(DecidingRule::from_json).map(|r| r.describe()),
        error: report.get("error_message").and_then(Value::as_str).map(str::to_string),
        duration: format!("{:.0} ms", report.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0)),
        steps,
        extracted: pairs(report.get("extracted")).into_iter().filter(|(k, _)| k != "malice").collect(),
        raw: report.get("raw_response").map(pretty).unwrap_or_default(),
    }
}

/// `POST /providers/{uuid}/test`: runs the provider live against one indicator, as `POST
/// /v1/enrichment-providers/{uuid}/test` (`admin`), and shows every step's request (credentials
/// masked) and status, the raw answer, the extracted fields and the verdict with the rule that
/// decided it; a refused test (a bad type or value, an inactive provider) shows why (`422`).
pub async fn test(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<TestForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let service = &state.services().providers;
    let row = service.get(uuid).await?;
    let usage = service.usage().await?.remove(&row.provider_name).unwrap_or_default();
    let outcome = service.test(uuid, &form.indicator_type, &form.indicator_value).await;
    let mut page = TestPage {
        ctx,
        provider: summary(&state, &row, usage),
        test: form,
        test_errors: FormErrors::none(),
        result: None,
    };
    match outcome {
        Ok(report) => {
            page.result = Some(test_result(&report));
            Ok(render(&page))
        }
        Err(e) => {
            page.test_errors = FormErrors::from_service(e)?;
            Ok(render_refused(&page))
        }
    }
}
