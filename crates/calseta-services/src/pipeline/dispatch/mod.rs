//! The dispatch stage: when an alert's enrichment run completes, every matching active agent gets
//! one `alert.enriched` POST. The payload is built once and one `deliver_webhook` job per agent is
//! queued — by the enrichment run itself (this stage's [`AfterEnriched`] hook), in the transaction
//! that marks the alert `Enriched`, or by a `dispatch_alert` job for an explicit (re-)dispatch.
//! Each delivery has its own delivery id, signature, timeout and retries (10 s × 3ⁿ with jitter,
//! `retry_count` + 1 attempts), one `agent_runs` row per attempt and an `agent_webhook_dispatched`
//! event per outcome. One agent failing never affects another.

pub mod sender;

use std::sync::Arc;

use calseta_core::agents::{DeliveryStatus, PayloadProfile};
use calseta_core::redact::strip_url_secrets;
use calseta_core::targeting::AlertFacts;
use calseta_jobs::{JobContext, JobFailure, JobHandler, JobKind, PreparedJob};
use calseta_store::Db;
use calseta_store::agent_runs::{self as deliveries, NewRun};
use calseta_store::agents::{self as agents_repo, AgentRow};
use calseta_store::alerts::AlertRow;
use calseta_store::indicators::{IndicatorRow, LinkOrigin};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;
use crate::audit::{self, Actor};
use crate::pipeline::hooks::AfterEnriched;
use crate::pipeline::kinds::{DeliverWebhookJob, DispatchAlertJob, prepare_delivery};
use crate::platform::semaphores::KeyedSemaphores;
use crate::views::alert_detail::{self, AlertDetail};
use crate::views::payload::PayloadBuilder;
use sender::{AgentSender, SendFailure, agent_matches};

/// Active agents whose triggers select the alert described by `facts`, oldest first.
pub async fn matching_agents(db: &Db, facts: &AlertFacts<'_>) -> Result<Vec<AgentRow>, ServiceError> {
    Ok(agents_repo::list(db, true).await?.into_iter().filter(|a| agent_matches(a, facts)).collect())
}

/// Builds payloads and the deliveries that carry them.
pub struct Dispatch {
    db: Db,
    payloads: PayloadBuilder,
    deliver_webhook: JobKind,
}

impl Dispatch {
    /// Dispatch over `db`, queueing `deliver_webhook` jobs with the configured retry policy.
    pub fn new(db: Db, payloads: PayloadBuilder, deliver_webhook: JobKind) -> Self {
        Self { db, payloads, deliver_webhook }
    }

    /// The `alert.enriched` payload of an alert as an agent would receive it now, in `profile`
    /// (`full` or `compact`).
    pub async fn payload(&self, alert_uuid: Uuid, profile: &str) -> Result<Value, ServiceError> {
        let Ok(profile) = PayloadProfile::parse(profile) else {
            return Err(ServiceError::Invalid(vec![crate::FieldError::query(
                "profile",
                "profile must be 'full' or 'compact'",
            )]));
        };
        let detail = alert_detail::load(&self.db, alert_uuid).await?;
        let full = self.payloads.build_typed(&detail).await?;
        if profile == PayloadProfile::Compact {
            return Ok(crate::views::compact::compact(&full));
        }
        serde_json::to_value(&full).map_err(|e| ServiceError::Config(format!("payload: {e}")))
    }

    /// The payload of `detail` and one delivery per matching agent (only `only` when given,
    /// bypassing trigger filters).
    pub async fn deliveries(
        &self,
        detail: &AlertDetail,
        only: Option<Uuid>,
    ) -> Result<Vec<PreparedJob>, ServiceError> {
        let alert = &detail.alert;
        let agents = match only {
            Some(uuid) => agents_repo::get(&self.db, uuid).await?.into_iter().collect(),
            None => matching_agents(&self.db, &detail.targeting_facts()).await?,
        };
        if agents.is_empty() {
            return Ok(Vec::new());
        }
        let typed = self.payloads.build_typed(detail).await?;
        let body = serde_json::to_value(&typed).map_err(|e| ServiceError::Config(format!("payload: {e}")))?;
        // Built once; the compact profile is derived only if some agent asked for it.
        let compact = agents
            .iter()
            .any(|a| a.payload_profile == PayloadProfile::Compact)
            .then(|| crate::views::compact::compact(&typed));
        agents
            .into_iter()
            .map(|agent| {
                let body = match (&compact, agent.payload_profile) {
                    (Some(compact), PayloadProfile::Compact) => compact.clone(),
                    _ => body.clone(),
                };
                let job = DeliverWebhookJob {
                    alert_uuid: alert.uuid,
                    agent_uuid: agent.uuid,
                    delivery_id: format!("msg_{}", Uuid::now_v7().simple()),
                    body,
                };
                prepare_delivery(
                    &self.deliver_webhook,
                    &job,
                    u32::try_from(agent.retry_count).unwrap_or(0) + 1,
                )
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl AfterEnriched for Dispatch {
    async fn follow_ups(
        &self,
        alert: &AlertRow,
        indicators: &[IndicatorRow],
        origins: &[LinkOrigin],
    ) -> Result<Vec<PreparedJob>, ServiceError> {
        let detail = alert_detail::of(&self.db, alert.clone(), indicators.to_vec(), origins.to_vec()).await?;
        self.deliveries(&detail, None).await
    }
}

async fn enqueue_all(tx: &mut calseta_store::Tx, jobs: &[PreparedJob]) -> Result<(), JobFailure> {
    for job in jobs {
        job.enqueue(tx).await?;
    }
    Ok(())
}

/// Handler of `dispatch_alert` ([`crate::pipeline::kinds::DISPATCH_ALERT`]).
pub struct DispatchAlert {
    /// Builds the deliveries.
    pub dispatch: Arc<Dispatch>,
}

#[async_trait::async_trait]
impl JobHandler for DispatchAlert {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let job: DispatchAlertJob = ctx.payload_as()?;
        let detail = match alert_detail::load(ctx.db(), job.alert_uuid).await {
            Ok(detail) => detail,
            Err(ServiceError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(JobFailure::retryable(e)),
        };
        let deliveries = self.dispatch.deliveries(&detail, job.agent_uuid).await?;
        let mut tx = ctx.begin_for_finish().await?;
        enqueue_all(&mut tx, &deliveries).await?;
        ctx.finish(tx).await
    }
}

/// How long a delivery waits when its agent is at its concurrency limit.
const AGENT_BUSY_RETRY: std::time::Duration = std::time::Duration::from_millis(500);

/// Handler of `deliver_webhook` ([`crate::pipeline::kinds::DELIVER_WEBHOOK`]).
pub struct DeliverWebhook {
    sender: Arc<AgentSender>,
    per_agent: usize,
    telemetry: Arc<crate::platform::telemetry::Telemetry>,
    in_flight: KeyedSemaphores<Uuid>,
}

impl DeliverWebhook {
    /// Deliveries through `sender`, at most `per_agent` at once to one agent in this process, so a
    /// hanging agent holds no more of the dispatch slots than that.
    pub fn new(
        sender: Arc<AgentSender>,
        per_agent: usize,
        telemetry: Arc<crate::platform::telemetry::Telemetry>,
    ) -> Self {
        Self { sender, per_agent: per_agent.max(1), in_flight: Default::default(), telemetry }
    }

    /// A delivery slot of `agent`, if one is free.
    fn slot(&self, agent: Uuid) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.in_flight.try_acquire(&agent, self.per_agent)
    }
}

#[async_trait::async_trait]
impl JobHandler for DeliverWebhook {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let job: DeliverWebhookJob = ctx.payload_as()?;
        let (alert_uuid, agent_uuid, delivery_id) = (job.alert_uuid, job.agent_uuid, job.delivery_id.clone());
        // Deleted since the dispatch: nothing to deliver, or nowhere to deliver it.
        let Some((agent, Some(alert_id))) =
            agents_repo::with_alert_id(ctx.db(), agent_uuid, alert_uuid).await?
        else {
            return Ok(());
        };
        let Some(_slot) = self.slot(agent.uuid) else {
            return Err(JobFailure::busy(
                format!("agent '{}' has {} deliveries in flight", agent.name, self.per_agent),
                AGENT_BUSY_RETRY,
            ));
        };
        let started = calseta_store::now();
        let outcome = self.sender.send(&agent, &delivery_id, &job.body).await;
        let (status, code, body, error) = match &outcome {
            Ok(sent) if sent.success() => (DeliveryStatus::Success, sent.status, sent.body.clone(), None),
            Ok(sent) => (
                DeliveryStatus::Failed,
                sent.status,
                sent.body.clone(),
                Some(format!("HTTP {}", sent.status.unwrap_or(0))),
            ),
            Err(SendFailure::Timeout) => {
                (DeliveryStatus::Timeout, None, Value::Null, Some(SendFailure::Timeout.message()))
            }
            Err(other) => (DeliveryStatus::Failed, None, Value::Null, Some(other.message())),
        };
        // Recorded in agent runs and activity: no URL in it keeps a credential.
        let error = error.map(|e| strip_url_secrets(&e));
        let blocked = matches!(outcome, Err(SendFailure::Blocked(_)));
        let outcome_name = if blocked { "blocked" } else { status.as_str() };
        self.telemetry.delivery(outcome_name);
        let run = (!blocked).then(|| NewRun {
            agent_id: agent.id,
            alert_id,
            delivery_id: delivery_id.clone(),
            // Kept with the run and served by the API: no userinfo or query credential.
            endpoint_url: strip_url_secrets(&agent.endpoint_url),
            status_code: code.map(i32::from),
            response_body: (!body.is_null()).then_some(body),
            status,
            attempt: i32::try_from(ctx.attempt).unwrap_or(1),
            error_message: error.clone(),
            started_at: started,
        });
        let last_attempt = blocked || ctx.attempt >= ctx.max_attempts;
        if status == DeliveryStatus::Success || last_attempt {
            // The attempt's record lands in the transaction that records its outcome (one write
            // instead of two). If that transaction cannot be had or committed (the lease was lost,
            // a write failed), the attempt is still recorded on its own: it was made.
            let delivered = status == DeliveryStatus::Success;
            let outcome = async {
                // A failed last attempt commits without finishing: its lease is checked first.
                let mut tx = if delivered { ctx.begin_for_finish().await? } else { ctx.begin_fenced().await? };
                if let Some(run) = &run {
                    deliveries::record_in(&mut tx, run).await?;
                }
                let refs = json!({"agent_name": agent.name, "agent_uuid": agent.uuid, "status": outcome_name,
                    "status_code": code, "attempt_count": ctx.attempt, "delivery_id": delivery_id, "error": error});
                audit::record(&mut tx, &Actor::system(), "agent_webhook_dispatched", Some(alert_id), refs)
                    .await?;
                if delivered {
                    return ctx.finish(tx).await;
                }
                tx.commit().await?;
                Ok::<(), JobFailure>(())
            }
            .await;
            if let Err(failure) = outcome {
                if let Some(run) = &run
                    && let Err(e) = deliveries::record(ctx.db(), run).await
                {
                    tracing::warn!(error = %e, "could not record a delivery attempt");
                }
                return Err(failure);
            }
            if delivered {
                return Ok(());
            }
            return Err(JobFailure::permanent(error.unwrap_or_else(|| "delivery failed".into())));
        }
        if let Some(run) = &run {
            deliveries::record(ctx.db(), run).await?;
        }
        Err(JobFailure::retryable(error.unwrap_or_else(|| "delivery failed".into())))
    }
}
