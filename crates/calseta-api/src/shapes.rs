//! OpenAPI shapes of request fields whose allowed values are fixed: the value lists come from the
//! same constants the services validate against, so the document and the checks cannot drift.
//! Used through `#[schema(schema_with = …)]` on request structs and as whole bodies for the
//! routes that take a JSON object field by field (agents, sources, provider changes).

use calseta_core::alerts::{AlertStatus, CloseClassification, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use calseta_core::scopes::Scope;
use calseta_core::{sources, targeting};
use serde_json::Value;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder, Schema,
    SchemaFormat, SchemaType, Type,
};

fn kinds(kind: Type, nullable: bool) -> SchemaType {
    if nullable { SchemaType::from_iter([kind, Type::Null]) } else { SchemaType::Type(kind) }
}

/// A string that is one of `values` (or `null` when `nullable`).
fn one_of(values: &[&str], nullable: bool) -> ObjectBuilder {
    let mut allowed: Vec<Value> = values.iter().map(|v| Value::from(*v)).collect();
    if nullable {
        allowed.push(Value::Null);
    }
    ObjectBuilder::new().schema_type(kinds(Type::String, nullable)).enum_values(Some(allowed))
}

fn list_of(item: impl Into<ArrayItems>, nullable: bool) -> ArrayBuilder {
    ArrayBuilder::new().schema_type(kinds(Type::Array, nullable)).items(item)
}

/// Text of `min..=max` characters with at least one that is not a space.
fn text(min: usize, max: usize, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kinds(Type::String, nullable))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(r"\S"))
}

fn integer(min: i64, max: Option<i64>, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kinds(Type::Integer, nullable))
        .minimum(Some(min as f64))
        .maximum(max.map(|m| m as f64))
}

fn free_text(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kinds(Type::String, nullable))
}

fn object(nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kinds(Type::Object, nullable))
}

/// `true`, `false`, or `null` for "unchanged".
fn boolean() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(kinds(Type::Boolean, true))
}

fn source_names() -> Vec<&'static str> {
    sources::registry().iter().map(|s| s.name()).collect()
}

/// What an indicator mapping's `field_path` may be, as the OpenAPI document says it.
const MAPPING_PATH: &str = "A normalized field name, or a raw-payload or free-text path (`a.b`, flat `a.b` keys, \
    `a.items[].ip`). `*` stands for the source's own free-text fields and is accepted only with \
    `extraction_target` `free_text`; with any other target it is refused (422 `VALIDATION_ERROR`).";

/// Declares public shape functions, each with an `_or_null` twin for fields where `null` means
/// "unchanged" or "the default" (as in v1, whose optional fields take `null`).
macro_rules! shapes {
    ($($(#[$meta:meta])* $name:ident / $or_null:ident = |$nullable:ident| $build:expr;)+) => {
        $(
            $(#[$meta])*
            pub fn $name() -> RefOr<Schema> {
                let $nullable = false;
                $build.into()
            }
            $(#[$meta])*
            /// Or `null`.
            pub fn $or_null() -> RefOr<Schema> {
                let $nullable = true;
                $build.into()
            }
        )+
    };
}

shapes! {
    /// One of the eight indicator types.
    indicator_type / indicator_type_or_null = |n| one_of(&IndicatorType::names(), n);
    /// One or more indicator types.
    indicator_types / indicator_types_or_null = |n| list_of(one_of(&IndicatorType::names(), false), n).min_items(Some(1));
    /// An alert severity.
    severity / severity_or_null = |n| one_of(&Severity::names(), n);
    /// An analyst-facing alert status.
    alert_status / alert_status_or_null = |n| one_of(&AlertStatus::names(), n);
    /// A close classification.
    close_classification / close_classification_or_null = |n| one_of(&CloseClassification::names(), n);
    /// A malice verdict.
    malice / malice_or_null = |n| one_of(&Malice::names(), n);
    /// One or more API-key scopes.
    scopes / scopes_or_null = |n| list_of(one_of(&Scope::names(), false), n).min_items(Some(1));
    /// Labels (tags, MITRE ids, data sources): each 1 to 255 characters.
    labels / labels_or_null = |n| list_of(text(1, 255, false), n);
    /// A registered source plugin's name.
    source_name / source_name_or_null = |n| one_of(&source_names(), n);
    /// Where a mapping reads: `normalized`, `raw_payload` or `free_text`.
    extraction_target / extraction_target_or_null = |n| one_of(
        &calseta_core::extraction::TARGETS, n);
    /// The type an extracted value is coerced to.
    value_type / value_type_or_null = |n| one_of(&calseta_services::resources::field_extractions::VALUE_TYPES, n);
    /// A context document's type.
    document_type / document_type_or_null = |n| one_of(&calseta_services::resources::context_documents::DOCUMENT_TYPES, n);
    /// A path into a document or response: 1 to 500 characters.
    path_text / path_text_or_null = |n| text(1, 500, n);
    /// An indicator mapping's `field_path`: 1 to 500 characters; `*` only for `free_text`.
    mapping_path / mapping_path_or_null = |n| text(1, 500, n).description(Some(MAPPING_PATH));
    /// Targeting rules.
    targeting_rules / targeting_rules_or_null = |n| targeting(n);
    /// A point in time: ISO 8601 text, or epoch seconds (as v1 reads it).
    timestamp / timestamp_or_null = |n| AnyOfBuilder::new()
        .item(free_text(n).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
        .item(ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0.0)).maximum(Some(calseta_core::time::LATEST_EPOCH_MILLIS)));
}

fn targeting(nullable: bool) -> ObjectBuilder {
    let rule = || {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("field", one_of(&targeting::FIELDS, false))
            .property("op", one_of(&targeting::OPS, false))
            .property("value", ObjectBuilder::new().schema_type(SchemaType::AnyValue))
            .required("field")
            .required("op")
            .required("value")
    };
    let rules = || list_of(rule(), false);
    object(nullable)
        .description(Some(
            "`{\"match_any\": [rule…], \"match_all\": [rule…]}`, a rule being `{field, op, value}` \
             (`in` takes a list value); at least one of the two lists",
        ))
        .property("match_any", rules())
        .property("match_all", rules())
        .additional_properties(Some(AdditionalProperties::<Schema>::FreeForm(false)))
        .min_properties(Some(1))
}

/// The body of `POST /v1/agents` (`creating`) or `PATCH /v1/agents/{uuid}`.
pub fn agent_body(creating: bool) -> Schema {
    let mut body = object(false)
        .property("name", text(1, 255, false))
        .property(
            "endpoint_url",
            free_text(false)
                .format(Some(SchemaFormat::Custom("uri".into())))
                .pattern(Some("^https?://"))
                .description(Some("Where alert.enriched is POSTed; a public address (SSRF rules)")),
        )
        .property("description", free_text(true))
        .property("documentation", free_text(true))
        .property(
            "payload_profile",
            one_of(&calseta_services::views::compact::PROFILES, true)
                .description(Some("`full` (default) or `compact`: the same facts in far fewer tokens")),
        )
        .property("auth_header_name", free_text(true).description(Some("Sent with auth_header_value")))
        .property("auth_header_value", free_text(true).description(Some("Stored encrypted, never returned")))
        .property(
            "signing_secret",
            free_text(true).description(Some("`whsec_…`, or \"generate\" for a new one returned once")),
        )
        .property("trigger_on_sources", list_of(one_of(&source_names(), false), true))
        .property("trigger_on_severities", list_of(one_of(&Severity::names(), false), true))
        .property("trigger_filter", targeting(true))
        .property("timeout_seconds", integer(1, Some(300), true))
        .property("retry_count", integer(0, Some(10), true))
        .property("is_active", boolean());
    if creating {
        body = body.required("name").required("endpoint_url");
    }
    body.into()
}

/// The body of `POST /v1/sources` (`creating`) or `PATCH /v1/sources/{uuid}`.
pub fn source_body(creating: bool) -> Schema {
    let mut body = object(false);
    if creating {
        body = body
            .property("source_name", one_of(&source_names(), false))
            .required("source_name")
            .required("display_name");
    }
    body.property("display_name", text(1, 255, false))
        .property("is_active", boolean())
        .property("auth_type", free_text(true))
        .property("auth_config", object(true).description(Some("Stored encrypted, never returned")))
        .property("documentation", free_text(true))
        .into()
}

/// The fields of a provider both bodies share (`POST` requires some, `PATCH` none).
fn provider_fields() -> ObjectBuilder {
    object(false)
        .property("display_name", text(1, 200, false))
        .property("description", free_text(true))
        .property("supported_indicator_types", indicator_types())
        .property(
            "http_config",
            object(false).description(Some(
                "`{\"steps\": [...], \"url_templates_by_type\": {...}}` (docs/enrichment.md)",
            )),
        )
        .property("auth_type", free_text(true))
        .property(
            "auth_config",
            object(true).description(Some("Used as `{{auth.*}}`; stored encrypted, never returned")),
        )
        .property("default_cache_ttl_seconds", integer(0, Some(86_400), true))
        .property("cache_ttl_by_type", object(true))
        .property("malice_rules", object(true))
        .property("rate_limit_per_minute", integer(1, None, true))
        .property("max_concurrency", integer(1, Some(64), true))
        .property("allow_private_network", boolean())
        .property(
            "private_network_hosts",
            list_of(text(1, 300, false), true).max_items(Some(64)).description(Some(
                "`host` or `host:port` entries the private-network allowance is narrowed to; empty: every private address",
            )),
        )
}

/// The body of `PATCH /v1/enrichment-providers/{uuid}` (builtins: only some fields).
pub fn provider_patch_body() -> Schema {
    provider_fields().property("is_active", boolean()).into()
}

/// The body of `POST /v1/workflows` (`creating`) or `PATCH /v1/workflows/{uuid}`; `null` leaves
/// a field as it is, as in v1.
pub fn workflow_body(creating: bool) -> Schema {
    use calseta_core::workflows::{ApprovalMode, RiskLevel, WorkflowState, WorkflowType};
    let mut body = object(false)
        .property("name", text(1, 255, !creating))
        .property(
            "code",
            free_text(!creating)
                .min_length(Some(1))
                .max_length(Some(256 * 1024))
                .pattern(Some(r"\S"))
                .description(Some("Python defining `async def run(ctx)`; validated before it is saved")),
        )
        .property("workflow_type", one_of(&WorkflowType::names(), true))
        .property("indicator_types", list_of(one_of(&IndicatorType::names(), false), true))
        .property("state", one_of(&WorkflowState::names(), true))
        .property("timeout_seconds", integer(1, Some(3600), true))
        .property("retry_count", integer(0, Some(10), true))
        .property("is_active", boolean())
        .property("tags", list_of(text(1, 255, false), true))
        .property("time_saved_minutes", integer(0, Some(1_000_000), true))
        .property("approval_mode", one_of(&ApprovalMode::names(), true))
        .property("approval_channel", free_text(true))
        .property("approval_timeout_seconds", integer(60, Some(30 * 86_400), true))
        .property("risk_level", one_of(&RiskLevel::names(), true))
        .property("documentation", free_text(true));
    if creating {
        body = body.required("name").required("code");
    }
    body.into()
}

/// Declares a request type whose whole schema is one of the functions above.
macro_rules! body_shape {
    ($(#[$meta:meta])* $name:ident => $shape:expr) => {
        $(#[$meta])*
        pub struct $name;
        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                RefOr::T($shape)
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

body_shape!(/// `POST /v1/agents`.
    AgentCreateBody => agent_body(true));
body_shape!(/// `PATCH /v1/agents/{uuid}`.
    AgentPatchBody => agent_body(false));
body_shape!(/// `POST /v1/sources`.
    SourceCreateBody => source_body(true));
body_shape!(/// `PATCH /v1/sources/{uuid}`.
    SourcePatchBody => source_body(false));
body_shape!(/// `POST /v1/workflows`.
    WorkflowCreateBody => workflow_body(true));
body_shape!(/// `PATCH /v1/workflows/{uuid}`.
    WorkflowPatchBody => workflow_body(false));
body_shape!(/// `PATCH /v1/enrichment-providers/{uuid}`.
    ProviderPatchBody => provider_patch_body());

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_choices_admit_null_and_only_the_listed_values() {
        let schema = serde_json::to_value(malice_or_null()).unwrap_or_default();
        assert_eq!(schema["type"], serde_json::json!(["string", "null"]));
        assert!(schema["enum"].as_array().is_some_and(|e| e.contains(&Value::Null) && e.len() == 5));
        let schema = serde_json::to_value(malice()).unwrap_or_default();
        assert_eq!(schema["type"], "string");
        assert!(!schema["enum"].as_array().is_some_and(|e| e.contains(&Value::Null)));
    }

    #[test]
    fn the_agent_create_body_requires_name_and_endpoint() {
        let schema = serde_json::to_value(agent_body(true)).unwrap_or_default();
        assert_eq!(schema["required"], serde_json::json!(["name", "endpoint_url"]));
        let patch = serde_json::to_value(agent_body(false)).unwrap_or_default();
        assert!(patch.get("required").is_none());
    }
}
