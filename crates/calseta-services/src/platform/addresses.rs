//! What kind of address an IP is, for the outbound SSRF policy — from a table of the IANA
//! special-purpose ranges (RFC 6890 and its updates) plus the clouds' metadata endpoints. IPv6
//! forms that carry an IPv4 address (mapped, compatible, NAT64, 6to4) are classified by the IPv4
//! address they carry; tunnel and local-use translation prefixes whose destination cannot be
//! judged are refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;

/// The kinds of address the policy tells apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressClass {
    /// Reachable on the internet.
    Public,
    /// Private, loopback, CGNAT, unique-local or site-local: allowed only where configured.
    Private,
    /// Link-local and cloud metadata endpoints: never contacted.
    Metadata,
    /// Unspecified, broadcast, multicast, documentation, benchmarking-free reserved, tunnel or
    /// local translation prefixes: never contacted.
    Reserved,
}

/// The special-purpose ranges, most specific first (the first match wins).
const RANGES: &[(&str, AddressClass)] = &[
    // Cloud metadata endpoints outside the link-local range.
    ("100.100.100.200/32", AddressClass::Metadata), // Alibaba Cloud
    ("168.63.129.16/32", AddressClass::Metadata),   // Azure WireServer
    ("192.0.0.192/32", AddressClass::Metadata),     // Oracle Cloud
    ("fd00:ec2::254/128", AddressClass::Metadata),  // AWS IMDS over IPv6
    // IPv4 (RFC 6890 and updates).
    ("0.0.0.0/8", AddressClass::Reserved),
    ("10.0.0.0/8", AddressClass::Private),
    ("100.64.0.0/10", AddressClass::Private),
    ("127.0.0.0/8", AddressClass::Private),
    ("169.254.0.0/16", AddressClass::Metadata),
    ("172.16.0.0/12", AddressClass::Private),
    // Globally reachable exceptions inside 192.0.0.0/24 (PCP and TURN anycast).
    ("192.0.0.9/32", AddressClass::Public),
    ("192.0.0.10/32", AddressClass::Public),
    ("192.0.0.0/24", AddressClass::Reserved),
    ("192.0.2.0/24", AddressClass::Reserved),
    ("192.88.99.0/24", AddressClass::Reserved),
    ("192.168.0.0/16", AddressClass::Private),
    ("198.18.0.0/15", AddressClass::Private),
    ("198.51.100.0/24", AddressClass::Reserved),
    ("203.0.113.0/24", AddressClass::Reserved),
    ("224.0.0.0/4", AddressClass::Reserved),
    ("240.0.0.0/4", AddressClass::Reserved),
    // IPv6.
    ("::/128", AddressClass::Reserved),
    ("::1/128", AddressClass::Private),
    ("64:ff9b:1::/48", AddressClass::Reserved),
    ("100::/64", AddressClass::Reserved),
    ("2001::/32", AddressClass::Reserved),
    ("2001:2::/48", AddressClass::Reserved),
    ("2001:10::/28", AddressClass::Reserved),
    ("2001:db8::/32", AddressClass::Reserved),
    ("3fff::/20", AddressClass::Reserved),
    ("5f00::/16", AddressClass::Reserved),
    ("fc00::/7", AddressClass::Private),
    ("fe80::/10", AddressClass::Metadata),
    ("fec0::/10", AddressClass::Private),
    ("ff00::/8", AddressClass::Reserved),
];

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`), IPv4-translated
/// (`::ffff:0:a.b.c.d`), IPv4-compatible (`::a.b.c.d`), NAT64 well-known prefix (`64:ff9b::/96`) or
/// 6to4 (`2002:aabb:ccdd::/48`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(mapped) = v6.to_ipv4_mapped() {
        return Some(mapped);
    }
    if s[..6] == [0, 0, 0, 0, 0, 0] && !(s[6] == 0 && s[7] <= 1) {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new((s[1] >> 8) as u8, s[1] as u8, (s[2] >> 8) as u8, s[2] as u8));
    }
    None
}

/// The table, parsed once.
fn parsed_ranges() -> &'static [(IpNet, AddressClass)] {
    static PARSED: std::sync::LazyLock<Vec<(IpNet, AddressClass)>> = std::sync::LazyLock::new(|| {
        RANGES.iter().filter_map(|(net, class)| net.parse().ok().map(|net| (net, *class))).collect()
    });
    &PARSED
}

/// The class of `ip`.
pub fn classify(ip: IpAddr) -> AddressClass {
    if let IpAddr::V6(v6) = ip
        && let Some(v4) = embedded_v4(v6)
    {
        return classify(IpAddr::V4(v4));
    }
    if ip == IpAddr::V4(Ipv4Addr::BROADCAST) {
        return AddressClass::Reserved;
    }
    parsed_ranges()
        .iter()
        .find(|(net, _)| net.contains(&ip))
        .map_or(AddressClass::Public, |(_, class)| *class)
}

/// Whether `ip` (or the IPv4 address it carries) reaches this machine: a loopback or unspecified
/// address, or one assigned to an interface here — binding a UDP socket to an address succeeds
/// only for a local one, and binding sends nothing. A system call: callers ask only when a
/// destination's port is one of this server's own.
pub fn is_this_machine(ip: IpAddr) -> bool {
    let carried = match ip {
        IpAddr::V6(v6) => embedded_v4(v6).map(IpAddr::V4),
        IpAddr::V4(_) => None,
    };
    [Some(ip), carried]
        .into_iter()
        .flatten()
        .any(|ip| ip.is_loopback() || ip.is_unspecified() || std::net::UdpSocket::bind((ip, 0)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(s: &str) -> AddressClass {
        classify(s.parse().unwrap())
    }

    #[test]
    fn every_range_parses() {
        for (net, _) in RANGES {
            assert!(net.parse::<IpNet>().is_ok(), "{net}");
        }
    }

    #[test]
    fn special_purpose_ranges() {
        use AddressClass::*;
        let rows = [
            ("93.184.216.34", Public),
            ("2606:4700::1111", Public),
            ("10.1.2.3", Private),
            ("127.0.0.1", Private),
            ("100.64.0.1", Private),
            ("192.168.1.1", Private),
            ("198.18.0.1", Private),
            ("::1", Private),
            ("fd12:3456::1", Private),
            ("fec0::1", Private),
            ("169.254.169.254", Metadata),
            ("100.100.100.200", Metadata),
            ("168.63.129.16", Metadata),
            ("192.0.0.192", Metadata),
            ("fd00:ec2::254", Metadata),
            ("fe80::1", Metadata),
            ("0.0.0.0", Reserved),
            ("255.255.255.255", Reserved),
            ("224.0.0.1", Reserved),
            ("240.0.0.1", Reserved),
            ("192.0.2.1", Reserved),
            ("::", Reserved),
            ("ff02::1", Reserved),
            ("2001:db8::1", Reserved),
            // Globally reachable special-purpose addresses stay public.
            ("192.0.0.9", Public),
            ("192.31.196.1", Public),
            ("192.175.48.1", Public),
            ("192.52.193.1", Public),
            ("2001:20::1", Public),
        ];
        for (ip, expected) in rows {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn this_machine_is_loopback_unspecified_or_local() {
        for ip in ["127.0.0.1", "127.0.0.53", "::1", "0.0.0.0", "::", "::ffff:127.0.0.1"] {
            assert!(is_this_machine(ip.parse().unwrap()), "{ip}");
        }
        // Documentation addresses are never assigned here.
        for ip in ["192.0.2.10", "2001:db8::10", "::ffff:192.0.2.10"] {
            assert!(!is_this_machine(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn ipv6_forms_are_judged_by_the_ipv4_address_they_carry() {
        use AddressClass::*;
        let rows = [
            ("::ffff:169.254.169.254", Metadata),
            ("::ffff:10.0.0.1", Private),
            ("::169.254.169.254", Metadata),
            ("::10.0.0.1", Private),
            ("64:ff9b::a9fe:a9fe", Metadata),
            ("64:ff9b::7f00:1", Private),
            ("64:ff9b::5db8:d822", Public),
            ("2002:a9fe:a9fe::1", Metadata),
            ("2002:0a00:0001::1", Private),
            ("2002:5db8:d822::1", Public),
            ("::ffff:0:a9fe:a9fe", Metadata),
            ("::ffff:0:a00:1", Private),
            // Where the destination cannot be judged: refused.
            ("64:ff9b:1::a00:1", Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
        ];
        for (ip, expected) in rows {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }
}
