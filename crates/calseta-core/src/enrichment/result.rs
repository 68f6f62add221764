//! One provider's result for one indicator value — as stored per provider in
//! `indicators.enrichment_results`, cached, served by the API and sent to agents — and an
//! indicator's results by provider with the verdict and outcome counts they imply.
//!
//! The wire form is v1's (`provider_name`, `status`, `success`, `extracted`, `raw`, `enriched_at`,
//! `error_message`, `cache_hit`, plus `cache_age_seconds` on cache hits). Reading is lenient: a
//! stored result of any shape reads as something (an unreadable one as a failure), because stored
//! rows outlive the code that wrote them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::verdict::DecidingRule;
use crate::alerts::Malice;
use crate::redact::strip_url_secrets;

/// What v1 writes before a skip reason in `error_message`.
const SKIPPED_PREFIX: &str = "Enrichment skipped: ";

/// How a lookup ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultStatus {
    /// The provider answered (a not-found answer included).
    Success,
    /// The provider could not be asked or did not answer usably.
    Failed {
        /// Why (URL credentials stripped).
        error: String,
    },
    /// The provider was not asked (private address, unsupported value, no mock, …).
    Skipped {
        /// Why it was not asked.
        reason: String,
    },
    /// A rate limit postponed the lookup to an `enrich_deferred` job (stored as skipped).
    Deferred {
        /// When the job retries.
        retry_after_seconds: u64,
    },
}

impl ResultStatus {
    /// The stored `status` string (a deferral is stored as `skipped`, as v1 knows no other).
    pub fn wire(&self) -> &'static str {
        match self {
            ResultStatus::Success => "success",
            ResultStatus::Failed { .. } => "failed",
            ResultStatus::Skipped { .. } | ResultStatus::Deferred { .. } => "skipped",
        }
    }

    /// Why a lookup was not made (skipped or deferred).
    pub fn skip_reason(&self) -> Option<String> {
        match self {
            ResultStatus::Skipped { reason } => Some(reason.clone()),
            ResultStatus::Deferred { retry_after_seconds } => Some(deferral_note(*retry_after_seconds)),
            ResultStatus::Success | ResultStatus::Failed { .. } => None,
        }
    }

    /// The stored `error_message`.
    pub fn error_message(&self) -> Option<String> {
        match self {
            ResultStatus::Failed { error } => Some(error.clone()),
            _ => self.skip_reason().map(|reason| format!("{SKIPPED_PREFIX}{reason}")),
        }
    }

    /// Reads the stored `status`, `success` and `error_message`.
    fn read(status: &Value, success: &Value, error_message: &Value) -> ResultStatus {
        let message = error_message.as_str().unwrap_or_default();
        match status.as_str() {
            Some("success") => ResultStatus::Success,
            Some("skipped") => {
                let reason = message.strip_prefix(SKIPPED_PREFIX).unwrap_or(message);
                match parse_deferral_note(reason) {
                    Some(retry_after_seconds) => ResultStatus::Deferred { retry_after_seconds },
                    None => ResultStatus::Skipped { reason: reason.to_string() },
                }
            }
            // Results without a status (hand-written, older) go by `success`.
            None if success.as_bool() == Some(true) => ResultStatus::Success,
            _ => ResultStatus::Failed { error: message.to_string() },
        }
    }
}

fn deferral_note(retry_after_seconds: u64) -> String {
    format!("deferred by a rate limit; retried in {retry_after_seconds} s")
}

fn parse_deferral_note(reason: &str) -> Option<u64> {
    reason.strip_prefix("deferred by a rate limit; retried in ")?.strip_suffix(" s")?.parse().ok()
}

/// One provider's result for one indicator value.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderResult {
    /// The provider (`_validation` for the enrichability gate).
    pub provider_name: String,
    /// How the lookup ended.
    pub status: ResultStatus,
    /// The fields kept from the answer, with `malice`; `None` unless it succeeded.
    pub extracted: Option<Map<String, Value>>,
    /// The provider's answer (`null` unless it succeeded).
    pub raw: Value,
    /// When the result was produced (`None` when a stored one holds no readable time).
    pub enriched_at: Option<DateTime<Utc>>,
    /// Whether it came from the shared cache.
    pub cache_hit: bool,
    /// How old the cached result was (cache hits only).
    pub cache_age_seconds: Option<i64>,
    /// Which malice rule decided `extracted.malice` (stored as `malice_rule`, an additive field
    /// absent from results written before it and from mock answers).
    pub malice_rule: Option<DecidingRule>,
}

impl ProviderResult {
    fn new(provider: &str, status: ResultStatus, at: DateTime<Utc>) -> Self {
        ProviderResult {
            provider_name: provider.to_string(),
            status,
            extracted: None,
            raw: Value::Null,
            enriched_at: Some(at),
            cache_hit: false,
            cache_age_seconds: None,
            malice_rule: None,
        }
    }

    /// The same result naming the malice rule that decided its verdict.
    pub fn decided_by(mut self, rule: DecidingRule) -> Self {
        self.malice_rule = Some(rule);
        self
    }

    /// A provider's answer.
    pub fn success(provider: &str, extracted: Map<String, Value>, raw: Value, at: DateTime<Utc>) -> Self {
        ProviderResult { extracted: Some(extracted), raw, ..Self::new(provider, ResultStatus::Success, at) }
    }

    /// A failure; the error text is stored, served and sent to agents, so no URL in it keeps a
    /// credential.
    pub fn failed(provider: &str, error: &str, at: DateTime<Utc>) -> Self {
        Self::new(provider, ResultStatus::Failed { error: strip_url_secrets(error) }, at)
    }

    /// A lookup that was not made.
    pub fn skipped(provider: &str, reason: &str, at: DateTime<Utc>) -> Self {
        Self::new(provider, ResultStatus::Skipped { reason: reason.to_string() }, at)
    }

    /// A lookup a rate limit postponed.
    pub fn deferred(provider: &str, retry_after_seconds: u64, at: DateTime<Utc>) -> Self {
        Self::new(provider, ResultStatus::Deferred { retry_after_seconds }, at)
    }

    /// Whether the provider answered.
    pub fn is_success(&self) -> bool {
        self.status == ResultStatus::Success
    }

    /// The provider's verdict (`extracted.malice`) when it answered.
    pub fn malice(&self) -> Option<&str> {
        if !self.is_success() {
            return None;
        }
        self.extracted_field("malice").and_then(Value::as_str)
    }

    /// One extracted field.
    pub fn extracted_field(&self, key: &str) -> Option<&Value> {
        self.extracted.as_ref().and_then(|fields| fields.get(key))
    }

    /// The same result served from the cache, `age_seconds` old.
    pub fn served_from_cache(mut self, age_seconds: i64) -> Self {
        self.cache_hit = true;
        self.cache_age_seconds = Some(age_seconds.max(0));
        self
    }

    /// The stored JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads a stored result (any shape; see the module documentation).
    pub fn from_json(provider: &str, value: &Value) -> Self {
        match ProviderResult::deserialize(value) {
            Ok(mut result) => {
                if result.provider_name.is_empty() {
                    result.provider_name = provider.to_string();
                }
                result
            }
            Err(_) => ProviderResult {
                provider_name: provider.to_string(),
                status: ResultStatus::Failed { error: String::new() },
                extracted: None,
                raw: Value::Null,
                enriched_at: None,
                cache_hit: false,
                cache_age_seconds: None,
                malice_rule: None,
            },
        }
    }
}

#[derive(Serialize)]
struct WireOut<'a> {
    provider_name: &'a str,
    status: &'static str,
    success: bool,
    extracted: &'a Option<Map<String, Value>>,
    raw: &'a Value,
    enriched_at: &'a Option<DateTime<Utc>>,
    error_message: Option<String>,
    cache_hit: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_age_seconds: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    malice_rule: Option<Value>,
}

impl Serialize for ProviderResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        WireOut {
            provider_name: &self.provider_name,
            status: self.status.wire(),
            success: self.is_success(),
            extracted: &self.extracted,
            raw: &self.raw,
            enriched_at: &self.enriched_at,
            error_message: self.status.error_message(),
            cache_hit: self.cache_hit,
            cache_age_seconds: self.cache_age_seconds,
            malice_rule: self.malice_rule.as_ref().map(DecidingRule::to_json),
        }
        .serialize(serializer)
    }
}

/// Every field as any JSON, so that a stored result of an unexpected shape still reads.
#[derive(Deserialize)]
struct WireIn {
    #[serde(default)]
    provider_name: Value,
    #[serde(default)]
    status: Value,
    #[serde(default)]
    success: Value,
    #[serde(default)]
    extracted: Value,
    #[serde(default)]
    raw: Value,
    #[serde(default)]
    enriched_at: Value,
    #[serde(default)]
    error_message: Value,
    #[serde(default)]
    cache_hit: Value,
    #[serde(default)]
    cache_age_seconds: Value,
    #[serde(default)]
    malice_rule: Value,
}

impl<'de> Deserialize<'de> for ProviderResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let wire = WireIn::deserialize(deserializer)?;
        Ok(ProviderResult {
            provider_name: wire.provider_name.as_str().unwrap_or_default().to_string(),
            status: ResultStatus::read(&wire.status, &wire.success, &wire.error_message),
            extracted: match wire.extracted {
                Value::Object(fields) => Some(fields),
                _ => None,
            },
            raw: wire.raw,
            enriched_at: wire
                .enriched_at
                .as_str()
                .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
                .map(|t| t.with_timezone(&Utc)),
            cache_hit: wire.cache_hit.as_bool().unwrap_or(false),
            cache_age_seconds: wire.cache_age_seconds.as_i64(),
            malice_rule: DecidingRule::from_json(&wire.malice_rule),
        })
    }
}

/// How many lookups ended each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutcomeCounts {
    /// Answered.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Not made.
    pub skipped: usize,
    /// Postponed by a rate limit (or a deadline).
    pub deferred: usize,
}

impl OutcomeCounts {
    /// Counts one lookup.
    pub fn record(&mut self, status: &ResultStatus) {
        match status {
            ResultStatus::Success => self.succeeded += 1,
            ResultStatus::Failed { .. } => self.failed += 1,
            ResultStatus::Skipped { .. } => self.skipped += 1,
            ResultStatus::Deferred { .. } => self.deferred += 1,
        }
    }

    /// Whether lookups were made and every one failed: nothing answered and nothing is still to
    /// come. Skipped lookups are not attempts, so they neither cause nor prevent this.
    pub fn all_failed(&self) -> bool {
        self.failed > 0 && self.succeeded == 0 && self.deferred == 0
    }
}

/// An indicator's results by provider.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndicatorResults(pub BTreeMap<String, ProviderResult>);

impl IndicatorResults {
    /// Reads stored `enrichment_results` (anything but an object reads as none).
    pub fn from_json(value: Option<&Value>) -> Self {
        let Some(Value::Object(map)) = value else { return Self::default() };
        Self::from_map(map)
    }

    /// Reads results held as a map of provider name to result.
    pub fn from_map(map: &serde_json::Map<String, Value>) -> Self {
        IndicatorResults(
            map.iter()
                .map(|(provider, result)| (provider.clone(), ProviderResult::from_json(provider, result)))
                .collect(),
        )
    }

    /// The verdict enrichment stores: the worst `extracted.malice` of the providers that answered
    /// (failed and skipped ones do not vote), `Pending` if none.
    pub fn verdict(&self) -> Malice {
        Malice::worst(self.0.values().filter_map(ProviderResult::malice))
    }

    /// The provider whose answer gave [`Self::verdict`] (the first by name when several agree),
    /// `None` while the verdict is `Pending` for want of answers.
    pub fn deciding_provider(&self) -> Option<&ProviderResult> {
        let verdict = self.verdict();
        self.0.values().find(|r| r.malice().and_then(|m| Malice::parse(m).ok()) == Some(verdict))
    }

    /// v1's verdict when an analyst resets theirs: the worst `extracted.verdict`, else
    /// `extracted.malice`, of every result.
    pub fn reset_verdict(&self) -> Malice {
        Malice::worst(self.0.values().filter_map(|r| {
            r.extracted_field("verdict")
                .and_then(Value::as_str)
                .or_else(|| r.extracted_field("malice")?.as_str())
        }))
    }

    /// How the results ended.
    pub fn counts(&self) -> OutcomeCounts {
        let mut counts = OutcomeCounts::default();
        for result in self.0.values() {
            counts.record(&result.status);
        }
        counts
    }

    /// Whether the indicator counts as enriched: unless every lookup made for it failed.
    pub fn is_enriched(&self) -> bool {
        !self.counts().all_failed()
    }
}

impl Serialize for IndicatorResults {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for IndicatorResults {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(IndicatorResults::from_json(Some(&value)))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-02T03:04:05.123456Z").map(|t| t.with_timezone(&Utc)).unwrap()
    }

    #[test]
    fn the_wire_form_is_v1s() {
        let mut extracted = Map::new();
        extracted.insert("malice".into(), json!("Malicious"));
        let success = ProviderResult::success("vt", extracted, json!({"a": 1}), at());
        assert_eq!(
            success.to_json(),
            json!({"provider_name": "vt", "status": "success", "success": true,
                   "extracted": {"malice": "Malicious"}, "raw": {"a": 1},
                   "enriched_at": "2026-01-02T03:04:05.123456Z", "error_message": null, "cache_hit": false})
        );
        let failed = ProviderResult::failed("vt", "GET https://u:p@x.test/?apikey=s failed", at());
        let wire = failed.to_json();
        assert_eq!(wire["status"], "failed");
        assert_eq!(wire["success"], false);
        assert_eq!(wire["extracted"], Value::Null);
        assert!(!wire["error_message"].as_str().unwrap().contains("u:p"), "{wire}");
        let skipped = ProviderResult::skipped("_validation", "non-routable IP address (10.1.2.3)", at());
        assert_eq!(
            skipped.to_json()["error_message"],
            "Enrichment skipped: non-routable IP address (10.1.2.3)"
        );
        assert_eq!(skipped.to_json()["status"], "skipped");
        let deferred = ProviderResult::deferred("vt", 7, at());
        assert_eq!(
            deferred.to_json()["error_message"],
            "Enrichment skipped: deferred by a rate limit; retried in 7 s"
        );
        let cached = success.clone().served_from_cache(12).to_json();
        assert_eq!(
            (cached["cache_hit"].clone(), cached["cache_age_seconds"].clone()),
            (json!(true), json!(12))
        );
        let decided = success.clone().decided_by(DecidingRule::Rule { index: 2, condition: "x > 1".into() });
        assert_eq!(decided.to_json()["malice_rule"], json!({"index": 2, "condition": "x > 1"}));
        for result in [success, failed, skipped, deferred, decided] {
            assert_eq!(ProviderResult::from_json("x", &result.to_json()), result, "round trip");
        }
    }

    #[test]
    fn reading_is_lenient() {
        let odd =
            ProviderResult::from_json("p", &json!({"success": true, "extracted": {"malice": "Benign"}}));
        assert_eq!((odd.status, odd.provider_name.as_str()), (ResultStatus::Success, "p"));
        assert_eq!(
            ProviderResult::from_json("p", &json!("garbage")).status,
            ResultStatus::Failed { error: "".into() }
        );
        let skipped = ProviderResult::from_json("p", &json!({"status": "skipped"}));
        assert_eq!(skipped.status, ResultStatus::Skipped { reason: "".into() });
        assert_eq!(ProviderResult::from_json("p", &json!({"enriched_at": "t"})).enriched_at, None);
    }

    #[test]
    fn failed_providers_do_not_vote_and_all_failed_is_not_enriched() {
        let results: IndicatorResults = serde_json::from_value(json!({
            "a": {"status": "success", "success": true, "extracted": {"malice": "Suspicious"}},
            "b": {"status": "failed", "success": false, "extracted": {"malice": "Malicious"}},
            "_validation": {"success": false, "status": "skipped"}
        }))
        .unwrap();
        assert_eq!(results.verdict(), Malice::Suspicious);
        assert_eq!(results.deciding_provider().map(|r| r.provider_name.as_str()), Some("a"));
        assert_eq!(results.counts(), OutcomeCounts { succeeded: 1, failed: 1, skipped: 1, deferred: 0 });
        assert!(results.is_enriched());
        let failed =
            IndicatorResults::from_json(Some(&json!({"a": {"status": "failed"}, "b": {"status": "failed"}})));
        assert!(!failed.is_enriched());
        assert_eq!(failed.verdict(), Malice::Pending);
        let skipped = IndicatorResults::from_json(Some(&json!({"_validation": {"status": "skipped"}})));
        assert!(skipped.is_enriched(), "nothing was attempted, nothing failed");
        let waiting = IndicatorResults::from_json(Some(&json!({
            "a": {"status": "failed"},
            "b": {"status": "skipped", "error_message": "Enrichment skipped: deferred by a rate limit; retried in 3 s"}
        })));
        assert!(waiting.is_enriched(), "a deferred lookup may still answer");
        assert!(IndicatorResults::default().is_enriched());
    }

    #[test]
    fn reset_prefers_an_extracted_verdict() {
        let results = IndicatorResults::from_json(Some(&json!({
            "a": {"status": "success", "extracted": {"verdict": "Malicious", "malice": "Benign"}}
        })));
        assert_eq!(results.reset_verdict(), Malice::Malicious);
        assert_eq!(results.verdict(), Malice::Benign);
    }
}
