//! `/approvals`: the approval inbox — requests waiting for a person, the soonest to expire first,
//! each with the agent's reason and confidence, the workflow and its risk, the indicator, the
//! alert and the time left, with approve and reject forms (and a note); the newest settled
//! requests below. Decisions go through the same service as REST's, which refuses an agent key
//! and the key that made the request (four eyes).
//!
//! Reasons and indicator values were written by agents and alert senders: escaped text only.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use calseta_core::api_keys::KeyType;
use calseta_core::scopes::Scope;
use calseta_core::workflows::RiskLevel;
use calseta_services::ServiceError;
use calseta_services::audit::Actor;
use calseta_services::pipeline::respond::{Decider, Decision};
use calseta_services::records::now;
use calseta_services::views::approval_inbox::ApprovalItem;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::listing::Shown;
use super::{PageContext, PageError, path_uuid, render, see_other};
use crate::session::SignedForm;
use crate::state::ConsoleState;

/// How many waiting requests the inbox lists.
const PENDING_SHOWN: i64 = 200;
/// How many settled requests it lists below them.
const SETTLED_SHOWN: i64 = 50;
/// The longest note kept with a decision.
const MAX_NOTE_CHARS: usize = 2_000;

/// One request as the inbox shows it.
struct Request {
    uuid: String,
    workflow_name: String,
    risk: &'static str,
    risk_class: &'static str,
    reason: String,
    confidence_percent: String,
    status: &'static str,
    requested_by: String,
    by_agent: bool,
    indicator: String,
    alert: Option<String>,
    requested: Shown,
    expires: Shown,
    time_left: String,
    responder: Option<String>,
    responded: Option<Shown>,
    /// The signed-in key made this request: it may reject but not approve it.
    own_request: bool,
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct Inbox {
    ctx: PageContext,
    pending: Vec<Request>,
    pending_total: i64,
    settled: Vec<Request>,
    can_decide: bool,
    can_read_alerts: bool,
}

/// "in 12 min", "in 3 h 5 min", or "expired".
fn time_left(expires_at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let seconds = (expires_at - now).num_seconds();
    if seconds <= 0 {
        return "expired".to_string();
    }
    let minutes = (seconds + 59) / 60;
    match (minutes / 60, minutes % 60) {
        (0, m) => format!("{m} min left"),
        (h, 0) => format!("{h} h left"),
        (h, m) => format!("{h} h {m} min left"),
    }
}

impl Request {
    fn of(item: ApprovalItem, ctx: &PageContext, now: DateTime<Utc>) -> Self {
        let risk = item.risk_level;
        Request {
            uuid: item.uuid.to_string(),
            workflow_name: item.workflow_name,
            risk: risk.as_str(),
            risk_class: match risk {
                RiskLevel::Critical => "risk-critical",
                RiskLevel::High => "risk-high",
                RiskLevel::Medium => "risk-medium",
                RiskLevel::Low => "risk-low",
            },
            reason: item.reason,
            confidence_percent: format!("{:.0}%", (item.confidence * 100.0).clamp(0.0, 100.0)),
            status: item.status.as_str(),
            own_request: item.requested_by == ctx.key_prefix,
            requested_by: item.requested_by,
            by_agent: item.requested_by_agent,
            indicator: if item.indicator_type.is_empty() {
                item.indicator_value
            } else {
                format!("{}: {}", item.indicator_type, item.indicator_value)
            },
            alert: item.alert_uuid.map(|u| u.to_string()),
            requested: item.created_at.into(),
            expires: item.expires_at.into(),
            time_left: time_left(item.expires_at, now),
            responder: item.responder_id,
            responded: item.responded_at.map(Shown::from),
        }
    }
}

/// `GET /approvals`: the inbox. Reading it takes the scope REST's approval list takes.
pub async fn inbox(mut ctx: PageContext, State(state): State<ConsoleState>) -> Result<Response, PageError> {
    ctx.require_scope(Scope::ApprovalsWrite)?;
    // Read before the requests, so the live stream misses nothing that lands after them.
    ctx.events_since = state.live().latest().await.ok();
    let found = state.services().respond.inbox(PENDING_SHOWN, SETTLED_SHOWN).await?;
    let now = now();
    let pending = found.pending.into_iter().map(|i| Request::of(i, &ctx, now)).collect();
    let settled = found.settled.into_iter().map(|i| Request::of(i, &ctx, now)).collect();
    let page = Inbox {
        can_decide: ctx.allows(Scope::ApprovalsWrite) && ctx.key().key_type != KeyType::Agent,
        can_read_alerts: ctx.allows(Scope::AlertsRead),
        pending_total: found.pending_total,
        pending,
        settled,
        ctx,
    };
    Ok(render(&page))
}

/// The decision form: `approve` or `reject`, and an optional note.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    /// `approve` or `reject`.
    #[serde(default)]
    decision: String,
    /// Why (recorded in the activity log).
    #[serde(default)]
    note: Option<String>,
}

/// `POST /approvals/{uuid}/decide`: approves or rejects, then back to the inbox.
pub async fn decide(
    State(state): State<ConsoleState>,
    Path(raw_uuid): Path<String>,
    SignedForm { ctx, form }: SignedForm<DecisionForm>,
) -> Result<Response, PageError> {
    ctx.require_scope(Scope::ApprovalsWrite)?;
    let uuid = path_uuid(&raw_uuid, "There is no approval request with this id.")?;
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        _ => return Err(PageError::bad_request("Choose Approve or Reject.")),
    };
    let note = form.note.as_deref().map(str::trim).filter(|n| !n.is_empty());
    if note.is_some_and(|n| n.chars().count() > MAX_NOTE_CHARS) {
        return Err(PageError::bad_request(format!("A note is at most {MAX_NOTE_CHARS} characters.")));
    }
    let key = ctx.key();
    let by = Decider {
        responder_id: &key.key_prefix,
        actor: &Actor::console(key),
        by_agent: key.key_type == KeyType::Agent,
        via: "console",
        note,
        four_eyes: true,
    };
    state.services().respond.decide(uuid, decision, by).await.map_err(|e| match e {
        ServiceError::NotFound(_) => PageError::not_found("There is no approval request with this id."),
        other => PageError::from(other),
    })?;
    Ok(see_other("/approvals"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn time_left_rounds_up_to_the_minute_and_says_when_expired() {
        let now = Utc::now();
        assert_eq!(time_left(now + Duration::seconds(30), now), "1 min left");
        assert_eq!(time_left(now + Duration::minutes(60), now), "1 h left");
        assert_eq!(time_left(now + Duration::minutes(185), now), "3 h 5 min left");
        assert_eq!(time_left(now - Duration::seconds(1), now), "expired");
        assert_eq!(time_left(now, now), "expired");
    }
}
