//! Who is calling, checked on every resource read and tool call: the key the HTTP layer
//! authenticated for this request, or the key `calseta mcp-stdio` was started with, authenticated
//! again each time so that revoking or expiring it takes effect at once.

use std::sync::Arc;

use calseta_core::scopes::Scope;
use calseta_services::Services;
use calseta_services::resources::api_keys::{ApiKey, AuthFailure};
use rmcp::RoleServer;
use rmcp::service::RequestContext;

use crate::error::McpFailure;

/// Where a server instance finds its caller's key.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// In the HTTP request, put there by the HTTP layer as an [`AuthenticatedKey`].
    Http,
    /// The plain key a stdio server was started with.
    Token(Arc<str>),
}

/// The key an HTTP request authenticated with (a request extension set by `http.rs`).
#[derive(Clone)]
pub(crate) struct AuthenticatedKey(pub(crate) Arc<ApiKey>);

/// The caller's key, whatever it may do (listings need only a valid key).
pub(crate) async fn authenticate(
    services: &Services,
    credentials: &Credentials,
    context: &RequestContext<RoleServer>,
    what: &str,
) -> Result<Arc<ApiKey>, McpFailure> {
    let key = match credentials {
        Credentials::Http => context
            .extensions
            .get::<http::request::Parts>()
            .and_then(|parts| parts.extensions.get::<AuthenticatedKey>())
            .map(|k| k.0.clone())
            .ok_or(AuthFailure::MissingHeader),
        Credentials::Token(token) => services.keys.authenticate(Some(token)).await,
    };
    key.map_err(|failure| {
        tracing::warn!(reason = failure.reason(), mcp = what, "auth_failure");
        McpFailure::Unauthenticated(failure)
    })
}

/// The caller's key, if it holds `scope` (or `admin`); `what` names the call in the log line.
pub(crate) async fn authorize(
    services: &Services,
    credentials: &Credentials,
    context: &RequestContext<RoleServer>,
    scope: Scope,
    what: &str,
) -> Result<Arc<ApiKey>, McpFailure> {
    let key = authenticate(services, credentials, context, what).await?;
    if !key.allows(scope) {
        tracing::warn!(
            reason = "insufficient_scope",
            mcp = what,
            key_prefix = %key.key_prefix,
            required_scope = scope.as_str(),
            "auth_failure"
        );
        return Err(McpFailure::Forbidden(scope));
    }
    Ok(key)
}
