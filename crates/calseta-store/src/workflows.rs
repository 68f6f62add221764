//! The `workflows` and `workflow_code_versions` tables, `workflow_secrets`, and each workflow's
//! secret grants (`workflows.secret_grants` and the code version they were confirmed for).

use calseta_core::workflows::{ApprovalMode, RiskLevel, WorkflowState, WorkflowType};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError, Tx};

/// A stored workflow.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WorkflowRow {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    #[sqlx(try_from = "crate::NullableText")]
    pub workflow_type: Option<WorkflowType>,
    pub indicator_types: Json<Vec<String>>,
    pub code: String,
    pub code_version: i32,
    #[sqlx(try_from = "String")]
    pub state: WorkflowState,
    pub timeout_seconds: i32,
    pub retry_count: i32,
    pub is_active: bool,
    pub is_system: bool,
    pub tags: Json<Vec<String>>,
    pub time_saved_minutes: Option<i32>,
    #[sqlx(try_from = "String")]
    pub approval_mode: ApprovalMode,
    pub approval_channel: Option<String>,
    pub approval_timeout_seconds: i32,
    #[sqlx(try_from = "String")]
    pub risk_level: RiskLevel,
    pub documentation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The workflow secrets this workflow may read, by name (sorted, no duplicates).
    pub secret_grants: Json<Vec<String>>,
    /// The code version an admin confirmed the grants for (`None`: never confirmed).
    pub secret_grants_confirmed_version: Option<i32>,
}

const COLUMNS: &str = "id, uuid, name, workflow_type, indicator_types, code, code_version, state, timeout_seconds, \
    retry_count, is_active, is_system, tags, time_saved_minutes, approval_mode, approval_channel, \
    approval_timeout_seconds, risk_level, documentation, created_at, updated_at, secret_grants, \
    secret_grants_confirmed_version";

/// Every writable field of a workflow.
#[derive(Debug, Clone)]
pub struct WorkflowFields {
    pub name: String,
    pub workflow_type: Option<WorkflowType>,
    pub indicator_types: Vec<String>,
    pub code: String,
    pub state: WorkflowState,
    pub timeout_seconds: i32,
    pub retry_count: i32,
    pub is_active: bool,
    pub tags: Vec<String>,
    pub time_saved_minutes: Option<i32>,
    pub approval_mode: ApprovalMode,
    pub approval_channel: Option<String>,
    pub approval_timeout_seconds: i32,
    pub risk_level: RiskLevel,
    pub documentation: Option<String>,
}

impl From<WorkflowRow> for WorkflowFields {
    fn from(r: WorkflowRow) -> Self {
        WorkflowFields {
            name: r.name,
            workflow_type: r.workflow_type,
            indicator_types: r.indicator_types.0,
            code: r.code,
            state: r.state,
            timeout_seconds: r.timeout_seconds,
            retry_count: r.retry_count,
            is_active: r.is_active,
            tags: r.tags.0,
            time_saved_minutes: r.time_saved_minutes,
            approval_mode: r.approval_mode,
            approval_channel: r.approval_channel,
            approval_timeout_seconds: r.approval_timeout_seconds,
            risk_level: r.risk_level,
            documentation: r.documentation,
        }
    }
}

/// Inserts a workflow.
pub async fn insert(db: &Db, f: &WorkflowFields) -> Result<WorkflowRow, StoreError> {
    // Without a conflict clause the insert returns its row or fails.
    insert_row(db, f, false, "").await?.ok_or_else(|| StoreError::Database(sqlx::Error::RowNotFound))
}

/// Inserts a builtin workflow unless one of that name exists; `None` when it did.
pub async fn insert_builtin(db: &Db, f: &WorkflowFields) -> Result<Option<WorkflowRow>, StoreError> {
    insert_row(db, f, true, "ON CONFLICT (name) WHERE is_system DO NOTHING").await
}

async fn insert_row(
    db: &Db,
    f: &WorkflowFields,
    is_system: bool,
    on_conflict: &str,
) -> Result<Option<WorkflowRow>, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO workflows (uuid, name, workflow_type, indicator_types, code, code_version, state, timeout_seconds, \
         retry_count, is_active, is_system, tags, time_saved_minutes, approval_mode, approval_channel, \
         approval_timeout_seconds, risk_level, documentation, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 1, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $18) \
         {on_conflict} RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, WorkflowRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(&f.name)
        .bind(f.workflow_type.map(WorkflowType::as_str))
        .bind(Json(&f.indicator_types))
        .bind(&f.code)
        .bind(f.state.as_str())
        .bind(f.timeout_seconds)
        .bind(f.retry_count)
        .bind(f.is_active)
        .bind(is_system)
        .bind(Json(&f.tags))
        .bind(f.time_saved_minutes)
        .bind(f.approval_mode.as_str())
        .bind(&f.approval_channel)
        .bind(f.approval_timeout_seconds)
        .bind(f.risk_level.as_str())
        .bind(&f.documentation)
        .bind(now)
        .fetch_optional(p)
        .await)?)
}

/// Replaces the fields of workflow `id` inside `tx`. With `new_code`, the current code is first
/// kept as a version (with its version number) and the version goes up by one; with
/// `confirm_grants` too, the secret grants are confirmed for the new version (an admin's change).
/// Writes `f` over workflow `id` only while its code is still at `read_version`, the version the
/// fields were read at (`None` when it is not, or when the workflow is gone): a change made from a
/// stale read never puts older code back under newer grants.
pub async fn update(
    tx: &mut Tx,
    id: i64,
    read_version: i32,
    f: &WorkflowFields,
    new_code: bool,
    confirm_grants: bool,
) -> Result<Option<WorkflowRow>, StoreError> {
    let now = crate::now();
    if new_code {
        on_tx!(tx, c => sqlx::query(
            "INSERT INTO workflow_code_versions (workflow_id, version, code, saved_at) \
             SELECT id, code_version, code, $2 FROM workflows WHERE id = $1",
        )
        .bind(id)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ()))?;
    }
    // Every right-hand side reads the row as it was, so `code_version + $6` is the new version.
    let confirmed =
        if new_code && confirm_grants { "code_version + $6" } else { "secret_grants_confirmed_version" };
    let sql = format!(
        "UPDATE workflows SET name = $2, workflow_type = $3, indicator_types = $4, code = $5, \
         code_version = code_version + $6, state = $7, timeout_seconds = $8, retry_count = $9, is_active = $10, \
         tags = $11, time_saved_minutes = $12, approval_mode = $13, approval_channel = $14, \
         approval_timeout_seconds = $15, risk_level = $16, documentation = $17, updated_at = $18, \
         secret_grants_confirmed_version = {confirmed} \
         WHERE id = $1 AND code_version = $19 RETURNING {COLUMNS}"
    );
    let row = on_tx!(tx, c => sqlx::query_as::<_, WorkflowRow>(&sql)
        .bind(id)
        .bind(&f.name)
        .bind(f.workflow_type.map(WorkflowType::as_str))
        .bind(Json(&f.indicator_types))
        .bind(&f.code)
        .bind(i32::from(new_code))
        .bind(f.state.as_str())
        .bind(f.timeout_seconds)
        .bind(f.retry_count)
        .bind(f.is_active)
        .bind(Json(&f.tags))
        .bind(f.time_saved_minutes)
        .bind(f.approval_mode.as_str())
        .bind(&f.approval_channel)
        .bind(f.approval_timeout_seconds)
        .bind(f.risk_level.as_str())
        .bind(&f.documentation)
        .bind(now)
        .bind(read_version)
        .fetch_optional(&mut *c)
        .await)?;
    Ok(row)
}

/// Replaces workflow `id`'s secret grants with `names` and confirms them for its code version,
/// inside `tx`, only while that version is still `code_version` (`None` when it is not, or when
/// the workflow is gone): what an admin confirms is the code they saw.
pub async fn set_secret_grants(
    tx: &mut Tx,
    id: i64,
    names: &[String],
    code_version: i32,
) -> Result<Option<WorkflowRow>, StoreError> {
    let sql = format!(
        "UPDATE workflows SET secret_grants = $2, secret_grants_confirmed_version = code_version \
         WHERE id = $1 AND code_version = $3 RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, c => sqlx::query_as::<_, WorkflowRow>(&sql)
        .bind(id)
        .bind(Json(names))
        .bind(code_version)
        .fetch_optional(&mut *c)
        .await)?)
}

/// A workflow by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<WorkflowRow>, StoreError> {
    crate::sql::by_uuid(db, "workflows", COLUMNS, uuid).await
}

/// A workflow by internal id.
pub async fn get_by_id(db: &Db, id: i64) -> Result<Option<WorkflowRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM workflows WHERE id = $1");
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, WorkflowRow>(&sql).bind(id).fetch_optional(p).await)?,
    )
}

/// The names of the system workflows already present.
pub async fn system_names(db: &Db) -> Result<Vec<String>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_scalar::<_, String>(
        "SELECT name FROM workflows WHERE is_system = TRUE",
    )
    .fetch_all(p)
    .await)?)
}

/// Deletes a workflow (its runs, versions and approvals go with it); `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM workflows WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct WorkflowFilter {
    pub workflow_type: Option<String>,
    pub states: Vec<String>,
    pub risk_levels: Vec<String>,
    pub is_active: Option<bool>,
    pub sort_by: String,
    pub descending: bool,
}

/// One page of workflows with the total.
pub async fn list(
    db: &Db,
    f: &WorkflowFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<WorkflowRow>, i64), StoreError> {
    use crate::sql::Arg;
    let mut b = crate::sql::Params::default();
    let mut clauses = Vec::new();
    if let Some(t) = &f.workflow_type {
        clauses.push(format!("workflow_type = {}", b.arg(Arg::Text(t.clone()))));
    }
    if !f.states.is_empty() {
        clauses.push(b.in_list("state", &f.states));
    }
    if !f.risk_levels.is_empty() {
        clauses.push(b.in_list("risk_level", &f.risk_levels));
    }
    if let Some(v) = f.is_active {
        clauses.push(format!("is_active = {}", b.arg(Arg::Bool(v))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let direction = if f.descending { "DESC" } else { "ASC" };
    let order = match f.sort_by.as_str() {
        "risk_level" => format!(
            "CASE risk_level WHEN 'critical' THEN 4 WHEN 'high' THEN 3 WHEN 'medium' THEN 2 WHEN 'low' THEN 1 \
             ELSE 0 END {direction}"
        ),
        column @ ("name" | "state" | "updated_at") => format!("{column} {direction}"),
        _ => format!("created_at {direction}"),
    };
    let count_sql = format!("SELECT COUNT(*) FROM workflows {where_sql}");
    let sql = format!("SELECT {COLUMNS} FROM workflows {where_sql} ORDER BY {order}, id {direction}");
    crate::sql::page(db, b, &sql, &count_sql, limit, offset).await
}

/// A kept code version.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CodeVersionRow {
    pub version: i32,
    pub code: String,
    pub saved_at: DateTime<Utc>,
}

/// The kept versions of workflow `id`, newest first (the current code is not among them).
pub async fn versions(db: &Db, id: i64) -> Result<Vec<CodeVersionRow>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, CodeVersionRow>(
        "SELECT version, code, saved_at FROM workflow_code_versions WHERE workflow_id = $1 ORDER BY version DESC, id DESC",
    )
    .bind(id)
    .fetch_all(p)
    .await)?)
}

/// A workflow secret's name and times (never its value).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretRow {
    pub name: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Stores (or replaces) an encrypted secret.
pub async fn put_secret(db: &Db, name: &str, value_encrypted: &str) -> Result<SecretRow, StoreError> {
    let now = crate::now();
    Ok(on_write!(db, p => sqlx::query_as::<_, SecretRow>(
        "INSERT INTO workflow_secrets (name, value_encrypted, created_at, updated_at) VALUES ($1, $2, $3, $3) \
         ON CONFLICT (name) DO UPDATE SET value_encrypted = excluded.value_encrypted, updated_at = excluded.updated_at \
         RETURNING name, created_at, updated_at",
    )
    .bind(name)
    .bind(value_encrypted)
    .bind(now)
    .fetch_one(p)
    .await)?)
}

/// Every secret's name and times, by name.
pub async fn list_secrets(db: &Db) -> Result<Vec<SecretRow>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, SecretRow>(
        "SELECT name, created_at, updated_at FROM workflow_secrets ORDER BY name",
    )
    .fetch_all(p)
    .await)?)
}

/// A secret's encrypted value.
pub async fn secret_value(db: &Db, name: &str) -> Result<Option<String>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_scalar::<_, String>(
        "SELECT value_encrypted FROM workflow_secrets WHERE name = $1",
    )
    .bind(name)
    .fetch_optional(p)
    .await)?)
}

/// Deletes a secret; `false` if absent.
pub async fn delete_secret(db: &Db, name: &str) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM workflow_secrets WHERE name = $1").bind(name).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Active workflows offered to agents (state `active`, oldest first, at most 20, no code).
pub async fn active_workflows(db: &Db) -> Result<Vec<Value>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct W {
        uuid: Uuid,
        name: String,
        #[sqlx(try_from = "crate::NullableText")]
        workflow_type: Option<WorkflowType>,
        documentation: Option<String>,
        #[sqlx(try_from = "String")]
        risk_level: RiskLevel,
        #[sqlx(try_from = "String")]
        approval_mode: ApprovalMode,
        indicator_types: Json<Vec<String>>,
        tags: Json<Vec<String>>,
    }
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, W>(
        "SELECT uuid, name, workflow_type, documentation, risk_level, approval_mode, indicator_types, tags FROM workflows \
         WHERE state = 'active' AND is_active = TRUE ORDER BY created_at, id LIMIT 20",
    )
    .fetch_all(p)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|w| serde_json::json!({"uuid": w.uuid, "name": w.name, "workflow_type": w.workflow_type, "documentation": w.documentation,
            "risk_level": w.risk_level, "approval_mode": w.approval_mode, "indicator_types": w.indicator_types.0, "tags": w.tags.0}))
        .collect())
}
