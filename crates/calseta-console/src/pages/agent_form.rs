//! The agent forms, each with `agents:write` like REST's agent routes and through the same
//! service calls: register (`/agents/new` → `POST /agents`, as `POST /v1/agents`), change
//! (`POST /agents/{uuid}`, as `PATCH /v1/agents/{uuid}`), rotate the signing secret
//! (`POST /agents/{uuid}/rotate-secret`: REST's `PATCH` with `"signing_secret": "generate"`), send
//! a test event (`POST /agents/{uuid}/test`, as `POST /v1/agents/{uuid}/test`) and delete.
//!
//! A generated signing secret is in the answer to the POST that made it and nowhere else: the
//! agent's page shows it once (the `secret_once` macro) and never again — reloading the agent's
//! address shows only that it has one. Auth header values and pasted secrets are never echoed
//! back into the form.
//!
//! The form's fields become the JSON body REST takes (the service reads the same map), so a
//! refusal is REST's refusal, shown next to the field it names.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::alerts::Severity;
use calseta_core::scopes::Scope;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::agent_fields::AgentForm;
use super::agents::{Detail, TestShown, agent_uuid, detail, source_names};
use super::forms::{FormErrors, render_refused};
use super::listing::Filters;
use super::{PageContext, PageError, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "agent_new.html")]
struct NewPage {
    ctx: PageContext,
    form: AgentForm,
    errors: FormErrors,
    source_names: Vec<&'static str>,
    severity_names: Vec<&'static str>,
}

fn new_page(ctx: PageContext, form: AgentForm, errors: FormErrors) -> NewPage {
    NewPage { ctx, form, errors, source_names: source_names(), severity_names: Severity::names() }
}

/// `GET /agents/new`: the registration form (`agents:write`).
pub async fn new(ctx: PageContext) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let form = AgentForm::for_new();
    Ok(render(&new_page(ctx, form, FormErrors::none())))
}

/// `POST /agents`: registers the agent; the answer is its page with the generated signing secret
/// shown once (not a redirect: the secret is not kept anywhere to show later). Refused input is
/// the form again (`422`).
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let form = AgentForm::read(form);
    match state.services().agents.create(form.body(true)).await {
        Ok((agent, secret)) => {
            let mut page = detail(ctx, &state, agent.uuid, &Filters::default()).await?;
            page.secret = secret;
            Ok(render(&page))
        }
        Err(e) => {
            let errors = form.refusal(e)?;
            Ok(render_refused(&new_page(ctx, form.shown(), errors)))
        }
    }
}

/// `POST /agents/{uuid}`: changes the agent as REST's `PATCH` does, then `303` back to it (a
/// pasted secret is not shown); refused input is the agent's page with the form as typed (`422`).
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let uuid = agent_uuid(&raw_uuid)?;
    let form = AgentForm::read(form);
    match state.services().agents.patch(uuid, form.body(false)).await {
        Ok(_) => Ok(see_other(&format!("/agents/{uuid}"))),
        Err(e) => {
            let errors = form.refusal(e)?;
            let mut page: Detail = detail(ctx, &state, uuid, &Filters::default()).await?;
            page.form = form.shown();
            page.errors = errors;
            Ok(render_refused(&page))
        }
    }
}

/// A form that carries nothing but its CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /agents/{uuid}/rotate-secret`: a new signing secret (REST: `PATCH` with
/// `"signing_secret": "generate"`), shown once on the agent's page; the old one stops working.
pub async fn rotate_secret(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form: Empty {} }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let uuid = agent_uuid(&raw_uuid)?;
    let mut input = Map::new();
    input.insert("signing_secret".into(), Value::String("generate".into()));
    let (_, secret) = state.services().agents.patch(uuid, input).await?;
    let mut page = detail(ctx, &state, uuid, &Filters::default()).await?;
    page.secret = secret;
    Ok(render(&page))
}

/// `POST /agents/{uuid}/test`: sends the synthetic, signed test event now and shows the agent's
/// answer (status, latency, body as text) on its page.
pub async fn test_event(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form: Empty {} }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    let uuid = agent_uuid(&raw_uuid)?;
    let outcome = state.services().agents.test_call(uuid).await?;
    let mut page = detail(ctx, &state, uuid, &Filters::default()).await?;
    page.test = Some(TestShown::from(outcome));
    Ok(render(&page))
}

/// `POST /agents/{uuid}/delete`: deletes the agent and its delivery history, then `303` to the
/// list.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form: Empty {} }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AgentsWrite)?;
    state.services().agents.delete(agent_uuid(&raw_uuid)?).await?;
    Ok(see_other("/agents"))
}
