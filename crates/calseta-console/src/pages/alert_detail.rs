//! `/alerts/{uuid}`: the whole alert — header, indicators (built in `alert_indicators`), findings,
//! context documents and the detection rule, past alerts, the activity timeline and the raw
//! payload — read from the one read model `alerts.with_context`, and its actions (status and
//! severity, close with a classification, re-enrich, add a finding) as CSRF-checked POST forms
//! that answer `303` back to the page, recorded with the `console` actor.
//!
//! Everything an alert carries was written by whoever sent it: it is rendered only through
//! askama's escaping, never `|safe`, and the raw payload is shown as text. Findings, context
//! documents and rule documentation are Markdown: they reach the page only as the sanitized HTML
//! of [`crate::markdown`], the one value the template marks `|safe`.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::alerts::{AlertStatus, CloseClassification, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use calseta_core::pagination::PageRequest;
use calseta_core::scopes::Scope;
use calseta_core::targeting::matched_clauses;
use calseta_services::audit::Actor;
use calseta_services::resources::alerts::{AlertPatch, FindingInput};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use super::alert_indicators::{IndicatorView, alert_decided_by, indicator_types, indicator_views};
pub(super) use super::alert_shared::{back_to, malice_class, parse_uuid, refusal, severity_class, text_of};
use super::{PageContext, PageError, render};
use crate::markdown::{self, SafeHtml};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// How many activity events the page shows (newest first).
const ACTIVITY_SHOWN: u32 = 100;

/// A moment as the page shows it: machine-readable and for people.
struct Stamp {
    iso: String,
    text: String,
}

impl Stamp {
    fn of(at: DateTime<Utc>) -> Self {
        Stamp { iso: at.to_rfc3339(), text: at.format("%Y-%m-%d %H:%M:%S UTC").to_string() }
    }
}

/// One finding.
struct FindingView {
    agent_name: String,
    summary: Option<SafeHtml>,
    confidence: Option<String>,
    recommended_action: Option<String>,
    posted_at: Option<String>,
}

/// One matched context document.
struct DocumentView {
    title: String,
    document_type: String,
    is_global: bool,
    /// Why the document was chosen: "global", or the targeting clauses that hold for this alert.
    matched_by: String,
    content: Option<SafeHtml>,
}

/// The detection rule the alert fired from.
struct RuleView {
    name: String,
    documentation: Option<SafeHtml>,
    tactics: Vec<String>,
    techniques: Vec<String>,
    subtechniques: Vec<String>,
}

/// One past alert sharing indicators.
struct PastView {
    uuid: String,
    title: String,
    status: String,
    classification: Option<String>,
    occurred: Stamp,
    shared: Vec<String>,
    notes: Option<String>,
}

/// One activity event.
struct EventView {
    event_type: String,
    actor: String,
    at: Stamp,
    references: Option<String>,
}

#[derive(Template)]
#[template(path = "alert_detail.html")]
struct AlertPage {
    ctx: PageContext,
    can_write: bool,
    uuid: String,
    title: String,
    description: Option<String>,
    severity: &'static str,
    severity_class: &'static str,
    status: &'static str,
    malice: &'static str,
    malice_class: &'static str,
    malice_overridden: bool,
    /// Which indicator, provider and rule gave the alert its verdict.
    malice_decided_by: Option<String>,
    enrichment_status: &'static str,
    source: String,
    occurred: Stamp,
    ingested: Stamp,
    enriched: Option<Stamp>,
    closed: Option<Stamp>,
    duplicate_count: i32,
    classification: Option<&'static str>,
    close_notes: Option<String>,
    tags: Vec<String>,
    rule: Option<RuleView>,
    indicators: Vec<IndicatorView>,
    findings: Vec<FindingView>,
    documents: Vec<DocumentView>,
    past_alerts: Vec<PastView>,
    activity: Vec<EventView>,
    activity_total: i64,
    raw: String,
    statuses: &'static [AlertStatus],
    severities: &'static [Severity],
    classifications: &'static [CloseClassification],
    confidences: [&'static str; 3],
    indicator_types: &'static [IndicatorType],
    verdicts: &'static [Malice],
    graph: super::alert_response::GraphView,
    deliveries: super::alert_response::DeliveriesView,
    respond: super::alert_response::RespondView,
}

/// A string field of a JSON object, when present and not empty.
fn field(value: &Value, key: &str) -> Option<String> {
    value.get(key).map(text_of).filter(|s| !s.is_empty())
}

/// The source payload pretty-printed when it is JSON, else as stored.
fn pretty_raw(raw: &str) -> String {
    serde_json::from_str::<Value>(raw)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or_else(|| raw.to_string())
}

/// `GET /alerts/{uuid}`: the whole alert.
pub async fn show(
    ctx: PageContext,
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsRead)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let alerts = &state.services().alerts;
    let context = alerts.with_context(uuid).await.map_err(refusal)?;
    let findings = alerts.findings(uuid).await.map_err(refusal)?;
    let (events, activity_total) =
        alerts.activity(uuid, PageRequest { page: 1, page_size: ACTIVITY_SHOWN }).await.map_err(refusal)?;
    let sections = super::alert_response::Sections::load(&state, &ctx, uuid).await?;
    let detail = &context.detail;
    let alert = &detail.alert;
    let malice = detail.malice();
    let facts = detail.targeting_facts();
    let indicators = indicator_views(&context);
    let page = AlertPage {
        can_write: ctx.allows(Scope::AlertsWrite),
        ctx,
        uuid: alert.uuid.to_string(),
        title: alert.title.clone(),
        description: alert.description.clone().filter(|d| !d.is_empty()),
        severity: alert.severity.as_str(),
        severity_class: severity_class(alert.severity),
        status: alert.status.as_str(),
        malice: malice.as_str(),
        malice_class: malice_class(malice),
        malice_overridden: alert.malice_override.is_some(),
        malice_decided_by: alert_decided_by(&context, &indicators),
        enrichment_status: alert.enrichment_status.as_str(),
        source: alert.source_name.clone(),
        occurred: Stamp::of(alert.occurred_at),
        ingested: Stamp::of(alert.ingested_at),
        enriched: alert.enriched_at.map(Stamp::of),
        closed: alert.closed_at.map(Stamp::of),
        duplicate_count: alert.duplicate_count,
        classification: alert.close_classification.map(CloseClassification::as_str),
        close_notes: alert.close_notes.clone().filter(|n| !n.is_empty()),
        tags: alert.tags.0.clone(),
        rule: detail.detection_rule.as_ref().map(|r| RuleView {
            name: r.name.clone(),
            documentation: markdown::render_opt(r.documentation.as_deref()),
            tactics: r.mitre_tactics.0.clone(),
            techniques: r.mitre_techniques.0.clone(),
            subtechniques: r.mitre_subtechniques.0.clone(),
        }),
        indicators,
        findings: findings
            .iter()
            .map(|f| FindingView {
                agent_name: field(f, "agent_name").unwrap_or_default(),
                summary: markdown::render_opt(field(f, "summary").as_deref()),
                confidence: field(f, "confidence"),
                recommended_action: field(f, "recommended_action"),
                posted_at: field(f, "posted_at"),
            })
            .collect(),
        documents: context
            .documents
            .iter()
            .map(|d| DocumentView {
                title: d.title.clone(),
                document_type: d.document_type.clone(),
                is_global: d.is_global,
                matched_by: if d.is_global {
                    "global: attached to every alert".to_string()
                } else {
                    matched_clauses(d.targeting_rules.as_ref().map(|r| &r.0), &facts).join(" and ")
                },
                content: markdown::render_opt(Some(&d.content)),
            })
            .collect(),
        past_alerts: context
            .past_alerts
            .iter()
            .map(|p| PastView {
                uuid: p.uuid.to_string(),
                title: p.title.clone(),
                status: p.status.clone(),
                classification: p.close_classification.clone(),
                occurred: Stamp::of(p.occurred_at),
                shared: p
                    .indicators
                    .iter()
                    .map(|i| match (field(i, "type"), field(i, "value")) {
                        (Some(kind), Some(value)) => format!("{kind}: {value}"),
                        _ => text_of(i),
                    })
                    .collect(),
                notes: p.analyst_notes.clone().filter(|n| !n.is_empty()),
            })
            .collect(),
        activity: events
            .iter()
            .map(|e| EventView {
                event_type: e.event_type.clone(),
                actor: match &e.actor_key_prefix {
                    Some(prefix) => format!("{} ({prefix}…)", e.actor_type),
                    None => e.actor_type.clone(),
                },
                at: Stamp::of(e.created_at),
                references: e
                    .references
                    .as_ref()
                    .map(|r| text_of(&r.0))
                    .filter(|r| !r.is_empty() && r != "{}"),
            })
            .collect(),
        activity_total,
        raw: pretty_raw(&alert.raw_payload),
        statuses: AlertStatus::ALL,
        severities: Severity::ALL,
        classifications: CloseClassification::ALL,
        confidences: ["low", "medium", "high"],
        indicator_types: indicator_types(),
        verdicts: Malice::ALL,
        graph: sections.graph,
        deliveries: sections.deliveries,
        respond: sections.respond,
    };
    Ok(render(&page))
}

/// An empty select or text field is "no change".
fn given(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The status and severity form.
#[derive(Debug, Deserialize)]
pub struct UpdateForm {
    /// New status (not Closed: closing takes a classification).
    #[serde(default)]
    status: Option<String>,
    /// New severity.
    #[serde(default)]
    severity: Option<String>,
}

/// `POST /alerts/{uuid}/update`: changes the status and/or severity.
pub async fn update(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<UpdateForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let patch = AlertPatch {
        status: given(form.status),
        severity: given(form.severity),
        close_classification: None,
        tags: None,
        malice_override: None,
        reset_malice_override: false,
        close_notes: None,
    };
    state.services().alerts.patch(uuid, patch, &Actor::console(ctx.key())).await.map_err(refusal)?;
    Ok(back_to(uuid, "actions"))
}

/// The close form.
#[derive(Debug, Deserialize)]
pub struct CloseForm {
    /// One of the seven close classifications.
    #[serde(default)]
    classification: Option<String>,
    /// Analyst notes.
    #[serde(default)]
    notes: Option<String>,
}

/// `POST /alerts/{uuid}/close`: closes the alert with a classification and notes.
pub async fn close(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<CloseForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let Some(classification) = given(form.classification) else {
        return Err(PageError::bad_request("Choose a classification to close the alert."));
    };
    let patch = AlertPatch {
        status: Some(AlertStatus::Closed.as_str().to_string()),
        severity: None,
        close_classification: Some(Some(classification)),
        tags: None,
        malice_override: None,
        reset_malice_override: false,
        close_notes: given(form.notes).map(Some),
    };
    state.services().alerts.patch(uuid, patch, &Actor::console(ctx.key())).await.map_err(refusal)?;
    Ok(back_to(uuid, "actions"))
}

/// The re-enrich form (only the CSRF token).
#[derive(Debug, Deserialize)]
pub struct EmptyForm {}

/// `POST /alerts/{uuid}/enrich`: queues enrichment again, as REST's re-enrich does.
pub async fn re_enrich(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, .. }: SignedForm<EmptyForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    state.services().alerts.re_enrich(uuid).await.map_err(refusal)?;
    Ok(back_to(uuid, "indicators"))
}

/// The add-finding form.
#[derive(Debug, Deserialize)]
pub struct FindingForm {
    /// What was found.
    #[serde(default)]
    summary: String,
    /// `low`, `medium` or `high` (empty: none).
    #[serde(default)]
    confidence: Option<String>,
    /// What to do about it.
    #[serde(default)]
    recommended_action: Option<String>,
}

/// `POST /alerts/{uuid}/findings`: posts a finding under the signed-in key's name.
pub async fn add_finding(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<FindingForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::AlertsWrite)?;
    let uuid = parse_uuid(&raw_uuid)?;
    let input = FindingInput {
        agent_name: ctx.key_name.clone(),
        summary: form.summary,
        confidence: given(form.confidence),
        recommended_action: given(form.recommended_action),
        evidence: None,
    };
    state.services().alerts.add_finding(uuid, input, &Actor::console(ctx.key())).await.map_err(refusal)?;
    Ok(back_to(uuid, "findings"))
}
