//! Workflows over REST: create with v1's defaults, validation by the interpreter's own parser,
//! code versions, v1's state rules, the builtin Okta and Entra workflows, and workflow secrets.

use serde_json::{Value, json};

use crate::helpers::*;

const V1_CODE: &str = r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    ctx.log.info("hello", value=ctx.indicator.value)
    return WorkflowResult.ok("done")
"#;

#[tokio::test]
async fn workflows_are_created_with_v1_defaults_and_validated_code() {
    let app = spawn_app().await;
    let key = app.key_with(&["workflows:read", "workflows:write"]).await;
    let (status, created) =
        app.post("/v1/workflows", &key, json!({"name": "Block IP", "code": V1_CODE})).await;
    assert_eq!(status, 201, "{created}");
    let w = &created["data"];
    for (field, expected) in [
        ("state", json!("draft")),
        ("code_version", json!(1)),
        ("timeout_seconds", json!(300)),
        ("retry_count", json!(0)),
        ("is_active", json!(true)),
        ("is_system", json!(false)),
        ("approval_mode", json!("always")),
        ("approval_timeout_seconds", json!(3600)),
        ("risk_level", json!("medium")),
        ("tags", json!([])),
        ("indicator_types", json!([])),
        ("workflow_type", Value::Null),
    ] {
        assert_eq!(w[field], expected, "{field}");
    }
    assert_eq!(w["code"], V1_CODE);

    // Enum and type violations are 422; code that fails validation is 400 with every problem.
    for bad in [
        json!({"name": "x", "code": V1_CODE, "state": "running"}),
        json!({"name": "x", "code": V1_CODE, "approval_mode": "sometimes"}),
        json!({"name": "x", "code": V1_CODE, "risk_level": "extreme"}),
        json!({"name": "x", "code": V1_CODE, "indicator_types": ["ipv4"]}),
        json!({"name": "x", "code": V1_CODE, "timeout_seconds": 0}),
        json!({"name": "x"}),
        json!({"code": V1_CODE}),
    ] {
        let (status, body) = app.post("/v1/workflows", &key, bad.clone()).await;
        assert_eq!(status, 422, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "VALIDATION_ERROR");
    }
    let hostile =
        "import subprocess\n\nasync def run(ctx):\n    return ().__class__.__base__.__subclasses__()\n";
    let (status, body) = app.post("/v1/workflows", &key, json!({"name": "x", "code": hostile})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "WORKFLOW_CODE_INVALID");
    assert_eq!(body["error"]["message"], "Workflow code failed validation");
    let errors: Vec<&str> =
        body["error"]["details"]["errors"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    assert!(errors.contains(&"Line 1, column 0: import of 'subprocess' is not allowed"), "{errors:?}");
    assert!(
        errors.iter().any(|e| e.starts_with("Line 4, column") && e.contains("'__subclasses__'")),
        "{errors:?}"
    );
    let (status, body) =
        app.post("/v1/workflows", &key, json!({"name": "x", "code": "async def run(ctx)\n"})).await;
    assert_eq!(status, 400);
    assert!(body["error"]["details"]["errors"][0].as_str().unwrap().starts_with("Syntax error"), "{body}");

    let (_, list) = app.get("/v1/workflows?state=draft&sort_by=name&sort_order=asc", &key).await;
    assert_eq!(list["meta"]["total"], 1, "{list}");
    assert!(list["data"][0].get("code").is_none(), "the list leaves the code out");
}

#[tokio::test]
async fn code_changes_are_kept_as_versions_and_state_drives_is_active() {
    let app = spawn_app().await;
    let key = app.key_with(&["workflows:read", "workflows:write"]).await;
    let (_, created) = app.post("/v1/workflows", &key, json!({"name": "W", "code": V1_CODE})).await;
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let path = format!("/v1/workflows/{uuid}");
    let second = V1_CODE.replace("done", "second");
    let (status, patched) = app.patch(&path, &key, json!({"code": second, "state": "active"})).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["data"]["code_version"].as_i64(), patched["data"]["is_active"].as_bool()),
        (Some(2), Some(true))
    );
    // The same code again still makes a version, as v1 does.
    let (_, patched) = app.patch(&path, &key, json!({"code": second})).await;
    assert_eq!(patched["data"]["code_version"], 3);
    let (_, versions) = app.get(&format!("{path}/versions"), &key).await;
    let versions = versions["data"].as_array().unwrap().clone();
    assert_eq!(versions.iter().map(|v| v["version"].as_i64().unwrap()).collect::<Vec<_>>(), [2, 1]);
    assert_eq!(versions[1]["code"], V1_CODE);
    assert_eq!(versions[1]["code_preview"].as_str().unwrap().chars().count(), 120);
    // Invalid new code changes nothing.
    let (status, _) = app.patch(&path, &key, json!({"code": "import os\nasync def run(ctx): pass\n"})).await;
    assert_eq!(status, 400);
    let (_, current) = app.get(&path, &key).await;
    assert_eq!(current["data"]["code_version"], 3);
    // inactive ⇒ is_active false, unless the request sets it; nulls leave fields alone.
    let (_, patched) = app.patch(&path, &key, json!({"state": "inactive", "risk_level": null})).await;
    assert_eq!(
        (patched["data"]["is_active"].as_bool(), patched["data"]["risk_level"].as_str()),
        (Some(false), Some("medium"))
    );
    let (_, patched) = app.patch(&path, &key, json!({"state": "draft", "is_active": true})).await;
    assert_eq!(patched["data"]["is_active"], true);
    let (status, _) = app.delete(&path, &key).await;
    assert_eq!(status, 204);
    let (status, body) = app.get(&path, &key).await;
    assert_eq!(
        (status, body["error"]["message"].as_str()),
        (404, Some(format!("Workflow {uuid} not found").as_str()))
    );
}

#[tokio::test]
async fn the_builtin_workflows_are_seeded_once_valid_and_undeletable() {
    let app = spawn_app().await;
    let key = app.key_with(&["workflows:read", "workflows:write"]).await;
    let (_, list) = app.get("/v1/workflows?page_size=100&sort_by=name&sort_order=asc", &key).await;
    let builtins: Vec<Value> =
        list["data"].as_array().unwrap().iter().filter(|w| w["is_system"] == true).cloned().collect();
    assert_eq!(builtins.len(), 9, "{list}");
    let names: Vec<&str> = builtins.iter().filter_map(|w| w["name"].as_str()).collect();
    for expected in ["Okta — Revoke All Sessions", "Okta — Suspend User", "Entra — Force MFA Re-registration"]
    {
        assert!(names.contains(&expected), "{names:?}");
    }
    for w in &builtins {
        assert_eq!((w["state"].as_str(), w["approval_mode"].as_str()), (Some("active"), Some("always")));
        assert_eq!(w["indicator_types"], json!(["account"]));
        assert_eq!(w["is_active"], false, "no integration is configured in tests");
        assert!(w["documentation"].as_str().unwrap().contains("## When to Use"));
        let (_, detail) = app.get(&format!("/v1/workflows/{}", w["uuid"].as_str().unwrap()), &key).await;
        assert_eq!(detail["data"]["timeout_seconds"], 60);
        // Each builtin passes the same validation as any saved code.
        let code = detail["data"]["code"].as_str().unwrap();
        let (status, body) = app
            .patch(&format!("/v1/workflows/{}", w["uuid"].as_str().unwrap()), &key, json!({"code": code}))
            .await;
        assert_eq!(status, 200, "{}: {body}", w["name"]);
    }
    let risk = |name: &str| builtins.iter().find(|w| w["name"] == name).unwrap()["risk_level"].clone();
    assert_eq!(
        (risk("Okta — Suspend User"), risk("Okta — Revoke All Sessions")),
        (json!("high"), json!("low"))
    );
    let (status, body) =
        app.delete(&format!("/v1/workflows/{}", builtins[0]["uuid"].as_str().unwrap()), &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    // Seeding again (every process start does) adds nothing.
    let second = start_worker_with(&app, &[]).await;
    second.shutdown().await;
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM workflows WHERE is_system = TRUE").await, 9);
}

#[tokio::test]
async fn workflow_secrets_are_encrypted_and_never_listed_with_values() {
    let app = spawn_app_with(AppOptions {
        env: vec![("ENCRYPTION_KEY", TEST_ENCRYPTION_KEY.into())],
        ..Default::default()
    })
    .await;
    let key = &app.admin_key;
    let put = |name: &'static str, value: &'static str| {
        app.client
            .put(app.url(&format!("/v1/workflow-secrets/{name}")))
            .bearer_auth(key)
            .json(&json!({"value": value}))
            .send()
    };
    let (status, body) = status_json(put("OKTA_TOKEN", "00aBcD-super-secret").await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["data"].get("value").is_none(), "{body}");
    let decrypt = |token: String| {
        let key = calseta_services::platform::crypto::EncryptionKey::parse(TEST_ENCRYPTION_KEY).unwrap();
        String::from_utf8(key.decrypt(&token).unwrap()).unwrap()
    };
    let (_, listed) = app.get("/v1/workflow-secrets", key).await;
    assert_eq!(listed["data"][0]["name"], "OKTA_TOKEN");
    assert!(!listed.to_string().contains("super-secret"), "{listed}");
    let stored =
        query_i64(&app, "SELECT COUNT(*) FROM workflow_secrets WHERE value_encrypted LIKE '%super-secret%'")
            .await;
    assert_eq!(stored, 0, "stored encrypted");
    let token =
        query_text(&app, "SELECT value_encrypted FROM workflow_secrets WHERE name = 'OKTA_TOKEN'").await;
    assert_eq!(decrypt(token), "00aBcD-super-secret");
    // Replacing keeps one row; bad names are refused; only admin keys manage secrets.
    assert_eq!(put("OKTA_TOKEN", "v2").await.unwrap().status().as_u16(), 200);
    let token =
        query_text(&app, "SELECT value_encrypted FROM workflow_secrets WHERE name = 'OKTA_TOKEN'").await;
    assert_eq!(decrypt(token), "v2");
    assert_eq!(query_i64(&app, "SELECT COUNT(*) FROM workflow_secrets").await, 1);
    assert_eq!(put("bad name", "v").await.unwrap().status().as_u16(), 422);
    let writer = app.key_with(&["workflows:write"]).await;
    let (status, _) = app.get("/v1/workflow-secrets", &writer).await;
    assert_eq!(status, 403);
    let (status, _) = app.delete("/v1/workflow-secrets/OKTA_TOKEN", key).await;
    assert_eq!(status, 204);
    let (status, _) = app.delete("/v1/workflow-secrets/OKTA_TOKEN", key).await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn test_mode_answers_with_keyed_mocks_or_live_http_and_stores_nothing() {
    let live = wiremock::MockServer::start().await;
    wiremock::Mock::given(wiremock::matchers::method("GET"))
        .and(wiremock::matchers::path("/api/v1/users/jdoe"))
        .respond_with(wiremock::ResponseTemplate::new(200).set_body_json(json!({"id": "00u-live"})))
        .mount(&live)
        .await;
    let app = spawn_app_reaching_loopback().await;
    let key = app.key_with(&["workflows:write", "workflows:execute", "workflows:read"]).await;
    let code = r#"from app.workflows.context import WorkflowContext, WorkflowResult

async def run(ctx: WorkflowContext) -> WorkflowResult:
    base = ctx.secrets.get("IDP_BASE", "https://idp.example.test")
    user = await ctx.http.get(base + "/api/v1/users/" + ctx.indicator.value)
    gone = await ctx.http.delete(base + "/api/v1/users/" + user.json()["id"] + "/sessions")
    await ctx.integrations.okta.revoke_sessions(ctx.indicator.value)
    ctx.log.info("done", status=gone.status_code)
    return WorkflowResult.ok("revoked", data={"id": user.json()["id"], "status": gone.status_code,
                                             "type": ctx.indicator.type, "alert": ctx.alert is None})
"#;
    let (status, created) = app
        .post("/v1/workflows", &key, json!({"name": "Revoke (test)", "code": code, "state": "active"}))
        .await;
    assert_eq!(status, 201, "{created}");
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    crate::secret_grants::grant(&app, &uuid, &["IDP_BASE"]).await;
    let test = format!("/v1/workflows/{uuid}/test");

    // Mocks keyed by method and URL pattern; the most specific one answers.
    let mocks = json!({
        "GET https://idp.example.test/api/v1/users/*": {"status": 200, "json": {"id": "00u-mock"}},
        "DELETE https://idp.example.test/*/sessions": {"status": 204, "text": ""},
        "https://idp.example.test/*": {"status": 500, "json": {"error": "unexpected"}}
    });
    let (status, tested) = app
        .post(
            &test,
            &key,
            json!({"indicator_type": "account", "indicator_value": "jdoe", "mock_http_responses": mocks}),
        )
        .await;
    assert_eq!(status, 200, "{tested}");
    let data = &tested["data"];
    assert_eq!(
        (data["success"].as_bool(), data["message"].as_str()),
        (Some(true), Some("revoked")),
        "{tested}"
    );
    assert_eq!(
        data["result_data"],
        json!({"id": "00u-mock", "status": 204, "type": "account", "alert": true})
    );
    let log = data["log_output"].as_str().unwrap();
    assert!(log.contains("HTTP GET https://idp.example.test/api/v1/users/jdoe -> 200"), "{log}");
    assert!(
        log.contains("HTTP DELETE https://idp.example.test/api/v1/users/00u-mock/sessions -> 204"),
        "{log}"
    );
    assert!(data["duration_ms"].as_u64().is_some());

    // v1's form: one body answers every request; a request no keyed mock matches is an error.
    let (_, tested) = app.post(&test, &key, json!({"mock_http_responses": {"id": "00u-v1"}})).await;
    assert_eq!(tested["data"]["result_data"]["id"], "00u-v1", "{tested}");
    assert_eq!(tested["data"]["result_data"]["type"], "ip", "the default indicator");
    let only_get = json!({"GET https://idp.example.test/*": {"status": 200, "json": {"id": "x"}}});
    let (_, tested) = app.post(&test, &key, json!({"mock_http_responses": only_get})).await;
    assert_eq!(tested["data"]["success"], false);
    let log = tested["data"]["log_output"].as_str().unwrap();
    assert!(
        log.contains("no mock response for DELETE https://idp.example.test/api/v1/users/x/sessions"),
        "{log}"
    );

    // live_http goes out for real, through the SSRF-safe client.
    let (status, _) = app
        .client
        .put(app.url("/v1/workflow-secrets/IDP_BASE"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"value": live.uri()}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    assert_eq!(status, 200);
    // The workflow asks a human first (`always`): a live test would go around that, so it is refused
    // until the workflow needs no approval for this caller.
    let live_request = json!({"indicator_type": "account", "indicator_value": "jdoe", "live_http": true});
    let (status, body) = app.post(&test, &key, live_request.clone()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("APPROVAL_REQUIRED")), "{body}");
    assert!(live.received_requests().await.unwrap().is_empty());
    app.patch(&format!("/v1/workflows/{uuid}"), &key, json!({"approval_mode": "never"})).await;
    let (_, tested) = app.post(&test, &key, live_request).await;
    assert_eq!(tested["data"]["result_data"]["id"], "00u-live", "{tested}");
    assert_eq!(tested["data"]["result_data"]["status"], 404, "the live stand-in has no sessions route");
    let log = tested["data"]["log_output"].as_str().unwrap();
    // The base URL is the secret IDP_BASE: masked in the log like every served secret.
    assert!(log.contains("HTTP GET ***/api/v1/users/jdoe -> 200"), "{log}");
    assert!(!log.contains(&live.uri()), "{log}");
    assert_eq!(live.received_requests().await.unwrap().len(), 2, "GET and DELETE reached the live server");
    let (_, _) = app
        .client
        .put(app.url("/v1/workflow-secrets/IDP_BASE"))
        .bearer_auth(&app.admin_key)
        .json(&json!({"value": "http://169.254.169.254"}))
        .send()
        .await
        .map(|r| (r.status().as_u16(), ()))
        .unwrap();
    let (_, tested) = app.post(&test, &key, json!({"live_http": true})).await;
    assert!(tested["data"]["log_output"].as_str().unwrap().contains("SSRF blocked"), "{tested}");

    // Nothing is stored but the live tests' activity (their requests were real): no run.
    let (_, runs) = app.get(&format!("/v1/workflows/{uuid}/runs"), &key).await;
    assert_eq!(runs["meta"]["total"], 0);
    assert_eq!(
        query_i64(
            &app,
            "SELECT COUNT(*) FROM activity_events WHERE event_type LIKE 'workflow%' \
             AND event_type <> 'workflow_secret_grants_updated'"
        )
        .await,
        2
    );
    assert_eq!(
        query_i64(&app, "SELECT COUNT(*) FROM activity_events WHERE event_type = 'workflow_tested_live'")
            .await,
        2
    );

    // Refusals: bad input is 422, a workflow that is not active is 400.
    let (status, body) = app.post(&test, &key, json!({"mock_http_responses": [1, 2]})).await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = app.post(&test, &key, json!({"indicator_type": "ipv9"})).await;
    assert_eq!(status, 422, "{body}");
    let huge = json!({"body": "x".repeat(300 * 1024)});
    let (status, body) = app.post(&test, &key, json!({"mock_http_responses": huge})).await;
    assert_eq!(status, 422, "{body}");
    app.patch(&format!("/v1/workflows/{uuid}"), &key, json!({"state": "draft"})).await;
    let (status, body) = app.post(&test, &key, json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("WORKFLOW_NOT_EXECUTABLE")), "{body}");
    let (status, _) =
        app.post(&format!("/v1/workflows/{}/test", uuid::Uuid::new_v4()), &key, json!({})).await;
    assert_eq!(status, 404);
}
