//! `/v1/agents` (webhook consumers) and the alert's manual dispatch routes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_services::views::{self, agents::agent_view};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use utoipa::IntoParams;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ListQuery};
use calseta_services::params::{PageQuery, Paging};

/// List agents, newest first.
#[utoipa::path(get, path = "/v1/agents", tag = "agents", params(PageQuery), security(("api_key" = ["agents:read"])),
    responses((status = 200, description = "Agents", body = crate::envelope::ListEnvelope<crate::schemas::AgentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_agents(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsRead>,
    ListQuery(params): ListQuery<PageQuery>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let page = params.page(Paging::REST)?;
    let rows = state.services().agents.list().await?;
    let total = rows.len() as i64;
    let items = rows
        .iter()
        .skip(page.offset() as usize)
        .take(page.limit() as usize)
        .map(|a| agent_view(a, None))
        .collect();
    Ok(Json(ListEnvelope::new(items, total, page)))
}

/// Register an agent. `endpoint_url` must be a public address (or a host in `SSRF_ALLOWED_HOSTS`);
/// `"signing_secret": "generate"` creates a Standard Webhooks secret, returned once. Every enriched
/// alert whose source, severity and filter match is then `POST`ed to `endpoint_url`: the body is
/// the `AlertEnrichedPayload` (or, with `payload_profile: compact`, the `CompactPayload`) of the
/// components, signed with `webhook-id`, `webhook-timestamp` and `webhook-signature` when the agent
/// has a secret.
#[utoipa::path(post, path = "/v1/agents", tag = "agents",
    request_body(content = crate::shapes::AgentCreateBody, description = "name, endpoint_url, description, auth_header_name + auth_header_value, signing_secret (whsec_… or \"generate\"), trigger_on_sources, trigger_on_severities, trigger_filter, timeout_seconds (1–300), retry_count (0–10), is_active, documentation"),
    security(("api_key" = ["agents:write"])),
    responses((status = 201, description = "The agent", body = crate::envelope::Envelope<crate::schemas::AgentResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<(StatusCode, Json<Envelope<Value>>), ApiError> {
    let (agent, secret) = state.services().agents.create(body).await?;
    Ok((StatusCode::CREATED, Json(Envelope::new(agent_view(&agent, secret)))))
}

/// One agent (secrets are never returned).
#[utoipa::path(get, path = "/v1/agents/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Agent id")), security(("api_key" = ["agents:read"])),
    responses((status = 200, description = "The agent", body = crate::envelope::Envelope<crate::schemas::AgentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(agent_view(&state.services().agents.get(uuid).await?, None))))
}

/// Change an agent (explicit `null` clears the auth header, filter or signing secret).
#[utoipa::path(patch, path = "/v1/agents/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Agent id")),
    request_body(content = crate::shapes::AgentPatchBody, description = "Any fields of the create body"),
    security(("api_key" = ["agents:write"])),
    responses((status = 200, description = "The agent", body = crate::envelope::Envelope<crate::schemas::AgentResponse>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(body): ApiJson<Map<String, Value>>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    let (agent, secret) = state.services().agents.patch(uuid, body).await?;
    Ok(Json(Envelope::new(agent_view(&agent, secret))))
}

/// Delete an agent and its delivery history.
#[utoipa::path(delete, path = "/v1/agents/{uuid}", tag = "agents", params(("uuid" = Uuid, Path, description = "Agent id")), security(("api_key" = ["agents:write"])),
    responses((status = 204, description = "Deleted"), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    state.services().agents.delete(uuid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a synthetic, signed payload now and report the answer.
#[utoipa::path(post, path = "/v1/agents/{uuid}/test", tag = "agents", params(("uuid" = Uuid, Path, description = "Agent id")), security(("api_key" = ["agents:write"])),
    responses((status = 200, description = "{delivered, status_code, duration_ms, error}", body = crate::envelope::Envelope<crate::schemas::AgentTestResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<Value>>, ApiError> {
    Ok(Json(Envelope::new(state.services().agents.test(uuid).await?)))
}

/// The agent's delivery attempts, newest first.
#[utoipa::path(get, path = "/v1/agents/{uuid}/runs", tag = "agents", params(("uuid" = Uuid, Path, description = "Agent id"), PageQuery), security(("api_key" = ["agents:read"])),
    responses((status = 200, description = "Attempts", body = crate::envelope::ListEnvelope<crate::schemas::AgentRunResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn agent_runs(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ListQuery(params): ListQuery<PageQuery>,
) -> Result<Json<ListEnvelope<Value>>, ApiError> {
    let page = params.page(Paging::REST)?;
    let (rows, total) = state.services().agents.runs(uuid, page.limit(), page.offset()).await?;
    let items = rows.into_iter().map(|r| views::agents::agent_run_view(&r)).collect();
    Ok(Json(ListEnvelope::new(items, total, page)))
}

/// Queue a dispatch of the alert to every matching agent.
#[utoipa::path(post, path = "/v1/alerts/{uuid}/trigger-agents", tag = "alerts", params(("uuid" = Uuid, Path, description = "Alert id")), security(("api_key" = ["agents:write"])),
    responses((status = 202, description = "{queued_agent_count, agent_names}", body = crate::envelope::Envelope<crate::schemas::TriggerAgentsResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn trigger_agents(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let agents = state.services().agents.trigger(uuid).await?;
    let names: Vec<&str> = agents.iter().map(|a| a.name.as_str()).collect();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"data": {"queued_agent_count": names.len(), "agent_names": names}, "meta": {}})),
    ))
}

/// `?agent_uuid=`
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DispatchParams {
    /// The agent to deliver to (its trigger filters are bypassed).
    agent_uuid: Uuid,
}

/// Queue a delivery of the alert to one agent, bypassing its trigger filters.
#[utoipa::path(post, path = "/v1/alerts/{uuid}/dispatch-agent", tag = "alerts", params(("uuid" = Uuid, Path, description = "Alert id"), DispatchParams), security(("api_key" = ["agents:write"])),
    responses((status = 202, description = "{agent_uuid, agent_name, alert_uuid}", body = crate::envelope::Envelope<crate::schemas::DispatchAgentResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn dispatch_agent(
    State(state): State<AppState>,
    _auth: Authed<scope::AgentsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiQuery(params): ApiQuery<DispatchParams>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let agent = state.services().agents.dispatch_to(uuid, params.agent_uuid).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(
            json!({"data": {"agent_uuid": agent.uuid, "agent_name": agent.name, "alert_uuid": uuid}, "meta": {}}),
        ),
    ))
}
