//! Field readers for list parameters (`#[serde(deserialize_with = …)]`): each accepts a query
//! string's text and a tool call's JSON value, and fails with v1's message for the field's type.
//! A repeated scalar query key (an array of strings) counts as its last value, as in v1.

use calseta_core::alerts::{AlertStatus, EnrichmentStatus, Malice, Severity};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Value;
use uuid::Uuid;

/// One value, `None` for `null`; a repeated query key's array of strings becomes its last string.
fn scalar<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::Array(items) if !items.is_empty() && items.iter().all(Value::is_string) => {
            items.last().cloned()
        }
        other => Some(other),
    })
}

/// An integer: a JSON integer, a number with no fraction (`5.0`) or such a number as text.
pub fn int<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    const MSG: &str = "Input should be a valid integer";
    let Some(value) = scalar(d)? else { return Ok(None) };
    let number = match &value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().and_then(whole)),
        Value::String(s) => {
            s.trim().parse::<i64>().ok().or_else(|| s.trim().parse::<f64>().ok().and_then(whole))
        }
        _ => None,
    };
    number.map(Some).ok_or_else(|| D::Error::custom(MSG))
}

fn whole(f: f64) -> Option<i64> {
    (f.is_finite() && f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

/// A boolean: `true`/`false`, or as text `true|1|yes|on` and `false|0|no|off` in any case.
pub fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    const MSG: &str = "Input should be a valid boolean";
    let Some(value) = scalar(d)? else { return Ok(None) };
    match &value {
        Value::Bool(b) => Ok(Some(*b)),
        Value::Number(n) if n.as_i64() == Some(1) => Ok(Some(true)),
        Value::Number(n) if n.as_i64() == Some(0) => Ok(Some(false)),
        Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Ok(Some(true)),
            "false" | "0" | "no" | "off" => Ok(Some(false)),
            _ => Err(D::Error::custom(MSG)),
        },
        _ => Err(D::Error::custom(MSG)),
    }
}

/// A time: ISO 8601 text or epoch seconds (milliseconds when too large for seconds), as a
/// number or as text (see [`calseta_core::time::parse_timestamp`]).
pub fn timestamp<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    const MSG: &str = "Input should be a valid datetime";
    let Some(value) = scalar(d)? else { return Ok(None) };
    let parsed = match &value {
        Value::String(s) => calseta_core::time::parse_timestamp(s),
        Value::Number(n) => n.as_f64().and_then(calseta_core::time::from_epoch),
        _ => None,
    };
    parsed.map(Some).ok_or_else(|| D::Error::custom(MSG))
}

/// A UUID as text.
pub fn uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    const MSG: &str = "Input should be a valid UUID";
    let Some(value) = scalar(d)? else { return Ok(None) };
    match &value {
        Value::String(s) => Uuid::parse_str(s.trim()).map(Some).map_err(|_| D::Error::custom(MSG)),
        _ => Err(D::Error::custom(MSG)),
    }
}

/// Text as sent (an empty text is kept: the list decides what it means).
pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let Some(value) = scalar(d)? else { return Ok(None) };
    match value {
        Value::String(s) if s.chars().count() > MAX_TEXT => {
            Err(D::Error::custom(format!("String should have at most {MAX_TEXT} characters")))
        }
        Value::String(s) => Ok(Some(s)),
        _ => Err(D::Error::custom("Input should be a valid string")),
    }
}

/// The longest text parameter.
const MAX_TEXT: usize = 65_536;
pub use super::schema::MAX_LIST;

/// A value of a list parameter, read from one (trimmed, non-empty) item.
pub trait ListItem: Sized {
    /// The item, or v1's message for a bad one.
    fn read(text: &str) -> Result<Self, String>;
}

impl ListItem for String {
    fn read(text: &str) -> Result<Self, String> {
        if text.chars().count() > 255 {
            return Err("List items should have at most 255 characters".into());
        }
        Ok(text.to_string())
    }
}

/// v1's (pydantic's) message for a value outside `names`: `Input should be 'A', 'B' or 'C'`.
pub fn expected(names: &[&str]) -> String {
    let quoted: Vec<String> = names.iter().map(|n| format!("'{n}'")).collect();
    match quoted.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("Input should be {} or {last}", rest.join(", ")),
        Some((last, _)) => format!("Input should be {last}"),
        None => "Input should be a valid value".into(),
    }
}

macro_rules! enum_items {
    ($($ty:ty),+) => {$(
        impl ListItem for $ty {
            fn read(text: &str) -> Result<Self, String> {
                <$ty>::parse(text).map_err(|_| expected(&<$ty>::names()))
            }
        }
    )+};
}
enum_items!(AlertStatus, Severity, EnrichmentStatus, Malice);

fn items<T: ListItem, E: Error>(value: Value, split_arrays: bool) -> Result<Vec<T>, E> {
    let texts: Vec<String> = match value {
        Value::Null => Vec::new(),
        Value::String(s) => s.split(',').map(str::to_string).collect(),
        Value::Array(values) => {
            let mut out = Vec::new();
            for v in values {
                let Value::String(s) = v else {
                    return Err(E::custom("Input should be a valid list of strings"));
                };
                if split_arrays {
                    out.extend(s.split(',').map(str::to_string));
                } else {
                    out.push(s);
                }
            }
            out
        }
        _ => return Err(E::custom("Input should be a valid list or comma-separated string")),
    };
    let texts: Vec<&str> = texts.iter().map(|s| s.trim()).filter(|s| !s.is_empty()).collect();
    if texts.len() > MAX_LIST {
        return Err(E::custom(format!("List should have at most {MAX_LIST} items")));
    }
    texts.into_iter().map(|t| T::read(t).map_err(E::custom)).collect()
}

/// A list: an array of strings, or one comma-separated string (items trimmed, empty ones dropped,
/// so an empty value filters nothing); each item is read as a `T` (e.g. a core enum).
pub fn list<'de, D: Deserializer<'de>, T: ListItem>(d: D) -> Result<Vec<T>, D::Error> {
    items(Value::deserialize(d)?, true)
}

/// A list whose items are taken whole when sent as an array (a repeated query key, `?tags=a,b`
/// being one tag) and split at commas when sent as one string (a tool's `"a,b"`).
pub fn whole_items<'de, D: Deserializer<'de>, T: ListItem>(d: D) -> Result<Vec<T>, D::Error> {
    items(Value::deserialize(d)?, false)
}

/// A sort column or direction: an enum with fixed names; an empty value is the default.
pub trait SortKey: Sized + Copy + 'static {
    /// Every name, in declaration order.
    const NAMES: &'static [&'static str];
    /// Every value, in the order of [`Self::NAMES`].
    const ALL: &'static [Self];
    /// The message for a value outside [`Self::NAMES`].
    fn refusal() -> String;
}

/// Reads a [`SortKey`] (`None` when absent or empty).
pub fn sort<'de, D: Deserializer<'de>, T: SortKey>(d: D) -> Result<Option<T>, D::Error> {
    let Some(value) = scalar(d)? else { return Ok(None) };
    // Sent empty is refused like any value outside the list (v1's 400), not read as the default.
    match &value {
        Value::String(s) => T::NAMES
            .iter()
            .position(|n| n == s)
            .and_then(|i| T::ALL.get(i).copied())
            .map(Some)
            .ok_or_else(|| D::Error::custom(T::refusal())),
        _ => Err(D::Error::custom(T::refusal())),
    }
}

/// Declares a sort-column enum for one list: its names (the one constant of the list's sortable
/// columns), its default, `as_str`, and its OpenAPI and JSON Schema shapes.
macro_rules! sort_columns {
    ($(#[$meta:meta])* $name:ident, default = $default:ident, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $name {
            $(
                #[doc = concat!("`", $text, "`")]
                $variant
            ),+
        }

        impl Default for $name {
            fn default() -> Self {
                $name::$default
            }
        }

        impl $name {
            /// The column's name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The OpenAPI shape of `sort_by`.
            pub fn openapi() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                $crate::params::schema::choice(
                    <$name as $crate::params::fields::SortKey>::NAMES,
                    Some(<$name>::default().as_str()),
                    "Sort column",
                )
            }

        }

        /// `sort_by` as MCP tools describe it (inlined: one list's columns, with its default).
        impl schemars::JsonSchema for $name {
            fn schema_name() -> std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }

            fn inline_schema() -> bool {
                true
            }

            fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                $crate::params::schema::json_choice(
                    <$name as $crate::params::fields::SortKey>::NAMES,
                    Some(<$name>::default().as_str()),
                    "Sort column",
                )
            }
        }

        impl $crate::params::fields::SortKey for $name {
            const NAMES: &'static [&'static str] = &[$($text),+];
            const ALL: &'static [Self] = &[$($name::$variant),+];
            fn refusal() -> String {
                format!("sort_by must be one of {}.", Self::NAMES.join(", "))
            }
        }
    };
}
pub(crate) use sort_columns;

/// `asc` or `desc` (the default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortOrder {
    /// Ascending.
    Asc,
    /// Descending (the default).
    #[default]
    Desc,
}

impl SortOrder {
    /// Whether it is descending.
    pub fn descending(self) -> bool {
        self == SortOrder::Desc
    }

    /// The OpenAPI shape of `sort_order`.
    pub fn openapi() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        super::schema::choice(Self::NAMES, Some("desc"), "Sort direction")
    }
}

/// `sort_order` as MCP tools describe it.
impl schemars::JsonSchema for SortOrder {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SortOrder".into()
    }

    fn inline_schema() -> bool {
        true
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        super::schema::json_choice(Self::NAMES, Some("desc"), "Sort direction")
    }
}

impl SortKey for SortOrder {
    const NAMES: &'static [&'static str] = &["asc", "desc"];
    const ALL: &'static [Self] = &[SortOrder::Asc, SortOrder::Desc];
    fn refusal() -> String {
        "sort_order must be asc or desc.".into()
    }
}
