//! `agent_registrations`: the agents alerts are delivered to (their attempts are in `agent_runs`).

use calseta_core::agents::PayloadProfile;
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
    #[sqlx(try_from = "String")]
    pub payload_profile: PayloadProfile,
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
    pub payload_profile: PayloadProfile,
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
            .bind($f.payload_profile.as_str())
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

/// An agent with the internal id of an alert it is to receive.
#[derive(sqlx::FromRow)]
struct AgentForAlert {
    #[sqlx(flatten)]
    agent: AgentRow,
    alert_id: Option<i64>,
}

/// Agent `agent` and the internal id of alert `alert` (`None` when the alert is gone), in one
/// statement: what a delivery reads before it sends. `None` when the agent is gone.
pub async fn with_alert_id(
    db: &Db,
    agent: Uuid,
    alert: Uuid,
) -> Result<Option<(AgentRow, Option<i64>)>, StoreError> {
    let sql = format!(
        "SELECT {COLUMNS}, (SELECT id FROM alerts WHERE uuid = $2) AS alert_id \
         FROM agent_registrations WHERE uuid = $1"
    );
    let found = on_pool!(db.read_pool(), p => sqlx::query_as::<_, AgentForAlert>(&sql).bind(agent).bind(alert).fetch_optional(p).await)?;
    Ok(found.map(|row| (row.agent, row.alert_id)))
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
