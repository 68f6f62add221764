//! The `workflow_approval_requests` table: a pending execution waiting for a human decision.

use calseta_core::api_keys::KeyType;
use calseta_core::workflows::{ApprovalStatus, RiskLevel};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError, Tx};

/// A stored approval request (with its workflow's name and public id).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApprovalRow {
    pub id: i64,
    pub uuid: Uuid,
    pub workflow_id: i64,
    pub workflow_uuid: Uuid,
    pub workflow_name: String,
    /// The workflow's risk level (shown to approvers).
    #[sqlx(try_from = "String")]
    pub workflow_risk_level: RiskLevel,
    pub workflow_run_id: Option<i64>,
    #[sqlx(try_from = "String")]
    pub trigger_type: KeyType,
    pub trigger_agent_key_prefix: String,
    pub trigger_context: Option<Json<Value>>,
    pub reason: String,
    pub confidence: f64,
    pub notifier_type: String,
    pub notifier_channel: Option<String>,
    #[sqlx(try_from = "String")]
    pub status: ApprovalStatus,
    pub responder_id: Option<String>,
    pub responded_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub execution_result: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// SHA-256 of the browser link's token (the token itself is never stored).
    pub decide_token_digest: Option<String>,
    /// The notifier's id of the approval message (Slack's `ts`).
    pub external_message_id: Option<String>,
    /// The channel the message was posted in (Slack's channel id).
    pub external_channel_id: Option<String>,
}

impl ApprovalRow {
    /// Reads a pending request past its expiry as `expired` (the sweep writes it, and tells the
    /// approvers; a read never changes state).
    pub fn as_of(mut self, now: DateTime<Utc>) -> Self {
        if self.status == ApprovalStatus::Pending && self.expires_at < now {
            self.status = ApprovalStatus::Expired;
        }
        self
    }
}

const COLUMNS: &str = "a.id, a.uuid, a.workflow_id, w.uuid AS workflow_uuid, w.name AS workflow_name, \
    w.risk_level AS workflow_risk_level, a.workflow_run_id, \
    a.trigger_type, a.trigger_agent_key_prefix, a.trigger_context, a.reason, a.confidence, a.notifier_type, \
    a.notifier_channel, a.status, a.responder_id, a.responded_at, a.expires_at, a.execution_result, a.created_at, \
    a.updated_at, a.decide_token_digest, a.external_message_id, a.external_channel_id";

/// A new request.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub workflow_id: i64,
    pub trigger_type: KeyType,
    pub trigger_agent_key_prefix: String,
    pub trigger_context: Value,
    pub reason: String,
    pub confidence: f64,
    pub notifier_type: String,
    pub notifier_channel: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub decide_token_digest: String,
}

/// Inserts a pending request inside `tx`; its public id.
pub async fn insert(tx: &mut Tx, a: &NewApproval) -> Result<Uuid, StoreError> {
    let uuid = Uuid::now_v7();
    let now = crate::now();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO workflow_approval_requests (uuid, workflow_id, trigger_type, trigger_agent_key_prefix, \
         trigger_context, reason, confidence, notifier_type, notifier_channel, status, expires_at, \
         decide_token_digest, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'pending', $10, $11, $12, $12)",
    )
    .bind(uuid)
    .bind(a.workflow_id)
    .bind(a.trigger_type.as_str())
    .bind(&a.trigger_agent_key_prefix)
    .bind(Json(&a.trigger_context))
    .bind(&a.reason)
    .bind(a.confidence)
    .bind(&a.notifier_type)
    .bind(&a.notifier_channel)
    .bind(a.expires_at)
    .bind(&a.decide_token_digest)
    .bind(now)
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    Ok(uuid)
}

/// A request by public id, as stored.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id WHERE a.uuid = $1"
    );
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApprovalRow>(&sql).bind(uuid).fetch_optional(p).await)?,
    )
}

/// The request that started run `run_id`, if an approval did.
pub async fn for_run(db: &Db, run_id: i64) -> Result<Option<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id \
         WHERE a.workflow_run_id = $1"
    );
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApprovalRow>(&sql).bind(run_id).fetch_optional(p).await)?,
    )
}

/// Up to `limit` pending requests past their expiry, oldest expiry first (for the sweep).
pub async fn due_for_expiry(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id \
         WHERE a.status = 'pending' AND a.expires_at < $1 ORDER BY a.expires_at, a.id LIMIT $2"
    );
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApprovalRow>(&sql).bind(now).bind(limit).fetch_all(p).await)?,
    )
}

/// Marks a pending request past its expiry `expired` inside `tx`: `true` when this call did
/// (a decision or another sweep that came first leaves it as it is).
pub async fn expire(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = on_tx!(tx, c => sqlx::query(
        "UPDATE workflow_approval_requests SET status = 'expired', updated_at = $2 \
         WHERE id = $1 AND status = 'pending' AND expires_at < $2",
    )
    .bind(id)
    .bind(now)
    .execute(&mut *c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Records where the notifier posted the request's message.
pub async fn set_message(
    db: &Db,
    id: i64,
    external_message_id: &str,
    external_channel_id: Option<&str>,
) -> Result<(), StoreError> {
    on_write!(db, p => sqlx::query(
        "UPDATE workflow_approval_requests SET external_message_id = $2, external_channel_id = $3, updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(external_message_id)
    .bind(external_channel_id)
    .bind(crate::now())
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Remembers a Slack callback's signature: `true` the first time it is seen, `false` for a replay.
pub async fn accept_slack_signature(db: &Db, digest: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query(
        "INSERT INTO slack_callback_signatures (signature_digest, received_at) VALUES ($1, $2) \
         ON CONFLICT (signature_digest) DO NOTHING",
    )
    .bind(digest)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Forgets Slack signatures received before `before` (their timestamps are refused by then anyway).
pub async fn purge_slack_signatures(db: &Db, before: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, p => sqlx::query("DELETE FROM slack_callback_signatures WHERE received_at < $1")
        .bind(before)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?)
}

/// Decides a pending, unexpired request inside `tx`: `true` when this call decided it (a second
/// decision, or one after expiry, changes nothing).
pub async fn decide(
    tx: &mut Tx,
    id: i64,
    status: ApprovalStatus,
    responder_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, c => sqlx::query(
        "UPDATE workflow_approval_requests SET status = $2, responder_id = $3, responded_at = $4, updated_at = $4 \
         WHERE id = $1 AND status = 'pending' AND expires_at >= $4",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(responder_id)
    .bind(now)
    .execute(&mut *c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Links the run an approval started, inside `tx`.
pub async fn set_run(tx: &mut Tx, id: i64, run_id: i64) -> Result<(), StoreError> {
    on_tx!(tx, c => sqlx::query("UPDATE workflow_approval_requests SET workflow_run_id = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(run_id)
        .bind(crate::now())
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Stores the result of the run an approval started, inside `tx`.
pub async fn set_result_for_run(tx: &mut Tx, run_id: i64, result: &Value) -> Result<(), StoreError> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE workflow_approval_requests SET execution_result = $2, updated_at = $3 WHERE workflow_run_id = $1",
    )
    .bind(run_id)
    .bind(Json(result))
    .bind(crate::now())
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// The newest requests no longer waiting for a decision (decided, cancelled or past expiry),
/// newest first: the console inbox's history.
pub async fn list_settled(db: &Db, now: DateTime<Utc>, limit: i64) -> Result<Vec<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id \
         WHERE a.status <> 'pending' OR a.expires_at < $1 ORDER BY a.created_at DESC, a.id DESC LIMIT $2"
    );
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApprovalRow>(&sql).bind(now).bind(limit).fetch_all(p).await)?;
    Ok(rows.into_iter().map(|r| r.as_of(now)).collect())
}

/// One page of requests, newest first, optionally of one status and one workflow; a pending
/// request past its expiry at `now` counts (and reads) as `expired`.
pub async fn list(
    db: &Db,
    now: DateTime<Utc>,
    status: Option<&str>,
    workflow_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ApprovalRow>, i64), StoreError> {
    use crate::sql::Arg;
    let mut b = crate::sql::Params::default();
    let mut clauses = Vec::new();
    match status.map(|s| (s, ApprovalStatus::parse(s))) {
        Some((_, Ok(ApprovalStatus::Pending))) => {
            clauses.push(format!("a.status = 'pending' AND a.expires_at >= {}", b.arg(Arg::Time(now))));
        }
        Some((_, Ok(ApprovalStatus::Expired))) => clauses.push(format!(
            "(a.status = 'expired' OR (a.status = 'pending' AND a.expires_at < {}))",
            b.arg(Arg::Time(now))
        )),
        Some((status, _)) => clauses.push(format!("a.status = {}", b.arg(Arg::Text(status.to_string())))),
        None => {}
    }
    if let Some(id) = workflow_id {
        clauses.push(format!("a.workflow_id = {}", b.arg(Arg::I64(id))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM workflow_approval_requests a {where_sql}");
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id {where_sql} \
         ORDER BY a.created_at DESC, a.id DESC"
    );
    let (rows, total) = crate::sql::page::<ApprovalRow>(db, b, &sql, &count_sql, limit, offset).await?;
    Ok((rows.into_iter().map(|r| r.as_of(now)).collect(), total))
}
