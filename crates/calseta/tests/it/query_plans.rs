//! The hot queries read large tables through indexes, on both engines: the alert list with each
//! filter, the alert detail's reads, past alerts and the duplicate lookup of an ingest
//! (`calseta_store::query_plans`, which builds each query with the function the real call
//! uses). A plan that reads a whole large table makes that query slower as alerts accumulate:
//! SQLite's `SCAN <table>` without an index, PostgreSQL's `Seq Scan on <table>` (asked with
//! sequential scans off, so a near-empty test table still shows whether an index can serve).

use calseta_store::alerts::AlertFilter;
use calseta_store::query_plans::{self, QueryPlan};
use calseta_store::{Db, DbOptions, Engine};

use crate::helpers::*;

async fn migrated() -> (TestDatabase, Db) {
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    db.migrate().await.unwrap();
    (database, db)
}

fn describe(plan: &QueryPlan) -> String {
    format!("{}\n  {}\n    {}", plan.name, plan.sql, plan.lines.join("\n    "))
}

#[tokio::test]
async fn hot_queries_read_large_tables_only_through_indexes() {
    let (_database, db) = migrated().await;
    let plans = query_plans::hot_query_plans(&db).await.unwrap();
    for plan in &plans {
        println!("{}\n", describe(plan));
    }
    // Each query the scale benchmark measures is among those checked, and each has a plan.
    let cases = query_plans::alert_filters();
    for case in &cases {
        for part in ["page", "count"] {
            let expected = format!("alert list ({}): {part}", case.name);
            assert!(plans.iter().any(|p| p.name == expected), "no plan for {expected}");
        }
    }
    for expected in [
        "alert detail: the alert",
        "alert detail: its indicators",
        "alert detail: its activity",
        "alert detail: its agent runs",
        "past alerts",
        "past alerts: shared indicators",
        "ingest: the newest alert with the fingerprint, and the detection rule",
    ] {
        assert!(plans.iter().any(|p| p.name == expected), "no plan for {expected}");
    }
    let empty: Vec<&str> = plans.iter().filter(|p| p.lines.is_empty()).map(|p| p.name.as_str()).collect();
    assert!(empty.is_empty(), "queries without a plan: {empty:?}");

    let scanning: Vec<String> = plans
        .iter()
        .filter(|p| !p.full_scans(db.engine()).is_empty())
        .map(|p| format!("{}\n  reads whole: {:?}", describe(p), p.full_scans(db.engine())))
        .collect();
    assert!(scanning.is_empty(), "hot queries reading a whole large table:\n\n{}", scanning.join("\n\n"));

    // On SQLite (whose plans do not depend on the table's size), a page of each filter read in
    // an index's order is read in it: fifty rows, not every match sorted.
    if db.engine() == Engine::Sqlite {
        let sorting: Vec<String> = cases
            .iter()
            .filter(|case| case.in_order)
            .flat_map(|case| {
                let (list, queue) =
                    (format!("alert list ({})", case.name), format!("alert queue ({})", case.name));
                plans.iter().filter(move |p| {
                    (p.name.starts_with(&list) || p.name.starts_with(&queue)) && !p.name.ends_with(": count")
                })
            })
            .filter(|p| p.sorts_every_match())
            .map(describe)
            .collect();
        assert!(sorting.is_empty(), "pages that sort every match:\n\n{}", sorting.join("\n\n"));
    }
    db.close().await;
}

/// The checks themselves: a filter no index can serve — the console's title search, a substring
/// — makes the count read the whole table, and a sort no index gives — by title — sorts every
/// match; the checks say so.
#[tokio::test]
async fn the_plan_checks_catch_a_filter_and_a_sort_no_index_serves() {
    let (_database, db) = migrated().await;
    let newest = AlertFilter { sort_by: "occurred_at".into(), descending: true, ..AlertFilter::default() };
    let search = AlertFilter { title_contains: Some("phish".into()), ..newest.clone() };
    let plans = query_plans::alert_list_plans(&db, "title search", &search).await.unwrap();
    let count = plans.iter().find(|p| p.name.ends_with(": count")).unwrap();
    assert!(!count.full_scans(db.engine()).is_empty(), "not caught:\n{}", describe(count));

    if db.engine() == Engine::Sqlite {
        let by_title = AlertFilter { sort_by: "title".into(), ..newest };
        let plans = query_plans::alert_list_plans(&db, "by title", &by_title).await.unwrap();
        let page = plans.iter().find(|p| p.name.ends_with(": page")).unwrap();
        assert!(page.sorts_every_match(), "not caught:\n{}", describe(page));
    }
    db.close().await;
}

/// The tag filter reads `alert_tags`, which triggers keep equal to each alert's `tags`: on
/// ingest, on a change of the list (a tag removed stops matching; a repeated tag is one row), and
/// on delete.
#[tokio::test]
async fn the_tag_index_follows_each_alerts_tags() {
    let app = spawn_app().await;
    let key = app.admin_key.clone();
    let total = |query: &'static str| {
        let app = &app;
        let key = key.clone();
        async move { app.get(&format!("/v1/alerts?{query}"), &key).await.1["meta"]["total"].clone() }
    };
    let uuid =
        crate::ingest::ingest_generic(&app, serde_json::json!({"title": "Tagged", "tags": ["x", "y"]})).await;
    crate::ingest::ingest_generic(&app, serde_json::json!({"title": "Other", "tags": ["y"]})).await;
    assert_eq!(
        (total("tags=x").await, total("tags=y").await, total("tags=x&tags=y").await),
        (1.into(), 2.into(), 1.into())
    );

    let (status, _) =
        app.patch(&format!("/v1/alerts/{uuid}"), &key, serde_json::json!({"tags": ["y", "z", "z"]})).await;
    assert_eq!(status, 200);
    assert_eq!(
        (total("tags=x").await, total("tags=z").await, total("tags=y").await),
        (0.into(), 1.into(), 2.into())
    );
    let rows = "SELECT COUNT(*) FROM alert_tags";
    assert_eq!(query_i64(&app, rows).await, 3, "y and z of the first alert, y of the other");

    let (status, _) = app.delete(&format!("/v1/alerts/{uuid}"), &key).await;
    assert_eq!(status, 204);
    assert_eq!((total("tags=z").await, query_i64(&app, rows).await), (0.into(), 1));
}
