//! Malice rules: ordered threshold rules over a provider response, first match wins.

use serde_json::Value;

use super::config::MaliceRules;
use super::response::lookup;

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn matches(actual: &Value, operator: &str, expected: &Value) -> bool {
    if actual.is_null() {
        return false;
    }
    match operator {
        "==" => equal(actual, expected),
        "!=" => !equal(actual, expected),
        ">" | ">=" | "<" | "<=" => match (number(actual), number(expected)) {
            (Some(a), Some(e)) => match operator {
                ">" => a > e,
                ">=" => a >= e,
                "<" => a < e,
                _ => a <= e,
            },
            _ => false,
        },
        "contains" => match actual {
            Value::String(s) => {
                s.contains(&crate::paths::scalar_text(expected).unwrap_or_else(|| expected.to_string()))
            }
            Value::Array(items) => items.iter().any(|i| equal(i, expected)),
            Value::Object(map) => expected.as_str().is_some_and(|k| map.contains_key(k)),
            _ => false,
        },
        "in" => expected.as_array().is_some_and(|options| options.iter().any(|o| equal(o, actual))),
        _ => false,
    }
}

/// The verdict for a response (`found`) or for a not-found answer.
pub fn evaluate(rules: Option<&MaliceRules>, raw: &Value, found: bool) -> String {
    let Some(rules) = rules else { return "Pending".into() };
    if !found {
        return rules.not_found_verdict.clone();
    }
    for rule in &rules.rules {
        if lookup(raw, &rule.field).is_some_and(|actual| matches(actual, &rule.operator, &rule.value)) {
            return rule.verdict.clone().unwrap_or_else(|| rules.default_verdict.clone());
        }
    }
    rules.default_verdict.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn first_matching_rule_wins() {
        let rules: MaliceRules = serde_json::from_value(json!({
            "rules": [
                {"field": "data.stats.malicious", "operator": ">", "value": 0, "verdict": "Malicious"},
                {"field": "data.stats.suspicious", "operator": ">", "value": 0, "verdict": "Suspicious"},
                {"field": "data.tags", "operator": "contains", "value": "tor", "verdict": "Suspicious"},
                {"field": "data.country", "operator": "in", "value": ["KP", "IR"], "verdict": "Suspicious"}
            ],
            "default_verdict": "Benign"
        }))
        .unwrap();
        let v = |raw: Value| evaluate(Some(&rules), &raw, true);
        assert_eq!(v(json!({"data": {"stats": {"malicious": 3, "suspicious": 1}}})), "Malicious");
        assert_eq!(v(json!({"data": {"stats": {"malicious": 0, "suspicious": "2"}}})), "Suspicious");
        assert_eq!(v(json!({"data": {"stats": {"malicious": 0}, "tags": ["tor", "proxy"]}})), "Suspicious");
        assert_eq!(v(json!({"data": {"country": "KP"}})), "Suspicious");
        assert_eq!(v(json!({"data": {"stats": {"malicious": "n/a"}}})), "Benign");
        assert_eq!(evaluate(Some(&rules), &json!({}), false), "Pending");
        assert_eq!(evaluate(None, &json!({}), true), "Pending");
    }
}
