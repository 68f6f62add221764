//! One provider's result for one indicator value: mock mode first, then the shared database
//! cache, then — one call per key in this process at a time (single-flight) — the provider's
//! token bucket, its concurrency slots and the live steps; successful answers are cached for every
//! process. The result itself is [`ProviderResult`] (`calseta-core`).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use calseta_core::enrichment::{ProviderResult, gate, response, verdict};
use calseta_core::indicators::IndicatorType;
use calseta_store::enrichment_cache;
use futures::future::join_all;
use serde_json::{Map, Value, json};
use tokio::sync::Semaphore;

use super::EnrichmentEngine;
use super::registry::Provider;
use super::steps::{Executed, StepDebug};
use crate::ServiceError;

/// What one provider lookup produced.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A result to store (success, failure or skip).
    Done(ProviderResult),
    /// Rate-limited: try again after this long.
    Deferred(Duration),
}

/// A skipped result (the gate, a missing mock, a rate limit on demand).
pub fn skipped_result(provider: &str, reason: &str) -> ProviderResult {
    ProviderResult::skipped(provider, reason, calseta_store::now())
}

fn failed_result(provider: &str, error: &str) -> ProviderResult {
    ProviderResult::failed(provider, error, calseta_store::now())
}

fn answer_result(provider: &Provider, kind: IndicatorType, raw: Value, found: bool) -> ProviderResult {
    let (malice, rule) = verdict::decide(provider.rules.as_ref(), &raw, found);
    let extracted = if found {
        let mut fields = response::extract_fields(&raw, &provider.extractions, kind.as_str());
        fields.insert("malice".into(), Value::String(malice));
        fields
    } else {
        Map::from_iter([("found".to_string(), json!(false)), ("malice".to_string(), Value::String(malice))])
    };
    ProviderResult::success(&provider.name, extracted, raw, calseta_store::now()).decided_by(rule)
}

fn mock_result(provider: &Provider, mocks: &Value, kind: IndicatorType) -> ProviderResult {
    let Some(mock) = mocks.get(kind.as_str()).or_else(|| mocks.get("default")) else {
        return skipped_result(&provider.name, &format!("No mock response for type '{}'", kind.as_str()));
    };
    let mut extracted = mock.get("extracted").and_then(Value::as_object).cloned().unwrap_or_default();
    extracted.insert("malice".into(), mock.get("malice").cloned().unwrap_or_else(|| json!("Pending")));
    ProviderResult::success(
        &provider.name,
        extracted,
        mock.get("raw").cloned().unwrap_or_default(),
        calseta_store::now(),
    )
}

impl EnrichmentEngine {
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
        self.slots.get(&provider.name, provider.max_concurrency)
    }

    /// One provider's result for one value: mock, cache, or live (rate-limited, bounded); its
    /// outcome is counted by provider.
    pub async fn lookup(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Lookup {
        let mocked = self.registry.mock_mode() && provider.mock_responses.is_some();
        let found = self.lookup_once(provider, kind, value).await;
        let outcome = match &found {
            Lookup::Deferred(_) => "deferred",
            Lookup::Done(_) if mocked => "mock",
            Lookup::Done(result) if result.cache_hit => "cache_hit",
            Lookup::Done(result) if result.is_success() => "success",
            Lookup::Done(_) => "failure",
        };
        self.telemetry.enrichment(&provider.name, outcome);
        found
    }

    async fn lookup_once(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Lookup {
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
                    return Lookup::Done(failed_result(
                        &provider.name,
                        &format!("rate limiter unavailable: {e}"),
                    ));
                }
            }
        }
        let slots = self.slots_for(provider);
        let Ok(_slot) = slots.acquire().await else {
            return Lookup::Done(failed_result(&provider.name, "provider closed"));
        };
        let (executed, _) = self.execute(provider, kind, value, false).await;
        match executed {
            Executed::RateLimited(wait) => Lookup::Deferred(wait),
            Executed::Failed(message) => Lookup::Done(failed_result(&provider.name, &message)),
            Executed::Answer { raw, found } => {
                let result = answer_result(provider, kind, raw, found);
                if let Err(e) = enrichment_cache::put(
                    &self.db,
                    &provider.name,
                    kind.as_str(),
                    value,
                    &result.to_json(),
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

    async fn cached(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Option<ProviderResult> {
        match enrichment_cache::get(&self.db, &provider.name, kind.as_str(), value).await {
            Ok(Some((stored, cached_at))) => {
                let age = (calseta_store::now() - cached_at).num_seconds();
                Some(ProviderResult::from_json(&provider.name, &stored).served_from_cache(age))
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
    ) -> (ProviderResult, Option<Vec<StepDebug>>) {
        if self.registry.mock_mode()
            && let Some(mocks) = &provider.mock_responses
        {
            return (mock_result(provider, mocks, kind), None);
        }
        let (executed, steps) = self.execute(provider, kind, value, true).await;
        let result = match executed {
            Executed::Answer { raw, found } => answer_result(provider, kind, raw, found),
            Executed::Failed(message) => failed_result(&provider.name, &message),
            Executed::RateLimited(wait) => failed_result(
                &provider.name,
                &format!("rate limited by the provider; retry after {} s", wait.as_secs()),
            ),
        };
        (result, Some(steps))
    }

    /// On-demand enrichment of one value by every applicable configured provider (not persisted).
    pub async fn enrich_value(
        &self,
        kind: IndicatorType,
        value: &str,
    ) -> Result<BTreeMap<String, ProviderResult>, ServiceError> {
        let mut results = BTreeMap::new();
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
