//! Every encrypted column, read and rewritten together, so that the encryption key can be rotated:
//! provider credentials, agents' auth header values and signing secrets, source credentials,
//! workflow secrets.

use serde_json::Value;
use sqlx::types::Json;

use crate::{StoreError, Tx};

/// A column that holds a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretColumn {
    /// `enrichment_providers.auth_config` (`{"_encrypted": …}`).
    ProviderCredentials,
    /// `agent_registrations.auth_header_value_encrypted` (a token).
    AgentAuthHeader,
    /// `agent_registrations.signing_secret_encrypted` (a token).
    AgentSigningSecret,
    /// `source_integrations.auth_config` (`{"_encrypted": …}`).
    SourceCredentials,
    /// `workflow_secrets.value_encrypted` (a token).
    WorkflowSecret,
}

impl SecretColumn {
    /// Every secret column.
    pub const ALL: [SecretColumn; 5] = [
        SecretColumn::ProviderCredentials,
        SecretColumn::AgentAuthHeader,
        SecretColumn::AgentSigningSecret,
        SecretColumn::SourceCredentials,
        SecretColumn::WorkflowSecret,
    ];

    /// `(table, column, stored as JSON)`.
    fn location(self) -> (&'static str, &'static str, bool) {
        match self {
            SecretColumn::ProviderCredentials => ("enrichment_providers", "auth_config", true),
            SecretColumn::AgentAuthHeader => ("agent_registrations", "auth_header_value_encrypted", false),
            SecretColumn::AgentSigningSecret => ("agent_registrations", "signing_secret_encrypted", false),
            SecretColumn::SourceCredentials => ("source_integrations", "auth_config", true),
            SecretColumn::WorkflowSecret => ("workflow_secrets", "value_encrypted", false),
        }
    }

    /// `table.column`, for reports.
    pub fn name(self) -> String {
        let (table, column, _) = self.location();
        format!("{table}.{column}")
    }
}

/// One stored secret.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSecret {
    /// Where it is.
    pub column: SecretColumn,
    /// The row's id.
    pub id: i64,
    /// A Fernet token, or for JSON columns the stored object (`{"_encrypted": …}`) as JSON.
    pub value: Value,
}

/// Every non-null secret, in a transaction; on PostgreSQL the rows stay locked until it ends, so
/// a secret changed meanwhile is not overwritten by its re-encrypted old value (SQLite's single
/// writer already excludes that).
pub async fn all(tx: &mut Tx) -> Result<Vec<StoredSecret>, StoreError> {
    let mut out = Vec::new();
    let lock = if tx.engine() == crate::Engine::Postgres { " FOR UPDATE" } else { "" };
    for column in SecretColumn::ALL {
        let (table, name, json) = column.location();
        let sql = format!("SELECT id, {name} FROM {table} WHERE {name} IS NOT NULL ORDER BY id{lock}");
        if json {
            let rows: Vec<(i64, Json<Value>)> = on_tx!(tx, c => sqlx::query_as(&sql).fetch_all(c).await)?;
            out.extend(rows.into_iter().map(|(id, v)| StoredSecret { column, id, value: v.0 }));
        } else {
            let rows: Vec<(i64, String)> = on_tx!(tx, c => sqlx::query_as(&sql).fetch_all(c).await)?;
            out.extend(rows.into_iter().map(|(id, v)| StoredSecret { column, id, value: Value::String(v) }));
        }
    }
    Ok(out)
}

/// Writes `secret.value` back to its row.
pub async fn rewrite(tx: &mut Tx, secret: &StoredSecret) -> Result<(), StoreError> {
    let (table, name, json) = secret.column.location();
    let sql = format!("UPDATE {table} SET {name} = $1 WHERE id = $2");
    if json {
        on_tx!(tx, c => sqlx::query(&sql).bind(Json(&secret.value)).bind(secret.id).execute(c).await.map(|_| ()))?;
    } else {
        let text = secret.value.as_str().unwrap_or_default();
        on_tx!(tx, c => sqlx::query(&sql).bind(text).bind(secret.id).execute(c).await.map(|_| ()))?;
    }
    Ok(())
}
