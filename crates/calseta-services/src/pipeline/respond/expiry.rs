//! The `expire_approvals` sweep: pending requests past their expiry become `expired`, each with a
//! `workflow_approval_expired` activity event and a notification, so approvers learn that nothing
//! will run. Reads only ever show such a request as expired; this is the one place that writes it.

use std::sync::Arc;

use calseta_jobs::{JobContext, JobFailure, JobHandler};
use calseta_store::workflow_approvals as approvals;
use serde_json::json;

use super::notify::ApprovalSettings;
use crate::audit::{self, Actor};
use crate::pipeline::kinds::{ApprovalEvent, NotifyApprovalJob};

/// Requests expired per transaction.
const BATCH: i64 = 100;

/// How long an accepted Slack signature is remembered: past Slack's five-minute window, a replay
/// is refused by its timestamp anyway.
const SLACK_SIGNATURE_MEMORY: chrono::Duration = chrono::Duration::minutes(10);

/// Sweeps expired approval requests.
pub struct ExpireApprovals {
    pub(crate) settings: Arc<ApprovalSettings>,
}

#[async_trait::async_trait]
impl JobHandler for ExpireApprovals {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let db = ctx.db();
        let now = calseta_store::now();
        loop {
            let due = approvals::due_for_expiry(db, now, BATCH).await?;
            let full = due.len() as i64 == BATCH;
            let mut tx = db.begin().await?;
            for approval in due {
                // A decision that came first keeps its outcome.
                if !approvals::expire(&mut tx, approval.id, now).await? {
                    continue;
                }
                let context = calseta_core::workflows::TriggerContext::from_stored(
                    approval.trigger_context.as_ref().map(|c| &c.0),
                );
                let refs = json!({"workflow_uuid": approval.workflow_uuid, "workflow_name": approval.workflow_name,
                                  "approval_uuid": approval.uuid, "expires_at": approval.expires_at,
                                  "trigger_type": approval.trigger_type});
                audit::record_workflow(
                    &mut tx,
                    &Actor::system(),
                    "workflow_approval_expired",
                    context.alert_id,
                    approval.workflow_id,
                    refs,
                )
                .await?;
                let job = NotifyApprovalJob {
                    approval_uuid: approval.uuid,
                    event: ApprovalEvent::Expired,
                    decide_token: None,
                };
                super::queue_notification(&mut tx, &self.settings, job).await?;
            }
            tx.commit().await?;
            if !full {
                break;
            }
        }
        approvals::purge_slack_signatures(db, now - SLACK_SIGNATURE_MEMORY).await?;
        Ok(())
    }
}
