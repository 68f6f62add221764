//! Deserialization helpers for request bodies.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer};

/// Distinguishes an explicit `null` (`Some(None)`) from an omitted field (`None`, with
/// `#[serde(default)]`): JSON-merge-patch semantics.
pub fn double_option<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// An optional timestamp in any shape `calseta_core::time::parse_timestamp` accepts.
pub fn lenient_timestamp<'de, D>(deserializer: D) -> Result<Option<DateTime<Utc>>, D::Error>
where
    D: Deserializer<'de>,
{
    match Option::<serde_json::Value>::deserialize(deserializer)? {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(text)) => calseta_core::time::parse_timestamp(&text)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom(format!("'{text}' is not a valid datetime"))),
        Some(serde_json::Value::Number(n)) => n
            .as_f64()
            .and_then(calseta_core::time::from_epoch)
            .map(Some)
            .ok_or_else(|| serde::de::Error::custom("not a valid epoch timestamp")),
        Some(_) => Err(serde::de::Error::custom("expected a datetime string")),
    }
}
