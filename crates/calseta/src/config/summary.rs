//! What the configuration summary shows of each setting: plain values as they are, secrets only as
//! set or not, URLs with their credentials masked.

use std::fmt;

/// What a masked secret shows.
pub(super) const MASKED: &str = "•••••• (set, masked)";
/// What an unset secret shows.
pub(super) const UNSET: &str = "not set";

/// The configuration summary being built (see [`super::Config::summary`]).
#[derive(Default)]
pub(super) struct Summary(pub(super) Vec<calseta_console::ConfigEntry>);

impl Summary {
    pub(super) fn plain(&mut self, name: &str, value: impl fmt::Display) {
        self.0.push(calseta_console::ConfigEntry {
            name: name.into(),
            value: value.to_string(),
            secret: false,
        });
    }

    /// A secret: only whether it is set.
    pub(super) fn secret(&mut self, name: &str, set: bool) {
        let value = if set { MASKED } else { UNSET };
        self.0.push(calseta_console::ConfigEntry { name: name.into(), value: value.into(), secret: true });
    }

    /// A URL with its credentials masked (see [`mask_url`]).
    pub(super) fn url(&mut self, name: &str, url: &str, keep_user: bool) {
        let (value, masked) = mask_url(url, keep_user);
        self.0.push(calseta_console::ConfigEntry { name: name.into(), value, secret: masked });
    }
}

/// Query parameters whose values are credentials (`?password=…`, `sslkey`, `access_token`,
/// `sig`…), by a part of their name.
const CREDENTIAL_PARAMS: [&str; 7] = ["pass", "secret", "token", "key", "sig", "auth", "cred"];

/// `url` with its password masked (`postgres://user:••••••@host/db`; a user name alone is kept
/// when `keep_user`, masked otherwise, since `https://TOKEN@host` is a credential), and the values
/// of credential-like query parameters masked; whether anything was masked. Everything before the
/// last `@` counts as credentials, so a password with an unencoded `/`, `?` or `@` is masked
/// whole (masking too much is safe, too little is not). Text that is not a URL is masked whole
/// unless it holds no `@` and no query (a path, a plain value).
pub(super) fn mask_url(url: &str, keep_user: bool) -> (String, bool) {
    const HIDDEN: &str = "••••••";
    let Some(scheme_end) = url.find("://") else {
        return if url.contains('@') || url.contains('?') {
            (HIDDEN.into(), true)
        } else {
            (url.into(), false)
        };
    };
    let start = scheme_end + 3;
    let rest = &url[start..];
    let mut masked = false;
    let mut out = url[..start].to_string();
    let host_and_on = match rest.rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let plain_user = |user: &str| !user.contains(['/', '?', '#']);
            match userinfo.split_once(':') {
                Some((user, _)) if plain_user(user) => out.push_str(&format!("{user}:{HIDDEN}")),
                None if keep_user && plain_user(userinfo) => out.push_str(userinfo),
                _ => out.push_str(HIDDEN),
            }
            masked = out.contains(HIDDEN);
            out.push('@');
            &rest[at + 1..]
        }
        None => rest,
    };
    let (before_fragment, fragment) = match host_and_on.find('#') {
        Some(at) => (&host_and_on[..at], &host_and_on[at..]),
        None => (host_and_on, ""),
    };
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            let pairs: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _))
                        if CREDENTIAL_PARAMS.iter().any(|c| key.to_ascii_lowercase().contains(c)) =>
                    {
                        masked = true;
                        format!("{key}={HIDDEN}")
                    }
                    _ => pair.to_string(),
                })
                .collect();
            out.push_str(&pairs.join("&"));
        }
        None => out.push_str(before_fragment),
    }
    if !fragment.is_empty() {
        // A fragment never reaches a server; it is shown masked rather than guessed about.
        out.push('#');
        out.push_str(HIDDEN);
        masked = true;
    }
    (out, masked)
}
