//! `GET /metrics`: this process's Prometheus exposition (OpenMetrics text). Open unless
//! `METRICS_TOKEN` is set, then only with `Authorization: Bearer <token>`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use calseta_services::platform::telemetry::CONTENT_TYPE;
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
    let services = state.services();
    let text = services.metrics.prometheus(&services.telemetry).await?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}
