//! The `console_sessions` table: the analyst console's server-side sessions, looked up by the
//! SHA-256 digest of the session id (the id itself is never stored).

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::{Db, StoreError};

const COLUMNS: &str = "id, session_digest, api_key_uuid, created_at, last_seen_at, expires_at";

/// A stored console session.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConsoleSessionRow {
    /// Internal id.
    pub id: i64,
    /// SHA-256 hex digest of the session id.
    pub session_digest: String,
    /// The API key the session acts as.
    pub api_key_uuid: Uuid,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last request seen (written at most every few seconds, see the services' touch interval).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry, whatever the activity.
    pub expires_at: DateTime<Utc>,
}

/// Inserts a session signed in `now`, ending at `expires_at` at the latest.
pub async fn insert(
    db: &Db,
    session_digest: &str,
    api_key_uuid: Uuid,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<ConsoleSessionRow, StoreError> {
    let sql = format!(
        "INSERT INTO console_sessions (session_digest, api_key_uuid, created_at, last_seen_at, expires_at) \
         VALUES ($1, $2, $3, $3, $4) RETURNING {COLUMNS}"
    );
    let row = on_write!(db, p => sqlx::query_as::<_, ConsoleSessionRow>(&sql)
        .bind(session_digest)
        .bind(api_key_uuid)
        .bind(now)
        .bind(expires_at)
        .fetch_one(p)
        .await)?;
    Ok(row)
}

/// The session with this digest, if any (expired or not: the caller decides).
pub async fn find_by_digest(db: &Db, session_digest: &str) -> Result<Option<ConsoleSessionRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM console_sessions WHERE session_digest = $1");
    let row = on_pool!(db.read_pool(), p => sqlx::query_as::<_, ConsoleSessionRow>(&sql)
        .bind(session_digest)
        .fetch_optional(p)
        .await)?;
    Ok(row)
}

/// Records activity at `now`, unless some was recorded after `stale_before` (bounds writes).
pub async fn touch(
    db: &Db,
    id: i64,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, p => sqlx::query(
        "UPDATE console_sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $3",
    )
    .bind(id)
    .bind(now)
    .bind(stale_before)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(())
}

/// Deletes the session with this digest; whether one was there.
pub async fn delete_by_digest(db: &Db, session_digest: &str) -> Result<bool, StoreError> {
    let deleted = on_write!(db, p => sqlx::query("DELETE FROM console_sessions WHERE session_digest = $1")
        .bind(session_digest)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(deleted > 0)
}

/// Deletes the sessions idle since before `idle_before` or past their absolute expiry at `now`;
/// how many.
pub async fn delete_expired(
    db: &Db,
    idle_before: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let deleted = on_write!(db, p => sqlx::query(
        "DELETE FROM console_sessions WHERE last_seen_at < $1 OR expires_at <= $2",
    )
    .bind(idle_before)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(deleted)
}
