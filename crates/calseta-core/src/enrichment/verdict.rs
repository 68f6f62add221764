//! Malice rules: ordered threshold rules over a provider response, first match wins.

use serde_json::Value;

use super::config::{MaliceRule, MaliceRules};
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
    decide(rules, raw, found).0
}

/// The verdict for a response (`found`) or for a not-found answer, with the rule that decided it:
/// the first matching rule, else the default (or not-found) verdict, else — without rules — none.
pub fn decide(rules: Option<&MaliceRules>, raw: &Value, found: bool) -> (String, DecidingRule) {
    let Some(rules) = rules else { return ("Pending".into(), DecidingRule::NoRules) };
    if !found {
        return (rules.not_found_verdict.clone(), DecidingRule::NotFound);
    }
    for (index, rule) in rules.rules.iter().enumerate() {
        if lookup(raw, &rule.field).is_some_and(|actual| matches(actual, &rule.operator, &rule.value)) {
            let verdict = rule.verdict.clone().unwrap_or_else(|| rules.default_verdict.clone());
            return (verdict, DecidingRule::Rule { index, condition: condition_text(rule) });
        }
    }
    (rules.default_verdict.clone(), DecidingRule::Default)
}

/// A rule's condition as people read it: `data.stats.malicious > 0`.
pub fn condition_text(rule: &MaliceRule) -> String {
    let value = crate::paths::scalar_text(&rule.value).unwrap_or_else(|| rule.value.to_string());
    format!("{} {} {}", rule.field, rule.operator, value)
}

/// Which of a provider's malice rules decided its verdict, as stored beside `extracted.malice`
/// (`malice_rule` in a provider result): `{"index": 0, "condition": "…"}` for a matching rule, or
/// `{"index": null, "condition": "default" | "not found" | "no rules"}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidingRule {
    /// The rule at `index` (0-based, in the provider's order) matched first.
    Rule {
        /// Its position among the provider's rules.
        index: usize,
        /// Its condition, readable.
        condition: String,
    },
    /// No rule matched: the default verdict.
    Default,
    /// The provider answered "not found": the not-found verdict.
    NotFound,
    /// The provider has no malice rules.
    NoRules,
}

impl DecidingRule {
    /// The stored form.
    pub fn to_json(&self) -> Value {
        match self {
            DecidingRule::Rule { index, condition } => {
                serde_json::json!({"index": index, "condition": condition})
            }
            DecidingRule::Default => serde_json::json!({"index": null, "condition": "default"}),
            DecidingRule::NotFound => serde_json::json!({"index": null, "condition": "not found"}),
            DecidingRule::NoRules => serde_json::json!({"index": null, "condition": "no rules"}),
        }
    }

    /// Reads the stored form (anything unreadable reads as `None`).
    pub fn from_json(value: &Value) -> Option<Self> {
        let condition = value.get("condition")?.as_str()?;
        match value.get("index").and_then(Value::as_u64) {
            Some(index) => Some(DecidingRule::Rule {
                index: usize::try_from(index).ok()?,
                condition: condition.to_string(),
            }),
            None => match condition {
                "default" => Some(DecidingRule::Default),
                "not found" => Some(DecidingRule::NotFound),
                "no rules" => Some(DecidingRule::NoRules),
                _ => None,
            },
        }
    }

    /// How the page names it: `rule 1: data.stats.malicious > 0` (1-based), `default verdict`, …
    pub fn describe(&self) -> String {
        match self {
            DecidingRule::Rule { index, condition } => format!("rule {}: {condition}", index + 1),
            DecidingRule::Default => "default verdict (no rule matched)".into(),
            DecidingRule::NotFound => "not-found verdict".into(),
            DecidingRule::NoRules => "no malice rules".into(),
        }
    }
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

    #[test]
    fn the_deciding_rule_is_named() {
        let rules: MaliceRules = serde_json::from_value(json!({
            "rules": [
                {"field": "score", "operator": ">=", "value": 80, "verdict": "Malicious"},
                {"field": "tags", "operator": "contains", "value": "tor", "verdict": "Suspicious"}
            ],
            "default_verdict": "Benign"
        }))
        .unwrap();
        let (verdict, rule) = decide(Some(&rules), &json!({"score": 10, "tags": ["tor"]}), true);
        assert_eq!(verdict, "Suspicious");
        assert_eq!(rule, DecidingRule::Rule { index: 1, condition: "tags contains tor".into() });
        assert_eq!(rule.describe(), "rule 2: tags contains tor");
        assert_eq!(DecidingRule::from_json(&rule.to_json()), Some(rule));
        let (verdict, rule) = decide(Some(&rules), &json!({"score": 1}), true);
        assert_eq!((verdict.as_str(), &rule), ("Benign", &DecidingRule::Default));
        assert_eq!(DecidingRule::from_json(&rule.to_json()), Some(DecidingRule::Default));
        assert_eq!(decide(Some(&rules), &json!({}), false).1, DecidingRule::NotFound);
        assert_eq!(decide(None, &json!({}), true).1, DecidingRule::NoRules);
        assert_eq!(DecidingRule::from_json(&json!("junk")), None);
    }
}
