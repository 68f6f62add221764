//! The `context_documents` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, StoreError};

const COLUMNS: &str = "id, uuid, title, document_type, is_global, targeting_rules, description, content, tags, \
    version, is_system, created_at, updated_at";

/// A stored document.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DocumentRow {
    pub id: i64,
    pub uuid: Uuid,
    pub title: String,
    pub document_type: String,
    pub is_global: bool,
    pub targeting_rules: Option<Json<Value>>,
    pub description: Option<String>,
    pub content: String,
    pub tags: Json<Vec<String>>,
    pub version: i32,
    pub is_system: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What targeting needs of every document (no content).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TargetingRow {
    pub id: i64,
    pub is_global: bool,
    pub document_type: String,
    pub targeting_rules: Option<Json<Value>>,
}

/// Every writable field.
#[derive(Debug, Clone)]
pub struct DocumentFields {
    pub title: String,
    pub document_type: String,
    pub is_global: bool,
    pub targeting_rules: Option<Value>,
    pub description: Option<String>,
    pub content: String,
    pub tags: Vec<String>,
    pub version: i32,
}

impl From<DocumentRow> for DocumentFields {
    fn from(r: DocumentRow) -> Self {
        DocumentFields {
            title: r.title,
            document_type: r.document_type,
            is_global: r.is_global,
            targeting_rules: r.targeting_rules.map(|j| j.0),
            description: r.description,
            content: r.content,
            tags: r.tags.0,
            version: r.version,
        }
    }
}

/// Binds the writable fields, in column order, as `$1…$8`.
macro_rules! bind_document {
    ($q:expr, $f:expr) => {
        $q.bind(&$f.title)
            .bind(&$f.document_type)
            .bind($f.is_global)
            .bind($f.targeting_rules.as_ref().map(Json))
            .bind(&$f.description)
            .bind(&$f.content)
            .bind(Json(&$f.tags))
            .bind($f.version)
    };
}

/// Inserts a document.
pub async fn insert(db: &Db, f: &DocumentFields) -> Result<DocumentRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO context_documents (title, document_type, is_global, targeting_rules, description, content, tags, \
         version, uuid, is_system, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, FALSE, $10, $10) RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => bind_document!(sqlx::query_as::<_, DocumentRow>(&sql), f)
        .bind(Uuid::now_v7())
        .bind(now)
        .fetch_one(p)
        .await)?)
}

/// Replaces the fields of document `id`.
pub async fn update(db: &Db, id: i64, f: &DocumentFields) -> Result<DocumentRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE context_documents SET title = $1, document_type = $2, is_global = $3, targeting_rules = $4, description = $5, \
         content = $6, tags = $7, version = $8, updated_at = $9 WHERE id = $10 RETURNING {COLUMNS}"
    );
    Ok(
        on_write!(db, p => bind_document!(sqlx::query_as::<_, DocumentRow>(&sql), f).bind(now).bind(id).fetch_one(p).await)?,
    )
}

/// A document by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<DocumentRow>, StoreError> {
    crate::sql::by_uuid(db, "context_documents", COLUMNS, uuid).await
}

/// Documents by internal ids.
pub async fn by_ids(db: &Db, ids: &[i64]) -> Result<Vec<DocumentRow>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Params::default();
    let params: Vec<String> = ids.iter().map(|id| b.arg(Arg::I64(*id))).collect();
    let sql = format!("SELECT {COLUMNS} FROM context_documents WHERE id IN ({})", params.join(", "));
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, DocumentRow>(&sql), &b.args).fetch_all(p).await)?,
    )
}

/// Targeting data of every document (small rows; content is loaded only for matches).
pub async fn targeting(db: &Db) -> Result<Vec<TargetingRow>, StoreError> {
    Ok(on_pool!(db.read_pool(), p => sqlx::query_as::<_, TargetingRow>(
        "SELECT id, is_global, document_type, targeting_rules FROM context_documents ORDER BY id",
    )
    .fetch_all(p)
    .await)?)
}

/// Deletes a document; `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let n = on_write!(db, p => sqlx::query("DELETE FROM context_documents WHERE uuid = $1").bind(uuid).execute(p).await.map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Filters for listing.
#[derive(Debug, Clone, Default)]
pub struct DocumentFilter {
    pub document_types: Vec<String>,
    pub is_global: Option<bool>,
    pub sort_by: String,
    pub descending: bool,
}

/// One page of documents with the total.
pub async fn list(
    db: &Db,
    f: &DocumentFilter,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DocumentRow>, i64), StoreError> {
    let mut b = Params::default();
    let mut clauses = Vec::new();
    if !f.document_types.is_empty() {
        clauses.push(b.in_list("document_type", &f.document_types));
    }
    if let Some(v) = f.is_global {
        clauses.push(format!("is_global = {}", b.arg(Arg::Bool(v))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let direction = if f.descending { "DESC" } else { "ASC" };
    let column = match f.sort_by.as_str() {
        c @ ("title" | "document_type" | "updated_at") => c,
        _ => "created_at",
    };
    let count_sql = format!("SELECT COUNT(*) FROM context_documents {where_sql}");
    let count_args = b.args.clone();
    let l = b.arg(Arg::I64(limit));
    let o = b.arg(Arg::I64(offset));
    let sql = format!(
        "SELECT {COLUMNS} FROM context_documents {where_sql} ORDER BY {column} {direction}, id {direction} LIMIT {l} OFFSET {o}"
    );
    Ok(on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, DocumentRow>(&sql), &b.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(&count_sql), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?)
}
