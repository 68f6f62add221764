//! The provider builder's form: a provider as the rows a person edits (its HTTP steps, its malice
//! rules in order, its limits and credentials), read from the plain POST of `/providers/new` and
//! `/providers/{uuid}` — repeated rows share a field name and are matched by position, so the
//! form works without JavaScript — and turned into the JSON body REST's `POST` and `PATCH
//! /v1/enrichment-providers` take. Only the form's own syntax is checked here (a header line
//! without `:`, a body that is not JSON); everything about the provider is the service's to refuse.

use calseta_core::indicators::IndicatorType;
use calseta_services::records::ProviderRow;
use serde_json::{Map, Value, json};

use super::forms::FormErrors;

/// The HTTP methods a step may use (the service refuses any other).
pub const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
/// The operators of a malice rule.
pub const OPERATORS: [&str; 8] = ["==", "!=", ">", ">=", "<", "<=", "contains", "in"];
/// The verdicts a rule gives.
pub const VERDICTS: [&str; 4] = ["Malicious", "Suspicious", "Benign", "Pending"];

/// One HTTP step as its form row.
#[derive(Debug, Clone, Default)]
pub struct StepDraft {
    /// The step's name (`steps.<name>.response…` in later steps).
    pub name: String,
    /// HTTP method.
    pub method: String,
    /// URL template.
    pub url: String,
    /// `Name: value` per line.
    pub headers: String,
    /// JSON body, or empty for none.
    pub body: String,
    /// Timeout in seconds.
    pub timeout: String,
    /// Expected statuses, comma-separated.
    pub expected_status: String,
    /// Not-found statuses, comma-separated.
    pub not_found_status: String,
    /// The step's other keys (query parameters, form body, `optional`) as JSON, kept as they were.
    pub extra: String,
}

/// One malice rule as its form row.
#[derive(Debug, Clone, Default)]
pub struct RuleDraft {
    /// Dotted path into the response.
    pub field: String,
    /// One of [`OPERATORS`].
    pub operator: String,
    /// The value compared with, read as JSON when it is JSON, else as text.
    pub value: String,
    /// One of [`VERDICTS`].
    pub verdict: String,
}

/// A provider as its form holds it: text as typed, so a refused form comes back as it was sent.
#[derive(Debug, Clone, Default)]
pub struct ProviderDraft {
    /// Unique name (only when creating).
    pub provider_name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Notes.
    pub description: String,
    /// Indicator types looked up.
    pub types: Vec<String>,
    /// `no_auth`, `api_key`, …
    pub auth_type: String,
    /// New credentials, `name: value` per line (write-only: never filled in from storage).
    pub credentials: String,
    /// Remove the stored credentials.
    pub clear_credentials: bool,
    /// Default cache lifetime in seconds.
    pub ttl: String,
    /// Calls per minute, empty for no limit.
    pub rate_limit: String,
    /// Calls at once per process.
    pub concurrency: String,
    /// May call private addresses.
    pub allow_private_network: bool,
    /// `host` or `host:port`, one per line.
    pub private_hosts: String,
    /// `url_templates_by_type` as JSON, kept as it was (no field of its own).
    pub url_templates: String,
    /// The HTTP steps in order.
    pub steps: Vec<StepDraft>,
    /// The malice rules in order (first match wins).
    pub rules: Vec<RuleDraft>,
    /// Verdict when no rule matches.
    pub default_verdict: String,
    /// Verdict of a not-found answer.
    pub not_found_verdict: String,
}

/// What a builder button asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Save the provider.
    Save,
    /// One more empty step row.
    AddStep,
    /// Drop step N.
    RemoveStep(usize),
    /// One more empty rule row.
    AddRule,
    /// Drop rule N.
    RemoveRule(usize),
    /// Move rule N one up (earlier: checked first).
    RuleUp(usize),
    /// Move rule N one down.
    RuleDown(usize),
}

impl Action {
    fn parse(text: &str) -> Action {
        let (verb, index) = match text.split_once(':') {
            Some((verb, n)) => (verb, n.parse::<usize>().ok()),
            None => (text, None),
        };
        match (verb, index) {
            ("add_step", _) => Action::AddStep,
            ("add_rule", _) => Action::AddRule,
            ("remove_step", Some(n)) => Action::RemoveStep(n),
            ("remove_rule", Some(n)) => Action::RemoveRule(n),
            ("rule_up", Some(n)) => Action::RuleUp(n),
            ("rule_down", Some(n)) => Action::RuleDown(n),
            _ => Action::Save,
        }
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn statuses_text(value: Option<&Value>) -> String {
    value
        .and_then(Value::as_array)
        .map(|list| list.iter().map(text_of).collect::<Vec<_>>().join(", "))
        .unwrap_or_default()
}

/// A rule's value as its field shows it: text as itself unless it would read back as something
/// else (`"40"` the text stays quoted), anything else as JSON.
fn value_text(value: &Value) -> String {
    match value {
        Value::String(s) if serde_json::from_str::<Value>(s).is_err() => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

impl StepDraft {
    fn empty() -> Self {
        StepDraft {
            method: "GET".into(),
            timeout: "30".into(),
            expected_status: "200".into(),
            ..StepDraft::default()
        }
    }

    fn of(step: &Value) -> Self {
        let mut extra = step.as_object().cloned().unwrap_or_default();
        for known in [
            "name",
            "method",
            "url",
            "headers",
            "json_body",
            "timeout_seconds",
            "expected_status",
            "not_found_status",
        ] {
            extra.remove(known);
        }
        StepDraft {
            name: step.get("name").map(text_of).unwrap_or_default(),
            method: step.get("method").map(text_of).unwrap_or_else(|| "GET".into()).to_uppercase(),
            url: step.get("url").map(text_of).unwrap_or_default(),
            headers: step
                .get("headers")
                .and_then(Value::as_object)
                .map(|h| h.iter().map(|(k, v)| format!("{k}: {}", text_of(v))).collect::<Vec<_>>().join("\n"))
                .unwrap_or_default(),
            body: step
                .get("json_body")
                .filter(|b| !b.is_null())
                .map(|b| serde_json::to_string_pretty(b).unwrap_or_default())
                .unwrap_or_default(),
            timeout: step.get("timeout_seconds").map(text_of).unwrap_or_else(|| "30".into()),
            expected_status: match step.get("expected_status") {
                Some(v) => statuses_text(Some(v)),
                None => "200".into(),
            },
            not_found_status: statuses_text(step.get("not_found_status")),
            extra: if extra.is_empty() { String::new() } else { Value::Object(extra).to_string() },
        }
    }
}

impl ProviderDraft {
    /// The form for a new provider: one empty step, one empty rule, Benign by default.
    pub fn new_provider() -> Self {
        ProviderDraft {
            types: vec!["ip".into()],
            auth_type: "no_auth".into(),
            ttl: "3600".into(),
            concurrency: "4".into(),
            steps: vec![StepDraft::empty()],
            rules: vec![RuleDraft {
                operator: "==".into(),
                verdict: "Malicious".into(),
                ..RuleDraft::default()
            }],
            default_verdict: "Benign".into(),
            not_found_verdict: "Pending".into(),
            ..ProviderDraft::default()
        }
    }

    /// The form of a stored provider (its credentials are never filled in).
    pub fn of(row: &ProviderRow) -> Self {
        let config = &row.http_config.0;
        let rules = row.malice_rules.as_ref().map(|r| r.0.clone()).unwrap_or(Value::Null);
        ProviderDraft {
            provider_name: row.provider_name.clone(),
            display_name: row.display_name.clone(),
            description: row.description.clone().unwrap_or_default(),
            types: row.supported_indicator_types.0.clone(),
            auth_type: row.auth_type.clone(),
            credentials: String::new(),
            clear_credentials: false,
            ttl: row.default_cache_ttl_seconds.to_string(),
            rate_limit: row.rate_limit_per_minute.map(|r| r.to_string()).unwrap_or_default(),
            concurrency: row.max_concurrency.to_string(),
            allow_private_network: row.allow_private_network,
            private_hosts: row.private_network_hosts.0.join("\n"),
            url_templates: config
                .get("url_templates_by_type")
                .filter(|t| t.as_object().is_some_and(|t| !t.is_empty()))
                .map(Value::to_string)
                .unwrap_or_default(),
            steps: config
                .get("steps")
                .and_then(Value::as_array)
                .map(|steps| steps.iter().map(StepDraft::of).collect())
                .unwrap_or_default(),
            rules: rules
                .get("rules")
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|r| RuleDraft {
                            field: r.get("field").map(text_of).unwrap_or_default(),
                            operator: r.get("operator").map(text_of).unwrap_or_else(|| "==".into()),
                            value: r.get("value").map(value_text).unwrap_or_default(),
                            verdict: r.get("verdict").map(text_of).unwrap_or_default(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            default_verdict: rules.get("default_verdict").map(text_of).unwrap_or_else(|| "Pending".into()),
            not_found_verdict: rules
                .get("not_found_verdict")
                .map(text_of)
                .unwrap_or_else(|| "Pending".into()),
        }
    }

    /// The form as posted (`pairs` in their order) and the button pressed. Rows are matched by
    /// position: every row sends each of its fields once, empty or not.
    pub fn from_pairs(pairs: &[(String, String)]) -> (Self, Action) {
        let all = |name: &str| -> Vec<String> {
            pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.clone()).collect()
        };
        let one = |name: &str| all(name).into_iter().next().unwrap_or_default();
        let at = |list: &[String], i: usize| list.get(i).cloned().unwrap_or_default();
        let (names, methods, urls, headers, bodies, timeouts, expected, not_found, extras) = (
            all("step_name"),
            all("step_method"),
            all("step_url"),
            all("step_headers"),
            all("step_body"),
            all("step_timeout"),
            all("step_expected_status"),
            all("step_not_found_status"),
            all("step_extra"),
        );
        let steps = (0..urls.len())
            .map(|i| StepDraft {
                name: at(&names, i),
                method: at(&methods, i),
                url: at(&urls, i),
                headers: at(&headers, i),
                body: at(&bodies, i),
                timeout: at(&timeouts, i),
                expected_status: at(&expected, i),
                not_found_status: at(&not_found, i),
                extra: at(&extras, i),
            })
            .collect();
        let (fields, operators, values, verdicts) =
            (all("rule_field"), all("rule_operator"), all("rule_value"), all("rule_verdict"));
        let rules = (0..fields.len())
            .map(|i| RuleDraft {
                field: at(&fields, i),
                operator: at(&operators, i),
                value: at(&values, i),
                verdict: at(&verdicts, i),
            })
            .collect();
        let draft = ProviderDraft {
            provider_name: one("provider_name"),
            display_name: one("display_name"),
            description: one("description"),
            types: all("supported_indicator_types"),
            auth_type: one("auth_type"),
            credentials: one("credentials"),
            clear_credentials: !one("clear_credentials").is_empty(),
            ttl: one("default_cache_ttl_seconds"),
            rate_limit: one("rate_limit_per_minute"),
            concurrency: one("max_concurrency"),
            allow_private_network: !one("allow_private_network").is_empty(),
            private_hosts: one("private_network_hosts"),
            url_templates: one("url_templates_by_type"),
            steps,
            rules,
            default_verdict: one("default_verdict"),
            not_found_verdict: one("not_found_verdict"),
        };
        (draft, Action::parse(&one("action")))
    }

    /// Applies a builder button (anything but Save): the form comes back with the change.
    pub fn apply(&mut self, action: Action) {
        match action {
            Action::Save => {}
            Action::AddStep => self.steps.push(StepDraft::empty()),
            Action::RemoveStep(i) if i < self.steps.len() => {
                self.steps.remove(i);
            }
            Action::AddRule => self.rules.push(RuleDraft {
                operator: "==".into(),
                verdict: "Malicious".into(),
                ..RuleDraft::default()
            }),
            Action::RemoveRule(i) if i < self.rules.len() => {
                self.rules.remove(i);
            }
            Action::RuleUp(i) if i > 0 && i < self.rules.len() => self.rules.swap(i - 1, i),
            // `i` comes from the form: `i + 1` must not overflow.
            Action::RuleDown(i) if i < self.rules.len().saturating_sub(1) => self.rules.swap(i, i + 1),
            _ => {}
        }
    }

    /// The body REST takes for this form — every field for a new provider (`creating`), the
    /// fields a builtin may change for a builtin, else every editable field — or the form's own
    /// syntax errors, at the paths the service's errors use (`http_config.steps.0.headers`).
    pub fn to_body(&self, creating: bool, builtin: bool) -> Result<Map<String, Value>, FormErrors> {
        let mut errors = FormErrors::none();
        let mut body = Map::new();
        let integer = |errors: &mut FormErrors, field: &str, text: &str| -> Option<Value> {
            let text = text.trim();
            if text.is_empty() {
                return None;
            }
            // Read as REST reads these fields (32-bit integers): a larger number is refused here
            // rather than dropped.
            match text.parse::<i32>() {
                Ok(n) => Some(json!(n)),
                Err(_) => {
                    errors.add(field, format!("{field} must be a whole number"));
                    None
                }
            }
        };
        let description = self.description.trim();
        body.insert(
            "description".into(),
            if description.is_empty() { Value::Null } else { json!(self.description) },
        );
        if let Some(ttl) = integer(&mut errors, "default_cache_ttl_seconds", &self.ttl) {
            body.insert("default_cache_ttl_seconds".into(), ttl);
        }
        // An empty limit is no limit (`null`); a new provider simply leaves it out.
        match integer(&mut errors, "rate_limit_per_minute", &self.rate_limit) {
            Some(limit) => {
                body.insert("rate_limit_per_minute".into(), limit);
            }
            None if !creating && self.rate_limit.trim().is_empty() => {
                body.insert("rate_limit_per_minute".into(), Value::Null);
            }
            None => {}
        }
        if let Some(c) = integer(&mut errors, "max_concurrency", &self.concurrency) {
            body.insert("max_concurrency".into(), c);
        }
        body.insert("allow_private_network".into(), json!(self.allow_private_network));
        let hosts: Vec<&str> = self.private_hosts.lines().map(str::trim).filter(|h| !h.is_empty()).collect();
        body.insert("private_network_hosts".into(), json!(hosts));
        body.insert("malice_rules".into(), self.malice_rules());
        if self.clear_credentials && !creating {
            body.insert("auth_config".into(), Value::Null);
        } else if !self.credentials.trim().is_empty() {
            match pairs_of(&self.credentials) {
                Ok(credentials) => {
                    body.insert("auth_config".into(), Value::Object(credentials));
                }
                Err(line) => errors
                    .add("credentials", format!("line {line}: write one credential per line as name: value")),
            }
        }
        if creating || !builtin {
            if creating {
                body.insert("provider_name".into(), json!(self.provider_name));
            }
            body.insert("display_name".into(), json!(self.display_name));
            body.insert("supported_indicator_types".into(), json!(self.types));
            let auth_type = self.auth_type.trim();
            body.insert("auth_type".into(), json!(if auth_type.is_empty() { "no_auth" } else { auth_type }));
            body.insert("http_config".into(), self.http_config(&mut errors));
        }
        if errors.is_empty() { Ok(body) } else { Err(errors) }
    }

    fn malice_rules(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let text = r.value.trim();
                // `40`, `true`, `["a", "b"]` and `"quoted"` are JSON; anything else is text.
                let value = serde_json::from_str::<Value>(text).unwrap_or_else(|_| json!(r.value));
                json!({"field": r.field, "operator": r.operator, "value": value, "verdict": r.verdict})
            })
            .collect();
        json!({
            "rules": rules,
            "default_verdict": self.default_verdict,
            "not_found_verdict": self.not_found_verdict,
        })
    }

    fn http_config(&self, errors: &mut FormErrors) -> Value {
        let mut steps = Vec::new();
        for (i, s) in self.steps.iter().enumerate() {
            let at = |field: &str| format!("http_config.steps.{i}.{field}");
            let mut step = match s.extra.trim() {
                "" => Map::new(),
                extra => match serde_json::from_str::<Value>(extra) {
                    Ok(Value::Object(map)) => map,
                    _ => {
                        errors.add(&at("extra"), "the step's other settings must be a JSON object");
                        Map::new()
                    }
                },
            };
            if !s.name.trim().is_empty() {
                step.insert("name".into(), json!(s.name.trim()));
            }
            step.insert("method".into(), json!(s.method));
            step.insert("url".into(), json!(s.url));
            match pairs_of(&s.headers) {
                Ok(headers) if !headers.is_empty() => {
                    step.insert("headers".into(), Value::Object(headers));
                }
                Ok(_) => {}
                Err(line) => errors
                    .add(&at("headers"), format!("line {line}: write one header per line as Name: value")),
            }
            if !s.body.trim().is_empty() {
                match serde_json::from_str::<Value>(&s.body) {
                    Ok(body) => {
                        step.insert("json_body".into(), body);
                    }
                    Err(e) => errors.add(&at("json_body"), format!("the body must be JSON: {e}")),
                }
            }
            if !s.timeout.trim().is_empty() {
                match s.timeout.trim().parse::<f64>() {
                    Ok(t) => {
                        step.insert("timeout_seconds".into(), json!(t));
                    }
                    Err(_) => errors.add(&at("timeout_seconds"), "the timeout must be a number of seconds"),
                }
            }
            for (field, text) in
                [("expected_status", &s.expected_status), ("not_found_status", &s.not_found_status)]
            {
                let parsed: Result<Vec<u16>, _> =
                    text.split(',').map(str::trim).filter(|t| !t.is_empty()).map(str::parse::<u16>).collect();
                match parsed {
                    Ok(list) if !list.is_empty() => {
                        step.insert(field.into(), json!(list));
                    }
                    Ok(_) => {}
                    Err(_) => errors.add(&at(field), "write HTTP statuses separated by commas (200, 201)"),
                }
            }
            steps.push(Value::Object(step));
        }
        let mut config = json!({"steps": steps});
        if !self.url_templates.trim().is_empty() {
            match serde_json::from_str::<Value>(&self.url_templates) {
                Ok(templates) => config["url_templates_by_type"] = templates,
                Err(_) => errors.add("http_config.url_templates_by_type", "must be a JSON object"),
            }
        }
        config
    }
}

/// `name: value` lines as an object of strings; `Err(line number)` for a line that is not one.
fn pairs_of(text: &str) -> Result<Map<String, Value>, usize> {
    let mut map = Map::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => {
                map.insert(name.trim().to_string(), json!(value.trim()));
            }
            _ => return Err(n + 1),
        }
    }
    Ok(map)
}

/// Every indicator type, for the type checkboxes and the live test.
pub fn indicator_types() -> Vec<&'static str> {
    IndicatorType::ALL.iter().map(|t| t.as_str()).collect()
}

/// The live test form as typed.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct TestForm {
    /// The indicator's type.
    #[serde(default)]
    pub indicator_type: String,
    /// The indicator's value.
    #[serde(default)]
    pub indicator_value: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn rows_are_matched_by_position_and_build_the_rest_body() {
        let (draft, action) = ProviderDraft::from_pairs(&pairs(&[
            ("provider_name", "intel"),
            ("display_name", "Intel"),
            ("supported_indicator_types", "ip"),
            ("supported_indicator_types", "domain"),
            ("step_name", "lookup"),
            ("step_method", "GET"),
            ("step_url", "https://x/{{value}}"),
            ("step_headers", "Accept: application/json\nkey: {{auth.api_key}}"),
            ("step_body", ""),
            ("step_timeout", "10"),
            ("step_expected_status", "200"),
            ("step_not_found_status", "404"),
            ("step_extra", ""),
            ("rule_field", "score"),
            ("rule_operator", ">="),
            ("rule_value", "40"),
            ("rule_verdict", "Suspicious"),
            ("rule_field", "tags"),
            ("rule_operator", "contains"),
            ("rule_value", "tor exit"),
            ("rule_verdict", "Malicious"),
            ("default_verdict", "Benign"),
            ("not_found_verdict", "Pending"),
            ("credentials", "api_key: s3cret-value"),
            ("action", "save"),
        ]));
        assert_eq!(action, Action::Save);
        let body = draft.to_body(true, false).unwrap();
        assert_eq!(body["supported_indicator_types"], json!(["ip", "domain"]));
        let step = &body["http_config"]["steps"][0];
        assert_eq!(step["headers"]["key"], "{{auth.api_key}}");
        assert_eq!(step["not_found_status"], json!([404]));
        assert_eq!(body["malice_rules"]["rules"][0]["value"], json!(40));
        assert_eq!(body["malice_rules"]["rules"][1]["value"], json!("tor exit"));
        assert_eq!(body["auth_config"], json!({"api_key": "s3cret-value"}));
    }

    #[test]
    fn builder_buttons_change_the_rows_and_bad_syntax_is_refused_at_its_field() {
        let mut draft = ProviderDraft::new_provider();
        draft.apply(Action::AddStep);
        draft.apply(Action::AddRule);
        draft.rules[1].field = "second".into();
        draft.apply(Action::RuleUp(1));
        assert_eq!((draft.steps.len(), draft.rules[0].field.as_str()), (2, "second"));
        draft.apply(Action::RemoveStep(0));
        assert_eq!(draft.steps.len(), 1);
        draft.steps[0].headers = "no colon here".into();
        let errors = draft.to_body(true, false).unwrap_err();
        assert!(errors.invalid("http_config.steps.0.headers"));
        assert_eq!(Action::parse("rule_down:3"), Action::RuleDown(3));
    }

    /// A button's index comes from the form: any number, even the largest, changes nothing it
    /// should not and never panics.
    #[test]
    fn out_of_range_row_buttons_change_nothing() {
        let mut draft = ProviderDraft::new_provider();
        let before = (draft.steps.len(), draft.rules.len());
        for action in [
            Action::RuleDown(usize::MAX),
            Action::RuleUp(usize::MAX),
            Action::RemoveRule(usize::MAX),
            Action::RemoveStep(usize::MAX),
            Action::RuleDown(draft.rules.len()),
        ] {
            draft.apply(action);
        }
        assert_eq!((draft.steps.len(), draft.rules.len()), before);
        assert_eq!(Action::parse(&format!("rule_down:{}", usize::MAX)), Action::RuleDown(usize::MAX));
    }
}
