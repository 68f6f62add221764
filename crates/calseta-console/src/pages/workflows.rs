//! `/workflows`: the workflow list (state, risk, approval mode, last run) and creating a workflow
//! from a template (`/workflows/new`) — the builtins' code and the common actions the services
//! offer (`resources::workflow_templates`). What the workflow pages share lives here too: the
//! header and tabs of one workflow's pages, reading its id, and the form helpers.
//!
//! Names, documentation and code were written by whoever holds `workflows:write`: escaped text
//! (documentation through `crate::markdown`, code through `crate::highlight`).

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_core::workflows::{RiskLevel, RunState};
use calseta_services::ServiceError;
use calseta_services::params::{ListParams, Paging, RawArgs, WorkflowSearch};
use calseta_services::resources::workflow_templates::{self, TemplateKind, WorkflowTemplate};
use calseta_services::views::workflows::{WorkflowResponse, workflow_response};
use serde_json::{Map, Value};
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::listing::{Filters, Pager, Shown};
use super::workflow_editor::CodeEditor;
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The CSS modifier of a risk level (fixed words).
pub(super) fn risk_class(risk: &str) -> &'static str {
    match RiskLevel::parse(risk) {
        Ok(RiskLevel::Critical) => "wf-risk-critical",
        Ok(RiskLevel::High) => "wf-risk-high",
        Ok(RiskLevel::Medium) => "wf-risk-medium",
        _ => "wf-risk-low",
    }
}

/// The CSS modifier of a run status (fixed words).
pub(super) fn run_class(status: RunState) -> &'static str {
    match status {
        RunState::Success => "run-success",
        RunState::Failed | RunState::TimedOut => "run-failed",
        RunState::Queued | RunState::Running => "run-pending",
    }
}

/// The uuid of the path, or the 404 page a malformed one answers with.
pub(super) fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "There is no workflow with this id.")
}

/// The browser sends a textarea's lines ending in CRLF: stored code ends its lines as an API
/// client's would, so versions compare line by line.
pub(super) fn normalized_code(code: &str) -> String {
    code.replace("\r\n", "\n")
}

/// A form sent as pairs (repeated keys for checkboxes), read by name.
pub(super) struct Pairs(pub Vec<(String, String)>);

impl Pairs {
    /// The first value of `key`, or an empty text.
    pub fn value(&self, key: &str) -> String {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
    }

    /// Every value of `key`.
    pub fn values(&self, key: &str) -> Vec<String> {
        self.0.iter().filter(|(k, _)| k == key).map(|(_, v)| v.clone()).collect()
    }
}

/// A number field as the services read it: an integer when it is one, else the text as typed,
/// which the services refuse with the message REST gives.
pub(super) fn number_or_text(text: &str) -> Value {
    let text = text.trim();
    text.parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// The tabs of one workflow's pages.
pub(super) struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

/// The header every page of one workflow shows: what it is, and its tabs (those the key may use).
pub(super) struct Head {
    pub uuid: String,
    pub name: String,
    pub state: String,
    pub is_active: bool,
    pub is_system: bool,
    pub risk: String,
    pub risk_class: &'static str,
    pub approval_mode: String,
    pub code_version: i32,
    pub tabs: Vec<Tab>,
}

impl Head {
    /// The header of `w`, with `current` (`code`, `test`, `versions`, `runs`, `settings`) marked.
    pub fn of(w: &WorkflowResponse, ctx: &PageContext, current: &str) -> Self {
        let uuid = w.uuid.to_string();
        let mut tabs = Vec::new();
        let mut tab = |key: &str, path: &str, label: &'static str| {
            tabs.push(Tab { href: format!("/workflows/{uuid}{path}"), label, current: key == current });
        };
        if ctx.allows(Scope::WorkflowsRead) {
            tab("code", "", "Code");
        }
        if ctx.allows(Scope::WorkflowsExecute) {
            tab("test", "/test", "Test");
        }
        if ctx.allows(Scope::WorkflowsRead) {
            tab("versions", "/versions", "Versions");
            tab("runs", "/runs", "Runs");
            tab("settings", "/settings", "Settings");
        }
        Head {
            risk_class: risk_class(&w.risk_level),
            uuid,
            name: w.name.clone(),
            state: w.state.clone(),
            is_active: w.is_active,
            is_system: w.is_system,
            risk: w.risk_level.clone(),
            approval_mode: w.approval_mode.clone(),
            code_version: w.code_version,
            tabs,
        }
    }
}

/// Reads workflow `uuid` (with its code) for a page; a missing one is the 404 page.
pub(super) async fn load(state: &ConsoleState, uuid: Uuid) -> Result<WorkflowResponse, PageError> {
    match state.services().workflows.get(uuid).await {
        Ok(row) => Ok(workflow_response(row, true)),
        Err(ServiceError::NotFound(_)) => Err(PageError::not_found("There is no workflow with this id.")),
        Err(e) => Err(e.into()),
    }
}

/// One row of the list.
struct Row {
    uuid: String,
    name: String,
    state: String,
    is_active: bool,
    is_system: bool,
    risk: String,
    risk_class: &'static str,
    approval_mode: String,
    code_version: i32,
    indicator_types: String,
    last_run: Option<LastRun>,
}

/// A workflow's newest run.
struct LastRun {
    status: &'static str,
    class: &'static str,
    at: Shown,
}

#[derive(Template)]
#[template(path = "workflows.html")]
struct ListPage {
    ctx: PageContext,
    rows: Vec<Row>,
    pager: Pager,
    errors: Vec<String>,
    filters: Filters,
    can_write: bool,
    /// A workflow was just deleted (the notice).
    deleted: bool,
    states: &'static [&'static str],
    risks: &'static [&'static str],
}

/// `GET /workflows`: every workflow by name (filters `state` and `risk_level` as REST reads
/// them), each with its newest run.
pub async fn list(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsRead)?;
    // `deleted=1` is the notice after a delete, not a filter.
    let pairs = form_urlencoded::parse(raw.as_deref().unwrap_or_default().as_bytes());
    let deleted = pairs.clone().any(|(k, v)| k == "deleted" && v == "1");
    let kept = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.filter(|(k, _)| k != "deleted"))
        .finish();
    let filters = Filters::from_query(Some(&kept));
    let mut encoded = filters.encoded();
    if filters.value("sort_by").is_empty() {
        encoded.push_str(if encoded.is_empty() { "" } else { "&" });
        encoded.push_str("sort_by=name&sort_order=asc");
    }
    let args = RawArgs::from_query(Some(&encoded), WorkflowSearch::REPEATED);
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut pager = Pager::default();
    match args.parse::<WorkflowSearch>().and_then(|s| s.to_query(Paging::REST)) {
        Err(e) => errors = e.to_string().lines().map(str::to_string).collect(),
        Ok((filter, page)) => {
            let services = state.services();
            let (found, total) = services
                .workflows
                .list(&filter, page.limit(), page.offset())
                .await
                .map_err(PageError::from)?;
            let mut latest = services.respond.latest_runs(&found).await?;
            pager = Pager::new("/workflows", &filters, page, total);
            rows = found
                .into_iter()
                .map(|w| {
                    let last_run = latest.remove(&w.id).map(|r| LastRun {
                        status: r.status.as_str(),
                        class: run_class(r.status),
                        at: r.created_at.into(),
                    });
                    let w = workflow_response(w, false);
                    Row {
                        uuid: w.uuid.to_string(),
                        risk_class: risk_class(&w.risk_level),
                        name: w.name,
                        state: w.state,
                        is_active: w.is_active,
                        is_system: w.is_system,
                        risk: w.risk_level,
                        approval_mode: w.approval_mode,
                        code_version: w.code_version,
                        indicator_types: w.indicator_types.join(", "),
                        last_run,
                    }
                })
                .collect();
        }
    }
    let page = ListPage {
        deleted,
        can_write: ctx.allows(Scope::WorkflowsWrite),
        ctx,
        rows,
        pager,
        errors,
        filters,
        states: &["draft", "active", "inactive"],
        risks: &["low", "medium", "high", "critical"],
    };
    if page.errors.is_empty() { Ok(render(&page)) } else { Ok(render_refused(&page)) }
}

/// A template as the picker shows it.
struct TemplateChoice {
    key: &'static str,
    name: &'static str,
    summary: &'static str,
    builtin: bool,
    risk: &'static str,
    risk_class: &'static str,
    types: String,
    chosen: bool,
}

#[derive(Template)]
#[template(path = "workflow_new.html")]
struct NewPage {
    ctx: PageContext,
    templates: Vec<TemplateChoice>,
    template: String,
    name: String,
    documentation: String,
    editor: CodeEditor,
    errors: FormErrors,
    /// "No problems found" after a Validate that found none.
    validated: bool,
}

/// What a blank workflow starts with.
const BLANK_CODE: &str = "from app.workflows.context import WorkflowContext, WorkflowResult\n\n\n\
async def run(ctx: WorkflowContext) -> WorkflowResult:\n    ctx.log.info(\"started\", indicator=ctx.indicator.value)\n    \
return WorkflowResult.ok(f\"Done for {ctx.indicator.value}\")\n";

fn choices(chosen: &str) -> Vec<TemplateChoice> {
    workflow_templates::templates()
        .into_iter()
        .map(|t| TemplateChoice {
            key: t.key,
            name: t.name,
            summary: t.summary,
            builtin: t.kind == TemplateKind::Builtin,
            risk: t.risk_level.as_str(),
            risk_class: risk_class(t.risk_level.as_str()),
            types: t.indicator_types.iter().map(|i| i.as_str()).collect::<Vec<_>>().join(", "),
            chosen: t.key == chosen,
        })
        .collect()
}

/// `GET /workflows/new?template=…`: the template picker and the new workflow's form, filled from
/// the chosen template (or a blank `run`).
pub async fn new_form(ctx: PageContext, RawQuery(raw): RawQuery) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsWrite)?;
    let filters = Filters::from_query(raw.as_deref());
    let key = filters.value("template");
    let chosen: Option<WorkflowTemplate> = workflow_templates::template(&key);
    if !key.is_empty() && chosen.is_none() {
        return Err(PageError::not_found("There is no workflow template with this name."));
    }
    let page = NewPage {
        templates: choices(&key),
        template: chosen.map(|t| t.key.to_string()).unwrap_or_default(),
        name: chosen.map(|t| t.name.to_string()).unwrap_or_default(),
        documentation: chosen.map(|t| t.documentation.to_string()).unwrap_or_default(),
        editor: CodeEditor::new(
            &chosen.map_or_else(|| BLANK_CODE.to_string(), |t| t.code.to_string()),
            &FormErrors::none(),
        ),
        errors: FormErrors::none(),
        validated: false,
        ctx,
    };
    Ok(render(&page))
}

/// `POST /workflows/new`: creates the workflow (a draft, as REST creates it) through the same
/// service as `POST /v1/workflows` — or, with `action=validate`, only checks its code; refused
/// input is the form again with the refusal at its field (code problems at their lines).
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsWrite)?;
    let form = Pairs(form);
    let template = workflow_templates::template(&form.value("template"));
    let (name, documentation, code) =
        (form.value("name"), form.value("documentation"), normalized_code(&form.value("code")));
    let mut input = Map::new();
    input.insert("name".into(), Value::String(name.clone()));
    input.insert("code".into(), Value::String(code.clone()));
    if !documentation.trim().is_empty() {
        input.insert("documentation".into(), Value::String(documentation.clone()));
    }
    // A template says what it acts on and how risky it is; the rest are REST's defaults.
    if let Some(t) = template {
        input.insert("workflow_type".into(), Value::from("indicator"));
        let types: Vec<Value> =
            t.indicator_types.iter().map(|i| Value::from(IndicatorType::as_str(*i))).collect();
        input.insert("indicator_types".into(), Value::Array(types));
        input.insert("risk_level".into(), Value::from(t.risk_level.as_str()));
    }
    let services = state.services();
    let key = template.map(|t| t.key.to_string()).unwrap_or_default();
    // Validate checks the code as creating would, and creates nothing.
    let outcome = if form.value("action") == "validate" {
        services.workflows.validate_code(&code).await.map(|()| None)
    } else {
        services.workflows.create(input).await.map(Some)
    };
    match outcome {
        Ok(Some(row)) => Ok(see_other(&format!("/workflows/{}", row.uuid))),
        Ok(None) => {
            let editor = CodeEditor::new(&code, &FormErrors::none());
            let page = NewPage {
                templates: choices(&key),
                template: key,
                name,
                documentation,
                editor,
                errors: FormErrors::none(),
                validated: true,
                ctx,
            };
            Ok(render(&page))
        }
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            let editor = CodeEditor::new(&code, &errors);
            let page = NewPage {
                templates: choices(&key),
                template: key,
                name,
                documentation,
                editor,
                errors,
                validated: false,
                ctx,
            };
            Ok(render_refused(&page).into_response())
        }
    }
}
