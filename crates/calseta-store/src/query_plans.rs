//! The plans of the hot queries — the alert list with each filter, the alert detail (the row,
//! its indicators and their origins, its detection rule, activity, agent runs and pending
//! deliveries), past alerts and the duplicate lookup — as the engine would run them, so that a
//! test can check that none reads a whole large table and that a database of a million alerts
//! answers them as fast as one of ten thousand.
//!
//! Each query is built by the same function that builds it for the real call (`*_query`
//! functions beside each repository function), never copied: a change to a real query changes
//! the plan checked. SQLite's plan is `EXPLAIN QUERY PLAN`; PostgreSQL's is `EXPLAIN` inside a
//! transaction rolled back, with `SET LOCAL enable_seqscan = off` so that a small test table
//! still shows whether an index *can* serve the query (without it the planner rightly prefers
//! to read a few pages whole). SQLite keeps no statistics here (no `ANALYZE`), so its plan is
//! the same on ten rows as on a million.

use calseta_core::pagination::PageRequest;
use chrono::{DateTime, TimeZone, Utc};
use uuid::Uuid;

use crate::alerts::{self, AlertFilter, Position, Seek, SortValue};
use crate::db::PoolRef;
use crate::sql::Query;
use crate::{Db, Engine, StoreError};

/// The tables that grow with the alerts: a query reading one of them whole gets slower as the
/// database grows.
pub const LARGE_TABLES: &[&str] =
    &["alerts", "alert_indicators", "alert_tags", "indicators", "activity_events", "jobs", "agent_runs"];

/// A hot query and its plan.
#[derive(Debug, Clone)]
pub struct QueryPlan {
    /// What the query is for, e.g. `alert list (status, severity): count`.
    pub name: String,
    /// The query's text.
    pub sql: String,
    /// The plan, one node per line (SQLite: the `detail` column, indented by depth).
    pub lines: Vec<String>,
}

impl QueryPlan {
    /// The lines of the plan that read a whole large table (see [`full_scans`]).
    pub fn full_scans(&self, engine: Engine) -> Vec<String> {
        full_scans(engine, &self.sql, &self.lines)
    }

    /// Whether SQLite's plan sorts every matching row to return the first few (`USE TEMP B-TREE
    /// FOR ORDER BY`) instead of reading them in an index's order and stopping at the limit: a
    /// page that costs in proportion to the matches, not to the page. (Only SQLite's plans are
    /// read: PostgreSQL chooses between sorting and an ordered index by the table's size, and a
    /// test's table is tiny.)
    pub fn sorts_every_match(&self) -> bool {
        self.lines.iter().any(|l| l.trim() == "USE TEMP B-TREE FOR ORDER BY")
    }
}

/// The lines of `plan` (of the query `sql`) that read a whole table of [`LARGE_TABLES`]: on
/// SQLite a `SCAN <table or its alias>` not `USING` an index or the integer primary key, on
/// PostgreSQL a `Seq Scan on <table>`.
pub fn full_scans(engine: Engine, sql: &str, plan: &[String]) -> Vec<String> {
    let names = scanned_names(sql);
    plan.iter()
        .filter(|line| {
            let line = line.trim();
            match engine {
                Engine::Sqlite => line.strip_prefix("SCAN ").is_some_and(|rest| {
                    let mut words = rest.split_whitespace();
                    let name = words.next().unwrap_or_default();
                    let indexed = rest.contains(" USING INDEX ")
                        || rest.contains(" USING COVERING INDEX ")
                        || rest.contains(" USING INTEGER PRIMARY KEY");
                    names.iter().any(|n| n == name) && !indexed
                }),
                Engine::Postgres => LARGE_TABLES.iter().any(|table| {
                    line.split("Seq Scan on ")
                        .skip(1)
                        .any(|rest| rest.split_whitespace().next().is_some_and(|scanned| scanned == *table))
                }),
            }
        })
        .cloned()
        .collect()
}

/// The names under which `sql` reads a large table: the table's own name and every alias it is
/// given (`alert_indicators ai`, `alerts AS a`) — SQLite's plan names a table by its alias.
fn scanned_names(sql: &str) -> Vec<String> {
    const NOT_ALIASES: &[&str] = &[
        "where",
        "join",
        "left",
        "inner",
        "cross",
        "on",
        "order",
        "group",
        "limit",
        "set",
        "using",
        "union",
        "values",
        "natural",
        "returning",
        "offset",
        "having",
        "window",
    ];
    let words: Vec<&str> = sql
        .split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')')
        .filter(|w| !w.is_empty())
        .collect();
    let mut names: Vec<String> = LARGE_TABLES.iter().map(|t| (*t).to_string()).collect();
    for (i, word) in words.iter().enumerate() {
        if !LARGE_TABLES.contains(word) {
            continue;
        }
        let mut next = words.get(i + 1).copied().unwrap_or_default();
        if next.eq_ignore_ascii_case("as") {
            next = words.get(i + 2).copied().unwrap_or_default();
        }
        let identifier = !next.is_empty() && next.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if identifier && !NOT_ALIASES.contains(&next.to_ascii_lowercase().as_str()) {
            names.push(next.to_string());
        }
    }
    names
}

/// The plan `db`'s engine makes for `query` (nothing is run or changed).
pub(crate) async fn explain(db: &Db, query: &Query) -> Result<Vec<String>, StoreError> {
    match db.read_pool() {
        PoolRef::Sqlite(pool) => {
            let sql = format!("EXPLAIN QUERY PLAN {}", query.sql);
            let rows: Vec<(i64, i64, i64, String)> =
                bind_args!(sqlx::query_as::<_, (i64, i64, i64, String)>(&sql), &query.args)
                    .fetch_all(pool)
                    .await?;
            // Indent each node under its parent, as the sqlite3 shell does.
            let mut depths: Vec<(i64, usize)> = Vec::new();
            Ok(rows
                .into_iter()
                .map(|(id, parent, _, detail)| {
                    let depth = depths.iter().find(|(i, _)| *i == parent).map_or(0, |(_, d)| d + 1);
                    depths.push((id, depth));
                    format!("{}{detail}", "  ".repeat(depth))
                })
                .collect())
        }
        PoolRef::Postgres(pool) => {
            let mut tx = pool.begin().await?;
            sqlx::query("SET LOCAL enable_seqscan = off").execute(&mut *tx).await?;
            let sql = format!("EXPLAIN {}", query.sql);
            let lines: Vec<String> =
                bind_args!(sqlx::query_scalar::<_, String>(&sql), &query.args).fetch_all(&mut *tx).await?;
            tx.rollback().await?;
            Ok(lines)
        }
    }
}

/// A fixed time for the queries' parameters (the plans do not depend on it).
fn sample_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 6, 1, 0, 0, 0).single().unwrap_or_default()
}

/// A filter of the alert list whose queries are checked.
#[derive(Debug, Clone)]
pub struct ListCase {
    /// Its name in the plans' names.
    pub name: &'static str,
    /// The filter and sort.
    pub filter: AlertFilter,
    /// Whether a page is read in an index's order (see [`QueryPlan::sorts_every_match`]). Not
    /// for a tag (its alerts are found through `alert_tags`, then sorted: a tag's matches are
    /// read whole) nor for a status sorted by severity (the status's matches are sorted).
    pub in_order: bool,
}

/// The alert list's filters checked, by name: each one the REST list, MCP and the console's queue
/// offer alone, the usual pairs, and each indexed sort. (The console's title search and
/// effective-malice filter are not among them: a substring of a title and a verdict computed from
/// the indicators cannot be read from a B-tree; they narrow a walk of the list's order instead.)
pub fn alert_filters() -> Vec<ListCase> {
    let newest = AlertFilter { sort_by: "occurred_at".into(), descending: true, ..AlertFilter::default() };
    let with = |change: &dyn Fn(&mut AlertFilter)| {
        let mut filter = newest.clone();
        change(&mut filter);
        filter
    };
    let cases = vec![
        ("newest first", newest.clone()),
        ("status", with(&|f| f.statuses = vec!["Open".into()])),
        ("severity", with(&|f| f.severities = vec!["High".into()])),
        (
            "status, severity",
            with(&|f| {
                f.statuses = vec!["Open".into()];
                f.severities = vec!["High".into()];
            }),
        ),
        ("source", with(&|f| f.source_names = vec!["generic".into()])),
        (
            "source, time range",
            with(&|f| {
                f.source_names = vec!["generic".into()];
                f.from_time = Some(sample_time() - chrono::Duration::days(7));
                f.to_time = Some(sample_time());
            }),
        ),
        ("time range", with(&|f| f.from_time = Some(sample_time() - chrono::Duration::days(7)))),
        ("enrichment status", with(&|f| f.enrichment_statuses = vec!["Pending".into()])),
        ("is_enriched", with(&|f| f.is_enriched = Some(false))),
        ("detection rule", with(&|f| f.detection_rule_id = Some(1))),
        ("tag", with(&|f| f.tags = vec!["phishing".into()])),
        (
            "status, sorted by severity",
            with(&|f| {
                f.statuses = vec!["Open".into()];
                f.sort_by = "severity".into();
            }),
        ),
        ("sorted by created_at", with(&|f| f.sort_by = "created_at".into())),
        ("sorted by status", with(&|f| f.sort_by = "status".into())),
        ("sorted by source_name", with(&|f| f.sort_by = "source_name".into())),
    ];
    cases
        .into_iter()
        .map(|(name, filter)| ListCase {
            name,
            filter,
            in_order: !matches!(name, "tag" | "status, sorted by severity"),
        })
        .collect()
}

/// The queries of the alert list filtered by `filter`, named after `name`: the REST page (50
/// rows), the total, and the console queue's first page and a page after a cursor.
pub(crate) fn alert_list_queries(name: &str, filter: &AlertFilter) -> Vec<(String, Query)> {
    let page = PageRequest::default();
    let list = alerts::list_queries(filter, page);
    let first = alerts::keyset_queries(filter, &Seek::First, 50);
    let value = match filter.sort_by.as_str() {
        "severity" => SortValue::Rank(4),
        "title" | "status" | "source_name" => SortValue::Text("m".into()),
        _ => SortValue::Time(sample_time()),
    };
    let after = alerts::keyset_queries(filter, &Seek::After(Position { value, id: 1000 }), 50);
    vec![
        (format!("alert list ({name}): page"), list.page),
        (format!("alert list ({name}): count"), list.count),
        (format!("alert queue ({name}): first page"), first.page),
        (format!("alert queue ({name}): page after a cursor"), after.page),
    ]
}

/// Every hot query, by name: [`alert_list_queries`] of each of [`alert_filters`], then the
/// alert detail's reads, past alerts and the duplicate lookup of an ingest.
pub(crate) fn hot_queries(engine: Engine) -> Vec<(String, Query)> {
    let mut queries: Vec<(String, Query)> =
        alert_filters().iter().flat_map(|case| alert_list_queries(case.name, &case.filter)).collect();
    let (uuid, id, at) = (Uuid::nil(), 1, sample_time());
    let (activity, activity_total) = crate::activity::for_alert_queries(id, PageRequest::default());
    let (runs, runs_total) = crate::agent_runs::for_alert_queries(uuid, 20);
    let delivery_kinds = ["deliver_webhook", "dispatch_alert"];
    let named = [
        ("alert detail: the alert", alerts::get_query(uuid)),
        ("alert detail: its indicators", crate::indicators::for_alert_query(id)),
        ("alert detail: its detection rule", crate::detection_rules::by_id_query(id)),
        ("alert detail: its activity", activity),
        ("alert detail: its activity, count", activity_total),
        ("alert detail: its agent runs", runs),
        ("alert detail: its agent runs, count", runs_total),
        (
            "alert detail: its pending deliveries",
            crate::jobs::unfinished_naming_query(engine, &delivery_kinds, "alert_uuid", uuid, 20),
        ),
        ("past alerts", alerts::past_alerts_query(id, &[1, 2, 3], 10)),
        ("past alerts: shared indicators", alerts::shared_indicators_query(&[2, 3, 4, 5], &[1, 2, 3])),
        (
            "ingest: the newest alert with the fingerprint, and the detection rule",
            alerts::ingest_lookup_query(&"0".repeat(32), Some(at), Some(("splunk", "Brute force"))),
        ),
        ("dedup: counting the duplicate", alerts::record_duplicate_query(id, at)),
    ];
    queries.extend(named.into_iter().map(|(name, query)| (name.to_string(), query)));
    queries
}

/// The plans of the alert list's queries filtered by `filter` (see [`alert_list_queries`]).
pub async fn alert_list_plans(
    db: &Db,
    name: &str,
    filter: &AlertFilter,
) -> Result<Vec<QueryPlan>, StoreError> {
    plans_of(db, alert_list_queries(name, filter)).await
}

/// The plans of `queries` on `db`.
async fn plans_of(db: &Db, queries: Vec<(String, Query)>) -> Result<Vec<QueryPlan>, StoreError> {
    let mut plans = Vec::with_capacity(queries.len());
    for (name, query) in queries {
        let lines = explain(db, &query).await?;
        plans.push(QueryPlan { name, sql: query.sql, lines });
    }
    Ok(plans)
}

/// The plan of every hot query on `db` (a migrated database; its rows do not matter).
pub async fn hot_query_plans(db: &Db) -> Result<Vec<QueryPlan>, StoreError> {
    plans_of(db, hot_queries(db.engine())).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &[&str]) -> Vec<String> {
        text.iter().map(|l| (*l).to_string()).collect()
    }

    #[test]
    fn sqlite_scans_of_large_tables_are_found_by_table_or_alias() {
        let sql = "SELECT a.id FROM alerts a JOIN alert_indicators AS ai ON ai.alert_id = a.id JOIN workflows w ON 1";
        let plan = lines(&[
            "SCAN a",
            "SEARCH ai USING INDEX ix (alert_id=?)",
            "SCAN ai USING COVERING INDEX uq",
            "SCAN w",
            "SCAN alerts USING INDEX ix_alerts_occurred_at_id",
            "  SCAN alert_indicators",
            "SCAN c0",
            "SCAN alerts USING INTEGER PRIMARY KEY",
        ]);
        assert_eq!(full_scans(Engine::Sqlite, sql, &plan), lines(&["SCAN a", "  SCAN alert_indicators"]));
    }

    #[test]
    fn postgres_sequential_scans_of_large_tables_are_found() {
        let plan = lines(&[
            "Limit  (cost=0.15..8.17 rows=1 width=24)",
            "  ->  Seq Scan on alerts a  (cost=10000000000.00..10000000001.01 rows=1 width=24)",
            "  ->  Seq Scan on workflows  (cost=0.00..1.01 rows=1 width=8)",
            "  ->  Parallel Seq Scan on activity_events  (cost=0.00..1.01 rows=1 width=8)",
            "  ->  Seq Scan on alerts_archive  (cost=0.00..1.01 rows=1 width=8)",
            "  ->  Index Scan using ix_alerts_status_id on alerts  (cost=0.15..8.17 rows=1 width=24)",
        ]);
        assert_eq!(
            full_scans(Engine::Postgres, "", &plan),
            vec![plan[1].clone(), plan[3].clone()],
            "a table whose name only starts like a large one is not one"
        );
    }

    #[test]
    fn aliases_are_read_after_the_table_name_and_keywords_are_not_aliases() {
        let names = scanned_names(
            "SELECT 1 FROM alerts WHERE x IN (SELECT alert_id FROM alert_indicators ai) ORDER BY 1",
        );
        assert!(names.contains(&"ai".to_string()));
        assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("where")));
        let names = scanned_names("UPDATE alerts SET a = 1");
        assert!(!names.iter().any(|n| n.eq_ignore_ascii_case("set")));
    }

    #[test]
    fn every_hot_query_has_a_name_of_its_own() {
        for engine in [Engine::Sqlite, Engine::Postgres] {
            let queries = hot_queries(engine);
            let mut names: Vec<&str> = queries.iter().map(|(n, _)| n.as_str()).collect();
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count);
            assert!(queries.iter().all(|(_, q)| !q.sql.trim().is_empty()));
        }
    }
}
