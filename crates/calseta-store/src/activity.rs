//! The append-only `activity_events` log.

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

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
