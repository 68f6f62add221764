//! Microsoft's security entities (Sentinel incidents and SecurityAlert records, Defender): the
//! objects with a `Type` (`ip`, `account`, `host`, `url`, `filehash`, `file`, `mailbox`,
//! `mail-message`, `dns`) that carry an alert's indicators, their `$id`/`$ref` references, and the
//! indicators each yields. The Sentinel source reads its `Entities` with this, and so does the JSON
//! decoder when entities arrive serialized into a string.

use std::collections::HashMap;

use serde_json::Value;

use crate::indicators::IndicatorType;
use crate::paths;

/// One indicator an entity yields, with the entity field it came from (`Entities[ip].Address`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityIndicator {
    /// Its type.
    pub kind: IndicatorType,
    /// The value as written.
    pub value: String,
    /// `Entities[<type>].<field>`.
    pub field: String,
}

/// The most nodes of a payload indexed for `$ref` resolution, and the longest chain followed.
const MAX_NODES: usize = 100_000;
const MAX_HOPS: usize = 8;

/// Every object with a `$id`, by id: Logic Apps write an entity once and refer to it elsewhere
/// as `{"$ref": "<id>"}` (a host's IP, a file's hashes, a DNS answer's addresses).
pub fn ids(raw: &Value) -> HashMap<String, &Value> {
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
pub fn resolve<'a>(value: &'a Value, ids: &HashMap<String, &'a Value>) -> &'a Value {
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

/// A field of an entity as text (a reference to an IP entity stands for its address).
pub fn entity_text(entity: &Value, names: &[&str], ids: &HashMap<String, &Value>) -> Option<String> {
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

/// An entity's type, lower-cased without dashes (`ip`, `account`, `filehash`, `mailmessage`).
pub fn kind(entity: &Value) -> Option<String> {
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

fn push(out: &mut Vec<EntityIndicator>, kind: IndicatorType, value: Option<String>, field: String) {
    if let Some(value) = value {
        out.push(EntityIndicator { kind, value, field });
    }
}

/// One entity's indicators.
pub fn indicators(entity: &Value, kind: &str, ids: &HashMap<String, &Value>, out: &mut Vec<EntityIndicator>) {
    let text = |names: &[&str]| entity_text(entity, names, ids);
    let label = |field: &str| format!("Entities[{kind}].{field}");
    match kind {
        "ip" => push(out, IndicatorType::Ip, text(&["Address", "address"]), label("Address")),
        "account" => {
            // `name@UPNSuffix`, else `NTDomain\name` (how Windows writes an account), else the name.
            let value = text(&["Name", "name", "accountName"]).map(|name| {
                match (text(&["UPNSuffix", "upnSuffix"]), text(&["NTDomain", "ntDomain"])) {
                    (Some(suffix), _) => format!("{name}@{suffix}"),
                    (None, Some(domain)) if !name.contains('\\') => format!("{domain}\\{name}"),
                    _ => name,
                }
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
