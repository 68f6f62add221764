//! Rotating the encryption key: every stored secret — provider and source credentials, agents'
//! auth header values and signing secrets — decrypted with `ENCRYPTION_KEY` or
//! `ENCRYPTION_KEY_PREVIOUS` and written back encrypted with `ENCRYPTION_KEY`, in one transaction.

use calseta_store::Db;
use calseta_store::secrets::{self, StoredSecret};
use serde_json::Value;

use crate::ServiceError;
use crate::platform::crypto::EncryptionKey;

/// What a rotation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rotation {
    /// Secrets re-encrypted with the current key.
    pub rewritten: usize,
    /// Secrets the current key already encrypted.
    pub current: usize,
}

/// The Fernet token of a stored secret (`{"_encrypted": token}` in JSON columns).
fn token_of(secret: &StoredSecret) -> Option<&str> {
    match &secret.value {
        Value::String(token) => Some(token),
        other => other.get("_encrypted").and_then(Value::as_str),
    }
}

/// Re-encrypts every stored secret with the current key; all or nothing: when any secret cannot
/// be decrypted with the current or a previous key, nothing is changed and the error names them.
pub async fn rotate(db: &Db, key: &EncryptionKey) -> Result<Rotation, ServiceError> {
    let mut tx = db.begin().await?;
    let mut done = Rotation::default();
    let mut unreadable = Vec::new();
    for mut secret in secrets::all(&mut tx).await? {
        let Some(token) = token_of(&secret).map(str::to_string) else { continue };
        if key.is_current(&token) {
            done.current += 1;
            continue;
        }
        let Some(plain) = key.decrypt(&token) else {
            unreadable.push(format!("{} (id {})", secret.column.name(), secret.id));
            continue;
        };
        let fresh = key.encrypt(&plain)?;
        secret.value = match secret.value {
            Value::String(_) => Value::String(fresh),
            _ => serde_json::json!({ "_encrypted": fresh }),
        };
        secrets::rewrite(&mut tx, &secret).await?;
        done.rewritten += 1;
    }
    if !unreadable.is_empty() {
        tx.rollback().await?;
        return Err(ServiceError::Config(format!(
            "nothing was changed: neither ENCRYPTION_KEY nor ENCRYPTION_KEY_PREVIOUS decrypts {}",
            unreadable.join(", ")
        )));
    }
    tx.commit().await?;
    Ok(done)
}
