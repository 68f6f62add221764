//! Elastic Security alerts (a Kibana alert `_source`; flat dotted ECS keys, nested objects, or a mix).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, NormalizedAlert, RawIndicator, SignatureScheme, push_strings,
    severity_word, string_list, timestamp_at,
};
use crate::indicators::IndicatorType::{self, *};
use crate::paths::{self, text, truthy};

/// The `elastic` source.
pub struct Elastic;

/// (ECS path, type, accepts a list of strings)
const PASS_ONE: &[(&str, IndicatorType, bool)] = &[
    ("source.ip", Ip, true),
    ("destination.ip", Ip, true),
    ("host.ip", Ip, true),
    ("threat.indicator.ip", Ip, true),
    ("destination.domain", Domain, false),
    ("dns.question.name", Domain, false),
    ("url.domain", Domain, false),
    ("threat.indicator.domain", Domain, false),
    ("url.full", Url, false),
    ("process.hash.sha256", HashSha256, false),
    ("file.hash.sha256", HashSha256, false),
    ("threat.indicator.file.hash.sha256", HashSha256, false),
    ("process.hash.sha1", HashSha1, false),
    ("file.hash.sha1", HashSha1, false),
    ("process.hash.md5", HashMd5, false),
    ("file.hash.md5", HashMd5, false),
    ("user.email", Email, false),
    ("user.name", Account, false),
];

impl AlertSource for Elastic {
    fn name(&self) -> &'static str {
        "elastic"
    }

    fn display_name(&self) -> &'static str {
        "Elastic Security"
    }

    fn validate(&self, raw: &Value) -> bool {
        truthy(paths::first(raw, "kibana.alert.rule.name"))
            || truthy(paths::first(raw, "kibana.alert.rule.uuid"))
    }

    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        let title = text(raw, "kibana.alert.rule.name")
            .or_else(|| text(raw, "kibana.alert.reason"))
            .unwrap_or_else(|| "Untitled Elastic Alert".into());
        let severity = text(raw, "kibana.alert.severity")
            .or_else(|| text(raw, "kibana.alert.rule.severity"))
            .map(|s| severity_word(&s))
            .unwrap_or(crate::alerts::Severity::Pending);
        let reason = text(raw, "kibana.alert.reason");
        let description = match text(raw, "kibana.alert.rule.description").or_else(|| reason.clone()) {
            Some(d) if d == title => reason,
            other => other,
        };
        NormalizedAlert {
            title,
            severity,
            occurred_at: timestamp_at(raw, "kibana.alert.start")
                .or_else(|| timestamp_at(raw, "@timestamp"))
                .unwrap_or(now),
            source_name: self.name().into(),
            description,
            tags: string_list(raw, "kibana.alert.rule.tags"),
            fields: Default::default(),
            extra: Default::default(),
        }
    }

    fn extract(&self, raw: &Value) -> Vec<RawIndicator> {
        let mut out = Vec::new();
        for (path, kind, lists) in PASS_ONE {
            push_strings(&mut out, raw, path, *kind, *lists, path);
        }
        out
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        text(raw, "kibana.alert.rule.uuid")
    }

    fn signature(&self) -> SignatureScheme {
        SignatureScheme::HmacSha256 { header: "x-elastic-signature" }
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        PASS_ONE
            .iter()
            .map(|(path, kind, _)| DocumentedField {
                field_path: path,
                indicator_type: *kind,
                description: "ECS field",
            })
            .collect()
    }
}
