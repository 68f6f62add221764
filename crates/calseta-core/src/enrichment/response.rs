//! Reading provider responses: dotted paths with list indices, and typed field extraction.

use serde_json::{Map, Value};

use super::config::FieldExtraction;

/// The value at a dotted `path` (numeric segments index lists).
pub fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = root;
    for segment in path.split('.').filter(|s| !s.is_empty()) {
        node = match node {
            Value::Object(map) => map.get(segment)?,
            Value::Array(items) => items.get(segment.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    Some(node)
}

fn truthy(value: &Value) -> bool {
    crate::paths::truthy(Some(value))
}

/// Coerces a value to an extraction's `value_type`; `None` when it cannot be.
pub fn coerce(value: &Value, value_type: &str) -> Option<Value> {
    if value.is_null() {
        return None;
    }
    match value_type {
        "string" => Some(Value::String(match value {
            Value::String(s) => s.clone(),
            other => crate::paths::scalar_text(other).unwrap_or_else(|| other.to_string()),
        })),
        "int" => match value {
            Value::Number(n) => n
                .as_i64()
                .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f.trunc() as i64))
                .map(Value::from),
            Value::String(s) => s.trim().parse::<i64>().ok().map(Value::from),
            Value::Bool(b) => Some(Value::from(i64::from(*b))),
            _ => None,
        },
        "float" => match value {
            Value::Number(n) => n.as_f64().map(Value::from),
            Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite()).map(Value::from),
            Value::Bool(b) => Some(Value::from(if *b { 1.0 } else { 0.0 })),
            _ => None,
        },
        "bool" => Some(Value::Bool(match value {
            Value::String(s) => matches!(s.trim().to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
            other => truthy(other),
        })),
        _ => Some(value.clone()),
    }
}

/// Applies the extractions of `indicator_type` to a response.
pub fn extract_fields(
    raw: &Value,
    extractions: &[FieldExtraction],
    indicator_type: &str,
) -> Map<String, Value> {
    let mut out = Map::new();
    for rule in extractions.iter().filter(|e| e.indicator_type == indicator_type) {
        if let Some(value) = lookup(raw, &rule.source_path).and_then(|v| coerce(v, &rule.value_type)) {
            out.insert(rule.target_key.clone(), value);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rule(kind: &str, path: &str, key: &str, ty: &str) -> FieldExtraction {
        FieldExtraction {
            indicator_type: kind.into(),
            source_path: path.into(),
            target_key: key.into(),
            value_type: ty.into(),
        }
    }

    #[test]
    fn extracts_and_coerces_only_for_the_type() {
        let raw = json!({"data": {"stats": {"malicious": "14", "ratio": 0.5}, "tags": ["tor"], "tor": "Yes", "none": null}, "devices": [{"os": "macOS"}]});
        let rules = [
            rule("ip", "data.stats.malicious", "malicious_count", "int"),
            rule("ip", "data.stats.ratio", "ratio", "float"),
            rule("ip", "data.tags", "tags", "list"),
            rule("ip", "data.tor", "is_tor", "bool"),
            rule("ip", "data.none", "gone", "string"),
            rule("ip", "data.stats.ratio", "ratio_text", "string"),
            rule("ip", "devices.0.os", "os", "string"),
            rule("domain", "data.tags", "domain_only", "list"),
            rule("ip", "data.tags", "bad_int", "int"),
        ];
        let out = extract_fields(&raw, &rules, "ip");
        assert_eq!(
            Value::Object(out),
            json!({"malicious_count": 14, "ratio": 0.5, "tags": ["tor"], "is_tor": true, "ratio_text": "0.5", "os": "macOS"})
        );
    }
}
