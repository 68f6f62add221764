//! `/workflows/{uuid}`: one workflow's code — the editor (a plain `<textarea name="code">`, so it
//! works without JavaScript), the code shown with line numbers and syntax highlighting, the
//! **Validate** button (the services' `validate_code`, the check a save makes, so the problems
//! are REST's, each marked at its line) and **Save** (the service of `PATCH /v1/workflows/{uuid}`:
//! the code it replaces is kept as a version), with the `ctx` API reference beside it.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::audit::Actor;
use calseta_services::views::workflows::workflow_response;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::forms::{FormErrors, render_refused};
use super::listing::Filters;
use super::workflow_editor::CodeEditor;
use super::workflows::{Head, load, normalized_code, parse_uuid};
use super::{PageContext, PageError, render, see_other};
use crate::markdown::{self, SafeHtml};
use crate::session::SignedForm;
use crate::state::ConsoleState;

#[derive(Template)]
#[template(path = "workflow_code.html")]
struct CodePage {
    ctx: PageContext,
    head: Head,
    editor: CodeEditor,
    errors: FormErrors,
    documentation: Option<SafeHtml>,
    can_write: bool,
    /// The code version the editor was opened at (a save from an older one is refused).
    base_version: i32,
    /// "No problems found" after a Validate that found none.
    validated: bool,
    /// The version a save just made.
    saved: Option<i32>,
}

/// `GET /workflows/{uuid}`: the code, editable with `workflows:write`.
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsRead)?;
    let w = load(&state, parse_uuid(&raw_uuid)?).await?;
    let saved = Filters::from_query(raw.as_deref()).value("saved").parse::<i32>().ok();
    let page = CodePage {
        head: Head::of(&w, &ctx, "code"),
        editor: CodeEditor::new(w.code.as_deref().unwrap_or_default(), &FormErrors::none()),
        errors: FormErrors::none(),
        documentation: markdown::render_opt(w.documentation.as_deref()),
        can_write: ctx.allows(Scope::WorkflowsWrite),
        base_version: w.code_version,
        validated: false,
        saved,
        ctx,
    };
    Ok(render(&page))
}

/// The editor's form.
#[derive(Debug, Deserialize)]
pub struct CodeForm {
    /// The code as typed.
    #[serde(default)]
    code: String,
    /// `validate` or `save`.
    #[serde(default)]
    action: String,
    /// The code version the editor was opened at.
    #[serde(default)]
    base_version: Option<i32>,
}

/// `POST /workflows/{uuid}/code`: **Validate** checks the typed code and shows the page again
/// with what was found (nothing is saved); **Save** saves it as the new code (a new version).
/// Either way, refused code is the editor again, `422`, each problem at its line.
pub async fn submit(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<CodeForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::WorkflowsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let services = state.services();
    let w = load(&state, uuid).await?;
    let code = normalized_code(&form.code);
    let base_version = form.base_version.unwrap_or(w.code_version);
    let mut errors = FormErrors::none();
    let mut validated = false;
    match form.action.as_str() {
        "validate" => match services.workflows.validate_code(&code).await {
            Ok(()) => validated = true,
            Err(error) => errors = FormErrors::from_service(error)?,
        },
        "save" => {
            if base_version != w.code_version {
                errors.add_general(format!(
                    "The code was changed by someone else since you opened it (it is at version {} now, you \
                     edited version {base_version}). Copy your changes, reload the page and apply them again.",
                    w.code_version
                ));
            } else {
                let mut input = Map::new();
                input.insert("code".into(), Value::String(code.clone()));
                let admin = ctx.allows(Scope::Admin);
                match services.workflows.patch(uuid, input, &Actor::console(ctx.key()), admin).await {
                    Ok(row) => {
                        let version = row.code_version;
                        return Ok(see_other(&format!("/workflows/{uuid}?saved={version}")));
                    }
                    Err(error) => errors = FormErrors::from_service(error)?,
                }
            }
        }
        _ => return Err(PageError::bad_request("Choose Validate or Save.")),
    }
    let refused = !errors.is_empty();
    let w = workflow_response(services.workflows.get(uuid).await?, true);
    let page = CodePage {
        head: Head::of(&w, &ctx, "code"),
        editor: CodeEditor::new(&code, &errors),
        errors,
        documentation: markdown::render_opt(w.documentation.as_deref()),
        can_write: true,
        base_version,
        validated,
        saved: None,
        ctx,
    };
    Ok(if refused { render_refused(&page) } else { render(&page) })
}
