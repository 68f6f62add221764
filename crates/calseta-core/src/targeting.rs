//! Targeting rules: which alerts a context document (or an agent's `trigger_filter`) applies to.
//!
//! `{"match_any": [Rule…], "match_all": [Rule…]}` with `Rule = {field, op, value}`, fields
//! `source_name`, `severity`, `tags`, `detection_rule`, ops `eq`, `in`, `contains`, `gte`, `lte`.
//! Beyond v1: `gte`/`lte` on severity compare by severity rank, `eq`/`contains` on tags mean "the
//! tags contain the value" (DESIGN §9.7), and `detection_rule` (the name of the alert's linked
//! detection rule) is a field v1 did not have: `eq`/`in` compare exactly, `contains` is a
//! case-insensitive substring (so "all Okta rules" is one condition), and an alert without a rule
//! never satisfies a condition on it.

use serde_json::Value;

use crate::alerts::Severity;

/// The alert fields a rule can test.
pub const FIELDS: [&str; 4] = ["source_name", "severity", "tags", "detection_rule"];
/// The comparison operators.
pub const OPS: [&str; 5] = ["eq", "in", "contains", "gte", "lte"];
/// The operators `detection_rule` accepts: a rule name has no order, so `gte`/`lte` are refused
/// (the v1 fields keep accepting every operator, as v1 did).
pub const DETECTION_RULE_OPS: [&str; 3] = ["eq", "in", "contains"];

/// Every problem with a targeting-rules document (empty = valid).
pub fn validate(rules: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    let Some(map) = rules.as_object() else {
        return vec!["targeting_rules must be an object".into()];
    };
    for key in map.keys() {
        if key != "match_any" && key != "match_all" {
            problems.push(format!("unknown key '{key}' (allowed: match_any, match_all)"));
        }
    }
    if !map.contains_key("match_any") && !map.contains_key("match_all") {
        problems.push("targeting_rules needs match_any or match_all".into());
    }
    for key in ["match_any", "match_all"] {
        let Some(list) = map.get(key) else { continue };
        let Some(items) = list.as_array() else {
            problems.push(format!("{key} must be a list of rules"));
            continue;
        };
        for (i, rule) in items.iter().enumerate() {
            let Some(rule) = rule.as_object() else {
                problems.push(format!("{key}[{i}] must be an object"));
                continue;
            };
            for required in ["field", "op", "value"] {
                if !rule.contains_key(required) {
                    problems.push(format!("{key}[{i}] is missing '{required}'"));
                }
            }
            if let Some(field) = rule.get("field")
                && !field.as_str().is_some_and(|f| FIELDS.contains(&f))
            {
                problems.push(format!("{key}[{i}].field must be one of {}", FIELDS.join(", ")));
            }
            if let Some(op) = rule.get("op")
                && !op.as_str().is_some_and(|o| OPS.contains(&o))
            {
                problems.push(format!("{key}[{i}].op must be one of {}", OPS.join(", ")));
            } else if rule.get("field").and_then(Value::as_str) == Some("detection_rule")
                && let Some(op) = rule.get("op").and_then(Value::as_str)
                && !DETECTION_RULE_OPS.contains(&op)
            {
                problems.push(format!(
                    "{key}[{i}].op must be one of {} for field detection_rule",
                    DETECTION_RULE_OPS.join(", ")
                ));
            }
            if rule.get("op").and_then(Value::as_str) == Some("in")
                && !rule.get("value").is_some_and(Value::is_array)
            {
                problems.push(format!("{key}[{i}].value must be a list for op 'in'"));
            }
        }
    }
    problems
}

/// The alert fields rules can test.
#[derive(Debug, Clone, Copy)]
pub struct AlertFacts<'a> {
    pub source_name: &'a str,
    pub severity: &'a str,
    pub tags: &'a [String],
    /// The name of the alert's linked detection rule; `None` when it has none.
    pub detection_rule: Option<&'a str>,
}

fn text(value: &Value) -> String {
    crate::paths::scalar_text(value).unwrap_or_else(|| value.to_string())
}

fn rank(text: &str) -> Option<i32> {
    Severity::ALL.iter().find(|s| s.as_str().eq_ignore_ascii_case(text)).map(|s| s.rank())
}

fn rule_holds(rule: &Value, facts: &AlertFacts<'_>) -> bool {
    let (Some(field), Some(op)) = (rule["field"].as_str(), rule["op"].as_str()) else { return false };
    let value = &rule["value"];
    match field {
        "tags" => match op {
            "eq" | "contains" => facts.tags.iter().any(|t| *t == text(value)),
            "in" => value
                .as_array()
                .is_some_and(|options| options.iter().any(|o| facts.tags.iter().any(|t| *t == text(o)))),
            _ => false,
        },
        "detection_rule" => {
            // No rule: no condition on the rule's name holds (not even a negative-looking one).
            let Some(actual) = facts.detection_rule else { return false };
            match op {
                "eq" => actual == text(value),
                "in" => value.as_array().is_some_and(|options| options.iter().any(|o| text(o) == actual)),
                "contains" => {
                    let needle = text(value).to_lowercase();
                    !needle.is_empty() && actual.to_lowercase().contains(&needle)
                }
                _ => false,
            }
        }
        "source_name" | "severity" => {
            let actual = if field == "severity" { facts.severity } else { facts.source_name };
            match op {
                "eq" => actual == text(value),
                "in" => value.as_array().is_some_and(|options| options.iter().any(|o| text(o) == actual)),
                "gte" | "lte" if field == "severity" => match (rank(actual), rank(&text(value))) {
                    (Some(a), Some(v)) => {
                        if op == "gte" {
                            a >= v
                        } else {
                            a <= v
                        }
                    }
                    _ => false,
                },
                _ => false,
            }
        }
        _ => false,
    }
}

/// Whether rules select an alert: `null`, `{}` or empty lists select every alert; `match_any`
/// needs one rule, `match_all` every rule, both when both are present.
pub fn matches(rules: Option<&Value>, facts: &AlertFacts<'_>) -> bool {
    let Some(Value::Object(map)) = rules else { return true };
    let any = map.get("match_any").and_then(Value::as_array).filter(|l| !l.is_empty());
    let all = map.get("match_all").and_then(Value::as_array).filter(|l| !l.is_empty());
    any.is_none_or(|rules| rules.iter().any(|r| rule_holds(r, facts)))
        && all.is_none_or(|rules| rules.iter().all(|r| rule_holds(r, facts)))
}

/// One rule as a person reads it, e.g. `severity gte High` or `tags in [vip, finance]`.
fn describe(rule: &Value) -> String {
    let field = rule["field"].as_str().unwrap_or("?");
    let op = rule["op"].as_str().unwrap_or("?");
    let value = match &rule["value"] {
        Value::Array(items) => format!("[{}]", items.iter().map(text).collect::<Vec<_>>().join(", ")),
        other => text(other),
    };
    format!("{field} {op} {value}")
}

/// Why rules select an alert, clause by clause: the `match_any` rules that hold (`any of: …`) and
/// the `match_all` rules (`all of: …`); "no targeting rules (every alert)" when there are none.
/// Empty when the rules do not select the alert.
pub fn matched_clauses(rules: Option<&Value>, facts: &AlertFacts<'_>) -> Vec<String> {
    if !matches(rules, facts) {
        return Vec::new();
    }
    let Some(Value::Object(map)) = rules else { return vec!["no targeting rules (every alert)".into()] };
    let list = |key: &str| map.get(key).and_then(Value::as_array).filter(|l| !l.is_empty()).cloned();
    let mut clauses = Vec::new();
    if let Some(any) = list("match_any") {
        let held: Vec<String> = any.iter().filter(|r| rule_holds(r, facts)).map(describe).collect();
        clauses.push(format!("any of: {}", held.join("; ")));
    }
    if let Some(all) = list("match_all") {
        clauses.push(format!("all of: {}", all.iter().map(describe).collect::<Vec<_>>().join("; ")));
    }
    if clauses.is_empty() {
        clauses.push("no targeting rules (every alert)".into());
    }
    clauses
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validation_lists_every_problem() {
        assert!(
            validate(&json!({"match_any": [{"field": "severity", "op": "in", "value": ["High"]}]}))
                .is_empty()
        );
        let problems =
            validate(&json!({"match_none": [], "match_all": [{"field": "title", "op": "like"}, 3]}));
        assert_eq!(problems.len(), 5, "{problems:?}");
        assert_eq!(validate(&json!({})), vec!["targeting_rules needs match_any or match_all".to_string()]);
        assert!(
            !validate(&json!({"match_any": [{"field": "severity", "op": "in", "value": "High"}]})).is_empty()
        );
    }

    #[test]
    fn evaluates_with_severity_rank_and_tag_containment() {
        let tags = vec!["IdentityThreat".to_string(), "TOR".to_string()];
        let facts =
            AlertFacts { source_name: "elastic", severity: "High", tags: &tags, detection_rule: None };
        let m = |rules: Value| matches(Some(&rules), &facts);
        assert!(m(json!({"match_any": [{"field": "severity", "op": "in", "value": ["High", "Critical"]}]})));
        assert!(m(
            json!({"match_all": [{"field": "severity", "op": "gte", "value": "Medium"}, {"field": "tags", "op": "eq", "value": "TOR"}]})
        ));
        assert!(!m(json!({"match_all": [{"field": "severity", "op": "gte", "value": "Critical"}]})));
        assert!(m(json!({"match_all": [{"field": "severity", "op": "lte", "value": "high"}]})));
        assert!(!m(json!({"match_any": [{"field": "source_name", "op": "eq", "value": "sentinel"}]})));
        assert!(m(
            json!({"match_any": [{"field": "source_name", "op": "eq", "value": "sentinel"}, {"field": "tags", "op": "contains", "value": "IdentityThreat"}]})
        ));
        assert!(
            !m(json!({"match_any": [{"field": "tags", "op": "contains", "value": "identitythreat"}]})),
            "exact match"
        );
        assert!(matches(None, &facts) && m(json!({})) && m(json!({"match_any": []})));
        assert!(!m(json!({"match_any": [{"field": "severity", "op": "gte", "value": 3}]})));
    }

    #[test]
    fn matched_clauses_name_the_rules_that_selected_the_alert() {
        let tags = vec!["vip".to_string()];
        let facts =
            AlertFacts { source_name: "sentinel", severity: "High", tags: &tags, detection_rule: None };
        let rules = json!({
            "match_any": [{"field": "source_name", "op": "eq", "value": "elastic"},
                          {"field": "tags", "op": "in", "value": ["vip", "finance"]}],
            "match_all": [{"field": "severity", "op": "gte", "value": "Medium"}]
        });
        assert_eq!(
            matched_clauses(Some(&rules), &facts),
            vec!["any of: tags in [vip, finance]".to_string(), "all of: severity gte Medium".to_string()]
        );
        assert_eq!(matched_clauses(None, &facts), vec!["no targeting rules (every alert)".to_string()]);
        let low = AlertFacts { severity: "Low", ..facts };
        assert!(matched_clauses(Some(&rules), &low).is_empty(), "rules that do not select give no clause");
    }

    #[test]
    fn validation_accepts_detection_rule_with_its_operators_only() {
        for op in ["eq", "contains"] {
            let rules = json!({"match_any": [{"field": "detection_rule", "op": op, "value": "Okta"}]});
            assert!(validate(&rules).is_empty(), "{op}");
        }
        assert!(
            validate(&json!({"match_all": [{"field": "detection_rule", "op": "in", "value": ["A", "B"]}]}))
                .is_empty()
        );
        assert_eq!(
            validate(&json!({"match_all": [{"field": "detection_rule", "op": "gte", "value": "Okta"}]})),
            vec!["match_all[0].op must be one of eq, in, contains for field detection_rule".to_string()]
        );
        assert_eq!(
            validate(&json!({"match_any": [{"field": "detection_rule", "op": "like", "value": "Okta"}]})),
            vec!["match_any[0].op must be one of eq, in, contains, gte, lte".to_string()],
            "an operator unknown everywhere gets the general message only"
        );
        assert!(
            validate(&json!({"match_any": [{"field": "source_name", "op": "gte", "value": "x"}]})).is_empty(),
            "the v1 fields keep accepting every operator"
        );
    }

    #[test]
    fn detection_rule_conditions_match_the_rule_name() {
        let tags: Vec<String> = Vec::new();
        let facts = AlertFacts {
            source_name: "generic",
            severity: "High",
            tags: &tags,
            detection_rule: Some("Okta - Impossible Travel"),
        };
        let m = |op: &str, value: Value| {
            matches(
                Some(&json!({"match_any": [{"field": "detection_rule", "op": op, "value": value}]})),
                &facts,
            )
        };
        assert!(m("eq", json!("Okta - Impossible Travel")));
        assert!(!m("eq", json!("okta - impossible travel")), "eq is exact");
        assert!(!m("eq", json!("Okta")));
        assert!(m("in", json!(["Other", "Okta - Impossible Travel"])));
        assert!(!m("in", json!(["Other", "Okta"])));
        assert!(m("contains", json!("Okta")));
        assert!(m("contains", json!("okta")), "contains ignores case");
        assert!(m("contains", json!("IMPOSSIBLE travel")));
        assert!(!m("contains", json!("Azure")));
        assert!(!m("contains", json!("")), "an empty substring selects nothing");
        assert!(!m("gte", json!("A")));
        assert_eq!(
            matched_clauses(
                Some(&json!({"match_any": [{"field": "detection_rule", "op": "contains", "value": "Okta"}]})),
                &facts
            ),
            vec!["any of: detection_rule contains Okta".to_string()]
        );

        let ruleless = AlertFacts { detection_rule: None, ..facts };
        for (op, value) in [("eq", json!("")), ("in", json!([""])), ("contains", json!("Okta"))] {
            let rules = json!({"match_any": [{"field": "detection_rule", "op": op, "value": value}]});
            assert!(!matches(Some(&rules), &ruleless), "an alert without a rule never matches {op}");
        }
        // Existing fields are unaffected by the rule name.
        let both = json!({"match_all": [{"field": "severity", "op": "gte", "value": "High"},
                                        {"field": "detection_rule", "op": "contains", "value": "okta"}]});
        assert!(matches(Some(&both), &facts));
        assert!(!matches(Some(&both), &AlertFacts { severity: "Low", ..facts }));
        assert!(matches(
            Some(&json!({"match_any": [{"field": "source_name", "op": "eq", "value": "generic"}]})),
            &ruleless
        ));
    }
}
