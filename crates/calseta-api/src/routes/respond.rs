//! Executing workflows (`…/execute`), their runs (`…/runs`, `/v1/workflow-runs`) and the approval
//! gate over REST (`/v1/workflow-approvals`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use calseta_core::api_keys::KeyType;
use calseta_services::audit::Actor;
use calseta_services::pipeline::respond::test_mode::TestRequest;
use calseta_services::pipeline::respond::{Caller, Decider, Decision, ExecuteRequest, Execution};
use calseta_services::records::RunRow;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::AppState;
use crate::auth::{Authed, scope};
use crate::envelope::{Envelope, ListEnvelope};
use crate::error::{ApiError, ErrorBody};
use crate::extract::{ApiBody, ApiJson, ApiPath, ListQuery, parse_json};
use calseta_services::params::{Paging, RunSearch};
use calseta_services::views::workflows::ApprovalResponse;

/// Body of `POST /v1/workflows/{uuid}/execute`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ExecuteBody {
    #[schema(schema_with = crate::shapes::indicator_type)]
    indicator_type: String,
    #[schema(
        min_length = 1,
        pattern = r"[^\t\n\v\f\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
    )]
    indicator_value: String,
    /// The alert the workflow acts for.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = Uuid, pattern = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")]
    alert_uuid: Option<Uuid>,
    /// Required of agent keys.
    #[serde(default)]
    reason: Option<String>,
    /// 0.0 to 1.0; required of agent keys.
    #[serde(default)]
    #[schema(minimum = 0.0, maximum = 1.0)]
    confidence: Option<f64>,
}

/// Execute a workflow: `202` with a queued run, or with a pending approval when the workflow's
/// approval mode asks for a human decision.
#[utoipa::path(post, path = "/v1/workflows/{uuid}/execute", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    request_body = ExecuteBody,
    security(("api_key" = ["workflows:execute"])),
    responses((status = 202, description = "`{run_uuid, status: queued}` or `{status: pending_approval, approval_request_uuid, expires_at}`", body = crate::envelope::Envelope<crate::schemas::ExecuteResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn execute_workflow(
    State(state): State<AppState>,
    auth: Authed<scope::WorkflowsExecute>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<ExecuteBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let caller = Caller {
        key_prefix: auth.key.key_prefix.clone(),
        by_agent: auth.key.key_type == KeyType::Agent,
        actor_type: "api",
        explain_always: true,
    };
    let request = ExecuteRequest {
        indicator_type: b.indicator_type,
        indicator_value: b.indicator_value,
        alert_uuid: b.alert_uuid,
        reason: b.reason,
        confidence: b.confidence,
    };
    let body = match state.services().respond.execute(uuid, request, &caller).await? {
        Execution::Queued { run_uuid } => {
            json!({"data": {"run_uuid": run_uuid, "status": "queued"}, "meta": {}})
        }
        // Every success envelope carries `meta` (v1 omitted it here).
        Execution::PendingApproval { approval_uuid, expires_at } => json!({"data": {
            "status": "pending_approval", "approval_request_uuid": approval_uuid, "expires_at": expires_at},
            "meta": {}}),
    };
    Ok((StatusCode::ACCEPTED, Json(body)))
}

fn default_test_type() -> String {
    "ip".into()
}

fn default_test_value() -> String {
    "1.2.3.4".into()
}

/// Body of `POST /v1/workflows/{uuid}/test`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct TestBody {
    /// The synthetic indicator's type.
    #[serde(default = "default_test_type")]
    #[schema(schema_with = crate::shapes::indicator_type, default = "ip")]
    indicator_type: String,
    /// Its value.
    #[serde(default = "default_test_value")]
    #[schema(min_length = 1, default = "1.2.3.4")]
    indicator_value: String,
    /// Mock answers keyed by `"METHOD URL-pattern"` (`*` matches anything), each
    /// `{"status", "json" | "text", "headers"}`; or, as v1, one JSON body for every request.
    #[serde(default)]
    #[schema(value_type = Object)]
    mock_http_responses: Option<Value>,
    /// Real HTTP through the SSRF-safe client instead of mocks.
    #[serde(default)]
    live_http: Option<bool>,
}

/// Run a workflow once in test mode: the same sandbox, a synthetic indicator, mocked HTTP (or
/// live, SSRF-checked) and mocked identity integrations. Nothing is stored.
#[utoipa::path(post, path = "/v1/workflows/{uuid}/test", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id")),
    request_body = TestBody,
    security(("api_key" = ["workflows:execute"])),
    responses((status = 200, description = "`{success, message, log_output, duration_ms, result_data}`", body = crate::envelope::Envelope<crate::schemas::WorkflowTestResponse>),
        (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn test_workflow(
    State(state): State<AppState>,
    auth: Authed<scope::WorkflowsExecute>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiJson(b): ApiJson<TestBody>,
) -> Result<Json<Value>, ApiError> {
    let request = TestRequest {
        indicator_type: b.indicator_type,
        indicator_value: b.indicator_value,
        mock_http_responses: b.mock_http_responses.unwrap_or_else(|| json!({})),
        live_http: b.live_http.unwrap_or(false),
    };
    let caller = Caller {
        key_prefix: auth.key.key_prefix.clone(),
        by_agent: auth.key.key_type == KeyType::Agent,
        actor_type: "api",
        explain_always: true,
    };
    let outcome = state.services().workflow_tests.test(uuid, request, &caller).await?;
    Ok(Json(
        json!({"data": {"success": outcome.success, "message": outcome.message, "log_output": outcome.log_output,
                            "duration_ms": outcome.duration_ms, "result_data": outcome.result_data}, "meta": {}}),
    ))
}

/// A workflow run.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkflowRunResponse {
    uuid: Uuid,
    workflow_id: i64,
    trigger_type: String,
    #[schema(value_type = Object)]
    trigger_context: Value,
    code_version_executed: i32,
    /// queued, success, failed, timed_out
    status: String,
    attempt_count: i32,
    /// One JSON log entry per line.
    log_output: Option<String>,
    /// `{success, message, data}`.
    #[schema(value_type = Object)]
    result: Value,
    duration_ms: Option<i32>,
    started_at: Option<DateTime<Utc>>,
    completed_at: Option<DateTime<Utc>>,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<RunRow> for WorkflowRunResponse {
    fn from(r: RunRow) -> Self {
        WorkflowRunResponse {
            uuid: r.uuid,
            workflow_id: r.workflow_id,
            trigger_type: r.trigger_type.to_string(),
            trigger_context: r.trigger_context.map(|c| c.0).unwrap_or(Value::Null),
            code_version_executed: r.code_version_executed,
            status: r.status.to_string(),
            attempt_count: r.attempt_count,
            log_output: r.log_output,
            result: r.result.map(|c| c.0).unwrap_or(Value::Null),
            duration_ms: r.duration_ms,
            started_at: r.started_at,
            completed_at: r.completed_at,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// A workflow's runs, newest first.
#[utoipa::path(get, path = "/v1/workflows/{uuid}/runs", tag = "workflows", params(("uuid" = Uuid, Path, description = "Workflow id"), RunSearch),
    security(("api_key" = ["workflows:read"])),
    responses((status = 200, body = ListEnvelope<WorkflowRunResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn workflow_runs(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ApiPath(uuid): ApiPath<Uuid>,
    ListQuery(search): ListQuery<RunSearch>,
) -> Result<Json<ListEnvelope<WorkflowRunResponse>>, ApiError> {
    let (status, page) = (search.status(), search.page(Paging::REST)?);
    let (rows, total) =
        state.services().respond.runs(Some(uuid), status.as_deref(), page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// Every workflow's runs, newest first.
#[utoipa::path(get, path = "/v1/workflow-runs", tag = "workflows", params(RunSearch),
    security(("api_key" = ["workflows:read"])),
    responses((status = 200, body = ListEnvelope<WorkflowRunResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn all_runs(
    State(state): State<AppState>,
    _auth: Authed<scope::WorkflowsRead>,
    ListQuery(search): ListQuery<RunSearch>,
) -> Result<Json<ListEnvelope<WorkflowRunResponse>>, ApiError> {
    let (status, workflow) = (search.status(), search.workflow_uuid);
    let page = search.page(Paging::REST)?;
    let (rows, total) =
        state.services().respond.runs(workflow, status.as_deref(), page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// Approval requests, newest first (past their expiry they read as `expired`).
#[utoipa::path(get, path = "/v1/workflow-approvals", tag = "workflows", params(RunSearch),
    security(("api_key" = ["approvals:write"])),
    responses((status = 200, body = ListEnvelope<ApprovalResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list_approvals(
    State(state): State<AppState>,
    _auth: Authed<scope::ApprovalsWrite>,
    ListQuery(search): ListQuery<RunSearch>,
) -> Result<Json<ListEnvelope<ApprovalResponse>>, ApiError> {
    let (status, workflow) = (search.status(), search.workflow_uuid);
    let page = search.page(Paging::REST)?;
    let (rows, total) =
        state.services().respond.approvals(status.as_deref(), workflow, page.limit(), page.offset()).await?;
    Ok(Json(ListEnvelope::new(rows.into_iter().map(Into::into).collect(), total, page)))
}

/// One approval request.
#[utoipa::path(get, path = "/v1/workflow-approvals/{uuid}", tag = "workflows", params(("uuid" = Uuid, Path, description = "Approval request id")),
    security(("api_key" = ["approvals:write"])),
    responses((status = 200, body = Envelope<ApprovalResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_approval(
    State(state): State<AppState>,
    _auth: Authed<scope::ApprovalsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
) -> Result<Json<Envelope<ApprovalResponse>>, ApiError> {
    Ok(Json(Envelope::new(state.services().respond.approval(uuid).await?.into())))
}

/// Optional body of a decision.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct DecisionBody {
    /// Who decided (default: the caller's key prefix).
    #[serde(default)]
    #[schema(max_length = 255)]
    responder_id: Option<String>,
    /// The approver's note (v1's `reason`), recorded in the activity log.
    #[serde(default)]
    reason: Option<String>,
}

async fn decide(
    state: &AppState,
    key: &calseta_services::resources::api_keys::ApiKey,
    uuid: Uuid,
    decision: Decision,
    raw: &[u8],
) -> Result<Json<Envelope<ApprovalResponse>>, ApiError> {
    // The body is optional: empty, or `null`, means the defaults.
    let body: DecisionBody = if raw.iter().all(u8::is_ascii_whitespace) {
        DecisionBody::default()
    } else {
        parse_json::<Option<DecisionBody>>(raw)?.unwrap_or_default()
    };
    let responder =
        body.responder_id.filter(|r| !r.trim().is_empty()).unwrap_or_else(|| key.key_prefix.clone());
    let row = state
        .services()
        .respond
        .decide(
            uuid,
            decision,
            Decider {
                responder_id: &responder,
                actor: &Actor::api(key),
                by_agent: key.key_type == KeyType::Agent,
                via: "rest",
                note: body.reason.as_deref(),
                four_eyes: false,
            },
        )
        .await?;
    Ok(Json(Envelope::new(row.into())))
}

/// Approve: the run is queued at once, exactly once.
#[utoipa::path(post, path = "/v1/workflow-approvals/{uuid}/approve", tag = "workflows", params(("uuid" = Uuid, Path, description = "Approval request id")),
    request_body(content = Option<DecisionBody>, description = "Optional"),
    security(("api_key" = ["approvals:write"])),
    responses((status = 200, body = Envelope<ApprovalResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve(
    State(state): State<AppState>,
    auth: Authed<scope::ApprovalsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiBody(body): ApiBody,
) -> Result<Json<Envelope<ApprovalResponse>>, ApiError> {
    decide(&state, &auth.key, uuid, Decision::Approve, &body).await
}

/// Reject: nothing runs.
#[utoipa::path(post, path = "/v1/workflow-approvals/{uuid}/reject", tag = "workflows", params(("uuid" = Uuid, Path, description = "Approval request id")),
    request_body(content = Option<DecisionBody>, description = "Optional"),
    security(("api_key" = ["approvals:write"])),
    responses((status = 200, body = Envelope<ApprovalResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn reject(
    State(state): State<AppState>,
    auth: Authed<scope::ApprovalsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiBody(body): ApiBody,
) -> Result<Json<Envelope<ApprovalResponse>>, ApiError> {
    decide(&state, &auth.key, uuid, Decision::Reject, &body).await
}

/// Cancel a pending request (Calseta addition): nothing runs.
#[utoipa::path(post, path = "/v1/workflow-approvals/{uuid}/cancel", tag = "workflows", params(("uuid" = Uuid, Path, description = "Approval request id")),
    request_body(content = Option<DecisionBody>, description = "Optional"),
    security(("api_key" = ["approvals:write"])),
    responses((status = 200, body = Envelope<ApprovalResponse>), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn cancel(
    State(state): State<AppState>,
    auth: Authed<scope::ApprovalsWrite>,
    ApiPath(uuid): ApiPath<Uuid>,
    ApiBody(body): ApiBody,
) -> Result<Json<Envelope<ApprovalResponse>>, ApiError> {
    decide(&state, &auth.key, uuid, Decision::Cancel, &body).await
}
