//! The alert page's indicator part: each indicator's verdict with the provider and malice rule
//! that decided it, where extraction found it, and every provider's result; and the indicator and
//! tag actions — an analyst's verdict with a reason, adding indicators, adding and removing tags —
//! as CSRF-checked POST forms that answer `303` back to the alert's page.
//!
//! Everything shown here came from the alert or a provider's answer: askama escapes it.

use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::alerts::Malice;
use calseta_core::enrichment::{IndicatorResults, ProviderResult, ResultStatus};
use calseta_core::indicators::{IndicatorType, MaliceSource};
use calseta_core::scopes::Scope;
use calseta_services::audit::Actor;
use calseta_services::resources::alerts::AlertPatch;
use calseta_services::resources::indicators::MaliceChange;
use calseta_services::views::alert_context::AlertWithContext;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::PageError;
use super::alert_shared::{back_to, malice_class, parse_uuid, refusal, text_of};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// The most tags one form adds.
const MAX_TAGS_ADDED: usize = 50;

/// One provider's result for an indicator.
pub(super) struct ProviderView {
    pub name: String,
    pub status: &'static str,
    pub note: Option<String>,
    pub cache_hit: bool,
    /// The provider's own verdict (`extracted.malice`) when it answered.
    pub malice: Option<String>,
    /// The malice rule that decided it, when recorded.
    pub rule: Option<String>,
    /// Whether this provider's verdict is the indicator's.
    pub deciding: bool,
    pub fields: Vec<(String, String)>,
    pub raw: Option<String>,
}

/// One indicator with its verdict, origin and results.
pub(super) struct IndicatorView {
    pub uuid: String,
    pub kind: String,
    pub value: String,
    pub malice: &'static str,
    pub malice_class: &'static str,
    /// Who decided the verdict, in words: the analyst, or a provider and its rule.
    pub decided_by: String,
    /// The field path extraction found it at.
    pub origin_field: Option<String>,
    /// The extraction pass that found it.
    pub origin_pass: Option<&'static str>,
    /// The decoder that revealed it inside an encoded or wrapped field (`cef`, `powershell-base64`).
    pub origin_decoder: Option<String>,
    pub providers: Vec<ProviderView>,
}

/// How the page names who decided a verdict the providers gave.
fn provider_decision(result: &ProviderResult) -> String {
    match &result.malice_rule {
        Some(rule) => format!("{} ({})", result.provider_name, rule.describe()),
        None => result.provider_name.clone(),
    }
}

fn provider_view(result: ProviderResult, deciding: Option<&str>) -> ProviderView {
    let note = match &result.status {
        ResultStatus::Success => None,
        other => other.error_message().or_else(|| other.skip_reason()),
    };
    let fields = result
        .extracted
        .as_ref()
        .map(|map| map.iter().map(|(k, v)| (k.clone(), text_of(v))).collect())
        .unwrap_or_default();
    let raw = match &result.raw {
        Value::Null => None,
        Value::Object(map) if map.is_empty() => None,
        other => serde_json::to_string_pretty(other).ok(),
    };
    ProviderView {
        deciding: deciding == Some(result.provider_name.as_str()),
        status: result.status.wire(),
        note,
        cache_hit: result.cache_hit,
        malice: result.malice().map(str::to_string),
        rule: result.malice_rule.as_ref().map(|r| r.describe()),
        fields,
        raw,
        name: result.provider_name,
    }
}

/// Each indicator of the alert with its verdict, origin and every provider's result.
pub(super) fn indicator_views(context: &AlertWithContext) -> Vec<IndicatorView> {
    context
        .detail
        .indicators
        .iter()
        .map(|indicator| {
            let results = IndicatorResults::from_json(indicator.enrichment_results.as_ref().map(|j| &j.0));
            let deciding = results.deciding_provider().map(|r| r.provider_name.clone());
            let decided_by = match indicator.malice_source {
                MaliceSource::Analyst => "an analyst's verdict".to_string(),
                MaliceSource::Enrichment => match results.deciding_provider() {
                    Some(result) if indicator.malice != Malice::Pending => provider_decision(result),
                    _ => "no provider verdict yet".to_string(),
                },
            };
            let origin = context.origin_of(indicator.id);
            IndicatorView {
                uuid: indicator.uuid.to_string(),
                kind: indicator.kind.to_string(),
                value: indicator.value.clone(),
                malice: indicator.malice.as_str(),
                malice_class: malice_class(indicator.malice),
                decided_by,
                origin_field: origin.and_then(|o| o.origin_field.clone()),
                origin_pass: origin.and_then(|o| o.origin_pass.0).map(|p| p.label()),
                origin_decoder: origin.and_then(|o| o.origin_decoder.clone()),
                providers: results.0.into_values().map(|r| provider_view(r, deciding.as_deref())).collect(),
            }
        })
        .collect()
}

/// Which indicator (and who for it) decided the alert's verdict, when no analyst set the alert's.
pub(super) fn alert_decided_by(context: &AlertWithContext, indicators: &[IndicatorView]) -> Option<String> {
    let detail = &context.detail;
    if detail.alert.malice_override.is_some() {
        return None;
    }
    let malice = detail.malice();
    if malice == Malice::Pending {
        return None;
    }
    let (row, view) = detail.indicators.iter().zip(indicators).find(|(row, _)| row.malice == malice)?;
    Some(format!("{} {} — {}", view.kind, row.value, view.decided_by))
}

/// The verdict form: a verdict (or `reset`, back to the providers') and why.
#[derive(Debug, Deserialize)]
pub struct MaliceForm {
    /// The indicator's uuid.
    #[serde(default)]
    indicator: String,
    /// `Pending`, `Benign`, `Suspicious`, `Malicious`, or `reset`.
    #[serde(default)]
    malice: String,
    /// Why the analyst decided so.
    #[serde(default)]
    reason: String,
}

/// The form's word for "back to the providers' verdict".
const RESET: &str = "reset";

/// `POST /alerts/{uuid}/indicators/malice`: the analyst's verdict on one of the alert's
/// indicators with a reason, as REST's `PATCH /v1/indicators/{uuid}` (same scope), the reason kept
/// in the activity event filed under this alert.
pub async fn set_malice(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<MaliceForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let indicator = Uuid::parse_str(form.indicator.trim())
        .map_err(|_| PageError::bad_request("The indicator in the form is not a valid id."))?;
    let verdict = match form.malice.trim() {
        RESET => None,
        other => {
            Some(Malice::parse(other).map_err(|_| PageError::bad_request("Choose a verdict, or reset it."))?)
        }
    };
    if form.reason.trim().is_empty() {
        return Err(PageError::bad_request("Say why: a verdict change needs a reason."));
    }
    let change = MaliceChange { verdict, reason: Some(form.reason), alert: Some(uuid) };
    state
        .services()
        .indicators
        .change_malice(indicator, change, &Actor::console(ctx.key()))
        .await
        .map_err(refusal)?;
    Ok(back_to(uuid, "indicators"))
}

/// The add-indicator form.
#[derive(Debug, Deserialize)]
pub struct AddIndicatorForm {
    /// One of the indicator types.
    #[serde(default)]
    kind: String,
    /// The value (normalized as its type).
    #[serde(default)]
    value: String,
}

/// `POST /alerts/{uuid}/indicators`: adds one indicator and queues enrichment, as REST's
/// `POST /v1/alerts/{uuid}/indicators` does.
pub async fn add_indicator(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<AddIndicatorForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let items = [(form.kind.trim().to_string(), form.value.trim().to_string())];
    state
        .services()
        .alerts
        .add_indicators(uuid, &items, true, &Actor::console(ctx.key()))
        .await
        .map_err(refusal)?;
    Ok(back_to(uuid, "indicators"))
}

/// `POST /alerts/{uuid}/tags`: adds the comma-separated tags in `add` and removes every `remove`
/// (repeated), through the same change as REST's `PATCH /v1/alerts/{uuid}` with `tags`.
pub async fn change_tags(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    signed: SignedForm<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let SignedForm { ctx, form } = signed;
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let removed: Vec<&str> = form.iter().filter(|(k, _)| k == "remove").map(|(_, v)| v.as_str()).collect();
    let added: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "add")
        .flat_map(|(_, v)| v.split(','))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    if added.len() > MAX_TAGS_ADDED {
        return Err(PageError::bad_request(format!("Add at most {MAX_TAGS_ADDED} tags at a time.")));
    }
    let alerts = &state.services().alerts;
    let current = alerts.detail(uuid).await.map_err(refusal)?.alert.tags.0;
    let mut tags: Vec<String> = current.into_iter().filter(|t| !removed.contains(&t.as_str())).collect();
    for tag in added {
        if !tags.contains(&tag) {
            tags.push(tag);
        }
    }
    let patch = AlertPatch { tags: Some(tags), ..AlertPatch::default() };
    alerts.patch(uuid, patch, &Actor::console(ctx.key())).await.map_err(refusal)?;
    Ok(back_to(uuid, "tags"))
}

/// The indicator types the add form offers.
pub(super) fn indicator_types() -> &'static [IndicatorType] {
    IndicatorType::ALL
}
