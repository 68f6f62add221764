//! The `enrichment_providers` table.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::types::Json;
use uuid::Uuid;

use crate::sql::{Arg, Params};
use crate::{Db, StoreError};

const COLUMNS: &str = "id, uuid, provider_name, display_name, description, is_builtin, is_active, \
    supported_indicator_types, http_config, auth_type, auth_config, env_var_mapping, default_cache_ttl_seconds, \
    cache_ttl_by_type, malice_rules, mock_responses, rate_limit_per_minute, max_concurrency, allow_private_network, \
    private_network_hosts, created_at, updated_at";

/// A stored provider.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderRow {
    pub id: i64,
    pub uuid: Uuid,
    pub provider_name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_builtin: bool,
    pub is_active: bool,
    pub supported_indicator_types: Json<Vec<String>>,
    pub http_config: Json<Value>,
    pub auth_type: String,
    /// `{"_encrypted": "<fernet>"}`.
    pub auth_config: Option<Json<Value>>,
    pub env_var_mapping: Option<Json<Value>>,
    pub default_cache_ttl_seconds: i32,
    pub cache_ttl_by_type: Option<Json<Value>>,
    pub malice_rules: Option<Json<Value>>,
    pub mock_responses: Option<Json<Value>>,
    pub rate_limit_per_minute: Option<i32>,
    pub max_concurrency: i32,
    pub allow_private_network: bool,
    /// `host` or `host:port` entries the allowance is narrowed to (empty: every private address).
    pub private_network_hosts: Json<Vec<String>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Every writable field of a provider.
#[derive(Debug, Clone)]
pub struct ProviderFields {
    pub provider_name: String,
    pub display_name: String,
    pub description: Option<String>,
    pub is_builtin: bool,
    pub is_active: bool,
    pub supported_indicator_types: Vec<String>,
    pub http_config: Value,
    pub auth_type: String,
    pub auth_config: Option<Value>,
    pub env_var_mapping: Option<Value>,
    pub default_cache_ttl_seconds: i32,
    pub cache_ttl_by_type: Option<Value>,
    pub malice_rules: Option<Value>,
    pub mock_responses: Option<Value>,
    pub rate_limit_per_minute: Option<i32>,
    pub max_concurrency: i32,
    pub allow_private_network: bool,
    pub private_network_hosts: Vec<String>,
}

impl From<ProviderRow> for ProviderFields {
    fn from(r: ProviderRow) -> Self {
        ProviderFields {
            provider_name: r.provider_name,
            display_name: r.display_name,
            description: r.description,
            is_builtin: r.is_builtin,
            is_active: r.is_active,
            supported_indicator_types: r.supported_indicator_types.0,
            http_config: r.http_config.0,
            auth_type: r.auth_type,
            auth_config: r.auth_config.map(|j| j.0),
            env_var_mapping: r.env_var_mapping.map(|j| j.0),
            default_cache_ttl_seconds: r.default_cache_ttl_seconds,
            cache_ttl_by_type: r.cache_ttl_by_type.map(|j| j.0),
            malice_rules: r.malice_rules.map(|j| j.0),
            mock_responses: r.mock_responses.map(|j| j.0),
            rate_limit_per_minute: r.rate_limit_per_minute,
            max_concurrency: r.max_concurrency,
            allow_private_network: r.allow_private_network,
            private_network_hosts: r.private_network_hosts.0,
        }
    }
}

/// Inserts a provider.
pub async fn insert(db: &Db, f: &ProviderFields) -> Result<ProviderRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "INSERT INTO enrichment_providers (uuid, provider_name, display_name, description, is_builtin, is_active, \
         supported_indicator_types, http_config, auth_type, auth_config, env_var_mapping, default_cache_ttl_seconds, \
         cache_ttl_by_type, malice_rules, mock_responses, rate_limit_per_minute, max_concurrency, allow_private_network, \
         created_at, updated_at, private_network_hosts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $19, $20) \
         RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, ProviderRow>(&sql)
        .bind(Uuid::now_v7())
        .bind(&f.provider_name)
        .bind(&f.display_name)
        .bind(&f.description)
        .bind(f.is_builtin)
        .bind(f.is_active)
        .bind(Json(&f.supported_indicator_types))
        .bind(Json(&f.http_config))
        .bind(&f.auth_type)
        .bind(f.auth_config.as_ref().map(Json))
        .bind(f.env_var_mapping.as_ref().map(Json))
        .bind(f.default_cache_ttl_seconds)
        .bind(f.cache_ttl_by_type.as_ref().map(Json))
        .bind(f.malice_rules.as_ref().map(Json))
        .bind(f.mock_responses.as_ref().map(Json))
        .bind(f.rate_limit_per_minute)
        .bind(f.max_concurrency)
        .bind(f.allow_private_network)
        .bind(now)
        .bind(Json(&f.private_network_hosts))
        .fetch_one(p)
        .await)?)
}

/// Replaces every writable field of provider `id`.
pub async fn update(db: &Db, id: i64, f: &ProviderFields) -> Result<ProviderRow, StoreError> {
    let now = crate::now();
    let sql = format!(
        "UPDATE enrichment_providers SET display_name = $2, description = $3, is_active = $4, supported_indicator_types = $5, \
         http_config = $6, auth_type = $7, auth_config = $8, env_var_mapping = $9, default_cache_ttl_seconds = $10, \
         cache_ttl_by_type = $11, malice_rules = $12, mock_responses = $13, rate_limit_per_minute = $14, \
         max_concurrency = $15, allow_private_network = $16, updated_at = $17, private_network_hosts = $18 \
         WHERE id = $1 RETURNING {COLUMNS}"
    );
    Ok(on_write!(db, p => sqlx::query_as::<_, ProviderRow>(&sql)
        .bind(id)
        .bind(&f.display_name)
        .bind(&f.description)
        .bind(f.is_active)
        .bind(Json(&f.supported_indicator_types))
        .bind(Json(&f.http_config))
        .bind(&f.auth_type)
        .bind(f.auth_config.as_ref().map(Json))
        .bind(f.env_var_mapping.as_ref().map(Json))
        .bind(f.default_cache_ttl_seconds)
        .bind(f.cache_ttl_by_type.as_ref().map(Json))
        .bind(f.malice_rules.as_ref().map(Json))
        .bind(f.mock_responses.as_ref().map(Json))
        .bind(f.rate_limit_per_minute)
        .bind(f.max_concurrency)
        .bind(f.allow_private_network)
        .bind(now)
        .bind(Json(&f.private_network_hosts))
        .fetch_one(p)
        .await)?)
}

/// Providers, oldest first, optionally filtered.
pub async fn list(
    db: &Db,
    is_active: Option<bool>,
    is_builtin: Option<bool>,
) -> Result<Vec<ProviderRow>, StoreError> {
    let mut b = Params::default();
    let mut clauses = Vec::new();
    if let Some(v) = is_active {
        clauses.push(format!("is_active = {}", b.arg(Arg::Bool(v))));
    }
    if let Some(v) = is_builtin {
        clauses.push(format!("is_builtin = {}", b.arg(Arg::Bool(v))));
    }
    let where_sql =
        if clauses.is_empty() { String::new() } else { format!("WHERE {}", clauses.join(" AND ")) };
    let sql = format!("SELECT {COLUMNS} FROM enrichment_providers {where_sql} ORDER BY created_at, id");
    Ok(
        on_pool!(db.read_pool(), p => bind_args!(sqlx::query_as::<_, ProviderRow>(&sql), &b.args).fetch_all(p).await)?,
    )
}

/// A provider by public id.
pub async fn get(db: &Db, uuid: Uuid) -> Result<Option<ProviderRow>, StoreError> {
    crate::sql::by_uuid(db, "enrichment_providers", COLUMNS, uuid).await
}

/// A provider by name.
pub async fn get_by_name(db: &Db, name: &str) -> Result<Option<ProviderRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM enrichment_providers WHERE provider_name = $1");
    Ok(
        on_pool!(db.read_pool(), p => sqlx::query_as::<_, ProviderRow>(&sql).bind(name).fetch_optional(p).await)?,
    )
}

/// Deletes a provider and its custom field extractions; `false` if absent.
pub async fn delete(db: &Db, uuid: Uuid) -> Result<bool, StoreError> {
    let mut tx = db.begin().await?;
    let name: Option<String> = on_tx!(tx, c => sqlx::query_scalar("SELECT provider_name FROM enrichment_providers WHERE uuid = $1")
        .bind(uuid)
        .fetch_optional(c)
        .await)?;
    let Some(name) = name else { return Ok(false) };
    on_tx!(tx, c => sqlx::query("DELETE FROM enrichment_field_extractions WHERE provider_name = $1 AND is_system = FALSE")
        .bind(&name)
        .execute(c)
        .await
        .map(|_| ()))?;
    on_tx!(tx, c => sqlx::query("DELETE FROM enrichment_providers WHERE uuid = $1").bind(uuid).execute(c).await.map(|_| ()))?;
    tx.commit().await?;
    Ok(true)
}

/// Seeds or refreshes a builtin in one statement (safe when several processes start at once): a
/// new row is inserted whole; an existing builtin only gets its `http_config` and `mock_responses`
/// refreshed (admins' activation, credentials, rules, TTLs and limits stay).
pub async fn seed_builtin(db: &Db, f: &ProviderFields) -> Result<(), StoreError> {
    let now = crate::now();
    on_write!(db, p => sqlx::query(
        "INSERT INTO enrichment_providers (uuid, provider_name, display_name, description, is_builtin, is_active, \
         supported_indicator_types, http_config, auth_type, auth_config, env_var_mapping, default_cache_ttl_seconds, \
         cache_ttl_by_type, malice_rules, mock_responses, rate_limit_per_minute, max_concurrency, allow_private_network, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, TRUE, TRUE, $5, $6, $7, NULL, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16) \
         ON CONFLICT (provider_name) DO UPDATE SET http_config = excluded.http_config, \
         mock_responses = excluded.mock_responses, updated_at = excluded.updated_at \
         WHERE enrichment_providers.is_builtin = TRUE",
    )
    .bind(Uuid::now_v7())
    .bind(&f.provider_name)
    .bind(&f.display_name)
    .bind(&f.description)
    .bind(Json(&f.supported_indicator_types))
    .bind(Json(&f.http_config))
    .bind(&f.auth_type)
    .bind(f.env_var_mapping.as_ref().map(Json))
    .bind(f.default_cache_ttl_seconds)
    .bind(f.cache_ttl_by_type.as_ref().map(Json))
    .bind(f.malice_rules.as_ref().map(Json))
    .bind(f.mock_responses.as_ref().map(Json))
    .bind(f.rate_limit_per_minute)
    .bind(f.max_concurrency)
    .bind(f.allow_private_network)
    .bind(now)
    .execute(p)
    .await
    .map(|_| ()))?;
    Ok(())
}

/// What decides whether an active provider has credentials.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProviderCredentialState {
    /// Unique provider name.
    pub provider_name: String,
    /// `no_auth`, `api_key`, …
    pub auth_type: String,
    /// Whether encrypted credentials are stored.
    pub has_auth_config: bool,
    /// Whether mock responses are seeded.
    pub has_mock_responses: bool,
    /// `{auth_field: ENV_VAR_NAME}` fallbacks.
    pub env_var_mapping: Option<Json<Value>>,
}

/// Credential state of every active provider, by name.
pub async fn active_credential_states(db: &Db) -> Result<Vec<ProviderCredentialState>, StoreError> {
    let rows = on_pool!(db.read_pool(), p => sqlx::query_as::<_, ProviderCredentialState>(
        "SELECT provider_name, auth_type, (auth_config IS NOT NULL) AS has_auth_config, \
         (mock_responses IS NOT NULL) AS has_mock_responses, env_var_mapping \
         FROM enrichment_providers WHERE is_active = TRUE ORDER BY provider_name",
    )
    .fetch_all(p)
    .await)?;
    Ok(rows)
}
