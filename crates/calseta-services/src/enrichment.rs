//! The enrichment engine: providers as data, run by one generic executor.
//!
//! Every indicator × applicable provider runs concurrently, bounded per provider (concurrency and
//! a token-bucket rate limit shared through the database), each HTTP step with a hard timeout and
//! the whole alert with a deadline. A provider's failure, timeout, 5xx, malformed or oversized
//! answer stays in its own result. A `429` (or an empty rate-limit bucket) defers that provider's
//! remaining lookups to a scheduled `enrich_deferred` job instead of failing or blocking. Successful
//! results are cached in the database for every process, and concurrent lookups of one key in a
//! process make one call.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use calseta_core::alerts::Malice;
use calseta_core::enrichment::{
    FieldExtraction, HttpConfig, MaliceRules, default_cache_ttl_seconds, gate, response, template, verdict,
};
use calseta_core::indicators::IndicatorType;
use calseta_core::jobs::RetryPolicy;
use calseta_store::alerts::AlertRow;
#[cfg(test)]
use calseta_store::enrichment_providers::ProviderFields;
use calseta_store::enrichment_providers::{self as providers_repo, ProviderRow};
use calseta_store::field_extractions::{self, ExtractionFilter};
use calseta_store::indicators::{self, IndicatorRow};
use calseta_store::{Db, enrichment_cache};
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use crate::ServiceError;
use crate::alert_enrichment::{EnrichmentSummary, IndicatorEnricher};
use crate::crypto::EncryptionKey;
use crate::jobs::JobKind;
use crate::outbound::OutboundClient;
use crate::worker::{JobContext, JobFailure, JobHandler};

/// How long a process reuses the provider registry it read.
const REGISTRY_TTL: Duration = Duration::from_secs(2);
/// Largest provider response read.
const MAX_RESPONSE_BYTES: usize = 5 * 1024 * 1024;
/// Wait when a `429` carries no usable `Retry-After`.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Lookups deferred by rate limits run as this job.
pub const ENRICH_DEFERRED: JobKind = JobKind {
    name: "enrich_deferred",
    queue: "enrichment",
    retry: RetryPolicy::exponential(5, Duration::from_secs(30)),
};

/// Looks up an environment variable (injectable for tests).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;
/// The active providers, as loaded at an instant.
type LoadedProviders = Option<(Instant, Arc<Vec<Arc<Provider>>>)>;

/// Engine settings.
#[derive(Clone)]
pub struct EnrichmentSettings {
    /// `ENRICHMENT_MOCK_MODE`.
    pub mock_mode: bool,
    /// Per-alert deadline (`ENRICHMENT_ALERT_DEADLINE_SECONDS`).
    pub alert_deadline: Duration,
    /// `CALSETA_PROVIDER_BASE_URL_<NAME>` by provider name.
    pub base_url_overrides: HashMap<String, String>,
    /// Environment lookup for credential fallbacks (`env_var_mapping`).
    pub env: EnvLookup,
}

/// A loaded, active provider.
#[derive(Debug, Clone)]
pub struct Provider {
    pub name: String,
    pub display_name: String,
    pub supported_types: Vec<String>,
    pub config: Option<HttpConfig>,
    pub rules: Option<MaliceRules>,
    pub extractions: Vec<FieldExtraction>,
    pub credentials: Map<String, Value>,
    pub auth_type: String,
    pub mock_responses: Option<Value>,
    pub cache_ttl_by_type: Map<String, Value>,
    pub default_cache_ttl_seconds: i32,
    pub rate_limit_per_minute: Option<u32>,
    pub max_concurrency: usize,
    pub allow_private_network: bool,
    /// Usable now (credentials, no-auth, or mocks in mock mode).
    pub configured: bool,
}

impl Provider {
    /// Whether the provider handles `kind`.
    pub fn supports(&self, kind: IndicatorType) -> bool {
        self.supported_types.iter().any(|t| t == kind.as_str())
    }

    fn ttl(&self, kind: IndicatorType) -> Duration {
        let seconds = self
            .cache_ttl_by_type
            .get(kind.as_str())
            .and_then(Value::as_u64)
            .unwrap_or_else(|| default_cache_ttl_seconds(kind));
        Duration::from_secs(seconds)
    }

    /// Every credential value (for masking in debug output).
    pub fn secrets(&self) -> Vec<String> {
        self.credentials
            .values()
            .filter_map(Value::as_str)
            .filter(|s| s.len() >= 4)
            .map(str::to_string)
            .collect()
    }
}

/// Replaces a URL template's scheme and authority with `base` (for tests, proxies, regions).
fn rebase(url: &str, base: &str) -> String {
    let Some(scheme_end) = url.find("://") else { return url.to_string() };
    let rest = &url[scheme_end + 3..];
    // Templates may contain `{{…}}` in the authority, which holds no `/`.
    let path_start = rest.find('/').map(|i| scheme_end + 3 + i).unwrap_or(url.len());
    format!("{}{}", base.trim_end_matches('/'), &url[path_start..])
}

/// The active providers, refreshed from the database every couple of seconds.
pub struct ProviderRegistry {
    db: Db,
    key: EncryptionKey,
    settings: EnrichmentSettings,
    cached: Mutex<LoadedProviders>,
}

impl ProviderRegistry {
    /// A registry over `db`.
    pub fn new(db: Db, key: EncryptionKey, settings: EnrichmentSettings) -> Self {
        Self { db, key, settings, cached: Mutex::new(None) }
    }

    /// Drops the cached providers (after a local change).
    pub fn invalidate(&self) {
        if let Ok(mut cached) = self.cached.lock() {
            *cached = None;
        }
    }

    /// The encryption key (for storing credentials).
    pub fn key(&self) -> &EncryptionKey {
        &self.key
    }

    /// Whether mock mode is on.
    pub fn mock_mode(&self) -> bool {
        self.settings.mock_mode
    }

    /// Active providers.
    pub async fn providers(&self) -> Result<Arc<Vec<Arc<Provider>>>, ServiceError> {
        if let Ok(cached) = self.cached.lock()
            && let Some((at, list)) = cached.as_ref()
            && at.elapsed() < REGISTRY_TTL
        {
            return Ok(list.clone());
        }
        let rows = providers_repo::list(&self.db, Some(true), None).await?;
        let (extractions, _) = field_extractions::list(
            &self.db,
            &ExtractionFilter { is_active: Some(true), ..Default::default() },
            0,
            0,
        )
        .await?;
        let list: Arc<Vec<Arc<Provider>>> = Arc::new(
            rows.into_iter()
                .map(|row| {
                    let rules: Vec<FieldExtraction> = extractions
                        .iter()
                        .filter(|e| e.provider_name == row.provider_name)
                        .map(|e| FieldExtraction {
                            indicator_type: e.indicator_type.clone(),
                            source_path: e.source_path.clone(),
                            target_key: e.target_key.clone(),
                            value_type: e.value_type.clone(),
                        })
                        .collect();
                    Arc::new(self.build(row, rules))
                })
                .collect(),
        );
        if let Ok(mut cached) = self.cached.lock() {
            *cached = Some((Instant::now(), list.clone()));
        }
        Ok(list)
    }

    /// One active provider by name.
    pub async fn provider(&self, name: &str) -> Result<Option<Arc<Provider>>, ServiceError> {
        Ok(self.providers().await?.iter().find(|p| p.name == name).cloned())
    }

    /// Resolves credentials: decrypted `auth_config` when it holds anything, else the env fallbacks.
    pub fn credentials(&self, row: &ProviderRow) -> Map<String, Value> {
        if let Some(Value::Object(map)) = row.auth_config.as_ref().and_then(|c| self.key.decrypt_json(&c.0))
            && !map.is_empty()
        {
            return map;
        }
        let mut out = Map::new();
        if let Some(Value::Object(mapping)) = row.env_var_mapping.as_ref().map(|m| &m.0) {
            for (field, var) in mapping {
                if let Some(value) =
                    var.as_str().and_then(|v| (self.settings.env)(v)).filter(|v| !v.is_empty())
                {
                    out.insert(field.clone(), Value::String(value));
                }
            }
        }
        out
    }

    fn build(&self, row: ProviderRow, extractions: Vec<FieldExtraction>) -> Provider {
        let mut credentials = self.credentials(&row);
        let has_credentials = row.auth_type == "no_auth" || !credentials.is_empty();
        let mut config = serde_json::from_value::<HttpConfig>(row.http_config.0.clone()).ok();
        if let Some(base) = self.settings.base_url_overrides.get(&row.provider_name) {
            credentials.entry("base_url").or_insert_with(|| Value::String(base.clone()));
            if let Some(cfg) = config.as_mut() {
                for step in &mut cfg.steps {
                    if !step.url.starts_with("{{") {
                        step.url = rebase(&step.url, base);
                    }
                }
                for url in cfg.url_templates_by_type.values_mut() {
                    *url = rebase(url, base);
                }
            }
        }
        let mock_responses = row.mock_responses.map(|m| m.0);
        let configured =
            row.is_active && ((self.settings.mock_mode && mock_responses.is_some()) || has_credentials);
        Provider {
            name: row.provider_name,
            display_name: row.display_name,
            supported_types: row.supported_indicator_types.0,
            config,
            rules: row.malice_rules.and_then(|r| serde_json::from_value(r.0).ok()),
            extractions,
            credentials,
            auth_type: row.auth_type,
            mock_responses,
            cache_ttl_by_type: row
                .cache_ttl_by_type
                .and_then(|m| m.0.as_object().cloned())
                .unwrap_or_default(),
            default_cache_ttl_seconds: row.default_cache_ttl_seconds,
            rate_limit_per_minute: row
                .rate_limit_per_minute
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0),
            max_concurrency: usize::try_from(row.max_concurrency).unwrap_or(4).max(1),
            allow_private_network: row.allow_private_network,
            configured,
        }
    }
}

/// One HTTP step as executed, for the provider test endpoint (credentials masked).
#[derive(Debug, Clone, serde::Serialize)]
pub struct StepDebug {
    pub step_name: String,
    pub step_index: usize,
    pub indicator_value: String,
    pub request_method: String,
    pub request_url: String,
    pub request_headers: Map<String, Value>,
    pub request_query_params: Map<String, Value>,
    pub request_body: Value,
    pub response_status_code: Option<u16>,
    pub response_headers: Map<String, Value>,
    pub response_body: Value,
    pub duration_ms: f64,
    pub error: Option<String>,
    pub skipped: bool,
}

/// What one provider lookup produced.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A result to store (success or failure).
    Done(Value),
    /// Rate-limited: try again after this long.
    Deferred(Duration),
}

enum Executed {
    Answer { raw: Value, found: bool },
    Failed(String),
    RateLimited(Duration),
}

/// `first4****last4`, or `****` for short values.
pub fn mask(value: &str) -> String {
    if value.chars().count() <= 8 {
        "****".into()
    } else {
        let chars: Vec<char> = value.chars().collect();
        format!(
            "{}****{}",
            chars[..4].iter().collect::<String>(),
            chars[chars.len() - 4..].iter().collect::<String>()
        )
    }
}

fn mask_text(text: &str, secrets: &[String]) -> String {
    secrets.iter().fold(text.to_string(), |acc, s| {
        acc.replace(s, &mask(s)).replace(&template::encode_component(s), &mask(s))
    })
}

fn sensitive_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["authorization", "apikey", "api_key", "api-key", "token", "secret", "password", "x-api-key"]
        .iter()
        .any(|k| n.contains(k))
}

fn result_value(provider: &str, status: &str, extracted: Value, raw: Value, error: Option<String>) -> Value {
    json!({
        "provider_name": provider,
        "status": status,
        "success": status == "success",
        "extracted": extracted,
        "raw": raw,
        "enriched_at": calseta_store::now(),
        "error_message": error,
        "cache_hit": false,
    })
}

/// A skipped result (the gate, a missing mock).
pub fn skipped_result(provider: &str, reason: &str) -> Value {
    result_value(provider, "skipped", Value::Null, Value::Null, Some(format!("Enrichment skipped: {reason}")))
}

/// The indicator verdict: the worst successful provider verdict.
pub fn indicator_verdict(results: &Value) -> String {
    let Some(map) = results.as_object() else { return Malice::Pending.as_str().into() };
    Malice::worst(
        map.values().filter(|r| r["success"] == true).filter_map(|r| r["extracted"]["malice"].as_str()),
    )
    .as_str()
    .into()
}

/// The engine; cheap to clone (lookups spawned per provider share its limits and single-flight).
#[derive(Clone)]
pub struct EnrichmentEngine {
    inner: Arc<EngineState>,
}

/// The engine's shared state (fields private to this module).
pub struct EngineState {
    db: Db,
    registry: Arc<ProviderRegistry>,
    http: OutboundClient,
    alert_deadline: Duration,
    in_flight: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    slots: Mutex<HashMap<String, Arc<Semaphore>>>,
}

impl std::ops::Deref for EnrichmentEngine {
    type Target = EngineState;
    fn deref(&self) -> &EngineState {
        &self.inner
    }
}

impl EnrichmentEngine {
    /// An engine.
    pub fn new(
        db: Db,
        registry: Arc<ProviderRegistry>,
        http: OutboundClient,
        alert_deadline: Duration,
    ) -> Self {
        let state = EngineState {
            db,
            registry,
            http,
            alert_deadline,
            in_flight: Mutex::new(HashMap::new()),
            slots: Mutex::new(HashMap::new()),
        };
        Self { inner: Arc::new(state) }
    }

    /// The provider registry.
    pub fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.registry
    }

    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = match self.in_flight.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        if map.len() > 10_000 {
            map.retain(|_, lock| Arc::strong_count(lock) > 1);
        }
        map.entry(key.to_string()).or_default().clone()
    }

    fn slots_for(&self, provider: &Provider) -> Arc<Semaphore> {
        let mut map = match self.slots.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(provider.name.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(provider.max_concurrency)))
            .clone()
    }

    /// One provider's result for one value: mock, cache, or live (rate-limited, bounded).
    pub async fn lookup(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Lookup {
        if self.registry.mock_mode()
            && let Some(mocks) = &provider.mock_responses
        {
            return Lookup::Done(mock_result(provider, mocks, kind));
        }
        if let Some(hit) = self.cached(provider, kind, value).await {
            return Lookup::Done(hit);
        }
        let key_lock = self.key_lock(&format!("{}:{}:{}", provider.name, kind.as_str(), value));
        let _single_flight = key_lock.lock().await;
        if let Some(hit) = self.cached(provider, kind, value).await {
            return Lookup::Done(hit);
        }
        if let Some(per_minute) = provider.rate_limit_per_minute {
            match enrichment_cache::take_token(&self.db, &provider.name, per_minute).await {
                Ok(Ok(())) => {}
                Ok(Err(wait)) => return Lookup::Deferred(wait),
                Err(e) => {
                    return Lookup::Done(result_value(
                        &provider.name,
                        "failed",
                        Value::Null,
                        Value::Null,
                        Some(format!("rate limiter unavailable: {e}")),
                    ));
                }
            }
        }
        let slots = self.slots_for(provider);
        let Ok(_slot) = slots.acquire().await else {
            return Lookup::Done(result_value(
                &provider.name,
                "failed",
                Value::Null,
                Value::Null,
                Some("provider closed".into()),
            ));
        };
        let (executed, _) = self.execute(provider, kind, value, false).await;
        match executed {
            Executed::RateLimited(wait) => Lookup::Deferred(wait),
            Executed::Failed(message) => {
                Lookup::Done(result_value(&provider.name, "failed", Value::Null, Value::Null, Some(message)))
            }
            Executed::Answer { raw, found } => {
                let result = answer_result(provider, kind, raw, found);
                if let Err(e) = enrichment_cache::put(
                    &self.db,
                    &provider.name,
                    kind.as_str(),
                    value,
                    &result,
                    provider.ttl(kind),
                )
                .await
                {
                    tracing::warn!(provider = %provider.name, error = %e, "could not cache enrichment result");
                }
                Lookup::Done(result)
            }
        }
    }

    async fn cached(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Option<Value> {
        match enrichment_cache::get(&self.db, &provider.name, kind.as_str(), value).await {
            Ok(Some((mut result, cached_at))) => {
                result["cache_hit"] = Value::Bool(true);
                result["cache_age_seconds"] = json!((calseta_store::now() - cached_at).num_seconds().max(0));
                Some(result)
            }
            Ok(None) => None,
            Err(e) => {
                tracing::warn!(provider = %provider.name, error = %e, "enrichment cache read failed");
                None
            }
        }
    }

    /// Runs a provider live for the test endpoint: the result and every step, credentials masked.
    pub async fn test(
        &self,
        provider: &Provider,
        kind: IndicatorType,
        value: &str,
    ) -> (Value, Option<Vec<StepDebug>>) {
        if self.registry.mock_mode()
            && let Some(mocks) = &provider.mock_responses
        {
            return (mock_result(provider, mocks, kind), None);
        }
        let (executed, steps) = self.execute(provider, kind, value, true).await;
        let result = match executed {
            Executed::Answer { raw, found } => answer_result(provider, kind, raw, found),
            Executed::Failed(message) => {
                result_value(&provider.name, "failed", Value::Null, Value::Null, Some(message))
            }
            Executed::RateLimited(wait) => result_value(
                &provider.name,
                "failed",
                Value::Null,
                Value::Null,
                Some(format!("rate limited by the provider; retry after {} s", wait.as_secs())),
            ),
        };
        (result, Some(steps))
    }

    async fn execute(
        &self,
        provider: &Provider,
        kind: IndicatorType,
        value: &str,
        debug: bool,
    ) -> (Executed, Vec<StepDebug>) {
        let mut trace = Vec::new();
        let Some(config) = provider.config.as_ref().filter(|c| !c.steps.is_empty()) else {
            return (Executed::Failed("No steps defined in http_config".into()), trace);
        };
        let secrets = provider.secrets();
        let mut responses = Map::new();
        let mut found = true;
        for (index, step) in config.steps.iter().enumerate() {
            let name = step.name_at(index);
            let ctx = template::Context {
                indicator_type: kind.as_str(),
                indicator_value: value,
                auth: &provider.credentials,
                steps: &responses,
            };
            let url_template = if index == 0 {
                config.url_templates_by_type.get(kind.as_str()).unwrap_or(&step.url)
            } else {
                &step.url
            };
            let rendered_url = template::render(url_template, &ctx, true);
            let query = template::render_value(&Value::Object(step.query_params.clone()), &ctx);
            let headers = template::render_value(&Value::Object(step.headers.clone()), &ctx);
            let body = step.json_body.as_ref().map(|b| template::render_value(b, &ctx));
            let form =
                step.form_body.as_ref().map(|f| template::render_value(&Value::Object(f.clone()), &ctx));
            let mut debug_step = StepDebug {
                step_name: name.clone(),
                step_index: index,
                indicator_value: value.to_string(),
                request_method: step.method.to_uppercase(),
                request_url: mask_text(&rendered_url, &secrets),
                request_headers: headers
                    .as_object()
                    .map(|h| {
                        h.iter()
                            .map(|(k, v)| {
                                let text = template::text_of(v);
                                let masked =
                                    if sensitive_header(k) || secrets.iter().any(|s| text.contains(s)) {
                                        mask(&text)
                                    } else {
                                        text
                                    };
                                (k.clone(), Value::String(masked))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                request_query_params: query
                    .as_object()
                    .map(|q| {
                        q.iter()
                            .map(|(k, v)| {
                                (k.clone(), Value::String(mask_text(&template::text_of(v), &secrets)))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                request_body: if form.is_some() {
                    json!("<form body>")
                } else {
                    body.clone().unwrap_or(Value::Null)
                },
                response_status_code: None,
                response_headers: Map::new(),
                response_body: Value::Null,
                duration_ms: 0.0,
                error: None,
                skipped: false,
            };
            let started = Instant::now();
            let outcome = self.send_step(provider, step, &rendered_url, &query, &headers, body, form).await;
            debug_step.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
            let fail = |debug_step: &mut StepDebug, message: String| {
                debug_step.error = Some(mask_text(&message, &secrets));
                if step.optional {
                    debug_step.skipped = true;
                    None
                } else {
                    Some(message)
                }
            };
            match outcome {
                Err(message) => {
                    let message = format!("Step '{name}' failed: {message}");
                    if let Some(err) = fail(&mut debug_step, message) {
                        trace.push(debug_step);
                        return (Executed::Failed(err), trace);
                    }
                }
                Ok((status, response_headers, body_value)) => {
                    debug_step.response_status_code = Some(status);
                    debug_step.response_headers = response_headers.clone();
                    debug_step.response_body = truncate_for_debug(&body_value);
                    if status == 429 {
                        let wait = response_headers
                            .get("retry-after")
                            .and_then(Value::as_str)
                            .and_then(|v| v.trim().parse::<u64>().ok())
                            .map(Duration::from_secs)
                            .unwrap_or(DEFAULT_RETRY_AFTER);
                        trace.push(debug_step);
                        return (Executed::RateLimited(wait), trace);
                    }
                    if step.not_found_status.contains(&status) {
                        found = false;
                        responses.insert(name.clone(), json!({"status_code": status}));
                        trace.push(debug_step);
                        break;
                    }
                    if !step.expected_status.contains(&status) {
                        let message = format!("Step '{name}' returned HTTP {status}");
                        if let Some(err) = fail(&mut debug_step, message) {
                            trace.push(debug_step);
                            return (Executed::Failed(err), trace);
                        }
                    } else {
                        responses.insert(name.clone(), body_value);
                    }
                }
            }
            trace.push(debug_step);
        }
        let raw = if config.steps.len() == 1 {
            responses.into_iter().next().map(|(_, v)| v).unwrap_or(Value::Null)
        } else {
            Value::Object(responses)
        };
        if !debug {
            trace.clear();
        }
        (Executed::Answer { raw, found }, trace)
    }

    #[allow(clippy::too_many_arguments)]
    async fn send_step(
        &self,
        provider: &Provider,
        step: &calseta_core::enrichment::HttpStep,
        url: &str,
        query: &Value,
        headers: &Value,
        body: Option<Value>,
        form: Option<Value>,
    ) -> Result<(u16, Map<String, Value>, Value), String> {
        let mut url = reqwest::Url::parse(url).map_err(|e| format!("invalid URL: {e}"))?;
        if let Some(params) = query.as_object().filter(|p| !p.is_empty()) {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in params {
                pairs.append_pair(k, &template::text_of(v));
            }
        }
        self.http.check(&url, provider.allow_private_network)?;
        let method = reqwest::Method::from_bytes(step.method.to_uppercase().as_bytes())
            .map_err(|_| "invalid method".to_string())?;
        let mut request = self
            .http
            .client(provider.allow_private_network)
            .request(method, url)
            .timeout(Duration::from_secs_f64(step.timeout_seconds.clamp(0.1, 120.0)));
        if let Some(h) = headers.as_object() {
            for (k, v) in h {
                request = request.header(k.as_str(), template::text_of(v));
            }
        }
        if let Some(body) = body {
            request = request.json(&body);
        } else if let Some(Value::Object(fields)) = form {
            let pairs: Vec<(String, String)> =
                fields.iter().map(|(k, v)| (k.clone(), template::text_of(v))).collect();
            request = request.form(&pairs);
        }
        let mut response = request.send().await.map_err(describe_error)?;
        let status = response.status().as_u16();
        let response_headers: Map<String, Value> = response
            .headers()
            .iter()
            .filter_map(|(k, v)| {
                v.to_str().ok().map(|v| (k.as_str().to_string(), Value::String(v.to_string())))
            })
            .collect();
        let mut bytes: Vec<u8> = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(describe_error)? {
            if bytes.len() + chunk.len() > MAX_RESPONSE_BYTES {
                return Err(format!("response larger than {} MB", MAX_RESPONSE_BYTES / (1024 * 1024)));
            }
            bytes.extend_from_slice(&chunk);
        }
        let body = serde_json::from_slice::<Value>(&bytes).unwrap_or_else(|_| {
            let text = String::from_utf8_lossy(&bytes);
            json!({"_raw_text": text.chars().take(2000).collect::<String>()})
        });
        Ok((status, response_headers, body))
    }

    /// On-demand enrichment of one value by every applicable configured provider (not persisted).
    pub async fn enrich_value(
        &self,
        kind: IndicatorType,
        value: &str,
    ) -> Result<Map<String, Value>, ServiceError> {
        let mut results = Map::new();
        if let Some(reason) = gate::skip_reason(kind, value) {
            results.insert("_validation".into(), skipped_result("_validation", &reason));
            return Ok(results);
        }
        let providers = self.registry.providers().await?;
        let lookups = providers.iter().filter(|p| p.configured && p.supports(kind)).map(|p| async move {
            let outcome = match self.lookup(p, kind, value).await {
                Lookup::Done(result) => result,
                Lookup::Deferred(wait) => {
                    skipped_result(&p.name, &format!("rate limited; retry after {} s", wait.as_secs().max(1)))
                }
            };
            (p.name.clone(), outcome)
        });
        for (name, result) in join_all(lookups).await {
            results.insert(name, result);
        }
        Ok(results)
    }
}

fn describe_error(e: reqwest::Error) -> String {
    if e.is_timeout() { "timed out".into() } else { error_chain(&e) }
}

/// An HTTP client error with its causes (the outermost message alone rarely says what failed).
pub fn error_chain(e: &reqwest::Error) -> String {
    let mut message = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        message = format!("{message}: {s}");
        source = s.source();
    }
    message
}

fn truncate_for_debug(body: &Value) -> Value {
    let text = body.to_string();
    if text.len() > 50_000 {
        json!({"_truncated": true, "_preview": text.chars().take(50_000).collect::<String>()})
    } else {
        body.clone()
    }
}

fn answer_result(provider: &Provider, kind: IndicatorType, raw: Value, found: bool) -> Value {
    let malice = verdict::evaluate(provider.rules.as_ref(), &raw, found);
    let extracted = if found {
        let mut fields = response::extract_fields(&raw, &provider.extractions, kind.as_str());
        fields.insert("malice".into(), Value::String(malice));
        Value::Object(fields)
    } else {
        json!({"found": false, "malice": malice})
    };
    result_value(&provider.name, "success", extracted, raw, None)
}

fn mock_result(provider: &Provider, mocks: &Value, kind: IndicatorType) -> Value {
    let Some(mock) = mocks.get(kind.as_str()).or_else(|| mocks.get("default")) else {
        return skipped_result(&provider.name, &format!("No mock response for type '{}'", kind.as_str()));
    };
    let mut extracted = mock["extracted"].as_object().cloned().unwrap_or_default();
    extracted.insert("malice".into(), mock.get("malice").cloned().unwrap_or_else(|| json!("Pending")));
    result_value(&provider.name, "success", Value::Object(extracted), mock["raw"].clone(), None)
}

/// Runs futures concurrently and collects their outputs in order.
async fn join_all<F: std::future::Future>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output> {
    let mut pinned: Vec<std::pin::Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut done: Vec<Option<F::Output>> = pinned.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, fut) in done.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match fut.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => *slot = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    done.into_iter().flatten().collect()
}

struct Deferral {
    provider: String,
    indicator: (i64, String, String),
    wait: Duration,
}

/// Provider results waiting to be written, per indicator.
#[derive(Default)]
struct PendingResults(BTreeMap<i64, Map<String, Value>>);

impl PendingResults {
    fn add(&mut self, indicator_id: i64, provider: &str, result: Value) {
        self.0.entry(indicator_id).or_default().insert(provider.to_string(), result);
    }

    /// Writes every pending result in one transaction (one commit per batch, not per lookup).
    async fn store(self, db: &Db) {
        if self.0.is_empty() {
            return;
        }
        let batch: Vec<(i64, Map<String, Value>)> = self.0.into_iter().collect();
        if let Err(e) = indicators::merge_results(db, &batch, &indicator_verdict).await {
            tracing::warn!(indicators = batch.len(), error = %e, "could not store enrichment results");
        }
    }
}

/// What one provider lookup for one indicator produced.
struct LookupOutcome {
    provider: String,
    indicator_id: i64,
    status: String,
    result: Value,
    deferral: Option<Deferral>,
}

async fn store_result(db: &Db, indicator_id: i64, provider: &str, result: Value) {
    let mut one = PendingResults::default();
    one.add(indicator_id, provider, result);
    one.store(db).await;
}

#[async_trait::async_trait]
impl IndicatorEnricher for EnrichmentEngine {
    async fn enrich(
        &self,
        ctx: &JobContext,
        alert: &AlertRow,
        linked: &[IndicatorRow],
    ) -> Result<EnrichmentSummary, JobFailure> {
        let providers = self.registry.providers().await.map_err(JobFailure::retryable)?;
        let mut summary = EnrichmentSummary::default();
        let mut tasks = tokio::task::JoinSet::new();
        let mut skipped: BTreeSet<String> = BTreeSet::new();
        let mut pending = PendingResults::default();
        for indicator in linked {
            let Ok(kind) = IndicatorType::parse(&indicator.kind) else { continue };
            if let Some(reason) = gate::skip_reason(kind, &indicator.value) {
                pending.add(indicator.id, "_validation", skipped_result("_validation", &reason));
                continue;
            }
            for provider in providers.iter().filter(|p| p.configured && p.supports(kind)) {
                let provider = provider.clone();
                let (id, value) = (indicator.id, indicator.value.clone());
                let engine = self.clone();
                tasks.spawn(async move {
                    let outcome = engine.lookup(&provider, kind, &value).await;
                    match outcome {
                        Lookup::Done(result) => {
                            let status = result["status"].as_str().unwrap_or("failed").to_string();
                            LookupOutcome {
                                provider: provider.name.clone(),
                                indicator_id: id,
                                status,
                                result,
                                deferral: None,
                            }
                        }
                        Lookup::Deferred(wait) => {
                            // Recorded as skipped until the deferred job stores the real answer.
                            let note =
                                format!("deferred by a rate limit; retried in {} s", wait.as_secs().max(1));
                            let result = skipped_result(&provider.name, &note);
                            let indicator = (id, kind.as_str().to_string(), value);
                            let deferral = Deferral { provider: provider.name.clone(), indicator, wait };
                            LookupOutcome {
                                provider: provider.name.clone(),
                                indicator_id: id,
                                status: "deferred".into(),
                                result,
                                deferral: Some(deferral),
                            }
                        }
                    }
                });
            }
        }
        let mut succeeded = BTreeSet::new();
        let mut failed = BTreeSet::new();
        let mut deferrals: Vec<Deferral> = Vec::new();
        let deadline = tokio::time::sleep(self.alert_deadline);
        tokio::pin!(deadline);
        loop {
            tokio::select! {
                next = tasks.join_next() => match next {
                    None => break,
                    Some(first) => {
                        // Everything already finished is stored with it, in one transaction: fast
                        // results land at once without one commit per lookup.
                        let mut ready = vec![first];
                        while let Some(more) = tasks.try_join_next() {
                            ready.push(more);
                        }
                        for joined in ready {
                            let outcome = match joined {
                                Ok(outcome) => outcome,
                                Err(e) => {
                                    tracing::warn!(error = %e, "an enrichment lookup task failed");
                                    continue;
                                }
                            };
                            pending.add(outcome.indicator_id, &outcome.provider, outcome.result);
                            match outcome.status.as_str() {
                                "success" => { succeeded.insert(outcome.provider); }
                                "failed" => { failed.insert(outcome.provider); }
                                _ => { skipped.insert(outcome.provider); }
                            }
                            if let Some(d) = outcome.deferral {
                                deferrals.push(d);
                            }
                        }
                        std::mem::take(&mut pending).store(&self.db).await;
                    }
                },
                _ = &mut deadline => {
                    // Late results are still stored as they arrive; the run reports without them.
                    let late = tasks.len();
                    tracing::warn!(alert = %alert.uuid, late, "enrichment deadline passed; reporting without late providers");
                    skipped.insert("deadline".into());
                    let db = self.db.clone();
                    let mut late_tasks = std::mem::take(&mut tasks);
                    tokio::spawn(async move {
                        while let Some(next) = late_tasks.join_next().await {
                            if let Ok(outcome) = next {
                                store_result(&db, outcome.indicator_id, &outcome.provider, outcome.result).await;
                            }
                        }
                    });
                    break;
                }
            }
        }
        // What is still pending: validation notes when no lookup finished before the loop ended.
        pending.store(&self.db).await;
        if !deferrals.is_empty() {
            let mut by_provider: HashMap<String, (Duration, Vec<Value>)> = HashMap::new();
            for d in deferrals {
                let entry = by_provider.entry(d.provider).or_insert((Duration::ZERO, Vec::new()));
                entry.0 = entry.0.max(d.wait);
                entry.1.push(json!({"id": d.indicator.0, "type": d.indicator.1, "value": d.indicator.2}));
            }
            let mut tx = ctx.begin_fenced().await?;
            for (provider, (wait, items)) in by_provider {
                let payload =
                    json!({"alert_uuid": alert.uuid, "provider_name": provider, "indicators": items});
                crate::jobs::enqueue(&mut tx, &ENRICH_DEFERRED, payload, wait)
                    .await
                    .map_err(JobFailure::retryable)?;
            }
            tx.commit().await.map_err(JobFailure::retryable)?;
        }
        summary.succeeded = succeeded.into_iter().collect();
        summary.failed = failed.into_iter().filter(|p| !summary.succeeded.contains(p)).collect();
        summary.skipped = skipped.into_iter().collect();
        Ok(summary)
    }
}

/// Handler of [`ENRICH_DEFERRED`]: the lookups a rate limit postponed.
pub struct EnrichDeferred {
    pub engine: Arc<EnrichmentEngine>,
}

#[async_trait::async_trait]
impl JobHandler for EnrichDeferred {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let provider_name = ctx.payload["provider_name"].as_str().unwrap_or_default().to_string();
        let Some(provider) =
            self.engine.registry.provider(&provider_name).await.map_err(JobFailure::retryable)?
        else {
            return Ok(());
        };
        let items = ctx.payload["indicators"].as_array().cloned().unwrap_or_default();
        let mut remaining = Vec::new();
        let mut wait = Duration::ZERO;
        for item in items {
            let (Some(id), Some(kind), Some(value)) = (
                item["id"].as_i64(),
                item["type"].as_str().and_then(|t| IndicatorType::parse(t).ok()),
                item["value"].as_str(),
            ) else {
                continue;
            };
            if !remaining.is_empty() {
                remaining.push(item.clone());
                continue;
            }
            match self.engine.lookup(&provider, kind, value).await {
                Lookup::Done(result) => store_result(ctx.db(), id, &provider.name, result).await,
                Lookup::Deferred(w) => {
                    wait = w;
                    remaining.push(item.clone());
                }
            }
        }
        let mut tx = ctx.begin_fenced().await?;
        if !remaining.is_empty() {
            let payload = json!({"alert_uuid": ctx.payload["alert_uuid"], "provider_name": provider_name, "indicators": remaining});
            crate::jobs::enqueue(&mut tx, &ENRICH_DEFERRED, payload, wait)
                .await
                .map_err(JobFailure::retryable)?;
        }
        ctx.finish(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rebase_keeps_paths_and_templates() {
        assert_eq!(
            rebase("https://www.virustotal.com/api/v3/files/{{indicator.value}}", "http://127.0.0.1:9001"),
            "http://127.0.0.1:9001/api/v3/files/{{indicator.value}}"
        );
        assert_eq!(
            rebase("https://{{auth.domain}}/api/v1/users/{{value}}", "http://127.0.0.1:9001/"),
            "http://127.0.0.1:9001/api/v1/users/{{value}}"
        );
        assert_eq!(rebase("https://example.com", "http://x"), "http://x");
    }

    #[test]
    fn masking_and_verdicts() {
        assert_eq!(mask("vt-test-key-123456"), "vt-t****3456");
        assert_eq!(mask("short"), "****");
        assert_eq!(
            mask_text("https://x/?k=secretvalue1", &["secretvalue1".into()]),
            "https://x/?k=secr****lue1"
        );
        let results = json!({
            "a": {"success": true, "extracted": {"malice": "Suspicious"}},
            "b": {"success": false, "extracted": {"malice": "Malicious"}},
            "_validation": {"success": false, "status": "skipped"}
        });
        assert_eq!(indicator_verdict(&results), "Suspicious", "failed providers do not vote");
    }

    #[tokio::test]
    async fn credentials_come_from_auth_config_else_the_environment() {
        let db = Db::connect(&calseta_store::DbOptions::new("sqlite::memory:")).await.unwrap();
        db.migrate().await.unwrap();
        let key = EncryptionKey::generate();
        let settings = EnrichmentSettings {
            mock_mode: false,
            alert_deadline: Duration::from_secs(5),
            base_url_overrides: HashMap::new(),
            env: Arc::new(|name: &str| (name == "VT_KEY").then(|| "from-env".to_string())),
        };
        let registry = ProviderRegistry::new(db.clone(), key.clone(), settings);
        let fields = ProviderFields {
            provider_name: "vt".into(),
            display_name: "VT".into(),
            description: None,
            is_builtin: false,
            is_active: true,
            supported_indicator_types: vec!["ip".into()],
            http_config: json!({"steps": [{"url": "https://x.test/{{value}}"}]}),
            auth_type: "api_key".into(),
            auth_config: None,
            env_var_mapping: Some(json!({"api_key": "VT_KEY", "other": "UNSET"})),
            default_cache_ttl_seconds: 3600,
            cache_ttl_by_type: None,
            malice_rules: None,
            mock_responses: None,
            rate_limit_per_minute: None,
            max_concurrency: 4,
            allow_private_network: false,
        };
        let row = providers_repo::insert(&db, &fields).await.unwrap();
        assert_eq!(Value::Object(registry.credentials(&row)), json!({"api_key": "from-env"}));
        let stored = providers_repo::update(
            &db,
            row.id,
            &ProviderFields {
                auth_config: Some(key.encrypt_json(&json!({"api_key": "stored"})).unwrap()),
                ..fields
            },
        )
        .await
        .unwrap();
        assert_eq!(Value::Object(registry.credentials(&stored)), json!({"api_key": "stored"}));
        let provider = registry.provider("vt").await.unwrap().unwrap();
        assert!(provider.configured);
    }
}
