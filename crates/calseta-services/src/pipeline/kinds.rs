//! Every job kind of the pipeline with its typed payload and its enqueue function: the contract
//! between the stage that queues work and the stage whose handler does it.

use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_jobs::{JobKind, PreparedJob, enqueue_payload};
use calseta_store::Tx;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::ServiceError;

/// The kinds whose retry policy comes from configuration, as the composition root built them.
#[derive(Debug, Clone, Copy)]
pub struct PipelineKinds {
    /// `enrich_alert` (`QUEUE_MAX_RETRIES`, `QUEUE_RETRY_BACKOFF_SECONDS`).
    pub enrich_alert: JobKind,
    /// `deliver_webhook` (`AGENT_RETRY_BASE_SECONDS`).
    pub deliver_webhook: JobKind,
}

impl PipelineKinds {
    /// The kinds with the configured retry policies.
    pub fn new(enrich_attempts: u32, enrich_backoff: Duration, delivery_retry_base: Duration) -> Self {
        Self {
            enrich_alert: ENRICH_ALERT
                .with_retry(RetryPolicy::exponential(enrich_attempts.max(1), enrich_backoff)),
            deliver_webhook: DELIVER_WEBHOOK.with_retry(RetryPolicy::geometric(
                DELIVER_WEBHOOK.retry.max_attempts,
                delivery_retry_base,
                3,
            )),
        }
    }
}

/// Extraction and enrichment of one alert (handled by `enrich`).
pub const ENRICH_ALERT: JobKind = JobKind {
    name: "enrich_alert",
    queue: "enrichment",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// Payload of [`ENRICH_ALERT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichAlertJob {
    /// The alert.
    pub alert_uuid: Uuid,
}

/// Queues an extraction and enrichment run of the alert inside the caller's transaction.
pub async fn enqueue_enrichment(tx: &mut Tx, kind: &JobKind, alert_uuid: Uuid) -> Result<Uuid, ServiceError> {
    Ok(enqueue_payload(tx, kind, &EnrichAlertJob { alert_uuid }, Duration::ZERO).await?)
}

/// Lookups a rate limit postponed (handled by `enrich`).
pub const ENRICH_DEFERRED: JobKind = JobKind {
    name: "enrich_deferred",
    queue: "enrichment",
    retry: RetryPolicy::exponential(5, Duration::from_secs(30)),
};

/// Payload of [`ENRICH_DEFERRED`]: one provider's postponed lookups of one alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichDeferredJob {
    /// The alert the lookups belong to.
    pub alert_uuid: Uuid,
    /// The provider to ask.
    pub provider_name: String,
    /// The indicators still to look up.
    pub indicators: Vec<DeferredIndicator>,
}

/// One postponed lookup.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeferredIndicator {
    /// Internal indicator id.
    pub id: i64,
    /// Indicator type name.
    #[serde(rename = "type")]
    pub kind: String,
    /// Normalized value.
    pub value: String,
}

/// Queues postponed lookups to run after `wait`.
pub async fn enqueue_deferred(
    tx: &mut Tx,
    job: &EnrichDeferredJob,
    wait: Duration,
) -> Result<Uuid, ServiceError> {
    Ok(enqueue_payload(tx, &ENRICH_DEFERRED, job, wait).await?)
}

/// Deletes expired rows of the shared enrichment cache (handled by `enrich`; periodic).
pub const PURGE_ENRICHMENT_CACHE: JobKind = JobKind {
    name: "purge_enrichment_cache",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// How often workers schedule [`PURGE_ENRICHMENT_CACHE`].
pub const PURGE_ENRICHMENT_CACHE_EVERY: Duration = Duration::from_secs(3600);

/// Builds the payload of one alert and queues its deliveries (handled by `dispatch`).
pub const DISPATCH_ALERT: JobKind = JobKind {
    name: "dispatch_alert",
    queue: "dispatch",
    retry: RetryPolicy::exponential(3, Duration::from_secs(30)),
};

/// Payload of [`DISPATCH_ALERT`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DispatchAlertJob {
    /// The alert.
    pub alert_uuid: Uuid,
    /// Only this agent, bypassing trigger filters; every matching agent when absent.
    pub agent_uuid: Option<Uuid>,
}

/// Queues a dispatch of the alert (to `only` when given, bypassing trigger filters).
pub async fn enqueue_dispatch(
    tx: &mut Tx,
    alert_uuid: Uuid,
    only: Option<Uuid>,
) -> Result<Uuid, ServiceError> {
    Ok(enqueue_payload(
        tx,
        &DISPATCH_ALERT,
        &DispatchAlertJob { alert_uuid, agent_uuid: only },
        Duration::ZERO,
    )
    .await?)
}

/// One POST to one agent (handled by `dispatch`; attempts per agent: `retry_count` + 1).
pub const DELIVER_WEBHOOK: JobKind = JobKind {
    name: "deliver_webhook",
    queue: "dispatch",
    retry: RetryPolicy::geometric(4, Duration::from_secs(10), 3),
};

/// Payload of [`DELIVER_WEBHOOK`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeliverWebhookJob {
    /// The alert delivered.
    pub alert_uuid: Uuid,
    /// The receiving agent.
    pub agent_uuid: Uuid,
    /// The Standard Webhooks message id, the same on every attempt.
    #[serde(default)]
    pub delivery_id: String,
    /// The payload, built once at dispatch.
    pub body: Value,
}

/// A delivery ready to be queued with `attempts` attempts (in the transaction that completes a run).
pub fn prepare_delivery(
    kind: &JobKind,
    job: &DeliverWebhookJob,
    attempts: u32,
) -> Result<PreparedJob, ServiceError> {
    Ok(kind.prepare(job)?.with_max_attempts(attempts))
}

/// One queued workflow run (handled by `respond`): never retried, since a response action that
/// ran halfway must not run again unasked.
pub const EXECUTE_WORKFLOW_RUN: JobKind = JobKind {
    name: "execute_workflow_run",
    queue: "workflows",
    retry: RetryPolicy::exponential(1, Duration::from_secs(1)),
};

/// Payload of [`EXECUTE_WORKFLOW_RUN`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecuteWorkflowRunJob {
    /// The run.
    pub run_uuid: Uuid,
}

/// Queues a workflow run inside the caller's transaction.
pub async fn enqueue_workflow_run(tx: &mut Tx, run_uuid: Uuid) -> Result<Uuid, ServiceError> {
    Ok(enqueue_payload(tx, &EXECUTE_WORKFLOW_RUN, &ExecuteWorkflowRunJob { run_uuid }, Duration::ZERO)
        .await?)
}

/// Tells the approvers about an approval request (handled by `respond`): the request itself, its
/// decision, the approved run's result, or its expiry, through the configured notifier.
pub const NOTIFY_APPROVAL: JobKind = JobKind {
    name: "notify_approval",
    queue: "dispatch",
    retry: RetryPolicy::exponential(3, Duration::from_secs(30)),
};

/// What happened to an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalEvent {
    /// A human decision is asked for.
    Requested,
    /// Approved, rejected or cancelled.
    Decided,
    /// The approved run finished.
    Executed,
    /// Nobody decided in time.
    Expired,
}

impl ApprovalEvent {
    /// The serialised name (`requested`, `decided`, `executed`, `expired`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalEvent::Requested => "requested",
            ApprovalEvent::Decided => "decided",
            ApprovalEvent::Executed => "executed",
            ApprovalEvent::Expired => "expired",
        }
    }
}

/// Payload of [`NOTIFY_APPROVAL`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotifyApprovalJob {
    /// The request.
    pub approval_uuid: Uuid,
    /// What to tell.
    pub event: ApprovalEvent,
    /// The browser link's token, encrypted with the platform key (only with `requested`: the
    /// database keeps the token's digest alone, so this is the one place the link can come from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decide_token: Option<String>,
}

/// Queues a notification inside the caller's transaction.
pub async fn enqueue_approval_notification(
    tx: &mut Tx,
    job: &NotifyApprovalJob,
) -> Result<Uuid, ServiceError> {
    Ok(enqueue_payload(tx, &NOTIFY_APPROVAL, job, Duration::ZERO).await?)
}

/// Marks pending approval requests past their expiry `expired`, records and notifies each
/// (handled by `respond`; periodic, `APPROVAL_SWEEP_INTERVAL_SECONDS`).
pub const EXPIRE_APPROVALS: JobKind = JobKind {
    name: "expire_approvals",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(10)),
};
