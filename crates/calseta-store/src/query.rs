//! A query as the store runs it: its text and its parameters, and several queries sent to the
//! driver as one command.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;

/// A parameter value.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Text(String),
    I64(i64),
    Bool(bool),
    Time(DateTime<Utc>),
    Json(Json<Value>),
    Uuid(uuid::Uuid),
    OptText(Option<String>),
    OptI64(Option<i64>),
    OptTime(Option<DateTime<Utc>>),
    OptJson(Option<Json<Value>>),
}

/// A query's text and its parameters, built by one function for both running it and explaining
/// its plan (`query_plans`), so the plan checked is the plan of the query that runs.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    pub sql: String,
    pub args: Vec<Arg>,
}

impl Query {
    /// `sql` with `args` bound in order to `$1`, `$2`, ….
    pub fn new(sql: impl Into<String>, args: Vec<Arg>) -> Self {
        Query { sql: sql.into(), args }
    }
}

/// `queries` as one command of several statements, for SQLite's driver, which runs every
/// statement of one text in one call and numbers `$n` parameters across the whole text: each
/// query's placeholders are shifted past the parameters of the queries before it.
pub(crate) fn together(queries: Vec<Query>) -> Query {
    let mut sql = String::new();
    let mut args = Vec::new();
    for query in queries {
        if !sql.is_empty() {
            sql.push_str(";\n");
        }
        sql.push_str(&shift_placeholders(&query.sql, args.len()));
        args.extend(query.args);
    }
    Query { sql, args }
}

/// Whether `query` can be sent together with others by [`together`]: a write that returns no rows,
/// without comments or anonymous `?` placeholders (which the renumbering does not read), and with
/// no `$n` beyond its own parameters (which would read the next query's).
pub(crate) fn can_go_together(query: &Query) -> bool {
    let sql = query.sql.to_ascii_uppercase();
    let highest = sql
        .split('$')
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok())
        .max()
        .unwrap_or(0);
    !sql.contains("RETURNING")
        && !sql.trim_start().starts_with("SELECT")
        && !sql.contains("--")
        && !sql.contains("/*")
        && !sql.contains('?')
        && highest <= query.args.len()
}

/// `sql` with every placeholder `$n` outside quoted text and identifiers made `$(n + offset)`.
fn shift_placeholders(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_string();
    }
    let mut shifted = String::with_capacity(sql.len() + 8);
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match quote {
            // A doubled quote inside quoted text closes and reopens it, which this also does.
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '$' => {
                let mut digits = String::new();
                while let Some(&(_, d)) = chars.peek() {
                    if !d.is_ascii_digit() {
                        break;
                    }
                    digits.push(d);
                    chars.next();
                }
                match digits.parse::<usize>() {
                    Ok(n) => {
                        shifted.push('$');
                        shifted.push_str(&(n + offset).to_string());
                    }
                    Err(_) => shifted.push('$'),
                }
                continue;
            }
            None => {}
        }
        shifted.push(c);
    }
    shifted
}

/// Binds every `Arg` of a `Params` to a query, in order (expanded per engine by the caller's macro).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::query::Arg::Text(v) => q.bind(v.clone()),
                $crate::query::Arg::I64(v) => q.bind(*v),
                $crate::query::Arg::Bool(v) => q.bind(*v),
                $crate::query::Arg::Time(v) => q.bind(*v),
                $crate::query::Arg::Json(v) => q.bind(v.clone()),
                $crate::query::Arg::Uuid(v) => q.bind(*v),
                $crate::query::Arg::OptText(v) => q.bind(v.clone()),
                $crate::query::Arg::OptI64(v) => q.bind(*v),
                $crate::query::Arg::OptTime(v) => q.bind(*v),
                $crate::query::Arg::OptJson(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}

/// A row type that decodes from either engine's rows (every `#[derive(sqlx::FromRow)]` struct).
pub(crate) trait Row:
    Send
    + Unpin
    + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
    + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}

impl<T> Row for T where
    T: Send
        + Unpin
        + for<'r> sqlx::FromRow<'r, sqlx::sqlite::SqliteRow>
        + for<'r> sqlx::FromRow<'r, sqlx::postgres::PgRow>
{
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_together_number_their_parameters_across_the_text() {
        let first = Query::new("INSERT INTO t (a, b) VALUES ($1, $2)", vec![Arg::I64(1), Arg::I64(2)]);
        let second = Query::new(
            "INSERT INTO u (c, \"$1\", d) VALUES ($1, json_extract($2, '$.x'), $1)",
            vec![Arg::I64(3), Arg::Text("{}".into())],
        );
        let joined = together(vec![first, second.clone()]);
        assert_eq!(
            joined.sql,
            "INSERT INTO t (a, b) VALUES ($1, $2);\nINSERT INTO u (c, \"$1\", d) VALUES ($3, json_extract($4, '$.x'), $3)"
        );
        assert_eq!(joined.args.len(), 4);
        assert_eq!(together(vec![second.clone()]).sql, second.sql);
        assert_eq!(
            shift_placeholders("SELECT '$1', $10, $ , 'it''s $2' || $2", 5),
            "SELECT '$1', $15, $ , 'it''s $2' || $7"
        );
    }

    #[test]
    fn only_plain_writes_within_their_parameters_go_together() {
        let write = |sql: &str, args: usize| Query::new(sql, vec![Arg::I64(1); args]);
        assert!(can_go_together(&write("INSERT INTO t (a, b) VALUES ($1, $2)", 2)));
        assert!(
            !can_go_together(&write("INSERT INTO t (a, b) VALUES ($1, $3)", 2)),
            "reads a third parameter"
        );
        assert!(!can_go_together(&write("UPDATE t SET a = $1 RETURNING id", 1)), "returns rows");
        assert!(!can_go_together(&write("SELECT $1", 1)), "returns rows");
        assert!(!can_go_together(&write("INSERT INTO t (a) VALUES (?)", 1)), "anonymous placeholder");
        assert!(!can_go_together(&write("INSERT INTO t (a) VALUES ($1) -- it's", 1)), "a comment");
    }
}
