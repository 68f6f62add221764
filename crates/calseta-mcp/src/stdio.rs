//! MCP over stdio for local clients (`calseta mcp-stdio`): one session on the process's stdin and
//! stdout, acting with the key it was started with.

use std::sync::Arc;

use calseta_services::Services;
use calseta_services::platform::rate_limit::RateLimits;
use rmcp::ServiceExt;

use crate::CalsetaMcp;
pub use crate::error::McpServeError;

/// Serves one client on stdin/stdout until it disconnects. The key is checked first, so a wrong
/// key fails at start with a clear message rather than on the first call.
pub async fn serve(
    services: Arc<Services>,
    api_key: &str,
    version: String,
    limits: RateLimits,
) -> Result<(), McpServeError> {
    if let Err(failure) = services.keys.authenticate(Some(api_key)).await {
        return Err(McpServeError::Key(crate::error::McpFailure::Unauthenticated(failure).into_message()));
    }
    let server = CalsetaMcp::for_key(services, api_key, version, limits);
    let running =
        server.serve(rmcp::transport::stdio()).await.map_err(|e| McpServeError::Session(e.to_string()))?;
    running.waiting().await.map_err(|e| McpServeError::Session(e.to_string()))?;
    Ok(())
}
