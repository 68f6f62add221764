//! `/settings/api-keys`: every API key (revoked ones too) with its prefix, type, scopes, allowed
//! sources, expiry and last use; a form that issues a key — shown once, with a copy button, in
//! the response to the form and never again —; a page to change a key's scopes and allowed
//! sources; and revocation behind a confirmation page. All of it is REST's `/v1/api-keys` use
//! cases through the same service with the same `admin` scope, so a refusal (an unknown scope, an
//! expiry in the past) is REST's refusal, shown next to its field.
//!
//! Key names were typed by whoever holds an admin key: escaped text only.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::api_keys::KeyType;
use calseta_core::pagination::{MAX_PAGE_SIZE, PageRequest};
use calseta_core::scopes::Scope;
use calseta_core::sources;
use calseta_services::resources::api_keys::{ApiKey, KeyPatch, NewKeyRequest};
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::listing::Shown;
use super::settings::Confirm;
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// One key as the list shows it (never its secret: only the prefix is stored in the clear).
struct KeyRow {
    uuid: String,
    name: String,
    prefix: String,
    key_type: &'static str,
    scopes: Vec<String>,
    /// `None`: any source.
    sources: Option<Vec<String>>,
    expires: Option<Shown>,
    expired: bool,
    last_used: Option<Shown>,
    created: Shown,
    active: bool,
    system: bool,
    /// The signed-in key itself.
    own: bool,
}

impl KeyRow {
    fn of(key: ApiKey, ctx: &PageContext) -> Self {
        let now = calseta_services::records::now();
        KeyRow {
            own: key.uuid == ctx.key().uuid,
            uuid: key.uuid.to_string(),
            name: key.name,
            prefix: key.key_prefix,
            key_type: match key.key_type {
                KeyType::Agent => "agent",
                KeyType::Human => "human",
            },
            scopes: key.scopes,
            sources: key.allowed_sources,
            expired: key.expires_at.is_some_and(|at| at <= now),
            expires: key.expires_at.map(Shown::from),
            last_used: key.last_used_at.map(Shown::from),
            created: key.created_at.into(),
            active: key.is_active,
            system: key.is_system,
        }
    }
}

/// What the create and edit forms hold, as typed.
#[derive(Debug, Clone, Default)]
struct KeyForm {
    name: String,
    key_type: String,
    scopes: Vec<String>,
    sources: Vec<String>,
    expires_at: String,
}

impl KeyForm {
    fn read(fields: &[(String, String)]) -> Self {
        let mut form = KeyForm { key_type: "human".into(), ..KeyForm::default() };
        for (name, value) in fields {
            match name.as_str() {
                "name" => form.name = value.clone(),
                "key_type" => form.key_type = value.clone(),
                "scopes" => form.scopes.push(value.clone()),
                "allowed_sources" => form.sources.push(value.clone()),
                "expires_at" => form.expires_at = value.trim().to_string(),
                _ => {}
            }
        }
        form
    }

    fn has_scope(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s == scope)
    }

    fn has_source(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s == source)
    }

    /// The sources the form offers: the registered source plugins, then any other name the key
    /// already carries (REST accepts any name; unchecking it removes it).
    fn offered_sources(&self) -> Vec<String> {
        let mut offered: Vec<String> = sources::registry().iter().map(|s| s.name().to_string()).collect();
        for source in &self.sources {
            if !offered.contains(source) {
                offered.push(source.clone());
            }
        }
        offered
    }
}

/// A key issued by this request: its plain text, shown in this response only.
struct Issued {
    plain: String,
    name: String,
    prefix: String,
}

#[derive(Template)]
#[template(path = "settings_api_keys.html")]
struct KeysPage {
    ctx: PageContext,
    keys: Vec<KeyRow>,
    total: i64,
    form: KeyForm,
    errors: FormErrors,
    issued: Option<Issued>,
    all_scopes: Vec<&'static str>,
}

#[derive(Template)]
#[template(path = "settings_api_key.html")]
struct EditPage {
    ctx: PageContext,
    key: KeyRow,
    form: KeyForm,
    errors: FormErrors,
    all_scopes: Vec<&'static str>,
}

fn all_scopes() -> Vec<&'static str> {
    Scope::ALL.iter().map(|s| s.as_str()).collect()
}

/// The keys, newest first (the first 500; REST pages through the rest).
async fn keys_page(
    state: &ConsoleState,
    ctx: PageContext,
    form: KeyForm,
    errors: FormErrors,
    issued: Option<Issued>,
) -> Result<KeysPage, PageError> {
    let (keys, total) =
        state.services().keys.list(false, PageRequest { page: 1, page_size: MAX_PAGE_SIZE }).await?;
    let keys = keys.into_iter().map(|k| KeyRow::of(k, &ctx)).collect();
    Ok(KeysPage { ctx, keys, total, form, errors, issued, all_scopes: all_scopes() })
}

/// `GET /settings/api-keys`: the keys and the create form.
pub async fn list(ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let form = KeyForm { key_type: "human".into(), ..KeyForm::default() };
    Ok(render(&keys_page(&state, ctx, form, FormErrors::none(), None).await?))
}

/// `POST /settings/api-keys`: issues a key and shows it once — in this response; the page the
/// browser loads next lists only its prefix.
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let form = KeyForm::read(&form);
    // The expiry is read as REST reads `expires_at` (any timestamp shape; without an offset, UTC),
    // refused in REST's words.
    let expires_at = if form.expires_at.is_empty() {
        Ok(None)
    } else {
        calseta_core::time::parse_timestamp_field(&form.expires_at).map(Some)
    };
    let expires_at = match expires_at {
        Ok(at) => at,
        Err(message) => {
            let mut errors = FormErrors::none();
            errors.add("expires_at", message);
            return Ok(render_refused(&keys_page(&state, ctx, form, errors, None).await?));
        }
    };
    let request = NewKeyRequest {
        name: form.name.clone(),
        scopes: form.scopes.clone(),
        key_type: Some(form.key_type.clone()).filter(|t| !t.is_empty()),
        allowed_sources: Some(form.sources.clone()),
        expires_at,
    };
    match state.services().keys.issue(request).await {
        Ok(issued) => {
            let issued = Issued { plain: issued.plain, name: issued.key.name, prefix: issued.key.key_prefix };
            let fresh = KeyForm { key_type: "human".into(), ..KeyForm::default() };
            // The key is in this response only (every console response is `no-store`).
            Ok(render(&keys_page(&state, ctx, fresh, FormErrors::none(), Some(issued)).await?))
        }
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            Ok(render_refused(&keys_page(&state, ctx, form, errors, None).await?))
        }
    }
}

fn key_id(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "API key not found.")
}

/// `GET /settings/api-keys/{uuid}`: the key with the form that changes its scopes and sources.
pub async fn edit(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let key = state.services().keys.get(key_id(&raw)?).await?;
    let form = KeyForm {
        scopes: key.scopes.clone(),
        sources: key.allowed_sources.clone().unwrap_or_default(),
        ..KeyForm::default()
    };
    let key = KeyRow::of(key, &ctx);
    Ok(render(&EditPage { ctx, key, form, errors: FormErrors::none(), all_scopes: all_scopes() }))
}

/// `POST /settings/api-keys/{uuid}`: replaces the scopes and the allowed sources (none checked:
/// any source), as `PATCH /v1/api-keys/{uuid}` does.
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = key_id(&raw)?;
    let form = KeyForm::read(&form);
    let allowed = Some(form.sources.clone()).filter(|s| !s.is_empty());
    let patch =
        KeyPatch { scopes: Some(form.scopes.clone()), allowed_sources: Some(allowed), is_active: None };
    match state.services().keys.patch(uuid, patch).await {
        Ok(_) => Ok(see_other("/settings/api-keys")),
        Err(error) => {
            let errors = FormErrors::from_service(error)?;
            let key = KeyRow::of(state.services().keys.get(uuid).await?, &ctx);
            Ok(render_refused(&EditPage { ctx, key, form, errors, all_scopes: all_scopes() }))
        }
    }
}

/// `GET /settings/api-keys/{uuid}/revoke`: asks once more.
pub async fn confirm_revoke(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let key = state.services().keys.get(key_id(&raw)?).await?;
    if !key.is_active {
        return Err(PageError::conflict("This API key is already revoked."));
    }
    let own = key.uuid == ctx.key().uuid;
    let message = if own {
        "Revoke the key you are signed in with? It stops working at once everywhere, and this session ends."
    } else {
        "Revoke this API key? It stops working at once for REST, MCP, ingest and the console. This cannot be undone here."
    };
    let page = Confirm {
        title: "Revoke API key".into(),
        message: message.into(),
        facts: vec![
            ("Name", key.name.clone()),
            ("Prefix", key.key_prefix.clone()),
            ("Scopes", key.scopes.join(", ")),
        ],
        action: format!("/settings/api-keys/{}/revoke", key.uuid),
        button: "Revoke the key",
        back: "/settings/api-keys",
        ctx,
    };
    Ok(render(&page))
}

/// `POST /settings/api-keys/{uuid}/revoke`: revokes, as `DELETE /v1/api-keys/{uuid}` does.
pub async fn revoke(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form: _ }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    state.services().keys.revoke(key_id(&raw)?).await?;
    Ok(see_other("/settings/api-keys"))
}
