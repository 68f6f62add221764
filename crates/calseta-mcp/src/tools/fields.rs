//! Reading a tool's typed arguments: the input schema is generated from the argument type, names
//! outside its properties are refused with the allowed ones, and every failure names the argument,
//! so a model that sends a wrong value is told which one and why.

use std::sync::Arc;

use calseta_core::UnknownValue;
use calseta_core::alerts::{AlertStatus, CloseClassification, Malice};
use calseta_core::indicators::IndicatorType;
use rmcp::model::JsonObject;
use schemars::generate::SchemaSettings;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error};
use serde_json::Value;
use uuid::Uuid;

use crate::error::McpFailure;

/// The longest text argument (a finding's summary is the longest the use cases take).
pub(crate) const MAX_TEXT: usize = 65_536;

/// `T`'s JSON Schema as an MCP `inputSchema`: draft 2020-12, subschemas inlined, without the
/// type's own title and doc (noise to a model; the tool's description says what it does).
pub(crate) fn input_schema<T: JsonSchema>() -> Arc<JsonObject> {
    // Inlined: a tool whose arguments wrap another type (the searches) is still one flat object.
    let settings = SchemaSettings::draft2020_12().with(|s| s.inline_subschemas = true);
    let schema = settings.into_generator().into_root_schema_for::<T>();
    let mut object = match schema.to_value() {
        Value::Object(object) => object,
        _ => JsonObject::new(),
    };
    object.remove("title");
    object.remove("description");
    object.remove("$schema");
    // Every tool refuses names outside its properties (see [`refuse_unknown`]); say so.
    object.insert("additionalProperties".into(), Value::Bool(false));
    Arc::new(object)
}

/// The argument names `schema` declares.
pub(crate) fn properties(schema: &JsonObject) -> Vec<&str> {
    schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|p| p.keys().map(String::as_str).collect())
        .unwrap_or_default()
}

/// Refuses any name in `arguments` outside `known`, naming the allowed ones.
pub(crate) fn refuse_unknown(arguments: &JsonObject, known: &[&str]) -> Result<(), McpFailure> {
    let unknown: Vec<&str> = arguments.keys().map(String::as_str).filter(|k| !known.contains(k)).collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(McpFailure::BadArgument(format!(
        "Unknown argument(s): {}. Allowed: {}.",
        unknown.join(", "),
        known.join(", ")
    )))
}

/// Reads `T` from `arguments` (`null` counts as absent), naming the argument that fails.
pub(crate) fn parse<T: DeserializeOwned>(arguments: JsonObject) -> Result<T, McpFailure> {
    let arguments: JsonObject = arguments.into_iter().filter(|(_, v)| !v.is_null()).collect();
    serde_path_to_error::deserialize(Value::Object(arguments)).map_err(|e| {
        let path = e.path().to_string();
        McpFailure::BadArgument(explain(&path, &e.into_inner().to_string()))
    })
}

/// serde's message as a sentence about the argument at `path`: our own readers say what the value
/// must be ("is at most …", "must be …"); serde's built-in messages are reworded to match.
fn explain(path: &str, message: &str) -> String {
    if let Some(field) = message.strip_prefix("missing field `").and_then(|m| m.strip_suffix('`')) {
        return format!("{field} is required");
    }
    if let Some(rest) =
        message.strip_prefix("invalid type: ").or_else(|| message.strip_prefix("invalid value: "))
        && let Some((got, expected)) = rest.split_once(", expected ")
    {
        return format!("{path} must be {}, not {got}", plain(expected));
    }
    if let Some(rest) = message.strip_prefix("unknown variant `")
        && let Some((got, expected)) = rest.split_once("`, expected one of ")
    {
        return format!("{path} must be one of: {}. Got '{got}'.", expected.replace('`', ""));
    }
    if path.is_empty() || path == "." { message.to_string() } else { format!("{path} {message}") }
}

/// serde's name of an expected type in words a model reads.
fn plain(expected: &str) -> &str {
    match expected {
        "a map" => "an object",
        "f64" | "f32" => "a number",
        "i64" | "i32" | "u64" | "u32" => "a whole number",
        "a sequence" => "a list",
        other => other,
    }
}

/// Quotes at most a UUID's length of what was sent: the message goes back to a model's context.
fn shown(text: &str) -> String {
    let head: String = text.chars().take(40).collect();
    if text.chars().count() > 40 { format!("{head}…") } else { head }
}

/// The kind of a JSON value, for "must be a string, not …".
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A string value, else "must be a string, not …".
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match Value::deserialize(d)? {
        Value::String(s) => Ok(s),
        other => Err(D::Error::custom(format!("must be a string, not {}", kind(&other)))),
    }
}

/// `text` as a UUID, else an error quoting it.
fn as_uuid<E: Error>(text: &str) -> Result<Uuid, E> {
    Uuid::parse_str(text.trim()).map_err(|_| E::custom(format!("must be a UUID, not '{}'", shown(text))))
}

/// A UUID sent as a string.
pub(crate) fn uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Uuid, D::Error> {
    as_uuid(&string(d)?)
}

/// An optional UUID sent as a string.
pub(crate) fn optional_uuid<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Uuid>, D::Error> {
    uuid(d).map(Some)
}

/// The schema of a UUID argument.
pub(crate) fn uuid_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "format": "uuid"})
}

/// Text of at most [`MAX_TEXT`] characters (the use case may allow fewer).
pub(crate) fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = string(d)?;
    if text.chars().count() > MAX_TEXT {
        return Err(D::Error::custom(format!("is at most {MAX_TEXT} characters")));
    }
    Ok(Some(text))
}

/// Text that must not be blank, of at most [`MAX_TEXT`] characters.
pub(crate) fn required_text<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    match text(d)? {
        Some(s) if !s.trim().is_empty() => Ok(s),
        _ => Err(D::Error::custom("must not be empty")),
    }
}

/// A core enum read from its wire string, with its values for the schema and the message.
pub(crate) trait Choice: Sized {
    /// Every wire string.
    fn names() -> Vec<&'static str>;
    /// Parses a wire string.
    fn parse(text: &str) -> Result<Self, UnknownValue>;
}

macro_rules! choices {
    ($($ty:ty),+) => {$(
        impl Choice for $ty {
            fn names() -> Vec<&'static str> {
                <$ty>::names()
            }
            fn parse(text: &str) -> Result<Self, UnknownValue> {
                <$ty>::parse(text)
            }
        }
    )+};
}
choices!(AlertStatus, CloseClassification, Malice, IndicatorType);

/// One of `T`'s values, else "must be one of: …".
pub(crate) fn choice<'de, D: Deserializer<'de>, T: Choice>(d: D) -> Result<T, D::Error> {
    let text = string(d)?;
    T::parse(&text).map_err(|_| {
        D::Error::custom(format!("must be one of: {}. Got '{}'.", T::names().join(", "), shown(&text)))
    })
}

/// An optional [`choice`].
pub(crate) fn optional_choice<'de, D: Deserializer<'de>, T: Choice>(d: D) -> Result<Option<T>, D::Error> {
    choice(d).map(Some)
}

/// The schema of a [`Choice`]: a string enum of its values.
pub(crate) fn choice_schema<T: Choice>(_: &mut SchemaGenerator) -> Schema {
    json_schema!({"type": "string", "enum": T::names()})
}

/// The schema of an optional [`Choice`] where `null` has a meaning (e.g. "back to the default").
pub(crate) fn nullable_choice_schema<T: Choice>(_: &mut SchemaGenerator) -> Schema {
    let values: Vec<Value> = T::names().into_iter().map(Value::from).chain([Value::Null]).collect();
    json_schema!({"type": ["string", "null"], "enum": values})
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Only reading is tested; the values are not used.
    #[allow(dead_code)]
    #[derive(Debug, Deserialize)]
    struct Sample {
        #[serde(deserialize_with = "uuid")]
        alert_uuid: Uuid,
        #[serde(default, deserialize_with = "text")]
        note: Option<String>,
        #[serde(default, deserialize_with = "optional_choice")]
        status: Option<AlertStatus>,
        #[serde(default)]
        page: Option<u32>,
    }

    fn message(arguments: Value) -> String {
        let Some(map) = arguments.as_object().cloned() else { return String::new() };
        match parse::<Sample>(map) {
            Err(McpFailure::BadArgument(message)) => message,
            other => format!("{other:?}"),
        }
    }

    #[test]
    fn every_failure_names_its_argument() {
        let id = Uuid::nil().to_string();
        assert!(message(json!({"alert_uuid": 42})).contains("alert_uuid must be a string, not a number"));
        assert!(message(json!({"alert_uuid": "nope"})).contains("alert_uuid must be a UUID, not 'nope'"));
        assert!(message(json!({})).contains("alert_uuid is required"));
        let long = "x".repeat(MAX_TEXT + 1);
        assert!(
            message(json!({"alert_uuid": id, "note": long})).contains("note is at most 65536 characters")
        );
        let status = message(json!({"alert_uuid": id, "status": "Done"}));
        assert!(status.contains("status must be one of: Open, Triaging"), "{status}");
        let page = message(json!({"alert_uuid": id, "page": "two"}));
        assert!(page.contains("page must be a whole number, not string"), "{page}");
        let Some(map) = json!({"alert_uuid": id, "note": null}).as_object().cloned() else { return };
        assert!(parse::<Sample>(map).is_ok_and(|s| s.note.is_none()), "null is absent");
    }

    #[test]
    fn unknown_names_are_refused_with_the_allowed_ones() {
        let Some(map) = json!({"alert_uid": "x"}).as_object().cloned() else { return };
        let Err(McpFailure::BadArgument(message)) = refuse_unknown(&map, &["alert_uuid", "page"]) else {
            panic!("accepted")
        };
        assert!(message.contains("alert_uid") && message.contains("Allowed: alert_uuid, page"), "{message}");
    }
}
