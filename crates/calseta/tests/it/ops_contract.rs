//! Operations contract (issue 21): `/metrics` negotiates the Prometheus text format 0.0.4 (which
//! passes `promtool check metrics`) or OpenMetrics (which passes the strict OpenMetrics parser of
//! Python's `prometheus_client`: promtool has none); the JSON logs carry structured fields,
//! never Rust debug text; Slack's retries of a processed callback are acknowledged and change
//! nothing; `GET /v1/settings/approval-defaults` shows this deployment's approval defaults.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::approvals::{gated_workflow, slack_env, slack_stand_in};
use crate::helpers::*;
use crate::respond::{alert_with_account, finished_run};

/// What Prometheus 2.x sends.
const PROMETHEUS_ACCEPT: &str =
    "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.3,*/*;q=0.1";

/// A missing checker skips its check with a message, except under `CI=true`, where it fails.
fn skip_without(tool: &str, install: &str) {
    assert!(std::env::var("CI").as_deref() != Ok("true"), "{tool} is required under CI=true ({install})");
    eprintln!("SKIPPED: {tool} is not installed ({install})");
}

/// Runs `program args` with `input` on stdin: `None` when the program is not installed, else
/// its exit code and what it printed.
fn run_with_input(program: &str, args: &[&str], input: &str) -> Option<(Option<i32>, String)> {
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("{program}: {e}"),
    };
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    let report =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    Some((output.status.code(), report))
}

/// `promtool check metrics` (the Prometheus text format 0.0.4 only: promtool has no OpenMetrics
/// parser) over `text`: `None` when promtool is not installed, else whether it passed, silently.
fn promtool_check(text: &str) -> Option<(bool, String)> {
    run_with_input("promtool", &["check", "metrics"], text)
        .map(|(code, report)| (code == Some(0) && report.trim().is_empty(), report))
}

/// The OpenMetrics 1.0 parser of Python's `prometheus_client` over `text` (strict: `# EOF`,
/// counter suffixes, histogram buckets), and every family's HELP: `None` when the parser is not
/// installed.
fn openmetrics_check(text: &str) -> Option<(bool, String)> {
    const SCRIPT: &str = "import sys\n\
try:\n    from prometheus_client.openmetrics.parser import text_string_to_metric_families\n\
except ImportError:\n    sys.exit(3)\n\
families = list(text_string_to_metric_families(sys.stdin.read()))\n\
missing = [f.name for f in families if not f.documentation]\n\
print('families without HELP:', missing) if missing else None\n\
sys.exit(1 if missing else 0)\n";
    match run_with_input("python3", &["-c", SCRIPT], text)? {
        (Some(3), _) => None,
        (code, report) => Some((code == Some(0), report)),
    }
}

async fn scrape(app: &TestApp, accept: Option<&str>) -> (String, String) {
    let mut request = app.client.get(app.url("/metrics"));
    if let Some(accept) = accept {
        request = request.header("accept", accept);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let content_type = response.headers()["content-type"].to_str().unwrap().to_string();
    (content_type, response.text().await.unwrap())
}

#[tokio::test]
async fn metrics_negotiate_the_format_and_both_formats_validate_from_the_first_scrape() {
    let app = spawn_app().await;

    // The very first scrape, as Prometheus asks: OpenMetrics, with every documented series.
    let (content_type, open_metrics) = scrape(&app, Some(PROMETHEUS_ACCEPT)).await;
    assert!(content_type.starts_with("application/openmetrics-text; version=1.0.0"), "{content_type}");
    assert!(open_metrics.trim_end().ends_with("# EOF"), "{open_metrics}");
    for series in [
        r#"calseta_http_requests_total{method="GET",route="/metrics",status="200"} 0"#,
        r#"calseta_http_request_duration_seconds_count{method="GET",route="/metrics"} 0"#,
        r#"calseta_agent_deliveries_total{outcome="success"} 0"#,
        r#"calseta_agent_deliveries_total{outcome="blocked"} 0"#,
        r#"calseta_jobs{queue="workflows",status="dead"} 0"#,
        r#"calseta_jobs{queue="dispatch",status="running"} 0"#,
        r#"calseta_workflow_runs{status="failed"} 0"#,
        "calseta_approvals_pending 0",
        "calseta_db_pool_connections ",
        "calseta_db_pool_idle_connections ",
        "\nprocess_cpu_seconds_total ",
        "\nprocess_resident_memory_bytes ",
        "\nprocess_start_time_seconds ",
        "\nprocess_open_fds ",
    ] {
        assert!(open_metrics.contains(series), "{series} not in\n{open_metrics}");
    }
    assert!(!open_metrics.contains("calseta_process_"), "the process series use the standard names");
    // Every family has its help.
    let typed: Vec<&str> =
        open_metrics.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    for family in &typed {
        assert!(
            open_metrics.contains(&format!("# HELP {family} ")),
            "{family} has no HELP in\n{open_metrics}"
        );
    }
    assert!(typed.len() >= 13, "{open_metrics}");

    // The Prometheus text format 0.0.4 unless OpenMetrics is preferred.
    let prefers_text = "application/openmetrics-text;version=1.0.0;q=0.2,text/plain;version=0.0.4;q=0.9";
    for accept in
        [Some("text/plain"), Some("text/plain;version=0.0.4"), Some("*/*"), None, Some(prefers_text)]
    {
        let (content_type, text) = scrape(&app, accept).await;
        assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8", "{accept:?}");
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"), "{accept:?}: {text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter\n"), "{text}");
        assert!(text.contains("# HELP calseta_http_requests_total "), "{text}");
        let typed: Vec<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        for family in &typed {
            assert!(text.contains(&format!("# HELP {family} ")), "{family} has no HELP in\n{text}");
        }
    }
    // Counts moved on from the first scrape: it is counted once it completed.
    let (_, text) = scrape(&app, Some("text/plain")).await;
    assert!(
        !text.contains(r#"calseta_http_requests_total{method="GET",route="/metrics",status="200"} 0"#),
        "{text}"
    );

    // promtool accepts the text format; the strict OpenMetrics parser accepts OpenMetrics.
    let (_, text) = scrape(&app, Some("text/plain; version=0.0.4")).await;
    match promtool_check(&text) {
        Some((passed, report)) => assert!(passed, "promtool check metrics: {report}\n{text}"),
        None => skip_without("promtool", "apt-get install -y prometheus"),
    }
    match openmetrics_check(&open_metrics) {
        Some((passed, report)) => assert!(passed, "OpenMetrics parser: {report}\n{open_metrics}"),
        None => skip_without("python3 prometheus_client", "pip install prometheus-client"),
    }
}

/// Runs `calseta serve --sandbox` with JSON logs until it has listened, seeded and started its
/// worker and served one request; returns its log (stdout) and stderr.
async fn sandbox_serve_log(database: &TestDatabase) -> (String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_calseta"));
    command
        .args(["serve", "--sandbox", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", &database.url)
        .env("LOG_FORMAT", "json")
        .env("LOG_LEVEL", "INFO")
        .env_remove("ENCRYPTION_KEY")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if database.url.starts_with("postgres") {
        command.env("ENCRYPTION_KEY", TEST_ENCRYPTION_KEY);
    }
    let mut child = command.spawn().unwrap();
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let reader = {
        let lines = lines.clone();
        let stdout = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        })
    };
    let event = |name: &str| {
        lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|json| json["event"] == name)
    };
    let listening =
        eventually("the server listens", Duration::from_secs(60), || async { event("calseta listening") })
            .await;
    let addr = listening["addr"].as_str().unwrap().to_string();
    reqwest::get(format!("http://{addr}/health")).await.unwrap();
    for name in ["sandbox seeded", "worker started", "request"] {
        eventually(name, Duration::from_secs(60), || async { event(name).map(|_| ()) }).await;
    }
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    let output = child.wait_with_output().unwrap();
    reader.join().unwrap();
    let log = lines.lock().unwrap().join("\n");
    (log, String::from_utf8_lossy(&output.stderr).to_string())
}

#[tokio::test]
async fn serve_sandbox_logs_structured_fields_never_rust_debug_text() {
    let database = test_database().await;
    let (log, stderr) = sandbox_serve_log(&database).await;
    for line in log.lines() {
        let json: Value = serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(json.is_object(), "{line}");
        for debug_text in ["{ ", "\"None\"", "Some(", "[\\\""] {
            assert!(!line.contains(debug_text), "Rust debug text {debug_text:?} in a log line: {line}");
        }
    }
    let event = |name: &str| {
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find(|json| json["event"] == name)
            .unwrap_or_else(|| panic!("no {name} in\n{log}"))
    };
    let seeded = event("sandbox seeded");
    assert_eq!(
        (seeded["detection_rules"].as_u64(), seeded["alerts"].as_u64(), seeded["keys"].as_u64()),
        (Some(5), Some(5), Some(2)),
        "{seeded}"
    );
    assert_eq!(seeded["context_documents"], 3, "{seeded}");
    let listening = event("calseta listening");
    assert!(listening.get("mcp_addr").is_none(), "absent, not \"None\": {listening}");
    let engine = if database.url.starts_with("postgres") { "postgresql" } else { "sqlite" };
    assert_eq!(listening["engine"], engine, "{listening}");
    let worker = event("worker started");
    assert!(worker["kinds"].as_str().is_some_and(|k| k.split(',').any(|k| k == "enrich_alert")), "{worker}");

    // Beside the two public demo keys, a fresh database gets its own bootstrap admin key.
    let keys: Vec<&str> =
        stderr.split(|c: char| c.is_whitespace() || c == '\'').filter(|w| w.starts_with("cai_")).collect();
    assert!(keys.contains(&"cai_sandbox_demo_key_not_for_production"), "{stderr}");
    assert!(keys.contains(&"cai_lab_demo_full_access_key_not_for_prod"), "{stderr}");
    assert!(keys.iter().any(|k| k.len() == 47 && !k.contains("demo")), "a bootstrap key in {stderr}");
}

const SIGNING_SECRET: &str = "slack-signing-secret-1";

fn slack_signature(ts: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING_SECRET.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:{body}").as_bytes());
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn slack_click(action_id: &str, user: &str) -> String {
    let payload = json!({"type": "block_actions", "user": {"id": user},
                         "actions": [{"action_id": action_id, "type": "button"}],
                         "channel": {"id": "C0APPROVE"}, "message": {"ts": "1760000000.000100"}});
    form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// Posts a Slack callback with the given headers; its status and text.
async fn callback(app: &TestApp, body: &str, headers: &[(&str, String)]) -> (u16, String) {
    let mut request = app
        .client
        .post(app.url("/v1/approvals/callback/slack"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn signed(ts: i64, body: &str) -> Vec<(&'static str, String)> {
    vec![("x-slack-request-timestamp", ts.to_string()), ("x-slack-signature", slack_signature(ts, body))]
}

fn retried(ts: i64, body: &str, attempt: u32) -> Vec<(&'static str, String)> {
    let mut headers = signed(ts, body);
    headers.push(("x-slack-retry-num", attempt.to_string()));
    headers.push(("x-slack-retry-reason", "http_timeout".into()));
    headers
}

/// A Slack-notified app, an alert and a pending approval request for a gated workflow.
async fn pending_slack_approval() -> (wiremock::MockServer, TestApp, String, String, String) {
    let slack = slack_stand_in().await;
    let app = spawn_app_with(AppOptions { env: slack_env(&slack), ..AppOptions::default() }).await;
    let alert = alert_with_account(&app, "eve@example.com").await;
    let workflow = gated_workflow(&app, "Gated by Slack", "high").await;
    let (status, pending) = app
        .post(
            &format!("/v1/workflows/{workflow}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "eve@example.com", "alert_uuid": alert}),
        )
        .await;
    assert_eq!((status, pending["data"]["status"].as_str()), (202, Some("pending_approval")), "{pending}");
    let approval = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    (slack, app, alert, workflow, approval)
}

async fn approval(app: &TestApp, uuid: &str) -> Value {
    let (status, body) = app.get(&format!("/v1/workflow-approvals/{uuid}"), &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    body["data"].clone()
}

async fn responded_events(app: &TestApp, alert: &str) -> usize {
    let (_, activity) = app.get(&format!("/v1/alerts/{alert}/activity?page_size=100"), &app.admin_key).await;
    activity["data"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "workflow_approval_responded")
        .count()
}

#[tokio::test]
async fn a_slack_retry_of_a_processed_callback_is_acknowledged_and_changes_nothing() {
    let (_slack, app, alert, workflow, uuid) = pending_slack_approval().await;
    let click = slack_click(&format!("approve:{uuid}"), "U0FIRST");
    let now = chrono::Utc::now().timestamp();
    let headers = signed(now, &click);
    assert_eq!(callback(&app, &click, &headers).await, (200, "ok".into()));
    let run = finished_run(&app, &workflow).await;
    assert_eq!(run["status"], "success", "{run}");
    let decided = approval(&app, &uuid).await;
    assert_eq!(
        (decided["status"].as_str(), decided["responder_id"].as_str()),
        (Some("approved"), Some("U0FIRST"))
    );

    // Slack retries the same delivery (our answer was slow): acknowledged, nothing changes.
    for attempt in [1, 2] {
        assert_eq!(callback(&app, &click, &retried(now, &click, attempt)).await, (200, "ok".into()));
    }
    // Even a retry that would reject cannot undo the decision.
    let reject = slack_click(&format!("reject:{uuid}"), "U0OTHER");
    assert_eq!(callback(&app, &reject, &retried(now, &reject, 1)).await, (200, "ok".into()));
    assert_eq!(approval(&app, &uuid).await, decided, "the request is as it was");
    assert_eq!(responded_events(&app, &alert).await, 1);
    let (_, runs) = app.get(&format!("/v1/workflows/{workflow}/runs"), &app.admin_key).await;
    assert_eq!(runs["data"].as_array().unwrap().len(), 1, "{runs}");

    // Without the retry header the same signature is still a replay.
    assert_eq!(callback(&app, &click, &headers).await, (403, "Request already received".into()));
}

#[tokio::test]
async fn a_slack_retry_whose_first_delivery_was_not_processed_decides() {
    let (_slack, app, alert, workflow, uuid) = pending_slack_approval().await;
    let now = chrono::Utc::now().timestamp();

    // The first delivery never arrived: its retry is processed as any callback.
    let click = slack_click(&format!("approve:{uuid}"), "U0RETRY");
    assert_eq!(callback(&app, &click, &retried(now, &click, 1)).await, (200, "ok".into()));
    let decided = approval(&app, &uuid).await;
    assert_eq!(
        (decided["status"].as_str(), decided["responder_id"].as_str()),
        (Some("approved"), Some("U0RETRY"))
    );
    assert_eq!(finished_run(&app, &workflow).await["status"], "success");
    assert_eq!(responded_events(&app, &alert).await, 1);

    // The first delivery arrived but was not processed (the signature was remembered, the
    // decision never made): Slack's retry of it decides.
    let other = gated_workflow(&app, "Second gate", "high").await;
    let (_, pending) = app
        .post(
            &format!("/v1/workflows/{other}/execute"),
            &app.admin_key,
            json!({"indicator_type": "account", "indicator_value": "eve@example.com"}),
        )
        .await;
    let second = pending["data"]["approval_request_uuid"].as_str().unwrap().to_string();
    let click = slack_click(&format!("reject:{second}"), "U0LATE");
    let headers = retried(now, &click, 1);
    let digest = calseta_core::api_keys::key_digest(&headers[1].1);
    exec_sql_at(
        &app,
        &format!(
            "INSERT INTO slack_callback_signatures (signature_digest, received_at) VALUES ('{digest}', $1)"
        ),
        chrono::Utc::now(),
    )
    .await;
    assert_eq!(callback(&app, &click, &headers).await, (200, "ok".into()));
    let decided = approval(&app, &second).await;
    assert_eq!(
        (decided["status"].as_str(), decided["responder_id"].as_str()),
        (Some("rejected"), Some("U0LATE"))
    );
}

#[tokio::test]
async fn an_unsigned_slack_callback_is_told_which_header_is_missing() {
    let (_slack, app, _alert, _workflow, uuid) = pending_slack_approval().await;
    let click = slack_click(&format!("approve:{uuid}"), "U0NOSIG");
    let now = chrono::Utc::now().timestamp();
    let [timestamp, signature] = <[(&str, String); 2]>::try_from(signed(now, &click)).unwrap();
    assert_eq!(
        callback(&app, &click, std::slice::from_ref(&timestamp)).await,
        (403, "Missing X-Slack-Signature header".into())
    );
    assert_eq!(
        callback(&app, &click, std::slice::from_ref(&signature)).await,
        (403, "Missing X-Slack-Request-Timestamp header".into())
    );
    assert_eq!(
        callback(&app, &click, &[]).await,
        (403, "Missing X-Slack-Signature and X-Slack-Request-Timestamp headers".into())
    );
    // A retry header does not excuse a missing signature.
    assert_eq!(
        callback(&app, &click, &[timestamp, ("x-slack-retry-num", "1".into())]).await,
        (403, "Missing X-Slack-Signature header".into())
    );
    assert_eq!(approval(&app, &uuid).await["status"], "pending");
}

#[tokio::test]
async fn approval_defaults_show_this_deployments_settings_to_admins() {
    // Defaults: no notifier, no channel, an hour.
    let app = spawn_app().await;
    let (status, body) = app.get("/v1/settings/approval-defaults", &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        json!({"data": {"notifier": "none", "default_channel": null, "default_timeout_seconds": 3600,
                        "slack_configured": false, "teams_configured": false}, "meta": {}})
    );
    let reader = app.key_with(&["alerts:read", "workflows:read", "approvals:write"]).await;
    let (status, body) = app.get("/v1/settings/approval-defaults", &reader).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("FORBIDDEN")), "{body}");
    let response = app.client.get(app.url("/v1/settings/approval-defaults")).send().await.unwrap();
    assert_eq!(response.status(), 401);

    // Typed in the OpenAPI document.
    let doc: Value = app.client.get(app.url("/openapi.json")).send().await.unwrap().json().await.unwrap();
    let op = &doc["paths"]["/v1/settings/approval-defaults"]["get"];
    assert_eq!(op["security"], json!([{"api_key": ["admin"]}]), "{op}");
    let schema = &doc["components"]["schemas"]["ApprovalDefaultsResponse"];
    assert_eq!(schema["properties"]["default_timeout_seconds"]["type"], "integer", "{schema}");
    assert_eq!(schema["properties"]["slack_configured"]["type"], "boolean", "{schema}");
    let mut required: Vec<&str> =
        schema["required"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
    required.sort_unstable();
    assert_eq!(
        required,
        ["default_timeout_seconds", "notifier", "slack_configured", "teams_configured"],
        "{schema}"
    );
    assert_eq!(
        doc["components"]["schemas"]["Notifier"]["enum"],
        json!(["none", "slack", "teams"]),
        "{}",
        doc["components"]["schemas"]["Notifier"]
    );

    // A Slack deployment: its channel and timeout; whether tokens are set, never the tokens.
    let slack = slack_stand_in().await;
    let mut env = slack_env(&slack);
    env.push(("APPROVAL_DEFAULT_TIMEOUT_SECONDS", "900".into()));
    let app = spawn_app_with(AppOptions { env, ..AppOptions::default() }).await;
    let (status, body) = app.get("/v1/settings/approval-defaults", &app.admin_key).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"],
        json!({"notifier": "slack", "default_channel": "#soc-approvals", "default_timeout_seconds": 900,
               "slack_configured": true, "teams_configured": false})
    );
    assert!(!body.to_string().contains("xoxb-test-token"));
}
