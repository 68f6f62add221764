//! `/settings/secrets`: the workflow secrets — names and times only, never a value (not even the
//! one just typed: a refused form comes back with its value field empty) — with forms to set one,
//! rotate one (a new value) and delete one behind a confirmation page, and each secret's grants:
//! the workflows that may read it, and whether their grants are suspended since their code
//! changed. Grants are edited per workflow (the workflow's page, `PUT /v1/workflows/{uuid}/secrets`:
//! a confirmation names the code it confirms), so here they are shown with a link there. The same
//! service and `admin` scope as REST's `/v1/workflow-secrets`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::resources::workflows::SecretGrants;
use serde::Deserialize;

use super::forms::{FormErrors, render_refused};
use super::listing::Shown;
use super::settings::Confirm;
use super::{PageContext, PageError, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The most workflows read to find each secret's grants.
const WORKFLOWS_READ: i64 = 1_000;

/// A workflow granted a secret.
struct Grant {
    uuid: String,
    name: String,
    /// Its grants wait for an admin to confirm its current code.
    suspended: bool,
}

/// One secret as the page shows it: its name, times and grants.
struct SecretRow {
    name: String,
    created: Shown,
    updated: Shown,
    grants: Vec<Grant>,
}

#[derive(Template)]
#[template(path = "settings_secrets.html")]
struct SecretsPage {
    ctx: PageContext,
    secrets: Vec<SecretRow>,
    /// Names granted to some workflow with no secret stored under them.
    granted_unset: Vec<(String, Vec<Grant>)>,
    can_read_workflows: bool,
    /// The set form's name, as typed (the value is never shown back).
    name: String,
    errors: FormErrors,
    /// The secret just saved or deleted.
    saved: Option<String>,
    deleted: Option<String>,
}

/// `?saved=` / `?deleted=` after a change (a secret's name, never its value).
#[derive(Debug, Default, Deserialize)]
pub struct Done {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    deleted: Option<String>,
}

async fn page(
    state: &ConsoleState,
    ctx: PageContext,
    name: String,
    errors: FormErrors,
    done: Done,
) -> Result<SecretsPage, PageError> {
    let services = state.services();
    let stored = services.workflows.secrets().await?;
    let (workflows, _) = services.workflows.newest(WORKFLOWS_READ).await?;
    let mut grants: BTreeMap<String, Vec<Grant>> = BTreeMap::new();
    for workflow in &workflows {
        let granted = SecretGrants::of(workflow);
        for secret in &granted.secrets {
            grants.entry(secret.clone()).or_default().push(Grant {
                uuid: workflow.uuid.to_string(),
                name: workflow.name.clone(),
                suspended: granted.suspended(),
            });
        }
    }
    let secrets = stored
        .into_iter()
        .map(|s| SecretRow {
            grants: grants.remove(&s.name).unwrap_or_default(),
            name: s.name,
            created: s.created_at.into(),
            updated: s.updated_at.into(),
        })
        .collect();
    Ok(SecretsPage {
        can_read_workflows: ctx.allows(Scope::WorkflowsRead),
        ctx,
        secrets,
        granted_unset: grants.into_iter().collect(),
        name,
        errors,
        saved: done.saved,
        deleted: done.deleted,
    })
}

/// `GET /settings/secrets`.
pub async fn list(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Query(done): Query<Done>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    Ok(render(&page(&state, ctx, String::new(), FormErrors::none(), done).await?))
}

/// The set and rotate forms: a name and a new value.
#[derive(Debug, Deserialize)]
pub struct SetForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    value: String,
}

/// `POST /settings/secrets`: stores a secret, or replaces its value (rotation), as
/// `PUT /v1/workflow-secrets/{name}` does.
pub async fn set(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<SetForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let name = form.name.trim().to_string();
    match state.services().workflows.put_secret(&name, &form.value).await {
        Ok(saved) => {
            let query = serde_urlencoded::to_string([("saved", saved.name.as_str())]).unwrap_or_default();
            Ok(see_other(&format!("/settings/secrets?{query}")))
        }
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            Ok(render_refused(&page(&state, ctx, form.name, errors, Done::default()).await?))
        }
    }
}

/// `GET /settings/secrets/{name}/delete`: asks once more.
pub async fn confirm_delete(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let secrets = state.services().workflows.secrets().await?;
    let Some(secret) = secrets.into_iter().find(|s| s.name == name) else {
        return Err(PageError::not_found(format!("Workflow secret '{name}' not found")));
    };
    let page = Confirm {
        title: "Delete workflow secret".into(),
        message: "Delete this secret? Workflows granted it read nothing under its name from their next run."
            .into(),
        facts: vec![("Name", secret.name.clone())],
        action: format!("/settings/secrets/{}/delete", secret.name),
        button: "Delete the secret",
        back: "/settings/secrets",
        ctx,
    };
    Ok(render(&page))
}

/// `POST /settings/secrets/{name}/delete`: deletes, as `DELETE /v1/workflow-secrets/{name}` does.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(name): Path<String>,
    SignedForm { ctx, form: _ }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    state.services().workflows.delete_secret(&name).await?;
    let query = serde_urlencoded::to_string([("deleted", name.as_str())]).unwrap_or_default();
    Ok(see_other(&format!("/settings/secrets?{query}")))
}
