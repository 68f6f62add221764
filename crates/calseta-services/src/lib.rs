//! Calseta use cases, shared by the REST API, MCP and the worker.
//!
//! Owns the application logic above storage: API-key issuance and authentication, the
//! encryption-key lifecycle, the one-time bootstrap key, health reporting, and the durable job
//! runtime (claiming, lease renewal, retries, graceful shutdown) with its job kinds.

pub mod activity;
pub mod agents;
pub mod alert_enrichment;
pub mod alerts;
pub mod api_keys;
pub mod bootstrap;
pub mod context;
pub mod crypto;
pub mod dispatch;
pub mod documents;
pub mod enrichment;
mod error;
pub mod health;
pub mod indicators;
pub mod ingestion;
pub mod jobs;
pub mod mappings;
pub mod outbound;
pub mod providers;
pub mod worker;

pub use error::{FieldError, ServiceError};

use std::sync::Arc;

/// Every use-case service over one database, built once per process.
pub struct Services {
    /// The database.
    pub db: calseta_store::Db,
    /// API keys.
    pub keys: Arc<api_keys::ApiKeyService>,
    /// Indicator mappings (and the rules cache).
    pub mappings: Arc<mappings::MappingService>,
    /// Ingestion.
    pub ingest: Arc<ingestion::IngestService>,
    /// Alerts.
    pub alerts: Arc<alerts::AlertService>,
    /// Indicators.
    pub indicators: Arc<indicators::IndicatorService>,
    /// Enrichment providers and field extractions.
    pub providers: Arc<providers::ProviderService>,
    /// The enrichment engine.
    pub enrichment: enrichment::EnrichmentEngine,
    /// Detection rules, context documents, past alerts.
    pub context: Arc<context::ContextService>,
    /// Agents and sources.
    pub agents: Arc<agents::AgentService>,
}

impl Services {
    /// Builds the services.
    pub fn new(
        db: calseta_store::Db,
        ingest: ingestion::IngestSettings,
        key: crypto::EncryptionKey,
        enrichment_settings: enrichment::EnrichmentSettings,
        outbound: &outbound::OutboundSettings,
        api_base_url: String,
        document_converter: std::path::PathBuf,
    ) -> Result<Self, ServiceError> {
        let mappings = Arc::new(mappings::MappingService::new(db.clone()));
        let enrich_job = ingest.enrich_job;
        let deadline = enrichment_settings.alert_deadline;
        let registry =
            Arc::new(enrichment::ProviderRegistry::new(db.clone(), key.clone(), enrichment_settings));
        let http = outbound::OutboundClient::new(outbound)?;
        let engine = enrichment::EnrichmentEngine::new(db.clone(), registry, http.clone(), deadline);
        let agents = Arc::new(agents::AgentService::new(db.clone(), key, http, api_base_url));
        Ok(Services {
            providers: Arc::new(providers::ProviderService::new(db.clone(), engine.clone())),
            enrichment: engine,
            context: Arc::new(context::ContextService::new(db.clone(), document_converter)),
            agents,
            keys: Arc::new(api_keys::ApiKeyService::new(db.clone())),
            ingest: Arc::new(ingestion::IngestService::new(db.clone(), mappings.clone(), ingest)),
            alerts: Arc::new(alerts::AlertService::new(db.clone(), enrich_job)),
            indicators: Arc::new(indicators::IndicatorService::new(db.clone())),
            mappings,
            db,
        })
    }

    /// The agent payload builder.
    pub fn payload_builder(&self) -> dispatch::PayloadBuilder {
        dispatch::PayloadBuilder {
            db: self.db.clone(),
            alerts: self.alerts.clone(),
            context: self.context.clone(),
            agents: self.agents.clone(),
        }
    }

    /// Seeds what every process expects to find: system mappings, builtin providers and their
    /// field extractions.
    pub async fn seed(&self) -> Result<(), ServiceError> {
        self.mappings.seed_system().await?;
        self.providers.seed_builtins().await
    }
}
