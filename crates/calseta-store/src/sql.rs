//! Building queries whose filters vary at run time, with numbered parameters bound in order.

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
}

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

    /// `column IN ($a, $b, …)` for text values.
    pub fn in_list(&mut self, column: &str, values: &[String]) -> String {
        let params: Vec<String> = values.iter().map(|v| self.arg(Arg::Text(v.clone()))).collect();
        format!("{column} IN ({})", params.join(", "))
    }
}

/// Binds every `Arg` of a `Params` to a query, in order (expanded per engine by the caller's macro).
macro_rules! bind_args {
    ($query:expr, $args:expr) => {{
        let mut q = $query;
        for arg in $args {
            q = match arg {
                $crate::sql::Arg::Text(v) => q.bind(v.clone()),
                $crate::sql::Arg::I64(v) => q.bind(*v),
                $crate::sql::Arg::Bool(v) => q.bind(*v),
                $crate::sql::Arg::Time(v) => q.bind(*v),
                $crate::sql::Arg::Json(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}
