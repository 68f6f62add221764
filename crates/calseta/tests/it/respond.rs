//! The seed's response step end to end: an agent executes a high-risk workflow, a human approves
//! it, and it runs once in the sandbox against a loopback Okta; plus ungated runs that use
//! workflow secrets and `ctx.http`, and the execute endpoint's refusals.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{header, method, path, path_regex};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

pub(crate) async fn alert_with_account(app: &TestApp, account: &str) -> String {
    let alert =
        ingest_and_wait(app, "generic", r#"{"title": "Impossible travel", "severity": "High"}"#).await;
    let uuid = alert["data"]["uuid"].as_str().unwrap().to_string();
    let body = json!({"indicators": [{"type": "account", "value": account}]});
    let (status, added) =
        app.post(&format!("/v1/alerts/{uuid}/indicators?enrich=false"), &app.admin_key, body).await;
    assert_eq!(status, 201, "{added}");
    uuid
}

pub(crate) async fn agent_key(app: &TestApp, scopes: &[&str]) -> String {
    let (status, created) = app
        .post("/v1/api-keys", &app.admin_key, json!({"name": "agent", "scopes": scopes, "key_type": "agent"}))
        .await;
    assert_eq!(status, 201, "{created}");
    created["data"]["key"].as_str().unwrap().to_string()
}

pub(crate) async fn finished_run(app: &TestApp, workflow: &str) -> Value {
    eventually("the run finishes", Duration::from_secs(30), || async {
        let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &app.admin_key).await;
        runs["data"]
            .as_array()
            .and_then(|r| r.first())
            .filter(|r| r["status"] != "queued" && r["status"] != "running")
            .cloned()
    })
    .await
}

#[tokio::test]
async fn an_agent_asks_a_human_approves_and_the_workflow_runs_once_against_okta() {
    let okta = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path_regex("^/api/v1/users/jdoe(%40|@)example.com$"))
        .and(header("authorization", "SSWS okta-token-1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": "00u1"})))
        .mount(&okta)
        .await;
    Mock::given(method("DELETE"))
        .and(path("/api/v1/users/00u1/sessions"))
        .and(header("authorization", "SSWS okta-token-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&okta)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("OKTA_DOMAIN", "example.okta.com".into()),
            ("OKTA_API_TOKEN", "okta-token-1".into()),
            ("OKTA_BASE_URL", okta.uri()),
        ],
        ..AppOptions::default()
    })
    .await;
    let alert = alert_with_account(&app, "jdoe@example.com").await;
    let (_, list) = app.get("/v1/workflows?page_size=100", &app.admin_key).await;
    let workflow = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Okta — Revoke All Sessions")
        .unwrap()
        .clone();
    assert_eq!(workflow["is_active"], true, "Okta is configured");
    let uuid = workflow["uuid"].as_str().unwrap().to_string();
    let execute = format!("/v1/workflows/{uuid}/execute");

    // An agent key must say why and how sure it is.
    let agent = agent_key(&app, &["workflows:execute"]).await;
    let (status, body) = app
        .post(&execute, &agent, json!({"indicator_type": "account", "indicator_value": "jdoe@example.com"}))
        .await;
    assert_eq!(status, 422, "{body}");
    let messages: Vec<&str> = body["error"]["details"]["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["msg"].as_str())
        .collect();
    assert_eq!(
        messages,
        ["reason is required for agent API keys", "confidence is required for agent API keys"]
    );

    let request = json!({"indicator_type": "account", "indicator_value": "jdoe@example.com", "alert_uuid": alert,
                         "reason": "Session token replayed from two countries", "confidence": 0.92});
    let (status, pending) = app.post(&execute, &agent, request).await;
    assert_eq!(status, 202, "{pending}");
    assert_eq!(pending["data"]["status"], "pending_approval");
    assert_eq!(pending["meta"], json!({}), "every success envelope carries meta");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    assert!(okta.received_requests().await.unwrap().is_empty(), "nothing runs before the decision");

    let approver = app.key_with(&["approvals:write"]).await;
    let (_, listed) = app.get("/v1/workflow-approvals?status=pending", &approver).await;
    assert_eq!(listed["meta"]["total"], 1);
    assert_eq!(listed["data"][0]["workflow_name"], "Okta — Revoke All Sessions");
    assert_eq!(listed["data"][0]["trigger_type"], "agent");
    assert_eq!(listed["data"][0]["confidence"], 0.92);
    // The gate is a human decision: no agent key passes it, the requester's or another's.
    let agent_approver = agent_key(&app, &["approvals:write"]).await;
    let (status, body) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &agent_approver, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("APPROVAL_BY_AGENT")), "{body}");
    let (status, decided) = app
        .post(
            &format!("/v1/workflow-approvals/{approval}/approve"),
            &approver,
            json!({"responder_id": "alice"}),
        )
        .await;
    assert_eq!(status, 200, "{decided}");
    assert_eq!(
        (decided["data"]["status"].as_str(), decided["data"]["responder_id"].as_str()),
        (Some("approved"), Some("alice"))
    );
    // A decision delivered twice executes nothing twice.
    let (status, again) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &approver, json!({})).await;
    assert_eq!((status, again["error"]["code"].as_str()), (409, Some("APPROVAL_ALREADY_DECIDED")), "{again}");

    let run = finished_run(&app, &uuid).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["trigger_type"], "agent");
    assert_eq!(run["result"]["data"], json!({"account": "jdoe@example.com"}));
    assert!(run["log_output"].as_str().unwrap().contains("revoke_sessions done"), "{run}");
    assert!(!run.to_string().contains("okta-token-1"), "the token never reaches the run");
    let (_, approval_row) = app.get(&format!("/v1/workflow-approvals/{approval}"), &approver).await;
    assert_eq!(approval_row["data"]["execution_result"]["success"], true, "{approval_row}");
    let events = query_i64(
        &app,
        "SELECT COUNT(*) FROM activity_events WHERE event_type IN ('workflow_approval_requested', \
         'workflow_approval_responded', 'workflow_executed') AND workflow_id IS NOT NULL",
    )
    .await;
    assert_eq!(events, 3);
    okta.verify().await;
}

#[tokio::test]
async fn ungated_runs_use_workflow_secrets_and_ctx_http_and_never_platform_settings() {
    let api = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/act"))
        .and(header("authorization", "Bearer wf-secret-123"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"blocked": true})))
        .expect(1)
        .mount(&api)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            // v1's environment secrets: only those listed, and never a platform setting.
            ("WORKFLOW_SECRETS_FROM_ENV", "PATH,OKTA_API_TOKEN,DATABASE_URL".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    alert_with_account(&app, "bob@example.com").await;
    let put = app.client.put(app.url("/v1/workflow-secrets/API_TOKEN")).bearer_auth(&app.admin_key);
    assert_eq!(put.json(&json!({"value": "wf-secret-123"})).send().await.unwrap().status().as_u16(), 200);
    let code = format!(
        r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    token = ctx.secrets["API_TOKEN"]
    response = await ctx.http.post("{}/act", json={{"account": ctx.indicator.value}},
                                   headers={{"Authorization": f"Bearer {{token}}"}}, timeout=1e20)
    print("printed by the workflow")
    return WorkflowResult.ok("blocked", data={{"answer": response.json(),
        "database_url": ctx.secrets.get("DATABASE_URL"), "encryption_key": ctx.secrets.get("ENCRYPTION_KEY"),
        "path": ctx.secrets.get("PATH"), "okta": ctx.secrets.get("OKTA_API_TOKEN"), "home": ctx.secrets.get("HOME")}})
"#,
        api.uri()
    );
    let writer = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let (status, created) = app
        .post(
            "/v1/workflows",
            &writer,
            json!({"name": "Block", "code": code, "state": "active", "approval_mode": "never"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    // Granted every name it reads, so that only the platform-setting and listing rules refuse.
    let names = ["API_TOKEN", "DATABASE_URL", "ENCRYPTION_KEY", "PATH", "OKTA_API_TOKEN", "HOME"];
    crate::secret_grants::grant(&app, &uuid, &names).await;
    let execute = format!("/v1/workflows/{uuid}/execute");
    let (status, queued) = app
        .post(&execute, &writer, json!({"indicator_type": "account", "indicator_value": "bob@example.com"}))
        .await;
    assert_eq!(status, 202, "{queued}");
    assert_eq!((queued["data"]["status"].as_str(), queued["meta"].is_object()), (Some("queued"), true));
    let run = finished_run(&app, &uuid).await;
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["trigger_type"], "human");
    assert_eq!(run["result"]["data"]["answer"], json!({"blocked": true}));
    assert_eq!(run["result"]["data"]["database_url"], Value::Null);
    assert_eq!(run["result"]["data"]["encryption_key"], Value::Null);
    // A listed variable is served — and, as every value served as a secret, masked in the record.
    assert_eq!(run["result"]["data"]["path"], json!("***"), "a listed variable is served");
    assert_eq!(run["result"]["data"]["okta"], Value::Null, "a platform setting is not, even listed");
    assert_eq!(run["result"]["data"]["home"], Value::Null, "an unlisted variable is not");
    assert!(run["log_output"].as_str().unwrap().contains("printed by the workflow"), "{run}");
    let log = run["log_output"].as_str().unwrap();
    assert!(log.contains(&format!("HTTP POST {}/act -> 200", api.uri())), "{log}");
    assert!(!log.contains("wf-secret-123"), "{log}");
    api.verify().await;

    // An indicator the platform has never seen: the run fails and says so.
    let (_, queued) = app
        .post(
            &execute,
            &writer,
            json!({"indicator_type": "account", "indicator_value": "nobody@example.com"}),
        )
        .await;
    let run_uuid = queued["data"]["run_uuid"].as_str().unwrap().to_string();
    let run = eventually("the second run finishes", Duration::from_secs(30), || async {
        let (_, runs) = app.get("/v1/workflow-runs?status=failed", &writer).await;
        runs["data"].as_array().and_then(|r| r.iter().find(|r| r["uuid"] == run_uuid.as_str()).cloned())
    })
    .await;
    assert_eq!(run["result"]["message"], "Indicator (account, 'nobody@example.com') not found in database");

    // ctx.http goes through the SSRF-safe client: the metadata address is refused before any
    // connection (even with 127.0.0.1 allowed).
    let code = "async def run(ctx):\n    await ctx.http.get('http://169.254.169.254/latest/meta-data/')\n";
    let (_, created) = app
        .post(
            "/v1/workflows",
            &writer,
            json!({"name": "Metadata", "code": code, "state": "active", "approval_mode": "never"}),
        )
        .await;
    let metadata = created["data"]["uuid"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            &format!("/v1/workflows/{metadata}/execute"),
            &writer,
            json!({"indicator_type": "account", "indicator_value": "bob@example.com"}),
        )
        .await;
    assert_eq!(status, 202);
    let run = finished_run(&app, &metadata).await;
    assert_eq!(run["status"], "failed");
    assert!(run["result"]["message"].as_str().unwrap().contains("SSRF blocked"), "{run}");

    // Refusals, in v1's order and words.
    let (status, body) =
        app.post(&execute, &writer, json!({"indicator_type": "ipv4", "indicator_value": "x"})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app
        .post(
            &execute,
            &writer,
            json!({"indicator_type": "account", "indicator_value": "bob@example.com", "alert_uuid": uuid}),
        )
        .await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some(format!("Alert {uuid} not found").as_str()))
    );
    let (_, _) = app.patch(&format!("/v1/workflows/{uuid}"), &writer, json!({"state": "inactive"})).await;
    let (status, body) = app
        .post(&execute, &writer, json!({"indicator_type": "account", "indicator_value": "bob@example.com"}))
        .await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("WORKFLOW_NOT_EXECUTABLE")), "{body}");
}

#[tokio::test]
async fn rejected_cancelled_and_expired_requests_run_nothing() {
    // The expiry sweep runs once at start and not again during the test: what reads do is seen alone.
    let app = spawn_app_with(AppOptions {
        env: vec![("APPROVAL_SWEEP_INTERVAL_SECONDS", "3600".into())],
        ..AppOptions::default()
    })
    .await;
    alert_with_account(&app, "eve@example.com").await;
    let writer =
        app.key_with(&["workflows:write", "workflows:execute", "workflows:read", "approvals:write"]).await;
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let (_, created) =
        app.post("/v1/workflows", &writer, json!({"name": "Gated", "code": code, "state": "active"})).await;
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let execute = format!("/v1/workflows/{uuid}/execute");
    let body = json!({"indicator_type": "account", "indicator_value": "eve@example.com"});
    let mut approvals = Vec::new();
    for _ in 0..3 {
        let (status, pending) = app.post(&execute, &writer, body.clone()).await;
        assert_eq!(
            (status, pending["data"]["status"].as_str()),
            (202, Some("pending_approval")),
            "{pending}"
        );
        approvals.push(pending["data"]["approval_request_uuid"].as_str().unwrap().to_string());
    }
    // `null` is an empty decision body too.
    let (status, rejected) =
        app.post(&format!("/v1/workflow-approvals/{}/reject", approvals[0]), &writer, Value::Null).await;
    assert_eq!((status, rejected["data"]["status"].as_str()), (200, Some("rejected")));
    let resp = app
        .client
        .post(app.url(&format!("/v1/workflow-approvals/{}/cancel", approvals[1])))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    let (status, cancelled) = status_json(resp).await;
    assert_eq!(
        (status, cancelled["data"]["status"].as_str()),
        (200, Some("cancelled")),
        "a decision's body is optional"
    );
    // Expiry: a request past its time reads as expired, and approving it is refused.
    exec_sql(
        &app,
        &format!(
            "UPDATE workflow_approval_requests SET expires_at = created_at WHERE uuid = {}",
            uuid_literal(&app, &approvals[2])
        ),
    )
    .await;
    let (status, refused) =
        app.post(&format!("/v1/workflow-approvals/{}/approve", approvals[2]), &writer, json!({})).await;
    assert_eq!((status, refused["error"]["code"].as_str()), (409, Some("APPROVAL_EXPIRED")), "{refused}");
    let (_, expired) = app.get(&format!("/v1/workflow-approvals/{}", approvals[2]), &writer).await;
    assert_eq!(expired["data"]["status"], "expired");
    let (status, refused) =
        app.post(&format!("/v1/workflow-approvals/{}/approve", approvals[2]), &writer, json!({})).await;
    assert_eq!(
        (status, refused["error"]["code"].as_str()),
        (409, Some("APPROVAL_EXPIRED")),
        "still, once read"
    );
    // Reads show it expired and change nothing: only the sweep writes `expired`.
    let (_, listed) = app.get("/v1/workflow-approvals?status=expired", &writer).await;
    assert_eq!(listed["meta"]["total"], 1, "{listed}");
    assert_eq!(listed["data"][0]["uuid"], approvals[2].as_str());
    assert_eq!(listed["data"][0]["status"], "expired");
    let (_, listed) = app.get("/v1/workflow-approvals?status=pending", &writer).await;
    assert_eq!(listed["meta"]["total"], 0, "{listed}");
    let stored = query_text(
        &app,
        &format!(
            "SELECT status FROM workflow_approval_requests WHERE uuid = {}",
            uuid_literal(&app, &approvals[2])
        ),
    )
    .await;
    assert_eq!(stored, "pending", "no read wrote it");
    let (status, _) =
        app.post(&format!("/v1/workflow-approvals/{}/approve", approvals[0]), &writer, json!({})).await;
    assert_eq!(status, 409, "a rejected request stays rejected");
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM workflow_runs").await, 0, "nothing ran");

    // What was approved is a version of the code: changed since, it does not run.
    let (_, pending) = app.post(&execute, &writer, body.clone()).await;
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let changed = code.replace("'ran'", "'changed'");
    let (status, _) = app.patch(&format!("/v1/workflows/{uuid}"), &writer, json!({"code": changed})).await;
    assert_eq!(status, 200);
    let (status, _) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &writer, json!({})).await;
    assert_eq!(status, 200);
    let run = finished_run(&app, &uuid).await;
    assert_eq!(run["status"], "failed");
    assert!(
        run["result"]["message"].as_str().unwrap().contains("code changed after it was requested"),
        "{run}"
    );
}

pub(crate) fn uuid_literal(app: &TestApp, uuid: &str) -> String {
    if app.database.url.starts_with("postgres") {
        format!("'{uuid}'")
    } else {
        format!("X'{}'", uuid.replace('-', ""))
    }
}

#[tokio::test]
async fn a_run_an_earlier_attempt_started_is_never_run_again() {
    let api = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(200)).expect(0).mount(&api).await;
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    // No worker yet: the alert stays Pending, which is enough to carry the indicator.
    let (status, ingested) = app
        .post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": {"title": "t"}}))
        .await;
    assert_eq!(status, 202, "{ingested}");
    let alert = ingested["data"]["alert_uuid"].as_str().unwrap().to_string();
    let body = json!({"indicators": [{"type": "account", "value": "carol@example.com"}]});
    let (status, _) =
        app.post(&format!("/v1/alerts/{alert}/indicators?enrich=false"), &app.admin_key, body).await;
    assert_eq!(status, 201);
    let code = format!("async def run(ctx):\n    await ctx.http.post('{}/suspend')\n", api.uri());
    let (_, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Once", "code": code, "state": "active", "approval_mode": "never"}),
        )
        .await;
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let (status, queued) = app
        .post(
            &format!("/v1/workflows/{uuid}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "carol@example.com"}),
        )
        .await;
    assert_eq!(status, 202, "{queued}");
    // As if a worker had claimed the run and died before recording it.
    exec_sql(&app, "UPDATE workflow_runs SET status = 'running'").await;
    let worker = start_worker_with(&app, &[]).await;
    let run = finished_run(&app, &uuid).await;
    worker.shutdown().await;
    assert_eq!(run["status"], "failed", "{run}");
    assert_eq!(run["result"]["message"], "The run was interrupted before it finished; it is not run again");
    api.verify().await;
}

#[tokio::test]
async fn the_entra_integration_is_called_by_the_platform_with_its_client_credentials() {
    let entra = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/tenant-1/oauth2/v2.0/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"access_token": "graph-token-1"})))
        .mount(&entra)
        .await;
    Mock::given(method("PATCH"))
        .and(path_regex("^/v1.0/users/dave(%40|@)example.com$"))
        .and(header("authorization", "Bearer graph-token-1"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&entra)
        .await;
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("SSRF_ALLOWED_HOSTS", "127.0.0.1".into()),
            ("ENTRA_TENANT_ID", "tenant-1".into()),
            ("ENTRA_CLIENT_ID", "client-1".into()),
            ("ENTRA_CLIENT_SECRET", "client-secret-1".into()),
            ("ENTRA_LOGIN_BASE_URL", entra.uri()),
            ("ENTRA_GRAPH_BASE_URL", entra.uri()),
        ],
        ..AppOptions::default()
    })
    .await;
    alert_with_account(&app, "dave@example.com").await;
    let (_, list) = app.get("/v1/workflows?page_size=100", &app.admin_key).await;
    let workflow = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|w| w["name"] == "Entra — Disable Account")
        .unwrap()
        .clone();
    assert_eq!(workflow["is_active"], true, "Entra is configured");
    let uuid = workflow["uuid"].as_str().unwrap().to_string();
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{uuid}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "dave@example.com"}),
        )
        .await;
    assert_eq!((status, pending["data"]["status"].as_str()), (202, Some("pending_approval")), "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let (status, _) =
        app.post(&format!("/v1/workflow-approvals/{approval}/approve"), &app.admin_key, json!({})).await;
    assert_eq!(status, 200);
    let run = finished_run(&app, &uuid).await;
    assert_eq!(run["status"], "success", "{run}");
    assert!(!run.to_string().contains("client-secret-1") && !run.to_string().contains("graph-token-1"));
    let requests = entra.received_requests().await.unwrap();
    let token_request = requests.iter().find(|r| r.url.path().ends_with("/token")).unwrap();
    let form = String::from_utf8_lossy(&token_request.body).to_string();
    assert!(
        form.contains("grant_type=client_credentials") && form.contains("client_secret=client-secret-1"),
        "{form}"
    );
    let patch = requests.iter().find(|r| r.method.as_str() == "PATCH").unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&patch.body).unwrap(), json!({"accountEnabled": false}));
    entra.verify().await;
}

#[tokio::test]
async fn executions_have_their_own_rate_limit() {
    let app = spawn_app_with(AppOptions {
        env: vec![("RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE", "1".into())],
        ..AppOptions::default()
    })
    .await;
    let writer = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let code = "async def run(ctx):\n    pass\n";
    let (_, created) =
        app.post("/v1/workflows", &writer, json!({"name": "Limited", "code": code, "state": "active"})).await;
    let execute = format!("/v1/workflows/{}/execute", created["data"]["uuid"].as_str().unwrap());
    let body = json!({"indicator_type": "ip", "indicator_value": "198.51.100.1"});
    let (status, _) = app.post(&execute, &writer, body.clone()).await;
    assert_eq!(status, 202);
    let (status, limited) = app.post(&execute, &writer, body).await;
    assert_eq!((status, limited["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{limited}");
    let (status, _) = app.get("/v1/workflows", &writer).await;
    assert_eq!(status, 200, "other routes keep their own limit");
}
