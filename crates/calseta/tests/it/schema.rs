//! Both engines' migrations produce the same tables and columns.

use calseta_store::schema::{self, ColumnInfo};
use calseta_store::{Db, DbOptions};

use crate::helpers::*;

const TABLES: [&str; 25] = [
    "activity_events",
    "agent_registrations",
    "agent_runs",
    "alert_indicators",
    "alert_tags",
    "alerts",
    "api_keys",
    "calseta_state",
    "console_sessions",
    "context_documents",
    "detection_rules",
    "enrichment_cache",
    "enrichment_field_extractions",
    "enrichment_providers",
    "indicator_field_mappings",
    "indicators",
    "jobs",
    "provider_rate_limits",
    "slack_callback_signatures",
    "source_integrations",
    "workflow_approval_requests",
    "workflow_code_versions",
    "workflow_runs",
    "workflow_secrets",
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_transactions_commit_together_and_fail_alone() {
    // On SQLite every transaction is a unit of the group-commit writer: units that commit, roll
    // back or are dropped mid-way interleave in shared batches, and only the committed ones stay.
    let database = test_database().await;
    let db = Db::connect(&DbOptions::new(database.url.clone())).await.unwrap();
    db.migrate().await.unwrap();
    // Alone: a unit that opens a batch and is rolled back or dropped leaves nothing behind.
    for (key, drop_it) in [("alone:rolled-back", false), ("alone:dropped", true)] {
        let mut tx = db.begin().await.unwrap();
        calseta_store::state::record_once(&mut tx, key, "written").await.unwrap();
        if drop_it {
            drop(tx);
        } else {
            tx.rollback().await.unwrap();
        }
    }
    let units = (0..30).map(|i| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut tx = db.begin().await.unwrap();
            calseta_store::state::record_once(&mut tx, &format!("unit:{i}"), "written").await.unwrap();
            match i % 3 {
                0 => tx.commit().await.unwrap(),
                1 => tx.rollback().await.unwrap(),
                _ => drop(tx),
            }
        })
    });
    for unit in units.collect::<Vec<_>>() {
        unit.await.unwrap();
    }
    // The writer is free again after abandoned units: a later write commits.
    let mut tx = db.begin().await.unwrap();
    calseta_store::state::record_once(&mut tx, "unit:last", "written").await.unwrap();
    tx.commit().await.unwrap();
    for i in 0..30 {
        let stored = calseta_store::state::get(&db, &format!("unit:{i}")).await.unwrap();
        assert_eq!(stored.is_some(), i % 3 == 0, "unit {i}");
    }
    assert_eq!(calseta_store::state::get(&db, "unit:last").await.unwrap().as_deref(), Some("written"));
    for key in ["alone:rolled-back", "alone:dropped"] {
        assert_eq!(calseta_store::state::get(&db, key).await.unwrap(), None, "{key}");
    }
    db.close().await;
}

#[test]
fn every_migration_file_is_embedded_for_both_engines() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let embedded = std::fs::read_to_string(root.join("crates/calseta-store/src/migrations.rs")).unwrap();
    for engine in ["sqlite", "postgres"] {
        let mut files: Vec<String> = std::fs::read_dir(root.join("migrations").join(engine))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        for file in &files {
            assert!(
                embedded.contains(&format!("migrations/{engine}/{file}")),
                "{engine}/{file} is never applied"
            );
        }
        assert!(files.len() >= 6, "{files:?}");
    }
}
