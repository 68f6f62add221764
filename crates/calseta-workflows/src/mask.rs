//! Masking of secret values in what a run records or returns: the value itself and its common
//! encodings (base64 in either alphabet at any alignment, hex, URL encoding). Masking is the last
//! line: the grants decide which workflow may read a secret at all; this keeps one that may from
//! writing it into logs, results and messages that keys without `admin` can read.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::Value;

/// What a masked value is replaced with.
pub const MASK: &str = "***";

/// The shortest encoded form that is masked: shorter runs of base64 or hex occur by chance.
const MIN_ENCODED_CHARS: usize = 4;

/// The secrets of one run and every form of them to look for.
#[derive(Debug, Clone, Default)]
pub struct SecretMask {
    needles: Vec<String>,
}

/// The characters of base64 that encode only `len` bytes placed after `offset` other bytes: the
/// ones that stand in every encoding of a text holding the secret at that alignment.
fn base64_core(engine: &impl Engine, secret: &[u8], offset: usize) -> Option<String> {
    let mut bytes = vec![0u8; offset];
    bytes.extend_from_slice(secret);
    let encoded = engine.encode(&bytes);
    let first = (offset * 8).div_ceil(6);
    let end = ((offset + secret.len()) * 8) / 6;
    (end >= first + MIN_ENCODED_CHARS).then(|| encoded[first..end].to_string())
}

/// The characters URL encoders commonly leave alone besides letters and digits: none (every
/// other byte escaped), RFC 3986's unreserved marks, those and `/` (Python's `quote`), and
/// JavaScript's `encodeURIComponent` marks.
const URL_SAFE_SETS: [&[u8]; 4] = [b"", b"-._~", b"-._~/", b"-._~!'()*"];

/// The secret as URL encoders write it: each safe set, with upper- or lower-case hex, and a space
/// as `%20` or `+` (forms).
fn url_encodings(bytes: &[u8]) -> Vec<String> {
    let mut forms = Vec::new();
    for safe in URL_SAFE_SETS {
        let mut upper = String::new();
        for &b in bytes {
            if b.is_ascii_alphanumeric() || safe.contains(&b) {
                upper.push(char::from(b));
            } else {
                upper.push_str(&format!("%{b:02X}"));
            }
        }
        let lower = lower_hex_escapes(&upper);
        for form in [upper, lower] {
            forms.push(form.replace("%20", "+"));
            forms.push(form);
        }
    }
    forms
}

/// `%2B` → `%2b`: the same escapes with lower-case hex digits.
fn lower_hex_escapes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('%') {
        out.push_str(&rest[..at]);
        let escape = rest.get(at..at + 3).unwrap_or(&rest[at..]);
        out.push_str(&escape.to_ascii_lowercase());
        rest = &rest[at + escape.len()..];
    }
    out.push_str(rest);
    out
}

impl SecretMask {
    /// A mask for `secrets` (empty values are ignored).
    pub fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> SecretMask {
        let mut needles = Vec::new();
        for secret in secrets.into_iter().filter(|s| !s.is_empty()) {
            let bytes = secret.as_bytes();
            needles.push(secret.to_string());
            let mut encoded = vec![hex::encode(bytes), hex::encode_upper(bytes)];
            encoded.extend(url_encodings(bytes));
            for offset in 0..3 {
                encoded.extend(base64_core(&STANDARD_NO_PAD, bytes, offset));
                encoded.extend(base64_core(&URL_SAFE_NO_PAD, bytes, offset));
            }
            needles.extend(encoded.into_iter().filter(|n| n.len() >= MIN_ENCODED_CHARS && n != secret));
        }
        // The longest first, so that a form containing another is masked whole.
        needles.sort_by_key(|n| std::cmp::Reverse(n.len()));
        needles.dedup();
        SecretMask { needles }
    }

    /// Whether there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.needles.is_empty()
    }

    /// `text` with every secret form replaced by [`MASK`].
    pub fn text(&self, text: &str) -> String {
        let mut masked = text.to_string();
        for needle in &self.needles {
            if masked.contains(needle.as_str()) {
                masked = masked.replace(needle.as_str(), MASK);
            }
        }
        masked
    }

    /// Masks every string in `value`, object keys included, and every number that is a secret
    /// written as a number.
    pub fn value(&self, value: &mut Value) {
        if self.is_empty() {
            return;
        }
        match value {
            Value::String(s) => *s = self.text(s),
            Value::Number(n) => {
                let text = n.to_string();
                if self.text(&text) != text {
                    *value = Value::String(MASK.to_string());
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.value(v)),
            Value::Object(map) => {
                let entries = std::mem::take(map);
                for (key, mut v) in entries {
                    self.value(&mut v);
                    map.insert(self.text(&key), v);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "tok-3f9a/+?&=XYZ";

    #[test]
    fn every_encoding_of_a_secret_is_masked_wherever_it_stands() {
        let mask = SecretMask::new([SECRET]);
        let b64 = base64::engine::general_purpose::STANDARD;
        let b64url = base64::engine::general_purpose::URL_SAFE;
        let mut texts = vec![
            format!("raw {SECRET} end"),
            hex::encode(SECRET),
            hex::encode_upper(SECRET),
            form_urlencoded::byte_serialize(SECRET.as_bytes()).collect(),
            percent_encoding::percent_encode(SECRET.as_bytes(), percent_encoding::NON_ALPHANUMERIC)
                .to_string(),
            // Python's `quote` (`/` and `-._~` kept) and lower-case escapes.
            "tok-3f9a/%2B%3F%26%3DXYZ".to_string(),
            "tok-3f9a%2f%2b%3f%26%3dXYZ".to_string(),
        ];
        // base64 of the secret behind 0, 1 and 2 other bytes, in both alphabets.
        for prefix in ["", "a", "ab", "Authorization: "] {
            texts.push(b64.encode(format!("{prefix}{SECRET}")));
            texts.push(b64url.encode(format!("{prefix}{SECRET}!")));
        }
        for text in texts {
            let masked = mask.text(&text);
            assert!(masked.contains(MASK), "{text} -> {masked}");
            // No form of the secret survives.
            for needle in &mask.needles {
                assert!(!masked.contains(needle.as_str()), "{text} -> {masked}");
            }
        }
    }

    #[test]
    fn values_are_masked_in_strings_and_keys_but_other_text_is_kept() {
        let mask = SecretMask::new(["hunter22", ""]);
        let mut value = serde_json::json!({"a": ["x hunter22 y", 1], "hunter22": {"k": "plain"}});
        mask.value(&mut value);
        assert_eq!(value, serde_json::json!({"a": ["x *** y", 1], "***": {"k": "plain"}}));
        assert!(SecretMask::new([""]).is_empty());
        let mut number = serde_json::json!({"pin": 48213377, "other": 7});
        SecretMask::new(["48213377"]).value(&mut number);
        assert_eq!(number, serde_json::json!({"pin": "***", "other": 7}));
        assert_eq!(mask.text("nothing secret here"), "nothing secret here");
    }
}
