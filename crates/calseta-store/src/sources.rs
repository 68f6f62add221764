//! `source_integrations`: per-source settings (display name, auth, documentation).

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::{Db, StoreError};

/// A source integration.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceRow {
    pub id: i64,
    pub uuid: Uuid,
    pub source_name: String,
    pub display_name: String,
    pub is_active: bool,
    pub auth_type: Option<String>,
    pub auth_config: Option<Json<Value>>,
    pub documentation: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const SOURCE_COLUMNS: &str = "id, uuid, source_name, display_name, is_active, auth_type, auth_config, documentation, created_at, updated_at";

/// Binds a source integration's writable fields, in column order, as `$1…$5`.
macro_rules! bind_source {
    ($q:expr, $s:expr) => {
        $q.bind(&$s.display_name)
            .bind($s.is_active)
            .bind(&$s.auth_type)
            .bind($s.auth_config.as_ref())
            .bind(&$s.documentation)
    };
}

/// Inserts or replaces (by `id`) a source integration.
pub async fn save(db: &Db, id: Option<i64>, s: &SourceRow) -> Result<SourceRow, StoreError> {
    let now = crate::now();
    match id {
        None => {
            let sql = format!(
                "INSERT INTO source_integrations (display_name, is_active, auth_type, auth_config, documentation, uuid, \
                 source_name, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) RETURNING {SOURCE_COLUMNS}"
            );
            Ok(on_write!(db, p => bind_source!(sqlx::query_as::<_, SourceRow>(&sql), s)
                .bind(Uuid::now_v7())
                .bind(&s.source_name)
                .bind(now)
                .fetch_one(p)
                .await)?)
        }
        Some(id) => {
            let sql = format!(
                "UPDATE source_integrations SET display_name = $1, is_active = $2, auth_type = $3, auth_config = $4, \
                 documentation = $5, updated_at = $6 WHERE id = $7 RETURNING {SOURCE_COLUMNS}"
            );
            Ok(
                on_write!(db, p => bind_source!(sqlx::query_as::<_, SourceRow>(&sql), s).bind(now).bind(id).fetch_one(p).await)?,
            )
        }
    }
}

/// Source integrations, newest first.
pub async fn list(db: &Db) -> Result<Vec<SourceRow>, StoreError> {
    let sql = format!("SELECT {SOURCE_COLUMNS} FROM source_integrations ORDER BY created_at DESC, id DESC");
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, SourceRow>(&sql).fetch_all(p).await)?)
}

/// A source integration by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<SourceRow>, StoreError> {
    crate::sql::by_uuid(db, "source_integrations", SOURCE_COLUMNS, uuid).await
}

/// Deletes a source integration; `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM source_integrations WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Wraps a value for a JSON column.
pub fn stored_json(value: Value) -> Json<Value> {
    Json(value)
}
