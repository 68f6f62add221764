//! What approvers reach without an API key: the browser decide page behind the link in the
//! notification (its token is the credential; a GET only shows, a POST decides), and the Slack and
//! Teams callbacks. Pages are plain HTML with every value escaped and no third-party asset.

use std::fmt::Write as _;
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use calseta_core::workflows::ApprovalStatus;
use calseta_services::ServiceError;
use calseta_services::pipeline::respond::Decision;
use calseta_services::records::ApprovalRow;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::AppState;
use crate::error::ApiError;
use crate::extract::ApiBody;
use crate::middleware::ClientIp;

/// Escapes text for HTML element content and quoted attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;background:#f4f5f7;color:#1d2330;margin:0}\
main{max-width:560px;margin:48px auto;background:#fff;border-radius:10px;padding:28px 32px;box-shadow:0 1px 4px rgba(0,0,0,.12)}\
h1{font-size:20px;margin:0 0 16px}dl{display:grid;grid-template-columns:max-content 1fr;gap:8px 16px;margin:0 0 20px}\
dt{color:#5b6475}dd{margin:0;word-break:break-all}.pill{display:inline-block;padding:2px 10px;border-radius:999px;font-size:12px;\
font-weight:600;text-transform:uppercase;margin-bottom:12px}.low{background:#e3f5e8;color:#1b6e35}.medium{background:#fff4d6;color:#8a5a00}\
.high{background:#ffe3d6;color:#a33a00}.critical{background:#ffd9dc;color:#a1121f}blockquote{margin:0 0 20px;padding:10px 14px;\
background:#f4f5f7;border-left:3px solid #c5cad3;white-space:pre-wrap}button{font-size:15px;padding:9px 22px;border-radius:6px;border:0;\
cursor:pointer;margin-right:10px}.approve{background:#1f7a3f;color:#fff}.reject{background:#b3261e;color:#fff}";

/// A complete page with `status`.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width, initial-scale=1\"><meta name=\"robots\" content=\"noindex\">\
         <title>{} · Calseta</title><style>{STYLE}</style></head><body><main>{body}</main></body></html>",
        escape(title)
    );
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    // The link's token is in the URL: the page is never cached, by the browser or anything between.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn message_page(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, title, &format!("<h1>{}</h1><p>{}</p>", escape(title), escape(message)))
}

/// The page for a request that cannot be decided any more.
fn settled_page(row: &ApprovalRow) -> Response {
    if row.status == ApprovalStatus::Expired {
        message_page(StatusCode::OK, "Approval expired", "This approval request has expired.")
    } else {
        message_page(
            StatusCode::OK,
            "Already decided",
            &format!("This approval request has already been {}.", row.status),
        )
    }
}

/// The decision form of a pending request.
fn decide_form(row: &ApprovalRow, token: &str) -> Response {
    let context = row.trigger_context.as_ref().map(|c| c.0.clone()).unwrap_or_default();
    let text = |key: &str| context.get(key).and_then(Value::as_str).unwrap_or_default().to_string();
    let risk = row.workflow_risk_level.as_str();
    let risk_class = risk;
    let mut body = String::new();
    let _ = write!(
        body,
        "<span class=\"pill {risk_class}\">{} risk</span><h1>Approve workflow: {}</h1><dl>\
         <dt>Indicator</dt><dd>{}: {}</dd><dt>Requested by</dt><dd>{} ({})</dd><dt>Confidence</dt><dd>{:.0}%</dd>\
         <dt>Risk</dt><dd>{}</dd><dt>Expires</dt><dd>{}</dd></dl><p>Reason given:</p><blockquote>{}</blockquote>\
         <form method=\"post\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
         <button class=\"approve\" type=\"submit\" name=\"decision\" value=\"approve\">Approve</button>\
         <button class=\"reject\" type=\"submit\" name=\"decision\" value=\"reject\">Reject</button></form>",
        escape(risk),
        escape(&row.workflow_name),
        escape(&text("indicator_type")),
        escape(&text("indicator_value")),
        escape(row.trigger_type.as_str()),
        escape(&row.trigger_agent_key_prefix),
        row.confidence * 100.0,
        escape(row.workflow_risk_level.as_str()),
        escape(&row.expires_at.format("%Y-%m-%d %H:%M UTC").to_string()),
        escape(if row.reason.is_empty() { "(none given)" } else { &row.reason }),
        escape(token),
    );
    page(StatusCode::OK, &format!("Approve {}", row.workflow_name), &body)
}

/// The page for an error of the decide flow.
fn error_page(e: ServiceError) -> Response {
    match e {
        ServiceError::NotFound(_) => {
            message_page(StatusCode::NOT_FOUND, "Not found", "This approval request does not exist.")
        }
        ServiceError::Forbidden { .. } => {
            message_page(StatusCode::FORBIDDEN, "Invalid link", "Invalid approval token.")
        }
        ServiceError::Conflict { code: "APPROVAL_EXPIRED", .. } => {
            message_page(StatusCode::CONFLICT, "Approval expired", "This approval request has expired.")
        }
        ServiceError::Conflict { message, .. } => {
            message_page(StatusCode::CONFLICT, "Already decided", &format!("{message}."))
        }
        ServiceError::RateLimited { retry_after } => {
            let mut page =
                message_page(StatusCode::TOO_MANY_REQUESTS, "Too many requests", "Try again in a minute.");
            if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                page.headers_mut().insert(header::RETRY_AFTER, value);
            }
            page
        }
        other => {
            tracing::error!(error = %other, "decide page failed");
            message_page(StatusCode::INTERNAL_SERVER_ERROR, "Error", "The decision could not be processed.")
        }
    }
}

/// Limits decide requests per client address (the page has no key to limit by).
fn limit_by_address(state: &AppState, ip: Option<Extension<ClientIp>>) -> Result<(), ServiceError> {
    let ip = ip.map(|Extension(ClientIp(ip))| ip.to_string()).unwrap_or_default();
    state
        .limiter()
        .hit(&format!("decide|{ip}"), state.settings().rate_limits.authed)
        .map_err(|retry_after| ServiceError::RateLimited { retry_after: Duration::from_secs(retry_after) })
}

fn form_field(raw: &[u8], name: &str) -> Option<String> {
    form_urlencoded::parse(raw).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// The decide page: what is asked, with Approve and Reject. Viewing it changes nothing (a link
/// preview or a mail scanner that fetches it decides nothing).
#[utoipa::path(get, path = "/v1/approvals/{uuid}/decide", tag = "workflows",
    params(("uuid" = String, Path, description = "Approval request id"), ("token" = String, Query, description = "The link's token")),
    security(()),
    responses((status = 200, description = "HTML page", content_type = "text/html"), (status = 403, description = "Invalid token (HTML)"),
        (status = 404, description = "Unknown request (HTML)"), (status = 429, description = "Too many requests (HTML)")))]
pub async fn decide_page(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Path(uuid): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(e) = limit_by_address(&state, ip) {
        return error_page(e);
    }
    let token = form_field(raw.as_deref().unwrap_or_default().as_bytes(), "token").unwrap_or_default();
    let Ok(uuid) = Uuid::parse_str(&uuid) else { return error_page(ServiceError::NotFound(String::new())) };
    match state.services().respond.approval_by_token(uuid, &token).await {
        Ok(row) if row.status == ApprovalStatus::Pending => decide_form(&row, &token),
        Ok(row) => settled_page(&row),
        Err(e) => error_page(e),
    }
}

/// The decide form's answer: `token` and `decision` (`approve` or `reject`), form-encoded.
#[utoipa::path(post, path = "/v1/approvals/{uuid}/decide", tag = "workflows",
    params(("uuid" = String, Path, description = "Approval request id")),
    request_body(content = crate::schemas::DecideForm, content_type = "application/x-www-form-urlencoded", description = "`token`, `decision`"),
    security(()),
    responses((status = 200, description = "HTML page", content_type = "text/html"), (status = 400, description = "Unknown decision (HTML)"),
        (status = 403, description = "Invalid token (HTML)"), (status = 404, description = "Unknown request (HTML)"),
        (status = 409, description = "Expired or already decided (HTML)"), (status = 429, description = "Too many requests (HTML)")))]
pub async fn decide_submit(
    State(state): State<AppState>,
    ip: Option<Extension<ClientIp>>,
    Path(uuid): Path<String>,
    ApiBody(body): ApiBody,
) -> Response {
    if let Err(e) = limit_by_address(&state, ip) {
        return error_page(e);
    }
    let token = form_field(&body, "token").unwrap_or_default();
    let decision = match form_field(&body, "decision").as_deref() {
        Some("approve") => Decision::Approve,
        Some("reject") => Decision::Reject,
        _ => return message_page(StatusCode::BAD_REQUEST, "Unknown decision", "Choose Approve or Reject."),
    };
    let Ok(uuid) = Uuid::parse_str(&uuid) else { return error_page(ServiceError::NotFound(String::new())) };
    match state.services().respond.decide_by_token(uuid, &token, decision).await {
        Ok(_) if decision == Decision::Approve => {
            message_page(StatusCode::OK, "Approved", "Workflow approved. Execution has been queued.")
        }
        Ok(_) => message_page(StatusCode::OK, "Rejected", "Workflow rejected. No execution will occur."),
        Err(e) => error_page(e),
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text.to_string()).into_response()
}

/// Slack's interactive callback (the Approve and Reject buttons). Signed by Slack with
/// `SLACK_SIGNING_SECRET` — required — within five minutes, each signature once; Slack's own
/// retries (`X-Slack-Retry-Num`) of a callback already received are answered `ok`.
#[utoipa::path(post, path = "/v1/approvals/callback/slack", tag = "workflows",
    request_body(content = crate::schemas::SlackCallbackForm, content_type = "application/x-www-form-urlencoded", description = "Slack's `payload`"),
    security(()),
    responses((status = 200, description = "`ok`", content_type = "text/plain"), (status = 400, description = "No payload"),
        (status = 403, description = "Unsigned (the missing header is named), forged, stale or replayed")))]
pub async fn slack_callback(
    State(state): State<AppState>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Response {
    let header_text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let retry = header_text("x-slack-retry-num").and_then(|n| n.trim().parse::<u32>().ok());
    let answer = state
        .services()
        .respond
        .slack_callback(
            header_text("x-slack-request-timestamp"),
            header_text("x-slack-signature"),
            retry,
            &body,
        )
        .await;
    match answer {
        Ok(_) => plain(StatusCode::OK, "ok"),
        Err(ServiceError::Forbidden { message, .. }) => plain(StatusCode::FORBIDDEN, &message),
        Err(ServiceError::Malformed { message, .. }) => plain(StatusCode::BAD_REQUEST, &message),
        Err(other) => ApiError::from(other).into_response(),
    }
}

/// Teams sends no interactive callbacks for incoming-webhook cards: decisions are made through
/// the card's link (the decide page) or over REST (as v1 answers).
#[utoipa::path(post, path = "/v1/approvals/callback/teams", tag = "workflows", security(()),
    responses((status = 200, description = "`{message}`", body = crate::schemas::MessageResponse)))]
pub async fn teams_callback() -> Json<Value> {
    Json(
        json!({"message": "Teams interactive callbacks are not supported: use the card's \"Review & Decide\" link \
                 or POST /v1/workflow-approvals/{uuid}/approve or /reject with an API key."}),
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn html_is_escaped_in_content_and_attributes() {
        assert_eq!(
            escape(r#"<script>"x" & 'y'</script>"#),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
