//! The audit trail every stage writes to: appending to the append-only activity log, who did
//! it, and references sanitized before storage. Low-level: stages and resources use it; it uses
//! only the store (and the API key type, to name an actor).

use calseta_core::activity::sanitize;
use calseta_store::Tx;
use calseta_store::activity::{self, NewActivity};
use serde_json::Value;

use crate::ServiceError;
use crate::resources::api_keys::ApiKey;

/// Who performed an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    /// `api`, `mcp`, `console` or `system`.
    pub actor_type: &'static str,
    /// The caller's key prefix, for api/mcp/console actions.
    pub key_prefix: Option<String>,
}

impl Actor {
    /// A REST caller.
    pub fn api(key: &ApiKey) -> Self {
        Actor { actor_type: "api", key_prefix: Some(key.key_prefix.clone()) }
    }

    /// An MCP caller.
    pub fn mcp(key: &ApiKey) -> Self {
        Actor { actor_type: "mcp", key_prefix: Some(key.key_prefix.clone()) }
    }

    /// An analyst in the web console, signed in with `key`.
    pub fn console(key: &ApiKey) -> Self {
        Actor { actor_type: "console", key_prefix: Some(key.key_prefix.clone()) }
    }

    /// The worker or startup code.
    pub fn system() -> Self {
        Actor { actor_type: "system", key_prefix: None }
    }
}

/// Appends an event about an alert inside `tx`.
pub async fn record(
    tx: &mut Tx,
    actor: &Actor,
    event_type: &str,
    alert_id: Option<i64>,
    references: Value,
) -> Result<(), ServiceError> {
    append(tx, actor, event_type, alert_id, None, references).await
}

/// Appends an event about a workflow (and the alert it acted for, if any) inside `tx`.
pub async fn record_workflow(
    tx: &mut Tx,
    actor: &Actor,
    event_type: &str,
    alert_id: Option<i64>,
    workflow_id: i64,
    references: Value,
) -> Result<(), ServiceError> {
    append(tx, actor, event_type, alert_id, Some(workflow_id), references).await
}

async fn append(
    tx: &mut Tx,
    actor: &Actor,
    event_type: &str,
    alert_id: Option<i64>,
    workflow_id: Option<i64>,
    references: Value,
) -> Result<(), ServiceError> {
    let event = NewActivity {
        event_type: event_type.to_string(),
        actor_type: actor.actor_type.to_string(),
        actor_key_prefix: actor.key_prefix.clone(),
        alert_id,
        workflow_id,
        detection_rule_id: None,
        references: Some(sanitize(&references)),
    };
    activity::append(tx, &event).await?;
    Ok(())
}
