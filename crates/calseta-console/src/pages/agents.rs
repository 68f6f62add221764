//! `/agents` and `/agents/{uuid}`: the webhook consumers alerts are delivered to — the list with
//! each agent's last delivery and its status, and one agent with its endpoint, triggers (sources,
//! severities, the targeting filter), payload profile and state, its edit form, the test call's
//! answer, the signing secret once when it was just made, and its delivery log (attempts with
//! status, attempt number, response code and latency; deliveries still queued with their next
//! retry). The forms themselves are in `agent_form`.
//!
//! Agent names and descriptions are typed by people with `agents:write`, and an agent's answers
//! (in the test result and the delivery log) are written by whoever runs the endpoint: escaped
//! text only, never markup.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::alerts::Severity;
use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_services::resources::agents::AgentTestOutcome;
use uuid::Uuid;

use super::agent_fields::AgentForm;
use super::forms::FormErrors;
use super::listing::{Filters, Pager, Shown};
use super::{PageContext, PageError, path_uuid, render};
use crate::state::ConsoleState;

/// Delivery attempts per page of the log.
const RUNS_PER_PAGE: u32 = 25;
/// Queued deliveries listed at most.
const PENDING_SHOWN: i64 = 50;

/// Milliseconds between two times, as text ("—" when either is unknown).
fn latency(
    started: Option<chrono::DateTime<chrono::Utc>>,
    completed: Option<chrono::DateTime<chrono::Utc>>,
) -> String {
    match (started, completed) {
        (Some(s), Some(c)) => format!("{} ms", (c - s).num_milliseconds().max(0)),
        _ => "—".into(),
    }
}

/// The CSS class of a delivery status.
fn status_class(status: &str) -> &'static str {
    match status {
        "success" => "delivery-success",
        "timeout" => "delivery-timeout",
        _ => "delivery-failed",
    }
}

/// An agent's newest delivery, as the list shows it.
struct LastDelivery {
    status: &'static str,
    class: &'static str,
    code: Option<i32>,
    at: Shown,
    alert: Uuid,
}

/// An agent as the list shows it.
struct Row {
    uuid: Uuid,
    name: String,
    endpoint: String,
    active: bool,
    profile: &'static str,
    triggers: String,
    last: Option<LastDelivery>,
}

#[derive(Template)]
#[template(path = "agents.html")]
struct List {
    ctx: PageContext,
    rows: Vec<Row>,
    can_write: bool,
}

/// "sources: a, b · severities: High · filter", or "every enriched alert".
pub(crate) fn triggers_text(sources: &[String], severities: &[String], filtered: bool) -> String {
    let mut parts = Vec::new();
    if !sources.is_empty() {
        parts.push(format!("sources: {}", sources.join(", ")));
    }
    if !severities.is_empty() {
        parts.push(format!("severities: {}", severities.join(", ")));
    }
    if filtered {
        parts.push("targeting filter".to_string());
    }
    if parts.is_empty() { "every enriched alert".to_string() } else { parts.join(" · ") }
}

/// `GET /agents`: every agent, newest first, with its last delivery (`agents:read`).
pub async fn list(ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsRead)?;
    let agents = &state.services().agents;
    let mut last = agents.last_deliveries().await?;
    let rows = agents
        .list()
        .await?
        .into_iter()
        .map(|a| Row {
            uuid: a.uuid,
            triggers: triggers_text(
                &a.trigger_on_sources.0,
                &a.trigger_on_severities.0,
                a.trigger_filter.is_some(),
            ),
            last: last.remove(&a.uuid).map(|d| LastDelivery {
                status: d.status.as_str(),
                class: status_class(d.status.as_str()),
                code: d.response_status_code,
                at: d.completed_at.or(d.started_at).unwrap_or(d.created_at).into(),
                alert: d.alert_uuid,
            }),
            name: a.name,
            endpoint: a.endpoint_url,
            active: a.is_active,
            profile: a.payload_profile.as_str(),
        })
        .collect();
    let can_write = ctx.allows(Scope::AgentsWrite);
    Ok(render(&List { ctx, rows, can_write }))
}

/// One attempt in the delivery log.
struct Attempt {
    alert: Uuid,
    delivery_id: String,
    status: &'static str,
    class: &'static str,
    attempt: i32,
    code: Option<i32>,
    latency: String,
    started: Option<Shown>,
    error: Option<String>,
}

/// A delivery still queued.
struct Queued {
    delivery_id: String,
    status: &'static str,
    attempts: i32,
    max_attempts: i32,
    next: Shown,
    last_error: Option<String>,
}

/// The test call's result as shown.
pub(crate) struct TestShown {
    delivered: bool,
    code: Option<u16>,
    latency: String,
    error: Option<String>,
    /// The agent's answer as text: pretty JSON, or the text it sent.
    body: Option<String>,
}

impl From<AgentTestOutcome> for TestShown {
    fn from(o: AgentTestOutcome) -> Self {
        let body =
            o.response_body.filter(|b| !b.is_null()).map(|b| match b.get("raw").and_then(|r| r.as_str()) {
                Some(raw) if b.as_object().is_some_and(|m| m.len() <= 2) => raw.to_string(),
                _ => serde_json::to_string_pretty(&b).unwrap_or_else(|_| b.to_string()),
            });
        TestShown {
            delivered: o.delivered,
            code: o.status_code,
            latency: format!("{:.0} ms", o.duration_ms),
            error: o.error,
            body,
        }
    }
}

#[derive(Template)]
#[template(path = "agent.html")]
pub(crate) struct Detail {
    pub(crate) ctx: PageContext,
    uuid: Uuid,
    name: String,
    description: Option<String>,
    endpoint: String,
    active: bool,
    profile: &'static str,
    sources: Vec<String>,
    severities: Vec<String>,
    filter: Option<String>,
    has_secret: bool,
    auth_header: Option<String>,
    timeout_seconds: i32,
    retry_count: i32,
    created: Shown,
    updated: Shown,
    /// A signing secret just made (at creation or rotation): shown once, never stored here.
    pub(crate) secret: Option<String>,
    /// The answer of a test call just made.
    pub(crate) test: Option<TestShown>,
    attempts: Vec<Attempt>,
    pager: Pager,
    queued: Vec<Queued>,
    /// The edit form: as stored, or as typed when it was refused.
    pub(crate) form: AgentForm,
    pub(crate) errors: FormErrors,
    source_names: Vec<&'static str>,
    severity_names: Vec<&'static str>,
    can_write: bool,
}

/// Reads the uuid of a path; anything else is the agent's 404.
pub(crate) fn agent_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "Agent not found.")
}

/// The registered sources' names (the trigger checkboxes).
pub(crate) fn source_names() -> Vec<&'static str> {
    calseta_core::sources::registry().iter().map(|s| s.name()).collect()
}

/// The agent page for `uuid` with the delivery log's `page`; the caller fills in a secret, a test
/// result or a refused form.
pub(crate) async fn detail(
    ctx: PageContext,
    state: &ConsoleState,
    uuid: Uuid,
    filters: &Filters,
) -> Result<Detail, PageError> {
    let agents = &state.services().agents;
    let agent = agents.get(uuid).await?;
    let page = filters.value("page").parse::<u32>().unwrap_or(1).max(1);
    let request = PageRequest { page, page_size: RUNS_PER_PAGE };
    let (runs, total) =
        agents.runs(uuid, i64::from(RUNS_PER_PAGE), i64::from(page - 1) * i64::from(RUNS_PER_PAGE)).await?;
    let queued = agents
        .pending_deliveries(uuid, PENDING_SHOWN)
        .await?
        .into_iter()
        .map(|p| Queued {
            delivery_id: p.delivery_id.unwrap_or_default(),
            status: p.status.as_str(),
            attempts: p.attempts,
            max_attempts: p.max_attempts,
            next: p.next_attempt_at.into(),
            last_error: p.last_error,
        })
        .collect();
    let attempts = runs
        .into_iter()
        .map(|r| Attempt {
            alert: r.alert_uuid,
            delivery_id: r.delivery_id.unwrap_or_default(),
            status: r.status.as_str(),
            class: status_class(r.status.as_str()),
            attempt: r.attempt_count,
            code: r.response_status_code,
            latency: latency(r.started_at, r.completed_at),
            started: r.started_at.map(Shown::from),
            error: r.error_message,
        })
        .collect();
    let can_write = ctx.allows(Scope::AgentsWrite);
    Ok(Detail {
        ctx,
        uuid: agent.uuid,
        form: AgentForm::of(&agent),
        name: agent.name,
        description: agent.description,
        endpoint: agent.endpoint_url,
        active: agent.is_active,
        profile: agent.payload_profile.as_str(),
        sources: agent.trigger_on_sources.0,
        severities: agent.trigger_on_severities.0,
        filter: agent.trigger_filter.map(|f| serde_json::to_string_pretty(&f.0).unwrap_or_default()),
        has_secret: agent.signing_secret_encrypted.is_some(),
        auth_header: agent.auth_header_name,
        timeout_seconds: agent.timeout_seconds,
        retry_count: agent.retry_count,
        created: agent.created_at.into(),
        updated: agent.updated_at.into(),
        secret: None,
        test: None,
        attempts,
        pager: Pager::new(&format!("/agents/{uuid}"), filters, request, total),
        queued,
        errors: FormErrors::none(),
        source_names: source_names(),
        severity_names: Severity::names(),
        can_write,
    })
}

/// `GET /agents/{uuid}`: the agent, its edit form (`agents:write`) and its delivery log.
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsRead)?;
    let uuid = agent_uuid(&raw_uuid)?;
    let page = detail(ctx, &state, uuid, &Filters::from_query(raw.as_deref())).await?;
    Ok(render(&page))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn triggers_and_latency_read_plainly() {
        assert_eq!(triggers_text(&[], &[], false), "every enriched alert");
        assert_eq!(
            triggers_text(&["elastic".into()], &["High".into(), "Critical".into()], true),
            "sources: elastic · severities: High, Critical · targeting filter"
        );
        let t = chrono::Utc::now();
        assert_eq!(latency(Some(t), Some(t + chrono::Duration::milliseconds(42))), "42 ms");
        assert_eq!(latency(None, Some(t)), "—");
    }

    #[test]
    fn a_test_answer_is_text_raw_or_pretty_json() {
        let outcome = |body| AgentTestOutcome {
            delivered: true,
            status_code: Some(200),
            duration_ms: 3.2,
            error: None,
            response_body: Some(body),
        };
        let shown = TestShown::from(outcome(json!({"raw": "<b>hi</b>"})));
        assert_eq!(shown.body.as_deref(), Some("<b>hi</b>"));
        let shown = TestShown::from(outcome(json!({"ok": true})));
        assert_eq!(shown.body.as_deref(), Some("{\n  \"ok\": true\n}"));
        assert_eq!(shown.latency, "3 ms");
    }
}
