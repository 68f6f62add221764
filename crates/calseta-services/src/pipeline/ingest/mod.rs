//! The ingest stage: the reference's check order, normalization, passes 1–2 for the fingerprint,
//! the race-free dedup window, detection-rule association, and one transaction holding the alert,
//! its `enrich_alert` job and its `alert_ingested` event — so an accepted alert is never lost and
//! never left without the job that enriches it.
//!
//! On SQLite concurrent ingests are written together ([`batch`]): one transaction for the ingests
//! that arrive while the previous batch holds the only writer, and those transactions share
//! commits through the store's group-commit writer; every request is answered once its alert is
//! committed. One fsync then serves many alerts.

pub mod batch;

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use calseta_core::alerts::Severity;
use calseta_core::extraction;
use calseta_core::sources::{self, AlertSource, SignatureScheme};
use calseta_jobs::JobKind;
use calseta_store::alerts::{self, NewAlert};
use calseta_store::{Db, Tx, detection_rules};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::ServiceError;
use crate::audit::{self, Actor};
use crate::pipeline::hooks::IndicatorExtractor;
use crate::pipeline::kinds;
use crate::resources::api_keys::ApiKey;
use crate::resources::sources::{SourceService, webhook_secret_env_var};

/// Ingestion settings.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    /// `ALERT_DEDUP_WINDOW_HOURS`; 0 disables dedup.
    pub dedup_window_hours: u32,
    /// Webhook secret per source name (`SENTINEL_WEBHOOK_SECRET`, …); absent/empty = not verified
    /// unless a source integration stores one (which then wins).
    pub webhook_secrets: HashMap<String, String>,
}

/// Where the secret a source's webhooks are verified with comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretOrigin {
    /// A source integration's stored `auth_config.webhook_secret`.
    Stored,
    /// The `<SOURCE>_WEBHOOK_SECRET` environment variable.
    Environment,
    /// None: signatures are not checked (the API key alone authenticates).
    Unset,
}

/// How a source's webhooks are verified, as ingest would verify the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureStatus {
    /// The source plugin's scheme and header.
    pub scheme: SignatureScheme,
    /// Where the secret comes from.
    pub origin: SecretOrigin,
    /// The environment variable that would hold the secret.
    pub env_var: String,
}

/// The outcome of an accepted ingest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ingested {
    /// The new alert, or the original one for a duplicate.
    pub alert_uuid: Uuid,
    /// Whether it was a duplicate within the window.
    pub is_duplicate: bool,
    /// The original's duplicate count, for duplicates.
    pub duplicate_count: Option<i32>,
}

/// Ingestion use cases.
pub struct IngestService {
    extractor: Arc<dyn IndicatorExtractor>,
    settings: Arc<IngestSettings>,
    /// Writes the alerts, in batches of those that arrive together.
    writer: Arc<batch::IngestWriter>,
    /// Stored webhook signing secrets.
    sources: Arc<SourceService>,
}

/// A validated, normalized alert ready to be written ([`IngestService::prepare`]).
#[derive(Debug, Clone)]
pub struct PreparedAlert {
    alert: NewAlert,
    severity: Severity,
    rule_ref: Option<String>,
    actor: Actor,
    now: DateTime<Utc>,
}

fn unprocessable(message: impl Into<String>) -> ServiceError {
    ServiceError::Unprocessable { code: "INVALID_PAYLOAD", message: message.into() }
}

fn malformed(message: impl Into<String>) -> ServiceError {
    ServiceError::Malformed { code: "INVALID_JSON", message: message.into() }
}

/// Deepest JSON nesting accepted (serde_json's own recursion limit).
const MAX_DEPTH: usize = 128;

impl IngestService {
    /// A service over `db`, reading stored signing secrets through `sources`.
    pub fn new(
        db: Db,
        extractor: Arc<dyn IndicatorExtractor>,
        settings: IngestSettings,
        enrich_job: JobKind,
        sources: Arc<SourceService>,
    ) -> Self {
        let settings = Arc::new(settings);
        let writer = batch::IngestWriter::new(db, settings.clone(), enrich_job);
        Self { extractor, settings, writer, sources }
    }

    /// The secret `source`'s webhooks are verified with, and where it comes from: a stored one
    /// first, then the environment's. Unsigned sources read nothing.
    async fn webhook_secret(
        &self,
        source: &dyn AlertSource,
    ) -> Result<(Option<String>, SecretOrigin), ServiceError> {
        if source.signature() == SignatureScheme::None {
            return Ok((None, SecretOrigin::Unset));
        }
        if let Some(stored) = self.sources.stored_webhook_secret(source.name()).await? {
            return Ok((Some(stored), SecretOrigin::Stored));
        }
        Ok(match self.settings.webhook_secrets.get(source.name()).filter(|s| !s.is_empty()) {
            Some(secret) => (Some(secret.clone()), SecretOrigin::Environment),
            None => (None, SecretOrigin::Unset),
        })
    }

    /// How `source_name`'s webhooks are verified now (never the secret).
    pub async fn signature_status(&self, source_name: &str) -> Result<SignatureStatus, ServiceError> {
        let source = self.source(source_name)?;
        let (_, origin) = self.webhook_secret(source).await?;
        Ok(SignatureStatus {
            scheme: source.signature(),
            origin,
            env_var: webhook_secret_env_var(source_name),
        })
    }

    fn source(&self, name: &str) -> Result<&'static dyn AlertSource, ServiceError> {
        sources::find(name).ok_or_else(|| ServiceError::Unknown {
            code: "UNKNOWN_SOURCE",
            message: format!("Alert source '{name}' is not registered."),
        })
    }

    fn check_allowed(key: &ApiKey, source: &str) -> Result<(), ServiceError> {
        if key.may_ingest_from(source) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden {
                code: "SOURCE_NOT_ALLOWED",
                message: format!("This API key may not ingest from source '{source}'."),
            })
        }
    }

    /// `POST /v1/ingest/{source}`: a raw webhook body with its headers (looked up
    /// case-insensitively by `header`).
    pub async fn ingest_webhook(
        &self,
        source_name: &str,
        key: &ApiKey,
        header: &(dyn Fn(&str) -> Option<String> + Sync),
        body: &[u8],
    ) -> Result<Ingested, ServiceError> {
        let source = self.source(source_name)?;
        Self::check_allowed(key, source_name)?;
        let (secret, _) = self.webhook_secret(source).await?;
        match (source.signature(), secret.as_deref()) {
            (SignatureScheme::None, _) | (_, None) => {}
            (scheme, Some(secret)) => {
                sources::verify_signature(scheme, secret, header, body, calseta_store::now()).map_err(
                    |e| ServiceError::Unauthenticated {
                        code: "INVALID_SIGNATURE",
                        message: e.message().to_string(),
                    },
                )?;
            }
        }
        let text = std::str::from_utf8(body).map_err(|_| malformed("Request body is not valid UTF-8."))?;
        let raw: Value = serde_json::from_str(text).map_err(|e| {
            if e.to_string().contains("recursion limit") {
                unprocessable(format!("Payload nesting is deeper than {MAX_DEPTH} levels."))
            } else {
                malformed(format!("Request body is not valid JSON: {e}"))
            }
        })?;
        if !raw.is_object() {
            return Err(unprocessable("Payload must be a JSON object."));
        }
        self.accept(source, key, raw, text.to_string()).await
    }

    /// `POST /v1/alerts`: a payload already parsed from the request (its exact text is kept).
    pub async fn ingest_payload(
        &self,
        source_name: &str,
        key: &ApiKey,
        payload_text: &str,
    ) -> Result<Ingested, ServiceError> {
        let prepared = self.prepare(source_name, key, payload_text).await?;
        self.writer.write(prepared).await
    }

    /// The first half of [`Self::ingest_payload`], which writes nothing (it reads the active
    /// mapping rules, cached): checks, validates, normalizes and fingerprints the alert.
    /// `calseta bench` times the halves apart.
    pub async fn prepare(
        &self,
        source_name: &str,
        key: &ApiKey,
        payload_text: &str,
    ) -> Result<PreparedAlert, ServiceError> {
        let source = self.source(source_name)?;
        Self::check_allowed(key, source_name)?;
        let raw: Value = serde_json::from_str(payload_text)
            .map_err(|e| ServiceError::invalid("payload", format!("payload is not valid JSON: {e}")))?;
        if !raw.is_object() {
            return Err(ServiceError::invalid("payload", "payload must be a JSON object"));
        }
        self.prepare_raw(source, key, raw, payload_text.to_string()).await
    }

    /// How many ingests wait for their batch to take its transaction.
    pub fn ingests_waiting(&self) -> usize {
        self.writer.waiting()
    }

    /// The second half: the alert (or its duplicate count), its job and its event, in one
    /// transaction with the ingests that arrive with it.
    pub async fn store(&self, prepared: &PreparedAlert) -> Result<Ingested, ServiceError> {
        self.writer.write(prepared.clone()).await
    }

    async fn accept(
        &self,
        source: &dyn AlertSource,
        key: &ApiKey,
        raw: Value,
        raw_text: String,
    ) -> Result<Ingested, ServiceError> {
        let prepared = self.prepare_raw(source, key, raw, raw_text).await?;
        self.writer.write(prepared).await
    }

    async fn prepare_raw(
        &self,
        source: &dyn AlertSource,
        key: &ApiKey,
        raw: Value,
        raw_text: String,
    ) -> Result<PreparedAlert, ServiceError> {
        if !source.validate(&raw) {
            return Err(unprocessable(format!(
                "Payload does not match expected structure for source '{}'.",
                source.name()
            )));
        }
        let now = calseta_store::now();
        let alert = source.normalize(&raw, now);
        let found = self.extractor.extract(source, &raw, &alert, false).await?;
        let fingerprint = extraction::fingerprint(&alert.title, source.name(), &found.indicators);
        Ok(PreparedAlert {
            alert: NewAlert {
                title: alert.title.clone(),
                description: alert.description.clone(),
                severity: alert.severity,
                source_name: source.name().into(),
                occurred_at: alert.occurred_at,
                fingerprint,
                raw_payload: raw_text,
                tags: alert.tags.clone(),
                detection_rule_id: None,
            },
            severity: alert.severity,
            rule_ref: source.rule_ref(&raw),
            actor: Actor::api(key),
            now,
        })
    }
}

/// Writes one alert (or its duplicate count) inside `tx`.
async fn persist(
    tx: &mut Tx,
    settings: &IngestSettings,
    enrich_job: &JobKind,
    prepared: &PreparedAlert,
) -> Result<Ingested, ServiceError> {
    let PreparedAlert { alert, severity, rule_ref, actor, now } = prepared;
    let fingerprint = &alert.fingerprint;
    alerts::lock_fingerprint(tx, fingerprint).await?;
    let since = (settings.dedup_window_hours > 0)
        .then(|| *now - chrono::Duration::hours(i64::from(settings.dedup_window_hours)));
    let rule = rule_ref.as_deref().map(|rule_ref| (alert.source_name.as_str(), rule_ref));
    let lookup = alerts::ingest_lookup(tx, fingerprint, since, rule).await?;
    if let Some((id, uuid)) = lookup.duplicate {
        let count = alerts::record_duplicate(tx, id, *now).await?;
        let refs = json!({"fingerprint": fingerprint, "duplicate_count": count, "source_name": alert.source_name, "title": alert.title});
        audit::record(tx, actor, "alert_deduplicated", Some(id), refs).await?;
        return Ok(Ingested { alert_uuid: uuid, is_duplicate: true, duplicate_count: Some(count) });
    }
    let detection_rule_id = match (lookup.detection_rule_id, rule) {
        (Some(id), _) => Some(id),
        (None, Some((source_name, rule_ref))) => {
            Some(detection_rules::create_stub(tx, source_name, rule_ref).await?)
        }
        (None, None) => None,
    };
    let new_alert = NewAlert { detection_rule_id, ..alert.clone() };
    let (alert_id, alert_uuid) = alerts::insert(tx, &new_alert).await?;
    kinds::enqueue_enrichment(tx, enrich_job, alert_uuid).await?;
    let refs = json!({"source_name": alert.source_name, "severity": severity, "title": alert.title});
    audit::record(tx, actor, "alert_ingested", Some(alert_id), refs).await?;
    Ok(Ingested { alert_uuid, is_duplicate: false, duplicate_count: None })
}
