//! Elastic Security alerts (a Kibana alert `_source`; flat dotted ECS keys, nested objects, or a mix).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, FieldKind, HASHES, NormalizedAlert, RawIndicator, SignatureScheme,
    document, push_field, severity_word, string_list, texts_at, timestamp_at,
};
use crate::indicators::IndicatorType::*;
use crate::paths::{self, text, truthy};

/// The `elastic` source.
pub struct Elastic;

use FieldKind::{Host, Infer, Is};

/// Every ECS field that carries an indicator, flat or nested, single or a list. The first block
/// is v1's list (unchanged); the rest is the ECS schema's other indicator fields.
const PASS_ONE: &[(&str, FieldKind)] = &[
    ("source.ip", Is(Ip)),
    ("destination.ip", Is(Ip)),
    ("host.ip", Is(Ip)),
    ("threat.indicator.ip", Is(Ip)),
    ("destination.domain", Is(Domain)),
    ("dns.question.name", Is(Domain)),
    ("url.domain", Is(Domain)),
    ("threat.indicator.domain", Is(Domain)),
    ("url.full", Is(Url)),
    ("process.hash.sha256", Is(HashSha256)),
    ("file.hash.sha256", Is(HashSha256)),
    ("threat.indicator.file.hash.sha256", Is(HashSha256)),
    ("process.hash.sha1", Is(HashSha1)),
    ("file.hash.sha1", Is(HashSha1)),
    ("process.hash.md5", Is(HashMd5)),
    ("file.hash.md5", Is(HashMd5)),
    ("user.email", Is(Email)),
    ("user.name", Is(Account)),
    // Endpoints: addresses may hold an IP or a host name.
    ("client.ip", Is(Ip)),
    ("server.ip", Is(Ip)),
    ("source.address", Host),
    ("destination.address", Host),
    ("client.address", Host),
    ("server.address", Host),
    ("source.domain", Host),
    ("client.domain", Host),
    ("server.domain", Host),
    ("host.name", Host),
    ("dns.resolved_ip", Is(Ip)),
    // `related.*`: every IP, host, user and hash of the event, in one place.
    ("related.ip", Is(Ip)),
    ("related.hosts", Host),
    ("related.user", Is(Account)),
    ("related.hash", Infer(HASHES)),
    ("url.original", Is(Url)),
    // Email.
    ("email.from.address", Is(Email)),
    ("email.to.address", Is(Email)),
    ("email.cc.address", Is(Email)),
    ("email.bcc.address", Is(Email)),
    ("email.reply_to.address", Is(Email)),
    ("email.sender.address", Is(Email)),
    // Files, processes and libraries.
    ("dll.hash.md5", Is(HashMd5)),
    ("dll.hash.sha1", Is(HashSha1)),
    ("dll.hash.sha256", Is(HashSha256)),
    ("process.parent.hash.md5", Is(HashMd5)),
    ("process.parent.hash.sha1", Is(HashSha1)),
    ("process.parent.hash.sha256", Is(HashSha256)),
    // Users.
    ("user.target.name", Is(Account)),
    ("user.target.email", Is(Email)),
    ("source.user.name", Is(Account)),
    ("destination.user.name", Is(Account)),
    // Threat intelligence: the matched indicator and every enrichment's.
    ("threat.indicator.url.full", Is(Url)),
    ("threat.indicator.url.domain", Is(Domain)),
    ("threat.enrichments[].indicator.url.domain", Is(Domain)),
    ("threat.indicator.url.original", Is(Url)),
    ("threat.indicator.email.address", Is(Email)),
    ("threat.indicator.file.hash.md5", Is(HashMd5)),
    ("threat.indicator.file.hash.sha1", Is(HashSha1)),
    ("threat.enrichments[].indicator.ip", Is(Ip)),
    ("threat.enrichments[].indicator.domain", Is(Domain)),
    ("threat.enrichments[].indicator.url.full", Is(Url)),
    ("threat.enrichments[].indicator.url.original", Is(Url)),
    ("threat.enrichments[].indicator.email.address", Is(Email)),
    ("threat.enrichments[].indicator.file.hash.md5", Is(HashMd5)),
    ("threat.enrichments[].indicator.file.hash.sha1", Is(HashSha1)),
    ("threat.enrichments[].indicator.file.hash.sha256", Is(HashSha256)),
];

/// Where Elastic alerts carry prose and command lines.
const FREE_TEXT: &[&str] = &[
    "kibana.alert.reason",
    "kibana.alert.rule.description",
    "message",
    "process.command_line",
    "process.parent.command_line",
    "powershell.file.script_block_text",
    // ECS's copy of the event as the forwarder received it: often a syslog line or CEF record.
    "event.original",
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
        // A path can only resolve through a top-level key that is its first segment (nested) or
        // begins with it (a flat dotted key): the other sixty-odd fields are skipped unwalked.
        let roots: Vec<&str> = raw
            .as_object()
            .map(|o| o.keys().map(|k| k.split('.').next().unwrap_or(k)).collect())
            .unwrap_or_default();
        let mut out = Vec::new();
        for (path, kind) in PASS_ONE {
            let first = path.split(['.', '[']).next().unwrap_or(path);
            if roots.contains(&first) {
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
        text(raw, "kibana.alert.rule.uuid")
    }

    fn signature(&self) -> SignatureScheme {
        SignatureScheme::HmacSha256 { header: "x-elastic-signature" }
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        document(PASS_ONE, "ECS field")
    }
}
