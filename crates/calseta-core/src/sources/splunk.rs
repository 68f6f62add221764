//! Splunk alert-action webhooks (`{sid, search_name, …, result: {…}}`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, FieldKind, HASHES, NormalizedAlert, RawIndicator, SignatureScheme,
    document, push_field, texts_at, timestamp_at,
};
use crate::alerts::Severity;
use crate::indicators::IndicatorType::*;
use crate::paths::{self, text, truthy};

/// The `splunk` source.
pub struct Splunk;

use FieldKind::{Host, Infer, Is};

/// v1's result fields and the Common Information Model's names for indicators, under `result`;
/// each is also read at the top level (some alert actions flatten the result).
const PASS_ONE: &[(&str, FieldKind)] = &[
    ("result.src_ip", Is(Ip)),
    ("result.dest_ip", Is(Ip)),
    ("result.user", Is(Account)),
    ("result.sha256", Is(HashSha256)),
    ("result.md5", Is(HashMd5)),
    ("result.sha1", Is(HashSha1)),
    ("result.url", Is(Url)),
    ("result.domain", Is(Domain)),
    ("result.src", Host),
    ("result.dest", Host),
    ("result.src_host", Host),
    ("result.dest_host", Host),
    ("result.src_user", Is(Account)),
    ("result.dest_user", Is(Account)),
    ("result.file_hash", Infer(HASHES)),
    ("result.query", Host),
    ("result.sender", Is(Email)),
    ("result.recipient", Is(Email)),
];

/// Prose and command lines in a result (CIM's `process` is the full command line).
const FREE_TEXT: &[&str] = &[
    "result.description",
    "result.rule_description",
    "result.message",
    "result.process",
    "result.cmdline",
    "result.command",
    "result._raw",
    "description",
    "message",
];

/// Where a field is read: under `result`, then at the top level.
fn places(path: &'static str) -> [&'static str; 2] {
    [path, path.strip_prefix("result.").unwrap_or(path)]
}

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
            for path in places(path) {
                push_field(&mut out, raw, path, *kind, path);
            }
        }
        out
    }

    fn free_text(&self, raw: &Value) -> Vec<(String, String)> {
        texts_at(raw, FREE_TEXT)
    }

    fn documented_free_text(&self) -> Vec<&'static str> {
        FREE_TEXT.to_vec()
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        text(raw, "result.rule_name").or_else(|| text(raw, "search_name"))
    }

    fn signature(&self) -> SignatureScheme {
        SignatureScheme::SharedToken { header: "x-splunk-webhook-secret" }
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        document(PASS_ONE, "Splunk result field (CIM name), under result or at the top level")
    }
}
