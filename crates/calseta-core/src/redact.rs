//! Redaction of secrets that URLs carry in free text: an error message may quote a URL whose
//! query string (`?api_key=…`) or userinfo (`user:password@`) holds a credential, and error text
//! is stored, served to agents and logged.

/// `text` with every `http://`/`https://` URL cut to its scheme, host, port and path: userinfo,
/// query string and fragment removed.
pub fn strip_url_secrets(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = find_scheme(rest) {
        out.push_str(&rest[..start]);
        let url = &rest[start..];
        let end = url
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(url.len());
        out.push_str(&clean(&url[..end]));
        rest = &url[end..];
    }
    out.push_str(rest);
    out
}

/// Where the next `http://` or `https://` starts, in any letter case.
fn find_scheme(text: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    [lower.find("http://"), lower.find("https://")].into_iter().flatten().min()
}

/// One URL without userinfo, query and fragment (a closing parenthesis or punctuation that ended
/// the sentence is kept).
fn clean(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let (scheme, after) = url.split_at(scheme_end);
    let authority_end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(authority_end);
    let host = authority.rsplit_once('@').map_or(authority, |(_, host)| host);
    let path_end = tail.find(['?', '#']).unwrap_or(tail.len());
    let (path, removed) = tail.split_at(path_end);
    // Keep what follows the URL in the sentence, e.g. "(http://x/?k=v)" keeps its ")".
    let trailer: String =
        removed.chars().rev().take_while(|c| matches!(c, ')' | ']' | ',' | ';' | '.')).collect();
    format!("{scheme}{host}{path}{}", trailer.chars().rev().collect::<String>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_userinfo_and_fragment_are_removed_from_every_url() {
        assert_eq!(
            strip_url_secrets(
                "error sending request for url (https://api.example/v1/ip/1.2.3.4?key=s3cr3t&x=1)"
            ),
            "error sending request for url (https://api.example/v1/ip/1.2.3.4)"
        );
        assert_eq!(
            strip_url_secrets("HTTP://user:pa55@hooks.example:8443/a#frag and http://b.example?token=t"),
            "HTTP://hooks.example:8443/a and http://b.example"
        );
        assert_eq!(strip_url_secrets("no url here: 1.2.3.4?x"), "no url here: 1.2.3.4?x");
        assert_eq!(strip_url_secrets("\"https://x.example/p?q=1\""), "\"https://x.example/p\"");
        assert_eq!(strip_url_secrets("ends with https://x.example/?k=v."), "ends with https://x.example/.");
    }
}
