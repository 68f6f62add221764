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
    AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, ArrayItems, KnownFormat, ObjectBuilder,
    Schema, SchemaFormat, SchemaType, Type,
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
/// A character that is not white space as Rust's `str::trim` sees it, spelled out so ECMA-262 and
/// Python read it alike (their `\s` differ from Rust's on U+0085, U+FEFF and U+001C–U+001F): a
/// string the server refuses as blank is one the document calls invalid, and no other.
pub const NON_BLANK: &str = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]";

fn text(min: usize, max: usize, nullable: bool) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(kinds(Type::String, nullable))
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(NON_BLANK))
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
    /// A workflow generator's description: 1 to 10,000 characters.
    generate_description / generate_description_or_null = |n| text(
        1, calseta_services::resources::workflow_generator::MAX_DESCRIPTION_CHARS, n);
    /// What a workflow acts on: `indicator` or `alert`.
    workflow_type / workflow_type_or_null = |n| one_of(&calseta_core::workflows::WorkflowType::names(), n);
    /// A provider's `http_config`: its HTTP steps, as `validate_http_config` checks them.
    http_config / http_config_or_null = |n| http_config_shape(n);
    /// A provider's `malice_rules` (what `MaliceRules` reads).
    malice_rules / malice_rules_or_null = |n| malice_rules_shape(n);
    /// A provider's `cache_ttl_by_type`: an object.
    cache_ttls / cache_ttls_or_null = |n| object(n).description(Some(
        "Cache lifetime in seconds by indicator type, e.g. `{\"ip\": 3600}` (types without an entry use \
         `default_cache_ttl_seconds`)"));
    /// A provider's `private_network_hosts`: at most 64 `host` or `host:port` entries.
    private_hosts / private_hosts_or_null = |n| list_of(
        free_text(false).pattern(Some(private_host_pattern())), n)
        .max_items(Some(64))
        .description(Some(
            "`host` or `host:port` entries (names, IPv4, IPv6 bare or `[v6]:port`, as `SSRF_ALLOWED_HOSTS`) \
             the private-network allowance is narrowed to, at most 64; empty: every private address"));
    /// A point in time: ISO 8601 text, or epoch seconds (as v1 reads it).
    timestamp / timestamp_or_null = |n| AnyOfBuilder::new()
        .item(free_text(n).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
        .item(ObjectBuilder::new().schema_type(Type::Number).minimum(Some(0.0)).maximum(Some(calseta_core::time::LATEST_EPOCH_MILLIS)));
}

fn targeting(nullable: bool) -> ObjectBuilder {
    // A rule `{field, op, value}`: with op `in` the value is a list, with any other op anything;
    // `detection_rule` (beyond v1) takes only `eq`, `in` and `contains`.
    let v1_fields: Vec<&str> = targeting::FIELDS.iter().copied().filter(|f| *f != "detection_rule").collect();
    let rule_with = |fields: &[&str], ops: &[&str], value: Schema| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .property("field", one_of(fields, false))
            .property("op", one_of(ops, false))
            .property("value", value)
            .required("field")
            .required("op")
            .required("value")
    };
    let rule = || {
        let others: Vec<&str> = targeting::OPS.iter().copied().filter(|op| *op != "in").collect();
        let rule_others: Vec<&str> =
            targeting::DETECTION_RULE_OPS.iter().copied().filter(|op| *op != "in").collect();
        let any_list = || list_of(ObjectBuilder::new().schema_type(SchemaType::AnyValue), false).into();
        let anything = || ObjectBuilder::new().schema_type(SchemaType::AnyValue).into();
        AnyOfBuilder::new()
            .item(rule_with(&v1_fields, &["in"], any_list()))
            .item(rule_with(&v1_fields, &others, anything()))
            .item(rule_with(&["detection_rule"], &["in"], any_list()))
            .item(rule_with(&["detection_rule"], &rule_others, anything()))
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

/// Rust's `char::is_whitespace` (Unicode `White_Space`), what `str::trim` removes.
const WHITE_SPACE: &str = r"\x09-\x0D \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";

/// Text with a character `str::trim` keeps: not blank as the server reads it.
fn not_blank() -> String {
    format!("[^{WHITE_SPACE}]")
}

/// An HTTP method in any case (`to_uppercase` is one of the seven; `ı`, `ſ` and the `ﬅ`/`ﬆ`
/// ligatures upper-case to ASCII too).
const HTTP_METHOD: &str = concat!(
    "^(?:[Gg][Ee][Tt]|[Pp][Oo](?:[Ssſ][Tt]|[ﬅﬆ])|[Pp][Uu][Tt]|[Pp][Aa][Tt][Cc][Hh]",
    "|[Dd][Ee][Ll][Ee][Tt][Ee]|[Hh][Ee][Aa][Dd]|[Oo][Pp][Tt][Iiı][Oo][Nn][Ssſ])$"
);

/// What `AllowedHost::parse` accepts: after trimming, a bare IPv6 address, `[v6]` or `[v6]:port`,
/// `v6:port`, or a name (ASCII letters, digits, `-`, `_`, non-empty dot-separated labels, trailing
/// dots ignored) with an optional `:port`; a port is `u16` text (`+`, leading zeros) from 1.
fn private_host_pattern() -> String {
    let h = "[0-9A-Fa-f]{1,4}";
    let octet = "(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])";
    let ls32 = format!(r"(?:{h}:{h}|(?:{octet}\.){{3}}{octet})");
    let v6 = [
        format!("(?:{h}:){{6}}{ls32}"),
        format!("::(?:{h}:){{5}}{ls32}"),
        format!("(?:{h})?::(?:{h}:){{4}}{ls32}"),
        format!("(?:(?:{h}:){{0,1}}{h})?::(?:{h}:){{3}}{ls32}"),
        format!("(?:(?:{h}:){{0,2}}{h})?::(?:{h}:){{2}}{ls32}"),
        format!("(?:(?:{h}:){{0,3}}{h})?::{h}:{ls32}"),
        format!("(?:(?:{h}:){{0,4}}{h})?::{ls32}"),
        format!("(?:(?:{h}:){{0,5}}{h})?::{h}"),
        format!("(?:(?:{h}:){{0,6}}{h})?::"),
    ]
    .join("|");
    let port =
        r"\+?0*(?:[1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";
    let name = r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.*";
    format!(
        "^[{WHITE_SPACE}]*(?:(?:{v6})(?::{port})?|\\[(?:{v6})\\](?::{port})?|{name}(?::{port})?)[{WHITE_SPACE}]*$"
    )
}

/// Integers an HTTP status list holds (`u16`).
fn statuses(description: &str) -> ArrayBuilder {
    list_of(integer(0, Some(65_535), false), false).description(Some(description))
}

/// Where templates go: `{{value}}`, `{{type}}`, `{{indicator.value}}`, `{{indicator.type}}`,
/// `{{auth.<field>}}`, `{{steps.<name>.response.<path>}}`, optionally `| urlencode`.
const TEMPLATES: &str = "May hold `{{value}}`, `{{type}}`, `{{indicator.value}}`, `{{indicator.type}}`, \
    `{{auth.<field>}}` or `{{steps.<name>.response.<path>}}` (optionally `| urlencode`); other text is sent as written";

/// One HTTP request of a provider (`calseta_core::enrichment::HttpStep`); other keys are ignored.
fn http_step() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "name",
            free_text(true).description(Some("Defaults to `step_<i>`; later steps refer to it")),
        )
        .property(
            "method",
            free_text(false)
                .pattern(Some(HTTP_METHOD))
                .description(Some("GET (default), POST, PUT, PATCH, DELETE, HEAD or OPTIONS, in any case")),
        )
        .property("url", free_text(false).pattern(Some(not_blank())).description(Some(TEMPLATES)))
        .property("headers", object(false).description(Some(TEMPLATES)))
        .property("query_params", object(false).description(Some(TEMPLATES)))
        .property(
            "json_body",
            ObjectBuilder::new().schema_type(SchemaType::AnyValue).description(Some(TEMPLATES)),
        )
        .property("form_body", object(true).description(Some(TEMPLATES)))
        .property(
            "timeout_seconds",
            ObjectBuilder::new()
                .schema_type(Type::Number)
                .exclusive_minimum(Some(0.0))
                .maximum(Some(120.0))
                .description(Some("Above 0, at most 120 (default 30)")),
        )
        .property("expected_status", statuses("Statuses that succeed (default `[200]`)"))
        .property("not_found_status", statuses("Statuses that mean \"not found\" (default none)"))
        .property(
            "optional",
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .description(Some("A failing optional step does not fail the lookup (default false)")),
        )
        .required("url")
}

fn http_config_shape(nullable: bool) -> ObjectBuilder {
    object(nullable)
        .description(Some(
            "`{\"steps\": [step…], \"url_templates_by_type\": {type: url}}` (docs/enrichment.md); at most 256 KB",
        ))
        .property("steps", list_of(http_step(), false).min_items(Some(1)).description(Some(
            "Run in order; later steps may use earlier responses",
        )))
        .property(
            "url_templates_by_type",
            object(false)
                .additional_properties(Some(free_text(false)))
                .description(Some("Replaces the first step's `url` for an indicator type")),
        )
        .required("steps")
}

fn malice_rules_shape(nullable: bool) -> ObjectBuilder {
    let rule = ObjectBuilder::new()
        .schema_type(Type::Object)
        .property(
            "field",
            free_text(false).pattern(Some(NON_BLANK)).description(Some(
                "Dotted path into the response (step name first for multi-step providers)",
            )),
        )
        .property(
            "operator",
            one_of(&calseta_services::resources::providers::MALICE_OPERATORS, false)
                .description(Some("`==` (default), `!=`, `>`, `>=`, `<`, `<=`, `contains`, `in`")),
        )
        .property("value", ObjectBuilder::new().schema_type(SchemaType::AnyValue))
        .property(
            "verdict",
            one_of(&calseta_services::resources::providers::MALICE_VERDICTS, true)
                .description(Some("Defaults to `default_verdict`")),
        )
        .required("field");
    object(nullable)
        .description(Some(
            "Ordered threshold rules, the first match gives the verdict (`Malicious`, `Suspicious`, \
             `Benign`, `Pending`); at most 256 KB",
        ))
        .property("rules", list_of(rule, false))
        .property(
            "default_verdict",
            one_of(&calseta_services::resources::providers::MALICE_VERDICTS, false)
                .description(Some("Default `Pending`")),
        )
        .property(
            "not_found_verdict",
            one_of(&calseta_services::resources::providers::MALICE_VERDICTS, false)
                .description(Some("Default `Pending`")),
        )
}

/// `PATCH /v1/alerts/{uuid}`: the fields of `fields`, and `status` `Closed` only with a
/// `close_classification` in the same request.
pub fn alert_patch_body(fields: RefOr<Schema>) -> Schema {
    let open_statuses: Vec<&str> =
        AlertStatus::names().into_iter().filter(|s| *s != AlertStatus::Closed.as_str()).collect();
    AllOfBuilder::new()
        .item(fields)
        .item(
            AnyOfBuilder::new().item(object(false).property("status", one_of(&open_statuses, true))).item(
                object(false)
                    .property("close_classification", close_classification())
                    .required("close_classification"),
            ),
        )
        .description(Some("Closing (`status` `Closed`) needs `close_classification` in the same request"))
        .into()
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
            free_text(true)
                .pattern(Some(SIGNING_SECRET))
                .description(Some("`whsec_…`, or \"generate\" for a new one returned once")),
        )
        .property("trigger_on_sources", list_of(one_of(&source_names(), false), true))
        .property("trigger_on_severities", list_of(one_of(&Severity::names(), false), true))
        .property("trigger_filter", targeting(true))
        .property("timeout_seconds", integer(1, Some(300), true))
        .property("retry_count", integer(0, Some(10), true))
        .property("is_active", boolean());
    if !creating {
        // A lone header name or value is checked against the stored other half.
        return body.into();
    }
    body = body.required("name").required("endpoint_url");
    let neither = object(false)
        .property("auth_header_name", ObjectBuilder::new().schema_type(Type::Null))
        .property("auth_header_value", ObjectBuilder::new().schema_type(Type::Null));
    let both = object(false)
        .property("auth_header_name", free_text(false).pattern(Some(NON_BLANK)))
        .property("auth_header_value", free_text(false))
        .required("auth_header_name")
        .required("auth_header_value");
    AllOfBuilder::new()
        .item(body)
        .item(AnyOfBuilder::new().item(neither).item(both))
        .description(Some("`auth_header_name` and `auth_header_value` go together"))
        .into()
}

/// A signing secret: `generate`, or `whsec_` and the canonical padded base64 of 16 or more key
/// bytes (what `calseta_core::webhooks::secret_key` accepts).
const SIGNING_SECRET: &str = concat!(
    "^(generate",
    "|whsec_(?:[A-Za-z0-9+/]{4}){5,}(?:[A-Za-z0-9+/][AQgw]==|[A-Za-z0-9+/]{2}[AEIMQUYcgkosw048]=)",
    "|whsec_(?:[A-Za-z0-9+/]{4}){6,})$"
);

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
        .property("http_config", http_config_shape(true))
        .property("auth_type", free_text(true))
        .property(
            "auth_config",
            object(true).description(Some("Used as `{{auth.*}}`; stored encrypted, never returned")),
        )
        .property("default_cache_ttl_seconds", integer(0, Some(86_400), true))
        .property("cache_ttl_by_type", cache_ttls_or_null())
        .property("malice_rules", malice_rules_or_null())
        .property("rate_limit_per_minute", integer(1, None, true))
        .property("max_concurrency", integer(1, Some(64), true))
        .property("allow_private_network", boolean())
        .property("private_network_hosts", private_hosts_or_null())
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
                .pattern(Some(NON_BLANK))
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
    fn the_non_blank_pattern_matches_exactly_what_trim_keeps() {
        let pattern = regex::Regex::new(super::NON_BLANK).unwrap();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            assert_eq!(pattern.is_match(&c.to_string()), !c.is_whitespace(), "U+{:04X}", c as u32);
        }
        // In every route's own schema attributes too.
        let routes = include_str!("routes/detection_rules.rs");
        assert!(routes.contains(super::NON_BLANK));
    }

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
        assert_eq!(schema["allOf"][0]["required"], serde_json::json!(["name", "endpoint_url"]));
        let patch = serde_json::to_value(agent_body(false)).unwrap_or_default();
        assert!(patch.get("required").is_none());
    }

    #[test]
    fn the_signing_secret_pattern_accepts_exactly_what_the_server_does() {
        let pattern = regex::Regex::new(SIGNING_SECRET).unwrap();
        let mut samples =
            vec!["generate".to_string(), "whsec_".into(), "whsec_AAAA".into(), "generate\n".into()];
        for len in 10..40u8 {
            let key: Vec<u8> = (0..len).map(|i| i.wrapping_mul(37).wrapping_add(len)).collect();
            let secret = calseta_core::webhooks::secret_from_key(&key);
            samples.push(secret.clone());
            samples.push(secret.trim_end_matches('=').to_string());
            samples.push(format!("{secret}="));
            // A padded tail whose unused bits are set is not canonical.
            if let Some(body) = secret.strip_suffix("==") {
                samples.push(format!("{}B==", &body[..body.len() - 1]));
            }
            if let Some(body) = secret.strip_suffix('=').filter(|b| !b.ends_with('=')) {
                samples.push(format!("{}B=", &body[..body.len() - 1]));
            }
        }
        for sample in samples {
            let server = sample == "generate" || calseta_core::webhooks::secret_key(&sample).is_ok();
            assert_eq!(pattern.is_match(&sample), server, "{sample:?}");
        }
    }

    /// The JSON Schema keywords these shapes use, checked as a validator would (patterns searched).
    fn valid(schema: &Value, value: &Value) -> bool {
        let Some(schema) = schema.as_object() else { return true };
        let type_ok = |kind: &str| match kind {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "number" => value.is_number(),
            // As JSON Schema reads it: `200.0` is an integer too.
            "integer" => value.as_f64().is_some_and(|n| n.fract() == 0.0),
            _ => false,
        };
        let types_ok = match schema.get("type") {
            Some(Value::String(kind)) => type_ok(kind),
            Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).any(type_ok),
            _ => true,
        };
        let number = |key: &str| schema.get(key).and_then(Value::as_f64);
        let count = |key: &str| schema.get(key).and_then(Value::as_u64).map(|n| n as usize);
        let each = |key: &str| schema.get(key).and_then(Value::as_array).cloned().unwrap_or_default();
        let mut ok = types_ok
            && schema.get("enum").and_then(Value::as_array).is_none_or(|allowed| allowed.contains(value))
            && each("allOf").iter().all(|s| valid(s, value))
            && schema.get("anyOf").is_none_or(|_| each("anyOf").iter().any(|s| valid(s, value)));
        if let Some(text) = value.as_str() {
            let chars = text.chars().count();
            ok &= schema
                .get("pattern")
                .and_then(Value::as_str)
                .is_none_or(|p| regex::Regex::new(p).map(|r| r.is_match(text)).unwrap_or(false))
                && count("minLength").is_none_or(|n| chars >= n)
                && count("maxLength").is_none_or(|n| chars <= n);
        }
        if let Some(n) = value.as_f64() {
            ok &= number("minimum").is_none_or(|m| n >= m)
                && number("maximum").is_none_or(|m| n <= m)
                && number("exclusiveMinimum").is_none_or(|m| n > m);
        }
        if let Some(items) = value.as_array() {
            ok &= count("minItems").is_none_or(|n| items.len() >= n)
                && count("maxItems").is_none_or(|n| items.len() <= n)
                && schema.get("items").is_none_or(|s| items.iter().all(|i| valid(s, i)));
        }
        if let Some(fields) = value.as_object() {
            let properties = schema.get("properties").and_then(Value::as_object);
            ok &= each("required").iter().filter_map(Value::as_str).all(|k| fields.contains_key(k))
                && count("minProperties").is_none_or(|n| fields.len() >= n)
                && fields.iter().all(|(k, v)| match properties.and_then(|p| p.get(k)) {
                    Some(s) => valid(s, v),
                    None => match schema.get("additionalProperties") {
                        Some(Value::Bool(allowed)) => *allowed,
                        Some(s) => valid(s, v),
                        None => true,
                    },
                });
        }
        ok
    }

    fn json(shape: RefOr<Schema>) -> Value {
        serde_json::to_value(shape).unwrap_or_default()
    }

    #[test]
    fn every_builtin_provider_fits_the_provider_shapes() {
        let seeds: Vec<Value> =
            serde_json::from_str(include_str!("../../calseta-services/seed/providers.json")).unwrap();
        assert!(seeds.len() >= 7);
        let (config, rules, ttls) =
            (json(http_config()), json(malice_rules_or_null()), json(cache_ttls_or_null()));
        for seed in &seeds {
            let name = &seed["provider_name"];
            assert!(valid(&config, &seed["http_config"]), "{name} http_config");
            assert!(calseta_core::enrichment::validate_http_config(&seed["http_config"]).is_ok(), "{name}");
            assert!(valid(&rules, &seed["malice_rules"]), "{name} malice_rules");
            assert!(valid(&ttls, &seed["cache_ttl_by_type"]), "{name} cache_ttl_by_type");
        }
    }

    #[test]
    fn the_http_config_shape_admits_exactly_what_the_server_does() {
        use serde_json::json;
        let config = json(http_config());
        let step = |extra: Value| {
            let mut step = json!({"url": "https://x/{{value}}"});
            if let (Some(step), Some(extra)) = (step.as_object_mut(), extra.as_object()) {
                step.extend(extra.clone());
            }
            json!({"steps": [step]})
        };
        let samples = [
            json!({}),
            json!([]),
            json!({"steps": []}),
            json!({"steps": null}),
            json!({"steps": [{}]}),
            json!({"steps": [{"url": ""}]}),
            json!({"steps": [{"url": " \u{85}\u{3000}"}]}),
            json!({"steps": [{"url": "\u{feff}"}]}),
            json!({"steps": [{"url": null}]}),
            json!({"steps": [{"url": "x"}], "url_templates_by_type": {"ip": "y"}}),
            json!({"steps": [{"url": "x"}], "url_templates_by_type": {"ip": 1}}),
            json!({"steps": [{"url": "x"}], "url_templates_by_type": null}),
            json!({"steps": [{"url": "x"}], "other": 1}),
            step(json!({})),
            step(json!({"method": "get"})),
            step(json!({"method": "PoSt"})),
            step(json!({"method": "po\u{fb06}"})),
            step(json!({"method": "OPT\u{131}ONS"})),
            step(json!({"method": "GET "})),
            step(json!({"method": "FETCH"})),
            step(json!({"method": null})),
            step(json!({"name": null, "optional": true, "json_body": null, "form_body": null})),
            step(json!({"optional": null})),
            step(json!({"headers": null})),
            step(json!({"headers": {"a": 1}, "query_params": {"b": [1]}, "form_body": {"c": "d"}})),
            step(json!({"query_params": []})),
            step(json!({"timeout_seconds": 0})),
            step(json!({"timeout_seconds": 0.001})),
            step(json!({"timeout_seconds": 120})),
            step(json!({"timeout_seconds": 120.5})),
            step(json!({"timeout_seconds": null})),
            step(json!({"expected_status": [0, 65535], "not_found_status": []})),
            step(json!({"expected_status": [65536]})),
            step(json!({"expected_status": [-1]})),
            step(json!({"expected_status": [200.5]})),
            step(json!({"expected_status": [200.0, -0.0], "not_found_status": [404.0]})),
            step(json!({"expected_status": [65536.0]})),
            step(json!({"not_found_status": null})),
        ];
        for sample in samples {
            let server = calseta_core::enrichment::validate_http_config(&sample).is_ok();
            assert_eq!(valid(&config, &sample), server, "{sample}");
        }
    }

    #[test]
    fn the_method_pattern_is_what_upper_cases_to_a_method() {
        const METHODS: [&str; 7] = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];
        let pattern = regex::Regex::new(HTTP_METHOD).unwrap();
        // Every character whose upper case is ASCII letters only.
        let alphabet: Vec<(char, String)> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .map(|c| (c, c.to_uppercase().collect::<String>()))
            .filter(|(_, upper)| upper.bytes().all(|b| b.is_ascii_uppercase()))
            .collect();
        // Every spelling of each method, and a few near misses.
        fn spell(rest: &str, alphabet: &[(char, String)], prefix: String, out: &mut Vec<String>) {
            if rest.is_empty() {
                out.push(prefix);
                return;
            }
            for (c, upper) in alphabet {
                if let Some(tail) = rest.strip_prefix(upper.as_str()) {
                    spell(tail, alphabet, format!("{prefix}{c}"), out);
                }
            }
        }
        let mut spellings = Vec::new();
        for method in METHODS {
            spell(method, &alphabet, String::new(), &mut spellings);
        }
        assert!(spellings.len() > 300);
        for spelling in &spellings {
            assert!(pattern.is_match(spelling), "{spelling}");
        }
        for miss in ["", "GE", "GETS", " GET", "GET\n", "FETCH", "ǴET", "POS", "P\u{fb05}T"] {
            assert_eq!(pattern.is_match(miss), METHODS.contains(&miss.to_uppercase().as_str()), "{miss:?}");
        }
    }

    #[test]
    fn the_private_host_pattern_is_what_the_server_parses() {
        use calseta_services::platform::outbound::AllowedHost;
        let pattern = regex::Regex::new(&private_host_pattern()).unwrap();
        let hosts = [
            "",
            " ",
            "a",
            "A",
            "0",
            "a.b",
            "a.",
            "a..",
            ".a",
            "a..b",
            "..",
            "a_b-c",
            "a b",
            "é.com",
            "a:",
            "a:0",
            "a:1",
            "a:+1",
            "a:+",
            "a:-1",
            "a:0080",
            "a:65535",
            "a:65536",
            "a:99999",
            "a:1:2",
            "1.2.3.4",
            "1.2.3.4:80",
            "01.2.3.4",
            "::",
            "::1",
            "::1:80",
            "[::1]",
            "[::1]:80",
            "[::1]:",
            "[::1]80",
            "[::1]]",
            "[a]",
            "[1.2.3.4]",
            "::ffff:1.2.3.4",
            "::ffff:1.2.3.4:80",
            "::ffff:01.2.3.4",
            "::ffff:1.2.3.256",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8:80",
            "1:2:3:4:5:6:7::",
            "1:2:3:4:5:6:7:8::",
            "1::2::3",
            "1:2:3:4:5:6:1.2.3.4",
            "1:2:3:4:5::1.2.3.4",
            "1:2:3:4:5:6::1.2.3.4",
            "1.2.3.4::",
            "12345::",
            "ABCD::ef",
            "fe80::1%eth0",
            " \u{a0}host\u{3000}",
            "\u{feff}host",
            "host\u{85}",
            "a:80 ",
            "[::1]:80\t",
        ];
        for host in hosts {
            assert_eq!(pattern.is_match(host), AllowedHost::parse(host).is_ok(), "{host:?}");
        }
    }

    #[test]
    fn an_in_rule_takes_a_list() {
        let schema = serde_json::to_value(targeting_rules()).unwrap_or_default();
        let variants = &schema["properties"]["match_any"]["items"]["anyOf"];
        assert_eq!(variants[0]["properties"]["op"]["enum"], serde_json::json!(["in"]));
        assert_eq!(variants[0]["properties"]["value"]["type"], "array");
        assert!(
            !variants[1]["properties"]["op"]["enum"].as_array().is_some_and(|ops| ops.contains(&"in".into()))
        );
        assert_eq!(variants[2]["properties"]["field"]["enum"], serde_json::json!(["detection_rule"]));
        assert_eq!(variants[2]["properties"]["value"]["type"], "array");
        assert_eq!(variants[3]["properties"]["op"]["enum"], serde_json::json!(["eq", "contains"]));
    }
}
