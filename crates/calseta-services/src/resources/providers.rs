//! Enrichment provider and field-extraction management: the seeded builtins, CRUD with builtin
//! restrictions, encrypted credentials, activation, the live test, and on-demand enrichment.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use calseta_core::enrichment::{MaliceRules, ProviderResult, validate_http_config};
use calseta_core::indicators::{self as values, IndicatorType};
use calseta_store::Db;
use calseta_store::enrichment_cache;
pub use calseta_store::enrichment_cache::ProviderUsage;
use calseta_store::enrichment_providers::{self as repo, ProviderFields, ProviderRow};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::pipeline::enrich::{EnrichmentEngine, ProviderRegistry, StepDebug};
use crate::resources::body;
use crate::{FieldError, ServiceError};

const MAX_JSON_BYTES: usize = 256 * 1024;
/// Fields an admin may change on a builtin provider.
pub const BUILTIN_MUTABLE: [&str; 10] = [
    "is_active",
    "auth_config",
    "description",
    "malice_rules",
    "default_cache_ttl_seconds",
    "cache_ttl_by_type",
    "rate_limit_per_minute",
    "max_concurrency",
    "allow_private_network",
    "private_network_hosts",
];

/// Fields an admin may change on a custom provider (others in a body are ignored, as elsewhere).
pub const PATCHABLE: [&str; 14] = [
    "display_name",
    "description",
    "is_active",
    "supported_indicator_types",
    "http_config",
    "auth_type",
    "auth_config",
    "default_cache_ttl_seconds",
    "cache_ttl_by_type",
    "malice_rules",
    "rate_limit_per_minute",
    "max_concurrency",
    "allow_private_network",
    "private_network_hosts",
];

#[derive(Deserialize)]
struct SeedProvider {
    provider_name: String,
    display_name: String,
    description: Option<String>,
    supported_indicator_types: Vec<String>,
    auth_type: String,
    env_var_mapping: Option<Value>,
    default_cache_ttl_seconds: i32,
    cache_ttl_by_type: Option<Value>,
    rate_limit_per_minute: Option<i32>,
    max_concurrency: i32,
    allow_private_network: bool,
    http_config: Value,
    malice_rules: Option<Value>,
    mock_responses: Option<Value>,
}

/// A provider to create (unvalidated).
#[derive(Debug, Clone, Default)]
pub struct ProviderInput {
    /// Unique name.
    pub provider_name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Notes.
    pub description: Option<String>,
    /// Indicator types it looks up.
    pub supported_indicator_types: Vec<String>,
    /// Its HTTP steps.
    pub http_config: Value,
    /// `api_key`, `no_auth`, …
    pub auth_type: Option<String>,
    /// Credentials (stored encrypted).
    pub auth_config: Option<Value>,
    /// Cache lifetime.
    pub default_cache_ttl_seconds: Option<i32>,
    /// Cache lifetime per indicator type.
    pub cache_ttl_by_type: Option<Value>,
    /// How answers become verdicts.
    pub malice_rules: Option<Value>,
    /// Calls allowed per minute.
    pub rate_limit_per_minute: Option<i32>,
    /// Calls at once per process.
    pub max_concurrency: Option<i32>,
    /// Whether private addresses may be called.
    pub allow_private_network: Option<bool>,
    /// `host` or `host:port` entries that allowance is narrowed to (empty: every private address).
    pub private_network_hosts: Option<Vec<String>>,
}

/// A change to a provider: the fields present in the request body (JSON merge patch).
pub type ProviderPatch = Map<String, Value>;

/// The most entries a provider's private-network allowance may list.
const MAX_PRIVATE_HOSTS: usize = 64;

/// Each entry of `private_network_hosts` must be a `host` or `host:port` (as `SSRF_ALLOWED_HOSTS`).
fn check_private_hosts(hosts: &[String], errors: &mut Vec<FieldError>) {
    if hosts.len() > MAX_PRIVATE_HOSTS {
        errors
            .push(FieldError::body("private_network_hosts", format!("at most {MAX_PRIVATE_HOSTS} entries")));
    }
    for (i, host) in hosts.iter().enumerate() {
        if let Err(why) = crate::platform::outbound::AllowedHost::parse(host) {
            errors.push(FieldError {
                loc: vec!["body".into(), "private_network_hosts".into(), i.to_string()],
                msg: format!("'{host}' is not a host or host:port ({why})"),
                kind: "value_error".into(),
            });
        }
    }
}

/// Provider management.
pub struct ProviderService {
    db: Db,
    engine: EnrichmentEngine,
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("Enrichment provider not found.".into())
}

fn check_size(field: &str, value: &Value, errors: &mut Vec<FieldError>) {
    if value.to_string().len() > MAX_JSON_BYTES {
        errors.push(FieldError::body(field, format!("{field} is larger than 256 KB")));
    }
}

fn check_types(types: &[String], errors: &mut Vec<FieldError>) {
    if types.is_empty() {
        errors.push(FieldError::body("supported_indicator_types", "at least one indicator type is required"));
    }
    for t in types {
        if IndicatorType::parse(t).is_err() {
            errors.push(FieldError::body(
                "supported_indicator_types",
                format!("'{t}' is not an indicator type"),
            ));
        }
    }
}

/// Where a problem of `validate_http_config` is: `http_config.steps[1].url is empty` is at
/// `["body", "http_config", "steps", "1", "url"]`, so a form can show it beside that step's field;
/// anything else is at `["body", "http_config"]`. The message is unchanged.
fn http_config_loc(problem: &str) -> Vec<String> {
    let mut loc = vec!["body".to_string(), "http_config".to_string()];
    if let Some(rest) = problem.strip_prefix("http_config.steps[")
        && let Some((index, rest)) = rest.split_once("].")
        && index.parse::<usize>().is_ok()
    {
        let field: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        loc.extend(["steps".to_string(), index.to_string()]);
        if !field.is_empty() {
            loc.push(field);
        }
    }
    loc
}

fn check_http_config(value: &Value, errors: &mut Vec<FieldError>) {
    check_size("http_config", value, errors);
    if let Err(problems) = validate_http_config(value) {
        errors.extend(problems.into_iter().map(|p| FieldError {
            loc: http_config_loc(&p),
            msg: p,
            kind: "value_error".into(),
        }));
    }
}

/// The operators malice rules understand (any other would never match).
pub const MALICE_OPERATORS: [&str; 8] = ["==", "!=", ">", ">=", "<", "<=", "contains", "in"];
/// The verdicts a malice rule may give.
pub const MALICE_VERDICTS: [&str; 4] = ["Malicious", "Suspicious", "Benign", "Pending"];

fn check_rules(value: &Value, errors: &mut Vec<FieldError>) {
    check_size("malice_rules", value, errors);
    // Objects only, as the document says (serde alone would also read a list as the struct).
    let rules = value.get("rules").and_then(Value::as_array);
    if !value.is_object() || rules.is_some_and(|rules| !rules.iter().all(Value::is_object)) {
        errors.push(FieldError::body("malice_rules", "malice_rules and each of its rules must be objects"));
        return;
    }
    let parsed = match serde_json::from_value::<MaliceRules>(value.clone()) {
        Ok(parsed) => parsed,
        Err(e) => {
            errors.push(FieldError::body("malice_rules", format!("malice_rules: {e}")));
            return;
        }
    };
    // Each problem is located at its rule's field, so a form shows it beside that rule.
    let at = |path: &[&str], msg: String| FieldError {
        loc: ["body", "malice_rules"].iter().chain(path).map(|p| p.to_string()).collect(),
        msg,
        kind: "value_error".into(),
    };
    for (i, rule) in parsed.rules.iter().enumerate() {
        let index = i.to_string();
        if rule.field.trim().is_empty() {
            errors.push(at(&["rules", &index, "field"], format!("malice_rules.rules[{i}].field is empty")));
        }
        if !MALICE_OPERATORS.contains(&rule.operator.as_str()) {
            errors.push(at(
                &["rules", &index, "operator"],
                format!(
                    "malice_rules.rules[{i}].operator '{}' is not one of {}",
                    rule.operator,
                    MALICE_OPERATORS.join(", ")
                ),
            ));
        }
        if let Some(verdict) = rule.verdict.as_deref().filter(|v| !MALICE_VERDICTS.contains(v)) {
            errors.push(at(
                &["rules", &index, "verdict"],
                format!(
                    "malice_rules.rules[{i}].verdict '{verdict}' is not one of {}",
                    MALICE_VERDICTS.join(", ")
                ),
            ));
        }
    }
    for (field, verdict) in
        [("default_verdict", &parsed.default_verdict), ("not_found_verdict", &parsed.not_found_verdict)]
    {
        if !MALICE_VERDICTS.contains(&verdict.as_str()) {
            errors.push(at(
                &[field],
                format!("malice_rules.{field} '{verdict}' is not one of {}", MALICE_VERDICTS.join(", ")),
            ));
        }
    }
}

/// `cache_ttl_by_type` is an object (indicator type → seconds), as the document and the answers say.
fn check_cache_ttls(value: &Value, errors: &mut Vec<FieldError>) {
    check_size("cache_ttl_by_type", value, errors);
    if !value.is_object() {
        errors.push(FieldError::body("cache_ttl_by_type", "cache_ttl_by_type must be an object or null"));
    }
}

fn check_ttl(value: i32, errors: &mut Vec<FieldError>) {
    if !(0..=86_400).contains(&value) {
        errors.push(FieldError::body("default_cache_ttl_seconds", "must be between 0 and 86400"));
    }
}

fn check_limits(rate: Option<i32>, concurrency: Option<i32>, errors: &mut Vec<FieldError>) {
    if rate.is_some_and(|r| r < 1) {
        errors.push(FieldError::body("rate_limit_per_minute", "must be at least 1 (or null for no limit)"));
    }
    if concurrency.is_some_and(|c| !(1..=64).contains(&c)) {
        errors.push(FieldError::body("max_concurrency", "must be between 1 and 64"));
    }
}

impl ProviderService {
    /// A service.
    pub fn new(db: Db, engine: EnrichmentEngine) -> Self {
        Self { db, engine }
    }

    fn registry(&self) -> &Arc<ProviderRegistry> {
        self.engine.registry()
    }

    /// The engine (on-demand enrichment, tests).
    pub fn engine(&self) -> &EnrichmentEngine {
        &self.engine
    }

    /// Seeds the seven builtins, refreshing their HTTP configuration and mocks (their system field
    /// extractions are seeded by [`crate::resources::field_extractions`]).
    pub async fn seed_builtins(&self) -> Result<(), ServiceError> {
        let seeds: Vec<SeedProvider> = serde_json::from_str(include_str!("../../seed/providers.json"))
            .map_err(|e| ServiceError::Config(format!("embedded provider seed is invalid: {e}")))?;
        for s in seeds {
            let fields = ProviderFields {
                provider_name: s.provider_name,
                display_name: s.display_name,
                description: s.description,
                is_builtin: true,
                is_active: true,
                supported_indicator_types: s.supported_indicator_types,
                http_config: s.http_config,
                auth_type: s.auth_type,
                auth_config: None,
                env_var_mapping: s.env_var_mapping,
                default_cache_ttl_seconds: s.default_cache_ttl_seconds,
                cache_ttl_by_type: s.cache_ttl_by_type,
                malice_rules: s.malice_rules,
                mock_responses: s.mock_responses,
                rate_limit_per_minute: s.rate_limit_per_minute,
                max_concurrency: s.max_concurrency,
                allow_private_network: s.allow_private_network,
                private_network_hosts: Vec::new(),
            };
            repo::seed_builtin(&self.db, &fields).await?;
        }
        self.registry().invalidate();
        Ok(())
    }

    /// Whether credentials are available (stored, env fallback, or none needed).
    pub fn has_credentials(&self, row: &ProviderRow) -> bool {
        row.auth_type == "no_auth"
            || row.auth_config.is_some()
            || !self.registry().credentials(row).is_empty()
    }

    /// Whether the provider is usable now.
    pub fn is_configured(&self, row: &ProviderRow) -> bool {
        row.is_active
            && ((self.registry().mock_mode() && row.mock_responses.is_some()) || self.has_credentials(row))
    }

    /// Providers, oldest first.
    pub async fn list(
        &self,
        is_active: Option<bool>,
        is_builtin: Option<bool>,
    ) -> Result<Vec<ProviderRow>, ServiceError> {
        Ok(repo::list(&self.db, is_active, is_builtin).await?)
    }

    /// One provider.
    pub async fn get(&self, uuid: Uuid) -> Result<ProviderRow, ServiceError> {
        repo::get(&self.db, uuid).await?.ok_or_else(not_found)
    }

    /// Creates a custom provider.
    pub async fn create(&self, input: ProviderInput) -> Result<ProviderRow, ServiceError> {
        let mut errors = Vec::new();
        let name = input.provider_name.trim().to_string();
        if name.is_empty()
            || name.len() > 100
            || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            errors.push(FieldError::body(
                "provider_name",
                "provider_name must be 1 to 100 characters of a-z, 0-9 and _",
            ));
        }
        if input.display_name.trim().is_empty() || input.display_name.chars().count() > 200 {
            errors.push(FieldError::body("display_name", "display_name must be 1 to 200 characters"));
        }
        check_types(&input.supported_indicator_types, &mut errors);
        check_http_config(&input.http_config, &mut errors);
        if let Some(rules) = &input.malice_rules {
            check_rules(rules, &mut errors);
        }
        if let Some(ttls) = &input.cache_ttl_by_type {
            check_cache_ttls(ttls, &mut errors);
        }
        if let Some(config) = &input.auth_config {
            check_size("auth_config", config, &mut errors);
            if !config.is_object() {
                errors.push(FieldError::body("auth_config", "auth_config must be an object"));
            }
        }
        let ttl = input.default_cache_ttl_seconds.unwrap_or(3600);
        check_ttl(ttl, &mut errors);
        let private_network_hosts = input.private_network_hosts.clone().unwrap_or_default();
        check_private_hosts(&private_network_hosts, &mut errors);
        check_limits(input.rate_limit_per_minute, input.max_concurrency, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let auth_config =
            input.auth_config.as_ref().map(|c| self.registry().key().encrypt_json(c)).transpose()?;
        let fields = ProviderFields {
            provider_name: name.clone(),
            display_name: input.display_name.trim().to_string(),
            description: input.description,
            is_builtin: false,
            is_active: true,
            supported_indicator_types: input.supported_indicator_types,
            http_config: input.http_config,
            auth_type: input.auth_type.unwrap_or_else(|| "no_auth".into()),
            auth_config,
            env_var_mapping: None,
            default_cache_ttl_seconds: ttl,
            cache_ttl_by_type: input.cache_ttl_by_type,
            malice_rules: input.malice_rules,
            mock_responses: None,
            rate_limit_per_minute: input.rate_limit_per_minute,
            max_concurrency: input.max_concurrency.unwrap_or(4),
            allow_private_network: input.allow_private_network.unwrap_or(false),
            private_network_hosts,
        };
        let row = repo::insert(&self.db, &fields).await.map_err(|e| {
            if e.is_unique_violation() {
                ServiceError::conflict(
                    "DUPLICATE_PROVIDER",
                    format!("A provider named '{name}' already exists."),
                )
            } else {
                e.into()
            }
        })?;
        self.registry().invalidate();
        Ok(row)
    }

    /// Applies the fields present in `patch` (explicit `null` clears nullable fields).
    pub async fn patch(&self, uuid: Uuid, patch: ProviderPatch) -> Result<ProviderRow, ServiceError> {
        let row = self.get(uuid).await?;
        if row.is_builtin {
            let forbidden: Vec<&String> = patch
                .keys()
                .filter(|k| PATCHABLE.contains(&k.as_str()) && !BUILTIN_MUTABLE.contains(&k.as_str()))
                .collect();
            if !forbidden.is_empty() {
                return Err(ServiceError::refused(
                    "BUILTIN_RESTRICTED",
                    format!(
                        "Cannot modify fields {forbidden:?} on builtin providers. Allowed: {BUILTIN_MUTABLE:?}"
                    ),
                ));
            }
        }
        let mut f = ProviderFields::from(row.clone());
        let mut errors = Vec::new();
        for (key, value) in &patch {
            let mut text = || body::text(key, value, &mut errors);
            match key.as_str() {
                "display_name" => match text().filter(|t| !t.trim().is_empty() && t.chars().count() <= 200) {
                    Some(t) => f.display_name = t,
                    None if value.is_null() => {}
                    None => errors
                        .push(FieldError::body("display_name", "display_name must be 1 to 200 characters")),
                },
                "description" => f.description = text(),
                "is_active" => f.is_active = body::flag(key, value, &mut errors).unwrap_or(f.is_active),
                "supported_indicator_types" if !value.is_null() => {
                    let types: Vec<String> = serde_json::from_value(value.clone()).unwrap_or_default();
                    check_types(&types, &mut errors);
                    f.supported_indicator_types = types;
                }
                "http_config" if !value.is_null() => {
                    check_http_config(value, &mut errors);
                    f.http_config = value.clone();
                }
                "auth_type" if !value.is_null() => f.auth_type = text().unwrap_or(f.auth_type),
                "auth_config" => {
                    f.auth_config = match value {
                        Value::Null => None,
                        Value::Object(_) => {
                            check_size("auth_config", value, &mut errors);
                            Some(self.registry().key().encrypt_json(value)?)
                        }
                        _ => {
                            errors.push(FieldError::body(
                                "auth_config",
                                "auth_config must be an object or null",
                            ));
                            None
                        }
                    }
                }
                "default_cache_ttl_seconds" if !value.is_null() => {
                    let ttl = body::integer(value).and_then(|v| i32::try_from(v).ok()).unwrap_or(-1);
                    check_ttl(ttl, &mut errors);
                    f.default_cache_ttl_seconds = ttl;
                }
                "cache_ttl_by_type" => {
                    if !value.is_null() {
                        check_cache_ttls(value, &mut errors);
                    }
                    f.cache_ttl_by_type = (!value.is_null()).then(|| value.clone());
                }
                "malice_rules" => {
                    if !value.is_null() {
                        check_rules(value, &mut errors);
                    }
                    f.malice_rules = (!value.is_null()).then(|| value.clone());
                }
                "rate_limit_per_minute" => {
                    // Only `null` lifts the limit: any other value that is no limit is refused.
                    f.rate_limit_per_minute = match value {
                        Value::Null => None,
                        _ => match body::integer(value).and_then(|v| i32::try_from(v).ok()) {
                            Some(limit) => Some(limit),
                            None => {
                                errors.push(FieldError::body(
                                    "rate_limit_per_minute",
                                    format!(
                                        "must be an integer from 1 to {} (or null for no limit)",
                                        i32::MAX
                                    ),
                                ));
                                None
                            }
                        },
                    };
                    check_limits(f.rate_limit_per_minute, None, &mut errors);
                }
                "max_concurrency" if !value.is_null() => {
                    let c = body::integer(value).and_then(|v| i32::try_from(v).ok()).unwrap_or(0);
                    check_limits(None, Some(c), &mut errors);
                    f.max_concurrency = c;
                }
                "allow_private_network" if !value.is_null() => {
                    f.allow_private_network = value.as_bool().unwrap_or(false)
                }
                "private_network_hosts" => match serde_json::from_value::<Option<Vec<String>>>(value.clone())
                {
                    Ok(hosts) => {
                        let hosts = hosts.unwrap_or_default();
                        check_private_hosts(&hosts, &mut errors);
                        f.private_network_hosts = hosts;
                    }
                    Err(_) => errors.push(FieldError::body(
                        "private_network_hosts",
                        "private_network_hosts must be a list of host or host:port entries",
                    )),
                },
                _ => {}
            }
        }
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let updated = repo::update(&self.db, row.id, &f).await?;
        self.registry().invalidate();
        Ok(updated)
    }

    /// Activates or deactivates.
    pub async fn set_active(&self, uuid: Uuid, active: bool) -> Result<ProviderRow, ServiceError> {
        let mut patch = Map::new();
        patch.insert("is_active".into(), Value::Bool(active));
        self.patch(uuid, patch).await
    }

    /// Deletes a custom provider (and its custom extractions).
    pub async fn delete(&self, uuid: Uuid) -> Result<(), ServiceError> {
        if self.get(uuid).await?.is_builtin {
            return Err(ServiceError::refused(
                "BUILTIN_RESTRICTED",
                "Builtin providers cannot be deleted; deactivate them instead.",
            ));
        }
        repo::delete(&self.db, uuid).await?;
        self.registry().invalidate();
        Ok(())
    }

    /// Runs the provider live against one value, returning the report of `POST …/test`.
    pub async fn test(
        &self,
        uuid: Uuid,
        indicator_type: &str,
        indicator_value: &str,
    ) -> Result<Value, ServiceError> {
        let row = self.get(uuid).await?;
        let kind = IndicatorType::parse(indicator_type)
            .map_err(|e| ServiceError::invalid("indicator_type", e.to_string()))?;
        if indicator_value.trim().is_empty() {
            return Err(ServiceError::invalid("indicator_value", "indicator_value must not be empty"));
        }
        let provider = self.registry().provider(&row.provider_name).await?.ok_or_else(|| {
            ServiceError::refused(
                "PROVIDER_NOT_LOADED",
                format!("Provider '{}' is not active.", row.provider_name),
            )
        })?;
        let value =
            values::normalize(kind, indicator_value).unwrap_or_else(|_| indicator_value.trim().to_string());
        let started = Instant::now();
        let (result, steps): (ProviderResult, Option<Vec<StepDebug>>) =
            self.engine.test(&provider, kind, &value).await;
        Ok(json!({
            "success": result.is_success(),
            "provider_name": row.provider_name,
            "indicator_type": kind,
            "indicator_value": value,
            "extracted": result.extracted,
            "raw_response": result.raw,
            "error_message": result.status.error_message(),
            "duration_ms": started.elapsed().as_secs_f64() * 1000.0,
            "steps": steps,
            // Additive: which malice rule gave `extracted.malice` (as stored with each result).
            "malice_rule": result.malice_rule.as_ref().map(|rule| rule.to_json()),
        }))
    }

    /// Every provider's stored outcomes (indicators holding its successful and its failed
    /// results) and its fresh entries in the shared cache, keyed by provider name.
    pub async fn usage(&self) -> Result<BTreeMap<String, ProviderUsage>, ServiceError> {
        Ok(enrichment_cache::usage(&self.db).await?)
    }

    /// Deletes the provider's entries in the shared cache, so its next lookups ask it again;
    /// returns how many were removed.
    pub async fn clear_cache(&self, uuid: Uuid) -> Result<u64, ServiceError> {
        let row = self.get(uuid).await?;
        Ok(enrichment_cache::clear_provider(&self.db, &row.provider_name).await?)
    }

    /// On-demand enrichment of one value (normalized first; nothing persisted but the cache): each
    /// provider's result without its raw response, keyed by provider name.
    pub async fn enrich(
        &self,
        indicator_type: &str,
        value: &str,
    ) -> Result<(IndicatorType, String, Map<String, Value>), ServiceError> {
        let kind =
            IndicatorType::parse(indicator_type).map_err(|e| ServiceError::invalid("type", e.to_string()))?;
        let value =
            values::normalize(kind, value).map_err(|reason| ServiceError::invalid("value", reason))?;
        let mut results = Map::new();
        for (provider, result) in self.engine.enrich_value(kind, &value).await? {
            let mut served = result.to_json();
            if let Value::Object(fields) = &mut served {
                fields.remove("raw");
                fields.remove("provider_name");
            }
            results.insert(provider, served);
        }
        Ok((kind, value, results))
    }

    // Field extractions.
}
