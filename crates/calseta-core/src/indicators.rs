//! Indicator types and value normalization — the one place where an extracted value becomes an
//! indicator's identity (DESIGN §9.4): trimmed, common defanging undone, domains/emails/hashes
//! lower-cased without trailing dots, IPs in canonical form, and values that cannot be their type
//! refused with a reason.

use std::net::IpAddr;

string_enum!(
    /// The eight indicator types.
    IndicatorType, "indicator_type", {
        Ip => "ip",
        Domain => "domain",
        HashMd5 => "hash_md5",
        HashSha1 => "hash_sha1",
        HashSha256 => "hash_sha256",
        Url => "url",
        Email => "email",
        Account => "account",
    }
);

string_enum!(
    /// Who set an indicator's verdict: enrichment, or an analyst's override.
    MaliceSource, "malice_source", {
        Enrichment => "enrichment",
        Analyst => "analyst",
    }
);

/// Longest value accepted for any type.
pub const MAX_VALUE_LEN: usize = 2048;

/// The defanged spellings of `://`, `:`, `.` and `@`, and what they stand for.
const DEFANG_MARKS: [(&str, &str); 11] = [
    ("[://]", "://"),
    ("[:]//", "://"),
    ("[:]", ":"),
    ("[.]", "."),
    ("(.)", "."),
    ("{.}", "."),
    ("[dot]", "."),
    ("(dot)", "."),
    ("[@]", "@"),
    ("(@)", "@"),
    ("[at]", "@"),
];

/// Replaces every defanged `://`, `:`, `.` and `@` in a text.
pub(crate) fn refang_marks(text: &str) -> String {
    let mut out = text.to_string();
    for (from, to) in DEFANG_MARKS {
        if out.contains(from) {
            out = out.replace(from, to);
        }
    }
    out
}

/// Undoes common defanging: `hxxp(s)`, `[.]`, `(.)`, `{.}`, `[dot]`, `[:]`, `[://]`, `[@]`, `[at]`.
pub fn refang(value: &str) -> String {
    let mut out = refang_marks(value);
    let lower = out.to_ascii_lowercase();
    for (from, to) in [("hxxps://", "https://"), ("hxxp://", "http://"), ("fxp://", "ftp://")] {
        if lower.starts_with(from) {
            out = format!("{to}{}", &out[from.len()..]);
            break;
        }
    }
    out
}

/// Normalizes `raw` as an indicator of `kind`, or says why it cannot be one.
pub fn normalize(kind: IndicatorType, raw: &str) -> Result<String, String> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err("empty value".into());
    }
    if trimmed.chars().count() > MAX_VALUE_LEN {
        return Err(format!("longer than {MAX_VALUE_LEN} characters"));
    }
    let value = refang(trimmed);
    match kind {
        IndicatorType::Ip => normalize_ip(&value),
        IndicatorType::Domain => normalize_domain(&value),
        IndicatorType::Email => normalize_email(&value),
        IndicatorType::HashMd5 => normalize_hash(&value, 32, "MD5"),
        IndicatorType::HashSha1 => normalize_hash(&value, 40, "SHA-1"),
        IndicatorType::HashSha256 => normalize_hash(&value, 64, "SHA-256"),
        IndicatorType::Url => normalize_url(&value),
        IndicatorType::Account => normalize_account(trimmed),
    }
}

fn normalize_ip(value: &str) -> Result<String, String> {
    let mut text = value.trim_start_matches('[').trim_end_matches(']');
    // An IPv6 zone (`fe80::1%eth0`) names a local interface; the address is the indicator.
    if let Some((addr, _zone)) = text.split_once('%') {
        text = addr;
    }
    text.parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| format!("'{value}' is not an IP address"))
}

fn valid_hostname(host: &str) -> bool {
    host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.chars().count() <= 63
                && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        })
}

/// A host name in its ASCII form: an internationalized name (`bücher.example`) becomes punycode
/// (`xn--bcher-kva.example`), so both spellings are one indicator.
fn ascii_host(host: &str) -> Option<String> {
    let host = host.trim_end_matches('.');
    if host.is_ascii() {
        return Some(host.to_ascii_lowercase());
    }
    idna::domain_to_ascii(host).ok().filter(|h| !h.is_empty())
}

fn normalize_domain(value: &str) -> Result<String, String> {
    let host = ascii_host(value).ok_or_else(|| format!("'{value}' is not a valid domain name"))?;
    if host.parse::<IpAddr>().is_ok() {
        return Err(format!("'{value}' is an IP address, not a domain"));
    }
    if !valid_hostname(&host) {
        return Err(format!("'{value}' is not a valid domain name"));
    }
    Ok(host)
}

fn normalize_email(value: &str) -> Result<String, String> {
    let text = value.strip_prefix("mailto:").unwrap_or(value).to_lowercase();
    let Some((local, domain)) = text.rsplit_once('@') else {
        return Err(format!("'{value}' is not an email address"));
    };
    let domain = ascii_host(domain).ok_or_else(|| format!("'{value}' is not an email address"))?;
    let domain = domain.as_str();
    if local.is_empty()
        || local.chars().any(char::is_whitespace)
        || !valid_hostname(domain)
        || local.contains('@')
    {
        return Err(format!("'{value}' is not an email address"));
    }
    Ok(format!("{local}@{domain}"))
}

fn normalize_hash(value: &str, len: usize, name: &str) -> Result<String, String> {
    let hash = value.to_ascii_lowercase();
    if hash.len() != len || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("'{value}' is not a {name} hash ({len} hex characters)"));
    }
    Ok(hash)
}

fn normalize_url(value: &str) -> Result<String, String> {
    if value.chars().any(char::is_whitespace) {
        return Err(format!("'{value}' is not a URL (contains whitespace)"));
    }
    let Some((scheme, rest)) = value.split_once("://") else {
        return Err(format!("'{value}' is not a URL (no scheme)"));
    };
    if scheme.is_empty() || !scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) {
        return Err(format!("'{value}' is not a URL (bad scheme)"));
    }
    // For web schemes a backslash ends the host as a browser reads it (`http://evil.com\@good.com`
    // goes to evil.com).
    let special = matches!(scheme.to_ascii_lowercase().as_str(), "http" | "https" | "ftp" | "ws" | "wss");
    let authority_end = if special { rest.find(['/', '?', '#', '\\']) } else { rest.find(['/', '?', '#']) }
        .unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.is_empty() {
        return Err(format!("'{value}' is not a URL (no host)"));
    }
    // Credentials in a URL are never stored: the userinfo is dropped.
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let scheme = scheme.to_ascii_lowercase();
    let (host, port) = split_port(hostport);
    if host.is_empty() {
        return Err(format!("'{value}' is not a URL (no host)"));
    }
    // Scheme and host are case-insensitive (and an internationalized host is punycode); path and
    // query are not. A port that is the scheme's default says nothing.
    let host = if let Some(literal) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        let ip: std::net::Ipv6Addr =
            literal.parse().map_err(|_| format!("'{value}' is not a URL (bad IPv6 host)"))?;
        format!("[{ip}]")
    } else {
        let ascii = ascii_host(host).ok_or_else(|| format!("'{value}' is not a URL (bad host)"))?;
        // A host is a name or an address; anything else (`u:pa` from a password with a `/`) is not.
        if !valid_hostname(&ascii) && ascii.parse::<IpAddr>().is_err() {
            return Err(format!("'{value}' is not a URL (bad host)"));
        }
        ascii
    };
    let default_port = match scheme.as_str() {
        "http" => Some("80"),
        "https" => Some("443"),
        "ftp" => Some("21"),
        _ => None,
    };
    let port = match port {
        Some(p) if Some(p) != default_port => format!(":{p}"),
        _ => String::new(),
    };
    Ok(format!("{scheme}://{host}{port}{tail}"))
}

/// `host:port` → (`host`, `port`); an IPv6 literal keeps its brackets.
fn split_port(hostport: &str) -> (&str, Option<&str>) {
    if let Some(end) = hostport.find(']') {
        let (host, rest) = hostport.split_at(end + 1);
        return (host, rest.strip_prefix(':').filter(|p| !p.is_empty()));
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => {
            (host, Some(port).filter(|p| !p.is_empty()))
        }
        _ => (hostport, None),
    }
}

/// Account names keep their case (some directories are case-sensitive), but the domain of a
/// UPN-style `user@domain` or a down-level `DOMAIN\user` account is case-insensitive, so it is
/// lower-cased (and keeps its form).
fn normalize_account(value: &str) -> Result<String, String> {
    if value.chars().any(|c| c.is_control()) {
        return Err("account names cannot contain control characters".into());
    }
    if let Some((domain, user)) = value.split_once('\\')
        && !domain.is_empty()
        && !user.is_empty()
        && !user.contains('\\')
    {
        return Ok(format!("{}\\{user}", domain.to_lowercase()));
    }
    match value.rsplit_once('@') {
        Some((user, domain)) if !user.is_empty() && valid_hostname(domain.trim_end_matches('.')) => {
            Ok(format!("{user}@{}", domain.trim_end_matches('.').to_lowercase()))
        }
        _ => Ok(value.to_string()),
    }
}

/// Whether `domain` ends in a real public suffix (the Public Suffix List) and has a registrable
/// name under it: `example.co.uk` yes, `corp.internal`, `host.local` and `powershell.exe` no.
pub fn has_public_suffix(domain: &str) -> bool {
    let lower = domain.to_ascii_lowercase();
    let bytes = lower.trim_end_matches('.').as_bytes();
    psl::suffix(bytes).is_some_and(|s| s.is_known()) && psl::domain(bytes).is_some()
}

/// The type a value of a field that holds mixed kinds has (`related.hash`, `related.hosts`,
/// Splunk's `dest`): an IP, a hash by its length, an email, a URL, else a domain with a public
/// suffix; `None` when it is none of them.
pub fn infer(value: &str) -> Option<IndicatorType> {
    let value = refang(value.trim());
    let candidates = [
        IndicatorType::Ip,
        IndicatorType::HashMd5,
        IndicatorType::HashSha1,
        IndicatorType::HashSha256,
        IndicatorType::Url,
        IndicatorType::Email,
    ];
    if let Some(kind) = candidates.into_iter().find(|k| normalize(*k, &value).is_ok()) {
        return Some(kind);
    }
    let domain = normalize(IndicatorType::Domain, &value).ok()?;
    (domain.contains('.') && has_public_suffix(&domain)).then_some(IndicatorType::Domain)
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn n(kind: IndicatorType, raw: &str) -> Result<String, String> {
        normalize(kind, raw)
    }

    #[test]
    fn refangs_and_canonicalizes() {
        assert_eq!(n(Ip, " 185.220.101[.]47 "), Ok("185.220.101.47".into()));
        assert_eq!(n(Ip, "2001:0DB8:0000:0000:0000:0000:0000:0001"), Ok("2001:db8::1".into()));
        assert_eq!(n(Ip, "fe80::1%eth0"), Ok("fe80::1".into()));
        assert_eq!(n(Domain, "Evil[.]Example.COM."), Ok("evil.example.com".into()));
        assert_eq!(n(Email, "Nick.Hathaway[@]Calseta.com"), Ok("nick.hathaway@calseta.com".into()));
        assert_eq!(
            n(HashMd5, "D41D8CD98F00B204E9800998ECF8427E"),
            Ok("d41d8cd98f00b204e9800998ecf8427e".into())
        );
        assert_eq!(n(Url, "hxxps://Evil[.]COM/Path?Q=1"), Ok("https://evil.com/Path?Q=1".into()));
        assert_eq!(n(Account, "  CORP\\Admin "), Ok("corp\\Admin".into()));
        assert_eq!(n(Account, "M.Okafor@Contoso.COM"), Ok("M.Okafor@contoso.com".into()));
    }

    #[test]
    fn urls_lose_credentials_and_default_ports_and_names_become_punycode() {
        assert_eq!(n(Url, "https://user:pa55@Evil.COM:443/x?a=B"), Ok("https://evil.com/x?a=B".into()));
        assert_eq!(n(Url, "http://evil.com:80"), Ok("http://evil.com".into()));
        assert_eq!(n(Url, "http://evil.com:8080/p"), Ok("http://evil.com:8080/p".into()));
        assert_eq!(n(Url, "ftp://anonymous@files.example.org:21/a"), Ok("ftp://files.example.org/a".into()));
        assert_eq!(n(Url, "http://[2001:DB8:0::1]:80/"), Ok("http://[2001:db8::1]/".into()));
        assert_eq!(n(Url, "http://evil.com\\@good.com/x"), Ok("http://evil.com\\@good.com/x".into()));
        assert!(n(Url, "http://u:pa/ss@evil.com").is_err(), "a host that is no host");
        assert_eq!(
            n(Url, "postgres://admin:pw@db.example.com:5432/prod"),
            Ok("postgres://db.example.com:5432/prod".into())
        );
        assert_eq!(n(Url, "https://bücher.example/ä"), Ok("https://xn--bcher-kva.example/ä".into()));
        assert_eq!(n(Domain, "Bücher.Example"), Ok("xn--bcher-kva.example".into()));
        assert_eq!(n(Domain, "xn--bcher-kva.example"), Ok("xn--bcher-kva.example".into()));
        assert_eq!(n(Email, "Info@Bücher.Example"), Ok("info@xn--bcher-kva.example".into()));
    }

    #[test]
    fn mixed_fields_are_typed_by_their_value() {
        assert_eq!(infer("10.1.2.3"), Some(Ip));
        assert_eq!(infer("d41d8cd98f00b204e9800998ecf8427e"), Some(HashMd5));
        assert_eq!(infer(&"a".repeat(40)), Some(HashSha1));
        assert_eq!(infer(&"b".repeat(64)), Some(HashSha256));
        assert_eq!(infer("mail.example.com"), Some(Domain));
        assert_eq!(infer("https://x.example.com/"), Some(Url));
        assert_eq!(infer("bob@example.com"), Some(Email));
        assert_eq!(infer("WORKSTATION-7"), None);
        assert_eq!(infer("powershell.exe"), None);
    }

    #[test]
    fn refuses_values_that_are_not_their_type() {
        assert!(n(Ip, "not-an-ip").is_err());
        assert!(n(Ip, "999.1.1.1").is_err());
        assert!(n(Domain, "10.0.0.1").is_err());
        assert!(n(Domain, "has space.com").is_err());
        assert!(n(HashSha256, "abc").is_err());
        assert!(n(HashSha1, "z".repeat(40).as_str()).is_err());
        assert!(n(Email, "nobody").is_err());
        assert!(n(Url, "evil.com/path").is_err());
        assert!(n(Account, "   ").is_err());
        assert!(n(Domain, &"a".repeat(3000)).is_err());
    }

    proptest::proptest! {
        #[test]
        fn normalization_never_panics_and_is_idempotent(raw in ".{0,80}", kind in 0usize..8) {
            let kind = IndicatorType::ALL[kind];
            if let Ok(once) = normalize(kind, &raw) {
                proptest::prop_assert_eq!(normalize(kind, &once), Ok(once.clone()));
            }
        }

        #[test]
        fn inferring_never_panics_and_agrees_with_normalization(raw in ".{0,80}") {
            if let Some(kind) = infer(&raw) {
                proptest::prop_assert!(normalize(kind, &raw).is_ok());
            }
        }

        #[test]
        fn any_ipv4_normalizes_to_itself(a in 0u8.., b in 0u8.., c in 0u8.., d in 0u8..) {
            let ip = format!("{a}.{b}.{c}.{d}");
            proptest::prop_assert_eq!(normalize(IndicatorType::Ip, &ip), Ok(ip.clone()));
        }
    }
}
