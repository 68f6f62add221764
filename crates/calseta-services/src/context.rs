//! The organisation's knowledge attached to alerts: detection rules, context documents chosen by
//! targeting rules, and past alerts that share indicators.
//!
//! Document targeting is evaluated in memory over a small per-process index (id, global flag,
//! type, rules — refreshed every 2 s and on local changes); only matching documents' content is
//! loaded, so an alert read costs in proportion to its matches, not to the library.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calseta_core::enrichment::gate;
use calseta_core::indicators::IndicatorType;
use calseta_core::targeting::{self, AlertFacts};
use calseta_store::Db;
use calseta_store::alerts::{self as alerts_repo, AlertRow};
use calseta_store::context_documents::{
    self as docs, DocumentFields, DocumentFilter, DocumentRow, TargetingRow,
};
use calseta_store::detection_rules::{self as rules, DetectionRuleRow, RuleFields, RuleFilter};
use calseta_store::indicators::IndicatorRow;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{FieldError, ServiceError};

/// Document types (v1's set).
pub const DOCUMENT_TYPES: [&str; 6] = ["runbook", "ir_plan", "sop", "playbook", "detection_guide", "other"];
const TARGETING_TTL: Duration = Duration::from_secs(2);
const MAX_TARGETING_BYTES: usize = 64 * 1024;
/// Past alerts listed per alert.
pub const PAST_ALERTS_LIMIT: i64 = 10;

type TargetingIndex = Option<(Instant, Arc<Vec<TargetingRow>>)>;

/// An alert that shares enrichable indicators with another (DESIGN §9.6).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PastAlert {
    pub uuid: Uuid,
    pub title: String,
    pub status: String,
    pub close_classification: Option<String>,
    pub closed_at: Option<chrono::DateTime<chrono::Utc>>,
    pub occurred_at: chrono::DateTime<chrono::Utc>,
    /// The shared indicators, as `type:value` objects.
    pub indicators: Vec<Value>,
    /// `close_notes`, else the latest finding's summary.
    pub analyst_notes: Option<String>,
}

/// Context use cases.
pub struct ContextService {
    db: Db,
    index: Mutex<TargetingIndex>,
    converter: std::path::PathBuf,
}

fn rejected_validation(errors: Vec<FieldError>) -> Result<(), ServiceError> {
    if errors.is_empty() { Ok(()) } else { Err(ServiceError::Validation(errors)) }
}

fn check_targeting(value: &Value, errors: &mut Vec<FieldError>) {
    if value.to_string().len() > MAX_TARGETING_BYTES {
        errors.push(FieldError::body("targeting_rules", "targeting_rules is larger than 64 KB"));
        return;
    }
    let problems = targeting::validate(value);
    if !problems.is_empty() {
        errors.push(FieldError::body("targeting_rules", problems.join("; ")));
    }
}

fn check_lists(name: &str, values: &[String], errors: &mut Vec<FieldError>) {
    if values.iter().any(|v| v.trim().is_empty() || v.chars().count() > 255) {
        errors.push(FieldError::body(name, format!("{name} entries must be 1 to 255 characters")));
    }
}

impl ContextService {
    /// A service over `db`.
    pub fn new(db: Db, converter: std::path::PathBuf) -> Self {
        Self { db, index: Mutex::new(None), converter }
    }

    /// Creates a document from an uploaded file, converted to Markdown in an isolated child
    /// process (`UNSUPPORTED_FORMAT` for other formats and for files that cannot be read).
    pub async fn create_document_from_file(
        &self,
        mut fields: DocumentFields,
        filename: &str,
        bytes: &[u8],
    ) -> Result<DocumentRow, ServiceError> {
        let format = crate::documents::format_of(filename).ok_or_else(|| ServiceError::Rejected {
            status: 422,
            code: "UNSUPPORTED_FORMAT",
            message: format!("'{filename}' is not a supported format (md, txt, html, pdf, docx)."),
        })?;
        fields.content = crate::documents::convert_isolated(&self.converter, format, bytes).await?;
        if fields.content.trim().is_empty() {
            return Err(ServiceError::Rejected {
                status: 422,
                code: "UNSUPPORTED_FORMAT",
                message: format!("No text could be read from '{filename}'."),
            });
        }
        self.create_document(fields).await
    }

    fn invalidate(&self) {
        if let Ok(mut index) = self.index.lock() {
            *index = None;
        }
    }

    async fn targeting_index(&self) -> Result<Arc<Vec<TargetingRow>>, ServiceError> {
        if let Ok(index) = self.index.lock()
            && let Some((at, rows)) = index.as_ref()
            && at.elapsed() < TARGETING_TTL
        {
            return Ok(rows.clone());
        }
        let rows = Arc::new(docs::targeting(&self.db).await?);
        if let Ok(mut index) = self.index.lock() {
            *index = Some((Instant::now(), rows.clone()));
        }
        Ok(rows)
    }

    // Detection rules.

    /// A page of rules.
    pub async fn list_rules(
        &self,
        filter: &RuleFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DetectionRuleRow>, i64), ServiceError> {
        Ok(rules::list(&self.db, filter, limit, offset).await?)
    }

    /// One rule.
    pub async fn get_rule(&self, uuid: Uuid) -> Result<DetectionRuleRow, ServiceError> {
        rules::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Detection rule not found.".into()))
    }

    fn check_rule(f: &RuleFields) -> Result<(), ServiceError> {
        let mut errors = Vec::new();
        if f.name.trim().is_empty() || f.name.chars().count() > 500 {
            errors.push(FieldError::body("name", "name must be 1 to 500 characters"));
        }
        for (name, list) in [
            ("mitre_tactics", &f.mitre_tactics),
            ("mitre_techniques", &f.mitre_techniques),
            ("mitre_subtechniques", &f.mitre_subtechniques),
            ("data_sources", &f.data_sources),
        ] {
            check_lists(name, list, &mut errors);
        }
        rejected_validation(errors)
    }

    /// Creates a rule.
    pub async fn create_rule(&self, fields: RuleFields) -> Result<DetectionRuleRow, ServiceError> {
        Self::check_rule(&fields)?;
        rules::insert(&self.db, &fields).await.map_err(|e| {
            if e.is_unique_violation() {
                ServiceError::Rejected {
                    status: 409,
                    code: "DUPLICATE_DETECTION_RULE",
                    message: "A detection rule with this source_name and source_rule_id already exists."
                        .into(),
                }
            } else {
                e.into()
            }
        })
    }

    /// Applies `change` to the rule's editable fields (stub rules from ingest are enriched in place).
    pub async fn patch_rule(
        &self,
        uuid: Uuid,
        change: impl FnOnce(&mut RuleFields),
    ) -> Result<DetectionRuleRow, ServiceError> {
        let current = self.get_rule(uuid).await?;
        let id = current.id;
        let mut fields = RuleFields::from(current);
        change(&mut fields);
        Self::check_rule(&fields)?;
        Ok(rules::update(&self.db, id, &fields).await?)
    }

    /// Deletes a rule.
    pub async fn delete_rule(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if rules::delete(&self.db, uuid).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound("Detection rule not found.".into()))
        }
    }

    // Context documents.

    fn check_document(f: &DocumentFields) -> Result<(), ServiceError> {
        let mut errors = Vec::new();
        if f.title.trim().is_empty() || f.title.chars().count() > 500 {
            errors.push(FieldError::body("title", "title must be 1 to 500 characters"));
        }
        if !DOCUMENT_TYPES.contains(&f.document_type.as_str()) {
            errors.push(FieldError::body(
                "document_type",
                format!("document_type must be one of {}", DOCUMENT_TYPES.join(", ")),
            ));
        }
        if f.content.trim().is_empty() {
            errors.push(FieldError::body("content", "content must not be empty"));
        }
        if let Some(rules) = &f.targeting_rules {
            check_targeting(rules, &mut errors);
        }
        check_lists("tags", &f.tags, &mut errors);
        rejected_validation(errors)
    }

    /// A page of documents.
    pub async fn list_documents(
        &self,
        filter: &DocumentFilter,
        limit: i64,
        offset: i64,
    ) -> Result<(Vec<DocumentRow>, i64), ServiceError> {
        Ok(docs::list(&self.db, filter, limit, offset).await?)
    }

    /// One document.
    pub async fn get_document(&self, uuid: Uuid) -> Result<DocumentRow, ServiceError> {
        docs::get(&self.db, uuid)
            .await?
            .ok_or_else(|| ServiceError::NotFound("Context document not found.".into()))
    }

    /// Creates a document (version 1).
    pub async fn create_document(&self, mut fields: DocumentFields) -> Result<DocumentRow, ServiceError> {
        fields.version = 1;
        Self::check_document(&fields)?;
        let row = docs::insert(&self.db, &fields).await?;
        self.invalidate();
        Ok(row)
    }

    /// Applies `change`; a new `content` bumps the version.
    pub async fn patch_document(
        &self,
        uuid: Uuid,
        change: impl FnOnce(&mut DocumentFields),
    ) -> Result<DocumentRow, ServiceError> {
        let current = self.get_document(uuid).await?;
        let id = current.id;
        let before = DocumentFields::from(current);
        let mut fields = before.clone();
        change(&mut fields);
        if fields.content != before.content {
            fields.version = before.version + 1;
        }
        Self::check_document(&fields)?;
        let row = docs::update(&self.db, id, &fields).await?;
        self.invalidate();
        Ok(row)
    }

    /// Deletes a document.
    pub async fn delete_document(&self, uuid: Uuid) -> Result<(), ServiceError> {
        let deleted = docs::delete(&self.db, uuid).await?;
        self.invalidate();
        if deleted { Ok(()) } else { Err(ServiceError::NotFound("Context document not found.".into())) }
    }

    /// The documents that apply to an alert: global ones first, then targeted ones, each group by
    /// document type.
    pub async fn documents_for(&self, alert: &AlertRow) -> Result<Vec<DocumentRow>, ServiceError> {
        let index = self.targeting_index().await?;
        let facts =
            AlertFacts { source_name: &alert.source_name, severity: &alert.severity, tags: &alert.tags.0 };
        let mut chosen: Vec<&TargetingRow> = index
            .iter()
            .filter(|d| d.is_global || targeting::matches(d.targeting_rules.as_ref().map(|j| &j.0), &facts))
            .collect();
        chosen.sort_by(|a, b| {
            (!a.is_global, &a.document_type, a.id).cmp(&(!b.is_global, &b.document_type, b.id))
        });
        let ids: Vec<i64> = chosen.iter().map(|d| d.id).collect();
        let mut rows = docs::by_ids(&self.db, &ids).await?;
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id).unwrap_or(usize::MAX));
        Ok(rows)
    }

    /// Other alerts sharing at least one enrichable indicator with this one, newest first.
    pub async fn past_alerts(
        &self,
        alert: &AlertRow,
        indicators: &[IndicatorRow],
    ) -> Result<Vec<PastAlert>, ServiceError> {
        let shared_ids: Vec<i64> = indicators
            .iter()
            .filter(|i| IndicatorType::parse(&i.kind).is_ok_and(|k| gate::skip_reason(k, &i.value).is_none()))
            .map(|i| i.id)
            .collect();
        let (rows, shared) =
            alerts_repo::past_alerts(&self.db, alert.id, &shared_ids, PAST_ALERTS_LIMIT).await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let latest_finding =
                    r.agent_findings.as_ref().and_then(|f| f.0.as_array()).and_then(|items| {
                        items.iter().max_by_key(|f| f["posted_at"].as_str().unwrap_or_default().to_string())
                    });
                PastAlert {
                    uuid: r.uuid,
                    title: r.title,
                    status: r.status,
                    close_classification: r.close_classification,
                    closed_at: r.closed_at,
                    occurred_at: r.occurred_at,
                    indicators: shared
                        .iter()
                        .filter(|(id, _, _)| *id == r.id)
                        .map(|(_, t, v)| json!({"type": t, "value": v}))
                        .collect(),
                    analyst_notes: r
                        .close_notes
                        .or_else(|| latest_finding.and_then(|f| f["summary"].as_str()).map(str::to_string)),
                }
            })
            .collect())
    }
}

/// A context document as the API and agents see it (`with_content` for full views).
pub fn document_view(row: &DocumentRow, with_content: bool) -> Value {
    let mut view: Map<String, Value> = serde_json::from_value(json!({
        "uuid": row.uuid, "title": row.title, "document_type": row.document_type, "is_global": row.is_global,
        "description": row.description, "tags": row.tags.0, "version": row.version,
        "created_at": row.created_at, "updated_at": row.updated_at,
    }))
    .unwrap_or_default();
    if with_content {
        view.insert("content".into(), Value::String(row.content.clone()));
        view.insert(
            "targeting_rules".into(),
            row.targeting_rules.as_ref().map(|j| j.0.clone()).unwrap_or(Value::Null),
        );
    }
    Value::Object(view)
}
