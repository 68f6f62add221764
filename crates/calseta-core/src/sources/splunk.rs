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

/// v1's result fields and the Common Information Model's names for indicators; each is read under
/// `result` and at the top level (some alert actions flatten the result).
const PASS_ONE: &[(&str, FieldKind)] = &[
    ("src_ip", Is(Ip)),
    ("dest_ip", Is(Ip)),
    ("user", Is(Account)),
    ("sha256", Is(HashSha256)),
    ("md5", Is(HashMd5)),
    ("sha1", Is(HashSha1)),
    ("url", Is(Url)),
    ("domain", Is(Domain)),
    ("src", Host),
    ("dest", Host),
    ("src_host", Host),
    ("dest_host", Host),
    ("src_user", Is(Account)),
    ("dest_user", Is(Account)),
    ("file_hash", Infer(HASHES)),
    ("query", Host),
    ("sender", Is(Email)),
    ("recipient", Is(Email)),
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
/// Each field's documented path.
const RESULT_PATHS: &[(&str, &str)] = &[
    ("src_ip", "result.src_ip"),
    ("dest_ip", "result.dest_ip"),
    ("user", "result.user"),
    ("sha256", "result.sha256"),
    ("md5", "result.md5"),
    ("sha1", "result.sha1"),
    ("url", "result.url"),
    ("domain", "result.domain"),
    ("src", "result.src"),
    ("dest", "result.dest"),
    ("src_host", "result.src_host"),
    ("dest_host", "result.dest_host"),
    ("src_user", "result.src_user"),
    ("dest_user", "result.dest_user"),
    ("file_hash", "result.file_hash"),
    ("query", "result.query"),
    ("sender", "result.sender"),
    ("recipient", "result.recipient"),
];

fn places(field: &str) -> [String; 2] {
    [format!("result.{field}"), field.to_string()]
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
        for (field, kind) in PASS_ONE {
            for path in places(field) {
                push_field(&mut out, raw, &path, *kind, &path);
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
        let mut fields =
            document(PASS_ONE, "Splunk result field (CIM name), under result or at the top level");
        for field in &mut fields {
            // Documented under `result`, where Splunk's alert action puts them.
            if let Some((_, path)) = RESULT_PATHS.iter().find(|(f, _)| *f == field.field_path) {
                field.field_path = path;
            }
        }
        fields
    }
}
