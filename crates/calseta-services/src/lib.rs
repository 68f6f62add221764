//! Calseta use cases, shared by the REST API, MCP and the worker.
//!
//! Owns the application logic above storage and the job runtime, in six parts: [`platform`]
//! (outbound HTTP, crypto, caches, child processes — no domain), [`pipeline`] (the alert's
//! journey: ingest, extract, enrich, context, dispatch — stages that never import each other and
//! hand off through job kinds and hooks), [`views`] (read models), [`resources`] (CRUD shared by
//! REST and MCP), [`metrics`] (SOC metrics) and [`demo`] (sandbox mode). No two modules import each other in a circle (`tests/it/layout.rs`).
//! [`Services`] is the composition root: it builds every service once per process and wires the
//! stages and the job registry, so `serve`, `worker` and every other entry point share one wiring.

pub mod audit;
pub mod demo;
pub mod error;
pub mod live;
pub mod metrics;
pub mod params;
pub mod pipeline;
pub mod platform;
pub mod records;
pub mod resources;
pub mod views;

pub use error::{FieldError, ServiceError, UNAVAILABLE_RETRY_AFTER};

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use calseta_jobs::JobRegistry;
use calseta_jobs::maintenance::{PRUNE_EVERY, PRUNE_FINISHED_JOBS, PruneFinishedJobs};

use pipeline::context::AlertContext;
use pipeline::dispatch::sender::AgentSender;
use pipeline::dispatch::{DeliverWebhook, Dispatch, DispatchAlert};
use pipeline::enrich::{
    EnrichAlert, EnrichDeferred, EnrichmentEngine, EnrichmentSettings, ProviderRegistry, PurgeEnrichmentCache,
};
use pipeline::extract::MappingRules;
use pipeline::ingest::{IngestService, IngestSettings};
use pipeline::kinds::{
    DISPATCH_ALERT, ENRICH_DEFERRED, PURGE_ENRICHMENT_CACHE, PURGE_ENRICHMENT_CACHE_EVERY, PipelineKinds,
};
use platform::crypto::EncryptionKey;
use platform::outbound::{OutboundClient, OutboundSettings};
use resources::agents::AgentService;
use resources::alerts::AlertService;
use resources::api_keys::ApiKeyService;
use resources::context_documents::ContextDocumentService;
use resources::detection_rules::DetectionRuleService;
use resources::field_extractions::FieldExtractionService;
use resources::indicators::IndicatorService;
use resources::mappings::MappingService;
use resources::providers::ProviderService;
use resources::retention::{APPLY_RETENTION, APPLY_RETENTION_EVERY, ApplyRetention, RetentionSettings};
use resources::sources::SourceService;
use views::payload::PayloadBuilder;

/// What the composition root needs from configuration.
pub struct ServiceSettings {
    /// Ingestion (dedup window, webhook secrets).
    pub ingest: IngestSettings,
    /// The key for secrets at rest.
    pub key: EncryptionKey,
    /// The enrichment engine.
    pub enrichment: EnrichmentSettings,
    /// The outbound HTTP policy.
    pub outbound: OutboundSettings,
    /// `CALSETA_API_BASE_URL`, copied into agent payloads.
    pub api_base_url: String,
    /// The `calseta` binary, re-executed for isolated document conversion.
    pub document_converter: PathBuf,
    /// The job kinds whose retry policies are configured.
    pub kinds: PipelineKinds,
    /// Deliveries to one agent at once in this process (`AGENT_MAX_CONCURRENT_DELIVERIES`).
    pub deliveries_per_agent: usize,
    /// What old records to delete (`RETENTION_*_DAYS`; off by default).
    pub retention: RetentionSettings,
    /// The workflow sandbox: `WORKFLOW_PYTHON`, `WORKFLOW_UID`/`WORKFLOW_GID`,
    /// `WORKFLOW_ALLOW_DEGRADED`, `WORKFLOW_MAX_CONCURRENT_RUNS`.
    pub workflow_sandbox: crate::platform::workflow_runtime::SandboxOptions,
    /// Workflow runs: memory, secrets from the environment, the Okta and Entra integrations.
    pub workflows: pipeline::respond::host::WorkflowSettings,
    /// The approval gate: notifier, decide links, Slack's signing secret, the expiry sweep.
    pub approvals: pipeline::respond::notify::ApprovalSettings,
    /// `SANDBOX_MODE`: seed the demo and reset it daily.
    pub sandbox_mode: bool,
    /// `ANTHROPIC_API_KEY` and its endpoint: the workflow generator (`None`: not configured).
    pub workflow_generator: Option<crate::resources::workflow_generator::GeneratorSettings>,
}

/// Every use-case service over one database, built once per process.
pub struct Services {
    /// The database.
    pub db: calseta_store::Db,
    /// API keys.
    pub keys: Arc<ApiKeyService>,
    /// Indicator mappings.
    pub mappings: Arc<MappingService>,
    /// The active mapping rules (the extract stage).
    pub mapping_rules: Arc<MappingRules>,
    /// Ingestion.
    pub ingest: Arc<IngestService>,
    /// Alerts.
    pub alerts: Arc<AlertService>,
    /// Indicators.
    pub indicators: Arc<IndicatorService>,
    /// Enrichment providers.
    pub providers: Arc<ProviderService>,
    /// Field extractions of the providers.
    pub extractions: Arc<FieldExtractionService>,
    /// The enrichment engine.
    pub enrichment: EnrichmentEngine,
    /// The documents and past alerts chosen for an alert (the context stage).
    pub context: Arc<AlertContext>,
    /// Detection rules.
    pub detection_rules: Arc<DetectionRuleService>,
    /// Context documents.
    pub documents: Arc<ContextDocumentService>,
    /// Agents.
    pub agents: Arc<AgentService>,
    /// Alert source integrations.
    pub sources: Arc<SourceService>,
    /// Payloads and deliveries to agents (the dispatch stage).
    pub dispatch: Arc<Dispatch>,
    sender: Arc<AgentSender>,
    kinds: PipelineKinds,
    deliveries_per_agent: usize,
    retention: RetentionSettings,
    /// Workflows and workflow secrets.
    pub workflows: Arc<crate::resources::workflows::WorkflowService>,
    /// Executions, approvals and runs (the respond stage).
    pub respond: Arc<pipeline::respond::Respond>,
    /// SOC metrics.
    pub metrics: Arc<metrics::SocMetrics>,
    /// Sandbox mode's seed.
    pub sandbox: Arc<demo::SandboxSeeder>,
    sandbox_mode: bool,
    /// This process's Prometheus telemetry.
    pub telemetry: Arc<platform::telemetry::Telemetry>,
    /// This process's request rate limiter, shared by REST and MCP.
    pub limiter: Arc<platform::rate_limit::RateLimiter>,
    /// The workflow generator (`POST /v1/workflows/generate`).
    pub workflow_generator: Arc<crate::resources::workflow_generator::WorkflowGenerator>,
    /// Test mode of workflows.
    pub workflow_tests: Arc<pipeline::respond::test_mode::WorkflowTester>,
    approval_settings: Arc<pipeline::respond::notify::ApprovalSettings>,
    key: EncryptionKey,
    workflow_runtime: Arc<crate::platform::workflow_runtime::LazyRuntime>,
    workflow_settings: Arc<pipeline::respond::host::WorkflowSettings>,
    http: OutboundClient,
}

impl Services {
    /// Builds and wires the services.
    pub fn new(db: calseta_store::Db, settings: ServiceSettings) -> Result<Self, ServiceError> {
        let ServiceSettings {
            ingest,
            key,
            enrichment,
            outbound,
            api_base_url,
            document_converter,
            kinds,
            deliveries_per_agent,
            retention,
            workflow_sandbox,
            workflows: workflow_settings,
            approvals: approval_settings,
            sandbox_mode,
            workflow_generator,
        } = settings;
        let approval_settings = Arc::new(approval_settings);
        let workflow_settings = Arc::new(workflow_settings);
        let integrations = crate::resources::workflows::ConfiguredIntegrations {
            okta: workflow_settings.okta.is_some(),
            entra: workflow_settings.entra.is_some(),
        };
        let workflow_runtime =
            Arc::new(crate::platform::workflow_runtime::LazyRuntime::new(workflow_sandbox));
        let deadline = enrichment.alert_deadline;
        let http = OutboundClient::new(&outbound)?;
        let http_for_workflows = http.clone();
        let registry = Arc::new(ProviderRegistry::new(db.clone(), key.clone(), enrichment));
        let telemetry = Arc::new(platform::telemetry::Telemetry::new());
        let engine =
            EnrichmentEngine::new(db.clone(), registry.clone(), http.clone(), deadline, telemetry.clone());
        let mapping_rules = Arc::new(MappingRules::new(db.clone()));
        let context = Arc::new(AlertContext::new(db.clone()));
        let sender = Arc::new(AgentSender::new(key.clone(), http.clone()));
        let payloads = PayloadBuilder::new(db.clone(), context.clone(), api_base_url.clone());
        let dispatch = Arc::new(Dispatch::new(db.clone(), payloads, kinds.deliver_webhook));
        let workflow_service = Arc::new(crate::resources::workflows::WorkflowService::new(
            db.clone(),
            workflow_runtime.clone(),
            key.clone(),
            integrations,
        ));
        let workflow_tests = Arc::new(pipeline::respond::test_mode::WorkflowTester {
            db: db.clone(),
            runtime: workflow_runtime.clone(),
            http: http.clone(),
            workflows: workflow_service.clone(),
            settings: workflow_settings.clone(),
        });
        let workflow_generator = Arc::new(crate::resources::workflow_generator::WorkflowGenerator::new(
            workflow_generator,
            http.clone(),
            workflow_service.clone(),
        ));
        let sources = Arc::new(SourceService::new(db.clone(), key.clone()));
        let ingest_service = Arc::new(IngestService::new(
            db.clone(),
            mapping_rules.clone(),
            ingest,
            kinds.enrich_alert,
            sources.clone(),
        ));
        let detection_rules = Arc::new(DetectionRuleService::new(db.clone()));
        let documents =
            Arc::new(ContextDocumentService::new(db.clone(), context.clone(), document_converter));
        let sandbox = Arc::new(demo::SandboxSeeder::new(
            db.clone(),
            detection_rules.clone(),
            documents.clone(),
            ingest_service.clone(),
        ));
        Ok(Services {
            keys: Arc::new(ApiKeyService::new(db.clone())),
            mappings: Arc::new(MappingService::new(db.clone(), mapping_rules.clone())),
            ingest: ingest_service.clone(),
            mapping_rules,
            alerts: Arc::new(AlertService::new(db.clone(), kinds.enrich_alert, context.clone())),
            indicators: Arc::new(IndicatorService::new(db.clone())),
            providers: Arc::new(ProviderService::new(db.clone(), engine.clone())),
            extractions: Arc::new(FieldExtractionService::new(db.clone(), registry)),
            enrichment: engine,
            detection_rules: detection_rules.clone(),
            documents: documents.clone(),
            context,
            agents: Arc::new(AgentService::new(
                db.clone(),
                key.clone(),
                http.clone(),
                sender.clone(),
                api_base_url,
            )),
            sources,
            dispatch,
            sender,
            kinds,
            deliveries_per_agent,
            retention,
            workflows: workflow_service,
            respond: Arc::new(pipeline::respond::Respond::new(
                db.clone(),
                approval_settings.clone(),
                key.clone(),
            )),
            workflow_tests,
            workflow_generator,
            metrics: Arc::new(metrics::SocMetrics::new(db.clone())),
            sandbox,
            sandbox_mode,
            telemetry,
            limiter: Arc::default(),
            approval_settings,
            key: key.clone(),
            workflow_runtime,
            workflow_settings,
            http: http_for_workflows,
            db,
        })
    }

    /// The workflow runtime: the interpreter and the sandbox layers this machine offers.
    pub async fn workflow_runtime(&self) -> &calseta_workflows::Runtime {
        self.workflow_runtime.get().await
    }

    /// The sandbox level for `/health`: `checking` until the runtime is discovered (in the
    /// background), then `full`, `degraded: …` or `unavailable`.
    pub fn workflow_sandbox_level(&self) -> String {
        self.workflow_runtime.level_now()
    }

    /// This process's listeners and database port, which outbound requests never reach: the
    /// binary registers them once bound.
    pub fn own_listeners(&self) -> Arc<platform::outbound::OwnListeners> {
        self.http.own_listeners()
    }

    /// Seeds what every process expects to find: system mappings, builtin providers and their
    /// field extractions.
    pub async fn seed(&self) -> Result<(), ServiceError> {
        self.mappings.seed_system().await?;
        self.providers.seed_builtins().await?;
        self.workflows.seed_builtins().await?;
        self.extractions.seed_system().await?;
        if self.sandbox_mode {
            // A demo that cannot seed (a visitor's conflicting rule, say) still starts, and the
            // daily reset puts it right.
            match self.sandbox.seed().await {
                Ok(added) => added.log("sandbox seeded"),
                Err(e) => tracing::error!(error = %e, "sandbox seeding failed; the daily reset will retry"),
            }
        } else if self.sandbox.disable_demo_keys().await? > 0 {
            tracing::warn!("the sandbox's public demo keys were active on this database: they are disabled");
        }
        Ok(())
    }

    /// The job handlers of the pipeline and maintenance, wired to these services; `job_retention`
    /// is how long succeeded jobs are kept.
    pub fn job_registry(&self, job_retention: Duration) -> JobRegistry {
        let mut registry = JobRegistry::new();
        registry.register_periodic(
            PRUNE_FINISHED_JOBS,
            PRUNE_EVERY,
            Arc::new(PruneFinishedJobs { retention: job_retention }),
        );
        if self.retention.is_on() {
            registry.register_periodic(
                APPLY_RETENTION,
                APPLY_RETENTION_EVERY,
                Arc::new(ApplyRetention { settings: self.retention }),
            );
        }
        registry.register_periodic(
            PURGE_ENRICHMENT_CACHE,
            PURGE_ENRICHMENT_CACHE_EVERY,
            Arc::new(PurgeEnrichmentCache),
        );
        registry.register(
            self.kinds.enrich_alert,
            Arc::new(EnrichAlert {
                extractor: self.mapping_rules.clone(),
                engine: self.enrichment.clone(),
                after_enriched: vec![self.dispatch.clone()],
            }),
        );
        registry.register(
            pipeline::kinds::EXECUTE_WORKFLOW_RUN,
            Arc::new(pipeline::respond::run::ExecuteWorkflowRun {
                runtime: self.workflow_runtime.clone(),
                http: self.http.clone(),
                workflows: self.workflows.clone(),
                settings: self.workflow_settings.clone(),
                approvals: self.approval_settings.clone(),
            }),
        );
        if self.sandbox_mode {
            registry.register_periodic(
                demo::SANDBOX_RESET,
                demo::SANDBOX_RESET_EVERY,
                Arc::new(demo::ResetSandbox { seeder: self.sandbox.clone() }),
            );
        }
        registry.register(
            pipeline::kinds::NOTIFY_APPROVAL,
            Arc::new(pipeline::respond::notify::NotifyApproval::new(
                self.http.clone(),
                self.approval_settings.clone(),
                self.key.clone(),
            )),
        );
        registry.register_periodic(
            pipeline::kinds::EXPIRE_APPROVALS,
            self.approval_settings.sweep_every,
            Arc::new(pipeline::respond::expiry::ExpireApprovals { settings: self.approval_settings.clone() }),
        );
        registry.register(
            ENRICH_DEFERRED,
            Arc::new(EnrichDeferred { engine: Arc::new(self.enrichment.clone()) }),
        );
        registry.register(DISPATCH_ALERT, Arc::new(DispatchAlert { dispatch: self.dispatch.clone() }));
        registry.register(
            self.kinds.deliver_webhook,
            Arc::new(DeliverWebhook::new(
                self.sender.clone(),
                self.deliveries_per_agent,
                self.telemetry.clone(),
            )),
        );
        registry
    }

    /// Queues whose jobs are claimed first: deliveries, so that under a backlog an enriched alert
    /// reaches its agents before the worker starts on alerts that arrived after it.
    pub fn queue_priority() -> Vec<String> {
        vec![pipeline::kinds::DELIVER_WEBHOOK.queue.to_string()]
    }

    /// The slot budgets of a worker with `total` slots of which deliveries may hold
    /// `dispatch_slots` (clamped so that enrichment always keeps at least one slot).
    /// Workflow runs (which may last minutes) hold at most a quarter of the slots (at least one).
    pub fn queue_slots(total: usize, dispatch_slots: usize) -> std::collections::HashMap<String, usize> {
        let dispatch = dispatch_slots.clamp(1, total.saturating_sub(1).max(1));
        let workflows = (total / 4).max(1);
        [
            (pipeline::kinds::DELIVER_WEBHOOK.queue.to_string(), dispatch),
            (pipeline::kinds::EXECUTE_WORKFLOW_RUN.queue.to_string(), workflows),
        ]
        .into_iter()
        .collect()
    }
}
