//! The alert page's actions that reach outside the alert: dispatch it to an agent and run a
//! workflow against one of its indicators — CSRF-checked POST forms, refused without the scope
//! REST asks for the same thing (`agents:write`, `workflows:execute`) — and the outcome page a run
//! leads to (`/alerts/{uuid}/workflow-outcome`: the run's status, or the approval request's when
//! the workflow asks a human first).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::api_keys::KeyType;
use calseta_core::scopes::Scope;
use calseta_services::pipeline::respond::{Caller, ExecuteRequest, Execution};
use serde::Deserialize;
use uuid::Uuid;

use super::alert_response::Stamp;
use super::alert_shared::{parse_uuid, refusal};
use super::{PageContext, PageError, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The dispatch form.
#[derive(Debug, Deserialize)]
pub struct DispatchForm {
    /// The agent to deliver to.
    #[serde(default)]
    agent_uuid: Option<String>,
}

/// `POST /alerts/{uuid}/dispatch`: queues a delivery of the alert to one agent, bypassing its
/// trigger filters (as REST's `POST /v1/alerts/{uuid}/dispatch-agent`), then back to the page's
/// deliveries, where the queued dispatch shows.
pub async fn dispatch(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<DispatchForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let Some(agent) = form.agent_uuid.as_deref().map(str::trim).and_then(|a| Uuid::parse_str(a).ok()) else {
        return Err(PageError::bad_request("Choose an agent to dispatch to."));
    };
    state.services().agents.dispatch_to(uuid, agent).await.map_err(refusal)?;
    Ok(see_other(&format!("/alerts/{uuid}#deliveries")))
}

/// The run-a-workflow form.
#[derive(Debug, Deserialize)]
pub struct ExecuteForm {
    /// The workflow.
    #[serde(default)]
    workflow_uuid: Option<String>,
    /// One of the alert's indicators.
    #[serde(default)]
    indicator_uuid: Option<String>,
    /// Why (shown to approvers).
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /alerts/{uuid}/workflows`: executes a workflow against one of the alert's indicators
/// for the alert (as REST's `POST /v1/workflows/{uuid}/execute`), then to the outcome page: the
/// queued run, or the approval request when the workflow asks a human first.
pub async fn execute(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<ExecuteForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsExecute)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let parse = |v: Option<String>| v.as_deref().map(str::trim).and_then(|v| Uuid::parse_str(v).ok());
    let (Some(workflow), Some(indicator)) = (parse(form.workflow_uuid), parse(form.indicator_uuid)) else {
        return Err(PageError::bad_request("Choose a workflow and one of the alert's indicators."));
    };
    let services = state.services();
    // Only an indicator of this alert: the form offers those, and the server holds to it.
    let Some(indicator) =
        services.alerts.indicators(uuid).await.map_err(refusal)?.into_iter().find(|i| i.uuid == indicator)
    else {
        return Err(PageError::bad_request("That indicator is not one of this alert's."));
    };
    let key = ctx.key();
    let caller = Caller {
        key_prefix: key.key_prefix.clone(),
        by_agent: key.key_type == KeyType::Agent,
        actor_type: "api",
        explain_always: true,
    };
    let request = ExecuteRequest {
        indicator_type: indicator.kind.to_string(),
        indicator_value: indicator.value,
        alert_uuid: Some(uuid),
        reason: form.reason.map(|r| r.trim().to_string()).filter(|r| !r.is_empty()),
        confidence: None,
    };
    let query = match services.respond.execute(workflow, request, &caller).await.map_err(refusal)? {
        Execution::Queued { run_uuid } => format!("run={run_uuid}"),
        Execution::PendingApproval { approval_uuid, .. } => format!("approval={approval_uuid}"),
    };
    Ok(see_other(&format!("/alerts/{uuid}/workflow-outcome?workflow={workflow}&{query}")))
}

/// The outcome page's query.
#[derive(Debug, Deserialize)]
pub struct OutcomeQuery {
    /// The workflow executed.
    #[serde(default)]
    workflow: Option<Uuid>,
    /// The queued run.
    #[serde(default)]
    run: Option<Uuid>,
    /// The approval request.
    #[serde(default)]
    approval: Option<Uuid>,
}

#[derive(Template)]
#[template(path = "alert_outcome.html")]
struct OutcomePage {
    ctx: PageContext,
    uuid: String,
    workflow_name: Option<String>,
    run: Option<RunOutcome>,
    approval: Option<ApprovalOutcome>,
}

/// A run as the outcome page shows it.
struct RunOutcome {
    uuid: String,
    status: &'static str,
    attempts: i32,
    duration_ms: Option<i32>,
    created: Stamp,
}

/// An approval request as the outcome page shows it.
struct ApprovalOutcome {
    uuid: String,
    status: &'static str,
    reason: String,
    expires: Stamp,
}

/// `GET /alerts/{uuid}/workflow-outcome?workflow=&run=|approval=`: where a run-a-workflow form
/// leads — the run's status now, or the approval request's (reload to follow it).
pub async fn outcome(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    if !(ctx.allows(Scope::WorkflowsExecute) || ctx.allows(Scope::WorkflowsRead)) {
        ctx.require_scope(Scope::WorkflowsRead)?;
    }
    let uuid = parse_uuid(&raw_uuid)?;
    let query: OutcomeQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or_default())
        .map_err(|_| PageError::bad_request("This address names no run or approval request."))?;
    let respond = &state.services().respond;
    let workflow_name = match query.workflow {
        Some(w) => state.services().workflows.get(w).await.ok().map(|w| w.name),
        None => None,
    };
    let run = match query.run {
        Some(run) => {
            let row = respond.run(run).await?;
            Some(RunOutcome {
                uuid: row.uuid.to_string(),
                status: row.status.as_str(),
                attempts: row.attempt_count,
                duration_ms: row.duration_ms,
                created: Stamp::of(row.created_at),
            })
        }
        None => None,
    };
    let approval = match query.approval {
        Some(approval) => {
            let row = respond.approval(approval).await?;
            Some(ApprovalOutcome {
                uuid: row.uuid.to_string(),
                status: row.status.as_str(),
                reason: row.reason,
                expires: Stamp::of(row.expires_at),
            })
        }
        None => None,
    };
    if run.is_none() && approval.is_none() {
        return Err(PageError::bad_request("Name a run or an approval request."));
    }
    Ok(render(&OutcomePage { ctx, uuid: uuid.to_string(), workflow_name, run, approval }))
}
