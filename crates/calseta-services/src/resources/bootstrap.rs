//! The one-time bootstrap admin key printed on the first start of a new database.

use calseta_store::state;

use crate::ServiceError;
use crate::resources::api_keys::{ApiKeyService, IssuedKey, NewKeyRequest};

/// Issues the bootstrap admin key unless one was ever issued (or an operator already created a
/// key from the CLI). Guarded by a row in `calseta_state` written in the same transaction, so it
/// happens exactly once — even when every key was later revoked, and even when two processes
/// start on one PostgreSQL at the same moment.
pub async fn issue_bootstrap_key_once(keys: &ApiKeyService) -> Result<Option<IssuedKey>, ServiceError> {
    let mut tx = keys.db().begin().await?;
    if !state::record_once(&mut tx, state::BOOTSTRAP_KEY_ISSUED, "serve").await? {
        tx.rollback().await?;
        return Ok(None);
    }
    let request = NewKeyRequest {
        name: "bootstrap-admin".into(),
        scopes: vec!["admin".into()],
        key_type: Some("human".into()),
        allowed_sources: None,
        expires_at: None,
    };
    let issued = keys.issue_in(&mut tx, request, true).await?;
    tx.commit().await?;
    Ok(Some(issued))
}

/// Issues an operator's key from the CLI and records that the installation no longer needs a
/// bootstrap key.
pub async fn issue_operator_key(
    keys: &ApiKeyService,
    request: NewKeyRequest,
) -> Result<IssuedKey, ServiceError> {
    let mut tx = keys.db().begin().await?;
    let issued = keys.issue_in(&mut tx, request, false).await?;
    state::record_once(&mut tx, state::BOOTSTRAP_KEY_ISSUED, "cli").await?;
    tx.commit().await?;
    Ok(issued)
}
