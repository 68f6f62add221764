//! A workflow's runs, tried and past: the **test runner** (`/workflows/{uuid}/test`, the service
//! of `POST /v1/workflows/{uuid}/test`, `workflows:execute`: a synthetic indicator, mock answers
//! keyed by method and URL, live HTTP where the approval mode allows it) showing the log — the
//! platform's entries marked apart from the workflow's own —, the HTTP steps and the result;
//! the **versions** with a line diff between any two (`/workflows/{uuid}/versions`); and the
//! **run history** with each run's log (`/workflows/{uuid}/runs`, the service of
//! `GET /v1/workflows/{uuid}/runs`).
//!
//! Logs, results and code were written by the workflow (and so by whoever wrote it) or by the
//! services it called: escaped text only.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::api_keys::KeyType;
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_core::workflows::{ApprovalMode, needs_approval};
use calseta_services::params::Paging;
use calseta_services::pipeline::respond::Caller;
use calseta_services::pipeline::respond::test_mode::{TestOutcome, TestRequest};
use calseta_services::records::RunRow;
use serde_json::{Map, Value, json};
use similar::{ChangeTag, TextDiff};

use super::forms::{FormErrors, render_refused};
use super::listing::{Filters, Pager, Shown};
use super::workflows::{Head, load, parse_uuid, run_class};
use super::{PageContext, PageError, render};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// How many mock rows the test form offers (an empty row is ignored).
const MOCK_ROWS: usize = 5;
/// Runs per page of the history.
const RUNS_PER_PAGE: u32 = 20;
/// The methods a mock row may name (`*`: any).
const METHODS: [&str; 8] = ["*", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

/// One entry of a run's log.
pub struct LogLine {
    /// Written by the platform (an HTTP request, an integration call, a refusal), not the code.
    pub platform: bool,
    /// `info`, `warning`, …
    pub level: String,
    /// The message.
    pub message: String,
    /// When.
    pub ts: String,
    /// The workflow's extra fields, as JSON.
    pub extra: Option<String>,
}

/// One HTTP request a run made, from the platform's log entry.
pub struct HttpStep {
    /// The method.
    pub method: String,
    /// The URL (without userinfo, query or fragment: the runtime logs it so).
    pub url: String,
    /// The status it got, or `refused`.
    pub status: String,
    /// 2xx.
    pub ok: bool,
}

/// A run's log as one JSON object per line, read into entries and HTTP steps (a line that is not
/// an entry is shown as the platform's text, so nothing is hidden).
pub fn read_log(log: &str) -> (Vec<LogLine>, Vec<HttpStep>) {
    let text = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let mut lines = Vec::new();
    let mut steps = Vec::new();
    for raw in log.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(Value::Object(entry)) = serde_json::from_str::<Value>(raw) else {
            lines.push(LogLine {
                platform: true,
                level: "info".into(),
                message: raw.to_string(),
                ts: String::new(),
                extra: None,
            });
            continue;
        };
        let platform = entry.get("source").and_then(Value::as_str) == Some("platform");
        if platform && let Some(Value::Object(http)) = entry.get("http") {
            let status = http.get("status").and_then(Value::as_u64);
            steps.push(HttpStep {
                method: text(http.get("method")),
                url: text(http.get("url")),
                status: status.map_or_else(|| "refused".to_string(), |s| s.to_string()),
                ok: status.is_some_and(|s| (200..300).contains(&s)),
            });
        }
        lines.push(LogLine {
            platform,
            level: text(entry.get("level")),
            message: text(entry.get("message")),
            ts: text(entry.get("ts")),
            extra: entry.get("extra").filter(|e| !e.is_null()).map(Value::to_string),
        });
    }
    (lines, steps)
}

/// JSON shown as indented text.
fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// One mock row of the form.
struct MockRow {
    index: usize,
    method: String,
    url: String,
    status: String,
    body: String,
}

/// What a test run did, as shown.
struct TestResult {
    success: bool,
    message: String,
    duration_ms: u64,
    data: String,
    log: Vec<LogLine>,
    steps: Vec<HttpStep>,
    live: bool,
}

#[derive(Template)]
#[template(path = "workflow_test.html")]
struct TestPage {
    ctx: PageContext,
    head: Head,
    types: Vec<&'static str>,
    methods: [&'static str; 8],
    indicator_type: String,
    indicator_value: String,
    mocks: Vec<MockRow>,
    live: bool,
    /// Live HTTP is offered: the approval mode asks no human of this key.
    live_allowed: bool,
    runnable: Option<String>,
    errors: FormErrors,
    result: Option<TestResult>,
}

/// Whether `ctx`'s key may test `mode`'s workflow live (REST's rule).
fn live_allowed(ctx: &PageContext, mode: &str) -> bool {
    ApprovalMode::parse(mode).is_ok_and(|m| !needs_approval(m, ctx.key().key_type == KeyType::Agent))
}

fn empty_rows() -> Vec<MockRow> {
    (0..MOCK_ROWS)
        .map(|index| MockRow {
            index,
            method: if index == 0 { "GET".into() } else { "*".into() },
            url: String::new(),
            status: "200".into(),
            body: String::new(),
        })
        .collect()
}

/// `GET /workflows/{uuid}/test`: the test form.
pub async fn form(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsExecute)?;
    let w = load(&state, parse_uuid(&raw_uuid)?).await?;
    let first_type = w.indicator_types.first().cloned().unwrap_or_else(|| "ip".to_string());
    let page = TestPage {
        head: Head::of(&w, &ctx, "test"),
        types: IndicatorType::names(),
        methods: METHODS,
        indicator_value: if IndicatorType::parse(&first_type) == Ok(IndicatorType::Ip) {
            "1.2.3.4".into()
        } else {
            String::new()
        },
        indicator_type: first_type,
        mocks: empty_rows(),
        live: false,
        live_allowed: live_allowed(&ctx, &w.approval_mode),
        runnable: calseta_core::workflows::WorkflowState::parse(&w.state)
            .ok()
            .and_then(|s| calseta_core::workflows::refusal_to_run(&w.name, s, w.is_active)),
        errors: FormErrors::none(),
        result: None,
        ctx,
    };
    Ok(render(&page))
}

/// The mock rows as typed, and the mock answers they make (`"METHOD URL"` → `{status, json|text}`).
fn mocks_of(form: &HashMap<String, String>, errors: &mut FormErrors) -> (Vec<MockRow>, Map<String, Value>) {
    let field = |name: &str, i: usize| form.get(&format!("{name}_{i}")).cloned().unwrap_or_default();
    let mut rows = Vec::new();
    let mut mocks = Map::new();
    for index in 0..MOCK_ROWS {
        let row = MockRow {
            index,
            method: field("mock_method", index),
            url: field("mock_url", index).trim().to_string(),
            status: field("mock_status", index).trim().to_string(),
            body: field("mock_body", index),
        };
        if !row.url.is_empty() {
            let status = if row.status.is_empty() { Some(200) } else { row.status.parse::<u16>().ok() };
            match status.filter(|s| (100..=599).contains(s)) {
                None => errors.add(&format!("mock_status_{index}"), "A status is a number from 100 to 599."),
                Some(status) => {
                    let method = row.method.trim().to_ascii_uppercase();
                    if !METHODS.contains(&method.as_str()) {
                        errors.add(&format!("mock_method_{index}"), "Choose a method or any (*).");
                    }
                    let key = if method == "*" { row.url.clone() } else { format!("{method} {}", row.url) };
                    // A body that reads as JSON is answered as JSON, anything else as text.
                    let answer = match serde_json::from_str::<Value>(row.body.trim()) {
                        Ok(json) if !row.body.trim().is_empty() => json!({"status": status, "json": json}),
                        _ => json!({"status": status, "text": row.body}),
                    };
                    mocks.insert(key, answer);
                }
            }
        }
        rows.push(row);
    }
    (rows, mocks)
}

/// `POST /workflows/{uuid}/test`: runs the workflow's saved code once in test mode and shows
/// what it did; nothing is stored (a live test is recorded in the activity log, as over REST).
pub async fn run(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<HashMap<String, String>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsExecute)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let w = load(&state, uuid).await?;
    let value = |key: &str| form.get(key).cloned().unwrap_or_default();
    let mut errors = FormErrors::none();
    let (mocks, mock_answers) = mocks_of(&form, &mut errors);
    let live = value("live_http") == "true";
    let (indicator_type, indicator_value) = (value("indicator_type"), value("indicator_value"));
    let mut result = None;
    if errors.is_empty() {
        let request = TestRequest {
            indicator_type: indicator_type.clone(),
            indicator_value: indicator_value.clone(),
            mock_http_responses: Value::Object(mock_answers),
            live_http: live,
        };
        let key = ctx.key();
        let caller = Caller {
            key_prefix: key.key_prefix.clone(),
            by_agent: key.key_type == KeyType::Agent,
            actor_type: "console",
            explain_always: true,
        };
        match state.services().workflow_tests.test(uuid, request, &caller).await {
            Ok(TestOutcome { success, message, log_output, duration_ms, result_data }) => {
                let (log, steps) = read_log(&log_output);
                result = Some(TestResult {
                    success,
                    message,
                    duration_ms,
                    data: pretty(&result_data),
                    log,
                    steps,
                    live,
                });
            }
            Err(error) => errors = FormErrors::from_service(error)?,
        }
    }
    let refused = !errors.is_empty();
    let page = TestPage {
        head: Head::of(&w, &ctx, "test"),
        types: IndicatorType::names(),
        methods: METHODS,
        indicator_type,
        indicator_value,
        mocks,
        live,
        live_allowed: live_allowed(&ctx, &w.approval_mode),
        runnable: None,
        errors,
        result,
        ctx,
    };
    Ok(if refused { render_refused(&page) } else { render(&page) })
}

/// A version to compare.
struct VersionChoice {
    version: i32,
    saved: Shown,
    current: bool,
}

/// One line of a diff.
pub struct DiffLine {
    /// `+`, `-` or a space.
    pub sign: char,
    /// `diff-add`, `diff-del` or `diff-same`.
    pub class: &'static str,
    /// The line in the older version (from 1), when it is there.
    pub old: Option<usize>,
    /// The line in the newer version, when it is there.
    pub new: Option<usize>,
    /// The text, without its newline.
    pub text: String,
}

/// The lines of `old` → `new` that changed, with three lines of context, hunk by hunk.
pub fn diff(old: &str, new: &str) -> Vec<Vec<DiffLine>> {
    let diff = TextDiff::from_lines(old, new);
    diff.grouped_ops(3)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|change| {
                    let (sign, class) = match change.tag() {
                        ChangeTag::Insert => ('+', "diff-add"),
                        ChangeTag::Delete => ('-', "diff-del"),
                        ChangeTag::Equal => (' ', "diff-same"),
                    };
                    DiffLine {
                        sign,
                        class,
                        old: change.old_index().map(|i| i + 1),
                        new: change.new_index().map(|i| i + 1),
                        text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                    }
                })
                .collect()
        })
        .collect()
}

#[derive(Template)]
#[template(path = "workflow_versions.html")]
struct VersionsPage {
    ctx: PageContext,
    head: Head,
    versions: Vec<VersionChoice>,
    from: i32,
    to: i32,
    hunks: Vec<Vec<DiffLine>>,
    added: usize,
    removed: usize,
}

/// `GET /workflows/{uuid}/versions?from=&to=`: every version (the current code and the kept
/// ones) and the diff between two, by default the previous version and the current code.
pub async fn versions(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsRead)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let w = load(&state, uuid).await?;
    let kept = state.services().workflows.versions(uuid).await?;
    let current = w.code_version;
    let mut codes: Vec<(i32, String, Shown, bool)> =
        vec![(current, w.code.clone().unwrap_or_default(), w.updated_at.into(), true)];
    codes.extend(
        kept.into_iter()
            .filter(|v| v.version != current)
            .map(|v| (v.version, v.code, v.saved_at.into(), false)),
    );
    let filters = Filters::from_query(raw.as_deref());
    let pick = |key: &str, default: i32| -> Result<i32, PageError> {
        match filters.value(key) {
            text if text.is_empty() => Ok(default),
            text => text
                .parse::<i32>()
                .ok()
                .filter(|v| codes.iter().any(|(version, ..)| version == v))
                .ok_or_else(|| PageError::not_found(format!("This workflow has no version {text}."))),
        }
    };
    let previous = codes.get(1).map_or(current, |(v, ..)| *v);
    let (from, to) = (pick("from", previous)?, pick("to", current)?);
    let code_of =
        |v: i32| codes.iter().find(|(version, ..)| *version == v).map(|(_, c, ..)| c.as_str()).unwrap_or("");
    let hunks = diff(code_of(from), code_of(to));
    let count = |class: &str| hunks.iter().flatten().filter(|l| l.class == class).count();
    let (added, removed) = (count("diff-add"), count("diff-del"));
    let page = VersionsPage {
        head: Head::of(&w, &ctx, "versions"),
        versions: codes
            .iter()
            .map(|(version, _, saved, current)| VersionChoice {
                version: *version,
                saved: saved.clone(),
                current: *current,
            })
            .collect(),
        from,
        to,
        hunks,
        added,
        removed,
        ctx,
    };
    Ok(render(&page))
}

/// One past run, as the history shows it.
struct RunView {
    uuid: String,
    status: &'static str,
    class: &'static str,
    trigger: &'static str,
    version: i32,
    attempts: i32,
    duration_ms: Option<i32>,
    created: Shown,
    completed: Option<Shown>,
    indicator: String,
    message: String,
    success: Option<bool>,
    data: Option<String>,
    log: Vec<LogLine>,
    steps: Vec<HttpStep>,
}

impl RunView {
    fn of(r: RunRow) -> Self {
        let context = r.trigger_context.as_ref().map(|c| c.0.clone()).unwrap_or(Value::Null);
        let field = |key: &str| context.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
        let result = r.result.as_ref().map(|c| c.0.clone()).unwrap_or(Value::Null);
        let (log, steps) = read_log(r.log_output.as_deref().unwrap_or_default());
        RunView {
            uuid: r.uuid.to_string(),
            status: r.status.as_str(),
            class: run_class(r.status),
            trigger: r.trigger_type.as_str(),
            version: r.code_version_executed,
            attempts: r.attempt_count,
            duration_ms: r.duration_ms,
            created: r.created_at.into(),
            completed: r.completed_at.map(Shown::from),
            indicator: format!("{}: {}", field("indicator_type"), field("indicator_value")),
            message: result.get("message").and_then(Value::as_str).unwrap_or_default().to_string(),
            success: result.get("success").and_then(Value::as_bool),
            data: result.get("data").filter(|d| !d.is_null()).map(pretty),
            log,
            steps,
        }
    }
}

#[derive(Template)]
#[template(path = "workflow_runs.html")]
struct RunsPage {
    ctx: PageContext,
    head: Head,
    runs: Vec<RunView>,
    pager: Pager,
}

/// `GET /workflows/{uuid}/runs?page=`: the runs, newest first, each with its log and result.
pub async fn runs(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsRead)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let w = load(&state, uuid).await?;
    let filters = Filters::from_query(raw.as_deref());
    let number = filters.value("page");
    let number = if number.is_empty() { Some(1) } else { number.parse::<i64>().ok() };
    let page = Paging { default_size: RUNS_PER_PAGE, max_size: RUNS_PER_PAGE, clamp: true }
        .request(number, None)
        .map_err(|_| PageError::bad_request("The page number must be 1 or more."))?;
    let (rows, total) = state.services().respond.runs(Some(uuid), None, page.limit(), page.offset()).await?;
    let path = format!("/workflows/{uuid}/runs");
    let page = RunsPage {
        head: Head::of(&w, &ctx, "runs"),
        runs: rows.into_iter().map(RunView::of).collect(),
        pager: Pager::new(&path, &filters, page, total),
        ctx,
    };
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_marks_the_platforms_entries_and_lists_the_http_steps() {
        let log = [
            r#"{"level":"info","message":"HTTP GET https://a.test/x -> 200","source":"platform","ts":"t1","http":{"method":"GET","url":"https://a.test/x","status":200}}"#,
            r#"{"level":"error","message":"HTTP POST https://b.test/ refused: no","source":"platform","http":{"method":"POST","url":"https://b.test/","status":null}}"#,
            r#"{"level":"info","message":"HTTP GET https://fake -> 200","source":"workflow","extra":{"k":1}}"#,
            "not json <b>",
        ]
        .join("\n");
        let (lines, steps) = read_log(&log);
        assert_eq!(lines.iter().map(|l| l.platform).collect::<Vec<_>>(), [true, true, false, true]);
        assert_eq!(lines[2].extra.as_deref(), Some(r#"{"k":1}"#));
        // A workflow's entry that reads like the platform's is no HTTP step.
        assert_eq!(steps.len(), 2);
        assert_eq!((steps[0].method.as_str(), steps[0].status.as_str(), steps[0].ok), ("GET", "200", true));
        assert_eq!((steps[1].status.as_str(), steps[1].ok), ("refused", false));
    }

    #[test]
    fn the_diff_has_signed_lines_with_their_numbers() {
        let hunks = diff("a\nb\nc\n", "a\nB\nc\nd\n");
        let lines: Vec<(char, Option<usize>, Option<usize>, &str)> =
            hunks.iter().flatten().map(|l| (l.sign, l.old, l.new, l.text.as_str())).collect();
        assert_eq!(
            lines,
            [
                (' ', Some(1), Some(1), "a"),
                ('-', Some(2), None, "b"),
                ('+', None, Some(2), "B"),
                (' ', Some(3), Some(3), "c"),
                ('+', None, Some(4), "d")
            ]
        );
        assert!(diff("same\n", "same\n").is_empty());
    }

    #[test]
    fn mock_rows_become_answers_keyed_by_method_and_url() {
        let mut form = HashMap::new();
        for (k, v) in [
            ("mock_method_0", "get"),
            ("mock_url_0", " https://a.test/* "),
            ("mock_status_0", "201"),
            ("mock_body_0", r#"{"id": 7}"#),
            ("mock_method_1", "*"),
            ("mock_url_1", "https://b.test/*"),
            ("mock_body_1", "plain"),
            ("mock_url_2", "https://c.test/"),
            ("mock_method_2", "POST"),
            ("mock_status_2", "abc"),
        ] {
            form.insert(k.to_string(), v.to_string());
        }
        let mut errors = FormErrors::none();
        let (rows, mocks) = mocks_of(&form, &mut errors);
        assert_eq!(rows.len(), MOCK_ROWS);
        assert_eq!(mocks["GET https://a.test/*"], json!({"status": 201, "json": {"id": 7}}));
        assert_eq!(mocks["https://b.test/*"], json!({"status": 200, "text": "plain"}));
        assert!(errors.invalid("mock_status_2") && !errors.invalid("mock_status_0"));
    }
}
