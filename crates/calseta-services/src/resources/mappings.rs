//! Indicator field mappings: the seeded system mappings, CRUD and the extraction dry run. The
//! rule set the extraction passes use is the extract stage's [`MappingRules`]; every change made
//! here invalidates it.

use std::sync::Arc;
use std::time::Instant;

use calseta_core::decoders::Decoder;
use calseta_core::extraction::{self, SOURCE_TEXT_FIELDS, TARGET_FREE_TEXT, TARGET_NORMALIZED, TARGETS};
use calseta_core::indicators::IndicatorType;
use calseta_core::sources::{self, DocumentedField};
use calseta_store::Db;
use calseta_store::mappings::{self as repo, MappingChanges, MappingFilter, MappingRow, NewMapping};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::pipeline::extract::MappingRules;
use crate::{FieldError, ServiceError};

#[derive(Deserialize)]
struct SeedMapping {
    field_path: String,
    indicator_type: String,
    description: String,
}

/// Mapping use cases.
pub struct MappingService {
    db: Db,
    rules: Arc<MappingRules>,
}

/// A new mapping (unvalidated).
#[derive(Debug, Clone)]
pub struct MappingInput {
    /// Only this source (`None`: every source).
    pub source_name: Option<String>,
    /// Normalized field name or raw-payload path.
    pub field_path: String,
    /// The type of what is found there.
    pub indicator_type: String,
    /// `normalized` or `raw_payload`.
    pub extraction_target: String,
    /// Whether extraction uses it.
    pub is_active: bool,
    /// Notes.
    pub description: Option<String>,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Indicator mapping not found.".into())
}

fn readonly() -> ServiceError {
    ServiceError::Unprocessable {
        code: "SYSTEM_MAPPING_READONLY",
        message: "System mappings cannot be deleted or have their field_path changed; set is_active=false to disable."
            .into(),
    }
}

fn validate_path(field_path: &str, target: &str, errors: &mut Vec<FieldError>) {
    let trimmed = field_path.trim();
    if trimmed.is_empty() || trimmed.len() > 500 {
        errors.push(FieldError::body("field_path", "field_path must be 1 to 500 characters"));
    } else if trimmed == SOURCE_TEXT_FIELDS {
        if target != TARGET_FREE_TEXT {
            errors.push(FieldError::body(
                "field_path",
                "'*' (the source's own free-text fields) is a free_text path",
            ));
        }
    } else if let Some(name) = trimmed.strip_prefix('@') {
        // `@<decoder>`: the switch of one of pass 4's decoders.
        if target != TARGET_FREE_TEXT {
            errors.push(FieldError::body(
                "field_path",
                "'@<decoder>' (a decoder's switch) is a free_text path",
            ));
        } else if Decoder::parse(name).is_err() {
            let known: Vec<String> = Decoder::ALL.iter().map(|d| d.switch()).collect();
            errors.push(FieldError::body(
                "field_path",
                format!("'{trimmed}' is not a decoder's switch; one of {}", known.join(", ")),
            ));
        }
    } else if target != TARGET_NORMALIZED && trimmed.split('.').any(|s| s.trim_end_matches("[]").is_empty()) {
        errors.push(FieldError::body("field_path", "field_path segments must not be empty (e.g. a.b[].c)"));
    }
}

impl MappingService {
    /// A service over `db`; its changes invalidate `rules`.
    pub fn new(db: Db, rules: Arc<MappingRules>) -> Self {
        Self { db, rules }
    }

    /// Seeds the 14 system normalized-field mappings (rows already present, edited or not, stay).
    pub async fn seed_system(&self) -> Result<usize, ServiceError> {
        let seeds: Vec<SeedMapping> =
            serde_json::from_str(include_str!("../../seed/indicator_mappings.json"))
                .map_err(|e| ServiceError::Config(format!("embedded mapping seed is invalid: {e}")))?;
        let mut created = 0;
        for seed in seeds {
            let new = NewMapping {
                source_name: None,
                field_path: seed.field_path,
                indicator_type: seed.indicator_type,
                extraction_target: TARGET_NORMALIZED.into(),
                is_active: true,
                is_system: true,
                description: Some(seed.description),
            };
            if repo::seed_system(&self.db, &new).await? {
                created += 1;
            }
        }
        self.invalidate();
        Ok(created)
    }

    fn invalidate(&self) {
        self.rules.invalidate();
    }

    /// Lists mappings, oldest first.
    pub async fn list(
        &self,
        filter: &MappingFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<MappingRow>, i64), ServiceError> {
        Ok(repo::list(&self.db, filter, limit, offset).await?)
    }

    /// One mapping.
    pub async fn get(&self, uuid: Uuid) -> Result<MappingRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(not_found)
    }

    /// Creates a custom mapping.
    pub async fn create(&self, input: MappingInput) -> Result<MappingRow, ServiceError> {
        let mut errors = Vec::new();
        if IndicatorType::parse(&input.indicator_type).is_err() {
            errors.push(FieldError::body(
                "indicator_type",
                format!("must be one of {}", IndicatorType::names().join(", ")),
            ));
        }
        if !TARGETS.contains(&input.extraction_target.as_str()) {
            errors.push(FieldError::body(
                "extraction_target",
                "must be 'normalized', 'raw_payload' or 'free_text'",
            ));
        }
        if let Some(source) = &input.source_name
            && sources::find(source).is_none()
        {
            errors.push(FieldError::body("source_name", format!("'{source}' is not a registered source")));
        }
        validate_path(&input.field_path, &input.extraction_target, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let row = repo::insert(
            &self.db,
            &NewMapping {
                source_name: input.source_name,
                field_path: input.field_path.trim().to_string(),
                indicator_type: input.indicator_type,
                extraction_target: input.extraction_target,
                is_active: input.is_active,
                is_system: false,
                description: input.description,
            },
        )
        .await?;
        self.invalidate();
        Ok(row)
    }

    /// Changes a mapping (system mappings keep their `field_path`).
    pub async fn patch(&self, uuid: Uuid, changes: MappingChanges) -> Result<MappingRow, ServiceError> {
        let current = self.get(uuid).await?;
        if current.is_system && changes.field_path.is_some() {
            return Err(readonly());
        }
        let mut errors = Vec::new();
        if let Some(kind) = &changes.indicator_type
            && IndicatorType::parse(kind).is_err()
        {
            errors.push(FieldError::body(
                "indicator_type",
                format!("must be one of {}", IndicatorType::names().join(", ")),
            ));
        }
        if let Some(path) = &changes.field_path {
            validate_path(path, &current.extraction_target, &mut errors);
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let row = repo::update(&self.db, uuid, &changes).await?.ok_or_else(not_found)?;
        self.invalidate();
        Ok(row)
    }

    /// Deletes a custom mapping.
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if self.get(uuid).await?.is_system {
            return Err(readonly());
        }
        repo::delete(&self.db, uuid).await?;
        self.invalidate();
        Ok(())
    }

    /// The pass-1 fields of every source, mapping-shaped.
    pub fn source_plugin_fields() -> Vec<(&'static str, DocumentedField)> {
        sources::registry()
            .into_iter()
            .flat_map(|s| s.documented_extractions().into_iter().map(move |f| (s.name(), f)))
            .collect()
    }

    /// The dry run: all four passes against the current (database) mappings, as REST answers it.
    pub async fn test_extraction(&self, source_name: &str, raw: &Value) -> Result<Value, ServiceError> {
        let run = self.dry_run(source_name, raw).await?;
        Ok(json!({
            "success": true,
            "source_name": run.source_name,
            "passes": run.extraction.passes,
            "deduplicated": run.extraction.indicators,
            "deduplicated_count": run.extraction.indicators.len(),
            "normalization_preview": run.normalization_preview,
            "error_message": null,
            "duration_ms": run.duration_ms,
        }))
    }

    /// The dry run's findings, typed: every pass's indicators and refusals, and the de-duplicated
    /// indicators, each with the field and the pass that found it (REST's `test_extraction` is
    /// this, as JSON).
    pub async fn dry_run(&self, source_name: &str, raw: &Value) -> Result<DryRun, ServiceError> {
        let started = Instant::now();
        let source = sources::find(source_name).ok_or_else(|| ServiceError::Unprocessable {
            code: "UNKNOWN_SOURCE",
            message: format!("Alert source '{source_name}' is not registered."),
        })?;
        if !source.validate(raw) {
            return Err(ServiceError::Unprocessable {
                code: "INVALID_PAYLOAD",
                message: format!("Payload does not match expected structure for source '{source_name}'."),
            });
        }
        let rules = self.rules.load().await?;
        let alert = source.normalize(raw, calseta_store::now());
        let extraction = extraction::extract(source, raw, &alert, &rules, true);
        Ok(DryRun {
            source_name: source_name.to_string(),
            extraction,
            normalization_preview: alert,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// A pasted payload read as JSON, refused as REST refuses a body that is not JSON (the same
    /// `JSON decode error: …` message), at `field`.
    pub fn parse_payload(text: &str, field: &str) -> Result<Value, ServiceError> {
        serde_json::from_str(text).map_err(|e| {
            ServiceError::Invalid(vec![FieldError {
                loc: vec!["body".into(), field.into()],
                msg: crate::error::json_decode_message(&e),
                kind: "json_invalid".into(),
            }])
        })
    }

    /// The registered source names, in registry order (what `source_name` accepts).
    pub fn source_names() -> Vec<&'static str> {
        sources::registry().into_iter().map(|s| s.name()).collect()
    }
}

/// What a dry run found (see [`MappingService::dry_run`]).
#[derive(Debug, Clone)]
pub struct DryRun {
    /// The source the payload was read as.
    pub source_name: String,
    /// Per pass, and de-duplicated (each indicator with its `source_field` and `pass`).
    pub extraction: extraction::Extraction,
    /// The alert the source plugin normalized the payload into.
    pub normalization_preview: sources::NormalizedAlert,
    /// How long it took.
    pub duration_ms: f64,
}
