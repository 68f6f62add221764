//! MCP, driven by an independent client: the official Python SDK (`mcp` on PyPI, installed by
//! `.ci/run`), over streamable HTTP (on the API port and on `MCP_PORT`) and over stdio. Without the
//! package a developer's run says so and passes; under CI (`CI` set) it fails.

use std::process::Stdio;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::{AppOptions, TestApp, eventually, spawn_app_with, status_json};
use crate::respond::finished_run;
use crate::sandbox::{enriched_alerts, sandbox_app};

const READ_KEY: &str = "cai_sandbox_demo_key_not_for_production";
const LAB_KEY: &str = "cai_lab_demo_full_access_key_not_for_prod";

fn client_available() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import mcp"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs the MCP client: python3 -m pip install mcp==2.3.0"
        );
        eprintln!("skipped: the Python `mcp` package is not installed (python3 -m pip install mcp==2.3.0)");
    }
    found
}

/// Runs the Python client on `plan`; its report.
async fn run_client(plan: Value) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/it/mcp_client.py");
    let mut child = tokio::process::Command::new("python3")
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(plan.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("the MCP client finishes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
            .chars()
            .rev()
            .take(4000)
            .collect::<String>()
            .chars()
            .rev()
            .collect::<String>()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn http_plan(url: String, key: &str, ops: Vec<Value>) -> Value {
    json!({"transport": "http", "url": url, "key": key, "ops": ops})
}

fn read(uri: impl Into<String>) -> Value {
    json!({"op": "read", "uri": uri.into()})
}

fn call(name: &str, arguments: Value) -> Value {
    json!({"op": "call", "name": name, "arguments": arguments})
}

/// The value of a successful, non-error outcome.
fn ok(outcome: &Value) -> &Value {
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert_ne!(outcome["is_error"], true, "{outcome}");
    &outcome["value"]
}

/// The error of a tool call answered with `isError`.
fn tool_error(outcome: &Value) -> &Value {
    assert_eq!(
        (outcome["ok"].as_bool(), outcome["is_error"].as_bool()),
        (Some(true), Some(true)),
        "{outcome}"
    );
    &outcome["value"]
}

/// Code of the workflows the tours run.
const TOUR_CODE: &str = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('contained ' + ctx.indicator.value)\n";

/// What a tour of the sandbox reads and acts on: a Sentinel alert with its rule and first
/// indicator, a context document, and a workflow that always asks a human.
struct Tour {
    alert: Value,
    detail: Value,
    alert_uuid: String,
    rule_uuid: String,
    indicator_uuid: String,
    indicator_type: String,
    indicator_value: String,
    document_uuid: String,
    workflow_uuid: String,
}

async fn sandbox_tour(app: &TestApp, alerts: &[Value]) -> Tour {
    let alert = alerts.iter().find(|a| a["source_name"] == "sentinel").unwrap_or(&alerts[0]).clone();
    let alert_uuid = alert["uuid"].as_str().unwrap().to_string();
    let (_, detail) = app.get(&format!("/v1/alerts/{alert_uuid}"), READ_KEY).await;
    let detail = detail["data"].clone();
    let indicator = &detail["indicators"][0];
    let text = |v: &Value| v.as_str().unwrap().to_string();
    let (_, documents) = app.get("/v1/context-documents", READ_KEY).await;
    let (status, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Contain host", "code": TOUR_CODE, "state": "active", "approval_mode": "always",
                "indicator_types": [indicator["type"]]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    Tour {
        rule_uuid: text(&detail["detection_rule"]["uuid"]),
        indicator_uuid: text(&indicator["uuid"]),
        indicator_type: text(&indicator["type"]),
        indicator_value: text(&indicator["value"]),
        document_uuid: text(&documents["data"][0]["uuid"]),
        workflow_uuid: text(&created["data"]["uuid"]),
        alert_uuid,
        alert,
        detail,
    }
}

impl Tour {
    /// A read of each of the twelve resources.
    fn reads(&self) -> Vec<Value> {
        let encoded_value: String = self
            .indicator_value
            .bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect();
        let Tour { alert_uuid, rule_uuid, document_uuid, workflow_uuid, indicator_type, .. } = self;
        vec![
            read("calseta://alerts"),
            read(format!("calseta://alerts/{alert_uuid}")),
            read(format!("calseta://alerts/{alert_uuid}/context")),
            read("calseta://detection-rules"),
            read(format!("calseta://detection-rules/{rule_uuid}")),
            read("calseta://context-documents"),
            read(format!("calseta://context-documents/{document_uuid}")),
            read("calseta://workflows"),
            read(format!("calseta://workflows/{workflow_uuid}")),
            read("calseta://metrics/summary"),
            read(format!("calseta://enrichments/{indicator_type}/{encoded_value}")),
            read(format!("calseta://alerts/{alert_uuid}/activity")),
        ]
    }
}

#[tokio::test]
async fn an_agent_with_only_the_url_and_a_key_reads_enriches_posts_executes_and_approves() {
    if !client_available() {
        return;
    }
    let app = sandbox_app().await;
    let alerts = enriched_alerts(&app).await;
    let t = sandbox_tour(&app, &alerts).await;
    let (alert, detail, code) = (&t.alert, &t.detail, TOUR_CODE);
    let (alert_uuid, rule_uuid, workflow_uuid) =
        (t.alert_uuid.clone(), t.rule_uuid.clone(), t.workflow_uuid.clone());
    let (indicator_uuid, indicator_type, indicator_value) =
        (t.indicator_uuid.clone(), t.indicator_type.clone(), t.indicator_value.clone());
    // One that never asks: MCP needs no reason for it (v1's tool).
    let (status, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Tag host", "code": code, "state": "active", "approval_mode": "never",
                "indicator_types": [indicator_type]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let quick_uuid = created["data"]["uuid"].as_str().unwrap().to_string();
    let rule = &detail["detection_rule"];
    let technique = rule["mitre_subtechniques"][0].as_str().or(rule["mitre_techniques"][0].as_str()).unwrap();
    let tactic = rule["mitre_tactics"][0].as_str().unwrap();

    let mut ops = vec![
        json!({"op": "list_resources"}), // 0
        json!({"op": "list_templates"}), // 1
        json!({"op": "list_tools"}),     // 2
    ];
    // 3 to 13: every resource
    ops.extend(t.reads().into_iter().take(11)); // the activity is read at 28, after the actions
    ops.extend([
        call(
            "search_alerts",
            json!({"source_name": "sentinel,elastic", "page_size": 2, "sort_by": "occurred_at"}),
        ), // 14
        call(
            "search_detection_rules",
            json!({"name": detail["detection_rule"]["name"].as_str().unwrap()[..6].to_lowercase()}),
        ), // 15
        call("enrich_indicator", json!({"type": indicator_type, "value": indicator_value})), // 16
        call(
            "post_alert_finding",
            json!({"alert_uuid": alert_uuid, "summary": "Brute force from a known-bad IP; contain.", "confidence": "high", "agent_name": "triage-bot"}),
        ), // 17
        call("update_alert_status", json!({"alert_uuid": alert_uuid, "status": "Triaging"})), // 18
        call("update_alert_malice", json!({"alert_uuid": alert_uuid, "malice": "Malicious"})), // 19
        call("update_indicator_malice", json!({"indicator_uuid": indicator_uuid, "malice": "Suspicious"})), // 20
        call("get_alert_payload", json!({"alert_uuid": alert_uuid})), // 21
        call(
            "execute_workflow",
            json!({"workflow_uuid": workflow_uuid, "indicator_type": indicator_type,
            "indicator_value": indicator_value, "alert_uuid": alert_uuid, "reason": "Confirmed brute force", "confidence": 0.9}),
        ), // 22
        call("list_pending_approvals", json!({})),                    // 23
        call(
            "approve_workflow",
            json!({"approval_request_uuid": "$22.approval_request_uuid", "responder_id": "analyst@example.com"}),
        ), // 24
        call("approve_workflow", json!({"approval_request_uuid": "$22.approval_request_uuid"})), // 25: decided already
        call(
            "execute_workflow",
            json!({"workflow_uuid": workflow_uuid, "indicator_type": indicator_type,
            "indicator_value": indicator_value, "reason": "Second thoughts", "confidence": 0.4}),
        ), // 26
        call("reject_workflow", json!({"approval_request_uuid": "$26.approval_request_uuid"})),  // 27
        read(format!("calseta://alerts/{alert_uuid}/activity")),                                 // 28
        call("update_alert_malice", json!({"alert_uuid": alert_uuid, "malice": null})),          // 29
        call("update_alert_status", json!({"alert_uuid": alert_uuid, "status": "Triaging"})), // 30: unchanged
        call("search_detection_rules", json!({"mitre_technique": technique, "mitre_tactic": tactic})), // 31
        call("search_detection_rules", json!({"mitre_technique": "T9999.999"})),              // 32
        call(
            "execute_workflow",
            json!({"workflow_uuid": quick_uuid, "indicator_type": indicator_type,
            "indicator_value": indicator_value}),
        ), // 33: ungated
        call(
            "execute_workflow",
            json!({"workflow_uuid": workflow_uuid, "indicator_type": indicator_type,
            "indicator_value": indicator_value}),
        ), // 34: gated, unexplained
    ]);
    let report = run_client(http_plan(app.url("/mcp"), LAB_KEY, ops)).await;
    let init = &report["initialize"];
    assert_eq!(init["serverInfo"]["name"], "Calseta", "{init}");
    assert!(init["instructions"].as_str().is_some_and(|i| i.contains("calseta://alerts")), "{init}");
    let o = report["outcomes"].as_array().unwrap();

    // Collections are plain resources and parameterised ones templates: 5 + 7, all of v1's.
    let uris: Vec<&str> = ok(&o[0]).as_array().unwrap().iter().filter_map(|r| r["uri"].as_str()).collect();
    assert_eq!(
        uris,
        [
            "calseta://alerts",
            "calseta://detection-rules",
            "calseta://context-documents",
            "calseta://workflows",
            "calseta://metrics/summary"
        ]
    );
    let templates: Vec<&str> =
        ok(&o[1]).as_array().unwrap().iter().filter_map(|r| r["uriTemplate"].as_str()).collect();
    assert_eq!(
        templates,
        [
            "calseta://alerts/{uuid}",
            "calseta://alerts/{uuid}/context",
            "calseta://alerts/{uuid}/activity",
            "calseta://detection-rules/{uuid}",
            "calseta://context-documents/{uuid}",
            "calseta://workflows/{uuid}",
            "calseta://enrichments/{type}/{value}",
        ]
    );
    let tools: Vec<&str> = ok(&o[2]).as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    for name in [
        "post_alert_finding",
        "update_alert_status",
        "search_alerts",
        "update_alert_malice",
        "search_detection_rules",
        "enrich_indicator",
        "update_indicator_malice",
        "execute_workflow",
        "list_pending_approvals",
        "approve_workflow",
        "reject_workflow",
        "get_alert_payload",
    ] {
        assert!(tools.contains(&name), "{name} in {tools:?}");
    }
    let search = ok(&o[2]).as_array().unwrap().iter().find(|t| t["name"] == "search_alerts").unwrap();
    assert_eq!(search["annotations"]["readOnlyHint"], true, "{search}");

    // Every resource reads, as JSON.
    for outcome in &o[3..=13] {
        assert_eq!(outcome["mime_type"], "application/json", "{outcome}");
        ok(outcome);
    }
    assert_eq!(ok(&o[3])["count"], 5);
    assert!(ok(&o[3])["alerts"][0]["uuid"].is_string());
    let resource = ok(&o[4]);
    assert_eq!(resource["uuid"], alert_uuid.as_str());
    assert_eq!(resource["title"], alert["title"]);
    assert!(
        resource["detection_rule"]["documentation"].as_str().is_some_and(|d| d.len() > 500),
        "{resource}"
    );
    assert!(resource["indicators"][0]["enrichment_results"].is_object(), "{resource}");
    assert!(resource["past_alerts"].is_array() && resource["workflows"].is_array(), "{resource}");
    assert!(resource["context_documents"][0]["content"].is_string(), "{resource}");
    assert!(resource["_metadata"]["indicator_count"].as_u64() > Some(0), "{resource}");
    assert!(ok(&o[5])["context_documents"][0]["content"].is_string(), "{}", o[5]);
    assert_eq!(ok(&o[6])["count"], 5);
    assert!(
        ok(&o[6])["detection_rules"][0]["documentation_summary"].as_str().is_some_and(|d| d.len() <= 203)
    );
    assert!(ok(&o[7])["documentation"].as_str().is_some_and(|d| d.len() > 500));
    assert!(ok(&o[8])["context_documents"][0].get("content").is_none(), "lists carry no content");
    assert!(ok(&o[9])["content"].is_string());
    assert!(ok(&o[10])["workflows"].as_array().is_some_and(|w| w.len() > 1));
    assert_eq!(ok(&o[11])["code"], code);
    assert!(ok(&o[12])["alerts"]["total"].as_i64() >= Some(5), "{}", o[12]);
    let enrichment = ok(&o[13]);
    assert_eq!(enrichment["value"], indicator_value.as_str());
    assert!(enrichment["enriched_at"].is_string(), "{enrichment}");
    let occurred: Vec<&str> =
        ok(&o[3])["alerts"].as_array().unwrap().iter().filter_map(|a| a["occurred_at"].as_str()).collect();
    assert!(occurred.windows(2).all(|w| w[0] >= w[1]), "newest first: {occurred:?}");
    assert!(enrichment["provider_count"].as_u64() > Some(0), "mock providers answer: {enrichment}");

    // Every tool answers.
    let found = ok(&o[14]);
    let expected =
        alerts.iter().filter(|a| a["source_name"] == "sentinel" || a["source_name"] == "elastic").count();
    assert_eq!(
        (found["total"].as_u64(), found["page_size"].as_i64()),
        (Some(expected as u64), Some(2)),
        "{found}"
    );
    assert_eq!(found["alerts"].as_array().map(Vec::len), Some(2));
    let rules = ok(&o[15]);
    assert_eq!(rules["detection_rules"][0]["uuid"], rule_uuid.as_str(), "{rules}");
    assert_eq!(ok(&o[16])["provider_count"], enrichment["provider_count"]);
    assert!(ok(&o[17])["finding_id"].is_string());
    assert_eq!(
        (ok(&o[18])["status"].as_str(), ok(&o[18])["previous_status"].as_str()),
        (Some("Triaging"), Some("Open"))
    );
    assert_eq!(ok(&o[19])["effective_malice"], "Malicious");
    assert_eq!(
        (ok(&o[20])["malice"].as_str(), ok(&o[20])["malice_source"].as_str()),
        (Some("Suspicious"), Some("analyst"))
    );
    let compact = ok(&o[21]);
    assert_eq!(compact["alert"]["title"], alert["title"], "{compact}");
    assert_eq!(o[21]["structured"], *compact, "objects also come as structured content");
    assert_eq!(ok(&o[22])["status"], "pending_approval");
    let pending = ok(&o[23]);
    assert_eq!(pending["approvals"][0]["uuid"], ok(&o[22])["approval_request_uuid"], "{pending}");
    assert_eq!(pending["approvals"][0]["reason"], "Confirmed brute force");
    let approved = ok(&o[24]);
    assert_eq!(
        (approved["status"].as_str(), approved["responder_id"].as_str()),
        (Some("approved"), Some("analyst@example.com"))
    );
    assert_eq!(tool_error(&o[25])["code"], "APPROVAL_ALREADY_DECIDED", "{}", o[25]);
    assert_eq!(ok(&o[27])["status"], "rejected");
    let activity = ok(&o[28]);
    let events: Vec<&str> =
        activity["activity"].as_array().unwrap().iter().filter_map(|e| e["event_type"].as_str()).collect();
    for event in
        ["alert_finding_added", "alert_status_updated", "alert_malice_updated", "workflow_approval_requested"]
    {
        assert!(events.contains(&event), "{event} in {events:?}");
    }
    let logged: Vec<&str> =
        activity["activity"].as_array().unwrap().iter().filter_map(|e| e["created_at"].as_str()).collect();
    assert!(logged.windows(2).all(|w| w[0] >= w[1]), "newest first: {logged:?}");
    let finding = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "alert_finding_added")
        .unwrap();
    assert_eq!(
        (finding["actor_type"].as_str(), finding["agent_name"].as_str()),
        (Some("mcp"), Some("triage-bot")),
        "references are flattened: {finding}"
    );
    let decided = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "workflow_approval_responded")
        .unwrap_or_else(|| panic!("the decision is logged on the alert: {events:?}"));
    assert_eq!(
        (decided["via"].as_str(), decided["actor_type"].as_str(), decided["responder_id"].as_str()),
        (Some("mcp"), Some("mcp"), Some("analyst@example.com")),
        "{decided}"
    );
    assert_eq!(ok(&o[29])["malice_override"], Value::Null);

    // An unchanged status writes no event (v1 wrote one per call).
    assert_eq!(ok(&o[30])["previous_status"], "Triaging");
    let (_, log) = app.get(&format!("/v1/alerts/{alert_uuid}/activity?page_size=100"), &app.admin_key).await;
    let status_events =
        log["data"].as_array().unwrap().iter().filter(|e| e["event_type"] == "alert_status_updated").count();
    assert_eq!(status_events, 1, "{log}");

    // MITRE search: the rule's own tactic and (sub-)technique find it; an unknown one finds nothing.
    let by_mitre = ok(&o[31]);
    let uuids: Vec<&str> =
        by_mitre["detection_rules"].as_array().unwrap().iter().filter_map(|r| r["uuid"].as_str()).collect();
    assert!(uuids.contains(&rule_uuid.as_str()), "{by_mitre}");
    assert_eq!(ok(&o[32])["total"], 0);
    // An ungated workflow queues at once without a reason; a gated one asks for it.
    let queued = ok(&o[33]);
    assert_eq!(
        (queued["status"].as_str(), queued["workflow_uuid"].as_str()),
        (Some("queued"), Some(quick_uuid.as_str()))
    );
    let unexplained = tool_error(&o[34]);
    assert!(
        unexplained["error"].as_str().unwrap().contains("reason is required when the workflow asks a human"),
        "{unexplained}"
    );
    assert_eq!(finished_run(&app, &quick_uuid).await["status"], "success");
    let requested = activity["activity"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["event_type"] == "workflow_approval_requested")
        .unwrap();
    assert_eq!(requested["actor_type"], "mcp", "{requested}");

    // The approved run happened, once.
    let run = finished_run(&app, &workflow_uuid).await;
    assert_eq!(run["status"], "success", "{run}");
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow_uuid}/runs"), &app.admin_key).await;
    assert_eq!(runs["meta"]["total"], 1, "the rejected request ran nothing: {runs}");
    let (_, stored) = app.get(&format!("/v1/alerts/{alert_uuid}"), READ_KEY).await;
    assert_eq!(stored["data"]["status"], "Triaging");
    assert_eq!(stored["data"]["agent_findings"][0]["summary"], "Brute force from a known-bad IP; contain.");
}

#[tokio::test]
async fn scopes_are_checked_on_every_read_and_call_and_bad_input_is_a_clear_error() {
    if !client_available() {
        return;
    }
    let app = sandbox_app().await;
    let alerts = enriched_alerts(&app).await;
    let alert_uuid = alerts[0]["uuid"].as_str().unwrap().to_string();
    let ingest_only = app.key_with(&["alerts:ingest"]).await;

    // The read-only demo key reads but may not write or decide.
    let ops = vec![
        read("calseta://alerts"), // 0
        call("post_alert_finding", json!({"alert_uuid": alert_uuid, "summary": "x", "confidence": "low"})), // 1
        call("approve_workflow", json!({"approval_request_uuid": alert_uuid})), // 2
        call("list_pending_approvals", json!({})),                              // 3
        call("search_alerts", json!({"statuss": "Open"})),                      // 4 unknown argument
        call("post_alert_finding", json!({"alert_uuid": alert_uuid, "summary": "x", "confidence": "low"})), // 5
        call("search_alerts", json!({"page_size": 101})), // 6
        read("calseta://alerts/not-a-uuid"),              // 7
        read("calseta://nothing-here"),                   // 8
        read(format!("calseta://alerts/{}", uuid::Uuid::new_v4())), // 9
        call("no_such_tool", json!({})),                  // 10
        call("enrich_indicator", json!({"type": "ipv9", "value": "1.2.3.4"})), // 11
        call("update_alert_status", json!({"alert_uuid": alert_uuid, "status": "Closed"})), // 12
        call("get_alert_payload", json!({"alert_uuid": 42})), // 13
        call("search_alerts", json!({"tags": (0..51).map(|i| format!("t{i}")).collect::<Vec<_>>()})), // 14
        call("search_detection_rules", json!({"name": "x".repeat(70_000)})), // 15
    ];
    let report = run_client(http_plan(app.url("/mcp"), READ_KEY, ops)).await;
    let o = report["outcomes"].as_array().unwrap();
    assert_eq!(ok(&o[0])["count"], 5);
    for denied in [&o[1], &o[2], &o[3], &o[5]] {
        let error = tool_error(denied);
        assert_eq!(error["code"], "FORBIDDEN", "{denied}");
        assert!(error["error"].as_str().unwrap().starts_with("Insufficient scope. Required: "), "{denied}");
    }
    assert_eq!(tool_error(&o[1])["details"]["required_scopes"], json!(["alerts:write"]));
    assert_eq!(tool_error(&o[3])["details"]["required_scopes"], json!(["approvals:write"]));
    let unknown = tool_error(&o[4])["error"].as_str().unwrap();
    assert!(unknown.contains("statuss") && unknown.contains("status"), "{unknown}");
    assert_eq!(ok(&o[6])["page_size"], 100, "larger pages are cut to 100, as v1: {}", o[6]);
    assert_eq!(o[7]["ok"], false);
    assert_eq!(o[7]["error"]["code"], -32602, "{}", o[7]);
    assert!(o[7]["error"]["message"].as_str().unwrap().contains("uuid must be a UUID"), "{}", o[7]);
    assert_eq!(
        (o[8]["error"]["code"].as_i64(), o[9]["error"]["code"].as_i64()),
        (Some(-32002), Some(-32002)),
        "{} {}",
        o[8],
        o[9]
    );
    assert_eq!(
        (o[10]["ok"].as_bool(), o[10]["error"]["code"].as_i64()),
        (Some(false), Some(-32602)),
        "{}",
        o[10]
    );
    assert!(o[10]["error"]["message"].as_str().unwrap().contains("Unknown tool: no_such_tool"), "{}", o[10]);
    let invalid = tool_error(&o[11]);
    assert_eq!(invalid["code"], "VALIDATION_ERROR", "{invalid}");
    assert!(invalid["error"].as_str().unwrap().contains("ipv9"), "{invalid}");
    // A scope failure is reported before input is judged; with the right scope input errors speak.
    assert_eq!(tool_error(&o[12])["code"], "FORBIDDEN");
    assert!(
        tool_error(&o[13])["error"].as_str().unwrap().contains("alert_uuid must be a string"),
        "{}",
        o[13]
    );
    // Arguments are bounded before they reach a query.
    // The searches read REST's list parameters, so they speak REST's words, naming the argument.
    let tags = tool_error(&o[14]);
    assert_eq!(tags["details"]["errors"][0]["loc"], json!(["arguments", "tags"]), "{tags}");
    assert!(tags["error"].as_str().unwrap().contains("at most 50 items"), "{tags}");
    let name = tool_error(&o[15]);
    assert_eq!(name["details"]["errors"][0]["loc"], json!(["arguments", "name"]), "{name}");
    assert!(name["error"].as_str().unwrap().contains("at most 65536 characters"), "{name}");

    let ops = vec![
        call("update_alert_status", json!({"alert_uuid": alert_uuid, "status": "Closed"})),
        call(
            "update_alert_status",
            json!({"alert_uuid": alert_uuid, "status": "Closed", "close_classification": "Whatever"}),
        ),
        call(
            "update_alert_status",
            json!({"alert_uuid": alert_uuid, "status": "Closed",
            "close_classification": "False Positive - Inaccurate Data"}),
        ),
    ];
    let report = run_client(http_plan(app.url("/mcp"), LAB_KEY, ops)).await;
    let error = tool_error(&report["outcomes"][0]);
    assert!(error["error"].as_str().unwrap().contains("close_classification is required"), "{error}");
    // v1 accepted any string here; the seven classifications are the only ones, as over REST.
    let error = tool_error(&report["outcomes"][1]);
    assert!(error["error"].as_str().unwrap().contains("close_classification must be one of"), "{error}");
    assert_eq!(ok(&report["outcomes"][2])["status"], "Closed");

    // agent_only asks a human when an agent executes, and MCP is an agent: a reason is needed.
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let (_, created) = app
        .post(
            "/v1/workflows",
            &app.admin_key,
            json!({"name": "Agents ask", "code": code, "state": "active", "approval_mode": "agent_only"}),
        )
        .await;
    let agent_only = created["data"]["uuid"].as_str().unwrap().to_string();
    let ops = vec![
        call(
            "execute_workflow",
            json!({"workflow_uuid": agent_only, "indicator_type": "ip", "indicator_value": "8.8.8.8"}),
        ),
        call(
            "execute_workflow",
            json!({"workflow_uuid": agent_only, "indicator_type": "ip", "indicator_value": "8.8.8.8",
            "reason": "r", "confidence": 0.5}),
        ),
    ];
    let report = run_client(http_plan(app.url("/mcp"), LAB_KEY, ops)).await;
    assert!(tool_error(&report["outcomes"][0])["error"].as_str().unwrap().contains("reason is required"));
    assert_eq!(ok(&report["outcomes"][1])["status"], "pending_approval");

    // An agent key holding approvals:write still cannot pass the gate, over MCP as over REST.
    let code = "from app.workflows.context import WorkflowResult\n\nasync def run(ctx):\n    return WorkflowResult.ok('ran')\n";
    let (_, created) = app
        .post("/v1/workflows", &app.admin_key, json!({"name": "Gated", "code": code, "state": "active"}))
        .await;
    let workflow = created["data"]["uuid"].as_str().unwrap().to_string();
    let body =
        json!({"indicator_type": "ip", "indicator_value": "8.8.8.8", "reason": "r", "confidence": 0.5});
    let (status, pending) =
        app.post(&format!("/v1/workflows/{workflow}/execute"), &app.admin_key, body).await;
    assert_eq!(status, 202, "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap();
    let agent = crate::respond::agent_key(&app, &["approvals:write"]).await;
    let ops = vec![call("approve_workflow", json!({"approval_request_uuid": approval}))];
    let report = run_client(http_plan(app.url("/mcp"), &agent, ops)).await;
    assert_eq!(tool_error(&report["outcomes"][0])["code"], "APPROVAL_BY_AGENT", "{report}");

    // A key without any reading scope lists the catalogue but reads nothing.
    let ops = vec![json!({"op": "list_tools"}), read("calseta://alerts"), read("calseta://workflows")];
    let report = run_client(http_plan(app.url("/mcp"), &ingest_only, ops)).await;
    let o = report["outcomes"].as_array().unwrap();
    assert!(ok(&o[0]).as_array().is_some_and(|t| t.len() == 12));
    for denied in &o[1..] {
        assert_eq!(
            (denied["ok"].as_bool(), denied["error"]["code"].as_i64()),
            (Some(false), Some(-32003)),
            "{denied}"
        );
        assert!(denied["error"]["message"].as_str().unwrap().starts_with("Insufficient scope"), "{denied}");
    }

    // No key, a wrong key, a revoked key: refused before any MCP message is read, in REST's envelope.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    let (status, body) = mcp_post(&app, None, &initialize).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("UNAUTHORIZED")), "{body}");
    let (status, body) = mcp_post(&app, Some("not-a-key"), &initialize).await;
    assert_eq!((status, body["error"]["message"].as_str()), (401, Some("Invalid API key format.")), "{body}");
    let expires_at = (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let (_, brief) = app
        .post(
            "/v1/api-keys",
            &app.admin_key,
            json!({"name": "brief", "scopes": ["alerts:read"], "expires_at": expires_at}),
        )
        .await;
    let brief = brief["data"]["key"].as_str().unwrap().to_string();
    let (status, _) = mcp_post(&app, Some(&brief), &initialize).await;
    assert_eq!(status, 200);
    eventually("the key expires", Duration::from_secs(10), || async {
        let (status, body) = mcp_post(&app, Some(&brief), &initialize).await;
        (status == 401 && body["error"]["code"] == "KEY_EXPIRED").then_some(())
    })
    .await;
    let (status, body) =
        mcp_post(&app, Some("cai_not_a_real_key_at_all_xxxxxxxxxxxxxxxxxxxxx"), &initialize).await;
    assert_eq!((status, body["error"]["message"].as_str()), (401, Some("Invalid API key.")), "{body}");
    let (status, _) = mcp_post(&app, Some(&ingest_only), &initialize).await;
    assert_eq!(status, 200);
    let (_, keys) = app.get("/v1/api-keys", &app.admin_key).await;
    let revoked = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| ingest_only.starts_with(k["key_prefix"].as_str().unwrap()))
        .unwrap();
    app.delete(&format!("/v1/api-keys/{}", revoked["uuid"].as_str().unwrap()), &app.admin_key).await;
    let (status, _) = mcp_post(&app, Some(&ingest_only), &initialize).await;
    assert_eq!(status, 401, "a revoked key stops working at once");
}

#[tokio::test]
async fn every_resource_and_tool_names_the_scope_it_needs() {
    if !client_available() {
        return;
    }
    let app = spawn_app_with(AppOptions::default()).await;
    let outsider = app.key_with(&["agents:read"]).await;
    let id = uuid::Uuid::new_v4().to_string();
    let reads = [
        ("calseta://alerts".to_string(), "alerts:read"),
        (format!("calseta://alerts/{id}"), "alerts:read"),
        (format!("calseta://alerts/{id}/context"), "alerts:read"),
        (format!("calseta://alerts/{id}/activity"), "alerts:read"),
        ("calseta://detection-rules".to_string(), "alerts:read"),
        (format!("calseta://detection-rules/{id}"), "alerts:read"),
        ("calseta://context-documents".to_string(), "alerts:read"),
        (format!("calseta://context-documents/{id}"), "alerts:read"),
        ("calseta://workflows".to_string(), "workflows:read"),
        (format!("calseta://workflows/{id}"), "workflows:read"),
        ("calseta://metrics/summary".to_string(), "alerts:read"),
        ("calseta://enrichments/ip/8.8.8.8".to_string(), "enrichments:read"),
    ];
    let calls = [
        ("post_alert_finding", "alerts:write"),
        ("update_alert_status", "alerts:write"),
        ("search_alerts", "alerts:read"),
        ("update_alert_malice", "alerts:write"),
        ("search_detection_rules", "alerts:read"),
        ("enrich_indicator", "enrichments:read"),
        ("update_indicator_malice", "alerts:write"),
        ("execute_workflow", "workflows:execute"),
        ("list_pending_approvals", "approvals:write"),
        ("approve_workflow", "approvals:write"),
        ("reject_workflow", "approvals:write"),
        ("get_alert_payload", "alerts:read"),
    ];
    let mut ops: Vec<Value> = reads.iter().map(|(uri, _)| read(uri.clone())).collect();
    ops.extend(calls.iter().map(|(name, _)| call(name, json!({}))));
    let report = run_client(http_plan(app.url("/mcp"), &outsider, ops)).await;
    let o = report["outcomes"].as_array().unwrap();
    for ((uri, scope), outcome) in reads.iter().zip(o) {
        assert_eq!(outcome["error"]["code"], -32003, "{uri}: {outcome}");
        assert_eq!(
            outcome["error"]["data"]["details"]["required_scopes"],
            json!([scope]),
            "{uri}: {outcome}"
        );
    }
    for ((name, scope), outcome) in calls.iter().zip(&o[reads.len()..]) {
        // The scope is judged before the (here missing) arguments.
        assert_eq!(tool_error(outcome)["details"]["required_scopes"], json!([scope]), "{name}: {outcome}");
    }

    // `calseta://alerts` holds the 50 most recent.
    for i in 0..51 {
        let payload = json!({"title": format!("Alert {i}"), "severity": "Low", "occurred_at": format!("2026-01-01T00:{:02}:00Z", i)});
        let (status, _) = app
            .post("/v1/alerts", &app.admin_key, json!({"source_name": "generic", "payload": payload}))
            .await;
        assert_eq!(status, 202);
    }
    let report = run_client(http_plan(app.url("/mcp"), &app.admin_key, vec![read("calseta://alerts")])).await;
    let listed = ok(&report["outcomes"][0]);
    assert_eq!((listed["count"].as_u64(), listed["total"].as_u64()), (Some(50), Some(51)), "{listed}");
    assert_eq!(listed["alerts"][0]["title"], "Alert 50");
}

#[tokio::test]
async fn mcp_shares_rests_rate_limits() {
    if !client_available() {
        return;
    }
    let app = spawn_app_with(AppOptions {
        env: vec![
            ("RATE_LIMIT_ENRICHMENT_PER_MINUTE", "2".into()),
            ("RATE_LIMIT_AUTHED_PER_MINUTE", "3".into()),
            ("RATE_LIMIT_UNAUTHED_PER_MINUTE", "2".into()),
        ],
        ..AppOptions::default()
    })
    .await;
    let enrich = || call("enrich_indicator", json!({"type": "ip", "value": "8.8.8.8"}));
    {
        early_in_a_window().await;
        let ops = vec![
            enrich(),
            read("calseta://enrichments/ip/8.8.4.4"),
            enrich(),
            json!({"op": "list_templates"}),
            json!({"op": "list_templates"}),
            json!({"op": "list_templates"}),
            json!({"op": "list_templates"}),
        ];
        let report = run_client(http_plan(app.url("/mcp"), &app.admin_key, ops)).await;
        let o = report["outcomes"].as_array().unwrap();
        ok(&o[0]);
        ok(&o[1]);
        let limited = tool_error(&o[2]);
        assert_eq!(limited["code"], "RATE_LIMITED", "{limited}");
        assert!(limited["details"]["retry_after_seconds"].as_u64() >= Some(1), "{limited}");
        // Listings and every other read and call share the default budget (3 here; the client also
        // lists tools on its own before calling one): four listings cannot all pass.
        let refused: Vec<bool> = o[3..].iter().map(|l| l["ok"] == false).collect();
        assert!(refused.last() == Some(&true) && refused.windows(2).all(|w| w[1] || !w[0]), "{refused:?}");
        assert_eq!(o[6]["error"]["data"]["code"], "RATE_LIMITED", "{}", o[6]);
    }

    // Failed keys count per client address together with REST's: one refused by MCP and one by
    // REST, and the next request is refused before its key is checked, on either.
    let initialize = json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "curl", "version": "1"}}});
    let guess = "cai_guess_guess_guess_guess_guess_guess_guess";
    {
        early_in_a_window().await;
        let (first, _) = mcp_post(&app, Some(guess), &initialize).await;
        let rest = app.client.get(app.url("/v1/alerts")).bearer_auth(guess).send().await.unwrap();
        let second = rest.status().as_u16();
        let resp = app
            .client
            .post(app.url("/mcp"))
            .bearer_auth(&app.admin_key)
            .header("accept", "application/json, text/event-stream")
            .json(&initialize)
            .send()
            .await
            .unwrap();
        let retry_after = resp.headers().get("retry-after").and_then(|v| v.to_str().ok()).map(str::to_string);
        let (third, body) = status_json(resp).await;
        let rest = app.client.get(app.url("/v1/alerts")).bearer_auth(guess).send().await.unwrap();
        assert_eq!((first, second), (401, 401));
        assert_eq!((third, body["error"]["code"].as_str()), (429, Some("RATE_LIMITED")), "{body}");
        assert!(retry_after.and_then(|r| r.parse::<u64>().ok()).is_some_and(|r| (1..=60).contains(&r)));
        assert_eq!(rest.status(), 429, "REST counts the same failures");
    }
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

async fn mcp_post(app: &TestApp, key: Option<&str>, body: &Value) -> (u16, Value) {
    let mut request =
        app.client.post(app.url("/mcp")).header("accept", "application/json, text/event-stream").json(body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    status_json(request.send().await.unwrap()).await
}

#[tokio::test]
async fn the_first_connection_after_start_is_served_on_mcp_port_without_a_session() {
    if !client_available() {
        return;
    }
    let app =
        spawn_app_with(AppOptions { env: vec![("MCP_PORT", "0".into())], ..AppOptions::default() }).await;
    let mcp_base = app.mcp_base.clone().expect("MCP_PORT listens");
    // Nothing has touched the server yet: this is its very first request.
    let ops = vec![read("calseta://alerts"), read("calseta://metrics/summary"), json!({"op": "list_tools"})];
    let report = run_client(http_plan(format!("{mcp_base}/mcp"), &app.admin_key, ops)).await;
    let o = report["outcomes"].as_array().unwrap();
    assert_eq!(ok(&o[0]), &json!({"count": 0, "total": 0, "alerts": []}));
    assert_eq!(ok(&o[1])["alerts"]["total"], 0);
    assert_eq!(ok(&o[2]).as_array().map(Vec::len), Some(12));
    // The MCP port serves MCP only; the API port serves it too.
    let resp =
        app.client.get(format!("{mcp_base}/v1/alerts")).bearer_auth(&app.admin_key).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    // Stateless: no session id is handed out, and a tools/list without one is answered.
    let list = json!({"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}});
    let resp = app
        .client
        .post(format!("{mcp_base}/mcp"))
        .bearer_auth(&app.admin_key)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-06-18")
        .json(&list)
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("mcp-session-id").is_none());
    let (status, body) = status_json(resp).await;
    assert_eq!((status, body["result"]["tools"].as_array().map(Vec::len)), (200, Some(12)), "{body}");
    // Without sessions there is no stream to GET and nothing to DELETE; without a key, nothing at all.
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        let resp = app
            .client
            .request(method.clone(), format!("{mcp_base}/mcp"))
            .bearer_auth(&app.admin_key)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 405, "{method}");
        let resp = app.client.request(method.clone(), format!("{mcp_base}/mcp")).send().await.unwrap();
        assert_eq!(resp.status(), 401, "{method}");
    }
}

#[tokio::test]
async fn a_local_client_uses_mcp_stdio_with_the_key_from_the_environment() {
    if !client_available() {
        return;
    }
    let app = spawn_app_with(AppOptions::default()).await;
    let (status, created) = app
        .post(
            "/v1/alerts",
            &app.admin_key,
            json!({"source_name": "generic", "payload": {"title": "Stdio test", "severity": "High"}}),
        )
        .await;
    assert_eq!(status, 202, "{created}");
    let alert_uuid = created["data"]["alert_uuid"].as_str().unwrap().to_string();
    let writer = app.key_with(&["alerts:read", "alerts:write"]).await;
    let (_, keys) = app.get("/v1/api-keys", &app.admin_key).await;
    let writer_uuid = keys["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| writer.starts_with(k["key_prefix"].as_str().unwrap()))
        .and_then(|k| k["uuid"].as_str())
        .unwrap()
        .to_string();
    let mut env: serde_json::Map<String, Value> =
        app.env.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    env.insert("CALSETA_API_KEY".into(), Value::from(writer.as_str()));
    env.insert("PATH".into(), Value::from(std::env::var("PATH").unwrap_or_default()));
    let ops = vec![
        json!({"op": "list_resources"}),
        read("calseta://alerts"),
        call(
            "post_alert_finding",
            json!({"alert_uuid": alert_uuid, "summary": "Seen from Claude Desktop", "confidence": "medium"}),
        ),
        read("calseta://workflows"),
        // Revoked mid-session: refused once this process's 5-second key cache lets go.
        json!({"op": "rest", "method": "DELETE", "url": app.url(&format!("/v1/api-keys/{writer_uuid}")), "key": app.admin_key}),
        json!({"op": "until_refused", "inner": read("calseta://alerts"), "timeout": 20}),
    ];
    let plan = json!({"transport": "stdio", "command": env!("CARGO_BIN_EXE_calseta"), "args": ["mcp-stdio"], "env": env, "ops": ops});
    let report = run_client(plan).await;
    assert_eq!(report["initialize"]["serverInfo"]["name"], "Calseta");
    let o = report["outcomes"].as_array().unwrap();
    assert_eq!(ok(&o[0]).as_array().map(Vec::len), Some(5));
    assert_eq!(ok(&o[1])["alerts"][0]["uuid"], alert_uuid.as_str());
    assert!(ok(&o[2])["finding_id"].is_string());
    assert_eq!(o[3]["error"]["code"], -32003, "the key's scopes hold over stdio too: {}", o[3]);
    assert_eq!(o[4]["value"]["status"], 204, "{}", o[4]);
    assert_eq!(o[5]["error"]["code"], -32001, "a revoked key stops the session: {}", o[5]);
    assert_eq!(o[5]["error"]["message"], "Invalid API key.", "{}", o[5]);
    let findings = eventually("the finding is stored", Duration::from_secs(10), || async {
        let (_, found) = app.get(&format!("/v1/alerts/{alert_uuid}/findings"), &app.admin_key).await;
        found["data"].as_array().filter(|f| !f.is_empty()).cloned()
    })
    .await;
    assert_eq!(findings[0]["agent_name"], "mcp-agent");

    // A wrong key fails at start with the reason, on stderr; stdout stays clean for the protocol.
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_calseta"))
        .arg("mcp-stdio")
        .envs(app.env.iter())
        .env("CALSETA_API_KEY", "cai_wrong_key_wrong_key_wrong_key_wrong_key_xx")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(output.stdout.is_empty(), "{}", String::from_utf8_lossy(&output.stdout));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("CALSETA_API_KEY: Invalid API key."),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test]
async fn a_local_client_reads_everything_and_calls_every_tool_over_stdio() {
    if !client_available() {
        return;
    }
    let app = sandbox_app().await;
    let alerts = enriched_alerts(&app).await;
    let t = sandbox_tour(&app, &alerts).await;
    let mut env: serde_json::Map<String, Value> =
        app.env.iter().map(|(k, v)| (k.clone(), Value::from(v.as_str()))).collect();
    env.insert("CALSETA_API_KEY".into(), Value::from(LAB_KEY));
    env.insert("PATH".into(), Value::from(std::env::var("PATH").unwrap_or_default()));
    let mut ops =
        vec![json!({"op": "list_resources"}), json!({"op": "list_templates"}), json!({"op": "list_tools"})];
    ops.extend(t.reads()); // 3 to 14
    let (alert, indicator) = (&t.alert_uuid, &t.indicator_uuid);
    let execute = json!({"workflow_uuid": t.workflow_uuid, "indicator_type": t.indicator_type,
        "indicator_value": t.indicator_value, "alert_uuid": alert, "reason": "Over stdio", "confidence": 0.8});
    ops.extend([
        call("search_alerts", json!({"status": "Open"})), // 15
        call("search_detection_rules", json!({"is_active": true})), // 16
        call("enrich_indicator", json!({"type": t.indicator_type, "value": t.indicator_value})), // 17
        call("get_alert_payload", json!({"alert_uuid": alert, "profile": "full"})), // 18
        call(
            "post_alert_finding",
            json!({"alert_uuid": alert, "summary": "From stdio", "confidence": "low"}),
        ), // 19
        call("update_alert_status", json!({"alert_uuid": alert, "status": "Escalated"})), // 20
        call("update_alert_malice", json!({"alert_uuid": alert, "malice": "Benign"})), // 21
        call("update_indicator_malice", json!({"indicator_uuid": indicator, "malice": null})), // 22
        call("execute_workflow", execute.clone()),        // 23
        call("list_pending_approvals", json!({"workflow_uuid": t.workflow_uuid})), // 24
        call("approve_workflow", json!({"approval_request_uuid": "$23.approval_request_uuid"})), // 25
        call("execute_workflow", execute),                // 26
        call("reject_workflow", json!({"approval_request_uuid": "$26.approval_request_uuid"})), // 27
    ]);
    let plan = json!({"transport": "stdio", "command": env!("CARGO_BIN_EXE_calseta"), "args": ["mcp-stdio"], "env": env, "ops": ops});
    let report = run_client(plan).await;
    let o = report["outcomes"].as_array().unwrap();
    assert_eq!(ok(&o[0]).as_array().map(Vec::len), Some(5));
    assert_eq!(ok(&o[1]).as_array().map(Vec::len), Some(7));
    assert_eq!(ok(&o[2]).as_array().map(Vec::len), Some(12));
    for outcome in &o[3..] {
        ok(outcome);
    }
    assert_eq!(ok(&o[4])["uuid"], t.alert_uuid.as_str());
    assert_eq!(ok(&o[15])["page_size"], 20, "the default page");
    assert_eq!(ok(&o[18])["event"], "alert.enriched");
    assert_eq!(ok(&o[20])["status"], "Escalated");
    assert_eq!(ok(&o[22])["malice_source"], "enrichment");
    assert_eq!(ok(&o[24])["total"], 1);
    assert_eq!(ok(&o[25])["status"], "approved");
    assert_eq!(ok(&o[27])["status"], "rejected");
    // The approved run is done by the server's worker, once.
    assert_eq!(finished_run(&app, &t.workflow_uuid).await["status"], "success");
    let (_, runs) = app.get(&format!("/v1/workflows/{}/runs", t.workflow_uuid), &app.admin_key).await;
    assert_eq!(runs["meta"]["total"], 1, "{runs}");
}
