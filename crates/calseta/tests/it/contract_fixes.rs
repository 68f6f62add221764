//! Contract defects independent clients found (issue 21): indicator values executed as ingest
//! stores them, the MCP alert resource's enrichment state, MITRE search spellings, `meta` on every
//! success envelope, an empty typed query parameter, and whole numbers written `5.0`.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::ingest::ingest_and_wait;

/// One JSON-RPC request to `/mcp` (stateless: no session is needed).
async fn mcp_rpc(app: &TestApp, method: &str, params: Value) -> Value {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let resp = app
        .client
        .post(app.url("/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, answer) = status_json(resp).await;
    assert_eq!(status, 200, "{answer}");
    answer
}

/// A tool's answer, which must not be an error.
async fn mcp_tool(app: &TestApp, name: &str, arguments: Value) -> Value {
    let answer = mcp_rpc(app, "tools/call", json!({"name": name, "arguments": arguments})).await;
    assert_ne!(answer["result"]["isError"], true, "{answer}");
    let text = answer["result"]["content"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}"));
    serde_json::from_str(text).unwrap()
}

/// A resource as read over MCP.
async fn mcp_read(app: &TestApp, uri: &str) -> Value {
    let answer = mcp_rpc(app, "resources/read", json!({"uri": uri})).await;
    let text = answer["result"]["contents"][0]["text"].as_str().unwrap_or_else(|| panic!("{answer}"));
    serde_json::from_str(text).unwrap()
}

/// An alert carrying `indicators` (`[type, value]`), enriched and settled.
async fn alert_with(app: &TestApp, indicators: &[(&str, &str)]) -> String {
    let alert = ingest_and_wait(app, "generic", r#"{"title": "Password spray", "severity": "High"}"#).await;
    let uuid = alert["data"]["uuid"].as_str().unwrap().to_string();
    let items: Vec<Value> = indicators.iter().map(|(t, v)| json!({"type": t, "value": v})).collect();
    let (status, added) = app
        .post(
            &format!("/v1/alerts/{uuid}/indicators?enrich=false"),
            &app.admin_key,
            json!({"indicators": items}),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    uuid
}

/// The run `run_uuid` of `workflow` once it has finished.
async fn run_of(app: &TestApp, workflow: &str, run_uuid: &str) -> Value {
    eventually("the run finishes", Duration::from_secs(60), || async {
        let (_, runs) =
            app.get(&format!("/v1/workflows/{workflow}/runs?page_size=100"), &app.admin_key).await;
        runs["data"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["uuid"] == run_uuid))
            .filter(|r| r["status"] != "queued" && r["status"] != "running")
            .cloned()
    })
    .await
}

const ECHO: &str = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('acted on ' + ctx.indicator.value)\n";

#[tokio::test]
async fn execute_looks_the_indicator_up_as_ingest_stored_it_over_rest_and_mcp() {
    let app = spawn_app().await;
    alert_with(
        &app,
        &[
            ("email", "nick.hathaway@calseta.com"),
            ("account", "Nick.Hathaway@Calseta.com"),
            ("ip", "185.220.101.47"),
        ],
    )
    .await;
    let (status, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Echo", "code": ECHO, "state": "active", "approval_mode": "never"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let execute = format!("/v1/workflows/{workflow}/execute");
    for (kind, sent, stored) in [
        ("email", "Nick.Hathaway@Calseta.com", "nick.hathaway@calseta.com"),
        ("account", " Nick.Hathaway@CALSETA.com ", "Nick.Hathaway@calseta.com"),
        ("ip", "185.220.101[.]47", "185.220.101.47"),
    ] {
        let (status, queued) = app
            .post(&execute, &app.admin_key, json!({"indicator_type": kind, "indicator_value": sent}))
            .await;
        assert_eq!(status, 202, "{queued}");
        let run = run_of(&app, &workflow, queued["data"]["run_uuid"].as_str().unwrap()).await;
        assert_eq!(run["status"], "success", "{kind} {sent}: {run}");
        assert_eq!(run["result"]["message"], format!("acted on {stored}"));
        assert_eq!(run["trigger_context"]["indicator_value"], stored);
    }

    // The same through MCP's execute_workflow.
    let queued = mcp_tool(
        &app,
        "execute_workflow",
        json!({"workflow_uuid": workflow, "indicator_type": "ip", "indicator_value": "185[.]220[.]101[.]47"}),
    )
    .await;
    assert_eq!(queued["status"], "queued", "{queued}");
    let run = run_of(&app, &workflow, queued["run_uuid"].as_str().unwrap()).await;
    assert_eq!(
        (run["status"].as_str(), run["result"]["message"].as_str()),
        (Some("success"), Some("acted on 185.220.101.47"))
    );
    let queued = mcp_tool(
        &app,
        "execute_workflow",
        json!({"workflow_uuid": workflow, "indicator_type": "email", "indicator_value": "NICK.HATHAWAY@calseta.COM"}),
    )
    .await;
    let run = run_of(&app, &workflow, queued["run_uuid"].as_str().unwrap()).await;
    assert_eq!(run["status"], "success", "{run}");

    // A value that is no such indicator is still run and reported missing, as before.
    let (status, queued) = app
        .post(&execute, &app.admin_key, json!({"indicator_type": "ip", "indicator_value": "not-an-ip"}))
        .await;
    assert_eq!(status, 202, "{queued}");
    let run = run_of(&app, &workflow, queued["data"]["run_uuid"].as_str().unwrap()).await;
    assert_eq!(run["result"]["message"], "Indicator (ip, 'not-an-ip') not found in database");
}

#[tokio::test]
async fn the_mcp_alert_resource_has_the_enrichment_status() {
    let app = spawn_app().await;
    let uuid = alert_with(&app, &[("ip", "185.220.101.47")]).await;
    let (_, detail) = app.get(&format!("/v1/alerts/{uuid}"), &app.admin_key).await;
    let status = detail["data"]["enrichment_status"].clone();
    assert!(status.is_string(), "{detail}");
    let resource = mcp_read(&app, &format!("calseta://alerts/{uuid}")).await;
    assert_eq!(resource["enrichment_status"], status, "{resource}");
    assert_eq!(resource["uuid"], uuid.as_str());
}

#[tokio::test]
async fn search_detection_rules_matches_tactics_by_id_or_name_and_techniques_in_any_case() {
    let app = spawn_app().await;
    let mut rules = Vec::new();
    for (name, tactics, techniques, subtechniques) in [
        ("Spray", json!(["CredentialAccess", "InitialAccess"]), json!(["T1110"]), json!(["T1110.003"])),
        ("Dump", json!(["credential-access"]), json!(["t1003"]), json!([])),
        ("Run", json!(["Execution"]), json!(["T1059"]), json!(["T1059.001"])),
        ("Own", json!(["My Custom Tactic"]), json!([]), json!([])),
    ] {
        let body = json!({"name": name, "mitre_tactics": tactics, "mitre_techniques": techniques,
                          "mitre_subtechniques": subtechniques});
        let (status, created) = app.post("/v1/detection-rules", &app.admin_key, body).await;
        assert_eq!(status, 201, "{created}");
        rules.push(name);
    }
    let names = |found: &Value| -> Vec<String> {
        let mut names: Vec<String> = found["detection_rules"]
            .as_array()
            .unwrap_or_else(|| panic!("{found}"))
            .iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect();
        names.sort();
        names
    };
    for tactic in [
        "TA0006",
        "ta0006",
        "Credential Access",
        "credential-access",
        "CREDENTIAL_ACCESS",
        "CredentialAccess",
    ] {
        let found = mcp_tool(&app, "search_detection_rules", json!({"mitre_tactic": tactic})).await;
        assert_eq!(names(&found), ["Dump", "Spray"], "{tactic}");
        assert_eq!(found["total"], 2);
    }
    for (tactic, expected) in [
        ("TA0002", vec!["Run"]),
        ("initial access", vec!["Spray"]),
        ("my-custom-tactic", vec!["Own"]),
        ("TA0040", vec![]),
    ] {
        let found = mcp_tool(&app, "search_detection_rules", json!({"mitre_tactic": tactic})).await;
        assert_eq!(names(&found), expected, "{tactic}");
    }
    for (technique, expected) in [
        ("t1110", vec!["Spray"]),
        ("T1110.003", vec!["Spray"]),
        ("t1110.003", vec!["Spray"]),
        ("T1110.001", vec![]),
        ("T1003", vec!["Dump"]),
        ("T1059", vec!["Run"]),
        ("T105", vec![]),
        ("T9999.999", vec![]),
    ] {
        let found = mcp_tool(&app, "search_detection_rules", json!({"mitre_technique": technique})).await;
        assert_eq!(names(&found), expected, "{technique}");
    }
    // The tool schema's own example works.
    let answer = mcp_rpc(&app, "tools/list", json!({})).await;
    let tool = answer["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "search_detection_rules")
        .unwrap()
        .clone();
    let described = tool["inputSchema"]["properties"]["mitre_tactic"]["description"].as_str().unwrap();
    assert!(described.contains("TA0006"), "{described}");
    let found = mcp_tool(
        &app,
        "search_detection_rules",
        json!({"mitre_tactic": "TA0006", "mitre_technique": "T1110.003"}),
    )
    .await;
    assert_eq!(names(&found), ["Spray"]);
}

#[tokio::test]
async fn every_success_envelope_carries_meta() {
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    let alert = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": "Beacon", "severity": "Low"}}),
        )
        .await;
    assert_eq!(alert.0, 202, "{}", alert.1);
    let alert = alert.1["data"]["alert_uuid"].as_str().unwrap().to_string();
    let (status, body) = app.post(&format!("/v1/alerts/{alert}/enrich"), &app.admin_key, json!({})).await;
    assert_eq!((status, &body["meta"]), (202, &json!({})), "{body}");
    let (status, body) =
        app.post(&format!("/v1/alerts/{alert}/trigger-agents"), &app.admin_key, json!({})).await;
    assert_eq!((status, &body["meta"]), (202, &json!({})), "{body}");
    let (status, agent) = app
        .post(
            "/v1/agents",
            &app.admin_key,
            json!({"name": "hook", "endpoint_url": "http://127.0.0.1:9/hook"}),
        )
        .await;
    assert_eq!(status, 201, "{agent}");
    let agent = agent["data"]["uuid"].as_str().unwrap();
    let (status, body) = app
        .post(&format!("/v1/alerts/{alert}/dispatch-agent?agent_uuid={agent}"), &app.admin_key, json!({}))
        .await;
    assert_eq!((status, &body["meta"]), (202, &json!({})), "{body}");

    // A workflow that asks a human: the pending answer has `meta` too.
    let (_, created) = app
        .post("/v1/workflows", &app.admin_key, json!({"name": "Gated", "code": ECHO, "state": "active"}))
        .await;
    let workflow = created["data"]["uuid"].as_str().unwrap();
    let (status, body) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &app.admin_key,
            json!({"indicator_type": "ip", "indicator_value": "185.220.101.47"}),
        )
        .await;
    assert_eq!((status, body["data"]["status"].as_str()), (202, Some("pending_approval")), "{body}");
    assert_eq!(body["meta"], json!({}), "{body}");
}

#[tokio::test]
async fn an_empty_payload_profile_is_a_validation_error() {
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    let (_, accepted) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": "Beacon", "severity": "Low"}}),
        )
        .await;
    let alert = accepted["data"]["alert_uuid"].as_str().unwrap().to_string();
    let (status, body) = app.get(&format!("/v1/alerts/{alert}/payload?profile="), &app.admin_key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("VALIDATION_ERROR")), "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["query", "profile"]), "{body}");
    // Absent, it is the default.
    let (status, body) = app.get(&format!("/v1/alerts/{alert}/payload"), &app.admin_key).await;
    assert_eq!((status, body["event"].as_str()), (200, Some("alert.enriched")), "{body}");
}

#[tokio::test]
async fn integer_fields_accept_whole_numbers_written_with_a_zero_fraction() {
    let app = spawn_app_with(AppOptions {
        env: vec![("SSRF_ALLOWED_HOSTS", "127.0.0.1".into())],
        run_worker: false,
        ..AppOptions::default()
    })
    .await;
    let msgs = |body: &Value| -> Vec<String> {
        body["error"]["details"]["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"))
            .iter()
            .map(|e| e["msg"].as_str().unwrap().to_string())
            .collect()
    };

    // An object body read field by field (workflows, agents, provider changes).
    let workflow =
        json!({"name": "Timed", "code": ECHO, "timeout_seconds": 5.0, "approval_timeout_seconds": 120.0});
    let (status, created) = app.post("/v1/workflows", &app.admin_key, workflow).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["data"]["timeout_seconds"].as_i64(), created["data"]["approval_timeout_seconds"].as_i64()),
        (Some(5), Some(120))
    );
    let (status, body) = app
        .post("/v1/workflows", &app.admin_key, json!({"name": "Half", "code": ECHO, "timeout_seconds": 5.5}))
        .await;
    assert_eq!(
        (status, msgs(&body)),
        (422, vec!["timeout_seconds must be an integer from 1 to 3600".to_string()])
    );
    let (status, body) = app
        .post("/v1/workflows", &app.admin_key, json!({"name": "Long", "code": ECHO, "timeout_seconds": 1e10}))
        .await;
    assert_eq!(
        (status, msgs(&body)),
        (422, vec!["timeout_seconds must be an integer from 1 to 3600".to_string()])
    );
    let agent = json!({"name": "hook", "endpoint_url": "http://127.0.0.1:9/hook", "timeout_seconds": 10.0,
                       "retry_count": 2.0});
    let (status, created) = app.post("/v1/agents", &app.admin_key, agent).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["data"]["timeout_seconds"].as_i64(), created["data"]["retry_count"].as_i64()),
        (Some(10), Some(2))
    );

    // A typed body (a new provider).
    let provider = |extra: Value| {
        let mut body = json!({"provider_name": "numbers", "display_name": "Numbers", "supported_indicator_types": ["ip"],
                              "http_config": {"steps": [{"url": "https://numbers.example.com/{{indicator.value}}"}]}});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let (status, body) =
        app.post("/v1/enrichment-providers", &app.admin_key, provider(json!({"max_concurrency": 4.5}))).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["body", "max_concurrency"]), "{body}");
    let (status, body) = app
        .post("/v1/enrichment-providers", &app.admin_key, provider(json!({"rate_limit_per_minute": 1e10})))
        .await;
    assert_eq!(
        (status, msgs(&body)),
        (422, vec!["Input should be less than or equal to 2147483647".to_string()])
    );
    let (status, body) = app
        .post("/v1/enrichment-providers", &app.admin_key, provider(json!({"max_concurrency": -3e10})))
        .await;
    assert_eq!(
        (status, msgs(&body)),
        (422, vec!["Input should be greater than or equal to -2147483648".to_string()])
    );
    let whole =
        json!({"max_concurrency": 4.0, "default_cache_ttl_seconds": 600.0, "rate_limit_per_minute": 60.0});
    let (status, created) = app.post("/v1/enrichment-providers", &app.admin_key, provider(whole)).await;
    assert_eq!(status, 201, "{created}");
    let data = &created["data"];
    assert_eq!(
        (
            data["max_concurrency"].as_i64(),
            data["default_cache_ttl_seconds"].as_i64(),
            data["rate_limit_per_minute"].as_i64()
        ),
        (Some(4), Some(600), Some(60)),
        "{created}"
    );
    let uuid = data["uuid"].as_str().unwrap();

    // A change: whole numbers accepted; a limit too large is refused, never read as "no limit".
    let path = format!("/v1/enrichment-providers/{uuid}");
    let (status, body) = app.patch(&path, &app.admin_key, json!({"rate_limit_per_minute": 30.0})).await;
    assert_eq!((status, body["data"]["rate_limit_per_minute"].as_i64()), (200, Some(30)), "{body}");
    let (status, body) = app.patch(&path, &app.admin_key, json!({"rate_limit_per_minute": 3e10})).await;
    assert_eq!(
        (status, msgs(&body)),
        (422, vec!["must be an integer from 1 to 2147483647 (or null for no limit)".to_string()])
    );
    let (_, body) = app.get(&path, &app.admin_key).await;
    assert_eq!(body["data"]["rate_limit_per_minute"].as_i64(), Some(30));
}

#[tokio::test]
async fn the_openapi_document_says_where_a_star_field_path_is_accepted() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let route = &doc["paths"]["/v1/indicator-mappings"]["post"];
    let text = format!(
        "{} {}",
        route["summary"].as_str().unwrap_or_default(),
        route["description"].as_str().unwrap_or_default()
    );
    assert!(text.contains("`*`") && text.contains("`free_text`") && text.contains("422"), "{route}");
    for (schema, field) in [("MappingCreateRequest", "field_path"), ("MappingPatchRequest", "field_path")] {
        let described = doc["components"]["schemas"][schema]["properties"][field]["description"].as_str();
        assert!(
            described.is_some_and(|d| d.contains("`*`") && d.contains("`free_text`")),
            "{schema}: {described:?}"
        );
    }
    // As documented: `*` is a free_text path only.
    let mapping =
        |target: &str| json!({"field_path": "*", "indicator_type": "ip", "extraction_target": target});
    let (status, body) = app.post("/v1/indicator-mappings", &app.admin_key, mapping("raw_payload")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("VALIDATION_ERROR")), "{body}");
    let (status, body) = app.post("/v1/indicator-mappings", &app.admin_key, mapping("free_text")).await;
    assert_eq!(status, 201, "{body}");
}

#[tokio::test]
async fn one_rule_decides_whether_a_workflow_may_run_at_request_run_and_test_time() {
    let app = spawn_app_with(AppOptions { run_worker: false, ..AppOptions::default() }).await;
    let (status, _) = app
        .post(
            "/v1/ingest/generic",
            &app.admin_key,
            json!({"title": "t", "severity": "Low", "src_ip": "185.220.101.47"}),
        )
        .await;
    assert_eq!(status, 202);
    let code = "from app.workflows.context import WorkflowResult\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let (_, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Switch", "code": code, "state": "active", "approval_mode": "never"}),
        )
        .await;
    let uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let execute = json!({"indicator_type": "ip", "indicator_value": "185.220.101.47"});
    // Queued while it may run; switched off (state still active) before the worker runs it.
    let (status, queued) =
        app.post(&format!("/v1/workflows/{uuid}/execute"), &app.admin_key, execute.clone()).await;
    assert_eq!(status, 202, "{queued}");
    let (status, _) =
        app.patch(&format!("/v1/workflows/{uuid}"), &app.admin_key, json!({"is_active": false})).await;
    assert_eq!(status, 200);
    // At request time and in test mode: refused, saying why.
    for path in ["execute", "test"] {
        let (status, body) =
            app.post(&format!("/v1/workflows/{uuid}/{path}"), &app.admin_key, execute.clone()).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("WORKFLOW_NOT_EXECUTABLE")),
            "{path}: {body}"
        );
        assert!(body["error"]["message"].as_str().unwrap().contains("switched off"), "{path}: {body}");
    }
    // And the queued run does not run.
    let worker = start_worker_with(&app, &[]).await;
    let run = crate::respond::finished_run(&app, &uuid).await;
    worker.shutdown().await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["result"]["message"].as_str().unwrap().contains("switched off"), "{run}");
}

#[tokio::test]
async fn empty_sort_and_enum_list_parameters_are_refused_not_read_as_defaults() {
    let app = spawn_app().await;
    // A sort column or direction sent empty is v1's 400, like any value outside the list.
    for path in ["/v1/context-documents?sort_by=", "/v1/alerts?sort_order=", "/v1/detection-rules?sort_by="] {
        let (status, body) = app.get(path, &app.admin_key).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (400, Some("VALIDATION_ERROR")),
            "{path}: {body}"
        );
    }
    // A typed filter sent empty is a located 422, as FastAPI answers.
    let (status, body) = app.get("/v1/jobs?status=", &app.admin_key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("VALIDATION_ERROR")), "{body}");
    assert_eq!(body["error"]["details"]["errors"][0]["loc"], json!(["query", "status"]), "{body}");
    // Absent, each is its default.
    for path in ["/v1/context-documents", "/v1/alerts", "/v1/jobs"] {
        let (status, body) = app.get(path, &app.admin_key).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}
