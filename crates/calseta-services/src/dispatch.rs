//! Dispatch: when an alert's enrichment run completes, every matching active agent gets one
//! `alert.enriched` POST. The payload is built once and one `deliver_webhook` job per agent is
//! queued — by the enrichment run itself, in the transaction that marks the alert `Enriched`, or by
//! a `dispatch_alert` job for an explicit (re-)dispatch. Each delivery has its own delivery id,
//! signature, timeout and retries (10 s × 3ⁿ with jitter, `retry_count` + 1 attempts), one
//! `agent_runs` row per attempt and an `agent_webhook_dispatched` event per outcome. One agent
//! failing never affects another.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_store::agents::{self as agents_repo, NewRun};
use calseta_store::jobs::NewJob;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;
use crate::activity::{self, Actor};
use crate::agents::{AgentService, SendFailure};
use crate::alerts::{AlertDetail, AlertService, enrichment_outcomes, strip_raw};
use crate::context::{ContextService, document_view};
use crate::jobs::{self, JobKind};
use crate::worker::{JobContext, JobFailure, JobHandler};

/// Builds the payload and queues the deliveries of one alert.
pub const DISPATCH_ALERT: JobKind = JobKind {
    name: "dispatch_alert",
    queue: "dispatch",
    retry: RetryPolicy::exponential(3, Duration::from_secs(30)),
};
/// One POST to one agent (attempts per agent: `retry_count` + 1).
pub const DELIVER_WEBHOOK: JobKind = JobKind {
    name: "deliver_webhook",
    queue: "dispatch",
    retry: RetryPolicy::geometric(4, Duration::from_secs(10), 3),
};

/// Queues a dispatch of the alert (to `only` when given, bypassing trigger filters).
pub async fn enqueue(
    tx: &mut calseta_store::Tx,
    alert_uuid: Uuid,
    only: Option<Uuid>,
) -> Result<Uuid, ServiceError> {
    jobs::enqueue(tx, &DISPATCH_ALERT, json!({"alert_uuid": alert_uuid, "agent_uuid": only}), Duration::ZERO)
        .await
}

/// The payload agents receive.
pub struct PayloadBuilder {
    pub db: calseta_store::Db,
    pub alerts: Arc<AlertService>,
    pub context: Arc<ContextService>,
    pub agents: Arc<AgentService>,
}

/// The `deliver_webhook` jobs of one dispatch, to be queued in the caller's transaction.
pub struct Deliveries(Vec<NewJob>);

impl Deliveries {
    /// Queues every delivery inside `tx`.
    pub async fn enqueue(self, tx: &mut calseta_store::Tx) -> Result<(), ServiceError> {
        for job in &self.0 {
            calseta_store::jobs::enqueue(tx, job).await?;
        }
        Ok(())
    }
}

impl PayloadBuilder {
    /// The payload of `detail` and one delivery per matching agent (only `only` when given,
    /// bypassing trigger filters).
    pub async fn deliveries(
        &self,
        detail: AlertDetail,
        only: Option<Uuid>,
    ) -> Result<Deliveries, ServiceError> {
        let alert_uuid = detail.alert.uuid;
        let (payload, alert) = self.build(detail).await?;
        let agents = match only {
            Some(uuid) => self.agents.get(uuid).await.map(|a| vec![a]).unwrap_or_default(),
            None => self.agents.matching(&alert.source_name, &alert.severity, &alert.tags.0).await?,
        };
        let jobs = agents
            .into_iter()
            .map(|agent| {
                let delivery_id = format!("msg_{}", Uuid::now_v7().simple());
                NewJob {
                    kind: DELIVER_WEBHOOK.name.into(),
                    queue: DELIVER_WEBHOOK.queue.into(),
                    payload: json!({"alert_uuid": alert_uuid, "agent_uuid": agent.uuid, "delivery_id": delivery_id, "body": payload}),
                    max_attempts: u32::try_from(agent.retry_count).unwrap_or(0) + 1,
                    run_at: calseta_store::now(),
                }
            })
            .collect();
        Ok(Deliveries(jobs))
    }

    /// The seed's `alert.enriched` payload for an alert (also every field of v1's payload).
    async fn build(
        &self,
        detail: AlertDetail,
    ) -> Result<(Value, calseta_store::alerts::AlertRow), ServiceError> {
        let documents = self.context.documents_for(&detail.alert).await?;
        let past = self.context.past_alerts(&detail.alert, &detail.indicators).await?;
        let workflows = agents_repo::active_workflows(&self.db).await?;
        let (succeeded, failed, skipped) = enrichment_outcomes(&detail.indicators);
        let malice = detail.malice();
        let a = &detail.alert;
        let indicators: Vec<Value> = detail
            .indicators
            .iter()
            .map(|i| json!({
                "uuid": i.uuid, "type": i.kind, "value": i.value, "malice": i.malice, "malice_source": i.malice_source,
                "first_seen": i.first_seen, "last_seen": i.last_seen, "is_enriched": i.is_enriched,
                "enrichment_results": strip_raw(i.enrichment_results.as_ref().map(|j| &j.0)),
            }))
            .collect();
        let rule = detail.detection_rule.as_ref().map(|r| json!({
            "uuid": r.uuid, "name": r.name, "source_rule_id": r.source_rule_id, "source_name": r.source_name, "severity": r.severity,
            "is_active": r.is_active, "mitre_tactics": r.mitre_tactics.0, "mitre_techniques": r.mitre_techniques.0,
            "mitre_subtechniques": r.mitre_subtechniques.0, "data_sources": r.data_sources.0, "run_frequency": r.run_frequency,
            "created_by": r.created_by, "documentation": r.documentation, "created_at": r.created_at, "updated_at": r.updated_at,
        }));
        let documents: Vec<Value> = documents
            .iter()
            .map(|d| {
                let mut view = document_view(d, true);
                if let Value::Object(map) = &mut view {
                    map.remove("targeting_rules");
                }
                view
            })
            .collect();
        let payload = json!({
            "event": "alert.enriched",
            "alert": {
                "uuid": a.uuid, "title": a.title, "description": a.description, "severity": a.severity, "source_name": a.source_name,
                "status": a.status, "malice": malice, "occurred_at": a.occurred_at, "ingested_at": a.ingested_at,
                "enriched_at": a.enriched_at, "is_enriched": a.is_enriched, "tags": a.tags.0,
                "close_classification": a.close_classification, "acknowledged_at": a.acknowledged_at, "triaged_at": a.triaged_at,
                "closed_at": a.closed_at, "agent_findings": a.agent_findings.as_ref().map(|j| j.0.clone()).unwrap_or(json!([])),
                "created_at": a.created_at, "updated_at": a.updated_at,
                "_metadata": {
                    "generated_at": calseta_store::now(), "alert_source": a.source_name, "indicator_count": indicators.len(),
                    "enrichment": {"succeeded": succeeded, "failed": failed, "skipped": skipped, "enriched_at": a.enriched_at},
                    "detection_rule_matched": a.detection_rule_id.is_some(), "context_documents_applied": documents.len(),
                },
            },
            "indicators": indicators,
            "detection_rule": rule,
            "past_alerts": past,
            "context_documents": documents,
            "workflows": workflows,
            "calseta_api_base_url": self.agents.api_base_url(),
        });
        Ok((payload, detail.alert))
    }
}

/// Handler of [`DISPATCH_ALERT`].
pub struct DispatchAlert {
    pub builder: PayloadBuilder,
}

#[async_trait::async_trait]
impl JobHandler for DispatchAlert {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let Some(alert_uuid) = ctx.payload["alert_uuid"].as_str().and_then(|s| Uuid::parse_str(s).ok())
        else {
            return Err(JobFailure::permanent("payload has no alert_uuid"));
        };
        let only = ctx.payload["agent_uuid"].as_str().and_then(|s| Uuid::parse_str(s).ok());
        let detail = match self.builder.alerts.detail(alert_uuid).await {
            Ok(detail) => detail,
            Err(ServiceError::NotFound(_)) => return Ok(()),
            Err(e) => return Err(JobFailure::retryable(e)),
        };
        let deliveries = self.builder.deliveries(detail, only).await.map_err(JobFailure::retryable)?;
        let mut tx = ctx.begin_fenced().await?;
        deliveries.enqueue(&mut tx).await.map_err(JobFailure::retryable)?;
        ctx.finish(tx).await
    }
}

/// Handler of [`DELIVER_WEBHOOK`].
pub struct DeliverWebhook {
    pub agents: Arc<AgentService>,
}

#[async_trait::async_trait]
impl JobHandler for DeliverWebhook {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let ids = (
            ctx.payload["alert_uuid"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
            ctx.payload["agent_uuid"].as_str().and_then(|s| Uuid::parse_str(s).ok()),
        );
        let (Some(alert_uuid), Some(agent_uuid)) = ids else {
            return Err(JobFailure::permanent("payload lacks alert_uuid/agent_uuid"));
        };
        let delivery_id = ctx.payload["delivery_id"].as_str().unwrap_or_default().to_string();
        // Deleted since the dispatch: nothing to deliver, or nowhere to deliver it.
        let Ok(agent) = self.agents.get(agent_uuid).await else { return Ok(()) };
        let Some(alert) =
            calseta_store::alerts::get(ctx.db(), alert_uuid).await.map_err(JobFailure::retryable)?
        else {
            return Ok(());
        };
        let started = calseta_store::now();
        let outcome = self.agents.send(&agent, &delivery_id, &ctx.payload["body"]).await;
        let (status, code, body, error) = match &outcome {
            Ok(sent) if sent.success() => ("success", sent.status, sent.body.clone(), None),
            Ok(sent) => {
                ("failed", sent.status, sent.body.clone(), Some(format!("HTTP {}", sent.status.unwrap_or(0))))
            }
            Err(SendFailure::Timeout) => ("timeout", None, Value::Null, Some(SendFailure::Timeout.message())),
            Err(other) => ("failed", None, Value::Null, Some(other.message())),
        };
        let blocked = matches!(outcome, Err(SendFailure::Blocked(_)));
        if !blocked {
            let run = NewRun {
                agent_id: agent.id,
                alert_id: alert.id,
                delivery_id: delivery_id.clone(),
                endpoint_url: agent.endpoint_url.clone(),
                status_code: code.map(i32::from),
                response_body: (!body.is_null()).then_some(body),
                status: status.into(),
                attempt: i32::try_from(ctx.attempt).unwrap_or(1),
                error_message: error.clone(),
                started_at: started,
            };
            agents_repo::record_run(ctx.db(), &run).await.map_err(JobFailure::retryable)?;
        }
        let last_attempt = blocked || ctx.attempt >= ctx.max_attempts;
        if status == "success" || last_attempt {
            let mut tx = ctx.begin_fenced().await?;
            let refs = json!({"agent_name": agent.name, "agent_uuid": agent.uuid, "status": if blocked { "blocked" } else { status },
                "status_code": code, "attempt_count": ctx.attempt, "delivery_id": delivery_id, "error": error});
            activity::record(&mut tx, &Actor::system(), "agent_webhook_dispatched", Some(alert.id), refs)
                .await
                .map_err(JobFailure::retryable)?;
            if status == "success" {
                return ctx.finish(tx).await;
            }
            tx.commit().await.map_err(JobFailure::retryable)?;
            return Err(JobFailure::permanent(error.unwrap_or_else(|| "delivery failed".into())));
        }
        Err(JobFailure::retryable(error.unwrap_or_else(|| "delivery failed".into())))
    }
}
