//! Microsoft Sentinel incidents, as a Logic App posts them (`properties{…}` plus `Entities[]`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{AlertSource, DocumentedField, NormalizedAlert, RawIndicator, SignatureScheme, timestamp_at};
use crate::alerts::Severity;
use crate::indicators::IndicatorType;
use crate::paths::{self, text, truthy};

/// The `sentinel` source.
pub struct Sentinel;

/// The most nodes of a payload indexed for `$ref` resolution, and the longest chain followed.
const MAX_NODES: usize = 100_000;
const MAX_HOPS: usize = 8;

/// Every object with a `$id`, by id: Logic Apps write an entity once and refer to it elsewhere
/// as `{"$ref": "<id>"}` (a host's IP, a file's hashes, a DNS answer's addresses).
fn ids(raw: &Value) -> HashMap<String, &Value> {
    let mut found = HashMap::new();
    let mut stack = vec![raw];
    let mut seen = 0;
    while let Some(node) = stack.pop() {
        seen += 1;
        if seen > MAX_NODES {
            break;
        }
        match node {
            Value::Object(map) => {
                if let Some(id) = map.get("$id").and_then(paths::scalar_text) {
                    found.entry(id).or_insert(node);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    found
}

/// The object a `{"$ref": id}` stands for (followed a few hops), or the value itself.
fn resolve<'a>(value: &'a Value, ids: &HashMap<String, &'a Value>) -> &'a Value {
    let mut current = value;
    for _ in 0..MAX_HOPS {
        match current.get("$ref").and_then(paths::scalar_text).and_then(|id| ids.get(&id)) {
            Some(target) => current = target,
            None => break,
        }
    }
    current
}

/// A field of an entity, whether at its top (as Logic Apps post it) or under `properties` (as the
/// REST API returns it), in either capitalisation.
fn entity_field<'a>(entity: &'a Value, names: &[&str]) -> Option<&'a Value> {
    let places = [Some(entity), entity.get("properties")];
    names
        .iter()
        .find_map(|name| places.iter().flatten().find_map(|place| place.get(*name).filter(|v| !v.is_null())))
}

fn entity_text(entity: &Value, names: &[&str], ids: &HashMap<String, &Value>) -> Option<String> {
    let value = resolve(entity_field(entity, names)?, ids);
    let value = match value {
        // A reference to an IP entity, say, stands for its address — one level deep, so that a
        // payload whose address refers to itself ends here.
        Value::Object(_) => resolve(entity_field(value, &["Address", "address"])?, ids),
        other => other,
    };
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(_) | Value::Array(_) => None,
        other => paths::scalar_text(other),
    }
    .filter(|s| !s.trim().is_empty())
}

/// The items of an entity's list field, each resolved.
fn entity_list<'a>(entity: &'a Value, names: &[&str], ids: &HashMap<String, &'a Value>) -> Vec<&'a Value> {
    match entity_field(entity, names) {
        Some(Value::Array(items)) => items.iter().map(|i| resolve(i, ids)).collect(),
        _ => Vec::new(),
    }
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
    list.iter().map(|e| resolve(e, ids)).filter(|e| e.is_object()).collect()
}

fn entity_kind(entity: &Value) -> Option<String> {
    ["Type", "type", "kind"]
        .iter()
        .find_map(|k| entity.get(*k).and_then(Value::as_str))
        .map(|t| t.to_ascii_lowercase().replace('-', ""))
}

fn hash_kind(algorithm: &str) -> Option<IndicatorType> {
    match algorithm.to_ascii_uppercase().replace('-', "").as_str() {
        "SHA256" => Some(IndicatorType::HashSha256),
        "SHA1" => Some(IndicatorType::HashSha1),
        "MD5" => Some(IndicatorType::HashMd5),
        _ => None,
    }
}

fn push(out: &mut Vec<RawIndicator>, kind: IndicatorType, value: Option<String>, field: String) {
    if let Some(value) = value {
        out.push(RawIndicator { kind, value, source_field: field });
    }
}

/// One entity's indicators.
fn entity_indicators(entity: &Value, kind: &str, ids: &HashMap<String, &Value>, out: &mut Vec<RawIndicator>) {
    let text = |names: &[&str]| entity_text(entity, names, ids);
    let label = |field: &str| format!("Entities[{kind}].{field}");
    match kind {
        "ip" => push(out, IndicatorType::Ip, text(&["Address", "address"]), label("Address")),
        "account" => {
            let value =
                text(&["Name", "name", "accountName"]).map(|name| match text(&["UPNSuffix", "upnSuffix"]) {
                    Some(suffix) => format!("{name}@{suffix}"),
                    None => name,
                });
            push(out, IndicatorType::Account, value, label("Name"));
        }
        "host" => {
            let value = text(&["FQDN", "fqdn"]).or_else(|| {
                text(&["HostName", "hostName"]).map(|host| match text(&["DnsDomain", "dnsDomain"]) {
                    Some(domain) => format!("{host}.{domain}"),
                    None => host,
                })
            });
            push(out, IndicatorType::Domain, value, label("HostName"));
        }
        "url" => push(out, IndicatorType::Url, text(&["Url", "url"]), label("Url")),
        "filehash" => {
            let algorithm = text(&["Algorithm", "algorithm"]).unwrap_or_default();
            if let Some(hash) = hash_kind(&algorithm) {
                push(out, hash, text(&["Value", "value", "hashValue"]), label("Value"));
            }
        }
        "file" => {
            for hash in entity_list(entity, &["FileHashes", "fileHashes"], ids) {
                let algorithm = entity_text(hash, &["Algorithm", "algorithm"], ids).unwrap_or_default();
                if let Some(kind) = hash_kind(&algorithm) {
                    let value = entity_text(hash, &["Value", "value", "hashValue"], ids);
                    push(out, kind, value, label("FileHashes[]"));
                }
            }
        }
        "mailbox" => {
            push(
                out,
                IndicatorType::Email,
                text(&["MailboxPrimaryAddress", "mailboxPrimaryAddress"]),
                label("MailboxPrimaryAddress"),
            );
        }
        "mailmessage" | "mailmessages" => {
            for field in ["Sender", "P1Sender", "P2Sender", "Recipient"] {
                let lower = format!("{}{}", field[..1].to_ascii_lowercase(), &field[1..]);
                push(out, IndicatorType::Email, text(&[field, &lower]), label(field));
            }
            push(out, IndicatorType::Ip, text(&["SenderIP", "senderIP", "senderIp"]), label("SenderIP"));
            for url in entity_list(entity, &["Urls", "urls"], ids) {
                let value = match url {
                    Value::String(s) => Some(s.clone()),
                    other => entity_text(other, &["Url", "url"], ids),
                };
                push(out, IndicatorType::Url, value, label("Urls[]"));
            }
        }
        "dns" | "dnsresolution" => {
            push(out, IndicatorType::Domain, text(&["DomainName", "domainName"]), label("DomainName"));
            for address in entity_list(entity, &["IpAddresses", "ipAddresses"], ids) {
                let value = match address {
                    Value::String(s) => Some(s.clone()),
                    other => entity_text(other, &["Address", "address"], ids),
                };
                push(out, IndicatorType::Ip, value, label("IpAddresses[]"));
            }
        }
        _ => {}
    }
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
        let ids = ids(raw);
        let mut out = Vec::new();
        for entity in entities(raw, &ids) {
            if let Some(kind) = entity_kind(entity) {
                entity_indicators(entity, &kind, &ids, &mut out);
            }
        }
        out
    }

    fn free_text(&self, raw: &Value) -> Vec<(String, String)> {
        let ids = ids(raw);
        let mut texts: Vec<(String, String)> = text(raw, "properties.description")
            .map(|d| ("properties.description".to_string(), d))
            .into_iter()
            .collect();
        for entity in entities(raw, &ids) {
            if entity_kind(entity).as_deref() == Some("process")
                && let Some(line) = entity_text(entity, &["CommandLine", "commandLine"], &ids)
            {
                texts.push(("Entities[process].CommandLine".to_string(), line));
            }
        }
        texts
    }

    fn documented_free_text(&self) -> Vec<&'static str> {
        vec!["properties.description", "Entities[process].CommandLine"]
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
