//! `/alerts`: the alert queue (filters held in the URL, sorting by column header, keyset paging
//! by cursor) and `POST /alerts/bulk`, which changes the status of the selected alerts or closes
//! them with a classification.
//!
//! Everything an alert carries was written by whoever triggered it, so it reaches the page only
//! through askama's escaping, as text; links to alerts are built from their uuids alone.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::audit::Actor;
use calseta_services::params::{AlertQueueArgs, AlertSearch, ListParams, RawArgs};
use calseta_services::resources::alerts::AlertPatch;
use uuid::Uuid;

use super::listing::{Filters, Pager, Shown, query_errors};
use super::{PageContext, PageError, render, see_other};
use crate::state::ConsoleState;

/// One alert in the queue.
struct Row {
    uuid: Uuid,
    title: String,
    severity: &'static str,
    status: &'static str,
    enrichment: &'static str,
    source: String,
    malice: &'static str,
    occurred: Shown,
    classification: Option<&'static str>,
}

/// A column header: its label, and for a sortable column the link that sorts by it (flipping
/// the order when the queue is already sorted by it) and its `aria-sort`.
struct Header {
    label: &'static str,
    href: Option<String>,
    aria_sort: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "alerts.html")]
struct Queue {
    ctx: PageContext,
    filters: Filters,
    /// The filters and cursor as a query, for the bulk form's return address.
    kept: String,
    /// Whether the URL filters anything (the empty state then suggests clearing the filters
    /// rather than sending a first alert).
    filtered: bool,
    headers: Vec<Header>,
    /// The tag filters shown as one field each, and one empty field for another.
    tags: Vec<String>,
    rows: Vec<Row>,
    pager: Pager,
    /// What was wrong with the query, one line per parameter.
    errors: Vec<String>,
    /// The bulk action's summary, from the query after its redirect.
    changed: Option<String>,
    failed: Option<String>,
    statuses: Vec<&'static str>,
    severities: Vec<&'static str>,
    enrichments: Vec<&'static str>,
    malices: Vec<&'static str>,
    classifications: Vec<&'static str>,
    can_write: bool,
}

/// The table's columns: label and, for a sortable one, its `sort_by` value and whether it sorts
/// descending first (times and severity: newest and highest first; text: A to Z).
const COLUMNS: &[(&str, Option<(&str, bool)>)] = &[
    ("Title", Some(("title", false))),
    ("Severity", Some(("severity", true))),
    ("Malice", None),
    ("Status", Some(("status", false))),
    ("Source", Some(("source_name", false))),
    ("Enrichment", None),
    ("Occurred", Some(("occurred_at", true))),
];

/// The column headers for the queue sorted by `sort_by` (descending when `descending`).
fn headers(filters: &Filters, sort_by: &str, descending: bool) -> Vec<Header> {
    COLUMNS
        .iter()
        .map(|(label, sort)| match sort {
            None => Header { label, href: None, aria_sort: None },
            Some((column, desc_first)) => {
                let current = *column == sort_by;
                let next_desc = if current { !descending } else { *desc_first };
                Header {
                    label,
                    href: Some(filters.sort_href("/alerts", column, if next_desc { "desc" } else { "asc" })),
                    aria_sort: current.then_some(if descending { "descending" } else { "ascending" }),
                }
            }
        })
        .collect()
}

/// `GET /alerts`: the queue, filtered, sorted and paged (by cursor) as the query says; a query
/// that cannot be read is shown with its errors (422), never a failure page.
pub async fn queue(
    mut ctx: PageContext,
    State(state): State<ConsoleState>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(refusal) = ctx.require_scope(Scope::AlertsRead) {
        return refusal.into_response();
    }
    // Read before the rows, so the live stream misses nothing that lands after them.
    ctx.events_since = state.live().latest().await.ok();
    let filters = Filters::from_query(raw.as_deref());
    let encoded = filters.encoded();
    let args = RawArgs::from_query(Some(&encoded), AlertSearch::REPEATED);
    let parsed = args.parse::<AlertSearch>().and_then(|search| Ok((search, args.parse::<AlertQueueArgs>()?)));
    let mut errors = Vec::new();
    let mut rows = Vec::new();
    let mut pager = Pager::default();
    let (mut sort_by, mut descending) = ("occurred_at", true);
    match parsed {
        Err(e) => errors = query_errors(&e.to_string()),
        Ok((search, queue_args)) => {
            sort_by = search.sort_by.unwrap_or_default().as_str();
            descending = search.sort_order.unwrap_or_default().descending();
            match state.services().alerts.queue(&search, &queue_args).await {
                Ok(found) => {
                    pager = Pager::keyset(
                        "/alerts",
                        &filters,
                        found.before.as_deref(),
                        found.after.as_deref(),
                        found.total,
                    );
                    rows = found
                        .rows
                        .into_iter()
                        .map(|r| Row {
                            uuid: r.summary.uuid,
                            title: r.summary.title,
                            severity: r.summary.severity.as_str(),
                            status: r.summary.status.as_str(),
                            enrichment: r.summary.enrichment_status.as_str(),
                            source: r.summary.source_name,
                            malice: r.malice.as_str(),
                            occurred: r.summary.occurred_at.into(),
                            classification: r.summary.close_classification.map(CloseClassification::as_str),
                        })
                        .collect();
                }
                // A page size or cursor out of range is the query's fault, like a bad field.
                Err(ServiceError::Invalid(fields)) => {
                    errors = fields
                        .iter()
                        .map(|f| format!("{}: {}", f.loc.last().map_or("", String::as_str), f.msg))
                        .collect();
                }
                Err(e) => return PageError::from(e).into_response(),
            }
        }
    }
    let page = Queue {
        kept: filters.here(),
        filtered: filters.any(),
        headers: headers(&filters, sort_by, descending),
        tags: filters.values("tags"),
        changed: Some(filters.value("changed")).filter(|v| !v.is_empty()),
        failed: Some(filters.value("failed")).filter(|v| !v.is_empty()),
        filters,
        rows,
        pager,
        statuses: AlertStatus::names(),
        severities: Severity::names(),
        enrichments: EnrichmentStatus::names(),
        malices: Malice::names(),
        classifications: CloseClassification::names(),
        can_write: ctx.allows(Scope::AlertsWrite),
        errors,
        ctx,
    };
    let failed = !page.errors.is_empty();
    let mut response = render(&page);
    if failed && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// The statuses the bulk form sets directly (closing needs a classification, below).
const SETTABLE: &[AlertStatus] = &[AlertStatus::Open, AlertStatus::Triaging, AlertStatus::Escalated];

/// `POST /alerts/bulk`: sets the status of every selected alert (`alert_uuid`, repeated), or closes
/// them with `close_classification` and `close_notes`, each through the same service call as
/// REST's `PATCH /v1/alerts/{uuid}` with the session's key as the actor; then back to the queue
/// as it was filtered, with `changed` and `failed` counts in the query.
pub async fn bulk(
    State(state): State<ConsoleState>,
    signed: crate::SignedForm<Vec<(String, String)>>,
) -> Response {
    let crate::SignedForm { ctx, form } = signed;
    if let Err(refusal) = ctx.require_scope(Scope::AlertsWrite) {
        return refusal.into_response();
    }
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim().to_string());
    let mut alerts = Vec::new();
    for (_, value) in form.iter().filter(|(k, _)| k == "alert_uuid") {
        match Uuid::parse_str(value.trim()) {
            Ok(uuid) => alerts.push(uuid),
            Err(_) => {
                return PageError::bad_request("An alert in the form is not a valid id.").into_response();
            }
        }
    }
    let action = field("action").unwrap_or_default();
    let patch = if action == "close" {
        let Some(classification) =
            field("close_classification").and_then(|c| CloseClassification::parse(&c).ok())
        else {
            return PageError::unprocessable("Choose one of the close classifications to close alerts.")
                .into_response();
        };
        let notes = field("close_notes").filter(|n| !n.is_empty());
        AlertPatch {
            status: Some(AlertStatus::Closed.as_str().to_string()),
            close_classification: Some(Some(classification.as_str().to_string())),
            close_notes: notes.map(Some),
            ..AlertPatch::default()
        }
    } else {
        let Some(status) = SETTABLE.iter().find(|s| s.as_str() == action) else {
            return PageError::unprocessable("Choose a status to set, or Close.").into_response();
        };
        AlertPatch { status: Some(status.as_str().to_string()), ..AlertPatch::default() }
    };
    let actor = Actor::console(ctx.key());
    let (mut changed, mut failed) = (0_usize, 0_usize);
    for uuid in alerts {
        match state.services().alerts.patch(uuid, patch.clone(), &actor).await {
            Ok(_) => changed += 1,
            // The database is gone: stop, and say so, rather than count every alert as failed.
            Err(e @ (ServiceError::Unavailable(_) | ServiceError::Store(_))) => {
                return PageError::from(e).into_response();
            }
            Err(e) => {
                tracing::info!(alert = %uuid, error = %e, "console bulk change refused for one alert");
                failed += 1;
            }
        }
    }
    // The return address is re-encoded from its pairs and always under `/alerts`, so the form
    // cannot send the browser elsewhere.
    let kept = Filters::from_query(field("return").as_deref()).here();
    let mut location = String::from("/alerts?");
    if !kept.is_empty() {
        location.push_str(&kept);
        location.push('&');
    }
    location.push_str(&format!("changed={changed}&failed={failed}"));
    see_other(&location)
}
