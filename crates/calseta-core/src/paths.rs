//! Dotted-path lookup into JSON that resolves any mix of flat dotted keys and nested objects
//! (`{"kibana.alert.rule": {"name": …}}` answers `kibana.alert.rule.name`), and expands arrays
//! where a segment ends in `[]` (`a.b[].c`).

use serde_json::Value;

#[derive(Debug)]
struct Segment<'p> {
    name: &'p str,
    expand: bool,
}

fn segments(path: &str) -> Vec<Segment<'_>> {
    path.split('.')
        .map(|s| match s.strip_suffix("[]") {
            Some(name) => Segment { name, expand: true },
            None => Segment { name: s, expand: false },
        })
        .collect()
}

/// Every value at `path`, flat keys before nested ones.
pub fn resolve_all<'a>(root: &'a Value, path: &str) -> Vec<&'a Value> {
    let segs = segments(path);
    let mut out = Vec::new();
    if !segs.is_empty() && segs.iter().all(|s| !s.name.is_empty()) {
        walk(root, &segs, 0, &mut out);
    }
    out
}

fn walk<'a>(node: &'a Value, segs: &[Segment<'_>], at: usize, out: &mut Vec<&'a Value>) {
    if at == segs.len() {
        out.push(node);
        return;
    }
    let Value::Object(map) = node else { return };
    // Longest key first, so an exact flat key wins over nested objects.
    for end in (at + 1..=segs.len()).rev() {
        // A `[]` marker can only close a key, never sit inside a dotted one.
        if segs[at..end - 1].iter().any(|s| s.expand) {
            continue;
        }
        let key = segs[at..end].iter().map(|s| s.name).collect::<Vec<_>>().join(".");
        let Some(child) = map.get(&key) else { continue };
        if segs[end - 1].expand {
            if let Value::Array(items) = child {
                for item in items {
                    walk(item, segs, end, out);
                }
            }
        } else {
            walk(child, segs, end, out);
        }
    }
}

/// The first non-null value at `path`.
pub fn first<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    resolve_all(root, path).into_iter().find(|v| !v.is_null())
}

/// A scalar as text: strings as-is, numbers and booleans printed; anything else is `None`.
pub fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The first value at `path` as non-blank text (strings, numbers, booleans).
pub fn text(root: &Value, path: &str) -> Option<String> {
    resolve_all(root, path).into_iter().filter_map(scalar_text).find(|s| !s.trim().is_empty())
}

/// Python-style truthiness, as v1's validators use it.
pub fn truthy(value: Option<&Value>) -> bool {
    match value {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flat_nested_and_mixed_keys() {
        let doc = json!({
            "kibana.alert.rule.name": "flat",
            "kibana.alert.rule": {"severity": "high"},
            "kibana": {"alert": {"rule": {"uuid": "nested"}}},
            "source": {"geo.city_name": "Frankfurt am Main", "ip": "185.220.101.47"},
        });
        assert_eq!(first(&doc, "kibana.alert.rule.name"), Some(&json!("flat")));
        assert_eq!(first(&doc, "kibana.alert.rule.severity"), Some(&json!("high")));
        assert_eq!(first(&doc, "kibana.alert.rule.uuid"), Some(&json!("nested")));
        assert_eq!(first(&doc, "source.geo.city_name"), Some(&json!("Frankfurt am Main")));
        assert_eq!(first(&doc, "source.ip"), Some(&json!("185.220.101.47")));
        assert_eq!(first(&doc, "source.port"), None);
    }

    #[test]
    fn arrays_expand_only_where_asked() {
        let doc = json!({"a": {"b": [{"c": "1"}, {"c": "2"}, {"d": "3"}]}, "list": ["x", "y"]});
        assert_eq!(resolve_all(&doc, "a.b[].c"), vec![&json!("1"), &json!("2")]);
        assert!(resolve_all(&doc, "a.b.c").is_empty());
        assert_eq!(resolve_all(&doc, "list"), vec![&json!(["x", "y"])]);
        assert!(resolve_all(&doc, "").is_empty());
        assert!(resolve_all(&doc, "a..b").is_empty());
    }

    #[test]
    fn scalars_and_truthiness() {
        let doc = json!({"n": 73, "s": "  ", "t": "x"});
        assert_eq!(text(&doc, "n").as_deref(), Some("73"));
        assert_eq!(text(&doc, "s"), None);
        assert!(truthy(Some(&json!("x"))) && !truthy(Some(&json!(""))) && !truthy(Some(&json!(0))));
    }
}
