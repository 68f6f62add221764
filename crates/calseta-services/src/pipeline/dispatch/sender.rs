//! Sending one `alert.enriched` (or test) POST to one agent: the endpoint re-checked against the
//! SSRF policy at send time, the decrypted auth header, and the Standard Webhooks signature.

use std::time::Duration;

use calseta_core::targeting::{self, AlertFacts};
use calseta_core::webhooks;
use calseta_store::agents::AgentRow;
use serde_json::{Value, json};

use crate::platform::crypto::EncryptionKey;
use crate::platform::outbound::{OutboundClient, OutboundError, read_prefix};

/// Whether an agent's triggers select an alert (sources, severities, `trigger_filter`).
pub fn agent_matches(agent: &AgentRow, facts: &AlertFacts<'_>) -> bool {
    let sources = &agent.trigger_on_sources.0;
    let severities = &agent.trigger_on_severities.0;
    (sources.is_empty() || sources.iter().any(|s| s == facts.source_name))
        && (severities.is_empty() || severities.iter().any(|s| s == facts.severity))
        && targeting::matches(agent.trigger_filter.as_ref().map(|j| &j.0), facts)
}

/// The most of an agent's answer that is read and kept.
const MAX_KEPT_RESPONSE_BYTES: usize = 64 * 1024;

/// Signs and sends deliveries.
pub struct AgentSender {
    key: EncryptionKey,
    http: OutboundClient,
}

impl AgentSender {
    /// A sender decrypting agent secrets with `key` and sending through `http`.
    pub fn new(key: EncryptionKey, http: OutboundClient) -> Self {
        Self { key, http }
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
        // Fail closed: a configured secret that cannot be read (another ENCRYPTION_KEY) means no
        // delivery, never an unsigned or unauthenticated one.
        if agent.signing_secret_encrypted.is_some() {
            let secret = self.signing_secret(agent).ok_or(SendFailure::Secret("the signing secret"))?;
            let signature = webhooks::signature(&secret, delivery_id, timestamp, &body)
                .map_err(|_| SendFailure::Secret("the signing secret"))?;
            request = request.header("webhook-signature", signature);
        }
        if agent.auth_header_name.is_some() {
            let (name, value) =
                self.auth_header(agent).ok_or(SendFailure::Secret("the auth header value"))?;
            request = request.header(name, value);
        }
        let mut response = request.body(body).send().await.map_err(|e| match OutboundError::from(e) {
            OutboundError::Timeout(_) => SendFailure::Timeout,
            other => SendFailure::Connection(other.causes()),
        })?;
        let status = response.status().as_u16();
        // Only the first 64 KiB of an answer is read and kept: an agent cannot fill the database
        // (or this process's memory) through `agent_runs`.
        let (bytes, truncated) = read_prefix(&mut response, MAX_KEPT_RESPONSE_BYTES).await;
        let text = String::from_utf8_lossy(&bytes);
        let body = match serde_json::from_str::<Value>(&text) {
            Ok(value) if !truncated => value,
            _ if text.is_empty() => Value::Null,
            _ if truncated => json!({"raw": text.chars().take(2000).collect::<String>(), "truncated": true}),
            _ => json!({"raw": text.chars().take(2000).collect::<String>()}),
        };
        Ok(Sent { status: Some(status), body })
    }
}

/// An answered delivery.
#[derive(Debug, Clone)]
pub struct Sent {
    /// The HTTP status the agent answered.
    pub status: Option<u16>,
    /// Its answer (JSON, or the first 2,000 characters of text).
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
    /// A stored secret of the agent cannot be decrypted: nothing was sent.
    Secret(&'static str),
}

impl SendFailure {
    /// A message for records.
    pub fn message(&self) -> String {
        match self {
            SendFailure::Blocked(reason) => format!("Blocked: {reason}"),
            SendFailure::Timeout => "Timeout: no answer within the agent's timeout".into(),
            SendFailure::Connection(e) => format!("Connection error: {e}"),
            SendFailure::Secret(what) => format!(
                "Not sent: {what} cannot be decrypted with ENCRYPTION_KEY (or ENCRYPTION_KEY_PREVIOUS); \
                 set the key it was stored with, or store the secret again"
            ),
        }
    }
}
