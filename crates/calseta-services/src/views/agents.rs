//! Agents, their delivery attempts and alert source integrations as the API and MCP show them
//! (secrets never, a generated signing secret once).

use calseta_store::agent_runs::AgentRunRow;
use calseta_store::agents::AgentRow;
use calseta_store::sources::SourceRow;
use serde_json::{Value, json};

/// An agent; `signing_secret` only when it was just generated (shown once).
pub fn agent_view(agent: &AgentRow, signing_secret: Option<String>) -> Value {
    let mut view = json!({
        "uuid": agent.uuid, "name": agent.name, "description": agent.description, "endpoint_url": agent.endpoint_url,
        "auth_header_name": agent.auth_header_name, "has_signing_secret": agent.signing_secret_encrypted.is_some(),
        "trigger_on_sources": agent.trigger_on_sources.0, "trigger_on_severities": agent.trigger_on_severities.0,
        "trigger_filter": agent.trigger_filter.as_ref().map(|j| j.0.clone()), "timeout_seconds": agent.timeout_seconds,
        "retry_count": agent.retry_count, "is_active": agent.is_active, "documentation": agent.documentation, "payload_profile": agent.payload_profile,
        "created_at": agent.created_at, "updated_at": agent.updated_at,
    });
    if let Some(secret) = signing_secret {
        view["signing_secret"] = Value::String(secret);
    }
    view
}

/// One delivery attempt.
pub fn agent_run_view(r: &AgentRunRow) -> Value {
    json!({"uuid": r.uuid, "alert_uuid": r.alert_uuid, "delivery_id": r.delivery_id, "status": r.status,
            "attempt_count": r.attempt_count, "response_status_code": r.response_status_code,
            "response_body": r.response_body.as_ref().map(|j| j.0.clone()), "error_message": r.error_message,
            "request_payload": r.request_payload.as_ref().map(|j| j.0.clone()), "started_at": r.started_at, "completed_at": r.completed_at, "created_at": r.created_at})
}

/// A source integration (credentials never).
pub fn source_view(s: &SourceRow) -> Value {
    json!({"uuid": s.uuid, "source_name": s.source_name, "display_name": s.display_name, "is_active": s.is_active,
           "auth_type": s.auth_type, "documentation": s.documentation, "created_at": s.created_at, "updated_at": s.updated_at})
}
