//! `/v1/indicators/{uuid}`: indicator detail (with raw provider responses) and the analyst verdict.

use axum::Json;
use axum::extract::State;
use calseta_core::alerts::Malice;
use calseta_services::audit::Actor;
use serde::Deserialize;
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::Envelope;
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath};
use calseta_services::views::records::IndicatorResponse;

/// One indicator, its `enrichment_results` including each provider's raw response.
#[utoipa::path(
    get,
    path = "/v1/indicators/{uuid}",
    tag = "indicators",
    params(("uuid" = Uuid, Path, description = "Indicator id")),
    security(("api_key" = ["enrichments:read"])),
    responses((status = 200, body = Envelope<IndicatorResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody))
)]
pub async fn get_indicator(
    State(state): State<AppState>,
    _auth: Authed<scope::EnrichmentsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<IndicatorResponse>>, ApiError> {
    let row = state.services().indicators.get(uuid).await?;
    Ok(Json(Envelope::new(IndicatorResponse::from_row(row, true))))
}

/// Body of `PATCH /v1/indicators/{uuid}`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct IndicatorPatchRequest {
    /// A verdict sets a sticky analyst override; `null` resets to the providers' verdict;
    /// omitting the field changes nothing.
    #[serde(default, deserialize_with = "crate::serde_util::double_option")]
    #[schema(schema_with = crate::shapes::malice_or_null)]
    malice: Option<Option<Value>>,
}

/// Set or reset the analyst's verdict.
#[utoipa::path(
    patch,
    path = "/v1/indicators/{uuid}",
    tag = "indicators",
    params(("uuid" = Uuid, Path, description = "Indicator id")),
    request_body = IndicatorPatchRequest,
    security(("api_key" = ["alerts:write"])),
    responses((status = 200, body = Envelope<IndicatorResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody))
)]
pub async fn patch_indicator(
    State(state): State<AppState>,
    auth: Authed<scope::AlertsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<IndicatorPatchRequest>,
) -> Result<Json<Envelope<IndicatorResponse>>, ApiError> {
    let service = &state.services().indicators;
    let row = match body.malice {
        None => service.get(uuid).await?,
        Some(None) => service.set_malice(uuid, None, &Actor::api(&auth.key)).await?,
        Some(Some(value)) => {
            let verdict = value.as_str().and_then(|s| Malice::parse(s).ok()).ok_or_else(|| {
                calseta_services::ServiceError::invalid(
                    "malice",
                    "malice must be Pending, Benign, Suspicious, Malicious or null",
                )
            })?;
            service.set_malice(uuid, Some(verdict), &Actor::api(&auth.key)).await?
        }
    };
    Ok(Json(Envelope::new(IndicatorResponse::from_row(row, false))))
}
