//! Introspection of the applied schema, used to prove both engines' migrations agree.

use crate::{Db, Engine, StoreError};

/// One column of one table.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct ColumnInfo {
    /// Table name.
    pub table_name: String,
    /// Column name.
    pub column_name: String,
    /// Whether the column rejects NULL (primary keys count as NOT NULL).
    pub not_null: bool,
}

/// Every column of every application table, sorted.
pub async fn columns(db: &Db) -> Result<Vec<ColumnInfo>, StoreError> {
    let sql = match db.engine() {
        Engine::Sqlite => {
            "SELECT m.name AS table_name, p.name AS column_name, (p.\"notnull\" = 1 OR p.pk > 0) AS not_null \
             FROM sqlite_master m JOIN pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%' AND m.name <> '_sqlx_migrations'"
        }
        Engine::Postgres => {
            "SELECT table_name::text AS table_name, column_name::text AS column_name, (is_nullable = 'NO') AS not_null \
             FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name <> '_sqlx_migrations'"
        }
    };
    let mut cols: Vec<ColumnInfo> =
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ColumnInfo>(sql).fetch_all(p).await)?;
    cols.sort();
    Ok(cols)
}
