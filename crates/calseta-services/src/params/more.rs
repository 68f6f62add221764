//! The parameter structs of the knowledge, workflow, metrics and admin lists.

use calseta_core::jobs::JobStatus;
use calseta_core::pagination::PageRequest;
use calseta_store::context_documents::DocumentFilter;
use calseta_store::field_extractions::ExtractionFilter;
use calseta_store::mappings::MappingFilter;
use calseta_store::workflows::WorkflowFilter;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::fields::{self, SortOrder, sort_columns};
use super::schema::{self, json_boolean, json_page, json_page_size, json_text, json_timestamp, json_uuid};
use super::{ListParams, Paging, ParamsError};

/// Text sent empty counts as absent (v1 drops empty free-text filters).
fn non_empty(text: &Option<String>) -> Option<String> {
    text.clone().filter(|t| !t.is_empty())
}

fn free_list(description: &'static str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(None, description)
}

fn document_types() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    free_list("Document types (any of; repeat the key or separate with commas)")
}
fn json_document_types(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "Document types (any of).")
}
fn workflow_states() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    free_list("States: draft, active, inactive (any of; repeat the key or separate with commas)")
}
fn json_workflow_states(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "States: draft, active, inactive (any of).")
}
fn risk_levels() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    free_list("Risk levels: low, medium, high, critical (any of; repeat the key or separate with commas)")
}
fn json_risk_levels(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "Risk levels: low, medium, high, critical (any of).")
}
fn job_status_names() -> Vec<&'static str> {
    JobStatus::ALL.iter().map(|s| s.as_str()).collect()
}
fn job_statuses() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::choice(&job_status_names(), None, "Job status")
}
fn json_job_status(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_choice(&job_status_names(), None, "Job status")
}

crate::params::list_params! {
    /// A page of any list that has no filters (`page`, `page_size`).
    pub struct PageQuery {

    }
}

impl ListParams for PageQuery {}

sort_columns!(
    /// The columns context documents sort by.
    DocumentSort, default = CreatedAt, {
        Title => "title",
        DocumentType => "document_type",
        UpdatedAt => "updated_at",
        CreatedAt => "created_at",
    }
);

crate::params::list_params! {
    /// The context-document list (`GET /v1/context-documents`).
    pub struct DocumentSearch sorted by DocumentSort {
        /// Document types (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = document_types)]
        #[schemars(schema_with = "json_document_types")]
        pub document_type: Vec<String>,
        /// Whether the document applies to every alert.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_global: Option<bool>,
    }
}

impl ListParams for DocumentSearch {}

impl DocumentSearch {
    /// The store's filter and the page to read.
    pub fn to_query(&self, paging: Paging) -> Result<(DocumentFilter, PageRequest), ParamsError> {
        let page = self.page(paging)?;
        let filter = DocumentFilter {
            document_types: self.document_type.clone(),
            is_global: self.is_global,
            sort_by: self.sort_by.unwrap_or_default().as_str().to_string(),
            descending: self.sort_order.unwrap_or_default().descending(),
        };
        Ok((filter, page))
    }
}

sort_columns!(
    /// The columns workflows sort by.
    WorkflowSort, default = CreatedAt, {
        Name => "name",
        State => "state",
        RiskLevel => "risk_level",
        UpdatedAt => "updated_at",
        CreatedAt => "created_at",
    }
);

crate::params::list_params! {
    /// The workflow list (`GET /v1/workflows`).
    pub struct WorkflowSearch sorted by WorkflowSort {
        /// `indicator` or `alert`.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub workflow_type: Option<String>,
        /// States (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = workflow_states)]
        #[schemars(schema_with = "json_workflow_states")]
        pub state: Vec<String>,
        /// Risk levels (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = risk_levels)]
        #[schemars(schema_with = "json_risk_levels")]
        pub risk_level: Vec<String>,
        /// Whether the workflow is active.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_active: Option<bool>,
    }
}

impl ListParams for WorkflowSearch {}

impl WorkflowSearch {
    /// The store's filter and the page to read.
    pub fn to_query(&self, paging: Paging) -> Result<(WorkflowFilter, PageRequest), ParamsError> {
        let page = self.page(paging)?;
        let filter = WorkflowFilter {
            workflow_type: non_empty(&self.workflow_type),
            states: self.state.clone(),
            risk_levels: self.risk_level.clone(),
            is_active: self.is_active,
            sort_by: self.sort_by.unwrap_or_default().as_str().to_string(),
            descending: self.sort_order.unwrap_or_default().descending(),
        };
        Ok((filter, page))
    }
}

crate::params::list_params! {
    /// The workflow-run and approval lists (`GET /v1/workflow-runs`, `/v1/workflows/{uuid}/runs`,
    /// `/v1/workflow-approvals`).
    pub struct RunSearch {
        /// Exact status.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub status: Option<String>,
        /// Only this workflow's (unknown: 404).
        #[serde(deserialize_with = "fields::uuid")]
        #[schemars(schema_with = "json_uuid")]
        pub workflow_uuid: Option<Uuid>,
    }
}

impl ListParams for RunSearch {}

impl RunSearch {
    /// The status filter (sent empty: none).
    pub fn status(&self) -> Option<String> {
        non_empty(&self.status)
    }
}

/// The window of `/v1/metrics/alerts` and `/v1/metrics/workflows` (on `created_at`; the last 30
/// days unless both bounds are given).
#[derive(Debug, Clone, Default, Deserialize, IntoParams, JsonSchema)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct MetricsWindow {
    /// Start (inclusive).
    #[serde(deserialize_with = "fields::timestamp")]
    #[param(schema_with = schema::timestamp)]
    #[schemars(schema_with = "json_timestamp")]
    pub from_time: Option<DateTime<Utc>>,
    /// End (exclusive).
    #[serde(deserialize_with = "fields::timestamp")]
    #[param(schema_with = schema::timestamp)]
    #[schemars(schema_with = "json_timestamp")]
    pub to_time: Option<DateTime<Utc>>,
}

impl ListParams for MetricsWindow {}

impl MetricsWindow {
    /// The window's bounds (see [`crate::metrics::window`]).
    pub fn bounds(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), crate::ServiceError> {
        crate::metrics::window(self.from_time, self.to_time, ("from_time", "to_time"))
    }
}

/// The window of `/v1/detection-rules/{uuid}/metrics` (v1 names its bounds `from` and `to`).
#[derive(Debug, Clone, Default, Deserialize, IntoParams, JsonSchema)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct RuleMetricsWindow {
    /// Start (inclusive).
    #[serde(deserialize_with = "fields::timestamp")]
    #[param(schema_with = schema::timestamp)]
    #[schemars(schema_with = "json_timestamp")]
    pub from: Option<DateTime<Utc>>,
    /// End (exclusive).
    #[serde(deserialize_with = "fields::timestamp")]
    #[param(schema_with = schema::timestamp)]
    #[schemars(schema_with = "json_timestamp")]
    pub to: Option<DateTime<Utc>>,
}

impl ListParams for RuleMetricsWindow {}

impl RuleMetricsWindow {
    /// The window's bounds (see [`crate::metrics::window`]).
    pub fn bounds(&self) -> Result<(DateTime<Utc>, DateTime<Utc>), crate::ServiceError> {
        crate::metrics::window(self.from, self.to, ("from", "to"))
    }
}

/// `GET /v1/alerts/{uuid}/payload`'s profile.
#[derive(Debug, Clone, Default, Deserialize, IntoParams, JsonSchema)]
#[serde(default)]
#[into_params(parameter_in = Query)]
pub struct PayloadQuery {
    /// `full` (default: v1's shape plus Calseta's additions) or `compact` (the same facts without
    /// repetition).
    #[serde(deserialize_with = "fields::text")]
    #[param(pattern = "^(full|compact)$")]
    #[schemars(schema_with = "json_text")]
    pub profile: Option<String>,
}

impl ListParams for PayloadQuery {}

impl PayloadQuery {
    /// The profile (sent empty it stays empty, and is refused as v1 refuses it).
    pub fn profile(&self) -> &str {
        self.profile.as_deref().unwrap_or("full")
    }
}

crate::params::list_params! {
    /// The enrichment-provider list (`GET /v1/enrichment-providers`).
    pub struct ProviderSearch {
        /// Whether the provider is active.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_active: Option<bool>,
        /// Whether the provider is built in.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_builtin: Option<bool>,
    }
}

impl ListParams for ProviderSearch {}

crate::params::list_params! {
    /// The field-extraction list (`GET /v1/enrichment-field-extractions`).
    pub struct ExtractionSearch {
        /// The provider's name.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub provider_name: Option<String>,
        /// The indicator type.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub indicator_type: Option<String>,
        /// Whether the extraction is built in.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_system: Option<bool>,
        /// Whether the extraction is active.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_active: Option<bool>,
    }
}

impl ListParams for ExtractionSearch {}

impl ExtractionSearch {
    /// The store's filter and the page to read.
    pub fn to_query(&self, paging: Paging) -> Result<(ExtractionFilter, PageRequest), ParamsError> {
        let page = self.page(paging)?;
        let filter = ExtractionFilter {
            provider_name: self.provider_name.clone(),
            indicator_type: self.indicator_type.clone(),
            is_system: self.is_system,
            is_active: self.is_active,
        };
        Ok((filter, page))
    }
}

crate::params::list_params! {
    /// The indicator-mapping list (`GET /v1/indicator-mappings`).
    pub struct MappingSearch {
        /// The source's name.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub source_name: Option<String>,
        /// Whether the mapping is built in.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_system: Option<bool>,
        /// Whether the mapping is active.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_active: Option<bool>,
        /// `normalized`, `raw_payload` or `free_text`.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub extraction_target: Option<String>,
    }
}

impl ListParams for MappingSearch {}

impl MappingSearch {
    /// The store's filter and the page to read.
    pub fn to_query(&self, paging: Paging) -> Result<(MappingFilter, PageRequest), ParamsError> {
        let page = self.page(paging)?;
        let filter = MappingFilter {
            source_name: self.source_name.clone(),
            is_system: self.is_system,
            is_active: self.is_active,
            extraction_target: self.extraction_target.clone(),
        };
        Ok((filter, page))
    }
}

crate::params::list_params! {
    /// The job list (`GET /v1/jobs`).
    pub struct JobSearch {
        /// Only jobs in this state.
        #[serde(deserialize_with = "job_status")]
        #[param(schema_with = job_statuses)]
        #[schemars(schema_with = "json_job_status")]
        pub status: Option<JobStatus>,
        /// Only this queue's jobs.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub queue: Option<String>,
    }
}

/// A job status (sent empty: refused, like every typed parameter, as FastAPI does).
fn job_status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<JobStatus>, D::Error> {
    let text = fields::text(d)?;
    text.map(|t| {
        JobStatus::parse(&t).map_err(|_| serde::de::Error::custom(fields::expected(&job_status_names())))
    })
    .transpose()
}

impl ListParams for JobSearch {}

impl JobSearch {
    /// The queue filter (sent empty: any).
    pub fn queue(&self) -> Option<&str> {
        self.queue.as_deref().filter(|q| !q.is_empty())
    }
}
