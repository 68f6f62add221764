//! `GET /metrics`: this process's Prometheus exposition, in the Prometheus text format 0.0.4 or
//! OpenMetrics as the scraper's `Accept` prefers. Open unless `METRICS_TOKEN` is set, then only
//! with `Authorization: Bearer <token>`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calseta_services::platform::telemetry::Format;
use subtle::ConstantTimeEq;

use crate::AppState;
use crate::error::ApiError;

/// The exposition.
pub async fn prometheus(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = state.settings().metrics_token.as_deref() {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "UNAUTHORIZED",
                "Metrics need the METRICS_TOKEN bearer token.",
            ));
        }
    }
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    let services = state.services();
    // This scrape's own series exist from the first scrape, at zero until a scrape completes.
    services.telemetry.http_series("GET", "/metrics", 200);
    let text = services.metrics.prometheus(&services.telemetry, format).await?;
    Ok(([(header::CONTENT_TYPE, format.content_type())], text).into_response())
}
