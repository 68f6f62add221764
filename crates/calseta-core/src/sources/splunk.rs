//! Splunk alert-action webhooks (`{sid, search_name, …, result: {…}}`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, NormalizedAlert, RawIndicator, SignatureScheme, push_strings, timestamp_at,
};
use crate::alerts::Severity;
use crate::indicators::IndicatorType::{self, *};
use crate::paths::{self, text, truthy};

/// The `splunk` source.
pub struct Splunk;

const PASS_ONE: &[(&str, IndicatorType)] = &[
    ("result.src_ip", Ip),
    ("result.dest_ip", Ip),
    ("result.user", Account),
    ("result.sha256", HashSha256),
    ("result.md5", HashMd5),
    ("result.sha1", HashSha1),
    ("result.url", Url),
    ("result.domain", Domain),
];

impl AlertSource for Splunk {
    fn name(&self) -> &'static str {
        "splunk"
    }

    fn display_name(&self) -> &'static str {
        "Splunk"
    }

    fn validate(&self, raw: &Value) -> bool {
        matches!(paths::first(raw, "result"), Some(Value::Object(_)))
            && (truthy(paths::first(raw, "search_name")) || truthy(paths::first(raw, "sid")))
    }

    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        let title = text(raw, "result.rule_name")
            .or_else(|| text(raw, "result.signature"))
            .or_else(|| text(raw, "search_name"))
            .unwrap_or_else(|| "Untitled Splunk Alert".into());
        // Absent urgency means Low in v1, not Pending.
        let word = text(raw, "result.urgency")
            .or_else(|| text(raw, "result.severity"))
            .unwrap_or_else(|| "low".into());
        let severity = match word.to_lowercase().as_str() {
            "critical" => Severity::Critical,
            "high" => Severity::High,
            "medium" => Severity::Medium,
            "low" => Severity::Low,
            "informational" | "info" => Severity::Informational,
            _ => Severity::Pending,
        };
        let description = match text(raw, "result.signature").or_else(|| text(raw, "result.search_name")) {
            Some(d) if d == title => text(raw, "result._raw").or(Some(d)),
            other => other,
        };
        NormalizedAlert {
            title,
            severity,
            occurred_at: timestamp_at(raw, "result._time").unwrap_or(now),
            source_name: self.name().into(),
            description,
            tags: Vec::new(),
            fields: Default::default(),
            extra: Default::default(),
        }
    }

    fn extract(&self, raw: &Value) -> Vec<RawIndicator> {
        let mut out = Vec::new();
        for (path, kind) in PASS_ONE {
            push_strings(&mut out, raw, path, *kind, false, path);
        }
        // `src`/`dest` only stand in when the `_ip` field is empty.
        if !truthy(paths::first(raw, "result.src_ip")) {
            push_strings(&mut out, raw, "result.src", Ip, false, "result.src");
        }
        if !truthy(paths::first(raw, "result.dest_ip")) {
            push_strings(&mut out, raw, "result.dest", Ip, false, "result.dest");
        }
        out
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        text(raw, "result.rule_name").or_else(|| text(raw, "search_name"))
    }

    fn signature(&self) -> SignatureScheme {
        SignatureScheme::SharedToken { header: "x-splunk-webhook-secret" }
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        let mut fields: Vec<DocumentedField> = PASS_ONE
            .iter()
            .map(|(path, kind)| DocumentedField {
                field_path: path,
                indicator_type: *kind,
                description: "Splunk result field",
            })
            .collect();
        fields.push(DocumentedField {
            field_path: "result.src",
            indicator_type: Ip,
            description: "Source IP when src_ip is empty",
        });
        fields.push(DocumentedField {
            field_path: "result.dest",
            indicator_type: Ip,
            description: "Destination IP when dest_ip is empty",
        });
        fields
    }
}
