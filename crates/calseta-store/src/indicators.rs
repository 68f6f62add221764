//! `indicators` (global `(type, value)` entities) and their `alert_indicators` links.

use calseta_core::alerts::{AlertStatus, Malice, Severity};
use calseta_core::decoders::Decoder;
use calseta_core::enrichment::IndicatorResults;
use calseta_core::extraction::ExtractionPass;
use calseta_core::indicators::{IndicatorType, MaliceSource};
use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params, Query};
use crate::{Db, StoreError, Tx};

const PLAIN_COLUMNS: &str = "id, uuid, type AS kind, value, first_seen, last_seen, is_enriched, malice, \
    malice_source, malice_overridden_at, enrichment_results, created_at, updated_at";

const COLUMNS: &str = "i.id, i.uuid, i.type AS kind, i.value, i.first_seen, i.last_seen, i.is_enriched, i.malice, \
    i.malice_source, i.malice_overridden_at, i.enrichment_results, i.created_at, i.updated_at";

/// A stored indicator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IndicatorRow {
    pub id: i64,
    pub uuid: Uuid,
    /// The `type` column.
    #[sqlx(try_from = "String")]
    pub kind: IndicatorType,
    pub value: String,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    pub is_enriched: bool,
    #[sqlx(try_from = "String")]
    pub malice: Malice,
    #[sqlx(try_from = "String")]
    pub malice_source: MaliceSource,
    pub malice_overridden_at: Option<DateTime<Utc>>,
    pub enrichment_results: Option<Json<Value>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a new link's indicator came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewOrigin<'a> {
    /// The field path extraction found it at (`None` for one added by hand).
    pub field: Option<&'a str>,
    /// The pass that found it.
    pub pass: ExtractionPass,
    /// The decoder that revealed it inside an encoded or wrapped field (`cef`, `json`, …).
    pub decoder: Option<Decoder>,
}

/// Rows per statement of [`upsert_and_link_all`]: far below either engine's parameter limit.
const ROWS_PER_STATEMENT: usize = 200;

/// What [`upsert_and_link_as`] gives the indicators it touches: the time it stamps, and the public
/// id of each one it inserts — fixed before the transaction, so that a caller can show the rows as
/// the upsert will leave them ([`NewIndicators::unsaved`], [`NewIndicators::touch`]) and build
/// what goes into the same transaction from them.
#[derive(Debug, Clone)]
pub struct NewIndicators {
    at: DateTime<Utc>,
    uuids: std::collections::HashMap<(IndicatorType, String), Uuid>,
}

impl NewIndicators {
    /// Upserts stamped `at`, each inserted indicator with a fresh public id.
    pub fn at(at: DateTime<Utc>) -> Self {
        NewIndicators { at, uuids: std::collections::HashMap::new() }
    }

    /// The row the upsert inserts for `(kind, value)` when none is stored, under the caller's
    /// stand-in `id` (the real one is the database's); its public id is the one the upsert uses.
    pub fn unsaved(&mut self, kind: IndicatorType, value: &str, id: i64) -> IndicatorRow {
        let uuid = *self.uuids.entry((kind, value.to_string())).or_insert_with(Uuid::now_v7);
        IndicatorRow {
            id,
            uuid,
            kind,
            value: value.to_string(),
            first_seen: self.at,
            last_seen: self.at,
            is_enriched: false,
            malice: Malice::Pending,
            malice_source: MaliceSource::Enrichment,
            malice_overridden_at: None,
            enrichment_results: None,
            created_at: self.at,
            updated_at: self.at,
        }
    }

    /// `row`, already stored, as the upsert leaves it: seen again now.
    pub fn touch(&self, row: &mut IndicatorRow) {
        row.last_seen = self.at;
        row.updated_at = self.at;
    }

    fn uuid_for(&self, kind: IndicatorType, value: &str) -> Uuid {
        self.uuids.get(&(kind, value.to_string())).copied().unwrap_or_else(Uuid::now_v7)
    }
}

/// The stored indicators among `keys` (type and value), on the reader pool, in no order.
pub async fn find_all(db: &Db, keys: &[(IndicatorType, &str)]) -> Result<Vec<IndicatorRow>, StoreError> {
    let mut rows = Vec::new();
    for chunk in keys.chunks(ROWS_PER_STATEMENT) {
        let mut b = Params::default();
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(kind, value)| {
                let kind = b.arg(Arg::Text(kind.as_str().to_string()));
                format!("(i.type = {kind} AND i.value = {})", b.arg(Arg::Text((*value).to_string())))
            })
            .collect();
        // Each pair a lookup on the `(type, value)` unique index.
        let sql = format!("SELECT {COLUMNS} FROM indicators i WHERE {}", pairs.join(" OR "));
        rows.extend(crate::sql::fetch_all::<IndicatorRow>(db, &Query::new(sql, b.args)).await?);
    }
    Ok(rows)
}

/// Inserts each indicator or bumps its `last_seen`, then links it to the alert (idempotent),
/// recording its origin — the field path and pass that found it — on the link unless the link
/// already has one (the first origin wins; a link made before origins were kept gets this one).
/// Two statements per 200 indicators (the indicators, then the links) rather than two each: on
/// SQLite every statement is a round trip to the writer's thread while it holds the only writer.
/// The same pair twice in one call is stored once with its first origin (a `None` origin first
/// stays `None`). Returns the rows in the order given (each once). The links' statement goes with
/// the transaction's next one.
pub async fn upsert_and_link_all(
    tx: &mut Tx,
    alert_id: i64,
    items: &[(IndicatorType, &str, Option<NewOrigin<'_>>)],
) -> Result<Vec<IndicatorRow>, StoreError> {
    upsert_and_link_as(tx, alert_id, items, &NewIndicators::at(crate::now())).await
}

/// [`upsert_and_link_all`] stamped and with public ids as `new` says.
pub async fn upsert_and_link_as(
    tx: &mut Tx,
    alert_id: i64,
    items: &[(IndicatorType, &str, Option<NewOrigin<'_>>)],
    new: &NewIndicators,
) -> Result<Vec<IndicatorRow>, StoreError> {
    let mut seen = std::collections::HashSet::new();
    let items: Vec<_> = items.iter().filter(|(kind, value, _)| seen.insert((*kind, *value))).collect();
    let mut rows = Vec::with_capacity(items.len());
    let now = new.at;
    for chunk in items.chunks(ROWS_PER_STATEMENT) {
        let mut b = Params::default();
        let at = b.arg(Arg::Time(now));
        // Inserted in (type, value) order, so two transactions upserting shared indicators take
        // their row locks in one order (PostgreSQL) and cannot deadlock.
        let mut in_key_order: Vec<_> = chunk.iter().collect();
        in_key_order.sort_by(|a, b| (a.0.as_str(), a.1).cmp(&(b.0.as_str(), b.1)));
        let values: Vec<String> = in_key_order
            .iter()
            .map(|(kind, value, _)| {
                format!(
                    "({}, {}, {}, {at}, {at}, FALSE, 'Pending', 'enrichment', {at}, {at})",
                    b.arg(Arg::Uuid(new.uuid_for(*kind, value))),
                    b.arg(Arg::Text(kind.as_str().to_string())),
                    b.arg(Arg::Text((*value).to_string())),
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO indicators (uuid, type, value, first_seen, last_seen, is_enriched, malice, malice_source, created_at, updated_at) \
             VALUES {} \
             ON CONFLICT (type, value) DO UPDATE SET last_seen = excluded.last_seen, updated_at = excluded.updated_at \
             RETURNING {PLAIN_COLUMNS}",
            values.join(", ")
        );
        // With the transaction's deferred writes (the previous chunk's links among them).
        let stored: Vec<IndicatorRow> = tx.fetch_all(&Query::new(sql, b.args)).await?;
        // `RETURNING` promises no order: each row is found again by its (type, value).
        let mut by_key: std::collections::HashMap<(IndicatorType, String), IndicatorRow> =
            stored.into_iter().map(|row| ((row.kind, row.value.clone()), row)).collect();
        let mut chunk_rows = Vec::with_capacity(chunk.len());
        for (kind, value, _) in chunk {
            let row = by_key.remove(&(*kind, (*value).to_string())).ok_or_else(|| {
                StoreError::Corrupt(format!("the upsert of {} {value} returned no row", kind.as_str()))
            })?;
            chunk_rows.push(row);
        }
        let mut b = Params::default();
        let (alert, at) = (b.arg(Arg::I64(alert_id)), b.arg(Arg::Time(now)));
        let links: Vec<String> = chunk
            .iter()
            .zip(&chunk_rows)
            .enumerate()
            .map(|(ord, ((_, _, origin), row))| {
                format!(
                    "({}, {}, {}, {}, {})",
                    b.arg(Arg::I64(ord as i64)),
                    b.arg(Arg::I64(row.id)),
                    b.arg(Arg::OptText(origin.and_then(|o| o.field).map(str::to_string))),
                    b.arg(Arg::OptText(origin.map(|o| o.pass.as_str().to_string()))),
                    b.arg(Arg::OptText(origin.and_then(|o| o.decoder).map(|d| d.as_str().to_string()))),
                )
            })
            .collect();
        // `WHERE` before `ON CONFLICT`: SQLite would read a bare `ON` as a join's. Links are made
        // in the order given (`ord`), the order an alert's indicators are listed in.
        let sql = format!(
            "WITH found (ord, indicator_id, origin_field, origin_pass, origin_decoder) AS (VALUES {}) \
             INSERT INTO alert_indicators (alert_id, indicator_id, alert_occurred_at, created_at, updated_at, origin_field, origin_pass, origin_decoder) \
             SELECT a.id, found.indicator_id, a.occurred_at, {at}, {at}, found.origin_field, found.origin_pass, found.origin_decoder \
             FROM found, alerts a WHERE a.id = {alert} ORDER BY found.ord \
             ON CONFLICT (alert_id, indicator_id) DO UPDATE SET \
               origin_field = CASE WHEN alert_indicators.origin_pass IS NULL THEN excluded.origin_field ELSE alert_indicators.origin_field END, \
               origin_decoder = CASE WHEN alert_indicators.origin_pass IS NULL THEN excluded.origin_decoder ELSE alert_indicators.origin_decoder END, \
               origin_pass = COALESCE(alert_indicators.origin_pass, excluded.origin_pass)",
            links.join(", ")
        );
        // Nothing reads its outcome: it goes with the transaction's next statement.
        tx.defer(Query::new(sql, b.args));
        rows.extend(chunk_rows);
    }
    Ok(rows)
}

/// The query of [`for_alert`] and [`for_alert_with_origins`]: each indicator with its link's
/// origin (which [`for_alert`] does not decode).
pub(crate) fn for_alert_query(alert_id: i64) -> Query {
    Query::new(
        format!(
            "SELECT {COLUMNS}, ai.indicator_id, ai.origin_field, ai.origin_pass, ai.origin_decoder \
             FROM indicators i JOIN alert_indicators ai ON ai.indicator_id = i.id \
             WHERE ai.alert_id = $1 ORDER BY ai.id"
        ),
        vec![Arg::I64(alert_id)],
    )
}

/// The indicators linked to an alert, in link order.
pub async fn for_alert(db: &Db, alert_id: i64) -> Result<Vec<IndicatorRow>, StoreError> {
    crate::sql::fetch_all(db, &for_alert_query(alert_id)).await
}

/// An indicator with where its link to an alert says it was found.
#[derive(sqlx::FromRow)]
struct LinkedIndicator {
    #[sqlx(flatten)]
    indicator: IndicatorRow,
    #[sqlx(flatten)]
    origin: LinkOrigin,
}

/// The indicators linked to an alert and their links' origins, in link order, in one statement.
pub async fn for_alert_with_origins(
    db: &Db,
    alert_id: i64,
) -> Result<(Vec<IndicatorRow>, Vec<LinkOrigin>), StoreError> {
    let rows: Vec<LinkedIndicator> = crate::sql::fetch_all(db, &for_alert_query(alert_id)).await?;
    Ok(rows.into_iter().map(|row| (row.indicator, row.origin)).unzip())
}

/// Where one of an alert's indicators came from, as its link records it (all `None` for links
/// made before origins were kept).
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkOrigin {
    /// The indicator's internal id.
    pub indicator_id: i64,
    /// The field path extraction found it at.
    pub origin_field: Option<String>,
    /// The pass that found it (an unknown stored value reads as none).
    #[sqlx(try_from = "Option<String>")]
    pub origin_pass: OptionalPass,
    /// The decoder that revealed it inside an encoded or wrapped field (`cef`,
    /// `powershell-base64`, …); `None` for a value written plainly.
    pub origin_decoder: Option<String>,
}

/// A stored pass, read leniently: an unknown value reads as none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionalPass(pub Option<ExtractionPass>);

impl From<Option<String>> for OptionalPass {
    fn from(value: Option<String>) -> Self {
        OptionalPass(value.and_then(|v| ExtractionPass::parse(&v).ok()))
    }
}

/// An indicator by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<IndicatorRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM indicators i WHERE i.uuid = $1");
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, IndicatorRow>(&sql).bind(uuid).fetch_optional(p).await)?,
    )
}

/// An indicator by its exact type and (normalized) value.
pub async fn find(db: &Db, kind: &str, value: &str) -> Result<Option<IndicatorRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM indicators i WHERE i.type = $1 AND i.value = $2");
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, IndicatorRow>(&sql)
        .bind(kind)
        .bind(value)
        .fetch_optional(p)
        .await)?)
}

/// Sets the verdict and who set it; returns the updated row.
pub async fn set_malice(
    tx: &mut Tx,
    id: i64,
    malice: Malice,
    source: MaliceSource,
    overridden_at: Option<DateTime<Utc>>,
) -> Result<IndicatorRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE indicators SET malice = $2, malice_source = $3, malice_overridden_at = $4, updated_at = $5 \
         WHERE id = $1 RETURNING {PLAIN_COLUMNS}"
    );
    Ok(on_tx!(tx, c => sqlx::query_as::<_, IndicatorRow>(&sql)
        .bind(id)
        .bind(malice.as_str())
        .bind(source.as_str())
        .bind(overridden_at)
        .bind(now)
        .fetch_one(c)
        .await)?)
}

/// The internal id of the alert `alert_uuid` when the indicator is linked to it.
pub async fn linked_alert_id(
    db: &Db,
    indicator_id: i64,
    alert_uuid: Uuid,
) -> Result<Option<i64>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_scalar::<_, i64>(
        "SELECT a.id FROM alerts a JOIN alert_indicators ai ON ai.alert_id = a.id \
         WHERE a.uuid = $1 AND ai.indicator_id = $2",
    )
    .bind(alert_uuid)
    .bind(indicator_id)
    .fetch_optional(p)
    .await)?)
}

/// The first alert an indicator is linked to.
pub async fn first_linked_alert(tx: &mut Tx, indicator_id: i64) -> Result<Option<i64>, StoreError> {
    Ok(on_tx!(tx, c => sqlx::query_scalar::<_, i64>(
        "SELECT alert_id FROM alert_indicators WHERE indicator_id = $1 ORDER BY id LIMIT 1",
    )
    .bind(indicator_id)
    .fetch_optional(c)
    .await)?)
}

/// Another alert linked to the same indicator.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SiblingRow {
    /// The shared indicator.
    pub indicator_id: i64,
    pub uuid: Uuid,
    pub title: String,
    #[sqlx(try_from = "String")]
    pub severity: Severity,
    #[sqlx(try_from = "String")]
    pub status: AlertStatus,
    pub source_name: String,
    pub occurred_at: DateTime<Utc>,
    pub tags: Json<Vec<String>>,
}

/// For each of `indicator_ids`: how many *other* alerts are linked, and the newest `limit` of them.
/// Two queries in all, whatever the number of indicators.
pub async fn siblings(
    db: &Db,
    alert_id: i64,
    indicator_ids: &[i64],
    limit: i64,
) -> Result<(Vec<(i64, i64)>, Vec<SiblingRow>), StoreError> {
    if indicator_ids.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let mut b = crate::sql::Params::default();
    let alert = b.arg(crate::sql::Arg::I64(alert_id));
    let ids: Vec<String> = indicator_ids.iter().map(|id| b.arg(crate::sql::Arg::I64(*id))).collect();
    let ids = ids.join(", ");
    let count_sql = format!(
        "SELECT indicator_id, COUNT(*) FROM alert_indicators WHERE indicator_id IN ({ids}) AND alert_id <> {alert} GROUP BY indicator_id"
    );
    let limit = b.arg(crate::sql::Arg::I64(limit));
    let sibling_sql = format!(
        "SELECT indicator_id, uuid, title, severity, status, source_name, occurred_at, tags FROM (\
           SELECT ai.indicator_id, a.uuid, a.title, a.severity, a.status, a.source_name, a.occurred_at, a.tags, \
             ROW_NUMBER() OVER (PARTITION BY ai.indicator_id ORDER BY a.occurred_at DESC, a.id DESC) AS rn \
           FROM alert_indicators ai JOIN alerts a ON a.id = ai.alert_id \
           WHERE ai.indicator_id IN ({ids}) AND ai.alert_id <> {alert}) AS ranked \
         WHERE rn <= {limit} ORDER BY indicator_id, occurred_at DESC"
    );
    let counts_args: Vec<_> = b.args[..b.args.len() - 1].to_vec();
    let (counts, rows) = on_pool!(db.read_pool(), p => {
        let counts = bind_args!(sqlx::query_as::<_, (i64, i64)>(&count_sql), &counts_args).fetch_all(p).await?;
        let rows = bind_args!(sqlx::query_as::<_, SiblingRow>(&sibling_sql), &b.args).fetch_all(p).await?;
        Ok::<_, sqlx::Error>((counts, rows))
    })?;
    Ok((counts, rows))
}

/// An indicator's provider results after new answers are merged over the stored ones, and what
/// they make of it.
pub struct MergedResults {
    /// The stored results with the new answers over them (a provider's later answer wins).
    pub results: serde_json::Map<String, Value>,
    /// The verdict of the results; `None` when an analyst set the malice, which results never
    /// override.
    pub malice: Option<Malice>,
    /// Whether some provider answered (not every lookup failed).
    pub enriched: bool,
}

impl MergedResults {
    /// `new` merged over `stored` for an indicator whose malice was set by `malice_source`.
    pub fn of(
        mut stored: serde_json::Map<String, Value>,
        new: &serde_json::Map<String, Value>,
        malice_source: MaliceSource,
    ) -> Self {
        for (provider, result) in new {
            stored.insert(provider.clone(), result.clone());
        }
        let assessed = IndicatorResults::from_map(&stored);
        let malice = (malice_source != MaliceSource::Analyst).then(|| assessed.verdict());
        MergedResults { enriched: assessed.is_enriched(), malice, results: stored }
    }
}

impl IndicatorRow {
    /// The row as [`merge_results_in`] leaves it after merging `new` at `at`: for a caller that
    /// writes the results in a later transaction but shows them now.
    pub fn merge_results(&mut self, new: &serde_json::Map<String, Value>, at: DateTime<Utc>) {
        let stored = match self.enrichment_results.take().map(|j| j.0) {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        let merged = MergedResults::of(stored, new, self.malice_source);
        self.enrichment_results = Some(Json(Value::Object(merged.results)));
        if let Some(malice) = merged.malice {
            self.malice = malice;
        }
        self.is_enriched = merged.enriched;
        self.updated_at = at;
    }
}

/// Merges provider results into indicators (per provider key) and recomputes each verdict —
/// unless an analyst set it (sticky) — and whether it counts as enriched (not when every lookup
/// failed), both from the merged results. One transaction for the whole batch; read-modify-write
/// under the row locks.
pub async fn merge_results(
    db: &Db,
    batch: &[(i64, serde_json::Map<String, Value>)],
) -> Result<(), StoreError> {
    if batch.is_empty() {
        return Ok(());
    }
    let mut tx = db.begin().await?;
    merge_results_in(&mut tx, batch, crate::now()).await?;
    tx.commit().await
}

/// [`merge_results`] inside the caller's transaction (e.g. a job's fenced one), stamped `at`: one
/// statement reads every indicator of the batch, one writes them all (`UPDATE … FROM` a list of
/// values), deferred to go with the transaction's next statement.
pub async fn merge_results_in(
    tx: &mut Tx,
    batch: &[(i64, serde_json::Map<String, Value>)],
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    // In id order (stable: the later answer for an id still wins), so concurrent batches lock
    // rows in one order on PostgreSQL even across chunks; chunks stay far below either engine's
    // parameter limit, and a later chunk reads what earlier ones wrote.
    let mut batch: Vec<&(i64, serde_json::Map<String, Value>)> = batch.iter().collect();
    batch.sort_by_key(|(id, _)| *id);
    for chunk in batch.chunks(ROWS_PER_STATEMENT) {
        merge_chunk(tx, chunk, at).await?;
    }
    Ok(())
}

async fn merge_chunk(
    tx: &mut Tx,
    batch: &[&(i64, serde_json::Map<String, Value>)],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let mut read = Params::default();
    let ids: Vec<String> = batch.iter().map(|(id, _)| read.arg(Arg::I64(*id))).collect();
    // Rows are locked in id order so concurrent batches cannot deadlock on PostgreSQL.
    let lock = if tx.engine() == crate::Engine::Postgres { " FOR UPDATE" } else { "" };
    let sql = format!(
        "SELECT id, enrichment_results, malice_source FROM indicators WHERE id IN ({}) ORDER BY id{lock}",
        ids.join(", ")
    );
    // With the transaction's deferred writes, if any, in one command.
    let rows: Vec<(i64, Option<Json<Value>>, String)> = tx.fetch_all(&Query::new(sql, read.args)).await?;
    let mut stored: std::collections::BTreeMap<i64, (serde_json::Map<String, Value>, MaliceSource)> =
        std::collections::BTreeMap::new();
    for (id, results, malice_source) in rows {
        let results = match results.map(|j| j.0) {
            Some(Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        stored.insert(id, (results, MaliceSource::try_from(malice_source)?));
    }
    // Each indicator's stored results with the batch's merged over them, in id order (the same
    // id twice merges both, the later provider answers winning). An indicator deleted meanwhile
    // is skipped.
    let mut merged: std::collections::BTreeMap<i64, MergedResults> = std::collections::BTreeMap::new();
    for (id, results) in batch {
        let Some((stored_results, malice_source)) = stored.get_mut(id) else { continue };
        let base = match merged.remove(id) {
            Some(earlier) => earlier.results,
            None => std::mem::take(stored_results),
        };
        merged.insert(*id, MergedResults::of(base, results, *malice_source));
    }
    let mut write = Params::default();
    let at = write.arg(Arg::Time(now));
    let mut values = Vec::new();
    for (id, merged) in merged {
        values.push(format!(
            "({}, {}, {}, {})",
            write.arg(Arg::I64(id)),
            write.arg(Arg::Json(Json(Value::Object(merged.results)))),
            write.arg(Arg::OptText(merged.malice.map(|m| m.as_str().to_string()))),
            write.arg(Arg::Bool(merged.enriched)),
        ));
    }
    if values.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "WITH merged (id, results, malice, enriched) AS (VALUES {}) \
         UPDATE indicators SET enrichment_results = merged.results, is_enriched = merged.enriched, \
           malice = COALESCE(merged.malice, indicators.malice), updated_at = {at} \
         FROM merged WHERE indicators.id = merged.id",
        values.join(", ")
    );
    // Nobody reads it back before the transaction's next statement: it goes with that one.
    tx.defer(Query::new(sql, write.args));
    Ok(())
}
