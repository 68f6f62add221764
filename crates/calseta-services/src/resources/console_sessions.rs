//! Console sessions: signing a human API key in to the analyst console, and finding the session
//! again on each request.
//!
//! A session is a random 256-bit id held by the browser in a cookie; the database keeps only its
//! SHA-256 digest, the key it acts as and its times, so every process on the database shares it.
//! Each lookup re-reads the key: a key revoked or expired (by any process) ends its sessions at
//! their next request, and the session always acts with the key's current scopes. The CSRF token
//! is derived from the session id (a keyed digest the database cannot reproduce), so it is tied
//! to the session without being stored.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use calseta_core::api_keys::KeyType;
use calseta_store::Db;
use calseta_store::api_keys as key_repo;
use calseta_store::console_sessions::{self as repo, ConsoleSessionRow};
use chrono::{DateTime, TimeDelta, Utc};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::ServiceError;
use crate::platform::rate_limit::RateLimiter;
use crate::resources::api_keys::{ApiKey, ApiKeyService, AuthFailure, Refusal};

/// The absolute lifetime of a session, whatever its activity.
pub const ABSOLUTE_LIFETIME: TimeDelta = TimeDelta::hours(12);
/// The default idle expiry (`CONSOLE_SESSION_IDLE_MINUTES`).
pub const DEFAULT_IDLE_MINUTES: u32 = 60;
/// Activity is written at most this often per session (and at most every quarter of the idle
/// expiry), so a busy console does not write on every request.
const TOUCH_INTERVAL: TimeDelta = TimeDelta::seconds(60);
/// Domain separation for the CSRF token derived from a session id.
const CSRF_CONTEXT: &[u8] = b"calseta-console-csrf\0";

/// How long sessions live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Without a request for this long a session ends.
    pub idle: TimeDelta,
    /// A session ends this long after sign-in.
    pub absolute: TimeDelta,
}

impl SessionPolicy {
    /// Idle expiry of `idle_minutes` (at least one), absolute expiry of 12 hours.
    pub fn with_idle_minutes(idle_minutes: u32) -> Self {
        Self { idle: TimeDelta::minutes(i64::from(idle_minutes.max(1))), absolute: ABSOLUTE_LIFETIME }
    }

    fn touch_interval(&self) -> TimeDelta {
        TOUCH_INTERVAL.min(self.idle / 4)
    }
}

impl Default for SessionPolicy {
    fn default() -> Self {
        Self::with_idle_minutes(DEFAULT_IDLE_MINUTES)
    }
}

/// A live session, as a request sees it.
#[derive(Debug, Clone)]
pub struct ConsoleSession {
    /// The key the session acts as, read afresh for this request.
    pub key: ApiKey,
    /// The token every state-changing form of this session carries.
    pub csrf_token: String,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last recorded activity (before this request).
    pub last_seen_at: DateTime<Utc>,
    /// Absolute expiry.
    pub expires_at: DateTime<Utc>,
    id: i64,
}

/// A session just opened: the id for the cookie, shown only now.
#[derive(Clone)]
pub struct OpenedSession {
    /// The cookie value (43 characters of base64url; 256 random bits).
    pub id: String,
    /// The session.
    pub session: ConsoleSession,
}

impl std::fmt::Debug for OpenedSession {
    // The id is a bearer credential: it never reaches a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenedSession").field("id", &"[redacted]").field("session", &self.session).finish()
    }
}

/// Why a session id no longer opens a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// No session has this id (never did, signed out, or swept).
    Unknown,
    /// No request within the idle expiry.
    Idle,
    /// Past the absolute expiry.
    Expired,
    /// The key was revoked or removed.
    KeyRevoked,
    /// The key passed its `expires_at`.
    KeyExpired,
}

impl SessionEnd {
    /// A sentence for the sign-in page.
    pub fn message(self) -> &'static str {
        match self {
            SessionEnd::Unknown => "Please sign in.",
            SessionEnd::Idle => "Your session ended after a period of inactivity. Please sign in again.",
            SessionEnd::Expired => "Your session reached its maximum length. Please sign in again.",
            SessionEnd::KeyRevoked => "The API key of your session was revoked.",
            SessionEnd::KeyExpired => "The API key of your session has expired.",
        }
    }
}

/// What a session id resolves to.
#[derive(Debug, Clone)]
pub enum Lookup {
    /// A live session (its activity is recorded).
    Active(Box<ConsoleSession>),
    /// No live session; a stored one was deleted.
    Ended(SessionEnd),
}

/// Why a sign-in was refused.
#[derive(Debug)]
pub enum SignInRefusal {
    /// The client's address is over its failed-attempt limit; the key was not checked.
    Throttled {
        /// Seconds until the window ends.
        retry_after: u64,
    },
    /// The key is unknown, revoked, expired or malformed (the attempt was counted).
    Failed(AuthFailure),
    /// The key is an agent key: agents use REST and MCP, not the console.
    AgentKey,
    /// The session could not be stored.
    Service(ServiceError),
}

/// Console session use cases.
pub struct ConsoleSessionService {
    db: Db,
    policy: SessionPolicy,
}

impl ConsoleSessionService {
    /// A service over `db` with `policy`.
    pub fn new(db: Db, policy: SessionPolicy) -> Self {
        Self { db, policy }
    }

    /// The session lifetimes in force.
    pub fn policy(&self) -> SessionPolicy {
        self.policy
    }

    /// Signs `token` in: authenticates it under the failed-attempt limit REST and MCP share
    /// (`per_minute` failures per `client_ip`), refuses agent keys, and opens a session.
    pub async fn sign_in(
        &self,
        keys: &ApiKeyService,
        token: &str,
        client_ip: &str,
        limiter: &RateLimiter,
        per_minute: u32,
    ) -> Result<OpenedSession, SignInRefusal> {
        let key =
            keys.authenticate_from(Some(token), client_ip, limiter, per_minute).await.map_err(|refusal| {
                match refusal {
                    Refusal::Throttled { retry_after } => SignInRefusal::Throttled { retry_after },
                    Refusal::Failed(failure) => SignInRefusal::Failed(failure),
                }
            })?;
        if is_agent(&key) {
            return Err(SignInRefusal::AgentKey);
        }
        self.create(&key).await.map_err(SignInRefusal::Service)
    }

    /// Opens a session for `key` (a human key that has just authenticated), sweeping expired
    /// sessions on the way so the table holds live ones only.
    pub async fn create(&self, key: &ApiKey) -> Result<OpenedSession, ServiceError> {
        if is_agent(key) {
            return Err(ServiceError::Forbidden {
                code: "AGENT_KEY",
                message: "Agent keys cannot sign in to the console.".into(),
            });
        }
        let now = calseta_store::now();
        repo::delete_expired(&self.db, now - self.policy.idle, now).await?;
        let mut random = [0u8; 32];
        rand::rng().fill_bytes(&mut random);
        let id = URL_SAFE_NO_PAD.encode(random);
        let row =
            repo::insert(&self.db, &session_digest(&id), key.uuid, now, now + self.policy.absolute).await?;
        let session = session_of(row, key.clone(), &id);
        Ok(OpenedSession { id, session })
    }

    /// The live session with this id, its activity recorded; a session past its idle or absolute
    /// expiry, or whose key is revoked, expired or no longer a human key, is deleted and reported
    /// as ended.
    pub async fn resolve(&self, id: &str) -> Result<Lookup, ServiceError> {
        self.lookup(id, true).await
    }

    /// [`Self::resolve`] without recording activity: for a long-lived request (the console's
    /// event stream) that re-checks its session now and then, which must not keep an unattended
    /// session from its idle expiry.
    pub async fn check(&self, id: &str) -> Result<Lookup, ServiceError> {
        self.lookup(id, false).await
    }

    async fn lookup(&self, id: &str, record_activity: bool) -> Result<Lookup, ServiceError> {
        if !plausible_id(id) {
            return Ok(Lookup::Ended(SessionEnd::Unknown));
        }
        let digest = session_digest(id);
        let Some(row) = repo::find_by_digest(&self.db, &digest).await? else {
            return Ok(Lookup::Ended(SessionEnd::Unknown));
        };
        let now = calseta_store::now();
        let key = key_repo::get(&self.db, row.api_key_uuid).await?.map(ApiKey::from);
        let end = if now >= row.expires_at {
            Some(SessionEnd::Expired)
        } else if now - row.last_seen_at >= self.policy.idle {
            Some(SessionEnd::Idle)
        } else {
            match &key {
                None => Some(SessionEnd::KeyRevoked),
                Some(key) if !key.is_active || is_agent(key) => Some(SessionEnd::KeyRevoked),
                Some(key) if key.expires_at.is_some_and(|at| now > at) => Some(SessionEnd::KeyExpired),
                Some(_) => None,
            }
        };
        match (end, key) {
            (None, Some(key)) => {
                let session = session_of(row, key, id);
                if record_activity {
                    self.touch(&session, now).await?;
                }
                Ok(Lookup::Active(Box::new(session)))
            }
            (end, _) => {
                repo::delete_by_digest(&self.db, &digest).await?;
                Ok(Lookup::Ended(end.unwrap_or(SessionEnd::KeyRevoked)))
            }
        }
    }

    /// Records activity on `session` at `now`, at most once per touch interval.
    pub async fn touch(&self, session: &ConsoleSession, now: DateTime<Utc>) -> Result<(), ServiceError> {
        let stale_before = now - self.policy.touch_interval();
        if session.last_seen_at >= stale_before {
            return Ok(());
        }
        repo::touch(&self.db, session.id, now, stale_before).await?;
        Ok(())
    }

    /// Ends the session with this id (sign-out); whether there was one.
    pub async fn end(&self, id: &str) -> Result<bool, ServiceError> {
        if !plausible_id(id) {
            return Ok(false);
        }
        Ok(repo::delete_by_digest(&self.db, &session_digest(id)).await?)
    }
}

/// Whether `key` is an agent key (which never signs in to the console).
fn is_agent(key: &ApiKey) -> bool {
    key.key_type == KeyType::Agent
}

/// Ids are ours: 43 base64url characters. Anything else is not looked up at all.
fn plausible_id(id: &str) -> bool {
    id.len() == 43 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The stored form of a session id.
fn session_digest(id: &str) -> String {
    hex::encode(Sha256::digest(id.as_bytes()))
}

/// The CSRF token of the session `id`: a digest of the id under its own context, so it differs
/// from the stored digest and reveals nothing of the id.
pub fn csrf_token_for(id: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(CSRF_CONTEXT);
    hasher.update(id.as_bytes());
    hex::encode(hasher.finalize())
}

fn session_of(row: ConsoleSessionRow, key: ApiKey, id: &str) -> ConsoleSession {
    ConsoleSession {
        key,
        csrf_token: csrf_token_for(id),
        created_at: row.created_at,
        last_seen_at: row.last_seen_at,
        expires_at: row.expires_at,
        id: row.id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csrf_token_is_tied_to_the_session_and_is_not_its_digest() {
        let a = "a".repeat(43);
        let b = "b".repeat(43);
        assert_eq!(csrf_token_for(&a), csrf_token_for(&a));
        assert_ne!(csrf_token_for(&a), csrf_token_for(&b));
        assert_ne!(csrf_token_for(&a), session_digest(&a));
        assert_eq!(csrf_token_for(&a).len(), 64);
    }

    #[test]
    fn only_well_formed_ids_are_looked_up() {
        assert!(plausible_id(&"A-_9".repeat(10).chars().chain("xyz".chars()).collect::<String>()));
        assert!(!plausible_id("short"));
        assert!(!plausible_id(&"a".repeat(44)));
        assert!(!plausible_id(&format!("{}%", "a".repeat(42))));
    }

    #[test]
    fn activity_is_written_at_most_every_quarter_of_the_idle_expiry() {
        assert_eq!(SessionPolicy::with_idle_minutes(60).touch_interval(), TimeDelta::seconds(60));
        assert_eq!(SessionPolicy::with_idle_minutes(1).touch_interval(), TimeDelta::seconds(15));
        assert_eq!(SessionPolicy::with_idle_minutes(0).idle, TimeDelta::minutes(1));
    }
}
