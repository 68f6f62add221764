//! The respond stage: an agent or analyst executes a workflow; the approval gate holds it for a
//! human decision when the workflow's mode asks for one; an approved or ungated execution becomes
//! a queued run, executed once by [`run::ExecuteWorkflowRun`] in the sandbox. Approvers are told
//! by [`notify`] and answer over REST, the browser link or Slack ([`slack`]); requests nobody
//! decides in time are swept by [`expiry`].

pub mod expiry;
pub mod host;
pub mod notify;
pub mod run;
pub mod slack;
pub mod test_mode;

use std::sync::Arc;

use calseta_core::api_keys::KeyType;
use calseta_core::indicators::IndicatorType;
use calseta_core::workflows::{ApprovalStatus, needs_approval};
use calseta_store::workflow_approvals::{self as approvals, ApprovalRow, NewApproval};
use calseta_store::workflow_runs::{self as runs, RunRow};
use calseta_store::{Db, alerts, workflows};
use chrono::{DateTime, Utc};
use serde_json::json;
use uuid::Uuid;

use crate::audit::{self, Actor};
use crate::pipeline::kinds::{self, ApprovalEvent, NotifyApprovalJob};
use crate::platform::crypto::EncryptionKey;
use crate::resources::workflows::not_found as workflow_not_found;
use crate::views::approval_inbox::{ApprovalInbox, ApprovalItem};
use crate::{FieldError, ServiceError};

/// `POST /v1/workflows/{uuid}/execute`.
#[derive(Debug, Clone)]
pub struct ExecuteRequest {
    /// One of the eight types.
    pub indicator_type: String,
    /// The indicator (as stored).
    pub indicator_value: String,
    /// The alert it acts for.
    pub alert_uuid: Option<Uuid>,
    /// Why (required of agent keys).
    pub reason: Option<String>,
    /// 0..1 (required of agent keys).
    pub confidence: Option<f64>,
}

/// Who executes.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The key's display prefix.
    pub key_prefix: String,
    /// An `agent` key, or any MCP caller (else `human`).
    pub by_agent: bool,
    /// `api` or `mcp`, for the activity log.
    pub actor_type: &'static str,
    /// An agent must always give a reason and a confidence (REST, as v1), or only when the
    /// workflow will ask a human (MCP's `execute_workflow`, as v1).
    pub explain_always: bool,
}

/// `Invalid` naming `reason` and `confidence` when missing (`why` completes the message).
fn explained(request: &ExecuteRequest, why: &str) -> Result<(), ServiceError> {
    let missing: Vec<FieldError> = [
        (request.reason.as_deref().is_none_or(|r| r.trim().is_empty()), "reason"),
        (request.confidence.is_none(), "confidence"),
    ]
    .into_iter()
    .filter(|(missing, _)| *missing)
    .map(|(_, field)| FieldError::body(field, format!("{field} {why}")))
    .collect();
    ServiceError::check(missing)
}

/// What an execute request became.
#[derive(Debug, Clone, PartialEq)]
pub enum Execution {
    /// A run is queued.
    Queued {
        /// The run.
        run_uuid: Uuid,
    },
    /// A human must decide first.
    PendingApproval {
        /// The request.
        approval_uuid: Uuid,
        /// When it expires.
        expires_at: DateTime<Utc>,
    },
}

/// A decision on an approval request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run it.
    Approve,
    /// Do not.
    Reject,
    /// Withdrawn before anyone decided (Calseta addition).
    Cancel,
}

impl Decision {
    /// The status a decision leaves.
    fn status(self) -> ApprovalStatus {
        match self {
            Decision::Approve => ApprovalStatus::Approved,
            Decision::Reject => ApprovalStatus::Rejected,
            Decision::Cancel => ApprovalStatus::Cancelled,
        }
    }
}

/// Who decides an approval request, and how.
#[derive(Debug, Clone, Copy)]
pub struct Decider<'a> {
    /// Who decided, as recorded on the request (a key prefix, a Slack user, `browser`).
    pub responder_id: &'a str,
    /// The actor of the activity event.
    pub actor: &'a Actor,
    /// An `agent` key (or an MCP caller with one): refused, the gate is a human decision.
    pub by_agent: bool,
    /// The channel the decision came through (`rest`, `mcp`, `console`, `browser`, `slack`).
    pub via: &'a str,
    /// The approver's note, recorded in the activity log.
    pub note: Option<&'a str>,
    /// Four eyes: the key that requested the execution may not approve it (the console). REST
    /// and MCP keep v1's behaviour, where it may.
    pub four_eyes: bool,
}

fn approval_not_found(uuid: Uuid) -> ServiceError {
    ServiceError::NotFound(format!("Approval request {uuid} not found"))
}

/// Queues a notification of `event` inside `tx` when a notifier is configured.
pub(crate) async fn queue_notification(
    tx: &mut calseta_store::Tx,
    settings: &notify::ApprovalSettings,
    job: NotifyApprovalJob,
) -> Result<(), ServiceError> {
    if settings.notifier != notify::NotifierKind::None {
        kinds::enqueue_approval_notification(tx, &job).await?;
    }
    Ok(())
}

/// Executions, approvals and runs.
pub struct Respond {
    db: Db,
    settings: Arc<notify::ApprovalSettings>,
    key: EncryptionKey,
}

impl Respond {
    /// The stage over `db`, telling approvers as `settings` say; `key` encrypts the browser
    /// link's token on its way to the notifier.
    pub fn new(db: Db, settings: Arc<notify::ApprovalSettings>, key: EncryptionKey) -> Self {
        Respond { db, settings, key }
    }

    /// Executes a workflow: checks the request (v1's order), then queues a run or an approval.
    pub async fn execute(
        &self,
        workflow_uuid: Uuid,
        mut request: ExecuteRequest,
        caller: &Caller,
    ) -> Result<Execution, ServiceError> {
        let mut errors = Vec::new();
        match IndicatorType::parse(&request.indicator_type) {
            // The value is looked up as ingest stored it: `185.220.101[.]47` is `185.220.101.47`,
            // an email's case is not part of it. A value that is no such indicator is kept, and
            // the run reports it was not found (as v1).
            Ok(kind) => {
                if let Ok(value) = calseta_core::indicators::normalize(kind, &request.indicator_value) {
                    request.indicator_value = value;
                }
            }
            Err(e) => errors.push(FieldError::body("indicator_type", e.to_string())),
        }
        if request.indicator_value.trim().is_empty() {
            errors.push(FieldError::body("indicator_value", "indicator_value must not be empty"));
        }
        if request.confidence.is_some_and(|c| !(0.0..=1.0).contains(&c)) {
            errors.push(FieldError::body("confidence", "confidence must be between 0.0 and 1.0"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        if caller.by_agent && caller.explain_always {
            explained(&request, "is required for agent API keys")?;
        }
        let workflow = workflows::get(&self.db, workflow_uuid)
            .await?
            .ok_or_else(|| workflow_not_found(workflow_uuid))?;
        let mode = workflow.approval_mode;
        if caller.by_agent && !caller.explain_always && needs_approval(mode, true) {
            explained(&request, "is required when the workflow asks a human for approval")?;
        }
        if let Some(refusal) =
            calseta_core::workflows::refusal_to_run(&workflow.name, workflow.state, workflow.is_active)
        {
            return Err(ServiceError::refused("WORKFLOW_NOT_EXECUTABLE", refusal));
        }
        let alert = match request.alert_uuid {
            Some(uuid) => Some(
                alerts::get(&self.db, uuid)
                    .await?
                    .ok_or_else(|| ServiceError::NotFound(format!("Alert {uuid} not found")))?,
            ),
            None => None,
        };
        let trigger_type = if caller.by_agent { KeyType::Agent } else { KeyType::Human };
        let context = calseta_core::workflows::TriggerContext {
            indicator_type: request.indicator_type.clone(),
            indicator_value: request.indicator_value.clone(),
            alert_id: alert.as_ref().map(|a| a.id),
            alert_uuid: alert.as_ref().map(|a| a.uuid),
            // What an approver approves is this version of the code, and only it runs.
            code_version: Some(workflow.code_version),
        }
        .to_stored();
        let mut tx = self.db.begin().await?;
        let actor = Actor { actor_type: caller.actor_type, key_prefix: Some(caller.key_prefix.clone()) };
        let alert_id = alert.as_ref().map(|a| a.id);
        if needs_approval(mode, caller.by_agent) {
            let timeout = match workflow.approval_timeout_seconds {
                t if t > 0 => i64::from(t),
                _ => i64::from(self.settings.default_timeout_seconds),
            };
            let expires_at = calseta_store::now() + chrono::Duration::seconds(timeout.max(60));
            // 256 random bits, like an API key, so a plain digest is what is kept.
            let token: [u8; 32] = rand::random();
            let token = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, token);
            let approval = NewApproval {
                workflow_id: workflow.id,
                trigger_type,
                trigger_agent_key_prefix: caller.key_prefix.clone(),
                trigger_context: context,
                reason: request.reason.clone().unwrap_or_default(),
                confidence: request.confidence.unwrap_or(0.0),
                notifier_type: self.settings.notifier.as_str().into(),
                notifier_channel: workflow.approval_channel.clone(),
                expires_at,
                // The browser link's token is kept only as a digest.
                decide_token_digest: calseta_core::api_keys::key_digest(&token),
            };
            let approval_uuid = approvals::insert(&mut tx, &approval).await?;
            let refs = json!({"workflow_uuid": workflow.uuid, "workflow_name": workflow.name, "approval_uuid": approval_uuid,
                              "trigger_type": trigger_type, "reason": approval.reason, "confidence": approval.confidence,
                              "risk_level": workflow.risk_level, "expires_at": expires_at});
            audit::record_workflow(
                &mut tx,
                &actor,
                "workflow_approval_requested",
                alert_id,
                workflow.id,
                refs,
            )
            .await?;
            let decide_token = Some(self.key.encrypt(token.as_bytes())?);
            let job = NotifyApprovalJob { approval_uuid, event: ApprovalEvent::Requested, decide_token };
            queue_notification(&mut tx, &self.settings, job).await?;
            tx.commit().await?;
            return Ok(Execution::PendingApproval { approval_uuid, expires_at });
        }
        let run =
            runs::insert_queued(&mut tx, workflow.id, trigger_type, &context, workflow.code_version).await?;
        kinds::enqueue_workflow_run(&mut tx, run.uuid).await?;
        tx.commit().await?;
        Ok(Execution::Queued { run_uuid: run.uuid })
    }

    /// A run.
    pub async fn run(&self, uuid: Uuid) -> Result<RunRow, ServiceError> {
        runs::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound(format!("Workflow run {uuid} not found")))
    }

    /// One page of runs, newest first (of one workflow and/or one status).
    pub async fn runs(
        &self,
        workflow_uuid: Option<Uuid>,
        status: Option<&str>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<RunRow>, i64), ServiceError> {
        let workflow_id = self.workflow_id(workflow_uuid).await?;
        Ok(runs::list(&self.db, workflow_id, status, limit, offset).await?)
    }

    /// The newest run of each workflow in `workflows` (by workflow id; a workflow that never ran
    /// is absent): what a list of workflows shows as its last run.
    pub async fn latest_runs(
        &self,
        workflows: &[calseta_store::workflows::WorkflowRow],
    ) -> Result<std::collections::HashMap<i64, RunRow>, ServiceError> {
        let ids: Vec<i64> = workflows.iter().map(|w| w.id).collect();
        Ok(runs::latest_of(&self.db, &ids).await?.into_iter().map(|r| (r.workflow_id, r)).collect())
    }

    async fn workflow_id(&self, uuid: Option<Uuid>) -> Result<Option<i64>, ServiceError> {
        let Some(uuid) = uuid else { return Ok(None) };
        let row = workflows::get(&self.db, uuid).await?.ok_or_else(|| workflow_not_found(uuid))?;
        Ok(Some(row.id))
    }

    /// One page of approval requests, newest first (pending ones past expiry read as expired;
    /// reading changes nothing).
    pub async fn approvals(
        &self,
        status: Option<&str>,
        workflow_uuid: Option<Uuid>,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ApprovalRow>, i64), ServiceError> {
        let workflow_id = self.workflow_id(workflow_uuid).await?;
        Ok(approvals::list(&self.db, calseta_store::now(), status, workflow_id, limit, offset).await?)
    }

    /// The approval inbox: up to `pending_limit` requests waiting for a decision (the soonest to
    /// expire first) and the `settled_limit` newest settled ones.
    pub async fn inbox(&self, pending_limit: i64, settled_limit: i64) -> Result<ApprovalInbox, ServiceError> {
        let now = calseta_store::now();
        let pending_status = ApprovalStatus::Pending.to_string();
        let (mut pending, pending_total) =
            approvals::list(&self.db, now, Some(&pending_status), None, pending_limit, 0).await?;
        pending.sort_by_key(|r| (r.expires_at, r.id));
        let settled = approvals::list_settled(&self.db, now, settled_limit).await?;
        Ok(ApprovalInbox {
            pending: pending.into_iter().map(ApprovalItem::from).collect(),
            pending_total,
            settled: settled.into_iter().map(ApprovalItem::from).collect(),
        })
    }

    /// An approval request (past its expiry it reads as expired).
    pub async fn approval(&self, uuid: Uuid) -> Result<ApprovalRow, ServiceError> {
        let row = approvals::get(&self.db, uuid).await?.ok_or_else(|| approval_not_found(uuid))?;
        Ok(row.as_of(calseta_store::now()))
    }

    /// The request a browser link names, when the link's token is its token; nothing changes.
    pub async fn approval_by_token(&self, uuid: Uuid, token: &str) -> Result<ApprovalRow, ServiceError> {
        let row = approvals::get(&self.db, uuid).await?.ok_or_else(|| approval_not_found(uuid))?;
        let given = calseta_core::api_keys::key_digest(token);
        let stored = row.decide_token_digest.as_deref().unwrap_or_default();
        // Digests of equal length, compared in constant time.
        let matches = !stored.is_empty()
            && bool::from(subtle::ConstantTimeEq::ct_eq(given.as_bytes(), stored.as_bytes()));
        if !matches {
            return Err(ServiceError::forbidden("INVALID_APPROVAL_TOKEN", "Invalid approval token."));
        }
        Ok(row.as_of(calseta_store::now()))
    }

    /// Decides a request through its browser link (the token is checked first).
    pub async fn decide_by_token(
        &self,
        uuid: Uuid,
        token: &str,
        decision: Decision,
    ) -> Result<ApprovalRow, ServiceError> {
        self.approval_by_token(uuid, token).await?;
        let actor = Actor { actor_type: "api", key_prefix: None };
        let by = Decider {
            responder_id: "browser",
            actor: &actor,
            by_agent: false,
            via: "browser",
            note: None,
            four_eyes: false,
        };
        self.decide(uuid, decision, by).await
    }

    /// Decides a pending request, once: an approval queues the run in the same transaction, so a
    /// decision delivered twice executes nothing twice. Under [`Decider::four_eyes`] the key that
    /// requested the execution cannot approve it; it may still reject or cancel its own request.
    pub async fn decide(
        &self,
        uuid: Uuid,
        decision: Decision,
        by: Decider<'_>,
    ) -> Result<ApprovalRow, ServiceError> {
        let Decider { responder_id, actor, by_agent, via, note, four_eyes } = by;
        if by_agent {
            // The gate is a human decision: an agent (the requester or another) cannot pass it.
            return Err(ServiceError::forbidden(
                "APPROVAL_BY_AGENT",
                "Approval requests are decided by people, not agent keys.",
            ));
        }
        let request = approvals::get(&self.db, uuid).await?.ok_or_else(|| approval_not_found(uuid))?;
        if four_eyes
            && decision == Decision::Approve
            && actor.key_prefix.as_deref().is_some_and(|k| k == request.trigger_agent_key_prefix)
        {
            return Err(ServiceError::forbidden(
                "APPROVAL_BY_REQUESTER",
                "The key that requested this execution cannot approve it; another person must.",
            ));
        }
        let now = calseta_store::now();
        let status = decision.status();
        let mut tx = self.db.begin().await?;
        if !approvals::decide(&mut tx, request.id, status, Some(responder_id), now).await? {
            drop(tx);
            let current = approvals::get(&self.db, uuid).await?.ok_or_else(|| approval_not_found(uuid))?;
            let current = current.as_of(now);
            if current.status == ApprovalStatus::Expired {
                // The sweep records and announces the expiry; the decision only learns of it.
                return Err(ServiceError::conflict(
                    "APPROVAL_EXPIRED",
                    format!("Approval request {uuid} has expired"),
                ));
            }
            return Err(ServiceError::conflict(
                "APPROVAL_ALREADY_DECIDED",
                format!("Approval request {uuid} is already in terminal status '{}'", current.status),
            ));
        }
        let context = request.trigger_context.as_ref().map(|c| c.0.clone()).unwrap_or_default();
        let mut run_uuid = None;
        if decision == Decision::Approve {
            let workflow = workflows::get_by_id(&self.db, request.workflow_id)
                .await?
                .ok_or_else(|| approval_not_found(uuid))?;
            let run = runs::insert_queued(
                &mut tx,
                workflow.id,
                request.trigger_type,
                &context,
                workflow.code_version,
            )
            .await?;
            approvals::set_run(&mut tx, request.id, run.id).await?;
            kinds::enqueue_workflow_run(&mut tx, run.uuid).await?;
            run_uuid = Some(run.uuid);
        }
        let refs = json!({"workflow_uuid": request.workflow_uuid, "workflow_name": request.workflow_name,
                          "approval_uuid": uuid, "decision": status, "responder_id": responder_id, "run_uuid": run_uuid,
                          "via": via, "note": note.map(str::trim).filter(|n| !n.is_empty())});
        let alert_id = calseta_core::workflows::TriggerContext::from_stored(Some(&context)).alert_id;
        audit::record_workflow(
            &mut tx,
            actor,
            "workflow_approval_responded",
            alert_id,
            request.workflow_id,
            refs,
        )
        .await?;
        let job =
            NotifyApprovalJob { approval_uuid: uuid, event: ApprovalEvent::Decided, decide_token: None };
        queue_notification(&mut tx, &self.settings, job).await?;
        tx.commit().await?;
        approvals::get(&self.db, uuid).await?.ok_or_else(|| approval_not_found(uuid))
    }
}
