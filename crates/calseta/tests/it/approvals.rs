//! The approval gate's channels: the Slack notifier and its signed callback (the seed's response
//! step end to end), the Teams card and the browser decide page, and the expiry sweep.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::respond::{agent_key, alert_with_account, uuid_literal};

const SIGNING_SECRET: &str = "slack-signing-secret-1";

/// A workflow that revokes an account's sessions with a workflow secret and `ctx.http`.
fn revoke_sessions_code(okta: &str) -> String {
    format!(
        r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    headers = {{"Authorization": f"SSWS {{ctx.secrets['OKTA_TOKEN']}}"}}
    user = await ctx.http.get("{okta}/api/v1/users/" + ctx.indicator.value, headers=headers)
    if user.status_code != 200:
        return WorkflowResult.fail(f"user lookup failed: {{user.status_code}}")
    user_id = user.json()["id"]
    revoked = await ctx.http.delete(f"{okta}/api/v1/users/{{user_id}}/sessions", headers=headers)
    ctx.log.info("sessions revoked", user_id=user_id, status=revoked.status_code)
    return WorkflowResult.ok(f"Revoked all sessions of {{ctx.indicator.value}}", data={{"user_id": user_id}})
"#
    )
}

/// Slack's signature over a callback body at `ts`.
fn slack_signature(secret: &str, ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!("v0={}", bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A block_actions callback body for a click on `action_id` by `user`.
fn slack_click(action_id: &str, user: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": user, "username": "ana"},
                         "actions": [{"action_id": action_id, "type": "button"}],
                         "channel": {"id": "C0APPROVE"}, "message": {"ts": "1760000000.000100"}});
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

async fn post_callback(app: &TestApp, body: &str, ts: Option<i64>, signature: Option<&str>) -> (u16, String) {
    let mut request = app
        .client
        .post(app.url("/v1/approvals/callback/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    if let Some(ts) = ts {
        request = request.header("x-slack-request-timestamp", ts.to_string());
    }
    if let Some(signature) = signature {
        request = request.header("x-slack-signature", signature);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The JSON bodies a stand-in received at `at`.
pub(crate) async fn bodies(server: &MockServer, at: &str) -> Vec<Value> {
    server
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == at)
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect()
}

pub(crate) async fn slack_stand_in() -> MockServer {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0APPROVE", "ts": "1760000000.000100"})),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .and(header("authorization", "Bearer xoxb-test-token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&slack)
        .await;
    slack
}

pub(crate) fn slack_env(slack: &MockServer) -> Vec<(&'static str, String)> {
    vec![
        ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
        ("APPROVAL_NOTIFIER", "slack".into()),
        ("SLACK_BOT_TOKEN", "xoxb-test-token".into()),
        ("SLACK_SIGNING_SECRET", SIGNING_SECRET.into()),
        ("SLACK_API_BASE_URL", slack.uri()),
        ("APPROVAL_DEFAULT_CHANNEL", "#soc-approvals".into()),
        ("CALSETA_BASE_URL", "https://calseta.example.test".into()),
    ]
}

/// A Teams stand-in accepting cards at `/webhook`, and an app that notifies it.
pub(crate) async fn app_with_teams() -> (MockServer, TestApp) {
    let teams = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/webhook"))
        .respond_with(ResponseTemplate::new(202))
        .mount(&teams)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("APPROVAL_NOTIFIER", "teams".into()),
            ("TEAMS_WEBHOOK_URL", format!("{}/webhook", teams.uri())),
            ("APPROVAL_SWEEP_INTERVAL_SECONDS", "1".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    (teams, app)
}

/// An active, always-approved workflow that says which indicator it ran for.
pub(crate) async fn gated_workflow(app: &TestApp, name: &str, risk: &str) -> String {
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran for ' + ctx.indicator.value)\n";
    let (status, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": name, "code": code, "state": "active", "risk_level": risk}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["data"]["uuid"].as_str().unwrap().to_string()
}

/// The token of the browser link in a posted message's text.
pub(crate) fn decide_token(text: &str, approval: &str) -> String {
    let marker = format!("/v1/approvals/{approval}/decide?token=");
    let at = text.find(&marker).unwrap_or_else(|| panic!("no decide link in {text}")) + marker.len();
    text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_').collect()
}

#[tokio::test]
async fn the_seeds_response_step_runs_through_a_signed_slack_approval() {
    let okta = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/users/jdoe@example.com"))
        .and(header("authorization", "SSWS okta-secret-from-calseta"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "00u1"})))
        .expect(1)
        .mount(&okta)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/sessions"))
        .and(header("authorization", "SSWS okta-secret-from-calseta"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&okta)
        .await;
    let slack = slack_stand_in().await;
    let app = spawn_app_with(AppOptions { env: slack_env(&slack), ..AppOptions::default() }).await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let admin = app.admin_key.clone();
    let (status, _) = app
        .client
        .put(app.url("/v1/workflow-secrets/OKTA_TOKEN"))
        .bearer_auth(&admin)
        .json(&json!({"value": "okta-secret-from-calseta"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    let (status, created) = app
        .post(
            "/v1/workflows",
            &admin,
            json!({"name": "Revoke Okta sessions", "code": revoke_sessions_code(&okta.uri()), "state": "active",
                   "risk_level": "high", "approval_mode": "always", "indicator_types": ["account"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    crate::secret_grants::grant(&app, &workflow, &["OKTA_TOKEN"]).await;

    // The agent asks; a request is made and Slack hears of it.
    let agent = agent_key(&app, &["workflows:execute"]).await;
    let reason = "Session token replayed from two countries <!channel>";
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &agent,
            json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert,
                   "reason": reason, "confidence": 0.92}),
        )
        .await;
    assert_eq!((status, pending["data"]["status"].as_str()), (202, Some("pending_approval")), "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let posted = eventually("Slack receives the request", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.postMessage").await.into_iter().next()
    })
    .await;
    assert_eq!(posted["channel"], "#soc-approvals");
    assert_eq!(posted["text"], "Workflow approval needed: Revoke Okta sessions (high risk)");
    let blocks = posted["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["text"]["text"], "[HIGH RISK] Workflow Approval: Revoke Okta sessions");
    let text = posted.to_string();
    assert!(text.contains("`account: jdoe@example.com`") && text.contains("*Confidence:* 92%"), "{text}");
    assert!(
        text.contains("&lt;!channel&gt;") && !text.contains("<!channel>"),
        "the reason cannot ping: {text}"
    );
    let actions = blocks.iter().find(|b| b["type"] == "actions").unwrap();
    assert_eq!(actions["elements"][0]["action_id"], format!("approve:{approval}"));
    assert_eq!(actions["elements"][1]["action_id"], format!("reject:{approval}"));
    assert!(text.contains(&format!("https://calseta.example.test/v1/approvals/{approval}/decide?token=")));
    let (_, stored) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(stored["data"]["notifier_type"], "slack");
    assert!(okta.received_requests().await.unwrap().is_empty(), "nothing runs before the decision");

    // Callbacks that are unsigned, forged or stale decide nothing.
    let click = slack_click(&format!("approve:{approval}"), "U024BE7LH");
    let now = chrono::Utc::now().timestamp();
    assert_eq!(
        post_callback(&app, &click, None, None).await,
        (403, "Missing X-Slack-Signature and X-Slack-Request-Timestamp headers".into())
    );
    let forged = slack_signature("not-the-secret", now, &click);
    assert_eq!(
        post_callback(&app, &click, Some(now), Some(&forged)).await,
        (403, "Invalid signature".into())
    );
    let tampered = slack_signature(SIGNING_SECRET, now, &slack_click(&format!("reject:{approval}"), "U1"));
    assert_eq!(post_callback(&app, &click, Some(now), Some(&tampered)).await.0, 403);
    let stale = slack_signature(SIGNING_SECRET, now - 600, &click);
    assert_eq!(
        post_callback(&app, &click, Some(now - 600), Some(&stale)).await,
        (403, "Request too old".into())
    );
    let (_, still) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(still["data"]["status"], "pending");

    // The signed click approves, once; the same request replayed is refused.
    let signed = slack_signature(SIGNING_SECRET, now, &click);
    assert_eq!(post_callback(&app, &click, Some(now), Some(&signed)).await, (200, "ok".into()));
    assert_eq!(
        post_callback(&app, &click, Some(now), Some(&signed)).await,
        (403, "Request already received".into())
    );
    let (_, decided) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(
        (decided["data"]["status"].as_str(), decided["data"]["responder_id"].as_str()),
        (Some("approved"), Some("U024BE7LH"))
    );

    // A second, freshly signed click (Slack retrying, a double click) runs nothing twice.
    let again = slack_signature(SIGNING_SECRET, now + 1, &click);
    assert_eq!(post_callback(&app, &click, Some(now + 1), Some(&again)).await, (200, "ok".into()));

    let run = crate::respond::finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["trigger_type"], "agent");
    assert_eq!(run["result"]["message"], "Revoked all sessions of jdoe@example.com");
    assert!(!run["log_output"].as_str().unwrap().contains("okta-secret-from-calseta"));
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &admin).await;
    assert_eq!(runs["meta"]["total"], 1);

    // The message loses its buttons and says who decided; the result lands in its thread.
    let updated = eventually("Slack's message is updated", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.update").await.into_iter().next()
    })
    .await;
    assert_eq!(
        (updated["channel"].as_str(), updated["ts"].as_str()),
        (Some("C0APPROVE"), Some("1760000000.000100"))
    );
    assert!(updated["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"), "{updated}");
    assert!(updated.to_string().contains("*Approved* by <@U024BE7LH>"), "{updated}");
    let result = eventually("the result is posted in the thread", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.postMessage").await.into_iter().find(|m| m.get("thread_ts").is_some())
    })
    .await;
    assert_eq!(result["thread_ts"], "1760000000.000100");
    assert_eq!(result["channel"], "C0APPROVE");
    assert_eq!(result["text"], "Workflow Approved: Revoke Okta sessions");
    assert!(result.to_string().contains("Revoked all sessions of jdoe@example.com"), "{result}");

    // Every step is in the activity log, with who decided and through which channel.
    let (_, activity) = app.get(&format!("/v1/alerts/{alert}/activity?page_size=100"), &admin).await;
    let events: Vec<&Value> = activity["data"].as_array().unwrap().iter().collect();
    let of = |kind: &str| events.iter().filter(|e| e["event_type"] == kind).count();
    assert_eq!(
        (of("workflow_approval_requested"), of("workflow_approval_responded"), of("workflow_executed")),
        (1, 1, 1),
        "{activity}"
    );
    let responded = events.iter().find(|e| e["event_type"] == "workflow_approval_responded").unwrap();
    assert_eq!(responded["references"]["responder_id"], "U024BE7LH");
    assert_eq!(responded["references"]["via"], "slack");
    okta.verify().await;
}

#[tokio::test]
async fn slack_callbacks_are_refused_without_a_signing_secret() {
    // Teams is the notifier here, so Slack's secret is not set: no callback is ever believed.
    let (_teams, app) = app_with_teams().await;
    let click = slack_click(&format!("approve:{}", uuid::Uuid::new_v4()), "U1");
    let now = chrono::Utc::now().timestamp();
    let signed = slack_signature("", now, &click);
    assert_eq!(
        post_callback(&app, &click, Some(now), Some(&signed)).await,
        (403, "Slack callbacks are not configured".into())
    );
    let response = app.client.post(app.url("/v1/approvals/callback/teams")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert!(body["message"].as_str().unwrap().contains("not supported"), "{body}");
}

#[tokio::test]
async fn the_browser_page_shows_without_deciding_and_a_teams_card_links_to_it() {
    let (teams, app) = app_with_teams().await;
    alert_with_account(&app, "mallory@example.com").await;
    let admin = app.admin_key.clone();
    let workflow = gated_workflow(&app, "Disable <b>account</b>", "critical").await;
    let execute = format!("/v1/workflows/{workflow}/execute");
    let request = json!({"indicator_type": "account", "indicator_value": "mallory@example.com",
                         "reason": "<script>alert('x')</script> token theft", "confidence": 0.5});
    let (_, pending) = app.post(&execute, &admin, request.clone()).await;
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();

    let card = eventually("Teams receives the card", Duration::from_secs(20), || async {
        bodies(&teams, "/webhook").await.into_iter().next()
    })
    .await;
    let content = &card["attachments"][0]["content"];
    assert_eq!(card["attachments"][0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(content["version"], "1.4");
    assert_eq!(
        content["body"][0]["text"], r"[CRITICAL RISK] Workflow Approval Required: Disable \<b\>account\</b\>",
        "Markdown and markup in names and reasons are escaped"
    );
    assert!(content.to_string().contains(r"\\<script\\>alert\\('x'\\)"), "{content}");
    let open = &content["actions"][0];
    assert_eq!(
        (open["type"].as_str(), open["title"].as_str()),
        (Some("Action.OpenUrl"), Some("Review & Decide"))
    );
    let link = open["url"].as_str().unwrap();
    assert!(
        link.starts_with(&format!("http://localhost:8000/v1/approvals/{approval}/decide?token=")),
        "{link}"
    );
    let token = decide_token(link, &approval);
    let page_url = app.url(&format!("/v1/approvals/{approval}/decide"));

    // Viewing the page (twice: a link preview, then the person) shows the request and decides nothing.
    for _ in 0..2 {
        let response = app.client.get(format!("{page_url}?token={token}")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
        assert_eq!(response.headers()["cache-control"], "no-store");
        let csp = response.headers()["content-security-policy"].to_str().unwrap().to_string();
        assert!(!csp.contains("http"), "no third-party origin: {csp}");
        let html = response.text().await.unwrap();
        assert!(html.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; token theft"), "{html}");
        assert!(html.contains("Disable &lt;b&gt;account&lt;/b&gt;") && !html.contains("<script>"), "{html}");
        assert!(html.contains("mallory@example.com") && html.contains("50%"), "{html}");
        assert!(!html.contains("src=") && !html.contains("href="), "no asset is loaded: {html}");
    }
    let (_, still) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(still["data"]["status"], "pending");

    // Wrong tokens and unknown requests.
    let response = app.client.get(format!("{page_url}?token=wrong")).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(response.text().await.unwrap().contains("Invalid approval token."));
    let unknown = app.url(&format!("/v1/approvals/{}/decide?token={token}", uuid::Uuid::new_v4()));
    assert_eq!(app.client.get(unknown).send().await.unwrap().status(), 404);
    let post = |form: Vec<(&'static str, String)>| {
        let client = app.client.clone();
        let url = page_url.clone();
        async move {
            let response = client.post(url).form(&form).send().await.unwrap();
            (response.status().as_u16(), response.text().await.unwrap())
        }
    };
    assert_eq!(post(vec![("token", "wrong".into()), ("decision", "approve".into())]).await.0, 403);
    assert_eq!(post(vec![("token", token.clone()), ("decision", "maybe".into())]).await.0, 400);

    // The form's POST decides, once.
    let (status, html) = post(vec![("token", token.clone()), ("decision", "approve".into())]).await;
    assert_eq!(status, 200);
    assert!(html.contains("Workflow approved. Execution has been queued."), "{html}");
    let (status, html) = post(vec![("token", token.clone()), ("decision", "reject".into())]).await;
    assert_eq!(status, 409);
    assert!(html.contains("already in terminal status"), "{html}");
    let html =
        app.client.get(format!("{page_url}?token={token}")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This approval request has already been approved."), "{html}");
    let (_, decided) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(decided["data"]["responder_id"], "browser");
    let run = crate::respond::finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success");

    // Teams hears the decision and the result.
    let titles = eventually("Teams hears the decision and the result", Duration::from_secs(20), || async {
        let titles: Vec<String> = bodies(&teams, "/webhook")
            .await
            .iter()
            .map(|c| {
                c["attachments"][0]["content"]["body"][0]["text"].as_str().unwrap_or_default().to_string()
            })
            .collect();
        (titles.len() >= 3).then_some(titles)
    })
    .await;
    assert!(titles.contains(&r"✅ Workflow Approved: Disable \<b\>account\</b\>".to_string()), "{titles:?}");
    assert!(titles.contains(&r"Workflow Approved: Disable \<b\>account\</b\>".to_string()), "{titles:?}");

    // A rejection through the page runs nothing.
    let (_, pending) = app.post(&execute, &admin, request).await;
    let second = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let card = eventually("Teams receives the second card", Duration::from_secs(20), || async {
        bodies(&teams, "/webhook").await.into_iter().find(|c| c.to_string().contains(&second))
    })
    .await;
    let token = decide_token(&card.to_string(), &second);
    let response = app
        .client
        .post(app.url(&format!("/v1/approvals/{second}/decide")))
        .form(&[("token", token.as_str()), ("decision", "reject")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(response.text().await.unwrap().contains("Workflow rejected. No execution will occur."));
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &admin).await;
    assert_eq!(runs["meta"]["total"], 1);

    // An expired request: the page says so (and decides nothing); Teams is told by the sweep.
    let (_, pending) = app
        .post(
            &execute,
            &admin,
            json!({"indicator_type": "account",
        "indicator_value": "mallory@example.com", "reason": "late", "confidence": 0.5}),
        )
        .await;
    let third = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let card = eventually("Teams receives the third card", Duration::from_secs(20), || async {
        bodies(&teams, "/webhook").await.into_iter().find(|c| c.to_string().contains(&third))
    })
    .await;
    let token = decide_token(&card.to_string(), &third);
    exec_sql(
        &app,
        &format!(
            "UPDATE workflow_approval_requests SET expires_at = created_at WHERE uuid = {}",
            uuid_literal(&app, &third)
        ),
    )
    .await;
    let third_page = app.url(&format!("/v1/approvals/{third}/decide"));
    let html =
        app.client.get(format!("{third_page}?token={token}")).send().await.unwrap().text().await.unwrap();
    assert!(html.contains("This approval request has expired."), "{html}");
    let response = app
        .client
        .post(&third_page)
        .form(&[("token", token.as_str()), ("decision", "approve")])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    assert!(response.text().await.unwrap().contains("This approval request has expired."));
    eventually("Teams hears of the expiry", Duration::from_secs(20), || async {
        bodies(&teams, "/webhook").await.into_iter().find(|c| {
            c["attachments"][0]["content"]["body"][0]["text"]
                == "⌛ Workflow Expired: Disable \\<b\\>account\\</b\\>"
        })
    })
    .await;
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &admin).await;
    assert_eq!(runs["meta"]["total"], 1);
}

#[tokio::test]
async fn expired_requests_are_swept_recorded_and_announced() {
    let slack = slack_stand_in().await;
    let mut env = slack_env(&slack);
    env.push(("APPROVAL_SWEEP_INTERVAL_SECONDS", "1".into()));
    let app = spawn_app_with(AppOptions { env, ..AppOptions::default() }).await;
    let alert = alert_with_account(&app, "eve@example.com").await;
    let admin = app.admin_key.clone();
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let (_, created) =
        app.post("/v1/workflows", &admin, json!({"name": "Gated", "code": code, "state": "active"})).await;
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let (_, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &admin,
            json!({"indicator_type": "account", "indicator_value": "eve@example.com", "alert_uuid": alert}),
        )
        .await;
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    eventually("Slack receives the request", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.postMessage").await.into_iter().next()
    })
    .await;
    // The message is recorded before the request expires, so the expiry edits it.
    eventually("the message id is stored", Duration::from_secs(20), || async {
        let stored = query_text(
            &app,
            &format!(
                "SELECT COALESCE(external_message_id, '') FROM workflow_approval_requests WHERE uuid = {}",
                uuid_literal(&app, &approval)
            ),
        )
        .await;
        (!stored.is_empty()).then_some(())
    })
    .await;
    exec_sql(
        &app,
        &format!(
            "UPDATE workflow_approval_requests SET expires_at = created_at WHERE uuid = {}",
            uuid_literal(&app, &approval)
        ),
    )
    .await;
    let (_, read) = app.get(&format!("/v1/workflow-approvals/{approval}"), &admin).await;
    assert_eq!(read["data"]["status"], "expired", "past its expiry it reads as expired");
    let (_, listed) = app.get("/v1/workflow-approvals?status=pending", &admin).await;
    assert_eq!(listed["meta"]["total"], 0);

    let updated = eventually("the sweep announces the expiry", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.update").await.into_iter().next()
    })
    .await;
    assert!(updated.to_string().contains("*Expired*: nobody decided by"), "{updated}");
    assert!(updated["blocks"].as_array().unwrap().iter().all(|b| b["type"] != "actions"), "{updated}");
    let (_, activity) = app.get(&format!("/v1/alerts/{alert}/activity?page_size=100"), &admin).await;
    let expired: Vec<&Value> = activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "workflow_approval_expired")
        .collect();
    assert_eq!(expired.len(), 1, "{activity}");
    assert_eq!(expired[0]["actor_type"], "system");
    assert_eq!(expired[0]["references"]["approval_uuid"], approval.as_str());

    let (status, body) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &admin, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("APPROVAL_EXPIRED")), "{body}");
    // A signed Slack click on the expired request decides nothing either.
    let click = slack_click(&format!("approve:{approval}"), "U024BE7LH");
    let now = chrono::Utc::now().timestamp();
    let signed = slack_signature(SIGNING_SECRET, now, &click);
    assert_eq!(post_callback(&app, &click, Some(now), Some(&signed)).await, (200, "ok".into()));
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &admin).await;
    assert_eq!(runs["meta"]["total"], 0);
    let stored = query_text(
        &app,
        &format!(
            "SELECT status FROM workflow_approval_requests WHERE uuid = {}",
            uuid_literal(&app, &approval)
        ),
    )
    .await;
    assert_eq!(stored, "expired", "the sweep wrote it");
}

#[tokio::test]
async fn a_decision_made_while_the_request_is_being_posted_still_reaches_the_message() {
    let slack = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/chat.postMessage"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "channel": "C0APPROVE", "ts": "1760000000.000200"}))
                .set_delay(Duration::from_millis(1500)),
        )
        .mount(&slack)
        .await;
    Mock::given(method("POST"))
        .and(path("/chat.update"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true})))
        .mount(&slack)
        .await;
    let app = spawn_app_with(AppOptions { env: slack_env(&slack), ..AppOptions::default() }).await;
    alert_with_account(&app, "eve@example.com").await;
    let workflow = gated_workflow(&app, "Gated", "low").await;
    let (_, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "eve@example.com"}),
        )
        .await;
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    // Decided while Slack is still answering the request's message (or just after): either way the
    // one message ends up showing the decision, and nothing is posted twice.
    eventually("Slack is asked to post the request", Duration::from_secs(20), || async {
        (!slack.received_requests().await.unwrap().is_empty()).then_some(())
    })
    .await;
    let (status, _) =
        app.post(&format!("/v1/workflow-approvals/{approval}/reject"), &app.admin_key, json!({})).await;
    assert_eq!(status, 200);
    let updated = eventually("the message shows the decision", Duration::from_secs(20), || async {
        bodies(&slack, "/chat.update").await.into_iter().find(|u| u.to_string().contains("*Rejected*"))
    })
    .await;
    assert_eq!(updated["ts"], "1760000000.000200");
    assert_eq!(bodies(&slack, "/chat.postMessage").await.len(), 1, "one message for one request");
}
