//! List parameters: one typed struct per list, read by REST (from the query string) and by MCP
//! tools (from the call's JSON arguments) alike, and the source of both the OpenAPI parameters
//! (`utoipa::IntoParams`) and the MCP input schemas (`schemars::JsonSchema`).
//!
//! Both surfaces first turn their input into [`RawArgs`] (a JSON object); the field readers in
//! [`fields`] then accept either shape (`"5"` or `5`, `"true"` or `true`, `"a,b"` or `["a","b"]`).
//! Every failing field is reported with its name ([`ParamsError::Invalid`]); a bad sort column or
//! direction is its own error ([`ParamsError::BadSort`]) because v1 answers it with 400, not 422.

/// Declares a list's parameter struct: its own filters, then the fields every list shares —
/// `sort_by` and `sort_order` when it is `sorted by` a column enum, and `page` and `page_size` —
/// with the derives both surfaces read (serde, `IntoParams`, `JsonSchema`) and `page()`.
macro_rules! list_params {
    ($(#[$meta:meta])* pub struct $name:ident sorted by $sort:ident { $($fields:tt)* }) => {
        list_params! {
            $(#[$meta])*
            pub struct $name {
                $($fields)*
                /// Sort column (the list's default when absent).
                #[serde(deserialize_with = "fields::sort")]
                #[param(schema_with = $sort::openapi)]
                pub sort_by: Option<$sort>,
                /// Sort direction (default `desc`).
                #[serde(deserialize_with = "fields::sort")]
                #[param(schema_with = SortOrder::openapi)]
                pub sort_order: Option<SortOrder>,
            }
        }
    };
    ($(#[$meta:meta])* pub struct $name:ident { $($fields:tt)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Default, Deserialize, IntoParams, JsonSchema)]
        #[serde(default)]
        #[into_params(parameter_in = Query)]
        pub struct $name {
            $($fields)*
            /// Page number, from 1.
            #[serde(deserialize_with = "fields::int")]
            #[param(minimum = 1, maximum = 4294967295_i64)]
            #[schemars(schema_with = "json_page")]
            pub page: Option<i64>,
            /// Items per page.
            #[serde(deserialize_with = "fields::int")]
            #[param(minimum = 1, maximum = 500)]
            #[schemars(schema_with = "json_page_size")]
            pub page_size: Option<i64>,
        }

        impl $name {
            /// The page to read.
            pub fn page(&self, paging: $crate::params::Paging) -> Result<calseta_core::pagination::PageRequest, $crate::params::ParamsError> {
                paging.request(self.page, self.page_size)
            }
        }
    };
}
pub(crate) use list_params;

pub mod fields;
mod lists;
mod more;
pub mod schema;

pub use lists::*;
pub use more::*;

use calseta_core::pagination::PageRequest;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::{FieldError, ServiceError};

/// A list parameter struct: how REST reads its query string.
pub trait ListParams: DeserializeOwned {
    /// Keys that are always lists when read from a query string, even when sent once: their
    /// values are taken as sent, not split at commas (`?tags=a,b` is the one tag `a,b`).
    const REPEATED: &'static [&'static str] = &[];
}

/// Raw parameters as a JSON object: from a query string (a key sent once is a string, a key sent
/// several times an array of strings) or from an MCP call's arguments (`null` counts as absent).
#[derive(Debug, Clone, Default)]
pub struct RawArgs {
    map: Map<String, Value>,
    location: &'static str,
}

impl RawArgs {
    /// Reads a raw query string (`None` = no query); keys in `repeated` are always arrays.
    pub fn from_query(raw: Option<&str>, repeated: &[&str]) -> Self {
        let mut map = Map::new();
        for (key, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            let value = Value::String(value.into_owned());
            match map.get_mut(key.as_ref()) {
                Some(Value::Array(items)) => items.push(value),
                Some(single) => *single = Value::Array(vec![single.take(), value]),
                None if repeated.contains(&key.as_ref()) => {
                    map.insert(key.into_owned(), Value::Array(vec![value]));
                }
                None => {
                    map.insert(key.into_owned(), value);
                }
            }
        }
        RawArgs { map, location: "query" }
    }

    /// Reads a tool call's arguments (`null` values are dropped: absent and `null` are the same).
    pub fn from_json(map: Map<String, Value>) -> Self {
        let map = map.into_iter().filter(|(_, v)| !v.is_null()).collect();
        RawArgs { map, location: "arguments" }
    }

    /// The keys present.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    /// Keys that are no property of `T`'s JSON Schema (MCP refuses unknown arguments; REST
    /// ignores unknown query parameters).
    pub fn unknown<T: schemars::JsonSchema>(&self) -> Vec<String> {
        let schema = schemars::SchemaGenerator::default().into_root_schema_for::<T>();
        let known = schema.get("properties").and_then(Value::as_object);
        self.map.keys().filter(|k| !known.is_some_and(|p| p.contains_key(k.as_str()))).cloned().collect()
    }

    /// Reads `T`, reporting every failing field by name. A bad `sort_by` or `sort_order` wins
    /// over the other failures (it is v1's 400, checked first).
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ParamsError> {
        // Each key alone first: every field is optional, so a one-key object fails only for that
        // key, which names the field in its error and lets every failure be reported.
        let mut errors = Vec::new();
        let mut bad_sort = None;
        for (key, value) in &self.map {
            let mut one = Map::new();
            one.insert(key.clone(), value.clone());
            if let Err(e) = serde_json::from_value::<T>(Value::Object(one)) {
                let msg = e.to_string();
                if key == "sort_by" || key == "sort_order" {
                    bad_sort.get_or_insert(msg);
                } else {
                    errors.push(FieldError {
                        loc: vec![self.location.to_string(), key.clone()],
                        msg,
                        kind: "value_error".into(),
                    });
                }
            }
        }
        if let Some(message) = bad_sort {
            return Err(ParamsError::BadSort(message));
        }
        if !errors.is_empty() {
            return Err(ParamsError::Invalid(errors));
        }
        serde_json::from_value(Value::Object(self.map.clone())).map_err(|e| {
            ParamsError::Invalid(vec![FieldError {
                loc: vec![self.location.to_string()],
                msg: e.to_string(),
                kind: "value_error".into(),
            }])
        })
    }
}

/// Why list parameters were refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamsError {
    /// Fields that could not be read, each with its location (v1's 422).
    Invalid(Vec<FieldError>),
    /// `sort_by` or `sort_order` is not one of the list's values (v1's 400).
    BadSort(String),
}

impl std::fmt::Display for ParamsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ParamsError::Invalid(errors) => {
                let parts: Vec<String> = errors
                    .iter()
                    .map(|e| format!("{}: {}", e.loc.last().map_or("", String::as_str), e.msg))
                    .collect();
                f.write_str(&parts.join("; "))
            }
            ParamsError::BadSort(message) => f.write_str(message),
        }
    }
}

impl std::error::Error for ParamsError {}

impl From<ParamsError> for ServiceError {
    fn from(error: ParamsError) -> Self {
        match error {
            ParamsError::Invalid(errors) => ServiceError::Invalid(errors),
            ParamsError::BadSort(message) => ServiceError::Malformed { code: "VALIDATION_ERROR", message },
        }
    }
}

/// How a surface pages: its default size, its largest size, and whether a larger one is refused
/// (REST, 422) or cut down (MCP tools, as v1's search tools do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Paging {
    /// Size when none is given.
    pub default_size: u32,
    /// The largest size.
    pub max_size: u32,
    /// Cut a larger size down instead of refusing it.
    pub clamp: bool,
}

impl Paging {
    /// REST lists: 50 by default, at most 500.
    pub const REST: Paging = Paging {
        default_size: calseta_core::pagination::DEFAULT_PAGE_SIZE,
        max_size: calseta_core::pagination::MAX_PAGE_SIZE,
        clamp: false,
    };
    /// MCP search tools: 20 by default, larger sizes cut to 100.
    pub const TOOL: Paging = Paging { default_size: 20, max_size: 100, clamp: true };

    /// The page request for `page` and `page_size` (already read as integers, `page` ≥ 1).
    pub fn request(self, page: Option<i64>, page_size: Option<i64>) -> Result<PageRequest, ParamsError> {
        let mut errors = Vec::new();
        let page = page.unwrap_or(1);
        if page < 1 || page > i64::from(u32::MAX) {
            errors.push(FieldError::query("page", "Input should be greater than or equal to 1"));
        }
        let mut size = page_size.unwrap_or(i64::from(self.default_size));
        if self.clamp && size > i64::from(self.max_size) {
            size = i64::from(self.max_size);
        }
        if !(1..=i64::from(self.max_size)).contains(&size) {
            errors.push(FieldError::query(
                "page_size",
                format!("Input should be between 1 and {}", self.max_size),
            ));
        }
        if !errors.is_empty() {
            return Err(ParamsError::Invalid(errors));
        }
        Ok(PageRequest { page: page as u32, page_size: size as u32 })
    }
}

#[cfg(test)]
mod tests {
    use calseta_core::alerts::{AlertStatus, Severity};
    use serde_json::json;

    use super::*;

    fn query(raw: &str) -> RawArgs {
        RawArgs::from_query(Some(raw), AlertSearch::REPEATED)
    }

    fn tool(args: Value) -> RawArgs {
        RawArgs::from_json(args.as_object().cloned().unwrap_or_default())
    }

    #[test]
    fn a_query_string_and_tool_arguments_read_alike() {
        let rest: AlertSearch =
            query("status=Open,%20Closed&is_enriched=yes&page=2.0&tags=a,b&tags=c&from_time=2026-01-02")
                .parse()
                .unwrap();
        assert_eq!(rest.status, vec![AlertStatus::Open, AlertStatus::Closed]);
        assert_eq!(rest.is_enriched, Some(true));
        assert_eq!(rest.page, Some(2));
        assert_eq!(rest.tags, vec!["a,b".to_string(), "c".to_string()]);
        assert!(rest.from_time.is_some());

        let mcp: AlertSearch = tool(json!({"status": ["Open", "Closed"], "is_enriched": true, "page": 2,
            "tags": "a, c", "from_time": 1_767_312_000, "severity": null}))
        .parse()
        .unwrap();
        assert_eq!(mcp.status, rest.status);
        assert_eq!(mcp.tags, vec!["a".to_string(), "c".to_string()]);
        assert_eq!(mcp.from_time, rest.from_time);
        assert!(mcp.severity.is_empty());
    }

    #[test]
    fn every_bad_field_is_named_and_a_bad_sort_is_its_own_error() {
        let Err(ParamsError::Invalid(errors)) =
            query("page=x&is_enriched=maybe&severity=Huge&from_time=").parse::<AlertSearch>()
        else {
            panic!("expected field errors");
        };
        let mut fields: Vec<&str> = errors.iter().map(|e| e.loc[1].as_str()).collect();
        fields.sort_unstable();
        assert_eq!(fields, ["from_time", "is_enriched", "page", "severity"]);
        assert!(errors.iter().all(|e| e.loc[0] == "query"));
        let page = errors.iter().find(|e| e.loc[1] == "page").unwrap();
        assert_eq!(page.msg, "Input should be a valid integer");

        let Err(ParamsError::BadSort(message)) = query("sort_by=nope&page=x").parse::<AlertSearch>() else {
            panic!("expected a sort error");
        };
        assert!(message.starts_with("sort_by must be one of title, status"), "{message}");
        assert!(matches!(query("sort_order=up").parse::<AlertSearch>(), Err(ParamsError::BadSort(_))));
        // A sort sent empty is refused like any other value outside the list (the document has no
        // empty value); empty list filters are no filter.
        assert!(matches!(query("sort_by=").parse::<AlertSearch>(), Err(ParamsError::BadSort(_))));
        let empty: AlertSearch = query("status=&tags=").parse().unwrap();
        assert_eq!(empty.sort_by, None);
        assert!(empty.status.is_empty());
    }

    #[test]
    fn paging_refuses_or_cuts_by_surface() {
        assert_eq!(Paging::REST.request(None, None).unwrap().page_size, 50);
        assert!(Paging::REST.request(Some(1), Some(501)).is_err());
        assert!(Paging::REST.request(Some(0), Some(10)).is_err());
        assert_eq!(Paging::TOOL.request(None, Some(1000)).unwrap().page_size, 100);
        assert_eq!(Paging::TOOL.request(None, None).unwrap().page_size, 20);
        assert!(Paging::TOOL.request(None, Some(0)).is_err());
    }

    #[test]
    fn the_filter_carries_the_typed_values() {
        let search: DetectionRuleSearch =
            tool(json!({"name": "  ", "mitre_tactic": "TA0006", "sort_by": "name", "sort_order": "asc"}))
                .parse()
                .unwrap();
        let (filter, page) = search.to_query(Paging::TOOL).unwrap();
        assert_eq!(filter.name_contains, None);
        assert_eq!(filter.mitre_tactic.as_deref(), Some("TA0006"));
        assert_eq!((filter.sort_by.as_str(), filter.descending), ("name", false));
        assert_eq!(page.page_size, 20);
        let alerts: AlertSearch = query("severity=High").parse().unwrap();
        let filter = alerts.filter(Some(-1));
        assert_eq!(filter.severities, vec![Severity::High.as_str().to_string()]);
        assert_eq!((filter.sort_by.as_str(), filter.descending), ("occurred_at", true));
    }

    #[test]
    fn schemas_describe_every_field() {
        let schema = serde_json::to_value(schemars::schema_for!(AlertSearch)).unwrap();
        let properties = schema["properties"].as_object().unwrap();
        assert!(properties.contains_key("detection_rule_uuid") && properties.contains_key("tags"));
        assert_eq!(properties["sort_by"]["enum"][0], "title");
        assert!(tool(json!({"bogus": 1, "page": 1})).unknown::<AlertSearch>() == ["bogus"]);
        let params = <AlertSearch as utoipa::IntoParams>::into_params(|| None);
        assert_eq!(params.len(), properties.len());
    }
}
