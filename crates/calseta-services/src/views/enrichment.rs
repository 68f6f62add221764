//! An indicator enriched on demand, as MCP's `enrich_indicator` tool and
//! `calseta://enrichments/{type}/{value}` resource show it.

use calseta_core::indicators::IndicatorType;
use serde_json::{Map, Value, json};

/// `{type, value, provider_count, results, enriched_at}`, and why nothing answered when no
/// configured provider covers the type.
pub fn on_demand(kind: IndicatorType, value: &str, results: Map<String, Value>) -> Value {
    let mut view = json!({
        "type": kind.as_str(), "value": value, "provider_count": results.len(), "results": results,
        "enriched_at": calseta_store::now(),
    });
    if view["provider_count"] == 0 {
        view["message"] =
            json!(format!("No configured providers support indicator type '{}'.", kind.as_str()));
    }
    view
}
