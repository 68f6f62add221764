//! The schema migrations, embedded in the binary, one SQL file per engine and version.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use sqlx::error::BoxDynError;
use sqlx::migrate::{Migration, MigrationSource, MigrationType, Migrator};

use crate::engine::Engine;

/// (version, description, SQLite SQL, PostgreSQL SQL)
const MIGRATIONS: &[(i64, &str, &str, &str)] = &[
    (
        1,
        "initial",
        include_str!("../../../migrations/sqlite/0001_initial.sql"),
        include_str!("../../../migrations/postgres/0001_initial.sql"),
    ),
    (
        2,
        "enrichment",
        include_str!("../../../migrations/sqlite/0002_enrichment.sql"),
        include_str!("../../../migrations/postgres/0002_enrichment.sql"),
    ),
    (
        3,
        "agents",
        include_str!("../../../migrations/sqlite/0003_agents.sql"),
        include_str!("../../../migrations/postgres/0003_agents.sql"),
    ),
    (
        4,
        "past_alerts",
        include_str!("../../../migrations/sqlite/0004_past_alerts.sql"),
        include_str!("../../../migrations/postgres/0004_past_alerts.sql"),
    ),
    (
        5,
        "job_queue_order",
        include_str!("../../../migrations/sqlite/0005_job_queue_order.sql"),
        include_str!("../../../migrations/postgres/0005_job_queue_order.sql"),
    ),
    (
        6,
        "workflow_secrets",
        include_str!("../../../migrations/sqlite/0006_workflow_secrets.sql"),
        include_str!("../../../migrations/postgres/0006_workflow_secrets.sql"),
    ),
    (
        7,
        "approval_notifications",
        include_str!("../../../migrations/sqlite/0007_approval_notifications.sql"),
        include_str!("../../../migrations/postgres/0007_approval_notifications.sql"),
    ),
    (
        8,
        "agent_payload_profile",
        include_str!("../../../migrations/sqlite/0008_agent_payload_profile.sql"),
        include_str!("../../../migrations/postgres/0008_agent_payload_profile.sql"),
    ),
    (
        9,
        "workflow_secret_grants",
        include_str!("../../../migrations/sqlite/0009_workflow_secret_grants.sql"),
        include_str!("../../../migrations/postgres/0009_workflow_secret_grants.sql"),
    ),
    (
        10,
        "provider_private_network_hosts",
        include_str!("../../../migrations/sqlite/0010_provider_private_network_hosts.sql"),
        include_str!("../../../migrations/postgres/0010_provider_private_network_hosts.sql"),
    ),
    (
        11,
        "console_sessions",
        include_str!("../../../migrations/sqlite/0011_console_sessions.sql"),
        include_str!("../../../migrations/postgres/0011_console_sessions.sql"),
    ),
    (
        12,
        "indicator_origin",
        include_str!("../../../migrations/sqlite/0012_indicator_origin.sql"),
        include_str!("../../../migrations/postgres/0012_indicator_origin.sql"),
    ),
    (
        13,
        "activity_notify",
        include_str!("../../../migrations/sqlite/0013_activity_notify.sql"),
        include_str!("../../../migrations/postgres/0013_activity_notify.sql"),
    ),
    (
        14,
        "alert_queue_keyset",
        include_str!("../../../migrations/sqlite/0014_alert_queue_keyset.sql"),
        include_str!("../../../migrations/postgres/0014_alert_queue_keyset.sql"),
    ),
    (
        15,
        "jobs_kind_status",
        include_str!("../../../migrations/sqlite/0015_jobs_kind_status.sql"),
        include_str!("../../../migrations/postgres/0015_jobs_kind_status.sql"),
    ),
    (
        16,
        "alert_list_at_scale",
        include_str!("../../../migrations/sqlite/0016_alert_list_at_scale.sql"),
        include_str!("../../../migrations/postgres/0016_alert_list_at_scale.sql"),
    ),
];

#[derive(Debug)]
struct Embedded(Vec<Migration>);

impl MigrationSource<'static> for Embedded {
    fn resolve(self) -> Pin<Box<dyn Future<Output = Result<Vec<Migration>, BoxDynError>> + Send + 'static>> {
        Box::pin(async move { Ok(self.0) })
    }
}

/// The migrator for `engine`; with locking on, concurrent starts on one Postgres apply each
/// migration once.
pub(crate) async fn migrator(engine: Engine) -> Result<Migrator, sqlx::migrate::MigrateError> {
    let migrations = MIGRATIONS
        .iter()
        .map(|(version, description, sqlite, postgres)| {
            let sql = match engine {
                Engine::Sqlite => *sqlite,
                Engine::Postgres => *postgres,
            };
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                Cow::Borrowed(sql),
                false,
            )
        })
        .collect();
    Migrator::new(Embedded(migrations)).await
}

/// A digest of every migration's SQL (both engines), used to name test template databases.
pub fn fingerprint() -> String {
    let mut acc: u64 = 0xcbf2_9ce4_8422_2325;
    for (version, _, sqlite, postgres) in MIGRATIONS {
        for byte in version.to_le_bytes().iter().chain(sqlite.as_bytes()).chain(postgres.as_bytes()) {
            acc ^= u64::from(*byte);
            acc = acc.wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{acc:016x}")
}
