//! URL-defence wrappers: mail gateways rewrite each link to pass through their own service, and
//! the real URL rides inside. Unwrapped here: Microsoft Safe Links (`*.safelinks.protection.
//! outlook.com/?url=`), Proofpoint URL Defense v1 (`urldefense.proofpoint.com/v1/url?u=`), v2
//! (`…/v2/url?u=`, `-` for `%` and `_` for `/`) and v3 (`urldefense.com/v3/__URL__;B64!!…`, with
//! the characters replaced by `*` carried in base64 after `__;`), Cisco Secure Email
//! (`secure-web.cisco.com/<token>/<encoded URL>`), Barracuda (`linkprotect.cudasvc.com/url?a=`),
//! Trend Micro (`…/wis/clicktime/v1/query?url=`), Google's redirects (`google.*/url?q=`) and
//! Mimecast (`protect-*.mimecast.com/s/…?domain=`, which keeps only the domain). A wrapper inside
//! a wrapper is unwrapped once more.

use base64::Engine as _;
use percent_encoding::percent_decode_str;

/// What a wrapper hid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unwrapped {
    /// The real URL.
    Url(String),
    /// Only the real URL's domain (Mimecast keeps no more).
    Domain(String),
    /// A wrapper whose target cannot be recovered (an empty `url=`, a bare token): neither it nor
    /// anything else is reported.
    Nothing,
}

/// How many wrappers deep a URL is unwrapped.
const MAX_LAYERS: usize = 2;

/// The URL or domain `url` wraps, or `None` when it is no wrapper.
pub fn unwrap(url: &str) -> Option<Unwrapped> {
    let mut current = unwrap_once(url)?;
    for _ in 1..MAX_LAYERS {
        match &current {
            Unwrapped::Url(inner) => match unwrap_once(inner) {
                Some(next) => current = next,
                None => break,
            },
            Unwrapped::Domain(_) | Unwrapped::Nothing => break,
        }
    }
    Some(current)
}

/// `scheme://host/path?query` → (lower-cased host, path, query).
fn parts(url: &str) -> Option<(String, &str, &str)> {
    let rest = url.split_once("://")?.1;
    let (authority, path_query) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    let host = authority.rsplit('@').next()?.split(':').next()?.to_ascii_lowercase();
    let (path, query) = path_query.split_once('?').unwrap_or((path_query, ""));
    Some((host, path, query))
}

/// The first value of `name` in a query string, percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        (key.eq_ignore_ascii_case(name)).then(|| decode(value))
    })
}

fn decode(value: &str) -> String {
    percent_decode_str(&value.replace('+', " ")).decode_utf8_lossy().into_owned()
}

/// The wrapped URL when it is one (http, https or ftp); a wrapper hiding anything else hides
/// nothing worth reporting.
fn url_if_real(candidate: Option<String>) -> Unwrapped {
    match candidate {
        Some(url)
            if ["http://", "https://", "ftp://"].iter().any(|s| url.to_ascii_lowercase().starts_with(s)) =>
        {
            Unwrapped::Url(url)
        }
        _ => Unwrapped::Nothing,
    }
}

fn unwrap_once(url: &str) -> Option<Unwrapped> {
    let (host, path, query) = parts(url)?;
    let wrapped = wrapped_target(url, &host, path, query)?;
    Some(wrapped)
}

/// `None` when `url` is no wrapper; otherwise what it wraps.
fn wrapped_target(url: &str, host: &str, path: &str, query: &str) -> Option<Unwrapped> {
    // Commercial, GCC (`office365.us`) and sovereign clouds' Safe Links hosts.
    if host.contains(".safelinks.protection.") {
        return Some(url_if_real(query_param(query, "url")));
    }
    if host == "urldefense.proofpoint.com" || host == "urldefense.com" {
        if let Some(v3) = url.split_once("/v3/__").map(|(_, rest)| rest) {
            return Some(url_if_real(proofpoint_v3(v3)));
        }
        if path.starts_with("/v2/url") {
            let restored = query_param_raw(query, "u").map(|u| u.replace('-', "%").replace('_', "/"));
            return Some(url_if_real(
                restored.map(|r| percent_decode_str(&r).decode_utf8_lossy().into_owned()),
            ));
        }
        if path.starts_with("/v1/url") {
            return Some(url_if_real(query_param(query, "u")));
        }
        return Some(Unwrapped::Nothing);
    }
    if host == "secure-web.cisco.com" {
        // `/<token>/<percent-encoded URL>`: the URL is everything after the token.
        let target = path.trim_start_matches('/').split_once('/').map(|(_, after_token)| {
            let full =
                if query.is_empty() { after_token.to_string() } else { format!("{after_token}?{query}") };
            percent_decode_str(&full).decode_utf8_lossy().into_owned()
        });
        return Some(url_if_real(target));
    }
    if host == "linkprotect.cudasvc.com" {
        return Some(url_if_real(query_param(query, "a")));
    }
    if path.contains("/wis/clicktime/") && host.ends_with("trendmicro.com") {
        return Some(url_if_real(query_param(query, "url")));
    }
    let google = host == "google.com"
        || host.strip_prefix("www.").is_some_and(|h| h.starts_with("google."))
        || host.starts_with("google.");
    if google && path == "/url" {
        let target = ["q", "url"].iter().filter_map(|name| query_param(query, name)).find(|v| !v.is_empty());
        return Some(url_if_real(target));
    }
    if (host.ends_with(".mimecast.com") && host.starts_with("protect"))
        || host.ends_with("mimecastprotect.com")
    {
        return Some(match query_param(query, "domain").filter(|d| !d.is_empty()) {
            Some(domain) => Unwrapped::Domain(domain),
            None => Unwrapped::Nothing,
        });
    }
    None
}

/// A query value as written (Proofpoint v2 encodes with `-` and `_`, not `%`).
fn query_param_raw<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=')?;
        key.eq_ignore_ascii_case(name).then_some(value)
    })
}

/// Proofpoint v3: `URL__;B64!!…`. In the URL, `*` stands for the next replaced character and
/// `**X` for a run of them (X counts from 2: `A`=2 … `Z`=27, `a`=28 … `z`=53, `0`=54 … `9`=63,
/// `-`=64, `_`=65); the replaced characters are the URL-safe base64 after `__;`.
fn proofpoint_v3(rest: &str) -> Option<String> {
    let (embedded, after) = rest.split_once("__;")?;
    let encoded = after.split('!').next().unwrap_or_default();
    let replaced: Vec<char> = if encoded.is_empty() {
        Vec::new()
    } else {
        let bytes =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(encoded.trim_end_matches('=')).ok()?;
        String::from_utf8(bytes).ok()?.chars().collect()
    };
    let embedded = percent_decode_str(embedded).decode_utf8_lossy().into_owned();
    let mut out = String::with_capacity(embedded.len());
    let mut next = replaced.iter();
    let mut chars = embedded.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '*' {
            out.push(c);
            continue;
        }
        if chars.peek() == Some(&'*') {
            chars.next();
            let run = chars.next().and_then(run_length)?;
            for _ in 0..run {
                out.push(*next.next()?);
            }
        } else {
            out.push(*next.next()?);
        }
    }
    Some(out)
}

fn run_length(marker: char) -> Option<usize> {
    const RUNS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    RUNS.find(marker).map(|i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Option<Unwrapped> {
        Some(Unwrapped::Url(text.to_string()))
    }

    #[test]
    fn safe_links_and_proofpoint_v2() {
        assert_eq!(
            unwrap(
                "https://nam02.safelinks.protection.outlook.com/?url=https%3A%2F%2Fevil.example%2Flogin%3Fa%3D1&data=05%7C01&sdata=x&reserved=0"
            ),
            url("https://evil.example/login?a=1")
        );
        assert_eq!(
            unwrap(
                "https://urldefense.proofpoint.com/v2/url?u=http-3A__www.example.com_path_page.html&d=DwMF&c=abc&r=def&m=ghi&s=jkl&e="
            ),
            url("http://www.example.com/path/page.html")
        );
    }

    #[test]
    fn proofpoint_v3_restores_the_replaced_characters() {
        // `?` and `=` replaced: the base64 of "?=" is "Pz0".
        assert_eq!(
            unwrap("https://urldefense.com/v3/__https://evil.example/a*b*c__;Pz0!!ABC!def$"),
            url("https://evil.example/a?b=c")
        );
        // A run: `**A` is two characters.
        assert_eq!(
            unwrap("https://urldefense.com/v3/__https://evil.example/x**A__;Pz0!!t$"),
            url("https://evil.example/x?=")
        );
        assert_eq!(
            unwrap("https://urldefense.com/v3/__https://evil.example/plain__;!!t$"),
            url("https://evil.example/plain")
        );
        // More `*` than replaced characters: not trusted.
        assert_eq!(
            unwrap("https://urldefense.com/v3/__https://e.example/***__;Pz0!!t$"),
            Some(Unwrapped::Nothing)
        );
    }

    #[test]
    fn other_gateways_and_nesting() {
        assert_eq!(
            unwrap("https://secure-web.cisco.com/1AbCdEf/https%3A%2F%2Fevil.example%2Fdrop.zip"),
            url("https://evil.example/drop.zip")
        );
        assert_eq!(
            unwrap("https://linkprotect.cudasvc.com/url?a=http%3a%2f%2fevil.example%2fpay&c=E,1,x&typo=1"),
            url("http://evil.example/pay")
        );
        assert_eq!(
            unwrap("https://www.google.com/url?q=https://evil.example/&sa=D"),
            url("https://evil.example/")
        );
        assert_eq!(
            unwrap("https://protect-eu.mimecast.com/s/AbCdEfGh?domain=evil.example"),
            Some(Unwrapped::Domain("evil.example".into()))
        );
        let inner = "https%3A%2F%2Furldefense.com%2Fv3%2F__https%3A%2F%2Fevil.example%2Fa__%3B%21%21x%24";
        assert_eq!(
            unwrap(&format!("https://eur01.safelinks.protection.outlook.com/?url={inner}&data=1")),
            url("https://evil.example/a")
        );
        assert_eq!(unwrap("https://www.example.com/url?q=https://evil.example/"), None);
        assert_eq!(
            unwrap("https://nam02.safelinks.protection.outlook.com/?url=javascript%3Aalert(1)"),
            Some(Unwrapped::Nothing)
        );
        assert_eq!(unwrap("https://nam02.safelinks.protection.outlook.com/"), Some(Unwrapped::Nothing));
        assert_eq!(unwrap("https://protect-us.mimecast.com/s/Jb?domain="), Some(Unwrapped::Nothing));
    }
}
