//! Context documents: CRUD with validated targeting rules, a version bump on every content
//! change, and uploads converted to Markdown in an isolated child process ([`convert`]). Every
//! change invalidates the context stage's targeting index. A targeting preview evaluates rules
//! against the newest alerts before they are saved ([`ContextDocumentService::preview_targeting`]).

pub mod convert;

use std::sync::Arc;

use calseta_core::alerts::Severity;
use calseta_core::targeting::{self, AlertFacts};
use calseta_store::Db;
use calseta_store::alerts as alert_store;
use calseta_store::context_documents::{self as docs, DocumentFields, DocumentFilter, DocumentRow};
use serde_json::Value;
use uuid::Uuid;

use crate::pipeline::context::AlertContext;
use crate::resources::detection_rules::check_lists;
use crate::{FieldError, ServiceError};

/// Document types (v1's set).
pub const DOCUMENT_TYPES: [&str; 6] = ["runbook", "ir_plan", "sop", "playbook", "detection_guide", "other"];
const MAX_TARGETING_BYTES: usize = 64 * 1024;
/// How many of the newest alerts a targeting preview evaluates.
pub const PREVIEW_WINDOW: i64 = 1_000;
/// What the context stage says of a global document, whatever the alert.
pub const GLOBAL_CLAUSE: &str = "global: attached to every alert";

/// How targeting would have chosen among the newest alerts.
#[derive(Debug, Clone)]
pub struct TargetingPreview {
    /// How many alerts were evaluated (at most [`PREVIEW_WINDOW`]).
    pub considered: usize,
    /// How many of them the document would be attached to.
    pub matched: usize,
    /// The newest matches, up to the number asked for.
    pub examples: Vec<PreviewMatch>,
}

/// One alert a document would be attached to, and why.
#[derive(Debug, Clone)]
pub struct PreviewMatch {
    pub uuid: Uuid,
    /// The title's first 300 characters.
    pub title: String,
    pub severity: Severity,
    pub source_name: String,
    /// The name of its detection rule, when it has one.
    pub detection_rule: Option<String>,
    /// The clauses that selected it, as the alert page names them
    /// ([`targeting::matched_clauses`]), or [`GLOBAL_CLAUSE`].
    pub clauses: Vec<String>,
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

/// Context-document use cases.
pub struct ContextDocumentService {
    db: Db,
    context: Arc<AlertContext>,
    converter: std::path::PathBuf,
}

impl ContextDocumentService {
    /// A service over `db`; uploads run `converter` (the `calseta` binary) as a child process.
    pub fn new(db: Db, context: Arc<AlertContext>, converter: std::path::PathBuf) -> Self {
        Self { db, context, converter }
    }

    fn invalidate(&self) {
        self.context.invalidate();
    }

    /// Creates a document from an uploaded file, converted to Markdown in an isolated child
    /// process (`UNSUPPORTED_FORMAT` for other formats and for files that cannot be read).
    pub async fn create_document_from_file(
        &self,
        mut fields: DocumentFields,
        filename: &str,
        bytes: &[u8],
    ) -> Result<DocumentRow, ServiceError> {
        fields.content = self.convert_upload(filename, bytes).await?;
        self.create_document(fields).await
    }

    /// An uploaded file's text as Markdown, converted as [`Self::create_document_from_file`]
    /// converts it but not saved (the console shows it for review first).
    pub async fn convert_upload(&self, filename: &str, bytes: &[u8]) -> Result<String, ServiceError> {
        let format = convert::format_of(filename).ok_or_else(|| ServiceError::Unprocessable {
            code: "UNSUPPORTED_FORMAT",
            message: format!("'{filename}' is not a supported format (md, txt, html, pdf, docx, pptx)."),
        })?;
        let content = convert::convert_isolated(&self.converter, format, bytes).await?;
        if content.trim().is_empty() {
            return Err(ServiceError::Unprocessable {
                code: "UNSUPPORTED_FORMAT",
                message: format!("No text could be read from '{filename}'."),
            });
        }
        Ok(content)
    }

    /// Which of the [`PREVIEW_WINDOW`] newest alerts a document with `is_global` and `rules`
    /// would be attached to, evaluated as the context stage evaluates saved documents, with the
    /// `examples` newest matches and the clauses that selected each. Rules are validated as a
    /// save validates them (the same `422`).
    pub async fn preview_targeting(
        &self,
        is_global: bool,
        rules: Option<&Value>,
        examples: usize,
    ) -> Result<TargetingPreview, ServiceError> {
        if let Some(rules) = rules {
            let mut errors = Vec::new();
            check_targeting(rules, &mut errors);
            ServiceError::check(errors)?;
        }
        let alerts = alert_store::newest_targeting_facts(&self.db, PREVIEW_WINDOW).await?;
        let mut preview = TargetingPreview { considered: alerts.len(), matched: 0, examples: Vec::new() };
        for alert in alerts {
            let facts = AlertFacts {
                source_name: &alert.source_name,
                severity: alert.severity.as_str(),
                tags: &alert.tags.0,
                detection_rule: alert.detection_rule.as_deref(),
            };
            let clauses = if is_global {
                vec![GLOBAL_CLAUSE.to_string()]
            } else {
                targeting::matched_clauses(rules, &facts)
            };
            if clauses.is_empty() {
                continue;
            }
            preview.matched += 1;
            if preview.examples.len() < examples {
                preview.examples.push(PreviewMatch {
                    uuid: alert.uuid,
                    title: alert.title,
                    severity: alert.severity,
                    source_name: alert.source_name,
                    detection_rule: alert.detection_rule,
                    clauses,
                });
            }
        }
        Ok(preview)
    }

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
        ServiceError::check(errors)
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

    /// The `limit` newest documents and the total (MCP's collection).
    pub async fn newest_documents(&self, limit: i64) -> Result<(Vec<DocumentRow>, i64), ServiceError> {
        let filter =
            DocumentFilter { sort_by: "created_at".into(), descending: true, ..DocumentFilter::default() };
        self.list_documents(&filter, limit, 0).await
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
}
