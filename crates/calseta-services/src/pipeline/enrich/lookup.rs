//! One provider's result for one indicator value: mock mode first, then the shared database
//! cache, then — one call per key in this process at a time (single-flight) — the provider's
//! token bucket, its concurrency slots and the live steps; successful answers are cached for every
//! process. Also the result shapes stored per provider and the indicator verdict.

use std::sync::Arc;
use std::time::Duration;

use calseta_core::alerts::Malice;
use calseta_core::enrichment::{gate, response, verdict};
use calseta_core::indicators::IndicatorType;
use calseta_core::redact::strip_url_secrets;
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
    /// A result to store (success or failure).
    Done(Value),
    /// Rate-limited: try again after this long.
    Deferred(Duration),
}

pub(super) fn result_value(
    provider: &str,
    status: &str,
    extracted: Value,
    raw: Value,
    error: Option<String>,
) -> Value {
    // Error text is stored, served and sent to agents: no URL in it keeps a credential.
    let error = error.map(|e| strip_url_secrets(&e));
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
        let mut map = match self.slots.lock() {
            Ok(map) => map,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.entry(provider.name.clone())
            .or_insert_with(|| Arc::new(Semaphore::new(provider.max_concurrency)))
            .clone()
    }

    /// One provider's result for one value: mock, cache, or live (rate-limited, bounded); its
    /// outcome is counted by provider.
    pub async fn lookup(&self, provider: &Provider, kind: IndicatorType, value: &str) -> Lookup {
        let mocked = self.registry.mock_mode() && provider.mock_responses.is_some();
        let found = self.lookup_once(provider, kind, value).await;
        let outcome = match &found {
            Lookup::Deferred(_) => "deferred",
            Lookup::Done(_) if mocked => "mock",
            Lookup::Done(result) if result["cache_hit"] == Value::Bool(true) => "cache_hit",
            Lookup::Done(result) if result["status"] == "success" => "success",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_providers_do_not_vote() {
        let results = json!({
            "a": {"success": true, "extracted": {"malice": "Suspicious"}},
            "b": {"success": false, "extracted": {"malice": "Malicious"}},
            "_validation": {"success": false, "status": "skipped"}
        });
        assert_eq!(indicator_verdict(&results), "Suspicious", "failed providers do not vote");
    }
}
