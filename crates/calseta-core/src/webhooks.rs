//! Outbound webhook signing, Standard Webhooks scheme: `webhook-id`, `webhook-timestamp`, and
//! `webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")>`, where the secret
//! is `whsec_` + base64 of the key bytes.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Prefix of a signing secret.
pub const SECRET_PREFIX: &str = "whsec_";

/// The key bytes of a `whsec_…` secret (≥ 16 bytes), or why it is not one.
pub fn secret_key(secret: &str) -> Result<Vec<u8>, String> {
    let encoded = secret.strip_prefix(SECRET_PREFIX).ok_or("a signing secret starts with whsec_")?;
    let bytes = STANDARD.decode(encoded).map_err(|_| "the part after whsec_ must be base64".to_string())?;
    if bytes.len() < 16 {
        return Err("a signing secret needs at least 16 key bytes".into());
    }
    Ok(bytes)
}

/// A secret for `key_bytes`.
pub fn secret_from_key(key_bytes: &[u8]) -> String {
    format!("{SECRET_PREFIX}{}", STANDARD.encode(key_bytes))
}

/// The HMAC over `"<id>.<timestamp>.<body>"` under the secret's key.
fn signed_content(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<Hmac<Sha256>, String> {
    let key = secret_key(secret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| e.to_string())?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(mac)
}

/// The `webhook-signature` header value.
pub fn signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Result<String, String> {
    let mac = signed_content(secret, id, timestamp, body)?;
    Ok(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// Whether `header` (space-separated `v1,<sig>` entries) holds a valid signature; each candidate
/// is checked in constant time by the MAC itself.
pub fn verify(secret: &str, id: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Ok(mac) = signed_content(secret, id, timestamp, body) else { return false };
    header.split_whitespace().any(|candidate| {
        candidate
            .strip_prefix("v1,")
            .and_then(|sig| STANDARD.decode(sig).ok())
            .is_some_and(|sig| mac.clone().verify_slice(&sig).is_ok())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_like_the_standard_webhooks_example() {
        // The Standard Webhooks specification's test vector.
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let body = br#"{"test": 2432232314}"#;
        let sig = signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body).unwrap();
        assert_eq!(sig, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
        assert!(verify(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body, &format!("v1,bogus {sig}")));
        assert!(!verify(secret, "msg_other", 1614265330, body, &sig));
        assert!(
            secret_key("nope").is_err()
                && secret_key("whsec_!!").is_err()
                && secret_key("whsec_AAAA").is_err()
        );
        assert_eq!(secret_key(&secret_from_key(&[7u8; 24])).unwrap(), vec![7u8; 24]);
    }
}
