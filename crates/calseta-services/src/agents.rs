//! Agents (webhook consumers) and alert sources: registration with SSRF-checked endpoints,
//! encrypted auth headers and Standard Webhooks signing secrets, trigger filters, the test call.

use std::time::{Duration, Instant};

use calseta_core::alerts::Severity;
use calseta_core::sources;
use calseta_core::targeting::{self, AlertFacts};
use calseta_core::webhooks;
use calseta_store::Db;
use calseta_store::agents::{self as repo, AgentFields, AgentRow, SourceRow};
use rand::RngCore;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::crypto::EncryptionKey;
use crate::outbound::OutboundClient;
use crate::{FieldError, ServiceError};

/// An agent's changes or creation, as the fields present in the request body.
pub type AgentInput = Map<String, Value>;

/// Agent use cases.
pub struct AgentService {
    db: Db,
    key: EncryptionKey,
    http: OutboundClient,
    api_base_url: String,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Agent not found.".into())
}

fn invalid_url(reason: String) -> ServiceError {
    ServiceError::Rejected {
        status: 400,
        code: "INVALID_ENDPOINT_URL",
        message: format!("endpoint_url blocked by SSRF protection: {reason}"),
    }
}

fn strings(value: &Value, field: &str, errors: &mut Vec<FieldError>) -> Vec<String> {
    match serde_json::from_value::<Vec<String>>(value.clone()) {
        Ok(list) => list,
        Err(_) => {
            errors.push(FieldError::body(field, format!("{field} must be a list of strings")));
            Vec::new()
        }
    }
}

/// Whether an agent's triggers select an alert (sources, severities, `trigger_filter`).
pub fn agent_matches(agent: &AgentRow, source_name: &str, severity: &str, tags: &[String]) -> bool {
    let sources = &agent.trigger_on_sources.0;
    let severities = &agent.trigger_on_severities.0;
    (sources.is_empty() || sources.iter().any(|s| s == source_name))
        && (severities.is_empty() || severities.iter().any(|s| s == severity))
        && targeting::matches(
            agent.trigger_filter.as_ref().map(|j| &j.0),
            &AlertFacts { source_name, severity, tags },
        )
}

impl AgentService {
    /// A service.
    pub fn new(db: Db, key: EncryptionKey, http: OutboundClient, api_base_url: String) -> Self {
        Self { db, key, http, api_base_url }
    }

    /// `CALSETA_API_BASE_URL`, copied into payloads.
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// The outbound client.
    pub fn http(&self) -> &OutboundClient {
        &self.http
    }

    /// The decrypted auth header, if configured and readable.
    pub fn auth_header(&self, agent: &AgentRow) -> Option<(String, String)> {
        let name = agent.auth_header_name.clone()?;
        let value = self.key.decrypt(agent.auth_header_value_encrypted.as_deref()?)?;
        Some((name, String::from_utf8(value).ok()?))
    }

    /// The decrypted signing secret, if any.
    pub fn signing_secret(&self, agent: &AgentRow) -> Option<String> {
        String::from_utf8(self.key.decrypt(agent.signing_secret_encrypted.as_deref()?)?).ok()
    }

    /// Agents, newest first.
    pub async fn list(&self) -> Result<Vec<AgentRow>, ServiceError> {
        Ok(repo::list(&self.db, false).await?)
    }

    /// Active agents whose triggers select the alert, oldest first.
    pub async fn matching(
        &self,
        source_name: &str,
        severity: &str,
        tags: &[String],
    ) -> Result<Vec<AgentRow>, ServiceError> {
        Ok(repo::list(&self.db, true)
            .await?
            .into_iter()
            .filter(|a| agent_matches(a, source_name, severity, tags))
            .collect())
    }

    /// One agent.
    pub async fn get(&self, uuid: Uuid) -> Result<AgentRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(not_found)
    }

    /// Applies the fields present in `input` to `fields` (JSON merge patch). Returns a newly
    /// generated signing secret, to show once.
    async fn apply(
        &self,
        fields: &mut AgentFields,
        input: &AgentInput,
        creating: bool,
    ) -> Result<Option<String>, ServiceError> {
        let mut errors = Vec::new();
        let mut generated = None;
        let mut header_value: Option<Option<String>> = None;
        for (key, value) in input {
            let text = value.as_str().map(str::to_string);
            match key.as_str() {
                "name" => match text.filter(|t| !t.trim().is_empty() && t.chars().count() <= 255) {
                    Some(t) => fields.name = t,
                    None => errors.push(FieldError::body("name", "name must be 1 to 255 characters")),
                },
                "description" => fields.description = text,
                "documentation" => fields.documentation = text,
                "endpoint_url" => match text {
                    Some(url) => fields.endpoint_url = url,
                    None => errors.push(FieldError::body("endpoint_url", "endpoint_url is required")),
                },
                "auth_header_name" => fields.auth_header_name = text.filter(|t| !t.trim().is_empty()),
                "auth_header_value" => header_value = Some(text),
                "trigger_on_sources" if !value.is_null() => {
                    let list = strings(value, key, &mut errors);
                    if let Some(unknown) = list.iter().find(|s| sources::find(s).is_none()) {
                        errors.push(FieldError::body(key, format!("'{unknown}' is not a registered source")));
                    }
                    fields.trigger_on_sources = list;
                }
                "trigger_on_severities" if !value.is_null() => {
                    let list = strings(value, key, &mut errors);
                    if let Some(unknown) = list.iter().find(|s| Severity::parse(s).is_err()) {
                        errors.push(FieldError::body(
                            key,
                            format!("'{unknown}' is not a severity ({})", Severity::names().join(", ")),
                        ));
                    }
                    fields.trigger_on_severities = list;
                }
                "trigger_filter" => {
                    if !value.is_null() {
                        let problems = targeting::validate(value);
                        if !problems.is_empty() {
                            errors.push(FieldError::body(key, problems.join("; ")));
                        }
                    }
                    fields.trigger_filter = (!value.is_null()).then(|| value.clone());
                }
                "timeout_seconds" if !value.is_null() => match value
                    .as_i64()
                    .filter(|v| (1..=300).contains(v))
                {
                    Some(v) => fields.timeout_seconds = v as i32,
                    None => errors.push(FieldError::body(key, "timeout_seconds must be between 1 and 300")),
                },
                "retry_count" if !value.is_null() => match value.as_i64().filter(|v| (0..=10).contains(v)) {
                    Some(v) => fields.retry_count = v as i32,
                    None => errors.push(FieldError::body(key, "retry_count must be between 0 and 10")),
                },
                "is_active" if !value.is_null() => {
                    fields.is_active = value.as_bool().unwrap_or(fields.is_active)
                }
                "signing_secret" => match text.as_deref() {
                    None => fields.signing_secret_encrypted = None,
                    Some("generate") => {
                        let mut bytes = [0u8; 32];
                        rand::rng().fill_bytes(&mut bytes);
                        let secret = webhooks::secret_from_key(&bytes);
                        fields.signing_secret_encrypted = Some(self.key.encrypt(secret.as_bytes())?);
                        generated = Some(secret);
                    }
                    Some(secret) => match webhooks::secret_key(secret) {
                        Ok(_) => fields.signing_secret_encrypted = Some(self.key.encrypt(secret.as_bytes())?),
                        Err(reason) => {
                            errors.push(FieldError::body(key, format!("{reason} (or send \"generate\")")))
                        }
                    },
                },
                _ => {}
            }
        }
        if creating && !input.contains_key("endpoint_url") {
            errors.push(FieldError::body("endpoint_url", "endpoint_url is required"));
        }
        if creating && !input.contains_key("name") {
            errors.push(FieldError::body("name", "name is required"));
        }
        if let Some(value) = header_value {
            fields.auth_header_value_encrypted = match value {
                Some(v) => Some(self.key.encrypt(v.as_bytes())?),
                None => None,
            };
        }
        if fields.auth_header_name.is_some() != fields.auth_header_value_encrypted.is_some() {
            errors.push(FieldError::body(
                "auth_header_name",
                "auth_header_name and auth_header_value go together",
            ));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        self.http.check_destination(&fields.endpoint_url, false).await.map_err(invalid_url)?;
        Ok(generated)
    }

    /// Registers an agent; returns it and a generated signing secret (shown once).
    pub async fn create(&self, input: AgentInput) -> Result<(AgentRow, Option<String>), ServiceError> {
        let mut fields = AgentFields {
            name: String::new(),
            description: None,
            endpoint_url: String::new(),
            auth_header_name: None,
            auth_header_value_encrypted: None,
            signing_secret_encrypted: None,
            trigger_on_sources: Vec::new(),
            trigger_on_severities: Vec::new(),
            trigger_filter: None,
            timeout_seconds: 30,
            retry_count: 3,
            is_active: true,
            documentation: None,
        };
        let generated = self.apply(&mut fields, &input, true).await?;
        Ok((repo::insert(&self.db, &fields).await?, generated))
    }

    /// Changes an agent.
    pub async fn patch(
        &self,
        uuid: Uuid,
        input: AgentInput,
    ) -> Result<(AgentRow, Option<String>), ServiceError> {
        let current = self.get(uuid).await?;
        let id = current.id;
        let mut fields = AgentFields::from(current);
        let generated = self.apply(&mut fields, &input, false).await?;
        Ok((repo::update(&self.db, id, &fields).await?, generated))
    }

    /// Deletes an agent (and its delivery history).
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if repo::delete(&self.db, uuid).await? { Ok(()) } else { Err(not_found()) }
    }

    /// Delivery attempts, newest first.
    pub async fn runs(
        &self,
        uuid: Uuid,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<repo::AgentRunRow>, i64), ServiceError> {
        let agent = self.get(uuid).await?;
        Ok(repo::runs(&self.db, agent.id, limit, offset).await?)
    }

    /// Sends a synthetic payload now (one attempt, signed like real deliveries).
    pub async fn test(&self, uuid: Uuid) -> Result<Value, ServiceError> {
        let agent = self.get(uuid).await?;
        let now = calseta_store::now();
        let payload = json!({
            "event": "alert.test", "test": true,
            "alert": {"uuid": Uuid::nil(), "title": "Calseta — Test Webhook", "severity": "Low", "status": "Open",
                      "source_name": agent.name, "occurred_at": now, "ingested_at": now, "is_enriched": false, "tags": ["test"],
                      "_metadata": {"generated_at": now, "alert_source": agent.name, "indicator_count": 0,
                                    "enrichment": {"succeeded": [], "failed": [], "skipped": [], "enriched_at": null},
                                    "detection_rule_matched": false, "context_documents_applied": 0}},
            "indicators": [], "detection_rule": null, "past_alerts": [], "context_documents": [], "workflows": [],
            "calseta_api_base_url": self.api_base_url,
        });
        let started = Instant::now();
        let outcome = self.send(&agent, &format!("msg_{}", Uuid::now_v7().simple()), &payload).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(match outcome {
            Ok(sent) => {
                json!({"delivered": sent.success(), "status_code": sent.status, "duration_ms": duration_ms,
                               "error": (!sent.success()).then(|| format!("HTTP {}", sent.status.unwrap_or(0)))})
            }
            Err(failure) => {
                json!({"delivered": false, "status_code": null, "duration_ms": duration_ms, "error": failure.message()})
            }
        })
    }

    /// One POST of `payload` to the agent: SSRF re-checked, auth header, Standard Webhooks signature.
    pub async fn send(
        &self,
        agent: &AgentRow,
        delivery_id: &str,
        payload: &Value,
    ) -> Result<Sent, SendFailure> {
        let url =
            self.http.check_destination(&agent.endpoint_url, false).await.map_err(SendFailure::Blocked)?;
        let body = serde_json::to_vec(payload).map_err(|e| SendFailure::Connection(e.to_string()))?;
        let timestamp = calseta_store::now().timestamp();
        let mut request = self
            .http
            .client(false)
            .post(url)
            .timeout(Duration::from_secs(u64::try_from(agent.timeout_seconds).unwrap_or(30).max(1)))
            .header("content-type", "application/json")
            .header("user-agent", concat!("Calseta/", env!("CARGO_PKG_VERSION")))
            .header("webhook-id", delivery_id)
            .header("webhook-timestamp", timestamp.to_string());
        if let Some(secret) = self.signing_secret(agent)
            && let Ok(signature) = webhooks::signature(&secret, delivery_id, timestamp, &body)
        {
            request = request.header("webhook-signature", signature);
        }
        if let Some((name, value)) = self.auth_header(agent) {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.map_err(|e| {
            if e.is_timeout() {
                SendFailure::Timeout
            } else {
                SendFailure::Connection(crate::enrichment::error_chain(&e))
            }
        })?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str::<Value>(&text).unwrap_or_else(|_| {
            if text.is_empty() {
                Value::Null
            } else {
                json!({"raw": text.chars().take(2000).collect::<String>()})
            }
        });
        Ok(Sent { status: Some(status), body })
    }

    // Sources.

    /// Source integrations, newest first.
    pub async fn list_sources(&self) -> Result<Vec<SourceRow>, ServiceError> {
        Ok(repo::list_sources(&self.db).await?)
    }

    /// One source integration.
    pub async fn get_source(&self, uuid: Uuid) -> Result<SourceRow, ServiceError> {
        repo::get_source(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Source integration not found.".into()))
    }

    /// Creates or changes a source integration from the fields in `input`.
    pub async fn save_source(
        &self,
        uuid: Option<Uuid>,
        input: Map<String, Value>,
    ) -> Result<SourceRow, ServiceError> {
        let existing = match uuid {
            Some(uuid) => Some(self.get_source(uuid).await?),
            None => None,
        };
        let mut row = existing.clone().unwrap_or(SourceRow {
            id: 0,
            uuid: Uuid::nil(),
            source_name: String::new(),
            display_name: String::new(),
            is_active: true,
            auth_type: None,
            auth_config: None,
            documentation: None,
            created_at: calseta_store::now(),
            updated_at: calseta_store::now(),
        });
        let mut errors = Vec::new();
        for (key, value) in &input {
            let text = value.as_str().map(str::to_string);
            match key.as_str() {
                "source_name" if existing.is_none() => row.source_name = text.unwrap_or_default(),
                "display_name" => row.display_name = text.unwrap_or_default(),
                "is_active" if !value.is_null() => row.is_active = value.as_bool().unwrap_or(true),
                "auth_type" => row.auth_type = text,
                "documentation" => row.documentation = text,
                "auth_config" => {
                    row.auth_config = match value {
                        Value::Null => None,
                        Value::Object(_) if value.to_string().len() <= 256 * 1024 => {
                            Some(repo::stored_json(self.key.encrypt_json(value)?))
                        }
                        _ => {
                            errors.push(FieldError::body(
                                "auth_config",
                                "auth_config must be an object up to 256 KB",
                            ));
                            None
                        }
                    }
                }
                _ => {}
            }
        }
        if existing.is_none() && sources::find(&row.source_name).is_none() {
            return Err(ServiceError::Rejected {
                status: 400,
                code: "INVALID_SOURCE",
                message: format!("'{}' is not a registered source plugin.", row.source_name),
            });
        }
        if row.display_name.trim().is_empty() || row.display_name.chars().count() > 255 {
            errors.push(FieldError::body("display_name", "display_name must be 1 to 255 characters"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Validation(errors));
        }
        Ok(repo::save_source(&self.db, existing.map(|e| e.id), &row).await?)
    }

    /// Deletes a source integration.
    pub async fn delete_source(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if repo::delete_source(&self.db, uuid).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Source integration not found.".into()))
        }
    }
}

/// An answered delivery.
#[derive(Debug, Clone)]
pub struct Sent {
    pub status: Option<u16>,
    pub body: Value,
}

impl Sent {
    /// Any 2xx.
    pub fn success(&self) -> bool {
        self.status.is_some_and(|s| (200..300).contains(&s))
    }
}

/// Why a delivery got no answer.
#[derive(Debug, Clone)]
pub enum SendFailure {
    /// The destination is not allowed (checked again at send time).
    Blocked(String),
    /// No answer within the agent's timeout.
    Timeout,
    /// Connection refused, reset, TLS, …
    Connection(String),
}

impl SendFailure {
    /// A message for records.
    pub fn message(&self) -> String {
        match self {
            SendFailure::Blocked(reason) => format!("Blocked: {reason}"),
            SendFailure::Timeout => "Timeout: no answer within the agent's timeout".into(),
            SendFailure::Connection(e) => format!("Connection error: {e}"),
        }
    }
}
