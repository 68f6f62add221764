//! The `Authed<S>` extractor: bearer-key authentication, scope check, per-key rate limit, and one
//! structured `auth_failure` log line per refusal.

use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, MatchedPath};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use calseta_core::scopes::Scope;
use calseta_services::ServiceError;
use calseta_services::resources::api_keys::{ApiKey, AuthFailure, Refusal};
use serde_json::json;

use crate::AppState;
use crate::error::ApiError;
use crate::middleware::ClientIp;

/// A scope a route requires, as a type.
pub trait RequiredScope: Send + Sync + 'static {
    /// The scope.
    const SCOPE: Scope;
}

/// Marker types for [`Authed`].
pub mod scope {
    use super::{RequiredScope, Scope};

    macro_rules! scopes {
        ($($name:ident => $scope:expr),* $(,)?) => {$(
            #[doc = concat!("Requires `", stringify!($name), "`.")]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = $scope;
            }
        )*};
    }

    scopes! {
        AlertsRead => Scope::AlertsRead,
        AlertsIngest => Scope::AlertsIngest,
        AlertsWrite => Scope::AlertsWrite,
        EnrichmentsRead => Scope::EnrichmentsRead,
        WorkflowsRead => Scope::WorkflowsRead,
        WorkflowsWrite => Scope::WorkflowsWrite,
        WorkflowsExecute => Scope::WorkflowsExecute,
        ApprovalsWrite => Scope::ApprovalsWrite,
        AgentsRead => Scope::AgentsRead,
        AgentsWrite => Scope::AgentsWrite,
        Admin => Scope::Admin,
    }
}

/// An authenticated caller holding scope `S` (or `admin`).
pub struct Authed<S> {
    /// The caller's key.
    pub key: Arc<ApiKey>,
    _scope: PhantomData<S>,
}

/// Which per-minute limit a route falls under.
fn route_limit(state: &AppState, method: &Method, route: &str) -> u32 {
    let limits = &state.settings().rate_limits;
    if route.starts_with("/v1/ingest/") || (route == "/v1/alerts" && method == Method::POST) {
        limits.ingest
    } else if route == "/v1/enrichments"
        || route.ends_with("/enrich")
        || (route.starts_with("/v1/enrichment-providers/") && route.ends_with("/test"))
    {
        limits.enrichment
    } else if route.starts_with("/v1/workflows/")
        && (route.ends_with("/execute") || (route.ends_with("/test") && method == Method::POST))
    {
        // A test runs the workflow in the sandbox now, as costly as a run: the same limit.
        limits.workflow_execute
    } else {
        limits.authed
    }
}

fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value.strip_prefix("Bearer ")
}

/// Where the caller's key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeySource {
    Header,
    Query,
}

/// Authenticates `token`, checks `scope` (`None`: any key will do) and the route's rate limit.
async fn authorize(
    parts: &Parts,
    state: &AppState,
    scope: Option<Scope>,
    token: Option<&str>,
    source: KeySource,
) -> Result<Arc<ApiKey>, ApiError> {
    let ip = parts.extensions.get::<ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
    let unauthed_limit = state.settings().rate_limits.unauthed;
    let key = match state.keys().authenticate_from(token, &ip, state.limiter(), unauthed_limit).await {
        Ok(key) => key,
        Err(Refusal::Throttled { retry_after }) => {
            return Err(ServiceError::RateLimited { retry_after: Duration::from_secs(retry_after) }.into());
        }
        Err(Refusal::Failed(failure)) => {
            let key_prefix: String = token.map(|t| t.chars().take(8).collect()).unwrap_or_default();
            tracing::warn!(
                reason = failure.reason(),
                method = %parts.method,
                path = parts.uri.path(),
                key_prefix = %key_prefix,
                required_scope = scope.map_or("any", Scope::as_str),
                client_ip = %ip,
                "auth_failure"
            );
            return Err(match failure {
                AuthFailure::MissingHeader => ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "UNAUTHORIZED",
                    "Missing or invalid Authorization header. Expected: Bearer cai_...",
                ),
                AuthFailure::InvalidFormat => {
                    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Invalid API key format.")
                }
                AuthFailure::KeyExpired => {
                    ApiError::new(StatusCode::UNAUTHORIZED, "KEY_EXPIRED", "API key has expired.")
                }
                AuthFailure::InvalidKey => {
                    ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", "Invalid API key.")
                }
                // The key could not be looked up (the database is away): a retry may succeed.
                AuthFailure::Unavailable => ApiError::from(calseta_services::ServiceError::Unavailable(
                    "The database is unavailable; retry shortly.".into(),
                )),
            });
        }
    };

    let deny = |reason: &str, message: String| {
        let required = scope.map_or("any", Scope::as_str);
        tracing::warn!(
            reason,
            method = %parts.method,
            path = parts.uri.path(),
            key_prefix = %key.key_prefix,
            required_scope = required,
            client_ip = %ip,
            "auth_failure"
        );
        ApiError::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
            .with_details(json!({ "required_scopes": scope.map(|s| vec![s.as_str()]).unwrap_or_default() }))
    };
    if let Some(scope) = scope
        && !key.allows(scope)
    {
        return Err(deny("insufficient_scope", format!("Insufficient scope. Required: {scope}")));
    }
    // A key in a URL ends up in proxy logs and browser history: only an ingest-only key may travel
    // that way, so a leaked one can do nothing but submit alerts.
    if source == KeySource::Query && key.scopes.iter().any(|s| s != Scope::AlertsIngest.as_str()) {
        return Err(deny(
            "query_key_too_broad",
            "An API key passed as ?api_key= must hold only the alerts:ingest scope.".into(),
        ));
    }

    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string())
        .unwrap_or_else(|| parts.uri.path().to_string());
    let limit = route_limit(state, &parts.method, &route);
    let bucket = format!("{} {}|{}", parts.method, route, key.uuid);
    if let Err(retry_after) = state.limiter().hit(&bucket, limit) {
        return Err(ServiceError::RateLimited { retry_after: Duration::from_secs(retry_after) }.into());
    }
    Ok(key)
}

impl<S: RequiredScope> FromRequestParts<AppState> for Authed<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).map(str::to_string);
        let key = authorize(parts, state, Some(S::SCOPE), token.as_deref(), KeySource::Header).await?;
        Ok(Authed { key, _scope: PhantomData })
    }
}

/// An authenticated caller, whatever its scopes: for routes about the caller's own key.
pub struct AnyKey {
    /// The caller's key.
    pub key: Arc<ApiKey>,
}

impl FromRequestParts<AppState> for AnyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts).map(str::to_string);
        let key = authorize(parts, state, None, token.as_deref(), KeySource::Header).await?;
        Ok(AnyKey { key })
    }
}

/// The caller of an ingest route: `alerts:ingest` (or `alerts:write`, which implies it), by bearer
/// header or — for senders that cannot set headers — a key holding only `alerts:ingest` in
/// `?api_key=` (redacted from logs: the access log never records query strings).
pub struct IngestAuthed {
    /// The caller's key.
    pub key: Arc<ApiKey>,
}

fn query_api_key(parts: &Parts) -> Option<String> {
    let query = parts.uri.query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "api_key").map(|(_, v)| v.into_owned())
}

impl FromRequestParts<AppState> for IngestAuthed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let (token, source) = match (parts.headers.contains_key(header::AUTHORIZATION), query_api_key(parts))
        {
            (false, Some(key)) => (Some(key), KeySource::Query),
            _ => (bearer_token(parts).map(str::to_string), KeySource::Header),
        };
        let key = authorize(parts, state, Some(Scope::AlertsIngest), token.as_deref(), source).await?;
        Ok(IngestAuthed { key })
    }
}
