//! The shapes of list parameters that their Rust types cannot say (choices, comma lists, times
//! in two forms), built once per kind for OpenAPI (`utoipa`) and for JSON Schema (`schemars`,
//! MCP tool inputs). OpenAPI describes the query string (a list is a repeatable key, which may
//! also hold a comma-separated string); JSON Schema describes a tool's JSON arguments (a list is
//! an array or one comma-separated string).

use serde_json::{Map, Value, json};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type,
};

/// The most values a list parameter takes.
pub const MAX_LIST: usize = 50;

fn object(value: Value) -> schemars::Schema {
    match value {
        Value::Object(map) => schemars::Schema::from(map),
        _ => schemars::Schema::from(Map::new()),
    }
}

/// A string that is one of `names`.
pub fn choice(names: &[&str], default: Option<&str>, description: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names.iter().copied()))
        .default(default.map(Value::from))
        .description(Some(description))
        .into()
}

/// JSON Schema twin of [`choice`].
pub fn json_choice(names: &[&str], default: Option<&str>, description: &str) -> schemars::Schema {
    let mut schema = json!({"type": "string", "enum": names, "description": description});
    if let (Some(default), Some(map)) = (default, schema.as_object_mut()) {
        map.insert("default".into(), Value::from(default));
    }
    object(schema)
}

/// A list of strings (each one of `names` when given): repeat the key or separate with commas.
pub fn list(names: Option<&[&str]>, description: &str) -> RefOr<Schema> {
    let mut item = ObjectBuilder::new().schema_type(Type::String);
    item = match names {
        Some(names) => item.enum_values(Some(names.iter().copied())),
        None => item.max_length(Some(255)),
    };
    ArrayBuilder::new().items(item).max_items(Some(MAX_LIST)).description(Some(description)).into()
}

/// JSON Schema twin of [`list`]: an array, or one comma-separated string.
pub fn json_list(names: Option<&[&str]>, description: &str) -> schemars::Schema {
    let item = match names {
        Some(names) => json!({"type": "string", "enum": names}),
        None => json!({"type": "string", "maxLength": 255}),
    };
    object(json!({
        "description": description,
        "anyOf": [
            {"type": "array", "items": item, "maxItems": MAX_LIST},
            {"type": "string", "description": "Comma-separated values."},
        ],
    }))
}

/// A time: ISO 8601 text or epoch seconds (milliseconds when larger).
pub fn timestamp() -> RefOr<Schema> {
    AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .minimum(Some(0.0))
                .maximum(Some(calseta_core::time::LATEST_EPOCH_MILLIS)),
        )
        .into()
}

/// JSON Schema twin of [`timestamp`].
pub fn json_timestamp(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({
        "description": "ISO 8601 time (e.g. 2026-01-31T12:00:00Z) or epoch seconds.",
        "anyOf": [
            {"type": "string", "format": "date-time"},
            {"type": "number", "minimum": 0, "maximum": calseta_core::time::LATEST_EPOCH_MILLIS},
        ],
    }))
}

/// JSON Schema of a boolean (JSON `true`/`false`; text forms are accepted too).
pub fn json_boolean(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({"type": "boolean"}))
}

/// JSON Schema of a UUID.
pub fn json_uuid(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({"type": "string", "format": "uuid"}))
}

/// JSON Schema of free text.
pub fn json_text(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({"type": "string"}))
}

/// JSON Schema of `page` (from 1).
pub fn json_page(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({"type": "integer", "minimum": 1, "default": 1, "description": "Page number, from 1."}))
}

/// JSON Schema of a tool's `page_size` (sizes past the surface's largest are cut down).
pub fn json_page_size(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    object(json!({"type": "integer", "minimum": 1, "description": "Items per page."}))
}
