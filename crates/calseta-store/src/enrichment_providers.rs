//! The `enrichment_providers` table (the parts the foundation reads; CRUD arrives with enrichment).

use serde_json::Value;
use sqlx::types::Json;

use crate::{Db, StoreError};

/// What decides whether an active provider has credentials.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderCredentialState {
    /// Unique provider name.
    pub provider_name: String,
    /// `no_auth`, `api_key`, …
    pub auth_type: String,
    /// Whether encrypted credentials are stored.
    pub has_auth_config: bool,
    /// `{auth_field: ENV_VAR_NAME}` fallbacks.
    pub env_var_mapping: Option<Json<Value>>,
}

/// Credential state of every active provider, by name.
pub async fn active_credential_states(db: &Db) -> Result<Vec<ProviderCredentialState>, StoreError> {
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, ProviderCredentialState>(
        "SELECT provider_name, auth_type, (auth_config IS NOT NULL) AS has_auth_config, env_var_mapping \
         FROM enrichment_providers WHERE is_active = TRUE ORDER BY provider_name",
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
