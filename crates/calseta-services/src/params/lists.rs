//! The list parameter structs, one per list, and their conversion to the store's filters.

use calseta_core::alerts::{AlertStatus, EnrichmentStatus, Malice, Severity};
use calseta_core::pagination::PageRequest;
use calseta_store::activity::ActivityFilter;
use calseta_store::alerts::AlertFilter;
use calseta_store::detection_rules::RuleFilter;
use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

use super::fields::{self, SortOrder, sort_columns};
use super::schema::{self, json_boolean, json_page, json_page_size, json_text, json_timestamp, json_uuid};
use super::{ListParams, Paging, ParamsError};

fn blank_to_none(text: &Option<String>) -> Option<String> {
    text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string)
}

fn names<T: Copy>(values: &[T], name: impl Fn(T) -> &'static str) -> Vec<String> {
    values.iter().map(|v| name(*v).to_string()).collect()
}

sort_columns!(
    /// The columns alerts sort by.
    AlertSort, default = OccurredAt, {
        Title => "title",
        Status => "status",
        Severity => "severity",
        SourceName => "source_name",
        OccurredAt => "occurred_at",
        CreatedAt => "created_at",
    }
);

fn alert_statuses() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(
        Some(&AlertStatus::names()),
        "Alert statuses (any of; repeat the key or separate with commas)",
    )
}
fn json_alert_statuses(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(Some(&AlertStatus::names()), "Alert statuses (any of).")
}
fn severities() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(Some(&Severity::names()), "Severities (any of; repeat the key or separate with commas)")
}
fn json_severities(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(Some(&Severity::names()), "Severities (any of).")
}
fn enrichment_statuses() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(
        Some(&EnrichmentStatus::names()),
        "Enrichment states (any of; repeat the key or separate with commas)",
    )
}
fn json_enrichment_statuses(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(Some(&EnrichmentStatus::names()), "Enrichment states (any of).")
}
fn source_names() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(None, "Source names (any of; repeat the key or separate with commas)")
}
fn json_source_names(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "Source names (any of), e.g. elastic, sentinel, splunk, generic.")
}
fn tags() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(None, "Tags the alert must all carry: repeat the key, `?tags=a&tags=b`")
}
fn json_tags(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "Tags the alert must all carry.")
}
fn free_severities() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    schema::list(None, "Severities (any of; repeat the key or separate with commas)")
}
fn json_free_severities(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schema::json_list(None, "Severities (any of).")
}

crate::params::list_params! {
    /// The alert list (`GET /v1/alerts`, the `search_alerts` tool).
    pub struct AlertSearch sorted by AlertSort {
        /// Alert statuses (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = alert_statuses)]
        #[schemars(schema_with = "json_alert_statuses")]
        pub status: Vec<AlertStatus>,
        /// Severities (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = severities)]
        #[schemars(schema_with = "json_severities")]
        pub severity: Vec<Severity>,
        /// Source names (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = source_names)]
        #[schemars(schema_with = "json_source_names")]
        pub source_name: Vec<String>,
        /// Enrichment states (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = enrichment_statuses)]
        #[schemars(schema_with = "json_enrichment_statuses")]
        pub enrichment_status: Vec<EnrichmentStatus>,
        /// Whether enrichment has completed.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_enriched: Option<bool>,
        /// The alert's detection rule (an unknown rule matches nothing).
        #[serde(deserialize_with = "fields::uuid")]
        #[schemars(schema_with = "json_uuid")]
        pub detection_rule_uuid: Option<Uuid>,
        /// `occurred_at` at or after this time.
        #[serde(deserialize_with = "fields::timestamp")]
        #[param(schema_with = schema::timestamp)]
        #[schemars(schema_with = "json_timestamp")]
        pub from_time: Option<DateTime<Utc>>,
        /// `occurred_at` at or before this time.
        #[serde(deserialize_with = "fields::timestamp")]
        #[param(schema_with = schema::timestamp)]
        #[schemars(schema_with = "json_timestamp")]
        pub to_time: Option<DateTime<Utc>>,
        /// Tags the alert must all carry.
        #[serde(deserialize_with = "fields::whole_items")]
        #[param(schema_with = tags)]
        #[schemars(schema_with = "json_tags")]
        pub tags: Vec<String>,
    }
}

impl ListParams for AlertSearch {
    const REPEATED: &'static [&'static str] = &["tags"];
}

impl AlertSearch {
    /// The store's filter, given the detection rule's internal id (`-1` for an unknown rule, so
    /// it matches nothing).
    pub(crate) fn filter(&self, detection_rule_id: Option<i64>) -> AlertFilter {
        AlertFilter {
            statuses: names(&self.status, AlertStatus::as_str),
            severities: names(&self.severity, Severity::as_str),
            source_names: self.source_name.clone(),
            enrichment_statuses: names(&self.enrichment_status, EnrichmentStatus::as_str),
            is_enriched: self.is_enriched,
            detection_rule_id,
            from_time: self.from_time,
            to_time: self.to_time,
            tags: self.tags.clone(),
            title_contains: None,
            malice: Vec::new(),
            sort_by: self.sort_by.unwrap_or_default().as_str().to_string(),
            descending: self.sort_order.unwrap_or_default().descending(),
        }
    }
}

/// What the console's queue reads beside [`AlertSearch`] from the same query string: filters
/// REST and MCP do not offer and the keyset cursors. A separate struct so that REST's and MCP's
/// parameters (and their OpenAPI and JSON schemas) stay as they are; each ignores the other's
/// keys.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct AlertQueueArgs {
    /// Text the title contains (any case).
    #[serde(deserialize_with = "fields::text")]
    pub q: Option<String>,
    /// Effective malice verdicts (any of).
    #[serde(deserialize_with = "fields::list")]
    pub malice: Vec<Malice>,
    /// The page after this cursor (a row's `id:sort value`, from the previous page's link).
    #[serde(deserialize_with = "fields::text")]
    pub after: Option<String>,
    /// The page before this cursor.
    #[serde(deserialize_with = "fields::text")]
    pub before: Option<String>,
}

impl ListParams for AlertQueueArgs {}

sort_columns!(
    /// The columns detection rules sort by.
    DetectionRuleSort, default = CreatedAt, {
        Name => "name",
        SourceName => "source_name",
        Severity => "severity",
        CreatedAt => "created_at",
    }
);

crate::params::list_params! {
    /// The detection-rule list (`GET /v1/detection-rules`, the `search_detection_rules` tool).
    pub struct DetectionRuleSearch sorted by DetectionRuleSort {
        /// Part of the rule's name (any case).
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub name: Option<String>,
        /// A MITRE ATT&CK tactic the rule maps to: its ID or name in any case and spacing, e.g.
        /// TA0006, Credential Access or credential-access.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub mitre_tactic: Option<String>,
        /// A MITRE technique or sub-technique in any case, e.g. T1110 (with its sub-techniques) or
        /// T1110.003.
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub mitre_technique: Option<String>,
        /// Source names (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = source_names)]
        #[schemars(schema_with = "json_source_names")]
        pub source_name: Vec<String>,
        /// Severities (any of).
        #[serde(deserialize_with = "fields::list")]
        #[param(schema_with = free_severities)]
        #[schemars(schema_with = "json_free_severities")]
        pub severity: Vec<String>,
        /// Whether the rule is active.
        #[serde(deserialize_with = "fields::boolean")]
        #[schemars(schema_with = "json_boolean")]
        pub is_active: Option<bool>,
    }
}

impl ListParams for DetectionRuleSearch {}

impl DetectionRuleSearch {
    /// The store's filter and the page to read.
    pub fn to_query(&self, paging: Paging) -> Result<(RuleFilter, PageRequest), ParamsError> {
        let page = self.page(paging)?;
        let filter = RuleFilter {
            source_names: self.source_name.clone(),
            severities: self.severity.clone(),
            is_active: self.is_active,
            name_contains: blank_to_none(&self.name),
            mitre_tactic: blank_to_none(&self.mitre_tactic),
            mitre_technique: blank_to_none(&self.mitre_technique),
            sort_by: self.sort_by.unwrap_or_default().as_str().to_string(),
            descending: self.sort_order.unwrap_or_default().descending(),
        };
        Ok((filter, page))
    }
}

crate::params::list_params! {
    /// The system-wide audit log (the console's `/activity`), newest first.
    pub struct ActivitySearch {
        /// The acting key's prefix (`cai_xxxx`) or an actor type (`system`, `api`, `mcp`, `console`).
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub actor: Option<String>,
        /// The event type, exactly (e.g. `alert_status_updated`).
        #[serde(deserialize_with = "fields::text")]
        #[schemars(schema_with = "json_text")]
        pub event_type: Option<String>,
        /// Only events about this alert (an unknown alert matches nothing).
        #[serde(deserialize_with = "fields::uuid")]
        #[schemars(schema_with = "json_uuid")]
        pub alert_uuid: Option<Uuid>,
    }
}

impl ListParams for ActivitySearch {}

impl ActivitySearch {
    /// The store's filter, given the alert's internal id (`-1` for an unknown alert, so it
    /// matches nothing).
    pub(crate) fn filter(&self, alert_id: Option<i64>) -> ActivityFilter {
        ActivityFilter {
            actor: blank_to_none(&self.actor),
            event_type: blank_to_none(&self.event_type),
            alert_id,
        }
    }
}
