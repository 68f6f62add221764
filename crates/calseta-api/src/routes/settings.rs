//! `GET /v1/settings/approval-defaults` (`admin`): this deployment's approval defaults, as v1
//! shows them — the only settings endpoint; settings are changed in the environment, not here.

use axum::Json;
use axum::extract::State;
use calseta_services::pipeline::respond::notify::{ApprovalDefaults, NotifierKind};
use serde::Serialize;
use utoipa::ToSchema;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::Envelope;
use crate::error::{ApiError, ErrorBody};

/// Who tells approvers (`APPROVAL_NOTIFIER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Notifier {
    /// Nobody: requests are decided over REST or the browser page.
    None,
    /// Slack (`SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`).
    Slack,
    /// Microsoft Teams (`TEAMS_WEBHOOK_URL`).
    Teams,
}

/// This deployment's approval defaults (v1's `ApprovalDefaultsResponse`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ApprovalDefaultsResponse {
    /// `APPROVAL_NOTIFIER`.
    pub notifier: Notifier,
    /// `APPROVAL_DEFAULT_CHANNEL`: the Slack channel of workflows that name none; `null` when unset.
    pub default_channel: Option<String>,
    /// `APPROVAL_DEFAULT_TIMEOUT_SECONDS`: the expiry of workflows that set none.
    pub default_timeout_seconds: u32,
    /// Whether `SLACK_BOT_TOKEN` is set (the token itself is never shown).
    pub slack_configured: bool,
    /// Whether `TEAMS_WEBHOOK_URL` is set (the URL itself is never shown).
    pub teams_configured: bool,
}

impl From<ApprovalDefaults> for ApprovalDefaultsResponse {
    fn from(d: ApprovalDefaults) -> Self {
        ApprovalDefaultsResponse {
            notifier: match d.notifier {
                NotifierKind::None => Notifier::None,
                NotifierKind::Slack => Notifier::Slack,
                NotifierKind::Teams => Notifier::Teams,
            },
            default_channel: d.default_channel,
            default_timeout_seconds: d.default_timeout_seconds,
            slack_configured: d.slack_configured,
            teams_configured: d.teams_configured,
        }
    }
}

/// The approval notifier, default channel and timeout, and which notifiers are configured.
#[utoipa::path(get, path = "/v1/settings/approval-defaults", tag = "settings",
    security(("api_key" = ["admin"])),
    responses((status = 200, body = Envelope<ApprovalDefaultsResponse>),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn approval_defaults(
    State(state): State<AppState>,
    _auth: Authed<scope::Admin>,
) -> Result<Json<Envelope<ApprovalDefaultsResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().respond.approval_defaults().into())))
}
