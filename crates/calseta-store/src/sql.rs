//! Building queries whose filters vary at run time, with numbered parameters bound in order.

pub(crate) use crate::query::{Arg, Query, Row};

/// The parameters of a query being built.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pub args: Vec<Arg>,
}

impl Params {
    /// Adds a parameter, returning its placeholder (`$n`).
    pub fn arg(&mut self, arg: Arg) -> String {
        self.args.push(arg);
        format!("${}", self.args.len())
    }

    /// `column` (a JSON array on `table`) holds an element for which `condition` holds, on either
    /// engine; `condition` reads the element, as text, as `v`.
    pub fn json_array_any(engine: crate::Engine, table: &str, column: &str, condition: &str) -> String {
        match engine {
            crate::Engine::Postgres => format!(
                "EXISTS (SELECT 1 FROM jsonb_array_elements_text({table}.{column}) AS e(v) WHERE {condition})"
            ),
            crate::Engine::Sqlite => format!(
                "EXISTS (SELECT 1 FROM (SELECT CAST(value AS TEXT) AS v FROM json_each({table}.{column})) AS e \
                 WHERE {condition})"
            ),
        }
    }

    /// `pattern` as a `LIKE` pattern matching itself literally (with `ESCAPE '\\'`).
    pub fn like_literal(pattern: &str) -> String {
        pattern.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
    }

    /// `column` contains `needle`, ignoring ASCII case, with `%` and `_` taken literally.
    pub fn contains_text(&mut self, column: &str, needle: &str) -> String {
        let escaped = needle.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
        format!("LOWER({column}) LIKE LOWER({}) ESCAPE '\\'", self.arg(Arg::Text(format!("%{escaped}%"))))
    }

    /// `column IN ($a, $b, …)` for text values.
    pub fn in_list(&mut self, column: &str, values: &[String]) -> String {
        let params: Vec<String> = values.iter().map(|v| self.arg(Arg::Text(v.clone()))).collect();
        format!("{column} IN ({})", params.join(", "))
    }
}

/// The query of the row of `table` whose public id is `uuid`.
pub(crate) fn by_uuid_query(table: &str, columns: &str, uuid: uuid::Uuid) -> Query {
    Query::new(format!("SELECT {columns} FROM {table} WHERE uuid = $1"), vec![Arg::Uuid(uuid)])
}

/// The row of `table` whose public id is `uuid` (the `get` of every resource), on the reader pool.
pub(crate) async fn by_uuid<T>(
    db: &crate::Db,
    table: &str,
    columns: &str,
    uuid: uuid::Uuid,
) -> Result<Option<T>, crate::StoreError>
where
    T: Row,
{
    fetch_optional(db, &by_uuid_query(table, columns, uuid)).await
}

/// The first row `query` answers, if any, on the reader pool.
pub(crate) async fn fetch_optional<T>(db: &crate::Db, query: &Query) -> Result<Option<T>, crate::StoreError>
where
    T: Row,
{
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, T>(&query.sql), &query.args).fetch_optional(p).await)?,
    )
}

/// Every row `query` answers, on the reader pool.
pub(crate) async fn fetch_all<T>(db: &crate::Db, query: &Query) -> Result<Vec<T>, crate::StoreError>
where
    T: Row,
{
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, T>(&query.sql), &query.args).fetch_all(p).await)?,
    )
}

/// The single number `query` answers (a `COUNT(*)`), on the reader pool.
pub(crate) async fn fetch_count(db: &crate::Db, query: &Query) -> Result<i64, crate::StoreError> {
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_scalar::<_, i64>(&query.sql), &query.args).fetch_one(p).await)?,
    )
}

/// One page of rows and the filter's total: `select` is the query up to its `ORDER BY` and
/// `count` the matching `COUNT(*)`, both over the parameters in `params`; the limit and offset are
/// appended as the last two.
pub(crate) async fn page<T>(
    db: &crate::Db,
    mut params: Params,
    select: &str,
    count: &str,
    limit: i64,
    offset: i64,
) -> Result<(Vec<T>, i64), crate::StoreError>
where
    T: Row,
{
    let count_args = params.args.clone();
    let l = params.arg(Arg::I64(limit));
    let o = params.arg(Arg::I64(offset));
    let sql = format!("{select} LIMIT {l} OFFSET {o}");
    Ok(on_pool!(db.read_pool(), p => {
        let rows = bind_args!(sqlx::query_as::<_, T>(&sql), &params.args).fetch_all(p).await?;
        let total: i64 = bind_args!(sqlx::query_scalar(count), &count_args).fetch_one(p).await?;
        Ok::<_, sqlx::Error>((rows, total))
    })?)
}
