//! API keys: issuance, authentication (digest lookup behind a short in-process cache),
//! listing, changes and revocation.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calseta_core::api_keys::{self as core_keys, KeyType};
use calseta_core::pagination::PageRequest;
use calseta_core::scopes::{self, Scope};
use calseta_store::api_keys::{self as repo, ApiKeyChanges, ApiKeyRow, NewApiKey};
use calseta_store::{Db, Tx};
use chrono::{DateTime, Utc};
use rand::RngCore;
use uuid::Uuid;

use crate::platform::cache::TtlCache;
use crate::platform::rate_limit::{RateLimiter, unauthed_bucket};
use crate::{FieldError, ServiceError};

/// How long an authenticated key is served from memory before the database is asked again.
/// Bounds how long a key revoked through another process keeps working.
const CACHE_TTL: Duration = Duration::from_secs(5);
/// `last_used_at` is written at most this often per key.
const TOUCH_INTERVAL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
/// Bound on cached keys, so a flood of distinct valid keys cannot grow memory without limit.
const CACHE_CAPACITY: usize = 10_000;

/// A key as the rest of the system sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Internal id.
    pub id: i64,
    /// Public id.
    pub uuid: Uuid,
    /// Label.
    pub name: String,
    /// Display prefix (first 8 characters).
    pub key_prefix: String,
    /// Granted scopes as stored.
    pub scopes: Vec<String>,
    /// `human` or `agent`.
    pub key_type: KeyType,
    /// False once revoked.
    pub is_active: bool,
    /// Expiry.
    pub expires_at: Option<DateTime<Utc>>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Ingest source restriction (`None` = any).
    pub allowed_sources: Option<Vec<String>>,
    /// System-created.
    pub is_system: bool,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Updated.
    pub updated_at: DateTime<Utc>,
}

impl From<ApiKeyRow> for ApiKey {
    fn from(row: ApiKeyRow) -> Self {
        ApiKey {
            id: row.id,
            uuid: row.uuid,
            name: row.name,
            key_prefix: row.key_prefix,
            scopes: row.scopes.0,
            key_type: row.key_type,
            is_active: row.is_active,
            expires_at: row.expires_at,
            last_used_at: row.last_used_at,
            // v1 reads an empty list back as "unrestricted".
            allowed_sources: row.allowed_sources.map(|j| j.0).filter(|v| !v.is_empty()),
            is_system: row.is_system,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

impl ApiKey {
    /// Whether this key may call a route requiring `scope`.
    pub fn allows(&self, scope: Scope) -> bool {
        scopes::allows(&self.scopes, scope)
    }

    /// Whether this key may ingest from `source`.
    pub fn may_ingest_from(&self, source: &str) -> bool {
        self.allowed_sources.as_ref().is_none_or(|list| list.iter().any(|s| s == source))
    }
}

/// A newly issued key with its plain text, shown once.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    /// The stored key.
    pub key: ApiKey,
    /// `cai_…`; never stored.
    pub plain: String,
}

/// Input for a new key (unvalidated).
#[derive(Debug, Clone, Default)]
pub struct NewKeyRequest {
    /// Label, 1..255 characters.
    pub name: String,
    /// At least one known scope.
    pub scopes: Vec<String>,
    /// `human` (default) or `agent`.
    pub key_type: Option<String>,
    /// Source restriction; empty means unrestricted.
    pub allowed_sources: Option<Vec<String>>,
    /// Optional expiry, in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Changes to a key (unvalidated); see [`ApiKeyChanges`] for the `allowed_sources` encoding.
#[derive(Debug, Clone, Default)]
pub struct KeyPatch {
    /// Replacement scopes.
    pub scopes: Option<Vec<String>>,
    /// `Some(None)` lifts the source restriction.
    pub allowed_sources: Option<Option<Vec<String>>>,
    /// Activate or revoke.
    pub is_active: Option<bool>,
}

/// Why a bearer token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// No `Authorization: Bearer …` header.
    MissingHeader,
    /// Not shaped like a Calseta key.
    InvalidFormat,
    /// Unknown or revoked.
    InvalidKey,
    /// Past `expires_at`.
    KeyExpired,
    /// The key store could not be read (not the caller's fault).
    Unavailable,
}

impl AuthFailure {
    /// The audit reason logged for this failure.
    pub fn reason(self) -> &'static str {
        match self {
            AuthFailure::MissingHeader => "missing_header",
            AuthFailure::InvalidFormat => "invalid_format",
            AuthFailure::InvalidKey => "invalid_key",
            AuthFailure::KeyExpired => "key_expired",
            AuthFailure::Unavailable => "store_unavailable",
        }
    }
}

/// Why a guarded authentication refused a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client's address is over its failed-attempt limit; the key was not checked.
    Throttled {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The key failed (the attempt was counted, unless the store was unavailable).
    Failed(AuthFailure),
}

/// API-key use cases.
pub struct ApiKeyService {
    db: Db,
    /// Authenticated keys by digest.
    cache: TtlCache<String, Arc<ApiKey>>,
}

impl ApiKeyService {
    /// A service over `db`.
    pub fn new(db: Db) -> Self {
        Self { db, cache: TtlCache::new(CACHE_TTL, CACHE_CAPACITY) }
    }

    /// Issues a key in its own transaction.
    pub async fn issue(&self, request: NewKeyRequest) -> Result<IssuedKey, ServiceError> {
        let mut tx = self.db.begin().await?;
        let issued = self.issue_in(&mut tx, request, false).await?;
        tx.commit().await?;
        Ok(issued)
    }

    /// Validates `request` and inserts the key inside `tx`.
    pub async fn issue_in(
        &self,
        tx: &mut Tx,
        request: NewKeyRequest,
        is_system: bool,
    ) -> Result<IssuedKey, ServiceError> {
        let mut errors = Vec::new();
        let name = request.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 255 {
            errors.push(FieldError::body("name", "name must be 1 to 255 characters"));
        }
        let scopes = validate_scopes(&request.scopes, &mut errors);
        let key_type = match request.key_type.as_deref().unwrap_or("human").parse::<KeyType>() {
            Ok(kt) => kt,
            Err(e) => {
                errors.push(FieldError::body("key_type", e.to_string()));
                KeyType::Human
            }
        };
        if let Some(expires_at) = request.expires_at
            && expires_at <= Utc::now()
        {
            errors.push(FieldError::body("expires_at", "expires_at must be in the future"));
        }
        let allowed_sources = normalize_sources(request.allowed_sources, &mut errors);
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }

        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let plain = core_keys::plain_key_from_encoded(&URL_SAFE_NO_PAD.encode(random));
        let row = repo::insert(
            tx,
            &NewApiKey {
                name,
                key_prefix: core_keys::display_prefix(&plain),
                key_digest: core_keys::key_digest(&plain),
                scopes,
                expires_at: request.expires_at,
                allowed_sources,
                key_type,
                is_system,
            },
        )
        .await?;
        Ok(IssuedKey { key: row.into(), plain })
    }

    /// Authenticates a bearer token (`None` when the header is absent).
    pub async fn authenticate(&self, token: Option<&str>) -> Result<Arc<ApiKey>, AuthFailure> {
        let token = token.ok_or(AuthFailure::MissingHeader)?;
        if !core_keys::has_key_format(token) {
            return Err(AuthFailure::InvalidFormat);
        }
        let digest = core_keys::key_digest(token);
        let key = self
            .cache
            .get_or_load(digest.clone(), || async {
                let row = repo::find_active_by_digest(&self.db, &digest).await.map_err(|e| {
                    tracing::error!(error = %e, "api key lookup failed");
                    AuthFailure::Unavailable
                })?;
                Ok(Arc::new(ApiKey::from(row.ok_or(AuthFailure::InvalidKey)?)))
            })
            .await?;
        let now = calseta_store::now();
        if key.expires_at.is_some_and(|at| now > at) {
            return Err(AuthFailure::KeyExpired);
        }
        self.touch(&digest, &key, now);
        Ok(key)
    }

    /// [`Self::authenticate`] under the failed-attempt limit REST and MCP share: while `client_ip`
    /// has `per_minute` failures this minute nothing is checked, and each failure counts, except
    /// when the key store could not be read (not the caller's doing).
    pub async fn authenticate_from(
        &self,
        token: Option<&str>,
        client_ip: &str,
        limiter: &RateLimiter,
        per_minute: u32,
    ) -> Result<Arc<ApiKey>, Refusal> {
        let bucket = unauthed_bucket(client_ip);
        if let Some(retry_after) = limiter.exhausted(&bucket, per_minute) {
            return Err(Refusal::Throttled { retry_after });
        }
        self.authenticate(token).await.map_err(|failure| {
            if failure != AuthFailure::Unavailable {
                let _ = limiter.hit(&bucket, per_minute);
            }
            Refusal::Failed(failure)
        })
    }

    fn forget_all(&self) {
        self.cache.clear();
    }

    /// Records use at most once a minute per key, off the request path.
    fn touch(&self, digest: &str, key: &Arc<ApiKey>, now: DateTime<Utc>) {
        if key.last_used_at.is_some_and(|at| now - at < TOUCH_INTERVAL) {
            return;
        }
        // The cached copy carries the time of our last write, so this process writes once a minute.
        let mut touched = (**key).clone();
        touched.last_used_at = Some(now);
        self.cache.update(&digest.to_string(), |cached| *cached = Arc::new(touched));
        let db = self.db.clone();
        let id = key.id;
        tokio::spawn(async move {
            if let Err(e) = repo::touch_last_used(&db, id, now, now - TOUCH_INTERVAL).await {
                tracing::warn!(error = %e, "could not record api key use");
            }
        });
    }

    /// One page of keys, newest first; `active_only` hides revoked keys (the REST listing does).
    pub async fn list(
        &self,
        active_only: bool,
        page: PageRequest,
    ) -> Result<(Vec<ApiKey>, i64), ServiceError> {
        let (rows, total) = repo::list(&self.db, active_only, page).await?;
        Ok((rows.into_iter().map(ApiKey::from).collect(), total))
    }

    /// A key by id, revoked or not.
    pub async fn get(&self, uuid: Uuid) -> Result<ApiKey, ServiceError> {
        repo::get(&self.db, uuid).await?.map(ApiKey::from).ok_or_else(not_found)
    }

    /// Applies a patch.
    pub async fn patch(&self, uuid: Uuid, patch: KeyPatch) -> Result<ApiKey, ServiceError> {
        let mut errors = Vec::new();
        let scopes = patch.scopes.map(|s| validate_scopes(&s, &mut errors));
        let allowed_sources = patch.allowed_sources.map(|s| normalize_sources(s, &mut errors));
        if !errors.is_empty() {
            return Err(ServiceError::Invalid(errors));
        }
        let changes = ApiKeyChanges { scopes, allowed_sources, is_active: patch.is_active };
        let row = repo::update(&self.db, uuid, &changes).await?;
        self.forget_all();
        row.map(ApiKey::from).ok_or_else(not_found)
    }

    /// Revokes a key (soft delete: the row stays for audit).
    pub async fn revoke(&self, uuid: Uuid) -> Result<ApiKey, ServiceError> {
        self.patch(uuid, KeyPatch { is_active: Some(false), ..KeyPatch::default() }).await
    }

    /// The database this service writes to.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

fn not_found() -> ServiceError {
    ServiceError::NotFound("API key not found.".into())
}

fn validate_scopes(requested: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if requested.is_empty() {
        errors.push(FieldError::body("scopes", "at least one scope is required"));
        return Vec::new();
    }
    match scopes::parse_scopes(requested) {
        Ok(parsed) => parsed.iter().map(|s| s.as_str().to_string()).collect(),
        Err(e) => {
            errors.push(FieldError::body("scopes", e.to_string()));
            Vec::new()
        }
    }
}

fn normalize_sources(sources: Option<Vec<String>>, errors: &mut Vec<FieldError>) -> Option<Vec<String>> {
    let sources: Vec<String> =
        sources?.into_iter().map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
    if sources.iter().any(|s| s.chars().count() > 100) {
        errors.push(FieldError::body("allowed_sources", "source names are at most 100 characters"));
    }
    (!sources.is_empty()).then_some(sources)
}
