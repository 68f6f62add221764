//! `/activity`: the audit log across the system, newest first, filtered by actor, event type and
//! alert (a GET form, so a filtered view is a link), paged.
//!
//! Event references can repeat alert content, which whoever triggered the alert wrote, so they
//! are shown as escaped text only.

use askama::Template;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::params::{ActivitySearch, ListParams, Paging, RawArgs};
use uuid::Uuid;

use super::listing::{Filters, Pager, Shown, query_errors};
use super::{PageContext, PageError, render};
use crate::state::ConsoleState;

/// The longest references text shown in a row (the rest is cut with an ellipsis).
const MAX_REFERENCES: usize = 300;

/// One event in the log.
struct Event {
    at: Shown,
    event_type: String,
    actor_type: String,
    actor_key_prefix: Option<String>,
    alert: Option<Uuid>,
    references: String,
}

#[derive(Template)]
#[template(path = "activity.html")]
struct Log {
    ctx: PageContext,
    filters: Filters,
    events: Vec<Event>,
    pager: Pager,
    errors: Vec<String>,
}

/// `GET /activity`: one page of the audit log as the query filters it; a query that cannot be
/// read is shown with its errors (422).
pub async fn log(ctx: PageContext, State(state): State<ConsoleState>, RawQuery(raw): RawQuery) -> Response {
    // The log is mostly about alerts, so it is read with the scope REST's alert activity needs.
    if let Err(refusal) = ctx.require_scope(Scope::AlertsRead) {
        return refusal.into_response();
    }
    let filters = Filters::from_query(raw.as_deref());
    let encoded = filters.encoded();
    let mut errors = Vec::new();
    let mut events = Vec::new();
    let mut pager = Pager::default();
    match RawArgs::from_query(Some(&encoded), ActivitySearch::REPEATED).parse::<ActivitySearch>() {
        Err(e) => errors = query_errors(&e.to_string()),
        Ok(search) => match state.services().alerts.audit_log(&search, Paging::REST).await {
            Ok(found) => {
                pager = Pager::new("/activity", &filters, found.page, found.total);
                events = found
                    .rows
                    .into_iter()
                    .map(|r| Event {
                        at: r.created_at.into(),
                        event_type: r.event_type,
                        actor_type: r.actor_type,
                        actor_key_prefix: r.actor_key_prefix,
                        alert: r.alert_id.and_then(|id| found.alerts.get(&id).copied()),
                        references: references_text(r.references.map(|j| j.0)),
                    })
                    .collect();
            }
            Err(ServiceError::Invalid(fields)) => {
                errors = fields
                    .iter()
                    .map(|f| format!("{}: {}", f.loc.last().map_or("", String::as_str), f.msg))
                    .collect();
            }
            Err(e) => return PageError::from(e).into_response(),
        },
    }
    let failed = !errors.is_empty();
    let mut response = render(&Log { ctx, filters, events, pager, errors });
    if failed && response.status() == StatusCode::OK {
        *response.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
    }
    response
}

/// The references as compact JSON, cut to [`MAX_REFERENCES`] characters.
fn references_text(references: Option<serde_json::Value>) -> String {
    let Some(value) = references.filter(|v| !v.is_null()) else { return String::new() };
    let text = value.to_string();
    if text.chars().count() > MAX_REFERENCES {
        let cut: String = text.chars().take(MAX_REFERENCES).collect();
        format!("{cut}…")
    } else {
        text
    }
}
