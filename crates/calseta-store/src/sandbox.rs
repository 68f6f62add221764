//! What sandbox mode needs of the database: marking seeded rows as the system's, finding them
//! again, and the daily reset that puts a public demo back to its seeded state.

use uuid::Uuid;

use crate::{Db, StoreError};

/// The tables whose seeded rows are marked `is_system`.
#[derive(Debug, Clone, Copy)]
pub enum Seeded {
    /// `detection_rules`, by name.
    DetectionRule,
    /// `context_documents`, by title.
    ContextDocument,
}

impl Seeded {
    fn table_and_key(self) -> (&'static str, &'static str) {
        match self {
            Seeded::DetectionRule => ("detection_rules", "name"),
            Seeded::ContextDocument => ("context_documents", "title"),
        }
    }
}

/// Whether a system row of `kind` named `name` exists.
pub async fn system_row_exists(db: &Db, kind: Seeded, name: &str) -> Result<bool, StoreError> {
    let (table, key) = kind.table_and_key();
    let sql = format!("SELECT COUNT(*) FROM {table} WHERE {key} = $1 AND is_system");
    let n: i64 = on_pool!(db.read_pool(), p => sqlx::query_scalar(&sql).bind(name).fetch_one(p).await)?;
    Ok(n > 0)
}

/// Marks the row `uuid` of `kind` (or an alert, with `None`) as seeded by the system.
pub async fn mark_system(db: &Db, kind: Option<Seeded>, uuid: Uuid) -> Result<(), StoreError> {
    let table = kind.map_or("alerts", |k| k.table_and_key().0);
    let sql = format!("UPDATE {table} SET is_system = TRUE WHERE uuid = $1");
    on_write!(db, p => sqlx::query(&sql).bind(uuid).execute(p).await.map(|_| ()))?;
    Ok(())
}

/// How many seeded alerts there are.
pub async fn system_alerts(db: &Db) -> Result<i64, StoreError> {
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_scalar("SELECT COUNT(*) FROM alerts WHERE is_system").fetch_one(p).await)?,
    )
}

/// The daily reset: everything visitors created goes (runs, approvals, activity, agents, alerts,
/// indicators, and non-system rules, documents, workflows and keys), in one transaction; the
/// seed then runs again. Providers, extractions, mappings and sources stay.
pub async fn reset(db: &Db) -> Result<(), StoreError> {
    let mut tx = db.begin().await?;
    for sql in [
        "DELETE FROM workflow_runs",
        "DELETE FROM workflow_approval_requests",
        "DELETE FROM workflow_code_versions",
        "DELETE FROM agent_runs",
        "DELETE FROM activity_events",
        "DELETE FROM agent_registrations",
        "DELETE FROM alert_indicators",
        "DELETE FROM alerts",
        "DELETE FROM indicators",
        "DELETE FROM detection_rules WHERE NOT is_system",
        "DELETE FROM context_documents WHERE NOT is_system",
        "DELETE FROM workflow_secrets",
        "DELETE FROM workflows WHERE NOT is_system",
        "DELETE FROM api_keys WHERE NOT is_system",
    ] {
        on_tx!(tx, c => sqlx::query(sql).execute(&mut *c).await.map(|_| ()))?;
    }
    tx.commit().await
}

/// Claims today's reset: `true` for the one call that moves the recorded reset day to `today`
/// (UTC `YYYY-MM-DD`); the first call ever only records the day, since the seed is fresh.
pub async fn claim_daily_reset(db: &Db, today: &str) -> Result<bool, StoreError> {
    const KEY: &str = "sandbox_reset_day";
    let mut tx = db.begin().await?;
    if crate::state::record_once(&mut tx, KEY, today).await? {
        tx.commit().await?;
        return Ok(false);
    }
    let moved = on_tx!(tx, c => sqlx::query("UPDATE calseta_state SET value = $1 WHERE key = $2 AND value <> $1")
        .bind(today)
        .bind(KEY)
        .execute(&mut *c)
        .await
        .map(|r| r.rows_affected()))?;
    tx.commit().await?;
    Ok(moved == 1)
}

/// Makes the demo key with `digest` active with exactly `scopes` (reactivating and restoring it if
/// a visitor revoked or narrowed it): `true` when it existed.
pub async fn restore_system_key(db: &Db, digest: &str, scopes: &[String]) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query(
        "UPDATE api_keys SET is_active = TRUE, scopes = $2, expires_at = NULL, allowed_sources = NULL, is_system = TRUE \
         WHERE key_hash = $1",
    )
    .bind(digest)
    .bind(sqlx::types::Json(scopes))
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n > 0)
}

/// Deactivates the keys with these digests (the public demo keys, outside sandbox mode); how many
/// were active.
pub async fn deactivate_keys(db: &Db, digests: &[String]) -> Result<u64, StoreError> {
    let mut deactivated = 0;
    for digest in digests {
        deactivated += on_write!(db, p => sqlx::query("UPDATE api_keys SET is_active = FALSE WHERE key_hash = $1 AND is_active")
            .bind(digest)
            .execute(p)
            .await
            .map(|r| r.rows_affected()))?;
    }
    Ok(deactivated)
}

/// Gives the day's reset claim back (the reset failed: the next look tries again).
pub async fn release_daily_reset(db: &Db, previous: &str) -> Result<(), StoreError> {
    on_write!(db, p => sqlx::query("UPDATE calseta_state SET value = $1 WHERE key = 'sandbox_reset_day'")
        .bind(previous)
        .execute(p)
        .await
        .map(|_| ()))?;
    Ok(())
}
