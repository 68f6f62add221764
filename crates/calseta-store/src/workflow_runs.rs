//! The `workflow_runs` table: one row per execution, queued, then finished with its result.

use calseta_core::api_keys::KeyType;
use calseta_core::workflows::RunState;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError, Tx};

/// A stored run.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    pub id: i64,
    pub uuid: Uuid,
    pub workflow_id: i64,
    #[sqlx(try_from = "String")]
    pub trigger_type: KeyType,
    pub trigger_context: Option<Json<Value>>,
    pub code_version_executed: i32,
    pub log_output: Option<String>,
    pub result: Option<Json<Value>>,
    #[sqlx(try_from = "String")]
    pub status: RunState,
    pub attempt_count: i32,
    pub duration_ms: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, uuid, workflow_id, trigger_type, trigger_context, code_version_executed, log_output, \
    result, status, attempt_count, duration_ms, started_at, completed_at, created_at, updated_at";

/// Queues a run of workflow `workflow_id` (status `queued`) inside `tx`.
pub async fn insert_queued(
    tx: &mut Tx,
    workflow_id: i64,
    trigger_type: KeyType,
    trigger_context: &Value,
    code_version: i32,
) -> Result<RunRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO workflow_runs (uuid, workflow_id, trigger_type, trigger_context, code_version_executed, status, \
         attempt_count, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $6) RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, c => sqlx::query_as::<_, RunRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(workflow_id)
        .bind(trigger_type.as_str())
        .bind(Json(trigger_context))
        .bind(code_version)
        .bind(now)
        .fetch_one(&mut *c)
        .await)?)
}

/// A run by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<RunRow>, StoreError> {
    crate::sql::by_uuid(db, "workflow_runs", COLUMNS, uuid).await
}

/// Marks a queued run `running` (committed before the workflow starts): `false` when it was not
/// queued, so a repeated job never executes a run twice.
pub async fn claim(db: &Db, id: i64) -> Result<bool, StoreError> {
    let now = crate::now();
    let n = on_write!(db, p => sqlx::query(
        "UPDATE workflow_runs SET status = 'running', started_at = $2, updated_at = $2 WHERE id = $1 AND status = 'queued'",
    )
    .bind(id)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Ends a run that cannot finish normally (interrupted, or its job died) as `failed`, unless it
/// already ended.
pub async fn fail_unfinished(db: &Db, uuid: Uuid, message: &str) -> Result<(), StoreError> {
    let now = crate::now();
    on_write!(db, p => sqlx::query(
        "UPDATE workflow_runs SET status = 'failed', result = $2, completed_at = $3, updated_at = $3 \
         WHERE uuid = $1 AND status IN ('queued', 'running')",
    )
    .bind(uuid)
    .bind(Json(serde_json::json!({"success": false, "message": message, "data": {}})))
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// What a finished run stores.
#[derive(Debug, Clone)]
pub struct RunResult {
    pub status: RunState,
    pub log_output: String,
    pub result: Value,
    pub duration_ms: i32,
    pub started_at: DateTime<Utc>,
    pub completed_at: DateTime<Utc>,
}

/// Stores a finished run's result inside `tx` (the attempt is counted).
pub async fn finish(tx: &mut Tx, id: i64, r: &RunResult) -> Result<(), StoreError> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE workflow_runs SET status = $2, log_output = $3, result = $4, duration_ms = $5, started_at = $6, \
         completed_at = $7, attempt_count = attempt_count + 1, updated_at = $8 WHERE id = $1",
    )
    .bind(id)
    .bind(r.status.as_str())
    .bind(&r.log_output)
    .bind(Json(&r.result))
    .bind(r.duration_ms)
    .bind(r.started_at)
    .bind(r.completed_at)
    .bind(crate::now())
    .execute(&mut *c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// One page of runs, newest first: of one workflow, and/or with one status.
pub async fn list(
    db: &Db,
    workflow_id: Option<i64>,
    status: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<RunRow>, i64), StoreError> {
    use crate::sql::Arg;
    let mut b = crate::sql::Params::default();
    let mut clauses = Vec::new();
    if let Some(id) = workflow_id {
        clauses.push(format!("workflow_id = {}", b.arg(Arg::I64(id))));
    }
    if let Some(status) = status {
        clauses.push(format!("status = {}", b.arg(Arg::Text(status.to_string()))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM workflow_runs {where_sql}");
    let sql = format!("SELECT {COLUMNS} FROM workflow_runs {where_sql} ORDER BY created_at DESC, id DESC");
    crate::sql::page(db, b, &sql, &count_sql, limit, offset).await
}

/// The newest run of each of the workflows `workflow_ids` (a list page's "last run"), in one
/// query; a workflow that never ran has none.
pub async fn latest_of(db: &Db, workflow_ids: &[i64]) -> Result<Vec<RunRow>, StoreError> {
    use crate::sql::Arg;
    if workflow_ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = crate::sql::Params::default();
    let ids: Vec<String> = workflow_ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let ids = ids.join(", ");
    // The newest is the greatest id (ids grow with time); the inner query reads the index on
    // workflow_id.
    let sql = format!(
        "SELECT {COLUMNS} FROM workflow_runs WHERE id IN \
         (SELECT MAX(id) FROM workflow_runs WHERE workflow_id IN ({ids}) GROUP BY workflow_id)"
    );
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, RunRow>(&sql), &b.args).fetch_all(p).await)?,
    )
}
