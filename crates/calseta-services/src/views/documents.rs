//! Context documents as the API, MCP and agents see them.

use calseta_store::context_documents::DocumentRow;
use serde_json::{Map, Value, json};

/// A context document as the API and agents see it (`with_content` for full views).
pub fn document_view(row: &DocumentRow, with_content: bool) -> Value {
    let mut view: Map<String, Value> = serde_json::from_value(json!({
        "uuid": row.uuid, "title": row.title, "document_type": row.document_type, "is_global": row.is_global,
        "description": row.description, "tags": row.tags.0, "version": row.version,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }))
    .unwrap_or_default();
    if with_content {
        view.insert("content".into(), Value::String(row.content.clone()));
        view.insert(
            "targeting_rules".into(),
            row.targeting_rules.as_ref().map(|j| j.0.clone()).unwrap_or(Value::Null),
        );
    }
    Value::Object(view)
}
