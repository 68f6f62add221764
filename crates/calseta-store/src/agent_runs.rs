//! `agent_runs`: one row per delivery attempt of an alert to an agent.

use calseta_core::agents::DeliveryStatus;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Query};
use crate::{Db, StoreError, Tx};

/// One delivery attempt.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AgentRunRow {
    pub uuid: Uuid,
    pub alert_uuid: Uuid,
    pub delivery_id: Option<String>,
    pub request_payload: Option<Json<Value>>,
    pub response_status_code: Option<i32>,
    pub response_body: Option<Json<Value>>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
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
    /// How the attempt ended.
    pub status: DeliveryStatus,
    pub attempt: i32,
    pub error_message: Option<String>,
    pub started_at: DateTime<Utc>,
}

/// The insert of one attempt recorded at `now`.
fn insert_run_query(r: &NewRun, now: DateTime<Utc>) -> Query {
    Query::new(
        "INSERT INTO agent_runs (uuid, agent_registration_id, alert_id, request_payload, response_status_code, response_body, \
         status, attempt_count, started_at, completed_at, delivery_id, error_message, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $10, $10)",
        vec![
            Arg::Uuid(Uuid::now_v7()),
            Arg::I64(r.agent_id),
            Arg::I64(r.alert_id),
            Arg::Json(Json(
                serde_json::json!({"endpoint_url": r.endpoint_url, "delivery_id": r.delivery_id}),
            )),
            Arg::OptI64(r.status_code.map(i64::from)),
            Arg::OptJson(r.response_body.clone().map(Json)),
            Arg::Text(r.status.as_str().to_string()),
            Arg::I64(i64::from(r.attempt)),
            Arg::Time(r.started_at),
            Arg::Time(now),
            Arg::Text(r.delivery_id.clone()),
            Arg::OptText(r.error_message.clone()),
        ],
    )
}

/// Records an attempt on its own.
pub async fn record(db: &Db, r: &NewRun) -> Result<(), StoreError> {
    let q = insert_run_query(r, crate::now());
    on_write!(db, p => bind_args!(sqlx::query(&q.sql), &q.args).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// Records an attempt inside `tx` (with the outcome it led to); nothing reads it back before the
/// next statement, so it is sent with it (or the commit).
pub async fn record_in(tx: &mut Tx, r: &NewRun) -> Result<(), StoreError> {
    tx.defer(insert_run_query(r, crate::now()));
    Ok(())
}

/// One page of an agent's attempts, newest first.
pub async fn for_agent(
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

/// One delivery attempt of an alert, with the agent it went to.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertDeliveryRow {
    pub uuid: Uuid,
    pub agent_uuid: Uuid,
    pub agent_name: String,
    pub delivery_id: Option<String>,
    pub response_status_code: Option<i32>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub error_message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The queries of [`for_alert`]: the newest attempts and their total.
pub(crate) fn for_alert_queries(alert_uuid: Uuid, limit: i64) -> (Query, Query) {
    let rows = Query::new(
        "SELECT r.uuid, g.uuid AS agent_uuid, g.name AS agent_name, r.delivery_id, r.response_status_code, \
         r.status, r.attempt_count, r.error_message, r.started_at, r.completed_at, r.created_at \
         FROM agent_runs r JOIN alerts a ON a.id = r.alert_id JOIN agent_registrations g ON g.id = r.agent_registration_id \
         WHERE a.uuid = $1 ORDER BY r.created_at DESC, r.id DESC LIMIT $2",
        vec![Arg::Uuid(alert_uuid), Arg::I64(limit)],
    );
    let total = Query::new(
        "SELECT COUNT(*) FROM agent_runs r JOIN alerts a ON a.id = r.alert_id WHERE a.uuid = $1",
        vec![Arg::Uuid(alert_uuid)],
    );
    (rows, total)
}

/// The newest `limit` delivery attempts of one alert (to any agent), newest first, with the total.
pub async fn for_alert(
    db: &Db,
    alert_uuid: Uuid,
    limit: i64,
) -> Result<(Vec<AlertDeliveryRow>, i64), StoreError> {
    let (rows, total) = for_alert_queries(alert_uuid, limit);
    Ok((crate::sql::fetch_all(db, &rows).await?, crate::sql::fetch_count(db, &total).await?))
}

/// An agent's newest delivery attempt (the agent list's "last delivery").
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LastDeliveryRow {
    pub agent_uuid: Uuid,
    pub alert_uuid: Uuid,
    pub response_status_code: Option<i32>,
    #[sqlx(try_from = "String")]
    pub status: DeliveryStatus,
    pub attempt_count: i32,
    pub error_message: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// Every agent's newest delivery attempt (agents without one are absent). One index lookup per
/// agent (`ix_agent_runs_agent_created`), however long the history.
pub async fn latest_per_agent(db: &Db) -> Result<Vec<LastDeliveryRow>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, LastDeliveryRow>(
        "SELECT g.uuid AS agent_uuid, a.uuid AS alert_uuid, r.response_status_code, r.status, r.attempt_count, \
         r.error_message, r.started_at, r.completed_at, r.created_at \
         FROM agent_registrations g \
         JOIN agent_runs r ON r.id = (SELECT r2.id FROM agent_runs r2 WHERE r2.agent_registration_id = g.id \
                                      ORDER BY r2.created_at DESC, r2.id DESC LIMIT 1) \
         JOIN alerts a ON a.id = r.alert_id",
    )
    .fetch_all(p)
    .await)?)
}
