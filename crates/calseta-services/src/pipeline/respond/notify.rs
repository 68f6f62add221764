//! Telling approvers: the `notify_approval` handler posts an approval request to Slack (Block Kit
//! with Approve/Reject buttons and the browser link) or Teams (an Adaptive Card), then keeps the
//! same conversation current — the decision replaces the buttons, the approved run's result is
//! posted in the thread, and an expired request says so.

use std::time::Duration;

use calseta_core::workflows::ApprovalStatus;
use calseta_jobs::{JobContext, JobFailure, JobHandler};
use calseta_store::workflow_approvals::{self as approvals, ApprovalRow};
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use crate::pipeline::kinds::{ApprovalEvent, NotifyApprovalJob};
use crate::platform::chat::{SlackApi, TeamsWebhook};
use crate::platform::crypto::EncryptionKey;
use crate::platform::outbound::OutboundClient;

/// Which notifier tells approvers (`APPROVAL_NOTIFIER`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NotifierKind {
    /// Nobody is told; requests are decided over REST.
    #[default]
    None,
    /// Slack (`SLACK_BOT_TOKEN`, `SLACK_SIGNING_SECRET`).
    Slack,
    /// Microsoft Teams (`TEAMS_WEBHOOK_URL`).
    Teams,
}

impl NotifierKind {
    /// The name stored as a request's `notifier_type`.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifierKind::None => "none",
            NotifierKind::Slack => "slack",
            NotifierKind::Teams => "teams",
        }
    }
}

/// How approvers are told, and how they answer.
#[derive(Debug, Clone)]
pub struct ApprovalSettings {
    /// `APPROVAL_NOTIFIER` (`none`).
    pub notifier: NotifierKind,
    /// `CALSETA_BASE_URL` (`http://localhost:8000`): the public address in decide links.
    pub base_url: String,
    /// `APPROVAL_DEFAULT_CHANNEL`: the Slack channel of workflows that name none (`#general`).
    pub default_channel: String,
    /// `APPROVAL_DEFAULT_TIMEOUT_SECONDS` (3600): the expiry of workflows that set none.
    pub default_timeout_seconds: u32,
    /// `SLACK_BOT_TOKEN`.
    pub slack_bot_token: String,
    /// `SLACK_SIGNING_SECRET`: Slack callbacks are refused without it.
    pub slack_signing_secret: Option<String>,
    /// `SLACK_API_BASE_URL` (`https://slack.com/api`), for tests and proxies.
    pub slack_api_base_url: String,
    /// `TEAMS_WEBHOOK_URL`.
    pub teams_webhook_url: String,
    /// `APPROVAL_SWEEP_INTERVAL_SECONDS` (30): how often expired requests are swept.
    pub sweep_every: Duration,
}

/// This deployment's approval defaults, as `GET /v1/settings/approval-defaults` shows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalDefaults {
    /// `APPROVAL_NOTIFIER`.
    pub notifier: NotifierKind,
    /// `APPROVAL_DEFAULT_CHANNEL`, `None` when empty.
    pub default_channel: Option<String>,
    /// `APPROVAL_DEFAULT_TIMEOUT_SECONDS`.
    pub default_timeout_seconds: u32,
    /// Whether `SLACK_BOT_TOKEN` is set.
    pub slack_configured: bool,
    /// Whether `TEAMS_WEBHOOK_URL` is set.
    pub teams_configured: bool,
}

impl ApprovalSettings {
    /// The defaults shown to admins (never a secret: only whether one is set).
    pub fn defaults(&self) -> ApprovalDefaults {
        ApprovalDefaults {
            notifier: self.notifier,
            default_channel: Some(self.default_channel.trim()).filter(|c| !c.is_empty()).map(str::to_string),
            default_timeout_seconds: self.default_timeout_seconds,
            slack_configured: !self.slack_bot_token.trim().is_empty(),
            teams_configured: !self.teams_webhook_url.trim().is_empty(),
        }
    }
}

impl super::Respond {
    /// This deployment's approval defaults.
    pub fn approval_defaults(&self) -> ApprovalDefaults {
        self.settings.defaults()
    }
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings {
            notifier: NotifierKind::None,
            base_url: "http://localhost:8000".into(),
            default_channel: String::new(),
            default_timeout_seconds: 3600,
            slack_bot_token: String::new(),
            slack_signing_secret: None,
            slack_api_base_url: "https://slack.com/api".into(),
            teams_webhook_url: String::new(),
            sweep_every: Duration::from_secs(30),
        }
    }
}

/// Where messages go.
enum Channel {
    None,
    Slack(SlackApi),
    Teams(TeamsWebhook),
}

/// Sends approval notifications.
pub struct NotifyApproval {
    channel: Channel,
    settings: std::sync::Arc<ApprovalSettings>,
    key: EncryptionKey,
}

impl NotifyApproval {
    /// The handler for the configured notifier.
    pub fn new(http: OutboundClient, settings: std::sync::Arc<ApprovalSettings>, key: EncryptionKey) -> Self {
        let channel = match settings.notifier {
            NotifierKind::None => Channel::None,
            NotifierKind::Slack => {
                Channel::Slack(SlackApi::new(http, &settings.slack_api_base_url, &settings.slack_bot_token))
            }
            NotifierKind::Teams => Channel::Teams(TeamsWebhook::new(http, &settings.teams_webhook_url)),
        };
        NotifyApproval { channel, settings, key }
    }
}

/// Escapes text for Slack's mrkdwn, so that a reason or an indicator cannot mention `@channel`
/// or forge a link.
fn slack_text(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Text of at most `max` characters, cut with an ellipsis: Slack refuses a whole message whose
/// block text is too long (3,000 characters a section, 150 a header), and a refused message would
/// leave the approvers untold.
fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut clipped: String = text.chars().take(max.saturating_sub(1)).collect();
    clipped.push('…');
    clipped
}

/// Escapes the Markdown a Teams card renders, so that an agent's reason cannot show a link.
fn teams_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '[' | ']' | '(' | ')' | '*' | '_' | '~' | '#' | '<' | '>' | '`' | '|' | '!') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A responder as Slack shows it: a Slack user id as a mention, anything else as text.
fn slack_responder(responder: &str) -> String {
    let is_user_id = responder.len() >= 7
        && (responder.starts_with('U') || responder.starts_with('W'))
        && responder.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    if is_user_id { format!("<@{responder}>") } else { slack_text(responder) }
}

/// What the approver is shown about a request.
struct Facts {
    workflow_name: String,
    risk: String,
    indicator: String,
    trigger: String,
    confidence: String,
    expires: String,
    reason: String,
}

fn facts(approval: &ApprovalRow) -> Facts {
    let context =
        calseta_core::workflows::TriggerContext::from_stored(approval.trigger_context.as_ref().map(|c| &c.0));
    Facts {
        workflow_name: approval.workflow_name.clone(),
        risk: approval.workflow_risk_level.to_string(),
        indicator: format!("{}: {}", context.indicator_type, context.indicator_value),
        trigger: approval.trigger_type.to_string(),
        confidence: format!("{:.0}%", approval.confidence * 100.0),
        expires: format_time(approval.expires_at),
        reason: approval.reason.clone(),
    }
}

fn format_time(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn decision_words(status: ApprovalStatus) -> (&'static str, &'static str) {
    match status {
        ApprovalStatus::Approved => ("✅", "Approved"),
        ApprovalStatus::Rejected => ("❌", "Rejected"),
        ApprovalStatus::Cancelled => ("🚫", "Cancelled"),
        ApprovalStatus::Expired => ("⌛", "Expired"),
        ApprovalStatus::Pending => ("•", "Updated"),
    }
}

/// The request's Block Kit blocks: buttons and the browser link while it is pending, the outcome
/// in their place once it is not.
fn slack_blocks(
    approval: &ApprovalRow,
    f: &Facts,
    decide_url: Option<&str>,
    outcome: Option<String>,
) -> Vec<Value> {
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text",
               "text": clip(&format!("[{} RISK] Workflow Approval: {}", f.risk.to_uppercase(), f.workflow_name), 150)}}),
        json!({"type": "section", "fields": [
            {"type": "mrkdwn", "text": format!("*Indicator:* `{}`", slack_text(&clip(&f.indicator, 1800)))},
            {"type": "mrkdwn", "text": format!("*Trigger:* {}", f.trigger)},
            {"type": "mrkdwn", "text": format!("*Confidence:* {}", f.confidence)},
            {"type": "mrkdwn", "text": format!("*Expires:* {}", f.expires)}]}),
        json!({"type": "section", "text": {"type": "mrkdwn",
               "text": format!("*Agent reason:*\n{}", slack_text(&clip(if f.reason.is_empty() { "(none given)" } else { &f.reason }, 2500)))}}),
    ];
    match outcome {
        None => {
            let uuid = approval.uuid;
            blocks.push(json!({"type": "actions", "block_id": format!("approval:{uuid}"), "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "style": "primary",
                 "action_id": format!("approve:{uuid}"), "value": uuid.to_string()},
                {"type": "button", "text": {"type": "plain_text", "text": "Reject"}, "style": "danger",
                 "action_id": format!("reject:{uuid}"), "value": uuid.to_string()}]}));
            if let Some(url) = decide_url {
                blocks.push(json!({"type": "context", "elements": [
                    {"type": "mrkdwn", "text": format!("Or <{url}|decide via browser>")}]}));
            }
        }
        Some(text) => blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})),
    }
    blocks
}

fn slack_outcome(approval: &ApprovalRow) -> String {
    let (mark, word) = decision_words(approval.status);
    match (approval.status, approval.responder_id.as_deref()) {
        (ApprovalStatus::Expired, _) => {
            format!("{mark} *{word}*: nobody decided by {}; nothing ran.", format_time(approval.expires_at))
        }
        (_, Some(responder)) => format!("{mark} *{word}* by {}", slack_responder(responder)),
        (_, None) => format!("{mark} *{word}*"),
    }
}

fn run_result(approval: &ApprovalRow) -> (bool, String) {
    let result = approval.execution_result.as_ref().map(|r| r.0.clone()).unwrap_or_default();
    let success = result.get("success").and_then(Value::as_bool).unwrap_or(false);
    let message = result.get("message").and_then(Value::as_str).unwrap_or_default().to_string();
    (success, message)
}

fn teams_card(title: &str, facts: Vec<(&str, String)>, text: Option<&str>, actions: Vec<Value>) -> Value {
    let mut body =
        vec![json!({"type": "TextBlock", "text": title, "weight": "Bolder", "size": "Medium", "wrap": true})];
    body.push(json!({"type": "FactSet", "facts": facts.into_iter()
        .map(|(title, value)| json!({"title": title, "value": value})).collect::<Vec<_>>()}));
    if let Some(text) = text {
        body.push(json!({"type": "TextBlock", "text": text, "wrap": true}));
    }
    json!({"type": "message", "attachments": [{
        "contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": null,
        "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
                    "version": "1.4", "body": body, "actions": actions}}]})
}

impl NotifyApproval {
    fn decide_url(&self, approval: &ApprovalRow, encrypted_token: Option<&str>) -> Option<String> {
        let token = self.key.decrypt(encrypted_token?)?;
        let token = String::from_utf8(token).ok()?;
        Some(format!(
            "{}/v1/approvals/{}/decide?token={token}",
            self.settings.base_url.trim_end_matches('/'),
            approval.uuid
        ))
    }

    async fn slack(
        &self,
        slack: &SlackApi,
        db: &calseta_store::Db,
        approval: &ApprovalRow,
        f: &Facts,
        job: &NotifyApprovalJob,
    ) -> Result<(), String> {
        let channel = approval
            .external_channel_id
            .clone()
            .or_else(|| approval.notifier_channel.clone().filter(|c| !c.trim().is_empty()))
            .or_else(|| Some(self.settings.default_channel.clone()).filter(|c| !c.trim().is_empty()))
            .unwrap_or_else(|| "#general".into());
        match (job.event, approval.external_message_id.as_deref()) {
            (ApprovalEvent::Requested, _) => {
                // A request settled before its message went out is posted settled, without buttons.
                let current = approval.clone().as_of(calseta_store::now());
                let (url, outcome) = if current.status == ApprovalStatus::Pending {
                    (self.decide_url(approval, job.decide_token.as_deref()), None)
                } else {
                    (None, Some(slack_outcome(&current)))
                };
                let body = json!({"channel": channel,
                    "text": format!("Workflow approval needed: {} ({} risk)", slack_text(&f.workflow_name), f.risk),
                    "blocks": slack_blocks(approval, f, url.as_deref(), outcome)});
                let answer = slack.call("chat.postMessage", &body).await?;
                let ts = answer.get("ts").and_then(Value::as_str).ok_or("Slack gave no message ts")?;
                let posted_in = answer.get("channel").and_then(Value::as_str);
                approvals::set_message(db, approval.id, ts, posted_in).await.map_err(|e| e.to_string())?;
                if current.status != ApprovalStatus::Pending {
                    return Ok(());
                }
                // A decision that came while this message was on its way found no message to
                // update (its job saw none); with the message now recorded, bring it up to date.
                let now = calseta_store::now();
                let latest = approvals::get(db, approval.uuid).await.map_err(|e| e.to_string())?;
                match latest.map(|a| a.as_of(now)) {
                    Some(latest) if latest.status != ApprovalStatus::Pending => {
                        let body = json!({"channel": posted_in.unwrap_or(&channel), "ts": ts,
                            "text": format!("Workflow approval {}: {}", latest.status, slack_text(&f.workflow_name)),
                            "blocks": slack_blocks(&latest, f, None, Some(slack_outcome(&latest)))});
                        slack.call("chat.update", &body).await.map(|_| ())
                    }
                    _ => Ok(()),
                }
            }
            (ApprovalEvent::Decided | ApprovalEvent::Expired, Some(ts)) => {
                let outcome = slack_outcome(approval);
                let body = json!({"channel": channel, "ts": ts,
                    "text": format!("Workflow approval {}: {}", approval.status, slack_text(&f.workflow_name)),
                    "blocks": slack_blocks(approval, f, None, Some(outcome))});
                slack.call("chat.update", &body).await.map(|_| ())
            }
            (ApprovalEvent::Decided | ApprovalEvent::Expired, None) => {
                // The request's own message has not gone out yet: when it does, it shows the
                // outcome (its job reads the request after posting), so nothing is posted twice.
                tracing::debug!(approval = %approval.uuid, "decision before the request's message; it will show it");
                Ok(())
            }
            (ApprovalEvent::Executed, ts) => {
                let (success, message) = run_result(approval);
                let responder = approval.responder_id.as_deref().map(slack_responder).unwrap_or_default();
                let mut body = json!({"channel": channel,
                    "text": format!("Workflow Approved: {}", slack_text(&f.workflow_name)),
                    "blocks": [
                        {"type": "section", "text": {"type": "mrkdwn", "text": format!("*Decision:* Approved by {responder}")}},
                        {"type": "section", "text": {"type": "mrkdwn", "text": format!("{} *Execution result:* {}",
                            if success { ":white_check_mark:" } else { ":x:" }, slack_text(&clip(&message, 2500)))}}]});
                if let Some(ts) = ts {
                    body["thread_ts"] = json!(ts);
                }
                slack.call("chat.postMessage", &body).await.map(|_| ())
            }
        }
    }

    async fn teams(
        &self,
        teams: &TeamsWebhook,
        approval: &ApprovalRow,
        f: &Facts,
        job: &NotifyApprovalJob,
    ) -> Result<(), String> {
        let base = self.settings.base_url.trim_end_matches('/');
        let name = teams_text(&f.workflow_name);
        let indicator = teams_text(&f.indicator);
        let responder = approval.responder_id.as_deref().map(teams_text);
        let card = match job.event {
            ApprovalEvent::Requested => {
                let mut actions = Vec::new();
                if let Some(url) = self.decide_url(approval, job.decide_token.as_deref()) {
                    actions.push(json!({"type": "Action.OpenUrl", "title": "Review & Decide", "url": url}));
                }
                let reason = if f.reason.is_empty() { "(none given)" } else { &f.reason };
                teams_card(
                    &format!("[{} RISK] Workflow Approval Required: {name}", f.risk.to_uppercase()),
                    vec![
                        ("Indicator", indicator),
                        ("Trigger", f.trigger.clone()),
                        ("Confidence", f.confidence.clone()),
                        ("Risk Level", f.risk.clone()),
                        ("Expires", f.expires.clone()),
                        (
                            "Decide over REST",
                            format!(
                                "POST {base}/v1/workflow-approvals/{}/approve or …/reject",
                                approval.uuid
                            ),
                        ),
                    ],
                    Some(&format!("Agent reason: {}", teams_text(&clip(reason, 4000)))),
                    actions,
                )
            }
            ApprovalEvent::Decided | ApprovalEvent::Expired => {
                let (mark, word) = decision_words(approval.status);
                teams_card(
                    &format!("{mark} Workflow {word}: {name}"),
                    vec![
                        ("Decision", word.to_string()),
                        ("By", responder.unwrap_or_else(|| "nobody (expired)".into())),
                        ("Indicator", indicator),
                    ],
                    None,
                    Vec::new(),
                )
            }
            ApprovalEvent::Executed => {
                let (success, message) = run_result(approval);
                let mark = if success { "✅" } else { "❌" };
                teams_card(
                    &format!("Workflow Approved: {name}"),
                    vec![
                        ("Decision", format!("Approved by {}", responder.unwrap_or_default())),
                        ("Workflow", name.clone()),
                        ("Execution result", format!("{mark} {}", teams_text(&clip(&message, 4000)))),
                    ],
                    None,
                    Vec::new(),
                )
            }
        };
        teams.post(&card).await
    }
}

#[async_trait::async_trait]
impl JobHandler for NotifyApproval {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let job: NotifyApprovalJob = ctx.payload_as()?;
        let db = ctx.db();
        let Some(approval) = approvals::get(db, job.approval_uuid).await? else {
            return Ok(());
        };
        let f = facts(&approval);
        let sent = match &self.channel {
            Channel::None => Ok(()),
            Channel::Slack(slack) => self.slack(slack, db, &approval, &f, &job).await,
            Channel::Teams(teams) => self.teams(teams, &approval, &f, &job).await,
        };
        sent.map_err(|e| {
            tracing::warn!(approval = %approval.uuid, event = job.event.as_str(), error = %e, "approval notification failed");
            JobFailure::retryable(e)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{clip, slack_responder, slack_text, teams_text};

    #[test]
    fn slack_text_cannot_mention_or_link() {
        assert_eq!(slack_text("<!channel> & <http://x|y>"), "&lt;!channel&gt; &amp; &lt;http://x|y&gt;");
        assert_eq!(slack_responder("U024BE7LH"), "<@U024BE7LH>");
        assert_eq!(slack_responder("cai_ab12"), "cai_ab12");
        assert_eq!(slack_responder("<!here>"), "&lt;!here&gt;");
    }

    #[test]
    fn long_text_is_clipped_and_teams_markdown_escaped() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abc", 4), "abc");
        assert_eq!(clip(&"é".repeat(10), 3), "éé…");
        assert_eq!(
            teams_text("[Approve](https://evil.test) *now*"),
            r"\[Approve\]\(https://evil.test\) \*now\*"
        );
    }
}
