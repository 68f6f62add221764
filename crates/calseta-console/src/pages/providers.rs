//! `/providers…`: the enrichment providers — the list with each one's state and how its lookups
//! went (indicators holding its successful and failed results, its entries in the shared cache),
//! a provider's page with the builder for its HTTP steps and malice rules, its field extractions,
//! activation, clearing its cache, and the live test against one indicator.
//!
//! Every action calls the service REST's `/v1/enrichment-providers` and
//! `/v1/enrichment-field-extractions` call, with the same scopes (`enrichments:read` to read,
//! `admin` to change or test), so a refusal is REST's refusal, shown next to the field it names.
//! Credentials are write-only: the page says whether they are set, never what they are, and the
//! live test shows them masked as the service masks them. Names, descriptions and provider
//! answers were written by someone else: escaped text only.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::records::{
    ExtractionChanges, ExtractionFilter, ExtractionRow, NewExtraction, ProviderRow,
};
use calseta_services::resources::field_extractions::VALUE_TYPES;
use calseta_services::resources::providers::ProviderUsage;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::provider_form::{self, Action, ProviderDraft, TestForm};
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

pub(super) fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "There is no enrichment provider with this id.")
}

/// A provider's state as the list and its page show it.
pub(super) struct Summary {
    pub(super) uuid: String,
    pub(super) provider_name: String,
    pub(super) display_name: String,
    pub(super) description: String,
    pub(super) builtin: bool,
    pub(super) active: bool,
    pub(super) configured: bool,
    /// Stored credentials (the environment may still supply some: `usable`).
    pub(super) credentials_set: bool,
    /// Credentials available from storage or the environment, or none needed.
    pub(super) usable: bool,
    pub(super) auth_type: String,
    pub(super) types: String,
    pub(super) usage: ProviderUsage,
}

pub(super) fn summary(state: &ConsoleState, row: &ProviderRow, usage: ProviderUsage) -> Summary {
    let providers = &state.services().providers;
    Summary {
        uuid: row.uuid.to_string(),
        provider_name: row.provider_name.clone(),
        display_name: row.display_name.clone(),
        description: row.description.clone().unwrap_or_default(),
        builtin: row.is_builtin,
        active: row.is_active,
        configured: providers.is_configured(row),
        credentials_set: row.auth_config.is_some(),
        usable: providers.has_credentials(row),
        auth_type: row.auth_type.clone(),
        types: row.supported_indicator_types.0.join(", "),
        usage,
    }
}

#[derive(Template)]
#[template(path = "providers.html")]
struct ListPage {
    ctx: PageContext,
    providers: Vec<Summary>,
    can_admin: bool,
    /// The provider just deleted, if any.
    deleted: Option<String>,
}

/// `?deleted=<name>` after a deletion.
#[derive(Debug, Default, Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    deleted: Option<String>,
}

/// `GET /providers`: every provider with its state and how its lookups went (`enrichments:read`).
pub async fn list(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Query(query): Query<ListQuery>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::EnrichmentsRead)?;
    let service = &state.services().providers;
    let rows = service.list(None, None).await?;
    let mut usage = service.usage().await?;
    let providers = rows
        .iter()
        .map(|row| summary(&state, row, usage.remove(&row.provider_name).unwrap_or_default()))
        .collect();
    Ok(render(&ListPage { can_admin: ctx.allows(Scope::Admin), ctx, providers, deleted: query.deleted }))
}

/// One field extraction as the provider's page lists it.
struct Extraction {
    uuid: String,
    indicator_type: String,
    source_path: String,
    target_key: String,
    value_type: String,
    system: bool,
    active: bool,
    description: String,
}

impl From<ExtractionRow> for Extraction {
    fn from(r: ExtractionRow) -> Self {
        Extraction {
            uuid: r.uuid.to_string(),
            indicator_type: r.indicator_type,
            source_path: r.source_path,
            target_key: r.target_key,
            value_type: r.value_type,
            system: r.is_system,
            active: r.is_active,
            description: r.description.unwrap_or_default(),
        }
    }
}

/// The add-extraction form as typed.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ExtractionForm {
    #[serde(default)]
    indicator_type: String,
    #[serde(default)]
    source_path: String,
    #[serde(default)]
    target_key: String,
    #[serde(default)]
    value_type: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "provider.html")]
struct ProviderPage {
    ctx: PageContext,
    /// `None` on `/providers/new`.
    provider: Option<Summary>,
    /// Where the builder posts.
    action: String,
    draft: ProviderDraft,
    steps: Vec<StepRow>,
    rules: Vec<RuleRow>,
    errors: FormErrors,
    /// Messages about the steps or rules as a whole (not about one field of one row).
    steps_error: Option<String>,
    rules_error: Option<String>,
    /// The stored `http_config`, pretty (builtins' steps are read-only).
    config_json: String,
    extractions: Vec<Extraction>,
    extraction: ExtractionForm,
    extraction_errors: FormErrors,
    test: TestForm,
    notice: Option<String>,
    can_admin: bool,
    /// A builtin: its name, types and steps are not editable.
    builtin: bool,
}

/// One input of a builder row: its id (the refusal's path, so REST's error names it) and the
/// refusal for it, if any.
struct Field {
    path: String,
    error: Option<String>,
}

fn field(errors: &FormErrors, path: String) -> Field {
    Field { error: errors.field(&path), path }
}

/// One choice of a select or a checkbox group.
pub(super) struct Opt {
    pub(super) value: String,
    pub(super) selected: bool,
}

pub(super) fn opts<S: AsRef<str>>(values: &[S], selected: impl Fn(&str) -> bool) -> Vec<Opt> {
    values.iter().map(|v| Opt { value: v.as_ref().to_string(), selected: selected(v.as_ref()) }).collect()
}

/// A step row of the builder.
struct StepRow {
    d: provider_form::StepDraft,
    index: usize,
    number: usize,
    name: Field,
    method: Field,
    url: Field,
    headers: Field,
    body: Field,
    timeout: Field,
    expected: Field,
    not_found: Field,
    extra: Field,
    methods: Vec<Opt>,
}

/// A malice rule row of the builder.
struct RuleRow {
    d: provider_form::RuleDraft,
    index: usize,
    number: usize,
    last: bool,
    field: Field,
    operator: Field,
    value: Field,
    verdict: Field,
    operators: Vec<Opt>,
    verdicts: Vec<Opt>,
}

fn step_rows(draft: &ProviderDraft, errors: &FormErrors) -> Vec<StepRow> {
    draft
        .steps
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = |name: &str| field(errors, format!("http_config.steps.{i}.{name}"));
            StepRow {
                d: d.clone(),
                index: i,
                number: i + 1,
                name: at("name"),
                method: at("method"),
                url: at("url"),
                headers: at("headers"),
                body: at("json_body"),
                timeout: at("timeout_seconds"),
                expected: at("expected_status"),
                not_found: at("not_found_status"),
                extra: at("extra"),
                methods: opts(&provider_form::METHODS, |m| m.eq_ignore_ascii_case(&d.method)),
            }
        })
        .collect()
}

fn rule_rows(draft: &ProviderDraft, errors: &FormErrors) -> Vec<RuleRow> {
    let count = draft.rules.len();
    draft
        .rules
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let at = |name: &str| field(errors, format!("malice_rules.rules.{i}.{name}"));
            RuleRow {
                d: d.clone(),
                index: i,
                number: i + 1,
                last: i + 1 == count,
                field: at("field"),
                operator: at("operator"),
                value: at("value"),
                verdict: at("verdict"),
                operators: opts(&provider_form::OPERATORS, |o| o == d.operator),
                verdicts: opts(&provider_form::VERDICTS, |v| v == d.verdict),
            }
        })
        .collect()
}

/// The messages for exactly `path` (not for the fields inside it).
fn exact(errors: &FormErrors, path: &str) -> Option<String> {
    let messages: Vec<&str> = errors.all_fields().filter(|(p, _)| *p == path).map(|(_, m)| m).collect();
    (!messages.is_empty()).then(|| messages.join(" "))
}

impl ProviderPage {
    fn type_opts(&self) -> Vec<Opt> {
        opts(&provider_form::indicator_types(), |t| self.draft.types.iter().any(|c| c == t))
    }

    fn default_verdicts(&self) -> Vec<Opt> {
        opts(&provider_form::VERDICTS, |v| v == self.draft.default_verdict)
    }

    fn not_found_verdicts(&self) -> Vec<Opt> {
        opts(&provider_form::VERDICTS, |v| v == self.draft.not_found_verdict)
    }

    fn test_types(&self) -> Vec<Opt> {
        opts(&provider_form::indicator_types(), |t| t == self.test.indicator_type)
    }

    fn extraction_types(&self) -> Vec<Opt> {
        opts(&provider_form::indicator_types(), |t| t == self.extraction.indicator_type)
    }

    fn value_types(&self) -> Vec<Opt> {
        let current = if self.extraction.value_type.is_empty() { "any" } else { &self.extraction.value_type };
        opts(&VALUE_TYPES, |t| t == current)
    }

    fn new(ctx: PageContext, draft: ProviderDraft, errors: FormErrors) -> Self {
        ProviderPage {
            can_admin: ctx.allows(Scope::Admin),
            ctx,
            provider: None,
            action: "/providers/new".into(),
            steps: step_rows(&draft, &errors),
            rules: rule_rows(&draft, &errors),
            draft,
            steps_error: exact(&errors, "http_config").or_else(|| exact(&errors, "http_config.steps")),
            rules_error: exact(&errors, "malice_rules").or_else(|| exact(&errors, "malice_rules.rules")),
            errors,
            config_json: String::new(),
            extractions: Vec::new(),
            extraction: ExtractionForm::default(),
            extraction_errors: FormErrors::none(),
            test: TestForm { indicator_type: "ip".into(), ..TestForm::default() },
            notice: None,
            builtin: false,
        }
    }

    async fn existing(
        state: &ConsoleState,
        ctx: PageContext,
        uuid: Uuid,
        draft: Option<ProviderDraft>,
        errors: FormErrors,
    ) -> Result<Self, PageError> {
        let service = &state.services().providers;
        let row = service.get(uuid).await?;
        let usage = service.usage().await?.remove(&row.provider_name).unwrap_or_default();
        let filter = ExtractionFilter {
            provider_name: Some(row.provider_name.clone()),
            ..ExtractionFilter::default()
        };
        let (extractions, _) = state.services().extractions.list_extractions(&filter, 0, 0).await?;
        let mut page = ProviderPage::new(ctx, draft.unwrap_or_else(|| ProviderDraft::of(&row)), errors);
        page.action = format!("/providers/{uuid}");
        page.config_json = serde_json::to_string_pretty(&row.http_config.0).unwrap_or_default();
        page.test.indicator_type =
            row.supported_indicator_types.0.first().cloned().unwrap_or_else(|| "ip".into());
        page.builtin = row.is_builtin;
        page.provider = Some(summary(state, &row, usage));
        page.extractions = extractions.into_iter().map(Extraction::from).collect();
        Ok(page)
    }
}

/// `GET /providers/new`: the builder for a new provider (`admin`).
pub async fn new_form(ctx: PageContext) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    Ok(render(&ProviderPage::new(ctx, ProviderDraft::new_provider(), FormErrors::none())))
}

/// `POST /providers/new`: a builder button (the form again with one more row, one fewer, a rule
/// moved) or Save — `POST /v1/enrichment-providers` through the same service, then `303` to the
/// provider's page; refused, the form again with the refusal beside each field (`422`).
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let (mut draft, action) = ProviderDraft::from_pairs(&form);
    if action != Action::Save {
        draft.apply(action);
        return Ok(render(&ProviderPage::new(ctx, draft, FormErrors::none())));
    }
    let body = match draft.to_body(true, false) {
        Ok(body) => body,
        Err(errors) => return Ok(render_refused(&ProviderPage::new(ctx, draft, errors))),
    };
    let input = match input_of(body) {
        Ok(input) => input,
        Err(errors) => return Ok(render_refused(&ProviderPage::new(ctx, draft, errors))),
    };
    match state.services().providers.create(input).await {
        Ok(row) => Ok(see_other(&format!("/providers/{}?saved=1", row.uuid))),
        Err(e) => {
            let errors = FormErrors::from_service(e)?;
            draft.credentials.clear();
            Ok(render_refused(&ProviderPage::new(ctx, draft, errors)))
        }
    }
}

/// The create body read as REST's `ProviderCreateRequest` is read (a field of the wrong JSON type
/// is refused at that field).
fn input_of(
    mut body: serde_json::Map<String, Value>,
) -> Result<calseta_services::resources::providers::ProviderInput, FormErrors> {
    let mut take = |k: &str| body.remove(k).unwrap_or(Value::Null);
    let text = |v: Value| v.as_str().map(str::to_string);
    let int = |v: Value| v.as_i64().and_then(|n| i32::try_from(n).ok());
    Ok(calseta_services::resources::providers::ProviderInput {
        provider_name: text(take("provider_name")).unwrap_or_default(),
        display_name: text(take("display_name")).unwrap_or_default(),
        description: text(take("description")),
        supported_indicator_types: serde_json::from_value(take("supported_indicator_types"))
            .unwrap_or_default(),
        http_config: take("http_config"),
        auth_type: text(take("auth_type")),
        auth_config: Some(take("auth_config")).filter(|c| !c.is_null()),
        default_cache_ttl_seconds: int(take("default_cache_ttl_seconds")),
        cache_ttl_by_type: None,
        malice_rules: Some(take("malice_rules")).filter(|r| !r.is_null()),
        rate_limit_per_minute: int(take("rate_limit_per_minute")),
        max_concurrency: int(take("max_concurrency")),
        allow_private_network: take("allow_private_network").as_bool(),
        private_network_hosts: serde_json::from_value(take("private_network_hosts")).ok(),
    })
}

/// `?saved=1` / `?cleared=N` / `?activated=…` after an action.
#[derive(Debug, Default, Deserialize)]
pub struct Notice {
    #[serde(default)]
    saved: Option<String>,
    #[serde(default)]
    cleared: Option<u64>,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    extraction: Option<String>,
}

impl Notice {
    fn text(&self) -> Option<String> {
        if self.saved.is_some() {
            Some("Saved.".into())
        } else if let Some(n) = self.cleared {
            Some(format!("Cache cleared: {n} cached answer{} removed.", if n == 1 { "" } else { "s" }))
        } else if let Some(state) = &self.active {
            Some(if state == "true" { "Activated.".into() } else { "Deactivated.".into() })
        } else {
            self.extraction.as_ref().map(|what| format!("Field extraction {what}."))
        }
    }
}

/// `GET /providers/{uuid}`: the provider (`enrichments:read`); with `admin` its builder, actions
/// and live test.
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    Query(notice): Query<Notice>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::EnrichmentsRead)?;
    let uuid = parse_uuid(&raw)?;
    let mut page = ProviderPage::existing(&state, ctx, uuid, None, FormErrors::none()).await?;
    page.notice = notice.text();
    Ok(render(&page))
}

/// `POST /providers/{uuid}`: a builder button, or Save — `PATCH /v1/enrichment-providers/{uuid}`
/// through the same service (a builtin sends only what a builtin may change); `303` back, or the
/// form again with the refusal beside each field (`422`).
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let service = &state.services().providers;
    let row = service.get(uuid).await?;
    let (mut draft, action) = ProviderDraft::from_pairs(&form);
    if row.is_builtin {
        // A builtin's steps, name and types are not in its form: keep showing the stored ones.
        let stored = ProviderDraft::of(&row);
        draft.provider_name = stored.provider_name;
        draft.display_name = stored.display_name;
        draft.types = stored.types;
        draft.steps = stored.steps;
        draft.auth_type = stored.auth_type;
    }
    draft.provider_name = row.provider_name.clone();
    if action != Action::Save {
        draft.apply(action);
        let page = ProviderPage::existing(&state, ctx, uuid, Some(draft), FormErrors::none()).await?;
        return Ok(render(&page));
    }
    let outcome = match draft.to_body(false, row.is_builtin) {
        Ok(body) => service.patch(uuid, body).await.map_err(FormErrors::from_service),
        Err(errors) => Err(Ok(errors)),
    };
    match outcome {
        Ok(_) => Ok(see_other(&format!("/providers/{uuid}?saved=1"))),
        Err(errors) => {
            let errors = errors?;
            draft.credentials.clear();
            let page = ProviderPage::existing(&state, ctx, uuid, Some(draft), errors).await?;
            Ok(render_refused(&page))
        }
    }
}

/// Nothing but the CSRF token.
#[derive(Debug, Deserialize)]
pub struct Empty {}

/// `POST /providers/{uuid}/activate`: as `POST /v1/enrichment-providers/{uuid}/activate` (`admin`).
pub async fn activate(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    set_active(state, raw, ctx, true).await
}

/// `POST /providers/{uuid}/deactivate`: as `POST /v1/enrichment-providers/{uuid}/deactivate`.
pub async fn deactivate(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    set_active(state, raw, ctx, false).await
}

async fn set_active(
    state: ConsoleState,
    raw: String,
    ctx: PageContext,
    active: bool,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    state.services().providers.set_active(uuid, active).await?;
    Ok(see_other(&format!("/providers/{uuid}?active={active}")))
}

/// `POST /providers/{uuid}/delete`: deletes a custom provider and its custom extractions, as
/// `DELETE /v1/enrichment-providers/{uuid}` (`admin`); a builtin is refused with REST's reason
/// (`422`), as it may only be deactivated.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let service = &state.services().providers;
    let name = service.get(uuid).await?.provider_name;
    service.delete(uuid).await.map_err(|e| match e {
        ServiceError::Refused { message, .. } => PageError::unprocessable(message),
        other => PageError::from(other),
    })?;
    Ok(see_other(&format!("/providers?deleted={}", urlencoding_component(&name))))
}

/// `name` safe in a query value (provider names are `a-z 0-9 _`; anything else is dropped).
fn urlencoding_component(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').collect()
}

/// `POST /providers/{uuid}/clear-cache`: removes the provider's answers from the shared cache, so
/// its next lookups ask it again (`admin`, as changing the provider).
pub async fn clear_cache(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<Empty>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let removed = state.services().providers.clear_cache(uuid).await?;
    Ok(see_other(&format!("/providers/{uuid}?cleared={removed}")))
}

/// `POST /providers/{uuid}/extractions`: one field extraction for this provider, as `POST
/// /v1/enrichment-field-extractions` (`admin`); refused, the page again with the refusal beside
/// each field (`422`).
pub async fn add_extraction(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<ExtractionForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let row = state.services().providers.get(uuid).await?;
    let rule = NewExtraction {
        provider_name: row.provider_name.clone(),
        indicator_type: form.indicator_type.clone(),
        source_path: form.source_path.clone(),
        target_key: form.target_key.clone(),
        value_type: if form.value_type.is_empty() { "any".into() } else { form.value_type.clone() },
        is_system: false,
        description: Some(form.description.clone()).filter(|d| !d.trim().is_empty()),
    };
    match state.services().extractions.create_extractions(vec![rule]).await {
        Ok(_) => Ok(see_other(&format!("/providers/{uuid}?extraction=added#extractions"))),
        Err(e) => {
            let errors = FormErrors::from_service(e)?;
            let mut page = ProviderPage::existing(&state, ctx, uuid, None, FormErrors::none()).await?;
            page.extraction = form;
            page.extraction_errors = errors;
            Ok(render_refused(&page))
        }
    }
}

/// The extraction a toggle or delete names.
#[derive(Debug, Deserialize)]
pub struct ExtractionAction {
    #[serde(default)]
    extraction: String,
}

/// The extraction `form` names, if it is one of this provider's.
async fn own_extraction(
    state: &ConsoleState,
    uuid: Uuid,
    form: &ExtractionAction,
) -> Result<ExtractionRow, PageError> {
    let provider = state.services().providers.get(uuid).await?;
    let id = Uuid::parse_str(form.extraction.trim())
        .map_err(|_| PageError::bad_request("The extraction in the form is not a valid id."))?;
    let extraction = state.services().extractions.get_extraction(id).await?;
    if extraction.provider_name != provider.provider_name {
        return Err(PageError::not_found("This provider has no such field extraction."));
    }
    Ok(extraction)
}

/// `POST /providers/{uuid}/extractions/toggle`: activates or deactivates one of its extractions,
/// as `PATCH /v1/enrichment-field-extractions/{uuid}` with `is_active` (`admin`).
pub async fn toggle_extraction(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<ExtractionAction>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let extraction = own_extraction(&state, uuid, &form).await?;
    let changes =
        ExtractionChanges { is_active: Some(!extraction.is_active), ..ExtractionChanges::default() };
    state
        .services()
        .extractions
        .patch_extraction(extraction.uuid, changes)
        .await
        .map_err(extraction_refusal)?;
    let what = if extraction.is_active { "deactivated" } else { "activated" };
    Ok(see_other(&format!("/providers/{uuid}?extraction={what}#extractions")))
}

/// `POST /providers/{uuid}/extractions/delete`: deletes one of its custom extractions, as `DELETE
/// /v1/enrichment-field-extractions/{uuid}` (`admin`; system extractions are refused).
pub async fn delete_extraction(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<ExtractionAction>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let extraction = own_extraction(&state, uuid, &form).await?;
    state.services().extractions.delete_extraction(extraction.uuid).await.map_err(extraction_refusal)?;
    Ok(see_other(&format!("/providers/{uuid}?extraction=deleted#extractions")))
}

fn extraction_refusal(error: ServiceError) -> PageError {
    match error {
        ServiceError::Forbidden { message, .. } => PageError::forbidden(message),
        other => PageError::from(other),
    }
}
