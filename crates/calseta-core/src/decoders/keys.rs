//! What a key means: the field names CEF, LEEF, syslog structured data, `key=value` logs and
//! JSON records use for addresses, users, hosts, URLs and hashes, read as typed indicators rather
//! than scanned as text. Keys compare case-insensitively with `_`, `-`, `.` and spaces ignored,
//! so `src_ip`, `SrcIP`, `source-ip` and `Source IP` are one key.

use crate::indicators::{IndicatorType, has_public_suffix};

/// What a key's value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Meaning {
    /// An IP address.
    Ip,
    /// A user identity (an account).
    Account,
    /// A host name: a domain when it has a public suffix, nothing otherwise.
    Host,
    /// A URL (or a host and path a URL is made of).
    Url,
    /// A file hash, its type by length.
    Hash,
    /// An email address.
    Email,
    /// Not an indicator and not worth scanning (MACs, ports, file names, times, counters, the
    /// reporting device itself).
    Ignored,
}

/// `src_ip` → `srcip`.
pub fn fold(key: &str) -> String {
    key.chars().filter(|c| !matches!(c, '_' | '-' | '.' | ' ' | '\t')).flat_map(char::to_lowercase).collect()
}

/// Keys (folded) whose value is an IP address.
const IP_KEYS: &[&str] = &[
    "src",
    "dst",
    "srcip",
    "dstip",
    "sourceip",
    "destinationip",
    "sourceaddress",
    "destinationaddress",
    "sourcetranslatedaddress",
    "destinationtranslatedaddress",
    "srcprenat",
    "dstprenat",
    "srcpostnat",
    "dstpostnat",
    "srcaddr",
    "dstaddr",
    "clientip",
    "remoteip",
    "remoteaddr",
    "remoteaddress",
    "clientaddress",
    "sourcenetworkaddress",
    "ipaddress",
    "ip",
    "callerip",
    "callingstationid",
    "c6a1",
    "c6a2",
    "c6a3",
    "c6a4",
    "tranip",
    "transip",
    "natsrcip",
    "natdstip",
    "srcnatip",
    "dstnatip",
    "xforwardedfor",
    "cip",
    "sip",
    "dip",
    "identsrc",
    "clientipaddress",
    "addr",
    "sourceipaddress",
    "destinationipaddress",
    "hostip",
    "ipv4",
    "ipv6",
];
/// Keys (folded) whose value is a user identity.
const ACCOUNT_KEYS: &[&str] = &[
    "suser",
    "duser",
    "susername",
    "dusername",
    "usrname",
    "user",
    "username",
    "srcuser",
    "dstuser",
    "sourceuser",
    "destinationuser",
    "sourceusername",
    "destinationusername",
    "accountname",
    "account",
    "targetusername",
    "subjectusername",
    "userprincipalname",
    "upn",
    "loginname",
    "logonname",
    "logonuser",
    "samaccountname",
    "initiatinguser",
    "actoruser",
    "acct",
    "useraccount",
    "actoralternateid",
    "useremail",
    "accountupn",
    "targetuserprincipalname",
];
/// Keys (folded) whose value is a host name.
const HOST_KEYS: &[&str] = &[
    "shost",
    "dhost",
    "sourcehostname",
    "destinationhostname",
    "hostname",
    "srchost",
    "dsthost",
    "domain",
    "dnsdomain",
    "query",
    "qname",
    "dnsquery",
    "queryname",
    "fqdn",
    "servername",
    "sni",
    "tlssni",
    "referrerhost",
    "urlhost",
    "httphost",
];
/// Keys (folded) whose value is a URL.
const URL_KEYS: &[&str] = &[
    "request",
    "url",
    "requesturl",
    "requesturi",
    "fullurl",
    "uri",
    "referer",
    "referrer",
    "requestcontext",
    "urlfull",
    "urloriginal",
];
/// Keys (folded) whose value is a file hash.
const HASH_KEYS: &[&str] = &[
    "filehash",
    "oldfilehash",
    "hash",
    "md5",
    "sha1",
    "sha256",
    "filemd5",
    "filesha1",
    "filesha256",
    "hashvalue",
];
/// Keys (folded) whose value is an email address.
const EMAIL_KEYS: &[&str] = &[
    "email",
    "mail",
    "sender",
    "recipient",
    "from",
    "to",
    "emailaddress",
    "senderaddress",
    "recipientaddress",
    "mailfrom",
    "rcptto",
    "returnpath",
];
/// Keys (folded) whose value is no indicator and not worth scanning: MACs, ports, file names,
/// versions, times, counters, ids, and the reporting device itself.
const IGNORED_KEYS: &[&str] = &[
    "smac",
    "dmac",
    "mac",
    "srcmac",
    "dstmac",
    "dvcmac",
    "fname",
    "filename",
    "filepath",
    "oldfilename",
    "oldfilepath",
    "fileid",
    "filetype",
    "rt",
    "start",
    "end",
    "devtime",
    "devtimeformat",
    "spt",
    "dpt",
    "srcport",
    "dstport",
    "sport",
    "dport",
    "port",
    "proto",
    "protocol",
    "cnt",
    "externalid",
    "deviceexternalid",
    "sev",
    "severity",
    "cat",
    "act",
    "outcome",
    "dvc",
    "dvchost",
    "devicehostname",
    "deviceaddress",
    "identhostname",
    "in",
    "out",
    "len",
    "ttl",
    "id",
    "tos",
    "prec",
    "window",
    "res",
    "eventid",
    "guid",
    "processid",
    "pid",
    "tid",
    "sessionid",
    "logonid",
    "sid",
    "usersid",
    "objectsid",
    "version",
    "ver",
    "build",
    "oid",
    "date",
    "time",
    "timestamp",
    "agentversion",
    "uid",
    "auid",
    "ses",
    "userid",
    "actor",
];

/// The meaning of `key` (folded or not), or `None` when its value is text to scan.
pub fn meaning(key: &str) -> Option<Meaning> {
    let key = fold(key);
    let key = key.as_str();
    [
        (IP_KEYS, Meaning::Ip),
        (ACCOUNT_KEYS, Meaning::Account),
        (HOST_KEYS, Meaning::Host),
        (URL_KEYS, Meaning::Url),
        (HASH_KEYS, Meaning::Hash),
        (EMAIL_KEYS, Meaning::Email),
        (IGNORED_KEYS, Meaning::Ignored),
    ]
    .into_iter()
    .find_map(|(keys, meaning)| keys.contains(&key).then_some(meaning))
}

/// The meaning a CEF custom field's label gives its value (`cs1Label=Destination URL`): what the
/// label names, if anything.
pub fn meaning_of_label(label: &str) -> Option<Meaning> {
    let label = label.to_ascii_lowercase();
    let has = |word: &str| label.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == word);
    if has("url") || has("uri") {
        Some(Meaning::Url)
    } else if has("user") || has("username") || has("account") || has("upn") {
        Some(Meaning::Account)
    } else if has("hash") || has("sha256") || has("sha1") || has("md5") {
        Some(Meaning::Hash)
    } else if has("email") || has("sender") || has("recipient") {
        Some(Meaning::Email)
    } else if has("ip") || (has("address") && !has("mac") && !has("email")) {
        Some(Meaning::Ip)
    } else if has("domain") || has("hostname") || has("host") || has("fqdn") {
        Some(Meaning::Host)
    } else {
        None
    }
}

/// Values that name no one: placeholders and the operating system's own identities.
fn no_account(value: &str) -> bool {
    /// Placeholders and built-in identities (compared lower-case, after any `DOMAIN\`).
    const NOBODY: &[&str] = &[
        "-",
        "n/a",
        "na",
        "none",
        "null",
        "unknown",
        "(unknown)",
        "?",
        "system",
        "local service",
        "network service",
        "anonymous logon",
        "localsystem",
        "root",
        "root@localhost",
    ];
    let lower = value.trim().to_ascii_lowercase();
    let name = lower.rsplit('\\').next().unwrap_or(&lower);
    lower.is_empty()
        || lower.ends_with('$')
        || NOBODY.contains(&name)
        || lower.starts_with("s-1-")
        || lower.chars().all(|c| c.is_ascii_digit())
}

/// The typed indicator `value` of a key meaning `meaning` yields, if any.
pub fn typed(meaning: Meaning, value: &str) -> Option<(IndicatorType, String)> {
    let value = value.trim().trim_matches(|c| c == '"' || c == '\'').trim();
    if value.is_empty() || value == "-" {
        return None;
    }
    // Defanged values (`hxxps://evil[.]com`) are read as what they stand for.
    let refanged;
    let value = if matches!(meaning, Meaning::Url | Meaning::Host | Meaning::Ip | Meaning::Email) {
        refanged = crate::freetext::refang_text(value);
        refanged.as_str()
    } else {
        value
    };
    match meaning {
        Meaning::Ip => {
            // `203.0.113.7:4444` and `[2001:db8::5]:443`: the address.
            let address = crate::decoders::strip_port(value);
            // Kept as written (`2001:0db8:…` uncompressed); normalization comes later.
            address.parse::<std::net::IpAddr>().is_ok().then(|| (IndicatorType::Ip, address.to_string()))
        }
        Meaning::Account => (!no_account(value)).then(|| (IndicatorType::Account, value.to_string())),
        Meaning::Host => {
            let host = crate::decoders::strip_port(value).trim_end_matches('.');
            if host.parse::<std::net::IpAddr>().is_ok() {
                return Some((IndicatorType::Ip, host.to_string()));
            }
            let name_like =
                host.contains('.') && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
            (name_like && has_public_suffix(host)).then(|| (IndicatorType::Domain, host.to_string()))
        }
        Meaning::Url => {
            let lower = value.to_ascii_lowercase();
            if lower.contains("://") { Some((IndicatorType::Url, value.to_string())) } else { None }
        }
        Meaning::Hash => {
            let hex = value.rsplit([':', '=']).next().unwrap_or(value).trim();
            if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return None;
            }
            let kind = match hex.len() {
                32 => IndicatorType::HashMd5,
                40 => IndicatorType::HashSha1,
                64 => IndicatorType::HashSha256,
                _ => return None,
            };
            Some((kind, hex.to_string()))
        }
        Meaning::Email => {
            let (local, domain) = value.rsplit_once('@')?;
            let address = value.trim_matches(|c| c == '<' || c == '>');
            (!local.is_empty() && has_public_suffix(domain.trim_end_matches('>')))
                .then(|| (IndicatorType::Email, address.to_string()))
        }
        Meaning::Ignored => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_fold_and_mean_what_vendors_document() {
        assert_eq!(meaning("src_ip"), Some(Meaning::Ip));
        assert_eq!(meaning("Source Network Address"), Some(Meaning::Ip));
        assert_eq!(meaning("usrName"), Some(Meaning::Account));
        assert_eq!(meaning("smac"), Some(Meaning::Ignored));
        assert_eq!(meaning("msg"), None);
        assert_eq!(meaning_of_label("Destination URL"), Some(Meaning::Url));
        assert_eq!(meaning_of_label("Target User Name"), Some(Meaning::Account));
        assert_eq!(meaning_of_label("MAC Address"), None);
    }

    #[test]
    fn typed_values_are_checked_for_their_type() {
        assert_eq!(typed(Meaning::Ip, "203.0.113.7:4444"), Some((IndicatorType::Ip, "203.0.113.7".into())));
        assert_eq!(typed(Meaning::Ip, "WS-042"), None);
        assert_eq!(
            typed(Meaning::Account, "CORP\\jdoe"),
            Some((IndicatorType::Account, "CORP\\jdoe".into()))
        );
        for nobody in ["-", "SYSTEM", "NT AUTHORITY\\SYSTEM", "WS-042$", "S-1-5-18", "N/A"] {
            assert_eq!(typed(Meaning::Account, nobody), None, "{nobody}");
        }
        assert_eq!(typed(Meaning::Host, "dc01.corp.local"), None);
        assert_eq!(
            typed(Meaning::Host, "evil-cdn.top"),
            Some((IndicatorType::Domain, "evil-cdn.top".into()))
        );
        assert_eq!(
            typed(Meaning::Hash, "SHA256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
                .map(|t| t.0),
            Some(IndicatorType::HashSha256)
        );
        assert_eq!(typed(Meaning::Url, "/index.html"), None);
    }
}
