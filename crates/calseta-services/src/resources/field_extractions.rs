//! Field extractions: which fields of each provider's response are kept per indicator type — the
//! seeded system extractions (which may only be activated or deactivated) and custom ones, created
//! all-or-nothing in bulk. Every change reloads the provider registry.

use std::sync::Arc;

use calseta_core::indicators::IndicatorType;
use calseta_store::Db;
use calseta_store::enrichment_providers as repo;
use calseta_store::field_extractions::{
    self as extractions, ExtractionChanges, ExtractionFilter, ExtractionRow, NewExtraction,
};
use serde::Deserialize;
use uuid::Uuid;

use crate::pipeline::enrich::ProviderRegistry;
use crate::{FieldError, ServiceError};

/// The types an extracted value can be coerced to.
pub const VALUE_TYPES: [&str; 7] = ["string", "int", "float", "bool", "list", "dict", "any"];

#[derive(Deserialize)]
struct SeedExtraction {
    provider_name: String,
    indicator_type: String,
    source_path: String,
    target_key: String,
    value_type: String,
}

/// A unique-key violation as `DUPLICATE_EXTRACTION`, any other store error as it is.
fn duplicate_extraction(e: calseta_store::StoreError) -> ServiceError {
    if e.is_unique_violation() {
        ServiceError::conflict(
            "DUPLICATE_EXTRACTION",
            "An extraction for this provider, indicator type and source path already exists.",
        )
    } else {
        e.into()
    }
}

/// Field-extraction use cases.
pub struct FieldExtractionService {
    db: Db,
    registry: Arc<ProviderRegistry>,
}

impl FieldExtractionService {
    /// A service over `db` whose changes invalidate `registry`.
    pub fn new(db: Db, registry: Arc<ProviderRegistry>) -> Self {
        Self { db, registry }
    }

    fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.registry
    }

    /// Seeds the system field extractions of the builtin providers.
    pub async fn seed_system(&self) -> Result<(), ServiceError> {
        let rules: Vec<SeedExtraction> =
            serde_json::from_str(include_str!("../../seed/field_extractions.json"))
                .map_err(|e| ServiceError::Config(format!("embedded extraction seed is invalid: {e}")))?;
        let rules: Vec<NewExtraction> = rules
            .into_iter()
            .map(|r| NewExtraction {
                provider_name: r.provider_name,
                indicator_type: r.indicator_type,
                source_path: r.source_path,
                target_key: r.target_key,
                value_type: r.value_type,
                is_system: true,
                description: None,
            })
            .collect();
        extractions::seed_system_all(&self.db, &rules).await?;
        self.registry().invalidate();
        Ok(())
    }

    /// Lists extraction rules.
    pub async fn list_extractions(
        &self,
        filter: &ExtractionFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<ExtractionRow>, i64), ServiceError> {
        Ok(extractions::list(&self.db, filter, limit, offset).await?)
    }

    /// One rule.
    pub async fn get_extraction(&self, uuid: Uuid) -> Result<ExtractionRow, ServiceError> {
        extractions::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Field extraction not found.".into()))
    }

    /// Creates rules all-or-nothing.
    pub async fn create_extractions(
        &self,
        rules: Vec<NewExtraction>,
    ) -> Result<Vec<ExtractionRow>, ServiceError> {
        let mut errors = Vec::new();
        if rules.is_empty() || rules.len() > 100 {
            errors.push(FieldError::body("extractions", "between 1 and 100 extractions"));
        }
        for rule in &rules {
            if IndicatorType::parse(&rule.indicator_type).is_err() {
                errors.push(FieldError::body(
                    "indicator_type",
                    format!("'{}' is not an indicator type", rule.indicator_type),
                ));
            }
            if rule.source_path.trim().is_empty() {
                errors.push(FieldError::body("source_path", "source_path must not be empty"));
            }
            if rule.target_key.trim().is_empty() {
                errors.push(FieldError::body("target_key", "target_key must not be empty"));
            }
            if !VALUE_TYPES.contains(&rule.value_type.as_str()) {
                errors.push(FieldError::body(
                    "value_type",
                    format!("value_type must be one of {}", VALUE_TYPES.join(", ")),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        for rule in &rules {
            if repo::get_by_name(&self.db, &rule.provider_name).await?.is_none() {
                return Err(ServiceError::unprocessable(
                    "PROVIDER_NOT_FOUND",
                    format!("Provider '{}' does not exist.", rule.provider_name),
                ));
            }
        }
        let rows = extractions::insert_all(&self.db, &rules).await.map_err(duplicate_extraction)?;
        self.registry().invalidate();
        Ok(rows)
    }

    /// Changes a rule (system rules: only `is_active`).
    pub async fn patch_extraction(
        &self,
        uuid: Uuid,
        changes: ExtractionChanges,
    ) -> Result<ExtractionRow, ServiceError> {
        let current = self.get_extraction(uuid).await?;
        let touches_other = changes.source_path.is_some()
            || changes.target_key.is_some()
            || changes.value_type.is_some()
            || changes.description.is_some();
        if current.is_system && touches_other {
            return Err(ServiceError::forbidden(
                "SYSTEM_EXTRACTION_RESTRICTED",
                "System extractions can only be activated or deactivated.",
            ));
        }
        for (field, value) in [("source_path", &changes.source_path), ("target_key", &changes.target_key)] {
            if value.as_deref().is_some_and(|v| v.trim().is_empty()) {
                return Err(ServiceError::invalid(field, format!("{field} must not be empty")));
            }
        }
        if let Some(vt) = &changes.value_type
            && !VALUE_TYPES.contains(&vt.as_str())
        {
            return Err(ServiceError::invalid(
                "value_type",
                format!("value_type must be one of {}", VALUE_TYPES.join(", ")),
            ));
        }
        let row = extractions::update(&self.db, uuid, &changes).await.map_err(duplicate_extraction)?;
        self.registry().invalidate();
        row.ok_or_else(|| ServiceError::NotFound("Field extraction not found.".into()))
    }

    /// Deletes a custom rule.
    pub async fn delete_extraction(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if self.get_extraction(uuid).await?.is_system {
            return Err(ServiceError::forbidden(
                "SYSTEM_EXTRACTION_RESTRICTED",
                "System extractions cannot be deleted. Set is_active=false to disable.",
            ));
        }
        extractions::delete(&self.db, uuid).await?;
        self.registry().invalidate();
        Ok(())
    }
}
