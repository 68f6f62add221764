//! The `enrichment_field_extractions` table.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, StoreError};

const COLUMNS: &str = "id, uuid, provider_name, indicator_type, source_path, target_key, value_type, is_system, \
    is_active, description, created_at, updated_at";

/// A stored extraction rule.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ExtractionRow {
    pub id: i64,
    pub uuid: Uuid,
    pub provider_name: String,
    pub indicator_type: String,
    pub source_path: String,
    pub target_key: String,
    pub value_type: String,
    pub is_system: bool,
    pub is_active: bool,
    pub description: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A rule to create.
#[derive(Debug, Clone)]
pub struct NewExtraction {
    pub provider_name: String,
    pub indicator_type: String,
    pub source_path: String,
    pub target_key: String,
    pub value_type: String,
    pub is_system: bool,
    pub description: Option<String>,
}

const INSERT: &str = "INSERT INTO enrichment_field_extractions (uuid, provider_name, indicator_type, source_path, \
    target_key, value_type, is_system, is_active, description, created_at, updated_at) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8, $9, $9)";

/// Inserts rules all-or-nothing (a duplicate `(provider, type, path)` fails the whole batch).
pub async fn insert_all(db: &Db, rules: &[NewExtraction]) -> Result<Vec<ExtractionRow>, StoreError> {
    let now = crate::now();
    let sql = format!("{INSERT} RETURNING {COLUMNS}");
    let mut tx = db.begin().await?;
    let mut rows = Vec::with_capacity(rules.len());
    for r in rules {
        rows.push(on_tx!(tx, c => sqlx::query_as::<_, ExtractionRow>(&sql)
            .bind(Uuid::now_v7())
            .bind(&r.provider_name)
            .bind(&r.indicator_type)
            .bind(&r.source_path)
            .bind(&r.target_key)
            .bind(&r.value_type)
            .bind(r.is_system)
            .bind(&r.description)
            .bind(now)
            .fetch_one(c)
            .await)?);
    }
    tx.commit().await?;
    Ok(rows)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct ExtractionFilter {
    pub provider_name: Option<String>,
    pub indicator_type: Option<String>,
    pub is_system: Option<bool>,
    pub is_active: Option<bool>,
}

/// Rules, oldest first, with the total (`limit` 0 = all).
pub async fn list(
    db: &Db,
    f: &ExtractionFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ExtractionRow>, i64), StoreError> {
    let mut b = Params::default();
    let mut clauses = Vec::new();
    if let Some(v) = &f.provider_name {
        clauses.push(format!("provider_name = {}", b.arg(Arg::Text(v.clone()))));
    }
    if let Some(v) = &f.indicator_type {
        clauses.push(format!("indicator_type = {}", b.arg(Arg::Text(v.clone()))));
    }
    if let Some(v) = f.is_system {
        clauses.push(format!("is_system = {}", b.arg(Arg::Bool(v))));
    }
    if let Some(v) = f.is_active {
        clauses.push(format!("is_active = {}", b.arg(Arg::Bool(v))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let count_sql = format!("SELECT COUNT(*) FROM enrichment_field_extractions {where_sql}");
    let count_args = b.args.clone();
    let page = if limit > 0 {
        let l = b.arg(Arg::I64(limit));
        let o = b.arg(Arg::I64(offset));
        format!("LIMIT {l} OFFSET {o}")
    } else {
        String::new()
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM enrichment_field_extractions {where_sql} ORDER BY created_at, id {page}"
    );
    Ok(on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, ExtractionRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?)
}

/// A rule by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<ExtractionRow>, StoreError> {
    crate::sql::by_uuid(db, "enrichment_field_extractions", COLUMNS, uuid).await
}

/// Changes to a rule; `None` leaves a field alone.
#[derive(Debug, Clone, Default)]
pub struct ExtractionChanges {
    pub source_path: Option<String>,
    pub target_key: Option<String>,
    pub value_type: Option<String>,
    pub is_active: Option<bool>,
    pub description: Option<Option<String>>,
}

/// Applies changes.
pub async fn update(db: &Db, uuid: Uuid, c: &ExtractionChanges) -> Result<Option<ExtractionRow>, StoreError> {
    let now = crate::now();
    let (set_description, description) = match &c.description {
        Some(d) => (true, d.clone()),
        None => (false, None),
    };
    let sql = format!(
        "UPDATE enrichment_field_extractions SET source_path = COALESCE($2, source_path), target_key = COALESCE($3, target_key), \
         value_type = COALESCE($4, value_type), is_active = COALESCE($5, is_active), \
         description = CASE WHEN $6 THEN $7 ELSE description END, updated_at = $8 WHERE uuid = $1 RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, ExtractionRow>(&sql)
        .bind(uuid)
        .bind(&c.source_path)
        .bind(&c.target_key)
        .bind(&c.value_type)
        .bind(c.is_active)
        .bind(set_description)
        .bind(description)
        .bind(now)
        .fetch_optional(p)
        .await)?)
}

/// Deletes a rule; `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM enrichment_field_extractions WHERE uuid = $1")
        .bind(uuid)
        .execute(p)
        .await
        .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Seeds system rules in one transaction, skipping those already present.
pub async fn seed_system_all(db: &Db, rules: &[NewExtraction]) -> Result<(), StoreError> {
    let now = crate::now();
    let sql = format!("{INSERT} ON CONFLICT (provider_name, indicator_type, source_path) DO NOTHING");
    let mut tx = db.begin().await?;
    for r in rules {
        on_tx!(tx, c => sqlx::query(&sql)
            .bind(Uuid::now_v7())
            .bind(&r.provider_name)
            .bind(&r.indicator_type)
            .bind(&r.source_path)
            .bind(&r.target_key)
            .bind(&r.value_type)
            .bind(true)
            .bind(&r.description)
            .bind(now)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    tx.commit().await?;
    Ok(())
}
