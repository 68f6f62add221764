//! The `api_keys` table.

use calseta_core::api_keys::KeyType;
use calseta_core::pagination::PageRequest;
use chrono::{DateTime, Utc};
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError, Tx};

const COLUMNS: &str = "id, uuid, name, key_prefix, scopes, is_active, expires_at, last_used_at, \
                       allowed_sources, key_type, is_system, created_at, updated_at";

/// A stored API key (never the plain key, never its digest).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRow {
    /// Internal id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// Human label.
    pub name: String,
    /// First 8 characters of the key, for display and logs.
    pub key_prefix: String,
    /// Granted scope names.
    pub scopes: Json<Vec<String>>,
    /// False once revoked.
    pub is_active: bool,
    /// After this instant the key is refused with `KEY_EXPIRED`.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last authenticated use (updated at most once a minute).
    pub last_used_at: Option<DateTime<Utc>>,
    /// Sources this key may ingest from; `None` = any.
    pub allowed_sources: Option<Json<Vec<String>>>,
    /// `human` or `agent`.
    #[sqlx(try_from = "String")]
    pub key_type: KeyType,
    /// Created by the system (sandbox, bootstrap).
    pub is_system: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// What to store for a new key.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Human label.
    pub name: String,
    /// Display prefix.
    pub key_prefix: String,
    /// SHA-256 hex digest of the plain key.
    pub key_digest: String,
    /// Scope names (already validated).
    pub scopes: Vec<String>,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Source restriction.
    pub allowed_sources: Option<Vec<String>>,
    /// `human` or `agent`.
    pub key_type: KeyType,
    /// System-created.
    pub is_system: bool,
}

/// Changes to a key; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ApiKeyChanges {
    /// Replacement scope list.
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` lifts the restriction; `Some(Some(list))` sets it.
    pub allowed_sources: Option<Option<Vec<String>>>,
    /// Activate or revoke.
    pub is_active: Option<bool>,
}

/// Inserts a key inside `tx`.
pub async fn insert(tx: &mut Tx, key: &NewApiKey) -> Result<ApiKeyRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO api_keys (uuid, name, key_prefix, key_hash, scopes, is_active, expires_at, \
         allowed_sources, key_type, is_system, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, TRUE, $6, $7, $8, $9, $10, $10) RETURNING {COLUMNS}"
    );
    let row = on_tx!(tx, c => sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(&key.name)
        .bind(&key.key_prefix)
        .bind(&key.key_digest)
        .bind(Json(&key.scopes))
        .bind(key.expires_at)
        .bind(key.allowed_sources.as_ref().map(Json))
        .bind(key.key_type.as_str())
        .bind(key.is_system)
        .bind(now)
        .fetch_one(c)
        .await)?;
    Ok(row)
}

/// The active key with this digest, if any.
pub async fn find_active_by_digest(db: &Db, digest: &str) -> Result<Option<ApiKeyRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM api_keys WHERE key_hash = $1 AND is_active = TRUE");
    let row = on_pool!(db.read_pool(), p => sqlx::query_as::<_, ApiKeyRow>(&sql).bind(digest).fetch_optional(p).await)?;
    Ok(row)
}

/// A key by public id, active or not.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<ApiKeyRow>, StoreError> {
    crate::sql::by_uuid(db, "api_keys", COLUMNS, uuid).await
}

/// One page of keys, newest first, with the total; `active_only` hides revoked keys.
pub async fn list(
    db: &Db,
    active_only: bool,
    page: PageRequest,
) -> Result<(Vec<ApiKeyRow>, i64), StoreError> {
    let filter = if active_only { "WHERE is_active = TRUE" } else { "" };
    let sql = format!(
        "SELECT {COLUMNS} FROM api_keys {filter} ORDER BY created_at DESC, id DESC LIMIT $1 OFFSET $2"
    );
    let count_sql = format!("SELECT COUNT(*) FROM api_keys {filter}");
    let (rows, total) = on_pool!(db.read_pool(), p => {
        let rows = sqlx::query_as::<_, ApiKeyRow>(&sql).bind(page.limit()).bind(page.offset()).fetch_all(p).await?;
        let total: i64 = sqlx::query_scalar(&count_sql).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok((rows, total))
}

/// Applies `changes`; `None` when no key has this id.
pub async fn update(db: &Db, uuid: Uuid, changes: &ApiKeyChanges) -> Result<Option<ApiKeyRow>, StoreError> {
    let now = crate::now();
    let (set_sources, sources) = match &changes.allowed_sources {
        Some(value) => (true, value.clone()),
        None => (false, None),
    };
    let sql = format!(
        "UPDATE api_keys SET scopes = COALESCE($2, scopes), \
         allowed_sources = CASE WHEN $3 THEN $4 ELSE allowed_sources END, \
         is_active = COALESCE($5, is_active), updated_at = $6 WHERE uuid = $1 RETURNING {COLUMNS}"
    );
    let row = on_write!(db, p => sqlx::query_as::<_, ApiKeyRow>(&sql)
        .bind(uuid)
        .bind(changes.scopes.as_ref().map(Json))
        .bind(set_sources)
        .bind(sources.map(Json))
        .bind(changes.is_active)
        .bind(now)
        .fetch_optional(p)
        .await)?;
    Ok(row)
}

/// Records a use, unless one was recorded after `stale_before` (bounds writes to one a minute).
pub async fn touch_last_used(
    db: &Db,
    id: i64,
    now: DateTime<Utc>,
    stale_before: DateTime<Utc>,
) -> Result<(), StoreError> {
    on_write!(db, p => sqlx::query(
        "UPDATE api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(id)
    .bind(now)
    .bind(stale_before)
    .execute(p)
    .await.map(|r| r.rows_affected()))?;
    Ok(())
}
