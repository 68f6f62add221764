//! The enrichability gate: values that must never be sent to a provider (internal addresses and
//! names) are skipped with a reason before any call.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::indicators::IndicatorType;

const INTERNAL_SUFFIXES: [&str; 10] =
    ["internal", "local", "localhost", "home", "lan", "corp", "test", "example", "invalid", "arpa"];

/// Whether an IPv4 address is publicly routable (Python's `is_global`, multicast excluded).
pub fn is_global_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 192 && b == 0 && c == 2)
        || (a == 198 && (18..20).contains(&b))
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 240)
}

/// Whether an IPv6 address is publicly routable.
pub fn is_global_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8))
}

/// Whether an address is publicly routable.
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_global_v4(v4),
        IpAddr::V6(v6) => is_global_v6(v6),
    }
}

fn domain_reason(domain: &str) -> Option<String> {
    let d = domain.trim_end_matches('.').to_lowercase();
    if d == "localhost" || INTERNAL_SUFFIXES.iter().any(|s| d == *s || d.ends_with(&format!(".{s}"))) {
        return Some(format!("internal domain ({d})"));
    }
    if !d.contains('.') {
        return Some(format!("not a fully qualified domain name ({d})"));
    }
    None
}

fn ip_reason(text: &str) -> Option<String> {
    match text.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        Ok(ip) if is_global(ip) => None,
        Ok(ip) => Some(format!("non-routable IP address ({ip})")),
        Err(_) => Some("invalid IP address format".into()),
    }
}

/// `None` when the value may be sent to providers, else why it is skipped.
pub fn skip_reason(kind: IndicatorType, value: &str) -> Option<String> {
    match kind {
        IndicatorType::Ip => ip_reason(value),
        IndicatorType::Domain => domain_reason(value),
        IndicatorType::Url => {
            let rest = value.split_once("://").map(|(_, r)| r).unwrap_or(value);
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
            let host = if host_port.starts_with('[') {
                host_port.split(']').next().map(|h| format!("{h}]")).unwrap_or_default()
            } else {
                host_port.split(':').next().unwrap_or_default().to_string()
            };
            if host.is_empty() {
                Some("URL has no hostname".into())
            } else if host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok() {
                ip_reason(&host)
            } else {
                domain_reason(&host)
            }
        }
        IndicatorType::HashMd5
        | IndicatorType::HashSha1
        | IndicatorType::HashSha256
        | IndicatorType::Email
        | IndicatorType::Account => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    #[test]
    fn internal_values_are_skipped() {
        assert_eq!(skip_reason(Ip, "185.220.101.47"), None);
        assert_eq!(skip_reason(Ip, "10.0.0.5").as_deref(), Some("non-routable IP address (10.0.0.5)"));
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "100.64.1.1",
            "192.168.1.1",
            "172.16.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "224.0.0.1",
            "203.0.113.5",
        ] {
            assert!(skip_reason(Ip, ip).is_some(), "{ip}");
        }
        assert_eq!(skip_reason(Ip, "2a00:1450:4001:81c::200e"), None);
        assert_eq!(skip_reason(Ip, "nope").as_deref(), Some("invalid IP address format"));
        assert!(skip_reason(Domain, "dc01.corp").is_some());
        assert!(skip_reason(Domain, "printer.local.").is_some());
        assert!(skip_reason(Domain, "ws01").is_some());
        assert_eq!(skip_reason(Domain, "evil.example.net"), None);
        assert!(skip_reason(Url, "http://10.1.2.3:8080/x").is_some());
        assert!(skip_reason(Url, "https://intranet.lan/login").is_some());
        assert_eq!(skip_reason(Url, "https://user@evil.com:8443/x"), None);
        assert!(skip_reason(Url, "https://[::1]/x").is_some());
        assert_eq!(skip_reason(Account, "admin"), None);
    }
}
