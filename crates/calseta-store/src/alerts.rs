//! The `alerts` table.

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::indicators::MaliceSource;
use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params, Query};
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

/// What ingest reads before it writes an alert, in one statement: the newest alert with its
/// fingerprint created at or after `since` (none is looked for without `since`), and its detection
/// rule `(source_name, source_rule_id)` if known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IngestLookup {
    /// The alert this one duplicates: (id, uuid).
    pub duplicate: Option<(i64, Uuid)>,
    /// The detection rule's id, when the rule exists.
    pub detection_rule_id: Option<i64>,
}

/// The query of [`ingest_lookup`].
pub(crate) fn ingest_lookup_query(
    fingerprint: &str,
    since: Option<DateTime<Utc>>,
    rule: Option<(&str, &str)>,
) -> Query {
    // Scalar subqueries, each on its index; the duplicate's two columns are looked up twice
    // rather than joined to a constant row, which costs less than the statement it replaces.
    const DUPLICATE: &str =
        "FROM alerts WHERE fingerprint = $1 AND created_at >= $2 ORDER BY created_at DESC, id DESC LIMIT 1";
    Query::new(
        format!(
            "SELECT (SELECT id {DUPLICATE}), (SELECT uuid {DUPLICATE}), \
             (SELECT id FROM detection_rules WHERE source_name = $3 AND source_rule_id = $4)"
        ),
        vec![
            Arg::Text(fingerprint.to_string()),
            Arg::OptTime(since),
            Arg::OptText(rule.map(|(source, _)| source.to_string())),
            Arg::OptText(rule.map(|(_, rule_ref)| rule_ref.to_string())),
        ],
    )
}

/// Reads what ingest needs before it writes (see [`IngestLookup`]), inside `tx`.
pub async fn ingest_lookup(
    tx: &mut Tx,
    fingerprint: &str,
    since: Option<DateTime<Utc>>,
    rule: Option<(&str, &str)>,
) -> Result<IngestLookup, StoreError> {
    if since.is_none() && rule.is_none() {
        // Nothing to look for: no statement.
        return Ok(IngestLookup::default());
    }
    let q = ingest_lookup_query(fingerprint, since, rule);
    let (id, uuid, detection_rule_id) = on_tx!(tx, c => bind_args!(
        sqlx::query_as::<_, (Option<i64>, Option<Uuid>, Option<i64>)>(&q.sql),
        &q.args
    )
    .fetch_one(c)
    .await)?;
    Ok(IngestLookup { duplicate: id.zip(uuid), detection_rule_id })
}

/// The query of [`record_duplicate`].
pub(crate) fn record_duplicate_query(id: i64, now: DateTime<Utc>) -> Query {
    Query::new(
        "UPDATE alerts SET duplicate_count = duplicate_count + 1, last_seen_at = $2, updated_at = $2 WHERE id = $1 RETURNING duplicate_count",
        vec![Arg::I64(id), Arg::Time(now)],
    )
}

/// Counts a duplicate; returns the new `duplicate_count`.
pub async fn record_duplicate(tx: &mut Tx, id: i64, now: DateTime<Utc>) -> Result<i32, StoreError> {
    let q = record_duplicate_query(id, now);
    let count =
        on_tx!(tx, c => bind_args!(sqlx::query_scalar::<_, i32>(&q.sql), &q.args).fetch_one(c).await)?;
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

/// The query of [`get`].
pub(crate) fn get_query(uuid: Uuid) -> Query {
    crate::sql::by_uuid_query("alerts", COLUMNS, uuid)
}

/// An alert by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<AlertRow>, StoreError> {
    crate::sql::fetch_optional(db, &get_query(uuid)).await
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
    /// The title contains this text (any case); the console's queue only.
    pub title_contains: Option<String>,
    /// The effective malice (the override, else the worst indicator verdict) is any of these;
    /// the console's queue only.
    pub malice: Vec<Malice>,
    /// Sort column (validated by the caller) and direction.
    pub sort_by: String,
    pub descending: bool,
}

fn severity_rank_sql() -> &'static str {
    "CASE severity WHEN 'Critical' THEN 5 WHEN 'High' THEN 4 WHEN 'Medium' THEN 3 WHEN 'Low' THEN 2 \
     WHEN 'Informational' THEN 1 ELSE 0 END"
}

/// A list's two queries: its page of rows and the filter's total.
#[derive(Debug, Clone)]
pub(crate) struct ListQueries {
    pub page: Query,
    pub count: Query,
}

/// The queries of [`list`].
pub(crate) fn list_queries(filter: &AlertFilter, page: PageRequest) -> ListQueries {
    let mut b = Params::default();
    let filter_sql = filter_clauses(filter, &mut b);
    let direction = if filter.descending { "DESC" } else { "ASC" };
    let order = format!("{} {direction}", sort_key_sql(&filter.sort_by));
    let count = Query::new(format!("SELECT COUNT(*) FROM alerts {filter_sql}"), b.args.clone());
    let limit = b.arg(Arg::I64(page.limit()));
    let offset = b.arg(Arg::I64(page.offset()));
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS} FROM alerts {filter_sql} ORDER BY {order}, id {direction} LIMIT {limit} OFFSET {offset}"
    );
    ListQueries { page: Query::new(sql, b.args), count }
}

/// One page of alerts with the total.
pub async fn list(
    db: &Db,
    filter: &AlertFilter,
    page: PageRequest,
) -> Result<(Vec<AlertSummaryRow>, i64), StoreError> {
    let q = list_queries(filter, page);
    let rows = crate::sql::fetch_all(db, &q.page).await?;
    let total = crate::sql::fetch_count(db, &q.count).await?;
    Ok((rows, total))
}

/// The `WHERE …` of a filter (empty when it filters nothing), its values added to `b`.
fn filter_clauses(filter: &AlertFilter, b: &mut Params) -> String {
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
        // `alert_tags` mirrors `alerts.tags` (kept by triggers), indexed by tag.
        clauses.push(format!(
            "alerts.id IN (SELECT alert_id FROM alert_tags WHERE tag = {})",
            b.arg(Arg::Text(tag.clone()))
        ));
    }
    if let Some(text) = &filter.title_contains {
        clauses.push(b.contains_text("title", text));
    }
    if !filter.malice.is_empty() {
        let names: Vec<String> = filter.malice.iter().map(|m| m.as_str().to_string()).collect();
        clauses.push(b.in_list(&malice_sql(), &names));
    }
    if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) }
}

/// The SQL of a sort column (validated by the caller; anything else sorts by `occurred_at`).
fn sort_key_sql(sort_by: &str) -> String {
    match sort_by {
        "severity" => severity_rank_sql().to_string(),
        column @ ("title" | "status" | "source_name" | "occurred_at" | "created_at") => column.to_string(),
        _ => "occurred_at".to_string(),
    }
}

/// An alert's effective malice in SQL: its override, else the worst verdict of its indicators
/// (`Pending` without any) — what `AlertDetail::malice` computes for one alert. Built from the
/// enum so that the ranks and spellings cannot drift from `Malice::priority`.
fn malice_sql() -> String {
    let rank: String =
        Malice::ALL.iter().map(|m| format!(" WHEN '{}' THEN {}", m.as_str(), m.priority())).collect();
    let name: String =
        Malice::ALL.iter().map(|m| format!(" WHEN {} THEN '{}'", m.priority(), m.as_str())).collect();
    format!(
        "COALESCE(alerts.malice_override, (SELECT CASE MAX(CASE i.malice{rank} ELSE 0 END){name} ELSE '{}' END \
         FROM alert_indicators ai JOIN indicators i ON i.id = ai.indicator_id WHERE ai.alert_id = alerts.id))",
        Malice::Pending.as_str()
    )
}

/// A value of the column a queue is sorted by, for a keyset position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SortValue {
    /// `occurred_at` or `created_at`.
    Time(DateTime<Utc>),
    /// `title`, `status` or `source_name`.
    Text(String),
    /// `severity`, as its rank.
    Rank(i64),
}

/// A position in a sorted alert list: a row's sort value and id (the tie-break).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub value: SortValue,
    pub id: i64,
}

impl Position {
    /// The position of `row` in a list sorted by `sort_by`.
    pub fn of(row: &AlertSummaryRow, sort_by: &str) -> Position {
        let value = match sort_by {
            "severity" => SortValue::Rank(i64::from(row.severity.rank())),
            "title" => SortValue::Text(row.title.clone()),
            "status" => SortValue::Text(row.status.as_str().to_string()),
            "source_name" => SortValue::Text(row.source_name.clone()),
            "created_at" => SortValue::Time(row.created_at),
            _ => SortValue::Time(row.occurred_at),
        };
        Position { value, id: row.id }
    }
}

/// Where a keyset page starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seek {
    /// The first page.
    First,
    /// The rows after this position, in the list's order.
    After(Position),
    /// The rows before this position (the page that ends just before it).
    Before(Position),
}

/// An alert in the console's queue: the list item and its effective malice.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertQueueRow {
    #[sqlx(flatten)]
    pub summary: AlertSummaryRow,
    #[sqlx(try_from = "String")]
    pub malice: Malice,
}

/// A keyset page of the queue.
#[derive(Debug, Clone)]
pub struct KeysetPage {
    /// The rows, in the list's order.
    pub rows: Vec<AlertQueueRow>,
    /// How many alerts match the filter in all.
    pub total: i64,
    /// Whether rows come before the first one shown.
    pub more_before: bool,
    /// Whether rows come after the last one shown.
    pub more_after: bool,
}

/// One keyset page of alerts (the console's queue): `limit` rows from `seek` in the filter's
/// order, by `(sort key, id)` comparisons rather than an offset, so that any page costs what the
/// first does and rows inserted meanwhile neither repeat nor vanish between pages.
pub async fn list_keyset(
    db: &Db,
    filter: &AlertFilter,
    seek: &Seek,
    limit: i64,
) -> Result<KeysetPage, StoreError> {
    let q = keyset_queries(filter, seek, limit);
    let mut rows: Vec<AlertQueueRow> = crate::sql::fetch_all(db, &q.page).await?;
    let total = crate::sql::fetch_count(db, &q.count).await?;
    let further = usize::try_from(limit).is_ok_and(|n| rows.len() > n);
    rows.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    let (more_before, more_after) = match seek {
        Seek::First => (false, further),
        Seek::After(_) => (true, further),
        Seek::Before(_) => {
            rows.reverse();
            (further, true)
        }
    };
    Ok(KeysetPage { rows, total, more_before, more_after })
}

/// The queries of [`list_keyset`]: `limit + 1` rows from `seek` (one more than shown says
/// whether there is a further page) and the filter's total.
pub(crate) fn keyset_queries(filter: &AlertFilter, seek: &Seek, limit: i64) -> ListQueries {
    let mut b = Params::default();
    let filter_sql = filter_clauses(filter, &mut b);
    let count = Query::new(format!("SELECT COUNT(*) FROM alerts {filter_sql}"), b.args.clone());
    let key = sort_key_sql(&filter.sort_by);
    // Reading backwards (`Before`) walks the list's order reversed, then turns the page round.
    let backwards = matches!(seek, Seek::Before(_));
    let descending = filter.descending != backwards;
    let (direction, beyond) = if descending { ("DESC", "<") } else { ("ASC", ">") };
    let mut clauses = filter_sql;
    if let Seek::After(at) | Seek::Before(at) = seek {
        let value = b.arg(match &at.value {
            SortValue::Time(t) => Arg::Time(*t),
            SortValue::Text(t) => Arg::Text(t.clone()),
            SortValue::Rank(r) => Arg::I64(*r),
        });
        let id = b.arg(Arg::I64(at.id));
        // A row-value comparison, which both engines answer from an index on (key, id).
        let condition = format!("({key}, id) {beyond} ({value}, {id})");
        clauses = if clauses.is_empty() {
            format!("WHERE {condition}")
        } else {
            format!("{clauses} AND {condition}")
        };
    }
    let fetch = b.arg(Arg::I64(limit.saturating_add(1)));
    let malice = malice_sql();
    let sql = format!(
        "SELECT {SUMMARY_COLUMNS}, {malice} AS malice FROM alerts {clauses} \
         ORDER BY {key} {direction}, id {direction} LIMIT {fetch}"
    );
    ListQueries { page: Query::new(sql, b.args), count }
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
    // Nothing reads the alert back before the next statement: sent with it (or the commit).
    tx.defer(Query::new(
        "UPDATE alerts SET enrichment_status = $2, is_enriched = ($3 IS NOT NULL OR is_enriched), \
         enriched_at = COALESCE($3, enriched_at), updated_at = $4 WHERE id = $1",
        vec![Arg::I64(id), Arg::Text(status.as_str().to_string()), Arg::OptTime(enriched_at), Arg::Time(at)],
    ));
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
    let rows: Vec<PastAlertRow> =
        crate::sql::fetch_all(db, &past_alerts_query(alert_id, indicator_ids, limit)).await?;
    if rows.is_empty() {
        return Ok((rows, Vec::new()));
    }
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let shared = crate::sql::fetch_all(db, &shared_indicators_query(&ids, indicator_ids)).await?;
    Ok((rows, shared))
}

/// The first query of [`past_alerts`]: the newest `limit` other alerts linked to any of
/// `indicator_ids` (at least one).
pub(crate) fn past_alerts_query(alert_id: i64, indicator_ids: &[i64], limit: i64) -> Query {
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
    Query::new(sql, b.args)
}

/// The second query of [`past_alerts`]: the (alert id, type, value) of each of `indicator_ids`
/// linked to each of `alert_ids`.
pub(crate) fn shared_indicators_query(alert_ids: &[i64], indicator_ids: &[i64]) -> Query {
    let mut b = Params::default();
    let alert_params: Vec<String> = alert_ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let indicator_params: Vec<String> = indicator_ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let sql = format!(
        "SELECT ai.alert_id, i.type, i.value FROM alert_indicators ai JOIN indicators i ON i.id = ai.indicator_id \
         WHERE ai.alert_id IN ({}) AND ai.indicator_id IN ({}) ORDER BY ai.alert_id, ai.id",
        alert_params.join(", "),
        indicator_params.join(", ")
    );
    Query::new(sql, b.args)
}

/// What targeting rules test of an alert, with what a list of matches shows.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertTargetingRow {
    pub id: i64,
    pub uuid: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    pub source_name: String,
    pub tags: Json<Vec<String>>,
    pub ingested_at: DateTime<Utc>,
    /// The name of the linked detection rule; `None` when the alert has none.
    pub detection_rule: Option<String>,
}

/// The targeting facts of the `limit` newest alerts, newest first, with the name of each one's
/// detection rule (one query: a LEFT JOIN by primary key). "Newest" is ingestion order, read
/// backwards along the primary key (ids are assigned as alerts are stored), so the cost is
/// `limit` rows whatever the table's size.
pub async fn newest_targeting_facts(db: &Db, limit: i64) -> Result<Vec<AlertTargetingRow>, StoreError> {
    // Titles are cut (a title can be megabytes): the list shows a line of each.
    let sql = "SELECT a.id, a.uuid, SUBSTR(a.title, 1, 300) AS title, a.severity, a.source_name, a.tags, \
               a.ingested_at, r.name AS detection_rule \
               FROM alerts a LEFT JOIN detection_rules r ON r.id = a.detection_rule_id \
               ORDER BY a.id DESC LIMIT $1";
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, AlertTargetingRow>(sql).bind(limit).fetch_all(p).await)?,
    )
}
