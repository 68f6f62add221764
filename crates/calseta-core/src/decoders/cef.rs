//! CEF and LEEF records: ArcSight's Common Event Format (`CEF:0|Vendor|Product|Version|Signature
//! ID|Name|Severity|key=value …`, with `\|` and `\\` escaped in the header and `\=`, `\\`, `\n`,
//! `\r` in the extension) and QRadar's Log Event Extended Format (`LEEF:1.0|Vendor|Product|
//! Version|EventID|` then attributes separated by a tab, or in 2.0 by the delimiter the sixth
//! header field names: a character, or its code as `xHH`/`0xHH`). Either may follow a syslog
//! header or any other prefix. Parsing is one pass over the record.

use super::Decoder;

/// The longest key read in an extension (longer runs are text, not keys).
const MAX_KEY: usize = 64;

/// A parsed record: where it starts in the text, its header fields and its key/value pairs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// `Cef` or `Leef`.
    pub decoder: Decoder,
    /// Byte offset of `CEF:`/`LEEF:` in the text (what precedes it is a prefix, e.g. syslog's).
    pub start: usize,
    /// Header fields after the version, unescaped (CEF: vendor, product, version, signature id,
    /// name, severity; LEEF: vendor, product, version, event id).
    pub header: Vec<String>,
    /// The extension's or attributes' pairs in order, values unescaped.
    pub pairs: Vec<(String, String)>,
}

/// The first CEF or LEEF record in `text`.
pub fn find(text: &str) -> Option<Record> {
    let cef = find_marker(text, "CEF:");
    let leef = find_marker(text, "LEEF:");
    match (cef, leef) {
        (Some(c), Some(l)) if l < c => leef_at(text, l),
        (Some(c), _) => cef_at(text, c),
        (None, Some(l)) => leef_at(text, l),
        (None, None) => None,
    }
}

/// Where `marker` starts a record: followed by a version digit, at the start or after a space,
/// a quote or a `>` (syslog's priority, JSON strings).
fn find_marker(text: &str, marker: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(at) = text.get(from..).and_then(|t| t.find(marker)).map(|i| i + from) {
        let after = text.get(at + marker.len()..).and_then(|t| t.chars().next());
        let before = text.get(..at).and_then(|t| t.chars().next_back());
        if after.is_some_and(|c| c.is_ascii_digit())
            && before.is_none_or(|c| c.is_whitespace() || matches!(c, '"' | '\'' | '>' | ':' | ']'))
        {
            return Some(at);
        }
        from = at + marker.len();
    }
    None
}

/// Splits `text` at unescaped pipes, at most `fields` times; returns the fields and the rest.
fn header_fields(text: &str, fields: usize) -> Option<(Vec<String>, &str)> {
    let mut out = Vec::with_capacity(fields);
    let mut current = String::new();
    let mut chars = text.char_indices();
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, next @ ('|' | '\\'))) => current.push(next),
                Some((_, next)) => {
                    current.push('\\');
                    current.push(next);
                }
                None => current.push('\\'),
            },
            '|' => {
                out.push(std::mem::take(&mut current));
                if out.len() == fields {
                    let rest = chars.next().map(|(i, _)| &text[i..]).unwrap_or("");
                    return Some((out, rest));
                }
            }
            _ => current.push(c),
        }
    }
    None
}

fn cef_at(text: &str, start: usize) -> Option<Record> {
    // Version, vendor, product, version, signature id, name, severity: seven pipes.
    let (mut fields, extension) = header_fields(&text[start + 4..], 7)?;
    fields.remove(0);
    Some(Record { decoder: Decoder::Cef, start, header: fields, pairs: extension_pairs(extension) })
}

/// CEF's extension: `key=value` pairs separated by spaces, where a value runs (spaces included)
/// until the next unescaped `=` whose key follows a space.
pub fn extension_pairs(extension: &str) -> Vec<(String, String)> {
    // The byte offsets of every unescaped `=`, with the key that precedes it.
    let bytes = extension.as_bytes();
    let mut keys: Vec<(usize, usize, usize)> = Vec::new(); // (key start, '=' offset, value start)
    let mut escaped = false;
    for (i, &b) in bytes.iter().enumerate() {
        if escaped {
            escaped = false;
            continue;
        }
        match b {
            b'\\' => escaped = true,
            b'=' => {
                let mut key_start = i;
                while key_start > 0 && i - key_start < MAX_KEY {
                    let c = bytes[key_start - 1];
                    if c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'[' | b']' | b'-') {
                        key_start -= 1;
                    } else {
                        break;
                    }
                }
                let at_boundary = key_start == 0 || bytes[key_start - 1].is_ascii_whitespace();
                if key_start < i && at_boundary {
                    keys.push((key_start, i, i + 1));
                }
            }
            _ => {}
        }
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, &(key_start, eq, value_start)) in keys.iter().enumerate() {
        let value_end = keys.get(n + 1).map(|&(next, _, _)| next).unwrap_or(extension.len());
        let key = extension.get(key_start..eq).unwrap_or_default();
        let value = extension.get(value_start..value_end).unwrap_or_default();
        pairs.push((key.to_string(), unescape_value(value.trim_end())));
    }
    pairs
}

/// `\=`, `\\`, `\n`, `\r` in an extension value.
fn unescape_value(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(next @ ('=' | '\\' | '|')) => out.push(next),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// LEEF 2.0's delimiter field: one character, or its code (`x5E`, `0x09`, `^`).
fn leef_delimiter(field: &str) -> Option<char> {
    let hex =
        field.strip_prefix("0x").or_else(|| field.strip_prefix("x")).or_else(|| field.strip_prefix("0X"));
    match hex {
        Some(code) if !code.is_empty() && code.len() <= 4 => {
            u32::from_str_radix(code, 16).ok().and_then(char::from_u32)
        }
        _ => {
            let mut chars = field.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => Some(c),
                _ => None,
            }
        }
    }
}

fn leef_at(text: &str, start: usize) -> Option<Record> {
    let body = &text[start + 5..];
    let version_two = body.starts_with("2.");
    // 1.0: version, vendor, product, version, event id; 2.0 adds the delimiter.
    let (mut fields, attributes) = header_fields(body, if version_two { 6 } else { 5 })?;
    fields.remove(0);
    let mut attributes = attributes;
    let delimiter = if version_two {
        let field = fields.pop().unwrap_or_default();
        match (field.is_empty(), attributes.strip_prefix('|')) {
            // `EventID|||attrs`: the delimiter is the pipe itself.
            (true, Some(rest)) => {
                attributes = rest;
                Some('|')
            }
            (true, None) => Some('\t'),
            (false, _) => leef_delimiter(&field),
        }
    } else {
        Some('\t')
    };
    let delimiter = delimiter?;
    let pairs = if attributes.contains(delimiter) {
        attributes
            .split(delimiter)
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .filter(|(k, _)| !k.is_empty() && k.len() <= MAX_KEY)
            .collect()
    } else {
        // Some senders separate LEEF 1.0 attributes with spaces, as CEF does.
        extension_pairs(attributes)
    };
    Some(Record { decoder: Decoder::Leef, start, header: fields, pairs })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(record: &Record) -> Vec<(&str, &str)> {
        record.pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
    }

    #[test]
    fn the_cef_guides_example_with_escapes() {
        // The shape of the CEF standard's examples: a pipe in the header, an equals sign and a
        // backslash in extension values, and a value with spaces.
        let text = r"Sep 19 08:26:10 host CEF:0|Security|threatmanager|1.0|100|detected a \| in message|10|src=10.0.0.1 act=blocked a \= dst=1.1.1.1 suser=CORP\\jdoe msg=Detected a threat. No action needed.";
        let record = find(text).unwrap();
        assert_eq!(record.decoder, Decoder::Cef);
        assert_eq!(record.header[4], "detected a | in message");
        assert_eq!(
            pairs(&record),
            [
                ("src", "10.0.0.1"),
                ("act", "blocked a ="),
                ("dst", "1.1.1.1"),
                ("suser", "CORP\\jdoe"),
                ("msg", "Detected a threat. No action needed.")
            ]
        );
        assert_eq!(&text[..record.start], "Sep 19 08:26:10 host ");
    }

    #[test]
    fn leef_one_and_two_with_their_delimiters() {
        let one = "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tusrName=joe.black";
        let record = find(one).unwrap();
        assert_eq!(record.decoder, Decoder::Leef);
        assert_eq!(record.header, ["Microsoft", "MSExchange", "4.0 SP1", "15345"]);
        assert!(pairs(&record).contains(&("usrName", "joe.black")));
        let two =
            "LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81^usrName=joe";
        let record = find(two).unwrap();
        assert_eq!(pairs(&record)[4], ("usrName", "joe"));
        let hex = "LEEF:2.0|Vendor|Product|1.0|ID|x5E|src=198.51.100.2^usrName=ann";
        assert_eq!(pairs(&find(hex).unwrap()), [("src", "198.51.100.2"), ("usrName", "ann")]);
    }

    #[test]
    fn not_records() {
        assert_eq!(find("the CEF: format is described elsewhere"), None);
        assert_eq!(find("XCEF:0|a|b"), None);
        assert_eq!(find("CEF:0|only|three"), None, "an unterminated header");
    }
}
