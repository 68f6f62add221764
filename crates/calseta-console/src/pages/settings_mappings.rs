//! `/settings/mappings`: the indicator field mappings — the seeded system mappings, custom ones
//! and the fields each source plugin extracts itself — each with its source, field path,
//! indicator type, whether it is active and the extraction pass that reads it; forms to create,
//! edit, switch on or off and delete custom mappings; and the **dry run**: a pasted payload read
//! as a source reads it, listing every indicator with the field and the pass it came from.
//!
//! Everything goes through the mapping service REST's `/v1/indicator-mappings` uses, with the
//! `admin` scope REST needs, so a refusal is REST's refusal, shown next to its field. Field paths,
//! descriptions and pasted payloads are anyone's text: escaped only.

use askama::Template;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use calseta_core::extraction::{ExtractionPass, TARGETS};
use calseta_core::indicators::IndicatorType;
use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::records::{MappingChanges, MappingFilter, MappingRow};
use calseta_services::resources::mappings::{DryRun, MappingInput, MappingService};
use serde::Deserialize;
use uuid::Uuid;

use super::forms::{FormErrors, render_refused};
use super::listing::{Filters, Pager};
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// Mappings per page.
const PAGE_SIZE: u32 = 50;
/// Where the page lives.
const PATH: &str = "/settings/mappings";

/// The pass that reads a mapping of `target` (`source_plugin` for the plugins' own fields).
fn pass_of(target: &str) -> ExtractionPass {
    match target {
        "normalized" => ExtractionPass::NormalizedMappings,
        "raw_payload" => ExtractionPass::RawPayloadMappings,
        "free_text" => ExtractionPass::FreeText,
        _ => ExtractionPass::SourcePlugin,
    }
}

/// The pass's number and name, e.g. `2 · Normalized Mappings`.
fn pass_text(pass: ExtractionPass) -> String {
    let number = match pass {
        ExtractionPass::SourcePlugin => "1",
        ExtractionPass::NormalizedMappings => "2",
        ExtractionPass::RawPayloadMappings => "3",
        ExtractionPass::FreeText => "4",
        ExtractionPass::Manual => "—",
    };
    format!("{number} · {}", pass.label())
}

/// One mapping as the page lists it.
struct Mapping {
    uuid: String,
    source: String,
    field_path: String,
    indicator_type: String,
    target: String,
    pass: String,
    active: bool,
    system: bool,
    description: String,
}

impl From<MappingRow> for Mapping {
    fn from(row: MappingRow) -> Self {
        Mapping {
            uuid: row.uuid.to_string(),
            source: row.source_name.unwrap_or_else(|| "every source".into()),
            pass: pass_text(pass_of(&row.extraction_target)),
            field_path: row.field_path,
            indicator_type: row.indicator_type,
            target: row.extraction_target,
            active: row.is_active,
            system: row.is_system,
            description: row.description.unwrap_or_default(),
        }
    }
}

/// What the create form holds (as typed, when refused).
#[derive(Debug, Clone, Deserialize)]
pub struct CreateForm {
    /// A registered source, or empty for every source.
    #[serde(default)]
    source_name: String,
    #[serde(default)]
    field_path: String,
    #[serde(default)]
    indicator_type: String,
    #[serde(default)]
    extraction_target: String,
    /// Present when ticked.
    #[serde(default)]
    is_active: Option<String>,
    #[serde(default)]
    description: String,
}

impl Default for CreateForm {
    fn default() -> Self {
        CreateForm {
            source_name: String::new(),
            field_path: String::new(),
            indicator_type: "ip".into(),
            extraction_target: "raw_payload".into(),
            is_active: Some("on".into()),
            description: String::new(),
        }
    }
}

/// The dry run's form.
#[derive(Debug, Clone, Deserialize)]
pub struct DryRunForm {
    #[serde(default)]
    source_name: String,
    /// The pasted payload, JSON.
    #[serde(default)]
    raw_payload: String,
}

impl Default for DryRunForm {
    /// The generic webhook first: the source a hand-written payload most likely is.
    fn default() -> Self {
        DryRunForm { source_name: "generic".into(), raw_payload: String::new() }
    }
}

/// One indicator the dry run found.
struct Found {
    kind: String,
    value: String,
    field: String,
    pass: String,
    /// The decoder that revealed it inside a wrapped field (`cef`, `powershell-base64`, …).
    decoder: Option<&'static str>,
}

/// One pass of the dry run.
struct PassShown {
    label: String,
    found: usize,
    rejected: Vec<(String, String, String, String)>,
    error: Option<String>,
}

/// What the dry run found, shown under its form.
struct DryRunShown {
    source_name: String,
    indicators: Vec<Found>,
    passes: Vec<PassShown>,
    duration: String,
}

impl From<DryRun> for DryRunShown {
    fn from(run: DryRun) -> Self {
        DryRunShown {
            source_name: run.source_name,
            indicators: run
                .extraction
                .indicators
                .into_iter()
                .map(|i| Found {
                    kind: i.kind.as_str().to_string(),
                    value: i.value,
                    field: i.source_field,
                    pass: pass_text(i.pass),
                    decoder: i.decoder.map(|d| d.as_str()),
                })
                .collect(),
            passes: run
                .extraction
                .passes
                .into_iter()
                .map(|p| PassShown {
                    label: p.pass_label.to_string(),
                    found: p.indicators.len(),
                    rejected: p
                        .rejected
                        .into_iter()
                        .map(|r| (r.kind.as_str().to_string(), r.value, r.source_field, r.reason))
                        .collect(),
                    error: p.error,
                })
                .collect(),
            duration: format!("{:.1} ms", run.duration_ms),
        }
    }
}

#[derive(Template)]
#[template(path = "settings_mappings.html")]
struct MappingsPage {
    ctx: PageContext,
    mappings: Vec<Mapping>,
    pager: Pager,
    plugin_fields: Vec<Mapping>,
    sources: Vec<&'static str>,
    types: Vec<&'static str>,
    targets: Vec<&'static str>,
    create: CreateForm,
    create_errors: FormErrors,
    list_errors: FormErrors,
    dry: DryRunForm,
    dry_errors: FormErrors,
    dry_result: Option<DryRunShown>,
}

/// What differs between renderings of the page: the forms as typed, their refusals, the dry run.
#[derive(Default)]
struct PageState {
    page: u32,
    create: CreateForm,
    create_errors: FormErrors,
    list_errors: FormErrors,
    dry: DryRunForm,
    dry_errors: FormErrors,
    dry_result: Option<DryRunShown>,
}

async fn mappings_page(
    state: &ConsoleState,
    ctx: PageContext,
    shown: PageState,
) -> Result<MappingsPage, PageError> {
    let page = PageRequest { page: shown.page.max(1), page_size: PAGE_SIZE };
    let (rows, total) =
        state.services().mappings.list(&MappingFilter::default(), page.limit(), page.offset()).await?;
    let plugin_fields = MappingService::source_plugin_fields()
        .into_iter()
        .map(|(source, f)| Mapping {
            uuid: String::new(),
            source: source.to_string(),
            field_path: f.field_path.to_string(),
            indicator_type: f.indicator_type.as_str().to_string(),
            target: "source_plugin".into(),
            pass: pass_text(ExtractionPass::SourcePlugin),
            active: true,
            system: true,
            description: f.description.to_string(),
        })
        .collect();
    Ok(MappingsPage {
        ctx,
        mappings: rows.into_iter().map(Mapping::from).collect(),
        pager: Pager::new(PATH, &Filters::default(), page, total),
        plugin_fields,
        sources: MappingService::source_names(),
        types: IndicatorType::names().to_vec(),
        targets: TARGETS.to_vec(),
        create: shown.create,
        create_errors: shown.create_errors,
        list_errors: shown.list_errors,
        dry: shown.dry,
        dry_errors: shown.dry_errors,
        dry_result: shown.dry_result,
    })
}

/// `GET /settings/mappings[?page=N]`: the mappings, the plugins' fields, the forms.
pub async fn index(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    RawQuery(raw): RawQuery,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let page = Filters::from_query(raw.as_deref()).value("page").parse().unwrap_or(1);
    Ok(render(&mappings_page(&state, ctx, PageState { page, ..PageState::default() }).await?))
}

/// `POST /settings/mappings`: creates a custom mapping, or shows the form again with REST's
/// refusal next to each field.
pub async fn create(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<CreateForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let description = form.description.trim();
    let input = MappingInput {
        source_name: Some(form.source_name.clone()).filter(|s| !s.is_empty()),
        field_path: form.field_path.clone(),
        indicator_type: form.indicator_type.clone(),
        extraction_target: form.extraction_target.clone(),
        is_active: form.is_active.is_some(),
        description: (!description.is_empty()).then(|| description.to_string()),
    };
    match state.services().mappings.create(input).await {
        Ok(_) => Ok(see_other(&format!("{PATH}#custom"))),
        Err(e) => {
            let shown = PageState {
                create: form,
                create_errors: FormErrors::from_service(e)?,
                ..PageState::default()
            };
            Ok(render_refused(&mappings_page(&state, ctx, shown).await?))
        }
    }
}

/// The dry run: `POST /settings/mappings/test-extraction` shows what the payload yields, or
/// REST's refusal next to the source or the payload.
pub async fn dry_run(
    State(state): State<ConsoleState>,
    SignedForm { ctx, form }: SignedForm<DryRunForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let outcome = match MappingService::parse_payload(&form.raw_payload, "raw_payload") {
        Ok(raw) => state.services().mappings.dry_run(&form.source_name, &raw).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(run) => {
            let shown = PageState { dry: form, dry_result: Some(run.into()), ..PageState::default() };
            Ok(render(&mappings_page(&state, ctx, shown).await?))
        }
        Err(e) => {
            let dry_errors = dry_run_errors(e)?;
            let shown = PageState { dry: form, dry_errors, ..PageState::default() };
            Ok(render_refused(&mappings_page(&state, ctx, shown).await?))
        }
    }
}

/// The dry run's refusals next to the field they are about: an unknown source by the source, a
/// payload the source cannot read by the payload (REST's message and code).
fn dry_run_errors(error: ServiceError) -> Result<FormErrors, PageError> {
    let field = match &error {
        ServiceError::Unprocessable { code: "UNKNOWN_SOURCE", .. } => "source_name",
        ServiceError::Unprocessable { code: "INVALID_PAYLOAD", .. } => "raw_payload",
        _ => return FormErrors::from_service(error),
    };
    let mut errors = FormErrors::none();
    if let ServiceError::Unprocessable { code, message } = error {
        errors.add(field, format!("{message} ({code})"));
    }
    Ok(errors)
}

fn parse_uuid(raw: &str) -> Result<Uuid, PageError> {
    path_uuid(raw, "Indicator mapping not found.")
}

/// What the edit form holds.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct EditForm {
    /// Absent for system mappings (their path is fixed).
    #[serde(default)]
    field_path: Option<String>,
    #[serde(default)]
    indicator_type: String,
    #[serde(default)]
    is_active: Option<String>,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "settings_mapping_edit.html")]
struct EditPage {
    ctx: PageContext,
    mapping: Mapping,
    form: EditForm,
    types: Vec<&'static str>,
    errors: FormErrors,
}

/// `GET /settings/mappings/{uuid}`: one mapping's edit form.
pub async fn edit(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let row = state.services().mappings.get(parse_uuid(&raw)?).await?;
    let form = EditForm {
        field_path: (!row.is_system).then(|| row.field_path.clone()),
        indicator_type: row.indicator_type.clone(),
        is_active: row.is_active.then(|| "on".into()),
        description: row.description.clone().unwrap_or_default(),
    };
    let page = EditPage {
        ctx,
        mapping: row.into(),
        form,
        types: IndicatorType::names().to_vec(),
        errors: FormErrors::none(),
    };
    Ok(render(&page))
}

/// `POST /settings/mappings/{uuid}`: saves the edit (REST's `PATCH`), or shows the form again with
/// the refusal next to its field.
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<EditForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let description = form.description.trim();
    let changes = MappingChanges {
        field_path: form.field_path.clone(),
        indicator_type: Some(form.indicator_type.clone()),
        is_active: Some(form.is_active.is_some()),
        description: Some((!description.is_empty()).then(|| description.to_string())),
    };
    let services = state.services();
    match services.mappings.patch(uuid, changes).await {
        Ok(_) => Ok(see_other(&format!("{PATH}#custom"))),
        Err(e) => {
            let errors = FormErrors::from_service(e)?;
            let row = services.mappings.get(uuid).await?;
            let page =
                EditPage { ctx, mapping: row.into(), form, types: IndicatorType::names().to_vec(), errors };
            Ok(render_refused(&page))
        }
    }
}

/// The switch: `active=true` or `false`.
#[derive(Debug, Deserialize)]
pub struct ActiveForm {
    #[serde(default)]
    active: String,
}

/// `POST /settings/mappings/{uuid}/active`: switches a mapping (system ones too) on or off.
pub async fn set_active(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, form }: SignedForm<ActiveForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    let changes = MappingChanges { is_active: Some(form.active == "true"), ..MappingChanges::default() };
    match state.services().mappings.patch(uuid, changes).await {
        Ok(_) => Ok(see_other(PATH)),
        Err(e) => refused_on_list(&state, ctx, e).await,
    }
}

/// `POST /settings/mappings/{uuid}/delete`: deletes a custom mapping; a system mapping is refused
/// as REST refuses it, above the list.
pub async fn delete(
    State(state): State<ConsoleState>,
    Path(raw): Path<String>,
    SignedForm { ctx, .. }: SignedForm<super::alert_detail::EmptyForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::Admin)?;
    let uuid = parse_uuid(&raw)?;
    match state.services().mappings.delete(uuid).await {
        Ok(()) => Ok(see_other(&format!("{PATH}#custom"))),
        Err(e) => refused_on_list(&state, ctx, e).await,
    }
}

async fn refused_on_list(
    state: &ConsoleState,
    ctx: PageContext,
    error: ServiceError,
) -> Result<Response, PageError> {
    let shown = PageState { list_errors: FormErrors::from_service(error)?, ..PageState::default() };
    Ok(render_refused(&mappings_page(state, ctx, shown).await?).into_response())
}
