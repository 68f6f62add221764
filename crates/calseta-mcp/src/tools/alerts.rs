//! The alert tools: findings, status, malice, the agent payload, and the alert and detection-rule
//! searches (which read the same parameter types as REST's lists).

use calseta_core::alerts::{AlertStatus, CloseClassification, Malice};
use calseta_core::scopes::Scope;
use calseta_services::params::{AlertSearch, DetectionRuleSearch, Paging, RawArgs};
use calseta_services::resources::alerts::{AlertPatch, FindingInput};
use calseta_services::views::briefs::{alert_brief, rule_brief};
use rmcp::model::JsonObject;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::fields::{self, choice_schema, nullable_choice_schema};
use super::{Call, ToolInput};
use crate::error::McpFailure;

/// How sure an agent is of a finding.
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Confidence {
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
}

impl Confidence {
    /// The wire string.
    fn as_str(self) -> &'static str {
        match self {
            Confidence::Low => "low",
            Confidence::Medium => "medium",
            Confidence::High => "high",
        }
    }
}

/// Arguments of `post_alert_finding`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct PostAlertFinding {
    /// The alert.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    alert_uuid: Uuid,
    /// What the agent found (1 to 50,000 characters).
    #[serde(deserialize_with = "fields::required_text")]
    #[schemars(length(min = 1, max = 65536))]
    summary: String,
    /// How sure the agent is.
    confidence: Confidence,
    /// Who posts it (default mcp-agent).
    #[serde(default, deserialize_with = "fields::text")]
    #[schemars(length(max = 65536))]
    agent_name: Option<String>,
    /// What the agent recommends.
    #[serde(default, deserialize_with = "fields::text")]
    #[schemars(length(max = 65536))]
    recommended_action: Option<String>,
    /// Supporting data (at most 64 KB).
    #[serde(default)]
    evidence: Option<Map<String, Value>>,
}

impl ToolInput for PostAlertFinding {
    const NAME: &'static str = "post_alert_finding";
    const SCOPE: Scope = Scope::AlertsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str =
        "Post an analysis finding to an alert (appended to its findings and activity log).";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let input = FindingInput {
            agent_name: self.agent_name.unwrap_or_else(|| "mcp-agent".into()),
            summary: self.summary,
            confidence: Some(self.confidence.as_str().into()),
            recommended_action: self.recommended_action,
            evidence: self.evidence.map(Value::Object),
        };
        let finding = call.services.alerts.add_finding(self.alert_uuid, input, &call.actor()).await?;
        Ok(
            json!({"finding_id": finding["id"], "alert_uuid": self.alert_uuid, "posted_at": finding["posted_at"]}),
        )
    }
}

/// Arguments of `update_alert_status`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct UpdateAlertStatus {
    /// The alert.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    alert_uuid: Uuid,
    /// The new status.
    #[serde(deserialize_with = "fields::choice")]
    #[schemars(schema_with = "choice_schema::<AlertStatus>")]
    status: AlertStatus,
    /// Required when status is Closed.
    #[serde(default, deserialize_with = "fields::optional_choice")]
    #[schemars(schema_with = "choice_schema::<CloseClassification>")]
    close_classification: Option<CloseClassification>,
    /// Analyst notes, shown with past alerts.
    #[serde(default, deserialize_with = "fields::text")]
    #[schemars(length(max = 65536))]
    close_notes: Option<String>,
}

impl ToolInput for UpdateAlertStatus {
    const NAME: &'static str = "update_alert_status";
    const SCOPE: Scope = Scope::AlertsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str =
        "Change an alert's status (Open, Triaging, Escalated, Closed). Closing needs a close_classification.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        if self.status == AlertStatus::Closed && self.close_classification.is_none() {
            return Err(McpFailure::BadArgument("close_classification is required to close an alert".into()));
        }
        let patch = AlertPatch {
            status: Some(self.status.as_str().into()),
            close_classification: self.close_classification.map(|c| Some(c.as_str().into())),
            close_notes: self.close_notes.map(Some),
            ..AlertPatch::default()
        };
        let (previous, detail) =
            call.services.alerts.patch_from(self.alert_uuid, patch, &call.actor()).await?;
        Ok(json!({"alert_uuid": self.alert_uuid, "status": detail.alert.status, "previous_status": previous,
            "close_classification": detail.alert.close_classification, "updated_at": detail.alert.updated_at}))
    }
}

/// Arguments of `update_alert_malice`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct UpdateAlertMalice {
    /// The alert.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    alert_uuid: Uuid,
    /// The verdict; null returns to the indicators' verdict.
    #[serde(default, deserialize_with = "fields::optional_choice")]
    #[schemars(schema_with = "nullable_choice_schema::<Malice>")]
    malice: Option<Malice>,
}

impl ToolInput for UpdateAlertMalice {
    const NAME: &'static str = "update_alert_malice";
    const SCOPE: Scope = Scope::AlertsWrite;
    const READ_ONLY: bool = false;
    const DESCRIPTION: &'static str = "Set the analyst verdict on an alert (Pending, Benign, Suspicious, Malicious), or null to return to the indicators' verdict.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let patch = AlertPatch {
            reset_malice_override: self.malice.is_none(),
            malice_override: self.malice.map(|m| m.as_str().into()),
            ..AlertPatch::default()
        };
        let detail = call.services.alerts.patch(self.alert_uuid, patch, &call.actor()).await?;
        Ok(json!({"alert_uuid": self.alert_uuid, "malice_override": detail.alert.malice_override,
            "effective_malice": detail.malice().as_str(), "updated_at": detail.alert.updated_at}))
    }
}

/// Which payload profile to return.
#[derive(Debug, Clone, Copy, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Profile {
    /// The same facts in fewer tokens (the default).
    #[default]
    Compact,
    /// Every field.
    Full,
}

/// Arguments of `get_alert_payload`.
#[derive(Debug, Deserialize, JsonSchema)]
pub(crate) struct GetAlertPayload {
    /// The alert.
    #[serde(deserialize_with = "fields::uuid")]
    #[schemars(schema_with = "fields::uuid_schema")]
    alert_uuid: Uuid,
    /// compact (default) or full.
    #[serde(default)]
    profile: Profile,
}

impl ToolInput for GetAlertPayload {
    const NAME: &'static str = "get_alert_payload";
    const SCOPE: Scope = Scope::AlertsRead;
    const READ_ONLY: bool = true;
    const DESCRIPTION: &'static str = "The alert.enriched payload of an alert as an agent receives it: profile compact (default; the same facts in fewer tokens) or full.";

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let profile = match self.profile {
            Profile::Compact => "compact",
            Profile::Full => "full",
        };
        Ok(call.services.dispatch.payload(self.alert_uuid, profile).await?)
    }
}

/// Reads list parameters with REST's reader (every failing argument named).
fn list_params<T: serde::de::DeserializeOwned>(arguments: JsonObject) -> Result<T, McpFailure> {
    Ok(RawArgs::from_json(arguments).parse::<T>().map_err(calseta_services::ServiceError::from)?)
}

/// Arguments of `search_alerts`: REST's alert list parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct SearchAlerts(AlertSearch);

impl ToolInput for SearchAlerts {
    const NAME: &'static str = "search_alerts";
    const SCOPE: Scope = Scope::AlertsRead;
    const READ_ONLY: bool = true;
    const DESCRIPTION: &'static str =
        "Search alerts by status, severity, source, enrichment state, time window and tags.";

    fn read(arguments: JsonObject) -> Result<Self, McpFailure> {
        list_params(arguments).map(SearchAlerts)
    }

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let (rows, total, page) = call.services.alerts.search(&self.0, Paging::TOOL).await?;
        let alerts: Vec<Value> = rows.iter().map(alert_brief).collect();
        Ok(json!({"alerts": alerts, "total": total, "page": page.page, "page_size": page.page_size}))
    }
}

/// Arguments of `search_detection_rules`: REST's detection-rule list parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(transparent)]
pub(crate) struct SearchDetectionRules(DetectionRuleSearch);

impl ToolInput for SearchDetectionRules {
    const NAME: &'static str = "search_detection_rules";
    const SCOPE: Scope = Scope::AlertsRead;
    const READ_ONLY: bool = true;
    const DESCRIPTION: &'static str =
        "Search detection rules by name, MITRE tactic or technique, source and state.";

    fn read(arguments: JsonObject) -> Result<Self, McpFailure> {
        list_params(arguments).map(SearchDetectionRules)
    }

    async fn run(self, call: Call<'_>) -> Result<Value, McpFailure> {
        let (rows, total, page) = call.services.detection_rules.search(&self.0, Paging::TOOL).await?;
        let rules: Vec<Value> = rows.iter().map(|r| rule_brief(r, "documentation")).collect();
        Ok(json!({"detection_rules": rules, "total": total, "page": page.page, "page_size": page.page_size}))
    }
}
