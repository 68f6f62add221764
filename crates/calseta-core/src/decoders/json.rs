//! JSON serialized into a string (Log Analytics records, Logic Apps, forwarders that wrap an
//! event as text): parsed, bounded, and walked — keys that name an address, a user, a host, a URL
//! or a hash are read as typed indicators, Microsoft's security entities through the same entity
//! code the Sentinel source uses, and every other string scanned as text.

use serde_json::Value;

/// The most nodes of one parsed document that are walked.
pub const MAX_NODES: usize = 10_000;

/// The document a string holds, when it is a JSON object or array (scalars are left as text).
pub fn parse(text: &str) -> Option<Value> {
    let trimmed = text.trim();
    let object = trimmed.starts_with('{') && trimmed.ends_with('}');
    let array = trimmed.starts_with('[') && trimmed.ends_with(']');
    if !object && !array {
        return None;
    }
    serde_json::from_str::<Value>(trimmed).ok().filter(|v| v.is_object() || v.is_array())
}

/// Entity fields read by the entity code: not scanned again as text (a `UPNSuffix` is no domain
/// of its own, an account's `Name` no free text).
pub const ENTITY_FIELDS: &[&str] = &[
    "$id",
    "$ref",
    "Type",
    "type",
    "kind",
    "Name",
    "name",
    "UPNSuffix",
    "upnSuffix",
    "NTDomain",
    "ntDomain",
    "HostName",
    "hostName",
    "DnsDomain",
    "dnsDomain",
    "FQDN",
    "fqdn",
    "Address",
    "address",
    "Url",
    "url",
    "Value",
    "value",
    "Algorithm",
    "algorithm",
    "MailboxPrimaryAddress",
    "Sender",
    "P1Sender",
    "P2Sender",
    "Recipient",
    "SenderIP",
    "DomainName",
    "Sid",
    "AadUserId",
    "AadTenantId",
    "ObjectGuid",
    "DisplayName",
    "FriendlyName",
    "OSFamily",
    "OSVersion",
    "IsDomainJoined",
    "AzureID",
    "OMSAgentID",
    "Directory",
    "ProcessId",
    "CreationTimeUtc",
    "ElevationToken",
    "Location",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_objects_and_arrays_are_documents() {
        assert!(parse(r#" {"a": 1} "#).is_some());
        assert!(parse(r#"[{"Type":"ip","Address":"192.0.2.1"}]"#).is_some());
        assert!(parse("\"just a string\"").is_none());
        assert!(parse("{not json}").is_none());
        assert!(parse("{\"unterminated\": [1, 2").is_none());
    }
}
