//! The provider registry: the active enrichment providers of the database with their field
//! extractions, resolved credentials (decrypted `auth_config`, else environment fallbacks) and base
//! URL overrides, reloaded every couple of seconds.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use calseta_core::enrichment::{FieldExtraction, HttpConfig, MaliceRules, default_cache_ttl_seconds};
use calseta_core::indicators::IndicatorType;
use calseta_store::Db;
use calseta_store::enrichment_providers::{self as providers_repo, ProviderRow};
use calseta_store::field_extractions::{self, ExtractionFilter};
use serde_json::{Map, Value};

use crate::ServiceError;
use crate::platform::cache::TtlCell;
use crate::platform::crypto::EncryptionKey;

/// How long a process reuses the provider registry it read.
const REGISTRY_TTL: Duration = Duration::from_secs(2);

/// Looks up an environment variable (injectable for tests).
pub type EnvLookup = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

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
    /// `provider_name`.
    pub name: String,
    /// Name shown to people.
    pub display_name: String,
    /// Indicator types it looks up.
    pub supported_types: Vec<String>,
    /// Its HTTP steps (base URL overrides applied).
    pub config: Option<HttpConfig>,
    /// How its answer becomes a verdict.
    pub rules: Option<MaliceRules>,
    /// Fields kept from its answers.
    pub extractions: Vec<FieldExtraction>,
    /// Resolved credentials (`{{auth.*}}`).
    pub credentials: Map<String, Value>,
    /// `api_key`, `no_auth`, …
    pub auth_type: String,
    /// Answers used in mock mode, by indicator type.
    pub mock_responses: Option<Value>,
    /// Cache lifetime per indicator type, in seconds.
    pub cache_ttl_by_type: Map<String, Value>,
    /// Cache lifetime for types without their own.
    pub default_cache_ttl_seconds: i32,
    /// Calls allowed per minute across processes.
    pub rate_limit_per_minute: Option<u32>,
    /// Calls at once in this process.
    pub max_concurrency: usize,
    /// Whether private addresses may be called.
    pub allow_private_network: bool,
    /// The hosts (`host` or `host:port`) that allowance is narrowed to; empty: every private
    /// address.
    pub private_network_hosts: Vec<crate::platform::outbound::AllowedHost>,
    /// Usable now (credentials, no-auth, or mocks in mock mode).
    pub configured: bool,
}

impl Provider {
    /// Whether the provider handles `kind`.
    pub fn supports(&self, kind: IndicatorType) -> bool {
        self.supported_types.iter().any(|t| t == kind.as_str())
    }

    /// How long a result for `kind` is cached: the provider's TTL for the type, else its
    /// `default_cache_ttl_seconds` (v1 never used it: its by-type defaults always won); the
    /// builtin by-type default only when the stored default is unusable (negative).
    pub(super) fn ttl(&self, kind: IndicatorType) -> Duration {
        let seconds = self
            .cache_ttl_by_type
            .get(kind.as_str())
            .and_then(Value::as_u64)
            .or_else(|| u64::try_from(self.default_cache_ttl_seconds).ok())
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
    cached: TtlCell<Arc<Vec<Arc<Provider>>>>,
}

impl ProviderRegistry {
    /// A registry over `db`.
    pub fn new(db: Db, key: EncryptionKey, settings: EnrichmentSettings) -> Self {
        Self { db, key, settings, cached: TtlCell::new(REGISTRY_TTL, 1) }
    }

    /// Drops the cached providers (after a local change).
    pub fn invalidate(&self) {
        self.cached.clear();
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
        self.cached.get_or_load((), || self.load()).await
    }

    async fn load(&self) -> Result<Arc<Vec<Arc<Provider>>>, ServiceError> {
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
            // Entries were checked when stored; one that no longer parses allows nothing.
            private_network_hosts: row.private_network_hosts.0.iter().map(|h| h.as_str().into()).collect(),
            configured,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use calseta_store::enrichment_providers::ProviderFields;
    use serde_json::json;

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
            private_network_hosts: Vec::new(),
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

    #[test]
    fn the_providers_default_ttl_applies_where_no_type_sets_one() {
        let provider = |by_type: Value, default: i32| Provider {
            name: "p".into(),
            display_name: "P".into(),
            supported_types: vec!["ip".into(), "domain".into()],
            config: None,
            rules: None,
            extractions: Vec::new(),
            credentials: Map::new(),
            auth_type: "no_auth".into(),
            mock_responses: None,
            cache_ttl_by_type: by_type.as_object().cloned().unwrap_or_default(),
            default_cache_ttl_seconds: default,
            rate_limit_per_minute: None,
            max_concurrency: 1,
            allow_private_network: false,
            private_network_hosts: Vec::new(),
            configured: true,
        };
        let p = provider(json!({"ip": 60}), 7200);
        assert_eq!(p.ttl(IndicatorType::Ip), Duration::from_secs(60), "the type's TTL wins");
        assert_eq!(p.ttl(IndicatorType::Domain), Duration::from_secs(7200), "else the provider's default");
        assert_eq!(provider(json!({}), 0).ttl(IndicatorType::Ip), Duration::ZERO, "0 caches nothing");
        assert_eq!(provider(json!({}), -1).ttl(IndicatorType::Domain), Duration::from_secs(21_600));
    }
}
