//! The append-only `activity_events` log.

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, StoreError, Tx};

/// An event to append.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub event_type: String,
    /// `system`, `api` or `mcp`.
    pub actor_type: String,
    pub actor_key_prefix: Option<String>,
    pub alert_id: Option<i64>,
    pub workflow_id: Option<i64>,
    pub detection_rule_id: Option<i64>,
    /// Already sanitized.
    pub references: Option<Value>,
}

/// A stored event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ActivityRow {
    pub uuid: Uuid,
    pub event_type: String,
    pub actor_type: String,
    pub actor_key_prefix: Option<String>,
    pub alert_id: Option<i64>,
    pub workflow_id: Option<i64>,
    pub detection_rule_id: Option<i64>,
    pub references: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
}

/// Appends an event inside `tx`.
pub async fn append(tx: &mut Tx, event: &NewActivity) -> Result<(), StoreError> {
    let now = crate::now();
    on_tx!(tx, c => sqlx::query(
        "INSERT INTO activity_events (uuid, event_type, actor_type, actor_key_prefix, alert_id, workflow_id, \
         detection_rule_id, \"references\", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(Uuid::now_v7())
    .bind(&event.event_type)
    .bind(&event.actor_type)
    .bind(&event.actor_key_prefix)
    .bind(event.alert_id)
    .bind(event.workflow_id)
    .bind(event.detection_rule_id)
    .bind(event.references.as_ref().map(Json))
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// One page of an alert's events, newest first.
pub async fn for_alert(
    db: &Db,
    alert_id: i64,
    page: PageRequest,
) -> Result<(Vec<ActivityRow>, i64), StoreError> {
    let (rows, total) = on_pool!(db.read_pool(), p => {
        let rows = sqlx::query_as::<_, ActivityRow>(
            "SELECT uuid, event_type, actor_type, actor_key_prefix, alert_id, workflow_id, detection_rule_id, \
             \"references\", created_at FROM activity_events WHERE alert_id = $1 \
             ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        )
        .bind(alert_id)
        .bind(page.limit())
        .bind(page.offset())
        .fetch_all(p)
        .await?;
        let total: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM activity_events WHERE alert_id = $1")
            .bind(alert_id)
            .fetch_one(p)
            .await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// What a system-wide activity list is narrowed to (every field optional; all must hold).
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    /// The acting key's prefix, or an actor type (`system`, `api`, `mcp`).
    pub actor: Option<String>,
    /// The event type, exactly.
    pub event_type: Option<String>,
    /// The alert's internal id.
    pub alert_id: Option<i64>,
}

/// One page of every event matching `filter`, newest first.
pub async fn list(
    db: &Db,
    filter: &ActivityFilter,
    page: PageRequest,
) -> Result<(Vec<ActivityRow>, i64), StoreError> {
    let mut b = Params::default();
    let mut clauses: Vec<String> = Vec::new();
    if let Some(actor) = &filter.actor {
        // One value matches either column, so "system" and a key prefix share one field; each
        // placeholder is bound once, so the SQL reads the same on both engines.
        let prefix = b.arg(Arg::Text(actor.clone()));
        let kind = b.arg(Arg::Text(actor.clone()));
        clauses.push(format!("(actor_key_prefix = {prefix} OR actor_type = {kind})"));
    }
    if let Some(event_type) = &filter.event_type {
        clauses.push(format!("event_type = {}", b.arg(Arg::Text(event_type.clone()))));
    }
    if let Some(alert_id) = filter.alert_id {
        clauses.push(format!("alert_id = {}", b.arg(Arg::I64(alert_id))));
    }
    let filter_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM activity_events {filter_sql}");
    let count_args = b.args.clone();
    let limit = b.arg(Arg::I64(page.limit()));
    let offset = b.arg(Arg::I64(page.offset()));
    let sql = format!(
        "SELECT uuid, event_type, actor_type, actor_key_prefix, alert_id, workflow_id, detection_rule_id, \
         \"references\", created_at FROM activity_events {filter_sql} \
         ORDER BY created_at DESC, id DESC LIMIT {limit} OFFSET {offset}"
    );
    let (rows, total) = on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, ActivityRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// The uuids of alerts by internal id (for showing events' alerts as links).
pub async fn alert_uuids(db: &Db, ids: &[i64]) -> Result<Vec<(i64, Uuid)>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Params::default();
    let placeholders: Vec<String> = ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let sql = format!("SELECT id, uuid FROM alerts WHERE id IN ({})", placeholders.join(", "));
    let rows = on_pool!(db.read_pool(), p => {
        bind_args!(sqlx::query_as::<_, (i64, Uuid)>(&sql), &b.args).fetch_all(p).await
    })?;
    Ok(rows)
}
