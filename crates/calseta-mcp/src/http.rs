//! Streamable HTTP at `/mcp`. Stateless: no session outlives its request, so any process behind a
//! load balancer can answer any request, and the very first request after start is served like
//! every other. The caller's key is authenticated on every request before the SDK reads it.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::{self, Next};
use axum::response::Response;
use calseta_services::platform::rate_limit::{ClientIp, RateLimits};
use calseta_services::resources::api_keys::Refusal;
use calseta_services::{ServiceError, Services};
use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};

use crate::CalsetaMcp;
use crate::caller::AuthenticatedKey;
use crate::error::McpFailure;

/// Where MCP is served, on the API port and on `MCP_PORT`.
pub const PATH: &str = "/mcp";

/// The `/mcp` router over `services`; `version` is announced to clients, `limits` are REST's.
pub fn router(services: Arc<Services>, version: String, limits: RateLimits) -> Router {
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
        move || Ok(CalsetaMcp::for_http(handler_services.clone(), version.clone(), limits)),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    let state = Gate { services, unauthed_limit: limits.unauthed };
    Router::new().route_service(PATH, service).layer(middleware::from_fn_with_state(state, authenticate))
}

/// What the authentication layer needs.
#[derive(Clone)]
struct Gate {
    services: Arc<Services>,
    /// Failed authentications per client address and minute, counted with REST's.
    unauthed_limit: u32,
}

/// Authenticates the bearer key of every request (v1: every connection), refusing in REST's
/// envelope; the key travels to the handler as a request extension. Failed keys count against the
/// client address as on REST, so keys cannot be guessed here faster than there.
async fn authenticate(State(gate): State<Gate>, mut request: Request, next: Next) -> Response {
    let ip = request.extensions().get::<ClientIp>().map(|c| c.0.to_string()).unwrap_or_default();
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let keys = &gate.services.keys;
    match keys.authenticate_from(token.as_deref(), &ip, &gate.services.limiter, gate.unauthed_limit).await {
        Ok(key) => {
            request.extensions_mut().insert(AuthenticatedKey(key));
            next.run(request).await
        }
        Err(Refusal::Throttled { retry_after }) => {
            let limited =
                ServiceError::RateLimited { retry_after: std::time::Duration::from_secs(retry_after) };
            McpFailure::Service(limited).into_http_response()
        }
        Err(Refusal::Failed(failure)) => {
            let key_prefix: String = token.map(|t| t.chars().take(8).collect()).unwrap_or_default();
            tracing::warn!(
                reason = failure.reason(),
                method = %request.method(),
                path = PATH,
                key_prefix = %key_prefix,
                client_ip = %ip,
                "auth_failure"
            );
            McpFailure::Unauthenticated(failure).into_http_response()
        }
    }
}
