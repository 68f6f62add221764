//! The `ENCRYPTION_KEY` lifecycle: validate a configured key, or on SQLite generate one into a
//! 0600 key file beside the database so a first start needs no setup.

use std::io::Write;
use std::path::{Path, PathBuf};

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use calseta_store::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;

use crate::ServiceError;

type Aes128CbcEnc = cbc::Encryptor<aes::Aes128>;
type Aes128CbcDec = cbc::Decryptor<aes::Aes128>;
type HmacSha256 = Hmac<sha2::Sha256>;

/// A Fernet key: url-safe base64 of 32 bytes (16 signing + 16 encryption), with the keys it
/// replaced (`ENCRYPTION_KEY_PREVIOUS`), which still decrypt until the secrets are rotated.
#[derive(Clone)]
pub struct EncryptionKey(String, Vec<String>);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(***)")
    }
}

impl EncryptionKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        let mut bytes = [0u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        EncryptionKey(URL_SAFE.encode(bytes), Vec::new())
    }

    /// Parses a configured key, refusing anything that is not 32 bytes of url-safe base64.
    pub fn parse(text: &str) -> Result<Self, ServiceError> {
        let text = text.trim();
        match URL_SAFE.decode(text) {
            Ok(bytes) if bytes.len() == 32 => Ok(EncryptionKey(text.to_string(), Vec::new())),
            _ => Err(ServiceError::Config(
                "ENCRYPTION_KEY must be a Fernet key: url-safe base64 of 32 bytes (44 characters); \
                 generate one with `calseta encryption-key generate`"
                    .into(),
            )),
        }
    }

    /// The key's text form.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// This key, still able to decrypt what `previous` keys encrypted.
    pub fn with_previous(mut self, previous: Vec<EncryptionKey>) -> Self {
        self.1 = previous.into_iter().map(|k| k.0).filter(|k| *k != self.0).collect();
        self
    }

    /// Whether previous keys are configured.
    pub fn has_previous(&self) -> bool {
        !self.1.is_empty()
    }

    /// (signing key, encryption key): the two halves of the 32 key bytes of `text`.
    fn halves_of(text: &str) -> Option<([u8; 16], [u8; 16])> {
        let bytes = URL_SAFE.decode(text).ok()?;
        let signing: [u8; 16] = bytes.get(..16)?.try_into().ok()?;
        let encryption: [u8; 16] = bytes.get(16..32)?.try_into().ok()?;
        Some((signing, encryption))
    }

    fn halves(&self) -> Option<([u8; 16], [u8; 16])> {
        Self::halves_of(&self.0)
    }

    /// A Fernet token (spec version 0x80) of `plain`, readable by any Fernet implementation
    /// holding this key — v1's Python `cryptography.fernet` included.
    pub fn encrypt(&self, plain: &[u8]) -> Result<String, ServiceError> {
        let (signing, encryption) =
            self.halves().ok_or_else(|| ServiceError::Config("ENCRYPTION_KEY is not a Fernet key".into()))?;
        let mut iv = [0u8; 16];
        rand::rng().fill_bytes(&mut iv);
        let ciphertext = Aes128CbcEnc::new_from_slices(&encryption, &iv)
            .map_err(|_| ServiceError::Config("invalid encryption key length".into()))?
            .encrypt_padded_vec_mut::<Pkcs7>(plain);
        let seconds = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or_default();
        let mut token = Vec::with_capacity(1 + 8 + 16 + ciphertext.len() + 32);
        token.push(0x80);
        token.extend_from_slice(&seconds.to_be_bytes());
        token.extend_from_slice(&iv);
        token.extend_from_slice(&ciphertext);
        let mut mac = HmacSha256::new_from_slice(&signing)
            .map_err(|_| ServiceError::Config("invalid signing key length".into()))?;
        mac.update(&token);
        token.extend_from_slice(&mac.finalize().into_bytes());
        Ok(URL_SAFE.encode(token))
    }

    /// Decrypts a Fernet token with this key or a previous one; `None` when malformed, tampered
    /// with, or made with another key.
    pub fn decrypt(&self, token: &str) -> Option<Vec<u8>> {
        std::iter::once(&self.0).chain(&self.1).find_map(|key| Self::decrypt_with(key, token))
    }

    /// Whether this key itself (not a previous one) decrypts `token`.
    pub fn is_current(&self, token: &str) -> bool {
        Self::decrypt_with(&self.0, token).is_some()
    }

    fn decrypt_with(key: &str, token: &str) -> Option<Vec<u8>> {
        let (signing, encryption) = Self::halves_of(key)?;
        let bytes = URL_SAFE_NO_PAD.decode(token.trim().trim_end_matches('=')).ok()?;
        if bytes.len() < 1 + 8 + 16 + 16 + 32 || bytes[0] != 0x80 {
            return None;
        }
        let (signed, tag) = bytes.split_at(bytes.len() - 32);
        let mut mac = HmacSha256::new_from_slice(&signing).ok()?;
        mac.update(signed);
        mac.verify_slice(tag).ok()?;
        let (iv, ciphertext) = signed[9..].split_at(16);
        Aes128CbcDec::new_from_slices(&encryption, iv).ok()?.decrypt_padded_vec_mut::<Pkcs7>(ciphertext).ok()
    }

    /// Encrypts a JSON value as v1 stores credentials: `{"_encrypted": "<fernet token>"}`.
    pub fn encrypt_json(&self, value: &serde_json::Value) -> Result<serde_json::Value, ServiceError> {
        Ok(serde_json::json!({ "_encrypted": self.encrypt(value.to_string().as_bytes())? }))
    }

    /// Decrypts `{"_encrypted": …}`; `None` when absent, tampered with, or made with another key.
    pub fn decrypt_json(&self, stored: &serde_json::Value) -> Option<serde_json::Value> {
        let token = stored.get("_encrypted")?.as_str()?;
        serde_json::from_slice(&self.decrypt(token)?).ok()
    }
}

/// Where the key in use came from (logged at startup, never the key itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// `ENCRYPTION_KEY` was set.
    Configured,
    /// Read from an existing key file.
    KeyFile(PathBuf),
    /// Generated now into a new key file.
    Generated(PathBuf),
    /// In-memory SQLite: a key that lives as long as the process (and the database).
    Ephemeral,
}

/// The key file used for a SQLite database at `db_path`.
pub fn key_file_for(db_path: &Path) -> PathBuf {
    let mut name = db_path.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

/// Resolves the encryption key for this process.
pub fn resolve(
    configured: Option<&str>,
    engine: Engine,
    sqlite_path: Option<&Path>,
) -> Result<(EncryptionKey, KeySource), ServiceError> {
    if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
        return Ok((EncryptionKey::parse(text)?, KeySource::Configured));
    }
    match (engine, sqlite_path) {
        (Engine::Postgres, _) => Err(ServiceError::Config(
            "ENCRYPTION_KEY is required with PostgreSQL (every process must share it); \
             generate one with `calseta encryption-key generate`"
                .into(),
        )),
        (Engine::Sqlite, None) => Ok((EncryptionKey::generate(), KeySource::Ephemeral)),
        (Engine::Sqlite, Some(db_path)) => {
            let path = key_file_for(db_path);
            match std::fs::read_to_string(&path) {
                Ok(text) => {
                    let key = EncryptionKey::parse(&text).map_err(|_| {
                        ServiceError::Config(format!(
                            "the key file {} does not hold a valid Fernet key",
                            path.display()
                        ))
                    })?;
                    Ok((key, KeySource::KeyFile(path)))
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    let key = EncryptionKey::generate();
                    match publish_key_file(&path, &key) {
                        Ok(true) => Ok((key, KeySource::Generated(path))),
                        // Another process published its key first: every process uses that one.
                        Ok(false) => resolve(None, engine, Some(db_path)),
                        Err(e) => Err(ServiceError::Config(format!(
                            "cannot write key file {}: {e}",
                            path.display()
                        ))),
                    }
                }
                Err(e) => Err(ServiceError::Config(format!("cannot read key file {}: {e}", path.display()))),
            }
        }
    }
}

/// Writes the key to a private temporary file and links it into place only when complete, so
/// that a concurrent first start never reads a half-written key file; `false` when another process
/// published one first (its key wins).
fn publish_key_file(path: &Path, key: &EncryptionKey) -> std::io::Result<bool> {
    let mut suffix = [0u8; 8];
    rand::rng().fill_bytes(&mut suffix);
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp-{}", hex_of(&suffix)));
    let temp = PathBuf::from(temp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = (|| {
        let mut file = options.open(&temp)?;
        file.write_all(key.expose().as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()
    })();
    let linked = written.and_then(|()| std::fs::hard_link(&temp, path));
    let _ = std::fs::remove_file(&temp);
    match linked {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: create the file in place (first creator wins).
        Err(_) => match options.open(path) {
            Ok(mut file) => {
                file.write_all(key.expose().as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()?;
                Ok(true)
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(e),
        },
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_and_bad_keys_do_not() {
        let key = EncryptionKey::generate();
        assert_eq!(key.expose().len(), 44);
        assert!(EncryptionKey::parse(key.expose()).is_ok());
        assert!(EncryptionKey::parse("not-a-key").is_err());
        assert!(EncryptionKey::parse(&URL_SAFE.encode([0u8; 16])).is_err());
    }

    #[test]
    fn credentials_round_trip_and_tampering_is_refused() {
        let key = EncryptionKey::generate();
        let stored = key.encrypt_json(&serde_json::json!({"api_key": "s3cret"})).unwrap();
        assert!(!stored.to_string().contains("s3cret"));
        assert_eq!(key.decrypt_json(&stored), Some(serde_json::json!({"api_key": "s3cret"})));
        assert_eq!(EncryptionKey::generate().decrypt_json(&stored), None);
        assert_eq!(key.decrypt_json(&serde_json::json!({"_encrypted": "garbage"})), None);
    }

    #[test]
    fn reads_tokens_made_by_pythons_cryptography_fernet() {
        // Made by Python: Fernet(b"nnxnHwKLQuUxfzrGz3c2tbAWFT4mEo_FyPRQy0BD3Pw=").encrypt(b'{"api_key": "vt-123"}')
        let key = EncryptionKey::parse("nnxnHwKLQuUxfzrGz3c2tbAWFT4mEo_FyPRQy0BD3Pw=").unwrap();
        let from_python = "gAAAAABrB4iaqE0ZZrwObRmmHlN05vCVGzt0QPtg-cQwhP3YBBe4DVB6j9uKXWwt2LXDS28rjJkK-mf6cuW8X6JyJ3iBk07GnprpvSuoqZXJCdWmXnD1Mjg=";
        assert_eq!(key.decrypt(from_python).as_deref(), Some(br#"{"api_key": "vt-123"}"#.as_slice()));
        let token = key.encrypt(br#"{"api_key": "vt-123"}"#).unwrap();
        assert!(token.starts_with("gAAAAA"), "version byte 0x80 base64-encodes as gAAAAA…");
        assert_eq!(key.decrypt(&token).as_deref(), Some(br#"{"api_key": "vt-123"}"#.as_slice()));
        let mut tampered = token.clone().into_bytes();
        let last = tampered.len() - 5;
        tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(key.decrypt(std::str::from_utf8(&tampered).unwrap()), None);
    }

    #[test]
    fn postgres_requires_a_key() {
        assert!(matches!(resolve(None, Engine::Postgres, None), Err(ServiceError::Config(_))));
        assert!(matches!(resolve(Some(" "), Engine::Postgres, None), Err(ServiceError::Config(_))));
    }

    #[test]
    fn sqlite_generates_a_private_key_file_once() {
        let dir = std::env::temp_dir().join(format!("calseta-crypto-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("c.db");
        let (first, source) = resolve(None, Engine::Sqlite, Some(&db)).unwrap();
        assert!(matches!(source, KeySource::Generated(_)));
        let (second, source) = resolve(None, Engine::Sqlite, Some(&db)).unwrap();
        assert!(matches!(source, KeySource::KeyFile(_)));
        assert_eq!(first.expose(), second.expose());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(key_file_for(&db)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn concurrent_first_starts_agree_on_one_complete_key() {
        let dir = std::env::temp_dir().join(format!("calseta-crypto-race-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("race.db");
        let starts: Vec<_> = (0..8)
            .map(|_| {
                let db = db.clone();
                std::thread::spawn(move || {
                    resolve(None, Engine::Sqlite, Some(&db)).map(|(k, _)| k.expose().to_string())
                })
            })
            .collect();
        let keys: Vec<String> = starts.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
        assert!(keys.iter().all(|k| *k == keys[0]), "every start uses the published key");
        let leftovers = std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e.as_ref().is_ok_and(|e| e.file_name().to_string_lossy().contains(".tmp-")));
        assert_eq!(leftovers.count(), 0, "no temporary key file is left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn previous_keys_still_decrypt_and_only_the_current_one_encrypts() {
        let old = EncryptionKey::generate();
        let token = old.encrypt(b"agent secret").unwrap();
        let new = EncryptionKey::generate();
        assert_eq!(new.decrypt(&token), None);
        let rotating = new.clone().with_previous(vec![old.clone()]);
        assert_eq!(rotating.decrypt(&token).as_deref(), Some(&b"agent secret"[..]));
        assert!(!rotating.is_current(&token));
        let fresh = rotating.encrypt(b"agent secret").unwrap();
        assert!(
            rotating.is_current(&fresh) && new.decrypt(&fresh).is_some() && old.decrypt(&fresh).is_none()
        );
    }
}
