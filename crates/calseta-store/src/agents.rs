//! `agent_registrations`, their delivery attempts (`agent_runs`), and `source_integrations`.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError};

const COLUMNS: &str = "id, uuid, name, description, endpoint_url, auth_header_name, auth_header_value_encrypted, \
    signing_secret_encrypted, trigger_on_sources, trigger_on_severities, trigger_filter, timeout_seconds, retry_count, \
    is_active, documentation, payload_profile, created_at, updated_at";

/// A registered agent.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRow {
    pub id: i64,
    pub uuid: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub endpoint_url: String,
    pub auth_header_name: Option<String>,
    pub auth_header_value_encrypted: Option<String>,
    pub signing_secret_encrypted: Option<String>,
    pub trigger_on_sources: Json<Vec<String>>,
    pub trigger_on_severities: Json<Vec<String>>,
    pub trigger_filter: Option<Json<Value>>,
    pub timeout_seconds: i32,
    pub retry_count: i32,
    pub is_active: bool,
    pub documentation: Option<String>,
    /// `full` or `compact`: the payload this agent receives.
    pub payload_profile: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every writable field of an agent (secrets already encrypted).
#[derive(Debug, Clone)]
pub struct AgentFields {
    pub name: String,
    pub description: Option<String>,
    pub endpoint_url: String,
    pub auth_header_name: Option<String>,
    pub auth_header_value_encrypted: Option<String>,
    pub signing_secret_encrypted: Option<String>,
    pub trigger_on_sources: Vec<String>,
    pub trigger_on_severities: Vec<String>,
    pub trigger_filter: Option<Value>,
    pub timeout_seconds: i32,
    pub retry_count: i32,
    pub is_active: bool,
    pub documentation: Option<String>,
    pub payload_profile: String,
}

impl From<AgentRow> for AgentFields {
    fn from(r: AgentRow) -> Self {
        AgentFields {
            name: r.name,
            description: r.description,
            endpoint_url: r.endpoint_url,
            auth_header_name: r.auth_header_name,
            auth_header_value_encrypted: r.auth_header_value_encrypted,
            signing_secret_encrypted: r.signing_secret_encrypted,
            trigger_on_sources: r.trigger_on_sources.0,
            trigger_on_severities: r.trigger_on_severities.0,
            trigger_filter: r.trigger_filter.map(|j| j.0),
            timeout_seconds: r.timeout_seconds,
            retry_count: r.retry_count,
            is_active: r.is_active,
            documentation: r.documentation,
            payload_profile: r.payload_profile,
        }
    }
}

macro_rules! bind_agent {
    ($q:expr, $f:expr) => {
        $q.bind(&$f.name)
            .bind(&$f.description)
            .bind(&$f.endpoint_url)
            .bind(&$f.auth_header_name)
            .bind(&$f.auth_header_value_encrypted)
            .bind(&$f.signing_secret_encrypted)
            .bind(Json(&$f.trigger_on_sources))
            .bind(Json(&$f.trigger_on_severities))
            .bind($f.trigger_filter.as_ref().map(Json))
            .bind($f.timeout_seconds)
            .bind($f.retry_count)
            .bind($f.is_active)
            .bind(&$f.documentation)
            .bind(&$f.payload_profile)
    };
}

/// Inserts an agent.
pub async fn insert(db: &Db, f: &AgentFields) -> Result<AgentRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO agent_registrations (name, description, endpoint_url, auth_header_name, auth_header_value_encrypted, \
         signing_secret_encrypted, trigger_on_sources, trigger_on_severities, trigger_filter, timeout_seconds, retry_count, \
         is_active, documentation, payload_profile, uuid, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) RETURNING {COLUMNS}"
    );
    Ok(
        on_write!(db, p => bind_agent!(sqlx::query_as::<_, AgentRow>(&sql), f).bind(Uuid::now_v7()).bind(now).fetch_one(p).await)?,
    )
}

/// Replaces every writable field of agent `id`.
pub async fn update(db: &Db, id: i64, f: &AgentFields) -> Result<AgentRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE agent_registrations SET name = $1, description = $2, endpoint_url = $3, auth_header_name = $4, \
         auth_header_value_encrypted = $5, signing_secret_encrypted = $6, trigger_on_sources = $7, trigger_on_severities = $8, \
         trigger_filter = $9, timeout_seconds = $10, retry_count = $11, is_active = $12, documentation = $13, \
         payload_profile = $14, updated_at = $15 WHERE id = $16 RETURNING {COLUMNS}"
    );
    Ok(
        on_write!(db, p => bind_agent!(sqlx::query_as::<_, AgentRow>(&sql), f).bind(now).bind(id).fetch_one(p).await)?,
    )
}

/// An agent by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<AgentRow>, StoreError> {
    crate::sql::by_uuid(db, "agent_registrations", COLUMNS, uuid).await
}

/// Agents, newest first (`active_only`: oldest first, as trigger matching walks them).
pub async fn list(db: &Db, active_only: bool) -> Result<Vec<AgentRow>, StoreError> {
    let sql = if active_only {
        format!("SELECT {COLUMNS} FROM agent_registrations WHERE is_active = TRUE ORDER BY created_at, id")
    } else {
        format!("SELECT {COLUMNS} FROM agent_registrations ORDER BY created_at DESC, id DESC")
    };
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, AgentRow>(&sql).fetch_all(p).await)?)
}

/// Deletes an agent (its runs go with it); `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM agent_registrations WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// One delivery attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRunRow {
    pub uuid: Uuid,
    pub alert_uuid: Uuid,
    pub delivery_id: Option<String>,
    pub request_payload: Option<Json<Value>>,
    pub response_status_code: Option<i32>,
    pub response_body: Option<Json<Value>>,
    pub status: String,
    pub attempt_count: i32,
    pub error_message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// What to record of an attempt.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub agent_id: i64,
    pub alert_id: i64,
    pub delivery_id: String,
    pub endpoint_url: String,
    pub status_code: Option<i32>,
    pub response_body: Option<Value>,
    /// `success`, `failed` or `timeout`.
    pub status: String,
    pub attempt: i32,
    pub error_message: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// Records an attempt.
pub async fn record_run(db: &Db, r: &NewRun) -> Result<(), StoreError> {
    let now = crate::now();
    on_write!(db, p => sqlx::query(
        "INSERT INTO agent_runs (uuid, agent_registration_id, alert_id, request_payload, response_status_code, response_body, \
         status, attempt_count, started_at, completed_at, delivery_id, error_message, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $10, $10)",
    )
    .bind(Uuid::now_v7())
    .bind(r.agent_id)
    .bind(r.alert_id)
    .bind(Json(serde_json::json!({"endpoint_url": r.endpoint_url, "delivery_id": r.delivery_id})))
    .bind(r.status_code)
    .bind(r.response_body.as_ref().map(Json))
    .bind(&r.status)
    .bind(r.attempt)
    .bind(r.started_at)
    .bind(now)
    .bind(&r.delivery_id)
    .bind(&r.error_message)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// One page of an agent's attempts, newest first.
pub async fn runs(
    db: &Db,
    agent_id: i64,
    limit: i64,
    offset: i64,
) -> Result<(Vec<AgentRunRow>, i64), StoreError> {
    Ok(on_pool!(db.read_pool(), p => {
        let rows = sqlx::query_as::<_, AgentRunRow>(
            "SELECT r.uuid, a.uuid AS alert_uuid, r.delivery_id, r.request_payload, r.response_status_code, r.response_body, \
             r.status, r.attempt_count, r.error_message, r.started_at, r.completed_at, r.created_at \
             FROM agent_runs r JOIN alerts a ON a.id = r.alert_id WHERE r.agent_registration_id = $1 \
             ORDER BY r.created_at DESC, r.id DESC LIMIT $2 OFFSET $3",
        )
        .bind(agent_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(p)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM agent_runs WHERE agent_registration_id = $1").bind(agent_id).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?)
}

/// Active workflows offered to agents (state `active`, oldest first, at most 20, no code).
pub async fn active_workflows(db: &Db) -> Result<Vec<Value>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct W {
        uuid: Uuid,
        name: String,
        workflow_type: Option<String>,
        documentation: Option<String>,
        risk_level: String,
        approval_mode: String,
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

/// A source integration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub id: i64,
    pub uuid: Uuid,
    pub source_name: String,
    pub display_name: String,
    pub is_active: bool,
    pub auth_type: Option<String>,
    pub auth_config: Option<Json<Value>>,
    pub documentation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SOURCE_COLUMNS: &str = "id, uuid, source_name, display_name, is_active, auth_type, auth_config, documentation, created_at, updated_at";

/// Binds a source integration's writable fields, in column order, as `$1…$5`.
macro_rules! bind_source {
    ($q:expr, $s:expr) => {
        $q.bind(&$s.display_name)
            .bind($s.is_active)
            .bind(&$s.auth_type)
            .bind($s.auth_config.as_ref())
            .bind(&$s.documentation)
    };
}

/// Inserts or replaces (by `id`) a source integration.
pub async fn save_source(db: &Db, id: Option<i64>, s: &SourceRow) -> Result<SourceRow, StoreError> {
    let now = crate::now();
    match id {
        None => {
            let sql = format!(
                "INSERT INTO source_integrations (display_name, is_active, auth_type, auth_config, documentation, uuid, \
                 source_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SOURCE_COLUMNS}"
            );
            Ok(on_write!(db, p => bind_source!(sqlx::query_as::<_, SourceRow>(&sql), s)
                .bind(Uuid::now_v7())
                .bind(&s.source_name)
                .bind(now)
                .fetch_one(p)
                .await)?)
        }
        Some(id) => {
            let sql = format!(
                "UPDATE source_integrations SET display_name = $1, is_active = $2, auth_type = $3, auth_config = $4, \
                 documentation = $5, updated_at = $6 WHERE id = $7 RETURNING {SOURCE_COLUMNS}"
            );
            Ok(
                on_write!(db, p => bind_source!(sqlx::query_as::<_, SourceRow>(&sql), s).bind(now).bind(id).fetch_one(p).await)?,
            )
        }
    }
}

/// Source integrations, newest first.
pub async fn list_sources(db: &Db) -> Result<Vec<SourceRow>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM source_integrations ORDER BY created_at DESC, id DESC");
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, SourceRow>(&sql).fetch_all(p).await)?)
}

/// A source integration by public id.
pub async fn get_source(db: &Db, uuid: Uuid) -> Result<Option<SourceRow>, StoreError> {
    crate::sql::by_uuid(db, "source_integrations", SOURCE_COLUMNS, uuid).await
}

/// Deletes a source integration; `false` if absent.
pub async fn delete_source(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM source_integrations WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Wraps a value for a JSON column.
pub fn stored_json(value: Value) -> Json<Value> {
    Json(value)
}
