//! `/settings/sources`: the alert sources. For each source integration, the webhook URL to paste
//! into the SIEM (under the configured public base URL, the one agents' payloads link to), how
//! its webhooks are verified (the plugin's signature scheme and header, and whether a secret is
//! set — here or in the environment), and, for an `admin` key, setting, generating or removing
//! its signing secret (a new secret is shown once, in the response), adding a source and deleting
//! one behind a confirmation page. The same service and scopes as REST's `/v1/sources`
//! (`alerts:read` to read, `admin` to change).
//!
//! Display names were typed by whoever holds an admin key: escaped text only.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_core::sources::{self, SignatureScheme};
use calseta_services::pipeline::ingest::{SecretOrigin, SignatureStatus};
use calseta_services::resources::sources::{generate_webhook_secret, webhook_url};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::listing::Shown;
use super::settings::Confirm;
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// How a source's webhooks are verified, in words.
struct Verification {
    /// Signatures are checked now.
    verified: bool,
    /// The scheme and header, or `None` for an unsigned plugin.
    scheme: Option<String>,
    /// Where the secret comes from, or why there is none.
    status: String,
}

impl Verification {
    fn of(status: &SignatureStatus) -> Self {
        let scheme = match status.scheme {
            SignatureScheme::None => None,
            SignatureScheme::HmacSha256 { header } => Some(format!(
                "HMAC-SHA256 of the body, in hex (optionally sha256=…), in the {header} header; with an \
                 x-calseta-timestamp header the HMAC covers \"<timestamp>.<body>\" and is refused after 5 minutes"
            )),
            SignatureScheme::SharedToken { header } => {
                Some(format!("the secret itself, sent verbatim in the {header} header"))
            }
        };
        let env = &status.env_var;
        let (verified, status) = match (status.scheme, status.origin) {
            (SignatureScheme::None, _) => (
                false,
                "Not signed: this source's webhooks are authenticated by the API key alone.".to_string(),
            ),
            (_, SecretOrigin::Stored) => (true, "Verified with the secret set here.".to_string()),
            (_, SecretOrigin::Environment) => {
                (true, format!("Verified with the secret from {env} (a secret set here replaces it)."))
            }
            (_, SecretOrigin::Unset) => (
                false,
                format!("Not verified: no secret is set here or in {env}; unsigned webhooks are accepted."),
            ),
        };
        Verification { verified, scheme, status }
    }
}

/// One source integration as the page shows it.
struct SourceCard {
    uuid: String,
    display_name: String,
    source_name: String,
    plugin: &'static str,
    active: bool,
    url: String,
    verification: Verification,
    /// This integration holds a stored secret (never shown).
    stored_here: bool,
    signs: bool,
    updated: Shown,
}

/// A registered source plugin, with or without an integration.
struct Plugin {
    name: &'static str,
    display: &'static str,
    url: String,
    verification: Verification,
}

/// The add form, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    source_name: String,
    #[serde(default)]
    display_name: String,
}

/// A secret this request set, shown in this response only.
struct NewSecret {
    source: String,
    value: String,
}

#[derive(Template)]
#[template(path = "settings_sources.html")]
struct SourcesPage {
    ctx: PageContext,
    sources: Vec<SourceCard>,
    plugins: Vec<Plugin>,
    can_change: bool,
    add: AddForm,
    add_errors: FormErrors,
    /// The source whose secret form was refused, and why.
    secret_errors: Option<(String, FormErrors)>,
    new_secret: Option<NewSecret>,
}

impl SourcesPage {
    /// The refusal of `uuid`'s secret form, if that is the form refused.
    fn secret_errors_for(&self, uuid: &str) -> Option<&FormErrors> {
        self.secret_errors.as_ref().filter(|(u, _)| u == uuid).map(|(_, e)| e)
    }
}

async fn page(
    state: &ConsoleState,
    ctx: PageContext,
    add: AddForm,
    add_errors: FormErrors,
    secret_errors: Option<(String, FormErrors)>,
    new_secret: Option<NewSecret>,
) -> Result<SourcesPage, PageError> {
    let services = state.services();
    let base = services.agents.api_base_url();
    let mut plugins = Vec::new();
    for plugin in sources::registry() {
        let status = services.ingest.signature_status(plugin.name()).await?;
        plugins.push(Plugin {
            name: plugin.name(),
            display: plugin.display_name(),
            url: webhook_url(base, plugin.name()),
            verification: Verification::of(&status),
        });
    }
    let mut cards = Vec::new();
    for row in services.sources.list().await? {
        let plugin = sources::find(&row.source_name);
        let verification = match plugin {
            Some(_) => Verification::of(&services.ingest.signature_status(&row.source_name).await?),
            None => Verification {
                verified: false,
                scheme: None,
                status: "Not a registered source plugin: ingest refuses its webhooks.".into(),
            },
        };
        cards.push(SourceCard {
            uuid: row.uuid.to_string(),
            url: webhook_url(base, &row.source_name),
            plugin: plugin.map_or("unknown", |p| p.display_name()),
            signs: plugin.is_some_and(|p| p.signature() != SignatureScheme::None),
            stored_here: services.sources.has_webhook_secret(&row),
            display_name: row.display_name,
            source_name: row.source_name,
            active: row.is_active,
            verification,
            updated: row.updated_at.into(),
        });
    }
    Ok(SourcesPage {
        can_change: ctx.allows(Scope::Admin),
        ctx,
        sources: cards,
        plugins,
        add,
        add_errors,
        secret_errors,
        new_secret,
    })
}

/// `GET /settings/sources`.
pub async fn list(ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    Ok(render(&page(&state, ctx, AddForm::default(), FormErrors::none(), None, None).await?))
}

/// `POST /settings/sources`: adds a source integration, as `POST /v1/sources` does.
pub async fn add(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<AddForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let mut input = Map::new();
    input.insert("source_name".into(), Value::String(form.source_name.trim().to_string()));
    input.insert("display_name".into(), Value::String(form.display_name.clone()));
    match state.services().sources.save(None, input).await {
        Ok(_) => Ok(see_other("/settings/sources")),
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            Ok(render_refused(&page(&state, ctx, form, errors, None, None).await?))
        }
    }
}

/// The secret form: `generate` a new secret, `set` the one typed, or `remove` the stored one.
#[derive(Debug, Deserialize)]
pub struct SecretForm {
    #[serde(default)]
    action: String,
    #[serde(default)]
    webhook_secret: String,
}

fn source_id(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "Source integration not found.")
}

/// `POST /settings/sources/{uuid}/secret`: sets, generates or removes the signing secret (saved in
/// the integration's encrypted `auth_config`, as `PATCH /v1/sources/{uuid}` saves it). A new
/// secret is shown in this response only.
pub async fn set_secret(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<SecretForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = source_id(&raw)?;
    let secret = match form.action.as_str() {
        "generate" => Some(generate_webhook_secret()),
        "set" => Some(form.webhook_secret.clone()),
        "remove" => None,
        _ => return Err(PageError::bad_request("Choose Generate, Set or Remove.")),
    };
    let services = state.services();
    match services.sources.set_webhook_secret(uuid, secret.as_deref()).await {
        // A generated secret is shown once, here; one the admin typed is never sent back (they
        // have it, and a page is no place to repeat a credential).
        Ok(row) => match (secret, form.action.as_str()) {
            (Some(value), "generate") => {
                let shown = NewSecret { source: row.display_name, value: value.trim().to_string() };
                let page =
                    page(&state, ctx, AddForm::default(), FormErrors::none(), None, Some(shown)).await?;
                Ok(render(&page))
            }
            _ => Ok(see_other("/settings/sources")),
        },
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            let refused = Some((uuid.to_string(), errors));
            Ok(render_refused(
                &page(&state, ctx, AddForm::default(), FormErrors::none(), refused, None).await?,
            ))
        }
    }
}

/// The activate/deactivate form.
#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    is_active: String,
}

/// `POST /settings/sources/{uuid}/active`: switches an integration on or off, as
/// `PATCH /v1/sources/{uuid}` with `is_active` does (an inactive integration's secret is not used).
pub async fn set_active(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<ActiveForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let active = match form.is_active.as_str() {
        "true" => true,
        "false" => false,
        _ => return Err(PageError::bad_request("Choose Activate or Deactivate.")),
    };
    let mut input = Map::new();
    input.insert("is_active".into(), Value::Bool(active));
    state.services().sources.save(Some(source_id(&raw)?), input).await?;
    Ok(see_other("/settings/sources"))
}

/// `GET /settings/sources/{uuid}/delete`: asks once more.
pub async fn confirm_delete(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let row = state.services().sources.get(source_id(&raw)?).await?;
    let page = Confirm {
        title: "Delete source".into(),
        message:
            "Delete this source integration? Its stored signing secret goes with it; its webhook URL keeps \
                  accepting alerts, verified with the environment's secret if one is set."
                .into(),
        facts: vec![("Name", row.display_name.clone()), ("Source plugin", row.source_name.clone())],
        action: format!("/settings/sources/{}/delete", row.uuid),
        button: "Delete the source",
        back: "/settings/sources",
        ctx,
    };
    Ok(render(&page))
}

/// `POST /settings/sources/{uuid}/delete`: deletes, as `DELETE /v1/sources/{uuid}` does.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form: _ }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    state.services().sources.delete(source_id(&raw)?).await?;
    Ok(see_other("/settings/sources"))
}
