//! The append-only `activity_events` log, and reading it in id order for the console's live
//! feed (with the alert each event is about, and the PostgreSQL `NOTIFY` that announces new
//! events to every process).

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params, Query};
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
    // Nothing reads the event back before the next statement: sent with it (or the commit).
    tx.defer(Query::new(
        "INSERT INTO activity_events (uuid, event_type, actor_type, actor_key_prefix, alert_id, workflow_id, \
         detection_rule_id, \"references\", created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            Arg::Uuid(Uuid::now_v7()),
            Arg::Text(event.event_type.clone()),
            Arg::Text(event.actor_type.clone()),
            Arg::OptText(event.actor_key_prefix.clone()),
            Arg::OptI64(event.alert_id),
            Arg::OptI64(event.workflow_id),
            Arg::OptI64(event.detection_rule_id),
            Arg::OptJson(event.references.clone().map(Json)),
            Arg::Time(now),
        ],
    ));
    tx.note_activity_appended();
    Ok(())
}

/// The queries of [`for_alert`]: the page of events and their total.
pub(crate) fn for_alert_queries(alert_id: i64, page: PageRequest) -> (Query, Query) {
    let rows = Query::new(
        "SELECT uuid, event_type, actor_type, actor_key_prefix, alert_id, workflow_id, detection_rule_id, \
         \"references\", created_at FROM activity_events WHERE alert_id = $1 \
         ORDER BY created_at DESC, id DESC LIMIT $2 OFFSET $3",
        vec![Arg::I64(alert_id), Arg::I64(page.limit()), Arg::I64(page.offset())],
    );
    let total =
        Query::new("SELECT COUNT(*) FROM activity_events WHERE alert_id = $1", vec![Arg::I64(alert_id)]);
    (rows, total)
}

/// One page of an alert's events, newest first.
pub async fn for_alert(
    db: &Db,
    alert_id: i64,
    page: PageRequest,
) -> Result<(Vec<ActivityRow>, i64), StoreError> {
    let (rows, total) = for_alert_queries(alert_id, page);
    Ok((crate::sql::fetch_all(db, &rows).await?, crate::sql::fetch_count(db, &total).await?))
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

/// The PostgreSQL channel a trigger on `activity_events` notifies (migration 0013) when events
/// are inserted; the notification is delivered at commit, to every listening process.
pub const NOTIFY_CHANNEL: &str = "calseta_activity";

/// An event as the live feed reads it: its id (the order of the log), what happened, and the
/// alert it is about as that alert is now.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LiveRow {
    pub id: i64,
    pub event_type: String,
    pub references: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
    pub alert_uuid: Option<Uuid>,
    pub title: Option<String>,
    pub severity: Option<String>,
    pub status: Option<String>,
    pub source_name: Option<String>,
    pub enrichment_status: Option<String>,
    pub close_classification: Option<String>,
    pub occurred_at: Option<DateTime<Utc>>,
}

const LIVE_SELECT: &str = "SELECT e.id, e.event_type, e.\"references\", e.created_at, a.uuid AS alert_uuid, \
     a.title, a.severity, a.status, a.source_name, a.enrichment_status, a.close_classification, a.occurred_at \
     FROM activity_events e LEFT JOIN alerts a ON a.id = e.alert_id";

/// The highest event id (0 when the log is empty).
pub async fn latest_id(db: &Db) -> Result<i64, StoreError> {
    let id: i64 = on_pool!(db.read_pool(), p => {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM activity_events").fetch_one(p).await
    })?;
    Ok(id)
}

/// Up to `limit` events with `after < id` (and `id <= through`, when given), in id order.
pub async fn live_after(
    db: &Db,
    after: i64,
    through: Option<i64>,
    limit: i64,
) -> Result<Vec<LiveRow>, StoreError> {
    let rows = match through {
        Some(through) => {
            let sql = format!("{LIVE_SELECT} WHERE e.id > $1 AND e.id <= $2 ORDER BY e.id LIMIT $3");
            on_pool!(db.read_pool(), p => {
                sqlx::query_as::<_, LiveRow>(&sql).bind(after).bind(through).bind(limit).fetch_all(p).await
            })?
        }
        None => {
            let sql = format!("{LIVE_SELECT} WHERE e.id > $1 ORDER BY e.id LIMIT $2");
            on_pool!(db.read_pool(), p => {
                sqlx::query_as::<_, LiveRow>(&sql).bind(after).bind(limit).fetch_all(p).await
            })?
        }
    };
    Ok(rows)
}

/// The events with these ids that exist now, in id order (ids the feed saw skipped, looked for
/// again in case their transaction has committed since).
pub async fn live_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<LiveRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Params::default();
    let placeholders: Vec<String> = ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let sql = format!("{LIVE_SELECT} WHERE e.id IN ({}) ORDER BY e.id", placeholders.join(", "));
    let rows = on_pool!(db.read_pool(), p => {
        bind_args!(sqlx::query_as::<_, LiveRow>(&sql), &b.args).fetch_all(p).await
    })?;
    Ok(rows)
}

/// Forwards PostgreSQL `NOTIFY`s on [`NOTIFY_CHANNEL`] to this process's activity wake-up,
/// reconnecting after connection loss; returns at once on SQLite (where processes sharing a file
/// find each other's events by polling). Runs until its task is aborted.
pub async fn forward_notifications(db: Db) {
    db.forward_notifications(NOTIFY_CHANNEL, "activity", Db::activity_wakeup).await;
}
