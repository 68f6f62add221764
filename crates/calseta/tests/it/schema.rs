//! Both engines' migrations produce the same tables and columns.

use calseta_store::schema::{self, ColumnInfo};
use calseta_store::{Db, DbOptions};

use crate::helpers::*;

const TABLES: [&str; 21] = [
    "activity_events",
    "agent_registrations",
    "agent_runs",
    "alert_indicators",
    "alerts",
    "api_keys",
    "calseta_state",
    "context_documents",
    "detection_rules",
    "enrichment_cache",
    "enrichment_field_extractions",
    "enrichment_providers",
    "indicator_field_mappings",
    "indicators",
    "jobs",
    "provider_rate_limits",
    "source_integrations",
    "workflow_approval_requests",
    "workflow_code_versions",
    "workflow_runs",
    "workflows",
];

async fn columns_of(url: &str) -> Vec<ColumnInfo> {
    let db = Db::connect(&DbOptions::new(url)).await.unwrap();
    db.migrate().await.unwrap();
    // Migrating twice is a no-op.
    db.migrate().await.unwrap();
    let cols = schema::columns(&db).await.unwrap();
    db.close().await;
    cols
}

#[tokio::test]
async fn sqlite_and_postgres_schemas_match() {
    let dir = TempDir::new();
    let sqlite = columns_of(&format!("sqlite://{}", dir.0.join("schema.db").display())).await;
    let mut tables: Vec<&str> = sqlite.iter().map(|c| c.table_name.as_str()).collect();
    tables.dedup();
    assert_eq!(tables, TABLES);
    for (table, column) in
        [("alerts", "fingerprint"), ("api_keys", "key_hash"), ("activity_events", "references")]
    {
        assert!(sqlite.iter().any(|c| c.table_name == table && c.column_name == column), "{table}.{column}");
    }

    if let Some(admin) = pg_admin_url() {
        let postgres = columns_of(&fresh_postgres(&admin).await).await;
        let only_sqlite: Vec<_> = sqlite.iter().filter(|c| !postgres.contains(c)).collect();
        let only_postgres: Vec<_> = postgres.iter().filter(|c| !sqlite.contains(c)).collect();
        assert!(
            only_sqlite.is_empty() && only_postgres.is_empty(),
            "sqlite only: {only_sqlite:#?}\npostgres only: {only_postgres:#?}"
        );
    }
}

#[tokio::test]
async fn a_savepoint_undoes_one_unit_of_a_group_committed_transaction() {
    // The SQLite ingest committer writes many alerts in one transaction, each under a savepoint.
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    db.migrate().await.unwrap();
    let mut tx = db.begin().await.unwrap();
    for (key, keep) in [("unit:a", true), ("unit:b", false), ("unit:c", true)] {
        tx.savepoint().await.unwrap();
        calseta_store::state::record_once(&mut tx, key, "written").await.unwrap();
        if keep {
            tx.release_savepoint().await.unwrap();
        } else {
            tx.rollback_to_savepoint().await.unwrap();
        }
    }
    tx.commit().await.unwrap();
    let read = |key: &'static str| {
        let db = db.clone();
        async move { calseta_store::state::get(&db, key).await.unwrap() }
    };
    assert_eq!(read("unit:a").await.as_deref(), Some("written"));
    assert_eq!(read("unit:b").await, None, "the rolled-back unit left nothing");
    assert_eq!(read("unit:c").await.as_deref(), Some("written"));
    db.close().await;
}
