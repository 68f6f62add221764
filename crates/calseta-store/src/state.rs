//! `calseta_state`: one-time facts about this installation.

use crate::{StoreError, Tx};

/// Key recording that the bootstrap admin key was issued.
pub const BOOTSTRAP_KEY_ISSUED: &str = "bootstrap_admin_key_issued";

/// Records `key` if it was never recorded; returns whether this call recorded it.
///
/// Concurrent callers on PostgreSQL serialize on the primary key, so exactly one sees `true`.
pub async fn record_once(tx: &mut Tx, key: &str, value: &str) -> Result<bool, StoreError> {
    let now = crate::now();
    let result = on_tx!(tx, c => sqlx::query(
        "INSERT INTO calseta_state (key, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
    )
    .bind(key)
    .bind(value)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(result == 1)
}

/// The recorded value of `key`, if any.
pub async fn get(db: &crate::Db, key: &str) -> Result<Option<String>, StoreError> {
    let value = on_pool!(db.read_pool(), p => sqlx::query_scalar("SELECT value FROM calseta_state WHERE key = $1")
        .bind(key)
        .fetch_optional(p)
        .await)?;
    Ok(value)
}
