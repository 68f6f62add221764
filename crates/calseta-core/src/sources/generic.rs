//! Any JSON source with a `title` (plus optional severity, times, tags, indicators, rule ids).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    AlertSource, DocumentedField, FieldKind, HASHES, NormalizedAlert, RawIndicator, push_strings,
    severity_word, string_list, timestamp_at,
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

/// Prose and command lines a generic alert may carry; `raw`, `_raw`, `log`, `syslog` and `event_original` carry whole log lines
/// as forwarders deliver them (syslog, CEF, LEEF, `key=value`), which pass 4's decoders read.
const FREE_TEXT: &[&str] = &[
    "description",
    "message",
    "reason",
    "details",
    "summary",
    "command_line",
    "cmdline",
    "raw",
    "_raw",
    "log",
    "syslog",
    "event_original",
];

/// The lists of typed indicators a generic payload may carry (MISP-, STIX- and TheHive-style).
const LISTS: &[&str] = &["indicators", "observables", "iocs"];
/// Keys that name an item's type, and keys that hold its value.
const TYPE_KEYS: &[&str] = &["type", "kind", "dataType", "data_type", "observable_type", "indicator_type"];
const VALUE_KEYS: &[&str] = &["value", "data", "indicator", "observable", "address"];

/// What a type's spelling means: `ipv4`, `ip-dst`, `domain-name`, `sha256`, `email-addr`, …
fn kind_of(spelling: &str) -> Option<FieldKind> {
    let word = spelling.trim().to_ascii_lowercase().replace(['_', ' '], "-");
    let kind = match word.as_str() {
        "ip" | "ipv4" | "ipv6" | "ip-src" | "ip-dst" | "ip-addr" | "ipv4-addr" | "ipv6-addr"
        | "ip-address" | "address" | "ip-dst|port" => FieldKind::Is(Ip),
        "domain" | "domain-name" | "fqdn" => FieldKind::Is(Domain),
        // A host name may be a bare machine name: only an FQDN (or an IP) is an indicator.
        "hostname" | "host" => FieldKind::Host,
        "url" | "uri" | "link" => FieldKind::Is(Url),
        "md5" | "hash-md5" | "file-md5" | "filehash-md5" => FieldKind::Is(HashMd5),
        "sha1" | "sha-1" | "hash-sha1" | "file-sha1" | "filehash-sha1" => FieldKind::Is(HashSha1),
        "sha256" | "sha-256" | "hash-sha256" | "file-sha256" | "filehash-sha256" => FieldKind::Is(HashSha256),
        "hash" | "file-hash" | "filehash" | "file" => FieldKind::Infer(HASHES),
        "email" | "e-mail" | "mail" | "email-addr" | "email-address" | "email-src" | "email-dst" => {
            FieldKind::Is(Email)
        }
        "account" | "user" | "username" | "user-account" | "user-name" => FieldKind::Is(Account),
        _ => return None,
    };
    Some(kind)
}

fn list_items(raw: &Value, out: &mut Vec<RawIndicator>) {
    for list in LISTS {
        let Some(Value::Array(items)) = raw.get(*list) else { continue };
        let label = format!("{list}[]");
        for item in items {
            match item {
                // A bare value: typed by itself.
                Value::String(value) => {
                    if let Some(kind) = crate::indicators::infer(value) {
                        out.push(RawIndicator {
                            kind,
                            value: value.clone(),
                            source_field: label.clone(),
                            decoder: None,
                        });
                    }
                }
                Value::Object(_) => {
                    let spelling = TYPE_KEYS.iter().find_map(|k| text(item, k));
                    let value =
                        VALUE_KEYS.iter().find_map(|k| text(item, k)).filter(|v| !v.trim().is_empty());
                    let (Some(spelling), Some(value)) = (spelling, value) else { continue };
                    // MISP's composite types (`ip-dst|port`, `filename|sha256`, `domain|ip`) pair
                    // each part of the type with the same part of the value.
                    let parts: Vec<(&str, &str)> = if spelling.contains('|') {
                        spelling.split('|').zip(value.split('|')).collect()
                    } else {
                        vec![(spelling.as_str(), value.as_str())]
                    };
                    for (spelling, value) in parts {
                        let value = value.trim();
                        let kind = IndicatorType::parse(&spelling.to_lowercase())
                            .ok()
                            .map(FieldKind::Is)
                            .or_else(|| kind_of(spelling))
                            .and_then(|k| k.type_of(value));
                        if let Some(kind) = kind.filter(|_| !value.is_empty()) {
                            out.push(RawIndicator {
                                kind,
                                value: value.to_string(),
                                source_field: label.clone(),
                                decoder: None,
                            });
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

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
        list_items(raw, &mut out);
        for (field, kind) in TOP_LEVEL {
            // Top-level keys only, as in v1 (`{"src": {"ip": …}}` is not `src_ip`).
            if let Some(value) = raw.get(*field) {
                let single = serde_json::json!({ "v": value });
                push_strings(&mut out, &single, "v", *kind, false, field);
            }
        }
        out
    }

    fn free_text(&self, raw: &Value) -> Vec<(String, String)> {
        // Top-level keys only, like the fields above.
        FREE_TEXT
            .iter()
            .filter_map(|k| raw.get(*k).and_then(Value::as_str).map(|t| (k.to_string(), t.to_string())))
            .filter(|(_, t)| !t.trim().is_empty())
            .collect()
    }

    fn documented_free_text(&self) -> Vec<&'static str> {
        FREE_TEXT.to_vec()
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        paths::first(raw, "rule_id")
            .and_then(paths::scalar_text)
            .filter(|s| !s.trim().is_empty())
            .or_else(|| text(raw, "rule_name"))
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        let mut fields: Vec<DocumentedField> = IndicatorType::ALL
            .iter()
            .flat_map(|t| {
                ["indicators[]", "observables[]", "iocs[]"].map(|list| DocumentedField {
                    field_path: list,
                    indicator_type: *t,
                    description: "{type, value} items (ipv4, ip-dst, domain-name, sha256, email-addr, … spellings), or bare values typed by themselves",
                })
            })
            .collect();
        fields.extend(TOP_LEVEL.iter().map(|(path, kind)| DocumentedField {
            field_path: path,
            indicator_type: *kind,
            description: "Top-level field",
        }));
        fields
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn composite_and_host_items_are_typed_part_by_part() {
        let raw = json!({"title": "t", "indicators": [
            {"type": "ip-dst|port", "value": "198.51.100.77|443"},
            {"type": "filename|sha256", "value": "a.exe|2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"},
            {"type": "domain|ip", "value": "evil.example.com|203.0.113.8"},
            {"type": "hostname", "value": "WS-01"},
            {"type": "hostname", "value": "ws-01.corp.example.com"}]});
        let found: Vec<(IndicatorType, String)> =
            Generic.extract(&raw).into_iter().map(|i| (i.kind, i.value)).collect();
        assert_eq!(
            found,
            [
                (Ip, "198.51.100.77".to_string()),
                (HashSha256, "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae".to_string()),
                (Domain, "evil.example.com".to_string()),
                (Ip, "203.0.113.8".to_string()),
                (Domain, "ws-01.corp.example.com".to_string()),
            ]
        );
    }
}
