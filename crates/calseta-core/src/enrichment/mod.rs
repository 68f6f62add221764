//! Enrichment providers as data: the `http_config` step format, templating, response field
//! extraction, malice rules and the enrichability gate — everything about a provider that needs
//! no network.

mod config;
pub mod gate;
pub mod response;
pub mod result;
pub mod template;
pub mod verdict;

pub use config::{FieldExtraction, HttpConfig, HttpStep, MaliceRule, MaliceRules, validate_http_config};
pub use result::{IndicatorResults, OutcomeCounts, ProviderResult, ResultStatus};

use crate::indicators::IndicatorType;

/// v1's cache lifetime by indicator type when a provider sets none.
pub fn default_cache_ttl_seconds(kind: IndicatorType) -> u64 {
    match kind {
        IndicatorType::Ip => 3600,
        IndicatorType::Domain => 21_600,
        IndicatorType::HashMd5 | IndicatorType::HashSha1 | IndicatorType::HashSha256 => 86_400,
        IndicatorType::Url => 1800,
        IndicatorType::Email => 3600,
        IndicatorType::Account => 900,
    }
}
