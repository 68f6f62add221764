//! Alert source integrations: which sources are set up, with encrypted credentials and notes.

use calseta_core::sources;
use calseta_store::Db;
use calseta_store::sources::{self as repo, SourceRow};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::platform::crypto::EncryptionKey;
use crate::resources::body;
use crate::{FieldError, ServiceError};

/// Source-integration use cases.
pub struct SourceService {
    db: Db,
    key: EncryptionKey,
}

impl SourceService {
    /// A service over `db`, encrypting credentials with `key`.
    pub fn new(db: Db, key: EncryptionKey) -> Self {
        Self { db, key }
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
        Ok(repo::save(&self.db, existing.map(|e| e.id), &row).await?)
    }

    /// Deletes a source integration.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if repo::delete(&self.db, uuid).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Source integration not found.".into()))
        }
    }
}
