//! Workflow secrets are served only to workflows an admin granted them to, for the code the admin
//! confirmed: a code change by a key without `admin` suspends the grants until an admin confirms
//! it. Plus test mode counting against the workflow-execution rate limit.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};

const SECRET_VALUE: &str = "grant-me-7f3a9c";

/// Reads `API_TOKEN` (a run fails when it is refused) and `NOT_YET`, granted before it exists.
const READS_A_SECRET: &str = r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    token = ctx.secrets["API_TOKEN"]
    return WorkflowResult.ok("read", data={"length": len(token), "not_yet": ctx.secrets.get("NOT_YET", "default")})
"#;

/// `PUT /v1/workflows/{workflow}/secrets` with `body` as `key`.
async fn put_grants(app: &TestApp, workflow: &str, key: &str, body: Value) -> (u16, Value) {
    let url = app.url(&format!("/v1/workflows/{workflow}/secrets"));
    status_json(app.client.put(url).bearer_auth(key).json(&body).send().await.unwrap()).await
}

/// Grants `secrets` to `workflow` as the admin, confirming its current code.
/// Grants `secrets` to the workflow, confirming the code version it is at now (as an admin would
/// after reading it).
pub(crate) async fn grant(app: &TestApp, workflow: &str, secrets: &[&str]) -> Value {
    let version = grants(app, workflow).await["code_version"].clone();
    let body = json!({"secrets": secrets, "code_version": version});
    let (status, body) = put_grants(app, workflow, &app.admin_key, body).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn grants(app: &TestApp, workflow: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/workflows/{workflow}/secrets"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn put_secret(app: &TestApp, name: &str, value: &str) {
    let put = app.client.put(app.url(&format!("/v1/workflow-secrets/{name}"))).bearer_auth(&app.admin_key);
    assert_eq!(put.json(&json!({"value": value})).send().await.unwrap().status().as_u16(), 200);
}

/// Executes `workflow` for bob's account and waits for the run.
async fn run_once(app: &TestApp, workflow: &str, key: &str) -> Value {
    let body = json!({"indicator_type": "account", "indicator_value": "bob@example.com"});
    let (status, queued) = app.post(&format!("/v1/workflows/{workflow}/execute"), key, body).await;
    assert_eq!(status, 202, "{queued}");
    let run_uuid = queued["data"]["run_uuid"].as_str().unwrap().to_string();
    let run = finished_run(app, workflow).await;
    assert_eq!(run["uuid"], run_uuid.as_str(), "{run}");
    run
}

/// A run that read its secret, and never shows its value.
fn assert_served(run: &Value) {
    assert_eq!(run["status"], "success", "{run}");
    assert_eq!(run["result"]["data"], json!({"length": SECRET_VALUE.len(), "not_yet": "default"}), "{run}");
    assert!(!run.to_string().contains(SECRET_VALUE), "{run}");
}

/// A run whose read was refused for `reason`, which is in its log; the value is nowhere.
fn assert_refused(run: &Value, reason: &str) {
    assert_eq!(run["status"], "failed", "{run}");
    let log = run["log_output"].as_str().unwrap_or_default();
    assert!(log.contains("secret 'API_TOKEN' refused: workflow secret 'API_TOKEN'"), "{log}");
    assert!(log.contains(reason), "{log}");
    assert!(run["result"]["message"].as_str().unwrap_or_default().contains(reason), "{run}");
    assert!(!run.to_string().contains(SECRET_VALUE), "{run}");
}

async fn events(app: &TestApp, event_type: &str) -> i64 {
    query_i64(app, &format!("SELECT COUNT(*) FROM activity_events WHERE event_type = '{event_type}'")).await
}

async fn writer_and_workflow(app: &TestApp) -> (String, String) {
    alert_with_account(app, "bob@example.com").await;
    put_secret(app, "API_TOKEN", SECRET_VALUE).await;
    let writer = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let (status, created) = app
        .post(
            "/v1/workflows",
            &writer,
            json!({"name": "Reads a secret", "code": READS_A_SECRET, "state": "active", "approval_mode": "never"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    (writer, created["data"]["uuid"].as_str().unwrap().to_string())
}

#[tokio::test]
async fn only_granted_secrets_are_served_to_a_workflow() {
    let app = spawn_app_with(AppOptions {
        env: vec![("WORKFLOW_SECRETS_FROM_ENV", "PATH".into())],
        ..AppOptions::default()
    })
    .await;
    let (writer, workflow) = writer_and_workflow(&app).await;

    // Creating a workflow grants nothing: its read is refused, with what to do.
    assert_eq!(
        grants(&app, &workflow).await,
        json!({"secrets": [], "confirmed_code_version": null, "code_version": 1, "suspended": false})
    );
    let not_granted = format!(
        "workflow secret 'API_TOKEN' is not granted to this workflow; an admin grants it with \
         PUT /v1/workflows/{workflow}/secrets"
    );
    assert_refused(&run_once(&app, &workflow, &writer).await, &not_granted);
    // Test mode reads only what a run would.
    let (status, tested) = app.post(&format!("/v1/workflows/{workflow}/test"), &writer, json!({})).await;
    assert_eq!((status, tested["data"]["success"].as_bool()), (200, Some(false)), "{tested}");
    assert!(tested["data"]["log_output"].as_str().unwrap().contains(&not_granted), "{tested}");
    assert!(!tested.to_string().contains(SECRET_VALUE), "{tested}");

    // Granted (one of them before it exists), it is served; the absent one reads as absent.
    let granted = grant(&app, &workflow, &["NOT_YET", "API_TOKEN"]).await;
    assert_eq!(
        granted["data"],
        json!({"secrets": ["API_TOKEN", "NOT_YET"], "confirmed_code_version": 1, "code_version": 1, "suspended": false})
    );
    assert_served(&run_once(&app, &workflow, &writer).await);
    let (_, tested) = app.post(&format!("/v1/workflows/{workflow}/test"), &writer, json!({})).await;
    assert_eq!(tested["data"]["result_data"]["length"], SECRET_VALUE.len(), "{tested}");

    // The admin's change is in the activity log, by the admin's key.
    assert_eq!(events(&app, "workflow_secret_grants_updated").await, 1);
    let actor = query_text(
        &app,
        "SELECT actor_key_prefix FROM activity_events WHERE event_type = 'workflow_secret_grants_updated'",
    )
    .await;
    assert_eq!(actor, app.admin_key[..8]);
    let refs = query_text(
        &app,
        "SELECT CAST(\"references\" AS TEXT) FROM activity_events WHERE event_type = 'workflow_secret_grants_updated'",
    )
    .await;
    let refs: Value = serde_json::from_str(&refs).unwrap();
    assert_eq!(refs["secrets"], json!(["API_TOKEN", "NOT_YET"]), "{refs}");
    assert_eq!(refs["workflow_uuid"], workflow.as_str(), "{refs}");

    // The environment fallback (WORKFLOW_SECRETS_FROM_ENV) needs a grant too.
    let code = r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    try:
        return WorkflowResult.ok("served", data={"served": ctx.secrets.get("PATH") is not None})
    except Exception as error:
        return WorkflowResult.fail(str(error))
"#;
    let (_, created) =
        app.post("/v1/workflows", &writer, json!({"name": "Env", "code": code, "state": "active"})).await;
    let env_workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let test = format!("/v1/workflows/{env_workflow}/test");
    let (_, tested) = app.post(&test, &writer, json!({})).await;
    assert_eq!(tested["data"]["success"], false, "{tested}");
    assert!(tested["data"]["message"].as_str().unwrap().contains("'PATH' is not granted"), "{tested}");
    grant(&app, &env_workflow, &["PATH"]).await;
    let (_, tested) = app.post(&test, &writer, json!({})).await;
    assert_eq!(tested["data"]["result_data"]["served"], std::env::var("PATH").is_ok(), "{tested}");
}

#[tokio::test]
async fn a_code_change_without_admin_suspends_the_grants_until_an_admin_confirms() {
    let app = spawn_app().await;
    let (writer, workflow) = writer_and_workflow(&app).await;
    grant(&app, &workflow, &["API_TOKEN", "NOT_YET"]).await;
    assert_served(&run_once(&app, &workflow, &writer).await);

    // New code from a workflows:write key: the grants stay but are not served.
    let changed = READS_A_SECRET.replace("\"read\"", "\"read again\"");
    let (status, patched) =
        app.patch(&format!("/v1/workflows/{workflow}"), &writer, json!({"code": changed})).await;
    assert_eq!((status, patched["data"]["code_version"].as_i64()), (200, Some(2)), "{patched}");
    assert_eq!(
        grants(&app, &workflow).await,
        json!({"secrets": ["API_TOKEN", "NOT_YET"], "confirmed_code_version": 1, "code_version": 2, "suspended": true})
    );
    assert_eq!(events(&app, "workflow_secret_grants_suspended").await, 1);
    let run = run_once(&app, &workflow, &writer).await;
    assert_refused(&run, "this workflow's secret grants are suspended since its code changed");
    assert!(
        run["log_output"]
            .as_str()
            .unwrap()
            .contains(&format!("an admin must confirm version 2 with PUT /v1/workflows/{workflow}/secrets")),
        "{run}"
    );
    // A change that leaves the code alone suspends nothing more.
    let (status, _) =
        app.patch(&format!("/v1/workflows/{workflow}"), &writer, json!({"tags": ["identity"]})).await;
    assert_eq!(status, 200);
    assert_eq!(events(&app, "workflow_secret_grants_suspended").await, 1);

    // An admin confirms the current version: served again.
    let (status, confirmed) = put_grants(
        &app,
        &workflow,
        &app.admin_key,
        json!({"secrets": ["API_TOKEN", "NOT_YET"], "code_version": 2}),
    )
    .await;
    assert_eq!(status, 200, "{confirmed}");
    assert_eq!(
        (confirmed["data"]["confirmed_code_version"].as_i64(), confirmed["data"]["suspended"].as_bool()),
        (Some(2), Some(false))
    );
    let run = run_once(&app, &workflow, &writer).await;
    assert_served(&run);
    assert_eq!(run["result"]["message"], "read again");

    // New code from an admin key confirms itself: the grants keep being served.
    let admin_code = READS_A_SECRET.replace("\"read\"", "\"read by the admin's code\"");
    let (status, patched) =
        app.patch(&format!("/v1/workflows/{workflow}"), &app.admin_key, json!({"code": admin_code})).await;
    assert_eq!((status, patched["data"]["code_version"].as_i64()), (200, Some(3)), "{patched}");
    assert_eq!(
        grants(&app, &workflow).await,
        json!({"secrets": ["API_TOKEN", "NOT_YET"], "confirmed_code_version": 3, "code_version": 3, "suspended": false})
    );
    let run = run_once(&app, &workflow, &writer).await;
    assert_served(&run);
    assert_eq!(run["result"]["message"], "read by the admin's code");
    // The first grant, the confirmation and the admin's code change; one suspension.
    assert_eq!(events(&app, "workflow_secret_grants_updated").await, 3);
    assert_eq!(events(&app, "workflow_secret_grants_suspended").await, 1);
}

#[tokio::test]
async fn secret_grants_are_managed_by_admins_only_and_validated() {
    let app = spawn_app().await;
    let writer = app.key_with(&["workflows:write", "workflows:read"]).await;
    let code = "async def run(ctx):\n    pass\n";
    let (_, created) = app.post("/v1/workflows", &writer, json!({"name": "Grants", "code": code})).await;
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let path = format!("/v1/workflows/{workflow}/secrets");

    // Only admin keys, as the other secret routes.
    let (status, body) = app.get(&path, &writer).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    let (status, body) =
        put_grants(&app, &workflow, &writer, json!({"secrets": ["A"], "code_version": 1})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    assert_eq!(grants(&app, &workflow).await["secrets"], json!([]));

    // An unknown workflow is a 404 in the reference's envelope.
    let unknown = uuid::Uuid::new_v4();
    let (status, body) = app.get(&format!("/v1/workflows/{unknown}/secrets"), &app.admin_key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");
    assert_eq!(body["error"]["message"], format!("Workflow {unknown} not found"));
    let (status, body) =
        put_grants(&app, &unknown.to_string(), &app.admin_key, json!({"secrets": ["A"], "code_version": 1}))
            .await;
    assert_eq!((status, body["error"]["code"].as_str()), (404, Some("NOT_FOUND")), "{body}");

    // Bad names and bad bodies are located 422s; nothing changes.
    let (status, body) = put_grants(
        &app,
        &workflow,
        &app.admin_key,
        json!({"secrets": ["GOOD", "bad name", "", "x".repeat(129)], "code_version": 1}),
    )
    .await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("VALIDATION_ERROR")), "{body}");
    let locations: Vec<Value> =
        body["error"]["details"]["errors"].as_array().unwrap().iter().map(|e| e["loc"].clone()).collect();
    assert_eq!(
        locations,
        [json!(["body", "secrets", "1"]), json!(["body", "secrets", "2"]), json!(["body", "secrets", "3"])]
    );
    // Without the reviewed code version, too: a confirmation names the code it confirms.
    for bad in
        [json!({}), json!({"secrets": "A"}), json!({"secrets": [1]}), json!(["A"]), json!({"secrets": ["A"]})]
    {
        let (status, body) = put_grants(&app, &workflow, &app.admin_key, bad.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some("VALIDATION_ERROR")),
            "{bad}: {body}"
        );
    }
    assert_eq!(grants(&app, &workflow).await["secrets"], json!([]));

    // Names are kept sorted and once; `[]` revokes every grant.
    let set = grant(&app, &workflow, &["b.key", "A-1", "b.key", "C_2"]).await;
    assert_eq!(set["data"]["secrets"], json!(["A-1", "C_2", "b.key"]), "{set}");
    assert_eq!(set["meta"], json!({}));
    let revoked = grant(&app, &workflow, &[]).await;
    assert_eq!(revoked["data"]["secrets"], json!([]));

    // A version the admin reviewed that is no longer current confirms nothing.
    let (status, body) =
        put_grants(&app, &workflow, &app.admin_key, json!({"secrets": ["A"], "code_version": 7})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("WORKFLOW_CODE_CHANGED")), "{body}");
    assert_eq!(grants(&app, &workflow).await["secrets"], json!([]));

    // Deleting the workflow takes its grants with it.
    grant(&app, &workflow, &["A"]).await;
    let (status, _) = app.delete(&format!("/v1/workflows/{workflow}"), &writer).await;
    assert_eq!(status, 204);
    let (status, _) = app.get(&path, &app.admin_key).await;
    assert_eq!(status, 404);
}

/// Waits for the first half of a clock minute: limits count in minute windows, and a check that
/// straddled a boundary would find budgets it spent before the boundary gone, or spent after it.
async fn early_in_a_window() {
    eventually("the first half of a minute", Duration::from_secs(70), || async {
        let second = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() % 60;
        (second < 30).then_some(())
    })
    .await;
}

#[tokio::test]
async fn test_mode_counts_against_the_workflow_execution_limit() {
    let app = spawn_app_with(AppOptions {
        env: vec![("RATE_LIMIT_WORKFLOW_EXECUTE_PER_MINUTE", "2".into())],
        ..AppOptions::default()
    })
    .await;
    let key = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let code = "async def run(ctx):\n    pass\n";
    let (_, created) =
        app.post("/v1/workflows", &key, json!({"name": "Tested", "code": code, "state": "active"})).await;
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let test = format!("/v1/workflows/{workflow}/test");
    early_in_a_window().await;
    for _ in 0..2 {
        let (status, body) = app.post(&test, &key, json!({})).await;
        assert_eq!(status, 200, "{body}");
    }
    let resp = app.client.post(app.url(&test)).bearer_auth(&key).json(&json!({})).send().await.unwrap();
    let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
    let (status, limited) = status_json(resp).await;
    assert_eq!((status, limited["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{limited}");
    assert!(retry_after.and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| (1..=60).contains(&r)));
    // Other routes keep their own counters.
    let (status, _) = app.get("/v1/workflows", &key).await;
    assert_eq!(status, 200, "other routes keep their own limit");
    let (status, body) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &key,
            json!({"indicator_type": "ip", "indicator_value": "198.51.100.1"}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
}

#[tokio::test]
async fn a_change_read_before_a_code_change_is_not_written_over_it() {
    let app = spawn_app().await;
    let (_, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Raced", "code": "async def run(ctx):\n    pass\n"}),
        )
        .await;
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let uuid: uuid::Uuid = workflow.parse().unwrap();
    // A writer's request reads the workflow at version 1 …
    let stale = calseta_store::workflows::get(&app.db, uuid).await.unwrap().unwrap();
    // … an admin's new code lands (version 2, grants confirmed for it) …
    let admin_code = "async def run(ctx):\n    return None\n";
    let (status, _) =
        app.patch(&format!("/v1/workflows/{workflow}"), &app.admin_key, json!({"code": admin_code})).await;
    assert_eq!(status, 200);
    grant(&app, &workflow, &["API_TOKEN"]).await;
    // … and the writer's write from its stale read changes nothing: its code would otherwise be
    // back under grants confirmed for the admin's.
    let mut tx = app.db.begin().await.unwrap();
    let fields = calseta_store::workflows::WorkflowFields::from(stale.clone());
    let written =
        calseta_store::workflows::update(&mut tx, stale.id, stale.code_version, &fields, false, false)
            .await
            .unwrap();
    assert!(written.is_none(), "a stale read is not written");
    drop(tx);
    let now = calseta_store::workflows::get(&app.db, uuid).await.unwrap().unwrap();
    assert_eq!(
        (now.code.as_str(), now.code_version, now.secret_grants_confirmed_version),
        (admin_code, 2, Some(2))
    );
    // Through the API, a PATCH whose read is current still works.
    let (status, patched) =
        app.patch(&format!("/v1/workflows/{workflow}"), &app.admin_key, json!({"tags": ["x"]})).await;
    assert_eq!((status, patched["data"]["code_version"].as_i64()), (200, Some(2)), "{patched}");
}
