//! Sandbox mode: a fresh installation that shows everything at once. Seeds, from data files in the
//! binary, the five case-study detection rules with their documentation, three context documents
//! chosen by targeting rules, the five case-study alerts (enriched by the mock providers, so
//! no network is needed) and two demo API keys with well-known values. Seeding is idempotent; the
//! daily `sandbox_reset` job puts a public demo back to this state.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::jobs::RetryPolicy;
use calseta_jobs::{JobContext, JobFailure, JobHandler, JobKind};
use calseta_store::Db;
use calseta_store::api_keys::{self as key_repo, NewApiKey};
use calseta_store::context_documents::DocumentFields;
use calseta_store::detection_rules::RuleFields;
use calseta_store::sandbox::{self as repo, Seeded};
use serde::Deserialize;
use serde_json::Value;

use crate::ServiceError;
use crate::pipeline::ingest::IngestService;
use crate::resources::api_keys::ApiKey;
use crate::resources::context_documents::ContextDocumentService;
use crate::resources::detection_rules::DetectionRuleService;

/// The read-only demo key (v1's value: it is public).
pub const DEMO_READ_KEY: &str = "cai_sandbox_demo_key_not_for_production";
/// The full-access demo key (v1's value: it is public).
pub const DEMO_LAB_KEY: &str = "cai_lab_demo_full_access_key_not_for_prod";

const READ_SCOPES: [&str; 4] = ["alerts:read", "enrichments:read", "workflows:read", "agents:read"];
const LAB_SCOPES: [&str; 9] = [
    "alerts:read",
    "alerts:write",
    "enrichments:read",
    "workflows:read",
    "workflows:execute",
    "approvals:write",
    "agents:read",
    "agents:write",
    "admin",
];

/// The case-study alerts, by source, in the order they are seeded.
const ALERTS: [(&str, &str); 5] = [
    ("sentinel", include_str!("../../data/sandbox/alerts/01_sentinel_brute_force_tor.json")),
    ("elastic", include_str!("../../data/sandbox/alerts/02_elastic_malware_hash.json")),
    ("splunk", include_str!("../../data/sandbox/alerts/03_splunk_anomalous_data_transfer.json")),
    ("sentinel", include_str!("../../data/sandbox/alerts/04_sentinel_impossible_travel.json")),
    ("elastic", include_str!("../../data/sandbox/alerts/05_elastic_suspicious_powershell.json")),
];

/// Resets the sandbox to its seeded state (handled by `demo`; periodic in sandbox mode).
pub const SANDBOX_RESET: JobKind = JobKind {
    name: "sandbox_reset",
    queue: "default",
    retry: RetryPolicy::exponential(3, Duration::from_secs(60)),
};

/// How often the worker looks whether the day's reset is due (it happens once per UTC day, on the
/// first look after midnight).
pub const SANDBOX_RESET_EVERY: Duration = Duration::from_secs(3600);

#[derive(Deserialize)]
struct RuleSeed {
    name: String,
    source_name: String,
    source_rule_id: String,
    severity: String,
    #[serde(default)]
    mitre_tactics: Vec<String>,
    #[serde(default)]
    mitre_techniques: Vec<String>,
    #[serde(default)]
    mitre_subtechniques: Vec<String>,
    #[serde(default)]
    data_sources: Vec<String>,
    run_frequency: Option<String>,
    documentation: String,
}

#[derive(Deserialize)]
struct DocumentSeed {
    title: String,
    document_type: String,
    description: Option<String>,
    #[serde(default)]
    tags: Vec<String>,
    targeting_rules: Value,
    content: String,
}

/// What a seed run added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SeedReport {
    /// Detection rules added.
    pub detection_rules: usize,
    /// Context documents added.
    pub context_documents: usize,
    /// Alerts added.
    pub alerts: usize,
    /// Demo keys added.
    pub keys: usize,
}

impl SeedReport {
    /// Logs what was added as numeric fields, under `event`.
    pub fn log(&self, event: &str) {
        tracing::info!(
            detection_rules = self.detection_rules,
            context_documents = self.context_documents,
            alerts = self.alerts,
            keys = self.keys,
            "{event}"
        );
    }
}

/// Seeds sandbox mode.
pub struct SandboxSeeder {
    db: Db,
    rules: Arc<DetectionRuleService>,
    documents: Arc<ContextDocumentService>,
    ingest: Arc<IngestService>,
}

fn config_error(what: &str, e: impl std::fmt::Display) -> ServiceError {
    ServiceError::Config(format!("embedded sandbox {what} are invalid: {e}"))
}

impl SandboxSeeder {
    /// A seeder over the services it seeds through.
    pub fn new(
        db: Db,
        rules: Arc<DetectionRuleService>,
        documents: Arc<ContextDocumentService>,
        ingest: Arc<IngestService>,
    ) -> Self {
        SandboxSeeder { db, rules, documents, ingest }
    }

    /// Outside sandbox mode: the public demo keys, if a sandbox ever ran on this database, stop
    /// working (a real installation never accepts them).
    pub async fn disable_demo_keys(&self) -> Result<u64, ServiceError> {
        let digests = [DEMO_READ_KEY, DEMO_LAB_KEY].map(calseta_core::api_keys::key_digest);
        Ok(repo::deactivate_keys(&self.db, &digests).await?)
    }

    /// Seeds what is missing; a second run adds nothing.
    pub async fn seed(&self) -> Result<SeedReport, ServiceError> {
        let mut added = SeedReport::default();
        let rules: Vec<RuleSeed> =
            serde_json::from_str(include_str!("../../data/sandbox/detection_rules.json"))
                .map_err(|e| config_error("detection rules", e))?;
        for rule in rules {
            if repo::system_row_exists(&self.db, Seeded::DetectionRule, &rule.name).await? {
                continue;
            }
            let row = self
                .rules
                .create_rule(RuleFields {
                    name: rule.name,
                    source_rule_id: Some(rule.source_rule_id),
                    source_name: Some(rule.source_name),
                    severity: Some(rule.severity),
                    is_active: true,
                    mitre_tactics: rule.mitre_tactics,
                    mitre_techniques: rule.mitre_techniques,
                    mitre_subtechniques: rule.mitre_subtechniques,
                    data_sources: rule.data_sources,
                    run_frequency: rule.run_frequency,
                    created_by: Some("calseta-sandbox".into()),
                    documentation: Some(rule.documentation),
                })
                .await?;
            repo::mark_system(&self.db, Some(Seeded::DetectionRule), row.uuid).await?;
            added.detection_rules += 1;
        }
        let documents: Vec<DocumentSeed> =
            serde_json::from_str(include_str!("../../data/sandbox/context_documents.json"))
                .map_err(|e| config_error("context documents", e))?;
        for doc in documents {
            if repo::system_row_exists(&self.db, Seeded::ContextDocument, &doc.title).await? {
                continue;
            }
            let row = self
                .documents
                .create_document(DocumentFields {
                    title: doc.title,
                    document_type: doc.document_type,
                    is_global: false,
                    targeting_rules: Some(doc.targeting_rules),
                    description: doc.description,
                    content: doc.content,
                    tags: doc.tags,
                    version: 1,
                })
                .await?;
            repo::mark_system(&self.db, Some(Seeded::ContextDocument), row.uuid).await?;
            added.context_documents += 1;
        }
        let mut lab = None;
        for (name, plain, scopes) in [
            ("Sandbox demo (read-only)", DEMO_READ_KEY, &READ_SCOPES[..]),
            ("Lab demo (full access)", DEMO_LAB_KEY, &LAB_SCOPES[..]),
        ] {
            let digest = calseta_core::api_keys::key_digest(plain);
            let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
            // A visitor may have revoked or narrowed a demo key: it comes back as it was.
            if !repo::restore_system_key(&self.db, &digest, &scopes).await? {
                let mut tx = self.db.begin().await?;
                key_repo::insert(
                    &mut tx,
                    &NewApiKey {
                        name: name.into(),
                        key_prefix: calseta_core::api_keys::display_prefix(plain),
                        key_digest: digest.clone(),
                        scopes,
                        expires_at: None,
                        allowed_sources: None,
                        key_type: calseta_core::api_keys::KeyType::Human,
                        is_system: true,
                    },
                )
                .await?;
                tx.commit().await?;
                added.keys += 1;
            }
            let row = key_repo::find_active_by_digest(&self.db, &digest)
                .await?
                .ok_or_else(|| ServiceError::Config("the sandbox demo key could not be stored".into()))?;
            if plain == DEMO_LAB_KEY {
                lab = Some(ApiKey::from(row));
            }
        }
        // The alerts go in once, through ingestion like any other (the worker enriches them).
        if let Some(lab) = lab
            && repo::system_alerts(&self.db).await? == 0
        {
            for (source, payload) in ALERTS {
                let ingested = self.ingest.ingest_payload(source, &lab, payload).await?;
                repo::mark_system(&self.db, None, ingested.alert_uuid).await?;
                added.alerts += 1;
            }
        }
        Ok(added)
    }
}

/// The daily reset (once per UTC day, after midnight): visitors' changes go, the seed comes back.
pub struct ResetSandbox {
    pub(crate) seeder: Arc<SandboxSeeder>,
}

#[async_trait::async_trait]
impl JobHandler for ResetSandbox {
    async fn run(&self, ctx: &JobContext) -> Result<(), JobFailure> {
        let today = calseta_store::now().format("%Y-%m-%d").to_string();
        if !repo::claim_daily_reset(ctx.db(), &today).await? {
            return Ok(());
        }
        let outcome = match repo::reset(ctx.db()).await {
            Ok(()) => self.seeder.seed().await,
            Err(e) => Err(e.into()),
        };
        match outcome {
            Ok(added) => {
                added.log("sandbox reset");
                Ok(())
            }
            Err(e) => {
                // Not done: the claim goes back, so the next look (or this job's retry) tries again.
                if let Err(release) = repo::release_daily_reset(ctx.db(), "0000-00-00").await {
                    tracing::error!(error = %release, "could not give the sandbox reset claim back");
                }
                Err(JobFailure::retryable(e))
            }
        }
    }
}
