//! Streamable HTTP at `/mcp`. Stateless: no session outlives its request, so any process behind a
//! load balancer can answer any request, and the very first request after start is served like
//! every other. The caller's key is authenticated on every request before the SDK reads it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use calseta_services::Services;
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::CalsetaMcp;
use crate::caller::AuthenticatedKey;
use crate::error::McpFailure;

/// Where MCP is served, on the API port and on `MCP_PORT`.
pub const PATH: &str = "/mcp";

/// The `/mcp` router over `services`; `version` is announced to clients.
pub fn router(services: Arc<Services>, version: String) -> Router {
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(None)
        // The SDK's Host check guards unauthenticated local servers against DNS rebinding. Every
        // request here must carry a Calseta key, which a rebinding page cannot have, and the check
        // would refuse a deployment reached by its own name.
        .disable_allowed_hosts();
    let handler_services = services.clone();
    let service = StreamableHttpService::new(
        move || Ok(CalsetaMcp::for_http(handler_services.clone(), version.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    Router::new().route_service(PATH, service).layer(middleware::from_fn_with_state(services, authenticate))
}

/// Authenticates the bearer key of every request (v1: every connection), refusing in REST's
/// envelope; the key travels to the handler as a request extension.
async fn authenticate(State(services): State<Arc<Services>>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    match services.keys.authenticate(token.as_deref()).await {
        Ok(key) => {
            request.extensions_mut().insert(AuthenticatedKey(key));
            next.run(request).await
        }
        Err(failure) => {
            let key_prefix: String = token.map(|t| t.chars().take(8).collect()).unwrap_or_default();
            tracing::warn!(reason = failure.reason(), path = PATH, key_prefix = %key_prefix, "auth_failure");
            McpFailure::Unauthenticated(failure).into_http_response()
        }
    }
}
