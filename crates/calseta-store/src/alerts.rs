//! The `alerts` table.

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::indicators::MaliceSource;
use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, Engine, StoreError, Tx};

const COLUMNS: &str = "id, uuid, title, description, severity, source_name, occurred_at, ingested_at, enriched_at, \
    is_enriched, fingerprint, duplicate_count, last_seen_at, status, enrichment_status, close_classification, \
    acknowledged_at, triaged_at, closed_at, malice_override, malice_override_source, malice_override_at, raw_payload, \
    agent_findings, tags, is_system, detection_rule_id, close_notes, created_at, updated_at";

const SUMMARY_COLUMNS: &str = "id, uuid, title, description, severity, status, enrichment_status, source_name, \
    occurred_at, ingested_at, is_enriched, duplicate_count, tags, close_classification, closed_at, created_at, updated_at";

/// A stored alert.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertRow {
    pub id: i64,
    pub uuid: Uuid,
    pub title: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    pub source_name: String,
    pub occurred_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub enriched_at: Option<DateTime<Utc>>,
    pub is_enriched: bool,
    pub fingerprint: Option<String>,
    pub duplicate_count: i32,
    pub last_seen_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "String")]
    pub status: AlertStatus,
    #[sqlx(try_from = "String")]
    pub enrichment_status: EnrichmentStatus,
    #[sqlx(try_from = "crate::NullableText")]
    pub close_classification: Option<CloseClassification>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub triaged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    #[sqlx(try_from = "crate::NullableText")]
    pub malice_override: Option<Malice>,
    #[sqlx(try_from = "crate::NullableText")]
    pub malice_override_source: Option<MaliceSource>,
    pub malice_override_at: Option<DateTime<Utc>>,
    /// The payload exactly as received.
    pub raw_payload: String,
    pub agent_findings: Option<Json<Value>>,
    pub tags: Json<Vec<String>>,
    pub is_system: bool,
    pub detection_rule_id: Option<i64>,
    pub close_notes: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The columns of an alert list item.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertSummaryRow {
    pub id: i64,
    pub uuid: Uuid,
    pub title: String,
    pub description: Option<String>,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    #[sqlx(try_from = "String")]
    pub status: AlertStatus,
    #[sqlx(try_from = "String")]
    pub enrichment_status: EnrichmentStatus,
    pub source_name: String,
    pub occurred_at: DateTime<Utc>,
    pub ingested_at: DateTime<Utc>,
    pub is_enriched: bool,
    pub duplicate_count: i32,
    pub tags: Json<Vec<String>>,
    #[sqlx(try_from = "crate::NullableText")]
    pub close_classification: Option<CloseClassification>,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A new alert.
#[derive(Debug, Clone)]
pub struct NewAlert {
    pub title: String,
    pub description: Option<String>,
    pub severity: Severity,
    pub source_name: String,
    pub occurred_at: DateTime<Utc>,
    pub fingerprint: String,
    pub raw_payload: String,
    pub tags: Vec<String>,
    pub detection_rule_id: Option<i64>,
}

/// Serializes concurrent ingests of one fingerprint until the transaction ends. On SQLite the
/// `BEGIN IMMEDIATE` write transaction already does; on PostgreSQL a transaction-scoped advisory
/// lock keyed by the fingerprint does, across any number of API processes.
pub async fn lock_fingerprint(tx: &mut Tx, fingerprint: &str) -> Result<(), StoreError> {
    if tx.engine() == Engine::Postgres {
        let key = i64::from_str_radix(fingerprint.get(..15).unwrap_or("0"), 16).unwrap_or(0);
        on_tx!(tx, c => sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(key).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}

/// The newest alert with `fingerprint` created at or after `since`: (id, uuid).
pub async fn find_recent_duplicate(
    tx: &mut Tx,
    fingerprint: &str,
    since: DateTime<Utc>,
) -> Result<Option<(i64, Uuid)>, StoreError> {
    let row = on_tx!(tx, c => sqlx::query_as::<_, (i64, Uuid)>(
        "SELECT id, uuid FROM alerts WHERE fingerprint = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT 1",
    )
    .bind(fingerprint)
    .bind(since)
    .fetch_optional(c)
    .await)?;
    Ok(row)
}

/// Counts a duplicate; returns the new `duplicate_count`.
pub async fn record_duplicate(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<i32, StoreError> {
    let count = on_tx!(tx, c => sqlx::query_scalar::<_, i32>(
        "UPDATE alerts SET duplicate_count = duplicate_count + 1, last_seen_at = $2, updated_at = $2 WHERE id = $1 RETURNING duplicate_count",
    )
    .bind(id)
    .bind(now)
    .fetch_one(c)
    .await)?;
    Ok(count)
}

/// Inserts a new alert (status Open, enrichment Pending); returns (id, uuid).
pub async fn insert(tx: &mut Tx, alert: &NewAlert) -> Result<(i64, Uuid), StoreError> {
    let now = crate::now();
    let row = on_tx!(tx, c => sqlx::query_as::<_, (i64, Uuid)>(
        "INSERT INTO alerts (uuid, title, description, severity, source_name, occurred_at, ingested_at, is_enriched, \
         fingerprint, duplicate_count, status, enrichment_status, raw_payload, tags, is_system, detection_rule_id, \
         created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, FALSE, $8, 0, 'Open', 'Pending', $9, $10, FALSE, $11, $7, $7) RETURNING id, uuid",
    )
    .bind(Uuid::now_v7())
    .bind(&alert.title)
    .bind(&alert.description)
    .bind(alert.severity.as_str())
    .bind(&alert.source_name)
    .bind(alert.occurred_at)
    .bind(now)
    .bind(&alert.fingerprint)
    .bind(&alert.raw_payload)
    .bind(Json(&alert.tags))
    .bind(alert.detection_rule_id)
    .fetch_one(c)
    .await)?;
    Ok(row)
}

/// An alert by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<AlertRow>, StoreError> {
    crate::sql::by_uuid(db, "alerts", COLUMNS, uuid).await
}

/// An alert by public id, read inside `tx` (for read-modify-write).
pub async fn get_in(tx: &mut Tx, uuid: Uuid) -> Result<Option<AlertRow>, StoreError> {
    let lock = if tx.engine() == Engine::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!("SELECT {COLUMNS} FROM alerts WHERE uuid = $1{lock}");
    Ok(on_tx!(tx, c => sqlx::query_as::<_, AlertRow>(&sql).bind(uuid).fetch_optional(c).await)?)
}

/// List filters (all optional; lists match any of their values).
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub statuses: Vec<String>,
    pub severities: Vec<String>,
    pub source_names: Vec<String>,
    pub enrichment_statuses: Vec<String>,
    pub is_enriched: Option<bool>,
    pub detection_rule_id: Option<i64>,
    pub from_time: Option<DateTime<Utc>>,
    pub to_time: Option<DateTime<Utc>>,
    /// The alert must carry every one of these tags.
    pub tags: Vec<String>,
    /// Sort column (validated by the caller) and direction.
    pub sort_by: String,
    pub descending: bool,
}

fn severity_rank_sql() -> &'static str {
    "CASE severity WHEN 'Critical' THEN 5 WHEN 'High' THEN 4 WHEN 'Medium' THEN 3 WHEN 'Low' THEN 2 \
     WHEN 'Informational' THEN 1 ELSE 0 END"
}

/// One page of alerts with the total.
pub async fn list(
    db: &Db,
    filter: &AlertFilter,
    page: PageRequest,
) -> Result<(Vec<AlertSummaryRow>, i64), StoreError> {
    let mut b = Params::default();
    let mut clauses: Vec<String> = Vec::new();
    for (column, values) in [
        ("status", &filter.statuses),
        ("severity", &filter.severities),
        ("source_name", &filter.source_names),
        ("enrichment_status", &filter.enrichment_statuses),
    ] {
        if !values.is_empty() {
            clauses.push(b.in_list(column, values));
        }
    }
    if let Some(v) = filter.is_enriched {
        clauses.push(format!("is_enriched = {}", b.arg(Arg::Bool(v))));
    }
    if let Some(v) = filter.detection_rule_id {
        clauses.push(format!("detection_rule_id = {}", b.arg(Arg::I64(v))));
    }
    if let Some(v) = filter.from_time {
        clauses.push(format!("occurred_at >= {}", b.arg(Arg::Time(v))));
    }
    if let Some(v) = filter.to_time {
        clauses.push(format!("occurred_at <= {}", b.arg(Arg::Time(v))));
    }
    for tag in &filter.tags {
        clauses.push(b.json_array_holds(db.engine(), "alerts", "tags", tag));
    }
    let filter_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let direction = if filter.descending { "DESC" } else { "ASC" };
    let order = match filter.sort_by.as_str() {
        "severity" => format!("{} {direction}", severity_rank_sql()),
        column @ ("title" | "status" | "source_name" | "occurred_at" | "created_at") => {
            format!("{column} {direction}")
        }
        _ => format!("occurred_at {direction}"),
    };
    let count_sql = format!("SELECT COUNT(*) FROM alerts {filter_sql}");
    let count_args = b.args.clone();
    let limit = b.arg(Arg::I64(page.limit()));
    let offset = b.arg(Arg::I64(page.offset()));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM alerts {filter_sql} ORDER BY {order}, id {direction} LIMIT {limit} OFFSET {offset}"
    );
    let (rows, total) = on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, AlertSummaryRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// The analyst-editable state of an alert, written as a whole.
#[derive(Debug, Clone)]
pub struct AlertState {
    pub status: AlertStatus,
    pub severity: Severity,
    pub close_classification: Option<CloseClassification>,
    pub acknowledged_at: Option<DateTime<Utc>>,
    pub triaged_at: Option<DateTime<Utc>>,
    pub closed_at: Option<DateTime<Utc>>,
    pub tags: Vec<String>,
    pub malice_override: Option<Malice>,
    pub malice_override_source: Option<MaliceSource>,
    pub malice_override_at: Option<DateTime<Utc>>,
    pub close_notes: Option<String>,
}

/// Writes `state` and returns the updated row.
pub async fn update_state(tx: &mut Tx, id: i64, state: &AlertState) -> Result<AlertRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE alerts SET status = $2, severity = $3, close_classification = $4, acknowledged_at = $5, triaged_at = $6, \
         closed_at = $7, tags = $8, malice_override = $9, malice_override_source = $10, malice_override_at = $11, \
         close_notes = $12, updated_at = $13 WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(on_tx!(tx, c => sqlx::query_as::<_, AlertRow>(&sql)
        .bind(id)
        .bind(state.status.as_str())
        .bind(state.severity.as_str())
        .bind(state.close_classification.map(CloseClassification::as_str))
        .bind(state.acknowledged_at)
        .bind(state.triaged_at)
        .bind(state.closed_at)
        .bind(Json(&state.tags))
        .bind(state.malice_override.map(Malice::as_str))
        .bind(state.malice_override_source.map(MaliceSource::as_str))
        .bind(state.malice_override_at)
        .bind(&state.close_notes)
        .bind(now)
        .fetch_one(c)
        .await)?)
}

/// Replaces the findings list.
pub async fn set_findings(tx: &mut Tx, id: i64, findings: &Value) -> Result<(), StoreError> {
    let now = crate::now();
    on_tx!(tx, c => sqlx::query("UPDATE alerts SET agent_findings = $2, updated_at = $3 WHERE id = $1")
        .bind(id)
        .bind(Json(findings))
        .bind(now)
        .execute(c)
        .await
        .map(|_| ()))?;
    Ok(())
}

/// Records the end of an enrichment run at `at` — the alert's `updated_at`, as the payload built
/// beforehand shows it — and `enriched_at` when it enriched the alert.
pub async fn set_enrichment(
    tx: &mut Tx,
    id: i64,
    status: EnrichmentStatus,
    enriched_at: Option<DateTime<Utc>>,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_tx!(tx, c => sqlx::query(
        "UPDATE alerts SET enrichment_status = $2, is_enriched = ($3 IS NOT NULL OR is_enriched), \
         enriched_at = COALESCE($3, enriched_at), updated_at = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(status.as_str())
    .bind(enriched_at)
    .bind(at)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// Marks enrichment `Failed` unless the alert was since enriched; its id when the status changed.
pub async fn mark_enrichment_failed(tx: &mut Tx, uuid: Uuid) -> Result<Option<i64>, StoreError> {
    let now = crate::now();
    let id: Option<i64> = on_tx!(tx, c => sqlx::query_scalar(
        "UPDATE alerts SET enrichment_status = 'Failed', updated_at = $2 WHERE uuid = $1 AND enrichment_status <> 'Enriched' RETURNING id",
    )
    .bind(uuid)
    .bind(now)
    .fetch_optional(c)
    .await)?;
    Ok(id)
}

/// Deletes an alert (links and agent runs cascade; activity keeps its rows); `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let affected = on_write!(db, p => sqlx::query("DELETE FROM alerts WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// An alert that shares indicators with another.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PastAlertRow {
    pub id: i64,
    pub uuid: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub status: AlertStatus,
    #[sqlx(try_from = "crate::NullableText")]
    pub close_classification: Option<CloseClassification>,
    pub closed_at: Option<DateTime<Utc>>,
    pub close_notes: Option<String>,
    pub agent_findings: Option<Json<Value>>,
    pub occurred_at: DateTime<Utc>,
}

/// Up to `limit` other alerts linked to any of `indicator_ids`, newest `occurred_at` first, with
/// the (alert id, type, value) of the indicators each shares. Two queries.
pub async fn past_alerts(
    db: &Db,
    alert_id: i64,
    indicator_ids: &[i64],
    limit: i64,
) -> Result<(Vec<PastAlertRow>, Vec<(i64, String, String)>), StoreError> {
    if indicator_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut b = Params::default();
    let me = b.arg(Arg::I64(alert_id));
    let l = b.arg(Arg::I64(limit));
    // The newest `limit` links of each indicator (an index range read each) hold the newest
    // `limit` alerts overall, so the cost grows with the alert's indicators, not with how many
    // alerts share them.
    let candidates: Vec<String> = indicator_ids
        .iter()
        .enumerate()
        .map(|(n, id)| {
            let id = b.arg(Arg::I64(*id));
            format!(
                "SELECT alert_id FROM (SELECT alert_id FROM alert_indicators WHERE indicator_id = {id} AND alert_id <> {me} \
                 ORDER BY alert_occurred_at DESC, alert_id DESC LIMIT {l}) AS c{n}"
            )
        })
        .collect();
    let sql = format!(
        "SELECT id, uuid, title, status, close_classification, closed_at, close_notes, agent_findings, occurred_at FROM alerts \
         WHERE id IN ({}) ORDER BY occurred_at DESC, id DESC LIMIT {l}",
        candidates.join(" UNION ALL ")
    );
    let rows = on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, PastAlertRow>(&sql), &b.args).fetch_all(p).await)?;
    if rows.is_empty() {
        return Ok((rows, Vec::new()));
    }
    let mut b2 = Params::default();
    let alert_params: Vec<String> = rows.iter().map(|r| b2.arg(Arg::I64(r.id))).collect();
    let indicator_params: Vec<String> = indicator_ids.iter().map(|id| b2.arg(Arg::I64(*id))).collect();
    let shared_sql = format!(
        "SELECT ai.alert_id, i.type, i.value FROM alert_indicators ai JOIN indicators i ON i.id = ai.indicator_id \
         WHERE ai.alert_id IN ({}) AND ai.indicator_id IN ({}) ORDER BY ai.alert_id, ai.id",
        alert_params.join(", "),
        indicator_params.join(", ")
    );
    let shared = on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, (i64, String, String)>(&shared_sql), &b2.args).fetch_all(p).await)?;
    Ok((rows, shared))
}
