//! Microsoft Sentinel incidents, as a Logic App posts them (`properties{…}` plus `Entities[]`).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AlertSource, DocumentedField, NormalizedAlert, RawIndicator, SignatureScheme, timestamp_at};
use crate::alerts::Severity;
use crate::indicators::IndicatorType;
use crate::paths::{self, text, truthy};

/// The `sentinel` source.
pub struct Sentinel;

fn entity_text(entity: &Value, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| text(entity, n))
}

impl AlertSource for Sentinel {
    fn name(&self) -> &'static str {
        "sentinel"
    }

    fn display_name(&self) -> &'static str {
        "Microsoft Sentinel"
    }

    fn validate(&self, raw: &Value) -> bool {
        matches!(paths::first(raw, "properties"), Some(Value::Object(_)))
            && (truthy(paths::first(raw, "properties.title"))
                || truthy(paths::first(raw, "properties.severity")))
    }

    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        // v1 maps the exact (case-sensitive) Sentinel names.
        let severity = match text(raw, "properties.severity").as_deref().unwrap_or("None") {
            "High" => Severity::High,
            "Medium" => Severity::Medium,
            "Low" => Severity::Low,
            "Informational" | "None" => Severity::Informational,
            _ => Severity::Pending,
        };
        let tags = match paths::first(raw, "properties.labels") {
            Some(Value::Array(labels)) => labels.iter().filter_map(|l| text(l, "labelName")).collect(),
            _ => Vec::new(),
        };
        NormalizedAlert {
            title: text(raw, "properties.title").unwrap_or_else(|| "Untitled Sentinel Incident".into()),
            severity,
            occurred_at: timestamp_at(raw, "properties.firstActivityTimeUtc")
                .or_else(|| timestamp_at(raw, "properties.createdTimeUtc"))
                .unwrap_or(now),
            source_name: self.name().into(),
            description: text(raw, "properties.description"),
            tags,
            fields: Default::default(),
            extra: Default::default(),
        }
    }

    fn extract(&self, raw: &Value) -> Vec<RawIndicator> {
        let entities = match paths::first(raw, "Entities").or_else(|| paths::first(raw, "entities")) {
            Some(Value::Array(items)) => items.as_slice(),
            _ => &[],
        };
        let mut out = Vec::new();
        for entity in entities.iter().filter(|e| e.is_object()) {
            let Some(kind) = entity_text(entity, &["Type", "type"]).map(|t| t.to_lowercase()) else {
                continue;
            };
            let found = match kind.as_str() {
                "ip" => entity_text(entity, &["Address", "address"]).map(|v| (IndicatorType::Ip, v)),
                "account" => entity_text(entity, &["Name", "name"]).map(|name| {
                    let value = match entity_text(entity, &["UPNSuffix", "upnSuffix"]) {
                        Some(suffix) => format!("{name}@{suffix}"),
                        None => name,
                    };
                    (IndicatorType::Account, value)
                }),
                "host" => entity_text(entity, &["HostName", "hostName"]).map(|host| {
                    let value = match entity_text(entity, &["DnsDomain", "dnsDomain"]) {
                        Some(domain) => format!("{host}.{domain}"),
                        None => host,
                    };
                    (IndicatorType::Domain, value)
                }),
                "url" => entity_text(entity, &["Url", "url"]).map(|v| (IndicatorType::Url, v)),
                "filehash" => {
                    let algorithm =
                        entity_text(entity, &["Algorithm", "algorithm"]).unwrap_or_default().to_uppercase();
                    let kind = match algorithm.as_str() {
                        "SHA256" => Some(IndicatorType::HashSha256),
                        "SHA1" => Some(IndicatorType::HashSha1),
                        "MD5" => Some(IndicatorType::HashMd5),
                        _ => None,
                    };
                    kind.and_then(|k| entity_text(entity, &["Value", "value"]).map(|v| (k, v)))
                }
                _ => None,
            };
            if let Some((kind_type, value)) = found {
                out.push(RawIndicator { kind: kind_type, value, source_field: format!("Entities[{kind}]") });
            }
        }
        out
    }

    fn rule_ref(&self, raw: &Value) -> Option<String> {
        let Some(Value::Array(ids)) = paths::first(raw, "properties.relatedAnalyticRuleIds") else {
            return None;
        };
        let id = ids.first().and_then(paths::scalar_text)?;
        let last = id.trim_end_matches('/').rsplit('/').next()?.to_string();
        (!last.is_empty()).then_some(last)
    }

    fn signature(&self) -> SignatureScheme {
        SignatureScheme::HmacSha256 { header: "x-sentinel-signature" }
    }

    fn documented_extractions(&self) -> Vec<DocumentedField> {
        vec![
            DocumentedField {
                field_path: "Entities[Type=ip].Address",
                indicator_type: IndicatorType::Ip,
                description: "IP entity address",
            },
            DocumentedField {
                field_path: "Entities[Type=account].Name@UPNSuffix",
                indicator_type: IndicatorType::Account,
                description: "Account entity (name@UPN suffix)",
            },
            DocumentedField {
                field_path: "Entities[Type=host].HostName.DnsDomain",
                indicator_type: IndicatorType::Domain,
                description: "Host entity FQDN",
            },
            DocumentedField {
                field_path: "Entities[Type=url].Url",
                indicator_type: IndicatorType::Url,
                description: "URL entity",
            },
            DocumentedField {
                field_path: "Entities[Type=filehash,Algorithm=SHA256].Value",
                indicator_type: IndicatorType::HashSha256,
                description: "File hash entity (SHA-256)",
            },
            DocumentedField {
                field_path: "Entities[Type=filehash,Algorithm=SHA1].Value",
                indicator_type: IndicatorType::HashSha1,
                description: "File hash entity (SHA-1)",
            },
            DocumentedField {
                field_path: "Entities[Type=filehash,Algorithm=MD5].Value",
                indicator_type: IndicatorType::HashMd5,
                description: "File hash entity (MD5)",
            },
        ]
    }
}
