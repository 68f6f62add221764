//! Microsoft Sentinel incidents, as a Logic App posts them (`properties{…}` plus `Entities[]`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AlertSource, DocumentedField, NormalizedAlert, RawIndicator, SignatureScheme, timestamp_at};
use crate::alerts::Severity;
use crate::decoders::Decoder;
use crate::entities;
use crate::indicators::IndicatorType;
use crate::paths::{self, text, truthy};

/// The `sentinel` source.
pub struct Sentinel;

/// A SecurityAlert record, as Log Analytics stores it and Logic Apps forward it: `AlertName`,
/// `AlertSeverity`, `Description`, and `Entities`/`ExtendedProperties` as JSON strings.
fn security_alert(raw: &Value) -> bool {
    truthy(paths::first(raw, "AlertName"))
        && (paths::first(raw, "SystemAlertId").is_some()
            || paths::first(raw, "Entities").is_some()
            || paths::first(raw, "AlertSeverity").is_some())
}

impl Sentinel {
    fn normalize_security_alert(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        let severity = match text(raw, "AlertSeverity").as_deref().unwrap_or("Informational") {
            "High" => Severity::High,
            "Medium" => Severity::Medium,
            "Low" => Severity::Low,
            "Informational" => Severity::Informational,
            _ => Severity::Pending,
        };
        NormalizedAlert {
            title: text(raw, "AlertName").or_else(|| text(raw, "DisplayName")).unwrap_or_default(),
            severity,
            occurred_at: timestamp_at(raw, "StartTime")
                .or_else(|| timestamp_at(raw, "TimeGenerated"))
                .unwrap_or(now),
            source_name: self.name().into(),
            description: text(raw, "Description"),
            tags: Vec::new(),
            fields: Default::default(),
            extra: Default::default(),
        }
    }
}

/// The largest `Entities` string parsed (Log Analytics caps a record's field well below this).
const MAX_ENTITIES_STRING: usize = 1024 * 1024;

/// SecurityAlert records (as Log Analytics and many Logic Apps send them) carry `Entities` as a
/// JSON *string*: parsed, as `{"Entities": [...]}`, so the same entity code reads it.
fn entities_in_a_string(raw: &Value) -> Option<Value> {
    let text = ["Entities", "entities"].iter().find_map(|k| raw.get(*k).and_then(Value::as_str))?;
    if text.len() > MAX_ENTITIES_STRING {
        return None;
    }
    match serde_json::from_str::<Value>(text.trim()).ok()? {
        list @ Value::Array(_) => Some(serde_json::json!({ "Entities": list })),
        _ => None,
    }
}

/// The indicators of every entity under `root`, each marked with the decoder that revealed it.
fn entity_indicators(root: &Value, decoder: Option<Decoder>) -> Vec<RawIndicator> {
    let ids = entities::ids(root);
    let mut found = Vec::new();
    for entity in entities(root, &ids) {
        if let Some(kind) = entities::kind(entity) {
            entities::indicators(entity, &kind, &ids, &mut found);
        }
    }
    found
        .into_iter()
        .map(|f| RawIndicator { kind: f.kind, value: f.value, source_field: f.field, decoder })
        .collect()
}

/// The incident's entities, references resolved.
fn entities<'a>(raw: &'a Value, ids: &HashMap<String, &'a Value>) -> Vec<&'a Value> {
    let list = ["Entities", "entities", "properties.relatedEntities"]
        .iter()
        .find_map(|p| match paths::first(raw, p) {
            Some(Value::Array(items)) => Some(items.as_slice()),
            _ => None,
        })
        .unwrap_or(&[]);
    list.iter().map(|e| entities::resolve(e, ids)).filter(|e| e.is_object()).collect()
}

impl AlertSource for Sentinel {
    fn name(&self) -> &'static str {
        "sentinel"
    }

    fn display_name(&self) -> &'static str {
        "Microsoft Sentinel"
    }

    fn validate(&self, raw: &Value) -> bool {
        let incident = matches!(paths::first(raw, "properties"), Some(Value::Object(_)))
            && (truthy(paths::first(raw, "properties.title"))
                || truthy(paths::first(raw, "properties.severity")));
        incident || security_alert(raw)
    }

    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert {
        if security_alert(raw) && paths::first(raw, "properties").is_none() {
            return self.normalize_security_alert(raw, now);
        }
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
        let mut out = entity_indicators(raw, None);
        if let Some(decoded) = entities_in_a_string(raw) {
            out.extend(entity_indicators(&decoded, Some(Decoder::Json)));
        }
        out
    }

    fn free_text(&self, raw: &Value) -> Vec<(String, String)> {
        // The incident's description, or a SecurityAlert's, and its `ExtendedProperties` (a JSON
        // string the JSON decoder reads).
        let mut texts: Vec<(String, String)> =
            ["properties.description", "Description", "ExtendedProperties"]
                .iter()
                .filter_map(|field| text(raw, field).map(|t| (field.to_string(), t)))
                .collect();
        let decoded = entities_in_a_string(raw);
        for root in std::iter::once(raw).chain(decoded.as_ref()) {
            let ids = entities::ids(root);
            for entity in entities(root, &ids) {
                if entities::kind(entity).as_deref() == Some("process")
                    && let Some(line) = entities::entity_text(entity, &["CommandLine", "commandLine"], &ids)
                {
                    texts.push(("Entities[process].CommandLine".to_string(), line));
                }
            }
        }
        texts
    }

    fn documented_free_text(&self) -> Vec<&'static str> {
        vec!["properties.description", "Description", "ExtendedProperties", "Entities[process].CommandLine"]
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
            DocumentedField {
                field_path: "Entities[Type=file].FileHashes[].Value",
                indicator_type: IndicatorType::HashSha256,
                description: "File entity hashes (SHA-256, SHA-1 and MD5 by Algorithm)",
            },
            DocumentedField {
                field_path: "Entities[Type=mailbox].MailboxPrimaryAddress",
                indicator_type: IndicatorType::Email,
                description: "Mailbox entity",
            },
            DocumentedField {
                field_path: "Entities[Type=mail-message].Sender|P1Sender|P2Sender|Recipient",
                indicator_type: IndicatorType::Email,
                description: "Mail message entity addresses",
            },
            DocumentedField {
                field_path: "Entities[Type=mail-message].Urls[]",
                indicator_type: IndicatorType::Url,
                description: "Mail message entity URLs",
            },
            DocumentedField {
                field_path: "Entities[Type=mail-message].SenderIP",
                indicator_type: IndicatorType::Ip,
                description: "Mail message sender IP",
            },
            DocumentedField {
                field_path: "Entities[Type=dns].DomainName",
                indicator_type: IndicatorType::Domain,
                description: "DNS resolution entity name",
            },
            DocumentedField {
                field_path: "Entities[Type=dns].IpAddresses[]",
                indicator_type: IndicatorType::Ip,
                description: "DNS resolution entity addresses ($ref to IP entities resolved)",
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn entities_given_as_references_are_resolved_wherever_their_ids_are() {
        // Logic Apps write an entity once (here inside an alert) and refer to it by `$ref`.
        let raw = json!({
            "properties": {"title": "t", "severity": "High",
                           "alerts": [{"Entities": [{"$id": "9", "Type": "ip", "Address": "192.0.2.1"},
                                                    {"$id": "5", "Type": "url", "Url": "https://a.example.com/x"},
                                                    {"$id": "7", "Algorithm": "MD5", "Value": "acbd18db4cc2f85cedef654fccc4a4d8"}]}]},
            "Entities": [
                {"$ref": "5"},
                {"$id": "1", "Type": "dns", "DomainName": "x.example.com", "IpAddresses": [{"$ref": "9"}]},
                {"$id": "2", "Type": "file", "FileHashes": [{"$ref": "7"}]},
                {"$id": "3", "kind": "Mailbox", "properties": {"mailboxPrimaryAddress": "a@example.com"}},
                {"$ref": "404"}
            ]
        });
        let found: Vec<(IndicatorType, String)> =
            Sentinel.extract(&raw).into_iter().map(|i| (i.kind, i.value)).collect();
        assert_eq!(
            found,
            [
                (IndicatorType::Url, "https://a.example.com/x".to_string()),
                (IndicatorType::Domain, "x.example.com".to_string()),
                (IndicatorType::Ip, "192.0.2.1".to_string()),
                (IndicatorType::HashMd5, "acbd18db4cc2f85cedef654fccc4a4d8".to_string()),
                (IndicatorType::Email, "a@example.com".to_string()),
            ]
        );
    }

    #[test]
    fn the_rest_apis_related_entities_are_read_too() {
        let raw = json!({"properties": {"title": "t", "relatedEntities": [
            {"kind": "Ip", "properties": {"address": "192.0.2.7"}},
            {"kind": "Account", "properties": {"accountName": "jdoe", "upnSuffix": "contoso.com"}}]}});
        let found: Vec<String> = Sentinel.extract(&raw).into_iter().map(|i| i.value).collect();
        assert_eq!(found, ["192.0.2.7", "jdoe@contoso.com"]);
    }

    #[test]
    fn reference_cycles_end() {
        let raw = json!({"properties": {"title": "t"},
                         "Entities": [{"$id": "1", "$ref": "2"}, {"$id": "2", "$ref": "1"},
                                      {"$id": "3", "Type": "ip", "Address": {"$ref": "3"}},
                                      {"$id": "4", "Type": "process", "CommandLine": {"$ref": "4"}}]});
        assert!(Sentinel.extract(&raw).is_empty());
        assert!(Sentinel.free_text(&raw).is_empty());
    }

    proptest::proptest! {
        #[test]
        fn any_reference_graph_ends(links in proptest::collection::vec((0u8..6, 0u8..6, 0u8..4), 0..12)) {
            // Entities whose fields point at each other in any shape, cycles included.
            let kinds = ["ip", "dns", "file", "process"];
            let entities: Vec<Value> = links
                .iter()
                .map(|(id, to, kind)| json!({"$id": id.to_string(), "Type": kinds[*kind as usize],
                    "Address": {"$ref": to.to_string()}, "IpAddresses": [{"$ref": to.to_string()}],
                    "FileHashes": [{"$ref": to.to_string()}], "CommandLine": {"$ref": to.to_string()}}))
                .chain(links.iter().map(|(_, to, _)| json!({"$ref": to.to_string()})))
                .collect();
            let raw = json!({"properties": {"title": "t"}, "Entities": entities});
            let _ = (Sentinel.extract(&raw), Sentinel.free_text(&raw));
        }
    }
}
