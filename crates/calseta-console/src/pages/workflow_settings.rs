//! `/workflows/{uuid}/settings`: a workflow's settings — name, state, what it acts on, approval
//! (mode, risk level, expiry, channel), timeout and documentation — through the service of
//! `PATCH /v1/workflows/{uuid}` (`workflows:write`), and its **secret grants**: which workflow
//! secrets it may read, confirmed for the code version shown, through the service of
//! `PUT /v1/workflows/{uuid}/secrets` (`admin`, as REST). Secret values are never shown. Deleting
//! a workflow is here too (the service of `DELETE /v1/workflows/{uuid}`; builtins stay).

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_core::workflows::{ApprovalMode, RiskLevel, WorkflowState};
use calseta_services::audit::Actor;
use calseta_services::resources::workflows::SecretGrants;
use calseta_services::views::workflows::WorkflowResponse;
use serde_json::{Map, Value};

use super::forms::{FormErrors, render_refused};
use super::listing::Filters;
use super::workflows::{Head, Pairs, load, number_or_text, parse_uuid};
use super::{PageContext, PageError, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The settings form's values (as stored, or as typed when refused).
struct Settings {
    name: String,
    state: String,
    risk_level: String,
    approval_mode: String,
    approval_timeout_seconds: String,
    approval_channel: String,
    timeout_seconds: String,
    indicator_types: Vec<String>,
    documentation: String,
}

impl Settings {
    fn of(w: &WorkflowResponse) -> Self {
        Settings {
            name: w.name.clone(),
            state: w.state.clone(),
            risk_level: w.risk_level.clone(),
            approval_mode: w.approval_mode.clone(),
            approval_timeout_seconds: w.approval_timeout_seconds.unwrap_or_default().to_string(),
            approval_channel: w.approval_channel.clone().flatten().unwrap_or_default(),
            timeout_seconds: w.timeout_seconds.unwrap_or_default().to_string(),
            indicator_types: w.indicator_types.clone(),
            documentation: w.documentation.clone().unwrap_or_default(),
        }
    }

    fn typed(form: &Pairs) -> Self {
        Settings {
            name: form.value("name"),
            state: form.value("state"),
            risk_level: form.value("risk_level"),
            approval_mode: form.value("approval_mode"),
            approval_timeout_seconds: form.value("approval_timeout_seconds"),
            approval_channel: form.value("approval_channel"),
            timeout_seconds: form.value("timeout_seconds"),
            indicator_types: form.values("indicator_types"),
            documentation: form.value("documentation"),
        }
    }

    fn has_type(&self, kind: &&str) -> bool {
        self.indicator_types.iter().any(|t| t == kind)
    }
}

/// The grants as the form shows them.
struct Grants {
    /// Each name that can be ticked: the stored secrets and anything granted, sorted.
    names: Vec<(String, bool, bool)>,
    confirmed_code_version: Option<i32>,
    code_version: i32,
    suspended: bool,
}

#[derive(Template)]
#[template(path = "workflow_settings.html")]
struct SettingsPage {
    ctx: PageContext,
    head: Head,
    settings: Settings,
    errors: FormErrors,
    grants: Option<Grants>,
    grant_errors: FormErrors,
    can_write: bool,
    notice: Option<&'static str>,
    states: Vec<&'static str>,
    risks: Vec<&'static str>,
    modes: Vec<&'static str>,
    types: Vec<&'static str>,
}

fn names<T: Copy>(all: &'static [T], name: fn(T) -> &'static str) -> Vec<&'static str> {
    all.iter().map(|v| name(*v)).collect()
}

/// The grants section, for an admin key (`None` for any other: REST refuses them the grants).
async fn grants(
    state: &ConsoleState,
    ctx: &PageContext,
    w: &WorkflowResponse,
) -> Result<Option<Grants>, PageError> {
    if !ctx.allows(Scope::Admin) {
        return Ok(None);
    }
    let services = state.services();
    let granted: SecretGrants = services.workflows.secret_grants(w.uuid).await?;
    let stored: Vec<String> = services.workflows.secrets().await?.into_iter().map(|s| s.name).collect();
    let mut all: Vec<String> = stored.iter().chain(granted.secrets.iter()).cloned().collect();
    all.sort();
    all.dedup();
    let names = all
        .into_iter()
        .map(|name| {
            let (on, exists) = (granted.secrets.contains(&name), stored.contains(&name));
            (name, on, exists)
        })
        .collect();
    Ok(Some(Grants {
        suspended: granted.suspended(),
        names,
        confirmed_code_version: granted.confirmed_code_version,
        code_version: granted.code_version,
    }))
}

async fn page(
    state: &ConsoleState,
    ctx: PageContext,
    w: &WorkflowResponse,
    settings: Settings,
    errors: FormErrors,
    grant_errors: FormErrors,
    notice: Option<&'static str>,
) -> Result<SettingsPage, PageError> {
    let grants = grants(state, &ctx, w).await?;
    Ok(SettingsPage {
        head: Head::of(w, &ctx, "settings"),
        settings,
        errors,
        grants,
        grant_errors,
        can_write: ctx.allows(Scope::WorkflowsWrite),
        notice,
        states: names(WorkflowState::ALL, WorkflowState::as_str),
        risks: names(RiskLevel::ALL, RiskLevel::as_str),
        modes: names(ApprovalMode::ALL, ApprovalMode::as_str),
        types: names(IndicatorType::ALL, IndicatorType::as_str),
        ctx,
    })
}

/// `GET /workflows/{uuid}/settings` (`?saved=settings|grants` after a change).
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsRead)?;
    let w = load(&state, parse_uuid(&raw_uuid)?).await?;
    let notice = match Filters::from_query(raw.as_deref()).value("saved").as_str() {
        "settings" => Some("The settings were saved."),
        "grants" => Some("The secret grants were saved and confirmed for the current code version."),
        _ => None,
    };
    let settings = Settings::of(&w);
    let page = page(&state, ctx, &w, settings, FormErrors::none(), FormErrors::none(), notice).await?;
    Ok(render(&page))
}

/// `POST /workflows/{uuid}/settings`: saves the settings (every field of the form; the code is
/// not among them); refused input is the form again with each refusal at its field.
pub async fn save(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let form = Pairs(form);
    let typed = Settings::typed(&form);
    let mut input = Map::new();
    for key in ["name", "state", "risk_level", "approval_mode"] {
        input.insert(key.into(), Value::String(form.value(key)));
    }
    for key in ["approval_timeout_seconds", "timeout_seconds"] {
        input.insert(key.into(), number_or_text(&form.value(key)));
    }
    // Sent even when emptied: `null` would leave the stored text as it is (v1's PATCH).
    input.insert("approval_channel".into(), Value::String(typed.approval_channel.clone()));
    input.insert("documentation".into(), Value::String(typed.documentation.clone()));
    input.insert(
        "indicator_types".into(),
        Value::Array(typed.indicator_types.iter().cloned().map(Value::String).collect()),
    );
    let services = state.services();
    let admin = ctx.allows(Scope::Admin);
    match services.workflows.patch(uuid, input, &Actor::console(ctx.key()), admin).await {
        Ok(_) => Ok(see_other(&format!("/workflows/{uuid}/settings?saved=settings"))),
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            let w = load(&state, uuid).await?;
            let page = page(&state, ctx, &w, typed, errors, FormErrors::none(), None).await?;
            Ok(render_refused(&page))
        }
    }
}

/// `POST /workflows/{uuid}/secrets`: replaces the grants with the ticked names and the typed
/// ones, confirmed for the code version the form showed (`admin`).
pub async fn grant(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let form = Pairs(form);
    let mut secrets = form.values("secret");
    secrets.extend(
        form.value("more").split([',', '\n']).map(str::trim).filter(|n| !n.is_empty()).map(str::to_string),
    );
    let Ok(code_version) = form.value("code_version").trim().parse::<i32>() else {
        return Err(PageError::bad_request("The form names no code version; reload the page."));
    };
    let services = state.services();
    match services.workflows.put_secret_grants(uuid, &secrets, code_version, &Actor::console(ctx.key())).await
    {
        Ok(_) => Ok(see_other(&format!("/workflows/{uuid}/settings?saved=grants#grants"))),
        Err(error) => {
            let grant_errors = FormErrors::from_service(error)?;
            let w = load(&state, uuid).await?;
            let settings = Settings::of(&w);
            let page = page(&state, ctx, &w, settings, FormErrors::none(), grant_errors, None).await?;
            Ok(render_refused(&page))
        }
    }
}

/// The delete form: the name typed again, so a workflow is not deleted by a stray click.
#[derive(Debug, serde::Deserialize)]
pub struct DeleteForm {
    /// The workflow's name, as confirmation.
    #[serde(default)]
    confirm: String,
}

/// `POST /workflows/{uuid}/delete` (`workflows:write`): deletes the workflow when the name typed
/// matches, then back to the list; a builtin is refused (403), as over REST.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<DeleteForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let w = load(&state, uuid).await?;
    if form.confirm.trim() != w.name.trim() {
        return Err(PageError::unprocessable("Type the workflow's name exactly to delete it."));
    }
    state.services().workflows.delete(uuid).await?;
    Ok(see_other("/workflows?deleted=1"))
}
