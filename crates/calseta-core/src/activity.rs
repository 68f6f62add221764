//! Activity-log vocabulary and the redaction applied to event references before they are stored.

use serde_json::Value;

/// Keys whose values are always redacted (case-insensitive).
const SECRET_KEYS: &[&str] = &[
    "password",
    "secret",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "authorization",
    "auth_header",
    "credential",
    "private_key",
    "access_token",
    "refresh_token",
    "client_secret",
];

/// Replacement for redacted values.
pub const REDACTED: &str = "[REDACTED]";

/// Whether a string carries something that looks like a credential (v1's pattern:
/// `cai_…`, `sk-…`, `xoxb-…`, `Bearer …`, `api_key=…`). A bare 8-character key *prefix* such as
/// `cai_ab12` identifies an actor and is kept.
fn looks_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    let followed_by_token = |marker: &str| {
        lower
            .match_indices(marker)
            .any(|(at, _)| lower[at + marker.len()..].chars().next().is_some_and(|c| !c.is_whitespace()))
    };
    let is_display_prefix = text.len() == 8 && text.starts_with("cai_");
    if !is_display_prefix && followed_by_token("cai_") {
        return true;
    }
    if followed_by_token("sk-") || followed_by_token("xoxb-") {
        return true;
    }
    if lower.match_indices("bearer").any(|(at, _)| {
        let rest = &lower[at + 6..];
        let trimmed = rest.trim_start();
        trimmed.len() < rest.len() && !trimmed.is_empty()
    }) {
        return true;
    }
    ["api_key", "api-key", "apikey"].iter().any(|marker| {
        lower.match_indices(marker).any(|(at, _)| {
            let rest = lower[at + marker.len()..].trim_start_matches(['"', '\'']).trim_start();
            rest.starts_with(':') || rest.starts_with('=')
        })
    })
}

/// Redacts secret-named keys and credential-looking strings, recursively.
pub fn sanitize(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let lower = k.to_ascii_lowercase();
                    if SECRET_KEYS.contains(&lower.as_str()) {
                        (k.clone(), Value::from(REDACTED))
                    } else {
                        (k.clone(), sanitize(v))
                    }
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(sanitize).collect()),
        Value::String(s) if looks_secret(s) => Value::from(REDACTED),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn redacts_secrets_but_keeps_key_prefixes() {
        let input = json!({
            "Token": "abc", "nested": {"client_secret": "x", "note": "used Bearer eyJhbGciOi"},
            "list": ["sk-live-123", "fine", "cai_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789abcdefg"],
            "actor_key_prefix": "cai_ab12", "cfg": "api_key = 'zzz'", "title": "Brute force from TOR"
        });
        let out = sanitize(&input);
        assert_eq!(out["Token"], REDACTED);
        assert_eq!(out["nested"]["client_secret"], REDACTED);
        assert_eq!(out["nested"]["note"], REDACTED);
        assert_eq!(out["list"], json!([REDACTED, "fine", REDACTED]));
        assert_eq!(out["actor_key_prefix"], "cai_ab12");
        assert_eq!(out["cfg"], REDACTED);
        assert_eq!(out["title"], "Brute force from TOR");
    }
}
