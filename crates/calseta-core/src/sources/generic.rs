//! Any JSON source with a `title` (plus optional severity, times, tags, indicators, rule ids).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, NormalizedAlert, RawIndicator, push_strings, severity_word, string_list,
    timestamp_at,
};
use crate::alerts::Severity;
use crate::indicators::IndicatorType::{self, *};
use crate::paths::{self, text, truthy};

/// The `generic` source.
pub struct Generic;

const TOP_LEVEL: &[(&str, IndicatorType)] = &[
    ("src_ip", Ip),
    ("dest_ip", Ip),
    ("source_ip", Ip),
    ("destination_ip", Ip),
    ("ip", Ip),
    ("domain", Domain),
    ("hostname", Domain),
    ("url", Url),
    ("user", Account),
    ("username", Account),
    ("email", Email),
    ("md5", HashMd5),
    ("sha1", HashSha1),
    ("sha256", HashSha256),
    ("hash", HashSha256),
];

impl AlertSource for Generic {
    fn name(&self) -> &'static str {
        "generic"
    }

    fn display_name(&self) -> &'static str {
        "Generic Webhook"
    }

    fn validate(&self, raw: &Value) -> bool {
        raw.is_object() && truthy(raw.get("title"))
    }

    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        let severity = match text(raw, "severity").map(|s| s.to_lowercase()).as_deref() {
            Some("info") => Severity::Informational,
            Some(word) => severity_word(word),
            None => Severity::Pending,
        };
        NormalizedAlert {
            title: text(raw, "title").unwrap_or_else(|| "Untitled Alert".into()),
            severity,
            occurred_at: timestamp_at(raw, "occurred_at").unwrap_or(now),
            source_name: self.name().into(),
            description: text(raw, "description"),
            tags: string_list(raw, "tags"),
            fields: Default::default(),
            extra: Default::default(),
        }
    }

    fn extract(&self, raw: &Value) -> Vec<RawIndicator> {
        let mut out = Vec::new();
        if let Some(Value::Array(items)) = raw.get("indicators") {
            for item in items {
                let kind = text(item, "type").and_then(|t| IndicatorType::parse(&t.to_lowercase()).ok());
                let value = item.get("value").and_then(Value::as_str).filter(|v| !v.trim().is_empty());
                if let (Some(kind), Some(value)) = (kind, value) {
                    out.push(RawIndicator {
                        kind,
                        value: value.to_string(),
                        source_field: "indicators[]".into(),
                    });
                }
            }
        }
        for (field, kind) in TOP_LEVEL {
            // Top-level keys only, as in v1 (`{"src": {"ip": …}}` is not `src_ip`).
            if let Some(value) = raw.get(*field) {
                let single = serde_json::json!({ "v": value });
                push_strings(&mut out, &single, "v", *kind, false, field);
            }
        }
        out
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        paths::first(raw, "rule_id")
            .and_then(paths::scalar_text)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| text(raw, "rule_name"))
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        let mut fields = vec![DocumentedField {
            field_path: "indicators[]",
            indicator_type: Ip,
            description: "Explicit {type, value} list (any of the 8 types)",
        }];
        fields.extend(TOP_LEVEL.iter().map(|(path, kind)| DocumentedField {
            field_path: path,
            indicator_type: *kind,
            description: "Top-level field",
        }));
        fields
    }
}
