//! Alert source integrations: which sources are set up, with encrypted credentials and notes,
//! and the webhook signing secret an integration may hold (`auth_config.webhook_secret`), which
//! ingest checks signatures with in preference to the `<SOURCE>_WEBHOOK_SECRET` environment
//! variable — so a secret can be set and rotated without restarting the server.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calseta_core::sources::{self, SignatureScheme};
use calseta_store::Db;
use calseta_store::sources::{self as repo, SourceRow};
use rand::RngCore;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::platform::cache::TtlCache;
use crate::platform::crypto::EncryptionKey;
use crate::resources::body;
use crate::{FieldError, ServiceError};

/// The `auth_config` field of a source integration holding its webhook signing secret.
pub const WEBHOOK_SECRET_FIELD: &str = "webhook_secret";
/// The longest webhook signing secret accepted.
const MAX_SECRET_CHARS: usize = 1024;
/// How long a stored secret is served from memory: bounds how long a secret rotated through
/// another process keeps verifying here (a change in this process applies at once).
const SECRET_CACHE_TTL: Duration = Duration::from_secs(5);

/// The URL a SIEM posts `source_name`'s alerts to, under the configured public base URL
/// (`CALSETA_API_BASE_URL`, the one agent payloads link to).
pub fn webhook_url(api_base_url: &str, source_name: &str) -> String {
    format!("{}/v1/ingest/{source_name}", api_base_url.trim_end_matches('/'))
}

/// A new random webhook signing secret (32 bytes, URL-safe base64).
pub fn generate_webhook_secret() -> String {
    let mut random = [0u8; 32];
    rand::rng().fill_bytes(&mut random);
    URL_SAFE_NO_PAD.encode(random)
}

/// The environment variable that holds `source_name`'s signing secret when none is stored.
pub fn webhook_secret_env_var(source_name: &str) -> String {
    format!("{}_WEBHOOK_SECRET", source_name.to_uppercase())
}

/// Source-integration use cases.
pub struct SourceService {
    db: Db,
    key: EncryptionKey,
    /// Stored signing secrets by source name (`None`: none stored).
    secrets: TtlCache<String, Option<String>>,
}

impl SourceService {
    /// A service over `db`, encrypting credentials with `key`.
    pub fn new(db: Db, key: EncryptionKey) -> Self {
        Self { db, key, secrets: TtlCache::new(SECRET_CACHE_TTL, 64) }
    }

    /// The signing secret stored for `source_name`: that of its newest active integration holding
    /// one, or `None`.
    pub async fn stored_webhook_secret(&self, source_name: &str) -> Result<Option<String>, ServiceError> {
        self.secrets
            .get_or_load(source_name.to_string(), || async {
                let rows = repo::list(&self.db).await?;
                Ok::<_, ServiceError>(
                    rows.iter()
                        .filter(|row| row.is_active && row.source_name == source_name)
                        .find_map(|row| self.secret_of(row)),
                )
            })
            .await
    }

    /// The signing secret `row` holds, decrypted.
    fn secret_of(&self, row: &SourceRow) -> Option<String> {
        let config = self.key.decrypt_json(&row.auth_config.as_ref()?.0)?;
        config.get(WEBHOOK_SECRET_FIELD)?.as_str().filter(|s| !s.is_empty()).map(str::to_string)
    }

    /// Whether `row` holds a signing secret (never the secret itself).
    pub fn has_webhook_secret(&self, row: &SourceRow) -> bool {
        self.secret_of(row).is_some()
    }

    /// Sets (`Some`) or removes (`None`) the signing secret of integration `uuid`, keeping the rest
    /// of its `auth_config`; saved as `PATCH /v1/sources/{uuid}` saves `auth_config`.
    pub async fn set_webhook_secret(
        &self,
        uuid: Uuid,
        secret: Option<&str>,
    ) -> Result<SourceRow, ServiceError> {
        let row = self.get(uuid).await?;
        let signs = sources::find(&row.source_name).is_some_and(|s| s.signature() != SignatureScheme::None);
        if !signs {
            return Err(ServiceError::refused(
                "SIGNATURE_NOT_SUPPORTED",
                format!(
                    "Source '{}' does not sign its webhooks: its API key authenticates them.",
                    row.source_name
                ),
            ));
        }
        let mut config = match row.auth_config.as_ref().and_then(|c| self.key.decrypt_json(&c.0)) {
            Some(Value::Object(map)) => map,
            _ => Map::new(),
        };
        match secret.map(str::trim) {
            Some(secret) if secret.is_empty() || secret.chars().count() > MAX_SECRET_CHARS => {
                return Err(ServiceError::invalid(
                    WEBHOOK_SECRET_FIELD,
                    format!("webhook_secret must be 1 to {MAX_SECRET_CHARS} characters"),
                ));
            }
            Some(secret) => {
                config.insert(WEBHOOK_SECRET_FIELD.into(), Value::String(secret.to_string()));
            }
            None => {
                config.remove(WEBHOOK_SECRET_FIELD);
            }
        }
        let auth_config = if config.is_empty() { Value::Null } else { Value::Object(config) };
        let mut input = Map::new();
        input.insert("auth_config".into(), auth_config);
        self.save(Some(uuid), input).await
    }

    /// Source integrations, newest first.
    pub async fn list(&self) -> Result<Vec<SourceRow>, ServiceError> {
        Ok(repo::list(&self.db).await?)
    }

    /// One source integration.
    pub async fn get(&self, uuid: Uuid) -> Result<SourceRow, ServiceError> {
        repo::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Source integration not found.".into()))
    }

    /// Creates or changes a source integration from the fields in `input`.
    pub async fn save(
        &self,
        uuid: Option<Uuid>,
        input: Map<String, Value>,
    ) -> Result<SourceRow, ServiceError> {
        let existing = match uuid {
            Some(uuid) => Some(self.get(uuid).await?),
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
            let mut text = || body::text(key, value, &mut errors);
            match key.as_str() {
                "source_name" if existing.is_none() => row.source_name = text().unwrap_or_default(),
                "display_name" => row.display_name = text().unwrap_or_default(),
                "is_active" => row.is_active = body::flag(key, value, &mut errors).unwrap_or(row.is_active),
                "auth_type" => row.auth_type = text(),
                "documentation" => row.documentation = text(),
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
            return Err(ServiceError::Refused {
                code: "INVALID_SOURCE",
                message: format!("'{}' is not a registered source plugin.", row.source_name),
            });
        }
        if row.display_name.trim().is_empty() || row.display_name.chars().count() > 255 {
            errors.push(FieldError::body("display_name", "display_name must be 1 to 255 characters"));
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let saved = repo::save(&self.db, existing.map(|e| e.id), &row).await?;
        self.secrets.clear();
        Ok(saved)
    }

    /// Deletes a source integration.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if repo::delete(&self.db, uuid).await? {
            self.secrets.clear();
            Ok(())
        } else {
            Err(ServiceError::NotFound("Source integration not found.".into()))
        }
    }
}
