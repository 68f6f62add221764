//! Agents (webhook consumers): registration with SSRF-checked endpoints, encrypted auth headers
//! and Standard Webhooks signing secrets, trigger filters, delivery history and the test call.

use std::sync::Arc;
use std::time::Instant;

use calseta_core::agents::PayloadProfile;
use calseta_core::alerts::Severity;
use calseta_core::sources;
use calseta_core::targeting::{self, AlertFacts};
use calseta_core::webhooks;
use calseta_store::Db;
/// A stored agent (the console reads its fields; REST shows it through `views::agents`).
pub use calseta_store::agents::AgentRow;
use calseta_store::agents::{self as repo, AgentFields};
use calseta_store::alerts as alerts_repo;
use calseta_store::detection_rules;
use rand::RngCore;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::pipeline::dispatch::sender::AgentSender;
use crate::pipeline::kinds;
use crate::platform::crypto::EncryptionKey;
use crate::platform::outbound::OutboundClient;
use crate::resources::body;
use crate::{FieldError, ServiceError};

/// An agent's changes or creation, as the fields present in the request body.
pub type AgentInput = Map<String, Value>;

/// Agent use cases.
pub struct AgentService {
    db: Db,
    key: EncryptionKey,
    http: OutboundClient,
    sender: Arc<AgentSender>,
    api_base_url: String,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Agent not found.".into())
}

fn invalid_url(reason: String) -> ServiceError {
    ServiceError::Refused {
        code: "INVALID_ENDPOINT_URL",
        message: format!("endpoint_url blocked by SSRF protection: {reason}"),
    }
}

impl AgentService {
    /// A service: secrets encrypted with `key`, endpoints checked with `http`, test calls sent
    /// by `sender`; `api_base_url` is copied into payloads.
    pub fn new(
        db: Db,
        key: EncryptionKey,
        http: OutboundClient,
        sender: Arc<AgentSender>,
        api_base_url: String,
    ) -> Self {
        Self { db, key, http, sender, api_base_url }
    }

    /// `CALSETA_API_BASE_URL`, copied into payloads.
    pub fn api_base_url(&self) -> &str {
        &self.api_base_url
    }

    /// The outbound client.
    pub fn http(&self) -> &OutboundClient {
        &self.http
    }

    /// Agents, newest first.
    pub async fn list(&self) -> Result<Vec<AgentRow>, ServiceError> {
        Ok(repo::list(&self.db, false).await?)
    }

    /// Active agents whose triggers select the alert described by `facts`, oldest first.
    pub async fn matching(&self, facts: &AlertFacts<'_>) -> Result<Vec<AgentRow>, ServiceError> {
        crate::pipeline::dispatch::matching_agents(&self.db, facts).await
    }

    /// Queues a dispatch of the alert to every matching agent; returns the agents matching now.
    pub async fn trigger(&self, alert_uuid: Uuid) -> Result<Vec<AgentRow>, ServiceError> {
        let alert = alerts_repo::get(&self.db, alert_uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Alert not found.".into()))?;
        // The rule's name is a targeting fact (`detection_rule` in a `trigger_filter`).
        let rule = match alert.detection_rule_id {
            Some(id) => detection_rules::get_by_id(&self.db, id).await?,
            None => None,
        };
        let agents = self
            .matching(&AlertFacts {
                source_name: &alert.source_name,
                severity: alert.severity.as_str(),
                tags: &alert.tags.0,
                detection_rule: rule.as_ref().map(|r| r.name.as_str()),
            })
            .await?;
        let mut tx = self.db.begin().await?;
        kinds::enqueue_dispatch(&mut tx, alert_uuid, None).await?;
        tx.commit().await?;
        Ok(agents)
    }

    /// Queues a delivery of the alert to one active agent, bypassing its trigger filters.
    pub async fn dispatch_to(&self, alert_uuid: Uuid, agent_uuid: Uuid) -> Result<AgentRow, ServiceError> {
        if alerts_repo::get(&self.db, alert_uuid).await?.is_none() {
            return Err(ServiceError::NotFound("Alert not found.".into()));
        }
        let agent = self.get(agent_uuid).await?;
        if !agent.is_active {
            return Err(ServiceError::unprocessable("AGENT_INACTIVE", "Agent is not active."));
        }
        let mut tx = self.db.begin().await?;
        kinds::enqueue_dispatch(&mut tx, alert_uuid, Some(agent.uuid)).await?;
        tx.commit().await?;
        Ok(agent)
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
            let is_text = matches!(
                key.as_str(),
                "name"
                    | "description"
                    | "documentation"
                    | "endpoint_url"
                    | "auth_header_name"
                    | "auth_header_value"
                    | "signing_secret"
            );
            let text = if is_text { body::text(key, value, &mut errors) } else { None };
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
                    let list = body::strings(key, value, &mut errors);
                    if let Some(unknown) = list.iter().find(|s| sources::find(s).is_none()) {
                        errors.push(FieldError::body(key, format!("'{unknown}' is not a registered source")));
                    }
                    fields.trigger_on_sources = list;
                }
                "trigger_on_severities" if !value.is_null() => {
                    let list = body::strings(key, value, &mut errors);
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
                "timeout_seconds" if !value.is_null() => match body::integer(value)
                    .filter(|v| (1..=300).contains(v))
                {
                    Some(v) => fields.timeout_seconds = v as i32,
                    None => errors.push(FieldError::body(key, "timeout_seconds must be between 1 and 300")),
                },
                "retry_count" if !value.is_null() => {
                    match body::integer(value).filter(|v| (0..=10).contains(v)) {
                        Some(v) => fields.retry_count = v as i32,
                        None => errors.push(FieldError::body(key, "retry_count must be between 0 and 10")),
                    }
                }
                "is_active" => {
                    fields.is_active = body::flag(key, value, &mut errors).unwrap_or(fields.is_active)
                }
                "payload_profile" if !value.is_null() => {
                    match value.as_str().and_then(|p| PayloadProfile::parse(p).ok()) {
                        Some(profile) => fields.payload_profile = profile,
                        None => {
                            errors.push(FieldError::body(key, "payload_profile must be 'full' or 'compact'"))
                        }
                    }
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
            return Err(ServiceError::Invalid(errors));
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
            payload_profile: PayloadProfile::Full,
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
    ) -> Result<(Vec<calseta_store::agent_runs::AgentRunRow>, i64), ServiceError> {
        let agent = self.get(uuid).await?;
        Ok(calseta_store::agent_runs::for_agent(&self.db, agent.id, limit, offset).await?)
    }

    /// Sends a synthetic payload now (one attempt, signed like real deliveries): REST's answer
    /// `{delivered, status_code, duration_ms, error}`.
    pub async fn test(&self, uuid: Uuid) -> Result<Value, ServiceError> {
        let outcome = self.test_call(uuid).await?;
        Ok(json!({"delivered": outcome.delivered, "status_code": outcome.status_code,
                  "duration_ms": outcome.duration_ms, "error": outcome.error}))
    }

    /// [`Self::test`] with the agent's answer as well (the console shows it, as text).
    pub async fn test_call(&self, uuid: Uuid) -> Result<AgentTestOutcome, ServiceError> {
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
        let outcome = self.sender.send(&agent, &format!("msg_{}", Uuid::now_v7().simple()), &payload).await;
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok(match outcome {
            Ok(sent) => AgentTestOutcome {
                delivered: sent.success(),
                status_code: sent.status,
                duration_ms,
                error: (!sent.success()).then(|| format!("HTTP {}", sent.status.unwrap_or(0))),
                response_body: Some(sent.body),
            },
            Err(failure) => AgentTestOutcome {
                delivered: false,
                status_code: None,
                duration_ms,
                error: Some(failure.message()),
                response_body: None,
            },
        })
    }

    /// Every agent's newest delivery attempt, by agent (agents never delivered to are absent).
    pub async fn last_deliveries(
        &self,
    ) -> Result<std::collections::HashMap<Uuid, calseta_store::agent_runs::LastDeliveryRow>, ServiceError>
    {
        Ok(calseta_store::agent_runs::latest_per_agent(&self.db)
            .await?
            .into_iter()
            .map(|row| (row.agent_uuid, row))
            .collect())
    }

    /// The agent's deliveries still to be made (first attempts and retries, with when they run
    /// next), soonest first, at most `limit` — read from the job queue.
    pub async fn pending_deliveries(
        &self,
        uuid: Uuid,
        limit: i64,
    ) -> Result<Vec<PendingDelivery>, ServiceError> {
        let agent = self.get(uuid).await?;
        let jobs = calseta_store::jobs::unfinished_for_agent(
            &self.db,
            &[kinds::DELIVER_WEBHOOK.name],
            agent.uuid,
            limit,
        )
        .await?;
        Ok(jobs
            .into_iter()
            .map(|job| PendingDelivery {
                agent_uuid: Some(agent.uuid),
                agent_name: Some(agent.name.clone()),
                delivery_id: job.payload.0.get("delivery_id").and_then(Value::as_str).map(str::to_string),
                status: job.status,
                attempts: job.attempts,
                max_attempts: job.max_attempts,
                next_attempt_at: job.run_at,
                last_error: job.last_error,
            })
            .collect())
    }
}

/// What a test call to an agent gave.
#[derive(Debug, Clone)]
pub struct AgentTestOutcome {
    /// The agent answered 2xx.
    pub delivered: bool,
    /// The HTTP status it answered, if it answered.
    pub status_code: Option<u16>,
    /// How long the call took.
    pub duration_ms: f64,
    /// Why it did not deliver (an HTTP status, a timeout, a blocked address, …).
    pub error: Option<String>,
    /// Its answer (JSON, or `{"raw": …}` with the first 2,000 characters of text), written by the
    /// agent: show it as text only.
    pub response_body: Option<Value>,
}

/// A delivery of an alert still to be made: a queued dispatch (its deliveries are not built yet)
/// or a delivery waiting for its first attempt or its next retry.
#[derive(Debug, Clone)]
pub struct PendingDelivery {
    /// The agent, when known: a dispatch to every matching agent names none.
    pub agent_uuid: Option<Uuid>,
    /// The agent's name, when it still exists.
    pub agent_name: Option<String>,
    /// The Standard Webhooks message id (a delivery; `None` for a queued dispatch).
    pub delivery_id: Option<String>,
    /// Queued, or running now.
    pub status: calseta_core::jobs::JobStatus,
    /// Attempts made so far.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// When the next attempt starts at the earliest.
    pub next_attempt_at: chrono::DateTime<chrono::Utc>,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

/// An alert's deliveries to agents: the attempts made and those still to come.
#[derive(Debug, Clone)]
pub struct AlertDeliveries {
    /// The newest attempts, newest first.
    pub attempts: Vec<calseta_store::agent_runs::AlertDeliveryRow>,
    /// How many attempts there are in all.
    pub total_attempts: i64,
    /// Dispatches and deliveries still queued (first attempts and retries), soonest first.
    pub pending: Vec<PendingDelivery>,
}

impl AgentService {
    /// The deliveries of one alert to agents: its newest `limit` attempts (agent, status,
    /// attempt, response code, timing) and the dispatches and deliveries still queued with when
    /// they run next — read from the attempts and the job queue.
    pub async fn deliveries_of_alert(
        &self,
        alert_uuid: Uuid,
        limit: i64,
    ) -> Result<AlertDeliveries, ServiceError> {
        if alerts_repo::get(&self.db, alert_uuid).await?.is_none() {
            return Err(ServiceError::NotFound("Alert not found.".into()));
        }
        let (attempts, total_attempts) =
            calseta_store::agent_runs::for_alert(&self.db, alert_uuid, limit).await?;
        let kinds = [kinds::DELIVER_WEBHOOK.name, kinds::DISPATCH_ALERT.name];
        let jobs = calseta_store::jobs::unfinished_for_alert(&self.db, &kinds, alert_uuid, limit).await?;
        let names: std::collections::HashMap<Uuid, String> = if jobs.is_empty() {
            std::collections::HashMap::new()
        } else {
            repo::list(&self.db, false).await?.into_iter().map(|a| (a.uuid, a.name)).collect()
        };
        let pending = jobs
            .into_iter()
            .map(|job| {
                let payload = &job.payload.0;
                let agent_uuid =
                    payload.get("agent_uuid").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok());
                let delivery_id = (job.kind == kinds::DELIVER_WEBHOOK.name)
                    .then(|| payload.get("delivery_id").and_then(Value::as_str).map(str::to_string))
                    .flatten();
                PendingDelivery {
                    agent_name: agent_uuid.and_then(|u| names.get(&u).cloned()),
                    agent_uuid,
                    delivery_id,
                    status: job.status,
                    attempts: job.attempts,
                    max_attempts: job.max_attempts,
                    next_attempt_at: job.run_at,
                    last_error: job.last_error,
                }
            })
            .collect();
        Ok(AlertDeliveries { attempts, total_attempts, pending })
    }
}
