//! The agent form's fields as typed ([`AgentForm`]), shared by the new-agent page and the agent's
//! page: read from the posted pairs (checkbox lists repeat their name), filled from a stored
//! agent, and turned into the JSON body REST's `POST` and `PATCH /v1/agents` take — the service
//! reads that same map, so its refusals are REST's. Typed secrets (the auth header value, a
//! pasted signing secret) are never shown back.

use serde_json::{Map, Value};

use super::PageError;
use super::forms::FormErrors;

/// The agent form as typed (checkbox lists repeat their name, so the form is read as pairs).
#[derive(Debug, Clone, Default)]
pub struct AgentForm {
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) endpoint_url: String,
    pub(crate) auth_header_name: String,
    /// Typed only; never shown back.
    auth_header_value: String,
    /// Ticked: remove the auth header (edit only).
    pub(crate) clear_auth: bool,
    /// `generate`, `none` or `paste` (new); `keep`, `none` or `paste` (edit).
    pub(crate) signing: String,
    /// A pasted `whsec_…` secret; never shown back.
    signing_secret: String,
    pub(crate) sources: Vec<String>,
    pub(crate) severities: Vec<String>,
    pub(crate) trigger_filter: String,
    pub(crate) payload_profile: String,
    pub(crate) timeout_seconds: String,
    pub(crate) retry_count: String,
    pub(crate) is_active: bool,
    pub(crate) documentation: String,
}

impl AgentForm {
    /// A new agent's form: a generated secret, the full profile, REST's defaults, active.
    pub(crate) fn for_new() -> Self {
        AgentForm {
            signing: "generate".into(),
            payload_profile: "full".into(),
            timeout_seconds: "30".into(),
            retry_count: "3".into(),
            is_active: true,
            ..AgentForm::default()
        }
    }

    /// The form filled from a stored agent.
    pub(crate) fn of(agent: &calseta_services::resources::agents::AgentRow) -> Self {
        AgentForm {
            name: agent.name.clone(),
            description: agent.description.clone().unwrap_or_default(),
            endpoint_url: agent.endpoint_url.clone(),
            auth_header_name: agent.auth_header_name.clone().unwrap_or_default(),
            signing: "keep".into(),
            sources: agent.trigger_on_sources.0.clone(),
            severities: agent.trigger_on_severities.0.clone(),
            trigger_filter: agent
                .trigger_filter
                .as_ref()
                .map(|f| serde_json::to_string_pretty(&f.0).unwrap_or_default())
                .unwrap_or_default(),
            payload_profile: agent.payload_profile.as_str().into(),
            timeout_seconds: agent.timeout_seconds.to_string(),
            retry_count: agent.retry_count.to_string(),
            is_active: agent.is_active,
            documentation: agent.documentation.clone().unwrap_or_default(),
            ..AgentForm::default()
        }
    }

    /// Reads the posted pairs.
    pub(crate) fn read(pairs: Vec<(String, String)>) -> Self {
        let mut form = AgentForm::default();
        for (key, value) in pairs {
            match key.as_str() {
                "name" => form.name = value,
                "description" => form.description = value,
                "endpoint_url" => form.endpoint_url = value,
                "auth_header_name" => form.auth_header_name = value,
                "auth_header_value" => form.auth_header_value = value,
                "clear_auth" => form.clear_auth = true,
                "signing" => form.signing = value,
                "signing_secret" => form.signing_secret = value,
                "trigger_on_sources" => form.sources.push(value),
                "trigger_on_severities" => form.severities.push(value),
                "trigger_filter" => form.trigger_filter = value,
                "payload_profile" => form.payload_profile = value,
                "timeout_seconds" => form.timeout_seconds = value,
                "retry_count" => form.retry_count = value,
                "is_active" => form.is_active = true,
                "documentation" => form.documentation = value,
                _ => {}
            }
        }
        form
    }

    /// Whether `list` (`sources` or `severities`) holds `value` (a ticked checkbox).
    pub(crate) fn ticked(&self, list: &str, value: &str) -> bool {
        let list = if list == "sources" { &self.sources } else { &self.severities };
        list.iter().any(|v| v == value)
    }

    /// What `list` holds beyond the `known` names (a source since unregistered, a typo sent to
    /// REST): shown ticked, so saving the form keeps — or the service refuses — them.
    pub(crate) fn others(&self, list: &str, known: &[&'static str]) -> Vec<String> {
        let list = if list == "sources" { &self.sources } else { &self.severities };
        list.iter().filter(|v| !known.contains(&v.as_str())).cloned().collect()
    }

    /// REST's body for these fields (`creating`: `POST`, else `PATCH`).
    pub(crate) fn body(&self, creating: bool) -> Map<String, Value> {
        let text = |t: &str| if t.trim().is_empty() { Value::Null } else { Value::String(t.to_string()) };
        // A number when it reads as one; otherwise the text, which the service refuses as REST
        // refuses a non-number.
        let number =
            |t: &str| t.trim().parse::<i64>().map(Value::from).unwrap_or_else(|_| Value::String(t.into()));
        let mut body = Map::new();
        body.insert("name".into(), Value::String(self.name.clone()));
        body.insert("description".into(), text(&self.description));
        body.insert("endpoint_url".into(), Value::String(self.endpoint_url.clone()));
        if self.clear_auth {
            body.insert("auth_header_name".into(), Value::Null);
            body.insert("auth_header_value".into(), Value::Null);
        } else if creating {
            if !self.auth_header_name.trim().is_empty() || !self.auth_header_value.is_empty() {
                body.insert("auth_header_name".into(), text(&self.auth_header_name));
                body.insert("auth_header_value".into(), text(&self.auth_header_value));
            }
        } else {
            body.insert("auth_header_name".into(), text(&self.auth_header_name));
            if !self.auth_header_value.is_empty() {
                body.insert("auth_header_value".into(), Value::String(self.auth_header_value.clone()));
            }
        }
        match self.signing.as_str() {
            "generate" => {
                body.insert("signing_secret".into(), Value::String("generate".into()));
            }
            "paste" => {
                body.insert("signing_secret".into(), Value::String(self.signing_secret.clone()));
            }
            "none" if !creating => {
                body.insert("signing_secret".into(), Value::Null);
            }
            _ => {}
        }
        let list = |l: &[String]| Value::Array(l.iter().cloned().map(Value::String).collect());
        body.insert("trigger_on_sources".into(), list(&self.sources));
        body.insert("trigger_on_severities".into(), list(&self.severities));
        let filter = self.trigger_filter.trim();
        body.insert(
            "trigger_filter".into(),
            if filter.is_empty() {
                Value::Null
            } else {
                // Not JSON: the text itself, which the service refuses as not a filter.
                serde_json::from_str(filter).unwrap_or_else(|_| Value::String(filter.to_string()))
            },
        );
        body.insert("payload_profile".into(), Value::String(self.payload_profile.clone()));
        body.insert("timeout_seconds".into(), number(&self.timeout_seconds));
        body.insert("retry_count".into(), number(&self.retry_count));
        body.insert("is_active".into(), Value::Bool(self.is_active));
        body.insert("documentation".into(), text(&self.documentation));
        body
    }

    /// The service's refusal, plus why a filter that is not JSON was not read as one.
    pub(crate) fn refusal(&self, error: calseta_services::ServiceError) -> Result<FormErrors, PageError> {
        let mut errors = FormErrors::from_service(error)?;
        let filter = self.trigger_filter.trim();
        if errors.invalid("trigger_filter")
            && let Err(e) = serde_json::from_str::<Value>(filter)
        {
            errors.add("trigger_filter", format!("The filter is not JSON: {e}."));
        }
        Ok(errors)
    }

    /// The form as shown again after a refusal: what was typed, without the secrets.
    pub(crate) fn shown(mut self) -> Self {
        self.auth_header_value.clear();
        self.signing_secret.clear();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn the_form_becomes_rests_body() {
        let form = AgentForm::read(pairs(&[
            ("name", "Triage"),
            ("endpoint_url", "https://agent.example/hook"),
            ("signing", "generate"),
            ("trigger_on_sources", "elastic"),
            ("trigger_on_severities", "High"),
            ("trigger_on_severities", "Critical"),
            ("trigger_filter", "{\"match_all\": []}"),
            ("payload_profile", "compact"),
            ("timeout_seconds", "12"),
            ("retry_count", "x"),
            ("is_active", "on"),
        ]));
        let body = Value::Object(form.body(true));
        assert_eq!(body["signing_secret"], "generate");
        assert_eq!(body["trigger_on_severities"], json!(["High", "Critical"]));
        assert_eq!(body["trigger_filter"], json!({"match_all": []}));
        assert_eq!((body["timeout_seconds"].clone(), body["retry_count"].clone()), (json!(12), json!("x")));
        assert_eq!((body["description"].clone(), body["is_active"].clone()), (Value::Null, json!(true)));
        assert!(body.get("auth_header_name").is_none());
        let edit = AgentForm::read(pairs(&[("signing", "keep"), ("trigger_filter", "not json")]));
        let body = Value::Object(edit.body(false));
        assert!(body.get("signing_secret").is_none() && body.get("auth_header_value").is_none());
        assert_eq!(body["trigger_filter"], "not json");
        assert!(form.ticked("severities", "High") && !form.ticked("sources", "splunk"));
    }
}
