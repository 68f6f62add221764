//! Context documents: CRUD with validated targeting rules, a version bump on every content
//! change, and uploads converted to Markdown in an isolated child process ([`convert`]). Every
//! change invalidates the context stage's targeting index.

pub mod convert;

use std::sync::Arc;

use calseta_core::targeting;
use calseta_store::Db;
use calseta_store::context_documents::{self as docs, DocumentFields, DocumentFilter, DocumentRow};
use serde_json::Value;
use uuid::Uuid;

use crate::pipeline::context::AlertContext;
use crate::resources::detection_rules::check_lists;
use crate::{FieldError, ServiceError};

/// Document types (v1's set).
pub const DOCUMENT_TYPES: [&str; 6] = ["runbook", "ir_plan", "sop", "playbook", "detection_guide", "other"];
const MAX_TARGETING_BYTES: usize = 64 * 1024;

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
        let format = convert::format_of(filename).ok_or_else(|| ServiceError::Unprocessable {
            code: "UNSUPPORTED_FORMAT",
            message: format!("'{filename}' is not a supported format (md, txt, html, pdf, docx)."),
        })?;
        fields.content = convert::convert_isolated(&self.converter, format, bytes).await?;
        if fields.content.trim().is_empty() {
            return Err(ServiceError::Unprocessable {
                code: "UNSUPPORTED_FORMAT",
                message: format!("No text could be read from '{filename}'."),
            });
        }
        self.create_document(fields).await
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
