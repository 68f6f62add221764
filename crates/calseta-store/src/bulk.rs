//! Bulk loading for `calseta bench --scale`: generated alerts written straight to the rows an
//! ingest writes — the alert, its indicator links, its `alert_ingested` activity event — with
//! multi-row INSERTs, thousands of alerts per transaction, so that a database of a million
//! alerts takes minutes instead of the hours a million HTTP ingests would. Also how many bytes
//! the database takes on disk. Nothing in the product calls it.

use std::collections::HashMap;

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::Arg;
use crate::{Db, Engine, StoreError, Tx};

/// Alerts per INSERT statement (22 parameters each: under SQLite's 32,766 and PostgreSQL's
/// 65,535 parameters per statement).
const ALERTS_PER_STATEMENT: usize = 500;
/// Links or events per INSERT statement (at most 10 parameters each).
const ROWS_PER_STATEMENT: usize = 2_000;
/// SQLite's page cache for a bulk load, in KiB (the default is 2 MiB): the indexes a load
/// touches at random (the fingerprint's) stay in memory between statements.
const SQLITE_CACHE_KIB: i64 = 262_144;

/// An indicator to store (or find, if its type and value exist).
#[derive(Debug, Clone)]
pub struct BulkIndicator {
    pub kind: IndicatorType,
    pub value: String,
    pub malice: Malice,
    /// Provider results, as enrichment stores them.
    pub enrichment_results: Option<Value>,
    /// When it was first and last seen.
    pub seen_at: DateTime<Utc>,
}

/// A generated alert: what ingest and an analyst's handling would have written.
#[derive(Debug, Clone)]
pub struct BulkAlert {
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub status: AlertStatus,
    pub enrichment_status: EnrichmentStatus,
    pub close_classification: Option<CloseClassification>,
    pub source_name: String,
    pub occurred_at: DateTime<Utc>,
    /// When it was ingested (also its `created_at`).
    pub ingested_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
    pub fingerprint: String,
    pub raw_payload: String,
    pub tags: Vec<String>,
    pub detection_rule_id: Option<i64>,
    /// Internal ids of its indicators (distinct), linked in this order.
    pub indicator_ids: Vec<i64>,
}

/// The parameters of one bulk statement, each used once, in the order the text names them:
/// `?` on SQLite and `$n` on PostgreSQL. (SQLite's driver looks each `$n` up among the
/// statement's named parameters, a cost that grows with their number: with thousands in a
/// statement it was most of a load's time. Plain `?`s are bound by position.)
struct Values {
    engine: Engine,
    args: Vec<Arg>,
}

impl Values {
    fn new(engine: Engine) -> Self {
        Values { engine, args: Vec::new() }
    }

    /// Adds `arg`; its placeholder.
    fn add(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        match self.engine {
            Engine::Sqlite => "?".to_string(),
            Engine::Postgres => format!("${}", self.args.len()),
        }
    }

    /// Adds each of `args`; the row of their placeholders, `(…)`.
    fn row(&mut self, args: impl IntoIterator<Item = Arg>) -> String {
        let placeholders: Vec<String> = args.into_iter().map(|a| self.add(a)).collect();
        format!("({})", placeholders.join(", "))
    }
}

/// Stores `indicators` (an existing type and value is kept as it is); their internal ids, in
/// the order given. One transaction.
pub async fn insert_indicators(db: &Db, indicators: &[BulkIndicator]) -> Result<Vec<i64>, StoreError> {
    let mut tx = db.begin().await?;
    let mut ids = Vec::with_capacity(indicators.len());
    for chunk in indicators.chunks(ROWS_PER_STATEMENT / 2) {
        let mut b = Values::new(db.engine());
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                b.row([
                    Arg::Uuid(Uuid::now_v7()),
                    Arg::Text(i.kind.as_str().to_string()),
                    Arg::Text(i.value.clone()),
                    Arg::Time(i.seen_at),
                    Arg::Time(i.seen_at),
                    Arg::Text(i.malice.as_str().to_string()),
                    Arg::Bool(i.enrichment_results.is_some()),
                    Arg::OptJson(i.enrichment_results.clone().map(Json)),
                    Arg::Time(i.seen_at),
                    Arg::Time(i.seen_at),
                ])
            })
            .collect();
        // The no-op update makes RETURNING answer for rows that already existed too.
        let sql = format!(
            "INSERT INTO indicators (uuid, type, value, first_seen, last_seen, malice, is_enriched, \
             enrichment_results, created_at, updated_at) VALUES {} \
             ON CONFLICT (type, value) DO UPDATE SET type = excluded.type RETURNING id, type, value",
            rows.join(", ")
        );
        let found: Vec<(i64, String, String)> =
            on_tx!(tx, c => bind_args!(sqlx::query_as(&sql), &b.args).fetch_all(c).await)?;
        let found: HashMap<(String, String), i64> =
            found.into_iter().map(|(id, kind, value)| ((kind, value), id)).collect();
        for i in chunk {
            let key = (i.kind.as_str().to_string(), i.value.clone());
            let id = found
                .get(&key)
                .ok_or_else(|| StoreError::Corrupt(format!("indicator {} not returned", i.value)))?;
            ids.push(*id);
        }
    }
    tx.commit().await?;
    Ok(ids)
}

/// Stores `alerts`, each with its indicator links and an `alert_ingested` event by the key
/// `key_prefix`, in one transaction; each alert's (internal id, public id), in the order given.
pub async fn insert_alerts(
    db: &Db,
    alerts: &[BulkAlert],
    key_prefix: &str,
) -> Result<Vec<(i64, Uuid)>, StoreError> {
    let mut tx = db.begin().await?;
    if tx.engine() == Engine::Sqlite {
        let pragma = format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB}");
        on_tx!(tx, c => sqlx::query(&pragma).execute(c).await.map(|_| ()))?;
    }
    let mut ids = Vec::with_capacity(alerts.len());
    for chunk in alerts.chunks(ALERTS_PER_STATEMENT) {
        ids.extend(insert_alert_rows(&mut tx, chunk).await?);
    }
    let links: Vec<(i64, i64, &BulkAlert)> = alerts
        .iter()
        .zip(&ids)
        .flat_map(|(alert, (id, _))| alert.indicator_ids.iter().map(move |i| (*id, *i, alert)))
        .collect();
    for chunk in links.chunks(ROWS_PER_STATEMENT) {
        let mut b = Values::new(db.engine());
        let rows: Vec<String> = chunk
            .iter()
            .map(|(alert_id, indicator_id, alert)| {
                b.row([
                    Arg::I64(*alert_id),
                    Arg::I64(*indicator_id),
                    Arg::Time(alert.occurred_at),
                    Arg::Time(alert.ingested_at),
                    Arg::Time(alert.ingested_at),
                    Arg::Text("raw_payload_mappings".to_string()),
                ])
            })
            .collect();
        let sql = format!(
            "INSERT INTO alert_indicators (alert_id, indicator_id, alert_occurred_at, created_at, updated_at, origin_pass) \
             VALUES {}",
            rows.join(", ")
        );
        execute(&mut tx, &sql, &b.args).await?;
    }
    let events: Vec<(i64, &BulkAlert)> = ids.iter().map(|(id, _)| *id).zip(alerts).collect();
    for chunk in events.chunks(ROWS_PER_STATEMENT) {
        let mut b = Values::new(db.engine());
        let rows: Vec<String> = chunk
            .iter()
            .map(|(id, alert)| {
                let refs = json!({"source_name": alert.source_name, "severity": alert.severity.as_str(), "title": alert.title});
                b.row([
                    Arg::Uuid(Uuid::now_v7()),
                    Arg::Text("alert_ingested".to_string()),
                    Arg::Text("api".to_string()),
                    Arg::Text(key_prefix.to_string()),
                    Arg::I64(*id),
                    Arg::Json(Json(refs)),
                    Arg::Time(alert.ingested_at),
                ])
            })
            .collect();
        let sql = format!(
            "INSERT INTO activity_events (uuid, event_type, actor_type, actor_key_prefix, alert_id, \"references\", created_at) \
             VALUES {}",
            rows.join(", ")
        );
        execute(&mut tx, &sql, &b.args).await?;
    }
    tx.commit().await?;
    Ok(ids)
}

/// One INSERT of `alerts`; their (internal id, public id) in the order given.
async fn insert_alert_rows(tx: &mut Tx, alerts: &[BulkAlert]) -> Result<Vec<(i64, Uuid)>, StoreError> {
    let mut b = Values::new(tx.engine());
    let mut uuids = Vec::with_capacity(alerts.len());
    let rows: Vec<String> = alerts
        .iter()
        .map(|a| {
            let id = Uuid::now_v7();
            uuids.push(id);
            let enriched = a.enrichment_status == EnrichmentStatus::Enriched;
            b.row([
                Arg::Uuid(id),
                Arg::Text(a.title.clone()),
                Arg::Text(a.description.clone()),
                Arg::Text(a.severity.as_str().to_string()),
                Arg::Text(a.source_name.clone()),
                Arg::Time(a.occurred_at),
                Arg::Time(a.ingested_at),
                Arg::OptTime(enriched.then_some(a.ingested_at)),
                Arg::Bool(enriched),
                Arg::Text(a.fingerprint.clone()),
                Arg::Text(a.status.as_str().to_string()),
                Arg::Text(a.enrichment_status.as_str().to_string()),
                Arg::OptText(a.close_classification.map(|c| c.as_str().to_string())),
                Arg::OptTime(a.closed_at),
                // acknowledged_at: an alert is acknowledged when it is closed.
                Arg::OptTime(a.closed_at),
                Arg::Text(a.raw_payload.clone()),
                Arg::Json(Json(Value::from(a.tags.clone()))),
                Arg::OptI64(a.detection_rule_id),
                Arg::Bool(false),
                Arg::I64(0),
                Arg::Time(a.ingested_at),
                Arg::Time(a.ingested_at),
            ])
        })
        .collect();
    let sql = format!(
        "INSERT INTO alerts (uuid, title, description, severity, source_name, occurred_at, ingested_at, enriched_at, \
         is_enriched, fingerprint, status, enrichment_status, close_classification, closed_at, acknowledged_at, \
         raw_payload, tags, detection_rule_id, is_system, duplicate_count, created_at, updated_at) VALUES {} \
         RETURNING id, uuid",
        rows.join(", ")
    );
    let stored: Vec<(i64, Uuid)> =
        on_tx!(tx, c => bind_args!(sqlx::query_as(&sql), &b.args).fetch_all(c).await)?;
    // RETURNING's order is not promised: rows are matched by the public id given to each.
    let stored: HashMap<Uuid, i64> = stored.into_iter().map(|(id, uuid)| (uuid, id)).collect();
    uuids
        .iter()
        .map(|uuid| {
            stored
                .get(uuid)
                .map(|id| (*id, *uuid))
                .ok_or_else(|| StoreError::Corrupt(format!("alert {uuid} not returned")))
        })
        .collect()
}

async fn execute(tx: &mut Tx, sql: &str, args: &[Arg]) -> Result<(), StoreError> {
    on_tx!(tx, c => bind_args!(sqlx::query(sql), args).execute(c).await.map(|_| ()))?;
    Ok(())
}

/// How many alerts the database holds.
pub async fn alert_count(db: &Db) -> Result<i64, StoreError> {
    crate::sql::fetch_count(db, &crate::sql::Query::new("SELECT COUNT(*) FROM alerts", Vec::new())).await
}

/// Brings the planner's statistics up to date after a bulk load, as PostgreSQL's autovacuum
/// would soon; nothing on SQLite, whose planner the product never gives statistics.
pub async fn refresh_statistics(db: &Db) -> Result<(), StoreError> {
    if let Some(pool) = db.pg_pool() {
        sqlx::query("ANALYZE").execute(pool).await?;
    }
    Ok(())
}

/// The bytes the database takes on disk: on SQLite the file and its WAL after a checkpoint
/// that empties the WAL (run it with no other process reading), on PostgreSQL
/// `pg_database_size` (which counts the space deleted rows leave until a `VACUUM FULL`).
pub async fn disk_bytes(db: &Db) -> Result<u64, StoreError> {
    match db.engine() {
        Engine::Sqlite => {
            let checkpoint = crate::sql::Query::new("PRAGMA wal_checkpoint(TRUNCATE)", Vec::new());
            let _: Option<(i64, i64, i64)> = crate::sql::fetch_optional(db, &checkpoint).await?;
            let Some(path) = db.sqlite_path() else { return Ok(0) };
            let mut total = 0;
            for suffix in ["", "-wal"] {
                let mut name = path.as_os_str().to_owned();
                name.push(suffix);
                total += std::fs::metadata(std::path::PathBuf::from(name)).map(|m| m.len()).unwrap_or(0);
            }
            Ok(total)
        }
        Engine::Postgres => {
            let size = crate::sql::Query::new("SELECT pg_database_size(current_database())", Vec::new());
            Ok(u64::try_from(crate::sql::fetch_count(db, &size).await?).unwrap_or(0))
        }
    }
}
