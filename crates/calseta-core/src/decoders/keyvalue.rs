//! Syslog lines and `key=value` runs. A syslog header (RFC 3164's `<PRI>Mmm dd hh:mm:ss host
//! tag:` or RFC 5424's `<PRI>1 timestamp host app procid msgid [structured data]`) is read off
//! the front, its structured-data parameters kept as pairs; `key=value` runs (iptables'
//! `SRC=… DST=…`, firewalls' `srcip=… user="…"`) and Windows' `Account Name:  jdoe` lines are
//! found anywhere in a text, each with its byte span so the scanner does not read a value twice.

use std::sync::LazyLock;

use regex::Regex;

/// One pair found in a text, with where its value lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    /// The key as written.
    pub key: String,
    /// The value, unquoted.
    pub value: String,
    /// Byte span of the value in the text.
    pub span: (usize, usize),
}

/// What a syslog header held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Syslog {
    /// RFC 5424 structured-data parameters.
    pub structured: Vec<(String, String)>,
    /// Where the message starts in the text.
    pub message_start: usize,
}

static RFC5424: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"^<\d{1,3}>\d{1,2} (?:\S+) (?:\S+) (?:\S+) (?:\S+) (?:\S+) ").ok());
static RFC3164: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"^<\d{1,3}>(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) \S+ (?:[^\s:\[]+(?:\[\d+\])?: ?)?").ok()
});
static PAIR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[\s,;|{(\[])([A-Za-z_][A-Za-z0-9_.\-]{0,63})=("(?:[^"\\]|\\.)*"|'[^']*'|[^\s,;|"'\]]*)"#,
    )
    .ok()
});
static COLON_PAIR: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?im)(?:^|[\t\n,;]|\s{2})\s*(account name|user ?name|user|target user name|source network address|source address|destination address|client address|caller ip|ip address|src ip|dst ip)\s*:[ \t]*([^\s,;]+)").ok()
});

/// The patterns are constants (a test compiles each); one that failed to compile finds nothing.
#[cfg(test)]
fn patterns() -> [&'static LazyLock<Option<Regex>>; 4] {
    [&RFC5424, &RFC3164, &PAIR, &COLON_PAIR]
}

/// The syslog header at the start of `text`, if there is one.
pub fn syslog(text: &str) -> Option<Syslog> {
    if !text.starts_with('<') {
        return None;
    }
    if let Some(m) = RFC5424.as_ref().and_then(|r| r.find(text)) {
        let (structured, end) = structured_data(&text[m.end()..]);
        let message_start = m.end() + end;
        return Some(Syslog { structured, message_start: message_start.min(text.len()) });
    }
    let m = RFC3164.as_ref().and_then(|r| r.find(text))?;
    Some(Syslog { structured: Vec::new(), message_start: m.end() })
}

/// RFC 5424's structured data (`-` or `[id k="v" …]…`): its parameters, and how many bytes it
/// took (with the space after it).
fn structured_data(text: &str) -> (Vec<(String, String)>, usize) {
    if let Some(rest) = text.strip_prefix('-') {
        return (Vec::new(), 1 + usize::from(rest.starts_with(' ')));
    }
    let mut pairs = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while bytes.get(i) == Some(&b'[') {
        // `[id` then ` key="value"` pairs, values escaping `"`, `\` and `]`.
        i += 1;
        while i < bytes.len() && !matches!(bytes[i], b' ' | b']') {
            i += 1;
        }
        loop {
            while bytes.get(i) == Some(&b' ') {
                i += 1;
            }
            if i >= bytes.len() || bytes[i] == b']' {
                i += 1;
                break;
            }
            let key_start = i;
            while i < bytes.len() && !matches!(bytes[i], b'=' | b' ' | b']') {
                i += 1;
            }
            let key = text.get(key_start..i).unwrap_or_default().to_string();
            if bytes.get(i) != Some(&b'=') || bytes.get(i + 1) != Some(&b'"') {
                // Malformed: the rest is the message.
                return (pairs, i.min(text.len()));
            }
            i += 2;
            let mut value = Vec::new();
            while i < bytes.len() && bytes[i] != b'"' {
                if bytes[i] == b'\\' && i + 1 < bytes.len() {
                    i += 1;
                }
                value.push(bytes[i]);
                i += 1;
            }
            i += 1;
            pairs.push((key, String::from_utf8_lossy(&value).into_owned()));
        }
    }
    if bytes.get(i) == Some(&b' ') {
        i += 1;
    }
    (pairs, i.min(text.len()))
}

/// Every `key=value` pair and `Key Name:  value` line in `text`.
pub fn pairs(text: &str) -> Vec<Pair> {
    pairs_in(text, true)
}

/// [`pairs`], looking inside quoted values once when `nested`.
fn pairs_in(text: &str, nested: bool) -> Vec<Pair> {
    let mut out = Vec::new();
    if let Some(pattern) = PAIR.as_ref() {
        for caps in pattern.captures_iter(text) {
            let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else { continue };
            let raw = value.as_str();
            let (inner, offset) = if raw.len() >= 2
                && ((raw.starts_with('"') && raw.ends_with('"'))
                    || (raw.starts_with('\'') && raw.ends_with('\'')))
            {
                (&raw[1..raw.len() - 1], 1)
            } else {
                (raw, 0)
            };
            let unescaped = inner.replace("\\\"", "\"").replace("\\\\", "\\");
            let start = value.start() + offset;
            // A quoted value holding pairs of its own (auditd's `msg='op=login acct="jdoe"'`).
            if offset == 1 && nested && inner.contains('=') {
                out.extend(
                    pairs_in(inner, false)
                        .into_iter()
                        .map(|p| Pair { span: (p.span.0 + start, p.span.1 + start), ..p }),
                );
            }
            out.push(Pair {
                key: key.as_str().to_string(),
                value: unescaped,
                span: (start, start + inner.len()),
            });
        }
    }
    if let Some(pattern) = COLON_PAIR.as_ref() {
        for caps in pattern.captures_iter(text) {
            let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else { continue };
            out.push(Pair {
                key: key.as_str().to_string(),
                value: value.as_str().to_string(),
                span: (value.start(), value.end()),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert!(patterns().iter().all(|p| p.is_some()));
    }

    #[test]
    fn rfc5424s_examples() {
        // RFC 5424 §6.5, examples 1 and 3 (the structured-data one).
        let one = "<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - BOM'su root' failed for lonvick on /dev/pts/8";
        let header = syslog(one).unwrap();
        assert_eq!(&one[header.message_start..], "BOM'su root' failed for lonvick on /dev/pts/8");
        let three = r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"] An application event"#;
        let header = syslog(three).unwrap();
        assert_eq!(header.structured.len(), 4);
        assert_eq!(header.structured[1], ("eventSource".to_string(), "Application".to_string()));
        assert_eq!(&three[header.message_start..], "An application event");
    }

    #[test]
    fn rfc3164s_example_and_kv_runs() {
        let line = "<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8";
        let header = syslog(line).unwrap();
        assert_eq!(&line[header.message_start..], "'su root' failed for lonvick on /dev/pts/8");
        let iptables =
            "kernel: IN=eth0 OUT= MAC=00:11 SRC=203.0.113.9 DST=192.0.2.10 LEN=60 PROTO=TCP SPT=4444 DPT=22";
        let found: Vec<(String, String)> = pairs(iptables).into_iter().map(|p| (p.key, p.value)).collect();
        assert!(found.contains(&("SRC".into(), "203.0.113.9".into())));
        assert!(found.contains(&("OUT".into(), String::new())));
        let quoted = r#"date=2026-12-01 srcip=198.51.100.7 user="CORP\\ann lee" action=deny"#;
        let user = pairs(quoted).into_iter().find(|p| p.key == "user").unwrap();
        assert_eq!(user.value, "CORP\\ann lee");
        assert_eq!(&quoted[user.span.0..user.span.1], r"CORP\\ann lee");
        let windows =
            "An account failed to log on.\n\tAccount Name:\t\tjdoe\n\tSource Network Address:\t203.0.113.50";
        let found: Vec<(String, String)> = pairs(windows).into_iter().map(|p| (p.key, p.value)).collect();
        assert_eq!(
            found,
            [
                ("Account Name".into(), "jdoe".into()),
                ("Source Network Address".into(), "203.0.113.50".into())
            ]
        );
    }
}
