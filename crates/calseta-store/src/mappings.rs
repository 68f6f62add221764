//! The `indicator_field_mappings` table.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, StoreError};

const COLUMNS: &str = "id, uuid, source_name, field_path, indicator_type, extraction_target, is_system, is_active, \
    description, created_at, updated_at";

/// A stored mapping.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MappingRow {
    pub id: i64,
    pub uuid: Uuid,
    pub source_name: Option<String>,
    pub field_path: String,
    pub indicator_type: String,
    pub extraction_target: String,
    pub is_system: bool,
    pub is_active: bool,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A mapping to create.
#[derive(Debug, Clone)]
pub struct NewMapping {
    pub source_name: Option<String>,
    pub field_path: String,
    pub indicator_type: String,
    pub extraction_target: String,
    pub is_active: bool,
    pub is_system: bool,
    pub description: Option<String>,
}

/// Inserts a mapping.
pub async fn insert(db: &Db, m: &NewMapping) -> Result<MappingRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO indicator_field_mappings (uuid, source_name, field_path, indicator_type, extraction_target, \
         is_system, is_active, description, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $9) \
         RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, MappingRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(&m.source_name)
        .bind(&m.field_path)
        .bind(&m.indicator_type)
        .bind(&m.extraction_target)
        .bind(m.is_system)
        .bind(m.is_active)
        .bind(&m.description)
        .bind(now)
        .fetch_one(p)
        .await)?)
}

/// Seeds a system mapping unless one with the same `(field_path, extraction_target)` exists
/// (user edits to seeded rows are kept).
pub async fn seed_system(db: &Db, m: &NewMapping) -> Result<bool, StoreError> {
    let now = crate::now();
    let affected = on_write!(db, p => sqlx::query(
        "INSERT INTO indicator_field_mappings (uuid, source_name, field_path, indicator_type, extraction_target, \
         is_system, is_active, description, created_at, updated_at) \
         SELECT $1, NULL, $2, $3, $4, TRUE, TRUE, $5, $6, $6 \
         WHERE NOT EXISTS (SELECT 1 FROM indicator_field_mappings WHERE field_path = $2 AND extraction_target = $4 AND is_system = TRUE) \
         ON CONFLICT DO NOTHING",
    )
    .bind(Uuid::now_v7())
    .bind(&m.field_path)
    .bind(&m.indicator_type)
    .bind(&m.extraction_target)
    .bind(&m.description)
    .bind(now)
    .execute(p)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct MappingFilter {
    pub source_name: Option<String>,
    pub is_system: Option<bool>,
    pub is_active: Option<bool>,
    pub extraction_target: Option<String>,
}

/// Mappings matching `filter`, oldest first, with the total (`limit` 0 = all).
pub async fn list(
    db: &Db,
    filter: &MappingFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<MappingRow>, i64), StoreError> {
    let mut b = Params::default();
    let mut clauses = Vec::new();
    if let Some(v) = &filter.source_name {
        clauses.push(format!("source_name = {}", b.arg(Arg::Text(v.clone()))));
    }
    if let Some(v) = filter.is_system {
        clauses.push(format!("is_system = {}", b.arg(Arg::Bool(v))));
    }
    if let Some(v) = filter.is_active {
        clauses.push(format!("is_active = {}", b.arg(Arg::Bool(v))));
    }
    if let Some(v) = &filter.extraction_target {
        clauses.push(format!("extraction_target = {}", b.arg(Arg::Text(v.clone()))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM indicator_field_mappings {where_sql}");
    let count_args = b.args.clone();
    let page_sql = if limit > 0 {
        let l = b.arg(Arg::I64(limit));
        let o = b.arg(Arg::I64(offset));
        format!("LIMIT {l} OFFSET {o}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM indicator_field_mappings {where_sql} ORDER BY created_at, id {page_sql}"
    );
    let result = on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, MappingRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?;
    Ok(result)
}

/// A mapping by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<MappingRow>, StoreError> {
    crate::sql::by_uuid(db, "indicator_field_mappings", COLUMNS, uuid).await
}

/// Changes to a mapping; `None` leaves a field alone (`description: Some(None)` clears it).
#[derive(Debug, Clone, Default)]
pub struct MappingChanges {
    pub field_path: Option<String>,
    pub indicator_type: Option<String>,
    pub is_active: Option<bool>,
    pub description: Option<Option<String>>,
}

/// Applies changes.
pub async fn update(db: &Db, uuid: Uuid, c: &MappingChanges) -> Result<Option<MappingRow>, StoreError> {
    let now = crate::now();
    let (set_description, description) = match &c.description {
        Some(d) => (true, d.clone()),
        None => (false, None),
    };
    let sql = format!(
        "UPDATE indicator_field_mappings SET field_path = COALESCE($2, field_path), \
         indicator_type = COALESCE($3, indicator_type), is_active = COALESCE($4, is_active), \
         description = CASE WHEN $5 THEN $6 ELSE description END, updated_at = $7 WHERE uuid = $1 RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, MappingRow>(&sql)
        .bind(uuid)
        .bind(&c.field_path)
        .bind(&c.indicator_type)
        .bind(c.is_active)
        .bind(set_description)
        .bind(description)
        .bind(now)
        .fetch_optional(p)
        .await)?)
}

/// Deletes a mapping; `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let affected = on_write!(db, p => sqlx::query("DELETE FROM indicator_field_mappings WHERE uuid = $1")
        .bind(uuid)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(affected == 1)
}
