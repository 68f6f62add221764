//! The `ENCRYPTION_KEY` lifecycle: validate a configured key, or on SQLite generate one into a
//! 0600 key file beside the database so a first start needs no setup.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE;
use calseta_store::Engine;
use rand::RngCore;

use crate::ServiceError;

/// A Fernet key: url-safe base64 of 32 bytes (16 signing + 16 encryption).
#[derive(Clone)]
pub struct EncryptionKey(String);

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
        EncryptionKey(URL_SAFE.encode(bytes))
    }

    /// Parses a configured key, refusing anything that is not 32 bytes of url-safe base64.
    pub fn parse(text: &str) -> Result<Self, ServiceError> {
        let text = text.trim();
        match URL_SAFE.decode(text) {
            Ok(bytes) if bytes.len() == 32 => Ok(EncryptionKey(text.to_string())),
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

    fn fernet(&self) -> Option<fernet::Fernet> {
        fernet::Fernet::new(&self.0)
    }

    /// Encrypts a JSON value as v1 stores credentials: `{"_encrypted": "<fernet token>"}`.
    pub fn encrypt_json(&self, value: &serde_json::Value) -> Result<serde_json::Value, ServiceError> {
        let fernet =
            self.fernet().ok_or_else(|| ServiceError::Config("ENCRYPTION_KEY is not a Fernet key".into()))?;
        Ok(serde_json::json!({ "_encrypted": fernet.encrypt(value.to_string().as_bytes()) }))
    }

    /// Decrypts `{"_encrypted": …}`; `None` when absent, tampered with, or made with another key.
    pub fn decrypt_json(&self, stored: &serde_json::Value) -> Option<serde_json::Value> {
        let token = stored.get("_encrypted")?.as_str()?;
        let plain = self.fernet()?.decrypt(token).ok()?;
        serde_json::from_slice(&plain).ok()
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
                    write_key_file(&path, &key).map_err(|e| {
                        ServiceError::Config(format!("cannot write key file {}: {e}", path.display()))
                    })?;
                    Ok((key, KeySource::Generated(path)))
                }
                Err(e) => Err(ServiceError::Config(format!("cannot read key file {}: {e}", path.display()))),
            }
        }
    }
}

fn write_key_file(path: &Path, key: &EncryptionKey) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(key.expose().as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
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
}
