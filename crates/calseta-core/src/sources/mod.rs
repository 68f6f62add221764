//! Alert sources: each SIEM's payload validation, normalization to the one alert schema, pass-1
//! indicator extraction, detection-rule reference and webhook signature scheme. Adding a source
//! is one file implementing [`AlertSource`] plus a line in [`registry`].

mod elastic;
mod generic;
mod sentinel;
mod splunk;

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::alerts::Severity;
use crate::indicators::IndicatorType;
use crate::paths;

pub use elastic::Elastic;
pub use generic::Generic;
pub use sentinel::Sentinel;
pub use splunk::Splunk;

/// An alert in Calseta's schema, the same whatever the source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NormalizedAlert {
    /// Headline.
    pub title: String,
    /// Mapped severity.
    pub severity: Severity,
    /// When the activity happened (UTC).
    pub occurred_at: DateTime<Utc>,
    /// The source's name.
    pub source_name: String,
    /// Longer text, when the source has one.
    pub description: Option<String>,
    /// Labels.
    pub tags: Vec<String>,
    /// Pass-2 fields (`src_ip`, `dst_ip`, `actor_email`, …) a source may fill; the builtin sources
    /// leave them empty, as in v1.
    #[serde(flatten)]
    pub fields: BTreeMap<String, String>,
    /// Source-specific extras.
    pub extra: serde_json::Map<String, Value>,
}

/// A value found by a pass, before normalization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawIndicator {
    /// Indicator type.
    #[serde(rename = "type")]
    pub kind: IndicatorType,
    /// The value as found.
    pub value: String,
    /// Where it was found (e.g. `source.ip`).
    pub source_field: String,
    /// The decoder that revealed it inside an encoded field (`json` for Sentinel's `Entities`
    /// string), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoder: Option<crate::decoders::Decoder>,
}

/// A pass-1 field a source extracts, for `source-plugin-fields`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentedField {
    /// Path in the source payload.
    pub field_path: &'static str,
    /// Type it yields.
    pub indicator_type: IndicatorType,
    /// What it is.
    pub description: &'static str,
}

/// How a source's webhooks are authenticated (in addition to the API key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    /// No signature.
    None,
    /// Hex HMAC-SHA256 of the body (optionally `sha256=`-prefixed) in `header`.
    HmacSha256 {
        /// Header carrying the signature.
        header: &'static str,
    },
    /// A shared token compared verbatim.
    SharedToken {
        /// Header carrying the token.
        header: &'static str,
    },
}

/// Header a sender may add to bind the HMAC to a time and get replay protection.
pub const TIMESTAMP_HEADER: &str = "x-calseta-timestamp";
/// Accepted clock difference for [`TIMESTAMP_HEADER`].
pub const TIMESTAMP_TOLERANCE_SECONDS: i64 = 300;

/// Why a webhook signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureError {
    /// The signature header is absent.
    Missing,
    /// The signature does not match.
    Mismatch,
    /// `X-Calseta-Timestamp` is not a Unix time or is outside ±5 minutes.
    StaleOrInvalidTimestamp,
}

impl SignatureError {
    /// A message for the client.
    pub fn message(self) -> &'static str {
        match self {
            SignatureError::Missing => "Webhook signature header is missing.",
            SignatureError::Mismatch => "Webhook signature verification failed.",
            SignatureError::StaleOrInvalidTimestamp => {
                "X-Calseta-Timestamp is invalid or more than 5 minutes from the server's clock."
            }
        }
    }
}

/// Verifies a webhook under `scheme` with `secret`; `header` looks a header up case-insensitively.
///
/// With [`TIMESTAMP_HEADER`] present the HMAC covers `"<timestamp>.<body>"` and the timestamp must
/// be within ±5 minutes of `now`, so a captured request cannot be replayed later.
pub fn verify_signature(
    scheme: SignatureScheme,
    secret: &str,
    header: &dyn Fn(&str) -> Option<String>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<(), SignatureError> {
    match scheme {
        SignatureScheme::None => Ok(()),
        SignatureScheme::SharedToken { header: name } => {
            let given = header(name).ok_or(SignatureError::Missing)?;
            if bool::from(given.trim().as_bytes().ct_eq(secret.as_bytes())) {
                Ok(())
            } else {
                Err(SignatureError::Mismatch)
            }
        }
        SignatureScheme::HmacSha256 { header: name } => {
            let given = header(name).ok_or(SignatureError::Missing)?;
            let given = given.trim();
            let hex_sig = given.strip_prefix("sha256=").unwrap_or(given).to_ascii_lowercase();
            let expected = hex::decode(&hex_sig).map_err(|_| SignatureError::Mismatch)?;
            let mut mac =
                Hmac::<Sha256>::new_from_slice(secret.as_bytes()).map_err(|_| SignatureError::Mismatch)?;
            if let Some(stamp) = header(TIMESTAMP_HEADER) {
                let seconds: i64 =
                    stamp.trim().parse().map_err(|_| SignatureError::StaleOrInvalidTimestamp)?;
                if (now.timestamp() - seconds).abs() > TIMESTAMP_TOLERANCE_SECONDS {
                    return Err(SignatureError::StaleOrInvalidTimestamp);
                }
                mac.update(stamp.trim().as_bytes());
                mac.update(b".");
            }
            mac.update(body);
            mac.verify_slice(&expected).map_err(|_| SignatureError::Mismatch)
        }
    }
}

/// Hex HMAC-SHA256 of `message` (what a sender puts in the signature header).
pub fn hmac_sha256_hex(secret: &str, message: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(mut mac) => {
            mac.update(message);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// One SIEM's alert format.
pub trait AlertSource: Send + Sync {
    /// Route name, e.g. `sentinel`.
    fn name(&self) -> &'static str;
    /// Display name, e.g. `Microsoft Sentinel`.
    fn display_name(&self) -> &'static str;
    /// Whether the payload has this source's shape (never panics).
    fn validate(&self, raw: &Value) -> bool;
    /// Maps to the alert schema; total on validated payloads (falls back to defaults).
    fn normalize(&self, raw: &Value, now: DateTime<Utc>) -> NormalizedAlert;
    /// Pass 1: the indicators this source knows where to find.
    fn extract(&self, raw: &Value) -> Vec<RawIndicator>;
    /// The detection-rule id the alert came from.
    fn rule_ref(&self, _raw: &Value) -> Option<String> {
        None
    }
    /// How webhooks are signed.
    fn signature(&self) -> SignatureScheme {
        SignatureScheme::None
    }
    /// The fields pass 1 reads.
    fn documented_extractions(&self) -> Vec<DocumentedField>;
    /// Pass 4: the free-text fields of the payload (description, reason, message, command
    /// lines), each as (field, text), scanned for indicators written in them.
    fn free_text(&self, raw: &Value) -> Vec<(String, String)>;
    /// The free-text fields pass 4 reads (a `free_text` mapping of one of them adds nothing: it is
    /// scanned for every type already).
    fn documented_free_text(&self) -> Vec<&'static str>;
}

/// How the value of a source field is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FieldKind {
    /// Always this type.
    Is(IndicatorType),
    /// Typed by the value (`related.hash` by its length, `dest` as an IP or a host), among these.
    Infer(&'static [IndicatorType]),
    /// A host name: an IP when it is one, a domain when it is a fully qualified name with a
    /// public suffix (a bare `WORKSTATION-01` is not an indicator).
    Host,
}

impl FieldKind {
    /// The types the field can yield (for the documentation).
    pub(crate) fn types(self) -> Vec<IndicatorType> {
        match self {
            FieldKind::Is(kind) => vec![kind],
            FieldKind::Infer(kinds) => kinds.to_vec(),
            FieldKind::Host => vec![IndicatorType::Domain, IndicatorType::Ip],
        }
    }

    /// The type of one value of the field, if it has one.
    pub(crate) fn type_of(self, value: &str) -> Option<IndicatorType> {
        match self {
            FieldKind::Is(kind) => Some(kind),
            FieldKind::Infer(kinds) => crate::indicators::infer(value).filter(|k| kinds.contains(k)),
            FieldKind::Host => match crate::indicators::infer(value)? {
                IndicatorType::Ip => Some(IndicatorType::Ip),
                IndicatorType::Domain => Some(IndicatorType::Domain),
                _ => None,
            },
        }
    }
}

/// All hash types (a field whose hash type is told by its length).
pub(crate) const HASHES: &[IndicatorType] =
    &[IndicatorType::HashMd5, IndicatorType::HashSha1, IndicatorType::HashSha256];

/// Pushes one raw indicator per string (or string in a list) at `path`, typed by `kind`.
pub(crate) fn push_field(out: &mut Vec<RawIndicator>, raw: &Value, path: &str, kind: FieldKind, label: &str) {
    for value in strings_at(raw, path, true) {
        if let Some(kind) = kind.type_of(&value) {
            out.push(RawIndicator { kind, value, source_field: label.to_string(), decoder: None });
        }
    }
}

/// The documented rows of a table of (path, kind) fields.
pub(crate) fn document(
    fields: &[(&'static str, FieldKind)],
    description: &'static str,
) -> Vec<DocumentedField> {
    fields
        .iter()
        .flat_map(|(path, kind)| {
            kind.types().into_iter().map(move |t| DocumentedField {
                field_path: path,
                indicator_type: t,
                description,
            })
        })
        .collect()
}

/// The non-blank texts at each of `paths` (lists of strings included), labelled by path.
pub(crate) fn texts_at(raw: &Value, paths: &[&str]) -> Vec<(String, String)> {
    paths.iter().flat_map(|p| strings_at(raw, p, true).into_iter().map(move |t| (p.to_string(), t))).collect()
}

/// Every registered source.
pub fn registry() -> [&'static dyn AlertSource; 4] {
    [&Sentinel, &Elastic, &Splunk, &Generic]
}

/// A source by route name.
pub fn find(name: &str) -> Option<&'static dyn AlertSource> {
    registry().into_iter().find(|s| s.name() == name)
}

// Helpers shared by the sources.

/// A timestamp at `path`: ISO text, epoch seconds or milliseconds (text or number).
pub(crate) fn timestamp_at(raw: &Value, path: &str) -> Option<DateTime<Utc>> {
    paths::resolve_all(raw, path).into_iter().find_map(|v| match v {
        Value::String(s) => crate::time::parse_timestamp(s),
        Value::Number(n) => n.as_f64().and_then(crate::time::from_epoch),
        _ => None,
    })
}

/// Non-blank strings at `path`; with `lists`, strings inside a list there too.
pub(crate) fn strings_at(raw: &Value, path: &str, lists: bool) -> Vec<String> {
    let mut out = Vec::new();
    for value in paths::resolve_all(raw, path) {
        match value {
            Value::String(s) if !s.trim().is_empty() => out.push(s.clone()),
            Value::Array(items) if lists => out.extend(
                items.iter().filter_map(Value::as_str).filter(|s| !s.trim().is_empty()).map(str::to_string),
            ),
            _ => {}
        }
    }
    out
}

/// Pushes one raw indicator per string found at `path`.
pub(crate) fn push_strings(
    out: &mut Vec<RawIndicator>,
    raw: &Value,
    path: &str,
    kind: IndicatorType,
    lists: bool,
    label: &str,
) {
    for value in strings_at(raw, path, lists) {
        out.push(RawIndicator { kind, value, source_field: label.to_string(), decoder: None });
    }
}

/// Items of a list at `path`, stringified, blanks dropped.
pub(crate) fn string_list(raw: &Value, path: &str) -> Vec<String> {
    match paths::first(raw, path) {
        Some(Value::Array(items)) => {
            items.iter().filter_map(paths::scalar_text).filter(|s| !s.trim().is_empty()).collect()
        }
        _ => Vec::new(),
    }
}

/// Lower-cased severity words shared by Elastic, Splunk and Generic.
pub(crate) fn severity_word(word: &str) -> Severity {
    match word.to_lowercase().as_str() {
        "critical" => Severity::Critical,
        "high" => Severity::High,
        "medium" => Severity::Medium,
        "low" => Severity::Low,
        "informational" => Severity::Informational,
        _ => Severity::Pending,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn headers(pairs: &[(&str, String)]) -> impl Fn(&str) -> Option<String> + use<> {
        let owned: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_lowercase(), v.clone())).collect();
        move |name: &str| owned.iter().find(|(k, _)| *k == name.to_lowercase()).map(|(_, v)| v.clone())
    }

    #[test]
    fn hmac_signatures_with_and_without_timestamps() {
        let now = Utc.timestamp_opt(1_800_000_000, 0).single().unwrap();
        let scheme = SignatureScheme::HmacSha256 { header: "x-elastic-signature" };
        let body = b"{\"a\":1}";
        let sig = hmac_sha256_hex("s3cret", body);
        assert_eq!(
            verify_signature(scheme, "s3cret", &headers(&[("X-Elastic-Signature", sig.clone())]), body, now),
            Ok(())
        );
        let prefixed = format!("sha256={}", sig.to_uppercase());
        assert_eq!(
            verify_signature(scheme, "s3cret", &headers(&[("x-elastic-signature", prefixed)]), body, now),
            Ok(())
        );
        assert_eq!(
            verify_signature(scheme, "other", &headers(&[("x-elastic-signature", sig)]), body, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature(scheme, "s3cret", &headers(&[]), body, now),
            Err(SignatureError::Missing)
        );

        let stamp = now.timestamp().to_string();
        let signed =
            hmac_sha256_hex("s3cret", format!("{stamp}.{}", std::str::from_utf8(body).unwrap()).as_bytes());
        let ok = headers(&[("x-elastic-signature", signed.clone()), ("X-Calseta-Timestamp", stamp.clone())]);
        assert_eq!(verify_signature(scheme, "s3cret", &ok, body, now), Ok(()));
        let later = now + chrono::Duration::seconds(301);
        assert_eq!(
            verify_signature(scheme, "s3cret", &ok, body, later),
            Err(SignatureError::StaleOrInvalidTimestamp)
        );
        let moved = headers(&[
            ("x-elastic-signature", signed),
            ("X-Calseta-Timestamp", (now.timestamp() + 1).to_string()),
        ]);
        assert_eq!(verify_signature(scheme, "s3cret", &moved, body, now), Err(SignatureError::Mismatch));
    }

    #[test]
    fn shared_tokens() {
        let now = Utc::now();
        let scheme = SignatureScheme::SharedToken { header: "x-splunk-webhook-secret" };
        assert!(
            verify_signature(scheme, "tok", &headers(&[("X-Splunk-Webhook-Secret", "tok".into())]), b"", now)
                .is_ok()
        );
        assert!(
            verify_signature(
                scheme,
                "tok",
                &headers(&[("X-Splunk-Webhook-Secret", "tok2".into())]),
                b"",
                now
            )
            .is_err()
        );
    }

    #[test]
    fn registry_names() {
        let names: Vec<&str> = registry().iter().map(|s| s.name()).collect();
        assert_eq!(names, ["sentinel", "elastic", "splunk", "generic"]);
        assert!(find("qradar").is_none());
        assert!(!find("generic").unwrap().validate(&json!([1])));
    }
}
