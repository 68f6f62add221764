//! Indicator rewriting: turns a template into a stream of distinct alerts, each with a numbered
//! title and fresh, still valid values for every indicator the template carries, so that no two
//! alerts share an indicator (and no enrichment is served from another alert's cache entry).

use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicU64, Ordering};

use calseta_core::indicators::{self, IndicatorType};
use serde_json::Value;

use crate::fixtures::Template;

/// Makes alerts unique: a numbered title and fresh values for every indicator per alert.
#[derive(Debug)]
pub struct AlertFactory {
    counter: AtomicU64,
}

impl Default for AlertFactory {
    fn default() -> Self {
        Self::new()
    }
}

impl AlertFactory {
    /// Title fields of the four sources.
    const TITLES: [&'static str; 6] = [
        "/properties/title",
        "/kibana.alert.rule.name",
        "/search_name",
        "/result/rule_name",
        "/result/signature",
        "/title",
    ];

    /// A factory numbering its alerts from 1.
    pub fn new() -> Self {
        AlertFactory { counter: AtomicU64::new(1) }
    }

    /// A factory numbering its alerts from `first`: a phase that must not repeat another
    /// factory's alerts (which the server would take as duplicates) starts far beyond it.
    pub fn starting_at(first: u64) -> Self {
        AlertFactory { counter: AtomicU64::new(first) }
    }

    /// The next alert from `template`, as the JSON body of an ingest request.
    pub fn make(&self, template: &Template) -> Vec<u8> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let mut payload = template.payload.clone();
        for pointer in Self::TITLES {
            if let Some(Value::String(title)) = payload.pointer_mut(pointer) {
                *title = format!("{title} #{n}");
            }
        }
        let replacements: Vec<(IndicatorType, &str, String)> = template
            .indicators
            .iter()
            .enumerate()
            .filter_map(|(k, (kind, old))| Some((*kind, old.as_str(), unique_indicator(*kind, old, n, k)?)))
            .collect();
        replace_indicators(&mut payload, &replacements);
        serde_json::to_vec(&payload).unwrap_or_default()
    }
}

/// A value of `kind` unique to alert `n` and position `k`, derived from `value`; `None` when
/// `value` cannot be rewritten (e.g. an IPv6 address or a hash shorter than the suffix).
pub fn unique_indicator(kind: IndicatorType, value: &str, n: u64, k: usize) -> Option<String> {
    Some(match kind {
        IndicatorType::Ip => match value.parse::<Ipv4Addr>() {
            Ok(_) => unique_address(n, k),
            Err(_) => return None,
        },
        IndicatorType::HashMd5 | IndicatorType::HashSha1 | IndicatorType::HashSha256 => {
            let suffix = format!("{n:012x}{k:04x}");
            let keep = value.len().checked_sub(suffix.len())?;
            format!("{}{suffix}", value.get(..keep)?)
        }
        IndicatorType::Domain => format!("n{n}-{k}.{value}"),
        IndicatorType::Url => format!("{value}{}bench={n}-{k}", if value.contains('?') { '&' } else { '?' }),
        IndicatorType::Email => {
            let (local, domain) = value.split_once('@')?;
            format!("{local}.n{n}-{k}@{domain}")
        }
        IndicatorType::Account => format!("{value}.n{n}-{k}"),
    })
}

/// Replaces every string that is one of the given indicators (type, normalized old value) as the
/// server would normalize it with that indicator's new value.
pub fn replace_indicators(value: &mut Value, replacements: &[(IndicatorType, &str, String)]) {
    match value {
        Value::String(s) => {
            if let Some((_, _, new)) = replacements.iter().find(|(kind, old, _)| {
                indicators::normalize(*kind, s).is_ok_and(|normalized| normalized == *old)
            }) {
                *s = new.clone();
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_indicators(v, replacements)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_indicators(v, replacements)),
        _ => {}
    }
}

/// A public address unique to alert `n` and position `k`.
fn unique_address(n: u64, k: usize) -> String {
    const FIRST_OCTETS: [u8; 6] = [45, 77, 91, 103, 154, 185];
    let first = FIRST_OCTETS[k % FIRST_OCTETS.len()].wrapping_add((k / FIRST_OCTETS.len()) as u8);
    let [_, b, c, d] = (n as u32).to_be_bytes();
    Ipv4Addr::new(first, b, c, d).to_string()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::fixtures::addresses_of;

    #[test]
    fn alerts_are_unique_per_call() {
        let payload =
            json!({"title": "T", "src_ip": "10.0.0.1", "nested": {"ip": "10.0.0.1", "other": "8.8.8.8"}});
        let indicators = addresses_of(&payload);
        let template = Template { source: "generic".into(), payload, indicators, primary: true };
        let factory = AlertFactory::new();
        let a: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        let b: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        assert_ne!(a["title"], b["title"]);
        assert_eq!(a["src_ip"], a["nested"]["ip"], "one original address maps to one new address");
        assert_ne!(a["src_ip"], a["nested"]["other"]);
        assert_ne!(a["src_ip"], b["src_ip"]);
    }

    #[test]
    fn every_indicator_gets_a_valid_value_of_its_type_per_alert() {
        let md5 = "44d88612fea8a8f36de82e1278abb02f";
        let payload = json!({"title": "T", "hash": md5.to_uppercase(), "host": "evil.example.com",
            "user": "Jdoe@Contoso.com", "url": "https://evil.example.com/a", "account": "CONTOSO\\jdoe"});
        let indicators = vec![
            (IndicatorType::HashMd5, md5.to_string()),
            (IndicatorType::Domain, "evil.example.com".to_string()),
            (IndicatorType::Email, "jdoe@contoso.com".to_string()),
            (IndicatorType::Url, "https://evil.example.com/a".to_string()),
            (IndicatorType::Account, "contoso\\jdoe".to_string()),
        ];
        let template = Template { source: "generic".into(), payload, indicators, primary: true };
        let factory = AlertFactory::new();
        let a: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        let b: Value = serde_json::from_slice(&factory.make(&template)).unwrap();
        for (field, kind) in [
            ("hash", IndicatorType::HashMd5),
            ("host", IndicatorType::Domain),
            ("user", IndicatorType::Email),
            ("url", IndicatorType::Url),
            ("account", IndicatorType::Account),
        ] {
            let (x, y) = (a[field].as_str().unwrap(), b[field].as_str().unwrap());
            assert_ne!(x, y, "{field} differs between alerts");
            assert_ne!(x, template.payload[field], "{field} was replaced");
            assert!(indicators::normalize(kind, x).is_ok(), "{field} {x} is still a valid {kind:?}");
        }
        assert_eq!(a["hash"].as_str().unwrap().len(), md5.len());
    }
}
