//! The `workflow_approval_requests` table: a pending execution waiting for a human decision.

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
    pub workflow_run_id: Option<i64>,
    pub trigger_type: String,
    pub trigger_agent_key_prefix: String,
    pub trigger_context: Option<Json<Value>>,
    pub reason: String,
    pub confidence: f64,
    pub notifier_type: String,
    pub notifier_channel: Option<String>,
    pub status: String,
    pub responder_id: Option<String>,
    pub responded_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub execution_result: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "a.id, a.uuid, a.workflow_id, w.uuid AS workflow_uuid, w.name AS workflow_name, a.workflow_run_id, \
    a.trigger_type, a.trigger_agent_key_prefix, a.trigger_context, a.reason, a.confidence, a.notifier_type, \
    a.notifier_channel, a.status, a.responder_id, a.responded_at, a.expires_at, a.execution_result, a.created_at, \
    a.updated_at";

/// A new request.
#[derive(Debug, Clone)]
pub struct NewApproval {
    pub workflow_id: i64,
    pub trigger_type: String,
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
    .bind(&a.trigger_type)
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

/// A request by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<ApprovalRow>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_approval_requests a JOIN workflows w ON w.id = a.workflow_id WHERE a.uuid = $1"
    );
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApprovalRow>(&sql).bind(uuid).fetch_optional(p).await)?,
    )
}

/// Marks pending requests past their expiry `expired` (as they are read, as v1 does); how many.
pub async fn expire_due(db: &Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(on_write!(db, p => sqlx::query(
        "UPDATE workflow_approval_requests SET status = 'expired', updated_at = $1 WHERE status = 'pending' AND expires_at < $1",
    )
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?)
}

/// Decides a pending, unexpired request inside `tx`: `true` when this call decided it (a second
/// decision, or one after expiry, changes nothing).
pub async fn decide(
    tx: &mut Tx,
    id: i64,
    status: &str,
    responder_id: Option<&str>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = on_tx!(tx, c => sqlx::query(
        "UPDATE workflow_approval_requests SET status = $2, responder_id = $3, responded_at = $4, updated_at = $4 \
         WHERE id = $1 AND status = 'pending' AND expires_at >= $4",
    )
    .bind(id)
    .bind(status)
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

/// One page of requests, newest first, optionally of one status and one workflow.
pub async fn list(
    db: &Db,
    status: Option<&str>,
    workflow_id: Option<i64>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ApprovalRow>, i64), StoreError> {
    use crate::sql::Arg;
    let mut b = crate::sql::Params::default();
    let mut clauses = Vec::new();
    if let Some(status) = status {
        clauses.push(format!("a.status = {}", b.arg(Arg::Text(status.to_string()))));
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
    crate::sql::page(db, b, &sql, &count_sql, limit, offset).await
}
