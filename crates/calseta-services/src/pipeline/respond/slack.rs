//! Slack's interactive callback: a click on Approve or Reject in the approval message. The request
//! must carry Slack's signature over its timestamp and body, made with `SLACK_SIGNING_SECRET`,
//! within five minutes of now, and each signature is accepted once — unsigned, forged, stale and
//! replayed callbacks decide nothing. A Slack retry (`X-Slack-Retry-Num`) of a callback already
//! received is answered `ok` and is only taken for a request still undecided, so it changes
//! nothing once the first delivery was processed.

use calseta_store::workflow_approvals::{self as approvals, ApprovalRow};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use uuid::Uuid;

use super::{Decision, Respond};
use crate::ServiceError;
use crate::audit::Actor;

/// How far a callback's timestamp may be from now, either way (Slack's own advice).
const WINDOW_SECONDS: i64 = 300;

fn refused(code: &'static str, message: &str) -> ServiceError {
    ServiceError::forbidden(code, message)
}

/// Checks a callback's signature: `v0=` + hex HMAC-SHA256 of `v0:<timestamp>:<body>`, with a
/// timestamp within five minutes of `now` (Unix seconds).
pub fn verify_signature(
    secret: Option<&str>,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), ServiceError> {
    let Some(secret) = secret.filter(|s| !s.is_empty()) else {
        return Err(refused("SLACK_NOT_CONFIGURED", "Slack callbacks are not configured"));
    };
    match (signature, timestamp) {
        (None, None) => {
            return Err(refused(
                "SLACK_SIGNATURE_MISSING",
                "Missing X-Slack-Signature and X-Slack-Request-Timestamp headers",
            ));
        }
        (None, Some(_)) => {
            return Err(refused("SLACK_SIGNATURE_MISSING", "Missing X-Slack-Signature header"));
        }
        (Some(_), None) => {
            return Err(refused("SLACK_SIGNATURE_MISSING", "Missing X-Slack-Request-Timestamp header"));
        }
        (Some(_), Some(_)) => {}
    }
    let ts: i64 = timestamp
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| refused("SLACK_SIGNATURE_INVALID", "Invalid timestamp"))?;
    if now.abs_diff(ts) > WINDOW_SECONDS.unsigned_abs() {
        return Err(refused("SLACK_SIGNATURE_INVALID", "Request too old"));
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes())
        .map_err(|_| refused("SLACK_SIGNATURE_INVALID", "Invalid signature"))?;
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    let given = signature
        .and_then(|s| s.strip_prefix("v0="))
        .and_then(decode_hex)
        .ok_or_else(|| refused("SLACK_SIGNATURE_INVALID", "Invalid signature"))?;
    // `verify_slice` compares in constant time.
    mac.verify_slice(&given).map_err(|_| refused("SLACK_SIGNATURE_INVALID", "Invalid signature"))
}

/// The signature's 32 bytes from exactly 64 lowercase hex digits, as Slack writes them: one
/// spelling per signature, so a replay cannot pass as new by changing the case or a `+` sign.
fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 || !text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        return None;
    }
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok()).collect()
}

/// The decision a callback carries: `approve:<uuid>` or `reject:<uuid>` in its first action.
fn decision_of(payload: &Value) -> Option<(Decision, Uuid)> {
    let action = payload.get("actions")?.as_array()?.first()?;
    let (word, uuid) = action.get("action_id")?.as_str()?.split_once(':')?;
    let decision = match word {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        // Unlike v1, an action we did not send decides nothing (v1 read it as a rejection).
        _ => return None,
    };
    Some((decision, Uuid::parse_str(uuid).ok()?))
}

impl Respond {
    /// Handles one callback: verified, remembered, then decided as the Slack user who clicked.
    /// A decision that cannot be made (already decided, expired) is logged and answered `ok`, as
    /// Slack expects; the message itself is updated by the notifier. `retry` is Slack's
    /// `X-Slack-Retry-Num` (a number): a retry whose signature was already received is no
    /// replay — Slack resends when our first answer was slow or lost — so it is answered `ok`,
    /// deciding only a request still pending (the first delivery failed before deciding).
    pub async fn slack_callback(
        &self,
        timestamp: Option<&str>,
        signature: Option<&str>,
        retry: Option<u32>,
        body: &[u8],
    ) -> Result<Option<ApprovalRow>, ServiceError> {
        let now = calseta_store::now();
        verify_signature(
            self.settings.slack_signing_secret.as_deref(),
            timestamp,
            signature,
            body,
            now.timestamp(),
        )?;
        let digest = calseta_core::api_keys::key_digest(signature.unwrap_or_default());
        if !approvals::accept_slack_signature(&self.db, &digest, now).await? {
            match retry {
                Some(attempt) => {
                    tracing::info!(retry = attempt, "Slack retried a callback already received");
                }
                None => return Err(refused("SLACK_REPLAYED", "Request already received")),
            }
        }
        let payload = form_urlencoded::parse(body)
            .find(|(k, _)| k == "payload")
            .map(|(_, v)| v.into_owned())
            .ok_or_else(|| ServiceError::Malformed {
                code: "INVALID_PAYLOAD",
                message: "Missing payload".into(),
            })?;
        let payload: Value = serde_json::from_str(&payload).map_err(|_| ServiceError::Malformed {
            code: "INVALID_JSON",
            message: "Invalid JSON payload".into(),
        })?;
        let Some((decision, uuid)) = decision_of(&payload) else { return Ok(None) };
        let user = payload.pointer("/user/id").and_then(Value::as_str).unwrap_or("slack").to_string();
        let actor = Actor { actor_type: "api", key_prefix: None };
        let by = super::Decider {
            responder_id: &user,
            actor: &actor,
            by_agent: false,
            via: "slack",
            note: None,
            four_eyes: false,
        };
        match self.decide(uuid, decision, by).await {
            Ok(row) => Ok(Some(row)),
            // Already decided, expired, unknown: Slack is answered `ok` (it would only retry).
            Err(e @ (ServiceError::Conflict { .. } | ServiceError::NotFound(_))) => {
                tracing::warn!(approval = %uuid, user = %user, error = %e, "Slack decision not taken");
                Ok(None)
            }
            Err(e) => {
                tracing::error!(approval = %uuid, user = %user, error = %e, "Slack decision failed");
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use hmac::{Hmac, Mac};
    use sha2::Sha256;

    use super::verify_signature;

    fn sign(secret: &str, ts: i64, body: &str) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("v0:{ts}:{body}").as_bytes());
        let bytes = mac.finalize().into_bytes();
        format!("v0={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
    }

    #[test]
    fn only_a_fresh_signature_made_with_the_secret_passes() {
        let now = 1_800_000_000;
        let body = "payload=%7B%7D";
        let good = sign("s3cret", now, body);
        let ts = now.to_string();
        assert!(verify_signature(Some("s3cret"), Some(&ts), Some(&good), body.as_bytes(), now).is_ok());
        assert!(verify_signature(Some("s3cret"), Some(&ts), Some(&good), body.as_bytes(), now + 300).is_ok());
        let refusal = |r: Result<(), crate::ServiceError>| r.unwrap_err().to_string();
        assert!(
            refusal(verify_signature(None, Some(&ts), Some(&good), body.as_bytes(), now))
                .contains("not configured")
        );
        assert!(
            refusal(verify_signature(Some("s3cret"), Some(&ts), Some(&good), b"payload=x", now))
                .contains("Invalid signature")
        );
        assert!(
            refusal(verify_signature(Some("other"), Some(&ts), Some(&good), body.as_bytes(), now))
                .contains("Invalid signature")
        );
        assert!(
            refusal(verify_signature(Some("s3cret"), Some(&ts), Some(&good), body.as_bytes(), now + 301))
                .contains("too old")
        );
        // Unsigned callbacks are told exactly which header is missing.
        assert_eq!(
            refusal(verify_signature(Some("s3cret"), Some(&ts), None, body.as_bytes(), now)),
            "SLACK_SIGNATURE_MISSING: Missing X-Slack-Signature header"
        );
        assert_eq!(
            refusal(verify_signature(Some("s3cret"), None, Some(&good), body.as_bytes(), now)),
            "SLACK_SIGNATURE_MISSING: Missing X-Slack-Request-Timestamp header"
        );
        assert_eq!(
            refusal(verify_signature(Some("s3cret"), None, None, body.as_bytes(), now)),
            "SLACK_SIGNATURE_MISSING: Missing X-Slack-Signature and X-Slack-Request-Timestamp headers"
        );
        assert!(
            refusal(verify_signature(Some("s3cret"), Some("soon"), Some(&good), body.as_bytes(), now))
                .contains("timestamp")
        );
        assert!(
            refusal(verify_signature(Some("s3cret"), Some(&ts), Some("v0=zz"), body.as_bytes(), now))
                .contains("Invalid signature")
        );
        // One spelling per signature: upper case or a `+` sign would make a replay look new.
        let upper = format!("v0={}", good[3..].to_uppercase());
        let plus = format!("v0=+{}", &good[4..]);
        for variant in [upper, plus] {
            let refused = verify_signature(Some("s3cret"), Some(&ts), Some(&variant), body.as_bytes(), now);
            assert!(refusal(refused).contains("Invalid signature"), "{variant}");
        }
        // A timestamp far out of range is refused, not an overflow.
        let far =
            verify_signature(Some("s3cret"), Some("-9223372036854775808"), Some(&good), body.as_bytes(), now);
        assert!(refusal(far).contains("too old"));
    }
}
