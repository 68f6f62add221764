//! Response schemas for the routes whose handlers build their JSON from services' `Value`s: each
//! struct describes exactly the JSON the handler sends (it is used only in the OpenAPI document,
//! never constructed).

#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

/// A webhook agent (secrets are never returned).
#[derive(Serialize, ToSchema)]
pub struct AgentResponse {
    uuid: Uuid,
    name: String,
    description: Option<String>,
    endpoint_url: String,
    auth_header_name: Option<String>,
    /// Whether deliveries are signed.
    has_signing_secret: bool,
    trigger_on_sources: Vec<String>,
    trigger_on_severities: Vec<String>,
    /// The JSONPath-style filter, as registered.
    #[schema(value_type = Option<Object>)]
    trigger_filter: Option<Value>,
    timeout_seconds: i32,
    retry_count: i32,
    is_active: bool,
    documentation: Option<String>,
    /// `full` or `compact`.
    payload_profile: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Only in the answer that created it (`"signing_secret": "generate"` or a new secret).
    #[schema(nullable = false)]
    signing_secret: Option<String>,
}

/// One delivery attempt to an agent.
#[derive(Serialize, ToSchema)]
pub struct AgentRunResponse {
    uuid: Uuid,
    alert_uuid: Uuid,
    delivery_id: Option<String>,
    status: String,
    attempt_count: i32,
    response_status_code: Option<i32>,
    /// The agent's answer, as it sent it.
    #[schema(value_type = Option<Object>)]
    response_body: Option<Value>,
    error_message: Option<String>,
    /// The payload delivered.
    #[schema(value_type = Option<Object>)]
    request_payload: Option<Value>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
}

/// The answer of `POST /v1/agents/{uuid}/test`.
#[derive(Serialize, ToSchema)]
pub struct AgentTestResponse {
    delivered: bool,
    status_code: Option<i32>,
    duration_ms: f64,
    error: Option<String>,
}

/// The answer of `POST /v1/alerts/{uuid}/trigger-agents`.
#[derive(Serialize, ToSchema)]
pub struct TriggerAgentsResponse {
    queued_agent_count: i64,
    agent_names: Vec<String>,
}

/// The answer of `POST /v1/alerts/{uuid}/dispatch-agent`.
#[derive(Serialize, ToSchema)]
pub struct DispatchAgentResponse {
    agent_uuid: Uuid,
    agent_name: String,
    alert_uuid: Uuid,
}

/// An alert source integration (credentials never).
#[derive(Serialize, ToSchema)]
pub struct SourceResponse {
    uuid: Uuid,
    source_name: String,
    display_name: String,
    is_active: bool,
    auth_type: Option<String>,
    documentation: Option<String>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// An agent's finding on an alert.
#[derive(Serialize, ToSchema)]
pub struct FindingResponse {
    /// A UUID.
    id: String,
    agent_name: String,
    summary: String,
    /// low, medium or high.
    confidence: Option<String>,
    recommended_action: Option<String>,
    #[schema(value_type = Option<Object>)]
    evidence: Option<Value>,
    posted_at: DateTime<Utc>,
}

/// The answer of `POST /v1/alerts/{uuid}/indicators`.
#[derive(Serialize, ToSchema)]
pub struct AddedIndicatorsResponse {
    added_count: i64,
    indicators: Vec<calseta_services::views::records::IndicatorResponse>,
    /// Whether an enrichment run was queued.
    enrich_requested: bool,
}

/// An alert in the relationship graph.
#[derive(Serialize, ToSchema)]
pub struct GraphAlertNode {
    uuid: Uuid,
    title: String,
    severity: String,
    status: String,
    source_name: String,
    occurred_at: DateTime<Utc>,
    tags: Vec<String>,
}

/// An indicator in the relationship graph.
#[derive(Serialize, ToSchema)]
pub struct GraphIndicatorNode {
    uuid: Uuid,
    #[serde(rename = "type")]
    kind: String,
    value: String,
    malice: String,
    first_seen: DateTime<Utc>,
    last_seen: DateTime<Utc>,
    is_enriched: bool,
    /// One word per provider (its verdict, malice or risk score; else `enriched`/`failed`).
    enrichment_summary: BTreeMap<String, String>,
    /// Alerts carrying this indicator.
    total_alert_count: i64,
    /// Up to `sibling_limit` other alerts carrying it.
    sibling_alerts: Vec<GraphAlertNode>,
}

/// `GET /v1/alerts/{uuid}/relationship-graph`.
#[derive(Serialize, ToSchema)]
pub struct RelationshipGraphResponse {
    alert: GraphAlertNode,
    indicators: Vec<GraphIndicatorNode>,
}

/// `{"message": …}`.
#[derive(Serialize, ToSchema)]
pub struct MessageResponse {
    message: String,
}

/// A context document (`content` and `targeting_rules` only when one document is asked for).
#[derive(Serialize, ToSchema)]
pub struct DocumentResponse {
    uuid: Uuid,
    title: String,
    document_type: String,
    is_global: bool,
    description: Option<String>,
    tags: Vec<String>,
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    /// Markdown (not in lists).
    #[schema(nullable = false)]
    content: Option<String>,
    /// `{"match_any": [...], "match_all": [...]}` (not in lists).
    #[schema(value_type = Option<Object>)]
    targeting_rules: Option<Value>,
}

/// `meta` of `GET /v1/alerts/{uuid}/context`.
#[derive(Serialize, ToSchema)]
pub struct AlertContextMeta {
    past_alerts: Vec<calseta_services::pipeline::context::PastAlert>,
}

/// `GET /v1/alerts/{uuid}/context`: the documents that apply, with the past alerts.
#[derive(Serialize, ToSchema)]
pub struct AlertContextResponse {
    data: Vec<DocumentResponse>,
    meta: AlertContextMeta,
}

/// `POST /v1/enrichment-providers/{uuid}/test`.
#[derive(Serialize, ToSchema)]
pub struct ProviderTestResponse {
    success: bool,
    provider_name: String,
    indicator_type: String,
    /// Normalized.
    indicator_value: String,
    /// What the provider's field extractions produced.
    #[schema(value_type = Option<Object>)]
    extracted: Option<Value>,
    /// The provider's answer (credentials masked).
    #[schema(value_type = Option<Object>)]
    raw_response: Option<Value>,
    error_message: Option<String>,
    duration_ms: f64,
    /// Every step's request and response.
    #[schema(value_type = Option<Vec<Object>>)]
    steps: Option<Vec<Value>>,
    /// Which malice rule gave `extracted.malice`: `{"index": 0, "condition": "score >= 40"}`, or
    /// `index: null` with `default`, `not found` or `no rules` (null for a failed or mocked test).
    #[schema(value_type = Option<Object>)]
    malice_rule: Option<Value>,
}

/// `POST /v1/enrichments`.
#[derive(Serialize, ToSchema)]
pub struct EnrichNowResponse {
    #[serde(rename = "type")]
    kind: String,
    /// Normalized.
    value: String,
    /// Each provider's result (without its raw response), by provider name.
    #[schema(value_type = Object)]
    results: BTreeMap<String, Value>,
    enriched_at: DateTime<Utc>,
}

/// One provider of `GET /v1/enrichments/providers`.
#[derive(Serialize, ToSchema)]
pub struct LoadedProviderResponse {
    provider_name: String,
    display_name: String,
    supported_types: Vec<String>,
    is_configured: bool,
    cache_ttl_seconds: i64,
}

/// `POST /v1/indicator-mappings/test-extraction`.
#[derive(Serialize, ToSchema)]
pub struct TestExtractionResponse {
    success: bool,
    source_name: String,
    /// Each pass: what it found and refused.
    passes: Vec<ExtractionPass>,
    /// The indicators, deduplicated.
    deduplicated: Vec<ExtractedIndicator>,
    deduplicated_count: i64,
    /// The normalized alert.
    #[schema(value_type = Object)]
    normalization_preview: Value,
    error_message: Option<String>,
    duration_ms: f64,
}

/// `POST /v1/workflows/{uuid}/execute`: a queued run, or a pending approval.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExecuteResponse {
    /// `status: queued`.
    Queued(ExecuteQueued),
    /// `status: pending_approval`.
    PendingApproval(ExecutePendingApproval),
}

/// The run was queued.
#[derive(Serialize, ToSchema)]
pub struct ExecuteQueued {
    run_uuid: Uuid,
    #[schema(pattern = "^queued$")]
    status: String,
}

/// A human must decide first.
#[derive(Serialize, ToSchema)]
pub struct ExecutePendingApproval {
    #[schema(pattern = "^pending_approval$")]
    status: String,
    approval_request_uuid: Uuid,
    expires_at: DateTime<Utc>,
}

/// `POST /v1/workflows/{uuid}/test`.
#[derive(Serialize, ToSchema)]
pub struct WorkflowTestResponse {
    success: bool,
    message: String,
    /// The run's log, one JSON object per line.
    log_output: String,
    duration_ms: u64,
    /// `WorkflowResult.data`.
    #[schema(value_type = Object)]
    result_data: Value,
}

/// A count per key (status, severity, source, type…).
pub type Counts = BTreeMap<String, i64>;

/// A day's count.
#[derive(Serialize, ToSchema)]
pub struct DayCount {
    date: String,
    count: i64,
}

/// A detection rule and its alert count.
#[derive(Serialize, ToSchema)]
pub struct RuleCount {
    uuid: Uuid,
    name: String,
    count: i64,
}

/// `GET /v1/metrics/alerts`.
#[derive(Serialize, ToSchema)]
pub struct AlertMetricsResponse {
    period_from: DateTime<Utc>,
    period_to: DateTime<Utc>,
    total_alerts: i64,
    alerts_by_status: Counts,
    alerts_by_severity: Counts,
    alerts_by_source: Counts,
    alerts_over_time: Vec<DayCount>,
    false_positive_rate: f64,
    /// Seconds.
    mean_time_to_enrich: Option<f64>,
    mean_time_to_detect: Option<f64>,
    mean_time_to_acknowledge: Option<f64>,
    mean_time_to_triage: Option<f64>,
    mean_time_to_conclusion: Option<f64>,
    active_alerts_by_severity: Counts,
    top_detection_rules: Vec<RuleCount>,
    enrichment_coverage: f64,
}

/// An indicator among a rule's alerts.
#[derive(Serialize, ToSchema)]
pub struct IndicatorCount {
    #[serde(rename = "type")]
    kind: String,
    value: String,
    count: i64,
    malice: String,
}

/// `GET /v1/detection-rules/{uuid}/metrics`.
#[derive(Serialize, ToSchema)]
pub struct DetectionRuleMetricsResponse {
    detection_rule_uuid: Uuid,
    detection_rule_name: String,
    period_from: DateTime<Utc>,
    period_to: DateTime<Utc>,
    total_alerts: i64,
    active_alerts: i64,
    alerts_by_status: Counts,
    alerts_by_severity: Counts,
    false_positive_rate: f64,
    true_positive_rate: f64,
    close_classifications: Counts,
    alerts_over_time: Vec<DayCount>,
    fp_over_time: Vec<DayCount>,
    mtta_seconds: Option<f64>,
    mttc_seconds: Option<f64>,
    severity_distribution: Counts,
    top_indicators: Vec<IndicatorCount>,
    alert_sources: Counts,
}

/// A workflow and its run count.
#[derive(Serialize, ToSchema)]
pub struct WorkflowRunCount {
    uuid: Uuid,
    name: String,
    run_count: i64,
}

/// `GET /v1/metrics/workflows`.
#[derive(Serialize, ToSchema)]
pub struct WorkflowMetricsResponse {
    period_from: DateTime<Utc>,
    period_to: DateTime<Utc>,
    total_configured: i64,
    workflows_by_type: Counts,
    workflow_run_count: i64,
    workflow_success_rate: f64,
    workflow_runs_over_time: Vec<DayCount>,
    time_saved_hours: f64,
    most_executed_workflows: Vec<WorkflowRunCount>,
}

/// `alerts` of the summary.
#[derive(Serialize, ToSchema)]
pub struct SummaryAlerts {
    total: i64,
    active: i64,
    by_severity: Counts,
    by_status: Counts,
    by_source: Counts,
    enrichment_coverage: f64,
    mean_time_to_enrich_seconds: Option<f64>,
    false_positive_rate: f64,
    mttd_seconds: Option<f64>,
    mtta_seconds: Option<f64>,
    mttt_seconds: Option<f64>,
    mttc_seconds: Option<f64>,
}

/// `workflows` of the summary.
#[derive(Serialize, ToSchema)]
pub struct SummaryWorkflows {
    total_configured: i64,
    executions: i64,
    success_rate: f64,
    estimated_time_saved_hours: f64,
}

/// `approvals` of the summary.
#[derive(Serialize, ToSchema)]
pub struct SummaryApprovals {
    pending: i64,
    approved_last_30_days: i64,
    approval_rate: f64,
    median_response_time_minutes: Option<f64>,
}

/// `platform` of the summary.
#[derive(Serialize, ToSchema)]
pub struct SummaryPlatform {
    context_documents: i64,
    detection_rules: i64,
    enrichment_providers: i64,
    enrichment_providers_by_indicator_type: Counts,
    agents: i64,
    workflows: i64,
    indicator_mappings: i64,
}

/// One job queue's figures.
#[derive(Serialize, ToSchema)]
pub struct SummaryQueueEntry {
    queue: String,
    pending: i64,
    in_progress: i64,
    succeeded_30d: i64,
    failed_30d: i64,
    avg_duration_seconds: Option<f64>,
    oldest_pending_age_seconds: Option<f64>,
}

/// `queue` of the summary (`null` when the figures cannot be read).
#[derive(Serialize, ToSchema)]
pub struct SummaryQueue {
    queues: Vec<SummaryQueueEntry>,
    total_pending: i64,
    total_in_progress: i64,
    total_failed_30d: i64,
    total_succeeded_30d: i64,
    oldest_pending_age_seconds: Option<f64>,
}

/// `GET /v1/metrics/summary`.
#[derive(Serialize, ToSchema)]
pub struct MetricsSummaryResponse {
    /// `last_30_days`.
    period: String,
    alerts: SummaryAlerts,
    workflows: SummaryWorkflows,
    approvals: SummaryApprovals,
    platform: SummaryPlatform,
    queue: Option<SummaryQueue>,
}

/// The decide page's form (`application/x-www-form-urlencoded`).
#[derive(Serialize, ToSchema)]
pub struct DecideForm {
    /// The token of the notification's link.
    token: String,
    /// The approver's decision.
    decision: Decision,
}

/// Slack's interactive callback (`application/x-www-form-urlencoded`).
#[derive(Serialize, ToSchema)]
pub struct SlackCallbackForm {
    /// The interaction, as Slack's JSON text.
    payload: String,
}

/// `approve` or `reject`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// Run the workflow.
    Approve,
    /// Do not run it.
    Reject,
}

/// One normalized, deduplicated indicator of the dry run.
#[derive(Serialize, ToSchema)]
pub struct ExtractedIndicator {
    #[serde(rename = "type")]
    kind: String,
    /// Normalized.
    value: String,
    /// Where its first occurrence was found.
    source_field: String,
    /// `source_plugin`, `normalized_mappings`, `raw_payload_mappings` or `free_text`.
    pass: String,
}

/// A value that could not be its type.
#[derive(Serialize, ToSchema)]
pub struct RejectedValue {
    #[serde(rename = "type")]
    kind: String,
    /// As found.
    value: String,
    source_field: String,
    /// Why it was refused.
    reason: String,
}

/// What one extraction pass found.
#[derive(Serialize, ToSchema)]
pub struct ExtractionPass {
    pass_name: String,
    pass_label: String,
    indicators: Vec<ExtractedIndicator>,
    rejected: Vec<RejectedValue>,
    /// Why the pass could not run.
    error: Option<String>,
}
