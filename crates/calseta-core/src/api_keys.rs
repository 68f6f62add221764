//! API-key format: `cai_` + 43 url-safe base64 characters (256 random bits), stored as a SHA-256 digest.

use sha2::{Digest, Sha256};

/// Every Calseta API key starts with this.
pub const KEY_MARKER: &str = "cai_";
/// Length of the display prefix kept in clear (`cai_` + 4 characters), as in v1.
pub const DISPLAY_PREFIX_LEN: usize = 8;

string_enum!(
    /// Who holds a key: a person or an agent (decides the workflow trigger source).
    KeyType, "key_type", {
        Human => "human",
        Agent => "agent",
    }
);

/// Builds the plain key from 32 random bytes already encoded as url-safe base64 without padding.
pub fn plain_key_from_encoded(encoded_random: &str) -> String {
    format!("{KEY_MARKER}{encoded_random}")
}

/// The digest stored and looked up for a plain key: lowercase hex SHA-256.
///
/// A plain digest suffices because keys carry 256 random bits: there is nothing to brute-force,
/// and it is independent of `ENCRYPTION_KEY`, so rotating that key never voids API keys.
pub fn key_digest(plain_key: &str) -> String {
    hex::encode(Sha256::digest(plain_key.as_bytes()))
}

/// The display prefix of a plain key (first 8 characters).
pub fn display_prefix(plain_key: &str) -> String {
    plain_key.chars().take(DISPLAY_PREFIX_LEN).collect()
}

/// Whether a bearer token is shaped like a Calseta key at all (v1: starts with `cai_`, ≥ 8 chars).
pub fn has_key_format(token: &str) -> bool {
    token.starts_with(KEY_MARKER) && token.len() >= DISPLAY_PREFIX_LEN
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_stable_hex_sha256() {
        let d = key_digest("cai_abc");
        assert_eq!(d.len(), 64);
        assert_eq!(d, key_digest("cai_abc"));
        assert_ne!(d, key_digest("cai_abd"));
    }

    #[test]
    fn prefix_and_format() {
        assert_eq!(display_prefix("cai_abcdefgh"), "cai_abcd");
        assert!(has_key_format("cai_abcd"));
        assert!(!has_key_format("cai_abc"));
        assert!(!has_key_format("sk_abcdefgh"));
        assert_eq!("agent".parse::<KeyType>(), Ok(KeyType::Agent));
        assert!("robot".parse::<KeyType>().is_err());
    }
}
