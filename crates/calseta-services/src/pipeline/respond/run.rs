//! The `execute_workflow_run` handler: runs one queued run in the sandbox and records it.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::workflows::{RunState, TriggerContext};
use calseta_jobs::{JobContext, JobFailure, JobHandler};
use calseta_store::workflow_runs::{self as runs, RunResult};
use calseta_store::{alerts, indicators, workflow_approvals, workflows};
use calseta_workflows::{RunLimits, RunRequest, RunStatus};
use serde_json::{Value, json};

use super::host::{PlatformHost, WorkflowSettings};
use super::notify::ApprovalSettings;
use crate::audit::{self, Actor};
use crate::pipeline::kinds::{ApprovalEvent, ExecuteWorkflowRunJob, NotifyApprovalJob};
use crate::platform::outbound::OutboundClient;
use crate::platform::workflow_runtime::LazyRuntime;
use crate::resources::workflows::{SecretGrants, WorkflowService};

/// Runs queued workflow runs.
pub struct ExecuteWorkflowRun {
    pub(crate) runtime: Arc<LazyRuntime>,
    pub(crate) http: OutboundClient,
    pub(crate) workflows: Arc<WorkflowService>,
    pub(crate) settings: Arc<WorkflowSettings>,
    pub(crate) approvals: Arc<ApprovalSettings>,
}

#[async_trait::async_trait]
impl JobHandler for ExecuteWorkflowRun {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let job: ExecuteWorkflowRunJob = ctx.payload_as()?;
        let db = ctx.db();
        let Some(run) = runs::get(db, job.run_uuid).await? else {
            return Ok(());
        };
        if run.status == RunState::Running {
            // Started by an attempt that never finished (its worker stopped): a response action
            // that may have run halfway is not run again unasked.
            runs::fail_unfinished(db, run.uuid, INTERRUPTED).await?;
            return Ok(());
        }
        let Some(workflow) = workflows::get_by_id(db, run.workflow_id).await? else {
            return Ok(());
        };
        // A run is executed once: only the attempt that moves it from queued to running runs it.
        if !runs::claim(db, run.id).await? {
            return Ok(());
        }
        let trigger = TriggerContext::from_stored(run.trigger_context.as_ref().map(|c| &c.0));
        let (kind, value) = (trigger.indicator_type.clone(), trigger.indicator_value.clone());
        let started_at = calseta_store::now();
        // Requests queued before execute normalized their value are looked up as ingest stores it.
        let stored = calseta_core::indicators::IndicatorType::parse(&kind)
            .ok()
            .and_then(|k| calseta_core::indicators::normalize(k, &value).ok())
            .unwrap_or_else(|| value.clone());
        let indicator = indicators::find(db, &kind, &stored).await?;
        let alert = match trigger.alert_uuid {
            Some(uuid) => alerts::get(db, uuid).await?,
            None => None,
        };
        let approved_version = trigger.code_version;
        // The same rule as at request time, checked again now: it may have changed since.
        let refusal = if let Some(refusal) =
            calseta_core::workflows::refusal_to_run(&workflow.name, workflow.state, workflow.is_active)
        {
            Some(refusal)
        } else if approved_version.is_some_and(|v| v != workflow.code_version) {
            Some(format!(
                "The workflow's code changed after it was requested (version {} was approved, {} is current); request it again",
                approved_version.unwrap_or_default(),
                workflow.code_version
            ))
        } else if indicator.is_none() {
            Some(format!("Indicator ({kind}, '{value}') not found in database"))
        } else {
            None
        };
        let outcome = match (indicator, &refusal) {
            (Some(_), Some(_)) | (None, _) => None,
            (Some(indicator), None) => {
                let request = RunRequest {
                    code: workflow.code.clone(),
                    indicator: json!({
                        "uuid": indicator.uuid, "type": indicator.kind, "value": indicator.value,
                        "malice": indicator.malice, "is_enriched": indicator.is_enriched,
                        "enrichment_results": indicator.enrichment_results.map(|r| r.0),
                        "first_seen": indicator.first_seen, "last_seen": indicator.last_seen,
                        "created_at": indicator.created_at, "updated_at": indicator.updated_at,
                    }),
                    alert: alert.map(|a| {
                        json!({"uuid": a.uuid, "title": a.title, "severity": a.severity, "source_name": a.source_name,
                               "status": a.status, "occurred_at": a.occurred_at, "tags": a.tags.0,
                               "raw_payload": serde_json::from_str::<Value>(&a.raw_payload).unwrap_or(Value::Null)})
                    }),
                    integrations: self.settings.integrations(),
                    limits: RunLimits {
                        memory_mb: self.settings.max_memory_mb.max(64),
                        timeout: Duration::from_secs(u64::try_from(workflow.timeout_seconds.max(1)).unwrap_or(60)),
                    },
                };
                let host = PlatformHost {
                    http: self.http.clone(),
                    workflows: self.workflows.clone(),
                    settings: self.settings.clone(),
                    timeout: request.limits.timeout,
                    // From the row whose code runs: grants confirmed for another version are not served.
                    grants: SecretGrants::of(&workflow),
                };
                Some(self.runtime.get().await.run(request, &host).await)
            }
        };
        let (status, message, data, log_output, duration_ms) = match outcome {
            None => (RunState::Failed, refusal.unwrap_or_default(), json!({}), String::new(), 0),
            Some(o) => {
                let status = match o.status {
                    RunStatus::Success => RunState::Success,
                    RunStatus::TimedOut => RunState::TimedOut,
                    RunStatus::Failed => RunState::Failed,
                };
                // What the code printed is kept with its log (bounded by the runtime).
                let mut log = o.log_output;
                if !o.stderr.trim().is_empty() {
                    // What the code printed: its content is the workflow's, as the source says.
                    let entry = json!({"level": "info", "message": "output", "extra": {"stderr": o.stderr},
                                       "source": "workflow"});
                    log = if log.is_empty() { entry.to_string() } else { format!("{log}\n{entry}") };
                }
                (status, o.message, o.data, log, i32::try_from(o.duration.as_millis()).unwrap_or(i32::MAX))
            }
        };
        let result = json!({"success": status == RunState::Success, "message": message, "data": data});
        let finished = RunResult {
            status,
            log_output,
            result: result.clone(),
            duration_ms,
            started_at,
            completed_at: calseta_store::now(),
        };
        let approval = workflow_approvals::for_run(db, run.id).await?;
        let mut tx = ctx.begin_fenced().await?;
        runs::finish(&mut tx, run.id, &finished).await?;
        workflow_approvals::set_result_for_run(&mut tx, run.id, &result).await?;
        if let Some(approval) = approval {
            // The approvers hear how the run they approved went, in the request's thread.
            let job = NotifyApprovalJob {
                approval_uuid: approval.uuid,
                event: ApprovalEvent::Executed,
                decide_token: None,
            };
            super::queue_notification(&mut tx, &self.approvals, job).await?;
        }
        let alert_id = trigger.alert_id;
        let refs = json!({"workflow_uuid": workflow.uuid, "workflow_name": workflow.name, "run_uuid": run.uuid,
                          "status": status, "trigger_type": run.trigger_type, "indicator_type": kind,
                          "indicator_value": value, "message": message});
        audit::record_workflow(&mut tx, &Actor::system(), "workflow_executed", alert_id, workflow.id, refs)
            .await?;
        ctx.finish(tx).await
    }

    async fn on_dead(&self, db: &calseta_store::Db, payload: &Value, error: &str) {
        let Ok(job) = serde_json::from_value::<ExecuteWorkflowRunJob>(payload.clone()) else { return };
        let message = format!("The run could not be recorded: {error}");
        if let Err(e) = runs::fail_unfinished(db, job.run_uuid, &message).await {
            tracing::warn!(run = %job.run_uuid, error = %e, "cannot mark a dead workflow run failed");
        }
    }
}

/// Why a run that an earlier attempt started ends failed.
const INTERRUPTED: &str = "The run was interrupted before it finished; it is not run again";
