//! `/v1/alerts/{uuid}/payload`: the `alert.enriched` payload an agent would receive now.

use axum::Json;
use axum::extract::State;
use calseta_services::params::PayloadQuery;
use serde_json::Value;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiPath, ListQuery};

/// The `alert.enriched` payload an agent would receive for this alert now, in either profile —
/// the same body every webhook delivery to an agent carries (its agent's `payload_profile`).
#[utoipa::path(get, path = "/v1/alerts/{uuid}/payload", tag = "agents",
    params(("uuid" = Uuid, Path, description = "Alert id"), PayloadQuery),
    security(("api_key" = ["alerts:read"])),
    responses((status = 200, description = "The payload (not enveloped, as agents receive it): `AlertEnrichedPayload`, or with `profile=compact` the `CompactPayload` of the components", body = calseta_services::views::payload::AlertEnrichedPayload),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn alert_payload(
    State(state): State<AppState>,
    _auth: Authed<scope::AlertsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ListQuery(query): ListQuery<PayloadQuery>,
) -> Result<Json<Value>, ApiError> {
    // Sent empty, the typed parameter is invalid (422), not absent: the service refuses it.
    Ok(Json(state.services().dispatch.payload(uuid, query.profile()).await?))
}
